//! Sending over SMTP: several relays with weights, failover, per-relay
//! connection pools and rate limits, and the e-mail [`Channel`] on top.
//!
//! Lettre speaks the protocol (`AsyncSmtpConnection`: EHLO, STARTTLS,
//! AUTH, each command and its reply, the dot-stuffed message); the pool of
//! open connections and the transaction are ours, for four reasons found
//! in lettre 0.11's `AsyncSmtpTransport`:
//!
//! - Its pool hands a finished connection back from a spawned task, so a
//!   message sent right after another usually finds the pool empty and
//!   opens a new connection; it sends `NOOP` before every reuse; and it
//!   bounds the idle connections, not the open ones. Here a connection is
//!   back in the pool before its send returns, is checked with `NOOP` only
//!   after idling for [`CHECK_AFTER`], and at most `max_connections` are
//!   open per relay.
//! - Its sockets keep Nagle's algorithm on, and it writes the final `.`
//!   apart from the message, so every message waits for the relay's
//!   delayed ACK (40 ms on Linux: 25 messages a second per connection).
//!   We open the TCP connection ourselves with `TCP_NODELAY`.
//! - Its `send` closes the connection after any error reply and does not
//!   say which command the reply answered. We read the replies to `MAIL`,
//!   `RCPT` and `DATA` one by one, so a refused sender is the relay's
//!   problem while a refused recipient is the recipient's, and `RSET`
//!   keeps the connection.
//! - It does not pipeline: each command waits for its reply, four round
//!   trips a message. A relay that offers PIPELINING (RFC 2920) gets
//!   `MAIL`, `RCPT` and `DATA` in one write here, then the message: two.

use std::fmt;
use std::iter;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use lettre::Address;
use lettre::transport::smtp::Error as SmtpError;
use lettre::transport::smtp::authentication::{Credentials, DEFAULT_MECHANISMS};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::commands::{Data, Mail, Rcpt, Rset};
use lettre::transport::smtp::extension::{ClientId, Extension, MailBodyParameter, MailParameter};
use lettre::transport::smtp::response::{Response, Severity};
use serde::{Deserialize, Serialize};
use swell_core::Email;
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tracing::Instrument;

use crate::channel::{Channel, ChannelKind, DeliveryError, Message, Receipt, SendFuture};
use crate::dkim::DkimKey;
use crate::email::build_mime;

/// One relay, as configured under `[[smtp]]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmtpServer {
    /// A name for logs and the delivery record, such as `"ses-eu"`.
    pub name: String,
    pub host: String,
    /// Usually 587 with STARTTLS, 465 with TLS, 25 between servers.
    pub port: u16,
    #[serde(default)]
    pub tls: Tls,
    /// Accepts any certificate and host name: only for a self-hosted relay
    /// with a self-signed certificate, on a network you trust.
    #[serde(default)]
    pub accept_invalid_certs: bool,
    pub username: Option<String>,
    pub password: Option<Password>,
    /// Share of messages: a relay of weight 3 next to one of weight 1 gets
    /// three messages in four. Weight 0 makes a backup, used only when the
    /// others fail.
    #[serde(default = "default_weight")]
    pub weight: u32,
    /// Connections open at once to this relay, and kept open between
    /// messages.
    #[serde(default = "default_max_connections")]
    pub max_connections: u32,
    /// Messages a second this relay accepts from us (a provider's sending
    /// quota); unlimited when absent. Sends wait for their turn.
    pub rate_per_second: Option<u32>,
}

/// A relay as an admin sees it: its settings, and whether a password is
/// set, never the password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RelayInfo {
    pub name: String,
    pub host: String,
    pub port: u16,
    pub tls: Tls,
    pub username: Option<String>,
    pub has_password: bool,
    pub weight: u32,
    pub max_connections: u32,
    pub rate_per_second: Option<u32>,
}

