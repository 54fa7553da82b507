//! A journal in PostgreSQL, so several `maas` hosts serve one history.
//!
//! One row per entry keyed by `(log, seq)`: a dense sequence, not a serial counter, so a
//! reader that tails the journal never skips an entry committed late. A host writes under
//! a transaction-scoped advisory lock: it takes the lock, compares the head with the one
//! its core decided on (another host wrote first: `Conflict`, the core catches up and
//! decides again) and inserts. With group commit the appends of one batch share that
//! transaction and [`JournalBackend::sync`] commits it, so a batch is one transaction and
//! one commit; the lock is held until then, which orders the hosts' batches. A key that
//! is taken all the same (a writer that skipped the lock) is a conflict too. After each
//! commit the host notifies `maas_journal` with the new head (never inside the
//! transaction); every call of the core reads the head first, so a host sees every entry
//! committed before the call began, whoever wrote it.
//!
//! Every entry and snapshot chunk carries its SHA-256, as in SQLite. The read-audit log
//! and snapshots live in tables of their own (`postgres/audit.rs`, `postgres/snapshots.rs`);
//! the schema is created and migrated by `maas` (`postgres/schema.rs`), in a schema and
//! tables owned by the role maas connects as, with the session's `search_path` pinned to
//! them. A lost connection is `unavailable` for the call that meets it and is opened
//! again by the next call; so is one that did not answer within its bound
//! (`postgres/session.rs`).

mod audit;
mod listen;
mod schema;
mod session;
mod snapshots;
mod tls;

use super::audit_log::ChainRow;
use super::{JournalBackend, JournalError, MAX_READ_BATCH, check_entry, checksum};
use maas_core::journal::AuditScan;
use maas_core::state::AuditEntry;
use postgres::Client;
use postgres::error::SqlState;
use session::{Failure, Session};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tls::Target;

pub use listen::listen;
pub use schema::VERSION as SCHEMA_VERSION;
pub use session::{Bounds, unanswered_for};

/// The log every table is keyed by (one history per database today; a log per tenant
/// would shard it).
const LOG: &str = "main";
/// Advisory lock keys: the journal's writers, the read-audit log's, migrations.
const LOCK_JOURNAL: i64 = 0x6d61_6173_0001;
const LOCK_AUDIT: i64 = 0x6d61_6173_0002;
const LOCK_SCHEMA: i64 = 0x6d61_6173_0003;
/// The channel hosts are notified on after a commit; the payload is the new head, a hint
/// only: any role that can connect can notify it.
pub const CHANNEL: &str = "maas_journal";
/// Test-only environment switch: `1` turns the compare of compare-and-append off: an
/// entry goes after whatever the head is, whatever head the core decided on, so a core
/// that decided on an old state appends anyway (and never reads what it skipped); and
/// outside a batch the host sees the journal as it was [`STALE_VIEW`] ago, as a host
/// behind a slow link would, so such decisions happen whenever two hosts decide on the
/// same thing within that time. For the negative control of the several-hosts test;
/// never set it on a real host.
pub const UNCONDITIONAL: &str = "MAAS_TEST_UNCONDITIONAL_APPEND";
/// How old the journal a host sees is with [`UNCONDITIONAL`] set.
pub const STALE_VIEW: Duration = Duration::from_millis(1_000);
/// Most entries one insert statement carries.
const INSERT_ROWS: usize = 1_000;
/// How long a failed connection attempt is not repeated.
const RECONNECT_EVERY: Duration = Duration::from_secs(1);
/// How long no connection is tried after one did not answer within its bound: a stalled
/// server would otherwise hold a call every second for the whole connect bound.
const RECONNECT_AFTER_STALL: Duration = Duration::from_secs(5);
/// Most read-audit entries buffered before they are written.
const MAX_BUFFERED_READS: usize = 4096;
/// Longest a read-audit entry stays buffered while reads go on.
const READ_FLUSH_INTERVAL: Duration = Duration::from_millis(50);
/// Session settings: a statement, a wait for the writers' lock and an idle transaction
/// are bounded, so a stuck host cannot hold the others forever. (The client's own bound,
/// [`Bounds::round_trip`], is a little above the statement's.)
const SESSION: &str = "SET statement_timeout = '30s';
     SET lock_timeout = '15s';
     SET idle_in_transaction_session_timeout = '60s';";

/// The TLS warning is printed once per process.
static WARNED: AtomicBool = AtomicBool::new(false);

