//! The JSON form: the syntax tree written out, one object per node.
//!
//! Hand-written rather than derived, for two reasons: errors name the JSON
//! path of the bad node (`and[1].op`), which serde's untagged enums cannot,
//! and the comparison node (`{"field", "op", "value"}`) has no tag key.

use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::FilterError;
use super::ast::*;
use super::lexer::parse_date;
use super::parser::MAX_DEPTH;
use crate::schema::number_value;
use crate::time;

pub(crate) fn to_json(e: &Expr) -> Value {
    match e {
        Expr::And(items) => json!({ "and": items.iter().map(to_json).collect::<Vec<_>>() }),
        Expr::Or(items) => json!({ "or": items.iter().map(to_json).collect::<Vec<_>>() }),
        Expr::Not(inner) => json!({ "not": to_json(inner) }),
        Expr::HasTag(n) => json!({ "has_tag": n.value }),
        Expr::InList(n) => json!({ "in_list": n.value }),
        Expr::InSegment(n) => json!({ "in_segment": n.value }),
        Expr::Exists(r) => json!({ "exists": related_json(r, None) }),
        Expr::Aggregate(a) => {
            let mut m = Map::new();
            m.insert(
                a.measure.name().into(),
                related_json(&a.of, a.measure.field()),
            );
            m.insert("op".into(), a.op.symbol().into());
            m.insert("value".into(), literal_json(&a.value));
            Value::Object(m)
        }
        Expr::Compare(c) => {
            let mut m = Map::new();
            m.insert("field".into(), path_json(&c.field).into());
            let (op, value) = match &c.op {
                Op::Cmp(op, v) => (op.symbol(), Some(literal_json(v))),
                Op::In(vs) => (
                    "in",
                    Some(Value::Array(vs.iter().map(literal_json).collect())),
                ),
                Op::NotIn(vs) => (
                    "not_in",
                    Some(Value::Array(vs.iter().map(literal_json).collect())),
                ),
                Op::Contains(s) => ("contains", Some(s.as_str().into())),
                Op::StartsWith(s) => ("starts_with", Some(s.as_str().into())),
                Op::IsSet => ("is_set", None),
                Op::IsNotSet => ("is_not_set", None),
                Op::Anniversary(Window::Today) => ("is_today", None),
                Op::Anniversary(Window::ThisMonth) => ("in_this_month", None),
                Op::Anniversary(Window::NextDays(n)) => ("in_next_days", Some((*n).into())),
            };
            m.insert("op".into(), op.into());
            if let Some(v) = value {
                m.insert("value".into(), v);
            }
            Value::Object(m)
        }
    }
}

fn related_json(r: &Related, field: Option<&str>) -> Value {
    let mut m = Map::new();
    match &r.source {
        Source::Records(entity) => m.insert("of".into(), entity.as_str().into()),
        Source::Events(name) => m.insert("event".into(), name.as_str().into()),
    };
    if let Some(field) = field {
        m.insert("field".into(), field.into());
    }
    if let Some(w) = &r.filter {
        m.insert("where".into(), to_json(w));
    }
    Value::Object(m)
}

/// Fields are dotted strings, as in the text form: `attr.tier`,
/// `contact.email`; inside an event's `where`, `at` or a property name.
fn path_json(p: &Path) -> String {
    match p {
        Path::Field(n) => n.clone(),
        Path::Attr(k) => format!("attr.{k}"),
        Path::ContactField(n) => format!("contact.{n}"),
        Path::ContactAttr(k) => format!("contact.attr.{k}"),
        Path::EventAt => "at".into(),
        Path::EventProperty(k) if k == "at" || k.contains('.') => format!("properties.{k}"),
        Path::EventProperty(k) => k.clone(),
    }
}

fn literal_json(l: &Literal) -> Value {
    match l {
        Literal::Text(s) => s.as_str().into(),
        Literal::Number(n) => number_value(*n),
        Literal::Bool(b) => (*b).into(),
        Literal::Date(d) => json!({ "date": d.to_string() }),
        Literal::DateTime(ms) => json!({ "datetime": time::format_millis(*ms) }),
        Literal::Now => json!({ "relative": "now" }),
        Literal::Today => json!({ "relative": "today" }),
        rel @ Literal::Relative { .. } => json!({ "relative": rel.to_string() }),
    }
}

