//! Snapshots in chunks: a state needing many chunks saves and restores to the digest full
//! replay gives; a damaged chunk falls back to the older snapshot or the whole journal; a
//! snapshot that cannot be saved neither restarts the core nor is tried again on every
//! append; an import whose snapshot fails reports the entries it wrote; snapshots saved
//! beside the core never hold its calls, over SQLite or PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod failing_support;
mod pg_support;
mod temp_support;

use failing_support::{failing, held, slow};
use maas_host::cli::import::{ImportOptions, import_entries};
use maas_host::journal::{JournalBackend, MemoryJournal, PostgresJournal, SqliteJournal};
use maas_host::runtime::JournalOpener;
use maas_host::{CoreImage, Runtime, RuntimeOptions, agents, default_limits, memories, types};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use temp_support::TempDir;

/// Chunk size: small, so a few thousand memories need many chunks.
const CHUNK: u32 = 64 * 1024;
/// Memories in the history.
const MEMORIES: u64 = 3000;

fn options(every: u64) -> RuntimeOptions {
    RuntimeOptions {
        snapshot_every: every,
        snapshot_chunk_bytes: CHUNK,
        ..RuntimeOptions::default()
    }
}

fn start(journal: Box<dyn JournalBackend>, every: u64) -> Runtime {
    Runtime::new(CoreImage::shared().unwrap(), journal, options(every)).unwrap()
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
        content: format!("note {id}: the build cache lives in target/guest, rebuilt nightly"),
        kind: memories::MemoryKind::Fact,
        tags: vec!["build".into(), format!("t-{}", id.len())],
        memory_id: Some(id.into()),
        pool_id: None,
        scope: None,
        ttl_seconds: None,
    };
    rt.call(|c, s| c.maas_core_memories().call_store_memory(s, &OP, &req))
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

/// A SQLite journal in a new directory, holding [`history`].
fn with_history(name: &str) -> (TempDir, std::path::PathBuf) {
    let dir = TempDir::new(name);
    let path = dir.0.join("journal.db");
    SqliteJournal::open(&path)
        .unwrap()
        .append_all(0, &history())
        .unwrap();
    (dir, path)
}

/// The entries of a history with `MEMORIES` memories, written by a real core.
fn history() -> Vec<Vec<u8>> {
    let journal = MemoryJournal::new();
    let mut rt = start(Box::new(journal.clone()), 0);
    register_scribe(&mut rt);
    for i in 0..MEMORIES {
        store(&mut rt, &format!("m-{i}")).unwrap();
    }
    journal.entries()
}

fn count(path: &Path, sql: &str, seq: u64) -> i64 {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.query_row(sql, [seq as i64], |r| r.get(0)).unwrap()
}

fn change(path: &Path, sql: &str, seq: u64) {
    let conn = rusqlite::Connection::open(path).unwrap();
    assert_eq!(conn.execute(sql, [seq as i64]).unwrap(), 1, "{sql}");
}

#[test]
fn a_state_needing_many_chunks_restores_to_the_digest_of_full_replay() {
    let (_dir, path) = with_history("chunks");
    let mut rt = start(open(&path), 0);
    assert_eq!(rt.last_snapshot(), 0);
    let replayed = digest(&mut rt);
    let seq = rt.snapshot().unwrap();
    let bytes = rt.snapshot_bytes();
    drop(rt);

    let chunks = count(
        &path,
        "SELECT COUNT(*) FROM snapshot_chunks WHERE seq = ?1",
        seq,
    );
    assert!(chunks >= 5, "{chunks} chunks of {bytes} bytes");
    assert_eq!(
        count(&path, "SELECT chunks FROM snapshots WHERE seq = ?1", seq),
        chunks
    );
    let largest = count(
        &path,
        "SELECT MAX(length(data)) FROM snapshot_chunks WHERE seq = ?1",
        seq,
    );
    assert!(largest <= i64::from(CHUNK), "{largest}");
    println!("{MEMORIES} memories: a snapshot of {bytes} bytes in {chunks} chunks");

    let mut rt = start(open(&path), 0);
    assert_eq!(rt.last_snapshot(), seq);
    assert!(rt.notices().is_empty(), "{:?}", rt.notices());
    assert_eq!(digest(&mut rt), replayed);
    // It goes on from there, and a search sees the restored memories.
    store(&mut rt, "m-after").unwrap();
    let me = types::Caller::Agent("scribe".into());
    let hits = rt
        .call(|c, s| {
            c.maas_core_memories()
                .call_search(s, &me, "scribe", "nightly cache", 3)
        })
        .unwrap();
    assert_eq!(hits.len(), 3);
}

