//! A fast hasher for the term dictionary.
//!
//! Terms are short (at most [`super::MAX_TERM_CHARS`] chars), and every indexed
//! term is looked up once per document, so the default SipHash dominated a
//! rebuild. This hasher reads 8 bytes at a time and mixes each word with a
//! folded 64×64→128-bit multiply (the mixing of wyhash and foldhash), which
//! spreads every input bit over both halves of the hash, as the table needs (low
//! bits pick the bucket, high bits the tag). Its starting state is drawn at
//! random once per process, so an agent cannot precompute terms that collide in
//! the dictionary (texts come from callers); the dictionary's layout is not part of
//! any answer, so search stays deterministic.

use std::hash::{BuildHasher, Hasher, RandomState};
use std::sync::LazyLock;

/// Multiplier for each word (the fractional bits of pi).
const MUL: u64 = 0x243f_6a88_85a3_08d3;
/// Finishing multiplier (the fractional bits of e).
const SEED: u64 = 0xb7e1_5162_8aed_2a6b;

/// This process's starting state: from the standard library's random hash keys.
static KEY: LazyLock<u64> = LazyLock::new(|| RandomState::new().hash_one(SEED));

/// `a × b` on 128 bits, the high half xored into the low one.
fn fold_mul(a: u64, b: u64) -> u64 {
    let full = u128::from(a) * u128::from(b);
    (full as u64) ^ ((full >> 64) as u64)
}

/// The hasher: see the module documentation.
#[derive(Debug, Clone, Copy)]
pub(super) struct TermHasher(u64);

impl TermHasher {
    fn mix(&mut self, word: u64) {
        self.0 = fold_mul(self.0 ^ word, MUL);
    }
}

impl Hasher for TermHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.mix(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        let mut word = [0u8; 8];
        if let Some(head) = word.get_mut(..rest.len()) {
            head.copy_from_slice(rest);
        }
        // The length in the top byte tells `ab` from `ab\0`.
        self.mix(u64::from_le_bytes(word) ^ ((bytes.len() as u64) << 56));
    }

    fn write_u64(&mut self, word: u64) {
        self.mix(word);
    }

    fn write_u8(&mut self, byte: u8) {
        self.mix(u64::from(byte) | 1 << 63);
    }

    fn finish(&self) -> u64 {
        fold_mul(self.0, SEED)
    }
}

/// Builds [`TermHasher`]s for the dictionary, all starting from this process's key.
#[derive(Debug, Clone, Copy)]
pub(super) struct BuildTermHasher(u64);

impl Default for BuildTermHasher {
    fn default() -> Self {
        BuildTermHasher(*KEY)
    }
}

impl BuildHasher for BuildTermHasher {
    type Hasher = TermHasher;

    fn build_hasher(&self) -> TermHasher {
        TermHasher(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_strings_hash_alike_and_near_ones_apart() {
        let build = BuildTermHasher::default();
        assert_eq!(build.hash_one("getuserbyid"), build.hash_one("getuserbyid"));
        let words = ["", "a", "ab", "ab\0", "abcdefgh", "abcdefghi", "abcdefgi"];
        let hashes: std::collections::BTreeSet<u64> =
            words.iter().map(|w| build.hash_one(*w)).collect();
        assert_eq!(hashes.len(), words.len());
    }
}
