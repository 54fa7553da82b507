//! `maas kb …`: the knowledge base of code, decisions and incidents.

use super::ingest_repo::{self, IngestRepoArgs};
use super::wire::choice;
use super::{CliError, Ctx};
use crate::knowledge;
use crate::ops::knowledge::{
    DocumentArg, IngestDocuments, RemoveDocuments, SearchCodeKb, SearchDecisions, SearchIncidents,
};
use crate::render::{Rendered, fields, or_dash, rfc3339};
use crate::wire::Wire;
use clap::Subcommand;
use serde_json::json;
use std::path::{Path, PathBuf};

/// Knowledge verbs.
#[derive(Debug, Clone, Subcommand)]
pub enum KbCmd {
    /// Ingest documents from a JSON or JSON-lines file
    ///
    /// The file is a JSON array, or JSON objects one after another (JSON lines), each
    /// {kind, id, title, content, service?, path?, line_start?, line_end?, topic?,
    /// severity?}. `-` reads stdin. Batches of up to 1000 documents and 4 MiB of text are
    /// each stored all or none; an existing id of the same kind is replaced.
    Ingest {
        /// The file, or `-` for stdin.
        file: PathBuf,
    },
    /// Ingest a repository's code, decisions and incidents, sending what changed
    ///
    /// One code document per function, method, type, impl, class
    /// and module doc (Rust, Python, Go, TypeScript, JavaScript), the architecture
    /// decisions under adr/ or decisions/ directories and the incident reports under
    /// postmortems/ or incidents/. Honours .gitignore; skips binaries, vendored and
    /// generated files. A second run sends only what changed and removes the documents
    /// of deleted files (it remembers what it stored in the data directory).
    ///
    /// Acts as the operator, or with --token as that agent (it needs memory_write).
    IngestRepo(IngestRepoArgs),
    /// Remove documents of one kind by id.
    Remove(RemoveDocuments),
    /// Show a document.
    Get {
        /// The document's kind.
        #[arg(long, value_parser = choice::<knowledge::DocumentKind>())]
        kind: knowledge::DocumentKind,
        /// The document id.
        id: String,
    },
    /// Search code (needs kb_search).
    SearchCode(SearchCodeKb),
    /// Ranked search over architecture decisions.
    SearchDecisions(SearchDecisions),
    /// Ranked search over incident reports.
    SearchIncidents(SearchIncidents),
}

fn bad_file(message: String) -> CliError {
    CliError::Local {
        message,
        code: "invalid_input",
        hint: Some(
            "each document is {\"kind\": \"code|decision|incident\", \"id\", \"title\", \"content\", optional service, path, line_start, line_end, topic, severity}"
                .to_string(),
        ),
    }
}

/// Parses an ingest file: a JSON array, or a stream of JSON objects.
fn parse_documents(text: &str) -> Result<Vec<DocumentArg>, CliError> {
    let inputs: Vec<DocumentArg> = if text.trim_start().starts_with('[') {
        serde_json::from_str(text)
            .map_err(|e| bad_file(format!("the document array does not parse: {e}")))?
    } else {
        serde_json::Deserializer::from_str(text)
            .into_iter::<DocumentArg>()
            .enumerate()
            .map(|(i, r)| {
                r.map_err(|e| bad_file(format!("document {} does not parse: {e}", i + 1)))
            })
            .collect::<Result<_, _>>()?
    };
    for (i, d) in inputs.iter().enumerate() {
        if knowledge::DocumentKind::from_wire(&d.kind).is_none() {
            return Err(bad_file(format!(
                "document {} has kind '{}'; choose from code, decision, incident",
                i + 1,
                d.kind
            )));
        }
    }
    Ok(inputs)
}

/// Most bytes of a documents file `kb ingest` reads (`-`, stdin, too): 64 of the core's
/// largest batches ([`maas_core::limits::MAX_INGEST_BYTES`], 4 MiB each), the file
/// being sent a batch at a time. Read to its end, a sparse file of 20 GiB took 3.2 GB of
/// memory in 10 s before it failed to parse.
pub const MAX_DOCUMENTS_FILE_BYTES: u64 = 64 * maas_core::limits::MAX_INGEST_BYTES as u64;

