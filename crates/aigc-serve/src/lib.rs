//! `aigc serve`: an HTTP API over the library's service layer, for every trained run under one
//! folder. Handlers parse and bound a request, take the model's turn in its queue, call the
//! service layer on a blocking thread and turn its typed answer into JSON, PNG or a stream.
//! Nothing here samples, evaluates or composes by itself.

mod api;
pub mod error;
pub mod names;
pub mod queue;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use aigc::AigcError;
use aigc::burn::tensor::Device;
use aigc::job::JobControl;

pub use error::{ApiError, ApiResult};
pub use queue::{QueueLimits, Queues};

/// Documented request limits (the README's table is these).
pub mod limits {
    /// A JSON request body.
    pub const JSON_BYTES: usize = 64 * 1024;
    /// An upload (all parts of a multipart body together).
    pub const UPLOAD_BYTES: usize = 8 * 1024 * 1024;
    /// Images per request.
    pub const IMAGES: usize = 256;
    /// Denoising steps of a diffusion sampler, and RePaint's time points.
    pub const SAMPLE_STEPS: usize = 1000;
    /// Enlargement of returned images.
    pub const SCALE: u32 = 8;
    /// Tokens per generation.
    pub const TOKENS: usize = 4096;
    /// Characters of a prompt, a chat line or the whole chat history.
    pub const PROMPT_CHARS: usize = 8192;
    /// Poems per request.
    pub const POEMS: usize = 16;
    /// Bars of a composition.
    pub const BARS: usize = 64;
    /// Completions per inpainting request, and its optimisation steps.
    pub const INPAINT_SAMPLES: usize = 16;
    pub const INPAINT_STEPS: usize = 2000;
    /// Longer side of a style transfer's images, and its steps.
    pub const STYLE_SIZE: u32 = 512;
    pub const STYLE_STEPS: usize = 1000;
    /// A run file served by `GET /api/runs/{name}/files/…`.
    pub const FILE_BYTES: u64 = 64 * 1024 * 1024;
    /// Metrics records returned by `GET /api/runs/{name}` (longer logs are thinned evenly).
    pub const METRICS_RECORDS: usize = 2000;
}

/// What `aigc serve` serves, and how.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// The folder whose sub-folders are the runs.
    pub runs: PathBuf,
    pub addr: SocketAddr,
    /// Bearer token every `/api` request must carry; required off loopback.
    pub token: Option<String>,
    pub device: Device,
    pub queues: QueueLimits,
}

/// The server's shared state.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

struct Inner {
    /// Canonical `--runs` folder.
    runs: PathBuf,
    token: Option<String>,
    device: Device,
    queues: Queues,
    /// Generations stopped early because their client went away.
    cancelled: AtomicU64,
    jobs: Mutex<api::Jobs>,
}

impl AppState {
    /// State over `config.runs`, which must be a folder (an error naming `--runs` otherwise).
    pub fn new(config: &ServeConfig) -> aigc::Result<Self> {
        let runs = std::fs::canonicalize(&config.runs).map_err(|e| AigcError::invalid("runs", format!("{}: {e}", config.runs.display())))?;
        if !runs.is_dir() {
            return Err(AigcError::invalid("runs", format!("{} is not a folder", config.runs.display())));
        }
        Ok(Self(Arc::new(Inner { runs, token: config.token.clone(), device: config.device.clone(), queues: Queues::new(config.queues), cancelled: AtomicU64::new(0), jobs: Mutex::default() })))
    }

    pub fn runs(&self) -> &Path {
        &self.0.runs
    }

    pub fn device(&self) -> Device {
        self.0.device.clone()
    }

    pub fn queues(&self) -> &Queues {
        &self.0.queues
    }

    /// The training jobs.
    fn jobs(&self) -> MutexGuard<'_, api::Jobs> {
        self.0.jobs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts a generation its client abandoned.
    pub fn count_cancelled(&self) {
        self.0.cancelled.fetch_add(1, Ordering::Relaxed);
    }

    /// Generations stopped early because their client went away, since the server started.
    pub fn cancelled(&self) -> u64 {
        self.0.cancelled.load(Ordering::Relaxed)
    }

    /// The folder of run `name` (404 unless it is one inside `--runs`).
    pub fn run(&self, name: &str) -> ApiResult<PathBuf> {
        names::resolve(&self.0.runs, name)
    }

    /// A library error as an API error.
    pub fn error(&self, e: AigcError) -> ApiError {
        ApiError::from_aigc(e, &self.0.runs)
    }

