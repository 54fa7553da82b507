//! Shares: sharing a memory into a pool, removing a share, and listing what a member may see.

use super::ShareView;
use crate::access::{
    check_share, pool_admin, readable_memory, require, share_visible, visible_pool,
};
use crate::engine::{Cx, Decided, Done, record};
use crate::error::Error;
use crate::events::Event;
use crate::limits::check_id;
use crate::model::{Caller, Capability, Scope};
use crate::page::{Page, PageRequest, Window};
use crate::state::State;
use serde_json::json;
use std::ops::Bound;

/// Decides `share`.
pub fn share(
    s: &State,
    cx: &mut Cx,
    pool_id: &str,
    memory_id: &str,
    agent_id: &str,
    scope: Scope,
) -> Decided<ShareView> {
    let agent = cx.acting(s, "agent_id", agent_id)?;
    let pool = visible_pool(s, Some(agent), pool_id)?;
    let memory = readable_memory(s, agent, memory_id, cx.now)?;
    if memory.author != agent.id {
        return Err(
            Error::denied(format!("only the author of memory {memory_id} shares it")).into(),
        );
    }
    check_share(cx, pool, agent, memory_id, scope)?;
    let shared_at = pool.shares.get(memory_id).map_or(cx.now, |sh| sh.shared_at);
    Ok(Done::change(
        vec![
            Event::MemoryShared {
                pool_id: pool_id.to_string(),
                memory_id: memory_id.to_string(),
                shared_by: agent_id.to_string(),
                scope,
            },
            Event::Audited(record(
                cx.caller.name(),
                "memory.shared",
                Some(memory_id),
                json!({"pool_id": pool_id, "scope": scope.as_str(), "agent_id": agent_id}),
            )),
        ],
        ShareView {
            memory_id: memory_id.to_string(),
            pool_id: pool_id.to_string(),
            shared_by: agent_id.to_string(),
            scope,
            shared_at,
        },
    ))
}

/// Decides `unshare`.
pub fn unshare(
    s: &State,
    cx: &mut Cx,
    pool_id: &str,
    memory_id: &str,
    agent_id: &str,
) -> Decided<()> {
    let agent = cx.acting(s, "agent_id", agent_id)?;
    // The operator removes any share, whichever agent it names.
    let operator = *cx.caller == Caller::Operator;
    let pool = visible_pool(s, (!operator).then_some(agent), pool_id)?;
    check_id("memory_id", memory_id)?;
    let manages = operator || pool_admin(pool, Some(agent));
    let share = pool
        .shares
        .get(memory_id)
        .filter(|sh| manages || share_visible(s, pool, sh, agent))
        .ok_or_else(|| Error::not_found("share", &format!("{memory_id} in pool {pool_id}")))?;
    if share.shared_by != agent.id && !manages {
        return Err(Error::denied("only the sharer or a pool admin removes a share").into());
    }
    Ok(Done::change(
        vec![
            Event::MemoryUnshared {
                pool_id: pool_id.to_string(),
                memory_id: memory_id.to_string(),
                shared_by: Some(share.shared_by.clone()),
                scope: Some(share.scope),
            },
            Event::Audited(record(
                cx.caller.name(),
                "memory.unshared",
                Some(memory_id),
                json!({"pool_id": pool_id, "agent_id": agent_id}),
            )),
        ],
        (),
    ))
}

/// Most shares one page of `query-shared` looks at: a page holding fewer than its
/// limit has a next page if it stopped here. 66,000 shares of another owner's at `user`
/// scope in a pool made every page walk and sort them all (38-53 ms).
pub const MOST_LOOKED_AT: usize = 4096;

/// Decides `query-shared`.
pub fn query_shared(
    s: &State,
    cx: &mut Cx,
    pool_id: &str,
    agent_id: &str,
    max_scope: Scope,
    req: &PageRequest,
) -> Decided<Page<ShareView>> {
    let agent = cx.acting(s, "agent_id", agent_id)?;
    require(agent, Capability::MemoryRead)?;
    let pool = visible_pool(s, Some(agent), pool_id)?;
    if !pool.members.contains_key(agent_id) {
        return Err(Error::denied(format!(
            "agent {agent_id} is not a member of pool {pool_id}"
        ))
        .into());
    }
    let window = Window::new("shared", req)?;
    // In share order from the cursor, each share looked at once: a page stops at its
    // limit, or after `MOST_LOOKED_AT` shares this agent may not see.
    let looked_at = pool.share_order.range((window.start(), Bound::Unbounded));
    let shares = window.scan(
        looked_at.map(|(&n, memory_id)| {
            let shown = pool.shares.get(memory_id).filter(|sh| {
                sh.scope <= max_scope
                    && share_visible(s, pool, sh, agent)
                    && s.memories
                        .get(memory_id)
                        .is_some_and(|m| !m.is_expired(cx.now))
            });
            let view = shown.map(|sh| ShareView {
                memory_id: memory_id.clone(),
                pool_id: pool_id.to_string(),
                shared_by: sh.shared_by.clone(),
                scope: sh.scope,
                shared_at: sh.shared_at,
            });
            (n, view)
        }),
        MOST_LOOKED_AT,
    );
    let ids: Vec<&str> = shares.items.iter().map(|v| v.memory_id.as_str()).collect();
    let rec = record(
        cx.caller.name(),
        "pool.queried",
        Some(pool_id),
        json!({"agent_id": agent_id, "max_scope": max_scope.as_str(), "ids": ids}),
    );
    Ok(Done::read(rec, shares))
}
