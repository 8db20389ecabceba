//! The web app: server-rendered pages for people, in Vietnamese and
//! English, with a little vendored JavaScript (htmx and `app.js`) for the
//! live parts. Every asset is in the binary; nothing comes from a CDN.
//!
//! # Writing a page
//!
//! 1. A template in `templates/` that `{% extends "base.html" %}` and fills
//!    `title` and `content`; its struct has a `shell: Shell` field (the
//!    layout reads the user, the nav, the CSRF token and the locale from
//!    it) and derives `Template`.
//! 2. A handler that takes [`Ctx`] (the signed-in user, the store, the
//!    locale) and returns `Result<Response, UiError>`; changes call
//!    [`Ctx::audit`].
//! 3. A route in [`router`] in the group of the role it needs
//!    ([`Need::Any`], [`Need::Marketer`], [`Need::Admin`]); the group's
//!    guard signs the request in, checks the role and the CSRF token, so
//!    the handler does neither. A nav entry in [`NAV`] if the page has one.
//!
//! Strings come from [`i18n`]'s table by key; numbers, money and dates
//! through [`Shell`]'s formatters.

use std::collections::HashMap;

use askama::Template;
use axum::Router;
use axum::body::Body;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use base64::Engine;
use rand::RngCore;
use swell_store::access::SessionUser;
use swell_store::{StoreError, Workspace};

use crate::{ApiError, AppState};

mod assets;
mod audit;
pub mod i18n;
mod pages;
pub(crate) mod session;

pub use audit::api_layer;
pub(crate) use audit::api_session;
pub use pages::route_table;
pub use session::Access;

use i18n::Locale;
use session::{CSRF_FIELD, CSRF_HEADER, LANG_COOKIE, SESSION_COOKIE};

pub use swell_core::role::Role;

/// What a group of pages asks of the signed-in user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Anyone signed in.
    Any,
    /// Marketers and admins: audiences, content, sending.
    Marketer,
    /// Admins: users, keys, channels, the audit log.
    Admin,
}

impl Need {
    pub fn allows(self, role: Role) -> bool {
        match self {
            Need::Any => true,
            Need::Marketer => matches!(role, Role::Admin | Role::Marketer),
            Need::Admin => role == Role::Admin,
        }
    }
}

/// One entry of the navigation, shown to the roles its page allows.
pub struct NavEntry {
    pub href: &'static str,
    pub key: &'static str,
    pub need: Need,
}

/// The navigation, in order. A page of a later area adds its line here.
pub const NAV: &[NavEntry] = &[
    NavEntry {
        href: "/",
        key: "nav.dashboard",
        need: Need::Any,
    },
    NavEntry {
        href: "/leads",
        key: "nav.leads",
        need: Need::Any,
    },
    NavEntry {
        href: "/contacts",
        key: "nav.contacts",
        need: Need::Marketer,
    },
    NavEntry {
        href: "/import",
        key: "nav.import",
        need: Need::Marketer,
    },
    NavEntry {
        href: "/segments",
        key: "nav.segments",
        need: Need::Marketer,
    },
    NavEntry {
        href: "/lists",
        key: "nav.lists",
        need: Need::Marketer,
    },
    NavEntry {
        href: "/templates",
        key: "nav.templates",
        need: Need::Marketer,
    },
    NavEntry {
        href: "/broadcasts",
        key: "nav.broadcasts",
        need: Need::Marketer,
    },
    NavEntry {
        href: "/ads",
        key: "nav.ads",
        need: Need::Marketer,
    },
    NavEntry {
        href: "/campaigns",
        key: "nav.campaigns",
        need: Need::Marketer,
    },
    NavEntry {
        href: "/marketing",
        key: "nav.marketing",
        need: Need::Marketer,
    },
    NavEntry {
        href: "/reports/ads",
        key: "nav.reports",
        need: Need::Marketer,
    },
    NavEntry {
        href: "/outbox",
        key: "nav.outbox",
        need: Need::Marketer,
    },
    NavEntry {
        href: "/settings",
        key: "nav.settings",
        need: Need::Admin,
    },
    NavEntry {
        href: "/audit",
        key: "nav.audit",
        need: Need::Admin,
    },
];

