//! The group-commit batch: the appends of one batch share one transaction, opened by the
//! first and committed by [`JournalBackend::sync`](crate::journal::JournalBackend::sync).
//! A statement that fails inside it may take the whole transaction with it (SQLite rolls
//! back on a full disk, an I/O error, an interrupt): the batch is then lost, and said to
//! be by the sync, so no answer of it is released as if its change were saved.

use super::{SqliteJournal, check_entry, checksum, head_of, to_i64, unavailable};
use crate::journal::JournalError;
use rusqlite::params;

impl SqliteJournal {
    /// Opens the batch transaction if none is open.
    pub(super) fn begin_batch(&mut self) -> Result<(), JournalError> {
        if let Some(why) = &self.batch_lost {
            return Err(batch_lost(why));
        }
        if !self.in_batch {
            self.set_sync(false)?;
            self.conn
                .execute_batch("BEGIN IMMEDIATE")
                .map_err(unavailable)?;
            self.in_batch = true;
            self.reads_before_batch = self.reads.len();
            self.batch_reads.clear();
        }
        Ok(())
    }

    /// `e`, from a statement of the batch transaction. When SQLite rolled the whole
    /// transaction back with it (on a full disk, an I/O error, an interrupt: the
    /// connection is back in autocommit), the batch is over and lost: what it appended is
    /// gone, and so are the read-audit rows of its calls, whose answers are never
    /// released (those buffered before it are buffered again, even if the batch had
    /// written them).
    pub(super) fn in_batch_failed(&mut self, e: JournalError) -> JournalError {
        if self.in_batch && self.conn.is_autocommit() {
            self.lose_batch(&e);
        }
        e
    }

    /// Ends the batch transaction as lost, rolling it back if SQLite has not (see
    /// [`SqliteJournal::in_batch_failed`]).
    pub(super) fn lose_batch(&mut self, e: &JournalError) {
        if !self.conn.is_autocommit() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
        self.in_batch = false;
        self.seen = None;
        // The rows written into the batch come first in buffering order, then those
        // still buffered: the first `reads_before_batch` are the reads from before it.
        let mut reads = std::mem::take(&mut self.batch_reads);
        reads.append(&mut self.reads);
        reads.truncate(self.reads_before_batch);
        self.reads = reads;
        self.reads_since = if self.reads.is_empty() {
            None
        } else {
            Some(self.reads_since.unwrap_or_else(std::time::Instant::now))
        };
        self.batch_lost = Some(e.to_string());
    }

    /// Writes the buffered read-audit entries and commits the batch transaction, if any.
    /// Nothing is synced here. A batch lost is refused until [`JournalBackend::sync`]
    /// reports it.
    pub(super) fn end_batch(&mut self) -> Result<(), JournalError> {
        self.seen = None;
        if let Some(why) = &self.batch_lost {
            return Err(batch_lost(why));
        }
        self.write_reads()?;
        if self.in_batch {
            if let Err(e) = self.conn.execute_batch("COMMIT") {
                // Rolled back whole: lost like a batch a statement failed in.
                let e = unavailable(e);
                self.lose_batch(&e);
                return Err(e);
            }
            self.in_batch = false;
            self.batch_reads.clear();
        }
        Ok(())
    }

    /// Compare-and-append of one entry inside the batch transaction.
    pub(super) fn append_in_batch(
        &mut self,
        expected_head: u64,
        data: &[u8],
    ) -> Result<u64, JournalError> {
        self.seen = None;
        check_entry(data)?;
        self.begin_batch()?;
        let head = head_of(&self.conn).map_err(|e| self.in_batch_failed(e))?;
        if head != expected_head {
            return Err(JournalError::Conflict(head));
        }
        let seq = expected_head + 1;
        self.conn
            .prepare_cached("INSERT INTO journal (seq, data, sum) VALUES (?1, ?2, ?3)")
            .and_then(|mut st| st.execute(params![to_i64(seq), data, checksum(data)]))
            .map_err(|e| self.in_batch_failed(unavailable(e)))?;
        self.needs_sync = true;
        Ok(seq)
    }
}

/// The refusal that reports a batch rolled back: none of its changes was saved.
pub(super) fn batch_lost(why: &str) -> JournalError {
    JournalError::Unavailable(format!(
        "the batch's transaction was rolled back ({why}); none of its changes was saved"
    ))
}
