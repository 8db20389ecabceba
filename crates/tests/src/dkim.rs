//! A DKIM verifier (RFC 6376; Ed25519 per RFC 8463) for checking what
//! arrived at the sink, written apart from the signer in `swell-channels`
//! so that a mistake in one is not mirrored in the other.
//!
//! It verifies the first `DKIM-Signature` of a message against a public
//! key given directly, in place of the DNS lookup: simple and relaxed
//! canonicalisation, `l=`, rsa-sha256 and ed25519-sha256.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ring::signature::{ED25519, RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};

/// Verifies the message's first DKIM signature with `public_key`, which
/// may be a PEM public key (`PUBLIC KEY` or `RSA PUBLIC KEY`), DER
/// (SubjectPublicKeyInfo or PKCS#1), a raw 32-byte Ed25519 key, or a DKIM
/// TXT record (`v=DKIM1; k=rsa; p=...`). The error says what failed.
pub fn verify(raw: &[u8], public_key: &[u8]) -> Result<(), String> {
    let key = PublicKey::parse(public_key)?;
    let (headers, body) = split(raw);
    let fields = fields(headers);
    let signature_field = fields
        .iter()
        .find(|f| f.name.eq_ignore_ascii_case("DKIM-Signature"))
        .ok_or("the message has no DKIM-Signature")?;
    let tags = parse_tags(&signature_field.value())?;
    let tag = |name: &str| {
        tags.iter()
            .find(|(t, _)| t == name)
            .map(|(_, v)| v.as_str())
    };
    let required = |name: &str| tag(name).ok_or(format!("the signature has no {name}= tag"));

    if required("v")? != "1" {
        return Err("v= is not 1".into());
    }
    required("d")?;
    required("s")?;
    let (header_canon, body_canon) = match required("c").unwrap_or("simple/simple") {
        "simple" | "simple/simple" => (Canon::Simple, Canon::Simple),
        "relaxed" | "relaxed/simple" => (Canon::Relaxed, Canon::Simple),
        "simple/relaxed" => (Canon::Simple, Canon::Relaxed),
        "relaxed/relaxed" => (Canon::Relaxed, Canon::Relaxed),
        other => return Err(format!("unknown canonicalisation {other}")),
    };

    // The body hash.
    let mut canonical_body = match body_canon {
        Canon::Simple => simple_body(body),
        Canon::Relaxed => relaxed_body(body),
    };
    if let Some(length) = tag("l") {
        let length: usize = length.parse().map_err(|_| "l= is not a number")?;
        if length > canonical_body.len() {
            return Err("l= is longer than the body".into());
        }
        canonical_body.truncate(length);
    }
    let body_hash = ring::digest::digest(&ring::digest::SHA256, &canonical_body);
    let expected = BASE64
        .decode(strip_whitespace(required("bh")?))
        .map_err(|_| "bh= is not base64")?;
    if body_hash.as_ref() != expected.as_slice() {
        return Err("body hash mismatch: the body changed after signing".into());
    }

    // The signed headers: for each name in h=, the last instance not yet
    // used, counting from the bottom; a name with none left adds nothing.
    let mut data = Vec::new();
    let mut used = vec![false; fields.len()];
    for name in required("h")?.split(':').map(str::trim) {
        let instance = (0..fields.len())
            .rev()
            .find(|&i| !used[i] && fields[i].name.eq_ignore_ascii_case(name));
        if let Some(i) = instance {
            used[i] = true;
            canonical_header(fields[i].raw, header_canon, &mut data);
        }
    }
    let unsigned = without_b_value(signature_field.raw)?;
    canonical_header(&unsigned, header_canon, &mut data);
    if data.ends_with(b"\r\n") {
        data.truncate(data.len() - 2);
    }

    let signature = BASE64
        .decode(strip_whitespace(required("b")?))
        .map_err(|_| "b= is not base64")?;
    let verified = match (required("a")?, &key) {
        ("rsa-sha256", PublicKey::Rsa(pkcs1)) => {
            UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, pkcs1).verify(&data, &signature)
        }
        ("ed25519-sha256", PublicKey::Ed25519(raw)) => {
            let digest = ring::digest::digest(&ring::digest::SHA256, &data);
            UnparsedPublicKey::new(&ED25519, raw).verify(digest.as_ref(), &signature)
        }
        (algorithm, _) => return Err(format!("a={algorithm} does not match the key given")),
    };
    verified
        .map_err(|_| "signature mismatch: the signed headers changed, or another key signed".into())
}

