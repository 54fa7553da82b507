//! Readers' kept unions and norms, kept across events that cannot change them, against
//! a state's own answer without them: a seeded run of every kind of change, by the
//! reader, by its pool mates and by a stranger, with readers searching between (some
//! of them reading the same sets as another).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use crate::agents::RegistrationRequest;
use crate::engine::SeededEnv;
use crate::journal::MemoryJournal;
use crate::memories::{StoreRequest, UpdateRequest};
use crate::model::{Caller, MemoryKind, Permission, Scope};
use crate::pools::PoolRequest;
use crate::state::HandoffContext;
use crate::{Core, Limits};

const OP: Caller = Caller::Operator;

fn register(c: &mut Core<MemoryJournal, SeededEnv>, id: &str, owner: &str) {
    let req = RegistrationRequest::claude_code(id, owner);
    c.register(&OP, &req).unwrap();
}

fn pool(c: &mut Core<MemoryJournal, SeededEnv>, id: &str, owner: &str, admin: &str, team: bool) {
    let req = PoolRequest {
        name: format!("pool {id}"),
        owner_id: owner.into(),
        scope: Scope::Project,
        team: team.then(|| "core".to_string()),
        pool_id: Some(id.into()),
        metadata: None,
    };
    c.create_pool(&OP, Some(admin), &req).unwrap();
}

/// splitmix64.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) % n.max(1)
    }
}

