//! The HTML work done once per email template, never per recipient: CSS
//! inlining, link extraction, the text part and the preheader.
//!
//! HTML tools do not understand template syntax: an HTML parser would move
//! `{% for %}` out of a `<table>` and mangle `title="{{ x | default("y") }}"`.
//! So every piece of template syntax is first swapped for an opaque token
//! (see [`protect`]), the tools work on plain HTML, and the pieces are put
//! back at the end (see [`restore`]). A token is a run of Unicode
//! noncharacters and digits, which parsers keep verbatim; in element content
//! it is wrapped in an HTML comment, the one construct a parser leaves where
//! it stands, even between table rows.

use std::ops::Range;

use super::LinkInfo;
use super::env::MARK;

/// Opens a bare token: `\u{FDD0}12\u{FDD1}`.
const OPEN: char = '\u{FDD0}';
/// Closes any token.
const CLOSE: char = '\u{FDD1}';
/// Opens a token that sits in an HTML comment: `<!--\u{FDD2}12\u{FDD1}-->`.
const OPEN_COMMENT: char = '\u{FDD2}';

/// What a piece of template syntax is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SpanKind {
    /// `{{ ... }}`: prints something.
    Expression,
    /// `{% ... %}`: structure (`if`, `for`, `set`, ...).
    Statement,
    /// `{# ... #}`: prints nothing.
    Comment,
    /// `{% raw %}...{% endraw %}`: prints its content literally.
    Raw,
}

/// Template syntax found in a source, as a byte range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Span {
    pub start: usize,
    pub end: usize,
    pub kind: SpanKind,
}

/// Finds the template syntax in a source that MiniJinja has already
/// accepted. String literals and nested braces are skipped, so
/// `{{ {"a": {"b": 1}} }}` and `{{ "}}" }}` are one span each.
pub(super) fn template_spans(src: &str) -> Vec<Span> {
    let bytes = src.as_bytes();
    let mut spans = Vec::new();
    let mut i = 0;
    while let Some(off) = find_byte(b'{', &bytes[i..]) {
        let start = i + off;
        let kind = match bytes.get(start + 1) {
            Some(b'{') => SpanKind::Expression,
            Some(b'%') => SpanKind::Statement,
            Some(b'#') => SpanKind::Comment,
            _ => {
                i = start + 1;
                continue;
            }
        };
        let end = match kind {
            SpanKind::Comment => src[start + 2..]
                .find("#}")
                .map_or(src.len(), |e| start + 2 + e + 2),
            _ => tag_end(bytes, start + 2, kind == SpanKind::Expression),
        };
        let mut span = Span { start, end, kind };
        if kind == SpanKind::Statement && statement_word(&src[start..end]) == "raw" {
            span.kind = SpanKind::Raw;
            span.end = raw_block_end(src, end);
        }
        spans.push(span);
        i = span.end;
    }
    spans
}

/// Where a `{{`/`{%` tag whose content starts at `from` ends (after its
/// closing delimiter).
fn tag_end(bytes: &[u8], from: usize, expression: bool) -> usize {
    let mut depth = 0usize;
    let mut j = from;
    while j < bytes.len() {
        match bytes[j] {
            q @ (b'"' | b'\'') => {
                j += 1;
                while j < bytes.len() && bytes[j] != q {
                    j += if bytes[j] == b'\\' { 2 } else { 1 };
                }
            }
            b'{' | b'[' | b'(' => depth += 1,
            b']' | b')' => depth = depth.saturating_sub(1),
            b'}' if depth > 0 => depth -= 1,
            b'}' if expression && bytes.get(j + 1) == Some(&b'}') => return j + 2,
            b'%' if !expression && depth == 0 && bytes.get(j + 1) == Some(&b'}') => return j + 2,
            _ => {}
        }
        j += 1;
    }
    bytes.len()
}

/// The first word of a `{% ... %}` tag: `for`, `endif`, `raw`, ...
fn statement_word(tag: &str) -> &str {
    let inner = tag.trim_start_matches("{%").trim_start_matches(['-', '+']);
    let inner = inner.trim_start();
    let end = inner
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(inner.len());
    &inner[..end]
}

/// The end of the `{% endraw %}` that closes a raw block whose opening tag
/// ends at `from`.
fn raw_block_end(src: &str, from: usize) -> usize {
    let mut i = from;
    while let Some(off) = src[i..].find("{%") {
        let start = i + off;
        let end = tag_end(src.as_bytes(), start + 2, false);
        if statement_word(&src[start..end]) == "endraw" {
            return end;
        }
        i = start + 2;
    }
    src.len()
}

fn find_byte(needle: u8, haystack: &[u8]) -> Option<usize> {
    haystack.iter().position(|&b| b == needle)
}

/// A piece of template syntax taken out of the HTML, with where its parts
/// came from in the author's source (for error positions).
#[derive(Debug, Clone)]
pub(super) struct Piece {
    pub text: String,
    pub kind: SpanKind,
    pub origins: Vec<Origin>,
}

/// `text[start..end]` of a piece was written at byte `source` of the source.
#[derive(Debug, Clone, Copy)]
pub(super) struct Origin {
    pub start: usize,
    pub end: usize,
    pub source: usize,
}

