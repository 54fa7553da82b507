//! `maas plugin`: run a sandboxed plugin bound to one agent, and measure what plugins
//! cost.

use super::changes::Follow;
use super::{CliError, Ctx};
use crate::admin;
use crate::ops::changes::{MAX_WAIT, WaitForChanges, change_json};
use crate::plugin::{
    Binding, CoreAccess, DEFAULT_CALL_BYTES, DEFAULT_CALLS, DEFAULT_FUEL, DEFAULT_MEMORY_BYTES,
    DEFAULT_WALL_TIME, Grants, PluginEngine, PluginError, PluginLimits, bench,
};
use crate::render::Rendered;
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `maas plugin …`.
#[derive(Debug, Subcommand)]
pub enum PluginCmd {
    /// Run a plugin (a component of the maas:core `plugin` world) as one agent.
    ///
    /// Every core call the plugin makes acts as --agent; the plugin cannot name anyone
    /// else. Without --token the operator binds it to any active agent; with --token it
    /// may only be bound to the token's agent. It gets no filesystem, network,
    /// environment or clock unless granted below, and is stopped when it exceeds a
    /// limit. Arguments after the plugin (after `--` if they start with `-`) are passed
    /// to its `run`; what `run` returns is printed.
    Run(RunArgs),
    /// Run a plugin once for every new change its agent may see, until stopped.
    ///
    /// Follows the change feed of --agent (as `wait_for_changes` does: no polling by
    /// the plugin, and changes other processes write to the data directory arrive within
    /// 100 ms) and runs the plugin for each change, with its arguments followed by
    /// `--change <the change as JSON>`; the limits apply to each run. Changes the agent
    /// made itself (the plugin's own writes among them) are passed over unless
    /// --include-own. Prints one JSON line per run. A run that fails or hits a limit is
    /// reported and the watch goes on; with --token, the watch ends when the token stops
    /// authenticating (rotated, the agent deactivated).
    Watch(WatchArgs),
    /// Measure a plugin-to-core call against the same call made by the host, and
    /// plugin start-up. Uses an in-memory core; needs the `call-loop` example plugin.
    Bench(BenchArgs),
}

/// Options of `maas plugin run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The plugin component (.wasm).
    pub plugin: PathBuf,
    /// The agent the plugin acts as (default: the --token agent).
    #[arg(long)]
    pub agent: Option<String>,
    /// Fuel for the run (about one unit per wasm instruction).
    #[arg(long, default_value_t = DEFAULT_FUEL)]
    pub fuel: u64,
    /// Linear memory limit in bytes.
    #[arg(long, default_value_t = DEFAULT_MEMORY_BYTES)]
    pub memory: usize,
    /// Core calls allowed in the run.
    #[arg(long, default_value_t = DEFAULT_CALLS)]
    pub calls: u64,
    /// Bytes of text one core call may pass.
    #[arg(long, default_value_t = DEFAULT_CALL_BYTES)]
    pub call_bytes: usize,
    /// Seconds the plugin may take to start, and afresh for each run, waits included
    /// (timers, network, files of a granted directory).
    #[arg(long, value_name = "SECONDS", default_value_t = DEFAULT_WALL_TIME.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub wall_time: u64,
    /// Grant read-only access to a host directory: HOST[:GUEST] (repeatable; split at the
    /// last `:`, unless the whole names a directory).
    #[arg(long = "allow-dir", value_name = "HOST[:GUEST]")]
    pub dirs: Vec<String>,
    /// Pass an environment variable: KEY=VALUE, or KEY to pass the host's (repeatable).
    #[arg(long = "env", value_name = "KEY[=VALUE]")]
    pub env: Vec<String>,
    /// Grant network access (TCP, UDP, name lookup).
    #[arg(long)]
    pub allow_net: bool,
    /// Grant the real clocks and timers (otherwise they read zero and timers stop it).
    #[arg(long)]
    pub allow_clock: bool,
    /// Let the plugin write to stderr (its stdout goes there too).
    #[arg(long)]
    pub allow_stdio: bool,
    /// Arguments for the plugin's `run`.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

