//! The `maas` command line: nouns (`agent`, `pool`, `memory`, `handoff`, `kb`,
//! `security`, `audit`, `stats`) with their verbs, each a call into the core over the
//! journal in the data directory.

pub mod agents;
pub mod changes;
pub mod handoffs;
pub mod import;
pub mod ingest_repo;
pub mod knowledge;
pub mod memories;
pub mod misc;
pub mod plugin;
pub mod pools;
pub mod servers;
pub mod transfer;
pub mod wire;

pub use crate::errors::{CliError, describe};

use crate::bindings::Maas;
use crate::datadir::{self, LimitSetting};
use crate::ops::{self, Op};
use crate::render::Rendered;
use crate::runtime::HostState;
use crate::{Runtime, RuntimeOptions, admin, types};
use clap::{Args, Parser, Subcommand};
use std::io::Write;
use std::path::{Path, PathBuf};
use wasmtime::Store;

const ABOUT: &str = "maas: Memory as a Service for teams of AI agents";

const LONG_ABOUT: &str = "maas: Memory as a Service for teams of AI agents.

Agents register, share memories through pools, hand tasks to each other and search
the organisation's knowledge, every change kept in a durable journal with an audit
trail. The command acts as the operator (who may act for any agent) unless --token
names an agent, in which case it acts as that agent only.";

const EXAMPLES: &str = "\
Examples:
  maas demo
      play the complete example in a fresh data directory
  maas agent register --type claude_code --owner user-123 --id claude-backend
  maas pool create --name feature-auth --owner user-123 --scope project --id feature-auth
  maas pool join feature-auth --member claude-backend --permission write
  maas memory store --agent claude-backend --kind decision --content 'JWT for auth' --tag auth
  maas memory search 'auth token' --agent claude-backend
  maas handoff initiate --from claude-backend --to gpt-frontend --task 'Build the login UI'
  MAAS_TOKEN=maas_... maas handoff pending
      act as the token's agent: --agent defaults to it
  maas --json audit --limit 20
      one JSON document on stdout

State lives in --data-dir, else $MAAS_HOME, else the platform data directory.
Wire strings are the design's: claude_code, memory_read, agent_private, ...
A failure prints one line `error: <message> (<code>)`, exit code 1 (2 for usage).
Each command has its own --help, e.g. `maas pool --help`, `maas pool share --help`.";

/// The `maas` command line.
#[derive(Debug, Parser)]
#[command(
    name = "maas",
    version,
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_help = EXAMPLES,
    subcommand_required = true,
    arg_required_else_help = true
)]
pub struct Cli {
    /// Options every command accepts.
    #[command(flatten)]
    pub globals: Globals,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command accepts.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Global options")]
pub struct Globals {
    /// The data directory holding the journal (journal.db); created if missing.
    ///
    /// Default: $MAAS_HOME, else the platform data directory + /maas (e.g.
    /// ~/.local/share/maas), else ./.maas.
    #[arg(
        long,
        global = true,
        value_name = "DIR",
        env = "MAAS_HOME",
        hide_env_values = true
    )]
    pub data_dir: Option<PathBuf>,
    /// Where the journal is kept: `sqlite` (the default: journal.db in the data
    /// directory) or a PostgreSQL URL, postgres://user:password@host:port/database.
    ///
    /// Several hosts given the same database serve one history (see the README, "Running
    /// on several machines"). The data directory still holds the operator token.
    #[arg(
        long,
        global = true,
        value_name = "URL",
        env = "MAAS_STORE",
        hide_env_values = true
    )]
    pub store: Option<String>,
    /// Act as the agent this token belongs to instead of as the operator.
    ///
    /// Commands taking --agent (or --from) then default to this agent, and naming
    /// another agent there is refused. A token on the command line is in the process
    /// list, which every user of the machine can read: prefer MAAS_TOKEN or --token-file.
    #[arg(
        long,
        global = true,
        value_name = "TOKEN",
        env = "MAAS_TOKEN",
        hide_env_values = true
    )]
    pub token: Option<String>,
    /// Read the --token from this file (only its owner may read it; `-` or a pipe such
    /// as `<(pass show maas/agent)` work too). A --token or MAAS_TOKEN given as well wins.
    #[arg(long, global = true, value_name = "FILE", env = "MAAS_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,
    /// Set a core limit, e.g. --limit agents=100 (repeatable; before the command).
    ///
    /// Keys (`-` or `_`): agents, sessions, pools, members-per-pool, shares-per-pool,
    /// handoffs, pending-per-target, memories, documents, handoff-retention-seconds,
    /// audit-window, memory-bytes, memories-per-owner, documents-per-owner,
    /// pending-per-target-per-owner, writes-per-minute, change-window, pools-per-owner,
    /// handoffs-per-owner, text-bytes-per-owner, write-bytes-per-minute. Zero means the
    /// default. Given before the command (`maas --limit
    /// agents=5 agent register …`) because searches take a `--limit N` of their own.
    #[arg(long = "limit", value_name = "KEY=VALUE", value_parser = datadir::parse_limit)]
    pub limits: Vec<LimitSetting>,
    /// Print one JSON document instead of text.
    #[arg(long, global = true)]
    pub json: bool,
}

