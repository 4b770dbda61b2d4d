//! Atomic, verified, resumable checkpoints.
//!
//! A checkpoint is a folder `checkpoints/step-NNNNNNNN/` holding any number of named files
//! (weights and optimizer records, written by the caller) and `state.json` (step, RNG state,
//! data cursor, elapsed time, and a CRC-32 of every other file). It is staged in
//! `checkpoints/.tmp-step-NNNNNNNN/`, every file is flushed to disk, and only then is the folder
//! renamed into place: a crash at any moment leaves either the previous checkpoint or the new
//! one, never a half-written one. Reading a checkpoint verifies its files; when the newest one is
//! damaged, [`Checkpoints::latest`] falls back to the newest good one and says so. Stale staging
//! folders are ignored and removed by the next save. Checkpoints written before the checksums
//! existed are read unverified.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{AigcError, Result};
use crate::io::{limits, read_limited, sync_dir, sync_folder_files};

const STATE_FILE: &str = "state.json";
const TMP_PREFIX: &str = ".tmp-";

/// Training progress saved with every checkpoint.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    /// Optimisation steps completed.
    pub step: usize,
    /// Mini-batches drawn from the training set so far (the data cursor).
    pub batches_seen: usize,
    /// Word position of the noise generator's ChaCha stream.
    pub rng_word_pos: u128,
    /// Training seconds so far (across resumes).
    pub elapsed_s: f64,
}

/// `state.json`: the training state and the checksum of each file of the checkpoint.
#[derive(Debug, Serialize, Deserialize)]
struct StateFile {
    step: usize,
    batches_seen: usize,
    rng_word_pos: u128,
    elapsed_s: f64,
    /// File name → `crc32:xxxxxxxx`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    checksums: BTreeMap<String, String>,
}

/// The checksum of a file's bytes, as `state.json` records it.
fn checksum(bytes: &[u8]) -> String {
    format!("crc32:{:08x}", crc32fast::hash(bytes))
}

/// The checkpoint folder of a run.
#[derive(Debug, Clone)]
pub struct Checkpoints {
    dir: PathBuf,
    keep: usize,
}

/// A checkpoint written to its staging folder but not yet visible; [`StagedCheckpoint::commit`]
/// makes it the newest checkpoint. Dropping it uncommitted is what a crash does.
#[derive(Debug)]
pub struct StagedCheckpoint {
    staging: PathBuf,
    target: PathBuf,
    checkpoints: Checkpoints,
}

impl Checkpoints {
    /// `keep`: how many checkpoints to retain (at least 1).
    pub fn new(dir: impl Into<PathBuf>, keep: usize) -> Self {
        Self { dir: dir.into(), keep: keep.max(1) }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes a checkpoint atomically; `write_files` writes the payload files into the folder it
    /// is given. Returns the checkpoint's folder.
    pub fn save(
        &self,
        state: &TrainState,
        write_files: impl FnOnce(&Path) -> Result<()>,
    ) -> Result<PathBuf> {
        self.stage(state, write_files)?.commit()
    }

    /// First half of [`save`](Self::save): writes and flushes everything into a staging folder.
    pub fn stage(
        &self,
        state: &TrainState,
        write_files: impl FnOnce(&Path) -> Result<()>,
    ) -> Result<StagedCheckpoint> {
        fs::create_dir_all(&self.dir).map_err(|e| AigcError::io(&self.dir, e))?;
        self.remove_stale_staging();
        let name = step_name(state.step);
        let staging = self.dir.join(format!("{TMP_PREFIX}{name}"));
        if staging.exists() {
            fs::remove_dir_all(&staging).map_err(|e| AigcError::io(&staging, e))?;
        }
        fs::create_dir(&staging).map_err(|e| AigcError::io(&staging, e))?;
        write_files(&staging)?;
        let mut checksums = BTreeMap::new();
        for entry in fs::read_dir(&staging).map_err(|e| AigcError::io(&staging, e))? {
            let path = entry.map_err(|e| AigcError::io(&staging, e))?.path();
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            checksums.insert(name, checksum(&read_limited(&path, limits::weights_bytes())?));
        }
        let file = StateFile { step: state.step, batches_seen: state.batches_seen, rng_word_pos: state.rng_word_pos, elapsed_s: state.elapsed_s, checksums };
        let json = serde_json::to_vec_pretty(&file).map_err(|e| AigcError::output(&staging, e))?;
        let state_path = staging.join(STATE_FILE);
        fs::write(&state_path, json).map_err(|e| AigcError::io(&state_path, e))?;
        sync_folder_files(&staging)?;
        Ok(StagedCheckpoint { target: self.dir.join(name), staging, checkpoints: self.clone() })
    }

    /// Committed checkpoints, oldest first.
    pub fn list(&self) -> Result<Vec<(usize, PathBuf)>> {
        let mut found = Vec::new();
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(found),
            Err(e) => return Err(AigcError::io(&self.dir, e)),
        };
        for entry in entries {
            let path = entry.map_err(|e| AigcError::io(&self.dir, e))?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if let Some(step) = name.strip_prefix("step-").and_then(|s| s.parse::<usize>().ok())
                && path.join(STATE_FILE).is_file()
            {
                found.push((step, path));
            }
        }
        found.sort();
        Ok(found)
    }

