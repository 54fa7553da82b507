//! Running the core: the wasmtime engine, the compiled component, the linker with the
//! journal import, and one instance serving every call.

mod beside;
mod image;
mod snapshots;

pub use beside::JournalOpener;
pub use image::{IMAGE_FILE, path_in as image_path};

use crate::bindings::maas::core::journal as wit_journal;
use crate::bindings::{Maas, MaasPre, admin, types};
use crate::clock::Clock;
use crate::journal::{JournalBackend, JournalError, MemoryJournal};
use maas_core::journal::AuditScan;
use sha2::Digest;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

/// The core component built with this host, inside the binary: a `maas` copied or
/// installed anywhere runs the core it was built with, whatever happens to the build's
/// target directory afterwards.
pub const CORE_WASM: &[u8] = include_bytes!(env!("MAAS_CORE_WASM"));

/// Everything a core instance needs from its host.
pub struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    journal: Box<dyn JournalBackend>,
    /// The clock the core sees (also its WASI wall clock).
    clock: Clock,
    /// The last sequence this core appended.
    head: u64,
    limits: StoreLimits,
    /// See [`RuntimeOptions::cancel`]: once set, journal reads fail, so a replay stops.
    cancel: Option<Arc<AtomicBool>>,
}

impl HostState {
    /// Told to stop (see [`RuntimeOptions::cancel`]).
    fn cancelled(&self) -> bool {
        self.cancel
            .as_ref()
            .is_some_and(|c| c.load(Ordering::Acquire))
    }
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

    fn head_and_time(&mut self) -> Result<(u64, u64), wit_journal::JournalError> {
        let head = self.journal.head().map_err(wit_error)?;
        Ok((head, self.clock.now_ms()))
    }

    fn read(
        &mut self,
        from: u64,
        max: u32,
    ) -> Result<Vec<wit_journal::Entry>, wit_journal::JournalError> {
        if self.cancelled() {
            return Err(wit_journal::JournalError::Unavailable(
                beside::STOPPING.into(),
            ));
        }
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
        let seq = self
            .journal
            .append(expected_head, &data, sync)
            .map_err(wit_error)?;
        self.head = seq;
        Ok(seq)
    }

    fn audit_append(&mut self, packed: Vec<u8>) -> Result<(), wit_journal::JournalError> {
        self.journal.audit_append_packed(packed).map_err(wit_error)
    }

    fn audit_scan(
        &mut self,
        scan: wit_journal::ReadAuditFilter,
    ) -> Result<Vec<wit_journal::ReadAudit>, wit_journal::JournalError> {
        let scan = AuditScan {
            actor: scan.actor,
            agent: scan.agent,
            event_type: scan.event_type,
            since: scan.since,
            until: scan.until,
            limit: scan.limit.min(MAX_AUDIT_SCAN),
        };
        let found = self.journal.audit_scan(&scan).map_err(wit_error)?;
        Ok(found
            .into_iter()
            .map(|e| wit_journal::ReadAudit {
                seq: e.seq,
                at: e.at,
                actor: e.record.actor,
                event_type: e.record.event_type,
                target: e.record.target,
                outcome: e.record.outcome,
                detail: e.record.detail,
                prev: e.record.prev,
            })
            .collect())
    }
}

/// Most read-audit entries one `audit-scan` returns, whatever the guest asks for.
const MAX_AUDIT_SCAN: u32 = 1000;

/// The engine and the compiled, pre-linked core: compiled once per process and shared.
pub struct CoreImage {
    /// SHA-256 of the component's bytes (state images are keyed by it).
    digest: [u8; 32],
    engine: Engine,
    component: Component,
    pre: MaasPre<HostState>,
}

impl CoreImage {
    /// Compiles the component at `path` and links it.
    pub fn load(path: &Path) -> wasmtime::Result<Self> {
        Self::from_bytes(&crate::owned::read_input(
            path,
            crate::compiled::MOST_COMPONENT_BYTES,
        )?)
    }

