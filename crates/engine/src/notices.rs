//! Delivery of lead notices: a rep is told a lead is theirs by a signed
//! webhook or an e-mail (see `swell_store::leads::notices`). The sender
//! runs this beside broadcasts, so `swell serve` and `swell worker` both
//! deliver them and a test drives them with `run_due_work`.

use serde_json::Value;
use swell_channels::webhook::Webhook;
use swell_channels::{DeliveryError, Mailbox, OutgoingEmail, build_mime};
use swell_core::email::Email;
use swell_store::leads::{Notice, NoticeResult};
use swell_store::mailing::OutboxMessage;

use crate::mailer::{MailError, Mailer, SendOutcome, Transport, send_smtp};

/// Notices claimed at a time.
const BATCH: u32 = 50;

/// The e-mail that tells a rep of a lead: who, how to reach them, where
/// they came from.
fn notice_email(payload: &Value) -> (String, String) {
    let lead = &payload["lead"];
    let who = ["name", "phone", "email"]
        .iter()
        .find_map(|k| lead[k].as_str())
        .unwrap_or("a new lead");
    let verb = if payload["event"] == "lead.reassigned" {
        "passed to you"
    } else {
        "assigned to you"
    };
    let subject = format!("Lead {who} {verb}");
    let mut text = format!(
        "{} {verb}.\n\n",
        payload["rep"]["name"].as_str().unwrap_or("A lead is")
    );
    for (label, k) in [
        ("Name", "name"),
        ("Phone", "phone"),
        ("Email", "email"),
        ("Region", "region"),
        ("Product", "product"),
        ("Source", "source"),
    ] {
        if let Some(v) = lead[k].as_str() {
            text.push_str(&format!("{label}: {v}\n"));
        }
    }
    text.push_str(&format!("\nLead #{} — call them soon: a lead contacted in the first hour is the likeliest to buy.\n", lead["id"]));
    (subject, text)
}

impl Mailer {
    /// Delivers the due lead notices; true when some were handled (so the
    /// caller goes on at once).
    pub async fn deliver_lead_notices(&self) -> Result<bool, MailError> {
        let notices = self.store().claim_lead_notices(BATCH).await?;
        for n in &notices {
            let result = match n.channel.as_str() {
                "webhook" => self.notice_webhook(n).await,
                "email" => self.notice_email(n).await,
                other => NoticeResult::Failed(format!("unknown channel {other}")),
            };
            if let NoticeResult::Retry(r) | NoticeResult::Failed(r) = &result {
                tracing::warn!(notice = n.id, lead = n.lead_id, reason = %r, "lead notice not delivered");
            }
            self.store().record_lead_notice(n, &result).await?;
        }
        Ok(!notices.is_empty())
    }

    async fn notice_webhook(&self, n: &Notice) -> NoticeResult {
        let hook = Webhook::new(self.http().clone());
        let secret = n.secret.as_deref().unwrap_or("");
        let key = format!("swell-lead-notice-{}", n.id);
        match hook
            .send(&n.target, secret.as_bytes(), &n.payload, &key)
            .await
        {
            Ok(_) => NoticeResult::Sent,
            Err(DeliveryError::Temporary { reason }) => NoticeResult::Retry(reason),
            Err(e) => NoticeResult::Failed(e.to_string()),
        }
    }

    async fn notice_email(&self, n: &Notice) -> NoticeResult {
        let to = match Email::parse(&n.target) {
            Ok(e) => e,
            Err(e) => return NoticeResult::Failed(format!("the rep's address {}: {e}", n.target)),
        };
        let cfg = self.config();
        let (subject, text) = notice_email(&n.payload);
        let message_id = swell_channels::new_message_id(&cfg.message_domain);
        let email = OutgoingEmail {
            from: cfg.from.clone(),
            reply_to: None,
            to: Mailbox::address(to.clone()),
            subject: subject.clone(),
            html: String::new(),
            text,
            message_id: message_id.clone(),
            list_unsubscribe: None,
            headers: vec![("X-Swell-Lead".into(), n.lead_id.to_string())],
        };
        let raw = match build_mime(&email, cfg.dkim.as_deref()) {
            Ok(raw) => raw,
            Err(e) => return NoticeResult::Failed(e.to_string()),
        };
        let transport = match self.transport_for(n.workspace).await {
            Ok(t) => t,
            Err(e) => return NoticeResult::Retry(e.to_string()),
        };
        let sent = match &transport {
            Transport::Outbox => self
                .store()
                .deliver_to_outbox(
                    n.workspace,
                    &[OutboxMessage {
                        message_pk: None,
                        message_id: &message_id,
                        sender: cfg.from.email.as_str(),
                        recipient: to.as_str(),
                        subject: &subject,
                        raw: &raw,
                    }],
                )
                .await
                .map_err(|e| SendOutcome::Temporary(e.to_string())),
            Transport::Smtp(smtp) => send_smtp(smtp, &cfg.bounce_address, &to, &raw).await,
        };
        match sent {
            Ok(()) => NoticeResult::Sent,
            Err(SendOutcome::Temporary(r)) => NoticeResult::Retry(r),
            Err(SendOutcome::Permanent(r)) | Err(SendOutcome::Refused { reason: r, .. }) => {
                NoticeResult::Failed(r)
            }
        }
    }
}

impl Mailer {
    /// Every minute, hands leads left `new` past their rule's time to the
    /// next rep (see `Store::reassign_overdue`), and wakes the sender for
    /// their notices; until `shutdown` turns true.
    pub async fn run_reassignment(
        self: std::sync::Arc<Self>,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) {
        loop {
            if *shutdown.borrow() {
                return;
            }
            match self.store().reassign_overdue().await {
                Ok(0) => {}
                Ok(n) => {
                    tracing::info!(leads = n, "reassigned leads left new too long");
                    self.wake();
                }
                Err(e) => tracing::error!(error = %e, "lead reassignment"),
            }
            tokio::select! {
                _ = tokio::time::sleep(std::time::Duration::from_secs(60)) => {}
                _ = shutdown.changed() => {}
            }
        }
    }
}
