//! Snapshots over the SQLite journal: start-up with a long history, with and without a
//! snapshot, and the fall back to the last good point when a snapshot or the journal tail
//! is damaged.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod temp_support;

use maas_host::journal::{JournalBackend, MemoryJournal, SqliteJournal};
use maas_host::{CoreImage, Runtime, RuntimeOptions, agents, memories, types};
use std::path::Path;
use std::time::{Duration, Instant};
use temp_support::TempDir;

/// Entries in the long history.
const EVENTS: u64 = 200_000;

fn options() -> RuntimeOptions {
    let mut limits = maas_host::default_limits();
    // One agent writes the whole long history as fast as it can.
    limits.writes_per_minute = 1_000_000_000;
    limits.write_bytes_per_minute = 1 << 40;
    RuntimeOptions {
        snapshot_every: 0,
        limits,
        ..RuntimeOptions::default()
    }
}

fn start(journal: Box<dyn JournalBackend>) -> (Runtime, Duration) {
    let t = Instant::now();
    let rt = Runtime::new(CoreImage::shared().unwrap(), journal, options()).unwrap();
    (rt, t.elapsed())
}

fn open(path: &Path) -> Box<dyn JournalBackend> {
    Box::new(SqliteJournal::open(path).unwrap())
}

const OP: types::Caller = types::Caller::Operator;

fn digest(rt: &mut Runtime) -> String {
    rt.call(|c, s| c.maas_core_admin().call_state_digest(s, &OP))
        .unwrap()
}

fn store(rt: &mut Runtime, id: &str) -> Result<memories::Memory, types::Error> {
    let req = memories::StoreRequest {
        agent_id: "scribe".into(),
        content: format!("note {id}: the build cache lives in target/guest"),
        kind: memories::MemoryKind::Fact,
        tags: vec!["build".into()],
        memory_id: Some(id.into()),
        pool_id: None,
        scope: None,
        ttl_seconds: None,
    };
    let me = types::Caller::Agent("scribe".into());
    rt.call(|c, s| c.maas_core_memories().call_store_memory(s, &me, &req))
}

fn register_scribe(rt: &mut Runtime) {
    let req = agents::RegistrationRequest {
        agent_type: agents::AgentType::ClaudeCode,
        owner_id: "u-1".into(),
        agent_id: Some("scribe".into()),
        capabilities: None,
        metadata: None,
    };
    rt.call(|c, s| c.maas_core_agents().call_register(s, &OP, &req))
        .unwrap();
}

/// A history of `EVENTS` entries written by a real core: an agent, then one memory per
/// entry. (Reads are audited in the read-audit log, not the journal, so they would add
/// nothing to the history this replays.)
fn history() -> Vec<Vec<u8>> {
    let journal = MemoryJournal::new();
    let (mut rt, _) = start(Box::new(journal.clone()));
    register_scribe(&mut rt);
    while (journal.entries_len() as u64) < EVENTS {
        let next = journal.entries_len();
        store(&mut rt, &format!("m-{next}")).unwrap();
    }
    journal.entries()
}

fn sql(path: &Path, statement: &str, seq: u64) {
    let conn = rusqlite::Connection::open(path).unwrap();
    let changed = conn.execute(statement, [seq as i64]).unwrap();
    assert_eq!(changed, 1, "{statement} for {seq}");
}

