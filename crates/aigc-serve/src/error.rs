//! The API's errors: a status and a JSON body `{"error": "...", "field": "..."}` naming the
//! request field at fault, made from the library's errors (which name config and request
//! fields) or from the server's own checks.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use aigc::AigcError;

#[derive(Debug, Clone, Serialize)]
pub struct ApiError {
    #[serde(skip)]
    pub status: StatusCode,
    pub error: String,
    /// The request field (or `body`, `run`, `queue`) the error is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// A queued job's place when the queue was full.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue_length: Option<usize>,
}

pub type ApiResult<T> = std::result::Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, field: impl Into<String>, error: impl Into<String>) -> Self {
        Self { status, error: error.into(), field: Some(field.into()), queue_length: None }
    }

    /// The error with the library's name `from` of a field given as the API's `to`.
    pub fn renamed(mut self, from: &str, to: &str) -> Self {
        if self.field.as_deref() == Some(from) {
            self.field = Some(to.to_string());
            self.error = self.error.replacen(&format!("{from}: "), &format!("{to}: "), 1);
        }
        self
    }

    /// 400: a bad value of request field `field`.
    pub fn bad(field: &str, error: impl std::fmt::Display) -> Self {
        Self::new(StatusCode::BAD_REQUEST, field, format!("{field}: {error}"))
    }

    pub fn not_found(field: &str, error: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, field, error)
    }

    /// 500 for what the client cannot fix (a compute task that failed to finish).
    pub fn internal(error: impl Into<String>) -> Self {
        Self { status: StatusCode::INTERNAL_SERVER_ERROR, error: error.into(), field: None, queue_length: None }
    }

    /// A library error, with server paths shown relative to the runs folder.
    pub fn from_aigc(e: AigcError, runs: &std::path::Path) -> Self {
        let status = match &e {
            AigcError::Invalid { .. } | AigcError::BadData { .. } | AigcError::Unsupported { .. } => StatusCode::BAD_REQUEST,
            AigcError::Missing { .. } => StatusCode::NOT_FOUND,
            AigcError::Diverged { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            // The client went away (nginx's "client closed request"); nobody reads this.
            AigcError::Cancelled { .. } => StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let field = match &e {
            AigcError::Invalid { field, .. } => Some(field.clone()),
            AigcError::Unsupported { .. } => Some("run".to_string()),
            // Uploads are named after their request field.
            AigcError::BadData { path, .. } if path.components().count() == 1 && !path.is_absolute() => Some(path.display().to_string()),
            _ => None,
        };
        Self { status, error: relative(&e.to_string(), runs), field, queue_length: None }
    }
}

/// `text` with the server's runs folder left out of the paths in it (clients know runs by name).
pub fn relative(text: &str, runs: &std::path::Path) -> String {
    let root = runs.display().to_string();
    if root.is_empty() {
        return text.to_string();
    }
    text.replace(&format!("{root}/"), "").replace(&root, "<runs>")
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(&self)).into_response()
    }
}
