//! Consent and the sendable audience: the one place every send asks "who
//! may we reach on this channel?".
//!
//! An audience is lists, segments and a filter, minus excluded lists,
//! segments and a filter, each person once. The resolver then removes people
//! with no address on the channel, people who opted out of the channel, and
//! addresses on the workspace blocklist or suppressed after bounces and
//! complaints, and says how many it removed and why.

use serde::{Deserialize, Serialize};
use swell_core::FieldError;
use swell_core::entity::EntityKind;
use swell_core::filter::Filter;

use crate::audience::Compiled;
use crate::lists::bind_compiled;
use crate::rows::RowExt;
use crate::{Result, Store, StoreError, WorkspaceId, on_db};

/// A channel a message goes out on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Email,
    Sms,
    Zalo,
}

impl Channel {
    pub fn parse(s: &str) -> Option<Channel> {
        match s {
            "email" => Some(Channel::Email),
            "sms" => Some(Channel::Sms),
            "zalo" => Some(Channel::Zalo),
            _ => None,
        }
    }

    /// The contact column holding the address, the opt-out column, and the
    /// blocklist kind. All three come from this fixed table, never from
    /// input.
    fn columns(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Channel::Email => ("email", "email_optout", "email"),
            Channel::Sms => ("phone", "sms_optout", "phone"),
            Channel::Zalo => ("phone", "zalo_optout", "phone"),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Sms => "sms",
            Channel::Zalo => "zalo",
        }
    }

    /// SQL for why contact `c` cannot be sent to on this channel: NULL when
    /// it can, else 'no_address', 'opted_out', 'blocklisted' or
    /// 'suppressed', checked in that order. `ws` is the placeholder of the
    /// workspace id.
    pub(crate) fn skip_reason(self, ws: &str) -> String {
        let (address, optout, kind) = self.columns();
        let suppressed = if self == Channel::Email {
            format!(
                " WHEN EXISTS (SELECT 1 FROM suppressions s WHERE s.workspace_id = {ws} AND s.address = c.{address}) \
                 THEN 'suppressed'"
            )
        } else {
            String::new()
        };
        format!(
            "CASE WHEN c.{address} IS NULL THEN 'no_address' WHEN c.{optout} THEN 'opted_out' \
             WHEN EXISTS (SELECT 1 FROM blocklist b WHERE b.workspace_id = {ws} AND b.kind = '{kind}' AND b.value = c.{address}) \
             THEN 'blocklisted'{suppressed} END"
        )
    }
}

/// Who a send or a count is for.
#[derive(Debug, Clone, Default)]
pub struct AudienceSpec {
    pub lists: Vec<String>,
    pub segments: Vec<String>,
    pub filter: Option<Filter>,
    pub exclude_lists: Vec<String>,
    pub exclude_segments: Vec<String>,
    pub exclude_filter: Option<Filter>,
}

