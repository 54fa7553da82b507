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

    /// Expires due handoffs and removes old terminal ones, a batch of each an entry
    /// ([`handoffs::CLEANUP_BATCH`]); how many were removed.
    pub fn cleanup(&mut self, caller: &Caller) -> Result<u32> {
        let mut removed = 0u32;
        // Each batch but the last expires or removes a full batch, so there are at most
        // this many.
        let batches = self.engine.state.handoffs.len() / handoffs::CLEANUP_BATCH + 2;
        for _ in 0..batches {
            let (batch, more) =
                self.engine
                    .run(caller, "handoffs.cleanup", None, handoffs::cleanup)?;
            removed = removed.saturating_add(batch);
            if !more {
                break;
            }
        }
        Ok(removed)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use crate::agents::RegistrationRequest;
    use crate::engine::{Env, SeededEnv};
    use crate::handoffs::CLEANUP_BATCH;
    use crate::journal::MemoryJournal;
    use crate::model::Caller;
    use crate::state::HandoffContext;
    use crate::{Core, Limits};

    /// A cleanup of more handoffs than a batch writes an entry a batch, each naming at
    /// most a batch of them, and removes them all.
    #[test]
    fn a_cleanup_past_a_batch_writes_an_entry_a_batch() {
        let limits = Limits {
            handoff_retention_seconds: 1,
            ..Limits::default()
        };
        let mut c = Core::new(
            MemoryJournal::default(),
            SeededEnv::new(1_700_000_000_000, 1, 3),
            limits,
        );
        c.init(limits).unwrap();
        for (id, owner) in [("src", "u-1"), ("dst", "u-2")] {
            let req = RegistrationRequest::claude_code(id, owner);
            c.register(&Caller::Operator, &req).unwrap();
        }
        let ctx = HandoffContext {
            task_description: "carry on".into(),
            current_state: "{}".into(),
            relevant_memories: vec![],
            relevant_files: vec![],
        };
        let src = Caller::Agent("src".into());
        let started = CLEANUP_BATCH + 3;
        for _ in 0..started {
            let h = c.initiate(&src, "src", "dst", &ctx, None).unwrap();
            c.cancel(&src, &h.id, "src").unwrap();
        }
        // Past the retention (the seeded clock moves a millisecond a reading).
        for _ in 0..2_000 {
            c.engine.env.now_ms();
        }
        let entries = c.engine.journal.entries.len();
        assert_eq!(c.cleanup(&Caller::Operator).unwrap() as usize, started);
        assert!(c.engine.state.handoffs.is_empty());
        assert_eq!(c.engine.journal.entries.len(), entries + 2, "two batches");
        let removed: Vec<usize> = c
            .engine
            .state
            .audit
            .iter()
            .filter(|e| e.record.event_type == "handoff.cleanup")
            .map(|e| {
                let detail: serde_json::Value = serde_json::from_str(&e.record.detail).unwrap();
                detail["removed"].as_array().expect("a list").len()
            })
            .collect();
        assert_eq!(removed, [CLEANUP_BATCH, 3]);
        assert_eq!(c.cleanup(&Caller::Operator).unwrap(), 0);
    }
}
