//! The shape of maas tokens: `maas_` (an agent's) or `maas_op_` (the operator's), then
//! 64 lower-case hex digits, the last 8 of which check the first 56 (224 random bits).
//!
//! The check makes a token recognisable without its prefix: 64 hex digits are also what
//! a SHA-256 digest looks like, and memories hold many of those, but a digest passes the
//! check once in 2^32. So a token pasted bare (the prefix dropped), whole or written in
//! groups, is still found and redacted by the write gate ([`bare_tokens`]), and in audit
//! records. Tokens issued
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

/// Calls `push(start, end)`, in order, for every token body in `text` (whatever precedes
/// it: with its prefix, bare, or cut out of one): a run of exactly 64 hex digits that
/// checks, and 64 digits written in groups that check together ([`grouped_bodies`]). A
/// run of any other length is not one.
pub fn bare_tokens(text: &str, mut push: impl FnMut(usize, usize)) {
    let mut found = Vec::new();
    whole_bodies(text, |start, end| found.push((start, end)));
    let whole = found.len();
    grouped_bodies(text, |start, end| found.push((start, end)));
    if found.len() > whole {
        // Disjoint: a whole body is one run, a grouped one is made of shorter runs.
        found.sort_unstable();
    }
    for (start, end) in found {
        push(start, end);
    }
}

/// The separators a body written in groups may have between its groups.
const GROUP_SEPARATORS: &[u8] = b" -:.";

/// The sizes a body's inner groups may have.
const GROUP_SIZES: std::ops::RangeInclusive<usize> = 2..=BODY_HEX / 2;

/// Calls `push(start, end)` for every body written in groups, as a token read aloud or
/// copied from a table is (`1c57d369 ac0e…`, `1c57-d369-…`): runs of hex digits, each
/// set apart from the next by one separator (a space, `-`, `:` or `.`, the same
/// throughout), the inner groups all of one size (2 to 32 digits), the first and last
/// no longer (a body cut into eights with its `maas_` prefix counted starts with a group
/// of three), 64 digits in all that check.
///
/// A body is looked for from a run only when at most one group of the inner groups'
/// size comes before it in the same line of groups: a body in groups is set apart from
/// other hex, and a long line of equal groups (a dump) holds none but at its start. So
/// a check is computed at most three times per line of groups long enough to hold a
/// body, and only the stretches dense in hex digits ([`dense_stretches`]) are scanned.
fn grouped_bodies(text: &str, mut push: impl FnMut(usize, usize)) {
    let bytes = text.as_bytes();
    let hex = |at: usize| bytes.get(at).copied().is_some_and(is_hex);
    // Where the scan has reached: stretches are scanned in order.
    let mut at = 0;
    for (from, to) in dense_stretches(bytes) {
        if from > at {
            // From the start of the run `from` falls in.
            at = from;
            while at > 0 && hex(at - 1) {
                at -= 1;
            }
        }
        // The size of each of the two runs before the current one and the separator
        // after it, while they are joined to it.
        let mut before: [Option<(usize, u8)>; 2] = [None, None];
        let mut run = run_at(bytes, at);
        while let Some((start, end)) = run.filter(|(start, _)| *start < to) {
            let next = joined(bytes, end);
            if let Some(body_end) = grouped_body_at(bytes, (start, end), next, before) {
                push(start, body_end);
                before = [None, None];
                at = body_end;
                run = run_at(bytes, at);
                continue;
            }
            at = end;
            (before, run) = match next {
                Some((sep, next)) => ([Some((end - start, sep)), before[0]], Some(next)),
                None => ([None, None], run_at(bytes, at)),
            };
        }
        at = at.max(to);
    }
}

/// The most bytes a body in groups spans: 64 digits in groups of two.
const GROUPED_SPAN: usize = BODY_HEX + BODY_HEX / *GROUP_SIZES.start() - 1;

/// The bytes whose hex digits are counted together by [`dense_stretches`].
const BLOCK: usize = 16;

/// The blocks a body in groups can touch: [`GROUPED_SPAN`] bytes starting anywhere.
const BLOCKS_SPANNED: usize = GROUPED_SPAN.div_ceil(BLOCK) + 1;

/// Which bytes are hex digits (a table: the count over every byte of a text is quicker).
#[allow(clippy::indexing_slicing)]
static HEX_DIGIT: [u8; 256] = {
    let mut table = [0; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = (b as u8).is_ascii_hexdigit() as u8;
        b += 1;
    }
    table
};

