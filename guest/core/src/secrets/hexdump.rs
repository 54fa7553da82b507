//! Hex written for people to read, which the unbroken hex runs of
//! [`super::encoded_secrets`] do not cover:
//!
//! * bytes set apart: `67:68:70:5f:…` (as tools print keys and fingerprints),
//!   `67 68 70 5f …` (`od -An -tx1`, packet tools), `0x67, 0x68, …` (`xxd -i`, a C
//!   array), running on across line breaks;
//! * dumps, whose lines start with an offset and may end with the bytes as text:
//!   `xxd` (`00000000: 6768 705f …  ghp_…`), `hexdump -C` (`00000000  67 68 70 5f …
//!   |ghp_…|`), Wireshark (`0000   67 68 70 5f …`), `od -t x1` (`0000000 67 68 70 5f
//!   …`), and the 16-bit words of `od -x` and `hexdump` without `-C`, which a
//!   little-endian machine prints with each word's two bytes swapped (`0000000 6867
//!   5f70 …`; `hexdump -x` sets them four blanks apart).
//!
//! A secret in the bytes either spells is named, and the whole run goes: a dump's
//! text columns, which show the secret in pieces, with it.

use crate::text::{hex_decode, hex_digit};

/// Hex set apart is read when it spells at least this many bytes (a 16-byte secret).
const MIN_BYTES: usize = 16;

/// Hex written for people and the bytes it spells.
pub(super) struct Spelled {
    /// Byte range of the hex: for a dump, its lines from the first offset to the end
    /// of the last line.
    pub start: usize,
    pub end: usize,
    pub bytes: Vec<u8>,
    /// For a dump of 16-bit words, the bytes with each word's two swapped (the order a
    /// little-endian machine printed them in), to be read too.
    pub swapped: Option<Vec<u8>>,
}

/// The number of hex digits at `at` in `text`.
fn hex_len(text: &[u8], at: usize) -> usize {
    text.get(at..).map_or(0, |rest| {
        rest.iter().take_while(|b| b.is_ascii_hexdigit()).count()
    })
}

/// The number of spaces and tabs at `at` in `text`.
fn blank_len(text: &[u8], at: usize) -> usize {
    text.get(at..).map_or(0, |rest| {
        rest.iter()
            .take_while(|b| matches!(b, b' ' | b'\t'))
            .count()
    })
}

/// The byte two hex digits at `at` spell.
fn byte_at(text: &[u8], at: usize) -> Option<u8> {
    Some(hex_digit(*text.get(at)?)? << 4 | hex_digit(*text.get(at + 1)?)?)
}

/// A byte set apart at `at`: two hex digits, `0x` before them or not, ending a word.
/// Its byte and where it ends.
fn group(text: &[u8], at: usize) -> Option<(u8, usize)> {
    let at = match text.get(at..at + 2) {
        Some(b"0x" | b"0X") => at + 2,
        _ => at,
    };
    let byte = byte_at(text, at)?;
    let end = at + 2;
    match text.get(end) {
        Some(b) if b.is_ascii_alphanumeric() || *b == b'_' => None,
        _ => Some((byte, end)),
    }
}

/// Where the gap after a byte set apart at `at` ends: the run's separator `sep`, or a
/// line break with `sep` (without its spaces) or nothing before it and the blanks that
/// indent the next line after it.
fn gap(text: &[u8], at: usize, sep: &[u8]) -> Option<usize> {
    let next = at + sep.len();
    if text.get(at..next) == Some(sep) && !matches!(text.get(next), Some(b'\n' | b'\r')) {
        return Some(next);
    }
    let trimmed = sep.trim_ascii_end();
    let mut i = at;
    if text.get(i..i + trimmed.len()) == Some(trimmed) {
        i += trimmed.len();
    }
    i += blank_len(text, i);
    i += match text.get(i..i + 2) {
        Some(b"\r\n") => 2,
        Some([b'\n', ..]) => 1,
        _ => return None,
    };
    Some(i + blank_len(text, i))
}

/// The separators bytes set apart may have, one kind in a run.
const SEPARATORS: [&[u8]; 4] = [b":", b" ", b", ", b","];

/// Bytes set apart starting at `at`, the start of a word: at least [`MIN_BYTES`] of
/// them, all with the same separator.
fn apart(text: &[u8], at: usize) -> Option<Spelled> {
    let (first, mut end) = group(text, at)?;
    let sep = SEPARATORS
        .into_iter()
        .find(|sep| text.get(end..end + sep.len()) == Some(*sep))?;
    let mut bytes = vec![first];
    while let Some((byte, next)) = gap(text, end, sep).and_then(|i| group(text, i)) {
        bytes.push(byte);
        end = next;
    }
    (bytes.len() >= MIN_BYTES).then_some(Spelled {
        start: at,
        end,
        bytes,
        swapped: None,
    })
}

/// One line of a dump: the bytes its hex spells, and whether it is written in 16-bit
/// words after an offset without a colon (`od -x`, `hexdump`), whose bytes may be
/// swapped.
struct DumpLine<'a> {
    /// The offset's digits.
    offset: &'a [u8],
    bytes: Vec<u8>,
    words: bool,
}

