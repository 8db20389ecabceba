//! `/marketing-campaigns`: the umbrella over broadcasts, automated
//! campaigns and ad campaigns, and its roll-up report.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, put};
use axum::{Json, Router};
use serde_json::{Map, Value, json};
use swell_store::marketing::{CampaignCode, MarketingCampaignInput, Member};

use super::{json_object, only_keys, patch, path_id};
use crate::auth::Auth;
use crate::{ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/marketing-campaigns", get(list).post(create))
        .route(
            "/marketing-campaigns/{id}",
            get(read).patch(update).delete(remove),
        )
        .route("/marketing-campaigns/{id}/report", get(report))
        .route(
            "/marketing-campaigns/{id}/{kind}/{member_id}",
            put(attach_member).delete(detach_member),
        )
}

const FIELDS: &[&str] = &["name", "code", "starts_on", "ends_on", "budget", "owner_id"];

fn input(obj: &Map<String, Value>) -> Result<MarketingCampaignInput, ApiError> {
    only_keys(obj, FIELDS, "")?;
    let name = match obj.get("name") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(ApiError::field("name", "must be text")),
    };
    let code = match obj.get("code") {
        None => None,
        Some(Value::String(s)) => {
            Some(CampaignCode::parse(s).map_err(|e| ApiError::field("code", e))?)
        }
        Some(_) => return Err(ApiError::field("code", "must be text")),
    };
    let date = |v: &Value| {
        v.as_str()
            .ok_or_else(|| "must be a date (YYYY-MM-DD)".to_string())
            .and_then(swell_core::time::parse_date)
    };
    Ok(MarketingCampaignInput {
        name,
        code,
        starts_on: patch(obj, "starts_on", date)?,
        ends_on: patch(obj, "ends_on", date)?,
        budget: patch(obj, "budget", |v| {
            v.as_f64().ok_or_else(|| "must be a number".to_string())
        })?,
        owner_id: patch(obj, "owner_id", |v| {
            v.as_i64().ok_or_else(|| "must be a user id".to_string())
        })?,
    })
}

/// `marketing_campaign_id` of a broadcast or campaign body: a marketing
/// campaign of the workspace, checked before anything is written.
pub(crate) async fn member_of(
    state: &AppState,
    ws: swell_store::WorkspaceId,
    obj: &Map<String, Value>,
) -> Result<Option<i64>, ApiError> {
    const K: &str = "marketing_campaign_id";
    let Some(v) = obj.get(K).filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let id = v
        .as_i64()
        .ok_or_else(|| ApiError::field(K, "must be a marketing campaign id"))?;
    match state.store.marketing_campaign(ws, id).await {
        Ok(_) => Ok(Some(id)),
        Err(swell_store::StoreError::NotFound) => Err(ApiError::field(
            K,
            format!("marketing campaign {id} not found"),
        )),
        Err(e) => Err(e.into()),
    }
}

async fn with_members(state: &AppState, auth: &Auth, id: i64) -> Result<Value, ApiError> {
    let ws = auth.0.id;
    let mut out = serde_json::to_value(state.store.marketing_campaign(ws, id).await?)
        .map_err(|e| ApiError::Internal(Box::new(e)))?;
    out["members"] = json!(state.store.marketing_members(ws, id).await?);
    Ok(out)
}

async fn list(State(state): State<AppState>, auth: Auth) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(
        json!({"items": state.store.marketing_campaigns(auth.0.id).await?}),
    ))
}

async fn create(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let input = input(&json_object(&headers, &body)?)?;
    let c = state
        .store
        .write_marketing_campaign(auth.0.id, None, &input)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(with_members(&state, &auth, c.id).await?),
    ))
}

async fn read(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let id = path_id(&id)?;
    Ok(Json(with_members(&state, &auth, id).await?))
}

async fn update(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let id = path_id(&id)?;
    let input = input(&json_object(&headers, &body)?)?;
    state
        .store
        .write_marketing_campaign(auth.0.id, Some(id), &input)
        .await?;
    Ok(Json(with_members(&state, &auth, id).await?))
}

async fn remove(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    state
        .store
        .delete_marketing_campaign(auth.0.id, path_id(&id)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Puts a broadcast, automated campaign or ad campaign (`kind`:
/// `broadcasts`, `campaigns`, `ad-campaigns`) under the marketing campaign,
/// moving it from any other (PUT), or takes it out (DELETE).
async fn attach(
    State(state): State<AppState>,
    auth: Auth,
    Path((id, kind, member_id)): Path<(String, String, String)>,
    on: bool,
) -> Result<Json<Value>, ApiError> {
    let id = path_id(&id)?;
    let member = match kind.as_str() {
        "broadcasts" => Member::Broadcast,
        "campaigns" => Member::Campaign,
        "ad-campaigns" => Member::AdCampaign,
        _ => {
            return Err(ApiError::NotFound(format!(
                "'{kind}' is not what a marketing campaign groups (broadcasts, campaigns, ad-campaigns)"
            )));
        }
    };
    let member_id = path_id(&member_id)?;
    let found = state
        .store
        .set_marketing_member(auth.0.id, id, member, member_id, on)
        .await?;
    if !found {
        return Err(ApiError::NotFound(format!(
            "no {} {member_id}",
            member.what()
        )));
    }
    Ok(Json(with_members(&state, &auth, id).await?))
}

async fn attach_member(
    state: State<AppState>,
    auth: Auth,
    path: Path<(String, String, String)>,
) -> Result<Json<Value>, ApiError> {
    attach(state, auth, path, true).await
}

async fn detach_member(
    state: State<AppState>,
    auth: Auth,
    path: Path<(String, String, String)>,
) -> Result<Json<Value>, ApiError> {
    attach(state, auth, path, false).await
}

async fn report(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(
        state
            .store
            .marketing_report(auth.0.id, path_id(&id)?)
            .await?,
    ))
}
