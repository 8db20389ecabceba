//! The ads hierarchy that brings leads: ad accounts (an account on an ad
//! platform) hold ad campaigns, which hold ads. Each level can be switched
//! off (`running` for an account, `active` below); a lead that names a
//! switched-off ad is still taken, with a warning.

use serde::Serialize;

use crate::rows::RowExt;
use crate::{Result, Store, StoreError, WorkspaceId, on_db};

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AdAccount {
    pub id: i64,
    /// facebook, google, tiktok, zalo, ...
    pub platform: String,
    /// The platform's id of the account.
    pub account_id: String,
    pub name: Option<String>,
    pub running: bool,
    #[serde(serialize_with = "swell_core::time::serialize_millis")]
    pub created_at: i64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AdCampaign {
    pub id: i64,
    pub ad_account_id: i64,
    pub name: String,
    pub active: bool,
    pub marketing_campaign_id: Option<i64>,
    #[serde(serialize_with = "swell_core::time::serialize_millis")]
    pub created_at: i64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Ad {
    pub id: i64,
    pub ad_campaign_id: i64,
    pub name: String,
    pub active: bool,
    #[serde(serialize_with = "swell_core::time::serialize_millis")]
    pub created_at: i64,
}

/// The three levels, each with its table and parent (an allow-list: the
/// only names pasted into SQL here).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdLevel {
    Account,
    Campaign,
    Ad,
}

impl AdLevel {
    fn table(self) -> &'static str {
        match self {
            AdLevel::Account => "ad_accounts",
            AdLevel::Campaign => "ad_campaigns",
            AdLevel::Ad => "ads",
        }
    }

    /// How the API names one.
    pub fn what(self) -> &'static str {
        match self {
            AdLevel::Account => "ad account",
            AdLevel::Campaign => "ad campaign",
            AdLevel::Ad => "ad",
        }
    }

    /// The flag that switches it off.
    fn flag(self) -> &'static str {
        match self {
            AdLevel::Account => "running",
            _ => "active",
        }
    }
}

/// A level's fields as given; `None` is "not given". `parent` is the
/// account of a campaign, the campaign of an ad; `key` the platform's
/// account id of an account, the name of a campaign or an ad.
#[derive(Debug, Clone, Default)]
pub struct AdInput {
    pub parent: Option<i64>,
    pub platform: Option<String>,
    pub key: Option<String>,
    pub name: Option<String>,
    pub on: Option<bool>,
}

fn account(r: &impl RowExt) -> AdAccount {
    AdAccount {
        id: r.int("id"),
        platform: r.text("platform"),
        account_id: r.text("account_id"),
        name: r.opt_text("name"),
        running: r.boolean("running"),
        created_at: r.int("created_at"),
    }
}

fn campaign(r: &impl RowExt) -> AdCampaign {
    AdCampaign {
        id: r.int("id"),
        ad_account_id: r.int("ad_account_id"),
        name: r.text("name"),
        active: r.boolean("active"),
        marketing_campaign_id: r.opt_int("marketing_campaign_id"),
        created_at: r.int("created_at"),
    }
}

fn ad(r: &impl RowExt) -> Ad {
    Ad {
        id: r.int("id"),
        ad_campaign_id: r.int("ad_campaign_id"),
        name: r.text("name"),
        active: r.boolean("active"),
        created_at: r.int("created_at"),
    }
}

fn invalid(field: &str, reason: impl Into<String>) -> StoreError {
    StoreError::Invalid(vec![swell_core::FieldError::new(field, reason)])
}

impl Store {
    /// Ad accounts in id order.
    pub async fn ad_accounts(&self, ws: WorkspaceId) -> Result<Vec<AdAccount>> {
        on_db!(self, p => {
            Ok(sqlx::query("SELECT * FROM ad_accounts WHERE workspace_id = $1 ORDER BY id")
                .bind(ws.0).fetch_all(p).await?.iter().map(account).collect())
        })
    }

    pub async fn ad_account(&self, ws: WorkspaceId, id: i64) -> Result<AdAccount> {
        on_db!(self, p => {
            sqlx::query("SELECT * FROM ad_accounts WHERE workspace_id = $1 AND id = $2")
                .bind(ws.0).bind(id).fetch_optional(p).await?.map(|r| account(&r)).ok_or(StoreError::NotFound)
        })
    }

    /// Ad campaigns in id order, of one account when given.
    pub async fn ad_campaigns(
        &self,
        ws: WorkspaceId,
        account: Option<i64>,
    ) -> Result<Vec<AdCampaign>> {
        on_db!(self, p => {
            Ok(sqlx::query("SELECT * FROM ad_campaigns WHERE workspace_id = $1 AND ($2 = 0 OR ad_account_id = $2) ORDER BY id")
                .bind(ws.0).bind(account.unwrap_or(0)).fetch_all(p).await?.iter().map(campaign).collect())
        })
    }

    pub async fn ad_campaign(&self, ws: WorkspaceId, id: i64) -> Result<AdCampaign> {
        on_db!(self, p => {
            sqlx::query("SELECT * FROM ad_campaigns WHERE workspace_id = $1 AND id = $2")
                .bind(ws.0).bind(id).fetch_optional(p).await?.map(|r| campaign(&r)).ok_or(StoreError::NotFound)
        })
    }

    /// Ads in id order, of one ad campaign when given.
    pub async fn ads(&self, ws: WorkspaceId, campaign: Option<i64>) -> Result<Vec<Ad>> {
        on_db!(self, p => {
            Ok(sqlx::query("SELECT * FROM ads WHERE workspace_id = $1 AND ($2 = 0 OR ad_campaign_id = $2) ORDER BY id")
                .bind(ws.0).bind(campaign.unwrap_or(0)).fetch_all(p).await?.iter().map(ad).collect())
        })
    }

