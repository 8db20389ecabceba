//! How records get into campaigns: a manual launch, changes to records
//! (created, updated, a field going from one value to another), an inbound
//! webhook, and recurring schedules evaluated in each contact's zone.

use std::collections::HashMap;

use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use serde_json::{Map, Value};
use swell_core::contact::{ContactInput, ParseContext};
use swell_core::entity::EntityKind;
use swell_core::filter::{Expr, Filter};
use swell_core::record::RecordInput;
use swell_store::automation::Campaign;
use swell_store::automation::queue::{ChangeRow, Entry};
use swell_store::contacts::{ContactWrite, Target};
use swell_store::records::RecordWrite;
use swell_store::{StoreError, WorkspaceId};

use super::{Automation, EngineError};

/// Records looked at per round of a trigger.
const CHUNK: u32 = 1000;

/// Participants from which a launch refreshes the queue's statistics.
const LARGE_LAUNCH: u64 = 10_000;

/// A campaign's entry trigger, parsed from its JSON.
#[derive(Debug, Clone, PartialEq)]
pub enum TriggerSpec {
    /// Everyone matching when launched.
    Manual,
    Created,
    /// An update touching one of `fields` (any field when empty); with
    /// `from` / `to`, the first field must go from / to those values.
    Updated {
        fields: Vec<String>,
        from: Option<Value>,
        to: Option<Value>,
    },
    CreatedOrUpdated {
        fields: Vec<String>,
    },
    /// `POST /hooks/{secret}` with the record as JSON.
    Webhook,
    /// A cron expression, run in each contact's own zone.
    Recurring {
        cron: String,
    },
    /// Yearly on a date field (`birthday`, `attr.KEY`), `days_before` it,
    /// at a local time.
    Anniversary {
        field: String,
        days_before: i64,
        at: Time,
    },
}

impl TriggerSpec {
    /// Reads `{"kind": ..., ...}`; the error says what is wrong.
    pub fn parse(v: &Value) -> Result<TriggerSpec, String> {
        let kind = v
            .get("kind")
            .and_then(Value::as_str)
            .ok_or("trigger.kind is required")?;
        let fields = || -> Result<Vec<String>, String> {
            match v.get("fields") {
                None | Some(Value::Null) => Ok(Vec::new()),
                Some(Value::Array(a)) => a
                    .iter()
                    .map(|f| {
                        f.as_str()
                            .map(str::to_string)
                            .ok_or("trigger.fields must be a list of field names".to_string())
                    })
                    .collect(),
                Some(_) => Err("trigger.fields must be a list of field names".into()),
            }
        };
        Ok(match kind {
            "manual" => TriggerSpec::Manual,
            "created" => TriggerSpec::Created,
            "updated" => {
                let fields = fields()?;
                let (from, to) = (v.get("from").cloned(), v.get("to").cloned());
                if (from.is_some() || to.is_some()) && fields.is_empty() {
                    return Err(
                        "trigger.from and trigger.to need trigger.fields to name the field".into(),
                    );
                }
                TriggerSpec::Updated { fields, from, to }
            }
            "created_or_updated" => TriggerSpec::CreatedOrUpdated { fields: fields()? },
            "webhook" => TriggerSpec::Webhook,
            "recurring" => {
                let cron = match (
                    v.get("cron").and_then(Value::as_str),
                    v.get("every").and_then(Value::as_str),
                ) {
                    (Some(c), _) => c.to_string(),
                    (None, Some(every)) => every_to_cron(every, v)?,
                    (None, None) => return Err("a recurring trigger needs cron or every".into()),
                };
                cron.parse::<croner::Cron>()
                    .map_err(|e| format!("trigger.cron {cron:?}: {e}"))?;
                TriggerSpec::Recurring { cron }
            }
            "anniversary" => {
                let field = v
                    .get("field")
                    .and_then(Value::as_str)
                    .ok_or("an anniversary trigger needs field (birthday or attr.KEY)")?
                    .to_string();
                if field != "birthday"
                    && !field
                        .strip_prefix("attr.")
                        .is_some_and(swell_core::filter::is_ident)
                {
                    return Err(format!(
                        "trigger.field {field:?}: must be birthday or attr.KEY"
                    ));
                }
                let days_before = v.get("days_before").and_then(Value::as_i64).unwrap_or(0);
                if !(0..=365).contains(&days_before) {
                    return Err("trigger.days_before must be between 0 and 365".into());
                }
                TriggerSpec::Anniversary {
                    field,
                    days_before,
                    at: parse_at(v)?,
                }
            }
            other => return Err(format!("unknown trigger kind {other:?}")),
        })
    }

