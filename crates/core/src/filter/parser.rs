//! Recursive descent over the tokens, one function per grammar rule of
//! docs/filters.md.
//!
//! Keywords are recognised by what follows them, not reserved: `count` is an
//! aggregate only before `(`, `has` only before `tag`, `not` is a field only
//! before an operator. So any field name can be written bare, which keeps
//! "print, then parse back" exact.

use super::ast::*;
use super::lexer::{Tok, Token, lex};
use super::{FilterError, Pos};

/// Deeper nesting than this is refused rather than risking the stack; no
/// hand-written audience comes near it.
pub(crate) const MAX_DEPTH: usize = 64;

pub(crate) fn parse(src: &str) -> Result<Expr, FilterError> {
    let toks = lex(src)?;
    let mut p = Parser {
        src,
        toks,
        i: 0,
        depth: 0,
    };
    if matches!(p.peek(), Tok::Eof) {
        return Err(p.err_here("empty filter"));
    }
    let e = p.or_expr(Scope::Subject)?;
    if !matches!(p.peek(), Tok::Eof) {
        return Err(p.unexpected("'and', 'or' or the end of the filter"));
    }
    Ok(e)
}

/// What bare names mean where the parser is.
#[derive(Clone, Copy, PartialEq)]
enum Scope {
    /// The filter's subject, or a related record inside `count(order ...)`.
    Subject,
    /// Inside `event "x" where`: `at` and properties.
    Event,
}

struct Parser<'a> {
    src: &'a str,
    toks: Vec<Token>,
    i: usize,
    depth: usize,
}

fn kw(tok: &Tok, word: &str) -> bool {
    matches!(tok, Tok::Ident(s) if s.eq_ignore_ascii_case(word))
}

