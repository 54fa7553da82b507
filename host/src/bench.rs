//! `maas bench`: what a call costs through the component against the same work done by
//! the domain natively in this process, and against the empty-call floor. Figures are
//! medians of batches; nothing here asserts a timing.
//!
//! `maas bench --quick` / `--full` ([`suite`]) measures everything `BENCHMARKS.md` holds;
//! [`corpus`] generates the synthetic histories it runs on.

#[cfg(feature = "bench-mcp")]
pub mod clients;
pub mod corpus;
pub mod documents;
pub mod durable;
#[cfg(feature = "bench-mcp")]
pub mod mcp;
pub mod process;
pub mod report;
pub mod scale;
pub mod stats;
pub mod suite;
pub mod targets;
pub mod workloads;

use crate::bindings::{agents, memories, types};
use crate::journal::{JournalBackend, MemoryJournal, SqliteJournal};
use crate::{CoreImage, Runtime, RuntimeOptions};
use maas_core::agents::RegistrationRequest;
use maas_core::memories::StoreRequest;
use maas_core::model::{AgentType, MemoryKind};
use maas_core::{Caller, Core, Env, Limits};
use std::time::{Duration, Instant};

/// One measured operation.
#[derive(Debug, Clone)]
pub struct Figure {
    /// What was measured.
    pub name: String,
    /// Median time per operation through the component.
    pub component: Duration,
    /// Median time per operation natively (when there is a native twin).
    pub native: Option<Duration>,
}

/// Time and randomness for the native baseline.
struct NativeEnv(u64);

impl Env for NativeEnv {
    fn now_ms(&mut self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(0))
            .unwrap_or(0)
    }
    fn fill_random(&mut self, buf: &mut [u8]) {
        for b in buf {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            *b = (self.0 & 0xff) as u8;
        }
    }
}

/// The median of `rounds` batches of `batch` calls of `f`, per call.
fn median(rounds: usize, batch: usize, mut f: impl FnMut(usize)) -> Duration {
    let mut samples: Vec<Duration> = (0..rounds)
        .map(|r| {
            let start = Instant::now();
            for i in 0..batch {
                f(r * batch + i);
            }
            start.elapsed() / u32::try_from(batch.max(1)).unwrap_or(1)
        })
        .collect();
    samples.sort();
    samples.get(samples.len() / 2).copied().unwrap_or_default()
}

fn op() -> types::Caller {
    types::Caller::Operator
}

/// Registers agent `id` of owner `bench`, acting as the operator.
pub fn register(rt: &mut Runtime, id: &str) -> Result<(), types::Error> {
    let req = agents::RegistrationRequest {
        agent_type: agents::AgentType::ClaudeCode,
        owner_id: "bench".into(),
        agent_id: Some(id.into()),
        capabilities: None,
        metadata: None,
    };
    rt.call(|c, s| c.maas_core_agents().call_register(s, &op(), &req))
        .map(|_| ())
}

/// Stores note `i` (a line about a session cache) as `agent`, acting as the operator: the
/// write the benchmarks and the cost examples time.
pub fn store(rt: &mut Runtime, agent: &str, i: usize) -> Result<(), types::Error> {
    let req = memories::StoreRequest {
        agent_id: agent.into(),
        content: format!("note {i}: the session cache uses redis with key userSession_{i}"),
        kind: memories::MemoryKind::Note,
        tags: vec!["cache".into()],
        memory_id: None,
        pool_id: None,
        scope: None,
        ttl_seconds: None,
    };
    rt.call(|c, s| c.maas_core_memories().call_store_memory(s, &op(), &req))
        .map(|_| ())
}

fn native_core() -> Result<Core<maas_core::MemoryJournal, NativeEnv>, maas_core::Error> {
    let mut core = Core::new(
        maas_core::MemoryJournal::default(),
        NativeEnv(0x9e37_79b9),
        Limits::default(),
    );
    core.init(Limits::default())?;
    core.register(
        &Caller::Operator,
        &RegistrationRequest {
            agent_type: AgentType::ClaudeCode,
            owner_id: "bench".into(),
            agent_id: Some("a".into()),
            capabilities: None,
            metadata: None,
        },
    )?;
    Ok(core)
}

fn native_store(core: &mut Core<maas_core::MemoryJournal, NativeEnv>, i: usize) {
    let _ = core.store_memory(
        &Caller::Operator,
        &StoreRequest {
            agent_id: "a".into(),
            content: format!("note {i}: the session cache uses redis with key userSession_{i}"),
            kind: MemoryKind::Note,
            tags: vec!["cache".into()],
            memory_id: None,
            pool_id: None,
            scope: None,
            ttl_seconds: None,
        },
    );
}

