//! Text normalisation that undoes the common disguises of an injection.
//!
//! The pipeline, each stage linear in its input:
//!
//! 1. cap the input at [`MAX_INPUT`] bytes (on a char boundary), Unicode NFKC
//!    (fullwidth forms, mathematical letters, ligatures, circled letters);
//! 2. decode embedded encodings in place: `%xx` escapes to a fixed point (a
//!    single stack pass, so `%2541` becomes `A`), `\uXXXX` and `\xHH` escapes
//!    and HTML character references, runs of at least six 8-bit binary groups
//!    (`01101001 01100111 …`) or Morse letters (`.. --. -. --- .-. .`, words
//!    split by `/`), then base64 and hex runs of at
//!    least [`MIN_ENCODED`] characters whose bytes are mostly printable UTF-8
//!    text, for up to [`DECODE_ROUNDS`] rounds (NFKC again if anything changed);
//! 3. drop format characters (zero-width, soft hyphen, bidi controls, word
//!    joiners, variation selectors) and combining marks, and strip the
//!    diacritics of Latin letters (`é` → `e`); Unicode tag characters spell the
//!    ASCII they mirror (invisible text), except after a black flag, where they
//!    name a subdivision flag and are dropped; then remove markers that split a
//!    word (`Exec<SPLIT>ute`, `ig<b>no</b>re`: `<…>` or `[…]` holding up to 12
//!    letters, with a letter right before and right after);
//! 4. collapse spaced letters: three or more single letters separated by the
//!    same single separator (`i g n o r e`, `i.g.n.o.r.e`, `i-g-n-o-r-e`) are joined;
//! 5. per word: fold look-alike letters (Cyrillic, Greek, Armenian, small
//!    capitals) to Latin when the word mixes them with Latin letters or is made
//!    of look-alikes only, lower-case, and collapse leetspeak (`0→o 1→i/l 3→e
//!    4→a 5→s 7→t @→a $→s`) in words that mix letters with those symbols.
//!
//! The output is at most [`MAX_OUTPUT`] bytes. `normalise(normalise(x)) ==
//! normalise(x)` for ordinary text; nested encodings deeper than
//! [`DECODE_ROUNDS`] base64/hex levels are decoded one level more by each call.

use unicode_normalization::UnicodeNormalization;

mod chars;
mod decode;
use chars::{
    confusable, is_bidi, is_combining, is_invisible, is_latin_with_diacritic, leet, strip_diacritic,
};
use decode::decode_all;

/// Bytes of input examined; the rest is ignored.
pub const MAX_INPUT: usize = 64 * 1024;
/// Bytes of normalised output kept at most.
pub const MAX_OUTPUT: usize = 256 * 1024;
/// Shortest base64 or hex run that is decoded.
pub const MIN_ENCODED: usize = 16;
/// Rounds of base64/hex decoding (each round decodes one level of nesting).
pub const DECODE_ROUNDS: usize = 3;

/// Which disguises normalisation removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Obfuscation {
    /// Zero-width or other format characters between letters.
    pub zero_width: bool,
    /// Bidirectional controls (U+202A–U+202E, U+2066–U+2069).
    pub bidi: bool,
    /// Letters that NFKC mapped to ASCII (fullwidth, mathematical, circled).
    pub fullwidth: bool,
    /// Words mixing look-alike letters with Latin ones.
    pub homoglyph: bool,
    /// Words mixing letters with leetspeak digits or symbols.
    pub leetspeak: bool,
    /// Runs of spaced single letters.
    pub spaced: bool,
    /// `%xx` escapes.
    pub url_encoded: bool,
    /// HTML character references (`&#x65;`, `&#101;`, `&lt;`).
    pub html_entities: bool,
    /// Base64 runs that decoded to text.
    pub base64: bool,
    /// Hex runs that decoded to text.
    pub hex: bool,
    /// Runs of 8-bit binary groups (`01101001 01100111 …`) or Morse code
    /// (`.. --. -. --- .-. .`) that decoded to text.
    pub binary_or_morse: bool,
    /// Combining marks stacked on letters (beyond ordinary accents).
    pub combining: bool,
    /// `\uXXXX` or `\xHH` escapes.
    pub escapes: bool,
    /// Unicode tag characters that spell ASCII text (invisible "ASCII smuggling").
    pub tags: bool,
    /// Markers splitting a word (`Exec<SPLIT>ute`, `ig[x]nore`).
    pub split_markers: bool,
}

