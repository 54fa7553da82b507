//! What a query of the audit window costs an agent (its own entries) when the window is
//! full of another owner's, against the baseline of reading the window newest first until
//! the limit is met (as every query did before the window held each actor's entries by
//! time), in the same process on the same window; and the heap the window holds.
//!
//! ```text
//! cargo run --release -p maas-core --example audit_window [-- ENTRIES]
//! ```
//!
//! Pushes ENTRIES (default 100,000, the default window) entries as the journal's are
//! kept: all but 50 by `mallory` (stores, one in ten a denial), 50 by `alice`. Prints the
//! median of 51 queries of each shape with `AuditWindow::newest` and with the baseline,
//! and their ratio.
#[path = "common/counting.rs"]
mod counting;
use counting::LIVE;
use maas_core::engine::record;
use maas_core::journal::AuditScan;
use maas_core::state::{AuditEntry, AuditWindow};
use serde_json::json;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

fn entry(i: u64, actor: &str) -> AuditEntry {
    let mut record = record(
        actor,
        if i.is_multiple_of(3) {
            "memory.updated"
        } else {
            "memory.stored"
        },
        Some(&format!("m-{i:032x}")),
        json!({"pool": "p-research", "scope": "pool", "bytes": i % 4096}),
    );
    record.prev = Some(format!("{:064x}", i.wrapping_mul(0x9e37_79b9_7f4a_7c15)));
    if i.is_multiple_of(10) {
        record.outcome = "denied".into();
    }
    AuditEntry {
        seq: i + 1,
        at: 1_700_000_000_000 + i,
        record,
    }
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times.get(times.len() / 2).copied().unwrap_or_default()
}

fn time(runs: usize, mut f: impl FnMut() -> usize) -> (Duration, usize) {
    let mut found = 0;
    let times = (0..runs)
        .map(|_| {
            let t = Instant::now();
            found = std::hint::black_box(f());
            t.elapsed()
        })
        .collect();
    (median(times), found)
}

fn main() {
    let entries: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let before = LIVE.load(Ordering::Relaxed);
    let mut window = AuditWindow::default();
    let alice_every = (entries / 50).max(1);
    for i in 0..entries {
        let actor = if i % alice_every == 7 {
            "alice"
        } else {
            "mallory"
        };
        window.push_back(entry(i, actor));
        window.trim(entries as usize);
    }
    let held = LIVE.load(Ordering::Relaxed) - before;
    let bare: Vec<AuditEntry> = window.iter().cloned().collect();
    let bare_bytes = LIVE.load(Ordering::Relaxed) - before - held;
    println!(
        "window of {} entries: {:.1} MB on the heap ({:.1} MB the entries alone, {:.0} B an entry in all)",
        window.len(),
        held as f64 / 1e6,
        bare_bytes as f64 / 1e6,
        held as f64 / window.len() as f64
    );
    drop(bare);
    let last = 1_700_000_000_000 + entries;
    let scan =
        |actor: Option<&str>, event_type: Option<&str>, since: Option<u64>, limit: u32| AuditScan {
            actor: actor.map(str::to_string),
            agent: actor.map(str::to_string),
            event_type: event_type.map(str::to_string),
            since,
            until: None,
            limit,
        };
    let shapes = [
        (
            "alice: her newest 100",
            scan(Some("alice"), None, None, 100),
        ),
        (
            "alice: a type she never made",
            scan(Some("alice"), Some("pool.created"), None, 100),
        ),
        (
            "alice: since after her last",
            scan(Some("alice"), None, Some(last), 1000),
        ),
        (
            "mallory: a type he never made",
            scan(Some("mallory"), Some("pool.created"), None, 1),
        ),
        (
            "mallory: his newest 1000 updates",
            scan(Some("mallory"), Some("memory.updated"), None, 1000),
        ),
        (
            "operator: a type none made (unchanged)",
            scan(None, Some("pool.created"), None, 100),
        ),
    ];
    println!(
        "{:<40} {:>8} {:>12} {:>12} {:>8}",
        "query", "entries", "baseline", "indexed", "ratio"
    );
    for (name, s) in shapes {
        let (base, want) = time(51, || s.newest(window.iter()).len());
        let (new, got) = time(51, || window.newest(&s).len());
        assert_eq!(want, got, "{name}: the same entries");
        println!(
            "{name:<40} {got:>8} {:>10.1}µs {:>10.1}µs {:>7.0}x",
            base.as_secs_f64() * 1e6,
            new.as_secs_f64() * 1e6,
            base.as_secs_f64() / new.as_secs_f64().max(1e-9)
        );
    }
}
