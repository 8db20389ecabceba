//! The syntax tree of a filter. The JSON form is this tree written out
//! (see `json.rs`), and the text form prints from it (`display.rs`), so the
//! tree is the one definition of what a filter can say.
//!
//! Nodes keep where they came from ([`Loc`]) so that validation can point at
//! the offending text, but a location never takes part in equality: the same
//! filter typed twice, or once as text and once as JSON, is the same tree.

use std::fmt;
use std::sync::Arc;

use jiff::civil::Date;

use crate::time::Millis;

/// A place in the filter's text: byte offset and 1-based line and column
/// (the column counts characters, so an accented letter is one column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Pos {
    pub offset: usize,
    pub line: usize,
    pub column: usize,
}

impl Pos {
    /// The position of byte `offset` in `src`.
    pub fn at(src: &str, offset: usize) -> Pos {
        let offset = offset.min(src.len());
        let before = src.get(..offset).unwrap_or(src);
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        Pos {
            offset,
            line,
            column,
        }
    }
}

/// Where a node came from: a position in the text form, a path in the JSON
/// form, or nowhere (a tree built in code).
///
/// Equality ignores it on purpose (every `Loc` equals every other), so that
/// `parse(text) == from_json(json)` compares meaning, not origin.
#[derive(Clone, Default)]
pub enum Loc {
    #[default]
    None,
    Text(Pos),
    Json(Arc<str>),
}

impl PartialEq for Loc {
    fn eq(&self, _: &Loc) -> bool {
        true
    }
}

impl fmt::Debug for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Loc::None => f.write_str("_"),
            Loc::Text(p) => write!(f, "@{}:{}", p.line, p.column),
            Loc::Json(p) => write!(f, "@{p}"),
        }
    }
}

/// A boolean expression over one subject (a contact, or a record of another
/// type with its linked contact).
///
/// Invariant kept by the parsers: `And` and `Or` have at least two children
/// (a one-child group in JSON collapses to the child), so printing and
/// parsing back give the same tree.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    Compare(Comparison),
    /// `has tag "vip"`: the contact (or the linked contact) has the tag.
    HasTag(Name),
    /// `in list "newsletter"`: subscribed to the marketing list.
    InList(Name),
    /// `in segment "hot-leads"`: matches the segment's own filter.
    InSegment(Name),
    /// `exists(order where ...)`, `exists(event "x" where ...)`.
    Exists(Related),
    /// `count(...) >= 1`, `sum(order.total ...) > 5`, `min`, `max`, `avg`.
    Aggregate(Aggregate),
}

/// A slug or tag as written, with its location for error messages.
#[derive(Debug, Clone, PartialEq)]
pub struct Name {
    pub value: String,
    pub loc: Loc,
}

impl Name {
    pub fn new(value: impl Into<String>) -> Name {
        Name {
            value: value.into(),
            loc: Loc::None,
        }
    }
}

/// `field op value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub field: Path,
    pub op: Op,
    /// Location of the field.
    pub loc: Loc,
    /// Location of the operator.
    pub op_loc: Loc,
    /// Location of the value (the first one, for `in [...]`).
    pub value_loc: Loc,
}

impl Comparison {
    pub fn new(field: Path, op: Op) -> Comparison {
        Comparison {
            field,
            op,
            loc: Loc::None,
            op_loc: Loc::None,
            value_loc: Loc::None,
        }
    }
}

/// What a comparison reads.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Path {
    /// A standard column or custom field of the subject, by name: `email`,
    /// `total`. Inside `count(order where ...)`, a field of the order.
    Field(String),
    /// A contact's custom attribute: `attr.tier`.
    Attr(String),
    /// A standard field of the linked contact: `contact.email`.
    ContactField(String),
    /// A custom attribute of the linked contact: `contact.attr.tier`.
    ContactAttr(String),
    /// Inside an event's `where`: the event time, `at`.
    EventAt,
    /// Inside an event's `where`: a property, `url` or `properties.url`.
    EventProperty(String),
}

/// The comparison operators that take one value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    pub const ALL: [CmpOp; 6] = [
        CmpOp::Eq,
        CmpOp::Ne,
        CmpOp::Lt,
        CmpOp::Le,
        CmpOp::Gt,
        CmpOp::Ge,
    ];

    pub fn symbol(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }

    pub fn from_symbol(s: &str) -> Option<CmpOp> {
        CmpOp::ALL.into_iter().find(|op| op.symbol() == s)
    }

    /// Whether `ordering` (field compared to value) satisfies the operator.
    pub fn holds(self, ordering: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::*;
        match self {
            CmpOp::Eq => ordering == Equal,
            CmpOp::Ne => ordering != Equal,
            CmpOp::Lt => ordering == Less,
            CmpOp::Le => ordering != Greater,
            CmpOp::Gt => ordering == Greater,
            CmpOp::Ge => ordering != Less,
        }
    }
}

