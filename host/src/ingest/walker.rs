//! Walking a repository: which files become documents, of which kind, and why the others
//! are skipped. Honours `.gitignore` (and `.ignore`, global git excludes) through the
//! `ignore` crate, and the root's `.git/info/exclude` read here; skips binaries, vendored
//! and generated files, and files over a bound.

use super::code::Lang;
use globset::{Glob, GlobSet, GlobSetBuilder};
use std::collections::{BTreeMap, BTreeSet, HashMap};
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
    /// Not the file listed: a link or a file outside the repository by the time it was
    /// opened (swapped in while the walk ran).
    Outside,
    /// A directory that could not be listed (its permissions, a path too long).
    UnreadableDirectory,
    /// A directory whose `.gitignore` or `.ignore` is not a regular file (a link to
    /// `/dev/zero`, a FIFO): not walked.
    IgnoreFileNotRegular,
    /// A link (to a file or a directory): never followed.
    Link,
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
            Skip::Outside => "outside the repository when read",
            Skip::UnreadableDirectory => "directory unreadable",
            Skip::IgnoreFileNotRegular => "directory whose ignore file is not a regular file",
            Skip::Link => "link (not followed)",
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
    /// Its text when the walk was given it; a walk of a directory leaves it out and
    /// [`Walk::text`] reads the file when it is planned, so that a run holds one file's
    /// text at a time and stops reading where its plan stops.
    pub text: Option<String>,
}

/// What a walk found.
#[derive(Debug, Default)]
pub struct Walk {
    /// The files to ingest, in path order (not read yet: see [`Walk::text`]).
    pub files: Vec<File>,
    /// Skipped files by reason.
    pub skipped: BTreeMap<Skip, u64>,
    /// Directories (relative, `/`-separated, "" for the root) holding a package manifest.
    pub packages: BTreeSet<String>,
    /// Files and directories (relative) that could not be read this time: what an
    /// earlier run stored from them is kept, not removed as gone.
    pub unread: Vec<String>,
    /// Where the files are read from: the root as given, the root as the kernel names
    /// it (see [`read`]), and the largest file read.
    pub(super) from: Option<(PathBuf, PathBuf, u64)>,
}

impl Walk {
    /// The text of `file`, read now (see [`read`]), or why it is skipped after all.
    pub fn text<'a>(&self, file: &'a File) -> Result<std::borrow::Cow<'a, str>, Skip> {
        if let Some(text) = &file.text {
            return Ok(text.as_str().into());
        }
        let Some((root, real_root, max_bytes)) = &self.from else {
            return Err(Skip::Unreadable);
        };
        read(real_root, &file.path, &root.join(&file.path), *max_bytes).map(Into::into)
    }
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