/// The HTML of a template with its template syntax swapped for tokens.
#[derive(Debug)]
pub(super) struct Protected {
    pub html: String,
    pub pieces: Vec<Piece>,
    /// For each `<table>` of the source, in order: whether it has an
    /// explicit `<tbody>`, `<thead>` or `<tfoot>`.
    tables_with_sections: Vec<bool>,
}

/// Why the HTML could not be prepared, and at which byte of the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct HtmlError {
    pub offset: Option<usize>,
    pub message: String,
}

impl HtmlError {
    fn at(offset: usize, message: impl Into<String>) -> Self {
        Self {
            offset: Some(offset),
            message: message.into(),
        }
    }
}

/// Where the HTML tokenizer stands, as far as we need to know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Data,
    Comment,
    /// `<!DOCTYPE ...>`, `<?...>`.
    Declaration,
    /// Inside an element whose content is not markup (`<style>`, `<title>`).
    RawText(&'static str),
    TagName {
        closing: bool,
    },
    BeforeAttribute,
    AttributeName,
    AfterAttributeName,
    BeforeValue,
    Quoted(u8),
    Unquoted,
}

/// Elements whose content the tokenizer reads as text, not markup.
const RAW_TEXT: &[&str] = &[
    "style", "script", "title", "textarea", "xmp", "iframe", "noembed", "noframes", "noscript",
];

/// Swaps each template span for a token the HTML tools will carry along.
///
/// Template syntax in element content becomes a comment token (which a
/// parser leaves in place, even between table rows); in attribute values,
/// comments and raw text it becomes a bare token. Syntax between attributes
/// (`<td {% if x %}class="a"{% endif %}>`) is refused: the inliner rewrites
/// and reorders attributes, so it could not be put back faithfully.
pub(super) fn protect(src: &str, spans: &[Span]) -> Result<Protected, HtmlError> {
    if let Some(at) = src.find([OPEN, CLOSE, OPEN_COMMENT]) {
        return Err(HtmlError::at(
            at,
            "the HTML contains a reserved character (U+FDD0-U+FDD2)",
        ));
    }
    let bytes = src.as_bytes();
    let mut out = String::with_capacity(src.len() + spans.len() * 12);
    let mut pieces = Vec::with_capacity(spans.len());
    let mut state = State::Data;
    let mut tag_start = 0;
    let mut tag_name = String::new();
    let mut tag_closing = false;
    let mut has_body = false;
    let mut tables: Vec<usize> = Vec::new();
    let mut tables_with_sections = Vec::new();
    let mut next_span = spans.iter().peekable();
    let mut copied = 0;
    let mut i = 0;

    while i < bytes.len() {
        if let Some(span) = next_span.next_if(|s| s.start == i) {
            out.push_str(&src[copied..i]);
            let form = match state {
                State::Data => Some(true),
                State::Comment | State::Declaration | State::RawText(_) => Some(false),
                State::Quoted(_) | State::Unquoted => Some(false),
                State::BeforeValue => {
                    state = State::Unquoted;
                    Some(false)
                }
                _ if span.kind == SpanKind::Comment => None,
                _ => {
                    return Err(HtmlError::at(
                        span.start,
                        "template syntax inside an HTML tag must be part of an attribute \
                         value (for example class=\"{% if vip %}vip{% endif %}\"), so that \
                         CSS can be inlined",
                    ));
                }
            };
            if let Some(in_comment) = form {
                let index = pieces.len();
                pieces.push(Piece {
                    text: src[span.start..span.end].to_string(),
                    kind: span.kind,
                    origins: vec![Origin {
                        start: 0,
                        end: span.end - span.start,
                        source: span.start,
                    }],
                });
                if in_comment {
                    push_comment_token(&mut out, index);
                } else {
                    push_token(&mut out, index);
                }
            }
            i = span.end;
            copied = i;
            continue;
        }

        let b = bytes[i];
        let rest = &bytes[i..];
        match state {
            State::Data => {
                if rest.starts_with(b"<!--") {
                    state = State::Comment;
                    i += 4;
                    continue;
                } else if rest.starts_with(b"<!") || rest.starts_with(b"<?") {
                    state = State::Declaration;
                } else if b == b'<' && bytes.get(i + 1).is_some_and(u8::is_ascii_alphabetic) {
                    state = State::TagName { closing: false };
                    tag_start = i + 1;
                } else if rest.starts_with(b"</")
                    && bytes.get(i + 2).is_some_and(u8::is_ascii_alphabetic)
                {
                    state = State::TagName { closing: true };
                    tag_start = i + 2;
                    i += 1;
                }
            }
            State::Comment => {
                if rest.starts_with(b"-->") {
                    state = State::Data;
                    i += 3;
                    continue;
                }
            }
            State::Declaration => {
                if b == b'>' {
                    state = State::Data;
                }
            }
            State::RawText(name) => {
                if rest.starts_with(b"</")
                    && rest.len() >= 2 + name.len()
                    && rest[2..2 + name.len()].eq_ignore_ascii_case(name.as_bytes())
                {
                    state = State::TagName { closing: true };
                    tag_start = i + 2;
                    i += 1;
                }
            }
            State::TagName { closing } => {
                if b.is_ascii_whitespace() || b == b'/' || b == b'>' {
                    tag_name = src[tag_start..i].to_ascii_lowercase();
                    tag_closing = closing;
                    match (closing, tag_name.as_str()) {
                        (false, "table") => {
                            tables.push(tables_with_sections.len());
                            tables_with_sections.push(false);
                        }
                        (false, "tbody" | "thead" | "tfoot") => {
                            if let Some(&t) = tables.last() {
                                tables_with_sections[t] = true;
                            }
                        }
                        (true, "table") => {
                            tables.pop();
                        }
                        (false, "body") => has_body = true,
                        _ => {}
                    }
                    state = if b == b'>' {
                        after_tag(closing, &tag_name)
                    } else {
                        State::BeforeAttribute
                    };
                }
            }
            State::BeforeAttribute | State::AttributeName | State::AfterAttributeName => {
                state = match (state, b) {
                    (_, b'>') => after_tag(tag_closing, &tag_name),
                    (State::AttributeName | State::AfterAttributeName, b'=') => State::BeforeValue,
                    (State::AttributeName, c) if c.is_ascii_whitespace() => {
                        State::AfterAttributeName
                    }
                    (_, b'/') => State::BeforeAttribute,
                    (State::BeforeAttribute | State::AfterAttributeName, c)
                        if c.is_ascii_whitespace() =>
                    {
                        state
                    }
                    _ => State::AttributeName,
                };
            }
            State::BeforeValue => {
                state = match b {
                    b'"' | b'\'' => State::Quoted(b),
                    b'>' => after_tag(tag_closing, &tag_name),
                    c if c.is_ascii_whitespace() => state,
                    _ => State::Unquoted,
                };
            }
            State::Quoted(q) => {
                if b == q {
                    state = State::BeforeAttribute;
                }
            }
            State::Unquoted => {
                if b.is_ascii_whitespace() {
                    state = State::BeforeAttribute;
                } else if b == b'>' {
                    state = after_tag(tag_closing, &tag_name);
                }
            }
        }
        i += 1;
    }
    out.push_str(&src[copied..]);
    if !has_body {
        // A fragment: without this, a parser would open <html> and <body>
        // only at the first element, after any leading template tag, and
        // `{% if %}<p>..</p>{% endif %}` would wrap the document's start.
        out.insert_str(0, "<body>");
    }
    Ok(Protected {
        html: out,
        pieces,
        tables_with_sections,
    })
}

