//! The steps of taking and handing out a lead, inside a transaction the
//! caller owns: the API's intake, a CSV batch, a campaign step's outcome.
//! Written once and implemented for both backends' transactions by
//! `impl_lead_tx!`; the only difference is the row lock.
//!
//! Fairness under concurrency: assignment locks the workspace's rules
//! (`SELECT ... FOR UPDATE` on PostgreSQL; SQLite's write transaction is
//! already the only writer) before it reads a rule's turn and the reps'
//! open-lead counts, and moves the turn before it commits. What cannot
//! change under a concurrent assignment (the rules' filters, the lead's
//! source, who is active and their hours) is read before the lock, so the
//! locked stretch is a few statements. Two leads
//! arriving at once on two processes therefore take turns one after the
//! other: neither sees the turn the other is about to use, and no cap is
//! overrun by two assignments that each saw room for one more.
//!
//! A [`Seen`] keeps what a transaction has read of a workspace (its zone
//! and duplicate window, the ads it resolved, the rules with their turns
//! and the reps' open leads) for the rest of that transaction, so a batch
//! of leads taken in one transaction reads them once. It is valid only in
//! the transaction that filled it: the rules' lock is held from the first
//! read to the commit, and the turns and counts it keeps are moved as the
//! transaction moves them.

use std::collections::HashMap;
use std::future::Future;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde_json::{Value, json};
use swell_core::FieldError;
use swell_core::filter::Filter;
use swell_core::hours::WorkingHours;

use super::rules::{self, Notify, Rule, rule_from_row};
use super::{CreatedParents, Intake, LEAD_COLUMNS, Lead, LeadInput, lead_from_row};
use crate::reports::AdKey;
use crate::rows::RowExt;
use crate::{Result, StoreError};

/// A lead's source ad with its parents, and what intake learnt of them.
pub(crate) struct ResolvedAd {
    pub ad: i64,
    pub created: CreatedParents,
    pub warnings: Vec<String>,
}

/// Open leads: what a rep's cap counts.
const OPEN: &str = "('new', 'contacted', 'qualified')";

/// What one transaction has read of one workspace for taking and
/// assigning leads (see the module's note).
#[derive(Default)]
pub(crate) struct Seen {
    /// The zone and the duplicate window in days.
    workspace: Option<(String, i64)>,
    /// Ads resolved so far: the id and the warnings of switched-off levels.
    ads: HashMap<AdKey, (i64, Vec<String>)>,
    assign: Option<Assigning>,
    /// Rows written at [`LeadTx::flush`], many in one statement: the
    /// leads' history, the change log, the rules' moved turns.
    history: Vec<HistoryRow>,
    changes: Vec<ChangeRow>,
    turns: HashMap<i64, i64>,
}

pub(crate) struct HistoryRow {
    ws: i64,
    lead: i64,
    at: i64,
    user: Option<i64>,
    kind: &'static str,
    from: Option<String>,
    to: Option<String>,
    note: Option<String>,
}

struct ChangeRow {
    ws: i64,
    entity: &'static str,
    record: i64,
    op: &'static str,
    changes: Value,
    at: i64,
}

impl Seen {
    fn change(
        &mut self,
        ws: i64,
        entity: &'static str,
        record: i64,
        op: &'static str,
        changes: Value,
        at: i64,
    ) {
        self.changes.push(ChangeRow {
            ws,
            entity,
            record,
            op,
            changes,
            at,
        });
    }
}

/// The most rows one multi-row INSERT writes (8 parameters a history row:
/// far below either backend's limit on parameters).
const ROWS_PER_INSERT: usize = 500;

/// The rules and reps as assignment reads them, under the rules' lock.
struct Assigning {
    /// Active rules in order, each with its parsed filter (None: every
    /// lead; Some(None): a filter that no longer reads, which takes none)
    /// and its round of turns.
    rules: Vec<(Rule, Option<Option<Filter>>, Vec<i64>)>,
    /// Active users: their working hours and cap.
    reps: HashMap<i64, (Option<WorkingHours>, Option<i64>)>,
    /// Each rule's next turn.
    turn: HashMap<i64, i64>,
    /// Open leads of capped reps, counted when first asked.
    open: HashMap<i64, i64>,
    /// An ad's campaign and account, for rule filters on the source.
    sources: HashMap<i64, Option<(i64, i64)>>,
    /// The workspace's zone, for working hours.
    zone: Option<TimeZone>,
}

