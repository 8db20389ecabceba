//! The sender: walks each sending broadcast through its messages, a batch
//! at a time, and records what became of every one.
//!
//! A batch is claimed in the store (rows become `sending`), rendered and
//! delivered by a few tasks at once (one SMTP connection each, both cores
//! rendering), and its outcomes are written in one transaction. Pause and
//! cancel are seen between batches. A process that dies mid-batch leaves
//! rows `sending`; the next process records them as interrupted rather
//! than risk sending them twice (see `swell_store::mailing`).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
use swell_channels::{
    DkimKey, Mailbox, OutgoingEmail, Retry, SendError, SmtpTransport, build_mime,
};
use swell_core::contact::Contact;
use swell_core::email::Email;
use swell_core::template::{CompiledEmail, EmailTemplate};
use swell_store::mailing::{Broadcast, Claimed, Delivery, OutboxMessage, Split};
use swell_store::{Store, StoreError, WorkspaceId};
use tokio::sync::{Notify, Semaphore, mpsc, watch};

use crate::tokens::{Token, Tokens};

/// Where rendered messages go.
#[derive(Clone)]
pub enum Transport {
    /// Real delivery through SMTP relays.
    Smtp(Arc<SmtpTransport>),
    /// The built-in outbox: every message kept in the store.
    Outbox,
}

/// How the sender is set up.
#[derive(Clone)]
pub struct MailerConfig {
    /// Where tracking links point: the server's public base URL.
    pub base_url: String,
    /// The sender when a broadcast names none.
    pub from: Mailbox,
    /// The envelope sender, where bounces go.
    pub bounce_address: Email,
    /// The domain of generated Message-IDs.
    pub message_domain: String,
    pub dkim: Option<Arc<DkimKey>>,
    /// Messages claimed at a time.
    pub batch: u32,
    /// Messages in flight at once (one SMTP connection each).
    pub concurrency: usize,
    pub retry: Retry,
    /// How often the sender looks for due work when nothing wakes it.
    pub poll: Duration,
}

impl MailerConfig {
    pub fn new(base_url: &str, from: Mailbox) -> MailerConfig {
        let domain = from
            .email
            .as_str()
            .rsplit_once('@')
            .map(|(_, d)| d.to_string())
            .unwrap_or_else(|| "localhost".into());
        MailerConfig {
            base_url: base_url.trim_end_matches('/').to_string(),
            bounce_address: from.email.clone(),
            from,
            message_domain: domain,
            dkim: None,
            batch: 500,
            concurrency: 8,
            retry: Retry::default(),
            poll: Duration::from_secs(1),
        }
    }
}

/// Errors of a send.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("template {id}: {reason}")]
    Template { id: i64, reason: String },
    #[error("{0}")]
    Invalid(String),
}

/// A template compiled once per send, with its variants.
struct Prepared {
    /// Index 0: the template itself; 1..: A/B variants.
    variants: Vec<CompiledEmail>,
    name: String,
    /// `utm_campaign` of every tracked link, made once per send.
    utm_campaign: String,
    from: Mailbox,
    reply_to: Option<Mailbox>,
    workspace: Value,
}

pub struct Mailer {
    store: Store,
    transport: Transport,
    tokens: Tokens,
    cfg: MailerConfig,
    wake: Notify,
    /// For lead notices sent as webhooks.
    http: reqwest::Client,
    /// Broadcasts whose interrupted rows this process has already settled.
    recovered: Mutex<HashSet<i64>>,
    /// Each workspace's transport as last read from its settings, and when.
    workspace_transports: Mutex<HashMap<WorkspaceId, (Instant, Transport)>>,
}

/// How long a workspace's relays are used as read before they are read
/// again: a change made in another process reaches this one within it (in
/// this process it applies at once, see [`Mailer::forget_transport`]).
const TRANSPORT_TTL: Duration = Duration::from_secs(30);

impl Mailer {
    pub fn new(
        store: Store,
        transport: Transport,
        tokens: Tokens,
        cfg: MailerConfig,
    ) -> Arc<Mailer> {
        Arc::new(Mailer {
            store,
            transport,
            tokens,
            cfg,
            wake: Notify::new(),
            http: swell_channels::http_client().expect("the HTTP client builds"),
            recovered: Mutex::new(HashSet::new()),
            workspace_transports: Mutex::new(HashMap::new()),
        })
    }

    pub fn tokens(&self) -> &Tokens {
        &self.tokens
    }

    pub fn config(&self) -> &MailerConfig {
        &self.cfg
    }

    pub(crate) fn store(&self) -> &Store {
        &self.store
    }

    /// Where a workspace's messages go: its own SMTP relays when its
    /// admins set some, else the server's (or the outbox).
    pub async fn transport_for(&self, ws: WorkspaceId) -> Result<Transport, MailError> {
        if let Some((at, t)) = self.lock_transports().get(&ws)
            && at.elapsed() < TRANSPORT_TTL
        {
            return Ok(t.clone());
        }
        let rows = self.store.smtp_servers(ws).await?;
        let transport = if rows.is_empty() {
            self.transport.clone()
        } else {
            let servers = rows.into_iter().map(relay_of).collect();
            let smtp = SmtpTransport::new(servers, &self.cfg.message_domain)
                .map_err(|e| MailError::Invalid(format!("the workspace's SMTP settings: {e}")))?;
            Transport::Smtp(Arc::new(smtp))
        };
        self.lock_transports()
            .insert(ws, (Instant::now(), transport.clone()));
        Ok(transport)
    }

