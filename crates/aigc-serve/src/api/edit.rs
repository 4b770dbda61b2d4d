//! Editing pictures: repairing an image with a run that inpaints, and style transfer. Both take
//! a multipart upload (`curl -F image=@photo.png`) or JSON with the images base64-encoded.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequest, Multipart, Path as UrlPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;

use aigc::apps::inpaint::InpaintSettings;
use aigc::job::JobControl;
use aigc::apps::style::{EMBEDDED_PICTURES, StyleSettings, is_embedded_picture};
use aigc::service::inpaint::{InpaintImage, InpaintMask, InpaintRequest, heldout_png, inpaint as repair};
use aigc::service::style::{Picture, StyleFeatures, StyleRequest, style as restyle};

use super::{accepts, base64, param, queue_header};
use crate::{ApiError, ApiResult, AppState, bounded, limits, parse_json, seed};

/// A form's values: text fields and files, from either body kind.
struct Form {
    text: BTreeMap<String, String>,
    files: BTreeMap<String, Vec<u8>>,
}

/// Longest text field of a form.
const TEXT_FIELD_BYTES: usize = 1024;

impl Form {
    /// Reads a multipart or JSON body, refusing fields not in `text_fields` or `file_fields`.
    async fn read(request: Request, state: &AppState, text_fields: &[&str], file_fields: &[&str]) -> ApiResult<Self> {
        let kind = request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        let mut form = Form { text: BTreeMap::new(), files: BTreeMap::new() };
        let unknown = |name: &str| {
            let mut known: Vec<&str> = text_fields.iter().chain(file_fields).copied().collect();
            known.sort();
            ApiError::bad(name, format!("unknown field; expected one of {}", known.join(", ")))
        };
        if kind.starts_with("multipart/form-data") {
            let mut multipart = Multipart::from_request(request, state).await.map_err(|e| ApiError::new(e.status(), "body", e.body_text()))?;
            while let Some(field) = multipart.next_field().await.map_err(|e| ApiError::new(e.status(), "body", e.body_text()))? {
                let name = field.name().unwrap_or("").to_string();
                let is_file = file_fields.contains(&name.as_str());
                if !is_file && !text_fields.contains(&name.as_str()) {
                    return Err(unknown(&name));
                }
                let bytes = field.bytes().await.map_err(|e| ApiError::new(e.status(), &name, format!("{name}: {}", e.body_text())))?;
                if is_file {
                    form.files.insert(name, bytes.to_vec());
                } else {
                    if bytes.len() > TEXT_FIELD_BYTES {
                        return Err(ApiError::bad(&name, format!("at most {TEXT_FIELD_BYTES} bytes")));
                    }
                    let text = String::from_utf8(bytes.to_vec()).map_err(|_| ApiError::bad(&name, "not UTF-8 text"))?;
                    form.text.insert(name, text);
                }
            }
            return Ok(form);
        }
        if !kind.is_empty() && !kind.starts_with("application/json") && !kind.starts_with("application/x-www-form-urlencoded") {
            return Err(ApiError::new(axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE, "content-type", format!("expected multipart/form-data or application/json, got {kind:?}")));
        }
        let bytes = axum::body::Bytes::from_request(request, state).await.map_err(|e| ApiError::new(e.status(), "body", e.body_text()))?;
        // JSON with images inside is larger than other JSON bodies: the upload bound applies.
        let value: serde_json::Map<String, Value> = if bytes.len() > limits::JSON_BYTES {
            let mut de = serde_json::Deserializer::from_slice(&bytes);
            serde_path_to_error::deserialize(&mut de).map_err(|e| ApiError::bad("body", e.inner()))?
        } else {
            parse_json(&bytes)?
        };
        for (name, v) in value {
            if file_fields.contains(&name.as_str()) {
                let text = v.as_str().ok_or_else(|| ApiError::bad(&name, "expected an image as a base64 string"))?;
                let data = base64::engine::general_purpose::STANDARD.decode(text.trim()).map_err(|e| ApiError::bad(&name, format!("not base64: {e}")))?;
                form.files.insert(name, data);
            } else if text_fields.contains(&name.as_str()) {
                let text = match v {
                    Value::String(s) => s,
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    Value::Null => continue,
                    _ => return Err(ApiError::bad(&name, "expected a string, number or boolean")),
                };
                form.text.insert(name, text);
            } else {
                return Err(unknown(&name));
            }
        }
        Ok(form)
    }

