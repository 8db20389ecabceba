//! Automated campaigns in the store: campaigns and their tree of
//! activities, the participants that entered, and the traces (participant
//! x activity) that are both the history and the scheduler's queue.
//!
//! - this module: campaigns and activities, edited safely while running
//!   (activities are versioned; a trace records the version it ran);
//! - [`queue`]: entering participants, claiming due traces under a lease,
//!   recording outcomes and scheduling children in one transaction;
//! - [`views`]: participants, traces and per-activity figures;
//! - [`extras`]: tasks, in-app messages and channel settings that
//!   activities produce or read.

mod batch;
pub mod extras;
pub mod queue;
pub mod views;

use serde::Serialize;
use serde_json::Value;
use swell_core::FieldError;
use swell_core::filter::{Expr, Filter, FilterError};
use swell_core::time::Millis;

use crate::rows::RowExt;
use crate::{BeginWrite, Result, Store, StoreError, WorkspaceId, on_db};

/// A campaign as stored.
#[derive(Debug, Clone, Serialize)]
pub struct Campaign {
    pub id: i64,
    #[serde(skip)]
    pub workspace: WorkspaceId,
    pub name: String,
    /// `contact` or a record type.
    pub entity: String,
    /// The entry filter's JSON tree (None: everyone of the entity).
    pub filter: Option<Value>,
    pub trigger: Value,
    /// `once` or `each`.
    pub reentry: String,
    /// draft, running, paused, stopped.
    pub state: String,
    pub reason: Option<String>,
    pub budget: Option<f64>,
    pub spent: f64,
    /// Whether an inbound webhook secret is set.
    pub has_hook: bool,
    #[serde(skip)]
    pub hook_signing: Option<String>,
    #[serde(skip)]
    pub schedule: Value,
    #[serde(serialize_with = "swell_core::time::serialize_opt_millis")]
    pub next_run_at: Option<Millis>,
    #[serde(skip)]
    pub change_cursor: i64,
    #[serde(serialize_with = "swell_core::time::serialize_millis")]
    pub created_at: Millis,
    #[serde(serialize_with = "swell_core::time::serialize_millis")]
    pub updated_at: Millis,
    #[serde(serialize_with = "swell_core::time::serialize_opt_millis")]
    pub launched_at: Option<Millis>,
    /// The marketing campaign it belongs to.
    pub marketing_campaign_id: Option<i64>,
}

impl Campaign {
    /// The entry filter; everyone of the entity when the campaign has none.
    pub fn entry_filter(&self) -> std::result::Result<Filter, FilterError> {
        match &self.filter {
            Some(f) => Filter::from_json(f),
            None => Ok(Filter::from_expr(Expr::And(Vec::new()))),
        }
    }
}

/// What a campaign is made from (create and replace).
#[derive(Debug, Clone)]
pub struct CampaignInput {
    pub name: String,
    pub entity: String,
    pub filter: Option<Value>,
    pub trigger: Value,
    pub reentry: String,
    pub budget: Option<f64>,
    /// SHA-256 of the inbound webhook secret, when the trigger is a webhook.
    pub hook_key: Option<String>,
    pub hook_signing: Option<String>,
    /// The marketing campaign it belongs to; on update, `None` keeps the
    /// current one (taking it out is the marketing campaign's business).
    pub marketing_campaign_id: Option<i64>,
}

/// One step of a campaign's tree.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Activity {
    pub id: i64,
    pub campaign_id: i64,
    pub parent_id: Option<i64>,
    pub name: String,
    pub kind: String,
    pub config: Value,
    pub trigger: String,
    pub delay_ms: i64,
    pub filter: Option<Value>,
    pub validity_ms: Option<i64>,
    pub share: Option<i64>,
    pub version: i64,
    pub position: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<Millis>,
}

/// What an activity is made from.
#[derive(Debug, Clone, Default)]
pub struct ActivityInput {
    pub parent_id: Option<i64>,
    pub name: String,
    pub kind: String,
    pub config: Value,
    pub trigger: String,
    pub delay_ms: i64,
    pub filter: Option<Value>,
    pub validity_ms: Option<i64>,
    pub share: Option<i64>,
    pub position: i64,
}

