//! The scheduler's queue: traces that are due, claimed by workers under a
//! lease, and finished in one transaction with whatever they changed and
//! the children they scheduled.
//!
//! A claimed trace becomes `running` and its `due_at` becomes the end of
//! the lease; a worker that dies leaves it there, and once the lease ends
//! the trace is due again and another worker takes it. Whatever a trace
//! sends is keyed by the trace (a message row per trace, an idempotency key
//! per trace for HTTP providers), so taking it again never sends twice.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use serde_json::{Value, json};
use swell_core::time::Millis;

use crate::rows::RowExt;
use crate::{BeginWrite, Result, Store, WorkspaceId, on_db};

/// Tells workers in other processes there is work now (PostgreSQL); in one
/// process the engine's own notification does it. Inside `on_db!`.
macro_rules! notify_workers {
    ($tx:expr, $backend:expr) => {
        if $backend == crate::Backend::Postgres {
            sqlx::query("SELECT pg_notify('swell_wake', 'traces')")
                .execute(&mut *$tx)
                .await?;
        }
    };
}

/// Runs one exactly-once action inside the outcome's transaction, with its
/// change-log entry. Inside `on_db!`.
macro_rules! apply_action {
    ($tx:expr, $ws:expr, $trace:expr, $action:expr, $now:expr) => {{
        let (ws, trace, now): (i64, i64, Millis) = ($ws, $trace, $now);
        match $action {
            TxAction::AddScore { contact, delta } => {
                let old: Option<i64> =
                    sqlx::query_scalar("SELECT score FROM contacts WHERE workspace_id = $1 AND id = $2")
                        .bind(ws)
                        .bind(*contact)
                        .fetch_optional(&mut *$tx)
                        .await?;
                if let Some(old) = old {
                    let new = old.saturating_add(*delta);
                    sqlx::query("UPDATE contacts SET score = $3, updated_at = $4 WHERE workspace_id = $1 AND id = $2")
                        .bind(ws)
                        .bind(*contact)
                        .bind(new)
                        .bind(now)
                        .execute(&mut *$tx)
                        .await?;
                    let change = json!({"score": [old, new]});
                    sqlx::query("INSERT INTO changes (workspace_id, entity, record_id, op, changes, at) VALUES ($1, 'contact', $2, 'update', $3, $4)")
                        .bind(ws)
                        .bind(*contact)
                        .bind(sqlx::types::Json(&change))
                        .bind(now)
                        .execute(&mut *$tx)
                        .await?;
                }
            }
            TxAction::CreateTask { contact, owner, title, note, due_at } => {
                sqlx::query(
                    "INSERT INTO tasks (workspace_id, contact_id, owner, title, note, due_at, trace_id, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(ws)
                .bind(*contact)
                .bind(owner.clone())
                .bind(title.clone())
                .bind(note.clone())
                .bind(*due_at)
                .bind(trace)
                .bind(now)
                .execute(&mut *$tx)
                .await?;
            }
            TxAction::CreateLead { input } => {
                // The same intake as the API's: contact, duplicates,
                // assignment, notices; keyed by the trace, so a trace run
                // again finds its lead instead of making a second.
                let mut input = (**input).clone();
                input.external_id = Some(format!("swell-trace-{trace}"));
                crate::leads::LeadTx::intake(&mut $tx, ws, &input, now).await?;
            }
            TxAction::AssignLead { lead, user } => {
                // A lead deleted since the step was planned is left be.
                let current = match crate::leads::LeadTx::lock_lead(&mut $tx, ws, *lead).await {
                    Err(crate::StoreError::NotFound) => None,
                    other => Some(other?),
                };
                match (current, user) {
                    (Some(current), Some(u)) if current.owner_id != Some(*u) => {
                        let rule = crate::leads::LeadTx::rule(&mut $tx, ws, current.rule_id).await?;
                        crate::leads::LeadTx::give_lead(&mut $tx, ws, &current, *u, rule.as_ref(), None, now).await?;
                    }
                    (Some(current), None) if current.owner_id.is_none() && current.duplicate_of.is_none() => {
                        crate::leads::LeadTx::assign_by_rules(&mut $tx, ws, &current, None, None, now).await?;
                    }
                    _ => {}
                }
            }
        }
    }};
}

use super::batch::{ROWS_PER_STATEMENT, TraceBatch};

/// `(VALUES ($from::bigint), ...) AS u(id)`: ids as rows, for PostgreSQL to
/// probe one by one through a `LATERAL` subquery with `LIMIT 1` (which it
/// does not flatten into a join it might plan as a scan).
fn pg_id_rows(from: usize, n: usize) -> String {
    let rows: Vec<String> = (from..from + n)
        .map(|i| format!("(${i}::bigint)"))
        .collect();
    format!("(VALUES {}) AS u(id)", rows.join(", "))
}

/// ` AND {table}.id IN (ids...)` after an `UPDATE .. FROM (VALUES ..)`:
/// with the ids again as a list PostgreSQL finds the rows by index instead
/// of joining the list to a scan of the whole table.
pub(crate) fn push_id_list<DB>(
    q: &mut sqlx::QueryBuilder<DB>,
    table: &str,
    ids: impl Iterator<Item = i64>,
) where
    DB: sqlx::Database,
    for<'t> i64: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
{
    q.push(format_args!(" AND {table}.id IN ("));
    let mut list = q.separated(", ");
    for id in ids {
        list.push_bind(id);
    }
    q.push(")");
}

/// `$from, $from+1, ...` for `n` values.
pub(crate) fn placeholders(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A record to let into a campaign.
#[derive(Debug, Clone)]
pub struct Entry {
    pub record_id: i64,
    pub contact_id: Option<i64>,
    /// What let it in (see the participants table); '' when the campaign
    /// lets each record in once.
    pub key: String,
}

/// A trace a worker has claimed, with what it needs to run it.
#[derive(Debug, Clone)]
pub struct ClaimedTrace {
    pub id: i64,
    pub workspace: WorkspaceId,
    pub campaign_id: i64,
    pub participant_id: i64,
    pub activity_id: i64,
    pub parent_id: Option<i64>,
    pub deadline: Option<Millis>,
    pub attempts: i64,
    pub test: bool,
    pub record_id: i64,
    pub contact_id: Option<i64>,
    pub participant_state: String,
    /// The message the parent trace sent, for the opened / clicked branches.
    pub parent_message: Option<i64>,
    pub due_at: Millis,
}

/// A trace's message row to find or make (see [`Store::trace_messages`]).
#[derive(Debug, Clone)]
pub struct NewTraceMessage<'a> {
    pub trace: i64,
    pub contact: Option<i64>,
    pub channel: &'a str,
    pub address: Option<&'a str>,
    /// The trace's first claim: no run of it can have made a row yet, so
    /// none is looked for.
    pub first_attempt: bool,
}

/// A child trace to schedule, or one that already ran in its parent's
/// batch.
#[derive(Debug, Clone)]
pub struct NewTrace {
    pub activity_id: i64,
    /// `scheduled` or `waiting`.
    pub state: &'static str,
    pub due_at: Option<Millis>,
    pub deadline: Option<Millis>,
    /// How the step ended when it ran in the same batch as its parent (a
    /// step due at once whose whole effect is in the outcome's
    /// transaction): the row is written ended, with its own actions and
    /// children, in the parent's transaction. Never `scheduled`: a step to
    /// try again is left to the queue instead. The outcome's `id` is not
    /// used: the row gets its id when it is written.
    pub ran: Option<Box<TraceOutcome>>,
}

impl NewTrace {
    /// A child to run after `due_at` (or at once when None).
    pub fn scheduled(activity_id: i64, due_at: Millis, deadline: Option<Millis>) -> NewTrace {
        NewTrace {
            activity_id,
            state: "scheduled",
            due_at: Some(due_at),
            deadline,
            ran: None,
        }
    }

    /// A child waiting for something to happen to its parent's message
    /// until `until`.
    pub fn waiting(activity_id: i64, until: Millis) -> NewTrace {
        NewTrace {
            activity_id,
            state: "waiting",
            due_at: Some(until),
            deadline: None,
            ran: None,
        }
    }
}

/// A change a trace makes in the same transaction as its outcome: the ones
/// that must happen exactly once.
#[derive(Debug, Clone)]
pub enum TxAction {
    AddScore {
        contact: i64,
        delta: i64,
    },
    CreateTask {
        contact: Option<i64>,
        owner: Option<String>,
        title: String,
        note: Option<String>,
        due_at: Option<Millis>,
    },
    /// A lead through the intake (see [`crate::leads`]).
    CreateLead {
        input: Box<crate::leads::LeadInput>,
    },
    /// A lead to a rep: `user`, or by the assignment rules when None (a
    /// lead that has a rep keeps them).
    AssignLead {
        lead: i64,
        user: Option<i64>,
    },
}

/// How a trace ended (or when to try it again).
#[derive(Debug, Clone)]
pub struct TraceOutcome {
    pub id: i64,
    /// processed, rejected, cancelled, failed; or `scheduled` to try again at
    /// `retry_at`.
    pub state: &'static str,
    pub reason: Option<String>,
    pub retry_at: Option<Millis>,
    pub version: Option<i64>,
    pub channel: Option<String>,
    pub message_pk: Option<i64>,
    pub cost: Option<f64>,
    pub children: Vec<NewTrace>,
    pub actions: Vec<TxAction>,
    /// The participant leaves the campaign (an "end" action).
    pub end_participant: bool,
    /// The claim that ran the trace (its `attempts` when claimed): the
    /// outcome is recorded only while the trace is still running under
    /// that claim, never over a claim taken after its lease ran out.
    pub claim: Option<i64>,
}

impl TxAction {
    /// Whether applying it needs its trace's row (all but a score, which
    /// the batch adds up for all its contacts at once).
    fn needs_trace_id(&self) -> bool {
        !matches!(self, TxAction::AddScore { .. })
    }
}

impl TraceOutcome {
    pub fn new(id: i64, state: &'static str) -> TraceOutcome {
        TraceOutcome {
            id,
            state,
            reason: None,
            retry_at: None,
            version: None,
            channel: None,
            message_pk: None,
            cost: None,
            children: Vec::new(),
            actions: Vec::new(),
            end_participant: false,
            claim: None,
        }
    }

    pub fn because(mut self, reason: impl Into<String>) -> TraceOutcome {
        self.reason = Some(reason.into());
        self
    }
}

/// What a batch of outcomes changed, for the caller to wake whoever cares.
#[derive(Debug, Default)]
pub struct Completed {
    /// Children scheduled due at or before now.
    pub due_now: usize,
    /// Campaigns paused because they reached their budget.
    pub paused: Vec<i64>,
    /// Outcomes not recorded: their trace was gone, or no longer held by
    /// the claim that ran it.
    pub lost: usize,
}

/// Counts of what has happened to a message, by kind, for branch checks.
pub type Engagement = HashMap<i64, Vec<String>>;

impl Store {
    /// Lets records into a campaign and schedules its top activities for
    /// each. A record already in (same entry key) is left alone. Returns the
    /// new participants' ids.
    pub async fn enter_campaign(
        &self,
        ws: WorkspaceId,
        campaign: i64,
        entries: &[Entry],
        test: bool,
    ) -> Result<Vec<i64>> {
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let now = self.now();
        let roots: Vec<(i64, i64, Option<i64>)> = on_db!(self, p => {
            sqlx::query(
                "SELECT id, delay_ms, validity_ms FROM activities
                 WHERE campaign_id = $1 AND parent_id IS NULL AND deleted_at IS NULL ORDER BY position, id",
            )
            .bind(campaign).fetch_all(p).await?
            .iter().map(|r| (r.int("id"), r.int("delay_ms"), r.opt_int("validity_ms"))).collect()
        });
        // Many at a time: a launch lets in a whole audience, and one
        // statement per participant made a million take minutes.
        let mut made: HashMap<(i64, String), i64> = HashMap::new();
        let head = EntryHead {
            ws: ws.0,
            campaign,
            test,
            now,
        };
        on_db!(self, p => {
            let mut tx = p.begin_write().await?;
            for chunk in entries.chunks(ROWS_PER_STATEMENT) {
                let rows = tx.insert_participants(&head, chunk).await?;
                let pids: Vec<i64> = rows.iter().map(|r| r.0).collect();
                for (id, record, entry) in rows {
                    made.insert((record, entry), id);
                }
                // Each new participant's first traces: one per root activity.
                for &(activity, delay, validity) in &roots {
                    let due = now + delay;
                    tx.insert_first_traces(&head, activity, due, validity.map(|v| due + v), &pids).await?;
                }
            }
            notify_workers!(tx, self.backend());
            tx.commit().await?;
        });
        // In the order of `entries`, each once.
        Ok(entries
            .iter()
            .filter_map(|e| made.remove(&(e.record_id, e.key.clone())))
            .collect())
    }

    /// Brings the planner's statistics of the campaign queue up to date
    /// (PostgreSQL; SQLite plans from its indexes alone). A launch that
    /// lets in a large audience calls it: until autovacuum catches up, the
    /// planner takes the tables for their size before, and reads whole
    /// states' worth of traces for each batch.
    pub async fn analyze_queue(&self) -> Result<()> {
        self.analyze("ANALYZE participants, traces").await
    }

    /// Runs an `ANALYZE` statement on PostgreSQL (nothing on SQLite).
    pub(crate) async fn analyze(&self, statement: &'static str) -> Result<()> {
        if let crate::Db::Postgres(p) = &self.db {
            sqlx::query(statement).execute(p).await?;
        }
        Ok(())
    }

    /// Claims up to `limit` due traces for `lease_ms`. Waiting traces whose
    /// wait ended are cancelled on the way (their branch never happened).
    pub async fn claim_traces(&self, limit: u32, lease_ms: i64) -> Result<Vec<ClaimedTrace>> {
        let now = self.now();
        let lock = match self.backend() {
            crate::Backend::Postgres => "FOR UPDATE SKIP LOCKED",
            crate::Backend::Sqlite => "",
        };
        let expire = "UPDATE traces SET state = 'cancelled', reason = 'did not happen in time', processed_at = $1, due_at = NULL
             WHERE state = 'waiting' AND due_at <= $1
             RETURNING participant_id";
        // The lease is a column in no index, so the claimed trace keeps its
        // place in the queue index (stepped over by the next claims while
        // the lease lasts) and PostgreSQL writes the claim as a heap-only
        // update (migration 0018). No trace is stored `running` since then;
        // the state lists here and below still name it because they are the
        // queue index's own condition, which SQLite must see word for word
        // to use that index.
        let claim = format!(
            "UPDATE traces SET lease_until = $2, attempts = attempts + 1
             WHERE id IN (SELECT id FROM traces WHERE state IN ('waiting', 'scheduled', 'running') AND due_at <= $1
                          AND state = 'scheduled' AND (lease_until IS NULL OR lease_until <= $1)
                          ORDER BY due_at LIMIT $3 {lock})
             RETURNING id"
        );
        let turn = self.sqlite_write_turn().await;
        let ids: Vec<i64> = on_db!(self, p => {
            let mut tx = p.begin_write().await?;
            let mut ended: Vec<i64> = sqlx::query_scalar(expire).bind(now).fetch_all(&mut *tx).await?;
            ended.sort_unstable();
            ended.dedup();
            tx.complete_participants(&ended, now).await?;
            let ids: Vec<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(claim))
                .bind(now).bind(now + lease_ms).bind(i64::from(limit))
                .fetch_all(&mut *tx).await?;
            tx.commit().await?;
            ids
        });
        drop(turn);
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        Ok(on_db!(self, p => {
            let mut conn = p.acquire().await?;
            conn.claimed(&ids, now).await?
        }))
    }

    /// Whether any trace is still to run (waiting, scheduled or running).
    pub async fn has_pending_traces(&self) -> Result<bool> {
        Ok(on_db!(self, p => {
            sqlx::query_scalar::<_, i64>(
                "SELECT id FROM traces WHERE state IN ('waiting', 'scheduled', 'running') LIMIT 1",
            )
            .fetch_optional(p).await?.is_some()
        }))
    }

    /// When the next trace is due (waits included), for the worker's sleep.
    /// Traces under a lease are left out: one whose worker died is taken
    /// again at a poll after its lease ends.
    pub async fn next_trace_due(&self) -> Result<Option<Millis>> {
        let now = self.now();
        Ok(on_db!(self, p => {
            sqlx::query_scalar::<_, Option<i64>>(
                "SELECT MIN(due_at) FROM traces WHERE state IN ('waiting', 'scheduled', 'running')
                   AND (lease_until IS NULL OR lease_until <= $1)",
            )
            .bind(now).fetch_one(p).await?
        }))
    }

    /// Records a batch of outcomes in one transaction: each trace's state,
    /// its exactly-once actions, its children (those that already ran in
    /// the batch written ended, with their own actions and children), the
    /// participants that are done, the money spent (pausing campaigns at
    /// their budget).
    ///
    /// Set-based, since a batch is thousands of traces and on SQLite every
    /// statement costs two thread hand-offs (see `batch::TraceBatch` for each
    /// backend's statements): the trace rows are updated together, the
    /// children inserted a generation to a statement, and the scores added
    /// for all contacts of the batch at once (one read, one update, the
    /// change-log rows in one insert; each addition still has its own
    /// change row, in order). The rarer actions (tasks, leads) run one by
    /// one after the children, whose ids they may need.
    pub async fn complete_traces(&self, outcomes: &[TraceOutcome]) -> Result<Completed> {
        let now = self.now();
        let mut done = Completed::default();
        if outcomes.is_empty() {
            return Ok(done);
        }
        let _turn = self.sqlite_write_turn().await;
        on_db!(self, p => {
            let mut tx = p.begin_write().await?;
            // The trace rows' context: workspace, campaign, participant,
            // test; only the traces still held by the claim that ran them:
            // one whose lease ran out and that another claim took (or
            // ended) is that claim's to record.
            let ids: Vec<i64> = outcomes.iter().map(|o| o.id).collect();
            let claims: HashMap<i64, Option<i64>> = outcomes.iter().map(|o| (o.id, o.claim)).collect();
            let mut context: HashMap<i64, (i64, i64, i64, bool)> = HashMap::with_capacity(outcomes.len());
            for t in tx.trace_context(&ids).await? {
                let held = match claims[&t.id] {
                    None => true,
                    Some(claim) => t.state == "scheduled" && t.attempts == claim,
                };
                if held {
                    context.insert(t.id, (t.workspace, t.campaign, t.participant, t.test));
                }
            }
            let known: Vec<&TraceOutcome> = outcomes.iter().filter(|o| context.contains_key(&o.id)).collect();
            done.lost = outcomes.len() - known.len();
            let mut spent: BTreeMap<i64, f64> = BTreeMap::new();
            // The participants that may have nothing left to run: those of
            // traces that ended and scheduled nothing (themselves or in the
            // steps that ran after them). One whose trace is tried again,
            // or that scheduled a step, has work left.
            let mut participants = Vec::with_capacity(known.len());
            let mut busy = std::collections::HashSet::new();
            let mut retries = Vec::new();
            let mut finished = Vec::with_capacity(known.len());
            let mut children = Vec::new();
            let mut scores: Vec<(i64, i64, i64)> = Vec::new();
            let mut others = Vec::new();
            let mut ended = Vec::new();
            for o in &known {
                let (ws, campaign, participant, test) = context[&o.id];
                if o.state == "scheduled" {
                    busy.insert(participant);
                    retries.push(*o);
                    continue;
                }
                finished.push(*o);
                others.extend(o.actions.iter().filter(|a| a.needs_trace_id()).map(|a| (ws, o.id, a)));
                for c in &o.children {
                    children.push((ws, campaign, participant, test, o.id, c));
                }
                // The trace and the steps that ran after it in this batch:
                // their costs, scores, ends and the steps they scheduled
                // (their other actions need their rows' ids, and wait for
                // them below).
                let mut scheduled = false;
                let mut ran = vec![*o];
                while let Some(r) = ran.pop() {
                    if let Some(cost) = r.cost.filter(|c| *c > 0.0 && !test) {
                        *spent.entry(campaign).or_default() += cost;
                    }
                    for a in &r.actions {
                        if let TxAction::AddScore { contact, delta } = a {
                            scores.push((ws, *contact, *delta));
                        }
                    }
                    for c in &r.children {
                        let Some(inline) = &c.ran else {
                            scheduled = true;
                            if c.state == "scheduled" && c.due_at.is_some_and(|d| d <= now) {
                                done.due_now += 1;
                            }
                            continue;
                        };
                        ran.push(inline);
                    }
                    if r.end_participant {
                        ended.push(participant);
                    }
                }
                if scheduled {
                    busy.insert(participant);
                } else {
                    participants.push(participant);
                }
            }
            // Retries: (id, due_at, reason).
            for chunk in retries.chunks(ROWS_PER_STATEMENT) {
                let mut q = sqlx::QueryBuilder::new("UPDATE traces SET state = 'scheduled', due_at = v.column2, reason = v.column3, lease_until = NULL FROM (");
                q.push_values(chunk, |mut b, o| {
                    b.push_bind(o.id).push_bind(o.retry_at.unwrap_or(now)).push_bind(o.reason.as_deref());
                });
                q.push(") AS v WHERE traces.id = v.column1");
                push_id_list(&mut q, "traces", chunk.iter().map(|o| o.id));
                q.build().persistent(false).execute(&mut *tx).await?;
            }
            tx.end_traces(now, &finished).await?;
            if !scores.is_empty() {
                // Each contact's score read once (locked on PostgreSQL, in
                // id order so that two workers never wait on each other in
                // a circle), every addition applied in the order given.
                let mut ids: Vec<i64> = scores.iter().map(|s| s.1).collect();
                ids.sort_unstable();
                ids.dedup();
                let mut current: HashMap<(i64, i64), i64> = HashMap::with_capacity(ids.len());
                for (ws, id, score) in tx.scores(&ids).await? {
                    current.insert((ws, id), score);
                }
                let mut changes = Vec::with_capacity(scores.len());
                let mut touched: Vec<(i64, i64)> = Vec::new();
                for (ws, contact, delta) in &scores {
                    // A contact deleted (or of another workspace) is left be.
                    let Some(score) = current.get_mut(&(*ws, *contact)) else { continue };
                    let old = *score;
                    *score = old.saturating_add(*delta);
                    changes.push((*ws, *contact, json!({"score": [old, *score]}).to_string()));
                    touched.push((*ws, *contact));
                }
                touched.sort_unstable();
                touched.dedup();
                let updated: Vec<(i64, i64)> = touched.iter().map(|k| (k.1, current[k])).collect();
                tx.set_scores(now, &updated).await?;
                // Each addition its own change row, in order, through the
                // change log's bulk write (one workspace at a time).
                let mut by_workspace: BTreeMap<i64, Vec<crate::bulk::ChangeEntry>> = BTreeMap::new();
                for (ws, contact, change) in &changes {
                    by_workspace.entry(*ws).or_default().push((*contact, "update", change.as_str()));
                }
                for (ws, entries) in by_workspace {
                    crate::bulk::BulkWrite::append_changes(&mut *tx, ws, "contact", &entries, now).await?;
                }
            }
            // The children, a generation at a time: the steps that ran in
            // this batch are written ended, and their own children (and
            // actions) need the ids their rows get.
            let needs_id = |r: &TraceOutcome| !r.children.is_empty() || r.actions.iter().any(TxAction::needs_trace_id);
            let mut generation = children;
            while !generation.is_empty() {
                let ids_wanted = generation.iter().any(|c| c.5.ran.as_deref().is_some_and(needs_id));
                let made = tx.insert_children(now, &generation, ids_wanted).await?;
                let ids: HashMap<(i64, i64), i64> =
                    made.into_iter().map(|(id, parent, activity)| ((parent, activity), id)).collect();
                let mut next = Vec::new();
                for &(ws, campaign, participant, test, parent, c) in &generation {
                    let Some(r) = c.ran.as_deref().filter(|r| needs_id(r)) else { continue };
                    let id = *ids.get(&(parent, c.activity_id)).ok_or_else(|| {
                        crate::StoreError::Conflict(format!("trace of activity {} after trace {parent} was not written", c.activity_id))
                    })?;
                    others.extend(r.actions.iter().filter(|a| a.needs_trace_id()).map(|a| (ws, id, a)));
                    next.extend(r.children.iter().map(|g| (ws, campaign, participant, test, id, g)));
                }
                generation = next;
            }
            for (ws, trace, a) in others {
                apply_action!(tx, ws, trace, a, now);
            }
            // After the children, so that an ended participant's new
            // children are cancelled with the rest.
            ended.sort_unstable();
            ended.dedup();
            for participant in ended {
                sqlx::query(
                    "UPDATE traces SET state = 'cancelled', reason = 'participant ended', processed_at = $2, due_at = NULL
                     WHERE participant_id = $1 AND state IN ('waiting', 'scheduled') AND lease_until IS NULL",
                )
                .bind(participant).bind(now).execute(&mut *tx).await?;
                sqlx::query("UPDATE participants SET state = 'exited', updated_at = $2 WHERE id = $1 AND state = 'running'")
                    .bind(participant).bind(now).execute(&mut *tx).await?;
            }
            participants.retain(|p| !busy.contains(p));
            participants.sort_unstable();
            participants.dedup();
            tx.complete_participants(&participants, now).await?;
            for (campaign, cost) in spent {
                let paused: Option<i64> = sqlx::query_scalar(
                    "UPDATE campaigns SET spent = spent + $2,
                        state = CASE WHEN budget IS NOT NULL AND spent + $2 >= budget AND state = 'running' THEN 'paused' ELSE state END,
                        reason = CASE WHEN budget IS NOT NULL AND spent + $2 >= budget AND state = 'running' THEN 'budget reached' ELSE reason END
                     WHERE id = $1 RETURNING CASE WHEN reason = 'budget reached' AND state = 'paused' THEN id END",
                )
                .bind(campaign).bind(cost).fetch_one(&mut *tx).await?;
                if let Some(c) = paused { done.paused.push(c); }
            }
            if done.due_now > 0 {
                notify_workers!(tx, self.backend());
            }
            tx.commit().await?;
        });
        Ok(done)
    }

    /// Something happened to a message (`open`, `click`, `reply`,
    /// `bounce`): if a campaign step sent it, the branches waiting for that
    /// are scheduled after their delay. A click also proves an open (and
    /// serves SMS links); machine opens prove nothing. Returns how many.
    pub(crate) async fn resume_waiting(
        &self,
        message_pk: i64,
        kind: &str,
        machine: bool,
        at: Millis,
    ) -> Result<u64> {
        let triggers: &[&str] = match kind {
            "open" if !machine => &["opened"],
            "click" => &["clicked", "sms_clicked", "opened"],
            "reply" => &["replied"],
            "bounce" => &["bounced"],
            _ => return Ok(0),
        };
        let sql = format!(
            "UPDATE traces SET state = 'scheduled',
                due_at = $2 + (SELECT a.delay_ms FROM activities a WHERE a.id = traces.activity_id)
             WHERE state = 'waiting'
               AND parent_id = (SELECT source_id FROM messages WHERE id = $1 AND source = 'trace')
               AND activity_id IN (SELECT id FROM activities WHERE trigger IN ({}))",
            placeholders(3, triggers.len())
        );
        let n = on_db!(self, p => {
            let mut tx = p.begin_write().await?;
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(message_pk).bind(at);
            for t in triggers { q = q.bind(*t); }
            let n = q.execute(&mut *tx).await?.rows_affected();
            if n > 0 {
                notify_workers!(tx, self.backend());
            }
            tx.commit().await?;
            n
        });
        Ok(n)
    }

    /// What has happened to each of these messages: the kinds of its
    /// message events (`open` by people only, `click`, `reply`, `bounce`).
    pub async fn engagement(&self, messages: &[i64]) -> Result<Engagement> {
        let mut out: Engagement = HashMap::new();
        for chunk in messages.chunks(500) {
            let sql = format!(
                "SELECT DISTINCT message_pk, kind FROM message_events
                 WHERE message_pk IN ({}) AND NOT (kind = 'open' AND machine)",
                placeholders(1, chunk.len())
            );
            let rows: Vec<(i64, String)> = on_db!(self, p => {
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for m in chunk { q = q.bind(*m); }
                q.fetch_all(p).await?.iter().map(|r| (r.int("message_pk"), r.text("kind"))).collect()
            });
            for (m, kind) in rows {
                out.entry(m).or_default().push(kind);
            }
        }
        Ok(out)
    }

    /// A trace's message, made once: the row is keyed by the trace, so a
    /// trace taken again after a crash finds the row it made before.
    /// Returns the message id and, when the row was already there, the
    /// state it was in (a new row is `sending`).
    pub async fn trace_message(
        &self,
        ws: WorkspaceId,
        trace: i64,
        contact: Option<i64>,
        channel: &str,
        address: Option<&str>,
    ) -> Result<(i64, Option<String>)> {
        let now = self.now();
        on_db!(self, p => {
            let mut tx = p.begin_write().await?;
            let found = sqlx::query("SELECT id, state FROM messages WHERE source = 'trace' AND source_id = $1")
                .bind(trace).fetch_optional(&mut *tx).await?;
            if let Some(r) = found {
                let (id, state) = (r.int("id"), r.text("state"));
                if state == "queued" {
                    sqlx::query("UPDATE messages SET state = 'sending', attempts = attempts + 1 WHERE id = $1")
                        .bind(id).execute(&mut *tx).await?;
                }
                tx.commit().await?;
                return Ok((id, Some(state)));
            }
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO messages (workspace_id, source, source_id, contact_id, channel, address, state, due_at, attempts, created_at)
                 VALUES ($1, 'trace', $2, $3, $4, $5, 'sending', $6, 1, $6) RETURNING id",
            )
            .bind(ws.0).bind(trace).bind(contact).bind(channel).bind(address).bind(now)
            .fetch_one(&mut *tx).await?;
            tx.commit().await?;
            Ok((id, None))
        })
    }

    /// The message rows of many traces at once, as [`Store::trace_message`]
    /// makes one: the rows already there are found (a `queued` one becomes
    /// `sending`), the others inserted `sending`, in one transaction of a
    /// few statements. Returns, per trace, the message id and the state a
    /// row already there was in.
    pub async fn trace_messages(
        &self,
        ws: WorkspaceId,
        wanted: &[NewTraceMessage<'_>],
    ) -> Result<HashMap<i64, (i64, Option<String>)>> {
        let mut out = HashMap::with_capacity(wanted.len());
        if wanted.is_empty() {
            return Ok(out);
        }
        let now = self.now();
        let backend = self.backend();
        let _turn = self.sqlite_write_turn().await;
        on_db!(self, p => {
            let mut tx = p.begin_write().await?;
            let mut queued = Vec::new();
            let retried: Vec<i64> = wanted.iter().filter(|m| !m.first_attempt).map(|m| m.trace).collect();
            for chunk in retried.chunks(ROWS_PER_STATEMENT) {
                // A probe per trace on PostgreSQL, whatever the statistics
                // of messages say (an `IN` list was filtered from a scan of
                // every trace's message).
                let sql = match backend {
                    crate::Backend::Sqlite => format!(
                        "SELECT id, source_id, state FROM messages WHERE source = 'trace' AND source_id IN ({})",
                        crate::contacts::bulk_placeholders(backend, 1, chunk.len())
                    ),
                    crate::Backend::Postgres => format!(
                        "SELECT m.id, m.source_id, m.state FROM {}
                         CROSS JOIN LATERAL (SELECT id, source_id, state FROM messages
                                             WHERE source = 'trace' AND source_id = u.id LIMIT 1) m",
                        pg_id_rows(1, chunk.len())
                    ),
                };
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).persistent(false);
                for trace in chunk { q = q.bind(*trace); }
                for r in q.fetch_all(&mut *tx).await? {
                    let (id, state) = (r.int("id"), r.text("state"));
                    if state == "queued" {
                        queued.push(id);
                    }
                    out.insert(r.int("source_id"), (id, Some(state)));
                }
            }
            for chunk in queued.chunks(ROWS_PER_STATEMENT) {
                let sql = format!(
                    "UPDATE messages SET state = 'sending', attempts = attempts + 1 WHERE id IN ({})",
                    crate::contacts::bulk_placeholders(backend, 1, chunk.len())
                );
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).persistent(false);
                for id in chunk { q = q.bind(*id); }
                q.execute(&mut *tx).await?;
            }
            let fresh: Vec<&NewTraceMessage> = wanted.iter().filter(|m| !out.contains_key(&m.trace)).collect();
            for chunk in fresh.chunks(ROWS_PER_STATEMENT) {
                let mut q = sqlx::QueryBuilder::new(
                    "INSERT INTO messages (workspace_id, source, source_id, contact_id, channel, address, state, due_at, attempts, created_at) ");
                q.push_values(chunk, |mut b, m| {
                    b.push_bind(ws.0).push_bind("trace").push_bind(m.trace).push_bind(m.contact).push_bind(m.channel)
                        .push_bind(m.address).push_bind("sending").push_bind(now).push_bind(1_i64).push_bind(now);
                });
                q.push(" RETURNING id, source_id");
                for r in q.build().persistent(false).fetch_all(&mut *tx).await? {
                    out.insert(r.int("source_id"), (r.int("id"), None));
                }
            }
            tx.commit().await?;
        });
        Ok(out)
    }

    /// Records what became of a trace's message.
    pub async fn finish_trace_message(
        &self,
        message_pk: i64,
        state: &str,
        provider_id: Option<&str>,
        reason: Option<&str>,
    ) -> Result<()> {
        let now = self.now();
        on_db!(self, p => {
            sqlx::query(
                "UPDATE messages SET state = $2, message_id = COALESCE($3, message_id), reason = $4,
                    sent_at = CASE WHEN $2 = 'sent' THEN $5 ELSE sent_at END
                 WHERE id = $1",
            )
            .bind(message_pk).bind(state).bind(provider_id).bind(reason).bind(now)
            .execute(p).await?;
        });
        Ok(())
    }

    /// Changes since `after` to records of `entity` in a workspace, oldest
    /// first: what the record triggers look at.
    pub async fn changes_since(
        &self,
        ws: WorkspaceId,
        entity: &str,
        after: i64,
        limit: u32,
    ) -> Result<Vec<ChangeRow>> {
        Ok(on_db!(self, p => {
            sqlx::query(
                "SELECT id, record_id, op, changes FROM changes
                 WHERE id > $3 AND workspace_id = $1 AND entity = $2 ORDER BY id LIMIT $4",
            )
            .bind(ws.0).bind(entity).bind(after).bind(i64::from(limit))
            .fetch_all(p).await?.iter().map(|r| ChangeRow {
                id: r.int("id"),
                record_id: r.int("record_id"),
                op: r.text("op"),
                changes: r.json("changes"),
            }).collect()
        }))
    }

    /// The newest change id: where a campaign launched now starts watching.
    pub async fn last_change_id(&self) -> Result<i64> {
        Ok(on_db!(self, p => {
            sqlx::query_scalar::<_, Option<i64>>("SELECT MAX(id) FROM changes").fetch_one(p).await?.unwrap_or(0)
        }))
    }

    /// The contact each existing record links to (a contact is its own);
    /// ids that do not exist in the workspace are left out.
    pub async fn record_contacts(
        &self,
        ws: WorkspaceId,
        table: &str,
        ids: &[i64],
    ) -> Result<HashMap<i64, Option<i64>>> {
        // Table and column names come from this fixed list, never input.
        let (table, contact) = match table {
            "contacts" => ("contacts", "id"),
            "companies" | "leads" | "orders" | "records" => (table, "contact_id"),
            _ => return Ok(HashMap::new()),
        };
        let mut out = HashMap::new();
        for chunk in ids.chunks(500) {
            // On PostgreSQL a probe per id: an `IN` list was planned as a
            // scan of the workspace's contacts while their statistics were
            // behind (17 ms a page of a launch's audience at 100,000).
            let sql = match self.backend() {
                // Anonymous parameters: SQLite finds a named one's number
                // by a walk of the names, each bind a walk.
                crate::Backend::Sqlite => format!(
                    "SELECT id, {contact} AS contact_id FROM {table} WHERE workspace_id = ? AND id IN ({})",
                    crate::contacts::bulk_placeholders(crate::Backend::Sqlite, 2, chunk.len())
                ),
                crate::Backend::Postgres => format!(
                    "SELECT r.id, r.contact_id FROM {}
                     CROSS JOIN LATERAL (SELECT id, workspace_id, {contact} AS contact_id FROM {table}
                                         WHERE id = u.id LIMIT 1) r
                     WHERE r.workspace_id = $1",
                    pg_id_rows(2, chunk.len())
                ),
            };
            let rows: Vec<(i64, Option<i64>)> = on_db!(self, p => {
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(ws.0);
                for id in chunk { q = q.bind(*id); }
                q.fetch_all(p).await?.iter().map(|r| (r.int("id"), r.opt_int("contact_id"))).collect()
            });
            out.extend(rows);
        }
        Ok(out)
    }
}

