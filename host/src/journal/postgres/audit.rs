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

/// The SQL of `scan` and its parameters after the log (`$1`): only the filters the scan
/// has, so that an index serves each, as the SQLite log's scan (`audit_log::scan_sql`)
/// does: a scan with an actor (an agent's own rows) reads that actor's rows only, newest
/// first by time within its range, by `(log, actor, at, id)` or, with an event type,
/// `(log, actor, event_type, at, id)`; the operator's scan by agent takes
/// the newest `limit` matching rows of each of three indexes (actor by time, target, and
/// the agent an operator's row acted as: [`super::schema`]'s `maas_audit_log_on_behalf`,
/// over the same expression), then the newest `limit` of those by time.
fn scan_sql<'a>(scan: &'a AuditScan, bounds: &'a [Option<i64>; 3]) -> (String, Vec<Param<'a>>) {
    let mut params: Vec<Param<'a>> = vec![&LOG];
    let mut next = |p: Param<'a>| {
        params.push(p);
        format!("${}", params.len())
    };
    let [since, until, limit] = bounds;
    let limit = next(limit);
    let mut filters = String::new();
    if scan.event_type.is_some() {
        filters += &format!(" AND event_type = {}", next(&scan.event_type));
    }
    if since.is_some() {
        filters += &format!(" AND at >= {}", next(since));
    }
    if until.is_some() {
        filters += &format!(" AND at < {}", next(until));
    }
    let on_behalf = "substring(detail from '\"on_behalf_of\":\"([^\"]*)\"')";
    let sql = match (&scan.actor, &scan.agent) {
        (Some(_), agent) => {
            let actor = next(&scan.actor);
            let by_agent = match agent {
                Some(_) => {
                    let a = next(&scan.agent);
                    format!(
                        " AND (actor = {a} OR target = {a} OR (actor = 'operator' AND {on_behalf} = {a}))"
                    )
                }
                None => String::new(),
            };
            format!(
                "SELECT {COLUMNS} FROM maas_audit_log WHERE log = $1 AND actor = {actor}{by_agent}{filters}
                 ORDER BY at DESC, id DESC LIMIT {limit}"
            )
        }
        (None, None) => format!(
            "SELECT {COLUMNS} FROM maas_audit_log WHERE log = $1{filters} ORDER BY id DESC LIMIT {limit}"
        ),
        (None, Some(_)) => {
            let a = next(&scan.agent);
            let newest = |which: String, order: &str| {
                format!(
                    "(SELECT id FROM maas_audit_log WHERE log = $1 AND {which}{filters}
                     ORDER BY {order} LIMIT {limit})"
                )
            };
            format!(
                "SELECT {COLUMNS} FROM maas_audit_log WHERE log = $1 AND id IN (
                   {} UNION ALL {} UNION ALL {})
                 ORDER BY at DESC, id DESC LIMIT {limit}",
                newest(format!("actor = {a}"), "at DESC, id DESC"),
                newest(format!("target = {a}"), "id DESC"),
                newest(
                    format!("actor = 'operator' AND {on_behalf} = {a}"),
                    "id DESC"
                ),
            )
        }
    };
    (sql, params)
}

/// One query parameter.
type Param<'a> = &'a (dyn postgres::types::ToSql + Sync);

/// The newest `scan.limit` matching entries, oldest first.
pub fn scan(
    client: &mut impl GenericClient,
    scan: &AuditScan,
) -> Result<Vec<AuditEntry>, JournalError> {
    let bounds = [
        scan.since.map(i64_of),
        scan.until.map(i64_of),
        Some(i64::from(scan.limit)),
    ];
    let (sql, params) = scan_sql(scan, &bounds);
    let rows = client.query(&sql, &params).map_err(unavailable)?;
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