/// The bytes one line of a dump spells: an offset (4 to 8 hex digits, then `:` or
/// blanks), then groups of 2 or 4 hex digits, all of one size, one to four blanks
/// apart. What follows them (the bytes as text) is not read.
fn dump_line(line: &[u8]) -> Option<DumpLine<'_>> {
    let mut i = blank_len(line, 0);
    let digits = hex_len(line, i);
    if !(4..=8).contains(&digits) {
        return None;
    }
    let offset = line.get(i..i + digits)?;
    i += digits;
    let colon = line.get(i) == Some(&b':');
    if colon {
        i += 1;
    } else if blank_len(line, i) == 0 {
        return None;
    }
    let mut bytes = Vec::new();
    let mut size = 0;
    loop {
        let blanks = blank_len(line, i);
        let digits = hex_len(line, i + blanks);
        let end = i + blanks + digits;
        let ends_word = line.get(end).is_none_or(|b| matches!(b, b' ' | b'\t'));
        if !(1..=4).contains(&blanks)
            || !matches!(digits, 2 | 4)
            || (size != 0 && digits != size)
            || !ends_word
        {
            break;
        }
        size = digits;
        bytes.extend(hex_decode(line.get(i + blanks..end)?)?);
        i = end;
    }
    (!bytes.is_empty()).then_some(DumpLine {
        offset,
        bytes,
        words: size == 4 && !colon,
    })
}

/// An offset's value read in `radix` (16, or 8 for `od`), if its digits are of it.
fn offset_value(digits: &[u8], radix: u32) -> Option<u64> {
    u64::from_str_radix(std::str::from_utf8(digits).ok()?, radix).ok()
}

/// Whether, read in `radix`, `next` is `prev` moved on by `n` bytes, as a dump's offsets
/// are from line to line (lines that only look like a dump's, a date or a column of
/// numbers, are not).
fn steps(prev: &[u8], next: &[u8], n: usize, radix: u32) -> bool {
    matches!(
        (offset_value(prev, radix), offset_value(next, radix)),
        (Some(p), Some(q)) if p.checked_add(n as u64) == Some(q)
    )
}

/// A dump whose first offset starts at `at`, when `at` starts a line (after blanks):
/// its consecutive dump lines, each offset the one before moved on by the bytes of its
/// line (in hex, or octal for `od`), when they spell at least [`MIN_BYTES`]. A dump of
/// 16-bit words without colons spells its bytes as written and, apart, with each word's
/// bytes swapped, so a secret is read whichever order the machine had.
fn dump(text: &[u8], at: usize) -> Option<Spelled> {
    let before = text.get(..at)?;
    let indent = before
        .iter()
        .rev()
        .take_while(|b| matches!(b, b' ' | b'\t'))
        .count();
    if !matches!(
        before.len().checked_sub(indent + 1).map(|i| before.get(i)),
        None | Some(Some(b'\n'))
    ) {
        return None;
    }
    let mut bytes = Vec::new();
    let mut swapped: Vec<u8> = Vec::new();
    let mut end = None;
    // The last line's offset and byte count, and the radixes the offsets may be in.
    let mut last: Option<(&[u8], usize)> = None;
    let mut radixes = vec![16, 8];
    let mut from = at - indent;
    while let Some(rest) = text.get(from..) {
        let to = memchr::memchr(b'\n', rest).map_or(text.len(), |i| from + i);
        let line = text.get(from..to)?;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(spelled) = dump_line(line) else {
            break;
        };
        if let Some((prev, n)) = last {
            radixes.retain(|&radix| steps(prev, spelled.offset, n, radix));
            if radixes.is_empty() {
                break;
            }
        }
        last = Some((spelled.offset, spelled.bytes.len()));
        if spelled.words {
            swapped.extend(spelled.bytes.chunks(2).flat_map(|w| w.iter().rev()));
        }
        bytes.extend(spelled.bytes);
        end = Some(from + line.len());
        from = to + 1;
    }
    if bytes.len() < MIN_BYTES {
        return None;
    }
    Some(Spelled {
        start: at,
        end: end?,
        bytes,
        swapped: (!swapped.is_empty()).then_some(swapped),
    })
}

/// Hex written for people that starts with `run`, the run of base64 characters at
/// `at`: a byte set apart (`67:`, `0x67,`) or a dump's offset at a line's start.
pub(super) fn starting(text: &[u8], at: usize, run: &[u8]) -> Option<Spelled> {
    match run {
        [b'0', b'x' | b'X', a, b] | [a, b] if a.is_ascii_hexdigit() && b.is_ascii_hexdigit() => {
            apart(text, at)
        }
        _ if (4..=8).contains(&run.len()) && run.iter().all(u8::is_ascii_hexdigit) => {
            dump(text, at)
        }
        _ => None,
    }
}

/// `bytes` as text to scan: UTF-8 with what does not decode replaced and control
/// characters other than tab and line breaks read as spaces, so a token among the
/// binary headers of a packet reads whole. UTF-16LE of ASCII loses its zero bytes.
pub(super) fn readable(bytes: Vec<u8>) -> String {
    String::from_utf8_lossy(&super::without_utf16_zeros(bytes))
        .chars()
        .map(|c| match c {
            '\t' | '\n' | '\r' => c,
            c if c.is_control() => ' ',
            c => c,
        })
        .collect()
}