    /// Drops what this process knows of a workspace's relays (their
    /// settings changed); messages already on their way finish as they are.
    pub fn forget_transport(&self, ws: WorkspaceId) {
        self.lock_transports().remove(&ws);
    }

    fn lock_transports(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<WorkspaceId, (Instant, Transport)>> {
        self.workspace_transports
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The SMTP relays messages go through (none: the outbox keeps them).
    pub fn smtp_relays(&self) -> &[swell_channels::RelayInfo] {
        match &self.transport {
            Transport::Smtp(t) => t.relays(),
            Transport::Outbox => &[],
        }
    }

    /// Has the sender look for work now rather than at its next poll.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Sends until `shutdown` turns true.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        loop {
            if *shutdown.borrow() {
                return;
            }
            match self.run_once().await {
                Ok(true) => continue,
                Ok(false) => {}
                Err(e) => tracing::error!(error = %e, "sender"),
            }
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(self.cfg.poll) => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    /// One pass over every broadcast with due work; true when a message
    /// went out (so the caller goes on at once).
    pub async fn run_once(&self) -> Result<bool, MailError> {
        let mut busy = self.deliver_lead_notices().await?;
        for (ws, id) in self.store.broadcasts_to_run(self.store.now()).await? {
            busy |= self.send_broadcast(ws, id).await?;
        }
        Ok(busy)
    }

    /// Works on one broadcast until it is paused, done, or has nothing due.
    pub async fn send_broadcast(&self, ws: WorkspaceId, id: i64) -> Result<bool, MailError> {
        let mut b = self.store.broadcast(ws, id).await?;
        if b.state == "scheduled" {
            b = self.store.start_broadcast(ws, id, split_of(&b)).await?;
        }
        if b.state != "sending" {
            return Ok(false);
        }
        if self.recovered.lock().expect("not poisoned").insert(id) {
            let n = self.store.recover_interrupted("broadcast", id).await?;
            if n > 0 {
                tracing::warn!(
                    broadcast = id,
                    messages = n,
                    "messages interrupted by a stop were not sent again"
                );
            }
        }
        let first = self
            .store
            .claim_messages("broadcast", id, self.claim_size())
            .await?;
        if first.is_empty() {
            self.settle(ws, id).await?;
            return Ok(false);
        }
        // Compiled once messages are claimed: a broadcast with nothing due
        // (an A/B test waiting for its winner, a local-time send waiting for
        // a zone) costs one query a poll, not a compile.
        let prepared = match self.prepare(ws, &b).await {
            Ok(p) => Arc::new(p),
            Err(e) => {
                // Claimed rows must not stay `sending`.
                let failed: Vec<(i64, Delivery)> = first
                    .iter()
                    .map(|c| {
                        let reason = e.to_string();
                        (c.id, Delivery::Failed { reason })
                    })
                    .collect();
                self.store.record_deliveries(&failed).await?;
                return Err(e);
            }
        };
        if self.pump(ws, &b, prepared, first).await? == Ended::Drained {
            self.settle(ws, id).await?;
        }
        Ok(true)
    }

    /// Messages claimed at a time: a quarter of the window, so the next
    /// claim is in hand before the senders run dry.
    fn claim_size(&self) -> u32 {
        (self.cfg.batch / 4).max(1)
    }

    /// Sends a broadcast's due messages as a pipeline, so the SMTP
    /// connections never wait for the store: this task claims messages
    /// (with their contacts) ahead of the senders and records outcomes
    /// behind them, while `concurrency` tasks render and send, one message
    /// at a time each. At most `batch` messages are claimed and not yet
    /// recorded (the window): that bounds memory, and what a crash can
    /// leave `sending`. Pause and cancel are seen before each claim.
    async fn pump(
        &self,
        ws: WorkspaceId,
        b: &Broadcast,
        prepared: Arc<Prepared>,
        first: Vec<Claimed>,
    ) -> Result<Ended, MailError> {
        let transport = self.transport_for(ws).await?;
        let window_size = self.cfg.batch.max(1) as usize;
        let window = Semaphore::new(window_size.saturating_sub(first.len()));
        let (jobs_tx, jobs_rx) = mpsc::channel::<Job>(window_size);
        let jobs_rx = Arc::new(tokio::sync::Mutex::new(jobs_rx));
        let (done_tx, done_rx) = mpsc::unbounded_channel::<Done>();
        let workers: Vec<_> = (0..self.cfg.concurrency.max(1))
            .map(|_| {
                let worker = Worker {
                    builder: self.builder(
                        ("X-Swell-Broadcast", b.id.to_string()),
                        Arc::clone(&prepared),
                    ),
                    transport: transport.clone(),
                    jobs: Arc::clone(&jobs_rx),
                    done: done_tx.clone(),
                };
                tokio::spawn(worker.run())
            })
            .collect();
        drop(done_tx);
        let window = &window;
        let claim = async move {
            let jobs = jobs_tx;
            let mut claimed = first;
            loop {
                self.queue(ws, claimed, &jobs).await?;
                if self.store.broadcast(ws, b.id).await?.state != "sending" {
                    return Ok(Ended::Stopped);
                }
                let size = self.claim_size();
                // Closed when recording failed: stop claiming.
                let Ok(permits) = window.acquire_many(size).await else {
                    return Ok(Ended::Stopped);
                };
                permits.forget();
                claimed = self.store.claim_messages("broadcast", b.id, size).await?;
                window.add_permits(size as usize - claimed.len());
                if claimed.is_empty() {
                    return Ok(Ended::Drained);
                }
            }
        };
        let record = async {
            let recorded = self.record(ws, done_rx, window).await;
            if recorded.is_err() {
                window.close();
            }
            recorded
        };
        let (ended, recorded) = tokio::join!(claim, record);
        for w in workers {
            w.await
                .map_err(|e| MailError::Invalid(format!("sender task failed: {e}")))?;
        }
        recorded?;
        ended
    }

    /// A builder of messages that carry `header` (which broadcast or
    /// campaign sent them).
    fn builder(&self, header: (&str, String), prepared: Arc<Prepared>) -> Builder {
        Builder {
            tokens: self.tokens.clone(),
            cfg: self.cfg.clone(),
            header: (header.0.to_string(), header.1),
            prepared,
        }
    }

    /// The MIME of one of a broadcast's messages as the sender builds it
    /// (with a new Message-ID and date), whatever its state: what
    /// `swell bench send` measures the size of.
    pub async fn broadcast_message(
        &self,
        ws: WorkspaceId,
        broadcast: i64,
        message: i64,
    ) -> Result<Vec<u8>, MailError> {
        let b = self.store.broadcast(ws, broadcast).await?;
        let m = self.store.message(message).await?;
        if m.workspace != ws || m.source != "broadcast" || m.source_id != broadcast {
            return Err(StoreError::NotFound.into());
        }
        let contact = match m.contact_id {
            Some(id) => self.store.contacts_by_ids(ws, &[id]).await?.pop(),
            None => None,
        };
        let claimed = Claimed {
            id: m.id,
            contact_id: m.contact_id,
            address: m.address.unwrap_or_default(),
            variant: m.variant,
            attempts: 0,
        };
        let prepared = Arc::new(self.prepare(ws, &b).await?);
        let (_, _, raw, _) = self
            .builder(("X-Swell-Broadcast", broadcast.to_string()), prepared)
            .build(&claimed, contact.as_ref(), None)
            .map_err(MailError::Invalid)?;
        Ok(raw)
    }

    /// Hands claimed messages, each with its contact, to the senders.
    async fn queue(
        &self,
        ws: WorkspaceId,
        claimed: Vec<Claimed>,
        jobs: &mpsc::Sender<Job>,
    ) -> Result<(), MailError> {
        let ids: Vec<i64> = claimed.iter().filter_map(|c| c.contact_id).collect();
        let mut contacts: HashMap<i64, Contact> = self
            .store
            .contacts_by_ids(ws, &ids)
            .await?
            .into_iter()
            .map(|c| (c.id, c))
            .collect();
        for c in claimed {
            let contact = c.contact_id.and_then(|id| contacts.remove(&id));
            if jobs
                .send(Job {
                    claimed: c,
                    contact,
                })
                .await
                .is_err()
            {
                // Every sender is gone, which only a failed recording does.
                break;
            }
        }
        Ok(())
    }

    /// Writes what the senders report, a few hundred messages a
    /// transaction (or whatever came within [`RECORD_AFTER`]), and gives
    /// their places in the window back.
    async fn record(
        &self,
        ws: WorkspaceId,
        mut done: mpsc::UnboundedReceiver<Done>,
        window: &Semaphore,
    ) -> Result<(), MailError> {
        let flush_at = self.claim_size() as usize;
        let mut pending = Vec::with_capacity(flush_at);
        let mut deadline = tokio::time::Instant::now();
        loop {
            let next = if pending.is_empty() {
                done.recv().await
            } else {
                match tokio::time::timeout_at(deadline, done.recv()).await {
                    Ok(next) => next,
                    Err(_) => {
                        self.flush(ws, &mut pending, window).await?;
                        continue;
                    }
                }
            };
            let Some(d) = next else {
                return self.flush(ws, &mut pending, window).await;
            };
            if pending.is_empty() {
                deadline = tokio::time::Instant::now() + RECORD_AFTER;
            }
            pending.push(d);
            if pending.len() >= flush_at {
                self.flush(ws, &mut pending, window).await?;
            }
        }
    }

    async fn flush(
        &self,
        ws: WorkspaceId,
        pending: &mut Vec<Done>,
        window: &Semaphore,
    ) -> Result<(), MailError> {
        if pending.is_empty() {
            return Ok(());
        }
        let now = self.store.now();
        let mut outcomes = Vec::with_capacity(pending.len());
        let mut outbox = Vec::new();
        let mut bounces = Vec::new();
        for d in pending.iter() {
            let (id, attempts, result) = match d {
                Done::Outbox(r) => {
                    outbox.push(OutboxMessage {
                        message_pk: Some(r.pk),
                        message_id: &r.message_id,
                        sender: &r.from,
                        recipient: &r.to,
                        subject: &r.subject,
                        raw: &r.raw,
                    });
                    continue;
                }
                Done::Outcome {
                    id,
                    attempts,
                    result,
                } => (*id, *attempts, result),
            };
            let d = match result {
                Ok(message_id) => Delivery::Sent {
                    message_id: message_id.clone(),
                },
                Err(SendOutcome::Permanent(reason)) => Delivery::Failed {
                    reason: reason.clone(),
                },
                Err(SendOutcome::Refused { address, reason }) => {
                    bounces.push((id, address, reason));
                    Delivery::Failed {
                        reason: reason.clone(),
                    }
                }
                Err(SendOutcome::Temporary(reason)) => {
                    match self.cfg.retry.backoff(attempts as u32) {
                        Some(wait) => Delivery::Retry {
                            due_at: now + wait.as_millis() as i64,
                            reason: reason.clone(),
                        },
                        None => Delivery::Failed {
                            reason: format!("gave up after {attempts} attempts: {reason}"),
                        },
                    }
                }
            };
            outcomes.push((id, d));
        }
        if !outbox.is_empty() {
            self.store.deliver_to_outbox(ws, &outbox).await?;
        }
        self.store.record_deliveries(&outcomes).await?;
        for (pk, address, reply) in bounces {
            self.store
                .record_bounce(
                    ws,
                    address,
                    Some(pk),
                    swell_store::mailing::BounceKind::Hard,
                    None,
                    Some(reply),
                )
                .await?;
        }
        window.add_permits(pending.len());
        pending.clear();
        Ok(())
    }

    /// With nothing due: finish the broadcast, or pick the A/B winner.
    async fn settle(&self, ws: WorkspaceId, id: i64) -> Result<(), MailError> {
        let states = self.store.message_states("broadcast", id).await?;
        let left = |s: &str| states.get(s).copied().unwrap_or(0);
        if left("held") > 0 {
            let b = self.store.broadcast(ws, id).await?;
            let mut ab = b.ab.clone().unwrap_or_default();
            let wait_ms = (ab["wait_minutes"].as_f64().unwrap_or(60.0) * 60_000.0) as i64;
            let started = b.started_at.unwrap_or(b.created_at);
            if left("queued") == 0 && left("sending") == 0 && self.store.now() >= started + wait_ms
            {
                let figures = self.store.variant_figures(id).await?;
                let by_clicks = ab["metric"].as_str() == Some("clicks");
                let winner = figures
                    .iter()
                    .max_by(|a, b| {
                        let score = |(sent, opens, clicks): &(i64, i64, i64)| {
                            let hits = if by_clicks { *clicks } else { *opens };
                            hits as f64 / (*sent).max(1) as f64
                        };
                        score(a.1).total_cmp(&score(b.1)).then(b.0.cmp(a.0))
                    })
                    .map(|(v, _)| *v)
                    .unwrap_or(1);
                ab["winner"] = json!(winner);
                ab["decided_at"] = json!(swell_core::time::format_millis(self.store.now()));
                ab["figures"] = json!(figures.iter().map(|(v, (s, o, c))| json!({"variant": v, "sent": s, "unique_opens": o, "unique_clicks": c})).collect::<Vec<_>>());
                let n = self.store.release_held(ws, id, winner, &ab).await?;
                tracing::info!(broadcast = id, winner, rest = n, "A/B winner chosen");
                self.wake();
            }
            return Ok(());
        }
        if left("queued") == 0 && left("sending") == 0 {
            self.store
                .transition_broadcast(ws, id, &["sending"], "sent")
                .await?;
            tracing::info!(broadcast = id, "broadcast sent");
        }
        Ok(())
    }

    async fn prepare(&self, ws: WorkspaceId, b: &Broadcast) -> Result<Prepared, MailError> {
        self.prepared(ws, b.template_id, &b.sender, &b.name, b.ab.as_ref())
            .await
    }

    /// Loads and compiles an e-mail template (and its A/B variants) with
    /// its sender, for messages sent under `name`.
    async fn prepared(
        &self,
        ws: WorkspaceId,
        template_id: i64,
        sender: &Value,
        name: &str,
        ab: Option<&Value>,
    ) -> Result<Prepared, MailError> {
        let t = self.store.template(ws, template_id).await?;
        if t.channel != "email" {
            return Err(MailError::Template {
                id: t.id,
                reason: format!("a {} template, not an e-mail one", t.channel),
            });
        }
        let base: EmailTemplate =
            serde_json::from_value(t.content.clone()).map_err(|e| MailError::Template {
                id: t.id,
                reason: e.to_string(),
            })?;
        let compile = |tpl: &EmailTemplate| {
            CompiledEmail::compile(tpl).map_err(|errs| MailError::Template {
                id: t.id,
                reason: errs
                    .iter()
                    .map(|e| e.to_string())
                    .collect::<Vec<_>>()
                    .join("; "),
            })
        };
        let mut variants = vec![compile(&base)?];
        if let Some(ab) = ab {
            for v in ab["variants"].as_array().into_iter().flatten() {
                variants.push(compile(&variant_of(&base, v))?);
            }
        }
        let (from, reply_to) = sender_of(sender, &self.cfg.from)?;
        let workspace = self.store.workspace(ws).await?;
        Ok(Prepared {
            variants,
            name: name.to_string(),
            utm_campaign: utm_slug(name),
            from,
            reply_to,
            workspace: json!({"name": workspace.name}),
        })
    }

    /// Renders a template for one contact as its message would be, for
    /// previews, web views and test sends. Links are left as written
    /// unless a message is given, in which case they are tracked.
    pub fn render_for(
        &self,
        compiled: &CompiledEmail,
        contact: Option<&Contact>,
        workspace: &Value,
        campaign: &str,
        message: Option<i64>,
    ) -> Result<swell_core::template::RenderedEmail, MailError> {
        let urls = message_urls(&self.tokens, &self.cfg.base_url, message);
        let ctx = context(contact, workspace, campaign, &urls);
        let utm_campaign = utm_slug(campaign);
        let mut rewrite = |index: usize, url: &str| match message {
            Some(pk) => track_url(
                &self.tokens,
                &self.cfg.base_url,
                pk,
                index,
                url,
                &utm_campaign,
            ),
            None => url.to_string(),
        };
        compiled
            .render(&template_value(&ctx), &mut rewrite)
            .map_err(|e| MailError::Invalid(e.to_string()))
    }

    /// Sends a rendered template to the given addresses now, outside any
    /// broadcast (a test send): no tracking, nothing recorded but the
    /// outbox entry when the outbox is the transport.
    pub async fn test_send(
        &self,
        ws: WorkspaceId,
        template: &EmailTemplate,
        sender: &Value,
        contact: Option<&Contact>,
        to: &[Email],
    ) -> Result<Vec<String>, MailError> {
        let compiled = CompiledEmail::compile(template).map_err(|errs| {
            MailError::Invalid(
                errs.iter()
                    .map(|e| e.to_string())
                    .collect::<Vec<_>>()
                    .join("; "),
            )
        })?;
        let workspace = json!({"name": self.store.workspace(ws).await?.name});
        let (from, reply_to) = sender_of(sender, &self.cfg.from)?;
        let r = self.render_for(&compiled, contact, &workspace, "test", None)?;
        let subject = format!("[Test] {}", r.subject);
        let transport = self.transport_for(ws).await?;
        let mut ids = Vec::new();
        for address in to {
            let message_id = swell_channels::new_message_id(&self.cfg.message_domain);
            let email = OutgoingEmail {
                from: from.clone(),
                reply_to: reply_to.clone(),
                to: Mailbox::address(address.clone()),
                subject: subject.clone(),
                html: r.html.clone(),
                text: r.text.clone(),
                message_id: message_id.clone(),
                list_unsubscribe: None,
                headers: vec![("X-Swell-Test".into(), "1".into())],
            };
            let raw = build_mime(&email, self.cfg.dkim.as_deref())
                .map_err(|e| MailError::Invalid(e.to_string()))?;
            match &transport {
                Transport::Outbox => {
                    self.store
                        .deliver_to_outbox(
                            ws,
                            &[OutboxMessage {
                                message_pk: None,
                                message_id: &message_id,
                                sender: from.email.as_str(),
                                recipient: address.as_str(),
                                subject: &email.subject,
                                raw: &raw,
                            }],
                        )
                        .await?;
                }
                Transport::Smtp(smtp) => {
                    smtp.send_raw(&self.cfg.bounce_address, address, &raw)
                        .await
                        .map_err(|e| MailError::Invalid(e.to_string()))?;
                }
            }
            ids.push(message_id);
        }
        Ok(ids)
    }
}

/// How long an outcome may wait for others to be recorded with it.
const RECORD_AFTER: Duration = Duration::from_millis(50);

/// Why a broadcast's pipeline ended.
#[derive(Debug, PartialEq, Eq)]
enum Ended {
    /// Nothing due is left.
    Drained,
    /// Paused or cancelled (or a recording failed).
    Stopped,
}

/// A claimed message with its contact, for a sender.
struct Job {
    claimed: Claimed,
    contact: Option<Contact>,
}

/// What a sender hands the recorder.
enum Done {
    /// What the relay said, or why the message could not be built:
    /// (message, attempts, Message-ID or failure).
    Outcome {
        id: i64,
        attempts: i64,
        result: Result<String, SendOutcome>,
    },
    /// Rendered for the outbox, which keeps it and marks it sent at once.
    Outbox(Rendered),
}

/// Why a message did not go out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    /// May work later (a 4xx reply, a connection failure).
    Temporary(String),
    /// Will not work (a 5xx reply, a template that does not render).
    Permanent(String),
    /// A permanent refusal of the mailbox itself (550-553): failed, and
    /// the address bounced.
    Refused { address: String, reason: String },
}

struct Rendered {
    pk: i64,
    message_id: String,
    from: String,
    to: String,
    subject: String,
    raw: Vec<u8>,
}

/// One sender: takes claimed messages one at a time, renders and sends
/// each, and reports the outcome.
struct Worker {
    builder: Builder,
    transport: Transport,
    jobs: Arc<tokio::sync::Mutex<mpsc::Receiver<Job>>>,
    done: mpsc::UnboundedSender<Done>,
}

impl Worker {
    async fn run(self) {
        // A closed report channel means recording failed: stop sending
        // what could not be recorded.
        while !self.done.is_closed() {
            let Some(job) = self.jobs.lock().await.recv().await else {
                return;
            };
            let done = self.deliver(job).await;
            if self.done.send(done).is_err() {
                return;
            }
        }
    }

