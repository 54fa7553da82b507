//! Search at scale: builds an index of 1,000,000 synthetic memories and prints
//! query latency per class, build time and the index's size.
//!
//! Queries run with N and the average length over the whole index (`search`) and
//! over the allowed set (`search_among`, as memory search does).
//!
//! Run with `cargo run --release -p maas-core --example search_scale [docs] [build|bulk|insert]`:
//! `build` only times both ways of building (one document at a time with
//! `Index::insert`, and `Index::build`), `bulk` times `Index::build` alone (best
//! of three) and `insert` the other way alone (for a profiler). Each query runs
//! three times and its best time counts (the machine may be busy).
//!
//! Documents have 12–40 words drawn from a Zipf(1) law over 50,000 words, and 30%
//! of them hold a code identifier (`getUserById`) or a path (`src/api/auth.py`).

use maas_core::search::Index;
use roaring::RoaringBitmap;
use std::time::{Duration, Instant};

/// splitmix64: a seeded, portable random source.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn pick<'a>(&mut self, items: &'a [&'a str]) -> &'a str {
        let at = self.below(items.len());
        items.get(at).copied().unwrap_or_default()
    }
}

/// Word ranks drawn from a Zipf(1) law.
struct Zipf(Vec<f64>);

impl Zipf {
    fn new(words: usize) -> Self {
        let mut sum = 0.0;
        let cumulative: Vec<f64> = (1..=words)
            .map(|rank| {
                sum += 1.0 / rank as f64;
                sum
            })
            .collect();
        Zipf(cumulative.iter().map(|c| c / sum).collect())
    }

    fn draw(&self, rng: &mut Rng) -> usize {
        let u = (rng.next() >> 11) as f64 / (1u64 << 53) as f64;
        self.0
            .partition_point(|&c| c < u)
            .min(self.0.len().saturating_sub(1))
    }
}

/// Syllables without `s` (so no plural stemming merges words).
const SYLLABLES: [&str; 25] = [
    "ka", "lo", "mi", "ne", "pu", "ra", "to", "vi", "be", "do", "fu", "ga", "hi", "jo", "ku", "la",
    "me", "no", "pi", "ro", "tu", "ve", "wa", "ye", "zo",
];

/// The word of a rank: two to four syllables, all distinct.
fn word(rank: usize) -> String {
    let (mut n, mut syllables) = (rank, 2);
    let mut base = 25 * 25;
    while n >= base {
        n -= base;
        base *= 25;
        syllables += 1;
    }
    let mut out = String::new();
    for _ in 0..syllables {
        out.push_str(SYLLABLES.get(n % 25).copied().unwrap_or_default());
        n /= 25;
    }
    out
}

const VERBS: [&str; 20] = [
    "get", "set", "update", "delete", "create", "find", "load", "save", "parse", "build", "fetch",
    "handle", "validate", "render", "compute", "init", "reset", "sync", "check", "send",
];
const NOUNS: [&str; 20] = [
    "User", "Order", "Config", "Session", "Token", "Cache", "Account", "Payment", "Message",
    "Event", "File", "Request", "Response", "Query", "Index", "Item", "Record", "Job", "Task",
    "Report",
];
const SUFFIXES: [&str; 7] = ["", "ById", "ByName", "List", "Async", "Handler", "s"];
const DIRS: [&str; 5] = ["src", "lib", "app", "pkg", "internal"];
const MODULES: [&str; 10] = [
    "api", "core", "db", "auth", "util", "models", "services", "handlers", "web", "cli",
];
const FILES: [&str; 10] = [
    "auth", "user", "session", "config", "cache", "main", "routes", "schema", "index", "client",
];
const EXTENSIONS: [&str; 5] = ["py", "rs", "ts", "go", "js"];

/// An identifier (`getUserById`) or a path (`src/api/auth.py`), half and half.
fn code(rng: &mut Rng) -> String {
    if rng.below(2) == 0 {
        let (verb, noun, suffix) = (rng.pick(&VERBS), rng.pick(&NOUNS), rng.pick(&SUFFIXES));
        format!("{verb}{noun}{suffix}")
    } else {
        let (dir, module) = (rng.pick(&DIRS), rng.pick(&MODULES));
        let (file, ext) = (rng.pick(&FILES), rng.pick(&EXTENSIONS));
        format!("{dir}/{module}/{file}.{ext}")
    }
}

fn text(rng: &mut Rng, zipf: &Zipf) -> String {
    let len = 12 + rng.below(29);
    let mut words: Vec<String> = (0..len).map(|_| word(zipf.draw(rng))).collect();
    if rng.below(10) < 3 {
        let at = rng.below(words.len());
        if let Some(slot) = words.get_mut(at) {
            *slot = code(rng);
        }
    }
    words.join(" ")
}