fn unavailable(e: postgres::Error) -> JournalError {
    JournalError::Unavailable(match e.as_db_error() {
        Some(db) => format!("postgres: {} (SQLSTATE {})", db.message(), db.code().code()),
        None => format!("postgres: {e}"),
    })
}

fn i64_of(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// `e` and what caused it (a TLS handshake's failure says why only in its source).
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let more = c.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        cause = c.source();
    }
    text
}

/// The URL without its password, for messages.
fn redacted(url: &str) -> String {
    match tls::driver_config(url) {
        Ok(c) => {
            let user = c.get_user().unwrap_or("");
            let dbname = c.get_dbname().unwrap_or("");
            format!("postgres://{user}@…/{dbname}")
        }
        Err(_) => "the postgres URL".into(),
    }
}

/// Says once per process that a notification could not be sent (the other hosts then
/// see new entries by reading the head, within 100 ms while anyone waits).
fn notify_failed(e: &postgres::Error) {
    static SAID: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if !SAID.swap(true, std::sync::atomic::Ordering::Relaxed) {
        eprintln!(
            "maas: a change was committed but its notification to other hosts failed \
             ({e}); they see it when they next read the journal's head (said once)"
        );
    }
}

/// `store` (a `--store` value, perhaps mistyped) with its credentials hidden: the
/// password of a `user:password@` part and every `password=` value.
pub fn redact_store(store: &str) -> String {
    let mut text = store.to_string();
    // A `user:password@` part: what follows the first `:` after the scheme, up to the
    // last `@` anywhere (a mistyped value may hold `?` or a space in its password; a
    // query's `@` hides more than it must, never less) — all of it when there is no
    // `:`, which may be a password whose `:` was taken for the scheme's.
    if let Some(at) = text.rfind('@') {
        let from = scheme_len(&text[..at]);
        match text[from..at].find(':') {
            Some(colon) => text.replace_range(from + colon + 1..at, "…"),
            None if at > from => text.replace_range(from..at, "…"),
            None => {}
        }
    }
    // `password=VALUE` in a query string or the key=value form (libpq allows spaces
    // around `=`), any case; a quoted value to its closing quote.
    let mut from = 0;
    while let Some(found) = text[from..].to_ascii_lowercase().find("password") {
        let key_end = from + found + "password".len();
        let after_key = &text[key_end..];
        let spaced = after_key.len() - after_key.trim_start().len();
        let Some(after_eq) = after_key.trim_start().strip_prefix('=') else {
            from = key_end;
            continue;
        };
        let value = key_end + spaced + 1 + (after_eq.len() - after_eq.trim_start().len());
        let rest = &text[value..];
        let len = match rest.strip_prefix('\'') {
            Some(quoted) => quoted.find('\'').map_or(rest.len(), |i| i + 2),
            None => rest.find(['&', ' ', '\t']).unwrap_or(rest.len()),
        };
        text.replace_range(value..value + len, "…");
        from = value + "…".len();
    }
    text
}

/// The length of `text`'s leading `scheme:/…/` (letters, digits, `+`, `.`, `-`, a `:`
/// and at least one `/`), 0 without one.
fn scheme_len(text: &str) -> usize {
    let name = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || "+.-".contains(c)))
        .unwrap_or(text.len());
    let rest = &text[name..];
    match rest.strip_prefix(':') {
        Some(after) if name > 0 && after.starts_with('/') => {
            text.len() - after.trim_start_matches('/').len()
        }
        _ => 0,
    }
}

/// The connection `url` names, or why it names none.
fn parse(url: &str) -> Result<Target, JournalError> {
    Target::parse(url).map_err(|e| {
        JournalError::Unavailable(format!("{} is not a PostgreSQL URL: {e}", redacted(url)))
    })
}

/// The connection `url` names, with the bounds of `bounds` and maas's application name.
fn bounded_target(url: &str, bounds: &Bounds) -> Result<Target, JournalError> {
    let mut target = parse(url)?;
    session::bound(&mut target, bounds, url);
    if target.config.get_application_name().is_none() {
        target.config.application_name("maas");
    }
    Ok(target)
}

/// `d` for people: whole seconds as such, else milliseconds.
fn seconds(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{} ms", d.as_millis())
    }
}

/// An empty database beside the one a URL names, for a benchmark's runs: created on
/// [`ScratchDatabase::create`], dropped (with its connections) when dropped.
pub struct ScratchDatabase {
    admin: Target,
    name: String,
    /// The URL of the scratch database (the given URL with its database replaced).
    pub url: String,
}

