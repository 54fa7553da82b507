//! The change feed through a core: each agent sees the changes it may see, checked when
//! the feed is read; pages concatenate to the whole feed; cursors survive a restart.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use maas_core::agents::RegistrationRequest;
use maas_core::changes::{Filter, Page};
use maas_core::memories::{StoreRequest, UpdateRequest};
use maas_core::model::{Capability, MemoryKind, Permission, Scope};
use maas_core::pools::PoolRequest;
use maas_core::state::HandoffContext;
use maas_core::{Caller, Core, Error, Limits, MemoryJournal, SeededEnv};

type TestCore = Core<MemoryJournal, SeededEnv>;

fn core(journal: MemoryJournal, limits: Limits) -> TestCore {
    let mut core = Core::new(journal, SeededEnv::new(1_000_000, 0, 7), limits);
    core.init(limits).unwrap();
    core
}

const OP: Caller = Caller::Operator;

fn me(id: &str) -> Caller {
    Caller::Agent(id.into())
}

/// `ann` and `amy` (owner u1), `bob` (owner u2), `eve` (owner u3); pool `p` of u1 at
/// scope global with ann (admin) and bob (write); eve is in no pool.
fn world() -> TestCore {
    let mut c = core(MemoryJournal::default(), Limits::default());
    for (id, owner) in [("ann", "u1"), ("amy", "u1"), ("bob", "u2"), ("eve", "u3")] {
        let req = RegistrationRequest::claude_code(id, owner);
        c.register(&OP, &req).unwrap();
    }
    pool(&mut c, "p");
    c.join_pool(&OP, "p", "bob", Permission::Write).unwrap();
    c
}

/// Registers `id` of `owner` with just `caps`.
fn register_with(c: &mut TestCore, id: &str, owner: &str, caps: Vec<Capability>) {
    let mut req = RegistrationRequest::claude_code(id, owner);
    req.capabilities = Some(caps);
    c.register(&OP, &req).unwrap();
}

/// Pool `id` of u1 at scope global, with ann its admin.
fn pool(c: &mut TestCore, id: &str) {
    let req = PoolRequest {
        name: format!("pool {id}"),
        owner_id: "u1".into(),
        scope: Scope::Global,
        team: None,
        pool_id: Some(id.into()),
        metadata: None,
    };
    c.create_pool(&OP, None, &req).unwrap();
    c.join_pool(&OP, id, "ann", Permission::Admin).unwrap();
}

fn store(c: &mut TestCore, author: &str, id: &str, pool: Option<(&str, Scope)>) {
    let req = StoreRequest {
        agent_id: author.into(),
        content: format!("notes about the deploy {id}"),
        kind: MemoryKind::Note,
        tags: vec![],
        memory_id: Some(id.into()),
        pool_id: pool.map(|(p, _)| p.into()),
        scope: pool.map(|(_, s)| s),
        ttl_seconds: None,
    };
    c.store_memory(&me(author), &req).unwrap();
}

/// ann shares memory `id` into `p` at project scope, for ten seconds.
fn brief(c: &mut TestCore, id: &str) {
    let req = StoreRequest {
        agent_id: "ann".into(),
        content: "a note for the next ten seconds".into(),
        kind: MemoryKind::Note,
        tags: vec![],
        memory_id: Some(id.into()),
        pool_id: Some("p".into()),
        scope: Some(Scope::Project),
        ttl_seconds: Some(10),
    };
    c.store_memory(&me("ann"), &req).unwrap();
}

/// `author` revises the content of its memory `id`, at version 1.
fn revise(c: &mut TestCore, author: &str, id: &str) {
    let req = UpdateRequest {
        agent_id: author.into(),
        memory_id: id.into(),
        content: Some("notes, revised".into()),
        tags: None,
        kind: None,
        expected_version: 1,
    };
    c.update_memory(&me(author), &req).unwrap();
}

