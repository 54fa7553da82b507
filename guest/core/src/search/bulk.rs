//! Building an index from many documents at once (a rebuild from a snapshot).
//!
//! Documents come in increasing number, so each term's postings only ever grow at
//! their end: they are gathered as plain `(doc, tf)` lists, and the bitmap, the
//! blocks and their bounds are made once per term at the end, in one sequential
//! pass. Blocks are cut every `BLOCK` postings, exactly where appending one
//! document at a time cuts them, so the result is the index
//! [`Index::insert`] would have built.

use super::chunks::ChunkMemo;
use super::postings::{Postings, TF_OVERFLOW};
use super::tokenize::{MAX_TERMS_PER_DOC, chunk_terms, next_chunk};

/// Chunks of a document looked up together.
const BATCH: usize = 32;
use super::{Index, intern, slot_runs};

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
        let mut chunks = ChunkMemo::default();
        let mut spans: Vec<(usize, usize)> = Vec::with_capacity(BATCH);
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
                let touched = spans.iter().fold(0, |acc, &(from, to)| {
                    acc ^ chunks.touch(text.get(from..to).unwrap_or_default())
                });
                std::hint::black_box(touched);
                for &(from, to) in &spans {
                    if count >= MAX_TERMS_PER_DOC {
                        break 'chunks;
                    }
                    let chunk = text.get(from..to).unwrap_or_default();
                    let room = MAX_TERMS_PER_DOC - count;
                    if let Some(memo) = chunks.get(chunk) {
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
                acc ^ g.and_then(|g| g.docs.last()).copied().unwrap_or_default()
                    ^ u32::from(g.and_then(|g| g.tfs.last()).copied().unwrap_or_default())
            });
            std::hint::black_box(touched);
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
