//! A small SMTP server for tests: it accepts what the real transport
//! sends, keeps every message in memory and can be told to refuse
//! recipients.
//!
//! It speaks enough ESMTP for lettre and any ordinary client (EHLO with
//! PIPELINING, 8BITMIME and SMTPUTF8; MAIL, RCPT, DATA, RSET, NOOP, QUIT),
//! on 127.0.0.1 and a random port, over many connections at once; with
//! [`SinkTls`] also STARTTLS or TLS from the first byte, under a
//! self-signed certificate (`fixtures/smtp_sink_cert.pem`).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Decides the reply to `RCPT TO:<address>`: `Some((code, text))` refuses
/// it, `None` accepts it.
type RcptFilter = dyn Fn(&str) -> Option<(u16, String)> + Send + Sync;

/// How a sink secures its connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SinkTls {
    /// Plain text only.
    None,
    /// Plain text, with STARTTLS offered in the EHLO reply.
    StartTls,
    /// TLS from the first byte, as on port 465.
    Tls,
}

/// A running sink. Dropping it stops it and closes its connections.
pub struct SmtpSink {
    addr: SocketAddr,
    state: Arc<State>,
    server: JoinHandle<()>,
    /// Asks the accept loop to close every open connection.
    close: mpsc::UnboundedSender<oneshot::Sender<()>>,
}

struct State {
    messages: Mutex<Vec<ReceivedMessage>>,
    /// The number of messages received, for [`SmtpSink::wait_for`].
    received: watch::Sender<usize>,
    connections: AtomicUsize,
    reject_rcpt: RwLock<Option<Box<RcptFilter>>>,
    /// Whether EHLO offers PIPELINING.
    offer_pipelining: AtomicBool,
    /// `MAIL` commands that arrived with the next command already behind
    /// them in the same read: a pipelining client's.
    pipelined: AtomicUsize,
}

/// One message as it arrived: the envelope and the bytes after `DATA`,
/// dot-unstuffed, without the final `.` line.
#[derive(Debug, Clone)]
pub struct ReceivedMessage {
    pub envelope_from: String,
    pub recipients: Vec<String>,
    pub raw: Vec<u8>,
    /// Which connection it came over, counting from 1 in accept order.
    pub connection: usize,
}

impl SmtpSink {
    /// Starts a plain-text sink on 127.0.0.1 and a free port.
    pub async fn start() -> SmtpSink {
        SmtpSink::start_with(SinkTls::None).await
    }

    /// Starts a sink that speaks TLS as `tls` says.
    pub async fn start_with(tls: SinkTls) -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the SMTP sink");
        let addr = listener.local_addr().expect("sink address");
        let state = Arc::new(State {
            messages: Mutex::new(Vec::new()),
            received: watch::channel(0).0,
            connections: AtomicUsize::new(0),
            reject_rcpt: RwLock::new(None),
            offer_pipelining: AtomicBool::new(true),
            pipelined: AtomicUsize::new(0),
        });
        let acceptor = (tls != SinkTls::None).then(acceptor);
        let (close, close_requests) = mpsc::unbounded_channel();
        let server = tokio::spawn(accept(
            listener,
            Arc::clone(&state),
            tls,
            acceptor,
            close_requests,
        ));
        SmtpSink {
            addr,
            state,
            server,
            close,
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Every message received so far, in order of arrival.
    pub fn messages(&self) -> Vec<ReceivedMessage> {
        self.state.messages.lock().unwrap().clone()
    }

    /// Offers PIPELINING in EHLO replies from now on, or stops offering it.
    pub fn offer_pipelining(&self, offer: bool) {
        self.state.offer_pipelining.store(offer, Ordering::SeqCst);
    }

    /// How many `MAIL` commands came pipelined with the commands after
    /// them.
    pub fn pipelined(&self) -> usize {
        self.state.pipelined.load(Ordering::SeqCst)
    }

    /// How many connections clients have opened.
    pub fn connections(&self) -> usize {
        self.state.connections.load(Ordering::SeqCst)
    }

    /// Waits until at least `n` messages have arrived and returns them all;
    /// panics, saying how many came, if they do not within `timeout`.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<ReceivedMessage> {
        let mut received = self.state.received.subscribe();
        if tokio::time::timeout(timeout, received.wait_for(|&count| count >= n))
            .await
            .is_err()
        {
            panic!(
                "expected {n} messages within {timeout:?}, the sink received {}",
                self.messages().len()
            );
        }
        self.messages()
    }

    /// Closes every open connection, as a relay does with idle clients,
    /// and returns once they are closed. The sink goes on accepting new
    /// ones.
    pub async fn close_connections(&self) {
        let (done, closed) = oneshot::channel();
        self.close.send(done).expect("the sink is running");
        closed.await.expect("the sink closed its connections");
    }

