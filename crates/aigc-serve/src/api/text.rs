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
use aigc::service::text::{ChatRequest, GenerateRequest, Generated, PoemsRequest, chat as open_chat, generate as continue_text, poems, text_model};

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

/// A checked generation, ready to run.
struct TextJob {
    model_name: String,
    run: PathBuf,
    checkpoint: CheckpointChoice,
    request: GenerateRequest,
    stream: bool,
    /// Server-sent events instead of NDJSON.
    events: bool,
}

/// What the generating thread hands out.
enum Piece {
    Text(String),
    Done(Generated),
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
        stream: body.stream,
        events: accepts(&headers, "text/event-stream"),
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
        stream: body.stream,
        events: accepts(&headers, "text/event-stream"),
    };
    run_text(state, job).await
}

/// Waits for the model's turn, loads it and checks the prompt (errors are still a 4xx), then
/// generates on a blocking thread; the answer streams out as tokens come. A client that goes
/// away drops the stream, and the next token's send fails and stops the generation.
async fn run_text(state: AppState, job: TextJob) -> ApiResult<Response> {
    let started = Instant::now();
    let ticket = state.queues().join(&job.model_name)?;
    let position = ticket.position;
    let turn = ticket.ready().await;
    let (ready_tx, ready_rx) = oneshot::channel::<ApiResult<f64>>();
    let (tx, rx) = mpsc::channel::<Piece>(64);
    let (device, errors) = (state.device(), state.clone());
    let TextJob { model_name, run, checkpoint, request, stream, events } = job;
    tokio::task::spawn_blocking(move || {
        let _turn = turn;
        let loading = Instant::now();
        let model = match text_model(&run, checkpoint, &device).and_then(|m| m.vocab.encode(&request.prompt, "prompt").map(|_| m)) {
            Ok(model) => model,
            Err(e) => {
                let _ = ready_tx.send(Err(errors.error(e)));
                return;
            }
        };
        if ready_tx.send(Ok(loading.elapsed().as_secs_f64())).is_err() {
            return;
        }
        let generated = continue_text(&model, &request, |piece| match tx.blocking_send(Piece::Text(piece.to_string())) {
            Ok(()) => ControlFlow::Continue(()),
            Err(_) => ControlFlow::Break(()),
        });
        if generated.as_ref().is_ok_and(|g| g.stopped) {
            errors.count_cancelled();
        }
        let _ = tx.blocking_send(match generated {
            Ok(g) => Piece::Done(g),
            Err(e) => Piece::Failed(errors.error(e)),
        });
    });
    let load_seconds = ready_rx.await.map_err(|_| ApiError::internal("the generation failed to start"))??;
    let name = model_name.clone();
    let summary = move |g: &Generated| {
        json!({
            "model": model_name,
            "created_at": now(),
            "done": true,
            "done_reason": if g.stopped { "stop" } else { "length" },
            "seed": g.seed,
            "prompt_eval_count": g.prompt_tokens,
            "eval_count": g.tokens,
            "total_duration": nanos(started.elapsed().as_secs_f64()),
            "load_duration": nanos(load_seconds),
            "eval_duration": nanos(g.seconds),
            "queue_position": position,
        })
    };
    let headers = [queue_header(position)];
    if !stream {
        let mut rx = rx;
        let mut text = String::new();
        while let Some(piece) = rx.recv().await {
            match piece {
                Piece::Text(t) => text.push_str(&t),
                Piece::Done(g) => {
                    let mut body = summary(&g);
                    body["response"] = Value::String(text);
                    return Ok((headers, Json(body)).into_response());
                }
                Piece::Failed(e) => return Err(e),
            }
        }
        return Err(ApiError::internal("the generation stopped without an answer"));
    }
    let line = move |piece: Piece| -> Value {
        match piece {
            Piece::Text(t) => json!({ "model": name, "created_at": now(), "response": t, "done": false }),
            Piece::Done(g) => {
                let mut v = summary(&g);
                v["response"] = Value::String(String::new());
                v
            }
            Piece::Failed(e) => json!({ "error": e.error, "field": e.field, "done": true }),
        }
    };
    if events {
        let events = ReceiverStream::new(rx).map(move |piece| {
            let kind = match &piece {
                Piece::Text(_) => "token",
                Piece::Done(_) => "done",
                Piece::Failed(_) => "error",
            };
            Ok::<_, Infallible>(Event::default().event(kind).data(line(piece).to_string()))
        });
        return Ok((headers, Sse::new(events)).into_response());
    }
    let lines = ReceiverStream::new(rx).map(move |piece| {
        let mut text = line(piece).to_string();
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
    let acrostic: Vec<char> = body.acrostic.as_deref().unwrap_or("").chars().collect();
    if acrostic.len() > 8 {
        return Err(ApiError::bad("acrostic", "a poem has at most 8 lines"));
    }
    let request = PoemsRequest { form: body.form, start, acrostic, n: body.n, sampling: sampling(body.temperature, body.top_k, body.top_p)?, seed: seed(body.seed)? };
    let checkpoint = checkpoint(&state, body.checkpoint.as_deref())?;
    let (device, errors) = (state.device(), state.clone());
    let (written, position) = state
        .compute(&name, move |_| {
            let model = text_model(&run, checkpoint, &device).map_err(|e| errors.error(e))?;
            poems(&run, &model, &request).map_err(|e| errors.error(e)).map(|p| (p, request.seed))
        })
        .await?;
    let (p, seed) = written;
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
pub async fn chat(State(state): State<AppState>, name: Result<UrlPath<String>, PathRejection>, ApiJson(body): ApiJson<ChatBody>) -> ApiResult<Json<Value>> {
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
    let ((reply, user, bot), position) = state
        .compute(&name, move |control| {
            let model = text_model(&run, checkpoint, &device).map_err(|e| errors.error(e))?;
            let mut chat = open_chat(&model, &request).map_err(|e| errors.error(e))?;
            for turn in &history {
                chat.remember(&turn.line, &turn.reply).map_err(|e| errors.error(e))?;
            }
            let reply = chat
                .reply(&line, |_| if control.stop_requested() { ControlFlow::Break(()) } else { ControlFlow::Continue(()) })
                .map_err(|e: AigcError| errors.error(e))?;
            Ok((reply, chat.user.clone(), chat.bot.clone()))
        })
        .await?;
    Ok(Json(json!({ "reply": reply, "user": user, "bot": bot, "seed": seed, "queue_position": position })))
}
