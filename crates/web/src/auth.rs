//! API keys: `Authorization: Bearer KEY` opens one workspace.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use swell_store::Workspace;

use crate::{ApiError, AppState};

/// The workspace the request's key opens. Every API handler takes one, so
/// every query it makes is scoped to that workspace.
pub struct Auth(pub Workspace);

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let key = header
            .and_then(|h| {
                h.strip_prefix("Bearer ")
                    .or_else(|| h.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .ok_or(ApiError::Unauthorized)?;
        match state.store.authenticate(key).await? {
            Some(ws) => Ok(Auth(ws)),
            None => Err(ApiError::Unauthorized),
        }
    }
}
