//! Building an index from many documents at once (a rebuild from a snapshot).
//!
//! Documents come in increasing number, so each term's postings only ever grow at
//! their end: they are gathered as a compact `(doc gap, tf)` byte stream per term,
//! and the doc and tf arrays (at their exact size), the bitmap, the blocks and
//! their bounds are made once per term at the end, in one sequential pass. Blocks
//! are cut every `BLOCK` postings, exactly where appending one document at a time
//! cuts them, so the result is the index [`Index::insert`] would have built.

use super::chunks::ChunkMemo;
use super::postings::{DocLens, Postings, TF_OVERFLOW};
use super::slot::Slot;
use super::tokenize::{MAX_TERMS_PER_DOC, chunk_terms, next_chunk};

/// Chunks of a document looked up together.
const BATCH: usize = 32;
use super::{Index, intern, slot_runs};

/// One term's postings while building, packed in one byte stream (so adding a
/// posting writes to one place): per posting, the gap from the previous doc as a
/// LEB128 varint, then the tf byte ([`TF_OVERFLOW`] for 255 and more, whose real
/// frequency is kept aside).
#[derive(Default)]
struct Gathered {
    bytes: Vec<u8>,
    /// The last doc added.
    last: u32,
    /// Postings added.
    count: u32,
}

impl Gathered {
    /// Adds `doc`, above every doc added before, with stored frequency `small`.
    fn push(&mut self, doc: u32, small: u8) {
        let mut gap = doc - self.last;
        while gap >= 0x80 {
            self.bytes.push((gap & 0x7f) as u8 | 0x80);
            gap >>= 7;
        }
        self.bytes.push(gap as u8);
        self.bytes.push(small);
        self.last = doc;
        self.count += 1;
    }

    /// The postings, as `Postings::from_sorted` takes them; `big` holds this
    /// term's `(doc, tf)` of frequency 255 and more.
    fn finish(self, big: Vec<(u32, u32)>, lens: &DocLens) -> Postings {
        let count = self.count as usize;
        let (mut docs, mut tfs) = (Vec::with_capacity(count), Vec::with_capacity(count));
        let (mut doc, mut gap, mut shift) = (0u32, 0u32, 0u32);
        let mut bytes = self.bytes.iter();
        while let Some(&byte) = bytes.next() {
            gap |= u32::from(byte & 0x7f) << shift;
            if byte & 0x80 != 0 {
                shift += 7;
                continue;
            }
            doc += gap;
            docs.push(doc);
            tfs.push(bytes.next().copied().unwrap_or_default());
            (gap, shift) = (0, 0);
        }
        drop(self.bytes);
        Postings::from_sorted(docs, tfs, big, lens)
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
        // `(slot, doc, tf)` for frequencies of 255 and more, by doc.
        let mut big: Vec<(u32, u32, u32)> = Vec::new();
        let mut late: Vec<(u64, S)> = Vec::new();
        let mut last: Option<u32> = None;
        let (mut ids, mut runs) = (Vec::new(), Vec::new());
        let mut chunks = ChunkMemo::default();
        let mut spans: Vec<(usize, usize)> = Vec::with_capacity(BATCH);
        let mut found = Vec::with_capacity(BATCH);
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
            let text = text.as_ref();
            let mut count = 0;
            let mut at = 0;
            'chunks: loop {
                spans.clear();
                while spans.len() < BATCH
                    && let Some((from, to)) = next_chunk(text, at)
                {
                    spans.push((from, to));
                    at = to;
                }
                if spans.is_empty() {
                    break;
                }
                // The batch is looked up before any of it is used, so that the
                // cache misses of its lookups overlap.
                found.clear();
                found.extend(
                    spans
                        .iter()
                        .map(|&(from, to)| chunks.get(text.get(from..to).unwrap_or_default())),
                );
                for (&(from, to), &memo) in spans.iter().zip(&found) {
                    if count >= MAX_TERMS_PER_DOC {
                        break 'chunks;
                    }
                    let chunk = text.get(from..to).unwrap_or_default();
                    let room = MAX_TERMS_PER_DOC - count;
                    // A chunk first seen earlier in the batch is remembered now.
                    if let Some(memo) = memo.or_else(|| chunks.get(chunk)) {
                        count += chunks.emit(memo, room, &mut ids);
                        continue;
                    }
                    let first = ids.len();
                    let dict = &mut index.dict;
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
            }
            let len = u32::try_from(count).unwrap_or(u32::MAX);
            index.lens.set(n, len);
            slot_runs(&mut ids, &mut runs);
            // Touched first, so that their cache misses overlap.
            let touched = runs.iter().fold(0, |acc, &(slot, _)| {
                let g = gathered.get(slot as usize);
                acc ^ g.and_then(|g| g.bytes.last()).copied().unwrap_or_default()
            });
            std::hint::black_box(touched);
            for &(slot, tf) in &runs {
                let small = match u8::try_from(tf) {
                    Ok(small) if small != TF_OVERFLOW => small,
                    _ => {
                        big.push((slot, n, tf));
                        TF_OVERFLOW
                    }
                };
                if let Some(g) = gathered.get_mut(slot as usize) {
                    g.push(n, small);
                }
            }
            if index.docs.try_push(n).is_err() {
                index.docs.insert(n);
            }
            index.total_len = index.total_len.saturating_add(u64::from(len));
        }
        // By slot, each slot's by doc (the sort is stable).
        big.sort_by_key(|&(slot, _, _)| slot);
        let mut big = big.into_iter().peekable();
        let lens = &index.lens;
        index.slots = (0u32..)
            .zip(gathered)
            .map(|(slot, g)| {
                let mut mine = Vec::new();
                while let Some((_, doc, tf)) = big.next_if(|&(s, _, _)| s == slot) {
                    mine.push((doc, tf));
                }
                Slot::of(g.finish(mine, lens))
            })
            .collect();
        for (doc, text) in late {
            // A repeated number is refused, as `insert` refuses it.
            let _ = index.insert(doc, text.as_ref());
        }
        index
    }
}
