//! The people of a workspace: admins, marketers and sales reps, with what
//! assignment needs to know of a rep (active, working hours, the regions
//! and products they cover, their cap of open leads).

use serde::Serialize;
use serde_json::Value;
use swell_core::contact::Patch;
use swell_core::hours::WorkingHours;
use swell_core::role::Role;
use swell_core::{Email, FieldError, Phone};

use crate::rows::RowExt;
use crate::{Result, Store, StoreError, WorkspaceId, on_db};

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct User {
    pub id: i64,
    pub name: String,
    pub email: String,
    pub phone: Option<String>,
    pub role: Role,
    pub active: bool,
    /// `{"days": [1..7], "from": "HH:MM", "to": "HH:MM"}`; null: any time.
    pub working_hours: Option<Value>,
    pub regions: Vec<String>,
    pub products: Vec<String>,
    /// Most open leads (new, contacted, qualified) at once; null: no cap.
    pub lead_cap: Option<i64>,
    /// Whether a password is set, so the user can sign in to the web app.
    pub can_sign_in: bool,
    #[serde(serialize_with = "swell_core::time::serialize_millis")]
    pub created_at: i64,
    #[serde(serialize_with = "swell_core::time::serialize_millis")]
    pub updated_at: i64,
}

/// A user's fields as given; `None` / `Keep` is "not given", so one type
/// serves create and partial update.
#[derive(Debug, Clone, Default)]
pub struct UserInput {
    pub name: Option<String>,
    pub email: Option<Email>,
    pub phone: Patch<Phone>,
    pub role: Option<Role>,
    pub active: Option<bool>,
    pub working_hours: Patch<WorkingHours>,
    pub regions: Option<Vec<String>>,
    pub products: Option<Vec<String>>,
    pub lead_cap: Patch<i64>,
    /// An argon2 PHC string (see [`crate::access::hash_password`]).
    pub password_hash: Option<String>,
}

const COLUMNS: &str =
    "id, name, email, phone, role, active, working_hours, regions, products, lead_cap,
     password_hash IS NOT NULL AS can_sign_in, created_at, updated_at";