    /// Compiles component `wasm` and links it.
    pub fn from_bytes(wasm: &[u8]) -> wasmtime::Result<Self> {
        let mut config = Config::new();
        config.wasm_component_model(true);
        // `MAAS_PERF_MAP=1` writes /tmp/perf-<pid>.map so `perf report` names the
        // core's functions.
        if std::env::var_os("MAAS_PERF_MAP").is_some() {
            config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        let engine = Engine::new(&config)?;
        let digest: [u8; 32] = sha2::Sha256::digest(wasm).into();
        let component = crate::compiled::load_digested(&engine, wasm, &digest)?;
        let mut linker: Linker<HostState> = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
        Maas::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)?;
        let pre = MaasPre::new(linker.instantiate_pre(&component)?)?;
        Ok(CoreImage {
            digest,
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
                CoreImage::from_bytes(CORE_WASM)
                    .map(Arc::new)
                    .map_err(|e| format!("cannot load the core component: {e:#}"))
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
        memory_bytes: 0,
        memories_per_owner: 0,
        documents_per_owner: 0,
        pending_per_target_per_owner: 0,
        writes_per_minute: 0,
        change_window: 0,
        pools_per_owner: 0,
        handoffs_per_owner: 0,
        text_bytes_per_owner: 0,
        write_bytes_per_minute: 0,
    }
}

/// How often a snapshot is saved by default: every this many journal entries.
pub const DEFAULT_SNAPSHOT_EVERY: u64 = 10_000;
/// The size of the chunks a snapshot is exported, stored and restored in, by default.
pub const DEFAULT_SNAPSHOT_CHUNK_BYTES: u32 = 4 << 20;

/// How a runtime starts its core.
#[derive(Clone)]
pub struct RuntimeOptions {
    /// Limits (zero fields mean defaults).
    pub limits: admin::Limits,
    /// The clock the core sees.
    pub clock: Clock,
    /// Save a snapshot every this many journal entries, or every tenth of the journal's
    /// length when that is more (0: never). A snapshot that could not be saved is tried
    /// again only after as many more entries.
    pub snapshot_every: u64,
    /// Save the snapshots that fall due from a second instance of the core on a thread of
    /// its own, over the journal connection this opens, so calls do not wait while one is
    /// encoded (see `runtime/beside.rs`; a save that fails there is saved by the core
    /// itself, and so is the one at a stop). None: the core saves them itself, between
    /// calls.
    pub snapshots_beside: Option<JournalOpener>,
    /// Set a damaged journal tail aside at a start (see `JournalBackend::recover_tail`).
    /// Off, a damaged entry fails the start instead: the instance saving snapshots beside
    /// a serving core must never move out entries that core has applied (and whose
    /// callers may have been told they were saved).
    pub repairs_journal: bool,
    /// Most bytes of one snapshot chunk (a single larger record goes alone).
    pub snapshot_chunk_bytes: u32,
    /// Show progress on standard error while a large snapshot is saved or restored (only
    /// when it is a terminal).
    pub progress: bool,
    /// Leave syncing to the caller of [`Runtime::sync_journal`] (group commit), which must
    /// hold every answer until the sync is done. Off: each call syncs before it returns.
    pub group_commit: bool,
    /// Most bytes of linear memory the core may use (None: what wasm32 allows). A call
    /// that needs more traps; the instance is replaced and the call answered `unavailable`.
    pub memory_limit: Option<usize>,
    /// The state image file (see [`Runtime::save_image`]): started from when usable,
    /// refreshed by [`Runtime::refresh_image`]. None: no image.
    pub image: Option<PathBuf>,
    /// [`Runtime::refresh_image`] saves no image of a journal shorter than this: a small
    /// state starts from its snapshot about as fast.
    pub image_after: u64,
    /// The file where the tokens this core issues are noted (see [`crate::known_tokens`]),
    /// so the HTTP server lets a new agent through a flood from its address. None: nowhere.
    pub known_tokens: Option<PathBuf>,
    /// The data directory whose `kb ingest-repo` manifests forget the knowledge documents
    /// a call removes (see [`crate::ingest::manifest::forget`]). None: no manifests.
    pub ingest_manifests: Option<PathBuf>,
    /// Once set, a start under way (a snapshot restoring, the journal replaying) and a
    /// snapshot being saved stop at their next step, `unavailable`: the instance saving
    /// snapshots beside a serving core that is stopping. None: nothing stops them.
    pub cancel: Option<Arc<AtomicBool>>,
}

/// Notices a runtime keeps (see [`Runtime::notices`]); older ones are dropped, since a
/// server runs for as long as it likes (each is printed on standard error as it comes).
pub const NOTICES_KEPT: usize = 1000;

/// The journal length from which a data directory keeps a state image by default.
pub const DEFAULT_IMAGE_AFTER: u64 = 50_000;

/// The journal length from which a data directory keeps a state image:
/// `MAAS_STATE_IMAGE_AFTER` (entries; `off` for never), else [`DEFAULT_IMAGE_AFTER`].
pub fn image_after() -> u64 {
    match std::env::var("MAAS_STATE_IMAGE_AFTER") {
        Ok(v) if v.trim() == "off" => u64::MAX,
        Ok(v) => v.trim().parse().unwrap_or_else(|_| {
            eprintln!(
                "maas: warning: MAAS_STATE_IMAGE_AFTER={v:?} is not a number of entries nor \
                 `off`; the default, {DEFAULT_IMAGE_AFTER}, is used"
            );
            DEFAULT_IMAGE_AFTER
        }),
        Err(_) => DEFAULT_IMAGE_AFTER,
    }
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        RuntimeOptions {
            limits: default_limits(),
            clock: Clock::System,
            snapshot_every: DEFAULT_SNAPSHOT_EVERY,
            snapshots_beside: None,
            repairs_journal: true,
            snapshot_chunk_bytes: DEFAULT_SNAPSHOT_CHUNK_BYTES,
            progress: false,
            group_commit: false,
            memory_limit: None,
            image: None,
            image_after: DEFAULT_IMAGE_AFTER,
            known_tokens: None,
            ingest_manifests: None,
            cancel: None,
        }
    }
}

/// One core instance over one journal. Every call goes through [`Runtime::call`]; a trap
/// discards the instance and a fresh one is started from the newest snapshot and the
/// journal.
pub struct Runtime {
    image: Arc<CoreImage>,
    options: RuntimeOptions,
    store: Store<HostState>,
    core: Maas,
    restarts: u64,
    /// A restart failed (the journal could not be read): the instance may hold changes
    /// the journal does not, so the next call restarts before anything else.
    broken: bool,
    last_snapshot: u64,
    /// The head at which the next snapshot is due.
    next_snapshot: u64,
    /// Bytes of the last snapshot this runtime saved.
    snapshot_bytes: u64,
    notices: Vec<String>,
    syncs: u64,
    /// The position of the state image this runtime started from or saved.
    image_seq: Option<u64>,
    /// How many of its calls ended a token (see [`Runtime::note_token_ended`]).
    token_endings: Arc<AtomicU64>,
    /// How many rewrites of the journal under this core it noticed (see
    /// [`Runtime::rewrites`]).
    rewrites: u64,
    /// The thread saving snapshots beside this core, once one fell due.
    beside: Option<beside::Beside>,
    /// Another process's unfinished snapshot save this core left to finish instead of
    /// saving its own, or one there already at the start, never waited for (see
    /// `runtime/snapshots.rs`).
    left_to_finish: Option<u64>,
    /// The newest snapshot the journal listed at the start, which the start used or
    /// found unusable: only one saved after it is taken as another process's.
    listed_at_start: u64,
}

fn trap(e: wasmtime::Error) -> types::Error {
    types::Error::Unavailable(format!("the core failed and was restarted: {e}"))
}

/// What a call that trapped is answered: whether its change was written first (then the
/// restarted core replayed it), and whether the restart worked (if not, the next call
/// tries again).
fn trapped(e: wasmtime::Error, wrote: bool, restarted: Result<(), types::Error>) -> types::Error {
    let written = if wrote {
        " after its change was written"
    } else {
        ""
    };
    match restarted {
        Ok(()) if wrote => types::Error::Unavailable(format!(
            "the core failed{written} and was restarted; the change is kept (the restarted core replayed it): {e}"
        )),
        Ok(()) => trap(e),
        Err(why) => types::Error::Unavailable(format!(
            "the core failed{written} and could not be restarted ({}); the next call tries again: {e}",
            why.reason()
        )),
    }
}

/// The error of a call whose journal sync failed (`why`): one that `wrote` may have
/// been saved and must not be told to retry (a retry could make it twice); one that
/// wrote nothing changed nothing.
pub fn sync_failed(why: &str, wrote: bool) -> types::Error {
    types::Error::Unavailable(if wrote {
        format!("the journal could not be synced ({why}); the change may not have been saved")
    } else {
        format!("the journal could not be synced ({why}); nothing was changed: retry")
    })
}

fn journal_failure(e: JournalError) -> types::Error {
    types::Error::Unavailable(e.to_string())
}

/// A started core, and what starting it found.
struct Started {
    store: Store<HostState>,
    core: Maas,
    /// The snapshot it started from (0: none); with an image, the newest snapshot.
    snapshot: u64,
    /// The state image it started from.
    image: Option<u64>,
    notices: Vec<String>,
}

/// A start that failed, with the journal it was given, so it can be tried again.
struct StartFailed {
    error: types::Error,
    journal: Box<dyn JournalBackend>,
}

impl From<StartFailed> for types::Error {
    fn from(failed: StartFailed) -> Self {
        failed.error
    }
}

/// When a runtime ends (a one-shot command's, or a server's after its shutdown): the
/// state image is refreshed if this start could not use one or used one far behind the
/// journal, so the next start copies pages instead of decoding the snapshot.
impl Drop for Runtime {
    fn drop(&mut self) {
        self.stop_beside();
        if !self.broken {
            let lag = match self.options.snapshot_every {
                0 => DEFAULT_SNAPSHOT_EVERY,
                every => every,
            };
            self.refresh_image(lag);
        }
    }
}

impl Runtime {
    /// Starts a core over `journal`: restores the newest good snapshot, sets aside a
    /// damaged journal tail, and catches up.
    pub fn new(
        image: Arc<CoreImage>,
        journal: Box<dyn JournalBackend>,
        options: RuntimeOptions,
    ) -> Result<Self, types::Error> {
        let mut started = Self::start(&image, journal, &options, true)?;
        let next_snapshot = snapshots::due_after(options.snapshot_every, started.snapshot);
        let (listed_at_start, left_to_finish) = Self::snapshots_at_start(&mut started.store);
        Ok(Runtime {
            image,
            options,
            store: started.store,
            core: started.core,
            restarts: 0,
            broken: false,
            last_snapshot: started.snapshot,
            next_snapshot,
            snapshot_bytes: 0,
            notices: started.notices,
            syncs: 0,
            image_seq: started.image,
            token_endings: Arc::default(),
            rewrites: 0,
            beside: None,
            left_to_finish,
            listed_at_start,
        })
    }

