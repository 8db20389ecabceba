//! Broadcasts and their messages, the outbox, and what came back: opens,
//! clicks, unsubscribes, bounces, complaints, suppressions.
//!
//! A broadcast's recipients are rows of `messages`, made in one statement
//! from the sendable-audience resolver when the send starts, each with a
//! state. The sender claims due `queued` rows in batches (marking them
//! `sending`), delivers them and records the outcome. A row left `sending`
//! by a crash is never sent again: the transport may have taken it, and a
//! person getting a message twice is worse than a recorded failure.

use std::collections::BTreeMap;

use jiff::Timestamp;
use jiff::civil::{Date, Time};
use serde::Serialize;
use serde_json::{Value, json};
use swell_core::contact::{ContactInput, Patch};
use swell_core::record::ContactRef;
use swell_core::time::Millis;

use crate::audience::Bind;
use crate::consent::{AudienceSpec, Channel};
use crate::contacts::{ContactWrite, Target};
use crate::events::NewEvent;
use crate::lists::bind_compiled;
use crate::rows::RowExt;
use crate::{BeginWrite, Db, Result, Store, StoreError, WorkspaceId, on_db};

/// Why a row left `sending` by a crash is not sent again.
pub const INTERRUPTED: &str = "interrupted during delivery; not sent again so nobody gets it twice";

#[derive(Debug, Clone, Serialize)]
pub struct Broadcast {
    pub id: i64,
    pub name: String,
    pub template_id: i64,
    pub audience: Value,
    pub sender: Value,
    pub state: String,
    #[serde(serialize_with = "swell_core::time::serialize_opt_millis")]
    pub send_at: Option<i64>,
    pub local_time: Option<String>,
    pub ab: Option<Value>,
    pub recipients: i64,
    #[serde(serialize_with = "swell_core::time::serialize_millis")]
    pub created_at: i64,
    #[serde(serialize_with = "swell_core::time::serialize_millis")]
    pub updated_at: i64,
    #[serde(serialize_with = "swell_core::time::serialize_opt_millis")]
    pub started_at: Option<i64>,
    #[serde(serialize_with = "swell_core::time::serialize_opt_millis")]
    pub finished_at: Option<i64>,
    /// The marketing campaign it belongs to.
    pub marketing_campaign_id: Option<i64>,
}

impl Broadcast {
    pub fn audience_spec(&self) -> Result<AudienceSpec> {
        let obj = self.audience.as_object().cloned().unwrap_or_default();
        AudienceSpec::from_json(&obj).map_err(|e| StoreError::Invalid(vec![e]))
    }
}

const BROADCAST_COLUMNS: &str = "id, name, template_id, audience, sender, state, send_at, local_time, ab, \
     recipients, created_at, updated_at, started_at, finished_at, marketing_campaign_id";

fn broadcast_from_row(r: &impl RowExt) -> Broadcast {
    let ab = r.json("ab");
    Broadcast {
        id: r.int("id"),
        name: r.text("name"),
        template_id: r.int("template_id"),
        audience: r.json("audience"),
        sender: r.json("sender"),
        state: r.text("state"),
        send_at: r.opt_int("send_at"),
        local_time: r.opt_text("local_time"),
        ab: (!ab.is_null()).then_some(ab),
        recipients: r.int("recipients"),
        created_at: r.int("created_at"),
        updated_at: r.int("updated_at"),
        started_at: r.opt_int("started_at"),
        finished_at: r.opt_int("finished_at"),
        marketing_campaign_id: r.opt_int("marketing_campaign_id"),
    }
}

/// A broadcast as created.
#[derive(Debug, Clone)]
pub struct NewBroadcast {
    pub name: String,
    pub template_id: i64,
    pub audience: AudienceSpec,
    pub sender: Value,
    pub send_at: Option<Millis>,
    pub local_time: Option<Time>,
    pub ab: Option<Value>,
    pub marketing_campaign_id: Option<i64>,
}

/// How the recipients of a send are split for an A/B test.
#[derive(Debug, Clone, Copy)]
pub struct Split {
    /// Variants 1..=variants get the sample; the rest wait (variant 0).
    pub variants: u32,
    /// Per cent of the recipients in the sample, split evenly.
    pub sample_percent: u32,
}

/// A message claimed for delivery.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub id: i64,
    pub contact_id: Option<i64>,
    pub address: String,
    pub variant: i64,
    pub attempts: i64,
}

/// What became of a claimed message.
#[derive(Debug, Clone)]
pub enum Delivery {
    Sent {
        message_id: String,
    },
    /// A permanent failure, with the server's reply.
    Failed {
        reason: String,
    },
    /// A temporary failure: queued again for `due_at`.
    Retry {
        due_at: Millis,
        reason: String,
    },
}

/// A message as tracking sees it.
#[derive(Debug, Clone)]
pub struct MessageRow {
    pub id: i64,
    pub workspace: WorkspaceId,
    pub source: String,
    pub source_id: i64,
    /// email, sms, zalo or inapp: a tracked click becomes `email_clicked`,
    /// `sms_clicked` or `zalo_clicked`.
    pub channel: String,
    pub contact_id: Option<i64>,
    pub address: Option<String>,
    pub variant: i64,
    pub state: String,
    pub message_id: Option<String>,
}

/// An outbox entry.
#[derive(Debug, Clone, Serialize)]
pub struct OutboxEntry {
    pub id: i64,
    pub message_id: String,
    pub sender: String,
    pub recipient: String,
    pub subject: String,
    pub raw: String,
    #[serde(serialize_with = "swell_core::time::serialize_millis")]
    pub created_at: i64,
}

/// A message for the outbox.
#[derive(Debug, Clone)]
pub struct OutboxMessage<'a> {
    pub message_pk: Option<i64>,
    pub message_id: &'a str,
    pub sender: &'a str,
    pub recipient: &'a str,
    pub subject: &'a str,
    pub raw: &'a [u8],
}

/// The row of a campaign step's e-mail rendered under a reserved id (see
/// [`Store::reserve_message_ids`]), written sent with its outbox entry.
#[derive(Debug, Clone)]
pub struct SentTraceMessage<'a> {
    pub id: i64,
    pub trace: i64,
    pub contact: Option<i64>,
    pub address: Option<&'a str>,
    pub message_id: &'a str,
}