/// The state after a tag's `>`.
fn after_tag(closing: bool, name: &str) -> State {
    match RAW_TEXT.iter().find(|r| **r == name) {
        Some(raw) if !closing => State::RawText(raw),
        _ => State::Data,
    }
}

fn push_token(out: &mut String, index: usize) {
    use std::fmt::Write;
    let _ = write!(out, "{OPEN}{index}{CLOSE}");
}

fn push_comment_token(out: &mut String, index: usize) {
    use std::fmt::Write;
    let _ = write!(out, "<!--{OPEN_COMMENT}{index}{CLOSE}-->");
}

/// A token found in a string.
#[derive(Debug, Clone)]
struct Token {
    /// The whole token, with its `<!--`/`-->` when it is in comment form.
    range: Range<usize>,
    index: usize,
    in_comment: bool,
}

/// Every token in `s`, in order.
fn tokens(s: &str) -> Vec<Token> {
    let mut found = Vec::new();
    let mut i = 0;
    while let Some(off) = s[i..].find([OPEN, OPEN_COMMENT]) {
        let start = i + off;
        let opener = s[start..].chars().next().unwrap_or(OPEN);
        let digits_start = start + opener.len_utf8();
        let digits_len = s[digits_start..]
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(s.len() - digits_start);
        let close = digits_start + digits_len;
        i = digits_start;
        if digits_len == 0 || !s[close..].starts_with(CLOSE) {
            continue;
        }
        let Ok(index) = s[digits_start..close].parse() else {
            continue;
        };
        let mut range = start..close + CLOSE.len_utf8();
        let wrapped = opener == OPEN_COMMENT
            && s[..range.start].ends_with("<!--")
            && s[range.end..].starts_with("-->");
        if wrapped {
            range = range.start - 4..range.end + 3;
        }
        i = range.end;
        found.push(Token {
            range,
            index,
            in_comment: wrapped,
        });
    }
    found
}

/// Where the pieces of the compiled source came from: compiled byte ranges
/// mapped to bytes of the author's source, so that a render error points at
/// the line the author wrote.
#[derive(Debug, Clone, Default)]
pub(super) struct SourceMap(Vec<(Range<usize>, usize)>);

impl SourceMap {
    /// The source byte that produced compiled byte `offset`, if it came
    /// from the author's template syntax.
    pub fn locate(&self, offset: usize) -> Option<usize> {
        self.0
            .iter()
            .find(|(r, _)| r.contains(&offset))
            .map(|(r, source)| source + (offset - r.start))
    }
}

