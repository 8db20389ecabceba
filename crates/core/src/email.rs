//! Email addresses.

use std::fmt;
use std::str::FromStr;

/// A syntactically valid email address, trimmed and lower-cased.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Email(String);

impl Email {
    /// Parses an address: surrounding white space is dropped and the whole
    /// address lower-cased (mailbox providers treat the local part as
    /// case-insensitive in practice, and one contact must not become two
    /// because of a capital letter).
    pub fn parse(raw: &str) -> Result<Self, String> {
        let s = raw.trim().to_lowercase();
        if s.is_empty() {
            return Err("is empty".into());
        }
        if s.len() > 254 {
            return Err("is longer than 254 characters".into());
        }
        if !email_address::EmailAddress::is_valid(&s) {
            return Err(format!("'{}' is not a valid email address", raw.trim()));
        }
        let (_, domain) = s
            .rsplit_once('@')
            .ok_or_else(|| format!("'{}' has no @", raw.trim()))?;
        // A bare host ("a@localhost") or an IP literal is valid syntax but
        // never a marketing recipient; require a dotted domain.
        if !domain.contains('.') || domain.starts_with('[') || domain.ends_with('.') {
            return Err(format!("'{}' has no valid domain", raw.trim()));
        }
        Ok(Email(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map(|(_, d)| d).unwrap_or("")
    }
}

impl FromStr for Email {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Email::parse(s)
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Email {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::Email;
    use proptest::prelude::*;

    #[test]
    fn addresses_are_trimmed_and_lower_cased() {
        assert_eq!(
            Email::parse("  An.Nguyen@Example.COM ").unwrap().as_str(),
            "an.nguyen@example.com"
        );
    }

    #[test]
    fn malformed_addresses_are_rejected_with_a_reason() {
        for bad in [
            "",
            "   ",
            "plainaddress",
            "a@",
            "@b.com",
            "a b@c.com",
            "a@b",
            "a@@b.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    proptest! {
        #[test]
        fn parsing_a_parsed_address_gives_it_back(local in "[a-z0-9][a-z0-9._+-]{0,15}[a-z0-9]", domain in "[a-z0-9]{1,10}\\.(com|vn|com\\.vn|org)") {
            let raw = format!("{local}@{domain}");
            prop_assume!(!local.contains(".."));
            let e = Email::parse(&raw.to_uppercase()).unwrap();
            prop_assert_eq!(e.as_str(), raw.as_str());
            prop_assert_eq!(Email::parse(e.as_str()).unwrap(), e);
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,60}") {
            let _ = Email::parse(&s);
        }
    }
}