#[test]
fn a_damaged_chunk_falls_back_to_the_older_snapshot_then_to_full_replay() {
    let (_dir, path) = with_history("chunk-damage");
    let mut rt = start(open(&path), 0);
    let first = rt.snapshot().unwrap();
    store(&mut rt, "m-between").unwrap();
    let second = rt.snapshot().unwrap();
    store(&mut rt, "m-last").unwrap();
    let expected = digest(&mut rt);
    drop(rt);
    assert!(second > first);

    change(
        &path,
        "UPDATE snapshot_chunks SET data = substr(data, 1, 100) WHERE seq = ?1 AND part = 2",
        second,
    );
    let mut rt = start(open(&path), 0);
    assert_eq!(rt.last_snapshot(), first);
    let notices = rt.notices().join("\n");
    assert!(
        notices.contains(&format!("snapshot as of entry {second}"))
            && notices.contains("chunk 2 is damaged"),
        "{notices}"
    );
    assert_eq!(digest(&mut rt), expected);
    drop(rt);

    change(
        &path,
        "DELETE FROM snapshot_chunks WHERE seq = ?1 AND part = 1",
        first,
    );
    let mut rt = start(open(&path), 0);
    assert_eq!(rt.last_snapshot(), 0, "full replay");
    let notices = rt.notices().join("\n");
    assert!(
        notices.contains(&format!("snapshot as of entry {first}")) && notices.contains("chunks"),
        "{notices}"
    );
    assert_eq!(digest(&mut rt), expected);
}

#[test]
fn a_snapshot_that_cannot_be_saved_harms_nothing_and_waits_before_trying_again() {
    const EVERY: u64 = 20;
    let memory = MemoryJournal::new();
    let (journal, fail, attempts) = failing(memory.clone());
    let mut rt = start(Box::new(journal), EVERY);
    register_scribe(&mut rt);
    let mut written = 1u64;
    let mut write = |rt: &mut Runtime, n: u64| {
        for _ in 0..n {
            store(rt, &format!("m-{written}")).unwrap();
            written += 1;
        }
    };
    write(&mut rt, EVERY - 1);
    assert_eq!(memory.entries_len() as u64, EVERY);
    assert_eq!(attempts.load(Ordering::SeqCst), 1, "due at entry {EVERY}");
    assert_eq!(rt.restarts(), 0, "a failed snapshot restarts nothing");
    assert_eq!(rt.last_snapshot(), 0);
    let notices = rt.notices().join("\n");
    assert!(
        notices.contains("could not save a snapshot") && notices.contains("disk full"),
        "{notices}"
    );
    // Not tried again on every append: only after another EVERY entries.
    write(&mut rt, EVERY - 1);
    assert_eq!(attempts.load(Ordering::SeqCst), 1);
    write(&mut rt, 1);
    assert_eq!(attempts.load(Ordering::SeqCst), 2);
    assert_eq!(rt.last_snapshot(), 0);
    // Once saving works again, the next due attempt succeeds.
    fail.store(false, Ordering::SeqCst);
    write(&mut rt, EVERY);
    assert_eq!(attempts.load(Ordering::SeqCst), 3);
    assert_eq!(rt.last_snapshot(), 3 * EVERY);
    assert_eq!(rt.restarts(), 0);
    // Every write went through, and a restart from that snapshot sees them all.
    let expected = digest(&mut rt);
    let mut again = start(Box::new(memory.clone()), 0);
    assert_eq!(again.last_snapshot(), 3 * EVERY);
    assert_eq!(digest(&mut again), expected);
}

#[test]
fn an_import_whose_snapshot_fails_reports_the_entries_it_wrote() {
    let dir = TempDir::new("import-snapshot");
    let path = dir.0.join("journal.db");
    let entries = history();
    let total = entries.len();
    let options = ImportOptions {
        limits: default_limits(),
        snapshot_chunk_bytes: CHUNK,
        progress: false,
        image: None,
    };
    let rendered = import_entries(entries.clone(), &options, |entries| {
        let mut journal = SqliteJournal::open(&path).unwrap();
        journal.append_all(0, entries).unwrap();
        let (journal, _, _) = failing(journal);
        Ok(Box::new(journal))
    })
    .unwrap();
    let snapshot = &rendered.json["snapshot"];
    assert_eq!(snapshot["saved"], false, "{rendered:?}");
    let error = snapshot["error"].as_str().unwrap();
    assert!(
        error.contains(&format!(
            "imported {total} entries; the snapshot could not be saved"
        )) && error.contains("disk full")
            && error.contains("the next start replays the journal"),
        "{error}"
    );
    assert!(rendered.text.contains("not saved"), "{}", rendered.text);
    assert!(!rendered.text.contains("nothing was changed"));
    let mut rt = start(open(&path), 0);
    assert_eq!(
        rt.last_snapshot(),
        0,
        "no snapshot: the journal is replayed"
    );
    assert_eq!(digest(&mut rt), rendered.json["digest"].as_str().unwrap());
    drop(rt);

    // The same import into a directory whose snapshots work: it starts from the snapshot.
    let other = TempDir::new("import-snapshot-ok");
    let path = other.0.join("journal.db");
    let rendered = import_entries(entries, &options, |entries| {
        let mut journal = SqliteJournal::open(&path).unwrap();
        journal.append_all(0, entries).unwrap();
        Ok(Box::new(journal))
    })
    .unwrap();
    assert_eq!(rendered.json["snapshot"]["saved"], true, "{rendered:?}");
    let mut rt = start(open(&path), 0);
    assert_eq!(rt.last_snapshot(), total as u64);
    assert_eq!(digest(&mut rt), rendered.json["digest"].as_str().unwrap());
}