impl RelayInfo {
    fn of(s: &SmtpServer) -> RelayInfo {
        RelayInfo {
            name: s.name.clone(),
            host: s.host.clone(),
            port: s.port,
            tls: s.tls,
            username: s.username.clone(),
            has_password: s.password.is_some(),
            weight: s.weight,
            max_connections: s.max_connections,
            rate_per_second: s.rate_per_second,
        }
    }
}

fn default_weight() -> u32 {
    1
}

fn default_max_connections() -> u32 {
    4
}

/// How the connection to a relay is secured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tls {
    /// Plain text: only for a relay on the same host or a trusted network.
    None,
    /// Plain text upgraded with STARTTLS, which the relay must offer.
    #[default]
    StartTls,
    /// TLS from the first byte (port 465).
    Tls,
}

/// A password that does not print in logs or debug output.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Password(String);

impl Password {
    pub fn new(password: impl Into<String>) -> Password {
        Password(password.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"********\"")
    }
}

/// A configuration that cannot make a transport.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("no SMTP server is configured")]
    NoServers,
    #[error("SMTP server {server}: {reason}")]
    Invalid { server: String, reason: String },
}

/// A message a relay accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// The [`SmtpServer::name`] of the relay that took it.
    pub server: Arc<str>,
    /// Its final reply, such as `250 2.0.0 Ok: queued as 4F1C2`.
    pub reply: String,
}

/// Why no relay accepted a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// A 4xx reply, a refused or dropped connection, a timeout, a relay
    /// that refused us before the recipient (greeting, TLS, AUTH, MAIL
    /// FROM): every relay was tried; retry later with backoff. `code` is
    /// the relay's reply code, if it answered.
    #[error("temporary failure ({}): {reply}", code_or_no_reply(*.code))]
    Temporary { code: Option<u16>, reply: String },
    /// A 5xx reply to RCPT TO, DATA or the message: record it on the
    /// recipient and do not retry.
    #[error("permanent failure ({code}): {reply}")]
    Permanent { code: u16, reply: String },
}

fn code_or_no_reply(code: Option<u16>) -> String {
    code.map_or_else(|| "no reply".into(), |c| c.to_string())
}

impl From<SendError> for DeliveryError {
    fn from(error: SendError) -> DeliveryError {
        match error {
            SendError::Temporary { .. } => DeliveryError::Temporary {
                reason: error.to_string(),
            },
            SendError::Permanent { code, reply } => DeliveryError::Permanent {
                reason: format!("{code} {reply}"),
            },
        }
    }
}

/// Sends raw messages through a set of relays.
///
/// Each message goes to one relay chosen by weight (smooth weighted
/// round-robin: deterministic, and spread evenly rather than in runs); if
/// that relay cannot take it for a reason of its own (connection, TLS,
/// authentication, a refused sender, any 4xx reply), the others are tried
/// in configuration order before the message is given back as a
/// [`SendError::Temporary`]. A 5xx reply to the recipient or to the
/// message itself is about the message, so it is returned at once.
pub struct SmtpTransport {
    relays: Vec<Relay>,
    /// The relays as configured, passwords left out, for the settings page.
    info: Vec<RelayInfo>,
    /// Smooth weighted round-robin state: each relay's current weight.
    current: Mutex<Vec<i64>>,
    total_weight: i64,
}

impl SmtpTransport {
    /// One connection pool per server; `hello_name` is the name we give in
    /// `EHLO` (the sending host's public name, which spam filters compare
    /// with its reverse DNS). Connections open on the first send.
    pub fn new(servers: Vec<SmtpServer>, hello_name: &str) -> Result<SmtpTransport, ConfigError> {
        if servers.is_empty() {
            return Err(ConfigError::NoServers);
        }
        let info = servers.iter().map(RelayInfo::of).collect();
        let relays = servers
            .into_iter()
            .map(|server| Relay::new(server, hello_name))
            .collect::<Result<Vec<_>, _>>()?;
        let total_weight = relays.iter().map(|r| r.weight).sum();
        Ok(SmtpTransport {
            current: Mutex::new(vec![0; relays.len()]),
            relays,
            info,
            total_weight,
        })
    }

