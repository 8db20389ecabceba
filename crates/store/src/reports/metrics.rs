//! Ad metrics: what one ad cost and reached on one day, as the ad platform
//! reports it. A day imported again replaces what was stored for it.

use std::collections::HashMap;
use std::io::Read;

use jiff::civil::Date;
use serde_json::{Map, Value};
use swell_core::FieldError;
use tokio::sync::mpsc;

use crate::contacts::Outcome;
use crate::import::{ImportReport, Parsed, column_of, row_reason, spawn_object_parser};
use crate::rows::RowExt;
use crate::{BeginWrite, Result, Store, WorkspaceId, on_db};

/// The fields a metrics row may have, in JSON and as CSV columns.
pub const METRIC_FIELDS: &[&str] = &[
    "date",
    "ad_id",
    "platform",
    "account_id",
    "campaign",
    "ad",
    "spend",
    "impressions",
    "clicks",
];

/// Which ad a row is about: Swell's id of it, or the names the ad
/// platform shows (the account's id on the platform, the campaign's and
/// the ad's names), which must name an ad that exists: an import never
/// creates ads.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AdKey {
    Id(i64),
    Names {
        platform: Option<String>,
        account_id: String,
        campaign: String,
        ad: String,
    },
}

/// One ad's figures for one day, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricInput {
    pub ad: AdKey,
    pub day: Date,
    pub spend: f64,
    pub impressions: i64,
    pub clicks: i64,
}

pub(crate) fn text(obj: &Map<String, Value>, k: &str) -> Result<Option<String>, FieldError> {
    match obj.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim().to_string())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(FieldError::new(k, "must be text")),
    }
}

fn number(obj: &Map<String, Value>, k: &str) -> Result<Option<f64>, FieldError> {
    let n = match obj.get(k) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) if s.trim().is_empty() => return Ok(None),
        Some(Value::String(s)) => s.trim().parse::<f64>().ok(),
        Some(_) => None,
    };
    match n {
        Some(n) if n.is_finite() && n >= 0.0 => Ok(Some(n)),
        Some(n) if n.is_finite() => Err(FieldError::new(k, format!("{n} is negative"))),
        _ => Err(FieldError::new(k, "must be a number")),
    }
}

fn count(obj: &Map<String, Value>, k: &str) -> Result<i64, FieldError> {
    match number(obj, k)? {
        None => Ok(0),
        Some(n) if n.fract() == 0.0 && n <= i64::MAX as f64 => Ok(n as i64),
        Some(n) => Err(FieldError::new(k, format!("{n} is not a whole number"))),
    }
}

impl AdKey {
    /// Reads the ad a row names: `ad_id`, or `account_id`, `campaign` and
    /// `ad` (with `platform` when the account id is on several), or none
    /// of them. Half a name, or both ways at once, is refused by field.
    pub fn from_json(obj: &Map<String, Value>) -> Result<Option<AdKey>, FieldError> {
        let names = [
            text(obj, "account_id")?,
            text(obj, "campaign")?,
            text(obj, "ad")?,
        ];
        let platform = text(obj, "platform")?;
        Ok(match (number(obj, "ad_id")?, names) {
            (None, [None, None, None]) => None,
            (Some(_), [None, None, None]) if platform.is_none() => {
                let id = count(obj, "ad_id")?;
                if id <= 0 {
                    return Err(FieldError::new("ad_id", "must be a positive id"));
                }
                Some(AdKey::Id(id))
            }
            (Some(_), _) => {
                return Err(FieldError::new(
                    "ad_id",
                    "give ad_id, or account_id, campaign and ad; not both",
                ));
            }
            (None, [Some(account_id), Some(campaign), Some(ad)]) => Some(AdKey::Names {
                platform,
                account_id,
                campaign,
                ad,
            }),
            (None, [account, campaign, _]) => {
                let missing = if account.is_none() {
                    "account_id"
                } else if campaign.is_none() {
                    "campaign"
                } else {
                    "ad"
                };
                return Err(FieldError::new(
                    missing,
                    "is required: name the ad by ad_id, or by account_id, campaign and ad",
                ));
            }
        })
    }
}

impl MetricInput {
    /// Reads a row given as a JSON object, or as a CSV row's cells (text
    /// that reads as numbers where numbers are due). `date` and the ad are
    /// required; `spend`, `impressions` and `clicks` are 0 when absent and
    /// never negative.
    pub fn from_json(obj: &Map<String, Value>) -> Result<MetricInput, FieldError> {
        if let Some(k) = obj.keys().find(|k| !METRIC_FIELDS.contains(&k.as_str())) {
            return Err(FieldError::new(
                k.clone(),
                format!("unknown field ({})", METRIC_FIELDS.join(", ")),
            ));
        }
        let day = text(obj, "date")?
            .ok_or_else(|| FieldError::new("date", "is required (YYYY-MM-DD)"))?;
        let day = swell_core::time::parse_date(&day).map_err(|e| FieldError::new("date", e))?;
        let ad = AdKey::from_json(obj)?.ok_or_else(|| {
            FieldError::new(
                "account_id",
                "is required: name the ad by ad_id, or by account_id, campaign and ad",
            )
        })?;
        Ok(MetricInput {
            ad,
            day,
            spend: number(obj, "spend")?.unwrap_or(0.0),
            impressions: count(obj, "impressions")?,
            clicks: count(obj, "clicks")?,
        })
    }
}

