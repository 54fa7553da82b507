//! Index tests: behaviour on small corpora, bounds, and the pruned top-k checked
//! against an exhaustive scorer on a large seeded corpus.

// A panic is how a test fails.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use super::*;
use std::collections::BTreeMap;

fn index(texts: &[(u64, &str)]) -> Index {
    let mut index = Index::new();
    for &(doc, text) in texts {
        index.insert(doc, text).unwrap();
    }
    index
}

/// Searches among the documents `keep` accepts.
fn find(index: &Index, query: &str, limit: usize, keep: impl Fn(u64) -> bool) -> Vec<(u64, f64)> {
    index.search(query, limit, &index.filter(keep))
}

fn ranked(index: &Index, query: &str, keep: impl Fn(u64) -> bool) -> Vec<u64> {
    let results = find(index, query, 10, keep);
    assert!(results.iter().all(|&(_, score)| score > 0.0));
    results.iter().map(|&(doc, _)| doc).collect()
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
fn text_without_spaces_or_with_accents_is_found_by_its_words() {
    let index = index(&[
        (1, "数据库迁移已经完成，索引重建中"),
        (2, "迁移计划见周报"),
        (3, "The café's naïve résumé parser"),
        (4, "プロジェクトのデータベース設計"),
    ]);
    // A word inside a sentence written without spaces.
    assert_eq!(ranked(&index, "数据库", |_| true), [1]);
    assert_eq!(ranked(&index, "索引", |_| true), [1]);
    // Both documents hold `迁移`; the one holding the whole query ranks first.
    assert_eq!(ranked(&index, "数据库迁移", |_| true), [1, 2]);
    assert_eq!(ranked(&index, "データベース", |_| true), [4]);
    // Accents typed or left out find the same words.
    assert_eq!(ranked(&index, "cafe naive resume", |_| true), [3]);
    assert_eq!(ranked(&index, "Résumé", |_| true), [3]);
}

#[test]
fn excluded_docs_never_appear_and_do_not_count_for_idf() {
    let index = index(&[(1, "alpha beta"), (2, "alpha alpha"), (3, "alpha gamma")]);
    assert_eq!(ranked(&index, "alpha", |_| true), [2, 1, 3]);
    assert_eq!(ranked(&index, "alpha", |doc| doc != 2), [1, 3]);
    let all = find(&index, "alpha", 10, |_| true);
    let only_one = find(&index, "alpha", 10, |doc| doc == 1);
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
    index.remove(1, "old words").unwrap();
    index.insert(1, "fresh content").unwrap();
    assert_eq!((index.len(), index.total_len), (2, 3));
    assert!(find(&index, "old", 10, |_| true).is_empty());
    assert_eq!(ranked(&index, "fresh", |_| true), [1]);
}

#[test]
fn removing_forgets_the_document() {
    let mut index = index(&[(1, "shared alpha"), (2, "shared beta")]);
    index.remove(1, "shared alpha").unwrap();
    assert_eq!(index.remove(99, "x"), Err(IndexError::NotIndexed(99)));
    assert_eq!(index.len(), 1);
    assert_eq!(ranked(&index, "shared alpha", |_| true), [2]);
    assert!(!index.dict.contains_key("alpha"));
    index.remove(2, "shared beta").unwrap();
    assert!(index.is_empty() && index.dict.is_empty() && index.total_len == 0);
    index.insert(3, "beta again").unwrap();
    assert_eq!(ranked(&index, "beta", |_| true), [3]);
}

#[test]
fn ties_go_to_the_lower_doc_number() {
    let index = index(&[(7, "same text"), (3, "same text"), (5, "same text")]);
    let top: Vec<u64> = find(&index, "same", 2, |_| true)
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
            index.insert(doc, &text).unwrap();
        }
        index.remove(42, "w0 w3 topic2 text").unwrap();
        index.remove(7, "w0 w7 topic2 text").unwrap();
        index.insert(7, "replaced w3 text").unwrap();
        index
    };
    let bits = |index: &Index, query: &str| -> Vec<(u64, u64)> {
        let results = find(index, query, 50, |doc| doc % 3 != 0);
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
    assert!(find(&index, "", 10, |_| true).is_empty());
    assert!(find(&index, "?! a", 10, |_| true).is_empty());
    assert!(find(&index, "something", 0, |_| true).is_empty());
    assert!(find(&Index::new(), "something", 10, |_| true).is_empty());
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
        index.insert(doc, text).unwrap();
        assert!(index.lens.get(u32::try_from(doc).unwrap()) as usize <= MAX_TERMS_PER_DOC);
    }
    for query in [inputs[5].as_str(), "ab", "a.a", "😀"] {
        let _ = find(&index, query, usize::MAX, |_| true);
    }
    assert_eq!(index.len(), inputs.len());
    assert_eq!(ranked(&index, "ab", |_| true), [4]);
    assert_eq!(ranked(&index, "ba", |_| true), [1]);
}

