//! SMS and Zalo ZNS through HTTP providers that configuration describes.
//!
//! Every SMS gateway has its own JSON (Vietnam alone has a dozen), and a
//! client per gateway would be code to write and keep up for each one an
//! admin picks. Instead a [`ProviderConfig`] says where to send, which
//! headers to add, a MiniJinja template for the body and where in the reply
//! the message id and the error code are; an [`HttpProvider`] built from it
//! is the [`Channel`] for SMS or Zalo. Zalo's ZNS API is one such provider
//! ([`ProviderConfig::zalo_zns`]); [`ProviderConfig::generic_sms`] is a
//! starting point for the others.
//!
//! The cost is that a provider with an unusual protocol (a signature over
//! the body, a token to refresh first) does not fit; such a provider gets
//! its own `Channel` beside this one.
//!
//! The transport helpers at the bottom (one attempt, its classification,
//! reading a bounded reply) are shared with [`crate::webhook`].

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use minijinja::value::Value;
use minijinja::{AutoEscape, Environment, context};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};
use swell_core::Phone;
use tracing::Instrument;

use crate::channel::{Channel, ChannelKind, DeliveryError, Message, Receipt, SendFuture};

/// The header that carries the idempotency key on every provider request
/// and webhook, for receivers that deduplicate retries by it.
pub const IDEMPOTENCY_KEY: &str = "Idempotency-Key";

/// The name of the body template in a provider's environment.
const BODY: &str = "body";

/// The variables a body template sees.
const VARIABLES: [&str; 6] = [
    "to",
    "text",
    "template_id",
    "params",
    "idempotency_key",
    "sender",
];

/// The most of a reply that is read: enough for any provider's JSON, and a
/// bound on what a misbehaving endpoint can make us hold.
const MAX_REPLY: usize = 64 * 1024;

/// How an HTTP provider is reached and how its replies read. Stored as
/// JSON with the workspace's channels and given through the API; check it
/// with [`ProviderConfig::check`] before saving.
///
/// ```json
/// {
///   "url": "https://sms.example.vn/v1/messages",
///   "headers": {"Authorization": "Bearer sk_live_..."},
///   "body": "{\"to\": {{ to | tojson }}, \"text\": {{ text | tojson }}, \"from\": {{ sender | tojson }}}",
///   "sender": "SWELL",
///   "id_path": "/message_id",
///   "error_path": "/error/code",
///   "error_message_path": "/error/message",
///   "permanent_errors": ["INVALID_NUMBER"],
///   "timeout_ms": 10000,
///   "unit_cost": 750,
///   "currency": "VND"
/// }
/// ```
///
/// How a reply is read: a connection error, a timeout, HTTP 408, 429 or
/// 5xx is temporary (the engine retries with backoff, and the
/// `Idempotency-Key` header lets the provider drop a duplicate); any other
/// 4xx, or a redirect, is permanent. A 2xx is a failure when the value at
/// `error_path` is present and is not `null`, `0`, `"0"`, `false`, `""` or
/// one of `success_codes`; it is permanent when its code is in
/// `permanent_errors`, temporary otherwise. Unknown codes are temporary
/// because retries are few and bounded (see [`Retry`](crate::Retry)):
/// an unlisted permanent error costs a few wasted requests, while an
/// unlisted temporary one marked permanent would lose the message.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct ProviderConfig {
    /// Where requests go (`https://` or, for a gateway on a trusted
    /// network, `http://`).
    pub url: String,
    #[serde(default)]
    pub method: HttpMethod,
    /// Extra headers, such as `Authorization` or Zalo's `access_token`.
    /// `Content-Type` and `Idempotency-Key` are set by Swell.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The body's media type. When it is JSON (`application/json`,
    /// `application/*+json`), every `{{ value }}` in the body prints as a
    /// JSON value (a quoted, escaped string; `null` for nothing), so text
    /// with quotes, newlines or Vietnamese cannot break the document;
    /// `{{ value | tojson }}` says the same explicitly. Otherwise values
    /// print as they are: use `| urlencode` in a form-encoded body.
    #[serde(default = "default_content_type")]
    pub content_type: String,
    /// A MiniJinja template for the request body. It sees `to` (E.164,
    /// `+84912345678`), `text` (an SMS's text), `template_id` and `params`
    /// (a ZNS template and its parameters), `idempotency_key` and `sender`;
    /// the variables a message does not have are `none`.
    pub body: String,
    /// The sender id or brand name registered with the provider, if its API
    /// wants one in the body.
    #[serde(default)]
    pub sender: Option<String>,
    /// A JSON pointer (RFC 6901, `/data/msg_id`) to the provider's message
    /// id in a successful reply, kept to match delivery reports later.
    #[serde(default)]
    pub id_path: Option<String>,
    /// A JSON pointer to the error code in a 2xx reply, for providers that
    /// report failures with HTTP 200 (Zalo's `/error`).
    #[serde(default)]
    pub error_path: Option<String>,
    /// A JSON pointer to the provider's explanation, shown with the code.
    #[serde(default)]
    pub error_message_path: Option<String>,
    /// Values at `error_path` that mean success besides `null`, `0`, `"0"`,
    /// `false` and `""` (e.g. `"100"` for a gateway whose code 100 is
    /// "accepted"). Compared as text: `100` and `"100"` are the same code.
    #[serde(default)]
    pub success_codes: Vec<String>,
    /// Error codes that will not succeed on a retry: a bad number, an
    /// unknown template, a recipient who cannot receive. Compared as text.
    #[serde(default)]
    pub permanent_errors: Vec<String>,
    /// How long one request may take, connection to last byte.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// What one message costs, for the campaign's spend report.
    #[serde(default)]
    pub unit_cost: f64,
    /// The ISO 4217 code of `unit_cost`.
    #[serde(default = "default_currency")]
    pub currency: String,
}

