//! Sandboxed plugins: components of the `plugin` world (wit/plugin.wit), each run in a
//! store of its own, bound to one agent, under fuel, memory, call-count and call-size
//! limits, with no filesystem, network, environment or clock unless granted.
//!
//! The plugin's imports carry no caller: the host forwards each one to the one core
//! instance as `agent(id)` acting as `id`. The plugin engine is separate from the core's
//! (fuel metering would slow the core), and a plugin's trap unwinds its own store only.

mod access;
pub mod bench;
mod bindings;
mod imports;
mod limits;

pub use access::CoreAccess;
pub use limits::{
    DEFAULT_CALL_BYTES, DEFAULT_CALLS, DEFAULT_FUEL, DEFAULT_MEMORY_BYTES, DEFAULT_WALL_TIME,
    Grants, LimitHit, PluginLimits,
};

use crate::bindings::types;
use bindings::{Plugin, PluginPre};
use imports::PluginState;
use limits::MemoryLimiter;
use std::fmt;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::component::{Component, HasSelf, Linker, Resource, ResourceTable};
use wasmtime::{Config, Engine, Store, Trap};
use wasmtime_wasi::p2::DynPollable;
use wasmtime_wasi::{FsPerms, HostMonotonicClock, HostWallClock, WasiCtxBuilder};

/// Why a plugin could not run to the end.
#[derive(Debug, Clone)]
pub enum PluginError {
    /// The file is not a component of the `plugin` world, or could not be read.
    Load(String),
    /// The agent cannot be bound: the core refused (unknown or inactive agent).
    Bind(types::Error),
    /// A limit stopped the plugin.
    Stopped(LimitHit),
    /// The plugin trapped for another reason.
    Trapped(String),
    /// The plugin ran and reported a failure of its own.
    Failed(String),
}

impl fmt::Display for PluginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PluginError::Load(m) => write!(f, "cannot load the plugin: {m}"),
            PluginError::Bind(e) => {
                write!(f, "cannot bind the plugin to the agent: {}", e.message())
            }
            PluginError::Stopped(hit) => write!(f, "plugin stopped: {hit}"),
            PluginError::Trapped(m) => write!(f, "plugin trapped: {m}"),
            PluginError::Failed(m) => write!(f, "plugin failed: {m}"),
        }
    }
}

impl std::error::Error for PluginError {}

impl PartialEq for PluginError {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (PluginError::Bind(a), PluginError::Bind(b)) => a.message() == b.message(),
            (PluginError::Stopped(a), PluginError::Stopped(b)) => a == b,
            (PluginError::Load(a), PluginError::Load(b))
            | (PluginError::Trapped(a), PluginError::Trapped(b))
            | (PluginError::Failed(a), PluginError::Failed(b)) => a == b,
            _ => false,
        }
    }
}

/// The engine plugins run on, with its two linkers (with and without timers).
pub struct PluginEngine {
    engine: Engine,
    linker: Linker<PluginState>,
    timerless: Linker<PluginState>,
    waits: Arc<Waits>,
}

/// A compiled plugin, linked and ready to start any number of times.
pub struct PluginImage {
    engine: Engine,
    pre: PluginPre<PluginState>,
    timerless: PluginPre<PluginState>,
    waits: Arc<Waits>,
}

/// Where a plugin's waits in the host (timers, sockets, files) run: a runtime on the
/// calling thread, so a run is a future a deadline can end wherever it is.
struct Waits(Option<tokio::runtime::Runtime>);

impl Waits {
    fn new() -> Result<Self, PluginError> {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map(|rt| Waits(Some(rt)))
            .map_err(|e| PluginError::Load(format!("cannot start the plugin runtime: {e}")))
    }

    /// Runs `work` for at most `limit`.
    fn within<T>(&self, limit: Duration, work: impl Future<Output = T>) -> Option<T> {
        let rt = self.0.as_ref()?;
        rt.block_on(async { tokio::time::timeout(limit, work).await.ok() })
    }
}

