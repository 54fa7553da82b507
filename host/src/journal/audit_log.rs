//! The read-audit log beside the SQLite journal: one row per audited read, appended in
//! batches, never replayed into state, and queried by `audit.query` together with the
//! journal's own audit entries.

use super::JournalError;
use maas_core::audit::chain_hash;
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
     CREATE INDEX IF NOT EXISTS audit_log_target ON audit_log (target, id);";

/// Adds the chain columns to a log created before them, the index of the agents the
/// operator acted as, and an actor's rows by time in place of its rows by row id
/// (idempotent).
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
    conn.execute_batch(ON_BEHALF_INDEX).map_err(unavailable)?;
    conn.execute_batch(ACTOR_TIME_INDEXES)
        .map_err(unavailable)?;
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
            covers: None,
        },
    })
}

/// The agent an operator's row names as acted for (`on_behalf_of` in its detail,
/// [`maas_core::engine::ON_BEHALF`]); NULL for a detail that is not JSON.
macro_rules! on_behalf {
    () => {
        "(CASE WHEN json_valid(detail) THEN json_extract(detail, '$.on_behalf_of') END)"
    };
}

/// The index that finds an operator's rows by the agent they acted as.
const ON_BEHALF_INDEX: &str = concat!(
    "CREATE INDEX IF NOT EXISTS audit_log_on_behalf ON audit_log (",
    on_behalf!(),
    ", id) WHERE actor = 'operator';"
);

/// The indexes that find an actor's rows newest first by time, within a time range,
/// all of them or those of one event type (SQLite appends the row id to each, so the
/// newest by time and then by row come first). They replace the actor's index by row
/// (`audit_log_actor`, dropped): with it as well, a million rows took 32.2 s to write,
/// 21.0 s without (15.5 s before either). The operator's scans by event type read the
/// log newest first (65 ms at a million rows for a type none has).
const ACTOR_TIME_INDEXES: &str = "DROP INDEX IF EXISTS audit_log_actor_type;
     DROP INDEX IF EXISTS audit_log_actor;
     CREATE INDEX IF NOT EXISTS audit_log_actor_at ON audit_log (actor, at);
     CREATE INDEX IF NOT EXISTS audit_log_actor_type_at ON audit_log (actor, event_type, at);";

const COLUMNS: &str = "seq, at, actor, event_type, target, outcome, detail, prev";

/// The index an actor's rows are read by for `scan`, named in the SQL: without
/// statistics SQLite took the actor's time index for an event type too, reading every
/// row of the actor's in the range.
fn actor_index(scan: &AuditScan) -> &'static str {
    if scan.event_type.is_some() {
        "audit_log_actor_type_at"
    } else {
        "audit_log_actor_at"
    }
}

