//! The queue's writes of a whole batch of traces, one implementation per
//! backend, as [`crate::bulk`] does for contacts.
//!
//! PostgreSQL gets one array per column: each statement is one short text,
//! parsed once per connection, whatever the batch's size. As a multi-row
//! `VALUES` list or an `IN` list of a thousand parameters, each execution
//! was parsed, analysed and planned anew, a fifth of the server's time in
//! the engine's drain (`perf` of `swell bench engine --postgres-only`). In
//! `psql`, planning the trace ends' `UPDATE` of 1,000 rows took 7.7-11.6 ms
//! as a `VALUES` list and 2.1-2.3 ms with arrays
//! (`scripts/bench-list-planning.sh`).
//!
//! SQLite keeps its lists: it has no arrays, and a statement costs it no
//! round trip and little planning.

use std::collections::HashSet;

use sqlx::{PgConnection, Sqlite, SqliteConnection};
use swell_core::time::Millis;

use super::queue::{ClaimedTrace, NewTrace, TraceOutcome};
use crate::WorkspaceId;
use crate::rows::RowExt;

/// Rows a multi-row statement writes at most on SQLite: within its bind
/// limit (32,766) at the widest row (a child trace's seventeen values).
pub(crate) const ROWS_PER_STATEMENT: usize = 1000;

/// A trace's row as the outcome's check reads it.
pub(crate) struct TraceContext {
    pub id: i64,
    pub workspace: i64,
    pub campaign: i64,
    pub participant: i64,
    pub test: bool,
    pub state: String,
    pub attempts: i64,
}

/// A child trace to insert: workspace, campaign, participant, test, parent.
pub(crate) type ChildRow<'a> = (i64, i64, i64, bool, i64, &'a NewTrace);

pub(crate) trait TraceBatch {
    /// What workers need to run the traces `ids` they have just claimed
    /// (at `now`), in id order.
    async fn claimed(&mut self, ids: &[i64], now: Millis) -> sqlx::Result<Vec<ClaimedTrace>>;

    /// The rows of traces `ids`, locked (PostgreSQL, in id order) so that
    /// no claim takes one between this read and its update.
    async fn trace_context(&mut self, ids: &[i64]) -> sqlx::Result<Vec<TraceContext>>;

    /// Records how traces ended, at `now`.
    async fn end_traces(&mut self, now: Millis, ended: &[&TraceOutcome]) -> sqlx::Result<()>;

    /// Writes child traces made at `now`: scheduled or waiting, or ended
    /// when they ran in their parent's batch. With `ids`, returns each new
    /// row's id, parent and activity.
    async fn insert_children(
        &mut self,
        now: Millis,
        children: &[ChildRow<'_>],
        ids: bool,
    ) -> sqlx::Result<Vec<(i64, i64, i64)>>;

    /// Marks participants completed when none of their traces is left to
    /// run: first the ones that still have one are found (an index probe
    /// each), then the others updated in one statement. As one `UPDATE`
    /// with `NOT EXISTS`, PostgreSQL's planner made it an anti-join over
    /// every trace: 350 ms a statement, two thirds of a 10,000-participant
    /// run.
    async fn complete_participants(&mut self, ids: &[i64], now: Millis) -> sqlx::Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let busy = self.busy_participants(ids).await?;
        let idle: Vec<i64> = ids
            .iter()
            .copied()
            .filter(|id| !busy.contains(id))
            .collect();
        if idle.is_empty() {
            return Ok(());
        }
        self.mark_completed(&idle, now).await
    }

    /// Which of participants `ids` still have a trace to run.
    async fn busy_participants(&mut self, ids: &[i64]) -> sqlx::Result<HashSet<i64>>;

    /// Marks running participants `ids` completed at `now`.
    async fn mark_completed(&mut self, ids: &[i64], now: Millis) -> sqlx::Result<()>;

    /// The workspace, id and score of contacts `ids`, locked (PostgreSQL,
    /// in id order, so that two workers never wait on each other in a
    /// circle).
    async fn scores(&mut self, ids: &[i64]) -> sqlx::Result<Vec<(i64, i64, i64)>>;

    /// Sets contacts' scores: (id, score).
    async fn set_scores(&mut self, now: Millis, scores: &[(i64, i64)]) -> sqlx::Result<()>;
}

