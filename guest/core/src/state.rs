//! The state of a maas core and `evolve`, the only code that changes it.

use crate::events::{AuditRecord, Entry, Event};
pub use crate::events::{Document, HandoffContext};
use crate::guard::Notes;
use crate::model::{
    AgentType, Capability, DocumentKind, HandoffStatus, MemoryKind, Permission, Scope,
};
use crate::search::Index;
use crate::visibility::Visibility;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

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
    /// Shares by memory id.
    pub shares: BTreeMap<String, Share>,
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
    /// Documents by `kind:id`.
    pub documents: BTreeMap<String, StoredDocument>,
    /// How many documents each owner holds (for the per-owner quota).
    #[serde(skip)]
    pub documents_by_owner: BTreeMap<String, u64>,
    /// The hash of the last audit record in the journal: the head of the audit chain.
    #[serde(default)]
    pub audit_head: String,
    /// Recent audit entries (not part of the digest; the journal keeps them all).
    #[serde(skip)]
    pub audit: VecDeque<AuditEntry>,
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
}

/// The key of a team label within its owner.
pub fn team_key(owner: &str, team: &str) -> String {
    format!("{owner}/{team}")
}

/// The key of a document.
pub fn document_key(kind: DocumentKind, id: &str) -> String {
    format!("{}:{id}", kind.as_str())
}

/// The text a memory is indexed under. Secrets are redacted (the write gate did it for
/// a gated memory), so a search cannot confirm a guessed key that readers are never shown.
fn memory_text(m: &Memory) -> String {
    redacted_unless(m.gated, format!("{} {}", m.content, m.tags.join(" ")))
}

/// The text a document is indexed under (redacted as [`memory_text`] is).
fn document_text(d: &Document, gated: bool) -> String {
    let fields = [&d.service, &d.path, &d.topic, &d.severity];
    let extra: Vec<&str> = fields.iter().filter_map(|f| f.as_deref()).collect();
    redacted_unless(
        gated,
        format!("{} {} {}", d.title, d.content, extra.join(" ")),
    )
}

