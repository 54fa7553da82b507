//! Group commit: concurrent writers through one core service share syncs, and every
//! change they were told succeeded is in the journal when it is opened again.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod failing_support;

use failing_support::failing_syncs;
use maas_host::journal::{MemoryJournal, SqliteJournal};
use maas_host::service::CoreService;
use maas_host::{CoreImage, Runtime, RuntimeOptions, agents, memories, types};

const WRITERS: usize = 8;
const EACH: usize = 25;

fn options(group_commit: bool) -> RuntimeOptions {
    RuntimeOptions {
        group_commit,
        ..RuntimeOptions::default()
    }
}

fn open(path: &std::path::Path, group_commit: bool) -> Result<Runtime, types::Error> {
    let journal =
        SqliteJournal::open(path).map_err(|e| types::Error::Unavailable(e.to_string()))?;
    Runtime::new(
        CoreImage::shared()?,
        Box::new(journal),
        options(group_commit),
    )
}

#[test]
fn concurrent_writers_share_syncs_and_every_acknowledged_change_is_kept() {
    let dir = std::env::temp_dir().join(format!("maas-group-commit-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("journal.db");
    let p = path.clone();
    let core = CoreService::spawn(move || open(&p, true)).unwrap();
    let req = agents::RegistrationRequest {
        agent_type: agents::AgentType::ClaudeCode,
        owner_id: "u-1".into(),
        agent_id: Some("writer".into()),
        capabilities: None,
        metadata: None,
    };
    core.call_blocking(move |rt| {
        rt.call(|c, s| {
            c.maas_core_agents()
                .call_register(s, &types::Caller::Operator, &req)
        })
    })
    .unwrap();
    let threads: Vec<_> = (0..WRITERS)
        .map(|w| {
            let core = core.clone();
            std::thread::spawn(move || {
                (0..EACH)
                    .map(|i| {
                        let req = memories::StoreRequest {
                            agent_id: "writer".into(),
                            content: format!("writer {w} note {i}"),
                            kind: memories::MemoryKind::Note,
                            tags: vec![],
                            memory_id: Some(format!("m-{w}-{i}")),
                            pool_id: None,
                            scope: None,
                            ttl_seconds: None,
                        };
                        core.call_blocking(move |rt| {
                            rt.call(|c, s| {
                                c.maas_core_memories().call_store_memory(
                                    s,
                                    &types::Caller::Operator,
                                    &req,
                                )
                            })
                        })
                        .map(|m| m.id)
                        .unwrap()
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let acknowledged: Vec<String> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    let syncs = core.call_blocking(|rt| Ok(rt.syncs())).unwrap();
    println!(
        "{} acknowledged writes from {WRITERS} writers shared {syncs} syncs",
        acknowledged.len()
    );
    assert_eq!(acknowledged.len(), WRITERS * EACH);
    assert!(
        syncs >= 1 && syncs as usize <= WRITERS * EACH + 2,
        "{syncs}"
    );
    drop(core);

    // A separate core over the same file: every acknowledged write is there.
    let mut rt = open(&path, false).unwrap();
    for id in &acknowledged {
        let got = rt.call(|c, s| {
            c.maas_core_memories()
                .call_get(s, &types::Caller::Operator, "writer", id)
        });
        assert!(got.is_ok(), "{id}: {got:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_caller_with_many_costly_calls_in_flight_holds_back_anothers_by_at_most_one() {
    use std::sync::{Arc, Mutex, mpsc};
    use std::time::Duration;
    let core = CoreService::spawn(|| {
        Runtime::new(
            CoreImage::shared()?,
            Box::new(maas_host::journal::MemoryJournal::new()),
            RuntimeOptions::default(),
        )
    })
    .unwrap();
    // Hold the core thread until every call below is queued.
    let (release, held) = mpsc::channel::<()>();
    let gate = {
        let core = core.clone();
        std::thread::spawn(move || {
            core.call_blocking(move |_| {
                let _ = held.recv();
                Ok(())
            })
        })
    };
    std::thread::sleep(Duration::from_millis(50));
    let ran = Arc::new(Mutex::new(Vec::new()));
    let call = |lane: u64, name: String| {
        let core = core.in_lane(lane);
        let ran = ran.clone();
        std::thread::spawn(move || {
            core.call_blocking(move |_| {
                // A costly call: the write gate on a long text, say.
                std::thread::sleep(Duration::from_millis(3));
                ran.lock().unwrap().push(name);
                Ok(())
            })
        })
    };
    let mut callers: Vec<_> = (0..20).map(|i| call(7, format!("busy {i}"))).collect();
    std::thread::sleep(Duration::from_millis(50));
    callers.push(call(9, "other".to_string()));
    std::thread::sleep(Duration::from_millis(50));
    // Authentication's lane goes before every turn.
    callers.push(call(maas_host::service::QUICK_LANE, "quick".to_string()));
    std::thread::sleep(Duration::from_millis(50));
    release.send(()).unwrap();
    gate.join().unwrap().unwrap();
    for caller in callers {
        caller.join().unwrap().unwrap();
    }
    let ran = ran.lock().unwrap().clone();
    assert_eq!(ran.len(), 22);
    assert_eq!(ran[0], "quick", "{ran:?}");
    // Sent behind twenty of another lane's, it ran next but one at most (arrival order
    // would have run it after them).
    let other = ran.iter().position(|n| n == "other").unwrap();
    assert!(other <= 2, "{ran:?}");
}

/// A read: the core's limits, answered with how often the core was started again.
fn limits(core: &CoreService) -> Result<u64, types::Error> {
    core.call_blocking(|rt| {
        rt.call_plain(|c, s| c.maas_core_admin().call_current_limits(s))
            .map(|_| rt.restarts())
    })
}

/// A write: the operator registers an agent.
fn register(core: &CoreService) -> Result<(), types::Error> {
    core.call_blocking(|rt| {
        let req = agents::RegistrationRequest {
            agent_type: agents::AgentType::ClaudeCode,
            owner_id: "u-1".into(),
            agent_id: None,
            capabilities: None,
            metadata: None,
        };
        rt.call(|c, s| {
            c.maas_core_agents()
                .call_register(s, &types::Caller::Operator, &req)
        })
        .map(|_| ())
    })
}

#[test]
fn in_a_batch_that_cannot_be_synced_a_call_that_wrote_nothing_is_told_so() {
    use std::time::Duration;
    let (journal, fail) = failing_syncs(MemoryJournal::new());
    let core = CoreService::spawn(move || {
        Runtime::new(CoreImage::shared()?, Box::new(journal), options(true))
    })
    .unwrap();
    // Hold the core thread until the read and the write are both queued: they then run
    // in one batch, whose sync fails. Each is in a lane of its own, none of them slow (the
    // gate's lane is, after it: a slow lane's next call would wait for the next batch).
    let (release, held) = std::sync::mpsc::channel::<()>();
    let gate = {
        let core = core.in_lane(5);
        std::thread::spawn(move || {
            core.call_blocking(move |_| {
                let _ = held.recv();
                Ok(())
            })
        })
    };
    std::thread::sleep(Duration::from_millis(50));
    fail.store(true, std::sync::atomic::Ordering::SeqCst);
    // The read first: a batch takes no further call once it has run for 5 ms, and a
    // registration may take that long in a debug build.
    let read = {
        let core = core.in_lane(7);
        std::thread::spawn(move || limits(&core))
    };
    std::thread::sleep(Duration::from_millis(20));
    let write = {
        let core = core.in_lane(9);
        std::thread::spawn(move || register(&core))
    };
    std::thread::sleep(Duration::from_millis(50));
    release.send(()).unwrap();
    // The gate's own batch, which wrote nothing, may have failed its sync too.
    let _ = gate.join().unwrap();
    let written = write.join().unwrap().unwrap_err();
    let read = read.join().unwrap().unwrap_err();
    assert!(
        written.message().contains("may not have been saved"),
        "{written:?}"
    );
    assert!(read.message().contains("nothing was changed"), "{read:?}");
    assert!(!read.message().contains("may not"), "{read:?}");
    fail.store(false, std::sync::atomic::Ordering::SeqCst);
    // The batch wrote, so the core started again from the journal.
    assert_eq!(limits(&core).unwrap(), 1);
}

#[test]
fn a_batch_that_cannot_be_synced_restarts_the_core_only_if_it_wrote() {
    let (journal, fail) = failing_syncs(MemoryJournal::new());
    let options = RuntimeOptions {
        group_commit: true,
        ..RuntimeOptions::default()
    };
    let core =
        CoreService::spawn(move || Runtime::new(CoreImage::shared()?, Box::new(journal), options))
            .unwrap();
    fail.store(true, std::sync::atomic::Ordering::SeqCst);
    // The journal's reason is quoted as a sentence, not in Rust's debug form.
    let plain = |e: &types::Error| {
        let m = e.message();
        m.contains("(journal unavailable: database or disk is full)") && !m.contains("Error::")
    };
    let e = limits(&core).unwrap_err();
    assert!(e.message().contains("nothing was changed"), "{e:?}");
    assert!(plain(&e), "{}", e.message());
    let e = register(&core).unwrap_err();
    assert!(e.message().contains("may not have been saved"), "{e:?}");
    assert!(plain(&e), "{}", e.message());
    fail.store(false, std::sync::atomic::Ordering::SeqCst);
    // Only the batch that wrote started the core again.
    assert_eq!(limits(&core).unwrap(), 1);
    register(&core).unwrap();
}
