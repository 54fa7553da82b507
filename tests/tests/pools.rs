//! Shared memory pools, driven through the host: who creates, joins, leaves and manages
//! a pool, how far each share scope reaches, and the pool limits.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use agents::{AgentType, Capability};
use maas_tests::*;
use types::Permission::{self, Admin, Read, Write};
use types::Scope::{self, AgentPrivate, Global, Project, Team, User};
use types::{Caller, Error};

// ---- calls ----

fn request(id: &str, owner: &str, scope: Scope, team: Option<&str>) -> pools::PoolRequest {
    pools::PoolRequest {
        name: format!("pool {id}"),
        owner_id: owner.to_string(),
        scope,
        team: team.map(str::to_string),
        pool_id: Some(id.to_string()),
        metadata: None,
    }
}

fn create(
    h: &mut Harness,
    caller: &Caller,
    acting: Option<&str>,
    req: &pools::PoolRequest,
) -> R<pools::Pool> {
    h.rt.call(|c, s| c.maas_core_pools().call_create(s, caller, acting, req))
}

fn get(h: &mut Harness, caller: &Caller, pool: &str) -> R<pools::Pool> {
    h.rt.call(|c, s| c.maas_core_pools().call_get(s, caller, pool))
}

fn list(h: &mut Harness, caller: &Caller, owner: Option<&str>) -> R<Vec<String>> {
    h.rt.call(|c, s| {
        c.maas_core_pools()
            .call_list(s, caller, owner, Some(500), None)
    })
    .map(|pools| pools.items.into_iter().map(|p| p.id).collect())
}

fn join(
    h: &mut Harness,
    caller: &Caller,
    pool: &str,
    member: &str,
    perm: Permission,
) -> R<pools::Member> {
    h.rt.call(|c, s| c.maas_core_pools().call_join(s, caller, pool, member, perm))
}

fn leave(h: &mut Harness, caller: &Caller, pool: &str, member: &str) -> R<()> {
    h.rt.call(|c, s| c.maas_core_pools().call_leave(s, caller, pool, member))
}

fn remove(
    h: &mut Harness,
    caller: &Caller,
    pool: &str,
    acting: Option<&str>,
    member: &str,
) -> R<()> {
    h.rt.call(|c, s| {
        c.maas_core_pools()
            .call_remove_member(s, caller, pool, acting, member)
    })
}

fn members(h: &mut Harness, caller: &Caller, pool: &str) -> R<Vec<(String, Permission)>> {
    h.rt.call(|c, s| {
        c.maas_core_pools()
            .call_members(s, caller, pool, Some(500), None)
    })
    .map(|ms| {
        ms.items
            .into_iter()
            .map(|m| (m.agent_id, m.permission))
            .collect()
    })
}

fn share(
    h: &mut Harness,
    caller: &Caller,
    pool: &str,
    memory: &str,
    sharer: &str,
    scope: Scope,
) -> R<pools::SharedMemory> {
    h.rt.call(|c, s| {
        c.maas_core_pools()
            .call_share(s, caller, pool, memory, sharer, scope)
    })
}

fn unshare(h: &mut Harness, caller: &Caller, pool: &str, memory: &str, acting: &str) -> R<()> {
    h.rt.call(|c, s| {
        c.maas_core_pools()
            .call_unshare(s, caller, pool, memory, acting)
    })
}

/// The memory ids `reader` sees in `pool` at most `max` wide, as the reader itself.
fn query(h: &mut Harness, pool: &str, reader: &str, max: Scope) -> R<Vec<String>> {
    h.rt.call(|c, s| {
        c.maas_core_pools()
            .call_query_shared(s, &agent(reader), pool, reader, max, Some(500), None)
    })
    .map(|shares| shares.items.into_iter().map(|sh| sh.memory_id).collect())
}

fn archive(h: &mut Harness, caller: &Caller, pool: &str, acting: Option<&str>) -> R<()> {
    h.rt.call(|c, s| c.maas_core_pools().call_archive(s, caller, pool, acting))
}

fn delete(h: &mut Harness, caller: &Caller, pool: &str, acting: Option<&str>) -> R<()> {
    h.rt.call(|c, s| c.maas_core_pools().call_delete(s, caller, pool, acting))
}

fn store_request(author: &str, id: &str, content: &str) -> memories::StoreRequest {
    memories::StoreRequest {
        agent_id: author.to_string(),
        content: content.to_string(),
        kind: memories::MemoryKind::Note,
        tags: vec![],
        memory_id: Some(id.to_string()),
        pool_id: None,
        scope: None,
        ttl_seconds: None,
    }
}

fn store(h: &mut Harness, req: &memories::StoreRequest) -> R<memories::Memory> {
    let caller = agent(&req.agent_id);
    h.rt.call(|c, s| c.maas_core_memories().call_store_memory(s, &caller, req))
}

/// Stores a note by `author` whose content carries the word `marker`.
fn note(h: &mut Harness, author: &str, id: &str, marker: &str) {
    store(
        h,
        &store_request(author, id, &format!("a note about {marker}")),
    )
    .unwrap();
}

/// True if `reader` can get memory `id`, and (checked to agree) finds it by searching `word`.
fn reads(h: &mut Harness, reader: &str, id: &str, word: &str) -> bool {
    let me = agent(reader);
    let got =
        h.rt.call(|c, s| c.maas_core_memories().call_get(s, &me, reader, id));
    let found =
        h.rt.call(|c, s| c.maas_core_memories().call_search(s, &me, reader, word, 10))
            .unwrap()
            .iter()
            .any(|hit| hit.memory.id == id);
    match got {
        Ok(m) => {
            assert!(found, "{reader} gets {id} but does not find it");
            assert_eq!(m.id, id);
            true
        }
        Err(Error::NotFound(_)) => {
            assert!(!found, "{reader} finds {id} but cannot get it");
            false
        }
        Err(e) => panic!("{reader} get {id}: {e:?}"),
    }
}