impl Parser<'_> {
    fn peek(&self) -> &Tok {
        &self.toks[self.i].tok
    }

    fn peek_n(&self, n: usize) -> &Tok {
        let last = self.toks.len() - 1;
        &self.toks[(self.i + n).min(last)].tok
    }

    fn pos(&self) -> Pos {
        Pos::at(self.src, self.toks[self.i].start)
    }

    fn loc(&self) -> Loc {
        Loc::Text(self.pos())
    }

    fn bump(&mut self) -> Tok {
        let t = self.toks[self.i].tok.clone();
        if self.i < self.toks.len() - 1 {
            self.i += 1;
        }
        t
    }

    fn err_here(&self, message: impl Into<String>) -> FilterError {
        FilterError::at(self.pos(), message)
    }

    fn unexpected(&self, expected: &str) -> FilterError {
        self.err_here(format!(
            "expected {expected}, found {}",
            self.peek().describe()
        ))
    }

    fn at_kw(&self, word: &str) -> bool {
        kw(self.peek(), word)
    }

    fn expect_kw(&mut self, word: &str) -> Result<(), FilterError> {
        if self.at_kw(word) {
            self.bump();
            Ok(())
        } else {
            Err(self.unexpected(&format!("'{word}'")))
        }
    }

    fn expect(&mut self, tok: Tok) -> Result<(), FilterError> {
        if *self.peek() == tok {
            self.bump();
            Ok(())
        } else {
            Err(self.unexpected(&tok.describe()))
        }
    }

    fn string(&mut self, what: &str) -> Result<Name, FilterError> {
        let loc = self.loc();
        match self.peek() {
            Tok::Str(s) => {
                let value = s.clone();
                self.bump();
                Ok(Name { value, loc })
            }
            _ => Err(self.unexpected(what)),
        }
    }

    fn ident(&mut self, what: &str) -> Result<String, FilterError> {
        match self.peek() {
            Tok::Ident(s) => {
                let s = s.clone();
                self.bump();
                Ok(s)
            }
            _ => Err(self.unexpected(what)),
        }
    }

    fn nest(&mut self) -> Result<(), FilterError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err_here(format!(
                "filter is nested more than {MAX_DEPTH} levels deep"
            )));
        }
        Ok(())
    }

    // or_expr = and_expr { "or" and_expr }
    fn or_expr(&mut self, scope: Scope) -> Result<Expr, FilterError> {
        let mut items = vec![self.and_expr(scope)?];
        while self.at_kw("or") {
            self.bump();
            items.push(self.and_expr(scope)?);
        }
        Ok(if items.len() == 1 {
            items.pop().unwrap_or_else(|| unreachable!())
        } else {
            Expr::Or(items)
        })
    }

    // and_expr = unary { "and" unary }
    fn and_expr(&mut self, scope: Scope) -> Result<Expr, FilterError> {
        let mut items = vec![self.unary(scope)?];
        while self.at_kw("and") {
            self.bump();
            items.push(self.unary(scope)?);
        }
        Ok(if items.len() == 1 {
            items.pop().unwrap_or_else(|| unreachable!())
        } else {
            Expr::And(items)
        })
    }

    // unary = "not" unary | primary
    fn unary(&mut self, scope: Scope) -> Result<Expr, FilterError> {
        if self.at_kw("not") && !self.name_then_operator() {
            self.bump();
            self.nest()?;
            let inner = self.unary(scope)?;
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(inner)));
        }
        self.primary(scope)
    }

    /// True when the current identifier is a field name, because an operator
    /// follows it (`not = 1` compares a field called "not").
    fn name_then_operator(&self) -> bool {
        let next = self.peek_n(1);
        matches!(next, Tok::Cmp(_) | Tok::Dot)
            || kw(next, "is")
            || kw(next, "contains")
            || kw(next, "starts_with")
            || (kw(next, "in") && matches!(self.peek_n(2), Tok::LBracket))
            || (kw(next, "not")
                && kw(self.peek_n(2), "in")
                && matches!(self.peek_n(3), Tok::LBracket))
    }

    fn primary(&mut self, scope: Scope) -> Result<Expr, FilterError> {
        let next = self.peek_n(1).clone();
        match self.peek() {
            Tok::LParen => {
                self.bump();
                self.nest()?;
                let e = self.or_expr(scope)?;
                self.depth -= 1;
                self.expect(Tok::RParen)?;
                Ok(e)
            }
            t if kw(t, "has") && kw(&next, "tag") => {
                self.bump();
                self.bump();
                Ok(Expr::HasTag(self.string("a tag in quotes, e.g. \"vip\"")?))
            }
            t if kw(t, "in") && kw(&next, "list") => {
                self.bump();
                self.bump();
                Ok(Expr::InList(self.string("a list slug in quotes")?))
            }
            t if kw(t, "in") && kw(&next, "segment") => {
                self.bump();
                self.bump();
                Ok(Expr::InSegment(self.string("a segment slug in quotes")?))
            }
            t if kw(t, "exists") && next == Tok::LParen => {
                self.bump();
                self.bump();
                let (measure_field, of) = self.related(false)?;
                debug_assert!(measure_field.is_none());
                Ok(Expr::Exists(of))
            }
            Tok::Ident(name)
                if next == Tok::LParen
                    && ["count", "sum", "min", "max", "avg"]
                        .iter()
                        .any(|a| a.eq_ignore_ascii_case(name)) =>
            {
                let func = name.to_ascii_lowercase();
                self.bump();
                self.bump();
                let (field, of) = self.related(func != "count")?;
                let measure = Measure::from_name(&func, field)
                    .ok_or_else(|| self.err_here("bad aggregate"))?;
                let op = match self.peek() {
                    Tok::Cmp(s) => CmpOp::from_symbol(s).unwrap_or(CmpOp::Eq),
                    _ => {
                        return Err(
                            self.unexpected(&format!("a comparison after {func}(...), e.g. >= 1"))
                        );
                    }
                };
                self.bump();
                let value_loc = self.loc();
                let value = self.literal()?;
                Ok(Expr::Aggregate(Aggregate {
                    measure,
                    of,
                    op,
                    value,
                    value_loc,
                }))
            }
            Tok::Ident(_) => self.comparison(scope),
            _ => Err(self.unexpected(
                "a condition (a field, 'not', '(', 'has tag', 'in list', 'count(' ...)",
            )),
        }
    }

    /// Inside `count(` ... `)`: `order`, `order.total` (when the aggregate
    /// needs a field) or `event "name"`, then an optional `where`.
    fn related(&mut self, needs_field: bool) -> Result<(Option<String>, Related), FilterError> {
        let loc = self.loc();
        let (source, field, scope) = if self.at_kw("event") && matches!(self.peek_n(1), Tok::Str(_))
        {
            self.bump();
            let name = self.string("an event name in quotes")?;
            if needs_field {
                return Err(FilterError::at(
                    self.pos_of(&loc),
                    "only count(...) and exists(...) apply to events",
                ));
            }
            (Source::Events(name.value), None, Scope::Event)
        } else {
            let entity = self.ident("a record type such as order, or event \"name\"")?;
            let field = if needs_field {
                if *self.peek() != Tok::Dot {
                    return Err(self.unexpected(&format!("'.' and a field, e.g. {entity}.total")));
                }
                self.bump();
                Some(self.ident("a field name")?)
            } else {
                None
            };
            (Source::Records(entity), field, Scope::Subject)
        };
        let filter = if self.at_kw("where") {
            self.bump();
            self.nest()?;
            let e = self.or_expr(scope)?;
            self.depth -= 1;
            Some(Box::new(e))
        } else {
            None
        };
        if *self.peek() != Tok::RParen {
            return Err(self.unexpected(if filter.is_some() {
                "')'"
            } else {
                "'where' or ')'"
            }));
        }
        self.bump();
        Ok((
            field,
            Related {
                source,
                filter,
                loc,
            },
        ))
    }

    fn pos_of(&self, loc: &Loc) -> Pos {
        match loc {
            Loc::Text(p) => *p,
            _ => self.pos(),
        }
    }

    // path = ident { "." (ident | string) }
    fn path(&mut self, scope: Scope) -> Result<Path, FilterError> {
        let start = self.pos();
        let mut parts = vec![self.ident("a field name")?];
        while *self.peek() == Tok::Dot {
            self.bump();
            match self.peek().clone() {
                Tok::Ident(s) | Tok::Str(s) => {
                    self.bump();
                    parts.push(s);
                }
                _ => return Err(self.unexpected("a field name after '.'")),
            }
        }
        let written = parts.join(".");
        let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
        let path = match (scope, parts.as_slice()) {
            (Scope::Event, ["at"]) => Path::EventAt,
            (Scope::Event, [p]) | (Scope::Event, ["properties", p]) => {
                Path::EventProperty(p.to_string())
            }
            (Scope::Subject, [f]) => Path::Field(f.to_string()),
            (Scope::Subject, ["attr", k]) => Path::Attr(k.to_string()),
            (Scope::Subject, ["contact", "attr", k]) => Path::ContactAttr(k.to_string()),
            (Scope::Subject, ["contact", f]) => Path::ContactField(f.to_string()),
            (Scope::Event, _) => {
                return Err(FilterError::at(
                    start,
                    format!(
                        "unknown event field '{written}' (use at, a property name, or properties.NAME)"
                    ),
                ));
            }
            (Scope::Subject, _) => {
                return Err(FilterError::at(start, format!("unknown field '{written}'")));
            }
        };
        Ok(path)
    }

    fn comparison(&mut self, scope: Scope) -> Result<Expr, FilterError> {
        let loc = self.loc();
        let field = self.path(scope)?;
        let op_loc = self.loc();
        let mut value_loc = Loc::None;
        let op = match self.peek().clone() {
            Tok::Cmp(s) => {
                self.bump();
                value_loc = self.loc();
                Op::Cmp(CmpOp::from_symbol(s).unwrap_or(CmpOp::Eq), self.literal()?)
            }
            t if kw(&t, "contains") || kw(&t, "starts_with") => {
                self.bump();
                value_loc = self.loc();
                let s = self.string("text in quotes")?.value;
                if kw(&t, "contains") {
                    Op::Contains(s)
                } else {
                    Op::StartsWith(s)
                }
            }
            t if kw(&t, "is") => {
                self.bump();
                if self.at_kw("set") {
                    self.bump();
                    Op::IsSet
                } else if self.at_kw("not") {
                    self.bump();
                    self.expect_kw("set")?;
                    Op::IsNotSet
                } else if self.at_kw("today") {
                    self.bump();
                    Op::Anniversary(Window::Today)
                } else {
                    return Err(self.unexpected("'set', 'not set' or 'today'"));
                }
            }
            t if kw(&t, "not") => {
                self.bump();
                self.expect_kw("in")?;
                value_loc = self.loc();
                Op::NotIn(self.literal_list()?)
            }
            t if kw(&t, "in") => {
                self.bump();
                if self.at_kw("this") {
                    self.bump();
                    self.expect_kw("month")?;
                    Op::Anniversary(Window::ThisMonth)
                } else if self.at_kw("next") {
                    self.bump();
                    value_loc = self.loc();
                    Op::Anniversary(Window::NextDays(self.window_days()?))
                } else {
                    value_loc = self.loc();
                    Op::In(self.literal_list()?)
                }
            }
            _ => {
                return Err(self.unexpected(
                    "an operator (=, !=, <, <=, >, >=, in, not in, contains, starts_with, is set, is not set)",
                ));
            }
        };
        Ok(Expr::Compare(Comparison {
            field,
            op,
            loc,
            op_loc,
            value_loc,
        }))
    }

    /// `7d` or `2w` after `in next`.
    fn window_days(&mut self) -> Result<u32, FilterError> {
        match self.peek().clone() {
            Tok::Duration {
                sign: 0,
                amount,
                unit: unit @ (TimeUnit::Days | TimeUnit::Weeks),
            } => {
                let days = if unit == TimeUnit::Weeks {
                    amount * 7
                } else {
                    amount
                };
                let days = u32::try_from(days).map_err(|_| self.err_here("window too long"))?;
                self.bump();
                Ok(days)
            }
            _ => Err(self.unexpected("a number of days or weeks, e.g. 7d or 2w")),
        }
    }

    fn literal_list(&mut self) -> Result<Vec<Literal>, FilterError> {
        self.expect(Tok::LBracket)?;
        let mut items = Vec::new();
        if *self.peek() != Tok::RBracket {
            loop {
                items.push(self.literal()?);
                if *self.peek() == Tok::Comma {
                    self.bump();
                } else {
                    break;
                }
            }
        }
        if *self.peek() != Tok::RBracket {
            return Err(self.unexpected("',' or ']'"));
        }
        self.bump();
        Ok(items)
    }

    // value = string | number | "true" | "false" | date | datetime | "now" | "today" | relative
    fn literal(&mut self) -> Result<Literal, FilterError> {
        let lit = match self.peek().clone() {
            Tok::Str(s) => Literal::Text(s),
            Tok::Num(n) => Literal::Number(n),
            Tok::Date(d) => Literal::Date(d),
            Tok::DateTime(ms) => Literal::DateTime(ms),
            Tok::Duration { sign: 0, .. } => {
                return Err(self.err_here(
                    "a relative time needs a sign: -30d for the past, +7d for the future",
                ));
            }
            Tok::Duration { amount, unit, .. } => Literal::Relative { amount, unit },
            t if kw(&t, "true") => Literal::Bool(true),
            t if kw(&t, "false") => Literal::Bool(false),
            t if kw(&t, "now") => Literal::Now,
            t if kw(&t, "today") => Literal::Today,
            _ => {
                return Err(self.unexpected(
                    "a value (\"text\", a number, true, false, a date, now, today or -30d)",
                ));
            }
        };
        self.bump();
        Ok(lit)
    }
}