/// The tags of the message's first DKIM signature, in order, values with
/// white space removed from `b=` and `bh=`.
pub fn tags(raw: &[u8]) -> Result<Vec<(String, String)>, String> {
    let (headers, _) = split(raw);
    let fields = fields(headers);
    let field = fields
        .iter()
        .find(|f| f.name.eq_ignore_ascii_case("DKIM-Signature"))
        .ok_or("the message has no DKIM-Signature")?;
    parse_tags(&field.value())
}

#[derive(Clone, Copy)]
enum Canon {
    Simple,
    Relaxed,
}

enum PublicKey {
    /// PKCS#1 RSAPublicKey DER, what ring reads.
    Rsa(Vec<u8>),
    Ed25519(Vec<u8>),
}

impl PublicKey {
    fn parse(input: &[u8]) -> Result<PublicKey, String> {
        let text = std::str::from_utf8(input).ok().map(str::trim);
        if let Some(text) = text {
            if text.starts_with("-----BEGIN ") {
                let (label, der) = pem(text)?;
                return match label.as_str() {
                    "PUBLIC KEY" => PublicKey::from_spki(&der),
                    "RSA PUBLIC KEY" => Ok(PublicKey::Rsa(der)),
                    other => Err(format!("a {other} is not a public key")),
                };
            }
            if text.starts_with("v=DKIM1") || text.contains("p=") {
                let tags = parse_tags(text)?;
                let p = tags
                    .iter()
                    .find(|(t, _)| t == "p")
                    .map(|(_, v)| v)
                    .ok_or("the record has no p=")?;
                let der = BASE64.decode(p).map_err(|_| "p= is not base64")?;
                return PublicKey::from_der(der);
            }
        }
        PublicKey::from_der(input.to_vec())
    }

    fn from_der(der: Vec<u8>) -> Result<PublicKey, String> {
        if der.len() == 32 {
            return Ok(PublicKey::Ed25519(der));
        }
        PublicKey::from_spki(&der).or(Ok(PublicKey::Rsa(der)))
    }

    /// Reads a SubjectPublicKeyInfo: SEQUENCE { SEQUENCE { OID, ... },
    /// BIT STRING }.
    fn from_spki(der: &[u8]) -> Result<PublicKey, String> {
        const RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
        const ED25519_OID: &[u8] = &[0x2b, 0x65, 0x70];
        let (spki, _) = der_element(der, 0x30)?;
        let (algorithm, rest) = der_element(spki, 0x30)?;
        let (oid, _) = der_element(algorithm, 0x06)?;
        let (bits, _) = der_element(rest, 0x03)?;
        let key = bits
            .strip_prefix(&[0])
            .ok_or("the key's BIT STRING has unused bits")?
            .to_vec();
        match oid {
            RSA => Ok(PublicKey::Rsa(key)),
            ED25519_OID => Ok(PublicKey::Ed25519(key)),
            _ => Err("the key is neither RSA nor Ed25519".into()),
        }
    }
}

/// The content of the DER element at the start of `der`, which must have
/// `tag`, and what follows it.
fn der_element(der: &[u8], tag: u8) -> Result<(&[u8], &[u8]), String> {
    let malformed = || "malformed DER".to_string();
    let (&found, rest) = der.split_first().ok_or_else(malformed)?;
    if found != tag {
        return Err(format!("expected DER tag {tag:#x}, found {found:#x}"));
    }
    let (&first, rest) = rest.split_first().ok_or_else(malformed)?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return Err(malformed());
        }
        let len = rest[..count]
            .iter()
            .fold(0usize, |len, &b| (len << 8) | usize::from(b));
        (len, &rest[count..])
    };
    if rest.len() < len {
        return Err(malformed());
    }
    Ok(rest.split_at(len))
}

fn pem(text: &str) -> Result<(String, Vec<u8>), String> {
    let after = text.split_once("-----BEGIN ").ok_or("no PEM block")?.1;
    let (label, content) = after.split_once("-----").ok_or("no PEM label")?;
    let end = content
        .find("-----END ")
        .ok_or("the PEM block has no end")?;
    let der = BASE64
        .decode(strip_whitespace(&content[..end]))
        .map_err(|_| "the PEM block is not base64")?;
    Ok((label.to_string(), der))
}

