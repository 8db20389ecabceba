//! Leads at work: intake from every source (the API, CSV, web forms,
//! Facebook Lead Ads, automations), dedupe against contacts, assignment to
//! sales reps by rules, the status pipeline and each lead's history.
//!
//! Everything that happens to a lead in one step happens in one
//! transaction: the missing ad parents, the contact, the lead, its
//! history, the rule's turn, the rep's notices and task. The steps that
//! run inside a transaction are [`LeadTx`] methods, written once for both
//! backends by `impl_lead_tx!` (in `tx.rs`), so the API's intake and the
//! automation engine's `create_lead` / `assign_owner` actions, which run
//! in a campaign step's transaction, share one code path.

use serde::Serialize;
use serde_json::{Map, Value};
use swell_core::role::Role;
use swell_core::{Email, FieldError, Phone};

use crate::reports::AdKey;
use crate::reports::metrics::text;
use crate::rows::RowExt;
use crate::{BeginWrite, Result, Store, StoreError, WorkspaceId, on_db};

mod batch;
mod board;
pub mod forms;
mod import;
pub mod notices;
pub mod rules;
mod tx;

pub(crate) use batch::IntakeQueue;
pub use import::LeadImportReport;
pub use notices::{Notice, NoticeResult};
pub use rules::{Notify, RepWeight, Rule, RuleInput, Strategy};
pub(crate) use tx::LeadTx;

/// Where a lead is in the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LeadStatus {
    New,
    Contacted,
    Qualified,
    Won,
    Lost,
}

impl LeadStatus {
    pub fn parse(s: &str) -> Option<LeadStatus> {
        match s {
            "new" => Some(LeadStatus::New),
            "contacted" => Some(LeadStatus::Contacted),
            "qualified" => Some(LeadStatus::Qualified),
            "won" => Some(LeadStatus::Won),
            "lost" => Some(LeadStatus::Lost),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            LeadStatus::New => "new",
            LeadStatus::Contacted => "contacted",
            LeadStatus::Qualified => "qualified",
            LeadStatus::Won => "won",
            LeadStatus::Lost => "lost",
        }
    }

    /// Won and lost are the end.
    pub fn is_final(self) -> bool {
        matches!(self, LeadStatus::Won | LeadStatus::Lost)
    }

    /// Whether a lead may move from `self` to `to`: forward along new,
    /// contacted, qualified, won (steps may be skipped), or to lost from
    /// any open status; never out of won or lost.
    pub fn may_become(self, to: LeadStatus) -> bool {
        !self.is_final() && (to == LeadStatus::Lost || to > self)
    }
}

/// Who does something to a lead: a user (whose role limits what they may
/// touch), or the workspace itself (a key without a user, or Swell).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Actor {
    pub user: Option<i64>,
    pub role: Option<Role>,
}

impl Actor {
    pub const WORKSPACE: Actor = Actor {
        user: None,
        role: None,
    };

    pub fn user(id: i64, role: Role) -> Actor {
        Actor {
            user: Some(id),
            role: Some(role),
        }
    }

