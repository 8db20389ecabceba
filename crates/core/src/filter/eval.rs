//! In-memory evaluation: does this one contact (or record) match? Used when
//! a trigger fires for a single record, where a round trip to SQL per
//! condition would cost more than the data already in hand.
//!
//! Every rule here is also a rule the SQL compiler must follow;
//! docs/filters.md states them, and the store's property tests compare the
//! two on generated data. The helpers that turn relative values into
//! concrete ones (`Literal::as_millis`, `Literal::as_date`,
//! [`anniversary_month_days`]) are public so that the compiler binds exactly
//! the values this code compares against.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};

use jiff::civil::Date;
use jiff::tz::TimeZone;

use super::Filter;
use super::ast::*;
use crate::contact::normalise_tag;
use crate::schema::FieldType;
use crate::text::fold;
use crate::time::{self, Millis};

/// The zone used for a contact without one (or with an unknown one).
pub const DEFAULT_TIMEZONE: &str = "Asia/Ho_Chi_Minh";

/// A field's value as the evaluator compares it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Unset: missing, JSON `null`, or never written.
    Null,
    Text(String),
    Number(f64),
    Bool(bool),
    Date(Date),
    /// An instant, in milliseconds since the epoch.
    Time(Millis),
    /// A list attribute. An empty list counts as unset.
    List(Vec<String>),
}

impl Value {
    /// Reads a stored custom-field value (the JSON `FieldType::check_json`
    /// produces) as the evaluator sees it. A value that does not fit the
    /// type reads as unset, as it does in SQL.
    pub fn from_json(v: &serde_json::Value, ty: &FieldType) -> Value {
        use serde_json::Value as J;
        match (ty, v) {
            (FieldType::Text | FieldType::Enum { .. }, J::String(s)) => Value::Text(s.clone()),
            (FieldType::Number, J::Number(n)) => n.as_f64().map_or(Value::Null, Value::Number),
            (FieldType::Bool, J::Bool(b)) => Value::Bool(*b),
            (FieldType::Date, J::String(s)) => time::parse_date(s).map_or(Value::Null, Value::Date),
            (FieldType::Datetime, J::String(s)) => {
                time::parse_datetime(s).map_or(Value::Null, |t| Value::Time(time::to_millis(t)))
            }
            (FieldType::List, J::Array(items)) => Value::List(
                items
                    .iter()
                    .filter_map(|i| i.as_str().map(str::to_string))
                    .collect(),
            ),
            _ => Value::Null,
        }
    }

    /// `is set`: anything but `Null` and the empty list.
    pub fn is_set(&self) -> bool {
        match self {
            Value::Null => false,
            Value::List(items) => !items.is_empty(),
            _ => true,
        }
    }
}

/// A record as the evaluator reads it: an order, a lead, a custom record.
pub trait RecordView {
    /// A standard column or custom field by name; `Value::Null` if unset or
    /// unknown.
    fn field(&self, name: &str) -> Value;
}

/// A contact as the evaluator reads it. The store implements this over a
/// loaded contact; [`super::MemoryContact`] is the owned implementation.
pub trait ContactView {
    /// A standard contact field (`email`, `birthday`, `score`, ...).
    fn field(&self, name: &str) -> Value;
    /// A custom attribute (`attr.KEY`), typed by the workspace schema.
    fn attr(&self, key: &str) -> Value;
    /// The contact's IANA zone, for anniversaries. `None` (or an unknown
    /// zone) means [`DEFAULT_TIMEZONE`].
    fn timezone(&self) -> Option<String> {
        match self.field("timezone") {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }
    /// `tag` is already normalised (trimmed, lower case).
    fn has_tag(&self, tag: &str) -> bool;
    /// Subscribed (not unsubscribed, not pending) to the list.
    fn in_list(&self, slug: &str) -> bool;
    /// Records of type `entity` whose `contact_id` is this contact.
    fn records<'a>(&'a self, entity: &str) -> Box<dyn Iterator<Item = &'a dyn RecordView> + 'a>;
    /// This contact's events named `name`: (time, properties object).
    fn events<'a>(
        &'a self,
        name: &str,
    ) -> Box<dyn Iterator<Item = (Millis, &'a serde_json::Value)> + 'a>;
}

