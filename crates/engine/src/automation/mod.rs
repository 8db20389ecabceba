//! The automation engine: lets records into campaigns when their triggers
//! fire, and runs every participant's due traces.
//!
//! The queue is in the store (see `swell_store::automation::queue`). A
//! worker claims a batch of due traces under a lease, decides each (cancel,
//! reject, run), runs the ones that act (sends, webhooks, server actions)
//! a few at a time, and records every outcome with the children it
//! schedules in one transaction. Any number of workers, in this process or
//! others (`swell worker`), share the queue; on PostgreSQL they wake each
//! other through LISTEN/NOTIFY, in one process through a [`Notify`].

mod run;
pub mod templates;
mod triggers;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::StreamExt;
use swell_channels::Retry;
use swell_core::entity::{EntityKind, EntityType};
use swell_core::filter::Filter;
use swell_store::automation::queue::{ClaimedTrace, NewTrace, TraceOutcome};
use swell_store::automation::{Activity, Campaign};
use swell_store::{Store, StoreError, WorkspaceId};
use tokio::sync::{Notify, watch};

use crate::Mailer;

pub use run::APP_SEEN_MS;
pub use triggers::{HookError, HookOutcome, TriggerSpec};

/// How the engine is set up.
#[derive(Clone)]
pub struct AutomationConfig {
    /// Traces claimed at a time. Each batch costs a few dozen statements
    /// and, on SQLite, four turns at the one writer, whatever its size;
    /// 2,000 drained faster than 1,000 (README, "Batches of 2,000").
    pub batch: u32,
    /// How long a claimed trace stays a worker's before others may take it.
    pub lease: Duration,
    /// Traces acting at once (sends and webhooks wait on the network).
    pub concurrency: usize,
    /// Batches in flight at once, each on its own task: one batch's
    /// database work overlaps another's rendering and sending, and on
    /// PostgreSQL the server works on several batches' statements at once
    /// (one worker at 200,000 participants: 19,867 traces/s with 2 lanes,
    /// 22,433 with 3, 23,105 with 4, 23,665 with 6).
    pub lanes: usize,
    /// Backoff for temporary failures of sends and webhooks.
    pub retry: Retry,
    /// How often the engine looks for work when nothing wakes it.
    pub poll: Duration,
    /// How long an "opened" / "clicked" branch waits when its activity
    /// sets no validity.
    pub default_wait: Duration,
}

impl Default for AutomationConfig {
    fn default() -> AutomationConfig {
        AutomationConfig {
            batch: 2000,
            lease: Duration::from_secs(300),
            concurrency: 16,
            lanes: 4,
            retry: Retry::default(),
            poll: Duration::from_secs(1),
            default_wait: Duration::from_secs(30 * 24 * 3600),
        }
    }
}

/// Errors of the engine.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Invalid(String),
}

pub struct Automation {
    store: Store,
    mailer: Arc<Mailer>,
    cfg: AutomationConfig,
    http: reqwest::Client,
    wake: Notify,
}

