//! The GAN family's training config, saved in every run's manifest.

use burn::config::Config;

use super::{CriticNorm, GanLoss};
use crate::error::{AigcError, Result};

crate::named_choice! {
    /// A GAN's networks.
    pub enum GanArch ("architecture") {
        /// The article's MLP GAN.
        Mlp = "mlp",
        /// DCGAN (Radford et al. 2016) at 28, 32 or 64 px.
        Dcgan = "dcgan",
    }
}

/// Everything that defines a GAN training run.
#[derive(Config, Debug, PartialEq)]
pub struct GanTrainConfig {
    /// Networks: `mlp` (the article's MLP GAN) or `dcgan` (28, 32 or 64 px).
    #[config(default = "GanArch::Mlp")]
    pub arch: GanArch,
    /// Class-conditional: G gets a one-hot label beside z, D a projection head (needs labels).
    #[config(default = false)]
    pub conditional: bool,
    /// DiffAugment (colour, translation, cutout) on real and generated images before every D pass.
    #[config(default = false)]
    pub diffaugment: bool,
    /// `mnist` (embedded digits), `fashion-mnist`, or a path (image folder, IDX folder or file).
    #[config(default = "String::from(\"mnist\")")]
    pub data: String,
    /// Side of the square images the data is resized to (image folders are centre-cropped first).
    #[config(default = 28)]
    pub image_size: u32,
    /// `r1` (non-saturating + R1, the default), `bce`, `hinge`, `wgan` or `wgan-gp`.
    #[config(default = "GanLoss::R1")]
    pub loss: GanLoss,
    /// Optimisation steps (one step = one generator update). Overrides `epochs` when set.
    pub steps: Option<usize>,
    /// Passes over the training set, used when `steps` is not set.
    pub epochs: Option<usize>,
    #[config(default = 64)]
    pub batch_size: usize,
    /// Learning rate; default 2e-4 (Adam), 1e-4 for `wgan-gp`, 5e-5 (RMSProp) for `wgan`.
    pub lr: Option<f64>,
    /// Adam β1: default DCGAN's 0.5, 0 for `wgan-gp` (Gulrajani et al.).
    pub beta1: Option<f64>,
    /// Adam β2: default 0.999, 0.9 for `wgan-gp`.
    pub beta2: Option<f64>,
    /// BCE: one-sided label smoothing, real images get the target 1 − this (0 = off).
    #[config(default = 0.0)]
    pub label_smoothing: f64,
    /// R1 gradient penalty weight γ on real images (Mescheder et al. 2018): default 10 for `r1`
    /// (it keeps the MLP GAN from collapsing onto a few digits), 0 (off) for the other losses;
    /// any loss may add it.
    pub r1_gamma: Option<f64>,
    /// `wgan-gp`: weight λ of the gradient penalty.
    #[config(default = 10.0)]
    pub gp_lambda: f64,
    /// `dcgan` critic normalisation: `batch`, `layer` or `none`; default batch, or layer when a
    /// gradient penalty is on (BatchNorm couples the samples a penalty should treat separately).
    pub critic_norm: Option<CriticNorm>,
    /// Decay of the exponential moving average of the generator's weights, used for samples
    /// (0 = off, sample from the raw generator).
    #[config(default = 0.999)]
    pub ema_decay: f64,
    /// WGAN, WGAN-GP: critic updates per generator update.
    #[config(default = 5)]
    pub n_critic: usize,
    /// WGAN: critic weights are clipped to [-clip, clip].
    #[config(default = 0.01)]
    pub clip: f64,
    #[config(default = 100)]
    pub latent_dim: usize,
    #[config(default = 42)]
    pub seed: u64,
    /// Steps between metric lines in `metrics.jsonl`.
    #[config(default = 10)]
    pub log_every: usize,
    /// Steps between fixed-noise sample grids in `samples/`.
    #[config(default = 500)]
    pub sample_every: usize,
    /// Steps between checkpoints (one is always written at the end).
    #[config(default = 1000)]
    pub checkpoint_every: usize,
    /// Steps between evaluations during training (KID/FID/precision/recall of `eval_samples`
    /// generated images against the held-out set, logged to `metrics.jsonl`; the checkpoint with
    /// the lowest KID is kept as `best/`). Off when unset.
    pub eval_every: Option<usize>,
    /// Generated images per evaluation during training.
    #[config(default = 1000)]
    pub eval_samples: usize,
    /// Checkpoints kept on disk.
    #[config(default = 3)]
    pub keep_checkpoints: usize,
}

/// Default number of steps when neither `steps` nor `epochs` is given.
pub const DEFAULT_STEPS: usize = 3000;

