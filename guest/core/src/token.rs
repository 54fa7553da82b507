//! The shape of maas tokens: `maas_` (an agent's) or `maas_op_` (the operator's), then
//! 64 lower-case hex digits, the last 8 of which check the first 56 (224 random bits).
//!
//! The check makes a token recognisable without its prefix: 64 hex digits are also what
//! a SHA-256 digest looks like, and memories hold many of those, but a digest passes the
//! check once in 2^32. So a token pasted bare (the prefix dropped) is still found and
//! redacted by the write gate ([`bare_tokens`]), and in audit records. Tokens issued
//! before the check was added keep authenticating (a token is looked up by its hash);
//! only they are not recognised bare.

use crate::audit::hex;
use sha2::{Digest, Sha256};

/// Hex digits after the prefix.
pub const BODY_HEX: usize = 64;

/// Random bytes in a token body.
pub const RANDOM_BYTES: usize = 28;

/// What the check hashes before the random digits.
const CHECK_DOMAIN: &[u8] = b"maas-token-check\n";

/// The 8 check digits of `random_hex` (56 lower-case hex digits).
fn check(random_hex: &[u8]) -> String {
    let digest = Sha256::new()
        .chain_update(CHECK_DOMAIN)
        .chain_update(random_hex)
        .finalize();
    hex(digest.get(..4).unwrap_or_default())
}

/// A token body from `random`: its 56 hex digits and their 8 check digits.
pub fn body(random: &[u8; RANDOM_BYTES]) -> String {
    let mut body = hex(random);
    let check = check(body.as_bytes());
    body.push_str(&check);
    body
}

/// Whether `hex` is a token body: 64 hex digits (either case) whose last 8 check the
/// first 56.
pub fn is_body(hex: &[u8]) -> bool {
    if hex.len() != BODY_HEX || !hex.iter().all(u8::is_ascii_hexdigit) {
        return false;
    }
    let lower: Vec<u8> = hex.iter().map(u8::to_ascii_lowercase).collect();
    let (random, digits) = lower.split_at(BODY_HEX - 8);
    check(random).as_bytes() == digits
}

/// Calls `push(start, end)` for every run of exactly 64 hex digits in `text` that is a
/// token body (whatever precedes it: with its prefix, bare, or cut out of one). A run
/// of any other length is not one.
///
/// Looks at one byte in 64 where there is no hex: a run of 64 starting anywhere in
/// `i..i + 64` holds byte `i + 63`, so when that byte is not a hex digit the whole
/// stretch is passed over.
pub fn bare_tokens(text: &str, mut push: impl FnMut(usize, usize)) {
    let bytes = text.as_bytes();
    let hex = |at: usize| bytes.get(at).is_some_and(u8::is_ascii_hexdigit);
    // No run of 64 starts before `from`, and the byte before it is not a hex digit.
    let mut from = 0;
    while from + BODY_HEX <= bytes.len() {
        let probe = from + BODY_HEX - 1;
        if !hex(probe) {
            from = probe + 1;
            continue;
        }
        let mut start = probe;
        while start > from && hex(start - 1) {
            start -= 1;
        }
        let mut end = probe + 1;
        while hex(end) {
            end += 1;
        }
        if end - start == BODY_HEX && bytes.get(start..end).is_some_and(is_body) {
            push(start, end);
        }
        from = end + 1;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn random(seed: u8) -> [u8; RANDOM_BYTES] {
        let mut out = [0u8; RANDOM_BYTES];
        for (i, b) in out.iter_mut().enumerate() {
            *b = seed.wrapping_mul(31).wrapping_add(i as u8).wrapping_mul(97);
        }
        out
    }

    #[test]
    fn a_body_checks_and_a_digest_or_a_changed_digit_does_not() {
        for seed in 0..=255u8 {
            let body = body(&random(seed));
            assert_eq!(body.len(), BODY_HEX);
            assert!(is_body(body.as_bytes()));
            assert!(is_body(body.to_ascii_uppercase().as_bytes()));
            for at in [0, 30, 55, 56, 63] {
                let mut changed = body.clone().into_bytes();
                changed[at] = if changed[at] == b'0' { b'1' } else { b'0' };
                assert!(!is_body(&changed), "{body} changed at {at}");
            }
            assert!(!is_body(&body.as_bytes()[1..]));
        }
        // SHA-256 digests, the 64 hex digits memories hold most: none checks.
        for i in 0..20_000u32 {
            let digest: String = Sha256::digest(i.to_le_bytes())
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            assert!(!is_body(digest.as_bytes()), "{digest}");
        }
    }

    #[test]
    fn bare_tokens_are_found_in_text_and_other_hex_is_not() {
        let body = body(&random(7));
        let digest = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
        let text = format!("token {body}, digest {digest}, prefixed maas_{body}. longer {body}0");
        let mut found = Vec::new();
        bare_tokens(&text, |s, e| found.push(text[s..e].to_string()));
        assert_eq!(found, [body.clone(), body.clone()]);
        // At every place in a text, and at its ends.
        for pad in 0..70 {
            let text = format!("{}{body}{}", "x".repeat(pad), "y".repeat(pad % 3));
            let mut at = Vec::new();
            bare_tokens(&text, |s, e| at.push((s, e)));
            assert_eq!(at, [(pad, pad + BODY_HEX)], "pad {pad}");
            let run = format!("{}{body}", "a".repeat(pad));
            let mut none = Vec::new();
            bare_tokens(&run, |s, e| none.push((s, e)));
            assert_eq!(none.is_empty(), pad > 0, "hex before it: {pad}");
        }
        let mut none = Vec::new();
        bare_tokens("short", |s, e| none.push((s, e)));
        bare_tokens(&"a".repeat(200), |s, e| none.push((s, e)));
        assert!(none.is_empty());
    }
}
