//! Inbound webhooks: `POST /hooks/{secret}` lets the JSON body's record
//! into the campaign the secret belongs to. The secret in the URL is the
//! credential (stored hashed); a campaign may also require the body to be
//! signed (`X-Swell-Timestamp`, `X-Swell-Signature: sha256=...`).

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::json;
use swell_engine::automation::HookError;

use crate::{ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new().route("/hooks/{secret}", post(hook))
}

async fn hook(
    State(state): State<AppState>,
    Path(secret): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let signature = match (header("x-swell-timestamp"), header("x-swell-signature")) {
        (Some(t), Some(s)) => Some((t, s)),
        _ => None,
    };
    match state.automation.hook(&secret, signature, &body).await {
        Ok(outcome) => (StatusCode::ACCEPTED, axum::Json(json!(outcome))).into_response(),
        Err(HookError::NotFound) => ApiError::NotFound("no such webhook".into()).into_response(),
        Err(HookError::NotRunning) => {
            ApiError::Conflict("the campaign is not running".into()).into_response()
        }
        Err(HookError::BadSignature) => ApiError::Unauthorized.into_response(),
        Err(HookError::Invalid(m)) => ApiError::BadRequest(m).into_response(),
        Err(HookError::Fields(errs)) => ApiError::invalid(
            errs.first().map(|e| e.to_string()).unwrap_or_default(),
            errs,
        )
        .into_response(),
        Err(HookError::Engine(e)) => ApiError::from(e).into_response(),
    }
}
