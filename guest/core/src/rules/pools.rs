//! Pools: creating, membership, shares under the scope rules, archive and delete.

use super::*;
use crate::pools::{self, PoolRequest};
use AgentType::{ClaudeCode, CustomPipeline};
use Permission::{Admin, Read, Write};
use Scope::{Project, Team, User};

fn request(id: Option<&str>, owner: &str, scope: Scope) -> PoolRequest {
    PoolRequest {
        name: format!("pool {}", id.unwrap_or("fresh")),
        owner_id: owner.into(),
        scope,
        team: None,
        pool_id: id.map(Into::into),
        metadata: None,
    }
}

/// Owner `u1`: `admin` (pool admin), `writer`, `reader` (members), `outsider` (not a
/// member). Owner `u2`: `guest` (member at write), `stranger` (not a member).
/// Pool `p` of `u1` at scope `team`, label `core`.
pub(super) fn world() -> Given {
    given()
        .agent("admin", "u1", ClaudeCode)
        .agent("writer", "u1", ClaudeCode)
        .agent("reader", "u1", ClaudeCode)
        .agent("outsider", "u1", ClaudeCode)
        .agent("guest", "u2", ClaudeCode)
        .agent("stranger", "u2", ClaudeCode)
        .team_pool("p", "u1", Team, "core")
        .member("p", "admin", Admin)
        .member("p", "writer", Write)
        .member("p", "reader", Read)
        .member("p", "guest", Write)
}

// ---- creating ----

#[test]
fn the_operator_creates_a_pool_for_any_owner_without_joining_it() {
    given()
        .when(op(), |s, cx| {
            pools::create(s, cx, None, &request(Some("p"), "anyone", Project))
        })
        .then_events(vec![ev::pool("p", "anyone", Project, None)])
        .then_audited("pool.created")
        .then_value(|id| assert_eq!(id, "p"));
}

#[test]
fn an_agent_creating_a_pool_for_its_owner_becomes_its_admin() {
    given()
        .agent("a1", "u1", ClaudeCode)
        .when(agent("a1"), |s, cx| {
            pools::create(s, cx, None, &request(Some("p"), "u1", Project))
        })
        .then_events(vec![
            ev::pool("p", "u1", Project, None),
            ev::joined("p", "a1", Admin),
        ]);
}

#[test]
fn an_agent_may_not_create_a_pool_for_another_owner() {
    given()
        .agent("a1", "u1", ClaudeCode)
        .when(agent("a1"), |s, cx| {
            pools::create(s, cx, None, &request(Some("p"), "u2", Project))
        })
        .then_denied();
}

#[test]
fn an_agent_without_memory_write_may_not_create_a_pool() {
    given()
        .agent("pipe", "u1", CustomPipeline)
        .when(agent("pipe"), |s, cx| {
            pools::create(s, cx, None, &request(Some("p"), "u1", Project))
        })
        .then_denied();
}

#[test]
fn a_used_pool_id_is_refused_and_audited_whoever_holds_it() {
    given()
        .agent("a1", "u1", ClaudeCode)
        .pool("theirs", "u2", User)
        .event(Event::PoolDeleted {
            id: "theirs".into(),
            members: Vec::new(),
        })
        .when(agent("a1"), |s, cx| {
            pools::create(s, cx, None, &request(Some("theirs"), "u1", User))
        })
        .then_invalid("pool_id")
        .audited();
}

#[test]
fn an_archived_pool_stops_counting_toward_the_pools_limit() {
    let full = || given().limits(|l| l.pools = 1).pool("p", "u1", User);
    full()
        .when(op(), |s, cx| {
            pools::create(s, cx, None, &request(Some("q"), "u1", User))
        })
        .then_capacity("pools");
    full()
        .archived("p")
        .when(op(), |s, cx| {
            pools::create(s, cx, None, &request(Some("q"), "u1", User))
        })
        .then_events(vec![ev::pool("q", "u1", User, None)]);
}

// ---- seeing ----

#[test]
fn a_pool_is_seen_by_members_and_agents_of_its_owner_only() {
    for who in ["reader", "outsider", "guest"] {
        world()
            .when(agent(who), |s, cx| pools::get(s, cx, "p"))
            .then_read("pool.read")
            .then_value(|v| assert_eq!(v.member_count, 4));
    }
    world()
        .when(agent("stranger"), |s, cx| pools::get(s, cx, "p"))
        .then_not_found()
        .unaudited();
}

// ---- joining ----

#[test]
fn a_pool_admin_adds_another_agent() {
    world()
        .when(agent("admin"), |s, cx| {
            pools::join(s, cx, "p", "stranger", Read)
        })
        .then_events(vec![ev::joined("p", "stranger", Read)])
        .then_audited("pool.joined")
        .then_value(|m| assert_eq!((m.agent_id.as_str(), m.joined_at), ("stranger", T0)))
        .then_state(|s| {
            assert_eq!(
                crate::access::permission(&s.pools["p"], "stranger"),
                Some(Read)
            )
        });
}

#[test]
fn a_pool_admin_of_another_owner_adds_another_agent_and_grants_admin() {
    world()
        .member("p", "guest", Admin)
        .when(agent("guest"), |s, cx| {
            pools::join(s, cx, "p", "stranger", Admin)
        })
        .then_events(vec![ev::joined("p", "stranger", Admin)]);
}

#[test]
fn a_member_with_no_admin_right_may_not_add_another_agent() {
    world()
        .when(agent("guest"), |s, cx| {
            pools::join(s, cx, "p", "stranger", Read)
        })
        .then_denied();
}