    /// The relays, in configuration order, without their passwords.
    pub fn relays(&self) -> &[RelayInfo] {
        &self.info
    }

    /// Sends `raw_mime` from `envelope_from` (the bounce address) to
    /// `envelope_to`.
    pub async fn send_raw(
        &self,
        envelope_from: &Email,
        envelope_to: &Email,
        raw_mime: &[u8],
    ) -> Result<Delivered, SendError> {
        let envelope = (address(envelope_from)?, address(envelope_to)?);
        let first = self.pick();
        let order = iter::once(first).chain((0..self.relays.len()).filter(move |&i| i != first));
        let mut last = None;
        for index in order {
            let relay = &self.relays[index];
            match relay.send(&envelope, raw_mime).await {
                Ok(reply) => {
                    return Ok(Delivered {
                        server: Arc::clone(&relay.name),
                        reply,
                    });
                }
                Err(Failure::Message(error)) => return Err(error),
                Err(Failure::Relay(error)) => {
                    tracing::warn!(server = %relay.name, %error, "SMTP relay failed, trying the next");
                    last = Some(error);
                }
            }
        }
        Err(last.expect("there is at least one relay"))
    }

    /// Closes every pooled connection politely (`QUIT`).
    pub async fn shutdown(&self) {
        for relay in &self.relays {
            relay.shutdown().await;
        }
    }

    /// The relay for the next message, by smooth weighted round-robin
    /// (the algorithm of nginx's upstreams).
    fn pick(&self) -> usize {
        if self.total_weight == 0 {
            return 0;
        }
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        let mut best = 0;
        for (i, relay) in self.relays.iter().enumerate() {
            current[i] += relay.weight;
            if current[i] > current[best] {
                best = i;
            }
        }
        current[best] -= self.total_weight;
        best
    }
}

impl fmt::Debug for SmtpTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<_> = self.relays.iter().map(|r| &*r.name).collect();
        f.debug_struct("SmtpTransport")
            .field("relays", &names)
            .finish_non_exhaustive()
    }
}

/// The envelope sender and recipient: from, to.
type Envelope = (Address, Address);

fn address(email: &Email) -> Result<Address, SendError> {
    email
        .as_str()
        .parse::<Address>()
        .map_err(|e| SendError::Permanent {
            code: 553,
            reply: format!("5.1.3 {email} cannot be used in an SMTP envelope: {e}"),
        })
}

/// One relay: how to reach it, its open connections and its limits.
struct Relay {
    name: Arc<str>,
    weight: i64,
    host: String,
    port: u16,
    security: Security,
    credentials: Option<Credentials>,
    hello: ClientId,
    /// One permit per connection that may be open at once.
    slots: Semaphore,
    /// Open connections waiting for a message, the most recently used
    /// last.
    idle: Mutex<Vec<Idle>>,
    limiter: Option<DefaultDirectRateLimiter>,
}

/// How a relay's connections are secured, with the TLS settings built once.
enum Security {
    None,
    StartTls(TlsParameters),
    Tls(TlsParameters),
}

struct Idle {
    connection: Connection,
    since: Instant,
}

/// An open connection and whether the relay takes pipelined commands
/// (RFC 2920), which lettre does not record.
struct Connection {
    smtp: AsyncSmtpConnection,
    pipelining: bool,
}

/// A parked connection that has idled longer than this is checked with
/// `NOOP` before it is used: relays drop idle clients after a while, and a
/// connection busy a moment ago is almost surely still open.
pub const CHECK_AFTER: Duration = Duration::from_secs(2);

/// A parked connection that has idled longer than this is closed rather
/// than reused; most relays would have dropped it by then.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// The longest a relay may take to accept a connection (TCP, greeting,
/// EHLO, TLS, AUTH), and separately to take one message.
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// What became of one transaction on one connection.
enum Attempt {
    Done(Result<String, Failure>),
    /// A reused connection turned out closed before anything was sent.
    Stale,
}