fn feed(c: &mut TestCore, who: &str, after: &str) -> Vec<(String, String)> {
    let page = c
        .changes(&me(who), None, Some(after), Filter::default(), Some(500))
        .unwrap();
    page.changes
        .into_iter()
        .map(|ch| (ch.kind.to_string(), ch.object_id))
        .collect()
}

fn kinds(list: &[(String, String)]) -> Vec<&str> {
    list.iter().map(|(k, _)| k.as_str()).collect()
}

fn head(c: &mut TestCore) -> String {
    c.changes(&OP, None, None, Filter::default(), None)
        .unwrap()
        .head
}

#[test]
fn each_agent_sees_only_what_it_may_see() {
    let mut c = world();
    let start = head(&mut c);
    store(&mut c, "ann", "m-proj", Some(("p", Scope::Project)));
    store(&mut c, "ann", "m-user", Some(("p", Scope::User)));
    store(&mut c, "ann", "m-own", None);
    let ctx = HandoffContext {
        task_description: "finish the migration".into(),
        current_state: "{}".into(),
        relevant_memories: vec![],
        relevant_files: vec![],
    };
    let h = c.initiate(&me("ann"), "ann", "bob", &ctx, None).unwrap().id;
    c.accept(&me("bob"), &h, "bob").unwrap();
    revise(&mut c, "ann", "m-proj");

    let bob = feed(&mut c, "bob", &start);
    assert_eq!(
        bob,
        [
            ("memory.shared".to_string(), "m-proj".to_string()),
            ("handoff.initiated".into(), h.clone()),
            ("handoff.accepted".into(), h.clone()),
            ("memory.updated".into(), "m-proj".into()),
        ],
        "bob is in p but of another owner: the user-scoped share is not his"
    );
    let ann = feed(&mut c, "ann", &start);
    assert_eq!(
        kinds(&ann),
        [
            "memory.shared",
            "memory.shared",
            "handoff.initiated",
            "handoff.accepted",
            "memory.updated"
        ]
    );
    assert!(
        feed(&mut c, "eve", &start).is_empty(),
        "eve is in no pool and no handoff"
    );
    assert!(
        feed(&mut c, "amy", &start).is_empty(),
        "amy is not a member of p"
    );

    // Unsharing hides the share itself; the members are told of the unshare.
    let before_unshare = head(&mut c);
    c.unshare(&me("ann"), "p", "m-proj", "ann").unwrap();
    let bob = feed(&mut c, "bob", &start);
    assert!(
        !bob.iter()
            .any(|(k, id)| k == "memory.shared" && id == "m-proj")
    );
    assert_eq!(
        feed(&mut c, "bob", &before_unshare),
        [("memory.unshared".to_string(), "m-proj".to_string())]
    );
    assert!(feed(&mut c, "eve", &before_unshare).is_empty());

    // A deletion reaches whoever the share reached; a user-scoped share stays u1's.
    let before_delete = head(&mut c);
    c.delete_memory(&me("ann"), "ann", "m-user").unwrap();
    assert!(feed(&mut c, "bob", &before_delete).is_empty());
    assert_eq!(
        feed(&mut c, "ann", &before_delete),
        [("memory.deleted".to_string(), "m-user".to_string())]
    );

    // Membership: bob learns he left; ann, still a member, too; eve nothing.
    let before_leave = head(&mut c);
    c.leave_pool(&me("bob"), "p", "bob").unwrap();
    assert_eq!(kinds(&feed(&mut c, "bob", &before_leave)), ["pool.left"]);
    assert_eq!(kinds(&feed(&mut c, "ann", &before_leave)), ["pool.left"]);
    assert!(feed(&mut c, "eve", &before_leave).is_empty());
    // The operator sees everything.
    let all = c
        .changes(&OP, None, Some(&start), Filter::default(), Some(500))
        .unwrap();
    assert!(all.changes.len() >= 9, "{:?}", all.changes);
}

