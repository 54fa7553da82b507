//! Where the `maas` command keeps its state: the data directory, its journal, and the
//! limits the core starts with.

use crate::errors::CliError;
use crate::journal::{JournalBackend, PostgresJournal, SqliteJournal, postgres};
use crate::{Clock, CoreImage, Runtime, RuntimeOptions, admin, default_limits};
use std::path::{Path, PathBuf};
use std::sync::RwLock;

/// The journal store chosen for this process (`--store`, `MAAS_STORE`): `None` for the
/// SQLite file in the data directory, else a PostgreSQL URL.
static STORE: RwLock<Option<String>> = RwLock::new(None);

/// Chooses the journal store: `sqlite` (the default: `journal.db` in the data directory)
/// or PostgreSQL, as a `postgres://` URL or libpq's `key=value` form. The data directory
/// is used either way, for the operator token. A value that is neither is refused with
/// its credentials hidden (a mistyped scheme still holds the password).
pub fn set_store(store: Option<&str>) -> Result<(), CliError> {
    let chosen = match store {
        None | Some("") | Some("sqlite") => None,
        Some(url) if postgres::is_url(url) => Some(url.to_string()),
        Some(other) => {
            let shown: String = postgres::redact_store(other).chars().take(80).collect();
            return Err(CliError::usage(
                format!("unknown store {shown:?}"),
                "use --store sqlite (the default), --store postgres://user:password@host:port/database \
                 or --store 'host=… user=… dbname=…'",
            ));
        }
    };
    if let Ok(mut slot) = STORE.write() {
        *slot = chosen;
    }
    Ok(())
}

/// The PostgreSQL URL chosen with [`set_store`], if any.
pub fn store_url() -> Option<String> {
    STORE.read().ok().and_then(|s| s.clone())
}

/// With a PostgreSQL store, wakes those waiting on `service` when another host commits
/// (its notifications); with SQLite, the core thread's polling of the head does that.
pub fn follow_other_hosts(service: &crate::service::CoreService) -> Result<(), CliError> {
    let Some(url) = store_url() else {
        return Ok(());
    };
    let service = service.clone();
    postgres::listen(&url, move |head| service.head_moved(head)).map_err(|e| {
        CliError::io(
            format!("cannot follow the PostgreSQL journal: {e}"),
            "check the --store URL",
        )
    })
}

/// Opens the chosen journal store for the data directory `dir`.
pub fn open_journal(dir: &Path) -> Result<Box<dyn JournalBackend>, CliError> {
    ensure(dir)?;
    if let Some(url) = store_url() {
        let journal = PostgresJournal::connect(&url).map_err(|e| {
            CliError::io(
                format!("cannot open the PostgreSQL journal: {e}"),
                "check that the database is up and the --store URL (user, password, host, port, database)",
            )
        })?;
        return Ok(Box::new(journal));
    }
    let path = dir.join(JOURNAL_FILE);
    create_private(&path).map_err(|e| {
        CliError::io(
            format!("cannot create the journal {}: {e}", path.display()),
            "check the data directory's permissions, or choose another with --data-dir",
        )
    })?;
    let journal = SqliteJournal::open(&path).map_err(|e| {
        let text = e.to_string();
        // SQLite says "file is not a database" or "malformed" of a damaged file.
        let hint = if text.contains("malformed") || text.contains("not a database") {
            "the file is damaged: restore it from a copy (`maas export` output can rebuild \
             a data directory with `maas import`), or choose another with --data-dir"
        } else {
            "check the data directory's permissions, or choose another with --data-dir"
        };
        CliError::io(
            format!("cannot open the journal {}: {text}", path.display()),
            hint,
        )
    })?;
    Ok(Box::new(journal))
}

/// Opens further connections to the journal of the data directory `dir` (see
/// [`open_journal`]): for the core instance that saves snapshots beside a server's.
pub fn journal_opener(dir: &Path) -> crate::runtime::JournalOpener {
    let dir = dir.to_path_buf();
    std::sync::Arc::new(move || open_journal(&dir).map_err(|e| e.message()))
}

/// The journal's file name inside the data directory.
pub const JOURNAL_FILE: &str = "journal.db";

