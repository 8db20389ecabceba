//! Public lead intake: web forms post to `/f/{key}` (form-encoded or
//! JSON), and Facebook Lead Ads deliver to `/f/{key}/facebook` (the
//! subscription challenge on GET, signed `leadgen` changes on POST). The
//! key opens nothing but its form's intake; each client address may post
//! `per_minute` times a minute to a form; a form post that fills the
//! hidden `website` field (a honeypot people never see) is answered as a
//! success and dropped.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::{Arc, LazyLock, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::post;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Map, Value, json};
use swell_store::leads::LeadInput;
use swell_store::leads::forms::OpenForm;

use crate::api::leads::{intake_response, take};
use crate::api::{Params, json_object};
use crate::{ApiError, AppState};

/// The hidden field a form carries for spam bots to fill.
pub const HONEYPOT: &str = "website";

pub fn router() -> Router<AppState> {
    Router::new().route("/f/{key}", post(form_post)).route(
        "/f/{key}/facebook",
        post(facebook_post).get(facebook_verify),
    )
}

/// One limiter per form (by its key), rebuilt when its allowance changes. In memory:
/// each process counts its own posts, so N processes allow N times the
/// rate at most.
static LIMITS: LazyLock<Mutex<HashMap<String, FormLimit>>> = LazyLock::new(Default::default);

/// A form's allowance a minute and its limiter.
type FormLimit = (i64, Arc<DefaultKeyedRateLimiter<IpAddr>>);

fn allowed(key: &str, per_minute: i64, ip: IpAddr) -> bool {
    let limiter = {
        let mut all = LIMITS.lock().expect("form limits");
        let entry = all.entry(key.to_string()).or_insert_with(|| {
            (
                0,
                Arc::new(RateLimiter::keyed(Quota::per_minute(NonZeroU32::MIN))),
            )
        });
        if entry.0 != per_minute {
            let n = NonZeroU32::new(per_minute.clamp(1, u32::MAX as i64) as u32)
                .unwrap_or(NonZeroU32::MIN);
            *entry = (
                per_minute,
                Arc::new(RateLimiter::keyed(Quota::per_minute(n))),
            );
        }
        Arc::clone(&entry.1)
    };
    limiter.check_key(&ip).is_ok()
}

async fn open(state: &AppState, key: &str) -> Result<OpenForm, ApiError> {
    state
        .store
        .open_lead_form(key)
        .await?
        .ok_or_else(|| ApiError::NotFound("no such form".into()))
}

/// A form's fields as a lead: the known ones in place, any other answer
/// kept in `data`; `_`-prefixed fields and the honeypot are left out.
fn lead_object(fields: Map<String, Value>) -> Map<String, Value> {
    const KNOWN: &[&str] = &[
        "name",
        "email",
        "phone",
        "region",
        "product",
        "source",
        "value",
        "external_id",
    ];
    let mut lead = Map::new();
    let mut data = Map::new();
    for (k, v) in fields {
        if k == HONEYPOT || k.starts_with('_') {
            continue;
        }
        if KNOWN.contains(&k.as_str()) {
            lead.insert(k, v);
        } else {
            data.insert(k, v);
        }
    }
    if !data.is_empty() {
        lead.insert("data".into(), Value::Object(data));
    }
    lead
}

async fn take_for_form(
    state: &AppState,
    form: &OpenForm,
    obj: Map<String, Value>,
    source: &str,
) -> Result<(StatusCode, axum::Json<Value>), ApiError> {
    let mut input =
        LeadInput::from_json(&obj, &form.workspace.phone_region).map_err(ApiError::from_field)?;
    input.form_id = Some(form.form.id);
    if input.source.is_none() {
        input.source = Some(format!("{source}:{}", form.form.name));
    }
    if let Some(ad) = form.form.ad_id {
        input.ad = Some(swell_store::reports::AdKey::Id(ad));
    }
    Ok(intake_response(take(state, &form.workspace, &input).await?))
}

async fn form_post(
    State(state): State<AppState>,
    Path(key): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let form = open(&state, &key).await?;
    if !allowed(&key, form.form.per_minute, peer.ip()) {
        return Err(ApiError::TooManyRequests(format!(
            "this form takes {} posts a minute from one address; try again in a minute",
            form.form.per_minute
        )));
    }
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let is_form = ct.starts_with("application/x-www-form-urlencoded");
    let fields: Map<String, Value> = if is_form {
        Params::parse(&String::from_utf8_lossy(&body))
            .0
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect()
    } else {
        json_object(&headers, &body)?
    };
    let thanks = |status: StatusCode| -> Response {
        if is_form {
            (status, Html("<!doctype html><meta charset=utf-8><p>Cảm ơn bạn! Chúng tôi sẽ liên hệ sớm. / Thank you! We will be in touch soon.</p>")).into_response()
        } else {
            (status, axum::Json(json!({"ok": true}))).into_response()
        }
    };
    if fields
        .get(HONEYPOT)
        .is_some_and(|v| v.as_str().is_none_or(|s| !s.trim().is_empty()))
    {
        tracing::info!(form = form.form.id, ip = %peer.ip(), "honeypot filled: dropped");
        return Ok(thanks(StatusCode::CREATED));
    }
    let (status, _) = take_for_form(&state, &form, lead_object(fields), "form").await?;
    Ok(thanks(status))
}

