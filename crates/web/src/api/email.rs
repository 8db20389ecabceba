//! E-mail: templates (checked when saved, previewed for a real contact,
//! test-sent), broadcasts (created, scheduled, sent, paused, resumed,
//! cancelled, counted), the outbox, bounces and suppressions.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde_json::{Map, Value, json};
use swell_core::FieldError;
use swell_core::email::Email;
use swell_core::template::{
    CompiledEmail, EmailTemplate, SmsTemplate, TemplateError, VariableSchema, ZnsTemplate,
    render_sms, render_zns,
};
use swell_engine::mailer::{MailError, contact_value, template_value};
use swell_store::consent::{AudienceSpec, Channel};
use swell_store::mailing::{BounceKind, NewBroadcast};
use swell_store::workspaces::Workspace;

use super::{Params, json_body, json_object};
use crate::auth::Auth;
use crate::{ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/templates", post(create_template).get(templates))
        .route(
            "/templates/{id}",
            get(template).put(put_template).delete(delete_template),
        )
        .route("/templates/{id}/preview", post(preview))
        .route("/templates/{id}/test", post(test_template))
        .route("/broadcasts", post(create_broadcast).get(broadcasts))
        .route("/broadcasts/{id}", get(broadcast))
        .route("/broadcasts/{id}/send", post(send))
        .route("/broadcasts/{id}/pause", post(pause))
        .route("/broadcasts/{id}/resume", post(resume))
        .route("/broadcasts/{id}/cancel", post(cancel))
        .route("/broadcasts/{id}/test", post(test_broadcast))
        .route("/broadcasts/{id}/stats", get(stats))
        .route("/outbox", get(outbox))
        .route("/bounces", post(bounce))
        .route("/suppressions", get(suppressions))
        .route("/suppressions/{address}", delete(unsuppress))
}

impl From<MailError> for ApiError {
    fn from(e: MailError) -> ApiError {
        match e {
            MailError::Store(e) => e.into(),
            MailError::Template { reason, .. } => ApiError::field("template", reason),
            MailError::Invalid(reason) => ApiError::BadRequest(reason),
        }
    }
}

/// What templates may name in this workspace.
async fn variables(state: &AppState, ws: &Workspace) -> Result<VariableSchema, ApiError> {
    Ok(VariableSchema::standard(
        &state.store.contact_schema(ws.id).await?,
    ))
}

/// Reads and checks a template body: `{"name", "channel", ...}` with the
/// channel's fields.
async fn template_body(
    state: &AppState,
    ws: &Workspace,
    obj: &Map<String, Value>,
) -> Result<(String, String, Value), ApiError> {
    let name = obj
        .get("name")
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| ApiError::field("name", "is required"))?
        .trim()
        .to_string();
    let channel = obj
        .get("channel")
        .and_then(Value::as_str)
        .unwrap_or("email")
        .to_string();
    let mut content = obj.clone();
    content.remove("name");
    content.remove("channel");
    let content = Value::Object(content);
    let schema = variables(state, ws).await?;
    let errors = match channel.as_str() {
        "email" => template_content::<EmailTemplate>(&content)?.check(&schema),
        "sms" => template_content::<SmsTemplate>(&content)?.check(&schema),
        "zns" => template_content::<ZnsTemplate>(&content)?.check(&schema),
        other => {
            return Err(ApiError::field(
                "channel",
                format!("'{other}' is not a template channel (email, sms, zns)"),
            ));
        }
    };
    if !errors.is_empty() {
        return Err(template_errors(errors));
    }
    Ok((name, channel, content))
}

async fn create_template(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let obj = json_object(&headers, &body)?;
    let (name, channel, content) = template_body(&state, &auth.0, &obj).await?;
    Ok((
        StatusCode::CREATED,
        Json(
            state
                .store
                .put_template(auth.0.id, None, &name, &channel, &content)
                .await?,
        ),
    ))
}

async fn put_template(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let obj = json_object(&headers, &body)?;
    let (name, channel, content) = template_body(&state, &auth.0, &obj).await?;
    Ok(Json(
        state
            .store
            .put_template(auth.0.id, Some(id), &name, &channel, &content)
            .await?,
    ))
}

async fn templates(
    State(state): State<AppState>,
    auth: Auth,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(state.store.templates(auth.0.id).await?))
}