    /// Runs `job` on a blocking thread once `key`'s earlier jobs are done; returns its value and
    /// the job's place in the queue when it joined. `job` gets a [`JobControl`] that is asked to
    /// stop when the request is dropped (its client went away), so it can stop early.
    pub async fn compute<T: Send + 'static>(
        &self,
        key: &str,
        job: impl FnOnce(&Arc<JobControl>) -> ApiResult<T> + Send + 'static,
    ) -> ApiResult<(T, usize)> {
        self.compute_with(key, Arc::default(), job).await
    }

    /// [`AppState::compute`] with the caller's `control` (to watch the job's progress).
    pub async fn compute_with<T: Send + 'static>(
        &self,
        key: &str,
        control: Arc<JobControl>,
        job: impl FnOnce(&Arc<JobControl>) -> ApiResult<T> + Send + 'static,
    ) -> ApiResult<(T, usize)> {
        let ticket = self.0.queues.join(key)?;
        let position = ticket.position;
        let turn = ticket.ready().await;
        let _guard = StopOnDrop(control.clone());
        let value = tokio::task::spawn_blocking(move || {
            let _turn = turn;
            job(&control)
        })
        .await
        .map_err(|e| ApiError::internal(format!("the job failed: {e}")))??;
        Ok((value, position))
    }
}

/// Asks a job to stop when dropped: a handler's future is dropped when its client disconnects.
struct StopOnDrop(Arc<JobControl>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.stop();
    }
}

/// Whether serving on `addr` with `token` is allowed: off loopback a token is required.
pub fn check_exposure(addr: &SocketAddr, token: Option<&str>) -> aigc::Result<()> {
    match token {
        Some(t) if t.trim().is_empty() => Err(AigcError::invalid("token", "must not be empty")),
        None if !addr.ip().is_loopback() => Err(AigcError::invalid(
            "addr",
            format!("{addr} is reachable from other machines: serving there needs `token` (a secret every request must send as `Authorization: Bearer TOKEN`)"),
        )),
        _ => Ok(()),
    }
}

/// Every route of the API and the studio.
pub fn router(state: AppState) -> Router {
    let api = api::routes()
        .fallback(|| async { ApiError::not_found("path", "no such API endpoint (see the README's API section)") })
        .method_not_allowed_fallback(|| async { ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method", "this endpoint does not take that method") })
        .layer(middleware::from_fn_with_state(state.clone(), authorise));
    Router::new()
        .route("/", axum::routing::get(studio))
        .nest("/api", api)
        .fallback(|| async { ApiError::not_found("path", "not found: the API is under /api") })
        .layer(DefaultBodyLimit::max(limits::UPLOAD_BYTES))
        .with_state(state)
}

/// The web studio: one page, embedded in the binary (it calls the API; no assets elsewhere).
const STUDIO: &str = include_str!("../studio/index.html");

async fn studio() -> Response {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")], STUDIO).into_response()
}

/// Refuses `/api` requests without the bearer token, when the server has one.
async fn authorise(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if let Some(token) = &state.0.token {
        let sent = request.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
        if !sent.is_some_and(|s| constant_time_eq(s.as_bytes(), token.as_bytes())) {
            let mut response = ApiError::new(StatusCode::UNAUTHORIZED, "authorization", "this server needs `Authorization: Bearer TOKEN` (the --token it was started with)").into_response();
            response.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
            return response;
        }
    }
    next.run(request).await
}

/// Compares secrets without stopping at the first difference.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A JSON request body: at most [`limits::JSON_BYTES`], unknown fields refused, errors naming
/// the field at fault; an empty body is `{}` (every field has a default). Sent as
/// `application/json`, without a type, or as curl's `-d` default (form-urlencoded).
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> ApiResult<Self> {
        if let Some(kind) = request.headers().get(header::CONTENT_TYPE) {
            let kind = kind.to_str().unwrap_or("");
            // `curl -d '{…}'` labels its body form-urlencoded; it is read as JSON all the same.
            if !kind.starts_with("application/json") && !kind.starts_with("application/x-www-form-urlencoded") {
                return Err(ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "content-type", format!("expected application/json, got {kind:?}")));
            }
        }
        let bytes = Bytes::from_request(request, state).await.map_err(|r| ApiError::new(r.status(), "body", r.body_text()))?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Parses a JSON body (see [`ApiJson`]).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> ApiResult<T> {
    if bytes.len() > limits::JSON_BYTES {
        return Err(ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "body", format!("a JSON body is at most {} KiB", limits::JSON_BYTES / 1024)));
    }
    let bytes: &[u8] = match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        None => b"{}",
        Some(b'{') => bytes,
        Some(_) => return Err(ApiError::bad("body", "expected a JSON object")),
    };
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { "body".to_string() } else { path };
        ApiError::bad(&field, e.inner())
    })?;
    de.end().map_err(|e| ApiError::bad("body", e))?;
    Ok(value)
}

