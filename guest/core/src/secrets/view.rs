//! A text read through the disguises that hide a secret from the rules without
//! changing it: escapes of ASCII characters and characters that show nothing.
//!
//! [`View::of`] decodes, one level:
//!
//! * `%XX` escapes of ASCII bytes (`key%3DAIza…`, `Bearer%20eyJ…`), as in a query
//!   string; escapes of other bytes stay, so the view is valid UTF-8, except the
//!   escapes of a character that shows nothing (`%E2%80%8B`), removed;
//! * `\uXXXX` and `\xXX` escapes (`sk\u002dlive…`, a JSON or source string) and HTML
//!   character references (`&#115;`, `&#x73;`, `&amp;`, `&quot;`, `&apos;`, `&lt;`,
//!   `&gt;`) of ASCII characters; those of characters that show nothing (`\u200b`,
//!   `&#8203;`, `&shy;`, `&ZeroWidthSpace;`) and the `<wbr>` tag are removed;
//! * characters that show nothing: zero-width and other format characters, soft
//!   hyphens, bidirectional controls (removed), and tag characters and fullwidth
//!   forms (read as the ASCII they stand for, so a secret spelled in invisible tags or
//!   in `ｇｈｐ＿…` is found);
//! * line breaks that wrapped a token: a break after a run of at least
//!   [`WRAP_RUN`] token characters that looks random ([`random_like`]) ending a line
//!   of at least [`WRAP_LINE`] bytes, before a line that starts with more of them
//!   ([`tail_like`]), is removed, so a JWT or key broken where a terminal or mail
//!   client wrapped it, or a person broke it anywhere, reads whole. Prose, paths and
//!   names at the end of a line are left as they are: in 10,137 files of code, docs
//!   and corpora 33 breaks were taken (in 16 files), after commit hashes and digests.
//!
//! Every edit is recorded, so a match in the view maps back to the original bytes,
//! the escapes and hidden characters inside it included: redaction replaces the
//! whole disguised secret.

use crate::text::{is_bidi, is_invisible};

/// A decoded view of a text and where its edits sit.
pub(super) struct View {
    /// The text with escapes decoded and hidden characters removed.
    pub text: String,
    /// `(offset in the view, offset in the original)` just after each edit,
    /// ascending in both.
    anchors: Vec<(usize, usize)>,
}

/// The shortest run of token characters before a line break that may have wrapped it.
const WRAP_RUN: usize = 6;
/// The shortest line whose end may have been wrapped.
const WRAP_LINE: usize = 16;
/// How far back from a line break its run is read.
const WRAP_LOOK: usize = 64;

/// Whether `b` may be part of a token's text (base64 of either alphabet, hex, ids,
/// the dots of a JWT).
fn token_byte(b: u8) -> bool {
    crate::text::is_base64_byte(b) || matches!(b, b'=' | b'.' | b'~')
}

/// Whether a run of token characters looks random, as keys do: its characters change
/// class (digit, capital, small letter, symbol) at least every third character, at
/// least three times. Words, paths and `CamelCase` names change far less often.
fn random_like(run: &[u8]) -> bool {
    let class = |b: &u8| match b {
        b'0'..=b'9' => 0,
        b'A'..=b'Z' => 1,
        b'a'..=b'z' => 2,
        _ => 3,
    };
    let changes = run
        .windows(2)
        .filter(|w| matches!(w, [a, b] if class(a) != class(b)))
        .count();
    changes >= 3 && changes * 3 >= run.len()
}

/// Whether a run of token characters at the start of a line reads as the rest of a
/// token rather than a word (`Thanks`, `//`, `- item`): long, or holding a digit or a
/// capital after its first character.
fn tail_like(run: &[u8]) -> bool {
    run.len() >= 20
        || run.iter().any(u8::is_ascii_digit)
        || run.iter().skip(1).any(u8::is_ascii_uppercase)
}

