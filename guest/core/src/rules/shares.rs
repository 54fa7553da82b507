//! Shares: who shares into a pool, who removes a share, and which members each scope
//! reaches.

use super::pools::world;
use super::*;
use crate::page::PageRequest;
use crate::pools;
use Permission::{Read, Write};
use Scope::{AgentPrivate, Global, Project, Team, User};

// ---- sharing ----

#[test]
fn the_author_with_write_permission_shares_its_memory() {
    world()
        .memory("m", "writer")
        .when(agent("writer"), |s, cx| {
            pools::share(s, cx, "p", "m", "writer", Project)
        })
        .then_events(vec![ev::shared("p", "m", "writer", Project)])
        .then_audited("memory.shared");
}

#[test]
fn a_reader_member_may_not_share() {
    world()
        .memory("m", "reader")
        .when(agent("reader"), |s, cx| {
            pools::share(s, cx, "p", "m", "reader", Project)
        })
        .then_denied();
}

#[test]
fn an_agent_of_the_owner_that_is_not_a_member_may_not_share() {
    world()
        .memory("m", "outsider")
        .when(agent("outsider"), |s, cx| {
            pools::share(s, cx, "p", "m", "outsider", Project)
        })
        .then_denied();
}

#[test]
fn only_the_author_shares_a_memory_it_can_read() {
    world()
        .memory("m", "writer")
        .shared("p", "m", "writer", Project)
        .when(agent("guest"), |s, cx| {
            pools::share(s, cx, "p", "m", "guest", Project)
        })
        .then_denied();
}

#[test]
fn a_share_is_no_wider_than_the_pool() {
    world()
        .memory("m", "writer")
        .when(agent("writer"), |s, cx| {
            pools::share(s, cx, "p", "m", "writer", Global)
        })
        .then_invalid("scope");
}

#[test]
fn an_archived_pool_takes_no_new_shares() {
    world()
        .memory("m", "writer")
        .archived("p")
        .when(agent("writer"), |s, cx| {
            pools::share(s, cx, "p", "m", "writer", Project)
        })
        .then_invalid("pool_id");
}

#[test]
fn the_shares_limit_refuses_new_shares_but_not_scope_changes() {
    let full = || {
        world()
            .limits(|l| l.shares_per_pool = 1)
            .memory("m1", "writer")
            .memory("m2", "writer")
            .shared("p", "m1", "writer", Project)
    };
    full()
        .when(agent("writer"), |s, cx| {
            pools::share(s, cx, "p", "m2", "writer", Project)
        })
        .then_capacity("pool-shares");
    full()
        .when(agent("writer"), |s, cx| {
            pools::share(s, cx, "p", "m1", "writer", User)
        })
        .then_events(vec![ev::shared("p", "m1", "writer", User)]);
}

#[test]
fn the_sharer_or_an_admin_removes_a_share_and_no_one_else() {
    let shared = || {
        world()
            .memory("m", "writer")
            .shared("p", "m", "writer", Project)
    };
    shared()
        .when(agent("writer"), |s, cx| {
            pools::unshare(s, cx, "p", "m", "writer")
        })
        .then_events(vec![ev::unshared("p", "m", "writer", Project)]);
    shared()
        .when(agent("admin"), |s, cx| {
            pools::unshare(s, cx, "p", "m", "admin")
        })
        .then_events(vec![ev::unshared("p", "m", "writer", Project)]);
    shared()
        .when(agent("guest"), |s, cx| {
            pools::unshare(s, cx, "p", "m", "guest")
        })
        .then_denied();
}

#[test]
fn an_admin_removes_a_private_share_it_cannot_see_and_others_do_not_find_it() {
    let private = || {
        world()
            .memory("m", "writer")
            .shared("p", "m", "writer", AgentPrivate)
    };
    private()
        .when(agent("admin"), |s, cx| {
            pools::unshare(s, cx, "p", "m", "admin")
        })
        .then_events(vec![ev::unshared("p", "m", "writer", AgentPrivate)]);
    private()
        .when(agent("reader"), |s, cx| {
            pools::unshare(s, cx, "p", "m", "reader")
        })
        .then_not_found();
}

// ---- who sees a share ----

/// The members `query-shared` lists `m` to, shared by `writer` at `scope`.
fn audience(scope: Scope) -> Vec<&'static str> {
    let world = world()
        .memory("m", "writer")
        .shared("p", "m", "writer", scope);
    let mut seen = Vec::new();
    for who in ["admin", "writer", "reader", "guest"] {
        let then = given_like(&world).when(agent(who), |s, cx| {
            pools::query_shared(s, cx, "p", who, Global, &PageRequest::default())
        });
        then.then_value(|v| {
            if v.items.iter().any(|sh| sh.memory_id == "m") {
                seen.push(who);
            }
        });
    }
    seen
}

/// A copy of a history, to run several decides over it.
fn given_like(g: &Given) -> Given {
    Given {
        state: g.state.clone(),
        now: g.now,
        limits: g.limits,
    }
}

#[test]
fn each_scope_reaches_the_members_it_names() {
    assert_eq!(audience(AgentPrivate), ["writer"]);
    assert_eq!(audience(User), ["admin", "writer", "reader"]);
    assert_eq!(audience(Project), ["admin", "writer", "reader", "guest"]);
    assert_eq!(audience(Team), ["admin", "writer", "reader", "guest"]);
}

