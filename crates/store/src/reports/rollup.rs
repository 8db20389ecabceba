//! A marketing campaign's roll-up: what its broadcasts, automated
//! campaigns and ads did together, and what it earned against what it
//! cost.

use serde::Serialize;

use super::ratio;
use crate::marketing::{MarketingCampaign, Members};
use crate::rows::RowExt;
use crate::{Result, Store, WorkspaceId, on_db};

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct MarketingReport {
    pub marketing_campaign: MarketingCampaign,
    pub members: Members,
    /// Messages of its broadcasts and automated campaigns (test runs left
    /// out), in any state.
    pub messages: i64,
    pub sent: i64,
    /// Sent messages opened by a person (machine opens left out).
    pub opened: i64,
    /// Messages with at least one tracked click.
    pub clicked: i64,
    pub open_rate: Option<f64>,
    pub click_rate: Option<f64>,
    /// Events whose properties carry `utm_campaign` or `pk_campaign` equal
    /// to the code.
    pub attributed_events: i64,
    /// Of those, page views.
    pub visits: i64,
    /// Contacts behind the attributed events.
    pub visitors: i64,
    /// Leads from the ads of its ad campaigns or carrying its code in
    /// `utm_campaign` / `pk_campaign`, duplicates left out.
    pub leads: i64,
    pub duplicates: i64,
    pub won: i64,
    /// Won leads that became an order.
    pub orders: i64,
    pub revenue: f64,
    /// Ad metrics of its ad campaigns' ads.
    pub ad_spend: f64,
    /// What its automated campaigns' messages cost (unit cost per channel).
    pub message_cost: f64,
    pub spend: f64,
    pub budget: Option<f64>,
    /// spend / budget.
    pub budget_used: Option<f64>,
    pub cost_per_lead: Option<f64>,
    pub cost_per_won: Option<f64>,
    /// (revenue - spend) / spend.
    pub roi: Option<f64>,
}

