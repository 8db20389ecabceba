//! How each sales rep handles the leads they receive.

use serde::Serialize;

use super::{CONTACTED_STATUSES, DateRange, ratio};
use crate::rows::RowExt;
use crate::{Result, Store, WorkspaceId, on_db};

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct UserRef {
    pub id: i64,
    pub name: String,
    pub email: String,
    pub role: String,
    pub active: bool,
}

/// Time from assignment to the first move out of `new`, over the leads
/// where both are known.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct FirstContact {
    /// Leads the times are taken from.
    pub measured: i64,
    pub median_seconds: Option<f64>,
    pub mean_seconds: Option<f64>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RepRow {
    pub user: UserRef,
    /// Leads assigned to the rep in the range (still theirs), duplicates
    /// left out.
    pub leads: i64,
    pub duplicates: i64,
    pub contacted: i64,
    pub won: i64,
    pub lost: i64,
    /// Still `new`.
    pub untouched: i64,
    pub contacted_rate: Option<f64>,
    pub win_rate: Option<f64>,
    pub first_contact: FirstContact,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RepReport {
    pub from: String,
    pub to: String,
    pub timezone: String,
    pub rows: Vec<RepRow>,
}

impl Store {
    /// Per rep: the leads assigned to them in the range (by `assigned_at`,
    /// workspace time zone), how many they contacted and won, and how fast
    /// they first moved them out of `new`. Every sales user is listed, and
    /// any other user who holds leads of the range.
    pub async fn rep_report(&self, ws: WorkspaceId, range: DateRange) -> Result<RepReport> {
        let workspace = self.workspace(ws).await?;
        let (start, end) = range.bounds(&workspace.timezone)?;
        let (from, to) = range.days();
        // The median is the middle row (or the mean of the two middle
        // rows) of each rep's delays in order: window functions give the
        // same answer on both backends, where PostgreSQL's percentile_cont
        // has no SQLite counterpart.
        let sql = format!(
            "WITH received AS (
                SELECT l.owner_id, l.status, l.duplicate_of, l.assigned_at, l.first_contacted_at
                FROM leads l
                WHERE l.workspace_id = $1 AND l.owner_id IS NOT NULL AND l.assigned_at >= $2 AND l.assigned_at < $3
             ), counts AS (
                SELECT owner_id,
                    SUM(CASE WHEN duplicate_of IS NULL THEN 1 ELSE 0 END) AS leads,
                    SUM(CASE WHEN duplicate_of IS NOT NULL THEN 1 ELSE 0 END) AS duplicates,
                    SUM(CASE WHEN duplicate_of IS NULL AND (first_contacted_at IS NOT NULL OR status IN {CONTACTED_STATUSES}) THEN 1 ELSE 0 END) AS contacted,
                    SUM(CASE WHEN duplicate_of IS NULL AND status = 'won' THEN 1 ELSE 0 END) AS won,
                    SUM(CASE WHEN duplicate_of IS NULL AND status = 'lost' THEN 1 ELSE 0 END) AS lost,
                    SUM(CASE WHEN duplicate_of IS NULL AND status = 'new' THEN 1 ELSE 0 END) AS untouched
                FROM received GROUP BY owner_id
             ), delays AS (
                SELECT owner_id, first_contacted_at - assigned_at AS d,
                    ROW_NUMBER() OVER (PARTITION BY owner_id ORDER BY first_contacted_at - assigned_at) AS rn,
                    COUNT(*) OVER (PARTITION BY owner_id) AS n
                FROM received
                WHERE duplicate_of IS NULL AND first_contacted_at IS NOT NULL AND first_contacted_at >= assigned_at
             ), speed AS (
                SELECT owner_id, MAX(n) AS measured,
                    AVG(CASE WHEN rn IN ((n + 1) / 2, (n + 2) / 2) THEN CAST(d AS DOUBLE PRECISION) END) AS median_ms,
                    AVG(CAST(d AS DOUBLE PRECISION)) AS mean_ms
                FROM delays GROUP BY owner_id
             )
             SELECT u.id, u.name, u.email, u.role, u.active,
                CAST(COALESCE(c.leads, 0) AS BIGINT) AS leads,
                CAST(COALESCE(c.duplicates, 0) AS BIGINT) AS duplicates,
                CAST(COALESCE(c.contacted, 0) AS BIGINT) AS contacted,
                CAST(COALESCE(c.won, 0) AS BIGINT) AS won,
                CAST(COALESCE(c.lost, 0) AS BIGINT) AS lost,
                CAST(COALESCE(c.untouched, 0) AS BIGINT) AS untouched,
                CAST(COALESCE(s.measured, 0) AS BIGINT) AS measured,
                CAST(s.median_ms AS DOUBLE PRECISION) AS median_ms,
                CAST(s.mean_ms AS DOUBLE PRECISION) AS mean_ms
             FROM users u
             LEFT JOIN counts c ON c.owner_id = u.id
             LEFT JOIN speed s ON s.owner_id = u.id
             WHERE u.workspace_id = $1 AND (u.role = 'sales' OR c.owner_id IS NOT NULL)
             ORDER BY u.id"
        );
        let rows = on_db!(self, p => {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(ws.0).bind(start).bind(end)
                .fetch_all(p).await?.iter().map(|r| {
                    let leads = r.int("leads") as f64;
                    RepRow {
                        user: UserRef {
                            id: r.int("id"),
                            name: r.text("name"),
                            email: r.text("email"),
                            role: r.text("role"),
                            active: r.boolean("active"),
                        },
                        leads: r.int("leads"),
                        duplicates: r.int("duplicates"),
                        contacted: r.int("contacted"),
                        won: r.int("won"),
                        lost: r.int("lost"),
                        untouched: r.int("untouched"),
                        contacted_rate: ratio(r.int("contacted") as f64, leads),
                        win_rate: ratio(r.int("won") as f64, leads),
                        first_contact: FirstContact {
                            measured: r.int("measured"),
                            median_seconds: r.opt_float("median_ms").map(|ms| ms / 1000.0),
                            mean_seconds: r.opt_float("mean_ms").map(|ms| ms / 1000.0),
                        },
                    }
                }).collect()
        });
        Ok(RepReport {
            from,
            to,
            timezone: workspace.timezone,
            rows,
        })
    }
}
