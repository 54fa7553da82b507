//! The agent registry and sessions.

use crate::access::{agent_visible, caller_agent, manages};
use crate::engine::{Cx, Decided, Done, Refusal, record};
use crate::error::Error;
use crate::events::Event;
use crate::guard::Guard;
use crate::limits::{MAX_TOKEN, check_id, check_metadata};
use crate::model::{AgentType, Caller, Capability, HandoffStatus};
use crate::page::{Page, PageRequest, Window};
use crate::state::{Agent, State};
use serde_json::json;
use sha2::{Digest, Sha256};

/// What `register` asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct RegistrationRequest {
    /// Type.
    pub agent_type: AgentType,
    /// Owner user id.
    pub owner_id: String,
    /// Chosen id.
    pub agent_id: Option<String>,
    /// Capabilities; type defaults when absent.
    pub capabilities: Option<Vec<Capability>>,
    /// Metadata JSON object.
    pub metadata: Option<String>,
}

impl RegistrationRequest {
    /// A `claude_code` agent `agent_id` of `owner_id`, with its type's capabilities and
    /// no metadata.
    pub fn claude_code(agent_id: &str, owner_id: &str) -> Self {
        RegistrationRequest {
            agent_type: AgentType::ClaudeCode,
            owner_id: owner_id.into(),
            agent_id: Some(agent_id.into()),
            capabilities: None,
            metadata: None,
        }
    }
}

/// What `register` returns.
#[derive(Debug, Clone, PartialEq)]
pub struct Registration {
    /// The new id.
    pub agent_id: String,
    /// The secret token, shown once.
    pub token: String,
}

/// An open session.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    /// Session id.
    pub id: String,
    /// Agent id.
    pub agent_id: String,
    /// Start time.
    pub started_at: u64,
}

/// SHA-256 hex of a token.
pub fn hash_token(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    crate::audit::hex(&digest)
}

fn active_agents(s: &State) -> u64 {
    s.agents.values().filter(|a| a.active).count() as u64
}

fn open_sessions(s: &State) -> u64 {
    s.agents.values().filter(|a| a.session_id.is_some()).count() as u64
}

/// Decides `register`.
pub fn register(s: &State, cx: &mut Cx, req: &RegistrationRequest) -> Decided<Registration> {
    if *cx.caller != Caller::Operator {
        return Err(Error::denied("only the operator registers agents").into());
    }
    check_id("owner_id", &req.owner_id)?;
    let id = match &req.agent_id {
        Some(id) => {
            check_id("agent_id", id)?;
            // The audit trail, the change feed and authorship name the operator
            // `operator`, and a failed sign-in `anonymous`: an agent of either name would
            // pass for it (or have failed sign-ins mixed into its own trail).
            if id.eq_ignore_ascii_case(crate::model::OPERATOR_NAME) {
                return Err(Error::invalid(
                    "agent_id",
                    format!("agent id {id} is reserved for the operator"),
                )
                .into());
            }
            if id.eq_ignore_ascii_case(crate::model::ANONYMOUS_NAME) {
                return Err(Error::invalid(
                    "agent_id",
                    format!("agent id {id} is reserved for failed sign-ins"),
                )
                .into());
            }
            if s.id_used("agent", id) {
                return Err(Error::invalid(
                    "agent_id",
                    format!(
                        "agent id {id} is in use or was used before (agent ids are never reused); choose another, or omit agent_id for a fresh one"
                    ),
                )
                .into());
            }
            id.clone()
        }
        None => cx.fresh_id(),
    };
    let metadata = check_metadata("metadata", req.metadata.as_deref())?;
    // An agent's metadata is shown without flags: what would be flagged is refused.
    let mut guard = Guard::unflaggable();
    let metadata = guard.json("metadata", &metadata)?;
    let capabilities = match &req.capabilities {
        Some(caps) => Capability::ALL
            .iter()
            .copied()
            .filter(|c| caps.contains(c))
            .collect(),
        None => req.agent_type.default_capabilities(),
    };
    if active_agents(s) >= cx.limits.agents {
        return Err(Error::capacity("agents", cx.limits.agents).into());
    }
    let token = cx.fresh_token();
    let events = vec![
        Event::AgentRegistered {
            id: id.clone(),
            agent_type: req.agent_type,
            owner_id: req.owner_id.clone(),
            capabilities,
            metadata,
            token_hash: hash_token(&token),
        },
        Event::Audited(record(
            cx.caller.name(),
            "agent.registered",
            Some(&id),
            json!({"owner_id": req.owner_id, "agent_type": req.agent_type.as_str(), "notes": guard.notes()}),
        )),
    ];
    Ok(Done::change(
        events,
        Registration {
            agent_id: id,
            token,
        },
    ))
}

