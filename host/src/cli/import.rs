//! `maas import`: an export replayed in memory first (a history this version cannot read
//! is refused before anything is written), then written to the data directory in one
//! transaction, then saved as a snapshot so the next start reads no journal. The core
//! that replayed the history in memory is the one that saves the snapshot: once the
//! entries are written, its journal is switched to the data directory's, so the history
//! is replayed once, not twice.

use super::CliError;
use crate::bindings::admin;
use crate::journal::{JournalBackend, JournalError, MemoryJournal};
use crate::progress::Progress;
use crate::render::{Rendered, fields};
use crate::{CoreImage, Runtime, RuntimeOptions, types};
use maas_core::journal::AuditScan;
use maas_core::state::AuditEntry;
use serde_json::json;
use std::sync::{Arc, Mutex, MutexGuard};

/// A journal whose backend can be replaced under a running core, counting the entries
/// the core reads (replay progress).
#[derive(Clone)]
struct Switch {
    inner: Arc<Mutex<Box<dyn JournalBackend>>>,
    progress: Arc<Mutex<Option<Progress>>>,
}

impl Switch {
    fn lock(&self) -> Result<MutexGuard<'_, Box<dyn JournalBackend>>, JournalError> {
        self.inner
            .lock()
            .map_err(|_| JournalError::Unavailable("journal lock poisoned".into()))
    }

    fn replace(&self, journal: Box<dyn JournalBackend>) -> Result<(), JournalError> {
        *self.lock()? = journal;
        Ok(())
    }

    fn set_progress(&self, progress: Option<Progress>) {
        if let Ok(mut p) = self.progress.lock() {
            *p = progress;
        }
    }
}

impl JournalBackend for Switch {
    fn head(&mut self) -> Result<u64, JournalError> {
        self.lock()?.head()
    }
    fn read(&mut self, from: u64, max: u32) -> Result<Vec<(u64, Vec<u8>)>, JournalError> {
        let rows = self.lock()?.read(from, max)?;
        if let Ok(p) = self.progress.lock()
            && let Some(p) = p.as_ref()
        {
            p.add(rows.len() as u64);
        }
        Ok(rows)
    }
    fn append(&mut self, expected_head: u64, data: &[u8], sync: bool) -> Result<u64, JournalError> {
        self.lock()?.append(expected_head, data, sync)
    }
    fn audit_append(&mut self, entry: &AuditEntry) -> Result<(), JournalError> {
        self.lock()?.audit_append(entry)
    }
    fn audit_append_owned(&mut self, entry: AuditEntry) -> Result<(), JournalError> {
        self.lock()?.audit_append_owned(entry)
    }
    fn audit_append_packed(&mut self, packed: Vec<u8>) -> Result<(), JournalError> {
        self.lock()?.audit_append_packed(packed)
    }
    fn flush_reads(&mut self) -> Result<(), JournalError> {
        self.lock()?.flush_reads()
    }
    fn reads_due_in(&self) -> Option<std::time::Duration> {
        self.inner.lock().ok().and_then(|j| j.reads_due_in())
    }
    fn audit_scan(&mut self, scan: &AuditScan) -> Result<Vec<AuditEntry>, JournalError> {
        self.lock()?.audit_scan(scan)
    }
    fn begin_snapshot(&mut self, seq: u64) -> Result<bool, JournalError> {
        self.lock()?.begin_snapshot(seq)
    }
    fn snapshot_chunk(&mut self, data: &[u8]) -> Result<(), JournalError> {
        self.lock()?.snapshot_chunk(data)
    }
    fn finish_snapshot(&mut self) -> Result<(), JournalError> {
        self.lock()?.finish_snapshot()
    }
    fn abort_snapshot(&mut self) -> Result<(), JournalError> {
        self.lock()?.abort_snapshot()
    }
    fn snapshots(&mut self) -> Result<Vec<u64>, JournalError> {
        self.lock()?.snapshots()
    }
    fn unfinished_snapshot_after(&mut self, seq: u64) -> Result<Option<u64>, JournalError> {
        self.lock()?.unfinished_snapshot_after(seq)
    }
    fn snapshot_parts(&mut self, seq: u64) -> Result<Option<u32>, JournalError> {
        self.lock()?.snapshot_parts(seq)
    }
    fn load_snapshot_chunk(
        &mut self,
        seq: u64,
        part: u32,
    ) -> Result<Option<Vec<u8>>, JournalError> {
        self.lock()?.load_snapshot_chunk(seq, part)
    }
    fn recover_tail(&mut self, seq: u64) -> Result<(), JournalError> {
        self.lock()?.recover_tail(seq)
    }
    fn set_group_commit(&mut self, on: bool) {
        if let Ok(mut j) = self.lock() {
            j.set_group_commit(on);
        }
    }
    fn acknowledge_rewrite(&mut self) {
        if let Ok(mut j) = self.inner.lock() {
            j.acknowledge_rewrite();
        }
    }
    fn away(&self) -> bool {
        self.inner.lock().map(|j| j.away()).unwrap_or(false)
    }
    fn needs_sync(&self) -> bool {
        self.inner.lock().map(|j| j.needs_sync()).unwrap_or(false)
    }
    fn sync(&mut self) -> Result<(), JournalError> {
        self.lock()?.sync()
    }
    fn take_notices(&mut self) -> Vec<String> {
        self.lock()
            .map(|mut j| j.take_notices())
            .unwrap_or_default()
    }
}