/// The request method. Providers that take a message in the query string
/// of a `GET` are not supported: their URL would have to be a template.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    #[default]
    Post,
    Put,
    Patch,
}

impl From<HttpMethod> for reqwest::Method {
    fn from(method: HttpMethod) -> reqwest::Method {
        match method {
            HttpMethod::Post => reqwest::Method::POST,
            HttpMethod::Put => reqwest::Method::PUT,
            HttpMethod::Patch => reqwest::Method::PATCH,
        }
    }
}

fn default_content_type() -> String {
    "application/json".into()
}

fn default_timeout_ms() -> u64 {
    10_000
}

fn default_currency() -> String {
    "VND".into()
}

/// Zalo ZNS error codes about the recipient or the message, which a retry
/// will not fix: -108 invalid phone number, -109 invalid template id, -111
/// empty and -112 invalid template data, -118 no Zalo account for the
/// number, -119 an account that cannot receive ZNS, -139 a user who
/// refused ZNS. Codes about our side (an expired access token, quota, the
/// night-time ban) stay temporary: they clear without the recipient doing
/// anything.
const ZALO_PERMANENT_ERRORS: [&str; 7] = ["-108", "-109", "-111", "-112", "-118", "-119", "-139"];

impl ProviderConfig {
    /// Zalo's ZNS API: `POST https://business.openapi.zalo.me/message/template`
    /// with the OA's `access_token` header and
    /// `{"phone": "84912345678", "template_id": ..., "template_data": {...},
    /// "tracking_id": ...}`; Zalo answers HTTP 200 with
    /// `{"error": 0, "message": "Success", "data": {"msg_id": ...}}`, or a
    /// negative `error` and its message.
    ///
    /// Access tokens expire after about a day; whatever refreshes the token
    /// updates this header.
    pub fn zalo_zns(access_token: &str) -> ProviderConfig {
        ProviderConfig {
            url: "https://business.openapi.zalo.me/message/template".into(),
            method: HttpMethod::Post,
            headers: BTreeMap::from([("access_token".into(), access_token.into())]),
            content_type: default_content_type(),
            body: concat!(
                r#"{"phone": {{ to | replace("+", "") | tojson }}, "#,
                r#""template_id": {{ template_id | tojson }}, "#,
                r#""template_data": {{ params | tojson }}, "#,
                r#""tracking_id": {{ idempotency_key | tojson }}}"#
            )
            .into(),
            sender: None,
            id_path: Some("/data/msg_id".into()),
            error_path: Some("/error".into()),
            error_message_path: Some("/message".into()),
            success_codes: Vec::new(),
            permanent_errors: ZALO_PERMANENT_ERRORS.map(String::from).to_vec(),
            timeout_ms: default_timeout_ms(),
            unit_cost: 0.0,
            currency: default_currency(),
        }
    }

    /// A JSON SMS API with a bearer token: `{"to": "+84912345678", "text":
    /// ..., "from": sender, "reference": idempotency key}` answered with
    /// `{"message_id": ...}` or `{"error": {"code": ..., "message": ...}}`.
    /// Most gateways differ only in names: start here and rename.
    pub fn generic_sms(url: &str, bearer_token: &str) -> ProviderConfig {
        ProviderConfig {
            url: url.into(),
            method: HttpMethod::Post,
            headers: BTreeMap::from([("Authorization".into(), format!("Bearer {bearer_token}"))]),
            content_type: default_content_type(),
            body: concat!(
                r#"{"to": {{ to | tojson }}, "text": {{ text | tojson }}, "#,
                r#""from": {{ sender | tojson }}, "reference": {{ idempotency_key | tojson }}}"#
            )
            .into(),
            sender: None,
            id_path: Some("/message_id".into()),
            error_path: Some("/error/code".into()),
            error_message_path: Some("/error/message".into()),
            success_codes: Vec::new(),
            permanent_errors: Vec::new(),
            timeout_ms: default_timeout_ms(),
            unit_cost: 0.0,
            currency: default_currency(),
        }
    }