/// Puts the template syntax back in place of its tokens.
pub(super) fn restore(s: &str, pieces: &[Piece], mut map: Option<&mut SourceMap>) -> String {
    let mut out =
        String::with_capacity(s.len() + pieces.iter().map(|p| p.text.len()).sum::<usize>());
    let mut copied = 0;
    for token in tokens(s) {
        let Some(piece) = pieces.get(token.index) else {
            continue;
        };
        out.push_str(&s[copied..token.range.start]);
        if let Some(map) = map.as_deref_mut() {
            for o in &piece.origins {
                map.0
                    .push((out.len() + o.start..out.len() + o.end, o.source));
            }
        }
        out.push_str(&piece.text);
        copied = token.range.end;
    }
    out.push_str(&s[copied..]);
    out
}

/// Inlines the `<style>` rules of protected HTML into `style` attributes.
///
/// `@media` and other at-rules stay in a `<style>` element for the clients
/// that honour them; `<link>` stylesheets are left alone and never fetched.
/// Fails when the parser dropped a token, naming the template syntax it
/// belonged to.
pub(super) fn inline_css(protected: &Protected) -> Result<String, HtmlError> {
    let inliner = css_inline::CSSInliner::options()
        .keep_at_rules(true)
        .keep_link_tags(true)
        .load_remote_stylesheets(false)
        .build();
    let inlined = inliner.inline(&protected.html).map_err(|e| HtmlError {
        offset: None,
        message: format!("could not inline CSS: {e}"),
    })?;
    let inlined = fix_implied_tbody(&inlined, &protected.tables_with_sections);

    let mut seen = vec![0u32; protected.pieces.len()];
    for t in tokens(&inlined) {
        if let Some(n) = seen.get_mut(t.index) {
            *n += 1;
        }
    }
    if let Some(lost) = seen.iter().position(|&n| n != 1) {
        let piece = &protected.pieces[lost];
        return Err(HtmlError {
            offset: piece.origins.first().map(|o| o.source),
            message: format!(
                "could not inline CSS around `{}`: the HTML around it is not well-formed \
                 (it must sit inside an element or an attribute value)",
                piece.text
            ),
        });
    }
    Ok(inlined)
}

/// An HTML parser adds the `<tbody>` a table without one needs, right before
/// the first `<tr>`, so `<table>{% for %}<tr>..</tr>{% endfor %}</table>`
/// comes out with the loop opening outside the `<tbody>` and closing inside
/// it. Moving the added `<tbody>` before the template tags that precede it
/// keeps each loop or condition within one element, as the author meant.
fn fix_implied_tbody(html: &str, tables_with_sections: &[bool]) -> String {
    let mut out = String::with_capacity(html.len());
    let mut copied = 0;
    let mut table_count = 0;
    let mut open_tables: Vec<bool> = Vec::new();
    for item in walk(html) {
        match item {
            Item::Start { name: "table", .. } => {
                open_tables.push(
                    tables_with_sections
                        .get(table_count)
                        .copied()
                        .unwrap_or(true),
                );
                table_count += 1;
            }
            Item::End { name: "table", .. } => {
                open_tables.pop();
            }
            Item::Start {
                name: "tbody",
                range,
            } if open_tables.last() == Some(&false) && &html[range.clone()] == "<tbody>" => {
                // Walk back over whitespace and comment tokens.
                let mut start = range.start;
                while let Some(open) = html[copied..start]
                    .trim_end()
                    .strip_suffix("-->")
                    .and_then(|before| before.rfind("<!--"))
                {
                    let open = copied + open;
                    let comment = html[open..start].trim_end();
                    match tokens(comment).first() {
                        Some(t) if t.in_comment && t.range == (0..comment.len()) => start = open,
                        _ => break,
                    }
                }
                if start < range.start {
                    out.push_str(&html[copied..start]);
                    out.push_str("<tbody>");
                    out.push_str(&html[start..range.start]);
                    copied = range.end;
                }
            }
            _ => {}
        }
    }
    out.push_str(&html[copied..]);
    out
}

/// One item of serialised HTML.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Item<'a> {
    Start { name: &'a str, range: Range<usize> },
    End { name: &'a str, range: Range<usize> },
    Comment { range: Range<usize> },
}

/// The tags and comments of HTML as the inliner serialises it: lower-case
/// names, attribute values in double quotes, `<` escaped in text.
fn walk(html: &str) -> Vec<Item<'_>> {
    let bytes = html.as_bytes();
    let mut items = Vec::new();
    let mut i = 0;
    while let Some(off) = find_byte(b'<', &bytes[i..]) {
        let start = i + off;
        let rest = &html[start..];
        if let Some(comment) = rest.strip_prefix("<!--") {
            let end = comment
                .find("-->")
                .map_or(html.len(), |e| start + 4 + e + 3);
            items.push(Item::Comment { range: start..end });
            i = end;
        } else if rest.starts_with("</") {
            let (name, end) = match rest.find('>') {
                Some(e) => (html[start + 2..start + e].trim(), start + e + 1),
                None => (html[start + 2..].trim(), html.len()),
            };
            items.push(Item::End {
                name,
                range: start..end,
            });
            i = end;
        } else if bytes.get(start + 1).is_some_and(u8::is_ascii_alphabetic) {
            let name_end = rest
                .find(|c: char| c.is_ascii_whitespace() || c == '>' || c == '/')
                .map_or(html.len(), |e| start + e);
            let name = &html[start + 1..name_end];
            let mut j = name_end;
            while j < bytes.len() && bytes[j] != b'>' {
                if bytes[j] == b'"' {
                    j += find_byte(b'"', &bytes[j + 1..]).map_or(bytes.len(), |e| e + 1);
                }
                j += 1;
            }
            let end = (j + 1).min(html.len());
            items.push(Item::Start {
                name,
                range: start..end,
            });
            i = end;
            if let Some(raw) = RAW_TEXT
                .iter()
                .find(|r| **r == name && **r != "title" && **r != "textarea")
            {
                let close = format!("</{raw}");
                i = html[i..].find(&close).map_or(html.len(), |e| i + e);
            }
        } else {
            i = start + 1;
        }
    }
    items
}

