//! One term's postings, and the per-document lengths.
//!
//! A term keeps its documents twice: as a bitmap (so the number of *allowed*
//! documents holding it is one bitmap intersection) and as `(doc, tf)` pairs
//! sorted by doc, cut into blocks of about [`BLOCK`] postings. Each block records
//! its last doc and a [`Bound`] on the scores of its postings.

use roaring::RoaringBitmap;

/// Postings per block when appending; a block split in two past twice this.
pub(super) const BLOCK: usize = 128;
/// Stored tf meaning "the real frequency is in the overflow list".
pub(super) const TF_OVERFLOW: u8 = u8::MAX;

/// What bounds the scores of a group of postings whatever the average length:
/// BM25 grows with tf and shrinks with length, so the highest tf, the shortest
/// length and the highest tf/length ratio (no posting has more tf per term of
/// length) bound it. Adding keeps it exact; removing leaves it as it was (still a
/// bound).
#[derive(Debug, Clone, Copy)]
pub(super) struct Bound {
    /// Highest tf.
    pub(super) max_tf: u32,
    /// Shortest document length.
    pub(super) min_len: u32,
    /// The posting with the highest tf/length: its tf and length.
    ratio_tf: u32,
    ratio_len: u32,
}

impl Bound {
    /// Bounds nothing yet.
    pub(super) const EMPTY: Bound = Bound {
        max_tf: 0,
        min_len: u32::MAX,
        ratio_tf: 0,
        ratio_len: 1,
    };

    /// Takes in a posting.
    pub(super) fn include(&mut self, tf: u32, len: u32) {
        self.max_tf = self.max_tf.max(tf);
        self.min_len = self.min_len.min(len);
        if u64::from(tf) * u64::from(self.ratio_len) > u64::from(self.ratio_tf) * u64::from(len) {
            (self.ratio_tf, self.ratio_len) = (tf, len);
        }
    }

    /// The shortest length a posting with frequency `tf` can have: at least the
    /// shortest length, and `tf` over the highest ratio (rounded down a little, so
    /// never above the real one).
    pub(super) fn len_for(&self, tf: u32) -> f64 {
        let shortest = f64::from(self.min_len);
        if self.ratio_tf == 0 {
            return shortest;
        }
        let by_ratio =
            f64::from(tf) * f64::from(self.ratio_len) / f64::from(self.ratio_tf) * (1.0 - 1e-12);
        shortest.max(by_ratio)
    }
}

/// Bounds and position of one block.
#[derive(Debug, Clone, Copy)]
pub(super) struct BlockMeta {
    /// Index of its first posting.
    pub(super) start: u32,
    /// Its last doc.
    pub(super) last: u32,
    /// Bounds its postings.
    pub(super) bound: Bound,
}

/// The documents holding one term.
#[derive(Debug, Clone)]
pub(super) struct Postings {
    /// Every doc holding the term.
    pub(super) set: RoaringBitmap,
    /// The same docs, ascending.
    pub(super) docs: Vec<u32>,
    /// Term frequency per doc, [`TF_OVERFLOW`] for 255 and more.
    pub(super) tfs: Vec<u8>,
    /// `(doc, tf)` for frequencies of 255 and more, by doc.
    pub(super) big: Vec<(u32, u32)>,
    /// Blocks, in doc order.
    pub(super) blocks: Vec<BlockMeta>,
    /// Bounds every posting ever added.
    pub(super) bound: Bound,
}

impl Default for Postings {
    fn default() -> Self {
        Self {
            set: RoaringBitmap::new(),
            docs: Vec::new(),
            tfs: Vec::new(),
            big: Vec::new(),
            blocks: Vec::new(),
            bound: Bound::EMPTY,
        }
    }
}

