//! `Core` operations on the agent registry and sessions.

use crate::agents::{self, Registration, RegistrationRequest, Session};
use crate::core::Core;
use crate::engine::Env;
use crate::error::Result;
use crate::journal::Journal;
use crate::model::Caller;
use crate::page::{Page, PageRequest};
use crate::state::Agent;

/// How many token rotations an agent may ask for a minute (kept in the process, as the
/// write rate is).
pub const ROTATIONS_PER_MINUTE: u64 = 6;

impl<J: Journal, E: Env> Core<J, E> {
    /// Registers an agent.
    pub fn register(&mut self, caller: &Caller, req: &RegistrationRequest) -> Result<Registration> {
        self.engine.run(
            caller,
            "agents.register",
            req.agent_id.as_deref(),
            |s, cx| agents::register(s, cx, req),
        )
    }

    /// Maps a token to its active agent's id.
    pub fn authenticate(&mut self, token: &str) -> Result<String> {
        self.engine
            .run(&Caller::Operator, "agents.authenticate", None, |s, cx| {
                agents::authenticate(s, cx, token)
            })?
    }

    /// Returns an agent.
    pub fn get_agent(&mut self, caller: &Caller, agent_id: &str) -> Result<Agent> {
        self.engine
            .run(caller, "agents.get", Some(agent_id), |s, cx| {
                agents::get(s, cx, agent_id)
            })
    }

    /// One page of an owner's agents.
    pub fn list_agents(
        &mut self,
        caller: &Caller,
        owner_id: &str,
        req: &PageRequest,
    ) -> Result<Page<Agent>> {
        self.engine
            .run(caller, "agents.list-by-owner", Some(owner_id), |s, cx| {
                agents::list_by_owner(s, cx, owner_id, req)
            })
    }

    /// Deactivates an agent.
    pub fn deactivate(&mut self, caller: &Caller, agent_id: &str) -> Result<()> {
        self.engine
            .run(caller, "agents.deactivate", Some(agent_id), |s, cx| {
                agents::deactivate(s, cx, agent_id)
            })
    }

    /// Reactivates an agent.
    pub fn reactivate(&mut self, caller: &Caller, agent_id: &str) -> Result<()> {
        self.engine
            .run(caller, "agents.reactivate", Some(agent_id), |s, cx| {
                agents::reactivate(s, cx, agent_id)
            })
    }

    /// Replaces an agent's token; returns the new one. An agent may rotate
    /// [`ROTATIONS_PER_MINUTE`] times a minute (in a burst, refilled at that rate; only
    /// rotations that happen count), so none can fill a host's set of known tokens with
    /// fresh ones; the operator is not limited. The count is kept by each process, as
    /// the write rate is.
    pub fn rotate_token(&mut self, caller: &Caller, agent_id: &str) -> Result<String> {
        let bucket = match caller {
            Caller::Agent(me) => Some(format!("rotate-token {me}")),
            Caller::Operator => None,
        };
        let now = self.engine.env.now_ms();
        if let Some(bucket) = &bucket {
            self.engine
                .rates
                .check(bucket, now, ROTATIONS_PER_MINUTE)
                .map_err(crate::error::Error::RateLimited)?;
        }
        let token = self
            .engine
            .run(caller, "agents.rotate-token", Some(agent_id), |s, cx| {
                agents::rotate_token(s, cx, agent_id)
            })?;
        if let Some(bucket) = &bucket {
            // Checked above on this same thread: a rotation is left.
            let _ = self.engine.rates.take(bucket, now, ROTATIONS_PER_MINUTE);
        }
        Ok(token)
    }

    /// Unregisters an agent.
    pub fn unregister(&mut self, caller: &Caller, agent_id: &str) -> Result<()> {
        self.engine
            .run(caller, "agents.unregister", Some(agent_id), |s, cx| {
                agents::unregister(s, cx, agent_id)
            })
    }

    /// Opens a session.
    pub fn start_session(&mut self, caller: &Caller, agent_id: &str) -> Result<Session> {
        self.engine
            .run(caller, "agents.start-session", Some(agent_id), |s, cx| {
                agents::start_session(s, cx, agent_id)
            })
    }

    /// Ends the open session.
    pub fn end_session(&mut self, caller: &Caller, agent_id: &str) -> Result<()> {
        self.engine
            .run(caller, "agents.end-session", Some(agent_id), |s, cx| {
                agents::end_session(s, cx, agent_id)
            })
    }

    /// Returns the open session.
    pub fn get_session(&mut self, caller: &Caller, agent_id: &str) -> Result<Option<Session>> {
        self.engine
            .run(caller, "agents.get-session", Some(agent_id), |s, cx| {
                agents::get_session(s, cx, agent_id)
            })
    }
}
