//! The rules of each noun, tested as given / when / then over the decide functions.
//!
//! ```ignore
//! given()
//!     .agent("admin", "u1", ClaudeCode)
//!     .agent("other", "u2", ClaudeCode)
//!     .pool("p", "u1", Project)
//!     .member("p", "admin", Admin)
//!     .when(agent("admin"), |s, cx| pools::join(s, cx, "p", "other", Read))
//!     .then_events(vec![ev::joined("p", "other", Read)])
//!     .then_audited("pool.joined");
//! ```
//!
//! `given` evolves the events through the path replay uses (each group is one journal
//! entry, encoded and decoded, then [`State::apply`]); `when` runs one decide with a fixed
//! time and a seeded generator; the `then_*` checks look at the events it decided (audit
//! records apart), the value, or the typed error and whether the engine audits it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod agents;
mod handoffs;
mod knowledge;
mod memories;
mod paging;
mod pools;
mod shares;

use crate::agents::hash_token;
use crate::engine::{Cx, Decided, Done, SeededEnv};
use crate::error::Error;
use crate::events::{Document, Entry, Event, FORMAT_VERSION, HandoffContext};
use crate::limits::Limits;
use crate::model::{AgentType, Capability, DocumentKind, MemoryKind, Permission, Scope};
use crate::state::State;

pub(crate) use crate::model::Caller;

/// The time every history starts at, ms since the epoch.
pub const T0: u64 = 1_700_000_000_000;

/// The operator.
pub fn op() -> Caller {
    Caller::Operator
}

/// An agent caller.
pub fn agent(id: &str) -> Caller {
    Caller::Agent(id.to_string())
}

/// The events the builder (and the expectations) are made of.
pub mod ev {
    use super::*;

    /// `agent_id` joined `pool_id` (or changed permission).
    pub fn joined(pool_id: &str, agent_id: &str, permission: Permission) -> Event {
        Event::MemberJoined {
            pool_id: pool_id.into(),
            agent_id: agent_id.into(),
            permission,
        }
    }

    /// `agent_id` left `pool_id`.
    pub fn left(pool_id: &str, agent_id: &str) -> Event {
        Event::MemberLeft {
            pool_id: pool_id.into(),
            agent_id: agent_id.into(),
        }
    }

    /// `memory_id` shared into `pool_id`.
    pub fn shared(pool_id: &str, memory_id: &str, by: &str, scope: Scope) -> Event {
        Event::MemoryShared {
            pool_id: pool_id.into(),
            memory_id: memory_id.into(),
            shared_by: by.into(),
            scope,
        }
    }

    /// The share of `memory_id` in `pool_id`, made by `by` at `scope`, removed.
    pub fn unshared(pool_id: &str, memory_id: &str, by: &str, scope: Scope) -> Event {
        Event::MemoryUnshared {
            pool_id: pool_id.into(),
            memory_id: memory_id.into(),
            shared_by: Some(by.into()),
            scope: Some(scope),
        }
    }

    /// A pool created.
    pub fn pool(id: &str, owner: &str, scope: Scope, team: Option<&str>) -> Event {
        Event::PoolCreated {
            id: id.into(),
            name: format!("pool {id}"),
            owner_id: owner.into(),
            scope,
            team: team.map(Into::into),
            metadata: "{}".into(),
        }
    }

    /// A memory stored, passed by the write gate.
    pub fn stored(id: &str, author: &str, content: &str, expires_at: Option<u64>) -> Event {
        Event::MemoryStored {
            id: id.into(),
            author: author.into(),
            kind: MemoryKind::Note,
            content: content.into(),
            tags: Vec::new(),
            expires_at,
            notes: None,
            gated: true,
        }
    }

    /// The target of accepted handoff `id` asked its source a question.
    pub fn asked(id: &str) -> Event {
        Event::HandoffInputRequested {
            id: id.into(),
            question: "which branch?".into(),
            notes: None,
        }
    }

