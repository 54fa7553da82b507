//! Handoffs: the lifecycle of a task handed from one agent to another.

use super::memories::{memory_text, notes_rows};
use super::page::{json_page, text_page};
use super::{Effect, Op, Slot, agent, json_text};
use crate::bindings::{handoffs, types};
use crate::render::{clip, compact, fields, indent, joined, or_dash, rfc3339, table};
use crate::runtime::Runtime;
use crate::wire::{self, Wire};
use clap::Args;
use rmcp::schemars::{self, JsonSchema};
use serde::Deserialize;
use serde_json::{Value, json};

/// A handoff as `key: value` lines.
pub fn handoff_text(h: &handoffs::Handoff) -> String {
    let mut rows = vec![
        ("handoff_id", h.id.clone()),
        ("status", h.status.wire().to_string()),
        ("from", h.source_agent_id.clone()),
        ("to", h.target_agent_id.clone()),
        ("task", h.context.task_description.clone()),
        ("current_state", compact(&h.context.current_state)),
        ("relevant_memories", joined(&h.context.relevant_memories)),
        ("relevant_files", joined(&h.context.relevant_files)),
        ("created_at", rfc3339(h.created_at)),
        ("expires_at", rfc3339(h.expires_at)),
        ("updated_at", rfc3339(h.updated_at)),
        (
            "result",
            h.result
                .as_deref()
                .map(compact)
                .unwrap_or_else(|| "-".into()),
        ),
        ("reason", or_dash(h.reason.as_deref())),
        ("question", or_dash(h.question.as_deref())),
        ("answer", or_dash(h.answer.as_deref())),
    ];
    rows.extend(notes_rows(&h.notes));
    fields(&rows)
}

/// Handoffs as a table.
fn handoff_table(list: &[handoffs::Handoff]) -> String {
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|h| {
            vec![
                h.id.clone(),
                h.status.wire().to_string(),
                h.source_agent_id.clone(),
                h.target_agent_id.clone(),
                rfc3339(h.expires_at),
                clip(&h.context.task_description, 48),
                clip(&joined(&h.notes.flags), 56),
            ]
        })
        .collect();
    table(
        &[
            "handoff_id",
            "status",
            "from",
            "to",
            "expires_at",
            "task",
            "flags",
        ],
        &rows,
    )
}

/// Hand a task to another agent with its context: task description, current state,
/// relevant memories and files. The target sees it as pending until it accepts, rejects,
/// or it expires.
#[derive(Debug, Clone, Deserialize, JsonSchema, Args)]
#[serde(deny_unknown_fields)]
pub struct InitiateHandoff {
    /// The agent handing the task over, the acting agent (default: the token's agent).
    #[arg(long = "from")]
    #[schemars(required)]
    pub source_agent_id: Option<String>,
    /// The agent that should take it.
    #[arg(long = "to")]
    pub target_agent_id: String,
    /// What is to be done (at most 4096 bytes).
    #[arg(long = "task")]
    pub task_description: String,
    /// Where the work stands, as any JSON value (at most 64 KiB).
    #[arg(long = "state", value_name = "JSON", value_parser = super::json_arg)]
    pub current_state: Option<Value>,
    /// Ids of memories the target should read; the source must be able to read each.
    #[arg(long = "memory", value_name = "MEMORY_ID")]
    pub relevant_memories: Option<Vec<String>>,
    /// Paths of files that matter for the task.
    #[arg(long = "file", value_name = "PATH")]
    pub relevant_files: Option<Vec<String>>,
    /// Seconds before an unaccepted handoff expires (default 3600, at most 2592000).
    #[arg(long = "ttl", value_name = "SECONDS")]
    pub ttl_seconds: Option<u64>,
}