    /// Everything wrong with the configuration, each problem a sentence
    /// naming its field, for the API to show: the URL, headers, pointers and
    /// amounts, and the body, which must compile, use only the known
    /// variables and, for a JSON content type, render valid JSON from text
    /// full of quotes, newlines and Vietnamese.
    pub fn check(&self) -> Result<(), Vec<String>> {
        Compiled::new(self).map(|_| ())
    }

    /// Which preset this configuration is, with its secret: the preset
    /// built from its own token, sender and cost gives it back exactly.
    /// A preset changed in any other way (a renamed field, a longer
    /// timeout) is [`Preset::Custom`], so a settings form that offers only
    /// a preset's few fields never loses what was edited elsewhere.
    pub fn preset(&self) -> Preset<'_> {
        let is = |preset: ProviderConfig| {
            let rebuilt = ProviderConfig {
                sender: self.sender.clone(),
                unit_cost: self.unit_cost,
                currency: self.currency.clone(),
                ..preset
            };
            rebuilt == *self
        };
        if let Some(token) = self.headers.get("access_token")
            && is(ProviderConfig::zalo_zns(token))
        {
            return Preset::ZaloZns {
                access_token: token,
            };
        }
        if let Some(token) = self
            .headers
            .get("Authorization")
            .and_then(|h| h.strip_prefix("Bearer "))
            && is(ProviderConfig::generic_sms(&self.url, token))
        {
            return Preset::GenericSms {
                bearer_token: token,
            };
        }
        Preset::Custom
    }

    /// Puts back the stored value of every header given as
    /// [`SECRET_MASK`], which is what a shown configuration carries in
    /// their place: a configuration read, edited and saved again keeps its
    /// secrets without anyone retyping them. A masked header that `stored`
    /// lacks is a problem naming it: no provider's token is six bullets.
    pub fn keep_secrets(&mut self, stored: Option<&ProviderConfig>) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        for (name, value) in &mut self.headers {
            if value != SECRET_MASK {
                continue;
            }
            let kept = stored.and_then(|s| {
                s.headers
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v)
            });
            match kept {
                Some(v) => v.clone_into(value),
                None => problems.push(format!(
                    "headers: {name} has no stored value to keep; give its value"
                )),
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

/// What stands for a header value wherever a configuration is shown.
pub const SECRET_MASK: &str = "••••••";

/// A stored provider configuration as it may be shown (in the API, on the
/// settings page): every header value is [`SECRET_MASK`], the rest as it
/// is. Works on the JSON as stored, valid or not. Only headers are
/// secrets: a provider that wants its key in the URL or the body has it
/// shown there.
pub fn masked(config: &serde_json::Value) -> serde_json::Value {
    let mut config = config.clone();
    if let Some(headers) = config
        .get_mut("headers")
        .and_then(serde_json::Value::as_object_mut)
    {
        for value in headers.values_mut() {
            *value = SECRET_MASK.into();
        }
    }
    config
}

/// The presets a configuration can be, as [`ProviderConfig::preset`]
/// finds them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset<'a> {
    /// [`ProviderConfig::zalo_zns`].
    ZaloZns { access_token: &'a str },
    /// [`ProviderConfig::generic_sms`].
    GenericSms { bearer_token: &'a str },
    /// Anything else.
    Custom,
}

/// Passwords and tokens live in the headers: their values do not print.
impl fmt::Debug for ProviderConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<&str> = self.headers.keys().map(String::as_str).collect();
        f.debug_struct("ProviderConfig")
            .field("url", &self.url)
            .field("method", &self.method)
            .field("headers", &headers)
            .field("content_type", &self.content_type)
            .field("body", &self.body)
            .field("sender", &self.sender)
            .field("id_path", &self.id_path)
            .field("error_path", &self.error_path)
            .field("error_message_path", &self.error_message_path)
            .field("success_codes", &self.success_codes)
            .field("permanent_errors", &self.permanent_errors)
            .field("timeout_ms", &self.timeout_ms)
            .field("unit_cost", &self.unit_cost)
            .field("currency", &self.currency)
            .finish()
    }
}

/// A configuration an [`HttpProvider`] cannot be made from; the problems
/// are those of [`ProviderConfig::check`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid provider: {}", problems.join("; "))]
pub struct InvalidProvider {
    pub problems: Vec<String>,
}

/// One message for a provider: the variables its body template sees,
/// besides the configuration's `sender`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderRequest {
    pub to: Phone,
    /// An SMS's text.
    pub text: Option<String>,
    /// A ZNS template id.
    pub template_id: Option<String>,
    /// A ZNS template's parameters.
    pub params: BTreeMap<String, String>,
    /// The same on every retry of one logical send; sent in the body where
    /// the template puts it and as the `Idempotency-Key` header.
    pub idempotency_key: String,
}

impl ProviderRequest {
    pub fn sms(to: Phone, text: impl Into<String>, idempotency_key: impl Into<String>) -> Self {
        ProviderRequest {
            to,
            text: Some(text.into()),
            template_id: None,
            params: BTreeMap::new(),
            idempotency_key: idempotency_key.into(),
        }
    }

