//! Several `maas mcp` processes live on one data directory: what one changes the others
//! read at once, and when two processes accept (or accept and reject) the same handoff at
//! the same moment, exactly one of them wins.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod proc_support;

use proc_support::{Client, Outcome, Rng, data_dir, kill9_pid, maas, ok, spawn_stdio};
use proc_support::{spawn_stdio_with_pid, try_call};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::sync::Notify;

async fn refused(client: &Client, tool: &str, args: Value, code: &str) -> Value {
    match try_call(client, tool, args).await {
        Outcome::Refused(c, body) if c == code => body,
        other => panic!("{tool} should be refused with {code}, got {other:?}"),
    }
}

async fn register(op: &Client, id: &str, agent_type: &str) -> String {
    let args = json!({"agent_type": agent_type, "owner_id": "user-1", "agent_id": id});
    let r = ok(op, "register_agent", args).await;
    r["token"].as_str().unwrap().to_string()
}

async fn initiate(source: &Client, round: usize) -> String {
    let args = json!({"source_agent_id": "source", "target_agent_id": "target",
        "task_description": format!("round {round}"), "relevant_memories": ["plan"]});
    let h = ok(source, "initiate_handoff", args).await;
    h["handoff_id"].as_str().unwrap().to_string()
}

/// Of two outcomes of racing calls on one handoff, which won; the loser must have been
/// refused because the handoff was no longer pending.
fn winner(a: &Outcome, b: &Outcome) -> usize {
    let lost = |o: &Outcome| match o {
        Outcome::Refused(code, body) => {
            let not_pending = code == "invalid_input" && body.to_string().contains("not pending");
            assert!(not_pending || code == "conflict", "{body}");
            true
        }
        Outcome::Done(_) => false,
        Outcome::Unknown(e) => panic!("{e}"),
    };
    match (lost(a), lost(b)) {
        (false, true) => 0,
        (true, false) => 1,
        _ => panic!("exactly one must win: {a:?} / {b:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_through_one_process_is_read_through_another_at_once() {
    let dir = data_dir("two-process-read");
    let (a, b) = (spawn_stdio(&dir, None).await, spawn_stdio(&dir, None).await);

    let backend = register(&a, "backend", "claude_code").await;
    let seen = ok(&b, "get_agent_info", json!({"agent_id": "backend"})).await;
    assert_eq!(seen["owner_id"], "user-1");
    register(&b, "frontend", "gpt_agent").await;
    let listed = ok(&a, "get_agents_for_user", json!({"user_id": "user-1"})).await;
    let ids: Vec<&str> = listed["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["backend", "frontend"]);

    let pool = json!({"name": "auth", "owner_id": "user-1", "scope": "project", "pool_id": "auth"});
    ok(&a, "create_pool", pool).await;
    for (via, id) in [(&b, "backend"), (&a, "frontend")] {
        let join = json!({"pool_id": "auth", "agent_id": id, "permission": "write"});
        ok(via, "join_pool", join).await;
    }
    let members = ok(&b, "get_pool_members", json!({"pool_id": "auth"})).await;
    assert_eq!(members["members"].as_array().unwrap().len(), 2, "{members}");

    // The backend agent works through a process of its own.
    let be = spawn_stdio(&dir, Some(&backend)).await;
    let store = json!({"agent_id": "backend", "memory_id": "jwt", "memory_type": "decision",
        "content": "login returns a signed JWT"});
    ok(&be, "store_memory", store).await;
    let read = json!({"agent_id": "backend", "memory_id": "jwt"});
    let got = ok(&b, "get_memory", read.clone()).await;
    assert_eq!(got["content"], "login returns a signed JWT");
    let search = json!({"agent_id": "backend", "query": "JWT login"});
    let hits = ok(&a, "search_memories", search).await;
    assert_eq!(hits["results"][0]["memory_id"], "jwt", "{hits}");

    let share =
        json!({"pool_id": "auth", "memory_id": "jwt", "agent_id": "backend", "scope": "project"});
    ok(&be, "share_memory_to_scope", share).await;
    let query = json!({"pool_id": "auth", "agent_id": "frontend"});
    let shared = ok(&a, "query_shared", query).await;
    assert_eq!(shared["memories"][0]["memory_id"], "jwt", "{shared}");

    // An update through one process is the version the other checks against.
    let update = |v: u64, text: &str| json!({"agent_id": "backend", "memory_id": "jwt", "expected_version": v, "content": text});
    let updated = ok(
        &a,
        "update_memory",
        update(1, "login returns a JWT and a refresh token"),
    )
    .await;
    assert_eq!(updated["version"], 2);
    assert_eq!(ok(&be, "get_memory", read.clone()).await["version"], 2);
    let stale = refused(&be, "update_memory", update(1, "a stale edit"), "conflict").await;
    assert!(stale.to_string().contains('2'), "{stale}");
    let got = ok(&b, "get_memory", read).await;
    assert_eq!(got["content"], "login returns a JWT and a refresh token");

    let handoff = json!({"source_agent_id": "backend", "target_agent_id": "frontend",
        "task_description": "build the login page", "relevant_memories": ["jwt"]});
    let h = ok(&be, "initiate_handoff", handoff).await;
    let pending = ok(&b, "get_pending_handoffs", json!({"agent_id": "frontend"})).await;
    assert_eq!(pending["handoffs"][0]["id"], h["handoff_id"], "{pending}");

    // Deactivated through one process, the agent can do nothing through another.
    ok(&a, "deactivate_agent", json!({"agent_id": "backend"})).await;
    let read = json!({"agent_id": "backend", "memory_id": "jwt"});
    refused(&be, "get_memory", read.clone(), "permission_denied").await;
    ok(&b, "reactivate_agent", json!({"agent_id": "backend"})).await;
    ok(&be, "get_memory", read).await;

    for c in [a, b, be] {
        c.cancel().await.unwrap();
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_accepts_through_two_processes_let_exactly_one_through() {
    let dir = data_dir("two-process-race");
    let op = spawn_stdio(&dir, None).await;
    let source = register(&op, "source", "claude_code").await;
    let target = register(&op, "target", "gpt_agent").await;
    let source = spawn_stdio(&dir, Some(&source)).await;
    let store = json!({"agent_id": "source", "memory_id": "plan", "memory_type": "note",
        "content": "the plan for the next step"});
    ok(&source, "store_memory", store).await;
    // The target is connected through two processes at once.
    let (ta, tb) = (
        spawn_stdio(&dir, Some(&target)).await,
        spawn_stdio(&dir, Some(&target)).await,
    );

    let mut wins = [0, 0];
    for round in 0..20 {
        let h = initiate(&source, round).await;
        let accept = json!({"handoff_id": h, "agent_id": "target"});
        let (ra, rb) = tokio::join!(
            try_call(&ta, "accept_handoff", accept.clone()),
            try_call(&tb, "accept_handoff", accept)
        );
        let won = winner(&ra, &rb);
        wins[won] += 1;
        let Outcome::Done(accepted) = (if won == 0 { ra } else { rb }) else {
            unreachable!()
        };
        assert_eq!(accepted["memories"][0]["memory_id"], "plan", "{accepted}");
        let seen = ok(&op, "get_handoff", json!({"handoff_id": h})).await;
        assert_eq!(seen["status"], "accepted");
    }

    // Accept against reject: the handoff ends as the winner said, never both.
    for round in 20..40 {
        let h = initiate(&source, round).await;
        let accept = json!({"handoff_id": h, "agent_id": "target"});
        let reject = json!({"handoff_id": h, "agent_id": "target", "reason": "busy"});
        let (ra, rb) = tokio::join!(
            try_call(&ta, "accept_handoff", accept),
            try_call(&tb, "reject_handoff", reject)
        );
        let expected = ["accepted", "rejected"][winner(&ra, &rb)];
        let seen = ok(&op, "get_handoff", json!({"handoff_id": h})).await;
        assert_eq!(seen["status"], expected, "{seen}");
    }
    let pending = ok(&op, "get_pending_handoffs", json!({"agent_id": "target"})).await;
    assert_eq!(pending["handoffs"], json!([]));
    eprintln!(
        "two_process: accept races won by process A {} times, by B {} times",
        wins[0], wins[1]
    );

    // The same race between two `maas handoff accept` commands.
    for round in 40..45 {
        let h = initiate(&source, round).await;
        let accept = || {
            let mut cmd = maas(&dir);
            cmd.args(["--token", &target, "handoff", "accept", &h]);
            cmd.output()
        };
        let (a, b) = tokio::join!(accept(), accept());
        let (a, b) = (a.unwrap(), b.unwrap());
        assert!(
            a.status.success() != b.status.success(),
            "exactly one command must succeed: {a:?} / {b:?}"
        );
        let loser = if a.status.success() { b } else { a };
        let stderr = String::from_utf8_lossy(&loser.stderr);
        assert!(
            stderr.contains("not pending") || stderr.contains("conflict"),
            "{stderr}"
        );
        let seen = ok(&op, "get_handoff", json!({"handoff_id": h})).await;
        assert_eq!(seen["status"], "accepted");
    }

    for c in [op, source, ta, tb] {
        c.cancel().await.unwrap();
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Stores memories through `client` until a call fails, telling `started` after the
/// first; returns the acknowledged ids.
async fn store_until_cut_off(client: &Client, prefix: &str, started: &Notify) -> Vec<String> {
    let mut acked = Vec::new();
    for i in 0.. {
        if i == 1 {
            started.notify_one();
        }
        let id = format!("{prefix}-{i}");
        let args = json!({"agent_id": "writer", "memory_id": id, "memory_type": "fact",
            "content": format!("written as {id}")});
        match try_call(client, "store_memory", args).await {
            Outcome::Done(_) => acked.push(id),
            Outcome::Unknown(_) => break,
            Outcome::Refused(code, body) => panic!("{code}: {body}"),
        }
    }
    acked
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_killed_while_writing_loses_nothing_and_holds_up_no_one() {
    let seed = Rng::seed("two_process kill");
    let mut rng = Rng::new(seed);
    let dir = data_dir("two-process-kill");
    let survivor = spawn_stdio(&dir, None).await;
    register(&survivor, "writer", "claude_code").await;
    let (mut acked, mut doomed_writes) = (Vec::new(), 0);
    for round in 0..5 {
        let (doomed, pid) = spawn_stdio_with_pid(&dir, None).await;
        let prefix = format!("doomed-{round}");
        let started = Notify::new();
        let writes = store_until_cut_off(&doomed, &prefix, &started);
        let kill = async {
            started.notified().await;
            tokio::time::sleep(Duration::from_millis(rng.range(0, 100))).await;
            kill9_pid(pid).await;
        };
        // The survivor writes alongside, before and after the kill.
        let beside = async {
            let mut ids = Vec::new();
            for i in 0..10 {
                let id = format!("beside-{round}-{i}");
                let args = json!({"agent_id": "writer", "memory_id": id, "memory_type": "fact",
                    "content": format!("written as {id}")});
                ok(&survivor, "store_memory", args).await;
                ids.push(id);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            ids
        };
        let (doomed_acked, (), beside) = tokio::join!(writes, kill, beside);
        doomed_writes += doomed_acked.len();
        acked.extend(doomed_acked);
        acked.extend(beside);
        drop(doomed);
        for id in &acked {
            let read = json!({"agent_id": "writer", "memory_id": id});
            let got = ok(&survivor, "get_memory", read).await;
            assert_eq!(got["content"], format!("written as {id}"));
        }
    }
    // A process started afterwards sees every acknowledged write too.
    let fresh = spawn_stdio(&dir, None).await;
    for id in &acked {
        let read = json!({"agent_id": "writer", "memory_id": id});
        ok(&fresh, "get_memory", read).await;
    }
    eprintln!(
        "two_process: {} acknowledged writes ({doomed_writes} by killed processes) kept across 5 kills",
        acked.len()
    );
    for c in [survivor, fresh] {
        c.cancel().await.unwrap();
    }
    let _ = std::fs::remove_dir_all(&dir);
}
