//! `evolve`: the only code that changes the state, one module per noun.

use super::{AuditEntry, State, document_text_bytes};
use crate::events::{Document, Entry, Event};
use crate::guard::Notes;
use std::collections::{BTreeMap, BTreeSet};

mod agents;
mod documents;
mod handoffs;
mod memories;
mod pools;

impl State {
    /// Applies one decoded journal entry at `seq`.
    pub fn apply(&mut self, seq: u64, entry: &Entry) {
        for event in &entry.events {
            self.evolve_one(seq, entry.at, event, false);
        }
        crate::visibility::moved(self, self.seq, seq);
        self.seq = seq;
    }

    /// Applies an entry whose audit records were just linked into the chain by the
    /// engine, which computed `head`, the chain head after them: the same as
    /// [`State::apply`] without hashing every record a second time.
    pub fn apply_chained(&mut self, seq: u64, entry: &Entry, head: String) {
        for event in &entry.events {
            self.evolve_one(seq, entry.at, event, true);
        }
        self.audit_head = head;
        crate::visibility::moved(self, self.seq, seq);
        self.seq = seq;
    }

    /// Applies one event. The only code that changes state. Events referring to objects
    /// that are gone are ignored, so a journal is always replayable.
    pub fn evolve(&mut self, seq: u64, at: u64, event: &Event) {
        self.evolve_one(seq, at, event, false);
    }

    /// [`State::evolve`]; `chained`: the caller sets the audit chain head itself.
    fn evolve_one(&mut self, seq: u64, at: u64, event: &Event, chained: bool) {
        if self.access_deferred {
            // Built from the memories as they are when it is first needed.
            self.apply_event(seq, at, event, chained);
            return;
        }
        crate::visibility::before(self, event);
        self.apply_event(seq, at, event, chained);
        crate::visibility::after(self, at, event);
    }

    /// Applies one event to the objects and search indexes.
    fn apply_event(&mut self, seq: u64, at: u64, event: &Event, chained: bool) {
        match event {
            Event::AgentRegistered { .. }
            | Event::AgentDeactivated { .. }
            | Event::AgentReactivated { .. }
            | Event::AgentTokenRotated { .. }
            | Event::AgentUnregistered { .. }
            | Event::SessionStarted { .. }
            | Event::SessionEnded { .. } => self.evolve_agents(at, event),
            Event::PoolCreated { .. }
            | Event::MemberJoined { .. }
            | Event::MemberLeft { .. }
            | Event::MemoryShared { .. }
            | Event::MemoryUnshared { .. }
            | Event::PoolArchived { .. }
            | Event::PoolDeleted { .. } => self.evolve_pools(at, event),
            Event::MemoryStored { .. }
            | Event::MemoryUpdated { .. }
            | Event::MemoryDeleted { .. } => self.evolve_memories(at, event),
            Event::HandoffInitiated { .. }
            | Event::HandoffAccepted { .. }
            | Event::HandoffInputRequested { .. }
            | Event::HandoffInputProvided { .. }
            | Event::HandoffRejected { .. }
            | Event::HandoffCancelled { .. }
            | Event::HandoffCompleted { .. }
            | Event::HandoffExpired { .. }
            | Event::HandoffRemoved { .. } => self.evolve_handoffs(at, event),
            Event::DocumentsIngested { .. } | Event::DocumentsRemoved { .. } => {
                self.evolve_documents(at, event)
            }
            Event::Audited(record) => {
                if !chained {
                    self.audit_head = crate::audit::chain_hash(&self.audit_head, seq, at, record);
                }
                // The window answers queries; what a record covers is checked against
                // the journal itself, so the window does not keep it.
                let mut record = record.clone();
                record.covers = None;
                self.audit.push_back(AuditEntry { seq, at, record });
                self.trim_audit();
            }
        }
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

/// Adds (`on`) or removes one object of `owner` (a document, a live handoff) in
/// per-owner counts.
pub(super) fn count_owned(counts: &mut BTreeMap<String, u64>, owner: Option<&str>, on: bool) {
    count_amount(counts, owner, 1, on);
}

/// Adds (`on`) or removes `n` of `key`'s in `counts` (a key at zero is dropped).
pub(super) fn count_amount(
    counts: &mut BTreeMap<String, u64>,
    key: Option<&str>,
    n: u64,
    on: bool,
) {
    let Some(key) = key else { return };
    if on {
        // Looked up before inserting: the key is copied only for its first object.
        match counts.get_mut(key) {
            Some(count) => *count += n,
            None => {
                counts.insert(key.to_string(), n);
            }
        }
    } else if let Some(count) = counts.get_mut(key) {
        *count = count.saturating_sub(n);
        if *count == 0 {
            counts.remove(key);
        }
    }
}

/// Adds (`on`) or removes document `d` of `owner` in the per-owner document and text
/// counts.
pub(super) fn count_document(
    documents: &mut BTreeMap<String, u64>,
    text: &mut BTreeMap<String, u64>,
    owner: Option<&str>,
    d: &Document,
    on: bool,
) {
    count_owned(documents, owner, on);
    count_amount(text, owner, document_text_bytes(d), on);
}

impl State {
    /// A text of `bytes` kept for `agent`, which wrote it, in the per-agent and (for a
    /// registered agent) per-owner text counts.
    pub(super) fn count_text(&mut self, agent: &str, bytes: u64, on: bool) {
        count_amount(&mut self.text_by_agent, Some(agent), bytes, on);
        let owner = self.agents.get(agent).map(|a| a.owner_id.as_str());
        count_amount(&mut self.text_by_owner, owner, bytes, on);
    }
}

/// Adds the notes of a later change to an object's.
fn add_notes(notes: &mut Option<Box<Notes>>, more: &Option<Box<Notes>>) {
    if let Some(more) = more {
        let old = notes.take().map(|b| *b).unwrap_or_default();
        *notes = old.merged((**more).clone()).boxed();
    }
}
