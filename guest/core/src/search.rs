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
//! - single-char terms are dropped unless they are a digit;
//! - terms are cut to [`MAX_TERM_CHARS`] chars and a text yields at most
//!   [`MAX_TERMS_PER_DOC`] terms (the rest is ignored).
//!
//! The index is derived state: the same inserts always give bit-identical results.

use std::collections::{BTreeSet, HashMap};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

/// Longest term kept, in chars; longer tokens are truncated at a char boundary.
pub const MAX_TERM_CHARS: usize = 64;
/// Most terms taken from one text (document or query); the rest is ignored.
pub const MAX_TERMS_PER_DOC: usize = 100_000;
/// BM25 term-frequency saturation.
const K1: f64 = 1.2;
/// BM25 length normalisation.
const B: f64 = 0.75;

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Chars that join words into a path or dotted name (kept whole).
fn is_path_joiner(c: char) -> bool {
    matches!(c, '/' | '.' | ':' | '\\')
}

fn is_joiner(c: char) -> bool {
    is_path_joiner(c) || c == '-'
}

/// Collects terms, enforcing the per-text bounds.
struct Terms {
    out: Vec<String>,
}

impl Terms {
    fn full(&self) -> bool {
        self.out.len() >= MAX_TERMS_PER_DOC
    }

    /// Lowercases, truncates, optionally stems and keeps `raw` if long enough.
    fn push(&mut self, raw: &str, stem: bool) {
        if self.full() {
            return;
        }
        let mut term: String = match raw.get(..MAX_TERM_CHARS.min(raw.len())) {
            Some(ascii) if ascii.is_ascii() => ascii.to_ascii_lowercase(),
            _ => raw
                .chars()
                .flat_map(char::to_lowercase)
                .take(MAX_TERM_CHARS)
                .collect(),
        };
        if stem {
            term = stem_plural(term);
        }
        let mut chars = term.chars();
        let keep = match (chars.next(), chars.next()) {
            (None, _) => false,
            (Some(c), None) => c.is_numeric(),
            _ => true,
        };
        if keep {
            self.out.push(term);
        }
    }

    /// A run of word and joiner chars: `src/api/auth.py`, `a::b`, `kebab-case`.
    fn push_chunk(&mut self, chunk: &str) {
        let chunk = chunk.trim_matches(is_joiner);
        if chunk.contains(is_path_joiner) {
            self.push(chunk, false);
            let file = chunk
                .rfind(['/', '\\'])
                .and_then(|at| chunk.get(at + 1..))
                .filter(|file| file.contains(is_path_joiner));
            if let Some(file) = file {
                self.push(file, false);
            }
        }
        for word in chunk.split(|c| !is_word_char(c)) {
            if self.full() {
                return;
            }
            self.push_word(word);
        }
    }

    /// A run of word chars, split into identifier parts.
    fn push_word(&mut self, word: &str) {
        let mut parts = Vec::new();
        for segment in word.split('_') {
            split_case(segment, &mut parts);
        }
        match parts.as_slice() {
            [] => {}
            [only] if *only == word => self.push(word, true),
            _ => {
                self.push(word, false);
                for part in parts {
                    if self.full() {
                        return;
                    }
                    self.push(part, true);
                }
            }
        }
    }
}

/// Splits one `_`-free segment at lower→Upper, acronym→Word and letter↔digit.
fn split_case<'a>(segment: &'a str, parts: &mut Vec<&'a str>) {
    let mut start = 0;
    let mut prev: Option<char> = None;
    let mut chars = segment.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        if let Some(p) = prev {
            let next_lower = chars.peek().is_some_and(|&(_, n)| n.is_lowercase());
            let boundary = (p.is_lowercase() && c.is_uppercase())
                || (p.is_uppercase() && c.is_uppercase() && next_lower)
                || (p.is_numeric() != c.is_numeric());
            if boundary {
                parts.extend(segment.get(start..at));
                start = at;
            }
        }
        prev = Some(c);
    }
    parts.extend(segment.get(start..).filter(|rest| !rest.is_empty()));
}

/// Very light English plural stemming on ASCII-letter words of 4+ letters.
fn stem_plural(term: String) -> String {
    if term.len() < 4 || !term.bytes().all(|b| b.is_ascii_lowercase()) {
        return term;
    }
    if let Some(base) = term.strip_suffix("ies").filter(|base| base.len() >= 2) {
        return format!("{base}y");
    }
    if let Some(base) = term
        .strip_suffix("sses")
        .or_else(|| term.strip_suffix("xes"))
    {
        let tail = if term.ends_with("xes") { "x" } else { "ss" };
        return format!("{base}{tail}");
    }
    if term.ends_with('s') && !["ss", "us", "is"].iter().any(|end| term.ends_with(end)) {
        let mut term = term;
        term.pop();
        return term;
    }
    term
}