async fn template(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(state.store.template(auth.0.id, id).await?))
}

async fn delete_template(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
) -> Result<impl IntoResponse, ApiError> {
    state.store.delete_template(auth.0.id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A stored or posted template's content as the channel's template.
fn template_content<T: serde::de::DeserializeOwned>(content: &Value) -> Result<T, ApiError> {
    serde_json::from_value(content.clone()).map_err(|e| ApiError::field("template", e.to_string()))
}

/// Template errors as a 422, each under its part (subject, html...).
fn template_errors(errors: Vec<TemplateError>) -> ApiError {
    ApiError::invalid(
        "the template has errors",
        errors
            .into_iter()
            .map(|e| FieldError::new(e.part.to_string(), e.to_string()))
            .collect(),
    )
}

/// `{"contact_id": N}` (optional: without one, the template renders with
/// its fallbacks).
async fn preview(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let ws = &auth.0;
    let obj = if body.is_empty() {
        Map::new()
    } else {
        json_object(&headers, &body)?
    };
    let t = state.store.template(ws.id, id).await?;
    let contact =
        match obj.get("contact_id") {
            None | Some(Value::Null) => None,
            Some(v) => {
                let cid = v
                    .as_i64()
                    .ok_or_else(|| ApiError::field("contact_id", "must be a number"))?;
                Some(state.store.contact(ws.id, cid).await.map_err(|_| {
                    ApiError::field("contact_id", format!("contact {cid} not found"))
                })?)
            }
        };
    let workspace = json!({"name": ws.name});
    let ctx = json!({"contact": contact.as_ref().map(contact_value), "workspace": workspace});
    match t.channel.as_str() {
        "email" => Ok(Json(email_preview(
            &state,
            ws,
            &template_content(&t.content)?,
            &t.name,
            contact.as_ref(),
        )?)),
        "sms" => {
            let r = render_sms(&template_content(&t.content)?, &template_value(&ctx))
                .map_err(|e| ApiError::field("body", e.to_string()))?;
            Ok(Json(json!({"body": r.body, "segments": r.segments})))
        }
        _ => {
            let (template_id, params) =
                render_zns(&template_content(&t.content)?, &template_value(&ctx))
                    .map_err(|e| ApiError::field("params", e.to_string()))?;
            Ok(Json(json!({"template_id": template_id, "params": params})))
        }
    }
}

/// An e-mail template rendered for a contact (or with its fallbacks):
/// `{"subject", "html", "text"}`. The API's preview of a stored template
/// and the editor's preview of unsaved content both come from here.
pub(crate) fn email_preview(
    state: &AppState,
    ws: &Workspace,
    template: &EmailTemplate,
    name: &str,
    contact: Option<&swell_core::contact::Contact>,
) -> Result<Value, ApiError> {
    let compiled = CompiledEmail::compile(template).map_err(template_errors)?;
    let r = state
        .mailer
        .render_for(&compiled, contact, &json!({"name": ws.name}), name, None)?;
    Ok(json!({"subject": r.subject, "html": r.html, "text": r.text}))
}

fn addresses(obj: &Map<String, Value>) -> Result<Vec<Email>, ApiError> {
    let items = obj
        .get("to")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
        .ok_or_else(|| ApiError::field("to", "is required: a list of addresses"))?;
    if items.len() > 20 {
        return Err(ApiError::field("to", "at most 20 addresses in a test send"));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, v)| {
            v.as_str()
                .ok_or_else(|| ApiError::field(format!("to[{i}]"), "must be an address"))
                .and_then(|s| Email::parse(s).map_err(|e| ApiError::field(format!("to[{i}]"), e)))
        })
        .collect()
}

async fn test_send_of(
    state: &AppState,
    ws: &Workspace,
    template_id: i64,
    sender: &Value,
    obj: &Map<String, Value>,
) -> Result<Value, ApiError> {
    let to = addresses(obj)?;
    let t = state.store.template(ws.id, template_id).await?;
    if t.channel != "email" {
        return Err(ApiError::field(
            "template",
            "only e-mail templates can be test-sent by e-mail",
        ));
    }
    let contact = match obj.get("contact_id").and_then(Value::as_i64) {
        Some(cid) => Some(state.store.contact(ws.id, cid).await?),
        None => None,
    };
    let ids = state
        .mailer
        .test_send(
            ws.id,
            &template_content(&t.content)?,
            sender,
            contact.as_ref(),
            &to,
        )
        .await?;
    Ok(json!({"sent": ids.len(), "message_ids": ids}))
}

async fn test_template(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let obj = json_object(&headers, &body)?;
    Ok(Json(
        test_send_of(&state, &auth.0, id, &Value::Null, &obj).await?,
    ))
}

async fn test_broadcast(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let obj = json_object(&headers, &body)?;
    let b = state.store.broadcast(auth.0.id, id).await?;
    Ok(Json(
        test_send_of(&state, &auth.0, b.template_id, &b.sender, &obj).await?,
    ))
}

/// `"at"`: an RFC 3339 time; `"local_time"`: `HH:MM` in each contact's zone.
fn schedule(
    obj: &Map<String, Value>,
) -> Result<(Option<i64>, Option<jiff::civil::Time>), ApiError> {
    let at = match obj.get("send_at").or_else(|| obj.get("at")) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(
            swell_core::time::parse_datetime(s)
                .map(swell_core::time::to_millis)
                .map_err(|e| ApiError::field("send_at", format!("not an RFC 3339 time: {e}")))?,
        ),
        Some(_) => return Err(ApiError::field("send_at", "must be an RFC 3339 time")),
    };
    let local = match obj.get("local_time") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(
            s.parse::<jiff::civil::Time>()
                .map_err(|_| ApiError::field("local_time", "must be HH:MM"))?,
        ),
        Some(_) => return Err(ApiError::field("local_time", "must be HH:MM")),
    };
    Ok((at, local))
}