impl AudienceSpec {
    /// Reads `{"lists", "segments", "filter", "exclude": {"lists",
    /// "segments", "filter"}}`; filters as text or as their JSON tree.
    /// Other keys are the caller's to check.
    pub fn from_json(
        obj: &serde_json::Map<String, serde_json::Value>,
    ) -> std::result::Result<Self, FieldError> {
        use serde_json::Value;
        fn strings(
            obj: &serde_json::Map<String, Value>,
            key: &str,
            field: &str,
        ) -> std::result::Result<Vec<String>, FieldError> {
            match obj.get(key) {
                None | Some(Value::Null) => Ok(vec![]),
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|i| {
                        i.as_str()
                            .map(str::to_string)
                            .ok_or_else(|| FieldError::new(field, "must be a list of slugs"))
                    })
                    .collect(),
                Some(_) => Err(FieldError::new(field, "must be a list of slugs")),
            }
        }
        fn filter(
            obj: &serde_json::Map<String, Value>,
            field: &str,
        ) -> std::result::Result<Option<Filter>, FieldError> {
            obj.get("filter")
                .filter(|v| !v.is_null())
                .map(|v| {
                    Filter::from_json_or_text(v).map_err(|e| FieldError::new(field, e.to_string()))
                })
                .transpose()
        }
        let mut spec = AudienceSpec {
            lists: strings(obj, "lists", "lists")?,
            segments: strings(obj, "segments", "segments")?,
            filter: filter(obj, "filter")?,
            ..Default::default()
        };
        match obj.get("exclude") {
            None | Some(Value::Null) => {}
            Some(Value::Object(ex)) => {
                spec.exclude_lists = strings(ex, "lists", "exclude.lists")?;
                spec.exclude_segments = strings(ex, "segments", "exclude.segments")?;
                spec.exclude_filter = filter(ex, "exclude.filter")?;
            }
            Some(_) => {
                return Err(FieldError::new(
                    "exclude",
                    "must be an object with lists, segments, filter",
                ));
            }
        }
        Ok(spec)
    }

    /// The form [`AudienceSpec::from_json`] reads, filters as text.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "lists": self.lists,
            "segments": self.segments,
            "filter": self.filter.as_ref().map(|f| f.to_string()),
            "exclude": {
                "lists": self.exclude_lists,
                "segments": self.exclude_segments,
                "filter": self.exclude_filter.as_ref().map(|f| f.to_string()),
            },
        })
    }

    /// The whole audience as one contact filter: any of the inclusions and
    /// none of the exclusions. Each person is counted once because the
    /// filter selects contacts, not memberships.
    pub fn to_filter(&self) -> std::result::Result<Filter, FieldError> {
        let mut include: Vec<String> = Vec::new();
        include.extend(self.lists.iter().map(|l| format!("in list {}", quote(l))));
        include.extend(
            self.segments
                .iter()
                .map(|s| format!("in segment {}", quote(s))),
        );
        if let Some(f) = &self.filter {
            include.push(format!("({f})"));
        }
        if include.is_empty() {
            return Err(FieldError::new(
                "audience",
                "name at least one list, segment or filter",
            ));
        }
        let mut exclude: Vec<String> = Vec::new();
        exclude.extend(
            self.exclude_lists
                .iter()
                .map(|l| format!("in list {}", quote(l))),
        );
        exclude.extend(
            self.exclude_segments
                .iter()
                .map(|s| format!("in segment {}", quote(s))),
        );
        if let Some(f) = &self.exclude_filter {
            exclude.push(format!("({f})"));
        }
        let mut text = format!("({})", include.join(" or "));
        if !exclude.is_empty() {
            text.push_str(&format!(" and not ({})", exclude.join(" or ")));
        }
        Filter::parse(&text).map_err(|e| FieldError::new("audience", e.to_string()))
    }
}

fn quote(s: &str) -> String {
    serde_json::to_string(s).expect("strings serialise")
}

