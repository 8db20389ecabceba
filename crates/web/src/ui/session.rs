//! Signing in and out, the session cookie, CSRF checks and the login
//! rate limit.
//!
//! The session cookie (`swell_session`) is HttpOnly and SameSite=Lax, and
//! Secure when the app is served over https. Every session has its own
//! CSRF token: forms carry it as `_csrf`, htmx and scripts send it as the
//! `X-CSRF-Token` header, and every request that is not a GET must bring
//! it. The sign-in form, which comes before any session, uses a
//! double-submit cookie instead.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;

use askama::Template;
use axum::Form;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde::Deserialize;

use super::i18n::Locale;
use super::{UiError, cookie, safe_next};
use crate::AppState;

pub(crate) const SESSION_COOKIE: &str = "swell_session";
pub(crate) const LOGIN_CSRF_COOKIE: &str = "swell_login";
pub(crate) const LANG_COOKIE: &str = "swell_lang";
pub(crate) const CSRF_HEADER: &str = "x-csrf-token";
pub(crate) const CSRF_FIELD: &str = "_csrf";

/// The web app's access settings and the in-memory sign-in limits.
pub struct Access {
    /// Marks cookies Secure (the app is served over https).
    pub secure_cookies: bool,
    by_ip: DefaultKeyedRateLimiter<IpAddr>,
    by_email: DefaultKeyedRateLimiter<String>,
}

impl Access {
    /// Sign-in attempts allowed: 5 a minute per e-mail (a burst of 5) and
    /// 20 a minute per address (a burst of 20), whether they succeed or
    /// not. Guessing a password takes far more; people mistyping do not.
    pub fn new(secure_cookies: bool) -> Arc<Access> {
        let per_minute = |n| Quota::per_minute(NonZeroU32::new(n).expect("non-zero"));
        Arc::new(Access {
            secure_cookies,
            by_ip: RateLimiter::keyed(per_minute(20)),
            by_email: RateLimiter::keyed(per_minute(5)),
        })
    }

    fn allow(&self, ip: IpAddr, email: &str) -> bool {
        // Both are charged: the address's allowance is spent even when
        // the e-mail's is what refuses.
        let ip_ok = self.by_ip.check_key(&ip).is_ok();
        let email_ok = self.by_email.check_key(&email.to_string()).is_ok();
        ip_ok && email_ok
    }

    /// A `Set-Cookie` value with the app's attributes.
    pub(crate) fn cookie(&self, name: &str, value: &str, max_age: Option<i64>) -> HeaderValue {
        let mut c = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax");
        if let Some(age) = max_age {
            c.push_str(&format!("; Max-Age={age}"));
        }
        if self.secure_cookies {
            c.push_str("; Secure");
        }
        HeaderValue::from_str(&c).expect("cookie values are URL-safe base64")
    }
}

/// The locale of a request before sign-in: the language cookie, else
/// Vietnamese (the product's first market).
pub(crate) fn anonymous_locale(headers: &HeaderMap) -> Locale {
    cookie(headers, LANG_COOKIE)
        .and_then(|l| Locale::parse(&l))
        .unwrap_or(Locale::Vi)
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    locale: Locale,
    csrf: String,
    next: String,
    email: String,
    error: Option<&'static str>,
}

impl LoginPage {
    fn t<'a>(&self, key: &'a str) -> &'a str {
        self.locale.t(key)
    }
}

#[derive(Deserialize)]
pub(crate) struct NextQuery {
    next: Option<String>,
}

fn login_page(
    state: &AppState,
    headers: &HeaderMap,
    next: &str,
    email: &str,
    error: Option<&'static str>,
    status: axum::http::StatusCode,
) -> Result<Response, UiError> {
    // One form token per page shown: the same value in a cookie and in the
    // form, which a page on another site cannot both read and send.
    let csrf = super::random_token();
    let page = LoginPage {
        locale: anonymous_locale(headers),
        csrf: csrf.clone(),
        next: next.to_string(),
        email: email.to_string(),
        error,
    };
    let mut resp = (status, super::html(page.render()?)).into_response();
    resp.headers_mut().append(
        header::SET_COOKIE,
        state.access.cookie(LOGIN_CSRF_COOKIE, &csrf, Some(3600)),
    );
    Ok(resp)
}

