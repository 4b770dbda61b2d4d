//! `aigc report`: the `eval.json` of every run (and baseline) under a folder as one table.

use std::path::{Path, PathBuf};

use crate::error::{AigcError, Result};
use crate::eval::run_eval::EvalReport;
use crate::train::RunDir;

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
            let bytes = std::fs::read(&path).map_err(|e| AigcError::io(&path, e))?;
            let report: EvalReport = serde_json::from_slice(&bytes)
                .map_err(|e| AigcError::bad_data(&path, format!("not an aigc eval report: {e}")))?;
            let run = RunDir::new(&dir);
            let train_seconds = if run.exists() {
                let records: Vec<serde_json::Value> = run.metrics().read()?;
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
