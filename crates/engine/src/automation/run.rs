//! Running one trace: what each kind of activity does.
//!
//! Messages (e-mail, SMS, Zalo, in-app) get a message row keyed by the
//! trace before anything leaves, so a trace taken again after a crash
//! finds it: a message already sent is not sent again, and one that was
//! on its way when the process died is sent again only where the provider
//! deduplicates by the trace's idempotency key (SMS, Zalo, webhooks),
//! never by e-mail. Server actions that are not idempotent (adding to a
//! score, creating a task or lead) happen in the outcome's transaction.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value, json};
use swell_channels::http::{HttpProvider, ProviderConfig, ProviderRequest};
use swell_channels::webhook::Webhook;
use swell_channels::{ChannelKind, DeliveryError};
use swell_core::contact::{Contact, ContactInput, ParseContext, Patch};
use swell_core::record::RecordInput;
use swell_core::template::{SmsTemplate, ZnsTemplate};
use swell_store::automation::extras::{ChannelSetting, NewInApp};
use swell_store::automation::queue::{ClaimedTrace, NewTraceMessage, TraceOutcome, TxAction};
use swell_store::automation::{Activity, Campaign};
use swell_store::consent::Channel;
use swell_store::contacts::{ContactWrite, Target};
use swell_store::lists::Status;
use swell_store::mailing::{OutboxMessage, SentTraceMessage};
use swell_store::records::RecordWrite;
use swell_store::{StoreError, WorkspaceId};

use super::{Automation, EngineError};
use crate::Transport;
use crate::mailer::{
    MailError, Mailer, PreparedEmail, RenderedSingle, SendOutcome, contact_value, template_value,
};
use crate::tokens::Token;

/// The reason of a processed trace whose message bounced at once.
pub(super) const BOUNCED: &str = "bounced: ";

/// How long a person counts as "seen in the app" for in-app messages.
pub const APP_SEEN_MS: i64 = 30 * 24 * 3600 * 1000;

/// What a step did, before it becomes an outcome.
enum Ran {
    Done,
    Sent {
        channel: String,
        message_pk: Option<i64>,
        cost: f64,
    },
    Bounced {
        channel: String,
        message_pk: i64,
        reason: String,
    },
    Rejected(String),
    Failed(String),
    Retry(String),
    Actions(Vec<TxAction>),
    End,
}

/// What the traces of one batch share, loaded at most once per batch:
/// each workspace's channel settings (providers, unit costs) and each
/// e-mail step's prepared template; and what [`Automation::prefetch`] read
/// for all of them before they run (contacts, skip reasons, message rows),
/// and the e-mails they leave for the outbox, written together after.
#[derive(Default)]
pub(super) struct Shared {
    settings: Mutex<HashMap<WorkspaceId, Arc<Vec<ChannelSetting>>>>,
    emails: Mutex<HashMap<(i64, i64), PreparedEmail>>,
    /// Contacts read for the batch (None: not there); one missing from
    /// the map is read on its own.
    contacts: HashMap<(WorkspaceId, i64), Option<Contact>>,
    /// Why a contact cannot be reached on a channel, read for the batch.
    skips: HashMap<(WorkspaceId, i64, &'static str), Option<String>>,
    /// Message rows made for the batch's e-mail traces: id and the state a
    /// row already there was in. Taken by the trace that uses it.
    messages: Mutex<HashMap<i64, (i64, Option<String>)>>,
    /// E-mails rendered for the built-in outbox, kept in one write after
    /// the batch has run (see [`Automation::flush_outbox`]).
    outbox: Mutex<Vec<ForOutbox>>,
    /// Message ids reserved for the batch's e-mail traces on their first
    /// claim, by trace, when the outbox is the transport: the row is
    /// written, sent, with the outbox entry. Taken by the trace that uses
    /// it.
    reserved: Mutex<HashMap<i64, i64>>,
}

impl Shared {
    /// Whether the batch made (or found) the trace's message row before it
    /// ran: such a trace runs whatever time is left, as a row left
    /// `sending` would stop the next claim from ever sending it.
    pub(super) fn has_message_row(&self, trace: i64) -> bool {
        self.messages
            .lock()
            .expect("message rows")
            .contains_key(&trace)
    }
}

/// An e-mail a trace rendered for the outbox, not yet written.
pub(super) struct ForOutbox {
    workspace: WorkspaceId,
    trace: i64,
    attempts: i64,
    message_pk: i64,
    /// The message row is still to be made (its id was reserved): the
    /// contact and address it goes to.
    new_row: Option<(Option<i64>, Option<String>)>,
    sender: String,
    message: RenderedSingle,
}

/// Activity kinds whose traces read the participant's contact.
const READS_CONTACT: &[&str] = &["email", "sms", "zalo", "inapp", "message", "webhook"];

impl Automation {
    /// A workspace's channel settings, read once per batch.
    async fn settings(
        &self,
        sh: &Shared,
        ws: WorkspaceId,
    ) -> Result<Arc<Vec<ChannelSetting>>, EngineError> {
        if let Some(s) = sh.settings.lock().expect("settings cache").get(&ws) {
            return Ok(Arc::clone(s));
        }
        let loaded = Arc::new(self.store.channel_settings(ws).await?);
        sh.settings
            .lock()
            .expect("settings cache")
            .insert(ws, Arc::clone(&loaded));
        Ok(loaded)
    }