/// The result of [`normalise_detailed`].
#[derive(Debug, Clone, Default)]
pub struct Normalised {
    /// The fully normalised text (what [`normalise`] returns).
    pub text: String,
    /// The input after NFKC, lower-casing and Latin diacritic stripping only:
    /// the "plain reading", to tell obfuscated matches from plain ones.
    pub plain: String,
    /// Which disguises were found.
    pub obfuscation: Obfuscation,
    /// True when the input was longer than [`MAX_INPUT`] and was cut.
    pub truncated: bool,
}

/// Normalises `text` for matching; see the module docs.
pub fn normalise(text: &str) -> String {
    normalise_detailed(text).text
}

/// Normalises `text` and reports which disguises it removed.
pub fn normalise_detailed(text: &str) -> Normalised {
    let (input, truncated) = cap(text, MAX_INPUT);
    let mut ob = Obfuscation::default();

    // Plain ASCII (the common case) is its own NFKC form, has no diacritics,
    // look-alikes or format characters: the Unicode stages are skipped, with
    // the same result (the test `ascii_fast_path_matches_the_general_path`).
    let ascii = input.is_ascii();
    let (s1, plain) = if ascii {
        (input.to_string(), input.to_ascii_lowercase())
    } else {
        let s1: String = bounded(input.nfkc(), MAX_OUTPUT);
        if nfkc_changed_letters(input) {
            ob.fullwidth = true;
        }
        let plain = plain_reading(&s1);
        (s1, plain)
    };

    let s2 = decode_all(&s1, &mut ob);
    let s2 = if s2 != s1 {
        bounded(s2.nfkc(), MAX_OUTPUT)
    } else {
        s2
    };
    let s3 = if s2.is_ascii() && !s2.contains('\\') {
        s2
    } else {
        filter_chars(&s2, &mut ob)
    };
    let s3 = if s3.contains(['<', '[']) {
        join_split_words(&s3, &mut ob)
    } else {
        s3
    };
    let s4 = collapse_spaced(&s3, &mut ob);
    let s5 = fold_words(&s4, &mut ob);
    Normalised {
        text: s5,
        plain,
        obfuscation: ob,
        truncated,
    }
}

/// [`normalise_detailed`] without the ASCII fast paths (for the tests).
#[cfg(test)]
pub(crate) fn normalise_general(text: &str) -> Normalised {
    let (input, truncated) = cap(text, MAX_INPUT);
    let mut ob = Obfuscation::default();
    let s1: String = bounded(input.nfkc(), MAX_OUTPUT);
    if nfkc_changed_letters(input) {
        ob.fullwidth = true;
    }
    let plain = plain_reading(&s1);
    let s2 = decode_all(&s1, &mut ob);
    let s2 = if s2 != s1 {
        bounded(s2.nfkc(), MAX_OUTPUT)
    } else {
        s2
    };
    let s3 = filter_chars(&s2, &mut ob);
    let s3 = join_split_words(&s3, &mut ob);
    let s4 = collapse_spaced_in(&s3.chars().collect::<Vec<char>>(), &mut ob);
    let s5 = fold_words_in(&s4.chars().collect::<Vec<char>>(), s4.len(), &mut ob);
    Normalised {
        text: s5,
        plain,
        obfuscation: ob,
        truncated,
    }
}