impl Automation {
    pub fn new(store: Store, mailer: Arc<Mailer>, cfg: AutomationConfig) -> Arc<Automation> {
        Arc::new(Automation {
            store,
            mailer,
            cfg,
            http: swell_channels::http::http_client().unwrap_or_default(),
            wake: Notify::new(),
        })
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn mailer(&self) -> &Arc<Mailer> {
        &self.mailer
    }

    /// Has the engine look for work now (a record changed, a trace is due).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Works until `shutdown` turns true: triggers, then due traces, then a
    /// sleep until woken, until the next trace is due, or the poll interval.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        if let Some(listener) = self.store.wake_listener().await.ok().flatten() {
            let me = Arc::clone(&self);
            let stop = shutdown.clone();
            tokio::spawn(async move { me.listen(listener, stop).await });
        }
        loop {
            if *shutdown.borrow() {
                return;
            }
            let busy = match self.drain_until(Some(shutdown.clone())).await {
                Ok(n) => n > 0,
                Err(e) => {
                    tracing::error!(error = %e, "automation");
                    false
                }
            };
            if busy {
                tokio::task::yield_now().await;
                continue;
            }
            let sleep = self.until_next_due().await;
            tokio::select! {
                _ = self.wake.notified() => {}
                // Records changed in this process: the triggers look.
                _ = self.store.changed() => {}
                _ = tokio::time::sleep(sleep) => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    /// Wakes this worker whenever another process says there is work,
    /// until `shutdown` turns true.
    async fn listen(
        &self,
        mut listener: swell_store::WakeListener,
        mut shutdown: watch::Receiver<bool>,
    ) {
        while !*shutdown.borrow() {
            tokio::select! {
                heard = listener.recv() => match heard {
                    Ok(()) => self.wake(),
                    Err(e) => {
                        tracing::warn!(error = %e, "wake listener");
                        tokio::select! {
                            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                            _ = shutdown.changed() => {}
                        }
                    }
                },
                _ = shutdown.changed() => {}
            }
        }
    }

    async fn until_next_due(&self) -> Duration {
        let now = self.store.now();
        match self.store.next_trace_due().await {
            Ok(Some(due)) if due > now => {
                Duration::from_millis((due - now) as u64).min(self.cfg.poll)
            }
            Ok(Some(_)) => Duration::from_millis(10),
            _ => self.cfg.poll,
        }
    }

    /// One round: the triggers, then one batch of due traces. Returns how
    /// much was done (records entered plus traces run).
    pub async fn run_once(&self) -> Result<usize, EngineError> {
        let entered = self.watch_triggers().await?;
        let ran = self.run_batch().await?;
        Ok(entered + ran)
    }

    /// Runs until nothing is due now (tests, and between the worker's
    /// sleeps). The first lane runs rounds (the triggers, then a batch),
    /// the others batches only, each lane on its own task until it finds
    /// nothing to do; the first lane stops last, so the triggers are
    /// watched for as long as any lane works. Returns how much was done.
    pub async fn drain(self: &Arc<Self>) -> Result<usize, EngineError> {
        self.drain_until(None).await
    }

    /// [`Automation::drain`], each lane stopping early once `shutdown`
    /// turns true.
    async fn drain_until(
        self: &Arc<Self>,
        shutdown: Option<watch::Receiver<bool>>,
    ) -> Result<usize, EngineError> {
        let count = self.cfg.lanes.max(1);
        // The other lanes still at work: the first lane, which watches the
        // triggers, keeps doing so until they are done, and then stops.
        let helping = Arc::new(AtomicUsize::new(count - 1));
        let mut lanes = Vec::with_capacity(count);
        for lane in 0..count {
            let me = Arc::clone(self);
            let shutdown = shutdown.clone();
            let helping = Arc::clone(&helping);
            lanes.push(tokio::spawn(async move {
                let mut total = 0;
                let ran = loop {
                    if shutdown.as_ref().is_some_and(|s| *s.borrow()) {
                        break Ok(total);
                    }
                    let n = if lane == 0 {
                        me.run_once().await
                    } else {
                        me.run_batch().await
                    };
                    match n {
                        Err(e) => break Err(e),
                        Ok(0) if lane > 0 || helping.load(Ordering::Acquire) == 0 => {
                            break Ok(total);
                        }
                        Ok(0) => tokio::time::sleep(Duration::from_millis(10)).await,
                        Ok(n) => total += n,
                    }
                };
                if lane > 0 {
                    helping.fetch_sub(1, Ordering::Release);
                }
                ran
            }));
        }
        let mut total = 0;
        let mut failed = None;
        for lane in lanes {
            match lane.await {
                Ok(Ok(n)) => total += n,
                Ok(Err(e)) => failed = failed.or(Some(e)),
                Err(e) => std::panic::resume_unwind(e.into_panic()),
            }
        }
        match failed {
            Some(e) => Err(e),
            None => Ok(total),
        }
    }

    /// Claims one batch of due traces, runs it and records the outcomes.
    pub async fn run_batch(&self) -> Result<usize, EngineError> {
        let claimed = self
            .store
            .claim_traces(self.cfg.batch, self.cfg.lease.as_millis() as i64)
            .await?;
        if claimed.is_empty() {
            return Ok(0);
        }
        let n = claimed.len();
        let claims: HashMap<i64, i64> = claimed.iter().map(|t| (t.id, t.attempts)).collect();
        let mut outcomes = self.decide(claimed).await?;
        for o in &mut outcomes {
            o.claim = claims.get(&o.id).copied();
        }
        let done = self.store.complete_traces(&outcomes).await?;
        if done.lost > 0 {
            tracing::warn!(
                traces = done.lost,
                "automation: outcomes not recorded, their lease ran out and another claim took them"
            );
        }
        for c in done.paused {
            tracing::info!(campaign = c, "campaign paused: budget reached");
        }
        if done.due_now > 0 {
            self.wake();
        }
        Ok(n)
    }

    /// Decides and runs a batch.
    async fn decide(&self, claimed: Vec<ClaimedTrace>) -> Result<Vec<TraceOutcome>, EngineError> {
        let now = self.store.now();
        let mut cx = BatchContext::default();
        let activity_ids: Vec<i64> = {
            let set: HashSet<i64> = claimed.iter().map(|t| t.activity_id).collect();
            set.into_iter().collect()
        };
        for a in self.store.activities_by_id(&activity_ids).await? {
            cx.activities.insert(a.id, a);
        }
        for t in &claimed {
            if let std::collections::hash_map::Entry::Vacant(e) = cx.campaigns.entry(t.campaign_id)
            {
                match self.store.campaign(t.workspace, t.campaign_id).await {
                    Ok(c) => {
                        let tree = self.store.activities(t.workspace, c.id).await?;
                        cx.trees.insert(c.id, tree);
                        e.insert(Some(c));
                    }
                    Err(StoreError::NotFound) => {
                        e.insert(None);
                    }
                    Err(err) => return Err(err.into()),
                }
            }
        }
        // The negative branches ("not opened") look at the parent's message.
        let watched: Vec<i64> = claimed
            .iter()
            .filter(|t| {
                cx.activities.get(&t.activity_id).is_some_and(|a| {
                    a.trigger.starts_with("not_") || a.trigger == "sms_not_clicked"
                })
            })
            .filter_map(|t| t.parent_message)
            .collect();
        let engagement = self.store.engagement(&watched).await?;

        let mut outcomes = Vec::with_capacity(claimed.len());
        let mut to_run: Vec<(ClaimedTrace, Activity, Campaign)> = Vec::new();
        for t in claimed {
            let Some(Some(campaign)) = cx.campaigns.get(&t.campaign_id).cloned() else {
                outcomes.push(TraceOutcome::new(t.id, "cancelled").because("campaign removed"));
                continue;
            };
            let Some(activity) = cx.activities.get(&t.activity_id).cloned() else {
                outcomes.push(TraceOutcome::new(t.id, "cancelled").because("activity removed"));
                continue;
            };
            if activity.deleted_at.is_some() {
                outcomes.push(TraceOutcome::new(t.id, "cancelled").because("activity removed"));
                continue;
            }
            if campaign.state == "stopped" {
                outcomes.push(TraceOutcome::new(t.id, "cancelled").because("campaign stopped"));
                continue;
            }
            if campaign.state != "running" && !t.test {
                // Paused (or back to draft): keep the trace for later.
                let mut o = TraceOutcome::new(t.id, "scheduled")
                    .because(format!("campaign {}", campaign.state));
                o.retry_at = Some(now + 60_000);
                outcomes.push(o);
                continue;
            }
            if t.participant_state != "running" {
                outcomes.push(TraceOutcome::new(t.id, "cancelled").because("participant ended"));
                continue;
            }
            if t.deadline.is_some_and(|d| d < now) {
                outcomes.push(TraceOutcome::new(t.id, "cancelled").because("validity ended"));
                continue;
            }
            if let Some(happened) =
                negative_branch_happened(&activity.trigger, t.parent_message, &engagement)
            {
                outcomes.push(TraceOutcome::new(t.id, "cancelled").because(happened));
                continue;
            }
            to_run.push((t, activity, campaign));
        }

        // Activity filters, one query per activity for the whole batch.
        let mut passed: HashMap<i64, HashSet<i64>> = HashMap::new();
        let mut filtered: HashMap<i64, (WorkspaceId, String, Filter, Vec<i64>)> = HashMap::new();
        // A stored filter that no longer reads fails its traces, saying why.
        let mut broken: HashMap<i64, String> = HashMap::new();
        for (t, a, c) in &to_run {
            let Some(f) = &a.filter else { continue };
            if broken.contains_key(&a.id) {
                continue;
            }
            if !filtered.contains_key(&a.id) {
                match Filter::from_json(f) {
                    Ok(filter) => {
                        filtered.insert(a.id, (t.workspace, c.entity.clone(), filter, Vec::new()));
                    }
                    Err(e) => {
                        broken.insert(a.id, format!("the activity's filter is invalid: {e}"));
                        continue;
                    }
                }
            }
            if let Some(entry) = filtered.get_mut(&a.id) {
                entry.3.push(t.record_id);
            }
        }
        for (activity, (ws, entity, filter, ids)) in filtered {
            let kind = self.entity_kind(ws, &entity).await?;
            let catalog = self.store.catalog(ws).await?;
            let ok = self
                .store
                .matching_ids(ws, &kind, &filter, &catalog, &ids)
                .await?;
            passed.insert(activity, ok.into_iter().collect());
        }
        let mut runnable = Vec::new();
        for (t, a, c) in to_run {
            if let Some(why) = broken.get(&a.id) {
                outcomes.push(TraceOutcome::new(t.id, "failed").because(why.clone()));
                continue;
            }
            if a.filter.is_some() && !passed.get(&a.id).is_some_and(|s| s.contains(&t.record_id)) {
                outcomes.push(
                    TraceOutcome::new(t.id, "rejected")
                        .because("does not match the activity's filter"),
                );
                continue;
            }
            runnable.push((t, a, c));
        }

        let mut shared = run::Shared::default();
        if let Err(e) = self.prefetch(&mut shared, &runnable).await {
            // What was read stands; each trace reads the rest itself.
            tracing::warn!(error = %e, "automation: reading ahead for a batch");
        }
        let shared = &shared;
        // A trace starts only while at least half of its lease is left: one
        // that waited longer in a slow batch is left for the claim that
        // will take it when the lease runs out, never run by two at once.
        // (Not one whose message row the batch made: see `has_message_row`.)
        let half_lease = self.cfg.lease.as_millis() as i64 / 2;
        let tree_of = |c: &Campaign| cx.trees.get(&c.id).map(Vec::as_slice).unwrap_or_default();
        let ran: Vec<Option<(ClaimedTrace, Campaign, TraceOutcome)>> =
            futures::stream::iter(runnable.into_iter().map(|(t, a, c)| {
                let tree = tree_of(&c);
                async move {
                    if self.store.now() - t.due_at > half_lease && !shared.has_message_row(t.id) {
                        return None;
                    }
                    let o = self.execute(shared, &t, &a, &c).await;
                    let o = self.ran(&t, &a, tree, o);
                    Some((t, c, o))
                }
            }))
            .buffer_unordered(self.cfg.concurrency.max(1))
            .collect()
            .await;
        let mut ran: Vec<(ClaimedTrace, Campaign, TraceOutcome)> =
            ran.into_iter().flatten().collect();
        let failed = self.flush_outbox(shared).await;
        if !failed.is_empty() {
            for (_, _, o) in &mut ran {
                if let Some((attempts, why)) = failed.get(&o.id) {
                    let version = o.version;
                    *o = self.retry(o.id, *attempts, why.clone());
                    o.version = version;
                }
            }
        }
        // The steps due at once after them whose whole effect is part of
        // the outcome's transaction run now, after the sends above are
        // kept, and are written with them.
        let ran: Vec<TraceOutcome> = futures::stream::iter(ran.into_iter().map(|(t, c, mut o)| {
            let tree = tree_of(&c);
            async move {
                self.run_due_children(shared, &t, &c, tree, &mut o, 0).await;
                o
            }
        }))
        .buffer_unordered(self.cfg.concurrency.max(1))
        .collect()
        .await;
        outcomes.extend(ran);
        Ok(outcomes)
    }

    /// A step's outcome with the version of the activity it ran and, when
    /// it was processed, the children it schedules.
    fn ran(
        &self,
        t: &ClaimedTrace,
        a: &Activity,
        tree: &[Activity],
        mut o: TraceOutcome,
    ) -> TraceOutcome {
        o.version = Some(a.version);
        if o.state == "processed" {
            o.children.extend(self.children(t, a, tree, &o));
        }
        o
    }

    /// Runs the children of a processed step that are due now and whose
    /// whole effect is written in the outcome's transaction (see
    /// [`runs_in_parents_batch`]), and theirs in turn, up to
    /// [`INLINE_DEPTH`] generations: each keeps its outcome in its
    /// [`NewTrace::ran`], written ended with its parent's. Run in the next
    /// batch instead, each such step cost a claim, two reads and an update
    /// of its own.
    ///
    /// They are as exactly-once as a step through the queue: if the
    /// parent's lease runs out and another claim runs it again, only one
    /// of the two outcomes is recorded, and these steps with it.
    fn run_due_children<'a>(
        &'a self,
        sh: &'a run::Shared,
        parent: &'a ClaimedTrace,
        c: &'a Campaign,
        tree: &'a [Activity],
        o: &'a mut TraceOutcome,
        depth: usize,
    ) -> futures::future::BoxFuture<'a, ()> {
        Box::pin(async move {
            if o.state != "processed" || o.end_participant || depth >= INLINE_DEPTH {
                return;
            }
            let now = self.store.now();
            let parent_message = o.message_pk;
            for child in &mut o.children {
                if child.state != "scheduled" || child.due_at.is_none_or(|d| d > now) {
                    continue;
                }
                let Some(a) = tree.iter().find(|a| a.id == child.activity_id) else {
                    continue;
                };
                if !runs_in_parents_batch(a, c) {
                    continue;
                }
                // No row yet, so no id (nor one for a parent that ran here
                // too): nothing these kinds do reads either.
                let t = ClaimedTrace {
                    id: 0,
                    activity_id: a.id,
                    parent_id: Some(parent.id),
                    deadline: child.deadline,
                    attempts: 1,
                    parent_message,
                    due_at: now,
                    ..parent.clone()
                };
                let ran = self.execute(sh, &t, a, c).await;
                if ran.state == "scheduled" {
                    // To be tried again: left to the queue, as it was.
                    continue;
                }
                let mut ran = self.ran(&t, a, tree, ran);
                self.run_due_children(sh, &t, c, tree, &mut ran, depth + 1)
                    .await;
                let ended = ran.end_participant;
                child.ran = Some(Box::new(ran));
                if ended {
                    // The participant's other steps are cancelled with it.
                    break;
                }
            }
        })
    }

