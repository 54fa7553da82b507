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
