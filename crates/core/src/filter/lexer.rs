//! Splits filter text into tokens. Keywords stay identifiers here: the parser
//! decides from context whether `not` or `count` is a keyword or a field
//! name, so fields named like keywords remain writable.

use jiff::civil::Date;

use super::ast::{MAX_RELATIVE_MILLIS, TimeUnit};
use super::{FilterError, Pos};
use crate::time::{self, Millis};

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    Ident(String),
    Str(String),
    Num(f64),
    Date(Date),
    DateTime(Millis),
    /// `7d` (sign 0), `-30d` (sign -1), `+2w` (sign 1).
    Duration {
        sign: i8,
        amount: i64,
        unit: TimeUnit,
    },
    Cmp(&'static str),
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Dot,
    Eof,
}

impl Tok {
    /// How the token reads in an error message.
    pub(crate) fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("'{s}'"),
            Tok::Str(s) => format!("text \"{s}\""),
            Tok::Num(n) => format!("number {n}"),
            Tok::Date(d) => format!("date {d}"),
            Tok::DateTime(ms) => format!("date-time {}", time::format_millis(*ms)),
            Tok::Duration { .. } => "a duration".to_string(),
            Tok::Cmp(s) => format!("'{s}'"),
            Tok::LParen => "'('".into(),
            Tok::RParen => "')'".into(),
            Tok::LBracket => "'['".into(),
            Tok::RBracket => "']'".into(),
            Tok::Comma => "','".into(),
            Tok::Dot => "'.'".into(),
            Tok::Eof => "end of input".into(),
        }
    }
}

/// A token and the byte offset where it starts.
#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub tok: Tok,
    pub start: usize,
}

pub(crate) fn lex(src: &str) -> Result<Vec<Token>, FilterError> {
    let mut lx = Lexer {
        src,
        i: 0,
        out: Vec::new(),
    };
    lx.run()?;
    Ok(lx.out)
}

struct Lexer<'a> {
    src: &'a str,
    i: usize,
    out: Vec<Token>,
}