#[test]
fn a_kept_union_and_norms_are_what_the_state_says_after_every_change() {
    let mut c = Core::new(
        MemoryJournal::default(),
        SeededEnv::new(1_700_000_000_000, 1_000, 3),
        Limits::default(),
    );
    c.init(Limits::default()).unwrap();
    for (id, owner) in [
        ("reader", "u-1"),
        ("mate", "u-1"),
        ("other", "u-1"),
        ("stranger", "u-2"),
        ("twin", "u-1"),
        ("idle-1", "u-3"),
        ("idle-2", "u-4"),
    ] {
        register(&mut c, id, owner);
    }
    pool(&mut c, "p", "u-1", "mate", false);
    pool(&mut c, "t1", "u-1", "mate", true);
    pool(&mut c, "t2", "u-1", "other", true);
    pool(&mut c, "q", "u-2", "stranger", false);
    c.join_pool(&OP, "p", "reader", Permission::Write).unwrap();
    c.join_pool(&OP, "t1", "reader", Permission::Read).unwrap();
    c.join_pool(&OP, "p", "twin", Permission::Read).unwrap();
    c.join_pool(&OP, "t1", "twin", Permission::Read).unwrap();
    let readers = ["reader", "twin", "mate", "stranger", "idle-1", "idle-2"];
    let mut rng = Rng(11);
    let authors = ["reader", "mate", "other", "stranger"];
    let mut written: Vec<(String, String, u64)> = Vec::new();
    let mut kept = 0;
    for step in 0..600u64 {
        let author = authors[rng.below(4) as usize];
        let pools: &[&str] = match author {
            "stranger" => &["q"],
            "other" => &["t2", "p"],
            _ => &["p", "t1"],
        };
        match rng.below(10) {
            // A note: private, shared, global, team, with a ttl.
            0..=4 => {
                let shared = rng.below(3) == 0;
                let scope = [
                    Scope::Project,
                    Scope::Global,
                    Scope::Team,
                    Scope::AgentPrivate,
                ][rng.below(4) as usize];
                let req = StoreRequest {
                    agent_id: author.into(),
                    content: format!(
                        "note {step} on the deploy queue {}",
                        "word ".repeat(step as usize % 30)
                    ),
                    kind: MemoryKind::Note,
                    tags: vec![],
                    memory_id: Some(format!("m{step}")),
                    pool_id: shared
                        .then(|| pools[rng.below(pools.len() as u64) as usize].to_string()),
                    scope: shared.then_some(scope),
                    ttl_seconds: (rng.below(5) == 0).then_some(1 + rng.below(4)),
                };
                if c.store_memory(&Caller::Agent(author.into()), &req).is_ok() {
                    written.push((format!("m{step}"), author.into(), 1));
                }
            }
            5 if !written.is_empty() => {
                let at = rng.below(written.len() as u64) as usize;
                let (id, author, version) = written[at].clone();
                let req = UpdateRequest {
                    agent_id: author.clone(),
                    memory_id: id,
                    content: Some(format!(
                        "rewritten at {step} {}",
                        "longer ".repeat(step as usize % 9)
                    )),
                    tags: None,
                    kind: None,
                    expected_version: version,
                };
                if c.update_memory(&Caller::Agent(author), &req).is_ok() {
                    written[at].2 += 1;
                }
            }
            6 if !written.is_empty() => {
                let at = rng.below(written.len() as u64) as usize;
                let (id, author, _) = written.remove(at);
                let _ = c.delete_memory(&Caller::Agent(author.clone()), &author, &id);
            }
            // A handoff to the reader, accepted (a grant), or left pending.
            7 if !written.is_empty() => {
                let (id, author, _) = written[rng.below(written.len() as u64) as usize].clone();
                if author != "reader" {
                    let ctx = HandoffContext {
                        task_description: "carry on".into(),
                        current_state: "{}".into(),
                        relevant_memories: vec![id],
                        relevant_files: vec![],
                    };
                    if let Ok(h) = c.initiate(&OP, &author, "reader", &ctx, None)
                        && rng.below(2) == 0
                    {
                        let _ = c.accept(&OP, &h.id, "reader");
                    }
                }
            }
            // Membership.
            8 => {
                let p = ["p", "t2", "q"][rng.below(3) as usize];
                if rng.below(2) == 0 {
                    let _ = c.join_pool(&OP, p, "reader", Permission::Read);
                } else {
                    let _ = c.leave_pool(&OP, p, "reader");
                }
            }
            // A refusal: an audit record alone.
            _ => {
                let _ = c.delete_memory(&Caller::Agent("stranger".into()), "reader", "m0");
            }
        }
        for id in readers {
            if rng.below(3) == 0 {
                let me = Caller::Agent(id.into());
                c.search_memories(&me, id, "deploy queue", 5).unwrap();
            }
        }
        let s = &c.engine.state;
        let now = s.memories.values().map(|m| m.updated_at).max().unwrap_or(0) + 1_500;
        for id in readers {
            let reader = s.agents.get(id).unwrap();
            let cached = s.visibility.last.of_reader(super::memo_key(reader), s.seq);
            kept += usize::from(cached.is_some());
            let got = super::readable_by(s, reader, now);
            let norms = super::readable_norms(s, reader, &got);
            let fresh = s.clone();
            let want = super::readable_by(&fresh, fresh.agents.get(id).unwrap(), now);
            assert_eq!(*got, *want, "step {step}, {id}");
            assert_eq!(
                norms,
                fresh.memory_index.norms_over(&want),
                "step {step}, {id}"
            );
        }
    }
    assert!(kept > 600, "a union was kept only {kept} times");
}