/// The subcommands. New ones (e.g. servers) go at the end, with their arm in [`run`].
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Register, inspect and retire agents; agent sessions.
    #[command(subcommand)]
    Agent(agents::AgentCmd),
    /// Shared memory pools: members and shares.
    #[command(subcommand)]
    Pool(pools::PoolCmd),
    /// Store, read, update, delete and search memories.
    #[command(subcommand)]
    Memory(memories::MemoryCmd),
    /// Hand tasks from one agent to another.
    #[command(subcommand)]
    Handoff(handoffs::HandoffCmd),
    /// The knowledge base: code, decisions, incidents.
    #[command(subcommand)]
    Kb(knowledge::KbCmd),
    /// Check, sanitize, analyse and filter text (pure; uses no data directory).
    #[command(subcommand)]
    Security(misc::SecurityCmd),
    /// Read the audit trail.
    Audit(misc::AuditArgs),
    /// Counts of live objects and the limits in force (operator only).
    Stats,
    /// A digest of the whole state; equal digests mean equal states (operator only).
    Digest(crate::ops::audit::GetStateDigest),
    /// Play the complete example: two agents, a pool, a memory, a handoff.
    ///
    /// Runs in a fresh data directory of its own, <data-dir>/demo-runs/<unix-ms>/, so
    /// runs never collide; it prints that directory and how to inspect it. Every step
    /// acts as the principal that would take it: the operator registers, each agent
    /// signs in with its token and acts as itself.
    Demo,
    /// Serve MCP over stdio (for a client that starts maas itself).
    ///
    /// Acts as the operator, or as the agent of --token / MAAS_TOKEN. Only protocol goes
    /// to stdout; messages go to stderr.
    Mcp(servers::CoreArgs),
    /// Serve MCP over Streamable HTTP at /mcp, with /healthz.
    ///
    /// Every request needs `Authorization: Bearer <token>`: the operator token (created
    /// at first start in <data-dir>/operator-token) or an agent's token.
    Serve(servers::ServeArgs),
    /// Measure what calls cost through the component against native and the floor.
    Bench(servers::BenchArgs),
    /// Write the whole history as JSON lines (backups, migrations, bug reports).
    Export {
        /// The file to write; `-` (the default) is stdout.
        #[arg(long, short, default_value = "-")]
        output: PathBuf,
        /// Replace secrets in every caller text (content, tags, handoff texts, document
        /// texts, names, metadata) by `[REDACTED:<kind>]` placeholders. New writes are
        /// redacted before they are stored; this cleans a history written before that:
        /// export with --redact, import into a new data directory, retire the old one.
        #[arg(long)]
        redact: bool,
    },
    /// Rebuild an empty data directory from the output of `maas export`.
    ///
    /// Every entry is replayed first; a history this version cannot read is refused
    /// before anything is written.
    Import {
        /// The export to read; `-` is stdin.
        file: PathBuf,
        /// No progress on standard error (it is shown only when that is a terminal).
        #[arg(long, short)]
        quiet: bool,
    },
    /// Run sandboxed plugins bound to one agent; measure what they cost.
    #[command(subcommand)]
    Plugin(plugin::PluginCmd),
    /// The change feed: what changed since a cursor; wait for the next change.
    #[command(subcommand)]
    Changes(changes::ChangesCmd),
    /// The operator token `maas serve` accepts (<data-dir>/operator-token).
    #[command(subcommand)]
    Operator(OperatorCmd),
}