/// A runtime over the SQLite journal at `path` that saves its snapshots beside itself,
/// through connections whose snapshot chunks wait while `hold` is set.
fn start_beside(
    path: &Path,
    every: u64,
    hold: &Arc<AtomicBool>,
    attempts: &Arc<AtomicU64>,
) -> Runtime {
    let (file, hold, attempts) = (path.to_path_buf(), hold.clone(), attempts.clone());
    let opener: JournalOpener = Arc::new(move || {
        let journal = SqliteJournal::open(&file).map_err(|e| e.to_string())?;
        Ok(Box::new(held(journal, &hold, &attempts)))
    });
    start_with(open(path), every, opener)
}

/// A runtime over `journal` saving its snapshots every `every` entries beside itself,
/// through the connections `opener` opens, with group commit as a server runs it.
fn start_with(journal: Box<dyn JournalBackend>, every: u64, opener: JournalOpener) -> Runtime {
    let options = RuntimeOptions {
        snapshots_beside: Some(opener),
        group_commit: true,
        ..options(every)
    };
    Runtime::new(CoreImage::shared().unwrap(), journal, options).unwrap()
}

/// [`store`], synced (a batch of its own, as group commit would make it).
fn store_synced(rt: &mut Runtime, id: &str) {
    store(rt, id).unwrap();
    rt.sync_journal().unwrap();
}

/// Calls `rt` (a read) until `done(rt)`, for at most 30 s.
fn call_until(rt: &mut Runtime, what: &str, done: impl Fn(&Runtime) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done(rt) {
        assert!(Instant::now() < deadline, "waited 30 s for {what}");
        std::thread::sleep(Duration::from_millis(5));
        digest(rt);
    }
}

/// Drops `rt`, then starts a core over the journal `reopen` opens: from the newest
/// snapshot (one at least as new as `rt`'s: a save asked at its last call may still have
/// finished as it was dropped) and the journal after it, it is the live state.
fn started_again_is_live(
    mut rt: Runtime,
    reopen: impl FnOnce() -> Box<dyn JournalBackend>,
) -> Runtime {
    let newest = rt.last_snapshot();
    let live = digest(&mut rt);
    drop(rt);
    let mut again = start(reopen(), 0);
    assert!(again.last_snapshot() >= newest);
    assert_eq!(digest(&mut again), live);
    again
}

/// Snapshots fall due every this many entries in the tests of saves beside.
const EVERY: u64 = 20;

/// A core saving its snapshots beside it, whose first (due at entry [`EVERY`]) has
/// begun and waits in its first chunk while `hold` is set.
struct Held {
    _dir: TempDir,
    path: std::path::PathBuf,
    hold: Arc<AtomicBool>,
    attempts: Arc<AtomicU64>,
    rt: Runtime,
}

fn first_save_held(name: &str) -> Held {
    let dir = TempDir::new(name);
    let path = dir.0.join("journal.db");
    let hold = Arc::new(AtomicBool::new(true));
    let attempts = Arc::new(AtomicU64::new(0));
    let mut rt = start_beside(&path, EVERY, &hold, &attempts);
    register_scribe(&mut rt);
    for i in 1..EVERY {
        store_synced(&mut rt, &format!("m-{i}"));
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while attempts.load(Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "no snapshot was begun beside");
        std::thread::sleep(Duration::from_millis(5));
    }
    Held {
        _dir: dir,
        path,
        hold,
        attempts,
        rt,
    }
}

#[test]
fn snapshots_saved_beside_the_core_never_hold_its_calls() {
    let Held {
        _dir,
        path,
        hold,
        attempts,
        mut rt,
    } = first_save_held("beside");
    // Meanwhile every call is answered, and no other save is asked for.
    for i in EVERY..4 * EVERY {
        store_synced(&mut rt, &format!("m-{i}"));
    }
    assert_eq!(attempts.load(Ordering::SeqCst), 1);
    assert_eq!(rt.last_snapshot(), 0);
    assert_eq!(
        count(&path, "SELECT COUNT(*) FROM snapshots WHERE ?1 = ?1", 0),
        0
    );
    assert!(rt.notices().is_empty(), "{:?}", rt.notices());

    hold.store(false, Ordering::SeqCst);
    call_until(&mut rt, "the snapshot beside", |rt| rt.last_snapshot() > 0);
    let first = rt.last_snapshot();
    assert!((EVERY..=4 * EVERY).contains(&first), "{first}");
    assert_eq!(
        count(
            &path,
            "SELECT COUNT(*) FROM snapshots WHERE seq = ?1",
            first
        ),
        1
    );
    // The next falls due EVERY entries after the one saved, and is saved beside too.
    for i in 4 * EVERY..first + 2 * EVERY {
        store_synced(&mut rt, &format!("m-{i}"));
    }
    call_until(&mut rt, "the second snapshot", |rt| {
        rt.last_snapshot() > first
    });
    // A third may have fallen due at the last store.
    assert!(attempts.load(Ordering::SeqCst) >= 2);
    assert_eq!(rt.restarts(), 0);
    assert!(rt.notices().is_empty(), "{:?}", rt.notices());

    started_again_is_live(rt, || open(&path));
}

