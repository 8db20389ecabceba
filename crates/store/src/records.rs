//! Records of entity types: orders, companies, leads and workspace-defined
//! types, each linked to a contact when the payload names one.

use serde_json::{Map, Value};
use sqlx::AssertSqlSafe;
use swell_core::FieldError;
use swell_core::contact::Patch;
use swell_core::entity::{ColumnType, EntityKind, EntityType};
use swell_core::record::{ContactRef, Record, RecordInput, number_from_f64, split_columns};

use crate::bulk::BulkWrite;
use crate::contacts::{
    Outcome, Page, WriteResult, allocate_ids, paginate, placeholders, write_changes,
};
use crate::rows::RowExt;
use crate::{BeginWrite, Result, Store, StoreError, WorkspaceId, on_db};

#[derive(Debug, Clone)]
pub struct RecordWrite {
    /// Update this record (PATCH); otherwise upsert by external id.
    pub id: Option<i64>,
    pub input: RecordInput,
}

/// The SQL shape of a type: its table, its standard columns, and for
/// custom types the `entity_type` discriminator.
struct Shape {
    table: &'static str,
    columns: Vec<(&'static str, ColumnType)>,
    custom: Option<String>,
}

impl Shape {
    fn of(kind: &EntityKind) -> Shape {
        let columns = match kind {
            EntityKind::Builtin(b) => b.columns().iter().map(|c| (c.name, c.ty)).collect(),
            _ => Vec::new(),
        };
        let custom = match kind {
            EntityKind::Custom(n) => Some(n.clone()),
            _ => None,
        };
        Shape {
            table: kind.table(),
            columns,
            custom,
        }
    }

    fn select(&self) -> String {
        let mut cols = String::from("id, external_id, contact_id, data, created_at, updated_at");
        for (c, _) in &self.columns {
            cols.push_str(", ");
            cols.push_str(c);
        }
        cols
    }

