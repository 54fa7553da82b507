//! Journal entries: what decide produces and evolve applies.
//!
//! One entry per successful decide, holding every event of that change and the time it
//! was decided, so replay never consults the clock. Entries carry a format version.

use crate::error::{Error, Result};
use crate::guard::Notes;
use crate::model::{AgentType, Capability, DocumentKind, MemoryKind, Permission, Scope};
use serde::{Deserialize, Serialize};

/// The current entry format version.
pub const FORMAT_VERSION: u32 = 1;

/// One journal entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Format version of this entry.
    pub v: u32,
    /// When the change was decided, ms since the epoch.
    pub at: u64,
    /// The events, applied in order.
    pub events: Vec<Event>,
}

impl Entry {
    /// Encodes the entry for the journal.
    pub fn encode(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(self).map_err(|e| Error::Unavailable(format!("encoding entry: {e}")))
    }

    /// The audit chain's head before this entry, as its first audit record names it
    /// (none without one, or in an entry written before the chain).
    pub fn chain_link(&self) -> Option<&str> {
        self.events.iter().find_map(|e| match e {
            Event::Audited(r) => Some(r.prev.as_deref()),
            _ => None,
        })?
    }

    /// Decodes a journal entry, refusing versions newer than this core knows.
    pub fn decode(seq: u64, data: &[u8]) -> Result<Entry> {
        let entry: Entry = serde_json::from_slice(data).map_err(|e| {
            Error::invalid("journal", format!("entry {seq} cannot be decoded: {e}"))
        })?;
        Entry::check_version(seq, entry.v)?;
        Ok(entry)
    }

    /// Refuses a format version this core does not know (0, or newer than
    /// [`FORMAT_VERSION`]) for entry `seq`.
    pub fn check_version(seq: u64, v: u32) -> Result<()> {
        if v == 0 || v > FORMAT_VERSION {
            return Err(Error::invalid(
                "journal",
                format!("entry {seq} has unknown format version {v}"),
            ));
        }
        Ok(())
    }
}

/// An audit record as written to the journal.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// `operator`, an agent id, or `anonymous`.
    pub actor: String,
    /// E.g. `handoff.accepted`.
    pub event_type: String,
    /// The main object.
    pub target: Option<String>,
    /// `ok`, `denied`, `not_found` (an agent asked for what it cannot see), or for
    /// `handoff.out_of_turn` the error's code (`invalid_input`, `expired`).
    pub outcome: String,
    /// A JSON object text.
    pub detail: String,
    /// The audit chain: in the journal, the hash of the audit record before this one
    /// ([`crate::audit::chain_hash`]); in the read-audit log, the journal's chain head
    /// the read saw. Absent on records written before the chain existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev: Option<String>,
    /// In the journal, what the record vouches for: the hex SHA-256 of the other events
    /// of its entry as written ([`crate::audit::covers`]), so the chain, which hashes
    /// the record, covers them too and an edited event is found. Absent on reads, on
    /// records written before it existed, and in the state's window of recent records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub covers: Option<String>,
}