/// The columns [`claimed_of`] reads, after `SELECT`.
const CLAIMED: &str =
    "t.id, t.workspace_id, t.campaign_id, t.participant_id, t.activity_id, t.parent_id,
    t.deadline, t.attempts, t.test, p.record_id, p.contact_id, p.state AS pstate,
    pt.message_pk AS parent_message, pt.processed_at AS parent_at";

fn claimed_of<R: RowExt>(r: &R, now: Millis) -> ClaimedTrace {
    ClaimedTrace {
        id: r.int("id"),
        workspace: WorkspaceId(r.int("workspace_id")),
        campaign_id: r.int("campaign_id"),
        participant_id: r.int("participant_id"),
        activity_id: r.int("activity_id"),
        parent_id: r.opt_int("parent_id"),
        deadline: r.opt_int("deadline"),
        attempts: r.int("attempts"),
        test: r.boolean("test"),
        record_id: r.int("record_id"),
        contact_id: r.opt_int("contact_id"),
        participant_state: r.text("pstate"),
        parent_message: r.opt_int("parent_message"),
        due_at: now,
    }
}

/// A child's row beyond its parent's context: state, due, deadline,
/// attempts, then reason, version, channel, message and cost, and when it
/// ran (these for a child that ran in its parent's batch).
struct ChildValues<'a> {
    state: &'a str,
    due_at: Option<Millis>,
    deadline: Option<Millis>,
    attempts: i64,
    reason: Option<&'a str>,
    version: Option<i64>,
    channel: Option<&'a str>,
    message_pk: Option<i64>,
    cost: Option<f64>,
    processed_at: Option<Millis>,
}

fn child_values<'a>(c: &'a NewTrace, now: Millis) -> ChildValues<'a> {
    match c.ran.as_deref() {
        None => ChildValues {
            state: c.state,
            due_at: c.due_at,
            deadline: c.deadline,
            attempts: 0,
            reason: None,
            version: None,
            channel: None,
            message_pk: None,
            cost: None,
            processed_at: None,
        },
        Some(r) => ChildValues {
            state: r.state,
            due_at: None,
            deadline: c.deadline,
            attempts: 1,
            reason: r.reason.as_deref(),
            version: r.version,
            channel: r.channel.as_deref(),
            message_pk: r.message_pk,
            cost: r.cost,
            processed_at: Some(now),
        },
    }
}

fn made_of<R: RowExt>(rows: Vec<R>) -> Vec<(i64, i64, i64)> {
    rows.iter()
        .map(|r| (r.int("id"), r.int("parent_id"), r.int("activity_id")))
        .collect()
}

/// The children's columns, in the order both backends write them.
const CHILD_COLUMNS: &str =
    "workspace_id, campaign_id, participant_id, activity_id, parent_id, test, created_at,
    state, due_at, deadline, attempts, reason, version, channel, message_pk, cost, processed_at";

fn context_of<R: RowExt>(r: &R) -> TraceContext {
    TraceContext {
        id: r.int("id"),
        workspace: r.int("workspace_id"),
        campaign: r.int("campaign_id"),
        participant: r.int("participant_id"),
        test: r.boolean("test"),
        state: r.text("state"),
        attempts: r.int("attempts"),
    }
}

/// `?, ?, ...` for `ids` in a SQLite `IN` list.
fn in_list(ids: &[i64]) -> String {
    crate::contacts::bulk_placeholders(crate::Backend::Sqlite, 1, ids.len())
}

type SqliteQuery<'q> = sqlx::query::Query<'q, Sqlite, <Sqlite as sqlx::Database>::Arguments>;

/// Binds `ids` after the statement's other values, unprepared (its text
/// depends on their number).
fn bind_ids<'q>(q: SqliteQuery<'q>, ids: &[i64]) -> SqliteQuery<'q> {
    ids.iter().fold(q.persistent(false), |q, id| q.bind(*id))
}

