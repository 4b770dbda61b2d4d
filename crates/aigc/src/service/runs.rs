//! The runs under a folder: one summary per run (what it is, where it got to, its last losses
//! and best score), one run described in full (`aigc info`), the commands that fit a run, and
//! the `aigc eval` reports of all of them as one table.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{AigcError, Result};
use crate::eval::images::EvalReport;
use crate::families::{self, Capability, RunInfo};
use crate::run::RunDir;

#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    pub path: PathBuf,
    /// What the run is (`None` when its manifest cannot be read, see `problem`, and for an
    /// `aigc eval --baseline` folder, see `baseline`).
    pub info: Option<RunInfo>,
    /// An `aigc eval --baseline` folder: which baseline (`real`, `noise`).
    pub baseline: Option<String>,
    /// Why the run could not be opened, or its log not read.
    pub problem: Option<String>,
    /// Step of the newest checkpoint.
    pub step: Option<usize>,
    /// The losses of the newest training record that has any (name, value), as found in
    /// `metrics.jsonl`; evaluation records between them are skipped.
    pub last_losses: Vec<(String, f64)>,
    /// The best evaluation metric logged (name, value; lower is better), when the run has one.
    pub best_metric: Option<(String, f64)>,
}

/// Metric names that count as "best" when logged (lower is better), in order of preference.
const BEST_METRICS: [&str; 4] = ["kid", "fid", "val_loss", "heldout_nelbo"];

/// Summarises every run (a folder with `config.toml`) and every `aigc eval --baseline` folder
/// directly under `root`, sorted by name.
pub fn summarize_runs(root: &Path) -> Result<Vec<RunSummary>> {
    let entries = std::fs::read_dir(root).map_err(|e| AigcError::io(root, e))?;
    let mut dirs: Vec<PathBuf> = entries.flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect();
    dirs.sort();
    let mut summaries = Vec::new();
    for dir in dirs {
        if let Some(summary) = summarize(&dir)? {
            summaries.push(summary);
        }
    }
    Ok(summaries)
}

