//! Stage 2 of normalisation: decoding `%xx` escapes to a fixed point, `\uXXXX` and
//! `\xHH` escapes and HTML character references, then base64 and hex runs that read as text, for up to [`DECODE_ROUNDS`]
//! rounds.

use super::*;
use crate::text::{base64_decode, hex_decode, hex_digit, is_base64_byte};

pub(super) fn decode_all(s: &str, ob: &mut Obfuscation) -> String {
    let mut cur = if s.contains('%') {
        let d = percent_decode(s);
        if d != s {
            ob.url_encoded = true;
        }
        d
    } else {
        s.to_string()
    };
    if cur.contains("\\u") || cur.contains("\\x") {
        let d = escape_decode(&cur);
        if d != cur {
            ob.escapes = true;
            cur = d;
        }
    }
    if cur.contains("&#") || cur.contains("&lt;") || cur.contains("&gt;") {
        let (d, numeric) = entity_decode(&cur);
        // Named references are how HTML quotes `<` and `&`: decoded, but no disguise.
        ob.html_entities |= numeric;
        cur = d;
    }
    // Binary, then Morse: a text may hold a run of each.
    if coded_run(&cur) {
        if let Some(d) = binary_decode(&cur) {
            ob.binary_or_morse = true;
            cur = d;
        }
        if let Some(d) = morse_decode(&cur) {
            ob.binary_or_morse = true;
            cur = d;
        }
    }
    for _ in 0..DECODE_ROUNDS {
        let (next, changed) = decode_runs(&cur, ob);
        if !changed {
            break;
        }
        cur = next;
    }
    cur
}

/// Fewest binary groups or Morse letters in a run that is decoded.
const MIN_CODED: usize = 6;

/// True when `s` holds [`MIN_CODED`] space-separated tokens in a row that are
/// each an 8-bit binary group or Morse code (`.`, `-`, `/`, `|`): one pass
/// over the bytes, so text with neither costs little.
fn coded_run(s: &str) -> bool {
    let bytes = s.as_bytes();
    let mut tokens = 0;
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        let (mut binary, mut morse) = (true, true);
        while let Some(&b) = bytes.get(i).filter(|b| **b != b' ') {
            binary &= b == b'0' || b == b'1';
            morse &= matches!(b, b'.' | b'-' | b'/' | b'|');
            i += 1;
            if !binary && !morse {
                // Neither: skip the rest of the token.
                while bytes.get(i).is_some_and(|b| *b != b' ') {
                    i += 1;
                }
                break;
            }
        }
        let len = i - start;
        let token = len > 0 && ((binary && len == 8) || morse);
        tokens = if token { tokens + 1 } else { 0 };
        if tokens >= MIN_CODED {
            return true;
        }
        i += 1;
    }
    false
}

/// Appends `s[from..to]`, then `decoded` set off by spaces: a decoded run in
/// place of its encoding.
fn splice(out: &mut String, s: &str, from: usize, to: usize, decoded: &str) {
    out.push_str(s.get(from..to).unwrap_or(""));
    out.push(' ');
    out.push_str(decoded);
    out.push(' ');
}

/// The tokens of `s` between single spaces, with their byte offsets.
fn spaced_tokens(s: &str) -> Vec<(usize, &str)> {
    s.split(' ')
        .scan(0usize, |pos, w| {
            let at = *pos;
            *pos += w.len() + 1;
            Some((at, w))
        })
        .collect()
}

/// Rebuilds `s` with runs of its space-separated tokens decoded: `run` is given
/// the tokens from one position on and returns how many of them form a run and,
/// when the run decodes to text, that text, which replaces the run. `None` when
/// nothing was decoded.
fn decode_token_runs(
    s: &str,
    run: impl Fn(&[(usize, &str)]) -> (usize, Option<String>),
) -> Option<String> {
    let tokens = spaced_tokens(s);
    let mut out = String::with_capacity(s.len());
    let mut changed = false;
    let mut copied_to = 0;
    let mut i = 0;
    while let Some(rest) = tokens.get(i..).filter(|r| !r.is_empty()) {
        let (len, text) = run(rest);
        let len = len.max(1);
        if let (Some(text), Some((start, _)), Some((last_at, last))) =
            (text, rest.first(), rest.get(len - 1))
        {
            splice(&mut out, s, copied_to, *start, &text);
            copied_to = last_at + last.len();
            changed = true;
        }
        i += len;
    }
    out.push_str(s.get(copied_to..).unwrap_or(""));
    changed.then_some(out)
}

/// Replaces runs of at least [`MIN_CODED`] space-separated 8-bit binary groups
/// that read as text with that text; `None` when there is none.
fn binary_decode(s: &str) -> Option<String> {
    let is_group = |w: &str| w.len() == 8 && w.bytes().all(|b| b == b'0' || b == b'1');
    decode_token_runs(s, |rest| {
        let n = rest.iter().take_while(|(_, w)| is_group(w)).count();
        let text = (n >= MIN_CODED)
            .then(|| {
                let bytes: Vec<u8> = rest
                    .iter()
                    .take(n)
                    .map(|(_, w)| u8::from_str_radix(w, 2).unwrap_or(0))
                    .collect();
                as_text(&bytes)
            })
            .flatten();
        (n, text)
    })
}