impl Op for InitiateHandoff {
    const TOOL: &'static str = "initiate_handoff";
    const EFFECT: Effect = Effect::Add;
    type Out = handoffs::Handoff;
    const SLOT_FIELD: &'static str = "source_agent_id";
    fn slot(&mut self) -> Slot<'_> {
        Slot::Agent(&mut self.source_agent_id)
    }
    fn call(&self, rt: &mut Runtime, caller: &types::Caller) -> Result<Self::Out, types::Error> {
        let ctx = handoffs::HandoffContext {
            task_description: self.task_description.clone(),
            current_state: json_text(self.current_state.as_ref()).unwrap_or_else(|| "{}".into()),
            relevant_memories: self.relevant_memories.clone().unwrap_or_default(),
            relevant_files: self.relevant_files.clone().unwrap_or_default(),
        };
        let from = agent(&self.source_agent_id);
        rt.call(|c, s| {
            c.maas_core_handoffs().call_initiate(
                s,
                caller,
                from,
                &self.target_agent_id,
                &ctx,
                self.ttl_seconds,
            )
        })
    }
    fn json(&self, h: &Self::Out) -> Value {
        wire::with_notes(
            json!({"handoff_id": h.id, "status": h.status.wire(), "expires_at": h.expires_at}),
            &h.notes,
        )
    }
    fn text(&self, h: &Self::Out) -> String {
        handoff_text(h)
    }
}

/// Accept a pending handoff as its target. Returns the context and the referenced
/// memories the target may now read.
#[derive(Debug, Clone, Deserialize, JsonSchema, Args)]
#[serde(deny_unknown_fields)]
pub struct AcceptHandoff {
    /// The handoff.
    #[arg(value_name = "HANDOFF")]
    pub handoff_id: String,
    /// The acting agent, the target (default: the token's agent).
    #[arg(long = "agent")]
    #[schemars(required)]
    pub agent_id: Option<String>,
}

impl Op for AcceptHandoff {
    const TOOL: &'static str = "accept_handoff";
    const EFFECT: Effect = Effect::Change;
    type Out = handoffs::AcceptedHandoff;
    fn slot(&mut self) -> Slot<'_> {
        Slot::Agent(&mut self.agent_id)
    }
    fn call(&self, rt: &mut Runtime, caller: &types::Caller) -> Result<Self::Out, types::Error> {
        let me = agent(&self.agent_id);
        rt.call(|c, s| {
            c.maas_core_handoffs()
                .call_accept(s, caller, &self.handoff_id, me)
        })
    }
    fn json(&self, a: &Self::Out) -> Value {
        let accepted = json!({
            "status": "accepted",
            "handoff_id": a.handoff.id,
            "context": wire::context(&a.handoff.context),
            "memories": a.memories.iter().map(wire::memory).collect::<Vec<_>>(),
            "dropped_memories": a.dropped_memories,
        });
        wire::with_notes(accepted, &a.handoff.notes)
    }
    fn text(&self, a: &Self::Out) -> String {
        let mut text = handoff_text(&a.handoff);
        if a.memories.is_empty() {
            text.push_str("memories:          -\n");
        }
        for m in &a.memories {
            text.push_str(&format!(
                "memory now readable:\n{}\n",
                indent(&memory_text(m), "  ")
            ));
        }
        if !a.dropped_memories.is_empty() {
            text.push_str(&format!(
                "not granted:       {} (deleted, expired, or no longer readable by the source)\n",
                a.dropped_memories.join(", ")
            ));
        }
        text
    }
}