    /// The rep whose leads are all this actor may see, when a sales rep.
    pub fn only_own(&self) -> Option<i64> {
        match self.role {
            Some(Role::Sales) => Some(self.user.unwrap_or(0)),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Lead {
    pub id: i64,
    pub external_id: Option<String>,
    pub contact_id: Option<i64>,
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub status: String,
    pub source: Option<String>,
    pub region: Option<String>,
    pub product: Option<String>,
    pub value: Option<f64>,
    pub data: Value,
    pub ad_id: Option<i64>,
    pub form_id: Option<i64>,
    pub owner_id: Option<i64>,
    pub rule_id: Option<i64>,
    #[serde(serialize_with = "swell_core::time::serialize_opt_millis")]
    pub assigned_at: Option<i64>,
    #[serde(serialize_with = "swell_core::time::serialize_opt_millis")]
    pub first_contacted_at: Option<i64>,
    #[serde(serialize_with = "swell_core::time::serialize_opt_millis")]
    pub status_changed_at: Option<i64>,
    pub lost_reason: Option<String>,
    pub order_id: Option<i64>,
    /// The earlier lead of the same person this one repeats, within the
    /// workspace's duplicate window.
    pub duplicate_of: Option<i64>,
    #[serde(serialize_with = "swell_core::time::serialize_millis")]
    pub created_at: i64,
    #[serde(serialize_with = "swell_core::time::serialize_millis")]
    pub updated_at: i64,
}

pub(crate) const LEAD_COLUMNS: &str = "id, external_id, contact_id, name, email, phone, status, source, region, product, value,
     data, ad_id, form_id, owner_id, rule_id, assigned_at, first_contacted_at, status_changed_at, lost_reason, order_id,
     duplicate_of, created_at, updated_at";

pub(crate) fn lead_from_row(r: &impl RowExt) -> Lead {
    Lead {
        id: r.int("id"),
        external_id: r.opt_text("external_id"),
        contact_id: r.opt_int("contact_id"),
        name: r.opt_text("name"),
        email: r.opt_text("email"),
        phone: r.opt_text("phone"),
        status: r.text("status"),
        source: r.opt_text("source"),
        region: r.opt_text("region"),
        product: r.opt_text("product"),
        value: r.opt_float("value"),
        data: r.json("data"),
        ad_id: r.opt_int("ad_id"),
        form_id: r.opt_int("form_id"),
        owner_id: r.opt_int("owner_id"),
        rule_id: r.opt_int("rule_id"),
        assigned_at: r.opt_int("assigned_at"),
        first_contacted_at: r.opt_int("first_contacted_at"),
        status_changed_at: r.opt_int("status_changed_at"),
        lost_reason: r.opt_text("lost_reason"),
        order_id: r.opt_int("order_id"),
        duplicate_of: r.opt_int("duplicate_of"),
        created_at: r.int("created_at"),
        updated_at: r.int("updated_at"),
    }
}

/// One thing that happened to a lead.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct HistoryEntry {
    pub id: i64,
    #[serde(serialize_with = "swell_core::time::serialize_millis")]
    pub at: i64,
    /// Who; null: Swell itself (or a key without a user).
    pub user_id: Option<i64>,
    /// created, duplicate, assigned, reassigned, status, note, call
    pub kind: String,
    pub from: Option<String>,
    pub to: Option<String>,
    pub note: Option<String>,
}

/// A lead as it arrives, parsed. `email` or `phone` is required: the
/// person is found or made by them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LeadInput {
    /// The source's id of the lead; a lead sent again with the same id is
    /// the same lead (the first answer is given again).
    pub external_id: Option<String>,
    pub name: Option<String>,
    pub email: Option<Email>,
    pub phone: Option<Phone>,
    pub source: Option<String>,
    pub region: Option<String>,
    pub product: Option<String>,
    pub value: Option<f64>,
    /// Anything else the source sent (form answers, campaign ids).
    pub data: Map<String, Value>,
    pub ad: Option<AdKey>,
    pub form_id: Option<i64>,
}

/// The fields a lead may be given with, in JSON and as CSV columns.
pub const LEAD_FIELDS: &[&str] = &[
    "external_id",
    "name",
    "email",
    "phone",
    "source",
    "region",
    "product",
    "value",
    "data",
    "ad_id",
    "platform",
    "account_id",
    "campaign",
    "ad",
];

impl LeadInput {
    /// Reads a lead given as a JSON object (or a CSV row's cells, all
    /// text). The ad is named by `ad_id`, or by `account_id`, `campaign`
    /// and `ad` (with `platform`, facebook unless given), whose missing
    /// levels intake creates.
    pub fn from_json(
        obj: &Map<String, Value>,
        phone_region: &str,
    ) -> std::result::Result<LeadInput, FieldError> {
        if let Some(k) = obj.keys().find(|k| !LEAD_FIELDS.contains(&k.as_str())) {
            return Err(FieldError::new(
                k.clone(),
                format!("unknown field ({})", LEAD_FIELDS.join(", ")),
            ));
        }
        let email = text(obj, "email")?
            .map(|e| Email::parse(&e).map_err(|r| FieldError::new("email", r)))
            .transpose()?;
        let phone = text(obj, "phone")?
            .map(|p| Phone::parse(&p, phone_region).map_err(|r| FieldError::new("phone", r)))
            .transpose()?;
        if email.is_none() && phone.is_none() {
            return Err(FieldError::new(
                "phone",
                "give a phone or an email: the person is found or made by them",
            ));
        }
        let value = match obj.get("value") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => n.as_f64(),
            Some(Value::String(s)) if s.trim().is_empty() => None,
            Some(Value::String(s)) => Some(
                s.trim()
                    .parse::<f64>()
                    .map_err(|_| FieldError::new("value", format!("'{s}' is not a number")))?,
            ),
            Some(_) => return Err(FieldError::new("value", "must be a number")),
        };
        if let Some(v) = value
            && !(v.is_finite() && v >= 0.0)
        {
            return Err(FieldError::new("value", "must be a number, 0 or more"));
        }
        let data = match obj.get("data") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(m)) => m.clone(),
            Some(_) => return Err(FieldError::new("data", "must be an object")),
        };
        let ad = AdKey::from_json(obj)?;
        Ok(LeadInput {
            external_id: text(obj, "external_id")?,
            name: text(obj, "name")?,
            email,
            phone,
            source: text(obj, "source")?,
            region: text(obj, "region")?,
            product: text(obj, "product")?,
            value,
            data,
            ad,
            form_id: None,
        })
    }
}

