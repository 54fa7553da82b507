//! Handoffs as A2A tasks: `POST /a2a` answers the A2A JSON-RPC methods `tasks/get` and
//! `tasks/cancel` for the handoffs the caller may see, behind the same gate as `/mcp`.
//!
//! A handoff is a task whose id and context id are the handoff's id; its states map as
//! pending → `submitted`, accepted → `working`, input_required → `input-required`,
//! completed → `completed`, rejected → `rejected`, cancelled → `canceled`, expired →
//! `failed` (with the reason in the status message). The task description and state
//! are the first message of its history (from the source, role `user`); the target's
//! question (role `agent`) and the source's answer follow; the completion result is
//! its artifact.

use crate::bindings::handoffs::{Handoff, HandoffStatus};
use crate::mcp::Principal;
use crate::mcp::revoke::Recheck;
use crate::ops::handoffs::{CancelHandoff, GetHandoff};
use crate::ops::run;
use crate::render::rfc3339;
use crate::service::CoreService;
use crate::{types, wire};
use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{Value, json};

/// The A2A state of a handoff status.
pub fn state(status: HandoffStatus) -> &'static str {
    match status {
        HandoffStatus::Pending => "submitted",
        HandoffStatus::Accepted => "working",
        HandoffStatus::InputRequired => "input-required",
        HandoffStatus::Completed => "completed",
        HandoffStatus::Rejected => "rejected",
        HandoffStatus::Cancelled => "canceled",
        HandoffStatus::Expired => "failed",
    }
}

fn message(h: &Handoff, n: &str, role: &str, parts: Value) -> Value {
    json!({
        "kind": "message",
        "messageId": format!("{}:{n}", h.id),
        "taskId": h.id,
        "contextId": h.id,
        "role": role,
        "parts": parts,
    })
}

fn text(t: &str) -> Value {
    json!([{ "kind": "text", "text": t }])
}

/// A handoff as an A2A `Task`.
pub fn task(h: &Handoff) -> Value {
    let mut history = vec![message(
        h,
        "task",
        "user",
        json!([
            { "kind": "text", "text": h.context.task_description },
            { "kind": "data", "data": { "current_state": wire::embedded(&h.context.current_state) } },
        ]),
    )];
    if let Some(q) = &h.question {
        history.push(message(h, "question", "agent", text(q)));
    }
    if let Some(a) = &h.answer {
        history.push(message(h, "answer", "user", text(a)));
    }
    let status_message = match h.status {
        HandoffStatus::Rejected => h
            .reason
            .as_deref()
            .map(|r| message(h, "status", "agent", text(r))),
        HandoffStatus::InputRequired => h
            .question
            .as_deref()
            .map(|q| message(h, "status", "agent", text(q))),
        HandoffStatus::Expired => Some(message(
            h,
            "status",
            "agent",
            text("expired: its ttl passed before the target accepted it"),
        )),
        _ => None,
    };
    let mut status = serde_json::Map::new();
    status.insert("state".into(), json!(state(h.status)));
    status.insert("timestamp".into(), json!(rfc3339(h.updated_at)));
    if let Some(m) = status_message {
        status.insert("message".into(), m);
    }
    let artifacts: Vec<Value> = h
        .result
        .iter()
        .map(|r| {
            json!({
                "artifactId": format!("{}:result", h.id),
                "name": "result",
                "parts": [{ "kind": "data", "data": wire::embedded(r) }],
            })
        })
        .collect();
    json!({
        "kind": "task",
        "id": h.id,
        "contextId": h.id,
        "status": status,
        "history": history,
        "artifacts": artifacts,
        "metadata": {
            // With its flags and what was redacted, as `get_handoff` answers.
            "maas": wire::with_notes(json!({
                "source_agent_id": h.source_agent_id,
                "target_agent_id": h.target_agent_id,
                "status": wire::Wire::wire(h.status),
                "relevant_memories": h.context.relevant_memories,
                "relevant_files": h.context.relevant_files,
                "created_at": h.created_at,
                "expires_at": h.expires_at,
            }), &h.notes)
        },
    })
}