impl ScratchDatabase {
    /// Creates database `name` (lowercase letters, digits and `_`) on the server `url`
    /// names, dropping an earlier one of that name.
    pub fn create(url: &str, name: &str) -> Result<Self, JournalError> {
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(JournalError::Unavailable(format!(
                "{name:?} is not a scratch database name"
            )));
        }
        let admin = parse(url)?;
        let scratch = ScratchDatabase {
            admin,
            name: name.to_string(),
            url: with_database(url, name),
        };
        scratch.run(&[
            &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            &format!("CREATE DATABASE {name}"),
        ])?;
        Ok(scratch)
    }

    /// Runs each statement on its own (neither may run inside a transaction).
    fn run(&self, statements: &[&str]) -> Result<(), JournalError> {
        let mut client = self.admin.connect().map_err(unavailable)?;
        for statement in statements {
            client.batch_execute(statement).map_err(unavailable)?;
        }
        Ok(())
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        let _ = self.run(&[&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        )]);
    }
}

/// `url` naming database `name` instead of its own.
fn with_database(url: &str, name: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (path, query) = match rest.split_once('?') {
                Some((p, q)) => (p, format!("?{q}")),
                None => (rest, String::new()),
            };
            let authority = path.split('/').next().unwrap_or("");
            format!("{scheme}://{authority}/{name}{query}")
        }
        None => format!("{url} dbname={name}"),
    }
}

/// True when `store` names a PostgreSQL database: a `postgres://` URL or libpq's
/// `key=value` form (`host=db user=maas dbname=maas`).
pub fn is_url(store: &str) -> bool {
    store.starts_with("postgres://")
        || store.starts_with("postgresql://")
        || (store.contains('=') && !store.contains("://") && tls::driver_config(store).is_ok())
}

/// A journal in a PostgreSQL database.
pub struct PostgresJournal {
    target: Target,
    url: String,
    bounds: Bounds,
    /// What each new connection runs first: [`SESSION`] and the pinned `search_path`.
    setup: String,
    session: Option<Session>,
    group_commit: bool,
    /// A batch transaction holding the writers' lock is open.
    in_batch: bool,
    /// The head after the last append of the open batch.
    batch_head: u64,
    /// Entries appended to the open batch and not yet sent: (seq, data, checksum).
    pending: Vec<(i64, Vec<u8>, Vec<u8>)>,
    reads: Vec<AuditEntry>,
    reads_since: Option<Instant>,
    notices: Vec<String>,
    saving: Option<(u64, Vec<Vec<u8>>)>,
    /// The head last read: what the host serves reads from while the database is away.
    last_head: u64,
    /// The last entry this host appended or read: no head it is shown is older.
    applied: u64,
    /// The connection was lost with a batch open: its changes were rolled back.
    batch_lost: bool,
    /// No new connection is tried before then (the last attempt failed, or the last
    /// connection did not answer).
    retry_at: Option<Instant>,
    /// Test-only: append at the head whatever head the core decided on (no compare), and
    /// see the journal as it was a while ago, so a test can show that it detects what
    /// compare-and-append prevents.
    unconditional: Option<StaleView>,
}

/// The journal as a host saw it [`STALE_VIEW`] ago (test-only, see [`UNCONDITIONAL`]).
#[derive(Default)]
struct StaleView {
    /// Heads read, oldest first: the newest one older than [`STALE_VIEW`] and every
    /// younger one.
    seen: std::collections::VecDeque<(Instant, u64)>,
    /// Reads return no entry past this (the head last handed out).
    cap: u64,
}

impl StaleView {
    /// Records `head`, read now, and returns the head the host is to see: the newest
    /// one read at least [`STALE_VIEW`] ago (the oldest read when none is that old), and
    /// never one before `applied`, the last entry the host appended or read.
    fn see(&mut self, head: u64, applied: u64) -> u64 {
        let now = Instant::now();
        self.seen.push_back((now, head));
        let old = |t: &Instant| now.duration_since(*t) >= STALE_VIEW;
        while self.seen.get(1).is_some_and(|(t, _)| old(t)) {
            self.seen.pop_front();
        }
        self.cap = self.seen.front().map_or(head, |(_, h)| *h).max(applied);
        self.cap
    }
}

impl PostgresJournal {
    /// Connects to `url` (`postgres://user:password@host:port/db`, or
    /// `postgres:///db?host=/socket/dir`), creating or migrating the schema.
    pub fn connect(url: &str) -> Result<Self, JournalError> {
        Self::connect_with(url, Bounds::default())
    }

