//! A history applied to a state event by event, and the rules as the reference the
//! read-access bitmaps are checked against.
#![allow(dead_code)]

use maas_core::access::memory_readable;
use maas_core::events::Event;
use maas_core::model::{AgentType, Capability, MemoryKind, Permission, Scope};
use maas_core::state::{Agent, HandoffContext, State};
use maas_core::visibility::readable_by;
use roaring::RoaringBitmap;

/// What the rules say `reader` may read at `now`.
pub fn by_the_rules(s: &State, reader: &Agent, now: u64) -> RoaringBitmap {
    s.memories
        .values()
        .filter(|m| memory_readable(s, m, reader) && !m.is_expired(now))
        .map(|m| u32::try_from(m.n).unwrap())
        .collect()
}

/// Applies events one by one at `at`, as replay does.
pub struct History {
    /// The state.
    pub s: State,
    /// The time of the next events.
    pub at: u64,
    /// Every agent ever registered, kept after unregistration to read as.
    pub agents: Vec<Agent>,
}

impl History {
    pub fn new() -> Self {
        History {
            s: State::new(16),
            at: 1_000,
            agents: Vec::new(),
        }
    }

    pub fn apply(&mut self, event: Event) {
        self.s.evolve(self.s.seq + 1, self.at, &event);
        self.s.seq += 1;
        if let Event::AgentRegistered { id, .. } = &event
            && let Some(a) = self.s.agents.get(id)
        {
            self.agents.push(a.clone());
        }
    }

    pub fn register(&mut self, id: &str, owner: &str, read: bool) {
        let mut capabilities = vec![Capability::MemoryWrite];
        if read {
            capabilities.push(Capability::MemoryRead);
        }
        self.apply(Event::AgentRegistered {
            id: id.into(),
            agent_type: AgentType::ClaudeCode,
            owner_id: owner.into(),
            capabilities,
            metadata: "{}".into(),
            token_hash: format!("hash-{id}"),
        });
    }

    pub fn pool(&mut self, id: &str, owner: &str, team: Option<&str>) {
        self.apply(Event::PoolCreated {
            id: id.into(),
            name: id.into(),
            owner_id: owner.into(),
            scope: Scope::Global,
            team: team.map(String::from),
            metadata: "{}".into(),
        });
    }

    pub fn join(&mut self, pool: &str, agent: &str) {
        self.apply(Event::MemberJoined {
            pool_id: pool.into(),
            agent_id: agent.into(),
            permission: Permission::Write,
        });
    }

    pub fn store(&mut self, id: &str, author: &str, expires_at: Option<u64>) {
        self.apply(Event::MemoryStored {
            id: id.into(),
            author: author.into(),
            kind: MemoryKind::Fact,
            content: format!("memory {id}"),
            tags: vec![],
            expires_at,
            notes: None,
            gated: true,
        });
    }

    pub fn share(&mut self, pool: &str, memory: &str, by: &str, scope: Scope) {
        self.apply(Event::MemoryShared {
            pool_id: pool.into(),
            memory_id: memory.into(),
            shared_by: by.into(),
            scope,
        });
    }

    pub fn grant(&mut self, handoff: &str, source: &str, target: &str, memories: &[&str]) {
        self.apply(Event::HandoffInitiated {
            id: handoff.into(),
            source: source.into(),
            target: target.into(),
            context: HandoffContext {
                task_description: "task".into(),
                current_state: "{}".into(),
                relevant_memories: memories.iter().map(|m| m.to_string()).collect(),
                relevant_files: vec![],
            },
            expires_at: self.at + 60_000,
            notes: None,
        });
        self.apply(Event::HandoffAccepted {
            id: handoff.into(),
            granted: memories.iter().map(|m| m.to_string()).collect(),
        });
    }

    pub fn agent(&self, id: &str) -> Agent {
        self.agents.iter().find(|a| a.id == id).cloned().unwrap()
    }

    /// The ids of the memories `reader` may read now, by the bitmaps.
    pub fn reads(&self, reader: &str) -> Vec<String> {
        let bitmap = readable_by(&self.s, &self.agent(reader), self.at);
        let mut ids: Vec<String> = self
            .s
            .memories
            .values()
            .filter(|m| bitmap.contains(u32::try_from(m.n).unwrap()))
            .map(|m| m.id.clone())
            .collect();
        ids.sort();
        ids
    }

    /// Asserts the bitmaps agree with the rules for every agent ever registered, at the
    /// current time and around it.
    pub fn check(&self, what: &str) {
        check_state(&self.s, &self.agents, self.at, what);
    }
}

/// Asserts the bitmaps agree with the rules for `agents` at times around `at`.
pub fn check_state(s: &State, agents: &[Agent], at: u64, what: &str) {
    for now in [
        0,
        at.saturating_sub(400),
        at.saturating_sub(1),
        at,
        at + 150,
        at + 5_000,
    ] {
        for reader in agents {
            assert_eq!(
                *readable_by(s, reader, now),
                by_the_rules(s, reader, now),
                "{what}: reader {} at {now} (events at {at})",
                reader.id
            );
        }
    }
}
