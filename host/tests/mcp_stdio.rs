//! MCP over stdio with a real rmcp client spawning the built `maas mcp`: the original
//! example, operator by default, an agent with `--token`, and nothing but protocol on
//! stdout. Raw lines test what a client library never sends: a line that is not JSON,
//! and one over the message bound, each answered with a JSON-RPC error.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod mcp_support;

use maas_host::mcp::MAX_MESSAGE_BYTES;
use mcp_support::{Client, fails, ok, register};
use rmcp::ServiceExt;
use rmcp::transport::TokioChildProcess;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

fn data_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("maas-mcp-stdio-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn spawn(dir: &Path, token: Option<&str>) -> Client {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_maas"));
    cmd.arg("--data-dir").arg(dir).arg("mcp");
    if let Some(t) = token {
        cmd.arg("--token").arg(t);
    }
    cmd.env_remove("MAAS_TOKEN").env_remove("MAAS_HOME");
    let transport = TokioChildProcess::new(cmd).unwrap();
    ().serve(transport).await.expect("stdio client connects")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_original_example_plays_over_stdio() {
    let dir = data_dir("example");
    let op = spawn(&dir, None).await;
    let backend_token = register(&op, "claude-backend", "claude_code", "user-123").await;
    let frontend_token = register(&op, "gpt-frontend", "gpt_agent", "user-123").await;
    ok(&op, "create_pool", json!({"name": "feature-auth", "owner_id": "user-123", "scope": "project", "pool_id": "feature-auth"})).await;
    for id in ["claude-backend", "gpt-frontend"] {
        ok(
            &op,
            "join_pool",
            json!({"pool_id": "feature-auth", "agent_id": id, "permission": "write"}),
        )
        .await;
    }
    op.cancel().await.unwrap();

    // Each agent runs its own stdio server on the same data dir, acting as itself.
    let backend = spawn(&dir, Some(&backend_token)).await;
    let me = ok(&backend, "whoami", json!({})).await;
    assert_eq!(me["agent_id"], "claude-backend");
    ok(&backend, "store_memory", json!({"agent_id": "claude-backend", "memory_id": "mem-api-design", "memory_type": "decision", "content": "POST /api/auth/login returns a JWT"})).await;
    ok(&backend, "share_memory_to_scope", json!({"pool_id": "feature-auth", "memory_id": "mem-api-design", "agent_id": "claude-backend", "scope": "project"})).await;
    let h = ok(&backend, "initiate_handoff", json!({"source_agent_id": "claude-backend", "target_agent_id": "gpt-frontend", "task_description": "Implement login UI using the API spec", "relevant_memories": ["mem-api-design"], "relevant_files": ["src/api/auth.py"]})).await;
    let handoff_id = h["handoff_id"].as_str().unwrap().to_string();
    fails(
        &backend,
        "accept_handoff",
        json!({"handoff_id": handoff_id, "agent_id": "gpt-frontend"}),
        "permission_denied",
    )
    .await;
    backend.cancel().await.unwrap();

    let frontend = spawn(&dir, Some(&frontend_token)).await;
    let pending = ok(
        &frontend,
        "get_pending_handoffs",
        json!({"agent_id": "gpt-frontend"}),
    )
    .await;
    assert_eq!(pending["handoffs"][0]["id"], handoff_id.as_str());
    let accepted = ok(
        &frontend,
        "accept_handoff",
        json!({"handoff_id": handoff_id, "agent_id": "gpt-frontend"}),
    )
    .await;
    assert_eq!(accepted["memories"][0]["memory_id"], "mem-api-design");
    let done = ok(&frontend, "complete_handoff", json!({"handoff_id": handoff_id, "agent_id": "gpt-frontend", "result": {"status": "success"}})).await;
    assert_eq!(done["status"], "completed");
    frontend.cancel().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_token_stops_the_stdio_server_with_a_clear_error() {
    let dir = data_dir("badtoken");
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_maas"))
        .arg("--data-dir")
        .arg(&dir)
        .args(["mcp", "--token", "maas_not_a_real_token"])
        .env_remove("MAAS_TOKEN")
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    assert!(output.stdout.is_empty(), "nothing but protocol on stdout");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("error:") && stderr.contains("token"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `maas mcp` driven line by line, for what a client library never sends: past the
/// initialize handshake, each line written is read back as the server's answer.
struct Raw {
    child: tokio::process::Child,
    stdin: tokio::process::ChildStdin,
    stdout: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
}

impl Raw {
    async fn start(dir: &Path) -> Raw {
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_maas"))
            .arg("--data-dir")
            .arg(dir)
            .arg("mcp")
            .env_remove("MAAS_TOKEN")
            .env_remove("MAAS_HOME")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let mut raw = Raw {
            child,
            stdin,
            stdout,
        };
        let hello = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "raw", "version": "0"}}});
        raw.send(hello.to_string().as_bytes()).await;
        let answer = raw.answer().await;
        assert_eq!(answer["id"], 1, "{answer}");
        assert!(answer["result"].is_object(), "{answer}");
        raw.send(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
            .await;
        raw
    }

    /// Writes `line` and its newline.
    async fn send(&mut self, line: &[u8]) {
        self.stdin.write_all(line).await.unwrap();
        self.stdin.write_all(b"\n").await.unwrap();
        self.stdin.flush().await.unwrap();
    }

    /// The next line on stdout, which must be a JSON-RPC message; a minute without one
    /// fails the test instead of hanging it.
    async fn answer(&mut self) -> serde_json::Value {
        let line =
            tokio::time::timeout(std::time::Duration::from_secs(60), self.stdout.next_line())
                .await
                .expect("an answer within a minute")
                .unwrap()
                .expect("stdout still open");
        let message: serde_json::Value = serde_json::from_str(&line).expect("only JSON on stdout");
        assert_eq!(message["jsonrpc"], "2.0", "{message}");
        message
    }

    /// A ping is answered: the connection still serves.
    async fn still_serves(&mut self) {
        self.send(br#"{"jsonrpc":"2.0","id":3,"method":"ping"}"#)
            .await;
        let pong = self.answer().await;
        assert_eq!(pong, json!({"jsonrpc": "2.0", "id": 3, "result": {}}));
    }

    /// Closes stdin; the server must then end cleanly.
    async fn close(mut self) {
        drop(self.stdin);
        let status = tokio::time::timeout(std::time::Duration::from_secs(60), self.child.wait())
            .await
            .expect("the server ends once stdin is closed")
            .unwrap();
        assert!(status.success(), "{status}");
    }
}

/// The resident memory of process `pid`, in MiB.
fn rss_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kib >> 10
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_holds_a_bounded_number_of_requests_in_flight_however_it_sends_them() {
    let dir = data_dir("in-flight");
    let mut raw = Raw::start(&dir).await;
    // Waits that answer only at their timeout fill the requests in flight.
    for i in 0..32 {
        let wait = json!({"jsonrpc": "2.0", "id": 1000 + i, "method": "tools/call",
            "params": {"name": "wait_for_changes", "arguments": {"timeout_seconds": 30}}});
        raw.send(wait.to_string().as_bytes()).await;
    }
    // A ping now waits for room, and is refused as over HTTP after a second.
    let sent = std::time::Instant::now();
    raw.send(br#"{"jsonrpc":"2.0","id":5,"method":"ping"}"#)
        .await;
    let refused = raw.answer().await;
    assert_eq!(refused["id"], 5, "{refused}");
    assert_eq!(refused["error"]["code"], -32029, "{refused}");
    assert!(sent.elapsed() >= Duration::from_millis(900));
    // An id already in flight, ids rmcp would answer under another name, and requests
    // rmcp would refuse before any handler (answering with no id) are refused at once.
    let dup = json!({"jsonrpc": "2.0", "id": 1000, "method": "ping"});
    raw.send(dup.to_string().as_bytes()).await;
    let answer = raw.answer().await;
    assert_eq!(answer["id"], 1000, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("already in flight"),
        "{answer}"
    );
    for id in ["1.0", "1e0", r#"{"x":1}"#] {
        raw.send(format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"ping"}}"#).as_bytes())
            .await;
        let answer = raw.answer().await;
        assert_eq!(answer["error"]["code"], -32600, "{id}: {answer}");
    }
    // Cancelled, the waits end and give their places back.
    for i in 0..32 {
        let cancel = json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
            "params": {"requestId": 1000 + i}});
        raw.send(cancel.to_string().as_bytes()).await;
    }
    raw.still_serves().await;
    for i in 0..40 {
        let malformed = json!({"jsonrpc": "2.0", "id": 2000 + i, "method": "ping", "params": []});
        raw.send(malformed.to_string().as_bytes()).await;
        let answer = raw.answer().await;
        assert_eq!(answer["id"], 2000 + i, "{answer}");
        assert_eq!(answer["error"]["code"], -32600, "{answer}");
    }
    raw.still_serves().await;

    // A client pipelining requests, each cancelled at once, and reading no answer: the
    // server stops reading it rather than taking every request in.
    let Raw {
        mut child,
        mut stdin,
        mut stdout,
    } = raw;
    let pid = child.id().unwrap();
    let idle = rss_mib(pid);
    const CALLS: u64 = 50_000;
    let writer = tokio::spawn(async move {
        let mut batch = Vec::new();
        for i in 0..CALLS {
            let call = json!({"jsonrpc": "2.0", "id": i, "method": "tools/call",
                "params": {"name": "whoami", "arguments": {}}});
            let cancel = json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
                "params": {"requestId": i}});
            batch.extend_from_slice(format!("{call}\n{cancel}\n").as_bytes());
            if batch.len() > 64 << 10 {
                stdin.write_all(&batch).await.unwrap();
                batch.clear();
            }
        }
        let _ = stdin.write_all(&batch).await;
        stdin
    });
    tokio::time::sleep(Duration::from_secs(2)).await;
    let held = rss_mib(pid);
    println!("maas mcp resident memory: {idle} MiB idle, {held} MiB with a client reading nothing");
    assert!(
        held < idle + 100,
        "{idle} MiB idle, {held} MiB with unread answers"
    );
    // Every answer is a result or the refusal of a request past the share (a cancelled
    // request is not answered); the server ends with stdin.
    drop(writer.await.unwrap());
    let mut answered = 0;
    while let Some(line) = tokio::time::timeout(Duration::from_secs(60), stdout.next_line())
        .await
        .expect("answers keep coming")
        .unwrap()
    {
        let answer: serde_json::Value = serde_json::from_str(&line).unwrap();
        let refused = answer["error"]["code"] == -32029;
        assert!(refused || answer["result"].is_object(), "{answer}");
        answered += 1;
    }
    assert!(answered <= CALLS);
    assert!(child.wait().await.unwrap().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_line_that_is_not_json_is_answered_with_a_parse_error() {
    let dir = data_dir("parse");
    let mut raw = Raw::start(&dir).await;
    // A closing brace short.
    raw.send(br#"{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"whoami","arguments":{}}"#)
        .await;
    let answer = raw.answer().await;
    assert_eq!(answer["id"], serde_json::Value::Null, "{answer}");
    assert_eq!(answer["error"]["code"], -32700, "{answer}");
    raw.still_serves().await;
    // Nor UTF-8, or a string with half a surrogate pair that no parser reads as text.
    let bad: [&[u8]; 2] = [
        b"\xff\xfe not json",
        br#"{"jsonrpc":"2.0","id":10,"method":"tools/call","params":{"name":"who\ud800","arguments":{}}}"#,
    ];
    for line in bad {
        raw.send(line).await;
        let answer = raw.answer().await;
        assert_eq!(answer["id"], serde_json::Value::Null, "{answer}");
        assert_eq!(answer["error"]["code"], -32700, "{answer}");
        raw.still_serves().await;
    }
    raw.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// A `whoami` call padded to `len` bytes with an argument the tool does not take.
fn whoami_of_length(id: u64, len: usize) -> Vec<u8> {
    let head = format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"whoami","arguments":{{"pad":""#
    );
    let tail = r#""}}}"#;
    let mut line = head.into_bytes();
    line.resize(len - tail.len(), b'x');
    line.extend_from_slice(tail.as_bytes());
    assert_eq!(line.len(), len);
    line
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_line_over_the_message_bound_is_refused_and_the_next_is_served() {
    let dir = data_dir("oversized");
    let mut raw = Raw::start(&dir).await;
    // One byte over: refused with the request's id, read from its first bytes.
    raw.send(&whoami_of_length(7, MAX_MESSAGE_BYTES + 1)).await;
    let answer = raw.answer().await;
    assert_eq!(answer["id"], 7, "{answer}");
    assert_eq!(answer["error"]["code"], -32600, "{answer}");
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(&MAX_MESSAGE_BYTES.to_string()),
        "{message}"
    );
    raw.still_serves().await;
    // At the bound: read whole, and refused only for its unknown argument.
    raw.send(&whoami_of_length(8, MAX_MESSAGE_BYTES)).await;
    let answer = raw.answer().await;
    assert_eq!(answer["id"], 8, "{answer}");
    assert_eq!(answer["error"]["code"], -32602, "{answer}");
    assert!(
        answer["error"]["message"].as_str().unwrap().contains("pad"),
        "{answer}"
    );
    raw.still_serves().await;
    raw.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// A knowledge document removed over MCP is forgotten by the data directory's ingest
/// manifest, so the next `kb ingest-repo` sends it again instead of counting it unchanged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_removed_over_mcp_is_sent_again_by_the_next_ingest() {
    let dir = data_dir("kb-remove");
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/repo");
    let ingest = || {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_maas"))
            .arg("--data-dir")
            .arg(&dir)
            .args(["--json", "kb", "ingest-repo"])
            .arg(&repo)
            .arg("-q")
            .env_remove("MAAS_TOKEN")
            .env_remove("MAAS_HOME")
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()
    };
    let total = ingest()["added"].as_u64().unwrap();
    let manifest = std::fs::read_dir(dir.join("ingest"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "json"))
        .unwrap();
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(manifest).unwrap()).unwrap();
    let key = manifest["docs"]
        .as_object()
        .unwrap()
        .keys()
        .find(|k| k.starts_with("code/"))
        .unwrap()
        .clone();
    let (kind, id) = key.split_once('/').unwrap();

    let op = spawn(&dir, None).await;
    let removed = ok(&op, "remove_documents", json!({"kind": kind, "ids": [id]})).await;
    assert_eq!(removed["removed"], 1, "{removed}");
    assert!(removed.get("manifests_not_updated").is_none(), "{removed}");
    op.cancel().await.unwrap();

    let again = ingest();
    assert_eq!(again["added"], 1, "{again}");
    assert_eq!(again["unchanged"].as_u64(), Some(total - 1), "{again}");
    let _ = std::fs::remove_dir_all(&dir);
}
