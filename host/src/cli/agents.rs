//! `maas agent …`: the registry and agent sessions.

use super::output::{Rendered, fields, joined, or_dash, rfc3339, status, table};
use super::wire::choice;
use super::{CliError, Ctx};
use crate::wire;
use crate::wire::Wire;
use crate::{agents, types};
use clap::{Args, Subcommand};
use serde_json::json;

/// Agent verbs.
#[derive(Debug, Clone, Subcommand)]
pub enum AgentCmd {
    /// Register an agent (operator only) and print its token, shown this once only.
    Register(RegisterArgs),
    /// Show an agent (default: the --token's agent).
    Get {
        /// The agent id.
        id: Option<String>,
    },
    /// List the agents of an owner, in registration order.
    List {
        /// The owner (user id); default: the --token agent's owner.
        #[arg(long)]
        owner: Option<String>,
    },
    /// Deactivate an agent: it can do nothing until reactivated.
    Deactivate {
        /// The agent id.
        id: String,
    },
    /// Reactivate a deactivated agent.
    Reactivate {
        /// The agent id.
        id: String,
    },
    /// Remove an agent for good: memberships removed, pending handoffs cancelled, id
    /// never reused.
    Unregister {
        /// The agent id.
        id: String,
    },
    /// Agent sessions: start, end, show.
    #[command(subcommand)]
    Session(SessionCmd),
    /// Show who this command acts as: the operator, or the --token's agent.
    Whoami,
}

/// What `agent register` takes.
#[derive(Debug, Clone, Args)]
pub struct RegisterArgs {
    /// The kind of agent.
    #[arg(long = "type", value_parser = choice::<agents::AgentType>(), value_name = "TYPE")]
    pub agent_type: agents::AgentType,
    /// The user the agent works for.
    #[arg(long)]
    pub owner: String,
    /// A chosen id (default: a fresh UUID); ids are never reused.
    #[arg(long)]
    pub id: Option<String>,
    /// A capability (repeatable); default: the type's defaults.
    #[arg(long = "cap", value_parser = choice::<agents::Capability>(), value_name = "CAPABILITY")]
    pub caps: Vec<agents::Capability>,
    /// A JSON object of metadata.
    #[arg(long, value_name = "JSON")]
    pub metadata: Option<String>,
}

/// Session verbs.
#[derive(Debug, Clone, Subcommand)]
pub enum SessionCmd {
    /// Open a session for an agent, ending any open one.
    Start {
        /// The acting agent (default: the --token's agent).
        #[arg(long)]
        agent: Option<String>,
    },
    /// End the agent's open session.
    End {
        /// The acting agent (default: the --token's agent).
        #[arg(long)]
        agent: Option<String>,
    },
    /// Show the agent's open session.
    Get {
        /// The acting agent (default: the --token's agent).
        #[arg(long)]
        agent: Option<String>,
    },
}

fn agent_text(a: &agents::Agent) -> String {
    fields(&agent_rows(a))
}

fn agent_rows(a: &agents::Agent) -> Vec<(&'static str, String)> {
    let caps: Vec<&str> = a.capabilities.iter().map(|c| c.wire()).collect();
    vec![
        ("agent_id", a.id.clone()),
        ("agent_type", a.agent_type.wire().to_string()),
        ("owner_id", a.owner_id.clone()),
        (
            "status",
            if a.active { "active" } else { "inactive" }.to_string(),
        ),
        ("capabilities", joined(&caps)),
        ("metadata", super::output::compact(&a.metadata)),
        ("session_id", or_dash(a.session_id.as_deref())),
        ("created_at", rfc3339(a.created_at)),
    ]
}

fn session_rendered(s: &agents::Session) -> Rendered {
    Rendered::new(
        wire::session(s),
        fields(&[
            ("session_id", s.id.clone()),
            ("agent_id", s.agent_id.clone()),
            ("started_at", rfc3339(s.started_at)),
        ]),
    )
}

/// Registers an agent; shared with the demo.
pub fn register(
    ctx: &mut Ctx,
    req: &agents::RegistrationRequest,
) -> Result<agents::Registration, CliError> {
    ctx.call(|c, s, who| c.maas_core_agents().call_register(s, who, req))
}

