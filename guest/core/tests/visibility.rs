//! The read-access bitmaps agree with the rules: `readable_by` is exactly the set of
//! memories for which `memory_readable` holds and `is_expired` does not, through random
//! histories, at times before and after the events, and after a snapshot restore.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use maas_core::access::memory_readable;
use maas_core::events::Event;
use maas_core::model::{AgentType, Capability, MemoryKind, Permission, Scope};
use maas_core::snapshot;
use maas_core::state::{Agent, HandoffContext, State};
use maas_core::visibility::readable_by;
use roaring::RoaringBitmap;

/// What the rules say `reader` may read at `now`.
fn by_the_rules(s: &State, reader: &Agent, now: u64) -> RoaringBitmap {
    s.memories
        .values()
        .filter(|m| memory_readable(s, m, reader) && !m.is_expired(now))
        .map(|m| u32::try_from(m.n).unwrap())
        .collect()
}

/// Applies events one by one at `at`, as replay does.
struct History {
    s: State,
    at: u64,
    /// Every agent ever registered, kept after unregistration to read as.
    agents: Vec<Agent>,
}

impl History {
    fn new() -> Self {
        History {
            s: State::new(16),
            at: 1_000,
            agents: Vec::new(),
        }
    }

    fn apply(&mut self, event: Event) {
        self.s.evolve(self.s.seq + 1, self.at, &event);
        self.s.seq += 1;
        if let Event::AgentRegistered { id, .. } = &event
            && let Some(a) = self.s.agents.get(id)
        {
            self.agents.push(a.clone());
        }
    }

    fn register(&mut self, id: &str, owner: &str, read: bool) {
        let mut capabilities = vec![Capability::MemoryWrite];
        if read {
            capabilities.push(Capability::MemoryRead);
        }
        self.apply(Event::AgentRegistered {
            id: id.into(),
            agent_type: AgentType::ClaudeCode,
            owner_id: owner.into(),
            capabilities,
            metadata: "{}".into(),
            token_hash: format!("hash-{id}"),
        });
    }

    fn pool(&mut self, id: &str, owner: &str, team: Option<&str>) {
        self.apply(Event::PoolCreated {
            id: id.into(),
            name: id.into(),
            owner_id: owner.into(),
            scope: Scope::Global,
            team: team.map(String::from),
            metadata: "{}".into(),
        });
    }

    fn join(&mut self, pool: &str, agent: &str) {
        self.apply(Event::MemberJoined {
            pool_id: pool.into(),
            agent_id: agent.into(),
            permission: Permission::Write,
        });
    }

    fn store(&mut self, id: &str, author: &str, expires_at: Option<u64>) {
        self.apply(Event::MemoryStored {
            id: id.into(),
            author: author.into(),
            kind: MemoryKind::Fact,
            content: format!("memory {id}"),
            tags: vec![],
            expires_at,
        });
    }

    fn share(&mut self, pool: &str, memory: &str, by: &str, scope: Scope) {
        self.apply(Event::MemoryShared {
            pool_id: pool.into(),
            memory_id: memory.into(),
            shared_by: by.into(),
            scope,
        });
    }

    fn grant(&mut self, handoff: &str, source: &str, target: &str, memories: &[&str]) {
        self.apply(Event::HandoffInitiated {
            id: handoff.into(),
            source: source.into(),
            target: target.into(),
            context: HandoffContext {
                task_description: "task".into(),
                current_state: "{}".into(),
                relevant_memories: memories.iter().map(|m| m.to_string()).collect(),
                relevant_files: vec![],
            },
            expires_at: self.at + 60_000,
        });
        self.apply(Event::HandoffAccepted {
            id: handoff.into(),
            granted: memories.iter().map(|m| m.to_string()).collect(),
        });
    }

    fn agent(&self, id: &str) -> Agent {
        self.agents.iter().find(|a| a.id == id).cloned().unwrap()
    }

