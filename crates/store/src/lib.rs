//! Swell's storage: one [`Store`] facing the rest of the code, backed by
//! SQLite (embedded, one file) or PostgreSQL (scale-out).
//!
//! Both backends run the same SQL wherever the dialects agree (`$1`
//! placeholders, `RETURNING`, `ON CONFLICT`), so most methods are written
//! once and expanded for each pool by [`on_db!`]; where they differ the
//! method says why. The shared test suite runs against both.

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use swell_core::time::{Clock, SystemClock};

pub mod access;
pub mod audience;
pub mod automation;
pub mod bench;
mod bulk;
mod checkpoint;
pub mod consent;
pub mod contacts;
pub mod events;
pub mod import;
pub mod lists;
pub mod mailing;
pub mod marketing;
mod overview;
pub use overview::{ContactCampaign, ContactList, DayFigures};
pub mod ads;
pub mod leads;
mod migrate;
pub mod records;
pub mod reports;
pub(crate) mod rows;
pub mod schema;
pub mod segments;
pub mod smtp;
mod sqlite_direct;
pub mod templates;
pub mod users;
pub mod workspaces;

pub use workspaces::{ApiKey, KeyAccess, Workspace, WorkspaceId};

/// Errors of the store, in terms its callers can act on.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// The input breaks a rule of the data (a unique key, a reference).
    #[error("{0}")]
    Conflict(String),
    /// The input is invalid, field by field.
    #[error("invalid input")]
    Invalid(Vec<swell_core::FieldError>),
    #[error(transparent)]
    Backend(#[from] sqlx::Error),
}

/// Whether the database refused a write for a unique key.
pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.is_unique_violation())
}

/// Whether the database refused a write for a reference.
pub(crate) fn is_foreign_key_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.is_foreign_key_violation())
}

/// A write's required name: the one given (trimmed; empty is refused),
/// else the stored one on an update; neither is "is required".
pub(crate) fn name_to_write(given: Option<&str>, stored: Option<&str>) -> Result<String> {
    let invalid = |r: &str| StoreError::Invalid(vec![swell_core::FieldError::new("name", r)]);
    match (given.map(str::trim), stored) {
        (Some(""), _) => Err(invalid("is empty")),
        (Some(n), _) => Ok(n.to_string()),
        (None, Some(s)) => Ok(s.to_string()),
        (None, None) => Err(invalid("is required")),
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Which database a store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone)]
pub(crate) enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// The store. Cheap to clone; every clone shares the pool.
#[derive(Clone)]
pub struct Store {
    pub(crate) db: Db,
    pub(crate) clock: Arc<dyn Clock>,
    /// SQLite has one writer at a time. Busy writers otherwise wait on
    /// SQLite's busy handler, which sleeps and retries: under concurrent
    /// lead intake that put p99 at hundreds of milliseconds while the
    /// median was 2 ms. Writers that hot queue here instead, in order:
    /// lead intake and the engine's queue (claims, outcomes, message rows
    /// and the outbox), whose lanes take turns at the writer all the time.
    /// The others wait in the busy handler, which retries within a
    /// millisecond (see [`sqlite_direct::retry_busy_quickly`]).
    pub(crate) write_gate: Arc<tokio::sync::Mutex<()>>,
    /// Leads waiting for the next intake transaction.
    pub(crate) intakes: Arc<leads::IntakeQueue>,
    /// SQLite's background checkpoints, while any clone lives.
    _checkpointer: Option<checkpoint::Checkpointer>,
    /// Told after each committed write to the change log (see
    /// [`Store::changed`]). Other processes hear of such writes from
    /// PostgreSQL (a trigger on the log notifies `swell_wake`).
    changes: Arc<tokio::sync::Notify>,
}

/// Runs the same block against whichever pool the store has. The block is
/// type-checked once per backend, so SQL that binds a type one backend
/// cannot encode fails to compile rather than at run time.
#[macro_export]
#[doc(hidden)]
macro_rules! on_db {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.db {
            $crate::Db::Sqlite($pool) => $body,
            $crate::Db::Postgres($pool) => $body,
        }
    };
}

/// Begins a write transaction. On SQLite it is `BEGIN IMMEDIATE`: the write
/// lock is taken at the start, so two writers queue on the busy timeout
/// instead of one failing when it upgrades a read lock mid-transaction.
pub(crate) trait BeginWrite {
    type Db: sqlx::Database;
    fn begin_write(
        &self,
    ) -> impl Future<Output = sqlx::Result<sqlx::Transaction<'static, Self::Db>>> + Send;
}

impl BeginWrite for SqlitePool {
    type Db = sqlx::Sqlite;
    fn begin_write(
        &self,
    ) -> impl Future<Output = sqlx::Result<sqlx::Transaction<'static, sqlx::Sqlite>>> + Send {
        self.begin_with("BEGIN IMMEDIATE")
    }
}

impl BeginWrite for PgPool {
    type Db = sqlx::Postgres;
    fn begin_write(
        &self,
    ) -> impl Future<Output = sqlx::Result<sqlx::Transaction<'static, sqlx::Postgres>>> + Send {
        self.begin()
    }
}