/// How many an audience holds and how many of them may be sent to.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct SendableReport {
    pub channel: Option<Channel>,
    /// Everyone the audience selects.
    pub total: u64,
    /// Those a message may go to.
    pub sendable: u64,
    /// Those left out, by reason.
    pub removed: Removed,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Removed {
    pub no_address: u64,
    pub opted_out: u64,
    pub blocklisted: u64,
    /// E-mail addresses suppressed after bounces or complaints.
    pub suppressed: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct BlockedAddress {
    pub kind: String,
    pub value: String,
    pub reason: Option<String>,
    #[serde(serialize_with = "swell_core::time::serialize_millis")]
    pub created_at: i64,
}

impl Store {
    pub(crate) async fn compile_spec(
        &self,
        ws: WorkspaceId,
        spec: &AudienceSpec,
    ) -> Result<Compiled> {
        let catalog = self.catalog(ws).await?;
        // Each given filter alone first, so errors point into the text the
        // caller wrote.
        for (field, f) in [
            ("filter", &spec.filter),
            ("exclude.filter", &spec.exclude_filter),
        ] {
            if let Some(f) = f {
                f.validate(&catalog, &EntityKind::Contact).map_err(|e| {
                    StoreError::Invalid(vec![FieldError::new(field, e.to_string())])
                })?;
            }
        }
        let filter = spec.to_filter().map_err(|e| StoreError::Invalid(vec![e]))?;
        filter
            .validate(&catalog, &EntityKind::Contact)
            .map_err(|e| StoreError::Invalid(vec![FieldError::new("audience", e.to_string())]))?;
        // Rule-based lists the audience names are brought up to date first.
        for slug in spec.lists.iter().chain(&spec.exclude_lists) {
            self.refresh_list(ws, slug).await?;
        }
        self.compile_audience(ws, &EntityKind::Contact, &filter, &catalog)
            .await
    }

    /// Counts an audience and, for a channel, who of it may be sent to.
    pub async fn resolve_audience(
        &self,
        ws: WorkspaceId,
        spec: &AudienceSpec,
        channel: Option<Channel>,
    ) -> Result<SendableReport> {
        let compiled = self.compile_spec(ws, spec).await?;
        let Some(ch) = channel else {
            let sql = format!(
                "SELECT COUNT(*) AS total FROM {} WHERE {}",
                compiled.from, compiled.condition
            );
            let total: i64 = on_db!(self, p => {
                bind_compiled(sqlx::query(sqlx::AssertSqlSafe(sql)), &compiled.binds).fetch_one(p).await?.int("total")
            });
            return Ok(SendableReport {
                channel: None,
                total: total as u64,
                sendable: total as u64,
                removed: Removed::default(),
            });
        };
        let n = compiled.binds.len();
        let reason = ch.skip_reason(&format!("${}", n + 1));
        let sql = format!(
            "SELECT r, COUNT(*) AS n FROM (SELECT {reason} AS r FROM {} WHERE {}) x GROUP BY r",
            compiled.from, compiled.condition
        );
        let counts: Vec<(Option<String>, i64)> = on_db!(self, p => {
            bind_compiled(sqlx::query(sqlx::AssertSqlSafe(sql)), &compiled.binds).bind(ws.0).fetch_all(p).await?
                .iter().map(|r| (r.opt_text("r"), r.int("n"))).collect()
        });
        let mut report = SendableReport {
            channel: Some(ch),
            ..Default::default()
        };
        for (reason, n) in counts {
            let n = n as u64;
            report.total += n;
            match reason.as_deref() {
                None => report.sendable += n,
                Some("no_address") => report.removed.no_address += n,
                Some("opted_out") => report.removed.opted_out += n,
                Some("blocklisted") => report.removed.blocklisted += n,
                Some(_) => report.removed.suppressed += n,
            }
        }
        Ok(report)
    }

    /// How many of an audience each channel of a cheapest-first order
    /// reaches: each person counted once, on the first channel they can
    /// receive (in-app: an `app_open` event since `app_seen_since`; the
    /// others as [`Store::resolve_audience`] judges them), and those no
    /// channel reaches under `None`. One query over the audience.
    pub async fn first_reachable(
        &self,
        ws: WorkspaceId,
        spec: &AudienceSpec,
        order: &[&str],
        app_seen_since: i64,
    ) -> Result<Vec<(Option<String>, u64)>> {
        let compiled = self.compile_spec(ws, spec).await?;
        let n = compiled.binds.len();
        let (ws_param, since_param) = (format!("${}", n + 1), format!("${}", n + 2));
        // Channel names in the SQL come from this list and `Channel`, never
        // from the caller's text.
        let mut whens = String::new();
        let mut in_app = false;
        for name in order {
            let (name, reachable) = match *name {
                "inapp" => {
                    in_app = true;
                    let seen = format!(
                        "EXISTS (SELECT 1 FROM events e WHERE e.workspace_id = {ws_param} AND e.contact_id = c.id \
                         AND e.name = 'app_open' AND e.at >= {since_param})"
                    );
                    ("inapp", seen)
                }
                other => match Channel::parse(other) {
                    Some(ch) => (
                        ch.as_str(),
                        format!("({}) IS NULL", ch.skip_reason(&ws_param)),
                    ),
                    None => continue,
                },
            };
            whens.push_str(&format!(" WHEN {reachable} THEN '{name}'"));
        }
        if whens.is_empty() {
            let everyone = self.resolve_audience(ws, spec, None).await?;
            return Ok(vec![(None, everyone.total)]);
        }
        let sql = format!(
            "SELECT r, COUNT(*) AS n FROM (SELECT CASE{whens} END AS r FROM {} WHERE {}) x GROUP BY r",
            compiled.from, compiled.condition
        );
        Ok(on_db!(self, p => {
            let q = bind_compiled(sqlx::query(sqlx::AssertSqlSafe(sql)), &compiled.binds).bind(ws.0);
            // `$since` only where the order has in-app: a parameter no
            // statement text names is an error on PostgreSQL.
            let q = if in_app { q.bind(app_seen_since) } else { q };
            q.fetch_all(p)
                .await?
                .iter()
                .map(|r| (r.opt_text("r"), u64::try_from(r.int("n")).unwrap_or(0)))
                .collect()
        }))
    }

    /// The ids of the people an audience may reach on a channel (without
    /// one: everyone in it), after `after_id` in id order, in batches.
    pub async fn sendable_ids(
        &self,
        ws: WorkspaceId,
        spec: &AudienceSpec,
        channel: Option<Channel>,
        after_id: i64,
        limit: u32,
    ) -> Result<Vec<i64>> {
        let compiled = self.compile_spec(ws, spec).await?;
        let mut next = compiled.binds.len() + 1;
        let reachable = match channel {
            Some(ch) => {
                next += 1;
                format!(
                    " AND ({}) IS NULL",
                    ch.skip_reason(&format!("${}", next - 1))
                )
            }
            None => String::new(),
        };
        let sql = format!(
            "SELECT c.id FROM {} WHERE {}{reachable} AND c.id > ${next} ORDER BY c.id LIMIT ${}",
            compiled.from,
            compiled.condition,
            next + 1
        );
        Ok(on_db!(self, p => {
            let q = bind_compiled(sqlx::query(sqlx::AssertSqlSafe(sql)), &compiled.binds);
            let q = if channel.is_some() { q.bind(ws.0) } else { q };
            q.bind(after_id).bind(i64::from(limit))
                .fetch_all(p).await?.iter().map(|r| r.int("id")).collect()
        }))
    }

    /// Adds an address or phone number to the blocklist.
    pub async fn block(
        &self,
        ws: WorkspaceId,
        kind: &str,
        value: &str,
        reason: Option<&str>,
    ) -> Result<BlockedAddress> {
        let now = self.now();
        on_db!(self, p => {
            sqlx::query(
                "INSERT INTO blocklist (workspace_id, kind, value, reason, created_at) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (workspace_id, kind, value) DO UPDATE SET reason = excluded.reason",
            )
            .bind(ws.0).bind(kind).bind(value).bind(reason).bind(now).execute(p).await?;
        });
        Ok(BlockedAddress {
            kind: kind.to_string(),
            value: value.to_string(),
            reason: reason.map(str::to_string),
            created_at: now,
        })
    }

    pub async fn unblock(&self, ws: WorkspaceId, kind: &str, value: &str) -> Result<()> {
        let n = on_db!(self, p => {
            sqlx::query("DELETE FROM blocklist WHERE workspace_id = $1 AND kind = $2 AND value = $3")
                .bind(ws.0).bind(kind).bind(value).execute(p).await?.rows_affected()
        });
        if n == 0 {
            Err(StoreError::NotFound)
        } else {
            Ok(())
        }
    }

    pub async fn blocklist(&self, ws: WorkspaceId) -> Result<Vec<BlockedAddress>> {
        on_db!(self, p => {
            Ok(sqlx::query("SELECT kind, value, reason, created_at FROM blocklist WHERE workspace_id = $1 ORDER BY kind, value")
                .bind(ws.0).fetch_all(p).await?.iter().map(|r| BlockedAddress {
                    kind: r.text("kind"), value: r.text("value"), reason: r.opt_text("reason"), created_at: r.int("created_at"),
                }).collect())
        })
    }
}
