//! API authentication: `Authorization: Bearer KEY` opens one workspace; so
//! does the web app's session cookie, for the app's own scripts (with the
//! session's CSRF token in `X-CSRF-Token` on anything but GET and HEAD).
//!
//! A key may act as a user, and a session always does: then the user's
//! role decides what the request may do. Three extractors say what a
//! handler needs: [`Caller`] (anyone, with who they are: the leads routes,
//! which scope a sales rep to their own leads), [`Auth`] (the workspace as
//! a marketer sees it: every other route; a sales rep gets 403) and
//! [`AdminAuth`] (users; admins and keys without a user).

use axum::extract::FromRequestParts;
use axum::http::Method;
use axum::http::request::Parts;
use swell_core::role::Role;
use swell_store::Workspace;
use swell_store::leads::Actor;

use crate::{ApiError, AppState};

/// The workspace the request's key opens, for a caller who may see all of
/// it (a key without a user, a marketer or an admin). Every workspace-wide
/// API handler takes one, so every query it makes is scoped to it.
pub struct Auth(pub Workspace);

/// Any authenticated caller, and who they act as.
pub struct Caller {
    pub workspace: Workspace,
    pub actor: Actor,
}

/// A caller who may manage users: an admin, or a key without a user.
pub struct AdminAuth(pub Workspace);

impl Caller {
    /// Refuses a caller whose role is below `need` (a key without a user
    /// acts as the workspace and may do anything).
    pub fn require(&self, need: crate::ui::Need) -> Result<(), ApiError> {
        match self.actor.role {
            Some(role) if !need.allows(role) => Err(ApiError::Forbidden(format!(
                "a {} may not do this",
                role.as_str()
            ))),
            _ => Ok(()),
        }
    }
}

impl FromRequestParts<AppState> for Caller {
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
            return session_caller(parts).await;
        };
        let key = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .ok_or(ApiError::Unauthorized)?;
        match state.store.authenticate_key(key).await? {
            Some(access) => Ok(Caller {
                workspace: access.workspace,
                actor: match access.user {
                    Some((id, role)) => Actor::user(id, role),
                    None => Actor::WORKSPACE,
                },
            }),
            None => Err(ApiError::Unauthorized),
        }
    }
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let caller = Caller::from_request_parts(parts, state).await?;
        caller.require(crate::ui::Need::Marketer)?;
        Ok(Auth(caller.workspace))
    }
}

impl FromRequestParts<AppState> for AdminAuth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let caller = Caller::from_request_parts(parts, state).await?;
        caller.require(crate::ui::Need::Admin)?;
        Ok(AdminAuth(caller.workspace))
    }
}

/// A request from the web app: its session, and the CSRF header when the
/// request changes something.
async fn session_caller(parts: &Parts) -> Result<Caller, ApiError> {
    let session = crate::ui::api_session(parts)
        .await
        .ok_or(ApiError::Unauthorized)?;
    if !matches!(parts.method, Method::GET | Method::HEAD) && !session.csrf_ok {
        return Err(ApiError::Unauthorized);
    }
    let role: Role = session.ctx.role;
    Ok(Caller {
        workspace: session.ctx.user.workspace.clone(),
        actor: Actor::user(session.ctx.user.user_id, role),
    })
}