pub(crate) fn from_json(v: &Value) -> Result<Expr, FilterError> {
    Reader { depth: 0 }.expr(v, "", false)
}

struct Reader {
    depth: usize,
}

fn err(path: &str, message: impl Into<String>) -> FilterError {
    FilterError::in_json(if path.is_empty() { "(root)" } else { path }, message)
}

fn child(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn loc(path: &str) -> Loc {
    Loc::Json(Arc::from(if path.is_empty() { "(root)" } else { path }))
}

const NODE_KEYS: &[&str] = &[
    "and",
    "or",
    "not",
    "field",
    "has_tag",
    "in_list",
    "in_segment",
    "exists",
    "count",
    "sum",
    "min",
    "max",
    "avg",
];

impl Reader {
    fn expr(&mut self, v: &Value, path: &str, in_event: bool) -> Result<Expr, FilterError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(err(
                path,
                format!("filter is nested more than {MAX_DEPTH} levels deep"),
            ));
        }
        let e = self.node(v, path, in_event);
        self.depth -= 1;
        e
    }

    fn node(&mut self, v: &Value, path: &str, in_event: bool) -> Result<Expr, FilterError> {
        let Value::Object(m) = v else {
            return Err(err(
                path,
                format!(
                    "expected a condition object, found {}",
                    crate::schema::json_kind(v)
                ),
            ));
        };
        let Some(kind) = NODE_KEYS.iter().copied().find(|k| m.contains_key(*k)) else {
            return Err(err(
                path,
                format!("expected one of the keys {}", NODE_KEYS.join(", ")),
            ));
        };
        let allowed: &[&str] = match kind {
            "field" => &["field", "op", "value"],
            "count" | "sum" | "min" | "max" | "avg" => &[kind, "op", "value"],
            _ => &[kind],
        };
        if let Some(extra) = m.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(err(
                &child(path, extra),
                format!("unexpected key '{extra}' in a '{kind}' condition"),
            ));
        }
        let at = child(path, kind);
        let body = &m[kind];
        match kind {
            "and" | "or" => {
                let Value::Array(items) = body else {
                    return Err(err(&at, "expected a list of conditions"));
                };
                let mut out = items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| self.expr(item, &format!("{at}[{i}]"), in_event))
                    .collect::<Result<Vec<_>, _>>()?;
                // A one-condition group is just the condition: builders
                // produce them, and the text form cannot tell them apart.
                match out.len() {
                    0 => Err(err(&at, format!("'{kind}' needs at least one condition"))),
                    1 => Ok(out.pop().unwrap_or_else(|| unreachable!())),
                    _ if kind == "and" => Ok(Expr::And(out)),
                    _ => Ok(Expr::Or(out)),
                }
            }
            "not" => Ok(Expr::Not(Box::new(self.expr(body, &at, in_event)?))),
            "has_tag" => Ok(Expr::HasTag(name(body, &at)?)),
            "in_list" => Ok(Expr::InList(name(body, &at)?)),
            "in_segment" => Ok(Expr::InSegment(name(body, &at)?)),
            "exists" => {
                let (field, of) = self.related(body, &at, false)?;
                debug_assert!(field.is_none());
                Ok(Expr::Exists(of))
            }
            "field" => comparison(m, path, in_event),
            measure => {
                let (field, of) = self.related(body, &at, measure != "count")?;
                let measure =
                    Measure::from_name(measure, field).ok_or_else(|| err(&at, "bad aggregate"))?;
                let op = cmp_op(m.get("op"), &child(path, "op"))?;
                let value_path = child(path, "value");
                let value = literal(
                    m.get("value").ok_or_else(|| err(path, "missing 'value'"))?,
                    &value_path,
                )?;
                Ok(Expr::Aggregate(Aggregate {
                    measure,
                    of,
                    op,
                    value,
                    value_loc: loc(&value_path),
                }))
            }
        }
    }

    fn related(
        &mut self,
        v: &Value,
        path: &str,
        needs_field: bool,
    ) -> Result<(Option<String>, Related), FilterError> {
        let Value::Object(m) = v else {
            return Err(err(
                path,
                "expected an object with 'of' (a record type) or 'event' (an event name)",
            ));
        };
        if let Some(extra) = m
            .keys()
            .find(|k| !["of", "event", "field", "where"].contains(&k.as_str()))
        {
            return Err(err(
                &child(path, extra),
                format!("unexpected key '{extra}'"),
            ));
        }
        let (source, in_event) = match (m.get("of"), m.get("event")) {
            (Some(Value::String(of)), None) if is_ident(of) => (Source::Records(of.clone()), false),
            (Some(_), None) => {
                return Err(err(
                    &child(path, "of"),
                    "expected a record type name such as \"order\"",
                ));
            }
            (None, Some(Value::String(ev))) => (Source::Events(ev.clone()), true),
            (None, Some(_)) => return Err(err(&child(path, "event"), "expected an event name")),
            _ => {
                return Err(err(
                    path,
                    "give exactly one of 'of' (a record type) and 'event' (an event name)",
                ));
            }
        };
        let field = match (m.get("field"), needs_field) {
            (None, false) => None,
            (Some(Value::String(f)), true) if is_ident(f) && !in_event => Some(f.clone()),
            (_, true) if in_event => {
                return Err(err(path, "only count and exists apply to events"));
            }
            (Some(_), true) => return Err(err(&child(path, "field"), "expected a field name")),
            (None, true) => {
                return Err(err(path, "missing 'field' (the record field to aggregate)"));
            }
            (Some(_), false) => {
                return Err(err(&child(path, "field"), "count and exists take no field"));
            }
        };
        let filter = match m.get("where") {
            None => None,
            Some(w) => Some(Box::new(self.expr(w, &child(path, "where"), in_event)?)),
        };
        Ok((
            field,
            Related {
                source,
                filter,
                loc: loc(path),
            },
        ))
    }
}

