//! Lead figures the web app's ads page shows beside each ad.

use std::collections::HashMap;

use crate::{Result, Store, WorkspaceId, on_db};

impl Store {
    /// Each ad's leads (duplicates left out) and how many of them were won:
    /// `ad id -> (leads, won)`.
    pub async fn lead_counts_by_ad(&self, ws: WorkspaceId) -> Result<HashMap<i64, (i64, i64)>> {
        on_db!(self, p => {
            let rows: Vec<(i64, i64, i64)> = sqlx::query_as(
                "SELECT ad_id, COUNT(*), COALESCE(SUM(CASE WHEN status = 'won' THEN 1 ELSE 0 END), 0)
                 FROM leads WHERE workspace_id = $1 AND ad_id IS NOT NULL AND duplicate_of IS NULL
                 GROUP BY ad_id")
                .bind(ws.0).fetch_all(p).await?;
            Ok(rows.into_iter().map(|(ad, leads, won)| (ad, (leads, won))).collect())
        })
    }
}