/// The longest prefix of `text` of at most `max` bytes ending on a char boundary.
pub(crate) fn cap(text: &str, max: usize) -> (&str, bool) {
    if text.len() <= max {
        return (text, false);
    }
    let mut end = max;
    while end > 0 && !text.is_char_boundary(end) {
        end -= 1;
    }
    (text.get(..end).unwrap_or(""), true)
}

fn bounded(chars: impl Iterator<Item = char>, max: usize) -> String {
    let mut out = String::new();
    for c in chars {
        if out.len() + c.len_utf8() > max {
            break;
        }
        out.push(c);
    }
    out
}

/// True when NFKC maps some non-ASCII character to an ASCII letter or digit.
fn nfkc_changed_letters(input: &str) -> bool {
    let mut buf = [0u8; 4];
    input.chars().any(|c| {
        !c.is_ascii()
            && c.encode_utf8(&mut buf)
                .nfkc()
                .any(|d| d.is_ascii_alphanumeric())
            && !is_latin_with_diacritic(c)
    })
}

fn plain_reading(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        for l in c.to_lowercase() {
            if !is_combining(l) {
                out.push(strip_diacritic(l));
            }
        }
    }
    out
}

fn filter_chars(s: &str, ob: &mut Obfuscation) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev: Option<char> = None;
    let mut marks_in_a_row = 0usize;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if is_bidi(c) {
            ob.bidi = true;
            continue;
        }
        // Tag characters spell ASCII invisibly; after a black flag they name a
        // subdivision flag (England, Scotland) and are dropped.
        if matches!(c, '\u{E0020}'..='\u{E007E}')
            && prev != Some('\u{1F3F4}')
            && let Some(a) = char::from_u32(c as u32 - 0xE0000)
        {
            ob.tags = true;
            ob.zero_width = true;
            if out.len() + 1 > MAX_OUTPUT {
                break;
            }
            out.push(a);
            prev = Some(a);
            continue;
        }
        if is_invisible(c) {
            // Joiners and selectors between emoji are ordinary; between letters
            // they are a disguise.
            let next = chars.peek().copied();
            // Non-joiner and joiner are ordinary spelling in Persian and Indic
            // scripts; between Latin letters or digits they are a disguise.
            let joiner = matches!(c, '\u{200C}' | '\u{200D}');
            let neighbour = |x: Option<char>| {
                x.is_some_and(|x| {
                    if joiner {
                        x.is_ascii_alphanumeric()
                    } else {
                        x.is_alphanumeric()
                    }
                })
            };
            if neighbour(prev) && neighbour(next) {
                ob.zero_width = true;
            }
            if matches!(c, '\u{E0000}'..='\u{E007F}') {
                ob.zero_width = true;
            }
            continue;
        }
        if is_combining(c) {
            marks_in_a_row += 1;
            if marks_in_a_row >= 2 {
                ob.combining = true;
            }
            continue;
        }
        marks_in_a_row = 0;
        // Escaped line breaks read as line breaks (`\\n` in pasted JSON).
        if c == '\\' && matches!(chars.peek(), Some('n' | 'r' | 't')) {
            chars.next();
            out.push('\n');
            prev = Some('\n');
            continue;
        }
        let c = strip_diacritic(c);
        if out.len() + c.len_utf8() > MAX_OUTPUT {
            break;
        }
        out.push(c);
        prev = Some(c);
    }
    out
}

/// Longest marker (`<SPLIT>`, `[x]`) removed from inside a word.
const MAX_SPLIT_MARKER: usize = 12;