/// Whose fault a failed attempt was.
enum Failure {
    /// The relay's: try another.
    Relay(SendError),
    /// The message's: no relay will take it.
    Message(SendError),
}

impl Relay {
    fn new(server: SmtpServer, hello_name: &str) -> Result<Relay, ConfigError> {
        let invalid = |reason: String| ConfigError::Invalid {
            server: server.name.clone(),
            reason,
        };
        let max_connections = NonZeroU32::new(server.max_connections)
            .ok_or_else(|| invalid("max_connections must be at least 1".into()))?;
        let tls_parameters = || {
            TlsParameters::builder(server.host.clone())
                .dangerous_accept_invalid_certs(server.accept_invalid_certs)
                .dangerous_accept_invalid_hostnames(server.accept_invalid_certs)
                .build_rustls()
                .map_err(|e| invalid(format!("TLS: {e}")))
        };
        let security = match server.tls {
            Tls::None => Security::None,
            Tls::StartTls => Security::StartTls(tls_parameters()?),
            Tls::Tls => Security::Tls(tls_parameters()?),
        };
        let credentials = match (&server.username, &server.password) {
            (Some(user), Some(password)) => {
                Some(Credentials::new(user.clone(), password.0.clone()))
            }
            (None, None) => None,
            _ => return Err(invalid("set both username and password, or neither".into())),
        };
        let limiter = server
            .rate_per_second
            .map(|rate| {
                NonZeroU32::new(rate)
                    .map(|rate| RateLimiter::direct(Quota::per_second(rate)))
                    .ok_or_else(|| invalid("rate_per_second must be at least 1".into()))
            })
            .transpose()?;
        Ok(Relay {
            name: server.name.into(),
            weight: i64::from(server.weight),
            host: server.host,
            port: server.port,
            security,
            credentials,
            hello: ClientId::Domain(hello_name.to_string()),
            slots: Semaphore::new(max_connections.get() as usize),
            idle: Mutex::new(Vec::new()),
            limiter,
        })
    }

    /// Sends one message over a pooled or new connection and returns the
    /// relay's final reply.
    async fn send(&self, envelope: &Envelope, raw: &[u8]) -> Result<String, Failure> {
        let _slot = self
            .slots
            .acquire()
            .await
            .expect("the semaphore is never closed");
        if let Some(limiter) = &self.limiter {
            limiter.until_ready().await;
        }
        if let Some(connection) = self.pooled().await {
            match self.attempt(connection, envelope, raw, true).await {
                Attempt::Done(result) => return result,
                // Nothing was sent: try once more on a new connection.
                Attempt::Stale => {}
            }
        }
        let connection = self.connect().await?;
        match self.attempt(connection, envelope, raw, false).await {
            Attempt::Done(result) => result,
            Attempt::Stale => unreachable!("only a reused connection is stale"),
        }
    }

    /// One transaction on `connection`, which goes back to the pool if it
    /// is still usable afterwards.
    async fn attempt(
        &self,
        mut connection: Connection,
        envelope: &Envelope,
        raw: &[u8],
        reused: bool,
    ) -> Attempt {
        let parameters = match mail_parameters(&connection.smtp, envelope, raw) {
            Ok(parameters) => parameters,
            Err(failure) => {
                self.park(connection);
                return Attempt::Done(Err(failure));
            }
        };
        let sent = tokio::time::timeout(
            TIMEOUT,
            transaction(&mut connection, envelope, parameters, raw),
        )
        .await;
        let Ok(sent) = sent else {
            return Attempt::Done(Err(timed_out("sending the message")));
        };
        match sent {
            Ok(response) => {
                self.park(connection);
                Attempt::Done(Ok(reply_line(&response)))
            }
            Err((step, error)) => {
                let code = error.status().map(u16::from);
                // A pooled connection the relay closed while it idled fails
                // on its first command, before the relay has taken anything.
                if reused && step == Step::Mail && code.is_none() {
                    return Attempt::Stale;
                }
                // A refusal leaves the connection usable once the
                // transaction is reset; anything else (a broken stream, a
                // garbled reply, 421 "closing") loses it.
                if code.is_some_and(|code| code != 421)
                    && (step == Step::Message
                        || tokio::time::timeout(TIMEOUT, connection.smtp.command(Rset))
                            .await
                            .is_ok_and(|reset| reset.is_ok()))
                {
                    self.park(connection);
                }
                Attempt::Done(Err(classify(step, &error)))
            }
        }
    }

