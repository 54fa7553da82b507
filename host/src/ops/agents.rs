//! Agents: registration, profiles, activation, sessions, and who the caller is.

use super::page::{json_page, text_page};
use super::{Effect, Op, Slot, agent, json_text, wire_str};
use crate::bindings::{agents, types};
use crate::render::{compact, fields, joined, or_dash, rfc3339, table};
use crate::runtime::Runtime;
use crate::wire::{self, Wire, parse};
use clap::Args;
use rmcp::schemars::{self, JsonSchema};
use serde::Deserialize;
use serde_json::{Value, json};

/// An agent's profile as rows.
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
        ("metadata", compact(&a.metadata)),
        ("session_id", or_dash(a.session_id.as_deref())),
        ("created_at", rfc3339(a.created_at)),
    ]
}

/// Register an agent for an owner. Operator only. Returns the agent id and its secret
/// bearer token (shown once).
#[derive(Debug, Clone, Deserialize, JsonSchema, Args)]
#[serde(deny_unknown_fields)]
pub struct RegisterAgent {
    /// One of `claude_code`, `gpt_agent`, `custom_pipeline`, `human`.
    #[arg(long = "type", value_name = "TYPE", value_parser = wire_str::<agents::AgentType>())]
    pub agent_type: String,
    /// The user the agent works for.
    #[arg(long = "owner")]
    pub owner_id: String,
    /// A chosen id (letters, digits, `.`, `_`, `:`, `@`, `-`; at most 128); a UUID when omitted. Ids are never reused.
    #[arg(long = "id")]
    pub agent_id: Option<String>,
    /// A JSON object of extra facts about the agent (at most 16 KiB).
    #[arg(long, value_name = "JSON", value_parser = super::json_arg)]
    pub metadata: Option<Value>,
    /// Capabilities to grant instead of the type's defaults: `memory_read`, `memory_write`, `memory_delete`, `kb_search`, `decision_read`, `incident_read`, `handoff_initiate`, `handoff_receive`.
    #[arg(long = "cap", value_name = "CAPABILITY", value_parser = wire_str::<agents::Capability>())]
    pub capabilities: Option<Vec<String>>,
}

