//! The embedded default journal: one SQLite file in WAL mode.
//!
//! A synced append commits with `synchronous=FULL`, so it is on disk when it returns; an
//! unsynced one (the audit record of a read) commits with `synchronous=NORMAL` and rides
//! to disk with the next synced commit. With group commit on, synced appends also commit
//! with `NORMAL` and [`JournalBackend::sync`] makes all of them durable with one fsync of
//! the write-ahead log. Compare-and-append runs inside one `BEGIN IMMEDIATE` transaction,
//! so several processes sharing the file see one history.
//!
//! With group commit on, the appends of one batch also share one transaction: the first
//! append of a batch opens it (`BEGIN IMMEDIATE`, so the compare-and-append stays exact
//! across processes), and [`JournalBackend::sync`] commits it and syncs the log once.
//!
//! The audit entries of reads go to the read-audit log (`audit_log`, see
//! [`super::audit_log`]), never into `journal`. They are buffered in the process and
//! written many rows to one transaction: with the next change's transaction, before any
//! scan of the log, when [`MAX_BUFFERED_READS`] are waiting, when the oldest has waited
//! [`READ_FLUSH_INTERVAL`] (at the next read, or by a server waiting for work through
//! [`JournalBackend::reads_due_in`]), and when the journal is dropped. A process killed
//! loses at most the rows still buffered: fewer than [`MAX_BUFFERED_READS`], read in the
//! last [`READ_FLUSH_INTERVAL`] (or since its last call, for a caller that is not a server
//! and never flushes when idle). The chain is computed as rows are written, so what was
//! written always verifies.
//!
//! Every entry and snapshot is stored with its SHA-256. Entries written before checksums
//! were kept have none and are read unchecked.

use super::sqlite_snapshots as snap;
use super::{JournalBackend, JournalError, MAX_READ_BATCH, audit_log, check_entry, checksum};
use maas_core::journal::AuditScan;
use maas_core::state::AuditEntry;
use rusqlite::{Connection, TransactionBehavior, params};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A journal in a SQLite file.
pub struct SqliteJournal {
    conn: Connection,
    path: PathBuf,
    synchronous_full: bool,
    group_commit: bool,
    needs_sync: bool,
    /// A group-commit batch transaction is open.
    in_batch: bool,
    /// The batch's transaction was rolled back under it (a statement failed and SQLite
    /// ended the transaction with it, or its read-audit rows could not be written), and
    /// why: nothing is appended until [`JournalBackend::sync`] has reported it, so no
    /// answer of the batch is released as if its change were saved.
    batch_lost: Option<String>,
    /// How many of `reads` were buffered before the batch transaction opened.
    reads_before_batch: usize,
    /// Read-audit entries written into the open batch transaction: kept until it
    /// commits, so that a batch lost gives back those buffered before it (their answers
    /// went out) and drops its own.
    batch_reads: Vec<AuditEntry>,
    /// Read-audit entries not yet written.
    reads: Vec<AuditEntry>,
    /// When the oldest of `reads` was buffered.
    reads_since: Option<Instant>,
    notices: Vec<String>,
    /// The snapshot being saved: its position and its chunks' checksums so far.
    saving: Option<(u64, Vec<Vec<u8>>)>,
    /// How many times entries were set aside (table `set_asides`) as this journal last
    /// saw it: another process that sets entries aside moves it on.
    set_aside_mark: i64,
    /// Another process set entries aside since this journal's core started: every
    /// head is refused until the core starts again ([`JournalBackend::acknowledge_rewrite`]).
    rewritten: bool,
    /// SQLite's `data_version` with the head and set-aside mark read at it: while no other
    /// connection commits and this one writes nothing, they stand.
    seen: Option<(i64, u64, i64)>,
}

mod batch;
mod reads;
#[cfg(test)]
mod tests;

use batch::batch_lost;
pub use reads::{MAX_BUFFERED_READS, READ_FLUSH_INTERVAL};

