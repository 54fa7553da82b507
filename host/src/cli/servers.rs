//! The long-running commands: `maas mcp` (stdio), `maas serve` (Streamable HTTP) and
//! `maas bench`.

use super::CliError;
use crate::bench::{corpus, suite};
use crate::bindings::{admin, types};
use crate::datadir;
use crate::mcp::http::{HttpOptions, SessionLimits, bind};
use crate::mcp::revoke::Recheck;
use crate::mcp::{Principal, serve_stdio};
use crate::operator;
use crate::runtime::RuntimeOptions;
use crate::service::CoreService;
use clap::{Args, Subcommand};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use tokio_util::sync::CancellationToken;

/// `--listen`: an IP address and port; `localhost:PORT` is 127.0.0.1 (no name lookup).
fn listen_address(text: &str) -> Result<SocketAddr, String> {
    if let Ok(address) = text.parse() {
        return Ok(address);
    }
    match text.strip_prefix("localhost:").map(str::parse::<u16>) {
        Some(Ok(port)) => Ok(SocketAddr::from(([127, 0, 0, 1], port))),
        _ => Err(
            "expected an IP address and a port, e.g. 127.0.0.1:7420, localhost:7420, or \
             0.0.0.0:7420 with --allowed-host"
                .into(),
        ),
    }
}

/// Where a server saves the snapshots that fall due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SnapshotsAt {
    /// A second instance of the core, started for each save on a thread of its own, saves
    /// it while calls go on; it costs a second copy of the state (without search indexes)
    /// while it saves.
    Beside,
    /// The core serving calls saves it between calls: no second copy of the state, but
    /// every call waits while it is encoded (about 2 s at a million memories).
    InCore,
}

/// Options every server takes.
#[derive(Debug, Clone, Args)]
pub struct CoreArgs {
    /// Where the snapshots that fall due are saved: beside the core serving calls, or by
    /// it (less memory, calls wait while one is saved).
    #[arg(long, value_enum, default_value_t = SnapshotsAt::Beside)]
    pub snapshots: SnapshotsAt,
    /// Save a snapshot every this many journal entries, or every tenth of the journal's
    /// length when that is more (a start restores the newest and replays what follows).
    #[arg(long, value_name = "ENTRIES", default_value_t = crate::runtime::DEFAULT_SNAPSHOT_EVERY,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub snapshot_every: u64,
}

/// Options of `maas serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Options every server takes.
    #[command(flatten)]
    pub core: CoreArgs,
    /// The address to listen on: an IP address and port, or `localhost:PORT`.
    #[arg(long, default_value = "127.0.0.1:7420", value_parser = listen_address)]
    pub listen: SocketAddr,
    /// Treat requests without a token as the operator (loopback addresses only; demos).
    #[arg(long)]
    pub insecure_loopback: bool,
    /// A Host name (or host:port) clients use to reach this server, besides localhost,
    /// 127.0.0.1 and ::1; repeatable. Required with a non-loopback --listen.
    #[arg(long = "allowed-host", value_name = "NAME")]
    pub allowed_hosts: Vec<String>,
    /// A browser origin allowed to call, besides loopback ones and those of the
    /// --allowed-host names, e.g. https://app.example.com or http://host:* (any port);
    /// repeatable.
    #[arg(long = "allowed-origin", value_name = "ORIGIN")]
    pub allowed_origins: Vec<String>,
    /// Serve HTTPS: the server's certificate chain, PEM (its own certificate first, then
    /// any intermediates). Needs --tls-key. Without it the server speaks plain HTTP, in
    /// which tokens cross the network readable.
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert, PEM (PKCS#8, PKCS#1 or SEC1). Both files are read
    /// again every 10 s: a renewed pair is served from the next handshake.
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Open MCP sessions allowed per principal (the operator or one agent).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_sessions_per_principal: u32,
    /// Open MCP sessions (and, apart, change-feed streams) allowed to the agents of one
    /// owner together (the operator is not counted), so one owner's agents cannot take
    /// every place.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_sessions_per_owner: u32,
    /// Open MCP sessions allowed in total.
    #[arg(long, default_value_t = 4096, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_sessions: u32,
    /// Requests one agent may have in flight at once (MCP with or without a session,
    /// A2A); beyond, a request is refused with error -32029 after a second (the operator
    /// is not limited).
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_in_flight_per_agent: u32,
    /// Connections one client address may hold open at once (loopback addresses, which
    /// every local client shares, are not limited); beyond, a connection is answered 429
    /// and closed.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections_per_address: u32,
    /// Minutes after which an MCP session with no traffic is closed.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=10_080))]
    pub session_idle_minutes: u64,
    /// Serve MCP without sessions: every request stands alone, so hosts behind a load
    /// balancer need no sticky sessions. Server-to-client streams outside a request
    /// (resource-update notifications on a session's GET stream) are then not offered;
    /// clients follow changes with wait_for_changes or GET /v1/changes.
    #[arg(long)]
    pub stateless: bool,
}

