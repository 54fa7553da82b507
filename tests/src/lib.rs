//! Helpers shared by the integration tests: a core over an in-memory journal with a
//! manual clock, and short names for the WIT types.

pub use maas_host::journal::{JournalBackend, MemoryJournal};
pub use maas_host::{
    Clock, CoreImage, Runtime, RuntimeOptions, admin, agents, audit, default_limits, handoffs,
    knowledge, memories, pools, security, types,
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
            },
        )
        .unwrap_or_else(|e| panic!("core starts: {e}"))
    }

    /// A second core over the same journal and clock, caught up by replay.
    pub fn replica(&self) -> Runtime {
        Self::start(&self.journal, &self.clock, self.limits)
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
