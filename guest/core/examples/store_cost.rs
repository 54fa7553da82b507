//! What one memory store costs natively, piece by piece: the write gate's injection
//! score and secret redaction on the text, and the whole `store_memory` (gate, decide,
//! journal append, evolve with the search index) over an in-memory journal.
//!
//! ```text
//! cargo run --release -p maas-core --example store_cost [-- STORES]
//! ```
//!
//! Prints the median of batches of single calls, in µs. Run it under `perf record -g`
//! to see where a store's time goes.

use std::time::Instant;

use maas_core::SeededEnv;
use maas_core::agents::RegistrationRequest;
use maas_core::memories::StoreRequest;
use maas_core::model::{AgentType, Caller, MemoryKind};
use maas_core::{Core, Limits, MemoryJournal, injection, secrets};

/// A note as agents write them: prose with an identifier and a path.
fn content(i: usize) -> String {
    format!(
        "note {i}: the session cache uses redis with key userSession_{i}; \
         invalidate it in src/api/session.rs when the token rotates"
    )
}

/// Median µs per call of `f` over `batches` batches of `per` calls.
fn median(batches: usize, per: usize, mut f: impl FnMut(usize)) -> f64 {
    let mut times: Vec<f64> = (0..batches)
        .map(|b| {
            let start = Instant::now();
            for i in 0..per {
                f(b * per + i);
            }
            start.elapsed().as_secs_f64() * 1e6 / per as f64
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times.get(times.len() / 2).copied().unwrap_or_default()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let stores: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(20_000);
    let texts: Vec<String> = (0..1000).map(content).collect();
    let bytes = texts.iter().map(String::len).sum::<usize>() / texts.len();
    // Warm the compiled rule sets.
    let text = |i: usize| texts.get(i % texts.len()).map_or("", String::as_str);
    let _ = injection::assess(text(0));
    let _ = secrets::redact(text(0));
    let assess = median(15, 1000, |i| {
        let _ = injection::assess(text(i));
    });
    let redact = median(15, 1000, |i| {
        let _ = secrets::redact(text(i));
    });
    let mut core = Core::new(
        MemoryJournal::default(),
        SeededEnv::new(1_700_000_000_000, 0, 0x9e37_79b9),
        Limits::default(),
    );
    core.init(Limits::default())?;
    core.register(
        &Caller::Operator,
        &RegistrationRequest {
            agent_type: AgentType::ClaudeCode,
            owner_id: "bench".into(),
            agent_id: Some("a".into()),
            capabilities: None,
            metadata: None,
        },
    )?;
    let per = 500;
    let store = median(stores.div_ceil(per), per, |i| {
        let _ = core.store_memory(
            &Caller::Operator,
            &StoreRequest {
                agent_id: "a".into(),
                content: content(i),
                kind: MemoryKind::Note,
                tags: vec!["cache".into(), "redis".into()],
                memory_id: None,
                pool_id: None,
                scope: None,
                ttl_seconds: None,
            },
        );
    });
    println!("text of {bytes} bytes");
    println!("injection::assess        {assess:8.2} µs");
    println!("secrets::redact          {redact:8.2} µs");
    println!("store_memory (all)       {store:8.2} µs");
    Ok(())
}