    /// The ids of the memories `reader` may read now, by the bitmaps.
    fn reads(&self, reader: &str) -> Vec<String> {
        let bitmap = readable_by(&self.s, &self.agent(reader), self.at);
        let mut ids: Vec<String> = self
            .s
            .memories
            .values()
            .filter(|m| bitmap.contains(u32::try_from(m.n).unwrap()))
            .map(|m| m.id.clone())
            .collect();
        ids.sort();
        ids
    }

    /// Asserts the bitmaps agree with the rules for every agent ever registered, at the
    /// current time and around it.
    fn check(&self, what: &str) {
        check_state(&self.s, &self.agents, self.at, what);
    }
}

fn check_state(s: &State, agents: &[Agent], at: u64, what: &str) {
    for now in [
        0,
        at.saturating_sub(400),
        at.saturating_sub(1),
        at,
        at + 150,
        at + 5_000,
    ] {
        for reader in agents {
            assert_eq!(
                readable_by(s, reader, now),
                by_the_rules(s, reader, now),
                "{what}: reader {} at {now} (events at {at})",
                reader.id
            );
        }
    }
}

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
                Some(id) => Event::PoolDeleted { id },
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
                },
                None => continue,
            },
            44..=46 => match rng.pick(&memories) {
                Some(id) => Event::MemoryUpdated {
                    id,
                    content: "changed".into(),
                    tags: vec![],
                    kind: MemoryKind::Fact,
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
                Event::MemoryUnshared { pool_id, memory_id }
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
            }),
        };
        h.apply(event);
        if step % every == every - 1 {
            h.check(&format!("seed {seed} step {step}"));
        }
    }
    h.check(&format!("seed {seed} at the end"));
    let data = snapshot::encode(&h.s).unwrap();
    let restored = snapshot::decode(h.s.seq, &data, 16).unwrap();
    check_state(
        &restored,
        &h.agents,
        h.at,
        &format!("seed {seed} after restore"),
    );
    let mut rebuilt = h.s.clone();
    rebuilt.rebuild_indexes();
    check_state(&rebuilt, &h.agents, h.at, &format!("seed {seed} rebuilt"));
}

#[test]
fn random_histories_agree_with_the_rules_at_every_check_and_after_restore() {
    for seed in 1..=24 {
        random_history(seed, 700, 35);
    }
}

#[test]
fn an_author_reads_its_own_memories_without_any_share() {
    let mut h = History::new();
    h.register("a1", "ann", true);
    h.register("a2", "ann", true);
    h.store("m1", "a1", None);
    assert_eq!(h.reads("a1"), ["m1"]);
    assert!(h.reads("a2").is_empty());
    h.check("author");
}

#[test]
fn an_agent_private_share_is_read_by_its_sharer_only_even_outside_the_pool() {
    let mut h = History::new();
    h.register("a1", "ann", true);
    h.register("a2", "ann", true);
    h.register("a3", "ann", true);
    h.pool("p1", "ann", None);
    h.join("p1", "a3");
    h.store("m1", "a1", None);
    h.share("p1", "m1", "a2", Scope::AgentPrivate);
    assert_eq!(h.reads("a2"), ["m1"]);
    assert!(h.reads("a3").is_empty());
    h.check("agent private");
}

#[test]
fn a_user_share_is_read_by_members_with_the_sharers_owner_while_the_sharer_is_registered() {
    let mut h = History::new();
    for (id, owner) in [("a1", "ann"), ("a2", "ann"), ("a3", "bob"), ("a4", "ann")] {
        h.register(id, owner, true);
    }
    h.pool("p1", "ann", None);
    for id in ["a1", "a2", "a3"] {
        h.join("p1", id);
    }
    h.store("m1", "a1", None);
    h.share("p1", "m1", "a1", Scope::User);
    assert_eq!(h.reads("a2"), ["m1"]);
    assert!(h.reads("a3").is_empty(), "another owner's member");
    assert!(
        h.reads("a4").is_empty(),
        "the owner's agent outside the pool"
    );
    h.apply(Event::AgentUnregistered { id: "a1".into() });
    assert!(h.reads("a2").is_empty(), "the sharer is gone");
    h.check("user");
}

