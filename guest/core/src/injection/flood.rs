//! Token floods: one short token, or a cycle of two or three, repeated many
//! times in a row on one line (`ö ö ö …`, `) ] } ) ] } …`), or a unit of
//! letters repeated within one word (`useRalativeImagePathuseRalativeImagePath…`).
//!
//! Long runs of a repeated token are a known attack on language models, not
//! an encoding: they push the instructions around them out of the model's
//! attention, and repeated single tokens make some models diverge into text
//! from their training data. A stored note has no use for them. What ordinary
//! text repeats is left alone: lines that repeat (a stack trace of a recursion,
//! a log line), separators and table rules (`----`, `| | |`, `=-=-=-`), numbers,
//! literals and hex dumps (`00 00 00 …`, `None, None, …`, `\x00\x00…`,
//! `deadbeefdeadbeef…`), short units within a word (`null,null,…`, `&nbsp;…`)
//! and units without a run of three lower-case letters (repeating base64).
//! Only the first [`MAX_WORD_SCAN`] bytes of a word, and [`MAX_TEXT_SCAN`]
//! bytes of long words per text, are read for repeats within a word.

/// Tokens in a row on one line that make a flood (a cycle of two or three
/// counts each of its tokens).
const MIN_TOKENS: usize = 32;
/// Bytes of a repeated run within one word that make a flood.
const MIN_WORD_RUN: usize = 48;
/// Times the unit of such a run must repeat.
const MIN_WORD_REPEATS: usize = 4;
/// Shortest and longest unit of a run within one word.
const MIN_WORD_PERIOD: usize = 8;
const MAX_WORD_PERIOD: usize = 24;
/// Bytes of a word examined for a repeated run.
const MAX_WORD_SCAN: usize = 1024;
/// Bytes of all words examined for a repeated run, per text.
const MAX_TEXT_SCAN: usize = 16 * 1024;

/// True when `text` holds a token flood (see the module docs). ASCII lines are
/// split at whitespace byte by byte (this runs on every stored text), others
/// at every Unicode space.
pub(crate) fn token_flood(text: &str) -> bool {
    let mut scan = Scan {
        prev: [b""; 3],
        runs: [0; 3],
        word_budget: MAX_TEXT_SCAN,
    };
    for line in text.split('\n') {
        scan.prev = [b""; 3];
        scan.runs = [0; 3];
        let flood = if line.is_ascii() {
            line.as_bytes()
                .split(|&b| is_space(b))
                .filter(|t| !t.is_empty())
                .any(|t| scan.token(t))
        } else {
            line.split_whitespace().any(|t| scan.token(t.as_bytes()))
        };
        if flood {
            return true;
        }
    }
    false
}

struct Scan<'a> {
    /// The last three tokens of the line, newest first (empty before the first,
    /// so they never match).
    prev: [&'a [u8]; 3],
    /// Per period 1..=3, how many tokens in a row repeat the one `period` back.
    runs: [usize; 3],
    /// Bytes of long words still to be read for repeats within a word.
    word_budget: usize,
}

impl<'a> Scan<'a> {
    /// Takes the next token of the line; true when it completes a flood.
    #[inline(always)]
    fn token(&mut self, token: &'a [u8]) -> bool {
        let [p1, p2, p3] = self.prev;
        let same = [same(token, p1), same(token, p2), same(token, p3)];
        for (period, (run, same)) in (1..).zip(self.runs.iter_mut().zip(same)) {
            if same {
                *run += 1;
                if *run + period >= MIN_TOKENS && cycle_counts(token, &self.prev, period) {
                    return true;
                }
            } else {
                *run = 0;
            }
        }
        self.prev = [token, p1, p2];
        if token.len() >= MIN_WORD_RUN && self.word_budget > 0 {
            self.word_budget = self
                .word_budget
                .saturating_sub(token.len().min(MAX_WORD_SCAN));
            return word_repeats(token);
        }
        false
    }
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | 0x0b | 0x0c)
}

/// Equal tokens; the length and first byte decide most pairs without a
/// comparison of the whole.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.first() == b.first() && a == b
}

/// Whether the cycle of `period` tokens ending with `token` (the tokens before
/// it newest first in `prev`) is one a note may not repeat: it counts unless
/// every token in it is [`ordinary`].
fn cycle_counts(token: &[u8], prev: &[&[u8]; 3], period: usize) -> bool {
    !(ordinary(token) && prev.iter().take(period - 1).all(|t| ordinary(t)))
}

/// The literals of data, by their letters in lower case.
const LITERALS: [&[u8]; 8] = [
    b"null",
    b"none",
    b"nan",
    b"true",
    b"false",
    b"undefined",
    b"nil",
    b"inf",
];

/// Separators, numbers, hex, escapes and the literals of data (`None,`,
/// `null`, `NaN`): what tables, rules, arrays and dumps repeat.
fn ordinary(token: &[u8]) -> bool {
    let letters = || {
        token
            .iter()
            .filter(|b| b.is_ascii_alphabetic())
            .map(u8::to_ascii_lowercase)
    };
    LITERALS
        .iter()
        .any(|literal| letters().eq(literal.iter().copied()))
        || token
            .iter()
            .all(|b| b.is_ascii_hexdigit() || b"-=*_#~.+|/\\:,;xXuU%?".contains(b))
}

