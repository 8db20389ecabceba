//! The canonical text form. Printing adds only the parentheses precedence
//! needs (plus those that keep a nested group of the same kind a separate
//! node), so `parse(print(tree)) == tree` for every tree the parsers build.

use std::fmt::{self, Display, Formatter, Write};

use super::ast::*;
use crate::time;

impl Display for Expr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Or(items) => join(f, items, " or ", |e| matches!(e, Expr::Or(_))),
            Expr::And(items) => join(f, items, " and ", |e| {
                matches!(e, Expr::Or(_) | Expr::And(_))
            }),
            Expr::Not(inner) => {
                let group = match &**inner {
                    Expr::And(_) | Expr::Or(_) => true,
                    // A field literally called "not" would read as a second
                    // `not` without the parentheses.
                    Expr::Compare(c) => {
                        matches!(&c.field, Path::Field(n) | Path::EventProperty(n) if n.eq_ignore_ascii_case("not"))
                    }
                    _ => false,
                };
                if group {
                    write!(f, "not ({inner})")
                } else {
                    write!(f, "not {inner}")
                }
            }
            Expr::Compare(c) => write!(f, "{c}"),
            Expr::HasTag(n) => write!(f, "has tag {}", Quoted(&n.value)),
            Expr::InList(n) => write!(f, "in list {}", Quoted(&n.value)),
            Expr::InSegment(n) => write!(f, "in segment {}", Quoted(&n.value)),
            Expr::Exists(r) => {
                f.write_str("exists(")?;
                related(f, r, None)?;
                f.write_str(")")
            }
            Expr::Aggregate(a) => {
                write!(f, "{}(", a.measure.name())?;
                related(f, &a.of, a.measure.field())?;
                write!(f, ") {} {}", a.op.symbol(), a.value)
            }
        }
    }
}

fn join(
    f: &mut Formatter<'_>,
    items: &[Expr],
    sep: &str,
    needs_group: impl Fn(&Expr) -> bool,
) -> fmt::Result {
    for (i, e) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(sep)?;
        }
        if needs_group(e) {
            write!(f, "({e})")?;
        } else {
            write!(f, "{e}")?;
        }
    }
    Ok(())
}

fn related(f: &mut Formatter<'_>, r: &Related, field: Option<&str>) -> fmt::Result {
    match &r.source {
        Source::Records(entity) => f.write_str(entity)?,
        Source::Events(name) => write!(f, "event {}", Quoted(name))?,
    }
    if let Some(field) = field {
        write!(f, ".{field}")?;
    }
    if let Some(w) = &r.filter {
        write!(f, " where {w}")?;
    }
    Ok(())
}

impl Display for Comparison {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{} ", self.field)?;
        match &self.op {
            Op::Cmp(op, v) => write!(f, "{} {v}", op.symbol()),
            Op::In(vs) => write!(f, "in {}", List(vs)),
            Op::NotIn(vs) => write!(f, "not in {}", List(vs)),
            Op::Contains(s) => write!(f, "contains {}", Quoted(s)),
            Op::StartsWith(s) => write!(f, "starts_with {}", Quoted(s)),
            Op::IsSet => f.write_str("is set"),
            Op::IsNotSet => f.write_str("is not set"),
            Op::Anniversary(w) => write!(f, "{w}"),
        }
    }
}

impl Display for Window {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Window::Today => f.write_str("is today"),
            Window::ThisMonth => f.write_str("in this month"),
            Window::NextDays(n) => write!(f, "in next {n}d"),
        }
    }
}

impl Display for Path {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Path::Field(n) => f.write_str(n),
            Path::Attr(k) => write!(f, "attr.{k}"),
            Path::ContactField(n) => write!(f, "contact.{n}"),
            Path::ContactAttr(k) => write!(f, "contact.attr.{k}"),
            Path::EventAt => f.write_str("at"),
            // Bare when that reads back as the same property; `at` and
            // `properties` bare mean something else.
            Path::EventProperty(k) if is_ident(k) && k != "at" && k != "properties" => {
                f.write_str(k)
            }
            Path::EventProperty(k) if is_ident(k) => write!(f, "properties.{k}"),
            Path::EventProperty(k) => write!(f, "properties.{}", Quoted(k)),
        }
    }
}

impl Display for Literal {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Text(s) => write!(f, "{}", Quoted(s)),
            // Rust prints the shortest decimal that reads back as the same
            // f64, and never in exponent form, which the lexer does not read.
            Literal::Number(n) => write!(f, "{n}"),
            Literal::Bool(b) => write!(f, "{b}"),
            Literal::Date(d) => write!(f, "{d}"),
            Literal::DateTime(ms) => f.write_str(&time::format_millis(*ms)),
            Literal::Now => f.write_str("now"),
            Literal::Today => f.write_str("today"),
            Literal::Relative { amount, unit } => {
                let sign = if *amount < 0 { '-' } else { '+' };
                write!(f, "{sign}{}{}", amount.unsigned_abs(), unit.letter())
            }
        }
    }
}

/// A string in double quotes with `"` and `\` escaped.
pub(crate) struct Quoted<'a>(pub &'a str);

impl Display for Quoted<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_char('"')?;
        for c in self.0.chars() {
            if c == '"' || c == '\\' {
                f.write_char('\\')?;
            }
            f.write_char(c)?;
        }
        f.write_char('"')
    }
}

struct List<'a>(&'a [Literal]);

impl Display for List<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_char('[')?;
        for (i, v) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{v}")?;
        }
        f.write_char(']')
    }
}