#[test]
fn start_up_with_a_long_history_uses_the_snapshot_and_falls_back_from_damage() {
    let dir = TempDir::new("snapshots");
    let path = dir.0.join("journal.db");
    let entries = history();
    let head = entries.len() as u64;
    SqliteJournal::open(&path)
        .unwrap()
        .append_all(0, &entries)
        .unwrap();

    // Without a snapshot: every entry is replayed.
    let (mut rt, replaying) = start(open(&path));
    assert_eq!(rt.last_snapshot(), 0);
    let expected = digest(&mut rt);
    let first = rt.snapshot().unwrap();
    assert!(first >= head);
    drop(rt);

    // With one: only the tail after it.
    let (mut rt, from_snapshot) = start(open(&path));
    assert_eq!(rt.last_snapshot(), first);
    assert!(rt.notices().is_empty(), "{:?}", rt.notices());
    assert_eq!(digest(&mut rt), expected);
    println!(
        "start-up with {head} entries: {replaying:?} replaying them, {from_snapshot:?} from a snapshot"
    );

    // A newer snapshot, then damaged (cut in half): reported, and the older one is used.
    store(&mut rt, "m-after-first").unwrap();
    let expected = digest(&mut rt);
    let second = rt.snapshot().unwrap();
    drop(rt);
    sql(
        &path,
        "UPDATE snapshot_chunks SET data = substr(data, 1, length(data) / 2) WHERE seq = ?1 AND part = 0",
        second,
    );
    let (mut rt, _) = start(open(&path));
    assert_eq!(rt.last_snapshot(), first);
    let notices = rt.notices().join("\n");
    assert!(
        notices.contains(&format!("snapshot as of entry {second}")) && notices.contains("damaged"),
        "{notices}"
    );
    assert_eq!(digest(&mut rt), expected);

    // A damaged entry in the tail: it and what follows are set aside, the core starts from
    // the entry before it, and goes on writing from there.
    let good = rt.snapshot().unwrap();
    let mut watcher = SqliteJournal::open(&path).unwrap();
    let mut written = Vec::new();
    for i in 1..=5 {
        store(&mut rt, &format!("m-tail-{i}")).unwrap();
        written.push(watcher.head().unwrap());
    }
    drop(rt);
    let damaged = written[2];
    sql(
        &path,
        "UPDATE journal SET data = CAST('{\"v\":1,\"at\":0,\"events\":[]}' AS BLOB) WHERE seq = ?1",
        damaged,
    );
    let (mut rt, _) = start(open(&path));
    let notices = rt.notices().join("\n");
    assert!(
        notices.contains(&format!("journal entry {damaged}"))
            && notices.contains("set aside")
            && notices.contains(&format!("starting from entry {}", damaged - 1)),
        "{notices}"
    );
    assert_eq!(rt.last_snapshot(), good);
    let me = types::Caller::Agent("scribe".into());
    for (id, kept) in [("m-tail-2", true), ("m-tail-3", false), ("m-tail-5", false)] {
        let found = rt.call(|c, s| c.maas_core_memories().call_get(s, &me, "scribe", id));
        assert_eq!(found.is_ok(), kept, "{id}: {found:?}");
    }
    store(&mut rt, "m-tail-3").unwrap();
    drop(rt);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let set_aside: i64 = conn
        .query_row("SELECT COUNT(*) FROM damaged", [], |r| r.get(0))
        .unwrap();
    assert_eq!(set_aside as u64, written[4] - damaged + 1);
}

#[test]
fn a_journal_from_before_checksums_opens_and_replays() {
    let dir = TempDir::new("legacy-layout");
    let path = dir.0.join("journal.db");
    let entries = {
        let journal = MemoryJournal::new();
        let (mut rt, _) = start(Box::new(journal.clone()));
        register_scribe(&mut rt);
        store(&mut rt, "m-1").unwrap();
        journal.entries()
    };
    // The layout the first release wrote: no checksum column, one snapshot slot.
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode=WAL;
         CREATE TABLE journal (seq INTEGER PRIMARY KEY, data BLOB NOT NULL);
         CREATE TABLE snapshot (id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL, data BLOB NOT NULL);",
    )
    .unwrap();
    for (seq, data) in (1..).zip(&entries) {
        conn.execute(
            "INSERT INTO journal (seq, data) VALUES (?1, ?2)",
            rusqlite::params![seq, data],
        )
        .unwrap();
    }
    drop(conn);
    let (mut rt, _) = start(open(&path));
    let me = types::Caller::Agent("scribe".into());
    assert!(
        rt.call(|c, s| c.maas_core_memories().call_get(s, &me, "scribe", "m-1"))
            .is_ok()
    );
    store(&mut rt, "m-2").unwrap();
    drop(rt);
    let (mut rt, _) = start(open(&path));
    assert!(
        rt.call(|c, s| c.maas_core_memories().call_get(s, &me, "scribe", "m-2"))
            .is_ok()
    );
}

