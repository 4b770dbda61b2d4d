//! Typed training configurations, saved as `config.toml` in every run. A config file may set any
//! subset of the fields; the rest keep their defaults, and unknown keys are an error.

use std::path::Path;

use burn::config::Config;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{AigcError, Result};
use crate::models::gan::GanLoss;

/// Everything that defines a GAN training run.
#[derive(Config, Debug, PartialEq)]
pub struct GanTrainConfig {
    /// Network family: `mlp` (the article's MLP GAN).
    #[config(default = "String::from(\"mlp\")")]
    pub arch: String,
    /// `mnist` (embedded digits), `fashion-mnist`, or a path (image folder, IDX folder or file).
    #[config(default = "String::from(\"mnist\")")]
    pub data: String,
    /// Side of the square images an image folder is resized to.
    #[config(default = 28)]
    pub image_size: u32,
    #[config(default = "GanLoss::Bce")]
    pub loss: GanLoss,
    /// Optimisation steps (one step = one generator update). Overrides `epochs` when set.
    pub steps: Option<usize>,
    /// Passes over the training set, used when `steps` is not set.
    pub epochs: Option<usize>,
    #[config(default = 64)]
    pub batch_size: usize,
    /// Learning rate; default 2e-4 (Adam) for `bce`, 5e-5 (RMSProp) for `wgan`.
    pub lr: Option<f64>,
    /// Adam β1 (DCGAN's 0.5).
    #[config(default = 0.5)]
    pub beta1: f64,
    #[config(default = 0.999)]
    pub beta2: f64,
    /// BCE: one-sided label smoothing, real images get the target 1 − this (0 = off).
    #[config(default = 0.0)]
    pub label_smoothing: f64,
    /// R1 gradient penalty weight γ on real images (Mescheder et al. 2018): the default 10 for
    /// `bce` keeps the MLP GAN from collapsing onto a few digits; 0 (off) for `wgan`, which is
    /// trained as the original WGAN. Set 0 for the plain non-saturating GAN.
    pub r1_gamma: Option<f64>,
    /// Decay of the exponential moving average of the generator's weights, used for samples
    /// (0 = off, sample from the raw generator).
    #[config(default = 0.999)]
    pub ema_decay: f64,
    /// WGAN: critic updates per generator update.
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

impl GanTrainConfig {
    pub fn learning_rate(&self) -> f64 {
        self.lr.unwrap_or(match self.loss {
            GanLoss::Bce => 2e-4,
            GanLoss::Wgan => 5e-5,
        })
    }

    pub fn r1_gamma(&self) -> f64 {
        self.r1_gamma.unwrap_or(match self.loss {
            GanLoss::Bce => 10.0,
            GanLoss::Wgan => 0.0,
        })
    }

    /// Total generator steps for a training set of `n_train` images.
    pub fn total_steps(&self, n_train: usize) -> usize {
        match (self.steps, self.epochs) {
            (Some(steps), _) => steps,
            (None, Some(epochs)) => {
                let per_step = self.batch_size * if self.loss == GanLoss::Wgan { self.n_critic } else { 1 };
                (epochs * n_train).div_ceil(per_step.max(1))
            }
            (None, None) => DEFAULT_STEPS,
        }
    }

    /// Checks values a user can get wrong; `source` names the flag or file in the message.
    pub fn validate(&self) -> Result<()> {
        let bad = |flag: &str, problem: &str| Err(AigcError::bad_argument(flag, problem));
        if self.arch != "mlp" {
            return bad("--arch", &format!("unknown architecture {:?}, expected mlp", self.arch));
        }
        if self.batch_size == 0 {
            return bad("--batch-size", "must be at least 1");
        }
        if self.steps == Some(0) || self.epochs == Some(0) {
            return bad("--steps/--epochs", "must be at least 1");
        }
        if let Some(lr) = self.lr
            && !(lr > 0.0 && lr.is_finite())
        {
            return bad("--lr", &format!("must be a positive number, got {lr}"));
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
            return bad("--r1-gamma", &format!("must be a non-negative number, got {gamma}"));
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
            return bad("--eval-every", "must be at least 1");
        }
        if self.eval_samples < 2 {
            return bad("eval_samples", "must be at least 2");
        }
        if self.log_every == 0 || self.sample_every == 0 || self.checkpoint_every == 0 {
            return bad("log_every/sample_every/checkpoint_every", "must be at least 1");
        }
        Ok(())
    }
}

/// Reads a TOML config file over the defaults of `T`.
pub fn read_toml_config<T: Serialize + DeserializeOwned>(path: &Path, defaults: &T) -> Result<T> {
    let bad = |problem: String| AigcError::BadConfig { path: path.to_path_buf(), problem };
    let text = std::fs::read_to_string(path).map_err(|e| AigcError::io(path, e))?;
    let file: toml::Table = toml::from_str(&text).map_err(|e| bad(format!("not valid TOML: {e}")))?;
    let mut merged = toml::Table::try_from(defaults).map_err(|e| bad(e.to_string()))?;
    let known: Vec<String> = merged.keys().cloned().collect();
    for (key, value) in file {
        if !known.contains(&key) && !is_optional_field::<T>(&key, defaults) {
            return Err(bad(format!("unknown key {key:?}; known keys: {}", known.join(", "))));
        }
        merged.insert(key, value);
    }
    toml::Value::Table(merged).try_into().map_err(|e: toml::de::Error| bad(e.message().to_string()))
}

/// Optional fields are absent from the serialised defaults when unset; accept them if setting the
/// key alone deserialises.
fn is_optional_field<T: Serialize + DeserializeOwned>(key: &str, defaults: &T) -> bool {
    let Ok(serde_json::Value::Object(map)) = serde_json::to_value(defaults) else { return false };
    map.get(key).is_some_and(|v| v.is_null())
}

/// Serialises a config as TOML (unset optional fields are omitted).
pub fn to_toml<T: Serialize>(config: &T) -> String {
    toml::to_string_pretty(config).unwrap_or_default()
}