fn unavailable(e: rusqlite::Error) -> JournalError {
    JournalError::Unavailable(format!("sqlite: {e}"))
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn to_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// The sequence of the last entry, 0 when empty (inside a transaction too).
fn head_of(conn: &Connection) -> Result<u64, JournalError> {
    conn.prepare_cached("SELECT COALESCE(MAX(seq), 0) FROM journal")
        .and_then(|mut st| st.query_row([], |r| r.get::<_, i64>(0)))
        .map(to_u64)
        .map_err(unavailable)
}

/// The sequence of the last entry and how many times entries were set aside, read
/// together.
fn head_and_mark(conn: &Connection) -> Result<(u64, i64), JournalError> {
    conn.prepare_cached(
        "SELECT COALESCE((SELECT MAX(seq) FROM journal), 0),
                COALESCE((SELECT count FROM set_asides WHERE id = 1), 0)",
    )
    .and_then(|mut st| st.query_row([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))))
    .map(|(head, mark)| (to_u64(head), mark))
    .map_err(unavailable)
}

/// A number that changes whenever another connection commits to the database.
fn data_version(conn: &Connection) -> Result<i64, JournalError> {
    conn.prepare_cached("PRAGMA data_version")
        .and_then(|mut st| st.query_row([], |r| r.get::<_, i64>(0)))
        .map_err(unavailable)
}

/// True when `data` matches the stored checksum (or there is none: an older entry).
fn intact(data: &[u8], sum: Option<&[u8]>) -> bool {
    sum.is_none_or(|sum| checksum(data) == sum)
}

type Row = (u64, Vec<u8>, Option<Vec<u8>>);

/// How long a connection waits for another's write lock before it gives up.
const LOCK_WAIT: Duration = Duration::from_secs(10);
/// How often it looks again meanwhile.
const LOCK_POLL: Duration = Duration::from_millis(1);

/// SQLite's busy handler: looks again every [`LOCK_POLL`] for [`LOCK_WAIT`]. SQLite's own
/// timeout sleeps longer at every try (1, 2, 5, 10 … 100 ms), so a store waiting behind
/// a snapshot chunk another connection was writing waited up to 53 ms for a lock free
/// after a few.
fn wait_for_the_lock(tries: i32) -> bool {
    std::thread::sleep(LOCK_POLL);
    let polls = LOCK_WAIT.as_millis() / LOCK_POLL.as_millis();
    u128::try_from(tries).is_ok_and(|t| t < polls)
}