/// Audit entries whose actor or target is `agent`, of `event_type`.
/// Owner `u1`: `admin` (pool admin), `writer` and `reader` (members), `outsider` (not a
/// member). Owner `u2`: `guest` (member at write) and `stranger` (not a member).
/// Pool `p` of `u1` at scope `global`, team `core`, created by `admin`.
fn pool_world() -> Harness {
    let mut h = Harness::new();
    for id in ["admin", "writer", "reader", "outsider"] {
        h.register(id, AgentType::ClaudeCode, "u1");
    }
    for id in ["guest", "stranger"] {
        h.register(id, AgentType::ClaudeCode, "u2");
    }
    create(
        &mut h,
        &op(),
        Some("admin"),
        &request("p", "u1", Global, Some("core")),
    )
    .unwrap();
    join(&mut h, &agent("admin"), "p", "writer", Write).unwrap();
    join(&mut h, &agent("admin"), "p", "reader", Read).unwrap();
    join(&mut h, &agent("admin"), "p", "guest", Write).unwrap();
    h
}

// ---- creating ----

#[test]
fn the_operator_creates_a_pool_for_any_owner_without_joining_it() {
    let mut h = Harness::new();
    let pool = create(
        &mut h,
        &op(),
        None,
        &request("p", "anyone", Project, Some("core")),
    )
    .unwrap();
    assert_eq!(
        (pool.id.as_str(), pool.owner_id.as_str(), pool.name.as_str()),
        ("p", "anyone", "pool p")
    );
    assert_eq!((pool.scope, pool.team.as_deref()), (Project, Some("core")));
    assert_eq!(
        (pool.member_count, pool.share_count, pool.archived),
        (0, 0, false)
    );
    assert_eq!((pool.metadata.as_str(), pool.created_at), ("{}", T0));
    assert!(members(&mut h, &op(), "p").unwrap().is_empty());
    let mut fresh = request("x", "anyone", User, None);
    fresh.pool_id = None;
    let fresh = create(&mut h, &op(), None, &fresh).unwrap();
    assert_eq!(fresh.id.len(), 36);
}

#[test]
fn an_agent_creates_pools_only_for_its_own_owner_and_becomes_their_admin() {
    let mut h = Harness::new();
    h.register("a1", AgentType::ClaudeCode, "u1");
    refused_and_audited(&mut h, "a1", |h| {
        create(h, &agent("a1"), None, &request("p", "u2", Project, None))
    });
    let pool = create(
        &mut h,
        &agent("a1"),
        None,
        &request("p", "u1", Project, None),
    )
    .unwrap();
    assert_eq!(pool.member_count, 1);
    assert_eq!(
        members(&mut h, &op(), "p").unwrap(),
        [("a1".to_string(), Admin)]
    );
    create(
        &mut h,
        &op(),
        Some("a1"),
        &request("q", "u1", Project, None),
    )
    .unwrap();
    assert_eq!(
        members(&mut h, &op(), "q").unwrap(),
        [("a1".to_string(), Admin)]
    );
}

#[test]
fn an_agent_without_memory_write_cannot_create_a_pool() {
    let mut h = Harness::new();
    h.register("pipe", AgentType::CustomPipeline, "u1");
    refused_and_audited(&mut h, "pipe", |h| {
        create(h, &agent("pipe"), None, &request("p", "u1", Project, None))
    });
    not_found(get(&mut h, &op(), "p"));
}