impl Lexer<'_> {
    fn err(&self, at: usize, message: impl Into<String>) -> FilterError {
        FilterError::at(Pos::at(self.src, at), message)
    }

    fn peek(&self) -> Option<char> {
        self.src[self.i..].chars().next()
    }

    fn peek_at(&self, n: usize) -> Option<char> {
        self.src[self.i..].chars().nth(n)
    }

    fn push(&mut self, tok: Tok, start: usize) {
        self.out.push(Token { tok, start });
    }

    /// Takes characters while `f` holds and returns them.
    fn take_while(&mut self, f: impl Fn(char) -> bool) -> &str {
        let start = self.i;
        while let Some(c) = self.peek() {
            if !f(c) {
                break;
            }
            self.i += c.len_utf8();
        }
        &self.src[start..self.i]
    }

    fn run(&mut self) -> Result<(), FilterError> {
        loop {
            self.take_while(char::is_whitespace);
            let start = self.i;
            let Some(c) = self.peek() else {
                self.push(Tok::Eof, start);
                return Ok(());
            };
            match c {
                '(' | ')' | '[' | ']' | ',' | '.' => {
                    self.i += 1;
                    let tok = match c {
                        '(' => Tok::LParen,
                        ')' => Tok::RParen,
                        '[' => Tok::LBracket,
                        ']' => Tok::RBracket,
                        ',' => Tok::Comma,
                        _ => Tok::Dot,
                    };
                    self.push(tok, start);
                }
                '=' | '!' | '<' | '>' => {
                    let two = self.src[self.i..].get(..2).unwrap_or("");
                    let sym = match two {
                        "!=" => "!=",
                        "<=" => "<=",
                        ">=" => ">=",
                        // `==` is a common slip; accept it as `=`.
                        "==" => "==",
                        _ => match c {
                            '=' => "=",
                            '<' => "<",
                            '>' => ">",
                            _ => {
                                return Err(
                                    self.err(start, "unexpected '!' (did you mean '!=' or 'not'?)")
                                );
                            }
                        },
                    };
                    self.i += sym.len();
                    self.push(Tok::Cmp(if sym == "==" { "=" } else { sym }), start);
                }
                '"' => {
                    let s = self.string()?;
                    self.push(Tok::Str(s), start);
                }
                c if c.is_ascii_alphabetic() || c == '_' => {
                    let word = self
                        .take_while(|c| c.is_ascii_alphanumeric() || c == '_')
                        .to_string();
                    self.push(Tok::Ident(word), start);
                }
                c if c.is_ascii_digit()
                    || ((c == '-' || c == '+')
                        && self.peek_at(1).is_some_and(|d| d.is_ascii_digit())) =>
                {
                    let tok = self.number_like()?;
                    self.push(tok, start);
                }
                other => return Err(self.err(start, format!("unexpected character '{other}'"))),
            }
        }
    }

    /// A string literal; `\"` and `\\` are the only escapes.
    fn string(&mut self) -> Result<String, FilterError> {
        let start = self.i;
        self.i += 1;
        let mut out = String::new();
        loop {
            let Some(c) = self.peek() else {
                return Err(self.err(start, "unclosed string (missing '\"')"));
            };
            self.i += c.len_utf8();
            match c {
                '"' => return Ok(out),
                '\\' => match self.peek() {
                    Some(e @ ('"' | '\\')) => {
                        self.i += 1;
                        out.push(e);
                    }
                    _ => {
                        return Err(self.err(
                            self.i - 1,
                            "unknown escape in string (only \\\" and \\\\ are allowed)",
                        ));
                    }
                },
                c => out.push(c),
            }
        }
    }

    /// A number, date, date-time or duration: all start with a digit or a
    /// sign followed by a digit.
    fn number_like(&mut self) -> Result<Tok, FilterError> {
        let start = self.i;
        let sign: i8 = match self.peek() {
            Some('-') => {
                self.i += 1;
                -1
            }
            Some('+') => {
                self.i += 1;
                1
            }
            _ => 0,
        };
        let digits = self.take_while(|c| c.is_ascii_digit()).to_string();

        // A date: four digits and a dash, unsigned.
        if sign == 0 && digits.len() == 4 && self.peek() == Some('-') {
            self.take_while(|c| c.is_ascii_digit() || c == '-');
            if matches!(self.peek(), Some('T' | 't')) {
                self.take_while(|c| {
                    c.is_ascii_alphanumeric() || matches!(c, ':' | '.' | '+' | '-')
                });
                let text = &self.src[start..self.i];
                let ts = time::parse_datetime(text).map_err(|_| {
                    self.err(
                        start,
                        format!("bad date-time '{text}' (expected RFC 3339, e.g. 2026-01-31T10:00:00+07:00)"),
                    )
                })?;
                let year = ts.to_zoned(jiff::tz::TimeZone::UTC).year();
                if !(1..=9999).contains(&year) {
                    return Err(self.err(start, format!("date-time '{text}' is out of range")));
                }
                return Ok(Tok::DateTime(time::to_millis(ts)));
            }
            let text = &self.src[start..self.i];
            let date = parse_date(text).ok_or_else(|| {
                self.err(start, format!("bad date '{text}' (expected YYYY-MM-DD)"))
            })?;
            return Ok(Tok::Date(date));
        }

        // A duration: digits and one unit letter.
        if let Some(unit_char) = self.peek().filter(|c| c.is_ascii_alphabetic()) {
            let word = self
                .take_while(|c| c.is_ascii_alphanumeric() || c == '_')
                .to_string();
            let unit = (word.len() == 1)
                .then(|| TimeUnit::from_letter(unit_char))
                .flatten();
            let text = &self.src[start..self.i];
            let Some(unit) = unit else {
                return Err(self.err(
                    start,
                    format!("bad number '{text}' (time units are m, h, d and w)"),
                ));
            };
            let amount = digits
                .parse::<i64>()
                .ok()
                .filter(|a| {
                    a.checked_mul(unit.millis())
                        .is_some_and(|ms| ms <= MAX_RELATIVE_MILLIS)
                })
                .ok_or_else(|| self.err(start, format!("relative time '{text}' is too large")))?;
            return Ok(Tok::Duration {
                sign,
                amount: if sign < 0 { -amount } else { amount },
                unit,
            });
        }

        if self.peek() == Some('.') && self.peek_at(1).is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
            self.take_while(|c| c.is_ascii_digit());
        }
        let text = &self.src[start..self.i];
        match text.parse::<f64>() {
            Ok(n) if n.is_finite() => Ok(Tok::Num(n)),
            _ => Err(self.err(start, format!("bad number '{text}'"))),
        }
    }
}

/// `YYYY-MM-DD`, years 0001 to 9999 (the range both databases and the
/// text form agree on).
pub(crate) fn parse_date(text: &str) -> Option<Date> {
    let ok_shape = text.len() == 10 && text.as_bytes()[4] == b'-' && text.as_bytes()[7] == b'-';
    let date = time::parse_date(text).ok().filter(|_| ok_shape)?;
    (date.year() >= 1).then_some(date)
}