/// Options of `maas bench`.
#[derive(Debug, Clone, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct BenchArgs {
    /// Generate a synthetic history instead of measuring.
    #[command(subcommand)]
    pub command: Option<BenchCommand>,
    /// Everything BENCHMARKS.md holds at small sizes (under a minute, even in a debug
    /// build): writes BENCHMARKS.md and benchmarks.json to --out.
    #[arg(long, conflicts_with = "full")]
    pub quick: bool,
    /// Everything at full size (build with --release): 10k, 100k and 1M memories,
    /// 100,000 documents; writes BENCHMARKS.md and benchmarks.json to --out.
    #[arg(long)]
    pub full: bool,
    /// Where --quick/--full write their files (default: the repository root when run
    /// inside it, else the current directory).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// History sizes (memories) for --quick/--full, e.g. 10000,100000,1000000.
    #[arg(long, value_delimiter = ',')]
    pub sizes: Option<Vec<u64>>,
    /// Knowledge documents for --quick/--full (default 5,000 quick, 100,000 full).
    #[arg(long)]
    pub documents: Option<usize>,
    /// Seed of the generated histories.
    #[arg(long, default_value_t = corpus::DEFAULT_SEED)]
    pub seed: u64,
    /// Batches per measurement; the median batch is reported.
    #[arg(long, default_value_t = 15)]
    pub rounds: usize,
    /// Durable writes to time on a SQLite journal in the data directory (0 to skip).
    #[arg(long, default_value_t = 300)]
    pub writes: usize,
    /// Also measure durability: concurrent durable writers and start-up against history.
    #[arg(long)]
    pub durable: bool,
    /// Concurrent writer counts for --durable, --quick and --full.
    #[arg(long, value_delimiter = ',', default_value = "1,4,16,64")]
    pub writers: Vec<usize>,
    /// Seconds each writer count runs for --durable and --full (--quick: 0.5).
    #[arg(long, default_value_t = 2.0)]
    pub seconds: f64,
    /// History lengths (entries) whose start-up --durable times; empty to skip.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "10000,50000,100000,200000"
    )]
    pub history: Vec<u64>,
}

/// `maas bench` subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum BenchCommand {
    /// Write a seeded synthetic history in the format of `maas export` (load it with
    /// `maas import`): 100 agents of 10 owners, 10 pools, Zipf-worded memories, 30%
    /// with a code identifier or path, half shared into pools at mixed scopes.
    Generate {
        /// Memories to generate.
        #[arg(long, default_value_t = 10_000)]
        memories: u64,
        /// The file to write; `-` is stdout.
        #[arg(long)]
        out: PathBuf,
        /// Seed (the same seed gives the same bytes).
        #[arg(long, default_value_t = corpus::DEFAULT_SEED)]
        seed: u64,
    },
}

fn tokio() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::io(format!("cannot start the async runtime: {e}"), "retry"))
}

