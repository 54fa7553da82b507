//! The character classes normalisation works with: format and invisible characters,
//! combining marks, Latin letters with diacritics, look-alike letters and leetspeak.

pub(super) use crate::text::is_latin_with_diacritic;

/// The base Latin letter of a Latin letter with diacritics (`é` → `e`); a letter
/// whose base is not ASCII (`ǿ`) is kept.
pub(super) fn strip_diacritic(c: char) -> char {
    crate::text::latin_base(c)
        .filter(char::is_ascii_alphabetic)
        .unwrap_or(c)
}

pub(super) fn is_combining(c: char) -> bool {
    matches!(c,
        '\u{300}'..='\u{36F}'
        | '\u{1AB0}'..='\u{1AFF}'
        | '\u{1DC0}'..='\u{1DFF}'
        | '\u{20D0}'..='\u{20FF}'
        | '\u{FE20}'..='\u{FE2F}')
}

pub(super) fn is_bidi(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{61C}')
}

/// Format (Cf) and invisible characters that carry no text.
pub(super) fn is_invisible(c: char) -> bool {
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

/// Look-alike letters and the Latin letter they imitate (from Unicode's
/// confusables data, restricted to letters that pass for ASCII ones).
pub(super) fn confusable(c: char) -> Option<char> {
    Some(match c {
        // Cyrillic
        'а' | 'А' => 'a',
        'В' | 'в' | 'Ь' => 'b',
        'с' | 'С' | 'ϲ' | 'Ϲ' => 'c',
        'ԁ' => 'd',
        'е' | 'Е' | 'ε' | 'Ε' => 'e',
        'ɡ' | 'ɢ' => 'g',
        'һ' | 'Һ' | 'Н' | 'н' | 'Η' | 'ʜ' => 'h',
        'і' | 'І' | 'ι' | 'Ι' | 'ı' | 'ɩ' | 'ɪ' | 'Ӏ' => 'i',
        'ј' | 'Ј' => 'j',
        'к' | 'К' | 'κ' | 'Κ' | 'ᴋ' => 'k',
        'ӏ' | 'ʟ' => 'l',
        'М' | 'Μ' | 'ᴍ' => 'm',
        'ո' | 'Ν' | 'ɴ' => 'n',
        'о' | 'О' | 'ο' | 'Ο' | 'օ' | 'ᴏ' | 'Օ' => 'o',
        'р' | 'Р' | 'ρ' | 'Ρ' | 'ᴘ' => 'p',
        'ԛ' => 'q',
        'ʀ' => 'r',
        'ѕ' | 'Ѕ' | 'ꜱ' => 's',
        'Т' | 'т' | 'τ' | 'Τ' | 'ᴛ' => 't',
        'υ' | 'ս' | 'ᴜ' => 'u',
        'ν' | 'ᴠ' => 'v',
        'ԝ' | 'ᴡ' => 'w',
        'х' | 'Х' | 'χ' | 'Χ' => 'x',
        'у' | 'Υ' | 'Ү' | 'ү' | 'ʏ' => 'y',
        'ᴢ' | 'Ζ' => 'z',
        'ɑ' | 'α' | 'Α' | 'ᴀ' => 'a',
        'Β' | 'ʙ' => 'b',
        'ᴄ' => 'c',
        'ᴅ' => 'd',
        'ᴇ' => 'e',
        'ғ' => 'f',
        'ᴊ' => 'j',
        _ => return None,
    })
}

pub(super) fn leet(c: char, next: Option<char>) -> Option<char> {
    Some(match c {
        '0' => 'o',
        '1' => match next {
            // "1gnore", "1nstructions", "f1lter" read as i; "ru1es", "a11" as l.
            Some('g' | 'n' | 's' | 't' | 'm' | 'v' | 'd' | 'c' | 'o' | 'f' | 'z' | 'r' | 'p') => {
                'i'
            }
            Some(n) if n.is_ascii_alphabetic() && "aeiuy".contains(n) => 'l',
            _ => 'l',
        },
        '3' => 'e',
        '4' => 'a',
        '5' => 's',
        '7' => 't',
        '@' => 'a',
        '$' => 's',
        '!' => 'i',
        _ => return None,
    })
}