fn all_pages(c: &mut TestCore, who: &str, after: &str, limit: u32) -> (Vec<String>, Page) {
    let mut got = Vec::new();
    let mut after = after.to_string();
    loop {
        let page = c
            .changes(&me(who), None, Some(&after), Filter::default(), Some(limit))
            .unwrap();
        got.extend(page.changes.iter().map(|ch| ch.cursor.clone()));
        after = page.next_cursor.clone();
        if !page.has_more {
            return (got, page);
        }
    }
}

#[test]
fn pages_concatenate_to_the_whole_feed_and_survive_a_restart() {
    let mut c = world();
    let start = head(&mut c);
    for i in 0..40 {
        store(&mut c, "ann", &format!("m{i}"), Some(("p", Scope::Project)));
    }
    // A deletion with two events in one entry seen by bob: a page may end inside it.
    let whole = c
        .changes(&me("bob"), None, Some(&start), Filter::default(), Some(500))
        .unwrap();
    assert_eq!(whole.changes.len(), 40);
    assert!(!whole.has_more);
    for limit in [1, 3, 7, 40] {
        let (got, last) = all_pages(&mut c, "bob", &start, limit);
        let want: Vec<String> = whole.changes.iter().map(|ch| ch.cursor.clone()).collect();
        assert_eq!(got, want, "limit {limit}");
        assert_eq!(last.next_cursor, last.head);
    }
    // The same cursor over a new core on the same journal gives the same page.
    let journal = c.engine.journal.clone();
    let mut again = core(journal, Limits::default());
    let second = again
        .changes(&me("bob"), None, Some(&start), Filter::default(), Some(500))
        .unwrap();
    assert_eq!(second, whole);
}

#[test]
fn a_memory_read_through_a_global_share_never_tells_a_non_member_its_pool() {
    let mut c = world();
    let start = head(&mut c);
    // eve, in no pool, reads m-glob (a global share into p) but may not learn p.
    store(&mut c, "ann", "m-glob", Some(("p", Scope::Global)));
    assert!(c.get_memory(&me("eve"), "eve", "m-glob").is_ok());
    revise(&mut c, "ann", "m-glob");
    assert_eq!(
        feed(&mut c, "eve", &start),
        [("memory.updated".to_string(), "m-glob".to_string())],
        "the update of a memory eve reads, naming no pool"
    );
    let in_pool = |c: &mut TestCore, who: &str, pool: &str| {
        let filter = Filter {
            kinds: Vec::new(),
            pool_id: Some(pool.into()),
        };
        c.changes(&me(who), None, Some(&start), filter, None)
            .unwrap()
            .changes
            .len()
    };
    assert_eq!(
        in_pool(&mut c, "eve", "p"),
        0,
        "the right pool tells nothing"
    );
    assert_eq!(in_pool(&mut c, "eve", "nope"), 0);
    assert_eq!(
        in_pool(&mut c, "bob", "p"),
        2,
        "a member: the share and the update"
    );
    let before = head(&mut c);
    c.unshare(&me("ann"), "p", "m-glob", "ann").unwrap();
    store(&mut c, "ann", "m-glob2", Some(("p", Scope::Global)));
    c.delete_memory(&me("ann"), "ann", "m-glob2").unwrap();
    // eve, who read them, learns they are gone, without the pool.
    let eve = c
        .changes(&me("eve"), None, Some(&before), Filter::default(), None)
        .unwrap()
        .changes;
    let seen: Vec<(&str, &str, Option<&str>)> = eve
        .iter()
        .map(|ch| (ch.kind, ch.object_id.as_str(), ch.pool_id.as_deref()))
        .collect();
    assert_eq!(
        seen,
        [
            ("memory.unshared", "m-glob", None),
            ("memory.deleted", "m-glob2", None)
        ]
    );
    assert!(eve.iter().all(|ch| !ch.summary.contains("pool")), "{eve:?}");
    assert_eq!(
        kinds(&feed(&mut c, "bob", &before)),
        ["memory.unshared", "memory.deleted"]
    );
}

