//! The edges of `maas serve` an agent with a valid token of its own could push on:
//! sessions bound to the principal that opened them, session caps and expiry, origins,
//! hosts, and refused requests that cost neither the journal nor the other agents.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod mcp_support;

use maas_host::journal::SqliteJournal;
use maas_host::mcp::http::{HttpOptions, bind};
use maas_host::service::CoreService;
use maas_host::{CoreImage, Runtime, RuntimeOptions, audit, types};
use mcp_support::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const SESSION: &str = "mcp-session-id";

fn init_body() -> String {
    json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "edge-test", "version": "1"}}})
    .to_string()
}

/// A raw Streamable HTTP request with the legacy (session) protocol.
fn request(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    token: Option<&str>,
    session: Option<&str>,
) -> reqwest::RequestBuilder {
    let mut req = http
        .request(method, url)
        .header("Accept", "application/json, text/event-stream")
        .header("Content-Type", "application/json")
        .header("MCP-Protocol-Version", "2025-06-18");
    if let Some(t) = token {
        req = req.header("Authorization", format!("Bearer {t}"));
    }
    if let Some(s) = session {
        req = req.header(SESSION, s);
    }
    req
}

/// Opens a legacy session with `token`: the response status and the session id.
async fn open_session(http: &reqwest::Client, url: &str, token: &str) -> (StatusCode, String) {
    let resp = request(http, reqwest::Method::POST, url, Some(token), None)
        .body(init_body())
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let id = resp
        .headers()
        .get(SESSION)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    if status.is_success() {
        let _ = resp.text().await;
        let done = request(http, reqwest::Method::POST, url, Some(token), Some(&id))
            .body(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string())
            .send()
            .await
            .unwrap();
        assert!(done.status().is_success(), "initialized: {}", done.status());
    }
    (status, id)
}

/// Opens `n` sessions for `token`, each answered 200: their ids.
async fn open_sessions(http: &reqwest::Client, url: &str, token: &str, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for _ in 0..n {
        let (status, id) = open_session(http, url, token).await;
        assert_eq!(status, 200);
        ids.push(id);
    }
    ids
}

/// Calls the tool `name` on a session as JSON-RPC request `id`: the status and the body.
/// The request is built now; the future borrows nothing, so it can be spawned.
fn tool_call(
    http: &reqwest::Client,
    (url, token, session): (&str, &str, &str),
    id: i64,
    name: &str,
    arguments: Value,
) -> impl std::future::Future<Output = (StatusCode, String)> + Send + use<> {
    let body = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": {"name": name, "arguments": arguments}});
    let sent = request(http, reqwest::Method::POST, url, Some(token), Some(session))
        .body(body.to_string())
        .send();
    async move {
        let resp = sent.await.unwrap();
        (resp.status(), resp.text().await.unwrap())
    }
}

/// Holds `core`'s thread busy for `time`, from a task of its own.
fn hold_core(
    core: &CoreService,
    time: Duration,
) -> tokio::task::JoinHandle<Result<(), types::Error>> {
    let core = core.clone();
    tokio::spawn(async move {
        core.call(move |_| {
            std::thread::sleep(time);
            Ok(())
        })
        .await
    })
}

/// Lists the tools on a session, a request that calls nothing in the core.
async fn list_tools(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    session: &str,
) -> reqwest::Response {
    request(http, reqwest::Method::POST, url, Some(token), Some(session))
        .body(json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}).to_string())
        .send()
        .await
        .unwrap()
}

/// Calls `whoami` on a session: the status and the body.
async fn whoami(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    session: &str,
) -> (StatusCode, String) {
    tool_call(http, (url, token, session), 2, "whoami", json!({})).await
}

/// The `host:port` of a server's `/mcp` URL, for raw connections.
fn host_port(url: &str) -> String {
    url.trim_start_matches("http://")
        .trim_end_matches("/mcp")
        .to_string()
}