/// The core thread over the data directory's journal, with group commit and snapshots
/// saved where `args` says.
fn core(dir: &Path, limits: admin::Limits, args: &CoreArgs) -> Result<CoreService, CliError> {
    datadir::ensure(dir)?;
    let options = runtime_options(dir, limits, args);
    let dir = dir.to_path_buf();
    let service = CoreService::spawn(move || {
        datadir::open_with(&dir, options).map_err(|e| match e {
            // Already a core error: passed on as it is, not named unavailable twice.
            CliError::Domain { error, .. } => error,
            other => types::Error::Unavailable(other.message()),
        })
    })?;
    datadir::follow_other_hosts(&service)?;
    Ok(service)
}

/// How a server's core runs: group commit, progress on a terminal, snapshots where
/// `args` says.
fn runtime_options(dir: &Path, limits: admin::Limits, args: &CoreArgs) -> RuntimeOptions {
    RuntimeOptions {
        limits,
        group_commit: true,
        progress: true,
        snapshots_beside: match args.snapshots {
            SnapshotsAt::Beside => Some(datadir::journal_opener(dir)),
            SnapshotsAt::InCore => None,
        },
        snapshot_every: args.snapshot_every,
        ..RuntimeOptions::default()
    }
}

/// After a clean stop: the last changes are synced and a snapshot saved, so the next
/// start reads no journal tail.
fn shut_down(core: &CoreService) {
    if let Err(e) = core.call_blocking(|rt| rt.shutdown()) {
        eprintln!(
            "maas: could not save a snapshot on shutdown: {}",
            e.message()
        );
    }
}

/// Cancels `stop` on Ctrl-C or SIGTERM.
async fn stop_on_signal(stop: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(_) => {
                    let _ = ctrl_c.await;
                    stop.cancel();
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    stop.cancel();
}

/// `maas mcp`: MCP over stdio, as the operator or as the agent of `token`.
pub fn mcp(
    dir: &Path,
    limits: admin::Limits,
    token: Option<&str>,
    args: &CoreArgs,
) -> Result<(), CliError> {
    let core = core(dir, limits, args)?;
    let principal = match token {
        None => Principal::Operator,
        Some(t) => {
            let t = t.to_string();
            let id = core
                .call_blocking(move |rt| {
                    rt.call(|c, s| c.maas_core_agents().call_authenticate(s, &t))
                })
                .map_err(|e| {
                    CliError::from(e)
                        .with_hint("--token (or MAAS_TOKEN) must be the token of an active agent")
                })?;
            Principal::Agent(id)
        }
    };
    eprintln!("maas: serving MCP on stdio as {}", describe(&principal));
    // The token hashed once: each call first checks that it still authenticates, so one
    // made after a rotation is refused, and the server stops once it no longer does.
    let digest = token.and_then(crate::known_tokens::digest);
    let hash = digest.map(|d| maas_core::audit::hex(&d));
    let recheck = match (digest, &principal) {
        (Some(digest), Principal::Agent(id)) => Recheck::agent(digest, id.clone()),
        _ => Recheck::Nothing,
    };
    let runtime = tokio()?;
    let served = runtime.block_on(async {
        let serve = serve_stdio(core.clone(), principal, recheck);
        let Some(hash) = hash else {
            return serve.await.map_err(stdio_failed);
        };
        tokio::pin!(serve);
        tokio::select! {
            served = &mut serve => served.map_err(stdio_failed),
            () = until_revoked(&core, hash) => {
                // An answer on its way out goes first: `rotate_token`'s own new token,
                // when the agent rotated itself.
                let _ = tokio::time::timeout(std::time::Duration::from_secs(1), &mut serve).await;
                Err(CliError::from(types::Error::PermissionDenied(
                    "the token no longer authenticates (it was rotated, or its agent \
                     deactivated or unregistered): stopped serving"
                        .into(),
                ))
                .with_hint("start `maas mcp` again with the agent's current token"))
            }
        }
    });
    // The read of stdin blocks a thread of its own until a line or the end comes: a
    // server stopped by a revoked token does not wait for it.
    runtime.shutdown_background();
    shut_down(&core);
    served
}

fn stdio_failed(e: anyhow::Error) -> CliError {
    CliError::io(
        format!("the MCP stdio session failed: {e}"),
        "check the client",
    )
}

/// Returns once the token hashed to `hash` no longer authenticates, checked every two
/// seconds as `maas serve` checks its sessions' tokens (a check the core cannot answer
/// is made again at the next tick).
async fn until_revoked(core: &CoreService, hash: String) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(2));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let answer = crate::mcp::revoke::revoked_of(core, vec![hash.clone()]).await;
        if answer.is_ok_and(|revoked| !revoked.is_empty()) {
            return;
        }
    }
}

