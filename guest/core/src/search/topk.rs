//! Top-k evaluation that skips: MaxScore over the query's terms plus block-max
//! windows.
//!
//! Candidates are visited in increasing doc order, so a document whose score only
//! equals the current k-th best can never enter (ties go to the lower number,
//! already kept): anything whose upper bound is `<=` the threshold is skipped.
//! Terms are ordered by their whole-term bound; the cheapest prefix whose bounds
//! add up to no more than the threshold is *non-essential*: a document holding
//! only those cannot enter, so candidates come from the other terms, and the
//! non-essential ones are only looked up for candidates still in the race.
//!
//! Before scoring, a window starting at the next candidate is bounded: it ends at
//! the nearest block end among the essential terms that have a posting in it
//! (terms whose next posting lies beyond add nothing there), and it is skipped
//! whole when its block bounds cannot beat the threshold. Inside a window a
//! per-tf bound (at the shortest length that tf allows) rejects postings before
//! their document length is even read; when a single term has postings in the
//! window, its postings below the lowest tf that can enter are jumped over (and,
//! for a term too common to walk its readable subset, those the caller may not
//! read, in the same pass).
//!
//! Candidates are documents the caller may read: a term in at most one document
//! in [`COMMON`] walks the intersection of its documents with the allowed set
//! alongside its postings, so its unreadable postings are stepped over in one
//! move; a commoner term's postings are mostly passed by blocks and by tf, and
//! the allowed set is probed only for the ones that could enter. Lengths are read
//! only for readable candidates.
//!
//! Floating point: one term's bound is its score's expression evaluated at a
//! higher tf and a shorter length, every step of which is monotone, so it is never
//! below the score. Sums of several bounds are computed in another order than
//! scores, so they get a relative margin larger than any reordering error.

use super::postings::Bound;
use super::postings::Postings;
use super::{DocLens, contribution, contribution_at};
use roaring::RoaringBitmap;
use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// A term held by more than one document in this many is walked without its
/// readable subset.
const COMMON: u64 = 16;

/// The most a posting with frequency `tf` under `bound` can add.
fn bound_at(idf: f64, bound: &Bound, tf: u32, avg_len: f64) -> f64 {
    contribution_at(idf, tf, bound.len_for(tf), avg_len)
}

/// One query term with a df above zero.
pub(super) struct Term<'a> {
    /// Inverse document frequency.
    pub(super) idf: f64,
    /// Its postings.
    pub(super) postings: &'a Postings,
}

/// A position in one term's postings.
struct Cursor<'a> {
    p: &'a Postings,
    idf: f64,
    /// Position of the term in the sorted query (its place in the sum).
    order: usize,
    /// Bound of the whole term.
    ub: f64,
    block: usize,
    at: usize,
    /// The allowed documents holding the term, from past `readable` on (None for
    /// a term too common to be worth it: its unreadable postings are skipped one
    /// by one).
    allowed: Option<roaring::bitmap::Iter<'a>>,
    /// The first allowed document holding the term at or after the last one asked
    /// about (None: no more).
    readable: Option<u32>,
}