    /// The children a processed trace schedules: after their delay, or
    /// waiting for the parent's message to be opened, clicked, ...
    fn children(
        &self,
        t: &ClaimedTrace,
        a: &Activity,
        tree: &[Activity],
        outcome: &TraceOutcome,
    ) -> Vec<NewTrace> {
        let now = self.store.now();
        let mut kids: Vec<&Activity> = tree.iter().filter(|c| c.parent_id == Some(a.id)).collect();
        if a.kind == "split" && !kids.is_empty() {
            kids = vec![pick_share(&kids, t.participant_id)];
        }
        let bounced = outcome
            .reason
            .as_deref()
            .is_some_and(|r| r.starts_with(run::BOUNCED));
        kids.into_iter()
            .map(|c| {
                let waits = swell_store::automation::WAITING_TRIGGERS.contains(&c.trigger.as_str());
                if c.trigger == "bounced" && bounced {
                    NewTrace::scheduled(c.id, now + c.delay_ms, None)
                } else if waits && outcome.message_pk.is_some() && !bounced {
                    let wait = c
                        .validity_ms
                        .unwrap_or(self.cfg.default_wait.as_millis() as i64);
                    NewTrace::waiting(c.id, now + wait)
                } else if waits {
                    // Nothing was sent, so nothing can be opened: the branch
                    // is kept in the history as cancelled at once.
                    NewTrace::waiting(c.id, now)
                } else {
                    let due = now + c.delay_ms;
                    NewTrace::scheduled(c.id, due, c.validity_ms.map(|v| due + v))
                }
            })
            .collect()
    }

