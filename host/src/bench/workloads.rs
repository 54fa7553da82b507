//! The original design's six exit criteria, run on any layer through [`Backend`]: the
//! domain natively, the component over a journal, and MCP. Each workload starts from its
//! own ids, so all six run on one backend in turn.

use super::corpus::FixedEnv;
use super::stats::{Samples, each};
use crate::bindings::{agents, handoffs, memories, pools, types};
use crate::{Runtime, service::CoreService};
use maas_core::agents::RegistrationRequest;
use maas_core::memories::StoreRequest;
use maas_core::model::{MemoryKind, Permission, Scope};
use maas_core::page::{MAX_PAGE, PageRequest};
use maas_core::pools::PoolRequest;
use maas_core::state::HandoffContext;
use maas_core::{Caller, Core, Limits, MemoryJournal};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The operations the workloads need, on one layer. Errors are text: only the report
/// reads them.
pub trait Backend {
    /// The cheapest call this layer has (the floor).
    fn floor(&mut self) -> Result<(), String>;
    /// Registers agent `id` of `owner`.
    fn register(&mut self, id: &str, owner: &str) -> Result<(), String>;
    /// Creates project pool `id` of `owner`.
    fn create_pool(&mut self, id: &str, owner: &str) -> Result<(), String>;
    /// Adds `agent` to `pool` with write permission.
    fn join(&mut self, pool: &str, agent: &str) -> Result<(), String>;
    /// Stores memory `id` by `agent`.
    fn store(&mut self, agent: &str, id: &str, text: &str) -> Result<(), String>;
    /// Shares memory `memory` of `agent` into `pool` at project scope.
    fn share(&mut self, pool: &str, memory: &str, agent: &str) -> Result<(), String>;
    /// Initiates a handoff; returns its id.
    fn initiate(&mut self, from: &str, to: &str, task: &str) -> Result<String, String>;
    /// The target accepts.
    fn accept(&mut self, handoff: &str, agent: &str) -> Result<(), String>;
    /// The target completes.
    fn complete(&mut self, handoff: &str, agent: &str) -> Result<(), String>;
    /// Reads an agent's record.
    fn get_agent(&mut self, id: &str) -> Result<(), String>;
    /// Queries a pool's shares as `agent`; returns how many it sees.
    fn query_shared(&mut self, pool: &str, agent: &str) -> Result<usize, String>;
}

/// One measured workload on one layer.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Which workload.
    pub workload: &'static str,
    /// Per-operation timings (an operation is one call, one handoff cycle, or one share
    /// in the concurrent workload).
    pub per_op: Samples,
    /// Wall time of the whole measured part.
    pub total: Duration,
    /// Whether every operation succeeded (and read what it should).
    pub ok: bool,
    /// What went wrong, if anything.
    pub error: Option<String>,
}

/// Workload names, in the design's order.
pub const NAMES: [&str; 6] = [
    "100 shares into a project pool",
    "100 handoffs initiated to one target",
    "50 handoff cycles (initiate, accept, complete)",
    "lookup among 1,000 agents",
    "query of a pool holding 500 shares",
    "15 concurrent writers x 20 shares",
];

/// The original target per operation: 0.01 ms for the registry lookup, 1 ms otherwise.
pub fn original_target(workload: &str) -> Duration {
    if workload.starts_with("lookup") {
        Duration::from_micros(10)
    } else {
        Duration::from_millis(1)
    }
}

fn run_one(workload: &'static str, f: impl FnOnce() -> Result<Samples, String>) -> Outcome {
    let start = Instant::now();
    match f() {
        Ok(per_op) => Outcome {
            workload,
            total: per_op.total(),
            per_op,
            ok: true,
            error: None,
        },
        Err(e) => Outcome {
            workload,
            per_op: Samples::new(),
            total: start.elapsed(),
            ok: false,
            error: Some(e),
        },
    }
}

fn check(r: Result<(), String>, failures: &mut Option<String>) {
    if let Err(e) = r {
        failures.get_or_insert(e);
    }
}

fn timed(n: usize, mut f: impl FnMut(usize) -> Result<(), String>) -> Result<Samples, String> {
    let mut failed = None;
    let s = each(n, |i| check(f(i), &mut failed));
    failed.map_or(Ok(s), Err)
}

