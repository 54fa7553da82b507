//! Shared memory pools: membership and shares under the scope rules.

use crate::access::{acting_opt, agent_visible, permission, pool_admin, pool_visible, require};
pub use crate::access::{check_share, visible_pool};
use crate::engine::{Cx, Decided, Done, Refusal, record};
use crate::error::Error;
use crate::events::Event;
use crate::guard::Guard;
use crate::limits::{MAX_NAME, check_id, check_metadata, check_text};
use crate::model::{Capability, Permission, Scope};
use crate::page::{Page, PageRequest, Window};
use crate::state::{Agent, Pool, State};
use serde_json::json;

mod shares;
pub use shares::{MOST_LOOKED_AT, query_shared, share, unshare};

/// What `create` asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolRequest {
    /// Name.
    pub name: String,
    /// Owner user id.
    pub owner_id: String,
    /// Widest share scope.
    pub scope: Scope,
    /// Team label.
    pub team: Option<String>,
    /// Chosen id.
    pub pool_id: Option<String>,
    /// Metadata JSON object.
    pub metadata: Option<String>,
}

/// A pool without its member and share tables.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolView {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Owner user id.
    pub owner_id: String,
    /// Widest share scope.
    pub scope: Scope,
    /// Team label.
    pub team: Option<String>,
    /// Metadata JSON object.
    pub metadata: String,
    /// Archived.
    pub archived: bool,
    /// Members.
    pub member_count: u32,
    /// Shares.
    pub share_count: u32,
    /// Creation time.
    pub created_at: u64,
}

impl PoolView {
    /// The summary of a pool as `reader` (`None`: the operator) sees it: its share count
    /// only to the operator and its admins (0 to others). The count takes in shares a
    /// member may not see (another member's `agent_private`, another owner's `user`,
    /// those of expired memories), and the agents of the pool's owner see the pool
    /// without being members; `query_shared` lists what a member may read.
    pub fn of(p: &Pool, reader: Option<&Agent>) -> Self {
        let counted = reader.is_none_or(|r| permission(p, &r.id) == Some(Permission::Admin));
        PoolView {
            id: p.id.clone(),
            name: p.name.clone(),
            owner_id: p.owner_id.clone(),
            scope: p.scope,
            team: p.team.clone(),
            metadata: p.metadata.clone(),
            archived: p.archived,
            member_count: u32::try_from(p.members.len()).unwrap_or(u32::MAX),
            share_count: if counted {
                u32::try_from(p.shares.len()).unwrap_or(u32::MAX)
            } else {
                0
            },
            created_at: p.created_at,
        }
    }
}

/// A member of a pool.
#[derive(Debug, Clone, PartialEq)]
pub struct MemberView {
    /// Agent id.
    pub agent_id: String,
    /// Permission.
    pub permission: Permission,
    /// Join time.
    pub joined_at: u64,
}

/// A share in a pool.
#[derive(Debug, Clone, PartialEq)]
pub struct ShareView {
    /// Memory id.
    pub memory_id: String,
    /// Pool id.
    pub pool_id: String,
    /// Sharing agent.
    pub shared_by: String,
    /// Scope.
    pub scope: Scope,
    /// Share time.
    pub shared_at: u64,
}

/// Pools not archived: in all, and of `owner`.
fn live_pools(s: &State, owner: &str) -> (u64, u64) {
    s.pools
        .values()
        .filter(|p| !p.archived)
        .fold((0, 0), |(all, own), p| {
            (all + 1, own + u64::from(p.owner_id == owner))
        })
}

