//! Times a start-up from a snapshot natively, phase by phase: reading the chunks from
//! SQLite, decoding them into the state, the read-access bitmaps the first operation
//! builds, and the search indexes the first search builds, so a profiler (`perf record`) names the
//! functions that dominate.
//!
//! `cargo run --release -p maas-host --example restore_profile -- DATA_DIR [AGENT QUERY...]`
//!
//! A data directory at size, made once and reused (about a minute per million memories
//! each step; the import saves the snapshot):
//!
//! ```text
//! maas bench generate --memories 1000000 --out history-1m.jsonl
//! maas --data-dir data-1m import history-1m.jsonl
//! ```
//!
//! `cargo run --release -p maas-core --example restore_scale` measures the decoding alone,
//! without a data directory.
//!
//! With an agent and queries, a core restored from the same snapshot then runs each
//! query 200 times as that agent (top 10) and prints the median and p95.

use maas_host::journal::{JournalBackend, SqliteJournal};
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args()
        .nth(1)
        .ok_or("usage: restore_profile DATA_DIR")?;
    let mut journal = SqliteJournal::open(std::path::Path::new(&dir).join("journal.db"))?;
    let head = journal.head()?;
    let t = Instant::now();
    let seq = journal
        .snapshots()?
        .into_iter()
        .filter(|s| *s <= head)
        .max()
        .ok_or("no snapshot")?;
    let parts = journal.snapshot_parts(seq)?.unwrap_or(0);
    let mut chunks = Vec::new();
    for part in 0..parts {
        chunks.push(
            journal
                .load_snapshot_chunk(seq, part)?
                .ok_or("missing chunk")?,
        );
    }
    let bytes: usize = chunks.iter().map(Vec::len).sum();
    println!(
        "read {parts} chunks, {} MiB, as of {seq}: {:.2} s",
        bytes >> 20,
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    let mut restore = maas_core::snapshot::restore::Restore::new(seq, 100_000);
    for c in &chunks {
        restore.chunk(c)?;
    }
    println!("decoded the records: {:.2} s", t.elapsed().as_secs_f64());
    let t = Instant::now();
    let searches: Vec<String> = std::env::args().skip(2).collect();
    if let Some((agent, queries)) = searches.split_first() {
        return search(seq, &chunks, agent, queries);
    }
    let mut state = restore.finish()?;
    println!(
        "finished, {} memories: {:.2} s",
        state.memories.len(),
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    state.end_deferred_access();
    println!(
        "read access built (the first operation): {:.2} s",
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    state.end_deferred_indexing();
    println!(
        "search indexes built (the first search): {:.2} s",
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Restores a core from `chunks` and times `queries` as `agent`.
fn search(
    seq: u64,
    chunks: &[Vec<u8>],
    agent: &str,
    queries: &[String],
) -> Result<(), Box<dyn std::error::Error>> {
    use maas_core::{Caller, Core, Limits, MemoryJournal};
    struct Clock;
    impl maas_core::Env for Clock {
        fn now_ms(&mut self) -> u64 {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64)
        }
        fn fill_random(&mut self, buf: &mut [u8]) {
            buf.fill(7);
        }
    }
    let mut core = Core::new(MemoryJournal::default(), Clock, Limits::default());
    core.restore_begin(seq)?;
    for c in chunks {
        core.restore_chunk(c)?;
    }
    core.restore_finish()?;
    core.init(Limits::default())?;
    let t = Instant::now();
    core.search_memories(&Caller::Operator, agent, "warm", 10)?;
    println!("first search: {:.2} s", t.elapsed().as_secs_f64());
    for q in queries {
        let mut times: Vec<f64> = (0..200)
            .map(|_| {
                let t = Instant::now();
                let _ = core.search_memories(&Caller::Operator, agent, q, 10);
                t.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        times.sort_by(f64::total_cmp);
        let at = |p: usize| {
            times
                .get(p * times.len() / 100)
                .copied()
                .unwrap_or_default()
        };
        println!("{q:>24}: median {:.3} ms, p95 {:.3} ms", at(50), at(95));
    }
    Ok(())
}
