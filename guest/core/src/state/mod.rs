//! The state of a maas core. [`State::evolve`] (in `evolve`, one module per noun) is the
//! only code that changes it; `indexes` derives the search indexes and access bitmaps.

use crate::events::AuditRecord;
pub use crate::events::{Document, HandoffContext, Lines};
use crate::guard::Notes;
use crate::model::{
    AgentType, Capability, DocumentKind, HandoffStatus, MemoryKind, Permission, Scope,
};
use crate::search::Index;
use crate::visibility::Visibility;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

mod audit_window;
mod evolve;
mod indexes;

pub use audit_window::AuditWindow;

/// A registered agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Agent {
    /// Creation number: lists sort by it.
    pub n: u64,
    /// Id.
    pub id: String,
    /// Type.
    pub agent_type: AgentType,
    /// Owner user id.
    pub owner_id: String,
    /// Capabilities.
    pub capabilities: Vec<Capability>,
    /// Metadata JSON object.
    pub metadata: String,
    /// False while deactivated.
    pub active: bool,
    /// Open session.
    pub session_id: Option<String>,
    /// When the open session started.
    pub session_started_at: Option<u64>,
    /// Registration time.
    pub created_at: u64,
}

impl Agent {
    /// True if the agent holds `cap`.
    pub fn can(&self, cap: Capability) -> bool {
        self.capabilities.contains(&cap)
    }
}

/// A pool member.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Member {
    /// Join number: lists sort by it.
    pub n: u64,
    /// Permission.
    pub permission: Permission,
    /// Join time.
    pub joined_at: u64,
}

/// A memory shared into a pool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Share {
    /// Share number: lists sort by it.
    pub n: u64,
    /// The sharing agent.
    pub shared_by: String,
    /// Scope.
    pub scope: Scope,
    /// Share time.
    pub shared_at: u64,
}

/// A pool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pool {
    /// Creation number.
    pub n: u64,
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Owner user id.
    pub owner_id: String,
    /// Widest share scope.
    pub scope: Scope,
    /// Team label.
    pub team: Option<String>,
    /// Metadata JSON object.
    pub metadata: String,
    /// Read-only once archived.
    pub archived: bool,
    /// Creation time.
    pub created_at: u64,
    /// Members by agent id.
    pub members: BTreeMap<String, Member>,
    /// Shares by memory id (changed through [`Pool::add_share`] and
    /// [`Pool::remove_share`], which keep [`Pool::share_order`]).
    pub shares: BTreeMap<String, Share>,
    /// The memory ids of [`Pool::shares`] by share number, derived: a page of shares
    /// walks it from its cursor and stops at its limit. Sorting every share for each page
    /// took 38-53 ms at 66,000 shares.
    #[serde(skip)]
    pub share_order: BTreeMap<u64, String>,
}

impl Pool {
    /// Shares `memory_id` as `share`, or sets the scope of its share if it has one (its
    /// number and time stay).
    pub fn add_share(&mut self, memory_id: &str, share: Share) {
        match self.shares.get_mut(memory_id) {
            Some(held) => held.scope = share.scope,
            None => {
                self.share_order.insert(share.n, memory_id.to_string());
                self.shares.insert(memory_id.to_string(), share);
            }
        }
    }

    /// Removes the share of `memory_id`.
    pub fn remove_share(&mut self, memory_id: &str) -> Option<Share> {
        let share = self.shares.remove(memory_id)?;
        self.share_order.remove(&share.n);
        Some(share)
    }

    /// Derives [`Pool::share_order`] from the shares (a restored pool has none).
    pub fn order_shares(&mut self) {
        self.share_order = self
            .shares
            .iter()
            .map(|(memory_id, share)| (share.n, memory_id.clone()))
            .collect();
    }
}

/// A stored memory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Memory {
    /// Creation number; also its number in the search index.
    pub n: u64,
    /// Id.
    pub id: String,
    /// Author agent.
    pub author: String,
    /// Kind.
    pub kind: MemoryKind,
    /// Content as written.
    pub content: String,
    /// Tags.
    pub tags: Vec<String>,
    /// Version, 1 on store.
    pub version: u64,
    /// Creation time.
    pub created_at: u64,
    /// Last change.
    pub updated_at: u64,
    /// Expiry time.
    pub expires_at: Option<u64>,
    /// Pools it is shared into.
    pub pools: BTreeSet<String>,
    /// What the write gate redacted or flagged (most memories carry none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<Box<Notes>>,
    /// Its texts passed the write gate when written (secrets already redacted), so
    /// they are not scanned again; false for memories written before the gate.
    #[serde(default, skip_serializing_if = "crate::model::is_false")]
    pub gated: bool,
}

