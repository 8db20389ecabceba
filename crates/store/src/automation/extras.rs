//! What activities leave behind or read: tasks for sales reps, in-app
//! banners and pop-ups, and each channel's provider and unit cost.

use serde::Serialize;
use serde_json::Value;
use swell_core::time::Millis;

use crate::rows::RowExt;
use crate::{Result, Store, StoreError, WorkspaceId, on_db};

#[derive(Debug, Clone, Serialize)]
pub struct Task {
    pub id: i64,
    pub contact_id: Option<i64>,
    pub owner: Option<String>,
    pub title: String,
    pub note: Option<String>,
    #[serde(serialize_with = "swell_core::time::serialize_opt_millis")]
    pub due_at: Option<Millis>,
    #[serde(serialize_with = "swell_core::time::serialize_opt_millis")]
    pub done_at: Option<Millis>,
    pub trace_id: Option<i64>,
    #[serde(serialize_with = "swell_core::time::serialize_millis")]
    pub created_at: Millis,
}

#[derive(Debug, Clone, Serialize)]
pub struct InAppMessage {
    pub id: i64,
    pub contact_id: i64,
    pub message_id: Option<i64>,
    pub kind: String,
    pub title: Option<String>,
    pub body: String,
    pub url: Option<String>,
    pub image: Option<String>,
    #[serde(serialize_with = "swell_core::time::serialize_opt_millis")]
    pub expires_at: Option<Millis>,
    #[serde(serialize_with = "swell_core::time::serialize_opt_millis")]
    pub viewed_at: Option<Millis>,
    #[serde(serialize_with = "swell_core::time::serialize_opt_millis")]
    pub clicked_at: Option<Millis>,
    #[serde(serialize_with = "swell_core::time::serialize_millis")]
    pub created_at: Millis,
}

/// A new in-app message.
#[derive(Debug, Clone)]
pub struct NewInApp {
    pub contact_id: i64,
    pub message_pk: Option<i64>,
    pub kind: String,
    pub title: Option<String>,
    pub body: String,
    pub url: Option<String>,
    pub image: Option<String>,
    pub expires_at: Option<Millis>,
}

/// A channel's provider and what one message costs.
#[derive(Debug, Clone, Serialize)]
pub struct ChannelSetting {
    pub channel: String,
    pub config: Value,
    pub unit_cost: f64,
    pub currency: String,
}

fn inapp_from_row(r: &impl RowExt) -> InAppMessage {
    InAppMessage {
        id: r.int("id"),
        contact_id: r.int("contact_id"),
        message_id: r.opt_int("message_pk"),
        kind: r.text("kind"),
        title: r.opt_text("title"),
        body: r.text("body"),
        url: r.opt_text("url"),
        image: r.opt_text("image"),
        expires_at: r.opt_int("expires_at"),
        viewed_at: r.opt_int("viewed_at"),
        clicked_at: r.opt_int("clicked_at"),
        created_at: r.int("created_at"),
    }
}

const INAPP_COLUMNS: &str = "id, contact_id, message_pk, kind, title, body, url, image, expires_at, viewed_at, clicked_at, created_at";

impl Store {
    /// Tasks of a workspace, open ones first, optionally of one owner.
    pub async fn tasks(
        &self,
        ws: WorkspaceId,
        owner: Option<&str>,
        open_only: bool,
    ) -> Result<Vec<Task>> {
        Ok(on_db!(self, p => {
            sqlx::query(
                "SELECT id, contact_id, owner, title, note, due_at, done_at, trace_id, created_at FROM tasks
                 WHERE workspace_id = $1 AND ($2 IS NULL OR owner = $2) AND (NOT $3 OR done_at IS NULL)
                 ORDER BY id LIMIT 1000",
            )
            .bind(ws.0).bind(owner).bind(open_only).fetch_all(p).await?
            .iter().map(|r| Task {
                id: r.int("id"),
                contact_id: r.opt_int("contact_id"),
                owner: r.opt_text("owner"),
                title: r.text("title"),
                note: r.opt_text("note"),
                due_at: r.opt_int("due_at"),
                done_at: r.opt_int("done_at"),
                trace_id: r.opt_int("trace_id"),
                created_at: r.int("created_at"),
            }).collect()
        }))
    }

