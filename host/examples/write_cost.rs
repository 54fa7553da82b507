//! What a durable change costs on the core thread with group commit, as `maas serve` runs
//! it and as `maas bench --durable` measures it: WRITERS threads store memories through
//! one core service on a SQLite journal until WRITES changes were acknowledged, so a
//! profiler (`perf record -g`, with `MAAS_PERF_MAP=1` for the core's frames; the core
//! thread is named `maas-core`) or `valgrind --tool=callgrind` (a fixed amount of work)
//! names the functions that dominate.
//!
//! `cargo run --release -p maas-host --example write_cost -- [WRITERS] [WRITES]`
//!
//! Defaults: 64 writers, 20,000 writes (after one write each to warm up; with
//! `perf record -D`, skip the set-up). WRITERS 0 is one writer calling the runtime on
//! its own thread, each change synced before the call returns (no group commit), as
//! `maas bench --durable` measures its baseline and a CLI command writes. Prints the
//! writes per second, the writes per sync, and the core thread's CPU time per write. `MAAS_READ_COST_WASM=PATH` runs an
//! unstripped build of the component instead of the one built with the host.

use maas_host::bench::{register, store};
use maas_host::journal::SqliteJournal;
use maas_host::service::CoreService;
use maas_host::{CoreImage, Runtime, RuntimeOptions, types};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

/// CPU time of the calling thread.
fn thread_cpu() -> std::time::Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    // utime and stime are fields 14 and 15, counted after the command name's `)`.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks: u64 = fields
        .get(11..13)
        .map(|f| f.iter().filter_map(|t| t.parse::<u64>().ok()).sum())
        .unwrap_or(0);
    std::time::Duration::from_millis(ticks * 10)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let writers: usize = std::env::args()
        .nth(1)
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(64);
    let writes: usize = std::env::args()
        .nth(2)
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(20_000);
    let dir = std::env::current_dir()?.join(format!("maas-write-cost-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("journal.db");
    let image = match std::env::var_os("MAAS_READ_COST_WASM") {
        Some(p) => Arc::new(CoreImage::load(std::path::Path::new(&p))?),
        None => CoreImage::shared()?,
    };
    if writers == 0 {
        let journal = SqliteJournal::open(&path)?;
        let options = RuntimeOptions {
            snapshot_every: 0,
            ..RuntimeOptions::default()
        };
        let mut rt = Runtime::new(image, Box::new(journal), options)?;
        register(&mut rt, "w-0")?;
        store(&mut rt, "w-0", usize::MAX)?;
        let cpu_before = thread_cpu();
        let start = Instant::now();
        for i in 0..writes {
            store(&mut rt, "w-0", i)?;
        }
        let elapsed = start.elapsed();
        let cpu = thread_cpu() - cpu_before;
        drop(rt);
        std::fs::remove_dir_all(&dir).ok();
        println!(
            "1 writer, each change synced: {writes} writes in {:.2} s = {:.0}/s, {:.1} us per write, CPU {:.1} us per write",
            elapsed.as_secs_f64(),
            writes as f64 / elapsed.as_secs_f64().max(f64::EPSILON),
            elapsed.as_secs_f64() * 1e6 / writes.max(1) as f64,
            cpu.as_secs_f64() * 1e6 / writes.max(1) as f64
        );
        return Ok(());
    }
    let options = RuntimeOptions {
        snapshot_every: 0,
        group_commit: true,
        ..RuntimeOptions::default()
    };
    let core = CoreService::spawn(move || {
        let journal =
            SqliteJournal::open(&path).map_err(|e| types::Error::Unavailable(e.to_string()))?;
        Runtime::new(image, Box::new(journal), options)
    })?;
    // Registered, and one change each before the clock starts: the write gate builds its
    // automata and compiles its rules on first use.
    for w in 0..writers {
        core.call_blocking(move |rt| register(rt, &format!("w-{w}")))?;
        core.call_blocking(move |rt| store(rt, &format!("w-{w}"), usize::MAX))?;
    }
    let (syncs_before, cpu_before) = core.call_blocking(|rt| Ok((rt.syncs(), thread_cpu())))?;
    let left = Arc::new(AtomicUsize::new(writes));
    let start = Instant::now();
    let threads: Vec<_> = (0..writers)
        .map(|w| {
            let core = core.clone();
            let left = left.clone();
            std::thread::spawn(move || {
                let agent = format!("w-{w}");
                let mut i = 0usize;
                while left
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok()
                {
                    let agent = agent.clone();
                    if core.call_blocking(move |rt| store(rt, &agent, i)).is_err() {
                        break;
                    }
                    i += 1;
                }
                i
            })
        })
        .collect();
    let done: usize = threads.into_iter().map(|t| t.join().unwrap_or(0)).sum();
    let elapsed = start.elapsed();
    let (syncs, cpu) = core.call_blocking(|rt| Ok((rt.syncs(), thread_cpu())))?;
    drop(core);
    std::fs::remove_dir_all(&dir).ok();
    let done_f = done.max(1) as f64;
    println!(
        "{writers} writers: {done} writes in {:.2} s = {:.0}/s, {:.1} writes per sync, core thread CPU {:.1} us per write",
        elapsed.as_secs_f64(),
        done as f64 / elapsed.as_secs_f64().max(f64::EPSILON),
        done as f64 / (syncs - syncs_before).max(1) as f64,
        (cpu - cpu_before).as_secs_f64() * 1e6 / done_f
    );
    Ok(())
}