/// Elements with no content and no closing tag.
fn is_void(name: &str) -> bool {
    matches!(
        name,
        "area"
            | "base"
            | "br"
            | "col"
            | "embed"
            | "hr"
            | "img"
            | "input"
            | "link"
            | "meta"
            | "param"
            | "source"
            | "track"
            | "wbr"
    )
}

/// The attributes of a serialised start tag: (name, value range in `html`).
fn attributes<'a>(html: &'a str, tag: &Range<usize>) -> Vec<(&'a str, Range<usize>)> {
    let s = &html[tag.clone()];
    let mut attrs = Vec::new();
    let mut i = s
        .find(|c: char| c.is_ascii_whitespace() || c == '>' || c == '/')
        .unwrap_or(s.len());
    let bytes = s.as_bytes();
    while i < bytes.len() {
        while i < bytes.len() && (bytes[i].is_ascii_whitespace() || bytes[i] == b'/') {
            i += 1;
        }
        if i >= bytes.len() || bytes[i] == b'>' {
            break;
        }
        let name_start = i;
        while i < bytes.len()
            && !matches!(bytes[i], b'=' | b'>' | b'/')
            && !bytes[i].is_ascii_whitespace()
        {
            i += 1;
        }
        let name = &s[name_start..i];
        if bytes.get(i) == Some(&b'=') && bytes.get(i + 1) == Some(&b'"') {
            let value_start = i + 2;
            let value_end =
                find_byte(b'"', &bytes[value_start..]).map_or(bytes.len(), |e| value_start + e);
            attrs.push((name, tag.start + value_start..tag.start + value_end));
            i = value_end + 1;
        } else {
            attrs.push((name, tag.start + i..tag.start + i));
        }
    }
    attrs
}

/// Decodes the character references the inliner writes (`&amp;`, `&lt;`,
/// `&gt;`, `&quot;`, `&nbsp;`) and numeric ones.
fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let decoded = rest.find(';').filter(|&semi| semi <= 10).and_then(|semi| {
            let ch = match &rest[1..semi] {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some('\u{A0}'),
                num if num.starts_with("#x") || num.starts_with("#X") => {
                    u32::from_str_radix(&num[2..], 16)
                        .ok()
                        .and_then(char::from_u32)
                }
                num if num.starts_with('#') => num[1..].parse().ok().and_then(char::from_u32),
                _ => None,
            };
            ch.map(|c| (c, semi + 1))
        });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The name of the filter that hands a rendered link to the tracker.
pub(super) const LINK_FILTER: &str = "__swell_link";

/// Starts the mark of a link whose URL has no template syntax:
/// `MARK s INDEX MARK`, filled in after rendering without any template work
/// (most links of a marketing email are fixed; tracking adds the
/// per-recipient part).
pub(super) const STATIC_LINK: char = 's';

/// Finds the tracked links of inlined, protected HTML and swaps each href
/// for a call the renderer answers per recipient: a mark for a fixed URL,
/// or a filter that records the URL as rendered for one that holds template
/// syntax.
///
/// A link is tracked when its href is an `http(s)` URL or starts with a
/// template expression (`{{ product.url }}`; the renderer then rewrites it
/// only if it renders to an `http(s)` URL). Left alone: `mailto:`, `tel:`,
/// `#anchors`, relative URLs, and hrefs that start with
/// `{{ unsubscribe_url }}` or `{{ view_in_browser_url }}`. Links inside
/// comments (Outlook's `<!--[if mso]>` VML buttons) are not seen and so not
/// tracked.
pub(super) fn extract_links(html: &str, pieces: &mut Vec<Piece>) -> (String, Vec<LinkInfo>) {
    let items = walk(html);
    let mut links = Vec::new();
    let mut out = String::with_capacity(html.len());
    let mut copied = 0;
    for (n, item) in items.iter().enumerate() {
        let Item::Start { name: "a", range } = item else {
            continue;
        };
        let Some((_, href)) = attributes(html, range)
            .into_iter()
            .find(|(name, _)| *name == "href")
        else {
            continue;
        };
        let (url_template, url_origins) = href_template(&html[href.clone()], pieces);
        if !is_tracked(&url_template) {
            continue;
        }
        let inner_end = items[n + 1..]
            .iter()
            .find_map(|i| match i {
                Item::End { name: "a", range } => Some(range.start),
                _ => None,
            })
            .unwrap_or(html.len());
        let text = link_text(&html[range.end..inner_end], pieces);

        let index = links.len();
        let token = pieces.len();
        pieces.push(if url_origins.is_empty() {
            // A fixed URL needs no rendering: a mark the renderer fills in.
            Piece {
                text: format!("{MARK}{STATIC_LINK}{index}{MARK}"),
                kind: SpanKind::Expression,
                origins: Vec::new(),
            }
        } else {
            let head = format!("{{% filter {LINK_FILTER}({index}) %}}{{% autoescape false %}}");
            let tail = "{% endautoescape %}{% endfilter %}";
            let origins = url_origins
                .iter()
                .map(|o| Origin {
                    start: o.start + head.len(),
                    end: o.end + head.len(),
                    source: o.source,
                })
                .collect();
            Piece {
                text: format!("{head}{url_template}{tail}"),
                kind: SpanKind::Expression,
                origins,
            }
        });
        out.push_str(&html[copied..href.start]);
        push_token(&mut out, token);
        copied = href.end;
        links.push(LinkInfo {
            index,
            url_template: url_template.trim().to_string(),
            text,
        });
    }
    out.push_str(&html[copied..]);
    (out, links)
}

