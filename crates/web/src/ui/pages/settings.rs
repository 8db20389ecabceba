//! `/settings` (admins): the workspace's zone and default language,
//! users, API keys and sending channels: its own SMTP relays, the server's,
//! and the SMS and Zalo ZNS providers with each channel's unit cost.
//!
//! A provider is set from a preset (Zalo ZNS with its access token, a JSON
//! SMS gateway with a bearer token) or, for anything else, as the JSON of
//! `swell_channels::http::ProviderConfig`. Tokens are never shown again: a
//! blank token field keeps the one stored for the same preset, and the
//! custom JSON shows header values as the mask, which keeps them too.

use std::collections::HashMap;

use askama::Template;
use axum::extract::Path;
use axum::response::{IntoResponse, Redirect, Response};
use swell_channels::ChannelKind;
use swell_channels::http::{Preset, ProviderConfig, masked};
use swell_store::ApiKey;
use swell_store::access::UserSummary;
use swell_store::automation::extras::ChannelSetting;

use crate::api::channels::{currency, provider_kind, ready, stored_provider};
use crate::ui::{Ctx, Role, Shell, UiError, form_fields, html};

#[derive(Template)]
#[template(path = "settings.html")]
struct Page {
    shell: Shell,
    timezone: String,
    locale: String,
    users: Vec<UserSummary>,
    keys: Vec<ApiKey>,
    /// Each channel's provider and cost, secrets masked.
    channels: Vec<ChannelRow>,
    /// The SMS and the Zalo provider forms.
    providers: [ProviderForm; 2],
    /// What is wrong with the unit cost form's last post.
    cost_problems: Vec<String>,
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
}

/// A channel in the settings table: what its provider is, never its
/// secrets.
struct ChannelRow {
    channel: String,
    /// The i18n key of its preset; `None` without a provider.
    preset: Option<&'static str>,
    url: Option<String>,
    sender: Option<String>,
    /// The names of its headers, whose values show as the mask.
    secrets: Vec<String>,
    unit_cost: f64,
    currency: String,
}

impl ChannelRow {
    fn new(setting: &ChannelSetting) -> ChannelRow {
        let provider: Option<ProviderConfig> = provider_kind(&setting.channel)
            .ok()
            .flatten()
            .and_then(|_| serde_json::from_value(setting.config.clone()).ok());
        ChannelRow {
            channel: setting.channel.clone(),
            preset: provider.as_ref().map(|p| preset_label(preset_name(p))),
            url: provider.as_ref().map(|p| p.url.clone()),
            sender: provider.as_ref().and_then(|p| p.sender.clone()),
            secrets: provider
                .map(|p| p.headers.into_keys().collect())
                .unwrap_or_default(),
            unit_cost: setting.unit_cost,
            currency: setting.currency.clone(),
        }
    }
}

/// The form name of a preset: the `preset` field's value.
const ZALO_ZNS: &str = "zalo_zns";
const SMS_GATEWAY: &str = "sms_gateway";
const CUSTOM: &str = "custom";

fn preset_name(config: &ProviderConfig) -> &'static str {
    match config.preset() {
        Preset::ZaloZns { .. } => ZALO_ZNS,
        Preset::GenericSms { .. } => SMS_GATEWAY,
        Preset::Custom => CUSTOM,
    }
}

fn preset_label(name: &str) -> &'static str {
    match name {
        ZALO_ZNS => "settings.preset_zalo",
        SMS_GATEWAY => "settings.preset_sms",
        _ => "settings.preset_custom",
    }
}

/// One channel's provider form: the stored provider's preset and fields,
/// or, after a refused save, what was typed and what is wrong with it.
/// Secrets are never filled in.
struct ProviderForm {
    /// `sms` or `zalo`.
    channel: &'static str,
    /// The preset this channel's form offers besides custom.
    own_preset: &'static str,
    /// The preset selected.
    preset: &'static str,
    url: String,
    sender: String,
    /// A provider of the selected preset is stored, so a blank token
    /// keeps its token.
    has_secret: bool,
    /// The custom configuration's JSON, header values masked.
    custom: String,
    unit_cost: String,
    currency: String,
    problems: Vec<String>,
}