fn name(v: &Value, path: &str) -> Result<Name, FilterError> {
    match v {
        Value::String(s) => Ok(Name {
            value: s.clone(),
            loc: loc(path),
        }),
        _ => Err(err(path, "expected text")),
    }
}

fn cmp_op(v: Option<&Value>, path: &str) -> Result<CmpOp, FilterError> {
    v.and_then(Value::as_str)
        .and_then(CmpOp::from_symbol)
        .ok_or_else(|| err(path, "expected one of =, !=, <, <=, >, >="))
}

fn comparison(m: &Map<String, Value>, path: &str, in_event: bool) -> Result<Expr, FilterError> {
    let field_path = child(path, "field");
    let Some(Value::String(written)) = m.get("field") else {
        return Err(err(&field_path, "expected a field name"));
    };
    let field = parse_path(written, in_event).map_err(|msg| err(&field_path, msg))?;
    let op_path = child(path, "op");
    let value_path = child(path, "value");
    let op_name = m
        .get("op")
        .and_then(Value::as_str)
        .ok_or_else(|| err(&op_path, "expected an operator"))?;
    let value = m.get("value");
    let needs_value = || value.ok_or_else(|| err(path, format!("'{op_name}' needs a 'value'")));
    let text = || match needs_value()? {
        Value::String(s) => Ok(s.clone()),
        _ => Err(err(&value_path, format!("'{op_name}' needs text"))),
    };
    let list = || match needs_value()? {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| literal(item, &format!("{value_path}[{i}]")))
            .collect(),
        _ => Err(err(
            &value_path,
            format!("'{op_name}' needs a list of values"),
        )),
    };
    let no_value = |op: Op| match value {
        None => Ok(op),
        Some(_) => Err(err(&value_path, format!("'{op_name}' takes no value"))),
    };
    let op = match op_name {
        "in" => Op::In(list()?),
        "not_in" => Op::NotIn(list()?),
        "contains" => Op::Contains(text()?),
        "starts_with" => Op::StartsWith(text()?),
        "is_set" => no_value(Op::IsSet)?,
        "is_not_set" => no_value(Op::IsNotSet)?,
        "is_today" => no_value(Op::Anniversary(Window::Today))?,
        "in_this_month" => no_value(Op::Anniversary(Window::ThisMonth))?,
        "in_next_days" => match needs_value()?.as_u64().and_then(|n| u32::try_from(n).ok()) {
            Some(n) => Op::Anniversary(Window::NextDays(n)),
            None => {
                return Err(err(
                    &value_path,
                    "'in_next_days' needs a whole number of days",
                ));
            }
        },
        sym => match CmpOp::from_symbol(sym) {
            Some(op) => Op::Cmp(op, literal(needs_value()?, &value_path)?),
            None => {
                return Err(err(
                    &op_path,
                    format!(
                        "unknown operator '{sym}' (expected =, !=, <, <=, >, >=, in, not_in, contains, starts_with, \
                         is_set, is_not_set, is_today, in_this_month, in_next_days)"
                    ),
                ));
            }
        },
    };
    Ok(Expr::Compare(Comparison {
        field,
        op,
        loc: loc(&field_path),
        op_loc: loc(&op_path),
        value_loc: loc(&value_path),
    }))
}

