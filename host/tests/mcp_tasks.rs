//! Handoffs as MCP tasks: a real rmcp client that declares the tasks extension gets
//! `initiate_handoff` as a task, follows it with `tasks/get`, answers the target's
//! question with `tasks/update` and cancels with `tasks/cancel`; a client that does not
//! declare it gets the plain answer; nobody but the two parties sees the task.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod mcp_support;

use mcp_support::*;
use rmcp::ServiceExt;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, CancelTaskParams, ClientCapabilities,
    ClientConfig, DetailedTask, GetTaskParams, Implementation, InputRequest, ResultType,
    TaskPayload, TaskStatus, UpdateTaskParams,
};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// A connected client that declares the tasks extension.
type TasksClient = rmcp::service::RunningService<rmcp::RoleClient, ClientConfig>;

/// A client that declares the tasks extension.
async fn tasks_client(url: &str, token: &str) -> TasksClient {
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(url.to_string())
            .auth_header(token.to_string()),
    );
    ClientConfig::new(
        ClientCapabilities::builder().enable_tasks().build(),
        Implementation::new("tasks-test", "1"),
    )
    .serve(transport)
    .await
    .expect("client connects")
}

fn args(v: Value) -> serde_json::Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => unreachable!(),
    }
}

/// Initiates a handoff to bob as a task; its id.
async fn initiate(client: &TasksClient, task: &str) -> String {
    let response = client
        .call_tool_once(
            CallToolRequestParams::new("initiate_handoff").with_arguments(args(json!({
                "target_agent_id": "bob",
                "task_description": task,
                "current_state": {"step": 1},
            }))),
        )
        .await
        .unwrap();
    let CallToolResponse::Task(created) = response else {
        panic!("expected a task, got {response:?}");
    };
    assert_eq!(created.result_type, ResultType::TASK);
    assert_eq!(created.task.status, TaskStatus::Working);
    assert!(created.task.poll_interval_ms.is_some());
    created.task.task_id
}

async fn get(client: &TasksClient, id: &str) -> DetailedTask {
    client
        .get_task(GetTaskParams::new(id.to_string()))
        .await
        .unwrap_or_else(|e| panic!("tasks/get {id}: {e}"))
        .task
}

