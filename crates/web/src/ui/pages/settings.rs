//! `/settings` (admins): the workspace's zone and default language,
//! users, API keys and sending channels (SMTP is the server's; SMS and
//! Zalo providers with unit costs go through `/api/v1/channels`).

use askama::Template;
use axum::extract::Path;
use axum::response::{IntoResponse, Redirect, Response};
use swell_store::ApiKey;
use swell_store::access::UserSummary;
use swell_store::automation::extras::ChannelSetting;

use crate::ui::{Ctx, Role, Shell, UiError, form_fields, html};

#[derive(Template)]
#[template(path = "settings.html")]
struct Page {
    shell: Shell,
    timezone: String,
    locale: String,
    users: Vec<UserSummary>,
    keys: Vec<ApiKey>,
    channels: Vec<ChannelSetting>,
    /// The SMTP relays this server sends through (its configuration).
    relays: Vec<swell_channels::RelayInfo>,
    /// The workspace's own relays, set here.
    own: Vec<swell_store::smtp::SmtpServerRow>,
    /// A key just created, shown this once.
    new_key: Option<String>,
    error: Option<String>,
}

impl Page {
    fn tls(&self, r: &swell_channels::RelayInfo) -> &'static str {
        match r.tls {
            swell_channels::Tls::None => "none",
            swell_channels::Tls::StartTls => "STARTTLS",
            swell_channels::Tls::Tls => "TLS",
        }
    }

    fn config(&self, c: &ChannelSetting) -> String {
        serde_json::to_string_pretty(&c.config).unwrap_or_default()
    }
}

async fn render(
    ctx: &Ctx,
    new_key: Option<String>,
    error: Option<String>,
) -> Result<Response, UiError> {
    let ws = ctx.ws();
    let page = Page {
        shell: ctx.shell("/settings"),
        timezone: ws.timezone.clone(),
        locale: ws.locale.clone(),
        users: ctx.store().workspace_users(ws.id).await?,
        keys: ctx.store().list_api_keys(ws.id).await?,
        channels: ctx.store().channel_settings(ws.id).await?,
        relays: ctx.state.mailer.smtp_relays().to_vec(),
        own: ctx.store().smtp_servers(ws.id).await?,
        new_key,
        error,
    };
    Ok(html(page.render()?))
}

pub(super) async fn page(ctx: Ctx) -> Result<Response, UiError> {
    render(&ctx, None, None).await
}

pub(super) async fn workspace(ctx: Ctx, body: axum::body::Bytes) -> Result<Response, UiError> {
    let f = form_fields(&body);
    let tz = f.get("timezone").map(|s| s.trim()).unwrap_or("");
    if jiff::tz::TimeZone::get(tz).is_err() {
        return render(
            &ctx,
            None,
            Some(format!("timezone: '{tz}' is not an IANA time zone")),
        )
        .await;
    }
    let locale = f.get("locale").map(|s| s.trim()).unwrap_or("");
    if crate::ui::i18n::Locale::parse(locale).is_none() {
        return render(
            &ctx,
            None,
            Some(format!("locale: '{locale}' is not vi or en")),
        )
        .await;
    }
    ctx.store()
        .update_workspace(ctx.ws().id, Some(tz), Some(locale))
        .await?;
    Ok(Redirect::to("/settings").into_response())
}

pub(super) async fn add_user(ctx: Ctx, body: axum::body::Bytes) -> Result<Response, UiError> {
    let f = form_fields(&body);
    let get = |k: &str| f.get(k).map(|s| s.trim().to_string()).unwrap_or_default();
    let (name, email, role, password) = (get("name"), get("email"), get("role"), get("password"));
    let problem = if name.is_empty() {
        Some("name: is required".to_string())
    } else if swell_core::email::Email::parse(&email).is_err() {
        Some(format!("email: '{email}' is not an e-mail address"))
    } else if Role::parse(&role).is_none() {
        Some("role: must be admin, marketer or sales".to_string())
    } else {
        swell_store::access::check_password(&password)
            .err()
            .map(|r| format!("password: {r}"))
    };
    if let Some(p) = problem {
        return render(&ctx, None, Some(p)).await;
    }
    let phc = tokio::task::spawn_blocking(move || swell_store::access::hash_password(&password))
        .await
        .map_err(|e| UiError::Internal(Box::new(e)))?;
    match ctx
        .store()
        .create_user_with_password(ctx.ws().id, &name, &email, &role, &phc)
        .await
    {
        Ok(_) => Ok(Redirect::to("/settings").into_response()),
        Err(swell_store::StoreError::Conflict(m)) => {
            render(&ctx, None, Some(format!("email: {m}"))).await
        }
        Err(e) => Err(e.into()),
    }
}

pub(super) async fn create_key(ctx: Ctx, body: axum::body::Bytes) -> Result<Response, UiError> {
    let f = form_fields(&body);
    let label = f.get("label").map(|s| s.trim()).filter(|s| !s.is_empty());
    let (_, secret) = ctx.store().create_api_key(ctx.ws().id, label).await?;
    render(&ctx, Some(secret), None).await
}

pub(super) async fn revoke_key(ctx: Ctx, Path(id): Path<String>) -> Result<Response, UiError> {
    let id = crate::api::path_id(&id)?;
    ctx.store().revoke_api_key(ctx.ws().id, id).await?;
    Ok(Redirect::to("/settings").into_response())
}
