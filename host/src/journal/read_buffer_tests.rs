//! The SQLite journal's buffer of read-audit entries: scans see every buffered read, a
//! change carries them, they cost no sync, and dropping the journal writes them.

use super::{JournalBackend, SqliteJournal, verify};
use maas_core::events::AuditRecord;
use maas_core::journal::AuditScan;
use maas_core::state::AuditEntry;

fn read(i: u64) -> AuditEntry {
    AuditEntry {
        seq: 0,
        at: 1_000 + i,
        record: AuditRecord {
            actor: "operator".into(),
            event_type: "agent.read".into(),
            target: Some(format!("a{i}")),
            outcome: "ok".into(),
            detail: "{}".into(),
            prev: Some(String::new()),
            covers: None,
        },
    }
}

fn all() -> AuditScan {
    AuditScan {
        actor: None,
        agent: None,
        event_type: None,
        since: None,
        until: None,
        limit: 1000,
    }
}

fn rows_on_disk(path: &std::path::Path) -> i64 {
    rusqlite::Connection::open(path)
        .and_then(|c| c.query_row("SELECT COUNT(*) FROM audit_log", [], |r| r.get(0)))
        .unwrap_or(-1)
}

#[test]
fn buffered_reads_are_seen_carried_and_written_on_drop() {
    let dir = std::env::temp_dir().join(format!("maas-read-buffer-{}", std::process::id()));
    std::fs::create_dir_all(&dir).ok();
    let path = dir.join("journal.db");
    std::fs::remove_file(&path).ok();
    let mut j = SqliteJournal::open(&path)
        .ok()
        .unwrap_or_else(|| panic!("open"));
    for group_commit in [false, true] {
        j.set_group_commit(group_commit);
        for i in 0..3 {
            assert_eq!(j.audit_append_owned(read(i)), Ok(()));
        }
        assert!(!j.needs_sync(), "buffered reads cost no sync");
        assert!(j.reads_due_in().is_some());
    }
    assert_eq!(rows_on_disk(&path), 0, "still buffered");
    // A scan sees every read buffered before it.
    assert_eq!(j.audit_scan(&all()).map(|v| v.len()), Ok(6));
    assert_eq!(j.reads_due_in(), None);
    assert_eq!(rows_on_disk(&path), 6);

    // Dropping the journal writes what is still buffered, and the chain verifies.
    assert_eq!(j.audit_append_owned(read(6)), Ok(()));
    drop(j);
    assert_eq!(rows_on_disk(&path), 7);
    let mut j = SqliteJournal::open(&path)
        .ok()
        .unwrap_or_else(|| panic!("reopen"));
    let report = verify::verify(&mut j).ok();
    assert_eq!(report.as_ref().map(|r| r.reads), Some(7));
    assert_eq!(report.and_then(|r| r.broken), None);

    // A change carries the buffered reads in its transaction.
    j.set_group_commit(false);
    assert_eq!(j.audit_append_owned(read(7)), Ok(()));
    assert_eq!(j.append(0, b"change", true), Ok(1));
    assert_eq!(rows_on_disk(&path), 8);
    drop(j);
    std::fs::remove_dir_all(&dir).ok();
}
