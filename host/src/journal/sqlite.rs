//! The embedded default journal: one SQLite file in WAL mode.
//!
//! A synced append commits with `synchronous=FULL`, so it is on disk when it returns; an
//! unsynced one (the audit record of a read) commits with `synchronous=NORMAL` and rides
//! to disk with the next synced commit. Compare-and-append runs inside one `BEGIN
//! IMMEDIATE` transaction, so several processes sharing the file see one history.

use super::{JournalBackend, JournalError, MAX_READ_BATCH, Snapshot, check_entry};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A journal in a SQLite file.
pub struct SqliteJournal {
    conn: Connection,
    path: PathBuf,
    synchronous_full: bool,
}

fn unavailable(e: rusqlite::Error) -> JournalError {
    JournalError::Unavailable(format!("sqlite: {e}"))
}

impl SqliteJournal {
    /// Opens (creating if needed) the journal at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, JournalError> {
        let path = path.as_ref().to_path_buf();
        let conn = Connection::open(&path).map_err(unavailable)?;
        conn.busy_timeout(Duration::from_secs(10))
            .map_err(unavailable)?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL;
             PRAGMA synchronous=FULL;
             CREATE TABLE IF NOT EXISTS journal (seq INTEGER PRIMARY KEY, data BLOB NOT NULL);
             CREATE TABLE IF NOT EXISTS snapshot (id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL, data BLOB NOT NULL);",
        )
        .map_err(unavailable)?;
        Ok(SqliteJournal {
            conn,
            path,
            synchronous_full: true,
        })
    }

    /// The file this journal lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn set_sync(&mut self, full: bool) -> Result<(), JournalError> {
        if self.synchronous_full != full {
            let mode = if full { "FULL" } else { "NORMAL" };
            self.conn
                .execute_batch(&format!("PRAGMA synchronous={mode};"))
                .map_err(unavailable)?;
            self.synchronous_full = full;
        }
        Ok(())
    }
}

impl JournalBackend for SqliteJournal {
    fn head(&mut self) -> Result<u64, JournalError> {
        let head: i64 = self
            .conn
            .prepare_cached("SELECT COALESCE(MAX(seq), 0) FROM journal")
            .and_then(|mut st| st.query_row([], |r| r.get(0)))
            .map_err(unavailable)?;
        Ok(u64::try_from(head).unwrap_or(0))
    }

    fn read(&mut self, from: u64, max: u32) -> Result<Vec<(u64, Vec<u8>)>, JournalError> {
        let from = i64::try_from(from).unwrap_or(i64::MAX);
        let max = i64::from(max.min(MAX_READ_BATCH));
        let mut st = self
            .conn
            .prepare_cached("SELECT seq, data FROM journal WHERE seq >= ?1 ORDER BY seq LIMIT ?2")
            .map_err(unavailable)?;
        let rows = st
            .query_map(params![from, max], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?))
            })
            .map_err(unavailable)?;
        rows.map(|r| {
            r.map(|(seq, data)| (u64::try_from(seq).unwrap_or(0), data))
                .map_err(unavailable)
        })
        .collect()
    }

    fn append(&mut self, expected_head: u64, data: &[u8], sync: bool) -> Result<u64, JournalError> {
        check_entry(data)?;
        self.set_sync(sync)?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(unavailable)?;
        let head: i64 = tx
            .query_row("SELECT COALESCE(MAX(seq), 0) FROM journal", [], |r| {
                r.get(0)
            })
            .map_err(unavailable)?;
        let head = u64::try_from(head).unwrap_or(0);
        if head != expected_head {
            return Err(JournalError::Conflict(head));
        }
        let seq = head + 1;
        tx.execute(
            "INSERT INTO journal (seq, data) VALUES (?1, ?2)",
            params![i64::try_from(seq).unwrap_or(i64::MAX), data],
        )
        .map_err(unavailable)?;
        tx.commit().map_err(unavailable)?;
        Ok(seq)
    }

    fn save_snapshot(&mut self, snapshot: Snapshot) -> Result<(), JournalError> {
        self.set_sync(true)?;
        self.conn
            .execute(
                "INSERT OR REPLACE INTO snapshot (id, seq, data) VALUES (1, ?1, ?2)",
                params![
                    i64::try_from(snapshot.seq).unwrap_or(i64::MAX),
                    snapshot.data
                ],
            )
            .map_err(unavailable)?;
        Ok(())
    }

    fn load_snapshot(&mut self) -> Result<Option<Snapshot>, JournalError> {
        self.conn
            .query_row("SELECT seq, data FROM snapshot WHERE id = 1", [], |r| {
                Ok(Snapshot {
                    seq: u64::try_from(r.get::<_, i64>(0)?).unwrap_or(0),
                    data: r.get(1)?,
                })
            })
            .optional()
            .map_err(unavailable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(a.load_snapshot(), Ok(None));
        a.save_snapshot(Snapshot {
            seq: 2,
            data: b"s".to_vec(),
        })
        .ok();
        assert_eq!(b.load_snapshot().ok().flatten().map(|s| s.seq), Some(2));
        std::fs::remove_dir_all(&dir).ok();
    }
}