    /// Whether a change lets its record in.
    fn matches(&self, change: &ChangeRow) -> bool {
        let touches = |fields: &[String]| {
            fields.is_empty() || fields.iter().any(|f| change.changes.get(f).is_some())
        };
        match self {
            TriggerSpec::Created => change.op == "create",
            TriggerSpec::CreatedOrUpdated { fields } => {
                change.op == "create" || (change.op == "update" && touches(fields))
            }
            TriggerSpec::Updated { fields, from, to } => {
                if change.op != "update" || !touches(fields) {
                    return false;
                }
                let Some(pair) = fields.first().and_then(|f| change.changes.get(f)) else {
                    return from.is_none() && to.is_none();
                };
                let same = |want: &Option<Value>, got: Option<&Value>| match want {
                    None => true,
                    Some(w) => got.is_some_and(|g| loosely_equal(w, g)),
                };
                same(from, pair.get(0)) && same(to, pair.get(1))
            }
            _ => false,
        }
    }

    fn watches_changes(&self) -> bool {
        matches!(
            self,
            TriggerSpec::Created
                | TriggerSpec::Updated { .. }
                | TriggerSpec::CreatedOrUpdated { .. }
        )
    }
}

/// "month" + day 1 + at 09:00 -> `0 9 1 * *`.
fn every_to_cron(every: &str, v: &Value) -> Result<String, String> {
    let at = parse_at(v)?;
    let (h, m) = (at.hour(), at.minute());
    let day = v.get("day").and_then(Value::as_i64);
    Ok(match every {
        "day" => format!("{m} {h} * * *"),
        "week" => format!("{m} {h} * * {}", day.unwrap_or(1).rem_euclid(7)),
        "month" => format!("{m} {h} {} * *", day.unwrap_or(1).clamp(1, 31)),
        "year" => format!(
            "{m} {h} {} {} *",
            day.unwrap_or(1).clamp(1, 31),
            v.get("month")
                .and_then(Value::as_i64)
                .unwrap_or(1)
                .clamp(1, 12)
        ),
        other => {
            return Err(format!(
                "trigger.every {other:?}: must be day, week, month or year"
            ));
        }
    })
}

fn parse_at(v: &Value) -> Result<Time, String> {
    match v.get("at").and_then(Value::as_str) {
        None => Ok(Time::constant(9, 0, 0, 0)),
        Some(s) => s
            .parse::<Time>()
            .map_err(|e| format!("trigger.at {s:?}: expected HH:MM ({e})")),
    }
}

/// `"delivered" == "delivered"`, `1 == 1.0`.
/// Whether a trigger's `from` / `to` is the value a change has: numbers by
/// value (`"5"` from a form is 5), anything else as the same text (`"true"`
/// is `true`).
fn loosely_equal(a: &Value, b: &Value) -> bool {
    let number = |v: &Value| {
        v.as_f64()
            .or_else(|| v.as_str().and_then(|s| s.trim().parse::<f64>().ok()))
    };
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    match (number(a), number(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a == b || (!a.is_null() && !b.is_null() && text(a) == text(b)),
    }
}

/// What an inbound webhook call did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct HookOutcome {
    pub campaign: i64,
    pub record_id: i64,
    pub entered: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub participant: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error("no campaign has this webhook")]
    NotFound,
    #[error("the campaign is not running")]
    NotRunning,
    #[error("the signature is missing or wrong")]
    BadSignature,
    #[error("{0}")]
    Invalid(String),
    #[error("invalid fields")]
    Fields(Vec<swell_core::FieldError>),
    #[error(transparent)]
    Engine(#[from] EngineError),
}

impl From<StoreError> for HookError {
    fn from(e: StoreError) -> HookError {
        HookError::Engine(e.into())
    }
}

