//! Training jobs: `POST /api/train` starts one (queued behind the one running: two cores train
//! one model at a time), `GET /api/jobs/{id}` and its event stream report step, losses, ETA
//! and the newest sample grid, `DELETE` stops it at the next step with that step checkpointed,
//! so `resume` continues it exactly.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use tokio::sync::{Notify, mpsc};
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;

use aigc::AigcError;
use aigc::families::{TrainRequest, prepare_training};
use aigc::run::RunDir;
use aigc::job::JobControl;
use aigc::train::TrainOptions;

use super::param;
use crate::error::relative;
use crate::{ApiError, ApiJson, ApiResult, AppState, names};

/// Finished jobs kept for `GET /api/jobs` (the oldest are forgotten first).
const KEEP_FINISHED: usize = 64;

/// The queue key every training job shares.
const TRAIN_QUEUE: &str = "train";

/// A training job.
pub struct Job {
    pub id: u64,
    family: String,
    run: String,
    dir: PathBuf,
    config: Value,
    control: Arc<JobControl>,
    cancel: Notify,
    created_at: String,
    state: Mutex<JobState>,
}

#[derive(Debug, Clone)]
struct JobState {
    /// `queued`, `running`, `done`, `stopped` (by `DELETE`, checkpointed), `cancelled` (before
    /// it started) or `failed`.
    status: &'static str,
    position: usize,
    error: Option<String>,
    started: Option<Instant>,
    /// The step it started from (a resumed run's checkpoint).
    start_step: Option<usize>,
    seconds: Option<f64>,
}

impl JobState {
    fn finished(&self) -> bool {
        matches!(self.status, "done" | "stopped" | "cancelled" | "failed")
    }
}

/// Every job the server knows.
#[derive(Default)]
pub struct Jobs {
    next: u64,
    list: BTreeMap<u64, Arc<Job>>,
}

