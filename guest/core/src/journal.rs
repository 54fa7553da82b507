//! The journal a core runs on, as a plain trait, and an in-memory implementation.

use crate::engine::ON_BEHALF;
use crate::events::AuditRecord;
use crate::model::Caller;
use crate::state::AuditEntry;
use std::borrow::Cow;

/// Why a journal refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JournalError {
    /// Another writer appended first; the current head.
    Conflict(u64),
    /// Storage failed; nothing was written.
    Unavailable(String),
}

/// An ordered log of opaque entries numbered from 1, with compare-and-append.
pub trait Journal {
    /// The sequence of the last entry, 0 when empty.
    fn head(&mut self) -> Result<u64, JournalError>;
    /// The head, and the time now in ms since the epoch if the journal's host tells it in
    /// the same call (the component's host does: one import instead of two per call).
    /// `None`: the core asks its [`Env`](crate::Env).
    fn head_and_time(&mut self) -> Result<(u64, Option<u64>), JournalError> {
        Ok((self.head()?, None))
    }
    /// Up to `max` entries with `seq >= from`, in order.
    fn read(&mut self, from: u64, max: u32) -> Result<Vec<(u64, Vec<u8>)>, JournalError>;
    /// Appends `data` as entry `expected_head + 1` if the head is still `expected_head`.
    fn append(&mut self, expected_head: u64, data: &[u8], sync: bool) -> Result<u64, JournalError>;
    /// Appends a read's audit entry to the read-audit log beside the journal. The entry is
    /// handed over, so a journal that keeps or sends it on need not copy its text.
    fn audit_append(&mut self, entry: AuditEntry) -> Result<(), JournalError>;
    /// The newest `scan.limit` read-audit entries matching `scan`, oldest first.
    fn audit_scan(&mut self, scan: &AuditScan) -> Result<Vec<AuditEntry>, JournalError>;
}

/// Which read-audit entries [`Journal::audit_scan`] returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditScan {
    /// Only entries whose actor is exactly this.
    pub actor: Option<String>,
    /// Only entries whose actor or target is this agent, or that the operator made acting
    /// as it (their detail names it under [`crate::engine::ON_BEHALF`]).
    pub agent: Option<String>,
    /// Only this event type.
    pub event_type: Option<String>,
    /// Inclusive lower bound on `at`.
    pub since: Option<u64>,
    /// Exclusive upper bound on `at`.
    pub until: Option<u64>,
    /// Most entries returned.
    pub limit: u32,
}

impl AuditScan {
    /// True if `e` passes every filter (the limit aside).
    pub fn matches(&self, e: &AuditEntry) -> bool {
        let r = &e.record;
        self.actor.as_ref().is_none_or(|a| r.actor == *a)
            && self.agent.as_ref().is_none_or(|a| {
                r.actor == *a
                    || r.target.as_ref() == Some(a)
                    || (r.actor == Caller::Operator.name() && names_on_behalf(&r.detail, a))
            })
            && self.event_type.as_ref().is_none_or(|t| r.event_type == *t)
            && self.since.is_none_or(|t| e.at >= t)
            && self.until.is_none_or(|t| e.at < t)
    }

    /// The newest `limit` entries of `log` (oldest first) that match, oldest first.
    pub fn newest<'a>(
        &self,
        log: impl DoubleEndedIterator<Item = &'a AuditEntry>,
    ) -> Vec<AuditEntry> {
        self.newest_of(log.map(Cow::Borrowed))
    }

    /// [`AuditScan::newest`] over entries that may be borrowed or made as they are read
    /// (decoded from a stored form); only the matches are kept.
    pub fn newest_of<'a>(
        &self,
        log: impl DoubleEndedIterator<Item = Cow<'a, AuditEntry>>,
    ) -> Vec<AuditEntry> {
        let mut out: Vec<AuditEntry> = log
            .rev()
            .filter(|e| self.matches(e))
            .take(self.limit as usize)
            .map(Cow::into_owned)
            .collect();
        out.reverse();
        out
    }
}

/// A journal held in memory (tests, demos).
#[derive(Debug, Default, Clone)]
pub struct MemoryJournal {
    /// The entries; entry `seq` is at index `seq - 1`.
    pub entries: Vec<Vec<u8>>,
    /// The read-audit log.
    pub reads: Vec<AuditEntry>,
}

impl Journal for MemoryJournal {
    fn head(&mut self) -> Result<u64, JournalError> {
        Ok(self.entries.len() as u64)
    }

    fn read(&mut self, from: u64, max: u32) -> Result<Vec<(u64, Vec<u8>)>, JournalError> {
        let start = from.max(1);
        Ok((start..)
            .zip(self.entries.iter().skip((start - 1) as usize))
            .take(max as usize)
            .map(|(seq, data)| (seq, data.clone()))
            .collect())
    }