/// The activity triggers, relative to the parent. The first two need no
/// parent message; the rest watch the parent's message.
pub const TRIGGERS: &[&str] = &[
    "start",
    "after_parent",
    "opened",
    "not_opened",
    "clicked",
    "not_clicked",
    "replied",
    "not_replied",
    "bounced",
    "sms_clicked",
    "sms_not_clicked",
];

/// Triggers that wait for something to happen to the parent's message.
pub const WAITING_TRIGGERS: &[&str] = &["opened", "clicked", "replied", "bounced", "sms_clicked"];

/// The activity kinds.
pub const KINDS: &[&str] = &[
    "email", "sms", "zalo", "inapp", "message", "webhook", "action", "split",
];

const CAMPAIGN_COLUMNS: &str = "id, workspace_id, name, entity, filter, trigger, reentry, state, reason, hook_key, \
     hook_signing, budget, spent, change_cursor, schedule, next_run_at, created_at, updated_at, launched_at, \
     marketing_campaign_id";

fn campaign_from_row(r: &impl RowExt) -> Campaign {
    Campaign {
        id: r.int("id"),
        workspace: WorkspaceId(r.int("workspace_id")),
        name: r.text("name"),
        entity: r.text("entity"),
        filter: Some(r.json("filter")).filter(|v| !v.is_null()),
        trigger: r.json("trigger"),
        reentry: r.text("reentry"),
        state: r.text("state"),
        reason: r.opt_text("reason"),
        budget: r.opt_float("budget"),
        spent: r.opt_float("spent").unwrap_or(0.0),
        has_hook: r.opt_text("hook_key").is_some(),
        hook_signing: r.opt_text("hook_signing"),
        schedule: r.json("schedule"),
        next_run_at: r.opt_int("next_run_at"),
        change_cursor: r.int("change_cursor"),
        created_at: r.int("created_at"),
        updated_at: r.int("updated_at"),
        launched_at: r.opt_int("launched_at"),
        marketing_campaign_id: r.opt_int("marketing_campaign_id"),
    }
}

const ACTIVITY_COLUMNS: &str = "id, campaign_id, parent_id, name, kind, config, trigger, delay_ms, filter, \
     validity_ms, share, version, position, deleted_at";

pub(crate) fn activity_from_row(r: &impl RowExt) -> Activity {
    Activity {
        id: r.int("id"),
        campaign_id: r.int("campaign_id"),
        parent_id: r.opt_int("parent_id"),
        name: r.text("name"),
        kind: r.text("kind"),
        config: r.json("config"),
        trigger: r.text("trigger"),
        delay_ms: r.int("delay_ms"),
        filter: Some(r.json("filter")).filter(|v| !v.is_null()),
        validity_ms: r.opt_int("validity_ms"),
        share: r.opt_int("share"),
        version: r.int("version"),
        position: r.int("position"),
        deleted_at: r.opt_int("deleted_at"),
    }
}

fn opt_json(v: &Option<Value>) -> Option<sqlx::types::Json<&Value>> {
    v.as_ref().map(sqlx::types::Json)
}

impl Store {
    pub async fn create_campaign(&self, ws: WorkspaceId, c: &CampaignInput) -> Result<Campaign> {
        let now = self.now();
        let id: i64 = on_db!(self, p => {
            sqlx::query_scalar(
                "INSERT INTO campaigns (workspace_id, name, entity, filter, trigger, reentry, state, hook_key, hook_signing, budget, created_at, updated_at, marketing_campaign_id)
                 VALUES ($1, $2, $3, $4, $5, $6, 'draft', $7, $8, $9, $10, $10, $11) RETURNING id",
            )
            .bind(ws.0).bind(&c.name).bind(&c.entity).bind(opt_json(&c.filter)).bind(sqlx::types::Json(&c.trigger))
            .bind(&c.reentry).bind(&c.hook_key).bind(&c.hook_signing).bind(c.budget).bind(now).bind(c.marketing_campaign_id)
            .fetch_one(p).await?
        });
        self.campaign(ws, id).await
    }

