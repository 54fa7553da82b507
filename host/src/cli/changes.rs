//! `maas changes …`: the change feed.

use super::{CliError, Ctx};
use crate::ops::changes::{GetChanges, WaitForChanges};
use crate::render::Rendered;
use crate::service::HEAD_POLL;
use clap::Subcommand;
use std::time::Instant;

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
pub fn run(cmd: ChangesCmd, ctx: &mut Ctx) -> Result<Rendered, CliError> {
    match cmd {
        ChangesCmd::Get(op) => ctx.run(op),
        ChangesCmd::Wait(op) => wait(op, ctx),
    }
}

/// Reads, and while nothing came, reads again from where the last read ended every
/// [`HEAD_POLL`] (another process writes the journal) until the timeout.
fn wait(op: WaitForChanges, ctx: &mut Ctx) -> Result<Rendered, CliError> {
    let deadline = Instant::now() + op.timeout().map_err(CliError::from)?;
    let (mut rendered, mut page) = ctx.run_out(op.clone())?;
    while page.changes.is_empty() && Instant::now() < deadline {
        if !page.has_more {
            std::thread::sleep(HEAD_POLL.min(deadline.saturating_duration_since(Instant::now())));
        }
        let mut next = op.clone();
        next.after = Some(page.next_cursor.clone());
        let read = ctx.run_out(next)?;
        (rendered, page) = read;
    }
    Ok(rendered)
}
