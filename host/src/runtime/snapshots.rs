//! Saving and restoring snapshots, streamed chunk by chunk between the core and the
//! journal backend: neither the host nor the core ever holds a whole snapshot.
//!
//! A snapshot that cannot be saved harms nothing: the journal has every change, the save
//! is dropped, a notice says why, and the next attempt waits another interval (one that
//! failed beside is tried at once by the serving core). Only a trap (the instance is
//! gone) restarts the core.

use super::beside::{Answer, Beside, Outcome};
use super::{HostState, Runtime, RuntimeOptions, journal_failure, trap};
use crate::bindings::admin::Guest as Admin;
use crate::bindings::{Maas, types};
use crate::journal::{JournalBackend, JournalError, MemoryJournal};
use crate::progress::Progress;
use std::sync::mpsc::Receiver;
use wasmtime::Store;

/// Snapshot chunks read ahead of the core while it restores.
const READ_AHEAD: usize = 2;

/// Snapshots of more chunks than this show progress while they are restored.
const QUIET_PARTS: u32 = 2;
/// Saves show progress once they have written more chunks than this.
const QUIET_SAVED: u64 = 2;

/// A snapshot falls due after at least this share of the journal's length (see
/// [`Runtime::due_after`]).
const TAIL_SHARE: u64 = 10;

/// Why a snapshot was not restored.
enum NotRestored {
    /// The core refused it.
    Refused(types::Error),
    /// The backend found it damaged (its notice says how).
    Damaged,
}

/// The position of the newest complete snapshot `journal` lists (0: none).
fn newest_listed(journal: &mut dyn JournalBackend) -> Result<u64, JournalError> {
    Ok(journal.snapshots()?.into_iter().max().unwrap_or(0))
}

/// [`Runtime::due_after`] for a snapshot interval of `every`.
pub(super) fn due_after(every: u64, seq: u64) -> u64 {
    seq.saturating_add(interval(every, seq))
}

/// Entries between a snapshot at `seq` and the next, for an interval of `every`.
pub(super) fn interval(every: u64, seq: u64) -> u64 {
    every.max(seq / TAIL_SHARE)
}

impl Runtime {
    /// Saves a snapshot of the current state, streaming it from the core into the journal
    /// backend; returns its position. On failure nothing of it is kept, and the next
    /// automatic attempt waits another interval (see [`Runtime::due_after`]).
    pub fn snapshot(&mut self) -> Result<u64, types::Error> {
        let result = self.save_snapshot();
        self.next_snapshot = match &result {
            Ok(seq) => self.due_after(*seq),
            Err(_) => self.due_after(self.store.data().head.max(self.last_snapshot)),
        };
        result
    }

    /// The position at which the next snapshot falls due after one at `seq`:
    /// `snapshot_every` entries later, or a tenth of the journal's length when that is
    /// more, so the time saving snapshots takes stays a small share of the time taken by
    /// the changes they cover however large the state grows (a snapshot costs in
    /// proportion to the state, and a start replays at most a tenth of what a replay
    /// from nothing would).
    fn due_after(&self, seq: u64) -> u64 {
        due_after(self.options.snapshot_every, seq)
    }

    fn save_snapshot(&mut self) -> Result<u64, types::Error> {
        let seq =
            self.invoke(|core, store| core.maas_core_admin().call_snapshot_begin(store))??;
        let journal = &mut self.store.data_mut().journal;
        if !journal.begin_snapshot(seq).map_err(journal_failure)? {
            self.last_snapshot = seq;
            return Ok(seq);
        }
        if let Err(e) = self.stream_snapshot(seq) {
            if let Err(abort) = self.store.data_mut().journal.abort_snapshot() {
                self.notice(format!("could not drop an unfinished snapshot: {abort}"));
            }
            return Err(e);
        }
        let journal = &mut self.store.data_mut().journal;
        journal.finish_snapshot().map_err(journal_failure)?;
        for notice in journal.take_notices() {
            self.notice(notice);
        }
        self.last_snapshot = seq;
        Ok(seq)
    }