    /// The entity kind of a campaign's records.
    async fn entity_kind(&self, ws: WorkspaceId, entity: &str) -> Result<EntityKind, EngineError> {
        Ok(self.entity_type(ws, entity).await?.kind)
    }

    async fn entity_type(&self, ws: WorkspaceId, entity: &str) -> Result<EntityType, EngineError> {
        self.store
            .entity_type(ws, entity)
            .await?
            .ok_or_else(|| EngineError::Invalid(format!("unknown entity type {entity}")))
    }
}

/// Whether a step due at once may run in its parent's batch: a split, or
/// a server action without a filter whose whole effect is part of the
/// outcome's transaction (a score, a task, a lead, a lead's rep, the
/// participant's end), that follows its parent or its parent's bounce.
/// The rest wait for the queue: a send or a webhook is keyed by its
/// trace's id, which a step written with its parent has only then; a tag,
/// a list or a field is written on its own, so a parent run twice after
/// its lease ran out would write it twice; a filter is a query of its own,
/// and so is the look at the parent's message that a "not opened" step
/// makes when it is claimed.
fn runs_in_parents_batch(a: &Activity, c: &Campaign) -> bool {
    if a.filter.is_some() || !matches!(a.trigger.as_str(), "after_parent" | "bounced") {
        return false;
    }
    match a.kind.as_str() {
        "split" => true,
        "action" => match a.config.get("action").and_then(serde_json::Value::as_str) {
            Some("add_score" | "create_task" | "create_lead" | "end") => true,
            Some("assign_owner") => c.entity == "lead",
            _ => false,
        },
        _ => false,
    }
}

