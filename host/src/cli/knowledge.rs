//! `maas kb …`: the knowledge base of code, decisions and incidents.

use super::output::{Rendered, clip, fields, indent, or_dash, rfc3339};
use super::wire::choice;
use super::{CliError, Ctx, text_arg};
use crate::knowledge;
use crate::wire::Wire;
use clap::Subcommand;
use serde::Deserialize;
use serde_json::{Value, json};
use std::path::PathBuf;

/// Most documents the core ingests in one call.
const INGEST_BATCH: usize = 1000;

/// Knowledge verbs.
#[derive(Debug, Clone, Subcommand)]
pub enum KbCmd {
    /// Ingest documents from a file: a JSON array, or JSON objects one after another
    /// (JSON lines), each {kind, id, title, content, service?, path?, topic?, severity?}.
    /// `-` reads stdin. Batches of 1000 are each stored all or none; an existing id of
    /// the same kind is replaced.
    Ingest {
        /// The file, or `-` for stdin.
        file: PathBuf,
    },
    /// Show a document.
    Get {
        /// The document's kind.
        #[arg(long, value_parser = choice::<knowledge::DocumentKind>())]
        kind: knowledge::DocumentKind,
        /// The document id.
        id: String,
    },
    /// Search code (needs kb_search).
    SearchCode {
        /// The query.
        query: String,
        /// Only this service.
        #[arg(long)]
        service: Option<String>,
        /// At most this many results (1..=100).
        #[arg(long, default_value_t = 10)]
        limit: u32,
    },
    /// Search architecture decisions (needs decision_read).
    SearchDecisions {
        /// The query.
        query: String,
        /// Only this topic.
        #[arg(long)]
        topic: Option<String>,
        /// At most this many results (1..=100).
        #[arg(long, default_value_t = 10)]
        limit: u32,
    },
    /// Search incidents (needs incident_read).
    SearchIncidents {
        /// The query.
        query: String,
        /// Only this service.
        #[arg(long)]
        service: Option<String>,
        /// Only this severity.
        #[arg(long)]
        severity: Option<String>,
        /// At most this many results (1..=100).
        #[arg(long, default_value_t = 10)]
        limit: u32,
    },
}

/// One document as written in an ingest file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DocumentInput {
    kind: String,
    id: String,
    title: String,
    content: String,
    service: Option<String>,
    path: Option<String>,
    topic: Option<String>,
    severity: Option<String>,
}

fn bad_file(message: String) -> CliError {
    CliError::Local {
        message,
        code: "invalid_input",
        hint: Some(
            "each document is {\"kind\": \"code|decision|incident\", \"id\", \"title\", \"content\", optional service, path, topic, severity}"
                .to_string(),
        ),
    }
}

/// Parses an ingest file: a JSON array, or a stream of JSON objects.
fn parse_documents(text: &str) -> Result<Vec<knowledge::Document>, CliError> {
    let inputs: Vec<DocumentInput> = if text.trim_start().starts_with('[') {
        serde_json::from_str(text)
            .map_err(|e| bad_file(format!("the document array does not parse: {e}")))?
    } else {
        serde_json::Deserializer::from_str(text)
            .into_iter::<DocumentInput>()
            .enumerate()
            .map(|(i, r)| {
                r.map_err(|e| bad_file(format!("document {} does not parse: {e}", i + 1)))
            })
            .collect::<Result<_, _>>()?
    };
    inputs
        .into_iter()
        .enumerate()
        .map(|(i, d)| {
            let kind = match d.kind.as_str() {
                "code" => knowledge::DocumentKind::Code,
                "decision" => knowledge::DocumentKind::Decision,
                "incident" => knowledge::DocumentKind::Incident,
                other => {
                    return Err(bad_file(format!(
                        "document {} has kind '{other}'; choose from code, decision, incident",
                        i + 1
                    )));
                }
            };
            Ok(knowledge::Document {
                kind,
                id: d.id,
                title: d.title,
                content: d.content,
                service: d.service,
                path: d.path,
                topic: d.topic,
                severity: d.severity,
            })
        })
        .collect()
}

fn read_file(file: &PathBuf) -> Result<String, CliError> {
    if file.as_os_str() == "-" {
        return text_arg("-".to_string(), "documents");
    }
    std::fs::read_to_string(file).map_err(|e| {
        CliError::io(
            format!("cannot read {}: {e}", file.display()),
            "pass a readable UTF-8 file, or - for stdin",
        )
    })
}

