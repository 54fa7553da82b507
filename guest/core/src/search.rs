//! Ranked keyword search: a tokenizer tuned for prose *and* code, and a BM25
//! inverted index.
//!
//! Tokenizer rules (see [`tokenize`]):
//! - text is split on every char that is not alphanumeric (unicode-aware) or `_`,
//!   except that runs joined by `/ . : \ -` are first seen as one *chunk*;
//! - a chunk containing `/ . : \` (a path, dotted or `::` name, URL, version) is
//!   also emitted whole, lowercased (`src/api/auth.py`), plus its file name after
//!   the last `/` or `\` when that is itself dotted (`auth.py`); a hyphen alone
//!   only splits (`kebab-case` gives `kebab`, `case`);
//! - a word made of several parts (camelCase, PascalCase, acronym runs, `snake_case`,
//!   letters/digits) gives its whole lowercased form plus each part:
//!   `getUserById` gives `getuserbyid get user by id`, `HTTPServer` gives
//!   `httpserver http server`, `oauth2Client` gives `oauth2client oauth 2 client`
//!   (digits always split from letters);
//! - parts and single-part words get a light plural stem (`tokens` becomes `token`,
//!   `queries` becomes `query`, `indexes` becomes `index`; `ss`/`us`/`is` endings and
//!   words under 4 letters are kept); whole identifiers and chunks are never stemmed;
//! - Latin letters lose their accents (`Café` gives `cafe`, `Straße` `strasse`, a
//!   decomposed `e` + U+0301 the same as `é`), before the plural stem; other scripts
//!   keep their marks, which stay inside their word;
//! - Han, Hiragana, Katakana and Hangul, written without spaces between words, give
//!   their overlapping pairs of chars (`数据库迁移` gives `数据 据库 库迁 迁移`, so the
//!   query `数据库` finds it); a lone such char is kept as it is. Thai, Lao, Khmer and
//!   Myanmar, also written without spaces, give overlapping pairs of clusters, a
//!   cluster being a letter with the marks written on it (`ฐานข้อมูล` gives
//!   `ฐา าน นข้ ข้อ อมู มูล`, so `ข้อมูล` finds it): no dictionary, so a query may also
//!   match across a word boundary, as with CJK pairs;
//! - single-char terms are dropped unless they are a digit or such a char;
//! - terms are cut to [`MAX_TERM_CHARS`] chars and a text yields at most
//!   [`MAX_TERMS_PER_DOC`] terms (the rest is ignored).
//!
//! The index is derived state: the same inserts always give bit-identical results.

//!
//! The index (see [`Index`]) keeps, per term, a bitmap of its documents and
//! block-compressed `(doc, tf)` postings, or, for a term in one document (most terms
//! of a large index: ids, hashes, names), that document inline (the `slot` module: a
//! text of unique words costs about 124 bytes a term natively rather than 715,
//! `cargo run --release -p maas-core --example index_mem`); a query counts document frequencies by
//! intersecting bitmaps with the caller's allowed set and ranks with a pruned
//! top-k (see the `topk` module), so it never walks every posting of a common term.

mod bulk;
mod chunks;
mod hash;
mod postings;
mod slot;
mod tokenize;
mod topk;

pub use tokenize::{MAX_TERM_CHARS, MAX_TERMS_PER_DOC, tokenize};

use hash::BuildTermHasher;
use postings::DocLens;
use roaring::RoaringBitmap;
use slot::Slot;
use std::collections::{BTreeSet, HashMap};
use tokenize::tokenize_each;

/// BM25 term-frequency saturation.
const K1: f64 = 1.2;

/// Most query terms a search ranks by: those found in the fewest documents (the ones
/// that tell documents apart; ties in term order), the rest left out. Each term's
/// postings are walked, so a query of 1 KiB holding 340 short words, each in every one
/// of an owner's 21,000 documents, cost a search 190 ms of the core, and agents
/// repeating it made another owner's calls wait half a second. A question or an
/// identifier split into its parts is well within it.
pub const MAX_QUERY_TERMS: usize = 32;
/// BM25 length normalisation.
const B: f64 = 0.75;