/// A member of a pool that may write memories but not read them (`memory_read`) is
/// refused by `get_memory` and `query_shared`, and its feed showed the pool's shares
/// all the same (id, sharer, pool and scope; a project share, though not a global one).
/// A memory's changes now show only to readers that may read memories.
#[test]
fn a_member_without_memory_read_sees_no_memory_changes() {
    let mut c = world();
    register_with(&mut c, "wen", "u2", vec![Capability::MemoryWrite]);
    c.join_pool(&OP, "p", "wen", Permission::Write).unwrap();
    let start = head(&mut c);
    store(&mut c, "ann", "m-proj", Some(("p", Scope::Project)));
    store(&mut c, "ann", "m-glob", Some(("p", Scope::Global)));
    revise(&mut c, "ann", "m-proj");
    store(&mut c, "wen", "m-wen", Some(("p", Scope::Project)));
    c.unshare(&me("ann"), "p", "m-proj", "ann").unwrap();
    assert!(c.get_memory(&me("wen"), "wen", "m-proj").is_err());
    assert!(c.get_memory(&me("wen"), "wen", "m-wen").is_err());
    assert_eq!(feed(&mut c, "wen", &start), []);
    // bob, a member with memory_read, sees the shares that stand and the unshare.
    let pair = |k: &str, id: &str| (k.to_string(), id.to_string());
    assert_eq!(
        feed(&mut c, "bob", &start),
        [
            pair("memory.shared", "m-glob"),
            pair("memory.shared", "m-wen"),
            pair("memory.unshared", "m-proj")
        ]
    );
}

/// An expired memory is read nowhere, yet its share and its updates stayed in every
/// member's feed for good (its id, pool, sharer and scope), even to a member that
/// joined after it expired. They are now shown only until it expires (the operator
/// still sees them).
#[test]
fn an_expired_memory_s_changes_leave_the_feed() {
    let mut c = world();
    let start = head(&mut c);
    brief(&mut c, "m-brief");
    revise(&mut c, "ann", "m-brief");
    store(&mut c, "ann", "m-kept", Some(("p", Scope::Project)));
    assert_eq!(
        kinds(&feed(&mut c, "bob", &start)),
        ["memory.shared", "memory.updated", "memory.shared"]
    );
    c.engine.env.now += 10_000;
    assert!(c.get_memory(&me("bob"), "bob", "m-brief").is_err());
    c.join_pool(&OP, "p", "eve", Permission::Read).unwrap();
    let kept = [("memory.shared".to_string(), "m-kept".to_string())];
    let memories = |list: Vec<(String, String)>| -> Vec<(String, String)> {
        list.into_iter()
            .filter(|(k, _)| k.starts_with("memory."))
            .collect()
    };
    assert_eq!(memories(feed(&mut c, "bob", &start)), kept);
    assert_eq!(memories(feed(&mut c, "eve", &start)), kept);
    let all = c
        .changes(&OP, None, Some(&start), Filter::default(), None)
        .unwrap()
        .changes;
    assert!(all.iter().any(|ch| ch.object_id == "m-brief"));
}

