//! Rows written through SQLite's own API, on the handle of a connection
//! the store holds (in its open transaction).
//!
//! sqlx runs each statement on the connection's worker thread: the values
//! are copied into owned arguments, handed over, copied again into the
//! statement, and freed on the other thread: for a batch of thousands of
//! contacts, thousands of copies and frees a column. Here a batch binds
//! borrowed text (`SQLITE_STATIC`) to one prepared statement per shape and
//! steps it a row at a time, on the calling thread.
//!
//! Also here: how the library is set up before the first connection, and
//! the busy handler every connection gets.

use std::ffi::{c_int, c_void};
use std::marker::PhantomData;
use std::ptr::NonNull;

use libsqlite3_sys as ffi;
use sqlx::sqlite::{LockedSqliteHandle, SqliteConnection};

/// A connection's handle, locked out of its worker thread for direct calls.
pub(crate) struct Direct<'c> {
    handle: LockedSqliteHandle<'c>,
}

impl<'c> Direct<'c> {
    pub(crate) async fn lock(conn: &'c mut SqliteConnection) -> sqlx::Result<Direct<'c>> {
        Ok(Direct {
            handle: conn.lock_handle().await?,
        })
    }

    /// Runs `f`, which makes blocking SQLite calls for `rows` rows. For
    /// many rows the runtime is first told to move its other tasks off this
    /// thread (when it has other threads to run them on); a few rows take
    /// less time than that hand-over.
    pub(crate) fn blocking<R>(&mut self, rows: usize, f: impl FnOnce(&mut Self) -> R) -> R {
        use tokio::runtime::{Handle, RuntimeFlavor};
        const MANY_ROWS: usize = 256;
        let multi =
            Handle::try_current().is_ok_and(|h| h.runtime_flavor() == RuntimeFlavor::MultiThread);
        if multi && rows >= MANY_ROWS {
            tokio::task::block_in_place(|| f(self))
        } else {
            f(self)
        }
    }

    /// Prepares one statement.
    pub(crate) fn prepare(&mut self, sql: &str) -> sqlx::Result<Statement<'_, 'c>> {
        let db = self.handle.as_raw_handle().as_ptr();
        let mut stmt = std::ptr::null_mut();
        // SAFETY: `db` is live and locked by us; `sql` is valid for its
        // length, which is passed explicitly (no NUL needed).
        let rc = unsafe {
            ffi::sqlite3_prepare_v3(
                db,
                sql.as_ptr().cast(),
                c_int::try_from(sql.len()).expect("statement under 2 GB"),
                0,
                &mut stmt,
                std::ptr::null_mut(),
            )
        };
        if rc != ffi::SQLITE_OK {
            return Err(self.error());
        }
        let stmt = NonNull::new(stmt).ok_or_else(|| {
            sqlx::Error::Protocol(format!("SQLite prepared no statement from {sql:?}"))
        })?;
        Ok(Statement { stmt, direct: self })
    }

    fn error(&mut self) -> sqlx::Error {
        match self.handle.last_error() {
            Some(e) => sqlx::Error::Database(Box::new(e)),
            None => sqlx::Error::Protocol("SQLite failed without an error".into()),
        }
    }
}

/// A prepared statement. Text is bound without copying, so each row's
/// values are bound and stepped in one call ([`Statement::row`]).
pub(crate) struct Statement<'d, 'c> {
    stmt: NonNull<ffi::sqlite3_stmt>,
    direct: &'d mut Direct<'c>,
}

/// The values of one row, bound by 1-based position.
pub(crate) struct Row<'s, 'v> {
    stmt: *mut ffi::sqlite3_stmt,
    failed: Option<c_int>,
    _values: PhantomData<(&'s (), &'v str)>,
}

impl<'v> Row<'_, 'v> {
    pub(crate) fn int(&mut self, i: c_int, v: i64) -> &mut Self {
        // SAFETY: the statement is live for the row's lifetime.
        let rc = unsafe { ffi::sqlite3_bind_int64(self.stmt, i, v) };
        self.check(rc)
    }