impl Job {
    fn state(&self) -> JobState {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn update(&self, f: impl FnOnce(&mut JobState)) {
        f(&mut self.state.lock().unwrap_or_else(|e| e.into_inner()));
    }

    /// What the API shows of the job: its state, progress and ETA, the run's newest metrics
    /// record and sample grid.
    fn report(&self, with_config: bool) -> Value {
        let s = self.state();
        let (step, total) = self.control.progress();
        let elapsed = s.started.map(|t| s.seconds.unwrap_or_else(|| t.elapsed().as_secs_f64()));
        let done_here = s.start_step.map(|from| step.saturating_sub(from)).unwrap_or(0);
        let rate = elapsed.filter(|e| *e > 0.0 && done_here > 0).map(|e| done_here as f64 / e);
        let eta = match (rate, s.status) {
            (Some(r), "running") if total > 0 => Some(total.saturating_sub(step) as f64 / r),
            _ => None,
        };
        let mut out = json!({
            "id": self.id,
            "family": self.family,
            "run": self.run,
            "status": s.status,
            "queue_position": (s.status == "queued").then_some(s.position),
            "error": s.error,
            "step": step,
            "total_steps": total,
            "elapsed_s": elapsed,
            "steps_per_s": rate,
            "eta_s": eta,
            "created_at": self.created_at,
            "metrics": last_record(&self.dir),
            "grid": newest_grid(&self.dir),
        });
        if with_config {
            out["config"] = self.config.clone();
        }
        out
    }
}

/// The last line of the run's `metrics.jsonl` (read from its end: logs grow long).
fn last_record(dir: &Path) -> Value {
    let read = || -> std::io::Result<Option<Value>> {
        let mut file = std::fs::File::open(RunDir::new(dir).root().join("metrics.jsonl"))?;
        let len = file.metadata()?.len();
        file.seek(SeekFrom::Start(len.saturating_sub(16 * 1024)))?;
        let mut tail = Vec::new();
        file.take(16 * 1024).read_to_end(&mut tail)?;
        let text = String::from_utf8_lossy(&tail);
        Ok(text.lines().rev().find_map(|l| serde_json::from_str::<Value>(l).ok()))
    };
    read().ok().flatten().unwrap_or(Value::Null)
}

/// The newest sample grid of the run (`samples/step-NNNNNN.png`, relative to it).
fn newest_grid(dir: &Path) -> Option<String> {
    let entries = std::fs::read_dir(RunDir::new(dir).samples_dir()).ok()?;
    let newest = entries.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).filter(|n| n.starts_with("step-") && n.ends_with(".png")).max()?;
    Some(format!("samples/{newest}"))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainBody {
    /// `gan`, `vae`, `diffusion`, `text` or `music`.
    family: String,
    /// The run's name under `--runs` (default: FAMILY-YYYYMMDD-HHMMSS).
    run: Option<String>,
    /// Config keys over the family's defaults (or over the run's own config with `resume`), as
    /// in a run's config.toml.
    #[serde(default)]
    config: Map<String, Value>,
    /// Continue the run from its newest checkpoint.
    #[serde(default)]
    resume: bool,
}

/// A new run's name: `FAMILY-YYYYMMDD-HHMMSS`, with `-2`, `-3`, … when taken.
fn new_run_name(root: &Path, family: &str) -> String {
    let base = format!("{family}-{}", chrono::Local::now().format("%Y%m%d-%H%M%S"));
    let mut name = base.clone();
    let mut n = 1;
    while root.join(&name).exists() {
        n += 1;
        name = format!("{base}-{n}");
    }
    name
}

/// `POST /api/train`: checks the config (400 naming the key), queues the job, answers 202.
pub async fn start(State(state): State<AppState>, ApiJson(body): ApiJson<TrainBody>) -> ApiResult<Response> {
    let root = state.runs().to_path_buf();
    let run = match &body.run {
        Some(name) => {
            names::check_name(name, "run")?;
            name.clone()
        }
        None => new_run_name(&root, &body.family),
    };
    let dir = root.join(&run);
    match (dir.exists(), body.resume) {
        (true, false) => return Err(ApiError::new(StatusCode::CONFLICT, "run", format!("{run:?} exists: send `resume` to continue it, or another name"))),
        (false, true) => return Err(ApiError::not_found("run", format!("no run {run:?} to resume"))),
        (true, true) => {
            state.run(&run)?;
        }
        (false, false) => {}
    }
    if let Some(data) = body.config.get("data") {
        check_data(data)?;
    }
    let request = TrainRequest { out: dir.clone(), config: body.config, resume: body.resume };
    let family = body.family.clone();
    let errors = state.clone();
    let prepared = tokio::task::spawn_blocking(move || prepare_training(&family, &request))
        .await
        .map_err(|e| ApiError::internal(format!("the check failed: {e}")))?
        .map_err(|e| config_error(errors.error(e)))?;
    let start_step = if body.resume { RunDir::new(&dir).latest_step().ok().flatten().unwrap_or(0) } else { 0 };
    let ticket = state.queues().join(TRAIN_QUEUE)?;
    let job = state.add_job(|id| Job {
        id,
        family: body.family.clone(),
        run: run.clone(),
        dir: dir.clone(),
        config: prepared.config.clone(),
        control: Arc::new(JobControl::default()),
        cancel: Notify::new(),
        created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        state: Mutex::new(JobState { status: "queued", position: ticket.position, error: None, started: None, start_step: Some(start_step), seconds: None }),
    });
    let (device, runner, root_for_errors) = (state.device(), job.clone(), root.clone());
    let resume = body.resume;
    tokio::spawn(async move {
        let turn = tokio::select! {
            turn = ticket.ready() => turn,
            _ = runner.cancel.notified() => {
                runner.update(|s| s.status = "cancelled");
                return;
            }
        };
        runner.update(|s| {
            s.status = "running";
            s.started = Some(Instant::now());
        });
        let control = runner.control.clone();
        let options = TrainOptions { resume, force: false, quiet: true, device, feature_cache: None, control: Some(control) };
        let result = tokio::task::spawn_blocking(move || {
            let _turn = turn;
            (prepared.train)(&options)
        })
        .await;
        runner.update(|s| {
            s.seconds = s.started.map(|t| t.elapsed().as_secs_f64());
            match result {
                Ok(Ok(())) => s.status = "done",
                Ok(Err(AigcError::Stopped { .. })) => s.status = "stopped",
                Ok(Err(e)) => {
                    s.status = "failed";
                    s.error = Some(relative(&e.to_string(), &root_for_errors));
                }
                Err(e) => {
                    s.status = "failed";
                    s.error = Some(format!("the training thread failed: {e}"));
                }
            }
        });
    });
    Ok((StatusCode::ACCEPTED, Json(job.report(true))).into_response())
}

/// A config error names the key as `config.KEY`.
fn config_error(mut e: ApiError) -> ApiError {
    if let Some(field) = &e.field
        && field != "family"
        && field != "run"
    {
        e.error = format!("config.{}", e.error);
        e.field = Some(format!("config.{field}"));
    }
    e
}

/// The server trains on the data sets it has by name only, never on a path a request names.
fn check_data(data: &Value) -> ApiResult<()> {
    let sets = aigc::data::catalog::catalog();
    let available: Vec<&str> = sets.iter().filter(|d| d.available).map(|d| d.name).collect();
    match data.as_str() {
        Some(name) if available.contains(&name) => Ok(()),
        _ => Err(ApiError::bad("config.data", format!("{data}: the server trains on its data sets by name: {} (`aigc train` on the command line takes paths)", available.join(", ")))),
    }
}

impl AppState {
    fn add_job(&self, make: impl FnOnce(u64) -> Job) -> Arc<Job> {
        let mut jobs = self.jobs();
        jobs.next += 1;
        let job = Arc::new(make(jobs.next));
        jobs.list.insert(job.id, job.clone());
        let finished: Vec<u64> = jobs.list.values().filter(|j| j.state().finished()).map(|j| j.id).collect();
        for id in finished.iter().take(finished.len().saturating_sub(KEEP_FINISHED)) {
            jobs.list.remove(id);
        }
        job
    }

