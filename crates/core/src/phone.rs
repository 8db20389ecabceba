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
        fn parse_never_panics(s in "\\PC{0,30}") {
            let _ = vn(&s);
        }
    }
}