/// Which levels of the ads hierarchy an intake created.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct CreatedParents {
    pub account: bool,
    pub campaign: bool,
    pub ad: bool,
}

/// What one intake did.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Intake {
    pub lead: Lead,
    /// The lead was sent before with the same `external_id`: nothing was
    /// written, this is the first answer again.
    pub replayed: bool,
    pub contact_created: bool,
    pub created: CreatedParents,
    /// The ad, its campaign or account is switched off: the lead is taken
    /// and counted to it all the same, and this says so.
    pub warnings: Vec<String>,
}

/// A change of status, as a rep asks for it.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusChange {
    pub to: LeadStatus,
    /// Why it was lost (required for lost).
    pub reason: Option<String>,
    /// The order a won lead became (required for won).
    pub order: Option<OrderRef>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum OrderRef {
    Id(i64),
    External(String),
}

/// A workspace's settings for leads.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LeadSettings {
    /// Days within which a second lead of the same person is a duplicate
    /// (0: off).
    pub duplicate_window_days: i64,
    /// How a rep is told of a lead given by hand, or by an automation,
    /// when no rule gave it first (a rule's own notices otherwise).
    pub notify: Notify,
}

/// One cell of the leads board.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LeadCount {
    pub owner_id: Option<i64>,
    pub status: String,
    pub leads: i64,
}

/// Which leads to list.
#[derive(Debug, Clone, Default)]
pub struct LeadQuery {
    pub status: Option<LeadStatus>,
    pub owner: Option<i64>,
    pub ad: Option<i64>,
    /// Created at or after (ms).
    pub since: Option<i64>,
    /// Ids below this one (the previous page's last).
    pub before: Option<i64>,
    /// Leave out repeats of earlier leads (the board counts without them).
    pub originals_only: bool,
    pub limit: u32,
}

fn invalid(field: &str, reason: impl Into<String>) -> StoreError {
    StoreError::Invalid(vec![FieldError::new(field, reason)])
}

impl Store {
    /// Takes one lead: finds or creates its ad's missing parents, links or
    /// makes its contact, marks a repeat within the window as a duplicate
    /// (given to the rep who has the first, not assigned again), and
    /// assigns a new one by the workspace's rules; all in one transaction,
    /// which leads arriving at the same moment share (see `batch.rs`).
    pub async fn intake_lead(&self, ws: WorkspaceId, input: &LeadInput) -> Result<Intake> {
        self.intake_queued(ws.0, input).await
    }

    /// A lead, when the actor may see it (a sales rep sees their own only).
    pub async fn lead(&self, ws: WorkspaceId, id: i64, actor: Actor) -> Result<Lead> {
        let sql = format!("SELECT {LEAD_COLUMNS} FROM leads WHERE workspace_id = $1 AND id = $2");
        let lead = on_db!(self, p => {
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(ws.0).bind(id).fetch_optional(p).await?
                .map(|r| lead_from_row(&r)).ok_or(StoreError::NotFound)?
        });
        match actor.only_own() {
            Some(me) if lead.owner_id != Some(me) => Err(StoreError::NotFound),
            _ => Ok(lead),
        }
    }

