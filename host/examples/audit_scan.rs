//! What a scan of a large SQLite read-audit log by agent (`maas audit --agent X`) costs,
//! against the baseline of reading the log newest first until the limit is met (by actor
//! or target only, as the scan did before it used the log's indexes), measured in the
//! same process on the same file.
//!
//! `cargo run --release -p maas-host --example audit_scan -- [ROWS]`
//!
//! Writes ROWS (default 1,000,000) read-audit rows through the log's own insert (chained,
//! as the host writes them) into a fresh file: 1,000 agents, one row in 20 by the
//! operator acting as one of them. Then scans by a rare agent (a thousandth of the rows
//! name it), by an agent named nowhere, with no agent filter, for an event type no row
//! has, and an agent's own scans (an actor: with no filter, for an event type it never
//! made, filtered on another agent, from a time after every row), and prints the median
//! of seven scans of each with `audit_log::scan` and with the baseline, and their ratio.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use maas_core::events::AuditRecord;
use maas_core::journal::AuditScan;
use maas_core::state::AuditEntry;
use maas_host::journal::audit_log;
use rusqlite::{Connection, params};
use std::time::{Duration, Instant};

/// The scan before: the whole log newest first, by actor or target only.
const BASELINE: &str = "SELECT seq, at, actor, event_type, target, outcome, detail, prev
     FROM audit_log
     WHERE (?1 IS NULL OR actor = ?1)
       AND (?2 IS NULL OR actor = ?2 OR target = ?2)
       AND (?3 IS NULL OR event_type = ?3)
       AND (?4 IS NULL OR at >= ?4)
       AND (?5 IS NULL OR at < ?5)
     ORDER BY id DESC LIMIT ?6";

fn row(i: u64, rng: &mut u64) -> AuditEntry {
    // xorshift: the same rows on every run.
    *rng ^= *rng << 13;
    *rng ^= *rng >> 7;
    *rng ^= *rng << 17;
    let agent = format!("agent-{}", *rng % 1000);
    let by_operator = (*rng >> 20).is_multiple_of(20);
    let detail = if by_operator {
        format!(r#"{{"agent_id":"{agent}","returned":3,"on_behalf_of":"{agent}"}}"#)
    } else {
        format!(r#"{{"agent_id":"{agent}","returned":3}}"#)
    };
    AuditEntry {
        seq: i,
        at: 1_700_000_000_000 + i,
        record: AuditRecord {
            actor: if by_operator {
                "operator".into()
            } else {
                agent
            },
            event_type: "memory.searched".into(),
            target: Some(format!("m-{}", (*rng >> 32) % 1_000_000)),
            outcome: "ok".into(),
            detail,
            prev: Some(String::new()),
            covers: None,
        },
    }
}

fn median(mut f: impl FnMut() -> usize) -> (Duration, usize) {
    let mut found = 0;
    let mut times: Vec<Duration> = (0..7)
        .map(|_| {
            let start = Instant::now();
            found = f();
            start.elapsed()
        })
        .collect();
    times.sort();
    (times[3], found)
}

fn main() {
    let rows: u64 = std::env::args()
        .nth(1)
        .map_or(1_000_000, |n| n.parse().expect("ROWS is a number"));
    let path = std::env::temp_dir().join(format!("maas-audit-scan-{}.db", std::process::id()));
    let conn = Connection::open(&path).unwrap();
    conn.execute_batch(audit_log::SCHEMA).unwrap();
    audit_log::migrate(&conn).unwrap();
    let start = Instant::now();
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut batch = Vec::with_capacity(10_000);
    for i in 0..rows {
        batch.push(row(i, &mut rng));
        if batch.len() == batch.capacity() || i + 1 == rows {
            conn.execute_batch("BEGIN IMMEDIATE").unwrap();
            audit_log::insert(&conn, &batch).unwrap();
            conn.execute_batch("COMMIT").unwrap();
            batch.clear();
        }
    }
    println!("{rows} rows written in {:.1?}", start.elapsed());

    // (actor, agent, event type, since, limit): an actor is an agent's own scan; a time
    // past every row's is a range none is in.
    let later = Some(1_800_000_000_000i64);
    for (actor, agent, event_type, since, limit) in [
        (None, Some("agent-17"), None, None, 100),
        (None, Some("agent-17"), None, None, 1000),
        (None, Some("nobody"), None, None, 100),
        (None, None, None, None, 100),
        (None, None, Some("none.such"), None, 100),
        (Some("agent-17"), None, None, None, 100),
        (Some("agent-17"), None, Some("none.such"), None, 100),
        (Some("agent-17"), Some("agent-18"), None, None, 100),
        (Some("agent-17"), None, None, later, 100),
        (Some("agent-17"), None, Some("memory.searched"), later, 100),
    ] {
        let scan = AuditScan {
            actor: actor.map(str::to_string),
            agent: agent.map(str::to_string),
            event_type: event_type.map(str::to_string),
            since: since.map(|t| t as u64),
            limit,
            ..AuditScan::default()
        };
        let (now, found) = median(|| audit_log::scan(&conn, &scan).unwrap().len());
        let (before, found_before) = median(|| {
            let mut st = conn.prepare_cached(BASELINE).unwrap();
            st.query_map(
                params![actor, agent, event_type, since, None::<i64>, limit],
                // Every column read, as the log's scan reads them.
                |r| {
                    Ok(AuditEntry {
                        seq: r.get::<_, i64>(0)? as u64,
                        at: r.get::<_, i64>(1)? as u64,
                        record: AuditRecord {
                            actor: r.get(2)?,
                            event_type: r.get(3)?,
                            target: r.get(4)?,
                            outcome: r.get(5)?,
                            detail: r.get(6)?,
                            prev: r.get(7)?,
                            covers: None,
                        },
                    })
                },
            )
            .unwrap()
            .filter_map(Result::ok)
            .collect::<Vec<_>>()
            .len()
        });
        println!(
            "actor {:<8} agent {:<8} type {:<15} {:<5} limit {limit:>4}: {:>7.1?} ({found} \
             rows), baseline {:>7.1?} ({found_before} rows), ratio {:.3}",
            actor.unwrap_or("-"),
            agent.unwrap_or("-"),
            event_type.unwrap_or("-"),
            if since.is_some() { "later" } else { "" },
            now,
            before,
            now.as_secs_f64() / before.as_secs_f64()
        );
    }
    drop(conn);
    let _ = std::fs::remove_file(&path);
}
