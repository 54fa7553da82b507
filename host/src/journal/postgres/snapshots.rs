//! Snapshots in PostgreSQL, laid out as in the SQLite journal: chunks with their SHA-256
//! in `maas_snapshot_chunks`, and a row in `maas_snapshots` (chunk count and a SHA-256
//! over the chunks' checksums) that makes a snapshot count, written last with the
//! pruning to the two newest. Every host may save snapshots; a save that races another
//! host's at the same position is refused at `finish`, never mixed.

use super::{LOG, i64_of, unavailable};
use crate::journal::{JournalError, SNAPSHOTS_KEPT, checksum, snapshot_checksum, snapshot_intact};
use postgres::Client;

/// Drops the complete snapshot as of `seq`, and then its chunks. Chunks of an unfinished
/// save there are kept: another host may be writing them, and the core's export at one
/// position is the same bytes (`finish` checks them).
pub fn forget(client: &mut Client, seq: u64) -> Result<(), JournalError> {
    let seq = i64_of(seq);
    let dropped = client
        .execute(
            "DELETE FROM maas_snapshots WHERE log = $1 AND seq = $2",
            &[&LOG, &seq],
        )
        .map_err(unavailable)?;
    if dropped > 0 {
        discard(client, seq)?;
    }
    Ok(())
}

/// Removes the chunks of an unfinished save as of `seq`.
pub fn discard(client: &mut Client, seq: i64) -> Result<(), JournalError> {
    client
        .execute(
            "DELETE FROM maas_snapshot_chunks c WHERE c.log = $1 AND c.seq = $2
             AND NOT EXISTS (SELECT 1 FROM maas_snapshots s WHERE s.log = $1 AND s.seq = $2)",
            &[&LOG, &seq],
        )
        .map(drop)
        .map_err(unavailable)
}

/// Stores one chunk; returns its checksum. A chunk of a complete snapshot is never
/// replaced (another host's save at the same position, finished first, stays whole).
pub fn put_chunk(
    client: &mut Client,
    seq: u64,
    part: u32,
    data: &[u8],
) -> Result<Vec<u8>, JournalError> {
    let sum = checksum(data);
    let part = i32::try_from(part).unwrap_or(i32::MAX);
    client
        .execute(
            "INSERT INTO maas_snapshot_chunks (log, seq, part, data, sum) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (log, seq, part) DO UPDATE SET data = EXCLUDED.data, sum = EXCLUDED.sum
             WHERE NOT EXISTS (SELECT 1 FROM maas_snapshots s WHERE s.log = $1 AND s.seq = $2)",
            &[&LOG, &i64_of(seq), &part, &data, &sum],
        )
        .map_err(unavailable)?;
    Ok(sum)
}

/// Marks the snapshot as of `seq` complete and prunes, in one transaction.
pub fn finish(client: &mut Client, seq: u64, sums: &[Vec<u8>]) -> Result<(), JournalError> {
    let seq = i64_of(seq);
    let mut tx = client.transaction().map_err(unavailable)?;
    let stored: Vec<Vec<u8>> = tx
        .query(
            "SELECT sum FROM maas_snapshot_chunks WHERE log = $1 AND seq = $2 ORDER BY part",
            &[&LOG, &seq],
        )
        .map_err(unavailable)?
        .iter()
        .map(|r| r.get(0))
        .collect();
    if stored != sums {
        return Err(JournalError::Unavailable(format!(
            "the chunks of the snapshot as of entry {seq} changed while it was saved \
             (another host saving the same snapshot?); not marked complete"
        )));
    }
    let count = i32::try_from(sums.len()).unwrap_or(i32::MAX);
    let sum = snapshot_checksum(sums.iter().map(Vec::as_slice));
    tx.execute(
        "INSERT INTO maas_snapshots (log, seq, parts, sum) VALUES ($1, $2, $3, $4)
         ON CONFLICT (log, seq) DO UPDATE SET parts = EXCLUDED.parts, sum = EXCLUDED.sum",
        &[&LOG, &seq, &count, &sum],
    )
    .map_err(unavailable)?;
    let kept = i64::try_from(SNAPSHOTS_KEPT).unwrap_or(2);
    tx.execute(
        "DELETE FROM maas_snapshots WHERE log = $1 AND seq NOT IN
         (SELECT seq FROM maas_snapshots WHERE log = $1 ORDER BY seq DESC LIMIT $2)",
        &[&LOG, &kept],
    )
    .map_err(unavailable)?;
    tx.execute(
        "DELETE FROM maas_snapshot_chunks c WHERE c.log = $1
         AND NOT EXISTS (SELECT 1 FROM maas_snapshots s WHERE s.log = $1 AND s.seq = c.seq)
         AND c.seq < (SELECT MAX(seq) FROM maas_snapshots WHERE log = $1)",
        &[&LOG],
    )
    .map_err(unavailable)?;
    tx.commit().map_err(unavailable)
}