/// One row of the change log.
#[derive(Debug, Clone, Serialize)]
pub struct ChangeRow {
    pub id: i64,
    pub record_id: i64,
    pub op: String,
    pub changes: Value,
}

impl Store {
    /// Why a contact cannot be reached on a channel now (no address, opted
    /// out, blocklisted, suppressed), or None when it can. A contact that
    /// no longer exists has no address.
    pub async fn skip_reason(
        &self,
        ws: WorkspaceId,
        contact: i64,
        channel: crate::consent::Channel,
    ) -> Result<Option<String>> {
        let sql = format!(
            "SELECT {} AS reason FROM contacts c WHERE c.workspace_id = $1 AND c.id = $2",
            channel.skip_reason("$1")
        );
        let found: Option<Option<String>> = on_db!(self, p => {
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(ws.0).bind(contact).fetch_optional(p).await?
                .map(|r| r.opt_text("reason"))
        });
        Ok(match found {
            None => Some("no_address".to_string()),
            Some(reason) => reason,
        })
    }

    /// Why each of these contacts cannot be reached on a channel now, as
    /// [`Store::skip_reason`] says for one, in one statement per thousand.
    pub async fn skip_reasons(
        &self,
        ws: WorkspaceId,
        contacts: &[i64],
        channel: crate::consent::Channel,
    ) -> Result<HashMap<i64, Option<String>>> {
        let backend = self.backend();
        let mut out: HashMap<i64, Option<String>> = contacts
            .iter()
            .map(|c| (*c, Some("no_address".to_string())))
            .collect();
        for chunk in contacts.chunks(ROWS_PER_STATEMENT) {
            // The ids as one value (a JSON array on SQLite, an array on
            // PostgreSQL): the reason names the workspace's parameter too.
            // On PostgreSQL each id is a probe of its own (`LIMIT 1` keeps
            // the subquery from being flattened): with the statistics of
            // contacts behind an import, an `IN` list was hashed against a
            // scan of the whole workspace (50 ms a batch at 100,000).
            let from = match backend {
                crate::Backend::Sqlite => {
                    "contacts c WHERE c.workspace_id = $1 AND c.id IN (SELECT value FROM json_each($2))"
                }
                crate::Backend::Postgres => {
                    "unnest($2::bigint[]) AS u(id)
                     CROSS JOIN LATERAL (SELECT * FROM contacts WHERE id = u.id LIMIT 1) c
                     WHERE c.workspace_id = $1"
                }
            };
            let sql = format!(
                "SELECT c.id, {} AS reason FROM {from}",
                channel.skip_reason("$1")
            );
            let rows: Vec<(i64, Option<String>)> = match &self.db {
                crate::Db::Sqlite(p) => {
                    let ids = serde_json::to_string(chunk).expect("ids serialise");
                    sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(ws.0)
                        .bind(ids)
                        .fetch_all(p)
                        .await?
                        .iter()
                        .map(|r| (r.int("id"), r.opt_text("reason")))
                        .collect()
                }
                crate::Db::Postgres(p) => sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(ws.0)
                    .bind(chunk.to_vec())
                    .fetch_all(p)
                    .await?
                    .iter()
                    .map(|r| (r.int("id"), r.opt_text("reason")))
                    .collect(),
            };
            out.extend(rows);
        }
        Ok(out)
    }