impl Cursor<'_> {
    fn doc(&self) -> Option<u32> {
        self.p.docs.get(self.at).copied()
    }

    fn next(&mut self) {
        self.at += 1;
        if self.at >= self.p.block_end(self.block) {
            self.block += 1;
        }
    }

    /// Moves on to the first posting, from this one, of a document the caller may
    /// read (past the end when there is none).
    fn skip_unreadable(&mut self) {
        let Some(doc) = self.doc() else { return };
        let Some(allowed) = self.allowed.as_mut() else {
            return;
        };
        if self.readable.is_none_or(|r| r < doc) {
            allowed.advance_to(doc);
            self.readable = allowed.next();
        }
        match self.readable {
            Some(r) if r == doc => {}
            Some(r) => self.advance_to(r),
            None => {
                self.at = self.p.docs.len();
                self.block = self.p.blocks.len();
            }
        }
    }

    /// Moves to the first block whose last doc is `>= target`, without passing
    /// any posting `>= target`.
    fn shallow(&mut self, target: u32) {
        while let Some(m) = self.p.blocks.get(self.block) {
            if m.last >= target {
                self.at = self.at.max(m.start as usize);
                return;
            }
            self.block += 1;
        }
        self.at = self.p.docs.len();
    }

    /// Moves to the first posting `>= target`: gallops from the current posting
    /// (targets are mostly near), then searches the last step's range.
    fn advance_to(&mut self, target: u32) {
        self.shallow(target);
        let end = self.p.block_end(self.block);
        let Some(rest) = self.p.docs.get(self.at..end) else {
            return;
        };
        if rest.first().is_none_or(|&d| d >= target) {
            return;
        }
        // rest[lo] < target; find hi with rest[hi] >= target (or the end).
        let (mut lo, mut step) = (0usize, 1usize);
        let hi = loop {
            let probe = lo + step;
            match rest.get(probe) {
                Some(&d) if d < target => {
                    lo = probe;
                    step *= 2;
                }
                Some(_) => break probe,
                None => break rest.len(),
            }
        };
        let window = rest.get(lo + 1..hi).unwrap_or_default();
        self.at += lo + 1 + window.partition_point(|&d| d < target);
    }

    /// Bound of block `b`.
    fn block_ub(&self, b: usize, avg_len: f64) -> f64 {
        self.p.blocks.get(b).map_or(0.0, |m| {
            bound_at(self.idf, &m.bound, m.bound.max_tf, avg_len)
        })
    }

    /// Largest bound among blocks holding docs in `from..=to` (moves shallowly to
    /// `from`).
    fn window_ub(&mut self, from: u32, to: u32, avg_len: f64) -> f64 {
        self.shallow(from);
        let mut best: f64 = 0.0;
        let mut b = self.block;
        while let Some(m) = self.p.blocks.get(b) {
            let first = self
                .p
                .docs
                .get(m.start as usize)
                .copied()
                .unwrap_or(u32::MAX);
            if first > to {
                break;
            }
            best = best.max(self.block_ub(b, avg_len));
            if m.last >= to {
                break;
            }
            b += 1;
        }
        best
    }
}

/// A kept result: the heap's top is the worst (lowest score, then highest doc).
#[derive(Debug, Clone, Copy)]
struct Hit {
    score: f64,
    doc: u32,
}

impl Ord for Hit {
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .score
            .total_cmp(&self.score)
            .then(self.doc.cmp(&other.doc))
    }
}

