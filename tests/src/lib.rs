//! Helpers shared by the integration tests: a core over an in-memory journal with a
//! manual clock, and short names for the WIT types.

pub use maas_host::journal::{JournalBackend, MemoryJournal};
pub use maas_host::{
    Clock, CoreImage, Runtime, RuntimeOptions, admin, agents, audit, changes, default_limits,
    handoffs, knowledge, memories, pools, security, types,
};

/// The start of the manual clock: 2026-01-01T00:00:00Z.
pub const T0: u64 = 1_767_225_600_000;

/// A core over an in-memory journal with a manual clock.
pub struct Harness {
    /// The runtime.
    pub rt: Runtime,
    /// The clock the core sees; `advance` it to test expiry.
    pub clock: Clock,
    /// The journal (clones share the log).
    pub journal: MemoryJournal,
    /// The limits it was started with.
    pub limits: admin::Limits,
}

/// The operator caller.
pub fn op() -> types::Caller {
    types::Caller::Operator
}

/// An agent caller.
pub fn agent(id: &str) -> types::Caller {
    types::Caller::Agent(id.to_string())
}

impl Harness {
    /// Default limits.
    pub fn new() -> Self {
        Self::with_limits(default_limits())
    }

    /// Custom limits (zero fields are defaults).
    pub fn with_limits(limits: admin::Limits) -> Self {
        let clock = Clock::manual(T0);
        let journal = MemoryJournal::new();
        let rt = Self::start(&journal, &clock, limits);
        Harness {
            rt,
            clock,
            journal,
            limits,
        }
    }

    fn start(journal: &MemoryJournal, clock: &Clock, limits: admin::Limits) -> Runtime {
        let image = CoreImage::shared().unwrap_or_else(|e| panic!("core image: {e}"));
        Runtime::new(
            image,
            Box::new(journal.clone()),
            RuntimeOptions {
                limits,
                clock: clock.clone(),
                ..RuntimeOptions::default()
            },
        )
        .unwrap_or_else(|e| panic!("core starts: {e}"))
    }

    /// A second core over the same journal and clock, caught up by replay.
    pub fn replica(&self) -> Runtime {
        Self::start(&self.journal, &self.clock, self.limits)
    }

    /// A second core over the same journal and clock with other limits, caught up by
    /// replay (limits are set when a host starts, so this is how they change).
    pub fn replica_with(&self, limits: admin::Limits) -> Runtime {
        Self::start(&self.journal, &self.clock, limits)
    }

    /// Registers an agent as the operator and returns its token.
    pub fn register(&mut self, id: &str, agent_type: agents::AgentType, owner: &str) -> String {
        self.register_with(id, agent_type, owner, None)
    }

    /// Registers an agent with explicit capabilities.
    pub fn register_with(
        &mut self,
        id: &str,
        agent_type: agents::AgentType,
        owner: &str,
        capabilities: Option<Vec<agents::Capability>>,
    ) -> String {
        let req = agents::RegistrationRequest {
            agent_type,
            owner_id: owner.to_string(),
            agent_id: Some(id.to_string()),
            capabilities,
            metadata: None,
        };
        self.rt
            .call(|c, s| c.maas_core_agents().call_register(s, &op(), &req))
            .unwrap_or_else(|e| panic!("register {id}: {e}"))
            .token
    }

    /// The state digest, as the operator.
    pub fn digest(&mut self) -> String {
        self.rt
            .call(|c, s| c.maas_core_admin().call_state_digest(s, &op()))
            .unwrap_or_else(|e| panic!("digest: {e}"))
    }

    /// Counts of live objects, as the operator.
    pub fn stats(&mut self) -> admin::Counts {
        self.rt
            .call(|c, s| c.maas_core_admin().call_stats(s, &op()))
            .unwrap_or_else(|e| panic!("stats: {e}"))
    }
}

impl Default for Harness {
    fn default() -> Self {
        Self::new()
    }
}

/// Limits with one or more fields set: `limits(|l| l.agents = 2)`.
pub fn limits(f: impl FnOnce(&mut admin::Limits)) -> admin::Limits {
    let mut l = default_limits();
    f(&mut l);
    l
}

/// What a core call returns.
pub type R<T> = Result<T, types::Error>;

/// Asserts permission-denied and returns the reason.
#[track_caller]
pub fn denied<T: std::fmt::Debug>(r: R<T>) -> String {
    match r {
        Err(types::Error::PermissionDenied(why)) => why,
        other => panic!("expected permission-denied, got {other:?}"),
    }
}

/// Asserts not-found and returns what was not found.
#[track_caller]
pub fn not_found<T: std::fmt::Debug>(r: R<T>) -> String {
    match r {
        Err(types::Error::NotFound(what)) => what,
        other => panic!("expected not-found, got {other:?}"),
    }
}

/// Asserts invalid-input on `field`.
#[track_caller]
pub fn invalid<T: std::fmt::Debug>(r: R<T>, field: &str) {
    match r {
        Err(types::Error::InvalidInput(i)) => assert_eq!(i.field, field, "reason: {}", i.reason),
        other => panic!("expected invalid-input on {field}, got {other:?}"),
    }
}

/// Asserts capacity-exceeded of `resource` at `limit`.
#[track_caller]
pub fn capacity<T: std::fmt::Debug>(r: R<T>, resource: &str, limit: u64) {
    match r {
        Err(types::Error::CapacityExceeded(c)) => {
            assert_eq!((c.resource.as_str(), c.limit), (resource, limit));
        }
        other => panic!("expected capacity-exceeded {resource}, got {other:?}"),
    }
}

/// The audit entries of `agent` (as actor or target) of one event type, as the operator.
pub fn audited(h: &mut Harness, agent: &str, event_type: &str) -> Vec<audit::AuditEntry> {
    let filter = audit::AuditFilter {
        agent_id: Some(agent.to_string()),
        event_type: Some(event_type.to_string()),
        since: None,
        until: None,
        limit: Some(1000),
    };
    h.rt.call(|c, s| c.maas_core_audit().call_query(s, &op(), &filter))
        .unwrap_or_else(|e| panic!("audit query: {e}"))
}

/// Runs `call`, which must be refused as permission-denied, and checks that the refusal
/// was audited as denied against `actor` while the state stayed the same.
#[track_caller]
pub fn refused_and_audited<T: std::fmt::Debug>(
    h: &mut Harness,
    actor: &str,
    call: impl FnOnce(&mut Harness) -> R<T>,
) {
    let before = h.digest();
    let denials = audited(h, actor, "access.denied").len();
    denied(call(h));
    let after = audited(h, actor, "access.denied");
    assert_eq!(after.len(), denials + 1, "one more denial audited");
    let last = after.last().unwrap_or_else(|| panic!("no denial audited"));
    assert_eq!(
        (last.actor.as_str(), last.outcome.as_str()),
        (actor, "denied")
    );
    assert_eq!(h.digest(), before, "a refused call changes nothing");
}
