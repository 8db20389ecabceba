//! The one interface every channel implements.
//!
//! The engine hands a [`Message`] and an idempotency key to a
//! `dyn Channel` and learns whether it went out, may be tried again, or
//! never will. Rate limits across channels, retries (see
//! [`Retry`](crate::Retry)) and the bookkeeping of idempotency keys live
//! around this trait in the engine, not in each channel.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;

use serde::{Deserialize, Serialize};
use swell_core::Phone;

use crate::email::OutgoingEmail;
use crate::webhook::SigningSecret;

/// The medium a channel delivers through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelKind {
    Email,
    Sms,
    Zalo,
    Webhook,
    InApp,
}

impl ChannelKind {
    /// The name used in configuration, the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Email => "email",
            ChannelKind::Sms => "sms",
            ChannelKind::Zalo => "zalo",
            ChannelKind::Webhook => "webhook",
            ChannelKind::InApp => "inapp",
        }
    }
}

impl fmt::Display for ChannelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a channel is asked to deliver, rendered and addressed: templates
/// have been filled in before a message is made. One variant per kind of
/// payload; the in-app payload joins with its channel.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Message {
    Email(OutgoingEmail),
    /// A text message; the sender id (brand name) belongs to the provider
    /// account, see [`ProviderConfig::sender`](crate::ProviderConfig::sender).
    Sms {
        to: Phone,
        text: String,
    },
    /// A Zalo ZNS message: a template approved at Zalo and its parameters.
    Zalo {
        to: Phone,
        template_id: String,
        params: BTreeMap<String, String>,
    },
    /// A JSON document POSTed to a URL, signed with `secret` (see
    /// [`Webhook`](crate::Webhook)).
    Webhook {
        url: String,
        secret: SigningSecret,
        payload: serde_json::Value,
    },
}

impl Message {
    /// The kind of channel that can deliver this message.
    pub fn kind(&self) -> ChannelKind {
        match self {
            Message::Email(_) => ChannelKind::Email,
            Message::Sms { .. } => ChannelKind::Sms,
            Message::Zalo { .. } => ChannelKind::Zalo,
            Message::Webhook { .. } => ChannelKind::Webhook,
        }
    }
}

/// Proof that a channel accepted a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The id the message is known by downstream, for matching bounces,
    /// delivery reports and replies later (an e-mail's `Message-ID`, an
    /// SMS provider's message id).
    pub provider_id: Option<String>,
    /// What the far end said, for the delivery log (e.g. an SMTP relay's
    /// `250 2.0.0 Ok: queued as 4F1C2`).
    pub detail: String,
}

/// Why a message did not go out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// May succeed later: the caller retries with backoff.
    #[error("temporary failure: {reason}")]
    Temporary { reason: String },
    /// Will not succeed: the caller records it on the recipient and does
    /// not retry.
    #[error("permanent failure: {reason}")]
    Permanent { reason: String },
    /// The message is of a kind this channel does not deliver: a routing
    /// bug in the caller.
    #[error("a {channel} channel cannot deliver a {message} message")]
    WrongKind {
        channel: ChannelKind,
        message: ChannelKind,
    },
}

/// The future a [`Channel::send`] returns: boxed so that the trait stays
/// object-safe and the engine can hold a `Vec<Box<dyn Channel>>`; one
/// allocation per send is noise next to a network round trip.
pub type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<Receipt, DeliveryError>> + Send + 'a>>;

/// A way of reaching a person. Implementations do one attempt per call;
/// retrying is the caller's job.
pub trait Channel: Send + Sync {
    /// The medium, for routing and reporting.
    fn kind(&self) -> ChannelKind;

    /// Delivers one message.
    ///
    /// `idempotency_key` identifies the logical send (e.g. a campaign
    /// trace and step) and is the same on every retry of it: channels
    /// whose provider deduplicates by key pass it on, the others record
    /// it in their logs.
    fn send<'a>(&'a self, idempotency_key: &'a str, message: &'a Message) -> SendFuture<'a>;
}
