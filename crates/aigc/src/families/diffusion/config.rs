//! The diffusion family's training config, saved in every run's manifest.

use burn::config::Config;

use super::schedule::ScheduleKind;
use super::unet::UnetConfig;
use crate::error::{AigcError, Result};

crate::named_choice! {
    /// What the network learns to predict.
    pub enum Objective ("objective") {
        /// DDPM (Ho et al. 2020): the noise ε of x_t = √ᾱ_t·x_0 + √(1 − ᾱ_t)·ε, t uniform in 0..T.
        Ddpm = "ddpm",
        /// Flow matching / rectified flow (Lipman et al. 2023; Liu et al. 2023): the velocity
        /// ε − x_0 of x_t = (1 − t)·x_0 + t·ε, t logit-normal (Esser et al. 2024).
        Flow = "flow",
    }
}

crate::named_choice! {
    /// How images are drawn from noise.
    pub enum SamplerKind ("sampler") {
        /// DDPM's ancestral sampler over every training step (DDPM objective).
        Ddpm = "ddpm",
        /// DDIM on `sample_steps` of the training steps, stochasticity `eta` (DDPM objective).
        Ddim = "ddim",
        /// Euler steps along the learned velocity (flow objective).
        Euler = "euler",
        /// Heun's second-order steps (flow objective; two network evaluations per step).
        Heun = "heun",
    }
}

impl SamplerKind {
    /// Whether the sampler fits a model trained with `objective`.
    pub fn fits(self, objective: Objective) -> bool {
        matches!((self, objective), (SamplerKind::Ddpm | SamplerKind::Ddim, Objective::Ddpm) | (SamplerKind::Euler | SamplerKind::Heun, Objective::Flow))
    }
}

/// Everything that defines a diffusion training run.
#[derive(Config, Debug, PartialEq)]
pub struct DiffusionTrainConfig {
    /// Flow matching by default: on the embedded digits, 800 steps of it drew clean strokes where
    /// DDPM's drew grey blobs (measured; README, "Diffusion and flow matching").
    #[config(default = "Objective::Flow")]
    pub objective: Objective,
    /// The DDPM noise schedule (`ddpm` objective).
    #[config(default = "ScheduleKind::Cosine")]
    pub schedule: ScheduleKind,
    /// Training steps T of the DDPM chain (`ddpm` objective).
    #[config(default = 1000)]
    pub timesteps: usize,
    #[config(default = "String::from(\"mnist\")")]
    pub data: String,
    #[config(default = 28)]
    pub image_size: u32,
    /// Class-conditional, with classifier-free guidance (the label is dropped `label_dropout`
    /// of the time).
    #[config(default = false)]
    pub conditional: bool,
    #[config(default = 0.1)]
    pub label_dropout: f64,
    /// The UNet's channel width per level, finest first (each further level halves the side).
    /// The default is smaller than workload W5's 32-64-128: it costs 0.93 s per step of 128
    /// images on 2 cores where 32-64-64 costs 2 s, for more steps per CPU-minute.
    #[config(default = "vec![16, 32, 64]")]
    pub widths: Vec<usize>,
    /// Self-attention per level (same order as `widths`; the middle always has it).
    #[config(default = "vec![false, false, true]")]
    pub attention: Vec<bool>,
    /// Optimisation steps; overrides `epochs` when set.
    pub steps: Option<usize>,
    /// Passes over the training set.
    pub epochs: Option<usize>,
    /// Small batches by default: on 2 cores more updates beat bigger batches within a quarter
    /// of an hour (README, "Diffusion and flow matching").
    #[config(default = 32)]
    pub batch_size: usize,
    /// AdamW's peak learning rate (after a linear warm-up of `warmup_steps`).
    #[config(default = 1e-3)]
    pub lr: f64,
    #[config(default = 100)]
    pub warmup_steps: usize,
    #[config(default = 0.0)]
    pub weight_decay: f64,
    /// Decay of the weight average used for sampling (0 = sample with the trained weights).
    #[config(default = 0.999)]
    pub ema_decay: f64,
    /// The sampler of grids, evaluations and `aigc sample` (unset: ddim for ddpm, euler for flow).
    pub sampler: Option<SamplerKind>,
    /// Network evaluations from noise to image (DDIM and flow samplers; DDPM takes all T).
    #[config(default = 50)]
    pub sample_steps: usize,
    /// DDIM's η: 0 deterministic, 1 DDPM's noise.
    #[config(default = 0.0)]
    pub eta: f64,
    /// Classifier-free guidance weight w of a conditional model: ε̂ = (1 + w)·ε(x, c) − w·ε(x).
    #[config(default = 2.0)]
    pub guidance: f64,
    #[config(default = 42)]
    pub seed: u64,
    #[config(default = 10)]
    pub log_every: usize,
    /// Steps between sample grids.
    #[config(default = 500)]
    pub sample_every: usize,
    #[config(default = 500)]
    pub checkpoint_every: usize,
    #[config(default = 3)]
    pub keep_checkpoints: usize,
    /// Steps between evaluations (KID/FID/precision/recall of `eval_samples` samples against the
    /// held-out images; the lowest KID is kept in `best/`).
    pub eval_every: Option<usize>,
    #[config(default = 500)]
    pub eval_samples: usize,
}