impl Automation {
    /// Starts a campaign. A manual campaign lets in everyone matching now,
    /// streamed in chunks; a campaign watching changes starts from the
    /// newest change, so only what happens from now on counts.
    pub async fn launch(&self, ws: WorkspaceId, id: i64) -> Result<u64, EngineError> {
        let c = self.store.campaign(ws, id).await?;
        let spec = TriggerSpec::parse(&c.trigger).map_err(EngineError::Invalid)?;
        if spec.watches_changes() && c.launched_at.is_none() {
            let last = self.store.last_change_id().await?;
            self.store
                .advance_change_cursor(c.id, c.change_cursor, last)
                .await?;
        }
        let c = self
            .store
            .set_campaign_state(ws, id, "running", None)
            .await?;
        let mut entered = 0;
        if spec == TriggerSpec::Manual {
            let key = match c.reentry.as_str() {
                "each" => format!("launch:{}", self.store.now()),
                _ => String::new(),
            };
            let filter = campaign_filter(&c)?;
            let kind = self.entity_kind(ws, &c.entity).await?;
            let catalog = self.store.catalog(ws).await?;
            let mut after = 0;
            loop {
                let ids = self
                    .store
                    .audience_ids(ws, &kind, &filter, &catalog, after, CHUNK)
                    .await?;
                let Some(&last) = ids.last() else { break };
                after = last;
                entered += self.enter(&c, &ids, |_| key.clone(), false).await? as u64;
            }
        }
        if entered >= LARGE_LAUNCH {
            self.store.analyze_queue().await?;
        }
        self.wake();
        Ok(entered)
    }

    /// Lets chosen records into a campaign as test participants (test
    /// mode): they run even while the campaign is a draft and stay out of
    /// its figures.
    pub async fn enter_test(
        &self,
        ws: WorkspaceId,
        id: i64,
        records: &[i64],
    ) -> Result<Vec<i64>, EngineError> {
        let c = self.store.campaign(ws, id).await?;
        let key = format!("test:{}", self.store.now());
        let entries = self.entries(&c, records, |_| key.clone()).await?;
        if entries.len() != records.len() {
            return Err(EngineError::Invalid(format!(
                "some of the records {records:?} do not exist in this workspace"
            )));
        }
        let ids = self.store.enter_campaign(ws, id, &entries, true).await?;
        self.wake();
        Ok(ids)
    }

    /// Lets records in (those the filter passed), with their contacts.
    async fn enter(
        &self,
        c: &Campaign,
        ids: &[i64],
        key: impl Fn(i64) -> String,
        test: bool,
    ) -> Result<usize, EngineError> {
        let entries = self.entries(c, ids, key).await?;
        Ok(self
            .store
            .enter_campaign(c.workspace, c.id, &entries, test)
            .await?
            .len())
    }

    /// The entries of the records that exist, each with its contact and
    /// the key of what let it in.
    async fn entries(
        &self,
        c: &Campaign,
        ids: &[i64],
        key: impl Fn(i64) -> String,
    ) -> Result<Vec<Entry>, EngineError> {
        let kind = self.entity_kind(c.workspace, &c.entity).await?;
        let contacts = self
            .store
            .record_contacts(c.workspace, kind.table(), ids)
            .await?;
        Ok(ids
            .iter()
            .filter_map(|id| {
                contacts.get(id).map(|contact| Entry {
                    record_id: *id,
                    contact_id: *contact,
                    key: key(*id),
                })
            })
            .collect())
    }

    /// One round of every running campaign's triggers. Returns how many
    /// records entered.
    pub(super) async fn watch_triggers(&self) -> Result<usize, EngineError> {
        let now = self.store.now();
        let mut entered = 0;
        for c in self.store.running_campaigns().await? {
            let Ok(spec) = TriggerSpec::parse(&c.trigger) else {
                continue;
            };
            let result = if spec.watches_changes() {
                self.watch_changes(&c, &spec).await
            } else if matches!(
                spec,
                TriggerSpec::Recurring { .. } | TriggerSpec::Anniversary { .. }
            ) && c.next_run_at.is_none_or(|t| t <= now)
            {
                self.run_recurring(&c, &spec).await
            } else {
                Ok(0)
            };
            match result {
                Ok(n) => entered += n,
                Err(e) => tracing::error!(campaign = c.id, error = %e, "campaign trigger"),
            }
        }
        Ok(entered)
    }