/// A batch of several kinds of knowledge named its first document, whatever its kind,
/// to any reader of one of its kinds: an incident's id to an agent without
/// `incident_read`. Each reader is now told of the documents of the kinds it may read.
#[test]
fn a_mixed_knowledge_batch_names_only_what_the_reader_may_read() {
    use maas_core::events::Document;
    use maas_core::model::DocumentKind;
    let mut c = world();
    register_with(&mut c, "coder", "u2", vec![Capability::KbSearch]);
    register_with(&mut c, "oncall", "u2", vec![Capability::IncidentRead]);
    let start = head(&mut c);
    let doc = |kind, id: &str| Document {
        kind,
        id: id.into(),
        title: format!("about {id}"),
        content: "the payroll service retries twice".into(),
        service: Some("payroll".into()),
        path: None,
        topic: None,
        severity: None,
        lines: None,
    };
    let docs = [
        doc(DocumentKind::Incident, "INC-7-payroll-breach"),
        doc(DocumentKind::Code, "retry.rs"),
        doc(DocumentKind::Code, "queue.rs"),
    ];
    c.ingest(&OP, &docs).unwrap();
    let told = |c: &mut TestCore, who: &str| {
        c.changes(&me(who), None, Some(&start), Filter::default(), None)
            .unwrap()
            .changes
            .into_iter()
            .map(|ch| (ch.object_id, ch.summary))
            .collect::<Vec<_>>()
    };
    let coder = told(&mut c, "coder");
    assert_eq!(coder.len(), 1);
    assert_eq!(coder[0].0, "code/retry.rs");
    assert!(!coder[0].1.contains("INC-7"), "{coder:?}");
    assert!(coder[0].1.starts_with("2 knowledge documents"), "{coder:?}");
    let oncall = told(&mut c, "oncall");
    assert_eq!(oncall.len(), 1);
    assert_eq!(oncall[0].0, "incident/INC-7-payroll-breach");
    assert!(!oncall[0].1.contains("retry"), "{oncall:?}");
    let op = c
        .changes(&OP, None, Some(&start), Filter::default(), None)
        .unwrap()
        .changes;
    assert!(
        op[0].summary.starts_with("3 knowledge documents"),
        "{:?}",
        op[0]
    );
}

/// What a change tells of who made it and of shares that ended: the end of a `global`
/// share reached every agent with `memory_read`, those registered after it included,
/// naming another owner's admin as its actor; a handoff's expiry named the agent whose
/// unrelated call recorded it; an expired memory's unshare was shown to members who
/// could no longer read it.
#[test]
fn ended_shares_and_expiries_tell_no_more_than_the_reader_could_see() {
    let mut c = world();
    let start = head(&mut c);
    let actors = |c: &mut TestCore, who: &str| {
        c.changes(&me(who), None, Some(&start), Filter::default(), None)
            .unwrap()
            .changes
            .into_iter()
            .map(|ch| (ch.kind.to_string(), ch.object_id, ch.actor))
            .collect::<Vec<_>>()
    };
    // eve (u3) reads ann's global share; ann ends it.
    store(&mut c, "ann", "m-g", Some(("p", Scope::Global)));
    assert!(c.get_memory(&me("eve"), "eve", "m-g").is_ok());
    c.unshare(&me("ann"), "p", "m-g", "ann").unwrap();
    let eve = actors(&mut c, "eve");
    assert_eq!(
        eve,
        [("memory.unshared".to_string(), "m-g".to_string(), None)],
        "told it ended, not by whom (ann is another owner's)"
    );
    // zed (u3), registered after, never could read it.
    c.engine.env.now += 1_000;
    c.register(&OP, &RegistrationRequest::claude_code("zed", "u3"))
        .unwrap();
    assert_eq!(actors(&mut c, "zed"), []);
    // A handoff expires in the entry of amy's unrelated call: no actor.
    let ctx = HandoffContext {
        task_description: "rotate the keys".into(),
        current_state: "{}".into(),
        relevant_memories: vec![],
        relevant_files: vec![],
    };
    let h = c
        .initiate(&me("ann"), "ann", "bob", &ctx, Some(1))
        .unwrap()
        .id;
    c.engine.env.now += 5_000;
    c.initiate(&me("amy"), "amy", "eve", &ctx, None).unwrap();
    let expired: Vec<_> = actors(&mut c, "ann")
        .into_iter()
        .filter(|(k, id, _)| k == "handoff.expired" && *id == h)
        .collect();
    assert_eq!(expired.len(), 1, "{expired:?}");
    assert_eq!(expired[0].2, None, "amy did not expire it");
    // An expired memory's unshare is not shown to a member (its sharer sees it).
    brief(&mut c, "m-t");
    c.engine.env.now += 10_000;
    c.unshare(&me("ann"), "p", "m-t", "ann").unwrap();
    assert!(
        actors(&mut c, "bob").iter().all(|(_, id, _)| id != "m-t"),
        "{:?}",
        actors(&mut c, "bob")
    );
}