/// Runs the five sequential workloads on `b`. `tag` keeps ids apart when several
/// backends share a data directory.
pub fn sequential(b: &mut dyn Backend, tag: &str) -> Vec<Outcome> {
    let mut out = Vec::new();
    out.push(run_one(NAMES[0], || {
        let (agent, pool) = (format!("{tag}w1-a"), format!("{tag}w1-pool"));
        b.register(&agent, "owner-w1")?;
        b.create_pool(&pool, "owner-w1")?;
        b.join(&pool, &agent)?;
        for i in 0..100 {
            b.store(&agent, &format!("{tag}w1-m{i}"), &note(i))?;
        }
        timed(100, |i| b.share(&pool, &format!("{tag}w1-m{i}"), &agent))
    }));
    out.push(run_one(NAMES[1], || {
        let (from, to) = (format!("{tag}w2-from"), format!("{tag}w2-to"));
        b.register(&from, "owner-w2")?;
        b.register(&to, "owner-w2")?;
        timed(100, |i| {
            b.initiate(&from, &to, &format!("task {i}: port the login form"))
                .map(|_| ())
        })
    }));
    out.push(run_one(NAMES[2], || {
        let (from, to) = (format!("{tag}w3-from"), format!("{tag}w3-to"));
        b.register(&from, "owner-w3")?;
        b.register(&to, "owner-w3")?;
        timed(50, |i| {
            let id = b.initiate(&from, &to, &format!("cycle {i}: review the schema"))?;
            b.accept(&id, &to)?;
            b.complete(&id, &to)
        })
    }));
    out.push(run_one(NAMES[3], || {
        for i in 0..1000 {
            b.register(&format!("{tag}w4-a{i}"), &format!("owner-w4-{}", i % 10))?;
        }
        // Agents looked up in a scattered order (a stride coprime with 1,000).
        timed(1000, |i| {
            b.get_agent(&format!("{tag}w4-a{}", (i * 617) % 1000))
        })
    }));
    out.push(run_one(NAMES[4], || {
        let (agent, pool) = (format!("{tag}w5-a"), format!("{tag}w5-pool"));
        b.register(&agent, "owner-w5")?;
        b.create_pool(&pool, "owner-w5")?;
        b.join(&pool, &agent)?;
        for i in 0..500 {
            let id = format!("{tag}w5-m{i}");
            b.store(&agent, &id, &note(i))?;
            b.share(&pool, &id, &agent)?;
        }
        timed(50, |_| match b.query_shared(&pool, &agent)? {
            500 => Ok(()),
            n => Err(format!("the query saw {n} shares, not 500")),
        })
    }));
    out
}

/// The text of workload memory `i`.
pub fn note(i: usize) -> String {
    format!("note {i}: the session cache uses redis with key userSession_{i}")
}

/// Sets up the concurrent workload on `b`: 15 writers in one pool, 20 memories each.
pub fn concurrent_setup(b: &mut dyn Backend, tag: &str) -> Result<(), String> {
    let pool = format!("{tag}w6-pool");
    b.create_pool(&pool, "owner-w6")?;
    for w in 0..15 {
        let agent = format!("{tag}w6-a{w}");
        b.register(&agent, "owner-w6")?;
        b.join(&pool, &agent)?;
        for i in 0..20 {
            b.store(&agent, &format!("{tag}w6-a{w}-m{i}"), &note(i))?;
        }
    }
    Ok(())
}

/// Runs the concurrent workload: 15 threads, one per handle of `handles` (15 of them),
/// share their 20 memories at once. Per-op samples are each share's latency.
pub fn concurrent<B: Backend + Send + 'static>(tag: &str, handles: Vec<B>) -> Outcome {
    let start = Instant::now();
    let threads: Vec<_> = handles
        .into_iter()
        .take(15)
        .enumerate()
        .map(|(w, mut b)| {
            let tag = tag.to_string();
            std::thread::spawn(move || {
                let pool = format!("{tag}w6-pool");
                let agent = format!("{tag}w6-a{w}");
                timed(20, |i| {
                    b.share(&pool, &format!("{tag}w6-a{w}-m{i}"), &agent)
                })
            })
        })
        .collect();
    let mut per_op = Samples::new();
    let mut error = None;
    for t in threads {
        match t.join() {
            Ok(Ok(s)) => per_op.extend(s),
            Ok(Err(e)) => {
                error.get_or_insert(e);
            }
            Err(_) => {
                error.get_or_insert("a writer thread panicked".to_string());
            }
        }
    }
    let total = start.elapsed();
    Outcome {
        workload: NAMES[5],
        ok: error.is_none() && per_op.len() == 300,
        per_op,
        total,
        error,
    }
}

// ---- native ----

/// The domain natively: `maas_core::Core` over an in-memory journal.
pub type NativeCore = Core<MemoryJournal, FixedEnv>;

