//! Evolving agents and their sessions.

use super::{count_amount, count_owned};
use crate::events::Event;
use crate::state::{Agent, State};

impl State {
    /// Makes `token_hash` agent `id`'s one token, in place of any it had.
    pub(crate) fn set_token(&mut self, id: &str, token_hash: &str) {
        if let Some(old) = self.token_of.insert(id.to_string(), token_hash.to_string()) {
            self.forget_token(id, &old);
        }
        self.tokens.insert(token_hash.to_string(), id.to_string());
    }

    /// Forgets `token_hash` if it is still agent `id`'s (a history naming one hash for two
    /// agents leaves it to the later one, as it always did).
    fn forget_token(&mut self, id: &str, token_hash: &str) {
        if self.tokens.get(token_hash).is_some_and(|a| a == id) {
            self.tokens.remove(token_hash);
        }
    }

    /// Applies an event about agents and their sessions.
    pub(super) fn evolve_agents(&mut self, at: u64, event: &Event) {
        match event {
            Event::AgentRegistered {
                id,
                agent_type,
                owner_id,
                capabilities,
                metadata,
                token_hash,
            } => {
                let n = self.take_n();
                self.use_id("agent", id);
                self.set_token(id, token_hash);
                self.agents.insert(
                    id.clone(),
                    Agent {
                        n,
                        id: id.clone(),
                        agent_type: *agent_type,
                        owner_id: owner_id.clone(),
                        capabilities: capabilities.clone(),
                        metadata: metadata.clone(),
                        active: true,
                        session_id: None,
                        session_started_at: None,
                        created_at: at,
                    },
                );
            }
            Event::AgentDeactivated { id } => {
                if let Some(a) = self.agents.get_mut(id) {
                    a.active = false;
                }
            }
            Event::AgentReactivated { id } => {
                if let Some(a) = self.agents.get_mut(id) {
                    a.active = true;
                }
            }
            Event::AgentTokenRotated { id, token_hash } if self.agents.contains_key(id) => {
                self.set_token(id, token_hash);
            }
            Event::AgentUnregistered { id } => {
                // Handoffs it initiated that stay live (accepted, for their target to
                // complete) stop counting toward its owner's share: nothing names the
                // owner once the agent is gone, as a rebuild of the counts finds.
                let initiated = self.handoffs_by_agent.get(id).into_iter().flatten();
                let live = initiated
                    .filter_map(|h| self.handoffs.get(h))
                    .filter(|h| h.source == *id && !h.status.is_terminal())
                    .count();
                if let Some(owner) = self.agents.get(id).map(|a| a.owner_id.clone()) {
                    for _ in 0..live {
                        count_owned(&mut self.handoffs_by_owner, Some(&owner), false);
                    }
                    // The text it wrote (memories, its parts of handoffs) stops counting
                    // toward its owner's, as the number of its memories does.
                    let text = self.text_by_agent.get(id).copied().unwrap_or(0);
                    count_amount(&mut self.text_by_owner, Some(&owner), text, false);
                }
                self.agents.remove(id);
                if let Some(old) = self.token_of.remove(id) {
                    self.forget_token(id, &old);
                }
                if let Some(pools) = self.memberships.remove(id) {
                    for pool_id in pools {
                        if let Some(p) = self.pools.get_mut(&pool_id) {
                            p.members.remove(id);
                        }
                    }
                }
            }
            Event::SessionStarted {
                agent_id,
                session_id,
            } => {
                self.use_id("session", session_id);
                if let Some(a) = self.agents.get_mut(agent_id) {
                    a.session_id = Some(session_id.clone());
                    a.session_started_at = Some(at);
                }
            }
            Event::SessionEnded { agent_id } => {
                if let Some(a) = self.agents.get_mut(agent_id) {
                    a.session_id = None;
                    a.session_started_at = None;
                }
            }
            _ => {}
        }
    }
}
