//! Building an index from many documents at once (a rebuild from a snapshot).
//!
//! Documents come in increasing number, so each term's postings only ever grow at
//! their end: they are gathered as plain `(doc, tf)` lists, and the bitmap, the
//! blocks and their bounds are made once per term at the end, in one sequential
//! pass. Blocks are cut every `BLOCK` postings, exactly where appending one
//! document at a time cuts them, so the result is the index
//! [`Index::insert`] would have built.

use super::hash::BuildTermHasher;
use super::postings::{Postings, TF_OVERFLOW};
use super::tokenize::{MAX_TERMS_PER_DOC, chunk_terms, each_chunk};
use super::{Index, intern, slot_runs};
use std::collections::HashMap;
use std::hash::{Hash, Hasher};

/// Longest chunk, in bytes, whose terms are remembered.
const CACHED_CHUNK_BYTES: usize = 64;
/// Most chunks remembered (what keeps the memo small on text of unique tokens).
const CACHED_CHUNKS: usize = 1 << 18;

/// A chunk of up to 23 bytes, held inline (its length in the last byte), so
/// looking it up reads no other memory.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Short([u64; 3]);

impl Short {
    fn of(chunk: &str) -> Option<Short> {
        let mut bytes = [0u8; 24];
        bytes
            .get_mut(..chunk.len())?
            .copy_from_slice(chunk.as_bytes());
        *bytes.get_mut(23)? = u8::try_from(chunk.len()).ok().filter(|&n| n < 24)?;
        let mut words = [0u64; 3];
        for (word, eight) in words.iter_mut().zip(bytes.chunks_exact(8)) {
            let mut w = [0u8; 8];
            w.copy_from_slice(eight);
            *word = u64::from_le_bytes(w);
        }
        Some(Short(words))
    }
}

impl Hash for Short {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.iter().for_each(|&w| state.write_u64(w));
    }
}

/// The slots of the terms of chunks already seen: documents repeat the same
/// words, and a chunk's terms depend on the chunk only, so most chunks are
/// tokenized once per build.
#[derive(Default)]
struct Chunks {
    /// Short chunk → its slots in `slots`: `(start, count)`.
    short: HashMap<Short, (u32, u32), BuildTermHasher>,
    /// The same for longer chunks.
    long: HashMap<Box<str>, (u32, u32), BuildTermHasher>,
    slots: Vec<u32>,
}

impl Chunks {
    fn get(&self, chunk: &str) -> Option<&(u32, u32)> {
        match Short::of(chunk) {
            Some(short) => self.short.get(&short),
            None => self.long.get(chunk),
        }
    }

    /// Remembers the slots of `chunk` (all of them), within the bounds.
    fn remember(&mut self, chunk: &str, slots: &[u32]) {
        if chunk.len() > CACHED_CHUNK_BYTES || self.short.len() + self.long.len() >= CACHED_CHUNKS {
            return;
        }
        let (Ok(start), Ok(n)) = (u32::try_from(self.slots.len()), u32::try_from(slots.len()))
        else {
            return;
        };
        self.slots.extend_from_slice(slots);
        match Short::of(chunk) {
            Some(short) => self.short.insert(short, (start, n)),
            None => self.long.insert(chunk.into(), (start, n)),
        };
    }
}

/// One term's postings while building.
#[derive(Default)]
struct Gathered {
    docs: Vec<u32>,
    /// Frequency per doc, [`TF_OVERFLOW`] for 255 and more.
    tfs: Vec<u8>,
    /// `(doc, tf)` for frequencies of 255 and more.
    big: Vec<(u32, u32)>,
}

impl Gathered {
    fn push(&mut self, doc: u32, tf: u32) {
        self.docs.push(doc);
        match u8::try_from(tf).ok().filter(|&t| t != TF_OVERFLOW) {
            Some(small) => self.tfs.push(small),
            None => {
                self.tfs.push(TF_OVERFLOW);
                self.big.push((doc, tf));
            }
        }
    }
}

impl Index {
    /// Indexes `docs`, given in increasing number: the index that inserting them
    /// one by one with [`Index::insert`] gives (the same answers to every query,
    /// the same behaviour afterwards), built several times faster.
    ///
    /// What `insert` would refuse is skipped (a number above `u32::MAX`, one
    /// already given). A document out of order is still indexed, by `insert`,
    /// after the others.
    pub fn build<S: AsRef<str>>(docs: impl IntoIterator<Item = (u64, S)>) -> Self {
        let mut index = Index::new();
        let mut gathered: Vec<Gathered> = Vec::new();
        let mut late: Vec<(u64, S)> = Vec::new();
        let mut last: Option<u32> = None;
        let (mut ids, mut runs) = (Vec::new(), Vec::new());
        let mut chunks = Chunks::default();
        for (doc, text) in docs {
            let Ok(n) = u32::try_from(doc) else {
                continue;
            };
            if last.is_some_and(|last| n <= last) {
                late.push((doc, text));
                continue;
            }
            last = Some(n);
            ids.clear();
            let dict = &mut index.dict;
            let mut count = 0;
            each_chunk(text.as_ref(), |chunk| {
                let room = MAX_TERMS_PER_DOC - count;
                if let Some(&(start, n)) = chunks.get(chunk) {
                    let (start, n) = (start as usize, room.min(n as usize));
                    ids.extend(chunks.slots.get(start..start + n).unwrap_or_default());
                    count += n;
                } else {
                    let first = ids.len();
                    let n = chunk_terms(chunk, room, |term| {
                        ids.push(intern(dict, term, || {
                            gathered.push(Gathered::default());
                            u32::try_from(gathered.len() - 1).unwrap_or(u32::MAX)
                        }));
                    });
                    count += n;
                    // Below `room`, the chunk's terms are all there.
                    if n < room {
                        chunks.remember(chunk, ids.get(first..).unwrap_or_default());
                    }
                }
                count < MAX_TERMS_PER_DOC
            });
            let len = u32::try_from(count).unwrap_or(u32::MAX);
            index.lens.set(n, len);
            slot_runs(&mut ids, &mut runs);
            for &(slot, tf) in &runs {
                if let Some(g) = gathered.get_mut(slot as usize) {
                    g.push(n, tf);
                }
            }
            if index.docs.try_push(n).is_err() {
                index.docs.insert(n);
            }
            index.total_len = index.total_len.saturating_add(u64::from(len));
        }
        let lens = &index.lens;
        index.slots = gathered
            .into_iter()
            .map(|g| Postings::from_sorted(g.docs, g.tfs, g.big, lens))
            .collect();
        for (doc, text) in late {
            // A repeated number is refused, as `insert` refuses it.
            let _ = index.insert(doc, text.as_ref());
        }
        index
    }
}
