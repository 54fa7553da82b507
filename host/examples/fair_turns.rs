//! What one agent's costly calls do to another owner's: one core service over a SQLite
//! journal (group commit, as `maas serve` runs it), "mallory" storing 64 KiB texts of
//! credential-shaped assignments (the write gate's costliest text per byte) from 32
//! threads, "alice" storing 200-byte notes one after another and timing each.
//!
//! `cargo run --release -p maas-host --example fair_turns -- [SECONDS]`
//!
//! Four runs of SECONDS each (default 8), in one process: alice alone; both, every call
//! in one lane (arrival order, as the core thread served before lanes, and as one
//! owner's agents were served in their owner's lane); both, each agent in a lane of its
//! own (as `maas serve` runs two owners' agents); both in one lane, each at a place of
//! its own (as `maas serve` runs two agents of one owner, the busy one standing for the
//! owner's pipeline). Prints alice's median and 99th percentile and mallory's stores,
//! and the ratios to the first.

use maas_host::journal::SqliteJournal;
use maas_host::service::{CoreService, Lane};
use maas_host::{CoreImage, Runtime, RuntimeOptions, agents, memories, types};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

fn register(core: &CoreService, id: &str) -> Result<(), types::Error> {
    let req = agents::RegistrationRequest {
        agent_type: agents::AgentType::ClaudeCode,
        owner_id: id.into(),
        agent_id: Some(id.into()),
        capabilities: None,
        metadata: None,
    };
    core.call_blocking(move |rt| {
        rt.call(|c, s| {
            c.maas_core_agents()
                .call_register(s, &types::Caller::Operator, &req)
        })
    })
    .map(drop)
}

fn store(core: &CoreService, agent: &str, content: String) -> Result<(), types::Error> {
    let req = memories::StoreRequest {
        agent_id: agent.into(),
        content,
        kind: memories::MemoryKind::Note,
        tags: vec![],
        memory_id: None,
        pool_id: None,
        scope: None,
        ttl_seconds: None,
    };
    core.call_blocking(move |rt| {
        rt.call(|c, s| {
            c.maas_core_memories()
                .call_store_memory(s, &types::Caller::Operator, &req)
        })
    })
    .map(drop)
}

/// 64 KiB of `token=<32 hex digits of a digest>7` on one line, different each call:
/// each a candidate of gitleaks' generic rule that passes its entropy check.
fn costly() -> String {
    static CALLS: AtomicUsize = AtomicUsize::new(0);
    let call = CALLS.fetch_add(1, Ordering::Relaxed);
    let mut text = String::with_capacity(66 * 1024);
    let mut i = 0u64;
    while text.len() < 64 * 1024 - 64 {
        let digest = Sha256::digest(format!("{call}/{i}"));
        let hex = maas_core::audit::hex(digest.get(..16).unwrap_or_default());
        text.push_str(&format!("token={hex}7 "));
        i += 1;
    }
    text
}

/// Alice's store times over `seconds`, and mallory's stores meanwhile (`None`: alone),
/// mallory at the first place and alice at the second.
fn run(
    core: &CoreService,
    seconds: f64,
    places: Option<(Lane, Lane)>,
) -> Result<(Vec<Duration>, usize), types::Error> {
    let mallory = places.map(|(m, _)| m);
    let stop = Arc::new(AtomicBool::new(false));
    let stored = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..mallory.map_or(0, |_| 32))
        .map(|_| {
            let core = core.at(mallory.unwrap_or_default());
            let (stop, stored) = (stop.clone(), stored.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match store(&core, "mallory", costly()) {
                        Ok(()) => {
                            stored.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => {
                            eprintln!("mallory's store: {e:?}");
                            return;
                        }
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let alice = core.at(places.map_or(Lane { lane: 2, place: 0 }, |(_, a)| a));
    let mut times = Vec::new();
    let until = Instant::now() + Duration::from_secs_f64(seconds);
    let mut i = 0;
    while Instant::now() < until {
        let began = Instant::now();
        store(
            &alice,
            "alice",
            format!("note {i}: the cache key rotates nightly"),
        )?;
        times.push(began.elapsed());
        i += 1;
    }
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        let _ = t.join();
    }
    times.sort();
    Ok((times, stored.load(Ordering::Relaxed)))
}

fn at(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len().saturating_sub(1)) as f64 * p).round() as usize;
    sorted.get(i).map_or(0.0, |d| d.as_secs_f64() * 1e3)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let seconds: f64 = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(8.0);
    let dir = std::env::temp_dir().join(format!("maas-fair-turns-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("journal.db");
    let core = CoreService::spawn(move || {
        let journal =
            SqliteJournal::open(&path).map_err(|e| types::Error::Unavailable(e.to_string()))?;
        Runtime::new(
            CoreImage::shared()?,
            Box::new(journal),
            RuntimeOptions {
                group_commit: true,
                ..RuntimeOptions::default()
            },
        )
    })
    .map_err(|e| format!("{e:?}"))?;
    register(&core, "mallory").map_err(|e| format!("{e:?}"))?;
    register(&core, "alice").map_err(|e| format!("{e:?}"))?;
    let mut base = 0.0;
    let at_ = |lane, place| Lane { lane, place };
    for (name, places) in [
        ("alice alone", None),
        ("mallory too, one lane", Some((at_(0, 0), at_(0, 0)))),
        ("mallory too, a lane each", Some((at_(1_000, 0), at_(2, 0)))),
        ("one lane, a place each", Some((at_(2, 1), at_(2, 2)))),
    ] {
        let (times, stored) = run(&core, seconds, places).map_err(|e| format!("{e:?}"))?;
        let p50 = at(&times, 0.5);
        if places.is_none() {
            base = p50;
        }
        println!(
            "{name:26} alice p50 {p50:8.2} ms  p99 {:8.2} ms  ({:6.1}× alone)  mallory's stores {stored}",
            at(&times, 0.99),
            p50 / base.max(1e-9),
        );
    }
    drop(core);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