#[test]
fn doc_numbers_above_u32_are_refused_and_the_top_one_works() {
    let mut index = Index::new();
    let too_big = u64::from(u32::MAX) + 1;
    assert_eq!(
        index.insert(too_big, "alpha"),
        Err(IndexError::DocOutOfRange(too_big))
    );
    assert_eq!(
        index.remove(u64::MAX, "alpha"),
        Err(IndexError::DocOutOfRange(u64::MAX))
    );
    assert!(index.is_empty() && index.dict.is_empty());
    let top = u64::from(u32::MAX);
    index.insert(top, "alpha beta").unwrap();
    index.insert(0, "alpha").unwrap();
    assert_eq!(ranked(&index, "alpha beta", |_| true), [top, 0]);
    index.remove(top, "alpha beta").unwrap();
    assert_eq!(ranked(&index, "alpha", |_| true), [0]);
}

#[test]
fn inserting_twice_is_refused_and_changes_nothing() {
    let mut index = index(&[(1, "alpha beta")]);
    assert_eq!(index.insert(1, "gamma"), Err(IndexError::AlreadyIndexed(1)));
    assert_eq!((index.len(), index.total_len), (1, 2));
    assert!(find(&index, "gamma", 10, |_| true).is_empty());
    assert_eq!(ranked(&index, "beta", |_| true), [1]);
}

#[test]
fn removing_under_another_text_is_refused_and_changes_nothing() {
    let mut index = index(&[(1, "alpha beta beta"), (2, "beta")]);
    for wrong in [
        "alpha beta",
        "alpha beta gamma",
        "alpha alpha beta",
        "",
        "x y z",
    ] {
        assert_eq!(
            index.remove(1, wrong),
            Err(IndexError::TextMismatch(1)),
            "{wrong:?}"
        );
    }
    assert_eq!(ranked(&index, "alpha beta", |_| true), [1, 2]);
    // Same terms in another order and other separators are the same text.
    index.remove(1, "Beta, alpha; betas").unwrap();
    assert_eq!(ranked(&index, "alpha beta", |_| true), [2]);
    assert!(!index.dict.contains_key("alpha"));
}

#[test]
fn frequencies_beyond_a_byte_are_exact() {
    let heavy = "spam ".repeat(300);
    let mut index = index(&[(1, heavy.as_str()), (2, "spam eggs")]);
    let results = find(&index, "spam", 10, |_| true);
    let avg_len = 302.0 / 2.0;
    let idf = (1.0f64 + (2.0 - 2.0 + 0.5) / (2.0 + 0.5)).ln();
    let norm = K1 * (1.0 - B + B * 300.0 / avg_len);
    let expected = idf * 300.0 * (K1 + 1.0) / (300.0 + norm);
    assert_eq!(results.first(), Some(&(1, expected)));
    index.remove(1, &heavy).unwrap();
    assert_eq!(ranked(&index, "spam", |_| true), [2]);
}

#[test]
fn empty_allowed_set_finds_nothing() {
    let index = index(&[(1, "alpha"), (2, "alpha beta")]);
    assert!(index.search("alpha", 10, &RoaringBitmap::new()).is_empty());
    // Allowed numbers that are not indexed are harmless.
    let mut other = RoaringBitmap::new();
    other.insert_range(100..200);
    assert!(index.search("alpha", 10, &other).is_empty());
}

/// splitmix64: a seeded, portable random source.
pub(super) struct Rng(pub(super) u64);

impl Rng {
    pub(super) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub(super) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Word ranks drawn from a Zipf(1) law over `words` words.
pub(super) struct Zipf(Vec<f64>);

impl Zipf {
    pub(super) fn new(words: usize) -> Self {
        let mut sum = 0.0;
        let cumulative = (1..=words)
            .map(|rank| {
                sum += 1.0 / rank as f64;
                sum
            })
            .collect::<Vec<_>>();
        Zipf(cumulative.iter().map(|c| c / sum).collect())
    }