#[test]
fn a_team_share_reaches_pools_of_the_same_owner_and_label_only() {
    let world = world()
        .team_pool("q", "u1", Team, "core")
        .team_pool("r", "u2", Team, "core")
        .member("q", "outsider", Read)
        .member("r", "stranger", Read)
        .memory("m", "writer")
        .shared("p", "m", "writer", Team);
    let s = world.state();
    let m = &s.memories["m"];
    assert!(crate::access::memory_readable(s, m, &s.agents["outsider"]));
    assert!(!crate::access::memory_readable(s, m, &s.agents["stranger"]));
}

#[test]
fn max_scope_only_narrows_what_a_query_returns() {
    world()
        .memory("m1", "writer")
        .memory("m2", "writer")
        .shared("p", "m1", "writer", User)
        .shared("p", "m2", "writer", Team)
        .when(agent("writer"), |s, cx| {
            pools::query_shared(s, cx, "p", "writer", Project, &PageRequest::default())
        })
        .then_read("pool.queried")
        .then_value(|v| {
            let ids: Vec<&str> = v.items.iter().map(|sh| sh.memory_id.as_str()).collect();
            assert_eq!(ids, ["m1"]);
        });
}

#[test]
fn query_shared_needs_membership_and_memory_read() {
    world()
        .when(agent("outsider"), |s, cx| {
            pools::query_shared(s, cx, "p", "outsider", Global, &PageRequest::default())
        })
        .then_denied();
    world()
        .agent_with("mute", "u1", &[Capability::MemoryWrite])
        .member("p", "mute", Write)
        .when(agent("mute"), |s, cx| {
            pools::query_shared(s, cx, "p", "mute", Global, &PageRequest::default())
        })
        .then_denied();
}

#[test]
fn acting_as_another_agent_in_a_pool_is_denied() {
    world()
        .memory("m", "writer")
        .when(agent("admin"), |s, cx| {
            pools::share(s, cx, "p", "m", "writer", Project)
        })
        .then_denied();
}

#[test]
fn a_sharer_that_left_the_pool_no_longer_finds_its_share_but_an_admin_removes_it() {
    let left = || {
        world()
            .memory("m", "writer")
            .shared("p", "m", "writer", Project)
            .event(ev::left("p", "writer"))
    };
    left()
        .when(agent("writer"), |s, cx| {
            pools::unshare(s, cx, "p", "m", "writer")
        })
        .then_not_found();
    left()
        .when(agent("admin"), |s, cx| {
            pools::unshare(s, cx, "p", "m", "admin")
        })
        .then_events(vec![ev::unshared("p", "m", "writer", Project)]);
}

#[test]
fn a_global_share_is_read_by_any_agent_with_memory_read_but_listed_to_members_only() {
    let g = world()
        .pool("open", "u1", Global)
        .member("open", "writer", Write)
        .memory("m", "writer")
        .shared("open", "m", "writer", Global);
    let s = g.state();
    assert!(crate::access::memory_readable(
        s,
        &s.memories["m"],
        &s.agents["stranger"]
    ));
    g.when(agent("stranger"), |s, cx| {
        pools::query_shared(s, cx, "open", "stranger", Global, &PageRequest::default())
    })
    .then_not_found();
}

#[test]
fn a_page_of_shares_looks_at_a_bounded_number_and_the_next_goes_on_from_there() {
    // Between the writer's first share and its last two, more shares of another owner's
    // at `user` scope than a page looks at: the writer sees none of them.
    let hidden = pools::MOST_LOOKED_AT + 10;
    let mut g = world()
        .memory("w1", "writer")
        .shared("p", "w1", "writer", Project);
    for i in 0..hidden {
        let id = format!("g{i}");
        g = g.memory(&id, "guest").shared("p", &id, "guest", User);
    }
    for id in ["w2", "w3"] {
        g = g.memory(id, "writer").shared("p", id, "writer", Project);
    }
    let query = |who: &str, req: PageRequest| {
        let mut found = None;
        g.clone()
            .when(agent(who), |s, cx| {
                pools::query_shared(s, cx, "p", who, Global, &req)
            })
            .then_value(|v| found = Some(v.clone()));
        found.unwrap()
    };
    let page = |cursor: Option<String>| query("writer", PageRequest::after(50, cursor));
    let first = page(None);
    let ids = |p: &crate::page::Page<pools::ShareView>| {
        p.items
            .iter()
            .map(|v| v.memory_id.clone())
            .collect::<Vec<_>>()
    };
    // The first page stopped after looking at its bound, holding one share.
    assert_eq!(ids(&first), ["w1"]);
    assert!(first.next_cursor.is_some());
    let mut seen = ids(&first);
    let mut cursor = first.next_cursor;
    let mut pages = 1;
    while let Some(c) = cursor {
        let next = page(Some(c));
        seen.extend(ids(&next));
        cursor = next.next_cursor;
        pages += 1;
    }
    assert_eq!(seen, ["w1", "w2", "w3"]);
    assert_eq!(pages, 2);
    // The sharer itself sees its own: a full page, then the rest.
    let guest = query("guest", PageRequest::first(500));
    assert_eq!(guest.items.len(), 500);
    assert_eq!(
        guest.items.first().map(|v| v.memory_id.as_str()),
        Some("w1")
    );
}