/// Asserts a 401 with a JSON-RPC error body, as a bad token gets.
async fn assert_unauthorized(resp: reqwest::Response) {
    assert_eq!(resp.status(), 401);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["jsonrpc"], "2.0");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("unauthorized"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_answers_only_the_principal_that_opened_it() {
    // Twelve refusals below: more than the default budget of one address.
    let server = server_with(memory_core(), |o| o.refusals.burst = 100).await;
    let op = connect(&server.url, OPERATOR).await;
    let a = register(&op, "agent-a", "claude_code", "alice").await;
    let b = register(&op, "agent-b", "claude_code", "bob").await;
    let http = reqwest::Client::new();
    let (status, session) = open_session(&http, &server.url, &a).await;
    assert_eq!(status, 200);
    assert!(!session.is_empty(), "initialize names the session");
    let (status, body) = whoami(&http, &server.url, &a, &session).await;
    assert_eq!(status, 200);
    assert!(body.contains("agent-a"), "{body}");

    // Another agent's token, the operator's, or none: refused as a bad token.
    for token in [Some(b.as_str()), Some(OPERATOR), None] {
        let call = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
            "params": {"name": "whoami", "arguments": {}}});
        let post = request(
            &http,
            reqwest::Method::POST,
            &server.url,
            token,
            Some(&session),
        )
        .body(call.to_string());
        assert_unauthorized(post.send().await.unwrap()).await;
        let resume = request(
            &http,
            reqwest::Method::GET,
            &server.url,
            token,
            Some(&session),
        )
        .header("Last-Event-ID", "0/2");
        assert_unauthorized(resume.send().await.unwrap()).await;
        let stream = request(
            &http,
            reqwest::Method::GET,
            &server.url,
            token,
            Some(&session),
        );
        assert_unauthorized(stream.send().await.unwrap()).await;
        let delete = request(
            &http,
            reqwest::Method::DELETE,
            &server.url,
            token,
            Some(&session),
        );
        assert_unauthorized(delete.send().await.unwrap()).await;
    }
    // The session survived every attempt, and its owner may close it.
    let (status, body) = whoami(&http, &server.url, &a, &session).await;
    assert_eq!(status, 200, "{body}");
    let end = || {
        let delete = request(
            &http,
            reqwest::Method::DELETE,
            &server.url,
            Some(&a),
            Some(&session),
        );
        async move { delete.send().await.unwrap().status() }
    };
    assert_eq!(end().await, 204);
    let (status, body) = whoami(&http, &server.url, &a, &session).await;
    assert_eq!(status, 404, "a closed session is gone");
    // As a JSON-RPC error, not rmcp's plain text.
    let error: Value = serde_json::from_str(&body).expect(&body);
    assert_eq!(error["error"]["code"], -32001, "{body}");
    assert_eq!(end().await, 404, "and cannot be ended twice");
    // A call that needs a session and names none: a JSON-RPC error too.
    let call = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
        "params": {"name": "whoami", "arguments": {}}});
    let resp = request(&http, reqwest::Method::POST, &server.url, Some(&a), None)
        .body(call.to_string())
        .send()
        .await
        .unwrap();
    let (status, body) = (resp.status(), resp.text().await.unwrap());
    assert_eq!(status, 400, "{body}");
    let error: Value = serde_json::from_str(&body).expect(&body);
    assert_eq!(error["error"]["code"], -32600, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_are_capped_per_principal_and_in_total() {
    let server = server_with(memory_core(), |o| {
        o.sessions.per_principal = 3;
        // The operator's client below holds one session.
        o.sessions.total = 6;
    })
    .await;
    let op = connect(&server.url, OPERATOR).await;
    let a = register(&op, "agent-a", "claude_code", "alice").await;
    let b = register(&op, "agent-b", "claude_code", "bob").await;
    let http = reqwest::Client::new();
    let mine = open_sessions(&http, &server.url, &a, 3).await;
    let resp = request(&http, reqwest::Method::POST, &server.url, Some(&a), None)
        .body(init_body())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    assert!(
        resp.headers().get(SESSION).is_none(),
        "no session was opened"
    );
    let body: Value = resp.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("too many open MCP sessions"),
        "{body}"
    );
    for _ in 0..2 {
        assert_eq!(open_session(&http, &server.url, &b).await.0, 200);
    }
    assert_eq!(
        open_session(&http, &server.url, &b).await.0,
        503,
        "the server's total is reached"
    );
    // Closing one gives its place back.
    let delete = request(
        &http,
        reqwest::Method::DELETE,
        &server.url,
        Some(&a),
        Some(&mine[0]),
    );
    assert!(delete.send().await.unwrap().status().is_success());
    assert_eq!(open_session(&http, &server.url, &a).await.0, 200);
    assert_eq!(ok(&op, "whoami", json!({})).await["principal"], "operator");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sessions_expire_and_give_their_place_back() {
    let server = server_with(memory_core(), |o| {
        o.sessions.per_principal = 1;
        o.sessions.idle = Duration::from_millis(300);
    })
    .await;
    let http = reqwest::Client::new();
    let (status, first) = open_session(&http, &server.url, OPERATOR).await;
    assert_eq!(status, 200);
    assert_eq!(
        open_session(&http, &server.url, OPERATOR).await.0,
        429,
        "the one place is taken"
    );
    // Waits (boundedly, without touching the first session) for the idle session to be
    // closed: then its place is free again, and the session is gone.
    let mut reopened = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if open_session(&http, &server.url, OPERATOR).await.0 == 200 {
            reopened = true;
            break;
        }
    }
    assert!(reopened, "an idle session is closed and forgotten");
    assert_eq!(whoami(&http, &server.url, OPERATOR, &first).await.0, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_left_with_a_subscription_that_keeps_hearing_changes_still_expires() {
    let server = server_with(memory_core(), |o| {
        o.sessions.idle = Duration::from_millis(1500);
    })
    .await;
    let op = connect(&server.url, OPERATOR).await;
    let a = register(&op, "agent-a", "claude_code", "alice").await;
    let b = register(&op, "agent-b", "claude_code", "alice").await;
    let http = reqwest::Client::new();
    let (_, session) = open_session(&http, &server.url, &a).await;
    for (id, method) in [(3, "resources/read"), (4, "resources/subscribe")] {
        on_inbox(&http, (&server.url, &a, &session), id, method).await;
    }
    // The client leaves without a DELETE; agent-b keeps handing agent-a tasks, each one
    // a notification for the session that nobody reads.
    let other = connect(&server.url, &b).await;
    let until = std::time::Instant::now() + Duration::from_secs(5);
    while std::time::Instant::now() < until {
        ok(
            &other,
            "initiate_handoff",
            json!({"target_agent_id": "agent-a", "task_description": "one more"}),
        )
        .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(whoami(&http, &server.url, &a, &session).await.0, 404);
}

/// Sends `method` on agent-a's inbox as JSON-RPC request `id` on a session, and checks
/// it succeeded.
async fn on_inbox(
    http: &reqwest::Client,
    (url, token, session): (&str, &str, &str),
    id: i64,
    method: &str,
) {
    let body = json!({"jsonrpc": "2.0", "id": id, "method": method,
        "params": {"uri": "maas://agents/agent-a/inbox"}});
    let resp = request(http, reqwest::Method::POST, url, Some(token), Some(session))
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{method}: {}", resp.status());
    let text = resp.text().await.unwrap();
    assert!(!text.contains("\"error\""), "{method}: {text}");
}

/// `from` hands agent-a a task for each number of `tasks`, 300 ms apart.
async fn hand_tasks(from: &Client, tasks: std::ops::Range<u32>) {
    for n in tasks {
        ok(
            from,
            "initiate_handoff",
            json!({"target_agent_id": "agent-a", "task_description": format!("task {n}")}),
        )
        .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// The reads of agent-a's change feed that showed a change (`change.listed`).
async fn listed(op: &Client, agent: &str) -> usize {
    let audit = ok(
        op,
        "get_audit_log",
        json!({"agent_id": agent, "event_type": "change.listed", "limit": 1000}),
    )
    .await;
    audit["entries"].as_array().unwrap().len()
}

/// A session subscribed to a resource with no `GET` stream open: its notifications
/// reach no one, and its follower read the feed at every write (audited, on the core
/// thread) until the session expired, 30 minutes after its client went. It now reads
/// nothing until a stream opens, then tells of what changed meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscribed_session_with_no_stream_open_reads_nothing_until_one_opens() {
    let server = server().await;
    let op = connect(&server.url, OPERATOR).await;
    let a = register(&op, "agent-a", "claude_code", "alice").await;
    let b = register(&op, "agent-b", "claude_code", "alice").await;
    let http = reqwest::Client::new();
    let (_, session) = open_session(&http, &server.url, &a).await;
    on_inbox(&http, (&server.url, &a, &session), 3, "resources/subscribe").await;
    let before = listed(&op, "agent-a").await;
    let other = connect(&server.url, &b).await;
    hand_tasks(&other, 0..3).await;
    assert_eq!(
        listed(&op, "agent-a").await,
        before,
        "the feed was read for a session no one hears"
    );
    // A stream opens: the follower reads on and tells of the inbox's changes.
    let mut stream = session_stream(&http, &server.url, &a, &session).await;
    assert_eq!(stream.status(), 200);
    let heard = tokio::time::timeout(Duration::from_secs(10), async {
        let mut text = String::new();
        while !text.contains("notifications/resources/updated") {
            match stream.chunk().await.ok().flatten() {
                Some(chunk) => text.push_str(&String::from_utf8_lossy(&chunk)),
                None => break,
            }
        }
        text
    })
    .await
    .expect("no notification once a stream opened");
    assert!(heard.contains("maas://agents/agent-a/inbox"), "{heard}");
    let heard_at = listed(&op, "agent-a").await;
    assert!(heard_at > before);
    // The stream closes: the follower stops reading again.
    drop(stream);
    tokio::time::sleep(Duration::from_millis(500)).await;
    hand_tasks(&other, 3..6).await;
    assert_eq!(
        listed(&op, "agent-a").await,
        heard_at,
        "the feed was read after the session's stream closed"
    );
}

/// How long the reclaim tests let their sessions sit idle.
const RECLAIM: Duration = Duration::from_secs(1);

/// A server allowing two sessions a principal, reclaiming those idle for [`RECLAIM`];
/// the operator's client and agent-a's token.
async fn reclaiming_two_a_principal() -> (Server, Client, String) {
    let server = server_with(memory_core(), |o| {
        o.sessions.per_principal = 2;
        o.sessions.reclaim_after = RECLAIM;
    })
    .await;
    let op = connect(&server.url, OPERATOR).await;
    let a = register(&op, "agent-a", "claude_code", "alice").await;
    (server, op, a)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_its_cap_an_agent_s_least_recently_used_idle_session_makes_room() {
    let (server, _op, a) = reclaiming_two_a_principal().await;
    let http = reqwest::Client::new();
    let (_, first) = open_session(&http, &server.url, &a).await;
    let (_, second) = open_session(&http, &server.url, &a).await;
    assert_eq!(
        open_session(&http, &server.url, &a).await.0,
        429,
        "both sessions were used just now"
    );
    tokio::time::sleep(RECLAIM + Duration::from_millis(100)).await;
    // The second is used again; the first has been idle longest.
    assert_eq!(whoami(&http, &server.url, &a, &second).await.0, 200);
    let (status, third) = open_session(&http, &server.url, &a).await;
    assert_eq!(status, 200, "an idle session made room");
    assert_eq!(whoami(&http, &server.url, &a, &first).await.0, 404);
    assert_eq!(whoami(&http, &server.url, &a, &second).await.0, 200);
    assert_eq!(whoami(&http, &server.url, &a, &third).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_with_an_open_stream_is_never_closed_to_make_room() {
    let (server, _op, a) = reclaiming_two_a_principal().await;
    let http = reqwest::Client::new();
    let (_, listening) = open_session(&http, &server.url, &a).await;
    let stream = session_stream(&http, &server.url, &a, &listening).await;
    assert_eq!(stream.status(), 200);
    let (_, other) = open_session(&http, &server.url, &a).await;
    tokio::time::sleep(RECLAIM + Duration::from_millis(100)).await;
    assert_eq!(open_session(&http, &server.url, &a).await.0, 200);
    assert_eq!(
        whoami(&http, &server.url, &a, &other).await.0,
        404,
        "the idle session without a stream made room, though it is the newer"
    );
    assert_eq!(whoami(&http, &server.url, &a, &listening).await.0, 200);
    drop(stream);
    // With both now in use, nothing is idle: a fourth is refused.
    assert_eq!(open_session(&http, &server.url, &a).await.0, 429);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_is_idle_from_when_its_last_answer_went_out() {
    let (server, _op, a) = reclaiming_two_a_principal().await;
    let http = reqwest::Client::new();
    let (_, long) = open_session(&http, &server.url, &a).await;
    let (_, other) = open_session(&http, &server.url, &a).await;
    // A request on `long` lasting longer than the reclaim time; `other` is used once
    // after it began, so when it ends both were last asked something over a second ago.
    let wait = json!({"timeout_seconds": 2, "kinds": ["handoff"]});
    let waiting = tokio::spawn(tool_call(
        &http,
        (&server.url, &a, &long),
        5,
        "wait_for_changes",
        wait,
    ));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(whoami(&http, &server.url, &a, &other).await.0, 200);
    assert_eq!(waiting.await.unwrap().0, 200);
    assert_eq!(open_session(&http, &server.url, &a).await.0, 200);
    assert_eq!(
        whoami(&http, &server.url, &a, &long).await.0,
        200,
        "its answer went out just now"
    );
    assert_eq!(whoami(&http, &server.url, &a, &other).await.0, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_server_s_cap_the_principal_holding_the_most_gives_up_an_idle_session() {
    let server = server_with(memory_core(), |o| {
        o.sessions.per_principal = 3;
        // The operator's client below holds one session.
        o.sessions.total = 4;
        o.sessions.reclaim_after = RECLAIM;
    })
    .await;
    let op = connect(&server.url, OPERATOR).await;
    let a = register(&op, "agent-a", "claude_code", "alice").await;
    let b = register(&op, "agent-b", "claude_code", "bob").await;
    let http = reqwest::Client::new();
    let (_, a1) = open_session(&http, &server.url, &a).await;
    let (_, a2) = open_session(&http, &server.url, &a).await;
    let (_, b1) = open_session(&http, &server.url, &b).await;
    assert_eq!(
        open_session(&http, &server.url, &b).await.0,
        503,
        "every session was used just now"
    );
    tokio::time::sleep(RECLAIM + Duration::from_millis(100)).await;
    assert_eq!(open_session(&http, &server.url, &b).await.0, 200);
    assert_eq!(whoami(&http, &server.url, &a, &a1).await.0, 404);
    assert_eq!(whoami(&http, &server.url, &a, &a2).await.0, 200);
    assert_eq!(whoami(&http, &server.url, &b, &b1).await.0, 200);
    assert_eq!(ok(&op, "whoami", json!({})).await["principal"], "operator");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agents_of_one_owner_share_a_cap_on_sessions_and_reclaim_their_own() {
    let server = server_with(memory_core(), |o| {
        o.sessions.per_principal = 3;
        o.sessions.per_owner = 2;
        o.sessions.reclaim_after = RECLAIM;
    })
    .await;
    let op = connect(&server.url, OPERATOR).await;
    let http = reqwest::Client::new();
    let a1 = register(&op, "alice-1", "claude_code", "alice").await;
    let a2 = register(&op, "alice-2", "claude_code", "alice").await;
    let a3 = register(&op, "alice-3", "claude_code", "alice").await;
    let bob = register(&op, "bob-1", "claude_code", "bob").await;
    let (_, first) = open_session(&http, &server.url, &a1).await;
    let (_, second) = open_session(&http, &server.url, &a2).await;
    let (status, _) = open_session(&http, &server.url, &a3).await;
    assert_eq!(status, 429, "alice's agents hold her two places");
    assert_eq!(open_session(&http, &server.url, &bob).await.0, 200);
    // The operator is no owner's: its sessions count against its own cap only.
    for _ in 0..2 {
        assert_eq!(open_session(&http, &server.url, OPERATOR).await.0, 200);
    }
    tokio::time::sleep(RECLAIM + Duration::from_millis(100)).await;
    assert_eq!(whoami(&http, &server.url, &a2, &second).await.0, 200);
    assert_eq!(open_session(&http, &server.url, &a3).await.0, 200);
    assert_eq!(
        whoami(&http, &server.url, &a1, &first).await.0,
        404,
        "alice's least recently used session made room"
    );
    assert_eq!(whoami(&http, &server.url, &a2, &second).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_server_s_cap_the_owner_holding_the_most_gives_up_an_idle_session() {
    let server = server_with(memory_core(), |o| {
        o.sessions.per_principal = 3;
        // The operator's client below holds one session; alice's three agents hold one
        // each, bob's one agent two.
        o.sessions.total = 6;
        o.sessions.reclaim_after = RECLAIM;
    })
    .await;
    let op = connect(&server.url, OPERATOR).await;
    let http = reqwest::Client::new();
    let mut alice = Vec::new();
    for id in ["alice-1", "alice-2", "alice-3"] {
        let token = register(&op, id, "claude_code", "alice").await;
        let (status, session) = open_session(&http, &server.url, &token).await;
        assert_eq!(status, 200);
        alice.push((token, session));
    }
    let bob = register(&op, "bob-1", "claude_code", "bob").await;
    let (_, b1) = open_session(&http, &server.url, &bob).await;
    let (_, b2) = open_session(&http, &server.url, &bob).await;
    // Bob, holding two, gets no third while every session was used just now.
    assert_eq!(
        open_session(&http, &server.url, &bob).await.0,
        503,
        "every session was used just now"
    );
    tokio::time::sleep(RECLAIM + Duration::from_millis(100)).await;
    let carol = register(&op, "carol-1", "claude_code", "carol").await;
    // alice-1's session is the least recently used of alice's (bob's one agent holds
    // the most sessions of any agent, but bob fewer than alice).
    for (token, session) in &alice[1..] {
        assert_eq!(whoami(&http, &server.url, token, session).await.0, 200);
    }
    assert_eq!(open_session(&http, &server.url, &carol).await.0, 200);
    let (token, session) = &alice[0];
    assert_eq!(whoami(&http, &server.url, token, session).await.0, 404);
    for session in [&b1, &b2] {
        assert_eq!(whoami(&http, &server.url, &bob, session).await.0, 200);
    }
}

/// At the server's cap with every session used just now, an owner holding fewer than
/// the owner holding the most, less one, still gets a session: that owner's least
/// recently used one with no stream open makes room (its client gets 404 and opens
/// again). One holding as many, less one, is refused; the operator's are never taken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_server_s_cap_an_owner_holding_fewer_takes_a_busy_session_of_the_one_holding_most() {
    let server = server_with(memory_core(), |o| {
        o.sessions.per_principal = 3;
        // The operator's client below holds one session, alice's agent three, bob's two.
        o.sessions.total = 6;
    })
    .await;
    let op = connect(&server.url, OPERATOR).await;
    let http = reqwest::Client::new();
    let alice = register(&op, "alice-1", "claude_code", "alice").await;
    let held = open_sessions(&http, &server.url, &alice, 3).await;
    let bob = register(&op, "bob-1", "claude_code", "bob").await;
    let (_, b1) = open_session(&http, &server.url, &bob).await;
    let (_, b2) = open_session(&http, &server.url, &bob).await;
    // Each used just now, alice's first the least recently.
    for session in &held[1..] {
        assert_eq!(whoami(&http, &server.url, &alice, session).await.0, 200);
    }
    for session in [&b1, &b2] {
        assert_eq!(whoami(&http, &server.url, &bob, session).await.0, 200);
    }
    // Bob holds two, alice three: taking one would leave bob no fewer than alice.
    assert_eq!(open_session(&http, &server.url, &bob).await.0, 503);
    let carol = register(&op, "carol-1", "claude_code", "carol").await;
    let (status, c1) = open_session(&http, &server.url, &carol).await;
    assert_eq!(status, 200, "carol holds none");
    assert_eq!(whoami(&http, &server.url, &alice, &held[0]).await.0, 404);
    for session in &held[1..] {
        assert_eq!(whoami(&http, &server.url, &alice, session).await.0, 200);
    }
    // Now alice, bob and carol hold 2, 2 and 1: carol's second would leave it at two.
    assert_eq!(open_session(&http, &server.url, &carol).await.0, 503);
    assert_eq!(whoami(&http, &server.url, &carol, &c1).await.0, 200);
    assert_eq!(ok(&op, "whoami", json!({})).await["principal"], "operator");
    server.stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_server_s_cap_an_owner_takes_a_busy_session_at_most_once_an_interval() {
    let every = std::time::Duration::from_millis(1500);
    let server = server_with(memory_core(), |o| {
        o.sessions.per_principal = 4;
        // The operator's client holds one session, alice's agent three, carol's one.
        o.sessions.total = 5;
        o.sessions.preempt_every = every;
    })
    .await;
    let op = connect(&server.url, OPERATOR).await;
    let http = reqwest::Client::new();
    let alice = register(&op, "alice-1", "claude_code", "alice").await;
    let carol = register(&op, "carol-1", "claude_code", "carol").await;
    let mut held = open_sessions(&http, &server.url, &alice, 3).await;
    let (status, c1) = open_session(&http, &server.url, &carol).await;
    assert_eq!(status, 200);
    // Carol gives her place back, alice's client takes it, carol opens again at once:
    // the cycle that took alice's busy sessions without pause.
    let close = request(
        &http,
        reqwest::Method::DELETE,
        &server.url,
        Some(&carol),
        Some(&c1),
    );
    assert!(close.send().await.unwrap().status().is_success());
    let (status, a4) = open_session(&http, &server.url, &alice).await;
    assert_eq!(status, 200);
    held.push(a4);
    let started = std::time::Instant::now();
    for session in &held {
        assert_eq!(whoami(&http, &server.url, &alice, session).await.0, 200);
    }
    // Carol holds none, alice four: the first taking is hers.
    let (status, _) = open_session(&http, &server.url, &carol).await;
    assert_eq!(status, 200, "carol holds none");
    let busy = || async {
        let mut open = 0;
        for session in &held {
            open += usize::from(whoami(&http, &server.url, &alice, session).await.0 == 200);
        }
        open
    };
    assert_eq!(busy().await, 3);
    // Within the interval she takes no other, though she still holds fewer by more
    // than one.
    let (status, _) = open_session(&http, &server.url, &carol).await;
    assert!(
        started.elapsed() < every,
        "the interval passed before the check"
    );
    assert_eq!(status, 503);
    assert_eq!(busy().await, 3);
    // Once it has passed, she may again.
    tokio::time::sleep(every).await;
    assert_eq!(open_session(&http, &server.url, &carol).await.0, 200);
    assert_eq!(busy().await, 2);
    assert_eq!(ok(&op, "whoami", json!({})).await["principal"], "operator");
    server.stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn origins_off_the_allow_list_are_refused_and_never_act_without_a_token() {
    let server = server_with(memory_core(), |o| {
        o.insecure_loopback = true;
        o.allowed_origins = vec!["https://app.example.com".into()];
    })
    .await;
    let http = reqwest::Client::new();
    let post = |token: Option<&str>, origin: Option<&str>| {
        let mut req =
            request(&http, reqwest::Method::POST, &server.url, token, None).body(init_body());
        if let Some(o) = origin {
            req = req.header("Origin", o);
        }
        req.send()
    };
    for evil in [
        "https://evil.example",
        "null",
        "http://localhost.evil.example",
    ] {
        let resp = post(Some(OPERATOR), Some(evil)).await.unwrap();
        assert_eq!(resp.status(), 403, "{evil}");
        let body: Value = resp.json().await.unwrap();
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("Origin")
        );
    }
    assert_eq!(
        post(Some(OPERATOR), Some("https://app.example.com"))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        post(Some(OPERATOR), Some("http://localhost:5173"))
            .await
            .unwrap()
            .status(),
        200
    );
    // --insecure-loopback: no token acts as the operator only without an origin: never
    // for a page, not even one served from a loopback origin (CORS lets it read answers).
    assert_eq!(post(None, None).await.unwrap().status(), 200);
    assert_unauthorized(post(None, Some("http://127.0.0.1:3000")).await.unwrap()).await;
    assert_unauthorized(post(None, Some("https://app.example.com")).await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_at_an_allowed_origin_gets_its_preflight_and_may_read_every_answer() {
    let server = server_with(memory_core(), |o| {
        o.allowed_origins = vec!["https://app.example.com".into()];
    })
    .await;
    let http = reqwest::Client::new();
    let preflight = |origin: &str| {
        http.request(reqwest::Method::OPTIONS, &server.url)
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .header(
                "Access-Control-Request-Headers",
                "authorization, content-type, mcp-session-id",
            )
            .send()
    };
    let header = |resp: &reqwest::Response, name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    // A preflight needs no token; it names the origin, the methods and the headers.
    for origin in ["https://app.example.com", "http://localhost:6274"] {
        let resp = preflight(origin).await.unwrap();
        assert_eq!(resp.status(), 204, "{origin}");
        assert_eq!(header(&resp, "access-control-allow-origin"), origin);
        assert!(header(&resp, "access-control-allow-methods").contains("POST"));
        for asked in ["authorization", "content-type", "mcp-session-id"] {
            assert!(
                header(&resp, "access-control-allow-headers").contains(asked),
                "{asked}"
            );
        }
    }
    // An origin off the list gets no preflight, only the 403 it always got.
    let resp = preflight("https://evil.example").await.unwrap();
    assert_eq!(resp.status(), 403);
    assert!(header(&resp, "access-control-allow-origin").is_empty());
    // The page reads its answers, the session id included, and its refusals.
    let app = Some("https://app.example.com");
    let post = |token: &str, origin: Option<&str>| {
        let mut req = request(&http, reqwest::Method::POST, &server.url, Some(token), None);
        if let Some(o) = origin {
            req = req.header("Origin", o);
        }
        req.body(init_body()).send()
    };
    let resp = post(OPERATOR, app).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        header(&resp, "access-control-allow-origin"),
        "https://app.example.com"
    );
    assert!(header(&resp, "access-control-expose-headers").contains("mcp-session-id"));
    assert!(!header(&resp, SESSION).is_empty());
    let resp = post("not-a-token", app).await.unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(
        header(&resp, "access-control-allow-origin"),
        "https://app.example.com"
    );
    // A request without an Origin (no browser) gets no CORS headers.
    let resp = post(OPERATOR, None).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(header(&resp, "access-control-allow-origin").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_public_address_serves_the_allowed_hosts_only() {
    let public = "0.0.0.0:0".parse().unwrap();
    let refused = bind(
        memory_core(),
        HttpOptions::new(public, OPERATOR),
        CancellationToken::new(),
    )
    .await;
    let err = refused.err().unwrap().to_string();
    assert!(err.contains("--allowed-host"), "{err}");
    let mut loose = HttpOptions::new(public, OPERATOR);
    loose.allowed_hosts = vec!["maas.internal".into()];
    loose.insecure_loopback = true;
    let err = bind(memory_core(), loose, CancellationToken::new())
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("--insecure-loopback"), "{err}");

    let mut options = HttpOptions::new(public, OPERATOR);
    options.allowed_hosts = vec!["maas.internal".into()];
    let stop = CancellationToken::new();
    let (addr, run) = bind(memory_core(), options, stop.clone()).await.unwrap();
    tokio::spawn(run);
    let url = format!("http://127.0.0.1:{}/mcp", addr.port());
    let http = reqwest::Client::new();
    for (host, status) in [
        (format!("maas.internal:{}", addr.port()), 200),
        ("maas.internal".to_string(), 200),
        (format!("127.0.0.1:{}", addr.port()), 200),
        ("evil.example".to_string(), 403),
        ("[2001:DB8::1]:8080".to_string(), 403),
    ] {
        let resp = request(&http, reqwest::Method::POST, &url, Some(OPERATOR), None)
            .header("Host", host.as_str())
            .body(init_body())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), status, "Host: {host}");
        if status == 403 {
            // The refusal names the Host and the flag that would allow it.
            let body: Value = resp.json().await.unwrap();
            let message = body["error"]["message"].as_str().unwrap_or_default();
            let name = match host.as_str() {
                "evil.example" => "evil.example",
                _ => "2001:db8::1",
            };
            assert!(
                message.contains(&format!("'{host}'"))
                    && message.contains(&format!("--allowed-host {name}")),
                "{message}"
            );
        }
    }
    // A page served under an allowed name shares its origin; another name's does not.
    let host = format!("maas.internal:{}", addr.port());
    for (origin, status) in [
        (format!("http://{host}"), 200),
        ("https://maas.internal".to_string(), 200),
        (format!("http://evil.example:{}", addr.port()), 403),
    ] {
        let resp = request(&http, reqwest::Method::POST, &url, Some(OPERATOR), None)
            .header("Host", host.as_str())
            .header("Origin", origin.as_str())
            .body(init_body())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), status, "Origin: {origin}");
    }
    stop.cancel();
}

/// Journal rows, counted in the SQLite file.
fn rows(path: &std::path::Path) -> i64 {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.query_row("SELECT COUNT(*) FROM journal", [], |r| r.get(0))
        .unwrap()
}

/// The operator's view of the denials in the audit trail.
async fn denials(core: &CoreService) -> Vec<audit::AuditEntry> {
    core.call(|rt| {
        rt.call(|c, s| {
            c.maas_core_audit().call_query(
                s,
                &types::Caller::Operator,
                &audit::AuditFilter {
                    agent_id: None,
                    event_type: None,
                    since: None,
                    until: None,
                    limit: Some(1000),
                },
            )
        })
    })
    .await
    .unwrap()
    .into_iter()
    .filter(|e| e.outcome == "denied")
    .collect()
}

/// The status of an `initialize` request with `token`.
async fn initialize(http: &reqwest::Client, url: &str, token: &str) -> u16 {
    request(http, reqwest::Method::POST, url, Some(token), None)
        .body(init_body())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// A directory of this process under the system's temporary one, and the path of `file`
/// in it, removed if a previous run left it.
fn scratch(name: &str, file: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(file);
    let _ = std::fs::remove_file(&path);
    (dir, path)
}

/// A core over a SQLite journal at `path`.
fn sqlite_core(path: &std::path::Path) -> CoreService {
    let path = path.to_path_buf();
    CoreService::spawn(move || {
        let journal =
            SqliteJournal::open(&path).map_err(|e| types::Error::Unavailable(e.to_string()))?;
        Runtime::new(
            CoreImage::shared()?,
            Box::new(journal),
            RuntimeOptions::default(),
        )
    })
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_journal_entry_the_core_cannot_read_is_unavailable_not_a_bad_token() {
    let (dir, path) = scratch("maas-undecodable", "journal.db");
    let server = server_with(sqlite_core(&path), |_| {}).await;
    let op = connect(&server.url, OPERATOR).await;
    let worker = register(&op, "worker", "claude_code", "u").await;
    // A row nobody wrote through maas, at the head: no checksum to fail, no JSON either.
    let db = rusqlite::Connection::open(&path).unwrap();
    let head: i64 = db
        .query_row("SELECT MAX(seq) FROM journal", [], |r| r.get(0))
        .unwrap();
    db.execute(
        "INSERT INTO journal (seq, data) VALUES (?1, ?2)",
        rusqlite::params![head + 1, b"not json at all".as_slice()],
    )
    .unwrap();
    drop(db);
    let http = reqwest::Client::new();
    let resp = request(
        &http,
        reqwest::Method::POST,
        &server.url,
        Some(&worker),
        None,
    )
    .body(init_body())
    .send()
    .await
    .unwrap();
    // The token is good: a client told 401 would throw it away.
    assert_eq!(resp.status(), 503);
    let body: Value = resp.json().await.unwrap();
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("cannot be decoded"), "{message}");
    drop(server);
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_bad_tokens_cost_a_handful_of_journal_rows_and_lock_out_nobody() {
    let (dir, path) = scratch("maas-edges", "journal.db");
    let core = sqlite_core(&path);
    let mut server = server_with(core, |o| {
        // No refill and no periodic entry during the test: exact counts.
        o.refusals.per_minute = 0;
        o.refusals.audit_interval = Duration::from_secs(3600);
    })
    .await;
    let burst = 10;
    let op = connect(&server.url, OPERATOR).await;
    let worker_token = register(&op, "worker", "claude_code", "u").await;
    let worker = connect(&server.url, &worker_token).await;
    assert_eq!(ok(&worker, "whoami", json!({})).await["agent_id"], "worker");
    let late_token = register(&op, "late", "claude_code", "u").await;
    let denied_before = denials(&server.core).await.len();
    let before = rows(&path);

    let http = reqwest::Client::new();
    let (mut unauthorized, mut limited) = (0, 0);
    for i in 0..500 {
        match initialize(&http, &server.url, &format!("maas_{i:064x}")).await {
            401 => unauthorized += 1,
            429 => limited += 1,
            other => panic!("a bad token got {other}"),
        }
    }
    assert_eq!((unauthorized, limited), (burst, 500 - burst));
    assert!(
        rows(&path) - before <= burst as i64,
        "at most one row per request within the budget: {} rows for 500 requests",
        rows(&path) - before
    );

    // Tokens that authenticated before still work from the flooded address; a token
    // never seen there waits for the budget to refill.
    assert_eq!(ok(&worker, "whoami", json!({})).await["agent_id"], "worker");
    ok(&op, "get_agent_info", json!({"agent_id": "worker"})).await;
    assert_eq!(initialize(&http, &server.url, &late_token).await, 429);

    server.shut_down().await;
    let denied: Vec<_> = denials(&server.core)
        .await
        .into_iter()
        .skip(denied_before)
        .collect();
    let failed = denied
        .iter()
        .filter(|e| e.event_type == "auth.failed")
        .count();
    assert_eq!(
        failed, burst,
        "the core audits the bad tokens it was asked about"
    );
    let summaries: Vec<_> = denied
        .iter()
        .filter(|e| e.detail.contains("refused HTTP requests from 127.0.0.1"))
        .collect();
    assert_eq!(summaries.len(), 1, "{denied:?}");
    let detail = &summaries[0].detail;
    assert!(detail.contains("501 refused HTTP requests"), "{detail}");
    assert!(
        detail.contains("invalid token 10") && detail.contains("rate limited 491"),
        "{detail}"
    );
    assert_eq!(denied.len(), burst + 1, "{denied:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_are_audited_per_address_once_per_interval() {
    let server = server_with(memory_core(), |o| {
        o.refusals.audit_interval = Duration::from_millis(100);
    })
    .await;
    let op = connect(&server.url, OPERATOR).await;
    let http = reqwest::Client::new();
    for _ in 0..4 {
        let resp = request(&http, reqwest::Method::POST, &server.url, None, None)
            .body(init_body())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401);
    }
    for _ in 0..3 {
        let resp = request(
            &http,
            reqwest::Method::POST,
            &server.url,
            Some(OPERATOR),
            None,
        )
        .header("Origin", "https://evil.example")
        .body(init_body())
        .send()
        .await
        .unwrap();
        assert_eq!(resp.status(), 403);
    }
    let mut seen = 0;
    let mut reasons = String::new();
    for _ in 0..100 {
        let log = ok(
            &op,
            "get_audit_log",
            json!({"event_type": "access.denied", "limit": 1000}),
        )
        .await;
        let entries: Vec<String> = log["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["detail"].to_string())
            .filter(|d| d.contains("refused HTTP request"))
            .collect();
        seen = entries
            .iter()
            .map(|d| {
                let end = d.find(" refused HTTP request").unwrap();
                let digits: String = d[..end]
                    .chars()
                    .rev()
                    .take_while(char::is_ascii_digit)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect();
                digits.parse::<u64>().unwrap()
            })
            .sum();
        reasons = entries.join("\n");
        if seen >= 7 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(seen, 7, "{reasons}");
    assert!(
        reasons.contains("no token") && reasons.contains("origin not allowed"),
        "{reasons}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_that_worked_before_a_restart_is_not_locked_out_by_a_flood_after_it() {
    let (dir, file) = scratch("maas-known-edges", "http-known-tokens");
    let core = memory_core();
    let keep = |o: &mut HttpOptions| {
        o.refusals.per_minute = 0;
        o.known_tokens = Some(file.clone());
    };
    let mut first = server_with(core.clone(), keep).await;
    let op = connect(&first.url, OPERATOR).await;
    let worker_token = register(&op, "worker", "claude_code", "u").await;
    let late_token = register(&op, "late", "claude_code", "u").await;
    let worker = connect(&first.url, &worker_token).await;
    assert_eq!(ok(&worker, "whoami", json!({})).await["agent_id"], "worker");
    drop(worker);
    first.shut_down().await;

    // A new server on the same data directory, flooded from the worker's address.
    let second = server_with(core, keep).await;
    let http = reqwest::Client::new();
    let status = |token: String| {
        let (http, url) = (http.clone(), second.url.clone());
        async move { initialize(&http, &url, &token).await }
    };
    for i in 0..12 {
        status(format!("maas_{i:064x}")).await;
    }
    assert_eq!(status(format!("maas_{:064x}", 99)).await, 429);
    assert_eq!(
        status(worker_token.clone()).await,
        200,
        "worked before the restart"
    );
    assert_eq!(
        status(late_token).await,
        429,
        "never worked with a server here"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A token forgotten when its agent was deactivated came back unknown when the agent
/// was reactivated, and under another client's flood from its address it was refused
/// 429 for up to a minute, though it had worked with this server. It is now asked
/// again after a few seconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reactivated_agent_gets_through_a_flood_from_its_address_within_seconds() {
    let server = server_with(memory_core(), |o| {
        o.refusals.per_minute = 0;
        o.refusals.lapsed_retry = Duration::from_millis(500);
    })
    .await;
    let op = connect(&server.url, OPERATOR).await;
    let token = register(&op, "paused", "claude_code", "u").await;
    let http = reqwest::Client::new();
    assert_eq!(initialize(&http, &server.url, &token).await, 200);
    ok(&op, "deactivate_agent", json!({"agent_id": "paused"})).await;
    // Refused once deactivated (the door forgets the token), then a flood.
    assert_eq!(initialize(&http, &server.url, &token).await, 401);
    for i in 0..12 {
        initialize(&http, &server.url, &format!("maas_{i:064x}")).await;
    }
    assert_eq!(
        initialize(&http, &server.url, &format!("maas_{:064x}", 99)).await,
        429
    );
    ok(&op, "reactivate_agent", json!({"agent_id": "paused"})).await;
    let until = std::time::Instant::now() + Duration::from_secs(5);
    let mut status = 0;
    while std::time::Instant::now() < until {
        status = initialize(&http, &server.url, &token).await;
        if status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, 200, "the reactivated agent is still refused");
    // A stranger still waits.
    assert_eq!(
        initialize(&http, &server.url, &format!("maas_{:064x}", 98)).await,
        429
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_registered_during_a_flood_from_its_address_gets_through_at_once() {
    let (dir, file) = scratch("maas-issued-edges", "http-known-tokens");
    let noted = file.clone();
    let core = CoreService::spawn(move || {
        Runtime::new(
            CoreImage::shared()?,
            Box::new(maas_host::journal::MemoryJournal::new()),
            RuntimeOptions {
                known_tokens: Some(noted),
                ..RuntimeOptions::default()
            },
        )
    })
    .unwrap();
    let server = server_with(core.clone(), |o| {
        o.refusals.per_minute = 0;
        o.known_tokens = Some(file.clone());
    })
    .await;
    let http = reqwest::Client::new();
    for i in 0..12 {
        initialize(&http, &server.url, &format!("maas_{i:064x}")).await;
    }
    assert_eq!(
        initialize(&http, &server.url, &format!("maas_{:064x}", 99)).await,
        429
    );

    // Registered over this server while the flood goes on: its token was noted when
    // it was issued (as the CLI notes it in the data directory's file).
    let op = connect(&server.url, OPERATOR).await;
    let fresh = register(&op, "fresh", "claude_code", "u").await;
    assert_eq!(initialize(&http, &server.url, &fresh).await, 200);
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        !text.contains(&fresh) && text.lines().count() == 1,
        "digests only: {text}"
    );
    assert_eq!(
        initialize(&http, &server.url, &format!("maas_{:064x}", 100)).await,
        429,
        "a bad token still waits"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_is_not_a_json_rpc_message_is_a_400_parse_error() {
    let server = server_with(memory_core(), |_| {}).await;
    let http = reqwest::Client::new();
    for body in [r#"{"jsonrpc":"#, r#"{"no": "method"}"#] {
        let resp = request(
            &http,
            reqwest::Method::POST,
            &server.url,
            Some(OPERATOR),
            None,
        )
        .body(body)
        .send()
        .await
        .unwrap();
        assert_eq!(resp.status(), 400, "{body}");
        let answer: Value = resp.json().await.unwrap();
        assert_eq!(answer["error"]["code"], -32700, "{answer}");
        assert!(answer["id"].is_null(), "{answer}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_refuses_a_foreign_host_even_without_a_token_on_loopback() {
    let server = server_with(memory_core(), |o| o.insecure_loopback = true).await;
    let base = server.url.trim_end_matches("/mcp").to_string();
    let port = base.rsplit(':').next().unwrap().to_string();
    let http = reqwest::Client::new();
    let a2a = json!({"jsonrpc": "2.0", "id": 1, "method": "tasks/get", "params": {"id": "h-1"}});
    for host in [
        "rebind.attacker.example",
        "evil.example:80",
        "127.0.0.1.evil.example",
    ] {
        let feed = http
            .get(format!("{base}/v1/changes"))
            .header("Host", host)
            .send()
            .await
            .unwrap();
        assert_eq!(feed.status(), 403, "/v1/changes with Host: {host}");
        let tasks = http
            .post(format!("{base}/a2a"))
            .header("Host", host)
            .json(&a2a)
            .send()
            .await
            .unwrap();
        assert_eq!(tasks.status(), 403, "/a2a with Host: {host}");
    }
    // The loopback names still reach the feed (the operator's, here without a token).
    let feed = http
        .get(format!("{base}/v1/changes"))
        .header("Host", format!("localhost:{port}"))
        .send()
        .await
        .unwrap();
    assert_eq!(feed.status(), 200);
    drop(feed);
    server.stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_feed_streams_are_capped_per_principal() {
    let server = server_with(memory_core(), |o| o.sessions.per_principal = 2).await;
    let op = connect(&server.url, OPERATOR).await;
    let a = register(&op, "agent-a", "claude_code", "alice").await;
    let b = register(&op, "agent-b", "claude_code", "bob").await;
    let feed_url = server.url.replace("/mcp", "/v1/changes");
    let http = reqwest::Client::new();
    let open = |token: String| {
        let http = http.clone();
        let url = feed_url.clone();
        async move { http.get(url).bearer_auth(token).send().await.unwrap() }
    };
    let first = open(a.clone()).await;
    let second = open(a.clone()).await;
    assert_eq!(
        (first.status().as_u16(), second.status().as_u16()),
        (200, 200)
    );
    let third = open(a.clone()).await;
    assert_eq!(third.status(), 429);
    let body: Value = third.json().await.unwrap();
    assert_eq!(body["code"], "rate_limited", "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("change-feed streams")
    );
    assert_eq!(
        open(b).await.status(),
        200,
        "another agent is not held back"
    );
    drop((first, second));
    server.stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_feed_streams_are_capped_per_owner() {
    let server = server_with(memory_core(), |o| o.sessions.per_owner = 2).await;
    let op = connect(&server.url, OPERATOR).await;
    let a1 = register(&op, "alice-1", "claude_code", "alice").await;
    let a2 = register(&op, "alice-2", "claude_code", "alice").await;
    let b = register(&op, "bob-1", "claude_code", "bob").await;
    let feed_url = server.url.replace("/mcp", "/v1/changes");
    let http = reqwest::Client::new();
    let open = |token: &str| {
        let request = http.get(&feed_url).bearer_auth(token);
        async move { request.send().await.unwrap() }
    };
    let held = [open(&a1).await, open(&a2).await];
    assert!(held.iter().all(|r| r.status() == 200));
    let third = open(&a2).await;
    assert_eq!(third.status(), 429, "alice's agents hold her two streams");
    let body: Value = third.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("of this owner"),
        "{body}"
    );
    assert_eq!(
        open(&b).await.status(),
        200,
        "another owner is not held back"
    );
    assert_eq!(open(OPERATOR).await.status(), 200);
    drop(held);
    // Its slots freed when the streams end.
    let mut freed = false;
    for _ in 0..50 {
        let again = open(&a1).await;
        if again.status() == 200 {
            freed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(freed, "a stream's slot is freed when it ends");
    server.stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_sent_requests_are_dropped_and_connections_are_capped() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = server_with(memory_core(), |o| {
        o.connections.max = 4;
        o.connections.header_timeout = Duration::from_millis(800);
    })
    .await;
    let addr = host_port(&server.url);
    // Four connections that send half a request and wait fill every place.
    let mut stalled = Vec::new();
    for _ in 0..4 {
        let mut c = tokio::net::TcpStream::connect(&addr).await.unwrap();
        c.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            .await
            .unwrap();
        stalled.push(c);
    }
    // The fifth takes the place of one of them (none has shown a token).
    let took = health_took(&addr).await;
    assert!(
        took < Duration::from_millis(400),
        "the fifth connection did not wait for a stalled one's timeout ({took:?})"
    );
    // The stalled ones were closed by the server.
    for mut c in stalled {
        let mut buf = [0u8; 256];
        let read = tokio::time::timeout(Duration::from_secs(5), c.read(&mut buf)).await;
        assert!(
            matches!(read, Ok(Ok(_)) | Ok(Err(_))),
            "a stalled connection is closed, not kept"
        );
    }
    server.stop.cancel();
}

/// How long a `/healthz` on a new connection to `addr` took to be answered 200.
async fn health_took(addr: &str) -> Duration {
    let started = std::time::Instant::now();
    let health = reqwest::get(format!("http://{addr}/healthz"))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    started.elapsed()
}

/// Sends `request` on `c` and reads one whole answer (headers, then a body of its
/// `Content-Length`), within 5 s.
async fn exchange(c: &mut tokio::net::TcpStream, request: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    c.write_all(request.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    let read = async {
        let mut buf = [0u8; 4096];
        loop {
            let text = String::from_utf8_lossy(&got).to_string();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let length = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse::<usize>().unwrap())
                    })
                    .unwrap_or(0);
                if body.len() >= length {
                    return text;
                }
            }
            let n = c.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed before its answer: {text}");
            got.extend_from_slice(&buf[..n]);
        }
    };
    tokio::time::timeout(Duration::from_secs(5), read)
        .await
        .expect("answered within 5 s")
}

/// Anyone who can connect could hold every connection place without a token (idle, or
/// a `/healthz` now and then to keep each alive) and leave the agents in the backlog,
/// and so could one agent showing its token on each: at the cap, an idle connection
/// that has shown no token makes room, then one of the principal holding the most.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_cap_an_idle_tokenless_connection_makes_room_then_one_of_the_principal_holding_most()
{
    let server = server_with(memory_core(), |o| o.connections.max = 4).await;
    let ([a, b], addr) =
        agents_then_places(&server, [("agent-a", "alice"), ("agent-b", "bob")]).await;
    let a2a = |token: &str| a2a_task_get(&addr, token);
    let health = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    // B's connection and A's, kept alive; two that only ask /healthz.
    let mut bs = tokio::net::TcpStream::connect(&addr).await.unwrap();
    assert!(
        exchange(&mut bs, &a2a(&b))
            .await
            .starts_with("HTTP/1.1 200")
    );
    let mut held = Vec::new();
    let mut c = tokio::net::TcpStream::connect(&addr).await.unwrap();
    assert!(exchange(&mut c, &a2a(&a)).await.starts_with("HTTP/1.1 200"));
    held.push(c);
    let mut idle = Vec::new();
    for _ in 0..2 {
        let mut c = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let answer = exchange(&mut c, &health).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        idle.push(c);
    }
    // Every place is taken; A's new connections are served at once (the server closes
    // a tokenless one each time; the idle timeout is 30 s).
    for _ in 0..2 {
        let started = std::time::Instant::now();
        let mut c = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let answer = exchange(&mut c, &a2a(&a)).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        held.push(c);
    }
    // Now A holds three and B one: a fifth connection takes the place of A's idle one,
    // never B's.
    let took = health_took(&addr).await;
    assert!(took < Duration::from_secs(2), "{took:?}");
    let answer = exchange(&mut bs, &a2a(&b)).await;
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "B's connection kept: {answer}"
    );
    let mut closed = 0;
    for c in &mut held {
        if closed_by_server(c).await {
            closed += 1;
        }
    }
    assert_eq!(closed, 1, "one of A's connections made room");
    server.stop.cancel();
}

/// A request's headers are bounded at 32 KiB (hyper's default let each connection's
/// buffer grow to about 400 KB: 4,096 tokenless connections sending half a header held
/// 1.8 GB): 16 KiB of headers are served, 40 KiB are answered 431 and closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_past_32_kib_are_refused_with_431_and_the_connection_closed() {
    use tokio::io::AsyncReadExt;
    let server = server().await;
    let addr = host_port(&server.url);
    for (pad, status) in [(16 << 10, "200"), (40 << 10, "431")] {
        let mut c = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let request = format!(
            "GET /healthz HTTP/1.1\r\nHost: {addr}\r\nX-Pad: {}\r\n\r\n",
            "a".repeat(pad)
        );
        let answer = exchange(&mut c, &request).await;
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {status}")),
            "{pad}: {answer}"
        );
        if status == "431" {
            let rest = tokio::time::timeout(Duration::from_secs(5), c.read_to_end(&mut Vec::new()))
                .await
                .expect("closed");
            assert!(rest.is_ok_and(|n| n == 0), "{pad}");
        }
    }
    server.stop.cancel();
}

/// Registers `agents` (id, owner) through an operator's client that then leaves, its
/// connections gone before the places are counted; their tokens, in order, and the
/// server's `host:port`.
async fn agents_then_places<const N: usize>(
    server: &Server,
    agents: [(&str, &str); N],
) -> ([String; N], String) {
    let op = connect(&server.url, OPERATOR).await;
    let mut tokens = Vec::new();
    for (id, owner) in agents {
        tokens.push(register(&op, id, "claude_code", owner).await);
    }
    let _ = op.cancel().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let tokens = tokens.try_into().expect("one token per agent");
    (tokens, host_port(&server.url))
}

/// An A2A `tasks/get` for `token`, kept alive: a request that shows the token.
fn a2a_task_get(addr: &str, token: &str) -> String {
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"tasks/get","params":{"id":"h-1"}}"#;
    format!(
        "POST /a2a HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// `n` new connections to `addr`, each having shown `token` in a request answered 200.
async fn shown(addr: &str, token: &str, n: usize) -> Vec<tokio::net::TcpStream> {
    let mut held = Vec::new();
    for _ in 0..n {
        let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
        let answer = exchange(&mut c, &a2a_task_get(addr, token)).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        held.push(c);
    }
    held
}

/// Whether the server has closed `c` (read within 200 ms ends or fails).
async fn closed_by_server(c: &mut tokio::net::TcpStream) -> bool {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 16];
    matches!(
        tokio::time::timeout(Duration::from_millis(200), c.read(&mut buf)).await,
        Ok(Ok(0) | Err(_))
    )
}

/// Connections are counted per owner at the cap, as sessions are: an owner whose two
/// agents hold two connections each holds more than another owner's agent holding
/// three, and gives up one of its own (counted per agent, the other owner's went).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_cap_the_owner_holding_most_connections_gives_one_up_whatever_its_agents() {
    let server = server_with(memory_core(), |o| o.connections.max = 7).await;
    let agents = [("mal-1", "mallory"), ("mal-2", "mallory"), ("bob-1", "bob")];
    let ([m1, m2, b], addr) = agents_then_places(&server, agents).await;
    let mut held = Vec::new();
    for (token, n) in [(&b, 3), (&m1, 2), (&m2, 2)] {
        held.extend(shown(&addr, token, n).await);
    }
    let took = health_took(&addr).await;
    assert!(took < Duration::from_secs(2), "{took:?}");
    let mut closed = Vec::new();
    for (i, c) in held.iter_mut().enumerate() {
        if closed_by_server(c).await {
            closed.push(i);
        }
    }
    assert_eq!(closed.len(), 1, "one connection made room: {closed:?}");
    assert!(closed[0] >= 3, "mallory's, not bob's: {closed:?}");
    for c in &mut held[..3] {
        let answer = exchange(c, &a2a_task_get(&addr, &b)).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "bob's kept: {answer}");
    }
    server.stop.cancel();
}

/// An owner holding every place and reopening each connection the server closes, its
/// token shown at once, had another owner's new connection closed before its first
/// request was read (the newest connection with no token made room for mallory's). Now
/// the newcomer takes a place of the overflow (an eighth more) until it shows a token,
/// and each first token shown past the places closes an idle connection of the party
/// holding the most: mallory's own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_connection_not_yet_read_is_not_closed_for_another_owners_that_shows_its_token() {
    let server = server_with(memory_core(), |o| o.connections.max = 16).await;
    let ([a, m], addr) =
        agents_then_places(&server, [("agent-a", "alice"), ("mal-1", "mallory")]).await;
    let mut mallory = shown(&addr, &m, 16).await;
    // Alice connects; her first request is on its way.
    let mut fresh = tokio::net::TcpStream::connect(&addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Mallory reopens three connections, each showing its token at once.
    for _ in 0..3 {
        mallory.extend(shown(&addr, &m, 1).await);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let answer = exchange(&mut fresh, &a2a_task_get(&addr, &a)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "alice's: {answer}");
    let mut closed = Vec::new();
    for (i, c) in mallory.iter_mut().enumerate() {
        if closed_by_server(c).await {
            closed.push(i);
        }
    }
    // Mallory's three idle longest made room for its three and for Alice's: four.
    assert_eq!(closed, [0, 1, 2, 3], "mallory's oldest made room");
    assert!(!closed_by_server(&mut fresh).await, "alice's kept");
    server.stop.cancel();
}

/// With the overflow taken too (by connections just opened that have sent nothing), a
/// newcomer waits up to a second for a place rather than close the newest connection
/// not yet read: that was another owner's new connection, closed as soon as mallory
/// reopened one of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_overflow_taken_a_newcomer_waits_rather_than_close_one_just_opened() {
    let server = server_with(memory_core(), |o| o.connections.max = 16).await;
    let ([a, m], addr) =
        agents_then_places(&server, [("agent-a", "alice"), ("mal-1", "mallory")]).await;
    let mut mallory = shown(&addr, &m, 16).await;
    // Two connections that send nothing take the overflow's two places.
    let mut silent = Vec::new();
    for _ in 0..2 {
        silent.push(tokio::net::TcpStream::connect(&addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut fresh = tokio::net::TcpStream::connect(&addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1_300)).await;
    // Mallory reopens two connections, each showing its token at once.
    mallory.extend(shown(&addr, &m, 2).await);
    let answer = exchange(&mut fresh, &a2a_task_get(&addr, &a)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "alice's: {answer}");
    for c in &mut silent {
        assert!(closed_by_server(c).await, "the silent ones made room");
    }
    server.stop.cancel();
}

/// A connection streaming an answer (the change feed here) is busy for as long as it
/// streams: at the cap, its principal's idle connection makes room, never the stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_cap_a_connection_streaming_an_answer_is_never_the_one_closed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = server_with(memory_core(), |o| o.connections.max = 2).await;
    let ([a], addr) = agents_then_places(&server, [("agent-a", "alice")]).await;
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    stream
        .write_all(
            format!(
                "GET /v1/changes HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {a}\r\n\
                 Accept: text/event-stream\r\n\r\n"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let head = first_read(&mut stream).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"tasks/get","params":{"id":"h-1"}}"#;
    let mut idle = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let answer = exchange(
        &mut idle,
        &format!(
            "POST /a2a HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {a}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // Both places are A's: a newcomer takes the idle one's.
    let health = reqwest::get(format!("http://{addr}/healthz"))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let mut buf = [0u8; 64];
    let idle_read = tokio::time::timeout(Duration::from_secs(2), idle.read(&mut buf)).await;
    assert!(
        matches!(idle_read, Ok(Ok(0) | Err(_))),
        "the idle one closed: {idle_read:?}"
    );
    let open = tokio::time::timeout(Duration::from_millis(500), stream.read(&mut buf)).await;
    assert!(
        matches!(open, Err(_) | Ok(Ok(1..))),
        "the stream is still open: {open:?}"
    );
    server.stop.cancel();
}

/// A request refused at the door (no token here) has its body read for up to a second
/// before the 401 goes out; meanwhile its connection is as good as idle: at the cap, one
/// of those makes room, not an agent's idle keep-alive connection (all of which went
/// when tokenless clients kept the places busy dripping such bodies).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_cap_a_connection_refused_at_the_door_makes_room_before_an_agents() {
    use tokio::io::AsyncWriteExt;
    let server = server_with(memory_core(), |o| o.connections.max = 3).await;
    let ([a], addr) = agents_then_places(&server, [("agent-a", "alice")]).await;
    let mut kept = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let answer = exchange(&mut kept, &a2a_task_get(&addr, &a)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // Two tokenless requests whose bodies come slowly fill the other places.
    let mut refused = Vec::new();
    for _ in 0..2 {
        let mut c = tokio::net::TcpStream::connect(&addr).await.unwrap();
        c.write_all(
            format!(
                "POST /mcp HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
                 Content-Length: 1000\r\n\r\n{{"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
        refused.push(c);
    }
    tokio::time::sleep(Duration::from_millis(150)).await;
    let took = health_took(&addr).await;
    assert!(took < Duration::from_millis(900), "{took:?}");
    assert!(
        !closed_by_server(&mut kept).await,
        "the agent's connection was closed"
    );
    let answer = exchange(&mut kept, &a2a_task_get(&addr, &a)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    server.stop.cancel();
}

/// A request held back past its agent's requests in flight (for a second, then
/// refused) leaves its connection the first to make room at the cap: before, such
/// connections were busy and a connection just opened (not yet read, so no one's) was
/// closed instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_cap_a_request_held_back_past_its_agents_share_makes_room_first() {
    use tokio::io::AsyncWriteExt;
    let server = server_with(memory_core(), |o| {
        o.connections.max = 4;
        o.sessions.in_flight_per_principal = 1;
    })
    .await;
    let ([a, m], addr) =
        agents_then_places(&server, [("agent-a", "alice"), ("mal-1", "mallory")]).await;
    let mut kept = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let answer = exchange(&mut kept, &a2a_task_get(&addr, &a)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // Mallory's one request in flight (its body still coming), then one held back.
    let whole = a2a_task_get(&addr, &m);
    let mut in_flight = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let cut = whole.len() - 5;
    in_flight.write_all(&whole.as_bytes()[..cut]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut held_back = tokio::net::TcpStream::connect(&addr).await.unwrap();
    held_back.write_all(whole.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Alice's new connection takes the last place, not yet sending.
    let mut fresh = tokio::net::TcpStream::connect(&addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let took = health_took(&addr).await;
    assert!(took < Duration::from_millis(900), "{took:?}");
    assert!(
        !closed_by_server(&mut fresh).await,
        "the new connection was closed"
    );
    let answer = exchange(&mut fresh, &a2a_task_get(&addr, &a)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        !closed_by_server(&mut kept).await,
        "the agent's connection was closed"
    );
    drop(in_flight);
    server.stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_body_sent_too_slowly_is_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = server_with(memory_core(), |o| {
        o.connections.body_timeout = Duration::from_millis(800);
    })
    .await;
    let addr = host_port(&server.url);
    for path in ["/mcp", "/a2a"] {
        let mut c = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {OPERATOR}\r\n\
             Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n\
             Content-Length: 100\r\n\r\n{{\"jsonrpc\""
        );
        c.write_all(head.as_bytes()).await.unwrap();
        let started = std::time::Instant::now();
        let mut answer = vec![0u8; 4096];
        let read = tokio::time::timeout(Duration::from_secs(10), c.read(&mut answer)).await;
        let took = started.elapsed();
        let n = read.expect("answered, not kept waiting").unwrap_or(0);
        let answer = String::from_utf8_lossy(&answer[..n]).to_string();
        assert!(
            took >= Duration::from_millis(700) && took < Duration::from_secs(5),
            "{path}: cut off after the body timeout, not before: {took:?}"
        );
        assert!(
            answer.starts_with("HTTP/1.1 408") && answer.contains("did not arrive in time"),
            "{path}: {answer}"
        );
        // And the connection is closed.
        let rest = tokio::time::timeout(Duration::from_secs(5), c.read_to_end(&mut Vec::new()))
            .await
            .expect("closed");
        assert!(rest.is_ok(), "{path}: {rest:?}");
    }
    server.stop.cancel();
}

/// `body` as a request sends it: whole (its length in the head), or in chunks of 64 KiB.
fn framed(body: &[u8], chunked: bool) -> Vec<u8> {
    if !chunked {
        return body.to_vec();
    }
    let mut out = Vec::new();
    for part in body.chunks(64 << 10) {
        out.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
        out.extend_from_slice(part);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_still_writing_a_body_too_large_reads_the_413_not_a_broken_pipe() {
    use tokio::io::AsyncWriteExt;
    let server = server().await;
    let addr = host_port(&server.url);
    // 6 MiB for /mcp (4 MiB at most), with its length declared and chunked; 1 MiB for
    // /a2a (64 KiB). Each written whole before the answer is read, as a client does.
    let head = |path: &str, kind: &str, framing: &str| {
        format!(
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {OPERATOR}\r\n\
             Content-Type: {kind}\r\nAccept: application/json, text/event-stream\r\n\
             {framing}\r\n\r\n"
        )
    };
    // And a large body that is not JSON at all: 415.
    for (path, kind, size, status) in [
        ("/mcp", "application/json", 6 << 20, "413"),
        ("/a2a", "application/json", 1 << 20, "413"),
        ("/mcp", "text/plain", 6 << 20, "415"),
    ] {
        let body = vec![b'a'; size];
        for chunked in [false, true] {
            let mut c = tokio::net::TcpStream::connect(&addr).await.unwrap();
            let mut request = if chunked {
                head(path, kind, "Transfer-Encoding: chunked").into_bytes()
            } else {
                head(path, kind, &format!("Content-Length: {size}")).into_bytes()
            };
            request.extend_from_slice(&framed(&body, chunked));
            let wrote = tokio::time::timeout(Duration::from_secs(20), c.write_all(&request))
                .await
                .expect("written in time");
            assert!(wrote.is_ok(), "{path} chunked={chunked}: {wrote:?}");
            let answer = first_read(&mut c).await;
            assert!(
                answer.starts_with(&format!("HTTP/1.1 {status}")) && answer.contains("-32600"),
                "{path} chunked={chunked}: {answer}"
            );
        }
    }
    // A client that waits for `100 Continue`, or declares more than is ever read, is
    // refused before it sends the body.
    for (kind, framing, status) in [
        (
            "application/json",
            format!("Content-Length: {}\r\nExpect: 100-continue", 6 << 20),
            "413",
        ),
        (
            "text/plain",
            format!("Content-Length: {}\r\nExpect: 100-continue", 6 << 20),
            "415",
        ),
        ("text/plain", format!("Content-Length: {}", 40 << 20), "415"),
    ] {
        let mut c = tokio::net::TcpStream::connect(&addr).await.unwrap();
        c.write_all(head("/mcp", kind, &framing).as_bytes())
            .await
            .unwrap();
        let answer = first_read(&mut c).await;
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {status}")),
            "{kind} {framing}: {answer}"
        );
    }
    server.stop.cancel();
}

/// A request refused at the door (no token, a bad one, a foreign origin) whose client
/// writes its whole body before reading, as Python's `http.client` does, reads the
/// refusal: a body of 2 MB without a token was a broken pipe.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_writing_its_body_before_reading_gets_the_door_s_refusal_not_a_broken_pipe() {
    use tokio::io::AsyncWriteExt;
    let server = server().await;
    let addr = host_port(&server.url);
    let size = 3 << 20;
    let body = vec![b'a'; size];
    for (extra, status) in [
        ("", "401"),
        ("Authorization: Bearer maas_not_a_token\r\n", "401"),
        (
            "Authorization: Bearer maas_not_a_token\r\nOrigin: https://elsewhere.example\r\n",
            "403",
        ),
    ] {
        for chunked in [false, true] {
            let framing = if chunked {
                "Transfer-Encoding: chunked".to_string()
            } else {
                format!("Content-Length: {size}")
            };
            let head = format!(
                "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}Content-Type: application/json\r\n\
                 Accept: application/json, text/event-stream\r\n{framing}\r\n\r\n"
            );
            let request = framed(&body, chunked);
            // The head first, the body once the server has had time to answer it.
            let mut c = tokio::net::TcpStream::connect(&addr).await.unwrap();
            c.write_all(head.as_bytes()).await.unwrap();
            tokio::time::sleep(Duration::from_millis(200)).await;
            let wrote = tokio::time::timeout(Duration::from_secs(20), c.write_all(&request))
                .await
                .expect("written in time");
            assert!(wrote.is_ok(), "{extra} chunked={chunked}: {wrote:?}");
            let answer = first_read(&mut c).await;
            assert!(
                answer.starts_with(&format!("HTTP/1.1 {status}")),
                "{extra} chunked={chunked}: {answer}"
            );
        }
    }
    server.stop.cancel();
}

/// What the server sends first on `c`, within 10 s.
async fn first_read(c: &mut tokio::net::TcpStream) -> String {
    use tokio::io::AsyncReadExt;
    let mut answer = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(10), c.read(&mut answer))
        .await
        .expect("answered")
        .unwrap();
    String::from_utf8_lossy(&answer[..n]).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_holds_at_most_its_connections_and_the_rest_are_answered_429() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = server_with(memory_core(), |o| {
        o.connections.per_address = 2;
        // The test's clients are on loopback, which is otherwise not limited.
        o.connections.exempt_loopback = false;
    })
    .await;
    let addr = host_port(&server.url);
    let health = async |addr: &str| {
        let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
        c.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut answer = String::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), c.read_to_string(&mut answer)).await;
        answer
    };
    // Two idle connections fill the address's places.
    let mut idle = Vec::new();
    for _ in 0..2 {
        idle.push(tokio::net::TcpStream::connect(&addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let refused = health(&addr).await;
    assert!(
        refused.starts_with("HTTP/1.1 429") && refused.contains("2 open"),
        "{refused}"
    );
    // A place given back is taken again.
    drop(idle.pop());
    let started = std::time::Instant::now();
    loop {
        let answer = health(&addr).await;
        if answer.starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "the closed connection's place is free again: {answer}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_id_already_in_flight_is_refused_and_the_first_still_gets_its_answer() {
    let server = server_with(memory_core(), |_| {}).await;
    let op = connect(&server.url, OPERATOR).await;
    let token = register(&op, "agent-a", "claude_code", "alice").await;
    let http = reqwest::Client::new();
    let (status, session) = open_session(&http, &server.url, &token).await;
    assert_eq!(status, 200);
    let call = |id: i64, name: &str, arguments: Value| {
        tool_call(&http, (&server.url, &token, &session), id, name, arguments)
    };
    // A wait that holds id 5 for two seconds.
    let waiting = call(
        5,
        "wait_for_changes",
        json!({"timeout_seconds": 2, "kinds": ["handoff"]}),
    );
    let first = tokio::spawn(async move { waiting.await.1 });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = std::time::Instant::now();
    let (status, second) = call(5, "whoami", json!({})).await;
    assert_eq!(status, 200);
    assert!(
        second.contains("-32600") && second.contains("already in flight"),
        "{second}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "refused at once, not after the wait"
    );
    let first = first.await.unwrap();
    assert!(
        first.contains("\"result\"") && first.contains("changes"),
        "{first}"
    );
    // Once answered, the id is free again.
    let (_, third) = call(5, "whoami", json!({})).await;
    assert!(
        third.contains("agent-a") && !third.contains("-32600"),
        "{third}"
    );
    server.stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_with_its_most_requests_in_flight_waits_and_no_one_else_does() {
    let server = server_with(memory_core(), |o| o.sessions.in_flight_per_principal = 2).await;
    let op = connect(&server.url, OPERATOR).await;
    let busy = register(&op, "busy", "claude_code", "alice").await;
    let other = register(&op, "other", "claude_code", "bob").await;
    let http = reqwest::Client::new();
    let (_, one) = open_session(&http, &server.url, &busy).await;
    let (_, two) = open_session(&http, &server.url, &busy).await;
    let call = |token: &str, session: &str, id: i64, name: &str, arguments: Value| {
        let sent = tool_call(&http, (&server.url, token, session), id, name, arguments);
        async move { sent.await.1 }
    };
    let wait = json!({"timeout_seconds": 4, "kinds": ["handoff"]});
    let waits = [
        tokio::spawn(call(&busy, &one, 1, "wait_for_changes", wait.clone())),
        tokio::spawn(call(&busy, &two, 1, "wait_for_changes", wait)),
    ];
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Refused in either session, the refusal held back a second.
    let started = std::time::Instant::now();
    let (first, second) = tokio::join!(
        call(&busy, &one, 2, "whoami", json!({})),
        call(&busy, &two, 2, "whoami", json!({}))
    );
    for refused in [first, second] {
        assert!(
            refused.contains("-32029") && refused.contains("2 requests in flight"),
            "{refused}"
        );
    }
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_millis(2500),
        "held back a second: {took:?}"
    );
    let (_, theirs) = open_session(&http, &server.url, &other).await;
    let answer = call(&other, &theirs, 2, "whoami", json!({})).await;
    assert!(
        answer.contains("\"other\""),
        "another agent is not held: {answer}"
    );
    ok(&op, "get_agent_info", json!({"agent_id": "busy"})).await;
    for w in waits {
        let answered = w.await.unwrap();
        assert!(answered.contains("\"result\""), "{answered}");
    }
    let again = call(&busy, &one, 3, "whoami", json!({})).await;
    assert!(
        again.contains("\"busy\"") && !again.contains("-32029"),
        "{again}"
    );
    server.stop.cancel();
}

/// Calls the tool `name` as JSON-RPC request `id` in protocol revision 2026-07-28,
/// which has no sessions (rmcp serves it without one whatever the server's mode): the
/// status and the body.
fn sessionless_call(
    http: &reqwest::Client,
    (url, token): (&str, &str),
    id: i64,
    name: &str,
    arguments: Value,
) -> impl std::future::Future<Output = (StatusCode, String)> + Send + use<> {
    let meta = json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {}});
    let body = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": {"name": name, "arguments": arguments, "_meta": meta}});
    let sent = http
        .post(url)
        .header("Accept", "application/json, text/event-stream")
        .header("Content-Type", "application/json")
        .header("MCP-Protocol-Version", "2026-07-28")
        .header("Mcp-Method", "tools/call")
        .header("Mcp-Name", name)
        .header("Authorization", format!("Bearer {token}"))
        .body(body.to_string())
        .send();
    async move {
        let resp = sent.await.unwrap();
        (resp.status(), resp.text().await.unwrap())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agents_share_counts_its_requests_without_a_session_and_over_a2a() {
    for stateless in [false, true] {
        let server = server_with(memory_core(), |o| {
            o.sessions.in_flight_per_principal = 2;
            o.stateless = stateless;
        })
        .await;
        let op = connect(&server.url, OPERATOR).await;
        let busy = register(&op, "busy", "claude_code", "alice").await;
        let other = register(&op, "other", "claude_code", "bob").await;
        let http = reqwest::Client::new();
        let call = |token: &str, id: i64, name: &str, arguments: Value| {
            sessionless_call(&http, (&server.url, token), id, name, arguments)
        };
        let wait = json!({"timeout_seconds": 3, "kinds": ["handoff"]});
        let waits = [
            tokio::spawn(call(&busy, 1, "wait_for_changes", wait.clone())),
            tokio::spawn(call(&busy, 2, "wait_for_changes", wait)),
        ];
        tokio::time::sleep(Duration::from_millis(300)).await;
        let started = std::time::Instant::now();
        let (status, refused) = call(&busy, 3, "whoami", json!({})).await;
        assert_eq!(status, StatusCode::OK, "stateless={stateless}: {refused}");
        let refused: Value = serde_json::from_str(&refused).unwrap();
        assert_eq!(refused["id"], 3, "answered by its id: {refused}");
        assert_eq!(refused["error"]["code"], -32029, "{refused}");
        let text = refused["error"]["message"].as_str().unwrap();
        assert!(text.contains("2 requests in flight"), "{text}");
        assert!(started.elapsed() >= Duration::from_millis(900), "held back");
        // A2A reaches the core too: the same share.
        let a2a = http
            .post(server.url.replace("/mcp", "/a2a"))
            .header("Authorization", format!("Bearer {busy}"))
            .json(&json!({"jsonrpc": "2.0", "id": "t", "method": "tasks/get",
                "params": {"id": "no-such-task"}}))
            .send()
            .await
            .unwrap();
        let a2a: Value = a2a.json().await.unwrap();
        assert_eq!(a2a["id"], "t", "{a2a}");
        assert_eq!(a2a["error"]["code"], -32029, "{a2a}");
        let (_, theirs) = call(&other, 3, "whoami", json!({})).await;
        assert!(
            theirs.contains("\"other\"") && !theirs.contains("-32029"),
            "another agent is not held: {theirs}"
        );
        for w in waits {
            let (_, answered) = w.await.unwrap();
            assert!(answered.contains("\"result\""), "{answered}");
        }
        let (_, again) = call(&busy, 4, "whoami", json!({})).await;
        assert!(
            again.contains("\"busy\"") && !again.contains("-32029"),
            "the share is given back when the answers have gone out: {again}"
        );
        server.stop.cancel();
    }
}

/// A benchmark, not a test (`cargo test -p maas-host --test mcp_http_edges -- --ignored
/// --nocapture`): one agent floods the server with 1,024 searches at a time over 8
/// sessions for 4 s, never backing off, while another agent calls `whoami` one call
/// after the other. Reports the other agent's median and p95 latency with the in-flight
/// cap off, at 256, at its default (32) and at 16, and at 32 when the flood comes without
/// sessions (protocol revision 2026-07-28), against the same agent alone; it never fails
/// on a timing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run with --ignored --nocapture"]
async fn bench_another_agents_latency_while_one_floods_searches() {
    let quantiles = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        let at = |q: f64| {
            v.get(((v.len() as f64 - 1.0) * q) as usize)
                .copied()
                .unwrap_or(0.0)
        };
        (at(0.5), at(0.95), v.len())
    };
    let runs = [
        (None, false),
        (Some(usize::MAX), false),
        (Some(256), false),
        (Some(32), false),
        (Some(16), false),
        (Some(32), true),
    ];
    for (cap, sessionless) in runs {
        let server = server_with(memory_core(), |o| {
            o.sessions.in_flight_per_principal = cap.unwrap_or(usize::MAX);
        })
        .await;
        let op = connect(&server.url, OPERATOR).await;
        let greedy = register(&op, "greedy", "claude_code", "alice").await;
        let victim = register(&op, "victim", "claude_code", "bob").await;
        let g = connect(&server.url, &greedy).await;
        for i in 0..2_000 {
            let content = format!("note {i}: the redis cache ttl of the deploy pipeline is {i}s");
            ok(
                &g,
                "store_memory",
                json!({"content": content, "memory_type": "fact"}),
            )
            .await;
        }
        let http = reqwest::Client::new();
        let stop = CancellationToken::new();
        let (answered, refused) = (
            std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0)),
            std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0)),
        );
        let mut flood = Vec::new();
        if cap.is_some() {
            // Every session opened before the flood: an `initialize` counts against
            // the agent's share too.
            let mut sessions = Vec::new();
            for _ in 0..8 {
                sessions.push(match sessionless {
                    true => String::new(),
                    false => open_session(&http, &server.url, &greedy).await.1,
                });
            }
            for session in sessions {
                for task in 0..128i64 {
                    let (http, url, token, session) = (
                        http.clone(),
                        server.url.clone(),
                        greedy.clone(),
                        session.clone(),
                    );
                    let (stop, answered, refused) =
                        (stop.clone(), answered.clone(), refused.clone());
                    flood.push(tokio::spawn(async move {
                        let mut id = task * 1_000_000;
                        let search = json!({"query": "redis cache ttl", "limit": 10});
                        while !stop.is_cancelled() {
                            id += 1;
                            let (_, text) = match sessionless {
                                true => {
                                    let to = (url.as_str(), token.as_str());
                                    sessionless_call(
                                        &http,
                                        to,
                                        id,
                                        "search_memories",
                                        search.clone(),
                                    )
                                    .await
                                }
                                false => {
                                    let at = (url.as_str(), token.as_str(), session.as_str());
                                    tool_call(&http, at, id, "search_memories", search.clone())
                                        .await
                                }
                            };
                            let counter = if text.contains("-32029") {
                                &refused
                            } else {
                                &answered
                            };
                            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                    }));
                }
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let (_, session) = open_session(&http, &server.url, &victim).await;
        let mut latencies = Vec::new();
        let started = std::time::Instant::now();
        let mut id = 0;
        while started.elapsed() < Duration::from_secs(4) {
            id += 1;
            let t = std::time::Instant::now();
            let at = (server.url.as_str(), victim.as_str(), session.as_str());
            let (_, text) = tool_call(&http, at, id, "whoami", json!({})).await;
            assert!(text.contains("victim"), "{text}");
            latencies.push(t.elapsed().as_secs_f64() * 1e3);
        }
        stop.cancel();
        for f in flood {
            let _ = f.await;
        }
        let (median, p95, n) = quantiles(latencies);
        let label = match cap {
            None => "alone (no flood)".to_string(),
            Some(usize::MAX) => "flood, no cap".to_string(),
            Some(c) if sessionless => format!("sessionless flood, cap {c}"),
            Some(c) => format!("flood, cap {c}"),
        };
        let secs = 4.5;
        println!(
            "{label:<20} whoami median {median:8.2} ms  p95 {p95:8.2} ms  ({n} calls); \
             flood answered {:.0}/s, refused {:.0}/s",
            answered.load(std::sync::atomic::Ordering::Relaxed) as f64 / secs,
            refused.load(std::sync::atomic::Ordering::Relaxed) as f64 / secs,
        );
        server.stop.cancel();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bearer_scheme_is_read_in_any_case() {
    let server = server_with(memory_core(), |_| {}).await;
    let http = reqwest::Client::new();
    for (header, status) in [
        (format!("Bearer {OPERATOR}"), 200),
        (format!("BEARER {OPERATOR}"), 200),
        (format!("bEaReR {OPERATOR}"), 200),
        (format!("Basic {OPERATOR}"), 401),
        (format!("Bearer{OPERATOR}"), 401),
    ] {
        let resp = request(&http, reqwest::Method::POST, &server.url, None, None)
            .header("Authorization", header.as_str())
            .body(init_body())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), status, "{header}");
    }
}

/// The `GET` stream of MCP session `session`, opened with `token`.
async fn session_stream(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    session: &str,
) -> reqwest::Response {
    request(http, reqwest::Method::GET, url, Some(token), Some(session))
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deactivated_agents_open_stream_is_closed_and_others_stay() {
    let server = server().await;
    let op = connect(&server.url, OPERATOR).await;
    let a = register(&op, "agent-a", "claude_code", "alice").await;
    let b = register(&op, "agent-b", "claude_code", "alice").await;
    let http = reqwest::Client::new();
    let (_, session_a) = open_session(&http, &server.url, &a).await;
    let (_, session_b) = open_session(&http, &server.url, &b).await;
    let mut stream_a = session_stream(&http, &server.url, &a, &session_a).await;
    let mut stream_b = session_stream(&http, &server.url, &b, &session_b).await;
    assert_eq!(stream_a.status(), 200);
    assert_eq!(stream_b.status(), 200);
    assert_eq!(
        ok(&op, "deactivate_agent", json!({"agent_id": "agent-a"})).await["status"],
        "deactivated"
    );
    // Within a few checks the stream ends (it sends nothing before it does).
    let ended = tokio::time::timeout(Duration::from_secs(15), async {
        while stream_a.chunk().await.ok().flatten().is_some() {}
    })
    .await;
    assert!(
        ended.is_ok(),
        "the deactivated agent's stream is still open"
    );
    let (status, _) = whoami(&http, &server.url, &a, &session_a).await;
    assert_eq!(status, 401, "its token no longer authenticates");
    // The other agent's session and stream are untouched.
    let (status, body) = whoami(&http, &server.url, &b, &session_b).await;
    assert_eq!(status, 200, "{body}");
    let still_open = tokio::time::timeout(Duration::from_millis(500), stream_b.chunk()).await;
    assert!(still_open.is_err(), "the other agent's stream stays open");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_tokens_sessions_and_feed_streams_end_and_the_new_token_opens_its_own() {
    let server = server().await;
    let op = connect(&server.url, OPERATOR).await;
    let old = register(&op, "agent-r", "claude_code", "alice").await;
    let http = reqwest::Client::new();
    let (_, session) = open_session(&http, &server.url, &old).await;
    let mut stream = session_stream(&http, &server.url, &old, &session).await;
    assert_eq!(stream.status(), 200);
    let mut feed = http
        .get(server.url.replace("/mcp", "/v1/changes"))
        .header("Authorization", format!("Bearer {old}"))
        .send()
        .await
        .unwrap();
    assert_eq!(feed.status(), 200);
    let rotated = ok(&op, "rotate_token", json!({"agent_id": "agent-r"})).await;
    assert_eq!(rotated["status"], "rotated");
    let new = rotated["token"].as_str().unwrap().to_string();
    assert!(new.starts_with("maas_") && new != old);
    // The new token does not carry on the old one's session: refused while the session
    // lives, not found once the sweep has closed it.
    let (status, body) = whoami(&http, &server.url, &new, &session).await;
    assert!(
        status == 401 || status == 404,
        "a session stays with the token that opened it: {status} {body}"
    );
    // Within a few checks the session's stream ends, and the feed says why and ends.
    let ended = tokio::time::timeout(Duration::from_secs(15), async {
        while stream.chunk().await.ok().flatten().is_some() {}
    })
    .await;
    assert!(ended.is_ok(), "the old token's stream is still open");
    let said = tokio::time::timeout(Duration::from_secs(15), async {
        let mut text = String::new();
        while let Some(chunk) = feed.chunk().await.ok().flatten() {
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
        text
    })
    .await
    .expect("the old token's change feed is still open");
    assert!(
        said.contains("event: error") && said.contains("permission_denied"),
        "{said}"
    );
    let (status, _) = whoami(&http, &server.url, &old, &session).await;
    assert_eq!(status, 401, "the old token no longer authenticates");
    let (status, fresh) = open_session(&http, &server.url, &new).await;
    assert_eq!(status, 200);
    let (status, body) = whoami(&http, &server.url, &new, &fresh).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("agent-r"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_that_authenticated_goes_in_without_a_turn_until_a_token_ends() {
    let core = memory_core();
    let server = server_with(core.clone(), |_| {}).await;
    let op = connect(&server.url, OPERATOR).await;
    let token = register(&op, "agent-v", "claude_code", "alice").await;
    let http = reqwest::Client::new();
    let (status, session) = open_session(&http, &server.url, &token).await;
    assert_eq!(status, 200);
    // The core thread busy for two seconds: a request of the token that calls nothing
    // in the core is answered meanwhile (it authenticated a moment ago).
    let hold = hold_core(&core, Duration::from_secs(2));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let began = std::time::Instant::now();
    let resp = list_tools(&http, &server.url, &token, &session).await;
    let (status, body) = (resp.status(), resp.text().await.unwrap());
    let waited = began.elapsed();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("store_memory"), "{body}");
    assert!(
        waited < Duration::from_secs(1),
        "a remembered token waited {waited:?} for the busy core"
    );
    hold.await.unwrap().unwrap();
    // Another process rotates the token (the core asked directly, as a second server's
    // would be: this server's calls did not end it).
    core.call(|rt| {
        rt.call(|c, s| {
            c.maas_core_agents()
                .call_rotate_token(s, &types::Caller::Operator, "agent-v")
        })
    })
    .await
    .unwrap();
    // Its next call into the core is refused there (unless the sweep came first and
    // the door refused it), and from then on the door asks the core again: 401.
    let (status, body) = tool_call(
        &http,
        (&server.url, &token, &session),
        3,
        "store_memory",
        json!({"content": "written with a rotated token"}),
    )
    .await;
    assert!(
        status == 401 || body.contains("invalid or revoked token"),
        "{status} {body}"
    );
    let (status, _) = whoami(&http, &server.url, &token, &session).await;
    assert_eq!(status, 401, "a token found ended is asked about again");
    let found = ok(
        &op,
        "search_memories",
        json!({"agent_id": "agent-v", "query": "rotated"}),
    )
    .await;
    assert_eq!(found["results"], json!([]), "{found}");
    // A token this server ends is forgotten at once: the next request, even one that
    // calls nothing in the core, is refused at the door.
    for (agent, tool) in [
        ("agent-w", "rotate_token"),
        ("agent-x", "deactivate_agent"),
        ("agent-y", "unregister_agent"),
    ] {
        let token = register(&op, agent, "claude_code", "alice").await;
        let (status, session) = open_session(&http, &server.url, &token).await;
        assert_eq!(status, 200);
        ok(&op, tool, json!({"agent_id": agent})).await;
        let resp = list_tools(&http, &server.url, &token, &session).await;
        assert_eq!(resp.status(), 401, "{tool}");
    }
    // A token another process ends, used only for requests that call nothing in the core,
    // is refused once the sweep has asked about it (every two seconds).
    let token = register(&op, "agent-z", "claude_code", "alice").await;
    let (status, session) = open_session(&http, &server.url, &token).await;
    assert_eq!(status, 200);
    core.call(|rt| {
        rt.call(|c, s| {
            c.maas_core_agents()
                .call_rotate_token(s, &types::Caller::Operator, "agent-z")
        })
    })
    .await
    .unwrap();
    let began = std::time::Instant::now();
    let refused = loop {
        let resp = list_tools(&http, &server.url, &token, &session).await;
        if resp.status() == 401 || began.elapsed() > Duration::from_secs(8) {
            break resp.status();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(refused, 401, "still let in after {:?}", began.elapsed());
}

/// A token another process ended, still remembered at the door: its A2A call is
/// refused as the door refuses it (401), not answered "task not found", which an A2A
/// client would read as the task being gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_a2a_call_with_a_token_another_process_ended_is_unauthorized_not_a_missing_task() {
    let core = memory_core();
    let server = server_with(core.clone(), |_| {}).await;
    let op = connect(&server.url, OPERATOR).await;
    let token = register(&op, "agent-r", "claude_code", "alice").await;
    let get = async |token: &str| {
        let resp = reqwest::Client::new()
            .post(server.url.replace("/mcp", "/a2a"))
            .header("Authorization", format!("Bearer {token}"))
            .json(
                &json!({"jsonrpc": "2.0", "id": 1, "method": "tasks/get", "params": {"id": "h-1"}}),
            )
            .send()
            .await
            .unwrap();
        (resp.status(), resp.text().await.unwrap())
    };
    let (status, body) = get(&token).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("-32001"), "no such task: {body}");
    core.call(|rt| {
        rt.call(|c, s| {
            c.maas_core_agents()
                .call_rotate_token(s, &types::Caller::Operator, "agent-r")
        })
    })
    .await
    .unwrap();
    let (status, body) = get(&token).await;
    assert_eq!(status, 401, "{body}");
    server.stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopping_server_answers_the_calls_in_flight_and_ends_waits() {
    let core = memory_core();
    let mut server = server_with(core.clone(), |_| {}).await;
    let op = connect(&server.url, OPERATOR).await;
    let token = register(&op, "agent-s", "claude_code", "alice").await;
    let http = reqwest::Client::new();
    let (_, session) = open_session(&http, &server.url, &token).await;
    let (_, waiting) = open_session(&http, &server.url, &token).await;
    let wait = tokio::spawn(tool_call(
        &http,
        (&server.url, &token, &waiting),
        2,
        "wait_for_changes",
        json!({"timeout_seconds": 30, "kinds": ["pool"]}),
    ));
    // A store waits its turn behind a second of the core's time when the server is
    // told to stop.
    let hold = hold_core(&core, Duration::from_secs(1));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let store = tokio::spawn(tool_call(
        &http,
        (&server.url, &token, &session),
        3,
        "store_memory",
        json!({"content": "written as the server stops"}),
    ));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let began = std::time::Instant::now();
    server.shut_down().await;
    assert!(
        began.elapsed() < Duration::from_secs(5),
        "the wait held the stop for {:?}",
        began.elapsed()
    );
    hold.await.unwrap().unwrap();
    let (status, body) = store.await.unwrap();
    assert_eq!(status, 200);
    assert!(body.contains("stored"), "the store's answer: {body:?}");
    let (_, body) = wait.await.unwrap();
    assert!(body.contains("stopping"), "the wait's answer: {body:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_whose_token_is_being_checked_when_the_server_stops_is_answered() {
    let core = memory_core();
    let mut server = server_with(core.clone(), |_| {}).await;
    let op = connect(&server.url, OPERATOR).await;
    let newcomer = register(&op, "agent-n", "claude_code", "alice").await;
    let http = reqwest::Client::new();
    // Its token is checked on the core, which is busy for a second; nothing else is
    // in flight when the stop comes.
    let hold = hold_core(&core, Duration::from_secs(1));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let opened = request(
        &http,
        reqwest::Method::POST,
        &server.url,
        Some(&newcomer),
        None,
    )
    .body(init_body())
    .send();
    let fresh = tokio::spawn(async move {
        let resp = opened.await.unwrap();
        (resp.status(), resp.text().await.unwrap())
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    server.shut_down().await;
    hold.await.unwrap().unwrap();
    let (status, body) = fresh.await.unwrap();
    assert_eq!(status, 200, "a session opened as the server stops: {body}");
}

/// A server whose operator token is `OPERATOR`, written in a data directory of this
/// process named after `name`, whose file it follows; and that directory.
async fn following_an_operator_file(name: &str) -> (std::path::PathBuf, Server) {
    let dir = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(maas_host::operator::token_path(&dir), OPERATOR).unwrap();
    let server = server_with(memory_core(), |o| o.operator_token_dir = Some(dir.clone())).await;
    (dir, server)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_operator_token_is_taken_within_seconds_and_what_the_old_one_held_closes() {
    let (dir, server) = following_an_operator_file("maas-operator-rotation").await;
    let op = connect(&server.url, OPERATOR).await;
    let agent = register(&op, "agent-o", "claude_code", "alice").await;
    let http = reqwest::Client::new();
    let (_, operator_session) = open_session(&http, &server.url, OPERATOR).await;
    let (_, agent_session) = open_session(&http, &server.url, &agent).await;
    let mut operator_stream = session_stream(&http, &server.url, OPERATOR, &operator_session).await;
    let mut agent_stream = session_stream(&http, &server.url, &agent, &agent_session).await;
    assert_eq!(operator_stream.status(), 200);
    assert_eq!(agent_stream.status(), 200);
    // The operator's own sessions are not the core's to judge: they outlive sweeps.
    tokio::time::sleep(Duration::from_millis(4_500)).await;
    let (status, body) = whoami(&http, &server.url, OPERATOR, &operator_session).await;
    assert_eq!(status, 200, "{body}");
    let new = maas_host::operator::rotate(&dir).unwrap();
    assert!(new.starts_with("maas_op_") && new != OPERATOR);
    let ended = tokio::time::timeout(Duration::from_secs(15), async {
        while operator_stream.chunk().await.ok().flatten().is_some() {}
    })
    .await;
    assert!(
        ended.is_ok(),
        "the old operator token's stream is still open"
    );
    let (status, _) = whoami(&http, &server.url, OPERATOR, &operator_session).await;
    assert_eq!(status, 401, "the old operator token is refused");
    let (status, fresh) = open_session(&http, &server.url, &new).await;
    assert_eq!(status, 200);
    let (status, body) = whoami(&http, &server.url, &new, &fresh).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("operator"), "{body}");
    // Agents are untouched.
    let (status, body) = whoami(&http, &server.url, &agent, &agent_session).await;
    assert_eq!(status, 200, "{body}");
    let still_open = tokio::time::timeout(Duration::from_millis(500), agent_stream.chunk()).await;
    assert!(still_open.is_err(), "the agent's stream stays open");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_insecure_loopback_operator_session_is_the_operators_with_or_without_the_token() {
    let server = server_with(memory_core(), |o| o.insecure_loopback = true).await;
    let op = connect(&server.url, OPERATOR).await;
    let agent = register(&op, "agent-l", "claude_code", "alice").await;
    let http = reqwest::Client::new();
    let (_, with_token) = open_session(&http, &server.url, OPERATOR).await;
    let tool = |token: Option<&str>, session: &str| {
        request(
            &http,
            reqwest::Method::POST,
            &server.url,
            token,
            Some(session),
        )
        .body(
            json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                       "params": {"name": "whoami", "arguments": {}}})
            .to_string(),
        )
        .send()
    };
    assert_eq!(tool(None, &with_token).await.unwrap().status(), 200);
    assert_eq!(
        tool(Some(OPERATOR), &with_token).await.unwrap().status(),
        200
    );
    // An agent's token never reaches the operator's session, nor the other way round.
    assert_eq!(tool(Some(&agent), &with_token).await.unwrap().status(), 401);
    let (_, agents) = open_session(&http, &server.url, &agent).await;
    assert_eq!(tool(None, &agents).await.unwrap().status(), 401);
}

/// A POST to `path` with `token` whose headers are sent now, with `Expect: 100-continue`:
/// returns once the server has let the request in (it asks for the body only after the
/// gate has checked the token), with the connection and the body to send later.
async fn staged(
    url: &str,
    path: &str,
    token: &str,
    headers: &str,
    body: &Value,
) -> (tokio::net::TcpStream, Vec<u8>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let body = body.to_string().into_bytes();
    let mut c = tokio::net::TcpStream::connect(host_port(url))
        .await
        .unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n\
         {headers}Content-Length: {}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
        body.len()
    );
    c.write_all(head.as_bytes()).await.unwrap();
    let mut seen = Vec::new();
    let mut byte = [0u8; 1];
    while !seen.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(10), c.read(&mut byte))
            .await
            .expect("the server asks for the body")
            .unwrap();
        assert_eq!(n, 1, "closed: {}", String::from_utf8_lossy(&seen));
        seen.push(byte[0]);
    }
    let seen = String::from_utf8_lossy(&seen);
    assert!(seen.starts_with("HTTP/1.1 100"), "{seen}");
    (c, body)
}

/// Sends the rest of a [`staged`] request: the whole answer.
async fn finish(mut c: tokio::net::TcpStream, rest: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    c.write_all(rest).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), c.read_to_end(&mut answer))
        .await
        .expect("answered")
        .unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_racing_the_end_of_its_session_is_answered_404_never_500() {
    let server = server_with(memory_core(), |_| {}).await;
    let http = reqwest::Client::new();
    let ping = json!({"jsonrpc": "2.0", "id": 7, "method": "ping"});
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    for trial in 0..400u64 {
        let (_, session) = open_session(&http, &server.url, OPERATOR).await;
        let headers = format!("{SESSION}: {session}\r\nMCP-Protocol-Version: 2025-06-18\r\n");
        let (c, body) = staged(&server.url, "/mcp", OPERATOR, &headers, &ping).await;
        let end = request(
            &http,
            reqwest::Method::DELETE,
            &server.url,
            Some(OPERATOR),
            Some(&session),
        );
        // The DELETE goes out up to 0.2 ms before the body or up to 0.4 ms after it, so
        // across the trials the session ends before, while and after rmcp answers.
        let lag = |from: u64| {
            let until = Duration::from_micros(from * 20);
            let start = std::time::Instant::now();
            while start.elapsed() < until {
                std::hint::spin_loop();
            }
        };
        let offset = trial % 30;
        let answering = async |wait: u64| {
            lag(wait);
            finish(c, &body).await
        };
        let ending = async |wait: u64| {
            lag(wait);
            end.send().await.unwrap().status()
        };
        let (answer, ended) = if offset < 10 {
            let (ended, answer) = tokio::join!(ending(0), answering(10 - offset));
            (answer, ended)
        } else {
            tokio::join!(answering(0), ending(offset - 10))
        };
        assert_eq!(ended, 204);
        let status: u16 = answer
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("an HTTP answer: {answer}"));
        *statuses.entry(status).or_default() += 1;
        assert_ne!(status, 500, "after {statuses:?}: {answer}");
    }
    assert_eq!(
        statuses.keys().copied().collect::<Vec<_>>(),
        [200, 404],
        "answered before and after the end"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_whose_token_is_rotated_before_its_body_arrives_does_nothing() {
    let (dir, server) = following_an_operator_file("maas-staged-rotation").await;
    let op = connect(&server.url, OPERATOR).await;
    let token = register(&op, "agent-s", "claude_code", "alice").await;
    register(&op, "agent-t", "claude_code", "alice").await;
    let handoff = ok(
        &op,
        "initiate_handoff",
        json!({"source_agent_id": "agent-s", "target_agent_id": "agent-t",
               "task_description": "staged", "current_state": {}}),
    )
    .await;
    let handoff_id = handoff["handoff_id"].as_str().unwrap().to_string();
    // An agent's write without a session (protocol 2026-07-28) and an A2A cancel, their
    // headers sent with the token before it is rotated, their bodies after.
    let meta = json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {}});
    let store = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {
        "name": "store_memory", "_meta": meta,
        "arguments": {"memory_id": "staged-note", "content": "written after the rotation"}}});
    let (write, write_rest) = staged(
        &server.url,
        "/mcp",
        &token,
        "MCP-Protocol-Version: 2026-07-28\r\nMcp-Method: tools/call\r\nMcp-Name: store_memory\r\n",
        &store,
    )
    .await;
    let cancel = json!({"jsonrpc": "2.0", "id": 8, "method": "tasks/cancel",
        "params": {"id": handoff_id}});
    let (a2a, a2a_rest) = staged(&server.url, "/a2a", &token, "", &cancel).await;
    // A wait for changes from before the handoff: answered at once, were it let run.
    let wait = json!({"jsonrpc": "2.0", "id": 10, "method": "tools/call", "params": {
        "name": "wait_for_changes", "_meta": meta,
        "arguments": {"after": "c0", "timeout_seconds": 1}}});
    let (waiting, wait_rest) = staged(
        &server.url,
        "/mcp",
        &token,
        "MCP-Protocol-Version: 2026-07-28\r\nMcp-Method: tools/call\r\nMcp-Name: wait_for_changes\r\n",
        &wait,
    )
    .await;
    let rotated = ok(&op, "rotate_token", json!({"agent_id": "agent-s"})).await;
    assert_eq!(rotated["status"], "rotated");
    let answer = finish(write, &write_rest).await;
    assert!(
        answer.contains("permission_denied") && answer.contains("revoked"),
        "{answer}"
    );
    let answer = finish(a2a, &a2a_rest).await;
    assert!(!answer.contains("\"result\""), "{answer}");
    let answer = finish(waiting, &wait_rest).await;
    assert!(
        answer.contains("permission_denied") && !answer.contains("handoff.initiated"),
        "{answer}"
    );
    let missing = call(
        &op,
        "get_memory",
        json!({"agent_id": "agent-s", "memory_id": "staged-note"}),
    )
    .await;
    assert!(
        missing.is_error,
        "the write did not happen: {}",
        missing.body
    );
    let h = ok(&op, "get_handoff", json!({"handoff_id": handoff_id})).await;
    assert_eq!(h["status"], "pending", "the cancel did not happen: {h}");
    // Both refusals are in the audit trail, as the agent's.
    let log = ok(&op, "get_audit_log", json!({"agent_id": "agent-s"})).await;
    let late = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["outcome"] == "denied"
                && e["detail"]["reason"]
                    .as_str()
                    .is_some_and(|d| d.contains("before it ran"))
        })
        .count();
    assert_eq!(late, 2, "{log}");

    // The operator's token, replaced in its file while a registration waits for its body.
    let register_body = json!({"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": {
        "name": "register_agent", "_meta": meta,
        "arguments": {"agent_type": "human", "owner_id": "alice", "agent_id": "planted"}}});
    let (reg, reg_rest) = staged(
        &server.url,
        "/mcp",
        OPERATOR,
        "MCP-Protocol-Version: 2026-07-28\r\nMcp-Method: tools/call\r\nMcp-Name: register_agent\r\n",
        &register_body,
    )
    .await;
    let new = maas_host::operator::rotate(&dir).unwrap();
    // The server reads the file four times a second.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let answer = finish(reg, &reg_rest).await;
    assert!(
        answer.contains("permission_denied") && answer.contains("revoked"),
        "{answer}"
    );
    let op = connect(&server.url, &new).await;
    let planted = call(&op, "get_agent_info", json!({"agent_id": "planted"})).await;
    assert!(planted.is_error, "nobody was registered: {}", planted.body);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: cargo test --release -p maas-host --test mcp_http_edges bench_the_recheck -- --ignored --nocapture"]
async fn bench_the_recheck_of_a_token_on_each_core_call() {
    use maas_host::mcp::revoke::Recheck;
    use maas_host::ops::{self, agents::Whoami, memories::GetMemory, memories::StoreMemory};
    let (dir, path) = scratch("maas-recheck-bench", "journal.db");
    let core = sqlite_core(&path);
    let mut tokens = Vec::new();
    for i in 0..1_000 {
        let req = maas_host::agents::RegistrationRequest {
            agent_type: maas_host::agents::AgentType::ClaudeCode,
            owner_id: format!("owner-{}", i % 10),
            agent_id: Some(format!("agent-{i}")),
            capabilities: None,
            metadata: None,
        };
        let r = core
            .call(move |rt| {
                rt.call(|c, s| {
                    c.maas_core_agents()
                        .call_register(s, &types::Caller::Operator, &req)
                })
            })
            .await
            .unwrap();
        tokens.push(r.token);
    }
    let me = types::Caller::Agent("agent-7".into());
    let digest = maas_host::known_tokens::digest(&tokens[7]).unwrap();
    let checked = Recheck::agent(digest, "agent-7".into()).bind(&core);
    let store = |n: usize| StoreMemory {
        agent_id: None,
        content: format!("note {n} about the deploy pipeline and its cache"),
        memory_type: "note".into(),
        tags: None,
        memory_id: Some(format!("m-{n}")),
        pool_id: None,
        scope: None,
        ttl_seconds: None,
    };
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let mut stored = 0;
    println!(
        "the token's recheck on each core call (SQLite journal, 1,000 agents; µs per call, medians of 5 rounds of 500)"
    );
    for (name, kind) in [("store_memory", 2), ("get_memory", 1), ("whoami", 0)] {
        let (mut plain, mut with) = (Vec::new(), Vec::new());
        for round in 0..10 {
            let handle = if round % 2 == 0 { &core } else { &checked };
            let started = std::time::Instant::now();
            for _ in 0..500 {
                match kind {
                    0 => drop(ops::run(handle, &me, Whoami {}).await.unwrap()),
                    1 => drop(
                        ops::run(
                            handle,
                            &me,
                            GetMemory {
                                agent_id: None,
                                memory_id: "m-0".into(),
                            },
                        )
                        .await
                        .unwrap(),
                    ),
                    _ => {
                        ops::run(handle, &me, store(stored)).await.unwrap();
                        stored += 1;
                    }
                }
            }
            let per_call = started.elapsed().as_secs_f64() * 1e6 / 500.0;
            if round % 2 == 0 {
                plain.push(per_call)
            } else {
                with.push(per_call)
            }
        }
        let (p, w) = (median(plain), median(with));
        println!(
            "{name:>13}: {p:8.1} µs unchecked, {w:8.1} µs checked, ratio {:.2}",
            w / p
        );
    }
    // The check alone, 5,000 times in one job: what each checked call adds.
    let hash = [maas_core::audit::hex(
        &maas_host::known_tokens::digest(&tokens[7]).unwrap(),
    )];
    let alone = core
        .call(move |rt| {
            let started = std::time::Instant::now();
            for _ in 0..5_000 {
                let revoked = rt.call(|c, s| {
                    c.maas_core_admin()
                        .call_revoked_tokens(s, &types::Caller::Operator, &hash)
                })?;
                assert!(revoked.is_empty());
            }
            Ok(started.elapsed().as_secs_f64() * 1e6 / 5_000.0)
        })
        .await
        .unwrap();
    println!("  the check alone: {alone:.1} µs");
    drop((core, checked));
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_whose_body_is_still_coming_when_the_server_stops_does_not_hold_the_stop() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let core = memory_core();
    let mut server = server_with(core.clone(), |_| {}).await;
    let op = connect(&server.url, OPERATOR).await;
    let token = register(&op, "agent-t", "claude_code", "alice").await;
    let http = reqwest::Client::new();
    let (_, session) = open_session(&http, &server.url, &token).await;
    // Headers, and the first bytes of a body that says it is 500 bytes long.
    let host = host_port(&server.url);
    let mut slow = tokio::net::TcpStream::connect(&host).await.unwrap();
    let head = format!(
        "POST /mcp HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n\
         Mcp-Session-Id: {session}\r\nContent-Type: application/json\r\n\
         Accept: application/json, text/event-stream\r\nContent-Length: 500\r\n\r\n\
         {{\"jsonrpc\":\"2.0\","
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let began = std::time::Instant::now();
    server.shut_down().await;
    assert!(
        began.elapsed() < Duration::from_secs(5),
        "a body never finished held the stop for {:?}",
        began.elapsed()
    );
    // Told so: nothing of it ran.
    let mut answer = String::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), slow.read_to_string(&mut answer)).await;
    assert!(
        answer.starts_with("HTTP/1.1 503") && answer.contains("stopping"),
        "{answer}"
    );
}

/// `POST` of `body` with `content_type` to `path` of the server at `url`, as `token`:
/// the status, the `Content-Type` and the body.
async fn raw(
    url: &str,
    method: reqwest::Method,
    path: &str,
    token: &str,
    content_type: &str,
    body: String,
) -> (StatusCode, String, String) {
    let resp = reqwest::Client::new()
        .request(method, url.replace("/mcp", path))
        .header("Authorization", format!("Bearer {token}"))
        .header("Accept", "application/json, text/event-stream")
        .header("Content-Type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let kind = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (status, kind, resp.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_of_countless_tiny_json_values_are_refused_before_any_parse() {
    let server = server().await;
    let op = connect(&server.url, OPERATOR).await;
    let a = register(&op, "agent-a", "claude_code", "alice").await;
    let (status, session) = open_session(&reqwest::Client::new(), &server.url, &a).await;
    assert_eq!(status, 200);
    // 1.5 MiB of `[[],[],…]`: 500,000 values, under the 4 MiB limit of /mcp (A2A takes
    // 64 KiB, which holds too few values to matter).
    let bomb = format!("[{}[]]", "[],".repeat(500_000));
    for path in ["/mcp"] {
        let resp = reqwest::Client::new()
            .post(server.url.replace("/mcp", path))
            .header("Authorization", format!("Bearer {a}"))
            .header("Accept", "application/json, text/event-stream")
            .header("Content-Type", "application/json")
            .header(SESSION, &session)
            .body(bomb.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 413, "{path}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["code"], -32600, "{path}: {body}");
    }
    // Brackets and commas inside a text count for nothing: a long text reaches the tool
    // (which answers it, here with the write gate's refusal of so repetitive a text).
    let long = "deploy, [notes] ".repeat(4_000);
    let http = reqwest::Client::new();
    let call = (server.url.as_str(), a.as_str(), session.as_str());
    let (status, body) = tool_call(&http, call, 2, "store_memory", json!({"content": long})).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains(r#""result""#) && body.contains("content"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_change_feed_and_a2a_answer_bad_requests_with_typed_json() {
    let server = server().await;
    let op = connect(&server.url, OPERATOR).await;
    let a = register(&op, "agent-a", "claude_code", "alice").await;
    let url = &server.url;
    let json_body = |text: &str| -> Value { serde_json::from_str(text).expect(text) };
    // A2A: the JSON-RPC error each mistake is.
    for (body, code) in [
        ("{not json", -32700),
        (r#"[{"jsonrpc":"2.0","id":1,"method":"tasks/get"}]"#, -32600),
        (r#"{"jsonrpc":"2.0","id":1}"#, -32600),
        (r#""tasks/get""#, -32600),
        (r#"{"jsonrpc":"2.0","id":1,"method":"tasks/list"}"#, -32601),
    ] {
        let post = raw(
            url,
            reqwest::Method::POST,
            "/a2a",
            &a,
            "application/json",
            body.into(),
        );
        let (status, kind, text) = post.await;
        assert_eq!(status, 200, "{body}: {text}");
        assert!(kind.starts_with("application/json"), "{body}: {kind}");
        assert_eq!(json_body(&text)["error"]["code"], code, "{body}: {text}");
    }
    let big = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tasks/get","params":{{"id":"{}"}}}}"#,
        "x".repeat(100_000)
    );
    let a2a_get = r#"{"jsonrpc":"2.0","id":1,"method":"tasks/get"}"#.to_string();
    for (path, content_type, body, status) in [
        ("/a2a", "text/plain", a2a_get, 415),
        ("/mcp", "text/plain", init_body(), 415),
        ("/a2a", "application/json", big, 413),
    ] {
        let (got, kind, text) = raw(url, reqwest::Method::POST, path, &a, content_type, body).await;
        assert_eq!(got, status, "{text}");
        assert!(kind.starts_with("application/json"), "{kind}");
        assert_eq!(json_body(&text)["error"]["code"], -32600, "{text}");
    }
    // Methods a route does not serve, and a query string the feed does not take.
    for (method, path, allowed) in [
        (reqwest::Method::GET, "/a2a", "POST"),
        (reqwest::Method::POST, "/v1/changes", "GET"),
    ] {
        let (status, kind, text) =
            raw(url, method, path, &a, "application/json", "{}".into()).await;
        assert_eq!(status, 405, "{path}: {text}");
        assert!(kind.starts_with("application/json"), "{path}: {kind}");
        assert!(text.contains(allowed), "{path}: {text}");
    }
    for query in ["?limit=5", "?after=c1&after=c2"] {
        let path = format!("/v1/changes{query}");
        let (status, kind, text) = raw(
            url,
            reqwest::Method::GET,
            &path,
            &a,
            "application/json",
            String::new(),
        )
        .await;
        assert_eq!(status, 400, "{query}: {text}");
        assert!(kind.starts_with("application/json"), "{query}: {kind}");
        assert_eq!(json_body(&text)["code"], "invalid_input", "{query}: {text}");
    }
}

/// The test certificate authority, and a certificate it signed for `localhost`,
/// `127.0.0.1` and `::1` with its key (host/tests/fixtures/tls, valid until 2126).
fn tls_fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tls")
        .join(name)
}

/// The test authority as the only root a client trusts.
fn test_roots() -> rustls::RootCertStore {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(tls_fixture("ca.pem")).unwrap())
        .unwrap();
    roots
}

/// A TLS connection to `addr` (as `localhost`), trusting `roots`.
async fn tls_connect(
    addr: &str,
    roots: rustls::RootCertStore,
) -> Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>, std::io::Error> {
    use rustls::pki_types::ServerName;
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let name = ServerName::try_from("localhost").unwrap();
    connector.connect(name, tcp).await
}

/// `request` sent over TLS to `addr`, trusting `roots`: the whole answer, or the
/// handshake's error.
async fn over_tls(
    addr: &str,
    roots: rustls::RootCertStore,
    request: &str,
) -> Result<String, std::io::Error> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tls = tls_connect(addr, roots).await?;
    tls.write_all(request.as_bytes()).await?;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), tls.read_to_end(&mut answer)).await;
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

/// The certificate the server at `addr` presents now (DER).
async fn presented(addr: &str) -> Vec<u8> {
    let tls = tls_connect(addr, test_roots()).await.unwrap();
    let certs = tls.get_ref().1.peer_certificates().unwrap();
    certs[0].as_ref().to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_never_starts_its_handshake_does_not_hold_a_stop() {
    let tls = maas_host::mcp::http::Tls::from_pem_files(
        &tls_fixture("server.pem"),
        &tls_fixture("server.key"),
    )
    .unwrap();
    let mut server = server_with(memory_core(), |o| o.tls = Some(tls)).await;
    let addr = host_port(&server.url);
    let _silent = tokio::net::TcpStream::connect(&addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Before, the handshake waited out the header timeout (30 s) and the stop with it.
    tokio::time::timeout(Duration::from_secs(5), server.shut_down())
        .await
        .expect("the server stops though a connection never sent a byte");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewed_certificate_is_served_from_the_next_handshake_and_a_broken_pair_never() {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let (dir, cert) = scratch("maas-tls-renewal", "chain.pem");
    let key = dir.join("key.pem");
    let der = |name: &str| {
        CertificateDer::from_pem_file(tls_fixture(name))
            .unwrap()
            .as_ref()
            .to_vec()
    };
    std::fs::copy(tls_fixture("server.pem"), &cert).unwrap();
    std::fs::copy(tls_fixture("server.key"), &key).unwrap();
    let tls = maas_host::mcp::http::Tls::from_pem_files(&cert, &key)
        .unwrap()
        .checked_every(Duration::from_millis(50));
    let server = server_with(memory_core(), |o| o.tls = Some(tls)).await;
    let addr = host_port(&server.url);
    assert_eq!(presented(&addr).await, der("server.pem"));
    // Half a renewal (the new certificate, the old key) cannot serve: the pair before
    // stays.
    std::fs::copy(tls_fixture("renewed.pem"), &cert).unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(presented(&addr).await, der("server.pem"));
    // The whole renewal is served from the next handshake on.
    std::fs::copy(tls_fixture("renewed.key"), &key).unwrap();
    let started = std::time::Instant::now();
    while presented(&addr).await != der("renewed.pem") {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the renewal is served"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A pair out of date cannot serve either.
    std::fs::copy(tls_fixture("expired.key"), &key).unwrap();
    std::fs::copy(tls_fixture("expired.pem"), &cert).unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(presented(&addr).await, der("renewed.pem"));
    server.stop.cancel();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_serves_mcp_to_a_client_trusting_the_certificate_and_tells_plain_http_so() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let tls = maas_host::mcp::http::Tls::from_pem_files(
        &tls_fixture("server.pem"),
        &tls_fixture("server.key"),
    )
    .unwrap();
    // The names the operator is warned against at start.
    assert_eq!(tls.names(), ["localhost", "127.0.0.1", "::1"]);
    let server = server_with(memory_core(), |o| {
        o.tls = Some(tls);
        o.connections.per_address = 1;
        o.connections.exempt_loopback = false;
    })
    .await;
    let addr = host_port(&server.url);
    let roots = test_roots();
    let body = init_body();
    let initialize = format!(
        "POST /mcp HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {OPERATOR}\r\n\
         Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let answer = over_tls(&addr, roots.clone(), &initialize).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"serverInfo\""), "{answer}");

    // A client that does not trust the certificate's authority never gets a connection.
    let refused = over_tls(&addr, rustls::RootCertStore::empty(), &initialize).await;
    assert!(refused.is_err(), "{refused:?}");

    // Plain HTTP to the HTTPS port is told what to do, in plain HTTP.
    let mut plain = tokio::net::TcpStream::connect(&addr).await.unwrap();
    plain
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut told = String::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), plain.read_to_string(&mut told)).await;
    assert!(
        told.starts_with("HTTP/1.1 400") && told.contains("speaks HTTPS"),
        "{told}"
    );

    // A connection past the address's places is answered 429 through TLS too.
    let held = tokio::net::TcpStream::connect(&addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let health = "GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    let busy = over_tls(&addr, roots.clone(), health).await.unwrap();
    assert!(busy.starts_with("HTTP/1.1 429"), "{busy}");
    drop(held);
    server.stop.cancel();
}