impl PartialOrd for Hit {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Hit {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Hit {}

/// The best `limit` allowed documents for `terms` (given in sorted term order),
/// best first, in an index of `docs` documents.
pub(super) fn top_k(
    terms: &[Term<'_>],
    limit: usize,
    allowed: &RoaringBitmap,
    lens: &DocLens,
    avg_len: f64,
    docs: u64,
) -> Vec<(u32, f64)> {
    let k = terms.len();
    if k == 0 || limit == 0 {
        return Vec::new();
    }
    // Per term, the documents the caller may read: candidates come from these only.
    // A term in more than one document in `COMMON` is left out: its postings are
    // mostly passed over by blocks and by tf, not walked one by one.
    let readable: Vec<Option<RoaringBitmap>> = terms
        .iter()
        .map(|t| {
            let common = t.postings.len() as u64 * COMMON > docs;
            (!common).then(|| &t.postings.set & allowed)
        })
        .collect();
    let mut cursors: Vec<Cursor<'_>> = terms
        .iter()
        .zip(&readable)
        .enumerate()
        .map(|(order, (t, set))| Cursor {
            p: t.postings,
            idf: t.idf,
            order,
            ub: bound_at(t.idf, &t.postings.bound, t.postings.bound.max_tf, avg_len),
            block: 0,
            at: 0,
            allowed: set.as_ref().map(RoaringBitmap::iter),
            readable: None,
        })
        .collect();
    cursors.iter_mut().for_each(Cursor::skip_unreadable);
    cursors.sort_by(|a, b| a.ub.total_cmp(&b.ub).then(a.order.cmp(&b.order)));
    // prefix[i]: sum of the bounds of the i cheapest terms.
    let mut prefix = vec![0.0f64; k + 1];
    for (i, c) in cursors.iter().enumerate() {
        let sum = prefix.get(i).copied().unwrap_or(0.0) + c.ub;
        if let Some(p) = prefix.get_mut(i + 1) {
            *p = sum;
        }
    }
    let prefix_at = |i: usize| prefix.get(i).copied().unwrap_or(f64::INFINITY);
    // One term: the bound is exact in floating point. Several: cover reordering.
    let margin = if k == 1 {
        1.0
    } else {
        1.0 + 4.0 * k as f64 * f64::EPSILON
    };
    let cannot_enter = |bound: f64, threshold: f64| bound * margin <= threshold;
    let mut heap: BinaryHeap<Hit> = BinaryHeap::new();
    let mut threshold = 0.0f64;
    let mut essential = 0usize;
    let mut scores = vec![0.0f64; k];
    // The current window's end once its bound passed (None: to be computed), and
    // when a single term has postings in it, that term and the lowest tf that can
    // still enter.
    let mut window: Option<u32> = None;
    let mut single: Option<(usize, u8)> = None;
    let mut by_doc: Vec<(u32, usize)> = Vec::with_capacity(k);
    let mut inside: Vec<usize> = Vec::with_capacity(k);
    // Inside the window: the non-essential terms' bound, and per essential term
    // its bound for each tf (at the block's shortest length).
    let mut window_rest = 0.0f64;
    let mut tables: Vec<Vec<f64>> = vec![Vec::new(); k];
    while let Some(mut d) = cursors
        .get(essential..)
        .unwrap_or_default()
        .iter()
        .filter_map(Cursor::doc)
        .min()
    {
        if window.is_none_or(|w| d > w) {
            // Window [d, w]: the essential terms with a posting in it each stay in
            // their current block; the others have none there.
            by_doc.clear();
            for (i, c) in cursors.iter().enumerate().skip(essential) {
                if let Some(doc) = c.doc() {
                    by_doc.push((doc, i));
                }
            }
            by_doc.sort_unstable();
            let mut w = u32::MAX;
            let mut bound = 0.0f64;
            inside.clear();
            for &(doc, i) in &by_doc {
                let Some(c) = cursors.get(i) else { continue };
                let Some(m) = c.p.blocks.get(c.block) else {
                    continue;
                };
                if doc > w {
                    break;
                }
                w = w.min(m.last);
                bound += c.block_ub(c.block, avg_len);
                inside.push(i);
            }
            let mut rest = 0.0f64;
            for c in cursors.get_mut(..essential).unwrap_or_default() {
                rest += c.window_ub(d, w, avg_len);
            }
            if cannot_enter(bound + rest, threshold) {
                window = None;
                let Some(after) = w.checked_add(1) else {
                    break;
                };
                for c in cursors.get_mut(essential..).unwrap_or_default() {
                    c.advance_to(after);
                    c.skip_unreadable();
                }
                continue;
            }
            // Per-tf bounds of the terms in the window, now that it is scanned.
            for &i in &inside {
                let Some(c) = cursors.get(i) else { continue };
                let Some(m) = c.p.blocks.get(c.block) else {
                    continue;
                };
                if let Some(table) = tables.get_mut(i) {
                    let top = m.bound.max_tf.min(u32::from(u8::MAX) - 1);
                    table.clear();
                    table.extend((0..=top).map(|tf| bound_at(c.idf, &m.bound, tf, avg_len)));
                }
            }
            window = Some(w);
            window_rest = rest;
            single = None;
            if let [i] = inside.as_slice()
                && let Some(c) = cursors.get(*i)
                && let Some(m) = c.p.blocks.get(c.block)
            {
                let top = u8::try_from(m.bound.max_tf)
                    .unwrap_or(u8::MAX)
                    .min(u8::MAX - 1);
                let min_tf = (1..=top)
                    .find(|&tf| {
                        let best = bound_at(c.idf, &m.bound, u32::from(tf), avg_len);
                        !cannot_enter(best + rest, threshold)
                    })
                    .unwrap_or(u8::MAX);
                single = (min_tf > 1).then_some((*i, min_tf));
            }
        }
        if let Some((i, min_tf)) = single
            && let Some(w) = window
            && let Some(c) = cursors.get_mut(i)
        {
            // One term in the window: jump to its next posting frequent enough
            // to enter, or past the window.
            let block_end = c.p.block_end(c.block);
            let docs = c.p.docs.get(c.at..block_end).unwrap_or_default();
            let end = c.at + docs.partition_point(|&doc| doc <= w);
            let tfs = c.p.tfs.get(c.at..end).unwrap_or_default();
            let docs = docs.get(..tfs.len()).unwrap_or_default();
            // A term too common to walk its readable subset: the postings the
            // caller may not read are passed over here too, not one per turn.
            let common = c.allowed.is_none();
            let next = tfs
                .iter()
                .zip(docs)
                .position(|(&t, &doc)| t >= min_tf && (!common || allowed.contains(doc)));
            match next {
                Some(off) => {
                    c.at += off;
                    let landed = c.doc();
                    c.skip_unreadable();
                    if c.doc() != landed {
                        // Not readable: start again from the next readable one.
                        continue;
                    }
                    d = landed.unwrap_or(d);
                }
                None => {
                    c.at = end;
                    if end >= block_end {
                        c.block += 1;
                    }
                    c.skip_unreadable();
                    window = None;
                    continue;
                }
            }
        }
        // A bound from the tfs alone first (no length lookup).
        let mut quick = window_rest;
        for (i, c) in cursors.iter().enumerate().skip(essential) {
            if c.doc() == Some(d) {
                let tf = c.p.tfs.get(c.at).copied().unwrap_or(u8::MAX);
                let table = tables.get(i).map(Vec::as_slice).unwrap_or_default();
                quick += table.get(usize::from(tf)).copied().unwrap_or(f64::INFINITY);
            }
        }
        // A document the caller may not read is passed over before its length
        // is read.
        if cannot_enter(quick, threshold) || !allowed.contains(d) {
            for c in cursors.get_mut(essential..).unwrap_or_default() {
                if c.doc() == Some(d) {
                    c.next();
                    c.skip_unreadable();
                }
            }
            continue;
        }
        // Score the essential terms at d.
        let mut partial = 0.0f64;
        for c in cursors.get_mut(essential..).unwrap_or_default() {
            if c.doc() == Some(d) {
                let s = contribution(c.idf, c.p.tf_at(c.at), lens.get(d), avg_len);
                if let Some(slot) = scores.get_mut(c.order) {
                    *slot = s;
                }
                partial += s;
                c.next();
                c.skip_unreadable();
            }
        }
        let mut alive = !cannot_enter(partial + prefix_at(essential), threshold);
        // Then the non-essential ones, most valuable first, while still in the race.
        for j in (0..essential).rev() {
            if !alive {
                break;
            }
            if let Some(c) = cursors.get_mut(j) {
                c.advance_to(d);
                if c.doc() == Some(d) {
                    let s = contribution(c.idf, c.p.tf_at(c.at), lens.get(d), avg_len);
                    if let Some(slot) = scores.get_mut(c.order) {
                        *slot = s;
                    }
                    partial += s;
                }
            }
            alive = !cannot_enter(partial + prefix_at(j), threshold);
        }
        if alive {
            // Summed in sorted term order, absent terms adding an exact 0.
            let score: f64 = scores.iter().fold(0.0, |sum, s| sum + s);
            let full = heap.len() >= limit;
            if score > threshold && score.is_finite() || !full && score > 0.0 && score.is_finite() {
                heap.push(Hit { score, doc: d });
                if heap.len() > limit {
                    heap.pop();
                }
                if heap.len() >= limit {
                    window = None;
                    single = None;
                    threshold = heap.peek().map_or(0.0, |h| h.score);
                    while essential < k && cannot_enter(prefix_at(essential + 1), threshold) {
                        essential += 1;
                    }
                }
            }
        }
        scores.iter_mut().for_each(|s| *s = 0.0);
    }
    heap.into_sorted_vec()
        .into_iter()
        .map(|h| (h.doc, h.score))
        .collect()
}
