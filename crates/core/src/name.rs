//! Splitting a full name into given and family names.

use crate::text::fold;

/// The parts of a person's name.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NameParts {
    pub given: Option<String>,
    pub family: Option<String>,
}

/// Family names that cover the great majority of Vietnamese people, folded.
/// A name that starts with one of them is read family-name-first.
const VIETNAMESE_FAMILY_NAMES: &[&str] = &[
    "nguyen", "tran", "le", "pham", "hoang", "huynh", "phan", "vu", "vo", "dang", "bui", "do",
    "ho", "ngo", "duong", "ly", "dinh", "doan", "trinh", "truong", "lam", "mai", "cao", "ta", "ha",
    "luong", "luu", "tong", "chau", "quach", "thai", "trieu", "vuong", "la", "kieu", "khuc",
    "giang", "tang", "thach", "van", "lai", "nghiem", "dao", "tien", "au", "ton", "thi", "bach",
    "chu", "diep", "quang", "hua", "mac", "lu", "tu",
];

/// Locales whose names are written family name first.
fn family_first_locale(locale: &str) -> bool {
    let lang = locale
        .split(['-', '_'])
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    matches!(lang.as_str(), "vi" | "zh" | "ja" | "ko" | "hu")
}

/// Splits a full name into its given and family names.
///
/// Vietnamese names are written family name first: the given name of
/// "Nguyễn Văn An" is "An" and the family name "Nguyễn" (the middle name
/// stays only in the full name). A `locale` decides the order when known
/// (`vi`, `zh`, `ja`, `ko`, `hu` put the family first; others put it last).
/// Without one, a name that opens with a common Vietnamese family name is
/// read the Vietnamese way and any other the Western way, so "John Smith"
/// and "Trần Thị Mai" both come out right in the same workspace.
pub fn split_name(full: &str, locale: Option<&str>) -> NameParts {
    let words: Vec<&str> = full.split_whitespace().collect();
    match words.as_slice() {
        [] => NameParts::default(),
        [one] => NameParts {
            given: Some((*one).to_string()),
            family: None,
        },
        [first, .., last] => {
            let family_first = match locale {
                Some(l) if !l.trim().is_empty() => family_first_locale(l),
                _ => VIETNAMESE_FAMILY_NAMES.contains(&fold(first).as_str()),
            };
            if family_first {
                NameParts {
                    given: Some((*last).to_string()),
                    family: Some((*first).to_string()),
                }
            } else {
                NameParts {
                    given: Some((*first).to_string()),
                    family: Some((*last).to_string()),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parts(full: &str, locale: Option<&str>) -> (Option<String>, Option<String>) {
        let p = split_name(full, locale);
        (p.given, p.family)
    }

    #[test]
    fn vietnamese_names_give_the_last_word_as_given_name() {
        assert_eq!(
            parts("Nguyễn Văn An", None),
            (Some("An".into()), Some("Nguyễn".into()))
        );
        assert_eq!(
            parts("trần thị  mai", None),
            (Some("mai".into()), Some("trần".into()))
        );
        assert_eq!(
            parts("Smith John", Some("vi-VN")),
            (Some("John".into()), Some("Smith".into()))
        );
    }

    #[test]
    fn western_names_give_the_first_word_as_given_name() {
        assert_eq!(
            parts("John Smith", None),
            (Some("John".into()), Some("Smith".into()))
        );
        assert_eq!(
            parts("Nguyen An", Some("en")),
            (Some("Nguyen".into()), Some("An".into()))
        );
    }

    #[test]
    fn a_single_word_is_a_given_name() {
        assert_eq!(parts("  Madonna ", None), (Some("Madonna".into()), None));
        assert_eq!(parts("   ", None), (None, None));
    }

    proptest! {
        #[test]
        // The letter range À-ỹ also holds U+1680, a space: words are kept
        // free of spaces, as names split on them.
        fn split_parts_are_words_of_the_name(
            words in prop::collection::vec(
                "[A-Za-zÀ-ỹ]{1,8}".prop_filter("a word has no spaces", |w: &String| !w.chars().any(char::is_whitespace)),
                0..5,
            ),
            vi in any::<bool>(),
        ) {
            let full = words.join(" ");
            let p = split_name(&full, Some(if vi { "vi" } else { "en" }));
            for part in [p.given, p.family].into_iter().flatten() {
                prop_assert!(words.contains(&part));
            }
        }
    }
}