    /// Whether a contact has an event of this name since `since` (in-app
    /// messages reach people seen in the app lately).
    pub async fn has_event_since(
        &self,
        ws: WorkspaceId,
        contact: i64,
        name: &str,
        since: Millis,
    ) -> Result<bool> {
        let n: i64 = on_db!(self, p => {
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM events WHERE contact_id = $2 AND name = $3 AND at >= $4 AND workspace_id = $1",
            )
            .bind(ws.0).bind(contact).bind(name).bind(since).fetch_one(p).await?
        });
        Ok(n > 0)
    }
}

/// What the participants a call lets in share.
struct EntryHead {
    ws: i64,
    campaign: i64,
    test: bool,
    now: Millis,
}

/// Participants and their first traces, many rows a statement, one
/// implementation per backend.
trait EntryWrite {
    /// Inserts participants (those already in under the same entry key are
    /// left out) and returns the new ones: id, record, entry key.
    async fn insert_participants(
        &mut self,
        head: &EntryHead,
        entries: &[Entry],
    ) -> sqlx::Result<Vec<(i64, i64, String)>>;

    /// Schedules one activity for each of `participants`.
    async fn insert_first_traces(
        &mut self,
        head: &EntryHead,
        activity: i64,
        due: Millis,
        deadline: Option<Millis>,
        participants: &[i64],
    ) -> sqlx::Result<()>;
}

