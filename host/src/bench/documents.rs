//! Seeded knowledge documents for the knowledge-search figures: code, decisions and
//! incidents in turn, worded from the same Zipf vocabulary as the memories.

use super::corpus::{IDENTIFIERS, Rng, VOCABULARY, Zipf, identifier, word};
use maas_core::model::DocumentKind;
use maas_core::state::Document;

/// Knowledge document `i` of a seeded corpus: code, decisions and incidents in turn,
/// 30–120 Zipf words with an identifier.
pub fn document(seed: u64, i: usize, words: &Zipf, idents: &Zipf) -> Document {
    let mut rng = Rng::new(seed ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let n = 30 + rng.below(91);
    let mut text = String::with_capacity(n * 7);
    for j in 0..n {
        if j > 0 {
            text.push(' ');
        }
        text.push_str(&word(words.sample(&mut rng)));
    }
    text.push(' ');
    text.push_str(&identifier(idents.sample(&mut rng)));
    let title = format!(
        "{} {} {}",
        word(words.sample(&mut rng)),
        word(words.sample(&mut rng)),
        word(words.sample(&mut rng))
    );
    let service = Some(format!("service-{}", rng.below(20)));
    let (kind, path, topic, severity) = match i % 3 {
        0 => (
            DocumentKind::Code,
            Some(format!(
                "src/{}/{}.rs",
                word(rng.below(500)),
                word(rng.below(5000))
            )),
            None,
            None,
        ),
        1 => (
            DocumentKind::Decision,
            None,
            Some(format!("topic-{}", rng.below(10))),
            None,
        ),
        _ => (
            DocumentKind::Incident,
            None,
            None,
            ["low", "medium", "high", "critical"]
                .get(rng.below(4))
                .map(|s| s.to_string()),
        ),
    };
    Document {
        kind,
        id: format!("doc-{i:06}"),
        title,
        content: text,
        service: if kind == DocumentKind::Decision {
            None
        } else {
            service
        },
        path,
        topic,
        severity,
        lines: None,
    }
}

/// `count` seeded knowledge documents.
pub fn documents(seed: u64, count: usize) -> Vec<Document> {
    let words = Zipf::new(VOCABULARY);
    let idents = Zipf::new(IDENTIFIERS);
    (0..count)
        .map(|i| document(seed, i, &words, &idents))
        .collect()
}
