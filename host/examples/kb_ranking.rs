//! How well `search_code_kb` ranks real code: CodeSearchNet-style pairs from a crate's
//! sources in the cargo registry cache. Every item of the crate (found as
//! `maas kb ingest-repo` finds them) is ingested with its doc comment removed; the first
//! sentence of each doc comment is a query whose answer is its item. Prints MRR@10 and
//! recall@1/@10 for two halves of the pairs, split by a hash of the item's id: `tuning`
//! (look at these when changing the tokenizer or the scoring) and `report` (the figure
//! to quote, never tuned on).
//!
//! `cargo run -p maas-host --example kb_ranking -- [quick|full|PATH]`
//!
//! `quick` reads the newest `walkdir-*` in ~/.cargo/registry/src, `full` the newest
//! `syn-*`; PATH reads that directory. `MAAS_RANKING_MISSES=1` prints the tuning pairs
//! not ranked first (never the report pairs).

use maas_host::ingest::code::{Lang, Parsers};
use maas_host::ingest::walker::{self, FileKind, WalkOptions};
use maas_host::ingest::{doc_id, rust_module, service_of};
use maas_host::ops::knowledge::{DocumentArg, IngestDocuments, SearchCodeKb};
use maas_host::ops::{Op, invoke};
use maas_host::{Runtime, RuntimeOptions, types};
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::time::Instant;

/// The newest `name-*` directory in the registry cache.
fn registry_crate(name: &str) -> Option<PathBuf> {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))?;
    let mut found: Vec<PathBuf> = std::fs::read_dir(home.join("registry/src"))
        .ok()?
        .flatten()
        .flat_map(|index| {
            std::fs::read_dir(index.path())
                .into_iter()
                .flatten()
                .flatten()
        })
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_prefix(name)?.strip_prefix('-'))
                .is_some_and(|v| v.starts_with(|c: char| c.is_ascii_digit()))
        })
        .collect();
    found.sort();
    found.pop()
}

/// The item's leading doc comment (its `///` lines) and the item without it.
fn split_doc(text: &str) -> (String, String) {
    let mut doc = Vec::new();
    let mut rest = Vec::new();
    let mut in_doc = true;
    for line in text.lines() {
        let t = line.trim_start();
        if in_doc && t.starts_with("///") {
            doc.push(t.trim_start_matches('/').trim());
        } else {
            if !t.starts_with("#[") {
                in_doc = false;
            }
            rest.push(line);
        }
    }
    (doc.join(" "), rest.join("\n"))
}

/// The first sentence of a doc comment.
fn first_sentence(doc: &str) -> String {
    let end = doc
        .find(". ")
        .map(|i| i + 1)
        .unwrap_or(doc.len())
        .min(doc.find("  ").unwrap_or(doc.len()));
    doc.get(..end).unwrap_or(doc).trim().to_string()
}

struct Pair {
    id: String,
    query: String,
}

#[derive(Default)]
struct Score {
    pairs: usize,
    rr: f64,
    at1: usize,
    at10: usize,
}

