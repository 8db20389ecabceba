//! Marketing lists: static (members added and removed by hand, API or CSV)
//! or rule-based (members follow a filter), each member with a subscription
//! status and when it last changed.
//!
//! Rule-based lists are kept as rows too: a refresh adds the contacts the
//! rule selects and drops rule members that no longer match, so `in list`
//! is one index probe for both kinds. A member removed by hand keeps a
//! `removed` row, which the rule never overrides.

use serde::Serialize;
use swell_core::FieldError;
use swell_core::entity::EntityKind;
use swell_core::filter::Filter;

use crate::audience::Bind;
use crate::contacts::Page;
use crate::rows::RowExt;
use crate::segments::check_slug;
use crate::{BeginWrite, Result, Store, StoreError, WorkspaceId, on_db};

/// A member's subscription status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Subscribed,
    Unsubscribed,
    /// Waiting for the person to confirm (double opt-in).
    Pending,
    /// Taken off a rule-based list by hand; the rule does not put it back.
    Removed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Subscribed => "subscribed",
            Status::Unsubscribed => "unsubscribed",
            Status::Pending => "pending",
            Status::Removed => "removed",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        [
            Status::Subscribed,
            Status::Unsubscribed,
            Status::Pending,
            Status::Removed,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct List {
    pub id: i64,
    pub slug: String,
    pub name: String,
    /// `static` or `rule`.
    pub kind: String,
    /// The rule, in text form, for rule-based lists.
    pub filter: Option<String>,
    pub subscribed: i64,
    pub unsubscribed: i64,
    pub pending: i64,
    #[serde(serialize_with = "swell_core::time::serialize_millis")]
    pub created_at: i64,
    #[serde(serialize_with = "swell_core::time::serialize_millis")]
    pub updated_at: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Member {
    pub contact_id: i64,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub name: Option<String>,
    pub status: String,
    /// `manual` or `rule`.
    pub source: String,
    #[serde(serialize_with = "swell_core::time::serialize_millis")]
    pub changed_at: i64,
}

const LIST_SELECT: &str = "SELECT l.id, l.slug, l.name, l.kind, l.filter, l.created_at, l.updated_at,
        (SELECT COUNT(*) FROM list_members m WHERE m.list_id = l.id AND m.status = 'subscribed') AS subscribed,
        (SELECT COUNT(*) FROM list_members m WHERE m.list_id = l.id AND m.status = 'unsubscribed') AS unsubscribed,
        (SELECT COUNT(*) FROM list_members m WHERE m.list_id = l.id AND m.status = 'pending') AS pending
     FROM lists l";

fn list_from_row(r: &impl RowExt) -> List {
    let json = r.json("filter");
    List {
        id: r.int("id"),
        slug: r.text("slug"),
        name: r.text("name"),
        kind: r.text("kind"),
        filter: if json.is_null() {
            None
        } else {
            Filter::from_json(&json).ok().map(|f| f.to_string())
        },
        subscribed: r.int("subscribed"),
        unsubscribed: r.int("unsubscribed"),
        pending: r.int("pending"),
        created_at: r.int("created_at"),
        updated_at: r.int("updated_at"),
    }
}

impl Store {
    /// Creates or updates a list. A rule-based list's filter is checked
    /// against the workspace and its members refreshed at once.
    pub async fn put_list(
        &self,
        ws: WorkspaceId,
        slug: &str,
        name: &str,
        rule: Option<&Filter>,
    ) -> Result<List> {
        check_slug(slug).map_err(|e| StoreError::Invalid(vec![FieldError::new("slug", e)]))?;
        if name.trim().is_empty() {
            return Err(StoreError::Invalid(vec![FieldError::new(
                "name", "is empty",
            )]));
        }
        if let Some(f) = rule {
            let mut catalog = self.catalog(ws).await?;
            catalog.lists.insert(slug.to_string());
            f.validate(&catalog, &EntityKind::Contact)
                .map_err(|e| StoreError::Invalid(vec![FieldError::new("filter", e.to_string())]))?;
            if f.to_string().contains(&format!("in list \"{slug}\"")) {
                return Err(StoreError::Invalid(vec![FieldError::new(
                    "filter",
                    "a list's rule cannot name the list itself",
                )]));
            }
        }
        let now = self.now();
        let kind = if rule.is_some() { "rule" } else { "static" };
        let json = rule.map(|f| sqlx::types::Json(f.to_json()));
        on_db!(self, p => {
            sqlx::query(
                "INSERT INTO lists (workspace_id, slug, name, kind, filter, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6)
                 ON CONFLICT (workspace_id, slug) DO UPDATE SET name = excluded.name, kind = excluded.kind, filter = excluded.filter,
                    updated_at = excluded.updated_at",
            )
            .bind(ws.0).bind(slug).bind(name.trim()).bind(kind).bind(&json).bind(now)
            .execute(p).await?;
        });
        if rule.is_some() {
            self.refresh_list(ws, slug).await?;
        }
        self.list(ws, slug).await
    }

    pub async fn list(&self, ws: WorkspaceId, slug: &str) -> Result<List> {
        on_db!(self, p => {
            let sql = format!("{LIST_SELECT} WHERE l.workspace_id = $1 AND l.slug = $2");
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(ws.0).bind(slug).fetch_optional(p).await?
                .map(|r| list_from_row(&r)).ok_or(StoreError::NotFound)
        })
    }

    pub async fn list_lists(&self, ws: WorkspaceId) -> Result<Vec<List>> {
        on_db!(self, p => {
            let sql = format!("{LIST_SELECT} WHERE l.workspace_id = $1 ORDER BY l.slug");
            Ok(sqlx::query(sqlx::AssertSqlSafe(sql)).bind(ws.0).fetch_all(p).await?.iter().map(list_from_row).collect())
        })
    }

    /// Deletes a list and its memberships, unless a segment or another
    /// list's rule names it.
    pub async fn delete_list(&self, ws: WorkspaceId, slug: &str) -> Result<()> {
        let list = self.list(ws, slug).await?;
        let needle = format!("in list \"{slug}\"");
        for s in self.list_segments(ws).await? {
            if s.filter.contains(&needle) {
                return Err(StoreError::Conflict(format!(
                    "segment '{}' uses list '{slug}'; change it first",
                    s.slug
                )));
            }
        }
        for l in self.list_lists(ws).await? {
            if l.filter.as_deref().is_some_and(|f| f.contains(&needle)) {
                return Err(StoreError::Conflict(format!(
                    "list '{}' uses list '{slug}'; change it first",
                    l.slug
                )));
            }
        }
        on_db!(self, p => {
            let mut tx = p.begin_write().await?;
            sqlx::query("DELETE FROM list_members WHERE list_id = $1").bind(list.id).execute(&mut *tx).await?;
            sqlx::query("DELETE FROM lists WHERE workspace_id = $1 AND id = $2").bind(ws.0).bind(list.id).execute(&mut *tx).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Brings a rule-based list's members in line with its rule: contacts
    /// the rule selects and that have no row yet become subscribed members;
    /// rule members the rule no longer selects leave. Manual members and
    /// people removed or unsubscribed by hand are never touched. Returns
    /// (added, dropped).
    pub async fn refresh_list(&self, ws: WorkspaceId, slug: &str) -> Result<(u64, u64)> {
        let (id, json): (i64, serde_json::Value) = on_db!(self, p => {
            let r = sqlx::query("SELECT id, filter FROM lists WHERE workspace_id = $1 AND slug = $2")
                .bind(ws.0).bind(slug).fetch_optional(p).await?.ok_or(StoreError::NotFound)?;
            (r.int("id"), r.json("filter"))
        });
        if json.is_null() {
            return Ok((0, 0));
        }
        let filter = Filter::from_json(&json)
            .map_err(|e| StoreError::Invalid(vec![FieldError::new("filter", e.to_string())]))?;
        let catalog = self.catalog(ws).await?;
        let compiled = self
            .compile_audience(ws, &EntityKind::Contact, &filter, &catalog)
            .await?;
        let n = compiled.binds.len();
        let now = self.now();
        let insert = format!(
            "INSERT INTO list_members (workspace_id, list_id, contact_id, status, changed_at, source)
             SELECT {ws}, ${}, c.id, 'subscribed', ${}, 'rule' FROM {} WHERE {}
             ON CONFLICT (list_id, contact_id) DO NOTHING",
            n + 1,
            n + 2,
            compiled.from,
            compiled.condition,
            ws = ws.0
        );
        let drop = format!(
            "DELETE FROM list_members WHERE list_id = ${} AND source = 'rule' AND status = 'subscribed'
               AND contact_id NOT IN (SELECT c.id FROM {} WHERE {})",
            n + 1,
            compiled.from,
            compiled.condition
        );
        on_db!(self, p => {
            let mut tx = p.begin_write().await?;
            let mut q = sqlx::query(sqlx::AssertSqlSafe(insert));
            q = bind_compiled(q, &compiled.binds);
            let added = q.bind(id).bind(now).execute(&mut *tx).await?.rows_affected();
            let mut q = sqlx::query(sqlx::AssertSqlSafe(drop));
            q = bind_compiled(q, &compiled.binds);
            let dropped = q.bind(id).execute(&mut *tx).await?.rows_affected();
            tx.commit().await?;
            Ok((added, dropped))
        })
    }

    /// Sets members' status, adding them when missing. Returns how many
    /// rows changed.
    pub async fn set_members(
        &self,
        ws: WorkspaceId,
        slug: &str,
        contact_ids: &[i64],
        status: Status,
    ) -> Result<u64> {
        let list = self.list(ws, slug).await?;
        let now = self.now();
        on_db!(self, p => {
            let mut tx = p.begin_write().await?;
            let mut changed = 0;
            for id in contact_ids {
                let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM contacts WHERE workspace_id = $1 AND id = $2")
                    .bind(ws.0).bind(*id).fetch_optional(&mut *tx).await?;
                if exists.is_none() {
                    return Err(StoreError::Invalid(vec![FieldError::new("contacts", format!("contact {id} not found"))]));
                }
                changed += sqlx::query(
                    "INSERT INTO list_members (workspace_id, list_id, contact_id, status, changed_at, source) VALUES ($1, $2, $3, $4, $5, 'manual')
                     ON CONFLICT (list_id, contact_id) DO UPDATE SET status = excluded.status, changed_at = excluded.changed_at,
                        source = 'manual' WHERE list_members.status <> excluded.status",
                )
                .bind(ws.0).bind(list.id).bind(*id).bind(status.as_str()).bind(now)
                .execute(&mut *tx).await?.rows_affected();
            }
            tx.commit().await?;
            Ok(changed)
        })
    }

    /// Takes a contact off a list. On a static list the membership goes; on
    /// a rule-based list it stays as `removed`, so the rule keeps it out.
    pub async fn remove_member(&self, ws: WorkspaceId, slug: &str, contact_id: i64) -> Result<()> {
        let list = self.list(ws, slug).await?;
        if list.kind == "rule" {
            self.set_members(ws, slug, &[contact_id], Status::Removed)
                .await?;
            return Ok(());
        }
        let n = on_db!(self, p => {
            sqlx::query("DELETE FROM list_members WHERE list_id = $1 AND contact_id = $2")
                .bind(list.id).bind(contact_id).execute(p).await?.rows_affected()
        });
        if n == 0 {
            Err(StoreError::NotFound)
        } else {
            Ok(())
        }
    }

    /// A page of members in contact id order, optionally of one status.
    pub async fn list_members(
        &self,
        ws: WorkspaceId,
        slug: &str,
        status: Option<Status>,
        cursor: Option<i64>,
        limit: u32,
    ) -> Result<Page<Member>> {
        let list = self.list(ws, slug).await?;
        let limit = limit.clamp(1, 1000) as i64;
        let items: Vec<Member> = on_db!(self, p => {
            let mut sql = String::from(
                "SELECT m.contact_id, c.email, c.phone, c.name, m.status, m.source, m.changed_at
                 FROM list_members m JOIN contacts c ON c.id = m.contact_id
                 WHERE m.list_id = $1 AND m.contact_id > $2",
            );
            if status.is_some() {
                sql.push_str(" AND m.status = $4");
            }
            sql.push_str(" ORDER BY m.contact_id LIMIT $3");
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(list.id).bind(cursor.unwrap_or(0)).bind(limit + 1);
            if let Some(s) = status { q = q.bind(s.as_str()); }
            q.fetch_all(p).await?.iter().map(|r| Member {
                contact_id: r.int("contact_id"),
                email: r.opt_text("email"),
                phone: r.opt_text("phone"),
                name: r.opt_text("name"),
                status: r.text("status"),
                source: r.text("source"),
                changed_at: r.int("changed_at"),
            }).collect()
        });
        Ok(crate::contacts::paginate(items, limit as usize, |m| {
            m.contact_id
        }))
    }

    /// One contact's status on a list, if it is on it.
    pub async fn membership(
        &self,
        ws: WorkspaceId,
        slug: &str,
        contact_id: i64,
    ) -> Result<Option<String>> {
        let list = self.list(ws, slug).await?;
        Ok(on_db!(self, p => {
            sqlx::query_scalar::<_, String>("SELECT status FROM list_members WHERE list_id = $1 AND contact_id = $2")
                .bind(list.id).bind(contact_id).fetch_optional(p).await?
        }))
    }
}

/// Binds a compiled filter's values in order.
pub(crate) fn bind_compiled<'q, DB: sqlx::Database>(
    mut q: sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments>,
    binds: &[Bind],
) -> sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments>
where
    i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    f64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    bool: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<String>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    for b in binds {
        q = match b {
            Bind::Int(v) => q.bind(*v),
            Bind::Float(v) => q.bind(*v),
            Bind::Text(v) => q.bind(v.clone()),
            Bind::Bool(v) => q.bind(*v),
            Bind::Null => q.bind(None::<String>),
        };
    }
    q
}
