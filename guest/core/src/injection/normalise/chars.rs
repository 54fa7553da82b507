//! The character classes normalisation works with: format and invisible characters,
//! combining marks, Latin letters with diacritics, look-alike letters and leetspeak.

pub(super) use crate::text::{is_bidi, is_invisible, is_latin_with_diacritic};

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