    fn stream_snapshot(&mut self, seq: u64) -> Result<(), types::Error> {
        let max = self.options.snapshot_chunk_bytes;
        let shown = self.options.progress;
        let what = format!("saving the snapshot as of entry {seq}");
        let mut progress: Option<Progress> = None;
        let (mut chunks, mut bytes) = (0u64, 0u64);
        loop {
            if self.store.data().cancelled() {
                return Err(super::beside::stopping());
            }
            let next =
                self.invoke(|core, store| core.maas_core_admin().call_snapshot_next(store, max))??;
            let Some(chunk) = next else { break };
            self.store
                .data_mut()
                .journal
                .snapshot_chunk(&chunk)
                .map_err(journal_failure)?;
            chunks += 1;
            bytes += chunk.len() as u64;
            if progress.is_none() && chunks > QUIET_SAVED {
                progress = Some(Progress::bytes_open(shown, &what));
            }
            if let Some(p) = &progress {
                p.set(bytes);
            }
        }
        self.snapshot_bytes = bytes;
        Ok(())
    }

    /// Saves a snapshot when one is due (see [`Runtime::due_after`]), or asks the thread
    /// beside for it; a failure is a notice, never an error.
    pub(super) fn snapshot_if_due(&mut self) {
        self.take_saved_beside();
        let every = self.options.snapshot_every;
        if every == 0 || self.store.data().head < self.next_snapshot {
            return;
        }
        // One asked for beside is still being saved; or one another process saved since
        // covers this stretch of the journal.
        if self.saving_beside()
            || (self.adopt_newer_snapshot() && self.store.data().head < self.next_snapshot)
        {
            return;
        }
        if self.options.snapshots_beside.is_some() {
            self.snapshot_beside();
            return;
        }
        if let Some(other) = self.another_save_under_way(self.left_to_finish) {
            self.leave_to_finish(other);
            return;
        }
        if let Err(e) = self.snapshot() {
            self.not_saved(&e);
        }
    }

    /// Takes the newest snapshot in the journal as this core's last when another process
    /// saved it since (a second server on the same data directory, another host on
    /// PostgreSQL: each would otherwise save one for the same stretch of the journal, and
    /// a save at a position whose snapshot is complete replaces that one). True when it
    /// did; false when there is none newer, or the journal cannot say.
    ///
    /// Only one saved since the start counts: one listed then was used by it, or found
    /// unusable (damaged, refused), and must be saved again rather than trusted.
    pub(super) fn adopt_newer_snapshot(&mut self) -> bool {
        let Ok(newest) = newest_listed(self.store.data_mut().journal.as_mut()) else {
            return false;
        };
        if newest <= self.last_snapshot.max(self.listed_at_start) {
            return false;
        }
        self.last_snapshot = newest;
        // Never sooner than already due (after a save asked for beside, or one that
        // failed).
        self.next_snapshot = self.due_after(newest).max(self.next_snapshot);
        true
    }

    /// At a start: the newest snapshot the journal lists, and an unfinished save after it
    /// (a process stopped midway, or one still saving: not waited for, since a process
    /// killed at every save would otherwise put each next start's save off in turn).
    pub(super) fn snapshots_at_start(store: &mut Store<HostState>) -> (u64, Option<u64>) {
        let journal = store.data_mut().journal.as_mut();
        let listed = newest_listed(journal).unwrap_or(0);
        let unfinished = journal.unfinished_snapshot_after(listed).unwrap_or(None);
        (listed, unfinished)
    }

    /// Another process's save after this core's last snapshot, with chunks stored and
    /// not complete, unless it is the one at `passed` (already left to finish once: it
    /// stopped midway, and a save goes past it).
    pub(super) fn another_save_under_way(&mut self, passed: Option<u64>) -> Option<u64> {
        let since = self.last_snapshot;
        match self
            .store
            .data_mut()
            .journal
            .unfinished_snapshot_after(since)
        {
            Ok(Some(other)) if Some(other) != passed => Some(other),
            _ => None,
        }
    }

    /// Leaves the snapshot due to another process's save as of `other`, still under way:
    /// the next falls due an interval after it (taken as this core's own once complete,
    /// see [`Runtime::adopt_newer_snapshot`]; saved past if it is still unfinished then).
    fn leave_to_finish(&mut self, other: u64) {
        self.left_to_finish = Some(other);
        self.next_snapshot = self.due_after(other).max(self.next_snapshot);
    }

