//! `/channels`: each channel's provider (SMS and Zalo go through the HTTP
//! providers of `swell_channels::http`) and what one message costs. Any
//! caller who sees the workspace may read them; only admins (and keys
//! without a user) set them, as on the settings page.
//!
//! Provider headers hold tokens (Zalo's `access_token`, a gateway's
//! `Authorization: Bearer ...`): they go in and come back out only as
//! [`SECRET_MASK`](swell_channels::http::SECRET_MASK), and a header given as the mask keeps the value stored,
//! so a configuration read, edited and put back keeps its secrets.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::routing::{get, put};
use axum::{Json, Router};
use serde_json::{Value, json};
use swell_channels::ChannelKind;
use swell_channels::http::{HttpProvider, ProviderConfig, http_client, masked};
use swell_core::FieldError;
use swell_store::WorkspaceId;
use swell_store::automation::extras::ChannelSetting;

use super::json_object;
use crate::auth::{AdminAuth, Auth};
use crate::{ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/channels", get(list))
        .route("/channels/{channel}", put(put_channel))
}

/// A channel the settings know: `Some` kind for those an HTTP provider
/// delivers, `None` for those with only a unit cost.
pub(crate) fn provider_kind(channel: &str) -> Result<Option<ChannelKind>, ApiError> {
    match channel {
        "sms" => Ok(Some(ChannelKind::Sms)),
        "zalo" => Ok(Some(ChannelKind::Zalo)),
        "email" | "inapp" => Ok(None),
        other => Err(ApiError::NotFound(format!("no channel {other:?}"))),
    }
}

/// A setting as it may be shown: its provider's header values masked.
pub(crate) fn shown(setting: ChannelSetting) -> ChannelSetting {
    ChannelSetting {
        config: masked(&setting.config),
        ..setting
    }
}

/// The provider stored for `channel`, if there is one that still reads.
pub(crate) async fn stored_provider(
    state: &AppState,
    ws: WorkspaceId,
    channel: &str,
) -> Result<Option<ProviderConfig>, ApiError> {
    Ok(state
        .store
        .channel_settings(ws)
        .await?
        .into_iter()
        .find(|s| s.channel == channel)
        .and_then(|s| serde_json::from_value(s.config).ok()))
}

/// `config` made ready to store for `kind`: masked headers given their
/// stored values from `stored`, then checked as a provider is built. The
/// problems are [`ProviderConfig::check`]'s, each naming its field.
pub(crate) fn ready(
    kind: ChannelKind,
    mut config: ProviderConfig,
    stored: Option<&ProviderConfig>,
) -> Result<ProviderConfig, Vec<String>> {
    config.keep_secrets(stored)?;
    let client = http_client().map_err(|e| vec![format!("cannot make an HTTP client: {e}")])?;
    HttpProvider::new(kind, config, client)
        .map(|p| p.config().clone())
        .map_err(|e| e.problems)
}

/// The ISO 4217 code of a unit cost, as providers check theirs.
pub(crate) fn currency(raw: &str) -> Result<String, String> {
    let code = raw.trim();
    if code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(code.to_string())
    } else {
        Err(format!(
            "'{code}' is not an ISO 4217 code such as VND or USD"
        ))
    }
}

async fn list(State(state): State<AppState>, auth: Auth) -> Result<impl IntoResponse, ApiError> {
    let items: Vec<ChannelSetting> = state
        .store
        .channel_settings(auth.0.id)
        .await?
        .into_iter()
        .map(shown)
        .collect();
    Ok(Json(json!({ "items": items })))
}

/// Sets a channel's provider (SMS, Zalo) and unit cost (every channel).
async fn put_channel(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path(channel): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let ws = auth.0.id;
    let obj = json_object(&headers, &body)?;
    let kind = provider_kind(&channel)?;
    let mut config = obj.get("provider").cloned().unwrap_or(json!({}));
    if let Some(kind) = kind {
        let parsed: ProviderConfig = serde_json::from_value(config)
            .map_err(|e| ApiError::field("provider", e.to_string()))?;
        let stored = stored_provider(&state, ws, &channel).await?;
        let ready = ready(kind, parsed, stored.as_ref()).map_err(|problems| {
            ApiError::invalid(
                "the provider is misconfigured",
                problems
                    .into_iter()
                    .map(|p| FieldError::new("provider", p))
                    .collect(),
            )
        })?;
        config = serde_json::to_value(&ready).map_err(|e| ApiError::Internal(Box::new(e)))?;
    }
    let unit_cost = match obj.get("unit_cost") {
        None | Some(Value::Null) => 0.0,
        Some(v) => v
            .as_f64()
            .filter(|c| *c >= 0.0)
            .ok_or_else(|| ApiError::field("unit_cost", "must be a number >= 0"))?,
    };
    let currency = match obj.get("currency") {
        None | Some(Value::Null) => "VND".to_string(),
        Some(v) => currency(v.as_str().unwrap_or_default())
            .map_err(|reason| ApiError::field("currency", reason))?,
    };
    let setting = ChannelSetting {
        channel,
        config,
        unit_cost,
        currency,
    };
    state.store.put_channel_setting(ws, &setting).await?;
    Ok(Json(shown(setting)))
}

#[cfg(test)]
mod tests {
    use swell_channels::http::SECRET_MASK;

    use super::*;

    #[test]
    fn a_shown_setting_keeps_everything_but_its_header_values() {
        let config = serde_json::to_value(ProviderConfig::zalo_zns("oa-secret")).unwrap();
        let setting = shown(ChannelSetting {
            channel: "zalo".into(),
            config: config.clone(),
            unit_cost: 300.0,
            currency: "VND".into(),
        });
        assert_eq!(setting.config["headers"]["access_token"], SECRET_MASK);
        assert_eq!(setting.config["url"], config["url"]);
        assert!(
            !serde_json::to_string(&setting)
                .unwrap()
                .contains("oa-secret")
        );
    }

    #[test]
    fn currencies_are_iso_codes() {
        assert_eq!(currency(" USD ").as_deref(), Ok("USD"));
        assert!(currency("dong").is_err());
        assert!(currency("vnd").is_err());
    }
}
