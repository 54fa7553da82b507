//! The read-access bitmaps agree with the rules through random histories: `readable_by`
//! is exactly the set of memories for which `memory_readable` holds and `is_expired` does
//! not, for every agent, at times before and after the events, and after a snapshot
//! restore.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod visibility_support;

use maas_core::events::Event;
use maas_core::model::{AgentType, Capability, MemoryKind, Permission, Scope};
use maas_core::snapshot;
use maas_core::state::HandoffContext;
use visibility_support::{History, check_state};

/// A small deterministic generator (splitmix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn pick<T: Clone>(&mut self, items: &[T]) -> Option<T> {
        if items.is_empty() {
            None
        } else {
            Some(items[self.below(items.len())].clone())
        }
    }
}

/// One random history of `steps` events, checked every `every` steps and after a
/// snapshot restore at the end.
fn random_history(seed: u64, steps: usize, every: usize) {
    let mut rng = Rng(seed);
    let mut h = History::new();
    let owners = ["ann", "bob", "cat"];
    let teams = [None, Some("red"), Some("blue")];
    let mut next = 0;
    for step in 0..steps {
        h.at += rng.below(60) as u64;
        let agents: Vec<String> = h.s.agents.keys().cloned().collect();
        let pools: Vec<String> = h.s.pools.keys().cloned().collect();
        let memories: Vec<String> = h.s.memories.keys().cloned().collect();
        next += 1;
        let roll = rng.below(100);
        let event = match roll {
            0..=5 => Event::AgentRegistered {
                id: format!("a{next}"),
                agent_type: AgentType::ClaudeCode,
                owner_id: owners[rng.below(owners.len())].into(),
                capabilities: if rng.below(4) == 0 {
                    vec![Capability::MemoryWrite]
                } else {
                    vec![Capability::MemoryRead, Capability::MemoryWrite]
                },
                metadata: "{}".into(),
                token_hash: format!("t{next}"),
            },
            6 => match rng.pick(&agents) {
                Some(id) => Event::AgentUnregistered { id },
                None => continue,
            },
            7..=9 => Event::PoolCreated {
                id: format!("p{next}"),
                name: "pool".into(),
                owner_id: owners[rng.below(owners.len())].into(),
                scope: Scope::Global,
                team: teams[rng.below(teams.len())].map(String::from),
                metadata: "{}".into(),
            },
            10 => match rng.pick(&pools) {
                Some(id) => Event::PoolDeleted {
                    id,
                    members: Vec::new(),
                },
                None => continue,
            },
            11..=20 => match (rng.pick(&pools), rng.pick(&agents)) {
                (Some(pool_id), Some(agent_id)) => Event::MemberJoined {
                    pool_id,
                    agent_id,
                    permission: Permission::Write,
                },
                _ => continue,
            },
            21..=23 => match (rng.pick(&pools), rng.pick(&agents)) {
                (Some(pool_id), Some(agent_id)) => Event::MemberLeft { pool_id, agent_id },
                _ => continue,
            },
            24..=43 => match rng.pick(&agents) {
                Some(author) => Event::MemoryStored {
                    id: format!("m{next}"),
                    author,
                    kind: MemoryKind::Note,
                    content: "text".into(),
                    tags: vec![],
                    expires_at: match rng.below(8) {
                        0..=2 => Some(h.at + 1 + rng.below(600) as u64),
                        // Expired already when stored, as replay may apply it.
                        3 => Some(h.at - rng.below(50) as u64),
                        _ => None,
                    },
                    notes: None,
                    gated: true,
                },
                None => continue,
            },
            44..=46 => match rng.pick(&memories) {
                Some(id) => Event::MemoryUpdated {
                    id,
                    content: "changed".into(),
                    tags: vec![],
                    kind: MemoryKind::Fact,
                    notes: None,
                    gated: true,
                },
                None => continue,
            },
            47..=50 => match rng.pick(&memories) {
                Some(id) => Event::MemoryDeleted { id },
                None => continue,
            },
            51..=79 => {
                // Mostly a live pool, memory and sharer; sometimes gone ones.
                let pool_id = match rng.below(10) {
                    0 => "gone-pool".to_string(),
                    _ => match rng.pick(&pools) {
                        Some(p) => p,
                        None => continue,
                    },
                };
                let memory_id = match rng.pick(&memories) {
                    Some(m) => m,
                    None => continue,
                };
                let shared_by = match rng.below(8) {
                    0 => "a-never".to_string(),
                    _ => rng.pick(&agents).unwrap_or_else(|| "a-never".into()),
                };
                Event::MemoryShared {
                    pool_id,
                    memory_id,
                    shared_by,
                    scope: Scope::ALL[rng.below(Scope::ALL.len())],
                }
            }
            80..=86 => {
                // Unshare one of the pool's shares, or a pair that has none.
                let pool_id = match rng.pick(&pools) {
                    Some(p) => p,
                    None => continue,
                };
                let shared: Vec<String> = h.s.pools[&pool_id].shares.keys().cloned().collect();
                let memory_id = match rng.pick(&shared).or_else(|| rng.pick(&memories)) {
                    Some(m) => m,
                    None => continue,
                };
                Event::MemoryUnshared {
                    pool_id,
                    memory_id,
                    shared_by: None,
                    scope: None,
                }
            }
            87..=92 => {
                let (Some(source), Some(target)) = (rng.pick(&agents), rng.pick(&agents)) else {
                    continue;
                };
                let mut granted: Vec<String> = (0..1 + rng.below(3))
                    .filter_map(|_| rng.pick(&memories))
                    .collect();
                // A memory id not stored yet, which may be stored later.
                granted.push(format!("m{}", next + 1 + rng.below(4)));
                let id = format!("h{next}");
                h.apply(Event::HandoffInitiated {
                    id: id.clone(),
                    source,
                    target,
                    context: HandoffContext {
                        task_description: "t".into(),
                        current_state: "{}".into(),
                        relevant_memories: granted.clone(),
                        relevant_files: vec![],
                    },
                    expires_at: h.at + 10_000,
                    notes: None,
                });
                Event::HandoffAccepted { id, granted }
            }
            93..=95 => match rng.pick(&agents) {
                Some(id) => Event::AgentDeactivated { id },
                None => continue,
            },
            _ => Event::Audited(maas_core::events::AuditRecord {
                actor: "operator".into(),
                event_type: "x".into(),
                target: None,
                outcome: "ok".into(),
                detail: "{}".into(),
                prev: None,
                covers: None,
            }),
        };
        h.apply(event);
        if step % every == every - 1 {
            h.check(&format!("seed {seed} step {step}"));
        }
    }
    h.check(&format!("seed {seed} at the end"));
    let mut export = snapshot::export::Export::new(&h.s);
    let mut restore = snapshot::restore::Restore::new(h.s.seq, 16);
    while let Some(chunk) = export.next(&mut h.s, 4096).unwrap() {
        restore.chunk(&chunk).unwrap();
    }
    let mut restored = restore.finish().unwrap();
    // A restore leaves read access to the first operation; build it as that would.
    restored.end_deferred_access();
    check_state(
        &restored,
        &h.agents,
        h.at,
        &format!("seed {seed} after restore"),
    );
    let mut rebuilt = h.s.clone();
    rebuilt.rebuild_indexes();
    check_state(&rebuilt, &h.agents, h.at, &format!("seed {seed} rebuilt"));
    // The per-owner memory counts kept event by event agree with a count from scratch.
    let owners: std::collections::BTreeSet<&String> =
        h.s.agents.values().map(|a| &a.owner_id).collect();
    for owner in owners {
        let counted =
            h.s.memories
                .values()
                .filter(|m| {
                    h.s.agents
                        .get(&m.author)
                        .is_some_and(|a| &a.owner_id == owner)
                })
                .count() as u64;
        assert_eq!(
            h.s.visibility.owner_memories(owner),
            counted,
            "seed {seed} {owner}"
        );
        assert_eq!(
            rebuilt.visibility.owner_memories(owner),
            counted,
            "seed {seed} {owner}"
        );
    }
}

#[test]
fn random_histories_agree_with_the_rules_at_every_check_and_after_restore() {
    for seed in 1..=24 {
        random_history(seed, 700, 35);
    }
}
