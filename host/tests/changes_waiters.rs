//! A thousand agents waiting for changes at once: each wakes with the change it may
//! see, every time, and while nothing changes they cost next to no CPU (reported, not
//! asserted). A waiter on an idle server wakes when another process sets aside entries
//! it had seen.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod temp_support;

use maas_host::journal::{JournalBackend, MemoryJournal, SqliteJournal};
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_servers_waiter_wakes_when_another_process_sets_entries_it_saw_aside() {
    let dir = temp_support::TempDir::new("set-aside-waiter");
    let path = dir.0.join("journal.db");
    let journal = SqliteJournal::open(&path).unwrap();
    let core = CoreService::spawn(move || {
        Runtime::new(
            CoreImage::shared()?,
            Box::new(journal),
            RuntimeOptions::default(),
        )
    })
    .unwrap();
    for id in ["a1", "a2", "a3"] {
        run::<ops::agents::RegisterAgent>(
            &core,
            json!({"agent_type": "claude_code", "owner_id": "u1", "agent_id": id}),
        )
        .await;
    }
    let head = core.call(|rt| Ok(rt.appended())).await.unwrap();
    // A waiter from the head, on a server no call comes to.
    let waiter = {
        let core = core.clone();
        let wait = WaitForChanges {
            timeout_seconds: Some(30),
            ..WaitForChanges::default()
        };
        tokio::spawn(async move { changes::wait(&core, wait, types::Caller::Operator).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Another process finds the last entry damaged and sets it aside.
    let mut other = SqliteJournal::open(&path).unwrap();
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute("UPDATE journal SET sum = x'00' WHERE seq = ?1", [head])
        .unwrap();
    other.recover_tail(0).unwrap();
    assert_eq!(other.head(), Ok(head - 1));
    // The waiter wakes (not at its timeout, with an empty page) and its next read shows
    // the journal as it is now: its position is past the journal's end.
    let woken = waiter.await.unwrap();
    assert!(
        matches!(&woken, Err(e) if e.message().contains("ahead of the journal")),
        "{woken:?}"
    );
    // The core started again without a call, and the next read is the journal's, not a
    // refusal to retry.
    assert_eq!(core.call(|rt| Ok(rt.rewrites())).await.unwrap(), 1);
    let info = |id: &'static str| {
        let core = core.clone();
        async move {
            let mut op: ops::agents::GetAgentInfo =
                serde_json::from_value(json!({"agent_id": id})).unwrap();
            core.call(move |rt| ops::invoke(&mut op, rt, &types::Caller::Operator).map(drop))
                .await
        }
    };
    assert!(info("a2").await.is_ok());
    assert!(
        matches!(info("a3").await, Err(types::Error::NotFound(_))),
        "set aside"
    );
}