    fn append(
        &mut self,
        expected_head: u64,
        data: &[u8],
        _sync: bool,
    ) -> Result<u64, JournalError> {
        let head = self.entries.len() as u64;
        if head != expected_head {
            return Err(JournalError::Conflict(head));
        }
        self.entries.push(data.to_vec());
        Ok(head + 1)
    }

    fn audit_append(&mut self, entry: AuditEntry) -> Result<(), JournalError> {
        self.reads.push(entry);
        Ok(())
    }

    fn audit_scan(&mut self, scan: &AuditScan) -> Result<Vec<AuditEntry>, JournalError> {
        Ok(scan.newest(self.reads.iter()))
    }
}

impl<J: Journal + ?Sized> Journal for &mut J {
    fn head(&mut self) -> Result<u64, JournalError> {
        (**self).head()
    }
    fn head_and_time(&mut self) -> Result<(u64, Option<u64>), JournalError> {
        (**self).head_and_time()
    }
    fn read(&mut self, from: u64, max: u32) -> Result<Vec<(u64, Vec<u8>)>, JournalError> {
        (**self).read(from, max)
    }
    fn append(&mut self, expected_head: u64, data: &[u8], sync: bool) -> Result<u64, JournalError> {
        (**self).append(expected_head, data, sync)
    }
    fn audit_append(&mut self, entry: AuditEntry) -> Result<(), JournalError> {
        (**self).audit_append(entry)
    }
    fn audit_scan(&mut self, scan: &AuditScan) -> Result<Vec<AuditEntry>, JournalError> {
        (**self).audit_scan(scan)
    }
}

/// True if an audit record's `detail` says the operator acted as `agent_id`: it holds
/// `"on_behalf_of":"agent_id"` (see [`ON_BEHALF`]).
fn names_on_behalf(detail: &str, agent_id: &str) -> bool {
    // Most records name no one: nothing to build for them.
    if !detail.contains(ON_BEHALF) {
        return false;
    }
    let key = format!("\"{ON_BEHALF}\":\"");
    detail.match_indices(key.as_str()).any(|(at, _)| {
        detail
            .get(at + key.len()..)
            .and_then(|rest| rest.strip_prefix(agent_id))
            .is_some_and(|rest| rest.starts_with('"'))
    })
}

/// Length written for an absent optional field of a packed read-audit entry.
const ABSENT: u32 = u32::MAX;

/// Appends `entry` to `out` in the packed form the `audit-append` import carries: `seq`
/// and `at` as 8 bytes little-endian, then actor, event type, target, outcome, detail
/// and prev, each a 4-byte little-endian length and that many UTF-8 bytes (an absent
/// target or prev is the length `0xFFFFFFFF` alone). One byte list crosses the
/// component boundary instead of six strings.
pub fn pack_read(entry: &AuditEntry, out: &mut Vec<u8>) {
    let r = &entry.record;
    out.extend_from_slice(&entry.seq.to_le_bytes());
    out.extend_from_slice(&entry.at.to_le_bytes());
    let fields = [
        Some(&r.actor),
        Some(&r.event_type),
        r.target.as_ref(),
        Some(&r.outcome),
        Some(&r.detail),
        r.prev.as_ref(),
    ];
    for field in fields {
        match field {
            // A field's length is bounded by the core's limits, far below 4 GiB.
            Some(text) => {
                let len = u32::try_from(text.len()).unwrap_or(ABSENT - 1);
                out.extend_from_slice(&len.to_le_bytes());
                out.extend_from_slice(text.as_bytes().get(..len as usize).unwrap_or_default());
            }
            None => out.extend_from_slice(&ABSENT.to_le_bytes()),
        }
    }
}

/// A packed read-audit entry ([`pack_read`]) read in place: its text borrowed from the
/// bytes, nothing allocated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PackedRead<'a> {
    /// The journal position the read saw.
    pub seq: u64,
    /// When it was read, ms since the epoch.
    pub at: u64,
    /// See [`AuditRecord::actor`].
    pub actor: &'a str,
    /// See [`AuditRecord::event_type`].
    pub event_type: &'a str,
    /// See [`AuditRecord::target`].
    pub target: Option<&'a str>,
    /// See [`AuditRecord::outcome`].
    pub outcome: &'a str,
    /// See [`AuditRecord::detail`].
    pub detail: &'a str,
    /// See [`AuditRecord::prev`].
    pub prev: Option<&'a str>,
}

