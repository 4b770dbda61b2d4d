//! The VAE family's training config, saved in every run's manifest.

use burn::config::Config;

use crate::error::{AigcError, Result};

crate::named_choice! {
    /// A VAE's networks.
    pub enum VaeArch ("VAE architecture") {
        /// PyTorch's example VAE, 784-400-20.
        Mlp = "mlp",
        /// Two strided convolutions each way.
        Conv = "conv",
    }
}

/// Everything that defines a VAE training run.
#[derive(Config, Debug, PartialEq)]
pub struct VaeTrainConfig {
    /// `mlp` (784-400-20, PyTorch's example) or `conv`.
    #[config(default = "VaeArch::Mlp")]
    pub arch: VaeArch,
    #[config(default = "String::from(\"mnist\")")]
    pub data: String,
    #[config(default = 28)]
    pub image_size: u32,
    /// Class-conditional (the one-hot label goes to the encoder and the decoder).
    #[config(default = false)]
    pub conditional: bool,
    #[config(default = 20)]
    pub latent_dim: usize,
    /// Optimisation steps; overrides `epochs` when set.
    pub steps: Option<usize>,
    /// Passes over the training set (default 10, as PyTorch's example).
    pub epochs: Option<usize>,
    #[config(default = 128)]
    pub batch_size: usize,
    #[config(default = 1e-3)]
    pub lr: f64,
    #[config(default = 42)]
    pub seed: u64,
    #[config(default = 10)]
    pub log_every: usize,
    /// Steps between prior-sample grids (and held-out −ELBO evaluations).
    #[config(default = 200)]
    pub sample_every: usize,
    #[config(default = 500)]
    pub checkpoint_every: usize,
    #[config(default = 3)]
    pub keep_checkpoints: usize,
}

/// What each optional field means when unset (for `config.toml` and `--help`).
pub const UNSET: &[(&str, &str)] = &[("steps", "epochs decides"), ("epochs", "10 passes unless steps is set")];

impl VaeTrainConfig {
    pub fn total_steps(&self, n_train: usize) -> usize {
        let per_epoch = (n_train / self.batch_size.min(n_train).max(1)).max(1);
        self.steps.unwrap_or(self.epochs.unwrap_or(10) * per_epoch)
    }

    pub fn validate(&self) -> Result<()> {
        let bad = |field: &str, problem: &str| Err(AigcError::invalid(field, problem));
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return bad("lr", &format!("must be a positive number, got {}", self.lr));
        }
        if self.steps == Some(0) {
            return bad("steps", "must be at least 1");
        }
        if self.epochs == Some(0) {
            return bad("epochs", "must be at least 1");
        }
        for (field, value) in [
            ("batch_size", self.batch_size),
            ("latent_dim", self.latent_dim),
            ("image_size", self.image_size as usize),
            ("log_every", self.log_every),
            ("sample_every", self.sample_every),
            ("checkpoint_every", self.checkpoint_every),
        ] {
            if value == 0 {
                return bad(field, "must be at least 1");
            }
        }
        Ok(())
    }
}

