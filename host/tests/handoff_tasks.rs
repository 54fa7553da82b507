//! Handoffs in the protocols agents speak: the `input_required` exchange over MCP, and
//! every handoff state read as an A2A task at `/a2a`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod mcp_support;

use mcp_support::*;
use serde_json::{Value, json};

/// Calls an A2A method at `/a2a` with `token`.
async fn a2a(url: &str, token: &str, method: &str, id: &str) -> Value {
    reqwest::Client::new()
        .post(url.replace("/mcp", "/a2a"))
        .header("Authorization", format!("Bearer {token}"))
        .json(&json!({"jsonrpc": "2.0", "id": 7, "method": method, "params": {"id": id}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn state(url: &str, token: &str, id: &str) -> String {
    let task = a2a(url, token, "tasks/get", id).await;
    task["result"]["status"]["state"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn handoff(ann: &Client, task: &str, ttl: Option<u64>) -> String {
    let mut args =
        json!({"target_agent_id": "bob", "task_description": task, "current_state": {"step": 2}});
    if let Some(ttl) = ttl {
        args["ttl_seconds"] = json!(ttl);
    }
    ok(ann, "initiate_handoff", args).await["handoff_id"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_target_asks_the_source_answers_and_every_state_reads_as_an_a2a_task() {
    let server = server().await;
    let url = server.url.clone();
    let op = connect(&url, OPERATOR).await;
    let ann_token = register(&op, "ann", "claude_code", "u1").await;
    let bob_token = register(&op, "bob", "claude_code", "u1").await;
    let eve_token = register(&op, "eve", "claude_code", "u2").await;
    let ann = connect(&url, &ann_token).await;
    let bob = connect(&url, &bob_token).await;
    let ann_from = ok(&ann, "get_changes", json!({})).await["next_cursor"].clone();

    let h = handoff(&ann, "build the login page", None).await;
    assert_eq!(state(&url, &bob_token, &h).await, "submitted");
    ok(&bob, "accept_handoff", json!({"handoff_id": h})).await;
    assert_eq!(state(&url, &ann_token, &h).await, "working");

    // The target needs more: input_required until the source answers.
    fails(
        &ann,
        "request_handoff_input",
        json!({"handoff_id": h, "question": "?"}),
        "permission_denied",
    )
    .await;
    let asked = ok(
        &bob,
        "request_handoff_input",
        json!({"handoff_id": h, "question": "Which login endpoint?"}),
    )
    .await;
    assert_eq!(asked["status"], "input_required");
    fails(
        &bob,
        "complete_handoff",
        json!({"handoff_id": h}),
        "invalid_input",
    )
    .await;
    let task = a2a(&url, &ann_token, "tasks/get", &h).await["result"].clone();
    assert_eq!(task["kind"], "task");
    assert_eq!(task["status"]["state"], "input-required");
    assert_eq!(
        task["status"]["message"]["parts"][0]["text"],
        "Which login endpoint?"
    );
    // The source learns of it from its change feed.
    let feed = ok(
        &ann,
        "get_changes",
        json!({"after": ann_from, "kinds": ["handoff"]}),
    )
    .await;
    let kinds: Vec<&str> = feed["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "handoff.initiated",
            "handoff.accepted",
            "handoff.input_required"
        ]
    );

    fails(
        &bob,
        "provide_handoff_input",
        json!({"handoff_id": h, "answer": "x"}),
        "permission_denied",
    )
    .await;
    let answered = ok(
        &ann,
        "provide_handoff_input",
        json!({"handoff_id": h, "answer": "POST /api/auth/login"}),
    )
    .await;
    assert_eq!(answered["status"], "accepted");
    ok(
        &bob,
        "complete_handoff",
        json!({"handoff_id": h, "result": {"status": "success"}}),
    )
    .await;
    let task = a2a(&url, &bob_token, "tasks/get", &h).await["result"].clone();
    assert_eq!(task["status"]["state"], "completed");
    let roles: Vec<&str> = task["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["user", "agent", "user"]);
    assert_eq!(
        task["history"][0]["parts"][0]["text"],
        "build the login page"
    );
    assert_eq!(
        task["history"][2]["parts"][0]["text"],
        "POST /api/auth/login"
    );
    assert_eq!(
        task["artifacts"][0]["parts"][0]["data"]["status"],
        "success"
    );
    assert_eq!(task["metadata"]["maas"]["source_agent_id"], "ann");

    // Nobody else reads it, and unknown methods and ids are JSON-RPC errors.
    let refused = a2a(&url, &eve_token, "tasks/get", &h).await;
    assert_eq!(refused["error"]["code"], -32001, "{refused}");
    assert_eq!(
        a2a(&url, &ann_token, "tasks/send", &h).await["error"]["code"],
        -32601
    );
    let bare: Value = reqwest::Client::new()
        .post(url.replace("/mcp", "/a2a"))
        .header("Authorization", format!("Bearer {ann_token}"))
        .json(&json!({"jsonrpc": "2.0", "id": 8, "method": "bogus", "params": {}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        bare["error"]["code"], -32601,
        "the method before its params: {bare}"
    );

    // Rejected, canceled (through A2A) and failed (expired).
    let r = handoff(&ann, "rejected one", None).await;
    ok(
        &bob,
        "reject_handoff",
        json!({"handoff_id": r, "reason": "not mine"}),
    )
    .await;
    let task = a2a(&url, &ann_token, "tasks/get", &r).await["result"].clone();
    assert_eq!(task["status"]["state"], "rejected");
    assert_eq!(task["status"]["message"]["parts"][0]["text"], "not mine");
    let c = handoff(&ann, "cancelled one", None).await;
    // A call without an id (a notification) is not run: it would pass the agent's cap
    // on requests in flight uncounted.
    let unnumbered: Value = reqwest::Client::new()
        .post(url.replace("/mcp", "/a2a"))
        .header("Authorization", format!("Bearer {ann_token}"))
        .json(&json!({"jsonrpc": "2.0", "method": "tasks/cancel", "params": {"id": c}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(unnumbered["error"]["code"], -32600, "{unnumbered}");
    assert_eq!(state(&url, &ann_token, &c).await, "submitted");
    let cancelled = a2a(&url, &ann_token, "tasks/cancel", &c).await;
    assert_eq!(
        cancelled["result"]["status"]["state"], "canceled",
        "{cancelled}"
    );
    // What cannot be cancelled says so (its target asking, a handoff no longer
    // pending), a stranger's cancel finds no task, and a malformed id is bad params.
    let p = handoff(&ann, "only its source cancels it", None).await;
    let code = |v: Value| v["error"]["code"].clone();
    assert_eq!(
        code(a2a(&url, &bob_token, "tasks/cancel", &p).await),
        -32002
    );
    assert_eq!(
        code(a2a(&url, &ann_token, "tasks/cancel", &r).await),
        -32002
    );
    assert_eq!(
        code(a2a(&url, &eve_token, "tasks/cancel", &p).await),
        -32001
    );
    assert_eq!(
        code(a2a(&url, &ann_token, "tasks/get", "no such/id").await),
        -32602
    );
    let e = handoff(&ann, "expiring one", Some(1)).await;
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    assert_eq!(state(&url, &bob_token, &e).await, "failed");
}
