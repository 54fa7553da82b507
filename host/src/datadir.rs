//! Where the `maas` command keeps its state: the data directory, its journal, and the
//! limits the core starts with.

use crate::cli::CliError;
use crate::journal::SqliteJournal;
use crate::{Clock, CoreImage, Runtime, RuntimeOptions, admin, default_limits};
use std::path::{Path, PathBuf};

/// The journal's file name inside the data directory.
pub const JOURNAL_FILE: &str = "journal.db";

/// The names `--limit` accepts, as in `admin.limits`.
pub const LIMIT_KEYS: &[&str] = &[
    "agents",
    "sessions",
    "pools",
    "members-per-pool",
    "shares-per-pool",
    "handoffs",
    "pending-per-target",
    "memories",
    "documents",
    "handoff-retention-seconds",
    "audit-window",
];

/// One `--limit key=value` setting, with the key in its canonical (kebab) form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitSetting {
    /// One of [`LIMIT_KEYS`].
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
    let key = LIMIT_KEYS.iter().find(|k| **k == wanted).ok_or_else(|| {
        format!(
            "unknown limit '{}'; choose from {}",
            key.trim(),
            LIMIT_KEYS.join(", ")
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
        let field = match s.key {
            "agents" => &mut l.agents,
            "sessions" => &mut l.sessions,
            "pools" => &mut l.pools,
            "members-per-pool" => &mut l.members_per_pool,
            "shares-per-pool" => &mut l.shares_per_pool,
            "handoffs" => &mut l.handoffs,
            "pending-per-target" => &mut l.pending_per_target,
            "memories" => &mut l.memories,
            "documents" => &mut l.documents,
            "handoff-retention-seconds" => &mut l.handoff_retention_seconds,
            _ => &mut l.audit_window,
        };
        *field = s.value;
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

/// Creates the directory if it is missing, readable by its owner only.
pub fn ensure(dir: &Path) -> Result<(), CliError> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(|e| {
        CliError::io(
            format!("cannot create the data directory {}: {e}", dir.display()),
            "choose another one with --data-dir or MAAS_HOME",
        )
    })
}

/// Opens the core over the SQLite journal in `dir`, creating the directory if needed.
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

/// Opens the core over the SQLite journal in `dir` with `options`.
pub fn open_with(dir: &Path, options: RuntimeOptions) -> Result<Runtime, CliError> {
    ensure(dir)?;
    let path = dir.join(JOURNAL_FILE);
    let journal = SqliteJournal::open(&path).map_err(|e| {
        CliError::io(
            format!("cannot open the journal {}: {e}", path.display()),
            "check the data directory's permissions, or choose another with --data-dir",
        )
    })?;
    Ok(Runtime::new(
        CoreImage::shared()?,
        Box::new(journal),
        options,
    )?)
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
    fn unknown_limit_keys_list_the_choices() {
        let err = parse_limit("agent=5").err().unwrap_or_default();
        assert!(err.contains("unknown limit 'agent'"), "{err}");
        assert!(err.contains("members-per-pool"), "{err}");
        assert!(parse_limit("agents=many").is_err());
        assert!(parse_limit("agents").is_err());
    }
}
