//! One test per rule of who reads a memory, through the read-access bitmaps, each also
//! checked against the rules for every agent at times around its events.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod visibility_support;

use maas_core::events::Event;
use maas_core::model::{Capability, Scope};
use maas_core::visibility::readable_by;
use visibility_support::{History, by_the_rules};

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
    h.apply(Event::PoolDeleted {
        id: "red2".into(),
        members: Vec::new(),
    });
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
        shared_by: None,
        scope: None,
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

#[test]
fn a_reader_asking_again_gets_the_same_set_until_time_or_an_event_changes_it() {
    let mut h = History::new();
    h.register("a1", "ann", true);
    h.store("m1", "a1", Some(h.at + 100));
    h.store("m2", "a1", None);
    assert_eq!(h.reads("a1"), ["m1", "m2"]);
    assert_eq!(h.reads("a1"), ["m1", "m2"], "asked again");
    // No event, only time: the expired memory goes all the same.
    h.at += 100;
    assert_eq!(h.reads("a1"), ["m2"]);
    // An event: the new memory is read at once.
    h.store("m3", "a1", None);
    assert_eq!(h.reads("a1"), ["m2", "m3"]);
    h.check("asked again");
}

/// `readable_by` answers for the agent it is given: the same id with other capabilities
/// at the same state position reads what a fresh state says it reads.
#[test]
fn the_same_id_without_memory_read_does_not_read_the_global_shares() {
    let mut h = History::new();
    h.register("a1", "ann", true);
    h.register("a2", "bob", true);
    h.pool("p1", "bob", None);
    h.join("p1", "a2");
    h.store("m1", "a2", None);
    h.share("p1", "m1", "a2", Scope::Global);
    let with = h.agent("a1");
    assert_eq!(readable_by(&h.s, &with, h.at).len(), 1);
    let mut without = with.clone();
    without
        .capabilities
        .retain(|c| *c != Capability::MemoryRead);
    let fresh = h.s.clone();
    assert_eq!(
        *readable_by(&fresh, &without, h.at),
        by_the_rules(&h.s, &without, h.at)
    );
    assert_eq!(
        *readable_by(&h.s, &without, h.at),
        *readable_by(&fresh, &without, h.at),
        "the reader memo answered for the agent as first given"
    );
}
