//! What a campaign shows: its participants, their traces, and the figures
//! of each activity. Test participants are listed but kept out of figures.

use std::collections::BTreeMap;

use serde::Serialize;
use swell_core::time::Millis;

use crate::rows::RowExt;
use crate::{Result, Store, StoreError, WorkspaceId, on_db};

#[derive(Debug, Clone, Serialize)]
pub struct Participant {
    pub id: i64,
    pub campaign_id: i64,
    pub record_id: i64,
    pub contact_id: Option<i64>,
    pub state: String,
    pub test: bool,
    #[serde(serialize_with = "swell_core::time::serialize_millis")]
    pub created_at: Millis,
    #[serde(serialize_with = "swell_core::time::serialize_millis")]
    pub updated_at: Millis,
}

#[derive(Debug, Clone, Serialize)]
pub struct Trace {
    pub id: i64,
    pub participant_id: i64,
    pub activity_id: i64,
    pub version: Option<i64>,
    pub parent_id: Option<i64>,
    pub state: String,
    #[serde(serialize_with = "swell_core::time::serialize_opt_millis")]
    pub due_at: Option<Millis>,
    #[serde(serialize_with = "swell_core::time::serialize_opt_millis")]
    pub deadline: Option<Millis>,
    pub attempts: i64,
    pub reason: Option<String>,
    pub channel: Option<String>,
    pub message_id: Option<i64>,
    pub cost: Option<f64>,
    pub test: bool,
    #[serde(serialize_with = "swell_core::time::serialize_opt_millis")]
    pub processed_at: Option<Millis>,
    #[serde(serialize_with = "swell_core::time::serialize_millis")]
    pub created_at: Millis,
}

/// One activity's figures.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct ActivityFigures {
    pub waiting: i64,
    pub scheduled: i64,
    pub running: i64,
    pub processed: i64,
    pub rejected: i64,
    pub cancelled: i64,
    pub failed: i64,
    /// Messages sent by the activity.
    pub sent: i64,
    /// Unique human opens and unique clicks of those messages.
    pub opened: i64,
    pub clicked: i64,
    pub cost: f64,
}

/// Which traces to list.
#[derive(Debug, Clone, Default)]
pub struct TraceQuery {
    pub participant: Option<i64>,
    pub activity: Option<i64>,
    pub state: Option<String>,
    pub cursor: Option<i64>,
    pub limit: u32,
}

/// A trace's state as shown: a scheduled trace under a claim's lease is
/// `running` (the claim leaves the stored state as it is, see
/// `claim_traces`).
macro_rules! trace_state {
    () => {
        "CASE WHEN state = 'scheduled' AND lease_until IS NOT NULL THEN 'running' ELSE state END"
    };
}
const TRACE_STATE: &str = trace_state!();

const TRACE_COLUMNS: &str = concat!(
    "id, participant_id, activity_id, version, parent_id, ",
    trace_state!(),
    " AS state, due_at, deadline, attempts, reason, channel, message_pk, cost, test, processed_at, created_at"
);

fn trace_from_row(r: &impl RowExt) -> Trace {
    Trace {
        id: r.int("id"),
        participant_id: r.int("participant_id"),
        activity_id: r.int("activity_id"),
        version: r.opt_int("version"),
        parent_id: r.opt_int("parent_id"),
        state: r.text("state"),
        due_at: r.opt_int("due_at"),
        deadline: r.opt_int("deadline"),
        attempts: r.int("attempts"),
        reason: r.opt_text("reason"),
        channel: r.opt_text("channel"),
        message_id: r.opt_int("message_pk"),
        cost: r.opt_float("cost"),
        test: r.boolean("test"),
        processed_at: r.opt_int("processed_at"),
        created_at: r.int("created_at"),
    }
}

