//! Journal backends: where the core's history is kept. A plain Rust trait, so backends
//! know nothing of WIT types.

pub mod audit_log;
pub mod memory;
pub mod postgres;
#[cfg(test)]
mod read_buffer_tests;
pub mod replay;
pub mod sqlite;
mod sqlite_snapshots;
pub mod verify;

pub use memory::MemoryJournal;
pub use postgres::PostgresJournal;
pub use sqlite::SqliteJournal;

use maas_core::journal::{AuditScan, unpack_read};
use maas_core::state::AuditEntry;

/// Why a journal refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JournalError {
    /// Another writer appended first; the current head.
    #[error("journal head moved to {0}")]
    Conflict(u64),
    /// Storage failed; nothing was written.
    #[error("journal unavailable: {0}")]
    Unavailable(String),
}

/// A snapshot of the core's state as of `seq`, read whole (tests and tools: the runtime
/// streams snapshots chunk by chunk instead).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The last sequence it includes.
    pub seq: u64,
    /// The encoded state, in the chunks the core exported it in.
    pub chunks: Vec<Vec<u8>>,
}

/// An ordered log of opaque entries numbered from 1, with compare-and-append, and
/// snapshots kept beside it.
///
/// Durability: an append with `sync` true is durable when it returns, unless group commit
/// is on; then it is durable after the next [`JournalBackend::sync`], and the host holds
/// the answer of the call that wrote it until then.
pub trait JournalBackend: Send {
    /// The sequence of the last entry, 0 when empty.
    fn head(&mut self) -> Result<u64, JournalError>;
    /// Up to `max` entries with `seq >= from`, in order. An entry whose checksum does not
    /// match is refused with `unavailable` naming it.
    fn read(&mut self, from: u64, max: u32) -> Result<Vec<(u64, Vec<u8>)>, JournalError>;
    /// Appends `data` as entry `expected_head + 1` if the head is `expected_head`. When
    /// `sync` is true the entry is durable on return (see group commit above); otherwise it
    /// becomes durable with the next synced append at the latest.
    fn append(&mut self, expected_head: u64, data: &[u8], sync: bool) -> Result<u64, JournalError>;
    /// Appends a read's audit entry to the read-audit log. A backend may hold it in a
    /// buffer (see [`JournalBackend::flush_reads`]); [`JournalBackend::audit_scan`] sees it
    /// either way, and it is durable after the next [`JournalBackend::sync`] that follows
    /// its flush.
    fn audit_append(&mut self, entry: &AuditEntry) -> Result<(), JournalError>;
    /// [`JournalBackend::audit_append`] taking the entry, so a backend that keeps it need
    /// not copy it.
    fn audit_append_owned(&mut self, entry: AuditEntry) -> Result<(), JournalError> {
        self.audit_append(&entry)
    }
    /// [`JournalBackend::audit_append`] of an entry packed as the core hands it over
    /// ([`maas_core::journal::pack_read`]), so a backend may keep the bytes as they came.
    /// Errors: `unavailable` when `packed` is not one well-formed entry.
    fn audit_append_packed(&mut self, packed: Vec<u8>) -> Result<(), JournalError> {
        self.audit_append_owned(unpack_read(&packed).ok_or_else(malformed_read)?)
    }
    /// Writes the buffered read-audit entries to the log (committed, not synced).
    fn flush_reads(&mut self) -> Result<(), JournalError> {
        Ok(())
    }
    /// How long until the buffered read-audit entries are due to be written; `None` when
    /// nothing is buffered. A server waiting for work calls [`JournalBackend::flush_reads`]
    /// by then.
    fn reads_due_in(&self) -> Option<std::time::Duration> {
        None
    }
    /// The newest `scan.limit` read-audit entries matching `scan`, oldest first.
    fn audit_scan(&mut self, scan: &AuditScan) -> Result<Vec<AuditEntry>, JournalError>;
    /// Starts saving a snapshot as of `seq`, discarding a save in progress; its chunks
    /// follow with [`JournalBackend::snapshot_chunk`] and
    /// [`JournalBackend::finish_snapshot`] makes it count. A snapshot already saved as of
    /// `seq` (perhaps a damaged one) is replaced. `Ok(false)`: nothing to save (a backend
    /// that knows an intact one is there may say so).
    fn begin_snapshot(&mut self, seq: u64) -> Result<bool, JournalError>;
    /// Stores the next chunk of the snapshot being saved (with its checksum).
    fn snapshot_chunk(&mut self, data: &[u8]) -> Result<(), JournalError>;
    /// Marks the snapshot being saved complete, durably, with its chunk count and a
    /// checksum over the chunks' checksums, and keeps only the two newest complete
    /// snapshots. Until then the snapshot does not exist for [`JournalBackend::snapshots`].
    fn finish_snapshot(&mut self) -> Result<(), JournalError>;
    /// Drops the snapshot being saved (its export failed).
    fn abort_snapshot(&mut self) -> Result<(), JournalError>;
    /// The positions of the complete snapshots, newest first.
    fn snapshots(&mut self) -> Result<Vec<u64>, JournalError>;
    /// The position of the newest save after `seq` with chunks stored but not complete:
    /// another process saving it, or a save that stopped midway. `None` when there is
    /// none (a backend only one process uses need not look).
    fn unfinished_snapshot_after(&mut self, seq: u64) -> Result<Option<u64>, JournalError> {
        let _ = seq;
        Ok(None)
    }
    /// How many chunks the complete snapshot as of `seq` has; `Ok(None)` when there is
    /// none, or its chunks are missing or their checksums do not add up to the one it was
    /// saved with (then [`JournalBackend::take_notices`] says so).
    fn snapshot_parts(&mut self, seq: u64) -> Result<Option<u32>, JournalError>;
    /// Chunk `part` (from 0) of the snapshot as of `seq`; `Ok(None)` when it is missing
    /// or fails its checksum (then [`JournalBackend::take_notices`] says so).
    fn load_snapshot_chunk(&mut self, seq: u64, part: u32)
    -> Result<Option<Vec<u8>>, JournalError>;
    /// Saves a whole snapshot at once (tests and tools).
    fn save_snapshot(&mut self, snapshot: Snapshot) -> Result<(), JournalError> {
        if !self.begin_snapshot(snapshot.seq)? {
            return Ok(());
        }
        for chunk in &snapshot.chunks {
            self.snapshot_chunk(chunk)?;
        }
        self.finish_snapshot()
    }
    /// Reads a whole snapshot (tests and tools); `Ok(None)` as for the parts.
    fn load_snapshot(&mut self, seq: u64) -> Result<Option<Snapshot>, JournalError> {
        let Some(parts) = self.snapshot_parts(seq)? else {
            return Ok(None);
        };
        let mut chunks = Vec::new();
        for part in 0..parts {
            match self.load_snapshot_chunk(seq, part)? {
                Some(chunk) => chunks.push(chunk),
                None => return Ok(None),
            }
        }
        Ok(Some(Snapshot { seq, chunks }))
    }
    /// Checks every entry after `seq` against its checksum. The first damaged entry and
    /// everything after it are set aside (kept, not applied), so the core starts from the
    /// last good point, and so are the snapshots from that entry on (they were made of
    /// entries no longer in the journal); a notice says what was set aside.
    fn recover_tail(&mut self, seq: u64) -> Result<(), JournalError> {
        let _ = seq;
        Ok(())
    }
    /// Appends `entries` after `expected_head` in one durable transaction (imports and
    /// bulk loads); nothing is written if the head moved. (This default appends them one
    /// by one: a backend with transactions overrides it.)
    fn append_all(&mut self, expected_head: u64, entries: &[Vec<u8>]) -> Result<u64, JournalError> {
        let mut head = expected_head;
        for data in entries {
            head = self.append(head, data, false)?;
        }
        self.sync()?;
        Ok(head)
    }
    /// Up to `limit` rows of the read-audit log after row `after`, with their chain links
    /// (`maas audit verify`).
    fn chain_rows(
        &mut self,
        after: i64,
        limit: u32,
    ) -> Result<Vec<audit_log::ChainRow>, JournalError> {
        let _ = (after, limit);
        Ok(Vec::new())
    }
    /// The entries set aside (moved out of the journal as a damaged tail), oldest
    /// set-aside first, each run in order: the read-audit rows that name them name a
    /// history the journal no longer holds, checked against these.
    fn set_aside(&mut self) -> Result<Vec<SetAside>, JournalError> {
        Ok(Vec::new())
    }
    /// Turns group commit on: synced appends are made durable by [`JournalBackend::sync`].
    fn set_group_commit(&mut self, on: bool) {
        let _ = on;
    }
    /// The core over this journal starts again: a rewrite of the journal under the
    /// core (entries another process set aside), refused by [`JournalBackend::head`]
    /// until now, is taken as it is.
    fn acknowledge_rewrite(&mut self) {}
    /// Whether the journal's store is away, so its head is the one last read: what the
    /// core decides now is decided on a state that may be behind the journal's.
    fn away(&self) -> bool {
        false
    }
    /// True when something was appended, or read from another writer, that is not yet
    /// known to be durable.
    fn needs_sync(&self) -> bool {
        false
    }
    /// Makes everything appended so far durable.
    fn sync(&mut self) -> Result<(), JournalError> {
        Ok(())
    }
    /// What the backend found and worked around (damaged snapshots or entries), once each.
    fn take_notices(&mut self) -> Vec<String> {
        Vec::new()
    }
}