    /// Counts a call that ended a token: rotated it, deactivated or unregistered its
    /// agent, or found it no longer authenticating (another process ended it). Whoever
    /// remembers tokens that authenticated asks again about those remembered before it.
    pub fn note_token_ended(&self) {
        self.token_endings.fetch_add(1, Ordering::Release);
    }

    /// The count of [`Runtime::note_token_ended`], shared with whoever reads it.
    pub fn token_endings(&self) -> Arc<AtomicU64> {
        self.token_endings.clone()
    }

    /// Notes `token`, just issued by the core, in the file of known tokens, if the
    /// options name one. A failure is reported, not fatal: the token works, it only
    /// waits out a flood from its address until it has authenticated once.
    pub fn note_issued_token(&self, token: &str) {
        if let Some(file) = &self.options.known_tokens
            && let Err(e) = crate::known_tokens::note(file, token)
        {
            eprintln!("maas: cannot note the new token in {}: {e}", file.display());
        }
    }

    /// A core over a fresh in-memory journal, with the shared image.
    pub fn in_memory(options: RuntimeOptions) -> Result<Self, types::Error> {
        Self::new(
            CoreImage::shared()?,
            Box::new(MemoryJournal::new()),
            options,
        )
    }

    fn new_store(
        image: &CoreImage,
        journal: Box<dyn JournalBackend>,
        options: &RuntimeOptions,
        head: u64,
    ) -> Store<HostState> {
        let wasi = WasiCtxBuilder::new()
            .wall_clock(options.clock.clone())
            .build();
        let mut store = Store::new(
            &image.engine,
            HostState {
                wasi,
                table: ResourceTable::new(),
                journal,
                clock: options.clock.clone(),
                head,
                limits: StoreLimitsBuilder::new()
                    .memory_size(options.memory_limit.unwrap_or(usize::MAX))
                    .build(),
                cancel: options.cancel.clone(),
            },
        );
        store.limiter(|s| &mut s.limits);
        store
    }