    /// The most recently used parked connection that is still open.
    async fn pooled(&self) -> Option<Connection> {
        loop {
            let Idle {
                mut connection,
                since,
            } = self.lock_idle().pop()?;
            let idle = since.elapsed();
            if idle > IDLE_TIMEOUT {
                // Dropping closes the socket; a QUIT could wait on a relay
                // that is long gone.
                continue;
            }
            if idle > CHECK_AFTER
                && !matches!(
                    tokio::time::timeout(TIMEOUT, connection.smtp.test_connected()).await,
                    Ok(true)
                )
            {
                continue;
            }
            return Some(connection);
        }
    }

    /// A new connection: TCP, greeting, EHLO, TLS, AUTH. Whatever goes
    /// wrong here is the relay's problem, whatever the reply code.
    async fn connect(&self) -> Result<Connection, Failure> {
        match tokio::time::timeout(TIMEOUT, self.open()).await {
            Ok(Ok(connection)) => Ok(connection),
            Ok(Err(error)) => Err(Failure::Relay(error)),
            Err(_) => Err(timed_out("connecting")),
        }
    }

    async fn open(&self) -> Result<Connection, SendError> {
        let smtp = |error: SmtpError| SendError::Temporary {
            code: error.status().map(u16::from),
            reply: reply_text(&error),
        };
        let mut connection = match &self.security {
            // Lettre opens the socket for TLS from the first byte, so this
            // mode keeps Nagle's delay until lettre sets TCP_NODELAY itself.
            Security::Tls(parameters) => AsyncSmtpConnection::connect_tokio1(
                (self.host.as_str(), self.port),
                Some(TIMEOUT),
                &self.hello,
                Some(parameters.clone()),
                None,
            )
            .await
            .map_err(smtp)?,
            Security::None | Security::StartTls(_) => {
                let cannot_connect = |e: std::io::Error| SendError::Temporary {
                    code: None,
                    reply: format!("cannot connect to {}:{}: {e}", self.host, self.port),
                };
                let tcp = TcpStream::connect((self.host.as_str(), self.port))
                    .await
                    .map_err(cannot_connect)?;
                tcp.set_nodelay(true).map_err(cannot_connect)?;
                AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &self.hello)
                    .await
                    .map_err(smtp)?
            }
        };
        if let Security::StartTls(parameters) = &self.security {
            connection
                .starttls(parameters.clone(), &self.hello)
                .await
                .map_err(smtp)?;
        }
        // Lettre keeps only the extensions it uses from the EHLO reply;
        // ask again (before AUTH, which a repeated EHLO could reset) to
        // learn whether the relay pipelines.
        let hello = connection
            .command(format!("EHLO {}\r\n", self.hello))
            .await
            .map_err(smtp)?;
        let pipelining = hello
            .message()
            .any(|line| line.trim().eq_ignore_ascii_case("PIPELINING"));
        if let Some(credentials) = &self.credentials {
            connection
                .auth(DEFAULT_MECHANISMS, credentials)
                .await
                .map_err(smtp)?;
        }
        Ok(Connection {
            smtp: connection,
            pipelining,
        })
    }

    /// Returns a connection to the pool, unless an error closed it.
    fn park(&self, connection: Connection) {
        if !connection.smtp.has_broken() {
            self.lock_idle().push(Idle {
                connection,
                since: Instant::now(),
            });
        }
    }

    fn lock_idle(&self) -> std::sync::MutexGuard<'_, Vec<Idle>> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Says goodbye on every parked connection.
    async fn shutdown(&self) {
        let idle = std::mem::take(&mut *self.lock_idle());
        for Idle { mut connection, .. } in idle {
            let _ = tokio::time::timeout(Duration::from_secs(5), connection.smtp.quit()).await;
        }
    }
}

