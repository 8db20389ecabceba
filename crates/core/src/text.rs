//! Text folding for accent- and case-insensitive search.

use unicode_normalization::UnicodeNormalization;

/// Folds text for search: lower case, accents removed, `đ` read as `d`.
/// White space is kept as it is.
///
/// "Nguyễn Văn Đức" folds to "nguyen van duc", so a search for `nguyen`,
/// `đức` or `DUC` finds it. The same function folds the stored text and the
/// query, so the two always agree.
pub fn fold(s: &str) -> String {
    if s.is_ascii() {
        return s.to_ascii_lowercase();
    }
    let mut out = String::with_capacity(s.len());
    for c in s.nfd() {
        if is_combining_mark(c) {
            continue;
        }
        let c = match c {
            'đ' | 'Đ' => 'd',
            'ð' | 'Ð' => 'd',
            'ø' | 'Ø' => 'o',
            'ł' | 'Ł' => 'l',
            'ß' => 's',
            _ => c,
        };
        for l in c.to_lowercase() {
            out.push(l);
        }
    }
    out
}

fn is_combining_mark(c: char) -> bool {
    matches!(c as u32, 0x0300..=0x036F | 0x1AB0..=0x1AFF | 0x1DC0..=0x1DFF | 0x20D0..=0x20FF | 0xFE20..=0xFE2F)
}

#[cfg(test)]
mod tests {
    use super::fold;
    use proptest::prelude::*;

    #[test]
    fn vietnamese_names_fold_to_plain_ascii() {
        assert_eq!(fold("Nguyễn Văn Đức"), "nguyen van duc");
        assert_eq!(fold("TRẦN thị Hoà"), "tran thi hoa");
        assert_eq!(fold("đức"), fold("DUC"));
    }

    proptest! {
        #[test]
        fn folding_is_idempotent(s in "\\PC{0,40}") {
            let once = fold(&s);
            prop_assert_eq!(fold(&once), once.clone());
        }

        #[test]
        fn folded_text_has_no_upper_case_ascii(s in "\\PC{0,40}") {
            prop_assert!(!fold(&s).chars().any(|c| c.is_ascii_uppercase()));
        }
    }
}