/// Options of `maas plugin watch`.
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Only changes of these kinds or families (e.g. `handoff.initiated`, `memory`).
    #[arg(long = "kind", value_name = "KIND")]
    pub kinds: Vec<String>,
    /// Start after this cursor (default: the changes after the watch starts).
    #[arg(long)]
    pub after: Option<String>,
    /// Stop after this many runs (default: run until interrupted).
    #[arg(long, value_name = "N")]
    pub runs: Option<u64>,
    /// Also run for changes the agent made itself (by default they are passed over, so
    /// that what the plugin writes does not start it again).
    #[arg(long)]
    pub include_own: bool,
    /// The plugin, its limits, grants and arguments, as for `maas plugin run`.
    #[command(flatten)]
    pub run: RunArgs,
}

/// Options of `maas plugin bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// The `call-loop` example plugin (plugins/call-loop).
    #[arg(long)]
    pub plugin: PathBuf,
    /// Batches per measurement; the median is reported.
    #[arg(long, default_value_t = 15)]
    pub rounds: usize,
}

impl From<PluginError> for CliError {
    fn from(e: PluginError) -> Self {
        let (code, hint) = match &e {
            PluginError::Bind(error) => {
                return CliError::Domain {
                    error: error.clone(),
                    hint: Some("--agent must name an active agent of this data directory".into()),
                };
            }
            PluginError::Load(_) => (
                "plugin_load",
                "build the plugin for wasm32-wasip2 against wit/plugin.wit (world `plugin`)",
            ),
            PluginError::Stopped(crate::plugin::LimitHit::Timer) => {
                ("plugin_limit", "grant timers with --allow-clock")
            }
            PluginError::Stopped(_) => (
                "plugin_limit",
                "raise the limit named above if the plugin needs more",
            ),
            PluginError::Trapped(_) => (
                "plugin_trap",
                "the plugin crashed; its completed calls stand",
            ),
            PluginError::Failed(_) => ("plugin_failed", "see the plugin's own message"),
        };
        CliError::Local {
            message: e.to_string(),
            code,
            hint: Some(hint.into()),
        }
    }
}

/// One `--allow-dir`: `HOST[:GUEST]`, split at the last `:` unless the whole is a
/// directory (whose name holds one), which is then granted under its own name.
fn dir_grant(d: &str) -> (PathBuf, String) {
    match d.rsplit_once(':') {
        Some((host, guest)) if !Path::new(d).is_dir() => (PathBuf::from(host), guest.to_string()),
        _ => (PathBuf::from(d), d.to_string()),
    }
}

fn grants(args: &RunArgs) -> Grants {
    let dirs = args.dirs.iter().map(|d| dir_grant(d)).collect();
    let env = args
        .env
        .iter()
        .filter_map(|e| match e.split_once('=') {
            Some((k, v)) => Some((k.to_string(), v.to_string())),
            None => std::env::var(e).ok().map(|v| (e.clone(), v)),
        })
        .collect();
    Grants {
        dirs,
        env,
        network: args.allow_net,
        clock: args.allow_clock,
        stdio: args.allow_stdio,
    }
}

/// Runs `maas plugin …`.
pub fn run(
    cmd: PluginCmd,
    dir: &Path,
    limits: admin::Limits,
    token: Option<&str>,
    json: bool,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let rendered = match cmd {
        PluginCmd::Run(args) => run_plugin(&args, dir, limits, token)?,
        PluginCmd::Watch(args) => return watch(&args, dir, limits, token, out),
        PluginCmd::Bench(args) => {
            let figures = bench::run(&args.plugin, args.rounds)?;
            Rendered::new(figures.json(), figures.text())
        }
    };
    super::write(&rendered, json, out)
}

/// The agent a plugin is bound to: --agent, or the token's agent; a token binds only
/// its own agent.
fn bound_agent(ctx: &Ctx, args: &RunArgs) -> Result<String, CliError> {
    let agent = ctx.acting(args.agent.clone(), "--agent")?;
    if let Some(own) = &ctx.token_agent
        && own != &agent
    {
        return Err(CliError::usage(
            format!("--token belongs to {own}; it cannot bind a plugin to {agent}"),
            "drop --token to bind as the operator, or use the token of the agent",
        ));
    }
    Ok(agent)
}

fn plugin_limits(args: &RunArgs) -> PluginLimits {
    PluginLimits {
        fuel: args.fuel,
        memory_bytes: args.memory,
        calls: args.calls,
        call_bytes: args.call_bytes,
        wall_time: Duration::from_secs(args.wall_time),
    }
}