    async fn deliver(&self, job: Job) -> Done {
        let Job {
            claimed: c,
            contact,
        } = job;
        let (message_id, subject, raw, to) = match self.builder.build(&c, contact.as_ref(), None) {
            Ok(b) => b,
            Err(reason) => {
                return Done::Outcome {
                    id: c.id,
                    attempts: c.attempts,
                    result: Err(SendOutcome::Permanent(reason)),
                };
            }
        };
        let smtp = match &self.transport {
            Transport::Outbox => {
                return Done::Outbox(Rendered {
                    pk: c.id,
                    message_id,
                    from: self.builder.prepared.from.email.as_str().to_string(),
                    to: to.as_str().to_string(),
                    subject,
                    raw,
                });
            }
            Transport::Smtp(smtp) => smtp,
        };
        let result = send_smtp(smtp, &self.builder.cfg.bounce_address, &to, &raw)
            .await
            .map(|()| message_id);
        Done::Outcome {
            id: c.id,
            attempts: c.attempts,
            result,
        }
    }
}

/// Sends one built message through SMTP, sorting the failures.
pub(crate) async fn send_smtp(
    smtp: &SmtpTransport,
    bounce_address: &Email,
    to: &Email,
    raw: &[u8],
) -> Result<(), SendOutcome> {
    match smtp.send_raw(bounce_address, to, raw).await {
        Ok(_) => Ok(()),
        Err(SendError::Temporary { reply, code }) => Err(SendOutcome::Temporary(match code {
            Some(code) => format!("{code} {reply}"),
            None => reply,
        })),
        Err(SendError::Permanent { code, reply }) if (550..=553).contains(&code) => {
            Err(SendOutcome::Refused {
                address: to.as_str().to_string(),
                reason: format!("{code} {reply}"),
            })
        }
        Err(SendError::Permanent { code, reply }) => {
            Err(SendOutcome::Permanent(format!("{code} {reply}")))
        }
    }
}

/// What renders and builds messages of one template.
struct Builder {
    tokens: Tokens,
    cfg: MailerConfig,
    header: (String, String),
    prepared: Arc<Prepared>,
}

impl Builder {
    /// Renders and builds one message: its Message-ID, subject, MIME and
    /// recipient. `extra` adds template variables (a campaign's `record`).
    fn build(
        &self,
        c: &Claimed,
        contact: Option<&Contact>,
        extra: Option<&Value>,
    ) -> Result<(String, String, Vec<u8>, Email), String> {
        let p = &self.prepared;
        let to = Email::parse(&c.address).map_err(|e| format!("bad address {}: {e}", c.address))?;
        let compiled = p.variants.get(c.variant as usize).unwrap_or(&p.variants[0]);
        let urls = message_urls(&self.tokens, &self.cfg.base_url, Some(c.id));
        let mut ctx = context(contact, &p.workspace, &p.name, &urls);
        if let (Some(Value::Object(extra)), Value::Object(ctx)) = (extra, &mut ctx) {
            ctx.extend(extra.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        let mut rewrite = |index: usize, url: &str| {
            track_url(
                &self.tokens,
                &self.cfg.base_url,
                c.id,
                index,
                url,
                &p.utm_campaign,
            )
        };
        let r = compiled
            .render(&template_value(&ctx), &mut rewrite)
            .map_err(|e| e.to_string())?;
        let pixel = format!(
            "<img src=\"{}/t/o/{}\" width=\"1\" height=\"1\" alt=\"\" style=\"display:block;border:0;width:1px;height:1px\">",
            self.cfg.base_url,
            self.tokens.sign(&Token::Open { message: c.id })
        );
        let html = match r.html.rfind("</body>") {
            Some(at) => format!("{}{pixel}{}", &r.html[..at], &r.html[at..]),
            None => format!("{}{pixel}", r.html),
        };
        let message_id = swell_channels::new_message_id(&self.cfg.message_domain);
        let name = contact.and_then(|c| c.name.clone());
        let email = OutgoingEmail {
            from: p.from.clone(),
            reply_to: p.reply_to.clone(),
            to: match name {
                Some(n) => Mailbox::new(n, to.clone()),
                None => Mailbox::address(to.clone()),
            },
            subject: r.subject,
            html,
            text: r.text,
            message_id: message_id.clone(),
            // The same signed URL the template's `unsubscribe_url` shows.
            list_unsubscribe: Some(urls.0),
            headers: vec![self.header.clone()],
        };
        let raw = build_mime(&email, self.cfg.dkim.as_deref()).map_err(|e| e.to_string())?;
        Ok((message_id, email.subject, raw, to))
    }
}

/// A tracked link: the destination (with UTM parameters unless it has its
/// own) signed into a token.
fn track_url(
    tokens: &Tokens,
    base: &str,
    message: i64,
    index: usize,
    url: &str,
    utm_campaign: &str,
) -> String {
    let dest = with_utm(url, utm_campaign);
    let token = tokens.sign(&Token::Click {
        message,
        link: index as i64,
        url: dest,
    });
    format!("{base}/t/c/{token}")
}

/// A campaign name as a `utm_campaign` value: folded, ASCII letters and
/// digits joined by `-` ("Tết 2027!" -> "tet-2027").
pub fn utm_slug(campaign: &str) -> String {
    swell_core::text::fold(campaign)
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("-")
}

/// Adds `utm_source=swell&utm_medium=email&utm_campaign=SLUG` to a URL
/// that carries no UTM parameters of its own.
pub fn with_utm(url: &str, slug: &str) -> String {
    if url.contains("utm_") {
        return url.to_string();
    }
    let (base, fragment) = match url.split_once('#') {
        Some((b, f)) => (b, Some(f)),
        None => (url, None),
    };
    let sep = if base.contains('?') { '&' } else { '?' };
    let mut out = format!("{base}{sep}utm_source=swell&utm_medium=email&utm_campaign={slug}");
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    out
}

/// The variables a template sees.
fn context(
    contact: Option<&Contact>,
    workspace: &Value,
    campaign: &str,
    (unsubscribe, view): &(String, String),
) -> Value {
    let contact = contact.map(contact_value).unwrap_or_else(|| json!({}));
    json!({
        "contact": contact,
        "workspace": workspace,
        "campaign": {"name": campaign},
        "unsubscribe_url": unsubscribe,
        "view_in_browser_url": view,
    })
}

/// A message's unsubscribe and web-view URLs (placeholders outside a send).
fn message_urls(tokens: &Tokens, base: &str, message: Option<i64>) -> (String, String) {
    match message {
        Some(m) => (
            format!(
                "{base}/t/u/{}",
                tokens.sign(&Token::Unsubscribe { message: m })
            ),
            format!("{base}/t/v/{}", tokens.sign(&Token::View { message: m })),
        ),
        None => (format!("{base}/t/u/test"), format!("{base}/t/v/test")),
    }
}

/// A contact as templates see it.
pub fn contact_value(c: &Contact) -> Value {
    let attrs = Value::Object(c.attributes.clone());
    json!({
        "id": c.id,
        "email": c.email,
        "phone": c.phone,
        "name": c.name,
        "given_name": c.given_name,
        "family_name": c.family_name,
        "birthday": c.birthday,
        "timezone": c.timezone,
        "locale": c.locale,
        "score": c.score,
        "owner": c.owner,
        "tags": c.tags,
        "created_at": swell_core::time::format_millis(c.created_at),
        "attr": attrs.clone(),
        "attributes": attrs,
    })
}

/// A/B variant: the template with the variant's subject, preheader, html
/// or text in place of its own.
fn variant_of(base: &EmailTemplate, v: &Value) -> EmailTemplate {
    let mut t = base.clone();
    if let Some(s) = v["subject"].as_str() {
        t.subject = s.to_string();
    }
    if let Some(s) = v["preheader"].as_str() {
        t.preheader = Some(s.to_string());
    }
    if let Some(s) = v["html"].as_str() {
        t.html = s.to_string();
    }
    if let Some(s) = v["text"].as_str() {
        t.text = Some(s.to_string());
    }
    t
}

/// How a broadcast's recipients split for its A/B test, if it has one.
pub fn split_of(b: &Broadcast) -> Option<Split> {
    let ab = b.ab.as_ref()?;
    let variants = ab["variants"].as_array()?.len() as u32;
    (variants > 0).then(|| Split {
        variants,
        sample_percent: ab["sample_percent"].as_u64().unwrap_or(20).min(100) as u32,
    })
}

/// `{"from_name", "from_email", "reply_to"}` over the default sender.
fn sender_of(sender: &Value, default: &Mailbox) -> Result<(Mailbox, Option<Mailbox>), MailError> {
    let obj = sender.as_object().cloned().unwrap_or_else(Map::new);
    let email = match obj.get("from_email").and_then(Value::as_str) {
        Some(e) => Email::parse(e).map_err(|e| MailError::Invalid(format!("from_email: {e}")))?,
        None => default.email.clone(),
    };
    let name = obj
        .get("from_name")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| default.name.clone());
    let from = Mailbox { name, email };
    let reply_to = match obj.get("reply_to").and_then(Value::as_str) {
        Some(e) => Some(Mailbox::address(
            Email::parse(e).map_err(|e| MailError::Invalid(format!("reply_to: {e}")))?,
        )),
        None => None,
    };
    Ok((from, reply_to))
}

/// Whether an open came from a machine: a mail privacy proxy that fetches
/// every image, or a security scanner that follows everything on arrival.
pub fn machine_open(user_agent: Option<&str>) -> bool {
    const MACHINES: &[&str] = &[
        "googleimageproxy",
        "yahoomailproxy",
        "ymailproxy",
        "bingpreview",
        "barracuda",
        "mimecast",
        "proofpoint",
        "symantec",
        "trendmicro",
        "forcepoint",
        "python-requests",
        "go-http-client",
        "curl/",
        "wget/",
        "headlesschrome",
        "msoffice/16.0 (windows nt; microsoft outlook safe links",
    ];
    let ua = user_agent.unwrap_or("").to_ascii_lowercase();
    // Apple Mail Privacy Protection fetches with a bare "Mozilla/5.0".
    if ua.trim().is_empty() || ua.trim() == "mozilla/5.0" {
        return true;
    }
    MACHINES.iter().any(|m| ua.contains(m))
}

/// A JSON context as templates take it.
pub fn template_value(ctx: &Value) -> swell_core::template::Value {
    swell_core::template::Value::from(minijinja::value::Serde(ctx))
}

/// One rendered campaign message, ready for a transport.
pub struct RenderedSingle {
    pub message_id: String,
    pub subject: String,
    pub raw: Vec<u8>,
    /// The recipient's address.
    pub to: Email,
}

/// An e-mail template ready to send many times outside a broadcast (a
/// campaign step): compiled once, with its sender and workspace.
#[derive(Clone)]
pub struct PreparedEmail(Arc<Prepared>);

impl Mailer {
    /// Prepares template `template_id` for messages of campaign `campaign`.
    pub async fn prepare_email(
        &self,
        ws: WorkspaceId,
        template_id: i64,
        sender: &Value,
        campaign: &str,
    ) -> Result<PreparedEmail, MailError> {
        let p = self
            .prepared(ws, template_id, sender, campaign, None)
            .await?;
        Ok(PreparedEmail(Arc::new(p)))
    }