    /// Marks a task done.
    pub async fn finish_task(&self, ws: WorkspaceId, id: i64) -> Result<()> {
        let now = self.now();
        let n = on_db!(self, p => {
            sqlx::query("UPDATE tasks SET done_at = COALESCE(done_at, $3) WHERE workspace_id = $1 AND id = $2")
                .bind(ws.0).bind(id).bind(now).execute(p).await?.rows_affected()
        });
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Stores an in-app message for a contact, once per message row.
    pub async fn put_inapp(&self, ws: WorkspaceId, m: &NewInApp) -> Result<i64> {
        let now = self.now();
        on_db!(self, p => {
            if let Some(pk) = m.message_pk {
                let found: Option<i64> = sqlx::query_scalar("SELECT id FROM inapp_messages WHERE message_pk = $1")
                    .bind(pk).fetch_optional(p).await?;
                if let Some(id) = found {
                    return Ok(id);
                }
            }
            Ok(sqlx::query_scalar(
                "INSERT INTO inapp_messages (workspace_id, contact_id, message_pk, kind, title, body, url, image, expires_at, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
            )
            .bind(ws.0).bind(m.contact_id).bind(m.message_pk).bind(&m.kind).bind(&m.title).bind(&m.body)
            .bind(&m.url).bind(&m.image).bind(m.expires_at).bind(now)
            .fetch_one(p).await?)
        })
    }

    /// The banners and pop-ups a person should see now: not expired, not
    /// dismissed, newest first.
    pub async fn active_inapp(&self, ws: WorkspaceId, contact: i64) -> Result<Vec<InAppMessage>> {
        let now = self.now();
        let sql = format!(
            "SELECT {INAPP_COLUMNS} FROM inapp_messages
             WHERE workspace_id = $1 AND contact_id = $2 AND dismissed_at IS NULL AND (expires_at IS NULL OR expires_at > $3)
             ORDER BY id DESC LIMIT 50"
        );
        Ok(on_db!(self, p => {
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(ws.0).bind(contact).bind(now).fetch_all(p).await?
                .iter().map(inapp_from_row).collect()
        }))
    }

    /// Records a view, click or dismissal of an in-app message; returns the
    /// message (for its message row and contact).
    pub async fn mark_inapp(&self, ws: WorkspaceId, id: i64, what: &str) -> Result<InAppMessage> {
        let now = self.now();
        let column = match what {
            "view" => "viewed_at",
            "click" => "clicked_at",
            "dismiss" => "dismissed_at",
            _ => {
                return Err(StoreError::Invalid(vec![swell_core::FieldError::new(
                    "action",
                    "must be view, click or dismiss",
                )]));
            }
        };
        let sql = format!(
            "UPDATE inapp_messages SET {column} = COALESCE({column}, $3) WHERE workspace_id = $1 AND id = $2
             RETURNING {INAPP_COLUMNS}"
        );
        on_db!(self, p => {
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(ws.0).bind(id).bind(now).fetch_optional(p).await?
                .map(|r| inapp_from_row(&r)).ok_or(StoreError::NotFound)
        })
    }

    pub async fn put_channel_setting(&self, ws: WorkspaceId, s: &ChannelSetting) -> Result<()> {
        let now = self.now();
        on_db!(self, p => {
            sqlx::query(
                "INSERT INTO channel_settings (workspace_id, channel, config, unit_cost, currency, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (workspace_id, channel) DO UPDATE SET config = excluded.config,
                    unit_cost = excluded.unit_cost, currency = excluded.currency, updated_at = excluded.updated_at",
            )
            .bind(ws.0).bind(&s.channel).bind(sqlx::types::Json(&s.config)).bind(s.unit_cost).bind(&s.currency).bind(now)
            .execute(p).await?;
        });
        Ok(())
    }

    pub async fn channel_settings(&self, ws: WorkspaceId) -> Result<Vec<ChannelSetting>> {
        Ok(on_db!(self, p => {
            sqlx::query("SELECT channel, config, unit_cost, currency FROM channel_settings WHERE workspace_id = $1 ORDER BY channel")
                .bind(ws.0).fetch_all(p).await?.iter().map(|r| ChannelSetting {
                    channel: r.text("channel"),
                    config: r.json("config"),
                    unit_cost: r.opt_float("unit_cost").unwrap_or(0.0),
                    currency: r.text("currency"),
                }).collect()
        }))
    }
}
