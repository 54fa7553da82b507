//! Times a snapshot restore natively at scale, without a host: builds a state of N
//! memories (100 agents of 10 owners, 10 pools, half of the memories shared, 20–40 words
//! each, a third with tags), exports it in 4 MiB chunks as the host stores them, in the
//! current format (binary, version 3) and in version 2 (JSON lines), and restores each
//! several times, alternating, phase by phase (decoding the chunks; finishing: building
//! the maps; the read-access bitmaps, which the first operation after a restore builds).
//! Prints the medians, so one format is measured against the other on the same state in
//! the same process, and a profiler (`perf record -g`) names the functions that
//! dominate. With `v3` or `v2` as a third argument only that format is restored (to
//! profile one); with `export`, the current format is exported `rounds` times and
//! nothing restored (the median, and the CPU time, of a whole export).
//!
//! `cargo run --release -p maas-core --example restore_scale [memories] [rounds] [v3|v2|export]`

use maas_core::events::Event;
use maas_core::model::{AgentType, Capability, MemoryKind, Permission, Scope};
use maas_core::snapshot::export::Export;
use maas_core::snapshot::restore::Restore;
use maas_core::state::State;
use std::time::{Duration, Instant};

const AGENTS: usize = 100;
const OWNERS: usize = 10;
const POOLS: usize = 10;
const SCOPES: [Scope; 4] = [
    Scope::AgentPrivate,
    Scope::User,
    Scope::Project,
    Scope::Team,
];
const CHUNK: usize = 4 << 20;

fn apply(s: &mut State, at: u64, event: Event) {
    s.seq += 1;
    s.evolve(s.seq, at, &event);
}

/// A deterministic word from a small syllable alphabet.
fn word(mut x: u64) -> String {
    const SYL: [&str; 8] = ["ba", "ku", "mi", "fe", "do", "ra", "gu", "si"];
    let mut w = String::new();
    for _ in 0..2 + x % 3 {
        w.push_str(SYL.get((x % 8) as usize).copied().unwrap_or("a"));
        x /= 8;
    }
    w
}

fn build(memories: usize) -> State {
    let mut s = State::new(16);
    s.defer_search_indexes();
    let at = 1_000_000;
    for i in 0..AGENTS {
        apply(
            &mut s,
            at,
            Event::AgentRegistered {
                id: format!("agent-{i:02}"),
                agent_type: AgentType::ClaudeCode,
                owner_id: format!("owner-{}", i % OWNERS),
                capabilities: vec![Capability::MemoryRead, Capability::MemoryWrite],
                metadata: "{}".into(),
                token_hash: format!("hash-{i}"),
            },
        );
    }
    for j in 0..POOLS {
        apply(
            &mut s,
            at,
            Event::PoolCreated {
                id: format!("pool-{j}"),
                name: format!("pool-{j}"),
                owner_id: format!("owner-{j}"),
                scope: Scope::Global,
                team: None,
                metadata: "{}".into(),
            },
        );
        for i in 0..AGENTS {
            apply(
                &mut s,
                at,
                Event::MemberJoined {
                    pool_id: format!("pool-{j}"),
                    agent_id: format!("agent-{i:02}"),
                    permission: Permission::Write,
                },
            );
        }
    }
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for k in 0..memories {
        let at = at + k as u64;
        let author = format!("agent-{:02}", k % AGENTS);
        let id = format!("{:08x}-7e57-4000-8000-{:012x}", k, k * 7919);
        let mut content = String::new();
        for w in 0..20 + k % 21 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if w > 0 {
                content.push(' ');
            }
            content.push_str(&word(x % 50_000));
        }
        let tags = if k % 3 == 0 {
            vec![word(x % 97), word(x % 89)]
        } else {
            vec![]
        };
        apply(
            &mut s,
            at,
            Event::MemoryStored {
                id: id.clone(),
                author: author.clone(),
                kind: MemoryKind::Note,
                content,
                tags,
                expires_at: None,
                notes: None,
                gated: true,
            },
        );
        if k % 2 == 0 {
            apply(
                &mut s,
                at,
                Event::MemoryShared {
                    pool_id: format!("pool-{}", (k / 2) % POOLS),
                    memory_id: id,
                    shared_by: author,
                    scope: SCOPES
                        .get((k / 2) % SCOPES.len())
                        .copied()
                        .unwrap_or(Scope::Project),
                },
            );
        }
    }
    s
}

