//! The `/api` routes, one module per kind of work.

mod edit;
mod images;
mod music;
mod runs;
mod text;
mod train;

pub use train::Jobs;

use axum::Router;
use axum::extract::rejection::PathRejection;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::routing::{get, post};

use aigc::run::CheckpointChoice;
use aigc::sample::text::SamplingConfig;

use crate::{ApiError, ApiResult, AppState};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/runs", get(runs::list))
        .route("/runs/{name}", get(runs::describe))
        .route("/runs/{name}/files/{*path}", get(runs::file))
        .route("/runs/{name}/images", post(images::images))
        .route("/runs/{name}/generate", post(text::generate))
        .route("/runs/{name}/poem", post(text::poem))
        .route("/runs/{name}/chat", post(text::chat))
        .route("/runs/{name}/compose", post(music::compose))
        .route("/runs/{name}/inpaint", post(edit::inpaint))
        .route("/runs/{name}/heldout/{k}", get(edit::heldout))
        .route("/style", post(edit::style))
        .route("/train", post(train::start))
        .route("/jobs", get(train::list))
        .route("/jobs/{id}", get(train::show).delete(train::stop))
        .route("/jobs/{id}/events", get(train::events))
        .route("/queue", get(runs::queue))
        .route("/version", get(runs::version))
        .route("/openapi.json", get(openapi))
        // Ollama's names: its clients list models and generate with a run's name as the model.
        .route("/tags", get(runs::tags))
        .route("/generate", post(text::ollama_generate))
}

/// `GET /api/openapi.json`: the API described for other programs (OpenAPI 3.1).
async fn openapi() -> impl axum::response::IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], include_str!("../../openapi.json"))
}

/// A path parameter, with a JSON error when it is not one.
fn param<T>(value: Result<axum::extract::Path<T>, PathRejection>) -> ApiResult<T> {
    value.map(|p| p.0).map_err(|e| ApiError::bad("path", e.body_text()))
}

/// Whether the client asked for `kind` first (`Accept: image/png`).
fn accepts(headers: &HeaderMap, kind: &str) -> bool {
    headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|v| v.split(',').any(|k| k.trim().starts_with(kind)))
}

/// The `X-Queue-Position` header: jobs ahead of this one when it joined its model's queue.
fn queue_header(position: usize) -> (header::HeaderName, HeaderValue) {
    (header::HeaderName::from_static("x-queue-position"), HeaderValue::from(position))
}

/// Base64 of bytes, for PNG, MIDI and WAV inside JSON.
fn base64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub(super) fn default_temperature() -> f64 {
    0.8
}

pub(super) fn default_top_p() -> f64 {
    1.0
}

pub(super) fn default_true() -> bool {
    true
}

pub(super) fn sampling(temperature: f64, top_k: usize, top_p: f64) -> ApiResult<SamplingConfig> {
    let config = SamplingConfig { temperature, top_k, top_p };
    config.validate().map_err(|e| ApiError::from_aigc(e, std::path::Path::new("")))?;
    Ok(config)
}

pub(super) fn checkpoint(state: &AppState, name: Option<&str>) -> ApiResult<CheckpointChoice> {
    CheckpointChoice::parse(name.unwrap_or("latest")).map_err(|e| state.error(e))
}