    /// `AND entity_type = $n` for custom types.
    fn scope(&self, n: usize) -> String {
        if self.custom.is_some() {
            format!(" AND entity_type = ${n}")
        } else {
            String::new()
        }
    }
}

fn record_from_row(shape: &Shape, entity: &str, r: &impl RowExt) -> Record {
    let mut values: Map<String, Value> = match r.json("data") {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    for (c, ty) in &shape.columns {
        let v = match ty {
            ColumnType::Number => r.opt_float(c).map(number_from_f64).unwrap_or(Value::Null),
            ColumnType::Integer | ColumnType::Timestamp => {
                r.opt_int(c).map(Value::from).unwrap_or(Value::Null)
            }
            ColumnType::Text | ColumnType::Date => {
                r.opt_text(c).map(Value::from).unwrap_or(Value::Null)
            }
        };
        if !v.is_null() {
            values.insert(c.to_string(), v);
        }
    }
    Record {
        id: r.int("id"),
        entity: entity.to_string(),
        external_id: r.opt_text("external_id"),
        contact_id: r.opt_int("contact_id"),
        values,
        created_at: r.int("created_at"),
        updated_at: r.int("updated_at"),
    }
}

#[derive(Debug, Clone, Default)]
pub struct RecordQuery {
    pub contact_id: Option<i64>,
    pub cursor: Option<i64>,
    pub limit: u32,
}

impl Store {
    /// Writes a batch of records of one type in one transaction. A record
    /// that names a contact by email, phone or external id that does not
    /// exist yet creates that contact (a shop's first order from a new
    /// customer); one that names a contact id that does not exist fails.
    pub async fn write_records(
        &self,
        ws: WorkspaceId,
        ty: &EntityType,
        writes: &[RecordWrite],
        dry_run: bool,
    ) -> Result<Vec<WriteResult>> {
        let shape = Shape::of(&ty.kind);
        let entity = ty.kind.name().to_string();
        let workspace = self.workspace(ws).await?;
        let now = self.now();
        on_db!(self, p => {
            let mut tx = p.begin_write().await?;
            // Every lookup here is an equality on a unique key, which a
            // reused plan serves as well as a fresh one; the foreign-key
            // checks of each insert then stop being planned row by row.
            tx.reuse_plans().await?;
            let mut results = Vec::with_capacity(writes.len());
            for w in writes {
                // 1. The contact it links to, created when named by a key.
                let contact_id = match &w.input.contact {
                    None => None,
                    Some(ContactRef::Id(id)) => {
                        let found: Option<i64> = sqlx::query_scalar("SELECT id FROM contacts WHERE workspace_id = $1 AND id = $2")
                            .bind(ws.0).bind(*id).fetch_optional(&mut *tx).await?;
                        match found {
                            Some(id) => Some(id),
                            None => {
                                results.push(Err(FieldError::new("contact_id", format!("contact {id} not found"))));
                                continue;
                            }
                        }
                    }
                    Some(key) => {
                        let (column, value) = match key {
                            ContactRef::ExternalId(v) => ("external_id", v.clone()),
                            ContactRef::Email(v) => ("email", v.as_str().to_string()),
                            ContactRef::Phone(v) => ("phone", v.as_str().to_string()),
                            ContactRef::Id(_) => unreachable!("handled above"),
                        };
                        let sql = format!("SELECT id FROM contacts WHERE workspace_id = $1 AND {column} = $2");
                        let found: Option<i64> = sqlx::query_scalar(AssertSqlSafe(sql)).bind(ws.0).bind(&value).fetch_optional(&mut *tx).await?;
                        match found {
                            Some(id) => Some(id),
                            None => {
                                let id = allocate_ids!(self, tx, "contacts", 1);
                                let mut c = swell_core::contact::Contact::blank(&workspace.timezone, now);
                                c.id = id;
                                let changes = c.apply(&crate::contacts::ContactKey::from(key.clone()).as_input());
                                let sql = format!(
                                    "INSERT INTO contacts (id, workspace_id, {column}, timezone, search, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6)"
                                );
                                sqlx::query(AssertSqlSafe(sql)).bind(id).bind(ws.0).bind(&value).bind(&workspace.timezone)
                                    .bind(c.search_text()).bind(now).execute(&mut *tx).await?;
                                write_changes!(self, tx, ws, "contact", std::iter::once((id, "create", &changes)), now);
                                Some(id)
                            }
                        }
                    }
                };

                // 2. The record it updates, if any.
                let existing = if let Some(id) = w.id {
                    let sql = format!("SELECT {} FROM {} WHERE workspace_id = $1 AND id = $2{}", shape.select(), shape.table, shape.scope(3));
                    let mut q = sqlx::query(AssertSqlSafe(sql)).bind(ws.0).bind(id);
                    if let Some(t) = &shape.custom { q = q.bind(t.clone()); }
                    match q.fetch_optional(&mut *tx).await? {
                        Some(r) => Some(record_from_row(&shape, &entity, &r)),
                        None => {
                            results.push(Err(FieldError::new("id", format!("{entity} {id} not found"))));
                            continue;
                        }
                    }
                } else if let Patch::Set(ext) = &w.input.external_id {
                    let sql = format!("SELECT {} FROM {} WHERE workspace_id = $1 AND external_id = $2{}", shape.select(), shape.table, shape.scope(3));
                    let mut q = sqlx::query(AssertSqlSafe(sql)).bind(ws.0).bind(ext.clone());
                    if let Some(t) = &shape.custom { q = q.bind(t.clone()); }
                    q.fetch_optional(&mut *tx).await?.map(|r| record_from_row(&shape, &entity, &r))
                } else {
                    None
                };

                // 3. Apply and write.
                let is_new = existing.is_none();
                let mut rec = existing.unwrap_or_else(|| Record {
                    id: 0,
                    entity: entity.clone(),
                    external_id: None,
                    contact_id: None,
                    values: Map::new(),
                    created_at: now,
                    updated_at: now,
                });
                // A new lead without a status starts in the pipeline's first.
                let defaulted;
                let input = if is_new
                    && ty.kind == EntityKind::Builtin(swell_core::entity::Builtin::Lead)
                    && w.input.values.get("status").is_none_or(Value::is_null)
                {
                    let mut i = w.input.clone();
                    i.values.insert("status".into(), Value::from("new"));
                    defaulted = i;
                    &defaulted
                } else {
                    &w.input
                };
                let changes = rec.apply(input, contact_id);
                if !is_new && changes.is_empty() {
                    results.push(Ok((Outcome::Unchanged, rec.id)));
                    continue;
                }
                if let Some(ext) = &rec.external_id {
                    let sql = format!("SELECT id FROM {} WHERE workspace_id = $1 AND external_id = $2 AND id <> $3{}", shape.table, shape.scope(4));
                    let mut q = sqlx::query_scalar::<_, i64>(AssertSqlSafe(sql)).bind(ws.0).bind(ext.clone()).bind(rec.id);
                    if let Some(t) = &shape.custom { q = q.bind(t.clone()); }
                    if let Some(other) = q.fetch_optional(&mut *tx).await? {
                        results.push(Err(FieldError::new("external_id", format!("'{ext}' already belongs to {entity} {other}"))));
                        continue;
                    }
                }
                rec.updated_at = now;
                let (cols, data) = split_columns(&ty.kind, &rec.values);
                let mut names = vec!["external_id", "contact_id", "data", "created_at", "updated_at"];
                names.extend(cols.iter().map(|c| c.0));
                if shape.custom.is_some() { names.push("entity_type"); }
                let sql = if is_new {
                    format!("INSERT INTO {} (workspace_id, {}) VALUES ($1, {}) RETURNING id", shape.table, names.join(", "), placeholders(2, names.len()))
                } else {
                    let sets: Vec<String> = names.iter().enumerate().map(|(i, n)| format!("{n} = ${}", i + 3)).collect();
                    format!("UPDATE {} SET {} WHERE workspace_id = $1 AND id = $2 RETURNING id", shape.table, sets.join(", "))
                };
                let mut q = sqlx::query_scalar::<_, i64>(AssertSqlSafe(sql)).bind(ws.0);
                if !is_new { q = q.bind(rec.id); }
                q = q.bind(rec.external_id.clone()).bind(rec.contact_id)
                    .bind(sqlx::types::Json(Value::Object(data))).bind(rec.created_at).bind(rec.updated_at);
                for (_, ty, v) in &cols {
                    q = match ty {
                        ColumnType::Number => q.bind(v.as_f64()),
                        ColumnType::Integer | ColumnType::Timestamp => q.bind(v.as_i64()),
                        ColumnType::Text | ColumnType::Date => q.bind(v.as_str().map(str::to_string)),
                    };
                }
                if let Some(t) = &shape.custom { q = q.bind(t.clone()); }
                rec.id = q.fetch_one(&mut *tx).await?;
                let op = if is_new { "create" } else { "update" };
                write_changes!(self, tx, ws, entity.as_str(), std::iter::once((rec.id, op, &changes)), now);
                results.push(Ok((if is_new { Outcome::Created } else { Outcome::Updated }, rec.id)));
            }
            if dry_run { tx.rollback().await?; } else { tx.commit().await?; self.records_changed(); }
            Ok(results)
        })
    }

    pub async fn record(&self, ws: WorkspaceId, ty: &EntityType, id: i64) -> Result<Record> {
        let shape = Shape::of(&ty.kind);
        on_db!(self, p => {
            let sql = format!("SELECT {} FROM {} WHERE workspace_id = $1 AND id = $2{}", shape.select(), shape.table, shape.scope(3));
            let mut q = sqlx::query(AssertSqlSafe(sql)).bind(ws.0).bind(id);
            if let Some(t) = &shape.custom { q = q.bind(t.clone()); }
            q.fetch_optional(p).await?.map(|r| record_from_row(&shape, ty.kind.name(), &r)).ok_or(StoreError::NotFound)
        })
    }

    pub async fn list_records(
        &self,
        ws: WorkspaceId,
        ty: &EntityType,
        query: &RecordQuery,
    ) -> Result<Page<Record>> {
        let shape = Shape::of(&ty.kind);
        let limit = query.limit.clamp(1, 1000) as i64;
        let mut sql = format!(
            "SELECT {} FROM {} WHERE workspace_id = $1 AND id > $2",
            shape.select(),
            shape.table
        );
        let mut n = 3;
        if shape.custom.is_some() {
            sql.push_str(&shape.scope(n));
            n += 1;
        }
        if query.contact_id.is_some() {
            sql.push_str(&format!(" AND contact_id = ${n}"));
            n += 1;
        }
        sql.push_str(&format!(" ORDER BY id LIMIT ${n}"));
        let items: Vec<Record> = on_db!(self, p => {
            let mut q = sqlx::query(AssertSqlSafe(sql.clone())).bind(ws.0).bind(query.cursor.unwrap_or(0));
            if let Some(t) = &shape.custom { q = q.bind(t.clone()); }
            if let Some(c) = query.contact_id { q = q.bind(c); }
            q.bind(limit + 1).fetch_all(p).await?.iter().map(|r| record_from_row(&shape, ty.kind.name(), r)).collect()
        });
        Ok(paginate(items, limit as usize, |r| r.id))
    }

    pub async fn delete_record(&self, ws: WorkspaceId, ty: &EntityType, id: i64) -> Result<()> {
        let rec = self.record(ws, ty, id).await?;
        let shape = Shape::of(&ty.kind);
        let now = self.now();
        on_db!(self, p => {
            let mut tx = p.begin_write().await?;
            let sql = format!("DELETE FROM {} WHERE workspace_id = $1 AND id = $2", shape.table);
            sqlx::query(AssertSqlSafe(sql)).bind(ws.0).bind(id).execute(&mut *tx).await?;
            let changes: Vec<_> = rec.values.iter().map(|(k, v)| (k.clone(), v.clone(), Value::Null)).collect();
            write_changes!(self, tx, ws, ty.kind.name(), std::iter::once((id, "delete", &changes)), now);
            tx.commit().await?;
            self.records_changed();
            Ok(())
        })
    }
}

impl From<ContactRef> for crate::contacts::ContactKey {
    fn from(r: ContactRef) -> Self {
        match r {
            ContactRef::Id(id) => crate::contacts::ContactKey::Id(id),
            ContactRef::ExternalId(v) => crate::contacts::ContactKey::ExternalId(v),
            ContactRef::Email(v) => crate::contacts::ContactKey::Email(v),
            ContactRef::Phone(v) => crate::contacts::ContactKey::Phone(v),
        }
    }
}