    pub(crate) fn bool(&mut self, i: c_int, v: bool) -> &mut Self {
        self.int(i, i64::from(v))
    }

    /// Binds text, or NULL for `None`. The text is not copied: it lives as
    /// long as `'v`, past the step that reads it.
    pub(crate) fn text(&mut self, i: c_int, v: Option<&'v str>) -> &mut Self {
        // SAFETY: the statement is live; the text outlives the step that
        // reads it (`'v` outlives the `row` call that steps), and SQLite
        // reads exactly `len` bytes of it.
        let rc = unsafe {
            match v {
                Some(s) => ffi::sqlite3_bind_text64(
                    self.stmt,
                    i,
                    s.as_ptr().cast(),
                    s.len() as u64,
                    ffi::SQLITE_STATIC(),
                    ffi::SQLITE_UTF8 as u8,
                ),
                None => ffi::sqlite3_bind_null(self.stmt, i),
            }
        };
        self.check(rc)
    }

    fn check(&mut self, rc: c_int) -> &mut Self {
        if rc != ffi::SQLITE_OK && self.failed.is_none() {
            self.failed = Some(rc);
        }
        self
    }
}

impl Statement<'_, '_> {
    /// Binds one row's values with `bind` and runs the statement once.
    pub(crate) fn row<'v>(&mut self, bind: impl FnOnce(&mut Row<'_, 'v>)) -> sqlx::Result<()> {
        let stmt = self.stmt.as_ptr();
        let mut row = Row {
            stmt,
            failed: None,
            _values: PhantomData,
        };
        bind(&mut row);
        if let Some(rc) = row.failed {
            return Err(sqlx::Error::Protocol(format!(
                "binding a value failed: SQLite error {rc}"
            )));
        }
        // SAFETY: the statement is live and every value bound to it
        // outlives this step; reset readies it for the next row.
        let (step, reset) = unsafe {
            let step = ffi::sqlite3_step(stmt);
            (step, ffi::sqlite3_reset(stmt))
        };
        if step == ffi::SQLITE_DONE || step == ffi::SQLITE_ROW {
            Ok(())
        } else {
            debug_assert_ne!(reset, ffi::SQLITE_OK);
            Err(self.direct.error())
        }
    }
}

impl Drop for Statement<'_, '_> {
    fn drop(&mut self) {
        // SAFETY: the statement is ours and finalised once; the text last
        // bound to it is never read again.
        unsafe {
            ffi::sqlite3_finalize(self.stmt.as_ptr());
        }
    }
}

/// How long a connection waits for another's write lock before it fails
/// with "database is locked".
pub(crate) const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Makes a connection that finds the database locked by another writer
/// retry within a millisecond, instead of SQLite's own schedule, which
/// sleeps 1, 2, 5, 10, ... up to 100 ms between tries: a writer freed the
/// lock after a few milliseconds and the next waited ten or twenty more,
/// with the machine idle.
pub(crate) async fn retry_busy_quickly(conn: &mut SqliteConnection) -> sqlx::Result<()> {
    let mut handle = conn.lock_handle().await?;
    let db = handle.as_raw_handle().as_ptr();
    // SAFETY: `db` is a live connection we hold the lock of; the handler
    // keeps no user data.
    let rc = unsafe { ffi::sqlite3_busy_handler(db, Some(busy_retry), std::ptr::null_mut()) };
    if rc == ffi::SQLITE_OK {
        Ok(())
    } else {
        Err(sqlx::Error::Protocol(format!(
            "setting the busy handler failed: SQLite error {rc}"
        )))
    }
}

