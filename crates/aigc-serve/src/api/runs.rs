//! What is there: the runs (through the library's one dispatch), one run in full, its files,
//! and the queues.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path as UrlPath, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};

use aigc::families::Capability;
use aigc::run::RunDir;
use aigc::service::runs::{RunSummary, Suggestion, describe as describe_run, evaluated_runs, summarize_runs};

use super::param;
use crate::error::relative;
use crate::{ApiError, ApiResult, AppState, limits, names};

/// One run as the API lists it: its name (never a server path), what it is and can do, where it
/// got to.
#[derive(Debug, Serialize)]
pub struct RunEntry {
    pub name: String,
    pub family: Option<&'static str>,
    pub arch: Option<String>,
    pub data: Option<String>,
    pub image_size: Option<u32>,
    pub step: Option<usize>,
    pub capabilities: Vec<Capability>,
    pub last_losses: BTreeMap<String, f64>,
    pub best_metric: Option<Metric>,
    /// An `aigc eval --baseline` folder: which baseline.
    pub baseline: Option<String>,
    /// Why the run could not be opened.
    pub problem: Option<String>,
    /// Its last `aigc eval` of images, as `aigc report` tables it.
    pub eval: Option<Value>,
}

#[derive(Debug, Serialize)]
pub struct Metric {
    pub name: String,
    pub value: f64,
}

fn entry(summary: RunSummary, root: &Path) -> RunEntry {
    let name = summary.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let info = summary.info.as_ref();
    RunEntry {
        name,
        family: info.map(|i| i.family),
        arch: info.map(|i| i.arch.clone()),
        data: info.map(|i| relative(&i.data, root)),
        image_size: info.and_then(|i| i.image_size),
        step: summary.step,
        capabilities: info.map(|i| i.capabilities.clone()).unwrap_or_default(),
        last_losses: summary.last_losses.into_iter().collect(),
        best_metric: summary.best_metric.map(|(name, value)| Metric { name, value }),
        baseline: summary.baseline,
        problem: summary.problem.map(|p| relative(&p, root)),
        eval: None,
    }
}

/// Runs a blocking read off the async threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> ApiResult<T> + Send + 'static) -> ApiResult<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| ApiError::internal(format!("the read failed: {e}")))?
}

/// The runs whose names are valid API names (others cannot be addressed, so are not listed).
fn entries(state: &AppState) -> ApiResult<Vec<RunEntry>> {
    let root = state.runs();
    let summaries = summarize_runs(root).map_err(|e| state.error(e))?;
    // The `aigc report` figures of every evaluated run (a damaged eval.json leaves them out).
    let evals: BTreeMap<String, Value> = evaluated_runs(root)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|r| {
            let name = r.path.file_name()?.to_string_lossy().into_owned();
            let (c, m) = (&r.report.comparison, &r.report);
            let eval = json!({
                "step": m.step,
                "train_seconds": r.train_seconds,
                "n": c.generated,
                "fid": c.fid,
                "kid": c.kid.mean,
                "kid_std": c.kid.error(),
                "precision": c.precision,
                "recall": c.recall,
                "label_accuracy": m.label_accuracy,
                "copies": m.memorisation.copy_fraction,
            });
            Some((name, eval))
        })
        .collect();
    Ok(summaries
        .into_iter()
        .map(|s| entry(s, root))
        .filter(|e| names::check_name(&e.name, "run").is_ok())
        .map(|mut e| {
            e.eval = evals.get(&e.name).cloned();
            e
        })
        .collect())
}

/// `GET /api/runs`.
pub async fn list(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let runs = blocking(move || entries(&state)).await?;
    Ok(Json(json!({ "runs": runs })))
}

/// `GET /api/runs/{name}`: the summary, the config as written, the metrics series (thinned to
/// [`limits::METRICS_RECORDS`]), the sample grids over time and the other files.
pub async fn describe(State(state): State<AppState>, name: Result<UrlPath<String>, PathRejection>) -> ApiResult<Json<Value>> {
    let name = param(name)?;
    let dir = state.run(&name)?;
    blocking(move || {
        let root = state.runs();
        let description = describe_run(&dir).map_err(|e| state.error(e))?;
        let run = RunDir::new(&dir);
        let records: Vec<Value> = if run.exists() { run.metrics().read().map_err(|e| state.error(e))? } else { Vec::new() };
        let total = records.len();
        let metrics = thin(records, limits::METRICS_RECORDS);
        let files = run_files(&dir);
        let samples: Vec<&String> = files.iter().filter(|f| f.starts_with("samples/") && f.ends_with(".png")).collect();
        let commands: Vec<Suggestion> =
            description.commands.into_iter().map(|s| Suggestion { command: relative(&s.command, root), what: s.what }).collect();
        Ok(Json(json!({
            "run": entry(description.summary, root),
            "config": description.config,
            "last_records": description.last_records,
            "metrics": metrics,
            "metrics_total": total,
            "samples": samples,
            "files": files,
            "commands": commands,
        })))
    })
    .await
}