/// Decides `create`.
pub fn create(
    s: &State,
    cx: &mut Cx,
    agent_id: Option<&str>,
    req: &PoolRequest,
) -> Decided<String> {
    let actor = cx.acting_opt(s, "agent_id", agent_id)?;
    check_id("owner_id", &req.owner_id)?;
    if let Some(a) = actor {
        require(a, Capability::MemoryWrite)?;
        if a.owner_id != req.owner_id {
            return Err(Error::denied(format!(
                "agent {} may create pools only for its own owner {}",
                a.id, a.owner_id
            ))
            .into());
        }
    }
    check_text("name", &req.name, MAX_NAME, true)?;
    if let Some(team) = &req.team {
        crate::guard::check_chosen_id("team", team)?;
    }
    let metadata = check_metadata("metadata", req.metadata.as_deref())?;
    // A pool's name and metadata are shown to its members and in listings without
    // flags: what would be flagged is refused.
    let mut guard = Guard::unflaggable();
    let name = guard.text("name", &req.name)?;
    let metadata = guard.json("metadata", &metadata)?;
    let id = match &req.pool_id {
        Some(id) => {
            crate::guard::check_chosen_id("pool_id", id)?;
            if s.id_used("pool", id) {
                // The same answer whoever holds the id, audited: it confirms nothing about
                // pools the caller cannot see.
                return Err(Refusal::audited(Error::invalid(
                    "pool_id",
                    "this id cannot be used: pool ids are never reused; omit pool_id to get a fresh one",
                )));
            }
            id.clone()
        }
        None => cx.fresh_id(),
    };
    let (all, own) = live_pools(s, &req.owner_id);
    if all >= cx.limits.pools {
        return Err(Error::capacity("pools", cx.limits.pools).into());
    }
    // One owner may hold only part of them, so it cannot exhaust them for everyone.
    if own >= cx.limits.pools_per_owner {
        return Err(Error::capacity("pools-per-owner", cx.limits.pools_per_owner).into());
    }
    let mut events = vec![Event::PoolCreated {
        id: id.clone(),
        name,
        owner_id: req.owner_id.clone(),
        scope: req.scope,
        team: req.team.clone(),
        metadata,
    }];
    if let Some(a) = actor {
        events.push(Event::MemberJoined {
            pool_id: id.clone(),
            agent_id: a.id.clone(),
            permission: Permission::Admin,
        });
    }
    events.push(Event::Audited(record(
        cx.caller.name(),
        "pool.created",
        Some(&id),
        json!({"owner_id": req.owner_id, "scope": req.scope.as_str(), "acting_agent": actor.map(|a| a.id.as_str()), "notes": guard.notes()}),
    )));
    Ok(Done::change(events, id))
}

/// The calling agent (None for the operator), which must be active.
fn actor<'s>(s: &'s State, cx: &Cx) -> Result<Option<&'s Agent>, Refusal> {
    Ok(acting_opt(s, cx.caller, "caller", None)?)
}

/// Decides `get`.
pub fn get(s: &State, cx: &mut Cx, pool_id: &str) -> Decided<PoolView> {
    let me = actor(s, cx)?;
    let pool = visible_pool(s, me, pool_id)?;
    Ok(Done::read(
        record(cx.caller.name(), "pool.read", Some(pool_id), json!({})),
        PoolView::of(pool, me),
    ))
}

/// Decides `list`.
pub fn list(
    s: &State,
    cx: &mut Cx,
    owner_id: Option<&str>,
    req: &PageRequest,
) -> Decided<Page<PoolView>> {
    if let Some(o) = owner_id {
        check_id("owner_id", o)?;
    }
    let me = actor(s, cx)?;
    let window = Window::new("pools", req)?;
    let mut pools: Vec<&Pool> = s
        .pools
        .values()
        .filter(|p| {
            window.admits(p.n) && owner_id.is_none_or(|o| p.owner_id == o) && pool_visible(p, me)
        })
        .collect();
    pools.sort_by_key(|p| p.n);
    let page = window.take(pools.into_iter().map(|p| (p.n, p)));
    let ids: Vec<&str> = page.items.iter().map(|p| p.id.as_str()).collect();
    let views = page.map(|p| PoolView::of(p, me));
    Ok(Done::read(
        record(
            cx.caller.name(),
            "pool.listed",
            owner_id,
            json!({ "ids": ids }),
        ),
        views,
    ))
}

