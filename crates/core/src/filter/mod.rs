//! The filter language: one way to say "which contacts (or orders, or
//! leads)" for segments, campaign targets, activity conditions and list
//! rules. docs/filters.md is the reference for users and for the SQL
//! compiler, which must give the same answers as [`Filter::matches`].
//!
//! A filter comes in two spellings of one syntax tree ([`Expr`]):
//!
//! - text, for the API and the CLI:
//!   `attr.tier = "gold" and count(order where created_at >= -30d) >= 1`
//! - JSON, for storage and builders:
//!   `{"and": [{"field": "attr.tier", "op": "=", "value": "gold"}, ...]}`
//!
//! A [`Filter`] is syntactically valid once built; [`Filter::validate`]
//! then checks it against a workspace's [`Catalog`] (fields exist and have
//! the right type, lists and segments exist, segments do not loop).

mod ast;
mod display;
mod eval;
mod json;
mod lexer;
mod memory;
mod parser;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
#[cfg(test)]
mod tests;
mod validate;

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::entity::EntityKind;

pub use ast::{
    Aggregate, CmpOp, Comparison, Expr, Literal, Loc, MAX_RELATIVE_MILLIS, Measure, Name, Op, Path,
    Pos, Related, Source, TimeUnit, Window, is_ident,
};
pub use eval::{
    ContactView, DEFAULT_TIMEZONE, EvalContext, RecordView, SegmentFilters, Subject, Value,
    anniversary_matches, anniversary_month_days, today_in_zone, utc_date,
};
pub use memory::{MemoryContact, MemoryEvent, MemoryRecord};
pub use validate::Catalog;

/// A parsed filter. Build one with [`Filter::parse`] (text),
/// [`Filter::from_json`] (the tree) or [`Filter::from_json_or_text`].
///
/// Equality compares the trees and ignores where they came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    expr: Expr,
}

impl Filter {
    /// Parses the text form.
    pub fn parse(text: &str) -> Result<Filter, FilterError> {
        parser::parse(text).map(|expr| Filter { expr })
    }

    /// Reads the JSON form (the syntax tree).
    pub fn from_json(value: &serde_json::Value) -> Result<Filter, FilterError> {
        json::from_json(value).map(|expr| Filter { expr })
    }

    /// Accepts either spelling: a JSON string is parsed as text, anything
    /// else is read as the tree. API bodies use this so a caller can send
    /// `"filter": "has tag \"vip\""` or the object.
    pub fn from_json_or_text(value: &serde_json::Value) -> Result<Filter, FilterError> {
        match value {
            serde_json::Value::String(text) => Filter::parse(text),
            other => Filter::from_json(other),
        }
    }

    /// Wraps a tree built in code. Nothing is checked here: [`validate`]
    /// does that, and rejects what the parsers never produce (empty `and`).
    ///
    /// [`validate`]: Filter::validate
    pub fn from_expr(expr: Expr) -> Filter {
        Filter { expr }
    }

    pub fn expr(&self) -> &Expr {
        &self.expr
    }

    pub fn into_expr(self) -> Expr {
        self.expr
    }

    /// The JSON form.
    pub fn to_json(&self) -> serde_json::Value {
        json::to_json(&self.expr)
    }

    /// Checks the filter against the workspace's types, lists and segments,
    /// for a filter that selects records of type `target`.
    pub fn validate(&self, catalog: &Catalog, target: &EntityKind) -> Result<(), FilterError> {
        validate::validate(&self.expr, catalog, target)
    }

    /// Whether one subject matches, evaluated in memory (the trigger path).
    /// Gives the same answer as the SQL compiler over the same data.
    pub fn matches(&self, subject: &Subject<'_>, ctx: &EvalContext<'_>) -> bool {
        eval::matches(&self.expr, subject, ctx)
    }
}

impl fmt::Display for Filter {
    /// The canonical text form; it parses back to the same tree.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.expr.fmt(f)
    }
}

impl std::str::FromStr for Filter {
    type Err = FilterError;
    fn from_str(s: &str) -> Result<Filter, FilterError> {
        Filter::parse(s)
    }
}

impl Serialize for Filter {
    /// Serialises as the JSON tree.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Filter {
    /// Reads the JSON tree, or a string holding the text form.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Filter, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        Filter::from_json_or_text(&v).map_err(serde::de::Error::custom)
    }
}

/// Why a filter was refused, and where: a position in the text form, or a
/// path (`and[1].value`) in the JSON form.
///
/// Displays as `line 1, column 7: unknown field 'emial'`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FilterError {
    pub pos: Option<Pos>,
    /// The JSON path of the offending node, for the JSON form.
    pub path: Option<String>,
    pub message: String,
}

impl FilterError {
    pub fn at(pos: Pos, message: impl Into<String>) -> FilterError {
        FilterError {
            pos: Some(pos),
            path: None,
            message: message.into(),
        }
    }

    pub fn in_json(path: impl Into<String>, message: impl Into<String>) -> FilterError {
        FilterError {
            pos: None,
            path: Some(path.into()),
            message: message.into(),
        }
    }

    /// An error at a node's location, whichever form it came from.
    pub fn at_loc(loc: &Loc, message: impl Into<String>) -> FilterError {
        let message = message.into();
        match loc {
            Loc::Text(pos) => FilterError::at(*pos, message),
            Loc::Json(path) => FilterError::in_json(path.to_string(), message),
            Loc::None => FilterError {
                pos: None,
                path: None,
                message,
            },
        }
    }
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.pos, &self.path) {
            (Some(p), _) => write!(f, "line {}, column {}: {}", p.line, p.column, self.message),
            (None, Some(path)) => write!(f, "at {path}: {}", self.message),
            (None, None) => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for FilterError {}
