//! `Core` operations on the change feed.

use crate::changes::{self, Filter, MAX_SCAN, MAX_SCAN_BYTES, Page};
use crate::core::Core;
use crate::engine::{Env, journal_error};
use crate::error::Result;
use crate::events::Entry;
use crate::journal::Journal;
use crate::model::Caller;

/// Entries read per journal call while reading the feed.
const BATCH: u32 = 256;

impl<J: Journal, E: Env> Core<J, E> {
    /// The changes after `after` the acting agent (the operator: every change) may see,
    /// oldest first, at most `limit`.
    pub fn changes(
        &mut self,
        caller: &Caller,
        agent_id: Option<&str>,
        after: Option<&str>,
        filter: Filter,
        limit: Option<u32>,
    ) -> Result<Page> {
        self.engine.catch_up()?;
        let head = self.engine.state.seq;
        let window = self.engine.limits.change_window;
        let req = changes::request(after, limit, filter, head, window, |seq| {
            self.written_recently(seq)
        })?;
        // The reader as far as the state tells, to stop reading once the page is full;
        // the engine checks the caller again, and audits a refusal.
        // `Some(None)`: the operator.
        let probe: Option<Option<String>> =
            crate::access::acting_opt(&self.engine.state, caller, "agent_id", agent_id)
                .ok()
                .map(|r| r.map(|a| a.id.clone()));
        let first = if req.after.event.is_some() {
            req.after.seq
        } else {
            req.after.seq + 1
        };
        let last = head.min(first.saturating_add(MAX_SCAN - 1));
        let mut entries: Vec<(u64, Entry)> = Vec::new();
        let mut end = req.after.seq;
        let mut seen = 0usize;
        let mut scanned = 0usize;
        let mut from = first;
        while from <= last && from > 0 && scanned < MAX_SCAN_BYTES {
            let want = u32::try_from(last - from + 1).unwrap_or(BATCH).min(BATCH);
            let batch = self
                .engine
                .journal
                .read(from, want)
                .map_err(journal_error)?;
            if batch.is_empty() {
                break;
            }
            let start = entries.len();
            for (seq, data) in batch {
                if seq > last || scanned >= MAX_SCAN_BYTES {
                    break;
                }
                scanned = scanned.saturating_add(data.len());
                entries.push((seq, Entry::decode(seq, &data)?));
                end = seq;
            }
            from = end + 1;
            if let Some(id) = &probe {
                let s = &self.engine.state;
                let reader = id.as_ref().and_then(|id| s.agents.get(id));
                let fresh = entries.get(start..).unwrap_or_default();
                // Counted as at the start of time: a share of a memory expired since
                // counts as shown, so the page may end short of the limit, never past it.
                let more = changes::page(s, reader, &req, fresh, (end, head), 0);
                seen += more.changes.len();
                if seen > req.limit {
                    break;
                }
            }
        }
        self.engine.run(caller, "changes.get", agent_id, |s, cx| {
            changes::get(s, cx, agent_id, &req, &entries, end)
        })
    }

    /// Whether the journal entry at `seq` was written less than [`changes::KEPT_FOR_MS`]
    /// ago (an entry from a clock ahead of this one counts as recent).
    fn written_recently(&mut self, seq: u64) -> Result<bool> {
        let batch = self.engine.journal.read(seq, 1).map_err(journal_error)?;
        let Some((at_seq, data)) = batch.first() else {
            return Ok(false);
        };
        let at = Entry::decode(*at_seq, data)?.at;
        let now = self.engine.env.now_ms();
        Ok(now.saturating_sub(at) < changes::KEPT_FOR_MS)
    }
}
