//! Snapshots saved beside the core that serves calls: a second instance of the core, on a
//! thread of its own, started from the newest snapshot and the journal after it through a
//! connection of its own, saves the snapshot due, so the serving core does not stop while
//! one is encoded. A save that fails beside (a damaged journal entry, the thread gone) is
//! saved by the serving core itself, as it would have without a thread.
//!
//! Encoding a large state takes seconds (a million memories: a 252 MiB snapshot, about 2
//! s); saved by the serving core, every caller would wait that long each time a snapshot
//! fell due. The second instance starts, each time a snapshot falls due, from the newest
//! snapshot and the journal after it (its search indexes are never built: it never
//! searches), saves, and is dropped: kept, it would hold a second copy of the state
//! between saves, which at a million entries come 100,000 entries apart, for the second
//! of restoring it saves. Replay is exact, so its state at a position is the serving
//! core's at that position, and a snapshot it saves is the one the serving core would
//! have saved.
//!
//! What it reads is what the journal committed: a batch of the serving core not yet
//! committed is not in the snapshot (the snapshot is at the position before it), and a
//! snapshot's own durable commit comes after the entries it covers in the same log.

use super::{Runtime, RuntimeOptions};
use crate::CoreImage;
use crate::bindings::types;
use crate::journal::JournalBackend;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, TryRecvError, channel};
use std::thread::JoinHandle;

/// Why a save beside was dropped.
pub(super) const STOPPING: &str = "the snapshot was dropped: the server is stopping";

/// The error of a start or a save told to stop (see `RuntimeOptions::cancel`).
pub(super) fn stopping() -> types::Error {
    types::Error::Unavailable(STOPPING.into())
}

/// Opens another connection to the journal the serving core uses (for the instance that
/// saves snapshots beside it).
pub type JournalOpener =
    Arc<dyn Fn() -> Result<Box<dyn JournalBackend>, String> + Send + Sync + 'static>;

/// What a save beside came to.
#[derive(Debug)]
pub(super) enum Outcome {
    /// Saved: its position and size in bytes.
    Saved(u64, u64),
    /// Not saved: another process's save as of this position, after the snapshot the
    /// second core started from, has chunks stored and is not complete yet (it is left
    /// to finish).
    Another(u64),
}

/// A save beside, or why it failed.
pub(super) type Saved = Result<Outcome, types::Error>;

/// What the thread answers a request: the save, and what the second core noticed
/// (already printed on standard error).
pub(super) struct Answer {
    pub(super) saved: Saved,
    pub(super) notices: Vec<String>,
}

/// The thread saving snapshots beside the serving core.
pub(super) struct Beside {
    /// A request to save one (closed: the thread ends), with the position of another
    /// process's unfinished save already left to finish once (saved past now).
    save: Option<Sender<Option<u64>>>,
    saved: Receiver<Answer>,
    /// Tells a save in progress to stop at its next chunk.
    cancel: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    /// A save was asked for and has not answered yet.
    busy: bool,
}

impl Beside {
    /// Starts the thread; each save asked of it starts an instance of its own.
    pub(super) fn start(
        image: Arc<CoreImage>,
        open: JournalOpener,
        options: RuntimeOptions,
    ) -> Result<Self, String> {
        let (save, requests) = channel::<Option<u64>>();
        let (answers, saved) = channel::<Answer>();
        let cancel = Arc::new(AtomicBool::new(false));
        let stop = cancel.clone();
        let options = RuntimeOptions {
            // The instance saves snapshots and nothing else: no state image, no tokens,
            // no progress on the terminal, each snapshot durable on its own; and it never
            // repairs the journal: a damaged entry after the newest snapshot is one the
            // serving core applied, and set aside here it would take acknowledged
            // changes with it. Its save fails, and the serving core saves that snapshot
            // from what it holds, so no start reads the damaged entry again.
            snapshots_beside: None,
            repairs_journal: false,
            image: None,
            known_tokens: None,
            ingest_manifests: None,
            progress: false,
            group_commit: false,
            // A stop ends its start (restore, replay) or its save at the next step.
            cancel: Some(cancel.clone()),
            ..options
        };
        let thread = std::thread::Builder::new()
            .name("maas-snapshots".into())
            .spawn(move || follow(&image, &open, &options, &requests, &answers, &stop))
            .map_err(|e| format!("cannot start the snapshot thread: {e}"))?;
        Ok(Beside {
            save: Some(save),
            saved,
            cancel,
            thread: Some(thread),
            busy: false,
        })
    }

