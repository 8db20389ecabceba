//! `/smtp-servers`: the workspace's own SMTP relays (admins only). Without
//! any, its messages go through the server's relays or to the outbox.
//! Passwords go in and never come back out.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, patch};
use axum::{Json, Router};
use serde_json::json;
use swell_store::smtp::SmtpServerInput;

use super::{json_object, path_id};
use crate::auth::AdminAuth;
use crate::{ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/smtp-servers", get(list).post(create))
        .route("/smtp-servers/{id}", patch(update).delete(remove))
}

fn input(headers: &HeaderMap, body: &Bytes) -> Result<SmtpServerInput, ApiError> {
    SmtpServerInput::from_json(&json_object(headers, body)?).map_err(ApiError::from_field)
}

async fn list(
    State(state): State<AppState>,
    auth: AdminAuth,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(
        json!({"items": state.store.smtp_servers(auth.0.id).await?}),
    ))
}

async fn create(
    State(state): State<AppState>,
    auth: AdminAuth,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let input = input(&headers, &body)?;
    let server = state
        .store
        .write_smtp_server(auth.0.id, None, &input)
        .await?;
    state.mailer.forget_transport(auth.0.id);
    Ok((StatusCode::CREATED, Json(server)))
}

async fn update(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let id = path_id(&id)?;
    let input = input(&headers, &body)?;
    let server = state
        .store
        .write_smtp_server(auth.0.id, Some(id), &input)
        .await?;
    state.mailer.forget_transport(auth.0.id);
    Ok(Json(server))
}

async fn remove(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    state
        .store
        .delete_smtp_server(auth.0.id, path_id(&id)?)
        .await?;
    state.mailer.forget_transport(auth.0.id);
    Ok(StatusCode::NO_CONTENT)
}
