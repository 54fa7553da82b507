//! What a plugin may use: its limits (fuel, memory, core calls, bytes per call) and the
//! WASI grants beyond the world (filesystem, network, environment, clock, stdio).

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;
use wasmtime::ResourceLimiter;

/// Default fuel: a tight loop burns it in about 0.4 s on two cores of this machine kind;
/// far more than a plugin that mostly waits on core calls needs.
pub const DEFAULT_FUEL: u64 = 2_000_000_000;
/// Default linear memory: 64 MiB.
pub const DEFAULT_MEMORY_BYTES: usize = 64 << 20;
/// Default number of core calls in one run.
pub const DEFAULT_CALLS: u64 = 1000;
/// Default bytes a plugin may pass in one core call: the largest memory (64 KiB of
/// content) with its tags and a handoff's state fit.
pub const DEFAULT_CALL_BYTES: usize = 256 << 10;
/// Default wall time of instantiation and of each run: far more than the default fuel
/// takes, room for a granted network's replies.
pub const DEFAULT_WALL_TIME: Duration = Duration::from_secs(30);

/// The limits of one plugin run. Exceeding any stops the plugin with [`LimitHit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PluginLimits {
    /// Fuel (roughly, wasm instructions) for instantiation, and afresh for each run.
    pub fuel: u64,
    /// Bytes of linear memory and of tables' elements (8 bytes each), all together, at
    /// most.
    pub memory_bytes: usize,
    /// Core calls in one run.
    pub calls: u64,
    /// Bytes of strings and lists passed in one core call.
    pub call_bytes: usize,
    /// Wall time for instantiation, and afresh for each run, waits in the host included
    /// (a granted timer, socket or file): fuel alone does not bound a plugin that waits.
    pub wall_time: Duration,
}

impl Default for PluginLimits {
    fn default() -> Self {
        PluginLimits {
            fuel: DEFAULT_FUEL,
            memory_bytes: DEFAULT_MEMORY_BYTES,
            calls: DEFAULT_CALLS,
            call_bytes: DEFAULT_CALL_BYTES,
            wall_time: DEFAULT_WALL_TIME,
        }
    }
}

/// What a plugin gets beyond the world's imports. Nothing by default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    /// Host directories made visible, each as (host path, guest path), read-only.
    pub dirs: Vec<(PathBuf, String)>,
    /// Environment variables passed in.
    pub env: Vec<(String, String)>,
    /// Outgoing and incoming network (TCP, UDP, name lookup).
    pub network: bool,
    /// The real wall and monotonic clocks, and timers; otherwise both clocks read zero
    /// and a timer refuses to start.
    pub clock: bool,
    /// The plugin's stdout and stderr go to the host's stderr; otherwise discarded.
    pub stdio: bool,
}

/// Which limit stopped a plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitHit {
    /// The fuel ran out.
    Fuel(u64),
    /// The memories and tables together would have grown past the limit.
    Memory(usize),
    /// One core call too many.
    Calls(u64),
    /// One core call passed more bytes than allowed.
    CallBytes {
        /// The limit.
        limit: usize,
        /// What the call tried to pass, when counted (a list too long to copy out of the
        /// plugin at all is stopped while it is copied, before anything counts it).
        passed: Option<usize>,
    },
    /// A timer was started without the clock grant.
    Timer,
    /// The run (or instantiation) took longer than this.
    WallTime(Duration),
}

impl fmt::Display for LimitHit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LimitHit::Fuel(n) => write!(f, "fuel limit of {n} exhausted (--fuel)"),
            LimitHit::Memory(n) => write!(f, "memory limit of {n} bytes reached (--memory)"),
            LimitHit::Calls(n) => write!(f, "core call limit of {n} calls reached (--calls)"),
            LimitHit::CallBytes {
                limit,
                passed: Some(passed),
            } => write!(
                f,
                "call size limit of {limit} bytes exceeded: one call passed {passed} bytes (--call-bytes)"
            ),
            LimitHit::CallBytes {
                limit,
                passed: None,
            } => write!(
                f,
                "call size limit of {limit} bytes exceeded: one call passed more than can be copied out of the plugin (--call-bytes; a run's own result may be 16 MiB)"
            ),
            LimitHit::Timer => write!(f, "timers need the clock grant (--allow-clock)"),
            LimitHit::WallTime(d) if d.subsec_nanos() == 0 => write!(
                f,
                "wall-time limit of {} s reached (--wall-time)",
                d.as_secs()
            ),
            LimitHit::WallTime(d) => write!(
                f,
                "wall-time limit of {} ms reached (--wall-time)",
                d.as_millis()
            ),
        }
    }
}

