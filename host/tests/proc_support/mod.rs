//! Shared by the tests that run the built `maas` binary as separate processes: a
//! `maas serve` that can be killed and restarted on its data directory, `maas mcp`
//! over stdio, real rmcp clients whose failures are values, and a seeded generator.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

pub mod ledger;
#[path = "../mcp_support/mod.rs"]
pub mod mcp_support;

use mcp_support::body;
use rmcp::model::CallToolRequestParams;
use rmcp::service::RunningService;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{RoleClient, ServiceExt};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A connected MCP client.
pub type Client = RunningService<RoleClient, ()>;

/// How long one call may take before its outcome counts as unknown. Not an assertion:
/// a call that outlives it is only treated like one cut off by a kill.
pub const CALL_PATIENCE: Duration = Duration::from_secs(20);

/// A fresh, empty directory for one test's data.
pub fn data_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("maas-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A `maas` command on `dir`, with nothing inherited that would change who it acts as.
pub fn maas(dir: &Path) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_maas"));
    cmd.arg("--data-dir").arg(dir);
    cmd.env_remove("MAAS_TOKEN")
        .env_remove("MAAS_HOME")
        .env_remove("MAAS_STORE");
    cmd
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A running `maas serve` process.
pub struct ServeProcess {
    child: tokio::process::Child,
    /// `http://127.0.0.1:port/mcp`.
    pub url: String,
}

fn spawn_serve(dir: &Path, n: usize, port: u16) -> tokio::process::Child {
    spawn_serve_env(dir, n, port, &Setup::default())
}

/// What a `maas serve` is started with besides its data directory.
#[derive(Debug, Clone, Default)]
pub struct Setup {
    /// Environment variables (e.g. `MAAS_STORE`).
    pub env: Vec<(String, String)>,
    /// Global options given before `serve` (e.g. `--limit members-per-pool=4`).
    pub global: Vec<String>,
    /// Options of `serve` itself (e.g. `--snapshot-every 50`).
    pub serve: Vec<String>,
}

fn spawn_serve_env(dir: &Path, n: usize, port: u16, setup: &Setup) -> tokio::process::Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(format!("serve-{n}.log")))
        .unwrap();
    maas(dir)
        .envs(setup.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .args(&setup.global)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(&setup.serve)
        // The races send up to 50 of one agent's calls to a host at once, above an
        // agent's default share of 32 in flight, which they do not test.
        .args(["--max-in-flight-per-agent", "64"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

impl ServeProcess {
    /// Starts `maas serve` on `dir` and waits until `/healthz` answers. Its stderr goes
    /// to `serve-<n>.log` in the data directory.
    pub async fn start(dir: &Path, n: usize) -> ServeProcess {
        Self::start_env(dir, n, &[]).await
    }

    /// [`ServeProcess::start`] with more environment variables (e.g. `MAAS_STORE`).
    pub async fn start_env(dir: &Path, n: usize, env: &[(&str, &str)]) -> ServeProcess {
        let setup = Setup {
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Setup::default()
        };
        Self::start_with(dir, n, &setup).await
    }

    /// [`ServeProcess::start`] with `setup`.
    pub async fn start_with(dir: &Path, n: usize, setup: &Setup) -> ServeProcess {
        for _attempt in 0..20 {
            // Another process may take the port between choosing and binding it.
            if let Some(server) = Self::launch(dir, n, free_port(), setup).await {
                return server;
            }
        }
        panic!("maas serve did not start");
    }

    /// Starts `maas serve` on `dir` listening on `port`, as a restarted service would,
    /// and waits until `/healthz` answers.
    pub async fn start_on(dir: &Path, n: usize, port: u16) -> ServeProcess {
        Self::start_on_with(dir, n, port, &Setup::default()).await
    }

    /// [`ServeProcess::start_on`] with `setup`.
    pub async fn start_on_with(dir: &Path, n: usize, port: u16, setup: &Setup) -> ServeProcess {
        match Self::launch(dir, n, port, setup).await {
            Some(server) => server,
            None => panic!("maas serve did not start on port {port}"),
        }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        let authority = self.url.trim_start_matches("http://");
        let authority = authority.split('/').next().unwrap();
        authority.rsplit(':').next().unwrap().parse().unwrap()
    }

    /// Spawns `maas serve` on `port` and waits until it answers, or `None` if it exits
    /// first (the port was taken).
    async fn launch(dir: &Path, n: usize, port: u16, setup: &Setup) -> Option<ServeProcess> {
        let http = reqwest::Client::new();
        let mut child = spawn_serve_env(dir, n, port, setup);
        let health = format!("http://127.0.0.1:{port}/healthz");
        let since = std::time::Instant::now();
        loop {
            // A liveness bound, far beyond any normal start (about 0.1 s).
            assert!(
                since.elapsed() < Duration::from_secs(120),
                "maas serve never answered"
            );
            if let Ok(Some(status)) = child.try_wait() {
                let log = std::fs::read_to_string(dir.join(format!("serve-{n}.log")));
                eprintln!("maas serve exited early ({status}): {log:?}");
                return None;
            }
            if let Ok(r) = http.get(&health).send().await
                && r.status().is_success()
            {
                return Some(ServeProcess {
                    child,
                    url: format!("http://127.0.0.1:{port}/mcp"),
                });
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Starts `maas serve` on `dir` and kills it with SIGKILL `after` that long, whether
    /// it is still opening the journal or already serving.
    pub async fn start_and_kill(dir: &Path, n: usize, after: Duration) {
        let mut child = spawn_serve(dir, n, free_port());
        tokio::time::sleep(after).await;
        child.kill().await.unwrap();
    }

    /// Kills the process with SIGKILL, at whatever it is doing, and reaps it.
    pub async fn kill9(mut self) {
        self.child.kill().await.unwrap();
    }

    /// Stops the process with SIGTERM, as a service manager would, and waits until it
    /// has exited; or, given `impatience`, kills it with SIGKILL that long after the
    /// SIGTERM if it is still shutting down (perhaps while saving its snapshot).
    pub async fn terminate(mut self, impatience: Option<Duration>) {
        let pid = self.child.id().unwrap().to_string();
        let sent = tokio::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .await
            .unwrap();
        assert!(sent.success());
        let patience = impatience.unwrap_or(Duration::from_secs(60));
        match tokio::time::timeout(patience, self.child.wait()).await {
            Ok(status) => assert!(status.unwrap().success(), "maas serve failed to stop"),
            Err(_) if impatience.is_some() => self.child.kill().await.unwrap(),
            Err(_) => panic!("maas serve did not stop on SIGTERM"),
        }
    }
}

/// Connects a real rmcp Streamable HTTP client with a bearer token, otherwise configured
/// as rmcp's defaults are, as users' clients are. A call cut off by a kill fails, and
/// the caller finds out on the next server what became of it.
pub async fn connect_http(url: &str, token: &str) -> Result<Client, String> {
    let config = StreamableHttpClientTransportConfig::with_uri(url.to_string())
        .auth_header(token.to_string());
    let transport = StreamableHttpClientTransport::from_config(config);
    match tokio::time::timeout(CALL_PATIENCE, ().serve(transport)).await {
        Ok(Ok(client)) => Ok(client),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("connecting took too long".into()),
    }
}

/// Spawns `maas mcp` on `dir` (the operator, or the agent of `token`) and connects to it.
pub async fn spawn_stdio(dir: &Path, token: Option<&str>) -> Client {
    spawn_stdio_with_pid(dir, token).await.0
}

/// Spawns `maas mcp` like [`spawn_stdio`], also returning the process id.
pub async fn spawn_stdio_with_pid(dir: &Path, token: Option<&str>) -> (Client, u32) {
    let mut cmd = maas(dir);
    cmd.arg("mcp");
    if let Some(t) = token {
        cmd.arg("--token").arg(t);
    }
    let transport = TokioChildProcess::new(cmd).unwrap();
    let pid = transport.id().unwrap();
    let client = ().serve(transport).await.expect("stdio client connects");
    (client, pid)
}

/// Sends SIGKILL to a process.
pub async fn kill9_pid(pid: u32) {
    let sent = tokio::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .await
        .unwrap();
    assert!(sent.success());
}

/// What became of a tool call.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// It succeeded, with this body.
    Done(Value),
    /// The core refused it with a domain error of this code (not `unavailable`).
    Refused(String, Value),
    /// Nobody can tell: the connection broke, the call took too long, or the core was
    /// unavailable. The change may or may not have happened.
    Unknown(String),
}

/// Calls a tool with JSON arguments; every failure is a value.
pub async fn try_call(client: &Client, tool: &str, args: Value) -> Outcome {
    let args = match args {
        Value::Object(m) => m,
        _ => serde_json::Map::new(),
    };
    let request = CallToolRequestParams::new(tool.to_string()).with_arguments(args);
    let result = match tokio::time::timeout(CALL_PATIENCE, client.call_tool(request)).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => return Outcome::Unknown(format!("{tool}: {e}")),
        Err(_) => return Outcome::Unknown(format!("{tool}: no answer in time")),
    };
    let body = body(&result);
    if !result.is_error.unwrap_or(false) {
        return Outcome::Done(body);
    }
    let code = body["code"].as_str().unwrap_or("").to_string();
    if code == "unavailable" {
        return Outcome::Unknown(format!("{tool}: {body}"));
    }
    Outcome::Refused(code, body)
}

/// Calls a tool that must succeed.
pub async fn ok(client: &Client, tool: &str, args: Value) -> Value {
    match try_call(client, tool, args).await {
        Outcome::Done(v) => v,
        other => panic!("{tool} failed: {other:?}"),
    }
}

/// A small xorshift generator: reproducible from its seed, no dependency.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed` (zero is replaced, xorshift cannot leave it).
    pub fn new(seed: u64) -> Self {
        Rng(if seed == 0 {
            0x9e37_79b9_7f4a_7c15
        } else {
            seed
        })
    }

    /// The seed from `MAAS_TEST_SEED`, else from the clock; printed so a failure can be
    /// replayed.
    pub fn seed(test: &str) -> u64 {
        let seed = std::env::var("MAAS_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(1)
            });
        eprintln!("{test}: seed {seed} (set MAAS_TEST_SEED={seed} to replay)");
        seed
    }

    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A number in `lo..hi` (`lo` when the range is empty).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            return lo;
        }
        lo + self.next() % (hi - lo)
    }
}

