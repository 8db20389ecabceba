//! A workspace's own SMTP relays, set by its admins in the web app. The
//! sender reads them (see `Mailer::transport_for`); a workspace without
//! any uses the server's relays or the outbox.

use serde::Serialize;
use serde_json::{Map, Value};
use swell_core::FieldError;

use crate::rows::RowExt;
use crate::{Result, Store, StoreError, WorkspaceId, on_db};

/// One relay as stored. The password is for the relay only: it is never
/// serialised, `has_password` says whether one is set.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SmtpServerRow {
    pub id: i64,
    pub name: String,
    pub host: String,
    pub port: u16,
    /// none, starttls or tls
    pub tls: String,
    pub accept_invalid_certs: bool,
    pub username: Option<String>,
    #[serde(skip)]
    pub password: Option<String>,
    pub has_password: bool,
    pub weight: u32,
    pub max_connections: u32,
    pub rate_per_second: Option<u32>,
}

/// The fields of [`SmtpServerInput`], in JSON.
pub const SMTP_FIELDS: &[&str] = &[
    "name",
    "host",
    "port",
    "tls",
    "accept_invalid_certs",
    "username",
    "password",
    "weight",
    "max_connections",
    "rate_per_second",
];

/// A relay as given: every field for a new one; on a change, what is
/// given replaces what was (a password left out is kept, an empty one
/// removes it).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SmtpServerInput {
    pub name: Option<String>,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub tls: Option<String>,
    pub accept_invalid_certs: Option<bool>,
    pub username: Option<Option<String>>,
    pub password: Option<Option<String>>,
    pub weight: Option<u32>,
    pub max_connections: Option<u32>,
    pub rate_per_second: Option<Option<u32>>,
}

fn number(
    obj: &Map<String, Value>,
    k: &str,
    min: u64,
    max: u64,
) -> Result<Option<u64>, FieldError> {
    match obj.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v
            .as_u64()
            .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
        {
            Some(n) if (min..=max).contains(&n) => Ok(Some(n)),
            _ => Err(FieldError::new(
                k,
                format!("must be a whole number from {min} to {max}"),
            )),
        },
    }
}

fn text(obj: &Map<String, Value>, k: &str) -> Result<Option<Option<String>>, FieldError> {
    match obj.get(k) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(Some(None)),
        Some(Value::String(s)) => Ok(Some(Some(s.trim().to_string()))),
        Some(_) => Err(FieldError::new(k, "must be text")),
    }
}

impl SmtpServerInput {
    pub fn from_json(obj: &Map<String, Value>) -> Result<SmtpServerInput, FieldError> {
        if let Some(k) = obj.keys().find(|k| !SMTP_FIELDS.contains(&k.as_str())) {
            return Err(FieldError::new(
                k.clone(),
                format!("unknown field ({})", SMTP_FIELDS.join(", ")),
            ));
        }
        let tls = text(obj, "tls")?.flatten().map(|t| t.to_ascii_lowercase());
        if let Some(t) = &tls
            && !matches!(t.as_str(), "none" | "starttls" | "tls")
        {
            return Err(FieldError::new("tls", "must be none, starttls or tls"));
        }
        let accept_invalid_certs = match obj.get("accept_invalid_certs") {
            None | Some(Value::Null) => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(_) => {
                return Err(FieldError::new(
                    "accept_invalid_certs",
                    "must be true or false",
                ));
            }
        };
        // A password is kept exactly as given (spaces included).
        let password = match obj.get("password") {
            None => None,
            Some(Value::Null) => Some(None),
            Some(Value::String(s)) if s.is_empty() => Some(None),
            Some(Value::String(s)) => Some(Some(s.clone())),
            Some(_) => return Err(FieldError::new("password", "must be text")),
        };
        Ok(SmtpServerInput {
            name: text(obj, "name")?.flatten(),
            host: text(obj, "host")?.flatten(),
            port: number(obj, "port", 1, 65_535)?.map(|n| n as u16),
            tls,
            accept_invalid_certs,
            username: text(obj, "username")?,
            password,
            weight: number(obj, "weight", 0, 1000)?.map(|n| n as u32),
            max_connections: number(obj, "max_connections", 1, 100)?.map(|n| n as u32),
            rate_per_second: match obj.get("rate_per_second") {
                None => None,
                Some(Value::Null) => Some(None),
                Some(Value::String(s)) if s.trim().is_empty() => Some(None),
                Some(_) => Some(number(obj, "rate_per_second", 1, 100_000)?.map(|n| n as u32)),
            },
        })
    }
}

fn row(r: &impl RowExt) -> SmtpServerRow {
    let password = r.opt_text("password");
    SmtpServerRow {
        id: r.int("id"),
        name: r.text("name"),
        host: r.text("host"),
        port: r.int("port") as u16,
        tls: r.text("tls"),
        accept_invalid_certs: r.boolean("accept_invalid_certs"),
        username: r.opt_text("username"),
        has_password: password.is_some(),
        password,
        weight: r.int("weight") as u32,
        max_connections: r.int("max_connections") as u32,
        rate_per_second: r.opt_int("rate_per_second").map(|n| n as u32),
    }
}

