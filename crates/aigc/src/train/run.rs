//! The run directory: everything about one training run in one folder.
//!
//! ```text
//! runs/NAME/
//!   config.toml              the full training config
//!   checkpoints/step-N/      weights, optimizer state, step and RNG state (atomic, last K kept)
//!   best/step-N/             the checkpoint with the lowest KID (with --eval-every)
//!   samples/step-N.png       8×8 grids from a fixed noise batch, over time
//!   metrics.jsonl            one JSON line per logged step
//!   loss.png                 the losses over training
//!   samples.png              the final grid
//!   generator.safetensors    the final generator weights
//! ```

use std::path::{Path, PathBuf};

use super::checkpoint::Checkpoints;
use super::metrics::MetricsLog;

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

    pub fn config(&self) -> PathBuf {
        self.root.join("config.toml")
    }

    pub fn checkpoints(&self, keep: usize) -> Checkpoints {
        Checkpoints::new(self.root.join("checkpoints"), keep)
    }

    /// The checkpoint with the lowest KID so far (with `--eval-every`).
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

    pub fn generator_safetensors(&self) -> PathBuf {
        self.root.join("generator.safetensors")
    }

    /// Writes the run's config (atomically) and creates its sample folder: the start of every
    /// training job, fresh or resumed.
    pub fn start(&self, config_toml: &str) -> crate::error::Result<()> {
        super::checkpoint::write_atomic(&self.config(), config_toml.as_bytes())?;
        let samples = self.samples_dir();
        std::fs::create_dir_all(&samples).map_err(|e| crate::error::AigcError::io(&samples, e))
    }

    /// Whether this folder holds a run (a saved config).
    pub fn exists(&self) -> bool {
        self.config().is_file()
    }
}