/// An href as template source: entities decoded (the URL is printed raw,
/// then escaped once after tracking rewrote it) and template syntax back in.
fn href_template(value: &str, pieces: &[Piece]) -> (String, Vec<Origin>) {
    let mut url = String::with_capacity(value.len());
    let mut origins = Vec::new();
    let mut copied = 0;
    for t in tokens(value) {
        url.push_str(&decode_entities(&value[copied..t.range.start]));
        if let Some(piece) = pieces.get(t.index) {
            for o in &piece.origins {
                origins.push(Origin {
                    start: url.len() + o.start,
                    end: url.len() + o.end,
                    source: o.source,
                });
            }
            url.push_str(&piece.text);
        }
        copied = t.range.end;
    }
    url.push_str(&decode_entities(&value[copied..]));
    (url, origins)
}

/// Whether an href (as template source) is one the tracker should rewrite.
fn is_tracked(url: &str) -> bool {
    let url = url.trim();
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        return true;
    }
    if !url.starts_with("{{") {
        return false;
    }
    // An href that starts with one of the special URLs is left alone.
    let first = url[2..].find("}}").map(|end| {
        url[2..2 + end].trim_matches(|c: char| c == '-' || c == '+' || c.is_whitespace())
    });
    !matches!(first, Some("unsubscribe_url" | "view_in_browser_url"))
}

/// The visible text of a link (its image's alt text when it has none), with
/// template syntax back in: "Xem {{ product.name }}".
fn link_text(inner: &str, pieces: &[Piece]) -> String {
    let mut text = String::new();
    let mut alt = None;
    let mut copied = 0;
    for item in walk(inner) {
        let range = match &item {
            Item::Start { range, .. } | Item::End { range, .. } => range.clone(),
            Item::Comment { .. } => continue,
        };
        text.push_str(&inner[copied..range.start]);
        text.push(' ');
        if let Item::Start { name: "img", range } = &item
            && alt.is_none()
        {
            alt = attributes(inner, range)
                .into_iter()
                .find(|(n, _)| *n == "alt")
                .map(|(_, v)| inner[v].to_string());
        }
        copied = range.end;
    }
    text.push_str(&inner[copied..]);
    let clean = |s: &str| {
        let restored = decode_entities(&restore(s, pieces, None));
        restored.split_whitespace().collect::<Vec<_>>().join(" ")
    };
    let text = clean(&text);
    if text.is_empty() {
        alt.map(|a| clean(&a)).unwrap_or_default()
    } else {
        text
    }
}

/// Elements whose direct content a parser moves out (text in a table that
/// is not in a cell is "foster-parented" before the table).
fn is_table_context(name: &str) -> bool {
    matches!(
        name,
        "table" | "tbody" | "thead" | "tfoot" | "tr" | "colgroup"
    )
}

/// The plain-text part, still protected (put the template syntax back with
/// [`restore`]), made from inlined, protected, link-swapped HTML with
/// `html2text`.
///
/// Tracked links show their (tracked) URL after the text, `Xem ngay
/// (https://t.example/c/..)`, through the same per-recipient call as in the
/// HTML. Template tags between table rows are moved into the next cell (or
/// after the table), where a text renderer keeps them, so a row loop stays
/// a loop in the text. Statements the renderer dropped (those in `<head>`:
/// `{% set %}`, macros) are put first, so what they define still exists.
pub(super) fn text_from_html(html: &str, pieces: &[Piece]) -> Result<String, HtmlError> {
    let flat = flatten_tokens(html);
    let text = html2text::config::with_decorator(TextDecorator::default())
        .raw_mode(true)
        .no_link_wrapping()
        .allow_width_overflow()
        .string_from_read(flat.as_bytes(), 78)
        .map_err(|e| HtmlError {
            offset: None,
            message: format!("could not make the text part from the HTML: {e}"),
        })?;

    let text = join_tag_lines(&text, pieces);

    let mut kept = vec![false; pieces.len()];
    for t in tokens(&text) {
        if let Some(k) = kept.get_mut(t.index) {
            *k = true;
        }
    }
    let mut source = String::new();
    for (index, piece) in pieces.iter().enumerate() {
        if !kept[index] && piece.kind == SpanKind::Statement {
            push_token(&mut source, index);
        }
    }
    source.push_str(&text);
    Ok(source)
}