/// The web app's routes: sign-in and assets open to all, every other page
/// behind the guard of its group.
pub fn router(state: AppState) -> Router<AppState> {
    let any = pages::any_routes()
        .route("/logout", post(session::logout))
        .route_layer(from_fn_with_state(state.clone(), guard_any));
    let marketer =
        pages::marketer_routes().route_layer(from_fn_with_state(state.clone(), guard_marketer));
    let admin = pages::admin_routes().route_layer(from_fn_with_state(state.clone(), guard_admin));
    Router::new()
        .route("/login", get(session::login_form).post(session::login))
        .route("/lang/{code}", get(session::switch_language))
        .merge(assets::router())
        .merge(any)
        .merge(marketer)
        .merge(admin)
}

async fn guard_any(State(s): State<AppState>, req: Request, next: Next) -> Response {
    guard(s, Need::Any, req, next).await
}

async fn guard_marketer(State(s): State<AppState>, req: Request, next: Next) -> Response {
    guard(s, Need::Marketer, req, next).await
}

async fn guard_admin(State(s): State<AppState>, req: Request, next: Next) -> Response {
    guard(s, Need::Admin, req, next).await
}

/// Largest form body the guard reads to find its CSRF field.
const FORM_LIMIT: usize = 8 << 20;

/// Signs the request in from its cookie, checks the role and, on anything
/// but GET and HEAD, the CSRF token; hands the [`Ctx`] to the page, and
/// records a change that went through in the audit log.
async fn guard(state: AppState, need: Need, req: Request, next: Next) -> Response {
    let signed_in = match signed_in(&state, req.headers()).await {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    let Some(ctx) = signed_in else {
        if req.method() == Method::GET {
            let target = req
                .uri()
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/");
            let to = format!("/login?next={}", urlencode(target));
            return Redirect::to(&to).into_response();
        }
        return UiError::SignedOut.into_response();
    };
    if !need.allows(ctx.role) {
        return UiError::Forbidden(Box::new(ctx.shell(""))).into_response();
    }
    if is_read(req.method()) {
        let mut req = req;
        req.extensions_mut().insert(ctx);
        return next.run(req).await;
    }
    let (mut req, detail) = match check_csrf(req, &ctx.user.csrf).await {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let (method, path) = (req.method().clone(), req.uri().path().to_string());
    req.extensions_mut().insert(ctx.clone());
    let resp = next.run(req).await;
    audit::record(&ctx, &method, &path, resp.status(), detail).await;
    resp
}

fn is_read(m: &Method) -> bool {
    m == Method::GET || m == Method::HEAD
}

/// The session a request's cookie opens, if any.
pub(crate) async fn signed_in(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<Ctx>, UiError> {
    let Some(token) = cookie(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    let Some(user) = state.store.session(&token).await? else {
        return Ok(None);
    };
    let Some(role) = Role::parse(&user.role) else {
        tracing::warn!(user = user.user_id, role = %user.role, "user with an unknown role");
        return Ok(None);
    };
    let locale = cookie(headers, LANG_COOKIE)
        .and_then(|l| Locale::parse(&l))
        .or_else(|| Locale::parse(&user.workspace.locale))
        .unwrap_or(Locale::Vi);
    Ok(Some(Ctx {
        state: state.clone(),
        user,
        role,
        locale,
    }))
}

/// Accepts the request when its `X-CSRF-Token` header, or its form's
/// `_csrf` field, is the session's token; returns it with what the audit
/// log keeps of its body.
async fn check_csrf(req: Request, expected: &str) -> Result<(Request, serde_json::Value), UiError> {
    let header_ok = req
        .headers()
        .get(CSRF_HEADER)
        .map(|h| constant_time_eq(h.as_bytes(), expected.as_bytes()));
    let content_type = content_type(req.headers());
    let is_form = content_type.starts_with("application/x-www-form-urlencoded");
    // A file upload's form cannot be read before its handler streams it:
    // its token comes in the form's action URL instead.
    let query_ok = content_type.starts_with("multipart/form-data")
        && crate::api::Params::from_uri(req.uri())
            .get(CSRF_FIELD)
            .is_some_and(|t| constant_time_eq(t.as_bytes(), expected.as_bytes()));
    if header_ok == Some(false) || (header_ok.is_none() && !is_form && !query_ok) {
        return Err(UiError::Csrf);
    }
    if !is_form {
        return Ok((req, audit::body_note(&content_type, None)));
    }
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, FORM_LIMIT)
        .await
        .map_err(|_| UiError::Invalid("the form is too large".into()))?;
    let fields = form_fields(&bytes);
    if header_ok.is_none() {
        match fields.get(CSRF_FIELD) {
            Some(t) if constant_time_eq(t.as_bytes(), expected.as_bytes()) => {}
            _ => return Err(UiError::Csrf),
        }
    }
    let detail = audit::form_detail(&fields);
    Ok((Request::from_parts(parts, Body::from(bytes)), detail))
}

/// A request's Content-Type, or "" without one.
fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The fields of a urlencoded form (the last of a repeated name).
pub(crate) fn form_fields(body: &[u8]) -> HashMap<String, String> {
    crate::api::Params::parse(&String::from_utf8_lossy(body)).0
}

/// A cookie's value from the request.
pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
        .filter(|v| !v.is_empty())
}

/// Where to go after signing in: a path on this site, never elsewhere.
pub(crate) fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_string(),
        _ => "/".to_string(),
    }
}

