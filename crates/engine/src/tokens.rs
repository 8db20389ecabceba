//! Signed tracking tokens: what an open pixel, a tracked link, an
//! unsubscribe link or a web view names, and a MAC that makes a changed
//! or forged one worthless.
//!
//! A token is `payload.mac`, both base64url. The payload names the kind,
//! the message (whose row names the recipient) and, for a click, the link
//! and the URL it goes to; the MAC is HMAC-SHA256 over the payload with
//! the server's key, cut to 16 bytes and compared in constant time.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// What a token stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    Open {
        message: i64,
    },
    Click {
        message: i64,
        link: i64,
        url: String,
    },
    Unsubscribe {
        message: i64,
    },
    View {
        message: i64,
    },
}

impl Token {
    pub fn message(&self) -> i64 {
        match self {
            Token::Open { message }
            | Token::Click { message, .. }
            | Token::Unsubscribe { message }
            | Token::View { message } => *message,
        }
    }

    fn payload(&self) -> String {
        match self {
            Token::Open { message } => format!("o:{message}"),
            Token::Click { message, link, url } => format!("c:{message}:{link}:{url}"),
            Token::Unsubscribe { message } => format!("u:{message}"),
            Token::View { message } => format!("v:{message}"),
        }
    }

    fn from_payload(p: &str) -> Option<Token> {
        let (kind, rest) = p.split_once(':')?;
        match kind {
            "o" => Some(Token::Open {
                message: rest.parse().ok()?,
            }),
            "u" => Some(Token::Unsubscribe {
                message: rest.parse().ok()?,
            }),
            "v" => Some(Token::View {
                message: rest.parse().ok()?,
            }),
            "c" => {
                let mut parts = rest.splitn(3, ':');
                let message = parts.next()?.parse().ok()?;
                let link = parts.next()?.parse().ok()?;
                let url = parts.next()?.to_string();
                Some(Token::Click { message, link, url })
            }
            _ => None,
        }
    }
}

const MAC_LEN: usize = 16;

/// Signs and checks tokens with one key.
#[derive(Clone)]
pub struct Tokens {
    key: Vec<u8>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tokens(..)")
    }
}

impl Tokens {
    pub fn new(key: &[u8]) -> Tokens {
        Tokens { key: key.to_vec() }
    }

    fn mac(&self) -> Hmac<Sha256> {
        Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes keys of any length")
    }

    pub fn sign(&self, token: &Token) -> String {
        let payload = token.payload();
        let mut mac = self.mac();
        mac.update(payload.as_bytes());
        let tag = mac.finalize().into_bytes();
        format!("{}.{}", B64.encode(payload), B64.encode(&tag[..MAC_LEN]))
    }

    /// The token's meaning, or None when it is malformed or its MAC does
    /// not match.
    pub fn verify(&self, s: &str) -> Option<Token> {
        let (payload, tag) = s.split_once('.')?;
        let payload = B64.decode(payload).ok()?;
        let tag = B64.decode(tag).ok()?;
        let mut mac = self.mac();
        mac.update(&payload);
        mac.verify_truncated_left(&tag).ok()?;
        if tag.len() != MAC_LEN {
            return None;
        }
        Token::from_payload(std::str::from_utf8(&payload).ok()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_changes_are_refused() {
        let t = Tokens::new(b"k1");
        let click = Token::Click {
            message: 42,
            link: 3,
            url: "https://shop.vn/a?b=c:d".into(),
        };
        for token in [
            Token::Open { message: 7 },
            click.clone(),
            Token::Unsubscribe { message: 9 },
            Token::View { message: 1 },
        ] {
            let s = t.sign(&token);
            assert_eq!(t.verify(&s), Some(token));
        }
        let s = t.sign(&click);
        // Another key, another message id, a cut MAC: all refused.
        assert_eq!(Tokens::new(b"k2").verify(&s), None);
        let (_, tag) = s.split_once('.').unwrap();
        let forged = format!("{}.{tag}", B64.encode("c:43:3:https://shop.vn/a?b=c:d"));
        assert_eq!(t.verify(&forged), None);
        assert_eq!(t.verify(&s[..s.len() - 2]), None);
        assert_eq!(t.verify("garbage"), None);
    }
}

/// A new random secret for URLs that open something by themselves (an
/// inbound webhook): 192 random bits, URL-safe.
pub fn random_secret() -> String {
    use base64::Engine as _;
    let bytes: [u8; 24] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
