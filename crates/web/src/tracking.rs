//! What recipients' mail clients reach: the open pixel, tracked links, the
//! unsubscribe page (and its one-click POST, RFC 8058) and the web view.
//! Every path carries a signed token; a changed or forged one is a 404
//! and changes nothing.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use serde_json::json;
use swell_core::template::{CompiledEmail, EmailTemplate};
use swell_engine::Token;
use swell_engine::mailer::machine_open;
use swell_store::mailing::MessageRow;

use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/t/o/{token}", get(open))
        .route("/t/c/{token}", get(click))
        .route("/t/u/{token}", get(unsubscribe_page).post(unsubscribe))
        .route("/t/v/{token}", get(view))
}

/// A transparent 1x1 GIF.
const PIXEL: &[u8] = &[
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x01, 0x44, 0x00, 0x3b,
];

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "not found").into_response()
}

/// The message a valid token of the right kind names.
async fn message_of(
    state: &AppState,
    token: &str,
    want: fn(&Token) -> bool,
) -> Option<(Token, MessageRow)> {
    let t = state.mailer.tokens().verify(token).filter(want)?;
    let m = state.store.message(t.message()).await.ok()?;
    Some((t, m))
}

fn user_agent(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
}

async fn open(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Some((_, m)) = message_of(&state, &token, |t| matches!(t, Token::Open { .. })).await else {
        return not_found();
    };
    let ua = user_agent(&headers);
    match state
        .store
        .record_engagement(&m, "open", None, machine_open(ua), ua)
        .await
    {
        Ok(resumed) => state.woke(resumed),
        Err(e) => tracing::error!(error = %e, message = m.id, "recording an open"),
    }
    (
        [
            (header::CONTENT_TYPE, "image/gif"),
            (header::CACHE_CONTROL, "no-store, max-age=0"),
        ],
        PIXEL,
    )
        .into_response()
}

async fn click(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Some((Token::Click { link, url, .. }, m)) =
        message_of(&state, &token, |t| matches!(t, Token::Click { .. })).await
    else {
        return not_found();
    };
    match state
        .store
        .record_engagement(&m, "click", Some((link, &url)), false, user_agent(&headers))
        .await
    {
        Ok(resumed) => state.woke(resumed),
        Err(e) => tracing::error!(error = %e, message = m.id, "recording a click"),
    }
    Redirect::to(&url).into_response()
}

fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html lang=\"vi\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
         <title>{title}</title><style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;color:#222}}\
         button{{font-size:1rem;padding:.6rem 1.2rem;border-radius:.4rem;border:0;background:#1d4ed8;color:#fff;cursor:pointer}}</style></head>\
         <body>{body}</body></html>"
    ))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

async fn unsubscribe_page(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let Some((_, m)) = message_of(&state, &token, |t| matches!(t, Token::Unsubscribe { .. })).await
    else {
        return not_found();
    };
    let address = escape(m.address.as_deref().unwrap_or(""));
    page(
        "Hủy đăng ký / Unsubscribe",
        &format!(
            "<h1>Hủy đăng ký nhận email</h1><p>Bạn sẽ không nhận email marketing gửi tới <b>{address}</b> nữa.</p>\
             <p lang=\"en\">You will no longer receive marketing email at <b>{address}</b>.</p>\
             <form method=\"post\"><button type=\"submit\">Hủy đăng ký / Unsubscribe</button></form>"
        ),
    )
    .into_response()
}

/// The page's button and mail clients' one-click POST
/// (`List-Unsubscribe=One-Click`) both land here.
async fn unsubscribe(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let Some((_, m)) = message_of(&state, &token, |t| matches!(t, Token::Unsubscribe { .. })).await
    else {
        return not_found();
    };
    if let Err(e) = state.store.unsubscribe_message(&m).await {
        tracing::error!(error = %e, message = m.id, "unsubscribing");
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "could not unsubscribe; try again",
        )
            .into_response();
    }
    page(
        "Đã hủy đăng ký / Unsubscribed",
        "<h1>Đã hủy đăng ký</h1><p>Bạn sẽ không nhận email marketing từ chúng tôi nữa.</p>\
         <p lang=\"en\">You have been unsubscribed.</p>",
    )
    .into_response()
}

/// The message as its recipient got it, in the browser.
async fn view(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let Some((_, m)) = message_of(&state, &token, |t| matches!(t, Token::View { .. })).await else {
        return not_found();
    };
    let rendered = async {
        if m.source != "broadcast" {
            return None;
        }
        let b = state.store.broadcast(m.workspace, m.source_id).await.ok()?;
        let t = state
            .store
            .template(m.workspace, b.template_id)
            .await
            .ok()?;
        let tpl: EmailTemplate = serde_json::from_value(t.content).ok()?;
        let compiled = CompiledEmail::compile(&tpl).ok()?;
        let contact = match m.contact_id {
            Some(id) => state.store.contact(m.workspace, id).await.ok(),
            None => None,
        };
        let ws = state.store.workspace(m.workspace).await.ok()?;
        state
            .mailer
            .render_for(
                &compiled,
                contact.as_ref(),
                &json!({"name": ws.name}),
                &b.name,
                Some(m.id),
            )
            .ok()
    }
    .await;
    match rendered {
        Some(r) => Html(r.html).into_response(),
        None => not_found(),
    }
}
