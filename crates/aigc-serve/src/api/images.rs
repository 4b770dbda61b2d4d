//! `POST /api/runs/{name}/images`: a grid (or individual images) from any run that draws them.

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use aigc::run::CheckpointChoice;
use aigc::sample::SamplerSettings;
use aigc::service::images::{ImagesRequest, images as draw};

use super::{accepts, base64, param, queue_header};
use crate::{ApiError, ApiJson, ApiResult, AppState, bounded, limits, seed};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImagesBody {
    #[serde(default = "default_n")]
    n: usize,
    seed: Option<i64>,
    class: Option<usize>,
    guidance: Option<f64>,
    sample_steps: Option<usize>,
    sampler: Option<String>,
    eta: Option<f64>,
    #[serde(default)]
    interpolate: bool,
    /// Diffusion runs: denoising strips.
    #[serde(default)]
    strip: bool,
    /// `latest`, `best` or a step.
    checkpoint: Option<String>,
    /// Nearest-neighbour enlargement.
    #[serde(default = "one")]
    scale: u32,
    /// Also each image as its own PNG.
    #[serde(default)]
    individual: bool,
}

fn default_n() -> usize {
    16
}

fn one() -> u32 {
    1
}

/// Draws images; JSON with the grid as base64 PNG (and each image with `individual`), or the
/// grid's PNG itself for `Accept: image/png`; the seed in both (`X-Seed`).
pub async fn images(State(state): State<AppState>, name: Result<UrlPath<String>, PathRejection>, headers: HeaderMap, ApiJson(body): ApiJson<ImagesBody>) -> ApiResult<Response> {
    let name = param(name)?;
    let run = state.run(&name)?;
    bounded("n", body.n, limits::IMAGES)?;
    if body.scale == 0 || body.scale > limits::SCALE {
        return Err(ApiError::bad("scale", format!("must be between 1 and {}, got {}", limits::SCALE, body.scale)));
    }
    if let Some(steps) = body.sample_steps {
        bounded("sample_steps", steps, limits::SAMPLE_STEPS)?;
    }
    if body.interpolate && body.strip {
        return Err(ApiError::bad("strip", "choose interpolate or strip, not both"));
    }
    let checkpoint = CheckpointChoice::parse(body.checkpoint.as_deref().unwrap_or("latest")).map_err(|e| state.error(e))?;
    let request = ImagesRequest {
        run,
        n: body.n,
        seed: seed(body.seed)?,
        class: body.class,
        interpolate: body.interpolate,
        strip: body.strip,
        checkpoint,
        sampler: SamplerSettings { sampler: body.sampler, sample_steps: body.sample_steps, eta: body.eta, guidance: body.guidance, progress: false, control: None },
    };
    let (scale, individual, png_only) = (body.scale, body.individual, accepts(&headers, "image/png"));
    let device = state.device();
    let errors = state.clone();
    let mut request = request;
    let (images, position) = state
        .compute(&name, move |control| {
            // A diffusion sampler stops when the client goes away.
            request.sampler.control = Some(control.clone());
            draw(&request, &device).map_err(|e| errors.error(e))
        })
        .await?;
    let seed_header = (HeaderName::from_static("x-seed"), HeaderValue::from(images.seed));
    if png_only {
        return Ok(([(header::CONTENT_TYPE, HeaderValue::from_static("image/png")), seed_header, queue_header(position)], images.grid_png_scaled(scale)).into_response());
    }
    let gif = images.animation_gif().map_err(|e| state.error(e))?;
    let body = json!({
        "seed": images.seed,
        "step": images.step,
        "n": images.count(),
        "cols": images.cols,
        "width": images.shape.width * scale as usize,
        "height": images.shape.height * scale as usize,
        "channels": images.shape.channels,
        "grid": base64(&images.grid_png_scaled(scale)),
        "images": individual.then(|| images.pngs(scale).iter().map(|p| base64(p)).collect::<Vec<_>>()),
        "animation": gif.map(|g| base64(&g)),
        "queue_position": position,
    });
    Ok(([seed_header, queue_header(position)], Json(body)).into_response())
}