impl Op for RegisterAgent {
    const TOOL: &'static str = "register_agent";
    const EFFECT: Effect = Effect::Add;
    type Out = agents::Registration;
    fn call(&self, rt: &mut Runtime, caller: &types::Caller) -> Result<Self::Out, types::Error> {
        let capabilities = self
            .capabilities
            .as_ref()
            .map(|caps| {
                caps.iter()
                    .map(|c| parse("capabilities", c))
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        let req = agents::RegistrationRequest {
            agent_type: parse("agent_type", &self.agent_type)?,
            owner_id: self.owner_id.clone(),
            agent_id: self.agent_id.clone(),
            capabilities,
            metadata: json_text(self.metadata.as_ref()),
        };
        let registration = rt.call(|c, s| c.maas_core_agents().call_register(s, caller, &req))?;
        rt.note_issued_token(&registration.token);
        Ok(registration)
    }
    fn json(&self, r: &Self::Out) -> Value {
        json!({"agent_id": r.agent_id, "status": "registered", "token": r.token})
    }
    fn text(&self, r: &Self::Out) -> String {
        fields(&[
            ("agent_id", r.agent_id.clone()),
            ("token", r.token.clone()),
            ("status", "registered".to_string()),
        ]) + "\nKeep the token now: it is shown only once. Act as this agent with MAAS_TOKEN or --token-file FILE (a token on the command line is in the process list)."
    }
}

/// Get an agent's profile: id, agent_type, owner_id, capabilities, metadata, session_id,
/// created_at (yours, or another agent visible to you).
#[derive(Debug, Clone, Deserialize, JsonSchema, Args)]
#[serde(deny_unknown_fields)]
pub struct GetAgentInfo {
    /// The agent (default: the token's own agent).
    #[arg(value_name = "AGENT")]
    #[schemars(required)]
    pub agent_id: Option<String>,
}

impl Op for GetAgentInfo {
    const TOOL: &'static str = "get_agent_info";
    const EFFECT: Effect = Effect::Read;
    type Out = agents::Agent;
    fn slot(&mut self) -> Slot<'_> {
        Slot::Target(&mut self.agent_id)
    }
    fn call(&self, rt: &mut Runtime, caller: &types::Caller) -> Result<Self::Out, types::Error> {
        let id = agent(&self.agent_id);
        rt.call(|c, s| c.maas_core_agents().call_get(s, caller, id))
    }
    fn json(&self, a: &Self::Out) -> Value {
        wire::agent(a)
    }
    fn text(&self, a: &Self::Out) -> String {
        fields(&agent_rows(a))
    }
}

/// List the agents of a user (owner), in registration order, one page at a time:
/// `next_cursor` is where the next page starts (null after the last one).
#[derive(Debug, Clone, Deserialize, JsonSchema, Args)]
#[serde(deny_unknown_fields)]
pub struct GetAgentsForUser {
    /// The owner whose agents to list (default for an agent: its own owner).
    #[arg(long = "owner")]
    #[schemars(required)]
    pub user_id: Option<String>,
    /// At most this many agents (1..=500, default 50).
    #[arg(long, value_name = "N")]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page (default: the first page).
    #[arg(long)]
    pub cursor: Option<String>,
}

impl Op for GetAgentsForUser {
    const TOOL: &'static str = "get_agents_for_user";
    const EFFECT: Effect = Effect::Read;
    type Out = (String, agents::AgentPage);
    fn call(&self, rt: &mut Runtime, caller: &types::Caller) -> Result<Self::Out, types::Error> {
        let owner = match (&self.user_id, caller) {
            (Some(owner), _) => owner.clone(),
            (None, types::Caller::Agent(me)) => {
                rt.call(|c, s| c.maas_core_agents().call_get(s, caller, me))?
                    .owner_id
            }
            (None, types::Caller::Operator) => {
                return Err(types::Error::InvalidInput(types::InvalidInfo {
                    field: "user_id".into(),
                    reason: "whose agents? name the owner (user_id; --owner on the command line)"
                        .into(),
                }));
            }
        };
        let cursor = self.cursor.as_deref();
        let page = rt.call(|c, s| {
            c.maas_core_agents()
                .call_list_by_owner(s, caller, &owner, self.limit, cursor)
        })?;
        Ok((owner, page))
    }
    fn json(&self, (_, page): &Self::Out) -> Value {
        let agents = page.items.iter().map(wire::agent).collect();
        json_page("agents", agents, &page.next_cursor)
    }
    fn text(&self, (_, page): &Self::Out) -> String {
        let rows: Vec<Vec<String>> = page
            .items
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
        let list = table(
            &["agent_id", "agent_type", "status", "caps", "created_at"],
            &rows,
        );
        text_page(list, &page.next_cursor)
    }
}

/// Declares an operation on one agent named by id that answers with a status.
macro_rules! agent_change {
    ($(#[$doc:meta])* $name:ident, $tool:literal, $effect:ident, $call:ident, $status:literal, $ends:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Deserialize, JsonSchema, Args)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            /// The agent.
            #[arg(value_name = "AGENT")]
            pub agent_id: String,
        }

        impl Op for $name {
            const TOOL: &'static str = $tool;
            const EFFECT: Effect = Effect::$effect;
            const ENDS_TOKENS: bool = $ends;
            type Out = ();
            fn call(&self, rt: &mut Runtime, caller: &types::Caller) -> Result<(), types::Error> {
                rt.call(|c, s| c.maas_core_agents().$call(s, caller, &self.agent_id))
            }
            fn json(&self, (): &()) -> Value {
                json!({"status": $status})
            }
            fn text(&self, (): &()) -> String {
                fields(&[("agent_id", self.agent_id.clone()), ("status", $status.into())])
            }
        }
    };
}

agent_change!(
    /// Deactivate an agent: it can do nothing until reactivated (operator, or a human
    /// agent of the same owner).
    DeactivateAgent, "deactivate_agent", Destructive, call_deactivate, "deactivated", true
);
agent_change!(
    /// Reactivate a deactivated agent (operator, or a human agent of the same owner).
    ReactivateAgent, "reactivate_agent", Change, call_reactivate, "reactivated", false
);
agent_change!(
    /// Remove an agent for good: memberships go, its pending handoffs are cancelled, the
    /// id is never reused.
    UnregisterAgent, "unregister_agent", Destructive, call_unregister, "unregistered", true
);

/// Replace an agent's bearer token with a new one, shown once here: the old token stops
/// working at once, and the sessions and streams opened with it are closed within
/// seconds. For a token that leaked, or one issued before tokens carried check digits.
/// The operator, the agent itself, or a human agent of the same owner.
#[derive(Debug, Clone, Deserialize, JsonSchema, Args)]
#[serde(deny_unknown_fields)]
pub struct RotateToken {
    /// The agent (default: the token's own agent).
    #[arg(value_name = "AGENT")]
    #[schemars(required)]
    pub agent_id: Option<String>,
}

impl Op for RotateToken {
    const TOOL: &'static str = "rotate_token";
    const EFFECT: Effect = Effect::Replace;
    const ENDS_TOKENS: bool = true;
    type Out = String;
    fn slot(&mut self) -> Slot<'_> {
        Slot::Target(&mut self.agent_id)
    }
    fn call(&self, rt: &mut Runtime, caller: &types::Caller) -> Result<Self::Out, types::Error> {
        let id = agent(&self.agent_id);
        let token = rt.call(|c, s| c.maas_core_agents().call_rotate_token(s, caller, id))?;
        rt.note_issued_token(&token);
        Ok(token)
    }
    fn json(&self, token: &Self::Out) -> Value {
        json!({"agent_id": agent(&self.agent_id), "status": "rotated", "token": token})
    }
    fn text(&self, token: &Self::Out) -> String {
        fields(&[
            ("agent_id", agent(&self.agent_id).to_string()),
            ("token", token.clone()),
            ("status", "rotated".to_string()),
        ]) + "\nKeep the token now: it is shown only once, and the old one no longer works."
    }
}

