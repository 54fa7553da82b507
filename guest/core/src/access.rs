//! Who may do what: resolving the acting agent and the visibility rules of DESIGN §3.
//!
//! The read and write policy every noun shares lives here (who may see a pool, read a
//! memory, share at a scope, pass a memory on in a handoff), so the noun modules depend
//! on this one and not on each other.

use crate::engine::{Cx, Refusal};
use crate::error::{Error, Result};
use crate::limits::check_id;
use crate::model::{AgentType, Caller, Capability, Permission, Scope};
use crate::state::{Agent, Memory, Pool, Share, State, team_key};

/// The acting agent named by `agent_id`: the caller itself, or any active agent when the
/// caller is the operator. Naming another agent is permission-denied.
pub fn acting<'s>(s: &'s State, caller: &Caller, field: &str, agent_id: &str) -> Result<&'s Agent> {
    check_id(field, agent_id)?;
    if let Caller::Agent(me) = caller
        && me != agent_id
    {
        return Err(Error::denied(format!(
            "agent {me} may not act as agent {agent_id}"
        )));
    }
    let agent = s
        .agents
        .get(agent_id)
        .ok_or_else(|| Error::not_found("agent", agent_id))?;
    if !agent.active {
        return Err(Error::denied(format!("agent {agent_id} is deactivated")));
    }
    Ok(agent)
}

/// The acting agent of an operation the operator may also do as itself: `None` means the
/// operator acting as itself. An agent caller naming no agent acts as itself.
pub fn acting_opt<'s>(
    s: &'s State,
    caller: &Caller,
    field: &str,
    agent_id: Option<&str>,
) -> Result<Option<&'s Agent>> {
    match (caller, agent_id) {
        (Caller::Operator, None) => Ok(None),
        (Caller::Agent(me), None) => acting(s, caller, field, me).map(Some),
        (_, Some(id)) => acting(s, caller, field, id).map(Some),
    }
}

/// The calling agent, if the caller is one; it must exist and be active.
pub fn caller_agent<'s>(s: &'s State, caller: &Caller) -> Result<Option<&'s Agent>> {
    match caller {
        Caller::Operator => Ok(None),
        Caller::Agent(me) => acting(s, caller, "caller", me).map(Some),
    }
}

/// Fails unless the agent holds `cap`.
pub fn require(agent: &Agent, cap: Capability) -> Result<()> {
    if agent.can(cap) {
        Ok(())
    } else {
        Err(Error::denied(format!(
            "agent {} lacks the {} capability",
            agent.id,
            cap.as_str()
        )))
    }
}

/// Fails unless the caller is the operator or an agent holding `cap`.
pub fn require_caller(s: &State, caller: &Caller, cap: Capability) -> Result<()> {
    match caller_agent(s, caller)? {
        None => Ok(()),
        Some(agent) => require(agent, cap),
    }
}

/// True if `caller` may see `agent`: the operator, the agent itself, agents of its owner.
pub fn agent_visible(s: &State, caller: &Caller, agent: &Agent) -> bool {
    match caller {
        Caller::Operator => true,
        Caller::Agent(me) => s
            .agents
            .get(me)
            .is_some_and(|a| a.active && (a.id == agent.id || a.owner_id == agent.owner_id)),
    }
}

/// True if `actor` may manage `target` (deactivate, unregister): the operator, the agent
/// itself (when `self_ok`), or a human agent of the same owner.
pub fn manages(actor: Option<&Agent>, target: &Agent, self_ok: bool) -> bool {
    match actor {
        None => true,
        Some(a) => {
            (self_ok && a.id == target.id)
                || (a.agent_type == AgentType::Human && a.owner_id == target.owner_id)
        }
    }
}

/// The permission of `agent_id` in `pool`, if a member.
pub fn permission(pool: &Pool, agent_id: &str) -> Option<Permission> {
    pool.members.get(agent_id).map(|m| m.permission)
}

/// True if the actor (None = operator) may see the pool: operator, members, and agents of
/// the pool's owner.
pub fn pool_visible(pool: &Pool, actor: Option<&Agent>) -> bool {
    match actor {
        None => true,
        Some(a) => pool.members.contains_key(&a.id) || a.owner_id == pool.owner_id,
    }
}

/// True if the actor (None = operator) administers the pool.
pub fn pool_admin(pool: &Pool, actor: Option<&Agent>) -> bool {
    match actor {
        None => true,
        Some(a) => permission(pool, &a.id) == Some(Permission::Admin),
    }
}

