//! Baselines for `swell bench`: the backend's raw speed on the same machine
//! in the same run, so Swell's own figures can be read as ratios.

use std::io::Read;

use sqlx::AssertSqlSafe;

use crate::contacts::rows_placeholders;
use crate::{Result, Store, on_db};

/// Inserts a CSV's rows unvalidated into a bare table of text columns,
/// 10,000 rows per transaction in statements of 500 rows: what the backend
/// can do with no parsing, lookups, change log or indexes beyond the key.
pub async fn raw_insert(store: &Store, reader: impl Read) -> Result<u64> {
    let mut csv = csv::Reader::from_reader(std::io::BufReader::with_capacity(1 << 20, reader));
    let width = csv.headers().map(|h| h.len()).unwrap_or(0).max(1);
    let cols: Vec<String> = (0..width).map(|i| format!("c{i} TEXT")).collect();
    let create = format!(
        "CREATE TABLE IF NOT EXISTS bench_raw (id BIGINT PRIMARY KEY, {})",
        cols.join(", ")
    );
    on_db!(store, p => { sqlx::raw_sql(AssertSqlSafe(create.clone())).execute(p).await?; });
    let names: Vec<String> = (0..width).map(|i| format!("c{i}")).collect();
    let mut rows: Vec<csv::StringRecord> = Vec::with_capacity(10_000);
    let mut n = 0u64;
    let mut records = csv.records();
    loop {
        rows.clear();
        for r in records.by_ref().take(10_000) {
            rows.push(r.map_err(|e| crate::StoreError::Conflict(e.to_string()))?);
        }
        if rows.is_empty() {
            break;
        }
        on_db!(store, p => {
            let mut tx = p.begin().await?;
            for chunk in rows.chunks(500) {
                let sql = format!("INSERT INTO bench_raw (id, {}) VALUES {}", names.join(", "), rows_placeholders(store.backend(), chunk.len(), width + 1));
                let mut q = sqlx::query(AssertSqlSafe(sql));
                for r in chunk {
                    n += 1;
                    q = q.bind(n as i64);
                    for i in 0..width {
                        q = q.bind(r.get(i).unwrap_or("").to_string());
                    }
                }
                q.execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
    }
    Ok(n)
}

/// Makes `n` contacts with distinct addresses and Vietnamese names inside
/// the database (SQLite), a million rows in a few seconds, for the send
/// benchmark.
pub async fn generate_contacts(store: &Store, ws: crate::WorkspaceId, n: u64) -> Result<()> {
    let now = store.now();
    let ws = ws.get();
    let end = swell_core::contact::SEARCH_NAME_END;
    let sql = format!(
        "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {n})
         INSERT INTO contacts (workspace_id, email, name, given_name, family_name, timezone, tags, attrs, search, created_at, updated_at)
         SELECT {ws}, 'person' || i || '@example.com',
                CASE i % 4 WHEN 0 THEN 'Nguyễn Văn An' WHEN 1 THEN 'Trần Thị Lan' WHEN 2 THEN 'Lê Minh Đức' ELSE 'Phạm Thu Hà' END,
                CASE i % 4 WHEN 0 THEN 'An' WHEN 1 THEN 'Lan' WHEN 2 THEN 'Đức' ELSE 'Hà' END,
                CASE i % 4 WHEN 0 THEN 'Nguyễn' WHEN 1 THEN 'Trần' WHEN 2 THEN 'Lê' ELSE 'Phạm' END,
                'Asia/Ho_Chi_Minh', '[]', '{{}}',
                CASE i % 4 WHEN 0 THEN 'nguyen van an' WHEN 1 THEN 'tran thi lan' WHEN 2 THEN 'le minh duc' ELSE 'pham thu ha' END
                    || '{end}' || 'person' || i || '@example.com ',
                {now}, {now}
         FROM s"
    );
    on_db!(store, p => { sqlx::raw_sql(AssertSqlSafe(sql)).execute(p).await?; });
    // As an import of this size would.
    store.analyze_contacts().await
}