/// What one term adds to a document's BM25 score. Every operation in it is
/// monotone (up with tf, down with length), so evaluated at a higher tf and a
/// shorter length it bounds the score.
fn contribution(idf: f64, tf: u32, len: u32, avg_len: f64) -> f64 {
    contribution_at(idf, tf, f64::from(len), avg_len)
}

/// [`contribution`] at a length that may be fractional (for bounds).
fn contribution_at(idf: f64, tf: u32, len: f64, avg_len: f64) -> f64 {
    let tf = f64::from(tf);
    let norm = K1 * (1.0 - B + B * len / avg_len);
    idf * tf * (K1 + 1.0) / (tf + norm)
}

/// Why the index refused a change (nothing was changed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IndexError {
    /// Doc numbers are kept as `u32`; this one does not fit.
    #[error("document number {0} is above {max}", max = u32::MAX)]
    DocOutOfRange(u64),
    /// The document is already indexed: remove it first.
    #[error("document {0} is already indexed")]
    AlreadyIndexed(u64),
    /// The document is not indexed.
    #[error("document {0} is not indexed")]
    NotIndexed(u64),
    /// The text given for removal is not the one the document was indexed under.
    #[error("document {0} was indexed under another text")]
    TextMismatch(u64),
}

/// Sorted runs of equal terms: `(term, tf)`.
fn runs(mut terms: Vec<String>) -> Vec<(String, u32)> {
    terms.sort_unstable();
    let mut out: Vec<(String, u32)> = Vec::new();
    for term in terms {
        match out.last_mut() {
            Some((last, tf)) if *last == term => *tf = tf.saturating_add(1),
            _ => out.push((term, 1)),
        }
    }
    out
}

/// Sorts a document's slot ids and writes their runs, `(slot, tf)`, to `out`.
fn slot_runs(ids: &mut [u32], out: &mut Vec<(u32, u32)>) {
    ids.sort_unstable();
    out.clear();
    for &slot in ids.iter() {
        match out.last_mut() {
            Some((last, tf)) if *last == slot => *tf = tf.saturating_add(1),
            _ => out.push((slot, 1)),
        }
    }
}

/// term → slot.
type Dict = HashMap<Box<str>, u32, BuildTermHasher>;

/// The slot of `term`, taking a new one from `new_slot` if it has none.
fn intern(dict: &mut Dict, term: &str, new_slot: impl FnOnce() -> u32) -> u32 {
    if let Some(&slot) = dict.get(term) {
        return slot;
    }
    let slot = new_slot();
    dict.insert(term.into(), slot);
    slot
}

/// What BM25 normalises by: how many documents are counted and their total length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Norms {
    /// Documents counted (N).
    pub docs: u64,
    /// Sum of their lengths (N times the average length).
    pub total_len: u64,
}

/// A BM25 inverted index over documents numbered by the caller (numbers are
/// assigned in creation order, so a lower number is older). Numbers above
/// `u32::MAX` are refused. The index keeps no text: removing a document takes
/// the text it was indexed under.
#[derive(Debug, Default, Clone)]
pub struct Index {
    /// term → slot: the only copy of each term.
    dict: Dict,
    /// Documents per slot; empty slots are listed in `free` for reuse.
    slots: Vec<Slot>,
    free: Vec<u32>,
    /// Every indexed document (including ones whose text had no terms).
    docs: RoaringBitmap,
    /// Number of terms (with repeats) per document.
    lens: DocLens,
    /// Sum of all document lengths.
    total_len: u64,
}

