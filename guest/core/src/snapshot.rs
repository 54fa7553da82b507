//! Snapshots: the whole state encoded at one journal position, so a core can start from
//! the newest snapshot and the journal tail instead of the whole history.
//!
//! A snapshot holds what replay would have built: every object, the in-memory audit
//! window, and the position. The search indexes are derived from the memories and
//! documents, so they are rebuilt on restore rather than stored.

use crate::error::{Error, Result};
use crate::state::{AuditEntry, State};
use serde::{Deserialize, Serialize};

/// The current snapshot format version.
pub const SNAPSHOT_VERSION: u32 = 1;

#[derive(Serialize)]
struct Out<'a> {
    v: u32,
    state: &'a State,
    audit: &'a std::collections::VecDeque<AuditEntry>,
}

#[derive(Deserialize)]
struct In {
    v: u32,
    state: State,
    audit: std::collections::VecDeque<AuditEntry>,
}

/// Encodes `state` as a snapshot.
pub fn encode(state: &State) -> Result<Vec<u8>> {
    serde_json::to_vec(&Out {
        v: SNAPSHOT_VERSION,
        state,
        audit: &state.audit,
    })
    .map_err(|e| Error::Unavailable(format!("encoding snapshot: {e}")))
}

/// Decodes a snapshot said to be as of `seq`, keeping `audit_window` audit entries.
/// A snapshot that does not decode, has an unknown version, or is of another position
/// is refused with `invalid-input` on field `snapshot`.
pub fn decode(seq: u64, data: &[u8], audit_window: usize) -> Result<State> {
    let parsed: In = serde_json::from_slice(data)
        .map_err(|e| Error::invalid("snapshot", format!("cannot be decoded: {e}")))?;
    if parsed.v == 0 || parsed.v > SNAPSHOT_VERSION {
        return Err(Error::invalid(
            "snapshot",
            format!("unknown snapshot format version {}", parsed.v),
        ));
    }
    if parsed.state.seq != seq {
        return Err(Error::invalid(
            "snapshot",
            format!(
                "it holds the state as of entry {}, not {seq}",
                parsed.state.seq
            ),
        ));
    }
    let mut state = parsed.state;
    state.audit = parsed.audit;
    state.audit_window = audit_window;
    state.trim_audit();
    state.rebuild_indexes();
    Ok(state)
}