/// A request's seed: absent or −1 draws one (returned with the answer so it can be repeated).
pub fn seed(value: Option<i64>) -> ApiResult<u64> {
    match value {
        None | Some(-1) => Ok(rand::random::<u32>() as u64),
        Some(s) if s >= 0 => Ok(s as u64),
        Some(s) => Err(ApiError::bad("seed", format!("must be ≥ 0, or −1 for a random seed; got {s}"))),
    }
}

/// Checks `value ∈ 1..=max` for request field `field`.
pub fn bounded(field: &str, value: usize, max: usize) -> ApiResult<usize> {
    if value == 0 || value > max {
        return Err(ApiError::bad(field, format!("must be between 1 and {max}, got {value}")));
    }
    Ok(value)
}

/// A server bound to its address, answering on a thread of its own until dropped (or until
/// Ctrl-C, for [`RunningServer::wait`]).
pub struct RunningServer {
    pub addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<std::io::Result<()>>>,
}

/// Binds `config.addr` (port 0: any free port) and serves on a new thread.
pub fn spawn(config: &ServeConfig) -> aigc::Result<RunningServer> {
    check_exposure(&config.addr, config.token.as_deref())?;
    let state = AppState::new(config)?;
    // Bound here, before the runtime exists, so that a bad address fails the call (and so that
    // this works from inside another runtime, as in async tests).
    let listener = std::net::TcpListener::bind(config.addr).map_err(|e| AigcError::invalid("addr", format!("cannot listen on {}: {e}", config.addr)))?;
    listener.set_nonblocking(true).map_err(|e| AigcError::io("<listener>", e))?;
    let addr = listener.local_addr().map_err(|e| AigcError::io("<listener>", e))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| AigcError::io("<tokio runtime>", e))?;
    let (shutdown, stop) = tokio::sync::oneshot::channel::<()>();
    let app = router(state);
    let thread = std::thread::Builder::new()
        .name("aigc-serve".into())
        .spawn(move || {
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener)?;
                let stopped = async move {
                    tokio::select! {
                        _ = stop => {}
                        _ = tokio::signal::ctrl_c() => {}
                    }
                };
                axum::serve(listener, app).with_graceful_shutdown(stopped).await
            })
        })
        .map_err(|e| AigcError::io("<server thread>", e))?;
    Ok(RunningServer { addr, shutdown: Some(shutdown), thread: Some(thread) })
}

impl RunningServer {
    /// Serves until Ctrl-C.
    pub fn wait(mut self) -> aigc::Result<()> {
        let thread = self.thread.take().expect("a running server has its thread");
        match thread.join() {
            Ok(result) => result.map_err(|e| AigcError::io("<server>", e)),
            Err(_) => Err(AigcError::io("<server>", std::io::Error::other("the server thread panicked"))),
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_loopback_a_token_is_required() {
        let local: SocketAddr = "127.0.0.1:7860".parse().unwrap();
        let open: SocketAddr = "0.0.0.0:7860".parse().unwrap();
        check_exposure(&local, None).unwrap();
        check_exposure(&"[::1]:7860".parse().unwrap(), None).unwrap();
        assert!(check_exposure(&open, None).unwrap_err().to_string().contains("token"));
        check_exposure(&open, Some("s3cret")).unwrap();
        assert!(check_exposure(&local, Some(" ")).is_err());
    }

    #[test]
    fn bodies_are_parsed_strictly_with_the_field_named() {
        #[derive(serde::Deserialize, Debug)]
        #[serde(deny_unknown_fields)]
        struct Body {
            #[serde(default)]
            n: Option<usize>,
        }
        assert!(parse_json::<Body>(b"").unwrap().n.is_none());
        assert_eq!(parse_json::<Body>(br#"{"n": 3}"#).unwrap().n, Some(3));
        let e = parse_json::<Body>(br#"{"n": "three"}"#).unwrap_err();
        assert_eq!((e.status, e.field.as_deref()), (StatusCode::BAD_REQUEST, Some("n")));
        assert!(parse_json::<Body>(br#"{"m": 1}"#).unwrap_err().error.contains("unknown field `m`"));
        assert!(parse_json::<Body>(br#"{"n": 1} x"#).is_err());
        assert!(parse_json::<Body>(b"{\"n\": 1").is_err());
        assert_eq!(parse_json::<Body>(&vec![b' '; limits::JSON_BYTES + 1]).unwrap_err().status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(seed(Some(7)).unwrap(), 7);
        assert!(seed(Some(-1)).is_ok() && seed(Some(-2)).is_err());
    }
}