    /// The context of a handoff about `task` referencing `memories`.
    pub fn context(task: &str, memories: &[&str]) -> HandoffContext {
        HandoffContext {
            task_description: task.into(),
            current_state: "{}".into(),
            relevant_memories: memories.iter().map(|m| m.to_string()).collect(),
            relevant_files: Vec::new(),
        }
    }

    /// A document of `kind`.
    pub fn document(kind: DocumentKind, id: &str, content: &str) -> Document {
        Document {
            kind,
            id: id.into(),
            title: format!("title {id}"),
            content: content.into(),
            service: None,
            path: None,
            topic: None,
            severity: None,
            lines: None,
        }
    }
}

/// A history being built.
#[derive(Clone)]
pub struct Given {
    state: State,
    now: u64,
    limits: Limits,
}

/// Starts a history at [`T0`] with the default limits.
pub fn given() -> Given {
    Given {
        state: State::new(1_000),
        now: T0,
        limits: Limits::default(),
    }
}

impl Given {
    /// Appends one journal entry of `events` at the current time, as replay applies it.
    pub fn events(mut self, events: Vec<Event>) -> Self {
        let entry = Entry {
            v: FORMAT_VERSION,
            at: self.now,
            events,
        };
        let seq = self.state.seq + 1;
        let entry = Entry::decode(seq, &entry.encode().unwrap()).unwrap();
        self.state.apply(seq, &entry);
        self
    }

    /// Appends one event.
    pub fn event(self, event: Event) -> Self {
        self.events(vec![event])
    }

    /// Moves the clock to `now` for what follows.
    pub fn at(mut self, now: u64) -> Self {
        self.now = now;
        self
    }

    /// Changes the limits in force.
    pub fn limits(mut self, change: impl FnOnce(&mut Limits)) -> Self {
        change(&mut self.limits);
        self
    }

    /// An agent of `owner` with its type's default capabilities; its token is its id.
    pub fn agent(self, id: &str, owner: &str, agent_type: AgentType) -> Self {
        let caps = agent_type.default_capabilities();
        self.registered(id, owner, agent_type, caps)
    }

    /// A claude-code agent of `owner` with exactly `capabilities`.
    pub fn agent_with(self, id: &str, owner: &str, capabilities: &[Capability]) -> Self {
        self.registered(id, owner, AgentType::ClaudeCode, capabilities.to_vec())
    }

    fn registered(self, id: &str, owner: &str, t: AgentType, caps: Vec<Capability>) -> Self {
        self.event(Event::AgentRegistered {
            id: id.into(),
            agent_type: t,
            owner_id: owner.into(),
            capabilities: caps,
            metadata: "{}".into(),
            token_hash: hash_token(id),
        })
    }

    /// The agent is deactivated.
    pub fn deactivated(self, id: &str) -> Self {
        self.event(Event::AgentDeactivated { id: id.into() })
    }

    /// Agent `id`'s token replaced by `token`.
    pub fn rotated(self, id: &str, token: &str) -> Self {
        self.event(Event::AgentTokenRotated {
            id: id.into(),
            token_hash: hash_token(token),
        })
    }

    /// A pool of `owner` at `scope`, with no members.
    pub fn pool(self, id: &str, owner: &str, scope: Scope) -> Self {
        self.event(ev::pool(id, owner, scope, None))
    }

    /// A pool of `owner` at `scope` carrying the `team` label.
    pub fn team_pool(self, id: &str, owner: &str, scope: Scope, team: &str) -> Self {
        self.event(ev::pool(id, owner, scope, Some(team)))
    }

    /// `agent` is a member of `pool` at `permission`.
    pub fn member(self, pool: &str, agent: &str, permission: Permission) -> Self {
        self.event(ev::joined(pool, agent, permission))
    }

