//! Snapshots saved beside the core that serves calls: a second instance of the core, on a
//! thread of its own, follows the journal through a connection of its own and saves the
//! snapshot, so the serving core never stops for one.
//!
//! Encoding a large state takes seconds (a million memories: a 249 MiB snapshot, about 3
//! s); saved by the serving core, every caller would wait that long each time a snapshot
//! fell due. The second instance starts, when the first snapshot falls due, from the
//! newest snapshot and the journal after it (its search indexes are never built: it
//! never searches), and is kept for the next one, which then only applies the entries
//! since. Replay is exact, so its state at a position is the serving core's at that
//! position, and a snapshot it saves is the one the serving core would have saved.
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

/// Opens another connection to the journal the serving core uses (for the instance that
/// saves snapshots beside it).
pub type JournalOpener =
    Arc<dyn Fn() -> Result<Box<dyn JournalBackend>, String> + Send + Sync + 'static>;

/// A snapshot saved beside: its position and size in bytes.
pub(super) type Saved = Result<(u64, u64), types::Error>;

/// The thread saving snapshots beside the serving core.
pub(super) struct Beside {
    /// A request to save one (closed: the thread ends).
    save: Option<Sender<()>>,
    saved: Receiver<Saved>,
    /// Tells a save in progress to stop at its next chunk.
    cancel: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    /// A save was asked for and has not answered yet.
    busy: bool,
}

impl Beside {
    /// Starts the thread; its instance starts with the first save asked for.
    pub(super) fn start(
        image: Arc<CoreImage>,
        open: JournalOpener,
        options: RuntimeOptions,
    ) -> Result<Self, String> {
        let (save, requests) = channel::<()>();
        let (answers, saved) = channel::<Saved>();
        let cancel = Arc::new(AtomicBool::new(false));
        let stop = cancel.clone();
        let options = RuntimeOptions {
            // The instance saves snapshots and nothing else: no state image, no tokens,
            // no progress on the terminal, each snapshot durable on its own.
            snapshots_beside: None,
            image: None,
            known_tokens: None,
            progress: false,
            group_commit: false,
            ..options
        };
        let thread = std::thread::Builder::new()
            .name("maas-snapshots".into())
            .spawn(move || follow(&image, &open, options, &requests, &answers, &stop))
            .map_err(|e| format!("cannot start the snapshot thread: {e}"))?;
        Ok(Beside {
            save: Some(save),
            saved,
            cancel,
            thread: Some(thread),
            busy: false,
        })
    }

    /// Asks for a snapshot of the journal as it is now; false when one is still being
    /// saved (or the thread is gone), and nothing is asked.
    pub(super) fn ask(&mut self) -> bool {
        if self.busy {
            return false;
        }
        let asked = self.save.as_ref().is_some_and(|s| s.send(()).is_ok());
        self.busy = asked;
        asked
    }

    /// A save was asked for and its answer not taken yet.
    pub(super) fn busy(&self) -> bool {
        self.busy
    }

    /// The answer of the save asked for, once it came.
    pub(super) fn answer(&mut self) -> Option<Saved> {
        match self.saved.try_recv() {
            Ok(saved) => {
                self.busy = false;
                Some(saved)
            }
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Disconnected) => {
                let was = std::mem::take(&mut self.busy);
                was.then(|| {
                    Err(types::Error::Unavailable(
                        "the snapshot thread ended".into(),
                    ))
                })
            }
        }
    }

    /// Stops the thread: a save in progress is dropped at its next chunk (nothing of it
    /// counts), and the thread is waited for.
    pub(super) fn stop(&mut self) {
        self.cancel.store(true, Ordering::Release);
        self.save = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Beside {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The thread: one save per request, from an instance kept between them (dropped after a
/// failure, so the next save starts afresh from the journal).
fn follow(
    image: &Arc<CoreImage>,
    open: &JournalOpener,
    options: RuntimeOptions,
    requests: &Receiver<()>,
    answers: &Sender<Saved>,
    cancel: &Arc<AtomicBool>,
) {
    let mut follower: Option<Runtime> = None;
    while requests.recv().is_ok() {
        if cancel.load(Ordering::Acquire) {
            break;
        }
        let saved = save(&mut follower, image, open, &options, cancel);
        if saved.is_err() {
            follower = None;
        }
        if answers.send(saved).is_err() {
            break;
        }
    }
}

fn save(
    follower: &mut Option<Runtime>,
    image: &Arc<CoreImage>,
    open: &JournalOpener,
    options: &RuntimeOptions,
    cancel: &Arc<AtomicBool>,
) -> Saved {
    let rt = match follower {
        Some(rt) => rt,
        None => {
            let journal = open().map_err(types::Error::Unavailable)?;
            let mut rt = Runtime::new(image.clone(), journal, options.clone())?;
            rt.cancel = Some(cancel.clone());
            follower.insert(rt)
        }
    };
    let seq = rt.snapshot()?;
    Ok((seq, rt.snapshot_bytes()))
}