    /// Lets in the records whose changes since the campaign's cursor match
    /// its trigger and filter.
    async fn watch_changes(&self, c: &Campaign, spec: &TriggerSpec) -> Result<usize, EngineError> {
        let mut cursor = c.change_cursor;
        let mut entered = 0;
        let filter = campaign_filter(c)?;
        let kind = self.entity_kind(c.workspace, &c.entity).await?;
        loop {
            let changes = self
                .store
                .changes_since(c.workspace, kind.name(), cursor, CHUNK)
                .await?;
            let Some(last) = changes.last().map(|ch| ch.id) else {
                break;
            };
            // The first matching change of each record in this chunk.
            let mut keys: HashMap<i64, String> = HashMap::new();
            for ch in changes.iter().filter(|ch| spec.matches(ch)) {
                let key = if c.reentry == "each" {
                    format!("change:{}", ch.id)
                } else {
                    String::new()
                };
                keys.entry(ch.record_id).or_insert(key);
            }
            if !keys.is_empty() {
                let ids: Vec<i64> = keys.keys().copied().collect();
                let catalog = self.store.catalog(c.workspace).await?;
                let passed = self
                    .store
                    .matching_ids(c.workspace, &kind, &filter, &catalog, &ids)
                    .await?;
                entered += self
                    .enter(
                        c,
                        &passed,
                        |id| keys.get(&id).cloned().unwrap_or_default(),
                        false,
                    )
                    .await?;
            }
            if !self.store.advance_change_cursor(c.id, cursor, last).await? {
                break;
            }
            cursor = last;
            if changes.len() < CHUNK as usize {
                break;
            }
        }
        Ok(entered)
    }

    /// A recurring campaign: for each zone its contacts live in, the latest
    /// occurrence not yet run lets in those matching.
    async fn run_recurring(&self, c: &Campaign, spec: &TriggerSpec) -> Result<usize, EngineError> {
        let now = self.store.now();
        let ws = c.workspace;
        let zones = if c.entity == "contact" {
            self.store.contact_zones(ws).await?
        } else {
            vec![self.store.workspace(ws).await?.timezone]
        };
        let mut schedule: Map<String, Value> = c.schedule.as_object().cloned().unwrap_or_default();
        let start = c.launched_at.unwrap_or(now);
        let mut next: Option<i64> = None;
        let mut entered = 0;
        for zone in zones {
            let Ok(tz) = TimeZone::get(&zone) else {
                continue;
            };
            let last = schedule.get(&zone).and_then(Value::as_i64).unwrap_or(start);
            let mut due = None;
            let mut occurrence = next_occurrence(spec, &tz, last);
            while let Some(o) = occurrence {
                if o > now {
                    break;
                }
                due = Some(o);
                occurrence = next_occurrence(spec, &tz, o);
            }
            if let Some(o) = due {
                entered += self.enter_zone(c, spec, &zone, &tz, o).await?;
                schedule.insert(zone.clone(), Value::from(o));
            }
            if let Some(n) = occurrence {
                next = Some(next.map_or(n, |m: i64| m.min(n)));
            }
        }
        // Zones new to the workspace are looked at within the hour.
        let next = next
            .map(|n| n.min(now + 3_600_000))
            .or(Some(now + 3_600_000));
        self.store
            .set_campaign_schedule(c.id, &Value::Object(schedule), next)
            .await?;
        Ok(entered)
    }

    /// Lets in the matching records of one zone for an occurrence.
    async fn enter_zone(
        &self,
        c: &Campaign,
        spec: &TriggerSpec,
        zone: &str,
        tz: &TimeZone,
        occurrence: i64,
    ) -> Result<usize, EngineError> {
        let ws = c.workspace;
        let kind = self.entity_kind(ws, &c.entity).await?;
        let mut parts = vec![campaign_filter(c)?.into_expr()];
        if kind == EntityKind::Contact {
            let zone_filter = Filter::parse(&format!(
                "timezone = {}",
                serde_json::to_string(zone).unwrap_or_default()
            ))
            .map_err(|e| EngineError::Invalid(e.to_string()))?;
            parts.push(zone_filter.into_expr());
        }
        let filter = Filter::from_expr(Expr::And(parts));
        let catalog = self.store.catalog(ws).await?;
        let local = Timestamp::from_millisecond(occurrence)
            .unwrap_or_default()
            .to_zoned(tz.clone())
            .date();
        let mut after = 0;
        let mut entered = 0;
        loop {
            let ids = self
                .store
                .audience_ids(ws, &kind, &filter, &catalog, after, CHUNK)
                .await?;
            let Some(&last) = ids.last() else { break };
            after = last;
            let (ids, key): (Vec<i64>, String) = match spec {
                TriggerSpec::Anniversary {
                    field, days_before, ..
                } => {
                    let target = local.checked_add((*days_before).days()).unwrap_or(local);
                    let contacts = self.store.contacts_by_ids(ws, &ids).await?;
                    let ids = contacts
                        .iter()
                        .filter(|ct| {
                            let value = match field.strip_prefix("attr.") {
                                Some(key) => ct
                                    .attributes
                                    .get(key)
                                    .and_then(Value::as_str)
                                    .map(str::to_string),
                                None => ct.birthday.clone(),
                            };
                            value
                                .and_then(|v| v.parse::<Date>().ok())
                                .is_some_and(|d| same_anniversary(d, target))
                        })
                        .map(|ct| ct.id)
                        .collect();
                    let key = if c.reentry == "once" {
                        String::new()
                    } else {
                        format!("year:{}", target.year())
                    };
                    (ids, key)
                }
                _ => {
                    let key = if c.reentry == "once" {
                        String::new()
                    } else {
                        format!("run:{occurrence}")
                    };
                    (ids, key)
                }
            };
            entered += self.enter(c, &ids, |_| key.clone(), false).await?;
        }
        Ok(entered)
    }

