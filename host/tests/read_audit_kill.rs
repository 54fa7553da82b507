//! The read-audit log when `maas serve` is killed: reads' audit rows are buffered in the
//! server and written many to a transaction, so a SIGKILL may lose the rows still
//! buffered, and nothing else. What was written is the oldest reads, in order, and the
//! chain verifies; a server left idle writes its buffer; a clean stop loses nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod proc_support;

use maas_host::journal::sqlite::{MAX_BUFFERED_READS, READ_FLUSH_INTERVAL};
use proc_support::{Client, ServeProcess, connect_http, data_dir, maas, ok};
use serde_json::json;
use std::path::Path;

const AGENTS: usize = 7;

/// The agent the `i`th read of the test looks up.
fn target(i: usize) -> String {
    format!("reader-{}", i % AGENTS)
}

/// The targets of the `agent.read` rows in the read-audit log, in row order.
fn read_rows(dir: &Path) -> Vec<String> {
    let db = rusqlite::Connection::open(dir.join("journal.db")).unwrap();
    let mut st = db
        .prepare("SELECT target FROM audit_log WHERE event_type = 'agent.read' ORDER BY id")
        .unwrap();
    st.query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

async fn verify(dir: &Path) {
    let out = maas(dir).args(["audit", "verify"]).output().await.unwrap();
    assert!(
        out.status.success(),
        "the chain must verify: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Reads `range` of the test's reads, each acknowledged before the next.
async fn reads(op: &Client, range: std::ops::Range<usize>) {
    for i in range {
        ok(op, "get_agent_info", json!({"agent_id": target(i)})).await;
    }
}

async fn start(dir: &Path, n: usize) -> (ServeProcess, Client) {
    let server = ServeProcess::start(dir, n).await;
    let token = std::fs::read_to_string(dir.join("operator-token")).unwrap();
    let op = connect_http(&server.url, token.trim()).await.unwrap();
    (server, op)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_loses_at_most_the_buffered_read_audit_rows() {
    let dir = data_dir("read-audit-kill");
    let (server, op) = start(&dir, 0).await;
    for i in 0..AGENTS {
        let args = json!({"agent_type": "gpt_agent", "owner_id": "o", "agent_id": target(i)});
        ok(&op, "register_agent", args).await;
    }

    // Killed right after the last acknowledged read: the rows written are the oldest
    // reads in order, and what is missing was still buffered (so at most that many).
    let first = 300;
    reads(&op, 0..first).await;
    drop(op);
    server.kill9().await;
    let rows = read_rows(&dir);
    let expected: Vec<String> = (0..first).map(target).collect();
    assert!(rows.len() <= first, "{} rows for {first} reads", rows.len());
    assert_eq!(
        rows[..],
        expected[..rows.len()],
        "the oldest reads, in order"
    );
    assert!(first - rows.len() <= MAX_BUFFERED_READS);
    eprintln!(
        "read-audit kill: {} of {first} rows written before the kill",
        rows.len()
    );
    verify(&dir).await;

    // Left idle for many flush intervals before the kill: nothing is missing.
    let written = rows.len();
    let (server, op) = start(&dir, 1).await;
    let second = 40;
    reads(&op, first..first + second).await;
    tokio::time::sleep(READ_FLUSH_INTERVAL * 20).await;
    drop(op);
    server.kill9().await;
    let rows = read_rows(&dir);
    let mut expected: Vec<String> = (0..first).map(target).collect();
    expected.truncate(written);
    expected.extend((first..first + second).map(target));
    assert_eq!(rows, expected, "an idle server writes its buffered rows");
    verify(&dir).await;

    // A clean stop right after the reads: nothing is missing.
    let (server, op) = start(&dir, 2).await;
    let third = 40;
    let from = first + second;
    reads(&op, from..from + third).await;
    drop(op);
    server.terminate(None).await;
    expected.extend((from..from + third).map(target));
    assert_eq!(read_rows(&dir), expected, "a clean stop writes every row");
    verify(&dir).await;
    std::fs::remove_dir_all(&dir).ok();
}
