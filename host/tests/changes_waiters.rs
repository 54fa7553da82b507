//! A thousand agents waiting for changes at once: each wakes with the change it may
//! see, every time, and while nothing changes they cost next to no CPU (reported, not
//! asserted).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use maas_host::journal::MemoryJournal;
use maas_host::ops::changes::{self, WaitForChanges};
use maas_host::ops::{self, Op};
use maas_host::service::CoreService;
use maas_host::{CoreImage, Runtime, RuntimeOptions, types};
use serde_json::{Value, json};
use std::time::Duration;

const WAITERS: usize = 1000;
const WRITES: usize = 3;

async fn run<O: Op + serde::de::DeserializeOwned>(core: &CoreService, args: Value) {
    let mut op: O = serde_json::from_value(args).unwrap();
    core.call(move |rt| ops::invoke(&mut op, rt, &types::Caller::Operator).map(drop))
        .await
        .unwrap();
}

/// CPU time of this process so far (user + system), from /proc.
fn cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let f: Vec<u64> = after_name
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    Duration::from_millis((f.get(11).unwrap_or(&0) + f.get(12).unwrap_or(&0)) * 10)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_waiters_wake_with_each_write_and_idle_at_no_cost() {
    let core = CoreService::spawn(|| {
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
    })
    .unwrap();
    let register = |id: &str, owner: &str| json!({"agent_type": "claude_code", "owner_id": owner, "agent_id": id});
    run::<ops::agents::RegisterAgent>(&core, register("writer", "u1")).await;
    run::<ops::agents::RegisterAgent>(&core, register("outsider", "u9")).await;
    run::<ops::pools::CreatePool>(
        &core,
        json!({"pool_id": "p", "name": "p", "owner_id": "u1", "scope": "project"}),
    )
    .await;
    run::<ops::pools::JoinPool>(
        &core,
        json!({"pool_id": "p", "agent_id": "writer", "permission": "write"}),
    )
    .await;
    for i in 0..WAITERS {
        run::<ops::agents::RegisterAgent>(&core, register(&format!("w{i}"), "u2")).await;
        run::<ops::pools::JoinPool>(
            &core,
            json!({"pool_id": "p", "agent_id": format!("w{i}"), "permission": "read"}),
        )
        .await;
    }
    for write in 0..WRITES {
        let mut waiters = Vec::new();
        for i in 0..=WAITERS {
            // The last waiter is in no pool: it must see nothing.
            let id = if i == WAITERS {
                "outsider".to_string()
            } else {
                format!("w{i}")
            };
            let core = core.clone();
            let wait = WaitForChanges {
                timeout_seconds: Some(if i == WAITERS { 3 } else { 30 }),
                ..WaitForChanges::default()
            };
            waiters.push(tokio::spawn(async move {
                changes::wait(&core, wait, types::Caller::Agent(id)).await
            }));
        }
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let before = cpu();
        tokio::time::sleep(Duration::from_secs(1)).await;
        let idle = cpu() - before;
        eprintln!(
            "{WAITERS} parked waiters: {} ms of CPU in 1 s without writes",
            idle.as_millis()
        );
        let memory = format!("m{write}");
        run::<ops::memories::StoreMemory>(&core, json!({"agent_id": "writer", "memory_id": memory, "content": "the deploy moved", "memory_type": "note", "pool_id": "p"})).await;
        let outsider = waiters.pop().unwrap().await.unwrap().unwrap();
        assert!(outsider.changes.is_empty(), "{:?}", outsider.changes);
        for w in waiters {
            let page = w.await.unwrap().unwrap();
            assert_eq!(page.changes.len(), 1);
            assert_eq!(page.changes[0].kind, "memory.shared");
            assert_eq!(page.changes[0].object_id, memory);
        }
    }
}