fn as_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl Postings {
    /// The postings of `docs` (ascending, distinct) with their stored
    /// frequencies `tfs` and the overflowing ones `big` (by doc): blocks are cut
    /// every [`BLOCK`] postings, as appending cuts them, and bounds are exact.
    pub(super) fn from_sorted(
        mut docs: Vec<u32>,
        mut tfs: Vec<u8>,
        mut big: Vec<(u32, u32)>,
        lens: &DocLens,
    ) -> Self {
        docs.shrink_to_fit();
        tfs.shrink_to_fit();
        big.shrink_to_fit();
        let set = RoaringBitmap::from_sorted_iter(docs.iter().copied()).unwrap_or_default();
        let mut bound = Bound::EMPTY;
        let mut blocks: Vec<BlockMeta> = Vec::with_capacity(docs.len().div_ceil(BLOCK));
        let mut overflowing = big.iter();
        for (at, (&doc, &small)) in docs.iter().zip(&tfs).enumerate() {
            let tf = match small {
                TF_OVERFLOW => overflowing
                    .next()
                    .map_or(u32::from(TF_OVERFLOW), |&(_, tf)| tf),
                _ => u32::from(small),
            };
            let len = lens.get(doc);
            bound.include(tf, len);
            if at % BLOCK == 0 {
                blocks.push(BlockMeta {
                    start: as_u32(at),
                    last: doc,
                    bound: Bound::EMPTY,
                });
            }
            if let Some(m) = blocks.last_mut() {
                m.last = doc;
                m.bound.include(tf, len);
            }
        }
        Self {
            set,
            docs,
            tfs,
            big,
            blocks,
            bound,
        }
    }

    /// Number of postings.
    pub(super) fn len(&self) -> usize {
        self.docs.len()
    }

    /// Index one past the last posting of block `b`.
    pub(super) fn block_end(&self, b: usize) -> usize {
        self.blocks
            .get(b + 1)
            .map_or(self.docs.len(), |m| m.start as usize)
    }

    /// The tf of the posting at `at` (0 if out of range).
    pub(super) fn tf_at(&self, at: usize) -> u32 {
        match self.tfs.get(at) {
            Some(&TF_OVERFLOW) => {
                let doc = self.docs.get(at).copied().unwrap_or_default();
                self.big
                    .binary_search_by_key(&doc, |&(d, _)| d)
                    .ok()
                    .and_then(|i| self.big.get(i))
                    .map_or(u32::from(TF_OVERFLOW), |&(_, tf)| tf)
            }
            Some(&tf) => u32::from(tf),
            None => 0,
        }
    }

    /// The tf of `doc`, if it holds the term.
    pub(super) fn tf_of(&self, doc: u32) -> Option<u32> {
        let at = self.docs.binary_search(&doc).ok()?;
        Some(self.tf_at(at))
    }

    /// Adds `doc` (not yet present) with frequency `tf` in a document of `len`
    /// terms; `lens` gives other documents' lengths when a block is split.
    pub(super) fn add(&mut self, doc: u32, tf: u32, len: u32, lens: &DocLens) {
        self.bound.include(tf, len);
        // Documents mostly arrive in increasing order (every rebuild does): `try_push`
        // appends without searching the containers.
        if self.set.try_push(doc).is_err() {
            self.set.insert(doc);
        }
        let small = u8::try_from(tf)
            .ok()
            .filter(|&t| t != TF_OVERFLOW)
            .unwrap_or(TF_OVERFLOW);
        if small == TF_OVERFLOW {
            let at = self.big.partition_point(|&(d, _)| d < doc);
            self.big.insert(at, (doc, tf));
        }
        let appending = self.docs.last().is_none_or(|&last| last < doc);
        if appending {
            let end = as_u32(self.docs.len());
            self.docs.push(doc);
            self.tfs.push(small);
            match self.blocks.last_mut() {
                Some(m) if (end - m.start) < as_u32(BLOCK) => {
                    m.last = doc;
                    m.bound.include(tf, len);
                }
                _ => {
                    let mut bound = Bound::EMPTY;
                    bound.include(tf, len);
                    self.blocks.push(BlockMeta {
                        start: end,
                        last: doc,
                        bound,
                    });
                }
            }
            return;
        }
        let at = self.docs.partition_point(|&d| d < doc);
        self.docs.insert(at, doc);
        self.tfs.insert(at, small);
        // The first block ending at or after `doc` takes it (one exists: `doc` is
        // below the last doc).
        let b = self.blocks.partition_point(|m| m.last < doc);
        if let Some(m) = self.blocks.get_mut(b) {
            m.bound.include(tf, len);
        }
        for m in self.blocks.iter_mut().skip(b + 1) {
            m.start += 1;
        }
        let start = self.blocks.get(b).map_or(0, |m| m.start as usize);
        if self.block_end(b) - start > 2 * BLOCK {
            self.split(b, lens);
        }
    }

    /// Cuts block `b` in two halves with exact bounds.
    fn split(&mut self, b: usize, lens: &DocLens) {
        let Some(&meta) = self.blocks.get(b) else {
            return;
        };
        let (start, end) = (meta.start as usize, self.block_end(b));
        let mid = start + (end - start) / 2;
        let first = self.meta(start, mid, lens);
        let second = self.meta(mid, end, lens);
        if let (Some(first), Some(second)) = (first, second) {
            if let Some(m) = self.blocks.get_mut(b) {
                *m = first;
            }
            self.blocks.insert(b + 1, second);
        }
    }

    /// Exact bounds of postings `from..to` (non-empty).
    fn meta(&self, from: usize, to: usize, lens: &DocLens) -> Option<BlockMeta> {
        let last = *self.docs.get(to.checked_sub(1)?)?;
        let mut meta = BlockMeta {
            start: as_u32(from),
            last,
            bound: Bound::EMPTY,
        };
        for at in from..to {
            let doc = *self.docs.get(at)?;
            meta.bound.include(self.tf_at(at), lens.get(doc));
        }
        Some(meta)
    }

    /// Removes `doc`; false if it was not there.
    pub(super) fn remove(&mut self, doc: u32) -> bool {
        let Ok(at) = self.docs.binary_search(&doc) else {
            return false;
        };
        self.set.remove(doc);
        self.docs.remove(at);
        if self.tfs.get(at) == Some(&TF_OVERFLOW) {
            self.big.retain(|&(d, _)| d != doc);
        }
        self.tfs.remove(at);
        let b = self.blocks.partition_point(|m| m.last < doc);
        for m in self.blocks.iter_mut().skip(b + 1) {
            m.start -= 1;
        }
        let start = self.blocks.get(b).map_or(0, |m| m.start as usize);
        if self.block_end(b) == start {
            self.blocks.remove(b);
        } else if let Some(m) = self.blocks.get_mut(b)
            && m.last == doc
        {
            m.last = at
                .checked_sub(1)
                .and_then(|p| self.docs.get(p))
                .copied()
                .unwrap_or_default();
        }
        true
    }

    /// Gives back spare capacity.
    pub(super) fn shrink_to_fit(&mut self) {
        self.docs.shrink_to_fit();
        self.tfs.shrink_to_fit();
        self.big.shrink_to_fit();
        self.blocks.shrink_to_fit();
    }

    /// Bytes held on the heap (from capacities) plus the struct itself.
    pub(super) fn bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.set.serialized_size()
            + self.docs.capacity() * 4
            + self.tfs.capacity()
            + self.big.capacity() * 8
            + self.blocks.capacity() * std::mem::size_of::<BlockMeta>()
    }
}

