//! `aigc runs`: one line per run under a folder.

use std::path::{Path, PathBuf};

use crate::error::{AigcError, Result};
use crate::train::RunDir;

#[derive(Debug, Clone)]
pub struct RunSummary {
    pub path: PathBuf,
    /// Step of the newest checkpoint.
    pub step: Option<usize>,
    /// The last logged losses (name, value), as found in `metrics.jsonl`.
    pub last_losses: Vec<(String, f64)>,
    /// The best evaluation metric logged (name, value; lower is better), when the run has one.
    pub best_metric: Option<(String, f64)>,
}

/// Metric names that count as "best" when logged (lower is better), in order of preference.
const BEST_METRICS: [&str; 2] = ["kid", "fid"];

/// Summarises every run (a folder with `config.toml`) directly under `root`, sorted by name.
pub fn summarize_runs(root: &Path) -> Result<Vec<RunSummary>> {
    let entries = std::fs::read_dir(root).map_err(|e| AigcError::io(root, e))?;
    let mut dirs: Vec<PathBuf> = entries.flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect();
    dirs.sort();
    let mut summaries = Vec::new();
    for dir in dirs {
        let run = RunDir::new(&dir);
        if !run.exists() {
            continue;
        }
        let step = run.checkpoints(usize::MAX).list()?.last().map(|(s, _)| *s);
        let records: Vec<serde_json::Value> = run.metrics().read()?;
        let last_losses = records
            .last()
            .and_then(|r| r.as_object())
            .map(|o| {
                o.iter()
                    .filter(|(k, _)| k.ends_with("loss"))
                    .filter_map(|(k, v)| v.as_f64().map(|v| (k.clone(), v)))
                    .collect()
            })
            .unwrap_or_default();
        let eval: Option<serde_json::Value> = std::fs::read(dir.join("eval.json"))
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok());
        // The best value logged during training, else the last `aigc eval` (its KID is an estimate
        // object; its FID a number).
        let best_metric = BEST_METRICS
            .iter()
            .find_map(|name| {
                records
                    .iter()
                    .filter_map(|r| r.get(*name).and_then(|v| v.as_f64()))
                    .min_by(f64::total_cmp)
                    .map(|v| (name.to_string(), v))
            })
            .or_else(|| eval.as_ref().and_then(|e| e.get("fid")).and_then(|v| v.as_f64()).map(|v| ("fid".to_string(), v)));
        summaries.push(RunSummary { path: dir, step, last_losses, best_metric });
    }
    Ok(summaries)
}