impl SqliteJournal {
    /// Opens (creating if needed) the journal at `path`, bringing an older layout up to date.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, JournalError> {
        let path = path.as_ref().to_path_buf();
        let mut conn = Connection::open(&path).map_err(unavailable)?;
        conn.busy_handler(Some(wait_for_the_lock))
            .map_err(unavailable)?;
        // Group commit syncs the write-ahead log itself (see `sync`), so a file system
        // where SQLite cannot keep one is refused rather than run without it.
        let mode: String = conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .map_err(unavailable)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(JournalError::Unavailable(format!(
                "{} cannot be kept in SQLite's write-ahead-log mode (it stays in `{mode}` \
                 mode: a file system without shared memory, such as a network share?); put \
                 the data directory on a local disk",
                path.display()
            )));
        }
        conn.execute_batch("PRAGMA synchronous=FULL;")
            .map_err(unavailable)?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(unavailable)?;
        tx.execute_batch(
            "CREATE TABLE IF NOT EXISTS journal (seq INTEGER PRIMARY KEY, data BLOB NOT NULL, sum BLOB);
             CREATE TABLE IF NOT EXISTS damaged (seq INTEGER NOT NULL, data BLOB, sum BLOB, set_aside_at INTEGER NOT NULL);
             CREATE TABLE IF NOT EXISTS set_asides (id INTEGER PRIMARY KEY CHECK (id = 1), count INTEGER NOT NULL);
             INSERT OR IGNORE INTO set_asides (id, count) VALUES (1, 0);
             CREATE TABLE IF NOT EXISTS damaged_snapshots (seq INTEGER NOT NULL, chunks INTEGER NOT NULL, sum BLOB NOT NULL, set_aside_at INTEGER NOT NULL);
             CREATE TABLE IF NOT EXISTS damaged_snapshot_chunks (seq INTEGER NOT NULL, part INTEGER NOT NULL, data BLOB NOT NULL, sum BLOB NOT NULL, set_aside_at INTEGER NOT NULL);
             DROP TABLE IF EXISTS snapshot;",
        )
        .map_err(unavailable)?;
        tx.execute_batch(audit_log::SCHEMA).map_err(unavailable)?;
        audit_log::migrate(&tx)?;
        let has_sum: bool = tx
            .query_row(
                "SELECT COUNT(*) FROM pragma_table_info('journal') WHERE name = 'sum'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .map_err(unavailable)?
            > 0;
        if !has_sum {
            tx.execute_batch("ALTER TABLE journal ADD COLUMN sum BLOB;")
                .map_err(unavailable)?;
        }
        let mut notices = Vec::new();
        if snap::migrate(&tx)? {
            notices.push(format!(
                "the snapshots in {} are of an older format and were dropped; this start \
                 replays the journal",
                path.display()
            ));
        }
        tx.commit().map_err(unavailable)?;
        let (_, set_aside_mark) = head_and_mark(&conn)?;
        Ok(SqliteJournal {
            conn,
            path,
            synchronous_full: true,
            group_commit: false,
            needs_sync: false,
            in_batch: false,
            batch_lost: None,
            reads_before_batch: 0,
            batch_reads: Vec::new(),
            reads: Vec::new(),
            reads_since: None,
            notices,
            saving: None,
            set_aside_mark,
            rewritten: false,
            seen: None,
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

    fn rows(&mut self, from: u64, max: u32) -> Result<Vec<Row>, JournalError> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT seq, data, sum FROM journal WHERE seq >= ?1 ORDER BY seq LIMIT ?2",
            )
            .map_err(unavailable)?;
        let rows = st
            .query_map(params![to_i64(from), i64::from(max)], |r| {
                Ok((to_u64(r.get(0)?), r.get(1)?, r.get(2)?))
            })
            .map_err(unavailable)?;
        let mut read = Vec::new();
        let mut bytes = 0usize;
        for row in rows {
            let row: Row = row.map_err(unavailable)?;
            bytes = bytes.saturating_add(row.1.len());
            read.push(row);
            if super::read_full(bytes) {
                break;
            }
        }
        Ok(read)
    }

    /// Compare-and-append of `entries` in one transaction, committed with
    /// `synchronous=FULL` when `full`.
    fn insert_after<'a>(
        &mut self,
        expected_head: u64,
        entries: impl Iterator<Item = &'a [u8]> + Clone,
        full: bool,
    ) -> Result<u64, JournalError> {
        self.seen = None;
        for data in entries.clone() {
            check_entry(data)?;
        }
        self.set_sync(full)?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(unavailable)?;
        let head = head_of(&tx)?;
        if head != expected_head {
            return Err(JournalError::Conflict(head));
        }
        let mut seq = expected_head;
        {
            let mut st = tx
                .prepare_cached("INSERT INTO journal (seq, data, sum) VALUES (?1, ?2, ?3)")
                .map_err(unavailable)?;
            for data in entries {
                seq += 1;
                st.execute(params![to_i64(seq), data, checksum(data)])
                    .map_err(unavailable)?;
            }
        }
        // The buffered read-audit entries ride with the change, and are as durable.
        audit_log::insert(&tx, &self.reads)?;
        tx.commit().map_err(unavailable)?;
        self.reads.clear();
        self.reads_since = None;
        Ok(seq)
    }

    fn damaged_snapshot(&mut self, seq: u64, why: &str) {
        self.notices.push(format!(
            "the snapshot as of entry {seq} in {} is damaged ({why}); falling back to an \
             older snapshot or the journal",
            self.path.display()
        ));
    }

    /// Moves entries from `seq` on into the `damaged` table, in one transaction.
    fn set_aside(&mut self, seq: u64) -> Result<u64, JournalError> {
        self.seen = None;
        self.end_batch()?;
        self.set_sync(true)?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(unavailable)?;
        tx.execute(
            "INSERT INTO damaged (seq, data, sum, set_aside_at)
             SELECT seq, data, sum, ?2 FROM journal WHERE seq >= ?1",
            params![to_i64(seq), now],
        )
        .map_err(unavailable)?;
        let moved = tx
            .execute("DELETE FROM journal WHERE seq >= ?1", params![to_i64(seq)])
            .map_err(unavailable)?;
        // A snapshot from here on holds entries the journal no longer does: a core
        // started from it would not be the journal's. It is kept beside them.
        tx.execute_batch(&format!(
            "INSERT INTO damaged_snapshots (seq, chunks, sum, set_aside_at)
               SELECT seq, chunks, sum, {now} FROM snapshots WHERE seq >= {from};
             INSERT INTO damaged_snapshot_chunks (seq, part, data, sum, set_aside_at)
               SELECT seq, part, data, sum, {now} FROM snapshot_chunks WHERE seq >= {from};
             DELETE FROM snapshots WHERE seq >= {from};
             DELETE FROM snapshot_chunks WHERE seq >= {from};
             UPDATE set_asides SET count = count + 1 WHERE id = 1;",
            from = to_i64(seq)
        ))
        .map_err(unavailable)?;
        tx.commit().map_err(unavailable)?;
        // This journal's own core sets aside before it starts: not a rewrite under it.
        self.set_aside_mark = head_and_mark(&self.conn)?.1;
        Ok(moved as u64)
    }
}