/// Whether `b` is a hex digit, by [`HEX_DIGIT`].
fn is_hex(b: u8) -> bool {
    HEX_DIGIT.get(usize::from(b)) == Some(&1)
}

/// The stretches of `bytes` that may hold a body in groups and the two groups before
/// it, in order: around every [`BLOCKS_SPANNED`] blocks of [`BLOCK`] bytes that hold 64
/// hex digits between them, as the blocks a body in groups touches do. Prose never does
/// (a sixth of English letters are `a` to `f`), so most texts are passed over in one
/// quick count, and a UUID or a digest in them is looked at alone.
fn dense_stretches(bytes: &[u8]) -> Vec<(usize, usize)> {
    let counts: Vec<usize> = bytes
        .chunks(BLOCK)
        .map(|block| {
            block
                .iter()
                .map(|b| usize::from(HEX_DIGIT.get(usize::from(*b)).copied().unwrap_or(0)))
                .sum()
        })
        .collect();
    let mut stretches: Vec<(usize, usize)> = Vec::new();
    if counts.is_empty() {
        return stretches;
    }
    for (first, window) in counts.windows(BLOCKS_SPANNED.min(counts.len())).enumerate() {
        if window.iter().sum::<usize>() < BODY_HEX {
            continue;
        }
        let from = (first * BLOCK).saturating_sub(GROUPED_SPAN);
        let to = (first + BLOCKS_SPANNED) * BLOCK;
        match stretches.last_mut() {
            Some(last) if last.1 >= from => last.1 = to,
            _ => stretches.push((from, to)),
        }
    }
    stretches
}

/// The end of the body in groups whose first group is the run `start..end`, if there is
/// one (see [`grouped_bodies`]); `next` is the run joined to it, if any.
fn grouped_body_at(
    bytes: &[u8],
    (start, end): (usize, usize),
    next: Option<(u8, (usize, usize))>,
    before: [Option<(usize, u8)>; 2],
) -> Option<usize> {
    let (sep, (next_start, next_end)) = next?;
    let size = next_end - next_start;
    if !GROUP_SIZES.contains(&size) || end - start > size {
        return None;
    }
    if before.iter().all(|b| *b == Some((size, sep))) {
        return None;
    }
    let mut digits = [0u8; BODY_HEX];
    let mut total = 0;
    let mut group = (start, end);
    loop {
        let (s, e) = group;
        let len = e - s;
        digits
            .get_mut(total..total + len)?
            .copy_from_slice(bytes.get(s..e)?);
        total += len;
        if total == BODY_HEX {
            return is_body(&digits).then_some(e);
        }
        let (next_sep, next) = joined(bytes, e)?;
        let next_len = next.1 - next.0;
        // Inner groups are all `size`; the last may be shorter.
        if next_sep != sep || next_len > size || (next_len < size && total + next_len < BODY_HEX) {
            return None;
        }
        group = next;
    }
}

/// The separator after a run of hex digits ending at `end` and the run it sets apart,
/// when one follows.
fn joined(bytes: &[u8], end: usize) -> Option<(u8, (usize, usize))> {
    let sep = *bytes.get(end)?;
    if !GROUP_SEPARATORS.contains(&sep) || !is_hex(*bytes.get(end + 1)?) {
        return None;
    }
    run_at(bytes, end + 1).map(|run| (sep, run))
}

/// The first maximal run of hex digits at or after `at`, as `(start, end)`.
fn run_at(bytes: &[u8], at: usize) -> Option<(usize, usize)> {
    let start = at + bytes.get(at..)?.iter().position(|b| is_hex(*b))?;
    let len = bytes
        .get(start..)?
        .iter()
        .position(|b| !is_hex(*b))
        .unwrap_or(bytes.len() - start);
    Some((start, start + len))
}

