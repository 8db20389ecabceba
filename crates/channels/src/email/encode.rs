//! The 7-bit encodings a message is written in: RFC 2047 encoded words in
//! headers, quoted-printable or base64 bodies, and header folding.

use std::borrow::Cow;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::Mailbox;

/// Lines stay within the 78 characters RFC 5322 recommends.
const LINE: usize = 78;

/// At most this many bytes of text go into one encoded word: 52 base64
/// characters, 64 with the `=?UTF-8?B?`...`?=` wrapping, so that even the
/// first line, behind `Subject: `, stays within [`LINE`].
const WORD_BYTES: usize = 39;

/// How a body part is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Encoding {
    /// As is: ASCII with lines short enough for SMTP.
    SevenBit,
    /// Mostly readable, for ASCII-heavy text and HTML.
    QuotedPrintable,
    /// A third larger than the input, for text that is mostly non-ASCII.
    Base64,
}

impl Encoding {
    /// The `Content-Transfer-Encoding` value.
    pub(super) fn name(self) -> &'static str {
        match self {
            Encoding::SevenBit => "7bit",
            Encoding::QuotedPrintable => "quoted-printable",
            Encoding::Base64 => "base64",
        }
    }
}

/// Picks the shortest encoding that keeps `content` 7-bit. One pass over
/// the bytes; Vietnamese prose, where most words carry a diacritic of two
/// or three UTF-8 bytes, usually comes out base64, HTML around it
/// quoted-printable.
pub(super) fn choose(content: &str) -> Encoding {
    let mut escaped = 0usize;
    let mut line = 0usize;
    let mut longest = 0usize;
    let mut controls = false;
    let bytes = content.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'\n' => {
                longest = longest.max(line);
                line = 0;
                continue;
            }
            b'\r' if bytes.get(i + 1) == Some(&b'\n') => continue,
            b' ' | b'\t' => {}
            b'=' => escaped += 1,
            _ if b.is_ascii_graphic() => {}
            _ => {
                escaped += 1;
                controls |= b.is_ascii();
            }
        }
        line += 1;
    }
    longest = longest.max(line);
    let ascii = content.is_ascii();
    if ascii && !controls && longest <= 998 {
        return Encoding::SevenBit;
    }
    let len = content.len();
    let quoted_printable = len + 2 * escaped + len / 25;
    let base64 = len.div_ceil(3) * 4 * 78 / 76;
    if quoted_printable <= base64 {
        Encoding::QuotedPrintable
    } else {
        Encoding::Base64
    }
}

/// Writes `content` in `encoding` with CRLF line breaks, ending with CRLF.
pub(super) fn body(out: &mut Vec<u8>, content: &str, encoding: Encoding) {
    match encoding {
        Encoding::SevenBit => crlf_lines(out, content.as_bytes()),
        Encoding::QuotedPrintable => quoted_printable(out, content.as_bytes()),
        Encoding::Base64 => {
            // Text is base64-encoded in its canonical form, with CRLF line
            // breaks; copy only when a bare LF makes that necessary.
            let bytes = content.as_bytes();
            if has_bare_lf(bytes) {
                let mut canonical = Vec::with_capacity(bytes.len() + bytes.len() / 32);
                crlf_lines(&mut canonical, bytes);
                base64_lines(out, &canonical);
            } else {
                base64_lines(out, bytes);
            }
        }
    }
    if !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
}

fn has_bare_lf(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .enumerate()
        .any(|(i, &b)| b == b'\n' && (i == 0 || bytes[i - 1] != b'\r'))
}

/// Copies `bytes`, turning every LF or CRLF into CRLF.
fn crlf_lines(out: &mut Vec<u8>, bytes: &[u8]) {
    let mut lines = bytes.split(|&b| b == b'\n').peekable();
    while let Some(line) = lines.next() {
        let last = lines.peek().is_none();
        out.extend_from_slice(line.strip_suffix(b"\r").unwrap_or(line));
        if !last {
            out.extend_from_slice(b"\r\n");
        }
    }
}