/// What a filter is evaluated on: a contact, or a record of another type
/// with its linked contact (if any).
#[derive(Clone, Copy)]
pub enum Subject<'a> {
    Contact(&'a dyn ContactView),
    Record {
        record: &'a dyn RecordView,
        contact: Option<&'a dyn ContactView>,
    },
}

impl<'a> Subject<'a> {
    /// The contact that tags, lists, segments, related records and events
    /// refer to: the subject itself, or the record's linked contact.
    pub fn contact(&self) -> Option<&'a dyn ContactView> {
        match *self {
            Subject::Contact(c) => Some(c),
            Subject::Record { contact, .. } => contact,
        }
    }
}

/// Looks up the saved filter of a segment, for `in segment "slug"`.
pub trait SegmentFilters {
    fn segment_filter(&self, slug: &str) -> Option<&Filter>;
}

impl SegmentFilters for () {
    fn segment_filter(&self, _: &str) -> Option<&Filter> {
        None
    }
}

impl SegmentFilters for BTreeMap<String, Filter> {
    fn segment_filter(&self, slug: &str) -> Option<&Filter> {
        self.get(slug)
    }
}

impl SegmentFilters for HashMap<String, Filter> {
    fn segment_filter(&self, slug: &str) -> Option<&Filter> {
        self.get(slug)
    }
}

/// What evaluation needs besides the subject.
#[derive(Clone, Copy)]
pub struct EvalContext<'a> {
    /// The instant `now`, `today` and relative times are taken from.
    pub now: Millis,
    pub segments: &'a dyn SegmentFilters,
}

impl<'a> EvalContext<'a> {
    pub fn new(now: Millis, segments: &'a dyn SegmentFilters) -> EvalContext<'a> {
        EvalContext { now, segments }
    }
}

/// Segments nested deeper than this evaluate to false. Validation refuses
/// cycles; this only keeps an unvalidated loop from overflowing the stack.
const MAX_SEGMENT_DEPTH: usize = 16;

pub(crate) fn matches(e: &Expr, subject: &Subject<'_>, ctx: &EvalContext<'_>) -> bool {
    let env = Env {
        ctx,
        contact: subject.contact(),
        depth: 0,
    };
    env.eval(e, Scope::Top(subject))
}

/// Where field names point during evaluation.
#[derive(Clone, Copy)]
enum Scope<'a> {
    Top(&'a Subject<'a>),
    Record(&'a dyn RecordView),
    Event(Millis, &'a serde_json::Value),
}

struct Env<'a> {
    ctx: &'a EvalContext<'a>,
    contact: Option<&'a dyn ContactView>,
    depth: usize,
}

/// The left side of a comparison. Event properties are untyped JSON, and an
/// array or object property is set but equal to nothing.
enum Operand {
    Value(Value),
    Opaque,
}

impl Env<'_> {
    fn eval(&self, e: &Expr, scope: Scope<'_>) -> bool {
        match e {
            Expr::And(items) => items.iter().all(|i| self.eval(i, scope)),
            Expr::Or(items) => items.iter().any(|i| self.eval(i, scope)),
            Expr::Not(inner) => !self.eval(inner, scope),
            Expr::Compare(c) => self.compare(&self.operand(&c.field, scope), &c.op),
            Expr::HasTag(t) => match (self.contact, normalise_tag(&t.value)) {
                (Some(c), Ok(tag)) => c.has_tag(&tag),
                _ => false,
            },
            Expr::InList(l) => self.contact.is_some_and(|c| c.in_list(&l.value)),
            Expr::InSegment(s) => self.in_segment(&s.value),
            Expr::Exists(r) => match &r.source {
                Source::Records(entity) => {
                    self.records(entity, r.filter.as_deref()).next().is_some()
                }
                Source::Events(name) => self.events(name, r.filter.as_deref()).next().is_some(),
            },
            Expr::Aggregate(a) => {
                let value = self.aggregate(&a.measure, &a.of);
                compare(&value, a.op, &a.value, self.ctx.now)
            }
        }
    }

