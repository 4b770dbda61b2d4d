//! The run directory as a format: everything about one training run in one folder, readable
//! without knowing the model family.
//!
//! ```text
//! runs/NAME/
//!   config.toml              the manifest: `family = "…"` and the family's full training config
//!   checkpoints/step-N/      record files (weights, optimizer state) and state.json (step, data
//!                            cursor, RNG position, elapsed time); atomic, the last K kept
//!   best/step-N/             the checkpoint with the best evaluation score so far
//!   samples/step-N.png       grids from a fixed noise batch, over time (image families)
//!   metrics.jsonl            one JSON object per logged step or evaluation
//!   vocab.json               the tokens of a language or melody model
//!   loss.png, samples.png …  what the family draws at the end (see the accessors below)
//! ```
//!
//! [`checkpoint`] stages and commits checkpoints, [`record`] reads and writes the burnpack
//! files in them, [`metrics`] appends the log, [`rng`] is the noise stream whose position a
//! checkpoint saves, [`config`] reads and writes typed configs as TOML.

pub mod checkpoint;
pub mod config;
pub mod metrics;
pub mod record;
pub mod rng;

use std::path::{Path, PathBuf};

pub use checkpoint::{CheckpointChoice, Checkpoints, TrainState};
pub use config::Manifest;
pub use metrics::MetricsLog;

use crate::error::{AigcError, Result};

/// A run directory.
#[derive(Debug, Clone)]
pub struct RunDir {
    root: PathBuf,
}

impl RunDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The manifest: `config.toml`.
    pub fn config(&self) -> PathBuf {
        self.root.join("config.toml")
    }

    pub fn checkpoints(&self, keep: usize) -> Checkpoints {
        Checkpoints::new(self.root.join("checkpoints"), keep)
    }

    /// The checkpoint with the best evaluation score so far.
    pub fn best_checkpoint(&self) -> Checkpoints {
        Checkpoints::new(self.root.join("best"), 1)
    }

    pub fn samples_dir(&self) -> PathBuf {
        self.root.join("samples")
    }

    pub fn sample_grid(&self, step: usize) -> PathBuf {
        self.samples_dir().join(format!("step-{step:06}.png"))
    }

    pub fn metrics(&self) -> MetricsLog {
        MetricsLog::new(self.root.join("metrics.jsonl"))
    }

    pub fn loss_plot(&self) -> PathBuf {
        self.root.join("loss.png")
    }

    pub fn final_samples(&self) -> PathBuf {
        self.root.join("samples.png")
    }

    /// A VAE's held-out images and their reconstructions.
    pub fn reconstructions(&self) -> PathBuf {
        self.root.join("reconstructions.png")
    }

    /// The final generator (or decoder) weights, for other tools.
    pub fn generator_safetensors(&self) -> PathBuf {
        self.root.join("generator.safetensors")
    }

    /// The tokens of a language or melody model.
    pub fn vocab(&self) -> PathBuf {
        self.root.join("vocab.json")
    }

    /// A melody run's held-out likelihoods.
    pub fn music_summary(&self) -> PathBuf {
        self.root.join("music.json")
    }

    /// `aigc eval` of an image run (and its closest generated/training pairs).
    pub fn image_eval(&self) -> PathBuf {
        self.root.join("eval.json")
    }

    pub fn closest_pairs(&self) -> PathBuf {
        self.root.join("eval-closest-pairs.png")
    }

    /// `aigc eval` of a melody run.
    pub fn music_eval(&self) -> PathBuf {
        self.root.join("eval-music.json")
    }

    /// `aigc eval inpaint` and its example grid per mask family.
    pub fn inpaint_eval(&self) -> PathBuf {
        self.root.join("eval-inpaint.json")
    }

    pub fn inpaint_examples(&self, mask: &str) -> PathBuf {
        self.root.join(format!("eval-inpaint-{mask}.png"))
    }

    /// Whether this folder holds a run (a manifest).
    pub fn exists(&self) -> bool {
        self.config().is_file()
    }

    /// Writes the manifest (atomically) and creates the sample folder: the start of every
    /// training job, fresh or resumed.
    pub fn start(&self, manifest: &Manifest) -> Result<()> {
        crate::io::write_atomic(&self.config(), manifest.to_toml().as_bytes())?;
        let samples = self.samples_dir();
        std::fs::create_dir_all(&samples).map_err(|e| AigcError::io(&samples, e))
    }

    /// The manifest of an existing run (the folder must exist and hold one).
    pub fn manifest(&self) -> Result<Manifest> {
        if !self.root.exists() {
            return Err(AigcError::Missing { path: self.root.clone(), hint: " (expected a run directory)".into() });
        }
        if !self.exists() {
            return Err(AigcError::bad_data(&self.root, "not a run directory: it has no config.toml"));
        }
        Manifest::read(&self.config())
    }

    /// Where a training job into this folder starts: the newest checkpoint with `resume`,
    /// nothing without. Resuming without a checkpoint, or starting afresh over one, is refused.
    pub fn resume_point(&self, resume: bool) -> Result<Option<(TrainState, PathBuf)>> {
        let latest = self.checkpoints(usize::MAX).latest()?;
        match (&latest, resume) {
            (None, true) => Err(AigcError::invalid(
                "resume",
                format!("{}: no checkpoint to resume from", self.root.join("checkpoints").display()),
            )),
            (Some(_), false) => Err(AigcError::invalid(
                "out",
                format!("{} already holds a run; set `resume` to continue it, or choose another `out`", self.root.display()),
            )),
            _ => Ok(latest),
        }
    }

    /// The newest checkpoint step, if any.
    pub fn latest_step(&self) -> Result<Option<usize>> {
        Ok(self.checkpoints(usize::MAX).list()?.last().map(|(step, _)| *step))
    }
}