    fn not_saved(&mut self, e: &types::Error) {
        self.notice(format!(
            "could not save a snapshot: {}; the journal has every change, the next \
             attempt is after entry {}",
            e.message(),
            self.next_snapshot
        ));
    }

    /// Asks for a snapshot of the journal as it is now, saved beside this core (see
    /// [`RuntimeOptions::snapshots_beside`]) while calls go on; [`Runtime::last_snapshot`]
    /// moves once it is saved, seen at the next call. False when there is no journal
    /// beside, or one is still being saved (nothing more is asked then).
    pub fn snapshot_beside(&mut self) -> bool {
        self.take_saved_beside();
        let head = self.store.data().head;
        if self.beside.as_ref().is_some_and(Beside::ended) {
            // It failed (its failure was a notice): a new one saves this snapshot.
            self.beside = None;
        }
        if self.beside.is_none() {
            let Some(open) = self.options.snapshots_beside.clone() else {
                return false;
            };
            match Beside::start(self.image.clone(), open, self.options.clone()) {
                Ok(beside) => self.beside = Some(beside),
                Err(why) => {
                    self.next_snapshot = self.due_after(head);
                    self.not_saved(&types::Error::Unavailable(why));
                    return false;
                }
            }
        }
        let passed = self.left_to_finish;
        let asked = self.beside.as_mut().is_some_and(|b| b.ask(passed));
        if asked {
            // Until it answers, no other is asked for.
            self.next_snapshot = self.due_after(head);
        }
        asked
    }

    /// A snapshot asked of the thread beside has not been taken in yet.
    pub fn saving_beside(&self) -> bool {
        self.beside.as_ref().is_some_and(Beside::busy)
    }

    /// Takes in what the thread beside answered: the snapshot it saved, or why not.
    pub(super) fn take_saved_beside(&mut self) {
        let Some(answer) = self.beside.as_mut().and_then(Beside::answer) else {
            return;
        };
        // Printed by the second core already.
        self.keep_notices(answer.notices);
        match answer.saved {
            Ok(Outcome::Saved(seq, bytes)) => self.saved_beside(seq, bytes),
            Ok(Outcome::Another(other)) => self.leave_to_finish(other),
            Err(e) => {
                // This core saves it now (a damaged journal entry, which a start would
                // set aside with what follows it, is then behind a snapshot and never
                // read again).
                self.notice(format!(
                    "could not save a snapshot beside the core: {}; the core saves it itself",
                    e.message()
                ));
                if let Err(e) = self.snapshot() {
                    self.not_saved(&e);
                }
            }
        }
    }

    fn saved_beside(&mut self, seq: u64, bytes: u64) {
        self.last_snapshot = self.last_snapshot.max(seq);
        self.snapshot_bytes = bytes;
        self.next_snapshot = self.due_after(seq).max(self.next_snapshot);
    }

    /// Stops the thread beside and waits for it, taking in a snapshot it finished; one
    /// it was saving is dropped (the caller saves its own when it must). With a
    /// group-commit batch open, whose write lock the thread may be waiting for, it is
    /// only told to stop.
    pub(super) fn stop_beside(&mut self) {
        let Some(mut beside) = self.beside.take() else {
            return;
        };
        if self.store.data().journal.needs_sync() {
            beside.cancel();
            return;
        }
        beside.join();
        if let Some(Answer {
            saved: Ok(Outcome::Saved(seq, bytes)),
            notices,
        }) = beside.answer()
        {
            self.keep_notices(notices);
            self.saved_beside(seq, bytes);
        }
    }

    /// Prints a notice on standard error and keeps it for [`Runtime::notices`].
    pub(super) fn notice(&mut self, notice: String) {
        eprintln!("maas: {notice}");
        self.keep_notices([notice]);
    }

    /// Keeps notices already printed, dropping the oldest past [`super::NOTICES_KEPT`].
    pub(super) fn keep_notices(&mut self, notices: impl IntoIterator<Item = String>) {
        self.notices.extend(notices);
        let over = self.notices.len().saturating_sub(super::NOTICES_KEPT);
        self.notices.drain(..over);
    }