impl Store {
    /// Opens a store from a SQLite path (created if missing) or a
    /// `postgres://` URL, and brings its schema up to date.
    pub async fn open(db: &str) -> Result<Store> {
        let store = Store::connect(db).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Opens a store without migrating.
    pub async fn connect(db: &str) -> Result<Store> {
        let mut checkpointer = None;
        let db = if db.starts_with("postgres://") || db.starts_with("postgresql://") {
            let mut opts: PgConnectOptions = db.parse()?;
            // sqlx does not set TCP_NODELAY, so over TLS each 16 KB record
            // after the first waits for the server's delayed ACK (~40 ms a
            // statement: an import ran at 700 rows/s). On loopback TLS buys
            // nothing, so it is off unless the URL asks for it; remote
            // servers keep the URL's `sslmode`.
            let loopback = matches!(opts.get_host(), "localhost" | "127.0.0.1" | "::1")
                || opts.get_host().starts_with('/');
            if loopback && !db.contains("sslmode=") {
                opts = opts.ssl_mode(sqlx::postgres::PgSslMode::Disable);
            }
            // Statements are prepared once per connection and PostgreSQL
            // may then reuse a generic plan made while a table was empty: a
            // key lookup planned as a sequential scan stayed one for the
            // rest of an import, 100 ms a batch and growing. Custom plans
            // cost a fraction of a millisecond and follow the table's size.
            opts = opts.options([("plan_cache_mode", "force_custom_plan")]);
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(30))
                .connect_with(opts)
                .await?;
            Db::Postgres(pool)
        } else {
            let path = db.strip_prefix("sqlite://").unwrap_or(db);
            sqlite_direct::configure_library();
            let opts = SqliteConnectOptions::new()
                // New databases only (a database keeps the page size it was
                // made with): 16 KB pages split and rebalance a quarter as
                // often as 4 KB ones as an import fills the contacts'
                // indexes, and each WAL frame carries four times the data.
                .page_size(16384)
                .filename(path)
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                // WAL + NORMAL: durable across a process crash, and a power
                // loss can only lose the last commits, never corrupt.
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(sqlite_direct::BUSY_TIMEOUT)
                // 32 MB of page cache per connection, 256 MB for the pool
                // at most: a million-recipient send stays under 300 MB.
                .pragma("cache_size", "-32768")
                .pragma("temp_store", "memory")
                .pragma("wal_autocheckpoint", checkpoint::WRITER_CHECKPOINT_PAGES)
                // Rows come from the connection's thread through a bounded
                // channel: at sqlx's 50 the thread stops every 50 rows
                // until the reader catches up, two thread hand-offs each
                // time. The engine and the sender read a thousand at once.
                .row_buffer_size(1024);
            let pool = SqlitePoolOptions::new()
                // `swell_fold`, which audience SQL calls, and the quick
                // busy handler, on every connection.
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        audience::sqlite_fn::register(conn).await?;
                        sqlite_direct::retry_busy_quickly(conn).await
                    })
                })
                .max_connections(8)
                .acquire_timeout(Duration::from_secs(60))
                .connect_with(opts.clone())
                .await?;
            // After the pool, which made the file and put it in WAL mode.
            checkpointer = Some(checkpoint::Checkpointer::start(&opts));
            Db::Sqlite(pool)
        };
        Ok(Store {
            db,
            clock: Arc::new(SystemClock),
            write_gate: Arc::default(),
            intakes: Arc::default(),
            _checkpointer: checkpointer,
            changes: Arc::default(),
        })
    }

    /// After a write to the change log has committed: wakes whoever waits
    /// in [`Store::changed`] (the engine, whose triggers watch the log).
    pub(crate) fn records_changed(&self) {
        self.changes.notify_one();
    }

    /// Returns once records have changed since the last call returned (a
    /// change before the call counts): the engine's wake-up for campaigns
    /// that records' changes trigger.
    pub async fn changed(&self) {
        self.changes.notified().await;
    }

    /// On SQLite, a turn at the one writer (see `write_gate`); nothing on
    /// PostgreSQL, where writers do not block each other.
    pub(crate) async fn sqlite_write_turn(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        match self.db {
            Db::Sqlite(_) => Some(self.write_gate.lock().await),
            Db::Postgres(_) => None,
        }
    }

    /// Replaces the clock (tests and benchmarks control time).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Store {
        self.clock = clock;
        self
    }

    pub fn backend(&self) -> Backend {
        match self.db {
            Db::Sqlite(_) => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    pub fn now(&self) -> i64 {
        self.clock.now_millis()
    }

    /// Applies the migrations this backend has not seen yet.
    pub async fn migrate(&self) -> Result<()> {
        migrate::run(self).await
    }

    /// Closes the pool, waiting for connections to be returned.
    pub async fn close(&self) {
        on_db!(self, p => p.close().await)
    }
}

/// Notifications from other processes that there is work now (PostgreSQL's
/// LISTEN on `swell_wake`).
pub struct WakeListener(sqlx::postgres::PgListener);

impl WakeListener {
    /// Waits for the next notification.
    pub async fn recv(&mut self) -> Result<()> {
        self.0.recv().await?;
        Ok(())
    }
}

impl Store {
    /// A listener for other processes' wake-ups; None on SQLite, where one
    /// process owns the database and wakes itself.
    pub async fn wake_listener(&self) -> Result<Option<WakeListener>> {
        match &self.db {
            Db::Postgres(pool) => {
                // Its own connection, outside the store's pool: a listener
                // holds its connection for good, and closing the store must
                // not wait for it.
                let own = PgPoolOptions::new()
                    .max_connections(1)
                    .connect_with((*pool.connect_options()).clone())
                    .await?;
                let mut l = sqlx::postgres::PgListener::connect_with(&own).await?;
                l.listen("swell_wake").await?;
                Ok(Some(WakeListener(l)))
            }
            Db::Sqlite(_) => Ok(None),
        }
    }
}