fn describe(p: &Principal) -> String {
    match p {
        Principal::Operator => "the operator".to_string(),
        Principal::Agent(id) => format!("agent {id}"),
    }
}

/// What an operator serving on a network should know at start: the URLs clients use
/// (one per `--allowed-host`), a warning when every allowed host is a loopback name (no
/// client elsewhere gets in), and one for each allowed host the certificate (`names`,
/// with HTTPS) does not name (clients reaching it so refuse the certificate).
fn network_notes(
    args: &ServeArgs,
    addr: SocketAddr,
    scheme: &str,
    names: Option<&[String]>,
) -> Vec<String> {
    use crate::mcp::http::{Hosts, is_loopback_host};
    let mut notes = Vec::new();
    if addr.ip().is_loopback() {
        return notes;
    }
    let hosts = Hosts::new(&args.allowed_hosts);
    for (name, port) in hosts.entries() {
        let port = port.unwrap_or(addr.port());
        let name = match name.contains(':') {
            true => format!("[{name}]"),
            false => name.clone(),
        };
        notes.push(format!("clients reach it at {scheme}://{name}:{port}/mcp"));
    }
    if hosts
        .entries()
        .iter()
        .all(|(name, _)| is_loopback_host(name))
    {
        notes.push(
            "warning: every --allowed-host is a loopback name, so a client elsewhere on the \
             network is refused (403): add the name or IP address clients use, e.g. \
             --allowed-host maas.internal"
                .to_string(),
        );
    }
    if let Some(names) = names {
        for (name, _) in hosts.entries().iter().filter(|(n, _)| !is_loopback_host(n)) {
            if !crate::mcp::http::Tls::covers(names, name) {
                notes.push(format!(
                    "warning: the certificate names {}, not {name}: clients reaching the \
                     server as {name} will refuse it",
                    if names.is_empty() {
                        "nothing".to_string()
                    } else {
                        names.join(", ")
                    }
                ));
            }
        }
    }
    notes
}

/// The server's options from the command line.
fn http_options(args: &ServeArgs, token: String) -> HttpOptions {
    let mut options = HttpOptions::new(args.listen, token);
    options.insecure_loopback = args.insecure_loopback;
    options.allowed_hosts = args.allowed_hosts.clone();
    options.allowed_origins = args.allowed_origins.clone();
    options.stateless = args.stateless;
    options.sessions = SessionLimits {
        per_principal: args.max_sessions_per_principal as usize,
        per_owner: args.max_sessions_per_owner as usize,
        total: args.max_sessions as usize,
        idle: std::time::Duration::from_secs(args.session_idle_minutes.saturating_mul(60)),
        in_flight_per_principal: args.max_in_flight_per_agent as usize,
        ..SessionLimits::default()
    };
    options.connections.per_address = args.max_connections_per_address as usize;
    options
}

