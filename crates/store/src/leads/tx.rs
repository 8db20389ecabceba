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

use std::collections::HashMap;
use std::future::Future;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde_json::{Value, json};
use swell_core::FieldError;
use swell_core::filter::Filter;
use swell_core::hours::WorkingHours;

use super::rules::{self, Rule, rule_from_row};
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

    /// A change-log entry of the lead, which automations trigger on.
    /// A rule of the workspace by id.
    fn rule(
        &mut self,
        ws: i64,
        id: Option<i64>,
    ) -> impl Future<Output = Result<Option<Rule>>> + Send;

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
    ) -> impl Future<Output = Result<(i64, bool)>> + Send;

    fn intake(
        &mut self,
        ws: i64,
        input: &LeadInput,
        now: i64,
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

            async fn link_contact(&mut self, ws: i64, input: &LeadInput, timezone: &str, now: i64) -> Result<(i64, bool)> {
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
                let search: String = [input.name.as_deref(), email, phone]
                    .into_iter().flatten().map(|s| format!("{} ", swell_core::text::fold(s))).collect();
                let id: Option<i64> = sqlx::query_scalar(
                    "INSERT INTO contacts (workspace_id, email, phone, name, timezone, search, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $7) ON CONFLICT DO NOTHING RETURNING id")
                    .bind(ws).bind(email).bind(phone).bind(&input.name).bind(timezone).bind(&search).bind(now)
                    .fetch_optional(&mut **self).await?;
                match id {
                    Some(id) => {
                        let change = json!({"email": [null, email], "phone": [null, phone], "name": [null, input.name]});
                        sqlx::query("INSERT INTO changes (workspace_id, entity, record_id, op, changes, at) VALUES ($1, 'contact', $2, 'create', $3, $4)")
                            .bind(ws).bind(id).bind(sqlx::types::Json(&change)).bind(now).execute(&mut **self).await?;
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
                if let Some(x) = &input.external_id {
                    let sql = format!("SELECT {LEAD_COLUMNS} FROM leads WHERE workspace_id = $1 AND external_id = $2");
                    if let Some(r) = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(ws).bind(x).fetch_optional(&mut **self).await? {
                        return Ok(Intake { lead: lead_from_row(&r), replayed: true, contact_created: false,
                                           created: CreatedParents::default(), warnings: Vec::new() });
                    }
                }
                let (timezone, window_days): (String, i64) =
                    sqlx::query_as("SELECT timezone, lead_duplicate_days FROM workspaces WHERE id = $1")
                        .bind(ws).fetch_one(&mut **self).await?;
                let ad = match &input.ad {
                    Some(key) => Some(self.resolve_ad(ws, key, now).await?),
                    None => None,
                };
                let (contact, contact_created) = self.link_contact(ws, input, &timezone, now).await?;
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
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO leads (workspace_id, external_id, contact_id, name, email, phone, status, source, region, product,
                                        value, data, ad_id, form_id, duplicate_of, owner_id, assigned_at, status_changed_at,
                                        created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, 'new', $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $17, $17)
                     RETURNING id")
                    .bind(ws).bind(&input.external_id).bind(contact).bind(&input.name)
                    .bind(input.email.as_ref().map(|e| e.as_str())).bind(input.phone.as_ref().map(|p| p.as_str()))
                    .bind(&input.source).bind(&input.region).bind(&input.product).bind(input.value)
                    .bind(sqlx::types::Json(&input.data)).bind(ad.as_ref().map(|a| a.ad)).bind(input.form_id)
                    .bind(duplicate_of).bind(owner).bind(owner.map(|_| now)).bind(now)
                    .fetch_one(&mut **self).await?;
                self.history(ws, id, now, None, "created", None, Some("new"), input.source.as_deref()).await?;
                self.log_change(ws, id, json!({"created": true, "status": [null, "new"], "contact_id": [null, contact],
                                              "source": [null, input.source], "ad_id": [null, ad.as_ref().map(|a| a.ad)]}), now).await?;
                let lead = self.lock_lead(ws, id).await?;
                match duplicate_of {
                    Some(first) => {
                        let first = first.to_string();
                        self.history(ws, id, now, None, "duplicate", None, Some(&first),
                                     Some("the same person within the duplicate window: not assigned again")).await?;
                    }
                    None => {
                        self.assign_by_rules(ws, &lead, None, None, now).await?;
                    }
                }
                let lead = self.lock_lead(ws, id).await?;
                Ok(Intake {
                    lead,
                    replayed: false,
                    contact_created,
                    created: ad.as_ref().map(|a| a.created).unwrap_or_default(),
                    warnings: ad.map(|a| a.warnings).unwrap_or_default(),
                })
            }

            async fn assign_by_rules(&mut self, ws: i64, lead: &Lead, exclude: Option<i64>, by: Option<i64>, now: i64) -> Result<Option<i64>> {
                // Everything that does not change under concurrent
                // assignments is read before a rule is locked, so the
                // locked stretch is short: the rules and their filters,
                // the lead's source, who is active and their hours.
                let rules: Vec<Rule> = sqlx::query("SELECT * FROM assignment_rules WHERE workspace_id = $1 AND active ORDER BY position, id")
                    .bind(ws).fetch_all(&mut **self).await?.iter().map(rule_from_row).collect();
                if rules.is_empty() {
                    return Ok(None);
                }
                let source: Option<(i64, i64)> = match lead.ad_id {
                    Some(ad) => sqlx::query_as("SELECT c.id, c.ad_account_id FROM ads a JOIN ad_campaigns c ON c.id = a.ad_campaign_id WHERE a.id = $1")
                        .bind(ad).fetch_optional(&mut **self).await?,
                    None => None,
                };
                let subject = rules::lead_subject(&filter_fields(lead, source));
                let reps: HashMap<i64, (Option<WorkingHours>, Option<i64>)> =
                    sqlx::query("SELECT id, working_hours, lead_cap FROM users WHERE workspace_id = $1 AND active")
                        .bind(ws).fetch_all(&mut **self).await?.iter()
                        .map(|r| {
                            let hours = r.opt_text("working_hours")
                                .and_then(|s| serde_json::from_str::<Value>(&s).ok())
                                .and_then(|v| WorkingHours::from_json(&v).ok());
                            (r.int("id"), (hours, r.opt_int("lead_cap")))
                        })
                        .collect();
                // The turns of the workspace's rules, locked in one order
                // until the lead's transaction ends: the next assignment
                // waits here, then reads the turns this one moves and the
                // open leads it gave (caps hold across rules that share a
                // rep).
                let sql = format!("SELECT id, cursor FROM assignment_rules WHERE workspace_id = $1 AND active ORDER BY position, id{}", $lock);
                let turn: HashMap<i64, i64> = sqlx::query_as::<_, (i64, i64)>(sqlx::AssertSqlSafe(sql))
                    .bind(ws).fetch_all(&mut **self).await?.into_iter().collect();
                // The workspace's time of day, read only when a rule asks.
                let mut here: Option<jiff::Zoned> = None;
                // Open leads of capped reps, counted under the lock.
                let mut open: HashMap<i64, i64> = HashMap::new();
                for rule in &rules {
                    if let Some(text) = &rule.filter {
                        match Filter::parse(text) {
                            Ok(f) if rules::matches(&f, &subject, now) => {}
                            _ => continue,
                        }
                    }
                    let turns = rules::turns(rule.strategy, &rule.reps);
                    let n = turns.len() as i64;
                    if n == 0 {
                        continue;
                    }
                    let Some(&cursor) = turn.get(&rule.id) else { continue };
                    for k in 0..n {
                        let at = (cursor + k).rem_euclid(n);
                        let user = turns[at as usize];
                        let Some((hours, cap)) = reps.get(&user).filter(|_| Some(user) != exclude) else { continue };
                        if let (true, Some(h)) = (rule.working_hours, hours) {
                            if here.is_none() {
                                let tz: String = sqlx::query_scalar("SELECT timezone FROM workspaces WHERE id = $1")
                                    .bind(ws).fetch_one(&mut **self).await?;
                                let zone = TimeZone::get(&tz).unwrap_or(TimeZone::UTC);
                                here = Some(Timestamp::from_millisecond(now).unwrap_or(Timestamp::UNIX_EPOCH).to_zoned(zone));
                            }
                            if !here.as_ref().is_some_and(|t| h.contains(t)) {
                                continue;
                            }
                        }
                        if let Some(cap) = cap {
                            let count = match open.get(&user) {
                                Some(c) => *c,
                                None => {
                                    let sql = format!("SELECT COUNT(*) FROM leads WHERE workspace_id = $1 AND owner_id = $2
                                                       AND duplicate_of IS NULL AND status IN {OPEN}");
                                    let c: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                                        .bind(ws).bind(user).fetch_one(&mut **self).await?;
                                    open.insert(user, c);
                                    c
                                }
                            };
                            if count >= *cap {
                                continue;
                            }
                        }
                        sqlx::query("UPDATE assignment_rules SET cursor = $2 WHERE id = $1")
                            .bind(rule.id).bind((at + 1) % n).execute(&mut **self).await?;
                        self.give_lead(ws, lead, user, Some(rule), by, now).await?;
                        return Ok(Some(user));
                    }
                }
                Ok(None)
            }

            async fn give_lead(&mut self, ws: i64, lead: &Lead, user: i64, rule: Option<&Rule>, by: Option<i64>, now: i64) -> Result<()> {
                sqlx::query("UPDATE leads SET owner_id = $3, assigned_at = $4, rule_id = $5, updated_at = $4 WHERE workspace_id = $1 AND id = $2")
                    .bind(ws).bind(lead.id).bind(user).bind(now).bind(rule.map(|r| r.id)).execute(&mut **self).await?;
                let (kind, from) = match lead.owner_id {
                    Some(prev) => ("reassigned", Some(prev.to_string())),
                    None => ("assigned", None),
                };
                let to = user.to_string();
                let note = rule.map(|r| format!("rule: {}", r.name));
                self.history(ws, lead.id, now, by, kind, from.as_deref(), Some(&to), note.as_deref()).await?;
                let Some(notify) = rule.map(|r| &r.notify) else { return Ok(()) };
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
