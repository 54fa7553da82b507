//! A read-only view of a journal up to one entry, with no snapshots: what a core replays
//! from the first entry reads (`maas audit verify --replay`), page by page, so the replay
//! holds the state and one page, not the whole journal.

use super::{JournalBackend, JournalError};
use maas_core::journal::AuditScan;
use maas_core::state::AuditEntry;

/// The entries of `inner` up to `head`, read as they are asked for; no snapshot, and
/// nothing written (the replay's own reads leave no audit rows).
pub struct ReplayOnly {
    inner: Box<dyn JournalBackend>,
    head: u64,
}

impl ReplayOnly {
    /// A view of `inner` up to entry `head`.
    pub fn new(inner: Box<dyn JournalBackend>, head: u64) -> Self {
        ReplayOnly { inner, head }
    }
}

fn read_only() -> JournalError {
    JournalError::Unavailable("a replay writes nothing".into())
}

impl JournalBackend for ReplayOnly {
    fn head(&mut self) -> Result<u64, JournalError> {
        Ok(self.head)
    }

    fn read(&mut self, from: u64, max: u32) -> Result<Vec<(u64, Vec<u8>)>, JournalError> {
        if from > self.head {
            return Ok(Vec::new());
        }
        let mut page = self.inner.read(from, max)?;
        page.retain(|(seq, _)| *seq <= self.head);
        Ok(page)
    }

    fn append(&mut self, _: u64, _: &[u8], _: bool) -> Result<u64, JournalError> {
        Err(read_only())
    }

    fn audit_append(&mut self, _: &AuditEntry) -> Result<(), JournalError> {
        Ok(())
    }

    fn audit_scan(&mut self, _: &AuditScan) -> Result<Vec<AuditEntry>, JournalError> {
        Ok(Vec::new())
    }

    fn begin_snapshot(&mut self, _: u64) -> Result<bool, JournalError> {
        Ok(false)
    }

    fn snapshot_chunk(&mut self, _: &[u8]) -> Result<(), JournalError> {
        Err(read_only())
    }

    fn finish_snapshot(&mut self) -> Result<(), JournalError> {
        Err(read_only())
    }

    fn abort_snapshot(&mut self) -> Result<(), JournalError> {
        Ok(())
    }

    fn snapshots(&mut self) -> Result<Vec<u64>, JournalError> {
        Ok(Vec::new())
    }

    fn snapshot_parts(&mut self, _: u64) -> Result<Option<u32>, JournalError> {
        Ok(None)
    }

    fn load_snapshot_chunk(&mut self, _: u64, _: u32) -> Result<Option<Vec<u8>>, JournalError> {
        Ok(None)
    }
}