/// A change to the state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// An agent was registered.
    AgentRegistered {
        /// Agent id.
        id: String,
        /// Agent type.
        agent_type: AgentType,
        /// Owner user id.
        owner_id: String,
        /// Granted capabilities.
        capabilities: Vec<Capability>,
        /// Metadata JSON object.
        metadata: String,
        /// SHA-256 hex of the token.
        token_hash: String,
    },
    /// An agent was deactivated.
    AgentDeactivated {
        /// Agent id.
        id: String,
    },
    /// An agent was reactivated.
    AgentReactivated {
        /// Agent id.
        id: String,
    },
    /// An agent's token was replaced: the old one no longer authenticates.
    AgentTokenRotated {
        /// Agent id.
        id: String,
        /// SHA-256 hex of the new token.
        token_hash: String,
    },
    /// An agent was removed for good.
    AgentUnregistered {
        /// Agent id.
        id: String,
    },
    /// A session was opened.
    SessionStarted {
        /// Agent id.
        agent_id: String,
        /// Session id.
        session_id: String,
    },
    /// The agent's session was closed.
    SessionEnded {
        /// Agent id.
        agent_id: String,
    },
    /// A pool was created.
    PoolCreated {
        /// Pool id.
        id: String,
        /// Name.
        name: String,
        /// Owner user id.
        owner_id: String,
        /// Widest share scope.
        scope: Scope,
        /// Team label.
        team: Option<String>,
        /// Metadata JSON object.
        metadata: String,
    },
    /// A member joined or changed permission.
    MemberJoined {
        /// Pool id.
        pool_id: String,
        /// Agent id.
        agent_id: String,
        /// Permission.
        permission: Permission,
    },
    /// A member left or was removed.
    MemberLeft {
        /// Pool id.
        pool_id: String,
        /// Agent id.
        agent_id: String,
    },
    /// A memory was shared (or re-scoped).
    MemoryShared {
        /// Pool id.
        pool_id: String,
        /// Memory id.
        memory_id: String,
        /// Sharing agent.
        shared_by: String,
        /// Scope.
        scope: Scope,
    },
    /// A share was removed (by an unshare, or by deleting the memory: then one per pool,
    /// before the `MemoryDeleted`).
    MemoryUnshared {
        /// Pool id.
        pool_id: String,
        /// Memory id.
        memory_id: String,
        /// Who had shared it, so the change feed can tell who saw the share. Absent in
        /// entries written before the feed existed (an additive field: older cores ignore
        /// it, newer ones read its absence).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        shared_by: Option<String>,
        /// The scope it had been shared at; absent as `shared_by`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        scope: Option<Scope>,
    },
    /// A pool was archived.
    PoolArchived {
        /// Pool id.
        id: String,
    },
    /// A pool was deleted with its members and shares.
    PoolDeleted {
        /// Pool id.
        id: String,
        /// Its members when it was deleted, so the change feed can tell them. Empty in
        /// entries written before the feed existed (additive, as `MemoryUnshared`'s).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        members: Vec<String>,
    },
    /// A memory was stored.
    MemoryStored {
        /// Memory id.
        id: String,
        /// Author agent.
        author: String,
        /// Kind.
        kind: MemoryKind,
        /// Content.
        content: String,
        /// Tags.
        tags: Vec<String>,
        /// Expiry time.
        expires_at: Option<u64>,
        /// What the write gate redacted or flagged.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        notes: Option<Box<Notes>>,
        /// The texts passed the write gate when written (secrets already redacted);
        /// false in entries written before the gate existed.
        #[serde(default, skip_serializing_if = "crate::model::is_false")]
        gated: bool,
    },
    /// A memory was updated.
    MemoryUpdated {
        /// Memory id.
        id: String,
        /// New content.
        content: String,
        /// New tags.
        tags: Vec<String>,
        /// New kind.
        kind: MemoryKind,
        /// What the write gate redacted or flagged in the memory as it now is.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        notes: Option<Box<Notes>>,
        /// The texts passed the write gate when written (secrets already redacted);
        /// false in entries written before the gate existed.
        #[serde(default, skip_serializing_if = "crate::model::is_false")]
        gated: bool,
    },
    /// A memory was deleted with its shares.
    MemoryDeleted {
        /// Memory id.
        id: String,
    },
    /// A handoff was started.
    HandoffInitiated {
        /// Handoff id.
        id: String,
        /// Source agent.
        source: String,
        /// Target agent.
        target: String,
        /// What is handed over.
        context: HandoffContext,
        /// Expiry time.
        expires_at: u64,
        /// What the write gate redacted or flagged.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        notes: Option<Box<Notes>>,
    },
    /// The target accepted; it may now read `granted` memories.
    HandoffAccepted {
        /// Handoff id.
        id: String,
        /// Memory ids the target was granted.
        granted: Vec<String>,
    },
    /// The target rejected.
    HandoffRejected {
        /// Handoff id.
        id: String,
        /// Why.
        reason: String,
        /// What the write gate redacted or flagged.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        notes: Option<Box<Notes>>,
    },
    /// The target of an accepted handoff asked its source for more.
    HandoffInputRequested {
        /// Handoff id.
        id: String,
        /// What the target needs to know.
        question: String,
        /// What the write gate redacted or flagged.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        notes: Option<Box<Notes>>,
    },
    /// The source answered; the target continues.
    HandoffInputProvided {
        /// Handoff id.
        id: String,
        /// The source's answer.
        answer: String,
        /// What the write gate redacted or flagged.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        notes: Option<Box<Notes>>,
    },
    /// The source cancelled (or an unregistration cancelled it).
    HandoffCancelled {
        /// Handoff id.
        id: String,
    },
    /// The target completed.
    HandoffCompleted {
        /// Handoff id.
        id: String,
        /// Result JSON.
        result: String,
        /// What the write gate redacted or flagged.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        notes: Option<Box<Notes>>,
    },
    /// A pending handoff passed its expiry and was marked so.
    HandoffExpired {
        /// Handoff id.
        id: String,
    },
    /// A terminal handoff was removed after the retention window.
    HandoffRemoved {
        /// Handoff id.
        id: String,
    },
    /// Knowledge documents were ingested (replacing same kind and id).
    DocumentsIngested {
        /// The documents.
        documents: Vec<Document>,
        /// The owner of the ingesting agent; absent for the operator.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        owner: Option<String>,
        /// What the write gate redacted or flagged, by index into `documents`.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        notes: Vec<(usize, Notes)>,
        /// The texts passed the write gate when written (secrets already redacted);
        /// false in entries written before the gate existed.
        #[serde(default, skip_serializing_if = "crate::model::is_false")]
        gated: bool,
    },
    /// Knowledge documents were removed (ids of one kind, each stored when removed).
    DocumentsRemoved {
        /// Their kind.
        kind: DocumentKind,
        /// Their ids.
        ids: Vec<String>,
    },
    /// An audit record.
    Audited(AuditRecord),
}

// The payloads below are part of the journal format: the state keeps them as they are
// written, so a change here is a change of the format (and needs an upcast).

/// What a handoff carries (as journaled, and as the state keeps it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HandoffContext {
    /// The task.
    pub task_description: String,
    /// JSON state.
    pub current_state: String,
    /// Referenced memory ids.
    pub relevant_memories: Vec<String>,
    /// Referenced paths.
    pub relevant_files: Vec<String>,
}

/// A knowledge document (as journaled, and as the state keeps it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Document {
    /// Kind.
    pub kind: DocumentKind,
    /// Id within the kind.
    pub id: String,
    /// Title.
    pub title: String,
    /// Content.
    pub content: String,
    /// Service (code, incidents).
    pub service: Option<String>,
    /// Path (code).
    pub path: Option<String>,
    /// Topic (decisions).
    pub topic: Option<String>,
    /// Severity (incidents).
    pub severity: Option<String>,
    /// The lines of the file at `path` the content was taken from (code); absent in
    /// entries written before documents had it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lines: Option<Lines>,
}

/// A range of lines in a file, both ends included, numbered from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lines {
    /// The first line, at least 1.
    pub start: u32,
    /// The last line, at least `start`.
    pub end: u32,
}
