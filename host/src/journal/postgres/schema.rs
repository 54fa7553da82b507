//! The PostgreSQL schema, created and migrated by `maas` itself: a version table and
//! numbered migrations, applied under an advisory lock so hosts starting together
//! migrate once.

use super::{LOCK_SCHEMA, unavailable};
use crate::journal::JournalError;
use postgres::Client;

/// The schema version this build writes.
pub const VERSION: i32 = 2;

/// Migration `n` (from 1) brings version `n - 1` to `n`. Version 2 indexes the agent an
/// operator's read-audit row acted as (`on_behalf_of` in its detail), for scans by agent.
const MIGRATIONS: &[&str] = &[
    "
    CREATE TABLE maas_journal (
        log TEXT NOT NULL,
        seq BIGINT NOT NULL,
        data BYTEA NOT NULL,
        sum BYTEA NOT NULL,
        PRIMARY KEY (log, seq));
    CREATE TABLE maas_damaged (
        log TEXT NOT NULL,
        seq BIGINT NOT NULL,
        data BYTEA,
        sum BYTEA,
        set_aside_at BIGINT NOT NULL);
    CREATE TABLE maas_audit_log (
        log TEXT NOT NULL,
        id BIGINT NOT NULL,
        seq BIGINT NOT NULL,
        at BIGINT NOT NULL,
        actor TEXT NOT NULL,
        event_type TEXT NOT NULL,
        target TEXT,
        outcome TEXT NOT NULL,
        detail TEXT NOT NULL,
        prev TEXT,
        chain TEXT NOT NULL,
        PRIMARY KEY (log, id));
    CREATE INDEX maas_audit_log_actor ON maas_audit_log (log, actor, id);
    CREATE INDEX maas_audit_log_target ON maas_audit_log (log, target, id);
    CREATE TABLE maas_snapshots (
        log TEXT NOT NULL,
        seq BIGINT NOT NULL,
        parts INTEGER NOT NULL,
        sum BYTEA NOT NULL,
        PRIMARY KEY (log, seq));
    CREATE TABLE maas_snapshot_chunks (
        log TEXT NOT NULL,
        seq BIGINT NOT NULL,
        part INTEGER NOT NULL,
        data BYTEA NOT NULL,
        sum BYTEA NOT NULL,
        PRIMARY KEY (log, seq, part));
",
    r#"
    CREATE INDEX maas_audit_log_on_behalf ON maas_audit_log
        (log, (substring(detail from '"on_behalf_of":"([^"]*)"')), id)
        WHERE actor = 'operator';
"#,
];

/// Creates or migrates the schema to [`VERSION`]; refuses a database written by a newer
/// `maas`.
pub fn migrate(client: &mut Client) -> Result<(), JournalError> {
    let mut tx = client.transaction().map_err(unavailable)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_SCHEMA])
        .map_err(unavailable)?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS maas_schema (version INTEGER NOT NULL)")
        .map_err(unavailable)?;
    let found: Option<i32> = tx
        .query_opt("SELECT MAX(version) FROM maas_schema", &[])
        .map_err(unavailable)?
        .and_then(|row| row.get(0));
    let found = found.unwrap_or(0);
    if found > VERSION {
        return Err(JournalError::Unavailable(format!(
            "the database holds maas schema version {found}, newer than this maas knows \
             ({VERSION}): upgrade maas on this host"
        )));
    }
    for (n, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        tx.batch_execute(sql).map_err(unavailable)?;
        let version = i32::try_from(n + 1).unwrap_or(i32::MAX);
        tx.execute("INSERT INTO maas_schema (version) VALUES ($1)", &[&version])
            .map_err(unavailable)?;
    }
    tx.commit().map_err(unavailable)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn there_is_one_migration_per_version() {
        assert_eq!(MIGRATIONS.len(), VERSION as usize);
    }
}
