//! `/events`: append one event or many; read them back.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Map, Value, json};
use swell_core::FieldError;
use swell_core::record::parse_contact_ref;
use swell_core::time::{self, Millis};
use swell_store::events::{EventQuery, NewEvent};

use super::{Params, json_body};
use crate::auth::Auth;
use crate::{ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new().route("/events", post(append).get(list))
}

/// The most events one request may carry.
const MAX_EVENTS: usize = 10_000;

/// Takes `{"event", "contact", "timestamp", "properties"}` or an array of
/// them. All are checked before any is stored: one bad event stores none.
async fn append(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let ws = &auth.0;
    let (items, many) = match json_body(&headers, &body)? {
        Value::Array(items) => (items, true),
        obj @ Value::Object(_) => (vec![obj], false),
        other => {
            return Err(ApiError::BadRequest(format!(
                "expected an event object or an array of them, got {}",
                swell_core::schema::json_kind(&other)
            )));
        }
    };
    if items.len() > MAX_EVENTS {
        return Err(ApiError::field(
            "",
            format!(
                "{} events in one request; at most {MAX_EVENTS}",
                items.len()
            ),
        ));
    }
    let now = time::to_millis(jiff::Timestamp::now());
    let mut events = Vec::with_capacity(items.len());
    let mut errors = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let prefix = if many {
            format!("[{i}].")
        } else {
            String::new()
        };
        match parse_event(item, now, &ws.phone_region) {
            Ok(e) => events.push(e),
            Err(errs) => errors.extend(
                errs.into_iter()
                    .map(|e| FieldError::new(format!("{prefix}{}", e.field), e.reason)),
            ),
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::invalid(errors[0].to_string(), errors));
    }
    let ids = state.store.append_events(ws.id, &events).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"accepted": ids.len(), "ids": ids})),
    ))
}

fn parse_event(item: &Value, now: Millis, region: &str) -> Result<NewEvent, Vec<FieldError>> {
    let Value::Object(obj) = item else {
        return Err(vec![FieldError::new("", "an event must be an object")]);
    };
    let mut errors = Vec::new();
    for key in obj.keys() {
        if !["event", "contact", "timestamp", "properties"].contains(&key.as_str()) {
            errors.push(FieldError::new(
                key,
                "unknown field (event, contact, timestamp, properties)",
            ));
        }
    }
    let name = match obj.get("event") {
        Some(Value::String(s)) if !s.trim().is_empty() && s.len() <= 200 => s.trim().to_string(),
        Some(Value::String(_)) => {
            errors.push(FieldError::new("event", "must be 1 to 200 characters"));
            String::new()
        }
        Some(_) => {
            errors.push(FieldError::new("event", "must be text"));
            String::new()
        }
        None => {
            errors.push(FieldError::new("event", "is required"));
            String::new()
        }
    };
    let contact = match obj.get("contact") {
        None | Some(Value::Null) => None,
        Some(Value::Object(m)) if m.len() == 1 => {
            let (k, v) = m.iter().next().expect("one entry");
            let raw = match v {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            };
            match raw
                .ok_or_else(|| "must be text or a number".to_string())
                .and_then(|r| parse_contact_ref(k, &r, region))
            {
                Ok(r) => Some(r),
                Err(e) => {
                    errors.push(FieldError::new(format!("contact.{k}"), e));
                    None
                }
            }
        }
        Some(_) => {
            errors.push(FieldError::new(
                "contact",
                "expected an object with one of id, external_id, email, phone",
            ));
            None
        }
    };
    let at = match obj.get("timestamp") {
        None | Some(Value::Null) => now,
        Some(Value::String(s)) => match time::parse_datetime(s) {
            Ok(t) => time::to_millis(t),
            Err(e) => {
                errors.push(FieldError::new("timestamp", e));
                now
            }
        },
        Some(_) => {
            errors.push(FieldError::new(
                "timestamp",
                "must be an RFC 3339 date-time",
            ));
            now
        }
    };
    let properties = match obj.get("properties") {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(v @ Value::Object(_)) => v.clone(),
        Some(_) => {
            errors.push(FieldError::new("properties", "must be an object"));
            Value::Null
        }
    };
    if errors.is_empty() {
        Ok(NewEvent {
            name,
            contact,
            at,
            properties,
        })
    } else {
        Err(errors)
    }
}

pub(super) fn since(p: &Params) -> Result<Option<Millis>, ApiError> {
    p.get("since")
        .map(|s| {
            time::parse_datetime(s)
                .map(time::to_millis)
                .map_err(|e| ApiError::field("since", e))
        })
        .transpose()
}

async fn list(
    State(state): State<AppState>,
    auth: Auth,
    uri: Uri,
) -> Result<impl IntoResponse, ApiError> {
    let p = Params::from_uri(&uri);
    let query = EventQuery {
        contact_id: p.int("contact_id")?,
        name: p.get("event").map(str::to_string),
        since: since(&p)?,
        cursor: p.cursor()?,
        limit: p.limit()?,
    };
    Ok(Json(state.store.list_events(auth.0.id, &query).await?))
}