impl Score {
    fn add(&mut self, rank: Option<usize>) {
        self.pairs += 1;
        if let Some(r) = rank {
            self.rr += 1.0 / r as f64;
            self.at1 += usize::from(r == 1);
            self.at10 += 1;
        }
    }
    fn line(&self, name: &str) -> String {
        let n = self.pairs.max(1) as f64;
        format!(
            "{name:7} pairs {:5}  MRR@10 {:.3}  recall@1 {:.3}  recall@10 {:.3}",
            self.pairs,
            self.rr / n,
            self.at1 as f64 / n,
            self.at10 as f64 / n
        )
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let arg = std::env::args().nth(1).unwrap_or_else(|| "quick".into());
    let root = match arg.as_str() {
        "quick" => registry_crate("walkdir"),
        "full" => registry_crate("syn"),
        path => Some(PathBuf::from(path)),
    }
    .ok_or("no such crate in the cargo registry cache; pass a path")?;
    let walk = walker::walk(
        &root,
        &WalkOptions {
            max_bytes: 1 << 20,
            incident_globs: Vec::new(),
        },
    )?;
    let mut parsers = Parsers::default();
    let mut docs = Vec::new();
    let mut pairs = Vec::new();
    for f in &walk.files {
        if f.kind != FileKind::Code(Lang::Rust) {
            continue;
        }
        let Ok(text) = walk.text(f) else {
            continue;
        };
        let mut seen = std::collections::BTreeMap::<String, u32>::new();
        for item in parsers.items(Lang::Rust, &rust_module(&f.path), &text) {
            let n = seen.entry(item.name.clone()).or_default();
            *n += 1;
            let unique = if *n == 1 {
                item.name.clone()
            } else {
                format!("{}#{n}", item.name)
            };
            let id = doc_id(&f.path, &unique);
            let (doc, body) = split_doc(&item.text);
            let query = first_sentence(&doc);
            if body.trim().is_empty() {
                continue;
            }
            if query.split_whitespace().count() >= 3 && query.len() <= 1024 {
                pairs.push(Pair {
                    id: id.clone(),
                    query,
                });
            }
            docs.push(DocumentArg {
                kind: "code".into(),
                id,
                title: item.name,
                content: body,
                service: service_of(&f.path, &Default::default(), &walk),
                path: Some(f.path.clone()),
                line_start: Some(item.start),
                line_end: Some(item.end),
                topic: None,
                severity: None,
            });
        }
    }
    let mut rt = Runtime::in_memory(RuntimeOptions::default())?;
    let op = types::Caller::Operator;
    let started = Instant::now();
    let mut stored = 0usize;
    for batch in docs.chunks(500) {
        let mut ingest = IngestDocuments {
            documents: batch.to_vec(),
        };
        // A document the write gate refuses is left out (and its pair with it).
        match invoke(&mut ingest, &mut rt, &op) {
            Ok(n) => stored += n as usize,
            Err(e) => {
                for d in batch {
                    let mut one = IngestDocuments {
                        documents: vec![d.clone()],
                    };
                    match invoke(&mut one, &mut rt, &op) {
                        Ok(n) => stored += n as usize,
                        Err(_) => pairs.retain(|p| p.id != d.id),
                    }
                }
                eprintln!("a batch was refused ({e:?}); sent one by one");
            }
        }
    }
    let ingest_time = started.elapsed();
    let (mut tuning, mut report) = (Score::default(), Score::default());
    let started = Instant::now();
    let verbose = std::env::var_os("MAAS_RANKING_MISSES").is_some();
    for p in &pairs {
        let mut search = SearchCodeKb {
            query: p.query.clone(),
            service_filter: None,
            limit: Some(10),
        };
        let hits = invoke(&mut search, &mut rt, &op)?;
        let rank = hits.iter().position(|h| h.id == p.id).map(|i| i + 1);
        let half = Sha256::digest(p.id.as_bytes())
            .first()
            .is_some_and(|b| b % 2 == 0);
        if half && verbose && rank != Some(1) {
            let top: Vec<&str> = hits.iter().take(3).map(|h| h.title.as_str()).collect();
            println!("miss {rank:?} {:?} -> {} (top: {top:?})", p.query, p.id);
        }
        if half { &mut tuning } else { &mut report }.add(rank);
        let _ = search.text(&hits);
    }
    let search_time = started.elapsed();
    println!("{}", root.display());
    println!(
        "{} items stored ({:.0} docs/s), {} query pairs, {:.2} ms per search",
        stored,
        stored as f64 / ingest_time.as_secs_f64().max(1e-9),
        pairs.len(),
        search_time.as_secs_f64() * 1000.0 / pairs.len().max(1) as f64
    );
    println!("{}", tuning.line("tuning"));
    println!("{}", report.line("report"));
    Ok(())
}