/// Decides `authenticate`. Success writes nothing; a failure is audited (without the
/// token) and comes back as the inner error, so the audit record is still appended.
pub fn authenticate(s: &State, _cx: &mut Cx, token: &str) -> Decided<Result<String, Error>> {
    let found = if token.is_empty() || token.len() > MAX_TOKEN {
        Err("malformed token")
    } else {
        match s
            .tokens
            .get(&hash_token(token))
            .and_then(|id| s.agents.get(id))
        {
            Some(agent) if agent.active => Ok(agent.id.clone()),
            Some(_) => Err("agent is deactivated"),
            None => Err("unknown token"),
        }
    };
    Ok(match found {
        Ok(id) => Done::nothing(Ok(id)),
        Err(why) => {
            let mut rec = record(
                crate::model::ANONYMOUS_NAME,
                "auth.failed",
                None,
                json!({ "reason": why }),
            );
            rec.outcome = "denied".to_string();
            Done::read(rec, Err(Error::denied("invalid or revoked token")))
        }
    })
}

/// The agent `agent_id` if the caller may see it, else not-found.
fn visible<'s>(s: &'s State, caller: &Caller, agent_id: &str) -> Result<&'s Agent, Refusal> {
    check_id("agent_id", agent_id)?;
    caller_agent(s, caller)?;
    s.agents
        .get(agent_id)
        .filter(|a| agent_visible(s, caller, a))
        .ok_or_else(|| Error::not_found("agent", agent_id).into())
}

/// Decides `get`.
pub fn get(s: &State, cx: &mut Cx, agent_id: &str) -> Decided<Agent> {
    let agent = visible(s, cx.caller, agent_id)?;
    Ok(Done::read(
        record(cx.caller.name(), "agent.read", Some(agent_id), json!({})),
        agent.clone(),
    ))
}

/// Decides `list-by-owner`.
pub fn list_by_owner(
    s: &State,
    cx: &mut Cx,
    owner_id: &str,
    req: &PageRequest,
) -> Decided<Page<Agent>> {
    check_id("owner_id", owner_id)?;
    if let Some(me) = caller_agent(s, cx.caller)?
        && me.owner_id != owner_id
    {
        return Err(Error::denied(format!("agent {} belongs to another owner", me.id)).into());
    }
    let window = Window::new("agents", req)?;
    let mut agents: Vec<&Agent> = s
        .agents
        .values()
        .filter(|a| a.owner_id == owner_id && window.admits(a.n))
        .collect();
    agents.sort_by_key(|a| a.n);
    let page = window.take(agents.into_iter().map(|a| (a.n, a.clone())));
    let ids: Vec<&str> = page.items.iter().map(|a| a.id.as_str()).collect();
    Ok(Done::read(
        record(
            cx.caller.name(),
            "agent.listed",
            Some(owner_id),
            json!({ "ids": ids }),
        ),
        page,
    ))
}

/// The target of a management operation and a check that the caller may manage it.
fn managed<'s>(
    s: &'s State,
    caller: &Caller,
    agent_id: &str,
    self_ok: bool,
) -> Result<&'s Agent, Refusal> {
    check_id("agent_id", agent_id)?;
    let actor = caller_agent(s, caller)?;
    let target = s
        .agents
        .get(agent_id)
        .filter(|a| agent_visible(s, caller, a))
        .ok_or_else(|| Error::not_found("agent", agent_id))?;
    if !manages(actor, target, self_ok) {
        return Err(Error::denied(format!(
            "{} may not manage agent {agent_id}: only the operator, the agent itself or a human agent of its owner",
            caller.name()
        ))
        .into());
    }
    Ok(target)
}

/// Decides `deactivate`.
pub fn deactivate(s: &State, cx: &mut Cx, agent_id: &str) -> Decided<()> {
    let target = managed(s, cx.caller, agent_id, true)?;
    if !target.active {
        return Err(Error::invalid("agent_id", "agent is already deactivated").into());
    }
    // A deactivated agent holds no session: it would count toward `sessions` for nothing.
    let mut events = Vec::new();
    if target.session_id.is_some() {
        events.push(Event::SessionEnded {
            agent_id: agent_id.to_string(),
        });
    }
    events.push(Event::AgentDeactivated {
        id: agent_id.to_string(),
    });
    events.push(Event::Audited(record(
        cx.caller.name(),
        "agent.deactivated",
        Some(agent_id),
        json!({}),
    )));
    Ok(Done::change(events, ()))
}