/// Every `n`-th record so that at most `max` remain, the last one always kept.
fn thin(records: Vec<Value>, max: usize) -> Vec<Value> {
    if records.len() <= max {
        return records;
    }
    let stride = records.len().div_ceil(max);
    let last = records.len() - 1;
    records.into_iter().enumerate().filter(|(i, _)| i % stride == 0 || *i == last).map(|(_, r)| r).collect()
}

/// Folders of a run that hold weights, not results: not listed and not served.
const PRIVATE_DIRS: [&str; 2] = ["checkpoints", "best"];

/// The run's files (paths relative to it, `/`-separated, sorted), weights left out; at most a
/// thousand.
fn run_files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack: Vec<(PathBuf, String)> = vec![(dir.to_path_buf(), String::new())];
    while let Some((folder, prefix)) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else { continue };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if names::check_name(&name, "file").is_err() {
                continue;
            }
            let Ok(kind) = entry.file_type() else { continue };
            let rel = format!("{prefix}{name}");
            if kind.is_dir() && prefix.is_empty() && !PRIVATE_DIRS.contains(&name.as_str()) {
                stack.push((entry.path(), format!("{rel}/")));
            } else if kind.is_file() && out.len() < 1000 {
                out.push(rel);
            }
        }
    }
    out.sort();
    out
}

/// `GET /api/runs/{name}/files/{path}`: a result file of a run (grids, plots, logs, exports).
pub async fn file(State(state): State<AppState>, params: Result<UrlPath<(String, String)>, PathRejection>) -> ApiResult<Response> {
    let (name, rel) = param(params)?;
    let dir = state.run(&name)?;
    if rel.split('/').next().is_some_and(|top| PRIVATE_DIRS.contains(&top)) {
        return Err(ApiError::not_found("file", format!("{rel:?}: checkpoints are not served")));
    }
    let path = names::resolve_file(&dir, &rel)?;
    let size = tokio::fs::metadata(&path).await.map_err(|e| ApiError::internal(format!("{rel}: {e}")))?.len();
    if size > limits::FILE_BYTES {
        return Err(ApiError::new(axum::http::StatusCode::PAYLOAD_TOO_LARGE, "file", format!("{rel:?} is {size} bytes; at most {} are served", limits::FILE_BYTES)));
    }
    let bytes = tokio::fs::read(&path).await.map_err(|e| ApiError::internal(format!("{rel}: {e}")))?;
    Ok(([(header::CONTENT_TYPE, content_type(&rel))], bytes).into_response())
}

/// The media type of a run file, by its extension.
fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next().unwrap_or("") {
        "png" => "image/png",
        "gif" => "image/gif",
        "svg" => "image/svg+xml",
        "json" => "application/json",
        "jsonl" => "application/x-ndjson",
        "toml" | "txt" | "md" | "abc" => "text/plain; charset=utf-8",
        "mid" => "audio/midi",
        "wav" => "audio/wav",
        _ => "application/octet-stream",
    }
}

/// `GET /api/queue`: jobs running or waiting, per model, and the generations cancelled by their
/// clients going away.
pub async fn queue(State(state): State<AppState>) -> Json<Value> {
    Json(json!({ "jobs": state.queues().lengths(), "cancelled": state.cancelled() }))
}

/// `GET /api/version`.
pub async fn version() -> Json<Value> {
    Json(json!({ "name": "aigc", "version": env!("CARGO_PKG_VERSION") }))
}

/// `GET /api/tags`: the text runs as Ollama lists its models.
pub async fn tags(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let runs = blocking(move || entries(&state)).await?;
    let models: Vec<Value> = runs
        .iter()
        .filter(|r| r.capabilities.contains(&Capability::Text))
        .map(|r| json!({ "name": r.name, "model": r.name, "details": { "family": r.arch, "format": "aigc" } }))
        .collect();
    Ok(Json(json!({ "models": models })))
}