pub(crate) trait LeadTx {
    /// The lead, locked until the transaction ends (PostgreSQL).
    fn lock_lead(&mut self, ws: i64, id: i64) -> impl Future<Output = Result<Lead>> + Send;

    #[allow(clippy::too_many_arguments)]
    fn history(
        &mut self,
        ws: i64,
        lead: i64,
        at: i64,
        user: Option<i64>,
        kind: &str,
        from: Option<&str>,
        to: Option<&str>,
        note: Option<&str>,
    ) -> impl Future<Output = Result<i64>> + Send;

    /// A rule of the workspace by id.
    fn rule(
        &mut self,
        ws: i64,
        id: Option<i64>,
    ) -> impl Future<Output = Result<Option<Rule>>> + Send;

    /// A change-log entry of the lead, which automations trigger on.
    fn log_change(
        &mut self,
        ws: i64,
        lead: i64,
        changes: Value,
        at: i64,
    ) -> impl Future<Output = Result<()>> + Send;

    fn resolve_ad(
        &mut self,
        ws: i64,
        key: &AdKey,
        now: i64,
    ) -> impl Future<Output = Result<ResolvedAd>> + Send;

    /// The contact with the lead's e-mail or phone, or a new one; true
    /// when made now.
    fn link_contact(
        &mut self,
        ws: i64,
        input: &LeadInput,
        timezone: &str,
        now: i64,
        seen: &mut Seen,
    ) -> impl Future<Output = Result<(i64, bool)>> + Send;

    fn intake(
        &mut self,
        ws: i64,
        input: &LeadInput,
        now: i64,
    ) -> impl Future<Output = Result<Intake>> + Send;

    /// [`LeadTx::intake`], with what this transaction has already read of
    /// the workspace in `seen` (a batch of leads in one transaction).
    fn intake_seen(
        &mut self,
        ws: i64,
        input: &LeadInput,
        now: i64,
        seen: &mut Seen,
    ) -> impl Future<Output = Result<Intake>> + Send;

    /// Gives the lead to the next eligible rep of the first rule that
    /// takes it, `exclude` left out (the rep who has it, when it is
    /// reassigned); `by` is who asked (None: Swell). Returns the rep.
    fn assign_by_rules(
        &mut self,
        ws: i64,
        lead: &Lead,
        exclude: Option<i64>,
        by: Option<i64>,
        now: i64,
    ) -> impl Future<Output = Result<Option<i64>>> + Send;

    /// [`LeadTx::assign_by_rules`] with `seen`; returns the rep and the
    /// rule that gave the lead.
    #[allow(clippy::too_many_arguments)]
    fn assign_seen(
        &mut self,
        ws: i64,
        lead: &Lead,
        exclude: Option<i64>,
        by: Option<i64>,
        now: i64,
        seen: &mut Seen,
    ) -> impl Future<Output = Result<Option<(i64, i64)>>> + Send;

    /// Writes what `seen` holds back (history, change log, turns); a
    /// transaction that took leads with a [`Seen`] calls it before it
    /// commits.
    fn flush(&mut self, seen: &mut Seen) -> impl Future<Output = Result<()>> + Send;

