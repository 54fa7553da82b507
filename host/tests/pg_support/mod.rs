//! A throw-away PostgreSQL server on loopback for the tests: the server binaries from
//! Debian's packages (`/usr/lib/postgresql/*/bin`, or `$MAAS_PG_BIN`), `initdb` into a
//! temporary directory, its own port and socket directory; stopped and removed on drop.
//! Nothing touches a system cluster. When no binaries are found, [`start`] prints why and
//! returns `None`, and the test returns early (`scripts/test` installs them where it
//! can).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// A running server.
pub struct Pg {
    /// `postgres://maas@127.0.0.1:PORT/postgres`.
    pub url: String,
    /// Its port.
    pub port: u16,
    dir: PathBuf,
    bin: PathBuf,
    /// The user the server runs as when the tests run as root (initdb refuses root).
    run_as: Option<String>,
    /// It serves TLS with `server.crt` (naming `localhost`, signed by [`Pg::ca`]).
    tls: bool,
}

/// The directory holding `initdb`, `pg_ctl` and `postgres`.
fn bin_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("MAAS_PG_BIN") {
        return Some(PathBuf::from(dir));
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|b| b.join("initdb").exists() && b.join("postgres").exists())
        .collect();
    found.sort_by_key(|p| {
        p.parent()
            .and_then(Path::file_name)
            .and_then(|n| n.to_str())
            .and_then(|n| n.parse::<u32>().ok())
            .unwrap_or(0)
    });
    found.pop()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Pg {
    fn run(&self, tool: &str, args: &[&str]) -> std::process::Output {
        let exe = self.bin.join(tool);
        let mut cmd = match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(&exe);
                c
            }
            None => Command::new(&exe),
        };
        cmd.args(args).output().expect("runs a PostgreSQL tool")
    }

    /// Stops the server at once (as a crash would), keeping its files.
    pub fn kill(&self) {
        let data = self.dir.join("data");
        let _ = self.run(
            "pg_ctl",
            &["-D", data.to_str().unwrap(), "-m", "immediate", "stop"],
        );
    }

    /// Starts it again on the same port after [`Pg::kill`].
    pub fn restart(&self) {
        if let Err(why) = self.start_server() {
            panic!("{why}");
        }
    }

    /// Starts the server on its port, or says why it did not start.
    fn start_server(&self) -> Result<(), String> {
        let data = self.dir.join("data");
        let sock = self.dir.join("sock");
        let mut opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
            self.port,
            sock.display()
        );
        if self.tls {
            opts.push_str(" -c ssl=on -c ssl_cert_file=server.crt -c ssl_key_file=server.key");
        }
        let out = self.run(
            "pg_ctl",
            &[
                "-D",
                data.to_str().unwrap(),
                "-l",
                self.dir.join("log").to_str().unwrap(),
                "-o",
                &opts,
                "-w",
                "start",
            ],
        );
        if out.status.success() {
            return Ok(());
        }
        Err(format!(
            "pg_ctl start: {}{}",
            String::from_utf8_lossy(&out.stdout),
            std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
        ))
    }
}

/// Starts a fresh server, or says why it cannot and returns `None`.
pub fn start() -> Option<Pg> {
    start_with(false)
}

/// Runs `openssl` with `args` in `dir`.
fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("runs openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A new P-256 key in `dir`/`key` and, for subject `/CN=NAME`, a self-signed
/// certificate (`self_signed`) or a signing request, in `dir`/`out`.
fn new_key(dir: &Path, self_signed: bool, name: &str, key: &str, out: &str) {
    let subject = format!("/CN={name}");
    let mut args = vec!["req"];
    if self_signed {
        args.extend(["-x509", "-days", "2"]);
    }
    args.extend([
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        key,
        "-out",
        out,
        "-subj",
        &subject,
    ]);
    openssl(dir, &args);
}

/// Makes a CA in `dir` (`NAME.pem`, `NAME.key`).
pub fn make_ca(dir: &Path, name: &str) -> PathBuf {
    let pem = format!("{name}.pem");
    new_key(dir, true, name, &format!("{name}.key"), &pem);
    dir.join(pem)
}

/// Starts a fresh server that serves TLS with a certificate naming `localhost`, signed
/// by its own CA ([`Pg::ca`]); `None` as [`start`].
pub fn start_tls() -> Option<Pg> {
    if Command::new("openssl").arg("version").output().is_err() {
        eprintln!("skipped: no openssl to make the test certificates");
        return None;
    }
    start_with(true)
}

/// A directory no other server of this or an earlier run uses, made now: named by a
/// count within the process (a free port as the name let two tests running at once take
/// the same one, and `initdb` refused the second: "exists but is not empty").
fn fresh_dir() -> std::path::PathBuf {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    for _ in 0..10_000 {
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("maas-pg-{}-{n}", std::process::id()));
        if std::fs::create_dir(&dir).is_ok() {
            return dir;
        }
    }
    panic!(
        "no fresh directory for a PostgreSQL server under {:?}",
        std::env::temp_dir()
    );
}

