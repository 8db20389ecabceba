//! `swell_fold(text)` for SQLite: the same folding as the rest of Swell
//! (`swell_core::text::fold`), registered on every connection the store
//! opens, so `contains` and `starts_with` compile to plain SQL. PostgreSQL
//! gets its own `swell_fold` from migration 0002.

use std::ffi::{c_char, c_int};

use libsqlite3_sys as ffi;
use sqlx::sqlite::SqliteConnection;
use swell_core::text::fold;

/// Registers the store's SQL functions on a new connection.
pub(crate) async fn register(conn: &mut SqliteConnection) -> sqlx::Result<()> {
    let mut handle = conn.lock_handle().await?;
    let db = handle.as_raw_handle().as_ptr();
    // SAFETY: `db` is a live connection we hold the lock of; the name is a
    // NUL-terminated static string; the function keeps no user data.
    let rc = unsafe {
        ffi::sqlite3_create_function_v2(
            db,
            c"swell_fold".as_ptr(),
            1,
            ffi::SQLITE_UTF8 | ffi::SQLITE_DETERMINISTIC | ffi::SQLITE_INNOCUOUS,
            std::ptr::null_mut(),
            Some(swell_fold),
            None,
            None,
            None,
        )
    };
    if rc == ffi::SQLITE_OK {
        Ok(())
    } else {
        Err(sqlx::Error::Protocol(format!(
            "registering swell_fold failed: SQLite error {rc}"
        )))
    }
}

/// `swell_fold(x)`: NULL for NULL, otherwise the folded text of `x`.
unsafe extern "C" fn swell_fold(
    ctx: *mut ffi::sqlite3_context,
    argc: c_int,
    argv: *mut *mut ffi::sqlite3_value,
) {
    // SAFETY: SQLite passes `argc` valid values; the text pointer is valid
    // for `sqlite3_value_bytes` bytes until the next call on the value, and
    // SQLITE_TRANSIENT makes SQLite copy the result before we free it.
    unsafe {
        if argc != 1 {
            ffi::sqlite3_result_null(ctx);
            return;
        }
        let arg = *argv;
        if ffi::sqlite3_value_type(arg) == ffi::SQLITE_NULL {
            ffi::sqlite3_result_null(ctx);
            return;
        }
        let text = ffi::sqlite3_value_text(arg);
        let len = ffi::sqlite3_value_bytes(arg);
        let bytes = if text.is_null() || len <= 0 {
            &[][..]
        } else {
            std::slice::from_raw_parts(text, len as usize)
        };
        let folded = fold(&String::from_utf8_lossy(bytes));
        ffi::sqlite3_result_text(
            ctx,
            folded.as_ptr().cast::<c_char>(),
            folded.len() as c_int,
            ffi::SQLITE_TRANSIENT(),
        );
    }
}