impl Store {
    /// Stores rows given as JSON (`row` in the report is the item's place
    /// in the array, from 1). Valid rows land, invalid ones are reported;
    /// all in one transaction.
    pub async fn import_ad_metrics(
        &self,
        ws: WorkspaceId,
        rows: Vec<Parsed<MetricInput>>,
    ) -> Result<ImportReport> {
        let (tx, rx) = mpsc::channel(1);
        tx.send(Ok(rows)).await.ok();
        drop(tx);
        self.write_ad_metrics(ws, rx).await
    }

    /// Stores rows from CSV with the columns of [`METRIC_FIELDS`]; an
    /// unknown column refuses the whole file before anything is written.
    /// `row` in the report is the line (the header is line 1).
    pub async fn import_ad_metrics_csv(
        &self,
        ws: WorkspaceId,
        reader: impl Read + Send + 'static,
    ) -> Result<ImportReport> {
        let (rx, handle) = spawn_object_parser(
            reader,
            1000,
            METRIC_FIELDS,
            "metrics",
            MetricInput::from_json,
        );
        let report = self.write_ad_metrics(ws, rx).await;
        let _ = handle.await;
        report
    }

    /// Writes the batches of parsed rows in one transaction: each row's ad
    /// is found (names are looked up once per request), then its day is
    /// inserted, replaced, or left when the figures are the same.
    async fn write_ad_metrics(
        &self,
        ws: WorkspaceId,
        mut rx: mpsc::Receiver<Result<Vec<Parsed<MetricInput>>>>,
    ) -> Result<ImportReport> {
        let mut report = ImportReport::default();
        let mut ads: HashMap<AdKey, std::result::Result<i64, FieldError>> = HashMap::new();
        on_db!(self, p => {
            let mut tx = p.begin_write().await?;
            while let Some(batch) = rx.recv().await {
                for (line, parsed) in batch? {
                    let input = match parsed {
                        Ok(input) => input,
                        Err(e) => {
                            report.fail(line, column_of(&e), row_reason(&e));
                            continue;
                        }
                    };
                    if !ads.contains_key(&input.ad) {
                        let found = match &input.ad {
                            AdKey::Id(id) => sqlx::query_scalar::<_, i64>("SELECT id FROM ads WHERE workspace_id = $1 AND id = $2")
                                .bind(ws.0).bind(id).fetch_optional(&mut *tx).await?
                                .ok_or_else(|| FieldError::new("ad_id", format!("ad {id} not found"))),
                            AdKey::Names { platform, account_id, campaign, ad } => {
                                let rows = sqlx::query(
                                    "SELECT a.id, x.platform FROM ads a
                                     JOIN ad_campaigns c ON c.id = a.ad_campaign_id
                                     JOIN ad_accounts x ON x.id = c.ad_account_id
                                     WHERE a.workspace_id = $1 AND x.account_id = $2 AND c.name = $3 AND a.name = $4
                                       AND ($5 = '' OR x.platform = $5)
                                     ORDER BY a.id",
                                )
                                .bind(ws.0).bind(account_id).bind(campaign).bind(ad).bind(platform.as_deref().unwrap_or(""))
                                .fetch_all(&mut *tx).await?;
                                match rows.as_slice() {
                                    [one] => Ok(one.int("id")),
                                    [] => Err(FieldError::new("ad", format!(
                                        "no ad '{ad}' in campaign '{campaign}' of account '{account_id}' (metrics never create ads)"
                                    ))),
                                    many => Err(FieldError::new("platform", format!(
                                        "account '{account_id}' is on several platforms ({}); say which",
                                        many.iter().map(|r| r.text("platform")).collect::<Vec<_>>().join(", ")
                                    ))),
                                }
                            }
                        };
                        ads.insert(input.ad.clone(), found);
                    }
                    let ad_id = match &ads[&input.ad] {
                        Ok(id) => *id,
                        Err(e) => {
                            report.fail(line, column_of(e), row_reason(e));
                            continue;
                        }
                    };
                    let day = input.day.to_string();
                    let old = sqlx::query("SELECT id, spend, impressions, clicks FROM ad_metrics WHERE ad_id = $1 AND day = $2")
                        .bind(ad_id).bind(&day).fetch_optional(&mut *tx).await?;
                    let outcome = match old {
                        None => {
                            sqlx::query(
                                "INSERT INTO ad_metrics (workspace_id, ad_id, day, spend, impressions, clicks) VALUES ($1, $2, $3, $4, $5, $6)",
                            )
                            .bind(ws.0).bind(ad_id).bind(&day).bind(input.spend).bind(input.impressions).bind(input.clicks)
                            .execute(&mut *tx).await?;
                            Outcome::Created
                        }
                        Some(r) if r.opt_float("spend") == Some(input.spend)
                            && r.int("impressions") == input.impressions
                            && r.int("clicks") == input.clicks => Outcome::Unchanged,
                        Some(r) => {
                            sqlx::query("UPDATE ad_metrics SET spend = $2, impressions = $3, clicks = $4 WHERE id = $1")
                                .bind(r.int("id")).bind(input.spend).bind(input.impressions).bind(input.clicks)
                                .execute(&mut *tx).await?;
                            Outcome::Updated
                        }
                    };
                    report.count(&outcome);
                }
            }
            tx.commit().await?;
        });
        report.errors.sort_by_key(|e| e.row);
        Ok(report)
    }
}