/// A broadcast's figures.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Stats {
    pub recipients: i64,
    pub queued: i64,
    pub held: i64,
    pub sent: i64,
    pub failed: i64,
    pub skipped: i64,
    pub skipped_reasons: BTreeMap<String, i64>,
    /// Sent and not bounced, once the send is over.
    pub delivered: i64,
    pub opens: Opens,
    pub clicks: Clicks,
    pub bounces: i64,
    pub unsubscribes: i64,
    pub complaints: i64,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Opens {
    pub unique_human: i64,
    pub total: i64,
    pub machine: i64,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Clicks {
    pub unique: i64,
    pub total: i64,
    pub links: Vec<LinkClicks>,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct LinkClicks {
    pub link: i64,
    pub url: String,
    pub total: i64,
    pub unique: i64,
}

/// A bounce or complaint as received.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BounceKind {
    Hard,
    Soft,
    Complaint,
}

impl BounceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BounceKind::Hard => "hard",
            BounceKind::Soft => "soft",
            BounceKind::Complaint => "complaint",
        }
    }
}

/// What recording a bounce did.
#[derive(Debug, Clone, Serialize)]
pub struct BounceOutcome {
    pub address: String,
    pub kind: BounceKind,
    pub message: Option<i64>,
    /// Soft bounces of the address in the last 30 days, this one included.
    pub soft_bounces_30d: i64,
    pub suppressed: bool,
}

const DAY: i64 = 86_400_000;

