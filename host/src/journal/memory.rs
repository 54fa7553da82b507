//! A journal in memory: for tests and demos. Clones share one log, so two cores can run
//! over the same history.

use super::{
    JournalBackend, JournalError, MAX_READ_BATCH, SNAPSHOTS_KEPT, Snapshot, check_entry,
    malformed_read,
};
use maas_core::journal::{AuditScan, PackedRead, pack_read, unpack_read};
use maas_core::state::AuditEntry;
use std::sync::{Arc, Mutex, MutexGuard};

#[derive(Debug, Default)]
struct Inner {
    entries: Vec<Vec<u8>>,
    /// Complete snapshots, newest last; at most [`SNAPSHOTS_KEPT`].
    snapshots: Vec<Snapshot>,
    /// The read-audit log, each entry packed as the core hands it over
    /// ([`maas_core::journal::pack_read`]): one allocation a read, decoded when scanned.
    reads: Vec<Vec<u8>>,
    /// The snapshot being saved.
    saving: Option<Snapshot>,
}

/// A shared in-memory journal.
#[derive(Debug, Default, Clone)]
pub struct MemoryJournal {
    inner: Arc<Mutex<Inner>>,
}

impl MemoryJournal {
    /// An empty journal.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> Result<MutexGuard<'_, Inner>, JournalError> {
        self.inner
            .lock()
            .map_err(|_| JournalError::Unavailable("memory journal lock poisoned".into()))
    }

    /// A journal holding `entries` (the first is entry 1), taken without a copy.
    /// Errors: `unavailable` when an entry is over the size limit.
    pub fn from_entries(entries: Vec<Vec<u8>>) -> Result<Self, JournalError> {
        entries.iter().try_for_each(|e| check_entry(e))?;
        Ok(MemoryJournal {
            inner: Arc::new(Mutex::new(Inner {
                entries,
                ..Inner::default()
            })),
        })
    }

    /// Takes every entry out, leaving the journal empty (for a caller that moves the
    /// history elsewhere once it was replayed).
    pub fn take_entries(&self) -> Vec<Vec<u8>> {
        self.lock()
            .map(|mut i| std::mem::take(&mut i.entries))
            .unwrap_or_default()
    }

    /// How many entries it holds.
    pub fn entries_len(&self) -> usize {
        self.lock().map(|i| i.entries.len()).unwrap_or(0)
    }

    /// How many entries the read-audit log holds.
    pub fn reads_len(&self) -> usize {
        self.lock().map(|i| i.reads.len()).unwrap_or(0)
    }

    /// A copy of every entry, in order (for tests and export).
    pub fn entries(&self) -> Vec<Vec<u8>> {
        self.lock().map(|i| i.entries.clone()).unwrap_or_default()
    }
}

impl JournalBackend for MemoryJournal {
    fn head(&mut self) -> Result<u64, JournalError> {
        Ok(self.lock()?.entries.len() as u64)
    }

    fn read(&mut self, from: u64, max: u32) -> Result<Vec<(u64, Vec<u8>)>, JournalError> {
        let inner = self.lock()?;
        let start = from.max(1);
        let skip = usize::try_from(start - 1).unwrap_or(usize::MAX);
        Ok((start..)
            .zip(inner.entries.iter().skip(skip))
            .take(max.min(MAX_READ_BATCH) as usize)
            .scan(0usize, |bytes, (seq, data)| {
                let full = super::read_full(*bytes);
                *bytes = bytes.saturating_add(data.len());
                (!full).then(|| (seq, data.clone()))
            })
            .collect())
    }

    fn append(
        &mut self,
        expected_head: u64,
        data: &[u8],
        _sync: bool,
    ) -> Result<u64, JournalError> {
        check_entry(data)?;
        let mut inner = self.lock()?;
        let head = inner.entries.len() as u64;
        if head != expected_head {
            return Err(JournalError::Conflict(head));
        }
        inner.entries.push(data.to_vec());
        Ok(head + 1)
    }

    fn audit_append(&mut self, entry: &AuditEntry) -> Result<(), JournalError> {
        let mut packed = Vec::new();
        pack_read(entry, &mut packed);
        self.lock()?.reads.push(packed);
        Ok(())
    }

    fn audit_append_packed(&mut self, packed: Vec<u8>) -> Result<(), JournalError> {
        PackedRead::parse(&packed).ok_or_else(malformed_read)?;
        self.lock()?.reads.push(packed);
        Ok(())
    }

    fn audit_scan(&mut self, scan: &AuditScan) -> Result<Vec<AuditEntry>, JournalError> {
        // Every entry was checked when appended.
        let reads = &self.lock()?.reads;
        Ok(scan.newest_of(
            reads
                .iter()
                .filter_map(|packed| unpack_read(packed))
                .map(std::borrow::Cow::Owned),
        ))
    }