/// Decides `join`.
pub fn join(
    s: &State,
    cx: &mut Cx,
    pool_id: &str,
    agent_id: &str,
    perm: Permission,
) -> Decided<MemberView> {
    let me = actor(s, cx)?;
    let pool = visible_pool(s, me, pool_id)?;
    check_id("agent_id", agent_id)?;
    let is_admin = pool_admin(pool, me);
    let of_owner = me.is_some_and(|a| a.owner_id == pool.owner_id);
    if !is_admin && !of_owner {
        return Err(Error::denied(format!(
            "{} may not add members to pool {pool_id}: only the operator, its admins and agents of its owner",
            cx.caller.name()
        ))
        .into());
    }
    let existing = permission(pool, agent_id);
    if !is_admin && (perm == Permission::Admin || existing == Some(Permission::Admin)) {
        return Err(
            Error::denied("only the operator or a pool admin grants or changes admin").into(),
        );
    }
    if pool.archived {
        return Err(Error::invalid("pool_id", "the pool is archived").into());
    }
    // An agent of another owner, a deactivated one and a missing one answer alike to
    // a caller that may not see agents of that owner.
    let target = s
        .agents
        .get(agent_id)
        .filter(|t| t.active || agent_visible(s, cx.caller, t))
        .ok_or_else(|| Error::not_found("agent", agent_id))?;
    if !target.active {
        return Err(Error::invalid("agent_id", format!("agent {agent_id} is deactivated")).into());
    }
    if let (false, Some(me)) = (is_admin, me) {
        // Not an admin, so an agent of the pool's owner: adding a member or a writer is
        // a write (joining to read is not), reaches only its owner's agents, and another
        // member's permission is the admins'.
        if agent_id != me.id || perm != Permission::Read {
            require(me, Capability::MemoryWrite)?;
        }
        if target.owner_id != pool.owner_id {
            return Err(Error::denied(format!(
                "only the operator or a pool admin adds agents of another owner to pool {pool_id}"
            ))
            .into());
        }
        if existing.is_some_and(|p| p != perm) && agent_id != me.id {
            return Err(Error::denied(
                "only the operator or a pool admin changes another member's permission",
            )
            .into());
        }
    }
    if existing.is_none() && pool.members.len() as u64 >= cx.limits.members_per_pool {
        return Err(Error::capacity("pool-members", cx.limits.members_per_pool).into());
    }
    let joined_at = pool.members.get(agent_id).map_or(cx.now, |m| m.joined_at);
    Ok(Done::change(
        vec![
            Event::MemberJoined {
                pool_id: pool_id.to_string(),
                agent_id: agent_id.to_string(),
                permission: perm,
            },
            Event::Audited(record(
                cx.caller.name(),
                "pool.joined",
                Some(pool_id),
                json!({"agent_id": agent_id, "permission": perm.as_str()}),
            )),
        ],
        MemberView {
            agent_id: agent_id.to_string(),
            permission: perm,
            joined_at,
        },
    ))
}

fn member_left(cx: &Cx, pool_id: &str, agent_id: &str, event_type: &str) -> Vec<Event> {
    vec![
        Event::MemberLeft {
            pool_id: pool_id.to_string(),
            agent_id: agent_id.to_string(),
        },
        Event::Audited(record(
            cx.caller.name(),
            event_type,
            Some(pool_id),
            json!({ "agent_id": agent_id }),
        )),
    ]
}

/// Decides `leave`.
pub fn leave(s: &State, cx: &mut Cx, pool_id: &str, agent_id: &str) -> Decided<()> {
    let agent = cx.acting(s, "agent_id", agent_id)?;
    let pool = visible_pool(s, Some(agent), pool_id)?;
    if !pool.members.contains_key(agent_id) {
        return Err(Error::not_found("member", &format!("{agent_id} of pool {pool_id}")).into());
    }
    Ok(Done::change(
        member_left(cx, pool_id, agent_id, "pool.left"),
        (),
    ))
}

