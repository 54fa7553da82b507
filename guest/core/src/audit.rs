//! The audit trail: querying recent entries.

use crate::access::caller_agent;
use crate::engine::{Cx, Decided, Done, record};
use crate::error::Error;
use crate::events::{AuditRecord, Event};
use crate::journal::AuditScan;
use crate::limits::{DEFAULT_AUDIT_LIMIT, MAX_AUDIT_LIMIT, check_id, check_text};
use crate::model::Caller;
use crate::state::{AuditEntry, State};
use serde_json::json;
use sha2::{Digest, Sha256};

/// The link of an audit record in a chain: the hex SHA-256 of the previous link, the
/// record's journal position and time, and its JSON (which holds its own `prev`). The
/// journal's records chain in journal order; the read-audit log's rows chain in row
/// order, each also naming the journal head it saw, so a record removed, edited or
/// reordered anywhere breaks a link `maas audit verify` names.
pub fn chain_hash(prev: &str, seq: u64, at: u64, record: &AuditRecord) -> String {
    let mut h = Hashing(Sha256::new());
    h.0.update(prev.as_bytes());
    h.0.update(format!("\n{seq}\n{at}\n").as_bytes());
    // Encoded straight into the hash: the same bytes as the record's JSON text.
    if serde_json::to_writer(&mut h, record).is_err() {
        h = Hashing(Sha256::new());
        h.0.update(prev.as_bytes());
        h.0.update(format!("\n{seq}\n{at}\n").as_bytes());
    }
    hex(&h.0.finalize())
}

/// The `type` of an audit record's event as a journal entry holds it: the events
/// [`covers`] leaves out, and those a reader of the journal takes as audit records.
pub const AUDITED_TYPE: &str = "audited";

/// What the audit records of a journal entry vouch for: the hex SHA-256 of the entry's
/// other events, each as its JSON text in the entry (the compact form the entry is
/// written in) followed by a newline, in order. `maas audit verify` hashes the same
/// texts as it reads them from the journal.
pub fn covers<'a>(events: impl Iterator<Item = &'a Event>) -> String {
    let mut h = Hashing(Sha256::new());
    for event in events.filter(|e| !matches!(e, Event::Audited(_))) {
        // An event that cannot be encoded cannot be journaled either.
        let _ = serde_json::to_writer(&mut h, event);
        h.0.update(COVERS_END);
    }
    hex(&h.0.finalize())
}

/// [`covers`] of events given as the texts they are written as (what a reader of the
/// journal has), in order.
pub fn covers_texts<'a>(texts: impl Iterator<Item = &'a [u8]>) -> String {
    let mut h = Sha256::new();
    for text in texts {
        h.update(text);
        h.update(COVERS_END);
    }
    hex(&h.finalize())
}

/// What ends each event's text in the hash [`covers`] takes.
const COVERS_END: &[u8] = b"\n";

/// Lower-case hex of `bytes` (what `{:02x}` per byte gives, without the formatter).
pub fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        for digit in [b >> 4, b & 0x0f] {
            out.push(char::from_digit(u32::from(digit), 16).unwrap_or('0'));
        }
    }
    out
}

/// Feeds what is written into a hash.
pub(crate) struct Hashing(pub(crate) Sha256);

impl std::io::Write for Hashing {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Which entries `query` returns.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditFilter {
    /// Entries whose actor or target is this agent, or that the operator made acting as it.
    pub agent_id: Option<String>,
    /// Exact event type.
    pub event_type: Option<String>,
    /// Inclusive lower bound on time.
    pub since: Option<u64>,
    /// Exclusive upper bound on time.
    pub until: Option<u64>,
    /// Most entries, 1..=1000, default 100.
    pub limit: Option<u32>,
}

/// What to ask the read-audit log for `filter` by `caller`: an agent sees only the entries
/// it is the actor of. The limit is clamped; `query` checks the filter itself.
pub fn scan(caller: &Caller, filter: &AuditFilter) -> AuditScan {
    AuditScan {
        actor: match caller {
            Caller::Operator => None,
            Caller::Agent(me) => Some(me.clone()),
        },
        agent: filter.agent_id.clone(),
        event_type: filter.event_type.clone(),
        since: filter.since,
        until: filter.until,
        limit: filter
            .limit
            .unwrap_or(DEFAULT_AUDIT_LIMIT)
            .min(MAX_AUDIT_LIMIT),
    }
}

/// Most bytes of audit entries one query answers (see [`entry_bytes`]): the newest
/// that fit, one at least; an older one is read with `until`. A thousand entries of
/// 66 KB each (listings of 500 ids) made a 150-byte call answer 111 MB and hold the
/// core 0.7-0.9 s.
pub const MAX_ANSWER_BYTES: usize = 4 << 20;

/// What an audit entry weighs, in an answer and as a read-audit row its owner's byte
/// budget pays for: its texts and a row's fixed part (its position, time, chain link and
/// outcome, and the row's keys in the log).
pub fn entry_bytes(e: &AuditEntry) -> usize {
    128 + e.record.actor.len()
        + e.record.event_type.len()
        + e.record.target.as_ref().map_or(0, String::len)
        + e.record.detail.len()
}

/// An answer being filled with entries, the newest first, up to [`MAX_ANSWER_BYTES`]
/// (one entry at least).
#[derive(Debug, Default)]
pub struct Answer {
    bytes: usize,
    entries: usize,
}

impl Answer {
    /// Whether `e` goes in (then counted); once one does not, none after it does.
    pub fn takes(&mut self, e: &AuditEntry) -> bool {
        self.bytes = self.bytes.saturating_add(entry_bytes(e));
        if self.bytes > MAX_ANSWER_BYTES && self.entries > 0 {
            return false;
        }
        self.entries += 1;
        true
    }
}

/// How many of `newest_first` (entries, the newest first) fit [`MAX_ANSWER_BYTES`],
/// one at least.
pub fn fitting<'a>(newest_first: impl IntoIterator<Item = &'a AuditEntry>) -> usize {
    let mut answer = Answer::default();
    newest_first
        .into_iter()
        .take_while(|e| answer.takes(e))
        .count()
}