    /// The pool is archived.
    pub fn archived(self, pool: &str) -> Self {
        self.event(Event::PoolArchived { id: pool.into() })
    }

    /// A memory by `author` whose content is `note <id>`.
    pub fn memory(self, id: &str, author: &str) -> Self {
        self.event(ev::stored(id, author, &format!("note {id}"), None))
    }

    /// A memory by `author` that expires at `expires_at`.
    pub fn memory_until(self, id: &str, author: &str, expires_at: u64) -> Self {
        self.event(ev::stored(
            id,
            author,
            &format!("note {id}"),
            Some(expires_at),
        ))
    }

    /// `memory` shared into `pool` by `by` at `scope`.
    pub fn shared(self, pool: &str, memory: &str, by: &str, scope: Scope) -> Self {
        self.event(ev::shared(pool, memory, by, scope))
    }

    /// A pending handoff from `source` to `target` referencing `memories`, for an hour.
    pub fn handoff(self, id: &str, source: &str, target: &str, memories: &[&str]) -> Self {
        let expires_at = self.now + 3_600_000;
        self.event(Event::HandoffInitiated {
            id: id.into(),
            source: source.into(),
            target: target.into(),
            context: ev::context("take over", memories),
            expires_at,
            notes: None,
        })
    }

    /// The handoff was accepted with `granted` memories.
    pub fn accepted(self, id: &str, granted: &[&str]) -> Self {
        self.event(Event::HandoffAccepted {
            id: id.into(),
            granted: granted.iter().map(|m| m.to_string()).collect(),
        })
    }

    /// A document of `kind` ingested by an agent of `owner` (`None`: the operator).
    pub fn document(self, kind: DocumentKind, id: &str, owner: Option<&str>) -> Self {
        self.event(Event::DocumentsIngested {
            documents: vec![ev::document(kind, id, &format!("about {id}"))],
            owner: owner.map(Into::into),
            notes: Vec::new(),
            gated: true,
        })
    }

    /// The state built so far.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// Runs one decide as `caller` at the current time.
    pub fn when<T>(
        self,
        caller: Caller,
        decide: impl FnOnce(&State, &mut Cx) -> Decided<T>,
    ) -> Then<T> {
        let mut env = SeededEnv::new(self.now, 0, 42);
        let result = decide(
            &self.state,
            &mut Cx::new(self.now, &caller, &self.limits, &mut env),
        );
        Then {
            given: self,
            result,
        }
    }
}

/// What a decide returned, to be checked.
pub struct Then<T> {
    given: Given,
    result: Decided<T>,
}

impl<T> Then<T> {
    fn describe(&self) -> String {
        match &self.result {
            Ok(done) => format!("success with events {:?}", done.events),
            Err(r) => format!("refusal {:?} (audited: {})", r.error, r.audit),
        }
    }

    fn done(&self) -> &Done<T> {
        match &self.result {
            Ok(done) => done,
            Err(_) => panic!("expected success, got {}", self.describe()),
        }
    }

    /// The error it was refused with.
    pub fn error(&self) -> &Error {
        match &self.result {
            Err(r) => &r.error,
            Ok(_) => panic!("expected a refusal, got {}", self.describe()),
        }
    }

    /// It succeeded with exactly these events, audit records apart.
    #[track_caller]
    pub fn then_events(self, expected: Vec<Event>) -> Self {
        let got: Vec<&Event> = self
            .done()
            .events
            .iter()
            .filter(|e| !matches!(e, Event::Audited(_)))
            .collect();
        let expected: Vec<&Event> = expected.iter().collect();
        assert_eq!(got, expected, "events");
        self
    }

    /// It succeeded with events (audit records apart) that pass `check`.
    #[track_caller]
    pub fn then_events_where(self, check: impl FnOnce(&[Event])) -> Self {
        let got: Vec<Event> = self
            .done()
            .events
            .iter()
            .filter(|e| !matches!(e, Event::Audited(_)))
            .cloned()
            .collect();
        check(&got);
        self
    }

