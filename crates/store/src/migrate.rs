//! Schema migrations, embedded in the binary: one list per backend with the
//! same file names, applied in order, each in its own transaction.

use crate::{Db, Result, Store};

struct Migration {
    version: i64,
    name: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
    /// The SQLite script copies a table into a new one and drops the old:
    /// it runs with foreign keys off, or the drop would delete (cascade) or
    /// empty (set null) every row that points at the old table's rows.
    sqlite_rebuilds: bool,
}

macro_rules! migration {
    ($version:expr, $file:literal) => {
        Migration {
            version: $version,
            name: $file,
            sqlite: include_str!(concat!("../migrations/sqlite/", $file, ".sql")),
            postgres: include_str!(concat!("../migrations/postgres/", $file, ".sql")),
            sqlite_rebuilds: false,
        }
    };
    ($version:expr, $file:literal, rebuilds) => {
        Migration {
            sqlite_rebuilds: true,
            ..migration!($version, $file)
        }
    };
}

const MIGRATIONS: &[Migration] = &[
    migration!(1, "0001_foundation"),
    migration!(2, "0002_audiences"),
    migration!(3, "0003_consent"),
    migration!(4, "0004_fast_fold"),
    migration!(5, "0005_email"),
    migration!(6, "0006_automation"),
    migration!(7, "0007_sales"),
    migration!(9, "0009_access"),
    migration!(10, "0010_leads"),
    migration!(11, "0011_smtp"),
    migration!(12, "0012_lead_notify"),
    migration!(13, "0013_search_name"),
    migration!(14, "0014_waiting_traces"),
    migration!(15, "0015_queue_statistics"),
    migration!(16, "0016_hot_foreign_keys"),
    migration!(17, "0017_pending_trace_indexes"),
    migration!(18, "0018_trace_leases"),
    migration!(19, "0019_campaign_row_updates"),
    migration!(20, "0020_change_log_json"),
    migration!(21, "0021_tag_rows_unchecked"),
    migration!(22, "0022_message_ids", rebuilds),
];

const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS swell_migrations (
    version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)";

pub(crate) async fn run(store: &Store) -> Result<()> {
    let now = store.now();
    match &store.db {
        Db::Sqlite(pool) => {
            sqlx::query(CREATE_TABLE).execute(pool).await?;
            // One connection for every migration: the foreign keys pragma
            // is the connection's, and has no effect inside a transaction.
            // Detached, so that a failure can never hand the pool a
            // connection left with its foreign keys off.
            let mut conn = pool.acquire().await?.detach();
            for m in MIGRATIONS {
                if m.sqlite_rebuilds {
                    sqlx::query("PRAGMA foreign_keys = OFF")
                        .execute(&mut conn)
                        .await?;
                }
                let mut tx = sqlx::Connection::begin_with(&mut conn, "BEGIN IMMEDIATE").await?;
                let done: Option<i64> =
                    sqlx::query_scalar("SELECT version FROM swell_migrations WHERE version = $1")
                        .bind(m.version)
                        .fetch_optional(&mut *tx)
                        .await?;
                if done.is_none() {
                    tracing::info!(version = m.version, name = m.name, "applying migration");
                    sqlx::raw_sql(m.sqlite).execute(&mut *tx).await?;
                    sqlx::query("INSERT INTO swell_migrations (version, name, applied_at) VALUES ($1, $2, $3)")
                        .bind(m.version)
                        .bind(m.name)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                if m.sqlite_rebuilds {
                    sqlx::query("PRAGMA foreign_keys = ON")
                        .execute(&mut conn)
                        .await?;
                }
            }
        }
        Db::Postgres(pool) => {
            let mut tx = pool.begin().await?;
            // Two processes starting at once must not both migrate.
            sqlx::query("SELECT pg_advisory_xact_lock(7349001)")
                .execute(&mut *tx)
                .await?;
            sqlx::query(CREATE_TABLE).execute(&mut *tx).await?;
            for m in MIGRATIONS {
                let done: Option<i64> =
                    sqlx::query_scalar("SELECT version FROM swell_migrations WHERE version = $1")
                        .bind(m.version)
                        .fetch_optional(&mut *tx)
                        .await?;
                if done.is_none() {
                    tracing::info!(version = m.version, name = m.name, "applying migration");
                    sqlx::raw_sql(m.postgres).execute(&mut *tx).await?;
                    sqlx::query("INSERT INTO swell_migrations (version, name, applied_at) VALUES ($1, $2, $3)")
                        .bind(m.version)
                        .bind(m.name)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                }
            }
            tx.commit().await?;
        }
    }
    Ok(())
}
