//! Snapshots: the whole state at one journal position, so a core can start from the
//! newest snapshot and the journal tail instead of the whole history.
//!
//! A snapshot holds what replay would have built: every object, the in-memory audit
//! window, and the position. It is a stream of records (format version 4: binary frames,
//! see [`wire`]): a header with the version and the position, one record per object (see
//! [`records`]), and an end record with the number of records. Versions 3 (the same
//! frames, documents without their line range) and 2 (the records as JSON lines) are
//! still read, so a data directory saved by an older maas starts from its snapshot;
//! snapshots saved from then on are version 4. It is written
//! and read in chunks of bounded size, so neither side ever holds it whole: export is a
//! cursor over the state
//! ([`export::Export`]), restore decodes chunk after chunk into a state of its own
//! ([`restore::Restore`]) that replaces the core's only once the end was read and checked.
//! The search indexes are derived from the memories and documents, so they are rebuilt
//! when a restore finishes rather than stored.

pub mod export;
pub mod records;
pub mod restore;
pub mod wire;

use crate::core::{Core, Stats};
use crate::engine::Env;
use crate::error::{Error, Result};
use crate::journal::Journal;
use export::Export;
use restore::Restore;

/// The current snapshot format version (binary frames). Version 1 (the whole state as
/// one JSON value) is refused; the host then replays the journal.
pub const SNAPSHOT_VERSION: u32 = 4;

/// The older binary format version still read: documents without their line range.
pub const BINARY_V3: u32 = 3;

/// The older format version still read: the records as JSON lines.
pub const JSON_VERSION: u32 = 2;

impl<J: Journal, E: Env> Core<J, E> {
    /// Catches up with the journal and starts an export of the state as of the position
    /// returned; [`Core::snapshot_next`] then yields its chunks. Starting again discards
    /// an export in progress. Errors: `unavailable` (the journal).
    pub fn snapshot_begin(&mut self) -> Result<u64> {
        self.export = None;
        self.engine.catch_up()?;
        let export = Export::new(&self.engine.state);
        let seq = export.seq();
        self.export = Some(export);
        Ok(seq)
    }

    /// The next chunk of the export, at most `max_bytes` long unless one record alone is
    /// longer; `None` when the export is complete (the export then ends). Errors:
    /// `conflict` (with the current position) when the state changed since
    /// [`Core::snapshot_begin`]: the export ends, start again; `invalid-input` on field
    /// `snapshot` when no export is in progress; `unavailable` when a record cannot be
    /// encoded.
    pub fn snapshot_next(&mut self, max_bytes: u32) -> Result<Option<Vec<u8>>> {
        let Some(export) = self.export.as_mut() else {
            return Err(Error::invalid(
                "snapshot",
                "no export in progress: call snapshot-begin first",
            ));
        };
        let max = usize::try_from(max_bytes).unwrap_or(usize::MAX);
        match export.next(&mut self.engine.state, max) {
            Ok(Some(chunk)) => Ok(Some(chunk)),
            other => {
                self.export = None;
                other
            }
        }
    }

    /// Starts restoring a snapshot as of `seq` into this fresh core (before
    /// [`Core::init`], which then applies the journal tail). Starting again discards a
    /// restore in progress. Errors: `invalid-input` on field `snapshot` when the core has
    /// already applied entries.
    pub fn restore_begin(&mut self, seq: u64) -> Result<()> {
        self.restore = None;
        if self.engine.state.seq != 0 {
            return Err(Error::invalid(
                "snapshot",
                format!(
                    "a snapshot restores only into a fresh core; this one is at entry {}",
                    self.engine.state.seq
                ),
            ));
        }
        // Every audit entry the snapshot holds is kept (it held no more than its window):
        // the host restores before `init` sets the configured window, which may be larger
        // than the default, and `init` trims to it.
        self.restore = Some(Restore::new(seq, usize::MAX));
        Ok(())
    }

    /// Reads the next chunk of the snapshot. Errors: `invalid-input` on field `snapshot`
    /// when no restore is in progress or the data does not decode, has an unknown format
    /// version or holds another position; the restore then ends and the core stays fresh.
    pub fn restore_chunk(&mut self, data: &[u8]) -> Result<()> {
        let Some(restore) = self.restore.as_mut() else {
            return Err(Error::invalid(
                "snapshot",
                "no restore in progress: call restore-begin first",
            ));
        };
        restore.chunk(data).inspect_err(|_| self.restore = None)
    }

    /// Checks that the snapshot was read whole, makes it the core's state (search and
    /// other derived indexes rebuilt) and returns the counts. Errors: `invalid-input` on
    /// field `snapshot` when no restore is in progress, or the snapshot is cut short or
    /// inconsistent; the core then stays fresh.
    pub fn restore_finish(&mut self) -> Result<Stats> {
        let Some(restore) = self.restore.take() else {
            return Err(Error::invalid(
                "snapshot",
                "no restore in progress: call restore-begin first",
            ));
        };
        if self.engine.state.seq != 0 {
            return Err(Error::invalid(
                "snapshot",
                "a snapshot restores only into a fresh core",
            ));
        }
        let mut state = restore.finish()?;
        state.audit_window = self.engine.state.audit_window;
        self.engine.state = state;
        Ok(self.counts())
    }
}

#[cfg(test)]
mod tests;