    fn job(&self, id: u64) -> ApiResult<Arc<Job>> {
        self.jobs().list.get(&id).cloned().ok_or_else(|| ApiError::not_found("job", format!("no job {id} (see GET /api/jobs)")))
    }
}

/// `GET /api/jobs`.
pub async fn list(State(state): State<AppState>) -> Json<Value> {
    let jobs: Vec<Arc<Job>> = state.jobs().list.values().cloned().collect();
    Json(json!({ "jobs": jobs.iter().map(|j| j.report(false)).collect::<Vec<_>>() }))
}

/// `GET /api/jobs/{id}`.
pub async fn show(State(state): State<AppState>, id: Result<UrlPath<u64>, PathRejection>) -> ApiResult<Json<Value>> {
    let job = state.job(param(id)?)?;
    Ok(Json(tokio::task::spawn_blocking(move || job.report(true)).await.map_err(|e| ApiError::internal(e.to_string()))?))
}

/// `DELETE /api/jobs/{id}`: stops a running job at its next step (that step checkpointed), or
/// takes a queued one out of the queue.
pub async fn stop(State(state): State<AppState>, id: Result<UrlPath<u64>, PathRejection>) -> ApiResult<Response> {
    let job = state.job(param(id)?)?;
    let s = job.state();
    if s.finished() {
        return Err(ApiError::new(StatusCode::CONFLICT, "job", format!("job {} has already ended ({})", job.id, s.status)));
    }
    job.control.stop();
    job.cancel.notify_one();
    Ok((StatusCode::ACCEPTED, Json(json!({ "id": job.id, "status": "stopping" }))).into_response())
}

/// `GET /api/jobs/{id}/events`: server-sent `progress` events (step, losses, ETA, newest grid)
/// whenever something changed, then one event named after how it ended.
pub async fn events(State(state): State<AppState>, id: Result<UrlPath<u64>, PathRejection>) -> ApiResult<Response> {
    let job = state.job(param(id)?)?;
    let (tx, rx) = mpsc::channel::<Event>(8);
    tokio::spawn(async move {
        let mut last = Value::Null;
        loop {
            let reporting = job.clone();
            let Ok(report) = tokio::task::spawn_blocking(move || reporting.report(false)).await else { return };
            let status = report["status"].as_str().unwrap_or("").to_string();
            let ended = matches!(status.as_str(), "done" | "stopped" | "cancelled" | "failed");
            let changed = report["step"] != last["step"] || report["status"] != last["status"] || report["grid"] != last["grid"];
            if ended {
                let _ = tx.send(Event::default().event(status).data(report.to_string())).await;
                return;
            }
            if changed && tx.send(Event::default().event("progress").data(report.to_string())).await.is_err() {
                return;
            }
            last = report;
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    });
    Ok(Sse::new(ReceiverStream::new(rx).map(Ok::<_, Infallible>)).keep_alive(KeepAlive::default()).into_response())
}