fn read_file(file: &Path) -> Result<String, CliError> {
    read_file_within(file, MAX_DOCUMENTS_FILE_BYTES)
}

/// [`read_file`] of at most `most` bytes.
fn read_file_within(file: &Path, most: u64) -> Result<String, CliError> {
    use std::io::Read;
    let failed = |e: std::io::Error| {
        CliError::io(
            format!("cannot read {}: {e}", file.display()),
            "pass a readable UTF-8 file, or - for stdin",
        )
    };
    let mut bytes = Vec::new();
    if file.as_os_str() == "-" {
        std::io::stdin()
            .lock()
            .take(most + 1)
            .read_to_end(&mut bytes)
            .map_err(failed)?;
    } else {
        // Never waits on a FIFO, nor reads a device, another user put at the name.
        crate::owned::open_input(file)
            .and_then(|f| f.take(most + 1).read_to_end(&mut bytes))
            .map_err(failed)?;
    }
    if bytes.len() as u64 > most {
        return Err(bad_file(format!(
            "{} holds more than {most} bytes of documents; split it into files of at most that \
             size and ingest each",
            file.display()
        )));
    }
    String::from_utf8(bytes).map_err(|_| {
        failed(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "not UTF-8",
        ))
    })
}

/// Runs a knowledge verb.
pub fn run(cmd: KbCmd, dir: &Path, ctx: &mut Ctx) -> Result<Rendered, CliError> {
    match cmd {
        KbCmd::IngestRepo(args) => ingest_repo::run(args, dir, ctx),
        KbCmd::Remove(op) => ctx.run(op),
        KbCmd::Ingest { file } => {
            let docs = parse_documents(&read_file(&file)?)?;
            let mut stored = 0u64;
            for batch in crate::ingest::batches(&docs, maas_core::limits::MAX_DOCUMENTS, |d| {
                d.title.len() + d.content.len()
            }) {
                let (_, n) = ctx.run_out(IngestDocuments {
                    documents: batch.to_vec(),
                })?;
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
                        (
                            "lines",
                            doc.lines
                                .map(|l| format!("{}-{}", l.start, l.end))
                                .unwrap_or_else(|| "-".into()),
                        ),
                        ("topic", or_dash(doc.topic.as_deref())),
                        ("severity", or_dash(doc.severity.as_deref())),
                        ("ingested_at", rfc3339(d.ingested_at)),
                    ]
                    .into_iter()
                    .chain(crate::ops::memories::notes_rows(&d.notes))
                    .chain([("content", doc.content.clone())])
                    .collect::<Vec<_>>(),
                ),
            ))
        }
        KbCmd::SearchCode(op) => ctx.run(op),
        KbCmd::SearchDecisions(op) => ctx.run(op),
        KbCmd::SearchIncidents(op) => ctx.run(op),
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
    fn ingest_files_carry_line_ranges() {
        let text = r#"{"kind":"code","id":"a","title":"A","content":"fn a() {}","path":"src/a.rs","line_start":4,"line_end":6}
{"kind":"code","id":"b","title":"B","content":"fn b() {}","path":"src/b.rs","line_start":4}"#;
        let docs = parse_documents(text)
            .map_err(|e| e.message())
            .unwrap_or_default();
        let op = IngestDocuments {
            documents: docs.iter().take(1).cloned().collect(),
        };
        let lines = op
            .documents()
            .ok()
            .and_then(|d| d.first().and_then(|d| d.lines));
        assert_eq!(lines.map(|l| (l.start, l.end)), Some((4, 6)));
        let op = IngestDocuments { documents: docs };
        let err = op.documents().err();
        assert!(
            matches!(&err, Some(crate::types::Error::InvalidInput(i)) if i.field == "documents[1].line_end"),
            "{err:?}"
        );
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
