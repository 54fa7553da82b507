//! Two `maas serve` processes on one PostgreSQL journal, under faults: agents sent to
//! both at once (pools with a small member limit, memories, handoffs with short TTLs),
//! 1,000 accepts raced across the hosts, one host killed with SIGKILL and restarted
//! midway, PostgreSQL killed and restarted once. Afterwards every handoff is accepted at
//! most once (by the answers and by the journal's own feed), every acknowledged change
//! is there on both hosts, no pool is over its limit, the journal has no gaps, and the
//! state digest is the same in both running hosts, restored from the database, replayed
//! from an export into SQLite, and imported back into a second PostgreSQL database. A negative control runs
//! the races with compare-and-append switched off and must see double accepts.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod pg_support;
mod proc_support;

use proc_support::mcp_support::register;
use proc_support::{Client, Outcome, ServeProcess, Setup, connect_http, data_dir, maas, try_call};
use serde_json::json;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use maas_host::journal::postgres::STALE_VIEW;

/// Members a pool may have (both hosts run with this limit).
const POOL_LIMIT: usize = 4;
/// Handoffs initiated, then accepted from both hosts at once, per round (a target holds
/// at most 100 pending).
const ROUND: usize = 50;

/// Connects, retrying while a host restarts.
async fn client(url: &str, token: &str) -> Arc<Client> {
    for _ in 0..200 {
        if let Ok(c) = connect_http(url, token).await {
            return Arc::new(c);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("cannot connect to {url}");
}

fn operator_token(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("operator-token"))
        .unwrap()
        .trim()
        .to_string()
}

/// The clients of one host.
struct Side {
    op: Arc<Client>,
    src: Arc<Client>,
    dst: Arc<Client>,
}

async fn side(url: &str, dir: &Path, src: &str, dst: &str) -> Side {
    Side {
        op: client(url, &operator_token(dir)).await,
        src: client(url, src).await,
        dst: client(url, dst).await,
    }
}

/// `maas <args>` on `dir` with `env`; its standard output.
async fn cli(dir: &Path, env: &[(String, String)], args: &[&str]) -> String {
    let out = maas(dir)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .args(args)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "maas {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// With compare-and-append off, each host sees the journal as it was
/// `STALE_VIEW` ago (`maas_host::journal::postgres`): after a change, both hosts are
/// shown the journal once, then left alone until that view is old enough to hold it.
async fn settle(unconditional: bool, ops: [&Client; 2]) {
    if unconditional {
        for op in ops {
            // Any call reaching the core reads the head (what it answers does not matter).
            let _ = try_call(op, "get_agent_info", json!({"agent_id": "src"})).await;
        }
        tokio::time::sleep(STALE_VIEW + Duration::from_millis(300)).await;
    }
}

/// Calls a tool that must succeed; an `unavailable` answer (a database coming back, a
/// host starting again from the journal after reading appends that do not follow its
/// own) is retried for a few seconds.
async fn ok(client: &Client, tool: &str, args: serde_json::Value) -> serde_json::Value {
    for _ in 0..50 {
        match try_call(client, tool, args.clone()).await {
            Outcome::Done(v) => return v,
            Outcome::Unknown(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            other => panic!("{tool} failed: {other:?}"),
        }
    }
    panic!("{tool} stayed unavailable for five seconds")
}

/// What the runs found.
struct Found {
    /// Handoffs with more than one successful accept answer.
    double_answers: Vec<String>,
    /// Handoffs the journal's feed shows accepted more than once.
    double_in_journal: Vec<String>,
}

/// Runs the workload: `races` handoffs raced across two hosts; with `faults`, one host
/// is killed and restarted and the database restarted. Checks everything but double
/// accepts itself when `check` (the negative control leaves the state inconsistent on
/// purpose), and returns what it found about those.
async fn run(
    tag: &str,
    races: usize,
    unconditional: bool,
    faults: bool,
    check: bool,
) -> Option<Found> {
    let pg = pg_support::start()?;
    let mut env = vec![("MAAS_STORE".to_string(), pg.url.clone())];
    if unconditional {
        env.push(("MAAS_TEST_UNCONDITIONAL_APPEND".into(), "1".into()));
    }
    let mut global = vec!["--limit".into(), format!("members-per-pool={POOL_LIMIT}")];
    if unconditional {
        // A host that reads the other's unchecked appends finds they do not follow its
        // own, and starts again from the journal: accepts answered `unavailable` then
        // leave their handoffs pending, round after round.
        global.extend(["--limit".into(), "pending-per-target=100000".into()]);
    }
    let setup = Setup {
        env: env.clone(),
        global,
        ..Setup::default()
    };
    let dirs: [PathBuf; 2] = [data_dir(&format!("{tag}-1")), data_dir(&format!("{tag}-2"))];
    let h1 = ServeProcess::start_with(&dirs[0], 1, &setup).await;
    let mut h2 = Some(ServeProcess::start_with(&dirs[1], 2, &setup).await);
    let port2 = h2.as_ref().unwrap().port();
    let op1 = client(&h1.url, &operator_token(&dirs[0])).await;
    let src_token = register(&op1, "src", "claude_code", "u1").await;
    let dst_token = register(&op1, "dst", "claude_code", "u1").await;
    if unconditional {
        let op2 = client(&h2.as_ref().unwrap().url, &operator_token(&dirs[1])).await;
        settle(true, [&op1, &op2]).await;
    }
    let mut sides = [
        side(&h1.url, &dirs[0], &src_token, &dst_token).await,
        side(&h2.as_ref().unwrap().url, &dirs[1], &src_token, &dst_token).await,
    ];
    let dst_from = ok(&sides[0].dst, "get_changes", json!({})).await["next_cursor"].clone();

    // Pools with a small member limit, joined from both hosts at once.
    // Agents registered and pools joined through both hosts at once. (Not in the
    // negative control, whose hosts diverge on purpose.)
    let pools = ["p0", "p1", "p2"];
    if check {
        // Agents registered through both hosts at once.
        let agents: Vec<String> = (0..12).map(|i| format!("m{i}")).collect();
        let registering: Vec<_> = agents
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let op = sides[i % 2].op.clone();
                let id = id.clone();
                tokio::spawn(async move {
                    register(&op, &id, "claude_code", &format!("u{}", i % 3)).await;
                })
            })
            .collect();
        for r in registering {
            r.await.unwrap();
        }
        for p in pools {
            ok(
                &op1,
                "create_pool",
                json!({"pool_id": p, "name": p, "owner_id": "u1", "scope": "project"}),
            )
            .await;
        }
        let mut joins = Vec::new();
        for (n, p) in pools.iter().enumerate() {
            for (i, a) in agents.iter().enumerate() {
                let op = sides[(i + n) % 2].op.clone();
                let args = json!({"pool_id": p, "agent_id": a, "permission": "read"});
                joins.push(tokio::spawn(async move {
                    try_call(&op, "join_pool", args).await
                }));
            }
        }
        for j in joins {
            match j.await.unwrap() {
                Outcome::Done(_) | Outcome::Unknown(_) => {}
                Outcome::Refused(code, body) => assert_eq!(code, "capacity_exceeded", "{body}"),
            }
        }
    }

    // Handoff races, with memories written alongside, and the faults midway.
    let rounds = races.div_ceil(ROUND);
    let mut accepted: HashMap<String, usize> = HashMap::new();
    let mut memories = Vec::new();
    let mut unknown = 0usize;
    let mut failed_initiates = 0usize;
    let mut round = 0;
    // Rounds until `races` handoffs were raced (calls cut off by a fault raise none).
    while accepted.len() < races {
        assert!(round < rounds * 2, "too many calls failed");
        let mut ids = Vec::new();
        for i in 0..ROUND {
            // Every tenth expires two seconds after it is sent.
            let mut args =
                json!({"target_agent_id": "dst", "task_description": format!("task {round}.{i}")});
            if i % 10 == 0 {
                args["ttl_seconds"] = json!(2);
            }
            // (Without the compare a host skips what the other wrote while it appended:
            // the control initiates through one host, so both know every handoff.)
            let via = if unconditional { 0 } else { i % 2 };
            match try_call(&sides[via].src, "initiate_handoff", args).await {
                Outcome::Done(h) => ids.push(h["handoff_id"].as_str().unwrap().to_string()),
                Outcome::Unknown(why) => {
                    if failed_initiates < 3 {
                        eprintln!("round {round}: initiate unknown: {why}");
                    }
                    failed_initiates += 1;
                    unknown += 1;
                }
                Outcome::Refused(code, body) => panic!("initiate refused ({code}): {body}"),
            }
        }
        let stored = try_call(
            &sides[round % 2].src,
            "store_memory",
            json!({"content": format!("finding {round}: the cache key includes the target"), "memory_type": "fact"}),
        )
        .await;
        match stored {
            Outcome::Done(m) => memories.push(m["memory_id"].as_str().unwrap().to_string()),
            Outcome::Unknown(_) => unknown += 1,
            Outcome::Refused(code, body) => panic!("store refused ({code}): {body}"),
        }
        settle(unconditional, [&sides[0].op, &sides[1].op]).await;
        let mut races = Vec::new();
        for id in &ids {
            let (x, y) = (sides[0].dst.clone(), sides[1].dst.clone());
            let id = id.clone();
            races.push(tokio::spawn(async move {
                let args = json!({"handoff_id": id});
                let (a, b) = tokio::join!(
                    try_call(&x, "accept_handoff", args.clone()),
                    try_call(&y, "accept_handoff", args)
                );
                (id, [a, b])
            }));
        }
        // The faults strike while the round's accepts are in flight.
        let kill_host = faults && round == rounds / 4;
        if kill_host {
            tokio::time::sleep(Duration::from_millis(20)).await;
            h2.take().unwrap().kill9().await;
        }
        if faults && round == rounds / 2 {
            tokio::time::sleep(Duration::from_millis(20)).await;
            pg.kill();
            tokio::time::sleep(Duration::from_millis(300)).await;
            pg.restart();
        }
        for race in races {
            let (id, answers) = race.await.unwrap();
            unknown += answers
                .iter()
                .filter(|a| matches!(a, Outcome::Unknown(_)))
                .count();
            let wins = answers
                .iter()
                .filter(|a| matches!(a, Outcome::Done(_)))
                .count();
            accepted.insert(id, wins);
        }
        if kill_host {
            let restarted = ServeProcess::start_on_with(&dirs[1], 2, port2, &setup).await;
            sides[1] = side(&restarted.url, &dirs[1], &src_token, &dst_token).await;
            h2 = Some(restarted);
        }
        round += 1;
    }
    eprintln!(
        "{tag}: {} handoffs raced, {} accepted once, {} unknown outcomes during faults",
        accepted.len(),
        accepted.values().filter(|w| **w == 1).count(),
        unknown
    );

    // Accepted at most once: by the answers, and by the journal (the target's feed).
    let double_answers: Vec<String> = accepted
        .iter()
        .filter(|(_, w)| **w > 1)
        .map(|(id, _)| id.clone())
        .collect();
    let mut in_journal: HashMap<String, usize> = HashMap::new();
    let mut after = dst_from;
    loop {
        let page = ok(
            &sides[0].dst,
            "get_changes",
            json!({"after": after, "kinds": ["handoff"], "limit": 500}),
        )
        .await;
        for c in page["changes"].as_array().unwrap() {
            if c["kind"] == "handoff.accepted" {
                *in_journal
                    .entry(c["object_id"].as_str().unwrap().to_string())
                    .or_default() += 1;
            }
        }
        after = page["next_cursor"].clone();
        if page["has_more"] != json!(true) {
            break;
        }
    }
    let double_in_journal: Vec<String> = in_journal
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(id, _)| id.clone())
        .collect();
    if !check {
        return Some(Found {
            double_answers,
            double_in_journal,
        });
    }

    // Every acknowledged change is there, on both hosts.
    for s in &sides {
        for id in accepted.keys() {
            let h = ok(&s.src, "get_handoff", json!({"handoff_id": id})).await;
            assert!(h["status"].is_string(), "{h}");
        }
        for id in &memories {
            ok(&s.src, "get_memory", json!({"memory_id": id})).await;
        }
        for p in pools {
            let members = ok(
                &s.op,
                "get_pool_members",
                json!({"pool_id": p, "limit": 100}),
            )
            .await;
            let n = members["members"].as_array().unwrap().len();
            assert!(
                n <= POOL_LIMIT,
                "pool {p} has {n} members, over its limit of {POOL_LIMIT}"
            );
        }
    }
    for (id, wins) in &accepted {
        if *wins == 1 {
            assert_eq!(
                in_journal.get(id),
                Some(&1),
                "handoff {id} answered accepted once"
            );
        }
    }

    // No gaps in the journal's sequence.
    let url = pg.url.clone();
    let (count, max) = tokio::task::spawn_blocking(move || {
        let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        let row = c
            .query_one(
                "SELECT COUNT(*), COALESCE(MAX(seq), 0) FROM maas_journal WHERE log = 'main'",
                &[],
            )
            .unwrap();
        c.batch_execute("CREATE DATABASE second").unwrap();
        (row.get::<_, i64>(0), row.get::<_, i64>(1))
    })
    .await
    .unwrap();
    assert_eq!(count, max, "the journal's sequence has gaps");

    // The same state restored from the database on either host's data directory, replayed
    // from an export into SQLite, and imported back into another PostgreSQL database.
    let digest_1 = cli(&dirs[0], &env, &["digest"]).await;
    assert_eq!(cli(&dirs[1], &env, &["digest"]).await, digest_1);
    // And the same state in both running hosts (each catches up before it answers).
    for s in &sides {
        let live = ok(&s.op, "get_state_digest", json!({})).await;
        assert_eq!(
            live["digest"].as_str(),
            Some(digest_1.trim()),
            "a live host's state"
        );
    }
    let export = dirs[0].join("export.jsonl");
    cli(
        &dirs[0],
        &env,
        &["export", "--output", export.to_str().unwrap()],
    )
    .await;
    let sqlite = data_dir(&format!("{tag}-sqlite"));
    cli(
        &sqlite,
        &[],
        &["import", "--quiet", export.to_str().unwrap()],
    )
    .await;
    assert_eq!(cli(&sqlite, &[], &["digest"]).await, digest_1);
    let back = sqlite.join("back.jsonl");
    cli(
        &sqlite,
        &[],
        &["export", "--output", back.to_str().unwrap()],
    )
    .await;
    let second = vec![(
        "MAAS_STORE".to_string(),
        pg.url.replace("/postgres", "/second"),
    )];
    let fresh = data_dir(&format!("{tag}-second"));
    cli(
        &fresh,
        &second,
        &["import", "--quiet", back.to_str().unwrap()],
    )
    .await;
    assert_eq!(cli(&fresh, &second, &["digest"]).await, digest_1);
    drop((h1, h2));
    Some(Found {
        double_answers,
        double_in_journal,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hosts_under_faults_accept_each_handoff_once_and_lose_nothing() {
    let Some(found) = run("pg-faults", 1000, false, true, true).await else {
        return;
    };
    assert!(
        found.double_answers.is_empty(),
        "accepted twice: {:?}",
        found.double_answers
    );
    assert!(
        found.double_in_journal.is_empty(),
        "accepted twice: {:?}",
        found.double_in_journal
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_compare_and_append_off_the_same_races_accept_twice() {
    let Some(found) = run("pg-control", 150, true, false, false).await else {
        return;
    };
    eprintln!(
        "negative control: {} handoffs answered accepted twice, {} accepted twice in the journal",
        found.double_answers.len(),
        found.double_in_journal.len()
    );
    assert!(
        !found.double_answers.is_empty() || !found.double_in_journal.is_empty(),
        "the checks must see the double accepts that unconditional appends let through"
    );
}
