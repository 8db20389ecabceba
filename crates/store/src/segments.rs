//! Segments: saved filters over contacts, with a name and a slug, and the
//! catalog that filters are validated against.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use swell_core::FieldError;
use swell_core::entity::{Builtin, EntityKind, EntityType};
use swell_core::filter::{Catalog, Filter};
use swell_core::schema::{FieldDef, Schema};

use crate::rows::RowExt;
use crate::{Result, Store, StoreError, WorkspaceId, on_db};

#[derive(Debug, Clone, Serialize)]
pub struct Segment {
    pub id: i64,
    pub slug: String,
    pub name: String,
    /// The filter in its text form.
    pub filter: String,
    /// The filter's syntax tree (the JSON form).
    pub filter_json: serde_json::Value,
    #[serde(serialize_with = "swell_core::time::serialize_millis")]
    pub created_at: i64,
    #[serde(serialize_with = "swell_core::time::serialize_millis")]
    pub updated_at: i64,
}

/// Slugs: lower-case letters, digits, `-` and `_`, as filters name them
/// (`in segment "hot-leads"`).
pub fn check_slug(slug: &str) -> std::result::Result<(), String> {
    let ok = !slug.is_empty()
        && slug.len() <= 63
        && slug
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        && slug.starts_with(|c: char| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "'{slug}' is not a slug (lower-case letters, digits, - and _)"
        ))
    }
}

fn segment_from_row(r: &impl RowExt) -> Segment {
    let json = r.json("filter");
    let text = Filter::from_json(&json)
        .map(|f| f.to_string())
        .unwrap_or_default();
    Segment {
        id: r.int("id"),
        slug: r.text("slug"),
        name: r.text("name"),
        filter: text,
        filter_json: json,
        created_at: r.int("created_at"),
        updated_at: r.int("updated_at"),
    }
}

impl Store {
    /// What filters of this workspace may name: its types and their fields,
    /// its lists, its segments.
    pub async fn catalog(&self, ws: WorkspaceId) -> Result<Catalog> {
        let (types, lists, segments) = on_db!(self, p => {
            let types: Vec<(String, serde_json::Value)> = sqlx::query("SELECT name, fields FROM entity_types WHERE workspace_id = $1")
                .bind(ws.0).fetch_all(p).await?.iter().map(|r| (r.text("name"), r.json("fields"))).collect();
            let lists: Vec<String> = sqlx::query_scalar("SELECT slug FROM lists WHERE workspace_id = $1").bind(ws.0).fetch_all(p).await?;
            let segments: Vec<(String, serde_json::Value)> = sqlx::query("SELECT slug, filter FROM segments WHERE workspace_id = $1")
                .bind(ws.0).fetch_all(p).await?.iter().map(|r| (r.text("slug"), r.json("filter"))).collect();
            (types, lists, segments)
        });
        let types = types
            .into_iter()
            .map(|(name, fields)| {
                let kind = match name.as_str() {
                    "contact" => EntityKind::Contact,
                    n => Builtin::from_name(n)
                        .map(EntityKind::Builtin)
                        .unwrap_or(EntityKind::Custom(name.clone())),
                };
                let fields: Vec<FieldDef> = serde_json::from_value(fields).unwrap_or_default();
                EntityType {
                    kind,
                    label: None,
                    schema: Schema { fields },
                }
            })
            .collect();
        let segments: BTreeMap<String, Filter> = segments
            .into_iter()
            .filter_map(|(slug, json)| Filter::from_json(&json).ok().map(|f| (slug, f)))
            .collect();
        Ok(Catalog {
            types,
            lists: lists.into_iter().collect::<BTreeSet<_>>(),
            segments,
        })
    }

    /// Creates or replaces a segment after checking its filter against the
    /// workspace (unknown fields, wrong types, unknown lists and segments,
    /// and loops through other segments are refused).
    pub async fn put_segment(
        &self,
        ws: WorkspaceId,
        slug: &str,
        name: &str,
        filter: &Filter,
    ) -> Result<Segment> {
        check_slug(slug).map_err(|e| StoreError::Invalid(vec![FieldError::new("slug", e)]))?;
        if name.trim().is_empty() {
            return Err(StoreError::Invalid(vec![FieldError::new(
                "name", "is empty",
            )]));
        }
        let mut catalog = self.catalog(ws).await?;
        catalog.segments.insert(slug.to_string(), filter.clone());
        filter
            .validate(&catalog, &EntityKind::Contact)
            .map_err(|e| StoreError::Invalid(vec![FieldError::new("filter", e.to_string())]))?;
        let now = self.now();
        let json = sqlx::types::Json(filter.to_json());
        on_db!(self, p => {
            sqlx::query(
                "INSERT INTO segments (workspace_id, slug, name, filter, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5)
                 ON CONFLICT (workspace_id, slug) DO UPDATE SET name = excluded.name, filter = excluded.filter, updated_at = excluded.updated_at",
            )
            .bind(ws.0).bind(slug).bind(name.trim()).bind(&json).bind(now)
            .execute(p).await?;
        });
        self.segment(ws, slug).await
    }

    pub async fn segment(&self, ws: WorkspaceId, slug: &str) -> Result<Segment> {
        on_db!(self, p => {
            sqlx::query("SELECT id, slug, name, filter, created_at, updated_at FROM segments WHERE workspace_id = $1 AND slug = $2")
                .bind(ws.0).bind(slug).fetch_optional(p).await?
                .map(|r| segment_from_row(&r)).ok_or(StoreError::NotFound)
        })
    }

    pub async fn list_segments(&self, ws: WorkspaceId) -> Result<Vec<Segment>> {
        on_db!(self, p => {
            Ok(sqlx::query("SELECT id, slug, name, filter, created_at, updated_at FROM segments WHERE workspace_id = $1 ORDER BY slug")
                .bind(ws.0).fetch_all(p).await?.iter().map(segment_from_row).collect())
        })
    }

    /// Deletes a segment, unless another segment's filter names it.
    pub async fn delete_segment(&self, ws: WorkspaceId, slug: &str) -> Result<()> {
        self.segment(ws, slug).await?;
        let catalog = self.catalog(ws).await?;
        let mut others = catalog.segments.clone();
        others.remove(slug);
        let check = Catalog {
            segments: others.clone(),
            ..catalog
        };
        for (other, f) in &others {
            if f.validate(&check, &EntityKind::Contact).is_err() {
                return Err(StoreError::Conflict(format!(
                    "segment '{other}' uses segment '{slug}'; change it first"
                )));
            }
        }
        on_db!(self, p => {
            sqlx::query("DELETE FROM segments WHERE workspace_id = $1 AND slug = $2").bind(ws.0).bind(slug).execute(p).await?;
        });
        Ok(())
    }
}