impl Drop for Waits {
    fn drop(&mut self) {
        // A read a deadline abandoned (a FIFO in a granted directory) may still hold a
        // blocking thread: leave it rather than wait for it.
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

/// How much fuel a run burns between chances for its deadline to end it.
const FUEL_BETWEEN_DEADLINE_CHECKS: u64 = 10_000_000;

/// Who a plugin acts as, what it may use, and where the core is.
#[derive(Clone)]
pub struct Binding {
    /// The core the plugin's calls go to.
    pub core: CoreAccess,
    /// The agent every call acts as.
    pub agent: String,
    /// Its limits.
    pub limits: PluginLimits,
    /// What it gets beyond the world.
    pub grants: Grants,
}

/// A started plugin: its own store and instance.
pub struct PluginInstance {
    store: Store<PluginState>,
    plugin: Plugin,
    waits: Arc<Waits>,
    /// A deadline ended a run midway: the instance cannot run again.
    ended: bool,
}

/// Clocks that read zero: time is a grant.
struct Frozen;

impl HostWallClock for Frozen {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

impl HostMonotonicClock for Frozen {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }
    fn now(&self) -> u64 {
        0
    }
}

/// The monotonic-clock interface version this wasmtime-wasi defines.
const MONOTONIC_CLOCK: &str = "wasi:clocks/monotonic-clock@0.2.12";

fn timer_refused(
    mut store: wasmtime::StoreContextMut<'_, PluginState>,
) -> wasmtime::Result<(Resource<DynPollable>,)> {
    Err(store.data_mut().stop(LimitHit::Timer))
}

impl PluginEngine {
    /// A fuel-metered engine with the plugin world and WASI linked.
    pub fn new() -> Result<Self, PluginError> {
        let load = |e: wasmtime::Error| PluginError::Load(format!("{e:#}"));
        let mut config = Config::new();
        config.wasm_component_model(true);
        config.consume_fuel(true);
        let engine = Engine::new(&config).map_err(load)?;
        let mut linker: Linker<PluginState> = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(load)?;
        Plugin::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s).map_err(load)?;
        // A timer blocks the host thread on real time without burning fuel: without the
        // clock grant, starting one stops the plugin instead.
        let mut timerless = linker.clone();
        timerless.allow_shadowing(true);
        let mut clock = timerless.instance(MONOTONIC_CLOCK).map_err(load)?;
        clock
            .func_wrap("subscribe-duration", |store, (_,): (u64,)| {
                timer_refused(store)
            })
            .map_err(load)?;
        clock
            .func_wrap("subscribe-instant", |store, (_,): (u64,)| {
                timer_refused(store)
            })
            .map_err(load)?;
        Ok(PluginEngine {
            engine,
            linker,
            timerless,
            waits: Arc::new(Waits::new()?),
        })
    }

    /// Compiles (or loads from the compile cache) and links the plugin at `path`.
    pub fn load(&self, path: &Path) -> Result<PluginImage, PluginError> {
        let component = crate::compiled::load(&self.engine, path)
            .map_err(|e| PluginError::Load(format!("{}: {e:#}", path.display())))?;
        self.link(&component)
    }

    /// Compiles and links a plugin from its bytes.
    pub fn load_bytes(&self, wasm: &[u8]) -> Result<PluginImage, PluginError> {
        let component =
            Component::new(&self.engine, wasm).map_err(|e| PluginError::Load(format!("{e:#}")))?;
        self.link(&component)
    }

    fn link(&self, component: &Component) -> Result<PluginImage, PluginError> {
        let link = |linker: &Linker<PluginState>| {
            linker
                .instantiate_pre(component)
                .and_then(PluginPre::new)
                .map_err(|e| {
                    PluginError::Load(format!(
                        "not a component of the maas:core plugin world, or it imports what a plugin is not given: {e:#}"
                    ))
                })
        };
        Ok(PluginImage {
            engine: self.engine.clone(),
            pre: link(&self.linker)?,
            timerless: link(&self.timerless)?,
            waits: self.waits.clone(),
        })
    }
}

fn sandbox(grants: &Grants) -> Result<WasiCtxBuilder, PluginError> {
    let mut b = WasiCtxBuilder::new();
    for (host, guest) in &grants.dirs {
        b.preopened_dir(host, guest, FsPerms::ReadOnly)
            .map_err(|e| PluginError::Load(format!("cannot open {}: {e:#}", host.display())))?;
    }
    b.envs(&grants.env);
    if grants.network {
        b.inherit_network().allow_ip_name_lookup(true);
    } else {
        b.allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
    }
    if !grants.clock {
        b.wall_clock(Frozen).monotonic_clock(Frozen);
    }
    if grants.stdio {
        // The plugin's output must not mix with the result printed on stdout.
        b.stdout(std::io::stderr()).inherit_stderr();
    }
    Ok(b)
}

impl PluginImage {
    /// Starts the plugin in a store of its own, bound to `binding.agent`. The agent must
    /// exist and be active; checking it is the binding's first core call.
    pub fn start(&self, binding: &Binding) -> Result<PluginInstance, PluginError> {
        let agent = binding.agent.clone();
        let caller = types::Caller::Agent(agent.clone());
        binding
            .core
            .call(move |rt| rt.call(|c, s| c.maas_core_agents().call_get(s, &caller, &agent)))
            .map_err(PluginError::Bind)?;
        let wasi = sandbox(&binding.grants)?.build();
        let mut store = Store::new(
            &self.engine,
            PluginState {
                wasi,
                table: ResourceTable::new(),
                limiter: MemoryLimiter::new(binding.limits.memory_bytes),
                agent: binding.agent.clone(),
                core: binding.core.clone(),
                limits: binding.limits,
                calls: 0,
                hit: None,
                deadline: None,
            },
        );
        store.limiter(|s| &mut s.limiter);
        // What one call may copy out of the plugin before the import counts it (texts and
        // the places of list elements): past it the copy stops, named as --call-bytes.
        store.set_hostcall_fuel(hostcall_bytes(binding.limits.call_bytes));
        store
            .set_fuel(binding.limits.fuel)
            .and_then(|()| store.fuel_async_yield_interval(Some(FUEL_BETWEEN_DEADLINE_CHECKS)))
            .map_err(|e| PluginError::Load(format!("{e:#}")))?;
        let pre = if binding.grants.clock {
            &self.pre
        } else {
            &self.timerless
        };
        let limit = binding.limits.wall_time;
        store.data_mut().deadline = Instant::now().checked_add(limit);
        let plugin = match self.waits.within(limit, pre.instantiate_async(&mut store)) {
            Some(Ok(plugin)) => plugin,
            Some(Err(e)) => return Err(stopped(&store, e)),
            None => return Err(PluginError::Stopped(LimitHit::WallTime(limit))),
        };
        Ok(PluginInstance {
            store,
            plugin,
            waits: self.waits.clone(),
            ended: false,
        })
    }

