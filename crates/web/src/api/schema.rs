//! The workspace, its contact attribute schema and its entity types.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde_json::Value;
use swell_core::FieldError;
use swell_core::schema::FieldDef;

use super::{Params, json_body, json_object};
use crate::auth::Auth;
use crate::{ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/workspace", get(workspace).patch(update_workspace))
        .route(
            "/attributes",
            get(attributes).put(replace_attributes).post(add_attribute),
        )
        .route("/attributes/{key}", delete(delete_attribute))
        .route("/entity-types", get(entity_types))
        .route(
            "/entity-types/{name}",
            get(entity_type).put(put_entity_type),
        )
        .route("/changes", get(changes))
}

async fn workspace(auth: Auth) -> impl IntoResponse {
    Json(auth.0)
}

async fn update_workspace(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let obj = json_object(&headers, &body)?;
    let mut errors = Vec::new();
    let mut tz = None;
    let mut locale = None;
    for (k, v) in &obj {
        match (k.as_str(), v.as_str()) {
            ("timezone", Some(s)) => match swell_core::time::parse_timezone(s) {
                Ok(z) => tz = Some(z),
                Err(e) => errors.push(FieldError::new(k, e)),
            },
            ("locale", Some(s)) => match swell_core::contact::parse_locale(s) {
                Ok(l) => locale = Some(l),
                Err(e) => errors.push(FieldError::new(k, e)),
            },
            ("timezone" | "locale", None) => errors.push(FieldError::new(k, "must be text")),
            _ => errors.push(FieldError::new(k, "unknown field (timezone, locale)")),
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::invalid(errors[0].to_string(), errors));
    }
    Ok(Json(
        state
            .store
            .update_workspace(auth.0.id, tz.as_deref(), locale.as_deref())
            .await?,
    ))
}

fn parse_fields(v: &Value, at: &str) -> Result<Vec<FieldDef>, ApiError> {
    let Value::Array(items) = v else {
        return Err(ApiError::field(at, "expected a list of field definitions"));
    };
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for (i, item) in items.iter().enumerate() {
        match serde_json::from_value::<FieldDef>(item.clone()) {
            Ok(f) => out.push(f),
            Err(e) => errors.push(FieldError::new(
                format!("{at}[{i}]"),
                format!("{e} (a field is {{\"key\": \"tier\", \"type\": \"text|number|bool|date|datetime|enum|list\"}}; enums add \"values\")"),
            )),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(ApiError::invalid(errors[0].to_string(), errors))
    }
}

async fn attributes(
    State(state): State<AppState>,
    auth: Auth,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(state.store.contact_schema(auth.0.id).await?.fields))
}

/// Replaces the whole attribute schema with the list given.
async fn replace_attributes(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let fields = parse_fields(&json_body(&headers, &body)?, "")?;
    Ok(Json(
        state
            .store
            .put_entity_type(auth.0.id, "contact", None, fields)
            .await?
            .fields,
    ))
}

/// Adds one attribute, or replaces the one with the same key.
async fn add_attribute(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let body = json_body(&headers, &body)?;
    let field = parse_fields(&Value::Array(vec![body]), "")?.remove(0);
    let mut fields = state.store.contact_schema(auth.0.id).await?.fields;
    fields.retain(|f| f.key != field.key);
    fields.push(field.clone());
    state
        .store
        .put_entity_type(auth.0.id, "contact", None, fields)
        .await?;
    Ok((StatusCode::CREATED, Json(field)))
}

async fn delete_attribute(
    State(state): State<AppState>,
    auth: Auth,
    Path(key): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let mut fields = state.store.contact_schema(auth.0.id).await?.fields;
    let before = fields.len();
    fields.retain(|f| f.key != key);
    if fields.len() == before {
        return Err(ApiError::NotFound(format!("no attribute '{key}'")));
    }
    state
        .store
        .put_entity_type(auth.0.id, "contact", None, fields)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn entity_types(
    State(state): State<AppState>,
    auth: Auth,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(state.store.list_entity_types(auth.0.id).await?))
}

async fn entity_type(
    State(state): State<AppState>,
    auth: Auth,
    Path(name): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let all = state.store.list_entity_types(auth.0.id).await?;
    all.into_iter()
        .find(|t| t.name == name)
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("unknown entity type '{name}'")))
}

/// Defines a type (or the extra fields of a built-in one):
/// `{"label": "Subscription", "fields": [{"key": "plan", "type": "text"}]}`.
async fn put_entity_type(
    State(state): State<AppState>,
    auth: Auth,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let obj = json_object(&headers, &body)?;
    if let Some(k) = obj
        .keys()
        .find(|k| !["label", "fields"].contains(&k.as_str()))
    {
        return Err(ApiError::field(k.clone(), "unknown field (label, fields)"));
    }
    let label = match obj.get("label") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(ApiError::field("label", "must be text")),
    };
    let fields = parse_fields(obj.get("fields").unwrap_or(&Value::Array(vec![])), "fields")?;
    Ok(Json(
        state
            .store
            .put_entity_type(auth.0.id, &name, label.as_deref(), fields)
            .await?,
    ))
}

async fn changes(
    State(state): State<AppState>,
    auth: Auth,
    uri: Uri,
) -> Result<impl IntoResponse, ApiError> {
    let p = Params::from_uri(&uri);
    let page = state
        .store
        .list_changes(
            auth.0.id,
            p.get("entity"),
            p.int("record_id")?,
            p.cursor()?,
            p.limit()?,
        )
        .await?;
    Ok(Json(page))
}
