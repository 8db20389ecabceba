//! Assignment rules: which reps a new lead may go to, and in what turn.
//!
//! Rules are tried in `position` order; the first whose filter the lead
//! passes and that has an eligible rep takes it. A rule's filter is the
//! filter language over the `lead` entity (`region = "HN" and product =
//! "sofa"`), with the lead's source ad as `ad_id`, `ad_campaign_id` and
//! `ad_account_id`. The turn is a counter (`cursor`) stored with the rule
//! and moved in the assigning transaction, so turns survive restarts and
//! are shared by every process on the database.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Value, json};
use swell_core::FieldError;
use swell_core::entity::{Builtin, EntityKind, EntityType};
use swell_core::filter::{Catalog, EvalContext, Filter, MemoryRecord, Subject};
use swell_core::schema::{FieldDef, FieldType, Schema};

use crate::rows::RowExt;
use crate::{Result, Store, StoreError, WorkspaceId, on_db};

/// How a rule takes turns among its reps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Each rep in order, one lead each.
    RoundRobin,
    /// Each rep `weight` leads in every round, interleaved (a rep of
    /// weight 2 beside one of weight 1 gets A, B, A rather than A, A, B).
    Weighted,
}

impl Strategy {
    pub fn parse(s: &str) -> Option<Strategy> {
        match s {
            "round_robin" => Some(Strategy::RoundRobin),
            "weighted" => Some(Strategy::Weighted),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::RoundRobin => "round_robin",
            Strategy::Weighted => "weighted",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RepWeight {
    pub user: i64,
    pub weight: u32,
}

/// How a rep is told of a lead that is now theirs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Notify {
    /// POSTed a signed JSON document (see `docs/sales.md`).
    pub webhook: Option<String>,
    /// The webhook's signing secret; never shown back.
    #[serde(skip)]
    pub secret: Option<String>,
    /// An e-mail to the rep's address.
    pub email: bool,
    /// A task for the rep, due in an hour.
    pub task: bool,
}

impl Notify {
    pub fn from_json(v: &Value) -> std::result::Result<Notify, FieldError> {
        let obj = v.as_object().ok_or_else(|| {
            FieldError::new("notify", "must be an object {webhook, secret, email, task}")
        })?;
        let mut n = Notify::default();
        for (k, v) in obj {
            let field = format!("notify.{k}");
            match (k.as_str(), v) {
                ("webhook", Value::Null) | ("secret", Value::Null) => {}
                ("webhook", Value::String(u)) => {
                    let url = u.trim();
                    if !(url.starts_with("http://") || url.starts_with("https://")) {
                        return Err(FieldError::new(field, "must be an http(s) URL"));
                    }
                    n.webhook = Some(url.to_string());
                }
                ("secret", Value::String(s)) => n.secret = Some(s.clone()),
                ("email", Value::Bool(b)) => n.email = *b,
                ("task", Value::Bool(b)) => n.task = *b,
                ("webhook" | "secret", _) => return Err(FieldError::new(field, "must be text")),
                ("email" | "task", _) => {
                    return Err(FieldError::new(field, "must be true or false"));
                }
                _ => {
                    return Err(FieldError::new(
                        field,
                        "unknown field (webhook, secret, email, task)",
                    ));
                }
            }
        }
        Ok(n)
    }

    pub(crate) fn stored(&self) -> Value {
        json!({"webhook": self.webhook, "secret": self.secret, "email": self.email, "task": self.task})
    }

    pub(crate) fn from_stored(v: &Value) -> Notify {
        Notify {
            webhook: v["webhook"].as_str().map(str::to_string),
            secret: v["secret"].as_str().map(str::to_string),
            email: v["email"].as_bool().unwrap_or(false),
            task: v["task"].as_bool().unwrap_or(false),
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Rule {
    pub id: i64,
    pub position: i64,
    pub name: String,
    pub strategy: Strategy,
    /// The filter as text (canonical form); null: every lead.
    pub filter: Option<String>,
    pub reps: Vec<RepWeight>,
    /// Only reps inside their working hours take leads.
    pub working_hours: bool,
    pub reassign_after_minutes: Option<i64>,
    pub notify: Notify,
    pub active: bool,
    /// The next turn (an index into the round).
    pub cursor: i64,
    #[serde(serialize_with = "swell_core::time::serialize_millis")]
    pub created_at: i64,
    #[serde(serialize_with = "swell_core::time::serialize_millis")]
    pub updated_at: i64,
}

/// A rule's fields as given; `None` is "not given". `filter: Some(None)`
/// clears the filter, as does `reassign_after_minutes: Some(None)`.
#[derive(Debug, Clone, Default)]
pub struct RuleInput {
    pub position: Option<i64>,
    pub name: Option<String>,
    pub strategy: Option<Strategy>,
    pub filter: Option<Option<Filter>>,
    pub reps: Option<Vec<RepWeight>>,
    pub working_hours: Option<bool>,
    pub reassign_after_minutes: Option<Option<i64>>,
    pub notify: Option<Notify>,
    pub active: Option<bool>,
}

/// What a rule's filter may name beyond the lead's own fields.
const SOURCE_FIELDS: &[&str] = &["ad_id", "ad_campaign_id", "ad_account_id", "form_id"];

/// The catalog rule filters are checked against: the `lead` type with
/// its source as numbers.
pub fn lead_catalog() -> Catalog {
    let fields = SOURCE_FIELDS
        .iter()
        .map(|k| FieldDef {
            key: k.to_string(),
            kind: FieldType::Number,
            label: None,
        })
        .collect();
    Catalog {
        types: vec![EntityType {
            kind: EntityKind::Builtin(Builtin::Lead),
            label: None,
            schema: Schema { fields },
        }],
        ..Default::default()
    }
}

/// Parses and checks a rule's filter (text or JSON tree).
pub fn parse_filter(v: &Value) -> std::result::Result<Filter, FieldError> {
    let f = Filter::from_json_or_text(v).map_err(|e| FieldError::new("filter", e.to_string()))?;
    f.validate(&lead_catalog(), &EntityKind::Builtin(Builtin::Lead))
        .map_err(|e| FieldError::new("filter", e.to_string()))?;
    Ok(f)
}

/// A lead as a rule's filter sees it.
pub(crate) fn lead_subject(fields: &Value) -> MemoryRecord {
    use swell_core::filter::Value as F;
    let mut out = BTreeMap::new();
    if let Some(obj) = fields.as_object() {
        for (k, v) in obj {
            let v = match v {
                Value::String(s) => F::Text(s.clone()),
                Value::Number(n) => F::Number(n.as_f64().unwrap_or(0.0)),
                Value::Bool(b) => F::Bool(*b),
                _ => continue,
            };
            out.insert(k.clone(), v);
        }
    }
    MemoryRecord {
        entity: "lead".into(),
        fields: out,
    }
}

pub(crate) fn matches(filter: &Filter, lead: &MemoryRecord, now: i64) -> bool {
    let catalog = Catalog::default();
    filter.matches(
        &Subject::Record {
            record: lead,
            contact: None,
        },
        &EvalContext::new(now, &catalog),
    )
}

/// The order of turns in one round: each rep once for round-robin; for
/// weighted, `weight` times each, spread by the smooth weighted
/// round-robin of nginx (each turn goes to the rep furthest behind its
/// share), so a heavy rep's leads do not come in a clump.
pub(crate) fn turns(strategy: Strategy, reps: &[RepWeight]) -> Vec<i64> {
    match strategy {
        Strategy::RoundRobin => reps.iter().map(|r| r.user).collect(),
        Strategy::Weighted => {
            let total: i64 = reps.iter().map(|r| i64::from(r.weight)).sum();
            let mut current = vec![0i64; reps.len()];
            let mut out = Vec::with_capacity(total as usize);
            for _ in 0..total {
                for (c, r) in current.iter_mut().zip(reps) {
                    *c += i64::from(r.weight);
                }
                let (best, _) = current
                    .iter()
                    .enumerate()
                    .max_by_key(|(i, c)| (**c, -(*i as i64)))
                    .expect("a rule has reps");
                current[best] -= total;
                out.push(reps[best].user);
            }
            out
        }
    }
}

pub(crate) fn rule_from_row(r: &impl RowExt) -> Rule {
    let filter = r
        .opt_text("filter")
        .and_then(|s| serde_json::from_str::<Value>(&s).ok())
        .and_then(|v| Filter::from_json(&v).ok());
    let reps = r
        .json_text("reps")
        .as_array()
        .map(|a| {
            a.iter()
                .map(|x| RepWeight {
                    user: x["user"].as_i64().unwrap_or(0),
                    weight: x["weight"].as_u64().unwrap_or(1) as u32,
                })
                .collect()
        })
        .unwrap_or_default();
    Rule {
        id: r.int("id"),
        position: r.int("position"),
        name: r.text("name"),
        strategy: Strategy::parse(&r.text("strategy")).unwrap_or(Strategy::RoundRobin),
        filter: filter.map(|f| f.to_string()),
        reps,
        working_hours: r.boolean("working_hours"),
        reassign_after_minutes: r.opt_int("reassign_after_minutes"),
        notify: Notify::from_stored(&r.json_text("notify")),
        active: r.boolean("active"),
        cursor: r.int("cursor"),
        created_at: r.int("created_at"),
        updated_at: r.int("updated_at"),
    }
}

fn invalid(field: &str, reason: impl Into<String>) -> StoreError {
    StoreError::Invalid(vec![FieldError::new(field, reason)])
}

impl Store {
    /// The workspace's rules in the order they are tried.
    pub async fn assignment_rules(&self, ws: WorkspaceId) -> Result<Vec<Rule>> {
        on_db!(self, p => {
            Ok(sqlx::query("SELECT * FROM assignment_rules WHERE workspace_id = $1 ORDER BY position, id")
                .bind(ws.0).fetch_all(p).await?.iter().map(rule_from_row).collect())
        })
    }

    pub async fn assignment_rule(&self, ws: WorkspaceId, id: i64) -> Result<Rule> {
        on_db!(self, p => {
            sqlx::query("SELECT * FROM assignment_rules WHERE workspace_id = $1 AND id = $2")
                .bind(ws.0).bind(id).fetch_optional(p).await?.map(|r| rule_from_row(&r)).ok_or(StoreError::NotFound)
        })
    }

    /// Creates a rule (`name`, `strategy` and `reps` required; it goes last
    /// unless `position` says otherwise) or, with `id`, changes the fields
    /// given. Every rep must be a user of the workspace.
    pub async fn write_assignment_rule(
        &self,
        ws: WorkspaceId,
        id: Option<i64>,
        input: &RuleInput,
    ) -> Result<Rule> {
        let current = match id {
            Some(id) => Some(self.assignment_rule(ws, id).await?),
            None => None,
        };
        let name = crate::name_to_write(
            input.name.as_deref(),
            current.as_ref().map(|c| c.name.as_str()),
        )?;
        let strategy = match (input.strategy, &current) {
            (Some(s), _) => s,
            (None, Some(c)) => c.strategy,
            (None, None) => return Err(invalid("strategy", "is required (round_robin, weighted)")),
        };
        let reps = match (&input.reps, &current) {
            (Some(r), _) => r.clone(),
            (None, Some(c)) => c.reps.clone(),
            (None, None) => {
                return Err(invalid(
                    "reps",
                    "is required: [{\"user\": id, \"weight\": n}]",
                ));
            }
        };
        if reps.is_empty() {
            return Err(invalid("reps", "is empty"));
        }
        let users: Vec<i64> = self.users(ws).await?.iter().map(|u| u.id).collect();
        for (i, r) in reps.iter().enumerate() {
            if !users.contains(&r.user) {
                return Err(invalid(
                    &format!("reps[{i}].user"),
                    format!("user {} not found", r.user),
                ));
            }
            if r.weight == 0 || r.weight > 100 {
                return Err(invalid(&format!("reps[{i}].weight"), "must be 1 to 100"));
            }
            if reps[..i].iter().any(|o| o.user == r.user) {
                return Err(invalid(
                    &format!("reps[{i}].user"),
                    format!("user {} is listed twice", r.user),
                ));
            }
        }
        let filter = match &input.filter {
            Some(f) => f.as_ref().map(|f| f.to_json().to_string()),
            None => current
                .as_ref()
                .and_then(|c| c.filter.as_deref())
                .and_then(|t| Filter::parse(t).ok())
                .map(|f| f.to_json().to_string()),
        };
        let reassign = match input.reassign_after_minutes {
            Some(Some(m)) if m < 1 => {
                return Err(invalid("reassign_after_minutes", "must be 1 or more"));
            }
            Some(m) => m,
            None => current.as_ref().and_then(|c| c.reassign_after_minutes),
        };
        let mut notify = input
            .notify
            .clone()
            .or(current.as_ref().map(|c| c.notify.clone()))
            .unwrap_or_default();
        if notify.secret.is_none()
            && let Some(c) = &current
        {
            notify.secret = c.notify.secret.clone();
        }
        let working_hours = input
            .working_hours
            .or(current.as_ref().map(|c| c.working_hours))
            .unwrap_or(false);
        let active = input
            .active
            .or(current.as_ref().map(|c| c.active))
            .unwrap_or(true);
        let reps_json: Vec<Value> = reps
            .iter()
            .map(|r| json!({"user": r.user, "weight": r.weight}))
            .collect();
        let reps_json = Value::from(reps_json).to_string();
        let notify_json = notify.stored().to_string();
        let now = self.now();
        let id = on_db!(self, p => {
            let position: i64 = match (input.position, &current) {
                (Some(pos), _) => pos,
                (None, Some(c)) => c.position,
                (None, None) => sqlx::query_scalar("SELECT COALESCE(MAX(position), 0) + 1 FROM assignment_rules WHERE workspace_id = $1")
                    .bind(ws.0).fetch_one(p).await?,
            };
            match id {
                None => sqlx::query_scalar::<_, i64>(
                    "INSERT INTO assignment_rules (workspace_id, position, name, strategy, filter, reps, working_hours,
                        reassign_after_minutes, notify, active, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11) RETURNING id")
                    .bind(ws.0).bind(position).bind(&name).bind(strategy.as_str()).bind(&filter)
                    .bind(&reps_json).bind(working_hours).bind(reassign)
                    .bind(&notify_json).bind(active).bind(now)
                    .fetch_one(p).await?,
                Some(id) => {
                    // A changed group of reps starts its turns afresh.
                    let reset = input.reps.is_some() || input.strategy.is_some();
                    sqlx::query(
                        "UPDATE assignment_rules SET position = $3, name = $4, strategy = $5, filter = $6, reps = $7,
                            working_hours = $8, reassign_after_minutes = $9, notify = $10, active = $11, updated_at = $12,
                            cursor = CASE WHEN $13 THEN 0 ELSE cursor END
                         WHERE workspace_id = $1 AND id = $2")
                        .bind(ws.0).bind(id).bind(position).bind(&name).bind(strategy.as_str()).bind(&filter)
                        .bind(&reps_json).bind(working_hours).bind(reassign)
                        .bind(&notify_json).bind(active).bind(now).bind(reset)
                        .execute(p).await?;
                    id
                }
            }
        });
        self.assignment_rule(ws, id).await
    }

    /// Deletes a rule; leads it assigned keep their reps.
    pub async fn delete_assignment_rule(&self, ws: WorkspaceId, id: i64) -> Result<()> {
        let n = on_db!(self, p => {
            sqlx::query("DELETE FROM assignment_rules WHERE workspace_id = $1 AND id = $2")
                .bind(ws.0).bind(id).execute(p).await?.rows_affected()
        });
        if n == 0 {
            Err(StoreError::NotFound)
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weighted_turns_spread_a_heavy_rep_through_the_round() {
        let reps = [
            RepWeight { user: 1, weight: 2 },
            RepWeight { user: 2, weight: 1 },
        ];
        assert_eq!(turns(Strategy::Weighted, &reps), vec![1, 2, 1]);
        let reps = [
            RepWeight { user: 1, weight: 5 },
            RepWeight { user: 2, weight: 1 },
            RepWeight { user: 3, weight: 1 },
        ];
        assert_eq!(turns(Strategy::Weighted, &reps), vec![1, 1, 2, 1, 3, 1, 1]);
        assert_eq!(turns(Strategy::RoundRobin, &reps), vec![1, 2, 3]);
    }

    #[test]
    fn a_rule_filter_reads_the_lead_and_its_source_ad() {
        let f = parse_filter(&json!("region = \"HN\" and ad_campaign_id = 7")).unwrap();
        let lead = lead_subject(&json!({"region": "HN", "ad_campaign_id": 7}));
        assert!(matches(&f, &lead, 0));
        let other = lead_subject(&json!({"region": "HCM", "ad_campaign_id": 7}));
        assert!(!matches(&f, &other, 0));
        let e = parse_filter(&json!("colour = \"red\"")).unwrap_err();
        assert_eq!(e.field, "filter");
    }
}