#[test]
fn a_snapshot_being_saved_beside_at_shutdown_is_dropped_for_the_cores_own() {
    let Held {
        _dir,
        path,
        hold,
        mut rt,
        ..
    } = first_save_held("beside-stop");
    // The save beside is of a position before these.
    for i in EVERY..EVERY + 5 {
        store_synced(&mut rt, &format!("m-{i}"));
    }
    let release = {
        let hold = hold.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            hold.store(false, Ordering::SeqCst);
        })
    };
    let head = rt.appended();
    let live = digest(&mut rt);
    rt.shutdown().unwrap();
    release.join().unwrap();
    // The save beside was dropped at its next chunk; the core saved one at its head.
    assert_eq!(rt.last_snapshot(), head);
    assert_eq!(
        count(
            &path,
            "SELECT COUNT(*) FROM snapshots WHERE seq <> ?1",
            head
        ),
        0,
        "only the core's own snapshot is kept"
    );
    assert!(rt.notices().is_empty(), "{:?}", rt.notices());
    drop(rt);
    let mut again = start(open(&path), 0);
    assert_eq!(again.last_snapshot(), head);
    assert_eq!(digest(&mut again), live);
}

#[test]
fn a_shutdown_in_a_batch_with_a_change_does_not_wait_for_the_save_beside() {
    let Held {
        _dir, hold, mut rt, ..
    } = first_save_held("beside-batch-stop");
    // A change whose batch is still open (its write lock held) when the stop comes,
    // as when a client's last write and the end of its input arrive together.
    store(&mut rt, "last").unwrap();
    let release = {
        let hold = hold.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            hold.store(false, Ordering::SeqCst);
        })
    };
    let began = Instant::now();
    rt.shutdown().unwrap();
    let took = began.elapsed();
    release.join().unwrap();
    assert_eq!(rt.last_snapshot(), rt.appended());
    assert!(
        took < Duration::from_secs(5),
        "the stop took {took:?}: the thread beside waited for the batch's write lock"
    );
    assert!(rt.notices().is_empty(), "{:?}", rt.notices());
}

#[test]
fn a_thread_beside_that_failed_is_started_again_for_the_next_snapshot() {
    let dir = TempDir::new("beside-failed");
    let path = dir.0.join("journal.db");
    let opens = Arc::new(AtomicU64::new(0));
    let opener: JournalOpener = {
        let (file, opens) = (path.clone(), opens.clone());
        Arc::new(move || {
            assert!(
                opens.fetch_add(1, Ordering::SeqCst) > 0,
                "the thread beside fails the first time (a bug in it)"
            );
            let journal = SqliteJournal::open(&file).map_err(|e| e.to_string())?;
            Ok(Box::new(journal))
        })
    };
    let mut rt = start_with(open(&path), EVERY, opener);
    register_scribe(&mut rt);
    for i in 1..EVERY {
        store_synced(&mut rt, &format!("m-{i}"));
    }
    // The core saves the snapshot that failed beside itself, at its next call.
    call_until(&mut rt, "the first save's failure", |rt| {
        !rt.saving_beside() && rt.last_snapshot() > 0
    });
    let first = rt.last_snapshot();
    assert_eq!(first, rt.appended());
    let notices = rt.notices().join("\n");
    assert!(notices.contains("the snapshot thread ended"), "{notices}");
    assert!(notices.contains("the core saves it itself"), "{notices}");
    assert_eq!(opens.load(Ordering::SeqCst), 1);
    // The next falls due EVERY entries later: a new thread saves it.
    for i in EVERY..3 * EVERY {
        store_synced(&mut rt, &format!("m-{i}"));
    }
    call_until(&mut rt, "a snapshot after the failure", |rt| {
        rt.last_snapshot() > first
    });
    // The thread that failed, then one for each save since (one or two).
    assert!(opens.load(Ordering::SeqCst) >= 2);
}

/// A core over a history of [`MEMORIES`] memories (with a snapshot at its end when
/// `restored`), saving beside itself through a journal that reads slowly, is stopped
/// once its first save beside has begun to start (replaying the history one entry at a
/// time, or restoring the snapshot a chunk at a time): the stop does not wait for that
/// start, which stops at its next step.
fn a_stop_ends_a_start_beside(name: &str, restored: bool) {
    let (_dir, path) = with_history(name);
    let parts = restored.then(|| {
        let mut rt = start(open(&path), 0);
        let seq = rt.snapshot().unwrap();
        count(&path, "SELECT chunks FROM snapshots WHERE seq = ?1", seq)
    });
    let reads = Arc::new(AtomicU64::new(0));
    let opener: JournalOpener = {
        let (file, reads) = (path.clone(), reads.clone());
        Arc::new(move || {
            let journal = SqliteJournal::open(&file).map_err(|e| e.to_string())?;
            Ok(Box::new(slow(journal, Duration::from_millis(50), &reads)))
        })
    };
    let mut rt = start_with(open(&path), EVERY, opener);
    // Without a snapshot the first is due already; after one, a tenth of the journal on.
    let mut i = 0;
    while !rt.saving_beside() {
        store_synced(&mut rt, &format!("n-{i}"));
        i += 1;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while reads.load(Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "the start beside read nothing");
        std::thread::sleep(Duration::from_millis(1));
    }
    let live = digest(&mut rt);
    rt.shutdown().unwrap();
    let read = reads.load(Ordering::SeqCst);
    // Uncut, the start would read every entry (or chunk), then the entries after it.
    let whole = parts.map_or(MEMORIES, |p| u64::try_from(p).unwrap());
    assert!(
        read <= 4,
        "the start beside made {read} reads before it stopped (uncut: {whole} and more)"
    );
    assert_eq!(rt.last_snapshot(), rt.appended());
    assert!(rt.notices().is_empty(), "{:?}", rt.notices());
    drop(rt);
    let mut again = start(open(&path), 0);
    assert_eq!(digest(&mut again), live);
}