fn ab_body(v: Option<&Value>) -> Result<Option<Value>, ApiError> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let obj = v
        .as_object()
        .ok_or_else(|| ApiError::field("ab", "must be an object"))?;
    let variants = obj
        .get("variants")
        .and_then(Value::as_array)
        .ok_or_else(|| ApiError::field("ab.variants", "is required"))?;
    if !(2..=4).contains(&variants.len()) {
        return Err(ApiError::field("ab.variants", "two to four variants"));
    }
    for (i, var) in variants.iter().enumerate() {
        let ok = var.as_object().is_some_and(|o| {
            o.keys()
                .all(|k| ["subject", "preheader", "html", "text", "name"].contains(&k.as_str()))
        });
        if !ok {
            return Err(ApiError::field(
                format!("ab.variants[{i}]"),
                "an object with subject, preheader, html or text",
            ));
        }
    }
    let pct = obj
        .get("sample_percent")
        .and_then(Value::as_u64)
        .unwrap_or(20);
    if !(1..=100).contains(&pct) {
        return Err(ApiError::field("ab.sample_percent", "between 1 and 100"));
    }
    let metric = obj.get("metric").and_then(Value::as_str).unwrap_or("opens");
    if !["opens", "clicks"].contains(&metric) {
        return Err(ApiError::field("ab.metric", "opens or clicks"));
    }
    let wait = obj
        .get("wait_minutes")
        .and_then(Value::as_f64)
        .unwrap_or(60.0);
    if wait < 0.0 {
        return Err(ApiError::field("ab.wait_minutes", "must not be negative"));
    }
    Ok(Some(
        json!({"variants": variants, "sample_percent": pct, "metric": metric, "wait_minutes": wait, "winner": null}),
    ))
}