/// Open a session for an agent (ending any open one).
#[derive(Debug, Clone, Deserialize, JsonSchema, Args)]
#[serde(deny_unknown_fields)]
pub struct StartSession {
    /// The acting agent (default: the token's agent).
    #[arg(long = "agent")]
    #[schemars(required)]
    pub agent_id: Option<String>,
}

impl Op for StartSession {
    const TOOL: &'static str = "start_session";
    const EFFECT: Effect = Effect::Add;
    type Out = agents::Session;
    fn slot(&mut self) -> Slot<'_> {
        Slot::Agent(&mut self.agent_id)
    }
    fn call(&self, rt: &mut Runtime, caller: &types::Caller) -> Result<Self::Out, types::Error> {
        let me = agent(&self.agent_id);
        rt.call(|c, s| c.maas_core_agents().call_start_session(s, caller, me))
    }
    fn json(&self, s: &Self::Out) -> Value {
        json!({"status": "started", "session_id": s.id, "started_at": s.started_at})
    }
    fn text(&self, s: &Self::Out) -> String {
        session_text(s)
    }
}

/// A session as `key: value` lines.
pub fn session_text(s: &agents::Session) -> String {
    fields(&[
        ("session_id", s.id.clone()),
        ("agent_id", s.agent_id.clone()),
        ("started_at", rfc3339(s.started_at)),
    ])
}

/// End an agent's open session.
#[derive(Debug, Clone, Deserialize, JsonSchema, Args)]
#[serde(deny_unknown_fields)]
pub struct EndSession {
    /// The acting agent (default: the token's agent).
    #[arg(long = "agent")]
    #[schemars(required)]
    pub agent_id: Option<String>,
}

impl Op for EndSession {
    const TOOL: &'static str = "end_session";
    const EFFECT: Effect = Effect::Change;
    type Out = ();
    fn slot(&mut self) -> Slot<'_> {
        Slot::Agent(&mut self.agent_id)
    }
    fn call(&self, rt: &mut Runtime, caller: &types::Caller) -> Result<(), types::Error> {
        let me = agent(&self.agent_id);
        rt.call(|c, s| c.maas_core_agents().call_end_session(s, caller, me))
    }
    fn json(&self, (): &()) -> Value {
        json!({"status": "ended"})
    }
    fn text(&self, (): &()) -> String {
        fields(&[
            ("agent_id", agent(&self.agent_id).to_string()),
            ("status", "session_ended".into()),
        ])
    }
}

/// Get an agent's open session, if it has one.
#[derive(Debug, Clone, Deserialize, JsonSchema, Args)]
#[serde(deny_unknown_fields)]
pub struct GetSession {
    /// The acting agent (default: the token's agent).
    #[arg(long = "agent")]
    #[schemars(required)]
    pub agent_id: Option<String>,
}

impl Op for GetSession {
    const TOOL: &'static str = "get_session";
    const EFFECT: Effect = Effect::Read;
    type Out = Option<agents::Session>;
    fn slot(&mut self) -> Slot<'_> {
        Slot::Agent(&mut self.agent_id)
    }
    fn call(&self, rt: &mut Runtime, caller: &types::Caller) -> Result<Self::Out, types::Error> {
        let me = agent(&self.agent_id);
        rt.call(|c, s| c.maas_core_agents().call_get_session(s, caller, me))
    }
    fn json(&self, s: &Self::Out) -> Value {
        match s {
            Some(s) => wire::session(s),
            None => json!({"agent_id": agent(&self.agent_id), "session": null}),
        }
    }
    fn text(&self, s: &Self::Out) -> String {
        match s {
            Some(s) => session_text(s),
            None => format!("{} has no open session", agent(&self.agent_id)),
        }
    }
}

/// Who am I: the operator, or the agent this connection's token belongs to.
#[derive(Debug, Clone, Deserialize, JsonSchema, Args)]
#[serde(deny_unknown_fields)]
pub struct Whoami {}

impl Op for Whoami {
    const TOOL: &'static str = "whoami";
    const EFFECT: Effect = Effect::Read;
    type Out = Option<agents::Agent>;
    fn call(&self, rt: &mut Runtime, caller: &types::Caller) -> Result<Self::Out, types::Error> {
        match caller {
            types::Caller::Operator => Ok(None),
            types::Caller::Agent(me) => rt
                .call(|c, s| c.maas_core_agents().call_get(s, caller, me))
                .map(Some),
        }
    }
    fn json(&self, who: &Self::Out) -> Value {
        match who {
            None => json!({"principal": "operator"}),
            Some(a) => json!({"principal": "agent", "agent_id": a.id}),
        }
    }
    fn text(&self, who: &Self::Out) -> String {
        let mut rows = vec![(
            "caller",
            if who.is_some() { "agent" } else { "operator" }.to_string(),
        )];
        if let Some(a) = who {
            rows.extend(agent_rows(a));
        }
        fields(&rows)
    }
}