fn participant_from_row(r: &impl RowExt) -> Participant {
    Participant {
        id: r.int("id"),
        campaign_id: r.int("campaign_id"),
        record_id: r.int("record_id"),
        contact_id: r.opt_int("contact_id"),
        state: r.text("state"),
        test: r.boolean("test"),
        created_at: r.int("created_at"),
        updated_at: r.int("updated_at"),
    }
}

impl Store {
    /// A campaign's participants in id order after `cursor`, optionally of
    /// one state.
    pub async fn participants(
        &self,
        ws: WorkspaceId,
        campaign: i64,
        state: Option<&str>,
        cursor: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Participant>> {
        Ok(on_db!(self, p => {
            sqlx::query(
                "SELECT id, campaign_id, record_id, contact_id, state, test, created_at, updated_at FROM participants
                 WHERE workspace_id = $1 AND campaign_id = $2 AND id > $3 AND ($4 IS NULL OR state = $4)
                 ORDER BY id LIMIT $5",
            )
            .bind(ws.0).bind(campaign).bind(cursor.unwrap_or(0)).bind(state).bind(i64::from(limit))
            .fetch_all(p).await?.iter().map(participant_from_row).collect()
        }))
    }

    /// A campaign's test participants (test mode), newest first.
    pub async fn test_participants(
        &self,
        ws: WorkspaceId,
        campaign: i64,
        limit: u32,
    ) -> Result<Vec<Participant>> {
        Ok(on_db!(self, p => {
            sqlx::query(
                "SELECT id, campaign_id, record_id, contact_id, state, test, created_at, updated_at FROM participants
                 WHERE workspace_id = $1 AND campaign_id = $2 AND test ORDER BY id DESC LIMIT $3",
            )
            .bind(ws.0).bind(campaign).bind(i64::from(limit))
            .fetch_all(p).await?.iter().map(participant_from_row).collect()
        }))
    }

    pub async fn participant(&self, ws: WorkspaceId, id: i64) -> Result<Participant> {
        on_db!(self, p => {
            sqlx::query(
                "SELECT id, campaign_id, record_id, contact_id, state, test, created_at, updated_at FROM participants
                 WHERE workspace_id = $1 AND id = $2",
            )
            .bind(ws.0).bind(id).fetch_optional(p).await?
            .map(|r| participant_from_row(&r)).ok_or(StoreError::NotFound)
        })
    }

    /// A campaign's traces, newest last, filtered.
    pub async fn traces(
        &self,
        ws: WorkspaceId,
        campaign: i64,
        q: &TraceQuery,
    ) -> Result<Vec<Trace>> {
        let sql = format!(
            "SELECT {TRACE_COLUMNS} FROM traces
             WHERE workspace_id = $1 AND campaign_id = $2 AND id > $3
               AND ($4 IS NULL OR participant_id = $4) AND ($5 IS NULL OR activity_id = $5) AND ($6 IS NULL OR {TRACE_STATE} = $6)
             ORDER BY id LIMIT $7"
        );
        Ok(on_db!(self, p => {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(ws.0).bind(campaign).bind(q.cursor.unwrap_or(0)).bind(q.participant).bind(q.activity)
                .bind(q.state.as_deref()).bind(i64::from(q.limit.max(1)))
                .fetch_all(p).await?.iter().map(trace_from_row).collect()
        }))
    }

    pub async fn trace(&self, ws: WorkspaceId, id: i64) -> Result<Trace> {
        let sql = format!("SELECT {TRACE_COLUMNS} FROM traces WHERE workspace_id = $1 AND id = $2");
        on_db!(self, p => {
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(ws.0).bind(id).fetch_optional(p).await?
                .map(|r| trace_from_row(&r)).ok_or(StoreError::NotFound)
        })
    }

    /// Makes a participant's scheduled traces due now (test mode's "run the
    /// next step now"). Returns how many.
    pub async fn hurry_participant(&self, ws: WorkspaceId, participant: i64) -> Result<u64> {
        let now = self.now();
        Ok(on_db!(self, p => {
            sqlx::query(
                "UPDATE traces SET due_at = $3 WHERE workspace_id = $1 AND participant_id = $2 AND state = 'scheduled'",
            )
            .bind(ws.0).bind(participant).bind(now).execute(p).await?.rows_affected()
        }))
    }

    /// Traces being run or due now, everywhere: zero when the engine has
    /// caught up (tests wait for it).
    pub async fn traces_in_flight(&self) -> Result<i64> {
        let now = self.now();
        Ok(on_db!(self, p => {
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM traces WHERE state = 'scheduled' AND (due_at <= $1 OR lease_until IS NOT NULL)",
            )
            .bind(now).fetch_one(p).await?
        }))
    }

