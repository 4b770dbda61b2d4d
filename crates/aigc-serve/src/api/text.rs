//! Text from a run that continues text: free generation streamed token by token (NDJSON in
//! Ollama's shape, or server-sent events), poems, and a stateless chat.

use std::convert::Infallible;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::time::Instant;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::rejection::PathRejection;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;

use aigc::AigcError;
use aigc::run::CheckpointChoice;
use aigc::sample::text::SamplingConfig;
use aigc::service::text::{ChatRequest, GenerateRequest, PoemsRequest, chat as open_chat, generate as continue_text, poems, text_model};

use super::{accepts, checkpoint, default_temperature, default_top_p, default_true, param, queue_header, sampling};
use crate::{ApiError, ApiJson, ApiResult, AppState, bounded, limits, seed};

fn check_text(field: &str, text: &str) -> ApiResult<()> {
    let chars = text.chars().count();
    if chars > limits::PROMPT_CHARS {
        return Err(ApiError::bad(field, format!("at most {} characters, got {chars}", limits::PROMPT_CHARS)));
    }
    Ok(())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenerateBody {
    prompt: String,
    #[serde(default = "default_tokens")]
    max_tokens: usize,
    #[serde(default = "default_temperature")]
    temperature: f64,
    #[serde(default)]
    top_k: usize,
    #[serde(default = "default_top_p")]
    top_p: f64,
    seed: Option<i64>,
    /// Stream the tokens as they come (the default, as in Ollama).
    #[serde(default = "default_true")]
    stream: bool,
    checkpoint: Option<String>,
}

/// How a text answer is delivered: NDJSON lines (Ollama's default), server-sent events, or
/// one JSON object at the end.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Delivery {
    Lines,
    Events,
    Whole,
}

impl Delivery {
    fn of(stream: bool, headers: &HeaderMap) -> Self {
        match (stream, accepts(headers, "text/event-stream")) {
            (false, _) => Self::Whole,
            (true, true) => Self::Events,
            (true, false) => Self::Lines,
        }
    }
}

/// A checked generation, ready to run.
struct TextJob {
    model_name: String,
    run: PathBuf,
    checkpoint: CheckpointChoice,
    request: GenerateRequest,
    delivery: Delivery,
}

/// What the text thread hands out.
enum Piece {
    Text(String),
    Done(Value),
    Failed(ApiError),
}

/// `POST /api/runs/{name}/generate`.
pub async fn generate(State(state): State<AppState>, name: Result<UrlPath<String>, PathRejection>, headers: HeaderMap, ApiJson(body): ApiJson<GenerateBody>) -> ApiResult<Response> {
    let name = param(name)?;
    let job = TextJob {
        run: state.run(&name)?,
        checkpoint: checkpoint(&state, body.checkpoint.as_deref())?,
        request: generate_request(&body.prompt, body.max_tokens, sampling(body.temperature, body.top_k, body.top_p)?, seed(body.seed)?)?,
        model_name: name,
        delivery: Delivery::of(body.stream, &headers),
    };
    run_text(state, job).await
}

fn generate_request(prompt: &str, max_tokens: usize, sampling: SamplingConfig, seed: u64) -> ApiResult<GenerateRequest> {
    check_text("prompt", prompt)?;
    if prompt.is_empty() {
        return Err(ApiError::bad("prompt", "must not be empty"));
    }
    bounded("max_tokens", max_tokens, limits::TOKENS)?;
    Ok(GenerateRequest { prompt: prompt.to_string(), max_tokens, sampling, seed })
}

/// Ollama's `POST /api/generate` body: `model` is a run's name; fields Ollama clients send that
/// do not apply here (`system`, `keep_alive`, …) are ignored.
#[derive(Debug, Deserialize)]
pub struct OllamaBody {
    model: String,
    prompt: String,
    #[serde(default = "default_true")]
    stream: bool,
    #[serde(default)]
    options: OllamaOptions,
}

