//! Evolving memories and their index entries.

use crate::events::Event;
use crate::state::indexes::memory_text;
use crate::state::{Memory, State, memory_text_bytes};
use std::collections::BTreeSet;

impl State {
    /// Applies an event about memories and their index entries.
    pub(super) fn evolve_memories(&mut self, at: u64, event: &Event) {
        match event {
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
                self.count_text(author, memory_text_bytes(content, tags), true);
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
                let sizes = self.memories.get(id).map(|m| {
                    let old = memory_text_bytes(&m.content, &m.tags);
                    (m.author.clone(), old, memory_text_bytes(content, tags))
                });
                if let Some((author, old, new)) = sizes {
                    self.count_text(&author, old, false);
                    self.count_text(&author, new, true);
                }
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
                    self.count_text(&m.author, memory_text_bytes(&m.content, &m.tags), false);
                    for pool_id in &m.pools {
                        if let Some(p) = self.pools.get_mut(pool_id) {
                            p.remove_share(id);
                        }
                    }
                    if !self.indexes_deferred {
                        let _ = self.memory_index.remove(m.n, &memory_text(&m));
                    }
                    self.memory_by_n.remove(&m.n);
                    self.grants.remove(id);
                }
            }
            _ => {}
        }
    }
}
