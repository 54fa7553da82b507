//! A journal that fails on demand (snapshot saves, or syncs), or reads slowly.
#![allow(dead_code)]

use maas_host::journal::{JournalBackend, JournalError};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// A journal whose snapshot saves fail while `fail` is set (counting the attempts), whose
/// snapshot chunks wait while `hold` is (a slow save), and whose syncs fail while
/// `fail_syncs` is (a full disk).
pub struct Failing<J> {
    inner: J,
    fail: Arc<AtomicBool>,
    attempts: Arc<AtomicU64>,
    fail_syncs: Arc<AtomicBool>,
    hold: Arc<AtomicBool>,
    /// Each journal read (one entry at most) and snapshot chunk loaded waits this long,
    /// counted here.
    slow: Option<(Duration, Arc<AtomicU64>)>,
}

impl<J> Failing<J> {
    /// Waits, once [`slow`] made it slow.
    fn pace(&self) {
        if let Some((delay, reads)) = &self.slow {
            reads.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(*delay);
        }
    }
}

impl<J: JournalBackend> JournalBackend for Failing<J> {
    fn head(&mut self) -> Result<u64, JournalError> {
        self.inner.head()
    }
    fn read(&mut self, from: u64, max: u32) -> Result<Vec<(u64, Vec<u8>)>, JournalError> {
        self.pace();
        let max = if self.slow.is_some() { 1 } else { max };
        self.inner.read(from, max)
    }
    fn append(&mut self, expected_head: u64, data: &[u8], sync: bool) -> Result<u64, JournalError> {
        self.inner.append(expected_head, data, sync)
    }
    fn audit_append(&mut self, entry: &maas_core::state::AuditEntry) -> Result<(), JournalError> {
        self.inner.audit_append(entry)
    }
    fn audit_scan(
        &mut self,
        scan: &maas_core::journal::AuditScan,
    ) -> Result<Vec<maas_core::state::AuditEntry>, JournalError> {
        self.inner.audit_scan(scan)
    }
    fn begin_snapshot(&mut self, seq: u64) -> Result<bool, JournalError> {
        self.attempts.fetch_add(1, Ordering::SeqCst);
        self.inner.begin_snapshot(seq)
    }
    fn snapshot_chunk(&mut self, data: &[u8]) -> Result<(), JournalError> {
        while self.hold.load(Ordering::SeqCst) {
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        if self.fail.load(Ordering::SeqCst) {
            return Err(JournalError::Unavailable("disk full".into()));
        }
        self.inner.snapshot_chunk(data)
    }
    fn finish_snapshot(&mut self) -> Result<(), JournalError> {
        self.inner.finish_snapshot()
    }
    fn abort_snapshot(&mut self) -> Result<(), JournalError> {
        self.inner.abort_snapshot()
    }
    fn snapshots(&mut self) -> Result<Vec<u64>, JournalError> {
        self.inner.snapshots()
    }
    fn unfinished_snapshot_after(&mut self, seq: u64) -> Result<Option<u64>, JournalError> {
        self.inner.unfinished_snapshot_after(seq)
    }
    fn snapshot_parts(&mut self, seq: u64) -> Result<Option<u32>, JournalError> {
        self.inner.snapshot_parts(seq)
    }
    fn load_snapshot_chunk(
        &mut self,
        seq: u64,
        part: u32,
    ) -> Result<Option<Vec<u8>>, JournalError> {
        self.pace();
        self.inner.load_snapshot_chunk(seq, part)
    }
    fn take_notices(&mut self) -> Vec<String> {
        self.inner.take_notices()
    }
    fn needs_sync(&self) -> bool {
        self.fail_syncs.load(Ordering::SeqCst) || self.inner.needs_sync()
    }
    fn sync(&mut self) -> Result<(), JournalError> {
        if self.fail_syncs.load(Ordering::SeqCst) {
            return Err(JournalError::Unavailable("database or disk is full".into()));
        }
        self.inner.sync()
    }
}

/// `inner`, failing nothing and waiting for nothing (the others start from it).
fn plain<J>(inner: J) -> Failing<J> {
    Failing {
        inner,
        fail: Arc::default(),
        attempts: Arc::default(),
        fail_syncs: Arc::default(),
        hold: Arc::default(),
        slow: None,
    }
}

/// `inner`, its snapshot saves failing until the flag returned is cleared.
pub fn failing<J>(inner: J) -> (Failing<J>, Arc<AtomicBool>, Arc<AtomicU64>) {
    let fail = Arc::new(AtomicBool::new(true));
    let attempts = Arc::new(AtomicU64::new(0));
    let journal = Failing {
        fail: fail.clone(),
        attempts: attempts.clone(),
        ..plain(inner)
    };
    (journal, fail, attempts)
}

/// `inner`, its syncs failing while the flag returned is set (clear at first).
pub fn failing_syncs<J>(inner: J) -> (Failing<J>, Arc<AtomicBool>) {
    let fail_syncs = Arc::new(AtomicBool::new(false));
    let journal = Failing {
        fail_syncs: fail_syncs.clone(),
        ..plain(inner)
    };
    (journal, fail_syncs)
}

/// `inner`, its snapshot chunks waiting while `hold` is set, its snapshot saves counted
/// in `attempts`.
pub fn held<J>(inner: J, hold: &Arc<AtomicBool>, attempts: &Arc<AtomicU64>) -> Failing<J> {
    Failing {
        attempts: attempts.clone(),
        hold: hold.clone(),
        ..plain(inner)
    }
}

/// `inner`, reading one entry at a time and each entry and snapshot chunk `delay` late,
/// counting them in `reads` (a start that takes a while).
pub fn slow<J>(inner: J, delay: Duration, reads: &Arc<AtomicU64>) -> Failing<J> {
    Failing {
        slow: Some((delay, reads.clone())),
        ..plain(inner)
    }
}
