//! Readers' kept unions and norms, kept across events that cannot change them, against
//! a state's own answer without them: a seeded run of every kind of change, by the
//! reader, by its pool mates and by a stranger, with readers searching between (some
//! of them reading the same sets as another).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use crate::agents::RegistrationRequest;
use crate::engine::SeededEnv;
use crate::journal::MemoryJournal;
use crate::memories::{StoreRequest, UpdateRequest};
use crate::model::{AgentType, Caller, MemoryKind, Permission, Scope};
use crate::pools::PoolRequest;
use crate::state::HandoffContext;
use crate::{Core, Limits};

const OP: Caller = Caller::Operator;

fn register(c: &mut Core<MemoryJournal, SeededEnv>, id: &str, owner: &str) {
    let req = RegistrationRequest {
        agent_type: AgentType::ClaudeCode,
        owner_id: owner.into(),
        agent_id: Some(id.into()),
        capabilities: None,
        metadata: None,
    };
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
            let cached = s.visibility.last.of_reader(id, s.seq);
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