/// Runs an agent verb.
pub fn run(cmd: AgentCmd, ctx: &mut Ctx) -> Result<Rendered, CliError> {
    match cmd {
        AgentCmd::Register(a) => {
            let req = agents::RegistrationRequest {
                agent_type: a.agent_type,
                owner_id: a.owner,
                agent_id: a.id,
                capabilities: (!a.caps.is_empty()).then_some(a.caps),
                metadata: a.metadata,
            };
            let reg = register(ctx, &req).map_err(|e| match (&e, &ctx.caller) {
                (
                    CliError::Domain {
                        error: types::Error::PermissionDenied(_),
                        ..
                    },
                    types::Caller::Agent(_),
                ) => e.with_hint(
                    "only the operator registers agents: run without --token / MAAS_TOKEN",
                ),
                _ => e,
            })?;
            let text = fields(&[
                ("agent_id", reg.agent_id.clone()),
                ("token", reg.token.clone()),
                ("status", "registered".to_string()),
            ]) + "\nKeep the token now: it is shown only once. Act as this agent with --token <TOKEN> or MAAS_TOKEN.";
            Ok(Rendered::new(
                json!({"agent_id": reg.agent_id, "token": reg.token, "status": "registered"}),
                text,
            ))
        }
        AgentCmd::Get { id } => {
            let id = ctx.or_token(id, "which agent? pass its id: maas agent get <AGENT_ID>")?;
            let agent = ctx.call(|c, s, who| c.maas_core_agents().call_get(s, who, &id))?;
            Ok(Rendered::new(wire::agent(&agent), agent_text(&agent)))
        }
        AgentCmd::List { owner } => {
            let owner = match owner {
                Some(o) => o,
                None => {
                    let me = ctx.or_token(None, "whose agents? pass --owner <OWNER>")?;
                    ctx.call(|c, s, who| c.maas_core_agents().call_get(s, who, &me))?
                        .owner_id
                }
            };
            let list =
                ctx.call(|c, s, who| c.maas_core_agents().call_list_by_owner(s, who, &owner))?;
            let rows: Vec<Vec<String>> = list
                .iter()
                .map(|a| {
                    vec![
                        a.id.clone(),
                        a.agent_type.wire().to_string(),
                        if a.active { "active" } else { "inactive" }.to_string(),
                        a.capabilities.len().to_string(),
                        rfc3339(a.created_at),
                    ]
                })
                .collect();
            Ok(Rendered::new(
                json!({"owner_id": owner, "agents": list.iter().map(wire::agent).collect::<Vec<_>>()}),
                table(
                    &["agent_id", "agent_type", "status", "caps", "created_at"],
                    &rows,
                ),
            ))
        }
        AgentCmd::Deactivate { id } => {
            ctx.call(|c, s, who| c.maas_core_agents().call_deactivate(s, who, &id))?;
            Ok(status("agent_id", &id, "deactivated"))
        }
        AgentCmd::Reactivate { id } => {
            ctx.call(|c, s, who| c.maas_core_agents().call_reactivate(s, who, &id))?;
            Ok(status("agent_id", &id, "reactivated"))
        }
        AgentCmd::Unregister { id } => {
            ctx.call(|c, s, who| c.maas_core_agents().call_unregister(s, who, &id))?;
            Ok(status("agent_id", &id, "unregistered"))
        }
        AgentCmd::Session(cmd) => session(cmd, ctx),
        AgentCmd::Whoami => match ctx.token_agent.clone() {
            None => Ok(Rendered::new(
                json!({"caller": "operator"}),
                fields(&[("caller", "operator".to_string())]),
            )),
            Some(id) => {
                let agent = ctx.call(|c, s, who| c.maas_core_agents().call_get(s, who, &id))?;
                let mut doc = wire::agent(&agent);
                if let Some(map) = doc.as_object_mut() {
                    map.insert("caller".into(), json!("agent"));
                }
                let mut rows = vec![("caller", "agent".to_string())];
                rows.extend(agent_rows(&agent));
                Ok(Rendered::new(doc, fields(&rows)))
            }
        },
    }
}

fn session(cmd: SessionCmd, ctx: &mut Ctx) -> Result<Rendered, CliError> {
    match cmd {
        SessionCmd::Start { agent } => {
            let id = ctx.acting(agent, "--agent")?;
            let s = ctx.call(|c, s, who| c.maas_core_agents().call_start_session(s, who, &id))?;
            Ok(session_rendered(&s))
        }
        SessionCmd::End { agent } => {
            let id = ctx.acting(agent, "--agent")?;
            ctx.call(|c, s, who| c.maas_core_agents().call_end_session(s, who, &id))?;
            Ok(status("agent_id", &id, "session_ended"))
        }
        SessionCmd::Get { agent } => {
            let id = ctx.acting(agent, "--agent")?;
            match ctx.call(|c, s, who| c.maas_core_agents().call_get_session(s, who, &id))? {
                Some(s) => Ok(session_rendered(&s)),
                None => Ok(Rendered::new(
                    json!({"agent_id": id, "session": null}),
                    format!("{id} has no open session"),
                )),
            }
        }
    }
}