/// `maas serve`: MCP over Streamable HTTP until Ctrl-C or SIGTERM.
pub fn serve(dir: &Path, limits: admin::Limits, args: &ServeArgs) -> Result<(), CliError> {
    // Flags that cannot work are refused before anything is opened.
    http_options(args, String::new()).check().map_err(|e| {
        CliError::usage(
            e,
            "see `maas serve --help` and the README's HTTP security notes",
        )
    })?;
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(crate::mcp::http::Tls::from_pem_files(cert, key).map_err(
            |e| {
                CliError::usage(
                    e,
                    "give --tls-cert a PEM certificate chain and --tls-key its PEM private key",
                )
            },
        )?),
        _ => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let names = tls.as_ref().map(crate::mcp::http::Tls::names);
    let core = core(dir, limits, &args.core)?;
    let token = operator::load_or_create(dir).map_err(|e| {
        CliError::io(
            format!("cannot read or create the operator token: {e}"),
            "check the data directory",
        )
    })?;
    let rt = tokio()?;
    rt.block_on(async move {
        let stop = CancellationToken::new();
        let mut options = http_options(args, token);
        options.known_tokens = Some(dir.join(crate::datadir::KNOWN_TOKENS_FILE));
        options.operator_token_dir = Some(dir.to_path_buf());
        options.tls = tls;
        let (addr, server) = bind(core.clone(), options, stop.clone())
            .await
            .map_err(|e| {
                let in_use = e.chain().any(|c| {
                    c.downcast_ref::<std::io::Error>()
                        .is_some_and(|io| io.kind() == std::io::ErrorKind::AddrInUse)
                });
                let hint = if in_use {
                    let ip = match args.listen.ip() {
                        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
                        ip => ip.to_string(),
                    };
                    format!(
                        "another process serves on that address (a maas serve already running?); stop it, or pass --listen {ip}:<another port>"
                    )
                } else {
                    "see the message; `maas serve --help` lists the flags".to_string()
                };
                CliError::io(format!("cannot serve on {}: {e}", args.listen), hint)
            })?;
        eprintln!(
            "maas: serving MCP at {scheme}://{addr}/mcp (health: {scheme}://{addr}/healthz)"
        );
        for line in network_notes(args, addr, scheme, names.as_deref()) {
            eprintln!("maas: {line}");
        }
        if scheme == "http" && !addr.ip().is_loopback() {
            eprintln!(
                "maas: warning: plain HTTP on a non-loopback address: tokens cross the network \
                 readable; give --tls-cert and --tls-key, or put a TLS proxy in front"
            );
        }
        eprintln!(
            "maas: operator token in {} — send it as `Authorization: Bearer <token>`",
            operator::token_path(dir).display()
        );
        if args.insecure_loopback {
            eprintln!("maas: --insecure-loopback: requests without a token act as the operator");
        }
        tokio::spawn(stop_on_signal(stop));
        let served = server
            .await
            .map_err(|e| CliError::io(format!("the server failed: {e}"), "see the message"));
        shut_down(&core);
        served
    })
}

/// The repository root when the current directory is inside one, else the current
/// directory.
fn default_out() -> PathBuf {
    let here = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    here.ancestors()
        .find(|d| d.join(".git").exists() && d.join("Cargo.toml").exists())
        .map(Path::to_path_buf)
        .unwrap_or(here)
}

fn bench_failed(e: String) -> CliError {
    CliError::io(format!("the benchmark failed: {e}"), "see the message")
}

/// `maas bench generate`: writes a synthetic history.
fn generate(memories: u64, path: &Path, seed: u64, out: &mut dyn Write) -> Result<(), CliError> {
    let start = std::time::Instant::now();
    let summary = if path.as_os_str() == "-" {
        let mut w = std::io::BufWriter::new(std::io::stdout().lock());
        corpus::generate(seed, memories, &mut w).map(|g| g.summary)
    } else {
        // As `export --output`: never through a link, never another user's file.
        let file = crate::owned::create_named(path).map_err(|e| {
            CliError::io(
                format!("cannot create {}: {e}", path.display()),
                "choose another --out",
            )
        })?;
        let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
        corpus::generate(seed, memories, &mut w).map(|g| g.summary)
    }
    .map_err(bench_failed)?;
    if path.as_os_str() != "-" {
        writeln!(
            out,
            "wrote {} entries ({} memories, {} shared, {} with an identifier or path) to {} in {:.1} s",
            summary.entries,
            summary.memories,
            summary.shared,
            summary.with_identifier,
            path.display(),
            start.elapsed().as_secs_f64()
        )
        .map_err(|e| CliError::io(format!("cannot write the output: {e}"), "check stdout"))?;
    }
    Ok(())
}