/// Removes markers that split a word: `<`…`>` or `[`…`]` holding 1 to
/// [`MAX_SPLIT_MARKER`] letters (and `_`, `-`, `/`), with a letter right before
/// and right after (`Exec<SPLIT>ute` → `Execute`, `ig<b>no</b>re` → `ignore`).
/// Generic types and indexing (`Vec<u8>`, `map[key].len`) are not followed by a
/// letter and stay.
fn join_split_words(s: &str, ob: &mut Obfuscation) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find(['<', '[']) {
        let (before, tail) = rest.split_at(at);
        out.push_str(before);
        let close = if tail.starts_with('<') { '>' } else { ']' };
        let body = tail.get(1..).unwrap_or("");
        let len = body
            .bytes()
            .take(MAX_SPLIT_MARKER + 1)
            .take_while(|b| b.is_ascii_alphabetic() || matches!(b, b'_' | b'-' | b'/'))
            .count();
        let after = body.get(len..).unwrap_or("");
        let letter_before = out.chars().next_back().is_some_and(char::is_alphabetic);
        if (1..=MAX_SPLIT_MARKER).contains(&len)
            && letter_before
            && after.starts_with(close)
            && after
                .get(1..)
                .and_then(|a| a.chars().next())
                .is_some_and(char::is_alphabetic)
        {
            ob.split_markers = true;
            rest = after.get(1..).unwrap_or("");
            continue;
        }
        let open_len = 1;
        out.push_str(tail.get(..open_len).unwrap_or(""));
        rest = tail.get(open_len..).unwrap_or("");
    }
    out.push_str(rest);
    out
}

fn is_spacing_separator(c: char) -> bool {
    matches!(
        c,
        ' ' | '.' | '-' | '_' | '*' | ',' | '/' | '|' | '+' | '\'' | '~' | '·' | '\u{A0}'
    )
}

/// Joins runs of at least four single letters separated by one separator each.
/// ASCII text is walked as bytes (no `Vec<char>` copy).
fn collapse_spaced(s: &str, ob: &mut Obfuscation) -> String {
    if s.is_ascii() {
        if !has_spaced_run_ascii(s.as_bytes()) {
            return s.to_string();
        }
        collapse_spaced_in(s.as_bytes(), ob)
    } else {
        collapse_spaced_in(&s.chars().collect::<Vec<char>>(), ob)
    }
}

/// True when ASCII `b` holds the start of a run [`collapse_spaced_in`] joins: a
/// single letter, a separator, a single letter, the same separator, a single letter.
/// Every joined run starts so, so without one the text is left as it is.
fn has_spaced_run_ascii(b: &[u8]) -> bool {
    let alnum = |i: usize| b.get(i).is_some_and(u8::is_ascii_alphanumeric);
    let single = |i: usize| alnum(i) && (i == 0 || !alnum(i - 1)) && !alnum(i + 1);
    (0..b.len()).any(|i| {
        single(i)
            && b.get(i + 1)
                .is_some_and(|&s| is_spacing_separator(char::from(s)))
            && single(i + 2)
            && b.get(i + 3) == b.get(i + 1)
            && single(i + 4)
    })
}

fn collapse_spaced_in<C: Copy + Into<char>>(chars: &[C], ob: &mut Obfuscation) -> String {
    let n = chars.len();
    let at = |i: usize| chars.get(i).map(|&c| c.into());
    let single = |i: usize| -> bool {
        at(i).is_some_and(char::is_alphanumeric)
            && (i == 0 || !at(i - 1).is_some_and(char::is_alphanumeric))
            && !at(i + 1).is_some_and(char::is_alphanumeric)
    };
    let mut out = String::with_capacity(n);
    let mut i = 0;
    while i < n {
        if single(i) {
            // Extend the group: single, separator, single, ...
            // One separator kind per group, so `i.g.n.o.r.e a.l.l` stays two words.
            let sep = at(i + 1);
            let mut j = i;
            let mut count = 1;
            while at(j + 1).is_some_and(is_spacing_separator) && at(j + 1) == sep && single(j + 2) {
                j += 2;
                count += 1;
            }
            if count >= 3 {
                ob.spaced = true;
                let mut k = i;
                while k <= j {
                    if let Some(c) = at(k) {
                        out.push(c);
                    }
                    k += 2;
                }
                i = j + 1;
                continue;
            }
            // Too short: copy the group unchanged.
            for k in i..=j {
                if let Some(c) = at(k) {
                    out.push(c);
                }
            }
            i = j + 1;
            continue;
        }
        if let Some(c) = at(i) {
            out.push(c);
        }
        i += 1;
    }
    out
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '@' || c == '$'
}