/// Bits of a doc number selecting the slot inside a page.
const PAGE_BITS: u32 = 12;

/// Document lengths by doc number, in lazily allocated pages of 4096 (so sparse
/// numbers cost little and a lookup is two loads), and sliced by bit: the documents
/// whose length has bit `b` set form slice `b`, so the lengths of any set of documents
/// sum as `Σ 2^b × |set ∩ slice b|`, a few bitmap intersections however many documents
/// the set holds.
#[derive(Debug, Default, Clone)]
pub(super) struct DocLens {
    pages: Vec<Option<Box<[u32]>>>,
    slices: Vec<RoaringBitmap>,
}

/// Below this many documents, a set's lengths are summed one by one rather than by
/// slice.
const SUM_ONE_BY_ONE: u64 = 2048;

impl DocLens {
    /// The length of `doc` (0 if never set).
    pub(super) fn get(&self, doc: u32) -> u32 {
        let (page, slot) = ((doc >> PAGE_BITS) as usize, (doc & 0xfff) as usize);
        self.pages
            .get(page)
            .and_then(Option::as_ref)
            .and_then(|p| p.get(slot))
            .copied()
            .unwrap_or(0)
    }

    /// Sets the length of `doc`.
    pub(super) fn set(&mut self, doc: u32, len: u32) {
        let (page, slot) = ((doc >> PAGE_BITS) as usize, (doc & 0xfff) as usize);
        if self.pages.len() <= page {
            if len == 0 {
                return;
            }
            self.pages.resize(page + 1, None);
        }
        let Some(entry) = self.pages.get_mut(page) else {
            return;
        };
        let p = entry.get_or_insert_with(|| vec![0; 1 << PAGE_BITS].into_boxed_slice());
        let Some(cell) = p.get_mut(slot) else { return };
        let (old, bits) = (*cell, u32::BITS - len.leading_zeros());
        *cell = len;
        if self.slices.len() < bits as usize {
            self.slices.resize_with(bits as usize, RoaringBitmap::new);
        }
        for (b, slice) in (0u32..).zip(self.slices.iter_mut()) {
            let (was, is) = (old >> b & 1 == 1, len >> b & 1 == 1);
            // Pushed at the end when it is the highest number yet (as in a build).
            if is && !was && slice.try_push(doc).is_err() {
                slice.insert(doc);
            } else if was && !is {
                slice.remove(doc);
            }
        }
        while self.slices.last().is_some_and(RoaringBitmap::is_empty) {
            self.slices.pop();
        }
    }

    /// The sum of the lengths of the documents of `docs` (a document never set counts
    /// 0): one by one for a small set, otherwise one intersection per bit of the
    /// longest length.
    pub(super) fn sum_over(&self, docs: &RoaringBitmap) -> u64 {
        if docs.len() <= SUM_ONE_BY_ONE {
            return docs.iter().map(|d| u64::from(self.get(d))).sum();
        }
        (0u32..)
            .zip(&self.slices)
            .map(|(b, slice)| docs.intersection_len(slice) << b)
            .sum()
    }

    /// Bytes held.
    pub(super) fn bytes(&self) -> usize {
        self.pages.capacity() * std::mem::size_of::<Option<Box<[u32]>>>()
            + self
                .slices
                .iter()
                .map(RoaringBitmap::serialized_size)
                .sum::<usize>()
            + self.pages.iter().flatten().count() * (4 << PAGE_BITS)
    }
}
