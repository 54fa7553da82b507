//! [`Index::build`] against inserting one document at a time: the same postings,
//! the same answers, the same behaviour afterwards.

// A panic is how a test fails.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use super::*;

/// splitmix64: a seeded random source.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

const WORDS: [&str; 12] = [
    "cache",
    "token",
    "queries",
    "getUserById",
    "src/api/auth.py",
    "deploy",
    "rollback",
    "v2",
    "Café",
    "retry_limit",
    "HTTPServer",
    "7",
];

/// A word, mostly from a skewed draw over a vocabulary of a few hundred.
fn word(rng: &mut Rng) -> String {
    match rng.below(10) {
        0..=2 => WORDS[rng.below(WORDS.len() as u64) as usize].to_string(),
        _ => {
            let top = rng.below(400);
            let rank = rng.below(1 + top);
            format!("w{rank}x")
        }
    }
}

/// A seeded corpus: numbers with gaps, empty and punctuation-only texts, repeated
/// words and texts where one word occurs 255 times and more.
fn corpus(seed: u64, docs: usize) -> Vec<(u64, String)> {
    let mut rng = Rng(seed);
    let mut n = 0u64;
    (0..docs)
        .map(|_| {
            n += 1 + rng.below(4) * rng.below(3);
            let text = match rng.below(40) {
                0 => String::new(),
                1 => " ,;-- ".to_string(),
                2 => {
                    let w = word(&mut rng);
                    let times = 250 + rng.below(20) as usize;
                    format!("{} {}", vec![w.as_str(); times].join(" "), word(&mut rng))
                }
                _ => {
                    let len = 1 + rng.below(30);
                    let words: Vec<String> = (0..len).map(|_| word(&mut rng)).collect();
                    words.join(if rng.below(2) == 0 { " " } else { ", " })
                }
            };
            (n, text)
        })
        .collect()
}

fn incremental(docs: &[(u64, String)]) -> Index {
    let mut index = Index::new();
    for (n, text) in docs {
        index.insert(*n, text).unwrap();
    }
    index
}

/// The same terms with the same postings, blocks and bounds (slots may differ).
fn assert_same_structure(a: &Index, b: &Index) {
    assert_eq!(a.docs, b.docs);
    assert_eq!(a.total_len, b.total_len);
    assert_eq!(a.dict.len(), b.dict.len());
    for (term, &slot) in &a.dict {
        let other = b.dict[term];
        let (pa, pb) = (&a.slots[slot as usize], &b.slots[other as usize]);
        assert_eq!(format!("{pa:?}"), format!("{pb:?}"), "postings of {term}");
    }
    for n in a.docs.iter() {
        assert_eq!(a.lens.get(n), b.lens.get(n));
    }
}

fn queries(rng: &mut Rng) -> Vec<String> {
    let mut out: Vec<String> = WORDS.iter().map(|w| w.to_string()).collect();
    out.push("w0x w1x".into());
    out.push("nothing-here".into());
    for _ in 0..150 {
        let len = 1 + rng.below(4);
        let words: Vec<String> = (0..len).map(|_| word(rng)).collect();
        out.push(words.join(" "));
    }
    out
}

/// Every query answers alike (ids, scores to the bit, order) under several
/// allowed sets and limits.
fn assert_same_answers(a: &Index, b: &Index, seed: u64) {
    let mut rng = Rng(seed);
    let all = a.docs().clone();
    let allowed = [
        all.clone(),
        a.filter(|n| n % 2 == 0),
        a.filter(|n| n % 7 < 3),
        a.filter(|n| n < 1_000),
        RoaringBitmap::new(),
    ];
    for query in queries(&mut rng) {
        for set in &allowed {
            for limit in [1, 10, 200] {
                let (x, y) = (a.search(&query, limit, set), b.search(&query, limit, set));
                let bits = |hits: &[(u64, f64)]| -> Vec<(u64, u64)> {
                    hits.iter().map(|&(n, s)| (n, s.to_bits())).collect()
                };
                assert_eq!(bits(&x), bits(&y), "query {query:?}, limit {limit}");
            }
        }
    }
}

#[test]
fn bulk_build_is_the_incremental_index() {
    let docs = corpus(7, 3_000);
    let slow = incremental(&docs);
    let fast = Index::build(docs.iter().map(|(n, t)| (*n, t.as_str())));
    assert_eq!(fast.len(), docs.len());
    assert!(
        fast.slots
            .iter()
            .any(|s| matches!(s, Slot::Many(p) if !p.big.is_empty())),
        "tf >= 255 covered"
    );
    assert!(
        fast.slots
            .iter()
            .any(|s| matches!(s, Slot::Many(p) if p.blocks.len() > 2)),
        "several blocks"
    );
    assert_same_structure(&slow, &fast);
    assert_same_structure(&fast, &slow);
    assert_same_answers(&slow, &fast, 11);
}

#[test]
fn inserts_and_removes_after_a_bulk_build_behave_alike() {
    let docs = corpus(21, 2_500);
    let mut slow = incremental(&docs);
    let mut fast = Index::build(docs.clone());
    let mut rng = Rng(5);
    let last = docs.last().unwrap().0;
    let extra = corpus(99, 400);
    for (i, (_, text)) in extra.iter().enumerate() {
        // Removes (with the right text, then a wrong one), re-inserts in the
        // middle, appends past the end, and refused inserts.
        let (n, old) = &docs[rng.below(docs.len() as u64) as usize];
        let removed = (slow.remove(*n, old), fast.remove(*n, old));
        assert_eq!(removed.0, removed.1);
        assert_eq!(slow.remove(*n, "wrong text"), fast.remove(*n, "wrong text"));
        let at = if i % 3 == 0 { *n } else { last + 1 + i as u64 };
        assert_eq!(slow.insert(at, text), fast.insert(at, text));
        assert_eq!(slow.insert(at, text), fast.insert(at, text));
    }
    assert_eq!(slow.postings(), fast.postings());
    assert_same_answers(&slow, &fast, 12);
}

#[test]
fn out_of_order_repeated_and_out_of_range_numbers_are_handled_as_insert_does() {
    let docs = corpus(3, 600);
    let mut given: Vec<(u64, String)> = docs.clone();
    given.swap(10, 400);
    given.push(docs[5].clone());
    given.push((u64::from(u32::MAX) + 1, "too far".into()));
    let fast = Index::build(given);
    let slow = incremental(&docs);
    assert_eq!(fast.len(), docs.len());
    assert_same_answers(&slow, &fast, 13);
}

#[test]
fn an_empty_build_is_an_empty_index() {
    let index = Index::build(Vec::<(u64, &str)>::new());
    assert!(index.is_empty());
    assert_eq!(index.postings(), 0);
}

#[test]
fn the_term_cap_cuts_remembered_chunks_where_tokenizing_cuts_them() {
    let capped = |tail: &str| format!("{}{tail}", "ab ".repeat(MAX_TERMS_PER_DOC - 2));
    let docs: Vec<(u64, String)> = vec![
        (1, "getUserById src/api/auth.py".into()),
        (2, capped("getUserById")),
        (3, capped("src/api/auth.py more")),
        (4, capped("fresh_identifierName")),
        (5, "fresh_identifierName getUserById".into()),
    ];
    let slow = incremental(&docs);
    let fast = Index::build(docs.clone());
    assert_eq!(fast.lens.get(2), MAX_TERMS_PER_DOC as u32);
    assert_same_structure(&slow, &fast);
    assert_same_structure(&fast, &slow);
    assert_same_answers(&slow, &fast, 14);
}