/// The checksum of a whole snapshot: SHA-256 over its chunks' checksums, in order.
pub fn snapshot_checksum<'a>(sums: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for sum in sums {
        h.update(sum);
    }
    h.finalize().to_vec()
}

/// A saved snapshot's chunks against the row that marked it complete: its chunk count
/// when `chunks` (part number and checksum, in order) are all there and their checksums
/// add up to `sum`, else why it cannot be used.
pub fn snapshot_intact(count: u32, sum: &[u8], chunks: &[(u32, Vec<u8>)]) -> Result<u32, String> {
    let in_order = chunks.iter().zip(0u32..).all(|((part, _), i)| *part == i);
    if !in_order || chunks.len() != count as usize {
        return Err(format!(
            "it should have {count} chunks, {} are stored",
            chunks.len()
        ));
    }
    if snapshot_checksum(chunks.iter().map(|(_, s)| s.as_slice())) != sum {
        return Err("its chunk checksums do not match".into());
    }
    Ok(count)
}

/// One entry set aside, as it was numbered in the journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetAside {
    /// Its position in the journal it was moved out of.
    pub seq: u64,
    /// Its bytes as they were (empty if none were kept).
    pub data: Vec<u8>,
    /// Whether its checksum holds: the damaged entry that started a set-aside does not.
    pub sound: bool,
    /// When it was set aside: the entries of one set-aside share it.
    pub at: i64,
}