/// Generations of steps that run in their first ancestor's batch at most
/// (see [`Automation::run_due_children`]); deeper ones go through the
/// queue.
const INLINE_DEPTH: usize = 8;

#[derive(Default)]
struct BatchContext {
    campaigns: HashMap<i64, Option<Campaign>>,
    activities: HashMap<i64, Activity>,
    trees: HashMap<i64, Vec<Activity>>,
}

/// For a "not opened" (etc.) branch: what happened that cancels it (the
/// awaited event after all, or a bounce).
fn negative_branch_happened(
    trigger: &str,
    parent_message: Option<i64>,
    engagement: &swell_store::automation::queue::Engagement,
) -> Option<String> {
    let kind = match trigger {
        "not_opened" => "open",
        "not_clicked" | "sms_not_clicked" => "click",
        "not_replied" => "reply",
        _ => return None,
    };
    let kinds = parent_message.and_then(|m| engagement.get(&m));
    let seen = |k: &str| kinds.is_some_and(|kinds| kinds.iter().any(|x| x == k));
    if seen(kind) {
        return Some(format!("parent message {}", past(kind)));
    }
    // A message that bounced never reached the person: not opening (or
    // clicking, or answering) it says nothing of them, and a follow-up to
    // the same address would bounce too.
    seen("bounce").then(|| "parent message bounced".to_string())
}

