//! The SQLite journal shared by two handles on one file.

use super::*;
use crate::journal::Snapshot;

/// A fresh journal file in a directory of this test's `name`; the directory is removed
/// by the test.
fn fresh(name: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("maas-sqlite-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).ok();
    let path = dir.join("journal.db");
    std::fs::remove_file(&path).ok();
    (dir, path)
}

/// Another handle on the journal at `path`.
fn open(path: &std::path::Path) -> SqliteJournal {
    SqliteJournal::open(path)
        .ok()
        .unwrap_or_else(|| panic!("open"))
}

/// A journal entry with no events, at time `n`.
fn entry(n: u8) -> Vec<u8> {
    format!("{{\"v\":1,\"at\":{n},\"events\":[]}}").into_bytes()
}

/// A read's audit entry at position `seq`, told apart by its `detail`.
fn read(seq: u64, detail: &str) -> AuditEntry {
    AuditEntry {
        seq,
        at: 1,
        record: maas_core::events::AuditRecord {
            actor: "operator".into(),
            event_type: "agent.read".into(),
            target: None,
            outcome: "ok".into(),
            detail: detail.into(),
            prev: None,
            covers: None,
        },
    }
}

#[test]
fn two_handles_on_one_file_share_one_history() {
    let (dir, path) = fresh("two");
    let (mut a, mut b) = (open(&path), open(&path));
    assert_eq!(a.append(0, b"one", true), Ok(1));
    assert_eq!(b.append(0, b"two", true), Err(JournalError::Conflict(1)));
    assert_eq!(b.append(1, b"two", false), Ok(2));
    assert_eq!(a.head(), Ok(2));
    assert_eq!(a.read(1, 10).map(|v| v.len()), Ok(2));
    assert_eq!(a.snapshots(), Ok(vec![]));
    for seq in 1..=3 {
        a.save_snapshot(Snapshot {
            seq,
            chunks: vec![vec![b's'; seq as usize], b"t".to_vec()],
        })
        .ok();
    }
    assert_eq!(b.snapshots(), Ok(vec![3, 2]));
    assert_eq!(
        b.load_snapshot(2).ok().flatten().map(|s| s.chunks),
        Some(vec![b"ss".to_vec(), b"t".to_vec()])
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_head_read_again_sees_every_commit_of_another_handle_and_a_set_aside_refuses_it() {
    let (dir, path) = fresh("heads");
    let (mut a, mut b) = (open(&path), open(&path));
    assert_eq!(a.head(), Ok(0));
    assert_eq!(a.head(), Ok(0), "read again while nothing changed");
    assert_eq!(b.append(0, &entry(1), true), Ok(1));
    assert_eq!(a.head(), Ok(1), "another handle's commit");
    assert_eq!(a.append(1, &entry(2), true), Ok(2));
    assert_eq!(a.head(), Ok(2), "its own");
    a.set_group_commit(true);
    assert_eq!(a.append(2, &entry(3), true), Ok(3));
    assert_eq!(a.head(), Ok(3), "its own, in a batch not yet committed");
    assert_eq!(a.sync(), Ok(()));
    assert_eq!(b.head(), Ok(3));
    assert_eq!(b.append(3, &entry(4), true), Ok(4));
    assert_eq!(a.head(), Ok(4));
    // Another handle sets entries 3 and 4 aside and writes two: the same length, but
    // not the same history.
    let mut c = open(&path);
    c.conn
        .execute("UPDATE journal SET sum = x'00' WHERE seq = 3", [])
        .ok();
    assert_eq!(c.recover_tail(2), Ok(()));
    assert_eq!(c.append(2, &entry(5), true), Ok(3));
    assert_eq!(c.append(3, &entry(6), true), Ok(4));
    let refused = a.head();
    assert!(
        matches!(&refused, Err(JournalError::Unavailable(m))
            if m.starts_with(maas_core::engine::JOURNAL_REWRITTEN)),
        "{refused:?}"
    );
    assert!(a.head().is_err(), "until the core starts again");
    a.acknowledge_rewrite();
    assert_eq!(a.head(), Ok(4));
    assert_eq!(c.head(), Ok(4), "the handle that set them aside goes on");
    // Rows cleared from `damaged` by hand set nothing aside; a set-aside after them
    // is seen all the same.
    c.conn.execute("DELETE FROM damaged", []).ok();
    assert_eq!(a.head(), Ok(4));
    c.conn.execute("DELETE FROM damaged", []).ok();
    c.conn
        .execute("UPDATE journal SET sum = x'00' WHERE seq = 4", [])
        .ok();
    assert_eq!(c.recover_tail(3), Ok(()));
    assert_eq!(c.append(3, &entry(7), true), Ok(4));
    assert!(a.head().is_err(), "a set-aside after rows were cleared");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_batch_sqlite_rolls_back_under_it_is_reported_lost_and_the_next_one_commits() {
    let (dir, path) = fresh("lost");
    let (mut a, mut b) = (open(&path), open(&path));
    a.set_group_commit(true);
    let read = |seq: u64| read(seq, "{}");
    // Writing rows fails as a full disk or an I/O error does: SQLite rolls the whole
    // transaction back.
    let fail_on = |table: &str| {
        format!(
            "CREATE TEMP TRIGGER fail BEFORE INSERT ON main.{table} \
             BEGIN SELECT RAISE(ROLLBACK, 'database or disk is full'); END;"
        )
    };
    // (Made inside the batch's transaction, the trigger goes with its rollback.)
    let ok = |a: &SqliteJournal| {
        a.conn
            .execute_batch("DROP TRIGGER IF EXISTS temp.fail")
            .is_ok()
    };
    assert_eq!(a.append(0, &entry(1), true), Ok(1));
    assert_eq!(a.sync(), Ok(()));

    // The batch's read-audit rows cannot be written: its change is gone with them.
    assert_eq!(a.append(1, &entry(2), true), Ok(2));
    assert_eq!(a.audit_append(&read(2)), Ok(()));
    assert!(a.conn.execute_batch(&fail_on("audit_log")).is_ok());
    assert!(a.sync().is_err(), "the batch was rolled back");
    assert!(ok(&a));
    assert_eq!(b.head(), Ok(1));
    // The next batch is a batch of its own, committed and synced when the sync says so.
    assert_eq!(a.append(1, &entry(3), true), Ok(2));
    assert_eq!(a.sync(), Ok(()), "the next batch commits");
    assert_eq!(b.read(2, 1), Ok(vec![(2, entry(3))]));

    // An append the batch cannot write takes the batch's earlier appends with it: nothing
    // more is appended, no read kept, until the sync reports the batch lost.
    assert_eq!(a.append(2, &entry(4), true), Ok(3));
    assert!(a.conn.execute_batch(&fail_on("journal")).is_ok());
    assert!(a.append(3, &entry(5), true).is_err());
    assert!(ok(&a));
    assert!(a.append(3, &entry(6), true).is_err(), "the batch is lost");
    assert!(
        a.audit_append(&read(3)).is_err(),
        "a read of the lost batch"
    );
    assert!(a.needs_sync());
    assert!(a.sync().is_err(), "reported by the sync");
    assert_eq!(b.head(), Ok(2));
    assert_eq!(a.append(2, &entry(7), true), Ok(3));
    assert_eq!(a.sync(), Ok(()));
    assert_eq!(b.read(3, 1), Ok(vec![(3, entry(7))]));
    std::fs::remove_dir_all(&dir).ok();
}

/// Reads buffered before a batch whose rows the batch wrote (the buffer came due, or a
/// scan wanted them) are given back when the batch is lost, and written later; the rows
/// of the lost batch's own reads, whose answers never went out, are not.
#[test]
fn a_lost_batch_gives_back_the_reads_from_before_it_even_once_written_into_it() {
    let (dir, path) = fresh("lost-reads");
    let (mut a, b) = (open(&path), open(&path));
    a.set_group_commit(true);
    let logged = |b: &SqliteJournal| -> Vec<String> {
        let mut st = b
            .conn
            .prepare("SELECT detail FROM audit_log ORDER BY id")
            .unwrap_or_else(|e| panic!("{e}"));
        st.query_map([], |r| r.get::<_, String>(0))
            .unwrap_or_else(|e| panic!("{e}"))
            .map(|r| r.unwrap_or_else(|e| panic!("{e}")))
            .collect()
    };
    assert_eq!(a.append(0, &entry(1), true), Ok(1));
    assert_eq!(a.sync(), Ok(()));
    // A read answered before the batch, buffered until it comes due.
    assert_eq!(a.audit_append(&read(1, "before")), Ok(()));
    std::thread::sleep(READ_FLUSH_INTERVAL + std::time::Duration::from_millis(10));
    // The batch opens; its first read finds the buffer due and writes it into the batch.
    assert_eq!(a.append(1, &entry(2), true), Ok(2));
    assert_eq!(a.audit_append(&read(2, "of the batch, written")), Ok(()));
    assert_eq!(a.audit_append(&read(2, "of the batch, buffered")), Ok(()));
    // Then an append fails as on a full disk: SQLite rolls the batch back.
    assert!(
        a.conn
            .execute_batch(
                "CREATE TEMP TRIGGER fail BEFORE INSERT ON main.journal \
                 BEGIN SELECT RAISE(ROLLBACK, 'database or disk is full'); END;"
            )
            .is_ok()
    );
    assert!(a.append(2, &entry(3), true).is_err());
    assert!(
        a.conn
            .execute_batch("DROP TRIGGER IF EXISTS temp.fail")
            .is_ok()
    );
    assert!(a.sync().is_err(), "the batch is reported lost");
    assert_eq!(a.flush_reads(), Ok(()));
    assert_eq!(
        logged(&b),
        ["before"],
        "only the read from before the batch"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_write_ahead_log_removed_under_a_batch_is_reported_never_taken_as_synced() {
    let (dir, path) = fresh("wal-gone");
    let mut a = open(&path);
    a.set_group_commit(true);
    assert_eq!(a.append(0, &entry(1), true), Ok(1));
    assert_eq!(a.sync(), Ok(()));
    assert_eq!(a.append(1, &entry(2), true), Ok(2));
    let mut wal = path.clone().into_os_string();
    wal.push("-wal");
    std::fs::remove_file(&wal).ok();
    let synced = a.sync();
    assert!(
        matches!(&synced, Err(JournalError::Unavailable(why)) if why.contains("-wal")),
        "{synced:?}"
    );
    drop(a);
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn a_read_is_bounded_in_bytes() {
    let (dir, path) = fresh("read-bytes");
    crate::journal::check_read_bytes(&mut open(&path));
    std::fs::remove_dir_all(dir).ok();
}