    pub fn zns(
        to: Phone,
        template_id: impl Into<String>,
        params: BTreeMap<String, String>,
        idempotency_key: impl Into<String>,
    ) -> Self {
        ProviderRequest {
            to,
            text: None,
            template_id: Some(template_id.into()),
            params,
            idempotency_key: idempotency_key.into(),
        }
    }
}

/// An HTTP client for providers and webhooks: no redirects (a provider
/// that redirects a POST is misconfigured, and a webhook must not be
/// steered elsewhere), a 5-second connection timeout, Swell's user agent.
/// Build one per process and clone it: clones share the connection pool.
///
/// Installs ring as the process's TLS provider if none is installed yet
/// (reqwest is built without one and would panic otherwise); `main` does
/// the same first thing, so this matters only to tests and tools.
pub fn http_client() -> Result<reqwest::Client, reqwest::Error> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .user_agent(concat!("Swell/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .build()
}

/// A configured provider, ready to send: the SMS or Zalo [`Channel`].
/// Cheap to clone (one shared allocation).
///
/// On the concrete type, method syntax finds the inherent
/// [`send`](HttpProvider::send) (one [`ProviderRequest`]) before the
/// trait's; write `Channel::send(&provider, key, &message)` for the
/// trait's, or hold the provider as a `dyn Channel`.
#[derive(Clone)]
pub struct HttpProvider(Arc<Inner>);

struct Inner {
    kind: ChannelKind,
    config: ProviderConfig,
    client: reqwest::Client,
    compiled: Compiled,
}

impl HttpProvider {
    /// A provider delivering `kind` (SMS or Zalo) with `client` (see
    /// [`http_client`]); fails with what [`ProviderConfig::check`] finds.
    pub fn new(
        kind: ChannelKind,
        config: ProviderConfig,
        client: reqwest::Client,
    ) -> Result<HttpProvider, InvalidProvider> {
        let mut problems = Vec::new();
        if !matches!(kind, ChannelKind::Sms | ChannelKind::Zalo) {
            problems.push(format!("an HTTP provider delivers SMS or Zalo, not {kind}"));
        }
        let compiled = Compiled::new(&config);
        match compiled {
            Ok(compiled) if problems.is_empty() => Ok(HttpProvider(Arc::new(Inner {
                kind,
                config,
                client,
                compiled,
            }))),
            Ok(_) => Err(InvalidProvider { problems }),
            Err(more) => {
                problems.extend(more);
                Err(InvalidProvider { problems })
            }
        }
    }

    pub fn config(&self) -> &ProviderConfig {
        &self.0.config
    }

    /// Makes one attempt to deliver `request`. See [`ProviderConfig`] for
    /// which failures are temporary; the reason of either names the HTTP
    /// status and the provider's code and message.
    pub async fn send(&self, request: &ProviderRequest) -> Result<Receipt, DeliveryError> {
        let inner = &*self.0;
        let body = inner
            .compiled
            .render(request, inner.config.sender.as_deref())
            .map_err(|e| DeliveryError::Permanent {
                reason: format!("cannot render the request body: {}", describe(&e)),
            })?;
        let timeout = Duration::from_millis(inner.config.timeout_ms);
        let http = inner
            .client
            .request(inner.config.method.into(), inner.compiled.url.clone())
            .headers(inner.compiled.headers.clone())
            .header(IDEMPOTENCY_KEY, request.idempotency_key.as_str())
            .body(body);
        let reply = exchange(http, timeout).await?;
        read_reply(&inner.config, &reply)
    }
}

impl fmt::Debug for HttpProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpProvider")
            .field("kind", &self.0.kind)
            .field("url", &self.0.config.url)
            .finish_non_exhaustive()
    }
}

impl Channel for HttpProvider {
    fn kind(&self) -> ChannelKind {
        self.0.kind
    }

    /// Takes [`Message::Sms`] on an SMS provider and [`Message::Zalo`] on
    /// a Zalo one.
    fn send<'a>(&'a self, idempotency_key: &'a str, message: &'a Message) -> SendFuture<'a> {
        let span =
            tracing::debug_span!("http_provider_send", kind = %self.0.kind, key = idempotency_key);
        Box::pin(
            async move {
                let request = match (self.0.kind, message) {
                    (ChannelKind::Sms, Message::Sms { to, text }) => {
                        ProviderRequest::sms(to.clone(), text.as_str(), idempotency_key)
                    }
                    (
                        ChannelKind::Zalo,
                        Message::Zalo {
                            to,
                            template_id,
                            params,
                        },
                    ) => ProviderRequest::zns(
                        to.clone(),
                        template_id.as_str(),
                        params.clone(),
                        idempotency_key,
                    ),
                    _ => {
                        return Err(DeliveryError::WrongKind {
                            channel: self.0.kind,
                            message: message.kind(),
                        });
                    }
                };
                HttpProvider::send(self, &request).await
            }
            .instrument(span),
        )
    }
}

