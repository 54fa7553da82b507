//! The knowledge base: ingest and the three searches.

use super::{Effect, Op};
use crate::bindings::{knowledge, types};
use crate::render::{clip, fields, indent};
use crate::runtime::Runtime;
use crate::wire::{self, Wire, parse};
use clap::Args;
use rmcp::schemars::{self, JsonSchema};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The lines of `content` holding a word of `query` (at most two, each clipped), numbered
/// from `first` (the document's first line in its file, 1 without one).
fn matching_lines(query: &str, content: &str, first: u32) -> Vec<String> {
    let words: Vec<String> = query
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.len() >= 3)
        .map(str::to_lowercase)
        .collect();
    content
        .lines()
        .zip(first..)
        .filter(|(line, _)| {
            let line = line.to_lowercase();
            words.iter().any(|w| line.contains(w.as_str()))
        })
        .take(2)
        .map(|(line, n)| format!("{n}: {}", clip(line.trim(), 100)))
        .collect()
}

/// Search hits as numbered entries: the path (with its line range), the flags of the
/// write gate, and the lines that match the query, else a clipped snippet.
fn hits_text(query: &str, hits: &[knowledge::SearchHit]) -> String {
    if hits.is_empty() {
        return "(no results)".to_string();
    }
    hits.iter()
        .enumerate()
        .map(|(i, h)| {
            let path = h.path.as_deref().map(|p| match h.lines {
                Some(l) => format!("{p}:{}-{}", l.start, l.end),
                None => p.to_string(),
            });
            let first = h.lines.map_or(1, |l| l.start);
            let lines = matching_lines(query, &h.content, first);
            let snippet = if lines.is_empty() {
                clip(&h.content, 100)
            } else {
                lines.join("\n")
            };
            let notes: String = super::memories::notes_rows(&h.notes)
                .into_iter()
                .map(|(k, v)| format!("   {k}: {v}\n"))
                .collect();
            let owner = h
                .owner
                .as_deref()
                .map(|o| format!(", from {o}"))
                .unwrap_or_default();
            format!(
                "{}. {} [{}] {}  (score {:.3}{owner})\n{}{notes}{}",
                i + 1,
                h.id,
                h.kind.wire(),
                h.title,
                h.score,
                path.map(|p| format!("   {p}\n")).unwrap_or_default(),
                indent(&snippet, "   ")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The `{"results": [...]}` answer of the three searches.
fn hits_json(hits: &[knowledge::SearchHit]) -> Value {
    json!({"results": hits.iter().map(wire::hit).collect::<Vec<_>>()})
}

/// Declares one of the knowledge searches.
macro_rules! search {
    (
        $(#[$doc:meta])* $name:ident, $tool:literal, $effect:ident,
        { $($(#[$fm:meta])* $field:ident),* },
        |$this:ident, $c:ident, $s:ident, $caller:ident, $limit:ident| $call:expr
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Deserialize, JsonSchema, Args)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            /// Keywords; code identifiers and paths are understood.
            #[arg(value_name = "QUERY")]
            pub query: String,
            $($(#[$fm])* pub $field: Option<String>,)*
            /// At most this many results (1..=100, default 10).
            #[arg(long)]
            pub limit: Option<u32>,
        }

        impl Op for $name {
            const TOOL: &'static str = $tool;
            const EFFECT: Effect = Effect::$effect;
            type Out = Vec<knowledge::SearchHit>;
            fn call(&self, rt: &mut Runtime, $caller: &types::Caller) -> Result<Self::Out, types::Error> {
                let $this = self;
                let $limit = self.limit.unwrap_or(10);
                rt.call(|$c, $s| $call)
            }
            fn json(&self, hits: &Self::Out) -> Value {
                hits_json(hits)
            }
            fn text(&self, hits: &Self::Out) -> String {
                hits_text(&self.query, hits)
            }
        }
    };
}

search!(
    /// Search the code knowledge base (ranked; understands camelCase, snake_case and
    /// paths), optionally within one service.
    SearchCodeKb, "search_code_kb", Read,
    {
        /// Only this service.
        #[arg(long = "service")]
        service_filter
    },
    |op, c, s, caller, limit| c.maas_core_knowledge().call_search_code(
        s, caller, &op.query, op.service_filter.as_deref(), limit
    )
);

search!(
    /// Search architecture decisions (ranked), optionally within one topic.
    SearchDecisions, "search_decisions", Read,
    {
        /// Only this topic.
        #[arg(long = "topic")]
        topic_filter
    },
    |op, c, s, caller, limit| c.maas_core_knowledge().call_search_decisions(
        s, caller, &op.query, op.topic_filter.as_deref(), limit
    )
);

search!(
    /// Search incident reports (ranked), optionally by service and severity.
    SearchIncidents, "search_incidents", Read,
    {
        /// Only this service.
        #[arg(long = "service")]
        service_filter,
        /// Only this severity, e.g. `sev1`.
        #[arg(long = "severity")]
        severity_filter
    },
    |op, c, s, caller, limit| c.maas_core_knowledge().call_search_incidents(
        s, caller, &op.query, op.service_filter.as_deref(), op.severity_filter.as_deref(), limit
    )
);

/// One knowledge document.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DocumentArg {
    /// `code`, `decision` or `incident`.
    pub kind: String,
    /// Unique within its kind; ingesting the same id again replaces it.
    pub id: String,
    /// A title (at most 512 bytes).
    pub title: String,
    /// The text (at most 256 KiB).
    pub content: String,
    /// The service (code and incidents).
    pub service: Option<String>,
    /// The file path (code), without a line range.
    pub path: Option<String>,
    /// The first line of `path` the content was taken from (code; 1 is the first line
    /// of the file). Given with `line_end` or not at all.
    pub line_start: Option<u32>,
    /// The last line of `path` the content was taken from, at least `line_start`.
    pub line_end: Option<u32>,
    /// The topic (decisions).
    pub topic: Option<String>,
    /// The severity (incidents), e.g. `sev1`.
    pub severity: Option<String>,
}

/// Ingest knowledge documents (code, decision, incident); the same kind and id replaces.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IngestDocuments {
    /// Up to 1000 documents, stored all or none.
    pub documents: Vec<DocumentArg>,
}

impl IngestDocuments {
    /// The documents as the core's records; a bad kind names its index.
    pub fn documents(&self) -> Result<Vec<knowledge::Document>, types::Error> {
        self.documents
            .iter()
            .enumerate()
            .map(|(i, d)| {
                Ok(knowledge::Document {
                    kind: parse(&format!("documents[{i}].kind"), &d.kind)?,
                    id: d.id.clone(),
                    title: d.title.clone(),
                    content: d.content.clone(),
                    service: d.service.clone(),
                    path: d.path.clone(),
                    topic: d.topic.clone(),
                    severity: d.severity.clone(),
                    lines: lines(i, d.line_start, d.line_end)?,
                })
            })
            .collect()
    }
}

/// The line range of document `i` from its two ends, which go together (the core
/// checks that they count from 1 and do not run backwards).
fn lines(
    i: usize,
    start: Option<u32>,
    end: Option<u32>,
) -> Result<Option<knowledge::LineRange>, types::Error> {
    match (start, end) {
        (Some(start), Some(end)) => Ok(Some(knowledge::LineRange { start, end })),
        (None, None) => Ok(None),
        (Some(_), None) | (None, Some(_)) => Err(types::Error::InvalidInput(types::InvalidInfo {
            field: format!(
                "documents[{i}].{}",
                if start.is_some() {
                    "line_end"
                } else {
                    "line_start"
                }
            ),
            reason: "line_start and line_end are given together or not at all".into(),
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippets_are_the_matching_lines_numbered_in_their_file() {
        let content =
            "/// Sums the items.\npub fn total(&self) -> u64 {\n    self.items.iter().sum()\n}";
        assert_eq!(
            matching_lines("sum items", content, 10),
            vec!["10: /// Sums the items.", "12: self.items.iter().sum()"]
        );
        assert!(matching_lines("zebra", content, 1).is_empty());
    }
}

impl Op for IngestDocuments {
    const TOOL: &'static str = "ingest_documents";
    const EFFECT: Effect = Effect::Destructive;
    type Out = u32;
    fn call(&self, rt: &mut Runtime, caller: &types::Caller) -> Result<u32, types::Error> {
        let docs = self.documents()?;
        rt.call(|c, s| c.maas_core_knowledge().call_ingest(s, caller, &docs))
    }
    fn json(&self, n: &u32) -> Value {
        json!({"status": "ingested", "ingested": n})
    }
    fn text(&self, n: &u32) -> String {
        fields(&[("ingested", n.to_string())])
    }
}

/// Remove knowledge documents of one kind by id; ids not stored are passed over.
#[derive(Debug, Clone, Deserialize, JsonSchema, Args)]
#[serde(deny_unknown_fields)]
pub struct RemoveDocuments {
    /// `code`, `decision` or `incident`.
    #[arg(long, value_parser = super::wire_str::<knowledge::DocumentKind>())]
    pub kind: String,
    /// Up to 1000 ids of that kind.
    #[arg(value_name = "ID", required = true)]
    pub ids: Vec<String>,
}

/// What a removal did: how many documents went, and the ingest manifests of the data
/// directory it could not update (each with what went wrong).
#[derive(Debug, Clone, PartialEq)]
pub struct Removed {
    /// Documents removed.
    pub removed: u32,
    /// Manifests that still list a removed document: `kb ingest-repo` counts it
    /// unchanged until run with `--full`.
    pub manifests_not_updated: Vec<String>,
}

impl Op for RemoveDocuments {
    const TOOL: &'static str = "remove_documents";
    const EFFECT: Effect = Effect::Destructive;
    type Out = Removed;
    fn call(&self, rt: &mut Runtime, caller: &types::Caller) -> Result<Removed, types::Error> {
        let kind = parse("kind", &self.kind)?;
        let removed = rt.call(|c, s| {
            c.maas_core_knowledge()
                .call_remove(s, caller, kind, &self.ids)
        })?;
        // What `kb ingest-repo` remembers storing is no longer there: it sends it again.
        let manifests_not_updated = match rt.ingest_manifests() {
            Some(dir) if removed > 0 => crate::ingest::manifest::forget(dir, &self.kind, &self.ids),
            _ => Vec::new(),
        };
        Ok(Removed {
            removed,
            manifests_not_updated,
        })
    }
    fn json(&self, out: &Removed) -> Value {
        let mut v = serde_json::Map::new();
        v.insert("status".into(), json!("removed"));
        v.insert("removed".into(), json!(out.removed));
        if !out.manifests_not_updated.is_empty() {
            v.insert(
                "manifests_not_updated".into(),
                json!(out.manifests_not_updated),
            );
        }
        Value::Object(v)
    }
    fn text(&self, out: &Removed) -> String {
        let mut text = fields(&[("removed", out.removed.to_string())]);
        if !out.manifests_not_updated.is_empty() {
            text.push_str(&format!(
                "\nNot noted in an ingest manifest ({}): a `kb ingest-repo` of that \
                 repository counts them unchanged until run with --full.",
                out.manifests_not_updated.join("; ")
            ));
        }
        text
    }
}
