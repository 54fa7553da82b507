//! What the write gate costs on the texts that cost it most per byte, against prose of
//! the same size in the same process: credential-shaped assignments one after another on
//! one line and one per line (each a candidate of gitleaks' generic rule that passes its
//! entropy check, then its allowlists), URLs with passwords, and every rule's keyword.
//!
//! ```text
//! cargo run --release -p maas-core --example gate_worst [-- KIB...]
//! ```
//!
//! Prints, for each size (default 16, 64 and 256 KiB), the median µs of
//! `secrets::redact` and `injection::assess` over a few calls and the ratio to prose.
//! Growth faster than the size (a ratio that rises with it) is what this is for.

use std::time::Instant;

use maas_core::{injection, secrets};

/// A deterministic generator (xorshift64), so the texts are the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn alnum(&mut self, len: usize) -> String {
        const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        (0..len)
            .map(|_| {
                let at = usize::try_from(self.next() % ALNUM.len() as u64).unwrap_or(0);
                char::from(ALNUM.get(at).copied().unwrap_or(b'x'))
            })
            .collect()
    }
}

/// `unit(i)` repeated until the text holds `size` bytes.
fn fill(size: usize, mut unit: impl FnMut(usize) -> String) -> String {
    let mut text = String::with_capacity(size + 64);
    let mut i = 0;
    while text.len() < size {
        text.push_str(&unit(i));
        i += 1;
    }
    text
}

/// Median µs of `f` over `runs` calls.
fn median(runs: usize, mut f: impl FnMut()) -> f64 {
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times.get(times.len() / 2).copied().unwrap_or_default()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .map(|s| s.parse::<usize>().map(|k| k * 1024))
        .collect::<Result<_, _>>()?;
    let sizes = if sizes.is_empty() {
        vec![16 << 10, 64 << 10, 256 << 10]
    } else {
        sizes
    };
    let words = [
        "the", "deploy", "pipeline", "uses", "a", "canary", "stage", "before", "rollout", "to",
        "all", "regions", "and", "we", "keep", "metrics", "for", "latency",
    ];
    // Every keyword of gitleaks' rules, each of which wakes its rules up.
    let rules: serde_json::Value = serde_json::from_str(include_str!("../src/secrets/rules.json"))?;
    let keywords: Vec<String> = rules
        .get("rules")
        .and_then(serde_json::Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| r.get("keywords").and_then(serde_json::Value::as_array))
        .flatten()
        .filter_map(|k| k.as_str().map(str::to_string))
        .collect();
    for size in sizes {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let texts = [
            (
                "prose",
                fill(size, |i| {
                    let at = i.wrapping_mul(7) % words.len();
                    format!("{} ", words.get(at).copied().unwrap_or("x"))
                }),
            ),
            (
                "assignments, one line",
                fill(size, |_| format!("token={}7 ", rng.alnum(18))),
            ),
            (
                "assignments, a line each",
                fill(size, |_| format!("password={}7\n", rng.alnum(18))),
            ),
            (
                "URL passwords",
                fill(size, |i| format!("https://a:b{i}@c.d/%41 ")),
            ),
            (
                "every rule keyword",
                fill(size, |i| {
                    let at = i % keywords.len().max(1);
                    format!("{} ", keywords.get(at).map_or("x", String::as_str))
                }),
            ),
        ];
        let runs = if size > 64 << 10 { 3 } else { 7 };
        let mut base = (0.0, 0.0);
        println!("{} KiB:", size >> 10);
        for (name, text) in &texts {
            let redact = median(runs, || {
                let _ = secrets::redact(text);
            });
            let assess = median(runs, || {
                let _ = injection::assess(text);
            });
            if *name == "prose" {
                base = (redact, assess);
            }
            println!(
                "  {name:26} redact {redact:10.0} µs ({:5.1}×)   assess {assess:9.0} µs ({:4.1}×)",
                redact / base.0.max(1.0),
                assess / base.1.max(1.0),
            );
        }
    }
    Ok(())
}