/// Operator token verbs.
#[derive(Debug, Clone, Subcommand)]
pub enum OperatorCmd {
    /// Replace the operator token with a new one, in the same file: a `maas serve`
    /// running on this data directory takes it within seconds and closes what the old
    /// one held open; the old token opens nothing any more.
    RotateToken,
}

/// A core over the data directory, and who the command acts as.
pub struct Ctx {
    /// The running core.
    pub rt: Runtime,
    /// The operator, or the agent of `--token`.
    pub caller: types::Caller,
    /// The agent of `--token`, if one was given.
    pub token_agent: Option<String>,
}

impl Ctx {
    /// Opens the core in `dir` and authenticates `token`, if any.
    pub fn open(dir: &Path, limits: admin::Limits, token: Option<&str>) -> Result<Self, CliError> {
        let mut rt = datadir::open(dir, limits)?;
        let token_agent = match token {
            None => None,
            Some(token) => Some(
                rt.call(|c, s| c.maas_core_agents().call_authenticate(s, token))
                    .map_err(|e| {
                        CliError::from(e).with_hint(
                            "the token (--token, MAAS_TOKEN or --token-file) must be the token of an active agent in this data directory",
                        )
                    })?,
            ),
        };
        let caller = match &token_agent {
            Some(id) => types::Caller::Agent(id.clone()),
            None => types::Caller::Operator,
        };
        Ok(Ctx {
            rt,
            caller,
            token_agent,
        })
    }

    /// The acting agent: the one given with `flag`, else the token's agent.
    pub fn acting(&self, given: Option<String>, flag: &str) -> Result<String, CliError> {
        self.or_token(
            given,
            &format!("this command acts as an agent: pass {flag} <AGENT_ID>"),
        )
    }

    /// The value given, else the token's agent, else a usage error saying `missing`.
    pub fn or_token(&self, given: Option<String>, missing: &str) -> Result<String, CliError> {
        given.or_else(|| self.token_agent.clone()).ok_or_else(|| {
            CliError::usage(
                missing,
                "the operator may act for any agent; with --token it defaults to the token's agent",
            )
        })
    }

    /// The acting agent where the operator may also act for itself.
    pub fn acting_opt(&self, given: Option<String>) -> Option<String> {
        given.or_else(|| self.token_agent.clone())
    }

    /// Runs an operation declared as a command line as the command's caller and renders
    /// its answer; an acting agent left out is named as its command line gives it.
    pub fn run<O: Op + clap::Args>(&mut self, op: O) -> Result<Rendered, CliError> {
        self.run_named(op, argument::<O>)
            .map(|(rendered, _)| rendered)
    }

    /// Runs an operation as the command's caller: its rendered answer, and the answer.
    pub fn run_out<O: Op>(&mut self, op: O) -> Result<(Rendered, O::Out), CliError> {
        self.run_named(op, str::to_string)
    }