fn hits_rendered(query: &str, hits: &[knowledge::SearchHit]) -> Rendered {
    let results: Vec<Value> = hits.iter().map(crate::wire::hit).collect();
    let text = if hits.is_empty() {
        "(no results)".to_string()
    } else {
        hits.iter()
            .enumerate()
            .map(|(i, h)| {
                format!(
                    "{}. {} [{}] {}  (score {:.3})\n{}",
                    i + 1,
                    h.id,
                    h.kind.wire(),
                    h.title,
                    h.score,
                    indent(&clip(&h.content, 100), "   ")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    Rendered::new(json!({"query": query, "results": results}), text)
}

/// Runs a knowledge verb.
pub fn run(cmd: KbCmd, ctx: &mut Ctx) -> Result<Rendered, CliError> {
    match cmd {
        KbCmd::Ingest { file } => {
            let docs = parse_documents(&read_file(&file)?)?;
            let mut stored = 0u64;
            for batch in docs.chunks(INGEST_BATCH) {
                let n = ctx.call(|c, s, who| c.maas_core_knowledge().call_ingest(s, who, batch))?;
                stored += u64::from(n);
            }
            Ok(Rendered::new(
                json!({"ingested": stored, "status": "ingested"}),
                fields(&[("ingested", stored.to_string())]),
            ))
        }
        KbCmd::Get { kind, id } => {
            let d = ctx.call(|c, s, who| c.maas_core_knowledge().call_get(s, who, kind, &id))?;
            let doc = &d.document;
            Ok(Rendered::new(
                crate::wire::document(&d),
                fields(
                    &[
                        ("id", doc.id.clone()),
                        ("kind", doc.kind.wire().to_string()),
                        ("title", doc.title.clone()),
                        ("service", or_dash(doc.service.as_deref())),
                        ("path", or_dash(doc.path.as_deref())),
                        ("topic", or_dash(doc.topic.as_deref())),
                        ("severity", or_dash(doc.severity.as_deref())),
                        ("ingested_at", rfc3339(d.ingested_at)),
                    ]
                    .into_iter()
                    .chain(crate::cli::memories::notes_rows(&d.notes))
                    .chain([("content", doc.content.clone())])
                    .collect::<Vec<_>>(),
                ),
            ))
        }
        KbCmd::SearchCode {
            query,
            service,
            limit,
        } => {
            let hits = ctx.call(|c, s, who| {
                c.maas_core_knowledge()
                    .call_search_code(s, who, &query, service.as_deref(), limit)
            })?;
            Ok(hits_rendered(&query, &hits))
        }
        KbCmd::SearchDecisions {
            query,
            topic,
            limit,
        } => {
            let hits = ctx.call(|c, s, who| {
                c.maas_core_knowledge().call_search_decisions(
                    s,
                    who,
                    &query,
                    topic.as_deref(),
                    limit,
                )
            })?;
            Ok(hits_rendered(&query, &hits))
        }
        KbCmd::SearchIncidents {
            query,
            service,
            severity,
            limit,
        } => {
            let hits = ctx.call(|c, s, who| {
                c.maas_core_knowledge().call_search_incidents(
                    s,
                    who,
                    &query,
                    service.as_deref(),
                    severity.as_deref(),
                    limit,
                )
            })?;
            Ok(hits_rendered(&query, &hits))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ingest_files_are_arrays_or_json_lines() {
        let line = r#"{"kind":"code","id":"a","title":"A","content":"fn a() {}","service":"auth"}"#;
        let lines = format!("{line}\n{}\n", line.replace("\"a\"", "\"b\""));
        let docs = parse_documents(&lines).map_err(|e| e.message());
        assert_eq!(docs.map(|d| d.len()), Ok(2));
        let array = format!("[{line}]");
        let docs = parse_documents(&array).map_err(|e| e.message());
        assert_eq!(docs.map(|d| d.len()), Ok(1));
    }

    #[test]
    fn ingest_files_name_the_bad_document() {
        let text = r#"{"kind":"code","id":"a","title":"A","content":"x"}
{"kind":"recipe","id":"b","title":"B","content":"y"}"#;
        let err = parse_documents(text)
            .err()
            .map(|e| e.message())
            .unwrap_or_default();
        assert!(err.contains("document 2 has kind 'recipe'"), "{err}");
    }
}