/// What each optional field means when unset (for `config.toml` and `--help`).
pub const UNSET: &[(&str, &str)] = &[
    ("steps", "3000 steps unless epochs is set"),
    ("epochs", "steps decides"),
    ("lr", "2e-4 (Adam); 1e-4 for wgan-gp, 5e-5 (RMSProp) for wgan"),
    ("beta1", "0.5; 0 for wgan-gp"),
    ("beta2", "0.999; 0.9 for wgan-gp"),
    ("r1_gamma", "10 for r1, 0 for the other losses"),
    ("critic_norm", "batch; layer with a gradient penalty"),
    ("eval_every", "off"),
];

impl GanTrainConfig {
    pub fn learning_rate(&self) -> f64 {
        self.lr.unwrap_or(match self.loss {
            GanLoss::Wgan => 5e-5,
            GanLoss::WganGp => 1e-4,
            GanLoss::Bce | GanLoss::Hinge | GanLoss::R1 => 2e-4,
        })
    }

    /// Adam's (β1, β2).
    pub fn betas(&self) -> (f64, f64) {
        let (b1, b2) = if self.loss == GanLoss::WganGp { (0.0, 0.9) } else { (0.5, 0.999) };
        (self.beta1.unwrap_or(b1), self.beta2.unwrap_or(b2))
    }

    pub fn r1_gamma(&self) -> f64 {
        self.r1_gamma.unwrap_or(if self.loss == GanLoss::R1 { 10.0 } else { 0.0 })
    }

    /// Whether the critic's input gradient is needed (a gradient penalty is on).
    pub fn has_gradient_penalty(&self) -> bool {
        self.loss == GanLoss::WganGp || self.r1_gamma() > 0.0
    }

    pub fn critic_norm(&self) -> CriticNorm {
        self.critic_norm.unwrap_or(if self.has_gradient_penalty() { CriticNorm::Layer } else { CriticNorm::Batch })
    }

    /// Critic updates per generator update.
    pub fn critic_steps(&self) -> usize {
        if self.loss.is_wasserstein() { self.n_critic } else { 1 }
    }

    /// Total generator steps for a training set of `n_train` images.
    pub fn total_steps(&self, n_train: usize) -> usize {
        match (self.steps, self.epochs) {
            (Some(steps), _) => steps,
            (None, Some(epochs)) => {
                let per_step = self.batch_size * self.critic_steps();
                (epochs * n_train).div_ceil(per_step.max(1))
            }
            (None, None) => DEFAULT_STEPS,
        }
    }

    /// Checks the values a user can get wrong.
    pub fn validate(&self) -> Result<()> {
        let bad = |field: &str, problem: &str| Err(AigcError::invalid(field, problem));
        if self.arch == GanArch::Dcgan {
            super::dcgan::check_image_size(self.image_size as usize)?;
        }
        if self.image_size == 0 {
            return bad("image_size", "must be at least 1");
        }
        for (name, beta) in [("beta1", self.beta1), ("beta2", self.beta2)] {
            if let Some(b) = beta
                && !(0.0..1.0).contains(&b)
            {
                return bad(name, &format!("must be in [0, 1), got {b}"));
            }
        }
        if !(self.gp_lambda >= 0.0 && self.gp_lambda.is_finite()) {
            return bad("gp_lambda", "must be a non-negative number");
        }
        if self.batch_size == 0 {
            return bad("batch_size", "must be at least 1");
        }
        if self.steps == Some(0) {
            return bad("steps", "must be at least 1");
        }
        if self.epochs == Some(0) {
            return bad("epochs", "must be at least 1");
        }
        if let Some(lr) = self.lr
            && !(lr > 0.0 && lr.is_finite())
        {
            return bad("lr", &format!("must be a positive number, got {lr}"));
        }
        if self.latent_dim == 0 {
            return bad("latent_dim", "must be at least 1");
        }
        if !(0.0..1.0).contains(&self.label_smoothing) {
            return bad("label_smoothing", "must be in [0, 1)");
        }
        if let Some(gamma) = self.r1_gamma
            && !(gamma >= 0.0 && gamma.is_finite())
        {
            return bad("r1_gamma", &format!("must be a non-negative number, got {gamma}"));
        }
        if !(0.0..1.0).contains(&self.ema_decay) {
            return bad("ema_decay", "must be in [0, 1)");
        }
        if self.n_critic == 0 {
            return bad("n_critic", "must be at least 1");
        }
        if !(self.clip > 0.0) {
            return bad("clip", "must be positive");
        }
        if self.eval_every == Some(0) {
            return bad("eval_every", "must be at least 1");
        }
        if self.eval_samples < 2 {
            return bad("eval_samples", "must be at least 2");
        }
        for (field, every) in [("log_every", self.log_every), ("sample_every", self.sample_every), ("checkpoint_every", self.checkpoint_every)] {
            if every == 0 {
                return bad(field, "must be at least 1");
            }
        }
        Ok(())
    }
}
