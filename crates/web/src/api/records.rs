//! `/records/{type}`: orders, companies, leads and workspace-defined types.

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use swell_core::entity::EntityType;
use swell_core::record::RecordInput;
use swell_store::contacts::Outcome;
use swell_store::import::ImportOptions;
use swell_store::records::{RecordQuery, RecordWrite};
use swell_store::workspaces::Workspace;

use super::{Params, body_reader, json_object, path_id, require_csv, single_write};
use crate::auth::Auth;
use crate::{ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/records/{type}", post(upsert).get(list))
        .route("/records/{type}/import", post(import))
        .route(
            "/records/{type}/{id}",
            get(read).patch(update).delete(remove),
        )
}

/// The type named in the path; contacts have their own endpoints.
async fn entity_type(state: &AppState, ws: &Workspace, name: &str) -> Result<EntityType, ApiError> {
    if name == "contact" {
        return Err(ApiError::NotFound(
            "contacts live at /api/v1/contacts".into(),
        ));
    }
    state.store.entity_type(ws.id, name).await?.ok_or_else(|| {
        ApiError::NotFound(format!(
            "unknown entity type '{name}' (define it at /api/v1/entity-types/{name})"
        ))
    })
}

async fn write(
    state: &AppState,
    ws: &Workspace,
    ty: &EntityType,
    id: Option<i64>,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<(Outcome, i64), ApiError> {
    let obj = json_object(headers, body)?;
    let input = RecordInput::from_json(ty, &obj, &ws.phone_region)
        .map_err(|errs| ApiError::invalid(errs[0].to_string(), errs))?;
    let results = state
        .store
        .write_records(ws.id, ty, &[RecordWrite { id, input }], false)
        .await?;
    single_write(results, "record")
}

/// Creates a record, or updates the one with the same `external_id`.
async fn upsert(
    State(state): State<AppState>,
    auth: Auth,
    Path(ty): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let ty = entity_type(&state, &auth.0, &ty).await?;
    let (outcome, id) = write(&state, &auth.0, &ty, None, &headers, &body).await?;
    let rec = state.store.record(auth.0.id, &ty, id).await?;
    let status = if outcome == Outcome::Created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(rec.to_json())))
}

async fn update(
    State(state): State<AppState>,
    auth: Auth,
    Path((ty, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let ty = entity_type(&state, &auth.0, &ty).await?;
    let id = path_id(&id)?;
    let (_, id) = write(&state, &auth.0, &ty, Some(id), &headers, &body).await?;
    Ok(Json(
        state.store.record(auth.0.id, &ty, id).await?.to_json(),
    ))
}

async fn read(
    State(state): State<AppState>,
    auth: Auth,
    Path((ty, id)): Path<(String, String)>,
) -> Result<impl IntoResponse, ApiError> {
    let ty = entity_type(&state, &auth.0, &ty).await?;
    Ok(Json(
        state
            .store
            .record(auth.0.id, &ty, path_id(&id)?)
            .await?
            .to_json(),
    ))
}

async fn remove(
    State(state): State<AppState>,
    auth: Auth,
    Path((ty, id)): Path<(String, String)>,
) -> Result<impl IntoResponse, ApiError> {
    let ty = entity_type(&state, &auth.0, &ty).await?;
    state
        .store
        .delete_record(auth.0.id, &ty, path_id(&id)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list(
    State(state): State<AppState>,
    auth: Auth,
    Path(ty): Path<String>,
    uri: Uri,
) -> Result<impl IntoResponse, ApiError> {
    let ty = entity_type(&state, &auth.0, &ty).await?;
    let p = Params::from_uri(&uri);
    let query = RecordQuery {
        contact_id: p.int("contact_id")?,
        cursor: p.cursor()?,
        limit: p.limit()?,
    };
    let page = state.store.list_records(auth.0.id, &ty, &query).await?;
    Ok(Json(serde_json::json!({
        "items": page.items.iter().map(|r| r.to_json()).collect::<Vec<_>>(),
        "next_cursor": page.next_cursor,
    })))
}

async fn import(
    State(state): State<AppState>,
    auth: Auth,
    Path(ty): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<impl IntoResponse, ApiError> {
    let ty = entity_type(&state, &auth.0, &ty).await?;
    require_csv(&headers)?;
    let p = Params::from_uri(&uri);
    let opts = ImportOptions {
        dry_run: p.flag("dry_run")?,
        ..Default::default()
    };
    let report = state
        .store
        .import_records(auth.0.id, &ty, body_reader(body), opts, |_| {})
        .await?;
    Ok(Json(report))
}