    /// The end of every start, once the state as of `seq` is in the instance (restored,
    /// loaded from an image, or none at 0): sets aside a damaged journal tail after
    /// `seq` (when the options allow), then `init` applies the rest.
    fn catch_up_from(
        core: &Maas,
        store: &mut Store<HostState>,
        seq: u64,
        options: &RuntimeOptions,
        notices: &mut Vec<String>,
    ) -> Result<(), types::Error> {
        let journal = &mut store.data_mut().journal;
        if options.repairs_journal {
            journal.recover_tail(seq).map_err(journal_failure)?;
        }
        notices.extend(journal.take_notices());
        core.maas_core_admin()
            .call_init(&mut *store, options.limits)
            .map_err(trap)??;
        Ok(())
    }

    /// Takes the journal back from a store that is being discarded.
    fn take_journal(store: &mut Store<HostState>) -> Box<dyn JournalBackend> {
        std::mem::replace(
            &mut store.data_mut().journal,
            Box::new(MemoryJournal::new()),
        )
    }

    /// Starts from the options' state image when it is usable (see [`image`]); gives the
    /// journal back otherwise.
    fn start_from_image(
        image: &CoreImage,
        journal: Box<dyn JournalBackend>,
        options: &RuntimeOptions,
        head: u64,
        notices: &mut Vec<String>,
    ) -> Result<Started, Box<dyn JournalBackend>> {
        // No instance is made for a data directory without an image (most of them).
        let Some(path) = (options.image.as_deref()).filter(|p| head > 0 && p.is_file()) else {
            return Err(journal);
        };
        let mut store = Self::new_store(image, journal, options, head);
        let attempt = (|| {
            let core = image.pre.instantiate(&mut store).map_err(trap)?;
            let journal = &mut store.data_mut().journal;
            let newest = journal
                .snapshots()
                .map_err(journal_failure)?
                .into_iter()
                .filter(|s| *s <= head)
                .max()
                .unwrap_or(0);
            // An image no further behind the newest snapshot than the next would be.
            let lag = snapshots::interval(options.snapshot_every.max(1), newest);
            let oldest_usable = newest.saturating_sub(lag);
            let Some(seq) = Self::load_image(
                &core,
                &mut store,
                path,
                &image.digest,
                oldest_usable,
                head,
                notices,
            )?
            else {
                return Ok(None);
            };
            Self::catch_up_from(&core, &mut store, seq, options, notices)?;
            Ok::<_, types::Error>(Some((core, seq, newest)))
        })();
        match attempt {
            Ok(Some((core, seq, newest))) => Ok(Started {
                store,
                core,
                snapshot: newest,
                image: Some(seq),
                notices: std::mem::take(notices),
            }),
            Ok(None) => Err(Self::take_journal(&mut store)),
            Err(e) => {
                notices.push(format!(
                    "the state image {} was not used ({}); starting from the snapshot",
                    path.display(),
                    e.message()
                ));
                Err(Self::take_journal(&mut store))
            }
        }
    }