    /// An inbound webhook call: checks the signature, upserts the record
    /// from the JSON body, and lets it in if it matches.
    pub async fn hook(
        &self,
        secret: &str,
        signature: Option<(&str, &str)>,
        body: &[u8],
    ) -> Result<HookOutcome, HookError> {
        let key = swell_store::workspaces::hash_key(secret);
        let c = self
            .store
            .campaign_by_hook(&key)
            .await?
            .ok_or(HookError::NotFound)?;
        if c.state != "running" {
            return Err(HookError::NotRunning);
        }
        if let Some(signing) = &c.hook_signing {
            let Some((timestamp, header)) = signature else {
                return Err(HookError::BadSignature);
            };
            if !swell_channels::webhook::verify_signature(
                signing.as_bytes(),
                timestamp,
                body,
                header,
            ) {
                return Err(HookError::BadSignature);
            }
        }
        let value: Value = serde_json::from_slice(body)
            .map_err(|e| HookError::Invalid(format!("the body is not JSON: {e}")))?;
        let Value::Object(obj) = value else {
            return Err(HookError::Invalid("the body must be a JSON object".into()));
        };
        let ws = c.workspace;
        let w = self.store.workspace(ws).await?;
        let record_id = if c.entity == "contact" {
            let schema = self.store.contact_schema(ws).await?;
            let cx = ParseContext {
                schema: &schema,
                phone_region: &w.phone_region,
            };
            let input = ContactInput::from_json(&obj, &cx).map_err(HookError::Fields)?;
            let results = self
                .store
                .write_contacts(
                    ws,
                    &[ContactWrite {
                        target: Target::Upsert,
                        input,
                    }],
                    false,
                )
                .await?;
            match results.into_iter().next() {
                Some(Ok((_, id))) => id,
                Some(Err(e)) => return Err(HookError::Fields(vec![e])),
                None => return Err(HookError::Invalid("nothing was written".into())),
            }
        } else {
            let ty = self.entity_type(ws, &c.entity).await?;
            let input =
                RecordInput::from_json(&ty, &obj, &w.phone_region).map_err(HookError::Fields)?;
            let results = self
                .store
                .write_records(ws, &ty, &[RecordWrite { id: None, input }], false)
                .await?;
            match results.into_iter().next() {
                Some(Ok((_, id))) => id,
                Some(Err(e)) => return Err(HookError::Fields(vec![e])),
                None => return Err(HookError::Invalid("nothing was written".into())),
            }
        };
        let kind = self.entity_kind(ws, &c.entity).await?;
        let catalog = self.store.catalog(ws).await?;
        let filter = campaign_filter(&c)?;
        let passed = self
            .store
            .matching_ids(ws, &kind, &filter, &catalog, &[record_id])
            .await?;
        if passed.is_empty() {
            return Ok(HookOutcome {
                campaign: c.id,
                record_id,
                entered: false,
                participant: None,
                reason: Some("does not match the campaign's filter".into()),
            });
        }
        let key = if c.reentry == "each" {
            format!("hook:{}:{}", self.store.now(), rand::random::<u32>())
        } else {
            String::new()
        };
        let entries = self.entries(&c, &[record_id], |_| key.clone()).await?;
        let ids = self.store.enter_campaign(ws, c.id, &entries, false).await?;
        self.wake();
        Ok(HookOutcome {
            campaign: c.id,
            record_id,
            entered: !ids.is_empty(),
            participant: ids.first().copied(),
            reason: ids
                .is_empty()
                .then(|| "already in the campaign".to_string()),
        })
    }
}

/// A campaign's entry filter; everyone when it has none.
fn campaign_filter(c: &Campaign) -> Result<Filter, EngineError> {
    c.entry_filter()
        .map_err(|e| EngineError::Invalid(format!("campaign filter: {e}")))
}