/// Reads the text of a file of the repository at `root`, or why it is skipped. The
/// file is opened without following a link and without waiting (a FIFO), and read
/// only if what was opened is a regular file inside `root` and within `max_bytes`:
/// the walk lists a file before it is read, and whoever can write the work tree
/// meanwhile could swap in a link to a file elsewhere, or a device that never ends.
fn read(root: &Path, rel: &str, path: &Path, max_bytes: u64) -> Result<String, Skip> {
    use std::io::Read;
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    let file = options.open(path).map_err(|e| match e.raw_os_error() {
        #[cfg(unix)]
        Some(libc::ELOOP) => Skip::Outside,
        _ => Skip::Unreadable,
    })?;
    // Where the opened file is: a directory above it swapped for a link leads
    // elsewhere, whatever the name said.
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        // Exactly the file listed: a directory swapped for a link to another one inside
        // the repository (one the walk leaves out, say) is not read either.
        let opened = std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd()));
        if opened.is_ok_and(|real| real != root.join(rel)) {
            return Err(Skip::Outside);
        }
    }
    let meta = file.metadata().map_err(|_| Skip::Unreadable)?;
    if !meta.is_file() {
        return Err(Skip::Outside);
    }
    if meta.len() > max_bytes {
        return Err(Skip::TooLarge);
    }
    let mut bytes = Vec::new();
    file.take(max_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|_| Skip::Unreadable)?;
    if bytes.len() as u64 > max_bytes {
        return Err(Skip::TooLarge);
    }
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
    // Where files must be when read (see `read`), as the kernel names it.
    let real_root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    // Each directory's ignore files are read here (see `IgnoreBudget::read`), never by
    // the walk's library: a directory whose ignore file is anything but a small regular
    // file is not walked (the root's stops the run), and past the bounds the run stops.
    // Those of the directories above the root are not read at all, as git reads none
    // outside a work tree: one in a shared directory such as /tmp was another user's to
    // write (a `*` there emptied the user's knowledge base at the next run).
    let mut budget = IgnoreBudget::default();
    let root_rules = budget.read(root).map_err(|refusal| match refusal {
        IgnoreRefusal::NotRegular(file) => format!(
            "{} is not a regular file (a link, a FIFO, a device): refused; replace it with \
             the file itself",
            file.display()
        ),
        IgnoreRefusal::Refused(why) => why,
    })?;
    let exclude = git_exclude(root, &mut budget)?;
    // The user's own global excludes (`core.excludesFile`), as git applies them.
    let (global, _) = ignore::gitignore::Gitignore::global();
    let mut matchers = HashMap::new();
    matchers.insert(root.to_path_buf(), root_rules);
    let budget = std::sync::Arc::new(std::sync::Mutex::new((budget, matchers)));
    let shared = budget.clone();
    let walker = ignore::WalkBuilder::new(root)
        .hidden(true)
        // No ignore file is read by the library (nor, with these off, any above the root).
        .ignore(false)
        .git_ignore(false)
        .git_global(false)
        .git_exclude(false)
        .parents(false)
        .require_git(false)
        .sort_by_file_name(|a, b| a.cmp(b))
        .filter_entry(move |e| {
            if e.depth() == 0 {
                return true;
            }
            let dir = e.file_type().is_some_and(|t| t.is_dir());
            if exclude.matched(e.path(), dir).is_ignore() {
                return false;
            }
            let Ok(mut held) = shared.lock() else {
                return false;
            };
            let (budget, matchers) = &mut *held;
            if budget.refused.is_some() {
                return false;
            }
            if ignored(matchers, e.path(), dir) || global.matched(e.path(), dir).is_ignore() {
                return false;
            }
            if dir {
                match budget.read(e.path()) {
                    Ok(rules) => {
                        if !rules.is_empty() {
                            matchers.insert(e.path().to_path_buf(), rules);
                        }
                    }
                    Err(IgnoreRefusal::NotRegular(_)) => {
                        budget.passed_over.push(e.path().to_path_buf());
                        return false;
                    }
                    Err(IgnoreRefusal::Refused(why)) => {
                        budget.refused = Some(why);
                        return false;
                    }
                }
            }
            true
        })
        .build();
    for entry in walker {
        // A directory that cannot be listed is passed over and named; an error without
        // a path inside the repository (the root itself) stops the walk.
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => match error_path(&e).and_then(|p| relative(root, p)) {
                Some(rel) => {
                    out.unread.push(rel);
                    *out.skipped.entry(Skip::UnreadableDirectory).or_default() += 1;
                    continue;
                }
                None => return Err(format!("cannot walk {}: {e}", root.display())),
            },
        };
        if entry.path_is_symlink() {
            *out.skipped.entry(Skip::Link).or_default() += 1;
            continue;
        }
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
        match kind {
            Ok(kind) => out.files.push(File {
                path: rel,
                kind,
                text: None,
            }),
            Err(skip) => *out.skipped.entry(skip).or_default() += 1,
        }
    }
    out.from = Some((root.to_path_buf(), real_root, opts.max_bytes));
    let budget = budget
        .lock()
        .map(|mut b| std::mem::take(&mut b.0))
        .unwrap_or_default();
    if let Some(why) = budget.refused {
        return Err(why);
    }
    for dir in budget.passed_over {
        if let Some(rel) = relative(root, &dir) {
            out.unread.push(rel);
            *out.skipped.entry(Skip::IgnoreFileNotRegular).or_default() += 1;
        }
    }
    Ok(out)
}