/// The summary of the run (or baseline) in `dir`; `None` when `dir` is neither.
pub fn summarize(dir: &Path) -> Result<Option<RunSummary>> {
    let run = RunDir::new(dir);
    let eval = read_eval(&run);
    if !run.exists() {
        let baseline = eval.as_ref().and_then(|e| baseline_kind(dir, e));
        return Ok(baseline.map(|kind| RunSummary {
            path: dir.to_path_buf(),
            info: None,
            baseline: Some(kind),
            problem: None,
            step: None,
            last_losses: Vec::new(),
            best_metric: eval_fid(eval.as_ref()),
        }));
    }
    let (info, mut problem) = match families::open(dir) {
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
    let last_losses = records.iter().rev().map(losses).find(|l| !l.is_empty()).unwrap_or_default();
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
        .or_else(|| eval_fid(eval.as_ref()));
    Ok(Some(RunSummary { path: dir.to_path_buf(), info, baseline: None, problem, step, last_losses, best_metric }))
}

/// The `*loss` fields of a metrics record.
fn losses(record: &serde_json::Value) -> Vec<(String, f64)> {
    record
        .as_object()
        .map(|o| o.iter().filter(|(k, _)| k.ends_with("loss")).filter_map(|(k, v)| v.as_f64().map(|v| (k.clone(), v))).collect())
        .unwrap_or_default()
}

fn read_eval(run: &RunDir) -> Option<serde_json::Value> {
    crate::io::read_limited(&run.image_eval(), crate::io::limits::JSON_BYTES).ok().and_then(|bytes| serde_json::from_slice(&bytes).ok())
}

fn eval_fid(eval: Option<&serde_json::Value>) -> Option<(String, f64)> {
    eval.and_then(|e| e.get("fid")).and_then(|v| v.as_f64()).map(|v| ("fid".to_string(), v))
}

/// Which baseline an `eval.json` outside a run measured: `aigc eval --baseline KIND` writes
/// step 0 into `baseline-KIND` by default; any other folder with such a report is "baseline".
fn baseline_kind(dir: &Path, eval: &serde_json::Value) -> Option<String> {
    eval.get("fid")?;
    let name = dir.file_name()?.to_string_lossy();
    Some(name.strip_prefix("baseline-").unwrap_or("baseline").to_string())
}

/// A command that fits a run, and what it does.
#[derive(Debug, Clone, Serialize)]
pub struct Suggestion {
    pub command: String,
    pub what: &'static str,
}

/// The commands that fit a run, chosen by what it can do and what it was trained on (printed
/// after training and by `aigc info`).
pub fn suggested_commands(info: &RunInfo) -> Vec<Suggestion> {
    let run = shell_word(&info.path.display().to_string());
    let mut out = Vec::new();
    let mut add = |command: String, what: &'static str| out.push(Suggestion { command, what });
    let can = |c: Capability| info.capabilities.contains(&c);
    if can(Capability::Images) {
        add(format!("aigc sample --run {run} --n 64 --seed 1 --scale 4"), "draw a grid of new images");
        // Conditional runs are the image runs that cannot inpaint.
        if !can(Capability::Inpainting) {
            add(format!("aigc sample --run {run} --class 3"), "draw images of one class");
        }
        add(format!("aigc sample --run {run} --interpolate"), "walk between random latent points");
        if info.family == crate::families::diffusion::NAME {
            add(format!("aigc sample --run {run} --strip --n 8 --scale 4"), "watch images form from noise, step by step");
            add(format!("aigc sample --run {run} --sample-steps 20"), "sample faster, with fewer denoising steps");
        }
        add(format!("aigc eval --run {run}"), "FID, KID, precision/recall against the held-out images");
    }
    if can(Capability::Inpainting) {
        add(format!("aigc inpaint --run {run} --heldout 0 --out repaired.png"), "fill a hole in a held-out image");
    }
    if can(Capability::Text) {
        match info.data.as_str() {
            "tang-poems" => {
                add(format!("aigc poem --run {run} --form 五言绝句 --n 4"), "write quatrains of five-character lines");
                add(format!("aigc poem --run {run} --form 七言绝句 --acrostic 春夏秋冬"), "an acrostic poem");
            }
            "shakespeare" => {
                add(format!("aigc generate --run {run} --prompt \"ROMEO:\""), "continue a scene");
                add(format!("aigc chat --run {run} --as ROMEO --with JULIET"), "speak as one character, the model answers as another");
            }
            "news" => add(format!("aigc generate --run {run} --prompt \"The jury said\""), "write newspaper prose"),
            _ => add(format!("aigc generate --run {run} --prompt \"The \""), "continue a prompt (in your data's characters)"),
        }
    }
    if can(Capability::Melodies) {
        add(format!("aigc compose --run {run} --key G --meter 6/8 --bars 16 --out tune"), "write tune.abc, tune.mid and tune.wav");
        add(format!("aigc eval --run {run}"), "held-out likelihood and the tunes' statistics against the data");
    }
    if can(Capability::Export) {
        add(format!("aigc export --run {run}"), "the weights in PyTorch's layout (python/aigc_torch.py loads them)");
    }
    out
}

/// Decimals that show `x` to about two significant digits, at least one.
fn decimals(x: f64) -> usize {
    let x = x.abs();
    if x >= 0.1 || x == 0.0 || !x.is_finite() { 1 } else { (1.0 - x.log10().floor()).min(6.0) as usize }
}

/// `word` as one shell word (quoted when it holds anything but safe characters).
fn shell_word(word: &str) -> String {
    if !word.is_empty() && word.chars().all(|c| c.is_ascii_alphanumeric() || "/._-+=:,@".contains(c)) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// Everything `aigc info` says about a run.
#[derive(Debug, Clone, Serialize)]
pub struct RunDescription {
    pub summary: RunSummary,
    /// The run's last metrics records of each kind (training step, evaluation), newest last.
    pub last_records: Vec<serde_json::Value>,
    /// Its `config.toml` as written.
    pub config: String,
    pub commands: Vec<Suggestion>,
}

/// Describes the run in `dir`: an error naming the folder when it is not a run.
pub fn describe(dir: &Path) -> Result<RunDescription> {
    let run = RunDir::new(dir);
    let summary = summarize(dir)?.ok_or_else(|| AigcError::invalid("run", format!("{} is not a run (no config.toml)", dir.display())))?;
    let config = crate::io::read_text(&run.config(), crate::io::limits::CONFIG_BYTES).unwrap_or_default();
    let records: Vec<serde_json::Value> = if run.exists() { run.metrics().read().unwrap_or_default() } else { Vec::new() };
    // The newest record of each shape (its set of keys), in log order.
    let mut last_records: Vec<(usize, serde_json::Value)> = Vec::new();
    let mut shapes: Vec<Vec<String>> = Vec::new();
    for (i, r) in records.iter().enumerate().rev() {
        let keys: Vec<String> = r.as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default();
        if !shapes.contains(&keys) {
            shapes.push(keys);
            last_records.push((i, r.clone()));
        }
    }
    last_records.sort_by_key(|(i, _)| *i);
    let commands = summary.info.as_ref().map(suggested_commands).unwrap_or_default();
    Ok(RunDescription { summary, last_records: last_records.into_iter().map(|(_, r)| r).collect(), config, commands })
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
        "| run | step | train s | n | FID | KID ± std | precision | recall | IS | classes | KL | label acc. | copies |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in runs {
        let (c, m) = (&r.report.comparison, &r.report);
        let name = r.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let train = r.train_seconds.map(|s| format!("{s:.0}")).unwrap_or_else(|| "-".into());
        let classes = m.coverage.as_ref().map(|v| format!("{}/{}", v.covered, v.classes)).unwrap_or_else(|| "-".into());
        let kl = m.coverage.as_ref().map(|v| format!("{:.3}", v.kl_to_data)).unwrap_or_else(|| "-".into());
        let is = c.inception_score.map(|e| format!("{:.2}", e.mean)).unwrap_or_else(|| "-".into());
        // One decimal for the classifier's large KIDs; enough decimals to show two digits of the
        // spread for an encoder's small ones (0.0160 ± 0.0014).
        let kid = match c.kid.error() {
            Some(std) => {
                let d = decimals(std);
                format!("{:.d$} ± {std:.d$}", c.kid.mean)
            }
            None => format!("{:.d$}", c.kid.mean, d = decimals(c.kid.mean)),
        };
        // FID of identical sets can come out a rounding error below 0.
        let fid = if c.fid < 5.0 { format!("{:.2}", c.fid.max(0.0)) } else { format!("{:.1}", c.fid) };
        // Conditional runs: the share of samples the feature network puts in their class.
        let accuracy = m.label_accuracy.map(|a| format!("{:.1}%", 100.0 * a)).unwrap_or_else(|| "-".into());
        out.push_str(&format!(
            "| {name} | {} | {train} | {} | {fid} | {kid} | {:.3} | {:.3} | {is} | {classes} | {kl} | {accuracy} | {:.2}% |\n",
            m.step,
            c.generated,
            c.precision,
            c.recall,
            100.0 * m.memorisation.copy_fraction,
        ));
    }
    out
}

/// `aigc export`: the networks of a run's `checkpoint` (`latest`, `best` or a step) in
/// PyTorch's layout, written into `out` (the run directory when `None`); returns the weights'
/// paths (each with its `.json` sidecar beside it).
pub fn export(run: &Path, checkpoint: &str, out: Option<&Path>, device: &burn::tensor::Device) -> Result<Vec<PathBuf>> {
    let checkpoint = crate::run::CheckpointChoice::parse(checkpoint)?;
    let opened = families::open(run)?;
    opened.export(checkpoint, device, out.unwrap_or(run))
}

#[cfg(test)]
mod decimals_tests {
    /// Large KIDs keep one decimal (the README's tables); small ones show two digits.
    #[test]
    fn decimals_show_two_significant_digits_of_small_values() {
        use super::decimals;
        assert_eq!([decimals(27.4), decimals(5.9), decimals(0.6), decimals(0.0), decimals(f64::NAN)], [1, 1, 1, 1, 1]);
        assert_eq!([decimals(0.0014), decimals(0.05), decimals(-0.0024), decimals(1e-12)], [4, 3, 4, 6]);
        assert_eq!(format!("{:.d$} ± {:.d$}", 0.016, 0.0014, d = decimals(0.0014)), "0.0160 ± 0.0014");
    }
}