/// Base64 in lines of 76 characters.
fn base64_lines(out: &mut Vec<u8>, bytes: &[u8]) {
    for chunk in bytes.chunks(57) {
        let start = out.len();
        out.resize(start + 76, 0);
        let written = BASE64
            .encode_slice(chunk, &mut out[start..])
            .expect("57 bytes encode to 76 characters");
        out.truncate(start + written);
        out.extend_from_slice(b"\r\n");
    }
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// Quoted-printable (RFC 2045 6.7): LF and CRLF are line breaks, lines at
/// most 76 characters with the soft break, white space at the end of a
/// line encoded so that no relay strips it.
fn quoted_printable(out: &mut Vec<u8>, bytes: &[u8]) {
    const MAX: usize = 76;
    let mut col = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let crlf = |at: usize| bytes.get(at) == Some(&b'\r') && bytes.get(at + 1) == Some(&b'\n');
        if b == b'\n' || crlf(i) {
            out.extend_from_slice(b"\r\n");
            col = 0;
            i += if b == b'\n' { 1 } else { 2 };
            continue;
        }
        let line_end = matches!(bytes.get(i + 1), None | Some(b'\n')) || crlf(i + 1);
        let literal = match b {
            b' ' | b'\t' => !line_end,
            b'=' => false,
            _ => b.is_ascii_graphic(),
        };
        let width = if literal { 1 } else { 3 };
        // Room for the soft break's `=`, unless the line ends here anyway.
        let room = if line_end { MAX } else { MAX - 1 };
        if col + width > room {
            out.extend_from_slice(b"=\r\n");
            col = 0;
        }
        if literal {
            out.push(b);
        } else {
            out.extend_from_slice(&[b'=', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        }
        col += width;
        i += 1;
    }
}

/// A multipart boundary. It starts with `=_`, which cannot occur in
/// quoted-printable or base64 text, so it never needs checking against the
/// parts.
pub(super) fn boundary() -> [u8; 34] {
    let mut boundary = [0u8; 34];
    boundary[..2].copy_from_slice(b"=_");
    let random: u128 = rand::random();
    for (i, slot) in boundary[2..].iter_mut().enumerate() {
        *slot = HEX[((random >> (4 * i)) & 15) as usize];
    }
    boundary
}

/// The `Date` value, in UTC.
pub(super) fn date(at: jiff::Timestamp) -> Option<String> {
    let mut date = String::with_capacity(32);
    jiff::fmt::rfc2822::DateTimePrinter::new()
        .print_zoned(&at.to_zoned(jiff::tz::TimeZone::UTC), &mut date)
        .ok()?;
    Some(date)
}

/// Writes `Name <address>`, or the bare address without a name.
pub(super) fn mailbox(out: &mut Vec<u8>, mailbox: &Mailbox) {
    let address = mailbox.email.as_str().as_bytes();
    match mailbox.name.as_deref().map(str::trim) {
        Some(name) if !name.is_empty() => {
            phrase(out, &printable(name));
            out.extend_from_slice(b" <");
            out.extend_from_slice(address);
            out.push(b'>');
        }
        _ => out.extend_from_slice(address),
    }
}

/// A display name: as is when it is plain words, quoted when it holds
/// punctuation, encoded words when it is not ASCII.
fn phrase(out: &mut Vec<u8>, name: &str) {
    let atext = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~ ".contains(&b);
    if !name.is_ascii() || name.len() > 200 {
        encoded_words(out, name);
    } else if name.bytes().all(atext) && !name.contains("=?") {
        out.extend_from_slice(name.as_bytes());
    } else {
        out.push(b'"');
        for b in name.bytes() {
            if b == b'"' || b == b'\\' {
                out.push(b'\\');
            }
            out.push(b);
        }
        out.push(b'"');
    }
}

/// Free text such as a subject: folded at spaces when ASCII, encoded words
/// otherwise. `col` is where the value starts on the first line.
pub(super) fn unstructured(out: &mut Vec<u8>, text: &str, mut col: usize) {
    let text = printable(text);
    let plain = text.is_ascii()
        && !text.contains("=?")
        && text.split(' ').all(|word| word.len() + col.max(1) <= 900);
    if !plain {
        encoded_words(out, &text);
        return;
    }
    for (i, word) in text.split(' ').enumerate() {
        if i > 0 {
            // Fold before the space: unfolding gives the same text back.
            if !word.is_empty() && col + 1 + word.len() > LINE {
                out.extend_from_slice(b"\r\n");
                col = 0;
            }
            out.push(b' ');
            col += 1;
        }
        out.extend_from_slice(word.as_bytes());
        col += word.len();
    }
}

/// RFC 2047 `B` encoded words of at most [`WORD_BYTES`] each, split at
/// character boundaries, one per line. Decoders drop the folding white
/// space between adjacent encoded words.
fn encoded_words(out: &mut Vec<u8>, text: &str) {
    let mut rest = text;
    let mut first = true;
    while !rest.is_empty() {
        let mut end = rest.len().min(WORD_BYTES);
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        if !first {
            out.extend_from_slice(b"\r\n ");
        }
        out.extend_from_slice(b"=?UTF-8?B?");
        let start = out.len();
        out.resize(start + end.div_ceil(3) * 4, 0);
        let written = BASE64
            .encode_slice(&rest.as_bytes()[..end], &mut out[start..])
            .expect("the buffer fits the encoding");
        out.truncate(start + written);
        out.extend_from_slice(b"?=");
        rest = &rest[end..];
        first = false;
    }
}

/// Replaces line breaks, tabs and other control characters with spaces: a
/// header value is one line of text, and a stray line break must never
/// start a new header.
fn printable(text: &str) -> Cow<'_, str> {
    if text.chars().any(char::is_control) {
        Cow::Owned(
            text.chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect(),
        )
    } else {
        Cow::Borrowed(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn qp(text: &str) -> String {
        let mut out = Vec::new();
        quoted_printable(&mut out, text.as_bytes());
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn quoted_printable_escapes_equals_and_non_ascii() {
        assert_eq!(qp("a=b"), "a=3Db");
        assert_eq!(qp("Chào"), "Ch=C3=A0o");
    }

    #[test]
    fn quoted_printable_keeps_trailing_white_space_visible() {
        assert_eq!(qp("end \nnext\t"), "end=20\r\nnext=09");
    }

    #[test]
    fn quoted_printable_lines_never_exceed_76_characters() {
        let encoded = qp(&"ễ x".repeat(200));
        for line in encoded.split("\r\n") {
            assert!(line.len() <= 76, "{} characters: {line}", line.len());
        }
        assert!(!encoded.contains("=\r\n\r\n"));
    }

    #[test]
    fn the_shortest_encoding_is_chosen() {
        assert_eq!(choose("plain text\nlines"), Encoding::SevenBit);
        assert_eq!(choose(&"x".repeat(1200)), Encoding::QuotedPrintable);
        assert_eq!(
            choose("<p style=\"color:#333;font-family:Arial\">Xin chào <b>An</b></p>"),
            Encoding::QuotedPrintable
        );
        assert_eq!(
            choose("Ưu đãi đặc biệt dành cho bạn ở Hà Nội"),
            Encoding::Base64
        );
    }

    #[test]
    fn encoded_words_split_at_character_boundaries() {
        let mut out = Vec::new();
        encoded_words(&mut out, &"ễ".repeat(40));
        let text = String::from_utf8(out).unwrap();
        for word in text.split("\r\n ") {
            assert!(word.len() <= 75, "{word}");
            let payload = word
                .strip_prefix("=?UTF-8?B?")
                .and_then(|w| w.strip_suffix("?="))
                .unwrap();
            let bytes = BASE64.decode(payload).unwrap();
            assert!(
                String::from_utf8(bytes).is_ok(),
                "a whole number of characters"
            );
        }
    }

    #[test]
    fn boundaries_differ_and_start_with_equals_underscore() {
        let (a, b) = (boundary(), boundary());
        assert_ne!(a, b);
        assert!(a.starts_with(b"=_"));
    }
}
