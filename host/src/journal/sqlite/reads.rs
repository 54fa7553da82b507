//! The read-audit buffer: rows of reads are kept in memory and written many to one
//! transaction (with the next change, before a scan, when the buffer is full or its
//! oldest row is due, and on drop), so a read never costs a transaction or a sync.

use super::{SqliteJournal, audit_log, batch_lost, unavailable};
use crate::journal::JournalError;
use maas_core::state::AuditEntry;
use rusqlite::TransactionBehavior;
use std::time::{Duration, Instant};

/// Most read-audit entries buffered before they are written.
pub const MAX_BUFFERED_READS: usize = 4096;
/// Longest a read-audit entry stays buffered while reads or a server's idle wait go on.
pub const READ_FLUSH_INTERVAL: Duration = Duration::from_millis(50);

impl SqliteJournal {
    /// Writes the buffered read-audit entries: into the open batch transaction, or in one
    /// transaction of their own. Nothing is synced here.
    pub(super) fn write_reads(&mut self) -> Result<(), JournalError> {
        if self.reads.is_empty() {
            self.reads_since = None;
            return Ok(());
        }
        if self.in_batch {
            // Rows the batch holds are committed with it; if they cannot be written, the
            // batch is rolled back and lost, its changes with them.
            return match audit_log::insert(&self.conn, &self.reads) {
                Ok(()) => {
                    // Kept until the commit: a batch lost gives back the rows of reads
                    // from before it.
                    self.batch_reads.append(&mut self.reads);
                    self.reads_since = None;
                    Ok(())
                }
                Err(e) => {
                    self.lose_batch(&e);
                    Err(e)
                }
            };
        }
        let written = self.set_sync(false).and_then(|()| {
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(unavailable)?;
            audit_log::insert(&tx, &self.reads)?;
            tx.commit().map_err(unavailable)
        });
        match written {
            // Committed to the log, they survive the process being killed; they reach the
            // disk itself with the next sync of a change, and never cost a sync of their own.
            Ok(()) => {
                self.reads.clear();
                self.reads_since = None;
                Ok(())
            }
            // Nothing was written: kept, and tried again after another interval.
            Err(e) => {
                self.reads_since = Some(Instant::now());
                Err(e)
            }
        }
    }

    /// Buffers one read's audit entry, writing the buffer when it is full or due.
    pub(super) fn buffer_read(&mut self, entry: AuditEntry) -> Result<(), JournalError> {
        // Until the sync reports a batch lost, the core's state still holds its changes:
        // a read now would name entries the journal never got, and its answer is not
        // released anyway.
        if let Some(why) = &self.batch_lost {
            return Err(batch_lost(why));
        }
        self.reads.push(entry);
        let buffered = self.reads.len();
        let since = *self.reads_since.get_or_insert_with(Instant::now);
        if buffered >= MAX_BUFFERED_READS || since.elapsed() >= READ_FLUSH_INTERVAL {
            // A read whose entry cannot be kept fails, and leaves nothing behind; those
            // before it stay buffered (unless a batch they were of was lost).
            self.write_reads().inspect_err(|_| {
                if self.reads.len() == buffered {
                    self.reads.pop();
                }
            })?;
        }
        Ok(())
    }

    /// How long until the buffered entries are due; `None` when nothing is buffered.
    pub(super) fn reads_due(&self) -> Option<Duration> {
        self.reads_since
            .map(|since| READ_FLUSH_INTERVAL.saturating_sub(since.elapsed()))
    }
}

impl Drop for SqliteJournal {
    /// Writes the buffered read-audit entries, so a clean shutdown loses none. (An open
    /// batch of changes, whose answers were never released, is left to roll back.)
    fn drop(&mut self) {
        if !self.in_batch && !self.reads.is_empty() {
            let _ = self.write_reads();
        }
    }
}