async fn create_broadcast(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let ws = &auth.0;
    let obj = json_object(&headers, &body)?;
    const KEYS: &[&str] = &[
        "name",
        "template_id",
        "audience",
        "from_name",
        "from_email",
        "reply_to",
        "send_at",
        "local_time",
        "ab",
        "marketing_campaign_id",
    ];
    super::only_keys(&obj, KEYS, "")?;
    let name = obj
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::field("name", "is required"))?
        .to_string();
    let template_id = obj
        .get("template_id")
        .and_then(Value::as_i64)
        .ok_or_else(|| ApiError::field("template_id", "is required"))?;
    let t = state
        .store
        .template(ws.id, template_id)
        .await
        .map_err(|_| ApiError::field("template_id", format!("template {template_id} not found")))?;
    if t.channel != "email" {
        return Err(ApiError::field(
            "template_id",
            "broadcasts send e-mail templates",
        ));
    }
    let audience = obj
        .get("audience")
        .and_then(Value::as_object)
        .ok_or_else(|| {
            ApiError::field("audience", "is required: lists, segments, filter, exclude")
        })?;
    let spec = AudienceSpec::from_json(audience).map_err(|e| {
        ApiError::from_field(FieldError::new(format!("audience.{}", e.field), e.reason))
    })?;
    if spec.lists.is_empty() && spec.segments.is_empty() && spec.filter.is_none() {
        return Err(ApiError::field(
            "audience",
            "name lists, segments or a filter",
        ));
    }
    let mut sender = Map::new();
    for k in ["from_name", "from_email", "reply_to"] {
        if let Some(v) = obj.get(k).filter(|v| !v.is_null()) {
            let s = v
                .as_str()
                .ok_or_else(|| ApiError::field(k, "must be text"))?;
            if k != "from_name" {
                Email::parse(s).map_err(|e| ApiError::field(k, e))?;
            }
            sender.insert(k.into(), json!(s));
        }
    }
    let (send_at, local_time) = schedule(&obj)?;
    let ab = ab_body(obj.get("ab"))?;
    let marketing_campaign_id = super::marketing::member_of(&state, ws.id, &obj).await?;
    let b = state
        .store
        .create_broadcast(
            ws.id,
            &NewBroadcast {
                name,
                template_id,
                audience: spec,
                sender: Value::Object(sender),
                send_at,
                local_time,
                ab,
                marketing_campaign_id,
            },
        )
        .await?;
    state.mailer.wake();
    Ok((
        StatusCode::CREATED,
        Json(with_audience_count(&state, ws, b).await?),
    ))
}

async fn with_audience_count(
    state: &AppState,
    ws: &Workspace,
    b: swell_store::mailing::Broadcast,
) -> Result<Value, ApiError> {
    let mut v = serde_json::to_value(&b).map_err(|e| ApiError::Internal(Box::new(e)))?;
    if matches!(b.state.as_str(), "draft" | "scheduled") {
        let report = state
            .store
            .resolve_audience(ws.id, &b.audience_spec()?, Some(Channel::Email))
            .await?;
        v["audience_count"] = serde_json::to_value(report).unwrap_or_default();
    }
    Ok(v)
}

async fn broadcasts(
    State(state): State<AppState>,
    auth: Auth,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(state.store.broadcasts(auth.0.id).await?))
}

async fn broadcast(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
) -> Result<impl IntoResponse, ApiError> {
    let b = state.store.broadcast(auth.0.id, id).await?;
    Ok(Json(with_audience_count(&state, &auth.0, b).await?))
}

/// Send now (no body), or schedule with `{"send_at", "local_time"}`.
async fn send(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let ws = &auth.0;
    let obj = if body.is_empty() {
        Map::new()
    } else {
        json_object(&headers, &body)?
    };
    let (at, local) = schedule(&obj)?;
    let b = state.store.broadcast(ws.id, id).await?;
    let b = if at.is_some() || local.is_some() || b.local_time.is_some() {
        let at = at.or(b.send_at).or(Some(state.store.now()));
        let local = local.or_else(|| b.local_time.as_deref().and_then(|t| t.parse().ok()));
        state
            .store
            .set_broadcast_schedule(ws.id, id, at, local)
            .await?
    } else {
        state
            .store
            .start_broadcast(ws.id, id, swell_engine::mailer::split_of(&b))
            .await?
    };
    state.mailer.wake();
    Ok(Json(b))
}

async fn pause(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(
        state
            .store
            .transition_broadcast(auth.0.id, id, &["sending"], "paused")
            .await?,
    ))
}

async fn resume(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
) -> Result<impl IntoResponse, ApiError> {
    let b = state
        .store
        .transition_broadcast(auth.0.id, id, &["paused"], "sending")
        .await?;
    state.mailer.wake();
    Ok(Json(b))
}

async fn cancel(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(
        state
            .store
            .transition_broadcast(
                auth.0.id,
                id,
                &["draft", "scheduled", "sending", "paused"],
                "cancelled",
            )
            .await?,
    ))
}