impl Index {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// Indexes document `doc` with `text`. A document already indexed is refused
    /// (remove it with its old text first), as is a number above `u32::MAX`.
    pub fn insert(&mut self, doc: u64, text: &str) -> Result<(), IndexError> {
        let n = u32::try_from(doc).map_err(|_| IndexError::DocOutOfRange(doc))?;
        if self.docs.contains(n) {
            return Err(IndexError::AlreadyIndexed(doc));
        }
        let (dict, slots, free) = (&mut self.dict, &mut self.slots, &mut self.free);
        let mut ids = Vec::new();
        let count = tokenize_each(text, |term| {
            ids.push(intern(dict, term, || match free.pop() {
                Some(slot) => slot,
                None => {
                    slots.push(Slot::Empty);
                    u32::try_from(slots.len() - 1).unwrap_or(u32::MAX)
                }
            }));
        });
        let len = u32::try_from(count).unwrap_or(u32::MAX);
        self.lens.set(n, len);
        let mut runs = Vec::with_capacity(ids.len());
        slot_runs(&mut ids, &mut runs);
        for (slot, tf) in runs {
            if let Some(postings) = self.slots.get_mut(slot as usize) {
                postings.add(n, tf, len, &self.lens);
            }
        }
        if self.docs.try_push(n).is_err() {
            self.docs.insert(n);
        }
        self.total_len = self.total_len.saturating_add(u64::from(len));
        Ok(())
    }

    /// Removes document `doc`, which must have been indexed under `text` (checked
    /// exactly: same length and the same frequency for each of its terms, which
    /// then are all its terms). On error nothing changes.
    pub fn remove(&mut self, doc: u64, text: &str) -> Result<(), IndexError> {
        let n = u32::try_from(doc).map_err(|_| IndexError::DocOutOfRange(doc))?;
        if !self.docs.contains(n) {
            return Err(IndexError::NotIndexed(doc));
        }
        let terms = tokenize(text);
        let len = u32::try_from(terms.len()).unwrap_or(u32::MAX);
        let runs = runs(terms);
        let matches = len == self.lens.get(n)
            && runs.iter().all(|(term, tf)| {
                self.dict
                    .get(term.as_str())
                    .and_then(|&slot| self.slots.get(slot as usize))
                    .and_then(|p| p.tf_of(n))
                    == Some(*tf)
            });
        if !matches {
            return Err(IndexError::TextMismatch(doc));
        }
        for (term, _) in runs {
            let Some(&slot) = self.dict.get(term.as_str()) else {
                continue;
            };
            let Some(postings) = self.slots.get_mut(slot as usize) else {
                continue;
            };
            postings.remove(n);
            if postings.is_empty() {
                *postings = Slot::Empty;
                self.dict.remove(term.as_str());
                self.free.push(slot);
            }
        }
        self.docs.remove(n);
        self.lens.set(n, 0);
        self.total_len = self.total_len.saturating_sub(u64::from(len));
        Ok(())
    }

    /// Number of indexed documents (including ones whose text had no terms).
    pub fn len(&self) -> usize {
        self.docs.len() as usize
    }

    /// Whether no document is indexed.
    pub fn is_empty(&self) -> bool {
        self.docs.is_empty()
    }

    /// Every indexed document: pass it to [`Index::search`] to allow them all.
    pub fn docs(&self) -> &RoaringBitmap {
        &self.docs
    }

    /// The indexed documents `keep` accepts (calls it once per indexed document).
    pub fn filter(&self, keep: impl Fn(u64) -> bool) -> RoaringBitmap {
        let kept = self.docs.iter().filter(|&n| keep(u64::from(n)));
        RoaringBitmap::from_sorted_iter(kept).unwrap_or_default()
    }

    /// Estimated bytes held by the index, from its capacities.
    pub fn heap_bytes(&self) -> usize {
        let dict = self.dict.capacity() * (std::mem::size_of::<(Box<str>, u32)>() + 1)
            + self.dict.keys().map(|k| k.len()).sum::<usize>();
        let slots = self.slots.iter().map(Slot::heap_bytes).sum::<usize>()
            + self.slots.capacity() * std::mem::size_of::<Slot>();
        dict + slots + self.free.capacity() * 4 + self.docs.serialized_size() + self.lens.bytes()
    }

    /// Gives back the spare capacity of every growable part (worth calling after
    /// a bulk build such as a rebuild from a snapshot).
    pub fn shrink_to_fit(&mut self) {
        self.dict.shrink_to_fit();
        self.slots.shrink_to_fit();
        self.free.shrink_to_fit();
        self.slots.iter_mut().for_each(Slot::shrink_to_fit);
    }

    /// Number of `(doc, term)` postings.
    pub fn postings(&self) -> usize {
        self.slots.iter().map(Slot::len).sum()
    }