#[test]
fn a_stop_ends_a_replay_beside_at_its_next_read() {
    a_stop_ends_a_start_beside("beside-stop-replay", false);
}

#[test]
fn a_stop_ends_a_restore_beside_at_its_next_chunk() {
    a_stop_ends_a_start_beside("beside-stop-restore", true);
}

/// Over a core saving beside itself: an entry after its newest snapshot goes bad on disk
/// (the core applied it, and its caller was told it was saved) through `corrupt`; the
/// save beside cannot replay past it, so the core saves the snapshot itself. Nothing is
/// set aside (`set_aside` counts what was), the core never starts again without the
/// entry, and a start from `reopen` is the live state.
fn a_damaged_entry_is_saved_past(
    mut rt: Runtime,
    corrupt: impl Fn(u64),
    set_aside: impl Fn() -> i64,
    reopen: impl Fn() -> Box<dyn JournalBackend>,
) {
    register_scribe(&mut rt);
    let mut i = 0;
    while rt.last_snapshot() == 0 {
        i += 1;
        store_synced(&mut rt, &format!("m-{i}"));
        call_until(&mut rt, "the first snapshot beside", |rt| {
            !rt.saving_beside()
        });
    }
    let first = rt.last_snapshot();
    for _ in 0..3 {
        i += 1;
        store_synced(&mut rt, &format!("m-{i}"));
    }
    let bad = first + 2;
    corrupt(bad);
    while rt.last_snapshot() == first {
        i += 1;
        store_synced(&mut rt, &format!("m-{i}"));
        call_until(&mut rt, "the second snapshot", |rt| !rt.saving_beside());
        assert!(i < 10 * EVERY, "no second snapshot: {:?}", rt.notices());
    }
    let notices = rt.notices().join("\n");
    assert!(notices.contains("is damaged"), "{notices}");
    assert!(notices.contains("the core saves it itself"), "{notices}");
    assert_eq!(set_aside(), 0);
    assert_eq!(rt.restarts(), 0);
    assert_eq!(rt.rewrites(), 0);
    assert!(rt.last_snapshot() > bad);
    let again = started_again_is_live(rt, reopen);
    assert!(again.last_snapshot() > bad);
    assert_eq!(set_aside(), 0);
}

#[test]
fn a_damaged_entry_the_serving_core_applied_is_never_set_aside_by_a_save_beside() {
    let dir = TempDir::new("beside-damaged");
    let path = dir.0.join("journal.db");
    let opener: JournalOpener = {
        let file = path.clone();
        Arc::new(move || {
            let journal = SqliteJournal::open(&file).map_err(|e| e.to_string())?;
            Ok(Box::new(journal))
        })
    };
    let rt = start_with(open(&path), EVERY, opener);
    a_damaged_entry_is_saved_past(
        rt,
        |bad| change(&path, "UPDATE journal SET sum = x'00' WHERE seq = ?1", bad),
        || count(&path, "SELECT COUNT(*) FROM damaged WHERE ?1 = ?1", 0),
        || open(&path),
    );
    // Every entry is still in the journal.
    let mut again = start(open(&path), 0);
    assert_eq!(
        count(&path, "SELECT COUNT(*) FROM journal WHERE ?1 = ?1", 0),
        again.appended() as i64
    );
    digest(&mut again);
}

#[test]
fn a_damaged_entry_is_saved_past_over_postgres() {
    let Some(pg) = pg_support::start() else {
        return;
    };
    let opener: JournalOpener = {
        let url = pg.url.clone();
        Arc::new(move || {
            let journal = PostgresJournal::connect(&url).map_err(|e| e.to_string())?;
            Ok(Box::new(journal))
        })
    };
    let connect =
        || Box::new(PostgresJournal::connect(&pg.url).unwrap()) as Box<dyn JournalBackend>;
    let sql = |q: &str, bad: u64| -> i64 {
        let mut client = postgres::Client::connect(&pg.url, postgres::NoTls).unwrap();
        if q.starts_with("UPDATE") {
            client.execute(q, &[&(bad as i64)]).unwrap() as i64
        } else {
            client.query_one(q, &[]).unwrap().get::<_, i64>(0)
        }
    };
    let rt = start_with(connect(), EVERY, opener);
    a_damaged_entry_is_saved_past(
        rt,
        |bad| {
            assert_eq!(
                sql(
                    "UPDATE maas_journal SET sum = decode('00', 'hex') WHERE seq = $1",
                    bad
                ),
                1
            );
        },
        || sql("SELECT COUNT(*) FROM maas_damaged", 0),
        connect,
    );
}