impl TraceBatch for PgConnection {
    async fn claimed(&mut self, ids: &[i64], now: Millis) -> sqlx::Result<Vec<ClaimedTrace>> {
        // The participant and the parent are probes per trace (`LIMIT 1`
        // keeps them from being flattened): a plain join was planned as a
        // hash of every participant (50 ms a batch at 100,000).
        let sql = format!(
            "SELECT {CLAIMED} FROM traces t
             CROSS JOIN LATERAL (SELECT record_id, contact_id, state FROM participants
                                 WHERE id = t.participant_id LIMIT 1) p
             LEFT JOIN LATERAL (SELECT message_pk, processed_at FROM traces
                                WHERE id = t.parent_id LIMIT 1) pt ON true
             WHERE t.id = ANY($1::bigint[]) ORDER BY t.id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(ids)
            .fetch_all(self)
            .await?;
        Ok(rows.iter().map(|r| claimed_of(r, now)).collect())
    }

    async fn trace_context(&mut self, ids: &[i64]) -> sqlx::Result<Vec<TraceContext>> {
        let rows = sqlx::query(
            "SELECT id, workspace_id, campaign_id, participant_id, test, state, attempts
             FROM traces WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE",
        )
        .bind(ids)
        .fetch_all(self)
        .await?;
        Ok(rows.iter().map(context_of).collect())
    }

    async fn end_traces(&mut self, now: Millis, ended: &[&TraceOutcome]) -> sqlx::Result<()> {
        if ended.is_empty() {
            return Ok(());
        }
        let ids: Vec<i64> = ended.iter().map(|o| o.id).collect();
        let states: Vec<&str> = ended.iter().map(|o| o.state).collect();
        let reasons: Vec<Option<&str>> = ended.iter().map(|o| o.reason.as_deref()).collect();
        let versions: Vec<Option<i64>> = ended.iter().map(|o| o.version).collect();
        let channels: Vec<Option<&str>> = ended.iter().map(|o| o.channel.as_deref()).collect();
        let messages: Vec<Option<i64>> = ended.iter().map(|o| o.message_pk).collect();
        let costs: Vec<Option<f64>> = ended.iter().map(|o| o.cost).collect();
        // The ids again as `= ANY`: PostgreSQL then finds the rows by
        // index instead of joining the arrays to a scan of the table.
        sqlx::query(
            "UPDATE traces SET state = v.state, reason = v.reason, version = v.version, channel = v.channel,
                 message_pk = v.message_pk, cost = v.cost, processed_at = $1, due_at = NULL
             FROM unnest($2::bigint[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::bigint[], $8::float8[])
                  AS v(id, state, reason, version, channel, message_pk, cost)
             WHERE traces.id = v.id AND traces.id = ANY($2::bigint[])",
        )
        .bind(now)
        .bind(ids)
        .bind(states)
        .bind(reasons)
        .bind(versions)
        .bind(channels)
        .bind(messages)
        .bind(costs)
        .execute(self)
        .await?;
        Ok(())
    }

    async fn insert_children(
        &mut self,
        now: Millis,
        children: &[ChildRow<'_>],
        ids: bool,
    ) -> sqlx::Result<Vec<(i64, i64, i64)>> {
        if children.is_empty() {
            return Ok(Vec::new());
        }
        let column = |f: fn(&ChildRow) -> i64| -> Vec<i64> { children.iter().map(f).collect() };
        let values: Vec<ChildValues> = children.iter().map(|c| child_values(c.5, now)).collect();
        let sql = format!(
            "INSERT INTO traces ({CHILD_COLUMNS})
             SELECT unnest($1::bigint[]), unnest($2::bigint[]), unnest($3::bigint[]), unnest($4::bigint[]),
                 unnest($5::bigint[]), unnest($6::bool[]), $7,
                 unnest($8::text[]), unnest($9::bigint[]), unnest($10::bigint[]), unnest($11::bigint[]),
                 unnest($12::text[]), unnest($13::bigint[]), unnest($14::text[]), unnest($15::bigint[]),
                 unnest($16::float8[]), unnest($17::bigint[]){}",
            if ids { " RETURNING id, parent_id, activity_id" } else { "" }
        );
        let q = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(column(|c| c.0))
            .bind(column(|c| c.1))
            .bind(column(|c| c.2))
            .bind(column(|c| c.5.activity_id))
            .bind(column(|c| c.4))
            .bind(children.iter().map(|c| c.3).collect::<Vec<bool>>())
            .bind(now)
            .bind(values.iter().map(|v| v.state).collect::<Vec<&str>>())
            .bind(values.iter().map(|v| v.due_at).collect::<Vec<_>>())
            .bind(values.iter().map(|v| v.deadline).collect::<Vec<_>>())
            .bind(values.iter().map(|v| v.attempts).collect::<Vec<_>>())
            .bind(values.iter().map(|v| v.reason).collect::<Vec<_>>())
            .bind(values.iter().map(|v| v.version).collect::<Vec<_>>())
            .bind(values.iter().map(|v| v.channel).collect::<Vec<_>>())
            .bind(values.iter().map(|v| v.message_pk).collect::<Vec<_>>())
            .bind(values.iter().map(|v| v.cost).collect::<Vec<_>>())
            .bind(values.iter().map(|v| v.processed_at).collect::<Vec<_>>());
        if ids {
            Ok(made_of(q.fetch_all(self).await?))
        } else {
            q.execute(self).await?;
            Ok(Vec::new())
        }
    }

    async fn busy_participants(&mut self, ids: &[i64]) -> sqlx::Result<HashSet<i64>> {
        let busy = sqlx::query_scalar::<_, i64>(
            "SELECT DISTINCT participant_id FROM traces
             WHERE participant_id = ANY($1::bigint[]) AND state IN ('waiting', 'scheduled', 'running')",
        )
        .bind(ids)
        .fetch_all(self)
        .await?;
        Ok(busy.into_iter().collect())
    }

    async fn mark_completed(&mut self, ids: &[i64], now: Millis) -> sqlx::Result<()> {
        sqlx::query(
            "UPDATE participants SET state = 'completed', updated_at = $1
             WHERE state = 'running' AND id = ANY($2::bigint[])",
        )
        .bind(now)
        .bind(ids)
        .execute(self)
        .await?;
        Ok(())
    }

    async fn scores(&mut self, ids: &[i64]) -> sqlx::Result<Vec<(i64, i64, i64)>> {
        let rows = sqlx::query(
            "SELECT id, workspace_id, score FROM contacts WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE",
        )
        .bind(ids)
        .fetch_all(self)
        .await?;
        Ok(rows
            .iter()
            .map(|r| (r.int("workspace_id"), r.int("id"), r.int("score")))
            .collect())
    }

    async fn set_scores(&mut self, now: Millis, scores: &[(i64, i64)]) -> sqlx::Result<()> {
        if scores.is_empty() {
            return Ok(());
        }
        let ids: Vec<i64> = scores.iter().map(|s| s.0).collect();
        let values: Vec<i64> = scores.iter().map(|s| s.1).collect();
        sqlx::query(
            "UPDATE contacts SET score = v.score, updated_at = $1
             FROM unnest($2::bigint[], $3::bigint[]) AS v(id, score)
             WHERE contacts.id = v.id AND contacts.id = ANY($2::bigint[])",
        )
        .bind(now)
        .bind(ids)
        .bind(values)
        .execute(self)
        .await?;
        Ok(())
    }
}

impl TraceBatch for SqliteConnection {
    async fn claimed(&mut self, ids: &[i64], now: Millis) -> sqlx::Result<Vec<ClaimedTrace>> {
        let sql = format!(
            "SELECT {CLAIMED} FROM traces t
             JOIN participants p ON p.id = t.participant_id LEFT JOIN traces pt ON pt.id = t.parent_id
             WHERE t.id IN ({}) ORDER BY t.id",
            in_list(ids)
        );
        Ok(bind_ids(sqlx::query(sqlx::AssertSqlSafe(sql)), ids)
            .fetch_all(self)
            .await?
            .iter()
            .map(|r| claimed_of(r, now))
            .collect())
    }

    async fn trace_context(&mut self, ids: &[i64]) -> sqlx::Result<Vec<TraceContext>> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "SELECT id, workspace_id, campaign_id, participant_id, test, state, attempts
                 FROM traces WHERE id IN ({})",
                in_list(chunk)
            );
            let q = bind_ids(sqlx::query(sqlx::AssertSqlSafe(sql)), chunk);
            out.extend(q.fetch_all(&mut *self).await?.iter().map(context_of));
        }
        Ok(out)
    }

