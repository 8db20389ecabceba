//! Read models for the web app's screens: the dashboard's days and what a
//! contact's page shows beside the contact itself. Each is a fixed number
//! of statements, whatever the size of the workspace.

use serde::Serialize;

use crate::rows::RowExt;
use crate::{Result, Store, WorkspaceId, on_db};

const DAY_MS: i64 = 24 * 3600 * 1000;

/// One day's figures on the dashboard.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DayFigures {
    /// Unix ms of the day's start.
    pub start: i64,
    pub sends: i64,
    pub opens: i64,
    pub clicks: i64,
    pub leads: i64,
    pub revenue: f64,
}

/// A list a contact is on, with their status there.
#[derive(Debug, Clone, Serialize)]
pub struct ContactList {
    pub slug: String,
    pub name: String,
    pub status: String,
}

/// A campaign or broadcast a contact is (or was) in.
#[derive(Debug, Clone, Serialize)]
pub struct ContactCampaign {
    /// `campaign` (automated) or `broadcast`.
    pub kind: String,
    pub id: i64,
    pub name: String,
    /// The participant's state, or the message's.
    pub state: String,
    pub at: i64,
}

impl Store {
    /// Figures for `days` consecutive days from `start` (unix ms of the
    /// first day's start in the workspace's zone). Days are 24 hours long,
    /// so in a zone with daylight saving a changeover day's boundary is an
    /// hour off; the week's totals are exact.
    pub async fn day_figures(
        &self,
        ws: WorkspaceId,
        start: i64,
        days: usize,
    ) -> Result<Vec<DayFigures>> {
        let end = start + days as i64 * DAY_MS;
        let mut out: Vec<DayFigures> = (0..days)
            .map(|d| DayFigures {
                start: start + d as i64 * DAY_MS,
                ..Default::default()
            })
            .collect();
        // One grouped statement per figure; the day is the offset from
        // `start` divided by a day (integer division on both backends).
        const COUNTS: &[(&str, &str)] = &[
            (
                "sends",
                "SELECT (sent_at - $2) / $4 AS d, COUNT(*) AS n FROM messages
                 WHERE workspace_id = $1 AND sent_at >= $2 AND sent_at < $3 AND state = 'sent' GROUP BY d",
            ),
            (
                "opens",
                "SELECT (at - $2) / $4 AS d, COUNT(*) AS n FROM message_events
                 WHERE workspace_id = $1 AND at >= $2 AND at < $3 AND kind = 'open' AND NOT machine GROUP BY d",
            ),
            (
                "clicks",
                "SELECT (at - $2) / $4 AS d, COUNT(*) AS n FROM message_events
                 WHERE workspace_id = $1 AND at >= $2 AND at < $3 AND kind = 'click' GROUP BY d",
            ),
            (
                "leads",
                "SELECT (created_at - $2) / $4 AS d, COUNT(*) AS n FROM leads
                 WHERE workspace_id = $1 AND created_at >= $2 AND created_at < $3 GROUP BY d",
            ),
        ];
        for (figure, sql) in COUNTS {
            let rows: Vec<(i64, i64)> = on_db!(self, p => {
                sqlx::query(*sql)
                    .bind(ws.0).bind(start).bind(end).bind(DAY_MS)
                    .fetch_all(p).await?
                    .iter().map(|r| (r.int("d"), r.int("n"))).collect()
            });
            for (d, n) in rows {
                if let Some(day) = out.get_mut(d as usize) {
                    match *figure {
                        "sends" => day.sends = n,
                        "opens" => day.opens = n,
                        "clicks" => day.clicks = n,
                        _ => day.leads = n,
                    }
                }
            }
        }
        let revenue: Vec<(i64, f64)> = on_db!(self, p => {
            sqlx::query(
                "SELECT (created_at - $2) / $4 AS d, CAST(SUM(total) AS DOUBLE PRECISION) AS total FROM orders
                 WHERE workspace_id = $1 AND created_at >= $2 AND created_at < $3 AND total IS NOT NULL
                   AND (status IS NULL OR status NOT IN ('cancelled', 'refunded'))
                 GROUP BY d",
            )
            .bind(ws.0).bind(start).bind(end).bind(DAY_MS)
            .fetch_all(p).await?
            .iter().map(|r| (r.int("d"), r.opt_float("total").unwrap_or(0.0))).collect()
        });
        for (d, total) in revenue {
            if let Some(day) = out.get_mut(d as usize) {
                day.revenue = total;
            }
        }
        Ok(out)
    }

    /// How many contacts a workspace has.
    pub async fn contact_count(&self, ws: WorkspaceId) -> Result<i64> {
        Ok(on_db!(self, p => {
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM contacts WHERE workspace_id = $1")
                .bind(ws.0).fetch_one(p).await?
        }))
    }

    /// The lists a contact is on.
    pub async fn contact_lists(&self, ws: WorkspaceId, contact: i64) -> Result<Vec<ContactList>> {
        Ok(on_db!(self, p => {
            sqlx::query(
                "SELECT l.slug, l.name, m.status FROM list_members m JOIN lists l ON l.id = m.list_id
                 WHERE l.workspace_id = $1 AND m.contact_id = $2 ORDER BY l.name",
            )
            .bind(ws.0).bind(contact)
            .fetch_all(p).await?
            .iter().map(|r| ContactList { slug: r.text("slug"), name: r.text("name"), status: r.text("status") })
            .collect()
        }))
    }

    /// The automated campaigns and broadcasts a contact is or was in,
    /// newest first (at most 50 of each).
    pub async fn contact_campaigns(
        &self,
        ws: WorkspaceId,
        contact: i64,
    ) -> Result<Vec<ContactCampaign>> {
        let mut out: Vec<ContactCampaign> = on_db!(self, p => {
            let mut v: Vec<ContactCampaign> = sqlx::query(
                "SELECT c.id, c.name, pt.state, pt.created_at FROM participants pt JOIN campaigns c ON c.id = pt.campaign_id
                 WHERE pt.workspace_id = $1 AND pt.contact_id = $2 AND NOT pt.test
                 ORDER BY pt.id DESC LIMIT 50",
            )
            .bind(ws.0).bind(contact)
            .fetch_all(p).await?
            .iter().map(|r| ContactCampaign {
                kind: "campaign".into(), id: r.int("id"), name: r.text("name"),
                state: r.text("state"), at: r.int("created_at"),
            }).collect();
            v.extend(sqlx::query(
                "SELECT b.id, b.name, m.state, m.created_at FROM messages m JOIN broadcasts b ON b.id = m.source_id
                 WHERE m.workspace_id = $1 AND m.contact_id = $2 AND m.source = 'broadcast'
                 ORDER BY m.id DESC LIMIT 50",
            )
            .bind(ws.0).bind(contact)
            .fetch_all(p).await?
            .iter().map(|r| ContactCampaign {
                kind: "broadcast".into(), id: r.int("id"), name: r.text("name"),
                state: r.text("state"), at: r.int("created_at"),
            }));
            v
        });
        out.sort_by_key(|c| std::cmp::Reverse(c.at));
        Ok(out)
    }
}