    pub async fn ad(&self, ws: WorkspaceId, id: i64) -> Result<Ad> {
        on_db!(self, p => {
            sqlx::query("SELECT * FROM ads WHERE workspace_id = $1 AND id = $2")
                .bind(ws.0).bind(id).fetch_optional(p).await?.map(|r| ad(&r)).ok_or(StoreError::NotFound)
        })
    }

    /// Creates an account, campaign or ad, or with `id` changes the fields
    /// given; returns its id. A parent outside the workspace is refused by
    /// field; the same key twice under one parent is a conflict.
    pub async fn write_ad_level(
        &self,
        ws: WorkspaceId,
        level: AdLevel,
        id: Option<i64>,
        input: &AdInput,
    ) -> Result<i64> {
        let (parent_field, key_field) = match level {
            AdLevel::Account => ("", "account_id"),
            AdLevel::Campaign => ("ad_account_id", "name"),
            AdLevel::Ad => ("ad_campaign_id", "name"),
        };
        if let Some(k) = &input.key
            && k.trim().is_empty()
        {
            return Err(invalid(key_field, "is empty"));
        }
        if let Some(parent) = input.parent {
            let found = match level {
                AdLevel::Account => true,
                AdLevel::Campaign => self.ad_account(ws, parent).await.is_ok(),
                AdLevel::Ad => self.ad_campaign(ws, parent).await.is_ok(),
            };
            if !found {
                return Err(invalid(parent_field, format!("{parent} not found")));
            }
        }
        let now = self.now();
        let key = input.key.as_deref().map(str::trim);
        let written: std::result::Result<Option<i64>, sqlx::Error> = on_db!(self, p => {
            match (level, id) {
                (AdLevel::Account, None) => sqlx::query_scalar(
                    "INSERT INTO ad_accounts (workspace_id, platform, account_id, name, running, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6) RETURNING id")
                    .bind(ws.0).bind(input.platform.as_deref().unwrap_or("facebook"))
                    .bind(key.ok_or_else(|| invalid(key_field, "is required"))?)
                    .bind(&input.name).bind(input.on.unwrap_or(true)).bind(now).fetch_optional(p).await,
                (AdLevel::Account, Some(id)) => sqlx::query_scalar(
                    "UPDATE ad_accounts SET platform = COALESCE($3, platform), account_id = COALESCE($4, account_id),
                            name = COALESCE($5, name), running = COALESCE($6, running)
                     WHERE workspace_id = $1 AND id = $2 RETURNING id")
                    .bind(ws.0).bind(id).bind(&input.platform).bind(key).bind(&input.name).bind(input.on)
                    .fetch_optional(p).await,
                (_, None) => {
                    let sql = format!(
                        "INSERT INTO {} (workspace_id, {parent_field}, name, active, created_at)
                         VALUES ($1, $2, $3, $4, $5) RETURNING id", level.table());
                    sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                        .bind(ws.0).bind(input.parent.ok_or_else(|| invalid(parent_field, "is required"))?)
                        .bind(key.ok_or_else(|| invalid(key_field, "is required"))?)
                        .bind(input.on.unwrap_or(true)).bind(now).fetch_optional(p).await
                }
                (_, Some(id)) => {
                    let sql = format!(
                        "UPDATE {} SET {parent_field} = COALESCE($3, {parent_field}), name = COALESCE($4, name),
                                active = COALESCE($5, active)
                         WHERE workspace_id = $1 AND id = $2 RETURNING id", level.table());
                    sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                        .bind(ws.0).bind(id).bind(input.parent).bind(key).bind(input.on).fetch_optional(p).await
                }
            }
        });
        match written {
            Ok(Some(id)) => Ok(id),
            Ok(None) => Err(StoreError::NotFound),
            Err(e) if crate::is_unique_violation(&e) => Err(StoreError::Conflict(format!(
                "an {} with {key_field} '{}' exists there",
                level.what(),
                key.unwrap_or_default()
            ))),
            Err(e) => Err(e.into()),
        }
    }

    /// Switches a level on or off.
    pub async fn set_ad_level_on(
        &self,
        ws: WorkspaceId,
        level: AdLevel,
        id: i64,
        on: bool,
    ) -> Result<()> {
        let sql = format!(
            "UPDATE {} SET {} = $3 WHERE workspace_id = $1 AND id = $2",
            level.table(),
            level.flag()
        );
        let n = on_db!(self, p => {
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(ws.0).bind(id).bind(on).execute(p).await?.rows_affected()
        });
        if n == 0 {
            Err(StoreError::NotFound)
        } else {
            Ok(())
        }
    }

    /// Deletes an account, campaign or ad that nothing hangs from (no
    /// campaigns, ads, leads or metrics); one that has them is a conflict:
    /// switch it off instead.
    pub async fn delete_ad_level(&self, ws: WorkspaceId, level: AdLevel, id: i64) -> Result<()> {
        let sql = format!(
            "DELETE FROM {} WHERE workspace_id = $1 AND id = $2",
            level.table()
        );
        let result: std::result::Result<u64, sqlx::Error> = on_db!(self, p => {
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(ws.0).bind(id).execute(p).await.map(|r| r.rows_affected())
        });
        match result {
            Ok(0) => Err(StoreError::NotFound),
            Ok(_) => Ok(()),
            Err(e) if crate::is_foreign_key_violation(&e) => Err(StoreError::Conflict(format!(
                "the {} has campaigns, ads, leads or metrics; switch it off instead",
                level.what()
            ))),
            Err(e) => Err(e.into()),
        }
    }
}
