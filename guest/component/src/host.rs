//! The core's view of its host: the journal import, the wall clock and randomness.

use crate::maas::core::journal;
use maas_core::events::AuditRecord;
use maas_core::journal::{AuditScan, pack_read};
use maas_core::state::AuditEntry;
use maas_core::{Env, Journal, JournalError};

/// The journal the host provides through the `maas:core/journal` import.
#[derive(Default)]
pub struct WitJournal {
    /// The last read-audit entry handed over, packed; kept for its capacity.
    packed: Vec<u8>,
}

fn err(e: journal::JournalError) -> JournalError {
    match e {
        journal::JournalError::Conflict(head) => JournalError::Conflict(head),
        journal::JournalError::Unavailable(m) => JournalError::Unavailable(m),
    }
}

impl Journal for WitJournal {
    fn head(&mut self) -> Result<u64, JournalError> {
        journal::head().map_err(err)
    }

    fn head_and_time(&mut self) -> Result<(u64, Option<u64>), JournalError> {
        journal::head_and_time()
            .map(|(head, now)| (head, Some(now)))
            .map_err(err)
    }

    fn read(&mut self, from: u64, max: u32) -> Result<Vec<(u64, Vec<u8>)>, JournalError> {
        journal::read(from, max)
            .map(|entries| entries.into_iter().map(|e| (e.seq, e.data)).collect())
            .map_err(err)
    }

    fn append(&mut self, expected_head: u64, data: &[u8], sync: bool) -> Result<u64, JournalError> {
        journal::append(expected_head, data, sync).map_err(err)
    }

    fn audit_append(&mut self, e: AuditEntry) -> Result<(), JournalError> {
        // Packed into one byte list (reusing the buffer of the previous read): the
        // canonical ABI then hands the host one list instead of six strings.
        self.packed.clear();
        pack_read(&e, &mut self.packed);
        journal::audit_append(&self.packed).map_err(err)
    }

    fn audit_scan(&mut self, scan: &AuditScan) -> Result<Vec<AuditEntry>, JournalError> {
        let found = journal::audit_scan(&journal::ReadAuditFilter {
            actor: scan.actor.clone(),
            agent: scan.agent.clone(),
            event_type: scan.event_type.clone(),
            since: scan.since,
            until: scan.until,
            limit: scan.limit,
        })
        .map_err(err)?;
        Ok(found
            .into_iter()
            .take(scan.limit as usize)
            .map(|e| AuditEntry {
                seq: e.seq,
                at: e.at,
                record: AuditRecord {
                    actor: e.actor,
                    event_type: e.event_type,
                    target: e.target,
                    outcome: e.outcome,
                    detail: e.detail,
                    prev: e.prev,
                    covers: None,
                },
            })
            .collect())
    }
}

/// Time from WASI's wall clock, randomness from WASI's random source.
pub struct WasiEnv;

impl Env for WasiEnv {
    fn now_ms(&mut self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0)
    }

    fn fill_random(&mut self, buf: &mut [u8]) {
        // WASI's random source does not fail; if it ever did, fall back to the clock so the
        // core keeps answering (ids stay unique through the used-id check).
        if getrandom::fill(buf).is_err() {
            let seed = self.now_ms().to_le_bytes();
            for (i, b) in buf.iter_mut().enumerate() {
                *b = seed.get(i % 8).copied().unwrap_or(0) ^ (i as u8);
            }
        }
    }
}