/// True if `reader` may see `share` of `pool` under the scope rules.
pub fn share_visible(s: &State, pool: &Pool, share: &Share, reader: &Agent) -> bool {
    let member = pool.members.contains_key(&reader.id);
    match share.scope {
        Scope::AgentPrivate => share.shared_by == reader.id,
        Scope::User => {
            member
                && s.agents
                    .get(&share.shared_by)
                    .is_some_and(|sharer| sharer.owner_id == reader.owner_id)
        }
        Scope::Project => member,
        // A wider scope never shows less than a narrower one: the pool's own members see
        // a team share even when the pool carries no team label.
        Scope::Team => {
            member
                || pool.team.as_ref().is_some_and(|team| {
                    s.teams
                        .get(&team_key(&pool.owner_id, team))
                        .is_some_and(|pools| {
                            s.memberships
                                .get(&reader.id)
                                .is_some_and(|mine| mine.iter().any(|p| pools.contains(p)))
                        })
                })
        }
        Scope::Global => reader.can(Capability::MemoryRead),
    }
}

/// True if `reader` may read `memory` (expiry aside): its author, a share whose scope
/// reaches the reader, or a grant from an accepted handoff.
pub fn memory_readable(s: &State, memory: &Memory, reader: &Agent) -> bool {
    if memory.author == reader.id {
        return true;
    }
    if s.grants
        .get(&memory.id)
        .is_some_and(|agents| agents.contains(&reader.id))
    {
        return true;
    }
    memory.pools.iter().any(|pool_id| {
        s.pools.get(pool_id).is_some_and(|pool| {
            pool.shares
                .get(&memory.id)
                .is_some_and(|share| share_visible(s, pool, share, reader))
        })
    })
}

/// The pool `pool_id` if the actor (None = operator) may see it, else not-found.
pub fn visible_pool<'s>(
    s: &'s State,
    actor: Option<&Agent>,
    pool_id: &str,
) -> Result<&'s Pool, Refusal> {
    check_id("pool_id", pool_id)?;
    s.pools
        .get(pool_id)
        .filter(|p| pool_visible(p, actor))
        .ok_or_else(|| Error::not_found("pool", pool_id).into())
}

/// Checks that `agent` may share into `pool` at `scope` and that there is room; shared by
/// `share` and by `memories::store` with a pool.
pub fn check_share(
    cx: &Cx,
    pool: &Pool,
    agent: &Agent,
    memory_id: &str,
    scope: Scope,
) -> Result<(), Refusal> {
    require(agent, Capability::MemoryWrite)?;
    match permission(pool, &agent.id) {
        Some(p) if p >= Permission::Write => {}
        Some(_) => {
            return Err(Error::denied(format!(
                "agent {} has read permission only in pool {}",
                agent.id, pool.id
            ))
            .into());
        }
        None => {
            return Err(Error::denied(format!(
                "agent {} is not a member of pool {}",
                agent.id, pool.id
            ))
            .into());
        }
    }
    if pool.archived {
        return Err(Error::invalid("pool_id", "the pool is archived").into());
    }
    if scope > pool.scope {
        return Err(Error::invalid(
            "scope",
            format!("{scope} is wider than the pool's scope {}", pool.scope),
        )
        .into());
    }
    if !pool.shares.contains_key(memory_id) && pool.shares.len() as u64 >= cx.limits.shares_per_pool
    {
        return Err(Error::capacity("pool-shares", cx.limits.shares_per_pool).into());
    }
    Ok(())
}

/// The memory `memory_id` if `reader` may read it now; not-found if it does not exist or
/// is not readable, expired if its ttl passed.
pub fn readable_memory<'s>(
    s: &'s State,
    reader: &Agent,
    memory_id: &str,
    now: u64,
) -> Result<&'s Memory, Refusal> {
    check_id("memory_id", memory_id)?;
    let memory = s
        .memories
        .get(memory_id)
        .filter(|m| memory_readable(s, m, reader))
        .ok_or_else(|| Error::not_found("memory", memory_id))?;
    if memory.is_expired(now) {
        return Err(Error::Expired(format!("memory {memory_id}")).into());
    }
    Ok(memory)
}

/// Whether `source` may pass `memory` to `target`: it wrote it, or the target can
/// already read it. A memory shared with the source by someone else is not the
/// source's to pass on.
pub fn may_hand_over(s: &State, memory: &Memory, source: &Agent, target: &Agent) -> bool {
    memory.author == source.id || memory_readable(s, memory, target)
}