    fn start(
        image: &CoreImage,
        mut journal: Box<dyn JournalBackend>,
        options: &RuntimeOptions,
        use_image: bool,
    ) -> Result<Started, StartFailed> {
        journal.set_group_commit(options.group_commit);
        let head = match journal.head() {
            Ok(head) => head,
            Err(e) => {
                return Err(StartFailed {
                    error: journal_failure(e),
                    journal,
                });
            }
        };
        let mut notices = Vec::new();
        if use_image {
            match Self::start_from_image(image, journal, options, head, &mut notices) {
                Ok(started) => {
                    for notice in &started.notices {
                        eprintln!("maas: {notice}");
                    }
                    return Ok(started);
                }
                Err(back) => journal = back,
            }
        }
        // Snapshots as of this entry or before are tried.
        let mut upto = head;
        let (store, core, snapshot) = loop {
            let mut store = Self::new_store(image, journal, options, head);
            let mut restored = 0;
            let started = (|| {
                let core = image.pre.instantiate(&mut store).map_err(trap)?;
                restored = Self::restore(&core, &mut store, (head, upto), options, &mut notices)?;
                Self::catch_up_from(&core, &mut store, restored, options, &mut notices)?;
                Ok::<_, types::Error>(core)
            })();
            journal = match started {
                Ok(core) => break (store, core, restored),
                // Entries after the snapshot do not follow it (written over a tail set
                // aside since it was saved): an older one, or the journal from its start.
                Err(types::Error::Unavailable(why))
                    if restored > 0 && why.starts_with(maas_core::engine::JOURNAL_REWRITTEN) =>
                {
                    notices.push(format!(
                        "the snapshot as of entry {restored} does not lead to the journal's \
                         entries after it ({why}); trying an older one"
                    ));
                    upto = restored - 1;
                    Self::take_journal(&mut store)
                }
                Err(error) => {
                    let journal = Self::take_journal(&mut store);
                    return Err(StartFailed { error, journal });
                }
            };
        };
        for notice in &notices {
            eprintln!("maas: {notice}");
        }
        Ok(Started {
            store,
            core,
            snapshot,
            image: None,
            notices,
        })
    }

