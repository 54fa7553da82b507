//! Token floods: one short token, or a cycle of two or three, repeated many
//! times in a row (`ö ö ö …`, `) ] } ) ] } …`), or a short run of letters
//! repeated within one word (`useRalativeImagePathuseRalativeImagePath…`).
//!
//! Long runs of a repeated token are a known attack on language models, not
//! an encoding: they push the instructions around them out of the model's
//! attention, and repeated single tokens make some models diverge into text
//! from their training data. A stored note has no use for them. What ordinary
//! text repeats is left alone: separators and table rules (`----`, `| | |`,
//! `=-=-=-`), numbers and hex dumps (`00 00 00 …`, `deadbeefdeadbeef…`), and
//! a single repeated character (`AAAA…` in base64 padding).

/// Tokens in a row that make a flood (a cycle of two or three counts each of
/// its tokens).
const MIN_TOKENS: usize = 32;
/// Bytes of a repeated run within one word that make a flood.
const MIN_WORD_RUN: usize = 48;
/// Times the unit of such a run must repeat.
const MIN_WORD_REPEATS: usize = 4;
/// Longest unit of a run within one word.
const MAX_WORD_PERIOD: usize = 24;
/// Bytes of a word examined for a repeated run.
const MAX_WORD_SCAN: usize = 1024;
/// Bytes of all words examined for a repeated run, per text.
const MAX_TEXT_SCAN: usize = 16 * 1024;

/// True when `text` holds a token flood (see the module docs). Tokens are
/// split at ASCII whitespace, byte by byte: this runs on every stored text.
pub(crate) fn token_flood(text: &str) -> bool {
    // The last three tokens, newest first.
    let mut prev: [&[u8]; 3] = [b""; 3];
    // Per period 1..=3, how many tokens in a row repeat the one `period` back.
    let mut runs = [0usize; 3];
    let mut scan_budget = MAX_TEXT_SCAN;
    let tokens = text
        .as_bytes()
        .split(|&b| is_space(b))
        .filter(|t| !t.is_empty());
    for token in tokens {
        // The tokens before the first are empty, so they never match.
        let [p1, p2, p3] = prev;
        let same = [same(token, p1), same(token, p2), same(token, p3)];
        for (period, (run, same)) in (1..).zip(runs.iter_mut().zip(same)) {
            if same {
                *run += 1;
                if *run + period >= MIN_TOKENS && cycle_counts(token, &prev, period) {
                    return true;
                }
            } else {
                *run = 0;
            }
        }
        prev = [token, prev[0], prev[1]];
        if token.len() >= MIN_WORD_RUN && scan_budget > 0 {
            scan_budget = scan_budget.saturating_sub(token.len().min(MAX_WORD_SCAN));
            if word_repeats(token) {
                return true;
            }
        }
    }
    false
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
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

/// Separators, numbers and hex: what tables, rules and dumps repeat.
fn ordinary(token: &[u8]) -> bool {
    token
        .iter()
        .all(|b| b.is_ascii_hexdigit() || b"-=*_#~.+|/\\:,;xX%".contains(b))
}

/// Whether the first [`MAX_WORD_SCAN`] bytes of `word` hold a unit of 3 to
/// [`MAX_WORD_PERIOD`] bytes that [`unit_counts`], repeated
/// [`MIN_WORD_REPEATS`] times and over [`MIN_WORD_RUN`] bytes in a row.
fn word_repeats(word: &[u8]) -> bool {
    let b = word.get(..MAX_WORD_SCAN).unwrap_or(word);
    for period in 3..=MAX_WORD_PERIOD.min(b.len() / MIN_WORD_REPEATS) {
        let mut run = 0;
        // Pairs of bytes `period` apart: the byte at `start + period` and the
        // one before it by a period.
        for (start, (x, y)) in b.iter().zip(b.iter().skip(period)).enumerate() {
            if x == y {
                run += 1;
                let len = run + period;
                if len >= MIN_WORD_RUN
                    && len >= period * MIN_WORD_REPEATS
                    && b.get(start + 1..start + 1 + period)
                        .is_some_and(unit_counts)
                {
                    return true;
                }
            } else {
                run = 0;
            }
        }
    }
    false
}

/// A unit counts when it has a letter that is not a hex digit and is not
/// itself a shorter unit of one or two bytes repeated (`haha`, `AAAA`).
fn unit_counts(unit: &[u8]) -> bool {
    let has_letter = unit
        .iter()
        .any(|c| c.is_ascii_alphabetic() && !c.is_ascii_hexdigit());
    let short_period = |q: usize| {
        unit.len().is_multiple_of(q) && unit.iter().zip(unit.iter().skip(q)).all(|(a, b)| a == b)
    };
    has_letter && !short_period(1) && !short_period(2)
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
        assert!(token_flood(&"NaN ".repeat(40)));
        assert!(token_flood(&"useRalativeImagePath".repeat(5)));
        assert!(token_flood(&format!("x {}", "YYSTACKartisanlib".repeat(4))));
    }

    #[test]
    fn what_notes_repeat_is_not_a_flood() {
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