/// Lines of rendered text that hold nothing but template tags (`{% for %}`
/// between list items comes out as an item of its own, "- {% for %}") are
/// merged into the next line, so the tags leave no empty line or stray
/// bullet behind in the message.
fn join_tag_lines(text: &str, pieces: &[Piece]) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let content = line.trim();
        let content = content
            .strip_prefix("- ")
            .or_else(|| {
                let digits = content.find(|c: char| !c.is_ascii_digit()).unwrap_or(0);
                content[digits..].strip_prefix(". ").filter(|_| digits > 0)
            })
            .unwrap_or(content);
        let found = tokens(content);
        let only_tags = !found.is_empty()
            && found.iter().all(|t| {
                pieces
                    .get(t.index)
                    .is_some_and(|p| matches!(p.kind, SpanKind::Statement | SpanKind::Comment))
            })
            && {
                let mut rest = content.to_string();
                for t in found.iter().rev() {
                    rest.replace_range(t.range.clone(), "");
                }
                rest.trim().is_empty()
            };
        if only_tags {
            for t in &found {
                out.push_str(&content[t.range.clone()]);
            }
        } else {
            out.push_str(line);
        }
    }
    out
}

/// Turns comment tokens into bare ones a text renderer keeps, moving those
/// between table rows to the next place text may stand.
fn flatten_tokens(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut open: Vec<&str> = Vec::new();
    let mut pending: Vec<usize> = Vec::new();
    let mut copied = 0;
    let all_tokens = tokens(html);
    let mut next_token = all_tokens.iter().peekable();
    for item in walk(html) {
        match item {
            Item::Comment { range } => {
                while next_token
                    .next_if(|t| t.range.start < range.start)
                    .is_some()
                {}
                let Some(token) = next_token.next_if(|t| t.range == range && t.in_comment) else {
                    // An author's comment: kept as it is.
                    continue;
                };
                out.push_str(&html[copied..range.start]);
                copied = range.end;
                if open.last().is_some_and(|e| is_table_context(e)) {
                    pending.push(token.index);
                } else {
                    push_token(&mut out, token.index);
                }
            }
            Item::Start { name, range } => {
                if !is_void(name) {
                    open.push(name);
                }
                if matches!(name, "td" | "th" | "caption") && !pending.is_empty() {
                    out.push_str(&html[copied..range.end]);
                    copied = range.end;
                    for index in pending.drain(..) {
                        push_token(&mut out, index);
                    }
                }
            }
            Item::End { name, range } => {
                if let Some(at) = open.iter().rposition(|e| *e == name) {
                    open.truncate(at);
                }
                if name == "table" && !pending.is_empty() {
                    out.push_str(&html[copied..range.end]);
                    copied = range.end;
                    for index in pending.drain(..) {
                        push_token(&mut out, index);
                    }
                }
            }
        }
    }
    out.push_str(&html[copied..]);
    for index in pending {
        push_token(&mut out, index);
    }
    out
}

/// Plain text for email: no Markdown marks, links followed by their URL in
/// brackets, images by their alt text.
#[derive(Debug, Clone, Default)]
struct TextDecorator {
    links: Vec<String>,
}

impl html2text::render::TextDecorator for TextDecorator {
    type Annotation = ();

    fn decorate_link_start(&mut self, url: &str) -> (String, ()) {
        self.links.push(url.to_string());
        (String::new(), ())
    }

    fn decorate_link_end(&mut self) -> String {
        match self.links.pop() {
            Some(url) if !url.is_empty() && !url.starts_with('#') => format!(" ({url})"),
            _ => String::new(),
        }
    }

    fn decorate_em_start(&self) -> (String, ()) {
        (String::new(), ())
    }

    fn decorate_em_end(&self) -> String {
        String::new()
    }

    fn decorate_strong_start(&self) -> (String, ()) {
        (String::new(), ())
    }

    fn decorate_strong_end(&self) -> String {
        String::new()
    }

    fn decorate_strikeout_start(&self) -> (String, ()) {
        (String::new(), ())
    }

    fn decorate_strikeout_end(&self) -> String {
        String::new()
    }

    fn decorate_code_start(&self) -> (String, ()) {
        (String::new(), ())
    }

    fn decorate_code_end(&self) -> String {
        String::new()
    }

    fn decorate_preformat_first(&self) {}

    fn decorate_preformat_cont(&self) {}

    fn decorate_image(&mut self, _src: &str, title: &str) -> (String, ()) {
        (title.to_string(), ())
    }

    fn header_prefix(&self, _level: usize) -> String {
        String::new()
    }

    fn quote_prefix(&self) -> String {
        "> ".to_string()
    }

    fn unordered_item_prefix(&self) -> String {
        "- ".to_string()
    }

    fn ordered_item_prefix(&self, i: i64) -> String {
        format!("{i}. ")
    }

    fn make_subblock_decorator(&self) -> Self {
        Self::default()
    }
}

/// The hidden element that carries the preheader, the preview line inbox
/// lists show after the subject. `mark` stands where the rendered, escaped
/// preheader goes; the trailing `&zwnj;&nbsp;` run keeps clients from
/// filling the rest of the preview with the start of the body.
pub(super) fn preheader_element(mark: &str) -> String {
    let mut div = String::from(
        "<div style=\"display:none;font-size:1px;line-height:1px;max-height:0;max-width:0;\
         opacity:0;overflow:hidden;mso-hide:all;\">",
    );
    div.push_str(mark);
    for _ in 0..30 {
        div.push_str("&zwnj;&nbsp;");
    }
    div.push_str("</div>");
    div
}

