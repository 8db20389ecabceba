//! Workspaces (one per business) and the API keys that open them.

use crate::rows::RowExt;
use crate::{BeginWrite, Result, Store, StoreError, on_db};
use base64::Engine;
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};
use swell_core::role::Role;

/// A workspace's id. Every query that touches a workspace's data takes one,
/// and only the authentication layer makes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct WorkspaceId(pub(crate) i64);

impl WorkspaceId {
    pub fn get(self) -> i64 {
        self.0
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Workspace {
    pub id: WorkspaceId,
    pub name: String,
    pub timezone: String,
    pub locale: String,
    pub phone_region: String,
}

/// What an API key opens.
#[derive(Debug, Clone)]
pub struct KeyAccess {
    pub workspace: Workspace,
    /// The user the key acts as, with their role; None: the workspace.
    pub user: Option<(i64, Role)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ApiKey {
    pub id: i64,
    pub workspace_id: WorkspaceId,
    pub label: Option<String>,
    pub prefix: String,
}

pub(crate) fn workspace_from_row(r: &impl RowExt) -> Workspace {
    Workspace {
        id: WorkspaceId(r.int("id")),
        name: r.text("name"),
        timezone: r.text("timezone"),
        locale: r.text("locale"),
        phone_region: r.text("phone_region"),
    }
}

/// Hashes an API key for storage and lookup. Keys carry 190 random bits, so
/// a fast hash is enough: there is nothing to guess (passwords, which people
/// choose, get argon2).
pub fn hash_key(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

impl Store {
    /// Finds a workspace by name, creating it when missing.
    pub async fn ensure_workspace(&self, name: &str) -> Result<Workspace> {
        let name = name.trim();
        if name.is_empty() {
            return Err(StoreError::Invalid(vec![swell_core::FieldError::new(
                "workspace",
                "name is empty",
            )]));
        }
        let now = self.now();
        on_db!(self, p => {
            let mut tx = p.begin_write().await?;
            sqlx::query("INSERT INTO workspaces (name, created_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
                .bind(name)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            let row = sqlx::query("SELECT id, name, timezone, locale, phone_region FROM workspaces WHERE name = $1")
                .bind(name)
                .fetch_one(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(workspace_from_row(&row))
        })
    }

    pub async fn workspace(&self, id: WorkspaceId) -> Result<Workspace> {
        on_db!(self, p => {
            let row = sqlx::query("SELECT id, name, timezone, locale, phone_region FROM workspaces WHERE id = $1")
                .bind(id.0)
                .fetch_optional(p)
                .await?
                .ok_or(StoreError::NotFound)?;
            Ok(workspace_from_row(&row))
        })
    }

    /// Sets a workspace's default zone and locale.
    pub async fn update_workspace(
        &self,
        id: WorkspaceId,
        timezone: Option<&str>,
        locale: Option<&str>,
    ) -> Result<Workspace> {
        on_db!(self, p => {
            sqlx::query("UPDATE workspaces SET timezone = COALESCE($2, timezone), locale = COALESCE($3, locale) WHERE id = $1")
                .bind(id.0)
                .bind(timezone)
                .bind(locale)
                .execute(p)
                .await?;
        });
        self.workspace(id).await
    }

    /// Creates an API key and returns it with its secret, which is shown
    /// this once and stored only as a hash.
    pub async fn create_api_key(
        &self,
        ws: WorkspaceId,
        label: Option<&str>,
    ) -> Result<(ApiKey, String)> {
        self.create_user_api_key(ws, label, None).await
    }

    /// Creates an API key that acts as `user` (a user of the workspace):
    /// with their role, so a sales rep's key sees only their leads.
    /// Without a user the key acts as the workspace.
    pub async fn create_user_api_key(
        &self,
        ws: WorkspaceId,
        label: Option<&str>,
        user: Option<i64>,
    ) -> Result<(ApiKey, String)> {
        if let Some(u) = user {
            self.user(ws, u).await?;
        }
        let mut raw = [0u8; 24];
        rand::rng().fill_bytes(&mut raw);
        let secret = format!(
            "swk_{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
        );
        let prefix: String = secret.chars().take(10).collect();
        let hash = hash_key(&secret);
        let now = self.now();
        let id: i64 = on_db!(self, p => {
            sqlx::query_scalar(
                "INSERT INTO api_keys (workspace_id, label, prefix, secret_hash, created_at, user_id)
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            )
            .bind(ws.0)
            .bind(label)
            .bind(&prefix)
            .bind(&hash)
            .bind(now)
            .bind(user)
            .fetch_one(p)
            .await?
        });
        Ok((
            ApiKey {
                id,
                workspace_id: ws,
                label: label.map(str::to_string),
                prefix,
            },
            secret,
        ))
    }

    /// The workspace a key opens, if the key is known and not revoked.
    pub async fn authenticate(&self, secret: &str) -> Result<Option<Workspace>> {
        let hash = hash_key(secret);
        let row = on_db!(self, p => {
            sqlx::query(
                "SELECT w.id, w.name, w.timezone, w.locale, w.phone_region
                 FROM api_keys k JOIN workspaces w ON w.id = k.workspace_id
                 WHERE k.secret_hash = $1 AND k.revoked_at IS NULL",
            )
            .bind(&hash)
            .fetch_optional(p)
            .await?
            .map(|r| workspace_from_row(&r))
        });
        Ok(row)
    }

    /// What a key opens: its workspace, and the user it acts as (with
    /// their role) when it has one. A key of a deactivated user opens
    /// nothing.
    pub async fn authenticate_key(&self, secret: &str) -> Result<Option<KeyAccess>> {
        let hash = hash_key(secret);
        on_db!(self, p => {
            let row = sqlx::query(
                "SELECT w.id, w.name, w.timezone, w.locale, w.phone_region, k.user_id, u.role, u.active
                 FROM api_keys k JOIN workspaces w ON w.id = k.workspace_id
                 LEFT JOIN users u ON u.id = k.user_id AND u.workspace_id = k.workspace_id
                 WHERE k.secret_hash = $1 AND k.revoked_at IS NULL",
            )
            .bind(&hash)
            .fetch_optional(p)
            .await?;
            let Some(r) = row else { return Ok(None) };
            let user = match r.opt_int("user_id") {
                None => None,
                Some(id) => match (r.opt_text("role").as_deref().and_then(Role::parse), sqlx::Row::get::<Option<bool>, _>(&r, "active")) {
                    (Some(role), Some(true)) => Some((id, role)),
                    _ => return Ok(None),
                },
            };
            Ok(Some(KeyAccess { workspace: workspace_from_row(&r), user }))
        })
    }

    pub async fn list_api_keys(&self, ws: WorkspaceId) -> Result<Vec<ApiKey>> {
        on_db!(self, p => {
            let rows = sqlx::query("SELECT id, label, prefix FROM api_keys WHERE workspace_id = $1 AND revoked_at IS NULL ORDER BY id")
                .bind(ws.0)
                .fetch_all(p)
                .await?;
            Ok(rows
                .iter()
                .map(|r| ApiKey { id: r.int("id"), workspace_id: ws, label: r.opt_text("label"), prefix: r.text("prefix") })
                .collect())
        })
    }

    pub async fn revoke_api_key(&self, ws: WorkspaceId, id: i64) -> Result<()> {
        let now = self.now();
        let n = on_db!(self, p => {
            sqlx::query("UPDATE api_keys SET revoked_at = $3 WHERE workspace_id = $1 AND id = $2 AND revoked_at IS NULL")
                .bind(ws.0)
                .bind(id)
                .bind(now)
                .execute(p)
                .await?
                .rows_affected()
        });
        if n == 0 {
            Err(StoreError::NotFound)
        } else {
            Ok(())
        }
    }
}
