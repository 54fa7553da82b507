//! The read-audit log in PostgreSQL: rows numbered densely per log and chained as in the
//! SQLite log. Hosts write their buffered rows under an advisory lock, so the rows of
//! several hosts form one chain.

use super::{LOCK_AUDIT, LOG, i64_of, unavailable};
use crate::journal::JournalError;
use crate::journal::audit_log::ChainRow;
use maas_core::audit::chain_hash;
use maas_core::events::AuditRecord;
use maas_core::journal::AuditScan;
use maas_core::state::AuditEntry;
use postgres::GenericClient;

/// Inserts `entries` after the newest row, each chained to the row before it. The caller
/// owns the transaction; the lock taken here is held until it ends.
pub fn insert(tx: &mut impl GenericClient, entries: &[AuditEntry]) -> Result<(), JournalError> {
    if entries.is_empty() {
        return Ok(());
    }
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_AUDIT])
        .map_err(unavailable)?;
    let last = tx
        .query_opt(
            "SELECT id, chain FROM maas_audit_log WHERE log = $1 ORDER BY id DESC LIMIT 1",
            &[&LOG],
        )
        .map_err(unavailable)?;
    let (mut id, mut link) = last
        .map(|r| (r.get::<_, i64>(0), r.get::<_, String>(1)))
        .unwrap_or_default();
    let st = tx
        .prepare(
            "INSERT INTO maas_audit_log
             (log, id, seq, at, actor, event_type, target, outcome, detail, prev, chain)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .map_err(unavailable)?;
    for e in entries {
        let r = &e.record;
        id += 1;
        link = chain_hash(&link, e.seq, e.at, r);
        tx.execute(
            &st,
            &[
                &LOG,
                &id,
                &i64_of(e.seq),
                &i64_of(e.at),
                &r.actor,
                &r.event_type,
                &r.target,
                &r.outcome,
                &r.detail,
                &r.prev,
                &link,
            ],
        )
        .map_err(unavailable)?;
    }
    Ok(())
}

const COLUMNS: &str = "seq, at, actor, event_type, target, outcome, detail, prev";

/// The entry in the eight columns from `first`.
fn entry_at(r: &postgres::Row, first: usize) -> AuditEntry {
    AuditEntry {
        seq: u64::try_from(r.get::<_, i64>(first)).unwrap_or(0),
        at: u64::try_from(r.get::<_, i64>(first + 1)).unwrap_or(0),
        record: AuditRecord {
            actor: r.get(first + 2),
            event_type: r.get(first + 3),
            target: r.get(first + 4),
            outcome: r.get(first + 5),
            detail: r.get(first + 6),
            prev: r.get(first + 7),
            covers: None,
        },
    }
}

/// The filters of a scan besides the log and the agent: `$2` actor, `$4` event type,
/// `$5`..`$6` time.
macro_rules! scan_filters {
    () => {
        "($2::TEXT IS NULL OR actor = $2) AND ($4::TEXT IS NULL OR event_type = $4)
         AND ($5::BIGINT IS NULL OR at >= $5) AND ($6::BIGINT IS NULL OR at < $6)"
    };
}

/// A scan with no agent filter: the newest rows first, until `$7` match.
const SCAN: &str = concat!(
    "SELECT seq, at, actor, event_type, target, outcome, detail, prev FROM maas_audit_log
     WHERE log = $1 AND $3::TEXT IS NULL AND ",
    scan_filters!(),
    " ORDER BY id DESC LIMIT $7"
);

/// A scan by agent: the newest `$7` matching rows of each of its three indexes (actor,
/// target, and the agent an operator's row acted as: [`super::schema`]'s
/// `maas_audit_log_on_behalf`, over the same expression), then the newest `$7` of those,
/// as the SQLite log's scan does.
const SCAN_BY_AGENT: &str = concat!(
    "SELECT seq, at, actor, event_type, target, outcome, detail, prev FROM maas_audit_log
     WHERE log = $1 AND id IN (
       (SELECT id FROM maas_audit_log WHERE log = $1 AND actor = $3 AND ",
    scan_filters!(),
    " ORDER BY id DESC LIMIT $7)
       UNION ALL (SELECT id FROM maas_audit_log WHERE log = $1 AND target = $3 AND ",
    scan_filters!(),
    " ORDER BY id DESC LIMIT $7)
       UNION ALL (SELECT id FROM maas_audit_log WHERE log = $1 AND actor = 'operator'
         AND substring(detail from '\"on_behalf_of\":\"([^\"]*)\"') = $3 AND ",
    scan_filters!(),
    " ORDER BY id DESC LIMIT $7))
     ORDER BY id DESC LIMIT $7"
);

/// The newest `scan.limit` matching entries, oldest first.
pub fn scan(
    client: &mut impl GenericClient,
    scan: &AuditScan,
) -> Result<Vec<AuditEntry>, JournalError> {
    let sql = if scan.agent.is_some() {
        SCAN_BY_AGENT
    } else {
        SCAN
    };
    let rows = client
        .query(
            sql,
            &[
                &LOG,
                &scan.actor,
                &scan.agent,
                &scan.event_type,
                &scan.since.map(i64_of),
                &scan.until.map(i64_of),
                &i64::from(scan.limit),
            ],
        )
        .map_err(unavailable)?;
    let mut out: Vec<AuditEntry> = rows.iter().map(|r| entry_at(r, 0)).collect();
    out.truncate(maas_core::audit::fitting(&out));
    out.reverse();
    Ok(out)
}

/// Up to `limit` rows after row `after`, in order, with their links.
pub fn chain_rows(
    client: &mut impl GenericClient,
    after: i64,
    limit: u32,
) -> Result<Vec<ChainRow>, JournalError> {
    let rows = client
        .query(
            &format!(
                "SELECT id, {COLUMNS}, chain FROM maas_audit_log
                 WHERE log = $1 AND id > $2 ORDER BY id LIMIT $3"
            ),
            &[&LOG, &after, &i64::from(limit)],
        )
        .map_err(unavailable)?;
    Ok(rows
        .iter()
        .map(|r| ChainRow {
            id: r.get(0),
            entry: entry_at(r, 1),
            chain: r.get(9),
        })
        .collect())
}
