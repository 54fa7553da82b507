//! The SQLite journal shared by two handles on one file.

use super::*;
use crate::journal::Snapshot;

#[test]
fn two_handles_on_one_file_share_one_history() {
    let dir = std::env::temp_dir().join(format!("maas-sqlite-{}", std::process::id()));
    std::fs::create_dir_all(&dir).ok();
    let path = dir.join("journal.db");
    std::fs::remove_file(&path).ok();
    let mut a = SqliteJournal::open(&path)
        .ok()
        .unwrap_or_else(|| panic!("open a"));
    let mut b = SqliteJournal::open(&path)
        .ok()
        .unwrap_or_else(|| panic!("open b"));
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
    let dir = std::env::temp_dir().join(format!("maas-sqlite-heads-{}", std::process::id()));
    std::fs::create_dir_all(&dir).ok();
    let path = dir.join("journal.db");
    std::fs::remove_file(&path).ok();
    let open = || {
        SqliteJournal::open(&path)
            .ok()
            .unwrap_or_else(|| panic!("open"))
    };
    let (mut a, mut b) = (open(), open());
    let entry = |n: u8| format!("{{\"v\":1,\"at\":{n},\"events\":[]}}").into_bytes();
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
    let mut c = open();
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