fn timed_out(what: &str) -> Failure {
    Failure::Relay(SendError::Temporary {
        code: None,
        reply: format!("timed out {what} after {}s", TIMEOUT.as_secs()),
    })
}

/// The commands of one mail transaction, to tell which one a reply
/// answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Mail,
    Rcpt,
    Data,
    /// The message itself, answered after the final `.`.
    Message,
}

/// The `MAIL FROM` parameters the message needs, if the relay offers
/// them: SMTPUTF8 for a non-ASCII address, 8BITMIME for a non-ASCII
/// message (never one from [`build_mime`], which writes 7-bit).
fn mail_parameters(
    connection: &AsyncSmtpConnection,
    (from, to): &Envelope,
    raw: &[u8],
) -> Result<Vec<MailParameter>, Failure> {
    let info = connection.server_info();
    let lacks = |extension: &str| {
        Failure::Relay(SendError::Temporary {
            code: None,
            reply: format!("the relay does not offer {extension}, which this message needs"),
        })
    };
    let mut parameters = Vec::new();
    let ascii = |address: &Address| AsRef::<str>::as_ref(address).is_ascii();
    if !ascii(from) || !ascii(to) {
        if !info.supports_feature(Extension::SmtpUtfEight) {
            return Err(lacks("SMTPUTF8"));
        }
        parameters.push(MailParameter::SmtpUtfEight);
    }
    if !raw.is_ascii() {
        if !info.supports_feature(Extension::EightBitMime) {
            return Err(lacks("8BITMIME"));
        }
        parameters.push(MailParameter::Body(MailBodyParameter::EightBitMime));
    }
    Ok(parameters)
}

/// `MAIL`, `RCPT`, `DATA` and the message. A relay that pipelines gets
/// the three commands in one write and answers them together, two round
/// trips a message instead of four; otherwise each waits for its reply.
async fn transaction(
    connection: &mut Connection,
    (from, to): &Envelope,
    parameters: Vec<MailParameter>,
    raw: &[u8],
) -> Result<Response, (Step, SmtpError)> {
    let at = |step| move |error| (step, error);
    let mail = Mail::new(Some(from.clone()), parameters);
    let rcpt = Rcpt::new(to.clone(), Vec::new());
    let smtp = &mut connection.smtp;
    if connection.pipelining {
        // Every command of the group is answered, whatever became of the
        // ones before it: read all three replies to stay in step.
        // A broken stream (an error without a reply code) ends it at once.
        let mail = match smtp.command(format!("{mail}{rcpt}{Data}")).await {
            Err(e) if e.status().is_none() => return Err((Step::Mail, e)),
            r => r,
        };
        let rcpt = match smtp.read_response().await {
            Err(e) if e.status().is_none() => return Err((Step::Rcpt, e)),
            r => r,
        };
        let data = smtp.read_response().await;
        if data.is_ok() && (mail.is_err() || rcpt.is_err()) {
            // A relay that took DATA without a sender or recipient gets an
            // empty message, which it must refuse for want of either.
            let _ = smtp.command(".\r\n").await;
        }
        mail.map_err(at(Step::Mail))?;
        rcpt.map_err(at(Step::Rcpt))?;
        data.map_err(at(Step::Data))?;
    } else {
        smtp.command(mail).await.map_err(at(Step::Mail))?;
        smtp.command(rcpt).await.map_err(at(Step::Rcpt))?;
        smtp.command(Data).await.map_err(at(Step::Data))?;
    }
    match std::str::from_utf8(raw) {
        Ok(text) => smtp.command(DataBlock(text)).await,
        Err(_) => smtp.message(raw).await,
    }
    .map_err(at(Step::Message))
}