/// Calls `push(start, end)` for every run of exactly 64 hex digits in `text` that is a
/// token body.
///
/// Looks at one byte in 64 where there is no hex: a run of 64 starting anywhere in
/// `i..i + 64` holds byte `i + 63`, so when that byte is not a hex digit the whole
/// stretch is passed over.
fn whole_bodies(text: &str, mut push: impl FnMut(usize, usize)) {
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

/// `s` in groups of `n` characters joined by `sep`, as a token is read aloud (tests).
#[cfg(test)]
pub(crate) fn split(s: &str, n: usize, sep: &str) -> String {
    s.as_bytes()
        .chunks(n)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(sep)
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

    fn found(text: &str) -> Vec<String> {
        let mut found = Vec::new();
        bare_tokens(text, |s, e| found.push(text[s..e].to_string()));
        found
    }

    #[test]
    fn bodies_written_in_groups_are_found_whole() {
        for seed in 0..32u8 {
            let body = body(&random(seed));
            for (n, sep) in [(8, " "), (4, " "), (16, "-"), (4, ":"), (8, "."), (32, " ")] {
                let grouped = split(&body, n, sep);
                assert_eq!(found(&format!("token: {grouped}.")), [grouped.as_str()]);
                let upper = grouped.to_ascii_uppercase();
                assert_eq!(found(&format!("({upper})")), [upper.as_str()]);
                // Hex words before it or after it, of its groups' size or not.
                for around in [format!("dead {grouped} beef"), format!("0 1 {grouped} 2")] {
                    assert_eq!(found(&around), [grouped.as_str()], "{around}");
                }
            }
            // Cut into eights with its prefix counted, then the prefix dropped: the
            // first group is short. Sixes and a short last group.
            let counted = split(&format!("maas_{body}"), 8, " ");
            let cut = counted.trim_start_matches("maas_");
            assert_eq!(found(&format!("x {cut} y")), [cut.to_string()]);
            let sixes = split(&body, 6, " ");
            assert_eq!(found(&sixes), [sixes.as_str()]);
            // Beside a whole body, in order.
            let whole = super::body(&random(seed.wrapping_add(100)));
            let both = format!("{whole} and {sixes} and {whole}");
            assert_eq!(found(&both), [whole.clone(), sixes, whole]);
        }
    }

    #[test]
    fn a_body_in_groups_is_found_wherever_it_stands_in_prose() {
        let body = body(&random(11));
        let prose = "the quick brown fox jumps over a lazy dog; ".repeat(20);
        let uuid = "123e4567-e89b-12d3-a456-426614174000";
        for (n, sep) in [(2, " "), (8, " "), (16, "-")] {
            let grouped = split(&body, n, sep);
            for pad in (0..prose.len()).step_by(13) {
                let text = format!("{} {grouped}, {}", &prose[..pad], &prose[pad % 50..]);
                assert_eq!(found(&text), [grouped.as_str()], "{n} at {pad}");
                // Beside other hex that draws a look: a UUID before and after it.
                let text = format!("{}{uuid} {grouped} {uuid}{}", &prose[..pad], &prose[..pad]);
                assert_eq!(found(&text), [grouped.as_str()], "{n} by uuids at {pad}");
            }
        }
        // After one hex word of its groups' size it is found; after two it is taken
        // for the rest of a dump and passed over (see `grouped_bodies`).
        let fours = split(&body, 4, " ");
        assert_eq!(found(&format!("feed {fours}")), [fours.as_str()]);
        assert!(found(&format!("dead beef {fours}")).is_empty());
    }

    #[test]
    fn groups_that_do_not_make_one_body_are_not_found() {
        let body = body(&random(3));
        let mut changed = body.clone().into_bytes();
        changed[10] = if changed[10] == b'0' { b'1' } else { b'0' };
        let changed = String::from_utf8(changed).unwrap();
        let uuid = "123e4567-e89b-12d3-a456-426614174000";
        for text in [
            // A digit changed; a digit missing; a digit more.
            split(&changed, 8, " "),
            split(&body[1..], 8, " "),
            format!("{} {}0", split(&body[..56], 8, " "), &body[56..]),
            // Separators mixed, or doubled.
            format!(
                "{} {}",
                split(&body[..32], 8, "-"),
                split(&body[32..], 8, "-")
            ),
            split(&body, 8, "  "),
            split(&body, 8, "/"),
            // An inner group of another size.
            format!(
                "{} {} {}",
                &body[..8],
                &body[8..12],
                split(&body[12..], 4, " ")
            ),
            // Two UUIDs; grouped digests; repeated groups.
            format!("{uuid} {uuid}"),
            split(
                "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                8,
                " ",
            ),
            split(&"0000".repeat(40), 4, " "),
        ] {
            assert!(found(&text).is_empty(), "{text}");
        }
    }

    #[test]
    fn overlapping_grouped_bodies_are_found_once() {
        // Eight groups that check, then a ninth that checks with the last seven:
        // the first body is found, and the second, sharing its groups, is not.
        let first = body(&random(9));
        let ninth = check(&first.as_bytes()[8..]);
        assert!(is_body(format!("{}{ninth}", &first[8..]).as_bytes()));
        let groups = format!("{} {ninth}", split(&first, 8, " "));
        assert_eq!(found(&groups), [split(&first, 8, " ")]);
    }
}