#[test]
fn an_agent_of_the_owner_adds_members_at_read_or_write_but_not_admin() {
    world()
        .agent("new", "u1", ClaudeCode)
        .when(agent("outsider"), |s, cx| {
            pools::join(s, cx, "p", "new", Write)
        })
        .then_events(vec![ev::joined("p", "new", Write)]);
    // Another owner's agents are the admins' and the operator's to add.
    world()
        .when(agent("outsider"), |s, cx| {
            pools::join(s, cx, "p", "stranger", Write)
        })
        .then_denied();
    world()
        .when(agent("admin"), |s, cx| {
            pools::join(s, cx, "p", "stranger", Write)
        })
        .then_events(vec![ev::joined("p", "stranger", Write)]);
    world()
        .when(agent("writer"), |s, cx| {
            pools::join(s, cx, "p", "writer", Admin)
        })
        .then_denied();
    world()
        .when(agent("writer"), |s, cx| {
            pools::join(s, cx, "p", "admin", Read)
        })
        .then_denied();
}

#[test]
fn an_agent_that_cannot_see_the_pool_cannot_join_it() {
    world()
        .when(agent("stranger"), |s, cx| {
            pools::join(s, cx, "p", "stranger", Read)
        })
        .then_not_found();
}

#[test]
fn join_refuses_unknown_and_inactive_agents_and_archived_pools() {
    world()
        .when(op(), |s, cx| pools::join(s, cx, "p", "ghost", Read))
        .then_not_found();
    world()
        .deactivated("stranger")
        .when(op(), |s, cx| pools::join(s, cx, "p", "stranger", Read))
        .then_invalid("agent_id");
    world()
        .archived("p")
        .when(op(), |s, cx| pools::join(s, cx, "p", "stranger", Read))
        .then_invalid("pool_id");
}

#[test]
fn the_members_limit_refuses_new_members_but_not_permission_changes() {
    let full = || world().limits(|l| l.members_per_pool = 4);
    full()
        .when(op(), |s, cx| pools::join(s, cx, "p", "stranger", Read))
        .then_capacity("pool-members");
    full()
        .when(op(), |s, cx| pools::join(s, cx, "p", "reader", Write))
        .then_events(vec![ev::joined("p", "reader", Write)]);
}

// ---- leaving and removing ----

#[test]
fn an_agent_leaves_by_itself_only() {
    world()
        .when(agent("reader"), |s, cx| pools::leave(s, cx, "p", "reader"))
        .then_events(vec![ev::left("p", "reader")])
        .then_audited("pool.left");
    world()
        .when(agent("reader"), |s, cx| pools::leave(s, cx, "p", "writer"))
        .then_denied();
    world()
        .when(agent("outsider"), |s, cx| {
            pools::leave(s, cx, "p", "outsider")
        })
        .then_not_found();
}

#[test]
fn only_admins_and_the_operator_remove_other_members() {
    world()
        .when(agent("writer"), |s, cx| {
            pools::remove_member(s, cx, "p", None, "reader")
        })
        .then_denied();
    world()
        .when(agent("admin"), |s, cx| {
            pools::remove_member(s, cx, "p", None, "reader")
        })
        .then_events(vec![ev::left("p", "reader")])
        .then_audited("pool.member_removed");
    world()
        .when(op(), |s, cx| {
            pools::remove_member(s, cx, "p", None, "stranger")
        })
        .then_not_found();
}

// ---- admin powers ----

#[test]
fn only_admins_and_the_operator_archive_a_pool_once() {
    world()
        .when(agent("writer"), |s, cx| pools::archive(s, cx, "p", None))
        .then_denied();
    world()
        .when(agent("admin"), |s, cx| pools::archive(s, cx, "p", None))
        .then_events(vec![Event::PoolArchived { id: "p".into() }]);
    world()
        .archived("p")
        .when(op(), |s, cx| pools::archive(s, cx, "p", None))
        .then_invalid("pool_id");
}

#[test]
fn deleting_a_pool_keeps_the_memories() {
    world()
        .memory("m", "writer")
        .shared("p", "m", "writer", Project)
        .when(agent("admin"), |s, cx| pools::delete(s, cx, "p", None))
        .then_events(vec![Event::PoolDeleted {
            id: "p".into(),
            members: ["admin", "guest", "reader", "writer"]
                .map(String::from)
                .to_vec(),
        }])
        .then_state(|s| {
            assert!(!s.pools.contains_key("p"));
            assert!(s.memories["m"].pools.is_empty());
        });
    world()
        .when(agent("outsider"), |s, cx| pools::delete(s, cx, "p", None))
        .then_denied();
}

#[test]
fn one_owner_holds_only_part_of_the_pools() {
    let full = || {
        given()
            .agent("a", "u1", ClaudeCode)
            .agent("b", "u2", ClaudeCode)
            .limits(|l| l.pools_per_owner = 2)
            .pool("p1", "u1", Project)
            .pool("p2", "u1", Project)
    };
    full()
        .when(agent("a"), |s, cx| {
            pools::create(s, cx, Some("a"), &request(None, "u1", Project))
        })
        .then_capacity("pools-per-owner");
    full()
        .when(agent("b"), |s, cx| {
            pools::create(s, cx, Some("b"), &request(None, "u2", Project))
        })
        .then_audited("pool.created");
    // An archived pool stops counting.
    full()
        .archived("p1")
        .when(agent("a"), |s, cx| {
            pools::create(s, cx, Some("a"), &request(None, "u1", Project))
        })
        .then_audited("pool.created");
}
