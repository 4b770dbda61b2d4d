//! `metrics.jsonl`: one JSON object per logged step, appended as training goes. On resume the
//! lines after the checkpoint's step are dropped, so the log matches the weights.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::checkpoint::write_atomic;
use crate::error::{AigcError, Result};

/// One logged training step of a GAN.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GanMetrics {
    pub step: usize,
    pub epoch: f64,
    pub d_loss: f64,
    pub g_loss: f64,
    /// Mean D(x) on the real batch: the probability σ(D(x)) for BCE, the critic value for WGAN.
    pub d_real: f64,
    /// Mean D(G(z)) on the generated batch, in the same units as `d_real`.
    pub d_fake: f64,
    pub elapsed_s: f64,
}

/// An evaluation logged during training (`--eval-every`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalMetrics {
    pub step: usize,
    pub kid: f64,
    pub kid_std: f64,
    pub fid: f64,
    pub precision: f64,
    pub recall: f64,
    /// Generated images measured.
    pub samples: usize,
}

pub struct MetricsLog {
    path: PathBuf,
}

impl MetricsLog {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn append<T: Serialize>(&self, record: &T) -> Result<()> {
        let mut line = serde_json::to_string(record).map_err(|e| AigcError::output(&self.path, e))?;
        line.push('\n');
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| AigcError::io(&self.path, e))?;
        file.write_all(line.as_bytes()).map_err(|e| AigcError::io(&self.path, e))
    }

    /// All records (lines that do not parse, such as a line cut by a crash, are skipped).
    pub fn read<T: for<'de> Deserialize<'de>>(&self) -> Result<Vec<T>> {
        let text = match fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(AigcError::io(&self.path, e)),
        };
        Ok(text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect())
    }

    /// Drops records logged after `step` (and any partial line), rewriting the file atomically.
    pub fn truncate_after(&self, step: usize) -> Result<()> {
        let Ok(text) = fs::read_to_string(&self.path) else { return Ok(()) };
        let mut kept = String::new();
        for line in text.lines() {
            let Ok(value) = serde_json::from_str::<serde_json::Value>(line) else { continue };
            if value.get("step").and_then(|s| s.as_u64()).is_some_and(|s| s as usize <= step) {
                kept.push_str(line);
                kept.push('\n');
            }
        }
        write_atomic(&self.path, kept.as_bytes())
    }
}