    /// Refuses recipients: `filter` sees each `RCPT TO` address and returns
    /// the reply for the ones to refuse, such as
    /// `Some((550, "5.1.1 no such user".into()))`. Keep a counter in the
    /// closure to refuse only the first attempts.
    pub fn reject_rcpt_with(
        &self,
        filter: impl Fn(&str) -> Option<(u16, String)> + Send + Sync + 'static,
    ) {
        *self.state.reject_rcpt.write().unwrap() = Some(Box::new(filter));
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        // The accept loop owns the connection tasks: aborting it ends them.
        self.server.abort();
    }
}

/// A port on 127.0.0.1 where nothing listens, to stand for a server that
/// is down.
pub async fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    listener.local_addr().expect("address").port()
}

impl ReceivedMessage {
    /// The message parsed by mail-parser.
    pub fn parsed(&self) -> mail_parser::Message<'_> {
        mail_parser::MessageParser::default()
            .parse(&self.raw)
            .expect("the received message parses")
    }

    /// A top-level header's value as sent, unfolded and trimmed (encoded
    /// words left as they are).
    pub fn header(&self, name: &str) -> Option<String> {
        let parsed = self.parsed();
        let raw = parsed.header_raw(name)?;
        Some(raw.replace("\r\n", "").trim().to_string())
    }

    /// The decoded `Subject`.
    pub fn subject(&self) -> Option<String> {
        self.parsed().subject().map(str::to_string)
    }

    /// The decoded HTML body, with CRLF line breaks as sent.
    pub fn html(&self) -> Option<String> {
        self.parsed().body_html(0).map(|b| b.into_owned())
    }

    /// The decoded plain-text body, with CRLF line breaks as sent.
    pub fn text(&self) -> Option<String> {
        self.parsed().body_text(0).map(|b| b.into_owned())
    }
}

/// The TLS server side, with the sink's self-signed certificate.
fn acceptor() -> TlsAcceptor {
    let certificates =
        CertificateDer::pem_slice_iter(include_bytes!("../fixtures/smtp_sink_cert.pem"))
            .collect::<Result<Vec<_>, _>>()
            .expect("the sink's certificate");
    let key = PrivateKeyDer::from_pem_slice(include_bytes!("../fixtures/smtp_sink_key.pem"))
        .expect("the sink's private key");
    let config = ServerConfig::builder_with_provider(Arc::new(
        tokio_rustls::rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_no_client_auth()
    .with_single_cert(certificates, key)
    .expect("the sink's TLS configuration");
    TlsAcceptor::from(Arc::new(config))
}

async fn accept(
    listener: TcpListener,
    state: Arc<State>,
    tls: SinkTls,
    acceptor: Option<TlsAcceptor>,
    mut close_requests: mpsc::UnboundedReceiver<oneshot::Sender<()>>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let id = state.connections.fetch_add(1, Ordering::SeqCst) + 1;
                connections.spawn(session(stream, Arc::clone(&state), id, tls, acceptor.clone()));
            }
            // Reap finished sessions so the set does not grow.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            Some(done) = close_requests.recv() => {
                // Ending a session drops its socket, which closes it.
                connections.shutdown().await;
                let _ = done.send(());
            }
        }
    }
}

/// A plain or TLS stream, one type for both so that STARTTLS can swap one
/// for the other.
trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

type Connection = BufReader<Box<dyn Stream>>;

/// How a dialogue ended.
enum End {
    Quit,
    /// The client asked for STARTTLS: here is the plain stream to secure.
    StartTls(Box<dyn Stream>),
}

/// One client's connection: greeting, dialogue, and the dialogue again
/// over TLS after STARTTLS.
async fn session(
    tcp: TcpStream,
    state: Arc<State>,
    id: usize,
    tls: SinkTls,
    acceptor: Option<TlsAcceptor>,
) -> std::io::Result<()> {
    tcp.set_nodelay(true)?;
    let mut stream: Box<dyn Stream> = match (&acceptor, tls) {
        (Some(acceptor), SinkTls::Tls) => Box::new(acceptor.accept(tcp).await?),
        _ => Box::new(tcp),
    };
    stream
        .write_all(b"220 sink.swell.test ESMTP swell test sink\r\n")
        .await?;
    stream.flush().await?;
    let mut offer_starttls = tls == SinkTls::StartTls;
    loop {
        let connection = BufReader::new(stream);
        match dialogue(connection, &state, id, offer_starttls).await? {
            End::Quit => return Ok(()),
            End::StartTls(plain) => {
                let acceptor = acceptor
                    .as_ref()
                    .expect("STARTTLS is offered with a certificate");
                stream = Box::new(acceptor.accept(plain).await?);
                offer_starttls = false;
            }
        }
    }
}

