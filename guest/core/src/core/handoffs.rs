//! `Core` operations on handoffs.

use crate::core::Core;
use crate::engine::Env;
use crate::error::{Error, Result};
use crate::handoffs::{self, AcceptedHandoff, HandoffView};
use crate::journal::Journal;
use crate::model::Caller;
use crate::page::{Page, PageRequest};
use crate::state::HandoffContext;

impl<J: Journal, E: Env> Core<J, E> {
    fn handoff_view(&mut self, id: &str) -> Result<HandoffView> {
        let now = self.engine.env.now_ms();
        self.engine
            .state
            .handoffs
            .get(id)
            .map(|h| HandoffView::at(h, now))
            .ok_or_else(|| Error::not_found("handoff", id))
    }

    /// Starts a handoff.
    pub fn initiate(
        &mut self,
        caller: &Caller,
        source: &str,
        target: &str,
        context: &HandoffContext,
        ttl_seconds: Option<u64>,
    ) -> Result<HandoffView> {
        let id = self
            .engine
            .run(caller, "handoffs.initiate", Some(target), |s, cx| {
                handoffs::initiate(s, cx, source, target, context, ttl_seconds)
            })?;
        self.handoff_view(&id)
    }

    /// The target accepts.
    pub fn accept(
        &mut self,
        caller: &Caller,
        handoff_id: &str,
        agent_id: &str,
    ) -> Result<AcceptedHandoff> {
        self.engine
            .run(caller, "handoffs.accept", Some(handoff_id), |s, cx| {
                handoffs::accept(s, cx, handoff_id, agent_id)
            })?;
        let now = self.engine.env.now_ms();
        handoffs::accepted_view(&self.engine.state, handoff_id, now)
            .ok_or_else(|| Error::not_found("handoff", handoff_id))
    }

    /// The target rejects.
    pub fn reject(
        &mut self,
        caller: &Caller,
        handoff_id: &str,
        agent_id: &str,
        reason: &str,
    ) -> Result<HandoffView> {
        self.engine
            .run(caller, "handoffs.reject", Some(handoff_id), |s, cx| {
                handoffs::reject(s, cx, handoff_id, agent_id, reason)
            })?;
        self.handoff_view(handoff_id)
    }

    /// The source cancels.
    pub fn cancel(
        &mut self,
        caller: &Caller,
        handoff_id: &str,
        agent_id: &str,
    ) -> Result<HandoffView> {
        self.engine
            .run(caller, "handoffs.cancel", Some(handoff_id), |s, cx| {
                handoffs::cancel(s, cx, handoff_id, agent_id)
            })?;
        self.handoff_view(handoff_id)
    }

    /// The target of an accepted handoff asks its source for more.
    pub fn request_input(
        &mut self,
        caller: &Caller,
        handoff_id: &str,
        agent_id: &str,
        question: &str,
    ) -> Result<HandoffView> {
        self.engine.run(
            caller,
            "handoffs.request-input",
            Some(handoff_id),
            |s, cx| handoffs::request_input(s, cx, handoff_id, agent_id, question),
        )?;
        self.handoff_view(handoff_id)
    }

    /// The source answers; the target continues.
    pub fn provide_input(
        &mut self,
        caller: &Caller,
        handoff_id: &str,
        agent_id: &str,
        answer: &str,
    ) -> Result<HandoffView> {
        self.engine.run(
            caller,
            "handoffs.provide-input",
            Some(handoff_id),
            |s, cx| handoffs::provide_input(s, cx, handoff_id, agent_id, answer),
        )?;
        self.handoff_view(handoff_id)
    }

    /// The target completes.
    pub fn complete(
        &mut self,
        caller: &Caller,
        handoff_id: &str,
        agent_id: &str,
        result: Option<&str>,
    ) -> Result<HandoffView> {
        self.engine
            .run(caller, "handoffs.complete", Some(handoff_id), |s, cx| {
                handoffs::complete(s, cx, handoff_id, agent_id, result)
            })?;
        self.handoff_view(handoff_id)
    }

    /// Returns a handoff.
    pub fn get_handoff(&mut self, caller: &Caller, handoff_id: &str) -> Result<HandoffView> {
        self.engine
            .run(caller, "handoffs.get", Some(handoff_id), |s, cx| {
                handoffs::get(s, cx, handoff_id)
            })
    }

    /// One page of the live pending handoffs for an agent.
    pub fn pending(
        &mut self,
        caller: &Caller,
        agent_id: &str,
        req: &PageRequest,
    ) -> Result<Page<HandoffView>> {
        self.engine
            .run(caller, "handoffs.pending", Some(agent_id), |s, cx| {
                handoffs::pending(s, cx, agent_id, req)
            })
    }

    /// One page of the handoffs of an agent.
    pub fn handoffs_by_agent(
        &mut self,
        caller: &Caller,
        agent_id: &str,
        req: &PageRequest,
    ) -> Result<Page<HandoffView>> {
        self.engine
            .run(caller, "handoffs.by-agent", Some(agent_id), |s, cx| {
                handoffs::by_agent(s, cx, agent_id, req)
            })
    }

    /// Expires due handoffs and removes old terminal ones.
    pub fn cleanup(&mut self, caller: &Caller) -> Result<u32> {
        self.engine
            .run(caller, "handoffs.cleanup", None, handoffs::cleanup)
    }
}