    /// [`PostgresJournal::connect`] with the connection's and each call's bound.
    ///
    /// The tables live in the schema the role's `search_path` makes current (as
    /// unqualified names did before), which must be the role's own (or `public` as the
    /// server made it); every connection's `search_path` is then pinned to
    /// `pg_catalog`, that schema and `pg_temp`. A maas table owned by another role is
    /// refused.
    pub fn connect_with(url: &str, bounds: Bounds) -> Result<Self, JournalError> {
        let target = bounded_target(url, &bounds)?;
        if let Some(warning) = target.unverified_remote()
            && !WARNED.swap(true, Ordering::AcqRel)
        {
            eprintln!("maas: WARNING: {warning}");
        }
        let mut journal = PostgresJournal {
            target,
            url: redacted(url),
            bounds,
            setup: SESSION.to_string(),
            session: None,
            group_commit: false,
            in_batch: false,
            batch_head: 0,
            pending: Vec::new(),
            reads: Vec::new(),
            reads_since: None,
            notices: Vec::new(),
            saving: None,
            last_head: 0,
            applied: 0,
            batch_lost: false,
            retry_at: None,
            unconditional: std::env::var_os(UNCONDITIONAL)
                .is_some_and(|v| v == "1")
                .then(StaleView::default),
        };
        let schema = journal.run(schema::pin)?;
        journal.setup = format!("{SESSION} {}", schema.path());
        journal.run(move |c| schema::migrate(c, &schema))?;
        Ok(journal)
    }

    /// The connection, opened again if it was lost (at most every [`RECONNECT_EVERY`]),
    /// unless a batch was open on it: its changes are lost with it.
    fn session(&mut self) -> Result<&Session, JournalError> {
        if self.session.as_ref().is_some_and(Session::is_closed) {
            self.session = None;
        }
        if self.session.is_none() && self.in_batch {
            self.in_batch = false;
            self.batch_lost = true;
            self.pending.clear();
            return Err(self.lost());
        }
        if self.session.is_none() {
            if self.retry_at.is_some_and(|at| Instant::now() < at) {
                return Err(JournalError::Unavailable(format!(
                    "{} cannot be reached; trying again shortly",
                    self.url
                )));
            }
            match Session::open(&self.target, self.setup.clone(), self.bounds.connect, true) {
                Ok(s) => {
                    self.session = Some(s);
                    self.retry_at = None;
                }
                Err(failure) => {
                    let wait = match failure {
                        Failure::Driver(_) => RECONNECT_EVERY,
                        _ => RECONNECT_AFTER_STALL,
                    };
                    self.retry_at = Some(Instant::now() + wait);
                    return Err(self.failure(failure));
                }
            }
        }
        self.session
            .as_ref()
            .ok_or_else(|| JournalError::Unavailable("no connection".into()))
    }