    /// Renders one message a campaign step made (`message_pk` is its row),
    /// built and tracked as a broadcast's are, without delivering it: the
    /// engine keeps a batch's messages for the outbox in one write.
    pub fn render_single(
        &self,
        prepared: &PreparedEmail,
        message_pk: i64,
        contact: &Contact,
        extra: Option<&Value>,
    ) -> Result<RenderedSingle, SendOutcome> {
        let claimed = Claimed {
            id: message_pk,
            contact_id: Some(contact.id),
            address: contact.email.clone().unwrap_or_default(),
            variant: 0,
            attempts: 0,
        };
        let header = ("X-Swell-Campaign", prepared.0.utm_campaign.clone());
        let (message_id, subject, raw, to) = self
            .builder(header, Arc::clone(&prepared.0))
            .build(&claimed, Some(contact), extra)
            .map_err(SendOutcome::Permanent)?;
        Ok(RenderedSingle {
            message_id,
            subject,
            raw,
            to,
        })
    }

    /// The sender address of a prepared e-mail.
    pub fn sender_of(prepared: &PreparedEmail) -> &str {
        prepared.0.from.email.as_str()
    }

    /// Renders and delivers one message a campaign step made (`message_pk`
    /// is its row), built and tracked as a broadcast's are. `extra` adds
    /// template variables (`record`). Returns the Message-ID.
    pub async fn send_single(
        &self,
        ws: WorkspaceId,
        prepared: &PreparedEmail,
        message_pk: i64,
        contact: &Contact,
        extra: Option<&Value>,
    ) -> Result<String, SendOutcome> {
        let RenderedSingle {
            message_id,
            subject,
            raw,
            to,
        } = self.render_single(prepared, message_pk, contact, extra)?;
        let transport = self
            .transport_for(ws)
            .await
            .map_err(|e| SendOutcome::Temporary(e.to_string()))?;
        match &transport {
            Transport::Outbox => self
                .store
                .deliver_to_outbox(
                    ws,
                    &[OutboxMessage {
                        message_pk: Some(message_pk),
                        message_id: &message_id,
                        sender: prepared.0.from.email.as_str(),
                        recipient: to.as_str(),
                        subject: &subject,
                        raw: &raw,
                    }],
                )
                .await
                .map_err(|e| SendOutcome::Temporary(e.to_string()))?,
            Transport::Smtp(smtp) => send_smtp(smtp, &self.cfg.bounce_address, &to, &raw).await?,
        }
        Ok(message_id)
    }
}

/// A stored relay as the SMTP transport takes it.
fn relay_of(r: swell_store::smtp::SmtpServerRow) -> swell_channels::SmtpServer {
    swell_channels::SmtpServer {
        name: r.name,
        host: r.host,
        port: r.port,
        tls: match r.tls.as_str() {
            "tls" => swell_channels::Tls::Tls,
            "starttls" => swell_channels::Tls::StartTls,
            _ => swell_channels::Tls::None,
        },
        accept_invalid_certs: r.accept_invalid_certs,
        username: r.username,
        password: r.password.map(swell_channels::smtp::Password::new),
        weight: r.weight,
        max_connections: r.max_connections,
        rate_per_second: r.rate_per_second,
    }
}