impl<'a> PackedRead<'a> {
    /// Reads `bytes`; `None` if they are not exactly one well-formed entry.
    pub fn parse(bytes: &'a [u8]) -> Option<Self> {
        let mut rest = bytes;
        let mut take = |n: usize| -> Option<&'a [u8]> {
            let (head, tail) = rest.split_at_checked(n)?;
            rest = tail;
            Some(head)
        };
        let seq = u64::from_le_bytes(take(8)?.try_into().ok()?);
        let at = u64::from_le_bytes(take(8)?.try_into().ok()?);
        let mut field = || -> Option<Option<&'a str>> {
            let len = u32::from_le_bytes(take(4)?.try_into().ok()?);
            if len == ABSENT {
                return Some(None);
            }
            std::str::from_utf8(take(len as usize)?).ok().map(Some)
        };
        let read = PackedRead {
            seq,
            at,
            actor: field()??,
            event_type: field()??,
            target: field()?,
            outcome: field()??,
            detail: field()??,
            prev: field()?,
        };
        rest.is_empty().then_some(read)
    }

    /// The entry, owning its text.
    pub fn to_entry(&self) -> AuditEntry {
        AuditEntry {
            seq: self.seq,
            at: self.at,
            record: AuditRecord {
                actor: self.actor.to_string(),
                event_type: self.event_type.to_string(),
                target: self.target.map(str::to_string),
                outcome: self.outcome.to_string(),
                detail: self.detail.to_string(),
                prev: self.prev.map(str::to_string),
                covers: None,
            },
        }
    }
}

/// Reads back an entry written by [`pack_read`]; `None` if `bytes` is not exactly one
/// well-formed entry.
pub fn unpack_read(bytes: &[u8]) -> Option<AuditEntry> {
    PackedRead::parse(bytes).map(|r| r.to_entry())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_agent_acted_for_is_matched_exactly() {
        let named = r#"{"kind":"note","on_behalf_of":"ann"}"#;
        assert!(names_on_behalf(named, "ann"));
        assert!(!names_on_behalf(named, "an"));
        assert!(!names_on_behalf(r#"{"on_behalf_of":"ann2"}"#, "ann"));
        // Text inside a value is escaped JSON and never reads as the key.
        assert!(!names_on_behalf(
            r#"{"reason":"\"on_behalf_of\":\"ann\""}"#,
            "ann"
        ));
        // As the engine writes it.
        let written = serde_json::json!({"kind": "note", ON_BEHALF: "ann"}).to_string();
        assert!(names_on_behalf(&written, "ann"));
    }

    fn entry(target: Option<&str>, prev: Option<&str>) -> AuditEntry {
        AuditEntry {
            seq: 42,
            at: 1_700_000_000_123,
            record: AuditRecord {
                actor: "agent-é".into(),
                event_type: "agent.read".into(),
                target: target.map(String::from),
                outcome: "ok".into(),
                detail: r#"{"n":1}"#.into(),
                prev: prev.map(String::from),
                covers: None,
            },
        }
    }

    #[test]
    fn a_packed_read_comes_back_whole() {
        for (target, prev) in [
            (Some("a1"), Some("ab12")),
            (None, Some("")),
            (Some(""), None),
            (None, None),
        ] {
            let e = entry(target, prev);
            let mut out = Vec::new();
            pack_read(&e, &mut out);
            assert_eq!(unpack_read(&out), Some(e));
        }
    }

    #[test]
    fn entries_packed_one_after_another_keep_their_bounds() {
        let (a, b) = (entry(Some("x"), None), entry(None, Some("y")));
        let mut out = Vec::new();
        pack_read(&a, &mut out);
        let first = out.len();
        pack_read(&b, &mut out);
        assert_eq!(unpack_read(out.get(..first).unwrap_or_default()), Some(a));
        assert_eq!(unpack_read(out.get(first..).unwrap_or_default()), Some(b));
    }

    #[test]
    fn malformed_packed_reads_are_refused() {
        let mut out = Vec::new();
        pack_read(&entry(Some("a1"), Some("p")), &mut out);
        // Every truncation, and a trailing byte.
        for n in 0..out.len() {
            assert_eq!(
                unpack_read(out.get(..n).unwrap_or_default()),
                None,
                "cut at {n}"
            );
        }
        let mut longer = out.clone();
        longer.push(0);
        assert_eq!(unpack_read(&longer), None);
        // A length past the end, an absent required field, text that is not UTF-8.
        let mut bad_len = out.clone();
        bad_len.splice(16..20, 1000u32.to_le_bytes());
        assert_eq!(unpack_read(&bad_len), None);
        let mut absent_actor = out.clone();
        absent_actor.splice(16..20, u32::MAX.to_le_bytes());
        assert_eq!(unpack_read(&absent_actor), None);
        let mut not_utf8 = out;
        if let Some(b) = not_utf8.get_mut(20) {
            *b = 0xff;
        }
        assert_eq!(unpack_read(&not_utf8), None);
    }
}