#[test]
fn readers_of_the_same_sets_share_one_kept_union() {
    let mut c = Core::new(
        MemoryJournal::default(),
        SeededEnv::new(1_700_000_000_000, 1_000, 3),
        Limits::default(),
    );
    c.init(Limits::default()).unwrap();
    for (id, owner) in [("a", "u-1"), ("b", "u-2"), ("c", "u-2"), ("d", "u-2")] {
        register(&mut c, id, owner);
    }
    let req = PoolRequest {
        name: "pool p".into(),
        owner_id: "u-2".into(),
        scope: Scope::Global,
        team: None,
        pool_id: Some("p".into()),
        metadata: None,
    };
    c.create_pool(&OP, Some("b"), &req).unwrap();
    c.join_pool(&OP, "p", "c", Permission::Read).unwrap();
    for (i, (author, scope)) in [
        ("a", None),
        ("b", Some(Scope::Global)),
        ("b", Some(Scope::User)),
    ]
    .into_iter()
    .enumerate()
    {
        let req = StoreRequest {
            agent_id: author.into(),
            content: format!("note {i} on the deploy queue"),
            kind: MemoryKind::Note,
            tags: vec![],
            memory_id: Some(format!("m{i}")),
            pool_id: scope.map(|_| "p".to_string()),
            scope,
            ttl_seconds: None,
        };
        c.store_memory(&Caller::Agent(author.into()), &req).unwrap();
    }
    let search = |c: &mut Core<MemoryJournal, SeededEnv>, id: &str| {
        let hits = c.search_memories(&Caller::Agent(id.into()), id, "deploy", 5);
        let mut ids: Vec<String> = hits.unwrap().into_iter().map(|h| h.memory.id).collect();
        ids.sort();
        ids
    };
    // `d` reads the global share alone, `c` (a member of `p`, of the sharer's owner)
    // the user share too, `a` its own note too: three sets.
    assert_eq!(search(&mut c, "d"), ["m1"]);
    assert_eq!(c.engine.state.visibility.last.len(), 1);
    assert_eq!(search(&mut c, "c"), ["m1", "m2"]);
    assert_eq!(search(&mut c, "a"), ["m0", "m1"]);
    assert_eq!(c.engine.state.visibility.last.len(), 3);
    // A fourth reader of the global share alone finds it kept.
    register(&mut c, "e", "u-3");
    assert_eq!(search(&mut c, "d"), ["m1"]);
    assert_eq!(
        c.engine.state.visibility.last.len(),
        1,
        "a registration forgets"
    );
    assert_eq!(search(&mut c, "e"), ["m1"]);
    assert_eq!(c.engine.state.visibility.last.len(), 1);
    // A private note of `a` forgets only the union holding `a`'s notes.
    assert_eq!(search(&mut c, "a"), ["m0", "m1"]);
    assert_eq!(search(&mut c, "c"), ["m1", "m2"]);
    assert_eq!(c.engine.state.visibility.last.len(), 3);
    let req = StoreRequest {
        agent_id: "a".into(),
        content: "another deploy note".into(),
        kind: MemoryKind::Note,
        tags: vec![],
        memory_id: Some("m3".into()),
        pool_id: None,
        scope: None,
        ttl_seconds: None,
    };
    c.store_memory(&Caller::Agent("a".into()), &req).unwrap();
    assert_eq!(c.engine.state.visibility.last.len(), 2);
    assert_eq!(search(&mut c, "a"), ["m0", "m1", "m3"]);
    assert_eq!(search(&mut c, "e"), ["m1"]);
    assert_eq!(c.engine.state.visibility.last.len(), 3);
}

mod entries {
    //! Kept unions against a fresh computation through random journal entries of every
    //! kind of event, applied whole or event by event with reads between (as a read
    //! between the events of one entry would see them), read by many agents at times
    //! before and after the entries', by the rules too.
    use super::Rng;
    use crate::access::memory_readable;
    use crate::events::{AuditRecord, Document, Entry, Event};
    use crate::model::{AgentType, Capability, DocumentKind, MemoryKind, Permission, Scope};
    use crate::state::{Agent, HandoffContext, State};
    use crate::visibility::{readable_by, readable_norms};
    use roaring::RoaringBitmap;

    const WORDS: [&str; 8] = [
        "deploy", "queue", "cache", "retry", "deploy", "lease", "queue", "deploy",
    ];

    fn pick<T: Clone>(rng: &mut Rng, items: &[T]) -> Option<T> {
        (!items.is_empty()).then(|| items[rng.below(items.len() as u64) as usize].clone())
    }