#[test]
fn snapshots_are_saved_beside_over_postgres() {
    let Some(pg) = pg_support::start() else {
        return;
    };
    let opens = Arc::new(AtomicU64::new(0));
    let opener: JournalOpener = {
        let (url, opens) = (pg.url.clone(), opens.clone());
        Arc::new(move || {
            opens.fetch_add(1, Ordering::SeqCst);
            let journal = PostgresJournal::connect(&url).map_err(|e| e.to_string())?;
            Ok(Box::new(journal))
        })
    };
    let connect =
        || Box::new(PostgresJournal::connect(&pg.url).unwrap()) as Box<dyn JournalBackend>;
    let mut rt = start_with(connect(), EVERY, opener);
    register_scribe(&mut rt);
    for i in 1..3 * EVERY {
        store_synced(&mut rt, &format!("m-{i}"));
    }
    call_until(&mut rt, "a snapshot beside", |rt| rt.last_snapshot() > 0);
    let first = rt.last_snapshot();
    for i in 0..3 * EVERY {
        store_synced(&mut rt, &format!("x-{i}"));
    }
    call_until(&mut rt, "a second snapshot beside", |rt| {
        rt.last_snapshot() > first
    });
    // A second core for each save.
    assert!(opens.load(Ordering::SeqCst) >= 2);
    assert!(rt.notices().is_empty(), "{:?}", rt.notices());
    started_again_is_live(rt, connect);
}

/// Two cores over one journal (two servers on a data directory, two hosts on
/// PostgreSQL), each saving its snapshots itself, write in turn: the second never saves
/// one, since the first has saved one for the same stretch of the journal each time its
/// own falls due, nor at its stop, after the first's at the same head; the journal
/// holds the first's, and a start from it is the live state.
fn a_snapshot_saved_by_another_core_is_not_saved_again<J: JournalBackend + 'static>(
    connect: impl Fn() -> J,
) {
    let mut first = start(Box::new(connect()), EVERY);
    register_scribe(&mut first);
    let attempts = Arc::new(AtomicU64::new(0));
    let never_held = Arc::new(AtomicBool::new(false));
    let journal = held(connect(), &never_held, &attempts);
    let mut second = start(Box::new(journal), EVERY);
    for i in 0..4 * EVERY {
        store(&mut first, &format!("a-{i}")).unwrap();
        store(&mut second, &format!("b-{i}")).unwrap();
    }
    assert!(
        first.last_snapshot() >= 6 * EVERY,
        "{}",
        first.last_snapshot()
    );
    assert!(second.last_snapshot() > 0);
    // At the journal's head, the second's last store.
    first.shutdown().unwrap();
    let head = second.appended();
    assert_eq!(first.last_snapshot(), head);
    let live = digest(&mut second);
    second.shutdown().unwrap();
    assert_eq!(
        attempts.load(Ordering::SeqCst),
        0,
        "the second core saved snapshots the first had saved"
    );
    assert_eq!(second.last_snapshot(), head);
    assert!(second.notices().is_empty(), "{:?}", second.notices());
    drop((first, second));
    let mut again = start(Box::new(connect()), 0);
    assert_eq!(again.last_snapshot(), head);
    assert_eq!(digest(&mut again), live);
}

#[test]
fn a_snapshot_saved_by_another_core_is_not_saved_again_over_sqlite() {
    let dir = TempDir::new("adopt");
    let path = dir.0.join("journal.db");
    a_snapshot_saved_by_another_core_is_not_saved_again(|| SqliteJournal::open(&path).unwrap());
}

#[test]
fn a_snapshot_saved_by_another_host_is_not_saved_again_over_postgres() {
    let Some(pg) = pg_support::start() else {
        return;
    };
    a_snapshot_saved_by_another_core_is_not_saved_again(|| {
        PostgresJournal::connect(&pg.url).unwrap()
    });
}