/// Decides `remove-member`.
pub fn remove_member(
    s: &State,
    cx: &mut Cx,
    pool_id: &str,
    acting_agent: Option<&str>,
    member_id: &str,
) -> Decided<()> {
    let me = cx.acting_opt(s, "acting_agent_id", acting_agent)?;
    let pool = visible_pool(s, me, pool_id)?;
    check_id("member_id", member_id)?;
    if !pool_admin(pool, me) {
        return Err(Error::denied(format!(
            "only the operator or an admin of pool {pool_id} removes members"
        ))
        .into());
    }
    if !pool.members.contains_key(member_id) {
        return Err(Error::not_found("member", &format!("{member_id} of pool {pool_id}")).into());
    }
    Ok(Done::change(
        member_left(cx, pool_id, member_id, "pool.member_removed"),
        (),
    ))
}

/// Decides `members`.
pub fn members(
    s: &State,
    cx: &mut Cx,
    pool_id: &str,
    req: &PageRequest,
) -> Decided<Page<MemberView>> {
    let pool = visible_pool(s, actor(s, cx)?, pool_id)?;
    let window = Window::new("members", req)?;
    let mut members: Vec<(&String, &crate::state::Member)> = pool
        .members
        .iter()
        .filter(|(_, m)| window.admits(m.n))
        .collect();
    members.sort_by_key(|(_, m)| m.n);
    let page = window.take(members.into_iter().map(|(id, m)| (m.n, (id, m))));
    let ids: Vec<&str> = page.items.iter().map(|(id, _)| id.as_str()).collect();
    let rec = record(
        cx.caller.name(),
        "pool.members_listed",
        Some(pool_id),
        json!({ "ids": ids }),
    );
    let views = page.map(|(id, m)| MemberView {
        agent_id: id.clone(),
        permission: m.permission,
        joined_at: m.joined_at,
    });
    Ok(Done::read(rec, views))
}

/// The pool and a check that the actor administers it; shared by archive and delete.
fn administered<'s>(
    s: &'s State,
    cx: &mut Cx,
    pool_id: &str,
    acting_agent: Option<&str>,
) -> Result<&'s Pool, Refusal> {
    let me = cx.acting_opt(s, "acting_agent_id", acting_agent)?;
    let pool = visible_pool(s, me, pool_id)?;
    if !pool_admin(pool, me) {
        return Err(Error::denied(format!(
            "only the operator or an admin of pool {pool_id} may do this"
        ))
        .into());
    }
    Ok(pool)
}

/// Decides `archive`.
pub fn archive(s: &State, cx: &mut Cx, pool_id: &str, acting_agent: Option<&str>) -> Decided<()> {
    let pool = administered(s, cx, pool_id, acting_agent)?;
    if pool.archived {
        return Err(Error::invalid("pool_id", "the pool is already archived").into());
    }
    Ok(Done::change(
        vec![
            Event::PoolArchived {
                id: pool_id.to_string(),
            },
            Event::Audited(record(
                cx.caller.name(),
                "pool.archived",
                Some(pool_id),
                json!({}),
            )),
        ],
        (),
    ))
}

/// Decides `delete`.
pub fn delete(s: &State, cx: &mut Cx, pool_id: &str, acting_agent: Option<&str>) -> Decided<()> {
    let pool = administered(s, cx, pool_id, acting_agent)?;
    Ok(Done::change(
        vec![
            Event::PoolDeleted {
                id: pool_id.to_string(),
                members: pool.members.keys().cloned().collect(),
            },
            Event::Audited(record(
                cx.caller.name(),
                "pool.deleted",
                Some(pool_id),
                json!({}),
            )),
        ],
        (),
    ))
}
