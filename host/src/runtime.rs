//! Running the core: the wasmtime engine, the compiled component, the linker with the
//! journal import, and one instance serving every call.

use crate::bindings::maas::core::journal as wit_journal;
use crate::bindings::{Maas, MaasPre, admin, types};
use crate::clock::Clock;
use crate::journal::{JournalBackend, JournalError, MemoryJournal, Snapshot};
use std::path::Path;
use std::sync::{Arc, OnceLock};
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

/// The core component built with this host.
pub const CORE_WASM: &str = env!("MAAS_CORE_WASM");

/// Everything a core instance needs from its host.
pub struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    journal: Box<dyn JournalBackend>,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

fn wit_error(e: JournalError) -> wit_journal::JournalError {
    match e {
        JournalError::Conflict(head) => wit_journal::JournalError::Conflict(head),
        JournalError::Unavailable(m) => wit_journal::JournalError::Unavailable(m),
    }
}

impl wit_journal::Host for HostState {
    fn head(&mut self) -> Result<u64, wit_journal::JournalError> {
        self.journal.head().map_err(wit_error)
    }

    fn read(
        &mut self,
        from: u64,
        max: u32,
    ) -> Result<Vec<wit_journal::Entry>, wit_journal::JournalError> {
        self.journal
            .read(from, max)
            .map(|v| {
                v.into_iter()
                    .map(|(seq, data)| wit_journal::Entry { seq, data })
                    .collect()
            })
            .map_err(wit_error)
    }

    fn append(
        &mut self,
        expected_head: u64,
        data: Vec<u8>,
        sync: bool,
    ) -> Result<u64, wit_journal::JournalError> {
        self.journal
            .append(expected_head, &data, sync)
            .map_err(wit_error)
    }

    fn save_snapshot(
        &mut self,
        snapshot: wit_journal::Snapshot,
    ) -> Result<(), wit_journal::JournalError> {
        self.journal
            .save_snapshot(Snapshot {
                seq: snapshot.seq,
                data: snapshot.data,
            })
            .map_err(wit_error)
    }

    fn load_snapshot(
        &mut self,
    ) -> Result<Option<wit_journal::Snapshot>, wit_journal::JournalError> {
        self.journal
            .load_snapshot()
            .map(|s| {
                s.map(|s| wit_journal::Snapshot {
                    seq: s.seq,
                    data: s.data,
                })
            })
            .map_err(wit_error)
    }
}

/// The engine and the compiled, pre-linked core: compiled once per process and shared.
pub struct CoreImage {
    engine: Engine,
    component: Component,
    pre: MaasPre<HostState>,
}

impl CoreImage {
    /// Compiles the component at `path` and links it.
    pub fn load(path: &Path) -> wasmtime::Result<Self> {
        let mut config = Config::new();
        config.wasm_component_model(true);
        let engine = Engine::new(&config)?;
        let component = crate::compiled::load(&engine, path)?;
        let mut linker: Linker<HostState> = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
        Maas::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)?;
        let pre = MaasPre::new(linker.instantiate_pre(&component)?)?;
        Ok(CoreImage {
            engine,
            component,
            pre,
        })
    }

    /// The core built with this host, compiled on first use.
    pub fn shared() -> Result<Arc<CoreImage>, types::Error> {
        static IMAGE: OnceLock<Result<Arc<CoreImage>, String>> = OnceLock::new();
        IMAGE
            .get_or_init(|| {
                CoreImage::load(Path::new(CORE_WASM))
                    .map(Arc::new)
                    .map_err(|e| format!("cannot load the core component {CORE_WASM}: {e:#}"))
            })
            .clone()
            .map_err(types::Error::Unavailable)
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The compiled component.
    pub fn component(&self) -> &Component {
        &self.component
    }
}