/// Decides `query`: the newest matching entries, oldest first, from the journal's entries
/// in memory and `reads` (what the read-audit log returned for [`scan`]). An agent sees
/// only the entries it is the actor of.
pub fn query(
    s: &State,
    cx: &mut Cx,
    filter: &AuditFilter,
    reads: &[AuditEntry],
) -> Decided<Vec<AuditEntry>> {
    let me = caller_agent(s, cx.caller)?;
    if let Some(a) = &filter.agent_id {
        check_id("agent_id", a)?;
    }
    if let Some(t) = &filter.event_type {
        check_text("event_type", t, 64, true)?;
    }
    let limit = filter.limit.unwrap_or(DEFAULT_AUDIT_LIMIT);
    if limit == 0 || limit > MAX_AUDIT_LIMIT {
        return Err(Error::invalid("limit", format!("must be 1..={MAX_AUDIT_LIMIT}")).into());
    }
    if let (Some(a), Some(b)) = (filter.since, filter.until)
        && a >= b
    {
        return Err(Error::invalid("since", "must be before until").into());
    }
    let mut scan = scan(cx.caller, filter);
    scan.actor = me.map(|a| a.id.clone());
    scan.limit = limit;
    // Both sources are oldest first; merge them by time, then keep the newest `limit`.
    let mut out = s.audit.newest(&scan);
    out.extend(reads.iter().filter(|e| scan.matches(e)).cloned());
    out.sort_by_key(|e| (e.at, e.seq));
    let extra = out.len().saturating_sub(limit as usize);
    out.drain(..extra);
    let fit = fitting(out.iter().rev());
    out.drain(..out.len() - fit);
    let rec = record(
        cx.caller.name(),
        "audit.queried",
        filter.agent_id.as_deref(),
        json!({ "returned": out.len() }),
    );
    Ok(Done::read(rec, out))
}

/// Longest operation name recorded by `deny`, in bytes.
const MAX_OPERATION: usize = 64;

/// Cuts `text` to at most `max` bytes at a character boundary.
fn cut(text: &str, max: usize) -> String {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.get(..end).unwrap_or_default().to_string()
}

/// Decides `deny`: always refused, always audited.
pub fn deny(
    _s: &State,
    _cx: &mut Cx,
    operation: &str,
    target: Option<&str>,
    reason: &str,
) -> Decided<()> {
    if let Some(t) = target {
        check_id("target", t)?;
    }
    let reason = format!(
        "{} (in {})",
        cut(reason, crate::limits::MAX_REASON),
        cut(operation, MAX_OPERATION)
    );
    Err(crate::engine::Refusal::audited(Error::denied(reason)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// An answer holds the newest entries that fit its bytes, one at least.
    #[test]
    fn an_answer_holds_the_newest_entries_that_fit_its_bytes() {
        let entry = |detail_bytes: usize| {
            let mut record = record("alice", "pool.listed", None, json!({}));
            record.detail = "x".repeat(detail_bytes);
            AuditEntry {
                seq: 1,
                at: 1,
                record,
            }
        };
        let mib: Vec<AuditEntry> = (0..10).map(|_| entry(1 << 20)).collect();
        assert_eq!(fitting(&mib), 3);
        assert_eq!(fitting(&[entry(5 << 20)]), 1);
        let small: Vec<AuditEntry> = (0..1000).map(|_| entry(100)).collect();
        assert_eq!(fitting(&small), 1000);
        assert_eq!(fitting(&[]), 0);
    }

    #[test]
    fn covers_of_events_is_covers_of_their_texts_leaving_audit_records_out() {
        let events = [
            Event::HandoffExpired { id: "h-1".into() },
            Event::Audited(record(
                "operator",
                "handoff.cancelled",
                Some("h-2"),
                json!({}),
            )),
            Event::HandoffCancelled { id: "h-2".into() },
        ];
        let texts = [
            br#"{"type":"handoff_expired","id":"h-1"}"#.as_slice(),
            br#"{"type":"handoff_cancelled","id":"h-2"}"#.as_slice(),
        ];
        assert_eq!(covers(events.iter()), covers_texts(texts.into_iter()));
        let audited = serde_json::to_value(events.get(1)).unwrap();
        assert_eq!(audited.get("type"), Some(&json!(AUDITED_TYPE)));
        assert_ne!(
            covers(events.iter()),
            covers_texts(texts.into_iter().take(1))
        );
    }

    #[test]
    fn a_link_is_the_hash_of_the_previous_link_the_position_and_the_record_text() {
        let mut rec = record("alice", "memory.stored", Some("m-1"), json!({"k": "v"}));
        rec.prev = Some("ab".repeat(32));
        let mut h = Sha256::new();
        h.update("ab".repeat(32).as_bytes());
        h.update(b"\n7\n1700000000000\n");
        h.update(serde_json::to_string(&rec).unwrap().as_bytes());
        let want: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            chain_hash(&"ab".repeat(32), 7, 1_700_000_000_000, &rec),
            want
        );
    }
}
