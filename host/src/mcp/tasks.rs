//! Handoffs as MCP tasks (the tasks extension, `io.modelcontextprotocol/tasks`). A client
//! that declares the extension gets `initiate_handoff`'s answer as a task whose id is the
//! handoff's id; it follows the handoff with `tasks/get`, answers the target's question
//! with `tasks/update` and withdraws a pending handoff with `tasks/cancel`. A client that
//! does not declare it gets the plain answer, as before.
//!
//! A handoff's status reads as the task's: pending and accepted → `working` (the status
//! message says which); input_required → `input_required`, with the target's question as
//! one form elicitation (a required string `answer`) keyed by when it was asked;
//! completed → `completed`, its result a tool result holding the handoff; rejected and
//! expired → `completed` with `isError` and the reason; cancelled → `cancelled`. Every
//! read and change goes through the operations the tools use, as the session's principal:
//! only the handoff's two parties (and the operator) see the task.

use crate::bindings::handoffs::{Handoff, HandoffStatus};
use crate::mcp::registry::{BAD_ARGUMENTS, failure};
use crate::mcp::resources;
use crate::ops::handoffs::{CancelHandoff, GetHandoff, InitiateHandoff, ProvideHandoffInput};
use crate::ops::{Op, run};
use crate::render::rfc3339;
use crate::service::CoreService;
use crate::{types, wire};
use rmcp::ErrorData;
use rmcp::model::{
    CallToolResponse, CallToolResult, CancelTaskParams, CreateTaskResult, DetailedTask,
    ElicitRequest, ElicitRequestParams, ElicitationAction, ElicitationSchema, GetTaskParams,
    GetTaskResult, InputRequest, InputRequests, JsonObject, Task, TaskPayload, TaskStatus,
    UpdateTaskParams,
};
use serde_json::Value;

/// How often a client should poll a task, in milliseconds.
pub const POLL_INTERVAL_MS: u64 = 2_000;

/// The elicitation field that carries the source's answer.
pub const ANSWER: &str = "answer";

/// The key of the input request a handoff's current question is asked under: unique over
/// the handoff's life, since each question is asked at a later time.
pub fn question_key(h: &Handoff) -> String {
    format!("question-{}", h.updated_at)
}

/// A domain error as the error of a `tasks/*` request: an unknown task (or one the caller
/// is no party to) is an invalid task id.
fn error(e: &types::Error) -> ErrorData {
    match e {
        types::Error::NotFound(_) => ErrorData::invalid_params(e.message(), Some(wire::error(e))),
        _ => resources::error(e),
    }
}

/// A tool result as the JSON object a completed task carries.
fn result_object(result: CallToolResult) -> JsonObject {
    match serde_json::to_value(result) {
        Ok(Value::Object(o)) => o,
        _ => JsonObject::new(),
    }
}

/// The base task fields of a handoff.
fn base(h: &Handoff, status: TaskStatus) -> Task {
    let message = match h.status {
        HandoffStatus::Pending => format!("pending: waiting for {} to accept", h.target_agent_id),
        HandoffStatus::Accepted => format!("accepted: {} is working on it", h.target_agent_id),
        HandoffStatus::InputRequired => {
            format!("input_required: {} asks a question", h.target_agent_id)
        }
        HandoffStatus::Completed => "completed".to_string(),
        HandoffStatus::Rejected => "rejected".to_string(),
        HandoffStatus::Cancelled => "cancelled".to_string(),
        HandoffStatus::Expired => "expired".to_string(),
    };
    let mut task = Task::new(
        h.id.clone(),
        status,
        rfc3339(h.created_at),
        rfc3339(h.updated_at),
    )
    .with_status_message(message);
    if !status.is_terminal() {
        task = task.with_poll_interval_ms(POLL_INTERVAL_MS);
    }
    task
}

/// A handoff as a task with its status's payload.
pub fn detailed(h: &Handoff) -> DetailedTask {
    let payload = match h.status {
        HandoffStatus::Pending | HandoffStatus::Accepted => TaskPayload::Working,
        HandoffStatus::InputRequired => {
            let question = h.question.clone().unwrap_or_default();
            let schema = ElicitationSchema::builder()
                .required_string_property(ANSWER, |s| {
                    s.description("Your answer to the target's question")
                })
                .build_unchecked();
            let request = ElicitRequest::new(ElicitRequestParams::FormElicitationParams {
                meta: None,
                message: question,
                requested_schema: schema,
            });
            let mut input_requests = InputRequests::new();
            input_requests.insert(question_key(h), InputRequest::Elicitation(request));
            TaskPayload::InputRequired { input_requests }
        }
        HandoffStatus::Completed => TaskPayload::Completed {
            result: result_object(CallToolResult::structured(wire::handoff(h))),
        },
        HandoffStatus::Rejected | HandoffStatus::Expired => TaskPayload::Completed {
            result: result_object(CallToolResult::structured_error(wire::handoff(h))),
        },
        HandoffStatus::Cancelled => TaskPayload::Cancelled,
    };
    let status = payload.status();
    DetailedTask::new(base(h, status), payload)
}

