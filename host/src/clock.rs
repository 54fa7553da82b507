//! The wall clock the core sees: the system's, or one the caller moves (tests, replays).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use wasmtime_wasi::HostWallClock;

/// A clock handed to the core.
#[derive(Debug, Clone, Default)]
pub enum Clock {
    /// The system clock.
    #[default]
    System,
    /// A clock that moves only when told; milliseconds since the epoch.
    Manual(Arc<AtomicU64>),
}

impl Clock {
    /// A manual clock starting at `ms`.
    pub fn manual(ms: u64) -> Self {
        Clock::Manual(Arc::new(AtomicU64::new(ms)))
    }

    /// Moves a manual clock forward by `ms` (no effect on the system clock).
    pub fn advance(&self, ms: u64) {
        if let Clock::Manual(t) = self {
            t.fetch_add(ms, Ordering::SeqCst);
        }
    }

    /// The time in ms since the epoch.
    pub fn now_ms(&self) -> u64 {
        match self {
            Clock::System => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
                .unwrap_or(0),
            Clock::Manual(t) => t.load(Ordering::SeqCst),
        }
    }
}

impl HostWallClock for Clock {
    fn resolution(&self) -> Duration {
        Duration::from_millis(1)
    }

    fn now(&self) -> Duration {
        Duration::from_millis(self.now_ms())
    }
}