/// SQLite's busy handler: called on the connection's own thread with how
/// many times it was called for this lock; sleeps and answers 1 to try
/// again, 0 to give up. 50, 100, 200 and 400 us, then a millisecond a time
/// until [`BUSY_TIMEOUT`].
extern "C" fn busy_retry(_: *mut std::ffi::c_void, tries: c_int) -> c_int {
    const SHORT: c_int = 4;
    let long_tries = BUSY_TIMEOUT.as_millis() as c_int;
    if tries >= SHORT + long_tries {
        return 0;
    }
    let micros = if tries < SHORT { 50 << tries } else { 1000 };
    std::thread::sleep(std::time::Duration::from_micros(micros));
    1
}

/// Sets SQLite up, once per process and before its first connection:
///
/// - **Memory statistics off.** With them on, every allocation SQLite makes
///   takes and releases a global mutex to count it.
/// - **Allocations from mimalloc**, the allocator the rest of Swell uses,
///   instead of the C library's. SQLite allocates and frees for every
///   statement it prepares and every row it builds; in the engine's drain
///   the C library's allocator took 8% of the process's time.
///
/// When SQLite is already initialised (another library in the process
/// opened a connection first), the calls only return `SQLITE_MISUSE`,
/// which changes nothing.
pub(crate) fn configure_library() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let methods = ffi::sqlite3_mem_methods {
            xMalloc: Some(mem_malloc),
            xFree: Some(mem_free),
            xRealloc: Some(mem_realloc),
            xSize: Some(mem_size),
            xRoundup: Some(mem_roundup),
            xInit: Some(mem_init),
            xShutdown: Some(mem_shutdown),
            pAppData: std::ptr::null_mut(),
        };
        // SAFETY: called before this process opens any SQLite connection
        // (the store opens them all, after this). SQLite copies `methods`.
        unsafe {
            ffi::sqlite3_config(ffi::SQLITE_CONFIG_MEMSTATUS, 0 as c_int);
            ffi::sqlite3_config(
                ffi::SQLITE_CONFIG_MALLOC,
                &methods as *const ffi::sqlite3_mem_methods,
            );
        }
    });
}

// SQLite's memory methods on mimalloc. SQLite never asks for a negative
// size, needs 8-byte alignment (mimalloc gives at least that) and frees
// only what these gave it.
unsafe extern "C" fn mem_malloc(n: c_int) -> *mut c_void {
    // SAFETY: any size may be asked of mimalloc.
    unsafe { libmimalloc_sys::mi_malloc(n as usize) }
}

unsafe extern "C" fn mem_free(p: *mut c_void) {
    // SAFETY: `p` came from `mem_malloc` or `mem_realloc`.
    unsafe { libmimalloc_sys::mi_free(p) }
}

unsafe extern "C" fn mem_realloc(p: *mut c_void, n: c_int) -> *mut c_void {
    // SAFETY: as for `mem_free`.
    unsafe { libmimalloc_sys::mi_realloc(p, n as usize) }
}

unsafe extern "C" fn mem_size(p: *mut c_void) -> c_int {
    // SAFETY: as for `mem_free`.
    let size = unsafe { libmimalloc_sys::mi_usable_size(p) };
    c_int::try_from(size).unwrap_or(c_int::MAX)
}

unsafe extern "C" fn mem_roundup(n: c_int) -> c_int {
    // SAFETY: a pure function of the size.
    let size = unsafe { libmimalloc_sys::mi_good_size(n as usize) };
    // Near 2 GB the rounded size no longer fits: SQLite gets what it asked.
    c_int::try_from(size).unwrap_or(n)
}

unsafe extern "C" fn mem_init(_: *mut c_void) -> c_int {
    ffi::SQLITE_OK
}

unsafe extern "C" fn mem_shutdown(_: *mut c_void) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_allocates_from_mimalloc() {
        configure_library();
        // SAFETY: a plain allocation and its free, through SQLite's API;
        // the pointer is only compared against mimalloc's regions.
        unsafe {
            let p = ffi::sqlite3_malloc(100);
            assert!(!p.is_null());
            assert!(
                libmimalloc_sys::mi_is_in_heap_region(p),
                "SQLite's allocation did not come from mimalloc"
            );
            ffi::sqlite3_free(p);
        }
    }
}