    /// An e-mail step's template, compiled once per batch (per step, since
    /// the step's sender and campaign go with it).
    async fn email(
        &self,
        sh: &Shared,
        t: &ClaimedTrace,
        c: &Campaign,
        config: &Value,
    ) -> Result<PreparedEmail, EngineError> {
        let id = config
            .get("template_id")
            .and_then(Value::as_i64)
            .ok_or_else(|| EngineError::Invalid("the activity names no template_id".into()))?;
        let key = (t.activity_id, id);
        if let Some(p) = sh.emails.lock().expect("template cache").get(&key) {
            return Ok(p.clone());
        }
        let sender = config.get("sender").cloned().unwrap_or(Value::Null);
        let prepared = match self
            .mailer
            .prepare_email(t.workspace, id, &sender, &c.name)
            .await
        {
            Ok(p) => p,
            Err(MailError::Store(StoreError::NotFound)) => {
                return Err(EngineError::Invalid(format!(
                    "template {id} does not exist"
                )));
            }
            Err(MailError::Store(e)) => return Err(e.into()),
            Err(e) => return Err(EngineError::Invalid(e.to_string())),
        };
        sh.emails
            .lock()
            .expect("template cache")
            .insert(key, prepared.clone());
        Ok(prepared)
    }

    /// Reads what the batch's traces need before they run, a few
    /// statements for the whole batch where each trace would otherwise
    /// issue its own: the contacts of the traces that read one, why they
    /// cannot be reached on their step's channel, and the message rows of
    /// the e-mail steps that will send (made `sending`, as
    /// [`Store::trace_message`] makes one). A trace finds its share in
    /// `sh`; what could not be read here is read by the trace itself.
    ///
    /// [`Store::trace_message`]: swell_store::Store::trace_message
    pub(super) async fn prefetch(
        &self,
        sh: &mut Shared,
        runnable: &[(ClaimedTrace, Activity, Campaign)],
    ) -> Result<(), EngineError> {
        let mut contacts: HashMap<WorkspaceId, Vec<i64>> = HashMap::new();
        let mut skips: HashMap<(WorkspaceId, &'static str), (Channel, Vec<i64>)> = HashMap::new();
        for (t, a, _) in runnable {
            let Some(id) = t.contact_id else { continue };
            if !READS_CONTACT.contains(&a.kind.as_str()) {
                continue;
            }
            contacts.entry(t.workspace).or_default().push(id);
            let channel = match a.kind.as_str() {
                "email" => Channel::Email,
                "sms" => Channel::Sms,
                "zalo" => Channel::Zalo,
                _ => continue,
            };
            skips
                .entry((t.workspace, channel.as_str()))
                .or_insert_with(|| (channel, Vec::new()))
                .1
                .push(id);
        }
        for (ws, mut ids) in contacts {
            ids.sort_unstable();
            ids.dedup();
            let found = self.store.contacts_by_ids(ws, &ids).await?;
            for id in &ids {
                sh.contacts.insert((ws, *id), None);
            }
            for c in found {
                sh.contacts.insert((ws, c.id), Some(c));
            }
        }
        for ((ws, _), (channel, mut ids)) in skips {
            ids.sort_unstable();
            ids.dedup();
            for (id, why) in self.store.skip_reasons(ws, &ids, channel).await? {
                sh.skips.insert((ws, id, channel.as_str()), why);
            }
        }
        // The e-mail steps that will send: a contact reachable by e-mail,
        // a template that prepares. Contact campaigns only, where nothing
        // is read between here and the send: a row made for a trace that
        // then stopped short would be taken for one interrupted sending.
        let mut wanted: HashMap<WorkspaceId, Vec<(i64, i64, Option<String>, bool)>> =
            HashMap::new();
        for (t, a, c) in runnable {
            let Some(id) = t.contact_id else { continue };
            if a.kind != "email"
                || c.entity != "contact"
                || !matches!(sh.skips.get(&(t.workspace, id, "email")), Some(None))
            {
                continue;
            }
            let Some(Some(contact)) = sh.contacts.get(&(t.workspace, id)) else {
                continue;
            };
            if self.email(sh, t, c, &a.config).await.is_err() {
                continue;
            }
            let address = contact.email.clone();
            wanted
                .entry(t.workspace)
                .or_default()
                .push((t.id, id, address, t.attempts <= 1));
        }
        for (ws, mut rows) in wanted {
            // On a first claim with the outbox as the transport, ids only:
            // the row is written with the outbox entry.
            if matches!(self.mailer.transport_for(ws).await, Ok(Transport::Outbox)) {
                let first: Vec<i64> = rows.iter().filter(|r| r.3).map(|r| r.0).collect();
                if !first.is_empty() {
                    let ids = self.store.reserve_message_ids(first.len()).await?;
                    sh.reserved
                        .lock()
                        .expect("reserved ids")
                        .extend(first.into_iter().zip(ids));
                    rows.retain(|r| !r.3);
                }
            }
            if rows.is_empty() {
                continue;
            }
            let rows: Vec<NewTraceMessage> = rows
                .iter()
                .map(|(trace, contact, address, first)| NewTraceMessage {
                    trace: *trace,
                    contact: Some(*contact),
                    channel: "email",
                    address: address.as_deref(),
                    first_attempt: *first,
                })
                .collect();
            let made = self.store.trace_messages(ws, &rows).await?;
            sh.messages.lock().expect("message rows").extend(made);
        }
        Ok(())
    }

    /// Writes the e-mails the batch rendered for the outbox, one
    /// transaction per workspace that also marks their messages sent.
    /// Returns the traces whose write failed, with why: they are tried
    /// again, their message rows `queued` again.
    ///
    /// The trade-off: a crash after the batch's message rows were made and
    /// before this write leaves all of them `sending`, where one message
    /// was on its way before. Taken again, each fails as interrupted: an
    /// e-mail is never sent twice.
    pub(super) async fn flush_outbox(&self, sh: &Shared) -> HashMap<i64, (i64, String)> {
        let pending = std::mem::take(&mut *sh.outbox.lock().expect("outbox"));
        let mut failed = HashMap::new();
        let mut by_ws: HashMap<WorkspaceId, Vec<ForOutbox>> = HashMap::new();
        for p in pending {
            by_ws.entry(p.workspace).or_default().push(p);
        }
        for (ws, group) in by_ws {
            let rows: Vec<SentTraceMessage> = group
                .iter()
                .filter_map(|p| {
                    let (contact, address) = p.new_row.as_ref()?;
                    Some(SentTraceMessage {
                        id: p.message_pk,
                        trace: p.trace,
                        contact: *contact,
                        address: address.as_deref(),
                        message_id: &p.message.message_id,
                    })
                })
                .collect();
            let messages: Vec<OutboxMessage> = group
                .iter()
                .map(|p| OutboxMessage {
                    message_pk: Some(p.message_pk),
                    message_id: &p.message.message_id,
                    sender: &p.sender,
                    recipient: p.message.to.as_str(),
                    subject: &p.message.subject,
                    raw: &p.message.raw,
                })
                .collect();
            if let Err(e) = self
                .store
                .deliver_to_outbox_with_rows(ws, &rows, &messages)
                .await
            {
                let why = e.to_string();
                for p in &group {
                    if p.new_row.is_some() {
                        // Never written: the next claim makes it afresh.
                        failed.insert(p.trace, (p.attempts, why.clone()));
                        continue;
                    }
                    let _ = self
                        .store
                        .finish_trace_message(p.message_pk, "queued", None, Some(&why))
                        .await;
                    failed.insert(p.trace, (p.attempts, why.clone()));
                }
            }
        }
        failed
    }

    /// Runs one trace's activity and says how it ended.
    pub(super) async fn execute(
        &self,
        sh: &Shared,
        t: &ClaimedTrace,
        a: &Activity,
        c: &Campaign,
    ) -> TraceOutcome {
        let ran = match self.run_kind(sh, t, a, c, &a.kind, &a.config).await {
            Ok(r) => r,
            Err(EngineError::Store(StoreError::Backend(e))) => Ran::Retry(e.to_string()),
            Err(e) => Ran::Failed(e.to_string()),
        };
        let mut o = TraceOutcome::new(t.id, "processed");
        match ran {
            Ran::Done => {}
            Ran::Sent {
                channel,
                message_pk,
                cost,
            } => {
                o.channel = Some(channel);
                o.message_pk = message_pk;
                o.cost = Some(cost);
            }
            Ran::Bounced {
                channel,
                message_pk,
                reason,
            } => {
                o.channel = Some(channel);
                o.message_pk = Some(message_pk);
                o.reason = Some(reason);
            }
            Ran::Rejected(why) => o = TraceOutcome::new(t.id, "rejected").because(why),
            Ran::Failed(why) => o = TraceOutcome::new(t.id, "failed").because(why),
            Ran::Retry(why) => o = self.retry(t.id, t.attempts, why),
            Ran::Actions(actions) => o.actions = actions,
            Ran::End => o.end_participant = true,
        }
        o
    }

    /// A trace to try again after the backoff, or failed when the
    /// attempts are spent.
    pub(super) fn retry(&self, id: i64, attempts: i64, why: String) -> TraceOutcome {
        match self.cfg.retry.backoff(attempts as u32) {
            Some(wait) => {
                let mut o = TraceOutcome::new(id, "scheduled").because(why);
                o.retry_at = Some(self.store.now() + wait.as_millis() as i64);
                o
            }
            None => TraceOutcome::new(id, "failed")
                .because(format!("gave up after {attempts} attempts: {why}")),
        }
    }

    async fn run_kind(
        &self,
        sh: &Shared,
        t: &ClaimedTrace,
        a: &Activity,
        c: &Campaign,
        kind: &str,
        config: &Value,
    ) -> Result<Ran, EngineError> {
        match kind {
            "email" => self.send_email(sh, t, c, config).await,
            "sms" => self.send_sms(sh, t, c, config, Channel::Sms).await,
            "zalo" => self.send_sms(sh, t, c, config, Channel::Zalo).await,
            "inapp" => self.send_inapp(sh, t, c, config).await,
            "message" => self.send_first_reachable(sh, t, a, c, config).await,
            "webhook" => self.call_webhook(sh, t, a, c, config).await,
            "action" => self.act(t, c, config).await,
            "split" => Ok(Ran::Done),
            other => Ok(Ran::Failed(format!("unknown activity kind {other}"))),
        }
    }

    /// The template variables of a trace: the contact, the record for
    /// record campaigns, the campaign.
    async fn variables(
        &self,
        sh: &Shared,
        t: &ClaimedTrace,
        c: &Campaign,
    ) -> Result<(Option<Contact>, Value), EngineError> {
        let contact = match t.contact_id {
            Some(id) => match sh.contacts.get(&(t.workspace, id)) {
                Some(found) => found.clone(),
                None => match self.store.contact(t.workspace, id).await {
                    Ok(c) => Some(c),
                    Err(StoreError::NotFound) => None,
                    Err(e) => return Err(e.into()),
                },
            },
            None => None,
        };
        let mut extra = Map::new();
        if c.entity != "contact" {
            let ty = self.entity_type(t.workspace, &c.entity).await?;
            if let Ok(r) = self.store.record(t.workspace, &ty, t.record_id).await {
                extra.insert("record".into(), r.to_json());
            }
        }
        extra.insert("campaign".into(), json!({"id": c.id, "name": c.name}));
        Ok((contact, Value::Object(extra)))
    }

    /// The contact a message step reaches, with the template variables,
    /// or why it cannot: no contact, unreachable on `channel` (no address,
    /// opted out, blocklisted, suppressed), deleted.
    async fn recipient(
        &self,
        sh: &Shared,
        t: &ClaimedTrace,
        c: &Campaign,
        channel: Option<Channel>,
    ) -> Result<Result<(Contact, Value), Ran>, EngineError> {
        let Some(contact_id) = t.contact_id else {
            return Ok(Err(Ran::Rejected("the participant has no contact".into())));
        };
        if let Some(ch) = channel {
            let why = match sh.skips.get(&(t.workspace, contact_id, ch.as_str())) {
                Some(why) => why.clone(),
                None => self.store.skip_reason(t.workspace, contact_id, ch).await?,
            };
            if let Some(why) = why {
                return Ok(Err(Ran::Rejected(why)));
            }
        }
        match self.variables(sh, t, c).await? {
            (Some(contact), extra) => Ok(Ok((contact, extra))),
            (None, _) => Ok(Err(Ran::Rejected("the contact was deleted".into()))),
        }
    }

    /// The message row of a trace: None when it was already sent (nothing
    /// to do) or when resending could send it twice.
    async fn message_row(
        &self,
        sh: &Shared,
        t: &ClaimedTrace,
        channel: &str,
        address: Option<&str>,
        dedupes: bool,
    ) -> Result<Result<i64, Ran>, EngineError> {
        let made = sh.messages.lock().expect("message rows").remove(&t.id);
        let (pk, before) = match made {
            Some(m) => m,
            None => {
                self.store
                    .trace_message(t.workspace, t.id, t.contact_id, channel, address)
                    .await?
            }
        };
        Ok(match before.as_deref() {
            Some("sent") => Err(Ran::Sent {
                channel: channel.into(),
                message_pk: Some(pk),
                cost: 0.0,
            }),
            Some("failed") => Err(Ran::Failed("the message failed before".into())),
            Some("sending") if !dedupes => {
                self.store
                    .finish_trace_message(
                        pk,
                        "failed",
                        None,
                        Some("interrupted while sending; not sent again"),
                    )
                    .await?;
                Err(Ran::Failed(
                    "interrupted while sending; not sent again to avoid a duplicate".into(),
                ))
            }
            _ => Ok(pk),
        })
    }

    async fn send_email(
        &self,
        sh: &Shared,
        t: &ClaimedTrace,
        c: &Campaign,
        config: &Value,
    ) -> Result<Ran, EngineError> {
        let (contact, extra) = match self.recipient(sh, t, c, Some(Channel::Email)).await? {
            Ok(r) => r,
            Err(rejected) => return Ok(rejected),
        };
        let prepared = self.email(sh, t, c, config).await?;
        let outbox = matches!(
            self.mailer.transport_for(t.workspace).await,
            Ok(Transport::Outbox)
        );
        let reserved = sh
            .reserved
            .lock()
            .expect("reserved ids")
            .remove(&t.id)
            .filter(|_| outbox);
        let pk = match reserved {
            Some(pk) => pk,
            None => match self
                .message_row(sh, t, "email", contact.email.as_deref(), false)
                .await?
            {
                Ok(pk) => pk,
                Err(done) => return Ok(done),
            },
        };
        if outbox {
            // Kept for the outbox with the batch's others (see
            // `flush_outbox`); sent once that write commits.
            let message = match self
                .mailer
                .render_single(&prepared, pk, &contact, Some(&extra))
            {
                Ok(m) => m,
                Err(e) => {
                    // Recorded on a message row like any failed send: one
                    // made now when the id was only reserved.
                    let pk = match reserved {
                        None => pk,
                        Some(_) => match self
                            .message_row(sh, t, "email", contact.email.as_deref(), false)
                            .await?
                        {
                            Ok(pk) => pk,
                            Err(done) => return Ok(done),
                        },
                    };
                    return self.settle(sh, t, pk, "email", Err(e)).await;
                }
            };
            sh.outbox.lock().expect("outbox").push(ForOutbox {
                workspace: t.workspace,
                trace: t.id,
                attempts: t.attempts,
                message_pk: pk,
                new_row: reserved.map(|_| (t.contact_id, contact.email.clone())),
                sender: Mailer::sender_of(&prepared).to_string(),
                message,
            });
            return Ok(Ran::Sent {
                channel: "email".into(),
                message_pk: Some(pk),
                cost: self.unit_cost(sh, t.workspace, "email").await?,
            });
        }
        let sent = self
            .mailer
            .send_single(t.workspace, &prepared, pk, &contact, Some(&extra))
            .await;
        self.settle(sh, t, pk, "email", sent).await
    }

    /// What a message on `channel` costs in the workspace.
    async fn unit_cost(
        &self,
        sh: &Shared,
        ws: WorkspaceId,
        channel: &str,
    ) -> Result<f64, EngineError> {
        Ok(self
            .settings(sh, ws)
            .await?
            .iter()
            .find(|s| s.channel == channel)
            .map_or(0.0, |s| s.unit_cost))
    }

    /// Records a send's result on its message row and turns it into a step
    /// result.
    async fn settle(
        &self,
        sh: &Shared,
        t: &ClaimedTrace,
        pk: i64,
        channel: &str,
        sent: Result<String, SendOutcome>,
    ) -> Result<Ran, EngineError> {
        match sent {
            Ok(provider_id) => {
                self.store
                    .finish_trace_message(pk, "sent", Some(&provider_id), None)
                    .await?;
                let cost = self.unit_cost(sh, t.workspace, channel).await?;
                Ok(Ran::Sent {
                    channel: channel.into(),
                    message_pk: Some(pk),
                    cost,
                })
            }
            Err(SendOutcome::Temporary(why)) => {
                self.store
                    .finish_trace_message(pk, "queued", None, Some(&why))
                    .await?;
                Ok(Ran::Retry(why))
            }
            Err(SendOutcome::Permanent(why)) => {
                self.store
                    .finish_trace_message(pk, "failed", None, Some(&why))
                    .await?;
                Ok(Ran::Failed(why))
            }
            Err(SendOutcome::Refused {
                address,
                reason: why,
            }) => {
                self.store
                    .finish_trace_message(pk, "failed", None, Some(&why))
                    .await?;
                self.store
                    .record_bounce(
                        t.workspace,
                        &address,
                        Some(pk),
                        swell_store::mailing::BounceKind::Hard,
                        None,
                        Some(&why),
                    )
                    .await?;
                // The step ran and its message bounced: the "bounced"
                // branch goes on at once (see `Automation::children`).
                Ok(Ran::Bounced {
                    channel: channel.into(),
                    message_pk: pk,
                    reason: format!("{BOUNCED}{why}"),
                })
            }
        }
    }

    /// SMS and Zalo ZNS through the workspace's HTTP provider.
    async fn send_sms(
        &self,
        sh: &Shared,
        t: &ClaimedTrace,
        c: &Campaign,
        config: &Value,
        channel: Channel,
    ) -> Result<Ran, EngineError> {
        let (contact, extra) = match self.recipient(sh, t, c, Some(channel)).await? {
            Ok(r) => r,
            Err(rejected) => return Ok(rejected),
        };
        let name = channel.as_str();
        let settings = self.settings(sh, t.workspace).await?;
        let Some(setting) = settings.iter().find(|s| s.channel == name) else {
            return Ok(Ran::Failed(format!("no {name} provider is configured")));
        };
        let provider_config: ProviderConfig = match serde_json::from_value(setting.config.clone()) {
            Ok(p) => p,
            Err(e) => {
                return Ok(Ran::Failed(format!(
                    "the {name} provider is misconfigured: {e}"
                )));
            }
        };
        let phone = contact.phone.clone().unwrap_or_default();
        let pk = match self.message_row(sh, t, name, Some(&phone), true).await? {
            Ok(pk) => pk,
            Err(done) => return Ok(done),
        };
        let mut ctx = json!({"contact": contact_value(&contact)});
        merge(&mut ctx, &extra);
        let key = format!("swell-trace-{}", t.id);
        let to = match swell_core::phone::Phone::parse(&phone, "VN") {
            Ok(p) => p,
            Err(e) => return Ok(Ran::Rejected(format!("phone {phone}: {e}"))),
        };
        let request = match channel {
            Channel::Zalo => {
                let template = self
                    .template::<ZnsTemplate>(t.workspace, config, "zns")
                    .await?;
                match swell_core::template::render_zns(&template, &template_value(&ctx)) {
                    Ok((template_id, params)) => ProviderRequest::zns(to, template_id, params, key),
                    Err(e) => return Ok(Ran::Failed(e.to_string())),
                }
            }
            _ => {
                let template = self
                    .template::<SmsTemplate>(t.workspace, config, "sms")
                    .await?;
                match swell_core::template::render_sms(&template, &template_value(&ctx)) {
                    Ok(r) => ProviderRequest::sms(to, self.track_sms_links(&r.body, pk), key),
                    Err(e) => return Ok(Ran::Failed(e.to_string())),
                }
            }
        };
        let kind = match channel {
            Channel::Zalo => ChannelKind::Zalo,
            _ => ChannelKind::Sms,
        };
        let provider = match HttpProvider::new(kind, provider_config, self.http.clone()) {
            Ok(p) => p,
            Err(e) => {
                return Ok(Ran::Failed(format!(
                    "the {name} provider is misconfigured: {}",
                    e.problems.join("; ")
                )));
            }
        };
        let sent = provider
            .send(&request)
            .await
            .map(|r| r.provider_id.unwrap_or_default())
            .map_err(single_error);
        self.settle(sh, t, pk, name, sent).await
    }

    /// Links in an SMS become tracked links, so "SMS clicked" branches and
    /// click figures work as for e-mail.
    fn track_sms_links(&self, body: &str, message: i64) -> String {
        let base = &self.mailer.config().base_url;
        let mut index = 0;
        body.split_inclusive(char::is_whitespace)
            .map(|word| {
                let trimmed = word.trim_end();
                if trimmed.starts_with("http://") || trimmed.starts_with("https://") {
                    let token = self.mailer.tokens().sign(&Token::Click {
                        message,
                        link: index,
                        url: trimmed.to_string(),
                    });
                    index += 1;
                    format!("{base}/t/c/{token}{}", &word[trimmed.len()..])
                } else {
                    word.to_string()
                }
            })
            .collect()
    }

    /// A banner or pop-up shown the next time the person opens the app.
    async fn send_inapp(
        &self,
        sh: &Shared,
        t: &ClaimedTrace,
        c: &Campaign,
        config: &Value,
    ) -> Result<Ran, EngineError> {
        let (contact, extra) = match self.recipient(sh, t, c, None).await? {
            Ok(r) => r,
            Err(rejected) => return Ok(rejected),
        };
        let mut ctx = json!({"contact": contact_value(&contact)});
        merge(&mut ctx, &extra);
        let render = |key: &str| -> Result<Option<String>, String> {
            match config.get(key).and_then(Value::as_str) {
                None => Ok(None),
                Some(body) => swell_core::template::render_sms(
                    &SmsTemplate {
                        body: body.to_string(),
                    },
                    &template_value(&ctx),
                )
                .map(|r| Some(r.body))
                .map_err(|e| format!("{key}: {e}")),
            }
        };
        let (title, body) = match (render("title"), render("body")) {
            (Ok(title), Ok(Some(body))) => (title, body),
            (Ok(_), Ok(None)) => return Ok(Ran::Failed("an in-app message needs a body".into())),
            (Err(e), _) | (_, Err(e)) => return Ok(Ran::Failed(e)),
        };
        let pk = match self.message_row(sh, t, "inapp", None, true).await? {
            Ok(pk) => pk,
            Err(done) => return Ok(done),
        };
        let days = config
            .get("expires_in_days")
            .and_then(Value::as_i64)
            .unwrap_or(7);
        self.store
            .put_inapp(
                t.workspace,
                &NewInApp {
                    contact_id: contact.id,
                    message_pk: Some(pk),
                    kind: config
                        .get("kind")
                        .and_then(Value::as_str)
                        .unwrap_or("banner")
                        .to_string(),
                    title,
                    body,
                    url: config
                        .get("url")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                    image: config
                        .get("image")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                    expires_at: Some(self.store.now() + days * 24 * 3600 * 1000),
                },
            )
            .await?;
        self.settle(sh, t, pk, "inapp", Ok(format!("inapp-{pk}")))
            .await
    }

    /// A message with a channel order, cheapest first: the first channel
    /// the person can receive is used.
    async fn send_first_reachable(
        &self,
        sh: &Shared,
        t: &ClaimedTrace,
        a: &Activity,
        c: &Campaign,
        config: &Value,
    ) -> Result<Ran, EngineError> {
        let Some(contact_id) = t.contact_id else {
            return Ok(Ran::Rejected("no contact to message".into()));
        };
        let order: Vec<String> = config
            .get("channels")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let mut why = Vec::new();
        for channel in &order {
            let Some(sub) = config
                .get("templates")
                .and_then(|t| t.get(channel.as_str()))
            else {
                why.push(format!("{channel}: no template"));
                continue;
            };
            let reachable = match channel.as_str() {
                "inapp" => {
                    let since = self.store.now() - APP_SEEN_MS;
                    let seen = self
                        .store
                        .has_event_since(t.workspace, contact_id, "app_open", since)
                        .await?;
                    if seen {
                        None
                    } else {
                        Some("not seen in the app lately".to_string())
                    }
                }
                other => match Channel::parse(other) {
                    Some(ch) => self.store.skip_reason(t.workspace, contact_id, ch).await?,
                    None => Some("unknown channel".to_string()),
                },
            };
            if let Some(r) = reachable {
                why.push(format!("{channel}: {r}"));
                continue;
            }
            let sub = match sub {
                Value::Number(id) => json!({"template_id": id}),
                other => other.clone(),
            };
            return Box::pin(self.run_kind(sh, t, a, c, channel, &sub)).await;
        }
        Ok(Ran::Rejected(format!(
            "no reachable channel ({})",
            why.join("; ")
        )))
    }

    /// Calls an outbound webhook, signed, with the participant's data.
    async fn call_webhook(
        &self,
        sh: &Shared,
        t: &ClaimedTrace,
        a: &Activity,
        c: &Campaign,
        config: &Value,
    ) -> Result<Ran, EngineError> {
        let Some(url) = config.get("url").and_then(Value::as_str) else {
            return Ok(Ran::Failed("the webhook has no url".into()));
        };
        let secret = config.get("secret").and_then(Value::as_str).unwrap_or("");
        let (contact, extra) = self.variables(sh, t, c).await?;
        let mut payload = json!({
            "event": "campaign.activity",
            "campaign": {"id": c.id, "name": c.name},
            "activity": {"id": a.id, "name": a.name},
            "participant": t.participant_id,
            "trace": t.id,
            "record_id": t.record_id,
            "contact": contact.as_ref().map(contact_value),
            "test": t.test,
        });
        merge(&mut payload, &extra);
        if let Some(more) = config.get("payload") {
            payload["data"] = more.clone();
        }
        let key = format!("swell-trace-{}", t.id);
        let hook = Webhook::new(self.http.clone());
        match hook.send(url, secret.as_bytes(), &payload, &key).await {
            Ok(_) => Ok(Ran::Done),
            Err(DeliveryError::Temporary { reason }) => Ok(Ran::Retry(reason)),
            Err(e) => Ok(Ran::Failed(e.to_string())),
        }
    }

    /// Server actions on the participant's record or contact.
    async fn act(
        &self,
        t: &ClaimedTrace,
        c: &Campaign,
        config: &Value,
    ) -> Result<Ran, EngineError> {
        let ws = t.workspace;
        let action = config.get("action").and_then(Value::as_str).unwrap_or("");
        let text = |k: &str| config.get(k).and_then(Value::as_str).map(str::to_string);
        match action {
            "end" => Ok(Ran::End),
            "add_score" => {
                let Some(contact) = t.contact_id else {
                    return Ok(Ran::Rejected("no contact".into()));
                };
                let delta = config.get("points").and_then(Value::as_i64).unwrap_or(0);
                Ok(Ran::Actions(vec![TxAction::AddScore { contact, delta }]))
            }
            "create_task" => {
                let owner = match text("owner") {
                    Some(o) => Some(o),
                    None => match t.contact_id {
                        Some(id) => self.store.contact(ws, id).await.ok().and_then(|c| c.owner),
                        None => None,
                    },
                };
                let hours = config.get("due_in_hours").and_then(Value::as_i64);
                Ok(Ran::Actions(vec![TxAction::CreateTask {
                    contact: t.contact_id,
                    owner,
                    title: text("title").unwrap_or_else(|| format!("Follow up ({})", c.name)),
                    note: text("note"),
                    due_at: hours.map(|h| self.store.now() + h * 3600 * 1000),
                }]))
            }
            "create_lead" => {
                // The contact's e-mail and phone, with the step's source,
                // region, product and ad, through the leads intake.
                let contact = match t.contact_id {
                    Some(id) => self.store.contact(ws, id).await.ok(),
                    None => None,
                };
                let mut fields = serde_json::Map::new();
                if let Some(c) = &contact {
                    for (k, v) in [("name", &c.name), ("email", &c.email), ("phone", &c.phone)] {
                        if let Some(v) = v {
                            fields.insert(k.into(), json!(v));
                        }
                    }
                }
                fields.insert(
                    "source".into(),
                    json!(text("source").unwrap_or_else(|| format!("campaign:{}", c.name))),
                );
                for k in [
                    "region",
                    "product",
                    "value",
                    "ad_id",
                    "platform",
                    "account_id",
                    "campaign",
                    "ad",
                ] {
                    if let Some(v) = config.get(k).filter(|v| !v.is_null()) {
                        fields.insert(k.into(), v.clone());
                    }
                }
                let w = self.store.workspace(ws).await?;
                match swell_store::leads::LeadInput::from_json(&fields, &w.phone_region) {
                    Ok(input) => Ok(Ran::Actions(vec![TxAction::CreateLead {
                        input: Box::new(input),
                    }])),
                    Err(e) => Ok(Ran::Failed(format!("the lead does not read: {e}"))),
                }
            }
            "add_tag" | "remove_tag" => {
                let Some(contact) = t.contact_id else {
                    return Ok(Ran::Rejected("no contact".into()));
                };
                let Some(tag) = text("tag") else {
                    return Ok(Ran::Failed("no tag given".into()));
                };
                let current = match self.store.contact(ws, contact).await {
                    Ok(c) => c,
                    Err(StoreError::NotFound) => {
                        return Ok(Ran::Rejected("the contact was deleted".into()));
                    }
                    Err(e) => return Err(e.into()),
                };
                let add = action == "add_tag";
                if current.tags.contains(&tag) == add {
                    return Ok(Ran::Done);
                }
                // The change, not the whole set read above: another step
                // may be tagging the same contact at this moment.
                let (add_tags, remove_tags) = if add {
                    (vec![tag], Vec::new())
                } else {
                    (Vec::new(), vec![tag])
                };
                let input = ContactInput {
                    add_tags,
                    remove_tags,
                    ..Default::default()
                };
                self.write_contact(ws, contact, input).await
            }
            "assign_owner" if c.entity == "lead" => {
                // A lead campaign's lead goes to the rep named (`owner`,
                // by e-mail), or by the workspace's assignment rules.
                let user = match text("owner") {
                    Some(email) => match self.store.user_by_email(ws, &email).await {
                        Ok(u) => Some(u.id),
                        Err(StoreError::NotFound) => {
                            return Ok(Ran::Failed(format!("no user {email}")));
                        }
                        Err(e) => return Err(e.into()),
                    },
                    None => None,
                };
                Ok(Ran::Actions(vec![TxAction::AssignLead {
                    lead: t.record_id,
                    user,
                }]))
            }
            "assign_owner" => {
                let Some(contact) = t.contact_id else {
                    return Ok(Ran::Rejected("no contact".into()));
                };
                let owners: Vec<String> = match config.get("owners").and_then(Value::as_array) {
                    Some(list) => list
                        .iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect(),
                    None => text("owner").into_iter().collect(),
                };
                if owners.is_empty() {
                    return Ok(Ran::Failed("no owner given".into()));
                }
                // Round robin over participants.
                let owner = owners[(t.participant_id as usize) % owners.len()].clone();
                let input = ContactInput {
                    owner: Patch::Set(owner),
                    ..Default::default()
                };
                self.write_contact(ws, contact, input).await
            }
            "add_to_list" | "remove_from_list" => {
                let Some(contact) = t.contact_id else {
                    return Ok(Ran::Rejected("no contact".into()));
                };
                let Some(list) = text("list") else {
                    return Ok(Ran::Failed("no list given".into()));
                };
                let result = if action == "add_to_list" {
                    let status = text("status")
                        .and_then(|s| Status::parse(&s))
                        .unwrap_or(Status::Subscribed);
                    self.store
                        .set_members(ws, &list, &[contact], status)
                        .await
                        .map(|_| ())
                } else {
                    self.store.remove_member(ws, &list, contact).await
                };
                match result {
                    Ok(()) => Ok(Ran::Done),
                    Err(StoreError::NotFound) => Ok(Ran::Failed(format!("no list {list}"))),
                    Err(e) => Err(e.into()),
                }
            }
            "update_fields" => {
                let Some(fields) = config.get("fields").and_then(Value::as_object) else {
                    return Ok(Ran::Failed("no fields given".into()));
                };
                let w = self.store.workspace(ws).await?;
                if c.entity == "contact" {
                    let schema = self.store.contact_schema(ws).await?;
                    let cx = ParseContext {
                        schema: &schema,
                        phone_region: &w.phone_region,
                    };
                    match ContactInput::from_json(fields, &cx) {
                        Ok(input) => self.write_contact(ws, t.record_id, input).await,
                        Err(errs) => Ok(Ran::Failed(errors(&errs))),
                    }
                } else {
                    let ty = self.entity_type(ws, &c.entity).await?;
                    match RecordInput::from_json(&ty, fields, &w.phone_region) {
                        Ok(input) => {
                            let results = self
                                .store
                                .write_records(
                                    ws,
                                    &ty,
                                    &[RecordWrite {
                                        id: Some(t.record_id),
                                        input,
                                    }],
                                    false,
                                )
                                .await?;
                            Ok(match results.into_iter().next() {
                                Some(Err(e)) => Ran::Failed(e.to_string()),
                                _ => Ran::Done,
                            })
                        }
                        Err(errs) => Ok(Ran::Failed(errors(&errs))),
                    }
                }
            }
            other => Ok(Ran::Failed(format!("unknown action {other:?}"))),
        }
    }

    async fn write_contact(
        &self,
        ws: WorkspaceId,
        id: i64,
        input: ContactInput,
    ) -> Result<Ran, EngineError> {
        let results = self
            .store
            .write_contacts(
                ws,
                &[ContactWrite {
                    target: Target::Id(id),
                    input,
                }],
                false,
            )
            .await?;
        Ok(match results.into_iter().next() {
            Some(Err(e)) => Ran::Failed(e.to_string()),
            _ => Ran::Done,
        })
    }

    /// The template an activity names, of the expected channel.
    async fn template<T: serde::de::DeserializeOwned>(
        &self,
        ws: WorkspaceId,
        config: &Value,
        channel: &str,
    ) -> Result<T, EngineError> {
        let id = config
            .get("template_id")
            .and_then(Value::as_i64)
            .ok_or_else(|| EngineError::Invalid("the activity names no template_id".into()))?;
        let t = match self.store.template(ws, id).await {
            Ok(t) => t,
            Err(StoreError::NotFound) => {
                return Err(EngineError::Invalid(format!(
                    "template {id} does not exist"
                )));
            }
            Err(e) => return Err(e.into()),
        };
        if t.channel != channel {
            return Err(EngineError::Invalid(format!(
                "template {id} is a {} template, not {channel}",
                t.channel
            )));
        }
        serde_json::from_value(t.content)
            .map_err(|e| EngineError::Invalid(format!("template {id}: {e}")))
    }
}

fn single_error(e: DeliveryError) -> SendOutcome {
    match e {
        DeliveryError::Temporary { reason } => SendOutcome::Temporary(reason),
        other => SendOutcome::Permanent(other.to_string()),
    }
}

fn merge(into: &mut Value, extra: &Value) {
    if let (Value::Object(into), Value::Object(extra)) = (into, extra) {
        for (k, v) in extra {
            into.insert(k.clone(), v.clone());
        }
    }
}

fn errors(errs: &[swell_core::FieldError]) -> String {
    errs.iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}
