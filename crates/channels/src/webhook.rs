//! Outbound webhooks: a JSON document POSTed to a URL the user gives,
//! signed so the receiver can tell it came from us and was not altered.
//!
//! The signature is HMAC-SHA256 over `"<timestamp>.<body>"`, sent as
//! `X-Swell-Signature: sha256=<hex>` beside `X-Swell-Timestamp: <unix
//! seconds>`, the scheme Stripe and Slack made familiar: receivers can
//! check it with a few lines in any language, and signing the timestamp
//! with the body lets them refuse a captured request replayed later (by
//! rejecting timestamps older than a few minutes). The body is sent byte
//! for byte as signed; receivers must verify the raw bytes, not a
//! re-serialisation.

use std::fmt;
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use reqwest::header::CONTENT_TYPE;
use sha2::Sha256;
use tracing::Instrument;

use crate::channel::{Channel, ChannelKind, DeliveryError, Message, Receipt, SendFuture};
use crate::http::{IDEMPOTENCY_KEY, exchange, parse_url, snippet, status_failure};

/// The header with the signing time, in Unix seconds.
pub const TIMESTAMP_HEADER: &str = "X-Swell-Timestamp";
/// The header with `sha256=` and the hex HMAC.
pub const SIGNATURE_HEADER: &str = "X-Swell-Signature";

/// How long a webhook may take unless set otherwise: long enough for a
/// receiver that does its work before answering, short enough that a dead
/// one does not hold a worker.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// A webhook's signing secret; does not print in logs or debug output.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningSecret(Vec<u8>);

impl SigningSecret {
    pub fn new(secret: impl Into<Vec<u8>>) -> SigningSecret {
        SigningSecret(secret.into())
    }

    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"********\"")
    }
}

/// Sends webhooks; the webhook [`Channel`]. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Webhook {
    client: reqwest::Client,
    timeout: Duration,
}

impl Webhook {
    /// Webhooks sent with `client` (see [`http_client`](crate::http_client):
    /// it follows no redirects), each allowed [`DEFAULT_TIMEOUT`].
    pub fn new(client: reqwest::Client) -> Webhook {
        Webhook {
            client,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    pub fn with_timeout(self, timeout: Duration) -> Webhook {
        Webhook { timeout, ..self }
    }

    /// POSTs `payload` to `url`, signed with `secret`, in one attempt.
    ///
    /// Any 2xx is success. A timeout, a connection failure, HTTP 408, 429
    /// or 5xx is temporary; a URL that does not parse, any other 4xx or a
    /// redirect is permanent. The reason names the status and the start
    /// of the receiver's reply.
    pub async fn send(
        &self,
        url: &str,
        secret: &[u8],
        payload: &serde_json::Value,
        idempotency_key: &str,
    ) -> Result<Receipt, DeliveryError> {
        let url = parse_url(url).map_err(|reason| DeliveryError::Permanent { reason })?;
        let body = serde_json::to_vec(payload).expect("a JSON value serialises");
        let timestamp = jiff::Timestamp::now().as_second().to_string();
        let signature = sign(secret, &timestamp, &body);
        let request = self
            .client
            .post(url)
            .header(CONTENT_TYPE, "application/json")
            .header(IDEMPOTENCY_KEY, idempotency_key)
            .header(TIMESTAMP_HEADER, timestamp)
            .header(SIGNATURE_HEADER, signature)
            .body(body);
        let reply = exchange(request, self.timeout).await?;
        if !reply.status.is_success() {
            return Err(status_failure(reply.status, &snippet(&reply.body)));
        }
        Ok(Receipt {
            provider_id: None,
            detail: format!("HTTP {}", reply.status),
        })
    }
}

impl Channel for Webhook {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Webhook
    }

    /// Takes [`Message::Webhook`].
    fn send<'a>(&'a self, idempotency_key: &'a str, message: &'a Message) -> SendFuture<'a> {
        let span = tracing::debug_span!("webhook_send", key = idempotency_key);
        Box::pin(
            async move {
                let Message::Webhook {
                    url,
                    secret,
                    payload,
                } = message
                else {
                    return Err(DeliveryError::WrongKind {
                        channel: ChannelKind::Webhook,
                        message: message.kind(),
                    });
                };
                Webhook::send(self, url, secret.expose(), payload, idempotency_key).await
            }
            .instrument(span),
        )
    }
}

/// The `X-Swell-Signature` value for `body` sent at `timestamp` (Unix
/// seconds, as written in `X-Swell-Timestamp`): `sha256=` and the
/// lowercase hex HMAC-SHA256 of `"<timestamp>.<body>"`.
pub fn sign(secret: &[u8], timestamp: &str, body: &[u8]) -> String {
    let digest = mac(secret, timestamp, body).finalize().into_bytes();
    let mut out = String::with_capacity(7 + 2 * digest.len());
    out.push_str("sha256=");
    for byte in digest {
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

/// Whether `header` (an `X-Swell-Signature` value) signs `body` sent at
/// `timestamp` with `secret`. Compares in constant time, so a forger
/// learns nothing from how long a wrong guess takes.
///
/// This checks authenticity only: a receiver should also refuse a
/// `timestamp` more than a few minutes from its clock, which stops a
/// captured request from being replayed.
pub fn verify_signature(secret: &[u8], timestamp: &str, body: &[u8], header: &str) -> bool {
    let Some(expected) = header.trim().strip_prefix("sha256=").and_then(decode_hex) else {
        return false;
    };
    mac(secret, timestamp, body).verify_slice(&expected).is_ok()
}

fn mac(secret: &[u8], timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_and_any_change_breaks_it() {
        let body = br#"{"event":"order.paid","total":150000}"#;
        let header = sign(b"whsec", "1767225600", body);
        assert!(header.starts_with("sha256=") && header.len() == 7 + 64);
        assert!(verify_signature(b"whsec", "1767225600", body, &header));
        assert!(verify_signature(
            b"whsec",
            "1767225600",
            body,
            &header.to_uppercase().replace("SHA256=", "sha256=")
        ));
        assert!(!verify_signature(b"whsec", "1767225601", body, &header));
        assert!(!verify_signature(b"other", "1767225600", body, &header));
        assert!(!verify_signature(b"whsec", "1767225600", b"{}", &header));
        assert!(!verify_signature(
            b"whsec",
            "1767225600",
            body,
            &header[7..]
        ));
        assert!(!verify_signature(b"whsec", "1767225600", body, "sha256=zz"));
        assert!(!verify_signature(
            b"whsec",
            "1767225600",
            body,
            &header[..header.len() - 2]
        ));
    }

    #[test]
    fn the_signature_is_hmac_sha256_of_timestamp_dot_body() {
        // From `printf '%s' '1.{}' | openssl dgst -sha256 -hmac key`.
        assert_eq!(
            sign(b"key", "1", b"{}"),
            "sha256=1ba6b8171186efc613e8bcc0cbdab2748f24984d7c5a84faa2637afa0e40d224"
        );
    }

    #[test]
    fn the_secret_does_not_print() {
        assert_eq!(
            format!("{:?}", SigningSecret::new("s3cret")),
            "\"********\""
        );
    }
}