    /// Runs `f` on the connection (opened again if it was lost, see
    /// [`PostgresJournal::session`]) within [`Bounds::round_trip`]; past it the
    /// connection is dropped (with the batch open on it, if any) and the call is
    /// `unavailable`, naming the database.
    fn run<T: Send + 'static>(
        &mut self,
        f: impl FnOnce(&mut Client) -> Result<T, JournalError> + Send + 'static,
    ) -> Result<T, JournalError> {
        let limit = self.bounds.round_trip;
        match self.session()?.call_checked(limit, f) {
            Ok(answer) => answer,
            Err(failure) => {
                self.session = None;
                self.retry_at = Some(Instant::now() + RECONNECT_AFTER_STALL);
                if self.in_batch {
                    self.in_batch = false;
                    self.batch_lost = true;
                    self.pending.clear();
                }
                Err(self.failure(failure))
            }
        }
    }

    /// [`PostgresJournal::run`] on the connection a batch is open on, never a new one:
    /// the batch's changes are lost with a lost connection.
    fn run_here<T: Send + 'static>(
        &mut self,
        f: impl FnOnce(&mut Client) -> Result<T, JournalError> + Send + 'static,
    ) -> Result<T, JournalError> {
        if self.disconnected() {
            self.session = None;
            self.pending.clear();
            return Err(self.lost());
        }
        self.run(f)
    }

    /// The error of `failure`, naming the database.
    fn failure(&self, failure: Failure) -> JournalError {
        JournalError::Unavailable(match failure {
            Failure::Driver(e) => format!("cannot reach {}: {}", self.url, with_causes(&e)),
            Failure::Stalled(limit) => format!(
                "{} did not answer within {}: the connection was dropped (the next call \
                 opens another)",
                self.url,
                seconds(limit)
            ),
            Failure::TooManyWaiting(n) => format!(
                "{} has not answered {n} earlier connections: no new one is opened until \
                 one of them ends",
                self.url
            ),
            Failure::NoThread(e) => {
                format!("cannot start a connection to {}: {e}", self.url)
            }
        })
    }

    /// The error of a batch whose connection was lost before its commit.
    fn lost(&self) -> JournalError {
        JournalError::Unavailable(format!(
            "the connection to {} was lost before the batch was committed: its changes were \
             not saved",
            self.url
        ))
    }

    /// True when there is no working connection.
    fn disconnected(&self) -> bool {
        self.session.as_ref().is_none_or(Session::is_closed)
    }

    /// The sequence of the last entry (as the open batch sees it, if one is open).
    fn head_of(client: &mut Client) -> Result<u64, JournalError> {
        let head: i64 = client
            .query_one(
                "SELECT COALESCE(MAX(seq), 0) FROM maas_journal WHERE log = $1",
                &[&LOG],
            )
            .map_err(unavailable)?
            .get(0);
        Ok(u64::try_from(head).unwrap_or(0))
    }

    /// Opens the batch transaction with the writers' lock, if none is open, and reads the
    /// head under it: while the lock is held nobody else appends, so the batch knows the
    /// head without asking again. One round trip.
    fn begin_batch(&mut self) -> Result<(), JournalError> {
        if self.in_batch {
            return Ok(());
        }
        let sql = format!(
            "BEGIN; SELECT pg_advisory_xact_lock({LOCK_JOURNAL});
             SELECT COALESCE(MAX(seq), 0) FROM maas_journal WHERE log = '{LOG}'"
        );
        let head = self.run(move |client| {
            let head = client
                .simple_query(&sql)
                .map_err(unavailable)
                .and_then(|messages| {
                    messages
                        .iter()
                        .rev()
                        .find_map(|m| match m {
                            postgres::SimpleQueryMessage::Row(row) => row.get(0),
                            _ => None,
                        })
                        .and_then(|h| h.parse::<u64>().ok())
                        .ok_or_else(|| {
                            JournalError::Unavailable("postgres: no head in the answer".into())
                        })
                });
            if head.is_err() {
                let _ = client.batch_execute("ROLLBACK");
            }
            head
        })?;
        self.in_batch = true;
        self.batch_head = head;
        self.last_head = head;
        Ok(())
    }

    /// Writes the entries appended to the open batch so far, in multi-row inserts.
    fn write_pending(&mut self) -> Result<(), JournalError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let pending = std::mem::take(&mut self.pending);
        let written = self.run_here(move |client| {
            for rows in pending.chunks(INSERT_ROWS) {
                let mut sql =
                    String::from("INSERT INTO maas_journal (log, seq, data, sum) VALUES ");
                let mut params: Vec<&(dyn postgres::types::ToSql + Sync)> =
                    Vec::with_capacity(rows.len() * 3 + 1);
                params.push(&LOG);
                for (i, (seq, data, sum)) in rows.iter().enumerate() {
                    if i > 0 {
                        sql.push_str(", ");
                    }
                    let n = 2 + i * 3;
                    sql.push_str(&format!("($1, ${}, ${}, ${})", n, n + 1, n + 2));
                    params.push(seq);
                    params.push(data);
                    params.push(sum);
                }
                if let Err(e) = client.execute(sql.as_str(), &params) {
                    let _ = client.batch_execute("ROLLBACK");
                    return Err(if e.code() == Some(&SqlState::UNIQUE_VIOLATION) {
                        JournalError::Unavailable(
                            "an entry of this batch was written by another writer without the \
                             lock; the batch was rolled back"
                                .into(),
                        )
                    } else {
                        unavailable(e)
                    });
                }
            }
            Ok(())
        });
        if written.is_err() {
            // Rolled back (or its connection dropped): the batch is over.
            self.in_batch = false;
        }
        written
    }

    /// Ends the open batch without writing it.
    fn rollback(&mut self) {
        self.pending.clear();
        if self.in_batch {
            self.in_batch = false;
            if !self.disconnected() {
                let _ = self.run(|c| c.batch_execute("ROLLBACK").map_err(unavailable));
            }
        }
    }

    /// Writes the buffered read-audit rows into the batch and commits it, then notifies
    /// the other hosts of the new head.
    fn end_batch(&mut self) -> Result<(), JournalError> {
        if !self.in_batch {
            return self.write_reads();
        }
        if self.disconnected() {
            self.session = None;
            self.in_batch = false;
            self.pending.clear();
            return Err(self.lost());
        }
        self.write_pending()?;
        let reads = Arc::new(std::mem::take(&mut self.reads));
        let sent = reads.clone();
        // After the commit, never inside it, and on its own: a notification only says
        // "look" (the other hosts also read the head while anyone waits), so its failure
        // — a queue another role keeps full with an open transaction — is no failure of
        // the batch, which has committed.
        let notify = format!("SELECT pg_notify('{CHANNEL}', '{}')", self.batch_head);
        let committed = self.run_here(move |client| {
            let committed = audit::insert(client, &sent)
                .and_then(|()| client.batch_execute("COMMIT").map_err(unavailable));
            if committed.is_err() {
                let _ = client.batch_execute("ROLLBACK");
                return committed;
            }
            if let Err(e) = client.batch_execute(&notify) {
                notify_failed(&e);
            }
            Ok(())
        });
        self.in_batch = false;
        if let Err(e) = committed {
            // The rows were rolled back with the batch: they wait for the next write.
            self.reads = Arc::try_unwrap(reads).unwrap_or_else(|r| r.as_ref().clone());
            return Err(e);
        }
        self.reads_since = None;
        self.last_head = self.batch_head;
        Ok(())
    }

    /// Compare-and-append of `data` in the open batch.
    fn append_in_batch(&mut self, expected_head: u64, data: &[u8]) -> Result<u64, JournalError> {
        check_entry(data)?;
        self.begin_batch()?;
        let head = self.batch_head;
        // Test-only: no compare; the entry goes after whatever the head is.
        let expected_head = if self.unconditional.is_some() {
            head
        } else {
            expected_head
        };
        if head != expected_head {
            return Err(JournalError::Conflict(head));
        }
        let seq = expected_head + 1;
        // Written with the batch's other entries when it commits (or before a read).
        self.pending
            .push((i64_of(seq), data.to_vec(), checksum(data)));
        self.batch_head = seq;
        Ok(seq)
    }

    /// Writes the buffered read-audit rows in a transaction of their own (or the batch).
    fn write_reads(&mut self) -> Result<(), JournalError> {
        if self.reads.is_empty() {
            self.reads_since = None;
            return Ok(());
        }
        if self.in_batch {
            let reads = std::mem::take(&mut self.reads);
            self.reads_since = None;
            return self.run_here(move |c| audit::insert(c, &reads));
        }
        let reads = Arc::new(std::mem::take(&mut self.reads));
        let sent = reads.clone();
        let written = self.run(move |client| {
            let mut tx = client.transaction().map_err(unavailable)?;
            audit::insert(&mut tx, &sent)?;
            tx.commit().map_err(unavailable)
        });
        match written {
            Ok(()) => {
                self.reads_since = None;
                Ok(())
            }
            Err(e) => {
                self.reads = Arc::try_unwrap(reads).unwrap_or_else(|r| r.as_ref().clone());
                self.reads_since = Some(Instant::now());
                Err(e)
            }
        }
    }
}

