//! Marketing campaigns: the umbrella over broadcasts, automated campaigns
//! and ad campaigns, with a code that tracked visits carry as
//! `utm_campaign` or `pk_campaign`. The roll-up report lives in
//! [`crate::reports`].

use jiff::civil::Date;
use serde::Serialize;
use swell_core::FieldError;
use swell_core::contact::Patch;

use crate::rows::RowExt;
use crate::{Result, Store, StoreError, WorkspaceId, on_db};

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct MarketingCampaign {
    pub id: i64,
    pub name: String,
    pub code: String,
    pub starts_on: Option<String>,
    pub ends_on: Option<String>,
    pub budget: Option<f64>,
    pub owner_id: Option<i64>,
    #[serde(serialize_with = "swell_core::time::serialize_millis")]
    pub created_at: i64,
    #[serde(serialize_with = "swell_core::time::serialize_millis")]
    pub updated_at: i64,
}

/// A marketing campaign's fields as given: `None` / `Keep` is "not
/// given", so one type serves create and partial update.
#[derive(Debug, Clone, Default)]
pub struct MarketingCampaignInput {
    pub name: Option<String>,
    pub code: Option<CampaignCode>,
    pub starts_on: Patch<Date>,
    pub ends_on: Patch<Date>,
    pub budget: Patch<f64>,
    pub owner_id: Patch<i64>,
}

/// A marketing campaign's code: what `utm_campaign=` or `pk_campaign=` in
/// a tracked URL carries, so letters, digits, `-`, `_` and `.` only (no
/// character a URL would escape), at most 100 of them. Compared exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CampaignCode(String);