/// International Morse code: letters and digits.
const MORSE: &[(&str, char)] = &[
    (".-", 'a'),
    ("-...", 'b'),
    ("-.-.", 'c'),
    ("-..", 'd'),
    (".", 'e'),
    ("..-.", 'f'),
    ("--.", 'g'),
    ("....", 'h'),
    ("..", 'i'),
    (".---", 'j'),
    ("-.-", 'k'),
    (".-..", 'l'),
    ("--", 'm'),
    ("-.", 'n'),
    ("---", 'o'),
    (".--.", 'p'),
    ("--.-", 'q'),
    (".-.", 'r'),
    ("...", 's'),
    ("-", 't'),
    ("..-", 'u'),
    ("...-", 'v'),
    (".--", 'w'),
    ("-..-", 'x'),
    ("-.--", 'y'),
    ("--..", 'z'),
    ("-----", '0'),
    (".----", '1'),
    ("..---", '2'),
    ("...--", '3'),
    ("....-", '4'),
    (".....", '5'),
    ("-....", '6'),
    ("--...", '7'),
    ("---..", '8'),
    ("----.", '9'),
];

/// Replaces runs of Morse code (letters separated by spaces, words by `/` or
/// `|`) of at least [`MIN_CODED`] letters, four of them distinct, that read as
/// text with that text; `None` when there is none.
fn morse_decode(s: &str) -> Option<String> {
    let letter = |w: &str| MORSE.iter().find(|(code, _)| *code == w).map(|(_, c)| *c);
    let is_sep = |w: &str| w == "/" || w == "|";
    decode_token_runs(s, |rest| {
        let mut n = 0;
        let mut text = String::new();
        let mut letters = 0;
        let mut distinct: Vec<char> = Vec::new();
        for (_, w) in rest {
            if let Some(c) = letter(w) {
                text.push(c);
                letters += 1;
                if !distinct.contains(&c) {
                    distinct.push(c);
                }
            } else if is_sep(w) && letters > 0 {
                text.push(' ');
            } else if !w.is_empty() || letters == 0 {
                break;
            }
            n += 1;
        }
        let text = text.trim();
        let decoded =
            (letters >= MIN_CODED && distinct.len() >= 4 && as_text(text.as_bytes()).is_some())
                .then(|| text.to_string());
        (n, decoded)
    })
}

