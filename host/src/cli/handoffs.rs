//! `maas handoff …`: tasks handed from one agent to another.

use super::memories::memory_text;
use super::output::{Rendered, clip, compact, fields, indent, joined, or_dash, rfc3339, table};
use super::{CliError, Ctx};
use crate::handoffs;
use crate::wire;
use crate::wire::Wire;
use clap::{Args, Subcommand};
use serde_json::json;

/// Handoff verbs.
#[derive(Debug, Clone, Subcommand)]
pub enum HandoffCmd {
    /// Start a handoff from the acting agent to another.
    Initiate(InitiateArgs),
    /// The target accepts a pending handoff (once) and may then read its memories.
    Accept {
        /// The handoff id.
        handoff: String,
        /// The acting agent, the target (default: the --token's agent).
        #[arg(long)]
        agent: Option<String>,
    },
    /// The target rejects a pending handoff with a reason.
    Reject {
        /// The handoff id.
        handoff: String,
        /// The acting agent, the target (default: the --token's agent).
        #[arg(long)]
        agent: Option<String>,
        /// Why.
        #[arg(long)]
        reason: String,
    },
    /// The source cancels a pending handoff.
    Cancel {
        /// The handoff id.
        handoff: String,
        /// The acting agent, the source (default: the --token's agent).
        #[arg(long)]
        agent: Option<String>,
    },
    /// The target completes an accepted handoff with a JSON result.
    Complete {
        /// The handoff id.
        handoff: String,
        /// The acting agent, the target (default: the --token's agent).
        #[arg(long)]
        agent: Option<String>,
        /// The result, a JSON value (default `{}`).
        #[arg(long, value_name = "JSON")]
        result: Option<String>,
    },
    /// Show a handoff (its source, its target and the operator only).
    Get {
        /// The handoff id.
        handoff: String,
    },
    /// The live pending handoffs targeting the acting agent, oldest first.
    Pending {
        /// The acting agent (default: the --token's agent).
        #[arg(long)]
        agent: Option<String>,
    },
    /// Every handoff the acting agent is source or target of, oldest first.
    List {
        /// The acting agent (default: the --token's agent).
        #[arg(long)]
        agent: Option<String>,
    },
    /// Expire due handoffs and remove old terminal ones (operator only).
    Cleanup,
}

/// What `handoff initiate` takes.
#[derive(Debug, Clone, Args)]
pub struct InitiateArgs {
    /// The source, the acting agent (default: the --token's agent).
    #[arg(long)]
    pub from: Option<String>,
    /// The target agent.
    #[arg(long)]
    pub to: String,
    /// What the target should do.
    #[arg(long)]
    pub task: String,
    /// The current state, a JSON value.
    #[arg(long, value_name = "JSON")]
    pub state: Option<String>,
    /// A memory the target should read (repeatable).
    #[arg(long = "memory", value_name = "MEMORY_ID")]
    pub memories: Vec<String>,
    /// A relevant file path (repeatable).
    #[arg(long = "file", value_name = "PATH")]
    pub files: Vec<String>,
    /// Seconds until it expires if not accepted (default 3600).
    #[arg(long, value_name = "SECONDS")]
    pub ttl: Option<u64>,
}

/// A handoff as text.
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
    ];
    rows.extend(crate::cli::memories::notes_rows(&h.notes));
    fields(&rows)
}

/// A handoff in both forms.
pub fn rendered(h: &handoffs::Handoff) -> Rendered {
    Rendered::new(wire::handoff(h), handoff_text(h))
}

/// A list of handoffs in both forms.
pub fn list_rendered(agent: &str, list: &[handoffs::Handoff]) -> Rendered {
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
            ]
        })
        .collect();
    Rendered::new(
        json!({"agent_id": agent, "handoffs": list.iter().map(wire::handoff).collect::<Vec<_>>()}),
        table(
            &["handoff_id", "status", "from", "to", "expires_at", "task"],
            &rows,
        ),
    )
}

/// An accepted handoff with the memories it opened, in both forms.
pub fn accepted_rendered(a: &handoffs::AcceptedHandoff) -> Rendered {
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
    Rendered::new(
        json!({
            "handoff": wire::handoff(&a.handoff),
            "memories": a.memories.iter().map(wire::memory).collect::<Vec<_>>(),
            "dropped_memories": a.dropped_memories,
        }),
        text,
    )
}

/// Runs a handoff verb.
pub fn run(cmd: HandoffCmd, ctx: &mut Ctx) -> Result<Rendered, CliError> {
    match cmd {
        HandoffCmd::Initiate(a) => {
            let from = ctx.acting(a.from, "--from")?;
            let context = handoffs::HandoffContext {
                task_description: a.task,
                current_state: a.state.unwrap_or_else(|| "{}".to_string()),
                relevant_memories: a.memories,
                relevant_files: a.files,
            };
            let h = ctx.call(|c, s, who| {
                c.maas_core_handoffs()
                    .call_initiate(s, who, &from, &a.to, &context, a.ttl)
            })?;
            Ok(rendered(&h))
        }
        HandoffCmd::Accept { handoff, agent } => {
            let agent = ctx.acting(agent, "--agent")?;
            let a =
                ctx.call(|c, s, who| c.maas_core_handoffs().call_accept(s, who, &handoff, &agent))?;
            Ok(accepted_rendered(&a))
        }
        HandoffCmd::Reject {
            handoff,
            agent,
            reason,
        } => {
            let agent = ctx.acting(agent, "--agent")?;
            let h = ctx.call(|c, s, who| {
                c.maas_core_handoffs()
                    .call_reject(s, who, &handoff, &agent, &reason)
            })?;
            Ok(rendered(&h))
        }
        HandoffCmd::Cancel { handoff, agent } => {
            let agent = ctx.acting(agent, "--agent")?;
            let h =
                ctx.call(|c, s, who| c.maas_core_handoffs().call_cancel(s, who, &handoff, &agent))?;
            Ok(rendered(&h))
        }
        HandoffCmd::Complete {
            handoff,
            agent,
            result,
        } => {
            let agent = ctx.acting(agent, "--agent")?;
            let h = ctx.call(|c, s, who| {
                c.maas_core_handoffs()
                    .call_complete(s, who, &handoff, &agent, result.as_deref())
            })?;
            Ok(rendered(&h))
        }
        HandoffCmd::Get { handoff } => {
            let h = ctx.call(|c, s, who| c.maas_core_handoffs().call_get(s, who, &handoff))?;
            Ok(rendered(&h))
        }
        HandoffCmd::Pending { agent } => {
            let agent = ctx.acting(agent, "--agent")?;
            let list = ctx.call(|c, s, who| c.maas_core_handoffs().call_pending(s, who, &agent))?;
            Ok(list_rendered(&agent, &list))
        }
        HandoffCmd::List { agent } => {
            let agent = ctx.acting(agent, "--agent")?;
            let list =
                ctx.call(|c, s, who| c.maas_core_handoffs().call_by_agent(s, who, &agent))?;
            Ok(list_rendered(&agent, &list))
        }
        HandoffCmd::Cleanup => {
            let removed = ctx.call(|c, s, who| c.maas_core_handoffs().call_cleanup(s, who))?;
            Ok(Rendered::new(
                json!({"removed": removed, "status": "cleaned"}),
                fields(&[("removed", removed.to_string())]),
            ))
        }
    }
}
