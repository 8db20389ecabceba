//! API authentication: `Authorization: Bearer KEY` opens one workspace; so
//! does the web app's session cookie, for the app's own scripts (with the
//! session's CSRF token in `X-CSRF-Token` on anything but GET and HEAD).

use axum::extract::FromRequestParts;
use axum::http::Method;
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
        let Some(header) = header else {
            return session_auth(parts).await;
        };
        let key = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .ok_or(ApiError::Unauthorized)?;
        match state.store.authenticate(key).await? {
            Some(ws) => Ok(Auth(ws)),
            None => Err(ApiError::Unauthorized),
        }
    }
}

/// A request from the web app: its session, and the CSRF header when the
/// request changes something. The app's scripts call marketers' routes, so
/// a session must be a marketer's or an admin's.
async fn session_auth(parts: &Parts) -> Result<Auth, ApiError> {
    let session = crate::ui::api_session(parts)
        .await
        .ok_or(ApiError::Unauthorized)?;
    if !matches!(parts.method, Method::GET | Method::HEAD) && !session.csrf_ok {
        return Err(ApiError::Unauthorized);
    }
    if !crate::ui::Need::Marketer.allows(session.ctx.role) {
        return Err(ApiError::Unauthorized);
    }
    Ok(Auth(session.ctx.user.workspace.clone()))
}
