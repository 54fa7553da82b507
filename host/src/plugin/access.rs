//! How plugins reach the one core instance: the host forwards every import to it.

use crate::Runtime;
use crate::bindings::types;
use crate::service::CoreService;
use std::sync::{Arc, Mutex, PoisonError};

/// The core a plugin's imports forward to. A plugin never holds the core's store: a trap
/// or an exhausted limit in the plugin unwinds the plugin's store only.
#[derive(Clone)]
pub enum CoreAccess {
    /// A runtime shared by this process behind a lock; the plugin's thread calls it.
    Shared(Arc<Mutex<Runtime>>),
    /// The core thread of a server; each call is a job on that thread.
    Service(CoreService),
}

impl CoreAccess {
    /// Shares `rt` with plugins.
    pub fn shared(rt: Runtime) -> Self {
        CoreAccess::Shared(Arc::new(Mutex::new(rt)))
    }

    /// Runs `f` on the core and returns its answer.
    pub fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Runtime) -> Result<T, types::Error> + Send + 'static,
    ) -> Result<T, types::Error> {
        match self {
            CoreAccess::Shared(rt) => {
                // A panic while the lock was held happened in host code, never in the
                // core's store; the runtime is still consistent with its journal.
                let mut rt = rt.lock().unwrap_or_else(PoisonError::into_inner);
                f(&mut rt)
            }
            CoreAccess::Service(service) => service.call_blocking(f),
        }
    }
}