    /// Asks for a snapshot of the journal as it is now (saving past another process's
    /// unfinished save as of `passed`); false when one is still being saved (or the
    /// thread is gone), and nothing is asked.
    pub(super) fn ask(&mut self, passed: Option<u64>) -> bool {
        if self.busy {
            return false;
        }
        let asked = self.save.as_ref().is_some_and(|s| s.send(passed).is_ok());
        self.busy = asked;
        asked
    }

    /// A save was asked for and its answer not taken yet.
    pub(super) fn busy(&self) -> bool {
        self.busy
    }

    /// The answer of the save asked for, once it came.
    pub(super) fn answer(&mut self) -> Option<Answer> {
        match self.saved.try_recv() {
            Ok(answer) => {
                self.busy = false;
                Some(answer)
            }
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Disconnected) => {
                let was = std::mem::take(&mut self.busy);
                was.then(|| Answer {
                    saved: Err(types::Error::Unavailable(
                        "the snapshot thread ended".into(),
                    )),
                    notices: Vec::new(),
                })
            }
        }
    }

    /// The thread is gone (it failed): a new one must be started for the next save.
    pub(super) fn ended(&self) -> bool {
        self.thread.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Tells the thread to stop: a save in progress is dropped at its next step (nothing
    /// of it counts); no other is asked for. [`Beside::join`] waits for it.
    pub(super) fn cancel(&mut self) {
        self.cancel.store(true, Ordering::Release);
        self.save = None;
    }

    /// Cancels and waits for the thread. The caller must hold no write lock the thread
    /// may be waiting for (an open group-commit batch).
    pub(super) fn join(&mut self) {
        self.cancel();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Dropped without [`Beside::join`], the thread is told to stop and left to end on its
/// own (it may be waiting for a write lock its owner holds until it is dropped too).
impl Drop for Beside {
    fn drop(&mut self) {
        self.cancel();
    }
}

/// The thread: one save per request, each from an instance of its own, dropped once it
/// has saved.
fn follow(
    image: &Arc<CoreImage>,
    open: &JournalOpener,
    options: &RuntimeOptions,
    requests: &Receiver<Option<u64>>,
    answers: &Sender<Answer>,
    cancel: &Arc<AtomicBool>,
) {
    while let Ok(passed) = requests.recv() {
        if cancel.load(Ordering::Acquire) {
            break;
        }
        let mut notices = Vec::new();
        let mut saved = save(image, open, options, passed, &mut notices);
        // Another process set entries aside under it (`maas` repairing the journal):
        // a start from the journal as it is now saves the snapshot due.
        if let Err(types::Error::Unavailable(why)) = &saved
            && why.starts_with(maas_core::engine::JOURNAL_REWRITTEN)
            && !cancel.load(Ordering::Acquire)
        {
            saved = save(image, open, options, passed, &mut notices);
        }
        if answers.send(Answer { saved, notices }).is_err() {
            break;
        }
    }
}

fn save(
    image: &Arc<CoreImage>,
    open: &JournalOpener,
    options: &RuntimeOptions,
    passed: Option<u64>,
    notices: &mut Vec<String>,
) -> Saved {
    let journal = open().map_err(types::Error::Unavailable)?;
    // Told to stop while it starts, it stops at the restore's next chunk or the replay's
    // next read; told just after, no save begins.
    let mut rt = Runtime::new(image.clone(), journal, options.clone())?;
    // Another process (a server on the same data directory, a PostgreSQL host) began one
    // while this core started: it covers as much, so it is left to finish.
    let saved = match rt.another_save_under_way(passed) {
        _ if rt.store.data().cancelled() => Err(stopping()),
        Some(other) => Ok(Outcome::Another(other)),
        None => rt
            .snapshot()
            .map(|seq| Outcome::Saved(seq, rt.snapshot_bytes())),
    };
    notices.append(&mut rt.notices);
    saved
}
