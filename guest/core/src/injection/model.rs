//! The learned signal: logistic regression over hashed word and character
//! n-grams of the normalised text.
//!
//! The weights (`model.bin`) are written by `train.py` (same directory), which
//! trains on the development part of the benchmark corpus and the committed
//! benign set only; the file's text header records the corpus commit, the
//! split, the feature parameters, the training settings and how the threshold
//! was chosen.
//!
//! # Features
//!
//! The normalised text, cut to its first [`MAX_INPUT`](super::normalise::MAX_INPUT)
//! bytes, is split into words: runs of ASCII letters and digits and of
//! non-ASCII characters other than a few punctuation marks ([`SEPARATORS`]).
//! The features are every word (`"w:" + word`), every pair of adjacent words
//! (`"b:" + w1 + " " + w2`) and every character 3-, 4- and 5-gram of
//! `" " + words joined by " " + " "` (`"c:" + gram`); each is hashed with
//! FNV-1a 32 over its UTF-8 bytes into `2^bits` buckets. A bucket's value is
//! its count divided by the square root of the number of features, and the
//! probability is `σ(bias + scale · Σ wᵢ xᵢ)` with `i8` weights.
//!
//! # File format
//!
//! Little-endian: the magic `MAASIJM2`; a `u32` header length and the UTF-8
//! header; `u32` bits, `f32` scale, `f32` bias, `f32` threshold, `f32` weak
//! threshold; then `2^bits` weights as `i8`.

use std::sync::OnceLock;

use super::normalise::MAX_INPUT;

const MODEL: &[u8] = include_bytes!("model.bin");
const MAGIC: &[u8] = b"MAASIJM2";

/// Non-ASCII characters that separate words.
pub(crate) const SEPARATORS: [char; 15] = [
    '\u{A1}', '\u{AB}', '\u{BB}', '\u{BF}', '\u{2013}', '\u{2014}', '\u{2018}', '\u{2019}',
    '\u{201C}', '\u{201D}', '\u{2026}', '\u{3001}', '\u{3002}', '\u{300C}', '\u{300D}',
];

/// A parsed model.
#[derive(Debug)]
pub(crate) struct Model {
    /// The training record (text lines), read by the tests.
    #[cfg_attr(not(test), allow(dead_code))]
    pub header: &'static str,
    /// log2 of the number of buckets.
    pub bits: u32,
    /// Weight of one `i8` step.
    pub scale: f32,
    /// Intercept.
    pub bias: f32,
    /// Probability from which the signal is raised (chosen on development data).
    pub threshold: f32,
    /// Probability from which, below [`Model::threshold`], a weak signal is
    /// raised, one that flags only together with another cue (chosen the same
    /// way with looser false-signal rates).
    pub weak_threshold: f32,
    /// `2^bits` weights, each an `i8`.
    pub weights: &'static [u8],
}

fn take<'a>(bytes: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    let (head, rest) = bytes.split_at_checked(n)?;
    *bytes = rest;
    Some(head)
}

fn u32_le(bytes: &mut &[u8]) -> Option<u32> {
    let b: [u8; 4] = take(bytes, 4)?.try_into().ok()?;
    Some(u32::from_le_bytes(b))
}

fn f32_le(bytes: &mut &[u8]) -> Option<f32> {
    u32_le(bytes).map(f32::from_bits)
}

/// Parses a model file; `None` when it is malformed.
pub(crate) fn parse(mut bytes: &'static [u8]) -> Option<Model> {
    if take(&mut bytes, MAGIC.len())? != MAGIC {
        return None;
    }
    let header_len = usize::try_from(u32_le(&mut bytes)?).ok()?;
    let header = std::str::from_utf8(take(&mut bytes, header_len)?).ok()?;
    let bits = u32_le(&mut bytes)?;
    let scale = f32_le(&mut bytes)?;
    let bias = f32_le(&mut bytes)?;
    let threshold = f32_le(&mut bytes)?;
    let weak_threshold = f32_le(&mut bytes)?;
    if !(1..=24).contains(&bits)
        || !scale.is_finite()
        || !bias.is_finite()
        || !(0.0..=1.0).contains(&threshold)
        || !(0.0..=threshold).contains(&weak_threshold)
    {
        return None;
    }
    if bytes.len() != 1usize << bits {
        return None;
    }
    Some(Model {
        header,
        bits,
        scale,
        bias,
        threshold,
        weak_threshold,
        weights: bytes,
    })
}

/// The built-in model (`None` only if `model.bin` were malformed).
pub(crate) fn model() -> Option<&'static Model> {
    static M: OnceLock<Option<Model>> = OnceLock::new();
    M.get_or_init(|| parse(MODEL)).as_ref()
}

