//! The long-running commands: `maas mcp` (stdio), `maas serve` (Streamable HTTP) and
//! `maas bench`.

use super::CliError;
use crate::bindings::{admin, types};
use crate::datadir;
use crate::mcp::http::{HttpOptions, bind};
use crate::mcp::{Principal, serve_stdio};
use crate::operator;
use crate::runtime::RuntimeOptions;
use crate::service::CoreService;
use clap::Args;
use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use tokio_util::sync::CancellationToken;

/// Options of `maas serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1:7420")]
    pub listen: SocketAddr,
    /// Treat requests without a token as the operator (loopback addresses only; demos).
    #[arg(long)]
    pub insecure_loopback: bool,
}

/// Options of `maas bench`.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Batches per measurement; the median batch is reported.
    #[arg(long, default_value_t = 15)]
    pub rounds: usize,
    /// Durable writes to time on a SQLite journal in the data directory (0 to skip).
    #[arg(long, default_value_t = 300)]
    pub writes: usize,
    /// Also measure durability: concurrent durable writers and start-up against history.
    #[arg(long)]
    pub durable: bool,
    /// Concurrent writer counts for --durable.
    #[arg(long, value_delimiter = ',', default_value = "1,4,16,64")]
    pub writers: Vec<usize>,
    /// Seconds each writer count runs for --durable.
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

fn tokio() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::io(format!("cannot start the async runtime: {e}"), "retry"))
}

/// The core thread over the data directory's journal, with group commit.
fn core(dir: &Path, limits: admin::Limits) -> Result<CoreService, CliError> {
    datadir::ensure(dir)?;
    let dir = dir.to_path_buf();
    let options = RuntimeOptions {
        limits,
        group_commit: true,
        progress: true,
        ..RuntimeOptions::default()
    };
    Ok(CoreService::spawn(move || {
        datadir::open_with(&dir, options).map_err(|e| types::Error::Unavailable(e.message()))
    })?)
}

/// After a clean stop: the last changes are synced and a snapshot saved, so the next
/// start reads no journal tail.
fn shut_down(core: &CoreService) {
    if let Err(e) = core.call_blocking(|rt| rt.shutdown()) {
        eprintln!("maas: could not save a snapshot on shutdown: {e}");
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
pub fn mcp(dir: &Path, limits: admin::Limits, token: Option<&str>) -> Result<(), CliError> {
    let core = core(dir, limits)?;
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
    let served = tokio()?
        .block_on(serve_stdio(core.clone(), principal))
        .map_err(|e| {
            CliError::io(
                format!("the MCP stdio session failed: {e}"),
                "check the client",
            )
        });
    shut_down(&core);
    served
}

fn describe(p: &Principal) -> String {
    match p {
        Principal::Operator => "the operator".to_string(),
        Principal::Agent(id) => format!("agent {id}"),
    }
}

/// `maas serve`: MCP over Streamable HTTP until Ctrl-C or SIGTERM.
pub fn serve(dir: &Path, limits: admin::Limits, args: &ServeArgs) -> Result<(), CliError> {
    let core = core(dir, limits)?;
    let token = operator::load_or_create(dir).map_err(|e| {
        CliError::io(
            format!("cannot read or create the operator token: {e}"),
            "check the data directory",
        )
    })?;
    let rt = tokio()?;
    rt.block_on(async move {
        let stop = CancellationToken::new();
        let options = HttpOptions {
            listen: args.listen,
            operator_token: token,
            insecure_loopback: args.insecure_loopback,
        };
        let (addr, server) = bind(core.clone(), options, stop.clone())
            .await
            .map_err(|e| {
                CliError::io(
                    format!("cannot listen on {}: {e}", args.listen),
                    "choose another --listen",
                )
            })?;
        eprintln!("maas: serving MCP at http://{addr}/mcp (health: http://{addr}/healthz)");
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

/// `maas bench`: prints the figures.
pub fn bench(dir: &Path, args: &BenchArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let rounds = args.rounds.max(3);
    let figures = crate::bench::in_memory(rounds)?;
    let mut text = String::from("maas bench (medians of batches; the floor is the empty call)\n\n");
    text.push_str(&crate::bench::report(&figures));
    if args.writes > 0 {
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