fn past(kind: &str) -> &'static str {
    match kind {
        "open" => "opened",
        "click" => "clicked",
        "reply" => "replied",
        _ => "bounced",
    }
}

/// The child of a split a participant goes to: shares are weights, and the
/// pick is a hash of the participant, so it is the same on every retry.
fn pick_share<'a>(kids: &[&'a Activity], participant: i64) -> &'a Activity {
    let total: i64 = kids.iter().map(|k| k.share.unwrap_or(1).max(0)).sum();
    if total <= 0 {
        return kids[0];
    }
    // SplitMix64 of the participant id: evenly spread, no state.
    let mut z = (participant as u64).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    let mut roll = (z % total as u64) as i64;
    for k in kids {
        let s = k.share.unwrap_or(1).max(0);
        if roll < s {
            return k;
        }
        roll -= s;
    }
    kids[kids.len() - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn activity(id: i64, share: i64) -> Activity {
        Activity {
            id,
            campaign_id: 1,
            parent_id: Some(0),
            name: format!("a{id}"),
            kind: "action".into(),
            config: serde_json::json!({}),
            trigger: "after_parent".into(),
            delay_ms: 0,
            filter: None,
            validity_ms: None,
            share: Some(share),
            version: 1,
            position: 0,
            deleted_at: None,
        }
    }

    #[test]
    fn a_split_gives_each_child_its_share() {
        let (a, b) = (activity(1, 70), activity(2, 30));
        let kids = [&a, &b];
        let picked_a = (0..10_000)
            .filter(|p| pick_share(&kids, *p).id == 1)
            .count();
        assert!(
            (6_700..7_300).contains(&picked_a),
            "{picked_a} of 10,000 to the 70% child"
        );
        assert_eq!(pick_share(&kids, 42).id, pick_share(&kids, 42).id);
    }
}