/// The SQL of `scan` and the names it binds: only the filters the scan has, so that an
/// index serves each and the newest rows are read first, stopping at the limit.
///
/// A scan with an actor (an agent's own rows: every row of an agent's calls names it as
/// the actor) reads that actor's rows only, newest first by time (as the core takes the
/// newest entries), within its time range, by `(actor, event_type, at)` with an event
/// type and `(actor, at)` without: what it reads is bounded by its limit and the rows in
/// its range that another filter (the agent) leaves out, never by the rows outside it.
/// Before, each filter was `(? IS NULL OR ...)`, which no index serves: an agent's scan
/// for an event type it never made, or a time with no rows, read the whole log newest
/// first (57-60 ms at a million rows; 26-97 ms over HTTP at 129,000-306,000 of its own
/// rows, another owner's calls slowed from 1.1 to 32-111 ms meanwhile); now microseconds
/// (`examples/audit_scan`).
///
/// The operator's scan by agent takes the newest `:limit` matching rows of each of three
/// indexes (the actor's by time, target and the agent the operator acted as by row),
/// each read newest first and stopped at the limit, then the newest `:limit` of those by
/// time. Where time and row order agree (one process's rows, its clock not stepped
/// back), any of the newest `:limit` matching rows is among the newest `:limit` of its
/// own index, so nothing is missed.
/// At 1M rows, for an agent named in a thousandth of them, reading the log newest first
/// until the limit took 12 ms for 100 entries and 147 ms for 1,000, and 126 ms for an
/// agent named nowhere; this takes 0.4 ms, 2.4 ms and 0.1 ms
/// (`cargo run --release -p maas-host --example audit_scan`).
///
/// The operator's other scans (of the whole log, and by target or as an agent) read by
/// row id, newest first: their time bounds filter the rows an index gives (rows are in
/// time order only roughly, since processes sharing a log append with their own
/// clocks), so those do not bound the reading.
fn scan_sql(scan: &AuditScan) -> (String, Vec<&'static str>) {
    let mut names = vec![":limit"];
    let mut filters = String::new();
    if scan.event_type.is_some() {
        filters.push_str(" AND event_type = :event_type");
        names.push(":event_type");
    }
    if scan.since.is_some() {
        filters.push_str(" AND at >= :since");
        names.push(":since");
    }
    if scan.until.is_some() {
        filters.push_str(" AND at < :until");
        names.push(":until");
    }
    let sql = match (&scan.actor, &scan.agent) {
        (Some(_), agent) => {
            names.push(":actor");
            let by_agent = if agent.is_some() {
                names.push(":agent");
                concat!(
                    " AND (actor = :agent OR target = :agent OR (actor = 'operator' AND ",
                    on_behalf!(),
                    " = :agent))"
                )
            } else {
                ""
            };
            let index = actor_index(scan);
            format!(
                "SELECT {COLUMNS} FROM audit_log INDEXED BY {index}
                 WHERE actor = :actor{by_agent}{filters}
                 ORDER BY at DESC, id DESC LIMIT :limit"
            )
        }
        (None, None) => format!(
            "SELECT {COLUMNS} FROM audit_log WHERE 1{filters} ORDER BY id DESC LIMIT :limit"
        ),
        (None, Some(_)) => {
            names.push(":agent");
            // Each by its own index, newest first: the actor's by time (as an agent's
            // own scan), the others by row; a unary `+` keeps SQLite from reading every
            // row of the type, or the agent's in the time range, and sorting them.
            let by_row = filters
                .replace(" at ", " +at ")
                .replace(" event_type =", " +event_type =");
            let newest = |from: &str, which: &str, filters: &str, order: &str| {
                format!(
                    "SELECT id FROM (SELECT id FROM {from} WHERE {which}{filters}
                     ORDER BY {order} LIMIT :limit)"
                )
            };
            format!(
                "SELECT {COLUMNS} FROM audit_log WHERE id IN ({} UNION ALL {} UNION ALL {})
                 ORDER BY at DESC, id DESC LIMIT :limit",
                newest(
                    &format!("audit_log INDEXED BY {}", actor_index(scan)),
                    "actor = :agent",
                    &filters,
                    "at DESC, id DESC"
                ),
                newest("audit_log", "target = :agent", &by_row, "id DESC"),
                newest(
                    "audit_log",
                    concat!("actor = 'operator' AND ", on_behalf!(), " = :agent"),
                    &by_row,
                    "id DESC"
                ),
            )
        }
    };
    (sql, names)
}

