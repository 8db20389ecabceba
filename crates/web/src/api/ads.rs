//! The ads hierarchy: `/ad-accounts`, `/ad-campaigns`, `/ads`. Each level
//! is created, read, changed (including switched off) and deleted the same
//! way; leads name their ad by id or by the three names.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Map, Value, json};
use swell_store::ads::{AdInput, AdLevel};

use super::{Params, given, json_object, only_keys, path_id};
use crate::auth::Auth;
use crate::{ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/ad-accounts", get(list_accounts).post(create_account))
        .route(
            "/ad-accounts/{id}",
            get(read_account)
                .patch(update_account)
                .delete(remove_account),
        )
        .route("/ad-campaigns", get(list_campaigns).post(create_campaign))
        .route(
            "/ad-campaigns/{id}",
            get(read_campaign)
                .patch(update_campaign)
                .delete(remove_campaign),
        )
        .route("/ads", get(list_ads).post(create_ad))
        .route("/ads/{id}", get(read_ad).patch(update_ad).delete(remove_ad))
}

/// The body's fields for a level: its parent, its key, its name and its
/// on/off flag, as the API names them.
fn input(level: AdLevel, obj: &Map<String, Value>) -> Result<AdInput, ApiError> {
    let text = |k: &str| given(obj, k, |v| v.as_str().map(|s| s.trim().to_string()), "text");
    let id = |k: &str| given(obj, k, Value::as_i64, "an id");
    let flag = |k: &str| given(obj, k, Value::as_bool, "true or false");
    Ok(match level {
        AdLevel::Account => {
            only_keys(obj, &["platform", "account_id", "name", "running"], "")?;
            AdInput {
                parent: None,
                platform: text("platform")?,
                key: text("account_id")?,
                name: text("name")?,
                on: flag("running")?,
            }
        }
        AdLevel::Campaign => {
            only_keys(obj, &["ad_account_id", "name", "active"], "")?;
            AdInput {
                parent: id("ad_account_id")?,
                key: text("name")?,
                on: flag("active")?,
                ..Default::default()
            }
        }
        AdLevel::Ad => {
            only_keys(obj, &["ad_campaign_id", "name", "active"], "")?;
            AdInput {
                parent: id("ad_campaign_id")?,
                key: text("name")?,
                on: flag("active")?,
                ..Default::default()
            }
        }
    })
}

async fn one(state: &AppState, auth: &Auth, level: AdLevel, id: i64) -> Result<Value, ApiError> {
    let ws = auth.0.id;
    let v = match level {
        AdLevel::Account => json!(state.store.ad_account(ws, id).await?),
        AdLevel::Campaign => json!(state.store.ad_campaign(ws, id).await?),
        AdLevel::Ad => json!(state.store.ad(ws, id).await?),
    };
    Ok(v)
}

async fn write(
    state: &AppState,
    auth: &Auth,
    level: AdLevel,
    id: Option<i64>,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Value, ApiError> {
    let input = input(level, &json_object(headers, body)?)?;
    let id = state
        .store
        .write_ad_level(auth.0.id, level, id, &input)
        .await?;
    one(state, auth, level, id).await
}

macro_rules! level_routes {
    ($level:expr, $list:ident, $create:ident, $read:ident, $update:ident, $remove:ident, |$state:ident, $ws:ident, $p:ident| $listing:expr) => {
        async fn $list(State($state): State<AppState>, auth: Auth, uri: Uri) -> Result<Json<Value>, ApiError> {
            let $p = Params::from_uri(&uri);
            let $ws = auth.0.id;
            Ok(Json(json!({"items": $listing})))
        }

        async fn $create(State(state): State<AppState>, auth: Auth, headers: HeaderMap, body: Bytes)
            -> Result<(StatusCode, Json<Value>), ApiError> {
            Ok((StatusCode::CREATED, Json(write(&state, &auth, $level, None, &headers, &body).await?)))
        }

        async fn $read(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
            Ok(Json(one(&state, &auth, $level, path_id(&id)?).await?))
        }

        async fn $update(State(state): State<AppState>, auth: Auth, Path(id): Path<String>, headers: HeaderMap, body: Bytes)
            -> Result<Json<Value>, ApiError> {
            Ok(Json(write(&state, &auth, $level, Some(path_id(&id)?), &headers, &body).await?))
        }

        async fn $remove(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
            state.store.delete_ad_level(auth.0.id, $level, path_id(&id)?).await?;
            Ok(StatusCode::NO_CONTENT)
        }
    };
}

level_routes!(
    AdLevel::Account,
    list_accounts,
    create_account,
    read_account,
    update_account,
    remove_account,
    |state, ws, _p| state.store.ad_accounts(ws).await?
);
level_routes!(
    AdLevel::Campaign,
    list_campaigns,
    create_campaign,
    read_campaign,
    update_campaign,
    remove_campaign,
    |state, ws, p| state
        .store
        .ad_campaigns(ws, p.int("ad_account_id")?)
        .await?
);
level_routes!(
    AdLevel::Ad,
    list_ads,
    create_ad,
    read_ad,
    update_ad,
    remove_ad,
    |state, ws, p| state.store.ads(ws, p.int("ad_campaign_id")?).await?
);