/// Most bytes of one ignore file (`.gitignore`, `.ignore`, `.git/info/exclude`). The
/// cost of an ignore file is its globs, compiled when its directory is walked: 1 MiB of
/// `**/*a1*b*c*d*e*f*g*/**` lines (39,000 globs) took 740 MB and 1.5 s to compile; a
/// hand-written ignore file is a few KiB.
pub const MAX_IGNORE_FILE_BYTES: u64 = 128 << 10;

/// Most bytes of ignore files one walk reads, all directories together (a file linked
/// into many directories counts in each, being compiled in each): the same 1 MiB file
/// hard-linked into 50 directories took a dry run 47 s and 760 MB; within these bounds
/// (15 files of 128 KiB of such globs) it takes 2.2 s and 150 MB.
pub const MAX_IGNORE_BYTES_PER_WALK: u64 = 2 << 20;

/// The ignore files a walk has let the library read so far.
#[derive(Default)]
struct IgnoreBudget {
    /// Their bytes, all together.
    bytes: u64,
    /// Directories passed over for an ignore file that is not a regular file.
    passed_over: Vec<PathBuf>,
    /// Why the walk stops, once it must.
    refused: Option<String>,
}

/// Why the ignore files of a directory are not read.
enum IgnoreRefusal {
    /// This one is not a regular file: the directory is passed over.
    NotRegular(PathBuf),
    /// Past a bound: the run stops, with this message.
    Refused(String),
}

impl IgnoreBudget {
    /// Reads and compiles the ignore files of `dir` (`.ignore` then `.gitignore`, the
    /// order they take precedence in), where there are any: each opened without
    /// following a link or waiting, a regular file, read up to
    /// [`MAX_IGNORE_FILE_BYTES`] and counted against [`MAX_IGNORE_BYTES_PER_WALK`]. The
    /// walk's library reads none itself: it read a file by its name after this checked
    /// it, so one grown as it was opened (a 64 GiB sparse line) took the run to 6 GB.
    fn read(&mut self, dir: &Path) -> Result<Vec<ignore::gitignore::Gitignore>, IgnoreRefusal> {
        let mut matchers = Vec::new();
        for name in [".ignore", ".gitignore"] {
            let file = dir.join(name);
            if let Some(m) = self.read_one(dir, &file)? {
                matchers.push(m);
            }
        }
        Ok(matchers)
    }

    /// One ignore file of `dir` (see [`IgnoreBudget::read`]); `None` where there is none.
    fn read_one(
        &mut self,
        dir: &Path,
        file: &Path,
    ) -> Result<Option<ignore::gitignore::Gitignore>, IgnoreRefusal> {
        match read_ignore_file(file) {
            // None, or one that cannot be opened (a path too long): the directory's own
            // listing then says whether it can be read.
            IgnoreFile::Absent | IgnoreFile::OpenFailed(_) => Ok(None),
            // A link, or what is not a regular file: the directory is passed over.
            IgnoreFile::NotRegular | IgnoreFile::ReadFailed(_) => {
                Err(IgnoreRefusal::NotRegular(file.to_path_buf()))
            }
            IgnoreFile::Read(bytes) => {
                self.count(file, bytes.len() as u64)?;
                Ok(Some(compile(dir, file, &bytes)))
            }
        }
    }

    /// Counts `len` bytes of the ignore file `file`, or says why the walk stops.
    fn count(&mut self, file: &Path, len: u64) -> Result<(), IgnoreRefusal> {
        if len > MAX_IGNORE_FILE_BYTES {
            return Err(IgnoreRefusal::Refused(format!(
                "{} is {len} bytes, over the {MAX_IGNORE_FILE_BYTES} an ignore file may have \
                 (its globs are compiled as the walk reaches it): refused; shorten it, or \
                 ingest a copy of the repository without it",
                file.display()
            )));
        }
        self.bytes = self.bytes.saturating_add(len);
        if self.bytes > MAX_IGNORE_BYTES_PER_WALK {
            return Err(IgnoreRefusal::Refused(format!(
                "the ignore files read up to {} come to over {MAX_IGNORE_BYTES_PER_WALK} bytes \
                 (their globs are compiled as the walk reaches them): refused; ingest a \
                 smaller part of the repository, or a copy with fewer ignore files",
                file.display()
            )));
        }
        Ok(())
    }
}