/// One core limit: its `--limit` key, the capacity resource a refusal at it names (if
/// it differs from the key), and its field of `admin.limits`. The one table every use of
/// a limit key reads: parsing `--limit`, applying it, naming it in `maas stats` and in
/// the hint of a capacity error.
pub struct LimitKey {
    /// The `--limit` key, kebab case.
    pub key: &'static str,
    /// The `resource` of the capacity error this limit raises, when it is not `key`.
    pub resource: Option<&'static str>,
    /// The field.
    pub field: fn(&mut admin::Limits) -> &mut u64,
}

/// Declares the limit table.
macro_rules! limit_keys {
    ($($key:literal $(as $resource:literal)? => $field:ident),+ $(,)?) => {
        /// Every core limit, in the order of `admin.limits`.
        pub const LIMITS: &[LimitKey] = &[$(LimitKey {
            key: $key,
            resource: limit_keys!(@resource $($resource)?),
            field: |l| &mut l.$field,
        }),+];
    };
    (@resource) => { None };
    (@resource $r:literal) => { Some($r) };
}

limit_keys! {
    "agents" => agents,
    "sessions" => sessions,
    "pools" => pools,
    "members-per-pool" as "pool-members" => members_per_pool,
    "shares-per-pool" as "pool-shares" => shares_per_pool,
    "handoffs" => handoffs,
    "pending-per-target" as "pending-handoffs" => pending_per_target,
    "memories" => memories,
    "documents" => documents,
    "handoff-retention-seconds" => handoff_retention_seconds,
    "audit-window" => audit_window,
    "memory-bytes" => memory_bytes,
    "memories-per-owner" => memories_per_owner,
    "documents-per-owner" => documents_per_owner,
    "pending-per-target-per-owner" as "pending-handoffs-per-owner" => pending_per_target_per_owner,
    "writes-per-minute" => writes_per_minute,
    "change-window" => change_window,
    "pools-per-owner" => pools_per_owner,
    "handoffs-per-owner" => handoffs_per_owner,
    "text-bytes-per-owner" => text_bytes_per_owner,
    "write-bytes-per-minute" => write_bytes_per_minute,
}

/// The `--limit` key that raises the limit a capacity error on `resource` names.
pub fn key_for_resource(resource: &str) -> Option<&'static str> {
    LIMITS
        .iter()
        .find(|l| l.resource.unwrap_or(l.key) == resource)
        .map(|l| l.key)
}

/// Every limit by key with its value in `l`.
pub fn limit_values(l: &admin::Limits) -> Vec<(&'static str, u64)> {
    let mut copy = *l;
    LIMITS
        .iter()
        .map(|k| (k.key, *(k.field)(&mut copy)))
        .collect()
}

/// One `--limit key=value` setting, with the key in its canonical (kebab) form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitSetting {
    /// One of the keys of [`LIMITS`].
    pub key: &'static str,
    /// The limit; zero means the default.
    pub value: u64,
}

/// Parses `key=value`; `-` and `_` are interchangeable in the key.
pub fn parse_limit(text: &str) -> Result<LimitSetting, String> {
    let (key, value) = text
        .split_once('=')
        .ok_or_else(|| format!("expected KEY=VALUE, got '{text}'"))?;
    let wanted = key.trim().replace('_', "-");
    let key = LIMITS
        .iter()
        .map(|l| l.key)
        .find(|k| *k == wanted)
        .ok_or_else(|| {
            format!(
                "unknown limit '{}'; choose from {}",
                key.trim(),
                LIMITS.iter().map(|l| l.key).collect::<Vec<_>>().join(", ")
            )
        })?;
    let value = value.trim().parse::<u64>().map_err(|_| {
        format!(
            "the limit {key} needs a whole number, got '{}'",
            value.trim()
        )
    })?;
    Ok(LimitSetting { key, value })
}

/// The limits with the settings applied over the defaults (later settings win).
pub fn limits(settings: &[LimitSetting]) -> admin::Limits {
    let mut l = default_limits();
    for s in settings {
        if let Some(limit) = LIMITS.iter().find(|l| l.key == s.key) {
            *(limit.field)(&mut l) = s.value;
        }
    }
    l
}

/// The data directory: the flag (or `MAAS_HOME`, which clap folds into it), else the
/// platform's data directory, else `./.maas`.
pub fn resolve(flag: Option<&Path>) -> PathBuf {
    match flag.filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) => dir.to_path_buf(),
        None => dirs::data_dir()
            .map(|d| d.join("maas"))
            .unwrap_or_else(|| PathBuf::from(".maas")),
    }
}

