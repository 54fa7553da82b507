//! Walking a repository: which files become documents, of which kind, and why the others
//! are skipped. Honours `.gitignore` (and `.ignore`, global git excludes) through the
//! `ignore` crate; skips binaries, vendored and generated files, and files over a bound.

use super::code::Lang;
use globset::{Glob, GlobSet, GlobSetBuilder};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// What a file is ingested as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// Source code in a language with a grammar.
    Code(Lang),
    /// An architecture decision record.
    Decision,
    /// An incident report or postmortem.
    Incident,
}

/// Why a file was not ingested.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Skip {
    /// A vendored or build-output directory (vendor/, node_modules/, target/, ...).
    Vendored,
    /// Generated: `@generated`, `Code generated ... DO NOT EDIT`, `*.min.js`.
    Generated,
    /// Not UTF-8 text (a NUL byte or invalid UTF-8).
    Binary,
    /// Larger than the size bound.
    TooLarge,
    /// A path too long to keep (over 200 bytes).
    LongPath,
    /// Neither code in a known language, nor a decision, nor an incident.
    NotKnowledge,
    /// Could not be read.
    Unreadable,
    /// Nothing but white space.
    Empty,
}

impl Skip {
    /// The reason as the summary names it.
    pub fn reason(self) -> &'static str {
        match self {
            Skip::Vendored => "vendored",
            Skip::Generated => "generated",
            Skip::Binary => "binary",
            Skip::TooLarge => "too large",
            Skip::LongPath => "path too long",
            Skip::NotKnowledge => "not code, decision or incident",
            Skip::Unreadable => "unreadable",
            Skip::Empty => "empty",
        }
    }
}

/// A file to ingest.
#[derive(Debug, Clone)]
pub struct File {
    /// Path relative to the root, `/`-separated.
    pub path: String,
    /// What it is.
    pub kind: FileKind,
    /// Its text.
    pub text: String,
}

/// What a walk found.
#[derive(Debug, Default)]
pub struct Walk {
    /// The files to ingest, in path order.
    pub files: Vec<File>,
    /// Skipped files by reason.
    pub skipped: BTreeMap<Skip, u64>,
    /// Directories (relative, `/`-separated, "" for the root) holding a package manifest.
    pub packages: BTreeSet<String>,
}

/// How to walk.
#[derive(Debug, Clone)]
pub struct WalkOptions {
    /// Files larger than this many bytes are skipped.
    pub max_bytes: u64,
    /// Extra globs (relative paths) whose Markdown files are incidents.
    pub incident_globs: Vec<String>,
}

/// Directory names whose contents are vendored or built, never ingested.
const VENDORED: &[&str] = &[
    "vendor",
    "node_modules",
    "target",
    "third_party",
    "dist",
    "build",
    "__pycache__",
    ".venv",
    "venv",
];

/// Extensions of binary files, skipped without reading them (other files are read and
/// skipped when they hold a NUL byte or are not UTF-8).
const BINARY: &[&str] = &[
    "png", "jpg", "jpeg", "gif", "ico", "webp", "bmp", "pdf", "zip", "gz", "tgz", "xz", "zst",
    "bz2", "7z", "jar", "wasm", "so", "dylib", "dll", "exe", "o", "a", "rlib", "class", "pyc",
    "db", "sqlite", "ttf", "otf", "woff", "woff2", "mp3", "mp4", "mov", "bin",
];

/// Files that mark a package (a service by default).
const MANIFESTS: &[&str] = &["Cargo.toml", "package.json", "go.mod", "pyproject.toml"];

/// The directory layouts of decision records.
fn is_decision(dirs: &[&str]) -> bool {
    dirs.iter()
        .any(|d| matches!(*d, "adr" | "adrs" | "decisions"))
}

/// The directory layouts of incident reports.
fn is_incident(dirs: &[&str]) -> bool {
    dirs.iter()
        .any(|d| matches!(*d, "postmortems" | "post-mortems" | "incidents"))
}

fn globs(patterns: &[String]) -> Result<GlobSet, String> {
    let mut b = GlobSetBuilder::new();
    for p in patterns {
        b.add(Glob::new(p).map_err(|e| format!("bad incident glob {p}: {e}"))?);
    }
    b.build().map_err(|e| e.to_string())
}

/// Classifies a relative path by its name alone.
pub fn classify(rel: &str, incidents: &GlobSet) -> Result<FileKind, Skip> {
    let parts: Vec<&str> = rel.split('/').collect();
    let (name, dirs) = parts.split_last().map_or(("", &[][..]), |(n, d)| (*n, d));
    if dirs.iter().any(|d| VENDORED.contains(d)) {
        return Err(Skip::Vendored);
    }
    if name.ends_with(".min.js") || name.ends_with(".min.mjs") {
        return Err(Skip::Generated);
    }
    let ext = name.rsplit_once('.').map_or("", |(_, e)| e);
    if BINARY.contains(&ext.to_ascii_lowercase().as_str()) {
        return Err(Skip::Binary);
    }
    let markdown = matches!(ext, "md" | "markdown");
    if markdown && (incidents.is_match(rel) || is_incident(dirs)) {
        return Ok(FileKind::Incident);
    }
    if markdown && is_decision(dirs) {
        return Ok(FileKind::Decision);
    }
    Lang::from_extension(ext)
        .map(FileKind::Code)
        .ok_or(Skip::NotKnowledge)
}