/// The live server's generation and address, `None` while it is down or not yet open to
/// clients.
pub type Published = tokio::sync::watch::Receiver<Option<(usize, String)>>;

/// A client connection that follows the server across restarts: it connects to whatever
/// server is published, and drops its connection when a call's outcome is unknown.
pub struct Follower {
    token: String,
    published: Published,
    client: Option<(usize, Client)>,
}

impl Follower {
    /// A follower that will connect with `token`.
    pub fn new(token: &str, published: Published) -> Self {
        Follower {
            token: token.to_string(),
            published,
            client: None,
        }
    }

    /// The generation of the server the last call was answered by (`None` after a call
    /// whose outcome is unknown).
    pub fn generation(&self) -> Option<usize> {
        self.client.as_ref().map(|(g, _)| *g)
    }

    /// Calls a tool on the current server, waiting for one to be published if need be.
    pub async fn call(&mut self, tool: &str, args: Value) -> Outcome {
        let (mut waits, mut refusals) = (0, 0);
        loop {
            let current = self.published.borrow_and_update().clone();
            if let Some((generation, url)) = current {
                if matches!(&self.client, Some((g, _)) if *g == generation) {
                    break;
                }
                self.client = None;
                match connect_http(&url, &self.token).await {
                    Ok(c) => {
                        self.client = Some((generation, c));
                        break;
                    }
                    // A server is published only once it answers, so this is either a
                    // kill right after publication or a server refusing the token.
                    Err(e) => {
                        refusals += 1;
                        assert!(refusals < 20, "cannot connect to {url}: {e}");
                    }
                }
            }
            waits += 1;
            assert!(waits < 1000, "no server to connect to");
            // Down or restarting: wake on the next one, or retry a moment later.
            let wait = Duration::from_millis(100);
            let _ = tokio::time::timeout(wait, self.published.changed()).await;
        }
        let (_, client) = self.client.as_ref().unwrap();
        let outcome = try_call(client, tool, args).await;
        if matches!(outcome, Outcome::Unknown(_)) {
            self.client = None;
        }
        outcome
    }
}
