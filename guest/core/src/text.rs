//! Character facts shared by the tokenizer and the injection normaliser, and the base64
//! decoding shared by the normaliser and secret detection.

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

/// Whether `c` is a base64 character, of the standard or the URL-safe alphabet.
pub(crate) fn is_base64_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'-' | b'_')
}

/// The bytes a run of base64 characters (either alphabet, no padding) encodes; `None`
/// when it holds another character. Bits left over at the end are dropped.
pub(crate) fn base64_decode(run: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(run.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &c in run {
        let six = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        };
        acc = (acc << 6 | u32::from(six)) & 0xFFFF;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.extend(u8::try_from(acc >> bits & 0xFF).ok());
        }
    }
    Some(out)
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
