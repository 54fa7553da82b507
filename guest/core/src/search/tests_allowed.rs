//! The pruned top-k against the exhaustive scorer under many allowed sets: random
//! subsets of every density, runs of consecutive documents (as sets built per
//! author or per pool tend to be), and sets that hold every document of a term or
//! none, with queries mixing terms walked through their readable subset and terms
//! too common for it.

// A panic is how a test fails.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use super::tests::{IDENTIFIERS, Oracle, Rng, Zipf, random_text, word};
use super::*;
use std::collections::BTreeMap;

/// A random allowed set of one of several shapes, as a mask over the corpus.
fn allowed_mask(rng: &mut Rng, numbers: &[u64], shape: usize) -> Vec<bool> {
    match shape % 4 {
        // A random subset of a random density (1% to 99%).
        0 => {
            let density = 1 + rng.below(99);
            numbers.iter().map(|_| rng.below(100) < density).collect()
        }
        // Runs of consecutive documents, in or out.
        1 => {
            let mut mask = Vec::with_capacity(numbers.len());
            let mut on = rng.below(2) == 0;
            while mask.len() < numbers.len() {
                let run = 1 + rng.below(3_000);
                mask.extend(std::iter::repeat_n(on, run));
                on = !on;
            }
            mask.truncate(numbers.len());
            mask
        }
        // Very sparse: a handful of documents.
        2 => numbers.iter().map(|_| rng.below(2_000) == 0).collect(),
        // Everything but a few.
        _ => numbers.iter().map(|_| rng.below(50) != 0).collect(),
    }
}

#[test]
fn pruned_search_matches_exhaustive_scorer_under_many_allowed_sets() {
    let mut rng = Rng(0xa110_7ed0);
    let zipf = Zipf::new(3_000);
    let mut texts: BTreeMap<u64, String> = BTreeMap::new();
    for i in 0..30_000u64 {
        texts.insert(i * 2 + (i % 5), random_text(&mut rng, &zipf));
    }
    let index = Index::build(texts.iter().map(|(&d, t)| (d, t.as_str())));
    let oracle = Oracle::new(&texts);
    let mut compared = 0usize;
    for round in 0..40 {
        let mask = allowed_mask(&mut rng, &oracle.numbers, round);
        let kept = oracle
            .numbers
            .iter()
            .zip(&mask)
            .filter(|&(_, &on)| on)
            .map(|(&d, _)| u32::try_from(d).unwrap());
        let allowed = RoaringBitmap::from_sorted_iter(kept).unwrap();
        for q in 0..25 {
            // Common words (walked by blocks), rarer ones (walked through their
            // readable subset), identifiers, and mixes of all.
            let query = match q % 5 {
                0 => word(rng.below(4)),
                1 => format!("{} {}", word(rng.below(4)), word(200 + rng.below(2_000))),
                2 => IDENTIFIERS[rng.below(IDENTIFIERS.len())].to_string(),
                3 => format!(
                    "{} {} {}",
                    IDENTIFIERS[rng.below(IDENTIFIERS.len())],
                    word(rng.below(30)),
                    word(zipf.draw(&mut rng))
                ),
                _ => (0..2 + rng.below(4))
                    .map(|_| word(zipf.draw(&mut rng)))
                    .collect::<Vec<_>>()
                    .join(" "),
            };
            let limit = [1, 3, 10, 50, 200][rng.below(5)];
            let got = index.search(&query, limit, &allowed);
            let want = oracle.search(&query, limit, &mask);
            let bits =
                |r: &[(u64, f64)]| r.iter().map(|&(d, s)| (d, s.to_bits())).collect::<Vec<_>>();
            assert_eq!(
                bits(&got),
                bits(&want),
                "query {query:?}, round {round}, limit {limit}"
            );
            compared += got.len();
        }
    }
    assert!(compared > 10_000, "too few results compared: {compared}");
}

