//! The last reader's union and norms, kept across events that cannot change them,
//! against a state's own answer without them: a seeded run of every kind of change, by
//! the reader, by its pool mates and by a stranger, with the reader searching between.
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
    ] {
        register(&mut c, id, owner);
    }
    pool(&mut c, "p", "u-1", "mate", false);
    pool(&mut c, "t1", "u-1", "mate", true);
    pool(&mut c, "t2", "u-1", "other", true);
    pool(&mut c, "q", "u-2", "stranger", false);
    c.join_pool(&OP, "p", "reader", Permission::Write).unwrap();
    c.join_pool(&OP, "t1", "reader", Permission::Read).unwrap();
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
        let me = Caller::Agent("reader".into());
        if rng.below(3) != 0 {
            c.search_memories(&me, "reader", "deploy queue", 5).unwrap();
        }
        let s = &c.engine.state;
        let now = s.memories.values().map(|m| m.updated_at).max().unwrap_or(0) + 1_500;
        let reader = s.agents.get("reader").unwrap();
        let cached = s.visibility.last.get(&super::last::Key {
            reader: "reader".into(),
            seq: s.seq,
            global: true,
        });
        kept += usize::from(cached.is_some());
        let got = super::readable_by(s, reader, now);
        let norms = super::readable_norms(s, reader, &got);
        let fresh = s.clone();
        let want = super::readable_by(&fresh, fresh.agents.get("reader").unwrap(), now);
        assert_eq!(*got, *want, "step {step}");
        assert_eq!(norms, fresh.memory_index.norms_over(&want), "step {step}");
    }
    assert!(kept > 50, "the union was kept only {kept} times");
}