#[test]
fn a_pool_filter_never_tells_a_member_of_a_share_it_cannot_see() {
    let mut c = world();
    pool(&mut c, "q");
    let start = head(&mut c);
    // m is in p only as ann's private share, and in q for everyone: bob, a member of
    // p, reads it through q but may not learn it is in p.
    store(&mut c, "ann", "m", Some(("p", Scope::AgentPrivate)));
    c.share(&me("ann"), "q", "m", "ann", Scope::Global).unwrap();
    revise(&mut c, "ann", "m");
    let in_p = |c: &mut TestCore, who: &str| -> Vec<&'static str> {
        let filter = Filter {
            kinds: Vec::new(),
            pool_id: Some("p".into()),
        };
        let page = c.changes(&me(who), None, Some(&start), filter, None);
        page.unwrap().changes.iter().map(|ch| ch.kind).collect()
    };
    assert!(in_p(&mut c, "bob").is_empty());
    assert_eq!(in_p(&mut c, "ann"), ["memory.shared", "memory.updated"]);
}

#[test]
fn only_reads_that_show_changes_are_audited() {
    let mut c = world();
    let start = head(&mut c);
    let listed = |c: &mut TestCore| {
        let filter = maas_core::audit::AuditFilter {
            event_type: Some("change.listed".into()),
            limit: Some(1000),
            ..Default::default()
        };
        c.audit(&OP, &filter).unwrap().len()
    };
    let before = listed(&mut c);
    // eve follows the feed while others write: nothing she may see, nothing recorded.
    for i in 0..5 {
        store(&mut c, "ann", &format!("m{i}"), None);
        assert!(feed(&mut c, "eve", &start).is_empty());
    }
    assert_eq!(listed(&mut c), before);
    // A read that shows a change is.
    store(&mut c, "ann", "m-proj", Some(("p", Scope::Project)));
    assert_eq!(feed(&mut c, "bob", &start).len(), 1);
    assert_eq!(listed(&mut c), before + 1);
}

#[test]
fn filters_narrow_by_kind_and_pool() {
    let mut c = world();
    let start = head(&mut c);
    store(&mut c, "ann", "m1", Some(("p", Scope::Project)));
    let ctx = HandoffContext {
        task_description: "review".into(),
        current_state: "{}".into(),
        relevant_memories: vec![],
        relevant_files: vec![],
    };
    c.initiate(&me("ann"), "ann", "bob", &ctx, None).unwrap();
    let only = |kinds: &[&str], pool: Option<&str>| Filter {
        kinds: kinds.iter().map(|k| k.to_string()).collect(),
        pool_id: pool.map(str::to_string),
    };
    let page = c
        .changes(
            &me("bob"),
            None,
            Some(&start),
            only(&["handoff"], None),
            None,
        )
        .unwrap();
    assert_eq!(page.changes.len(), 1);
    assert_eq!(page.changes[0].kind, "handoff.initiated");
    let page = c
        .changes(&me("bob"), None, Some(&start), only(&[], Some("p")), None)
        .unwrap();
    assert_eq!(page.changes.len(), 1);
    assert_eq!(page.changes[0].kind, "memory.shared");
    let err = c
        .changes(
            &me("bob"),
            None,
            Some(&start),
            only(&["gossip"], None),
            None,
        )
        .unwrap_err();
    assert!(
        matches!(err, Error::InvalidInput { ref field, .. } if field == "kinds"),
        "{err:?}"
    );
}

