//! Evolving knowledge documents and their index entries.

use super::count_document;
use crate::events::Event;
use crate::model::DocumentKind;
use crate::state::indexes::document_text;
use crate::state::{State, StoredDocument, document_key};

impl State {
    /// Applies an event about knowledge documents and their index entries.
    pub(super) fn evolve_documents(&mut self, at: u64, event: &Event) {
        let (documents, owner, notes, gated) = match event {
            Event::DocumentsIngested {
                documents,
                owner,
                notes,
                gated,
            } => (documents, owner, notes, gated),
            Event::DocumentsRemoved { kind, ids } => return self.remove_documents(*kind, ids),
            _ => return,
        };
        for (i, d) in documents.iter().enumerate() {
            let key = document_key(d.kind, &d.id);
            let n = match self.documents.get(&key) {
                Some(old) => {
                    count_document(
                        &mut self.documents_by_owner,
                        &mut self.text_by_owner,
                        old.owner.as_deref(),
                        &old.document,
                        false,
                    );
                    if let Some(index) = self.document_index.get_mut(&d.kind)
                        && !self.indexes_deferred
                    {
                        let _ = index.remove(old.n, &document_text(&old.document, old.gated));
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
            count_document(
                &mut self.documents_by_owner,
                &mut self.text_by_owner,
                owner.as_deref(),
                d,
                true,
            );
        }
    }

    /// Removes documents with their index entries.
    fn remove_documents(&mut self, kind: DocumentKind, ids: &[String]) {
        for id in ids {
            let Some(old) = self.documents.remove(&document_key(kind, id)) else {
                continue;
            };
            count_document(
                &mut self.documents_by_owner,
                &mut self.text_by_owner,
                old.owner.as_deref(),
                &old.document,
                false,
            );
            if !self.indexes_deferred {
                if let Some(index) = self.document_index.get_mut(&kind) {
                    let _ = index.remove(old.n, &document_text(&old.document, old.gated));
                }
                self.document_by_n.remove(&old.n);
            }
        }
    }
}
