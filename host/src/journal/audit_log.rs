//! The read-audit log beside the SQLite journal: one row per audited read, appended in
//! batches, never replayed into state, and queried by `audit.query` together with the
//! journal's own audit entries.

use super::JournalError;
use maas_core::events::AuditRecord;
use maas_core::journal::AuditScan;
use maas_core::state::AuditEntry;
use rusqlite::{Connection, params};

/// The table and its indexes (idempotent).
pub const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS audit_log (
        id INTEGER PRIMARY KEY,
        seq INTEGER NOT NULL,
        at INTEGER NOT NULL,
        actor TEXT NOT NULL,
        event_type TEXT NOT NULL,
        target TEXT,
        outcome TEXT NOT NULL,
        detail TEXT NOT NULL);
     CREATE INDEX IF NOT EXISTS audit_log_actor ON audit_log (actor, id);
     CREATE INDEX IF NOT EXISTS audit_log_target ON audit_log (target, id);";

fn unavailable(e: rusqlite::Error) -> JournalError {
    JournalError::Unavailable(format!("sqlite (read-audit log): {e}"))
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Inserts `entries` in order. The caller owns the transaction.
pub fn insert(conn: &Connection, entries: &[AuditEntry]) -> Result<(), JournalError> {
    let mut st = conn
        .prepare_cached(
            "INSERT INTO audit_log (seq, at, actor, event_type, target, outcome, detail)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .map_err(unavailable)?;
    for e in entries {
        let r = &e.record;
        st.execute(params![
            to_i64(e.seq),
            to_i64(e.at),
            r.actor,
            r.event_type,
            r.target,
            r.outcome,
            r.detail
        ])
        .map_err(unavailable)?;
    }
    Ok(())
}

/// The newest `scan.limit` matching entries, oldest first.
pub fn scan(conn: &Connection, scan: &AuditScan) -> Result<Vec<AuditEntry>, JournalError> {
    let mut st = conn
        .prepare_cached(
            "SELECT seq, at, actor, event_type, target, outcome, detail FROM audit_log
             WHERE (?1 IS NULL OR actor = ?1)
               AND (?2 IS NULL OR actor = ?2 OR target = ?2)
               AND (?3 IS NULL OR event_type = ?3)
               AND (?4 IS NULL OR at >= ?4)
               AND (?5 IS NULL OR at < ?5)
             ORDER BY id DESC LIMIT ?6",
        )
        .map_err(unavailable)?;
    let rows = st
        .query_map(
            params![
                scan.actor,
                scan.agent,
                scan.event_type,
                scan.since.map(to_i64),
                scan.until.map(to_i64),
                i64::from(scan.limit)
            ],
            |r| {
                Ok(AuditEntry {
                    seq: u64::try_from(r.get::<_, i64>(0)?).unwrap_or(0),
                    at: u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0),
                    record: AuditRecord {
                        actor: r.get(2)?,
                        event_type: r.get(3)?,
                        target: r.get(4)?,
                        outcome: r.get(5)?,
                        detail: r.get(6)?,
                    },
                })
            },
        )
        .map_err(unavailable)?;
    let mut out = rows
        .map(|r| r.map_err(unavailable))
        .collect::<Result<Vec<_>, _>>()?;
    out.reverse();
    Ok(out)
}