const FNV_OFFSET: u32 = 0x811c_9dc5;
const FNV_PRIME: u32 = 0x0100_0193;

/// FNV-1a 32, continued from `h`.
pub(crate) fn fnv1a32(mut h: u32, bytes: &[u8]) -> u32 {
    for &b in bytes {
        h ^= u32::from(b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

fn is_continuation(b: u8) -> bool {
    b & 0xC0 == 0x80
}

fn is_word_char(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_alphanumeric()
    } else {
        !SEPARATORS.contains(&c)
    }
}

/// Calls `f` with the 32-bit hash of every feature of `text` (already
/// normalised); returns the number of features.
pub(crate) fn for_each_feature(text: &str, mut f: impl FnMut(u32)) -> usize {
    let text = super::normalise::cap(text, MAX_INPUT).0;
    let words = text
        .split(|c: char| !is_word_char(c))
        .filter(|w| !w.is_empty());
    let w_seed = fnv1a32(FNV_OFFSET, b"w:");
    let b_seed = fnv1a32(FNV_OFFSET, b"b:");
    let c_seed = fnv1a32(FNV_OFFSET, b"c:");
    let mut count = 0usize;
    let mut joined = String::with_capacity(text.len() + 2);
    joined.push(' ');
    let mut prev: Option<&str> = None;
    for w in words {
        f(fnv1a32(w_seed, w.as_bytes()));
        count += 1;
        if let Some(p) = prev {
            let h = fnv1a32(fnv1a32(fnv1a32(b_seed, p.as_bytes()), b" "), w.as_bytes());
            f(h);
            count += 1;
        }
        joined.push_str(w);
        joined.push(' ');
        prev = Some(w);
    }
    if prev.is_none() {
        return 0;
    }
    // Each character starts a 3-, a 4- and a 5-gram; the longer ones continue
    // the shorter one's hash. Bytes are hashed as they come; a gram ends where
    // the next byte starts a character (is not a UTF-8 continuation byte).
    let bytes = joined.as_bytes();
    if bytes.is_ascii() {
        // Every byte is a character: the same grams without the boundary checks.
        for start in 0..bytes.len() {
            let mut h = c_seed;
            for (j, &b) in bytes.get(start..).unwrap_or(&[]).iter().take(5).enumerate() {
                h = (h ^ u32::from(b)).wrapping_mul(FNV_PRIME);
                if j >= 2 {
                    f(h);
                    count += 1;
                }
            }
        }
        return count;
    }
    for start in 0..bytes.len() {
        let Some(rest) = bytes.get(start..) else {
            break;
        };
        if rest.first().is_some_and(|&b| is_continuation(b)) {
            continue;
        }
        let mut h = c_seed;
        let mut chars = 0;
        for (j, &b) in rest.iter().enumerate() {
            h = (h ^ u32::from(b)).wrapping_mul(FNV_PRIME);
            if rest.get(j + 1).is_none_or(|&next| !is_continuation(next)) {
                chars += 1;
                if chars >= 3 {
                    f(h);
                    count += 1;
                }
                if chars == 5 {
                    break;
                }
            }
        }
    }
    count
}

/// Fewest words of an ASCII text the model is asked about.
pub(crate) const MIN_WORDS: usize = 3;

/// Whether the model reads `normalised` at all: not an ASCII text of fewer than
/// [`MIN_WORDS`] words. It learned from sentences; on one or two words its probability
/// rests on its bias and a handful of n-grams, and it flagged 37 of 2,064 ordinary
/// words (`node`, `process`, `system`, `javascript`, `all`), so a memory tagged `node`
/// showed a flag. (The model did not flag the shortest overrides either: `ignore
/// instructions`, `developer mode` pass before and after; a list of labels is also
/// read joined, see `guard::Guard::list`.) Text in scripts written without spaces is one
/// "word" per sentence, so non-ASCII text is always read.
pub(crate) fn reads(normalised: &str) -> bool {
    !normalised.is_ascii()
        || normalised
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|w| !w.is_empty())
            .nth(MIN_WORDS - 1)
            .is_some()
}

impl Model {
    /// The probability that `normalised` (the output of
    /// [`normalise`](super::normalise())) is an injection.
    pub(crate) fn probability(&self, normalised: &str) -> f32 {
        let mask = (1u32 << self.bits) - 1;
        let mut sum: i64 = 0;
        let n = for_each_feature(normalised, |h| {
            let i = usize::try_from(h & mask).unwrap_or(0);
            let w = self.weights.get(i).map_or(0, |&b| i64::from(b as i8));
            sum += w;
        });
        let z = if n == 0 {
            self.bias
        } else {
            self.bias + self.scale * (sum as f32) / (n as f32).sqrt()
        };
        1.0 / (1.0 + (-z).exp())
    }
}