    fn text(&self, name: &str) -> Option<&str> {
        self.text.get(name).map(String::as_str)
    }

    fn number<T: std::str::FromStr>(&self, name: &str, default: T) -> ApiResult<T>
    where
        T::Err: std::fmt::Display,
    {
        match self.text(name) {
            None => Ok(default),
            Some(s) => s.trim().parse().map_err(|e| ApiError::bad(name, format!("{s:?}: {e}"))),
        }
    }

    fn optional<T: std::str::FromStr>(&self, name: &str) -> ApiResult<Option<T>>
    where
        T::Err: std::fmt::Display,
    {
        self.text(name).map(|s| s.trim().parse().map_err(|e| ApiError::bad(name, format!("{s:?}: {e}")))).transpose()
    }

    fn seed(&self) -> ApiResult<u64> {
        seed(self.optional("seed")?)
    }
}

/// `POST /api/runs/{name}/inpaint`: fields `image` (a file) or `heldout` (a held-out image's
/// number); `mask` (a file, white where the hole is), `rect` (`x,y,w,h`) or neither (the centre
/// square); `samples`, `steps`, `sample_steps`, `seed`, `method`.
pub async fn inpaint(State(state): State<AppState>, name: Result<UrlPath<String>, PathRejection>, headers: HeaderMap, request: Request) -> ApiResult<Response> {
    let name = param(name)?;
    let run = state.run(&name)?;
    let form = Form::read(request, &state, &["heldout", "rect", "samples", "steps", "sample_steps", "seed", "method"], &["image", "mask"]).await?;
    let image = match (form.files.get("image"), form.optional::<usize>("heldout")?) {
        (Some(_), Some(_)) => return Err(ApiError::bad("heldout", "send an image or a held-out number, not both")),
        (Some(bytes), None) => InpaintImage::Encoded { bytes: bytes.clone(), name: PathBuf::from("image") },
        (None, Some(k)) => InpaintImage::Heldout(k),
        (None, None) => return Err(ApiError::bad("image", "send an image file (`image`) or a held-out image's number (`heldout`)")),
    };
    let mask = match (form.files.get("mask"), form.text("rect")) {
        (Some(_), Some(_)) => return Err(ApiError::bad("rect", "send a mask or a rectangle, not both")),
        (Some(bytes), None) => InpaintMask::Encoded { bytes: bytes.clone(), name: PathBuf::from("mask") },
        (None, Some(rect)) => InpaintMask::Rect(rect.to_string()),
        (None, None) => InpaintMask::Centre,
    };
    let samples = bounded("samples", form.number("samples", 4)?, limits::INPAINT_SAMPLES)?;
    let steps = bounded("steps", form.number("steps", 500)?, limits::INPAINT_STEPS)?;
    let sample_steps = form.optional::<usize>("sample_steps")?.map(|s| bounded("sample_steps", s, limits::SAMPLE_STEPS)).transpose()?;
    let seed = form.seed()?;
    let settings = InpaintSettings { steps, seed, quiet: true, sample_steps, ..InpaintSettings::default() };
    let request = InpaintRequest { run, image, mask, method: form.text("method").map(str::to_string), samples, settings };
    let (device, errors) = (state.device(), state.clone());
    let control = Arc::new(JobControl::default());
    let job = {
        let (state, control) = (state.clone(), control.clone());
        async move {
            state
                .compute_with(&name, control, move |control| {
                    let mut request = request;
                    request.settings.control = Some(control.clone());
                    let result = repair(&request, &device).map_err(|e| errors.error(e).renamed("mask_rect", "rect"))?;
                    let png = result.grid_png().map_err(|e| errors.error(e))?;
                    Ok((png, result.method, result.holes, result.columns, result.context_loss, result.shape))
                })
                .await
        }
    };
    let answer = move |((png, method, holes, columns, context_loss, shape), position): (Repaired, usize)| {
        json!({
            "grid": base64(&png),
            "columns": columns,
            "columns_are": "the masked input, the harmonic fill, then the completions",
            "width": shape.width,
            "height": shape.height,
            "method": method,
            "holes": holes,
            "context_loss": context_loss.map(|(before, after): (f64, f64)| json!({ "before": before, "after": after })),
            "seed": seed,
            "queue_position": position,
        })
    };
    if accepts(&headers, "text/event-stream") {
        // `progress` events (work done of the whole: optimisation or RePaint steps) while it
        // runs, then `done` with the answer; a client that goes away stops the job.
        let (tx, rx) = mpsc::channel::<Event>(16);
        tokio::spawn(async move {
            let mut job = std::pin::pin!(job);
            let mut last = (usize::MAX, 0);
            let result = loop {
                tokio::select! {
                    result = &mut job => break result,
                    _ = tokio::time::sleep(Duration::from_millis(200)) => {
                        let (done, total) = control.progress();
                        if (done, total) != last && total > 0 {
                            last = (done, total);
                            if tx.send(Event::default().event("progress").data(json!({ "done": done, "total": total }).to_string())).await.is_err() {
                                return;
                            }
                        }
                    }
                    _ = tx.closed() => return,
                }
            };
            let last = match result {
                Ok(repaired) => Event::default().event("done").data(answer(repaired).to_string()),
                Err(e) => Event::default().event("error").data(json!({ "error": e.error, "field": e.field }).to_string()),
            };
            let _ = tx.send(last).await;
        });
        return Ok(Sse::new(ReceiverStream::new(rx).map(Ok::<_, Infallible>)).into_response());
    }
    let repaired = job.await?;
    if accepts(&headers, "image/png") {
        let position = repaired.1;
        return Ok(([(header::CONTENT_TYPE, HeaderValue::from_static("image/png")), queue_header(position)], repaired.0.0).into_response());
    }
    Ok(Json(answer(repaired)).into_response())
}

