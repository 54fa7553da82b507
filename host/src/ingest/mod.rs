//! Ingesting a repository: its code (one document per item), its architecture decisions
//! and its incident reports become knowledge documents with stable ids and a content
//! hash each, so a second run stores only what changed and removes what is gone.
//!
//! `walker` picks and reads the files, `code` finds the items, `decisions` and
//! `incidents` read the Markdown records, `manifest` remembers what was stored.

pub mod code;
pub mod decisions;
pub mod incidents;
pub mod manifest;
pub mod markdown;
pub mod walker;

use crate::knowledge::DocumentKind;
use crate::ops::knowledge::DocumentArg;
use maas_core::audit::hex;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::Path;
use walker::{FileKind, Walk};

/// Splits `docs` into batches one ingest call takes: at most `most` documents (the
/// core takes [`MAX_DOCUMENTS`](maas_core::limits::MAX_DOCUMENTS)) and
/// [`MAX_INGEST_BYTES`](maas_core::limits::MAX_INGEST_BYTES) of titles and contents each
/// (`size` tells a document's), in order. A document too large alone is a batch alone,
/// for the core to refuse by name.
pub fn batches<T>(docs: &[T], most: usize, size: impl Fn(&T) -> usize) -> Vec<&[T]> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, doc) in docs.iter().enumerate() {
        let n = size(doc);
        if i > start && (i - start >= most || bytes + n > maas_core::limits::MAX_INGEST_BYTES) {
            out.extend(docs.get(start..i));
            (start, bytes) = (i, 0);
        }
        bytes += n;
    }
    if start < docs.len() {
        out.extend(docs.get(start..));
    }
    out
}

/// Most bytes of content a document carries (the core's bound is 256 KiB).
const MAX_CONTENT: usize = 255 * 1024;
/// Most bytes of a title (the core's bound is 512).
const MAX_TITLE: usize = 500;

/// How to ingest a repository.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Directory prefixes (relative, `/`-separated) and the service of the files under
    /// them; the longest prefix wins. Without a match: the nearest directory holding a
    /// package manifest (Cargo.toml, package.json, go.mod, pyproject.toml) below the
    /// root, else the top-level directory.
    pub services: Vec<(String, String)>,
    /// Extra globs whose Markdown files are incident reports.
    pub incident_globs: Vec<String>,
    /// Files larger than this are skipped.
    pub max_bytes: u64,
    /// Put before every path (and so in every id), to keep repositories with the same
    /// file names apart in one knowledge base; empty for none.
    pub prefix: String,
    /// Most documents a plan makes: past it the plan stops (see [`Plan::over`]).
    pub max_documents: usize,
}

/// A document to store, with the file it came from and the hash of everything stored.
#[derive(Debug, Clone)]
pub struct Doc {
    /// Kind.
    pub kind: DocumentKind,
    /// The document as `ingest_documents` takes it. Its id is stable: readable, then
    /// `@` and a hash of the path and name; the title of code is the qualified name.
    pub arg: DocumentArg,
    /// The file the document came from.
    pub file: String,
    /// Hex SHA-256 of every field of `arg`.
    pub hash: String,
}

/// The documents of a repository and what was skipped.
#[derive(Debug, Default)]
pub struct Plan {
    /// Documents by `kind/id`.
    pub docs: BTreeMap<String, Doc>,
    /// Skipped files by reason.
    pub skipped: BTreeMap<&'static str, u64>,
    /// Files read.
    pub files: u64,
    /// Files and directories (as documents name them, with the prefix) that could not be
    /// read: documents stored from them before are kept.
    pub unread: Vec<String>,
    /// Whether the repository makes more than [`Options::max_documents`]: the plan
    /// stopped there and is not the whole repository's.
    pub over: bool,
}

/// The summary's reason for a document whose text was cut to what the core takes.
pub const CLIPPED: &str = "content past 255 KiB left out";