/// A core saving its snapshots (beside itself, or itself) over the journal `connect`
/// opens, while another process's save as of a later position has begun there and is
/// not finished: the snapshot due is left to it; an interval after it, still
/// unfinished (the process stopped midway), the core saves past it, and the save's end
/// removes its chunks.
fn a_save_under_way_elsewhere_is_left_to_finish<J: JournalBackend + 'static>(
    connect: impl Fn() -> J + Send + Sync + 'static,
    beside: bool,
) {
    let connect = Arc::new(connect);
    let opener: JournalOpener = {
        let connect = connect.clone();
        Arc::new(move || Ok(Box::new(connect())))
    };
    let mut rt = match beside {
        true => start_with(Box::new(connect()), EVERY, opener),
        false => start(Box::new(connect()), EVERY),
    };
    register_scribe(&mut rt);
    for i in 1..EVERY / 2 {
        store_synced(&mut rt, &format!("m-{i}"));
    }
    // Another process begins a save as of the head, and is still writing it.
    let mut other = connect();
    let elsewhere = rt.appended();
    assert!(other.begin_snapshot(elsewhere).unwrap());
    other
        .snapshot_chunk(b"another process's first chunk")
        .unwrap();
    for i in EVERY / 2..EVERY + 2 {
        store_synced(&mut rt, &format!("m-{i}"));
    }
    call_until(&mut rt, "the save beside to answer", |rt| {
        !rt.saving_beside()
    });
    assert_eq!(
        rt.last_snapshot(),
        0,
        "a snapshot was saved while another was under way"
    );
    assert!(other.snapshots().unwrap().is_empty());
    // An interval or two on (after it, and after the position asked beside), still
    // unfinished: saved past.
    for i in EVERY + 2..4 * EVERY {
        store_synced(&mut rt, &format!("m-{i}"));
    }
    call_until(&mut rt, "a save past the unfinished one", |rt| {
        rt.last_snapshot() > elsewhere && !rt.saving_beside()
    });
    assert_eq!(other.unfinished_snapshot_after(0).unwrap(), None);
    assert!(rt.notices().is_empty(), "{:?}", rt.notices());
    started_again_is_live(rt, || Box::new(connect()));
}

#[test]
fn a_save_under_way_elsewhere_is_left_to_finish_beside_over_sqlite() {
    let dir = TempDir::new("left-beside");
    let path = dir.0.join("journal.db");
    a_save_under_way_elsewhere_is_left_to_finish(move || SqliteJournal::open(&path).unwrap(), true);
}

#[test]
fn a_save_under_way_elsewhere_is_left_to_finish_in_core_over_sqlite() {
    let dir = TempDir::new("left-in-core");
    let path = dir.0.join("journal.db");
    a_save_under_way_elsewhere_is_left_to_finish(
        move || SqliteJournal::open(&path).unwrap(),
        false,
    );
}

#[test]
fn a_save_under_way_on_another_host_is_left_to_finish_over_postgres() {
    let Some(pg) = pg_support::start() else {
        return;
    };
    let url = pg.url.clone();
    a_save_under_way_elsewhere_is_left_to_finish(
        move || PostgresJournal::connect(&url).unwrap(),
        true,
    );
}

#[test]
fn a_damaged_newest_snapshot_is_saved_again_at_a_stop_not_taken_as_another_processs() {
    let dir = TempDir::new("damaged-not-adopted");
    let path = dir.0.join("journal.db");
    let mut rt = start(open(&path), 0);
    register_scribe(&mut rt);
    for i in 0..200 {
        store(&mut rt, &format!("m-{i}")).unwrap();
    }
    let first = rt.snapshot().unwrap();
    store(&mut rt, "m-last").unwrap();
    let second = rt.snapshot().unwrap();
    drop(rt);
    change(
        &path,
        "UPDATE snapshot_chunks SET data = substr(data, 1, 10) WHERE seq = ?1 AND part = 0",
        second,
    );
    // The start falls back past it; the stop, at its position, saves a good one there.
    let mut rt = start(open(&path), EVERY);
    assert_eq!(rt.last_snapshot(), first);
    rt.shutdown().unwrap();
    assert_eq!(rt.last_snapshot(), second);
    drop(rt);
    let again = start(open(&path), EVERY);
    assert_eq!(again.last_snapshot(), second);
    assert!(again.notices().is_empty(), "{:?}", again.notices());
}

#[test]
fn an_unfinished_save_there_at_the_start_is_not_waited_for() {
    let dir = TempDir::new("unfinished-at-start");
    let path = dir.0.join("journal.db");
    let mut rt = start(open(&path), 0);
    register_scribe(&mut rt);
    for i in 2..EVERY {
        store(&mut rt, &format!("m-{i}")).unwrap();
    }
    let killed_at = rt.appended();
    drop(rt);
    // A process killed in the middle of a save at the head, as every one before it
    // might have been: the first save due goes past it.
    let mut killed = SqliteJournal::open(&path).unwrap();
    assert!(killed.begin_snapshot(killed_at).unwrap());
    killed
        .snapshot_chunk(b"the first chunk of a save never finished")
        .unwrap();
    drop(killed);
    let mut rt = start(open(&path), EVERY);
    while rt.appended() < EVERY + 1 {
        let n = rt.appended();
        store(&mut rt, &format!("n-{n}")).unwrap();
    }
    assert!(rt.last_snapshot() > killed_at, "{}", rt.last_snapshot());
    assert!(rt.notices().is_empty(), "{:?}", rt.notices());
}

