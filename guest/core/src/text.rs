//! Character facts shared by the tokenizer and the injection normaliser.

use unicode_normalization::char::decompose_canonical;

/// Latin letters that may carry diacritics: Latin-1 Supplement, Latin Extended-A
/// and -B, Latin Extended Additional.
pub(crate) fn is_latin_with_diacritic(c: char) -> bool {
    matches!(c, '\u{C0}'..='\u{24F}' | '\u{1E00}'..='\u{1EFF}')
}

/// The letter a Latin letter with diacritics is written on (`é` → `e`, `ǖ` → `u`,
/// `ǿ` → `ø`), or `None` for any other char and for Latin letters that have no
/// canonical decomposition (`ø`, `ß`, `ł`, `×`). Allocates nothing.
pub(crate) fn latin_base(c: char) -> Option<char> {
    if !is_latin_with_diacritic(c) {
        return None;
    }
    let mut base = None;
    // A canonical decomposition starts with its base letter; the marks follow.
    decompose_canonical(c, |part| {
        base.get_or_insert(part);
    });
    base.filter(|&b| b != c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_base_letter_is_the_letter_without_its_marks() {
        assert_eq!(latin_base('é'), Some('e'));
        assert_eq!(latin_base('Ç'), Some('C'));
        assert_eq!(latin_base('ǖ'), Some('u'));
        assert_eq!(latin_base('ṩ'), Some('s'));
        assert_eq!(latin_base('ǿ'), Some('ø'));
        assert_eq!(latin_base('ǣ'), Some('æ'));
        for c in ['ø', 'ß', 'ł', 'æ', '×', '÷', 'e', 'ж', 'ά', '数'] {
            assert_eq!(latin_base(c), None, "{c}");
        }
    }
}