/// A repaired image: the grid's PNG, the method, hole pixels, columns, context loss and shape.
type Repaired = (Vec<u8>, &'static str, usize, usize, Option<(f64, f64)>, aigc::data::ImageShape);

/// `GET /api/runs/{name}/heldout/{k}`: held-out image `k` of the run's data (JSON, base64 PNG),
/// to paint a mask over.
pub async fn heldout(State(state): State<AppState>, params: Result<UrlPath<(String, usize)>, PathRejection>) -> ApiResult<Json<Value>> {
    let (name, k) = param(params)?;
    let run = state.run(&name)?;
    let errors = state.clone();
    let (png, shape) = tokio::task::spawn_blocking(move || heldout_png(&run, k).map_err(|e| errors.error(e)))
        .await
        .map_err(|e| ApiError::internal(format!("the read failed: {e}")))??;
    Ok(Json(json!({ "index": k, "image": base64(&png), "width": shape.width, "height": shape.height, "channels": shape.channels })))
}

/// A picture field of a style request: an uploaded file `field`, or `{field}_name`, an embedded
/// picture's name (never a server path).
fn picture(form: &Form, field: &str) -> ApiResult<Option<Picture>> {
    let named = format!("{field}_name");
    match (form.files.get(field), form.text(&named)) {
        (Some(_), Some(_)) => Err(ApiError::bad(&named, format!("send `{field}` or `{named}`, not both"))),
        (Some(bytes), None) => Ok(Some(Picture::Encoded { bytes: bytes.clone(), name: PathBuf::from(field) })),
        (None, Some(n)) if is_embedded_picture(n) => Ok(Some(Picture::Named(n.to_string()))),
        (None, Some(n)) => Err(ApiError::bad(&named, format!("{n:?} is not an embedded picture ({EMBEDDED_PICTURES}); upload other images as `{field}`"))),
        (None, None) => Ok(None),
    }
}

/// `POST /api/style`: fields `style` (a file) or `style_name` (an embedded picture), optionally
/// `content` / `content_name` (without one: texture synthesis), `size`, `steps`,
/// `content_weight`, `style_weight`, `lr`, `seed`, `every`. With `Accept: text/event-stream`
/// the steps stream as `progress` events (with a snapshot every `every` steps), then `done`.
pub async fn style(State(state): State<AppState>, headers: HeaderMap, request: Request) -> ApiResult<Response> {
    let form = Form::read(
        request,
        &state,
        &["style_name", "content_name", "size", "steps", "content_weight", "style_weight", "lr", "seed", "every"],
        &["style", "content"],
    )
    .await?;
    let style = picture(&form, "style")?.ok_or_else(|| ApiError::bad("style", format!("send a style image (`style`) or an embedded picture's name (`style_name`: {EMBEDDED_PICTURES})")))?;
    let content = picture(&form, "content")?;
    let size = form.number("size", 256u32)?;
    if !(16..=limits::STYLE_SIZE).contains(&size) {
        return Err(ApiError::bad("size", format!("must be between 16 and {} pixels, got {size}", limits::STYLE_SIZE)));
    }
    let steps = bounded("steps", form.number("steps", 300)?, limits::STYLE_STEPS)?;
    let every = form.optional::<usize>("every")?.map(|e| bounded("every", e, limits::STYLE_STEPS)).transpose()?;
    let settings = StyleSettings { steps, content_weight: form.number("content_weight", 0.2)?, style_weight: form.number("style_weight", 1.0)?, lr: form.number("lr", 0.02)?, seed: form.seed()? };
    let seed = settings.seed;
    let request = StyleRequest { content, style, size, settings, features: StyleFeatures::Random, every };
    let (device, errors) = (state.device(), state.clone());
    let (tx, rx) = mpsc::channel::<Value>(16);
    let job = async move {
        state
            .compute("style", move |control| {
                restyle(&request, &device, |step, snapshot| {
                    // Progress is best effort: a full channel drops a step, never blocks the work.
                    let _ = tx.try_send(json!({ "step": step, "steps": steps, "image": snapshot.map(|png| base64(&png)) }));
                    if control.stop_requested() { std::ops::ControlFlow::Break(()) } else { std::ops::ControlFlow::Continue(()) }
                })
                .map_err(|e| errors.error(e))
            })
            .await
    };
    let done = move |styled: aigc::service::style::Styled, position: usize| json!({ "image": base64(&styled.png), "report": styled.report, "seed": seed, "queue_position": position });
    if !accepts(&headers, "text/event-stream") {
        let (styled, position) = job.await?;
        return Ok(Json(done(styled, position)).into_response());
    }
    // The events: progress as it comes, then the result (or the error). A client that goes
    // away drops the job, which stops it at its next step.
    let (out_tx, out_rx) = mpsc::channel::<Event>(16);
    tokio::spawn(async move {
        let mut rx = rx;
        let mut job = std::pin::pin!(job);
        let result = loop {
            tokio::select! {
                result = &mut job => break result,
                Some(p) = rx.recv() => {
                    if out_tx.send(Event::default().event("progress").data(p.to_string())).await.is_err() {
                        return;
                    }
                }
                _ = out_tx.closed() => return,
            }
        };
        while let Ok(p) = rx.try_recv() {
            let _ = out_tx.send(Event::default().event("progress").data(p.to_string())).await;
        }
        let last = match result {
            Ok((styled, position)) => Event::default().event("done").data(done(styled, position).to_string()),
            Err(e) => Event::default().event("error").data(json!({ "error": e.error, "field": e.field }).to_string()),
        };
        let _ = out_tx.send(last).await;
    });
    Ok(Sse::new(ReceiverStream::new(out_rx).map(Ok::<_, Infallible>)).into_response())
}
