//! The audit log: every change a signed-in person makes, through a page's
//! form or through the API from the app's scripts, is recorded with who,
//! when, what (the method and path) and the form's fields or JSON body
//! (without secrets). One place records them all, so a new page is logged
//! without doing anything.

use std::collections::HashMap;

use askama::Template;
use axum::body::Body;
use axum::extract::{Query, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use swell_store::access::AuditEntry;

use super::session::{CSRF_FIELD, CSRF_HEADER, SESSION_COOKIE};
use super::{
    Ctx, Shell, UiError, constant_time_eq, content_type, cookie, html, is_read, signed_in,
};
use crate::AppState;

/// Fields whose values never go into the log.
const SECRET_FIELDS: &[&str] = &[
    "password",
    "secret",
    "token",
    "access_token",
    "api_key",
    CSRF_FIELD,
];

/// Largest JSON body kept whole in an entry.
const BODY_KEPT: usize = 16 * 1024;

/// Records a change if it went through (a success or a redirect).
pub(super) async fn record(
    ctx: &Ctx,
    method: &Method,
    path: &str,
    status: StatusCode,
    detail: Value,
) {
    if !(status.is_success() || status.is_redirection()) {
        return;
    }
    let trimmed = path.trim_start_matches("/api/v1").trim_start_matches('/');
    let (entity, id) = trimmed.split_once('/').unwrap_or((trimmed, ""));
    let entity = if path.starts_with("/api/v1") {
        format!("api:{entity}")
    } else {
        entity.to_string()
    };
    let mut detail = detail;
    if let Value::Object(m) = &mut detail {
        m.insert("path".into(), json!(path));
        m.insert("status".into(), json!(status.as_u16()));
    }
    let result = ctx
        .store()
        .audit(
            ctx.ws().id,
            Some(ctx.user.user_id),
            &method.as_str().to_ascii_lowercase(),
            &entity,
            Some(id).filter(|i| !i.is_empty()),
            &detail,
        )
        .await;
    if let Err(e) = result {
        // The change is made; losing its log line must not fail it.
        tracing::error!(error = %e, path, "could not write the audit log");
    }
}

/// A form's fields for the log, secrets left out.
pub(super) fn form_detail(fields: &HashMap<String, String>) -> Value {
    let kept: Map<String, Value> = fields
        .iter()
        .filter(|(k, _)| !SECRET_FIELDS.contains(&k.as_str()))
        .map(|(k, v)| {
            // A field of JSON (a provider's configuration) has its own.
            let kept = match serde_json::from_str::<Value>(v) {
                Ok(mut object @ Value::Object(_)) => {
                    scrub(&mut object);
                    object.to_string()
                }
                _ => v.clone(),
            };
            (k.clone(), json!(truncate(&kept, 2000)))
        })
        .collect();
    json!({ "form": kept })
}

/// Takes the secrets out of JSON at any depth: the secret fields, and the
/// values of every `headers` object, where HTTP providers keep their
/// tokens (shown as the mask, so the log says which headers changed).
fn scrub(value: &mut Value) {
    match value {
        Value::Object(m) => {
            for k in SECRET_FIELDS {
                m.remove(*k);
            }
            for (k, v) in m.iter_mut() {
                match v {
                    Value::Object(headers) if k == "headers" => {
                        for h in headers.values_mut() {
                            *h = json!(swell_channels::http::SECRET_MASK);
                        }
                    }
                    _ => scrub(v),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(scrub),
        _ => {}
    }
}

/// A body that is not a form: JSON kept when small (secrets left out),
/// anything else described by its type.
pub(super) fn body_note(content_type: &str, body: Option<&[u8]>) -> Value {
    match body {
        Some(b) if content_type.starts_with("application/json") && b.len() <= BODY_KEPT => {
            match serde_json::from_slice::<Value>(b) {
                Ok(mut object @ Value::Object(_)) => {
                    scrub(&mut object);
                    json!({ "body": object })
                }
                Ok(v) => json!({ "body": v }),
                Err(_) => json!({ "content_type": content_type }),
            }
        }
        _ if content_type.is_empty() => json!({}),
        _ => json!({ "content_type": content_type }),
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// A web-app session calling the API: who, and whether the request brought
/// the session's CSRF token.
#[derive(Clone)]
pub(crate) struct ApiSession {
    pub ctx: Ctx,
    pub csrf_ok: bool,
}

/// Around `/api/v1`: a request without an API key but with a session
/// cookie is the web app's; its session is found once (the `Auth`
/// extractor reads it from here) and its changes are logged.
pub async fn api_layer(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if req.headers().contains_key(header::AUTHORIZATION)
        || cookie(req.headers(), SESSION_COOKIE).is_none()
    {
        return next.run(req).await;
    }
    let ctx = match signed_in(&state, req.headers()).await {
        Ok(Some(ctx)) => ctx,
        Ok(None) => return next.run(req).await,
        Err(e) => return e.into_response(),
    };
    let csrf_ok = req
        .headers()
        .get(CSRF_HEADER)
        .is_some_and(|h| constant_time_eq(h.as_bytes(), ctx.user.csrf.as_bytes()));
    let session = ApiSession {
        ctx: ctx.clone(),
        csrf_ok,
    };
    if is_read(req.method()) || !csrf_ok {
        let mut req = req;
        req.extensions_mut().insert(session);
        return next.run(req).await;
    }
    let content_type = content_type(req.headers());
    // Inside `/api/v1` the URI is the nested one; the log keeps the whole.
    let path = req
        .extensions()
        .get::<axum::extract::OriginalUri>()
        .map(|u| u.path().to_string())
        .unwrap_or_else(|| req.uri().path().to_string());
    let method = req.method().clone();
    // Small JSON bodies are read for the log; anything else (CSV imports)
    // streams through untouched.
    let small_json = content_type.starts_with("application/json")
        && req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok())
            .is_some_and(|n| n <= BODY_KEPT);
    let (mut req, detail) = if small_json {
        let (parts, body) = req.into_parts();
        match axum::body::to_bytes(body, BODY_KEPT).await {
            Ok(bytes) => {
                let detail = body_note(&content_type, Some(&bytes));
                (Request::from_parts(parts, Body::from(bytes)), detail)
            }
            Err(_) => return UiError::Invalid("the body could not be read".into()).into_response(),
        }
    } else {
        (req, body_note(&content_type, None))
    };
    req.extensions_mut().insert(session);
    let resp = next.run(req).await;
    record(&ctx, &method, &path, resp.status(), detail).await;
    resp
}

/// The session [`api_layer`] found for a request, if any.
pub(crate) async fn api_session(parts: &axum::http::request::Parts) -> Option<ApiSession> {
    parts.extensions.get::<ApiSession>().cloned()
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    shell: Shell,
    entries: Vec<AuditEntry>,
    next: Option<i64>,
}

impl AuditPage {
    fn detail(&self, e: &AuditEntry) -> String {
        match &e.detail {
            Value::Null => String::new(),
            v => truncate(&v.to_string(), 400),
        }
    }
}

#[derive(Deserialize)]
pub(super) struct Before {
    before: Option<i64>,
}

const PAGE: u32 = 100;

/// `/audit`: the log, newest first, a hundred entries a page.
pub(super) async fn page(
    ctx: Ctx,
    State(_): State<AppState>,
    Query(q): Query<Before>,
) -> Result<Response, UiError> {
    let entries = ctx.store().audit_log(ctx.ws().id, q.before, PAGE).await?;
    let next = (entries.len() == PAGE as usize)
        .then(|| entries.last().map(|e| e.id))
        .flatten();
    let page = AuditPage {
        shell: ctx.shell("/audit"),
        entries,
        next,
    };
    Ok(html(page.render()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_stay_out_of_the_log_at_any_depth() {
        let body = json!({
            "channel": "zalo",
            "provider": {"url": "https://business.openapi.zalo.me/message/template",
                         "headers": {"access_token": "oa-secret"}},
            "activities": [{"config": {"url": "https://crm.example", "secret": "crm-key"}}],
            "password": "pw",
        });
        let note = body_note("application/json", Some(body.to_string().as_bytes()));
        let text = note.to_string();
        for secret in ["oa-secret", "crm-key", "\"pw\""] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        assert!(
            text.contains("access_token") && text.contains("crm.example"),
            "{text}"
        );

        let form = HashMap::from([
            ("access_token".to_string(), "oa-secret".to_string()),
            ("provider".to_string(), body["provider"].to_string()),
            ("sender".to_string(), "SHOP".to_string()),
        ]);
        let text = form_detail(&form).to_string();
        assert!(!text.contains("oa-secret"), "{text}");
        assert!(text.contains("SHOP"), "{text}");
    }
}