#[derive(Debug, Deserialize)]
pub struct OllamaOptions {
    #[serde(default = "default_temperature")]
    temperature: f64,
    #[serde(default)]
    top_k: usize,
    #[serde(default = "default_top_p")]
    top_p: f64,
    seed: Option<i64>,
    #[serde(default = "default_tokens")]
    num_predict: usize,
}

impl Default for OllamaOptions {
    fn default() -> Self {
        Self { temperature: default_temperature(), top_k: 0, top_p: default_top_p(), seed: None, num_predict: default_tokens() }
    }
}

/// `POST /api/generate`, Ollama-compatible.
pub async fn ollama_generate(State(state): State<AppState>, headers: HeaderMap, ApiJson(body): ApiJson<OllamaBody>) -> ApiResult<Response> {
    let o = &body.options;
    let request = generate_request(&body.prompt, o.num_predict, sampling(o.temperature, o.top_k, o.top_p)?, seed(o.seed)?)
        .map_err(|e| ApiError { field: e.field.map(|f| if f == "max_tokens" { "options.num_predict".into() } else { f }), ..e })?;
    let job = TextJob {
        run: state.run(&body.model).map_err(|e| ApiError { field: Some("model".into()), ..e })?,
        checkpoint: CheckpointChoice::Latest,
        request,
        model_name: body.model,
        delivery: Delivery::of(body.stream, &headers),
    };
    run_text(state, job).await
}

/// Loads the model and checks the prompt (errors are still a 4xx), then generates; see
/// [`stream_text`].
async fn run_text(state: AppState, job: TextJob) -> ApiResult<Response> {
    let started = Instant::now();
    let (device, errors) = (state.device(), state.clone());
    let TextJob { model_name, run, checkpoint, request, delivery } = job;
    stream_text(state, model_name, delivery, Some("response"), move |ready, emit| {
        let loading = Instant::now();
        let model = text_model(&run, checkpoint, &device).and_then(|m| m.tokenizer.encode(&request.prompt, "prompt").map(|_| m)).map_err(|e| errors.error(e))?;
        let load_seconds = loading.elapsed().as_secs_f64();
        if !ready() {
            return Err(ApiError::internal("the client left"));
        }
        let g = continue_text(&model, &request, emit).map_err(|e| errors.error(e))?;
        Ok(json!({
            "done_reason": if g.stopped { "stop" } else { "length" },
            "seed": g.seed,
            "prompt_eval_count": g.prompt_tokens,
            "eval_count": g.tokens,
            "total_duration": nanos(started.elapsed().as_secs_f64()),
            "load_duration": nanos(load_seconds),
            "eval_duration": nanos(g.seconds),
        }))
    })
    .await
}