/// A plugin's output as JSON (text that is not JSON becomes a JSON string).
fn output_json(output: &str) -> Value {
    serde_json::from_str::<Value>(output).unwrap_or_else(|_| json!(output))
}

fn run_plugin(
    args: &RunArgs,
    dir: &Path,
    limits: admin::Limits,
    token: Option<&str>,
) -> Result<Rendered, CliError> {
    let ctx = Ctx::open(dir, limits, token)?;
    let agent = bound_agent(&ctx, args)?;
    let engine = PluginEngine::new()?;
    let image = engine.load(&args.plugin)?;
    let binding = Binding {
        core: CoreAccess::shared(ctx.rt),
        agent,
        limits: plugin_limits(args),
        grants: grants(args),
    };
    let output = image.run(&binding, &args.args)?;
    Ok(Rendered::new(output_json(&output), output))
}

/// `maas plugin watch`: the core runs on a thread of its own, which follows the journal
/// head; each page of changes runs the plugin once per change.
fn watch(
    args: &WatchArgs,
    dir: &Path,
    limits: admin::Limits,
    token: Option<&str>,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let ctx = Ctx::open(dir, limits, token)?;
    let agent = bound_agent(&ctx, &args.run)?;
    let caller = ctx.caller.clone();
    let engine = PluginEngine::new()?;
    let image = engine.load(&args.run.plugin)?;
    let follow = Follow::start(ctx.rt)?;
    let binding = Binding {
        core: CoreAccess::Service(follow.service.clone()),
        agent: agent.clone(),
        limits: plugin_limits(&args.run),
        grants: grants(&args.run),
    };
    let mut after = args.after.clone();
    let mut runs = 0u64;
    loop {
        let wait = WaitForChanges {
            agent_id: Some(agent.clone()),
            after: after.clone(),
            kinds: (!args.kinds.is_empty()).then(|| args.kinds.clone()),
            timeout_seconds: Some(MAX_WAIT.as_secs()),
            ..WaitForChanges::default()
        };
        let page = follow.wait(wait, caller.clone())?;
        after = Some(page.next_cursor.clone());
        for change in &page.changes {
            if !args.include_own && change.actor.as_deref() == Some(agent.as_str()) {
                continue;
            }
            // A token checked once at the start would outlive its rotation.
            if let Some(token) = token {
                let token = token.to_string();
                let still = binding.core.call(move |rt| {
                    rt.call(|c, s| c.maas_core_agents().call_authenticate(s, &token))
                });
                if let Err(e) = still {
                    follow.finish()?;
                    return Err(
                        CliError::from(crate::types::Error::PermissionDenied(format!(
                            "the watch ends: --token no longer authenticates ({})",
                            e.message()
                        )))
                        .with_hint(
                            "the token was rotated or its agent deactivated: start the watch \
                         again with the agent's current token",
                        ),
                    );
                }
            }
            let mut run_args = args.run.args.clone();
            run_args.push("--change".into());
            run_args.push(change_json(change).to_string());
            let line = match image.run(&binding, &run_args) {
                Ok(output) => json!({
                    "cursor": change.cursor,
                    "kind": change.kind,
                    "object_id": change.object_id,
                    "output": output_json(&output),
                }),
                Err(e) => json!({
                    "cursor": change.cursor,
                    "kind": change.kind,
                    "object_id": change.object_id,
                    "error": e.to_string(),
                }),
            };
            writeln!(out, "{}", crate::render::json_text(&line, false))
                .and_then(|()| out.flush())
                .map_err(|e| CliError::io(format!("cannot write: {e}"), "check standard output"))?;
            runs += 1;
            if args.runs.is_some_and(|max| runs >= max) {
                // The plugins' reads and the watch's own are audited before it ends.
                return follow.finish();
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_whose_name_holds_a_colon_can_be_granted() {
        let dir = std::env::temp_dir().join(format!("maas-grant-{}:x", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let whole = dir.to_str().unwrap();
        assert_eq!(dir_grant(whole), (dir.clone(), whole.to_string()));
        assert_eq!(
            dir_grant(&format!("{whole}:/data")),
            (dir.clone(), "/data".to_string())
        );
        assert_eq!(
            dir_grant("/srv/a:/b"),
            (PathBuf::from("/srv/a"), "/b".into())
        );
        assert_eq!(
            dir_grant("/srv/a"),
            (PathBuf::from("/srv/a"), "/srv/a".into())
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