/// Headers (with their final CRLF) and body.
fn split(raw: &[u8]) -> (&[u8], &[u8]) {
    match raw.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(end) => (&raw[..end + 2], &raw[end + 4..]),
        None => (raw, &[]),
    }
}

struct Field<'a> {
    name: &'a str,
    /// The whole field, name to final CRLF, continuation lines included.
    raw: &'a [u8],
}

impl Field<'_> {
    fn value(&self) -> String {
        let colon = self.raw.iter().position(|&b| b == b':').unwrap_or(0);
        String::from_utf8_lossy(&self.raw[colon + 1..]).into_owned()
    }
}

fn fields(headers: &[u8]) -> Vec<Field<'_>> {
    let mut fields: Vec<Field<'_>> = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < headers.len() {
        let end = headers[i..]
            .windows(2)
            .position(|w| w == b"\r\n")
            .map_or(headers.len(), |p| i + p + 2);
        let continuation = matches!(headers.get(end), Some(b' ' | b'\t'));
        if !continuation {
            let raw = &headers[start..end];
            let colon = raw.iter().position(|&b| b == b':').unwrap_or(raw.len());
            let name = std::str::from_utf8(&raw[..colon]).unwrap_or("").trim_end();
            fields.push(Field { name, raw });
            start = end;
        }
        i = end;
    }
    fields
}

/// `tag=value` pairs separated by `;`, names and values trimmed; white
/// space inside `b=`, `bh=` and `p=` removed.
fn parse_tags(value: &str) -> Result<Vec<(String, String)>, String> {
    let mut tags = Vec::new();
    for spec in value.split(';') {
        let spec = spec.trim();
        if spec.is_empty() {
            continue;
        }
        let (tag, value) = spec
            .split_once('=')
            .ok_or_else(|| format!("malformed tag {spec:?}"))?;
        let tag = tag.trim().to_string();
        let value = if matches!(tag.as_str(), "b" | "bh" | "p") {
            strip_whitespace(value)
        } else {
            value.trim().replace(['\r', '\n'], "")
        };
        tags.push((tag, value));
    }
    Ok(tags)
}

fn strip_whitespace(value: &str) -> String {
    value.chars().filter(|c| !c.is_whitespace()).collect()
}

/// The signature field with the value of its `b=` tag removed, as RFC 6376
/// 3.7 says to hash it.
fn without_b_value(raw: &[u8]) -> Result<Vec<u8>, String> {
    let colon = raw.iter().position(|&b| b == b':').ok_or("no colon")?;
    let mut start = colon + 1;
    while start < raw.len() {
        let end = raw[start..]
            .iter()
            .position(|&b| b == b';')
            .map_or(raw.len(), |p| start + p);
        let spec = &raw[start..end];
        if let Some(eq) = spec.iter().position(|&b| b == b'=')
            && spec[..eq].trim_ascii() == b"b"
        {
            let value_start = start + eq + 1;
            // Keep the field's final CRLF when b= is the last tag.
            let value_end = if end == raw.len() && raw.ends_with(b"\r\n") {
                end - 2
            } else {
                end
            };
            let mut out = raw[..value_start].to_vec();
            out.extend_from_slice(&raw[value_end..]);
            return Ok(out);
        }
        start = end + 1;
    }
    Err("the signature has no b= tag".into())
}

fn canonical_header(raw: &[u8], canon: Canon, out: &mut Vec<u8>) {
    match canon {
        Canon::Simple => out.extend_from_slice(raw),
        Canon::Relaxed => {
            // Unfold, then squeeze white space, then trim around the colon
            // and at the end: RFC 6376 3.4.2 step by step.
            let unfolded: Vec<u8> = raw
                .strip_suffix(b"\r\n")
                .unwrap_or(raw)
                .iter()
                .copied()
                .filter(|&b| b != b'\r' && b != b'\n')
                .collect();
            let mut squeezed = Vec::with_capacity(unfolded.len());
            for &b in &unfolded {
                let b = if b == b'\t' { b' ' } else { b };
                if !(b == b' ' && squeezed.last() == Some(&b' ')) {
                    squeezed.push(b);
                }
            }
            let colon = squeezed.iter().position(|&b| b == b':').unwrap_or(0);
            let name = squeezed[..colon].trim_ascii().to_ascii_lowercase();
            let value = squeezed[colon + 1..].trim_ascii();
            out.extend_from_slice(&name);
            out.push(b':');
            out.extend_from_slice(value);
            out.extend_from_slice(b"\r\n");
        }
    }
}

