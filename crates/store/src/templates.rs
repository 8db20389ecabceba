//! Message templates: one row per template, its content the channel's
//! template as JSON. Checking and rendering are the core's
//! (`swell_core::template`); this keeps them.

use serde::Serialize;
use serde_json::Value;

use crate::rows::RowExt;
use crate::{Result, Store, StoreError, WorkspaceId, on_db};

#[derive(Debug, Clone, Serialize)]
pub struct Template {
    pub id: i64,
    pub name: String,
    /// `email`, `sms` or `zns`.
    pub channel: String,
    pub content: Value,
    #[serde(serialize_with = "swell_core::time::serialize_millis")]
    pub created_at: i64,
    #[serde(serialize_with = "swell_core::time::serialize_millis")]
    pub updated_at: i64,
}

fn template_from_row(r: &impl RowExt) -> Template {
    Template {
        id: r.int("id"),
        name: r.text("name"),
        channel: r.text("channel"),
        content: r.json("content"),
        created_at: r.int("created_at"),
        updated_at: r.int("updated_at"),
    }
}

const COLUMNS: &str = "id, name, channel, content, created_at, updated_at";

impl Store {
    /// Stores a new template (`id` None) or replaces one.
    pub async fn put_template(
        &self,
        ws: WorkspaceId,
        id: Option<i64>,
        name: &str,
        channel: &str,
        content: &Value,
    ) -> Result<Template> {
        let now = self.now();
        let json = sqlx::types::Json(content);
        let id = match id {
            None => on_db!(self, p => {
                sqlx::query_scalar::<_, i64>(
                    "INSERT INTO templates (workspace_id, name, channel, content, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
                )
                .bind(ws.0).bind(name).bind(channel).bind(json).bind(now)
                .fetch_one(p).await?
            }),
            Some(id) => {
                let n = on_db!(self, p => {
                    sqlx::query(
                        "UPDATE templates SET name = $3, channel = $4, content = $5, updated_at = $6
                         WHERE workspace_id = $1 AND id = $2",
                    )
                    .bind(ws.0).bind(id).bind(name).bind(channel).bind(json).bind(now)
                    .execute(p).await?.rows_affected()
                });
                if n == 0 {
                    return Err(StoreError::NotFound);
                }
                id
            }
        };
        self.template(ws, id).await
    }

    pub async fn template(&self, ws: WorkspaceId, id: i64) -> Result<Template> {
        let sql = format!("SELECT {COLUMNS} FROM templates WHERE workspace_id = $1 AND id = $2");
        on_db!(self, p => {
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(ws.0).bind(id).fetch_optional(p).await?
                .map(|r| template_from_row(&r)).ok_or(StoreError::NotFound)
        })
    }

    pub async fn templates(&self, ws: WorkspaceId) -> Result<Vec<Template>> {
        let sql =
            format!("SELECT {COLUMNS} FROM templates WHERE workspace_id = $1 ORDER BY id DESC");
        on_db!(self, p => {
            Ok(sqlx::query(sqlx::AssertSqlSafe(sql)).bind(ws.0).fetch_all(p).await?
                .iter().map(template_from_row).collect())
        })
    }

    /// Deletes a template no broadcast uses.
    pub async fn delete_template(&self, ws: WorkspaceId, id: i64) -> Result<()> {
        self.template(ws, id).await?;
        let used: i64 = on_db!(self, p => {
            sqlx::query_scalar("SELECT COUNT(*) FROM broadcasts WHERE workspace_id = $1 AND template_id = $2")
                .bind(ws.0).bind(id).fetch_one(p).await?
        });
        if used > 0 {
            return Err(StoreError::Conflict(format!(
                "template {id} is used by {used} broadcast(s)"
            )));
        }
        on_db!(self, p => {
            sqlx::query("DELETE FROM templates WHERE workspace_id = $1 AND id = $2")
                .bind(ws.0).bind(id).execute(p).await?;
        });
        Ok(())
    }
}