    /// Restores the newest snapshot the journal has and the core accepts; returns its
    /// position (0: none, the core replays from the start).
    pub(super) fn restore(
        core: &Maas,
        store: &mut Store<HostState>,
        (head, upto): (u64, u64),
        options: &RuntimeOptions,
        notices: &mut Vec<String>,
    ) -> Result<u64, types::Error> {
        let seqs = store
            .data_mut()
            .journal
            .snapshots()
            .map_err(journal_failure)?;
        for seq in seqs {
            if seq > head {
                notices.push(format!(
                    "the snapshot as of entry {seq} is ahead of the journal (head {head}); \
                     not used"
                ));
                continue;
            }
            if seq > upto {
                continue;
            }
            let journal = &mut store.data_mut().journal;
            let parts = journal.snapshot_parts(seq).map_err(journal_failure)?;
            notices.extend(journal.take_notices());
            let Some(parts) = parts else { continue };
            match Self::restore_one(core, store, seq, parts, options)? {
                Ok(()) => return Ok(seq),
                Err(NotRestored::Refused(e)) => notices.push(format!(
                    "the snapshot as of entry {seq} was refused ({}); trying an older one",
                    e.message()
                )),
                Err(NotRestored::Damaged) => {
                    notices.extend(store.data_mut().journal.take_notices());
                }
            }
        }
        Ok(0)
    }

    /// Streams the snapshot as of `seq` from the journal into the core. Whatever is not
    /// restored leaves the core fresh (the next `restore-begin` or `init` discards it).
    fn restore_one(
        core: &Maas,
        store: &mut Store<HostState>,
        seq: u64,
        parts: u32,
        options: &RuntimeOptions,
    ) -> Result<Result<(), NotRestored>, types::Error> {
        let admin = core.maas_core_admin();
        if let Err(e) = admin.call_restore_begin(&mut *store, seq).map_err(trap)? {
            return Ok(Err(NotRestored::Refused(e)));
        }
        let progress = Progress::items(
            options.progress && parts > QUIET_PARTS,
            &format!("restoring the snapshot as of entry {seq}"),
            u64::from(parts),
            "chunks",
        );
        // The chunks are read and checked on a thread of their own, a few ahead of the
        // core decoding them, so reading overlaps decoding. The core does not use the
        // journal while it restores; the backend is lent to that thread meanwhile.
        let placeholder: Box<dyn JournalBackend> = Box::new(MemoryJournal::new());
        let journal = std::mem::replace(&mut store.data_mut().journal, placeholder);
        let (fed, journal) = std::thread::scope(|scope| {
            let (tx, rx) = std::sync::mpsc::sync_channel(READ_AHEAD);
            let reader = scope.spawn(move || {
                let mut journal = journal;
                for part in 0..parts {
                    let chunk = journal.load_snapshot_chunk(seq, part);
                    let last = !matches!(chunk, Ok(Some(_)));
                    if tx.send(chunk).is_err() || last {
                        break;
                    }
                }
                journal
            });
            let fed = Self::feed(admin, store, parts, &rx, &progress);
            // A reader still going stops at its next send.
            drop(rx);
            let journal = reader
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            (fed, journal)
        });
        store.data_mut().journal = journal;
        if let Err(not) = fed? {
            return Ok(Err(not));
        }
        progress.done();
        match admin.call_restore_finish(&mut *store).map_err(trap)? {
            Ok(_) => Ok(Ok(())),
            Err(e) => Ok(Err(NotRestored::Refused(e))),
        }
    }

    /// Hands the core the `parts` chunks the reader thread sends on `chunks`, in order.
    fn feed(
        admin: &Admin,
        store: &mut Store<HostState>,
        parts: u32,
        chunks: &Receiver<Result<Option<Vec<u8>>, JournalError>>,
        progress: &Progress,
    ) -> Result<Result<(), NotRestored>, types::Error> {
        for _ in 0..parts {
            if store.data().cancelled() {
                return Err(super::beside::stopping());
            }
            let chunk = match chunks.recv() {
                Ok(Ok(Some(chunk))) => chunk,
                Ok(Ok(None)) | Err(_) => return Ok(Err(NotRestored::Damaged)),
                Ok(Err(e)) => return Err(journal_failure(e)),
            };
            if let Err(e) = admin
                .call_restore_chunk(&mut *store, &chunk)
                .map_err(trap)?
            {
                return Ok(Err(NotRestored::Refused(e)));
            }
            progress.add(1);
        }
        Ok(Ok(()))
    }
}
