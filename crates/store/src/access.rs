//! Access to the web app: passwords, signed-in sessions and the audit log
//! of changes people make through it.
//!
//! A session is a random token in a cookie; the store keeps only its
//! SHA-256 (as for API keys: the token carries 256 random bits, so a fast
//! hash suffices), with the user, the CSRF token every form must echo and
//! an expiry. Passwords, which people choose, are hashed with argon2.

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use base64::Engine;
use rand::RngCore;
use serde::Serialize;
use serde_json::Value;

use crate::rows::RowExt;
use crate::workspaces::{Workspace, WorkspaceId, hash_key};
use crate::{Result, Store, StoreError, on_db};

/// How long a session lasts without signing in again.
pub const SESSION_TTL_MS: i64 = 14 * 24 * 3600 * 1000;

/// Hashes a password for storage (argon2id, a fresh salt, PHC string).
pub fn hash_password(password: &str) -> String {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    argon2::Argon2::default()
        .hash_password_with_salt(password.as_bytes(), &salt)
        .expect("argon2 with default parameters hashes any password")
        .to_string()
}

/// Whether `password` matches a stored PHC string; a malformed hash
/// matches nothing.
pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|h| {
            argon2::Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// The rules a new password must meet, as a reason when it does not.
pub fn check_password(password: &str) -> std::result::Result<(), String> {
    if password.chars().count() < 8 {
        return Err("must be at least 8 characters".into());
    }
    if password.len() > 1024 {
        return Err("must be at most 1024 bytes".into());
    }
    Ok(())
}

fn random_token(bytes: usize) -> String {
    let mut raw = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut raw);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

/// What signing in needs to know of the user an e-mail names.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub user_id: i64,
    pub workspace_id: WorkspaceId,
    pub password_hash: Option<String>,
    pub active: bool,
}

/// A signed-in user, as every page sees them.
#[derive(Debug, Clone, Serialize)]
pub struct SessionUser {
    pub user_id: i64,
    pub name: String,
    pub email: String,
    /// admin, marketer or sales.
    pub role: String,
    pub workspace: Workspace,
    pub csrf: String,
}

/// One change in the audit log.
#[derive(Debug, Clone, Serialize)]
pub struct AuditEntry {
    pub id: i64,
    pub user_id: Option<i64>,
    pub user_name: Option<String>,
    pub at: i64,
    pub action: String,
    pub entity: String,
    pub entity_id: Option<String>,
    pub detail: Value,
}

impl Store {
    /// The credentials of the user with this e-mail (any workspace: an
    /// e-mail signs in to one workspace only).
    pub async fn credentials(&self, email: &str) -> Result<Option<Credentials>> {
        let email = email.trim().to_lowercase();
        on_db!(self, p => {
            let row = sqlx::query("SELECT id, workspace_id, password_hash, active FROM users WHERE email = $1")
                .bind(&email)
                .fetch_optional(p)
                .await?;
            Ok(row.map(|r| Credentials {
                user_id: r.int("id"),
                workspace_id: WorkspaceId(r.int("workspace_id")),
                password_hash: r.opt_text("password_hash"),
                active: r.boolean("active"),
            }))
        })
    }