impl Memory {
    /// True once the memory's ttl has passed at `now`.
    pub fn is_expired(&self, now: u64) -> bool {
        self.expires_at.is_some_and(|t| now >= t)
    }
}

/// A handoff.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Handoff {
    /// Creation number.
    pub n: u64,
    /// Id.
    pub id: String,
    /// Source agent.
    pub source: String,
    /// Target agent.
    pub target: String,
    /// Context.
    pub context: HandoffContext,
    /// Recorded status; see [`Handoff::status_at`] for the effective one.
    pub status: HandoffStatus,
    /// Creation time.
    pub created_at: u64,
    /// Expiry time.
    pub expires_at: u64,
    /// Last change.
    pub updated_at: u64,
    /// Completion result JSON.
    pub result: Option<String>,
    /// Rejection reason.
    pub reason: Option<String>,
    /// The target's last question to the source (`input_required`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub question: Option<String>,
    /// The source's answer to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
    /// What the write gate redacted or flagged in its texts, over its whole life.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<Box<Notes>>,
}

impl Handoff {
    /// The status at `now`: a pending handoff past its expiry is expired, everywhere at once.
    pub fn status_at(&self, now: u64) -> HandoffStatus {
        if self.status == HandoffStatus::Pending && now >= self.expires_at {
            HandoffStatus::Expired
        } else {
            self.status
        }
    }

    /// True while it counts toward the live-handoff limit at `now`.
    pub fn is_live(&self, now: u64) -> bool {
        !self.status_at(now).is_terminal()
    }

    /// The bytes it counts toward the share of text of its source's owner (its record,
    /// its context and the source's answer) and of its target's (the target's question,
    /// result or reason): who wrote a text pays for it while it is kept, finished or
    /// not, until the handoff is removed.
    pub fn text_bytes(&self) -> (u64, u64) {
        let len = |t: &Option<String>| t.as_deref().map_or(0, str::len) as u64;
        let source = HANDOFF_RECORD_BYTES + handoff_context_bytes(&self.context);
        (
            source + len(&self.answer),
            len(&self.question) + len(&self.result) + len(&self.reason),
        )
    }
}

/// What a handoff counts toward its source's owner's share of text besides its texts:
/// a finished handoff is kept (until the operator's cleanup removes it after the
/// retention), so one with no text still holds memory, and an owner starting and
/// cancelling handoffs without end would fill the core's.
pub const HANDOFF_RECORD_BYTES: u64 = 1024;

/// The bytes of a handoff's context: its task, state and the ids and paths it names.
pub fn handoff_context_bytes(c: &HandoffContext) -> u64 {
    let names = |v: &[String]| v.iter().map(String::len).sum::<usize>();
    (c.task_description.len()
        + c.current_state.len()
        + names(&c.relevant_memories)
        + names(&c.relevant_files)) as u64
}

/// A stored knowledge document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredDocument {
    /// Creation number; its number in the kind's index.
    pub n: u64,
    /// The document.
    pub document: Document,
    /// Ingestion time.
    pub ingested_at: u64,
    /// The owner whose agent ingested it; `None` when the operator did (or the entry
    /// predates ownership): only the operator may then replace it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// What the write gate redacted or flagged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<Box<Notes>>,
    /// Its texts passed the write gate when written (secrets already redacted), so
    /// they are not scanned again; false for documents ingested before the gate.
    #[serde(default, skip_serializing_if = "crate::model::is_false")]
    pub gated: bool,
}

/// An audit entry kept for queries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Journal sequence.
    pub seq: u64,
    /// Time.
    pub at: u64,
    /// The record.
    pub record: AuditRecord,
}

