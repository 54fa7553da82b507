//! Capacity limits (configurable) and the size bound of every caller-supplied value.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// Longest id, in bytes.
pub const MAX_ID: usize = 128;
/// Longest pool name or document title, in bytes.
pub const MAX_NAME: usize = 256;
/// Longest document title, in bytes.
pub const MAX_TITLE: usize = 512;
/// Largest metadata JSON object, in bytes.
pub const MAX_METADATA: usize = 16 * 1024;
/// Bytes of journal entries one owner's agents may write per minute by default: 32 MiB,
/// about nine knowledge ingests of the largest size. One owner re-ingesting the same
/// 1,000 documents (3.6 MB a call) held the core thread 0.5-1.1 s a call and made
/// another owner's calls wait 0.5-3 s, and grew the journal by 6.4 MB a second while
/// the state stayed the same size. The operator is not limited.
pub const DEFAULT_WRITE_BYTES_PER_MINUTE: u64 = 32 << 20;
/// Largest memory content, in bytes.
pub const MAX_CONTENT: usize = 64 * 1024;
/// Most tags on a memory.
pub const MAX_TAGS: usize = 32;
/// Longest tag, in bytes.
pub const MAX_TAG: usize = 64;
/// Longest handoff task description, in bytes.
pub const MAX_TASK: usize = 4 * 1024;
/// Largest handoff state or result JSON, in bytes.
pub const MAX_JSON: usize = 64 * 1024;
/// Most memories or files referenced by one handoff.
pub const MAX_REFS: usize = 100;
/// Longest referenced file path, in bytes.
pub const MAX_PATH: usize = 1024;
/// Longest rejection reason, in bytes.
pub const MAX_REASON: usize = 1024;
/// Longest search query, in bytes.
pub const MAX_QUERY: usize = 1024;
/// Most results one search may ask for.
pub const MAX_LIMIT: u32 = 100;
/// Most documents in one ingest call.
pub const MAX_DOCUMENTS: usize = 1000;
/// Largest total of document text (titles and contents) in one ingest call, in bytes:
/// one journal entry, and one job on the core thread, which every other caller waits
/// behind. 4 MiB of the costliest text for the write gate holds it about 1.6 s (256 KiB
/// of it took 0.1 s in a served component; see also the `gate_worst` example); more goes
/// in several calls, between which others' calls run.
pub const MAX_INGEST_BYTES: usize = 4 * 1024 * 1024;
/// Largest document content, in bytes.
pub const MAX_DOCUMENT: usize = 256 * 1024;
/// Longest filter value (service, topic, severity, path), in bytes.
pub const MAX_FILTER: usize = 256;
/// Largest text the security functions accept, in bytes.
pub const MAX_SECURITY_TEXT: usize = 1024 * 1024;
/// Longest memory ttl: one year.
pub const MAX_MEMORY_TTL_SECONDS: u64 = 365 * 24 * 3600;
/// Default handoff ttl: one hour.
pub const DEFAULT_HANDOFF_TTL_SECONDS: u64 = 3600;
/// Longest handoff ttl: 30 days.
pub const MAX_HANDOFF_TTL_SECONDS: u64 = 30 * 24 * 3600;
/// Most audit entries one query returns.
pub const MAX_AUDIT_LIMIT: u32 = 1000;
/// Audit entries returned when no limit is given.
pub const DEFAULT_AUDIT_LIMIT: u32 = 100;
/// Longest token accepted by `authenticate`, in bytes.
pub const MAX_TOKEN: usize = 256;

/// Capacity limits. Zero in a field given to [`Limits::with_defaults`] means "default".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Active agents.
    pub agents: u64,
    /// Open sessions.
    pub sessions: u64,
    /// Pools not archived.
    pub pools: u64,
    /// Members per pool.
    pub members_per_pool: u64,
    /// Shares per pool.
    pub shares_per_pool: u64,
    /// Live handoffs.
    pub handoffs: u64,
    /// Live pending handoffs per target.
    pub pending_per_target: u64,
    /// Stored memories.
    pub memories: u64,
    /// Knowledge documents.
    pub documents: u64,
    /// Seconds terminal handoffs are kept.
    pub handoff_retention_seconds: u64,
    /// Audit entries kept in memory for queries.
    pub audit_window: u64,
    /// Linear memory in bytes past which changes that add state are refused.
    pub memory_bytes: u64,
    /// Stored memories written by the agents of one owner.
    pub memories_per_owner: u64,
    /// Knowledge documents belonging to one owner.
    pub documents_per_owner: u64,
    /// Live pending handoffs to one target from the agents of one other owner.
    pub pending_per_target_per_owner: u64,
    /// Journal writes one agent may cause per minute (bursts up to this many).
    pub writes_per_minute: u64,
    /// Journal entries the change feed serves behind the head: an older cursor must
    /// resynchronise.
    #[serde(default)]
    pub change_window: u64,
    /// Pools not archived belonging to one owner.
    #[serde(default)]
    pub pools_per_owner: u64,
    /// Live handoffs initiated by the agents of one owner.
    #[serde(default)]
    pub handoffs_per_owner: u64,
    /// Bytes of text one owner holds: its agents' memories (content and tags), its
    /// knowledge documents, and what its agents wrote into handoffs kept (finished or
    /// not, until removed), each handoff's record counted as 1 KiB.
    #[serde(default)]
    pub text_bytes_per_owner: u64,
    /// Bytes of journal entries the agents of one owner may write per minute (bursts
    /// up to as many): past it their changes are refused `rate-limited` until the
    /// budget refills, and a knowledge ingest is refused before its text is examined.
    #[serde(default)]
    pub write_bytes_per_minute: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            agents: 10_000,
            sessions: 50_000,
            pools: 10_000,
            members_per_pool: 1_000,
            shares_per_pool: 100_000,
            handoffs: 50_000,
            pending_per_target: 100,
            memories: 1_000_000,
            documents: 100_000,
            handoff_retention_seconds: 7 * 24 * 3600,
            audit_window: 100_000,
            memory_bytes: 3 << 30,
            memories_per_owner: 250_000,
            documents_per_owner: 25_000,
            pending_per_target_per_owner: 25,
            writes_per_minute: 60_000,
            change_window: 1_000_000,
            pools_per_owner: 2_500,
            handoffs_per_owner: 12_500,
            text_bytes_per_owner: 256 << 20,
            write_bytes_per_minute: DEFAULT_WRITE_BYTES_PER_MINUTE,
        }
    }
}