/// Whether the first [`MAX_WORD_SCAN`] bytes of `word` hold a unit of
/// [`MIN_WORD_PERIOD`] to [`MAX_WORD_PERIOD`] bytes that [`unit_counts`],
/// repeated [`MIN_WORD_REPEATS`] times and over [`MIN_WORD_RUN`] bytes in a row.
fn word_repeats(word: &[u8]) -> bool {
    let b = word.get(..MAX_WORD_SCAN).unwrap_or(word);
    for period in MIN_WORD_PERIOD..=MAX_WORD_PERIOD.min(b.len() / MIN_WORD_REPEATS) {
        let mut run = 0;
        // Whether the unit of the current run counts, once it is long enough
        // to ask: the answer is kept until the run breaks.
        let mut counts = None;
        // Pairs of bytes `period` apart: the byte at `start + period` and the
        // one before it by a period.
        for (start, (x, y)) in b.iter().zip(b.iter().skip(period)).enumerate() {
            if x == y {
                run += 1;
                let len = run + period;
                if len >= MIN_WORD_RUN && len >= period * MIN_WORD_REPEATS {
                    let unit = b.get(start + 1..start + 1 + period);
                    if *counts.get_or_insert_with(|| unit.is_some_and(unit_counts)) {
                        return true;
                    }
                }
            } else {
                run = 0;
                counts = None;
            }
        }
    }
    false
}

/// A unit counts when it holds three lower-case letters in a row, not all hex
/// digits (a word, not base64 or hex) and is not itself a shorter unit repeated (`hahahaha`,
/// `null,null,`).
fn unit_counts(unit: &[u8]) -> bool {
    let lower_run = unit
        .windows(3)
        .any(|w| w.iter().all(u8::is_ascii_lowercase) && !w.iter().all(u8::is_ascii_hexdigit));
    let short_period = |q: usize| {
        unit.len().is_multiple_of(q) && unit.iter().zip(unit.iter().skip(q)).all(|(a, b)| a == b)
    };
    lower_run && !(1..unit.len()).any(short_period)
}

#[cfg(test)]
mod tests {
    use super::token_flood;

    #[test]
    fn repeated_tokens_and_cycles_are_floods() {
        assert!(token_flood(&"ö ".repeat(40)));
        assert!(token_flood(&format!("Say hello. {}", "ö ".repeat(40))));
        assert!(token_flood(&") ] } ".repeat(12)));
        assert!(token_flood(&"] } ".repeat(20)));
        assert!(token_flood(&"useRalativeImagePath".repeat(5)));
        assert!(token_flood(&format!("x {}", "YYSTACKartisanlib".repeat(4))));
        // Spaces other than ASCII ones split tokens too.
        assert!(token_flood(&"ö\u{a0}".repeat(40)));
        assert!(token_flood(&"ö\u{3000}".repeat(40)));
    }

    #[test]
    fn what_notes_repeat_is_not_a_flood() {
        // Literals of data, escapes, short units within a word, base64.
        assert!(!token_flood(&"NaN ".repeat(40)));
        assert!(!token_flood(&format!("[{}]", "None, ".repeat(40))));
        assert!(!token_flood(&"0u8, ".repeat(40)));
        assert!(!token_flood(&"null,".repeat(20)));
        assert!(!token_flood(&"false,".repeat(20)));
        assert!(!token_flood(&"\\x00".repeat(20)));
        assert!(!token_flood(&"\\u0000".repeat(20)));
        assert!(!token_flood(&"&nbsp;".repeat(20)));
        assert!(!token_flood(&"AP8A/wD/".repeat(10)));
        // Lines that repeat: a recursion's stack trace, a log line.
        assert!(!token_flood(&"  at Foo.recurse(Foo.java:42)\n".repeat(40)));
        assert!(!token_flood(&"WARN retrying connection\n".repeat(40)));
        // Short runs.
        assert!(!token_flood(&"ö ".repeat(20)));
        assert!(!token_flood(&"} ".repeat(12)));
        // Separators and table rules.
        assert!(!token_flood(&"- ".repeat(80)));
        assert!(!token_flood(&"| --- ".repeat(40)));
        assert!(!token_flood(&"| ".repeat(80)));
        assert!(!token_flood(&"=-".repeat(80)));
        // Numbers and hex dumps.
        assert!(!token_flood(&"00 ".repeat(80)));
        assert!(!token_flood(&"0x00, ".repeat(80)));
        assert!(!token_flood(&"1.0 0.0 ".repeat(40)));
        assert!(!token_flood(&"deadbeef".repeat(20)));
        // One character repeated, two-letter runs.
        assert!(!token_flood(&"A".repeat(200)));
        assert!(!token_flood(&"ha".repeat(60)));
        // Ordinary prose, code and base64.
        assert!(!token_flood(
            "the cache is warm, the cache is cold, the cache is warm again"
        ));
        assert!(!token_flood(
            "QWNjZXNzIGdyYW50ZWQgdG8gdGhlIHVzZXIgYWZ0ZXIgdGhlIHJldmlldyBwYXNzZWQ="
        ));
        assert!(!token_flood("    }\n  }\n}\n"));
        assert!(!token_flood(""));
    }
}
