//! The PostgreSQL journal: one history for several hosts. Each test starts its own
//! PostgreSQL on loopback (`pg_support`), or prints why it cannot and returns.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod pg_support;
mod proc_support;

use maas_core::journal::AuditScan;
use maas_core::state::AuditEntry;
use maas_host::journal::{JournalBackend, JournalError, PostgresJournal, Snapshot};
use maas_host::service::CoreService;
use maas_host::types;
use proc_support::mcp_support::*;
use serde_json::json;

fn read_audit(actor: &str, seq: u64) -> AuditEntry {
    AuditEntry {
        seq,
        at: 1_000 + seq,
        record: maas_core::events::AuditRecord {
            actor: actor.into(),
            event_type: "agent.read".into(),
            target: Some("x".into()),
            outcome: "ok".into(),
            detail: "{}".into(),
            prev: None,
            covers: None,
        },
    }
}

#[test]
fn two_handles_on_one_database_keep_one_history() {
    let Some(pg) = pg_support::start() else {
        return;
    };
    let mut a = PostgresJournal::connect(&pg.url).unwrap();
    let mut b = PostgresJournal::connect(&pg.url).unwrap();
    // The schema is created once; connecting again migrates nothing.
    drop(PostgresJournal::connect(&pg.url).unwrap());

    assert_eq!(a.append(0, b"one", true), Ok(1));
    // The other host decided on an old head: a conflict naming the head, nothing written.
    assert_eq!(b.append(0, b"late", true), Err(JournalError::Conflict(1)));
    assert_eq!(b.head(), Ok(1));
    assert_eq!(b.read(1, 10).unwrap(), vec![(1, b"one".to_vec())]);

    // A group-commit batch is one transaction: invisible to the other host until synced,
    // and the other host's writes wait for it.
    a.set_group_commit(true);
    assert_eq!(a.append(1, b"two", true), Ok(2));
    assert_eq!(a.append(2, b"three", true), Ok(3));
    assert!(a.needs_sync());
    assert_eq!(b.head(), Ok(1));
    a.sync().unwrap();
    assert!(!a.needs_sync());
    assert_eq!(b.head(), Ok(3));
    let read: Vec<u64> = b.read(1, 10).unwrap().into_iter().map(|(s, _)| s).collect();
    assert_eq!(read, [1, 2, 3]);
    assert_eq!(b.append(3, b"four", true), Ok(4));
    assert_eq!(a.append(3, b"x", true), Err(JournalError::Conflict(4)));
    a.sync().unwrap();

    // An import appends all or nothing.
    assert_eq!(
        b.append_all(3, &[b"x".to_vec()]),
        Err(JournalError::Conflict(4))
    );
    assert_eq!(b.append_all(4, &[b"5".to_vec(), b"6".to_vec()]), Ok(6));
    assert_eq!(a.head(), Ok(6));

    // Snapshots: chunked, checked, the two newest kept, readable from either host.
    for seq in [2, 4, 6] {
        a.save_snapshot(Snapshot {
            seq,
            chunks: vec![vec![seq as u8; 10], vec![7; 3]],
        })
        .unwrap();
    }
    assert_eq!(b.snapshots(), Ok(vec![6, 4]));
    let loaded = b.load_snapshot(6).unwrap().unwrap();
    assert_eq!(loaded.chunks, vec![vec![6u8; 10], vec![7; 3]]);
    assert_eq!(b.load_snapshot(2), Ok(None));

    // Read audits from both hosts form one chain, and scans see them.
    for i in 0..5 {
        a.audit_append(&read_audit("ann", i)).unwrap();
        b.audit_append(&read_audit("bob", i)).unwrap();
    }
    a.flush_reads().unwrap();
    b.flush_reads().unwrap();
    let scan = AuditScan {
        actor: None,
        agent: None,
        event_type: Some("agent.read".into()),
        since: None,
        until: None,
        limit: 100,
    };
    let found = a.audit_scan(&scan).unwrap();
    assert_eq!(found.len(), 10);
    let rows = b.chain_rows(0, 100).unwrap();
    assert_eq!(rows.len(), 10);
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    assert_eq!(ids, (1..=10).collect::<Vec<_>>());
    let mut link = String::new();
    for row in &rows {
        link = maas_core::audit::chain_hash(&link, row.entry.seq, row.entry.at, &row.entry.record);
        assert_eq!(row.chain.as_deref(), Some(link.as_str()));
    }

    // Scanning by agent also finds what the operator did as that agent, and only that.
    for (seq, detail) in [
        (20, r#"{"on_behalf_of":"ann"}"#),
        (21, r#"{"on_behalf_of":"ann2"}"#),
    ] {
        let mut entry = read_audit("operator", seq);
        entry.record.detail = detail.into();
        a.audit_append(&entry).unwrap();
    }
    a.flush_reads().unwrap();
    let mut by_agent = |agent: &str, limit: u32| {
        a.audit_scan(&AuditScan {
            agent: Some(agent.into()),
            event_type: None,
            limit,
            ..scan.clone()
        })
        .unwrap()
    };
    let anns = by_agent("ann", 100);
    let actors: Vec<(&str, u64)> = anns
        .iter()
        .map(|e| (e.record.actor.as_str(), e.seq))
        .collect();
    assert_eq!(actors.len(), 6, "{actors:?}");
    assert_eq!(actors.last(), Some(&("operator", 20)));
    // The newest two of the three branches (actor, target, acted as), oldest first.
    let newest = by_agent("ann", 2);
    let seqs: Vec<u64> = newest.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [4, 20]);
    // By target: every row targets "x".
    let by_target = by_agent("x", 100);
    assert_eq!(by_target.len(), 12);
}

/// Every shape of scan (an agent's own rows, by agent, by event type, within times)
/// returns what the core's own filter picks from the same rows: the scan's SQL holds
/// only the filters it has, so each shape is a statement of its own.
#[test]
fn every_shape_of_scan_returns_what_the_filter_picks() {
    let Some(pg) = pg_support::start() else {
        return;
    };
    let mut j = PostgresJournal::connect(&pg.url).unwrap();
    let agents = ["ann", "bob", "cy"];
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut all = Vec::new();
    for i in 0..400u64 {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let pick = |shift: u32| agents[((rng >> shift) % 3) as usize];
        let mut e = read_audit(pick(16), i);
        if rng.is_multiple_of(4) {
            e.record.actor = "operator".into();
            e.record.detail = format!(r#"{{"on_behalf_of":"{}"}}"#, pick(8));
        }
        e.record.target = Some(pick(24).into());
        if rng >> 40 & 1 == 0 {
            e.record.event_type = "memory.read".into();
        }
        j.audit_append(&e).unwrap();
        all.push(e);
    }
    j.flush_reads().unwrap();
    for agent in [Some("ann"), Some("nobody"), None] {
        for (actor, event_type, since, until, limit) in [
            (None, None, None, None, 10),
            (None, Some("memory.read"), Some(1_100), Some(1_300), 1000),
            (Some("operator"), None, None, None, 7),
            (Some("bob"), Some("agent.read"), None, None, 50),
            (Some("cy"), None, Some(1_050), None, 30),
        ] {
            let scan = AuditScan {
                actor: actor.map(str::to_string),
                agent: agent.map(str::to_string),
                event_type: event_type.map(str::to_string),
                since,
                until,
                limit,
            };
            let seqs = |v: &[AuditEntry]| v.iter().map(|e| e.seq).collect::<Vec<_>>();
            let want = scan.newest(all.iter());
            assert_eq!(seqs(&j.audit_scan(&scan).unwrap()), seqs(&want), "{scan:?}");
        }
    }
}

/// A read returns entries while those before them hold under `MAX_READ_BYTES` (one
/// entry whatever its size), as SQLite's does.
#[test]
fn a_read_is_bounded_in_bytes() {
    let Some(pg) = pg_support::start() else {
        return;
    };
    let mut j = PostgresJournal::connect(&pg.url).unwrap();
    let quarter = vec![b'x'; maas_host::journal::MAX_READ_BYTES / 4];
    for head in 0..8u64 {
        assert_eq!(j.append(head, &quarter, false), Ok(head + 1));
    }
    let big = vec![b'y'; maas_host::journal::MAX_READ_BYTES + 1];
    assert_eq!(j.append(8, &big, true), Ok(9));
    let mut seqs = |from: u64| -> Vec<u64> {
        j.read(from, 100)
            .unwrap()
            .into_iter()
            .map(|(seq, _)| seq)
            .collect()
    };
    assert_eq!(seqs(1), vec![1, 2, 3, 4]);
    assert_eq!(seqs(5), vec![5, 6, 7, 8]);
    assert_eq!(seqs(8), vec![8, 9]);
    assert_eq!(seqs(9), vec![9]);
}

#[test]
fn an_unreachable_database_is_a_clear_error() {
    let err = match PostgresJournal::connect("postgres://maas@127.0.0.1:1/postgres") {
        Ok(_) => panic!("connected to port 1"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("cannot reach"), "{err}");
    assert!(!err.contains("secret"), "{err}");
    let err = match PostgresJournal::connect("postgres://maas:secret@127.0.0.1:1/postgres") {
        Ok(_) => panic!("connected to port 1"),
        Err(e) => e.to_string(),
    };
    assert!(
        !err.contains("secret"),
        "the password is never shown: {err}"
    );
}

/// The error connecting to `url` gives (it must not connect).
fn refused(url: &str) -> String {
    match PostgresJournal::connect(url) {
        Ok(_) => panic!("connected to {url}"),
        Err(e) => e.to_string(),
    }
}

/// How many sessions named `app` are connected over TLS, and how many in all.
fn sessions(pg: &pg_support::Pg, app: &str) -> (i64, i64) {
    let mut c =
        postgres::Client::connect(&format!("{}?sslmode=disable", pg.url), postgres::NoTls).unwrap();
    let row = c
        .query_one(
            "SELECT COUNT(*) FILTER (WHERE s.ssl), COUNT(*) FROM pg_stat_activity a
             JOIN pg_stat_ssl s USING (pid) WHERE a.application_name = $1",
            &[&app],
        )
        .unwrap();
    (row.get(0), row.get(1))
}

#[test]
fn tls_to_the_database_follows_sslmode() {
    let Some(pg) = pg_support::start_tls() else {
        return;
    };
    let ca = pg.ca();
    let ca = ca.to_str().unwrap();
    let url =
        |host: &str, params: &str| format!("postgres://maas@{host}:{}/postgres?{params}", pg.port);

    // verify-full: the chain and the name are checked, and the session is encrypted.
    let mut j = PostgresJournal::connect(&url(
        "localhost",
        &format!("sslmode=verify-full&sslrootcert={ca}&application_name=full"),
    ))
    .unwrap();
    assert_eq!(j.append(0, b"over tls", true), Ok(1));
    assert_eq!(sessions(&pg, "full"), (1, 1));

    // The default (prefer) and require encrypt without checking the certificate, as libpq.
    let _prefer = PostgresJournal::connect(&url("127.0.0.1", "application_name=prefer")).unwrap();
    assert_eq!(sessions(&pg, "prefer"), (1, 1));
    let mut require =
        PostgresJournal::connect(&url("127.0.0.1", "sslmode=require&application_name=req"))
            .unwrap();
    assert_eq!(
        require.read(1, 10).unwrap(),
        vec![(1, b"over tls".to_vec())]
    );
    assert_eq!(sessions(&pg, "req"), (1, 1));
    // verify-ca checks the chain, not the name (the certificate names localhost only).
    let _ca_only = PostgresJournal::connect(&url(
        "127.0.0.1",
        &format!("sslmode=verify-ca&sslrootcert={ca}&application_name=ca"),
    ))
    .unwrap();
    assert_eq!(sessions(&pg, "ca"), (1, 1));

    // What must not connect, each with its reason.
    let e = refused(&url(
        "127.0.0.1",
        &format!("sslmode=verify-full&sslrootcert={ca}"),
    ));
    assert!(
        e.contains("certificate"),
        "a name the certificate does not hold: {e}"
    );
    let other = pg_support::make_ca(pg.dir(), "other");
    let e = refused(&url(
        "localhost",
        &format!("sslmode=verify-full&sslrootcert={}", other.display()),
    ));
    assert!(e.contains("certificate"), "a CA that did not sign it: {e}");
    let e = refused(&url(
        "localhost",
        "sslmode=verify-full&sslrootcert=/nonexistent/ca.pem",
    ));
    assert!(e.contains("/nonexistent/ca.pem"), "{e}");
    let e = refused(&url("localhost", "sslmode=allow"));
    assert!(e.contains("sslmode=allow is not supported"), "{e}");

    // A server without TLS: require is refused, prefer and disable connect in the clear.
    let Some(plain) = pg_support::start() else {
        return;
    };
    let e = refused(&format!("{}?sslmode=require", plain.url));
    assert!(e.contains("cannot reach"), "{e}");
    PostgresJournal::connect(&format!("{}?application_name=clear", plain.url)).unwrap();
    PostgresJournal::connect(&format!("{}?sslmode=disable", plain.url)).unwrap();
}

fn digest(core: &CoreService) -> String {
    core.call_blocking(|rt| {
        rt.call(|c, s| {
            c.maas_core_admin()
                .call_state_digest(s, &types::Caller::Operator)
        })
    })
    .unwrap()
}

#[test]
fn a_host_behind_a_database_that_is_away_does_not_deny_what_it_has_not_seen() {
    let Some(pg) = pg_support::start() else {
        return;
    };
    let (a, b) = (pg_support::host(&pg.url), pg_support::host(&pg.url));
    const OP: types::Caller = types::Caller::Operator;
    let req = maas_host::agents::RegistrationRequest {
        agent_type: maas_host::agents::AgentType::ClaudeCode,
        owner_id: "u-1".into(),
        agent_id: Some("late".into()),
        capabilities: None,
        metadata: None,
    };
    // B reads the journal, then A registers an agent B has not seen.
    b.call_blocking(move |rt| rt.call(|c, s| c.maas_core_agents().call_get(s, &OP, "ann")))
        .unwrap_err();
    a.call_blocking(move |rt| rt.call(|c, s| c.maas_core_agents().call_register(s, &OP, &req)))
        .unwrap();
    pg.kill();
    let asked = b
        .call_blocking(move |rt| rt.call(|c, s| c.maas_core_agents().call_get(s, &OP, "late")))
        .unwrap_err();
    match asked {
        types::Error::Unavailable(why) => {
            assert!(why.contains("away") && why.contains("late"), "{why}");
        }
        other => panic!("denied while the database is away: {other:?}"),
    }
}

/// How many handoffs are raced (each accepted from both hosts at once).
const RACES: usize = 1000;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hosts_serve_one_history_and_each_handoff_is_accepted_once() {
    let Some(pg) = pg_support::start() else {
        return;
    };
    // Each host sees 50 of bob's accepts at once, above an agent's default share of
    // 32 in flight, which is not what this races.
    let share = |o: &mut maas_host::mcp::http::HttpOptions| {
        o.sessions.in_flight_per_principal = 64;
    };
    let a = server_with(pg_support::host(&pg.url), share).await;
    let b = server_with(pg_support::host(&pg.url), share).await;
    let op_a = connect(&a.url, OPERATOR).await;
    let ann_token = register(&op_a, "ann", "claude_code", "u1").await;
    let bob_token = register(&op_a, "bob", "claude_code", "u1").await;
    // Host B knows the agents registered on host A, tokens included.
    let ann_a = connect(&a.url, &ann_token).await;
    let bob_a = std::sync::Arc::new(connect(&a.url, &bob_token).await);
    let bob_b = std::sync::Arc::new(connect(&b.url, &bob_token).await);
    let who = ok(&bob_b, "get_agent_info", json!({"agent_id": "ann"})).await;
    assert_eq!(who["agent_id"], "ann");

    // In rounds of 50 (a target holds at most 100 pending handoffs): every handoff is
    // accepted from both hosts at once, and exactly one accept wins each race.
    let mut wins = [0usize; 2];
    for round in 0..RACES / 50 {
        let mut ids = Vec::with_capacity(50);
        for i in 0..50 {
            let h = ok(
                &ann_a,
                "initiate_handoff",
                json!({"target_agent_id": "bob", "task_description": format!("task {round}.{i}")}),
            )
            .await;
            ids.push(h["handoff_id"].as_str().unwrap().to_string());
        }
        let mut races = Vec::new();
        for id in ids {
            let (x, y) = (bob_a.clone(), bob_b.clone());
            races.push(tokio::spawn(async move {
                let args = json!({"handoff_id": id});
                tokio::join!(
                    call(&x, "accept_handoff", args.clone()),
                    call(&y, "accept_handoff", args),
                )
            }));
        }
        for race in races {
            let (ra, rb) = race.await.unwrap();
            assert!(
                ra.is_error != rb.is_error,
                "exactly one accept wins: {} / {}",
                ra.body,
                rb.body
            );
            let loser = if ra.is_error { &ra } else { &rb };
            assert_eq!(loser.body["code"], "invalid_input", "{}", loser.body);
            wins[usize::from(ra.is_error)] += 1;
        }
    }
    assert_eq!(wins[0] + wins[1], RACES);
    eprintln!(
        "accept races: host A won {}, host B won {}",
        wins[0], wins[1]
    );

    // Both hosts hold the same state; each handoff is accepted once in the one journal.
    let listed = ok(
        &bob_b,
        "get_agent_handoffs",
        json!({"agent_id": "bob", "limit": 500}),
    )
    .await;
    assert!(
        listed["handoffs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["status"] == "accepted"),
        "{listed}"
    );
    let (ca, cb) = (a.core.clone(), b.core.clone());
    let (da, db) = tokio::task::spawn_blocking(move || (digest(&ca), digest(&cb)))
        .await
        .unwrap();
    assert_eq!(da, db);

    // The database goes away: what a host holds can still be read, a change is refused as
    // unavailable, and the hosts carry on once it is back.
    let just_before = json!({"target_agent_id": "bob", "task_description": "just before"});
    let late = ok(&ann_a, "initiate_handoff", just_before).await;
    pg.kill();
    let seen = call(&bob_b, "get_agent_info", json!({"agent_id": "ann"})).await;
    assert!(!seen.is_error, "{}", seen.body);
    // What a host has not read yet is not denied: it may exist (it does).
    let unseen = call(
        &bob_b,
        "get_handoff",
        json!({"handoff_id": late["handoff_id"]}),
    )
    .await;
    assert!(
        !unseen.is_error || unseen.body["code"] == "unavailable",
        "{}",
        unseen.body
    );
    let args = json!({"target_agent_id": "bob", "task_description": "while it is down"});
    let refused = call(&ann_a, "initiate_handoff", args.clone()).await;
    assert!(refused.is_error, "{}", refused.body);
    assert_eq!(refused.body["code"], "unavailable", "{}", refused.body);
    pg.restart();
    let mut tries = 0;
    let back = loop {
        let r = call(&ann_a, "initiate_handoff", args.clone()).await;
        if !r.is_error {
            break r.body;
        }
        tries += 1;
        assert!(tries < 100, "never came back: {}", r.body);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let id = back["handoff_id"].as_str().unwrap();
    let on_b = ok(&bob_b, "get_handoff", json!({"handoff_id": id})).await;
    assert_eq!(on_b["status"], "pending");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maas_serve_hosts_on_one_database_wake_each_others_waiters() {
    let Some(pg) = pg_support::start() else {
        return;
    };
    let (d1, d2) = (
        proc_support::data_dir("pg-host-1"),
        proc_support::data_dir("pg-host-2"),
    );
    let env = [("MAAS_STORE", pg.url.as_str())];
    let h1 = proc_support::ServeProcess::start_env(&d1, 1, &env).await;
    let h2 = proc_support::ServeProcess::start_env(&d2, 2, &env).await;
    // Each host has its own operator token; agents and their tokens are in the journal.
    let op_token = std::fs::read_to_string(d1.join("operator-token")).unwrap();
    let op1 = connect(&h1.url, op_token.trim()).await;
    let ann_token = register(&op1, "ann", "claude_code", "u1").await;
    let bob_token = register(&op1, "bob", "claude_code", "u1").await;
    let ann2 = connect(&h2.url, &ann_token).await;
    let bob1 = connect(&h1.url, &bob_token).await;
    let from = ok(&ann2, "get_changes", json!({})).await["next_cursor"].clone();

    // A waiter on host 2 wakes for a handoff written on host 1.
    let waiter = tokio::spawn(async move {
        let page = ok(
            &ann2,
            "wait_for_changes",
            json!({"after": from, "timeout_seconds": 20}),
        )
        .await;
        (page, std::time::Instant::now())
    });
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let written = std::time::Instant::now();
    ok(
        &bob1,
        "initiate_handoff",
        json!({"target_agent_id": "ann", "task_description": "review the PR"}),
    )
    .await;
    let answered = written.elapsed();
    let (page, woke) = waiter.await.unwrap();
    let kinds: Vec<&str> = page["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["handoff.initiated"], "{page}");
    eprintln!(
        "cross-host wake: {:?} after the write's call began (the write answered in {answered:?})",
        woke.duration_since(written)
    );

    // Both hosts' CLI sees one state.
    let digest = |dir: std::path::PathBuf| {
        let url = pg.url.clone();
        async move {
            let out = proc_support::maas(&dir)
                .env("MAAS_STORE", url)
                .args(["--json", "digest"])
                .output()
                .await
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8(out.stdout).unwrap()
        }
    };
    assert_eq!(digest(d1.clone()).await, digest(d2.clone()).await);
    drop((h1, h2));
}

/// A load balancer without sticky sessions: each TCP connection goes to the next
/// backend in turn. Returns its address and how many connections each backend got.
async fn round_robin(
    backends: Vec<std::net::SocketAddr>,
) -> (
    std::net::SocketAddr,
    std::sync::Arc<Vec<std::sync::atomic::AtomicUsize>>,
) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let counts: std::sync::Arc<Vec<AtomicUsize>> =
        std::sync::Arc::new(backends.iter().map(|_| AtomicUsize::new(0)).collect());
    let seen = counts.clone();
    tokio::spawn(async move {
        let mut next = 0usize;
        while let Ok((mut inbound, _)) = listener.accept().await {
            let i = next % backends.len();
            next += 1;
            seen[i].fetch_add(1, Ordering::Relaxed);
            let backend = backends[i];
            tokio::spawn(async move {
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(backend).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    (addr, counts)
}

/// An rmcp client through `url` that opens a new connection for every request, so a
/// connection-level balancer sends its requests to every host in turn.
async fn unpooled_client(url: &str, token: &str) -> Client {
    use rmcp::ServiceExt;
    use rmcp::transport::StreamableHttpClientTransport;
    use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let transport = StreamableHttpClientTransport::with_client(
        http,
        StreamableHttpClientTransportConfig::with_uri(url.to_string())
            .auth_header(token.to_string()),
    );
    ().serve(transport).await.expect("client connects")
}

fn socket(url: &str) -> std::net::SocketAddr {
    url.trim_start_matches("http://")
        .trim_end_matches("/mcp")
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mcp_client_behind_a_balancer_without_sticky_sessions_works_on_both_hosts() {
    let Some(pg) = pg_support::start() else {
        return;
    };
    let a = server_with(pg_support::host(&pg.url), |o| o.stateless = true).await;
    let b = server_with(pg_support::host(&pg.url), |o| o.stateless = true).await;
    let (lb, counts) = round_robin(vec![socket(&a.url), socket(&b.url)]).await;
    let url = format!("http://{lb}/mcp");
    let op = unpooled_client(&url, OPERATOR).await;
    let ann_token = register(&op, "ann", "claude_code", "u1").await;
    register(&op, "bob", "claude_code", "u1").await;
    let ann = unpooled_client(&url, &ann_token).await;
    // Every call lands on the other host than the one before; each reads what the one
    // before wrote.
    for i in 0..20 {
        let h = ok(
            &ann,
            "initiate_handoff",
            json!({"target_agent_id": "bob", "task_description": format!("task {i}")}),
        )
        .await;
        let id = h["handoff_id"].as_str().unwrap();
        let read = ok(&ann, "get_handoff", json!({"handoff_id": id})).await;
        assert_eq!(read["status"], "pending");
    }
    let [ca, cb] = [0, 1].map(|i| counts[i].load(std::sync::atomic::Ordering::Relaxed));
    eprintln!("balancer: {ca} connections to host A, {cb} to host B");
    assert!(ca >= 20 && cb >= 20, "both hosts served: {ca} / {cb}");
}
