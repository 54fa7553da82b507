//! Snapshots in the SQLite journal file.
//!
//! A snapshot is stored as its chunks, `snapshot_chunks(seq, part, data, sum)`, each with
//! its SHA-256, and a row in `snapshots(seq, chunks, sum)` that marks it complete: its
//! chunk count and a SHA-256 over the chunks' checksums. Only snapshots with that row
//! exist for readers. The chunks are written in short transactions of their own, so a
//! large snapshot never holds the write lock (and so other processes' writes) for the
//! whole export; the row is written last, in one durable transaction that also drops all
//! but the two newest complete snapshots; then the chunks of those dropped and any left
//! over by a save that never finished are removed, one per transaction. A crash mid-save
//! leaves chunks without a row: ignored, then removed.
//!
//! A chunk's `sum` is stored after its data, which spills over many pages: reading the
//! sums from the table walks every page of the snapshot (50 ms for a million memories,
//! under the write lock when a save finishes, so every writer waited that long). The
//! index `snapshot_chunk_sums` holds them apart, so the sums are read from it alone.
//!
//! Older data directories kept each snapshot as one blob in `snapshots(seq, data, sum)`.
//! Those blobs are in a format this version does not read: the table is replaced, and
//! the next start replays the journal once.

use super::{JournalError, SNAPSHOTS_KEPT, checksum, snapshot_checksum, snapshot_intact};
use rusqlite::{Connection, OptionalExtension, params};

/// The pause between two chunks' deletions when older snapshots are pruned.
const PRUNE_PAUSE: std::time::Duration = std::time::Duration::from_millis(2);

fn unavailable(e: rusqlite::Error) -> JournalError {
    JournalError::Unavailable(format!("sqlite: {e}"))
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Creates the snapshot tables, replacing the single-blob layout of older releases.
/// Returns true when old snapshots were dropped.
pub(super) fn migrate(conn: &Connection) -> Result<bool, JournalError> {
    let old: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM pragma_table_info('snapshots') WHERE name = 'data'",
            [],
            |r| r.get(0),
        )
        .map_err(unavailable)?;
    if old > 0 {
        conn.execute_batch("DROP TABLE snapshots;")
            .map_err(unavailable)?;
    }
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS snapshots (seq INTEGER PRIMARY KEY, chunks INTEGER NOT NULL, sum BLOB NOT NULL);
         CREATE TABLE IF NOT EXISTS snapshot_chunks (seq INTEGER NOT NULL, part INTEGER NOT NULL, data BLOB NOT NULL, sum BLOB NOT NULL, PRIMARY KEY (seq, part));
         CREATE INDEX IF NOT EXISTS snapshot_chunk_sums ON snapshot_chunks (seq, part, sum);",
    )
    .map_err(unavailable)?;
    Ok(old > 0)
}

/// Makes the complete snapshot as of `seq`, if any, no longer count (its chunks then go
/// with [`discard`]); true when there was one.
pub(super) fn forget(conn: &Connection, seq: u64) -> Result<bool, JournalError> {
    conn.execute("DELETE FROM snapshots WHERE seq = ?1", params![to_i64(seq)])
        .map(|n| n > 0)
        .map_err(unavailable)
}

/// Removes the chunks of an unfinished save as of `seq`.
pub(super) fn discard(conn: &Connection, seq: u64) -> Result<(), JournalError> {
    conn.execute(
        "DELETE FROM snapshot_chunks WHERE seq = ?1 AND seq NOT IN (SELECT seq FROM snapshots)",
        params![to_i64(seq)],
    )
    .map(|_| ())
    .map_err(unavailable)
}

/// Stores one chunk; returns its checksum. A chunk of a complete snapshot is never
/// replaced: another process may have begun a save at the same position before this one
/// finished (this save's `finish` then fails; the complete one stays whole).
pub(super) fn put_chunk(
    conn: &Connection,
    seq: u64,
    part: u32,
    data: &[u8],
) -> Result<Vec<u8>, JournalError> {
    let sum = checksum(data);
    conn.prepare_cached(
        "INSERT INTO snapshot_chunks (seq, part, data, sum) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (seq, part) DO UPDATE SET data = excluded.data, sum = excluded.sum
         WHERE snapshot_chunks.seq NOT IN (SELECT seq FROM snapshots)",
    )
    .and_then(|mut st| st.execute(params![to_i64(seq), part, data, sum]))
    .map_err(unavailable)?;
    Ok(sum)
}

/// Marks the snapshot as of `seq` complete and prunes, in one transaction.
pub(super) fn finish(
    conn: &mut Connection,
    seq: u64,
    sums: &[Vec<u8>],
) -> Result<(), JournalError> {
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(unavailable)?;
    let stored: Vec<Vec<u8>> = {
        let mut st = tx
            .prepare("SELECT sum FROM snapshot_chunks WHERE seq = ?1 ORDER BY part")
            .map_err(unavailable)?;
        let rows = st
            .query_map(params![to_i64(seq)], |r| r.get(0))
            .map_err(unavailable)?;
        rows.collect::<Result<_, _>>().map_err(unavailable)?
    };
    if stored != sums {
        return Err(JournalError::Unavailable(format!(
            "the chunks of the snapshot as of entry {seq} changed while it was saved \
             (another process saving the same snapshot?); not marked complete"
        )));
    }
    let count = u32::try_from(sums.len()).unwrap_or(u32::MAX);
    let sum = snapshot_checksum(sums.iter().map(Vec::as_slice));
    tx.execute(
        "INSERT OR REPLACE INTO snapshots (seq, chunks, sum) VALUES (?1, ?2, ?3)",
        params![to_i64(seq), count, sum],
    )
    .map_err(unavailable)?;
    tx.execute(
        "DELETE FROM snapshots WHERE seq NOT IN
         (SELECT seq FROM snapshots ORDER BY seq DESC LIMIT ?1)",
        params![i64::try_from(SNAPSHOTS_KEPT).unwrap_or(2)],
    )
    .map_err(unavailable)?;
    tx.commit().map_err(unavailable)
}

