//! Delivery: the channel interface every send goes through, e-mail MIME
//! building and DKIM signing, the SMTP transport, SMS and Zalo over HTTP
//! providers, and signed webhooks.
//!
//! - [`channel`]: the [`Channel`] trait the engine talks to, whatever the
//!   medium (email, SMS, Zalo, webhook, in-app).
//! - [`email`]: an [`OutgoingEmail`] and [`build_mime`], which writes the
//!   message in one pass into one buffer and signs it with a [`DkimKey`].
//! - [`dkim`]: DKIM keys and signing (relaxed/relaxed, RSA or Ed25519).
//! - [`smtp`]: pooled connections to several relays with weights, failover
//!   and per-server rate limits, and the [`SmtpChannel`] built on them.
//! - [`http`]: SMS and Zalo ZNS through HTTP providers described by a
//!   [`ProviderConfig`] (URL, headers, a body template, where the reply
//!   keeps the message id and the error), and the [`HttpProvider`] channel.
//! - [`webhook`]: JSON POSTed with an HMAC signature ([`Webhook`]), and
//!   [`verify_signature`] for whoever receives one.
//! - [`retry`]: the backoff schedule for temporary failures.

pub mod channel;
pub mod dkim;
pub mod email;
pub mod http;
pub mod retry;
pub mod smtp;
pub mod webhook;

pub use channel::{Channel, ChannelKind, DeliveryError, Message, Receipt, SendFuture};
pub use dkim::DkimKey;
pub use email::{Mailbox, OutgoingEmail, build_mime, new_message_id};
pub use http::{
    HttpMethod, HttpProvider, IDEMPOTENCY_KEY, InvalidProvider, Preset, ProviderConfig,
    ProviderRequest, SECRET_MASK, http_client, masked,
};
pub use retry::Retry;
pub use smtp::{Delivered, RelayInfo, SendError, SmtpChannel, SmtpServer, SmtpTransport, Tls};
pub use webhook::{
    SIGNATURE_HEADER, SigningSecret, TIMESTAMP_HEADER, Webhook, sign, verify_signature,
};
