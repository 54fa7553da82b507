//! `GET /v1/changes`: the change feed as Server-Sent Events, resumed with
//! `Last-Event-ID` after a server restart with no change lost or repeated.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod mcp_support;
mod temp_support;

use maas_host::journal::SqliteJournal;
use maas_host::service::CoreService;
use maas_host::{CoreImage, Runtime, RuntimeOptions};
use mcp_support::*;
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;
use temp_support::TempDir;

fn sqlite_core(path: &Path) -> CoreService {
    let path = path.to_path_buf();
    CoreService::spawn(move || {
        let journal = SqliteJournal::open(&path)
            .map_err(|e| maas_host::types::Error::Unavailable(e.to_string()))?;
        Runtime::new(
            CoreImage::shared()?,
            Box::new(journal),
            RuntimeOptions::default(),
        )
    })
    .unwrap()
}

/// One Server-Sent Event.
#[derive(Debug, Clone)]
struct Sse {
    id: Option<String>,
    event: String,
    data: Value,
}

/// Reads events off a streaming response.
struct Events {
    response: reqwest::Response,
    buffer: String,
}

impl Events {
    async fn open(url: &str, token: &str, last_event_id: Option<&str>) -> Events {
        let mut req = reqwest::Client::new()
            .get(url)
            .header("Authorization", format!("Bearer {token}"))
            .header("Accept", "text/event-stream");
        if let Some(id) = last_event_id {
            req = req.header("Last-Event-ID", id);
        }
        let response = req.send().await.unwrap();
        assert_eq!(response.status(), 200);
        Events {
            response,
            buffer: String::new(),
        }
    }

    /// The next event, or `None` if none comes within `wait`.
    async fn next(&mut self, wait: Duration) -> Option<Sse> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut ev = Sse {
                    id: None,
                    event: "message".into(),
                    data: Value::Null,
                };
                let mut any = false;
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        ev.id = Some(v.trim().to_string());
                        any = true;
                    } else if let Some(v) = line.strip_prefix("event:") {
                        ev.event = v.trim().to_string();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        ev.data = serde_json::from_str(v.trim()).unwrap();
                        any = true;
                    }
                }
                if any {
                    return Some(ev);
                }
                continue; // a keep-alive comment
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk()).await;
            match chunk {
                Ok(Ok(Some(bytes))) => self.buffer.push_str(&String::from_utf8_lossy(&bytes)),
                _ => return None,
            }
        }
    }
}

async fn handoff(client: &Client, to: &str, task: &str) -> String {
    let r = ok(
        client,
        "initiate_handoff",
        json!({"target_agent_id": to, "task_description": task}),
    )
    .await;
    r["handoff_id"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_resumes_after_a_restart_with_nothing_lost_or_repeated() {
    let dir = TempDir::new("sse-changes");
    let path = dir.0.join("journal.db");
    let mut first = server_with(sqlite_core(&path), |_| {}).await;
    let feed_url = first.url.replace("/mcp", "/v1/changes");
    let op = connect(&first.url, OPERATOR).await;
    let ann_token = register(&op, "ann", "claude_code", "u1").await;
    let bob_token = register(&op, "bob", "claude_code", "u2").await;
    let eve_token = register(&op, "eve", "claude_code", "u3").await;
    let ann = connect(&first.url, &ann_token).await;

    // Without a token: refused like /mcp.
    let refused = reqwest::Client::new().get(&feed_url).send().await.unwrap();
    assert_eq!(refused.status(), 401);

    let mut bob = Events::open(&feed_url, &bob_token, None).await;
    let ready = bob.next(Duration::from_secs(5)).await.unwrap();
    assert_eq!(ready.event, "ready");
    let mut eve = Events::open(&feed_url, &eve_token, None).await;
    assert_eq!(
        eve.next(Duration::from_secs(5)).await.unwrap().event,
        "ready"
    );

    let mut sent = Vec::new();
    for i in 0..3 {
        sent.push(handoff(&ann, "bob", &format!("task {i}")).await);
    }
    let e1 = bob.next(Duration::from_secs(5)).await.unwrap();
    let e2 = bob.next(Duration::from_secs(5)).await.unwrap();
    assert_eq!(e1.event, "handoff.initiated");
    assert_eq!(e1.data["object_id"], sent[0].as_str());
    assert_eq!(e2.data["object_id"], sent[1].as_str());
    assert_eq!(e2.id.as_deref(), e2.data["cursor"].as_str());
    assert!(
        eve.next(Duration::from_millis(300)).await.is_none(),
        "eve sees nothing of bob's handoffs"
    );
    // Bob goes away after two events; one more change, then the server restarts.
    drop(bob);
    sent.push(handoff(&ann, "bob", "task 3").await);
    drop(ann);
    drop(op);
    first.shut_down().await;
    drop(first);

    let second = server_with(sqlite_core(&path), |_| {}).await;
    let feed_url = second.url.replace("/mcp", "/v1/changes");
    let ann = connect(&second.url, &ann_token).await;
    sent.push(handoff(&ann, "bob", "task 4").await);
    let mut bob = Events::open(&feed_url, &bob_token, e2.id.as_deref()).await;
    let ready = bob.next(Duration::from_secs(5)).await.unwrap();
    assert_eq!(ready.event, "ready");
    assert_eq!(ready.id, e2.id);
    let mut resumed = Vec::new();
    while let Some(ev) = bob.next(Duration::from_millis(500)).await {
        resumed.push(ev.data["object_id"].as_str().unwrap().to_string());
    }
    assert_eq!(
        resumed,
        sent[2..],
        "exactly the changes after the last one received"
    );

    // A cursor from the future is refused before any event.
    let bad = reqwest::Client::new()
        .get(format!("{feed_url}?after=c999999"))
        .header("Authorization", format!("Bearer {bob_token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let body: Value = bad.json().await.unwrap();
    assert_eq!(body["code"], "invalid_input");
}

/// Every stream wakes when the head moves and reads after its cursor: eight streams of
/// one token made eight reads of the core a change (an owner's 2,048 followers, 25 ms of
/// the core thread at every write, whoever wrote). Streams of one token at one cursor
/// share one read: each still gets every change, and the reads that showed it were
/// audited once, not once a stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_of_one_token_at_one_cursor_share_their_reads() {
    let server = server().await;
    let feed_url = server.url.replace("/mcp", "/v1/changes");
    let op = connect(&server.url, OPERATOR).await;
    let ann_token = register(&op, "ann", "claude_code", "u1").await;
    let bob_token = register(&op, "bob", "claude_code", "u2").await;
    let ann = connect(&server.url, &ann_token).await;
    let mut streams = Vec::new();
    for _ in 0..8 {
        let mut s = Events::open(&feed_url, &bob_token, None).await;
        assert_eq!(s.next(Duration::from_secs(5)).await.unwrap().event, "ready");
        streams.push(s);
    }
    let sent = handoff(&ann, "bob", "review the cache change").await;
    for s in &mut streams {
        let ev = s.next(Duration::from_secs(5)).await.unwrap();
        assert_eq!(ev.event, "handoff.initiated");
        assert_eq!(ev.data["object_id"], sent.as_str());
    }
    let audit = ok(
        &op,
        "get_audit_log",
        json!({"agent_id": "bob", "event_type": "change.listed", "limit": 100}),
    )
    .await;
    let listed = audit["entries"].as_array().unwrap().len();
    assert!(
        (1..=2).contains(&listed),
        "{listed} reads showed the change to bob's 8 streams"
    );
}
