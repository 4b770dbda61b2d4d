//! The runs under a folder: one summary per run (what it is, where it got to, its last losses
//! and best score), and the `aigc eval` reports of all of them as one table.

use std::path::{Path, PathBuf};

use crate::error::{AigcError, Result};
use crate::eval::images::EvalReport;
use crate::families::{self, RunInfo};
use crate::run::RunDir;

#[derive(Debug, Clone)]
pub struct RunSummary {
    pub path: PathBuf,
    /// What the run is (`None` when its manifest cannot be read: see `problem`).
    pub info: Option<RunInfo>,
    /// Why the run could not be opened, or its log not read.
    pub problem: Option<String>,
    /// Step of the newest checkpoint.
    pub step: Option<usize>,
    /// The last logged losses (name, value), as found in `metrics.jsonl`.
    pub last_losses: Vec<(String, f64)>,
    /// The best evaluation metric logged (name, value; lower is better), when the run has one.
    pub best_metric: Option<(String, f64)>,
}

/// Metric names that count as "best" when logged (lower is better), in order of preference.
const BEST_METRICS: [&str; 3] = ["kid", "fid", "val_loss"];

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
        let (info, mut problem) = match families::open(&dir) {
            Ok(opened) => (Some(opened.info().clone()), None),
            Err(e) => (None, Some(e.to_string())),
        };
        let step = match &info {
            Some(info) => info.step,
            None => run.latest_step()?,
        };
        // One unreadable run (a damaged log, a FIFO in its place) does not hide the others.
        let records: Vec<serde_json::Value> = run.metrics().read().unwrap_or_else(|e| {
            problem.get_or_insert(e.to_string());
            Vec::new()
        });
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
        let eval: Option<serde_json::Value> = crate::io::read_limited(&run.image_eval(), crate::io::limits::JSON_BYTES)
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
        summaries.push(RunSummary { path: dir, info, problem, step, last_losses, best_metric });
    }
    Ok(summaries)
}

/// One evaluated run: its report and, for trained runs, the training time of its newest log line.
#[derive(Debug, Clone)]
pub struct EvaluatedRun {
    pub path: PathBuf,
    pub train_seconds: Option<f64>,
    pub report: EvalReport,
}

/// Every `NAME/eval.json` directly under `root`, sorted by name. Unreadable reports are errors
/// (naming the file), not silently skipped.
pub fn evaluated_runs(root: &Path) -> Result<Vec<EvaluatedRun>> {
    let entries = std::fs::read_dir(root).map_err(|e| AigcError::io(root, e))?;
    let mut dirs: Vec<PathBuf> = entries.flatten().map(|e| e.path()).filter(|p| p.join("eval.json").is_file()).collect();
    dirs.sort();
    dirs.into_iter()
        .map(|dir| {
            let path = dir.join("eval.json");
            let bytes = crate::io::read_limited(&path, crate::io::limits::JSON_BYTES)?;
            let report: EvalReport = serde_json::from_slice(&bytes)
                .map_err(|e| AigcError::bad_data(&path, format!("not an aigc eval report: {e}")))?;
            let run = RunDir::new(&dir);
            let train_seconds = if run.exists() {
                // A log that cannot be read leaves the time blank, not the table.
                let records: Vec<serde_json::Value> = run.metrics().read().unwrap_or_default();
                records.iter().rev().find_map(|r| r.get("elapsed_s").and_then(|v| v.as_f64()))
            } else {
                None
            };
            Ok(EvaluatedRun { path: dir, train_seconds, report })
        })
        .collect()
}

/// The runs as a Markdown table (the README's results table is pasted from this).
pub fn markdown_table(runs: &[EvaluatedRun]) -> String {
    let mut out = String::from(
        "| run | step | train s | n | FID | KID ± std | precision | recall | IS | classes | KL | copies |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in runs {
        let (c, m) = (&r.report.comparison, &r.report);
        let name = r.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let train = r.train_seconds.map(|s| format!("{s:.0}")).unwrap_or_else(|| "-".into());
        let classes = m.coverage.as_ref().map(|v| format!("{}/{}", v.covered, v.classes)).unwrap_or_else(|| "-".into());
        let kl = m.coverage.as_ref().map(|v| format!("{:.3}", v.kl_to_data)).unwrap_or_else(|| "-".into());
        let is = c.inception_score.map(|e| format!("{:.2}", e.mean)).unwrap_or_else(|| "-".into());
        out.push_str(&format!(
            "| {name} | {} | {train} | {} | {:.1} | {:.1} ± {:.1} | {:.3} | {:.3} | {is} | {classes} | {kl} | {:.2}% |\n",
            m.step,
            c.generated,
            c.fid,
            c.kid.mean,
            c.kid.std,
            c.precision,
            c.recall,
            100.0 * m.memorisation.copy_fraction,
        ));
    }
    out
}