/// CPU time this thread has used (Linux: from /proc; elsewhere zero), so the phases can
/// be compared on a machine that other work shares.
fn cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    // The fields after the command (which is in parentheses): utime and stime are the
    // 12th and 13th, in clock ticks (100 a second on Linux).
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let ticks: u64 = after
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|f| f.parse::<u64>().ok())
        .sum();
    Duration::from_millis(ticks * 10)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let memories: usize = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(3);
    let t = Instant::now();
    let mut state = build(memories);
    println!(
        "built {memories} memories: {:.2} s",
        t.elapsed().as_secs_f64()
    );
    let only = args.next();
    if only.as_deref() == Some("export") {
        return export_rounds(&mut state, rounds);
    }
    let mut formats = Vec::new();
    for (name, json) in [("v3", false), ("v2", true)] {
        if only.as_deref().is_some_and(|o| o != name) {
            continue;
        }
        let t = Instant::now();
        let mut export = if json {
            Export::json(&state)
        } else {
            Export::new(&state)
        };
        let seq = export.seq();
        let mut chunks = Vec::new();
        while let Some(c) = export.next(&mut state, CHUNK)? {
            chunks.push(c);
        }
        let bytes: usize = chunks.iter().map(Vec::len).sum();
        println!(
            "{name}: exported {} chunks, {} MiB: {:.2} s",
            chunks.len(),
            bytes >> 20,
            t.elapsed().as_secs_f64()
        );
        formats.push((name, seq, chunks, Timings::default()));
    }
    drop(state);
    for _ in 0..rounds {
        for (_, seq, chunks, timings) in &mut formats {
            let (t, c0) = (Instant::now(), cpu());
            let mut restore = Restore::new(*seq, 16);
            for c in chunks.iter() {
                restore.chunk(c)?;
            }
            timings.decode.push(t.elapsed());
            timings.decode_cpu.push(cpu().saturating_sub(c0));
            let (t, c0) = (Instant::now(), cpu());
            let mut state = restore.finish()?;
            timings.finish.push(t.elapsed());
            timings.finish_cpu.push(cpu().saturating_sub(c0));
            let (t, c0) = (Instant::now(), cpu());
            state.end_deferred_access();
            timings.access.push(t.elapsed());
            timings.access_cpu.push(cpu().saturating_sub(c0));
            assert_eq!(state.memories.len(), memories);
            drop(state);
        }
    }
    for (name, _, _, timings) in formats {
        println!(
            "{name} restore, median of {rounds}: decode {:.3} s, finish {:.3} s, read access \
             {:.3} s; CPU time: decode {:.2} s, finish {:.2} s, read access {:.2} s",
            median(timings.decode).as_secs_f64(),
            median(timings.finish).as_secs_f64(),
            median(timings.access).as_secs_f64(),
            median(timings.decode_cpu).as_secs_f64(),
            median(timings.finish_cpu).as_secs_f64(),
            median(timings.access_cpu).as_secs_f64()
        );
    }
    Ok(())
}

/// Exports the state in the current format `rounds` times; prints the medians.
fn export_rounds(state: &mut State, rounds: usize) -> Result<(), Box<dyn std::error::Error>> {
    let (mut wall, mut spent) = (Vec::new(), Vec::new());
    let mut bytes = 0;
    for _ in 0..rounds {
        let (t, c0) = (Instant::now(), cpu());
        let mut export = Export::new(state);
        bytes = 0;
        while let Some(c) = export.next(state, CHUNK)? {
            bytes += c.len();
        }
        wall.push(t.elapsed());
        spent.push(cpu().saturating_sub(c0));
    }
    println!(
        "export of {} MiB, median of {rounds}: {:.3} s (CPU time {:.2} s)",
        bytes >> 20,
        median(wall).as_secs_f64(),
        median(spent).as_secs_f64()
    );
    Ok(())
}

/// Per-round times of one format.
#[derive(Default)]
struct Timings {
    decode: Vec<Duration>,
    finish: Vec<Duration>,
    access: Vec<Duration>,
    decode_cpu: Vec<Duration>,
    finish_cpu: Vec<Duration>,
    access_cpu: Vec<Duration>,
}