fn entered_rows<R: RowExt>(rows: Vec<R>) -> Vec<(i64, i64, String)> {
    rows.iter()
        .map(|r| (r.int("id"), r.int("record_id"), r.text("entry")))
        .collect()
}

impl EntryWrite for sqlx::PgConnection {
    async fn insert_participants(
        &mut self,
        head: &EntryHead,
        entries: &[Entry],
    ) -> sqlx::Result<Vec<(i64, i64, String)>> {
        let records: Vec<i64> = entries.iter().map(|e| e.record_id).collect();
        let contacts: Vec<Option<i64>> = entries.iter().map(|e| e.contact_id).collect();
        let keys: Vec<&str> = entries.iter().map(|e| e.key.as_str()).collect();
        let rows = sqlx::query(
            "INSERT INTO participants (workspace_id, campaign_id, record_id, contact_id, entry, state, test, created_at, updated_at)
             SELECT $1, $2, u.record_id, u.contact_id, u.entry, 'running', $3, $4, $4
             FROM unnest($5::bigint[], $6::bigint[], $7::text[]) WITH ORDINALITY AS u(record_id, contact_id, entry, n)
             ORDER BY u.n
             ON CONFLICT (campaign_id, record_id, entry) DO NOTHING RETURNING id, record_id, entry",
        )
        .bind(head.ws)
        .bind(head.campaign)
        .bind(head.test)
        .bind(head.now)
        .bind(records)
        .bind(contacts)
        .bind(keys)
        .fetch_all(self)
        .await?;
        Ok(entered_rows(rows))
    }