    pub(super) fn draw(&self, rng: &mut Rng) -> usize {
        let u = (rng.next() >> 11) as f64 / (1u64 << 53) as f64;
        self.0.partition_point(|&c| c < u).min(self.0.len() - 1)
    }
}

pub(super) const IDENTIFIERS: [&str; 8] = [
    "getUserById",
    "parseConfigFile",
    "HTTPServer",
    "retry_with_backoff",
    "src/api/auth.py",
    "lib/core/cache.rs",
    "std::collections::HashMap",
    "oauth2Client",
];

pub(super) fn word(rank: usize) -> String {
    format!("w{rank}")
}

pub(super) fn random_text(rng: &mut Rng, zipf: &Zipf) -> String {
    let len = 6 + rng.below(25);
    let mut words: Vec<String> = (0..len).map(|_| word(zipf.draw(rng))).collect();
    if rng.below(10) < 3 {
        let id = IDENTIFIERS[rng.below(IDENTIFIERS.len())];
        let at = rng.below(words.len());
        words[at] = format!("{id}{}", if rng.below(2) == 0 { "" } else { "2" });
    }
    if rng.below(2000) == 0 {
        words.push("w1 ".repeat(260 + rng.below(100)));
    }
    words.join(" ")
}

/// The corpus as the exhaustive scorer sees it: per term, every document holding
/// it as `(dense position, tf, length)`, plus each position's doc number.
pub(super) struct Oracle {
    pub(super) numbers: Vec<u64>,
    postings: HashMap<String, Vec<(usize, u32, u32)>>,
    total_len: u64,
}

impl Oracle {
    pub(super) fn new(texts: &BTreeMap<u64, String>) -> Self {
        let mut oracle = Oracle {
            numbers: Vec::new(),
            postings: HashMap::new(),
            total_len: 0,
        };
        // Words are separated by spaces, so a text's terms are its words' terms.
        let mut words: HashMap<&str, Vec<String>> = HashMap::new();
        for (at, (&doc, text)) in texts.iter().enumerate() {
            let mut terms = Vec::new();
            for word in text.split(' ') {
                terms.extend_from_slice(words.entry(word).or_insert_with(|| tokenize(word)));
            }
            let len = terms.len() as u32;
            oracle.numbers.push(doc);
            oracle.total_len += u64::from(len);
            for (term, tf) in runs(terms) {
                oracle.postings.entry(term).or_default().push((at, tf, len));
            }
        }
        oracle
    }