pub(crate) fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

pub(crate) fn random_token() -> String {
    let mut raw = [0u8; 24];
    rand::rng().fill_bytes(&mut raw);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

pub(crate) fn html(body: String) -> Response {
    Html(body).into_response()
}

/// A signed-in request: who, with what role, in which language, and the
/// application's state. Pages behind a guard take it as an argument.
#[derive(Clone)]
pub struct Ctx {
    pub state: AppState,
    pub user: SessionUser,
    pub role: Role,
    pub locale: Locale,
}

impl Ctx {
    pub fn ws(&self) -> &Workspace {
        &self.user.workspace
    }

    pub fn store(&self) -> &swell_store::Store {
        &self.state.store
    }

    /// The layout's view of this request, with `active` the nav entry to
    /// highlight.
    pub fn shell(&self, active: &'static str) -> Shell {
        Shell {
            locale: self.locale,
            csrf: self.user.csrf.clone(),
            user_name: self.user.name.clone(),
            role: self.role,
            zone: self.user.workspace.timezone.clone(),
            workspace: self.user.workspace.name.clone(),
            active,
        }
    }
}

impl FromRequestParts<AppState> for Ctx {
    type Rejection = UiError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Ctx>()
            .cloned()
            .ok_or(UiError::SignedOut)
    }
}

/// What the layout shows around every page.
pub struct Shell {
    pub locale: Locale,
    pub csrf: String,
    pub user_name: String,
    pub role: Role,
    pub zone: String,
    pub workspace: String,
    pub active: &'static str,
}

/// A nav link as the layout draws it.
pub struct NavLink {
    pub href: &'static str,
    pub label: &'static str,
    pub active: bool,
}