/// The patterns of the root's `.git/info/exclude`, read here rather than by the walk's
/// library: it would read that file in every directory holding a `.git`, and the file
/// a `.git` file's `gitdir:` line names and that directory's `commondir`, each opened
/// following links, waited on and read to its end (a link to `/dev/zero` took 3.1 GB in
/// 1.9 s; a FIFO hung the run). Here it is opened without following a link or waiting,
/// must be a regular file within [`MAX_IGNORE_FILE_BYTES`], and is read only where
/// `.git` is a directory of the root: a worktree's exclude file (through a `.git` file)
/// and those of repositories nested inside are not applied. A pattern of it is applied
/// before the `.gitignore` files, so a `!pattern` there does not bring back what it
/// excludes.
fn git_exclude(
    root: &Path,
    budget: &mut IgnoreBudget,
) -> Result<ignore::gitignore::Gitignore, String> {
    let none = ignore::gitignore::Gitignore::empty();
    let git = root.join(".git");
    if !std::fs::symlink_metadata(&git).is_ok_and(|m| m.is_dir()) {
        return Ok(none);
    }
    let path = git.join("info").join("exclude");
    let not_regular = || {
        format!(
            "{} is not a regular file (a link, a FIFO, a device): refused; remove it, or \
             ingest a copy of the repository without it",
            path.display()
        )
    };
    let bytes = match read_ignore_file(&path) {
        IgnoreFile::Absent => return Ok(none),
        IgnoreFile::NotRegular => return Err(not_regular()),
        IgnoreFile::OpenFailed(e) | IgnoreFile::ReadFailed(e) => {
            return Err(format!("cannot read {}: {e}", path.display()));
        }
        IgnoreFile::Read(bytes) => bytes,
    };
    budget
        .count(&path, bytes.len() as u64)
        .map_err(|refusal| match refusal {
            IgnoreRefusal::Refused(why) => why,
            IgnoreRefusal::NotRegular(_) => not_regular(),
        })?;
    Ok(compile(root, &path, &bytes))
}

/// What reading an ignore file found.
enum IgnoreFile {
    /// There is none.
    Absent,
    /// A link, a FIFO, a device: not read.
    NotRegular,
    /// It could not be opened.
    OpenFailed(std::io::Error),
    /// It was opened, but could not be looked at or read.
    ReadFailed(std::io::Error),
    /// Its bytes, up to one past [`MAX_IGNORE_FILE_BYTES`] (the caller counts them).
    Read(Vec<u8>),
}

