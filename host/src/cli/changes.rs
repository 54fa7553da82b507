//! `maas changes …`: the change feed.

use super::{CliError, Ctx};
use crate::bindings::{changes::ChangePage, types};
use crate::ops::Op;
use crate::ops::changes::{self, GetChanges, WaitForChanges};
use crate::render::Rendered;
use crate::runtime::Runtime;
use crate::service::CoreService;
use clap::Subcommand;

/// Change feed verbs.
#[derive(Debug, Clone, Subcommand)]
pub enum ChangesCmd {
    /// What changed since a cursor that the acting agent may see, oldest first.
    Get(GetChanges),
    /// Wait (at most --timeout seconds) until something changes that the acting agent
    /// may see, then print it.
    Wait(WaitForChanges),
}

/// Runs a change feed verb.
pub fn run(cmd: ChangesCmd, mut ctx: Ctx) -> Result<Rendered, CliError> {
    match cmd {
        ChangesCmd::Get(op) => ctx.run(op),
        ChangesCmd::Wait(op) => {
            let caller = ctx.caller.clone();
            let follow = Follow::start(ctx.rt)?;
            let page = follow.wait(op.clone(), caller);
            follow.finish()?;
            let page = page?;
            Ok(Rendered::new(op.json(&page), op.text(&page)))
        }
    }
}

/// A core on a thread of its own that follows the journal head, as a server's does, so
/// a command waits for changes the way `wait_for_changes` does (changes other processes
/// append arrive within [`crate::service::HEAD_POLL`]).
pub struct Follow {
    /// The core.
    pub service: CoreService,
    tokio: tokio::runtime::Runtime,
}

impl Follow {
    /// Moves `rt` onto the core thread.
    pub fn start(rt: Runtime) -> Result<Follow, CliError> {
        let service = CoreService::spawn(move || Ok(rt))?;
        crate::datadir::follow_other_hosts(&service)?;
        let tokio = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .map_err(|e| CliError::io(format!("cannot start waiting: {e}"), "try again"))?;
        Ok(Follow { service, tokio })
    }

    /// Waits as `op` asks ([`changes::wait`]).
    pub fn wait(&self, op: WaitForChanges, caller: types::Caller) -> Result<ChangePage, CliError> {
        Ok(self
            .tokio
            .block_on(changes::wait(&self.service, op, caller))?)
    }

    /// Writes what the core buffered (the audit entries of the reads) before the command
    /// ends.
    pub fn finish(self) -> Result<(), CliError> {
        self.service.call_blocking(|rt| {
            rt.flush_reads()?;
            rt.sync_journal()
        })?;
        Ok(())
    }
}