impl Shell {
    pub fn t<'a>(&self, key: &'a str) -> &'a str {
        self.locale.t(key)
    }

    pub fn lang(&self) -> &'static str {
        self.locale.code()
    }

    /// A state of a broadcast, campaign or message in words.
    pub fn state<'a>(&self, state: &'a str) -> &'a str {
        i18n::lookup(self.locale, &format!("state.{state}")).unwrap_or(state)
    }

    pub fn role_label(&self) -> &str {
        self.t(match self.role {
            Role::Admin => "role.admin",
            Role::Marketer => "role.marketer",
            Role::Sales => "role.sales",
        })
    }

    pub fn nav(&self) -> Vec<NavLink> {
        NAV.iter()
            .filter(|e| e.need.allows(self.role))
            .map(|e| NavLink {
                href: e.href,
                label: self.locale.t(e.key),
                active: e.href == self.active,
            })
            .collect()
    }

    pub fn int(&self, n: &i64) -> String {
        self.locale.int(*n)
    }

    pub fn vnd(&self, amount: &f64) -> String {
        self.locale.vnd(*amount)
    }

    pub fn percent(&self, ratio: &f64) -> String {
        self.locale.percent(*ratio)
    }

    pub fn date(&self, millis: &i64) -> String {
        self.locale.date(*millis, &self.zone)
    }

    pub fn datetime(&self, millis: &i64) -> String {
        self.locale.datetime(*millis, &self.zone)
    }

    /// A ratio that may be undefined (nothing to divide by) as a percent
    /// or a dash.
    pub fn opt_percent(&self, ratio: &Option<f64>) -> String {
        ratio
            .map(|r| self.percent(&r))
            .unwrap_or_else(|| "—".into())
    }

    /// An amount that may be undefined (a cost per nothing) in VND or a
    /// dash.
    pub fn opt_vnd(&self, amount: &Option<f64>) -> String {
        amount.map(|a| self.vnd(&a)).unwrap_or_else(|| "—".into())
    }

    pub fn opt_datetime(&self, millis: &Option<i64>) -> String {
        millis.map(|m| self.datetime(&m)).unwrap_or_default()
    }
}

/// An error a page shows as HTML.
#[derive(Debug)]
pub enum UiError {
    SignedOut,
    Forbidden(Box<Shell>),
    Csrf,
    NotFound,
    Invalid(String),
    Internal(crate::error::anyhow_like::Error),
}

impl std::fmt::Debug for Shell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shell")
            .field("user", &self.user_name)
            .finish()
    }
}

impl From<StoreError> for UiError {
    fn from(e: StoreError) -> Self {
        ApiError::from(e).into()
    }
}

impl From<ApiError> for UiError {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::NotFound(_) => UiError::NotFound,
            ApiError::Invalid(m, _) | ApiError::BadRequest(m) | ApiError::Conflict(m) => {
                UiError::Invalid(m)
            }
            ApiError::UnsupportedMediaType(m)
            | ApiError::Forbidden(m)
            | ApiError::TooManyRequests(m) => UiError::Invalid(m),
            ApiError::Unauthorized => UiError::SignedOut,
            ApiError::Internal(e) => UiError::Internal(e),
        }
    }
}

impl From<askama::Error> for UiError {
    fn from(e: askama::Error) -> Self {
        UiError::Internal(Box::new(e))
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    shell: Option<Shell>,
    locale: Locale,
    title_key: &'static str,
    text_key: &'static str,
    detail: String,
}

impl ErrorPage {
    fn t<'a>(&self, key: &'a str) -> &'a str {
        self.locale.t(key)
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        let (status, shell, title, text, detail) = match self {
            UiError::SignedOut => {
                return (StatusCode::UNAUTHORIZED, Redirect::to("/login")).into_response();
            }
            UiError::Forbidden(shell) => (
                StatusCode::FORBIDDEN,
                Some(*shell),
                "error.forbidden",
                "error.forbidden_text",
                String::new(),
            ),
            UiError::Csrf => (
                StatusCode::FORBIDDEN,
                None,
                "error.forbidden",
                "error.csrf",
                String::new(),
            ),
            UiError::NotFound => (
                StatusCode::NOT_FOUND,
                None,
                "error.not_found",
                "",
                String::new(),
            ),
            UiError::Invalid(m) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
                "error.invalid",
                "",
                m,
            ),
            UiError::Internal(cause) => {
                tracing::error!(error = %cause, "internal error in a page");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    None,
                    "error.internal",
                    "",
                    String::new(),
                )
            }
        };
        let locale = shell.as_ref().map(|s| s.locale).unwrap_or(Locale::Vi);
        let page = ErrorPage {
            shell,
            locale,
            title_key: title,
            text_key: text,
            detail,
        };
        match page.render() {
            Ok(body) => (status, Html(body)).into_response(),
            Err(_) => status.into_response(),
        }
    }
}