#[test]
fn create_refuses_malformed_names_ids_teams_owners_and_metadata() {
    let mut h = Harness::new();
    let long_id = "p".repeat(129);
    for bad in ["", long_id.as_str(), "bad id", "p/1"] {
        invalid(
            create(&mut h, &op(), None, &request(bad, "u1", User, None)),
            "pool_id",
        );
        invalid(
            create(&mut h, &op(), None, &request("p", bad, User, None)),
            "owner_id",
        );
        if !bad.is_empty() {
            invalid(
                create(&mut h, &op(), None, &request("p", "u1", User, Some(bad))),
                "team",
            );
        }
    }
    invalid(
        create(&mut h, &op(), None, &request("p", "u1", User, Some(""))),
        "team",
    );
    for name in [String::new(), "   ".to_string(), "n".repeat(257)] {
        let mut req = request("p", "u1", User, None);
        req.name = name;
        invalid(create(&mut h, &op(), None, &req), "name");
    }
    let big = format!(r#"{{"k":"{}"}}"#, "x".repeat(16 * 1024));
    for meta in ["[]", "7", "{oops", big.as_str()] {
        let mut req = request("p", "u1", User, None);
        req.metadata = Some(meta.to_string());
        invalid(create(&mut h, &op(), None, &req), "metadata");
    }
    let mut req = request("p", "u1", User, None);
    req.name = "n".repeat(256);
    req.metadata = Some(r#"{"purpose": "tests"}"#.to_string());
    let pool = create(&mut h, &op(), None, &req).unwrap();
    assert_eq!(pool.metadata, r#"{"purpose":"tests"}"#);
    assert_eq!(h.stats().pools, 1);
}

#[test]
fn a_pool_id_is_never_reused_even_after_delete() {
    let mut h = Harness::new();
    create(&mut h, &op(), None, &request("p", "u1", User, None)).unwrap();
    invalid(
        create(&mut h, &op(), None, &request("p", "u2", User, None)),
        "pool_id",
    );
    delete(&mut h, &op(), "p", None).unwrap();
    invalid(
        create(&mut h, &op(), None, &request("p", "u1", User, None)),
        "pool_id",
    );
}

#[test]
fn a_taken_pool_id_is_refused_alike_whoever_holds_it() {
    let mut h = Harness::new();
    h.register("a1", agents::AgentType::ClaudeCode, "u1");
    create(&mut h, &op(), None, &request("foreign", "u2", User, None)).unwrap();
    create(
        &mut h,
        &agent("a1"),
        None,
        &request("mine", "u1", User, None),
    )
    .unwrap();
    let reason = |r: R<pools::Pool>| match r {
        Err(Error::InvalidInput(i)) => (i.field, i.reason),
        other => panic!("expected invalid-input, got {other:?}"),
    };
    let foreign = reason(create(
        &mut h,
        &agent("a1"),
        None,
        &request("foreign", "u1", User, None),
    ));
    let own = reason(create(
        &mut h,
        &agent("a1"),
        None,
        &request("mine", "u1", User, None),
    ));
    assert_eq!(foreign, own);
    assert!(!foreign.1.contains("foreign") && !foreign.1.contains("taken"));
}

// ---- seeing ----

#[test]
fn a_pool_is_visible_to_the_operator_its_members_and_its_owners_agents_only() {
    let mut h = pool_world();
    create(
        &mut h,
        &op(),
        None,
        &request("u2-pool", "u2", Project, None),
    )
    .unwrap();
    for who in ["admin", "reader", "outsider", "guest"] {
        assert_eq!(
            get(&mut h, &agent(who), "p").unwrap().member_count,
            4,
            "{who}"
        );
        assert_eq!(members(&mut h, &agent(who), "p").unwrap().len(), 4, "{who}");
    }
    not_found(get(&mut h, &agent("stranger"), "p"));
    not_found(members(&mut h, &agent("stranger"), "p"));
    not_found(get(&mut h, &op(), "nope"));
    invalid(get(&mut h, &op(), "bad id"), "pool_id");
    assert_eq!(list(&mut h, &op(), None).unwrap(), ["p", "u2-pool"]);
    assert_eq!(list(&mut h, &op(), Some("u2")).unwrap(), ["u2-pool"]);
    assert_eq!(
        list(&mut h, &agent("guest"), None).unwrap(),
        ["p", "u2-pool"]
    );
    assert_eq!(list(&mut h, &agent("stranger"), None).unwrap(), ["u2-pool"]);
    assert_eq!(list(&mut h, &agent("outsider"), None).unwrap(), ["p"]);
    assert!(
        list(&mut h, &agent("outsider"), Some("u2"))
            .unwrap()
            .is_empty()
    );
    invalid(list(&mut h, &op(), Some("bad id")), "owner_id");
}

#[test]
fn pools_members_and_shares_come_back_in_creation_order() {
    let mut h = Harness::new();
    for id in ["zed", "amy", "kim"] {
        h.register(id, AgentType::ClaudeCode, "u1");
    }
    for id in ["zulu", "alpha", "mike"] {
        create(&mut h, &op(), None, &request(id, "u1", Project, None)).unwrap();
    }
    assert_eq!(
        list(&mut h, &op(), None).unwrap(),
        ["zulu", "alpha", "mike"]
    );
    for id in ["zed", "amy", "kim"] {
        join(&mut h, &op(), "alpha", id, Write).unwrap();
    }
    h.clock.advance(5_000);
    let again = join(&mut h, &op(), "alpha", "zed", Read).unwrap();
    assert_eq!((again.permission, again.joined_at), (Read, T0));
    let names: Vec<String> = members(&mut h, &op(), "alpha")
        .unwrap()
        .into_iter()
        .map(|m| m.0)
        .collect();
    assert_eq!(names, ["zed", "amy", "kim"]);
    for id in ["m-z", "m-a", "m-k"] {
        note(&mut h, "amy", id, "ordering");
        share(&mut h, &agent("amy"), "alpha", id, "amy", Project).unwrap();
    }
    share(&mut h, &agent("amy"), "alpha", "m-z", "amy", User).unwrap();
    assert_eq!(
        query(&mut h, "alpha", "amy", Global).unwrap(),
        ["m-z", "m-a", "m-k"]
    );
}

// ---- joining ----

#[test]
fn the_operator_an_admin_or_an_agent_of_the_owner_adds_members() {
    let mut h = pool_world();
    h.register("new1", AgentType::ClaudeCode, "u2");
    h.register("new2", AgentType::ClaudeCode, "u3");
    h.register("new3", AgentType::ClaudeCode, "u1");
    join(&mut h, &op(), "p", "new1", Admin).unwrap();
    join(&mut h, &agent("admin"), "p", "new2", Admin).unwrap();
    let m = join(&mut h, &agent("outsider"), "p", "new3", Write).unwrap();
    assert_eq!(
        (m.agent_id.as_str(), m.permission, m.joined_at),
        ("new3", Write, T0)
    );
    join(&mut h, &agent("outsider"), "p", "outsider", Read).unwrap();
    assert_eq!(get(&mut h, &op(), "p").unwrap().member_count, 8);
}

#[test]
fn only_the_operator_or_an_admin_grants_or_changes_admin() {
    let mut h = pool_world();
    refused_and_audited(&mut h, "outsider", |h| {
        join(h, &agent("outsider"), "p", "outsider", Admin)
    });
    refused_and_audited(&mut h, "writer", |h| {
        join(h, &agent("writer"), "p", "writer", Admin)
    });
    refused_and_audited(&mut h, "writer", |h| {
        join(h, &agent("writer"), "p", "admin", Read)
    });
    join(&mut h, &agent("admin"), "p", "writer", Admin).unwrap();
    join(&mut h, &agent("writer"), "p", "admin", Read).unwrap();
    join(&mut h, &op(), "p", "admin", Admin).unwrap();
    let perms = members(&mut h, &op(), "p").unwrap();
    assert_eq!(perms[0], ("admin".to_string(), Admin));
    assert_eq!(perms[1], ("writer".to_string(), Admin));
}

#[test]
fn an_agent_of_another_owner_cannot_add_itself_or_others() {
    let mut h = pool_world();
    not_found(join(&mut h, &agent("stranger"), "p", "stranger", Read));
    refused_and_audited(&mut h, "guest", |h| {
        join(h, &agent("guest"), "p", "stranger", Read)
    });
    refused_and_audited(&mut h, "guest", |h| {
        join(h, &agent("guest"), "p", "guest", Admin)
    });
    assert_eq!(get(&mut h, &op(), "p").unwrap().member_count, 4);
}

#[test]
fn an_agent_of_the_owner_adds_only_its_owner_s_agents_with_memory_write() {
    let mut h = pool_world();
    h.register_with(
        "pipe",
        AgentType::CustomPipeline,
        "u1",
        Some(vec![Capability::MemoryRead]),
    );
    h.register("new1", AgentType::ClaudeCode, "u1");
    // Adding a member or a writer is a write: an agent of the owner without
    // memory_write adds nobody and joins only to read.
    refused_and_audited(&mut h, "pipe", |h| {
        join(h, &agent("pipe"), "p", "pipe", Write)
    });
    refused_and_audited(&mut h, "pipe", |h| {
        join(h, &agent("pipe"), "p", "new1", Read)
    });
    join(&mut h, &agent("pipe"), "p", "pipe", Read).unwrap();
    // An agent of another owner is added by an admin or the operator only.
    let why = denied(join(&mut h, &agent("outsider"), "p", "stranger", Read));
    assert!(why.contains("another owner"), "{why}");
    // Another member's permission is the admins' to change; one's own is not.
    refused_and_audited(&mut h, "outsider", |h| {
        join(h, &agent("outsider"), "p", "writer", Read)
    });
    join(&mut h, &agent("outsider"), "p", "outsider", Read).unwrap();
    join(&mut h, &agent("outsider"), "p", "outsider", Write).unwrap();
    join(&mut h, &agent("outsider"), "p", "writer", Write).unwrap();
    join(&mut h, &agent("admin"), "p", "stranger", Read).unwrap();
    let perms = members(&mut h, &op(), "p").unwrap();
    assert!(perms.contains(&("writer".to_string(), Write)), "{perms:?}");
    assert!(perms.contains(&("pipe".to_string(), Read)), "{perms:?}");
    assert!(!perms.iter().any(|(id, _)| id == "new1"));
}

#[test]
fn a_deactivated_agent_of_another_owner_answers_as_a_missing_one() {
    let mut h = pool_world();
    h.register("gone", AgentType::ClaudeCode, "u2");
    h.rt.call(|c, s| c.maas_core_agents().call_deactivate(s, &op(), "gone"))
        .unwrap();
    // The pool's admin (owner u1) cannot tell it from an agent that never was.
    let gone = not_found(join(&mut h, &agent("admin"), "p", "gone", Read));
    let ghost = not_found(join(&mut h, &agent("admin"), "p", "ghost", Read));
    assert_eq!(gone.replace("gone", "X"), ghost.replace("ghost", "X"));
    // Its own owner's agents and the operator are told why.
    invalid(join(&mut h, &op(), "p", "gone", Read), "agent_id");
}

#[test]
fn join_refuses_unknown_pools_and_agents_inactive_agents_and_archived_pools() {
    let mut h = pool_world();
    not_found(join(&mut h, &op(), "nope", "outsider", Read));
    not_found(join(&mut h, &op(), "p", "ghost", Read));
    invalid(join(&mut h, &op(), "p", "bad id", Read), "agent_id");
    h.rt.call(|c, s| c.maas_core_agents().call_deactivate(s, &op(), "outsider"))
        .unwrap();
    invalid(join(&mut h, &op(), "p", "outsider", Read), "agent_id");
    archive(&mut h, &op(), "p", None).unwrap();
    invalid(join(&mut h, &op(), "p", "stranger", Read), "pool_id");
}

// ---- leaving and removing ----

#[test]
fn an_agent_leaves_by_itself_and_its_shares_stay() {
    let mut h = pool_world();
    note(&mut h, "writer", "m", "leaving");
    share(&mut h, &agent("writer"), "p", "m", "writer", Project).unwrap();
    refused_and_audited(&mut h, "reader", |h| {
        leave(h, &agent("reader"), "p", "writer")
    });
    leave(&mut h, &agent("writer"), "p", "writer").unwrap();
    not_found(leave(&mut h, &agent("writer"), "p", "writer"));
    assert_eq!(query(&mut h, "p", "reader", Global).unwrap(), ["m"]);
    leave(&mut h, &op(), "p", "reader").unwrap();
    let left: Vec<String> = members(&mut h, &op(), "p")
        .unwrap()
        .into_iter()
        .map(|m| m.0)
        .collect();
    assert_eq!(left, ["admin", "guest"]);
    not_found(leave(&mut h, &agent("stranger"), "p", "stranger"));
    not_found(leave(&mut h, &agent("outsider"), "p", "outsider"));
}

#[test]
fn only_admins_and_the_operator_remove_other_members() {
    let mut h = pool_world();
    refused_and_audited(&mut h, "writer", |h| {
        remove(h, &agent("writer"), "p", None, "reader")
    });
    refused_and_audited(&mut h, "outsider", |h| {
        remove(h, &agent("outsider"), "p", Some("outsider"), "reader")
    });
    refused_and_audited(&mut h, "writer", |h| {
        remove(h, &agent("writer"), "p", Some("admin"), "reader")
    });
    remove(&mut h, &agent("admin"), "p", None, "reader").unwrap();
    remove(&mut h, &op(), "p", Some("admin"), "writer").unwrap();
    remove(&mut h, &op(), "p", None, "guest").unwrap();
    not_found(remove(&mut h, &op(), "p", None, "guest"));
    not_found(remove(&mut h, &op(), "nope", None, "guest"));
    invalid(remove(&mut h, &op(), "p", None, ""), "member_id");
    let left: Vec<String> = members(&mut h, &op(), "p")
        .unwrap()
        .into_iter()
        .map(|m| m.0)
        .collect();
    assert_eq!(left, ["admin"]);
}

// ---- admin powers ----

#[test]
fn only_admins_and_the_operator_archive_and_delete_a_pool() {
    let mut h = pool_world();
    for who in ["writer", "outsider"] {
        refused_and_audited(&mut h, who, |h| archive(h, &agent(who), "p", None));
        refused_and_audited(&mut h, who, |h| delete(h, &agent(who), "p", None));
    }
    not_found(archive(&mut h, &agent("stranger"), "p", None));
    archive(&mut h, &agent("admin"), "p", None).unwrap();
    assert!(get(&mut h, &op(), "p").unwrap().archived);
    invalid(archive(&mut h, &op(), "p", None), "pool_id");
    not_found(archive(&mut h, &op(), "nope", None));
    create(&mut h, &op(), None, &request("q", "u1", User, None)).unwrap();
    archive(&mut h, &op(), "q", None).unwrap();
}

#[test]
fn deleting_a_pool_drops_memberships_and_shares_but_keeps_the_memories() {
    let mut h = pool_world();
    note(&mut h, "writer", "m", "deletion");
    share(&mut h, &agent("writer"), "p", "m", "writer", Project).unwrap();
    assert!(reads(&mut h, "reader", "m", "deletion"));
    delete(&mut h, &agent("admin"), "p", None).unwrap();
    not_found(get(&mut h, &op(), "p"));
    not_found(delete(&mut h, &op(), "p", None));
    assert!(list(&mut h, &op(), None).unwrap().is_empty());
    assert!(
        reads(&mut h, "writer", "m", "deletion"),
        "the author keeps the memory"
    );
    assert!(
        !reads(&mut h, "reader", "m", "deletion"),
        "the share went with the pool"
    );
    let stats = h.stats();
    assert_eq!((stats.pools, stats.shares, stats.memories), (0, 0, 1));
}

#[test]
fn sharers_remove_their_own_shares_and_admins_anyone_s() {
    let mut h = pool_world();
    for (author, id) in [("writer", "m-w"), ("guest", "m-g"), ("admin", "m-a")] {
        note(&mut h, author, id, "unsharing");
        share(&mut h, &agent(author), "p", id, author, Project).unwrap();
    }
    refused_and_audited(&mut h, "writer", |h| {
        unshare(h, &agent("writer"), "p", "m-g", "writer")
    });
    refused_and_audited(&mut h, "reader", |h| {
        unshare(h, &agent("reader"), "p", "m-w", "reader")
    });
    unshare(&mut h, &agent("writer"), "p", "m-w", "writer").unwrap();
    unshare(&mut h, &agent("admin"), "p", "m-g", "admin").unwrap();
    not_found(unshare(&mut h, &agent("admin"), "p", "m-g", "admin"));
    unshare(&mut h, &op(), "p", "m-a", "reader").unwrap();
    assert!(query(&mut h, "p", "admin", Global).unwrap().is_empty());
    assert_eq!(get(&mut h, &op(), "p").unwrap().share_count, 0);
}

#[test]
fn an_admin_or_the_operator_removes_a_private_share_it_cannot_see() {
    let mut h = pool_world();
    for id in ["m", "n"] {
        note(&mut h, "writer", id, "secretive");
        share(&mut h, &agent("writer"), "p", id, "writer", AgentPrivate).unwrap();
    }
    assert!(query(&mut h, "p", "admin", Global).unwrap().is_empty());
    not_found(unshare(&mut h, &agent("reader"), "p", "m", "reader"));
    unshare(&mut h, &agent("admin"), "p", "m", "admin").unwrap();
    unshare(&mut h, &op(), "p", "n", "stranger").unwrap();
    assert!(query(&mut h, "p", "writer", Global).unwrap().is_empty());
}

#[test]
fn an_archived_pool_is_read_only_and_stops_counting_toward_the_pools_limit() {
    let mut h = Harness::with_limits(limits(|l| l.pools = 1));
    h.register("a", AgentType::ClaudeCode, "u1");
    h.register("b", AgentType::ClaudeCode, "u1");
    create(
        &mut h,
        &agent("a"),
        None,
        &request("p", "u1", Project, None),
    )
    .unwrap();
    capacity(
        create(&mut h, &op(), None, &request("q", "u1", Project, None)),
        "pools",
        1,
    );
    note(&mut h, "a", "before", "archives");
    share(&mut h, &agent("a"), "p", "before", "a", Project).unwrap();
    note(&mut h, "a", "after", "archives");
    archive(&mut h, &agent("a"), "p", None).unwrap();

    invalid(join(&mut h, &op(), "p", "b", Read), "pool_id");
    invalid(
        share(&mut h, &agent("a"), "p", "after", "a", Project),
        "pool_id",
    );
    let mut req = store_request("a", "third", "a note about archives");
    req.pool_id = Some("p".to_string());
    invalid(store(&mut h, &req), "pool_id");
    assert_eq!(query(&mut h, "p", "a", Global).unwrap(), ["before"]);
    assert_eq!(h.stats().pools, 0);

    create(&mut h, &op(), None, &request("q", "u1", Project, None)).unwrap();
    capacity(
        create(&mut h, &op(), None, &request("r", "u1", Project, None)),
        "pools",
        1,
    );
    assert_eq!(list(&mut h, &op(), None).unwrap(), ["p", "q"]);
}

// ---- sharing ----

#[test]
fn only_the_author_with_write_permission_shares_a_memory() {
    let mut h = pool_world();
    note(&mut h, "writer", "m", "permissions");
    note(&mut h, "reader", "r", "permissions");
    note(&mut h, "outsider", "o", "permissions");
    refused_and_audited(&mut h, "reader", |h| {
        share(h, &agent("reader"), "p", "r", "reader", Project)
    });
    refused_and_audited(&mut h, "outsider", |h| {
        share(h, &agent("outsider"), "p", "o", "outsider", Project)
    });
    not_found(share(&mut h, &agent("guest"), "p", "m", "guest", Project));
    share(&mut h, &agent("writer"), "p", "m", "writer", Project).unwrap();
    refused_and_audited(&mut h, "guest", |h| {
        share(h, &agent("guest"), "p", "m", "guest", Project)
    });
    refused_and_audited(&mut h, "admin", |h| {
        share(h, &agent("admin"), "p", "m", "admin", Project)
    });
    not_found(share(
        &mut h,
        &agent("writer"),
        "p",
        "ghost",
        "writer",
        Project,
    ));
    not_found(share(
        &mut h,
        &agent("writer"),
        "nope",
        "m",
        "writer",
        Project,
    ));
    not_found(share(
        &mut h,
        &agent("stranger"),
        "p",
        "m",
        "stranger",
        Project,
    ));
    invalid(
        share(&mut h, &agent("writer"), "p", "bad id", "writer", Project),
        "memory_id",
    );
    let sh = share(&mut h, &op(), "p", "m", "writer", User).unwrap();
    assert_eq!(
        (sh.shared_by.as_str(), sh.scope, sh.pool_id.as_str()),
        ("writer", User, "p")
    );
    assert_eq!(get(&mut h, &op(), "p").unwrap().share_count, 1);
}

#[test]
fn storing_straight_into_a_pool_needs_write_permission_there() {
    let mut h = pool_world();
    let mut req = store_request("reader", "m", "a note about permissions");
    req.pool_id = Some("p".to_string());
    refused_and_audited(&mut h, "reader", |h| store(h, &req));
    req.agent_id = "outsider".to_string();
    refused_and_audited(&mut h, "outsider", |h| store(h, &req));
    assert_eq!(
        h.stats().memories,
        0,
        "nothing is stored when the share is refused"
    );
    req.agent_id = "guest".to_string();
    let m = store(&mut h, &req).unwrap();
    assert_eq!(m.author, "guest");
    assert_eq!(query(&mut h, "p", "reader", Global).unwrap(), ["m"]);
}

#[test]
fn a_share_wider_than_the_pool_scope_is_invalid_input_on_scope() {
    let mut h = Harness::new();
    h.register("a", AgentType::ClaudeCode, "u1");
    create(
        &mut h,
        &agent("a"),
        None,
        &request("p", "u1", Project, None),
    )
    .unwrap();
    note(&mut h, "a", "m", "bounds");
    for wider in [Team, Global] {
        invalid(share(&mut h, &agent("a"), "p", "m", "a", wider), "scope");
        let mut req = store_request("a", "m2", "a note about bounds");
        req.pool_id = Some("p".to_string());
        req.scope = Some(wider);
        invalid(store(&mut h, &req), "scope");
    }
    for narrower in [AgentPrivate, User, Project] {
        assert_eq!(
            share(&mut h, &agent("a"), "p", "m", "a", narrower)
                .unwrap()
                .scope,
            narrower
        );
    }
    let mut req = store_request("a", "m2", "a note about bounds");
    req.pool_id = Some("p".to_string());
    store(&mut h, &req).unwrap();
    let shares =
        h.rt.call(|c, s| {
            c.maas_core_pools()
                .call_query_shared(s, &op(), "p", "a", Global, None, None)
        })
        .unwrap();
    let scopes: Vec<(String, Scope)> = shares
        .items
        .into_iter()
        .map(|sh| (sh.memory_id, sh.scope))
        .collect();
    assert_eq!(
        scopes,
        [("m".to_string(), Project), ("m2".to_string(), Project)]
    );
    let mut req = store_request("a", "m3", "a note about bounds");
    req.scope = Some(User);
    invalid(store(&mut h, &req), "scope");
}

// ---- scope visibility ----

/// Adds a second pool `q` of `u1` labelled `core` (member `teammate` of `u3`) and a pool
/// `r` of `u2` also labelled `core` (member `rival` of `u2`) to [`pool_world`], then has
/// `writer` share memory `m` (about `word`) into `p` at `scope`.
fn shared_at(scope: Scope, word: &str) -> Harness {
    let mut h = pool_world();
    h.register("teammate", AgentType::ClaudeCode, "u3");
    h.register("rival", AgentType::ClaudeCode, "u2");
    create(
        &mut h,
        &op(),
        None,
        &request("q", "u1", Global, Some("core")),
    )
    .unwrap();
    create(
        &mut h,
        &op(),
        None,
        &request("r", "u2", Global, Some("core")),
    )
    .unwrap();
    join(&mut h, &op(), "q", "teammate", Read).unwrap();
    join(&mut h, &op(), "r", "rival", Read).unwrap();
    note(&mut h, "writer", "m", word);
    share(&mut h, &agent("writer"), "p", "m", "writer", scope).unwrap();
    h
}

const EVERYONE: [&str; 8] = [
    "writer", "admin", "reader", "guest", "outsider", "stranger", "teammate", "rival",
];

/// Who of [`EVERYONE`] reads `m` by get and search, and who lists it by `query-shared`
/// among the members of `p`.
fn audience(h: &mut Harness, word: &str) -> (Vec<&'static str>, Vec<&'static str>) {
    let readers = EVERYONE
        .into_iter()
        .filter(|r| reads(h, r, "m", word))
        .collect();
    let listers = ["writer", "admin", "reader", "guest"]
        .into_iter()
        .filter(|r| query(h, "p", r, Global).unwrap().contains(&"m".to_string()))
        .collect();
    (readers, listers)
}

#[test]
fn an_agent_private_share_is_seen_by_its_sharer_only() {
    let mut h = shared_at(AgentPrivate, "kumquat");
    let (readers, listers) = audience(&mut h, "kumquat");
    assert_eq!(readers, ["writer"]);
    assert_eq!(listers, ["writer"]);
}

#[test]
fn a_user_share_is_seen_by_members_with_the_sharers_owner_only() {
    let mut h = shared_at(User, "kumquat");
    let (readers, listers) = audience(&mut h, "kumquat");
    assert_eq!(readers, ["writer", "admin", "reader"]);
    assert_eq!(listers, ["writer", "admin", "reader"]);
}

#[test]
fn a_project_share_is_seen_by_every_member_and_no_one_else() {
    let mut h = shared_at(Project, "kumquat");
    let (readers, listers) = audience(&mut h, "kumquat");
    assert_eq!(readers, ["writer", "admin", "reader", "guest"]);
    assert_eq!(listers, ["writer", "admin", "reader", "guest"]);
}

#[test]
fn a_team_share_reaches_pools_of_the_same_owner_and_label_but_not_another_owners() {
    let mut h = shared_at(Team, "kumquat");
    let (readers, listers) = audience(&mut h, "kumquat");
    assert_eq!(readers, ["writer", "admin", "reader", "guest", "teammate"]);
    assert_eq!(listers, ["writer", "admin", "reader", "guest"]);
    not_found(query(&mut h, "p", "teammate", Global));
    leave(&mut h, &agent("teammate"), "q", "teammate").unwrap();
    assert!(
        !reads(&mut h, "teammate", "m", "kumquat"),
        "leaving the team pool ends it"
    );
}

#[test]
fn a_team_share_in_a_pool_without_a_label_is_seen_by_every_member_of_that_pool() {
    let mut h = pool_world();
    create(
        &mut h,
        &agent("admin"),
        None,
        &request("plain", "u1", Team, None),
    )
    .unwrap();
    join(&mut h, &agent("admin"), "plain", "guest", Read).unwrap();
    note(&mut h, "admin", "m", "unlabelled");
    share(&mut h, &agent("admin"), "plain", "m", "admin", Team).unwrap();
    for member in ["admin", "guest"] {
        assert_eq!(
            query(&mut h, "plain", member, Global).unwrap(),
            ["m"],
            "{member}"
        );
        assert!(reads(&mut h, member, "m", "unlabelled"), "{member}");
    }
    assert!(
        !reads(&mut h, "writer", "m", "unlabelled"),
        "p's members are not in this pool"
    );
}

#[test]
fn a_global_share_is_read_by_every_active_agent_but_listed_to_members_only() {
    let mut h = shared_at(Global, "kumquat");
    let (readers, listers) = audience(&mut h, "kumquat");
    assert_eq!(readers, EVERYONE);
    assert_eq!(listers, ["writer", "admin", "reader", "guest"]);
    refused_and_audited(&mut h, "outsider", |h| query(h, "p", "outsider", Global));
    not_found(query(&mut h, "p", "stranger", Global));

    h.register_with(
        "blind",
        AgentType::ClaudeCode,
        "u9",
        Some(vec![Capability::MemoryWrite]),
    );
    refused_and_audited(&mut h, "blind", |h| {
        h.rt.call(|c, s| {
            c.maas_core_memories()
                .call_get(s, &agent("blind"), "blind", "m")
        })
    });
    h.rt.call(|c, s| c.maas_core_agents().call_deactivate(s, &op(), "stranger"))
        .unwrap();
    denied(h.rt.call(|c, s| {
        c.maas_core_memories()
            .call_get(s, &agent("stranger"), "stranger", "m")
    }));
}

#[test]
fn max_scope_only_narrows_what_a_query_returns() {
    let mut h = pool_world();
    let scopes = [AgentPrivate, User, Project, Team, Global];
    let ids = ["s-private", "s-user", "s-project", "s-team", "s-global"];
    for (id, scope) in ids.iter().zip(scopes) {
        note(&mut h, "writer", id, "narrowing");
        share(&mut h, &agent("writer"), "p", id, "writer", scope).unwrap();
    }
    assert_eq!(
        query(&mut h, "p", "writer", AgentPrivate).unwrap(),
        ["s-private"]
    );
    assert_eq!(query(&mut h, "p", "writer", Project).unwrap(), ids[..3]);
    assert_eq!(query(&mut h, "p", "writer", Global).unwrap(), ids);
    assert!(
        query(&mut h, "p", "reader", AgentPrivate)
            .unwrap()
            .is_empty()
    );
    assert_eq!(query(&mut h, "p", "reader", User).unwrap(), ["s-user"]);
    assert_eq!(query(&mut h, "p", "reader", Global).unwrap(), ids[1..]);
    assert_eq!(
        query(&mut h, "p", "guest", Team).unwrap(),
        ["s-project", "s-team"]
    );
    assert_eq!(query(&mut h, "p", "guest", Global).unwrap(), ids[2..]);
}

#[test]
fn query_shared_needs_membership_and_memory_read() {
    let mut h = pool_world();
    h.register_with(
        "blind",
        AgentType::ClaudeCode,
        "u1",
        Some(vec![Capability::MemoryWrite]),
    );
    join(&mut h, &op(), "p", "blind", Write).unwrap();
    refused_and_audited(&mut h, "blind", |h| query(h, "p", "blind", Global));
    refused_and_audited(&mut h, "outsider", |h| query(h, "p", "outsider", Global));
    not_found(query(&mut h, "nope", "reader", Global));
    refused_and_audited(&mut h, "reader", |h| {
        h.rt.call(|c, s| {
            c.maas_core_pools().call_query_shared(
                s,
                &agent("reader"),
                "p",
                "writer",
                Global,
                None,
                None,
            )
        })
    });
}

// ---- acting as someone else ----

#[test]
fn acting_as_another_agent_in_a_pool_is_denied_audited_and_changes_nothing() {
    let mut h = pool_world();
    note(&mut h, "writer", "m", "impersonation");
    share(&mut h, &agent("writer"), "p", "m", "writer", Project).unwrap();
    let as_admin = Some("admin");
    refused_and_audited(&mut h, "reader", |h| {
        create(
            h,
            &agent("reader"),
            as_admin,
            &request("x", "u1", User, None),
        )
    });
    refused_and_audited(&mut h, "reader", |h| {
        leave(h, &agent("reader"), "p", "writer")
    });
    refused_and_audited(&mut h, "reader", |h| {
        remove(h, &agent("reader"), "p", as_admin, "writer")
    });
    refused_and_audited(&mut h, "reader", |h| {
        share(h, &agent("reader"), "p", "m", "writer", User)
    });
    refused_and_audited(&mut h, "reader", |h| {
        unshare(h, &agent("reader"), "p", "m", "writer")
    });
    refused_and_audited(&mut h, "reader", |h| {
        archive(h, &agent("reader"), "p", as_admin)
    });
    refused_and_audited(&mut h, "reader", |h| {
        delete(h, &agent("reader"), "p", as_admin)
    });
    refused_and_audited(&mut h, "stranger", |h| {
        archive(h, &agent("stranger"), "p", as_admin)
    });
}

// ---- limits ----

#[test]
fn the_members_per_pool_limit_refuses_new_members_but_not_permission_changes() {
    let mut h = Harness::with_limits(limits(|l| l.members_per_pool = 2));
    for id in ["a", "b", "c"] {
        h.register(id, AgentType::ClaudeCode, "u1");
    }
    create(
        &mut h,
        &agent("a"),
        None,
        &request("p", "u1", Project, None),
    )
    .unwrap();
    join(&mut h, &agent("a"), "p", "b", Read).unwrap();
    capacity(join(&mut h, &agent("a"), "p", "c", Read), "pool-members", 2);
    join(&mut h, &agent("a"), "p", "b", Write).unwrap();
    leave(&mut h, &agent("b"), "p", "b").unwrap();
    join(&mut h, &agent("a"), "p", "c", Read).unwrap();
}

#[test]
fn the_shares_per_pool_limit_refuses_new_shares_but_not_scope_changes() {
    let mut h = Harness::with_limits(limits(|l| l.shares_per_pool = 1));
    h.register("a", AgentType::ClaudeCode, "u1");
    create(
        &mut h,
        &agent("a"),
        None,
        &request("p", "u1", Project, None),
    )
    .unwrap();
    create(
        &mut h,
        &agent("a"),
        None,
        &request("q", "u1", Project, None),
    )
    .unwrap();
    note(&mut h, "a", "m1", "limits");
    note(&mut h, "a", "m2", "limits");
    share(&mut h, &agent("a"), "p", "m1", "a", Project).unwrap();
    capacity(
        share(&mut h, &agent("a"), "p", "m2", "a", Project),
        "pool-shares",
        1,
    );
    let mut req = store_request("a", "m3", "a note about limits");
    req.pool_id = Some("p".to_string());
    capacity(store(&mut h, &req), "pool-shares", 1);
    share(&mut h, &agent("a"), "p", "m1", "a", User).unwrap();
    share(&mut h, &agent("a"), "q", "m2", "a", Project).unwrap();
    unshare(&mut h, &agent("a"), "p", "m1", "a").unwrap();
    share(&mut h, &agent("a"), "p", "m2", "a", Project).unwrap();
    assert_eq!(h.stats().shares, 2);
}

/// A pool's share count took in shares its reader may not read (another member's
/// `agent_private`, another owner's `user`), and reached every agent of the pool's
/// owner, member or not: it is now the operator's and the pool's admins' alone.
#[test]
fn a_pools_share_count_is_shown_only_to_the_operator_and_its_admins() {
    let mut h = pool_world();
    note(&mut h, "writer", "m-private", "keys");
    share(
        &mut h,
        &agent("writer"),
        "p",
        "m-private",
        "writer",
        AgentPrivate,
    )
    .unwrap();
    note(&mut h, "guest", "m-user", "rota");
    share(&mut h, &agent("guest"), "p", "m-user", "guest", User).unwrap();
    for (caller, count) in [
        (op(), 2),
        (agent("admin"), 2),
        (agent("reader"), 0),
        (agent("outsider"), 0),
    ] {
        assert_eq!(
            get(&mut h, &caller, "p").unwrap().share_count,
            count,
            "{caller:?}"
        );
    }
    let listed =
        h.rt.call(|c, s| {
            c.maas_core_pools()
                .call_list(s, &agent("reader"), None, Some(500), None)
        })
        .unwrap();
    assert!(!listed.items.is_empty());
    assert!(listed.items.iter().all(|p| p.share_count == 0));
}