    /// Calls into the core. A trap is answered with `unavailable` after the instance is
    /// replaced by a fresh one. Unless group commit is on, what the call wrote or read is
    /// durable before it returns; a snapshot is saved when one is due.
    pub fn call<T>(
        &mut self,
        f: impl FnOnce(&Maas, &mut Store<HostState>) -> wasmtime::Result<Result<T, types::Error>>,
    ) -> Result<T, types::Error> {
        if self.broken {
            self.restart()?;
        }
        let before = self.appended();
        let result = self.invoke(f)?;
        if let Err(types::Error::Unavailable(why)) = &result
            && why.starts_with(maas_core::engine::JOURNAL_REWRITTEN)
        {
            let again = self.restart_after_rewrite(why);
            return Err(types::Error::Unavailable(format!("{why}; {again}")));
        }
        let result = result.map_err(|e| self.unless_away(e));
        if !self.options.group_commit
            && let Err(e) = self.sync_journal()
        {
            // After a commit the change may be in the journal: a caller told "nothing
            // was changed" would make it twice.
            return Err(match e {
                types::Error::Unavailable(why) if self.appended() != before => {
                    sync_failed(&why, true)
                }
                e => e,
            });
        }
        self.snapshot_if_due();
        result
    }

    /// `e`, or `unavailable` when the journal's store is away and `e` was decided on
    /// the state last read from it (another host may have made it otherwise since): a
    /// caller told `not_found` would give up on an object that exists.
    fn unless_away(&self, e: types::Error) -> types::Error {
        // What tells a caller an object is missing or changed: a refusal that may hold
        // whatever the state (a capability, a size) keeps its own answer.
        use types::Error::{Conflict, Expired, NotFound};
        let decided_on_state = matches!(e, NotFound(_) | Conflict(_) | Expired(_));
        if decided_on_state && self.store.data().journal.away() {
            return types::Error::Unavailable(format!(
                "the journal's database is away, and this host's state may be behind it \
                 (it would have answered: {}); retry when it is back",
                e.message()
            ));
        }
        e
    }