    fn begin_snapshot(&mut self, seq: u64) -> Result<bool, JournalError> {
        let mut inner = self.lock()?;
        // A snapshot already saved at this position is replaced once the new one finishes.
        inner.saving = Some(Snapshot {
            seq,
            chunks: Vec::new(),
        });
        Ok(true)
    }

    fn snapshot_chunk(&mut self, data: &[u8]) -> Result<(), JournalError> {
        match self.lock()?.saving.as_mut() {
            Some(s) => {
                s.chunks.push(data.to_vec());
                Ok(())
            }
            None => Err(JournalError::Unavailable(
                "no snapshot is being saved".into(),
            )),
        }
    }

    fn finish_snapshot(&mut self) -> Result<(), JournalError> {
        let mut inner = self.lock()?;
        let Some(snapshot) = inner.saving.take() else {
            return Err(JournalError::Unavailable(
                "no snapshot is being saved".into(),
            ));
        };
        inner.snapshots.retain(|s| s.seq != snapshot.seq);
        inner.snapshots.push(snapshot);
        inner.snapshots.sort_by_key(|s| s.seq);
        let extra = inner.snapshots.len().saturating_sub(SNAPSHOTS_KEPT);
        inner.snapshots.drain(..extra);
        Ok(())
    }

    fn abort_snapshot(&mut self) -> Result<(), JournalError> {
        self.lock()?.saving = None;
        Ok(())
    }

    fn snapshots(&mut self) -> Result<Vec<u64>, JournalError> {
        Ok(self.lock()?.snapshots.iter().rev().map(|s| s.seq).collect())
    }

    fn snapshot_parts(&mut self, seq: u64) -> Result<Option<u32>, JournalError> {
        Ok(self
            .lock()?
            .snapshots
            .iter()
            .find(|s| s.seq == seq)
            .map(|s| u32::try_from(s.chunks.len()).unwrap_or(u32::MAX)))
    }

    fn load_snapshot_chunk(
        &mut self,
        seq: u64,
        part: u32,
    ) -> Result<Option<Vec<u8>>, JournalError> {
        Ok(self
            .lock()?
            .snapshots
            .iter()
            .find(|s| s.seq == seq)
            .and_then(|s| s.chunks.get(usize::try_from(part).ok()?))
            .cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_is_bounded_in_bytes() {
        crate::journal::check_read_bytes(&mut MemoryJournal::new());
    }

    #[test]
    fn append_is_compare_and_append() {
        let mut j = MemoryJournal::new();
        assert_eq!(j.append(0, b"a", true), Ok(1));
        assert_eq!(j.append(0, b"b", true), Err(JournalError::Conflict(1)));
        assert_eq!(j.append(1, b"b", false), Ok(2));
        assert_eq!(j.read(2, 10), Ok(vec![(2, b"b".to_vec())]));
        assert_eq!(j.read(0, 1), Ok(vec![(1, b"a".to_vec())]));
        assert_eq!(j.read(9, 10), Ok(vec![]));
    }

    fn read(i: u64, actor: &str) -> AuditEntry {
        AuditEntry {
            seq: i,
            at: 1_000 + i,
            record: maas_core::events::AuditRecord {
                actor: actor.into(),
                event_type: "agent.read".into(),
                target: i.is_multiple_of(2).then(|| format!("a{i}")),
                outcome: "ok".into(),
                detail: "{}".into(),
                prev: Some("00ff".into()),
                covers: None,
            },
        }
    }

    #[test]
    fn packed_and_whole_reads_are_scanned_alike_and_malformed_ones_refused() {
        let mut j = MemoryJournal::new();
        let mut expected = Vec::new();
        for i in 0..6 {
            let e = read(i, if i < 3 { "ann" } else { "bob" });
            if i.is_multiple_of(3) {
                assert_eq!(j.audit_append(&e), Ok(()));
            } else {
                let mut packed = Vec::new();
                pack_read(&e, &mut packed);
                assert_eq!(j.audit_append_packed(packed), Ok(()));
            }
            expected.push(e);
        }
        let mut packed = Vec::new();
        pack_read(&read(9, "eve"), &mut packed);
        packed.pop();
        assert_eq!(j.audit_append_packed(packed), Err(malformed_read()));
        assert_eq!(j.reads_len(), 6);
        let mut scan = AuditScan {
            actor: None,
            agent: None,
            event_type: None,
            since: None,
            until: None,
            limit: 100,
        };
        assert_eq!(j.audit_scan(&scan), Ok(expected.clone()));
        // The newest matching `limit`, oldest first.
        scan.actor = Some("ann".into());
        scan.limit = 2;
        assert_eq!(
            j.audit_scan(&scan),
            Ok(expected.get(1..3).unwrap_or_default().to_vec())
        );
    }
}
