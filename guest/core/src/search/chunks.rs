//! What a bulk build remembers of the chunks it has tokenized: documents repeat
//! the same words, and a chunk's terms depend on the chunk only, so most chunks
//! are tokenized (and their terms looked up in the dictionary) once per build.
//!
//! Looking a chunk up is the hottest step of a build and is bound by cache misses,
//! so chunks of up to 15 bytes (most words) are kept inline in a dense array, in
//! the order they were first seen (frequent chunks come early and share cache
//! lines), behind an open-addressing table of `u32` indices; a chunk with a single
//! term keeps its slot inline too.

use super::hash::BuildTermHasher;
use std::collections::HashMap;

/// Longest chunk, in bytes, that is remembered.
const LONGEST: usize = 64;
/// Most chunks remembered (what keeps the memo small on text of unique tokens).
const MOST: usize = 1 << 18;

/// The terms of one chunk: `count` slots from `start` in [`ChunkMemo::slots`],
/// or, for a single term, its slot in `start`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Memo {
    start: u32,
    count: u32,
}

/// A chunk of up to 15 bytes, inline, its length in the last byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Short([u64; 2]);

impl Short {
    fn of(chunk: &str) -> Option<Short> {
        let len = u8::try_from(chunk.len()).ok().filter(|&n| n < 16)?;
        let mut bytes = [0u8; 16];
        bytes
            .get_mut(..chunk.len())?
            .copy_from_slice(chunk.as_bytes());
        *bytes.get_mut(15)? = len;
        let (mut lo, mut hi) = ([0u8; 8], [0u8; 8]);
        lo.copy_from_slice(bytes.get(..8)?);
        hi.copy_from_slice(bytes.get(8..)?);
        Some(Short([u64::from_le_bytes(lo), u64::from_le_bytes(hi)]))
    }

    fn hash(self) -> u64 {
        let fold = |a: u64, b: u64| {
            let full = u128::from(a) * u128::from(b);
            (full as u64) ^ ((full >> 64) as u64)
        };
        let [lo, hi] = self.0;
        fold(
            fold(lo ^ 0x243f_6a88_85a3_08d3, 0xb7e1_5162_8aed_2a6b) ^ hi,
            0x9e37_79b9_7f4a_7c15,
        )
    }
}

/// Chunks already tokenized, with the slots of their terms.
#[derive(Debug, Default)]
pub(super) struct ChunkMemo {
    /// Open addressing over `short`: 0 is empty, else an index into it plus one.
    /// Its length is zero or a power of two at least twice `short`'s.
    table: Vec<u32>,
    short: Vec<(Short, Memo)>,
    /// Chunks of 16 to [`LONGEST`] bytes.
    long: HashMap<Box<str>, Memo, BuildTermHasher>,
    /// Slots of chunks with several terms.
    slots: Vec<u32>,
}

impl ChunkMemo {
    /// What is remembered of `chunk`.
    pub(super) fn get(&self, chunk: &str) -> Option<Memo> {
        let Some(key) = Short::of(chunk) else {
            return self.long.get(chunk).copied();
        };
        let mask = self.table.len().checked_sub(1)?;
        let mut at = key.hash() as usize & mask;
        loop {
            let entry = *self.table.get(at)?;
            let (short, memo) = self.short.get(entry.checked_sub(1)? as usize)?;
            if *short == key {
                return Some(*memo);
            }
            at = (at + 1) & mask;
        }
    }

    /// Appends the first `room` slots of `memo` to `out`; returns how many.
    pub(super) fn emit(&self, memo: Memo, room: usize, out: &mut Vec<u32>) -> usize {
        let count = (memo.count as usize).min(room);
        match count {
            0 => {}
            1 if memo.count == 1 => out.push(memo.start),
            _ => {
                let start = memo.start as usize;
                out.extend_from_slice(self.slots.get(start..start + count).unwrap_or_default());
            }
        }
        count
    }

    /// Remembers that `chunk` gives the terms of `slots` (all of them), unless it
    /// is too long or the memo is full.
    pub(super) fn remember(&mut self, chunk: &str, slots: &[u32]) {
        if chunk.len() > LONGEST || self.short.len() + self.long.len() >= MOST {
            return;
        }
        let Ok(count) = u32::try_from(slots.len()) else {
            return;
        };
        let memo = match slots {
            [only] => Memo {
                start: *only,
                count,
            },
            _ => {
                let Ok(start) = u32::try_from(self.slots.len()) else {
                    return;
                };
                self.slots.extend_from_slice(slots);
                Memo { start, count }
            }
        };
        match Short::of(chunk) {
            Some(key) => {
                if (self.short.len() + 1) * 2 > self.table.len() {
                    self.grow();
                }
                self.short.push((key, memo));
                self.place(key, self.short.len());
            }
            None => {
                self.long.insert(chunk.into(), memo);
            }
        }
    }

    /// Records entry `index` (plus one) for `key` in the table.
    fn place(&mut self, key: Short, index: usize) {
        let Ok(index) = u32::try_from(index) else {
            return;
        };
        let Some(mask) = self.table.len().checked_sub(1) else {
            return;
        };
        let mut at = key.hash() as usize & mask;
        while let Some(cell) = self.table.get_mut(at) {
            if *cell == 0 {
                *cell = index;
                return;
            }
            at = (at + 1) & mask;
        }
    }

    /// Doubles the table and places every entry again.
    fn grow(&mut self) {
        let size = (self.table.len() * 2).max(1024);
        self.table = vec![0; size];
        let keys: Vec<Short> = self.short.iter().map(|&(key, _)| key).collect();
        for (i, key) in keys.into_iter().enumerate() {
            self.place(key, i + 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_found_with_their_slots_and_others_are_not() {
        let mut memo = ChunkMemo::default();
        let words: Vec<String> = (0..5_000).map(|i| format!("w{i}")).collect();
        for (i, w) in words.iter().enumerate() {
            let slots: Vec<u32> = (0..(i % 3) as u32).map(|s| s + i as u32).collect();
            memo.remember(w, &slots);
        }
        let long = "a_chunk_longer_than_fifteen_bytes";
        memo.remember(long, &[7, 8]);
        for (i, w) in words.iter().enumerate() {
            let mut out = Vec::new();
            let got = memo.get(w).map(|m| memo.emit(m, 10, &mut out));
            let expected: Vec<u32> = (0..(i % 3) as u32).map(|s| s + i as u32).collect();
            assert_eq!(got, Some(expected.len()));
            assert_eq!(out, expected);
        }
        let mut out = Vec::new();
        let got = memo.get(long).map(|m| memo.emit(m, 1, &mut out));
        assert_eq!((got, out), (Some(1), vec![7]));
        assert!(memo.get("w5000").is_none());
        assert!(memo.get("another_long_chunk_never_seen").is_none());
    }
}
