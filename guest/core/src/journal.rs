//! The journal a core runs on, as a plain trait, and an in-memory implementation.

use crate::state::AuditEntry;

/// Why a journal refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JournalError {
    /// Another writer appended first; the current head.
    Conflict(u64),
    /// Storage failed; nothing was written.
    Unavailable(String),
}

/// An ordered log of opaque entries numbered from 1, with compare-and-append.
pub trait Journal {
    /// The sequence of the last entry, 0 when empty.
    fn head(&mut self) -> Result<u64, JournalError>;
    /// Up to `max` entries with `seq >= from`, in order.
    fn read(&mut self, from: u64, max: u32) -> Result<Vec<(u64, Vec<u8>)>, JournalError>;
    /// Appends `data` as entry `expected_head + 1` if the head is still `expected_head`.
    fn append(&mut self, expected_head: u64, data: &[u8], sync: bool) -> Result<u64, JournalError>;
    /// Appends a read's audit entry to the read-audit log beside the journal. The entry is
    /// handed over, so a journal that keeps or sends it on need not copy its text.
    fn audit_append(&mut self, entry: AuditEntry) -> Result<(), JournalError>;
    /// The newest `scan.limit` read-audit entries matching `scan`, oldest first.
    fn audit_scan(&mut self, scan: &AuditScan) -> Result<Vec<AuditEntry>, JournalError>;
}

/// Which read-audit entries [`Journal::audit_scan`] returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditScan {
    /// Only entries whose actor is exactly this.
    pub actor: Option<String>,
    /// Only entries whose actor or target is this agent.
    pub agent: Option<String>,
    /// Only this event type.
    pub event_type: Option<String>,
    /// Inclusive lower bound on `at`.
    pub since: Option<u64>,
    /// Exclusive upper bound on `at`.
    pub until: Option<u64>,
    /// Most entries returned.
    pub limit: u32,
}

impl AuditScan {
    /// True if `e` passes every filter (the limit aside).
    pub fn matches(&self, e: &AuditEntry) -> bool {
        let r = &e.record;
        self.actor.as_ref().is_none_or(|a| r.actor == *a)
            && self
                .agent
                .as_ref()
                .is_none_or(|a| r.actor == *a || r.target.as_ref() == Some(a))
            && self.event_type.as_ref().is_none_or(|t| r.event_type == *t)
            && self.since.is_none_or(|t| e.at >= t)
            && self.until.is_none_or(|t| e.at < t)
    }

    /// The newest `limit` entries of `log` (oldest first) that match, oldest first.
    pub fn newest<'a>(
        &self,
        log: impl DoubleEndedIterator<Item = &'a AuditEntry>,
    ) -> Vec<AuditEntry> {
        let mut out: Vec<AuditEntry> = log
            .rev()
            .filter(|e| self.matches(e))
            .take(self.limit as usize)
            .cloned()
            .collect();
        out.reverse();
        out
    }
}

/// A journal held in memory (tests, demos).
#[derive(Debug, Default, Clone)]
pub struct MemoryJournal {
    /// The entries; entry `seq` is at index `seq - 1`.
    pub entries: Vec<Vec<u8>>,
    /// The read-audit log.
    pub reads: Vec<AuditEntry>,
}

impl Journal for MemoryJournal {
    fn head(&mut self) -> Result<u64, JournalError> {
        Ok(self.entries.len() as u64)
    }

    fn read(&mut self, from: u64, max: u32) -> Result<Vec<(u64, Vec<u8>)>, JournalError> {
        let start = from.max(1);
        Ok((start..)
            .zip(self.entries.iter().skip((start - 1) as usize))
            .take(max as usize)
            .map(|(seq, data)| (seq, data.clone()))
            .collect())
    }

    fn append(
        &mut self,
        expected_head: u64,
        data: &[u8],
        _sync: bool,
    ) -> Result<u64, JournalError> {
        let head = self.entries.len() as u64;
        if head != expected_head {
            return Err(JournalError::Conflict(head));
        }
        self.entries.push(data.to_vec());
        Ok(head + 1)
    }

    fn audit_append(&mut self, entry: AuditEntry) -> Result<(), JournalError> {
        self.reads.push(entry);
        Ok(())
    }

    fn audit_scan(&mut self, scan: &AuditScan) -> Result<Vec<AuditEntry>, JournalError> {
        Ok(scan.newest(self.reads.iter()))
    }
}

impl<J: Journal + ?Sized> Journal for &mut J {
    fn head(&mut self) -> Result<u64, JournalError> {
        (**self).head()
    }
    fn read(&mut self, from: u64, max: u32) -> Result<Vec<(u64, Vec<u8>)>, JournalError> {
        (**self).read(from, max)
    }
    fn append(&mut self, expected_head: u64, data: &[u8], sync: bool) -> Result<u64, JournalError> {
        (**self).append(expected_head, data, sync)
    }
    fn audit_append(&mut self, entry: AuditEntry) -> Result<(), JournalError> {
        (**self).audit_append(entry)
    }
    fn audit_scan(&mut self, scan: &AuditScan) -> Result<Vec<AuditEntry>, JournalError> {
        (**self).audit_scan(scan)
    }
}
