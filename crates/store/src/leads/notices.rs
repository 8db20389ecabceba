//! Notices to reps: written with the assignment, delivered after it by the
//! sender (`swell_engine::Mailer`), which claims due ones, sends each once
//! per attempt and records the outcome. A claim is a lease (the notice's
//! next attempt moves a minute on), so a sender that dies mid-send leaves
//! the notice to be tried again, never lost.

use serde::Serialize;
use serde_json::Value;

use crate::rows::RowExt;
use crate::{Result, Store, WorkspaceId, on_db};

/// How long a claimed notice is the claimer's.
const LEASE_MS: i64 = 60_000;
/// Attempts before a notice is given up (and kept, failed, with why).
pub const MAX_ATTEMPTS: i64 = 5;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Notice {
    pub id: i64,
    #[serde(skip)]
    pub workspace: WorkspaceId,
    pub lead_id: i64,
    pub user_id: i64,
    /// webhook, email
    pub channel: String,
    pub target: String,
    #[serde(skip)]
    pub secret: Option<String>,
    #[serde(skip)]
    pub payload: Value,
    pub state: String,
    pub attempts: i64,
    pub reason: Option<String>,
}

/// How one attempt went.
#[derive(Debug, Clone, PartialEq)]
pub enum NoticeResult {
    Sent,
    /// Worth trying again later.
    Retry(String),
    Failed(String),
}

fn from_row(r: &impl RowExt) -> Notice {
    Notice {
        id: r.int("id"),
        workspace: WorkspaceId(r.int("workspace_id")),
        lead_id: r.int("lead_id"),
        user_id: r.int("user_id"),
        channel: r.text("channel"),
        target: r.text("target"),
        secret: r.opt_text("secret"),
        payload: r.json("payload"),
        state: r.text("state"),
        attempts: r.int("attempts"),
        reason: r.opt_text("reason"),
    }
}

impl Store {
    /// Claims up to `limit` due notices of every workspace.
    pub async fn claim_lead_notices(&self, limit: u32) -> Result<Vec<Notice>> {
        let now = self.now();
        let skip = match self.backend() {
            crate::Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            crate::Backend::Sqlite => "",
        };
        let sql = format!(
            "UPDATE lead_notices SET due_at = $1 + {LEASE_MS}, attempts = attempts + 1
             WHERE id IN (SELECT id FROM lead_notices WHERE state = 'pending' AND due_at <= $1
                          ORDER BY due_at LIMIT $2{skip})
             RETURNING *"
        );
        on_db!(self, p => {
            Ok(sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now).bind(i64::from(limit))
                .fetch_all(p).await?.iter().map(from_row).collect())
        })
    }

    /// Records an attempt: sent, to be tried again (a minute, then 5, 15
    /// and 60 after), or failed for good.
    pub async fn record_lead_notice(&self, notice: &Notice, result: &NoticeResult) -> Result<()> {
        let now = self.now();
        let (state, reason, due) = match result {
            NoticeResult::Sent => ("sent", None, now),
            NoticeResult::Retry(r) if notice.attempts < MAX_ATTEMPTS => {
                let wait = [1, 5, 15, 60][(notice.attempts as usize).clamp(1, 4) - 1] * 60_000;
                ("pending", Some(r.as_str()), now + wait)
            }
            NoticeResult::Retry(r) | NoticeResult::Failed(r) => ("failed", Some(r.as_str()), now),
        };
        on_db!(self, p => {
            sqlx::query("UPDATE lead_notices SET state = $2, reason = $3, due_at = $4,
                            sent_at = CASE WHEN $2 = 'sent' THEN $4 ELSE sent_at END WHERE id = $1")
                .bind(notice.id).bind(state).bind(reason).bind(due).execute(p).await?;
        });
        Ok(())
    }

    /// A lead's notices, oldest first.
    pub async fn lead_notices(&self, ws: WorkspaceId, lead: i64) -> Result<Vec<Notice>> {
        on_db!(self, p => {
            Ok(sqlx::query("SELECT * FROM lead_notices WHERE workspace_id = $1 AND lead_id = $2 ORDER BY id")
                .bind(ws.0).bind(lead).fetch_all(p).await?.iter().map(from_row).collect())
        })
    }

    /// A lead's open tasks (title, owner, due), oldest first.
    pub async fn lead_tasks(&self, ws: WorkspaceId, lead: i64) -> Result<Vec<Value>> {
        on_db!(self, p => {
            Ok(sqlx::query("SELECT id, owner, title, note, due_at, done_at FROM tasks WHERE workspace_id = $1 AND lead_id = $2 ORDER BY id")
                .bind(ws.0).bind(lead).fetch_all(p).await?.iter().map(|r| serde_json::json!({
                    "id": r.int("id"), "owner": r.opt_text("owner"), "title": r.text("title"), "note": r.opt_text("note"),
                    "due_at": r.opt_int("due_at").map(swell_core::time::format_millis),
                    "done_at": r.opt_int("done_at").map(swell_core::time::format_millis),
                })).collect())
        })
    }
}