impl Store {
    /// The roll-up of one marketing campaign over all time.
    pub async fn marketing_report(&self, ws: WorkspaceId, id: i64) -> Result<MarketingReport> {
        let campaign = self.marketing_campaign(ws, id).await?;
        let members = self.marketing_members(ws, id).await?;
        let code = campaign.code.clone();
        let (msg, events, leads, ad_spend, message_cost) = on_db!(self, p => {
            // A broadcast's messages name it as their source; a campaign's
            // name their trace.
            let msg = sqlx::query(
                "WITH msgs AS (
                    SELECT m.id, m.state FROM broadcasts b
                    JOIN messages m ON m.source = 'broadcast' AND m.source_id = b.id
                    WHERE b.workspace_id = $1 AND b.marketing_campaign_id = $2
                    UNION ALL
                    SELECT m.id, m.state FROM campaigns c
                    JOIN traces t ON t.campaign_id = c.id
                    JOIN messages m ON m.source = 'trace' AND m.source_id = t.id
                    WHERE c.workspace_id = $1 AND c.marketing_campaign_id = $2 AND NOT t.test
                 )
                 SELECT CAST(COUNT(*) AS BIGINT) AS messages,
                    CAST(COALESCE(SUM(CASE WHEN state = 'sent' THEN 1 ELSE 0 END), 0) AS BIGINT) AS sent,
                    CAST(COALESCE(SUM(CASE WHEN EXISTS (SELECT 1 FROM message_events e WHERE e.message_pk = msgs.id AND e.kind = 'open' AND NOT e.machine) THEN 1 ELSE 0 END), 0) AS BIGINT) AS opened,
                    CAST(COALESCE(SUM(CASE WHEN EXISTS (SELECT 1 FROM message_events e WHERE e.message_pk = msgs.id AND e.kind = 'click') THEN 1 ELSE 0 END), 0) AS BIGINT) AS clicked
                 FROM msgs",
            ).bind(ws.0).bind(id).fetch_one(p).await?;
            let events = sqlx::query(
                "SELECT CAST(COUNT(*) AS BIGINT) AS events,
                    CAST(COALESCE(SUM(CASE WHEN name = 'page_view' THEN 1 ELSE 0 END), 0) AS BIGINT) AS visits,
                    CAST(COUNT(DISTINCT contact_id) AS BIGINT) AS visitors
                 FROM events
                 WHERE workspace_id = $1 AND (properties ->> 'utm_campaign' = $2 OR properties ->> 'pk_campaign' = $2)",
            ).bind(ws.0).bind(&code).fetch_one(p).await?;
            let leads = sqlx::query(
                "SELECT
                    CAST(COALESCE(SUM(CASE WHEN l.duplicate_of IS NULL THEN 1 ELSE 0 END), 0) AS BIGINT) AS leads,
                    CAST(COALESCE(SUM(CASE WHEN l.duplicate_of IS NOT NULL THEN 1 ELSE 0 END), 0) AS BIGINT) AS duplicates,
                    CAST(COALESCE(SUM(CASE WHEN l.duplicate_of IS NULL AND l.status = 'won' THEN 1 ELSE 0 END), 0) AS BIGINT) AS won,
                    CAST(COALESCE(SUM(CASE WHEN l.duplicate_of IS NULL AND l.status = 'won' AND o.id IS NOT NULL THEN 1 ELSE 0 END), 0) AS BIGINT) AS orders,
                    CAST(COALESCE(SUM(CASE WHEN l.duplicate_of IS NULL AND l.status = 'won' THEN o.total END), 0) AS DOUBLE PRECISION) AS revenue
                 FROM leads l
                 LEFT JOIN orders o ON o.id = l.order_id AND o.workspace_id = l.workspace_id
                 WHERE l.workspace_id = $1 AND (
                    l.ad_id IN (SELECT a.id FROM ads a JOIN ad_campaigns c ON c.id = a.ad_campaign_id
                                WHERE c.workspace_id = $1 AND c.marketing_campaign_id = $2)
                    OR l.data ->> 'utm_campaign' = $3 OR l.data ->> 'pk_campaign' = $3)",
            ).bind(ws.0).bind(id).bind(&code).fetch_one(p).await?;
            let ad_spend: f64 = sqlx::query_scalar(
                "SELECT CAST(COALESCE(SUM(m.spend), 0) AS DOUBLE PRECISION) FROM ad_metrics m
                 JOIN ads a ON a.id = m.ad_id JOIN ad_campaigns c ON c.id = a.ad_campaign_id
                 WHERE m.workspace_id = $1 AND c.marketing_campaign_id = $2",
            ).bind(ws.0).bind(id).fetch_one(p).await?;
            let message_cost: f64 = sqlx::query_scalar(
                "SELECT CAST(COALESCE(SUM(spent), 0) AS DOUBLE PRECISION) FROM campaigns WHERE workspace_id = $1 AND marketing_campaign_id = $2",
            ).bind(ws.0).bind(id).fetch_one(p).await?;
            (
                [msg.int("messages"), msg.int("sent"), msg.int("opened"), msg.int("clicked")],
                [events.int("events"), events.int("visits"), events.int("visitors")],
                ([leads.int("leads"), leads.int("duplicates"), leads.int("won"), leads.int("orders")], leads.opt_float("revenue").unwrap_or(0.0)),
                ad_spend,
                message_cost,
            )
        });
        let [messages, sent, opened, clicked] = msg;
        let [attributed_events, visits, visitors] = events;
        let ([leads, duplicates, won, orders], revenue) = leads;
        let spend = ad_spend + message_cost;
        let budget = campaign.budget;
        Ok(MarketingReport {
            marketing_campaign: campaign,
            members,
            messages,
            sent,
            opened,
            clicked,
            open_rate: ratio(opened as f64, sent as f64),
            click_rate: ratio(clicked as f64, sent as f64),
            attributed_events,
            visits,
            visitors,
            leads,
            duplicates,
            won,
            orders,
            revenue,
            ad_spend,
            message_cost,
            spend,
            budget,
            budget_used: budget.and_then(|b| ratio(spend, b)),
            cost_per_lead: ratio(spend, leads as f64),
            cost_per_won: ratio(spend, won as f64),
            roi: ratio(revenue - spend, spend),
        })
    }
}