/// The parts of a configuration that are parsed once: what a send needs
/// ready, and what [`ProviderConfig::check`] proves can be made.
struct Compiled {
    url: reqwest::Url,
    /// The configured headers and `Content-Type`.
    headers: HeaderMap,
    /// Holds the body template, named [`BODY`].
    env: Environment<'static>,
}

impl Compiled {
    fn new(config: &ProviderConfig) -> Result<Compiled, Vec<String>> {
        let mut problems = Vec::new();
        let url = parse_url(&config.url).map_err(|e| problems.push(format!("url: {e}")));
        let headers = header_map(config, &mut problems);
        let json = is_json(&config.content_type);
        let env = body_environment(config.body.clone(), json)
            .map_err(|e| problems.push(format!("body: {}", describe(&e))));
        for (field, pointer) in [
            ("id_path", &config.id_path),
            ("error_path", &config.error_path),
            ("error_message_path", &config.error_message_path),
        ] {
            if let Some(p) = pointer
                && !(p.is_empty() || p.starts_with('/'))
            {
                problems.push(format!(
                    "{field}: '{p}' is not a JSON pointer; write it as '/{}'",
                    p.replace('.', "/")
                ));
            }
        }
        if !(1..=120_000).contains(&config.timeout_ms) {
            problems.push("timeout_ms: must be between 1 and 120000 (two minutes)".into());
        }
        if !(config.unit_cost.is_finite() && config.unit_cost >= 0.0) {
            problems.push("unit_cost: must be a number, zero or more".into());
        }
        if !(config.currency.len() == 3 && config.currency.bytes().all(|b| b.is_ascii_uppercase()))
        {
            problems.push(format!(
                "currency: '{}' is not an ISO 4217 code such as VND or USD",
                config.currency
            ));
        }
        let (Ok(url), Ok(env)) = (url, env) else {
            return Err(problems);
        };
        let compiled = Compiled { url, headers, env };
        if let Err(e) = compiled.check_body(json) {
            problems.push(format!("body: {e}"));
        }
        if problems.is_empty() {
            Ok(compiled)
        } else {
            Err(problems)
        }
    }

    /// Catches at save time what would otherwise fail every send: a
    /// misspelt variable (which renders as nothing) and, for JSON, a body
    /// that does not parse once filled with awkward text (typically
    /// `"{{ text }}"`, quoted by hand).
    fn check_body(&self, json: bool) -> Result<(), String> {
        let template = self.env.get_template(BODY).map_err(|e| describe(&e))?;
        let globals: Vec<String> = self.env.globals().map(|(n, _)| n.to_string()).collect();
        let mut unknown: Vec<String> = template
            .undeclared_variables(false)
            .into_iter()
            .filter(|v| !VARIABLES.contains(&v.as_str()) && !globals.contains(v))
            .collect();
        if !unknown.is_empty() {
            unknown.sort();
            return Err(format!(
                "unknown variable {}; the body sees {}",
                unknown.join(", "),
                VARIABLES.join(", ")
            ));
        }
        let sample = ProviderRequest {
            to: Phone::parse("+84912345678", "VN").expect("a valid sample number"),
            text: Some("Chào \"bạn\" Nguyễn\nMã: A\\1 & <b>50%</b>".into()),
            template_id: Some("248000".into()),
            params: BTreeMap::from([
                ("name".into(), "Nguyễn Thị \"Hoa\"".into()),
                ("code".into(), "A\\1\n2".into()),
            ]),
            idempotency_key: "check:1".into(),
        };
        let body = self
            .render(&sample, Some("SWELL"))
            .map_err(|e| describe(&e))?;
        if json && let Err(e) = serde_json::from_str::<serde_json::Value>(&body) {
            return Err(format!(
                "does not render valid JSON ({e}): {body}; print values bare or with \
                 '| tojson', never inside quotes of your own"
            ));
        }
        Ok(())
    }

    fn render(
        &self,
        request: &ProviderRequest,
        sender: Option<&str>,
    ) -> Result<String, minijinja::Error> {
        let template = self.env.get_template(BODY)?;
        template.render(context! {
            to => request.to.as_str(),
            text => &request.text,
            template_id => &request.template_id,
            params => &request.params,
            idempotency_key => &request.idempotency_key,
            sender => sender,
        })
    }
}

/// Swell's template environment (sandboxed, fuel-bounded, the marketers'
/// filters) with the body as its one template. A JSON body auto-escapes
/// to JSON; any other body prints values as they are, `none` as nothing.
fn body_environment(source: String, json: bool) -> Result<Environment<'static>, minijinja::Error> {
    let mut env = swell_core::template::environment();
    env.set_auto_escape_callback(move |_| {
        if json {
            AutoEscape::Json
        } else {
            AutoEscape::None
        }
    });
    env.set_formatter(|out, state, value: &Value| {
        if *state.auto_escape() == AutoEscape::None && (value.is_none() || value.is_undefined()) {
            return Ok(());
        }
        minijinja::escape_formatter(out, state, value)
    });
    env.add_template_owned(BODY, source)?;
    Ok(env)
}

