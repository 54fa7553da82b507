//! Evolving handoffs and their lifecycle.

use super::{add_notes, count_owned, remove_from};
use crate::events::Event;
use crate::model::HandoffStatus;
use crate::state::{Handoff, State};

/// The handoff an event about handoffs changes.
fn handoff_of(event: &Event) -> Option<&str> {
    match event {
        Event::HandoffInitiated { id, .. }
        | Event::HandoffAccepted { id, .. }
        | Event::HandoffRejected { id, .. }
        | Event::HandoffInputRequested { id, .. }
        | Event::HandoffInputProvided { id, .. }
        | Event::HandoffCancelled { id }
        | Event::HandoffCompleted { id, .. }
        | Event::HandoffExpired { id }
        | Event::HandoffRemoved { id } => Some(id),
        _ => None,
    }
}

impl State {
    /// Applies an event about handoffs and their lifecycle, keeping what each party's
    /// texts in the handoff count toward its owner's share ([`Handoff::text_bytes`]).
    pub(super) fn evolve_handoffs(&mut self, at: u64, event: &Event) {
        let Some(id) = handoff_of(event) else {
            return;
        };
        let parties = |h: &Handoff, bytes| (h.source.clone(), h.target.clone(), bytes);
        let before = self.handoffs.get(id).map(|h| parties(h, h.text_bytes()));
        self.apply_handoff(at, event);
        let after = self.handoffs.get(id);
        let is = after.map_or((0, 0), Handoff::text_bytes);
        let Some((source, target, was)) = before.or_else(|| after.map(|h| parties(h, (0, 0))))
        else {
            return;
        };
        for (agent, was, is) in [(source, was.0, is.0), (target, was.1, is.1)] {
            if was != is {
                self.count_text(&agent, was, false);
                self.count_text(&agent, is, true);
            }
        }
    }

    fn apply_handoff(&mut self, at: u64, event: &Event) {
        match event {
            Event::HandoffInitiated {
                id,
                source,
                target,
                context,
                expires_at,
                notes,
            } => {
                let n = self.take_n();
                self.use_id("handoff", id);
                self.live_handoffs += 1;
                let owner = self.agents.get(source).map(|a| a.owner_id.as_str());
                count_owned(&mut self.handoffs_by_owner, owner, true);
                self.pending_expiry.insert((*expires_at, id.clone()));
                self.pending_by_target
                    .entry(target.clone())
                    .or_default()
                    .insert(id.clone());
                for agent in [source, target] {
                    self.handoffs_by_agent
                        .entry(agent.clone())
                        .or_default()
                        .insert(id.clone());
                    self.handoff_order
                        .entry(agent.clone())
                        .or_default()
                        .insert(n, id.clone());
                }
                self.handoffs.insert(
                    id.clone(),
                    Handoff {
                        n,
                        id: id.clone(),
                        source: source.clone(),
                        target: target.clone(),
                        context: context.clone(),
                        status: HandoffStatus::Pending,
                        created_at: at,
                        expires_at: *expires_at,
                        updated_at: at,
                        result: None,
                        reason: None,
                        question: None,
                        answer: None,
                        notes: notes.clone(),
                    },
                );
            }
            Event::HandoffAccepted { id, granted } => {
                if let Some(target) = self.set_status(id, HandoffStatus::Accepted, at) {
                    for memory in granted {
                        self.grants
                            .entry(memory.clone())
                            .or_default()
                            .insert(target.clone());
                    }
                }
            }
            Event::HandoffRejected { id, reason, notes } => {
                self.set_status(id, HandoffStatus::Rejected, at);
                if let Some(h) = self.handoffs.get_mut(id) {
                    h.reason = Some(reason.clone());
                    add_notes(&mut h.notes, notes);
                }
            }
            Event::HandoffInputRequested {
                id,
                question,
                notes,
            } => {
                self.set_status(id, HandoffStatus::InputRequired, at);
                if let Some(h) = self.handoffs.get_mut(id) {
                    h.question = Some(question.clone());
                    h.answer = None;
                    add_notes(&mut h.notes, notes);
                }
            }
            Event::HandoffInputProvided { id, answer, notes } => {
                self.set_status(id, HandoffStatus::Accepted, at);
                if let Some(h) = self.handoffs.get_mut(id) {
                    h.answer = Some(answer.clone());
                    add_notes(&mut h.notes, notes);
                }
            }
            Event::HandoffCancelled { id } => {
                self.set_status(id, HandoffStatus::Cancelled, at);
            }
            Event::HandoffCompleted { id, result, notes } => {
                self.set_status(id, HandoffStatus::Completed, at);
                if let Some(h) = self.handoffs.get_mut(id) {
                    h.result = Some(result.clone());
                    add_notes(&mut h.notes, notes);
                }
            }
            Event::HandoffExpired { id } => {
                // The expiry time, not the time of marking, is when it expired.
                let when = self.handoffs.get(id).map(|h| h.expires_at).unwrap_or(at);
                self.set_status(id, HandoffStatus::Expired, when);
            }
            Event::HandoffRemoved { id } => {
                let owner = self.handoff_owner(id).map(str::to_string);
                if let Some(h) = self.handoffs.remove(id) {
                    if !h.status.is_terminal() {
                        self.live_handoffs = self.live_handoffs.saturating_sub(1);
                        count_owned(&mut self.handoffs_by_owner, owner.as_deref(), false);
                    }
                    self.pending_expiry.remove(&(h.expires_at, id.clone()));
                    remove_from(&mut self.pending_by_target, &h.target, id);
                    for agent in [&h.source, &h.target] {
                        remove_from(&mut self.handoffs_by_agent, agent, id);
                        if let Some(order) = self.handoff_order.get_mut(agent) {
                            order.remove(&h.n);
                            if order.is_empty() {
                                self.handoff_order.remove(agent);
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }

    /// Moves a handoff to `status`, keeping the pending index right; returns its target.
    fn set_status(&mut self, id: &str, status: HandoffStatus, at: u64) -> Option<String> {
        let owner = self.handoff_owner(id).map(str::to_string);
        let h = self.handoffs.get_mut(id)?;
        let old = h.status;
        h.status = status;
        h.updated_at = at;
        let target = h.target.clone();
        if old == HandoffStatus::Pending && status != HandoffStatus::Pending {
            self.pending_expiry.remove(&(h.expires_at, id.to_string()));
            remove_from(&mut self.pending_by_target, &target, id);
        }
        if !old.is_terminal() && status.is_terminal() {
            self.live_handoffs = self.live_handoffs.saturating_sub(1);
            count_owned(&mut self.handoffs_by_owner, owner.as_deref(), false);
        }
        Some(target)
    }
}