    /// A lead's history, oldest first.
    pub async fn lead_history(&self, ws: WorkspaceId, id: i64) -> Result<Vec<HistoryEntry>> {
        on_db!(self, p => {
            Ok(sqlx::query(
                "SELECT id, at, user_id, kind, from_value, to_value, note FROM lead_history
                 WHERE workspace_id = $1 AND lead_id = $2 ORDER BY id")
                .bind(ws.0).bind(id).fetch_all(p).await?.iter().map(|r| HistoryEntry {
                    id: r.int("id"), at: r.int("at"), user_id: r.opt_int("user_id"), kind: r.text("kind"),
                    from: r.opt_text("from_value"), to: r.opt_text("to_value"), note: r.opt_text("note"),
                }).collect())
        })
    }

    /// Leads newest first, a page at a time: by status, owner, source ad,
    /// creation time. A sales rep's list holds their own leads only,
    /// whatever the query asks. The leads board reads this.
    pub async fn leads(&self, ws: WorkspaceId, q: &LeadQuery, actor: Actor) -> Result<Vec<Lead>> {
        let owner = actor.only_own().or(q.owner);
        let sql = format!(
            "SELECT {LEAD_COLUMNS} FROM leads
             WHERE workspace_id = $1 AND id < $2 AND ($3 = '' OR status = $3) AND ($4 = 0 OR owner_id = $4)
               AND ($5 = 0 OR ad_id = $5) AND created_at >= $6 AND (NOT $8 OR duplicate_of IS NULL)
             ORDER BY id DESC LIMIT $7"
        );
        on_db!(self, p => {
            Ok(sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(ws.0).bind(q.before.unwrap_or(i64::MAX)).bind(q.status.map(|s| s.as_str()).unwrap_or(""))
                .bind(owner.unwrap_or(0)).bind(q.ad.unwrap_or(0)).bind(q.since.unwrap_or(i64::MIN))
                .bind(i64::from(q.limit.clamp(1, 1000))).bind(q.originals_only)
                .fetch_all(p).await?.iter().map(lead_from_row).collect())
        })
    }

    /// How many leads each owner has in each status (duplicates left out):
    /// the columns of the leads board. A sales rep counts their own only.
    pub async fn lead_counts(&self, ws: WorkspaceId, actor: Actor) -> Result<Vec<LeadCount>> {
        on_db!(self, p => {
            let rows: Vec<(Option<i64>, String, i64)> = sqlx::query_as(
                "SELECT owner_id, status, COUNT(*) FROM leads
                 WHERE workspace_id = $1 AND duplicate_of IS NULL AND ($2 = 0 OR owner_id = $2)
                 GROUP BY owner_id, status ORDER BY owner_id, status")
                .bind(ws.0).bind(actor.only_own().unwrap_or(0)).fetch_all(p).await?;
            Ok(rows.into_iter().map(|(owner_id, status, leads)| LeadCount { owner_id, status, leads }).collect())
        })
    }

    /// Moves a lead along the pipeline, recorded with who and when. The
    /// first move out of `new` is its first contact; won links an order
    /// (by id or the shop's number), lost needs a reason. A sales rep moves
    /// their own leads only.
    pub async fn move_lead(
        &self,
        ws: WorkspaceId,
        id: i64,
        actor: Actor,
        change: &StatusChange,
    ) -> Result<Lead> {
        let reason = change
            .reason
            .as_deref()
            .map(str::trim)
            .filter(|r| !r.is_empty());
        if change.to == LeadStatus::Lost && reason.is_none() {
            return Err(invalid("reason", "is required when a lead is lost"));
        }
        if change.to == LeadStatus::Won && change.order.is_none() {
            return Err(invalid(
                "order_id",
                "is required when a lead is won: the order it became (order_id or order_external_id)",
            ));
        }
        let now = self.now();
        on_db!(self, p => {
            let mut tx = p.begin_write().await?;
            let lead = tx.lock_lead(ws.0, id).await?;
            if let Some(me) = actor.only_own() && lead.owner_id != Some(me) {
                return Err(StoreError::NotFound);
            }
            let from = LeadStatus::parse(&lead.status).unwrap_or(LeadStatus::New);
            if !from.may_become(change.to) {
                return Err(invalid("status", format!("a {} lead cannot become {}", from.as_str(), change.to.as_str())));
            }
            let order_id: Option<i64> = match &change.order {
                None => None,
                Some(OrderRef::Id(o)) => Some(sqlx::query_scalar("SELECT id FROM orders WHERE workspace_id = $1 AND id = $2")
                    .bind(ws.0).bind(o).fetch_optional(&mut *tx).await?
                    .ok_or_else(|| invalid("order_id", format!("order {o} not found")))?),
                Some(OrderRef::External(x)) => Some(sqlx::query_scalar("SELECT id FROM orders WHERE workspace_id = $1 AND external_id = $2")
                    .bind(ws.0).bind(x).fetch_optional(&mut *tx).await?
                    .ok_or_else(|| invalid("order_external_id", format!("no order '{x}'")))?),
            };
            sqlx::query(
                "UPDATE leads SET status = $3, status_changed_at = $4, updated_at = $4,
                    first_contacted_at = CASE WHEN first_contacted_at IS NULL AND $5 THEN $4 ELSE first_contacted_at END,
                    lost_reason = CASE WHEN $3 = 'lost' THEN $6 ELSE lost_reason END,
                    order_id = COALESCE($7, order_id)
                 WHERE workspace_id = $1 AND id = $2")
                .bind(ws.0).bind(id).bind(change.to.as_str()).bind(now).bind(from == LeadStatus::New)
                .bind(reason).bind(order_id).execute(&mut *tx).await?;
            tx.history(ws.0, id, now, actor.user, "status", Some(from.as_str()), Some(change.to.as_str()), reason).await?;
            tx.log_change(ws.0, id, serde_json::json!({"status": [from.as_str(), change.to.as_str()]}), now).await?;
            let out = tx.lock_lead(ws.0, id).await?;
            tx.commit().await?;
            Ok(out)
        })
    }

    /// Adds a note or a call (`kind`) to a lead's history.
    pub async fn add_lead_note(
        &self,
        ws: WorkspaceId,
        id: i64,
        actor: Actor,
        kind: &str,
        note: &str,
    ) -> Result<HistoryEntry> {
        if !matches!(kind, "note" | "call") {
            return Err(invalid("kind", "must be note or call"));
        }
        let note = note.trim();
        if note.is_empty() {
            return Err(invalid("text", "is empty"));
        }
        if note.len() > 10_000 {
            return Err(invalid("text", "is longer than 10,000 characters"));
        }
        self.lead(ws, id, actor).await?;
        let now = self.now();
        let hid = on_db!(self, p => {
            let mut tx = p.begin_write().await?;
            let hid = tx.history(ws.0, id, now, actor.user, kind, None, None, Some(note)).await?;
            tx.commit().await?;
            hid
        });
        Ok(HistoryEntry {
            id: hid,
            at: now,
            user_id: actor.user,
            kind: kind.into(),
            from: None,
            to: None,
            note: Some(note.into()),
        })
    }

    /// Gives a lead to a rep by hand (`to`), or by the rules when `to` is
    /// None; recorded and notified as the rules' assignments are (by the
    /// rule that assigned it first, if any). Returns the lead and whether a
    /// rep was found.
    pub async fn assign_lead(
        &self,
        ws: WorkspaceId,
        id: i64,
        to: Option<i64>,
        actor: Actor,
    ) -> Result<Lead> {
        let now = self.now();
        on_db!(self, p => {
            let mut tx = p.begin_write().await?;
            let lead = tx.lock_lead(ws.0, id).await?;
            match to {
                Some(user) => {
                    let active: Option<bool> = sqlx::query_scalar("SELECT active FROM users WHERE workspace_id = $1 AND id = $2")
                        .bind(ws.0).bind(user).fetch_optional(&mut *tx).await?;
                    match active {
                        None => return Err(invalid("user_id", format!("user {user} not found"))),
                        Some(false) => return Err(invalid("user_id", format!("user {user} is not active"))),
                        Some(true) => {}
                    }
                    if lead.owner_id == Some(user) {
                        tx.commit().await?;
                        return Ok(lead);
                    }
                    let rule = tx.rule(ws.0, lead.rule_id).await?;
                    tx.give_lead(ws.0, &lead, user, rule.as_ref(), actor.user, now).await?;
                }
                None => {
                    if tx.assign_by_rules(ws.0, &lead, lead.owner_id, actor.user, now).await?.is_none() {
                        return Err(StoreError::Conflict("no rule has an eligible rep for this lead".into()));
                    }
                }
            }
            let out = tx.lock_lead(ws.0, id).await?;
            tx.commit().await?;
            Ok(out)
        })
    }

    /// Hands every lead still `new` longer than its rule's
    /// `reassign_after_minutes` to the rule's next eligible rep (not the
    /// one who has it). Run every minute by `swell serve` and `swell
    /// worker`; safe on many processes at once (each lead is locked and
    /// checked again before it moves). Returns how many moved.
    pub async fn reassign_overdue(&self) -> Result<u64> {
        let now = self.now();
        let due: Vec<(i64, i64)> = on_db!(self, p => {
            sqlx::query_as(
                "SELECT l.workspace_id, l.id FROM leads l JOIN assignment_rules r ON r.id = l.rule_id
                 WHERE l.status = 'new' AND l.owner_id IS NOT NULL AND l.duplicate_of IS NULL
                   AND r.reassign_after_minutes IS NOT NULL AND r.active
                   AND l.assigned_at <= $1 - r.reassign_after_minutes * 60000
                 ORDER BY l.assigned_at LIMIT 500")
                .bind(now).fetch_all(p).await?
        });
        let mut moved = 0;
        for (ws, id) in due {
            let done: bool = on_db!(self, p => {
                let mut tx = p.begin_write().await?;
                let lead = tx.lock_lead(ws, id).await?;
                let minutes: Option<i64> = match lead.rule_id {
                    Some(r) => sqlx::query_scalar("SELECT reassign_after_minutes FROM assignment_rules WHERE id = $1")
                        .bind(r).fetch_optional(&mut *tx).await?.flatten(),
                    None => None,
                };
                let still_due = lead.status == "new"
                    && minutes.is_some_and(|m| lead.assigned_at.is_some_and(|at| at <= now - m * 60_000));
                let moved = still_due && tx.assign_by_rules(ws, &lead, lead.owner_id, None, now).await?.is_some();
                tx.commit().await?;
                moved
            });
            moved += u64::from(done);
        }
        Ok(moved)
    }

    /// The workspace's lead settings: the duplicate window and the notices
    /// of leads given by hand that no rule gave.
    pub async fn lead_settings(&self, ws: WorkspaceId) -> Result<LeadSettings> {
        let (days, notify): (i64, String) = on_db!(self, p => {
            sqlx::query_as("SELECT lead_duplicate_days, lead_notify FROM workspaces WHERE id = $1")
                .bind(ws.0).fetch_one(p).await?
        });
        Ok(LeadSettings {
            duplicate_window_days: days,
            notify: Notify::from_stored(&serde_json::from_str(&notify).unwrap_or_default()),
        })
    }

    /// Changes what is given; a notify without a secret keeps the stored
    /// one (it is never shown back to be sent again).
    pub async fn set_lead_settings(
        &self,
        ws: WorkspaceId,
        duplicate_window_days: Option<i64>,
        notify: Option<Notify>,
    ) -> Result<LeadSettings> {
        if let Some(days) = duplicate_window_days
            && !(0..=3650).contains(&days)
        {
            return Err(invalid("duplicate_window_days", "must be 0 (off) to 3650"));
        }
        let current = self.lead_settings(ws).await?;
        let mut notify = notify.unwrap_or_else(|| current.notify.clone());
        if notify.secret.is_none() && notify.webhook.is_some() {
            notify.secret = current.notify.secret.clone();
        }
        let days = duplicate_window_days.unwrap_or(current.duplicate_window_days);
        on_db!(self, p => {
            sqlx::query("UPDATE workspaces SET lead_duplicate_days = $2, lead_notify = $3 WHERE id = $1")
                .bind(ws.0).bind(days).bind(notify.stored().to_string()).execute(p).await?;
        });
        Ok(LeadSettings {
            duplicate_window_days: days,
            notify,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_lead_moves_forward_or_to_lost_and_never_out_of_the_end() {
        use LeadStatus::*;
        assert!(
            New.may_become(Contacted) && New.may_become(Qualified) && Qualified.may_become(Won)
        );
        assert!(Contacted.may_become(Lost) && New.may_become(Lost));
        assert!(!Qualified.may_become(Contacted) && !Won.may_become(Lost) && !Lost.may_become(New));
        assert!(!New.may_become(New));
    }

    #[test]
    fn lead_input_names_the_field_that_does_not_read() {
        let obj = |v: Value| v.as_object().unwrap().clone();
        let ok = LeadInput::from_json(&obj(json!({"phone": "0912 345 678", "account_id": "act_1", "campaign": "Tết", "ad": "A"})), "VN").unwrap();
        assert_eq!(ok.phone.unwrap().as_str(), "+84912345678");
        for (v, field) in [
            (json!({"name": "An"}), "phone"),
            (json!({"email": "not mail"}), "email"),
            (
                json!({"phone": "0912345678", "ad_id": 1, "ad": "A"}),
                "ad_id",
            ),
            (
                json!({"phone": "0912345678", "account_id": "act_1", "ad": "A"}),
                "campaign",
            ),
            (json!({"phone": "0912345678", "value": -3}), "value"),
            (json!({"phone": "0912345678", "colour": "red"}), "colour"),
        ] {
            assert_eq!(
                LeadInput::from_json(&obj(v), "VN").unwrap_err().field,
                field
            );
        }
    }
}