    /// The best `limit` documents for `query` among those in `allowed`, best
    /// first; ties broken by the lower doc number. Documents outside `allowed` are
    /// excluded before scoring: document frequencies used for idf count only
    /// allowed documents that contain the term; N and average length are over the
    /// whole index (right when every caller may read every document, as with
    /// knowledge; see [`Index::search_among`] otherwise). A query
    /// with no terms, or limit 0, returns nothing. Scores are > 0; a document's
    /// score is summed over its terms in sorted term order.
    ///
    /// Document frequencies come from bitmap intersections and ranking skips
    /// blocks and documents that cannot enter the top `limit`; `allowed` is only
    /// probed for documents that could.
    pub fn search(&self, query: &str, limit: usize, allowed: &RoaringBitmap) -> Vec<(u64, f64)> {
        let whole = Norms {
            docs: self.docs.len(),
            total_len: self.total_len,
        };
        self.search_normed(query, limit, allowed, whole)
    }

    /// [`Index::search`] with N and the average length counted over the allowed
    /// documents too (see [`Index::norms_over`]), so every score is a function of the
    /// allowed documents alone: what is written outside `allowed` changes no score (a
    /// reader cannot count the documents it may not read, nor see one written).
    pub fn search_among(
        &self,
        query: &str,
        limit: usize,
        allowed: &RoaringBitmap,
    ) -> Vec<(u64, f64)> {
        if limit == 0 || self.docs.is_empty() {
            return Vec::new();
        }
        self.search_normed(query, limit, allowed, self.norms_over(allowed))
    }

    /// How many documents of `allowed` are indexed, and the sum of their lengths. Costs
    /// a bitmap intersection per bit of the longest document's length (lengths are kept
    /// sliced by bit), or one when `allowed` holds every document.
    pub fn norms_over(&self, allowed: &RoaringBitmap) -> Norms {
        let docs = allowed.intersection_len(&self.docs);
        let total_len = if docs == self.docs.len() {
            self.total_len
        } else {
            self.lens.sum_over(allowed)
        };
        Norms { docs, total_len }
    }

    /// Ranks as [`Index::search`] says, normalising by `norms`: the whole index's (as
    /// [`Index::search`] does) or `self.norms_over(allowed)` (as
    /// [`Index::search_among`] does, or kept from an earlier call while neither changed).
    pub fn search_normed(
        &self,
        query: &str,
        limit: usize,
        allowed: &RoaringBitmap,
        norms: Norms,
    ) -> Vec<(u64, f64)> {
        if limit == 0 || self.docs.is_empty() || norms.docs == 0 {
            return Vec::new();
        }
        // Sorted and deduplicated: a fixed summation order per document.
        let words: BTreeSet<String> = tokenize(query).into_iter().collect();
        let n = norms.docs as f64;
        let avg_len = norms.total_len as f64 / n;
        let avg_len = if avg_len > 0.0 { avg_len } else { 1.0 };
        let found: Vec<(f64, std::borrow::Cow<'_, postings::Postings>)> = words
            .iter()
            .filter_map(|word| {
                let slot = self
                    .dict
                    .get(word.as_str())
                    .and_then(|&slot| self.slots.get(slot as usize))?;
                let df = slot.df(allowed) as f64;
                (df > 0.0).then(|| (df, slot.postings(&self.lens)))
            })
            .collect();
        let mut found = found;
        if found.len() > MAX_QUERY_TERMS {
            // Stable: equal counts keep the words' order.
            found.sort_by(|a, b| a.0.total_cmp(&b.0));
            found.truncate(MAX_QUERY_TERMS);
        }
        let terms: Vec<topk::Term<'_>> = found
            .iter()
            .map(|(df, postings)| topk::Term {
                idf: (1.0 + (n.max(*df) - df + 0.5) / (df + 0.5)).ln(),
                postings,
            })
            .collect();
        topk::top_k(&terms, limit, allowed, &self.lens, avg_len, self.docs.len())
            .into_iter()
            .map(|(doc, score)| (u64::from(doc), score))
            .collect()
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_allowed;
#[cfg(test)]
mod tests_bulk;
