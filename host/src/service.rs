//! One core instance shared by many concurrent callers: a thread owns the runtime (the
//! wasmtime store is not shared across threads, and the sync WASI linker must not run on
//! an async worker) and serves jobs sent over a channel, in arrival order.

use crate::bindings::types;
use crate::runtime::Runtime;
use std::sync::mpsc;

type Job = Box<dyn FnOnce(&mut Runtime) + Send>;

/// A handle to the core thread; cheap to clone.
#[derive(Clone)]
pub struct CoreService {
    jobs: mpsc::Sender<Job>,
}

fn stopped() -> types::Error {
    types::Error::Unavailable("the core thread has stopped".into())
}

impl CoreService {
    /// Starts the core thread; `make` builds the runtime on that thread.
    pub fn spawn(
        make: impl FnOnce() -> Result<Runtime, types::Error> + Send + 'static,
    ) -> Result<Self, types::Error> {
        let (jobs, rx) = mpsc::channel::<Job>();
        let (ready_tx, ready_rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("maas-core".into())
            .spawn(move || {
                let mut rt = match make() {
                    Ok(rt) => {
                        let _ = ready_tx.send(Ok(()));
                        rt
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                while let Ok(job) = rx.recv() {
                    job(&mut rt);
                }
            })
            .map_err(|e| types::Error::Unavailable(format!("cannot start the core thread: {e}")))?;
        ready_rx.recv().map_err(|_| stopped())??;
        Ok(CoreService { jobs })
    }

    /// Runs `f` on the core thread and waits for its answer without blocking the caller's
    /// async worker.
    pub async fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Runtime) -> Result<T, types::Error> + Send + 'static,
    ) -> Result<T, types::Error> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Box::new(move |rt| {
                let _ = tx.send(f(rt));
            }))
            .map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())?
    }

    /// Runs `f` on the core thread and blocks until it answers.
    pub fn call_blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Runtime) -> Result<T, types::Error> + Send + 'static,
    ) -> Result<T, types::Error> {
        let (tx, rx) = mpsc::channel();
        self.jobs
            .send(Box::new(move |rt| {
                let _ = tx.send(f(rt));
            }))
            .map_err(|_| stopped())?;
        rx.recv().map_err(|_| stopped())?
    }
}
