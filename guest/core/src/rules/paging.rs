//! Lists that page: pages concatenate to the whole list, objects created between two
//! pages come on a later one, a cursor is checked, and so is the limit.

use super::*;
use crate::handoffs::{self, HandoffView};
use crate::page::{Page, PageRequest};
use crate::{agents, pools};
use AgentType::ClaudeCode;
use Permission::Write;
use Scope::Project;

/// `src` and `dst` of owner `u1`, and `count` pending handoffs `h0`, `h1`, … from src to
/// dst, plus one from dst to src (`back`) made after the third.
fn handoffs_to_dst(count: usize) -> Given {
    let mut g = given()
        .agent("src", "u1", ClaudeCode)
        .agent("dst", "u1", ClaudeCode);
    for i in 0..count {
        g = g.handoff(&format!("h{i}"), "src", "dst", &[]);
        if i == 2 {
            g = g.handoff("back", "dst", "src", &[]);
        }
    }
    g
}

fn pending_page(g: Given, req: PageRequest) -> Page<HandoffView> {
    let mut page = None;
    g.when(agent("dst"), |s, cx| handoffs::pending(s, cx, "dst", &req))
        .then_read("handoff.pending_listed")
        .then_value(|p| page = Some(p.clone()));
    page.expect("a page")
}

fn ids(page: &Page<HandoffView>) -> Vec<String> {
    page.items.iter().map(|h| h.id.clone()).collect()
}

#[test]
fn pending_pages_concatenate_to_the_whole_list_in_creation_order() {
    let mut got = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let page = pending_page(handoffs_to_dst(12), PageRequest::after(5, cursor));
        pages += 1;
        assert!(page.items.len() <= 5);
        got.extend(ids(&page));
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    let all: Vec<String> = (0..12).map(|i| format!("h{i}")).collect();
    assert_eq!(got, all);
    assert_eq!(pages, 3);
    let whole = pending_page(handoffs_to_dst(12), PageRequest::default());
    assert_eq!(ids(&whole), all);
    assert_eq!(whole.next_cursor, None);
}

#[test]
fn the_read_audit_names_only_the_handoffs_on_the_page() {
    handoffs_to_dst(4)
        .when(agent("dst"), |s, cx| {
            handoffs::pending(s, cx, "dst", &PageRequest::first(2))
        })
        .then_value(|p| assert_eq!(ids(p), ["h0", "h1"]))
        .then_read_detail(|d| assert_eq!(d["ids"], serde_json::json!(["h0", "h1"])));
}

#[test]
fn a_handoff_initiated_or_accepted_between_pages_is_neither_repeated_nor_skipped() {
    let first = pending_page(handoffs_to_dst(4), PageRequest::first(2));
    assert_eq!(ids(&first), ["h0", "h1"]);
    assert!(first.next_cursor.is_some());
    // Before the next page: h1 (already seen) and h2 (not yet seen) are accepted, and a
    // new handoff arrives.
    let later = || {
        handoffs_to_dst(4)
            .accepted("h1", &[])
            .accepted("h2", &[])
            .handoff("late", "src", "dst", &[])
    };
    let second = pending_page(later(), PageRequest::after(2, first.next_cursor.clone()));
    assert_eq!(ids(&second), ["h3", "late"]);
    assert_eq!(second.next_cursor, None);
    // With room for one only, the new one waits for the page after.
    let short = pending_page(later(), PageRequest::after(1, first.next_cursor));
    assert_eq!(ids(&short), ["h3"]);
    let last = pending_page(later(), PageRequest::after(1, short.next_cursor));
    assert_eq!(ids(&last), ["late"]);
    assert_eq!(last.next_cursor, None);
}

#[test]
fn a_malformed_or_foreign_cursor_is_invalid_on_cursor() {
    let mut foreign = None;
    handoffs_to_dst(4)
        .when(agent("dst"), |s, cx| {
            handoffs::by_agent(s, cx, "dst", &PageRequest::first(1))
        })
        .then_read("handoff.listed")
        .then_value(|p| foreign = p.next_cursor.clone());
    let foreign = foreign.expect("more than one handoff");
    for cursor in [
        "",
        "nope",
        "pending.",
        "pending.XYZ",
        "pending.-1",
        &foreign,
    ] {
        handoffs_to_dst(4)
            .when(agent("dst"), |s, cx| {
                handoffs::pending(s, cx, "dst", &PageRequest::after(2, Some(cursor.into())))
            })
            .then_invalid("cursor");
    }
}

#[test]
fn the_limit_is_one_to_five_hundred_and_fifty_by_default() {
    for limit in [0, 501] {
        handoffs_to_dst(1)
            .when(agent("dst"), |s, cx| {
                handoffs::pending(s, cx, "dst", &PageRequest::first(limit))
            })
            .then_invalid("limit");
        handoffs_to_dst(1)
            .when(agent("dst"), |s, cx| {
                handoffs::by_agent(s, cx, "dst", &PageRequest::first(limit))
            })
            .then_invalid("limit");
    }
    let page = pending_page(handoffs_to_dst(60), PageRequest::default());
    assert_eq!(page.items.len(), 50);
    assert!(page.next_cursor.is_some());
    let page = pending_page(handoffs_to_dst(60), PageRequest::first(500));
    assert_eq!(page.items.len(), 60);
    assert_eq!(page.next_cursor, None);
}