/// Whether `date`'s anniversary falls on `day` (29 February on 28 February
/// in other years).
fn same_anniversary(date: Date, day: Date) -> bool {
    if date.month() == 2 && date.day() == 29 && !day.in_leap_year() {
        return day.month() == 2 && day.day() == 28;
    }
    date.month() == day.month() && date.day() == day.day()
}

/// The first occurrence strictly after `after` (ms) in a zone.
fn next_occurrence(spec: &TriggerSpec, tz: &TimeZone, after: i64) -> Option<i64> {
    let after = Timestamp::from_millisecond(after)
        .ok()?
        .to_zoned(tz.clone());
    match spec {
        TriggerSpec::Recurring { cron } => {
            let cron = cron.parse::<croner::Cron>().ok()?;
            let next = cron.find_next_occurrence(&after, false).ok()?;
            Some(next.timestamp().as_millisecond())
        }
        TriggerSpec::Anniversary { at, .. } => {
            let today = after.date().to_datetime(*at).to_zoned(tz.clone()).ok()?;
            let next = if today.timestamp() > after.timestamp() {
                today
            } else {
                after
                    .date()
                    .tomorrow()
                    .ok()?
                    .to_datetime(*at)
                    .to_zoned(tz.clone())
                    .ok()?
            };
            Some(next.timestamp().as_millisecond())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn change(op: &str, changes: Value) -> ChangeRow {
        ChangeRow {
            id: 1,
            record_id: 7,
            op: op.into(),
            changes,
        }
    }

    #[test]
    fn a_value_typed_in_a_form_matches_the_number_or_flag_it_names() {
        assert!(loosely_equal(&json!("5"), &json!(5)));
        assert!(loosely_equal(&json!(5.0), &json!("5")));
        assert!(loosely_equal(&json!("true"), &json!(true)));
        assert!(loosely_equal(&json!("paid"), &json!("paid")));
        assert!(!loosely_equal(&json!("5"), &json!(6)));
        assert!(!loosely_equal(&json!("null"), &Value::Null));
        assert!(!loosely_equal(&json!("paid"), &json!("Paid")));
    }

    #[test]
    fn an_update_trigger_watches_a_field_going_from_one_value_to_another() {
        let spec = TriggerSpec::parse(
            &json!({"kind": "updated", "fields": ["status"], "from": "pending", "to": "delivered"}),
        )
        .unwrap();
        assert!(spec.matches(&change(
            "update",
            json!({"status": ["pending", "delivered"]})
        )));
        assert!(!spec.matches(&change("update", json!({"status": ["new", "delivered"]}))));
        assert!(!spec.matches(&change("update", json!({"total": [1, 2]}))));
        assert!(!spec.matches(&change("create", json!({"status": [null, "delivered"]}))));
    }

    #[test]
    fn triggers_are_checked_when_read() {
        assert!(TriggerSpec::parse(&json!({"kind": "recurring", "cron": "not cron"})).is_err());
        assert!(TriggerSpec::parse(&json!({"kind": "updated", "to": "x"})).is_err());
        assert!(
            TriggerSpec::parse(&json!({"kind": "anniversary", "field": "attr.bad-key"})).is_err()
        );
        assert_eq!(
            TriggerSpec::parse(
                &json!({"kind": "recurring", "every": "month", "day": 1, "at": "09:30"})
            )
            .unwrap(),
            TriggerSpec::Recurring {
                cron: "30 9 1 * *".into()
            }
        );
    }

    #[test]
    fn recurring_occurrences_are_in_the_zone() {
        let spec = TriggerSpec::Recurring {
            cron: "0 9 1 * *".into(),
        };
        let tz = TimeZone::get("Asia/Ho_Chi_Minh").unwrap();
        let after: Timestamp = "2026-11-23T00:00:00Z".parse().unwrap();
        let next = next_occurrence(&spec, &tz, after.as_millisecond()).unwrap();
        let expect: Timestamp = "2026-12-01T02:00:00Z".parse().unwrap();
        assert_eq!(next, expect.as_millisecond());
    }

    #[test]
    fn leap_day_anniversaries_fall_on_the_28th() {
        let d: Date = "2004-02-29".parse().unwrap();
        assert!(same_anniversary(d, "2027-02-28".parse().unwrap()));
        assert!(same_anniversary(d, "2028-02-29".parse().unwrap()));
        assert!(!same_anniversary(d, "2028-02-28".parse().unwrap()));
    }
}