    /// Starts the plugin and runs it once with `args`.
    pub fn run(&self, binding: &Binding, args: &[String]) -> Result<String, PluginError> {
        self.start(binding)?.run(args)
    }
}

/// What a plugin's `run` may return, at least (its output or error text).
pub const RESULT_BYTES: usize = 16 << 20;

/// What one call may copy out of a plugin whose calls may pass `call_bytes`: twice that
/// (a record's fixed parts and a list's places are copied too) and room for WASI's own
/// calls, and no less than [`RESULT_BYTES`], since wasmtime applies the same budget to
/// the result `run` returns. A list past it (three million empty tags are 72 MB of host
/// strings) stops while it is copied, before the import counts it.
fn hostcall_bytes(call_bytes: usize) -> usize {
    call_bytes
        .saturating_mul(2)
        .saturating_add(64 << 10)
        .max(RESULT_BYTES)
}

/// Names the limit behind a trap, when one is.
fn stopped(store: &Store<PluginState>, e: wasmtime::Error) -> PluginError {
    let data = store.data();
    if let Some(hit) = e.downcast_ref::<LimitHit>() {
        return PluginError::Stopped(*hit);
    }
    // wasmtime's own error type for it is private; its message is the sign.
    if format!("{e:#}").contains("fuel allocated for hostcalls has been exhausted") {
        return PluginError::Stopped(LimitHit::CallBytes {
            limit: data.limits.call_bytes,
            passed: None,
        });
    }
    if let Some(Trap::OutOfFuel) = e.downcast_ref::<Trap>() {
        return PluginError::Stopped(LimitHit::Fuel(data.limits.fuel));
    }
    if let Some(hit) = data.hit {
        return PluginError::Stopped(hit);
    }
    if data.limiter.hit {
        return PluginError::Stopped(LimitHit::Memory(data.limiter.max));
    }
    PluginError::Trapped(format!("{e:#}"))
}

impl PluginInstance {
    /// Calls the plugin's `run` with fresh fuel, call count and wall time (the limits are
    /// per run). After a trap the instance must not be used again.
    pub fn run(&mut self, args: &[String]) -> Result<String, PluginError> {
        let limits = self.store.data().limits;
        if self.ended {
            return Err(PluginError::Stopped(LimitHit::WallTime(limits.wall_time)));
        }
        self.store.data_mut().calls = 0;
        self.store.data_mut().deadline = Instant::now().checked_add(limits.wall_time);
        self.store
            .set_fuel(limits.fuel)
            .map_err(|e| PluginError::Trapped(format!("{e:#}")))?;
        let entry = self.plugin.maas_core_plugin_entry();
        let answer = self
            .waits
            .within(limits.wall_time, entry.call_run(&mut self.store, args));
        match answer {
            Some(Ok(Ok(out))) => Ok(out),
            Some(Ok(Err(message))) => Err(PluginError::Failed(message)),
            Some(Err(e)) => Err(stopped(&self.store, e)),
            None => {
                self.ended = true;
                Err(PluginError::Stopped(LimitHit::WallTime(limits.wall_time)))
            }
        }
    }

    /// Core calls made by the last run.
    pub fn calls(&self) -> u64 {
        self.store.data().calls
    }

    /// Fuel left from the last run.
    pub fn fuel_left(&self) -> u64 {
        self.store.get_fuel().unwrap_or(0)
    }
}
