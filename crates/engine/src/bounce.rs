//! Reading bounces and complaints: delivery status notifications (RFC
//! 3464, `multipart/report; report-type=delivery-status`) and feedback
//! reports (RFC 5965, `report-type=feedback-report`).
//!
//! A DSN names each recipient (`Final-Recipient`), what happened
//! (`Action: failed` or `delayed`), the status code (`5.1.1`: permanent,
//! `4.x.x`: temporary) and the server's words (`Diagnostic-Code`); the
//! returned original (or its headers) carries the `Message-ID` we sent.

use swell_store::mailing::BounceKind;

/// One bounced or complaining recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub address: Option<String>,
    pub message_id: Option<String>,
    pub kind: BounceKind,
    pub status: Option<String>,
    pub diagnostic: Option<String>,
}

/// The reports in a raw DSN or feedback report. Recipients that were
/// delivered or relayed are left out; an empty result means the message
/// held no report.
pub fn parse(raw: &[u8]) -> Vec<Report> {
    let text = String::from_utf8_lossy(raw);
    let text = text.replace("\r\n", "\n");
    let lower = text.to_ascii_lowercase();
    let original_id = original_message_id(&text, &lower);
    if lower.contains("message/feedback-report") || lower.contains("feedback-type:") {
        let address = field(&text, "Original-Rcpt-To")
            .or_else(|| original_header(&text, &lower, "To"))
            .map(|a| strip_address(&a));
        return vec![Report {
            address,
            message_id: original_id,
            kind: BounceKind::Complaint,
            status: None,
            diagnostic: field(&text, "Feedback-Type"),
        }];
    }
    // Per-recipient blocks of the delivery-status part: separated by blank
    // lines, each with Final-Recipient (or Original-Recipient) and Action.
    let mut out = Vec::new();
    for block in text.split("\n\n") {
        let block = unfold(block);
        let Some(recipient) =
            field(&block, "Final-Recipient").or_else(|| field(&block, "Original-Recipient"))
        else {
            continue;
        };
        let action = field(&block, "Action")
            .unwrap_or_default()
            .to_ascii_lowercase();
        let status =
            field(&block, "Status").map(|s| s.split_whitespace().next().unwrap_or("").to_string());
        let kind = match (action.as_str(), status.as_deref()) {
            ("delivered" | "relayed" | "expanded", _) => continue,
            ("delayed", _) => BounceKind::Soft,
            (_, Some(s)) if s.starts_with('4') => BounceKind::Soft,
            _ => BounceKind::Hard,
        };
        out.push(Report {
            address: Some(strip_address(&recipient)),
            message_id: original_id.clone(),
            kind,
            status,
            diagnostic: field(&block, "Diagnostic-Code").map(|d| {
                // "smtp; 550 5.1.1 ..." -> "550 5.1.1 ..."
                d.split_once(';')
                    .map_or(d.clone(), |(_, rest)| rest.trim().to_string())
            }),
        });
    }
    out
}

/// Joins folded header lines (continuations start with white space).
fn unfold(block: &str) -> String {
    let mut out = String::with_capacity(block.len());
    for line in block.lines() {
        if line.starts_with([' ', '\t']) {
            out.push(' ');
            out.push_str(line.trim());
        } else {
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(line);
        }
    }
    out
}

/// The value of the first `Name:` line, case-insensitive.
fn field(block: &str, name: &str) -> Option<String> {
    block.lines().find_map(|line| {
        let (k, v) = line.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_string())
            .filter(|v| !v.is_empty())
    })
}

/// `rfc822; user@example.com` or `<user@example.com>` -> the address.
fn strip_address(v: &str) -> String {
    let v = v.split_once(';').map_or(v, |(_, a)| a);
    v.trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim()
        .to_ascii_lowercase()
}

/// Where the returned original (or its headers) starts: after the part
/// header that names it.
fn original_start(lower: &str) -> Option<usize> {
    ["message/rfc822", "text/rfc822-headers"]
        .iter()
        .filter_map(|ct| lower.find(ct))
        .min()
        .and_then(|at| lower[at..].find("\n\n").map(|blank| at + blank + 2))
}

fn original_header(text: &str, lower: &str, name: &str) -> Option<String> {
    let start = original_start(lower)?;
    let headers = text[start..].split("\n\n").next()?;
    field(&unfold(headers), name)
}

fn original_message_id(text: &str, lower: &str) -> Option<String> {
    original_header(text, lower, "Message-ID").map(|v| v.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DSN: &str = "From: MAILER-DAEMON@mx.example.net\r\nTo: bounces@shop.vn\r\nMessage-ID: <dsn-1@mx.example.net>\r\n\
Subject: Undelivered Mail Returned to Sender\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\r\n\
--B\r\nContent-Type: text/plain\r\n\r\nThe mail system could not deliver your message.\r\n\r\n\
--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.net\r\n\r\n\
Final-Recipient: rfc822; An.Nguyen@Example.com\r\nAction: failed\r\nStatus: 5.1.1\r\n\
Diagnostic-Code: smtp; 550 5.1.1 <an.nguyen@example.com>: Recipient address\r\n rejected: User unknown\r\n\r\n\
Final-Recipient: rfc822; binh@example.com\r\nAction: delayed\r\nStatus: 4.4.1\r\n\r\n\
Final-Recipient: rfc822; lan@example.com\r\nAction: delivered\r\nStatus: 2.0.0\r\n\r\n\
--B\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: Shop <news@shop.vn>\r\nTo: an.nguyen@example.com\r\n\
Message-ID: <0190abc@shop.vn>\r\nSubject: Hi\r\n\r\n--B--\r\n";

    #[test]
    fn a_dsn_gives_each_failed_or_delayed_recipient_with_the_original_message_id() {
        let r = parse(DSN.as_bytes());
        assert_eq!(r.len(), 2, "{r:?}");
        assert_eq!(r[0].address.as_deref(), Some("an.nguyen@example.com"));
        assert_eq!(r[0].kind, BounceKind::Hard);
        assert_eq!(r[0].status.as_deref(), Some("5.1.1"));
        assert_eq!(r[0].message_id.as_deref(), Some("<0190abc@shop.vn>"));
        assert!(r[0].diagnostic.as_deref().unwrap().contains("User unknown"));
        assert_eq!(r[1].address.as_deref(), Some("binh@example.com"));
        assert_eq!(r[1].kind, BounceKind::Soft);
    }

    #[test]
    fn a_feedback_report_is_a_complaint() {
        let arf = "Content-Type: multipart/report; report-type=feedback-report; boundary=\"X\"\n\n--X\nContent-Type: text/plain\n\nspam\n\n\
--X\nContent-Type: message/feedback-report\n\nFeedback-Type: abuse\nUser-Agent: FBL/1.0\nOriginal-Rcpt-To: <ha@example.com>\n\n\
--X\nContent-Type: message/rfc822\n\nFrom: news@shop.vn\nTo: ha@example.com\nMessage-ID: <m-2@shop.vn>\n\nbody\n--X--\n";
        let r = parse(arf.as_bytes());
        assert_eq!(
            r,
            vec![Report {
                address: Some("ha@example.com".into()),
                message_id: Some("<m-2@shop.vn>".into()),
                kind: BounceKind::Complaint,
                status: None,
                diagnostic: Some("abuse".into()),
            }]
        );
    }

    #[test]
    fn a_message_without_a_report_gives_nothing() {
        assert!(parse(b"Subject: hello\n\njust text").is_empty());
    }
}