    fn in_segment(&self, slug: &str) -> bool {
        let (Some(contact), Some(filter)) = (self.contact, self.ctx.segments.segment_filter(slug))
        else {
            return false;
        };
        if self.depth >= MAX_SEGMENT_DEPTH {
            return false;
        }
        let subject = Subject::Contact(contact);
        let inner = Env {
            ctx: self.ctx,
            contact: Some(contact),
            depth: self.depth + 1,
        };
        inner.eval(filter.expr(), Scope::Top(&subject))
    }

    fn operand(&self, path: &Path, scope: Scope<'_>) -> Operand {
        let v = match (scope, path) {
            (Scope::Top(Subject::Contact(c)), Path::Field(n)) => c.field(n),
            (Scope::Top(Subject::Contact(c)), Path::Attr(k)) => c.attr(k),
            (Scope::Top(Subject::Record { record, .. }), Path::Field(n)) => record.field(n),
            (
                Scope::Top(Subject::Record {
                    contact: Some(c), ..
                }),
                Path::ContactField(n),
            ) => c.field(n),
            (
                Scope::Top(Subject::Record {
                    contact: Some(c), ..
                }),
                Path::ContactAttr(k),
            ) => c.attr(k),
            (Scope::Record(r), Path::Field(n)) => r.field(n),
            (Scope::Event(at, _), Path::EventAt) => Value::Time(at),
            (Scope::Event(_, props), Path::EventProperty(k)) => return property(props.get(k)),
            _ => Value::Null,
        };
        Operand::Value(v)
    }

    fn compare(&self, operand: &Operand, op: &Op) -> bool {
        let now = self.ctx.now;
        let v = match operand {
            Operand::Value(v) => v,
            Operand::Opaque => {
                return matches!(op, Op::IsSet | Op::Cmp(CmpOp::Ne, _) | Op::NotIn(_));
            }
        };
        match op {
            Op::Cmp(op, lit) => compare(v, *op, lit, now),
            Op::In(lits) => in_set(v, lits, now),
            Op::NotIn(lits) => !in_set(v, lits, now),
            Op::Contains(x) => match v {
                Value::Text(s) => fold(s).contains(&fold(x)),
                Value::List(items) => items.iter().any(|i| i == x),
                _ => false,
            },
            Op::StartsWith(x) => match v {
                Value::Text(s) => fold(s).starts_with(&fold(x)),
                _ => false,
            },
            Op::IsSet => v.is_set(),
            Op::IsNotSet => !v.is_set(),
            Op::Anniversary(w) => match v {
                Value::Date(d) => {
                    let zone = self.contact.and_then(|c| c.timezone());
                    anniversary_matches(*d, today_in_zone(now, zone.as_deref()), *w)
                }
                _ => false,
            },
        }
    }