pub(crate) async fn login_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<NextQuery>,
) -> Result<Response, UiError> {
    let next = safe_next(q.next.as_deref());
    login_page(
        &state,
        &headers,
        &next,
        "",
        None,
        axum::http::StatusCode::OK,
    )
}

#[derive(Deserialize)]
pub(crate) struct LoginForm {
    email: String,
    password: String,
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    next: String,
}

/// A PHC string to verify against when the e-mail is unknown, so that a
/// wrong e-mail takes as long as a wrong password.
static DECOY_HASH: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| swell_store::access::hash_password("decoy password"));

pub(crate) async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Result<Response, UiError> {
    use axum::http::StatusCode;
    let next = safe_next(Some(&form.next));
    let email = form.email.trim().to_lowercase();
    let expected = cookie(&headers, LOGIN_CSRF_COOKIE);
    if expected.as_deref() != Some(form.csrf.as_str()) || form.csrf.is_empty() {
        return login_page(
            &state,
            &headers,
            &next,
            &email,
            Some("login.expired"),
            StatusCode::FORBIDDEN,
        );
    }
    if !state.access.allow(peer.ip(), &email) {
        tracing::warn!(ip = %peer.ip(), "sign-in rate limit reached");
        return login_page(
            &state,
            &headers,
            &next,
            &email,
            Some("login.limited"),
            StatusCode::TOO_MANY_REQUESTS,
        );
    }
    let creds = state.store.credentials(&email).await?;
    let phc = creds
        .as_ref()
        .and_then(|c| c.password_hash.clone())
        .unwrap_or_else(|| DECOY_HASH.clone());
    let password = form.password;
    let matches =
        tokio::task::spawn_blocking(move || swell_store::access::verify_password(&password, &phc))
            .await
            .map_err(|e| UiError::Internal(Box::new(e)))?;
    let user = match creds {
        Some(c) if matches && c.active && c.password_hash.is_some() => c,
        _ => {
            return login_page(
                &state,
                &headers,
                &next,
                &email,
                Some("login.failed"),
                StatusCode::UNAUTHORIZED,
            );
        }
    };
    let token = state
        .store
        .create_session(user.workspace_id, user.user_id)
        .await?;
    state
        .store
        .audit(
            user.workspace_id,
            Some(user.user_id),
            "sign_in",
            "session",
            None,
            &serde_json::json!({"ip": peer.ip().to_string()}),
        )
        .await?;
    let mut resp = Redirect::to(&next).into_response();
    let headers = resp.headers_mut();
    headers.append(
        header::SET_COOKIE,
        state.access.cookie(
            SESSION_COOKIE,
            &token,
            Some(swell_store::access::SESSION_TTL_MS / 1000),
        ),
    );
    headers.append(
        header::SET_COOKIE,
        state.access.cookie(LOGIN_CSRF_COOKIE, "", Some(0)),
    );
    Ok(resp)
}

/// Ends the session (the guard has checked its CSRF token) and clears the
/// cookie.
pub(crate) async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, UiError> {
    if let Some(token) = cookie(&headers, SESSION_COOKIE) {
        state.store.delete_session(&token).await?;
    }
    let mut resp = Redirect::to("/login").into_response();
    resp.headers_mut().append(
        header::SET_COOKIE,
        state.access.cookie(SESSION_COOKIE, "", Some(0)),
    );
    Ok(resp)
}

/// Switches the language (a cookie, for a year) and goes back.
pub(crate) async fn switch_language(
    State(state): State<AppState>,
    axum::extract::Path(code): axum::extract::Path<String>,
    Query(q): Query<NextQuery>,
) -> Result<Response, UiError> {
    let locale = Locale::parse(&code).ok_or_else(|| UiError::NotFound)?;
    let mut resp = Redirect::to(&safe_next(q.next.as_deref())).into_response();
    resp.headers_mut().append(
        header::SET_COOKIE,
        state
            .access
            .cookie(LANG_COOKIE, locale.code(), Some(365 * 24 * 3600)),
    );
    Ok(resp)
}
