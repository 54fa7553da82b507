//! `maas kb ingest-repo PATH`: a repository's code, decisions and incidents as knowledge
//! documents, sending only what changed since the last run (see `crate::ingest`).

use super::{CliError, Ctx};
use crate::bindings::agents::Capability;
use crate::ingest::manifest::{self, Manifest};
use crate::ingest::walker::FileKind;
use crate::ingest::{self, Doc, Options, kind_name};
use crate::ops::agents::GetAgentInfo;
use crate::ops::knowledge::{IngestDocuments, RemoveDocuments};
use crate::progress::Progress;
use crate::render::{Rendered, fields};
use clap::Args;
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Most documents in one call (the core's bound is 1000).
const BATCH: usize = 500;

/// Arguments of `maas kb ingest-repo`.
#[derive(Debug, Clone, Args)]
pub struct IngestRepoArgs {
    /// The repository (a directory or git work tree).
    pub path: PathBuf,
    /// The service of the files under a directory, `DIR=NAME` (repeatable; the longest
    /// match wins). Default: the nearest directory with a package manifest (Cargo.toml,
    /// package.json, go.mod, pyproject.toml), else the top-level directory.
    #[arg(long = "service", value_name = "DIR=NAME", value_parser = parse_mapping)]
    pub services: Vec<(String, String)>,
    /// Markdown files matching this glob (relative to PATH) are incident reports, beside
    /// those under postmortems/, post-mortems/ and incidents/ (repeatable).
    #[arg(long = "incidents", value_name = "GLOB")]
    pub incident_globs: Vec<String>,
    /// Files larger than this many bytes are skipped.
    #[arg(long, default_value_t = 1 << 20)]
    pub max_bytes: u64,
    /// Put this before every path (and so in every document id), e.g. the repository's
    /// name, to keep repositories with the same file names apart.
    #[arg(long, default_value = "", hide_default_value = true)]
    pub prefix: String,
    /// Refuse a repository that makes more documents than this, before sending any (and
    /// stop reading it there): a few files of thousands of tiny items each could
    /// otherwise fill the knowledge base, or the memory planning them.
    #[arg(long, value_name = "N", default_value_t = 50_000)]
    pub max_documents: usize,
    /// Print what would change and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Send every document again, whatever the last run stored.
    #[arg(long)]
    pub full: bool,
    /// No progress on standard error (it is shown only when that is a terminal).
    #[arg(long, short)]
    pub quiet: bool,
}

/// `--prefix` as paths carry it (its names joined by single `/`), or what is wrong with
/// it: at most 40 bytes of names of letters, digits, `.`, `_` and `-`, none starting
/// with `.` or `-` (stored paths are opened by agents relative to a repository, and
/// passed to commands: `../../etc/src/lib.rs`, `.git/hooks/…` or `-x/…` must not be one).
fn checked_prefix(prefix: &str) -> Result<String, String> {
    if prefix.len() > 40 {
        return Err("takes at most 40 bytes".into());
    }
    let parts: Vec<&str> = prefix.split('/').filter(|p| !p.is_empty()).collect();
    for part in &parts {
        if let Some(first @ ('.' | '-')) = part.chars().next() {
            return Err(format!(
                "may not hold a name starting with `{first}` ({part})"
            ));
        }
        if let Some(c) = part
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
        {
            return Err(format!(
                "may not hold {}",
                crate::render::escape_controls(&format!("{c:?}"), false)
            ));
        }
    }
    Ok(parts.join("/"))
}

fn parse_mapping(s: &str) -> Result<(String, String), String> {
    let (dir, name) = s
        .split_once('=')
        .ok_or_else(|| format!("expected DIR=NAME, got {s}"))?;
    if name.trim().is_empty() {
        return Err(format!("no service name in {s}"));
    }
    Ok((dir.trim_matches('/').to_string(), name.to_string()))
}

/// The index of the document an ingest refused: as invalid (`documents[3].content`),
/// or because another owner's document holds its id (`documents[3]: … belongs to
/// another owner`, which a stranger could do by ingesting under ids it worked out
/// first: the rest of the repository is still stored).
fn refused_index(e: &crate::types::Error) -> Option<usize> {
    let named = match e {
        crate::types::Error::InvalidInput(i) => i.field.as_str(),
        crate::types::Error::PermissionDenied(why) => why.as_str(),
        _ => return None,
    };
    let rest = named.strip_prefix("documents[")?;
    rest.split_once(']')?.0.parse().ok()
}

fn counts_text(counts: &BTreeMap<&str, u64>) -> String {
    counts
        .iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn fail(message: String) -> CliError {
    CliError::io(message, "check the repository path and the data directory")
}

/// Runs `maas kb ingest-repo`.
pub fn run(args: IngestRepoArgs, dir: &Path, ctx: &mut Ctx) -> Result<Rendered, CliError> {
    let started = Instant::now();
    let root = args.path.canonicalize().map_err(|e| {
        CliError::io(
            format!("cannot open {}: {e}", args.path.display()),
            "pass a directory",
        )
    })?;
    if !root.is_dir() {
        return Err(CliError::usage(
            format!("{} is not a directory", root.display()),
            "pass the repository's directory",
        ));
    }
    let prefix = checked_prefix(&args.prefix).map_err(|why| {
        CliError::usage(
            format!("--prefix {why}"),
            "a short name, such as the repository's (letters, digits, `.`, `_`, `-`, parts \
             joined by `/`)",
        )
    })?;
    let opts = Options {
        services: args.services.clone(),
        incident_globs: args.incident_globs.clone(),
        max_bytes: args.max_bytes,
        prefix,
        max_documents: args.max_documents,
    };
    let shown = !args.quiet;
    let scan = Progress::step(shown, "reading files");
    let mut per_kind: BTreeMap<&str, u64> = BTreeMap::new();
    let plan = ingest::scan(&root, &opts, &mut |k| {
        let name = match k {
            FileKind::Code(_) => "code",
            FileKind::Decision => "decision",
            FileKind::Incident => "incident",
        };
        *per_kind.entry(name).or_default() += 1;
        scan.message(format!("parsing files: {}", counts_text(&per_kind)));
    })
    .map_err(fail)?;
    scan.done();
    let parsed = started.elapsed();
    if plan.over {
        return Err(CliError::Local {
            message: format!(
                "{} makes more than --max-documents {} documents (stopped reading there; \
                 nothing was sent)",
                root.display(),
                args.max_documents
            ),
            code: "capacity_exceeded",
            hint: Some(
                "raise --max-documents, or leave out what makes so many (--max-bytes skips \
                 large files; a .gitignore or .ignore file leaves out directories)"
                    .into(),
            ),
        });
    }

    let file = manifest::location(dir, &root);
    let _lock = manifest::lock(dir, || {
        if shown {
            eprintln!("maas: waiting for another kb ingest-repo run on this data directory");
        }
    })
    .map_err(fail)?;
    // Who runs it: an agent (its owner's documents), else the operator (any document).
    let agent = match ctx.token_agent.clone() {
        Some(me) => Some(ctx.run_out(GetAgentInfo { agent_id: Some(me) })?.1),
        None => None,
    };
    let owner = agent
        .as_ref()
        .map_or(manifest::OPERATOR, |a| a.owner_id.as_str())
        .to_string();
    if let Some((other, other_file, held)) =
        manifest::held_elsewhere(dir, &file, &owner, plan.docs.keys())
    {
        return Err(CliError::Local {
            message: format!(
                "{held} documents of {} have the ids of documents the run of {other} stored \
                 in this data directory: this run would replace them",
                root.display()
            ),
            code: "conflict",
            hint: Some(format!(
                "give each repository a --prefix of its own (for example --prefix {}); if \
                 {other} is this repository moved, remove {}",
                root.file_name()
                    .and_then(|n| checked_prefix(&n.to_string_lossy()).ok())
                    .filter(|p| !p.is_empty())
                    .unwrap_or_else(|| "NAME".into()),
                other_file.display()
            )),
        });
    }
    let mut stored = Manifest::load(&file, &root).map_err(fail)?;
    stored.owner = Some(owner);
    let diff = manifest::diff(&plan, &stored, args.full);
    let mut docs_by_kind: BTreeMap<&str, u64> = BTreeMap::new();
    for d in plan.docs.values() {
        *docs_by_kind.entry(kind_name(d.kind)).or_default() += 1;
    }

    if args.dry_run {
        let mut lines = Vec::new();
        for (sign, list) in [("+", &diff.added), ("~", &diff.changed)] {
            for d in list.iter() {
                // One line each: a newline in a path or title (git allows them) is shown
                // escaped, never as a line of its own.
                let one = |t: &str| crate::render::escape_controls(t, false);
                lines.push(format!(
                    "{sign} {} {}  {}  {}",
                    kind_name(d.kind),
                    one(&d.arg.id),
                    one(&d.arg.title),
                    one(&d.located())
                ));
            }
        }
        for k in &diff.removed {
            lines.push(format!("- {}", crate::render::escape_controls(k, false)));
        }
        let summary = summary_json(
            &plan,
            &diff,
            &docs_by_kind,
            (&[], 0),
            true,
            (started, parsed),
        );
        let mut text = lines.join("\n");
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(&summary_text(&summary));
        return Ok(Rendered::new(summary, text));
    }

    // An agent that may not write is told so even when nothing is to be sent.
    if let Some(agent) = &agent
        && !agent.capabilities.contains(&Capability::MemoryWrite)
    {
        return Err(CliError::from(crate::types::Error::PermissionDenied(
            format!(
                "agent {} lacks the memory_write capability, which ingesting needs",
                agent.id
            ),
        )));
    }

    // Send new and changed documents in batches; the manifest follows each batch.
    let send: Vec<&Doc> = diff.added.iter().chain(&diff.changed).copied().collect();
    let bar = Progress::items(shown, "storing", send.len() as u64, "documents");
    let mut sent: BTreeMap<&str, u64> = BTreeMap::new();
    let mut refused: Vec<(String, String)> = Vec::new();
    // Documents whose id another owner's document holds: sent again by the next run
    // (the other document may be gone by then), unlike refusals of the write gate.
    let mut taken: u64 = 0;
    let mut flush = |batch: &[&Doc], stored: &mut Manifest| -> Result<(), CliError> {
        // The core refuses a document (e.g. code quoting a prompt injection) by its
        // index, all or none: the documents before it are sent again, then those after.
        let mut done: Vec<&Doc> = Vec::new();
        let mut pending: Vec<&[&Doc]> = vec![batch];
        while let Some(part) = pending.pop() {
            if part.is_empty() {
                continue;
            }
            let mut op = IngestDocuments {
                documents: part.iter().map(|d| d.arg.clone()).collect(),
            };
            match crate::ops::invoke(&mut op, &mut ctx.rt, &ctx.caller) {
                Ok(_) => done.extend_from_slice(part),
                Err(e) => {
                    let Some((i, d)) = refused_index(&e).and_then(|i| Some((i, *part.get(i)?)))
                    else {
                        return Err(CliError::from(e));
                    };
                    if matches!(e, crate::types::Error::PermissionDenied(_)) {
                        taken += 1;
                    } else {
                        stored.refused.insert(d.key(), d.hash.clone());
                    }
                    refused.push((
                        d.key(),
                        format!(
                            "{} ({}): {}",
                            d.located(),
                            d.arg.title,
                            CliError::from(e).message()
                        ),
                    ));
                    bar.add(1);
                    pending.push(part.get(i + 1..).unwrap_or_default());
                    pending.push(part.get(..i).unwrap_or_default());
                }
            }
        }
        for d in &done {
            stored.stored(d);
            *sent.entry(kind_name(d.kind)).or_default() += 1;
        }
        bar.add(done.len() as u64);
        bar.message(format!("storing: {}", counts_text(&sent)));
        stored.save(&file).map_err(fail)
    };
    for batch in crate::ingest::batches(&send, BATCH, |d| d.arg.title.len() + d.arg.content.len()) {
        flush(batch, &mut stored)?;
    }
    bar.done();

    // Remove the documents whose source is gone, per kind.
    let mut by_kind: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for k in &diff.removed {
        if let Some((kind, id)) = k.split_once('/') {
            by_kind.entry(kind).or_default().push(id.to_string());
        }
    }
    for (kind, ids) in by_kind {
        for chunk in ids.chunks(BATCH) {
            ctx.run_out(RemoveDocuments {
                kind: kind.to_string(),
                ids: chunk.to_vec(),
            })?;
            for id in chunk {
                stored.docs.remove(&format!("{kind}/{id}"));
            }
            stored.save(&file).map_err(fail)?;
        }
    }
    stored.refused.retain(|k, _| plan.docs.contains_key(k));
    stored.root = root.to_string_lossy().into_owned();
    stored.save(&file).map_err(fail)?;
    let summary = summary_json(
        &plan,
        &diff,
        &docs_by_kind,
        (&refused, taken),
        false,
        (started, parsed),
    );
    let text = summary_text(&summary);
    Ok(Rendered::new(summary, text))
}

fn summary_json(
    plan: &ingest::Plan,
    diff: &manifest::Diff,
    by_kind: &BTreeMap<&str, u64>,
    (refused, taken): (&[(String, String)], u64),
    dry_run: bool,
    (started, parsed): (Instant, std::time::Duration),
) -> serde_json::Value {
    let secs = started.elapsed().as_secs_f64();
    let refused_keys: std::collections::BTreeSet<&str> =
        refused.iter().map(|(k, _)| k.as_str()).collect();
    let stored = |list: &[&Doc]| {
        list.iter()
            .filter(|d| !refused_keys.contains(d.key().as_str()))
            .count()
    };
    let mut skipped = plan.skipped.clone();
    let refusals = refused.len() as u64 - taken + diff.still_refused;
    if refusals > 0 {
        skipped.insert("refused by the write gate", refusals);
    }
    if taken > 0 {
        skipped.insert("id held by another owner's document", taken);
    }
    let docs = plan.docs.len() as f64;
    json!({
        "status": if dry_run { "dry_run" } else { "ingested" },
        "files": plan.files,
        "documents": plan.docs.len(),
        "by_kind": by_kind,
        "added": stored(&diff.added),
        "changed": stored(&diff.changed),
        "removed": diff.removed.len(),
        "unchanged": diff.unchanged,
        "skipped": skipped,
        "refused": refused.iter().map(|(_, why)| why).collect::<Vec<_>>(),
        "parse_seconds": (parsed.as_secs_f64() * 1000.0).round() / 1000.0,
        "seconds": (secs * 1000.0).round() / 1000.0,
        "documents_per_second": if secs > 0.0 { (docs / secs).round() } else { 0.0 },
    })
}

fn summary_text(v: &serde_json::Value) -> String {
    let get = |k: &str| v.get(k).map(|x| x.to_string()).unwrap_or_default();
    let map = |k: &str| {
        v.get(k)
            .and_then(|m| m.as_object())
            .map(|m| {
                m.iter()
                    .map(|(k, n)| format!("{k} {n}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "-".to_string())
    };
    // What this run's refusals were, one line each (the JSON's `refused`).
    let refused: Vec<String> = v
        .get("refused")
        .and_then(|r| r.as_array())
        .map(|r| {
            r.iter()
                .filter_map(|w| w.as_str())
                .map(|w| crate::render::escape_controls(w, false))
                .collect()
        })
        .unwrap_or_default();
    let mut rows = vec![
        ("status", get("status").trim_matches('"').to_string()),
        ("files", get("files")),
        (
            "documents",
            format!("{} ({})", get("documents"), map("by_kind")),
        ),
        ("added", get("added")),
        ("changed", get("changed")),
        ("removed", get("removed")),
        ("unchanged", get("unchanged")),
        ("skipped", map("skipped")),
    ];
    if !refused.is_empty() {
        rows.push(("refused", refused.join("\n")));
    }
    rows.push(("seconds", get("seconds")));
    fields(&rows)
}
