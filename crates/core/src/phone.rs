//! Phone numbers, normalised to E.164.

use std::fmt;

/// A valid phone number in E.164 form (`+84912345678`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Phone(String);

/// The region used when a number has no country code. Vietnam is the first
/// market; a workspace may set its own.
pub const DEFAULT_REGION: &str = "VN";

impl Phone {
    /// Parses a number written any common way. `0912 345 678`,
    /// `84912345678`, `(+84) 912-345-678` and `+84 912 345 678` are the same
    /// number in region VN.
    pub fn parse(raw: &str, default_region: &str) -> Result<Self, String> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err("is empty".into());
        }
        if trimmed
            .chars()
            .any(|c| !(c.is_ascii_digit() || " +-().".contains(c)))
        {
            return Err(format!(
                "'{trimmed}' has characters that are not part of a phone number"
            ));
        }
        let digits: String = trimmed.chars().filter(|c| c.is_ascii_digit()).collect();
        if default_region == "VN"
            && let Some(e164) = vietnamese_mobile(trimmed, &digits)
        {
            return Ok(Phone(e164));
        }
        let region: phonenumber::country::Id = default_region
            .parse()
            .map_err(|_| format!("unknown region '{default_region}'"))?;
        let mut candidates = vec![trimmed.to_string()];
        // "84912345678": the country code written without its plus.
        if !trimmed.starts_with('+') && !digits.starts_with('0') && digits.len() > 9 {
            candidates.push(format!("+{digits}"));
        }
        for candidate in &candidates {
            if let Ok(number) = phonenumber::parse(Some(region), candidate)
                && phonenumber::is_valid(&number)
            {
                return Ok(Phone(
                    number.format().mode(phonenumber::Mode::E164).to_string(),
                ));
            }
        }
        Err(format!("'{trimmed}' is not a valid phone number"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Mobile prefixes of Vietnam's networks after the leading 0 (Viettel,
/// Vinaphone, Mobifone, Vietnamobile, Gmobile, Itelecom) whose whole range
/// the numbering plan allocates; partly allocated ones (089, 099) take the
/// general parser.
const VN_MOBILE_PREFIXES: &[&str] = &[
    "32", "33", "34", "35", "36", "37", "38", "39", "56", "58", "59", "70", "76", "77", "78", "79",
    "81", "82", "83", "84", "85", "86", "87", "88", "90", "91", "92", "93", "94", "96", "97", "98",
];

/// The common case without the general parser: a Vietnamese mobile number
/// written nationally (`0912 345 678`) or with the country code (`+84 ...`,
/// `84...`). The general parser costs tens of microseconds a number, which
/// is most of an import's time; this costs well under one. Anything else
/// (landlines, foreign numbers, odd forms) goes to the general parser, and
/// a property test checks the two agree.
fn vietnamese_mobile(raw: &str, digits: &str) -> Option<String> {
    let national = if raw.starts_with('+') {
        digits.strip_prefix("84")?
    } else if let Some(rest) = digits.strip_prefix('0') {
        rest
    } else {
        digits.strip_prefix("84").filter(|r| r.len() == 9)?
    };
    if national.len() == 9 && VN_MOBILE_PREFIXES.contains(&&national[..2]) {
        Some(format!("+84{national}"))
    } else {
        None
    }
}

impl fmt::Display for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::{DEFAULT_REGION, Phone};
    use proptest::prelude::*;

    fn vn(s: &str) -> Result<String, String> {
        Phone::parse(s, DEFAULT_REGION).map(|p| p.as_str().to_string())
    }

    #[test]
    fn the_ways_of_writing_a_vietnamese_mobile_agree() {
        for raw in [
            "0912 345 678",
            "84912345678",
            "+84 912-345-678",
            "(+84) 912.345.678",
            "0912345678",
        ] {
            assert_eq!(vn(raw).unwrap(), "+84912345678", "{raw}");
        }
    }

    #[test]
    fn foreign_numbers_keep_their_country() {
        assert_eq!(vn("+1 650-253-0000").unwrap(), "+16502530000");
        assert_eq!(vn("+44 20 7946 0958").unwrap(), "+442079460958");
    }

    #[test]
    fn nonsense_is_rejected() {
        for bad in ["", "abc", "12", "0912 345 678 ext", "+84 12"] {
            assert!(vn(bad).is_err(), "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn every_spelling_of_a_vn_mobile_normalises_to_one_value(prefix in prop::sample::select(vec!["91", "98", "90", "35", "77", "86"]), rest in "[0-9]{7}", sep in prop::sample::select(vec!["", " ", "-", "."])) {
            let national = format!("0{prefix}{}{sep}{}", &rest[..3], &rest[3..]);
            let international = format!("+84 {prefix}{sep}{rest}");
            let bare = format!("84{prefix}{rest}");
            let a = vn(&national).unwrap();
            prop_assert_eq!(&a, &format!("+84{prefix}{rest}"));
            prop_assert_eq!(vn(&international).unwrap(), a.clone());
            prop_assert_eq!(vn(&bare).unwrap(), a.clone());
            prop_assert_eq!(vn(&a).unwrap(), a);
        }

        #[test]
        fn the_fast_path_agrees_with_the_general_parser(prefix in prop::sample::select(super::VN_MOBILE_PREFIXES.to_vec()), rest in "[0-9]{7}", form in 0..3usize) {
            let raw = match form {
                0 => format!("0{prefix} {rest}"),
                1 => format!("+84 {prefix}{rest}"),
                _ => format!("84{prefix}{rest}"),
            };
            let fast = vn(&raw).unwrap();
            let general = phonenumber::parse(Some(phonenumber::country::Id::VN), format!("+84{prefix}{rest}")).unwrap();
            prop_assert!(phonenumber::is_valid(&general), "{} is not valid for the general parser", raw);
            prop_assert_eq!(fast, general.format().mode(phonenumber::Mode::E164).to_string());
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,30}") {
            let _ = vn(&s);
        }
    }
}