    /// Per-activity figures of a campaign, test participants left out.
    pub async fn activity_figures(
        &self,
        ws: WorkspaceId,
        campaign: i64,
    ) -> Result<BTreeMap<i64, ActivityFigures>> {
        let mut out: BTreeMap<i64, ActivityFigures> = BTreeMap::new();
        let rows: Vec<(i64, String, i64, Option<f64>)> = on_db!(self, p => {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT activity_id, {TRACE_STATE} AS state, COUNT(*) AS n, SUM(cost) AS cost FROM traces
                 WHERE workspace_id = $1 AND campaign_id = $2 AND NOT test GROUP BY activity_id, 2"
            )))
            .bind(ws.0).bind(campaign).fetch_all(p).await?
            .iter().map(|r| (r.int("activity_id"), r.text("state"), r.int("n"), r.opt_float("cost"))).collect()
        });
        for (activity, state, n, cost) in rows {
            let f = out.entry(activity).or_default();
            match state.as_str() {
                "waiting" => f.waiting = n,
                "scheduled" => f.scheduled = n,
                "running" => f.running = n,
                "processed" => f.processed = n,
                "rejected" => f.rejected = n,
                "cancelled" => f.cancelled = n,
                "failed" => f.failed = n,
                _ => {}
            }
            f.cost += cost.unwrap_or(0.0);
        }
        let messages: Vec<(i64, i64, i64, i64)> = on_db!(self, p => {
            sqlx::query(
                "SELECT t.activity_id,
                        COUNT(DISTINCT CASE WHEN m.state = 'sent' THEN m.id END) AS sent,
                        COUNT(DISTINCT CASE WHEN e.kind = 'open' AND NOT e.machine THEN m.id END) AS opened,
                        COUNT(DISTINCT CASE WHEN e.kind = 'click' THEN m.id END) AS clicked
                 FROM traces t JOIN messages m ON m.id = t.message_pk
                 LEFT JOIN message_events e ON e.message_pk = m.id
                 WHERE t.workspace_id = $1 AND t.campaign_id = $2 AND NOT t.test
                 GROUP BY t.activity_id",
            )
            .bind(ws.0).bind(campaign).fetch_all(p).await?
            .iter().map(|r| (r.int("activity_id"), r.int("sent"), r.int("opened"), r.int("clicked"))).collect()
        });
        for (activity, sent, opened, clicked) in messages {
            let f = out.entry(activity).or_default();
            f.sent = sent;
            f.opened = opened;
            f.clicked = clicked;
        }
        Ok(out)
    }

    /// How many participants a campaign has in each state, tests left out.
    pub async fn participant_figures(
        &self,
        ws: WorkspaceId,
        campaign: i64,
    ) -> Result<BTreeMap<String, i64>> {
        Ok(on_db!(self, p => {
            sqlx::query(
                "SELECT state, COUNT(*) AS n FROM participants WHERE workspace_id = $1 AND campaign_id = $2 AND NOT test GROUP BY state",
            )
            .bind(ws.0).bind(campaign).fetch_all(p).await?
            .iter().map(|r| (r.text("state"), r.int("n"))).collect()
        }))
    }
}