    /// Replaces a campaign's settings. The hook secret is kept unless a new
    /// one is given. Changing the trigger resets the recurring schedule.
    pub async fn update_campaign(
        &self,
        ws: WorkspaceId,
        id: i64,
        c: &CampaignInput,
    ) -> Result<Campaign> {
        let now = self.now();
        let n = on_db!(self, p => {
            sqlx::query(
                "UPDATE campaigns SET name = $3, entity = $4, filter = $5, trigger = $6, reentry = $7,
                    hook_key = COALESCE($8, hook_key), hook_signing = COALESCE($9, hook_signing), budget = $10,
                    next_run_at = NULL, updated_at = $11, marketing_campaign_id = COALESCE($12, marketing_campaign_id)
                 WHERE workspace_id = $1 AND id = $2",
            )
            .bind(ws.0).bind(id).bind(&c.name).bind(&c.entity).bind(opt_json(&c.filter)).bind(sqlx::types::Json(&c.trigger))
            .bind(&c.reentry).bind(&c.hook_key).bind(&c.hook_signing).bind(c.budget).bind(now).bind(c.marketing_campaign_id)
            .execute(p).await?.rows_affected()
        });
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        self.campaign(ws, id).await
    }

    pub async fn campaign(&self, ws: WorkspaceId, id: i64) -> Result<Campaign> {
        let sql =
            format!("SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE workspace_id = $1 AND id = $2");
        on_db!(self, p => {
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(ws.0).bind(id).fetch_optional(p).await?
                .map(|r| campaign_from_row(&r)).ok_or(StoreError::NotFound)
        })
    }

    pub async fn campaigns(&self, ws: WorkspaceId) -> Result<Vec<Campaign>> {
        let sql =
            format!("SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE workspace_id = $1 ORDER BY id");
        Ok(on_db!(self, p => {
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(ws.0).fetch_all(p).await?
                .iter().map(campaign_from_row).collect()
        }))
    }

    /// Running campaigns of every workspace: what the trigger watchers and
    /// the recurring runner look at.
    pub async fn running_campaigns(&self) -> Result<Vec<Campaign>> {
        let sql =
            format!("SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE state = 'running' ORDER BY id");
        Ok(on_db!(self, p => {
            sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(p).await?
                .iter().map(campaign_from_row).collect()
        }))
    }

    /// The campaign an inbound webhook secret opens, by the secret's hash.
    pub async fn campaign_by_hook(&self, hook_key: &str) -> Result<Option<Campaign>> {
        let sql = format!("SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE hook_key = $1");
        Ok(on_db!(self, p => {
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(hook_key).fetch_optional(p).await?
                .map(|r| campaign_from_row(&r))
        }))
    }

