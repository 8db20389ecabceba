//! SQLite's WAL checkpoints, moved off the writers.
//!
//! By default the connection whose commit grows the WAL past a threshold
//! copies the WAL back into the database file and syncs it, inside that
//! commit, while every other writer waits; an import's writes are one long
//! run of such commits. Here a connection of its own runs passive
//! checkpoints beside the writers (a passive checkpoint takes no lock a
//! writer needs), and the writers' own threshold is raised to a backstop
//! that only a checkpointer falling behind reaches.

use std::sync::{Arc, Weak};
use std::time::Duration;

use sqlx::ConnectOptions;
use sqlx::sqlite::SqliteConnectOptions;

/// WAL pages at which a writer checkpoints in its commit after all: 256 MB
/// of a new database's pages (64 MB in a database made with 4 KB pages).
///
/// Under a steady run of writes (an import) the checkpointer copies the
/// WAL back but rarely catches its very end between two commits, and only
/// then may the next writer start the WAL over; so the WAL grows until
/// this threshold, where a writer checkpoints and restarts it. The higher
/// it is, the rarer those in-commit checkpoints: at 64 MB an import of a
/// million contacts reached it many times over. The file is cut back once
/// the writes stop (see [`run`]).
pub(crate) const WRITER_CHECKPOINT_PAGES: &str = "16384";

/// Pause between checkpoints while the WAL grows, and while it does not.
const BUSY_PAUSE: Duration = Duration::from_millis(20);
const IDLE_PAUSE: Duration = Duration::from_millis(500);

/// Keeps the checkpointer running: it stops once every clone of the store
/// holding this is dropped.
#[derive(Clone)]
pub(crate) struct Checkpointer(#[allow(dead_code)] Arc<()>);

impl Checkpointer {
    /// Starts checkpointing the database of `opts` on a connection of its
    /// own.
    pub(crate) fn start(opts: &SqliteConnectOptions) -> Checkpointer {
        let alive = Arc::new(());
        let opts = opts.clone();
        let watch = Arc::downgrade(&alive);
        tokio::spawn(async move {
            if let Err(e) = run(opts, watch).await {
                tracing::warn!(error = %e, "the SQLite checkpointer stopped; writers checkpoint themselves");
            }
        });
        Checkpointer(alive)
    }
}

/// Checkpoints passively while the WAL grows. Once it has stopped growing
/// and is wholly copied back, a truncating checkpoint empties the file
/// (the WAL file otherwise keeps the size it grew to). That one does not
/// wait: with its busy timeout at zero it gives up at once when a reader
/// or a writer is about, and is tried again at the next idle pause.
async fn run(opts: SqliteConnectOptions, alive: Weak<()>) -> sqlx::Result<()> {
    let opts = opts.busy_timeout(Duration::ZERO);
    // Opening can find the database busy too (its set-up reads and writes
    // while the store migrates): tried again, as a busy checkpoint is.
    let mut conn = loop {
        match opts.connect().await {
            Ok(conn) => break conn,
            Err(e) if is_busy(&e) => {
                tokio::time::sleep(IDLE_PAUSE).await;
                if alive.strong_count() == 0 {
                    return Ok(());
                }
            }
            Err(e) => return Err(e),
        }
    };
    let mut last = (0, 0);
    while alive.strong_count() > 0 {
        let pause = match checkpoint(&mut conn, &mut last).await {
            Ok(pause) => pause,
            Err(e) if is_busy(&e) => IDLE_PAUSE,
            Err(e) => return Err(e),
        };
        tokio::time::sleep(pause).await;
    }
    Ok(())
}

/// One round: a passive checkpoint, then a truncating one once the WAL has
/// stopped growing and is wholly copied back. `last` is the WAL's (pages,
/// pages copied back) of the round before. Answers the pause before the
/// next round.
async fn checkpoint(
    conn: &mut sqlx::SqliteConnection,
    last: &mut (i64, i64),
) -> sqlx::Result<Duration> {
    // (busy, pages in the WAL, pages of it copied back)
    let (_, wal, copied): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
        .fetch_one(&mut *conn)
        .await?;
    let growing = (wal, copied) != *last && wal > 0;
    *last = (wal, copied);
    if !growing && wal > 0 && wal == copied {
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&mut *conn)
            .await?;
    }
    Ok(if growing { BUSY_PAUSE } else { IDLE_PAUSE })
}

/// Whether a checkpoint found the database busy and may simply be tried
/// again later. A busy checkpoint mostly answers with its `busy` column
/// set, but the extended codes of busy (`SQLITE_BUSY_RECOVERY`, while
/// another connection rebuilds the WAL index) come back as errors: one of
/// them stopped the checkpointer for good, and the writers went back to
/// checkpointing in their commits.
fn is_busy(e: &sqlx::Error) -> bool {
    const SQLITE_BUSY: i32 = 5;
    match e {
        sqlx::Error::Database(e) => e
            .code()
            .and_then(|code| code.parse::<i32>().ok())
            .is_some_and(|code| code & 0xff == SQLITE_BUSY),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn busy_answers_with_extended_codes_are_told_from_other_errors() {
        // As the store does before its first connection (SQLite takes its
        // set-up only before it starts).
        crate::sqlite_direct::configure_library();
        let dir = tempfile::tempdir().unwrap();
        let opts = SqliteConnectOptions::new()
            .filename(dir.path().join("busy.db"))
            .create_if_missing(true)
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal);
        let mut holder = opts.clone().connect().await.unwrap();
        let mut other = opts.busy_timeout(Duration::ZERO).connect().await.unwrap();
        exec(&mut holder, "CREATE TABLE t (x INTEGER)")
            .await
            .unwrap();
        exec(&mut holder, "BEGIN IMMEDIATE").await.unwrap();
        let busy = exec(&mut other, "BEGIN IMMEDIATE").await.unwrap_err();
        assert!(is_busy(&busy), "{busy}");
        // An extended code of busy: a read transaction that would write
        // after another connection committed (SQLITE_BUSY_SNAPSHOT).
        exec(&mut holder, "COMMIT").await.unwrap();
        exec(&mut other, "BEGIN").await.unwrap();
        exec(&mut other, "SELECT count(*) FROM t").await.unwrap();
        exec(&mut holder, "INSERT INTO t VALUES (1)").await.unwrap();
        let snapshot = exec(&mut other, "INSERT INTO t VALUES (2)")
            .await
            .unwrap_err();
        let code = snapshot.as_database_error().and_then(|e| e.code());
        assert_eq!(code.as_deref(), Some("517"), "{snapshot}");
        assert!(is_busy(&snapshot), "{snapshot}");
        let wrong = exec(&mut other, "PRAGMA wal_checkpoint(SIDEWAYS")
            .await
            .unwrap_err();
        assert!(!is_busy(&wrong), "{wrong}");
    }

    async fn exec(conn: &mut sqlx::SqliteConnection, sql: &'static str) -> sqlx::Result<()> {
        sqlx::query(sql).execute(conn).await.map(drop)
    }
}