/// Declares a handoff change by the acting agent that answers with the handoff.
macro_rules! handoff_change {
    (
        $(#[$doc:meta])* $name:ident, $tool:literal, $effect:ident, $who:literal,
        { $($(#[$fm:meta])* $field:ident : $ty:ty),* },
        |$this:ident, $c:ident, $s:ident, $caller:ident, $me:ident| $call:expr
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Deserialize, JsonSchema, Args)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            /// The handoff.
            #[arg(value_name = "HANDOFF")]
            pub handoff_id: String,
            #[doc = concat!("The acting agent, ", $who, " (default: the token's agent).")]
            // clap reads no doc comment built by a macro: the same text as its help.
            #[arg(long = "agent", help = concat!("The acting agent, ", $who, " (default: the token's agent)"))]
            #[schemars(required)]
            pub agent_id: Option<String>,
            $($(#[$fm])* pub $field: $ty,)*
        }

        impl Op for $name {
            const TOOL: &'static str = $tool;
            const EFFECT: Effect = Effect::$effect;
            type Out = handoffs::Handoff;
            fn slot(&mut self) -> Slot<'_> {
                Slot::Agent(&mut self.agent_id)
            }
            fn call(&self, rt: &mut Runtime, $caller: &types::Caller) -> Result<Self::Out, types::Error> {
                let $this = self;
                let $me = agent(&self.agent_id);
                rt.call(|$c, $s| $call)
            }
            fn json(&self, h: &Self::Out) -> Value {
                wire::with_notes(json!({"status": h.status.wire(), "handoff_id": h.id}), &h.notes)
            }
            fn text(&self, h: &Self::Out) -> String {
                handoff_text(h)
            }
        }
    };
}

handoff_change!(
    /// Reject a pending handoff as its target, with a reason.
    RejectHandoff, "reject_handoff", Change, "the target",
    {
        /// Why (at most 1024 bytes).
        #[arg(long)]
        reason: String
    },
    |op, c, s, caller, me| c.maas_core_handoffs().call_reject(s, caller, &op.handoff_id, me, &op.reason)
);

handoff_change!(
    /// Cancel a pending handoff as its source.
    CancelHandoff, "cancel_handoff", Destructive, "the source",
    {},
    |op, c, s, caller, me| c.maas_core_handoffs().call_cancel(s, caller, &op.handoff_id, me)
);

handoff_change!(
    /// Ask the source of an accepted handoff for more, as its target: the handoff is
    /// `input_required` until the source answers with `provide_handoff_input`.
    RequestHandoffInput, "request_handoff_input", Change, "the target",
    {
        /// What the target needs to know (at most 1024 bytes).
        #[arg(long)]
        question: String
    },
    |op, c, s, caller, me| c.maas_core_handoffs().call_request_input(s, caller, &op.handoff_id, me, &op.question)
);

handoff_change!(
    /// Answer the target's question on an `input_required` handoff, as its source: the
    /// handoff is accepted again and the target continues.
    ProvideHandoffInput, "provide_handoff_input", Change, "the source",
    {
        /// The answer (at most 64 KiB).
        #[arg(long)]
        answer: String
    },
    |op, c, s, caller, me| c.maas_core_handoffs().call_provide_input(s, caller, &op.handoff_id, me, &op.answer)
);

handoff_change!(
    /// Complete an accepted handoff as its target, with a JSON result.
    CompleteHandoff, "complete_handoff", Change, "the target",
    {
        /// The outcome, as any JSON value (at most 64 KiB).
        #[arg(long, value_name = "JSON", value_parser = super::json_arg)]
        result: Option<Value>
    },
    |op, c, s, caller, me| c.maas_core_handoffs().call_complete(
        s, caller, &op.handoff_id, me, json_text(op.result.as_ref()).as_deref()
    )
);

/// Get a handoff you are the source or target of, with its status and context.
#[derive(Debug, Clone, Deserialize, JsonSchema, Args)]
#[serde(deny_unknown_fields)]
pub struct GetHandoff {
    /// The handoff.
    #[arg(value_name = "HANDOFF")]
    pub handoff_id: String,
}

impl Op for GetHandoff {
    const TOOL: &'static str = "get_handoff";
    const EFFECT: Effect = Effect::Read;
    type Out = handoffs::Handoff;
    fn call(&self, rt: &mut Runtime, caller: &types::Caller) -> Result<Self::Out, types::Error> {
        rt.call(|c, s| c.maas_core_handoffs().call_get(s, caller, &self.handoff_id))
    }
    fn json(&self, h: &Self::Out) -> Value {
        wire::handoff(h)
    }
    fn text(&self, h: &Self::Out) -> String {
        handoff_text(h)
    }
}

/// List the live pending handoffs targeting an agent, oldest first, one page at a time:
/// `next_cursor` is where the next page starts (null after the last one).
#[derive(Debug, Clone, Deserialize, JsonSchema, Args)]
#[serde(deny_unknown_fields)]
pub struct GetPendingHandoffs {
    /// The acting agent, the target (default: the token's agent).
    #[arg(long = "agent")]
    #[schemars(required)]
    pub agent_id: Option<String>,
    /// At most this many handoffs (1..=500, default 50).
    #[arg(long, value_name = "N")]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page (default: the first page).
    #[arg(long)]
    pub cursor: Option<String>,
}

impl Op for GetPendingHandoffs {
    const TOOL: &'static str = "get_pending_handoffs";
    const EFFECT: Effect = Effect::Read;
    type Out = handoffs::HandoffPage;
    fn slot(&mut self) -> Slot<'_> {
        Slot::Agent(&mut self.agent_id)
    }
    fn call(&self, rt: &mut Runtime, caller: &types::Caller) -> Result<Self::Out, types::Error> {
        let me = agent(&self.agent_id);
        let cursor = self.cursor.as_deref();
        rt.call(|c, s| {
            c.maas_core_handoffs()
                .call_pending(s, caller, me, self.limit, cursor)
        })
    }
    fn json(&self, page: &Self::Out) -> Value {
        let handoffs: Vec<Value> = page
            .items
            .iter()
            .map(|h| {
                // With its flags: the target reads an untrusted text here first.
                wire::with_notes(
                    json!({
                        "id": h.id,
                        "source_agent_id": h.source_agent_id,
                        "task_description": h.context.task_description,
                        "created_at": h.created_at,
                        "expires_at": h.expires_at,
                        "relevant_memories": h.context.relevant_memories,
                        "relevant_files": h.context.relevant_files,
                    }),
                    &h.notes,
                )
            })
            .collect();
        json_page("handoffs", handoffs, &page.next_cursor)
    }
    fn text(&self, page: &Self::Out) -> String {
        text_page(handoff_table(&page.items), &page.next_cursor)
    }
}

/// List the handoffs an agent is source or target of, oldest first, one page at a time:
/// `next_cursor` is where the next page starts (null after the last one).
#[derive(Debug, Clone, Deserialize, JsonSchema, Args)]
#[serde(deny_unknown_fields)]
pub struct GetAgentHandoffs {
    /// The acting agent (default: the token's agent).
    #[arg(long = "agent")]
    #[schemars(required)]
    pub agent_id: Option<String>,
    /// At most this many handoffs (1..=500, default 50).
    #[arg(long, value_name = "N")]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page (default: the first page).
    #[arg(long)]
    pub cursor: Option<String>,
}

impl Op for GetAgentHandoffs {
    const TOOL: &'static str = "get_agent_handoffs";
    const EFFECT: Effect = Effect::Read;
    type Out = handoffs::HandoffPage;
    fn slot(&mut self) -> Slot<'_> {
        Slot::Agent(&mut self.agent_id)
    }
    fn call(&self, rt: &mut Runtime, caller: &types::Caller) -> Result<Self::Out, types::Error> {
        let me = agent(&self.agent_id);
        let cursor = self.cursor.as_deref();
        rt.call(|c, s| {
            c.maas_core_handoffs()
                .call_by_agent(s, caller, me, self.limit, cursor)
        })
    }
    fn json(&self, page: &Self::Out) -> Value {
        let handoffs = page.items.iter().map(wire::handoff).collect();
        json_page("handoffs", handoffs, &page.next_cursor)
    }
    fn text(&self, page: &Self::Out) -> String {
        text_page(handoff_table(&page.items), &page.next_cursor)
    }
}

/// Operator only: mark due handoffs expired and remove terminal ones older than the
/// retention window.
#[derive(Debug, Clone, Deserialize, JsonSchema, Args)]
#[serde(deny_unknown_fields)]
pub struct CleanupHandoffs {}

impl Op for CleanupHandoffs {
    const TOOL: &'static str = "cleanup_handoffs";
    const EFFECT: Effect = Effect::Destructive;
    type Out = u32;
    fn call(&self, rt: &mut Runtime, caller: &types::Caller) -> Result<u32, types::Error> {
        rt.call(|c, s| c.maas_core_handoffs().call_cleanup(s, caller))
    }
    fn json(&self, n: &u32) -> Value {
        json!({"status": "cleaned", "removed": n})
    }
    fn text(&self, n: &u32) -> String {
        fields(&[("removed", n.to_string())])
    }
}