/// Every object of a core, plus derived indexes.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State {
    /// Last applied journal sequence.
    pub seq: u64,
    /// Next creation number.
    pub next_n: u64,
    /// Live (not unregistered) agents.
    pub agents: BTreeMap<String, Agent>,
    /// Every id ever used, as `kind:id`, so ids are never reused.
    pub used_ids: BTreeSet<String>,
    /// Token hash to agent id.
    pub tokens: BTreeMap<String, String>,
    /// Agent id to its token hash: [`Self::tokens`] the other way, so a rotation or an
    /// unregistration replaces one token rather than walking every agent's (derived;
    /// rebuilt on restore, left out of the digest).
    #[serde(skip)]
    pub token_of: BTreeMap<String, String>,
    /// Pools.
    pub pools: BTreeMap<String, Pool>,
    /// Agent id to the pools it is a member of.
    pub memberships: BTreeMap<String, BTreeSet<String>>,
    /// `owner/team` to the pools carrying that team label.
    pub teams: BTreeMap<String, BTreeSet<String>>,
    /// Memories.
    pub memories: BTreeMap<String, Memory>,
    /// Memory id to agents granted read access by accepted handoffs.
    pub grants: BTreeMap<String, BTreeSet<String>>,
    /// Handoffs.
    pub handoffs: BTreeMap<String, Handoff>,
    /// Target agent to its handoffs recorded as pending.
    pub pending_by_target: BTreeMap<String, BTreeSet<String>>,
    /// Pending (as recorded) handoffs by expiry time, to count the due ones cheaply.
    pub pending_expiry: BTreeSet<(u64, String)>,
    /// Handoffs recorded as pending or accepted.
    pub live_handoffs: u64,
    /// Agent to every handoff it is source or target of.
    pub handoffs_by_agent: BTreeMap<String, BTreeSet<String>>,
    /// [`State::handoffs_by_agent`] by creation number, so a page of an agent's
    /// handoffs reads that page, not all it was ever a party to (derived; rebuilt on
    /// restore, left out of the digest).
    #[serde(skip)]
    pub handoff_order: BTreeMap<String, BTreeMap<u64, String>>,
    /// Documents by `kind:id`.
    pub documents: BTreeMap<String, StoredDocument>,
    /// How many documents each owner holds (for the per-owner quota).
    #[serde(skip)]
    pub documents_by_owner: BTreeMap<String, u64>,
    /// How many handoffs recorded as pending or accepted the agents of each owner
    /// initiated (for the per-owner quota).
    #[serde(skip)]
    pub handoffs_by_owner: BTreeMap<String, u64>,
    /// Bytes of text each owner holds: what its registered agents wrote
    /// ([`State::text_by_agent`]) and its documents ([`document_text_bytes`]), for the
    /// per-owner quota.
    #[serde(skip)]
    pub text_by_owner: BTreeMap<String, u64>,
    /// Bytes of kept text each agent wrote: its memories ([`memory_text_bytes`]) and its
    /// parts of handoffs ([`Handoff::text_bytes`]), so an unregistered agent's text stops
    /// counting toward its owner's.
    #[serde(skip)]
    pub text_by_agent: BTreeMap<String, u64>,
    /// The hash of the last audit record in the journal: the head of the audit chain.
    #[serde(default)]
    pub audit_head: String,
    /// Recent audit entries, shared fairly between actors (not part of the digest; the
    /// journal keeps them all).
    #[serde(skip)]
    pub audit: AuditWindow,
    /// How many audit entries to keep in memory.
    #[serde(skip)]
    pub audit_window: usize,
    /// Memory search index by creation number.
    #[serde(skip)]
    pub memory_index: Index,
    /// Memory creation number to id.
    #[serde(skip)]
    pub memory_by_n: BTreeMap<u64, String>,
    /// One index per document kind.
    #[serde(skip)]
    pub document_index: BTreeMap<DocumentKind, Index>,
    /// Document creation number to `kind:id`.
    #[serde(skip)]
    pub document_by_n: BTreeMap<u64, String>,
    /// Who may read which memory, as bitmaps of memory numbers.
    #[serde(skip)]
    pub visibility: Visibility,
    /// While set, events leave the search indexes alone: after a snapshot restore or a
    /// long replay they are built in bulk by the first search
    /// ([`State::end_deferred_indexing`]) instead of entry by entry or at start-up.
    #[serde(skip)]
    pub indexes_deferred: bool,
    /// While set, `visibility` is empty and events leave it alone: after a snapshot
    /// restore it is built in bulk by the first operation that runs
    /// ([`State::end_deferred_access`]), so a start that only counts never builds it.
    #[serde(skip)]
    pub access_deferred: bool,
}