/// The newest `scan.limit` matching entries, oldest first.
pub fn scan(conn: &Connection, scan: &AuditScan) -> Result<Vec<AuditEntry>, JournalError> {
    let (sql, names) = scan_sql(scan);
    let (since, until) = (scan.since.map(to_i64), scan.until.map(to_i64));
    let limit = i64::from(scan.limit);
    let args: Vec<(&str, &dyn rusqlite::ToSql)> = names
        .into_iter()
        .map(|name| -> (&str, &dyn rusqlite::ToSql) {
            match name {
                ":actor" => (name, &scan.actor),
                ":agent" => (name, &scan.agent),
                ":event_type" => (name, &scan.event_type),
                ":since" => (name, &since),
                ":until" => (name, &until),
                _ => (name, &limit),
            }
        })
        .collect();
    let mut st = conn.prepare_cached(&sql).map_err(unavailable)?;
    let rows = st
        .query_map(args.as_slice(), |r| entry_at(r, 0))
        .map_err(unavailable)?;
    // Newest first: read while they fit an answer.
    let mut answer = maas_core::audit::Answer::default();
    let mut out = Vec::new();
    for row in rows {
        let entry = row.map_err(unavailable)?;
        if !answer.takes(&entry) {
            break;
        }
        out.push(entry);
    }
    out.reverse();
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn entry(i: u64, actor: &str, target: &str, event_type: &str, detail: &str) -> AuditEntry {
        AuditEntry {
            seq: i,
            at: 1_000 + i,
            record: AuditRecord {
                actor: actor.into(),
                event_type: event_type.into(),
                target: Some(target.into()),
                outcome: "ok".into(),
                detail: detail.into(),
                prev: Some(String::new()),
                covers: None,
            },
        }
    }

    #[test]
    fn a_scan_by_agent_returns_what_the_filters_say_newest_first_cut() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(SCHEMA).unwrap();
        migrate(&conn).unwrap();
        let agents = ["ann", "bob", "cy"];
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        let mut all = Vec::new();
        for i in 0..600u64 {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let pick = |shift: u32| agents[((rng >> shift) % 3) as usize];
            let (actor, detail) = match rng % 4 {
                0 => ("operator", format!(r#"{{"on_behalf_of":"{}"}}"#, pick(8))),
                1 => ("operator", "not json".to_string()),
                _ => (pick(16), "{}".to_string()),
            };
            let kind = if rng >> 40 & 1 == 0 {
                "memory.read"
            } else {
                "agent.read"
            };
            all.push(entry(i, actor, pick(24), kind, &detail));
        }
        insert(&conn, &all).unwrap();
        for agent in [Some("ann"), Some("bob"), Some("nobody"), None] {
            for (actor, event_type, since, until, limit) in [
                (None, None, None, None, 10),
                (None, None, None, None, 1000),
                (Some("operator"), None, None, None, 7),
                (Some("ann"), Some("agent.read"), None, None, 50),
                (Some("ann"), None, Some(1_050), None, 30),
                (Some("cy"), Some("memory.read"), None, Some(1_500), 1000),
                (None, Some("memory.read"), Some(1_100), Some(1_400), 20),
            ] {
                let scan = AuditScan {
                    actor: actor.map(str::to_string),
                    agent: agent.map(str::to_string),
                    event_type: event_type.map(str::to_string),
                    since,
                    until,
                    limit,
                };
                let want = scan.newest(all.iter());
                let got = super::scan(&conn, &scan).unwrap();
                let seqs = |v: &[AuditEntry]| v.iter().map(|e| e.seq).collect::<Vec<_>>();
                assert_eq!(seqs(&got), seqs(&want), "{scan:?}");
            }
        }
    }

    #[test]
    fn the_index_reads_the_key_the_core_writes() {
        let key = format!("'$.{}'", maas_core::engine::ON_BEHALF);
        assert!(ON_BEHALF_INDEX.contains(&key));
        let scan = AuditScan {
            agent: Some("ann".into()),
            ..AuditScan::default()
        };
        assert!(scan_sql(&scan).0.contains(&key));
    }

    /// How SQLite reads each kind of scan: by an index that gives the newest matching
    /// rows first (no sort of every candidate), and an agent's own scan only by the
    /// indexes of its own rows, filtered on an event type by the one that holds it.
    #[test]
    fn every_scan_reads_an_index_newest_first() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(SCHEMA).unwrap();
        migrate(&conn).unwrap();
        let plan = |scan: &AuditScan| {
            let (sql, names) = scan_sql(scan);
            let null = rusqlite::types::Null;
            let args: Vec<(&str, &dyn rusqlite::ToSql)> =
                names.into_iter().map(|n| (n, &null as _)).collect();
            let mut st = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
            let rows = st
                .query_map(args.as_slice(), |r| r.get::<_, String>(3))
                .unwrap();
            rows.map(Result::unwrap).collect::<Vec<_>>().join("; ")
        };
        let scan = |actor: Option<&str>, agent: Option<&str>, event_type: Option<&str>| AuditScan {
            actor: actor.map(str::to_string),
            agent: agent.map(str::to_string),
            event_type: event_type.map(str::to_string),
            since: Some(1),
            until: Some(2),
            limit: 100,
        };
        for agent in [None, Some("bob")] {
            let own = plan(&scan(Some("ann"), agent, None));
            assert!(own.contains("USING INDEX audit_log_actor_at "), "{own}");
            let typed = plan(&scan(Some("ann"), agent, Some("memory.read")));
            assert!(
                typed.contains("USING INDEX audit_log_actor_type_at "),
                "{typed}"
            );
            for p in [&own, &typed] {
                // The time range bounds what the index reads.
                assert!(p.contains("at>? AND at<?"), "{p}");
                assert!(!p.contains("TEMP B-TREE") && !p.contains("target"), "{p}");
            }
        }
        let all = plan(&scan(None, None, None));
        assert!(
            !all.contains("TEMP B-TREE") && !all.contains("INDEX"),
            "{all}"
        );
        for (event_type, actor_index) in [
            (None, "audit_log_actor_at "),
            (Some("memory.read"), "audit_log_actor_type_at "),
        ] {
            let by_agent = plan(&scan(None, Some("bob"), event_type));
            // One sort: the last, of at most three limits' worth of rows.
            assert_eq!(by_agent.matches("TEMP B-TREE").count(), 1, "{by_agent}");
            assert!(
                by_agent.ends_with("USE TEMP B-TREE FOR ORDER BY"),
                "{by_agent}"
            );
            for index in [actor_index, "audit_log_target ", "audit_log_on_behalf "] {
                assert!(by_agent.contains(index), "{by_agent}");
            }
        }
    }
}
