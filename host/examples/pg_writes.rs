//! Durable writes per second on one PostgreSQL journal, with each call's p50/p99: one
//! writer committing each change, then 1, 16 and W writers on one host sharing commits
//! (group commit, as `maas serve` runs), then 1 and W writers split over two hosts on the
//! same database; and the delay from a write acknowledged on one host to the other host
//! learning of it (its notification), p50/p99. (A call on the other host sees the write
//! at once: every call reads the journal head first.)
//!
//! `cargo run --release -p maas-host --example pg_writes -- postgres://… [seconds] [writers]`
//! (an empty database: the schema is created; each run registers fresh agents).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use maas_host::journal::PostgresJournal;
use maas_host::ops::agents::RegisterAgent;
use maas_host::ops::memories::StoreMemory;
use maas_host::ops::{self};
use maas_host::service::CoreService;
use maas_host::{CoreImage, Runtime, RuntimeOptions, types};
use serde_json::json;
use std::time::{Duration, Instant};

fn host(url: &str, group_commit: bool) -> Result<CoreService, types::Error> {
    let url = url.to_string();
    CoreService::spawn(move || {
        let journal =
            PostgresJournal::connect(&url).map_err(|e| types::Error::Unavailable(e.to_string()))?;
        Runtime::new(
            CoreImage::shared()?,
            Box::new(journal),
            RuntimeOptions {
                group_commit,
                snapshot_every: 0,
                ..RuntimeOptions::default()
            },
        )
    })
}

fn register(core: &CoreService, id: &str) -> Result<(), types::Error> {
    let mut op: RegisterAgent = serde_json::from_value(
        json!({"agent_id": id, "agent_type": "claude_code", "owner_id": "bench"}),
    )
    .map_err(|e| types::Error::Unavailable(e.to_string()))?;
    core.call_blocking(move |rt| ops::invoke(&mut op, rt, &types::Caller::Operator).map(drop))
}

fn store(core: &CoreService, agent: &str, i: usize) -> Result<(), types::Error> {
    let mut op: StoreMemory = serde_json::from_value(json!({
        "agent_id": agent,
        "content": format!("note {i} from {agent}: the build cache lives in target"),
        "memory_type": "fact",
    }))
    .map_err(|e| types::Error::Unavailable(e.to_string()))?;
    core.call_blocking(move |rt| ops::invoke(&mut op, rt, &types::Caller::Operator).map(drop))
}

/// What a run measured.
struct Figure {
    per_second: f64,
    p50: Duration,
    p99: Duration,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Writers spread over `hosts`, each storing memories for `duration`.
fn run(hosts: &[CoreService], writers: usize, duration: Duration, tag: &str) -> Figure {
    let agents: Vec<String> = (0..writers).map(|w| format!("{tag}-{w}")).collect();
    for a in &agents {
        register(&hosts[0], a).expect("registers");
    }
    let start = Instant::now();
    let threads: Vec<_> = agents
        .into_iter()
        .enumerate()
        .map(|(w, agent)| {
            let core = hosts[w % hosts.len()].clone();
            std::thread::spawn(move || {
                let mut took = Vec::new();
                while start.elapsed() < duration {
                    let t = Instant::now();
                    if store(&core, &agent, took.len()).is_err() {
                        break;
                    }
                    took.push(t.elapsed());
                }
                took
            })
        })
        .collect();
    let mut took: Vec<Duration> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap_or_default())
        .collect();
    let per_second = took.len() as f64 / start.elapsed().as_secs_f64();
    took.sort();
    Figure {
        per_second,
        p50: percentile(&took, 0.5),
        p99: percentile(&took, 0.99),
    }
}

fn show(what: &str, f: &Figure, one: f64) {
    println!(
        "{what:<40} {:>8.0} changes/s ({:>5.1}x)  p50 {:>7.2} ms  p99 {:>7.2} ms",
        f.per_second,
        f.per_second / one,
        f.p50.as_secs_f64() * 1e3,
        f.p99.as_secs_f64() * 1e3
    );
}

/// Delay from a write acknowledged on `a` to `b` being notified of it, `n` times.
fn notify_delays(url: &str, a: &CoreService, b: &CoreService, n: usize) -> Vec<Duration> {
    let b2 = b.clone();
    maas_host::journal::postgres::listen(url, move |head| b2.head_moved(head)).expect("listens");
    std::thread::sleep(Duration::from_millis(300));
    let mut heads = b.heads();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("tokio");
    let agent = format!("vis-{}", std::process::id());
    register(a, &agent).expect("registers");
    let mut delays = Vec::new();
    for i in 0..n {
        store(a, &agent, i).expect("stores");
        let acked = Instant::now();
        let head = a.call_blocking(|rt| Ok(rt.appended())).expect("head");
        rt.block_on(async {
            let _ =
                tokio::time::timeout(Duration::from_secs(5), heads.wait_for(|h| *h >= head)).await;
        });
        delays.push(acked.elapsed());
    }
    delays.sort();
    delays
}

fn main() {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .expect("usage: pg_writes postgres://… [seconds] [writers]");
    let secs: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(5);
    let writers: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(64);
    let duration = Duration::from_secs(secs);
    let run_id = std::process::id();

    let single = host(&url, false).expect("host starts");
    let one = run(&[single], 1, duration, &format!("one-{run_id}"));
    show("1 writer, a commit per change", &one, one.per_second);
    let base = one.per_second;

    let a = host(&url, true).expect("host starts");
    for w in [1, 16, writers] {
        let f = run(
            std::slice::from_ref(&a),
            w,
            duration,
            &format!("g{w}-{run_id}"),
        );
        show(&format!("{w} writers, one host, group commit"), &f, base);
    }
    let b = host(&url, true).expect("host starts");
    let hosts = [a.clone(), b.clone()];
    for w in [2, writers] {
        let f = run(&hosts, w, duration, &format!("two{w}-{run_id}"));
        show(&format!("{w} writers over two hosts"), &f, base);
    }
    let delays = notify_delays(&url, &a, &b, 200);
    println!(
        "write on host A to host B notified (200 writes): p50 {:.2} ms, p99 {:.2} ms",
        percentile(&delays, 0.5).as_secs_f64() * 1e3,
        percentile(&delays, 0.99).as_secs_f64() * 1e3
    );
}