/// A fresh native core.
pub fn native_core() -> Result<NativeCore, String> {
    let mut core = Core::new(
        MemoryJournal::default(),
        FixedEnv::new(7),
        Limits::default(),
    );
    core.init(Limits::default()).map_err(|e| e.to_string())?;
    Ok(core)
}

/// The native backend; shared behind a lock so the concurrent workload can use it.
#[derive(Clone)]
pub struct Native(pub Arc<Mutex<NativeCore>>);

impl Native {
    fn with<T>(
        &self,
        f: impl FnOnce(&mut NativeCore) -> maas_core::Result<T>,
    ) -> Result<T, String> {
        let mut core = self
            .0
            .lock()
            .map_err(|_| "the native core lock is poisoned")?;
        f(&mut core).map_err(|e| e.to_string())
    }
}

const OP: Caller = Caller::Operator;

impl Backend for Native {
    fn floor(&mut self) -> Result<(), String> {
        self.with(|c| Ok(c.limits())).map(|_| ())
    }
    fn register(&mut self, id: &str, owner: &str) -> Result<(), String> {
        let req = RegistrationRequest::claude_code(id, owner);
        self.with(|c| c.register(&OP, &req)).map(|_| ())
    }
    fn create_pool(&mut self, id: &str, owner: &str) -> Result<(), String> {
        let req = PoolRequest {
            name: id.into(),
            owner_id: owner.into(),
            scope: Scope::Project,
            team: None,
            pool_id: Some(id.into()),
            metadata: None,
        };
        self.with(|c| c.create_pool(&OP, None, &req)).map(|_| ())
    }
    fn join(&mut self, pool: &str, agent: &str) -> Result<(), String> {
        self.with(|c| c.join_pool(&OP, pool, agent, Permission::Write))
            .map(|_| ())
    }
    fn store(&mut self, agent: &str, id: &str, text: &str) -> Result<(), String> {
        let req = StoreRequest {
            agent_id: agent.into(),
            content: text.into(),
            kind: MemoryKind::Note,
            tags: vec!["cache".into()],
            memory_id: Some(id.into()),
            pool_id: None,
            scope: None,
            ttl_seconds: None,
        };
        self.with(|c| c.store_memory(&OP, &req)).map(|_| ())
    }
    fn share(&mut self, pool: &str, memory: &str, agent: &str) -> Result<(), String> {
        self.with(|c| c.share(&OP, pool, memory, agent, Scope::Project))
            .map(|_| ())
    }
    fn initiate(&mut self, from: &str, to: &str, task: &str) -> Result<String, String> {
        let ctx = HandoffContext {
            task_description: task.into(),
            current_state: "{}".into(),
            relevant_memories: Vec::new(),
            relevant_files: vec!["src/api/auth.py".into()],
        };
        self.with(|c| c.initiate(&OP, from, to, &ctx, None))
            .map(|h| h.id)
    }
    fn accept(&mut self, handoff: &str, agent: &str) -> Result<(), String> {
        self.with(|c| c.accept(&OP, handoff, agent)).map(|_| ())
    }
    fn complete(&mut self, handoff: &str, agent: &str) -> Result<(), String> {
        self.with(|c| c.complete(&OP, handoff, agent, Some("{\"status\":\"success\"}")))
            .map(|_| ())
    }
    fn get_agent(&mut self, id: &str) -> Result<(), String> {
        self.with(|c| c.get_agent(&OP, id)).map(|_| ())
    }
    fn query_shared(&mut self, pool: &str, agent: &str) -> Result<usize, String> {
        let whole = PageRequest::first(MAX_PAGE);
        self.with(|c| c.query_shared(&OP, pool, agent, Scope::Global, &whole))
            .map(|page| page.items.len())
    }
}

// ---- the component ----

fn text(e: types::Error) -> String {
    e.message()
}

fn op() -> types::Caller {
    types::Caller::Operator
}

/// Component calls, either on a runtime owned by the caller or through the core thread
/// (as `maas serve` runs it, with group commit).
pub enum Component {
    /// A runtime called directly.
    Direct(Box<Runtime>),
    /// The core thread shared by many callers.
    Service(CoreService),
}

impl Component {
    fn call<T: Send + 'static>(
        &mut self,
        f: impl FnOnce(&mut Runtime) -> Result<T, types::Error> + Send + 'static,
    ) -> Result<T, String> {
        match self {
            Component::Direct(rt) => f(rt.as_mut()).map_err(text),
            Component::Service(s) => s.call_blocking(f).map_err(text),
        }
    }
}