/// A text job on `model_name`'s turn, its text streamed as it comes. `job(ready, emit)` runs on
/// a blocking thread: it loads and checks what it needs, calls `ready` (its errors before that
/// are the answer's 4xx status; `false`: the client left), then `emit`s each piece of text
/// (`Break`: the client left, stop) and returns its final record. Lines and events carry each
/// piece as `response` (Ollama's shape), then the record with `done: true`; a whole answer is
/// the record, with the text joined under `whole_text` when that is given.
async fn stream_text(
    state: AppState,
    model_name: String,
    delivery: Delivery,
    whole_text: Option<&'static str>,
    job: impl FnOnce(&mut dyn FnMut() -> bool, &mut dyn FnMut(&str) -> ControlFlow<()>) -> ApiResult<Value> + Send + 'static,
) -> ApiResult<Response> {
    let ticket = state.queues().join(&model_name)?;
    let position = ticket.position;
    let turn = ticket.ready().await;
    let (ready_tx, ready_rx) = oneshot::channel::<ApiResult<()>>();
    let (tx, rx) = mpsc::channel::<Piece>(64);
    let counter = state.clone();
    tokio::task::spawn_blocking(move || {
        let _turn = turn;
        let mut ready_tx = Some(ready_tx);
        let mut left = false;
        let result = {
            let mut ready = || ready_tx.take().is_some_and(|r| r.send(Ok(())).is_ok());
            let mut emit = |piece: &str| match tx.blocking_send(Piece::Text(piece.to_string())) {
                Ok(()) => ControlFlow::Continue(()),
                Err(_) => {
                    left = true;
                    ControlFlow::Break(())
                }
            };
            job(&mut ready, &mut emit)
        };
        if left {
            counter.count_cancelled();
        }
        match (ready_tx, result) {
            (Some(r), Err(e)) => {
                let _ = r.send(Err(e));
            }
            (Some(r), Ok(record)) => {
                let _ = r.send(Ok(()));
                let _ = tx.blocking_send(Piece::Done(record));
            }
            (None, result) => {
                let _ = tx.blocking_send(match result {
                    Ok(record) => Piece::Done(record),
                    Err(e) => Piece::Failed(e),
                });
            }
        }
    });
    ready_rx.await.map_err(|_| ApiError::internal("the job failed to start"))??;
    let model = json!(model_name);
    let name = model.clone();
    let finish = move |mut record: Value| {
        record["model"] = name.clone();
        record["created_at"] = json!(now());
        record["done"] = json!(true);
        record["queue_position"] = json!(position);
        record
    };
    let headers = [queue_header(position)];
    if delivery == Delivery::Whole {
        let mut rx = rx;
        let mut text = String::new();
        while let Some(piece) = rx.recv().await {
            match piece {
                Piece::Text(t) => text.push_str(&t),
                Piece::Done(record) => {
                    let mut body = finish(record);
                    if let Some(field) = whole_text {
                        body[field] = Value::String(text);
                    }
                    return Ok((headers, Json(body)).into_response());
                }
                Piece::Failed(e) => return Err(e),
            }
        }
        return Err(ApiError::internal("the job stopped without an answer"));
    }
    let line = move |piece: Piece| -> (&'static str, Value) {
        match piece {
            Piece::Text(t) => ("token", json!({ "model": model, "created_at": now(), "response": t, "done": false })),
            Piece::Done(record) => {
                let mut v = finish(record);
                if v.get("response").is_none() {
                    v["response"] = Value::String(String::new());
                }
                ("done", v)
            }
            Piece::Failed(e) => ("error", json!({ "error": e.error, "field": e.field, "done": true })),
        }
    };
    if delivery == Delivery::Events {
        let events = ReceiverStream::new(rx).map(move |piece| {
            let (kind, data) = line(piece);
            Ok::<_, Infallible>(Event::default().event(kind).data(data.to_string()))
        });
        return Ok((headers, Sse::new(events)).into_response());
    }
    let lines = ReceiverStream::new(rx).map(move |piece| {
        let mut text = line(piece).1.to_string();
        text.push('\n');
        Ok::<_, Infallible>(Bytes::from(text))
    });
    Ok((headers, [(header::CONTENT_TYPE, HeaderValue::from_static("application/x-ndjson"))], Body::from_stream(lines)).into_response())
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn nanos(seconds: f64) -> u64 {
    (seconds * 1e9) as u64
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoemBody {
    #[serde(default = "default_form")]
    form: String,
    /// The first character.
    start: Option<String>,
    /// The first character of each line.
    acrostic: Option<String>,
    #[serde(default = "one")]
    n: usize,
    #[serde(default = "default_temperature")]
    temperature: f64,
    #[serde(default)]
    top_k: usize,
    #[serde(default = "default_top_p")]
    top_p: f64,
    seed: Option<i64>,
    checkpoint: Option<String>,
}

fn default_form() -> String {
    "五言绝句".into()
}

fn one() -> usize {
    1
}

fn default_tokens() -> usize {
    200
}

/// `POST /api/runs/{name}/poem`: poems of a fixed form, with the form check and copy share.
pub async fn poem(State(state): State<AppState>, name: Result<UrlPath<String>, PathRejection>, ApiJson(body): ApiJson<PoemBody>) -> ApiResult<Json<Value>> {
    let name = param(name)?;
    let run = state.run(&name)?;
    bounded("n", body.n, limits::POEMS)?;
    let start = match body.start.as_deref().map(|s| s.chars().collect::<Vec<_>>()) {
        None => None,
        Some(c) if c.len() == 1 => Some(c[0]),
        Some(_) => return Err(ApiError::bad("start", "expects one character")),
    };
    // Its length is checked against the form by the library (a body is at most 64 KiB).
    let acrostic: Vec<char> = body.acrostic.as_deref().unwrap_or("").chars().collect();
    let request = PoemsRequest { form: body.form, start, acrostic, n: body.n, sampling: sampling(body.temperature, body.top_k, body.top_p)?, seed: seed(body.seed)? };
    let checkpoint = checkpoint(&state, body.checkpoint.as_deref())?;
    let (device, errors, seed) = (state.device(), state.clone(), request.seed);
    let (p, position) = state
        .compute(&name, move |_| {
            let model = text_model(&run, checkpoint, &device).map_err(|e| errors.error(e))?;
            poems(&run, &model, &request).map_err(|e| errors.error(e))
        })
        .await?;
    Ok(Json(json!({
        "poems": p.poems,
        "form": p.form,
        "matching": p.matching,
        "copied_lines": p.copied_lines,
        "validation_loss": p.validation_loss.map(|(step, loss)| json!({ "step": step, "nats_per_char": loss })),
        "seed": seed,
        "queue_position": position,
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatTurn {
    line: String,
    reply: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatBody {
    /// The speaker the client plays, and the one the model answers as.
    user: String,
    bot: String,
    /// The dialogue so far, oldest first.
    #[serde(default)]
    history: Vec<ChatTurn>,
    /// The client's new line.
    line: String,
    #[serde(default = "default_reply")]
    max_reply: usize,
    /// Stream the reply's characters as they come (NDJSON, or events); by default one answer.
    #[serde(default)]
    stream: bool,
    #[serde(default = "default_temperature")]
    temperature: f64,
    #[serde(default)]
    top_k: usize,
    #[serde(default = "default_top_p")]
    top_p: f64,
    seed: Option<i64>,
    checkpoint: Option<String>,
}

fn default_reply() -> usize {
    300
}

/// `POST /api/runs/{name}/chat`: the model's answer to `line` after `history`, in character.
pub async fn chat(State(state): State<AppState>, name: Result<UrlPath<String>, PathRejection>, headers: HeaderMap, ApiJson(body): ApiJson<ChatBody>) -> ApiResult<Response> {
    let name = param(name)?;
    let run = state.run(&name)?;
    bounded("max_reply", body.max_reply, limits::TOKENS)?;
    let said: usize = body.history.iter().map(|t| t.line.chars().count() + t.reply.chars().count()).sum::<usize>() + body.line.chars().count();
    if said > limits::PROMPT_CHARS {
        return Err(ApiError::bad("history", format!("the dialogue is at most {} characters, got {said}", limits::PROMPT_CHARS)));
    }
    if body.line.trim().is_empty() {
        return Err(ApiError::bad("line", "must not be empty"));
    }
    let request = ChatRequest { user: body.user, bot: body.bot, max_reply: body.max_reply, sampling: sampling(body.temperature, body.top_k, body.top_p)?, seed: seed(body.seed)? };
    let checkpoint = checkpoint(&state, body.checkpoint.as_deref())?;
    let (history, line, seed) = (body.history, body.line, request.seed);
    let (device, errors) = (state.device(), state.clone());
    stream_text(state, name, Delivery::of(body.stream, &headers), None, move |ready, emit| {
        let model = text_model(&run, checkpoint, &device).map_err(|e| errors.error(e))?;
        let mut chat = open_chat(&model, &request).map_err(|e| errors.error(e))?;
        for turn in &history {
            chat.remember(&turn.line, &turn.reply).map_err(|e| errors.error(e))?;
        }
        model.tokenizer.encode(&line, "line").map_err(|e| errors.error(e))?;
        if !ready() {
            return Err(ApiError::internal("the client left"));
        }
        let reply = chat.reply(&line, emit).map_err(|e: AigcError| errors.error(e))?;
        Ok(json!({ "reply": reply, "user": chat.user, "bot": chat.bot, "seed": seed }))
    })
    .await
}