/// Runs the in-memory figures: component against native, and the empty-call floor.
pub fn in_memory(rounds: usize) -> Result<Vec<Figure>, types::Error> {
    let image = CoreImage::shared()?;
    let mut rt = Runtime::new(
        image,
        Box::new(MemoryJournal::new()),
        RuntimeOptions::default(),
    )?;
    register(&mut rt, "a")?;
    let mut native = native_core().map_err(|e| types::Error::Unavailable(e.to_string()))?;
    let mut figures = Vec::new();

    let floor = median(rounds, 2000, |_| {
        let _ = rt.call_plain(|c, s| c.maas_core_admin().call_current_limits(s));
    });
    figures.push(Figure {
        name: "empty call (admin.current-limits)".into(),
        component: floor,
        native: None,
    });

    let suspicious = median(rounds, 500, |_| {
        let _ = rt.call(|c, s| {
            c.maas_core_security()
                .call_is_suspicious(s, "fetch the user by id and cache it")
        });
    });
    let suspicious_native = median(rounds, 500, |_| {
        let _ = maas_core::security::is_suspicious("fetch the user by id and cache it");
    });
    figures.push(Figure {
        name: "security.is-suspicious (short text)".into(),
        component: suspicious,
        native: Some(suspicious_native),
    });

    let get = median(rounds, 500, |_| {
        let _ = rt.call(|c, s| c.maas_core_agents().call_get(s, &op(), "a"));
    });
    let get_native = median(rounds, 500, |_| {
        let _ = native.get_agent(&Caller::Operator, "a");
    });
    figures.push(Figure {
        name: "agents.get (audited read)".into(),
        component: get,
        native: Some(get_native),
    });

    let stored = median(rounds, 200, |i| {
        let _ = store(&mut rt, "a", i);
    });
    let stored_native = median(rounds, 200, |i| native_store(&mut native, i));
    figures.push(Figure {
        name: "memories.store (validated write)".into(),
        component: stored,
        native: Some(stored_native),
    });

    let search = median(rounds, 50, |_| {
        let _ = rt.call(|c, s| {
            c.maas_core_memories()
                .call_search(s, &op(), "a", "redis session cache", 10)
        });
    });
    let search_native = median(rounds, 50, |_| {
        let _ = native.search_memories(&Caller::Operator, "a", "redis session cache", 10);
    });
    let n = rounds * 200;
    figures.push(Figure {
        name: format!("memories.search over {n} memories, top 10"),
        component: search,
        native: Some(search_native),
    });
    Ok(figures)
}

/// Durable writes per second on a SQLite journal in `dir`, one writer.
pub fn sqlite_writes(dir: &std::path::Path, count: usize) -> Result<f64, types::Error> {
    let path = dir.join("bench-journal.db");
    let _ = std::fs::remove_file(&path);
    let journal: Box<dyn JournalBackend> =
        Box::new(SqliteJournal::open(&path).map_err(|e| types::Error::Unavailable(e.to_string()))?);
    let mut rt = Runtime::new(CoreImage::shared()?, journal, RuntimeOptions::default())?;
    register(&mut rt, "a")?;
    let start = Instant::now();
    for i in 0..count {
        store(&mut rt, "a", i)?;
    }
    let secs = start.elapsed().as_secs_f64();
    let _ = std::fs::remove_file(&path);
    Ok(count as f64 / secs.max(f64::EPSILON))
}

/// Formats the figures as a table with ratios to native and to the floor.
pub fn report(figures: &[Figure]) -> String {
    let floor = figures.first().map(|f| f.component).unwrap_or_default();
    let mut out = format!(
        "{:<44} {:>12} {:>12} {:>10} {:>10}\n",
        "operation", "component", "native", "x native", "x floor"
    );
    for f in figures {
        let native = f
            .native
            .map(|n| format!("{n:.2?}"))
            .unwrap_or_else(|| "-".into());
        let ratio = f
            .native
            .filter(|n| !n.is_zero())
            .map(|n| format!("{:.1}", f.component.as_secs_f64() / n.as_secs_f64()))
            .unwrap_or_else(|| "-".into());
        let over_floor = if floor.is_zero() {
            "-".to_string()
        } else {
            format!("{:.1}", f.component.as_secs_f64() / floor.as_secs_f64())
        };
        out.push_str(&format!(
            "{:<44} {:>12} {:>12} {:>10} {:>10}\n",
            f.name,
            format!("{:.2?}", f.component),
            native,
            ratio,
            over_floor
        ));
    }
    out
}