#[test]
fn search_among_scores_as_an_index_of_the_allowed_documents_alone() {
    let mut rng = Rng(0x5ea7_c4a1);
    let zipf = Zipf::new(2_000);
    let mut texts: BTreeMap<u64, String> = BTreeMap::new();
    for i in 0..12_000u64 {
        // Some long texts, so lengths reach high bits.
        let mut text = random_text(&mut rng, &zipf);
        if rng.below(50) == 0 {
            text = (0..1 + rng.below(40))
                .map(|_| text.clone())
                .collect::<Vec<_>>()
                .join(" ");
        }
        texts.insert(i * 3 + (i % 2), text);
    }
    let mut index = Index::new();
    for (&d, t) in &texts {
        index.insert(d, t).unwrap();
    }
    // Removed and put back with other texts: the sliced lengths follow.
    let numbers: Vec<u64> = texts.keys().copied().collect();
    for &d in numbers.iter().step_by(7) {
        index.remove(d, &texts[&d]).unwrap();
        let text = random_text(&mut rng, &zipf);
        index.insert(d, &text).unwrap();
        texts.insert(d, text);
    }
    for &d in numbers.iter().step_by(11) {
        index.remove(d, &texts[&d]).unwrap();
        texts.remove(&d);
    }
    let removed = numbers[11];
    let numbers: Vec<u64> = texts.keys().copied().collect();
    let mut compared = 0usize;
    for round in 0..12 {
        let mask = allowed_mask(&mut rng, &numbers, round);
        let kept: BTreeMap<u64, &str> = numbers
            .iter()
            .zip(&mask)
            .filter(|&(_, &on)| on)
            .map(|(&d, _)| (d, texts[&d].as_str()))
            .collect();
        let mut allowed: RoaringBitmap = kept.keys().map(|&d| u32::try_from(d).unwrap()).collect();
        let alone = Index::build(kept.iter().map(|(&d, &t)| (d, t)));
        let want_len: u64 = kept.values().map(|t| tokenize(t).len() as u64).sum();
        // A number that was removed, or never indexed, counts for nothing.
        allowed.insert(5);
        allowed.insert(u32::try_from(removed).unwrap());
        let norms = index.norms_over(&allowed);
        assert_eq!(
            norms,
            Norms {
                docs: kept.len() as u64,
                total_len: want_len
            },
            "round {round}"
        );
        for q in 0..20 {
            let query = match q % 3 {
                0 => word(rng.below(4)),
                1 => format!("{} {}", word(rng.below(30)), word(zipf.draw(&mut rng))),
                _ => word(zipf.draw(&mut rng)),
            };
            let limit = [1, 10, 100][rng.below(3)];
            let got = index.search_among(&query, limit, &allowed);
            let normed = index.search_normed(&query, limit, &allowed, norms);
            let want = alone.search(&query, limit, alone.docs());
            let bits =
                |r: &[(u64, f64)]| r.iter().map(|&(d, s)| (d, s.to_bits())).collect::<Vec<_>>();
            assert_eq!(bits(&got), bits(&want), "query {query:?}, round {round}");
            assert_eq!(bits(&normed), bits(&want), "query {query:?}, round {round}");
            compared += got.len();
        }
    }
    assert!(compared > 1_000, "too few results compared: {compared}");
}

/// Whether a document with a term's given frequency may be read.
type ByTf = Box<dyn Fn(u64, usize) -> bool>;

#[test]
fn a_common_terms_unreadable_frequent_postings_are_passed_over_exactly() {
    // One word in every document, its frequency from 1 to 12, and allowed sets that
    // follow the frequency: the frequent postings a single-term window jumps to are
    // the ones the reader may not read, or the only ones it may.
    let mut rng = Rng(0x0c0f_fee5);
    let zipf = Zipf::new(500);
    let mut texts: BTreeMap<u64, String> = BTreeMap::new();
    let mut tf: BTreeMap<u64, usize> = BTreeMap::new();
    for i in 0..20_000u64 {
        let d = i * 2 + (i % 3);
        let f = 1 + rng.below(12);
        let mut words: Vec<String> = (0..f).map(|_| "common".to_string()).collect();
        words.extend((0..3 + rng.below(20)).map(|_| word(20 + zipf.draw(&mut rng))));
        texts.insert(d, words.join(" "));
        tf.insert(d, f);
    }
    let index = Index::build(texts.iter().map(|(&d, t)| (d, t.as_str())));
    let oracle = Oracle::new(&texts);
    let shapes: [(&str, ByTf); 6] = [
        ("low tf only", Box::new(|_, f| f <= 3)),
        (
            "high tf unreadable but one",
            Box::new(|d, f| f < 10 || d == 20_001),
        ),
        ("high tf only", Box::new(|_, f| f >= 11)),
        ("sparse high tf", Box::new(|d, f| f >= 9 && d % 97 == 0)),
        (
            "alternate",
            Box::new(|d, f| (d + f as u64).is_multiple_of(2)),
        ),
        ("late high tf", Box::new(|d, f| f <= 2 || d > 38_000)),
    ];
    let mut compared = 0usize;
    for (name, keep) in &shapes {
        let mask: Vec<bool> = oracle.numbers.iter().map(|&d| keep(d, tf[&d])).collect();
        let allowed: RoaringBitmap = oracle
            .numbers
            .iter()
            .zip(&mask)
            .filter(|&(_, &on)| on)
            .map(|(&d, _)| u32::try_from(d).unwrap())
            .collect();
        let alone = Index::build(
            texts
                .iter()
                .filter(|&(&d, _)| allowed.contains(u32::try_from(d).unwrap()))
                .map(|(&d, t)| (d, t.as_str())),
        );
        let norms = index.norms_over(&allowed);
        for limit in [1, 2, 5, 10, 37, 200] {
            for query in ["common", "common common", "common w20"] {
                let bits =
                    |r: &[(u64, f64)]| r.iter().map(|&(d, s)| (d, s.to_bits())).collect::<Vec<_>>();
                let got = index.search(query, limit, &allowed);
                let want = oracle.search(query, limit, &mask);
                assert_eq!(bits(&got), bits(&want), "{name}: {query:?}, limit {limit}");
                let normed = index.search_normed(query, limit, &allowed, norms);
                let among = alone.search(query, limit, alone.docs());
                assert_eq!(
                    bits(&normed),
                    bits(&among),
                    "{name}: {query:?}, limit {limit}"
                );
                compared += got.len();
            }
        }
    }
    assert!(compared > 1_000, "too few results compared: {compared}");
}
