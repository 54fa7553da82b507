//! Read models more than one noun returns: what a reader is shown of an object.

use crate::guard::Notes;
use crate::model::MemoryKind;
use crate::security;
use crate::state::{Memory, State};

/// A memory as returned to a reader.
#[derive(Debug, Clone, PartialEq)]
pub struct MemoryView {
    /// Id.
    pub id: String,
    /// Author.
    pub author: String,
    /// The author's owner, if the author is registered.
    pub owner: Option<String>,
    /// Kind.
    pub kind: MemoryKind,
    /// Content, secrets redacted (by the write gate, or here for a memory written before
    /// it), whoever reads it.
    pub content: String,
    /// Tags.
    pub tags: Vec<String>,
    /// Version.
    pub version: u64,
    /// Creation time.
    pub created_at: u64,
    /// Last change.
    pub updated_at: u64,
    /// Expiry.
    pub expires_at: Option<u64>,
    /// What the write gate redacted or flagged.
    pub notes: Notes,
}

impl MemoryView {
    /// The memory as every reader sees it, in state `s`. New writes are redacted before
    /// they are stored; a memory from a history written before that is redacted here,
    /// for every reader, its author too: a secret is never shown.
    pub fn of(s: &State, m: &Memory) -> Self {
        let (content, tags) = if m.gated || m.notes.is_some() {
            (m.content.clone(), m.tags.clone())
        } else {
            let tags = m.tags.iter().map(|t| security::redact_secrets(t)).collect();
            (security::redact_secrets(&m.content), tags)
        };
        MemoryView {
            id: m.id.clone(),
            author: m.author.clone(),
            owner: s.agents.get(&m.author).map(|a| a.owner_id.clone()),
            kind: m.kind,
            content,
            tags,
            version: m.version,
            created_at: m.created_at,
            updated_at: m.updated_at,
            expires_at: m.expires_at,
            notes: m.notes.as_deref().cloned().unwrap_or_default(),
        }
    }
}