impl JournalBackend for PostgresJournal {
    fn append_all(&mut self, expected_head: u64, entries: &[Vec<u8>]) -> Result<u64, JournalError> {
        self.end_batch()?;
        let mut head = expected_head;
        for data in entries {
            head = self
                .append_in_batch(head, data)
                .inspect_err(|_| self.rollback())?;
        }
        self.end_batch()?;
        Ok(head)
    }

    fn chain_rows(&mut self, after: i64, limit: u32) -> Result<Vec<ChainRow>, JournalError> {
        self.write_reads()?;
        self.run(move |c| audit::chain_rows(c, after, limit))
    }

    fn away(&self) -> bool {
        self.disconnected()
    }

    fn head(&mut self) -> Result<u64, JournalError> {
        if self.in_batch && !self.disconnected() {
            // The writers' lock is held: nobody else has appended since it was taken.
            // (Test-only: the old view stays, whatever the lock shows.)
            return Ok(self
                .unconditional
                .as_ref()
                .map_or(self.batch_head, |v| v.cap));
        }
        let mut read = self.run(Self::head_of);
        if read.is_err() && !self.in_batch && self.disconnected() && self.retry_at.is_none() {
            // The connection broke while idle (the server restarted, say): a new one is
            // opened at once, so the head is the journal's as it is now, not the one
            // read before the break (a call would otherwise catch up to entries since
            // removed and fail).
            read = self.run(Self::head_of);
        }
        match read {
            Ok(head) => {
                self.last_head = head;
                // Test-only: the head the core decides on is old, as a slow link would
                // make it (never older than what this host appended or read); only the
                // compare catches that.
                let applied = self.applied;
                Ok(self
                    .unconditional
                    .as_mut()
                    .map_or(head, |v| v.see(head, applied)))
            }
            // The database is away: the host answers from what it holds; a change fails
            // when it tries to append.
            Err(_) if self.disconnected() && !self.in_batch => Ok(self.last_head.max(self.applied)),
            Err(e) => Err(e),
        }
    }

