//! The generator's building blocks: seeded randomness, a fixed clock for the native
//! core, the Zipf distribution and the synthetic words and identifiers it ranks.

use super::{EPOCH_MS, VOCABULARY};
use maas_core::Env;

/// A small, fast, seeded generator (SplitMix64).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        usize::try_from(self.next_u64() % n as u64).unwrap_or(0)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The deterministic environment of a generated history: a clock from [`EPOCH_MS`] and
/// seeded randomness.
pub struct FixedEnv {
    now: u64,
    rng: Rng,
}

impl FixedEnv {
    /// An environment for `seed`.
    pub fn new(seed: u64) -> Self {
        FixedEnv {
            now: EPOCH_MS,
            rng: Rng::new(seed ^ 0x5eed),
        }
    }
}

impl Env for FixedEnv {
    fn now_ms(&mut self) -> u64 {
        self.now += 1;
        self.now
    }
    fn fill_random(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let bytes = self.rng.next_u64().to_le_bytes();
            for (b, r) in chunk.iter_mut().zip(bytes) {
                *b = r;
            }
        }
    }
}

/// Ranks drawn with probability proportional to `1 / (rank + 1)`.
#[derive(Debug, Clone)]
pub struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    /// A Zipf law (exponent 1) over `n` ranks.
    pub fn new(n: usize) -> Self {
        let mut total = 0.0;
        let mut cdf = Vec::with_capacity(n);
        for r in 0..n {
            total += 1.0 / (r as f64 + 1.0);
            cdf.push(total);
        }
        for c in &mut cdf {
            *c /= total;
        }
        Zipf { cdf }
    }

    /// A rank in `0..n`.
    pub fn sample(&self, rng: &mut Rng) -> usize {
        let u = rng.unit();
        self.cdf
            .partition_point(|&c| c < u)
            .min(self.cdf.len().saturating_sub(1))
    }
}

const CONSONANTS: &[u8] = b"bdfghklmnprtvzjw";
const VOWELS: &[u8] = b"aeiou";

fn syllable(n: usize, out: &mut String) {
    let c = CONSONANTS.get(n / VOWELS.len() % CONSONANTS.len()).copied();
    let v = VOWELS.get(n % VOWELS.len()).copied();
    out.push(char::from(c.unwrap_or(b'k')));
    out.push(char::from(v.unwrap_or(b'a')));
}

/// The word of vocabulary rank `rank`: made-up, pronounceable, unique, ending in a vowel
/// (so no plural stemming applies), two syllables for the 6,400 most frequent ranks and
/// three or four after.
pub fn word(rank: usize) -> String {
    let base = CONSONANTS.len() * VOWELS.len();
    let two = base * base;
    let mut out = String::with_capacity(8);
    let (mut n, syllables) = if rank < two {
        (rank, 2)
    } else if rank < two + two * base {
        (rank - two, 3)
    } else {
        (rank - two - two * base, 4)
    };
    for _ in 0..syllables {
        syllable(n % base, &mut out);
        n /= base;
    }
    out
}

fn capitalised(w: &str) -> String {
    let mut c = w.chars();
    match c.next() {
        Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
        None => String::new(),
    }
}

/// Code identifier number `n`: camelCase, snake_case or a path built from two words
/// that depend only on `n`.
pub fn identifier(n: usize) -> String {
    let mut rng = Rng::new(0x1d ^ (n as u64).wrapping_mul(0x2545_f491_4f6c_dd1d));
    let a = word(rng.below(VOCABULARY / 10));
    let b = word(rng.below(VOCABULARY));
    match n % 3 {
        0 => format!("{a}{}", capitalised(&b)),
        1 => format!("{a}_{b}"),
        _ => format!("src/{a}/{b}.rs"),
    }
}