/// Inserts `element` as the first child of `<body>` (the inliner always
/// writes one).
pub(super) fn insert_after_body(html: &str, element: &str) -> String {
    let at = walk(html)
        .into_iter()
        .find_map(|i| match i {
            Item::Start {
                name: "body",
                range,
            } => Some(range.end),
            _ => None,
        })
        .unwrap_or(0);
    let mut out = String::with_capacity(html.len() + element.len());
    out.push_str(&html[..at]);
    out.push_str(element);
    out.push_str(&html[at..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<(&str, SpanKind)> {
        template_spans(src)
            .into_iter()
            .map(|s| (&src[s.start..s.end], s.kind))
            .collect()
    }

    #[test]
    fn spans_skip_strings_and_nested_braces() {
        let src = r#"a {{ "}}" }} b {% if x %}{{ {"k": {"v": 1}} }}{% endif %}{# c #}{% raw %}{{ x }}{% endraw %}"#;
        assert_eq!(
            kinds(src),
            vec![
                (r#"{{ "}}" }}"#, SpanKind::Expression),
                ("{% if x %}", SpanKind::Statement),
                (r#"{{ {"k": {"v": 1}} }}"#, SpanKind::Expression),
                ("{% endif %}", SpanKind::Statement),
                ("{# c #}", SpanKind::Comment),
                ("{% raw %}{{ x }}{% endraw %}", SpanKind::Raw),
            ]
        );
    }

    #[test]
    fn protection_round_trips_through_the_inliner() {
        let src = r#"<p title="{{ x | default("y") }}">Hi {{ name }}</p><table>{% for r in rows %}<tr><td>{{ r }}</td></tr>{% endfor %}</table>"#;
        let protected = protect(src, &template_spans(src)).unwrap();
        assert!(!protected.html.contains("{{"));
        let inlined = inline_css(&protected).unwrap();
        let back = restore(&inlined, &protected.pieces, None);
        assert!(
            back.contains(r#"<p title="{{ x | default("y") }}">Hi {{ name }}</p>"#),
            "{back}"
        );
        assert!(
            back.contains("<table><tbody>{% for r in rows %}<tr><td>{{ r }}</td></tr>{% endfor %}</tbody></table>"),
            "{back}"
        );
    }

    #[test]
    fn syntax_between_attributes_is_refused_with_its_position() {
        let src = "<p>\n<td {% if x %}class=\"a\"{% endif %}>";
        let err = protect(src, &template_spans(src)).unwrap_err();
        assert_eq!(err.offset, Some(8));
    }

    proptest::proptest! {
        /// Whatever the mix of markup and template syntax, protecting and
        /// restoring gives back the source, and only template syntax is
        /// taken out.
        #[test]
        fn protect_then_restore_is_the_identity(
            parts in proptest::collection::vec(proptest::sample::select(vec![
                "<p>", "</p>", "Chào bạn ", "{{ a }}", "{% if b %}", "{% endif %}",
                "<a href=\"https://x.vn/{{ c }}?q=1&amp;r=2\">", "</a>", "<td class=\"{{ d }}\">",
                "<!-- {{ e }} -->", "<style>p { color: {{ f }}; }</style>", "{# note #}", "{",
            ]), 0..24)
        ) {
            let src = parts.concat();
            let spans = template_spans(&src);
            for span in &spans {
                let opens = src.as_bytes()[span.start] == b'{';
                proptest::prop_assert!(opens, "{:?} is not template syntax", span);
            }
            let protected = protect(&src, &spans).unwrap();
            let hidden = !protected.html.contains("{{");
            proptest::prop_assert!(hidden, "template syntax left in {}", protected.html);
            let back = restore(&protected.html, &protected.pieces, None);
            proptest::prop_assert_eq!(back.strip_prefix("<body>").unwrap(), src);
        }
    }

    #[test]
    fn entities_decode() {
        assert_eq!(
            decode_entities("a&amp;b&quot;&#39;&#x41;&nbsp;&bogus"),
            "a&b\"'A\u{A0}&bogus"
        );
    }

    #[test]
    fn comment_tokens_become_bare_and_authors_comments_stay() {
        let html = format!("<!-- note --><p><!--{OPEN_COMMENT}0{CLOSE}--></p>");
        assert_eq!(
            flatten_tokens(&html),
            format!("<!-- note --><p>{OPEN}0{CLOSE}</p>")
        );
    }

    #[test]
    fn table_tokens_move_into_the_next_cell() {
        let html = format!(
            "<table><tbody><!--{OPEN_COMMENT}0{CLOSE}--><tr><td>A</td></tr><!--{OPEN_COMMENT}1{CLOSE}--></tbody></table>"
        );
        let flat = flatten_tokens(&html);
        assert_eq!(
            flat,
            format!(
                "<table><tbody><tr><td>{OPEN}0{CLOSE}A</td></tr></tbody></table>{OPEN}1{CLOSE}"
            )
        );
    }
}