/// `maas bench --quick` / `--full`: measures and writes BENCHMARKS.md and benchmarks.json.
fn suite_run(args: &BenchArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let quick = args.quick;
    // A scratch directory no other user could have made first (one named after the
    // process id could be, thousands of them at once, holding links of theirs).
    let work = crate::owned::private_dir(&std::env::temp_dir(), "maas-bench-").map_err(|e| {
        CliError::io(
            format!(
                "cannot make a scratch directory in {}: {e}",
                std::env::temp_dir().display()
            ),
            "set TMPDIR to a directory of yours",
        )
    })?;
    let options = suite::Options {
        mode: if quick { "quick" } else { "full" }.into(),
        sizes: args.sizes.clone().unwrap_or_else(|| {
            if quick {
                vec![10_000]
            } else {
                vec![10_000, 100_000, 1_000_000]
            }
        }),
        documents: args
            .documents
            .unwrap_or(if quick { 5_000 } else { 100_000 }),
        reps: if quick { 20 } else { 50 },
        writers: args.writers.clone(),
        seconds: if quick { 0.5 } else { args.seconds },
        seed: args.seed,
        work,
        maas: std::env::current_exe().map_err(|e| {
            CliError::io(
                format!("cannot find the maas binary: {e}"),
                "run maas by its path",
            )
        })?,
    };
    let report = suite::run(&options).map_err(bench_failed);
    let _ = std::fs::remove_dir_all(&options.work);
    let report = report?;
    let dir = args.out.clone().unwrap_or_else(default_out);
    report
        .write(&dir)
        .map_err(|e| CliError::io(e, "choose another --out"))?;
    out.write_all(report.markdown().as_bytes())
        .and_then(|()| {
            writeln!(
                out,
                "\nwrote {}/BENCHMARKS.md and benchmarks.json",
                dir.display()
            )
        })
        .map_err(|e| CliError::io(format!("cannot write the output: {e}"), "check stdout"))
}