    /// Moves a campaign to `state`. Launching stamps `launched_at`;
    /// stopping cancels every trace not yet run.
    pub async fn set_campaign_state(
        &self,
        ws: WorkspaceId,
        id: i64,
        state: &str,
        reason: Option<&str>,
    ) -> Result<Campaign> {
        let now = self.now();
        on_db!(self, p => {
            let mut tx = p.begin_write().await?;
            let n = sqlx::query(
                "UPDATE campaigns SET state = $3, reason = $4, updated_at = $5,
                    launched_at = CASE WHEN $3 = 'running' THEN COALESCE(launched_at, $5) ELSE launched_at END
                 WHERE workspace_id = $1 AND id = $2",
            )
            .bind(ws.0).bind(id).bind(state).bind(reason).bind(now)
            .execute(&mut *tx).await?.rows_affected();
            if n == 0 {
                return Err(StoreError::NotFound);
            }
            if state == "stopped" {
                sqlx::query(
                    "UPDATE traces SET state = 'cancelled', reason = 'campaign stopped', processed_at = $2
                     WHERE campaign_id = $1 AND state IN ('waiting', 'scheduled') AND lease_until IS NULL",
                )
                .bind(id).bind(now).execute(&mut *tx).await?;
                sqlx::query("UPDATE participants SET state = 'exited', updated_at = $2 WHERE campaign_id = $1 AND state = 'running'")
                    .bind(id).bind(now).execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        self.campaign(ws, id).await
    }

    /// Deletes a campaign with its activities, participants and traces.
    pub async fn delete_campaign(&self, ws: WorkspaceId, id: i64) -> Result<()> {
        on_db!(self, p => {
            let mut tx = p.begin_write().await?;
            let found: Option<i64> = sqlx::query_scalar("SELECT id FROM campaigns WHERE workspace_id = $1 AND id = $2")
                .bind(ws.0).bind(id).fetch_optional(&mut *tx).await?;
            if found.is_none() {
                return Err(StoreError::NotFound);
            }
            for sql in [
                "DELETE FROM traces WHERE campaign_id = $1",
                "DELETE FROM participants WHERE campaign_id = $1",
                "DELETE FROM activity_versions WHERE activity_id IN (SELECT id FROM activities WHERE campaign_id = $1)",
                "UPDATE activities SET parent_id = NULL WHERE campaign_id = $1",
                "DELETE FROM activities WHERE campaign_id = $1",
                "DELETE FROM campaigns WHERE id = $1",
            ] {
                sqlx::query(sql).bind(id).execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Remembers where the record triggers got to, if no other worker moved
    /// it meanwhile: false when one did (its entries stand; ours are the
    /// same entries, kept out by their entry keys).
    pub async fn advance_change_cursor(&self, campaign: i64, from: i64, to: i64) -> Result<bool> {
        let n = on_db!(self, p => {
            sqlx::query("UPDATE campaigns SET change_cursor = $3 WHERE id = $1 AND change_cursor = $2")
                .bind(campaign).bind(from).bind(to).execute(p).await?.rows_affected()
        });
        Ok(n == 1)
    }

    /// Stores a recurring campaign's per-zone progress and its next look.
    pub async fn set_campaign_schedule(
        &self,
        campaign: i64,
        schedule: &Value,
        next_run_at: Option<Millis>,
    ) -> Result<()> {
        on_db!(self, p => {
            sqlx::query("UPDATE campaigns SET schedule = $2, next_run_at = $3 WHERE id = $1")
                .bind(campaign).bind(sqlx::types::Json(schedule)).bind(next_run_at).execute(p).await?;
        });
        Ok(())
    }

    /// Adds a step under `parent_id` (or at the top).
    pub async fn add_activity(
        &self,
        ws: WorkspaceId,
        campaign: i64,
        a: &ActivityInput,
    ) -> Result<Activity> {
        let now = self.now();
        let id: i64 = on_db!(self, p => {
            let mut tx = p.begin_write().await?;
            let found: Option<i64> = sqlx::query_scalar("SELECT id FROM campaigns WHERE workspace_id = $1 AND id = $2")
                .bind(ws.0).bind(campaign).fetch_optional(&mut *tx).await?;
            if found.is_none() {
                return Err(StoreError::NotFound);
            }
            if let Some(parent) = a.parent_id {
                let ok: Option<i64> = sqlx::query_scalar(
                    "SELECT id FROM activities WHERE campaign_id = $1 AND id = $2 AND deleted_at IS NULL",
                )
                .bind(campaign).bind(parent).fetch_optional(&mut *tx).await?;
                if ok.is_none() {
                    return Err(StoreError::Invalid(vec![FieldError::new(
                        "parent_id",
                        format!("no activity {parent} in this campaign"),
                    )]));
                }
            }
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO activities (workspace_id, campaign_id, parent_id, name, kind, config, trigger, delay_ms, filter,
                    validity_ms, share, position, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13) RETURNING id",
            )
            .bind(ws.0).bind(campaign).bind(a.parent_id).bind(&a.name).bind(&a.kind).bind(sqlx::types::Json(&a.config))
            .bind(&a.trigger).bind(a.delay_ms).bind(opt_json(&a.filter)).bind(a.validity_ms).bind(a.share)
            .bind(a.position).bind(now)
            .fetch_one(&mut *tx).await?;
            sqlx::query("INSERT INTO activity_versions (activity_id, version, definition, created_at) VALUES ($1, 1, $2, $3)")
                .bind(id).bind(sqlx::types::Json(definition(a))).bind(now).execute(&mut *tx).await?;
            tx.commit().await?;
            id
        });
        self.activity(ws, id).await
    }

    /// Changes a step. Its version goes up and the old definition is
    /// kept: traces already run keep pointing at the version they ran, and
    /// traces not yet run use the new one. The parent cannot change.
    pub async fn update_activity(
        &self,
        ws: WorkspaceId,
        id: i64,
        a: &ActivityInput,
    ) -> Result<Activity> {
        let now = self.now();
        on_db!(self, p => {
            let mut tx = p.begin_write().await?;
            let version: Option<i64> = sqlx::query_scalar(
                "UPDATE activities SET name = $3, kind = $4, config = $5, trigger = $6, delay_ms = $7, filter = $8,
                    validity_ms = $9, share = $10, position = $11, version = version + 1, updated_at = $12
                 WHERE workspace_id = $1 AND id = $2 AND deleted_at IS NULL RETURNING version",
            )
            .bind(ws.0).bind(id).bind(&a.name).bind(&a.kind).bind(sqlx::types::Json(&a.config)).bind(&a.trigger)
            .bind(a.delay_ms).bind(opt_json(&a.filter)).bind(a.validity_ms).bind(a.share).bind(a.position).bind(now)
            .fetch_optional(&mut *tx).await?;
            let Some(version) = version else {
                return Err(StoreError::NotFound);
            };
            sqlx::query("INSERT INTO activity_versions (activity_id, version, definition, created_at) VALUES ($1, $2, $3, $4)")
                .bind(id).bind(version).bind(sqlx::types::Json(definition(a))).bind(now).execute(&mut *tx).await?;
            tx.commit().await?;
        });
        self.activity(ws, id).await
    }

    /// Removes a step and everything under it. Their traces not yet run are
    /// cancelled; the history of those already run stays.
    pub async fn delete_activity(&self, ws: WorkspaceId, id: i64) -> Result<()> {
        let now = self.now();
        let activity = self.activity(ws, id).await?;
        let all = self.activities(ws, activity.campaign_id).await?;
        let mut doomed = vec![id];
        let mut i = 0;
        while i < doomed.len() {
            let parent = doomed[i];
            doomed.extend(
                all.iter()
                    .filter(|a| a.parent_id == Some(parent))
                    .map(|a| a.id),
            );
            i += 1;
        }
        on_db!(self, p => {
            let mut tx = p.begin_write().await?;
            for a in &doomed {
                sqlx::query("UPDATE activities SET deleted_at = $2, updated_at = $2 WHERE id = $1 AND deleted_at IS NULL")
                    .bind(*a).bind(now).execute(&mut *tx).await?;
                sqlx::query(
                    "UPDATE traces SET state = 'cancelled', reason = 'activity removed', processed_at = $2
                     WHERE activity_id = $1 AND state IN ('waiting', 'scheduled') AND lease_until IS NULL",
                )
                .bind(*a).bind(now).execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    pub async fn activity(&self, ws: WorkspaceId, id: i64) -> Result<Activity> {
        let sql = format!(
            "SELECT {ACTIVITY_COLUMNS} FROM activities WHERE workspace_id = $1 AND id = $2"
        );
        on_db!(self, p => {
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(ws.0).bind(id).fetch_optional(p).await?
                .map(|r| activity_from_row(&r)).ok_or(StoreError::NotFound)
        })
    }

    /// A campaign's steps that are not removed, parents before children.
    pub async fn activities(&self, ws: WorkspaceId, campaign: i64) -> Result<Vec<Activity>> {
        let sql = format!(
            "SELECT {ACTIVITY_COLUMNS} FROM activities WHERE workspace_id = $1 AND campaign_id = $2 AND deleted_at IS NULL
             ORDER BY position, id"
        );
        let rows: Vec<Activity> = on_db!(self, p => {
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(ws.0).bind(campaign).fetch_all(p).await?
                .iter().map(activity_from_row).collect()
        });
        Ok(tree_order(rows))
    }

    /// Activities by id, removed ones included (a worker meets traces of
    /// removed steps and cancels them).
    pub async fn activities_by_id(&self, ids: &[i64]) -> Result<Vec<Activity>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {ACTIVITY_COLUMNS} FROM activities WHERE id IN ({})",
            queue::placeholders(1, ids.len())
        );
        Ok(on_db!(self, p => {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for id in ids { q = q.bind(*id); }
            q.fetch_all(p).await?.iter().map(activity_from_row).collect()
        }))
    }
}

/// The definition kept in activity_versions.
fn definition(a: &ActivityInput) -> Value {
    serde_json::json!({
        "name": a.name, "kind": a.kind, "config": a.config, "trigger": a.trigger,
        "delay_ms": a.delay_ms, "filter": a.filter, "validity_ms": a.validity_ms, "share": a.share,
    })
}

/// Orders activities depth first, each parent before its children.
fn tree_order(rows: Vec<Activity>) -> Vec<Activity> {
    fn walk(parent: Option<i64>, rows: &[Activity], out: &mut Vec<Activity>) {
        for a in rows.iter().filter(|a| a.parent_id == parent) {
            out.push(a.clone());
            walk(Some(a.id), rows, out);
        }
    }
    let mut out = Vec::with_capacity(rows.len());
    walk(None, &rows, &mut out);
    out
}
