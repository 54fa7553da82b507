//! `maas agent …`: registration, profiles, activation and sessions.

use std::path::Path;

use super::{CliError, Ctx};
use crate::ops::agents::*;
use crate::render::Rendered;
use crate::types;
use clap::Subcommand;

/// Agent verbs.
#[derive(Debug, Clone, Subcommand)]
pub enum AgentCmd {
    /// Register an agent (operator only); prints its token once.
    Register(RegisterAgent),
    /// Show an agent (default: the --token's agent).
    Get(GetAgentInfo),
    /// List the agents of an owner, in registration order (default: the --token agent's
    /// owner).
    List(GetAgentsForUser),
    /// Deactivate an agent: it can do nothing until reactivated.
    Deactivate(DeactivateAgent),
    /// Reactivate a deactivated agent.
    Reactivate(ReactivateAgent),
    /// Remove an agent for good (its id is never reused).
    Unregister(UnregisterAgent),
    /// Replace an agent's token (default: the --token's agent); prints the new one once.
    RotateToken(RotateToken),
    /// The acting agent's session.
    #[command(subcommand)]
    Session(SessionCmd),
    /// Who the command acts as: the operator, or the --token's agent.
    Whoami(Whoami),
}

/// Session verbs.
#[derive(Debug, Clone, Subcommand)]
pub enum SessionCmd {
    /// Open a session (ending any open one).
    Start(StartSession),
    /// End the open session.
    End(EndSession),
    /// Show the agent's open session.
    Get(GetSession),
}

/// Runs an agent verb on the data directory `dir`.
pub fn run(cmd: AgentCmd, dir: &Path, ctx: &mut Ctx) -> Result<Rendered, CliError> {
    match cmd {
        AgentCmd::Register(op) => {
            let agent_caller = matches!(ctx.caller, types::Caller::Agent(_));
            let mut rendered = ctx.run(op).map_err(|e| match &e {
                CliError::Domain {
                    error: types::Error::PermissionDenied(_),
                    ..
                } if agent_caller => e.with_hint(
                    "only the operator registers agents: run without --token / MAAS_TOKEN",
                ),
                _ => e,
            })?;
            name_data_dir(&mut rendered, dir);
            Ok(rendered)
        }
        AgentCmd::Get(op) => ctx.run(op),
        AgentCmd::List(op) => ctx.run(op),
        AgentCmd::Deactivate(op) => ctx.run(op),
        AgentCmd::Reactivate(op) => ctx.run(op),
        AgentCmd::Unregister(op) => ctx.run(op),
        AgentCmd::RotateToken(op) => ctx.run(op),
        AgentCmd::Whoami(op) => ctx.run(op),
        AgentCmd::Session(SessionCmd::Start(op)) => ctx.run(op),
        AgentCmd::Session(SessionCmd::End(op)) => ctx.run(op),
        AgentCmd::Session(SessionCmd::Get(op)) => ctx.run(op),
    }
}

/// Says where a registration was written (the data directory, or the PostgreSQL
/// journal of `--store`): its token opens nothing served from elsewhere, and a server
/// on another directory answered it with a bare 401.
fn name_data_dir(rendered: &mut Rendered, dir: &Path) {
    let full = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    if let Some(map) = rendered.json.as_object_mut() {
        map.insert("data_dir".into(), full.display().to_string().into());
    }
    // One line whatever the name holds, and quoted for a shell when it needs to be.
    let shown = crate::render::escape_controls(&full.display().to_string(), false);
    let quoted = crate::render::shell_quoted_path(&full);
    let serve = if crate::datadir::store_url().is_some() {
        "a `maas serve` given the same --store (MAAS_STORE)".to_string()
    } else {
        format!("`maas serve --data-dir {quoted}` (or MAAS_HOME set to it)")
    };
    rendered.text.push_str(&format!(
        "\nRegistered in the data directory {shown}: the token is valid where that journal \
         is served, {serve}."
    ));
}