impl Plan {
    /// Whether documents stored from `file` stay although this plan has none: it, or a
    /// directory above it, could not be read.
    pub fn keeps(&self, file: &str) -> bool {
        self.unread.iter().any(|p| {
            file.strip_prefix(p.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        })
    }

    /// Adds the document of `kind` made of `arg` from `file`, counting in `skipped` one
    /// whose content was cut (see [`Doc::new`]).
    fn add(&mut self, kind: DocumentKind, arg: DocumentArg, file: &str) {
        if arg.content.len() > MAX_CONTENT {
            *self.skipped.entry(CLIPPED).or_default() += 1;
        }
        let d = Doc::new(kind, arg, file);
        self.docs.insert(d.key(), d);
    }
}

/// The key of a document in plans and manifests.
pub fn key(kind: DocumentKind, id: &str) -> String {
    format!("{}/{id}", kind_name(kind))
}

/// The wire name of a kind.
pub fn kind_name(kind: DocumentKind) -> &'static str {
    match kind {
        DocumentKind::Code => "code",
        DocumentKind::Decision => "decision",
        DocumentKind::Incident => "incident",
    }
}

/// A stable id within the core's bounds (1..=128 of letters, digits and `._:@-`):
/// `path:name` with other characters as `.`, clipped, then `@` and 12 hex digits of the
/// hash of the exact path and name (so clipped or folded names never collide).
pub fn doc_id(path: &str, name: &str) -> String {
    let readable: String = format!("{path}:{name}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-') {
                c
            } else {
                '.'
            }
        })
        .take(114)
        .collect();
    let h = Sha256::digest(format!("{path}\0{name}").as_bytes());
    format!("{readable}@{}", hex(h.get(..6).unwrap_or_default()))
}

/// Clips `s` to at most `max` bytes on a character boundary.
fn clip(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or("").to_string()
}

/// The service of a file.
pub fn service_of(path: &str, opts: &Options, walk: &Walk) -> Option<String> {
    if let Some((_, s)) = opts
        .services
        .iter()
        .filter(|(prefix, _)| {
            let p = prefix.trim_end_matches('/');
            p.is_empty() || path == p || path.starts_with(&format!("{p}/"))
        })
        .max_by_key(|(prefix, _)| prefix.len())
    {
        return Some(s.clone());
    }
    let dir = path.rsplit_once('/').map(|(d, _)| d)?;
    let mut d = dir;
    loop {
        if walk.packages.contains(d) {
            return Some(d.to_string());
        }
        match d.rsplit_once('/') {
            Some((up, _)) => d = up,
            None => break,
        }
    }
    dir.split('/').next().map(str::to_string)
}

/// The Python module of a path: `pkg/sub/mod.py` → `pkg.sub.mod`.
fn python_module(path: &str) -> String {
    let stem = path.rsplit_once('.').map_or(path, |(s, _)| s);
    let stem = stem.strip_suffix("/__init__").unwrap_or(stem);
    let stem = stem.strip_prefix("src/").unwrap_or(stem);
    stem.replace('/', ".")
}

/// The Rust module of a path: `core/src/search/mod.rs` → `search`, `core/src/lib.rs` →
/// `core` (the crate's directory).
pub fn rust_module(path: &str) -> String {
    let (krate, rest) = match path.rfind("src/") {
        Some(i) => (path.get(..i).unwrap_or(""), path.get(i + 4..).unwrap_or("")),
        None => ("", path),
    };
    let stem = rest.strip_suffix(".rs").unwrap_or(rest);
    let stem = stem.strip_suffix("/mod").unwrap_or(stem);
    if matches!(stem, "lib" | "main" | "") {
        let name = krate.trim_end_matches('/').rsplit('/').next().unwrap_or("");
        return if name.is_empty() { "crate" } else { name }.to_string();
    }
    stem.replace('/', "::")
}

impl Doc {
    /// A document of `kind` from `file`: `arg` with its texts clipped to the core's
    /// bounds, hashed.
    fn new(kind: DocumentKind, mut arg: DocumentArg, file: &str) -> Doc {
        arg.kind = kind_name(kind).to_string();
        arg.title = clip(&arg.title, MAX_TITLE);
        arg.content = clip(&arg.content, MAX_CONTENT);
        for v in [&mut arg.service, &mut arg.topic, &mut arg.severity]
            .into_iter()
            .flatten()
        {
            *v = clip(v, 250);
        }
        let hash = hex(&Sha256::digest(
            serde_json::to_vec(&arg).unwrap_or_default(),
        ));
        Doc {
            kind,
            arg,
            file: file.to_string(),
            hash,
        }
    }

    /// The document's key in plans and manifests, `kind/id`.
    pub fn key(&self) -> String {
        key(self.kind, &self.arg.id)
    }