/// A message as it goes after `DATA`: dot-stuffed and with the final
/// `.`, so that it leaves in one write. Lettre's `message` stuffs a byte
/// at a time and writes the final `.` apart, a second system call and, on
/// loopback, a second wake-up of the relay for every message; its
/// `command` writes any text whole and reads the reply, which is all a
/// message needs. The bytes are the same as lettre's.
struct DataBlock<'a>(&'a str);

impl fmt::Display for DataBlock<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        if rest.starts_with('.') {
            f.write_str(".")?;
        }
        while let Some(at) = rest.find("\r\n.") {
            f.write_str(&rest[..at + 3])?;
            f.write_str(".")?;
            rest = &rest[at + 3..];
        }
        f.write_str(rest)?;
        f.write_str("\r\n.\r\n")
    }
}

/// Sorts a failed step into the relay's fault or the message's.
fn classify(step: Step, error: &SmtpError) -> Failure {
    let Some(code) = error.status() else {
        // A dropped connection or a garbled reply.
        return Failure::Relay(SendError::Temporary {
            code: None,
            reply: error.to_string(),
        });
    };
    let code_number = u16::from(code);
    let reply = reply_text(error);
    // A refused sender (MAIL) says nothing about the recipient: another
    // relay, or this one once fixed, may take the message. So does a 4xx
    // anywhere. A 5xx to RCPT, DATA or the message is about the message.
    if code.severity == Severity::PermanentNegativeCompletion && step != Step::Mail {
        Failure::Message(SendError::Permanent {
            code: code_number,
            reply,
        })
    } else {
        Failure::Relay(SendError::Temporary {
            code: Some(code_number),
            reply,
        })
    }
}

/// The text of a negative reply, which lettre keeps as the error's
/// source; for other errors, the error itself.
fn reply_text(error: &SmtpError) -> String {
    match (error.status(), std::error::Error::source(error)) {
        (Some(_), Some(source)) => source.to_string(),
        _ => error.to_string(),
    }
}

/// `250 2.0.0 Ok: queued as 4F1C2`.
fn reply_line(response: &Response) -> String {
    let mut reply = u16::from(response.code()).to_string();
    for line in response.message() {
        reply.push(' ');
        reply.push_str(line);
    }
    reply
}

/// The e-mail channel: builds each message's MIME, signs it and sends it
/// through an [`SmtpTransport`]. Building and signing run on the calling
/// task (about 1 ms with an RSA-2048 key, see [`crate::dkim`]); the caller
/// bounds how many sends run at once, and with it how much of the runtime
/// signing may take.
#[derive(Debug)]
pub struct SmtpChannel {
    transport: SmtpTransport,
    dkim: Option<DkimKey>,
    bounce_address: Email,
}

impl SmtpChannel {
    /// `bounce_address` is the envelope sender, where relays send
    /// non-delivery reports.
    pub fn new(
        transport: SmtpTransport,
        dkim: Option<DkimKey>,
        bounce_address: Email,
    ) -> SmtpChannel {
        SmtpChannel {
            transport,
            dkim,
            bounce_address,
        }
    }

    pub fn transport(&self) -> &SmtpTransport {
        &self.transport
    }
}