/// The tool result a completed task carries.
fn result(task: &DetailedTask) -> CallToolResult {
    let TaskPayload::Completed { result } = &task.payload else {
        panic!("expected a completed task, got {task:?}");
    };
    serde_json::from_value(Value::Object(result.clone())).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handoff_runs_as_a_task_for_a_client_that_declares_them() {
    let server = server().await;
    let url = server.url.clone();
    let op = connect(&url, OPERATOR).await;
    let ann_token = register(&op, "ann", "claude_code", "u1").await;
    let bob_token = register(&op, "bob", "claude_code", "u1").await;
    let eve_token = register(&op, "eve", "claude_code", "u2").await;
    let ann = tasks_client(&url, &ann_token).await;
    let bob = connect(&url, &bob_token).await;
    let eve = tasks_client(&url, &eve_token).await;

    // The task id is the handoff id: the target sees it as any handoff.
    let h = initiate(&ann, "build the login page").await;
    let pending = ok(&bob, "get_pending_handoffs", json!({})).await;
    assert_eq!(pending["handoffs"][0]["id"], h.as_str());
    let task = get(&ann, &h).await;
    assert_eq!(task.status(), TaskStatus::Working);
    assert_eq!(task.task.task_id, h);
    assert!(
        task.task
            .status_message
            .as_deref()
            .unwrap()
            .starts_with("pending")
    );

    // Only the parties see it; another owner's agent is told there is no such task.
    let err = eve
        .get_task(GetTaskParams::new(h.clone()))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not found"), "{err}");
    assert!(
        eve.cancel_task(CancelTaskParams::new(h.clone()))
            .await
            .is_err()
    );

    ok(&bob, "accept_handoff", json!({"handoff_id": h})).await;
    let task = get(&ann, &h).await;
    assert_eq!(task.status(), TaskStatus::Working);
    assert!(
        task.task
            .status_message
            .as_deref()
            .unwrap()
            .starts_with("accepted")
    );

    // The target's question is an input request of the task.
    ok(
        &bob,
        "request_handoff_input",
        json!({"handoff_id": h, "question": "Which login endpoint?"}),
    )
    .await;
    let task = get(&ann, &h).await;
    let TaskPayload::InputRequired { input_requests } = &task.payload else {
        panic!("expected input_required, got {task:?}");
    };
    assert_eq!(input_requests.len(), 1);
    let (key, request) = input_requests.iter().next().unwrap();
    let InputRequest::Elicitation(elicit) = request else {
        panic!("expected an elicitation, got {request:?}");
    };
    let asked = serde_json::to_value(&elicit.params).unwrap();
    assert_eq!(asked["message"], "Which login endpoint?");
    assert_eq!(asked["requestedSchema"]["required"], json!(["answer"]));

    // Wrong keys, declines and strangers change nothing.
    let wrong = BTreeMap::from([(
        "question-0".to_string(),
        json!({"action": "accept", "content": {"answer": "x"}}),
    )]);
    assert!(
        ann.update_task(UpdateTaskParams::new(h.clone(), wrong))
            .await
            .is_err()
    );
    let declined = BTreeMap::from([(key.clone(), json!({"action": "decline"}))]);
    assert!(
        ann.update_task(UpdateTaskParams::new(h.clone(), declined))
            .await
            .is_err()
    );
    let answer = BTreeMap::from([(
        key.clone(),
        json!({"action": "accept", "content": {"answer": "POST /api/auth/login"}}),
    )]);
    assert!(
        eve.update_task(UpdateTaskParams::new(h.clone(), answer.clone()))
            .await
            .is_err()
    );
    assert_eq!(get(&ann, &h).await.status(), TaskStatus::InputRequired);

    // The source answers through the task; the target reads the answer.
    ann.update_task(UpdateTaskParams::new(h.clone(), answer))
        .await
        .unwrap();
    let seen = ok(&bob, "get_handoff", json!({"handoff_id": h})).await;
    assert_eq!(seen["status"], "accepted");
    assert_eq!(seen["question"], "Which login endpoint?");
    assert_eq!(seen["answer"], "POST /api/auth/login");
    assert_eq!(get(&ann, &h).await.status(), TaskStatus::Working);

    // Completion: the task's result is the handoff with its result.
    ok(
        &bob,
        "complete_handoff",
        json!({"handoff_id": h, "result": {"pr": 42}}),
    )
    .await;
    let done = result(&get(&ann, &h).await);
    assert_ne!(done.is_error, Some(true));
    let body = done.structured_content.unwrap();
    assert_eq!(body["status"], "completed");
    assert_eq!(body["result"], json!({"pr": 42}));

    // Cancel withdraws a pending handoff; an accepted one cannot be cancelled.
    let c = initiate(&ann, "write the docs").await;
    ann.cancel_task(CancelTaskParams::new(c.clone()))
        .await
        .unwrap();
    let cancelled = get(&ann, &c).await;
    assert_eq!(cancelled.status(), TaskStatus::Cancelled);
    assert!(cancelled.task.poll_interval_ms.is_none());
    assert!(
        ann.cancel_task(CancelTaskParams::new(h.clone()))
            .await
            .is_err()
    );
    // The target is told that only the source cancels (it was told it may not act as
    // the source, as if it had tried to impersonate it).
    let t = initiate(&ann, "tidy the config").await;
    let refused = tasks_client(&url, &bob_token)
        .await
        .cancel_task(CancelTaskParams::new(t.clone()))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        refused.contains("only the source") && !refused.contains("act as"),
        "{refused}"
    );
    assert_eq!(get(&ann, &t).await.status(), TaskStatus::Working);

    // A rejection is a completed task whose result is an error with the reason.
    let r = initiate(&ann, "rewrite it in COBOL").await;
    ok(
        &bob,
        "reject_handoff",
        json!({"handoff_id": r, "reason": "out of scope"}),
    )
    .await;
    let rejected = result(&get(&ann, &r).await);
    assert_eq!(rejected.is_error, Some(true));
    assert_eq!(
        rejected.structured_content.unwrap()["reason"],
        "out of scope"
    );

    // A refused initiate stays a tool error, not a task.
    let refused = ann
        .call_tool_once(
            CallToolRequestParams::new("initiate_handoff").with_arguments(args(json!({
                "target_agent_id": "nobody",
                "task_description": "x",
            }))),
        )
        .await
        .unwrap();
    let CallToolResponse::Complete(refused) = refused else {
        panic!("a refusal is not a task: {refused:?}");
    };
    assert_eq!(refused.is_error, Some(true));

    // A client that does not declare tasks gets the plain answer, and no tasks/* calls.
    let plain = ok(
        &bob,
        "initiate_handoff",
        json!({"target_agent_id": "ann", "task_description": "review"}),
    )
    .await;
    assert_eq!(plain["status"], "pending");
    assert!(bob.get_task(GetTaskParams::new(h.clone())).await.is_err());
}