#[test]
fn bad_cursors_get_typed_errors() {
    let mut c = world();
    let head_now = head(&mut c);
    for bad in ["", "x", "c", "c1.", "c-1", "12", "c99999999999999999999999"] {
        let err = c
            .changes(&me("bob"), None, Some(bad), Filter::default(), None)
            .unwrap_err();
        assert!(
            matches!(err, Error::InvalidInput { ref field, .. } if field == "after"),
            "{bad}: {err:?}"
        );
    }
    let err = c
        .changes(&me("bob"), None, Some("c999999"), Filter::default(), None)
        .unwrap_err();
    assert!(format!("{err}").contains("ahead of the journal"), "{err}");
    for limit in [0, 501] {
        let err = c
            .changes(
                &me("bob"),
                None,
                Some(&head_now),
                Filter::default(),
                Some(limit),
            )
            .unwrap_err();
        assert!(matches!(err, Error::InvalidInput { ref field, .. } if field == "limit"));
    }
    // Another agent's feed is not bob's to read.
    let err = c
        .changes(&me("bob"), Some("ann"), None, Filter::default(), None)
        .unwrap_err();
    assert!(matches!(err, Error::PermissionDenied(_)), "{err:?}");

    // Past the window and a day old: expired, saying how to resynchronise.
    let small = Limits {
        change_window: 3,
        ..Limits::default()
    };
    let mut c = core(c.engine.journal.clone(), small);
    c.engine.env.now += maas_core::changes::KEPT_FOR_MS;
    let err = c
        .changes(&me("bob"), None, Some("c1"), Filter::default(), None)
        .unwrap_err();
    assert!(
        matches!(err, Error::Expired(ref m) if m.contains("resynchronise")),
        "{err:?}"
    );
}

/// The window counts entries, so one owner writing fast would expire every other
/// reader's cursor (at 2,800 entries a second the default million went in six minutes):
/// a cursor whose next entry is less than a day old is served past it, and its pages
/// still show the reader's changes among the flood.
#[test]
fn another_owners_flood_does_not_expire_a_cursor_of_the_last_day() {
    let small = Limits {
        change_window: 5,
        ..Limits::default()
    };
    let c = world();
    let mut c = core(c.engine.journal.clone(), small);
    let from = head(&mut c);
    for i in 0..20 {
        store(&mut c, "eve", &format!("flood{i}"), None);
    }
    store(&mut c, "ann", "for-bob", Some(("p", Scope::Project)));
    let page = c
        .changes(&me("bob"), None, Some(&from), Filter::default(), None)
        .unwrap();
    let kinds: Vec<_> = page.changes.iter().map(|ch| ch.kind).collect();
    assert_eq!(kinds, ["memory.shared"], "{:?}", page.changes);

    // A day later the same cursor is past the window and too old.
    c.engine.env.now += maas_core::changes::KEPT_FOR_MS;
    let err = c
        .changes(&me("bob"), None, Some(&from), Filter::default(), None)
        .unwrap_err();
    assert!(matches!(err, Error::Expired(_)), "{err:?}");
}

/// A call decodes at most `MAX_SCAN_BYTES` of journal entries (68 entries of 3.6 MB cost
/// a call 525 ms whatever it asked for): over large entries a page ends early with
/// `has_more`, and the pages still concatenate to the whole feed.
#[test]
fn a_page_reads_a_bounded_number_of_bytes_and_pages_still_cover_the_feed() {
    let mut c = world();
    let start = head(&mut c);
    let text = "deploy notes for the release train ".repeat(1_800);
    assert!(text.len() > 60_000 && text.len() <= 64 * 1024);
    for i in 0..100 {
        let req = StoreRequest {
            agent_id: "ann".into(),
            content: format!("{i} {text}"),
            kind: MemoryKind::Note,
            tags: vec![],
            memory_id: Some(format!("big{i}")),
            pool_id: Some("p".into()),
            scope: Some(Scope::Project),
            ttl_seconds: None,
        };
        c.store_memory(&me("ann"), &req).unwrap();
    }
    let first = c
        .changes(&me("bob"), None, Some(&start), Filter::default(), Some(500))
        .unwrap();
    assert!(first.has_more, "{} changes, no more", first.changes.len());
    let bound = maas_core::changes::MAX_SCAN_BYTES / 60_000 + 1;
    assert!(
        !first.changes.is_empty() && first.changes.len() <= bound,
        "{} changes in one page",
        first.changes.len()
    );
    let (all, last) = all_pages(&mut c, "bob", &start, 500);
    assert_eq!(all.len(), 100);
    assert!(!last.has_more);
    assert_eq!(last.next_cursor, last.head);
}