impl ProviderForm {
    /// The form for what is stored (or nothing yet).
    fn stored(channel: &'static str, setting: Option<&ChannelSetting>) -> ProviderForm {
        let own_preset = if channel == "zalo" {
            ZALO_ZNS
        } else {
            SMS_GATEWAY
        };
        let config: Option<ProviderConfig> =
            setting.and_then(|s| serde_json::from_value(s.config.clone()).ok());
        // A stored provider of the other channel's preset edits as custom.
        let preset = match config.as_ref().map(preset_name) {
            None => own_preset,
            Some(p) if p == own_preset => own_preset,
            Some(_) => CUSTOM,
        };
        ProviderForm {
            channel,
            own_preset,
            preset,
            url: config.as_ref().map(|c| c.url.clone()).unwrap_or_default(),
            sender: config
                .as_ref()
                .and_then(|c| c.sender.clone())
                .unwrap_or_default(),
            has_secret: preset != CUSTOM && config.is_some(),
            custom: config.as_ref().map_or_else(String::new, pretty),
            unit_cost: setting.map_or("0".into(), |s| number(s.unit_cost)),
            currency: setting.map_or("VND".into(), |s| s.currency.clone()),
            problems: Vec::new(),
        }
    }

    fn id(&self) -> String {
        format!("channel-{}", self.channel)
    }

    /// The custom box's placeholder: this channel's preset as JSON, a
    /// place to start from.
    fn example(&self) -> String {
        let example = if self.channel == "zalo" {
            ProviderConfig::zalo_zns("YOUR_ACCESS_TOKEN")
        } else {
            ProviderConfig::generic_sms("https://sms.example.vn/v1/messages", "YOUR_TOKEN")
        };
        serde_json::to_string_pretty(&example).unwrap_or_default()
    }
}

/// A provider's JSON for the custom box, in the fields' own order, its
/// header values masked.
fn pretty(config: &ProviderConfig) -> String {
    serde_json::to_value(config)
        .map(|v| serde_json::to_string_pretty(&masked(&v)).unwrap_or_default())
        .unwrap_or_default()
}

/// A cost as a form field shows it: no `.0` on a whole number.
fn number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        n.to_string()
    }
}

async fn render(
    ctx: &Ctx,
    new_key: Option<String>,
    error: Option<String>,
) -> Result<Response, UiError> {
    render_with(ctx, new_key, error, None).await
}

/// The page, with the channel form whose post was refused (its channel
/// and, for SMS and Zalo, what was typed) showing its problems.
async fn render_with(
    ctx: &Ctx,
    new_key: Option<String>,
    error: Option<String>,
    refused: Option<Refused>,
) -> Result<Response, UiError> {
    let ws = ctx.ws();
    let settings = ctx.store().channel_settings(ws.id).await?;
    let setting = |c: &str| settings.iter().find(|s| s.channel == c);
    let mut providers = [
        ProviderForm::stored("sms", setting("sms")),
        ProviderForm::stored("zalo", setting("zalo")),
    ];
    let mut cost_problems = Vec::new();
    match refused {
        Some(Refused::Provider(form)) => {
            if let Some(slot) = providers.iter_mut().find(|p| p.channel == form.channel) {
                *slot = *form;
            }
        }
        Some(Refused::Cost(problems)) => cost_problems = problems,
        None => {}
    }
    let page = Page {
        shell: ctx.shell("/settings"),
        timezone: ws.timezone.clone(),
        locale: ws.locale.clone(),
        users: ctx.store().workspace_users(ws.id).await?,
        keys: ctx.store().list_api_keys(ws.id).await?,
        channels: settings.iter().map(ChannelRow::new).collect(),
        providers,
        cost_problems,
        relays: ctx.state.mailer.smtp_relays().to_vec(),
        own: ctx.store().smtp_servers(ws.id).await?,
        new_key,
        error,
    };
    Ok(html(page.render()?))
}

/// A channel form's post that was not saved.
enum Refused {
    Provider(Box<ProviderForm>),
    Cost(Vec<String>),
}

pub(super) async fn page(ctx: Ctx) -> Result<Response, UiError> {
    render(&ctx, None, None).await
}

