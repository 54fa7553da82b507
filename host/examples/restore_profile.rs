//! Times a start-up from a snapshot natively, phase by phase: reading the chunks from
//! SQLite, decoding them into the state, rebuilding the read-access indexes, and the
//! search indexes the first search builds, so a profiler (`perf record`) names the
//! functions that dominate.
//!
//! `cargo run --release -p maas-host --example restore_profile -- DATA_DIR`

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
    let mut state = restore.finish()?;
    println!(
        "finished (read access rebuilt), {} memories: {:.2} s",
        state.memories.len(),
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
