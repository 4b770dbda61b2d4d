//! Atomic, resumable checkpoints.
//!
//! A checkpoint is a folder `checkpoints/step-NNNNNNNN/` holding any number of named files
//! (weights and optimizer records, written by the caller) and `state.json` (step, RNG state,
//! data cursor, elapsed time). It is staged in `checkpoints/.tmp-step-NNNNNNNN/`, every file is
//! flushed to disk, and only then is the folder renamed into place: a crash at any moment leaves
//! either the previous checkpoint or the new one, never a half-written one. Stale staging folders
//! are ignored by [`Checkpoints::latest`] and removed by the next save.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{AigcError, Result};

const STATE_FILE: &str = "state.json";
const TMP_PREFIX: &str = ".tmp-";

/// Training progress saved with every checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
        let json = serde_json::to_vec_pretty(state).map_err(|e| AigcError::output(&staging, e))?;
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

    /// Where a training job into `out` starts: the newest checkpoint with `resume`, nothing
    /// without. Resuming without a checkpoint, or starting afresh over one, is refused with the
    /// flag named.
    pub fn resume_point(&self, resume: bool, out: &Path) -> Result<Option<(TrainState, PathBuf)>> {
        let latest = self.latest()?;
        match (&latest, resume) {
            (None, true) => Err(AigcError::bad_argument(
                "--resume",
                format!("{}: no checkpoint to resume from", self.dir.display()),
            )),
            (Some(_), false) => Err(AigcError::bad_argument(
                "--out",
                format!("{} already holds a run; pass --resume to continue it, or choose another --out", out.display()),
            )),
            _ => Ok(latest),
        }
    }

    /// The newest committed checkpoint, if any.
    pub fn latest(&self) -> Result<Option<(TrainState, PathBuf)>> {
        match self.list()?.pop() {
            None => Ok(None),
            Some((_, path)) => Ok(Some((read_state(&path)?, path))),
        }
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

fn read_state(dir: &Path) -> Result<TrainState> {
    let path = dir.join(STATE_FILE);
    let bytes = fs::read(&path).map_err(|e| AigcError::io(&path, e))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| AigcError::Checkpoint { path, problem: format!("bad state file: {e}") })
}

fn sync_folder_files(dir: &Path) -> Result<()> {
    for entry in fs::read_dir(dir).map_err(|e| AigcError::io(dir, e))? {
        let path = entry.map_err(|e| AigcError::io(dir, e))?.path();
        File::open(&path).and_then(|f| f.sync_all()).map_err(|e| AigcError::io(&path, e))?;
    }
    sync_dir(dir)
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|f| f.sync_all()).map_err(|e| AigcError::io(dir, e))
}

/// Writes a file atomically: a temporary sibling, flushed, then renamed over the target.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(|e| AigcError::io(parent, e))?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    fs::write(&tmp, bytes).map_err(|e| AigcError::io(&tmp, e))?;
    File::open(&tmp).and_then(|f| f.sync_all()).map_err(|e| AigcError::io(&tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| AigcError::io(path, e))
}
