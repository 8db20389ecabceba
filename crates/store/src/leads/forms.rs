//! Public lead forms: a web form (or a Facebook Lead Ads subscription)
//! posts leads to `/f/{key}`. The key in the URL is shown once and stored
//! hashed, like an API key; it opens nothing but its form's intake.

use base64::Engine;
use rand::RngCore;
use serde::Serialize;
use swell_core::FieldError;
use swell_core::contact::Patch;

use crate::rows::RowExt;
use crate::workspaces::hash_key;
use crate::{Result, Store, StoreError, Workspace, WorkspaceId, on_db};

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LeadForm {
    pub id: i64,
    pub name: String,
    /// The ad its leads are counted to.
    pub ad_id: Option<i64>,
    /// Posts a minute from one client address before it is refused.
    pub per_minute: i64,
    /// The token Facebook echoes when subscribing; null: not a Facebook form.
    pub facebook_verify_token: Option<String>,
    /// Whether an app secret is set (it is never shown back).
    pub facebook_app_secret_set: bool,
    #[serde(serialize_with = "swell_core::time::serialize_millis")]
    pub created_at: i64,
}

/// A form's fields as given; `None` / `Keep` is "not given".
#[derive(Debug, Clone, Default)]
pub struct LeadFormInput {
    pub name: Option<String>,
    pub ad_id: Patch<i64>,
    pub per_minute: Option<i64>,
    pub facebook_verify_token: Patch<String>,
    pub facebook_app_secret: Patch<String>,
}

/// What the public endpoint needs of the form a key opens.
#[derive(Debug, Clone)]
pub struct OpenForm {
    pub form: LeadForm,
    pub workspace: Workspace,
    pub facebook_app_secret: Option<String>,
}

fn from_row(r: &impl RowExt) -> LeadForm {
    LeadForm {
        id: r.int("id"),
        name: r.text("name"),
        ad_id: r.opt_int("ad_id"),
        per_minute: r.int("per_minute"),
        facebook_verify_token: r.opt_text("facebook_verify_token"),
        facebook_app_secret_set: r.opt_text("facebook_app_secret").is_some(),
        created_at: r.int("created_at"),
    }
}

fn invalid(field: &str, reason: impl Into<String>) -> StoreError {
    StoreError::Invalid(vec![FieldError::new(field, reason)])
}

fn pick<T: Clone>(p: &Patch<T>, current: Option<T>) -> Option<T> {
    match p {
        Patch::Keep => current,
        Patch::Clear => None,
        Patch::Set(v) => Some(v.clone()),
    }
}

impl Store {
    pub async fn lead_forms(&self, ws: WorkspaceId) -> Result<Vec<LeadForm>> {
        on_db!(self, p => {
            Ok(sqlx::query("SELECT * FROM lead_forms WHERE workspace_id = $1 ORDER BY id")
                .bind(ws.0).fetch_all(p).await?.iter().map(from_row).collect())
        })
    }

    pub async fn lead_form(&self, ws: WorkspaceId, id: i64) -> Result<LeadForm> {
        on_db!(self, p => {
            sqlx::query("SELECT * FROM lead_forms WHERE workspace_id = $1 AND id = $2")
                .bind(ws.0).bind(id).fetch_optional(p).await?.map(|r| from_row(&r)).ok_or(StoreError::NotFound)
        })
    }

    /// Creates a form (`name` required) and returns it with its key,
    /// shown this once; or, with `id`, changes the fields given (the key
    /// stays, and `None` is returned for it).
    pub async fn write_lead_form(
        &self,
        ws: WorkspaceId,
        id: Option<i64>,
        input: &LeadFormInput,
    ) -> Result<(LeadForm, Option<String>)> {
        let current = match id {
            Some(id) => Some(self.lead_form(ws, id).await?),
            None => None,
        };
        let name = crate::name_to_write(
            input.name.as_deref(),
            current.as_ref().map(|c| c.name.as_str()),
        )?;
        let ad_id = pick(&input.ad_id, current.as_ref().and_then(|c| c.ad_id));
        if let Some(ad) = ad_id {
            self.ad(ws, ad)
                .await
                .map_err(|_| invalid("ad_id", format!("ad {ad} not found")))?;
        }
        let per_minute = input
            .per_minute
            .or(current.as_ref().map(|c| c.per_minute))
            .unwrap_or(30);
        if !(1..=10_000).contains(&per_minute) {
            return Err(invalid("per_minute", "must be 1 to 10000"));
        }
        let token = pick(
            &input.facebook_verify_token,
            current
                .as_ref()
                .and_then(|c| c.facebook_verify_token.clone()),
        );
        let now = self.now();
        match id {
            None => {
                let mut raw = [0u8; 24];
                rand::rng().fill_bytes(&mut raw);
                let key = format!(
                    "lf_{}",
                    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
                );
                let secret = pick(&input.facebook_app_secret, None);
                let id: i64 = on_db!(self, p => {
                    sqlx::query_scalar(
                        "INSERT INTO lead_forms (workspace_id, name, key_hash, ad_id, per_minute, facebook_verify_token,
                                                 facebook_app_secret, created_at)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id")
                        .bind(ws.0).bind(&name).bind(hash_key(&key)).bind(ad_id).bind(per_minute).bind(&token)
                        .bind(&secret).bind(now).fetch_one(p).await?
                });
                Ok((self.lead_form(ws, id).await?, Some(key)))
            }
            Some(id) => {
                let (keep_secret, secret) = match &input.facebook_app_secret {
                    Patch::Keep => (true, None),
                    Patch::Clear => (false, None),
                    Patch::Set(s) => (false, Some(s.clone())),
                };
                on_db!(self, p => {
                    sqlx::query(
                        "UPDATE lead_forms SET name = $3, ad_id = $4, per_minute = $5, facebook_verify_token = $6,
                            facebook_app_secret = CASE WHEN $7 THEN facebook_app_secret ELSE $8 END
                         WHERE workspace_id = $1 AND id = $2")
                        .bind(ws.0).bind(id).bind(&name).bind(ad_id).bind(per_minute).bind(&token)
                        .bind(keep_secret).bind(&secret).execute(p).await?;
                });
                Ok((self.lead_form(ws, id).await?, None))
            }
        }
    }

    pub async fn delete_lead_form(&self, ws: WorkspaceId, id: i64) -> Result<()> {
        let n = on_db!(self, p => {
            sqlx::query("DELETE FROM lead_forms WHERE workspace_id = $1 AND id = $2")
                .bind(ws.0).bind(id).execute(p).await?.rows_affected()
        });
        if n == 0 {
            Err(StoreError::NotFound)
        } else {
            Ok(())
        }
    }

    /// The form a public key opens, with its workspace.
    pub async fn open_lead_form(&self, key: &str) -> Result<Option<OpenForm>> {
        on_db!(self, p => {
            let row = sqlx::query(
                "SELECT f.*, w.name AS ws_name, w.timezone, w.locale, w.phone_region
                 FROM lead_forms f JOIN workspaces w ON w.id = f.workspace_id WHERE f.key_hash = $1")
                .bind(hash_key(key)).fetch_optional(p).await?;
            Ok(row.map(|r| OpenForm {
            form: from_row(&r),
            workspace: Workspace {
                id: WorkspaceId(r.int("workspace_id")),
                name: r.text("ws_name"),
                timezone: r.text("timezone"),
                locale: r.text("locale"),
                phone_region: r.text("phone_region"),
            },
            facebook_app_secret: r.opt_text("facebook_app_secret"),
            }))
        })
    }
}