/// A JSON-RPC error answer.
fn failure(id: Value, code: i64, message: String, data: Option<Value>) -> Response {
    let mut error = serde_json::Map::new();
    error.insert("code".into(), json!(code));
    error.insert("message".into(), json!(message));
    if let Some(d) = data {
        error.insert("data".into(), d);
    }
    Json(json!({ "jsonrpc": "2.0", "id": id, "error": error })).into_response()
}

/// A domain error as the A2A error that fits: an id the caller cannot see is
/// `TaskNotFound` (-32001) whoever holds it; a cancel the task's status or the caller's
/// role does not allow (not pending, expired, the target asking) is `TaskNotCancelable`
/// (-32002); other bad input is invalid params (-32602); what is left (rate limits,
/// capacity, an unavailable journal) is an internal error (-32603). The typed error is
/// the `data` in every case.
fn domain(id: Value, e: &types::Error, cancel: bool) -> Response {
    use types::Error as E;
    // The token was found revoked as the call ran (rotated by another process): as the
    // door answers it, not as a task the caller cannot see.
    if matches!((e, crate::mcp::revoked()), (E::PermissionDenied(a), E::PermissionDenied(b)) if *a == b)
    {
        return super::unauthorized("invalid or revoked token");
    }
    let code = match e {
        E::NotFound(_) => -32001,
        E::InvalidInput(_) | E::PermissionDenied(_) | E::Expired(_) if cancel => -32002,
        E::PermissionDenied(_) => -32001,
        E::InvalidInput(_) => -32602,
        _ => -32603,
    };
    failure(id, code, e.message(), Some(wire::error(e)))
}

/// `POST /a2a`.
pub async fn rpc(
    State(core): State<CoreService>,
    Extension(principal): Extension<Principal>,
    Extension(recheck): Extension<Recheck>,
    body: Bytes,
) -> Response {
    // Each core call first checks that the token still authenticates.
    let core = recheck.bind(&core);
    // The gate has read the body whole, JSON and small (`body.rs`); what it says is read
    // here, so a bad one gets a JSON-RPC error, not an HTTP one.
    let request: Value = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => return failure(Value::Null, -32700, format!("Parse error: {e}"), None),
    };
    let id = request.get("id").cloned().unwrap_or(Value::Null);
    // Every A2A method answers: a message without an id (a notification) is not one,
    // and is not run (it would pass an agent's cap on requests in flight uncounted).
    if request.is_object() && request.get("id").is_none() {
        return failure(
            Value::Null,
            -32600,
            "Invalid Request: an A2A call needs an `id` (notifications are not served here)".into(),
            None,
        );
    }
    let Some(method) = request.get("method").and_then(Value::as_str) else {
        let why = if request.is_array() {
            "a batch is not served here: send one request at a time"
        } else {
            "a request is a JSON object with a `method` string"
        };
        return failure(id, -32600, format!("Invalid Request: {why}"), None);
    };
    // The method first: an unknown one is -32601 whatever its params.
    let cancel = match method {
        "tasks/get" => false,
        "tasks/cancel" => true,
        other => {
            return failure(
                id,
                -32601,
                format!("method {other:?} is not served here: tasks/get and tasks/cancel are"),
                None,
            );
        }
    };
    let Some(task_id) = request
        .pointer("/params/id")
        .and_then(Value::as_str)
        .map(str::to_string)
    else {
        return failure(
            id,
            -32602,
            "params.id (the task id) is required".into(),
            None,
        );
    };
    // A malformed id is bad params, not a task that cannot be cancelled.
    if let Err(e) = maas_core::limits::check_id("params.id", &task_id) {
        return failure(id, -32602, e.to_string(), None);
    }
    let caller = principal.caller();
    let answer = if cancel {
        let op = CancelHandoff {
            handoff_id: task_id,
            agent_id: None,
        };
        run(&core, &caller, op).await
    } else {
        let op = GetHandoff {
            handoff_id: task_id,
        };
        run(&core, &caller, op).await
    };
    match answer {
        Ok(h) => Json(json!({ "jsonrpc": "2.0", "id": id, "result": task(&h) })).into_response(),
        Err(e) => domain(id, &e, cancel),
    }
}