    fn read(&mut self, from: u64, max: u32) -> Result<Vec<(u64, Vec<u8>)>, JournalError> {
        self.write_pending()?;
        let mut max = i64::from(max.min(MAX_READ_BATCH));
        if let Some(view) = &self.unconditional {
            // Test-only: nothing past the old head the host was shown.
            max = max
                .min(i64_of(view.cap.saturating_add(1)) - i64_of(from))
                .max(0);
        }
        let url = self.url.clone();
        let bytes = i64::try_from(super::MAX_READ_BYTES).unwrap_or(i64::MAX);
        let entries = self.run(move |client| {
            client
                .query(
                    // Entries while those before them hold under the byte bound (see
                    // `MAX_READ_BYTES`); `octet_length` reads a stored value's size
                    // without fetching it.
                    "SELECT seq, data, sum FROM (
                         SELECT seq, data, sum,
                                sum(octet_length(data)) OVER (ORDER BY seq)
                                    - octet_length(data) AS before
                         FROM maas_journal WHERE log = $1 AND seq >= $2
                         ORDER BY seq LIMIT $3
                     ) AS page WHERE before < $4 ORDER BY seq",
                    &[&LOG, &i64_of(from), &max, &bytes],
                )
                .map_err(unavailable)?
                .iter()
                .map(|r| {
                    let seq = u64::try_from(r.get::<_, i64>(0)).unwrap_or(0);
                    let data: Vec<u8> = r.get(1);
                    let sum: Vec<u8> = r.get(2);
                    if checksum(&data) == sum {
                        Ok((seq, data))
                    } else {
                        Err(JournalError::Unavailable(format!(
                            "journal entry {seq} in {url} is damaged (checksum mismatch)"
                        )))
                    }
                })
                .collect::<Result<Vec<_>, _>>()
        })?;
        if let Some((seq, _)) = entries.last() {
            self.applied = self.applied.max(*seq);
        }
        Ok(entries)
    }

    fn append(&mut self, expected_head: u64, data: &[u8], sync: bool) -> Result<u64, JournalError> {
        // Without group commit every append is its own transaction, synced or not:
        // PostgreSQL's commit is durable either way.
        let _ = sync;
        let appended = self.append_in_batch(expected_head, data);
        if let Ok(seq) = appended {
            self.applied = self.applied.max(seq);
        }
        if !self.group_commit {
            if appended.is_err() {
                self.rollback();
            } else {
                self.end_batch()?;
            }
        }
        appended
    }

    fn audit_append(&mut self, entry: &AuditEntry) -> Result<(), JournalError> {
        self.audit_append_owned(entry.clone())
    }

    fn audit_append_owned(&mut self, entry: AuditEntry) -> Result<(), JournalError> {
        self.reads.push(entry);
        let since = *self.reads_since.get_or_insert_with(Instant::now);
        if self.reads.len() >= MAX_BUFFERED_READS || since.elapsed() >= READ_FLUSH_INTERVAL {
            // While the database is away the rows wait in the buffer; a read fails only
            // when the buffer is full.
            if let Err(e) = self.write_reads()
                && self.reads.len() >= MAX_BUFFERED_READS
            {
                self.reads.pop();
                return Err(e);
            }
        }
        Ok(())
    }

    fn flush_reads(&mut self) -> Result<(), JournalError> {
        self.write_reads()
    }

    fn reads_due_in(&self) -> Option<Duration> {
        self.reads_since
            .map(|since| READ_FLUSH_INTERVAL.saturating_sub(since.elapsed()))
    }

    fn audit_scan(&mut self, scan: &AuditScan) -> Result<Vec<AuditEntry>, JournalError> {
        self.write_reads()?;
        let scan = scan.clone();
        self.run(move |c| audit::scan(c, &scan))
    }

    fn begin_snapshot(&mut self, seq: u64) -> Result<bool, JournalError> {
        self.end_batch()?;
        self.saving = None;
        self.run(move |c| snapshots::forget(c, seq))?;
        self.saving = Some((seq, Vec::new()));
        Ok(true)
    }

    fn snapshot_chunk(&mut self, data: &[u8]) -> Result<(), JournalError> {
        self.end_batch()?;
        let Some((seq, sums)) = self.saving.take() else {
            return Err(JournalError::Unavailable(
                "no snapshot is being saved".into(),
            ));
        };
        let part = u32::try_from(sums.len()).unwrap_or(u32::MAX);
        let mut sums = sums;
        let data = data.to_vec();
        let stored = self.run(move |c| snapshots::put_chunk(c, seq, part, &data));
        if let Ok(sum) = &stored {
            sums.push(sum.clone());
        }
        self.saving = Some((seq, sums));
        stored.map(drop)
    }

    fn finish_snapshot(&mut self) -> Result<(), JournalError> {
        let Some((seq, sums)) = self.saving.take() else {
            return Err(JournalError::Unavailable(
                "no snapshot is being saved".into(),
            ));
        };
        self.end_batch()?;
        self.run(move |c| snapshots::finish(c, seq, &sums))
    }

    fn abort_snapshot(&mut self) -> Result<(), JournalError> {
        match self.saving.take() {
            Some((seq, _)) => self.run(move |c| snapshots::discard(c, i64_of(seq))),
            None => Ok(()),
        }
    }

    fn snapshots(&mut self) -> Result<Vec<u64>, JournalError> {
        self.run(snapshots::list)
    }

    fn unfinished_snapshot_after(&mut self, seq: u64) -> Result<Option<u64>, JournalError> {
        self.run(move |c| snapshots::unfinished_after(c, seq))
    }

    fn snapshot_parts(&mut self, seq: u64) -> Result<Option<u32>, JournalError> {
        Ok(match self.run(move |c| snapshots::parts(c, seq))? {
            Some(Ok(n)) => Some(n),
            Some(Err(why)) => {
                self.notices.push(format!(
                    "the snapshot as of entry {seq} in {} is damaged ({why}); falling back \
                     to an older snapshot or the journal",
                    self.url
                ));
                None
            }
            None => None,
        })
    }

    fn load_snapshot_chunk(
        &mut self,
        seq: u64,
        part: u32,
    ) -> Result<Option<Vec<u8>>, JournalError> {
        Ok(match self.run(move |c| snapshots::chunk(c, seq, part))? {
            Some(Ok(data)) => Some(data),
            other => {
                let why = match other {
                    Some(Err(why)) => why,
                    _ => format!("chunk {part} is missing"),
                };
                self.notices.push(format!(
                    "the snapshot as of entry {seq} in {} is damaged ({why}); falling back \
                     to an older snapshot or the journal",
                    self.url
                ));
                None
            }
        })
    }

    fn set_group_commit(&mut self, on: bool) {
        self.group_commit = on;
    }

    fn needs_sync(&self) -> bool {
        self.in_batch || self.batch_lost
    }

    fn sync(&mut self) -> Result<(), JournalError> {
        if std::mem::take(&mut self.batch_lost) {
            return Err(self.lost());
        }
        self.end_batch()
    }

    fn take_notices(&mut self) -> Vec<String> {
        std::mem::take(&mut self.notices)
    }
}

impl Drop for PostgresJournal {
    /// Writes the buffered read-audit rows; an open batch, whose answers were never
    /// released, is left to roll back with the connection.
    fn drop(&mut self) {
        if !self.in_batch && !self.reads.is_empty() {
            let _ = self.write_reads();
        }
    }
}

#[cfg(test)]
mod url_tests {
    use super::with_database;

    #[test]
    fn the_database_is_replaced_in_both_url_forms() {
        assert_eq!(
            with_database("postgres://u:p@h:5/db?sslmode=require", "x"),
            "postgres://u:p@h:5/x?sslmode=require"
        );
        assert_eq!(with_database("postgresql://h", "x"), "postgresql://h/x");
        assert_eq!(
            with_database("host=h dbname=db", "x"),
            "host=h dbname=db dbname=x"
        );
    }
}
