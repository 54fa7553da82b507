//! What goes wrong in a `maas` command, and how it is reported: one line
//! `error: <message> (<code>)`, sometimes a `hint:` line, and the exit code; with
//! `--json`, one JSON object in the shape MCP tools answer errors with.

use crate::types;

/// A failed command.
#[derive(Debug)]
pub enum CliError {
    /// The core refused (exit code 1).
    Domain {
        /// The core's error.
        error: types::Error,
        /// What the user might do about it.
        hint: Option<String>,
    },
    /// The command line itself is wrong (exit code 2).
    Usage {
        /// What is wrong.
        message: String,
        /// How to get it right.
        hint: Option<String>,
    },
    /// Something outside the core failed: a file, the data directory (exit code 1).
    Local {
        /// What failed.
        message: String,
        /// A stable code, e.g. `io` or `invalid_input`.
        code: &'static str,
        /// What the user might do about it.
        hint: Option<String>,
    },
}

impl From<types::Error> for CliError {
    fn from(error: types::Error) -> Self {
        CliError::Domain { error, hint: None }
    }
}

/// The one-line message of a core error, without its code.
pub fn describe(error: &types::Error) -> String {
    error.message()
}

impl CliError {
    /// A usage error with a hint.
    pub fn usage(message: impl Into<String>, hint: impl Into<String>) -> Self {
        CliError::Usage {
            message: message.into(),
            hint: Some(hint.into()),
        }
    }

    /// A local failure (file or directory) with a hint.
    pub fn io(message: impl Into<String>, hint: impl Into<String>) -> Self {
        CliError::Local {
            message: message.into(),
            code: "io",
            hint: Some(hint.into()),
        }
    }

    /// Replaces the hint.
    pub fn with_hint(mut self, text: impl Into<String>) -> Self {
        match &mut self {
            CliError::Domain { hint, .. }
            | CliError::Usage { hint, .. }
            | CliError::Local { hint, .. } => *hint = Some(text.into()),
        }
        self
    }

    /// The process exit code: 2 for usage errors, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage { .. } => 2,
            CliError::Domain { .. } | CliError::Local { .. } => 1,
        }
    }

    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            CliError::Domain { error, .. } => error.code(),
            CliError::Usage { .. } => "usage",
            CliError::Local { code, .. } => code,
        }
    }

    /// The one-line message, without the code.
    pub fn message(&self) -> String {
        match self {
            CliError::Domain { error, .. } => describe(error),
            CliError::Usage { message, .. } | CliError::Local { message, .. } => message.clone(),
        }
    }

    /// The hint, given or derived from the error.
    pub fn hint(&self) -> Option<String> {
        match self {
            CliError::Domain { hint: Some(h), .. }
            | CliError::Usage { hint: Some(h), .. }
            | CliError::Local { hint: Some(h), .. } => Some(h.clone()),
            CliError::Domain { error, hint: None } => match error {
                types::Error::Conflict(v) => Some(format!(
                    "read it again and pass --expected-version {v} if your change still applies"
                )),
                types::Error::CapacityExceeded(info) => Some(format!(
                    "start maas with a higher limit, e.g. --limit {}={}",
                    crate::datadir::key_for_resource(&info.resource).unwrap_or(&info.resource),
                    info.limit.saturating_mul(2)
                )),
                types::Error::RateLimited(_) => Some(
                    "nothing was written; slow down, or start maas with a higher --limit \
                     writes-per-minute=N (an agent's writes) or write-bytes-per-minute=N (an \
                     owner's journal bytes)"
                        .to_string(),
                ),
                // A sync that failed after the commit: the change may be in the journal,
                // and a retry could make it twice.
                types::Error::Unavailable(why) if why.contains("may not have been saved") => Some(
                    "the change may have been saved: read it back before you retry; check the \
                     data directory (--data-dir, MAAS_HOME) and its disk"
                        .to_string(),
                ),
                types::Error::Unavailable(_) => Some(
                    "nothing was changed; check the data directory (--data-dir, MAAS_HOME) and retry"
                        .to_string(),
                ),
                _ => None,
            },
            _ => None,
        }
    }

    /// The text for stderr: the error line and, when there is one, the hint line.
    pub fn report(&self) -> String {
        let mut text = format!("error: {} ({})", one_line(&self.message()), self.code());
        if let Some(hint) = self.hint() {
            text.push_str("\nhint: ");
            text.push_str(&one_line(&hint));
        }
        text
    }

    /// The error as one JSON object for stderr under `--json`: the shape of an MCP
    /// tool's error (`status`, `code`, `error` and the code's own fields such as
    /// `field` or `retry_after_ms`) plus `hint` when there is one and `exit_code`.
    pub fn report_json(&self) -> serde_json::Value {
        let mut body = match self {
            CliError::Domain { error, .. } => crate::wire::error(error),
            CliError::Usage { .. } | CliError::Local { .. } => serde_json::json!({
                "error": self.message(),
                "status": "error",
                "code": self.code(),
            }),
        };
        if let serde_json::Value::Object(map) = &mut body {
            if let Some(hint) = self.hint() {
                map.insert("hint".into(), hint.into());
            }
            map.insert("exit_code".into(), self.exit_code().into());
        }
        body
    }

    /// Turns a clap parse error into a one-line usage error. Help and version requests
    /// are not errors; the caller prints those as clap renders them.
    pub fn from_clap(error: &clap::Error) -> Self {
        let rendered = error.render().to_string();
        let mut lines = rendered.lines();
        let mut message = lines
            .next()
            .unwrap_or_default()
            .trim_start_matches("error:")
            .trim()
            .to_string();
        let mut hint = None;
        let mut usage = None;
        let mut in_message = true;
        for line in lines {
            let trimmed = line.trim();
            if trimmed.is_empty() {
                in_message = false;
            } else if let Some(tip) = trimmed.strip_prefix("tip:") {
                hint.get_or_insert_with(|| tip.trim().to_string());
            } else if let Some(u) = trimmed.strip_prefix("Usage:") {
                usage = Some(u.trim().to_string());
            } else if in_message {
                message.push(' ');
                message.push_str(trimmed);
            }
        }
        let hint = hint.or_else(|| {
            usage.map(|u| {
                let command: Vec<&str> = u
                    .split_whitespace()
                    .take_while(|w| !w.starts_with(['-', '[', '<']))
                    .collect();
                format!("usage: {u} (see '{} --help')", command.join(" "))
            })
        });
        CliError::Usage { message, hint }
    }
}

/// Collapses line breaks so a message stays on one line.
fn one_line(text: &str) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    crate::render::escape_controls(&flat, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sync that failed after its commit is not "nothing was changed": a retry on that
    /// word could store the change twice.
    #[test]
    fn an_unavailable_change_that_may_be_saved_is_not_told_nothing_changed() {
        let hint = |why: &str| {
            CliError::Domain {
                error: types::Error::Unavailable(why.into()),
                hint: None,
            }
            .hint()
            .unwrap_or_default()
        };
        let after =
            hint("the journal could not be synced (disk full); the change may not have been saved");
        assert!(after.contains("may have been saved"), "{after}");
        assert!(!after.contains("nothing was changed"), "{after}");
        let before = hint("the journal is locked by another process");
        assert!(before.contains("nothing was changed"), "{before}");
    }
}