/// How an import runs.
#[derive(Clone)]
pub struct ImportOptions {
    /// Core limits.
    pub limits: admin::Limits,
    /// Snapshot chunk size (see [`RuntimeOptions::snapshot_chunk_bytes`]).
    pub snapshot_chunk_bytes: u32,
    /// Show progress on standard error (when it is a terminal).
    pub progress: bool,
    /// Where to save a state image once the snapshot is saved, for a history of at least
    /// this many entries (see [`crate::Runtime::save_image`]).
    pub image: Option<(std::path::PathBuf, u64)>,
}

fn journal_err(e: JournalError) -> CliError {
    CliError::io(format!("journal: {e}"), "check the data directory")
}

/// Replays `entries` in memory, then has `write` store them (it returns the journal they
/// are in, e.g. the data directory's after checking it is empty), then saves a snapshot
/// there. Once the entries are written, a later failure never reads as "nothing was
/// changed": a snapshot that cannot be saved is reported in the result (the import
/// stands; the next start replays the journal), and any other failure names the entries
/// written.
pub fn import_entries(
    entries: Vec<Vec<u8>>,
    options: &ImportOptions,
    write: impl FnOnce(&[Vec<u8>]) -> Result<Box<dyn JournalBackend>, CliError>,
) -> Result<Rendered, CliError> {
    let total = entries.len() as u64;
    let shown = options.progress;
    // The history is replayed from memory, then moved (not copied) to the data directory.
    let memory = MemoryJournal::from_entries(entries).map_err(journal_err)?;
    let switch = Switch {
        inner: Arc::new(Mutex::new(Box::new(memory.clone()))),
        progress: Arc::new(Mutex::new(Some(Progress::items(
            shown,
            "replaying",
            total,
            "entries",
        )))),
    };
    let runtime_options = RuntimeOptions {
        limits: options.limits,
        snapshot_every: 0,
        snapshot_chunk_bytes: options.snapshot_chunk_bytes,
        progress: shown,
        ..RuntimeOptions::default()
    };
    let mut rt = Runtime::new(
        CoreImage::shared()?,
        Box::new(switch.clone()),
        runtime_options,
    )
    .map_err(|e| {
        CliError::from(e).with_hint("the export holds an entry this version of maas cannot read")
    })?;
    switch.set_progress(None);
    let writing = Progress::step(shown, &format!("writing {total} entries"));
    let entries = memory.take_entries();
    let journal = write(&entries)?;
    writing.done();
    drop(entries);
    let written = |what: &str, e: &dyn std::fmt::Display| {
        CliError::io(
            format!("imported {total} entries, but {what}: {e}"),
            "the data directory holds the whole history; `maas digest` checks it",
        )
    };
    switch
        .replace(journal)
        .map_err(|e| written("the data directory's journal could not be used", &e))?;
    let digest = rt
        .call(|c, s| {
            c.maas_core_admin()
                .call_state_digest(s, &types::Caller::Operator)
        })
        .map_err(|e| written("the digest could not be computed", &e))?;
    let (snapshot_json, snapshot_text) = match rt.snapshot() {
        Ok(seq) => (
            json!({"saved": true, "seq": seq, "bytes": rt.snapshot_bytes()}),
            format!("saved as of entry {seq}"),
        ),
        Err(e) => {
            let why = format!(
                "imported {total} entries; the snapshot could not be saved: {e}; the next \
                 start replays the journal"
            );
            eprintln!("maas: {why}");
            (
                json!({"saved": false, "error": why}),
                format!("not saved ({e}); the next start replays the journal"),
            )
        }
    };
    let mut answer = json!({"status": "imported", "entries": total, "digest": digest, "snapshot": snapshot_json});
    let mut text = vec![
        ("imported", format!("{total} entries")),
        ("digest", digest),
        ("snapshot", snapshot_text),
    ];
    if let Some((path, _)) = options.image.as_ref().filter(|(_, after)| total >= *after) {
        let (image_json, image_text) = match rt.save_image(path) {
            Ok((seq, bytes)) => (
                json!({"saved": true, "seq": seq, "bytes": bytes}),
                format!("saved as of entry {seq} ({} MiB)", bytes >> 20),
            ),
            Err(e) => {
                let why = format!(
                    "imported {total} entries; the state image could not be saved: {e}; the \
                     next start reads the snapshot"
                );
                eprintln!("maas: {why}");
                (
                    json!({"saved": false, "error": why}),
                    format!("not saved ({e}); the next start reads the snapshot"),
                )
            }
        };
        if let Some(fields) = answer.as_object_mut() {
            fields.insert("image".into(), image_json);
        }
        text.push(("state image", image_text));
    }
    Ok(Rendered::new(answer, fields(&text)))
}