impl std::error::Error for LimitHit {}

/// Enforces the memory limit over everything the plugin holds together (its memories'
/// bytes and its tables' elements, 8 bytes each), and remembers that it did: the
/// plugin's allocator may turn a refused growth into its own trap, which must still be
/// reported as the limit. Counted per memory, a component declaring many memories or
/// tables would hold the limit many times over.
#[derive(Debug)]
pub(crate) struct MemoryLimiter {
    pub(crate) max: usize,
    /// Bytes granted so far, all memories and tables together.
    pub(crate) used: usize,
    /// The bytes the last growth granted, given back if it then failed.
    last: usize,
    pub(crate) hit: bool,
}

impl MemoryLimiter {
    /// A limiter granting at most `max` bytes in all.
    pub(crate) fn new(max: usize) -> Self {
        MemoryLimiter {
            max,
            used: 0,
            last: 0,
            hit: false,
        }
    }

    /// Grants growing from `current` to `desired` bytes, if the total stays within the
    /// limit. A growth past the memory's or table's own declared maximum is refused
    /// without counting (the guest sees -1, as it would anyway).
    fn grow(
        &mut self,
        current: usize,
        desired: usize,
        past_maximum: bool,
    ) -> wasmtime::Result<bool> {
        if past_maximum {
            return Ok(false);
        }
        let added = desired.saturating_sub(current);
        let used = self.used.saturating_add(added);
        if used > self.max {
            self.hit = true;
            return Err(LimitHit::Memory(self.max).into());
        }
        self.used = used;
        self.last = added;
        Ok(true)
    }

    /// Gives back the last growth granted: it failed after all.
    fn grow_failed(&mut self) {
        self.used = self.used.saturating_sub(self.last);
        self.last = 0;
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.grow(current, desired, maximum.is_some_and(|m| desired > m))
    }

    fn memory_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        self.grow_failed();
        Ok(())
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // A table element is a pointer; tables count against the same bytes.
        let past = maximum.is_some_and(|m| desired > m);
        self.grow(current.saturating_mul(8), desired.saturating_mul(8), past)
    }

    fn table_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        self.grow_failed();
        Ok(())
    }

    fn instances(&self) -> usize {
        // A component instantiates a handful of core instances (its modules and adapters).
        64
    }

    fn tables(&self) -> usize {
        64
    }

    fn memories(&self) -> usize {
        16
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memories_and_tables_share_one_limit() {
        let mut l = MemoryLimiter::new(64 << 20);
        // Two memories of 40 MiB each: the second passes the limit of them together.
        assert!(matches!(l.memory_growing(0, 40 << 20, None), Ok(true)));
        assert!(l.memory_growing(0, 40 << 20, None).is_err());
        assert!(l.hit);
        // Growth counts what it adds; tables count 8 bytes an element.
        let mut l = MemoryLimiter::new(64 << 20);
        assert!(matches!(l.memory_growing(0, 16 << 20, None), Ok(true)));
        assert!(matches!(
            l.memory_growing(16 << 20, 32 << 20, None),
            Ok(true)
        ));
        assert!(matches!(l.table_growing(0, 4 << 20, None), Ok(true)));
        assert_eq!(l.used, 64 << 20);
        assert!(l.table_growing(4 << 20, (4 << 20) + 1, None).is_err());
        // A growth past a declared maximum is refused, not counted; one that failed
        // after it was granted is given back.
        let mut l = MemoryLimiter::new(64 << 20);
        for _ in 0..10 {
            let refused = l.memory_growing(128 << 10, 64 << 20, Some(192 << 10));
            assert!(matches!(refused, Ok(false)));
        }
        assert_eq!(l.used, 0);
        assert!(!l.hit);
        assert!(matches!(l.memory_growing(0, 32 << 20, None), Ok(true)));
        assert!(
            l.memory_grow_failed(wasmtime::Error::msg("no room"))
                .is_ok()
        );
        assert_eq!(l.used, 0);
    }
}