    /// Runs `f` on the instance; a trap replaces the instance and becomes the outer error.
    fn invoke<T>(
        &mut self,
        f: impl FnOnce(&Maas, &mut Store<HostState>) -> wasmtime::Result<Result<T, types::Error>>,
    ) -> Result<Result<T, types::Error>, types::Error> {
        let head = self.store.data().head;
        f(&self.core, &mut self.store).map_err(|e| {
            let wrote = self.store.data().head > head;
            let restarted = self.restart();
            trapped(e, wrote, restarted)
        })
    }

    /// Calls an infallible export (one returning no `result`).
    pub fn call_plain<T>(
        &mut self,
        f: impl FnOnce(&Maas, &mut Store<HostState>) -> wasmtime::Result<T>,
    ) -> Result<T, types::Error> {
        self.call(|core, store| f(core, store).map(Ok))
    }

    /// The last entry this core appended (0: none yet).
    pub fn appended(&self) -> u64 {
        self.store.data().head
    }

    /// The journal's head as the journal holds it now (other writers included).
    pub fn journal_head(&mut self) -> Option<u64> {
        self.store.data_mut().journal.head().ok()
    }

    /// [`Runtime::journal_head`] for those who wait for changes, read between calls: when
    /// another process set entries this core had applied aside, the core starts again
    /// from the journal first, as the next call would have (so a server with no call
    /// coming notices too), and [`Runtime::rewrites`] moves.
    pub fn follow_head(&mut self) -> Option<u64> {
        match self.store.data_mut().journal.head() {
            Ok(head) => Some(head),
            Err(JournalError::Unavailable(why))
                if why.starts_with(maas_core::engine::JOURNAL_REWRITTEN) =>
            {
                self.restart_after_rewrite(&why);
                self.journal_head()
            }
            Err(_) => None,
        }
    }

    /// Another process set entries this core had applied aside: its state is not the
    /// journal's. Starts again from the journal and says how that went.
    fn restart_after_rewrite(&mut self, why: &str) -> String {
        self.rewrites += 1;
        let again = match self.restart() {
            Ok(()) => "the core was started again from the journal: retry".to_string(),
            Err(e) => format!("the core could not be started again ({})", e.message()),
        };
        eprintln!("maas: {why}; {again}");
        again
    }

    /// The data directory whose ingest manifests forget removed documents, if any.
    pub fn ingest_manifests(&self) -> Option<&Path> {
        self.options.ingest_manifests.as_deref()
    }

    /// How many times this core found the journal rewritten under it (entries it had
    /// applied set aside by another process) and started again: those who follow its
    /// head read again, since the head may now be behind the one they saw.
    pub fn rewrites(&self) -> u64 {
        self.rewrites
    }

    /// Makes everything appended so far durable (one sync for every pending change).
    pub fn sync_journal(&mut self) -> Result<(), types::Error> {
        let journal = &mut self.store.data_mut().journal;
        if journal.needs_sync() {
            journal.sync().map_err(journal_failure)?;
            self.syncs += 1;
        }
        Ok(())
    }

