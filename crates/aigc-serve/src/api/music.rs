//! `POST /api/runs/{name}/compose`: a tune from a melody run as ABC text, MIDI and WAV.

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path as UrlPath, State};
use serde::Deserialize;
use serde_json::{Value, json};

use aigc::service::music::{CompositionRequest, compose as write_tune};

use super::{base64, default_temperature, default_top_p, param, sampling};
use crate::{ApiError, ApiJson, ApiResult, AppState, bounded, limits, seed};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComposeBody {
    #[serde(default = "default_key")]
    key: String,
    #[serde(default = "default_meter")]
    meter: String,
    #[serde(default = "default_bars")]
    bars: usize,
    /// Opening notes in ABC.
    primer: Option<String>,
    #[serde(default = "default_temperature")]
    temperature: f64,
    #[serde(default)]
    top_k: usize,
    #[serde(default = "default_top_p")]
    top_p: f64,
    seed: Option<i64>,
    #[serde(default = "default_tempo")]
    tempo: f64,
    #[serde(default = "default_program")]
    program: u8,
}

fn default_key() -> String {
    "G".into()
}

fn default_meter() -> String {
    "6/8".into()
}

fn default_bars() -> usize {
    16
}

fn default_tempo() -> f64 {
    120.0
}

/// General MIDI's flute, as `aigc compose`.
fn default_program() -> u8 {
    73
}

/// Composes; the MIDI file and the WAV rendering come base64-encoded beside the ABC text.
pub async fn compose(State(state): State<AppState>, name: Result<UrlPath<String>, PathRejection>, ApiJson(body): ApiJson<ComposeBody>) -> ApiResult<Json<Value>> {
    let name = param(name)?;
    let run = state.run(&name)?;
    bounded("bars", body.bars, limits::BARS)?;
    if body.primer.as_ref().is_some_and(|p| p.chars().count() > 256) {
        return Err(ApiError::bad("primer", "at most 256 characters"));
    }
    let request = CompositionRequest {
        run,
        key: body.key,
        meter: body.meter,
        bars: body.bars,
        primer: body.primer,
        sampling: sampling(body.temperature, body.top_k, body.top_p)?,
        seed: seed(body.seed)?,
        tempo: body.tempo,
        program: body.program,
    };
    let seed = request.seed;
    let (device, errors) = (state.device(), state.clone());
    let (tune, position) = state.compute(&name, move |_| write_tune(&request, &device).map_err(|e| errors.error(e))).await?;
    Ok(Json(json!({
        "abc": tune.abc,
        "midi": base64(&tune.midi),
        "wav": base64(&tune.wav),
        "seconds": tune.seconds,
        "seed": seed,
        "queue_position": position,
    })))
}
