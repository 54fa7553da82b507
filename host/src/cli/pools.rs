//! `maas pool …`: shared memory pools, their members and shares.

use super::{CliError, Ctx};
use crate::ops::pools::*;
use crate::ops::shares::*;
use crate::render::Rendered;
use clap::Subcommand;

/// Pool verbs.
#[derive(Debug, Clone, Subcommand)]
pub enum PoolCmd {
    /// Create a pool (an agent creating one becomes its admin).
    Create(CreatePool),
    /// Show a pool.
    Get(GetPool),
    /// List the pools visible to the caller, in creation order.
    List(ListPools),
    /// Add a member at a permission, or change its permission (yourself, or any agent as
    /// the pool's admin).
    Join(JoinPool),
    /// The acting agent leaves the pool (its shares stay).
    Leave(LeavePool),
    /// Remove another member (pool admins and the operator).
    RemoveMember(RemovePoolMember),
    /// List the members in join order.
    Members(GetPoolMembers),
    /// Share the acting agent's memory into the pool at a scope.
    Share(ShareMemoryToScope),
    /// Remove a share (the sharer its own; admins and the operator any).
    Unshare(UnshareMemory),
    /// List the pool's shares the acting agent may see.
    Query(QueryShared),
    /// Archive the pool: read-only from then on.
    Archive(ArchivePool),
    /// Delete the pool with its memberships and shares (memories stay).
    Delete(DeletePool),
}

/// Runs a pool verb.
pub fn run(cmd: PoolCmd, ctx: &mut Ctx) -> Result<Rendered, CliError> {
    match cmd {
        PoolCmd::Create(op) => ctx.run(op),
        PoolCmd::Get(op) => ctx.run(op),
        PoolCmd::List(op) => ctx.run(op),
        PoolCmd::Join(op) => ctx.run(op),
        PoolCmd::Leave(op) => ctx.run(op),
        PoolCmd::RemoveMember(op) => ctx.run(op),
        PoolCmd::Members(op) => ctx.run(op),
        PoolCmd::Share(op) => ctx.run(op),
        PoolCmd::Unshare(op) => ctx.run(op),
        PoolCmd::Query(op) => ctx.run(op),
        PoolCmd::Archive(op) => ctx.run(op),
        PoolCmd::Delete(op) => ctx.run(op),
    }
}
