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

/// WAL pages at which a writer checkpoints in its commit after all: 64 MB
/// of a new database's pages (16 MB in a database made with 4 KB pages).
/// The checkpointer keeps the WAL far below it.
pub(crate) const WRITER_CHECKPOINT_PAGES: &str = "4096";

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

async fn run(opts: SqliteConnectOptions, alive: Weak<()>) -> sqlx::Result<()> {
    let mut conn = opts.connect().await?;
    let mut last = (0, 0);
    while alive.strong_count() > 0 {
        // (busy, pages in the WAL, pages of it copied back)
        let (_, wal, copied): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(&mut conn)
            .await?;
        let pause = if (wal, copied) != last && wal > 0 {
            BUSY_PAUSE
        } else {
            IDLE_PAUSE
        };
        last = (wal, copied);
        tokio::time::sleep(pause).await;
    }
    Ok(())
}
