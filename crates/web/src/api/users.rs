//! `/users`: the people of the workspace (admins only), and what the
//! assignment rules read of a sales rep.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Map, Value, json};
use swell_core::hours::WorkingHours;
use swell_core::role::Role;
use swell_core::{Email, Phone};
use swell_store::users::UserInput;

use super::{given, json_object, only_keys, patch, path_id};
use crate::auth::AdminAuth;
use crate::{ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/users", get(list).post(create))
        .route("/users/{id}", get(read).patch(update).delete(remove))
}

const FIELDS: &[&str] = &[
    "name",
    "email",
    "phone",
    "role",
    "active",
    "working_hours",
    "regions",
    "products",
    "lead_cap",
    "password",
];

fn text_list(v: &Value) -> Option<Vec<String>> {
    v.as_array()?
        .iter()
        .map(|s| {
            s.as_str()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
        })
        .collect()
}

fn input(obj: &Map<String, Value>, phone_region: &str) -> Result<UserInput, ApiError> {
    only_keys(obj, FIELDS, "")?;
    let email = match obj.get("email") {
        None => None,
        Some(Value::String(s)) => Some(Email::parse(s).map_err(|e| ApiError::field("email", e))?),
        Some(_) => return Err(ApiError::field("email", "must be text")),
    };
    let password_hash = match obj.get("password") {
        None | Some(Value::Null) => None,
        Some(Value::String(p)) => {
            swell_store::access::check_password(p).map_err(|e| ApiError::field("password", e))?;
            Some(swell_store::access::hash_password(p))
        }
        Some(_) => return Err(ApiError::field("password", "must be text")),
    };
    Ok(UserInput {
        name: given(obj, "name", |v| v.as_str().map(str::to_string), "text")?,
        email,
        phone: patch(obj, "phone", |v| {
            Phone::parse(v.as_str().ok_or("must be text")?, phone_region)
        })?,
        role: given(
            obj,
            "role",
            |v| v.as_str().and_then(Role::parse),
            "admin, marketer or sales",
        )?,
        active: given(obj, "active", Value::as_bool, "true or false")?,
        working_hours: patch(obj, "working_hours", WorkingHours::from_json)?,
        regions: given(obj, "regions", text_list, "a list of text")?,
        products: given(obj, "products", text_list, "a list of text")?,
        lead_cap: patch(obj, "lead_cap", |v| {
            v.as_i64().ok_or_else(|| "must be a whole number".into())
        })?,
        password_hash,
    })
}

async fn list(
    State(state): State<AppState>,
    auth: AdminAuth,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(json!({"items": state.store.users(auth.0.id).await?})))
}

async fn create(
    State(state): State<AppState>,
    auth: AdminAuth,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let input = input(&json_object(&headers, &body)?, &auth.0.phone_region)?;
    let user = state.store.write_user(auth.0.id, None, &input).await?;
    Ok((StatusCode::CREATED, Json(user)))
}

async fn read(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(state.store.user(auth.0.id, path_id(&id)?).await?))
}

async fn update(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let id = path_id(&id)?;
    let input = input(&json_object(&headers, &body)?, &auth.0.phone_region)?;
    Ok(Json(
        state.store.write_user(auth.0.id, Some(id), &input).await?,
    ))
}

async fn remove(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    state.store.delete_user(auth.0.id, path_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}