/// Two processes save the snapshot at one position at once (their second cores started
/// together): the second's begin keeps the chunks the first has written (the export at
/// one position is the same bytes), so both finish; a save of other bytes there never
/// replaces a chunk of the complete one, and its own finish fails.
fn two_saves_at_one_position<J: JournalBackend>(connect: impl Fn() -> J) {
    let chunks: [&[u8]; 2] = [b"the state's first chunk", b"the state's second chunk"];
    let (mut a, mut b, mut c) = (connect(), connect(), connect());
    assert!(a.begin_snapshot(7).unwrap());
    a.snapshot_chunk(chunks[0]).unwrap();
    assert!(b.begin_snapshot(7).unwrap());
    assert!(c.begin_snapshot(7).unwrap());
    a.snapshot_chunk(chunks[1]).unwrap();
    a.finish_snapshot().unwrap();
    for chunk in chunks {
        b.snapshot_chunk(chunk).unwrap();
    }
    b.finish_snapshot().unwrap();
    c.snapshot_chunk(b"other bytes at the same position")
        .unwrap();
    c.snapshot_chunk(chunks[1]).unwrap();
    assert!(c.finish_snapshot().is_err());
    let mut reader = connect();
    assert_eq!(reader.snapshots().unwrap(), vec![7]);
    assert_eq!(reader.snapshot_parts(7).unwrap(), Some(2));
    for (part, chunk) in (0u32..).zip(chunks) {
        let stored = reader.load_snapshot_chunk(7, part).unwrap();
        assert_eq!(stored.as_deref(), Some(chunk));
    }
}

#[test]
fn two_saves_at_one_position_both_finish_whole_over_sqlite() {
    let dir = TempDir::new("one-position");
    let path = dir.0.join("journal.db");
    two_saves_at_one_position(|| SqliteJournal::open(&path).unwrap());
}

#[test]
fn two_saves_at_one_position_both_finish_whole_over_postgres() {
    let Some(pg) = pg_support::start() else {
        return;
    };
    two_saves_at_one_position(|| PostgresJournal::connect(&pg.url).unwrap());
}

#[test]
fn a_snapshot_falls_due_after_a_tenth_of_the_journal_once_that_is_more_than_the_interval() {
    const EVERY: u64 = 10;
    let memory = MemoryJournal::new();
    let (journal, fail, attempts) = failing(memory.clone());
    fail.store(false, Ordering::SeqCst);
    let mut rt = start(Box::new(journal), EVERY);
    register_scribe(&mut rt);
    let mut saved = Vec::new();
    for i in 1..211 {
        store(&mut rt, &format!("m-{i}")).unwrap();
        if saved.last() != Some(&rt.last_snapshot()) && rt.last_snapshot() > 0 {
            saved.push(rt.last_snapshot());
        }
    }
    // Every 10 entries up to 100; then a tenth of the position of the last one.
    let expected: Vec<u64> = (1..=10)
        .map(|n| n * EVERY)
        .chain([110, 121, 133, 146, 160, 176, 193])
        .collect();
    assert_eq!(saved, expected);
    assert_eq!(rt.appended(), 211);
    store(&mut rt, "m-211").unwrap();
    assert_eq!(rt.last_snapshot(), 212);
    assert_eq!(attempts.load(Ordering::SeqCst), 18);
}

#[test]
fn the_chunks_of_snapshots_no_longer_kept_and_of_unfinished_saves_are_removed() {
    let (_dir, path) = with_history("prune");
    let mut rt = start(open(&path), 0);
    let first = rt.snapshot().unwrap();
    store(&mut rt, "x-1").unwrap();
    let second = rt.snapshot().unwrap();
    // What a save killed before it finished leaves behind.
    change(
        &path,
        "INSERT INTO snapshot_chunks (seq, part, data, sum) VALUES (?1, 0, x'00', x'00')",
        5,
    );
    store(&mut rt, "x-2").unwrap();
    let third = rt.snapshot().unwrap();
    let chunks_of = |seq| {
        count(
            &path,
            "SELECT COUNT(*) FROM snapshot_chunks WHERE seq = ?1",
            seq,
        )
    };
    assert!(chunks_of(first) == 0 && chunks_of(5) == 0);
    assert!(chunks_of(second) >= 5 && chunks_of(third) >= 5);
    assert_eq!(
        count(
            &path,
            "SELECT COUNT(*) FROM snapshots WHERE seq >= ?1",
            second
        ),
        2
    );
    assert_eq!(
        count(&path, "SELECT COUNT(*) FROM snapshots WHERE ?1 = ?1", 0),
        2
    );
    assert!(rt.notices().is_empty(), "{:?}", rt.notices());
    let live = digest(&mut rt);
    drop(rt);
    let mut again = start(open(&path), 0);
    assert_eq!(again.last_snapshot(), third);
    assert_eq!(digest(&mut again), live);
}

#[test]
fn the_sums_of_a_snapshots_chunks_are_read_without_reading_its_data() {
    // The queries of `sqlite_snapshots.rs` `finish` (under the write lock) and `parts`:
    // a chunk's data spills over many pages, all read to reach a `sum` stored after it.
    let dir = TempDir::new("chunk-sums");
    let path = dir.0.join("journal.db");
    drop(open(&path));
    let conn = rusqlite::Connection::open(&path).unwrap();
    for sql in [
        "SELECT sum FROM snapshot_chunks WHERE seq = ?1 ORDER BY part",
        "SELECT part, sum FROM snapshot_chunks WHERE seq = ?1 ORDER BY part",
    ] {
        let plan: String = conn
            .query_row(&format!("EXPLAIN QUERY PLAN {sql}"), [1], |r| r.get(3))
            .unwrap();
        assert!(plan.contains("COVERING INDEX"), "{sql}: {plan}");
    }
}