/// `!` reads as `i` when a letter follows (`!gnore`).
fn is_word_at<C: Copy + Into<char>>(chars: &[C], i: usize) -> bool {
    match chars.get(i).map(|&c| c.into()) {
        Some('!') => chars
            .get(i + 1)
            .is_some_and(|&c| Into::<char>::into(c).is_alphabetic()),
        Some(c) => is_word_char(c),
        None => false,
    }
}

/// Whether the word (the run of word characters) starting at `i` alternates case as
/// noise (`IgNoRe`, `iNsTrUcTiOnS`), and where it ends: at least six ASCII letters, with
/// the case changing between at least 80 % of neighbouring letters. camelCase
/// (`parseJsonBody`, `NoSQL`, `FnMut`) and random base64 change less often or are
/// shorter, so they are split as before.
fn case_noise<C: Copy + Into<char>>(chars: &[C], i: usize) -> (bool, usize) {
    let (mut letters, mut changes) = (0usize, 0usize);
    let mut last: Option<bool> = None;
    let mut k = i;
    while is_word_at(chars, k) {
        if let Some(c) = chars
            .get(k)
            .map(|&c| c.into())
            .filter(char::is_ascii_alphabetic)
        {
            let upper = c.is_ascii_uppercase();
            if last.is_some_and(|l| l != upper) {
                changes += 1;
            }
            last = Some(upper);
            letters += 1;
        }
        k += 1;
    }
    (letters >= 6 && changes * 10 >= (letters - 1) * 8, k)
}

/// Folds look-alikes and leetspeak per word, and lower-cases everything.
/// ASCII text is walked as bytes (no `Vec<char>` copy).
fn fold_words(s: &str, ob: &mut Obfuscation) -> String {
    if s.is_ascii() {
        fold_words_ascii(s.as_bytes(), ob)
    } else {
        fold_words_in(&s.chars().collect::<Vec<char>>(), s.len(), ob)
    }
}

/// [`fold_words_in`] for ASCII text, where no letter is a look-alike: a word is only
/// lower-cased, unless it mixes letters with leetspeak symbols.
fn fold_words_ascii(b: &[u8], ob: &mut Obfuscation) -> String {
    let mut out = String::with_capacity(b.len());
    let word_at = |k: usize| is_word_at(b, k);
    let mut i = 0;
    // Whether the word being read alternates case as noise, and where it ends (read
    // once a word: its camelCase parts start inside it).
    let (mut noise, mut word_end) = (false, 0);
    while let Some(&c) = b.get(i) {
        if !word_at(i) {
            out.push(if c == b'_' {
                ' '
            } else {
                char::from(c.to_ascii_lowercase())
            });
            i += 1;
            continue;
        }
        if i >= word_end {
            (noise, word_end) = case_noise(b, i);
        }
        let camel = |k: usize| {
            !noise
                && k > i
                && b.get(k).is_some_and(u8::is_ascii_uppercase)
                && b.get(k - 1).is_some_and(u8::is_ascii_lowercase)
                && word_at(k + 1)
        };
        let mut j = i;
        while word_at(j) && !camel(j) {
            j += 1;
        }
        let word = b.get(i..j).unwrap_or(&[]);
        let leety = word.len() <= 40
            && word.iter().any(u8::is_ascii_alphabetic)
            && word.iter().any(|&c| leet(char::from(c), None).is_some());
        if leety {
            ob.leetspeak = true;
            for (k, &c) in word.iter().enumerate() {
                let next = word.get(k + 1).map(|&n| {
                    let n = char::from(n);
                    leet(n, None).unwrap_or(n).to_ascii_lowercase()
                });
                let c = char::from(c);
                push_lower(&mut out, leet(c, next).unwrap_or(c));
            }
        } else {
            out.extend(word.iter().map(|&c| char::from(c.to_ascii_lowercase())));
        }
        if camel(j) {
            out.push(' ');
        }
        i = j;
        if out.len() > MAX_OUTPUT {
            break;
        }
    }
    out
}