/// Splits text into lowercase search terms.
///
/// See the module documentation for the rules; the result keeps duplicates (they
/// are term frequencies) and is at most [`MAX_TERMS_PER_DOC`] long.
pub fn tokenize(text: &str) -> Vec<String> {
    let mut terms = Terms { out: Vec::new() };
    let mut start: Option<usize> = None;
    for (at, c) in text.char_indices() {
        if is_word_char(c) || is_joiner(c) {
            start.get_or_insert(at);
        } else if let Some(from) = start.take() {
            terms.push_chunk(text.get(from..at).unwrap_or_default());
            if terms.full() {
                break;
            }
        }
    }
    if let Some(from) = start {
        terms.push_chunk(text.get(from..).unwrap_or_default());
    }
    terms.out
}

/// Hashes caller doc numbers (not attacker-chosen) quickly and deterministically.
#[derive(Debug, Default, Clone, Copy)]
struct DocHasher(u64);

impl Hasher for DocHasher {
    fn finish(&self) -> u64 {
        // splitmix64 finaliser: spreads strided numbers over the low bits.
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(byte);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = self.0.rotate_left(32) ^ n;
    }
}

type DocMap<V> = HashMap<u64, V, BuildHasherDefault<DocHasher>>;

/// One document's entry in a term's postings list.
#[derive(Debug, Clone, Copy)]
struct Posting {
    doc: u64,
    /// Occurrences of the term in the document.
    tf: u32,
    /// Length of the document (kept here so scoring needs no lookup).
    len: u32,
}

/// A term and the documents containing it, sorted by doc number.
#[derive(Debug, Default, Clone)]
struct Slot {
    term: Arc<str>,
    postings: Vec<Posting>,
}

/// What the index remembers about one document, for removal.
#[derive(Debug, Default, Clone)]
struct DocEntry {
    /// Number of terms (with repeats).
    len: u32,
    /// Slots of its distinct terms.
    slots: Vec<u32>,
}

/// A BM25 inverted index over documents numbered by the caller (numbers are
/// assigned in creation order, so a lower number is older).
#[derive(Debug, Default, Clone)]
pub struct Index {
    /// term → slot number.
    dict: HashMap<Arc<str>, u32>,
    /// Postings per slot; empty slots are listed in `free` for reuse.
    slots: Vec<Slot>,
    free: Vec<u32>,
    docs: DocMap<DocEntry>,
    /// Sum of all document lengths.
    total_len: u64,
}

impl Index {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// Indexes (or re-indexes, replacing) document `doc` with `text`.
    pub fn insert(&mut self, doc: u64, text: &str) {
        self.remove(doc);
        let mut terms = tokenize(text);
        let len = u32::try_from(terms.len()).unwrap_or(u32::MAX);
        terms.sort_unstable();
        let mut entry = DocEntry {
            len,
            slots: Vec::new(),
        };
        let mut rest = terms.as_slice();
        while let Some(term) = rest.first() {
            let run = rest.iter().take_while(|t| *t == term).count();
            let tf = u32::try_from(run).unwrap_or(u32::MAX);
            let slot = self.slot_for(term);
            if let Some(slot) = self.slots.get_mut(slot as usize) {
                let posting = Posting { doc, tf, len };
                match slot.postings.last() {
                    Some(last) if last.doc > doc => {
                        let at = slot.postings.partition_point(|p| p.doc < doc);
                        slot.postings.insert(at, posting);
                    }
                    _ => slot.postings.push(posting),
                }
            }
            entry.slots.push(slot);
            rest = rest.get(run..).unwrap_or_default();
        }
        self.total_len = self.total_len.saturating_add(u64::from(len));
        self.docs.insert(doc, entry);
    }

