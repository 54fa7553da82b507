//! `maas handoff …`: handing tasks from one agent to another.

use super::{CliError, Ctx};
use crate::ops::handoffs::*;
use crate::render::Rendered;
use clap::Subcommand;

/// Handoff verbs.
#[derive(Debug, Clone, Subcommand)]
pub enum HandoffCmd {
    /// Start a handoff from the acting agent to another.
    Initiate(InitiateHandoff),
    /// The target accepts a pending handoff (once) and may then read its memories.
    Accept(AcceptHandoff),
    /// The target rejects a pending handoff with a reason.
    Reject(RejectHandoff),
    /// The source cancels a pending handoff.
    Cancel(CancelHandoff),
    /// The target of an accepted handoff asks its source for more (input_required).
    Ask(RequestHandoffInput),
    /// The source answers the target's question; the handoff is accepted again.
    Answer(ProvideHandoffInput),
    /// The target completes an accepted handoff with a JSON result.
    Complete(CompleteHandoff),
    /// Show a handoff (its source, its target and the operator only).
    Get(GetHandoff),
    /// The live pending handoffs targeting the acting agent, oldest first.
    Pending(GetPendingHandoffs),
    /// Every handoff the acting agent is source or target of, oldest first.
    List(GetAgentHandoffs),
    /// Expire due handoffs and remove old terminal ones (operator only).
    Cleanup(CleanupHandoffs),
}

/// Runs a handoff verb.
pub fn run(cmd: HandoffCmd, ctx: &mut Ctx) -> Result<Rendered, CliError> {
    match cmd {
        HandoffCmd::Initiate(op) => ctx.run(op),
        HandoffCmd::Accept(op) => ctx.run(op),
        HandoffCmd::Reject(op) => ctx.run(op),
        HandoffCmd::Cancel(op) => ctx.run(op),
        HandoffCmd::Ask(op) => ctx.run(op),
        HandoffCmd::Answer(op) => ctx.run(op),
        HandoffCmd::Complete(op) => ctx.run(op),
        HandoffCmd::Get(op) => ctx.run(op),
        HandoffCmd::Pending(op) => ctx.run(op),
        HandoffCmd::List(op) => ctx.run(op),
        HandoffCmd::Cleanup(op) => ctx.run(op),
    }
}
