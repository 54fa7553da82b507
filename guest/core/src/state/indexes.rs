//! The search indexes and read-access bitmaps derived from the state: what each memory
//! and document is indexed under, and building them in bulk.

use super::evolve::{count_amount, count_document, count_owned};
use super::{Memory, State, StoredDocument, memory_text_bytes};
use crate::events::Document;
use crate::search::Index;
use crate::visibility::Visibility;
use std::collections::{BTreeMap, HashMap};

/// The text a memory is indexed under. Secrets are redacted (the write gate did it for
/// a gated memory), so a search cannot confirm a guessed key that readers are never shown.
pub(super) fn memory_text(m: &Memory) -> String {
    redacted_unless(m.gated, format!("{} {}", m.content, m.tags.join(" ")))
}

/// The text a document is indexed under (redacted as [`memory_text`] is).
pub(super) fn document_text(d: &Document, gated: bool) -> String {
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

    /// Rebuilds what reads and quotas need: per-owner document counts and the
    /// read-access bitmaps.
    pub fn rebuild_access(&mut self) {
        self.count_per_owner();
        self.visibility = Visibility::build(self);
        self.access_deferred = false;
    }

    /// Rebuilds the per-owner counts: documents, text (memories, documents and the
    /// parties' parts of handoffs), and live handoffs by the owner of their source.
    pub fn count_per_owner(&mut self) {
        let mut by_author: HashMap<&str, u64> = HashMap::new();
        for m in self.memories.values() {
            *by_author.entry(m.author.as_str()).or_default() +=
                memory_text_bytes(&m.content, &m.tags);
        }
        let by_author = by_author
            .into_iter()
            .map(|(author, bytes)| (author.to_string(), bytes))
            .collect();
        self.count_per_owner_with(by_author);
    }

    /// [`State::count_per_owner`], given the bytes of memory text by author (a restore
    /// sums them as it decodes each memory, while it is at hand: walking a million
    /// memories again afterwards cost 0.18 s, one cache miss or two each).
    pub fn count_per_owner_with(&mut self, memory_text_by_author: HashMap<String, u64>) {
        let mut by_agent = memory_text_by_author;
        for h in self.handoffs.values() {
            let (source, target) = h.text_bytes();
            for (agent, bytes) in [(&h.source, source), (&h.target, target)] {
                match by_agent.get_mut(agent) {
                    Some(held) => *held += bytes,
                    None => {
                        by_agent.insert(agent.clone(), bytes);
                    }
                }
            }
        }
        self.documents_by_owner.clear();
        self.text_by_owner.clear();
        for d in self.documents.values() {
            count_document(
                &mut self.documents_by_owner,
                &mut self.text_by_owner,
                d.owner.as_deref(),
                &d.document,
                true,
            );
        }
        self.text_by_agent = by_agent
            .into_iter()
            .filter(|(_, bytes)| *bytes > 0)
            .collect();
        for (agent, bytes) in &self.text_by_agent {
            let owner = self.agents.get(agent).map(|a| a.owner_id.as_str());
            count_amount(&mut self.text_by_owner, owner, *bytes, true);
        }
        self.handoffs_by_owner.clear();
        let live = self.handoffs.values().filter(|h| !h.status.is_terminal());
        for h in live {
            if let Some(agent) = self.agents.get(&h.source) {
                count_owned(&mut self.handoffs_by_owner, Some(&agent.owner_id), true);
            }
        }
    }

    /// Leaves the read-access bitmaps to the first operation
    /// ([`State::end_deferred_access`]): until then events do not maintain them.
    pub fn defer_access(&mut self) {
        self.visibility = Visibility::default();
        self.access_deferred = true;
    }

    /// Builds the read-access bitmaps if they were left for later, and maintains them
    /// event by event again. Every operation calls it before deciding.
    pub fn end_deferred_access(&mut self) {
        if std::mem::take(&mut self.access_deferred) {
            self.visibility = Visibility::build(self);
        }
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
}