/// A MiniJinja error and its detail on one line, with the line number.
fn describe(e: &minijinja::Error) -> String {
    let mut text = e.kind().to_string();
    if let Some(detail) = e.detail() {
        text.push_str(": ");
        text.push_str(detail);
    }
    if let Some(line) = e.line() {
        text.push_str(&format!(" (line {line})"));
    }
    text
}

fn is_json(content_type: &str) -> bool {
    let media = content_type.split(';').next().unwrap_or("").trim();
    media.eq_ignore_ascii_case("application/json") || media.to_ascii_lowercase().ends_with("+json")
}

/// An absolute `http` or `https` URL with a host.
pub(crate) fn parse_url(raw: &str) -> Result<reqwest::Url, String> {
    let url = reqwest::Url::parse(raw).map_err(|e| format!("'{raw}' is not a URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("'{raw}' is not an http or https URL"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("'{raw}' has no host"));
    }
    Ok(url)
}

fn header_map(config: &ProviderConfig, problems: &mut Vec<String>) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in &config.headers {
        let Ok(name) = HeaderName::from_bytes(name.as_bytes()) else {
            problems.push(format!("headers: '{name}' is not a header name"));
            continue;
        };
        if name == CONTENT_TYPE || name.as_str().eq_ignore_ascii_case(IDEMPOTENCY_KEY) {
            problems.push(format!(
                "headers: {name} is set by Swell (use content_type for the media type)"
            ));
            continue;
        }
        if headers.contains_key(&name) {
            problems.push(format!("headers: {name} is given twice"));
            continue;
        }
        match HeaderValue::from_str(value) {
            Ok(mut value) => {
                value.set_sensitive(true);
                headers.insert(name, value);
            }
            Err(_) => problems.push(format!(
                "headers: the value of {name} has characters a header cannot hold"
            )),
        }
    }
    match HeaderValue::from_str(&config.content_type) {
        Ok(value) => {
            headers.insert(CONTENT_TYPE, value);
        }
        Err(_) => problems.push(format!(
            "content_type: '{}' is not a media type",
            config.content_type
        )),
    }
    headers
}

/// Reads a provider's reply per its configuration.
fn read_reply(config: &ProviderConfig, reply: &Reply) -> Result<Receipt, DeliveryError> {
    let json: Option<serde_json::Value> = serde_json::from_slice(&reply.body).ok();
    let at = |pointer: &Option<String>| {
        pointer
            .as_deref()
            .and_then(|p| json.as_ref()?.pointer(p))
            .filter(|v| !v.is_null())
    };
    let message = at(&config.error_message_path).map(code_text);
    let error = at(&config.error_path).filter(|code| is_failure(code, &config.success_codes));

    if !reply.status.is_success() {
        let detail = match (error, &message) {
            (Some(code), Some(m)) => format!("error {}: {m}", code_text(code)),
            (Some(code), None) => format!("error {}", code_text(code)),
            (None, Some(m)) => m.clone(),
            (None, None) => snippet(&reply.body),
        };
        return Err(status_failure(reply.status, &detail));
    }
    if let Some(code) = error {
        let code = code_text(code);
        let reason = match &message {
            Some(m) => format!("HTTP {}, error {code}: {m}", reply.status),
            None => format!("HTTP {}, error {code}", reply.status),
        };
        return Err(if config.permanent_errors.contains(&code) {
            DeliveryError::Permanent { reason }
        } else {
            DeliveryError::Temporary { reason }
        });
    }
    if json.is_none() && (config.error_path.is_some() || config.id_path.is_some()) {
        // The status says accepted; a retry could send twice.
        tracing::warn!(status = %reply.status, "provider accepted a message with a reply that is not JSON");
    }
    Ok(Receipt {
        provider_id: at(&config.id_path).map(code_text),
        detail: match message {
            Some(m) => format!("HTTP {}: {m}", reply.status),
            None => format!("HTTP {}", reply.status),
        },
    })
}

/// Whether an error field's value reports a failure.
fn is_failure(code: &serde_json::Value, success_codes: &[String]) -> bool {
    use serde_json::Value as J;
    let failed = match code {
        J::Null => false,
        J::Bool(b) => *b,
        J::Number(n) => n.as_f64() != Some(0.0),
        J::String(s) => !(s.is_empty() || s == "0"),
        J::Array(a) => !a.is_empty(),
        J::Object(o) => !o.is_empty(),
    };
    failed && !success_codes.contains(&code_text(code))
}

/// A JSON value as the text it is compared and shown as: a string without
/// quotes, anything else as JSON.
fn code_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// What came back from one request.
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    /// At most [`MAX_REPLY`] bytes of the body.
    pub(crate) body: Vec<u8>,
}

