//! What an audited read costs against an empty call into the component, on the memory
//! journal and on a SQLite journal (each call synced, and with group commit), so a
//! profiler (`perf record -g`, with `MAAS_PERF_MAP=1` for the core's frames) names the
//! functions that dominate.
//!
//! `cargo run --release -p maas-host --example read_cost -- [memory|sqlite|group] [CALLS] [both|get|floor]`
//!
//! Registers 1,000 agents, then makes CALLS (default 200,000) `agents.get` calls in a
//! scattered order and as many `admin.current-limits` calls, and prints the median of
//! batches of 1,000 calls for each, and their ratio. `get` or `floor` makes only those
//! calls: under `valgrind --tool=callgrind`, the difference in instructions between two
//! values of CALLS divided by the difference in calls is what one call costs, a figure
//! the load of the machine does not move. `MAAS_READ_COST_WASM=PATH` runs an
//! unstripped build of the component instead of the one built with the host.

use maas_host::journal::{JournalBackend, MemoryJournal, SqliteJournal};
use maas_host::{CoreImage, Runtime, RuntimeOptions, agents, types};
use std::time::{Duration, Instant};

const AGENTS: usize = 1000;
const BATCH: usize = 1000;

fn median(calls: usize, mut f: impl FnMut(usize)) -> Duration {
    let mut samples: Vec<Duration> = (0..calls / BATCH)
        .map(|b| {
            let start = Instant::now();
            for i in 0..BATCH {
                f(b * BATCH + i);
            }
            start.elapsed() / u32::try_from(BATCH).unwrap_or(1)
        })
        .collect();
    samples.sort();
    samples.get(samples.len() / 2).copied().unwrap_or_default()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mode = std::env::args().nth(1).unwrap_or_else(|| "memory".into());
    let calls: usize = std::env::args()
        .nth(2)
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(200_000);
    let only = std::env::args().nth(3).unwrap_or_else(|| "both".into());
    let (floor_calls, get_calls) = match only.as_str() {
        "both" => (calls, calls),
        "get" => (0, calls),
        "floor" => (calls, 0),
        other => return Err(format!("unknown selection {other}: both, get or floor").into()),
    };
    let dir = std::env::temp_dir().join(format!("maas-read-cost-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let (journal, group_commit): (Box<dyn JournalBackend>, bool) = match mode.as_str() {
        "memory" => (Box::new(MemoryJournal::new()), false),
        "sqlite" => (
            Box::new(SqliteJournal::open(dir.join("journal.db"))?),
            false,
        ),
        "group" => (Box::new(SqliteJournal::open(dir.join("journal.db"))?), true),
        other => return Err(format!("unknown mode {other}: memory, sqlite or group").into()),
    };
    let options = RuntimeOptions {
        group_commit,
        ..RuntimeOptions::default()
    };
    // An unstripped build of the component names its functions in a profile.
    let image = match std::env::var_os("MAAS_READ_COST_WASM") {
        Some(path) => std::sync::Arc::new(CoreImage::load(std::path::Path::new(&path))?),
        None => CoreImage::shared()?,
    };
    let mut rt = Runtime::new(image, journal, options)?;
    let op = types::Caller::Operator;
    for i in 0..AGENTS {
        let req = agents::RegistrationRequest {
            agent_type: agents::AgentType::ClaudeCode,
            owner_id: format!("owner-{}", i % 10),
            agent_id: Some(format!("a{i}")),
            capabilities: None,
            metadata: None,
        };
        rt.call(|c, s| c.maas_core_agents().call_register(s, &op, &req))?;
    }
    if group_commit {
        rt.sync_journal()?;
    }
    let ids: Vec<String> = (0..AGENTS)
        .map(|i| format!("a{}", (i * 617) % AGENTS))
        .collect();
    let mut failed = 0usize;
    let floor = median(floor_calls, |_| {
        if rt
            .call_plain(|c, s| c.maas_core_admin().call_current_limits(s))
            .is_err()
        {
            failed += 1;
        }
        if group_commit {
            let _ = rt.sync_journal();
        }
    });
    let get = median(get_calls, |i| {
        let id = ids.get(i % AGENTS).map(String::as_str).unwrap_or("a0");
        if rt
            .call(|c, s| c.maas_core_agents().call_get(s, &op, id))
            .is_err()
        {
            failed += 1;
        }
        if group_commit {
            let _ = rt.sync_journal();
        }
    });
    rt.shutdown()?;
    drop(rt);
    std::fs::remove_dir_all(&dir).ok();
    println!(
        "{mode}: empty call {:.3} us, agents.get {:.3} us, ratio {:.2} ({failed} failed)",
        floor.as_secs_f64() * 1e6,
        get.as_secs_f64() * 1e6,
        get.as_secs_f64() / floor.as_secs_f64().max(1e-12)
    );
    Ok(())
}
