//! The knowledge base: ingest documents, and the three filtered, ranked searches.

use crate::access::{caller_agent, require, require_caller};
use crate::engine::{Cx, Decided, Done, Refusal, record};
use crate::error::Error;
use crate::events::Event;
use crate::guard::{Guard, Notes};
use crate::limits::{
    MAX_DOCUMENT, MAX_DOCUMENTS, MAX_FILTER, MAX_INGEST_BYTES, MAX_TITLE, check_id, check_limit,
    check_query, check_text,
};
use crate::model::{Capability, DocumentKind};
use crate::security;
use crate::state::{Document, Lines, State, StoredDocument, document_key, document_text_bytes};
use serde_json::json;
use std::collections::BTreeSet;

/// A ranked document.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchHit {
    /// Id.
    pub id: String,
    /// Kind.
    pub kind: DocumentKind,
    /// Title.
    pub title: String,
    /// Content, secrets redacted.
    pub content: String,
    /// The file path (code).
    pub path: Option<String>,
    /// The lines of the file the content was taken from (code).
    pub lines: Option<Lines>,
    /// BM25 score.
    pub score: f64,
    /// What the write gate redacted and flagged when the document was ingested.
    pub notes: Notes,
    /// JSON object of the filter fields and title.
    pub metadata: String,
    /// The owner whose agent ingested it; `None` when the operator did.
    pub owner: Option<String>,
}

/// Exact-match filters applied before ranking (case-insensitive).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filters {
    /// Service (code, incidents).
    pub service: Option<String>,
    /// Topic (decisions).
    pub topic: Option<String>,
    /// Severity (incidents).
    pub severity: Option<String>,
}

fn check_optional(field: &str, value: &Option<String>) -> Result<(), Refusal> {
    if let Some(v) = value {
        check_text(field, v, MAX_FILTER, true)?;
    }
    Ok(())
}

fn check_document(i: usize, d: &Document) -> Result<(), Refusal> {
    let f = |name: &str| format!("documents[{i}].{name}");
    check_id(&f("id"), &d.id)?;
    check_text(&f("title"), &d.title, MAX_TITLE, true)?;
    check_text(&f("content"), &d.content, MAX_DOCUMENT, true)?;
    check_optional(&f("service"), &d.service)?;
    check_optional(&f("path"), &d.path)?;
    check_optional(&f("topic"), &d.topic)?;
    check_optional(&f("severity"), &d.severity)?;
    if let Some(lines) = d.lines {
        check_lines(&f("lines"), lines)?;
    }
    Ok(())
}

/// A line range counts from line 1 and does not end before it starts.
pub fn check_lines(field: &str, lines: Lines) -> Result<(), Error> {
    if lines.start == 0 {
        return Err(Error::invalid(
            field,
            "lines are numbered from 1; start is 0",
        ));
    }
    if lines.start > lines.end {
        return Err(Error::invalid(
            field,
            format!("start {} is after end {}", lines.start, lines.end),
        ));
    }
    Ok(())
}

/// The document as stored: every text through the write gate.
fn guarded(i: usize, d: &Document, guard: &mut Guard) -> Result<Document, Refusal> {
    let f = |name: &str| format!("documents[{i}].{name}");
    guard.id(&f("id"), &d.id)?;
    Ok(Document {
        kind: d.kind,
        id: d.id.clone(),
        title: guard.text(&f("title"), &d.title)?,
        content: guard.text(&f("content"), &d.content)?,
        service: guard.optional(&f("service"), d.service.as_deref())?,
        path: guard.optional(&f("path"), d.path.as_deref())?,
        topic: guard.optional(&f("topic"), d.topic.as_deref())?,
        severity: guard.optional(&f("severity"), d.severity.as_deref())?,
        lines: d.lines,
    })
}