impl Store {
    pub async fn create_broadcast(&self, ws: WorkspaceId, b: &NewBroadcast) -> Result<Broadcast> {
        self.template(ws, b.template_id).await?;
        // The audience must compile now, not when the send starts.
        self.compile_spec(ws, &b.audience).await?;
        let now = self.now();
        let state = if b.send_at.is_some() {
            "scheduled"
        } else {
            "draft"
        };
        let local = b.local_time.map(|t| t.strftime("%H:%M").to_string());
        let id: i64 = on_db!(self, p => {
            sqlx::query_scalar(
                "INSERT INTO broadcasts (workspace_id, name, template_id, audience, sender, state, send_at, local_time, ab,
                     created_at, updated_at, marketing_campaign_id)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11) RETURNING id",
            )
            .bind(ws.0).bind(&b.name).bind(b.template_id)
            .bind(sqlx::types::Json(b.audience.to_json())).bind(sqlx::types::Json(&b.sender))
            .bind(state).bind(b.send_at).bind(local).bind(b.ab.as_ref().map(sqlx::types::Json)).bind(now).bind(b.marketing_campaign_id)
            .fetch_one(p).await?
        });
        self.broadcast(ws, id).await
    }

    pub async fn broadcast(&self, ws: WorkspaceId, id: i64) -> Result<Broadcast> {
        let sql = format!(
            "SELECT {BROADCAST_COLUMNS} FROM broadcasts WHERE workspace_id = $1 AND id = $2"
        );
        on_db!(self, p => {
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(ws.0).bind(id).fetch_optional(p).await?
                .map(|r| broadcast_from_row(&r)).ok_or(StoreError::NotFound)
        })
    }

    pub async fn broadcasts(&self, ws: WorkspaceId) -> Result<Vec<Broadcast>> {
        let sql = format!(
            "SELECT {BROADCAST_COLUMNS} FROM broadcasts WHERE workspace_id = $1 ORDER BY id DESC"
        );
        on_db!(self, p => {
            Ok(sqlx::query(sqlx::AssertSqlSafe(sql)).bind(ws.0).fetch_all(p).await?.iter().map(broadcast_from_row).collect())
        })
    }

    /// Broadcasts in a state, across workspaces, with their workspace: what
    /// the sender picks up (`sending`, and `scheduled` ones now due).
    pub async fn broadcasts_to_run(&self, now: Millis) -> Result<Vec<(WorkspaceId, i64)>> {
        on_db!(self, p => {
            Ok(sqlx::query(
                "SELECT workspace_id, id FROM broadcasts
                 WHERE state = 'sending' OR (state = 'scheduled' AND send_at <= $1) ORDER BY id",
            )
            .bind(now).fetch_all(p).await?.iter()
            .map(|r| (WorkspaceId(r.int("workspace_id")), r.int("id"))).collect())
        })
    }

    /// Moves a broadcast from one of `from` to `to`; a broadcast in another
    /// state is a conflict that names the state it is in.
    pub async fn transition_broadcast(
        &self,
        ws: WorkspaceId,
        id: i64,
        from: &[&str],
        to: &str,
    ) -> Result<Broadcast> {
        let current = self.broadcast(ws, id).await?;
        if !from.contains(&current.state.as_str()) {
            return Err(StoreError::Conflict(format!(
                "broadcast {id} is {}; it must be {} to become {to}",
                current.state,
                from.join(" or ")
            )));
        }
        let now = self.now();
        let finished = matches!(to, "sent" | "cancelled").then_some(now);
        on_db!(self, p => {
            sqlx::query(
                "UPDATE broadcasts SET state = $3, updated_at = $4, finished_at = COALESCE($5, finished_at)
                 WHERE workspace_id = $1 AND id = $2 AND state = $6",
            )
            .bind(ws.0).bind(id).bind(to).bind(now).bind(finished).bind(&current.state)
            .execute(p).await?;
        });
        if to == "cancelled" {
            on_db!(self, p => {
                sqlx::query(
                    "UPDATE messages SET state = 'skipped', reason = 'broadcast cancelled'
                     WHERE source = 'broadcast' AND source_id = $1 AND state IN ('queued', 'held')",
                )
                .bind(id).execute(p).await?;
            });
        }
        self.broadcast(ws, id).await
    }

    /// Changes what a draft or scheduled broadcast will do when it starts.
    pub async fn set_broadcast_schedule(
        &self,
        ws: WorkspaceId,
        id: i64,
        send_at: Option<Millis>,
        local_time: Option<Time>,
    ) -> Result<Broadcast> {
        let b = self.broadcast(ws, id).await?;
        if !matches!(b.state.as_str(), "draft" | "scheduled") {
            return Err(StoreError::Conflict(format!(
                "broadcast {id} is {}; only a draft or scheduled one can be scheduled",
                b.state
            )));
        }
        let state = if send_at.is_some() {
            "scheduled"
        } else {
            "draft"
        };
        let local = local_time.map(|t| t.strftime("%H:%M").to_string());
        let now = self.now();
        on_db!(self, p => {
            sqlx::query("UPDATE broadcasts SET send_at = $3, local_time = $4, state = $5, updated_at = $6 WHERE workspace_id = $1 AND id = $2")
                .bind(ws.0).bind(id).bind(send_at).bind(local).bind(state).bind(now).execute(p).await?;
        });
        self.broadcast(ws, id).await
    }

    /// Starts a draft or due scheduled broadcast: makes one message per
    /// person of its audience in one statement (skipped ones with their
    /// reason), each due now or at the local time in the person's zone,
    /// and marks the broadcast `sending`. Starting twice makes nothing twice.
    pub async fn start_broadcast(
        &self,
        ws: WorkspaceId,
        id: i64,
        split: Option<Split>,
    ) -> Result<Broadcast> {
        let b = self.broadcast(ws, id).await?;
        if !matches!(b.state.as_str(), "draft" | "scheduled") {
            return Err(StoreError::Conflict(format!(
                "broadcast {id} is {}; it has started already",
                b.state
            )));
        }
        let spec = b.audience_spec()?;
        let compiled = self.compile_spec(ws, &spec).await?;
        let now = self.now();
        let mut binds = compiled.binds.clone();
        let mut bind = |v: Bind| {
            binds.push(v);
            format!("${}", binds.len())
        };
        let ws_p = bind(Bind::Int(ws.0));
        let id_p = bind(Bind::Int(id));
        let now_p = bind(Bind::Int(now));
        let reason = Channel::Email.skip_reason(&ws_p);
        // When each message is due: now, or the local time in each zone.
        let due = match (&b.local_time, b.send_at) {
            (Some(local), send_at) => {
                let time: Time = local
                    .parse()
                    .map_err(|_| StoreError::Conflict(format!("bad local time {local}")))?;
                let start = send_at.unwrap_or(now);
                let zones: Vec<String> = on_db!(self, p => {
                    sqlx::query_scalar("SELECT DISTINCT timezone FROM contacts WHERE workspace_id = $1")
                        .bind(ws.0).fetch_all(p).await?
                });
                let ws_zone = self.workspace(ws).await?.timezone;
                let mut sql = String::from("CASE c.timezone");
                for zone in &zones {
                    let at = local_instant(start, zone, time).unwrap_or(start);
                    let z = bind(Bind::Text(zone.clone()));
                    let a = bind(Bind::Int(at));
                    sql.push_str(&format!(" WHEN {z} THEN {a}"));
                }
                let fallback = local_instant(start, &ws_zone, time).unwrap_or(start);
                sql.push_str(&format!(" ELSE {} END", bind(Bind::Int(fallback))));
                sql
            }
            (None, _) => now_p.clone(),
        };
        let (variant, held) = match split {
            Some(s) if s.variants > 0 => {
                let k = bind(Bind::Int(i64::from(s.variants)));
                let pct = bind(Bind::Int(i64::from(s.sample_percent)));
                // A fixed scatter of ids, so the sample is spread over the
                // audience rather than its oldest contacts.
                let in_sample = format!("((c.id * 7919) % 100) < {pct}");
                (
                    format!("CASE WHEN {in_sample} THEN 1 + (c.id % {k}) ELSE 0 END"),
                    format!("CASE WHEN {in_sample} THEN 'queued' ELSE 'held' END"),
                )
            }
            _ => ("0".to_string(), "'queued'".to_string()),
        };
        let sql = format!(
            "INSERT INTO messages (workspace_id, source, source_id, contact_id, channel, address, variant, state, reason, due_at, created_at)
             SELECT {ws_p}, 'broadcast', {id_p}, c.id, 'email', c.email, {variant},
                    CASE WHEN c.why IS NULL THEN {held} ELSE 'skipped' END, c.why, {due}, {now_p}
             FROM (SELECT c.*, {reason} AS why FROM {} WHERE {}) c
             WHERE TRUE -- SQLite reads `ON CONFLICT` after a bare FROM as a join's ON
             ON CONFLICT (source, source_id, contact_id) DO NOTHING",
            compiled.from, compiled.condition
        );
        let made = on_db!(self, p => {
            let mut tx = p.begin_write().await?;
            let made = bind_compiled(sqlx::query(sqlx::AssertSqlSafe(sql)), &binds).execute(&mut *tx).await?.rows_affected();
            let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM messages WHERE source = 'broadcast' AND source_id = $1")
                .bind(id).fetch_one(&mut *tx).await?;
            sqlx::query("UPDATE broadcasts SET state = 'sending', recipients = $3, started_at = $4, updated_at = $4 WHERE workspace_id = $1 AND id = $2")
                .bind(ws.0).bind(id).bind(n).bind(now).execute(&mut *tx).await?;
            tx.commit().await?;
            made
        });
        tracing::info!(broadcast = id, messages = made, "broadcast started");
        self.broadcast(ws, id).await
    }

    /// Marks what a crash left `sending` as failed (see [`INTERRUPTED`]).
    pub async fn recover_interrupted(&self, source: &str, source_id: i64) -> Result<u64> {
        Ok(on_db!(self, p => {
            sqlx::query("UPDATE messages SET state = 'failed', reason = $3 WHERE source = $1 AND source_id = $2 AND state = 'sending'")
                .bind(source).bind(source_id).bind(INTERRUPTED).execute(p).await?.rows_affected()
        }))
    }

    /// Claims up to `limit` due queued messages of a source for delivery,
    /// in due order; empty only when none is due. People who opted out,
    /// were blocklisted or suppressed since the send began are skipped
    /// here, at the last moment.
    ///
    /// One statement picks the rows, reads each one's skip reason and marks
    /// it `sending` or `skipped`, so a claim costs the rows it takes: the
    /// reasons of the rest of the queue are read when their turn comes
    /// (checking the whole queue at every claim made a send of N messages
    /// cost N^2 / batch rows read).
    pub async fn claim_messages(
        &self,
        source: &str,
        source_id: i64,
        limit: u32,
    ) -> Result<Vec<Claimed>> {
        let now = self.now();
        // A message whose contact was deleted has no reason to skip it: it
        // goes to the address it was made with.
        let reason = format!(
            "CASE WHEN c.id IS NULL THEN NULL ELSE {} END",
            Channel::Email.skip_reason("m.workspace_id")
        );
        let lock = match &self.db {
            Db::Postgres(_) => " FOR UPDATE OF m SKIP LOCKED",
            Db::Sqlite(_) => "",
        };
        let claim = format!(
            "UPDATE messages
             SET state = CASE WHEN pick.why IS NULL THEN 'sending' ELSE 'skipped' END,
                 reason = COALESCE(pick.why, messages.reason),
                 attempts = messages.attempts + CASE WHEN pick.why IS NULL THEN 1 ELSE 0 END
             FROM (SELECT m.id, {reason} AS why
                   FROM messages m LEFT JOIN contacts c ON c.id = m.contact_id
                   WHERE m.source = $1 AND m.source_id = $2 AND m.state = 'queued' AND m.due_at <= $3
                   ORDER BY m.due_at, m.id LIMIT $4{lock}) AS pick
             WHERE messages.id = pick.id
             RETURNING messages.id, messages.contact_id, messages.address, messages.variant, messages.attempts, messages.state"
        );
        loop {
            let rows = on_db!(self, p => {
                let mut tx = p.begin_write().await?;
                let rows = sqlx::query(sqlx::AssertSqlSafe(claim.clone())).bind(source).bind(source_id).bind(now)
                    .bind(i64::from(limit)).fetch_all(&mut *tx).await?;
                tx.commit().await?;
                rows.iter().map(|r| (r.text("state"), Claimed {
                    id: r.int("id"),
                    contact_id: r.opt_int("contact_id"),
                    address: r.opt_text("address").unwrap_or_default(),
                    variant: r.int("variant"),
                    attempts: r.int("attempts"),
                })).collect::<Vec<_>>()
            });
            if rows.is_empty() {
                return Ok(Vec::new());
            }
            let mut out: Vec<Claimed> = rows
                .into_iter()
                .filter(|(state, _)| state == "sending")
                .map(|(_, c)| c)
                .collect();
            // All skipped: the next rows may be sendable.
            if !out.is_empty() {
                out.sort_by_key(|c| c.id);
                return Ok(out);
            }
        }
    }

    /// Records what became of claimed messages: one statement per thousand
    /// messages, all in one transaction.
    pub async fn record_deliveries(&self, outcomes: &[(i64, Delivery)]) -> Result<()> {
        /// Rows per statement: 5 binds each, within both backends' limits.
        const CHUNK: usize = 1000;
        if outcomes.is_empty() {
            return Ok(());
        }
        let now = self.now();
        on_db!(self, p => {
            let mut tx = p.begin_write().await?;
            for chunk in outcomes.chunks(CHUNK) {
                // (id, state, message_id, reason, due_at) per message; the
                // columns of a VALUES list are column1.. on both backends.
                let mut sql = String::from(
                    "UPDATE messages SET state = v.column2, message_id = COALESCE(v.column3, messages.message_id),
                         reason = v.column4, due_at = COALESCE(v.column5, messages.due_at),
                         sent_at = CASE WHEN v.column2 = 'sent' THEN $1 ELSE messages.sent_at END
                     FROM (VALUES ",
                );
                for i in 0..chunk.len() {
                    let b = 2 + i * 5;
                    if i > 0 {
                        sql.push_str(", ");
                    }
                    sql.push_str(&format!("(${}, ${}, ${}, ${}, ${})", b, b + 1, b + 2, b + 3, b + 4));
                }
                // The ids again as a list: PostgreSQL then finds the rows
                // by index instead of joining the VALUES to a scan of the
                // whole table.
                let ids: Vec<String> = (0..chunk.len()).map(|i| format!("${}", 2 + i * 5)).collect();
                sql.push_str(&format!(") AS v WHERE messages.id = v.column1 AND messages.id IN ({})", ids.join(", ")));
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now);
                for (id, d) in chunk {
                    let (state, message_id, reason, due_at) = match d {
                        Delivery::Sent { message_id } => ("sent", Some(message_id.as_str()), None, None),
                        Delivery::Failed { reason } => ("failed", None, Some(reason.as_str()), None),
                        Delivery::Retry { due_at, reason } => ("queued", None, Some(reason.as_str()), Some(*due_at)),
                    };
                    q = q.bind(*id).bind(state).bind(message_id).bind(reason).bind(due_at);
                }
                q.execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Keeps messages in the outbox and marks them sent in the same
    /// transaction: with the built-in transport nothing is ever lost or
    /// kept twice.
    pub async fn deliver_to_outbox(
        &self,
        ws: WorkspaceId,
        messages: &[OutboxMessage<'_>],
    ) -> Result<()> {
        self.deliver_to_outbox_with_rows(ws, &[], messages).await
    }

    /// Ids for message rows not made yet, so that an e-mail can be rendered
    /// (its tracking links carry the id) before its row is written, sent,
    /// with its outbox entry (see [`Store::deliver_to_outbox_with_rows`]).
    /// PostgreSQL takes them from the table's sequence; SQLite moves the
    /// table's `sqlite_sequence` entry past them (its ids are AUTOINCREMENT,
    /// never given twice), one small write. Ids reserved and never written
    /// are gaps, as a rolled-back sequence value is.
    pub async fn reserve_message_ids(&self, n: usize) -> Result<Vec<i64>> {
        if n == 0 {
            return Ok(Vec::new());
        }
        let n = n as i64;
        match &self.db {
            crate::Db::Postgres(p) => Ok(sqlx::query_scalar(
                "SELECT nextval(pg_get_serial_sequence('messages', 'id')) FROM generate_series(1, $1)",
            )
            .bind(n)
            .fetch_all(p)
            .await?),
            crate::Db::Sqlite(p) => {
                let _turn = self.sqlite_write_turn().await;
                let mut tx = p.begin_write().await?;
                // The entry exists once the table has had a row.
                let moved: Option<i64> = sqlx::query_scalar(
                    "UPDATE sqlite_sequence SET seq = seq + $1 WHERE name = 'messages' RETURNING seq",
                )
                .bind(n)
                .fetch_optional(&mut *tx)
                .await?;
                let last = match moved {
                    Some(last) => last,
                    None => {
                        sqlx::query_scalar(
                            "INSERT INTO sqlite_sequence (name, seq)
                             SELECT 'messages', COALESCE(MAX(id), 0) + $1 FROM messages RETURNING seq",
                        )
                        .bind(n)
                        .fetch_one(&mut *tx)
                        .await?
                    }
                };
                tx.commit().await?;
                Ok((last - n + 1..=last).collect())
            }
        }
    }

    /// [`Store::deliver_to_outbox`], also writing the rows of campaign
    /// steps' messages rendered under reserved ids, sent, in the same
    /// transaction: one write where a row made `sending` first and marked
    /// `sent` after took two. Messages in `rows` are not marked again.
    pub async fn deliver_to_outbox_with_rows(
        &self,
        ws: WorkspaceId,
        rows: &[SentTraceMessage<'_>],
        messages: &[OutboxMessage<'_>],
    ) -> Result<()> {
        if messages.is_empty() {
            return Ok(());
        }
        let now = self.now();
        let fresh: std::collections::HashSet<i64> = rows.iter().map(|r| r.id).collect();
        let sent: Vec<(i64, &str)> = messages
            .iter()
            .filter_map(|m| m.message_pk.map(|pk| (pk, m.message_id)))
            .filter(|(pk, _)| !fresh.contains(pk))
            .collect();
        let _turn = self.sqlite_write_turn().await;
        on_db!(self, p => {
            let mut tx = p.begin_write().await?;
            tx.sent_rows(ws.0, now, rows).await?;
            tx.outbox_rows(ws.0, now, messages).await?;
            tx.mark_sent(now, &sent).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// The outbox, newest first, `limit` entries before `before` (an id).
    pub async fn outbox(
        &self,
        ws: WorkspaceId,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<OutboxEntry>> {
        on_db!(self, p => {
            Ok(sqlx::query(
                "SELECT id, message_id, sender, recipient, subject, raw, created_at FROM outbox
                 WHERE workspace_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3",
            )
            .bind(ws.0).bind(before.unwrap_or(i64::MAX)).bind(i64::from(limit))
            .fetch_all(p).await?.iter().map(|r| {
                let raw: Vec<u8> = sqlx::Row::get(r, "raw");
                OutboxEntry {
                    id: r.int("id"), message_id: r.text("message_id"), sender: r.text("sender"),
                    recipient: r.text("recipient"), subject: r.text("subject"),
                    raw: String::from_utf8_lossy(&raw).into_owned(), created_at: r.int("created_at"),
                }
            }).collect())
        })
    }

    /// How many messages of a source are in each state.
    pub async fn message_states(
        &self,
        source: &str,
        source_id: i64,
    ) -> Result<BTreeMap<String, i64>> {
        on_db!(self, p => {
            Ok(sqlx::query("SELECT state, COUNT(*) AS n FROM messages WHERE source = $1 AND source_id = $2 GROUP BY state")
                .bind(source).bind(source_id).fetch_all(p).await?.iter().map(|r| (r.text("state"), r.int("n"))).collect())
        })
    }

    /// The earliest due time of a source's queued messages.
    pub async fn next_due(&self, source: &str, source_id: i64) -> Result<Option<Millis>> {
        on_db!(self, p => {
            Ok(sqlx::query_scalar("SELECT MIN(due_at) FROM messages WHERE source = $1 AND source_id = $2 AND state = 'queued'")
                .bind(source).bind(source_id).fetch_one(p).await?)
        })
    }

    /// Sends the held rest of an A/B test with the winning variant.
    pub async fn release_held(
        &self,
        ws: WorkspaceId,
        broadcast: i64,
        winner: i64,
        ab: &Value,
    ) -> Result<u64> {
        let now = self.now();
        Ok(on_db!(self, p => {
            let mut tx = p.begin_write().await?;
            let n = sqlx::query("UPDATE messages SET state = 'queued', variant = $2, due_at = $3 WHERE source = 'broadcast' AND source_id = $1 AND state = 'held'")
                .bind(broadcast).bind(winner).bind(now).execute(&mut *tx).await?.rows_affected();
            sqlx::query("UPDATE broadcasts SET ab = $3, updated_at = $4 WHERE workspace_id = $1 AND id = $2")
                .bind(ws.0).bind(broadcast).bind(sqlx::types::Json(ab)).bind(now).execute(&mut *tx).await?;
            tx.commit().await?;
            n
        }))
    }

    /// Unique human opens and unique clicks per variant of a broadcast.
    pub async fn variant_figures(&self, broadcast: i64) -> Result<BTreeMap<i64, (i64, i64, i64)>> {
        on_db!(self, p => {
            let rows = sqlx::query(
                "SELECT m.variant,
                        COUNT(DISTINCT CASE WHEN m.state = 'sent' THEN m.id END) AS sent,
                        COUNT(DISTINCT CASE WHEN e.kind = 'open' AND NOT e.machine THEN m.id END) AS opens,
                        COUNT(DISTINCT CASE WHEN e.kind = 'click' THEN m.id END) AS clicks
                 FROM messages m LEFT JOIN message_events e ON e.message_pk = m.id
                 WHERE m.source = 'broadcast' AND m.source_id = $1 AND m.variant > 0
                 GROUP BY m.variant ORDER BY m.variant",
            )
            .bind(broadcast).fetch_all(p).await?;
            Ok(rows.iter().map(|r| (r.int("variant"), (r.int("sent"), r.int("opens"), r.int("clicks")))).collect())
        })
    }

    /// The figures of a broadcast (or of one variant of it).
    pub async fn broadcast_stats(
        &self,
        ws: WorkspaceId,
        id: i64,
        variant: Option<i64>,
    ) -> Result<Stats> {
        self.broadcast(ws, id).await?;
        let v = variant.unwrap_or(-1);
        let (states, events, links) = on_db!(self, p => {
            let states: Vec<(String, Option<String>, i64)> = sqlx::query(
                "SELECT state, CASE WHEN state = 'skipped' THEN reason END AS reason, COUNT(*) AS n FROM messages
                 WHERE source = 'broadcast' AND source_id = $1 AND ($2 < 0 OR variant = $2) GROUP BY 1, 2",
            ).bind(id).bind(v).fetch_all(p).await?.iter().map(|r| (r.text("state"), r.opt_text("reason"), r.int("n"))).collect();
            let events = sqlx::query(
                "SELECT
                    COUNT(DISTINCT CASE WHEN e.kind = 'open' AND NOT e.machine THEN e.message_pk END) AS unique_human,
                    COALESCE(SUM(CASE WHEN e.kind = 'open' THEN 1 ELSE 0 END), 0) AS opens,
                    COALESCE(SUM(CASE WHEN e.kind = 'open' AND e.machine THEN 1 ELSE 0 END), 0) AS machine,
                    COUNT(DISTINCT CASE WHEN e.kind = 'click' THEN e.message_pk END) AS unique_clicks,
                    COALESCE(SUM(CASE WHEN e.kind = 'click' THEN 1 ELSE 0 END), 0) AS clicks,
                    COUNT(DISTINCT CASE WHEN e.kind = 'bounce' THEN e.message_pk END) AS bounces,
                    COUNT(DISTINCT CASE WHEN e.kind = 'unsubscribe' THEN e.message_pk END) AS unsubscribes,
                    COUNT(DISTINCT CASE WHEN e.kind = 'complaint' THEN e.message_pk END) AS complaints
                 FROM message_events e JOIN messages m ON m.id = e.message_pk
                 WHERE m.source = 'broadcast' AND m.source_id = $1 AND ($2 < 0 OR m.variant = $2)",
            ).bind(id).bind(v).fetch_one(p).await?;
            let events = [
                events.int("unique_human"), events.int("opens"), events.int("machine"), events.int("unique_clicks"),
                events.int("clicks"), events.int("bounces"), events.int("unsubscribes"), events.int("complaints"),
            ];
            let links: Vec<LinkClicks> = sqlx::query(
                "SELECT e.link, MIN(e.url) AS url, COUNT(*) AS total, COUNT(DISTINCT e.message_pk) AS uniq
                 FROM message_events e JOIN messages m ON m.id = e.message_pk
                 WHERE m.source = 'broadcast' AND m.source_id = $1 AND ($2 < 0 OR m.variant = $2) AND e.kind = 'click'
                 GROUP BY e.link ORDER BY e.link",
            ).bind(id).bind(v).fetch_all(p).await?.iter().map(|r| LinkClicks {
                link: r.opt_int("link").unwrap_or(-1), url: r.opt_text("url").unwrap_or_default(), total: r.int("total"), unique: r.int("uniq"),
            }).collect();
            (states, events, links)
        });
        let mut s = Stats::default();
        for (state, reason, n) in states {
            s.recipients += n;
            match state.as_str() {
                "queued" | "sending" => s.queued += n,
                "held" => s.held += n,
                "sent" => s.sent += n,
                "failed" => s.failed += n,
                _ => {
                    s.skipped += n;
                    *s.skipped_reasons
                        .entry(reason.unwrap_or_default())
                        .or_default() += n;
                }
            }
        }
        let [
            unique_human,
            opens,
            machine,
            unique_clicks,
            clicks,
            bounces,
            unsubscribes,
            complaints,
        ] = events;
        s.opens = Opens {
            unique_human,
            total: opens,
            machine,
        };
        s.clicks = Clicks {
            unique: unique_clicks,
            total: clicks,
            links,
        };
        s.bounces = bounces;
        s.unsubscribes = unsubscribes;
        s.complaints = complaints;
        s.delivered = (s.sent - bounces).max(0);
        Ok(s)
    }

    /// A message by its id, whatever its workspace: tracking tokens are
    /// signed, so the id in one is trusted.
    pub async fn message(&self, id: i64) -> Result<MessageRow> {
        on_db!(self, p => {
            sqlx::query("SELECT id, workspace_id, source, source_id, channel, contact_id, address, variant, state, message_id FROM messages WHERE id = $1")
                .bind(id).fetch_optional(p).await?.map(|r| message_from_row(&r)).ok_or(StoreError::NotFound)
        })
    }

    /// The message a bounce is about: by Message-ID, else the latest sent to
    /// the address.
    pub async fn find_message(
        &self,
        ws: WorkspaceId,
        message_id: Option<&str>,
        address: Option<&str>,
    ) -> Result<Option<MessageRow>> {
        let cols = "id, workspace_id, source, source_id, channel, contact_id, address, variant, state, message_id";
        if let Some(mid) = message_id {
            let mid = mid.trim().trim_start_matches('<').trim_end_matches('>');
            let bracketed = format!("<{mid}>");
            let sql = format!(
                "SELECT {cols} FROM messages WHERE workspace_id = $1 AND (message_id = $2 OR message_id = $3)"
            );
            let found = on_db!(self, p => {
                sqlx::query(sqlx::AssertSqlSafe(sql)).bind(ws.0).bind(mid).bind(&bracketed).fetch_optional(p).await?.map(|r| message_from_row(&r))
            });
            if found.is_some() {
                return Ok(found);
            }
        }
        let Some(address) = address else {
            return Ok(None);
        };
        let sql = format!(
            "SELECT {cols} FROM messages WHERE workspace_id = $1 AND address = $2 AND state = 'sent' ORDER BY sent_at DESC, id DESC LIMIT 1"
        );
        Ok(on_db!(self, p => {
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(ws.0).bind(address.to_lowercase()).fetch_optional(p).await?.map(|r| message_from_row(&r))
        }))
    }

    /// Records an open, a click or a reply, and the matching event
    /// (`email_opened`, `email_clicked` or the message channel's
    /// `sms_clicked` / `zalo_clicked`, `message_replied`) so filters see
    /// it; machine opens are kept, flagged. Campaign branches waiting for
    /// it go on: returns how many.
    pub async fn record_engagement(
        &self,
        m: &MessageRow,
        kind: &str,
        link: Option<(i64, &str)>,
        machine: bool,
        detail: Option<&str>,
    ) -> Result<u64> {
        let now = self.now();
        on_db!(self, p => {
            sqlx::query(
                "INSERT INTO message_events (workspace_id, message_pk, kind, link, url, machine, detail, at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(m.workspace.0).bind(m.id).bind(kind).bind(link.map(|l| l.0)).bind(link.map(|l| l.1))
            .bind(machine).bind(detail).bind(now).execute(p).await?;
        });
        let resumed = self.resume_waiting(m.id, kind, machine, now).await?;
        let Some(contact) = m.contact_id else {
            return Ok(resumed);
        };
        let (name, mut props) = match kind {
            "open" => ("email_opened", json!({"machine": machine})),
            "click" => (
                match m.channel.as_str() {
                    "sms" => "sms_clicked",
                    "zalo" => "zalo_clicked",
                    _ => "email_clicked",
                },
                json!({"link": link.map(|l| l.0), "url": link.map(|l| l.1)}),
            ),
            "reply" => ("message_replied", json!({})),
            _ => return Ok(resumed),
        };
        props[m.source.as_str()] = json!(m.source_id);
        props["message"] = json!(m.id);
        props["variant"] = json!(m.variant);
        self.append_events(
            m.workspace,
            &[NewEvent {
                name: name.into(),
                contact: Some(ContactRef::Id(contact)),
                at: now,
                properties: props,
            }],
        )
        .await?;
        Ok(resumed)
    }

    /// One-click unsubscribe: the contact opts out of e-mail (through the
    /// change log, like every change) and the message counts it.
    pub async fn unsubscribe_message(&self, m: &MessageRow) -> Result<()> {
        let now = self.now();
        let already: i64 = on_db!(self, p => {
            sqlx::query_scalar("SELECT COUNT(*) FROM message_events WHERE message_pk = $1 AND kind = 'unsubscribe'")
                .bind(m.id).fetch_one(p).await?
        });
        if already == 0 {
            on_db!(self, p => {
                sqlx::query("INSERT INTO message_events (workspace_id, message_pk, kind, at) VALUES ($1, $2, 'unsubscribe', $3)")
                    .bind(m.workspace.0).bind(m.id).bind(now).execute(p).await?;
            });
        }
        if let Some(contact) = m.contact_id {
            let input = ContactInput {
                email_optout: Patch::Set(true),
                ..Default::default()
            };
            let results = self
                .write_contacts(
                    m.workspace,
                    &[ContactWrite {
                        target: Target::Id(contact),
                        input,
                    }],
                    false,
                )
                .await?;
            if let Some(Err(e)) = results.into_iter().next() {
                return Err(StoreError::Invalid(vec![e]));
            }
        }
        Ok(())
    }

    /// Records a bounce or complaint. A hard bounce or a complaint
    /// suppresses the address; soft bounces do on the third in 30 days.
    pub async fn record_bounce(
        &self,
        ws: WorkspaceId,
        address: &str,
        message_pk: Option<i64>,
        kind: BounceKind,
        status: Option<&str>,
        diagnostic: Option<&str>,
    ) -> Result<BounceOutcome> {
        let now = self.now();
        let address = address.trim().to_lowercase();
        let pk = message_pk;
        let soft = on_db!(self, p => {
            let mut tx = p.begin_write().await?;
            sqlx::query("INSERT INTO bounces (workspace_id, address, message_pk, kind, status, diagnostic, at) VALUES ($1, $2, $3, $4, $5, $6, $7)")
                .bind(ws.0).bind(&address).bind(pk).bind(kind.as_str()).bind(status).bind(diagnostic).bind(now)
                .execute(&mut *tx).await?;
            if let Some(pk) = pk {
                let ev = if kind == BounceKind::Complaint { "complaint" } else { "bounce" };
                let detail = [status, diagnostic].into_iter().flatten().collect::<Vec<_>>().join(" ");
                sqlx::query("INSERT INTO message_events (workspace_id, message_pk, kind, detail, at) VALUES ($1, $2, $3, $4, $5)")
                    .bind(ws.0).bind(pk).bind(ev).bind(detail).bind(now).execute(&mut *tx).await?;
            }
            let soft: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM bounces WHERE workspace_id = $1 AND address = $2 AND kind = 'soft' AND at > $3")
                .bind(ws.0).bind(&address).bind(now - 30 * DAY).fetch_one(&mut *tx).await?;
            let reason = match kind {
                BounceKind::Hard => Some("hard_bounce"),
                BounceKind::Complaint => Some("complaint"),
                BounceKind::Soft if soft >= 3 => Some("soft_bounces"),
                BounceKind::Soft => None,
            };
            if let Some(reason) = reason {
                sqlx::query(
                    "INSERT INTO suppressions (workspace_id, address, reason, detail, created_at) VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (workspace_id, address) DO NOTHING",
                )
                .bind(ws.0).bind(&address).bind(reason).bind(diagnostic).bind(now).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            soft
        });
        if let Some(pk) = pk {
            self.resume_waiting(pk, "bounce", false, now).await?;
        }
        let suppressed = self.is_suppressed(ws, &address).await?;
        Ok(BounceOutcome {
            address,
            kind,
            message: pk,
            soft_bounces_30d: soft,
            suppressed,
        })
    }

    pub async fn is_suppressed(&self, ws: WorkspaceId, address: &str) -> Result<bool> {
        let n: i64 = on_db!(self, p => {
            sqlx::query_scalar("SELECT COUNT(*) FROM suppressions WHERE workspace_id = $1 AND address = $2")
                .bind(ws.0).bind(address.trim().to_lowercase()).fetch_one(p).await?
        });
        Ok(n > 0)
    }

    /// The suppression list, newest first.
    pub async fn suppressions(&self, ws: WorkspaceId) -> Result<Vec<Value>> {
        on_db!(self, p => {
            Ok(sqlx::query("SELECT address, reason, detail, created_at FROM suppressions WHERE workspace_id = $1 ORDER BY created_at DESC, address")
                .bind(ws.0).fetch_all(p).await?.iter().map(|r| json!({
                    "address": r.text("address"), "reason": r.text("reason"), "detail": r.opt_text("detail"),
                    "created_at": swell_core::time::format_millis(r.int("created_at")),
                })).collect())
        })
    }

    pub async fn unsuppress(&self, ws: WorkspaceId, address: &str) -> Result<()> {
        let n = on_db!(self, p => {
            sqlx::query("DELETE FROM suppressions WHERE workspace_id = $1 AND address = $2")
                .bind(ws.0).bind(address.trim().to_lowercase()).execute(p).await?.rows_affected()
        });
        if n == 0 {
            Err(StoreError::NotFound)
        } else {
            Ok(())
        }
    }

    /// A value the server keeps for itself, made by `make` the first time.
    pub async fn setting_or_insert(
        &self,
        key: &str,
        make: impl FnOnce() -> String,
    ) -> Result<String> {
        let value = make();
        on_db!(self, p => {
            sqlx::query("INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
                .bind(key).bind(&value).execute(p).await?;
            Ok(sqlx::query_scalar("SELECT value FROM settings WHERE key = $1").bind(key).fetch_one(p).await?)
        })
    }
}

fn message_from_row(r: &impl RowExt) -> MessageRow {
    MessageRow {
        id: r.int("id"),
        workspace: WorkspaceId(r.int("workspace_id")),
        source: r.text("source"),
        source_id: r.int("source_id"),
        channel: r.text("channel"),
        contact_id: r.opt_int("contact_id"),
        address: r.opt_text("address"),
        variant: r.int("variant"),
        state: r.text("state"),
        message_id: r.opt_text("message_id"),
    }
}

/// The instant of `time` in `zone` on the local date of `start` there; the
/// next day's when that has passed by `start`.
fn local_instant(start: Millis, zone: &str, time: Time) -> Option<Millis> {
    let tz = jiff::tz::TimeZone::get(zone).ok()?;
    let start_ts = Timestamp::from_millisecond(start).ok()?;
    let date: Date = start_ts.to_zoned(tz.clone()).date();
    let at = date
        .to_datetime(time)
        .to_zoned(tz.clone())
        .ok()?
        .timestamp();
    let at = if at < start_ts {
        date.tomorrow()
            .ok()?
            .to_datetime(time)
            .to_zoned(tz)
            .ok()?
            .timestamp()
    } else {
        at
    };
    Some(at.as_millisecond())
}

/// The rows an e-mail step writes in bulk, one implementation per backend
/// (see [`crate::automation`]'s batches): on PostgreSQL one array per
/// column and a statement of a fixed text, planned in a fraction of the
/// time a many-valued list took; on SQLite the list.
pub(crate) trait OutboxRows {
    /// Message rows rendered under reserved ids, written sent.
    async fn sent_rows(
        &mut self,
        ws: i64,
        now: i64,
        rows: &[SentTraceMessage<'_>],
    ) -> sqlx::Result<()>;

    /// Marks message rows made before sent: (id, Message-ID).
    async fn mark_sent(&mut self, now: i64, sent: &[(i64, &str)]) -> sqlx::Result<()>;

    /// Outbox entries.
    async fn outbox_rows(
        &mut self,
        ws: i64,
        now: i64,
        messages: &[OutboxMessage<'_>],
    ) -> sqlx::Result<()>;
}

impl OutboxRows for sqlx::PgConnection {
    async fn mark_sent(&mut self, now: i64, sent: &[(i64, &str)]) -> sqlx::Result<()> {
        if sent.is_empty() {
            return Ok(());
        }
        let ids: Vec<i64> = sent.iter().map(|s| s.0).collect();
        let message_ids: Vec<&str> = sent.iter().map(|s| s.1).collect();
        // The ids again as `= ANY`: PostgreSQL then finds the rows by index
        // instead of joining the arrays to the whole table.
        sqlx::query(
            "UPDATE messages SET state = 'sent', message_id = v.message_id, sent_at = $1, reason = NULL
             FROM unnest($2::bigint[], $3::text[]) AS v(id, message_id)
             WHERE messages.id = v.id AND messages.id = ANY($2::bigint[])",
        )
        .bind(now)
        .bind(ids)
        .bind(message_ids)
        .execute(self)
        .await?;
        Ok(())
    }

    async fn sent_rows(
        &mut self,
        ws: i64,
        now: i64,
        rows: &[SentTraceMessage<'_>],
    ) -> sqlx::Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        let traces: Vec<i64> = rows.iter().map(|r| r.trace).collect();
        let contacts: Vec<Option<i64>> = rows.iter().map(|r| r.contact).collect();
        let addresses: Vec<Option<&str>> = rows.iter().map(|r| r.address).collect();
        let message_ids: Vec<&str> = rows.iter().map(|r| r.message_id).collect();
        sqlx::query(
            "INSERT INTO messages (id, workspace_id, source, source_id, contact_id, channel, address, state, due_at,
                                   attempts, message_id, sent_at, created_at)
             SELECT unnest($1::bigint[]), $2, 'trace', unnest($3::bigint[]), unnest($4::bigint[]), 'email',
                    unnest($5::text[]), 'sent', $6, 1, unnest($7::text[]), $6, $6",
        )
        .bind(ids)
        .bind(ws)
        .bind(traces)
        .bind(contacts)
        .bind(addresses)
        .bind(now)
        .bind(message_ids)
        .execute(self)
        .await?;
        Ok(())
    }

    async fn outbox_rows(
        &mut self,
        ws: i64,
        now: i64,
        messages: &[OutboxMessage<'_>],
    ) -> sqlx::Result<()> {
        if messages.is_empty() {
            return Ok(());
        }
        let pks: Vec<Option<i64>> = messages.iter().map(|m| m.message_pk).collect();
        let ids: Vec<&str> = messages.iter().map(|m| m.message_id).collect();
        let senders: Vec<&str> = messages.iter().map(|m| m.sender).collect();
        let recipients: Vec<&str> = messages.iter().map(|m| m.recipient).collect();
        let subjects: Vec<&str> = messages.iter().map(|m| m.subject).collect();
        let raws: Vec<&[u8]> = messages.iter().map(|m| m.raw).collect();
        sqlx::query(
            "INSERT INTO outbox (workspace_id, message_pk, message_id, sender, recipient, subject, raw, created_at)
             SELECT $1, unnest($2::bigint[]), unnest($3::text[]), unnest($4::text[]), unnest($5::text[]),
                    unnest($6::text[]), unnest($7::bytea[]), $8",
        )
        .bind(ws)
        .bind(pks)
        .bind(ids)
        .bind(senders)
        .bind(recipients)
        .bind(subjects)
        .bind(raws)
        .bind(now)
        .execute(self)
        .await?;
        Ok(())
    }
}

impl OutboxRows for sqlx::SqliteConnection {
    async fn mark_sent(&mut self, now: i64, sent: &[(i64, &str)]) -> sqlx::Result<()> {
        for chunk in sent.chunks(OUTBOX_ROWS_PER_STATEMENT) {
            let mut q = sqlx::QueryBuilder::new(
                "UPDATE messages SET state = 'sent', message_id = v.column2, sent_at = ",
            );
            q.push_bind(now);
            q.push(", reason = NULL FROM (");
            q.push_values(chunk, |mut b, (pk, id)| {
                b.push_bind(*pk).push_bind(*id);
            });
            q.push(") AS v WHERE messages.id = v.column1");
            crate::automation::queue::push_id_list(&mut q, "messages", chunk.iter().map(|s| s.0));
            q.build().persistent(false).execute(&mut *self).await?;
        }
        Ok(())
    }

    async fn sent_rows(
        &mut self,
        ws: i64,
        now: i64,
        rows: &[SentTraceMessage<'_>],
    ) -> sqlx::Result<()> {
        for chunk in rows.chunks(OUTBOX_ROWS_PER_STATEMENT) {
            let mut q = sqlx::QueryBuilder::new(
                "INSERT INTO messages (id, workspace_id, source, source_id, contact_id, channel, address, state, due_at,
                                       attempts, message_id, sent_at, created_at) ",
            );
            q.push_values(chunk, |mut b, r| {
                b.push_bind(r.id)
                    .push_bind(ws)
                    .push_bind("trace")
                    .push_bind(r.trace)
                    .push_bind(r.contact)
                    .push_bind("email")
                    .push_bind(r.address)
                    .push_bind("sent")
                    .push_bind(now)
                    .push_bind(1_i64)
                    .push_bind(r.message_id)
                    .push_bind(now)
                    .push_bind(now);
            });
            q.build().persistent(false).execute(&mut *self).await?;
        }
        Ok(())
    }

    async fn outbox_rows(
        &mut self,
        ws: i64,
        now: i64,
        messages: &[OutboxMessage<'_>],
    ) -> sqlx::Result<()> {
        for chunk in messages.chunks(OUTBOX_ROWS_PER_STATEMENT) {
            let mut q = sqlx::QueryBuilder::new(
                "INSERT INTO outbox (workspace_id, message_pk, message_id, sender, recipient, subject, raw, created_at) ",
            );
            q.push_values(chunk, |mut b, m| {
                b.push_bind(ws)
                    .push_bind(m.message_pk)
                    .push_bind(m.message_id)
                    .push_bind(m.sender)
                    .push_bind(m.recipient)
                    .push_bind(m.subject)
                    .push_bind(m.raw)
                    .push_bind(now);
            });
            q.build().persistent(false).execute(&mut *self).await?;
        }
        Ok(())
    }
}

/// Rows per multi-row statement of an e-mail step's rows on SQLite: half
/// the engine's other statements' (`ROWS_PER_STATEMENT`), as each outbox
/// row carries a whole message; a thousand drained no faster.
const OUTBOX_ROWS_PER_STATEMENT: usize = 500;