impl State {
    /// Handoffs recorded as pending whose expiry is at or before `now`.
    pub fn due_handoffs(&self, now: u64) -> impl Iterator<Item = &String> {
        self.pending_expiry
            .iter()
            .take_while(move |(t, _)| *t <= now)
            .map(|(_, id)| id)
    }

    /// Live handoffs at `now`: pending and not expired, or accepted.
    pub fn live_handoffs_at(&self, now: u64) -> u64 {
        self.live_handoffs
            .saturating_sub(self.due_handoffs(now).count() as u64)
    }

    /// Live handoffs at `now` that agents of `owner` initiated.
    pub fn owner_handoffs_at(&self, owner: &str, now: u64) -> u64 {
        let due = self
            .due_handoffs(now)
            .filter(|id| self.handoff_owner(id) == Some(owner))
            .count() as u64;
        let held = self.handoffs_by_owner.get(owner).copied().unwrap_or(0);
        held.saturating_sub(due)
    }

    /// The owner of the agent that initiated handoff `id`.
    pub fn handoff_owner(&self, id: &str) -> Option<&str> {
        let source = &self.handoffs.get(id)?.source;
        self.agents.get(source).map(|a| a.owner_id.as_str())
    }

    /// Live pending handoffs targeting `agent` at `now`, oldest first.
    pub fn pending_for(&self, agent: &str, now: u64) -> Vec<&Handoff> {
        let mut list: Vec<&Handoff> = self
            .pending_by_target
            .get(agent)
            .into_iter()
            .flatten()
            .filter_map(|id| self.handoffs.get(id))
            .filter(|h| h.status_at(now) == HandoffStatus::Pending)
            .collect();
        list.sort_by_key(|h| h.n);
        list
    }

    /// Derives [`State::handoff_order`] (a restored state has none).
    pub fn order_handoffs(&mut self) {
        self.handoff_order.clear();
        for h in self.handoffs.values() {
            for agent in [&h.source, &h.target] {
                self.handoff_order
                    .entry(agent.clone())
                    .or_default()
                    .insert(h.n, h.id.clone());
            }
        }
    }
}

/// The bytes a memory's text counts toward its owner's quota: content and tags.
pub fn memory_text_bytes(content: &str, tags: &[String]) -> u64 {
    (content.len() + tags.iter().map(String::len).sum::<usize>()) as u64
}

/// The bytes a document's text counts toward its owner's quota: every text field.
pub fn document_text_bytes(d: &Document) -> u64 {
    let fields = [&d.service, &d.path, &d.topic, &d.severity];
    let extra: usize = fields
        .iter()
        .filter_map(|f| f.as_deref())
        .map(str::len)
        .sum();
    (d.id.len() + d.title.len() + d.content.len() + extra) as u64
}

/// The key of a team label within its owner.
pub fn team_key(owner: &str, team: &str) -> String {
    format!("{owner}/{team}")
}

/// The key of a document.
pub fn document_key(kind: DocumentKind, id: &str) -> String {
    format!("{}:{id}", kind.as_str())
}
impl State {
    /// An empty state keeping `audit_window` audit entries.
    pub fn new(audit_window: usize) -> Self {
        State {
            audit_window,
            ..State::default()
        }
    }

    /// Records an id as used.
    fn use_id(&mut self, kind: &str, id: &str) {
        self.used_ids.insert(format!("{kind}:{id}"));
    }

    /// True if the id was ever used for this kind.
    pub fn id_used(&self, kind: &str, id: &str) -> bool {
        self.used_ids.contains(&format!("{kind}:{id}"))
    }

    fn take_n(&mut self) -> u64 {
        self.next_n += 1;
        self.next_n
    }

    /// Drops audit entries beyond the window, the oldest of the actor holding the most
    /// each time (see [`AuditWindow`]).
    pub fn trim_audit(&mut self) {
        self.audit.trim(self.audit_window.max(1));
    }
}