fn fold_words_in<C: Copy + Into<char>>(chars: &[C], len: usize, ob: &mut Obfuscation) -> String {
    let mut out = String::with_capacity(len);
    let char_at = |k: usize| chars.get(k).map(|&c| c.into());
    let mut i = 0;
    let n = chars.len();
    let (mut noise, mut word_end) = (false, 0);
    while i < n {
        let Some(c) = char_at(i) else { break };
        if !is_word_at(chars, i) {
            // Identifiers read as words: `ignore_all_rules`.
            push_lower(&mut out, if c == '_' { ' ' } else { c });
            i += 1;
            continue;
        }
        if i >= word_end {
            (noise, word_end) = case_noise(chars, i);
        }
        // camelCase reads as words: `IgnoreAllPrevious`. A capital that ends the
        // word starts no word of its own (`!gnorE` is one word), nor does any capital
        // of a word whose case alternates as noise (`IgNoRe`).
        let camel = |k: usize| {
            !noise
                && k > i
                && char_at(k).is_some_and(|c| c.is_ascii_uppercase())
                && char_at(k - 1).is_some_and(|c| c.is_ascii_lowercase())
                && is_word_at(chars, k + 1)
        };
        let mut j = i;
        while is_word_at(chars, j) && !camel(j) {
            j += 1;
        }
        let split_after = camel(j);
        // The word is read in place (no copy per word): `folded(k)` is its `k`-th
        // character with look-alikes folded when the word folds.
        let word = chars.get(i..j).unwrap_or(&[]);
        let letter = |k: usize| -> Option<char> { word.get(k).map(|&c| c.into()) };
        let has_ascii_letter =
            (0..word.len()).any(|k| letter(k).is_some_and(|c| c.is_ascii_alphabetic()));
        let letters = (0..word.len())
            .filter(|&k| letter(k).is_some_and(char::is_alphabetic))
            .count();
        let lookalikes = (0..word.len())
            .filter(|&k| letter(k).is_some_and(|c| confusable(c).is_some()))
            .count();
        let fold = lookalikes > 0
            && (has_ascii_letter || (letters >= 2 && lookalikes == letters && letters <= 12));
        if fold && has_ascii_letter {
            ob.homoglyph = true;
        }
        let folded = |k: usize| -> Option<char> {
            letter(k).map(|c| if fold { confusable(c).unwrap_or(c) } else { c })
        };
        let any_letter = (0..word.len()).any(|k| folded(k).is_some_and(char::is_alphabetic));
        let leety = any_letter
            && word.len() <= 40
            && (0..word.len()).any(|k| folded(k).is_some_and(|c| leet(c, folded(k + 1)).is_some()));
        for k in 0..word.len() {
            let Some(c) = folded(k) else { break };
            let next = folded(k + 1).map(|n| leet(n, None).unwrap_or(n).to_ascii_lowercase());
            let mapped = if leety { leet(c, next).unwrap_or(c) } else { c };
            push_lower(&mut out, mapped);
        }
        if leety {
            ob.leetspeak = true;
        }
        if split_after {
            out.push(' ');
        }
        i = j;
        if out.len() > MAX_OUTPUT {
            break;
        }
    }
    out
}

fn push_lower(out: &mut String, c: char) {
    for l in c.to_lowercase() {
        if !is_combining(l) {
            out.push(l);
        }
    }
}
