//! `metrics.jsonl`: one JSON object per logged step or evaluation, appended as training goes;
//! every object has a `step`. On resume the lines after the checkpoint's step are dropped, so
//! the log matches the weights.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::io::write_atomic;
use crate::error::{AigcError, Result};

/// A run's `metrics.jsonl`.
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
        crate::io::check_output(&self.path)?;
        let mut line = serde_json::to_string(record).map_err(|e| AigcError::output(&self.path, e))?;
        line.push('\n');
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| AigcError::io(&self.path, e))?;
        file.write_all(line.as_bytes()).map_err(|e| AigcError::io(&self.path, e))
    }

    /// The log's text (empty when there is none yet; only a regular file is read). A line cut
    /// by a crash may end in half a character: it is replaced, and the line skipped as unparsable.
    fn text(&self) -> Result<String> {
        match fs::symlink_metadata(&self.path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
            _ => Ok(String::from_utf8_lossy(&crate::io::read_limited(&self.path, crate::io::limits::JSON_BYTES)?).into_owned()),
        }
    }

    /// All records (lines that do not parse, such as a line cut by a crash, are skipped).
    pub fn read<T: for<'de> Deserialize<'de>>(&self) -> Result<Vec<T>> {
        Ok(self.text()?.lines().filter_map(|l| serde_json::from_str(l).ok()).collect())
    }

    /// Drops records logged after `step` (and any partial line), rewriting the file atomically.
    pub fn truncate_after(&self, step: usize) -> Result<()> {
        let text = self.text()?;
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