#[test]
fn a_project_share_is_read_by_every_member_and_no_one_after_leaving() {
    let mut h = History::new();
    h.register("a1", "ann", true);
    h.register("a2", "bob", false);
    h.pool("p1", "ann", None);
    h.join("p1", "a2");
    h.store("m1", "a1", None);
    h.share("p1", "m1", "a1", Scope::Project);
    assert_eq!(h.reads("a2"), ["m1"]);
    h.apply(Event::MemberLeft {
        pool_id: "p1".into(),
        agent_id: "a2".into(),
    });
    assert!(h.reads("a2").is_empty());
    h.check("project");
}

#[test]
fn a_team_share_reaches_members_of_the_owners_pools_with_the_same_team_label() {
    let mut h = History::new();
    for (id, owner) in [("a1", "ann"), ("a2", "bob"), ("a3", "bob"), ("a4", "bob")] {
        h.register(id, owner, true);
    }
    h.pool("red1", "ann", Some("red"));
    h.pool("red2", "ann", Some("red"));
    h.pool("bobred", "bob", Some("red"));
    h.pool("plain", "ann", None);
    h.join("red2", "a2");
    h.join("bobred", "a3");
    h.join("plain", "a4");
    h.store("m1", "a1", None);
    h.share("red1", "m1", "a1", Scope::Team);
    h.store("m2", "a1", None);
    h.share("plain", "m2", "a1", Scope::Team);
    assert_eq!(h.reads("a2"), ["m1"], "same owner and label");
    assert!(h.reads("a3").is_empty(), "the same label of another owner");
    assert_eq!(h.reads("a4"), ["m2"], "a member of an unlabelled pool");
    h.apply(Event::PoolDeleted { id: "red2".into() });
    assert!(h.reads("a2").is_empty());
    h.check("team");
}

#[test]
fn a_global_share_stays_readable_until_its_last_global_share_goes() {
    let mut h = History::new();
    h.register("a1", "ann", true);
    h.register("a2", "bob", true);
    h.register("a3", "bob", false);
    h.pool("p1", "ann", None);
    h.pool("p2", "ann", None);
    h.store("m1", "a1", None);
    h.share("p1", "m1", "a1", Scope::Global);
    h.share("p2", "m1", "a1", Scope::Global);
    assert_eq!(h.reads("a2"), ["m1"]);
    assert!(h.reads("a3").is_empty(), "no memory_read");
    h.apply(Event::MemoryUnshared {
        pool_id: "p1".into(),
        memory_id: "m1".into(),
    });
    assert_eq!(h.reads("a2"), ["m1"]);
    h.share("p2", "m1", "a1", Scope::Project);
    assert!(h.reads("a2").is_empty(), "rescoped to project");
    h.check("global");
}

#[test]
fn a_handoff_grant_is_read_by_its_target_also_for_a_memory_stored_after_it() {
    let mut h = History::new();
    h.register("a1", "ann", true);
    h.register("a2", "bob", true);
    h.store("m1", "a1", None);
    h.grant("h1", "a1", "a2", &["m1", "m2"]);
    assert_eq!(h.reads("a2"), ["m1"]);
    h.store("m2", "a1", None);
    assert_eq!(h.reads("a2"), ["m1", "m2"]);
    h.apply(Event::MemoryDeleted { id: "m1".into() });
    assert_eq!(h.reads("a2"), ["m2"]);
    h.check("grants");
}

#[test]
fn an_expired_memory_is_read_by_no_one_from_its_expiry_on_even_asked_about_earlier() {
    let mut h = History::new();
    h.register("a1", "ann", true);
    h.store("m1", "a1", Some(h.at + 100));
    assert_eq!(h.reads("a1"), ["m1"]);
    h.at += 100;
    h.store("m2", "a1", None);
    assert_eq!(h.reads("a1"), ["m2"]);
    let a1 = h.agent("a1");
    assert_eq!(
        readable_by(&h.s, &a1, h.at - 1).len(),
        2,
        "before the expiry"
    );
    h.check("expiry");
}