pub(crate) fn json_list(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn from_row(r: &impl RowExt) -> User {
    User {
        id: r.int("id"),
        name: r.text("name"),
        email: r.text("email"),
        phone: r.opt_text("phone"),
        role: Role::parse(&r.text("role")).unwrap_or(Role::Sales),
        active: r.boolean("active"),
        working_hours: r
            .opt_text("working_hours")
            .and_then(|s| serde_json::from_str(&s).ok()),
        regions: json_list(&r.json_text("regions")),
        products: json_list(&r.json_text("products")),
        lead_cap: r.opt_int("lead_cap"),
        can_sign_in: r.boolean("can_sign_in"),
        created_at: r.int("created_at"),
        updated_at: r.int("updated_at"),
    }
}

fn invalid(field: &str, reason: impl Into<String>) -> StoreError {
    StoreError::Invalid(vec![FieldError::new(field, reason)])
}

impl Store {
    /// A workspace's users in id order.
    pub async fn users(&self, ws: WorkspaceId) -> Result<Vec<User>> {
        let sql = format!("SELECT {COLUMNS} FROM users WHERE workspace_id = $1 ORDER BY id");
        on_db!(self, p => {
            Ok(sqlx::query(sqlx::AssertSqlSafe(sql)).bind(ws.0).fetch_all(p).await?.iter().map(from_row).collect())
        })
    }

    pub async fn user(&self, ws: WorkspaceId, id: i64) -> Result<User> {
        let sql = format!("SELECT {COLUMNS} FROM users WHERE workspace_id = $1 AND id = $2");
        on_db!(self, p => {
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(ws.0).bind(id).fetch_optional(p).await?
                .map(|r| from_row(&r)).ok_or(StoreError::NotFound)
        })
    }

    /// The user of the workspace with this e-mail.
    pub async fn user_by_email(&self, ws: WorkspaceId, email: &str) -> Result<User> {
        let sql = format!("SELECT {COLUMNS} FROM users WHERE workspace_id = $1 AND email = $2");
        let email = email.trim().to_lowercase();
        on_db!(self, p => {
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(ws.0).bind(&email).fetch_optional(p).await?
                .map(|r| from_row(&r)).ok_or(StoreError::NotFound)
        })
    }

    /// Creates a user (`name`, `email` and `role` required) or, with `id`,
    /// changes the fields given. An e-mail already used (in any workspace:
    /// an e-mail signs in to one) is a conflict.
    pub async fn write_user(
        &self,
        ws: WorkspaceId,
        id: Option<i64>,
        input: &UserInput,
    ) -> Result<User> {
        let current = match id {
            Some(id) => Some(self.user(ws, id).await?),
            None => None,
        };
        let name = crate::name_to_write(
            input.name.as_deref(),
            current.as_ref().map(|c| c.name.as_str()),
        )?;
        let email = match (&input.email, &current) {
            (Some(e), _) => e.as_str().to_string(),
            (None, Some(c)) => c.email.clone(),
            (None, None) => return Err(invalid("email", "is required")),
        };
        let role = match (input.role, &current) {
            (Some(r), _) => r,
            (None, Some(c)) => c.role,
            (None, None) => return Err(invalid("role", "is required (admin, marketer, sales)")),
        };
        let phone = match &input.phone {
            Patch::Keep => current.as_ref().and_then(|c| c.phone.clone()),
            Patch::Clear => None,
            Patch::Set(p) => Some(p.as_str().to_string()),
        };
        let hours = match &input.working_hours {
            Patch::Keep => current.as_ref().and_then(|c| c.working_hours.clone()),
            Patch::Clear => None,
            Patch::Set(h) => Some(h.to_json()),
        };
        let cap = match input.lead_cap {
            Patch::Keep => current.as_ref().and_then(|c| c.lead_cap),
            Patch::Clear => None,
            Patch::Set(n) if n < 0 => return Err(invalid("lead_cap", "must be 0 or more")),
            Patch::Set(n) => Some(n),
        };
        let active = input
            .active
            .or(current.as_ref().map(|c| c.active))
            .unwrap_or(true);
        let regions = input
            .regions
            .clone()
            .or(current.as_ref().map(|c| c.regions.clone()))
            .unwrap_or_default();
        let products = input
            .products
            .clone()
            .or(current.as_ref().map(|c| c.products.clone()))
            .unwrap_or_default();
        let hours = hours.map(|h| h.to_string());
        let (regions, products) = (
            Value::from(regions).to_string(),
            Value::from(products).to_string(),
        );
        let now = self.now();
        let written: std::result::Result<i64, sqlx::Error> = on_db!(self, p => {
            match id {
                None => sqlx::query_scalar(
                    "INSERT INTO users (workspace_id, name, email, phone, role, active, working_hours, regions, products,
                                        lead_cap, password_hash, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12) RETURNING id",
                )
                .bind(ws.0).bind(&name).bind(&email).bind(&phone).bind(role.as_str()).bind(active).bind(&hours)
                .bind(&regions).bind(&products).bind(cap)
                .bind(&input.password_hash).bind(now)
                .fetch_one(p).await,
                Some(id) => sqlx::query_scalar(
                    "UPDATE users SET name = $3, email = $4, phone = $5, role = $6, active = $7, working_hours = $8,
                                      regions = $9, products = $10, lead_cap = $11,
                                      password_hash = COALESCE($12, password_hash), updated_at = $13
                     WHERE workspace_id = $1 AND id = $2 RETURNING id",
                )
                .bind(ws.0).bind(id).bind(&name).bind(&email).bind(&phone).bind(role.as_str()).bind(active).bind(&hours)
                .bind(&regions).bind(&products).bind(cap)
                .bind(&input.password_hash).bind(now)
                .fetch_one(p).await,
            }
        });
        let id = match written {
            Ok(id) => id,
            Err(e) if crate::is_unique_violation(&e) => {
                return Err(StoreError::Conflict(format!(
                    "a user with e-mail {email} exists"
                )));
            }
            Err(e) => return Err(e.into()),
        };
        if input.active == Some(false) {
            // A user switched off is signed out everywhere at once.
            on_db!(self, p => {
                sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(id).execute(p).await?;
            });
        }
        self.user(ws, id).await
    }

    /// Deletes a user who never held a lead; one who did is kept for the
    /// history and the reports (deactivate them instead).
    pub async fn delete_user(&self, ws: WorkspaceId, id: i64) -> Result<()> {
        let result: std::result::Result<u64, sqlx::Error> = on_db!(self, p => {
            async {
                let mut tx = p.begin().await?;
                sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(id).execute(&mut *tx).await?;
                // Its keys die with it (a revoked key opens nothing, with or
                // without its user).
                sqlx::query("UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $3), user_id = NULL WHERE workspace_id = $1 AND user_id = $2")
                    .bind(ws.0).bind(id).bind(self.now()).execute(&mut *tx).await?;
                let n = sqlx::query("DELETE FROM users WHERE workspace_id = $1 AND id = $2")
                    .bind(ws.0).bind(id).execute(&mut *tx).await?.rows_affected();
                tx.commit().await?;
                Ok(n)
            }.await
        });
        match result {
            Ok(0) => Err(StoreError::NotFound),
            Ok(_) => Ok(()),
            Err(e) if crate::is_foreign_key_violation(&e) => Err(StoreError::Conflict(
                "the user holds leads or history; set active to false instead".into(),
            )),
            Err(e) => Err(e.into()),
        }
    }
}