impl Backend for Component {
    fn floor(&mut self) -> Result<(), String> {
        self.call(|rt| rt.call_plain(|c, s| c.maas_core_admin().call_current_limits(s)))
            .map(|_| ())
    }
    fn register(&mut self, id: &str, owner: &str) -> Result<(), String> {
        let req = agents::RegistrationRequest {
            agent_type: agents::AgentType::ClaudeCode,
            owner_id: owner.into(),
            agent_id: Some(id.into()),
            capabilities: None,
            metadata: None,
        };
        self.call(move |rt| rt.call(|c, s| c.maas_core_agents().call_register(s, &op(), &req)))
            .map(|_| ())
    }
    fn create_pool(&mut self, id: &str, owner: &str) -> Result<(), String> {
        let req = pools::PoolRequest {
            name: id.into(),
            owner_id: owner.into(),
            scope: types::Scope::Project,
            team: None,
            pool_id: Some(id.into()),
            metadata: None,
        };
        self.call(move |rt| rt.call(|c, s| c.maas_core_pools().call_create(s, &op(), None, &req)))
            .map(|_| ())
    }
    fn join(&mut self, pool: &str, agent: &str) -> Result<(), String> {
        let (pool, agent) = (pool.to_string(), agent.to_string());
        self.call(move |rt| {
            rt.call(|c, s| {
                c.maas_core_pools()
                    .call_join(s, &op(), &pool, &agent, types::Permission::Write)
            })
        })
        .map(|_| ())
    }
    fn store(&mut self, agent: &str, id: &str, text: &str) -> Result<(), String> {
        let req = memories::StoreRequest {
            agent_id: agent.into(),
            content: text.into(),
            kind: memories::MemoryKind::Note,
            tags: vec!["cache".into()],
            memory_id: Some(id.into()),
            pool_id: None,
            scope: None,
            ttl_seconds: None,
        };
        self.call(move |rt| {
            rt.call(|c, s| c.maas_core_memories().call_store_memory(s, &op(), &req))
        })
        .map(|_| ())
    }
    fn share(&mut self, pool: &str, memory: &str, agent: &str) -> Result<(), String> {
        let (pool, memory, agent) = (pool.to_string(), memory.to_string(), agent.to_string());
        self.call(move |rt| {
            rt.call(|c, s| {
                c.maas_core_pools().call_share(
                    s,
                    &op(),
                    &pool,
                    &memory,
                    &agent,
                    types::Scope::Project,
                )
            })
        })
        .map(|_| ())
    }
    fn initiate(&mut self, from: &str, to: &str, task: &str) -> Result<String, String> {
        let ctx = handoffs::HandoffContext {
            task_description: task.into(),
            current_state: "{}".into(),
            relevant_memories: Vec::new(),
            relevant_files: vec!["src/api/auth.py".into()],
        };
        let (from, to) = (from.to_string(), to.to_string());
        self.call(move |rt| {
            rt.call(|c, s| {
                c.maas_core_handoffs()
                    .call_initiate(s, &op(), &from, &to, &ctx, None)
            })
        })
        .map(|h| h.id)
    }
    fn accept(&mut self, handoff: &str, agent: &str) -> Result<(), String> {
        let (h, agent) = (handoff.to_string(), agent.to_string());
        self.call(move |rt| {
            rt.call(|c, s| c.maas_core_handoffs().call_accept(s, &op(), &h, &agent))
        })
        .map(|_| ())
    }
    fn complete(&mut self, handoff: &str, agent: &str) -> Result<(), String> {
        let (h, agent) = (handoff.to_string(), agent.to_string());
        self.call(move |rt| {
            rt.call(|c, s| {
                c.maas_core_handoffs().call_complete(
                    s,
                    &op(),
                    &h,
                    &agent,
                    Some("{\"status\":\"success\"}"),
                )
            })
        })
        .map(|_| ())
    }
    fn get_agent(&mut self, id: &str) -> Result<(), String> {
        let id = id.to_string();
        self.call(move |rt| rt.call(|c, s| c.maas_core_agents().call_get(s, &op(), &id)))
            .map(|_| ())
    }
    fn query_shared(&mut self, pool: &str, agent: &str) -> Result<usize, String> {
        let (pool, agent) = (pool.to_string(), agent.to_string());
        self.call(move |rt| {
            rt.call(|c, s| {
                c.maas_core_pools().call_query_shared(
                    s,
                    &op(),
                    &pool,
                    &agent,
                    types::Scope::Global,
                    Some(500),
                    None,
                )
            })
        })
        .map(|page| page.items.len())
    }
}