/// Snapshots kept: the newest, and one to fall back to.
pub const SNAPSHOTS_KEPT: usize = 2;

/// SHA-256 of `data`: the checksum kept beside entries and snapshots.
pub fn checksum(data: &[u8]) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    Sha256::digest(data).to_vec()
}

/// Most entries one `read` returns, whatever the guest asks for.
pub const MAX_READ_BATCH: u32 = 4096;
/// Most bytes of entries one `read` returns, past its first entry (which comes whatever
/// its size): a read of 256 entries of 3.6 MB each (knowledge ingests) moved 920 MB into
/// the core at once; the core reads on where it needs the rest.
pub const MAX_READ_BYTES: usize = 4 * 1024 * 1024;

/// Whether a read holding `bytes` of entries so far takes no more (see
/// [`MAX_READ_BYTES`]).
pub fn read_full(bytes: usize) -> bool {
    bytes >= MAX_READ_BYTES
}

/// Checks that `j` (empty) bounds a read's bytes as [`MAX_READ_BYTES`] says: entries of
/// a quarter of the bound come four to a read, and one entry larger than the bound
/// comes alone.
#[cfg(test)]
pub(crate) fn check_read_bytes(j: &mut dyn JournalBackend) {
    let quarter = vec![b'x'; MAX_READ_BYTES / 4];
    for head in 0..8u64 {
        assert_eq!(j.append(head, &quarter, false), Ok(head + 1));
    }
    assert_eq!(j.append(8, &vec![b'y'; MAX_READ_BYTES + 1], true), Ok(9));
    let seqs = |from: u64, j: &mut dyn JournalBackend| -> Vec<u64> {
        j.read(from, 100)
            .map(|r| r.into_iter().map(|(seq, _)| seq).collect())
            .unwrap_or_default()
    };
    assert_eq!(seqs(1, j), vec![1, 2, 3, 4]);
    assert_eq!(seqs(5, j), vec![5, 6, 7, 8]);
    assert_eq!(seqs(8, j), vec![8, 9]);
    assert_eq!(seqs(9, j), vec![9]);
}
/// Largest entry a backend accepts, in bytes.
pub const MAX_ENTRY_BYTES: usize = 64 * 1024 * 1024;

/// Checks an entry's size before it is written.
pub fn check_entry(data: &[u8]) -> Result<(), JournalError> {
    if data.len() > MAX_ENTRY_BYTES {
        return Err(JournalError::Unavailable(format!(
            "entry of {} bytes exceeds the {MAX_ENTRY_BYTES}-byte limit",
            data.len()
        )));
    }
    Ok(())
}

/// The refusal of a packed read-audit entry that is not one well-formed entry.
pub(crate) fn malformed_read() -> JournalError {
    JournalError::Unavailable("malformed read-audit entry".into())
}