/// The newest position after `seq` with chunks and no `maas_snapshots` row.
pub fn unfinished_after(client: &mut Client, seq: u64) -> Result<Option<u64>, JournalError> {
    let row = client
        .query_one(
            "SELECT MAX(c.seq) FROM maas_snapshot_chunks c WHERE c.log = $1 AND c.seq > $2
             AND NOT EXISTS (SELECT 1 FROM maas_snapshots s WHERE s.log = $1 AND s.seq = c.seq)",
            &[&LOG, &i64_of(seq)],
        )
        .map_err(unavailable)?;
    Ok(row
        .get::<_, Option<i64>>(0)
        .and_then(|n| u64::try_from(n).ok()))
}

/// The positions of the complete snapshots, newest first.
pub fn list(client: &mut Client) -> Result<Vec<u64>, JournalError> {
    Ok(client
        .query(
            "SELECT seq FROM maas_snapshots WHERE log = $1 ORDER BY seq DESC",
            &[&LOG],
        )
        .map_err(unavailable)?
        .iter()
        .map(|r| u64::try_from(r.get::<_, i64>(0)).unwrap_or(0))
        .collect())
}

/// The chunk count of the snapshot as of `seq`, or why it cannot be used.
pub fn parts(client: &mut Client, seq: u64) -> Result<Option<Result<u32, String>>, JournalError> {
    let seq = i64_of(seq);
    let Some(row) = client
        .query_opt(
            "SELECT parts, sum FROM maas_snapshots WHERE log = $1 AND seq = $2",
            &[&LOG, &seq],
        )
        .map_err(unavailable)?
    else {
        return Ok(None);
    };
    let count = u32::try_from(row.get::<_, i32>(0)).unwrap_or(0);
    let sum: Vec<u8> = row.get(1);
    let sums: Vec<(u32, Vec<u8>)> = client
        .query(
            "SELECT part, sum FROM maas_snapshot_chunks WHERE log = $1 AND seq = $2 ORDER BY part",
            &[&LOG, &seq],
        )
        .map_err(unavailable)?
        .iter()
        .map(|r| {
            (
                u32::try_from(r.get::<_, i32>(0)).unwrap_or(u32::MAX),
                r.get(1),
            )
        })
        .collect();
    Ok(Some(snapshot_intact(count, &sum, &sums)))
}

/// Chunk `part` of the snapshot as of `seq`, or why it cannot be used.
pub fn chunk(
    client: &mut Client,
    seq: u64,
    part: u32,
) -> Result<Option<Result<Vec<u8>, String>>, JournalError> {
    let row = client
        .query_opt(
            "SELECT data, sum FROM maas_snapshot_chunks WHERE log = $1 AND seq = $2 AND part = $3",
            &[&LOG, &i64_of(seq), &i32::try_from(part).unwrap_or(i32::MAX)],
        )
        .map_err(unavailable)?;
    Ok(row.map(|r| {
        let data: Vec<u8> = r.get(0);
        let sum: Vec<u8> = r.get(1);
        if checksum(&data) == sum {
            Ok(data)
        } else {
            Err(format!("chunk {part} is damaged (checksum mismatch)"))
        }
    }))
}