/// The line break at `at` (`\r\n` or `\n`) when it wrapped a token (see the module
/// docs); `line` is where the line it ends starts.
fn wrap(bytes: &[u8], at: usize, line: usize) -> Option<Edit> {
    let len = if bytes.get(at..)?.starts_with(b"\r\n") {
        2
    } else if bytes.get(at) == Some(&b'\n') {
        1
    } else {
        return None;
    };
    // Cheapest tests first: most lines end in punctuation or start indented.
    let next = bytes.get(at + len..)?;
    if at.checked_sub(line)? < WRAP_LINE
        || !next.first().copied().is_some_and(token_byte)
        || !bytes
            .get(at.checked_sub(1)?)
            .copied()
            .is_some_and(token_byte)
    {
        return None;
    }
    let tail = next.get(
        ..next
            .iter()
            .position(|&b| !token_byte(b))
            .unwrap_or(next.len()),
    )?;
    if !tail_like(tail) {
        return None;
    }
    let look = bytes.get(at.saturating_sub(WRAP_LOOK).max(line)..at)?;
    let run = look.get(
        look.iter()
            .rposition(|&b| !token_byte(b))
            .map_or(0, |i| i + 1)..,
    )?;
    let wrapped = run.len() >= WRAP_RUN && random_like(run);
    wrapped.then_some((None, len))
}

/// What one position of the original decodes to: the character (or none, for a
/// hidden one) and how many bytes of the original it takes.
type Edit = (Option<u8>, usize);

/// The number hex digits write; `None` for none, another character or an overflow.
fn hex_value(digits: &[u8]) -> Option<u32> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u32, |n, &b| {
        n.checked_mul(16)?
            .checked_add(u32::from(crate::text::hex_digit(b)?))
    })
}

/// What a code point an escape names decodes to: an ASCII character as itself, a
/// character that shows nothing (`\u200b`, `&#8203;`) as nothing; `None` for any other
/// (the escape stays as written).
fn decoded(code: u32) -> Option<Option<u8>> {
    if let Ok(b) = u8::try_from(code)
        && b.is_ascii()
    {
        return Some(Some(b));
    }
    let c = char::from_u32(code)?;
    (is_invisible(c) || is_bidi(c)).then_some(None)
}

/// Named references and tags of HTML that show nothing, or one ASCII character.
const NAMED: [(&[u8], Option<u8>); 14] = [
    (b"&amp;", Some(b'&')),
    (b"&quot;", Some(b'"')),
    (b"&apos;", Some(b'\'')),
    (b"&lt;", Some(b'<')),
    (b"&gt;", Some(b'>')),
    (b"&shy;", None),
    (b"&ZeroWidthSpace;", None),
    (b"&NoBreak;", None),
    (b"&zwj;", None),
    (b"&zwnj;", None),
    (b"&lrm;", None),
    (b"&rlm;", None),
    (b"<wbr>", None),
    (b"<wbr/>", None),
];

/// A `%XX` escape: of an ASCII byte, or the first of the escapes of a UTF-8 character
/// that shows nothing (`%E2%80%8B`, a zero-width space).
fn percent(rest: &[u8]) -> Option<Edit> {
    let byte = |at: usize| match rest.get(at..at + 3)? {
        [b'%', hi, lo] => u8::try_from(hex_value(&[*hi, *lo])?).ok(),
        _ => None,
    };
    let first = byte(0)?;
    if first.is_ascii() {
        return Some((Some(first), 3));
    }
    let len = match first {
        0xC2..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF4 => 4,
        _ => return None,
    };
    let utf8: Vec<u8> = (0..len).map(|k| byte(3 * k)).collect::<Option<_>>()?;
    let c = std::str::from_utf8(&utf8).ok()?.chars().next()?;
    (is_invisible(c) || is_bidi(c)).then_some((None, 3 * len))
}

/// The escape or reference starting at `rest` (which starts with `%`, `\`, `&` or `<`).
fn escape(rest: &[u8]) -> Option<Edit> {
    match rest {
        [b'%', ..] => percent(rest),
        [b'\\', b'u', tail @ ..] => Some((decoded(hex_value(tail.get(..4)?)?)?, 6)),
        [b'\\', b'x', tail @ ..] => Some((decoded(hex_value(tail.get(..2)?)?)?, 4)),
        [b'&', b'#', tail @ ..] => {
            let (hex, digits) = match tail {
                [b'x' | b'X', digits @ ..] => (true, digits),
                _ => (false, tail),
            };
            // At most seven digits (leading zeros included) and the semicolon.
            let end = digits.iter().take(8).position(|&b| b == b';')?;
            let number = digits.get(..end)?;
            let code = if hex {
                hex_value(number)?
            } else if !number.is_empty() && number.iter().all(u8::is_ascii_digit) {
                std::str::from_utf8(number).ok()?.parse().ok()?
            } else {
                return None;
            };
            Some((decoded(code)?, 2 + usize::from(hex) + end + 1))
        }
        [b'&' | b'<', ..] => NAMED
            .iter()
            .find(|(name, _)| rest.starts_with(name))
            .map(|&(name, c)| (c, name.len())),
        _ => None,
    }
}