#[test]
fn an_agents_handoffs_page_through_both_directions() {
    let mut got = Vec::new();
    let mut cursor = None;
    loop {
        let mut next = None;
        handoffs_to_dst(5)
            .when(agent("dst"), |s, cx| {
                handoffs::by_agent(s, cx, "dst", &PageRequest::after(2, cursor.clone()))
            })
            .then_value(|p| {
                got.extend(ids(p));
                next = p.next_cursor.clone();
            });
        cursor = next;
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(got, ["h0", "h1", "h2", "back", "h3", "h4"]);
}

#[test]
fn paging_someone_elses_handoffs_is_still_denied() {
    handoffs_to_dst(2)
        .when(agent("src"), |s, cx| {
            handoffs::pending(s, cx, "dst", &PageRequest::default())
        })
        .then_denied();
}

// ---- every other list that pages ----

/// Pages through a list with `limit` items a page: the ids of every page, in order.
fn every_page<T: Clone>(
    limit: u32,
    world: impl Fn() -> Given,
    caller: Caller,
    decide: impl Fn(&State, &mut Cx, &PageRequest) -> Decided<Page<T>>,
    id: impl Fn(&T) -> String,
) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    let mut cursor = None;
    loop {
        let req = PageRequest::after(limit, cursor.take());
        let mut next = None;
        world()
            .when(caller.clone(), |s, cx| decide(s, cx, &req))
            .then_value(|p| {
                pages.push(p.items.iter().map(&id).collect::<Vec<_>>());
                next = p.next_cursor.clone();
            });
        match next {
            Some(c) => cursor = Some(c),
            None => return pages,
        }
    }
}

/// Owner `u1` with agents `a0`..`a6`, all in pool `p0` (which `a0` made), pools
/// `p0`..`p4`, and memories `m0`..`m6` of `a0` shared into `p0`.
fn crowd() -> Given {
    let mut g = given();
    for i in 0..7 {
        g = g.agent(&format!("a{i}"), "u1", ClaudeCode);
    }
    for i in 0..5 {
        g = g.pool(&format!("p{i}"), "u1", Project);
    }
    for i in 0..7 {
        g = g.member("p0", &format!("a{i}"), Write);
    }
    for i in 0..7 {
        g = g
            .memory(&format!("m{i}"), "a0")
            .shared("p0", &format!("m{i}"), "a0", Project);
    }
    g
}

fn numbered(prefix: &str, count: usize) -> Vec<String> {
    (0..count).map(|i| format!("{prefix}{i}")).collect()
}

#[test]
fn agents_pools_members_and_shares_page_in_creation_order() {
    let agents = every_page(
        3,
        crowd,
        agent("a1"),
        |s, cx, r| agents::list_by_owner(s, cx, "u1", r),
        |a| a.id.clone(),
    );
    assert_eq!(agents.len(), 3);
    assert_eq!(agents.concat(), numbered("a", 7));

    let pools = every_page(
        2,
        crowd,
        op(),
        |s, cx, r| pools::list(s, cx, Some("u1"), r),
        |p| p.id.clone(),
    );
    assert_eq!(pools.len(), 3);
    assert_eq!(pools.concat(), numbered("p", 5));

    let members = every_page(
        4,
        crowd,
        agent("a2"),
        |s, cx, r| pools::members(s, cx, "p0", r),
        |m| m.agent_id.clone(),
    );
    assert_eq!(members.len(), 2);
    assert_eq!(members.concat(), numbered("a", 7));

    let shares = every_page(
        7,
        crowd,
        agent("a3"),
        |s, cx, r| pools::query_shared(s, cx, "p0", "a3", Scope::Global, r),
        |sh| sh.memory_id.clone(),
    );
    assert_eq!(shares, [numbered("m", 7)]);
}

#[test]
fn a_member_who_leaves_between_pages_and_one_who_joins_are_neither_repeated_nor_skipped() {
    let mut cursor = None;
    crowd()
        .when(op(), |s, cx| {
            pools::members(s, cx, "p0", &PageRequest::first(3))
        })
        .then_value(|p| {
            assert_eq!(ids_of(&p.items), ["a0", "a1", "a2"]);
            cursor = p.next_cursor.clone();
        });
    crowd()
        .agent("late", "u1", ClaudeCode)
        .member("p0", "late", Write)
        .event(ev::left("p0", "a3"))
        .when(op(), |s, cx| {
            pools::members(s, cx, "p0", &PageRequest::after(10, cursor.clone()))
        })
        .then_read("pool.members_listed")
        .then_value(|p| {
            assert_eq!(ids_of(&p.items), ["a4", "a5", "a6", "late"]);
            assert_eq!(p.next_cursor, None);
        });
}

fn ids_of(members: &[pools::MemberView]) -> Vec<&str> {
    members.iter().map(|m| m.agent_id.as_str()).collect()
}

#[test]
fn every_list_checks_its_limit_and_its_cursor() {
    let bad_limit = PageRequest::first(501);
    let foreign = PageRequest::after(5, Some("pending.1".into()));
    for req in [&bad_limit, &foreign] {
        let field = if req.cursor.is_some() {
            "cursor"
        } else {
            "limit"
        };
        crowd()
            .when(op(), |s, cx| agents::list_by_owner(s, cx, "u1", req))
            .then_invalid(field);
        crowd()
            .when(op(), |s, cx| pools::list(s, cx, None, req))
            .then_invalid(field);
        crowd()
            .when(op(), |s, cx| pools::members(s, cx, "p0", req))
            .then_invalid(field);
        crowd()
            .when(agent("a1"), |s, cx| {
                pools::query_shared(s, cx, "p0", "a1", Scope::Global, req)
            })
            .then_invalid(field);
    }
}