/// `text` as it is when it passed the write gate (`gated`), else with secrets redacted.
fn redacted_unless(gated: bool, text: String) -> String {
    if gated {
        text
    } else {
        crate::security::redact_secrets(&text)
    }
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

    /// Applies one decoded journal entry at `seq`.
    pub fn apply(&mut self, seq: u64, entry: &Entry) {
        for event in &entry.events {
            self.evolve(seq, entry.at, event);
        }
        self.seq = seq;
    }

    /// Applies one event. The only code that changes state. Events referring to objects
    /// that are gone are ignored, so a journal is always replayable.
    pub fn evolve(&mut self, seq: u64, at: u64, event: &Event) {
        crate::visibility::before(self, event);
        self.apply_event(seq, at, event);
        crate::visibility::after(self, at, event);
    }

    /// Applies one event to the objects and search indexes.
    fn apply_event(&mut self, seq: u64, at: u64, event: &Event) {
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
                self.tokens.insert(token_hash.clone(), id.clone());
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
            Event::AgentUnregistered { id } => {
                self.agents.remove(id);
                self.tokens.retain(|_, agent| agent != id);
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
            Event::PoolCreated {
                id,
                name,
                owner_id,
                scope,
                team,
                metadata,
            } => {
                let n = self.take_n();
                self.use_id("pool", id);
                if let Some(t) = team {
                    self.teams
                        .entry(team_key(owner_id, t))
                        .or_default()
                        .insert(id.clone());
                }
                self.pools.insert(
                    id.clone(),
                    Pool {
                        n,
                        id: id.clone(),
                        name: name.clone(),
                        owner_id: owner_id.clone(),
                        scope: *scope,
                        team: team.clone(),
                        metadata: metadata.clone(),
                        archived: false,
                        created_at: at,
                        members: BTreeMap::new(),
                        shares: BTreeMap::new(),
                    },
                );
            }
            Event::MemberJoined {
                pool_id,
                agent_id,
                permission,
            } => {
                let n = self.take_n();
                if let Some(p) = self.pools.get_mut(pool_id) {
                    match p.members.get_mut(agent_id) {
                        Some(m) => m.permission = *permission,
                        None => {
                            p.members.insert(
                                agent_id.clone(),
                                Member {
                                    n,
                                    permission: *permission,
                                    joined_at: at,
                                },
                            );
                            self.memberships
                                .entry(agent_id.clone())
                                .or_default()
                                .insert(pool_id.clone());
                        }
                    }
                }
            }
            Event::MemberLeft { pool_id, agent_id } => {
                if let Some(p) = self.pools.get_mut(pool_id) {
                    p.members.remove(agent_id);
                }
                remove_from(&mut self.memberships, agent_id, pool_id);
            }
            Event::MemoryShared {
                pool_id,
                memory_id,
                shared_by,
                scope,
            } => {
                let n = self.take_n();
                if let (Some(p), Some(m)) = (
                    self.pools.get_mut(pool_id),
                    self.memories.get_mut(memory_id),
                ) {
                    match p.shares.get_mut(memory_id) {
                        Some(s) => s.scope = *scope,
                        None => {
                            p.shares.insert(
                                memory_id.clone(),
                                Share {
                                    n,
                                    shared_by: shared_by.clone(),
                                    scope: *scope,
                                    shared_at: at,
                                },
                            );
                        }
                    }
                    m.pools.insert(pool_id.clone());
                }
            }
            Event::MemoryUnshared { pool_id, memory_id } => {
                if let Some(p) = self.pools.get_mut(pool_id) {
                    p.shares.remove(memory_id);
                }
                if let Some(m) = self.memories.get_mut(memory_id) {
                    m.pools.remove(pool_id);
                }
            }
            Event::PoolArchived { id } => {
                if let Some(p) = self.pools.get_mut(id) {
                    p.archived = true;
                }
            }
            Event::PoolDeleted { id } => {
                if let Some(p) = self.pools.remove(id) {
                    for agent in p.members.keys() {
                        remove_from(&mut self.memberships, agent, id);
                    }
                    for memory in p.shares.keys() {
                        if let Some(m) = self.memories.get_mut(memory) {
                            m.pools.remove(id);
                        }
                    }
                    if let Some(t) = &p.team {
                        remove_from(&mut self.teams, &team_key(&p.owner_id, t), id);
                    }
                }
            }
            Event::MemoryStored {
                id,
                author,
                kind,
                content,
                tags,
                expires_at,
                notes,
                gated,
            } => {
                let n = self.take_n();
                self.use_id("memory", id);
                let m = Memory {
                    n,
                    id: id.clone(),
                    author: author.clone(),
                    kind: *kind,
                    content: content.clone(),
                    tags: tags.clone(),
                    version: 1,
                    created_at: at,
                    updated_at: at,
                    expires_at: *expires_at,
                    pools: BTreeSet::new(),
                    notes: notes.clone(),
                    gated: *gated,
                };
                if !self.indexes_deferred {
                    let _ = self.memory_index.insert(n, &memory_text(&m));
                    self.memory_by_n.insert(n, id.clone());
                }
                self.memories.insert(id.clone(), m);
            }
            Event::MemoryUpdated {
                id,
                content,
                tags,
                kind,
                notes,
                gated,
            } => {
                if let Some(m) = self.memories.get_mut(id) {
                    let old = (!self.indexes_deferred).then(|| memory_text(m));
                    m.content = content.clone();
                    m.tags = tags.clone();
                    m.kind = *kind;
                    m.notes = notes.clone();
                    m.gated = *gated;
                    m.version += 1;
                    m.updated_at = at;
                    if let Some(old) = old {
                        let _ = self.memory_index.remove(m.n, &old);
                        let _ = self.memory_index.insert(m.n, &memory_text(m));
                    }
                }
            }
            Event::MemoryDeleted { id } => {
                if let Some(m) = self.memories.remove(id) {
                    for pool_id in &m.pools {
                        if let Some(p) = self.pools.get_mut(pool_id) {
                            p.shares.remove(id);
                        }
                    }
                    if !self.indexes_deferred {
                        let _ = self.memory_index.remove(m.n, &memory_text(&m));
                    }
                    self.memory_by_n.remove(&m.n);
                    self.grants.remove(id);
                }
            }
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
                if let Some(h) = self.handoffs.remove(id) {
                    if !h.status.is_terminal() {
                        self.live_handoffs = self.live_handoffs.saturating_sub(1);
                    }
                    self.pending_expiry.remove(&(h.expires_at, id.clone()));
                    remove_from(&mut self.pending_by_target, &h.target, id);
                    remove_from(&mut self.handoffs_by_agent, &h.source, id);
                    remove_from(&mut self.handoffs_by_agent, &h.target, id);
                }
            }
            Event::DocumentsIngested {
                documents,
                owner,
                notes,
                gated,
            } => {
                for (i, d) in documents.iter().enumerate() {
                    let key = document_key(d.kind, &d.id);
                    let n = match self.documents.get(&key) {
                        Some(old) => {
                            count_document(&mut self.documents_by_owner, &old.owner, false);
                            if let Some(index) = self.document_index.get_mut(&d.kind)
                                && !self.indexes_deferred
                            {
                                let _ =
                                    index.remove(old.n, &document_text(&old.document, old.gated));
                            }
                            old.n
                        }
                        None => self.take_n(),
                    };
                    if !self.indexes_deferred {
                        let _ = self
                            .document_index
                            .entry(d.kind)
                            .or_default()
                            .insert(n, &document_text(d, *gated));
                        self.document_by_n.insert(n, key.clone());
                    }
                    self.documents.insert(
                        key,
                        StoredDocument {
                            n,
                            document: d.clone(),
                            ingested_at: at,
                            owner: owner.clone(),
                            notes: notes
                                .iter()
                                .find(|(at, _)| *at == i)
                                .and_then(|(_, n)| n.clone().boxed()),
                            gated: *gated,
                        },
                    );
                    count_document(&mut self.documents_by_owner, owner, true);
                }
            }
            Event::Audited(record) => {
                self.audit_head = crate::audit::chain_hash(&self.audit_head, seq, at, record);
                self.audit.push_back(AuditEntry {
                    seq,
                    at,
                    record: record.clone(),
                });
                self.trim_audit();
            }
        }
    }

    /// Drops the oldest audit entries beyond the window.
    pub fn trim_audit(&mut self) {
        while self.audit.len() > self.audit_window.max(1) {
            self.audit.pop_front();
        }
    }

    /// Builds the search indexes if they were left for later, and maintains them entry
    /// by entry again. Searches call it first.
    pub fn end_deferred_indexing(&mut self) {
        if std::mem::take(&mut self.indexes_deferred) {
            self.rebuild_search_indexes();
        }
    }

    /// Leaves the search indexes to be built by the first search
    /// ([`State::end_deferred_indexing`]): until then events do not maintain them.
    pub fn defer_search_indexes(&mut self) {
        self.memory_index = Index::default();
        self.memory_by_n.clear();
        self.document_index.clear();
        self.document_by_n.clear();
        self.indexes_deferred = true;
    }

    /// Rebuilds every derived index from the memories and documents, as replay builds
    /// them.
    pub fn rebuild_indexes(&mut self) {
        self.rebuild_search_indexes();
        self.rebuild_access();
    }

    /// Rebuilds what reads and quotas need at once: per-owner document counts and the
    /// read-access bitmaps.
    pub fn rebuild_access(&mut self) {
        self.documents_by_owner.clear();
        for d in self.documents.values() {
            count_document(&mut self.documents_by_owner, &d.owner, true);
        }
        self.visibility = Visibility::build(self);
    }

    /// Rebuilds the search indexes (memories, and documents per kind) in bulk.
    fn rebuild_search_indexes(&mut self) {
        self.memory_by_n.clear();
        let mut memories: Vec<&Memory> = self.memories.values().collect();
        memories.sort_by_key(|m| m.n);
        for m in &memories {
            self.memory_by_n.insert(m.n, m.id.clone());
        }
        // In number order, as inserting them one by one would.
        self.memory_index = Index::build(memories.iter().map(|m| (m.n, memory_text(m))));
        self.document_index.clear();
        self.document_by_n.clear();
        let mut documents: Vec<(&String, &StoredDocument)> = self.documents.iter().collect();
        documents.sort_by_key(|(_, d)| d.n);
        let mut by_kind: BTreeMap<_, Vec<&StoredDocument>> = BTreeMap::new();
        for (key, d) in documents {
            by_kind.entry(d.document.kind).or_default().push(d);
            self.document_by_n.insert(d.n, key.clone());
        }
        for (kind, docs) in by_kind {
            let texts = docs
                .into_iter()
                .map(|d| (d.n, document_text(&d.document, d.gated)));
            self.document_index.insert(kind, Index::build(texts));
        }
    }

    /// Moves a handoff to `status`, keeping the pending index right; returns its target.
    fn set_status(&mut self, id: &str, status: HandoffStatus, at: u64) -> Option<String> {
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
        }
        Some(target)
    }
}

/// Removes `value` from the set at `key`, dropping the set when it empties.
fn remove_from(map: &mut BTreeMap<String, BTreeSet<String>>, key: &str, value: &str) {
    if let Some(set) = map.get_mut(key) {
        set.remove(value);
        if set.is_empty() {
            map.remove(key);
        }
    }
}

/// Adds (`on`) or removes one document of `owner` in the per-owner counts.
fn count_document(counts: &mut BTreeMap<String, u64>, owner: &Option<String>, on: bool) {
    let Some(owner) = owner else { return };
    if on {
        *counts.entry(owner.clone()).or_default() += 1;
    } else if let Some(count) = counts.get_mut(owner) {
        *count = count.saturating_sub(1);
        if *count == 0 {
            counts.remove(owner);
        }
    }
}

/// Adds the notes of a later change to an object's.
fn add_notes(notes: &mut Option<Box<Notes>>, more: &Option<Box<Notes>>) {
    if let Some(more) = more {
        let old = notes.take().map(|b| *b).unwrap_or_default();
        *notes = old.merged((**more).clone()).boxed();
    }
}