    /// [`Ctx::run_out`], with `name` telling how the command line gives a field.
    fn run_named<O: Op>(
        &mut self,
        mut op: O,
        name: fn(&str) -> String,
    ) -> Result<(Rendered, O::Out), CliError> {
        // The hint on acting agents belongs to an agent left out, not to a bad one given.
        let left_out = match op.slot() {
            ops::Slot::Agent(a) | ops::Slot::Target(a) => a.is_none(),
            _ => false,
        };
        let out = ops::invoke(&mut op, &mut self.rt, &self.caller).map_err(|e| {
            let missing = left_out
                && matches!(&e, types::Error::InvalidInput(i) if i.field == O::SLOT_FIELD);
            let e = CliError::from(e);
            if missing {
                e.with_hint(format!(
                    "the operator may act for any agent ({}); with --token it defaults to the token's agent",
                    name(O::SLOT_FIELD)
                ))
            } else {
                e
            }
        })?;
        Ok((Rendered::new(op.json(&out), op.text(&out)), out))
    }

    /// Calls the core as the command's caller.
    pub fn call<T>(
        &mut self,
        f: impl FnOnce(
            &Maas,
            &mut Store<HostState>,
            &types::Caller,
        ) -> wasmtime::Result<Result<T, types::Error>>,
    ) -> Result<T, CliError> {
        let Ctx { rt, caller, .. } = self;
        rt.call(|core, store| f(core, store, caller))
            .map_err(CliError::from)
    }
}

/// How the command line of operation `O` gives its field `field`: `--from <AGENT_ID>`,
/// or the positional `AGENT`; the field's own name when the command line has no such
/// argument.
fn argument<O: clap::Args>(field: &str) -> String {
    let command = O::augment_args(clap::Command::new("op"));
    let Some(arg) = command.get_arguments().find(|a| a.get_id() == field) else {
        return field.to_string();
    };
    let value = arg
        .get_value_names()
        .and_then(|names| names.first())
        .map_or_else(|| field.to_ascii_uppercase(), ToString::to_string);
    match arg.get_long() {
        Some(long) => format!("--{long} <{value}>"),
        None => format!("the argument {value}"),
    }
}

/// Whether `--token` was given as a word of the command line (not through MAAS_TOKEN).
fn token_on_command_line() -> bool {
    std::env::args_os()
        .take_while(|a| a != "--")
        .any(|a| a == "--token" || a.to_string_lossy().starts_with("--token="))
}