    /// Where the document came from: the path, with `:start-end` when it has lines.
    pub fn located(&self) -> String {
        let a = &self.arg;
        let path = a.path.as_deref().unwrap_or(&a.id);
        match (a.line_start, a.line_end) {
            (Some(start), Some(end)) => format!("{path}:{start}-{end}"),
            _ => path.to_string(),
        }
    }
}

/// The summary's reason for a file whose items were taken only in part (nested too deep,
/// or too many: see [`code::Parsers::items_within`]).
pub const CUT: &str = "items past 32 nested scopes or 5000 in one file left out";

/// Turns a walk into documents.
pub fn plan(walk: &Walk, opts: &Options, on_file: &mut dyn FnMut(FileKind)) -> Plan {
    let prefixed = |path: &str| {
        if opts.prefix.is_empty() {
            path.to_string()
        } else {
            format!("{}/{path}", opts.prefix.trim_end_matches('/'))
        }
    };
    let mut out = Plan {
        skipped: walk.skipped.iter().map(|(k, n)| (k.reason(), *n)).collect(),
        unread: walk.unread.iter().map(|p| prefixed(p)).collect(),
        ..Plan::default()
    };
    let mut parsers = code::Parsers::default();
    for f in &walk.files {
        if out.docs.len() > opts.max_documents {
            break;
        }
        let text = match walk.text(f) {
            Ok(text) => text,
            Err(skip) => {
                if skip == walker::Skip::Unreadable {
                    out.unread.push(prefixed(&f.path));
                }
                *out.skipped.entry(skip.reason()).or_default() += 1;
                continue;
            }
        };
        out.files += 1;
        on_file(f.kind);
        let service = service_of(&f.path, opts, walk);
        let shown = prefixed(&f.path);
        match f.kind {
            FileKind::Code(lang) => {
                let module = match lang {
                    code::Lang::Python => python_module(&f.path),
                    code::Lang::Rust => rust_module(&f.path),
                    _ => String::new(),
                };
                let mut seen: BTreeMap<String, u32> = BTreeMap::new();
                let (items, cut) = parsers.items_within(lang, &module, &text);
                if items.is_empty() {
                    *out.skipped.entry("no items").or_default() += 1;
                }
                if cut {
                    *out.skipped.entry(CUT).or_default() += 1;
                }
                for item in items {
                    // The second `f` is `f#2`, unless an item is named `f#2` itself.
                    let id = loop {
                        let n = seen.entry(item.name.clone()).or_default();
                        *n += 1;
                        let unique = if *n == 1 {
                            item.name.clone()
                        } else {
                            format!("{}#{n}", item.name)
                        };
                        let id = doc_id(&shown, &unique);
                        if !out.docs.contains_key(&key(DocumentKind::Code, &id)) {
                            break id;
                        }
                    };
                    let arg = DocumentArg {
                        id,
                        title: item.name,
                        content: item.text,
                        service: service.clone(),
                        path: Some(shown.clone()),
                        line_start: Some(item.start),
                        line_end: Some(item.end),
                        ..DocumentArg::default()
                    };
                    out.add(DocumentKind::Code, arg, &shown);
                }
            }
            FileKind::Decision => {
                let r = decisions::parse(&f.path, &text);
                let mut title = r.title.clone();
                if let Some(s) = &r.status {
                    title = format!("{title} ({s})");
                }
                let arg = DocumentArg {
                    id: doc_id(&shown, "decision"),
                    title,
                    content: text.to_string(),
                    service,
                    path: Some(shown.clone()),
                    topic: Some(r.topic),
                    ..DocumentArg::default()
                };
                out.add(DocumentKind::Decision, arg, &shown);
            }
            FileKind::Incident => {
                let r = incidents::parse(&f.path, &text);
                let arg = DocumentArg {
                    id: doc_id(&shown, "incident"),
                    title: r.title,
                    content: text.to_string(),
                    service: r.service,
                    path: Some(shown.clone()),
                    severity: r.severity,
                    ..DocumentArg::default()
                };
                out.add(DocumentKind::Incident, arg, &shown);
            }
        }
    }
    // Past the bound, whether in the last file read or before another.
    out.over = out.docs.len() > opts.max_documents;
    out
}

