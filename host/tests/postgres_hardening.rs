//! The PostgreSQL journal against what a review threw at it: notifications forged by a
//! role with no privileges, a database that stops answering, tables another role
//! created first, a connection that leaves the machine unchecked, a mistyped `--store`
//! holding a password, and a head cached across a reconnect. Each test starts its own
//! PostgreSQL on loopback (`pg_support`), or prints why it cannot and returns.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod pg_support;
mod proc_support;

use maas_host::journal::postgres::{Bounds, listen};
use maas_host::journal::{JournalBackend, JournalError, PostgresJournal};
use maas_host::service::CoreService;
use maas_host::types;
use std::process::Command;
use std::time::{Duration, Instant};

/// A client of `pg` as `user` (the test server trusts every local connection).
fn as_role(pg: &pg_support::Pg, user: &str, db: &str) -> postgres::Client {
    let url = format!(
        "postgres://{user}@127.0.0.1:{}/{db}?sslmode=disable",
        pg.port
    );
    postgres::Client::connect(&url, postgres::NoTls).unwrap()
}

const OP: types::Caller = types::Caller::Operator;

/// Registers agent `id` through `core`.
fn register(core: &CoreService, id: &str) -> Result<(), types::Error> {
    let req = maas_host::agents::RegistrationRequest {
        agent_type: maas_host::agents::AgentType::ClaudeCode,
        owner_id: "u-1".into(),
        agent_id: Some(id.into()),
        capabilities: None,
        metadata: None,
    };
    core.call_blocking(move |rt| rt.call(|c, s| c.maas_core_agents().call_register(s, &OP, &req)))
        .map(drop)
}

/// What `core` appended last.
fn appended(core: &CoreService) -> u64 {
    core.call_blocking(|rt| Ok(rt.appended())).unwrap()
}

/// Waits up to `within` for `done`.
fn eventually(within: Duration, mut done: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + within;
    while Instant::now() < until {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    done()
}

#[test]
fn a_notification_forged_by_any_role_moves_no_host_head() {
    let Some(pg) = pg_support::start() else {
        return;
    };
    let (a, b) = (pg_support::host(&pg.url), pg_support::host(&pg.url));
    let follower = a.clone();
    listen(&pg.url, move |hint| follower.head_moved(hint)).unwrap();
    // Someone waits on host A (as `wait_for_changes`, the feed and subscriptions do).
    let heads = a.heads();
    register(&b, "first").unwrap();
    let real = appended(&b);
    assert!(eventually(Duration::from_secs(5), || *heads.borrow() == real));

    // A role that can do nothing but connect notifies the channel: the highest head
    // there is, one 50 entries ahead, and one that is no number.
    let mut admin = as_role(&pg, "maas", "postgres");
    admin.batch_execute("CREATE ROLE monitor LOGIN").unwrap();
    let mut monitor = as_role(&pg, "monitor", "postgres");
    for payload in [u64::MAX.to_string(), (real + 50).to_string(), "x".into()] {
        monitor
            .batch_execute(&format!("NOTIFY maas_journal, '{payload}'"))
            .unwrap();
    }
    std::thread::sleep(Duration::from_millis(500));
    let shown = *heads.borrow();
    assert!(shown <= real, "a forged head was published: {shown}");

    // The next entries written on host B still reach host A's waiters, each of them.
    for i in 0..3 {
        register(&b, &format!("later-{i}")).unwrap();
        let now = appended(&b);
        assert!(
            eventually(Duration::from_secs(5), || *heads.borrow() == now),
            "host A's head stays at {} after host B wrote entry {now}",
            *heads.borrow()
        );
    }
}

/// Every process of `pg`'s cluster stopped (SIGSTOP) until dropped: a database that
/// takes connections and statements and answers none.
struct Stalled(Vec<String>);

impl Stalled {
    fn new(pg: &pg_support::Pg) -> Self {
        let pidfile = std::fs::read_to_string(pg.dir().join("data/postmaster.pid")).unwrap();
        let postmaster = pidfile.lines().next().unwrap().trim().to_string();
        let mut pids = vec![postmaster.clone()];
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
            // pid (comm) state ppid …: the fields after the command's closing paren.
            let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
            if after.split_whitespace().nth(1) == Some(postmaster.as_str()) {
                pids.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
        let ok = Command::new("kill")
            .arg("-STOP")
            .args(&pids)
            .status()
            .unwrap();
        assert!(ok.success());
        Stalled(pids)
    }
}

impl Drop for Stalled {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg("-CONT").args(&self.0).status();
    }
}

#[test]
fn a_database_that_stops_answering_fails_calls_within_the_bound() {
    let Some(pg) = pg_support::start() else {
        return;
    };
    let bounds = Bounds {
        connect: Duration::from_secs(2),
        round_trip: Duration::from_secs(2),
    };
    // A journal of bare bytes in a database of its own, and a core in the other.
    as_role(&pg, "maas", "postgres")
        .batch_execute("CREATE DATABASE raw")
        .unwrap();
    let raw = format!("postgres://maas@127.0.0.1:{}/raw", pg.port);
    let mut journal = PostgresJournal::connect_with(&raw, bounds).unwrap();
    assert_eq!(journal.append(0, b"one", true), Ok(1));
    let core = pg_support::host_with(&pg.url, bounds);
    register(&core, "ann").unwrap();

    let stalled = Stalled::new(&pg);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let began = Instant::now();
        let appended = journal.append(1, b"two", true);
        let took = began.elapsed();
        let head = journal.head();
        let _ = tx.send((appended, took, head, journal));
    });
    let (appended, took, head, mut journal) = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("an append returns while the database does not answer");
    match appended {
        Err(JournalError::Unavailable(why)) => {
            assert!(why.contains("did not answer within 2 s"), "{why}");
            assert!(why.contains("postgres://maas@…/raw"), "{why}");
        }
        other => panic!("{other:?}"),
    }
    assert!(took < Duration::from_secs(6), "took {took:?}");
    // The head is the one last read: the host answers from what it holds.
    assert_eq!(head, Ok(1));

    // Through a core: a change is refused as unavailable and a read of what the host
    // holds answers, each within the bounds.
    let began = Instant::now();
    let refused = register(&core, "bob").unwrap_err();
    assert!(
        matches!(&refused, types::Error::Unavailable(_)),
        "{refused:?}"
    );
    let read =
        core.call_blocking(|rt| rt.call(|c, s| c.maas_core_agents().call_get(s, &OP, "ann")));
    assert!(read.is_ok(), "{read:?}");
    assert!(
        began.elapsed() < Duration::from_secs(15),
        "{:?}",
        began.elapsed()
    );

    // Once the database answers again, so do the journal and the core.
    drop(stalled);
    assert!(eventually(Duration::from_secs(20), || journal
        .append(1, b"two", true)
        == Ok(2)));
    assert!(eventually(Duration::from_secs(20), || register(
        &core, "bob"
    )
    .is_ok()));
}