/// What each optional field means when unset (for `config.toml` and `--help`).
pub const UNSET: &[(&str, &str)] = &[
    ("steps", "epochs decides"),
    ("epochs", "7 passes unless steps is set"),
    ("sampler", "ddim for ddpm, euler for flow"),
    ("eval_every", "off"),
];

/// Passes over the training set when neither `steps` nor `epochs` is set: 1,967 steps of 32 on
/// the embedded digits, about 13 minutes on 2 cores.
pub const DEFAULT_EPOCHS: usize = 7;

/// The most DDPM training steps (a chain of a million steps is a typo), and the most time points
/// RePaint takes on a flow run.
pub const MAX_TIMESTEPS: usize = 100_000;

impl DiffusionTrainConfig {
    pub fn total_steps(&self, n_train: usize) -> usize {
        let per_epoch = (n_train / self.batch_size.min(n_train).max(1)).max(1);
        self.steps.unwrap_or(self.epochs.unwrap_or(DEFAULT_EPOCHS) * per_epoch)
    }

    /// The sampler in use: the config's, or the objective's default.
    pub fn sampler(&self) -> SamplerKind {
        self.sampler.unwrap_or(match self.objective {
            Objective::Ddpm => SamplerKind::Ddim,
            Objective::Flow => SamplerKind::Euler,
        })
    }

    /// The UNet for images of `channels` channels and `classes` classes (0: unconditional).
    pub fn unet(&self, channels: usize, classes: usize) -> UnetConfig {
        UnetConfig::new(channels).with_widths(self.widths.clone()).with_attention(self.attention.clone()).with_classes(classes)
    }

    pub fn validate(&self) -> Result<()> {
        let bad = |field: &str, problem: String| Err(AigcError::invalid(field, problem));
        for (field, value) in [("lr", self.lr), ("eta", self.eta), ("guidance", self.guidance), ("weight_decay", self.weight_decay)] {
            if !value.is_finite() {
                return bad(field, format!("must be a number, got {value}"));
            }
        }
        if self.lr <= 0.0 {
            return bad("lr", format!("must be positive, got {}", self.lr));
        }
        if !(0.0..1.0).contains(&self.ema_decay) {
            return bad("ema_decay", format!("must be in [0, 1), got {}", self.ema_decay));
        }
        if !(0.0..1.0).contains(&self.label_dropout) {
            return bad("label_dropout", format!("must be in [0, 1), got {}", self.label_dropout));
        }
        if self.weight_decay < 0.0 {
            return bad("weight_decay", format!("must be at least 0, got {}", self.weight_decay));
        }
        if self.steps == Some(0) || self.epochs == Some(0) || self.eval_every == Some(0) {
            let field = if self.steps == Some(0) { "steps" } else if self.epochs == Some(0) { "epochs" } else { "eval_every" };
            return bad(field, "must be at least 1".into());
        }
        if self.timesteps < 2 || self.timesteps > MAX_TIMESTEPS {
            return bad("timesteps", format!("must be between 2 and {MAX_TIMESTEPS}, got {}", self.timesteps));
        }
        for (field, value) in [
            ("batch_size", self.batch_size),
            ("image_size", self.image_size as usize),
            ("log_every", self.log_every),
            ("sample_every", self.sample_every),
            ("checkpoint_every", self.checkpoint_every),
        ] {
            if value == 0 {
                return bad(field, "must be at least 1".into());
            }
        }
        if self.eval_samples < 2 {
            return bad("eval_samples", "must be at least 2".into());
        }
        if self.guidance < 0.0 {
            return bad("guidance", format!("must be at least 0, got {}", self.guidance));
        }
        check_sampling(self, self.sampler(), self.sample_steps, self.eta, None)?;
        self.unet(1, 0).check(self.image_size as usize)
    }
}

/// Whether a sampler with these settings can draw from a model trained with `config`
/// (`guidance`: a weight asked for beyond the run's own); the errors name the field at fault.
pub fn check_sampling(config: &DiffusionTrainConfig, sampler: SamplerKind, steps: usize, eta: f64, guidance: Option<f64>) -> Result<()> {
    if !sampler.fits(config.objective) {
        let fitting: Vec<&str> = SamplerKind::ALL.iter().filter(|s| s.fits(config.objective)).map(|s| s.name()).collect();
        return Err(AigcError::invalid("sampler", format!("{sampler} does not sample a {} model; use {}", config.objective, fitting.join(" or "))));
    }
    if steps == 0 {
        return Err(AigcError::invalid("sample_steps", "must be at least 1"));
    }
    if config.objective == Objective::Ddpm && steps > config.timesteps {
        return Err(AigcError::invalid("sample_steps", format!("{steps} sampling steps are more than the model's {} training steps", config.timesteps)));
    }
    if !(0.0..=1.0).contains(&eta) {
        return Err(AigcError::invalid("eta", format!("must be in [0, 1], got {eta}")));
    }
    match guidance {
        Some(w) if !w.is_finite() || w < 0.0 => Err(AigcError::invalid("guidance", format!("must be at least 0, got {w}"))),
        Some(_) if !config.conditional => {
            Err(AigcError::invalid("guidance", "classifier-free guidance needs a class-conditional run (this one was trained without `conditional`)"))
        }
        _ => Ok(()),
    }?;
    Ok(())
}