    /// The newest committed checkpoint whose files are intact, if any. A damaged newer one is
    /// skipped with a warning naming it; when every checkpoint is damaged, the newest one's
    /// problem is the error.
    pub fn latest(&self) -> Result<Option<(TrainState, PathBuf)>> {
        let mut newest_problem = None;
        for (_, path) in self.list()?.into_iter().rev() {
            match read_state(&path) {
                Ok(state) => {
                    if let Some(problem) = &newest_problem {
                        tracing::warn!("{problem}; using the older checkpoint {}", path.display());
                    }
                    return Ok(Some((state, path)));
                }
                Err(e) => {
                    newest_problem.get_or_insert(e);
                }
            }
        }
        newest_problem.map_or(Ok(None), Err)
    }

    /// The checkpoint of a given step.
    pub fn at_step(&self, step: usize) -> Result<(TrainState, PathBuf)> {
        let path = self.dir.join(step_name(step));
        if !path.join(STATE_FILE).is_file() {
            return Err(AigcError::Missing { path, hint: " (no checkpoint at that step)".into() });
        }
        Ok((read_state(&path)?, path))
    }

    fn prune(&self) -> Result<()> {
        let list = self.list()?;
        let excess = list.len().saturating_sub(self.keep);
        for (_, path) in list.into_iter().take(excess) {
            fs::remove_dir_all(&path).map_err(|e| AigcError::io(&path, e))?;
        }
        Ok(())
    }

    fn remove_stale_staging(&self) {
        if let Ok(entries) = fs::read_dir(&self.dir) {
            for entry in entries.flatten() {
                if entry.file_name().to_string_lossy().starts_with(TMP_PREFIX) {
                    let _ = fs::remove_dir_all(entry.path());
                }
            }
        }
    }
}

impl StagedCheckpoint {
    /// Renames the staging folder into place (atomic on POSIX), then prunes old checkpoints.
    pub fn commit(self) -> Result<PathBuf> {
        if self.target.exists() {
            fs::remove_dir_all(&self.target).map_err(|e| AigcError::io(&self.target, e))?;
        }
        fs::rename(&self.staging, &self.target).map_err(|e| AigcError::io(&self.target, e))?;
        sync_dir(self.checkpoints.dir())?;
        self.checkpoints.prune()?;
        Ok(self.target)
    }

    /// The staging folder (tests use it to simulate a crash mid-write).
    pub fn staging_dir(&self) -> &Path {
        &self.staging
    }
}

fn step_name(step: usize) -> String {
    format!("step-{step:08}")
}

/// The state of the checkpoint in `dir`, after checking every file it lists against its
/// checksum.
fn read_state(dir: &Path) -> Result<TrainState> {
    let path = dir.join(STATE_FILE);
    let bytes = read_limited(&path, limits::CONFIG_BYTES)?;
    let file: StateFile =
        serde_json::from_slice(&bytes).map_err(|e| AigcError::Checkpoint { path, problem: format!("bad state file: {e}") })?;
    for (name, expected) in &file.checksums {
        let part = dir.join(name);
        let found = checksum(&read_limited(&part, limits::weights_bytes())?);
        if &found != expected {
            return Err(AigcError::Checkpoint { path: part, problem: format!("damaged: its checksum is {found}, state.json recorded {expected}") });
        }
    }
    Ok(TrainState { step: file.step, batches_seen: file.batches_seen, rng_word_pos: file.rng_word_pos, elapsed_s: file.elapsed_s })
}

/// Which checkpoint of a run to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckpointChoice {
    Latest,
    /// The best-scoring checkpoint kept by evaluations during training (`best/`).
    Best,
    Step(usize),
}

impl CheckpointChoice {
    /// Parses `latest`, `best` or a step number (the `checkpoint` field).
    pub fn parse(value: &str) -> Result<Self> {
        match value {
            "latest" => Ok(Self::Latest),
            "best" => Ok(Self::Best),
            step => step
                .parse()
                .map(Self::Step)
                .map_err(|_| AigcError::invalid("checkpoint", format!("expected latest, best or a step number, got {step:?}"))),
        }
    }

    /// The chosen checkpoint of the run in `run`: its state and directory.
    pub fn resolve(self, run: &super::RunDir) -> Result<(TrainState, PathBuf)> {
        match self {
            CheckpointChoice::Step(step) => run.checkpoints(usize::MAX).at_step(step),
            CheckpointChoice::Latest => run
                .checkpoints(usize::MAX)
                .latest()?
                .ok_or_else(|| AigcError::bad_data(run.root(), "has no checkpoint yet (train it first)")),
            CheckpointChoice::Best => run.best_checkpoint().latest()?.ok_or_else(|| {
                AigcError::bad_data(run.root(), "has no best checkpoint (it is kept when the run evaluates during training)")
            }),
        }
    }
}