/// Decides `ingest`.
pub fn ingest(s: &State, cx: &mut Cx, documents: &[Document]) -> Decided<u32> {
    let agent = caller_agent(s, cx.caller)?;
    if let Some(agent) = agent {
        require(agent, Capability::MemoryWrite)?;
        // A kind the agent may not read it may not write either: a replacement refused
        // as another owner's told it that an incident existed, and whose.
        for d in documents {
            require(agent, d.kind.capability())?;
        }
    }
    let owner = agent.map(|a| a.owner_id.clone());
    if documents.len() > MAX_DOCUMENTS {
        return Err(
            Error::invalid("documents", format!("at most {MAX_DOCUMENTS} per call")).into(),
        );
    }
    let total: usize = documents
        .iter()
        .map(|d| d.title.len() + d.content.len())
        .sum();
    if total > MAX_INGEST_BYTES {
        return Err(Error::invalid(
            "documents",
            format!("at most {MAX_INGEST_BYTES} bytes of text per call ({total} given); ingest in smaller batches"),
        )
        .into());
    }
    let mut new_keys = BTreeSet::new();
    // Text of the documents the batch replaces, for the owner's share of text.
    let mut replaced = 0;
    for (i, d) in documents.iter().enumerate() {
        check_document(i, d)?;
        let key = document_key(d.kind, &d.id);
        match s.documents.get(&key) {
            None => {
                new_keys.insert(key);
            }
            // Another owner's document is theirs; the operator may replace any.
            // Named by its place, so a caller (`kb ingest-repo`) can leave it out and
            // send the rest again.
            Some(old) if agent.is_some() && old.owner != owner => {
                return Err(Refusal::audited(Error::denied(format!(
                    "documents[{i}]: {} document {} belongs to another owner and cannot be replaced",
                    d.kind, d.id
                ))));
            }
            Some(old) => replaced += document_text_bytes(&old.document),
        }
    }
    if (s.documents.len() + new_keys.len()) as u64 > cx.limits.documents {
        return Err(Error::capacity("documents", cx.limits.documents).into());
    }
    if let Some(owner) = &owner {
        let held = s.documents_by_owner.get(owner).copied().unwrap_or(0);
        if held + new_keys.len() as u64 > cx.limits.documents_per_owner {
            return Err(
                Error::capacity("documents-per-owner", cx.limits.documents_per_owner).into(),
            );
        }
        let added: u64 = documents.iter().map(document_text_bytes).sum();
        crate::memories::check_owner_text(s, cx, owner, replaced, added)?;
    }
    let ids: Vec<String> = documents
        .iter()
        .map(|d| document_key(d.kind, &d.id))
        .collect();
    let count = u32::try_from(documents.len()).unwrap_or(u32::MAX);
    let mut guard = Guard::for_documents();
    let mut stored = Vec::with_capacity(documents.len());
    let mut notes = Vec::new();
    for (i, d) in documents.iter().enumerate() {
        guard.reset();
        // Source code quotes attacks as data (tests of an injection filter, say): it is
        // stored flagged. Every other kind is prose an agent may follow, and refused.
        guard.quoting(d.kind == DocumentKind::Code);
        stored.push(guarded(i, d, &mut guard)?);
        // A stored flag names the document's own field: its place in this batch means
        // nothing to a reader.
        let mut n = guard.notes();
        let batch_place = format!("documents[{i}].");
        for flag in &mut n.flags {
            if let Some(field) = flag.strip_prefix(&batch_place) {
                *flag = field.to_string();
            }
        }
        if !n.is_empty() {
            notes.push((i, n));
        }
    }
    let flagged: Vec<&String> = notes
        .iter()
        .filter(|(_, n)| !n.flags.is_empty())
        .filter_map(|(i, _)| ids.get(*i))
        .collect();
    let redacted: Vec<&String> = notes
        .iter()
        .filter(|(_, n)| !n.redacted.is_empty())
        .filter_map(|(i, _)| ids.get(*i))
        .collect();
    Ok(Done::change(
        vec![
            Event::DocumentsIngested {
                documents: stored,
                owner,
                notes,
                gated: true,
            },
            Event::Audited(record(
                cx.caller.name(),
                "knowledge.ingested",
                None,
                json!({ "ids": ids, "redacted": redacted, "flagged": flagged }),
            )),
        ],
        count,
    ))
}

/// Decides `remove`: the documents of `kind` with these ids that exist are removed,
/// under the rule that replaces them (memory-write and the kind's read capability; an
/// agent only its owner's).
pub fn remove(s: &State, cx: &mut Cx, kind: DocumentKind, ids: &[String]) -> Decided<u32> {
    let agent = caller_agent(s, cx.caller)?;
    if let Some(agent) = agent {
        require(agent, Capability::MemoryWrite)?;
        require(agent, kind.capability())?;
    }
    let owner = agent.map(|a| a.owner_id.clone());
    if ids.len() > MAX_DOCUMENTS {
        return Err(Error::invalid("ids", format!("at most {MAX_DOCUMENTS} per call")).into());
    }
    let mut removed = Vec::new();
    let mut seen = BTreeSet::new();
    for (i, id) in ids.iter().enumerate() {
        check_id(&format!("ids[{i}]"), id)?;
        match s.documents.get(&document_key(kind, id)) {
            None => {}
            Some(old) if agent.is_some() && old.owner != owner => {
                return Err(Refusal::audited(Error::denied(format!(
                    "{kind} document {id} belongs to another owner and cannot be removed"
                ))));
            }
            Some(_) if seen.insert(id.as_str()) => removed.push(id.clone()),
            Some(_) => {}
        }
    }
    if removed.is_empty() {
        return Ok(Done::nothing(0));
    }
    let keys: Vec<String> = removed.iter().map(|id| document_key(kind, id)).collect();
    let count = u32::try_from(removed.len()).unwrap_or(u32::MAX);
    Ok(Done::change(
        vec![
            Event::DocumentsRemoved { kind, ids: removed },
            Event::Audited(record(
                cx.caller.name(),
                "knowledge.removed",
                None,
                json!({ "ids": keys }),
            )),
        ],
        count,
    ))
}