impl JournalBackend for SqliteJournal {
    fn append_all(&mut self, expected_head: u64, entries: &[Vec<u8>]) -> Result<u64, JournalError> {
        self.end_batch()?;
        self.insert_after(expected_head, entries.iter().map(Vec::as_slice), true)
    }

    fn chain_rows(
        &mut self,
        after: i64,
        limit: u32,
    ) -> Result<Vec<audit_log::ChainRow>, JournalError> {
        self.write_reads()?;
        audit_log::chain_rows(&self.conn, after, limit)
    }

    fn set_aside(&mut self) -> Result<Vec<crate::journal::SetAside>, JournalError> {
        // One set-aside moves a run from one entry to the head, all stamped alike.
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT seq, data, sum, set_aside_at FROM damaged ORDER BY set_aside_at, seq",
            )
            .map_err(unavailable)?;
        let rows = st
            .query_map([], |r| {
                let data: Option<Vec<u8>> = r.get(1)?;
                let sum: Option<Vec<u8>> = r.get(2)?;
                let data = data.unwrap_or_default();
                Ok(crate::journal::SetAside {
                    seq: to_u64(r.get(0)?),
                    sound: sum.is_some_and(|s| s == checksum(&data)),
                    data,
                    at: r.get(3)?,
                })
            })
            .map_err(unavailable)?;
        rows.map(|r| r.map_err(unavailable)).collect()
    }

    fn head(&mut self) -> Result<u64, JournalError> {
        let version = data_version(&self.conn)?;
        let (head, mark) = match self.seen {
            Some((seen, head, mark)) if seen == version => (head, mark),
            _ => {
                let (head, mark) = head_and_mark(&self.conn)?;
                self.seen = Some((version, head, mark));
                (head, mark)
            }
        };
        if mark != self.set_aside_mark {
            self.set_aside_mark = mark;
            self.rewritten = true;
        }
        if self.rewritten {
            return Err(JournalError::Unavailable(format!(
                "{}: another process set entries of {} aside (table `damaged`)",
                maas_core::engine::JOURNAL_REWRITTEN,
                self.path.display()
            )));
        }
        Ok(head)
    }

    fn acknowledge_rewrite(&mut self) {
        self.rewritten = false;
    }

    fn read(&mut self, from: u64, max: u32) -> Result<Vec<(u64, Vec<u8>)>, JournalError> {
        let rows = self.rows(from, max.min(MAX_READ_BATCH))?;
        // What another writer committed may not be synced yet: whoever shows it to a
        // caller syncs first.
        self.needs_sync |= !rows.is_empty();
        rows.into_iter()
            .map(|(seq, data, sum)| {
                if intact(&data, sum.as_deref()) {
                    Ok((seq, data))
                } else {
                    Err(JournalError::Unavailable(format!(
                        "journal entry {seq} in {} is damaged (checksum mismatch); a start \
                         sets a damaged entry after the newest snapshot aside with what \
                         follows it, but one the snapshot already holds can only be \
                         restored from a copy of the file",
                        self.path.display()
                    )))
                }
            })
            .collect()
    }

    fn append(&mut self, expected_head: u64, data: &[u8], sync: bool) -> Result<u64, JournalError> {
        if self.group_commit {
            return self.append_in_batch(expected_head, data);
        }
        self.insert_after(expected_head, std::iter::once(data), sync)
    }

    fn audit_append(&mut self, entry: &AuditEntry) -> Result<(), JournalError> {
        self.audit_append_owned(entry.clone())
    }

    fn audit_append_owned(&mut self, entry: AuditEntry) -> Result<(), JournalError> {
        self.buffer_read(entry)
    }

    fn flush_reads(&mut self) -> Result<(), JournalError> {
        self.write_reads()
    }

    fn reads_due_in(&self) -> Option<Duration> {
        self.reads_due()
    }

    fn audit_scan(&mut self, scan: &AuditScan) -> Result<Vec<AuditEntry>, JournalError> {
        // (The read-audit log's chain is read by `SqliteJournal::chain_rows`.) Every read
        // buffered so far is written first, so the scan sees it.
        self.write_reads()?;
        audit_log::scan(&self.conn, scan)
    }

    fn begin_snapshot(&mut self, seq: u64) -> Result<bool, JournalError> {
        // Chunks are written in transactions of their own, after the open batch.
        self.end_batch()?;
        self.saving = None;
        // A snapshot already saved at this position may be the damaged one being replaced:
        // it stops counting now, and the new one counts once finished. Chunks of an
        // unfinished save there are kept: another process may be writing them, and the
        // core's export at one position is the same bytes (`finish` checks them).
        if snap::forget(&self.conn, seq)? {
            snap::discard(&self.conn, seq)?;
        }
        self.saving = Some((seq, Vec::new()));
        Ok(true)
    }

    fn snapshot_chunk(&mut self, data: &[u8]) -> Result<(), JournalError> {
        // Chunks ride to disk with the durable commit that marks the snapshot complete.
        self.end_batch()?;
        self.set_sync(false)?;
        let Some((seq, sums)) = self.saving.as_mut() else {
            return Err(JournalError::Unavailable(
                "no snapshot is being saved".into(),
            ));
        };
        let part = u32::try_from(sums.len()).unwrap_or(u32::MAX);
        sums.push(snap::put_chunk(&self.conn, *seq, part, data)?);
        Ok(())
    }

    fn finish_snapshot(&mut self) -> Result<(), JournalError> {
        let Some((seq, sums)) = self.saving.take() else {
            return Err(JournalError::Unavailable(
                "no snapshot is being saved".into(),
            ));
        };
        self.end_batch()?;
        self.set_sync(true)?;
        snap::finish(&mut self.conn, seq, &sums)?;
        // The chunks of snapshots no longer kept need no sync: a crash leaves them to the
        // next save. A failure here costs only room.
        if let Err(e) = self.set_sync(false).and_then(|()| snap::prune(&self.conn)) {
            self.notices.push(format!(
                "could not remove the chunks of older snapshots from {}: {e}; the next \
                 snapshot tries again",
                self.path.display()
            ));
        }
        Ok(())
    }

    fn abort_snapshot(&mut self) -> Result<(), JournalError> {
        match self.saving.take() {
            Some((seq, _)) => snap::discard(&self.conn, seq),
            None => Ok(()),
        }
    }

    fn snapshots(&mut self) -> Result<Vec<u64>, JournalError> {
        snap::list(&self.conn)
    }

    fn unfinished_snapshot_after(&mut self, seq: u64) -> Result<Option<u64>, JournalError> {
        snap::unfinished_after(&self.conn, seq)
    }

    fn snapshot_parts(&mut self, seq: u64) -> Result<Option<u32>, JournalError> {
        Ok(match snap::parts(&self.conn, seq)? {
            Some(Ok(n)) => Some(n),
            Some(Err(why)) => {
                self.damaged_snapshot(seq, &why);
                None
            }
            None => None,
        })
    }

    fn load_snapshot_chunk(
        &mut self,
        seq: u64,
        part: u32,
    ) -> Result<Option<Vec<u8>>, JournalError> {
        Ok(match snap::chunk(&self.conn, seq, part)? {
            Some(Ok(data)) => Some(data),
            Some(Err(why)) => {
                self.damaged_snapshot(seq, &why);
                None
            }
            None => {
                self.damaged_snapshot(seq, &format!("chunk {part} is missing"));
                None
            }
        })
    }

    fn recover_tail(&mut self, seq: u64) -> Result<(), JournalError> {
        let mut from = seq.saturating_add(1);
        loop {
            let rows = self.rows(from, MAX_READ_BATCH)?;
            let Some((last, _, _)) = rows.last() else {
                return Ok(());
            };
            let next = last.saturating_add(1);
            if let Some((bad, _, _)) = rows
                .iter()
                .find(|(_, data, sum)| !intact(data, sum.as_deref()))
            {
                let bad = *bad;
                let moved = self.set_aside(bad)?;
                self.notices.push(format!(
                    "journal entry {bad} in {} is damaged (checksum mismatch): it and the {} \
                     entries after it were set aside in table `damaged`; starting from entry {}",
                    self.path.display(),
                    moved.saturating_sub(1),
                    bad.saturating_sub(1)
                ));
                return Ok(());
            }
            from = next;
        }
    }

    fn set_group_commit(&mut self, on: bool) {
        self.group_commit = on;
    }

    fn needs_sync(&self) -> bool {
        // Buffered reads wait for a flush of their own or ride with the next change's
        // transaction; they never cost a sync. A batch lost is reported by the sync.
        self.needs_sync || self.in_batch || self.batch_lost.is_some()
    }

    fn sync(&mut self) -> Result<(), JournalError> {
        let ended = self.end_batch();
        // A batch lost, before or just now, is reported once: the next starts afresh.
        self.batch_lost = None;
        ended?;
        if !self.needs_sync {
            return Ok(());
        }
        // In WAL mode a commit is in the log file; syncing the log makes every commit so
        // far durable, which is what `synchronous=FULL` does per commit. The log is
        // opened by its name (SQLite keeps no locks on it); the journal file itself never
        // is: closing a descriptor of it would drop this process's SQLite locks on it
        // (see `datadir::create_private`). While a connection is open the log is never
        // removed, so a missing one means another program removed it, and what was
        // committed into it may be gone: reported, never taken as synced.
        let mut wal = self.path.clone().into_os_string();
        wal.push("-wal");
        let wal = PathBuf::from(wal);
        let file = std::fs::File::open(&wal).map_err(|e| sync_failed(&wal, e))?;
        file.sync_data().map_err(|e| sync_failed(&wal, e))?;
        self.needs_sync = false;
        Ok(())
    }

    fn take_notices(&mut self) -> Vec<String> {
        std::mem::take(&mut self.notices)
    }
}

fn sync_failed(path: &Path, e: std::io::Error) -> JournalError {
    JournalError::Unavailable(format!("cannot sync {}: {e}", path.display()))
}