/// Reads the ignore file `file`: opened without following a link or waiting, a regular
/// file, read up to one byte past its bound, so what it holds is what was read (a file
/// that grows once opened is cut there).
fn read_ignore_file(file: &Path) -> IgnoreFile {
    use std::io::Read;
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    let opened = match options.open(file) {
        Ok(opened) => opened,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return IgnoreFile::Absent,
        #[cfg(unix)]
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => return IgnoreFile::NotRegular,
        Err(e) => return IgnoreFile::OpenFailed(e),
    };
    match opened.metadata() {
        Ok(meta) if !meta.is_file() => return IgnoreFile::NotRegular,
        Ok(_) => {}
        Err(e) => return IgnoreFile::ReadFailed(e),
    }
    let mut bytes = Vec::new();
    match opened
        .take(MAX_IGNORE_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
    {
        Ok(_) => IgnoreFile::Read(bytes),
        Err(e) => IgnoreFile::ReadFailed(e),
    }
}

/// The patterns of the ignore file `file` of directory `dir`, read as `bytes`: a line
/// the library would not compile is left out, as it leaves one out when it reads a file.
fn compile(dir: &Path, file: &Path, bytes: &[u8]) -> ignore::gitignore::Gitignore {
    let mut builder = ignore::gitignore::GitignoreBuilder::new(dir);
    for line in String::from_utf8_lossy(bytes).lines() {
        let _ = builder.add_line(Some(file.to_path_buf()), line);
    }
    builder
        .build()
        .unwrap_or_else(|_| ignore::gitignore::Gitignore::empty())
}

/// Whether `path` is ignored by the ignore files `matchers` holds for the directories
/// above it (up to the root), the deepest first as git reads them: the first that
/// matches decides, a `!pattern` bringing back what one above ignores.
fn ignored(
    matchers: &HashMap<PathBuf, Vec<ignore::gitignore::Gitignore>>,
    path: &Path,
    dir: bool,
) -> bool {
    for above in path.ancestors().skip(1) {
        for m in matchers.get(above).into_iter().flatten() {
            match m.matched(path, dir) {
                ignore::Match::Ignore(_) => return true,
                ignore::Match::Whitelist(_) => return false,
                ignore::Match::None => {}
            }
        }
    }
    false
}

/// The path a walk error is about, if it names one.
fn error_path(e: &ignore::Error) -> Option<&Path> {
    match e {
        ignore::Error::WithPath { path, .. } => Some(path),
        ignore::Error::Loop { child, .. } => Some(child),
        ignore::Error::WithDepth { err, .. } | ignore::Error::WithLineNumber { err, .. } => {
            error_path(err)
        }
        ignore::Error::Partial(errs) => errs.iter().find_map(error_path),
        _ => None,
    }
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

    /// What `read` gets when the listed file was swapped after the walk listed it.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_file_swapped_for_a_link_or_a_fifo_is_not_read() {
        use std::os::unix::fs::symlink;
        let base = std::env::temp_dir().join(format!("maas-walk-swap-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let (root, elsewhere) = (base.join("repo"), base.join("elsewhere"));
        std::fs::create_dir_all(root.join("src")).unwrap();
        std::fs::create_dir_all(&elsewhere).unwrap();
        std::fs::write(elsewhere.join("secret.rs"), "fn secret() {}").unwrap();
        std::fs::write(root.join("src/lib.rs"), "fn ok() {}").unwrap();
        let read = |rel: &str, max: u64| read(&root, rel, &root.join(rel), max);
        assert_eq!(read("src/lib.rs", 1 << 20).as_deref(), Ok("fn ok() {}"));
        assert_eq!(read("src/lib.rs", 4), Err(Skip::TooLarge));
        // The file itself a link: to a file elsewhere, to a device without end.
        symlink(elsewhere.join("secret.rs"), root.join("src/a.rs")).unwrap();
        symlink("/dev/zero", root.join("src/zero.rs")).unwrap();
        assert_eq!(read("src/a.rs", 1 << 20), Err(Skip::Outside));
        assert_eq!(read("src/zero.rs", 1 << 20), Err(Skip::Outside));
        // A directory above it a link: the name is inside, the file is not.
        symlink(&elsewhere, root.join("linked")).unwrap();
        assert_eq!(read("linked/secret.rs", 1 << 20), Err(Skip::Outside));
        // A directory swapped for a link to another inside the repository (one the walk
        // leaves out): not the file listed either.
        std::fs::create_dir_all(root.join("private")).unwrap();
        std::fs::write(root.join("private/creds.rs"), "fn creds() {}").unwrap();
        symlink(root.join("private"), root.join("zzz")).unwrap();
        assert_eq!(read("zzz/creds.rs", 1 << 20), Err(Skip::Outside));
        // A FIFO is not waited on.
        let fifo = root.join("src/fifo.rs");
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        assert_eq!(read("src/fifo.rs", 1 << 20), Err(Skip::Outside));
        let _ = std::fs::remove_dir_all(&base);
    }

    /// The walk reads ignore files itself: one that is a link or a FIFO keeps its
    /// directory out (the root's refuses the run), and links are counted, not followed.
    #[cfg(unix)]
    #[test]
    fn directories_whose_ignore_files_are_not_regular_files_are_not_walked() {
        use std::os::unix::fs::symlink;
        let root = std::env::temp_dir().join(format!("maas-walk-ignore-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for dir in ["a", "b", "c"] {
            std::fs::create_dir_all(root.join(dir)).unwrap();
            std::fs::write(root.join(dir).join("lib.rs"), "fn f() {}").unwrap();
        }
        symlink("/dev/zero", root.join("a/.gitignore")).unwrap();
        assert!(
            std::process::Command::new("mkfifo")
                .arg(root.join("b/.ignore"))
                .status()
                .unwrap()
                .success()
        );
        symlink(root.join("c/lib.rs"), root.join("c/link.rs")).unwrap();
        let opts = WalkOptions {
            max_bytes: 1 << 20,
            incident_globs: Vec::new(),
        };
        let walked = walk(&root, &opts).unwrap();
        let paths: Vec<&str> = walked.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["c/lib.rs"]);
        assert_eq!(walked.skipped.get(&Skip::IgnoreFileNotRegular), Some(&2));
        assert_eq!(walked.skipped.get(&Skip::Link), Some(&1));
        assert_eq!(walked.unread, ["a", "b"]);
        symlink("/dev/zero", root.join(".gitignore")).unwrap();
        assert!(walk(&root, &opts).is_err());
        let _ = std::fs::remove_dir_all(&root);
    }

    /// `walk` of `root` on a thread of its own, `None` if it has not returned in 20 s
    /// (waiting on a FIFO, say).
    #[cfg(unix)]
    fn walk_within(root: &Path) -> Option<Result<Walk, String>> {
        let (tx, rx) = std::sync::mpsc::channel();
        let root = root.to_path_buf();
        std::thread::spawn(move || {
            let opts = WalkOptions {
                max_bytes: 1 << 20,
                incident_globs: Vec::new(),
            };
            let _ = tx.send(walk(&root, &opts));
        });
        rx.recv_timeout(std::time::Duration::from_secs(20)).ok()
    }

    #[cfg(unix)]
    fn mkfifo(path: &Path) {
        assert!(
            std::process::Command::new("mkfifo")
                .arg(path)
                .status()
                .unwrap()
                .success()
        );
    }

    /// `.git/info/exclude` is read by the walk itself, checked as the ignore files are:
    /// still honoured, never waited on, and the files a `.git` file leads to (its
    /// `gitdir:`, that directory's `commondir`) are never opened.
    #[cfg(unix)]
    #[test]
    fn the_git_exclude_file_is_honoured_and_never_waited_on() {
        let base = std::env::temp_dir().join(format!("maas-walk-exclude-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let root = base.join("repo");
        std::fs::create_dir_all(root.join(".git/info")).unwrap();
        std::fs::create_dir_all(root.join("src")).unwrap();
        std::fs::write(root.join("src/lib.rs"), "fn f() {}").unwrap();
        std::fs::write(root.join("src/secret.rs"), "fn s() {}").unwrap();
        std::fs::write(root.join(".git/info/exclude"), "# local\nsecret.rs\n").unwrap();
        let walked = walk_within(&root).unwrap().unwrap();
        let paths: Vec<&str> = walked.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["src/lib.rs"]);
        // A FIFO, in the root's `.git` or a nested one's: refused, or not opened at all.
        std::fs::create_dir_all(root.join("src/.git/info")).unwrap();
        mkfifo(&root.join("src/.git/info/exclude"));
        assert!(walk_within(&root).unwrap().is_ok());
        std::fs::remove_file(root.join(".git/info/exclude")).unwrap();
        mkfifo(&root.join(".git/info/exclude"));
        let e = walk_within(&root).unwrap().unwrap_err();
        assert!(e.contains(".git/info/exclude is not a regular file"), "{e}");
        // A worktree's `.git` file leading to a FIFO `commondir`.
        let (worktree, gitdir) = (base.join("worktree"), base.join("gitdir"));
        std::fs::create_dir_all(worktree.join("src")).unwrap();
        std::fs::create_dir_all(&gitdir).unwrap();
        std::fs::write(worktree.join("src/lib.rs"), "fn f() {}").unwrap();
        mkfifo(&gitdir.join("commondir"));
        std::fs::write(
            worktree.join(".git"),
            format!("gitdir: {}\n", gitdir.display()),
        )
        .unwrap();
        let walked = walk_within(&worktree).unwrap().unwrap();
        assert_eq!(walked.files.len(), 1);
        // Above the root no ignore file is read: one ignoring everything hides nothing,
        // and a FIFO there is never waited on.
        std::fs::write(base.join(".gitignore"), "*\n").unwrap();
        let walked = walk_within(&worktree).unwrap().unwrap();
        assert_eq!(
            walked.files.len(),
            1,
            "the ignore file above the root is not read"
        );
        std::fs::remove_file(base.join(".gitignore")).unwrap();
        mkfifo(&base.join(".gitignore"));
        mkfifo(&base.join(".ignore"));
        let walked = walk_within(&worktree).unwrap().unwrap();
        assert_eq!(walked.files.len(), 1);
        let _ = std::fs::remove_dir_all(&base);
    }

    /// The ignore files the walk reads itself keep git's rules: the deepest decides, a
    /// `!pattern` below brings back what one above ignores, `.ignore` before
    /// `.gitignore` in one directory, and an ignored directory is not entered.
    #[test]
    fn ignore_files_read_by_the_walk_keep_gits_rules() {
        let base = std::env::temp_dir().join(format!("maas-walk-rules-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        for dir in ["src/sub", "build"] {
            std::fs::create_dir_all(base.join(dir)).unwrap();
        }
        for file in [
            "src/a.rs",
            "src/b.rs",
            "src/sub/c.rs",
            "src/sub/d.rs",
            "build/e.rs",
        ] {
            std::fs::write(base.join(file), "fn f() {}").unwrap();
        }
        std::fs::write(base.join(".gitignore"), "build/\n*.rs\n!src/a.rs\n").unwrap();
        std::fs::write(base.join("src/sub/.gitignore"), "!c.rs\n").unwrap();
        std::fs::write(base.join("src/sub/.ignore"), "c.rs\n").unwrap();
        std::fs::write(base.join("src/.gitignore"), "!d.rs\n").unwrap();
        let walked = walk_within(&base).unwrap().unwrap();
        let mut paths: Vec<&str> = walked.files.iter().map(|f| f.path.as_str()).collect();
        paths.sort_unstable();
        assert_eq!(paths, ["src/a.rs", "src/sub/d.rs"]);
        let _ = std::fs::remove_dir_all(&base);
    }

    /// An ignore file over its bound, or ignore files over theirs all together, stop the
    /// walk with an error naming the file.
    #[cfg(unix)]
    #[test]
    fn ignore_files_past_their_bounds_stop_the_walk_naming_the_file() {
        let base = std::env::temp_dir().join(format!("maas-walk-globs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let one = base.join("one");
        std::fs::create_dir_all(one.join("sub")).unwrap();
        std::fs::write(one.join("sub/lib.rs"), "fn f() {}").unwrap();
        let big = "*x*\n".repeat(MAX_IGNORE_FILE_BYTES as usize / 4 + 1);
        std::fs::write(one.join("sub/.gitignore"), &big).unwrap();
        let e = walk_within(&one).unwrap().unwrap_err();
        assert!(e.contains("sub/.gitignore is"), "{e}");
        // Under the bound each, over the walk's bound together.
        let many = base.join("many");
        let each = "*x*\n".repeat(MAX_IGNORE_FILE_BYTES as usize / 4);
        let dirs = MAX_IGNORE_BYTES_PER_WALK / each.len() as u64 + 1;
        for n in 0..dirs {
            let dir = many.join(format!("d{n:03}"));
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join(".gitignore"), &each).unwrap();
            std::fs::write(dir.join("lib.rs"), "fn f() {}").unwrap();
        }
        let e = walk_within(&many).unwrap().unwrap_err();
        assert!(e.contains(&format!("d{:03}/.gitignore", dirs - 1)), "{e}");
        // Within both, the walk goes on.
        std::fs::remove_dir_all(many.join(format!("d{:03}", dirs - 1))).unwrap();
        assert_eq!(
            walk_within(&many).unwrap().unwrap().files.len(),
            dirs as usize - 1
        );
        let _ = std::fs::remove_dir_all(&base);
    }

    #[test]
    fn a_walk_error_names_its_path_where_it_has_one() {
        let io = || {
            Box::new(ignore::Error::Io(
                std::io::ErrorKind::PermissionDenied.into(),
            ))
        };
        let with_path = ignore::Error::WithDepth {
            depth: 2,
            err: Box::new(ignore::Error::WithPath {
                path: "/r/web".into(),
                err: io(),
            }),
        };
        assert_eq!(error_path(&with_path), Some(Path::new("/r/web")));
        assert_eq!(
            error_path(&ignore::Error::Io(std::io::ErrorKind::Other.into())),
            None
        );
    }

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