    fn text(rng: &mut Rng) -> String {
        let n = 1 + rng.below(12) as usize;
        (0..n)
            .map(|_| WORDS[rng.below(WORDS.len() as u64) as usize])
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn by_the_rules(s: &State, reader: &Agent, now: u64) -> RoaringBitmap {
        s.memories
            .values()
            .filter(|m| memory_readable(s, m, reader) && !m.is_expired(now))
            .map(|m| u32::try_from(m.n).unwrap())
            .collect()
    }

    struct Run {
        s: State,
        at: u64,
        next: u64,
        /// Every agent ever registered, as registered (kept after unregistration).
        ever: Vec<Agent>,
        hits: usize,
        reads: usize,
    }

    impl Run {
        /// The agent `id` as the state has it, or as it was registered.
        fn reader(&self, id: &str) -> Agent {
            self.s
                .agents
                .get(id)
                .cloned()
                .or_else(|| self.ever.iter().find(|a| a.id == id).cloned())
                .unwrap()
        }

        fn check(&mut self, rng: &mut Rng, what: &str) {
            if self.ever.is_empty() {
                return;
            }
            let fresh = self.s.clone();
            for _ in 0..1 + rng.below(8) {
                let id = pick(rng, &self.ever).unwrap().id;
                let reader = self.reader(&id);
                let now = match rng.below(5) {
                    0 => self.at.saturating_sub(300),
                    1 => self.at + 200,
                    2 => self.at + 2_000,
                    _ => self.at,
                };
                let s = &self.s;
                self.reads += 1;
                let memo = s
                    .visibility
                    .last
                    .of_reader(super::super::memo_key(&reader), s.seq);
                self.hits += usize::from(memo.is_some());
                let got = readable_by(s, &reader, now);
                let norms = readable_norms(s, &reader, &got);
                let want = readable_by(&fresh, &reader, now);
                assert_eq!(*got, *want, "{what}: {id} at {now}");
                assert_eq!(*got, by_the_rules(s, &reader, now), "{what}: {id} at {now}");
                let fresh_norms = fresh.memory_index.norms_over(&want);
                assert_eq!(norms, fresh_norms, "{what}: norms of {id} at {now}");
                let q = "deploy queue";
                assert_eq!(
                    s.memory_index.search_normed(q, 3, &got, norms),
                    fresh.memory_index.search_normed(q, 3, &want, fresh_norms),
                    "{what}: search of {id} at {now}"
                );
            }
        }

        /// One random event (or none), sometimes with the unshares a delete brings.
        fn events(&mut self, rng: &mut Rng) -> Vec<Event> {
            self.next += 1;
            let next = self.next;
            let s = &self.s;
            let agents: Vec<String> = s.agents.keys().cloned().collect();
            let ever: Vec<String> = self.ever.iter().map(|a| a.id.clone()).collect();
            let pools: Vec<String> = s.pools.keys().cloned().collect();
            let memories: Vec<String> = s.memories.keys().cloned().collect();
            let handoffs: Vec<String> = s.handoffs.keys().cloned().collect();
            let owners = ["ann", "bob", "cat"];
            let one = |e: Event| vec![e];
            match rng.below(100) {
                0..=4 => one(Event::AgentRegistered {
                    id: format!("a{next}"),
                    agent_type: AgentType::ClaudeCode,
                    owner_id: owners[rng.below(3) as usize].into(),
                    capabilities: if rng.below(4) == 0 {
                        vec![Capability::MemoryWrite]
                    } else {
                        vec![Capability::MemoryRead, Capability::MemoryWrite]
                    },
                    metadata: "{}".into(),
                    token_hash: format!("t{next}"),
                }),
                5 => pick(rng, &agents)
                    .map_or_else(Vec::new, |id| one(Event::AgentUnregistered { id })),
                6 => pick(rng, &agents)
                    .map_or_else(Vec::new, |id| one(Event::AgentDeactivated { id })),
                7 => pick(rng, &agents)
                    .map_or_else(Vec::new, |id| one(Event::AgentReactivated { id })),
                8 => pick(rng, &agents).map_or_else(Vec::new, |id| {
                    one(Event::AgentTokenRotated {
                        id,
                        token_hash: format!("r{next}"),
                    })
                }),
                9 => pick(rng, &agents).map_or_else(Vec::new, |agent_id| {
                    if rng.below(2) == 0 {
                        one(Event::SessionStarted {
                            agent_id,
                            session_id: format!("s{next}"),
                        })
                    } else {
                        one(Event::SessionEnded { agent_id })
                    }
                }),
                10..=12 => one(Event::PoolCreated {
                    id: format!("p{next}"),
                    name: "pool".into(),
                    owner_id: owners[rng.below(2) as usize].into(),
                    scope: Scope::Global,
                    team: [None, Some("red"), Some("blue")][rng.below(3) as usize]
                        .map(String::from),
                    metadata: "{}".into(),
                }),
                13 => pick(rng, &pools).map_or_else(Vec::new, |id| {
                    if rng.below(2) == 0 {
                        one(Event::PoolArchived { id })
                    } else {
                        one(Event::PoolDeleted {
                            id,
                            members: vec![],
                        })
                    }
                }),
                14..=21 => match (pick(rng, &pools), pick(rng, &agents)) {
                    (Some(pool_id), Some(agent_id)) => one(Event::MemberJoined {
                        pool_id,
                        agent_id,
                        permission: Permission::Write,
                    }),
                    _ => vec![],
                },
                22..=24 => match (pick(rng, &pools), pick(rng, &agents)) {
                    (Some(pool_id), Some(agent_id)) => one(Event::MemberLeft { pool_id, agent_id }),
                    _ => vec![],
                },
                // Private notes: the kind of change that keeps other readers' unions.
                25..=49 => pick(rng, &ever).map_or_else(Vec::new, |author| {
                    one(Event::MemoryStored {
                        id: format!("m{next}"),
                        author,
                        kind: MemoryKind::Note,
                        content: text(rng),
                        tags: vec![],
                        expires_at: match rng.below(6) {
                            0 | 1 => Some(self.at + 1 + rng.below(900)),
                            2 => Some(self.at.saturating_sub(rng.below(50))),
                            _ => None,
                        },
                        notes: None,
                        gated: true,
                    })
                }),
                50..=57 => pick(rng, &memories).map_or_else(Vec::new, |id| {
                    one(Event::MemoryUpdated {
                        id,
                        content: text(rng),
                        tags: vec![],
                        kind: MemoryKind::Fact,
                        notes: None,
                        gated: true,
                    })
                }),
                58..=62 => pick(rng, &memories).map_or_else(Vec::new, |id| {
                    let mut out: Vec<Event> = Vec::new();
                    if rng.below(3) != 0 {
                        for pool_id in &s.memories[&id].pools {
                            out.push(Event::MemoryUnshared {
                                pool_id: pool_id.clone(),
                                memory_id: id.clone(),
                                shared_by: None,
                                scope: None,
                            });
                        }
                    }
                    out.push(Event::MemoryDeleted { id });
                    out
                }),
                63..=77 => match (pick(rng, &pools), pick(rng, &memories)) {
                    (Some(pool_id), Some(memory_id)) => {
                        let shared_by = if rng.below(6) == 0 {
                            "never-registered".to_string()
                        } else {
                            pick(rng, &ever).unwrap()
                        };
                        one(Event::MemoryShared {
                            pool_id,
                            memory_id,
                            shared_by,
                            scope: Scope::ALL[rng.below(Scope::ALL.len() as u64) as usize],
                        })
                    }
                    _ => vec![],
                },
                78..=81 => {
                    let pool_id = pick(rng, &pools);
                    let shared: Vec<String> = pool_id
                        .as_ref()
                        .map(|p| s.pools[p].shares.keys().cloned().collect())
                        .unwrap_or_default();
                    match (pool_id, pick(rng, &shared)) {
                        (Some(pool_id), Some(memory_id)) => one(Event::MemoryUnshared {
                            pool_id,
                            memory_id,
                            shared_by: None,
                            scope: None,
                        }),
                        _ => vec![],
                    }
                }
                82..=85 => match (pick(rng, &agents), pick(rng, &agents)) {
                    (Some(source), Some(target)) => {
                        let mut granted: Vec<String> = (0..1 + rng.below(2))
                            .filter_map(|_| pick(rng, &memories))
                            .collect();
                        // An id stored later, if at all.
                        granted.push(format!("m{}", next + 1 + rng.below(3)));
                        let id = format!("h{next}");
                        let mut out = vec![Event::HandoffInitiated {
                            id: id.clone(),
                            source,
                            target,
                            context: HandoffContext {
                                task_description: "t".into(),
                                current_state: "{}".into(),
                                relevant_memories: granted.clone(),
                                relevant_files: vec![],
                            },
                            expires_at: self.at + 5_000,
                            notes: None,
                        }];
                        if rng.below(3) != 0 {
                            out.push(Event::HandoffAccepted { id, granted });
                        }
                        out
                    }
                    _ => vec![],
                },
                86..=90 => pick(rng, &handoffs).map_or_else(Vec::new, |id| {
                    one(match rng.below(8) {
                        0 => Event::HandoffRejected {
                            id,
                            reason: "no".into(),
                            notes: None,
                        },
                        1 => Event::HandoffCancelled { id },
                        2 => Event::HandoffCompleted {
                            id,
                            result: "{}".into(),
                            notes: None,
                        },
                        3 => Event::HandoffExpired { id },
                        4 => Event::HandoffRemoved { id },
                        5 => Event::HandoffInputRequested {
                            id,
                            question: "?".into(),
                            notes: None,
                        },
                        6 => Event::HandoffInputProvided {
                            id,
                            answer: "!".into(),
                            notes: None,
                        },
                        _ => Event::HandoffAccepted {
                            id,
                            granted: memories.iter().take(2).cloned().collect(),
                        },
                    })
                }),
                91 | 92 => one(Event::DocumentsIngested {
                    documents: vec![Document {
                        kind: DocumentKind::Decision,
                        id: format!("d{}", rng.below(3)),
                        title: "deploy".into(),
                        content: text(rng),
                        service: None,
                        path: None,
                        topic: Some("t".into()),
                        severity: None,
                        lines: None,
                    }],
                    owner: None,
                    notes: vec![],
                    gated: true,
                }),
                93 => one(Event::DocumentsRemoved {
                    kind: DocumentKind::Decision,
                    ids: vec![format!("d{}", rng.below(3))],
                }),
                _ => one(Event::Audited(AuditRecord {
                    actor: "operator".into(),
                    event_type: "x".into(),
                    outcome: "ok".into(),
                    detail: "{}".into(),
                    ..AuditRecord::default()
                })),
            }
        }

        fn note_registered(&mut self, events: &[Event]) {
            for e in events {
                if let Event::AgentRegistered { id, .. } = e
                    && let Some(a) = self.s.agents.get(id)
                    && !self.ever.iter().any(|b| b.id == *id)
                {
                    self.ever.push(a.clone());
                }
            }
        }
    }

    fn run(seed: u64, steps: u64) -> (usize, usize) {
        let mut rng = Rng(seed);
        let mut r = Run {
            s: State::new(16),
            at: 10_000,
            next: 0,
            ever: Vec::new(),
            hits: 0,
            reads: 0,
        };
        for step in 0..steps {
            r.at += rng.below(80);
            let mut events = Vec::new();
            for _ in 0..1 + rng.below(3) {
                events.extend(r.events(&mut rng));
            }
            let seq = r.s.seq + 1;
            let what = format!("seed {seed} step {step}");
            if rng.below(2) == 0 {
                let entry = Entry {
                    v: 1,
                    at: r.at,
                    events: events.clone(),
                };
                r.s.apply(seq, &entry);
                r.note_registered(&events);
            } else {
                // Event by event, reading between: then the entry's position.
                for e in &events {
                    r.s.evolve(seq, r.at, e);
                    r.note_registered(std::slice::from_ref(e));
                    r.check(&mut rng, &format!("{what} within the entry"));
                }
                let entry = Entry {
                    v: 1,
                    at: r.at,
                    events: vec![],
                };
                r.s.apply(seq, &entry);
            }
            r.check(&mut rng, &what);
        }
        (r.hits, r.reads)
    }

    #[test]
    fn kept_unions_are_what_a_fresh_state_says_through_random_entries() {
        let (mut hits, mut reads) = (0, 0);
        for seed in 1..=12 {
            let (h, r) = run(seed, 500);
            hits += h;
            reads += r;
        }
        // The kept unions were actually asked.
        assert!(hits * 4 > reads, "{hits} kept of {reads} reads");
    }
}

mod many_readers {
    //! More readers than kept unions and remembered readers: what is evicted or
    //! forgotten is computed again, and what is kept is still right.
    use crate::events::{Entry, Event};
    use crate::model::{AgentType, Capability, MemoryKind, Permission, Scope};
    use crate::state::State;
    use crate::visibility::{last, readable_by, readable_norms};

