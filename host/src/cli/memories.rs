//! `maas memory …`: an agent's memories.

use super::{CliError, Ctx, text_arg};
use crate::ops::memories::*;
use crate::render::Rendered;
use clap::Subcommand;

/// Memory verbs.
#[derive(Debug, Clone, Subcommand)]
pub enum MemoryCmd {
    /// Store a memory as the acting agent (optionally shared into a pool at once).
    Store(StoreMemory),
    /// Read a memory the acting agent may read.
    Get(GetMemory),
    /// Update the acting agent's memory at the version it last read.
    Update(UpdateMemory),
    /// Delete a memory and its shares.
    Delete(DeleteMemory),
    /// Search the memories the acting agent may read, ranked.
    Search(SearchMemories),
}

/// Runs a memory verb.
pub fn run(cmd: MemoryCmd, ctx: &mut Ctx) -> Result<Rendered, CliError> {
    match cmd {
        MemoryCmd::Store(mut op) => {
            op.content = text_arg(op.content, "content")?;
            ctx.run(op)
        }
        MemoryCmd::Get(op) => ctx.run(op),
        MemoryCmd::Update(mut op) => {
            op.content = op.content.map(|c| text_arg(c, "content")).transpose()?;
            ctx.run(op)
        }
        MemoryCmd::Delete(op) => ctx.run(op),
        MemoryCmd::Search(op) => ctx.run(op),
    }
}
