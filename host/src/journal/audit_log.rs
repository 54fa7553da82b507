//! The read-audit log beside the SQLite journal: one row per audited read, appended in
//! batches, never replayed into state, and queried by `audit.query` together with the
//! journal's own audit entries.

use super::JournalError;
use maas_core::audit::chain_hash;
use maas_core::engine::on_behalf_pattern;
use maas_core::events::AuditRecord;
use maas_core::journal::AuditScan;
use maas_core::state::AuditEntry;
use rusqlite::{Connection, OptionalExtension, params};

/// The table and its indexes (idempotent).
pub const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS audit_log (
        id INTEGER PRIMARY KEY,
        seq INTEGER NOT NULL,
        at INTEGER NOT NULL,
        actor TEXT NOT NULL,
        event_type TEXT NOT NULL,
        target TEXT,
        outcome TEXT NOT NULL,
        detail TEXT NOT NULL,
        prev TEXT,
        chain TEXT);
     CREATE INDEX IF NOT EXISTS audit_log_actor ON audit_log (actor, id);
     CREATE INDEX IF NOT EXISTS audit_log_target ON audit_log (target, id);";

/// Adds the chain columns to a log created before them (idempotent).
pub fn migrate(conn: &Connection) -> Result<(), JournalError> {
    for column in ["prev", "chain"] {
        let has: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM pragma_table_info('audit_log') WHERE name = ?1",
                [column],
                |r| r.get(0),
            )
            .map_err(unavailable)?;
        if has == 0 {
            conn.execute_batch(&format!("ALTER TABLE audit_log ADD COLUMN {column} TEXT;"))
                .map_err(unavailable)?;
        }
    }
    Ok(())
}

fn unavailable(e: rusqlite::Error) -> JournalError {
    JournalError::Unavailable(format!("sqlite (read-audit log): {e}"))
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The chain link of the newest row ("" for none, or one written before the chain).
fn last_link(conn: &Connection) -> Result<String, JournalError> {
    let link: Option<Option<String>> = conn
        .query_row(
            "SELECT chain FROM audit_log ORDER BY id DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .optional()
        .map_err(unavailable)?;
    Ok(link.flatten().unwrap_or_default())
}

/// Inserts `entries` in order, each chained to the row before it. The caller owns the
/// transaction (an immediate one, so processes sharing the log chain one after another).
pub fn insert(conn: &Connection, entries: &[AuditEntry]) -> Result<(), JournalError> {
    if entries.is_empty() {
        return Ok(());
    }
    let mut link = last_link(conn)?;
    let mut st = conn
        .prepare_cached(
            "INSERT INTO audit_log (seq, at, actor, event_type, target, outcome, detail, prev, chain)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )
        .map_err(unavailable)?;
    for e in entries {
        let r = &e.record;
        link = chain_hash(&link, e.seq, e.at, r);
        st.execute(params![
            to_i64(e.seq),
            to_i64(e.at),
            r.actor,
            r.event_type,
            r.target,
            r.outcome,
            r.detail,
            r.prev,
            link
        ])
        .map_err(unavailable)?;
    }
    Ok(())
}

/// One row as the chain sees it.
pub struct ChainRow {
    /// Row id.
    pub id: i64,
    /// The entry.
    pub entry: AuditEntry,
    /// The link stored with it (`None` for rows written before the chain).
    pub chain: Option<String>,
}

/// Up to `limit` rows after row `after`, in order.
pub fn chain_rows(
    conn: &Connection,
    after: i64,
    limit: u32,
) -> Result<Vec<ChainRow>, JournalError> {
    let mut st = conn
        .prepare_cached(
            "SELECT id, seq, at, actor, event_type, target, outcome, detail, prev, chain
             FROM audit_log WHERE id > ?1 ORDER BY id LIMIT ?2",
        )
        .map_err(unavailable)?;
    let rows = st
        .query_map(params![after, i64::from(limit)], |r| {
            Ok(ChainRow {
                id: r.get(0)?,
                entry: entry_at(r, 1)?,
                chain: r.get(9)?,
            })
        })
        .map_err(unavailable)?;
    rows.map(|r| r.map_err(unavailable)).collect()
}

/// The entry in the eight columns from `first`: seq, at, actor, event_type, target,
/// outcome, detail, prev.
fn entry_at(r: &rusqlite::Row<'_>, first: usize) -> rusqlite::Result<AuditEntry> {
    let col = |i: usize| first + i;
    Ok(AuditEntry {
        seq: u64::try_from(r.get::<_, i64>(col(0))?).unwrap_or(0),
        at: u64::try_from(r.get::<_, i64>(col(1))?).unwrap_or(0),
        record: AuditRecord {
            actor: r.get(col(2))?,
            event_type: r.get(col(3))?,
            target: r.get(col(4))?,
            outcome: r.get(col(5))?,
            detail: r.get(col(6))?,
            prev: r.get(col(7))?,
        },
    })
}

/// The newest `scan.limit` matching entries, oldest first.
pub fn scan(conn: &Connection, scan: &AuditScan) -> Result<Vec<AuditEntry>, JournalError> {
    let mut st = conn
        .prepare_cached(
            "SELECT seq, at, actor, event_type, target, outcome, detail, prev FROM audit_log
             WHERE (?1 IS NULL OR actor = ?1)
               AND (?2 IS NULL OR actor = ?2 OR target = ?2
                    OR (actor = 'operator' AND instr(detail, ?7) > 0))
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
                i64::from(scan.limit),
                scan.agent.as_deref().map(on_behalf_pattern)
            ],
            |r| entry_at(r, 0),
        )
        .map_err(unavailable)?;
    let mut out = rows
        .map(|r| r.map_err(unavailable))
        .collect::<Result<Vec<_>, _>>()?;
    out.reverse();
    Ok(out)
}