/// `initiate_handoff` for a client that declared the tasks extension: the handoff is
/// created as for any caller and answered as a task. A refusal stays a tool error.
pub async fn initiate(
    core: &CoreService,
    caller: &types::Caller,
    args: JsonObject,
) -> Result<CallToolResponse, ErrorData> {
    let op: InitiateHandoff = serde_json::from_value(Value::Object(args))
        .map_err(|e| ErrorData::invalid_params(format!("{BAD_ARGUMENTS} {e}"), None))?;
    Ok(match run(core, caller, op).await {
        Ok(h) => CallToolResponse::Task(CreateTaskResult::new(base(&h, TaskStatus::Working))),
        Err(e) => CallToolResponse::Complete(failure(&e)),
    })
}

/// Reads the handoff behind `task_id` as `caller`.
async fn handoff(
    core: &CoreService,
    caller: &types::Caller,
    task_id: String,
) -> Result<Handoff, ErrorData> {
    let op = GetHandoff {
        handoff_id: task_id,
    };
    run(core, caller, op).await.map_err(|e| error(&e))
}

/// `tasks/get`.
pub async fn get(
    core: &CoreService,
    caller: &types::Caller,
    params: GetTaskParams,
) -> Result<GetTaskResult, ErrorData> {
    let h = handoff(core, caller, params.task_id).await?;
    Ok(GetTaskResult::new(detailed(&h)))
}

/// `tasks/cancel`: cancels the pending handoff as its source (an agent acts as itself,
/// so the target is told that only the source cancels, not that it may not act as
/// another agent; the operator acts for the source).
pub async fn cancel(
    core: &CoreService,
    caller: &types::Caller,
    params: CancelTaskParams,
) -> Result<(), ErrorData> {
    let h = handoff(core, caller, params.task_id).await?;
    let agent_id = match caller {
        types::Caller::Agent(me) => me.clone(),
        types::Caller::Operator => h.source_agent_id,
    };
    let op = CancelHandoff {
        handoff_id: h.id,
        agent_id: Some(agent_id),
    };
    run(core, caller, op).await.map(drop).map_err(|e| error(&e))
}

/// The answer in an elicitation result for the current question: its `answer` string
/// when the source accepted, else a clear refusal of the update.
fn answer_of(response: &Value) -> Result<String, ErrorData> {
    let action = response
        .get("action")
        .cloned()
        .map(serde_json::from_value::<ElicitationAction>);
    match action {
        Some(Ok(ElicitationAction::Accept)) => response
            .pointer(&format!("/content/{ANSWER}"))
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| {
                ErrorData::invalid_params(
                    format!("an accepted answer must carry content.{ANSWER}, a string"),
                    None,
                )
            }),
        Some(Ok(_)) => Err(ErrorData::invalid_params(
            "the question was declined: the handoff stays input_required until it is answered; \
             tasks/cancel withdraws only a pending handoff",
            None,
        )),
        _ => Err(ErrorData::invalid_params(
            "an input response must be an elicitation result with an action",
            None,
        )),
    }
}

/// `tasks/update`: the source answers the target's question.
pub async fn update(
    core: &CoreService,
    caller: &types::Caller,
    params: UpdateTaskParams,
) -> Result<(), ErrorData> {
    let h = handoff(core, caller, params.task_id).await?;
    if h.status != HandoffStatus::InputRequired {
        return Err(ErrorData::invalid_params(
            format!(
                "handoff {} is {}: it has no outstanding input request",
                h.id,
                wire::Wire::wire(h.status)
            ),
            None,
        ));
    }
    let key = question_key(&h);
    let mut responses = params.input_responses;
    let Some(response) = responses.remove(&key) else {
        return Err(ErrorData::invalid_params(
            format!("no response to the outstanding input request {key:?}"),
            None,
        ));
    };
    if let Some(other) = responses.keys().next() {
        return Err(ErrorData::invalid_params(
            format!("{other:?} is not an outstanding input request of this task"),
            None,
        ));
    }
    let op = ProvideHandoffInput {
        handoff_id: h.id,
        agent_id: Some(h.source_agent_id),
        answer: answer_of(&response)?,
    };
    run(core, caller, op).await.map(drop).map_err(|e| error(&e))
}

/// True when a call to `tool` should be answered as a task.
pub fn answers_as_task(tool: &str, client_declared_tasks: bool) -> bool {
    client_declared_tasks && tool == InitiateHandoff::TOOL
}
