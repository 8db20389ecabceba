//! The one error type of the HTTP layer.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use swell_core::FieldError;
use swell_store::StoreError;

/// An error as a client sees it: a status, a stable code, a message, and
/// details (which field, which row). Internal causes are logged, never sent.
#[derive(Debug)]
pub enum ApiError {
    Unauthorized,
    /// Signed in, but the caller's role may not do this.
    Forbidden(String),
    NotFound(String),
    /// The request is well-formed but its content is wrong, field by field.
    Invalid(String, Vec<FieldError>),
    /// The body could not be read as what it claims to be.
    BadRequest(String),
    UnsupportedMediaType(String),
    Conflict(String),
    TooManyRequests(String),
    Internal(anyhow_like::Error),
}

/// A boxed cause for internal errors.
pub mod anyhow_like {
    pub type Error = Box<dyn std::error::Error + Send + Sync>;
}

impl ApiError {
    pub fn invalid(message: impl Into<String>, details: Vec<FieldError>) -> Self {
        ApiError::Invalid(message.into(), details)
    }

    pub fn field(field: impl Into<String>, reason: impl Into<String>) -> Self {
        let e = FieldError::new(field, reason);
        ApiError::Invalid(e.to_string(), vec![e])
    }

    pub fn from_field(e: FieldError) -> Self {
        ApiError::Invalid(e.to_string(), vec![e])
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ApiError::NotFound("not found".into()),
            StoreError::Conflict(m) => ApiError::Conflict(m),
            StoreError::Invalid(details) => {
                let message = details
                    .first()
                    .map(|d| d.to_string())
                    .unwrap_or_else(|| "invalid input".into());
                ApiError::Invalid(message, details)
            }
            StoreError::Backend(e) => ApiError::Internal(Box::new(e)),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, message, details) = match self {
            ApiError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "a valid API key is required: Authorization: Bearer KEY".to_string(),
                vec![],
            ),
            ApiError::Forbidden(m) => (StatusCode::FORBIDDEN, "forbidden", m, vec![]),
            ApiError::NotFound(m) => (StatusCode::NOT_FOUND, "not_found", m, vec![]),
            ApiError::Invalid(m, d) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid", m, d),
            ApiError::BadRequest(m) => (StatusCode::BAD_REQUEST, "bad_request", m, vec![]),
            ApiError::UnsupportedMediaType(m) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                m,
                vec![],
            ),
            ApiError::Conflict(m) => (StatusCode::CONFLICT, "conflict", m, vec![]),
            ApiError::TooManyRequests(m) => (
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_requests",
                m,
                vec![],
            ),
            ApiError::Internal(cause) => {
                tracing::error!(error = %cause, "internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "something went wrong on our side".to_string(),
                    vec![],
                )
            }
        };
        let body = json!({"error": {"code": code, "message": message, "details": details}});
        (status, axum::Json(body)).into_response()
    }
}