/// Walks and plans `root`.
pub fn scan(
    root: &Path,
    opts: &Options,
    on_file: &mut dyn FnMut(FileKind),
) -> Result<Plan, String> {
    let walk = walker::walk(
        root,
        &walker::WalkOptions {
            max_bytes: opts.max_bytes,
            incident_globs: opts.incident_globs.clone(),
        },
    )?;
    Ok(plan(&walk, opts, on_file))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    /// The options of a run with no flags.
    fn test_options() -> Options {
        Options {
            services: Vec::new(),
            incident_globs: Vec::new(),
            max_bytes: 1 << 20,
            prefix: String::new(),
            max_documents: 50_000,
        }
    }

    use super::*;

    #[test]
    fn batches_hold_what_one_ingest_call_takes_in_order() {
        use maas_core::limits::{MAX_DOCUMENTS, MAX_INGEST_BYTES};
        let sizes =
            |docs: &[&[usize]]| -> Vec<Vec<usize>> { docs.iter().map(|b| b.to_vec()).collect() };
        let small = vec![10usize; 2 * MAX_DOCUMENTS + 1];
        let got = batches(&small, MAX_DOCUMENTS, |n| *n);
        assert_eq!(
            got.iter().map(|b| b.len()).collect::<Vec<_>>(),
            [MAX_DOCUMENTS, MAX_DOCUMENTS, 1]
        );
        let quarter = MAX_INGEST_BYTES / 4;
        let docs = [
            quarter,
            quarter,
            quarter,
            quarter,
            1,
            MAX_INGEST_BYTES + 1,
            5,
        ];
        assert_eq!(
            sizes(&batches(&docs, MAX_DOCUMENTS, |n| *n)),
            [
                vec![quarter; 4],
                vec![1],
                vec![MAX_INGEST_BYTES + 1],
                vec![5]
            ]
        );
        assert!(batches(&[] as &[usize], MAX_DOCUMENTS, |n| *n).is_empty());
    }

    #[test]
    fn ids_are_stable_bounded_and_distinct() {
        let a = doc_id("src/a.rs", "Type::method");
        assert_eq!(a, doc_id("src/a.rs", "Type::method"));
        assert!(a.starts_with("src.a.rs:Type::method@"), "{a}");
        let long = "x".repeat(300);
        let b = doc_id(&long, "f");
        assert!(b.len() <= 128 && b != doc_id(&long, "g"));
        assert_ne!(doc_id("a/b", "f"), doc_id("a.b", "f"));
    }

    #[test]
    fn services_come_from_the_mapping_then_packages_then_the_top_directory() {
        let mut walk = Walk::default();
        walk.packages.insert(String::new());
        walk.packages.insert("services/billing".into());
        let opts = Options {
            services: vec![
                ("web".into(), "storefront".into()),
                ("web/admin".into(), "backoffice".into()),
            ],
            ..Options::default()
        };
        let s = |p: &str| service_of(p, &opts, &walk);
        assert_eq!(s("web/src/cart.ts").as_deref(), Some("storefront"));
        assert_eq!(s("web/admin/users.ts").as_deref(), Some("backoffice"));
        assert_eq!(s("webhooks/x.go").as_deref(), Some("webhooks"));
        assert_eq!(
            s("services/billing/src/lib.rs").as_deref(),
            Some("services/billing")
        );
        assert_eq!(s("auth/session.py").as_deref(), Some("auth"));
        assert_eq!(s("main.go"), None);
    }

    #[test]
    fn an_item_whose_numbered_name_is_taken_keeps_a_document_of_its_own() {
        // The module doc of `src/foo#2.rs` is named `foo#2`, as the second `foo` would be.
        let text = "//! Doc.\n#[cfg(unix)]\nfn foo() {}\n#[cfg(windows)]\nfn foo() {}\n";
        let walk = Walk {
            files: vec![walker::File {
                path: "src/foo#2.rs".into(),
                kind: FileKind::Code(code::Lang::Rust),
                text: Some(text.into()),
            }],
            ..Walk::default()
        };
        let opts = test_options();
        let plan = plan(&walk, &opts, &mut |_| {});
        let mut titles: Vec<&str> = plan.docs.values().map(|d| d.arg.title.as_str()).collect();
        titles.sort_unstable();
        assert_eq!(titles, ["foo", "foo", "foo#2"]);
    }

    #[test]
    fn a_document_cut_to_what_the_core_takes_is_counted() {
        let file = |path: &str, text: String| walker::File {
            path: path.into(),
            kind: FileKind::Decision,
            text: Some(text),
        };
        let walk = Walk {
            files: vec![
                file(
                    "adr/0001-long.md",
                    format!("# Long\n\n{}", "word ".repeat(60_000)),
                ),
                file("adr/0002-short.md", "# Short\n\nA line.\n".into()),
            ],
            ..Walk::default()
        };
        let opts = test_options();
        let plan = plan(&walk, &opts, &mut |_| {});
        assert_eq!(plan.docs.len(), 2);
        assert_eq!(plan.skipped.get(CLIPPED), Some(&1));
        assert!(
            plan.docs
                .values()
                .all(|d| d.arg.content.len() <= MAX_CONTENT)
        );
    }

    #[test]
    fn a_plan_past_max_documents_in_its_last_file_is_over() {
        let walk = Walk {
            files: vec![walker::File {
                path: "src/lib.rs".into(),
                kind: FileKind::Code(code::Lang::Rust),
                text: Some("fn a() {}\nfn b() {}\nfn c() {}\n".into()),
            }],
            ..Walk::default()
        };
        let mut opts = test_options();
        opts.max_documents = 2;
        assert!(plan(&walk, &opts, &mut |_| {}).over);
        opts.max_documents = 3;
        assert!(!plan(&walk, &opts, &mut |_| {}).over);
    }

    /// A walk lists files; the plan reads them one at a time and stops reading where it
    /// stops planning: a repository far past `--max-documents` is not read whole (nor
    /// held: a million-line tree took 1.4 GB before the first refusal).
    #[test]
    fn a_plan_past_max_documents_reads_no_file_after_it() {
        let root = std::env::temp_dir().join(format!("maas-plan-stop-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("src")).unwrap();
        std::fs::write(root.join("src/a.rs"), "fn a() {}\nfn b() {}\n").unwrap();
        std::fs::write(root.join("src/b.rs"), "fn c() {}\n").unwrap();
        std::fs::write(root.join("src/z.rs"), "fn \0 binary").unwrap();
        let mut opts = test_options();
        let walk = walker::walk(
            &root,
            &walker::WalkOptions {
                max_bytes: opts.max_bytes,
                incident_globs: Vec::new(),
            },
        )
        .unwrap();
        assert_eq!(walk.files.len(), 3);
        assert!(walk.files.iter().all(|f| f.text.is_none()));
        let whole = plan(&walk, &opts, &mut |_| {});
        assert_eq!((whole.files, whole.docs.len()), (2, 3));
        assert_eq!(whole.skipped.get("binary"), Some(&1), "{:?}", whole.skipped);
        opts.max_documents = 1;
        let cut = plan(&walk, &opts, &mut |_| {});
        assert!(cut.over);
        assert_eq!(cut.files, 1);
        assert_eq!(cut.skipped.get("binary"), None, "{:?}", cut.skipped);
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn rust_modules_follow_the_path() {
        assert_eq!(rust_module("guest/core/src/search/mod.rs"), "search");
        assert_eq!(
            rust_module("guest/core/src/search/tokenize.rs"),
            "search::tokenize"
        );
        assert_eq!(rust_module("guest/core/src/lib.rs"), "core");
        assert_eq!(rust_module("src/main.rs"), "crate");
        assert_eq!(rust_module("build.rs"), "build");
    }

    #[test]
    fn a_doc_is_the_ingest_argument_clipped_and_hashed_whole() {
        let arg = DocumentArg {
            id: "a".into(),
            title: "t".repeat(600),
            content: "fn a() {}".into(),
            path: Some("src/a.rs".into()),
            line_start: Some(3),
            line_end: Some(5),
            ..DocumentArg::default()
        };
        let d = Doc::new(DocumentKind::Code, arg.clone(), "src/a.rs");
        assert_eq!(d.arg.kind, "code");
        assert_eq!(d.arg.title.len(), MAX_TITLE);
        assert_eq!(d.key(), "code/a");
        assert_eq!(d.located(), "src/a.rs:3-5");
        // The same item moved down a line is another document to store.
        let moved = DocumentArg {
            line_start: Some(4),
            line_end: Some(6),
            ..arg.clone()
        };
        let m = Doc::new(DocumentKind::Code, moved, "src/a.rs");
        assert_ne!(m.hash, d.hash);
        assert_eq!(Doc::new(DocumentKind::Code, arg, "src/a.rs").hash, d.hash);
    }

    #[test]
    fn python_modules_follow_the_path() {
        assert_eq!(python_module("src/pkg/mod.py"), "pkg.mod");
        assert_eq!(python_module("pkg/__init__.py"), "pkg");
    }
}