    /// Scores every allowed document holding a query term, with the BM25 formula
    /// written out again, and ranks them.
    pub(super) fn search(&self, query: &str, limit: usize, allowed: &[bool]) -> Vec<(u64, f64)> {
        let terms: BTreeSet<String> = tokenize(query).into_iter().collect();
        let n = self.numbers.len() as f64;
        let avg_len = self.total_len as f64 / n;
        let avg_len = if avg_len > 0.0 { avg_len } else { 1.0 };
        let mut scores = vec![0.0f64; self.numbers.len()];
        let mut touched = Vec::new();
        for term in &terms {
            let Some(postings) = self.postings.get(term) else {
                continue;
            };
            let df = postings.iter().filter(|p| allowed[p.0]).count() as f64;
            let idf = (1.0 + (n.max(df) - df + 0.5) / (df + 0.5)).ln();
            for &(at, tf, len) in postings.iter().filter(|p| allowed[p.0]) {
                let tf = f64::from(tf);
                let norm = K1 * (1.0 - B + B * f64::from(len) / avg_len);
                if scores[at] == 0.0 {
                    touched.push(at);
                }
                scores[at] += idf * tf * (K1 + 1.0) / (tf + norm);
            }
        }
        let mut ranked: Vec<(u64, f64)> = touched
            .into_iter()
            .map(|at| (self.numbers[at], scores[at]))
            .collect();
        let order = |a: &(u64, f64), b: &(u64, f64)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
        if ranked.len() > limit && limit > 0 {
            ranked.select_nth_unstable_by(limit - 1, order);
        }
        ranked.truncate(limit);
        ranked.sort_by(order);
        ranked
    }
}

/// Which documents a caller may read.
type Keep = Box<dyn Fn(u64) -> bool>;

#[test]
fn pruned_search_matches_exhaustive_scorer() {
    let mut rng = Rng(0x5eed);
    let zipf = Zipf::new(5_000);
    let mut index = Index::new();
    let mut texts: BTreeMap<u64, String> = BTreeMap::new();
    // Numbers with gaps, a few near the top of u32; 10% inserted late, out of
    // order (inserts in the middle of postings, block splits).
    let mut numbers: Vec<u64> = (0..50_000u64).map(|i| i * 3 + (i % 7)).collect();
    numbers.extend((0..20).map(|i| u64::from(u32::MAX) - i * 1000));
    let (late, early): (Vec<u64>, Vec<u64>) = numbers.iter().partition(|&&d| d % 10 == 3);
    let generated: Vec<String> = numbers
        .iter()
        .map(|_| random_text(&mut rng, &zipf))
        .collect();
    for (&doc, text) in early.iter().chain(late.iter().rev()).zip(generated) {
        index.insert(doc, &text).unwrap();
        texts.insert(doc, text);
    }
    // Removals, and re-inserts of some under new texts.
    for i in 0..3_000 {
        let doc = numbers[rng.below(numbers.len())];
        if let Some(text) = texts.remove(&doc) {
            index.remove(doc, &text).unwrap();
            if i % 2 == 0 {
                let text = random_text(&mut rng, &zipf);
                index.insert(doc, &text).unwrap();
                texts.insert(doc, text);
            }
        }
    }
    assert_eq!(index.len(), texts.len());
    let oracle = Oracle::new(&texts);
    let queries: Vec<String> = (0..500)
        .map(|i| match i % 8 {
            0 => word(rng.below(5)),
            1 => format!(
                "{} {}",
                word(zipf.draw(&mut rng)),
                word(zipf.draw(&mut rng))
            ),
            2 => IDENTIFIERS[rng.below(IDENTIFIERS.len())].to_string(),
            3 => word(100 + rng.below(400)),
            4 => word(3_000 + rng.below(2_000)),
            5 => format!(
                "{} {} {}",
                IDENTIFIERS[rng.below(IDENTIFIERS.len())],
                word(rng.below(20)),
                word(zipf.draw(&mut rng))
            ),
            6 => (0..2 + rng.below(6))
                .map(|_| word(zipf.draw(&mut rng)))
                .collect::<Vec<_>>()
                .join(" "),
            _ => format!("{} unknownword w1 w1", word(rng.below(50))),
        })
        .collect();
    let salt = rng.next();
    let sets: [(&str, Keep); 4] = [
        ("all", Box::new(|_| true)),
        ("half", Box::new(|d| d % 2 == 0)),
        (
            "five percent",
            Box::new(move |d| (d ^ salt).wrapping_mul(0x9e37_79b9) % 100 < 5),
        ),
        ("none", Box::new(|_| false)),
    ];
    let mut compared = 0usize;
    for (name, keep) in &sets {
        let allowed = if *name == "all" {
            index.docs().clone()
        } else {
            index.filter(keep)
        };
        let mask: Vec<bool> = oracle.numbers.iter().map(|&d| keep(d)).collect();
        for (q, query) in queries.iter().enumerate() {
            let limit = [1, 10, 10, 100][q % 4];
            let got = index.search(query, limit, &allowed);
            let want = oracle.search(query, limit, &mask);
            let bits =
                |r: &[(u64, f64)]| r.iter().map(|&(d, s)| (d, s.to_bits())).collect::<Vec<_>>();
            assert_eq!(
                bits(&got),
                bits(&want),
                "query {query:?}, allowed {name}, limit {limit}"
            );
            compared += got.len();
        }
    }
    assert!(compared > 10_000, "too few results compared: {compared}");
}

/// A search ranks by at most `MAX_QUERY_TERMS` terms, the rarest: 40 words each in one
/// document and a word in all of them find 32 documents, the common word left out
/// (the unbounded search walked every term's postings).
#[test]
fn a_search_ranks_by_its_rarest_terms_only() {
    let texts: Vec<(u64, String)> = (0..40u64)
        .map(|i| (i, format!("common w{i:02}x")))
        .collect();
    let refs: Vec<(u64, &str)> = texts.iter().map(|(d, t)| (*d, t.as_str())).collect();
    let index = index(&refs);
    let query: String = (0..40)
        .map(|i| format!("w{i:02}x "))
        .chain(std::iter::once("common".to_string()))
        .collect();
    let hits = find(&index, &query, 100, |_| true);
    assert_eq!(hits.len(), MAX_QUERY_TERMS, "{hits:?}");
    let docs: BTreeSet<u64> = hits.iter().map(|&(d, _)| d).collect();
    assert_eq!(docs, (0..32).collect::<BTreeSet<u64>>());
    // A query within the bound is ranked by all its terms.
    assert_eq!(find(&index, "common", 100, |_| true).len(), 40);
}