    /// Sets a user's password (hash it with [`hash_password`] first) and
    /// ends their sessions.
    pub async fn set_password_hash(&self, ws: WorkspaceId, user_id: i64, phc: &str) -> Result<()> {
        let now = self.now();
        on_db!(self, p => {
            let mut tx = p.begin().await?;
            let n = sqlx::query("UPDATE users SET password_hash = $3, updated_at = $4 WHERE workspace_id = $1 AND id = $2")
                .bind(ws.0)
                .bind(user_id)
                .bind(phc)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if n == 0 {
                return Err(StoreError::NotFound);
            }
            sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    /// Opens a session for a user; returns the cookie's token (shown this
    /// once, stored hashed).
    pub async fn create_session(&self, ws: WorkspaceId, user_id: i64) -> Result<String> {
        let token = random_token(32);
        let csrf = random_token(24);
        let now = self.now();
        on_db!(self, p => {
            // Expired sessions go when someone signs in: no sweeper needed.
            sqlx::query("DELETE FROM sessions WHERE expires_at < $1")
                .bind(now)
                .execute(p)
                .await?;
            sqlx::query(
                "INSERT INTO sessions (token_hash, workspace_id, user_id, csrf, created_at, expires_at)
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(hash_key(&token))
            .bind(ws.0)
            .bind(user_id)
            .bind(&csrf)
            .bind(now)
            .bind(now + SESSION_TTL_MS)
            .execute(p)
            .await?;
        });
        Ok(token)
    }

    /// The user a session token stands for, while the session lasts and
    /// the user is active.
    pub async fn session(&self, token: &str) -> Result<Option<SessionUser>> {
        let now = self.now();
        on_db!(self, p => {
            let row = sqlx::query(
                "SELECT u.id AS user_id, u.name AS user_name, u.email, u.role, s.csrf,
                        w.id, w.name, w.timezone, w.locale, w.phone_region
                 FROM sessions s
                 JOIN users u ON u.id = s.user_id AND u.workspace_id = s.workspace_id
                 JOIN workspaces w ON w.id = s.workspace_id
                 WHERE s.token_hash = $1 AND s.expires_at > $2 AND u.active",
            )
            .bind(hash_key(token))
            .bind(now)
            .fetch_optional(p)
            .await?;
            Ok(row.map(|r| SessionUser {
                user_id: r.int("user_id"),
                name: r.text("user_name"),
                email: r.text("email"),
                role: r.text("role"),
                workspace: crate::workspaces::workspace_from_row(&r),
                csrf: r.text("csrf"),
            }))
        })
    }

    /// Ends a session (signing out); ending one that is gone is no error.
    pub async fn delete_session(&self, token: &str) -> Result<()> {
        on_db!(self, p => {
            sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
                .bind(hash_key(token))
                .execute(p)
                .await?;
        });
        Ok(())
    }

    /// Records who changed what.
    pub async fn audit(
        &self,
        ws: WorkspaceId,
        user_id: Option<i64>,
        action: &str,
        entity: &str,
        entity_id: Option<&str>,
        detail: &Value,
    ) -> Result<()> {
        let now = self.now();
        on_db!(self, p => {
            sqlx::query(
                "INSERT INTO audit_log (workspace_id, user_id, at, action, entity, entity_id, detail)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(ws.0)
            .bind(user_id)
            .bind(now)
            .bind(action)
            .bind(entity)
            .bind(entity_id)
            .bind(sqlx::types::Json(detail))
            .execute(p)
            .await?;
        });
        Ok(())
    }

    /// The audit log newest first, `limit` entries older than `before`
    /// (an entry id) when given.
    pub async fn audit_log(
        &self,
        ws: WorkspaceId,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<AuditEntry>> {
        on_db!(self, p => {
            let rows = sqlx::query(
                "SELECT a.id, a.user_id, u.name AS user_name, a.at, a.action, a.entity, a.entity_id, a.detail
                 FROM audit_log a LEFT JOIN users u ON u.id = a.user_id
                 WHERE a.workspace_id = $1 AND a.id < $2
                 ORDER BY a.id DESC LIMIT $3",
            )
            .bind(ws.0)
            .bind(before.unwrap_or(i64::MAX))
            .bind(limit.clamp(1, 1000) as i64)
            .fetch_all(p)
            .await?;
            Ok(rows
                .iter()
                .map(|r| AuditEntry {
                    id: r.int("id"),
                    user_id: r.opt_int("user_id"),
                    user_name: r.opt_text("user_name"),
                    at: r.int("at"),
                    action: r.text("action"),
                    entity: r.text("entity"),
                    entity_id: r.opt_text("entity_id"),
                    detail: r.json("detail"),
                })
                .collect())
        })
    }
}

/// A person who signs in to a workspace.
#[derive(Debug, Clone, Serialize)]
pub struct UserSummary {
    pub id: i64,
    pub name: String,
    pub email: String,
    pub role: String,
    pub active: bool,
    pub can_sign_in: bool,
}

impl Store {
    /// A workspace's users in id order.
    pub async fn workspace_users(&self, ws: WorkspaceId) -> Result<Vec<UserSummary>> {
        on_db!(self, p => {
            let rows = sqlx::query(
                "SELECT id, name, email, role, active, password_hash IS NOT NULL AS can_sign_in
                 FROM users WHERE workspace_id = $1 ORDER BY id",
            )
            .bind(ws.0)
            .fetch_all(p)
            .await?;
            Ok(rows.iter().map(|r| UserSummary {
                id: r.int("id"), name: r.text("name"), email: r.text("email"), role: r.text("role"),
                active: r.boolean("active"), can_sign_in: r.boolean("can_sign_in"),
            }).collect())
        })
    }

    /// Creates a user who signs in with a password (hash it with
    /// [`hash_password`]); the e-mail is lower-cased and must be new.
    pub async fn create_user_with_password(
        &self,
        ws: WorkspaceId,
        name: &str,
        email: &str,
        role: &str,
        phc: &str,
    ) -> Result<i64> {
        let email = email.trim().to_lowercase();
        let now = self.now();
        let id: Option<i64> = on_db!(self, p => {
            sqlx::query_scalar(
                "INSERT INTO users (workspace_id, name, email, role, password_hash, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (email) DO NOTHING RETURNING id",
            )
            .bind(ws.0).bind(name.trim()).bind(&email).bind(role).bind(phc).bind(now)
            .fetch_optional(p)
            .await?
        });
        id.ok_or_else(|| StoreError::Conflict(format!("a user with e-mail {email} exists")))
    }
}