/// Whether the text says it was generated, in its first lines.
fn generated(text: &str) -> bool {
    text.lines().take(10).any(|l| {
        l.contains("@generated") || (l.contains("Code generated") && l.contains("DO NOT EDIT"))
    })
}

/// Reads a file's text, or why it is skipped.
fn read(path: &Path, max_bytes: u64) -> Result<String, Skip> {
    let len = std::fs::metadata(path).map_err(|_| Skip::Unreadable)?.len();
    if len > max_bytes {
        return Err(Skip::TooLarge);
    }
    let bytes = std::fs::read(path).map_err(|_| Skip::Unreadable)?;
    if bytes.iter().take(8192).any(|b| *b == 0) {
        return Err(Skip::Binary);
    }
    let text = String::from_utf8(bytes).map_err(|_| Skip::Binary)?;
    if generated(&text) {
        return Err(Skip::Generated);
    }
    if text.trim().is_empty() {
        return Err(Skip::Empty);
    }
    Ok(text)
}

/// Walks `root`: every file not ignored, classified and read.
pub fn walk(root: &Path, opts: &WalkOptions) -> Result<Walk, String> {
    let incidents = globs(&opts.incident_globs)?;
    let mut out = Walk::default();
    let walker = ignore::WalkBuilder::new(root)
        .hidden(true)
        .git_ignore(true)
        .git_exclude(true)
        .require_git(false)
        .sort_by_file_name(|a, b| a.cmp(b))
        .build();
    for entry in walker {
        let entry = entry.map_err(|e| format!("cannot walk {}: {e}", root.display()))?;
        if !entry.file_type().is_some_and(|t| t.is_file()) {
            continue;
        }
        let Some(rel) = relative(root, entry.path()) else {
            continue;
        };
        let name = rel.rsplit('/').next().unwrap_or(&rel);
        if MANIFESTS.contains(&name) {
            let dir = rel.rsplit_once('/').map_or("", |(d, _)| d);
            out.packages.insert(dir.to_string());
        }
        let kind = classify(&rel, &incidents).and_then(|kind| {
            if rel.len() > 200 {
                return Err(Skip::LongPath);
            }
            Ok(kind)
        });
        match kind.and_then(|kind| Ok((kind, read(entry.path(), opts.max_bytes)?))) {
            Ok((kind, text)) => out.files.push(File {
                path: rel,
                kind,
                text,
            }),
            Err(skip) => *out.skipped.entry(skip).or_default() += 1,
        }
    }
    Ok(out)
}

/// `path` relative to `root`, `/`-separated; None for the root itself or a path that is
/// not UTF-8.
fn relative(root: &Path, path: &Path) -> Option<String> {
    let rel: PathBuf = path.strip_prefix(root).ok()?.to_path_buf();
    let parts: Option<Vec<&str>> = rel.components().map(|c| c.as_os_str().to_str()).collect();
    let rel = parts?.join("/");
    (!rel.is_empty()).then_some(rel)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_classified_by_layout_and_extension() {
        let none = globs(&[]).unwrap();
        let c = |p: &str| classify(p, &none);
        assert_eq!(c("src/lib.rs"), Ok(FileKind::Code(Lang::Rust)));
        assert_eq!(c("web/app.tsx"), Ok(FileKind::Code(Lang::Tsx)));
        assert_eq!(c("docs/adr/0001-use-x.md"), Ok(FileKind::Decision));
        assert_eq!(
            c("doc/architecture/decisions/0002-y.md"),
            Ok(FileKind::Decision)
        );
        assert_eq!(c("postmortems/2024-01-db.md"), Ok(FileKind::Incident));
        assert_eq!(c("vendor/lib/x.go"), Err(Skip::Vendored));
        assert_eq!(c("web/node_modules/a/index.js"), Err(Skip::Vendored));
        assert_eq!(c("web/app.min.js"), Err(Skip::Generated));
        assert_eq!(c("README.md"), Err(Skip::NotKnowledge));
        assert_eq!(c("assets/Logo.PNG"), Err(Skip::Binary));
        let custom = globs(&["ops/reports/*.md".to_string()]).unwrap();
        assert_eq!(
            classify("ops/reports/outage.md", &custom),
            Ok(FileKind::Incident)
        );
    }

    #[test]
    fn generated_markers_are_found_in_the_first_lines() {
        assert!(generated(
            "// Code generated by protoc. DO NOT EDIT.\npackage x"
        ));
        assert!(generated("# @generated by tool\n"));
        assert!(!generated("fn main() {}\n"));
    }
}