fn rewritten(e: &types::Error) -> bool {
    matches!(e, types::Error::Unavailable(m)
        if m.starts_with(maas_core::engine::JOURNAL_REWRITTEN) && m.contains("started again"))
}

fn count(path: &Path, query: &str) -> i64 {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.query_row(query, [], |r| r.get(0)).unwrap()
}

#[test]
fn a_tail_set_aside_by_another_process_restarts_a_running_core_and_takes_its_snapshots() {
    let dir = TempDir::new("rewritten-under");
    let path = dir.0.join("journal.db");
    let (mut server, _) = start(open(&path));
    register_scribe(&mut server);
    let mut watcher = SqliteJournal::open(&path).unwrap();
    let mut written = Vec::new();
    for i in 1..=8 {
        store(&mut server, &format!("m-{i}")).unwrap();
        written.push(watcher.head().unwrap());
        if i == 3 || i == 8 {
            server.snapshot().unwrap();
        }
    }
    // Entry 6 is damaged, and the newer snapshot too: another process starting falls
    // back to the older one, sets entry 6 and what follows aside, and the newer snapshot
    // with them.
    let damaged = written[5];
    sql(
        &path,
        "UPDATE journal SET data = CAST('{\"v\":1,\"at\":0,\"events\":[]}' AS BLOB) WHERE seq = ?1",
        damaged,
    );
    sql(
        &path,
        "UPDATE snapshot_chunks SET data = substr(data, 1, length(data) / 2) WHERE seq = ?1 AND part = 0",
        written[7],
    );
    let (mut other, _) = start(open(&path));
    assert_eq!(other.last_snapshot(), written[2]);
    assert!(
        other.notices().join("\n").contains("set aside"),
        "{:?}",
        other.notices()
    );
    assert_eq!(
        count(&path, "SELECT COUNT(*) FROM snapshots"),
        1,
        "the snapshot of entries set aside goes with them"
    );
    assert_eq!(count(&path, "SELECT COUNT(*) FROM damaged_snapshots"), 1);
    // The other process writes until the journal is as long as the running core's:
    // only the set-aside mark tells the core its entries 6 to 8 are gone. Its next call
    // is refused, and it starts again from the journal.
    let head = |path: &Path| count(path, "SELECT MAX(seq) FROM journal") as u64;
    let mut i = 100;
    while head(&path) < written[7] {
        store(&mut other, &format!("m-{i}")).unwrap();
        i += 1;
    }
    assert_eq!(head(&path), written[7]);
    let e = store(&mut server, "m-9").unwrap_err();
    assert!(rewritten(&e), "{e:?}");
    let me = types::Caller::Agent("scribe".into());
    for (id, kept) in [
        ("m-5", true),
        ("m-6", false),
        ("m-8", false),
        ("m-100", true),
    ] {
        let found = server.call(|c, s| c.maas_core_memories().call_get(s, &me, "scribe", id));
        assert_eq!(found.is_ok(), kept, "{id}: {found:?}");
    }
    store(&mut server, "m-9").unwrap();
    for i in 10..=14 {
        store(&mut other, &format!("m-{i}")).unwrap();
    }
    assert_eq!(digest(&mut server), digest(&mut other));

    // A snapshot left from before a tail was set aside (by a release that kept it): the
    // entries written after it do not follow it, so a start falls back to an older one.
    let stale = server.snapshot().unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute("DELETE FROM journal WHERE seq >= ?1", [(stale - 2) as i64])
        .unwrap();
    drop(conn);
    for i in 15..=20 {
        let _ = store(&mut other, &format!("m-{i}"));
    }
    store(&mut other, "m-21").unwrap();
    assert!(head(&path) > stale);
    let expected = digest(&mut other);
    let (mut fresh, _) = start(open(&path));
    let notices = fresh.notices().join("\n");
    assert!(
        notices.contains(&format!("snapshot as of entry {stale} does not lead")),
        "{notices}"
    );
    assert!(fresh.last_snapshot() < stale);
    assert_eq!(digest(&mut fresh), expected);
}
