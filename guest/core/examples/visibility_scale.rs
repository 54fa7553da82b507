//! Measures the read-access bitmaps at scale: 1,000,000 memories by 100 agents of 10
//! owners, 10 pools, half of the memories shared into them with mixed scopes, a tenth
//! with an expiry. Times `readable_by` for an agent that is a member of every pool, and
//! for comparison the rules evaluated memory by memory, and prints the bitmap sizes.
//!
//! `cargo run --release -p maas-core --example visibility_scale [memories]`

use maas_core::access::memory_readable;
use maas_core::events::Event;
use maas_core::model::{AgentType, Capability, MemoryKind, Permission, Scope};
use maas_core::state::State;
use maas_core::visibility::{Visibility, readable_by};
use std::time::{Duration, Instant};

const AGENTS: usize = 100;
const OWNERS: usize = 10;
const POOLS: usize = 10;
const SCOPES: [Scope; 5] = [
    Scope::AgentPrivate,
    Scope::User,
    Scope::Project,
    Scope::Team,
    Scope::Global,
];

fn apply(s: &mut State, at: u64, event: Event) {
    s.seq += 1;
    s.evolve(s.seq, at, &event);
}

fn agent(i: usize) -> String {
    format!("agent-{i}")
}

fn pool(j: usize) -> String {
    format!("pool-{j}")
}

/// Builds the state: returns it and the time of its last event.
fn build(memories: usize) -> (State, u64) {
    let mut s = State::new(16);
    let mut at = 1_000_000;
    for i in 0..AGENTS {
        apply(
            &mut s,
            at,
            Event::AgentRegistered {
                id: agent(i),
                agent_type: AgentType::ClaudeCode,
                owner_id: format!("owner-{}", i % OWNERS),
                capabilities: vec![Capability::MemoryRead, Capability::MemoryWrite],
                metadata: "{}".into(),
                token_hash: format!("hash-{i}"),
            },
        );
    }
    for j in 0..POOLS {
        // Pools 0-3 of owner-0 labelled red, 4-6 of owner-1 labelled blue, the rest bare.
        let (owner, team) = match j {
            0..=3 => ("owner-0", Some("red")),
            4..=6 => ("owner-1", Some("blue")),
            _ => ("owner-2", None),
        };
        apply(
            &mut s,
            at,
            Event::PoolCreated {
                id: pool(j),
                name: pool(j),
                owner_id: owner.into(),
                scope: Scope::Global,
                team: team.map(String::from),
                metadata: "{}".into(),
            },
        );
        for i in 0..AGENTS {
            apply(
                &mut s,
                at,
                Event::MemberJoined {
                    pool_id: pool(j),
                    agent_id: agent(i),
                    permission: Permission::Write,
                },
            );
        }
    }
    for k in 0..memories {
        at += 1;
        let author = agent(k % AGENTS);
        let id = format!("m{k}");
        // A tenth expire: half of those before the measuring time, half after.
        let expires_at = match k % 20 {
            0 => Some(at + 1_000),
            1 => Some(at + 10_000_000),
            _ => None,
        };
        apply(
            &mut s,
            at,
            Event::MemoryStored {
                id: id.clone(),
                author: author.clone(),
                kind: MemoryKind::Note,
                content: format!("note {}", k % 1000),
                tags: vec![],
                expires_at,
                notes: None,
                gated: true,
            },
        );
        if k % 2 == 0 {
            let scope = SCOPES.get((k / 2) % SCOPES.len()).copied();
            apply(
                &mut s,
                at,
                Event::MemoryShared {
                    pool_id: pool((k / 10) % POOLS),
                    memory_id: id,
                    shared_by: author,
                    scope: scope.unwrap_or(Scope::Project),
                },
            );
        }
    }
    (s, at)
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    let i = (sorted.len().saturating_sub(1) * p) / 100;
    sorted.get(i).copied().unwrap_or_default()
}

fn main() {
    let memories: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let started = Instant::now();
    let (mut s, now) = build(memories);
    println!(
        "built {} memories, {} shares by evolve in {:.1?}",
        s.memories.len(),
        s.pools.values().map(|p| p.shares.len()).sum::<usize>(),
        started.elapsed()
    );
    let Some(reader) = s.agents.get(&agent(0)).cloned() else {
        return;
    };
    let memberships = s.memberships.get(&reader.id).map_or(0, |m| m.len());
    let stats = s.visibility.stats();
    println!(
        "visibility: {} bitmaps, {:.2} MiB serialized, {} memories with an expiry",
        stats.bitmaps,
        stats.bitmap_bytes as f64 / (1024.0 * 1024.0),
        stats.expiring
    );

    let runs = 1000;
    let mut times = Vec::with_capacity(runs);
    let mut readable = 0;
    for _ in 0..runs {
        let t = Instant::now();
        let bitmap = readable_by(&s, &reader, now);
        times.push(t.elapsed());
        readable = bitmap.len();
        std::hint::black_box(bitmap);
    }
    times.sort();
    println!(
        "readable_by for a member of {memberships} pools: {readable} readable; \
         min {:.1?}, p50 {:.1?}, p95 {:.1?}, max {:.1?} over {runs} runs",
        percentile(&times, 0),
        percentile(&times, 50),
        percentile(&times, 95),
        percentile(&times, 100),
    );

    let t = Instant::now();
    let by_rules = s
        .memories
        .values()
        .filter(|m| !m.is_expired(now) && memory_readable(&s, m, &reader))
        .count();
    println!(
        "the rules memory by memory: {by_rules} readable in {:.1?}",
        t.elapsed()
    );

    let t = Instant::now();
    let rebuilt = Visibility::build(&s);
    println!(
        "Visibility::build from the memories in {:.1?} ({} bitmaps)",
        t.elapsed(),
        rebuilt.stats().bitmaps
    );

    let t = Instant::now();
    s.rebuild_indexes();
    println!(
        "rebuild_indexes (search index and visibility) in {:.1?}",
        t.elapsed()
    );
}