/// The character starting at `rest` (a non-ASCII lead byte) when the view changes it:
/// one that shows nothing is removed, a tag character or a fullwidth form
/// (`ｇｈｐ＿…`, which NFKC reads as ASCII) is read as its ASCII.
fn hidden(rest: &[u8]) -> Option<Edit> {
    let len = match rest.first()? {
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF7 => 4,
        _ => return None,
    };
    let c = std::str::from_utf8(rest.get(..len)?).ok()?.chars().next()?;
    let code = u32::from(c);
    let ascii = |offset: u32| {
        code.checked_sub(offset)
            .filter(|t| (0x21..0x7F).contains(t))
            .and_then(|t| u8::try_from(t).ok())
    };
    if let Some(b) = ascii(0xE0000).or_else(|| ascii(0xFEE0)) {
        return Some((Some(b), len));
    }
    (is_invisible(c) || is_bidi(c)).then_some((None, len))
}

impl View {
    /// The view of `text`, or `None` when nothing in it decodes (the text is its
    /// own view). Costs one pass over the bytes; the copy starts at the first edit.
    pub fn of(text: &str) -> Option<View> {
        let bytes = text.as_bytes();
        // Where an edit may start: an escape's first byte, or (in non-ASCII text)
        // the first byte of a multi-byte character. ASCII text, most code and
        // prose, is searched with memchr.
        let candidates: Box<dyn Iterator<Item = usize>> = if text.is_ascii() {
            let mut escapes = memchr::memchr3_iter(b'%', b'\\', b'&', bytes).peekable();
            let mut breaks = memchr::memchr3_iter(b'\r', b'\n', b'<', bytes).peekable();
            Box::new(std::iter::from_fn(move || {
                match (escapes.peek(), breaks.peek()) {
                    (Some(e), Some(b)) if e < b => escapes.next(),
                    (Some(_), None) => escapes.next(),
                    _ => breaks.next(),
                }
            }))
        } else {
            Box::new(bytes.iter().enumerate().filter_map(|(i, &b)| {
                (matches!(b, b'%' | b'\\' | b'&' | b'<' | b'\r' | b'\n') || b >= 0xC0).then_some(i)
            }))
        };
        let mut out: Vec<u8> = Vec::new();
        let mut anchors = Vec::new();
        // Bytes of the original copied up to here.
        let mut copied = 0;
        // Where the line of the original being read starts.
        let mut line = 0;
        for i in candidates {
            let start = line;
            if bytes.get(i) == Some(&b'\n') {
                // The `\n` of a `\r\n` taken whole is skipped below, but starts a line.
                line = i + 1;
            }
            // Inside an edit already made (`%E2%80%8B` is one: its other `%` were read).
            let Some(rest) = bytes.get(i..).filter(|_| i >= copied) else {
                continue;
            };
            let edit = match rest.first() {
                Some(b'%' | b'\\' | b'&' | b'<') => escape(rest),
                Some(b'\r' | b'\n') => wrap(bytes, i, start),
                _ => hidden(rest),
            };
            let Some((decoded, len)) = edit else {
                continue;
            };
            out.extend_from_slice(bytes.get(copied..i)?);
            out.extend(decoded);
            copied = i + len;
            anchors.push((out.len(), copied));
        }
        if anchors.is_empty() {
            return None;
        }
        out.extend_from_slice(bytes.get(copied..)?);
        let text = String::from_utf8(out).ok()?;
        Some(View { text, anchors })
    }

    /// The offset in the original text of offset `at` of the view.
    pub fn original(&self, at: usize) -> usize {
        let after = self.anchors.partition_point(|&(view, _)| view <= at);
        match after.checked_sub(1).and_then(|k| self.anchors.get(k)) {
            Some(&(view, original)) => original + (at - view),
            None => at,
        }
    }
}