/// Saves a channel's provider (SMS, Zalo) and unit cost, or only the unit
/// cost (e-mail, in-app). The fields: `channel`; `unit_cost`, `currency`;
/// for a provider, `preset` and that preset's fields: `access_token`
/// (Zalo ZNS), `url`, `token`, `sender` (SMS gateway), or `provider`
/// (custom, the JSON). Problems show beside the form, each naming its
/// field; nothing is saved then.
pub(super) async fn save_channel(ctx: Ctx, body: axum::body::Bytes) -> Result<Response, UiError> {
    let f = form_fields(&body);
    let get = |k: &str| f.get(k).map(|s| s.trim().to_string()).unwrap_or_default();
    let channel = get("channel");
    let kind = provider_kind(&channel)?;
    let ws = ctx.ws().id;
    let mut problems = Vec::new();
    let unit_cost = match get("unit_cost").as_str() {
        "" => 0.0,
        raw => match raw.parse::<f64>() {
            Ok(n) if n.is_finite() && n >= 0.0 => n,
            _ => {
                problems.push(format!("unit_cost: '{raw}' is not a number, zero or more"));
                0.0
            }
        },
    };
    let currency = match get("currency").as_str() {
        "" => "VND".to_string(),
        raw => currency(raw).unwrap_or_else(|reason| {
            problems.push(format!("currency: {reason}"));
            raw.to_string()
        }),
    };
    let Some(kind) = kind else {
        if !problems.is_empty() {
            return render_with(&ctx, None, None, Some(Refused::Cost(problems))).await;
        }
        let config = ctx
            .store()
            .channel_settings(ws)
            .await?
            .into_iter()
            .find(|s| s.channel == channel)
            .map_or_else(|| serde_json::json!({}), |s| s.config);
        let setting = ChannelSetting {
            channel,
            config,
            unit_cost,
            currency,
        };
        ctx.store().put_channel_setting(ws, &setting).await?;
        return Ok(Redirect::to("/settings#channels").into_response());
    };

    let stored = stored_provider(&ctx.state, ws, &channel).await?;
    let channel: &'static str = if kind == ChannelKind::Zalo {
        "zalo"
    } else {
        "sms"
    };
    let mut form = ProviderForm::stored(channel, None);
    form.preset = match get("preset").as_str() {
        CUSTOM => CUSTOM,
        _ => form.own_preset,
    };
    form.has_secret = stored
        .as_ref()
        .is_some_and(|s| preset_name(s) == form.preset && form.preset != CUSTOM);
    form.url = get("url");
    form.sender = get("sender");
    form.custom = get("provider");
    form.unit_cost = get("unit_cost");
    form.currency = get("currency");

    let config = from_form(&form, &f, stored.as_ref()).and_then(|config| {
        let config = ProviderConfig {
            unit_cost,
            currency: currency.clone(),
            ..config
        };
        ready(kind, config, stored.as_ref()).map_err(|found| {
            // A preset's only header is its token, which the form names.
            let secret = if form.preset == ZALO_ZNS {
                "access_token"
            } else {
                "token"
            };
            found
                .into_iter()
                .map(|p| match p.strip_prefix("headers:") {
                    Some(rest) if form.preset != CUSTOM => format!("{secret}:{rest}"),
                    _ => p,
                })
                .collect()
        })
    });
    match config {
        Ok(config) if problems.is_empty() => {
            let setting = ChannelSetting {
                channel: channel.to_string(),
                config: serde_json::to_value(&config)
                    .map_err(|e| UiError::Internal(Box::new(e)))?,
                unit_cost,
                currency,
            };
            ctx.store().put_channel_setting(ws, &setting).await?;
            Ok(Redirect::to("/settings#channels").into_response())
        }
        result => {
            problems.extend(result.err().unwrap_or_default());
            form.problems = problems;
            render_with(&ctx, None, None, Some(Refused::Provider(Box::new(form)))).await
        }
    }
}

/// The provider a form's preset and fields describe; a blank token keeps
/// the stored provider's when it is of the same preset.
fn from_form(
    form: &ProviderForm,
    fields: &HashMap<String, String>,
    stored: Option<&ProviderConfig>,
) -> Result<ProviderConfig, Vec<String>> {
    let typed = |k: &str| {
        fields
            .get(k)
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let stored = stored.map(ProviderConfig::preset);
    match form.preset {
        ZALO_ZNS => {
            let token = typed("access_token").or(match stored {
                Some(Preset::ZaloZns { access_token }) => Some(access_token.to_string()),
                _ => None,
            });
            match token {
                Some(token) => Ok(ProviderConfig::zalo_zns(&token)),
                None => Err(vec!["access_token: is required".into()]),
            }
        }
        SMS_GATEWAY => {
            let token = typed("token").or(match stored {
                Some(Preset::GenericSms { bearer_token }) => Some(bearer_token.to_string()),
                _ => None,
            });
            let mut problems = Vec::new();
            if form.url.is_empty() {
                problems.push("url: is required".to_string());
            }
            if token.is_none() {
                problems.push("token: is required".to_string());
            }
            match token {
                Some(token) if problems.is_empty() => Ok(ProviderConfig {
                    sender: typed("sender"),
                    ..ProviderConfig::generic_sms(&form.url, &token)
                }),
                _ => Err(problems),
            }
        }
        _ => serde_json::from_str(&form.custom)
            .map_err(|e| vec![format!("provider: not a provider configuration ({e})")]),
    }
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
