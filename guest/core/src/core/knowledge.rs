//! `Core` operations on the knowledge base.

use crate::core::Core;
use crate::engine::Env;
use crate::error::Result;
use crate::journal::Journal;
use crate::knowledge::{self, Filters, SearchHit};
use crate::model::{Caller, DocumentKind};
use crate::state::{Document, StoredDocument};

impl<J: Journal, E: Env> Core<J, E> {
    /// Ingests documents. The costliest change to decide (every text is examined for
    /// secrets and injection, up to `MAX_INGEST_BYTES`): its texts are paid for from the
    /// owner's byte budget before that, refused or not, and refused while it is spent.
    pub fn ingest(&mut self, caller: &Caller, documents: &[Document]) -> Result<u32> {
        let bytes = documents
            .iter()
            .map(|d| d.title.len() + d.content.len())
            .fold(0usize, usize::saturating_add);
        self.engine.pay_ahead(caller, bytes)?;
        self.engine.run(caller, "knowledge.ingest", None, |s, cx| {
            knowledge::ingest(s, cx, documents)
        })
    }

    /// Removes documents of one kind.
    pub fn remove_documents(
        &mut self,
        caller: &Caller,
        kind: DocumentKind,
        ids: &[String],
    ) -> Result<u32> {
        self.engine.run(caller, "knowledge.remove", None, |s, cx| {
            knowledge::remove(s, cx, kind, ids)
        })
    }

    /// Returns a document.
    pub fn get_document(
        &mut self,
        caller: &Caller,
        kind: DocumentKind,
        id: &str,
    ) -> Result<StoredDocument> {
        self.engine.run(caller, "knowledge.get", Some(id), |s, cx| {
            knowledge::get(s, cx, kind, id)
        })
    }

    /// Searches one kind of document.
    pub fn search_documents(
        &mut self,
        caller: &Caller,
        kind: DocumentKind,
        query: &str,
        filters: &Filters,
        limit: u32,
    ) -> Result<Vec<SearchHit>> {
        self.search_indexes()?;
        self.engine.run(caller, "knowledge.search", None, |s, cx| {
            knowledge::search(s, cx, kind, query, filters, limit)
        })
    }
}
