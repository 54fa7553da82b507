//! Character facts shared by the tokenizer, the injection normaliser and secret
//! detection, and the base64 and hex decoding shared by the normaliser and secret
//! detection.

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

/// Bidirectional controls: embeddings, overrides, isolates and marks.
pub(crate) fn is_bidi(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{61C}')
}

/// Format (Cf) and invisible characters that carry no text.
pub(crate) fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{AD}'                      // soft hyphen
        | '\u{34F}'                   // combining grapheme joiner
        | '\u{115F}' | '\u{1160}' | '\u{3164}' | '\u{FFA0}' // Hangul fillers
        | '\u{17B4}' | '\u{17B5}'
        | '\u{180B}'..='\u{180F}'     // Mongolian selectors, vowel separator
        | '\u{200B}'..='\u{200D}'     // zero-width space, non-joiner, joiner
        | '\u{2060}'..='\u{2064}'     // word joiner, invisible operators
        | '\u{206A}'..='\u{206F}'
        | '\u{FE00}'..='\u{FE0F}'     // variation selectors
        | '\u{FEFF}'                  // zero-width no-break space / BOM
        | '\u{FFF9}'..='\u{FFFB}'
        | '\u{1D173}'..='\u{1D17A}'
        | '\u{E0000}'..='\u{E007F}'   // tag characters
        | '\u{E0100}'..='\u{E01EF}'   // variation selectors supplement
        | '\u{600}'..='\u{605}' | '\u{6DD}' | '\u{70F}' | '\u{8E2}' | '\u{110BD}' | '\u{110CD}')
}

/// Whether `c` is a base64 character, of the standard or the URL-safe alphabet
/// (asked of every byte of every text secret detection reads: kept inline).
#[inline]
pub(crate) fn is_base64_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'-' | b'_')
}

/// Whether `s` is made of lowercase hex digits only (the way hashes and cursors are
/// written; empty is too).
pub(crate) fn is_lower_hex(s: &str) -> bool {
    s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The value of a hex digit, either case.
pub(crate) fn hex_digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// The bytes a run of hex digits encodes, two digits a byte; `None` when it holds
/// another character or an odd number of digits.
pub(crate) fn hex_decode(run: &[u8]) -> Option<Vec<u8>> {
    run.chunks(2)
        .map(|pair| match pair {
            [hi, lo] => Some(hex_digit(*hi)? << 4 | hex_digit(*lo)?),
            _ => None,
        })
        .collect()
}

/// The standard, padded base64 of `text`: the encoder the tests build their inputs with.
#[cfg(test)]
pub(crate) fn base64_encode(text: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in text.as_bytes().chunks(3) {
        let n = chunk.iter().fold(0u32, |n, &b| n << 8 | u32::from(b)) << (8 * (3 - chunk.len()));
        for k in 0..4 {
            let six = usize::try_from(n >> (18 - 6 * k) & 63).unwrap_or(0);
            match ALPHABET.get(six) {
                Some(&c) if k <= chunk.len() => out.push(char::from(c)),
                _ => out.push('='),
            }
        }
    }
    out
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
