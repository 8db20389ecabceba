//! Events: append-only facts about contacts (page views, opens, custom
//! `track` calls).

use serde::Serialize;
use serde_json::Value;
use sqlx::AssertSqlSafe;
use swell_core::record::ContactRef;
use swell_core::time::{Millis, format_millis};

use crate::contacts::{ContactKey, ContactWrite, Target, rows_placeholders};
use crate::rows::RowExt;
use crate::{BeginWrite, Result, Store, StoreError, WorkspaceId, on_db};

/// An event as received, its contact named by any key.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub name: String,
    pub contact: Option<ContactRef>,
    pub at: Millis,
    pub properties: Value,
}

#[derive(Debug, Clone, Serialize)]
pub struct Event {
    pub id: i64,
    pub event: String,
    pub contact_id: Option<i64>,
    #[serde(serialize_with = "swell_core::time::serialize_millis")]
    pub timestamp: Millis,
    pub properties: Value,
}

#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    pub contact_id: Option<i64>,
    pub name: Option<String>,
    pub since: Option<Millis>,
    pub cursor: Option<i64>,
    pub limit: u32,
}

impl Store {
    /// Appends events. A contact named by email, phone or external id that
    /// does not exist yet is created (a first page view identifies a new
    /// person); one named by an id that does not exist is an error, and then
    /// none of the events is stored.
    pub async fn append_events(&self, ws: WorkspaceId, events: &[NewEvent]) -> Result<Vec<i64>> {
        // Resolve contacts first, creating the missing ones in one batch.
        let mut contact_ids = Vec::with_capacity(events.len());
        let mut to_create = Vec::new();
        for (i, e) in events.iter().enumerate() {
            match &e.contact {
                None => contact_ids.push(None),
                Some(ContactRef::Id(id)) => {
                    self.contact(ws, *id).await.map_err(|err| match err {
                        StoreError::NotFound => {
                            StoreError::Invalid(vec![swell_core::FieldError::new(
                                format!("[{i}].contact.id"),
                                format!("contact {id} not found"),
                            )])
                        }
                        other => other,
                    })?;
                    contact_ids.push(Some(*id));
                }
                Some(key) => {
                    contact_ids.push(None);
                    to_create.push((
                        i,
                        ContactWrite {
                            target: Target::Upsert,
                            input: ContactKey::from(key.clone()).as_input(),
                        },
                    ));
                }
            }
        }
        if !to_create.is_empty() {
            let writes: Vec<ContactWrite> = to_create.iter().map(|(_, w)| w.clone()).collect();
            let results = self.write_contacts(ws, &writes, false).await?;
            for ((i, _), r) in to_create.iter().zip(results) {
                match r {
                    Ok((_, id)) => contact_ids[*i] = Some(id),
                    Err(e) => {
                        return Err(StoreError::Invalid(vec![swell_core::FieldError::new(
                            format!("[{i}].contact.{}", e.field),
                            e.reason,
                        )]));
                    }
                }
            }
        }
        let now = self.now();
        on_db!(self, p => {
            let mut tx = p.begin_write().await?;
            let mut ids = Vec::with_capacity(events.len());
            for (chunk_i, chunk) in events.chunks(500).enumerate() {
                let sql = format!(
                    "INSERT INTO events (workspace_id, contact_id, name, at, properties, received_at) VALUES {} RETURNING id",
                    rows_placeholders(self.backend(), chunk.len(), 6)
                );
                let mut q = sqlx::query_scalar::<_, i64>(AssertSqlSafe(sql));
                for (j, e) in chunk.iter().enumerate() {
                    q = q.bind(ws.0).bind(contact_ids[chunk_i * 500 + j]).bind(e.name.clone()).bind(e.at)
                        .bind(sqlx::types::Json(e.properties.clone())).bind(now);
                }
                ids.extend(q.fetch_all(&mut *tx).await?);
            }
            tx.commit().await?;
            ids.sort();
            Ok(ids)
        })
    }

    /// Events newest first: of one contact, one name, since a time.
    pub async fn list_events(
        &self,
        ws: WorkspaceId,
        query: &EventQuery,
    ) -> Result<crate::contacts::Page<Event>> {
        let limit = query.limit.clamp(1, 1000) as i64;
        let mut sql = String::from(
            "SELECT id, contact_id, name, at, properties FROM events WHERE workspace_id = $1 AND id < $2",
        );
        let mut n = 3;
        for (present, clause) in [
            (query.contact_id.is_some(), "contact_id = "),
            (query.name.is_some(), "name = "),
            (query.since.is_some(), "at >= "),
        ] {
            if present {
                sql.push_str(&format!(" AND {clause}${n}"));
                n += 1;
            }
        }
        sql.push_str(&format!(" ORDER BY id DESC LIMIT ${n}"));
        let items: Vec<Event> = on_db!(self, p => {
            let mut q = sqlx::query(AssertSqlSafe(sql.clone())).bind(ws.0).bind(query.cursor.unwrap_or(i64::MAX));
            if let Some(c) = query.contact_id { q = q.bind(c); }
            if let Some(nm) = &query.name { q = q.bind(nm.clone()); }
            if let Some(s) = query.since { q = q.bind(s); }
            q.bind(limit + 1).fetch_all(p).await?.iter().map(|r| Event {
                id: r.int("id"),
                event: r.text("name"),
                contact_id: r.opt_int("contact_id"),
                timestamp: r.int("at"),
                properties: r.json("properties"),
            }).collect()
        });
        Ok(crate::contacts::paginate(items, limit as usize, |e| e.id))
    }
}

impl Event {
    pub fn timestamp_rfc3339(&self) -> String {
        format_millis(self.timestamp)
    }
}

/// One change-log entry.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    pub id: i64,
    pub entity: String,
    pub record_id: i64,
    pub op: String,
    pub changes: Value,
    #[serde(serialize_with = "swell_core::time::serialize_millis")]
    pub at: Millis,
}

impl Store {
    /// Change-log entries, oldest first, optionally of one record.
    pub async fn list_changes(
        &self,
        ws: WorkspaceId,
        entity: Option<&str>,
        record_id: Option<i64>,
        cursor: Option<i64>,
        limit: u32,
    ) -> Result<crate::contacts::Page<Change>> {
        let limit = limit.clamp(1, 1000) as i64;
        let mut sql = String::from(
            "SELECT id, entity, record_id, op, changes, at FROM changes WHERE workspace_id = $1 AND id > $2",
        );
        let mut n = 3;
        if entity.is_some() {
            sql.push_str(&format!(" AND entity = ${n}"));
            n += 1;
        }
        if record_id.is_some() {
            sql.push_str(&format!(" AND record_id = ${n}"));
            n += 1;
        }
        sql.push_str(&format!(" ORDER BY id LIMIT ${n}"));
        let items: Vec<Change> = on_db!(self, p => {
            let mut q = sqlx::query(AssertSqlSafe(sql.clone())).bind(ws.0).bind(cursor.unwrap_or(0));
            if let Some(e) = entity { q = q.bind(e.to_string()); }
            if let Some(r) = record_id { q = q.bind(r); }
            q.bind(limit + 1).fetch_all(p).await?.iter().map(|r| Change {
                id: r.int("id"),
                entity: r.text("entity"),
                record_id: r.int("record_id"),
                op: r.text("op"),
                changes: r.json("changes"),
                at: r.int("at"),
            }).collect()
        });
        Ok(crate::contacts::paginate(items, limit as usize, |c| c.id))
    }
}