    async fn end_traces(&mut self, now: Millis, ended: &[&TraceOutcome]) -> sqlx::Result<()> {
        for chunk in ended.chunks(ROWS_PER_STATEMENT) {
            let mut q = sqlx::QueryBuilder::new(
                "UPDATE traces SET state = v.column2, reason = v.column3, version = v.column4, channel = v.column5,
                    message_pk = v.column6, cost = v.column7, processed_at = ",
            );
            q.push_bind(now);
            q.push(", due_at = NULL FROM (");
            q.push_values(chunk, |mut b, o| {
                b.push_bind(o.id)
                    .push_bind(o.state)
                    .push_bind(o.reason.as_deref())
                    .push_bind(o.version)
                    .push_bind(o.channel.as_deref())
                    .push_bind(o.message_pk)
                    .push_bind(o.cost);
            });
            q.push(") AS v WHERE traces.id = v.column1");
            super::queue::push_id_list(&mut q, "traces", chunk.iter().map(|o| o.id));
            q.build().persistent(false).execute(&mut *self).await?;
        }
        Ok(())
    }

    async fn insert_children(
        &mut self,
        now: Millis,
        children: &[ChildRow<'_>],
        ids: bool,
    ) -> sqlx::Result<Vec<(i64, i64, i64)>> {
        let mut made = Vec::new();
        for chunk in children.chunks(ROWS_PER_STATEMENT) {
            let mut q = sqlx::QueryBuilder::new(format!("INSERT INTO traces ({CHILD_COLUMNS}) "));
            q.push_values(
                chunk,
                |mut b, (ws, campaign, participant, test, parent, c)| {
                    let v = child_values(c, now);
                    b.push_bind(*ws)
                        .push_bind(*campaign)
                        .push_bind(*participant)
                        .push_bind(c.activity_id)
                        .push_bind(*parent)
                        .push_bind(*test)
                        .push_bind(now)
                        .push_bind(v.state)
                        .push_bind(v.due_at)
                        .push_bind(v.deadline)
                        .push_bind(v.attempts)
                        .push_bind(v.reason)
                        .push_bind(v.version)
                        .push_bind(v.channel)
                        .push_bind(v.message_pk)
                        .push_bind(v.cost)
                        .push_bind(v.processed_at);
                },
            );
            if ids {
                q.push(" RETURNING id, parent_id, activity_id");
                made.extend(made_of(
                    q.build().persistent(false).fetch_all(&mut *self).await?,
                ));
            } else {
                q.build().persistent(false).execute(&mut *self).await?;
            }
        }
        Ok(made)
    }

    async fn busy_participants(&mut self, ids: &[i64]) -> sqlx::Result<HashSet<i64>> {
        let mut busy = HashSet::new();
        for chunk in ids.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "SELECT DISTINCT participant_id FROM traces
                 WHERE participant_id IN ({}) AND state IN ('waiting', 'scheduled', 'running')",
                in_list(chunk)
            );
            let q = bind_ids(sqlx::query(sqlx::AssertSqlSafe(sql)), chunk);
            busy.extend(
                q.fetch_all(&mut *self)
                    .await?
                    .iter()
                    .map(|r| r.int("participant_id")),
            );
        }
        Ok(busy)
    }

    async fn mark_completed(&mut self, ids: &[i64], now: Millis) -> sqlx::Result<()> {
        for chunk in ids.chunks(ROWS_PER_STATEMENT) {
            // `?` throughout: sqlx's SQLite does not number `?` after a `$1`.
            let sql = format!(
                "UPDATE participants SET state = 'completed', updated_at = ?
                 WHERE state = 'running' AND id IN ({})",
                in_list(chunk)
            );
            let q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now);
            bind_ids(q, chunk).execute(&mut *self).await?;
        }
        Ok(())
    }

    async fn scores(&mut self, ids: &[i64]) -> sqlx::Result<Vec<(i64, i64, i64)>> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "SELECT id, workspace_id, score FROM contacts WHERE id IN ({})",
                in_list(chunk)
            );
            let q = bind_ids(sqlx::query(sqlx::AssertSqlSafe(sql)), chunk);
            out.extend(
                q.fetch_all(&mut *self)
                    .await?
                    .iter()
                    .map(|r| (r.int("workspace_id"), r.int("id"), r.int("score"))),
            );
        }
        Ok(out)
    }

    async fn set_scores(&mut self, now: Millis, scores: &[(i64, i64)]) -> sqlx::Result<()> {
        for chunk in scores.chunks(ROWS_PER_STATEMENT) {
            let mut q =
                sqlx::QueryBuilder::new("UPDATE contacts SET score = v.column2, updated_at = ");
            q.push_bind(now);
            q.push(" FROM (");
            q.push_values(chunk, |mut b, (id, score)| {
                b.push_bind(*id).push_bind(*score);
            });
            q.push(") AS v WHERE contacts.id = v.column1");
            super::queue::push_id_list(&mut q, "contacts", chunk.iter().map(|(id, _)| *id));
            q.build().persistent(false).execute(&mut *self).await?;
        }
        Ok(())
    }
}
