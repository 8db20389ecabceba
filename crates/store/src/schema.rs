//! Entity types and their custom field schemas.

use serde::Serialize;
use swell_core::FieldError;
use swell_core::entity::{Builtin, EntityKind, EntityType};
use swell_core::schema::{FieldDef, Schema, check_key};

use crate::rows::RowExt;
use crate::{Result, Store, StoreError, WorkspaceId, on_db};

/// Names no workspace type may take: the built-ins and words the filter
/// language reserves.
const RESERVED: &[&str] = &[
    "contact", "company", "lead", "order", "event", "events", "attr", "list", "segment", "tag",
];

/// An entity type as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct EntityTypeInfo {
    pub name: String,
    pub builtin: bool,
    pub label: Option<String>,
    /// Standard columns (built-in types only).
    pub columns: Vec<swell_core::entity::Column>,
    /// Custom fields.
    pub fields: Vec<FieldDef>,
}

impl Store {
    /// The contact attribute schema of a workspace.
    pub async fn contact_schema(&self, ws: WorkspaceId) -> Result<Schema> {
        Ok(self
            .entity_type(ws, "contact")
            .await?
            .map(|t| t.schema)
            .unwrap_or_default())
    }

    /// A type by name: `contact`, a built-in, or one the workspace defined.
    pub async fn entity_type(&self, ws: WorkspaceId, name: &str) -> Result<Option<EntityType>> {
        let row = on_db!(self, p => {
            sqlx::query("SELECT label, fields FROM entity_types WHERE workspace_id = $1 AND name = $2")
                .bind(ws.0)
                .bind(name)
                .fetch_optional(p)
                .await?
                .map(|r| (r.opt_text("label"), r.json("fields")))
        });
        let kind = match name {
            "contact" => EntityKind::Contact,
            n => match Builtin::from_name(n) {
                Some(b) => EntityKind::Builtin(b),
                None if row.is_some() => EntityKind::Custom(n.to_string()),
                None => return Ok(None),
            },
        };
        let (label, fields) = row.unwrap_or((None, serde_json::Value::Array(vec![])));
        let fields: Vec<FieldDef> = serde_json::from_value(fields).unwrap_or_default();
        Ok(Some(EntityType {
            kind,
            label,
            schema: Schema { fields },
        }))
    }

    /// Every type the workspace can store records of.
    pub async fn list_entity_types(&self, ws: WorkspaceId) -> Result<Vec<EntityTypeInfo>> {
        let rows: Vec<(String, Option<String>, serde_json::Value)> = on_db!(self, p => {
            sqlx::query("SELECT name, label, fields FROM entity_types WHERE workspace_id = $1 ORDER BY name")
                .bind(ws.0)
                .fetch_all(p)
                .await?
                .iter()
                .map(|r| (r.text("name"), r.opt_text("label"), r.json("fields")))
                .collect()
        });
        let mut out = Vec::new();
        let builtin_names = std::iter::once("contact").chain(Builtin::ALL.iter().map(|b| b.name()));
        for name in builtin_names {
            let kind = Builtin::from_name(name)
                .map(EntityKind::Builtin)
                .unwrap_or(EntityKind::Contact);
            let row = rows.iter().find(|r| r.0 == name);
            out.push(EntityTypeInfo {
                name: name.to_string(),
                builtin: true,
                label: row.and_then(|r| r.1.clone()),
                columns: kind.columns(),
                fields: row
                    .map(|r| serde_json::from_value(r.2.clone()).unwrap_or_default())
                    .unwrap_or_default(),
            });
        }
        for (name, label, fields) in rows
            .iter()
            .filter(|r| r.0 != "contact" && Builtin::from_name(&r.0).is_none())
        {
            out.push(EntityTypeInfo {
                name: name.clone(),
                builtin: false,
                label: label.clone(),
                columns: EntityKind::Custom(name.clone()).columns(),
                fields: serde_json::from_value(fields.clone()).unwrap_or_default(),
            });
        }
        Ok(out)
    }

    /// Creates or replaces a type's custom fields. For `contact` these are
    /// the custom attributes; for a built-in, its extra fields.
    pub async fn put_entity_type(
        &self,
        ws: WorkspaceId,
        name: &str,
        label: Option<&str>,
        fields: Vec<FieldDef>,
    ) -> Result<EntityTypeInfo> {
        let mut errors = Vec::new();
        let builtin = name == "contact" || Builtin::from_name(name).is_some();
        if !builtin {
            if let Err(e) = check_key(name) {
                errors.push(FieldError::new("name", e));
            } else if RESERVED.contains(&name) {
                errors.push(FieldError::new("name", format!("'{name}' is reserved")));
            }
        }
        let kind = match name {
            "contact" => EntityKind::Contact,
            n => Builtin::from_name(n)
                .map(EntityKind::Builtin)
                .unwrap_or(EntityKind::Custom(n.to_string())),
        };
        let columns = kind.columns();
        for (i, f) in fields.iter().enumerate() {
            if let Err(e) = f.validate() {
                errors.push(FieldError::new(format!("fields[{i}]"), e));
            }
            if name != "contact" && columns.iter().any(|c| c.name == f.key) {
                errors.push(FieldError::new(
                    format!("fields[{i}]"),
                    format!("'{}' is a standard field", f.key),
                ));
            }
            if fields[..i].iter().any(|g| g.key == f.key) {
                errors.push(FieldError::new(
                    format!("fields[{i}]"),
                    format!("'{}' is defined twice", f.key),
                ));
            }
        }
        if !errors.is_empty() {
            return Err(StoreError::Invalid(errors));
        }
        let now = self.now();
        let json =
            sqlx::types::Json(serde_json::to_value(&fields).expect("field definitions serialise"));
        on_db!(self, p => {
            sqlx::query(
                "INSERT INTO entity_types (workspace_id, name, label, fields, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $5)
                 ON CONFLICT (workspace_id, name) DO UPDATE SET label = excluded.label, fields = excluded.fields, updated_at = excluded.updated_at",
            )
            .bind(ws.0)
            .bind(name)
            .bind(label)
            .bind(&json)
            .bind(now)
            .execute(p)
            .await?;
        });
        Ok(EntityTypeInfo {
            name: name.to_string(),
            builtin,
            label: label.map(str::to_string),
            columns,
            fields,
        })
    }
}