/// `maas bench`: prints the figures.
pub fn bench(dir: &Path, args: &BenchArgs, out: &mut dyn Write) -> Result<(), CliError> {
    if let Some(BenchCommand::Generate {
        memories,
        out: path,
        seed,
    }) = &args.command
    {
        return generate(*memories, path, *seed, out);
    }
    if args.quick || args.full {
        return suite_run(args, out);
    }
    let rounds = args.rounds.max(3);
    let figures = crate::bench::in_memory(rounds)?;
    let mut text = String::from("maas bench (medians of batches; the floor is the empty call)\n\n");
    text.push_str(&crate::bench::report(&figures));
    // The one-writer SQLite figure; with a PostgreSQL store, --durable measures that.
    if args.writes > 0 && datadir::store_url().is_none() {
        datadir::ensure(dir)?;
        let per_second = crate::bench::sqlite_writes(dir, args.writes)?;
        text.push_str(&format!(
            "\ndurable writes (memories.store on SQLite, fsync each, one writer): {per_second:.0}/s\n"
        ));
    }
    if args.durable {
        use crate::bench::durable;
        datadir::ensure(dir)?;
        let duration = std::time::Duration::from_secs_f64(args.seconds.clamp(0.1, 600.0));
        let baseline = durable::one_by_one(dir, duration)?;
        let grouped = args
            .writers
            .iter()
            .map(|&w| durable::grouped(dir, w.clamp(1, 1024), duration))
            .collect::<Result<Vec<_>, _>>()?;
        let starts = durable::start_up(dir, &args.history)?;
        text.push('\n');
        text.push_str(&durable::report(&baseline, &grouped, &starts));
    }
    out.write_all(text.as_bytes())
        .map_err(|e| CliError::io(format!("cannot write the output: {e}"), "check stdout"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::{listen_address, network_notes, runtime_options};
    use crate::cli::{Cli, Command};
    use clap::Parser;

    #[test]
    fn an_operator_serving_on_a_network_is_told_the_urls_and_what_will_be_refused() {
        let notes = |argv: &[&str], names: Option<&[String]>| {
            let cli = Cli::try_parse_from(argv).unwrap();
            let Command::Serve(args) = cli.command else {
                panic!("serve")
            };
            let scheme = if names.is_some() { "https" } else { "http" };
            network_notes(&args, args.listen, scheme, names).join("\n")
        };
        let serve = ["maas", "serve", "--listen", "0.0.0.0:7420"];
        let local = notes(
            &[&serve[..], &["--allowed-host", "localhost"]].concat(),
            None,
        );
        assert!(local.contains("http://localhost:7420/mcp"), "{local}");
        assert!(
            local.contains("every --allowed-host is a loopback name"),
            "{local}"
        );
        let cert = ["localhost".to_string(), "*.internal".to_string()];
        let named = notes(
            &[&serve[..], &["--allowed-host", "maas.internal:8443"]].concat(),
            Some(&cert),
        );
        assert!(named.contains("https://maas.internal:8443/mcp"), "{named}");
        assert!(!named.contains("warning"), "{named}");
        let other = notes(
            &[&serve[..], &["--allowed-host", "maas.example"]].concat(),
            Some(&cert),
        );
        assert!(other.contains("the certificate names localhost, *.internal, not maas.example"));
        // On loopback nothing needs saying.
        assert!(notes(&["maas", "serve"], None).is_empty());
    }

    #[test]
    fn a_wildcard_name_covers_one_label() {
        use crate::mcp::http::Tls;
        let names = ["*.example.com".to_string(), "10.0.0.7".to_string()];
        assert!(Tls::covers(&names, "maas.example.com"));
        assert!(Tls::covers(&names, "MAAS.example.com"));
        assert!(!Tls::covers(&names, "a.b.example.com"));
        assert!(!Tls::covers(&names, "example.com"));
        assert!(Tls::covers(&names, "10.0.0.7"));
        assert!(!Tls::covers(&names, "10.0.0.8"));
    }

    #[test]
    fn servers_save_snapshots_beside_unless_told_to_save_them_in_core() {
        let dir = std::path::Path::new("/nonexistent");
        let cases = [
            (&["maas", "serve"][..], true),
            (&["maas", "serve", "--snapshots", "beside"], true),
            (&["maas", "serve", "--snapshots", "in-core"], false),
            (&["maas", "mcp"], true),
            (&["maas", "mcp", "--snapshots", "in-core"], false),
        ];
        for (line, beside) in cases {
            let args = match Cli::try_parse_from(line).unwrap().command {
                Command::Serve(serve) => serve.core,
                Command::Mcp(core) => core,
                other => panic!("{line:?}: {other:?}"),
            };
            let options = runtime_options(dir, crate::default_limits(), &args);
            assert_eq!(options.snapshots_beside.is_some(), beside, "{line:?}");
            assert!(options.group_commit);
        }
        let err = Cli::try_parse_from(["maas", "serve", "--snapshots", "never"]).unwrap_err();
        assert!(err.to_string().contains("beside, in-core"), "{err}");
    }

    #[test]
    fn listen_takes_an_address_or_localhost_and_a_port() {
        assert_eq!(
            listen_address("127.0.0.1:7420"),
            Ok("127.0.0.1:7420".parse().unwrap())
        );
        assert_eq!(listen_address("[::1]:80"), Ok("[::1]:80".parse().unwrap()));
        assert_eq!(
            listen_address("localhost:9000"),
            Ok("127.0.0.1:9000".parse().unwrap())
        );
        for bad in ["localhost", "localhost:http", "example.com:80", "7420", ""] {
            let err = listen_address(bad).unwrap_err();
            assert!(err.contains("localhost:7420"), "{bad}: {err}");
        }
    }
}