    fn records<'s>(
        &'s self,
        entity: &'s str,
        filter: Option<&'s Expr>,
    ) -> impl Iterator<Item = &'s dyn RecordView> + 's {
        self.contact
            .into_iter()
            .flat_map(move |c| c.records(entity))
            .filter(move |r| filter.is_none_or(|f| self.eval(f, Scope::Record(*r))))
    }

    fn events<'s>(
        &'s self,
        name: &'s str,
        filter: Option<&'s Expr>,
    ) -> impl Iterator<Item = Millis> + 's {
        self.contact
            .into_iter()
            .flat_map(move |c| c.events(name))
            .filter(move |(at, props)| {
                filter.is_none_or(|f| self.eval(f, Scope::Event(*at, props)))
            })
            .map(|(at, _)| at)
    }

    fn aggregate(&self, measure: &Measure, of: &Related) -> Value {
        let filter = of.filter.as_deref();
        let entity = match &of.source {
            Source::Events(name) => {
                // Only count applies to events (validation refuses others).
                return match measure {
                    Measure::Count => Value::Number(self.events(name, filter).count() as f64),
                    _ => Value::Null,
                };
            }
            Source::Records(entity) => entity,
        };
        let field = match measure {
            Measure::Count => return Value::Number(self.records(entity, filter).count() as f64),
            Measure::Sum(f) | Measure::Min(f) | Measure::Max(f) | Measure::Avg(f) => f,
        };
        // Unset values are skipped, as SQL's aggregates skip NULL.
        let values = self
            .records(entity, filter)
            .map(|r| r.field(field))
            .filter(Value::is_set);
        match measure {
            Measure::Sum(_) => Value::Number(values.filter_map(|v| number(&v)).sum()),
            Measure::Avg(_) => {
                let nums: Vec<f64> = values.filter_map(|v| number(&v)).collect();
                if nums.is_empty() {
                    Value::Null
                } else {
                    Value::Number(nums.iter().sum::<f64>() / nums.len() as f64)
                }
            }
            Measure::Min(_) => extreme(values, Ordering::Less),
            Measure::Max(_) => extreme(values, Ordering::Greater),
            Measure::Count => Value::Null,
        }
    }
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => Some(*n),
        _ => None,
    }
}

/// The smallest (`Less`) or largest (`Greater`) value; `Null` when there is
/// none.
fn extreme(values: impl Iterator<Item = Value>, want: Ordering) -> Value {
    values.fold(Value::Null, |best, v| match order(&v, &best) {
        Some(o) if o == want => v,
        _ if best == Value::Null => v,
        _ => best,
    })
}

/// Orders two values of the same kind; `None` across kinds.
fn order(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Text(a), Value::Text(b)) => Some(a.as_str().cmp(b)),
        (Value::Number(a), Value::Number(b)) => a.partial_cmp(b),
        (Value::Bool(a), Value::Bool(b)) => Some(a.cmp(b)),
        (Value::Date(a), Value::Date(b)) => Some(a.cmp(b)),
        (Value::Time(a), Value::Time(b)) => Some(a.cmp(b)),
        _ => None,
    }
}

/// An event property as an operand: strings, numbers and booleans compare
/// with literals of their own kind; arrays and objects are opaque.
fn property(v: Option<&serde_json::Value>) -> Operand {
    use serde_json::Value as J;
    Operand::Value(match v {
        None | Some(J::Null) => Value::Null,
        Some(J::String(s)) => Value::Text(s.clone()),
        Some(J::Number(n)) => n.as_f64().map_or(Value::Null, Value::Number),
        Some(J::Bool(b)) => Value::Bool(*b),
        Some(J::Array(_) | J::Object(_)) => return Operand::Opaque,
    })
}

/// `field op literal`. False when the field is unset or the kinds differ,
/// except `!=`, which is exactly `not =`.
fn compare(v: &Value, op: CmpOp, lit: &Literal, now: Millis) -> bool {
    if op == CmpOp::Ne {
        return !compare(v, CmpOp::Eq, lit, now);
    }
    let ordering = match (v, lit) {
        (Value::Text(a), Literal::Text(b)) => Some(a.as_str().cmp(b.as_str())),
        (Value::Number(a), Literal::Number(b)) => a.partial_cmp(b),
        (Value::Bool(a), Literal::Bool(b)) => Some(a.cmp(b)),
        (Value::Date(a), l) => l.as_date(now).map(|b| a.cmp(&b)),
        (Value::Time(a), l) => l.as_millis(now).map(|b| a.cmp(&b)),
        _ => None,
    };
    ordering.is_some_and(|o| op.holds(o))
}

/// `in [...]`: equal to any literal; for a list, any element equal to a
/// text literal.
fn in_set(v: &Value, lits: &[Literal], now: Millis) -> bool {
    match v {
        Value::List(items) => items
            .iter()
            .any(|i| lits.iter().any(|l| matches!(l, Literal::Text(t) if t == i))),
        v => lits.iter().any(|l| compare(v, CmpOp::Eq, l, now)),
    }
}