/// Limits with every field zero: the core's defaults.
pub fn default_limits() -> admin::Limits {
    admin::Limits {
        agents: 0,
        sessions: 0,
        pools: 0,
        members_per_pool: 0,
        shares_per_pool: 0,
        handoffs: 0,
        pending_per_target: 0,
        memories: 0,
        documents: 0,
        handoff_retention_seconds: 0,
        audit_window: 0,
    }
}

/// How a runtime starts its core.
#[derive(Clone)]
pub struct RuntimeOptions {
    /// Limits (zero fields mean defaults).
    pub limits: admin::Limits,
    /// The clock the core sees.
    pub clock: Clock,
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        RuntimeOptions {
            limits: default_limits(),
            clock: Clock::System,
        }
    }
}

/// One core instance over one journal. Every call goes through [`Runtime::call`]; a trap
/// discards the instance and a fresh one is started from the journal.
pub struct Runtime {
    image: Arc<CoreImage>,
    options: RuntimeOptions,
    store: Store<HostState>,
    core: Maas,
    restarts: u64,
}

fn trap(e: wasmtime::Error) -> types::Error {
    types::Error::Unavailable(format!("the core failed and was restarted: {e}"))
}

impl Runtime {
    /// Starts a core over `journal` and catches it up.
    pub fn new(
        image: Arc<CoreImage>,
        journal: Box<dyn JournalBackend>,
        options: RuntimeOptions,
    ) -> Result<Self, types::Error> {
        let (store, core) = Self::start(&image, journal, &options)?;
        Ok(Runtime {
            image,
            options,
            store,
            core,
            restarts: 0,
        })
    }

    /// A core over a fresh in-memory journal, with the shared image.
    pub fn in_memory(options: RuntimeOptions) -> Result<Self, types::Error> {
        Self::new(
            CoreImage::shared()?,
            Box::new(MemoryJournal::new()),
            options,
        )
    }

    fn start(
        image: &CoreImage,
        journal: Box<dyn JournalBackend>,
        options: &RuntimeOptions,
    ) -> Result<(Store<HostState>, Maas), types::Error> {
        let wasi = WasiCtxBuilder::new()
            .wall_clock(options.clock.clone())
            .build();
        let mut store = Store::new(
            &image.engine,
            HostState {
                wasi,
                table: ResourceTable::new(),
                journal,
            },
        );
        let core = image.pre.instantiate(&mut store).map_err(trap)?;
        core.maas_core_admin()
            .call_init(&mut store, options.limits)
            .map_err(trap)??;
        Ok((store, core))
    }

    /// Calls into the core. A trap is answered with `unavailable` after the instance is
    /// replaced by a fresh one rebuilt from the journal.
    pub fn call<T>(
        &mut self,
        f: impl FnOnce(&Maas, &mut Store<HostState>) -> wasmtime::Result<Result<T, types::Error>>,
    ) -> Result<T, types::Error> {
        match f(&self.core, &mut self.store) {
            Ok(result) => result,
            Err(e) => {
                self.restart()?;
                Err(trap(e))
            }
        }
    }

    /// Calls an infallible export (one returning no `result`).
    pub fn call_plain<T>(
        &mut self,
        f: impl FnOnce(&Maas, &mut Store<HostState>) -> wasmtime::Result<T>,
    ) -> Result<T, types::Error> {
        self.call(|core, store| f(core, store).map(Ok))
    }

    fn restart(&mut self) -> Result<(), types::Error> {
        let journal = std::mem::replace(
            &mut self.store.data_mut().journal,
            Box::new(MemoryJournal::new()),
        );
        let (store, core) = Self::start(&self.image, journal, &self.options)?;
        self.store = store;
        self.core = core;
        self.restarts += 1;
        Ok(())
    }

    /// How many times the instance was replaced after a trap.
    pub fn restarts(&self) -> u64 {
        self.restarts
    }

    /// The clock the core sees.
    pub fn clock(&self) -> &Clock {
        &self.options.clock
    }
}