    /// Writes the read-audit entries the journal holds in a buffer (committed, not
    /// synced: they reach the disk with the next sync of a change).
    pub fn flush_reads(&mut self) -> Result<(), types::Error> {
        self.store
            .data_mut()
            .journal
            .flush_reads()
            .map_err(journal_failure)
    }

    /// How long until the buffered read-audit entries are due to be written
    /// ([`Runtime::flush_reads`]); `None` when nothing is buffered.
    pub fn reads_due_in(&self) -> Option<std::time::Duration> {
        self.store.data().journal.reads_due_in()
    }

    /// How many syncs this runtime has made.
    pub fn syncs(&self) -> u64 {
        self.syncs
    }

    /// On a clean shutdown: writes the buffered read-audit entries, and saves a snapshot
    /// if anything was appended since the last one, so the next start reads no tail.
    pub fn shutdown(&mut self) -> Result<(), types::Error> {
        // The batch first: the thread beside may be waiting for its write lock.
        self.flush_reads()?;
        self.sync_journal()?;
        self.stop_beside();
        let head = self
            .store
            .data_mut()
            .journal
            .head()
            .map_err(journal_failure)?;
        if self.options.snapshot_every > 0 && head > self.last_snapshot {
            // One another process saved since, at this head or after it, is not saved again.
            self.adopt_newer_snapshot();
            if head > self.last_snapshot {
                self.snapshot()?;
            }
        }
        self.refresh_image(0);
        Ok(())
    }

    /// Saves a state image when the options name one, the journal is at least
    /// `image_after` entries long, and the last image is more than `lag` entries behind
    /// its head (or there is none); a failure is a notice, never an error.
    pub fn refresh_image(&mut self, lag: u64) {
        let Some(path) = self.options.image.clone() else {
            return;
        };
        let head = self.store.data().head.max(self.journal_head().unwrap_or(0));
        if head < self.options.image_after.max(1)
            || self
                .image_seq
                .is_some_and(|seq| head.saturating_sub(seq) <= lag)
        {
            return;
        }
        if let Err(e) = self.save_image(&path) {
            self.notice(format!(
                "could not save the state image: {}; the next start reads the snapshot",
                e.message()
            ));
        }
    }

    /// The position of the state image this runtime started from or last saved.
    pub fn image_seq(&self) -> Option<u64> {
        self.image_seq
    }

    /// Replaces the instance with a fresh one started from the journal.
    pub fn restart(&mut self) -> Result<(), types::Error> {
        let mut journal = std::mem::replace(
            &mut self.store.data_mut().journal,
            Box::new(MemoryJournal::new()),
        );
        journal.acknowledge_rewrite();
        // Not from the state image: the instance being replaced may have failed on it.
        let started = match Self::start(&self.image, journal, &self.options, false) {
            Ok(started) => started,
            Err(StartFailed { error, journal }) => {
                self.store.data_mut().journal = journal;
                self.broken = true;
                return Err(error);
            }
        };
        self.broken = false;
        self.store = started.store;
        self.core = started.core;
        self.last_snapshot = started.snapshot;
        (self.listed_at_start, self.left_to_finish) = Self::snapshots_at_start(&mut self.store);
        self.keep_notices(started.notices);
        self.restarts += 1;
        Ok(())
    }

    /// How many times the instance was replaced after a trap.
    pub fn restarts(&self) -> u64 {
        self.restarts
    }

    /// What starting found and worked around (damaged snapshots or journal entries),
    /// also printed to standard error: the last [`NOTICES_KEPT`].
    pub fn notices(&self) -> &[String] {
        &self.notices
    }

    /// The size in bytes of the last snapshot this runtime saved (0: none yet).
    pub fn snapshot_bytes(&self) -> u64 {
        self.snapshot_bytes
    }

    /// The position of the snapshot the core last started from or saved, or that another
    /// process saved since and it took as its own (0: none).
    pub fn last_snapshot(&self) -> u64 {
        self.last_snapshot
    }

    /// The clock the core sees.
    pub fn clock(&self) -> &Clock {
        &self.options.clock
    }
}