/// Makes one request and reads its reply, classifying the failures that
/// have no reply: a timeout or a connection that could not be made or
/// broke is temporary; a request that could not be built (a header value
/// a message put there) is permanent.
pub(crate) async fn exchange(
    request: reqwest::RequestBuilder,
    timeout: Duration,
) -> Result<Reply, DeliveryError> {
    let failure = |e: reqwest::Error| {
        let ms = timeout.as_millis();
        if e.is_builder() {
            DeliveryError::Permanent {
                reason: format!("cannot make the request: {e}"),
            }
        } else if e.is_timeout() {
            DeliveryError::Temporary {
                reason: format!("no reply within {ms} ms"),
            }
        } else if e.is_connect() {
            DeliveryError::Temporary {
                reason: format!("cannot connect: {}", error_chain(&e)),
            }
        } else {
            DeliveryError::Temporary {
                reason: error_chain(&e),
            }
        }
    };
    let mut response = request.timeout(timeout).send().await.map_err(failure)?;
    let status = response.status();
    let mut body = Vec::new();
    while body.len() < MAX_REPLY
        && let Some(chunk) = response.chunk().await.map_err(failure)?
    {
        body.extend_from_slice(&chunk[..chunk.len().min(MAX_REPLY - body.len())]);
    }
    Ok(Reply { status, body })
}

/// The failure a non-2xx status means: 408, 429 and 5xx are temporary
/// (the far end is busy or down), the rest permanent (it refuses this
/// request; a redirect means a wrong URL, since none is followed).
pub(crate) fn status_failure(status: StatusCode, detail: &str) -> DeliveryError {
    let reason = if detail.is_empty() {
        format!("HTTP {status}")
    } else {
        format!("HTTP {status}: {detail}")
    };
    let temporary = status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
        || status.is_server_error();
    if temporary {
        DeliveryError::Temporary { reason }
    } else {
        DeliveryError::Permanent { reason }
    }
}

