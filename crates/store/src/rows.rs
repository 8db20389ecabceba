//! Reading columns the same way from either backend's rows.
//!
//! The two backends store JSON differently (TEXT on SQLite, JSONB on
//! PostgreSQL) and booleans as different types; this trait hides that, so
//! the code that turns rows into domain values is written once.

use serde_json::Value;
use sqlx::Row;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;

pub(crate) trait RowExt {
    fn int(&self, col: &str) -> i64;
    fn opt_int(&self, col: &str) -> Option<i64>;
    fn opt_float(&self, col: &str) -> Option<f64>;
    fn text(&self, col: &str) -> String;
    fn opt_text(&self, col: &str) -> Option<String>;
    fn json(&self, col: &str) -> Value;
    fn boolean(&self, col: &str) -> bool;
    /// JSON kept in a TEXT column on both backends.
    fn json_text(&self, col: &str) -> Value {
        self.opt_text(col)
            .and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or(Value::Null)
    }
}

macro_rules! impl_row_ext {
    ($row:ty, |$r:ident, $c:ident| $json:expr) => {
        impl RowExt for $row {
            fn int(&self, col: &str) -> i64 {
                self.get(col)
            }
            fn opt_int(&self, col: &str) -> Option<i64> {
                self.get(col)
            }
            fn opt_float(&self, col: &str) -> Option<f64> {
                self.get(col)
            }
            fn text(&self, col: &str) -> String {
                self.get(col)
            }
            fn opt_text(&self, col: &str) -> Option<String> {
                self.get(col)
            }
            fn boolean(&self, col: &str) -> bool {
                self.get(col)
            }
            fn json(&self, col: &str) -> Value {
                let ($r, $c) = (self, col);
                $json
            }
        }
    };
}

impl_row_ext!(SqliteRow, |r, c| {
    let s: Option<String> = r.get(c);
    s.and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or(Value::Null)
});

impl_row_ext!(PgRow, |r, c| {
    let v: Option<sqlx::types::Json<Value>> = r.get(c);
    v.map(|j| j.0).unwrap_or(Value::Null)
});