/// Draws a query of one class.
type MakeQuery<'a> = Box<dyn Fn(&mut Rng) -> String + 'a>;

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    let at = (sorted.len() * p / 100).min(sorted.len().saturating_sub(1));
    sorted.get(at).copied().unwrap_or_default()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let docs: u32 = match std::env::args().nth(1) {
        Some(n) => n.parse()?,
        None => 1_000_000,
    };
    let mut rng = Rng(42);
    let zipf = Zipf::new(50_000);
    let texts: Vec<String> = (0..docs).map(|_| text(&mut rng, &zipf)).collect();
    let mode = std::env::args().nth(2).unwrap_or_default();
    let report = |how: &str, build: Duration, index: &Index| {
        let bytes = index.heap_bytes();
        let postings = index.postings();
        println!(
            "{docs} docs, {how}: build {build:.2?} ({:.0} docs/s), {postings} postings, index {:.1} MiB ({:.2} bytes/posting, {:.1} bytes/doc)",
            f64::from(docs) / build.as_secs_f64().max(1e-9),
            bytes as f64 / (1024.0 * 1024.0),
            bytes as f64 / postings.max(1) as f64,
            bytes as f64 / f64::from(docs.max(1)),
        );
    };
    if mode != "bulk" {
        let mut index = Index::new();
        let started = Instant::now();
        for (doc, text) in (1u64..).zip(&texts) {
            index.insert(doc, text)?;
        }
        report("one insert at a time", started.elapsed(), &index);
        index.shrink_to_fit();
        let shrunk = index.heap_bytes();
        println!(
            "after shrink_to_fit: index {:.1} MiB",
            shrunk as f64 / (1024.0 * 1024.0)
        );
    }
    if mode == "insert" {
        return Ok(());
    }
    // Best of three in `bulk` mode (the machine may be busy).
    let mut best: Option<(Duration, Index)> = None;
    for _ in 0..if mode == "bulk" { 3 } else { 1 } {
        let started = Instant::now();
        let index = Index::build((1u64..).zip(texts.iter().map(String::as_str)));
        let took = started.elapsed();
        if best.as_ref().is_none_or(|(t, _)| took < *t) {
            best = Some((took, index));
        }
    }
    let Some((took, index)) = best else {
        return Ok(());
    };
    report("Index::build", took, &index);
    drop(texts);
    if mode == "build" || mode == "bulk" {
        return Ok(());
    }
    let half: RoaringBitmap = index.docs().iter().filter(|&d| d % 2 == 0).collect();
    let tenth: RoaringBitmap = index.docs().iter().filter(|&d| d % 10 == 3).collect();
    // Counting N and the total length over an allowed set (what `search_among` adds to
    // a search): median of 21 runs.
    for (name, allowed) in [("all", index.docs()), ("50%", &half), ("10%", &tenth)] {
        let mut times: Vec<Duration> = (0..21)
            .map(|_| {
                let started = Instant::now();
                std::hint::black_box(index.norms_over(allowed));
                started.elapsed()
            })
            .collect();
        times.sort();
        println!("norms over {name:>3}  p50 {:>9.2?}", percentile(&times, 50));
    }
    let classes: [(&str, MakeQuery<'_>); 5] = [
        ("common word", Box::new(|rng| word(rng.below(5)))),
        (
            "two words",
            Box::new(|rng| format!("{} {}", word(zipf.draw(rng)), word(zipf.draw(rng)))),
        ),
        ("identifier", Box::new(code)),
        (
            "mid-frequency",
            Box::new(|rng| word(1_000 + rng.below(4_000))),
        ),
        ("rare", Box::new(|rng| word(20_000 + rng.below(30_000)))),
    ];
    // `search` counts N and the average length over the whole index, `search_among`
    // over the allowed set (a reader's memories).
    let runs = [
        ("all", index.docs(), false),
        ("50%", &half, false),
        ("all", index.docs(), true),
        ("50%", &half, true),
        ("10%", &tenth, true),
    ];
    for (allowed_name, allowed, among) in runs {
        let how = if among { "among" } else { "whole" };
        for (name, make) in &classes {
            let mut times = Vec::new();
            let mut found = 0usize;
            let mut slowest: Option<(Duration, String)> = None;
            for _ in 0..200 {
                let query = make(&mut rng);
                // Best of three runs: the machine may be shared.
                let mut best = Duration::MAX;
                let mut hits = Vec::new();
                for _ in 0..3 {
                    let started = Instant::now();
                    hits = if among {
                        index.search_among(&query, 10, allowed)
                    } else {
                        index.search(&query, 10, allowed)
                    };
                    best = best.min(started.elapsed());
                }
                times.push(best);
                found += hits.len();
                if slowest.as_ref().is_none_or(|(t, _)| best > *t) {
                    slowest = Some((best, query));
                }
            }
            times.sort();
            println!(
                "{how} {allowed_name:>3}  {name:<13}  p50 {:>9.2?}  p95 {:>9.2?}  max {:>9.2?}  ({found} hits, slowest {:?})",
                percentile(&times, 50),
                percentile(&times, 95),
                times.last().copied().unwrap_or_default(),
                slowest.map(|(_, q)| q).unwrap_or_default(),
            );
        }
    }
    Ok(())
}