fn invalid(field: &str, reason: &str) -> StoreError {
    StoreError::Invalid(vec![FieldError::new(field, reason)])
}

impl Store {
    /// The workspace's relays, by name.
    pub async fn smtp_servers(&self, ws: WorkspaceId) -> Result<Vec<SmtpServerRow>> {
        on_db!(self, p => {
            Ok(sqlx::query("SELECT * FROM smtp_servers WHERE workspace_id = $1 ORDER BY name")
                .bind(ws.0).fetch_all(p).await?.iter().map(row).collect())
        })
    }

    async fn smtp_server(&self, ws: WorkspaceId, id: i64) -> Result<SmtpServerRow> {
        on_db!(self, p => {
            sqlx::query("SELECT * FROM smtp_servers WHERE workspace_id = $1 AND id = $2")
                .bind(ws.0).bind(id).fetch_optional(p).await?.map(|r| row(&r)).ok_or(StoreError::NotFound)
        })
    }

    /// Adds a relay (`name`, `host`, `port` and `tls` required) or, with
    /// `id`, changes the fields given. Names are unique in a workspace.
    pub async fn write_smtp_server(
        &self,
        ws: WorkspaceId,
        id: Option<i64>,
        input: &SmtpServerInput,
    ) -> Result<SmtpServerRow> {
        let current = match id {
            Some(id) => Some(self.smtp_server(ws, id).await?),
            None => None,
        };
        let need = |v: Option<String>, old: Option<String>, field: &str| {
            v.or(old).ok_or_else(|| invalid(field, "is required"))
        };
        let c = current.as_ref();
        let name = need(input.name.clone(), c.map(|c| c.name.clone()), "name")?;
        let host = need(input.host.clone(), c.map(|c| c.host.clone()), "host")?;
        let tls = need(input.tls.clone(), c.map(|c| c.tls.clone()), "tls")?;
        let port = input
            .port
            .or(c.map(|c| c.port))
            .ok_or_else(|| invalid("port", "is required (587 with starttls, 465 with tls, 25)"))?;
        let username = input
            .username
            .clone()
            .unwrap_or_else(|| c.and_then(|c| c.username.clone()));
        let password = input
            .password
            .clone()
            .unwrap_or_else(|| c.and_then(|c| c.password.clone()));
        if username.is_some() != password.is_some() {
            return Err(invalid(
                if username.is_some() {
                    "password"
                } else {
                    "username"
                },
                "set both username and password, or neither",
            ));
        }
        let accept = input
            .accept_invalid_certs
            .or(c.map(|c| c.accept_invalid_certs))
            .unwrap_or(false);
        let weight = input.weight.or(c.map(|c| c.weight)).unwrap_or(1);
        let max_connections = input
            .max_connections
            .or(c.map(|c| c.max_connections))
            .unwrap_or(8);
        let rate = input
            .rate_per_second
            .unwrap_or_else(|| c.and_then(|c| c.rate_per_second));
        let now = self.now();
        let written: Option<i64> = on_db!(self, p => {
            let sql = match id {
                None => "INSERT INTO smtp_servers (workspace_id, name, host, port, tls, accept_invalid_certs, username,
                        password, weight, max_connections, rate_per_second, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)
                     ON CONFLICT (workspace_id, name) DO NOTHING RETURNING id",
                Some(_) => "UPDATE smtp_servers SET name = $2, host = $3, port = $4, tls = $5, accept_invalid_certs = $6,
                        username = $7, password = $8, weight = $9, max_connections = $10, rate_per_second = $11,
                        updated_at = $12
                     WHERE workspace_id = $1 AND id = $13
                       AND NOT EXISTS (SELECT 1 FROM smtp_servers o WHERE o.workspace_id = $1 AND o.name = $2 AND o.id <> $13)
                     RETURNING id",
            };
            let q = sqlx::query_scalar(sql)
                .bind(ws.0).bind(&name).bind(&host).bind(i64::from(port)).bind(&tls).bind(accept)
                .bind(&username).bind(&password).bind(i64::from(weight)).bind(i64::from(max_connections))
                .bind(rate.map(i64::from)).bind(now);
            match id {
                None => q.fetch_optional(p).await?,
                Some(id) => q.bind(id).fetch_optional(p).await?,
            }
        });
        let Some(written) = written else {
            return Err(StoreError::Conflict(format!(
                "a relay named '{name}' already exists"
            )));
        };
        self.smtp_server(ws, written).await
    }

    pub async fn delete_smtp_server(&self, ws: WorkspaceId, id: i64) -> Result<()> {
        let gone = on_db!(self, p => {
            sqlx::query("DELETE FROM smtp_servers WHERE workspace_id = $1 AND id = $2")
                .bind(ws.0).bind(id).execute(p).await?.rows_affected()
        });
        if gone == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}