/// Commands and replies until QUIT or STARTTLS. Replies go out as each
/// command is read, so a pipelining client's batched commands are
/// answered in order.
async fn dialogue(
    mut connection: Connection,
    state: &State,
    id: usize,
    offer_starttls: bool,
) -> std::io::Result<End> {
    let mut line = Vec::with_capacity(512);
    let mut from: Option<String> = None;
    let mut recipients: Vec<String> = Vec::new();
    loop {
        line.clear();
        if connection.read_until(b'\n', &mut line).await? == 0 {
            return Ok(End::Quit);
        }
        let command = String::from_utf8_lossy(&line);
        let command = command.trim_end();
        let (verb, argument) = command.split_once(' ').unwrap_or((command, ""));
        let reply: String = match verb.to_ascii_uppercase().as_str() {
            "EHLO" => format!(
                "250-sink.swell.test\r\n{}250-8BITMIME\r\n{}250 SMTPUTF8",
                if state.offer_pipelining.load(Ordering::SeqCst) {
                    "250-PIPELINING\r\n"
                } else {
                    ""
                },
                if offer_starttls {
                    "250-STARTTLS\r\n"
                } else {
                    ""
                }
            ),
            "HELO" => "250 sink.swell.test".into(),
            "STARTTLS" if offer_starttls => {
                write_reply(&mut connection, "220 2.0.0 Ready to start TLS").await?;
                return Ok(End::StartTls(connection.into_inner()));
            }
            "MAIL" => {
                if !connection.buffer().is_empty() {
                    state.pipelined.fetch_add(1, Ordering::SeqCst);
                }
                from = Some(path(argument));
                recipients.clear();
                "250 2.1.0 Ok".into()
            }
            "RCPT" if from.is_none() => "503 5.5.1 MAIL first".into(),
            "RCPT" => {
                let address = path(argument);
                let refusal = state
                    .reject_rcpt
                    .read()
                    .unwrap()
                    .as_ref()
                    .and_then(|filter| filter(&address));
                match refusal {
                    Some((code, text)) => format!("{code} {text}"),
                    None => {
                        recipients.push(address);
                        "250 2.1.5 Ok".into()
                    }
                }
            }
            "DATA" if recipients.is_empty() => "554 5.5.1 No valid recipients".into(),
            "DATA" => {
                write_reply(&mut connection, "354 End data with <CR><LF>.<CR><LF>").await?;
                let raw = data(&mut connection).await?;
                let message = ReceivedMessage {
                    envelope_from: from.take().unwrap_or_default(),
                    recipients: std::mem::take(&mut recipients),
                    raw,
                    connection: id,
                };
                let queued = {
                    let mut messages = state.messages.lock().unwrap();
                    messages.push(message);
                    messages.len()
                };
                state.received.send_replace(queued);
                format!("250 2.0.0 Ok: queued as {queued}")
            }
            "RSET" => {
                from = None;
                recipients.clear();
                "250 2.0.0 Ok".into()
            }
            "NOOP" => "250 2.0.0 Ok".into(),
            "QUIT" => {
                write_reply(&mut connection, "221 2.0.0 Bye").await?;
                return Ok(End::Quit);
            }
            _ => "502 5.5.2 Command not recognised".into(),
        };
        write_reply(&mut connection, &reply).await?;
    }
}

/// Writes one reply in one write: a reply split over two small writes
/// waits for the client's delayed ACK (Nagle), 40 ms a command.
async fn write_reply(connection: &mut Connection, reply: &str) -> std::io::Result<()> {
    let mut bytes = Vec::with_capacity(reply.len() + 2);
    bytes.extend_from_slice(reply.as_bytes());
    bytes.extend_from_slice(b"\r\n");
    let stream = connection.get_mut();
    stream.write_all(&bytes).await?;
    stream.flush().await
}

/// Reads message lines up to the lone `.`, undoing dot-stuffing.
async fn data(read: &mut Connection) -> std::io::Result<Vec<u8>> {
    let mut raw = Vec::with_capacity(8 * 1024);
    let mut line = Vec::with_capacity(1024);
    loop {
        line.clear();
        if read.read_until(b'\n', &mut line).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if line == b".\r\n" || line == b".\n" {
            return Ok(raw);
        }
        let unstuffed = line.strip_prefix(b".").unwrap_or(&line);
        raw.extend_from_slice(unstuffed);
    }
}

/// The address in `FROM:<a@b.c> SIZE=10` or `TO:<a@b.c>`.
fn path(argument: &str) -> String {
    match (argument.find('<'), argument.find('>')) {
        (Some(start), Some(end)) if start < end => argument[start + 1..end].to_string(),
        _ => argument
            .split_once(':')
            .map_or(argument, |(_, rest)| rest)
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_string(),
    }
}