impl CampaignCode {
    pub fn parse(s: &str) -> std::result::Result<CampaignCode, String> {
        let s = s.trim();
        if s.is_empty() {
            return Err("is empty".into());
        }
        if s.len() > 100 {
            return Err("is longer than 100 characters".into());
        }
        if let Some(c) = s
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        {
            return Err(format!(
                "'{c}' is not allowed in a code (letters, digits, -, _ and . as in a URL parameter)"
            ));
        }
        Ok(CampaignCode(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a marketing campaign groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Member {
    Broadcast,
    Campaign,
    AdCampaign,
}

impl Member {
    /// The table that holds `marketing_campaign_id` (an allow-list: the
    /// only names pasted into SQL here).
    fn table(self) -> &'static str {
        match self {
            Member::Broadcast => "broadcasts",
            Member::Campaign => "campaigns",
            Member::AdCampaign => "ad_campaigns",
        }
    }

    /// How the API names one.
    pub fn what(self) -> &'static str {
        match self {
            Member::Broadcast => "broadcast",
            Member::Campaign => "campaign",
            Member::AdCampaign => "ad campaign",
        }
    }
}

/// The ids of what a marketing campaign groups.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Members {
    pub broadcasts: Vec<i64>,
    pub campaigns: Vec<i64>,
    pub ad_campaigns: Vec<i64>,
}

const COLUMNS: &str =
    "id, name, code, starts_on, ends_on, budget, owner_id, created_at, updated_at";

fn from_row(r: &impl RowExt) -> MarketingCampaign {
    MarketingCampaign {
        id: r.int("id"),
        name: r.text("name"),
        code: r.text("code"),
        starts_on: r.opt_text("starts_on"),
        ends_on: r.opt_text("ends_on"),
        budget: r.opt_float("budget"),
        owner_id: r.opt_int("owner_id"),
        created_at: r.int("created_at"),
        updated_at: r.int("updated_at"),
    }
}

fn invalid(field: &str, reason: impl Into<String>) -> StoreError {
    StoreError::Invalid(vec![FieldError::new(field, reason)])
}

fn apply<T: Clone>(patch: &Patch<T>, current: Option<T>) -> Option<T> {
    match patch {
        Patch::Keep => current,
        Patch::Clear => None,
        Patch::Set(v) => Some(v.clone()),
    }
}

impl Store {
    pub async fn marketing_campaigns(&self, ws: WorkspaceId) -> Result<Vec<MarketingCampaign>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM marketing_campaigns WHERE workspace_id = $1 ORDER BY id"
        );
        on_db!(self, p => {
            Ok(sqlx::query(sqlx::AssertSqlSafe(sql)).bind(ws.0).fetch_all(p).await?.iter().map(from_row).collect())
        })
    }

    pub async fn marketing_campaign(&self, ws: WorkspaceId, id: i64) -> Result<MarketingCampaign> {
        let sql = format!(
            "SELECT {COLUMNS} FROM marketing_campaigns WHERE workspace_id = $1 AND id = $2"
        );
        on_db!(self, p => {
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(ws.0).bind(id).fetch_optional(p).await?
                .map(|r| from_row(&r)).ok_or(StoreError::NotFound)
        })
    }

    /// Creates a marketing campaign (`name` and `code` required) or, with
    /// `id`, changes the fields given. A code already used in the
    /// workspace is a conflict; an owner must be a user of the workspace.
    pub async fn write_marketing_campaign(
        &self,
        ws: WorkspaceId,
        id: Option<i64>,
        input: &MarketingCampaignInput,
    ) -> Result<MarketingCampaign> {
        let current = match id {
            Some(id) => Some(self.marketing_campaign(ws, id).await?),
            None => None,
        };
        let name = crate::name_to_write(
            input.name.as_deref(),
            current.as_ref().map(|c| c.name.as_str()),
        )?;
        let code = match (&input.code, &current) {
            (Some(c), _) => c.as_str().to_string(),
            (None, Some(c)) => c.code.clone(),
            (None, None) => return Err(invalid("code", "is required")),
        };
        let date = |s: &Option<String>| s.as_deref().and_then(|d| d.parse::<Date>().ok());
        let starts_on = apply(
            &input.starts_on,
            current.as_ref().and_then(|c| date(&c.starts_on)),
        );
        let ends_on = apply(
            &input.ends_on,
            current.as_ref().and_then(|c| date(&c.ends_on)),
        );
        if let (Some(s), Some(e)) = (starts_on, ends_on)
            && e < s
        {
            return Err(invalid("ends_on", format!("{e} is before starts_on {s}")));
        }
        let budget = apply(&input.budget, current.as_ref().and_then(|c| c.budget));
        if let Some(b) = budget
            && !(b.is_finite() && b >= 0.0)
        {
            return Err(invalid("budget", "must be a number, 0 or more"));
        }
        let owner_id = apply(&input.owner_id, current.as_ref().and_then(|c| c.owner_id));
        if let Some(owner) = owner_id
            && input.owner_id.as_set().is_some()
        {
            let found: Option<i64> = on_db!(self, p => {
                sqlx::query_scalar("SELECT id FROM users WHERE workspace_id = $1 AND id = $2")
                    .bind(ws.0).bind(owner).fetch_optional(p).await?
            });
            if found.is_none() {
                return Err(invalid("owner_id", format!("user {owner} not found")));
            }
        }
        let taken: Option<i64> = on_db!(self, p => {
            sqlx::query_scalar("SELECT id FROM marketing_campaigns WHERE workspace_id = $1 AND code = $2")
                .bind(ws.0).bind(&code).fetch_optional(p).await?
        });
        if let Some(other) = taken
            && Some(other) != id
        {
            return Err(StoreError::Conflict(format!(
                "code '{code}' is already marketing campaign {other}'s"
            )));
        }
        let now = self.now();
        let (starts_on, ends_on) = (
            starts_on.map(|d| d.to_string()),
            ends_on.map(|d| d.to_string()),
        );
        let written: sqlx::Result<i64> = on_db!(self, p => {
            match id {
                None => sqlx::query_scalar(
                    "INSERT INTO marketing_campaigns (workspace_id, name, code, starts_on, ends_on, budget, owner_id, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING id",
                )
                .bind(ws.0).bind(&name).bind(&code).bind(&starts_on).bind(&ends_on).bind(budget).bind(owner_id).bind(now)
                .fetch_one(p).await,
                Some(id) => sqlx::query(
                    "UPDATE marketing_campaigns SET name = $3, code = $4, starts_on = $5, ends_on = $6, budget = $7, owner_id = $8, updated_at = $9
                     WHERE workspace_id = $1 AND id = $2",
                )
                .bind(ws.0).bind(id).bind(&name).bind(&code).bind(&starts_on).bind(&ends_on).bind(budget).bind(owner_id).bind(now)
                .execute(p).await.map(|_| id),
            }
        });
        let id = match written {
            Ok(id) => id,
            // Two writers took the same code at once: the index decides.
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                return Err(StoreError::Conflict(format!(
                    "code '{code}' is already used by another marketing campaign"
                )));
            }
            Err(e) => return Err(e.into()),
        };
        self.marketing_campaign(ws, id).await
    }

    /// Deletes a marketing campaign; what it grouped stays, ungrouped.
    pub async fn delete_marketing_campaign(&self, ws: WorkspaceId, id: i64) -> Result<()> {
        self.marketing_campaign(ws, id).await?;
        on_db!(self, p => {
            let mut tx = p.begin().await?;
            for member in [Member::Broadcast, Member::Campaign, Member::AdCampaign] {
                let sql = format!(
                    "UPDATE {} SET marketing_campaign_id = NULL WHERE workspace_id = $1 AND marketing_campaign_id = $2",
                    member.table()
                );
                sqlx::query(sqlx::AssertSqlSafe(sql)).bind(ws.0).bind(id).execute(&mut *tx).await?;
            }
            sqlx::query("DELETE FROM marketing_campaigns WHERE workspace_id = $1 AND id = $2")
                .bind(ws.0).bind(id).execute(&mut *tx).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Puts a broadcast, campaign or ad campaign under marketing campaign
    /// `id` (moving it from any other), or with `attach` false takes it out
    /// of `id`. False when the workspace has no such member; an unknown
    /// `id` is not found.
    pub async fn set_marketing_member(
        &self,
        ws: WorkspaceId,
        id: i64,
        member: Member,
        member_id: i64,
        attach: bool,
    ) -> Result<bool> {
        self.marketing_campaign(ws, id).await?;
        let table = member.table();
        let sql = if attach {
            format!(
                "UPDATE {table} SET marketing_campaign_id = $3 WHERE workspace_id = $1 AND id = $2"
            )
        } else {
            format!(
                "UPDATE {table} SET marketing_campaign_id = CASE WHEN marketing_campaign_id = $3 THEN NULL ELSE marketing_campaign_id END
                 WHERE workspace_id = $1 AND id = $2"
            )
        };
        let n = on_db!(self, p => {
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(ws.0).bind(member_id).bind(id).execute(p).await?.rows_affected()
        });
        Ok(n > 0)
    }

    /// The broadcasts, campaigns and ad campaigns a marketing campaign groups.
    pub async fn marketing_members(&self, ws: WorkspaceId, id: i64) -> Result<Members> {
        let mut out = Members::default();
        for (member, ids) in [
            (Member::Broadcast, &mut out.broadcasts),
            (Member::Campaign, &mut out.campaigns),
            (Member::AdCampaign, &mut out.ad_campaigns),
        ] {
            let sql = format!(
                "SELECT id FROM {} WHERE workspace_id = $1 AND marketing_campaign_id = $2 ORDER BY id",
                member.table()
            );
            *ids = on_db!(self, p => {
                sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(ws.0).bind(id).fetch_all(p).await?
            });
        }
        Ok(out)
    }
}