async fn stats(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
) -> Result<impl IntoResponse, ApiError> {
    let ws = &auth.0;
    let b = state.store.broadcast(ws.id, id).await?;
    let mut v = serde_json::to_value(state.store.broadcast_stats(ws.id, id, None).await?)
        .unwrap_or_default();
    v["state"] = json!(b.state);
    if let Some(ab) = &b.ab {
        let n = ab["variants"].as_array().map_or(0, Vec::len) as i64;
        let mut variants = Vec::new();
        for variant in 1..=n {
            let mut s = serde_json::to_value(
                state
                    .store
                    .broadcast_stats(ws.id, id, Some(variant))
                    .await?,
            )
            .unwrap_or_default();
            s["variant"] = json!(variant);
            variants.push(s);
        }
        v["variants"] = json!(variants);
        v["winner"] = ab["winner"].clone();
    }
    Ok(Json(v))
}

async fn outbox(
    State(state): State<AppState>,
    auth: Auth,
    uri: Uri,
) -> Result<impl IntoResponse, ApiError> {
    let p = Params::from_uri(&uri);
    let before = p.int("before")?;
    let items = state.store.outbox(auth.0.id, before, p.limit()?).await?;
    let next = items.last().map(|e| e.id.to_string());
    Ok(Json(json!({"items": items, "next_cursor": next})))
}

/// A raw DSN or feedback report (`message/*`, `multipart/report`,
/// `text/plain`), or JSON `{"address" | "message_id", "kind": "hard" |
/// "soft" | "complaint", "status", "diagnostic"}`.
async fn bounce(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let ws = &auth.0;
    let ct = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let reports = if ct.starts_with("application/json") {
        let v = json_body(&headers, &body)?;
        let items = match v {
            Value::Array(items) => items,
            other => vec![other],
        };
        items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let obj = item
                    .as_object()
                    .ok_or_else(|| ApiError::field(format!("[{i}]"), "must be an object"))?;
                let kind = match obj.get("kind").and_then(Value::as_str).unwrap_or("hard") {
                    "hard" => BounceKind::Hard,
                    "soft" => BounceKind::Soft,
                    "complaint" => BounceKind::Complaint,
                    k => {
                        return Err(ApiError::field(
                            format!("[{i}].kind"),
                            format!("'{k}' is not hard, soft or complaint"),
                        ));
                    }
                };
                let address = obj
                    .get("address")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                let message_id = obj
                    .get("message_id")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                if address.is_none() && message_id.is_none() {
                    return Err(ApiError::field(
                        format!("[{i}]"),
                        "give address or message_id",
                    ));
                }
                Ok(swell_engine::bounce::Report {
                    address,
                    message_id,
                    kind,
                    status: obj
                        .get("status")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                    diagnostic: obj
                        .get("diagnostic")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                })
            })
            .collect::<Result<Vec<_>, _>>()?
    } else {
        let reports = swell_engine::bounce::parse(&body);
        if reports.is_empty() {
            return Err(ApiError::BadRequest(
                "no delivery-status or feedback report found in the message".into(),
            ));
        }
        reports
    };
    let mut out = Vec::new();
    for r in reports {
        let m = state
            .store
            .find_message(ws.id, r.message_id.as_deref(), r.address.as_deref())
            .await?;
        let address = match (&r.address, &m) {
            (Some(a), _) => a.clone(),
            (None, Some(m)) => m.address.clone().unwrap_or_default(),
            (None, None) => {
                out.push(
                    json!({"message_id": r.message_id, "error": "no message with this Message-ID"}),
                );
                continue;
            }
        };
        let outcome = state
            .store
            .record_bounce(
                ws.id,
                &address,
                m.as_ref().map(|m| m.id),
                r.kind,
                r.status.as_deref(),
                r.diagnostic.as_deref(),
            )
            .await?;
        // A bounce may have let a campaign's "bounced" branch go on.
        state.automation.wake();
        out.push(serde_json::to_value(outcome).unwrap_or_default());
    }
    Ok(Json(json!({"processed": out})))
}

async fn suppressions(
    State(state): State<AppState>,
    auth: Auth,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(state.store.suppressions(auth.0.id).await?))
}

async fn unsuppress(
    State(state): State<AppState>,
    auth: Auth,
    Path(address): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    state.store.unsuppress(auth.0.id, &address).await?;
    Ok(StatusCode::NO_CONTENT)
}