/// Removes the chunks of snapshots dropped, and of saves older than the newest snapshot
/// that never finished (a newer unfinished save may be another process's, still under
/// way): one chunk per transaction, since deleting a whole snapshot of a large state
/// (a million memories: 63 chunks, 250 MiB) at once held the write lock, and so every
/// other writer, for over a second. Nothing reads chunks without a `snapshots` row, and
/// chunks a crash leaves are removed by the next save.
pub(super) fn prune(conn: &Connection) -> Result<(), JournalError> {
    let stale: Vec<(i64, i64)> = {
        let mut st = conn
            .prepare(
                "SELECT seq, part FROM snapshot_chunks WHERE seq NOT IN (SELECT seq FROM snapshots)
                 AND seq < (SELECT MAX(seq) FROM snapshots)",
            )
            .map_err(unavailable)?;
        let rows = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(unavailable)?;
        rows.collect::<Result<_, _>>().map_err(unavailable)?
    };
    for (i, (seq, part)) in stale.into_iter().enumerate() {
        if i > 0 {
            // Room for the writers waiting: SQLite's busy handler sleeps longer at every
            // try, and deletes one after another left it finding the lock taken each
            // time (a store waited 104 ms at a million memories).
            std::thread::sleep(PRUNE_PAUSE);
        }
        conn.execute(
            "DELETE FROM snapshot_chunks WHERE seq = ?1 AND part = ?2
             AND seq NOT IN (SELECT seq FROM snapshots)",
            params![seq, part],
        )
        .map_err(unavailable)?;
    }
    Ok(())
}

/// The newest position after `seq` with chunks and no `snapshots` row (read from the
/// checksums' index, not the chunks).
pub(super) fn unfinished_after(conn: &Connection, seq: u64) -> Result<Option<u64>, JournalError> {
    conn.prepare_cached(
        "SELECT MAX(seq) FROM snapshot_chunks WHERE seq > ?1
         AND seq NOT IN (SELECT seq FROM snapshots)",
    )
    .and_then(|mut st| st.query_row(params![to_i64(seq)], |r| r.get::<_, Option<i64>>(0)))
    .map(|n| n.and_then(|n| u64::try_from(n).ok()))
    .map_err(unavailable)
}

/// The positions of the complete snapshots, newest first.
pub(super) fn list(conn: &Connection) -> Result<Vec<u64>, JournalError> {
    let mut st = conn
        .prepare_cached("SELECT seq FROM snapshots ORDER BY seq DESC")
        .map_err(unavailable)?;
    let rows = st
        .query_map([], |r| {
            r.get::<_, i64>(0).map(|n| u64::try_from(n).unwrap_or(0))
        })
        .map_err(unavailable)?;
    rows.map(|r| r.map_err(unavailable)).collect()
}

/// The chunk count of the snapshot as of `seq`, or why it cannot be used.
pub(super) fn parts(
    conn: &Connection,
    seq: u64,
) -> Result<Option<Result<u32, String>>, JournalError> {
    let row: Option<(u32, Vec<u8>)> = conn
        .query_row(
            "SELECT chunks, sum FROM snapshots WHERE seq = ?1",
            params![to_i64(seq)],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(unavailable)?;
    let Some((count, sum)) = row else {
        return Ok(None);
    };
    let mut st = conn
        .prepare_cached("SELECT part, sum FROM snapshot_chunks WHERE seq = ?1 ORDER BY part")
        .map_err(unavailable)?;
    let rows = st
        .query_map(params![to_i64(seq)], |r| {
            Ok((r.get::<_, u32>(0)?, r.get::<_, Vec<u8>>(1)?))
        })
        .map_err(unavailable)?;
    let sums: Vec<(u32, Vec<u8>)> = rows.collect::<Result<_, _>>().map_err(unavailable)?;
    Ok(Some(snapshot_intact(count, &sum, &sums)))
}

/// Chunk `part` of the snapshot as of `seq`, or why it cannot be used.
pub(super) fn chunk(
    conn: &Connection,
    seq: u64,
    part: u32,
) -> Result<Option<Result<Vec<u8>, String>>, JournalError> {
    let row: Option<(Vec<u8>, Vec<u8>)> = conn
        .prepare_cached("SELECT data, sum FROM snapshot_chunks WHERE seq = ?1 AND part = ?2")
        .and_then(|mut st| {
            st.query_row(params![to_i64(seq), part], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
        })
        .map_err(unavailable)?;
    Ok(row.map(|(data, sum)| {
        if checksum(&data) == sum {
            Ok(data)
        } else {
            Err(format!("chunk {part} is damaged (checksum mismatch)"))
        }
    }))
}