/// Reads a dotted field name the way the text form does.
fn parse_path(written: &str, in_event: bool) -> Result<Path, String> {
    if in_event {
        return Ok(match written {
            "at" => Path::EventAt,
            w => match w.strip_prefix("properties.") {
                Some(k) if !k.is_empty() => Path::EventProperty(k.to_string()),
                _ => Path::EventProperty(w.to_string()),
            },
        });
    }
    let parts: Vec<&str> = written.split('.').collect();
    if !parts.iter().all(|p| is_ident(p)) {
        return Err(format!("unknown field '{written}'"));
    }
    Ok(match parts.as_slice() {
        [f] => Path::Field(f.to_string()),
        ["attr", k] => Path::Attr(k.to_string()),
        ["contact", "attr", k] => Path::ContactAttr(k.to_string()),
        ["contact", f] => Path::ContactField(f.to_string()),
        _ => return Err(format!("unknown field '{written}'")),
    })
}

fn literal(v: &Value, path: &str) -> Result<Literal, FilterError> {
    match v {
        Value::String(s) => Ok(Literal::Text(s.clone())),
        Value::Bool(b) => Ok(Literal::Bool(*b)),
        Value::Number(n) => n
            .as_f64()
            .filter(|f| f.is_finite())
            .map(Literal::Number)
            .ok_or_else(|| err(path, "bad number")),
        Value::Object(m) if m.len() == 1 => {
            let (key, inner) = m.iter().next().unwrap_or_else(|| unreachable!());
            let at = child(path, key);
            let Some(s) = inner.as_str() else {
                return Err(err(&at, "expected text"));
            };
            match key.as_str() {
                "date" => parse_date(s)
                    .map(Literal::Date)
                    .ok_or_else(|| err(&at, format!("bad date '{s}' (expected YYYY-MM-DD)"))),
                "datetime" => time::parse_datetime(s)
                    .ok()
                    .filter(|t| (1..=9999).contains(&t.to_zoned(jiff::tz::TimeZone::UTC).year()))
                    .map(|t| Literal::DateTime(time::to_millis(t)))
                    .ok_or_else(|| {
                        err(&at, format!("bad date-time '{s}' (expected RFC 3339, e.g. 2026-01-31T10:00:00+07:00)"))
                    }),
                "relative" => relative(s).ok_or_else(|| {
                    err(&at, format!("bad relative time '{s}' (expected now, today, or e.g. -30d, +12h)"))
                }),
                other => Err(err(path, format!("unknown value kind '{other}' (expected date, datetime or relative)"))),
            }
        }
        _ => Err(err(
            path,
            "expected a value: text, a number, true/false, {\"date\": ..}, {\"datetime\": ..} or {\"relative\": ..}",
        )),
    }
}

/// `now`, `today`, `-30d`, `+12h` (the sign is required).
fn relative(s: &str) -> Option<Literal> {
    match s {
        "now" => return Some(Literal::Now),
        "today" => return Some(Literal::Today),
        _ => {}
    }
    let negative = match s.chars().next()? {
        '-' => true,
        '+' => false,
        _ => return None,
    };
    let unit = TimeUnit::from_letter(s.chars().last()?)?;
    let digits = &s[1..s.len() - 1];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let amount: i64 = digits.parse().ok()?;
    if amount.checked_mul(unit.millis())? > MAX_RELATIVE_MILLIS {
        return None;
    }
    Some(Literal::Relative {
        amount: if negative { -amount } else { amount },
        unit,
    })
}