impl Limits {
    /// Replaces every zero field with its default.
    pub fn with_defaults(self) -> Self {
        let d = Limits::default();
        let pick = |v: u64, def: u64| if v == 0 { def } else { v };
        Limits {
            agents: pick(self.agents, d.agents),
            sessions: pick(self.sessions, d.sessions),
            pools: pick(self.pools, d.pools),
            members_per_pool: pick(self.members_per_pool, d.members_per_pool),
            shares_per_pool: pick(self.shares_per_pool, d.shares_per_pool),
            handoffs: pick(self.handoffs, d.handoffs),
            pending_per_target: pick(self.pending_per_target, d.pending_per_target),
            memories: pick(self.memories, d.memories),
            documents: pick(self.documents, d.documents),
            handoff_retention_seconds: pick(
                self.handoff_retention_seconds,
                d.handoff_retention_seconds,
            ),
            audit_window: pick(self.audit_window, d.audit_window),
            memory_bytes: pick(self.memory_bytes, d.memory_bytes),
            memories_per_owner: pick(self.memories_per_owner, d.memories_per_owner),
            documents_per_owner: pick(self.documents_per_owner, d.documents_per_owner),
            pending_per_target_per_owner: pick(
                self.pending_per_target_per_owner,
                d.pending_per_target_per_owner,
            ),
            writes_per_minute: pick(self.writes_per_minute, d.writes_per_minute),
            change_window: pick(self.change_window, d.change_window),
            pools_per_owner: pick(self.pools_per_owner, d.pools_per_owner),
            handoffs_per_owner: pick(self.handoffs_per_owner, d.handoffs_per_owner),
            text_bytes_per_owner: pick(self.text_bytes_per_owner, d.text_bytes_per_owner),
            write_bytes_per_minute: pick(self.write_bytes_per_minute, d.write_bytes_per_minute),
        }
    }
}

/// Checks an id: 1..=128 bytes of `[A-Za-z0-9._:@-]`.
pub fn check_id(field: &str, id: &str) -> Result<()> {
    if id.is_empty() {
        return Err(Error::invalid(field, "must not be empty"));
    }
    if id.len() > MAX_ID {
        return Err(Error::invalid(field, format!("longer than {MAX_ID} bytes")));
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'@' | b'-'))
    {
        return Err(Error::invalid(
            field,
            "may contain only letters, digits and . _ : @ -",
        ));
    }
    // An id is written into audit records as it is, where a token would be redacted:
    // one shaped like a token would hide what was done to it.
    if crate::engine::holds_token(id) {
        return Err(Error::invalid(field, "must not look like a maas token"));
    }
    Ok(())
}

/// Checks a text's length in bytes, and that it is not empty when `non_empty`.
pub fn check_text(field: &str, text: &str, max: usize, non_empty: bool) -> Result<()> {
    if non_empty && text.trim().is_empty() {
        return Err(Error::invalid(field, "must not be empty"));
    }
    if text.len() > max {
        return Err(Error::invalid(
            field,
            format!("longer than {max} bytes ({} given)", text.len()),
        ));
    }
    if text.contains('\0') {
        return Err(Error::invalid(field, "must not contain NUL characters"));
    }
    Ok(())
}