/// Why a journal at `url` cannot be opened; `accepted` says what opening it would mean.
fn refused(url: &str, accepted: &str) -> String {
    match PostgresJournal::connect(url) {
        Ok(_) => panic!("{accepted}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn tables_or_a_schema_another_role_made_first_are_refused() {
    let Some(pg) = pg_support::start() else {
        return;
    };
    let mut admin = as_role(&pg, "maas", "postgres");
    admin
        .batch_execute("CREATE ROLE evil LOGIN; GRANT CREATE ON SCHEMA public TO evil")
        .unwrap();
    admin.batch_execute("CREATE DATABASE other").unwrap();
    // Role evil creates maas's tables first, with a trigger that copies every entry.
    let mut evil = as_role(&pg, "evil", "postgres");
    evil.batch_execute(
        "CREATE TABLE maas_schema (version INTEGER NOT NULL);
         INSERT INTO maas_schema VALUES (1), (2);
         CREATE TABLE maas_journal (log TEXT NOT NULL, seq BIGINT NOT NULL,
             data BYTEA NOT NULL, sum BYTEA NOT NULL, PRIMARY KEY (log, seq));
         CREATE TABLE loot (what BYTEA);
         GRANT ALL ON ALL TABLES IN SCHEMA public TO PUBLIC;
         CREATE FUNCTION steal() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN INSERT INTO loot VALUES (NEW.data); RETURN NEW; END $$;
         CREATE TRIGGER steal AFTER INSERT ON maas_journal
             FOR EACH ROW EXECUTE FUNCTION steal();",
    )
    .unwrap();
    let err = match PostgresJournal::connect(&pg.url) {
        Ok(mut j) => {
            let _ = j.append(0, b"a secret", true);
            panic!("adopted evil's tables")
        }
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains("public.maas_journal") && err.contains("owned by role evil"),
        "{err}"
    );
    let stolen: i64 = admin
        .query_one("SELECT COUNT(*) FROM loot", &[])
        .unwrap()
        .get(0);
    assert_eq!(stolen, 0);

    // A schema of evil's first in maas's search_path is refused too, not filled.
    let mut other = as_role(&pg, "maas", "other");
    other
        .batch_execute("CREATE SCHEMA sneaky AUTHORIZATION evil")
        .unwrap();
    let url = format!(
        "postgres://maas@127.0.0.1:{}/other?options=-c%20search_path%3Dsneaky,public",
        pg.port
    );
    let err = refused(&url, "created maas's tables in evil's schema");
    assert!(
        err.contains("schema sneaky") && err.contains("owned by role evil"),
        "{err}"
    );

    // A database evil owns: PostgreSQL 15's `public` is then evil's to drop and replace
    // tables in, under a running host.
    admin
        .batch_execute("CREATE DATABASE evils OWNER evil")
        .unwrap();
    let url = format!(
        "postgres://maas@127.0.0.1:{}/evils?sslmode=disable",
        pg.port
    );
    let err = refused(
        &url,
        "kept maas's tables in a schema the database's owner holds",
    );
    assert!(err.contains("database's owner, role evil"), "{err}");

    // Without them, maas makes its own tables, owned by the role it connects as.
    evil.batch_execute("DROP TABLE maas_journal, maas_schema")
        .unwrap();
    let mut j = PostgresJournal::connect(&pg.url).unwrap();
    assert_eq!(j.append(0, b"mine", true), Ok(1));
    let owners: Vec<String> = admin
        .query(
            "SELECT DISTINCT tableowner::text FROM pg_tables WHERE tablename LIKE 'maas_%'",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(owners, ["maas"]);
}

#[test]
fn a_head_read_after_the_connection_broke_is_the_journals_own() {
    let Some(pg) = pg_support::start() else {
        return;
    };
    let mut j = PostgresJournal::connect(&pg.url).unwrap();
    for (seq, data) in [(0, "one"), (1, "two"), (2, "three")] {
        assert_eq!(j.append(seq, data.as_bytes(), true), Ok(seq + 1));
    }
    // A row put in by hand far past the head is seen, then removed.
    let mut admin = as_role(&pg, "maas", "postgres");
    admin
        .batch_execute(
            "INSERT INTO maas_journal SELECT log, 10, data, sum FROM maas_journal WHERE seq = 3",
        )
        .unwrap();
    assert_eq!(j.head(), Ok(10));
    admin
        .batch_execute("DELETE FROM maas_journal WHERE seq = 10")
        .unwrap();
    drop(admin);
    // The server restarts under the idle connection: the next head is read again on a
    // new one, not the one read before.
    pg.kill();
    pg.restart();
    assert_eq!(j.head(), Ok(3));
}

/// `maas --store STORE stats` in a fresh data directory: whether it succeeded, and its
/// standard error.
fn maas_stats(dir: &str, store: &str) -> (bool, String) {
    let dir = proc_support::data_dir(dir);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_maas"))
        .arg("--data-dir")
        .arg(&dir)
        .args(["--store", store, "stats"])
        .env_remove("MAAS_STORE")
        .env_remove("MAAS_HOME")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn an_unchecked_connection_to_another_machine_is_warned_of_at_start() {
    let (_, err) = maas_stats(
        "pg-tls-warning",
        "postgres://maas:S3cretPW@192.0.2.1:5432/maas?connect_timeout=1",
    );
    assert!(err.contains("WARNING"), "{err}");
    assert!(
        err.contains("192.0.2.1") && err.contains("sslmode=prefer"),
        "{err}"
    );
    assert!(err.contains("sslmode=verify-full"), "{err}");
    assert!(!err.contains("S3cretPW"), "{err}");

    let Some(pg) = pg_support::start() else {
        return;
    };
    let (ok, err) = maas_stats("pg-tls-local", &pg.url);
    assert!(ok, "{err}");
    assert!(!err.contains("WARNING"), "loopback is not warned of: {err}");
}

#[test]
fn a_mistyped_store_never_shows_its_password_and_the_key_value_form_works() {
    let (ok, err) = maas_stats("pg-typo", "postgress://maas:S3cretPW@db.internal/maas");
    assert!(!ok);
    assert!(err.contains("unknown store"), "{err}");
    assert!(!err.contains("S3cretPW"), "{err}");
    for (name, store) in [
        ("pg-typo-kv", "user=maas password=S3cretPW hots=db.internal"),
        ("pg-typo-q", "postgress://maas:S3c?retPW@db/maas"),
        ("pg-typo-sp", "postgress://maas:S3c retPW@db/maas"),
        ("pg-typo-kv-sp", "user=maas password = S3cretPW hots=db"),
    ] {
        let (ok, err) = maas_stats(name, store);
        assert!(!ok);
        assert!(
            !err.contains("S3c") && !err.contains("retPW"),
            "{store}: {err}"
        );
    }

    let Some(pg) = pg_support::start() else {
        return;
    };
    let (ok, err) = maas_stats(
        "pg-key-value",
        &format!(
            "user=maas password=S3cretPW host=127.0.0.1 port={} dbname=postgres sslmode=disable",
            pg.port
        ),
    );
    assert!(ok, "{err}");
    assert!(!err.contains("S3cretPW"), "{err}");
}

#[test]
fn a_change_whose_notification_cannot_be_sent_is_still_reported_saved() {
    let Some(pg) = pg_support::start() else {
        return;
    };
    let mut admin = as_role(&pg, "maas", "postgres");
    admin.batch_execute("CREATE ROLE plain LOGIN").unwrap();
    admin
        .batch_execute("CREATE DATABASE plains OWNER plain")
        .unwrap();
    // The notification fails after the commit, as it does when another role keeps the
    // notification queue full with a transaction left open.
    as_role(&pg, "maas", "plains")
        .batch_execute("REVOKE EXECUTE ON FUNCTION pg_catalog.pg_notify(text, text) FROM PUBLIC")
        .unwrap();
    let url = format!(
        "postgres://plain@127.0.0.1:{}/plains?sslmode=disable",
        pg.port
    );
    let mut journal = PostgresJournal::connect(&url).unwrap();
    assert_eq!(journal.append(0, b"saved", true), Ok(1));
    assert_eq!(journal.append(1, b"saved too", true), Ok(2));
    let mut other = PostgresJournal::connect(&url).unwrap();
    assert_eq!(other.head(), Ok(2));
}