    /// The slot of `term`, creating it if needed.
    fn slot_for(&mut self, term: &str) -> u32 {
        if let Some(&slot) = self.dict.get(term) {
            return slot;
        }
        let term: Arc<str> = Arc::from(term);
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                self.slots.push(Slot::default());
                u32::try_from(self.slots.len() - 1).unwrap_or(u32::MAX)
            }
        };
        if let Some(entry) = self.slots.get_mut(slot as usize) {
            entry.term = Arc::clone(&term);
        }
        self.dict.insert(term, slot);
        slot
    }

    /// Removes a document; unknown numbers are ignored.
    pub fn remove(&mut self, doc: u64) {
        let Some(entry) = self.docs.remove(&doc) else {
            return;
        };
        self.total_len = self.total_len.saturating_sub(u64::from(entry.len));
        for slot in entry.slots {
            let Some(entry) = self.slots.get_mut(slot as usize) else {
                continue;
            };
            if let Ok(at) = entry.postings.binary_search_by_key(&doc, |p| p.doc) {
                entry.postings.remove(at);
            }
            if entry.postings.is_empty() {
                self.dict.remove(&*std::mem::take(&mut entry.term));
                entry.postings = Vec::new();
                self.free.push(slot);
            }
        }
    }

    /// Number of indexed documents (including ones whose text had no terms).
    pub fn len(&self) -> usize {
        self.docs.len()
    }

    /// Whether no document is indexed.
    pub fn is_empty(&self) -> bool {
        self.docs.is_empty()
    }

    /// The best `limit` documents for `query` among those `allowed` accepts, best
    /// first; ties broken by the lower doc number. Documents `allowed` rejects are
    /// excluded before scoring: document frequencies used for idf count only
    /// allowed documents that contain the term (so what a caller cannot read never
    /// shapes its ranking); N and average length are over the whole index. A query
    /// with no terms, or limit 0, returns nothing. Scores are > 0.
    ///
    /// Only the postings of the query's (deduplicated) terms are visited, and
    /// `allowed` is called at most once per document found there.
    pub fn search(
        &self,
        query: &str,
        limit: usize,
        allowed: impl Fn(u64) -> bool,
    ) -> Vec<(u64, f64)> {
        if limit == 0 || self.docs.is_empty() {
            return Vec::new();
        }
        // Sorted and deduplicated: a fixed summation order per document.
        let terms: BTreeSet<String> = tokenize(query).into_iter().collect();
        let n = self.docs.len() as f64;
        let avg_len = self.total_len as f64 / n;
        let avg_len = if avg_len > 0.0 { avg_len } else { 1.0 };
        // Every document met, with its verdict and score so far.
        let mut seen: DocMap<usize> = DocMap::default();
        let mut candidates: Vec<(u64, bool, f64)> = Vec::new();
        let mut hits: Vec<(usize, Posting)> = Vec::new();
        for term in &terms {
            let Some(slot) = self
                .dict
                .get(term.as_str())
                .and_then(|&s| self.slots.get(s as usize))
            else {
                continue;
            };
            hits.clear();
            for posting in &slot.postings {
                let at = *seen.entry(posting.doc).or_insert_with(|| {
                    candidates.push((posting.doc, allowed(posting.doc), 0.0));
                    candidates.len() - 1
                });
                if candidates.get(at).is_some_and(|c| c.1) {
                    hits.push((at, *posting));
                }
            }
            let df = hits.len() as f64;
            let idf = (1.0 + (n.max(df) - df + 0.5) / (df + 0.5)).ln();
            for (at, posting) in &hits {
                let tf = f64::from(posting.tf);
                let norm = K1 * (1.0 - B + B * f64::from(posting.len) / avg_len);
                if let Some(candidate) = candidates.get_mut(*at) {
                    candidate.2 += idf * tf * (K1 + 1.0) / (tf + norm);
                }
            }
        }
        let mut ranked: Vec<(u64, f64)> = candidates
            .into_iter()
            .filter(|&(_, ok, score)| ok && score > 0.0 && score.is_finite())
            .map(|(doc, _, score)| (doc, score))
            .collect();
        let order = |a: &(u64, f64), b: &(u64, f64)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
        if ranked.len() > limit {
            ranked.select_nth_unstable_by(limit - 1, order);
            ranked.truncate(limit);
        }
        ranked.sort_unstable_by(order);
        ranked
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Asserts the terms of `text`, space-separated.
    fn check(text: &str, expected: &str) {
        assert_eq!(tokenize(text).join(" "), expected, "tokenizing {text:?}");
    }

    fn index(texts: &[(u64, &str)]) -> Index {
        let mut index = Index::new();
        for &(doc, text) in texts {
            index.insert(doc, text);
        }
        index
    }

    fn ranked(index: &Index, query: &str, allowed: impl Fn(u64) -> bool) -> Vec<u64> {
        let results = index.search(query, 10, allowed);
        assert!(results.iter().all(|&(_, score)| score > 0.0));
        results.iter().map(|&(doc, _)| doc).collect()
    }

    #[test]
    fn prose_is_lowercased_and_split_on_punctuation() {
        check(
            "Hello, World! (ok)\tfine\u{7}now",
            "hello world ok fine now",
        );
    }

    #[test]
    fn unicode_letters_and_digits_are_kept() {
        check("Café über 日本 ٣", "café über 日本 ٣");
    }

    #[test]
    fn single_letters_are_dropped_but_single_digits_kept() {
        check("a b 7 x __ é", "7");
    }

    #[test]
    fn camel_case_identifier_matches_its_words() {
        check("getUserById", "getuserbyid get user by id");
        check("PascalCase", "pascalcase pascal case");
    }

    #[test]
    fn acronym_runs_split_before_the_next_word() {
        check(
            "HTTPServer parseJSON",
            "httpserver http server parsejson parse json",
        );
    }

    #[test]
    fn snake_case_gives_whole_and_parts() {
        check(
            "user_id MAX_RETRY __init__",
            "user_id user id max_retry max retry __init__ init",
        );
    }

    #[test]
    fn kebab_case_only_splits() {
        check("kebab-case --flag", "kebab case flag");
    }

    #[test]
    fn digits_split_from_letters_in_identifiers() {
        check("oauth2Client", "oauth2client oauth 2 client");
    }

    #[test]
    fn paths_give_whole_path_file_name_and_segments() {
        check(
            "see src/api/auth.py.",
            "see src/api/auth.py auth.py src api auth py",
        );
    }

    #[test]
    fn rust_paths_give_segments_and_identifier_parts() {
        let expected = "std::collections::hashmap std collection hashmap hash map";
        check("std::collections::HashMap", expected);
    }

    #[test]
    fn plural_stemming_is_light_and_spares_whole_identifiers() {
        check(
            "tokens token queries indexes classes",
            "token token query index class",
        );
        check("status bus analysis", "status bus analysis");
        check(
            "getUsers user_tokens",
            "getusers get user user_tokens user token",
        );
    }

    #[test]
    fn long_tokens_are_truncated_at_a_char_boundary() {
        let got = tokenize(&"é".repeat(100));
        assert_eq!(got, ["é".repeat(MAX_TERM_CHARS)]);
    }

    #[test]
    fn term_count_is_capped() {
        let text = "ab ".repeat(MAX_TERMS_PER_DOC + 10);
        assert_eq!(tokenize(&text).len(), MAX_TERMS_PER_DOC);
    }

    #[test]
    fn more_occurrences_in_a_shorter_doc_rank_higher() {
        let long = "cache eviction notes about many other unrelated topics and words";
        let index = index(&[(1, long), (2, "cache cache cache eviction"), (3, "no")]);
        assert_eq!(ranked(&index, "cache", |_| true), [2, 1]);
    }

    #[test]
    fn identifier_query_ranks_the_exact_identifier_first() {
        let index = index(&[(1, "we get user by id"), (2, "call getUserById() here")]);
        assert_eq!(ranked(&index, "getUserById", |_| true), [2, 1]);
    }

    #[test]
    fn path_queries_rank_the_exact_file_first() {
        let index = index(&[
            (1, "src/api/auth_test.py covers login"),
            (2, "the bug was in src/api/auth.py line 10"),
            (3, "auth docs for the py client"),
        ]);
        assert_eq!(ranked(&index, "src/api/auth.py", |_| true), [2, 1, 3]);
        assert_eq!(ranked(&index, "auth.py", |_| true).first(), Some(&2));
    }

    #[test]
    fn excluded_docs_never_appear_and_do_not_count_for_idf() {
        let index = index(&[(1, "alpha beta"), (2, "alpha alpha"), (3, "alpha gamma")]);
        assert_eq!(ranked(&index, "alpha", |_| true), [2, 1, 3]);
        assert_eq!(ranked(&index, "alpha", |doc| doc != 2), [1, 3]);
        let all = index.search("alpha", 10, |_| true);
        let only_one = index.search("alpha", 10, |doc| doc == 1);
        // df = 1 (only doc 1 is allowed) while N = 3 and average length 2 are the
        // whole index's; doc 1 has the average length, so the tf part is 1.
        let idf = (1.0f64 + (3.0 - 1.0 + 0.5) / (1.0 + 0.5)).ln();
        let expected = idf * (K1 + 1.0) / (1.0 + K1);
        assert_eq!(only_one, [(1, expected)]);
        assert!(all.iter().any(|&(doc, score)| doc == 1 && score < expected));
    }

    #[test]
    fn reinserting_replaces_the_old_text() {
        let mut index = index(&[(1, "old words"), (2, "other")]);
        index.insert(1, "fresh content");
        assert_eq!((index.len(), index.total_len), (2, 3));
        assert!(index.search("old", 10, |_| true).is_empty());
        assert_eq!(ranked(&index, "fresh", |_| true), [1]);
    }

    #[test]
    fn removing_forgets_the_document() {
        let mut index = index(&[(1, "shared alpha"), (2, "shared beta")]);
        index.remove(1);
        index.remove(99);
        assert_eq!(index.len(), 1);
        assert_eq!(ranked(&index, "shared alpha", |_| true), [2]);
        assert!(!index.dict.contains_key("alpha"));
        index.remove(2);
        assert!(index.is_empty() && index.dict.is_empty() && index.total_len == 0);
        index.insert(3, "beta again");
        assert_eq!(ranked(&index, "beta", |_| true), [3]);
    }

    #[test]
    fn ties_go_to_the_lower_doc_number() {
        let index = index(&[(7, "same text"), (3, "same text"), (5, "same text")]);
        let top: Vec<u64> = index
            .search("same", 2, |_| true)
            .iter()
            .map(|r| r.0)
            .collect();
        assert_eq!(top, [3, 5]);
    }

    #[test]
    fn same_inserts_give_bit_identical_results() {
        let build = || {
            let mut index = Index::new();
            for doc in (0..300u64).rev() {
                let text = format!("w{} w{} topic{} text", doc % 7, doc % 13, doc % 5);
                index.insert(doc, &text);
            }
            index.remove(42);
            index.insert(7, "replaced w3 text");
            index
        };
        let bits = |index: &Index, query: &str| -> Vec<(u64, u64)> {
            let results = index.search(query, 50, |doc| doc % 3 != 0);
            results.iter().map(|&(d, s)| (d, s.to_bits())).collect()
        };
        let (a, b) = (build(), build());
        for query in ["text w3 topic2", "w5", "replaced"] {
            assert_eq!(bits(&a, query), bits(&b, query));
        }
        assert_eq!(bits(&a, "text w3 topic2"), bits(&a, "topic2 text w3 w3"));
    }

    #[test]
    fn empty_query_or_zero_limit_returns_nothing() {
        let index = index(&[(1, "something")]);
        assert!(index.search("", 10, |_| true).is_empty());
        assert!(index.search("?! a", 10, |_| true).is_empty());
        assert!(index.search("something", 0, |_| true).is_empty());
        assert!(Index::new().search("something", 10, |_| true).is_empty());
    }

    #[test]
    fn hostile_input_does_not_panic() {
        let mib = 1 << 20;
        let inputs = [
            "a".repeat(mib),
            "aB".repeat(mib / 2),
            "a.".repeat(mib / 2),
            "/".repeat(mib),
            "ab ".repeat(150_000),
            "😀🔥\u{0}\u{7}\u{1b}[31m\t\r\n\u{202e}é\u{301}İ\u{ffff}".repeat(1000),
        ];
        let mut index = Index::new();
        for (doc, text) in (0u64..).zip(&inputs) {
            index.insert(doc, text);
            assert!(
                index
                    .docs
                    .get(&doc)
                    .is_some_and(|d| d.len as usize <= MAX_TERMS_PER_DOC)
            );
        }
        for query in [inputs[5].as_str(), "ab", "a.a", "😀"] {
            let _ = index.search(query, usize::MAX, |_| true);
        }
        assert_eq!(index.len(), inputs.len());
        assert_eq!(ranked(&index, "ab", |_| true), [4]);
        assert_eq!(ranked(&index, "ba", |_| true), [1]);
    }

    #[test]
    fn fifty_thousand_docs_search_via_postings() {
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            seed >> 33
        };
        let mut index = Index::new();
        let started = std::time::Instant::now();
        for doc in 0..50_000u64 {
            let words: Vec<String> = (0..20).map(|_| format!("w{}", next() % 20_000)).collect();
            index.insert(doc, &format!("{} commonTerm", words.join(" ")));
        }
        let indexed = started.elapsed();
        let started = std::time::Instant::now();
        let rare = index.search("w17 w4242", 10, |_| true);
        let rare_time = started.elapsed();
        let started = std::time::Instant::now();
        let common = index.search("common term w17", 10, |doc| doc % 2 == 0);
        let common_time = started.elapsed();
        println!("50k docs: index {indexed:?}, rare query {rare_time:?}, common {common_time:?}");
        assert!(index.len() == 50_000 && !rare.is_empty() && rare.len() <= 10);
        assert!(common.len() == 10 && common.iter().all(|&(doc, _)| doc % 2 == 0));
    }
}