fn start_with(tls: bool) -> Option<Pg> {
    let Some(bin) = bin_dir() else {
        eprintln!(
            "skipped: no PostgreSQL server binaries (install Debian's postgresql package, \
             or set MAAS_PG_BIN to the directory holding initdb)"
        );
        return None;
    };
    let run_as = is_root().then(|| "postgres".to_string());
    let dir = fresh_dir();
    std::fs::create_dir_all(dir.join("sock")).unwrap();
    if let Some(user) = &run_as {
        let owned = Command::new("chown")
            .args(["-R", &format!("{user}:"), dir.to_str().unwrap()])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !owned {
            eprintln!("skipped: running as root and cannot hand {dir:?} to user {user}");
            return None;
        }
    }
    let mut pg = Pg {
        url: String::new(),
        port: free_port(),
        dir,
        bin,
        run_as: run_as.clone(),
        tls,
    };
    let data = pg.dir.join("data");
    let out = pg.run(
        "initdb",
        &[
            "-D",
            data.to_str().unwrap(),
            "-U",
            "maas",
            "-A",
            "trust",
            "--no-sync",
            "-E",
            "UTF8",
        ],
    );
    assert!(
        out.status.success(),
        "initdb: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    if tls {
        let dir = &pg.dir;
        make_ca(dir, "ca");
        new_key(dir, false, "localhost", "data/server.key", "server.csr");
        std::fs::write(dir.join("san.ext"), "subjectAltName=DNS:localhost\n").unwrap();
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "data/server.crt",
                "-days",
                "2",
                "-extfile",
                "san.ext",
            ],
        );
        if let Some(user) = &run_as {
            for f in ["data/server.key", "data/server.crt"] {
                Command::new("chown")
                    .args([&format!("{user}:"), dir.join(f).to_str().unwrap()])
                    .status()
                    .unwrap();
            }
        }
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            dir.join("data/server.key"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
    }
    // A port found free may be taken before the server binds it (by another test's
    // listener or a connection's local port): start again on another, a few times.
    for attempt in 1.. {
        match pg.start_server() {
            Ok(()) => break,
            Err(why) if attempt < 5 && why.contains("Address already in use") => {
                pg.port = free_port();
            }
            Err(why) => panic!("{why}"),
        }
    }
    pg.url = format!("postgres://maas@127.0.0.1:{}/postgres", pg.port);
    Some(pg)
}

impl Pg {
    /// The CA that signed the server's certificate (a TLS server only).
    pub fn ca(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// A directory for the test's own files, removed with the server.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        if self.url.is_empty() {
            return;
        }
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A core on its own connection to `url`, as one `maas serve` host has.
pub fn host(url: &str) -> maas_host::service::CoreService {
    host_with(url, maas_host::journal::postgres::Bounds::default())
}

/// [`host`] with the connection's and each call's bound.
pub fn host_with(
    url: &str,
    bounds: maas_host::journal::postgres::Bounds,
) -> maas_host::service::CoreService {
    use maas_host::journal::PostgresJournal;
    use maas_host::{CoreImage, Runtime, RuntimeOptions, types};
    let url = url.to_string();
    maas_host::service::CoreService::spawn(move || {
        let journal = PostgresJournal::connect_with(&url, bounds)
            .map_err(|e| types::Error::Unavailable(e.to_string()))?;
        Runtime::new(
            CoreImage::shared()?,
            Box::new(journal),
            RuntimeOptions {
                group_commit: true,
                ..RuntimeOptions::default()
            },
        )
    })
    .unwrap()
}
