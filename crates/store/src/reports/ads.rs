//! What ads cost and brought, per ad, ad campaign or ad account.

use serde::Serialize;

use super::{CONTACTED_STATUSES, DateRange, ratio};
use crate::rows::RowExt;
use crate::{Result, Store, WorkspaceId, on_db};

/// The level an ads report groups at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AdGrouping {
    Ad,
    Campaign,
    Account,
}

impl AdGrouping {
    pub fn parse(s: &str) -> Option<AdGrouping> {
        match s {
            "ad" => Some(AdGrouping::Ad),
            "campaign" => Some(AdGrouping::Campaign),
            "account" => Some(AdGrouping::Account),
            _ => None,
        }
    }

    /// The column a row's group is, over `ads a JOIN ad_campaigns c` (an
    /// allow-list: the only text pasted into the report's SQL).
    fn key(self) -> &'static str {
        match self {
            AdGrouping::Ad => "a.id",
            AdGrouping::Campaign => "a.ad_campaign_id",
            AdGrouping::Account => "c.ad_account_id",
        }
    }

    /// The names the report shows and the group's own tables, joined to
    /// the group key `g.k`: the end of the select list and its FROM, so
    /// it comes last in the select.
    fn describe(self) -> &'static str {
        match self {
            AdGrouping::Ad => {
                "a.id AS ad_id, a.name AS ad_name, c.id AS campaign_id, c.name AS campaign_name,
                 x.id AS account_pk, x.platform, x.account_id, x.name AS account_name
                 FROM groups g JOIN ads a ON a.id = g.k JOIN ad_campaigns c ON c.id = a.ad_campaign_id
                 JOIN ad_accounts x ON x.id = c.ad_account_id"
            }
            AdGrouping::Campaign => {
                "CAST(NULL AS BIGINT) AS ad_id, CAST(NULL AS TEXT) AS ad_name, c.id AS campaign_id, c.name AS campaign_name,
                 x.id AS account_pk, x.platform, x.account_id, x.name AS account_name
                 FROM groups g JOIN ad_campaigns c ON c.id = g.k JOIN ad_accounts x ON x.id = c.ad_account_id"
            }
            AdGrouping::Account => {
                "CAST(NULL AS BIGINT) AS ad_id, CAST(NULL AS TEXT) AS ad_name, CAST(NULL AS BIGINT) AS campaign_id,
                 CAST(NULL AS TEXT) AS campaign_name, x.id AS account_pk, x.platform, x.account_id, x.name AS account_name
                 FROM groups g JOIN ad_accounts x ON x.id = g.k"
            }
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct NamedRef {
    pub id: i64,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AccountRef {
    pub id: i64,
    pub platform: String,
    /// The platform's id of the account.
    pub account_id: String,
    pub name: Option<String>,
}

/// The figures of a group of ads over a range (see `docs/reports.md`).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct AdFigures {
    pub spend: f64,
    pub impressions: i64,
    pub clicks: i64,
    /// Leads created in the range, duplicates left out.
    pub leads: i64,
    /// Repeats of an earlier lead, created in the range; counted apart.
    pub duplicates: i64,
    pub contacted: i64,
    pub qualified: i64,
    pub won: i64,
    /// Totals of the orders that won leads became.
    pub revenue: f64,
    pub click_through_rate: Option<f64>,
    pub cost_per_click: Option<f64>,
    pub cost_per_lead: Option<f64>,
    pub contacted_rate: Option<f64>,
    pub qualified_rate: Option<f64>,
    pub won_rate: Option<f64>,
    pub cost_per_won: Option<f64>,
}

impl AdFigures {
    fn add(&mut self, o: &AdFigures) {
        self.spend += o.spend;
        self.impressions += o.impressions;
        self.clicks += o.clicks;
        self.leads += o.leads;
        self.duplicates += o.duplicates;
        self.contacted += o.contacted;
        self.qualified += o.qualified;
        self.won += o.won;
        self.revenue += o.revenue;
    }

    /// Works out the ratios from the counts.
    fn derive(mut self) -> AdFigures {
        let leads = self.leads as f64;
        self.click_through_rate = ratio(self.clicks as f64, self.impressions as f64);
        self.cost_per_click = ratio(self.spend, self.clicks as f64);
        self.cost_per_lead = ratio(self.spend, leads);
        self.contacted_rate = ratio(self.contacted as f64, leads);
        self.qualified_rate = ratio(self.qualified as f64, leads);
        self.won_rate = ratio(self.won as f64, leads);
        self.cost_per_won = ratio(self.spend, self.won as f64);
        self
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AdReportRow {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ad: Option<NamedRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ad_campaign: Option<NamedRef>,
    pub ad_account: AccountRef,
    #[serde(flatten)]
    pub figures: AdFigures,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AdReport {
    pub from: String,
    pub to: String,
    pub timezone: String,
    pub by: AdGrouping,
    /// Groups with spend or leads in the range, most spend first.
    pub rows: Vec<AdReportRow>,
    pub total: AdFigures,
}

impl Store {
    /// Spend and reach from the ad metrics of the range's days; leads
    /// created in the range (workspace time zone) and what became of them,
    /// per ad, ad campaign or ad account. Leads without an ad are not in
    /// this report.
    pub async fn ad_report(
        &self,
        ws: WorkspaceId,
        range: DateRange,
        by: AdGrouping,
    ) -> Result<AdReport> {
        let workspace = self.workspace(ws).await?;
        let (start, end) = range.bounds(&workspace.timezone)?;
        let (from, to) = range.days();
        let key = by.key();
        // Spend and leads are aggregated apart, each per group, then
        // joined on the group: joining metrics to leads row by row would
        // count each day's spend once per lead.
        let sql = format!(
            "WITH spend AS (
                SELECT {key} AS k, SUM(m.spend) AS spend, SUM(m.impressions) AS impressions, SUM(m.clicks) AS clicks
                FROM ad_metrics m JOIN ads a ON a.id = m.ad_id JOIN ad_campaigns c ON c.id = a.ad_campaign_id
                WHERE m.workspace_id = $1 AND m.day >= $2 AND m.day <= $3
                GROUP BY {key}
             ), lead_counts AS (
                SELECT {key} AS k,
                    SUM(CASE WHEN l.duplicate_of IS NULL THEN 1 ELSE 0 END) AS leads,
                    SUM(CASE WHEN l.duplicate_of IS NOT NULL THEN 1 ELSE 0 END) AS duplicates,
                    SUM(CASE WHEN l.duplicate_of IS NULL AND (l.first_contacted_at IS NOT NULL OR l.status IN {CONTACTED_STATUSES}) THEN 1 ELSE 0 END) AS contacted,
                    SUM(CASE WHEN l.duplicate_of IS NULL AND l.status IN ('qualified', 'won') THEN 1 ELSE 0 END) AS qualified,
                    SUM(CASE WHEN l.duplicate_of IS NULL AND l.status = 'won' THEN 1 ELSE 0 END) AS won,
                    SUM(CASE WHEN l.duplicate_of IS NULL AND l.status = 'won' THEN o.total END) AS revenue
                FROM leads l JOIN ads a ON a.id = l.ad_id JOIN ad_campaigns c ON c.id = a.ad_campaign_id
                LEFT JOIN orders o ON o.id = l.order_id AND o.workspace_id = l.workspace_id
                WHERE l.workspace_id = $1 AND l.created_at >= $4 AND l.created_at < $5
                GROUP BY {key}
             ), groups AS (
                SELECT k FROM spend UNION SELECT k FROM lead_counts
             )
             SELECT CAST(COALESCE(s.spend, 0) AS DOUBLE PRECISION) AS spend,
                CAST(COALESCE(s.impressions, 0) AS BIGINT) AS impressions,
                CAST(COALESCE(s.clicks, 0) AS BIGINT) AS clicks,
                CAST(COALESCE(f.leads, 0) AS BIGINT) AS leads,
                CAST(COALESCE(f.duplicates, 0) AS BIGINT) AS duplicates,
                CAST(COALESCE(f.contacted, 0) AS BIGINT) AS contacted,
                CAST(COALESCE(f.qualified, 0) AS BIGINT) AS qualified,
                CAST(COALESCE(f.won, 0) AS BIGINT) AS won,
                CAST(COALESCE(f.revenue, 0) AS DOUBLE PRECISION) AS revenue,
                {describe}
             LEFT JOIN spend s ON s.k = g.k
             LEFT JOIN lead_counts f ON f.k = g.k
             ORDER BY 1 DESC, g.k",
            describe = by.describe(),
        );
        let rows: Vec<AdReportRow> = on_db!(self, p => {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(ws.0).bind(&from).bind(&to).bind(start).bind(end)
                .fetch_all(p).await?.iter().map(|r| AdReportRow {
                    ad: r.opt_int("ad_id").map(|id| NamedRef { id, name: r.text("ad_name") }),
                    ad_campaign: r.opt_int("campaign_id").map(|id| NamedRef { id, name: r.text("campaign_name") }),
                    ad_account: AccountRef {
                        id: r.int("account_pk"),
                        platform: r.text("platform"),
                        account_id: r.text("account_id"),
                        name: r.opt_text("account_name"),
                    },
                    figures: AdFigures {
                        spend: r.opt_float("spend").unwrap_or(0.0),
                        impressions: r.int("impressions"),
                        clicks: r.int("clicks"),
                        leads: r.int("leads"),
                        duplicates: r.int("duplicates"),
                        contacted: r.int("contacted"),
                        qualified: r.int("qualified"),
                        won: r.int("won"),
                        revenue: r.opt_float("revenue").unwrap_or(0.0),
                        ..Default::default()
                    }.derive(),
                }).collect()
        });
        let mut total = AdFigures::default();
        for r in &rows {
            total.add(&r.figures);
        }
        Ok(AdReport {
            from,
            to,
            timezone: workspace.timezone,
            by,
            rows,
            total: total.derive(),
        })
    }
}
