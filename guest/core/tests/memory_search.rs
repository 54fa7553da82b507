//! Memory search through a core answers with the memories the reader's scopes reach and
//! drops expired ones, before and after a snapshot restore.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use maas_core::agents::RegistrationRequest;
use maas_core::memories::StoreRequest;
use maas_core::model::{MemoryKind, Permission, Scope};
use maas_core::pools::PoolRequest;
use maas_core::{Caller, Core, Limits, MemoryJournal, SeededEnv};

type TestCore = Core<MemoryJournal, SeededEnv>;

fn core(journal: MemoryJournal, now: u64) -> TestCore {
    let mut core = Core::new(journal, SeededEnv::new(now, 0, 7), Limits::default());
    core.init(Limits::default()).unwrap();
    core
}

fn found(core: &mut TestCore, reader: &str) -> Vec<String> {
    let hits = core
        .search_memories(&Caller::Operator, reader, "deploy", 20)
        .unwrap();
    let mut ids: Vec<String> = hits.into_iter().map(|h| h.memory.id).collect();
    ids.sort();
    ids
}

#[test]
fn search_finds_what_the_scopes_reach_and_drops_expired_memories_also_after_restore() {
    let op = Caller::Operator;
    let mut c = core(MemoryJournal::default(), 1_000_000);
    for (id, owner) in [("a1", "ann"), ("a2", "ann"), ("a3", "bob"), ("a4", "bob")] {
        let req = RegistrationRequest::claude_code(id, owner);
        c.register(&op, &req).unwrap();
    }
    let pool = PoolRequest {
        name: "ops".into(),
        owner_id: "ann".into(),
        scope: Scope::Global,
        team: None,
        pool_id: Some("p1".into()),
        metadata: None,
    };
    c.create_pool(&op, None, &pool).unwrap();
    c.join_pool(&op, "p1", "a1", Permission::Write).unwrap();
    c.join_pool(&op, "p1", "a2", Permission::Read).unwrap();
    c.join_pool(&op, "p1", "a3", Permission::Read).unwrap();
    let shares = [
        ("m-user", Some(Scope::User), None),
        ("m-project", Some(Scope::Project), None),
        ("m-global", Some(Scope::Global), Some(10)),
        ("m-own", None, None),
    ];
    for (id, scope, ttl) in shares {
        let req = StoreRequest {
            agent_id: "a1".into(),
            content: format!("deploy notes {id}"),
            kind: MemoryKind::Note,
            tags: vec![],
            memory_id: Some(id.into()),
            pool_id: scope.map(|_| "p1".into()),
            scope,
            ttl_seconds: ttl,
        };
        c.store_memory(&op, &req).unwrap();
    }
    let everything = ["m-global", "m-own", "m-project", "m-user"];
    assert_eq!(found(&mut c, "a1"), everything);
    assert_eq!(found(&mut c, "a2"), ["m-global", "m-project", "m-user"]);
    assert_eq!(found(&mut c, "a3"), ["m-global", "m-project"]);
    assert_eq!(found(&mut c, "a4"), ["m-global"]);

    c.engine.env.now += 10_000;
    assert_eq!(found(&mut c, "a2"), ["m-project", "m-user"]);
    assert!(found(&mut c, "a4").is_empty());

    let seq = c.snapshot_begin().unwrap();
    let mut chunks = Vec::new();
    while let Some(chunk) = c.snapshot_next(4096).unwrap() {
        chunks.push(chunk);
    }
    let journal = c.engine.journal.clone();
    let mut restored = Core::new(journal, SeededEnv::new(0, 0, 9), Limits::default());
    restored.restore_begin(seq).unwrap();
    for chunk in &chunks {
        restored.restore_chunk(chunk).unwrap();
    }
    restored.restore_finish().unwrap();
    restored.init(Limits::default()).unwrap();
    restored.engine.env.now = 1_005_000;
    assert_eq!(found(&mut restored, "a1"), everything, "before the expiry");
    restored.engine.env.now = 1_010_000;
    assert_eq!(found(&mut restored, "a1"), ["m-own", "m-project", "m-user"]);
    assert_eq!(found(&mut restored, "a3"), ["m-project"]);
}