/// The operator (and operand) of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// `= != < <= > >=` and a value.
    Cmp(CmpOp, Literal),
    /// `in [a, b]`.
    In(Vec<Literal>),
    /// `not in [a, b]`: exactly `not (field in [a, b])`.
    NotIn(Vec<Literal>),
    /// `contains "x"`.
    Contains(String),
    /// `starts_with "x"`.
    StartsWith(String),
    IsSet,
    IsNotSet,
    /// `is today`, `in this month`, `in next 7d` on a date: the yearly
    /// anniversary, in the contact's time zone.
    Anniversary(Window),
}

/// The window of an anniversary test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Window {
    /// `is today`.
    Today,
    /// `in this month`.
    ThisMonth,
    /// `in next 7d`: the N days starting today, today included, today+N
    /// excluded. Weeks are written out as days (`next 2w` is 14 days).
    NextDays(u32),
}

/// A value written in a filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Text(String),
    /// Always finite.
    Number(f64),
    Bool(bool),
    /// `2026-01-31`.
    Date(Date),
    /// An RFC 3339 instant, kept as milliseconds (the text form prints it
    /// back in UTC).
    DateTime(Millis),
    /// `now`.
    Now,
    /// `today`.
    Today,
    /// `-30d`, `+12h`: now plus `amount` units.
    Relative {
        amount: i64,
        unit: TimeUnit,
    },
}

/// Units of relative times.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeUnit {
    Minutes,
    Hours,
    Days,
    Weeks,
}

impl TimeUnit {
    pub const ALL: [TimeUnit; 4] = [
        TimeUnit::Minutes,
        TimeUnit::Hours,
        TimeUnit::Days,
        TimeUnit::Weeks,
    ];

    pub fn letter(self) -> char {
        match self {
            TimeUnit::Minutes => 'm',
            TimeUnit::Hours => 'h',
            TimeUnit::Days => 'd',
            TimeUnit::Weeks => 'w',
        }
    }

    pub fn from_letter(c: char) -> Option<TimeUnit> {
        TimeUnit::ALL.into_iter().find(|u| u.letter() == c)
    }

    pub fn millis(self) -> i64 {
        match self {
            TimeUnit::Minutes => 60_000,
            TimeUnit::Hours => 3_600_000,
            TimeUnit::Days => 86_400_000,
            TimeUnit::Weeks => 7 * 86_400_000,
        }
    }
}

/// The largest relative offset accepted, in milliseconds (about 200 years):
/// enough for any audience, small enough that `now + offset` stays a valid
/// instant and never overflows.
pub const MAX_RELATIVE_MILLIS: i64 = 200 * 366 * 86_400_000;

/// The records or events an aggregate runs over, with its optional `where`.
#[derive(Debug, Clone, PartialEq)]
pub struct Related {
    pub source: Source,
    /// Fields in here are the related record's (or the event's).
    pub filter: Option<Box<Expr>>,
    /// Location of the source name.
    pub loc: Loc,
}

impl Related {
    pub fn new(source: Source, filter: Option<Expr>) -> Related {
        Related {
            source,
            filter: filter.map(Box::new),
            loc: Loc::None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Source {
    /// Records of an entity type whose `contact_id` is the contact: `order`.
    Records(String),
    /// The contact's events with this name: `event "page_view"`.
    Events(String),
}

/// `measure(related) op value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Aggregate {
    pub measure: Measure,
    pub of: Related,
    pub op: CmpOp,
    pub value: Literal,
    /// Location of the value.
    pub value_loc: Loc,
}

/// What an aggregate computes. Only `Count` applies to events; the others
/// name a field of the related records.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Measure {
    Count,
    Sum(String),
    Min(String),
    Max(String),
    Avg(String),
}

impl Measure {
    pub fn name(&self) -> &'static str {
        match self {
            Measure::Count => "count",
            Measure::Sum(_) => "sum",
            Measure::Min(_) => "min",
            Measure::Max(_) => "max",
            Measure::Avg(_) => "avg",
        }
    }

    pub fn field(&self) -> Option<&str> {
        match self {
            Measure::Count => None,
            Measure::Sum(f) | Measure::Min(f) | Measure::Max(f) | Measure::Avg(f) => Some(f),
        }
    }

    /// Builds a measure from its name, `field` given for all but `count`.
    pub fn from_name(name: &str, field: Option<String>) -> Option<Measure> {
        Some(match (name, field) {
            ("count", None) => Measure::Count,
            ("sum", Some(f)) => Measure::Sum(f),
            ("min", Some(f)) => Measure::Min(f),
            ("max", Some(f)) => Measure::Max(f),
            ("avg", Some(f)) => Measure::Avg(f),
            _ => return None,
        })
    }
}

/// True for names the text form can write bare: ASCII letters, digits and
/// `_`, not starting with a digit.
pub fn is_ident(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}