/// The start of a reply body, on one line, for a failure's reason.
pub(crate) fn snippet(body: &[u8]) -> String {
    const MAX_CHARS: usize = 200;
    let text = String::from_utf8_lossy(body);
    let mut words = text.split_whitespace();
    let mut out = String::new();
    for word in words.by_ref() {
        if out.chars().count() + word.chars().count() > MAX_CHARS {
            out.push_str(" ...");
            break;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// An error and its sources, which is where reqwest keeps the cause
/// ("connection refused").
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_pass_their_own_check() {
        assert_eq!(ProviderConfig::zalo_zns("token").check(), Ok(()));
        assert_eq!(
            ProviderConfig::generic_sms("https://sms.example.vn/send", "k").check(),
            Ok(())
        );
    }

    #[test]
    fn the_documented_example_configuration_is_valid() {
        let config: ProviderConfig = serde_json::from_value(serde_json::json!({
          "url": "https://sms.example.vn/v1/messages",
          "headers": {"Authorization": "Bearer sk_live_..."},
          "body": "{\"to\": {{ to | tojson }}, \"text\": {{ text | tojson }}, \"from\": {{ sender | tojson }}}",
          "sender": "SWELL",
          "id_path": "/message_id",
          "error_path": "/error/code",
          "error_message_path": "/error/message",
          "permanent_errors": ["INVALID_NUMBER"],
          "timeout_ms": 10000,
          "unit_cost": 750,
          "currency": "VND"
        }))
        .unwrap();
        assert_eq!(config.check(), Ok(()));
        assert_eq!(config.unit_cost, 750.0);
    }

    #[test]
    fn check_names_each_bad_field() {
        let config = ProviderConfig {
            url: "sms.example.vn/send".into(),
            headers: BTreeMap::from([("Content-Type".into(), "text/plain".into())]),
            id_path: Some("data.msg_id".into()),
            timeout_ms: 0,
            currency: "dong".into(),
            ..ProviderConfig::generic_sms("https://x.example", "k")
        };
        let problems = config.check().unwrap_err();
        let fields: Vec<&str> = problems
            .iter()
            .map(|p| p.split(':').next().unwrap())
            .collect();
        assert_eq!(
            fields,
            ["url", "headers", "id_path", "timeout_ms", "currency"],
            "{problems:?}"
        );
        assert!(problems[2].contains("'/data/msg_id'"), "{problems:?}");
    }

    #[test]
    fn check_rejects_a_body_that_breaks_json_or_names_unknown_variables() {
        let quoted = ProviderConfig {
            body: r#"{"to": "{{ to }}", "text": "{{ text }}"}"#.into(),
            ..ProviderConfig::generic_sms("https://x.example", "k")
        };
        let problems = quoted.check().unwrap_err();
        assert!(
            problems[0].starts_with("body: does not render valid JSON"),
            "{problems:?}"
        );

        let misspelt = ProviderConfig {
            body: r#"{"to": {{ to | tojson }}, "text": {{ txt | tojson }}}"#.into(),
            ..quoted.clone()
        };
        assert_eq!(
            misspelt.check().unwrap_err(),
            [format!(
                "body: unknown variable txt; the body sees {}",
                VARIABLES.join(", ")
            )]
        );

        let broken = ProviderConfig {
            body: "{{ to ".into(),
            ..quoted
        };
        let problems = broken.check().unwrap_err();
        assert!(
            problems[0].starts_with("body: syntax error"),
            "{problems:?}"
        );
    }

    #[test]
    fn a_form_encoded_body_prints_values_as_they_are() {
        let config = ProviderConfig {
            content_type: "application/x-www-form-urlencoded".into(),
            body: "to={{ to | urlencode }}&text={{ text | urlencode }}&from={{ sender }}".into(),
            ..ProviderConfig::generic_sms("https://x.example", "k")
        };
        let compiled = Compiled::new(&config).unwrap();
        let phone = Phone::parse("0912345678", "VN").unwrap();
        let body = compiled
            .render(
                &ProviderRequest::sms(phone, "Chào bạn & hẹn gặp", "k1"),
                None,
            )
            .unwrap();
        assert_eq!(
            body,
            "to=%2B84912345678&text=Ch%C3%A0o%20b%E1%BA%A1n%20%26%20h%E1%BA%B9n%20g%E1%BA%B7p&from="
        );
    }

    #[test]
    fn a_body_that_loops_forever_runs_out_of_fuel() {
        let config = ProviderConfig {
            body: "{% for i in range(10000) %}{% for j in range(10000) %}{{ text }}{% endfor %}{% endfor %}"
                .into(),
            content_type: "text/plain".into(),
            ..ProviderConfig::generic_sms("https://x.example", "k")
        };
        let problems = config.check().unwrap_err();
        assert!(problems[0].contains("fuel"), "{problems:?}");
    }

    #[test]
    fn error_fields_fail_unless_empty_zero_or_a_success_code() {
        let none: [String; 0] = [];
        for ok in [
            serde_json::json!(null),
            serde_json::json!(0),
            serde_json::json!("0"),
            serde_json::json!(false),
            serde_json::json!(""),
            serde_json::json!({}),
        ] {
            assert!(!is_failure(&ok, &none), "{ok}");
        }
        for failed in [
            serde_json::json!(-108),
            serde_json::json!("E42"),
            serde_json::json!(true),
            serde_json::json!({"code": 1}),
        ] {
            assert!(is_failure(&failed, &none), "{failed}");
        }
        assert!(!is_failure(&serde_json::json!(100), &["100".to_string()]));
    }

    #[test]
    fn the_configuration_round_trips_through_json_with_defaults() {
        let config: ProviderConfig = serde_json::from_str(
            r#"{"url": "https://sms.example.vn/send", "body": "{{ text | tojson }}"}"#,
        )
        .unwrap();
        assert_eq!(config.method, HttpMethod::Post);
        assert_eq!(config.content_type, "application/json");
        assert_eq!(config.timeout_ms, 10_000);
        assert_eq!(config.currency, "VND");
        let zalo = ProviderConfig::zalo_zns("secret-token");
        let back: ProviderConfig =
            serde_json::from_value(serde_json::to_value(&zalo).unwrap()).unwrap();
        assert_eq!(back, zalo);
        assert!(!format!("{zalo:?}").contains("secret-token"));
    }

    #[test]
    fn presets_are_recognised_with_their_secret_and_nothing_else_is() {
        let zalo = ProviderConfig {
            unit_cost: 300.0,
            ..ProviderConfig::zalo_zns("oa-token")
        };
        assert_eq!(
            zalo.preset(),
            Preset::ZaloZns {
                access_token: "oa-token"
            }
        );
        let sms = ProviderConfig {
            sender: Some("SHOP".into()),
            currency: "USD".into(),
            ..ProviderConfig::generic_sms("https://sms.example.vn/send", "sk_1")
        };
        assert_eq!(
            sms.preset(),
            Preset::GenericSms {
                bearer_token: "sk_1"
            }
        );
        let edited = ProviderConfig {
            timeout_ms: 3_000,
            ..sms.clone()
        };
        assert_eq!(edited.preset(), Preset::Custom);
    }

    #[test]
    fn masked_headers_keep_the_stored_values_and_show_as_the_mask() {
        let stored = ProviderConfig::zalo_zns("oa-token");
        let shown = masked(&serde_json::to_value(&stored).unwrap());
        assert_eq!(shown["headers"]["access_token"], SECRET_MASK);
        assert!(!shown.to_string().contains("oa-token"));

        let mut again: ProviderConfig = serde_json::from_value(shown).unwrap();
        again.keep_secrets(Some(&stored)).unwrap();
        assert_eq!(again, stored);

        let mut fresh = ProviderConfig {
            headers: BTreeMap::from([("X-Key".into(), SECRET_MASK.into())]),
            ..stored.clone()
        };
        let problems = fresh.keep_secrets(Some(&stored)).unwrap_err();
        assert!(problems[0].starts_with("headers: X-Key"), "{problems:?}");
    }

    #[test]
    fn snippets_are_one_bounded_line() {
        assert_eq!(snippet(b"  bad\n\nrequest  "), "bad request");
        let long = "word ".repeat(100);
        let s = snippet(long.as_bytes());
        assert!(s.len() < 210 && s.ends_with(" ..."), "{s}");
    }
}