/// The token in `file` (`-` for stdin): its text trimmed, at most 4 KiB. A regular file
/// others may read is refused, as ssh refuses such a key: the token is a credential.
fn token_from_file(file: &Path) -> Result<String, CliError> {
    use std::io::Read;
    let failed = |why: String| {
        CliError::usage(
            format!("--token-file {}: {why}", file.display()),
            "write the agent's token alone in a file only you can read (chmod 600 FILE)",
        )
    };
    let mut text = String::new();
    let read = if file == Path::new("-") {
        std::io::stdin().take(4097).read_to_string(&mut text)
    } else {
        // The user's own file (or pipe), never one another user put at that name.
        let f = crate::owned::open_named(file, std::fs::OpenOptions::new().read(true), true)
            .map_err(|e| failed(e.to_string()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let meta = f.metadata().map_err(|e| failed(e.to_string()))?;
            let mode = meta.permissions().mode() & 0o777;
            if meta.is_file() && mode & 0o077 != 0 {
                return Err(failed(format!("other users may read it (mode {mode:03o})")));
            }
        }
        f.take(4097).read_to_string(&mut text)
    };
    read.map_err(|e| failed(e.to_string()))?;
    if text.len() > 4096 {
        return Err(failed("it holds more than a token (over 4 KiB)".into()));
    }
    let token = text.trim();
    if token.is_empty() {
        return Err(failed("it is empty".into()));
    }
    Ok(token.to_string())
}

/// Runs a parsed command line, writing its result to `out`.
pub fn run(cli: Cli, out: &mut dyn Write) -> Result<(), CliError> {
    let g = cli.globals;
    datadir::set_store(g.store.as_deref())?;
    let dir = datadir::resolve(g.data_dir.as_deref());
    let limits = datadir::limits(&g.limits);
    let token = match (&g.token, &g.token_file) {
        (Some(token), _) => Some(token.clone()),
        (None, Some(file)) => Some(token_from_file(file)?),
        (None, None) => None,
    };
    if g.token.is_some() && matches!(cli.command, Command::Mcp(_)) && token_on_command_line() {
        eprintln!(
            "maas: warning: --token on the command line is in the process list, which every \
             user of this machine can read while `maas mcp` runs; pass it as MAAS_TOKEN or \
             --token-file instead"
        );
    }
    let open = || Ctx::open(&dir, limits, token.as_deref());
    whole_directory_only(&cli.command, token.is_some())?;
    let rendered = match cli.command {
        Command::Agent(cmd) => agents::run(cmd, &dir, &mut open()?)?,
        Command::Pool(cmd) => pools::run(cmd, &mut open()?)?,
        Command::Memory(cmd) => memories::run(cmd, &mut open()?)?,
        Command::Handoff(cmd) => handoffs::run(cmd, &mut open()?)?,
        Command::Kb(cmd) => knowledge::run(cmd, &dir, &mut open()?)?,
        Command::Changes(cmd) => changes::run(cmd, open()?)?,
        Command::Operator(OperatorCmd::RotateToken) => {
            // The checks every command's data directory gets, before a token is written
            // there: a directory another user could swap for a link to one of the user's
            // (under a shared directory without the sticky bit) is refused, not chmodded
            // and given a token no server reads.
            datadir::ensure(&dir)?;
            let path = crate::operator::token_path(&dir);
            crate::operator::rotate(&dir).map_err(|e| {
                CliError::io(
                    format!(
                        "cannot write a new operator token to {}: {e}",
                        path.display()
                    ),
                    "check the data directory's permissions",
                )
            })?;
            let file = path.display().to_string();
            let shown = crate::render::escape_controls(&file, false);
            Rendered::new(
                serde_json::json!({"status": "rotated", "file": file}),
                format!(
                    "status: rotated\nfile:   {shown}\n\nThe new operator token is in that file; \
                     a running `maas serve` takes it within seconds."
                ),
            )
        }
        Command::Audit(misc::AuditArgs {
            verb: Some(misc::AuditVerb::Verify { expect, replay }),
            ..
        }) => misc::audit_verify(&dir, expect.as_ref(), replay.then_some(limits))?,
        Command::Audit(args) => misc::audit(args, &mut open()?)?,
        Command::Stats => misc::stats(&mut open()?)?,
        Command::Digest(op) => open()?.run(op)?,
        Command::Security(cmd) => {
            let mut rt = Runtime::in_memory(RuntimeOptions {
                limits,
                ..RuntimeOptions::default()
            })?;
            misc::security(cmd, &mut rt)?
        }
        Command::Demo => return crate::demo::run(&dir, limits, g.json, out),
        Command::Mcp(args) => return servers::mcp(&dir, limits, token.as_deref(), &args),
        Command::Serve(args) => return servers::serve(&dir, limits, &args),
        Command::Bench(args) => return servers::bench(&dir, &args, out),
        Command::Plugin(cmd) => {
            return plugin::run(cmd, &dir, limits, token.as_deref(), g.json, out);
        }
        Command::Export { output, redact } => {
            return if output.as_os_str() == "-" {
                transfer::export(&dir, out, redact)
            } else {
                let file = export_file(&output).map_err(|e| {
                    CliError::io(
                        format!("cannot create {}: {e}", output.display()),
                        "choose another --output",
                    )
                })?;
                transfer::export(&dir, &mut std::io::BufWriter::new(file), redact)
            };
        }
        Command::Import { file, quiet } => {
            if file.as_os_str() == "-" {
                transfer::import(&dir, limits, &mut std::io::stdin().lock(), quiet)?
            } else {
                // Never waits on a FIFO, nor reads a device, another user put at the name.
                let f = crate::owned::open_input(&file).map_err(|e| {
                    CliError::io(
                        format!("cannot open {}: {e}", file.display()),
                        "check the path; import a regular file, or a pipe of your own",
                    )
                })?;
                transfer::import(&dir, limits, &mut std::io::BufReader::new(f), quiet)?
            }
        }
    };
    write(&rendered, g.json, out)
}

/// Refuses a token for the commands that read or write the data directory as a whole
/// (export, import, audit verify, operator rotate-token) or authenticate each request themselves (serve): they
/// cannot act as one agent, so a token there would be silently ignored and the command
/// would act as the operator, which is what the token was meant to rule out.
fn whole_directory_only(command: &Command, token: bool) -> Result<(), CliError> {
    if !token {
        return Ok(());
    }
    let name = match command {
        Command::Export { .. } => "export",
        Command::Import { .. } => "import",
        Command::Audit(misc::AuditArgs {
            verb: Some(misc::AuditVerb::Verify { .. }),
            ..
        }) => "audit verify",
        Command::Operator(_) => "operator rotate-token",
        Command::Serve(_) => {
            return Err(CliError::usage(
                "`maas serve` authenticates every request by its own bearer token; \
                 --token (or MAAS_TOKEN) does not apply to it",
                "run it without --token and with MAAS_TOKEN unset",
            ));
        }
        _ => return Ok(()),
    };
    Err(CliError::Domain {
        error: types::Error::PermissionDenied(format!(
            "operator only: `maas {name}` works on the whole data directory, not one agent's view"
        )),
        hint: Some("run it as the operator: without --token and with MAAS_TOKEN unset".into()),
    })
}

/// Writes a result; a closed pipe (e.g. `| head`) is not an error.
pub fn write(rendered: &Rendered, json: bool, out: &mut dyn Write) -> Result<(), CliError> {
    match rendered.write(out, json).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(CliError::io(
            format!("cannot write the output: {e}"),
            "check where stdout goes",
        )),
        _ => Ok(()),
    }
}