    /// It succeeded and wrote one audit record, of `event_type`.
    #[track_caller]
    pub fn then_audited(self, event_type: &str) -> Self {
        let types: Vec<&str> = self
            .done()
            .events
            .iter()
            .filter_map(|e| match e {
                Event::Audited(r) => Some(r.event_type.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(types, [event_type], "audit records");
        self
    }

    /// It was a read: no events, and a read-audit record of `event_type`.
    #[track_caller]
    pub fn then_read(self, event_type: &str) -> Self {
        let done = self.done();
        assert!(done.events.is_empty(), "a read wrote {:?}", done.events);
        let rec = done.read.as_ref().expect("a read-audit record");
        assert_eq!(rec.event_type, event_type);
        self
    }

    /// It was a read whose audit record's detail (a JSON object) passes `check`.
    #[track_caller]
    pub fn then_read_detail(self, check: impl FnOnce(&serde_json::Value)) -> Self {
        let rec = self.done().read.as_ref().expect("a read-audit record");
        let detail: serde_json::Value =
            serde_json::from_str(&rec.detail).expect("the detail is JSON");
        check(&detail);
        self
    }

    /// It succeeded with a value that passes `check`.
    #[track_caller]
    pub fn then_value(self, check: impl FnOnce(&T)) -> Self {
        check(&self.done().value);
        self
    }

    /// It succeeded, and after its events are applied the state passes `check`.
    #[track_caller]
    pub fn then_state(self, check: impl FnOnce(&State)) -> Self {
        let events = self.done().events.clone();
        let given = self.given.events(events);
        check(given.state());
        Then {
            given,
            result: self.result,
        }
    }

    /// It was refused with an error that passes `check`.
    #[track_caller]
    pub fn then_error(self, check: impl FnOnce(&Error) -> bool) -> Self {
        let desc = self.describe();
        assert!(check(self.error()), "unexpected {desc}");
        self
    }

    /// It was refused with permission-denied, which the engine audits.
    #[track_caller]
    pub fn then_denied(self) -> Self {
        self.then_error(|e| matches!(e, Error::PermissionDenied(_)))
            .audited()
    }

    /// It was refused with not-found.
    #[track_caller]
    pub fn then_not_found(self) -> Self {
        self.then_error(|e| matches!(e, Error::NotFound(_)))
    }

    /// It was refused with invalid-input on `field`.
    #[track_caller]
    pub fn then_invalid(self, field: &str) -> Self {
        self.then_error(|e| matches!(e, Error::InvalidInput { field: f, .. } if f == field))
    }

    /// It was refused with capacity-exceeded on `resource`.
    #[track_caller]
    pub fn then_capacity(self, resource: &str) -> Self {
        self.then_error(
            |e| matches!(e, Error::CapacityExceeded { resource: r, .. } if r == resource),
        )
    }

    /// It was refused with expired.
    #[track_caller]
    pub fn then_expired(self) -> Self {
        self.then_error(|e| matches!(e, Error::Expired(_)))
    }

    /// It was refused with conflict at `version`.
    #[track_caller]
    pub fn then_conflict(self, version: u64) -> Self {
        self.then_error(|e| *e == Error::Conflict(version))
    }

    /// The refusal is written to the audit trail.
    #[track_caller]
    pub fn audited(self) -> Self {
        match &self.result {
            Err(r) => assert!(r.audit, "refusal {:?} is not audited", r.error),
            Ok(_) => panic!("expected a refusal, got {}", self.describe()),
        }
        self
    }

    /// The refusal is not written to the audit trail.
    #[track_caller]
    pub fn unaudited(self) -> Self {
        match &self.result {
            Err(r) => assert!(!r.audit, "refusal {:?} is audited", r.error),
            Ok(_) => panic!("expected a refusal, got {}", self.describe()),
        }
        self
    }
}