    /// [`LeadTx::give_lead`], its history row kept in `history` (a
    /// [`Seen`]'s, written at its flush).
    #[allow(clippy::too_many_arguments)]
    fn give_lead_seen(
        &mut self,
        ws: i64,
        lead: &Lead,
        user: i64,
        rule: Option<&Rule>,
        by: Option<i64>,
        now: i64,
        history: &mut Vec<HistoryRow>,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Makes `user` the lead's owner: history, and the notices and task
    /// of `rule` (the one that assigned it, if any).
    fn give_lead(
        &mut self,
        ws: i64,
        lead: &Lead,
        user: i64,
        rule: Option<&Rule>,
        by: Option<i64>,
        now: i64,
    ) -> impl Future<Output = Result<()>> + Send;
}

fn warn_off(what: &str, name: &str, on: bool, out: &mut Vec<String>) {
    if !on {
        out.push(format!(
            "{what} '{name}' is switched off; the lead is counted to it all the same"
        ));
    }
}

/// The lead as rule filters see it: its fields and its source.
fn filter_fields(lead: &Lead, ad: Option<(i64, i64)>) -> Value {
    let mut v = json!({
        "id": lead.id, "name": lead.name, "email": lead.email, "phone": lead.phone, "status": lead.status,
        "source": lead.source, "region": lead.region, "product": lead.product, "value": lead.value,
        "external_id": lead.external_id, "contact_id": lead.contact_id, "ad_id": lead.ad_id, "form_id": lead.form_id,
    });
    if let Some((campaign, account)) = ad {
        v["ad_campaign_id"] = json!(campaign);
        v["ad_account_id"] = json!(account);
    }
    v
}

macro_rules! impl_lead_tx {
    ($db:ty, $lock:literal) => {
        impl<'c> LeadTx for sqlx::Transaction<'c, $db> {
            async fn lock_lead(&mut self, ws: i64, id: i64) -> Result<Lead> {
                let sql = format!("SELECT {LEAD_COLUMNS} FROM leads WHERE workspace_id = $1 AND id = $2{}", $lock);
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(ws).bind(id).fetch_optional(&mut **self).await?
                    .map(|r| lead_from_row(&r)).ok_or(StoreError::NotFound)
            }

            async fn history(
                &mut self, ws: i64, lead: i64, at: i64, user: Option<i64>, kind: &str,
                from: Option<&str>, to: Option<&str>, note: Option<&str>,
            ) -> Result<i64> {
                Ok(sqlx::query_scalar(
                    "INSERT INTO lead_history (workspace_id, lead_id, at, user_id, kind, from_value, to_value, note)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id")
                    .bind(ws).bind(lead).bind(at).bind(user).bind(kind).bind(from).bind(to).bind(note)
                    .fetch_one(&mut **self).await?)
            }

            async fn rule(&mut self, ws: i64, id: Option<i64>) -> Result<Option<Rule>> {
                let Some(id) = id else { return Ok(None) };
                Ok(sqlx::query("SELECT * FROM assignment_rules WHERE workspace_id = $1 AND id = $2").bind(ws).bind(id)
                    .fetch_optional(&mut **self).await?.map(|r| rule_from_row(&r)))
            }

            async fn log_change(&mut self, ws: i64, lead: i64, changes: Value, at: i64) -> Result<()> {
                let op = if changes.get("created").is_some() { "create" } else { "update" };
                let changes = match changes { Value::Object(mut m) => { m.remove("created"); Value::Object(m) } v => v };
                sqlx::query("INSERT INTO changes (workspace_id, entity, record_id, op, changes, at) VALUES ($1, 'lead', $2, $3, $4, $5)")
                    .bind(ws).bind(lead).bind(op).bind(sqlx::types::Json(&changes)).bind(at)
                    .execute(&mut **self).await?;
                Ok(())
            }

            async fn resolve_ad(&mut self, ws: i64, key: &AdKey, now: i64) -> Result<ResolvedAd> {
                const FLAGS: &str = "SELECT a.id, a.name AS ad_name, a.active AS ad_on, c.name AS campaign_name,
                        c.active AS campaign_on, x.account_id, x.running
                     FROM ads a JOIN ad_campaigns c ON c.id = a.ad_campaign_id JOIN ad_accounts x ON x.id = c.ad_account_id";
                let mut created = CreatedParents::default();
                // Most leads name an ad that exists: one lookup finds it
                // with its parents' flags.
                let found = match key {
                    AdKey::Id(id) => sqlx::query(sqlx::AssertSqlSafe(format!("{FLAGS} WHERE a.workspace_id = $1 AND a.id = $2")))
                        .bind(ws).bind(id).fetch_optional(&mut **self).await?,
                    AdKey::Names { platform, account_id, campaign, ad } => sqlx::query(sqlx::AssertSqlSafe(format!(
                        "{FLAGS} WHERE x.workspace_id = $1 AND x.platform = $2 AND x.account_id = $3 AND c.name = $4 AND a.name = $5")))
                        .bind(ws).bind(platform.as_deref().unwrap_or("facebook")).bind(account_id).bind(campaign).bind(ad)
                        .fetch_optional(&mut **self).await?,
                };
                let flags = match (found, key) {
                    (Some(row), _) => row,
                    (None, AdKey::Id(id)) => {
                        return Err(StoreError::Invalid(vec![FieldError::new("ad_id", format!("ad {id} not found"))]));
                    }
                    (None, AdKey::Names { platform, account_id, campaign, ad }) => {
                        // Each missing level is made; ON CONFLICT lets a
                        // concurrent intake that made it first win, and
                        // the SELECT after finds whichever row stands.
                        let platform = platform.as_deref().unwrap_or("facebook");
                        let made = sqlx::query("INSERT INTO ad_accounts (workspace_id, platform, account_id, running, created_at)
                                                VALUES ($1, $2, $3, TRUE, $4) ON CONFLICT DO NOTHING")
                            .bind(ws).bind(platform).bind(account_id).bind(now).execute(&mut **self).await?.rows_affected();
                        created.account = made > 0;
                        let account: i64 = sqlx::query_scalar("SELECT id FROM ad_accounts WHERE workspace_id = $1 AND platform = $2 AND account_id = $3")
                            .bind(ws).bind(platform).bind(account_id).fetch_one(&mut **self).await?;
                        let made = sqlx::query("INSERT INTO ad_campaigns (workspace_id, ad_account_id, name, active, created_at)
                                                VALUES ($1, $2, $3, TRUE, $4) ON CONFLICT DO NOTHING")
                            .bind(ws).bind(account).bind(campaign).bind(now).execute(&mut **self).await?.rows_affected();
                        created.campaign = made > 0;
                        let camp: i64 = sqlx::query_scalar("SELECT id FROM ad_campaigns WHERE ad_account_id = $1 AND name = $2")
                            .bind(account).bind(campaign).fetch_one(&mut **self).await?;
                        let made = sqlx::query("INSERT INTO ads (workspace_id, ad_campaign_id, name, active, created_at)
                                                VALUES ($1, $2, $3, TRUE, $4) ON CONFLICT DO NOTHING")
                            .bind(ws).bind(camp).bind(ad).bind(now).execute(&mut **self).await?.rows_affected();
                        created.ad = made > 0;
                        sqlx::query(sqlx::AssertSqlSafe(format!("{FLAGS} WHERE a.ad_campaign_id = $1 AND a.name = $2")))
                            .bind(camp).bind(ad).fetch_one(&mut **self).await?
                    }
                };
                let mut warnings = Vec::new();
                warn_off("ad account", &flags.text("account_id"), flags.boolean("running"), &mut warnings);
                warn_off("ad campaign", &flags.text("campaign_name"), flags.boolean("campaign_on"), &mut warnings);
                warn_off("ad", &flags.text("ad_name"), flags.boolean("ad_on"), &mut warnings);
                Ok(ResolvedAd { ad: flags.int("id"), created, warnings })
            }

            async fn link_contact(&mut self, ws: i64, input: &LeadInput, timezone: &str, now: i64, seen: &mut Seen) -> Result<(i64, bool)> {
                let email = input.email.as_ref().map(|e| e.as_str());
                let phone = input.phone.as_ref().map(|p| p.as_str());
                // Either finds the person; the e-mail is asked first, as
                // the contacts import does.
                for (col, v) in [("email", email), ("phone", phone)] {
                    let Some(v) = v else { continue };
                    let sql = format!("SELECT id FROM contacts WHERE workspace_id = $1 AND {col} = $2");
                    let found: Option<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                        .bind(ws).bind(v).fetch_optional(&mut **self).await?;
                    if let Some(id) = found {
                        return Ok((id, false));
                    }
                }
                let search = swell_core::contact::search_text_of(input.name.as_deref(), [email, phone, None]);
                let id: Option<i64> = sqlx::query_scalar(
                    "INSERT INTO contacts (workspace_id, email, phone, name, timezone, search, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $7) ON CONFLICT DO NOTHING RETURNING id")
                    .bind(ws).bind(email).bind(phone).bind(&input.name).bind(timezone).bind(&search).bind(now)
                    .fetch_optional(&mut **self).await?;
                match id {
                    Some(id) => {
                        let change = json!({"email": [null, email], "phone": [null, phone], "name": [null, input.name]});
                        seen.change(ws, "contact", id, "create", change, now);
                        Ok((id, true))
                    }
                    // Made by a concurrent intake since we looked.
                    None => {
                        let id: i64 = sqlx::query_scalar("SELECT id FROM contacts WHERE workspace_id = $1 AND (email = $2 OR phone = $3) ORDER BY id LIMIT 1")
                            .bind(ws).bind(email).bind(phone).fetch_one(&mut **self).await?;
                        Ok((id, false))
                    }
                }
            }

            async fn intake(&mut self, ws: i64, input: &LeadInput, now: i64) -> Result<Intake> {
                let mut seen = Seen::default();
                let out = self.intake_seen(ws, input, now, &mut seen).await?;
                self.flush(&mut seen).await?;
                Ok(out)
            }

            async fn intake_seen(&mut self, ws: i64, input: &LeadInput, now: i64, seen: &mut Seen) -> Result<Intake> {
                if let Some(x) = &input.external_id {
                    let sql = format!("SELECT {LEAD_COLUMNS} FROM leads WHERE workspace_id = $1 AND external_id = $2");
                    if let Some(r) = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(ws).bind(x).fetch_optional(&mut **self).await? {
                        return Ok(Intake { lead: lead_from_row(&r), replayed: true, contact_created: false,
                                           created: CreatedParents::default(), warnings: Vec::new() });
                    }
                }
                let (timezone, window_days) = match &seen.workspace {
                    Some(w) => w.clone(),
                    None => {
                        let w: (String, i64) = sqlx::query_as("SELECT timezone, lead_duplicate_days FROM workspaces WHERE id = $1")
                            .bind(ws).fetch_one(&mut **self).await?;
                        seen.workspace.insert(w).clone()
                    }
                };
                let ad = match &input.ad {
                    None => None,
                    Some(key) => match seen.ads.get(key) {
                        Some((ad, warnings)) => Some(ResolvedAd { ad: *ad, created: CreatedParents::default(), warnings: warnings.clone() }),
                        None => {
                            let resolved = self.resolve_ad(ws, key, now).await?;
                            seen.ads.insert(key.clone(), (resolved.ad, resolved.warnings.clone()));
                            Some(resolved)
                        }
                    },
                };
                let (contact, contact_created) = self.link_contact(ws, input, &timezone, now, seen).await?;
                // A repeat: the person's first lead within the window.
                let first: Option<(i64, Option<i64>)> = if contact_created || window_days == 0 {
                    None
                } else {
                    sqlx::query_as(
                        "SELECT id, owner_id FROM leads WHERE workspace_id = $1 AND contact_id = $2 AND duplicate_of IS NULL
                           AND created_at >= $3 ORDER BY id LIMIT 1")
                        .bind(ws).bind(contact).bind(now - window_days * 86_400_000)
                        .fetch_optional(&mut **self).await?
                };
                let (duplicate_of, owner) = match first { Some((id, owner)) => (Some(id), owner), None => (None, None) };
                let ad_id = ad.as_ref().map(|a| a.ad);
                let data = Value::Object(input.data.clone());
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO leads (workspace_id, external_id, contact_id, name, email, phone, status, source, region, product,
                                        value, data, ad_id, form_id, duplicate_of, owner_id, assigned_at, status_changed_at,
                                        created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, 'new', $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $17, $17)
                     RETURNING id")
                    .bind(ws).bind(&input.external_id).bind(contact).bind(&input.name)
                    .bind(input.email.as_ref().map(|e| e.as_str())).bind(input.phone.as_ref().map(|p| p.as_str()))
                    .bind(&input.source).bind(&input.region).bind(&input.product).bind(input.value)
                    .bind(sqlx::types::Json(&data)).bind(ad_id).bind(input.form_id)
                    .bind(duplicate_of).bind(owner).bind(owner.map(|_| now)).bind(now)
                    .fetch_one(&mut **self).await?;
                seen.history.push(HistoryRow { ws, lead: id, at: now, user: None, kind: "created", from: None,
                                               to: Some("new".into()), note: input.source.clone() });
                seen.change(ws, "lead", id, "create", json!({"status": [null, "new"], "contact_id": [null, contact],
                                                             "source": [null, input.source], "ad_id": [null, ad_id]}), now);
                // The row just written, as a read would give it back.
                let mut lead = Lead {
                    id,
                    external_id: input.external_id.clone(),
                    contact_id: Some(contact),
                    name: input.name.clone(),
                    email: input.email.as_ref().map(|e| e.as_str().to_string()),
                    phone: input.phone.as_ref().map(|p| p.as_str().to_string()),
                    status: "new".into(),
                    source: input.source.clone(),
                    region: input.region.clone(),
                    product: input.product.clone(),
                    value: input.value,
                    data,
                    ad_id,
                    form_id: input.form_id,
                    owner_id: owner,
                    rule_id: None,
                    assigned_at: owner.map(|_| now),
                    first_contacted_at: None,
                    status_changed_at: Some(now),
                    lost_reason: None,
                    order_id: None,
                    duplicate_of,
                    created_at: now,
                    updated_at: now,
                };
                match duplicate_of {
                    Some(first) => {
                        seen.history.push(HistoryRow {
                            ws, lead: id, at: now, user: None, kind: "duplicate", from: None, to: Some(first.to_string()),
                            note: Some("the same person within the duplicate window: not assigned again".into()),
                        });
                    }
                    None => {
                        if let Some((user, rule)) = self.assign_seen(ws, &lead, None, None, now, seen).await? {
                            lead.owner_id = Some(user);
                            lead.rule_id = Some(rule);
                            lead.assigned_at = Some(now);
                        }
                    }
                }
                Ok(Intake {
                    lead,
                    replayed: false,
                    contact_created,
                    created: ad.as_ref().map(|a| a.created).unwrap_or_default(),
                    warnings: ad.map(|a| a.warnings).unwrap_or_default(),
                })
            }

            async fn assign_by_rules(&mut self, ws: i64, lead: &Lead, exclude: Option<i64>, by: Option<i64>, now: i64) -> Result<Option<i64>> {
                let mut seen = Seen::default();
                let out = self.assign_seen(ws, lead, exclude, by, now, &mut seen).await?;
                self.flush(&mut seen).await?;
                Ok(out.map(|(user, _)| user))
            }

            async fn assign_seen(&mut self, ws: i64, lead: &Lead, exclude: Option<i64>, by: Option<i64>, now: i64, seen: &mut Seen)
                -> Result<Option<(i64, i64)>> {
                if seen.assign.is_none() {
                    // Everything that does not change under concurrent
                    // assignments is read before a rule is locked, so the
                    // locked stretch is short: the rules and their
                    // filters, who is active and their hours.
                    let rules: Vec<Rule> = sqlx::query("SELECT * FROM assignment_rules WHERE workspace_id = $1 AND active ORDER BY position, id")
                        .bind(ws).fetch_all(&mut **self).await?.iter().map(rule_from_row).collect();
                    let rules: Vec<_> = rules.into_iter().map(|rule| {
                        let filter = rule.filter.as_deref().map(|text| Filter::parse(text).ok());
                        let turns = rules::turns(rule.strategy, &rule.reps);
                        (rule, filter, turns)
                    }).collect();
                    let mut turn = HashMap::new();
                    let mut reps = HashMap::new();
                    if !rules.is_empty() {
                        reps = sqlx::query("SELECT id, working_hours, lead_cap FROM users WHERE workspace_id = $1 AND active")
                            .bind(ws).fetch_all(&mut **self).await?.iter()
                            .map(|r| {
                                let hours = r.opt_text("working_hours")
                                    .and_then(|s| serde_json::from_str::<Value>(&s).ok())
                                    .and_then(|v| WorkingHours::from_json(&v).ok());
                                (r.int("id"), (hours, r.opt_int("lead_cap")))
                            })
                            .collect();
                        // The turns of the workspace's rules, locked in one
                        // order until the transaction ends: the next
                        // assignment waits here, then reads the turns this
                        // one moves and the open leads it gave (caps hold
                        // across rules that share a rep).
                        let sql = format!("SELECT id, cursor FROM assignment_rules WHERE workspace_id = $1 AND active ORDER BY position, id{}", $lock);
                        turn = sqlx::query_as::<_, (i64, i64)>(sqlx::AssertSqlSafe(sql))
                            .bind(ws).fetch_all(&mut **self).await?.into_iter().collect();
                    }
                    seen.assign = Some(Assigning { rules, reps, turn, open: HashMap::new(), sources: HashMap::new(), zone: None });
                }
                let Some(a) = seen.assign.as_mut() else { return Ok(None) };
                if a.rules.is_empty() {
                    return Ok(None);
                }
                let source = match lead.ad_id {
                    None => None,
                    Some(ad) => match a.sources.get(&ad) {
                        Some(s) => *s,
                        None => {
                            let s: Option<(i64, i64)> = sqlx::query_as(
                                "SELECT c.id, c.ad_account_id FROM ads a JOIN ad_campaigns c ON c.id = a.ad_campaign_id WHERE a.id = $1")
                                .bind(ad).fetch_optional(&mut **self).await?;
                            a.sources.insert(ad, s);
                            s
                        }
                    },
                };
                let subject = rules::lead_subject(&filter_fields(lead, source));
                for (rule, filter, turns) in &a.rules {
                    match filter {
                        None => {}
                        Some(Some(f)) if rules::matches(f, &subject, now) => {}
                        Some(_) => continue,
                    }
                    let n = turns.len() as i64;
                    if n == 0 {
                        continue;
                    }
                    let Some(&cursor) = a.turn.get(&rule.id) else { continue };
                    for k in 0..n {
                        let at = (cursor + k).rem_euclid(n);
                        let user = turns[at as usize];
                        let Some((hours, cap)) = a.reps.get(&user).filter(|_| Some(user) != exclude) else { continue };
                        if let (true, Some(h)) = (rule.working_hours, hours) {
                            if a.zone.is_none() {
                                let tz: String = sqlx::query_scalar("SELECT timezone FROM workspaces WHERE id = $1")
                                    .bind(ws).fetch_one(&mut **self).await?;
                                a.zone = Some(TimeZone::get(&tz).unwrap_or(TimeZone::UTC));
                            }
                            let zone = a.zone.clone().unwrap_or(TimeZone::UTC);
                            let here = Timestamp::from_millisecond(now).unwrap_or(Timestamp::UNIX_EPOCH).to_zoned(zone);
                            if !h.contains(&here) {
                                continue;
                            }
                        }
                        if let Some(cap) = cap {
                            let count = match a.open.get(&user) {
                                Some(c) => *c,
                                None => {
                                    let sql = format!("SELECT COUNT(*) FROM leads WHERE workspace_id = $1 AND owner_id = $2
                                                       AND duplicate_of IS NULL AND status IN {OPEN}");
                                    let c: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                                        .bind(ws).bind(user).fetch_one(&mut **self).await?;
                                    a.open.insert(user, c);
                                    c
                                }
                            };
                            if count >= *cap {
                                continue;
                            }
                        }
                        a.turn.insert(rule.id, (at + 1) % n);
                        seen.turns.insert(rule.id, (at + 1) % n);
                        // The open leads move with the lead (an open one:
                        // only open leads are assigned).
                        if let Some(c) = a.open.get_mut(&user) {
                            *c += 1;
                        }
                        if let Some(c) = lead.owner_id.and_then(|prev| a.open.get_mut(&prev)) {
                            *c -= 1;
                        }
                        self.give_lead_seen(ws, lead, user, Some(rule), by, now, &mut seen.history).await?;
                        return Ok(Some((user, rule.id)));
                    }
                }
                Ok(None)
            }

            async fn give_lead(&mut self, ws: i64, lead: &Lead, user: i64, rule: Option<&Rule>, by: Option<i64>, now: i64) -> Result<()> {
                let mut seen = Seen::default();
                self.give_lead_seen(ws, lead, user, rule, by, now, &mut seen.history).await?;
                self.flush(&mut seen).await
            }

            async fn flush(&mut self, seen: &mut Seen) -> Result<()> {
                for rows in seen.history.chunks(ROWS_PER_INSERT) {
                    let mut q = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO lead_history (workspace_id, lead_id, at, user_id, kind, from_value, to_value, note) ");
                    q.push_values(rows, |mut b, h| {
                        b.push_bind(h.ws).push_bind(h.lead).push_bind(h.at).push_bind(h.user).push_bind(h.kind)
                            .push_bind(h.from.clone()).push_bind(h.to.clone()).push_bind(h.note.clone());
                    });
                    q.build().persistent(false).execute(&mut **self).await?;
                }
                seen.history.clear();
                for rows in seen.changes.chunks(ROWS_PER_INSERT) {
                    let mut q = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO changes (workspace_id, entity, record_id, op, changes, at) ");
                    q.push_values(rows, |mut b, c| {
                        b.push_bind(c.ws).push_bind(c.entity).push_bind(c.record).push_bind(c.op)
                            .push_bind(sqlx::types::Json(c.changes.clone())).push_bind(c.at);
                    });
                    q.build().persistent(false).execute(&mut **self).await?;
                }
                seen.changes.clear();
                for (rule, cursor) in seen.turns.drain() {
                    sqlx::query("UPDATE assignment_rules SET cursor = $2 WHERE id = $1")
                        .bind(rule).bind(cursor).execute(&mut **self).await?;
                }
                Ok(())
            }

            async fn give_lead_seen(&mut self, ws: i64, lead: &Lead, user: i64, rule: Option<&Rule>, by: Option<i64>, now: i64,
                                    history: &mut Vec<HistoryRow>) -> Result<()> {
                sqlx::query("UPDATE leads SET owner_id = $3, assigned_at = $4, rule_id = $5, updated_at = $4 WHERE workspace_id = $1 AND id = $2")
                    .bind(ws).bind(lead.id).bind(user).bind(now).bind(rule.map(|r| r.id)).execute(&mut **self).await?;
                let (kind, from) = match lead.owner_id {
                    Some(prev) => ("reassigned", Some(prev.to_string())),
                    None => ("assigned", None),
                };
                let note = rule.map(|r| format!("rule: {}", r.name));
                history.push(HistoryRow { ws, lead: lead.id, at: now, user: by, kind, from, to: Some(user.to_string()), note });
                // The rule's notices; a lead no rule gave has the
                // workspace's.
                let notify = match rule {
                    Some(r) => r.notify.clone(),
                    None => {
                        let text: String = sqlx::query_scalar("SELECT lead_notify FROM workspaces WHERE id = $1")
                            .bind(ws).fetch_one(&mut **self).await?;
                        Notify::from_stored(&serde_json::from_str(&text).unwrap_or_default())
                    }
                };
                if notify.webhook.is_none() && !notify.email && !notify.task {
                    return Ok(());
                }
                let rep = sqlx::query("SELECT name, email FROM users WHERE id = $1").bind(user).fetch_one(&mut **self).await?;
                let (rep_name, rep_email) = (rep.text("name"), rep.text("email"));
                let current = self.lock_lead(ws, lead.id).await?;
                let payload = json!({
                    "event": if kind == "assigned" { "lead.assigned" } else { "lead.reassigned" },
                    "lead": current,
                    "rep": {"id": user, "name": rep_name, "email": rep_email},
                    "previous_rep": lead.owner_id,
                });
                let mut notices: Vec<(&str, String, Option<String>)> = Vec::new();
                if let Some(url) = &notify.webhook {
                    notices.push(("webhook", url.clone(), notify.secret.clone()));
                }
                if notify.email {
                    notices.push(("email", rep_email.clone(), None));
                }
                for (channel, target, secret) in notices {
                    sqlx::query(
                        "INSERT INTO lead_notices (workspace_id, lead_id, user_id, channel, target, secret, payload, due_at, created_at)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)")
                        .bind(ws).bind(lead.id).bind(user).bind(channel).bind(&target).bind(&secret)
                        .bind(sqlx::types::Json(&payload)).bind(now).execute(&mut **self).await?;
                }
                if notify.task {
                    let who = current.name.clone().or(current.phone.clone()).or(current.email.clone()).unwrap_or_default();
                    sqlx::query(
                        "INSERT INTO tasks (workspace_id, contact_id, owner, title, note, due_at, lead_id, created_at)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
                        .bind(ws).bind(current.contact_id).bind(&rep_email).bind(format!("Call new lead {who}"))
                        .bind(current.phone.clone()).bind(now + 3_600_000).bind(lead.id).bind(now)
                        .execute(&mut **self).await?;
                }
                Ok(())
            }
        }
    };
}

impl_lead_tx!(sqlx::Sqlite, "");
impl_lead_tx!(sqlx::Postgres, " FOR UPDATE");