/// Reads a text argument: `-` means all of stdin.
pub fn text_arg(text: String, what: &str) -> Result<String, CliError> {
    if text != "-" {
        return Ok(text);
    }
    let mut buf = String::new();
    std::io::Read::read_to_string(&mut std::io::stdin(), &mut buf).map_err(|e| {
        CliError::io(
            format!("cannot read the {what} from stdin: {e}"),
            "pipe UTF-8 text into maas",
        )
    })?;
    Ok(buf)
}

/// The file an export is written to: readable by its owner only, as the data directory
/// is (an export holds every owner's memories and handoffs), whether new or replaced,
/// and never through a link nor into another user's file (see [`crate::owned::create_named`]).
fn export_file(path: &Path) -> std::io::Result<std::fs::File> {
    crate::owned::create_named(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_argument_of_every_command_says_what_it_is() {
        fn walk(cmd: &clap::Command, path: &str, bare: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let help = arg
                    .get_help()
                    .or(arg.get_long_help())
                    .map(|h| h.to_string());
                if !arg.is_hide_set() && help.is_none_or(|h| h.trim().is_empty()) {
                    bare.push(format!("{path} {}", arg.get_id()));
                }
            }
            for sub in cmd.get_subcommands() {
                walk(sub, &format!("{path} {}", sub.get_name()), bare);
            }
        }
        let mut bare = Vec::new();
        walk(&Cli::command(), "maas", &mut bare);
        assert!(bare.is_empty(), "arguments without help: {bare:?}");
    }

    #[test]
    fn the_limit_help_names_every_limit_key() {
        let cmd = Cli::command();
        let help = cmd
            .get_arguments()
            .find(|a| a.get_id() == "limits")
            .and_then(|a| a.get_long_help().or(a.get_help()))
            .map(|h| h.to_string())
            .unwrap_or_default();
        for limit in datadir::LIMITS {
            assert!(help.contains(limit.key), "--limit help lacks {}", limit.key);
        }
    }
}
