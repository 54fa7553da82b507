//! The PostgreSQL schema, created and migrated by `maas` itself: a version table and
//! numbered migrations, applied under an advisory lock so hosts starting together
//! migrate once. Only tables the role maas connects as owns are used: a table another
//! role created first could carry its triggers, which would run as maas on every entry.

use super::{LOCK_SCHEMA, unavailable};
use crate::journal::JournalError;
use postgres::{Client, GenericClient};

/// The schema version this build writes.
pub const VERSION: i32 = 3;

/// Migration `n` (from 1) brings version `n - 1` to `n`. Version 2 indexes the agent an
/// operator's read-audit row acted as (`on_behalf_of` in its detail), for scans by agent;
/// version 3 an actor's rows by time, of all types and of one (an agent's own scans).
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
    "
    DROP INDEX maas_audit_log_actor;
    CREATE INDEX maas_audit_log_actor_at ON maas_audit_log (log, actor, at, id);
    CREATE INDEX maas_audit_log_actor_type_at ON maas_audit_log
        (log, actor, event_type, at, id);
",
];

/// Every table maas uses (the version table first).
const TABLES: &[&str] = &[
    "maas_schema",
    "maas_journal",
    "maas_damaged",
    "maas_audit_log",
    "maas_snapshots",
    "maas_snapshot_chunks",
];

/// Finds the schema maas's tables live in: the one the role's `search_path` makes
/// current, where unqualified names have always put them. Refuses one owned by another
/// role (that role could swap the tables), unless a superuser holds it or, as PostgreSQL
/// 15 makes `public`, the database's owner does and maas is that owner. Pins the session's `search_path` to
/// `pg_catalog`, that schema and `pg_temp`, so nothing another role put in a schema
/// earlier in the path is used.
pub fn pin(client: &mut Client) -> Result<Schema, JournalError> {
    let row = client
        .query_opt(
            "SELECT n.nspname::text, pg_catalog.quote_ident(n.nspname),
                    pg_catalog.pg_get_userbyid(n.nspowner)::text, r.rolsuper,
                    current_user::text,
                    (SELECT pg_catalog.pg_get_userbyid(d.datdba)::text
                     FROM pg_catalog.pg_database d
                     WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database())
             FROM pg_catalog.pg_namespace n
             JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) n.nspowner
             WHERE n.nspname OPERATOR(pg_catalog.=) pg_catalog.current_schema()",
            &[],
        )
        .map_err(unavailable)?
        .ok_or_else(|| {
            JournalError::Unavailable(
                "the role's search_path names no schema that exists, so maas has nowhere \
                 to keep its tables: create one owned by the role maas connects as, or set \
                 the role's search_path (ALTER ROLE … SET search_path = …)"
                    .into(),
            )
        })?;
    let (name, quoted, owner, superuser, me): (String, String, String, bool, String) =
        (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4));
    let database_owner: Option<String> = row.get(5);
    // PostgreSQL 15 gives `public` to `pg_database_owner`: whoever owns the database
    // owns it, and can drop and replace tables in it under a running host.
    if owner == "pg_database_owner" && database_owner.as_deref() != Some(me.as_str()) {
        let holder = database_owner.unwrap_or_else(|| "another role".into());
        return Err(JournalError::Unavailable(format!(
            "the schema {name}, where maas would keep its tables, belongs to the database's \
             owner, role {holder}, not {me}, the role maas connects as: {holder} could \
             replace maas's tables there. Make {me} the database's owner (ALTER DATABASE \
             … OWNER TO {me}), or use a schema {me} owns (first in its search_path)"
        )));
    }
    if owner != me && !superuser && owner != "pg_database_owner" {
        return Err(JournalError::Unavailable(format!(
            "the schema {name}, where maas would keep its tables, is owned by role {owner}, \
             not by {me}, the role maas connects as: {owner} could replace maas's tables \
             there. Use a schema {me} owns (first in its search_path), or make {me} its \
             owner (ALTER SCHEMA {quoted} OWNER TO …)"
        )));
    }
    let schema = Schema { name, quoted };
    client.batch_execute(&schema.path()).map_err(unavailable)?;
    Ok(schema)
}

/// The schema maas's tables live in.
#[derive(Clone, Debug)]
pub struct Schema {
    name: String,
    /// The name as SQL quotes it.
    quoted: String,
}

impl Schema {
    /// The statement that pins a session's `search_path`: `pg_catalog` first, so no
    /// function or operator of the schema (where other roles may create them, as in
    /// `public` before PostgreSQL 15) stands in for a built-in one; `pg_temp` last.
    pub fn path(&self) -> String {
        format!("SET search_path = pg_catalog, {}, pg_temp;", self.quoted)
    }

    /// `sql` creating its tables in this schema (`pg_catalog`, first in the path, would
    /// be the default).
    fn qualified(&self, sql: &str) -> String {
        sql.replace("CREATE TABLE ", &format!("CREATE TABLE {}.", self.quoted))
    }
}

/// Refuses any of maas's tables in the pinned schema that the current role does not own,
/// naming it and its owner.
fn check_owners(tx: &mut impl GenericClient, schema: &Schema) -> Result<(), JournalError> {
    let tables: Vec<String> = TABLES.iter().map(|t| t.to_string()).collect();
    let foreign = tx
        .query(
            "SELECT n.nspname::text, c.relname::text, pg_catalog.pg_get_userbyid(c.relowner)::text,
                    current_user::text
             FROM pg_catalog.pg_class c
             JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
             WHERE n.nspname::text OPERATOR(pg_catalog.=) $2
               AND c.relname::text OPERATOR(pg_catalog.=) ANY ($1)
               AND c.relowner OPERATOR(pg_catalog.<>)
                   (SELECT oid FROM pg_catalog.pg_roles
                    WHERE rolname OPERATOR(pg_catalog.=) current_user)
             ORDER BY c.relname",
            &[&tables, &schema.name],
        )
        .map_err(unavailable)?;
    match foreign.first() {
        None => Ok(()),
        Some(row) => {
            let (schema, table, owner, me): (String, String, String, String) =
                (row.get(0), row.get(1), row.get(2), row.get(3));
            Err(JournalError::Unavailable(format!(
                "the table {schema}.{table} is owned by role {owner}, not by {me}, the role \
                 maas connects as: maas does not use tables another role created (a trigger \
                 on them would run as {me} on every entry). If they are maas's own, make \
                 {me} their owner (ALTER TABLE … OWNER TO …); otherwise drop them"
            )))
        }
    }
}

/// Creates or migrates the schema to [`VERSION`]; refuses a database written by a newer
/// `maas`, and tables another role owns. `schema` is [`pin`]'s.
pub fn migrate(client: &mut Client, schema: &Schema) -> Result<(), JournalError> {
    let mut tx = client.transaction().map_err(unavailable)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_SCHEMA])
        .map_err(unavailable)?;
    check_owners(&mut tx, schema)?;
    tx.batch_execute(&format!(
        "CREATE TABLE IF NOT EXISTS {}.maas_schema (version INTEGER NOT NULL)",
        schema.quoted
    ))
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
        tx.batch_execute(&schema.qualified(sql))
            .map_err(unavailable)?;
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