/// Creates the directory if it is missing, and makes it accessible to its owner only
/// (0700) even if it existed before with wider permissions — as long as it is the user's
/// own (the one maas runs as) and, when others may write in it (or it is sticky or
/// setgid), maas's own or empty: a shared directory of other files (`/tmp`, a team's
/// project) is refused, never stripped of its permissions.
pub fn secure_dir(dir: &Path) -> std::io::Result<()> {
    if !dir.is_dir() {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder.create(dir)?;
    }
    // Followed if a link: the data directory may be reached through one.
    let meta = std::fs::metadata(dir)?;
    if crate::owned::owner(&meta) != crate::owned::me() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            format!(
                "it belongs to another user (uid {}, maas runs as uid {}): run maas as that \
                 user, or choose a directory of your own",
                crate::owned::owner(&meta),
                crate::owned::me()
            ),
        ));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o7022 != 0 && !maas_own_or_empty(dir)? {
            return Err(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                format!(
                    "it holds files that are not maas's and others share it (mode {mode:04o}); \
                     maas keeps its data directory private (0700) and will not take that \
                     from a shared directory: choose a new or empty one"
                ),
            ));
        }
    }
    restrict(dir, 0o700)
}

/// Whether `dir` is empty or holds maas's journal or operator token (the user's own
/// regular file: a name another user put there does not make it maas's).
fn maas_own_or_empty(dir: &Path) -> std::io::Result<bool> {
    let mut entries = std::fs::read_dir(dir)?.peekable();
    if entries.peek().is_none() {
        return Ok(true);
    }
    Ok(entries.flatten().any(|e| {
        let name = e.file_name();
        (name == JOURNAL_FILE || name == "operator-token")
            && crate::owned::check_path(&e.path()).is_ok()
    }))
}

/// Whether `dir` will name the same directory for as long as maas uses it: no link on
/// the way to it belongs to another user, and no directory above it may be changed by
/// another user (owned by root or the user, and writable by no one else unless sticky),
/// as OpenSSH asks of the directories above a key. Otherwise another user could swap
/// the data directory for one of theirs between maas's checks and its opens.
fn stays_put(dir: &Path) -> std::io::Result<()> {
    let refuse = |what: String| {
        Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            what,
        ))
    };
    let real = resolve_checked(dir)?;
    // What does not exist yet is created by maas, under the nearest that does.
    for above in real.ancestors().skip(1) {
        let Ok(m) = std::fs::metadata(above) else {
            continue;
        };
        let owner = crate::owned::owner(&m);
        if owner != 0 && owner != crate::owned::me() {
            return refuse(format!(
                "{} above it belongs to another user (uid {owner}), who could replace it",
                above.display()
            ));
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = m.permissions().mode() & 0o7777;
            if mode & 0o022 != 0 && mode & 0o1000 == 0 {
                return refuse(format!(
                    "{} above it may be changed by other users (mode {mode:04o}, no sticky \
                     bit), who could replace it",
                    above.display()
                ));
            }
        }
    }
    Ok(())
}

/// `dir` resolved one name at a time, as the kernel will: every link met on the way,
/// in the path as given or inside a link's target, must be root's or the user's (another
/// user's link could be pointed elsewhere at any time). A tail that does not exist yet is
/// kept as written.
pub(crate) fn resolve_checked(dir: &Path) -> std::io::Result<PathBuf> {
    use std::collections::VecDeque;
    use std::path::Component;
    let mut todo: VecDeque<std::ffi::OsString> = std::path::absolute(dir)?
        .components()
        .filter(|c| !matches!(c, Component::RootDir | Component::Prefix(_)))
        .map(|c| c.as_os_str().to_os_string())
        .collect();
    let mut done = PathBuf::from("/");
    let mut links = 0;
    while let Some(part) = todo.pop_front() {
        if part == "." {
            continue;
        }
        if part == ".." {
            done.pop();
            continue;
        }
        let next = done.join(&part);
        let meta = match std::fs::symlink_metadata(&next) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                done = next;
                done.extend(todo.drain(..));
                break;
            }
            Err(e) => return Err(e),
        };
        if !meta.file_type().is_symlink() {
            done = next;
            continue;
        }
        let owner = crate::owned::owner(&meta);
        if owner != 0 && owner != crate::owned::me() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                format!(
                    "the link {} on the way to it is another user's (uid {owner}), who \
                     could point it elsewhere",
                    next.display()
                ),
            ));
        }
        links += 1;
        if links > 40 {
            return Err(std::io::Error::other(format!(
                "too many links on the way to {}",
                dir.display()
            )));
        }
        let target = std::fs::read_link(&next)?;
        if target.is_absolute() {
            done = PathBuf::from("/");
        }
        for c in target.components().rev() {
            if !matches!(c, Component::RootDir | Component::Prefix(_)) {
                todo.push_front(c.as_os_str().to_os_string());
            }
        }
    }
    Ok(done)
}