fn lines(body: &[u8]) -> Vec<&[u8]> {
    let mut lines: Vec<&[u8]> = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        match rest.windows(2).position(|w| w == b"\r\n") {
            Some(end) => {
                lines.push(&rest[..end]);
                rest = &rest[end + 2..];
            }
            None => {
                lines.push(rest);
                rest = &[];
            }
        }
    }
    lines
}

fn join_without_trailing_empty_lines(mut lines: Vec<Vec<u8>>, empty_body: &[u8]) -> Vec<u8> {
    while lines.last().is_some_and(Vec::is_empty) {
        lines.pop();
    }
    if lines.is_empty() {
        return empty_body.to_vec();
    }
    let mut out = Vec::new();
    for line in lines {
        out.extend_from_slice(&line);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// RFC 6376 3.4.3: the body as is, but exactly one CRLF at the end; an
/// empty body is one CRLF.
fn simple_body(body: &[u8]) -> Vec<u8> {
    let lines = lines(body).into_iter().map(<[u8]>::to_vec).collect();
    join_without_trailing_empty_lines(lines, b"\r\n")
}

/// RFC 6376 3.4.4: no white space at line ends, runs of it one space, no
/// empty lines at the end; an empty body stays empty.
fn relaxed_body(body: &[u8]) -> Vec<u8> {
    let lines = lines(body)
        .into_iter()
        .map(|line| {
            let mut out = Vec::with_capacity(line.len());
            for &b in line {
                let b = if b == b'\t' { b' ' } else { b };
                if !(b == b' ' && out.last() == Some(&b' ')) {
                    out.push(b);
                }
            }
            while out.last() == Some(&b' ') {
                out.pop();
            }
            out
        })
        .collect();
    join_without_trailing_empty_lines(lines, b"")
}

#[cfg(test)]
mod tests {
    use super::*;
    use swell_channels::email::build_mime_at;
    use swell_channels::{DkimKey, Mailbox, OutgoingEmail, new_message_id};
    use swell_core::Email;

    const PKCS1: &str = include_str!("../fixtures/dkim_test_key.pem");
    const PKCS8: &str = include_str!("../fixtures/dkim_test_key.pkcs8.pem");
    const PUBLIC: &str = include_str!("../fixtures/dkim_test_key.pub.pem");

    fn email() -> OutgoingEmail {
        let address = |a: &str| Email::parse(a).unwrap();
        OutgoingEmail {
            from: Mailbox::new("Cửa hàng Hoa Sen", address("news@shop.example.vn")),
            reply_to: None,
            to: Mailbox::new("Trần Thị Bình", address("binh@example.com")),
            subject: "Chào Bình, đơn hàng #1234 đã được giao".into(),
            html: "<p>Cảm ơn bạn đã mua hàng!</p>\n".repeat(40),
            text: "Cảm ơn bạn đã mua hàng!\n".repeat(40),
            message_id: new_message_id("shop.example.vn"),
            list_unsubscribe: Some("https://shop.example.vn/u/xyz".into()),
            headers: vec![("X-Swell-Campaign".into(), "7".into())],
        }
    }

    fn signed(key: &DkimKey) -> Vec<u8> {
        build_mime_at(&email(), Some(key), jiff::Timestamp::now()).unwrap()
    }

    fn rsa() -> DkimKey {
        DkimKey::from_pem("swell2025", "shop.example.vn", PKCS1).unwrap()
    }

    fn replace(raw: &[u8], from: &str, to: &str) -> Vec<u8> {
        let text = String::from_utf8(raw.to_vec()).unwrap();
        assert!(text.contains(from), "{from:?} is in the message");
        text.replacen(from, to, 1).into_bytes()
    }

    #[test]
    fn an_rsa_signed_message_verifies_with_the_published_key() {
        let raw = signed(&rsa());
        verify(&raw, PUBLIC.as_bytes()).unwrap();
        // The DNS record the key reports is the same key.
        verify(&raw, rsa().dns_txt_record().as_bytes()).unwrap();
    }

    #[test]
    fn a_pkcs8_key_signs_like_its_pkcs1_twin() {
        let key = DkimKey::from_pem("swell2025", "shop.example.vn", PKCS8).unwrap();
        assert_eq!(key.dns_txt_record(), rsa().dns_txt_record());
        verify(&signed(&key), PUBLIC.as_bytes()).unwrap();
    }

    #[test]
    fn an_ed25519_signed_message_verifies() {
        let pkcs8 =
            ring::signature::Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new())
                .unwrap();
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            BASE64.encode(pkcs8.as_ref())
        );
        let key = DkimKey::from_pem("ed", "shop.example.vn", &pem).unwrap();
        let raw = signed(&key);
        verify(&raw, key.dns_txt_record().as_bytes()).unwrap();
        let tampered = replace(&raw, "X-Swell-Campaign: 7", "X-Swell-Campaign: 8");
        verify(&tampered, key.dns_txt_record().as_bytes()).expect("unsigned headers may change");
    }

    #[test]
    fn a_changed_body_fails() {
        let raw = signed(&rsa());
        let tampered = replace(&raw, "\r\n\r\n--", "\r\n\r\nExtra line\r\n--");
        let error = verify(&tampered, PUBLIC.as_bytes()).unwrap_err();
        assert!(error.contains("body hash"), "{error}");
    }

    #[test]
    fn a_changed_signed_header_fails() {
        let raw = signed(&rsa());
        let tampered = replace(
            &raw,
            "List-Unsubscribe: <https://",
            "List-Unsubscribe: <http://",
        );
        let error = verify(&tampered, PUBLIC.as_bytes()).unwrap_err();
        assert!(error.contains("signature mismatch"), "{error}");
    }

    #[test]
    fn another_key_fails() {
        let raw = signed(&rsa());
        let other =
            ring::signature::Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new())
                .unwrap();
        let pair = ring::signature::Ed25519KeyPair::from_pkcs8(other.as_ref()).unwrap();
        use ring::signature::KeyPair as _;
        assert!(verify(&raw, pair.public_key().as_ref()).is_err());
    }

    #[test]
    fn relaxed_signatures_survive_refolding_and_trailing_space() {
        let raw = signed(&rsa());
        let refolded = replace(&raw, "MIME-Version: 1.0", "MIME-Version:\r\n \t 1.0  ");
        // In the body: a run of white space, and white space at a line end.
        let spaced = replace(
            &refolded,
            "Content-Type: text/plain;",
            "Content-Type: \t text/plain;  ",
        );
        verify(&spaced, PUBLIC.as_bytes()).unwrap();
    }

    #[test]
    fn messages_signed_by_another_implementation_verify() {
        // Signed with the test key by dkimpy 1.1, relaxed/relaxed and
        // simple/simple, over a body with white space runs and trailing
        // empty lines and a folded Subject.
        for signed in [
            include_bytes!("../fixtures/dkimpy_relaxed.eml").as_slice(),
            include_bytes!("../fixtures/dkimpy_simple.eml").as_slice(),
        ] {
            verify(signed, PUBLIC.as_bytes()).unwrap();
            let tampered = replace(signed, "Body line", "Body  line");
            let relaxed = tags(signed)
                .unwrap()
                .contains(&("c".into(), "relaxed/relaxed".into()));
            // Relaxed canonicalisation squeezes the extra space away.
            assert_eq!(verify(&tampered, PUBLIC.as_bytes()).is_ok(), relaxed);
        }
    }

    #[test]
    fn the_signature_names_its_domain_selector_and_headers() {
        let tags = tags(&signed(&rsa())).unwrap();
        let get = |name: &str| tags.iter().find(|(t, _)| t == name).unwrap().1.clone();
        assert_eq!(get("d"), "shop.example.vn");
        assert_eq!(get("s"), "swell2025");
        assert_eq!(get("a"), "rsa-sha256");
        assert_eq!(get("c"), "relaxed/relaxed");
        assert_eq!(
            get("h"),
            "from:to:subject:date:message-id:list-unsubscribe:list-unsubscribe-post:mime-version:content-type"
        );
    }
}