/// Facebook's subscription check: echo `hub.challenge` when
/// `hub.verify_token` is the form's.
async fn facebook_verify(
    State(state): State<AppState>,
    Path(key): Path<String>,
    uri: axum::http::Uri,
) -> Result<Response, ApiError> {
    let form = open(&state, &key).await?;
    let p = Params::from_uri(&uri);
    let expected = form.form.facebook_verify_token.as_deref();
    match (
        p.get("hub.mode"),
        p.get("hub.verify_token"),
        p.get("hub.challenge"),
    ) {
        (Some("subscribe"), Some(token), Some(challenge)) if Some(token) == expected => {
            Ok((StatusCode::OK, challenge.to_string()).into_response())
        }
        _ => Err(ApiError::Forbidden(
            "the verify token does not match this form's".into(),
        )),
    }
}

/// Whether `X-Hub-Signature-256` is `sha256=` and the HMAC of the raw body
/// under the app secret (compared in constant time).
fn signed(secret: &str, headers: &HeaderMap, body: &[u8]) -> bool {
    let Some(hex) = headers
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("sha256="))
    else {
        return false;
    };
    let Some(sig) = (0..hex.len())
        .step_by(2)
        .map(|i| {
            hex.get(i..i + 2)
                .and_then(|b| u8::from_str_radix(b, 16).ok())
        })
        .collect::<Option<Vec<u8>>>()
    else {
        return false;
    };
    let mut mac =
        Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(body);
    mac.verify_slice(&sig).is_ok()
}

/// A `leadgen` change's `field_data` as a lead body: Facebook's standard
/// question names mapped to the lead's fields, the rest kept in `data`
/// with the ids of the page, form and ad.
fn facebook_lead(value: &Value) -> Map<String, Value> {
    let mut fields = Map::new();
    let mut data = Map::new();
    for f in value["field_data"].as_array().into_iter().flatten() {
        let Some(name) = f["name"].as_str() else {
            continue;
        };
        let answer = f["values"]
            .as_array()
            .and_then(|v| v.first())
            .cloned()
            .unwrap_or(Value::Null);
        let target = match name {
            "full_name" | "name" => Some("name"),
            "email" => Some("email"),
            "phone_number" | "phone" => Some("phone"),
            "city" | "province" | "region" | "state" => Some("region"),
            "product" => Some("product"),
            _ => None,
        };
        match target {
            Some(t) if !fields.contains_key(t) => {
                fields.insert(t.into(), answer);
            }
            _ => {
                data.insert(name.into(), answer);
            }
        }
    }
    for k in ["page_id", "form_id", "ad_id", "adgroup_id", "created_time"] {
        if let Some(v) = value.get(k).filter(|v| !v.is_null()) {
            data.insert(format!("facebook_{k}"), v.clone());
        }
    }
    if let Some(id) = value.get("leadgen_id").and_then(|v| {
        v.as_str()
            .map(str::to_string)
            .or_else(|| v.as_i64().map(|n| n.to_string()))
    }) {
        fields.insert("external_id".into(), json!(format!("facebook:{id}")));
    }
    fields.insert("source".into(), json!("facebook"));
    if !data.is_empty() {
        fields.insert("data".into(), Value::Object(data));
    }
    fields
}

/// Facebook's delivery: every `leadgen` change of every entry is one
/// lead. Answered 200 with what was taken and what was refused (by entry
/// and change), so Facebook does not send valid leads again for one bad one;
/// a lead sent again (same `leadgen_id`) is taken once.
async fn facebook_post(
    State(state): State<AppState>,
    Path(key): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let form = open(&state, &key).await?;
    let Some(secret) = form.facebook_app_secret.as_deref() else {
        return Err(ApiError::Forbidden(
            "this form has no facebook_app_secret to check deliveries with".into(),
        ));
    };
    if !signed(secret, &headers, &body) {
        return Err(ApiError::Unauthorized);
    }
    let doc = json_object(&headers, &body)?;
    if doc.get("object").and_then(Value::as_str) != Some("page") {
        return Err(ApiError::field("object", "must be \"page\""));
    }
    let mut leads = Vec::new();
    let mut errors = Vec::new();
    for (e, entry) in doc
        .get("entry")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        for (c, change) in entry["changes"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            if change["field"] != "leadgen" {
                continue;
            }
            match take_for_form(&state, &form, facebook_lead(&change["value"]), "facebook").await {
                Ok((_, body)) => leads.push(body.0["lead"]["id"].clone()),
                Err(ApiError::Invalid(m, _)) => {
                    errors.push(json!({"entry": e, "change": c, "reason": m}))
                }
                Err(other) => return Err(other),
            }
        }
    }
    Ok(axum::Json(json!({"leads": leads, "errors": errors})).into_response())
}