/// Makes `path` readable and writable by its owner only (0600), if it exists. One that
/// others could read until now is named on stderr: a mode takes nothing from a process
/// that opened the file before (one holding the journal open read every later change
/// through that descriptor), so the user learns to rotate what it held.
pub fn secure_file(path: &Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_file() => {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = meta.permissions().mode() & 0o777;
                if mode & 0o044 != 0 {
                    eprintln!(
                        "maas: {} was readable by others (mode {mode:o}); it is 0600 now, but a \
                         process that opened it before can still read it: if other users share \
                         this machine, rotate the tokens (maas operator rotate-token; maas agent \
                         rotate-token ID)",
                        path.display()
                    );
                }
            }
            restrict(path, 0o600)
        }
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Sets `mode` on `path` unless it grants nothing beyond `mode` already.
#[cfg(unix)]
fn restrict(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let current = std::fs::metadata(path)?.permissions().mode() & 0o7777;
    if current & !mode == 0 {
        return Ok(());
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn restrict(_path: &Path, _mode: u32) -> std::io::Result<()> {
    Ok(())
}

/// The files maas keeps in a data directory: the journal with SQLite's companions (its
/// snapshots live inside it), the state image, the operator token and the digests of
/// tokens that worked with the HTTP server.
pub fn kept_files(dir: &Path) -> Vec<PathBuf> {
    let journal = dir.join(JOURNAL_FILE);
    let mut files = vec![journal.clone()];
    for suffix in ["-wal", "-shm", "-journal"] {
        let mut name = journal.clone().into_os_string();
        name.push(suffix);
        files.push(PathBuf::from(name));
    }
    files.push(crate::runtime::image_path(dir));
    files.push(crate::operator::token_path(dir));
    files.push(dir.join(KNOWN_TOKENS_FILE));
    files
}

/// The file of known agent tokens' digests (see [`crate::known_tokens`]).
pub const KNOWN_TOKENS_FILE: &str = "http-known-tokens";

/// Creates the directory if it is missing and makes it and the files maas keeps in it
/// private to their owner (0700 and 0600), even when they existed before.
pub fn ensure(dir: &Path) -> Result<(), CliError> {
    if dir.exists() && !dir.is_dir() {
        return Err(CliError::io(
            format!(
                "the data directory {} is a file, not a directory",
                dir.display()
            ),
            "pass a directory (new or maas's own) with --data-dir or MAAS_HOME",
        ));
    }
    // Checked before anything is created or changed there.
    stays_put(dir).and_then(|()| secure_dir(dir)).map_err(|e| {
        let hint = if e.to_string().starts_with("it belongs to another user (uid") {
            "run maas as the directory's owner (e.g. runuser -u OWNER -- maas …), or choose a \
             directory of your own with --data-dir or MAAS_HOME"
        } else {
            "choose a directory of your own, in directories only you (or root) can change, \
             with --data-dir or MAAS_HOME (a shared directory above it can be made sticky, \
             chmod +t, as /tmp is, so no one renames what is not theirs)"
        };
        CliError::io(
            format!(
                "cannot use {} as the data directory (created if missing, kept 0700): {e}",
                dir.display()
            ),
            hint,
        )
    })?;
    // Now that no one else may change the directory, what it held before must be the
    // user's own regular files: a link, a FIFO or a file another user put there while
    // the directory was open to them (an operator token of their choosing, a journal of
    // theirs, a link to a file of the user's that a write would overwrite) is refused.
    for file in kept_files(dir) {
        crate::owned::check_path(&file)
            .and_then(|()| secure_file(&file))
            .map_err(|e| {
                CliError::io(
                    format!("cannot use {}: {e}", file.display()),
                    "remove it if maas did not write it (another user may have), and fix the \
                     owner or permissions of what maas did write; to move a journal, move the \
                     whole data directory and pass --data-dir",
                )
            })?;
    }
    let ingest = dir.join("ingest");
    if std::fs::symlink_metadata(&ingest).is_ok() {
        crate::owned::dir(&ingest)
            .and_then(|()| {
                for entry in std::fs::read_dir(&ingest)? {
                    crate::owned::check_path(&entry?.path())?;
                }
                Ok(())
            })
            .map_err(|e| {
                CliError::io(
                    format!("cannot use {}: {e}", ingest.display()),
                    "remove it if maas did not make it (another user may have)",
                )
            })?;
    }
    Ok(())
}

/// Creates an empty journal file readable by its owner only, so that SQLite, which gives
/// its `-wal` and `-shm` files the journal's permissions, keeps them private too.
///
/// A journal that exists is never opened here ([`ensure`] made it private): SQLite's
/// locks are POSIX record locks, which a process loses on *every* descriptor of the
/// file the moment it closes any one of them. A process serving the journal that opened
/// and closed it again (a snapshot saved beside) held no lock afterwards, so a one-shot
/// command took itself for the last user, folded the write-ahead log in and removed
/// it, and the server's later commits went to the removed file.
fn create_private(path: &Path) -> std::io::Result<()> {
    // `create_new` (O_EXCL) fails on a file that exists without opening it.
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        // It exists (made private by `ensure`, or just now by another process).
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Opens the core over the chosen journal store, creating the data directory if needed.
pub fn open(dir: &Path, limits: admin::Limits) -> Result<Runtime, CliError> {
    open_with(
        dir,
        RuntimeOptions {
            limits,
            clock: Clock::System,
            progress: true,
            ..RuntimeOptions::default()
        },
    )
}

/// Opens the core over the chosen journal store (see [`set_store`]) with `options`, its
/// state image and its file of known tokens in `dir` unless the options name others.
pub fn open_with(dir: &Path, mut options: RuntimeOptions) -> Result<Runtime, CliError> {
    let journal = open_journal(dir)?;
    if options.image.is_none() {
        options.image = Some(crate::runtime::image_path(dir));
        options.image_after = crate::runtime::image_after();
    }
    if options.known_tokens.is_none() {
        options.known_tokens = Some(dir.join(KNOWN_TOKENS_FILE));
    }
    if options.ingest_manifests.is_none() {
        options.ingest_manifests = Some(dir.to_path_buf());
    }
    Ok(Runtime::new(CoreImage::shared()?, journal, options)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_keys_accept_dashes_or_underscores() {
        let s = parse_limit("members_per_pool=5");
        assert_eq!(
            s,
            Ok(LimitSetting {
                key: "members-per-pool",
                value: 5
            })
        );
        let l = limits(&[LimitSetting {
            key: "audit-window",
            value: 7,
        }]);
        assert_eq!(l.audit_window, 7);
        assert_eq!(l.agents, 0);
    }

    #[test]
    fn a_store_value_is_never_echoed_with_its_password() {
        for (typed, secret) in [
            ("postgress://maas:S3cretPW@db.internal/maas", "S3cretPW"),
            ("postgres:/maas:S3cretPW@db.internal/maas", "S3cretPW"),
            ("maas:S3cretPW@db.internal", "S3cretPW"),
            ("pg://u@h/db?sslmode=require&password=S3cretPW", "S3cretPW"),
            ("user=maas password=S3cretPW hots=db", "S3cretPW"),
            ("user=maas PASSWORD='S3cret PW' hots=db", "S3cret PW"),
        ] {
            let err = set_store(Some(typed)).err().map(|e| e.message());
            let err = err.unwrap_or_default();
            assert!(err.contains("unknown store"), "{typed}: {err}");
            assert!(!err.contains(secret), "{typed}: {err}");
        }
        let shown = postgres::redact_store("postgress://maas:S3cretPW@db.internal/maas");
        assert_eq!(shown, "postgress://maas:…@db.internal/maas");
        // libpq's key=value form is a store, as the journal's parser reads it.
        assert!(postgres::is_url("host=db user=maas password=x dbname=maas"));
        assert!(!postgres::is_url("sqlite3"));
    }

    #[test]
    fn unknown_limit_keys_list_the_choices() {
        let err = parse_limit("agent=5").err().unwrap_or_default();
        assert!(err.contains("unknown limit 'agent'"), "{err}");
        assert!(err.contains("members-per-pool"), "{err}");
        assert!(parse_limit("agents=many").is_err());
        assert!(parse_limit("agents").is_err());
    }
}
