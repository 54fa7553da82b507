//! How long after a write its waiters wake, and what idle waiters cost.
//!
//! `cargo run --release -p maas-host --example wake_delay -- [ROUNDS]`
//!
//! For 1, 100 and 1,000 waiters (agents of one pool, each in `wait_for_changes` on the
//! core service, as the MCP tool runs it), a writer stores a memory shared into the pool;
//! every waiter's delay from the write's call to its own answer is recorded, over
//! ROUNDS writes (default 20). Prints p50 and p99 of the delays, and the process's CPU
//! time over one idle second with the waiters parked.

use maas_host::journal::MemoryJournal;
use maas_host::ops::changes::{self, WaitForChanges};
use maas_host::ops::{self, Op};
use maas_host::service::CoreService;
use maas_host::{CoreImage, Runtime, RuntimeOptions, types};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// CPU time (user + system) of this process so far.
fn cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // Fields 14 and 15 of the line, counted after the command name.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

async fn run<O: Op + DeserializeOwned>(core: &CoreService, caller: types::Caller, args: Value) {
    let mut op: O = match serde_json::from_value(args) {
        Ok(op) => op,
        Err(e) => panic!("{}: {e}", O::TOOL),
    };
    if let Err(e) = core
        .call(move |rt| ops::invoke(&mut op, rt, &caller).map(drop))
        .await
    {
        panic!("{}: {e:?}", O::TOOL);
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or_default()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(20);
    let op = types::Caller::Operator;
    for waiters in [1usize, 100, 1000] {
        let core = match CoreService::spawn(|| {
            Runtime::new(
                CoreImage::shared()?,
                Box::new(MemoryJournal::new()),
                RuntimeOptions {
                    // The writer and a thousand waiters in one pool.
                    limits: maas_host::admin::Limits {
                        members_per_pool: 2_000,
                        ..maas_host::default_limits()
                    },
                    ..RuntimeOptions::default()
                },
            )
        }) {
            Ok(core) => core,
            Err(e) => panic!("core: {e:?}"),
        };
        let register =
            |id: String| json!({"agent_type": "claude_code", "owner_id": "u1", "agent_id": id});
        run::<ops::agents::RegisterAgent>(&core, op.clone(), register("writer".into())).await;
        run::<ops::pools::CreatePool>(
            &core,
            op.clone(),
            json!({"pool_id": "p", "name": "p", "owner_id": "u1", "scope": "project"}),
        )
        .await;
        run::<ops::pools::JoinPool>(
            &core,
            op.clone(),
            json!({"pool_id": "p", "agent_id": "writer", "permission": "write"}),
        )
        .await;
        for i in 0..waiters {
            run::<ops::agents::RegisterAgent>(&core, op.clone(), register(format!("w{i}"))).await;
            run::<ops::pools::JoinPool>(
                &core,
                op.clone(),
                json!({"pool_id": "p", "agent_id": format!("w{i}"), "permission": "read"}),
            )
            .await;
        }
        let mut delays = Vec::new();
        let mut idle_cpu = Duration::ZERO;
        for round in 0..rounds {
            let mut tasks = Vec::with_capacity(waiters);
            for i in 0..waiters {
                let core = core.clone();
                let wait = WaitForChanges {
                    agent_id: Some(format!("w{i}")),
                    timeout_seconds: Some(30),
                    ..WaitForChanges::default()
                };
                let caller = types::Caller::Agent(format!("w{i}"));
                tasks.push(tokio::spawn(async move {
                    let page = changes::wait(&core, wait, caller).await;
                    (page.map(|p| p.changes.len()), Instant::now())
                }));
            }
            // Every waiter has read and parked before the write.
            tokio::time::sleep(Duration::from_millis(if waiters > 100 {
                1500
            } else {
                200
            }))
            .await;
            if round == 0 {
                let before = cpu();
                tokio::time::sleep(Duration::from_secs(1)).await;
                idle_cpu = cpu() - before;
            }
            let args = json!({"agent_id": "writer", "memory_id": format!("m{round}"), "content": format!("note {round}"), "memory_type": "note", "pool_id": "p"});
            let written = Instant::now();
            run::<ops::memories::StoreMemory>(&core, op.clone(), args).await;
            for task in tasks {
                match task.await {
                    Ok((Ok(1), woke)) => delays.push(woke.saturating_duration_since(written)),
                    Ok((other, _)) => panic!("a waiter answered {other:?}"),
                    Err(e) => panic!("waiter: {e}"),
                }
            }
        }
        delays.sort();
        println!(
            "{waiters:>5} waiters: wake delay p50 {:>9.3} ms, p99 {:>9.3} ms over {} wake-ups; CPU over 1 s idle with them parked: {} ms",
            percentile(&delays, 0.5).as_secs_f64() * 1e3,
            percentile(&delays, 0.99).as_secs_f64() * 1e3,
            delays.len(),
            idle_cpu.as_millis(),
        );
    }
}