    fn apply(s: &mut State, at: u64, events: Vec<Event>) {
        let seq = s.seq + 1;
        s.apply(seq, &Entry { v: 1, at, events });
    }

    fn store(id: String, author: String, expires_at: Option<u64>) -> Event {
        Event::MemoryStored {
            id,
            author,
            kind: MemoryKind::Note,
            content: "deploy queue".into(),
            tags: vec![],
            expires_at,
            notes: None,
            gated: true,
        }
    }

    #[test]
    fn past_the_bounds_every_reader_still_reads_its_own_sets() {
        let mut s = State::new(16);
        let agents = 4_200usize;
        let mut events = Vec::new();
        for i in 0..agents {
            events.push(Event::AgentRegistered {
                id: format!("a{i}"),
                agent_type: AgentType::ClaudeCode,
                owner_id: format!("u{}", i % 7),
                capabilities: if i % 5 == 0 {
                    vec![Capability::MemoryWrite]
                } else {
                    vec![Capability::MemoryRead, Capability::MemoryWrite]
                },
                metadata: "{}".into(),
                token_hash: format!("t{i}"),
            });
        }
        for p in 0..3 {
            events.push(Event::PoolCreated {
                id: format!("p{p}"),
                name: "pool".into(),
                owner_id: "u0".into(),
                scope: Scope::Global,
                team: Some("red".into()),
                metadata: "{}".into(),
            });
        }
        apply(&mut s, 1_000, events);
        let mut events = Vec::new();
        for i in 0..agents {
            if i % 3 == 0 {
                events.push(Event::MemberJoined {
                    pool_id: format!("p{}", i % 2),
                    agent_id: format!("a{i}"),
                    permission: Permission::Write,
                });
            }
            // A private note for most: then most readers read sets of their own.
            if i % 4 != 0 {
                let ttl = (i % 11 == 0).then_some(1_500 + i as u64);
                events.push(store(format!("m{i}"), format!("a{i}"), ttl));
            }
        }
        events.push(store("g".into(), "a1".into(), None));
        for (pool, scope) in [
            ("p0", Scope::Global),
            ("p0", Scope::User),
            ("p1", Scope::Team),
        ] {
            events.push(Event::MemoryShared {
                pool_id: pool.into(),
                memory_id: if scope == Scope::Global {
                    "g".into()
                } else {
                    format!("m{}", pool.len() * 3 + 1)
                },
                shared_by: "a3".into(),
                scope,
            });
        }
        apply(&mut s, 1_100, events);
        let ids: Vec<String> = (0..agents).map(|i| format!("a{i}")).collect();
        let mut at = 1_100;
        for round in 0..6u64 {
            let fresh = s.clone();
            // A different order each round, so the least recently used differ.
            let step = [1usize, 7, 13, 4_199, 31, 2][round as usize];
            let now = at + round * 700;
            for k in 0..agents {
                let id = &ids[(k * step + round as usize) % agents];
                let reader = s.agents.get(id).unwrap();
                let got = readable_by(&s, reader, now);
                let norms = readable_norms(&s, reader, &got);
                let want = readable_by(&fresh, fresh.agents.get(id).unwrap(), now);
                assert_eq!(*got, *want, "round {round}, {id}");
                assert_eq!(
                    norms,
                    fresh.memory_index.norms_over(&want),
                    "round {round}, {id}"
                );
            }
            assert!(s.visibility.last.len() <= last::MAX_KEPT);
            // Private notes and deletes (forgetting their authors' unions), and a
            // change of everyone's sets every other round.
            at += 10;
            let mut events = vec![
                store(
                    format!("n{round}"),
                    ids[(round as usize * 97) % agents].clone(),
                    None,
                ),
                Event::MemoryDeleted {
                    id: format!("m{}", round * 4 + 5),
                },
            ];
            if round % 2 == 1 {
                events.push(Event::MemberLeft {
                    pool_id: "p0".into(),
                    agent_id: format!("a{}", round * 6),
                });
            }
            apply(&mut s, at, events);
        }
    }
}
