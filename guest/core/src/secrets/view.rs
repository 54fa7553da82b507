//! A text read through the disguises that hide a secret from the rules without
//! changing it: escapes of ASCII characters and characters that show nothing.
//!
//! [`View::of`] decodes, one level:
//!
//! * `%XX` escapes of ASCII bytes (`key%3DAIza…`, `Bearer%20eyJ…`), as in a query
//!   string; escapes of non-ASCII bytes stay, so the view is valid UTF-8;
//! * `\uXXXX` and `\xXX` escapes of ASCII characters (`sk\u002dlive…`, a JSON
//!   or source string);
//! * HTML character references to ASCII characters: numeric (`&#115;`, `&#x73;`)
//!   and `&amp;`, `&quot;`, `&apos;`, `&lt;`, `&gt;`;
//! * characters that show nothing: zero-width and other format characters, soft
//!   hyphens, bidirectional controls (removed), and tag characters (read as the
//!   ASCII they mirror, so a secret spelled in invisible tags is found).
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

/// What one position of the original decodes to: the character (or none, for a
/// hidden one) and how many bytes of the original it takes.
type Edit = (Option<u8>, usize);

fn hex_value(digits: &[u8]) -> Option<u32> {
    let text = std::str::from_utf8(digits).ok()?;
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    u32::from_str_radix(text, 16).ok()
}

/// An ASCII byte from a code point, `None` beyond ASCII.
fn ascii(code: u32) -> Option<u8> {
    u8::try_from(code).ok().filter(u8::is_ascii)
}

/// The escape or reference starting at `rest` (which starts with `%`, `\` or `&`).
fn escape(rest: &[u8]) -> Option<Edit> {
    match rest {
        [b'%', a, b, ..] => Some((Some(ascii(hex_value(&[*a, *b])?)?), 3)),
        [b'\\', b'u', tail @ ..] => Some((Some(ascii(hex_value(tail.get(..4)?)?)?), 6)),
        [b'\\', b'x', tail @ ..] => Some((Some(ascii(hex_value(tail.get(..2)?)?)?), 4)),
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
            Some((Some(ascii(code)?), 2 + usize::from(hex) + end + 1))
        }
        [b'&', ..] => [
            (&b"&amp;"[..], b'&'),
            (b"&quot;", b'"'),
            (b"&apos;", b'\''),
            (b"&lt;", b'<'),
            (b"&gt;", b'>'),
        ]
        .into_iter()
        .find(|(name, _)| rest.starts_with(name))
        .map(|(name, c)| (Some(c), name.len())),
        _ => None,
    }
}

/// The hidden character starting at `rest` (a non-ASCII lead byte): removed, or a
/// tag character read as its ASCII.
fn hidden(rest: &[u8]) -> Option<Edit> {
    let len = match rest.first()? {
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF7 => 4,
        _ => return None,
    };
    let c = std::str::from_utf8(rest.get(..len)?).ok()?.chars().next()?;
    if let Some(tag) = u32::from(c)
        .checked_sub(0xE0000)
        .filter(|t| (0x20..0x7F).contains(t))
    {
        return Some((ascii(tag), len));
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
        let candidates: Box<dyn Iterator<Item = usize>> =
            if text.is_ascii() {
                Box::new(memchr::memchr3_iter(b'%', b'\\', b'&', bytes))
            } else {
                Box::new(bytes.iter().enumerate().filter_map(|(i, &b)| {
                    (matches!(b, b'%' | b'\\' | b'&') || b >= 0xC0).then_some(i)
                }))
            };
        let mut out: Vec<u8> = Vec::new();
        let mut anchors = Vec::new();
        // Bytes of the original copied up to here.
        let mut copied = 0;
        for i in candidates {
            // Inside an edit already made (`%2525`: the second `%` was read).
            let Some(rest) = bytes.get(i..).filter(|_| i >= copied) else {
                continue;
            };
            let edit = match rest.first() {
                Some(b'%' | b'\\' | b'&') => escape(rest),
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
