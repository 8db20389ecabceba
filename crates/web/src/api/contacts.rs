//! `/contacts`: upsert, read, update, delete, search, import.

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use swell_core::contact::{ContactInput, ParseContext};
use swell_store::contacts::{ContactQuery, ContactWrite, Outcome, Target};
use swell_store::events::EventQuery;
use swell_store::import::ImportOptions;

use super::{Params, body_reader, json_object, path_id, require_csv, single_write};
use crate::auth::Auth;
use crate::{ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/contacts", post(upsert).get(list))
        .route("/contacts/import", post(import))
        .route("/contacts/{id}", get(read).patch(update).delete(remove))
        .route("/contacts/{id}/changes", get(changes))
        .route("/contacts/{id}/events", get(events))
}

async fn write(
    state: &AppState,
    auth: &Auth,
    target: Target,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<(Outcome, i64), ApiError> {
    let ws = &auth.0;
    let obj = json_object(headers, body)?;
    let schema = state.store.contact_schema(ws.id).await?;
    let cx = ParseContext {
        schema: &schema,
        phone_region: &ws.phone_region,
    };
    let input = ContactInput::from_json(&obj, &cx)
        .map_err(|errs| ApiError::invalid(errs[0].to_string(), errs))?;
    if target == Target::Upsert && input == ContactInput::default() {
        return Err(ApiError::field("", "the contact has no fields"));
    }
    let results = state
        .store
        .write_contacts(ws.id, &[ContactWrite { target, input }], false)
        .await?;
    single_write(results, "contact")
}

/// Creates a contact, or updates the one with the same external id, email
/// or phone (in that order). 201 when created, 200 otherwise.
async fn upsert(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let (outcome, id) = write(&state, &auth, Target::Upsert, &headers, &body).await?;
    let contact = state.store.contact(auth.0.id, id).await?;
    let status = if outcome == Outcome::Created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(contact)))
}

async fn update(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let id = path_id(&id)?;
    let (_, id) = write(&state, &auth, Target::Id(id), &headers, &body).await?;
    Ok(Json(state.store.contact(auth.0.id, id).await?))
}

async fn read(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(state.store.contact(auth.0.id, path_id(&id)?).await?))
}

async fn remove(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    state.store.delete_contact(auth.0.id, path_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list(
    State(state): State<AppState>,
    auth: Auth,
    uri: Uri,
) -> Result<impl IntoResponse, ApiError> {
    let p = Params::from_uri(&uri);
    let query = ContactQuery {
        q: p.get("q").map(str::to_string),
        tag: p.get("tag").map(str::to_string),
        cursor: p.cursor()?,
        limit: p.limit()?,
    };
    Ok(Json(state.store.list_contacts(auth.0.id, &query).await?))
}

async fn changes(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    uri: Uri,
) -> Result<impl IntoResponse, ApiError> {
    let id = path_id(&id)?;
    let p = Params::from_uri(&uri);
    state
        .store
        .contact(auth.0.id, id)
        .await
        .or_else(|e| match e {
            // A deleted contact's history stays readable.
            swell_store::StoreError::NotFound => Ok(swell_core::contact::Contact::blank("UTC", 0)),
            e => Err(e),
        })?;
    Ok(Json(
        state
            .store
            .list_changes(
                auth.0.id,
                Some("contact"),
                Some(id),
                p.cursor()?,
                p.limit()?,
            )
            .await?,
    ))
}

async fn events(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    uri: Uri,
) -> Result<impl IntoResponse, ApiError> {
    let id = path_id(&id)?;
    state.store.contact(auth.0.id, id).await?;
    let p = Params::from_uri(&uri);
    let query = EventQuery {
        contact_id: Some(id),
        name: p.get("event").map(str::to_string),
        since: super::events::since(&p)?,
        cursor: p.cursor()?,
        limit: p.limit()?,
    };
    Ok(Json(state.store.list_events(auth.0.id, &query).await?))
}

/// Imports a CSV body; `?dry_run=true` checks and counts without keeping.
async fn import(
    State(state): State<AppState>,
    auth: Auth,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<impl IntoResponse, ApiError> {
    require_csv(&headers)?;
    let p = Params::from_uri(&uri);
    let opts = ImportOptions {
        dry_run: p.flag("dry_run")?,
        ..Default::default()
    };
    let report = state
        .store
        .import_contacts(auth.0.id, body_reader(body), opts, |_| {})
        .await?;
    Ok(Json(report))
}