impl Channel for SmtpChannel {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Email
    }

    /// SMTP has no idempotency key of its own: the key goes to the logs,
    /// and the `Message-ID`, which the caller keeps across retries, is what
    /// lets mailbox providers drop a duplicate.
    fn send<'a>(&'a self, idempotency_key: &'a str, message: &'a Message) -> SendFuture<'a> {
        let span = tracing::debug_span!(
            "smtp_send",
            key = idempotency_key,
            server = tracing::field::Empty
        );
        Box::pin(
            async move {
                let Message::Email(email) = message else {
                    return Err(DeliveryError::WrongKind {
                        channel: ChannelKind::Email,
                        message: message.kind(),
                    });
                };
                let raw = build_mime(email, self.dkim.as_ref()).map_err(|e| {
                    DeliveryError::Permanent {
                        reason: e.to_string(),
                    }
                })?;
                let delivered = self
                    .transport
                    .send_raw(&self.bounce_address, &email.to.email, &raw)
                    .await?;
                tracing::Span::current().record("server", &*delivered.server);
                Ok(Receipt {
                    provider_id: Some(email.message_id.clone()),
                    detail: format!("{}: {}", delivered.server, delivered.reply),
                })
            }
            .instrument(span),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(name: &str, weight: u32) -> SmtpServer {
        SmtpServer {
            name: name.into(),
            host: "127.0.0.1".into(),
            port: 2525,
            tls: Tls::None,
            accept_invalid_certs: false,
            username: None,
            password: None,
            weight,
            max_connections: 1,
            rate_per_second: None,
        }
    }

    #[tokio::test]
    async fn weights_spread_messages_evenly_and_exactly() {
        let transport = SmtpTransport::new(
            vec![server("a", 3), server("b", 1), server("backup", 0)],
            "test",
        )
        .unwrap();
        let picks: Vec<_> = (0..8).map(|_| transport.pick()).collect();
        assert_eq!(picks, [0, 0, 1, 0, 0, 0, 1, 0]);
    }

    #[tokio::test]
    async fn all_backups_means_the_first_server() {
        let transport = SmtpTransport::new(vec![server("a", 0), server("b", 0)], "test").unwrap();
        assert_eq!(transport.pick(), 0);
    }

    #[tokio::test]
    async fn impossible_settings_are_refused() {
        assert!(matches!(
            SmtpTransport::new(vec![], "test"),
            Err(ConfigError::NoServers)
        ));
        let zero = SmtpServer {
            max_connections: 0,
            ..server("a", 1)
        };
        assert!(matches!(
            SmtpTransport::new(vec![zero], "test"),
            Err(ConfigError::Invalid { .. })
        ));
        let half_credentials = SmtpServer {
            username: Some("user".into()),
            ..server("a", 1)
        };
        assert!(SmtpTransport::new(vec![half_credentials], "test").is_err());
    }

    #[test]
    fn servers_read_from_configuration_with_defaults() {
        let server: SmtpServer = serde_json::from_value(serde_json::json!({
            "name": "relay",
            "host": "smtp.example.com",
            "port": 587,
            "username": "u",
            "password": "p4ss",
        }))
        .unwrap();
        assert_eq!(server.tls, Tls::StartTls);
        assert_eq!((server.weight, server.max_connections), (1, 4));
        assert!(
            !format!("{server:?}").contains("p4ss"),
            "the password never prints"
        );
        let tls: Tls = serde_json::from_value(serde_json::json!("starttls")).unwrap();
        assert_eq!(tls, Tls::StartTls);
    }

    #[test]
    fn a_message_is_dot_stuffed_and_terminated_in_one_piece() {
        let data = DataBlock(".first\r\nmiddle\r\n..two\r\n.\r\nend.\r\n").to_string();
        assert_eq!(
            data,
            "..first\r\nmiddle\r\n...two\r\n..\r\nend.\r\n\r\n.\r\n"
        );
        assert_eq!(DataBlock("plain").to_string(), "plain\r\n.\r\n");
    }

    #[test]
    fn permanent_errors_become_permanent_delivery_errors() {
        let error = SendError::Permanent {
            code: 550,
            reply: "5.1.1 no such user".into(),
        };
        assert_eq!(
            DeliveryError::from(error),
            DeliveryError::Permanent {
                reason: "550 5.1.1 no such user".into()
            }
        );
    }
}