impl Literal {
    /// The instant a literal means when compared with a datetime field:
    /// a date is midnight UTC, `today` midnight UTC today, `-30d` exactly
    /// 30 × 86 400 000 ms before `now`. `None` for text, numbers, booleans.
    pub fn as_millis(&self, now: Millis) -> Option<Millis> {
        match self {
            Literal::DateTime(ms) => Some(*ms),
            Literal::Date(d) => midnight_utc(*d),
            Literal::Now => Some(now),
            Literal::Today => midnight_utc(utc_date(now)),
            Literal::Relative { amount, unit } => {
                Some(now.saturating_add(amount.saturating_mul(unit.millis())))
            }
            Literal::Text(_) | Literal::Number(_) | Literal::Bool(_) => None,
        }
    }

    /// The date a literal means when compared with a date field: `today`
    /// and `now` are today's date in UTC, `-30d` the UTC date of the instant
    /// 30 days ago. A date-time does not compare with a date (validation
    /// refuses it), so it gives `None`, as do text, numbers and booleans.
    pub fn as_date(&self, now: Millis) -> Option<Date> {
        match self {
            Literal::Date(d) => Some(*d),
            Literal::Now | Literal::Today => Some(utc_date(now)),
            Literal::Relative { .. } => self.as_millis(now).map(utc_date),
            Literal::DateTime(_) | Literal::Text(_) | Literal::Number(_) | Literal::Bool(_) => None,
        }
    }
}

fn midnight_utc(d: Date) -> Option<Millis> {
    d.to_zoned(TimeZone::UTC)
        .ok()
        .map(|z| z.timestamp().as_millisecond())
}

/// The UTC calendar date of an instant.
pub fn utc_date(ms: Millis) -> Date {
    time::from_millis(ms).to_zoned(TimeZone::UTC).date()
}

/// Today's date in a zone; an unknown or missing zone means
/// [`DEFAULT_TIMEZONE`].
pub fn today_in_zone(now: Millis, zone: Option<&str>) -> Date {
    let tz = zone
        .and_then(|z| TimeZone::get(z).ok())
        .unwrap_or_else(|| TimeZone::get(DEFAULT_TIMEZONE).unwrap_or(TimeZone::UTC));
    time::from_millis(now).to_zoned(tz).date()
}

/// Whether a date's yearly anniversary falls in the window that starts on
/// `today` (already taken in the contact's zone).
///
/// A 29 February date has its anniversary on 28 February in years without
/// one, so leap-day birthdays are never skipped.
pub fn anniversary_matches(date: Date, today: Date, window: Window) -> bool {
    match window {
        Window::ThisMonth => date.month() == today.month(),
        _ => anniversary_month_days(today, window).contains(&(date.month(), date.day())),
    }
}

/// The (month, day) pairs of the dates whose anniversary falls in the
/// window starting `today`. The SQL compiler matches a date column's
/// month and day against this set, so both sides share one definition.
///
/// `NextDays(n)` covers today .. today+n-1; from 366 days on it holds every
/// pair. A non-leap 28 February also brings in (2, 29).
pub fn anniversary_month_days(today: Date, window: Window) -> Vec<(i8, i8)> {
    let days = match window {
        Window::Today => 1,
        // Every day of the month in a leap year, so 29 February counts.
        Window::ThisMonth => {
            let first = Date::new(2000, today.month(), 1).unwrap_or(today);
            return (0..first.days_in_month())
                .map(|d| (today.month(), d + 1))
                .collect();
        }
        Window::NextDays(n) => n.min(366),
    };
    let mut out = Vec::new();
    let mut day = today;
    for _ in 0..days {
        out.push((day.month(), day.day()));
        if day.month() == 2 && day.day() == 28 && !day.in_leap_year() {
            out.push((2, 29));
        }
        match day.tomorrow() {
            Ok(next) => day = next,
            Err(_) => break,
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}