/// Checks optional metadata and returns it as a canonical JSON object text (`{}` if absent).
pub fn check_metadata(field: &str, metadata: Option<&str>) -> Result<String> {
    let Some(text) = metadata else {
        return Ok("{}".to_string());
    };
    if text.trim().is_empty() {
        return Ok("{}".to_string());
    }
    check_text(field, text, MAX_METADATA, false)?;
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(v @ serde_json::Value::Object(_)) => Ok(v.to_string()),
        Ok(_) => Err(Error::invalid(field, "must be a JSON object")),
        Err(e) => Err(Error::invalid(field, format!("not valid JSON: {e}"))),
    }
}

/// Checks a JSON value text (any JSON value) up to `max` bytes; `{}` if absent or blank.
pub fn check_json(field: &str, text: Option<&str>, max: usize) -> Result<String> {
    let Some(text) = text else {
        return Ok("{}".to_string());
    };
    if text.trim().is_empty() {
        return Ok("{}".to_string());
    }
    check_text(field, text, max, false)?;
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(v) => Ok(v.to_string()),
        Err(e) => Err(Error::invalid(field, format!("not valid JSON: {e}"))),
    }
}

/// Checks a search limit: 1..=100.
pub fn check_limit(limit: u32) -> Result<usize> {
    if limit == 0 || limit > MAX_LIMIT {
        return Err(Error::invalid("limit", format!("must be 1..={MAX_LIMIT}")));
    }
    Ok(limit as usize)
}

/// Checks a text given to the security functions: at most 1 MiB. Unlike stored text it
/// may hold NUL and other control characters: removing them is what `sanitize` is for.
pub fn check_security_text(text: &str) -> Result<()> {
    if text.len() > MAX_SECURITY_TEXT {
        return Err(Error::invalid(
            "text",
            format!(
                "longer than {MAX_SECURITY_TEXT} bytes ({} given)",
                text.len()
            ),
        ));
    }
    Ok(())
}

/// Checks a search query: 1..=1024 bytes, not blank.
pub fn check_query(query: &str) -> Result<()> {
    check_text("query", query, MAX_QUERY, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_accept_the_documented_alphabet_only() {
        assert!(check_id("id", "mem-api_design.v1:x@y").is_ok());
        assert!(check_id("id", "").is_err());
        assert!(check_id("id", "has space").is_err());
        assert!(check_id("id", "ünï").is_err());
        assert!(check_id("id", &"a".repeat(MAX_ID)).is_ok());
        assert!(check_id("id", &"a".repeat(MAX_ID + 1)).is_err());
        // Nothing an audit record would redact as a token: its target would hide.
        assert!(check_id("id", &format!("maas_{}", "ab".repeat(16))).is_err());
        let body = crate::token::body(&[3; crate::token::RANDOM_BYTES]);
        assert!(check_id("id", &body).is_err());
        let grouped = crate::token::split(&body, 16, "-");
        assert!(check_id("id", &grouped).is_err());
        assert!(check_id("id", &format!("sha-{}", "ab".repeat(32))).is_ok());
        assert!(check_id("id", "maas_notes").is_ok());
    }

    #[test]
    fn metadata_must_be_a_bounded_json_object() {
        assert_eq!(check_metadata("m", None).ok().as_deref(), Some("{}"));
        assert_eq!(
            check_metadata("m", Some(r#"{"a": 1}"#)).ok().as_deref(),
            Some(r#"{"a":1}"#)
        );
        assert!(check_metadata("m", Some("[1]")).is_err());
        assert!(check_metadata("m", Some("{")).is_err());
        let big = format!(r#"{{"a":"{}"}}"#, "x".repeat(MAX_METADATA));
        assert!(check_metadata("m", Some(&big)).is_err());
    }

    #[test]
    fn limits_zero_means_default() {
        let l = Limits {
            agents: 3,
            ..Limits {
                agents: 0,
                sessions: 0,
                pools: 0,
                members_per_pool: 0,
                shares_per_pool: 0,
                handoffs: 0,
                pending_per_target: 0,
                memories: 0,
                documents: 0,
                handoff_retention_seconds: 0,
                audit_window: 0,
                memory_bytes: 0,
                memories_per_owner: 0,
                documents_per_owner: 0,
                pending_per_target_per_owner: 0,
                writes_per_minute: 0,
                change_window: 0,
                pools_per_owner: 0,
                handoffs_per_owner: 0,
                text_bytes_per_owner: 0,
                write_bytes_per_minute: 0,
            }
        }
        .with_defaults();
        assert_eq!(l.agents, 3);
        assert_eq!(l.pending_per_target, 100);
        assert_eq!(l.pending_per_target_per_owner, 25);
        assert_eq!((l.pools_per_owner, l.handoffs_per_owner), (2_500, 12_500));
        assert_eq!(l.text_bytes_per_owner, 256 << 20);
    }

    #[test]
    fn text_bounds_are_checked_in_bytes() {
        assert!(check_text("t", "abc", 3, true).is_ok());
        assert!(check_text("t", "abcd", 3, true).is_err());
        assert!(check_text("t", "   ", 3, true).is_err());
        assert!(check_text("t", "a\0b", 3, true).is_err());
        assert!(check_limit(0).is_err() && check_limit(101).is_err() && check_limit(5).is_ok());
    }
}