/// Decides `reactivate`. A deactivated agent cannot reactivate itself.
pub fn reactivate(s: &State, cx: &mut Cx, agent_id: &str) -> Decided<()> {
    let target = managed(s, cx.caller, agent_id, false)?;
    if target.active {
        return Err(Error::invalid("agent_id", "agent is already active").into());
    }
    if active_agents(s) >= cx.limits.agents {
        return Err(Error::capacity("agents", cx.limits.agents).into());
    }
    Ok(Done::change(
        vec![
            Event::AgentReactivated {
                id: agent_id.to_string(),
            },
            Event::Audited(record(
                cx.caller.name(),
                "agent.reactivated",
                Some(agent_id),
                json!({}),
            )),
        ],
        (),
    ))
}

/// Decides `rotate-token`: a new token replaces the agent's, which stops authenticating
/// at once. Allowed to whoever may deactivate it (the operator, the agent itself, human
/// agents of its owner); a deactivated agent's token can be replaced by the others, so
/// one that leaked is dead before the agent is reactivated.
pub fn rotate_token(s: &State, cx: &mut Cx, agent_id: &str) -> Decided<String> {
    managed(s, cx.caller, agent_id, true)?;
    let token = cx.fresh_token();
    Ok(Done::change(
        vec![
            Event::AgentTokenRotated {
                id: agent_id.to_string(),
                token_hash: hash_token(&token),
            },
            Event::Audited(record(
                cx.caller.name(),
                "agent.token_rotated",
                Some(agent_id),
                json!({}),
            )),
        ],
        token,
    ))
}

/// Decides `unregister`: memberships go (in evolve), pending handoffs both ways, and
/// those it would complete or answer, are cancelled here so the journal says so.
pub fn unregister(s: &State, cx: &mut Cx, agent_id: &str) -> Decided<()> {
    managed(s, cx.caller, agent_id, true)?;
    let mut events = Vec::new();
    let mut cancelled = Vec::new();
    for id in s.handoffs_by_agent.get(agent_id).into_iter().flatten() {
        // Pending handoffs both ways, accepted ones it was to complete, and those
        // waiting on a question either way (it would answer it, or finish after the
        // answer): nobody else can move them, and they would count toward `handoffs`
        // (and their texts toward their owners' share) forever.
        if let Some(h) = s.handoffs.get(id)
            && match h.status_at(cx.now) {
                HandoffStatus::Pending | HandoffStatus::InputRequired => true,
                HandoffStatus::Accepted => h.target == agent_id,
                _ => false,
            }
        {
            events.push(Event::HandoffCancelled { id: id.clone() });
            cancelled.push(id.clone());
        }
    }
    events.push(Event::AgentUnregistered {
        id: agent_id.to_string(),
    });
    events.push(Event::Audited(record(
        cx.caller.name(),
        "agent.unregistered",
        Some(agent_id),
        json!({ "cancelled_handoffs": cancelled }),
    )));
    Ok(Done::change(events, ()))
}

/// Decides `start-session`.
pub fn start_session(s: &State, cx: &mut Cx, agent_id: &str) -> Decided<Session> {
    let agent = cx.acting(s, "agent_id", agent_id)?;
    if agent.session_id.is_none() && open_sessions(s) >= cx.limits.sessions {
        return Err(Error::capacity("sessions", cx.limits.sessions).into());
    }
    let session_id = cx.fresh_id();
    Ok(Done::change(
        vec![
            Event::SessionStarted {
                agent_id: agent_id.to_string(),
                session_id: session_id.clone(),
            },
            Event::Audited(record(
                cx.caller.name(),
                "session.started",
                Some(agent_id),
                json!({ "session_id": session_id }),
            )),
        ],
        Session {
            id: session_id,
            agent_id: agent_id.to_string(),
            started_at: cx.now,
        },
    ))
}

/// Decides `end-session`.
pub fn end_session(s: &State, cx: &mut Cx, agent_id: &str) -> Decided<()> {
    let agent = cx.acting(s, "agent_id", agent_id)?;
    let Some(session_id) = &agent.session_id else {
        return Err(Error::not_found("session of agent", agent_id).into());
    };
    Ok(Done::change(
        vec![
            Event::SessionEnded {
                agent_id: agent_id.to_string(),
            },
            Event::Audited(record(
                cx.caller.name(),
                "session.ended",
                Some(agent_id),
                json!({ "session_id": session_id }),
            )),
        ],
        (),
    ))
}

/// Decides `get-session`.
pub fn get_session(s: &State, cx: &mut Cx, agent_id: &str) -> Decided<Option<Session>> {
    let agent = cx.acting(s, "agent_id", agent_id)?;
    let session = agent.session_id.as_ref().map(|id| Session {
        id: id.clone(),
        agent_id: agent.id.clone(),
        started_at: agent.session_started_at.unwrap_or(agent.created_at),
    });
    Ok(Done::read(
        record(cx.caller.name(), "session.read", Some(agent_id), json!({})),
        session,
    ))
}
