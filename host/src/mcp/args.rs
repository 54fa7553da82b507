//! Tool parameters. Field doc comments become the JSON schema descriptions a model reads;
//! names follow the original design (`agent_id` is the acting agent).

use rmcp::schemars::{self, JsonSchema};
use serde::Deserialize;
use serde_json::Value;

/// Declares a parameter struct deriving what every tool argument needs.
macro_rules! args {
    ($(#[$m:meta])* $name:ident { $($(#[$fm:meta])* $field:ident : $ty:ty),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Deserialize, JsonSchema)]
        #[serde(deny_unknown_fields)]
        pub struct $name { $($(#[$fm])* pub $field: $ty),* }
    };
}

args!(
    /// Arguments of `register_agent`.
    RegisterAgent {
        /// One of `claude_code`, `gpt_agent`, `custom_pipeline`, `human`.
        agent_type: String,
        /// The user the agent works for.
        owner_id: String,
        /// A chosen id (letters, digits, `.`, `_`, `:`, `@`, `-`; at most 128); a UUID when omitted. Ids are never reused.
        agent_id: Option<String>,
        /// A JSON object of extra facts about the agent (at most 16 KiB).
        metadata: Option<Value>,
        /// Capabilities to grant instead of the type's defaults: `memory_read`, `memory_write`, `memory_delete`, `kb_search`, `decision_read`, `incident_read`, `handoff_initiate`, `handoff_receive`.
        capabilities: Option<Vec<String>>,
    }
);

args!(
    /// Arguments naming one agent.
    AgentId {
        /// The agent. With an agent token it must be the token's own agent.
        agent_id: String,
    }
);

args!(
    /// Arguments of `get_agents_for_user`.
    UserId {
        /// The owner whose agents to list.
        user_id: String,
    }
);

args!(
    /// Arguments of `initiate_handoff`.
    InitiateHandoff {
        /// The agent handing the task over (the acting agent).
        source_agent_id: String,
        /// The agent that should take it.
        target_agent_id: String,
        /// What is to be done (at most 4096 bytes).
        task_description: String,
        /// Where the work stands, as any JSON value (at most 64 KiB).
        current_state: Option<Value>,
        /// Ids of memories the target should read; the source must be able to read each.
        relevant_memories: Option<Vec<String>>,
        /// Paths of files that matter for the task.
        relevant_files: Option<Vec<String>>,
        /// Seconds before an unaccepted handoff expires (default 3600, at most 2592000).
        ttl_seconds: Option<u64>,
    }
);

args!(
    /// Arguments naming a handoff and the acting agent.
    HandoffAgent {
        /// The handoff.
        handoff_id: String,
        /// The acting agent (the target to accept, reject or complete; the source to cancel).
        agent_id: String,
    }
);

args!(
    /// Arguments of `complete_handoff`.
    CompleteHandoff {
        /// The handoff.
        handoff_id: String,
        /// The target agent completing it.
        agent_id: String,
        /// The outcome, as any JSON value (at most 64 KiB).
        result: Option<Value>,
    }
);

args!(
    /// Arguments of `reject_handoff`.
    RejectHandoff {
        /// The handoff.
        handoff_id: String,
        /// The target agent rejecting it.
        agent_id: String,
        /// Why (at most 1024 bytes).
        reason: String,
    }
);

args!(
    /// Arguments naming a handoff.
    HandoffId {
        /// The handoff.
        handoff_id: String,
    }
);

args!(
    /// Arguments of `create_pool`.
    CreatePool {
        /// A name for people (at most 256 bytes).
        name: String,
        /// The user who owns the pool.
        owner_id: String,
        /// The widest scope a share in this pool may have: `agent_private`, `user`, `project`, `team`, `global`.
        scope: String,
        /// A chosen id; a UUID when omitted.
        pool_id: Option<String>,
        /// A JSON object of extra facts (at most 16 KiB).
        metadata: Option<Value>,
        /// A team label: `team`-scoped shares reach members of the owner's pools with the same label.
        team: Option<String>,
        /// The agent creating it (becomes its admin); omit when the operator creates it.
        agent_id: Option<String>,
    }
);

args!(
    /// Arguments of `join_pool`.
    JoinPool {
        /// The pool.
        pool_id: String,
        /// The agent joining. With an agent token it must be the token's own agent.
        agent_id: String,
        /// `read`, `write` or `admin`.
        permission: String,
    }
);

args!(
    /// Arguments naming a pool and the acting agent.
    PoolAgent {
        /// The pool.
        pool_id: String,
        /// The acting agent.
        agent_id: String,
    }
);

args!(
    /// Arguments naming a pool and, optionally, the acting agent.
    PoolMaybeAgent {
        /// The pool.
        pool_id: String,
        /// The acting agent (an admin); omit when the operator acts itself.
        agent_id: Option<String>,
    }
);

args!(
    /// Arguments naming a pool.
    PoolId {
        /// The pool.
        pool_id: String,
    }
);

args!(
    /// Arguments of `remove_pool_member`.
    RemoveMember {
        /// The pool.
        pool_id: String,
        /// The member to remove.
        member_id: String,
        /// The acting admin; omit when the operator acts itself.
        agent_id: Option<String>,
    }
);

args!(
    /// Arguments of `share_memory_to_scope`.
    ShareMemory {
        /// The pool to share into.
        pool_id: String,
        /// The memory (the acting agent must be its author).
        memory_id: String,
        /// The acting agent.
        agent_id: String,
        /// Who may see it: `agent_private`, `user`, `project`, `team`, `global` (no wider than the pool's scope).
        scope: String,
    }
);

args!(
    /// Arguments of `unshare_memory`.
    UnshareMemory {
        /// The pool.
        pool_id: String,
        /// The memory.
        memory_id: String,
        /// The acting agent (the sharer or a pool admin).
        agent_id: String,
    }
);

args!(
    /// Arguments of `query_shared`.
    QueryShared {
        /// The pool.
        pool_id: String,
        /// The acting agent (a member).
        agent_id: String,
        /// The widest scope to include (only ever narrows what the agent may see); default `global`.
        max_scope: Option<String>,
    }
);

args!(
    /// Arguments of `search_code_kb`.
    SearchCode {
        /// Keywords; code identifiers and paths are understood.
        query: String,
        /// Only this service.
        service_filter: Option<String>,
        /// At most this many results (1..=100, default 10).
        limit: Option<u32>,
    }
);

args!(
    /// Arguments of `search_decisions`.
    SearchDecisions {
        /// Keywords.
        query: String,
        /// Only this topic.
        topic_filter: Option<String>,
        /// At most this many results (1..=100, default 10).
        limit: Option<u32>,
    }
);

args!(
    /// Arguments of `search_incidents`.
    SearchIncidents {
        /// Keywords.
        query: String,
        /// Only this service.
        service_filter: Option<String>,
        /// Only this severity.
        severity_filter: Option<String>,
        /// At most this many results (1..=100, default 10).
        limit: Option<u32>,
    }
);

args!(
    /// Arguments of `store_memory`.
    StoreMemory {
        /// The acting agent, which becomes the author.
        agent_id: String,
        /// The text to remember (at most 64 KiB; injection attempts are refused).
        content: String,
        /// `preference`, `fact`, `decision` or `note`.
        memory_type: String,
        /// Up to 32 tags.
        tags: Option<Vec<String>>,
        /// A chosen id; a UUID when omitted.
        memory_id: Option<String>,
        /// Share into this pool right away.
        pool_id: Option<String>,
        /// The share's scope (default: the pool's scope).
        scope: Option<String>,
        /// Seconds until the memory expires.
        ttl_seconds: Option<u64>,
    }
);

args!(
    /// Arguments naming a memory and the acting agent.
    MemoryAgent {
        /// The acting agent.
        agent_id: String,
        /// The memory.
        memory_id: String,
    }
);

args!(
    /// Arguments of `update_memory`.
    UpdateMemory {
        /// The acting agent (the author).
        agent_id: String,
        /// The memory.
        memory_id: String,
        /// The version you last read; a different current version is a conflict.
        expected_version: u64,
        /// New content.
        content: Option<String>,
        /// New tags.
        tags: Option<Vec<String>>,
        /// New type: `preference`, `fact`, `decision` or `note`.
        memory_type: Option<String>,
    }
);

args!(
    /// Arguments of `search_memories`.
    SearchMemories {
        /// The acting agent; only memories it may read are searched.
        agent_id: String,
        /// Keywords; code identifiers and paths are understood.
        query: String,
        /// At most this many results (1..=100, default 10).
        limit: Option<u32>,
    }
);

args!(
    /// One knowledge document.
    DocumentArg {
        /// `code`, `decision` or `incident`.
        kind: String,
        /// Unique within its kind; ingesting the same id again replaces it.
        id: String,
        /// A title (at most 512 bytes).
        title: String,
        /// The text (at most 256 KiB).
        content: String,
        /// The service (code and incidents).
        service: Option<String>,
        /// The file path (code).
        path: Option<String>,
        /// The topic (decisions).
        topic: Option<String>,
        /// The severity (incidents), e.g. `sev1`.
        severity: Option<String>,
    }
);

args!(
    /// Arguments of `ingest_documents`.
    IngestDocuments {
        /// Up to 1000 documents, stored all or none.
        documents: Vec<DocumentArg>,
    }
);

args!(
    /// Arguments of `get_audit_log`.
    AuditLog {
        /// Entries whose actor or target is this agent.
        agent_id: Option<String>,
        /// Exact event type, e.g. `handoff.accepted`.
        event_type: Option<String>,
        /// From this time (ms since the epoch, inclusive).
        since: Option<u64>,
        /// Before this time (ms since the epoch).
        until: Option<u64>,
        /// At most this many entries (1..=1000, default 100).
        limit: Option<u32>,
    }
);

args!(
    /// Arguments of `list_pools`.
    ListPools {
        /// Only pools of this owner.
        owner_id: Option<String>,
    }
);

args!(
    /// No arguments.
    NoArgs {}
);