/// Decides `get`.
pub fn get(s: &State, cx: &mut Cx, kind: DocumentKind, id: &str) -> Decided<StoredDocument> {
    require_caller(s, cx.caller, kind.capability())?;
    check_id("id", id)?;
    let key = document_key(kind, id);
    let doc = s
        .documents
        .get(&key)
        .ok_or_else(|| Error::not_found(&format!("{kind} document"), id))?;
    let doc = StoredDocument {
        document: shown(doc).into_owned(),
        ..doc.clone()
    };
    Ok(Done::read(
        record(cx.caller.name(), "knowledge.read", Some(&key), json!({})),
        doc,
    ))
}

fn matches(filter: &Option<String>, value: &Option<String>) -> bool {
    match filter {
        None => true,
        Some(f) => value.as_ref().is_some_and(|v| v.eq_ignore_ascii_case(f)),
    }
}

/// The document as readers see it: as stored when it passed the write gate, else with
/// secrets redacted in every text field.
fn shown(d: &StoredDocument) -> std::borrow::Cow<'_, Document> {
    if d.gated {
        std::borrow::Cow::Borrowed(&d.document)
    } else {
        std::borrow::Cow::Owned(redacted(&d.document))
    }
}

/// The document with secrets redacted in every text field, not just the content.
fn redacted(d: &Document) -> Document {
    let field = |f: &Option<String>| f.as_deref().map(security::redact_secrets);
    Document {
        kind: d.kind,
        id: d.id.clone(),
        title: security::redact_secrets(&d.title),
        content: security::redact_secrets(&d.content),
        service: field(&d.service),
        path: field(&d.path),
        topic: field(&d.topic),
        severity: field(&d.severity),
        lines: d.lines,
    }
}

fn metadata(d: &Document) -> String {
    let mut m = serde_json::Map::new();
    m.insert("title".into(), json!(d.title));
    for (name, value) in [
        ("service", &d.service),
        ("path", &d.path),
        ("topic", &d.topic),
        ("severity", &d.severity),
    ] {
        if let Some(v) = value {
            m.insert(name.into(), json!(v));
        }
    }
    serde_json::Value::Object(m).to_string()
}

/// Decides a search of one kind.
pub fn search(
    s: &State,
    cx: &mut Cx,
    kind: DocumentKind,
    query: &str,
    filters: &Filters,
    limit: u32,
) -> Decided<Vec<SearchHit>> {
    require_caller(s, cx.caller, kind.capability())?;
    check_query(query)?;
    let limit = check_limit(limit)?;
    check_optional("service_filter", &filters.service)?;
    check_optional("topic_filter", &filters.topic)?;
    check_optional("severity_filter", &filters.severity)?;
    let doc = |n: u64| s.document_by_n.get(&n).and_then(|key| s.documents.get(key));
    let allowed = |n: u64| {
        doc(n).is_some_and(|d| {
            let d = &d.document;
            matches(&filters.service, &d.service)
                && matches(&filters.topic, &d.topic)
                && matches(&filters.severity, &d.severity)
        })
    };
    let hits: Vec<SearchHit> = match s.document_index.get(&kind) {
        None => Vec::new(),
        Some(index) => {
            let filtered;
            let unfiltered =
                filters.service.is_none() && filters.topic.is_none() && filters.severity.is_none();
            let allowed = if unfiltered {
                index.docs()
            } else {
                filtered = index.filter(allowed);
                &filtered
            };
            index.search(query, limit, allowed)
        }
        .into_iter()
        .filter_map(|(n, score)| {
            let stored = doc(n)?;
            let d = &shown(stored);
            Some(SearchHit {
                id: d.id.clone(),
                kind,
                title: d.title.clone(),
                content: d.content.clone(),
                path: d.path.clone(),
                lines: d.lines,
                score,
                notes: stored.notes.as_deref().cloned().unwrap_or_default(),
                metadata: metadata(d),
                owner: stored.owner.clone(),
            })
        })
        .collect(),
    };
    let ids: Vec<&str> = hits.iter().map(|h| h.id.as_str()).collect();
    let analysis = security::analyze_query(query);
    let rec = record(
        cx.caller.name(),
        "knowledge.searched",
        None,
        json!({"kind": kind.as_str(), "ids": ids, "query_score": analysis.score, "query_flags": analysis.reasons}),
    );
    Ok(Done::read(rec, hits))
}
