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
//!   .lock                    held (by the OS) while a process writes the run
//!   vocab.json               the tokens of a language or melody model (character-level)
//!   tokenizer.json           a BPE text model's tokenizer (Hugging Face `tokenizers` format)
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

/// Held while a process writes a run ([`RunDir::lock`]); released when dropped or when the
/// process ends.
#[derive(Debug)]
pub struct RunLock {
    _file: std::fs::File,
}

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

    /// A diffusion or flow model's samples as they form: x_t at a few sampling steps.
    pub fn denoising_strip(&self) -> PathBuf {
        self.root.join("denoising.png")
    }

    /// The final weights in PyTorch's layout, for other tools: `generator` (GAN), `decoder`
    /// (VAE), `model` (language and melody models); [`crate::report::torch`] writes them with a
    /// `.json` sidecar.
    pub fn export(&self, stem: &str) -> PathBuf {
        self.root.join(format!("{stem}.safetensors"))
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

    /// `aigc eval` of a text run.
    pub fn text_eval(&self) -> PathBuf {
        self.root.join("eval-text.json")
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

    /// The manifest of an existing run (the folder must exist and hold one, with a config).
    pub fn manifest(&self) -> Result<Manifest> {
        if !self.root.exists() {
            return Err(AigcError::Missing { path: self.root.clone(), hint: " (expected a run directory)".into() });
        }
        if !self.exists() {
            return Err(AigcError::bad_data(&self.root, "not a run directory: it has no config.toml"));
        }
        let manifest = Manifest::read(&self.config())?;
        if manifest.family.is_none() && manifest.legacy_model.is_none() && manifest.config.is_empty() {
            return Err(AigcError::BadConfig { path: self.config(), problem: "empty: a run's config.toml names its family and holds its config".into() });
        }
        Ok(manifest)
    }

    /// Where a training job into this folder starts: the newest good checkpoint with `resume`,
    /// nothing without. Refused: resuming without a checkpoint or without the run's manifest;
    /// starting afresh over a checkpoint; starting in a folder that holds other files and is
    /// not a run, unless `force`.
    pub fn resume_point(&self, resume: bool, force: bool) -> Result<Option<(TrainState, PathBuf)>> {
        if self.root.exists() && !self.root.is_dir() {
            return Err(AigcError::invalid("out", format!("{} is a file, not a run directory", self.root.display())));
        }
        let checkpoints = self.checkpoints(usize::MAX);
        if resume {
            if !checkpoints.list()?.is_empty() && !self.exists() {
                return Err(AigcError::invalid(
                    "resume",
                    format!("{} has checkpoints but no config.toml: a run cannot be resumed without its config", self.root.display()),
                ));
            }
            return checkpoints.latest()?.map(Some).ok_or_else(|| {
                AigcError::invalid("resume", format!("{}: no checkpoint to resume from", self.root.join("checkpoints").display()))
            });
        }
        if !checkpoints.list()?.is_empty() {
            return Err(AigcError::invalid(
                "out",
                format!("{} already holds a run; set `resume` to continue it, or choose another `out`", self.root.display()),
            ));
        }
        if !force && !self.exists() && self.holds_files()? {
            return Err(AigcError::invalid(
                "out",
                format!("{} is not empty and not a run; choose a new or empty folder (or set `force` to write into it anyway)", self.root.display()),
            ));
        }
        Ok(None)
    }

    /// Whether the folder exists and holds anything.
    fn holds_files(&self) -> Result<bool> {
        match std::fs::read_dir(&self.root) {
            Ok(mut entries) => Ok(entries.next().is_some()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(AigcError::io(&self.root, e)),
        }
    }

    /// Takes the run's lock (`.lock`, created with the folder): one process writes a run at a
    /// time. The lock is the operating system's, so a killed process never leaves it held.
    pub fn lock(&self) -> Result<RunLock> {
        std::fs::create_dir_all(&self.root).map_err(|e| AigcError::io(&self.root, e))?;
        let path = self.root.join(".lock");
        crate::io::check_output(&path)?;
        let file = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&path).map_err(|e| AigcError::io(&path, e))?;
        match file.try_lock() {
            Ok(()) => Ok(RunLock { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(AigcError::invalid(
                "out",
                format!("{} is being written by another aigc process; wait for it to finish", self.root.display()),
            )),
            Err(std::fs::TryLockError::Error(e)) => Err(AigcError::io(&path, e)),
        }
    }

    /// The newest checkpoint step, if any.
    pub fn latest_step(&self) -> Result<Option<usize>> {
        Ok(self.checkpoints(usize::MAX).list()?.last().map(|(step, _)| *step))
    }
}
