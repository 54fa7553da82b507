//! What the memory search index holds per term for texts of unique words (an id, a
//! hash or a made-up word in each place): the worst case of its size, since every
//! word is a term of its own. Counts the bytes allocated by wrapping the system
//! allocator.
//!
//! ```text
//! cargo run --release -p maas-core --example index_mem [-- DOCS WORDS]
//! ```
//!
//! (default 200 documents of 5,000 words of 11 characters, 12 MB of text).
#[path = "common/counting.rs"]
mod counting;
use counting::LIVE;
use std::sync::atomic::Ordering;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let docs: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let words: usize = std::env::args()
        .nth(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(5000);
    let mut x: u64 = 0x9e3779b97f4a7c15;
    let mut idx = maas_core::search::Index::new();
    let before = LIVE.load(Ordering::Relaxed);
    let mut text_bytes = 0;
    for d in 0..docs {
        let mut t = String::new();
        for _ in 0..words {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            t.push_str(&format!("w{:010x} ", x & 0xff_ffff_ffff));
        }
        text_bytes += t.len();
        idx.insert(d as u64, &t)?;
    }
    let after = LIVE.load(Ordering::Relaxed);
    let terms = docs * words;
    println!(
        "{docs} docs x {words} unique words: text {} MB, index {} MB, {:.1} B/term, ratio {:.1}",
        text_bytes / 1_000_000,
        (after - before) / 1_000_000,
        (after - before) as f64 / terms as f64,
        (after - before) as f64 / text_bytes as f64
    );
    Ok(())
}