    async fn insert_first_traces(
        &mut self,
        head: &EntryHead,
        activity: i64,
        due: Millis,
        deadline: Option<Millis>,
        participants: &[i64],
    ) -> sqlx::Result<()> {
        if participants.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO traces (workspace_id, campaign_id, participant_id, activity_id, state, due_at, deadline, test, created_at)
             SELECT $1, $2, p.id, $3, 'scheduled', $4, $5, $6, $7 FROM unnest($8::bigint[]) AS p(id)",
        )
        .bind(head.ws)
        .bind(head.campaign)
        .bind(activity)
        .bind(due)
        .bind(deadline)
        .bind(head.test)
        .bind(head.now)
        .bind(participants)
        .execute(self)
        .await?;
        Ok(())
    }
}

impl EntryWrite for sqlx::SqliteConnection {
    async fn insert_participants(
        &mut self,
        head: &EntryHead,
        entries: &[Entry],
    ) -> sqlx::Result<Vec<(i64, i64, String)>> {
        // Anonymous parameters, the shared values bound again for each row:
        // SQLite finds a named one (`$5`) by walking the list of names, so
        // binding thousands of them cost time by the square of their number.
        let sql = format!(
            "INSERT INTO participants (workspace_id, campaign_id, record_id, contact_id, entry, state, test, created_at, updated_at)
             VALUES {} ON CONFLICT (campaign_id, record_id, entry) DO NOTHING RETURNING id, record_id, entry",
            vec!["(?, ?, ?, ?, ?, 'running', ?, ?, ?)"; entries.len()].join(", ")
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for e in entries {
            q = q
                .bind(head.ws)
                .bind(head.campaign)
                .bind(e.record_id)
                .bind(e.contact_id)
                .bind(e.key.as_str())
                .bind(head.test)
                .bind(head.now)
                .bind(head.now);
        }
        Ok(entered_rows(q.fetch_all(self).await?))
    }

    async fn insert_first_traces(
        &mut self,
        head: &EntryHead,
        activity: i64,
        due: Millis,
        deadline: Option<Millis>,
        participants: &[i64],
    ) -> sqlx::Result<()> {
        if participants.is_empty() {
            return Ok(());
        }
        let list = serde_json::to_string(participants).expect("ids serialise");
        sqlx::query(
            "INSERT INTO traces (workspace_id, campaign_id, participant_id, activity_id, state, due_at, deadline, test, created_at)
             SELECT $1, $2, p.value, $3, 'scheduled', $4, $5, $6, $7 FROM json_each($8) AS p",
        )
        .bind(head.ws)
        .bind(head.campaign)
        .bind(activity)
        .bind(due)
        .bind(deadline)
        .bind(head.test)
        .bind(head.now)
        .bind(list)
        .execute(self)
        .await?;
        Ok(())
    }
}