/// Decodes `%xx` escapes to a fixed point in one pass: after each byte the
/// tail of the output is reduced while it reads `%xx`, so `%2541` and
/// `%%34%31` both become `A`. Each reduction shrinks the output, so the pass
/// is linear.
fn percent_decode(s: &str) -> String {
    let mut out: Vec<u8> = Vec::with_capacity(s.len());
    for &b in s.as_bytes() {
        out.push(b);
        loop {
            let len = out.len();
            if len < 3 {
                break;
            }
            let tail = out.get(len - 3..).unwrap_or(&[]);
            let (Some(&p), Some(h), Some(l)) = (
                tail.first(),
                tail.get(1).and_then(|x| hex_digit(*x)),
                tail.get(2).and_then(|x| hex_digit(*x)),
            ) else {
                break;
            };
            if p != b'%' {
                break;
            }
            out.truncate(len - 3);
            out.push(h * 16 + l);
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Decodes `\uXXXX` (four hex digits) and `\xHH` (two) escapes, as JSON,
/// JavaScript and Python write them, to the character they name when it is
/// not a control character; anything else is kept as it is.
fn escape_decode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('\\') {
        out.push_str(rest.get(..at).unwrap_or(""));
        let tail = rest.get(at..).unwrap_or("");
        let digits = match tail.as_bytes().get(1) {
            Some(b'u') => 4,
            Some(b'x') => 2,
            _ => 0,
        };
        let value = tail
            .get(2..2 + digits)
            .filter(|h| digits > 0 && h.bytes().all(|b| b.is_ascii_hexdigit()))
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .and_then(char::from_u32)
            .filter(|c| !c.is_control());
        match value {
            Some(c) => {
                out.push(c);
                rest = tail.get(2 + digits..).unwrap_or("");
            }
            None => {
                out.push('\\');
                rest = tail.get(1..).unwrap_or("");
            }
        }
    }
    out.push_str(rest);
    out
}

/// Decodes HTML character references: numeric ones (`&#101;`, `&#x65;`, the `;`
/// optional) to the character they name, when it is not a control character, and the
/// named `&lt;`, `&gt;`, `&amp;`, `&quot;` and `&apos;`. Anything else is kept as it is.
/// Also says whether a numeric reference was decoded.
fn entity_decode(s: &str) -> (String, bool) {
    let mut numeric = false;
    const NAMED: [(&str, char); 5] = [
        ("&lt;", '<'),
        ("&gt;", '>'),
        ("&amp;", '&'),
        ("&quot;", '"'),
        ("&apos;", '\''),
    ];
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('&') {
        out.push_str(rest.get(..at).unwrap_or(""));
        let tail = rest.get(at..).unwrap_or("");
        if let Some((name, c)) = NAMED.iter().find(|(n, _)| tail.starts_with(n)) {
            out.push(*c);
            rest = tail.get(name.len()..).unwrap_or("");
            continue;
        }
        if let Some((c, used)) = numeric_reference(tail) {
            numeric = true;
            out.push(c);
            rest = tail.get(used..).unwrap_or("");
            continue;
        }
        out.push('&');
        rest = tail.get(1..).unwrap_or("");
    }
    out.push_str(rest);
    (out, numeric)
}

/// `&#DDD;` or `&#xHH;` at the start of `s` (at most 7 digits, `;` optional): the
/// character and the bytes it took.
fn numeric_reference(s: &str) -> Option<(char, usize)> {
    let body = s.strip_prefix("&#")?;
    let (radix, digits_at) = match body.as_bytes().first() {
        Some(b'x' | b'X') => (16, 3),
        _ => (10, 2),
    };
    let digits = s
        .get(digits_at..)?
        .bytes()
        .take(7)
        .take_while(|b| b.is_ascii_hexdigit() && (radix == 16 || b.is_ascii_digit()))
        .count();
    if digits == 0 {
        return None;
    }
    let value = u32::from_str_radix(s.get(digits_at..digits_at + digits)?, radix).ok()?;
    let c = char::from_u32(value).filter(|c| !c.is_control())?;
    let end = digits_at + digits;
    let used = if s.as_bytes().get(end) == Some(&b';') {
        end + 1
    } else {
        end
    };
    Some((c, used))
}

/// Decoded bytes that read as text: valid UTF-8, at least 6 characters, few
/// controls, mostly letters and spaces.
fn as_text(bytes: &[u8]) -> Option<String> {
    let s = std::str::from_utf8(bytes).ok()?;
    let total = s.chars().count();
    if total < 6 {
        return None;
    }
    let controls = s
        .chars()
        .filter(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        .count();
    let wordish = s.chars().filter(|c| c.is_alphabetic() || *c == ' ').count();
    let spaces = s.chars().filter(|c| c.is_whitespace()).count();
    (controls == 0 && wordish * 10 >= total * 7 && (spaces > 0 || total < 24))
        .then(|| s.to_string())
}

/// Replaces base64, hex and `\xNN` runs that decode to text with that text.
fn decode_runs(s: &str, ob: &mut Obfuscation) -> (String, bool) {
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut changed = false;
    let mut i = 0;
    let mut copied_to = 0;
    while i < bytes.len() {
        let b = bytes.get(i).copied().unwrap_or(0);
        // `\x69\x67...` escapes.
        if b == b'\\' && bytes.get(i + 1) == Some(&b'x') {
            let mut j = i;
            let mut raw = Vec::new();
            while bytes.get(j) == Some(&b'\\') && bytes.get(j + 1) == Some(&b'x') {
                match (
                    bytes.get(j + 2).and_then(|x| hex_digit(*x)),
                    bytes.get(j + 3).and_then(|x| hex_digit(*x)),
                ) {
                    (Some(h), Some(l)) => {
                        raw.push(h * 16 + l);
                        j += 4;
                    }
                    _ => break,
                }
            }
            if raw.len() >= 4
                && let Some(text) = as_text(&raw)
            {
                splice(&mut out, s, copied_to, i, &text);
                copied_to = j;
                changed = true;
                ob.hex = true;
                i = j;
                continue;
            }
            i = j.max(i + 1);
            continue;
        }
        if !is_base64_byte(b) || (i > 0 && bytes.get(i - 1).copied().is_some_and(is_base64_byte)) {
            i += 1;
            continue;
        }
        let mut j = i;
        while bytes.get(j).copied().is_some_and(is_base64_byte) {
            j += 1;
        }
        let mut end = j;
        while bytes.get(end) == Some(&b'=') && end < j + 2 {
            end += 1;
        }
        let run = bytes.get(i..j).unwrap_or(&[]);
        if run.len() >= MIN_ENCODED {
            let start = if run.starts_with(b"0x") { 2 } else { 0 };
            let hex_run = run.get(start..).unwrap_or(&[]);
            let decoded = if hex_run.len() % 2 == 0 && hex_run.iter().all(|c| c.is_ascii_hexdigit())
            {
                hex_decode(hex_run)
                    .and_then(|d| as_text(&d))
                    .map(|t| (t, true))
            } else {
                base64_decode(run)
                    .and_then(|d| as_text(&d))
                    .map(|t| (t, false))
            };
            if let Some((text, is_hex)) = decoded {
                splice(&mut out, s, copied_to, i, &text);
                copied_to = end;
                changed = true;
                if is_hex {
                    ob.hex = true;
                } else {
                    ob.base64 = true;
                }
            }
        }
        i = end.max(i + 1);
    }
    out.push_str(s.get(copied_to..).unwrap_or(""));
    (out, changed)
}
