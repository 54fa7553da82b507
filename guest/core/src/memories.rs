//! The memory store: write validation, read access, versions and ranked search.

pub use crate::access::readable_memory as readable;
use crate::access::{check_share, memory_readable, require, visible_pool};
use crate::engine::{Cx, Decided, Done, Refusal, record};
use crate::error::Error;
use crate::events::Event;
use crate::guard::Guard;
use crate::limits::{
    MAX_CONTENT, MAX_MEMORY_TTL_SECONDS, MAX_TAG, MAX_TAGS, check_id, check_limit, check_query,
    check_text,
};
use crate::model::{Caller, Capability, MemoryKind, Scope};
use crate::security;
use crate::state::{State, memory_text_bytes};
pub use crate::views::MemoryView;
use crate::visibility;
use serde_json::json;

/// What `store` asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreRequest {
    /// The acting agent (the author).
    pub agent_id: String,
    /// Content.
    pub content: String,
    /// Kind.
    pub kind: MemoryKind,
    /// Tags.
    pub tags: Vec<String>,
    /// Chosen id.
    pub memory_id: Option<String>,
    /// Share into this pool right away.
    pub pool_id: Option<String>,
    /// At this scope (default: the pool's).
    pub scope: Option<Scope>,
    /// Seconds to live.
    pub ttl_seconds: Option<u64>,
}

/// What `update` changes.
#[derive(Debug, Clone, PartialEq)]
pub struct UpdateRequest {
    /// The acting agent.
    pub agent_id: String,
    /// Memory id.
    pub memory_id: String,
    /// New content.
    pub content: Option<String>,
    /// New tags.
    pub tags: Option<Vec<String>>,
    /// New kind.
    pub kind: Option<MemoryKind>,
    /// The version last seen.
    pub expected_version: u64,
}

/// Checks content's bounds.
fn check_content(content: &str) -> Result<(), Refusal> {
    check_text("content", content, MAX_CONTENT, true)?;
    Ok(())
}

/// Checks text as memory content (bounds, and injection refused as `store` refuses it);
/// returns the notes a stored copy would carry (redactions and flags).
pub fn validate_content(content: &str) -> crate::Result<crate::guard::Notes> {
    check_content(content).map_err(|r| r.error)?;
    let mut guard = Guard::new();
    guard.text("content", content).map_err(|r| r.error)?;
    Ok(guard.notes())
}

fn check_tags(tags: &[String]) -> Result<(), Refusal> {
    if tags.len() > MAX_TAGS {
        return Err(Error::invalid("tags", format!("at most {MAX_TAGS} tags")).into());
    }
    for (i, tag) in tags.iter().enumerate() {
        let field = format!("tags[{i}]");
        check_text(&field, tag, MAX_TAG, true)?;
        if tag.chars().any(char::is_control) {
            return Err(Error::invalid(field, "must not contain control characters").into());
        }
    }
    Ok(())
}

/// Decides `store`.
pub fn store(s: &State, cx: &mut Cx, req: &StoreRequest) -> Decided<String> {
    let agent = cx.acting(s, "agent_id", &req.agent_id)?;
    require(agent, Capability::MemoryWrite)?;
    check_content(&req.content)?;
    check_tags(&req.tags)?;
    // Capacities first: the gate below is the costly part of a store, and a refusal
    // that the counts decide costs nothing (the text's own check follows the gate,
    // which may change its size; an owner with no room at all is refused here).
    if s.memories.len() as u64 >= cx.limits.memories {
        return Err(Error::capacity("memories", cx.limits.memories).into());
    }
    if s.visibility.owner_memories(&agent.owner_id) >= cx.limits.memories_per_owner {
        return Err(Error::capacity("memories-per-owner", cx.limits.memories_per_owner).into());
    }
    check_owner_text(s, cx, &agent.owner_id, 0, 1)?;
    let mut guard = Guard::new();
    let content = guard.text("content", &req.content)?;
    let tags = guard.list("tags", &req.tags)?;
    let id = match &req.memory_id {
        Some(id) => {
            crate::guard::check_chosen_id("memory_id", id)?;
            if s.id_used("memory", id) {
                // One answer whether the id is this agent's, another owner's or a
                // deleted memory's, so the refusal confirms nothing about memories the
                // caller cannot read; repeated probing shows in the audit trail.
                return Err(Refusal::audited(Error::invalid(
                    "memory_id",
                    "this id cannot be used: memory ids are never reused; omit memory_id to get a fresh one",
                )));
            }
            id.clone()
        }
        None => cx.fresh_id(),
    };
    let expires_at = match req.ttl_seconds {
        None => None,
        Some(t) if (1..=MAX_MEMORY_TTL_SECONDS).contains(&t) => {
            Some(cx.now.saturating_add(t * 1000))
        }
        Some(_) => {
            return Err(Error::invalid(
                "ttl_seconds",
                format!("must be 1..={MAX_MEMORY_TTL_SECONDS}"),
            )
            .into());
        }
    };
    let share = match (&req.pool_id, req.scope) {
        (None, None) => None,
        (None, Some(_)) => return Err(Error::invalid("scope", "a scope needs a pool_id").into()),
        (Some(pool_id), scope) => {
            let pool = visible_pool(s, Some(agent), pool_id)?;
            let scope = scope.unwrap_or(pool.scope);
            check_share(cx, pool, agent, &id, scope)?;
            Some((pool_id.clone(), scope))
        }
    };
    check_owner_text(
        s,
        cx,
        &agent.owner_id,
        0,
        memory_text_bytes(&content, &tags),
    )?;
    let mut events = vec![Event::MemoryStored {
        id: id.clone(),
        author: agent.id.clone(),
        kind: req.kind,
        content,
        tags,
        expires_at,
        notes: guard.notes().boxed(),
        gated: true,
    }];
    if let Some((pool_id, scope)) = &share {
        events.push(Event::MemoryShared {
            pool_id: pool_id.clone(),
            memory_id: id.clone(),
            shared_by: agent.id.clone(),
            scope: *scope,
        });
    }
    events.push(Event::Audited(record(
        cx.caller.name(),
        "memory.stored",
        Some(&id),
        json!({
            "agent_id": agent.id,
            "kind": req.kind.as_str(),
            "pool_id": share.as_ref().map(|(p, _)| p),
            "scope": share.as_ref().map(|(_, sc)| sc.as_str()),
            "notes": guard.notes(),
        }),
    )));
    Ok(Done::change(events, id))
}

/// Decides `get`.
pub fn get(s: &State, cx: &mut Cx, agent_id: &str, memory_id: &str) -> Decided<MemoryView> {
    let agent = cx.acting(s, "agent_id", agent_id)?;
    require(agent, Capability::MemoryRead)?;
    let memory = readable(s, agent, memory_id, cx.now)?;
    Ok(Done::read(
        record(
            cx.caller.name(),
            "memory.read",
            Some(memory_id),
            json!({ "agent_id": agent_id }),
        ),
        MemoryView::of(s, memory),
    ))
}

/// Refuses text that would take `owner` past its share of text
/// ([`Limits::text_bytes_per_owner`](crate::limits::Limits)) when `new` bytes replace
/// `old`; shrinking is always allowed.
pub(crate) fn check_owner_text(
    s: &State,
    cx: &Cx,
    owner: &str,
    old: u64,
    new: u64,
) -> Result<(), Refusal> {
    let held = s.text_by_owner.get(owner).copied().unwrap_or(0);
    let limit = cx.limits.text_bytes_per_owner;
    if new > old && held.saturating_sub(old).saturating_add(new) > limit {
        return Err(Error::capacity("text-bytes-per-owner", limit).into());
    }
    Ok(())
}

/// Decides `update`.
pub fn update(s: &State, cx: &mut Cx, req: &UpdateRequest) -> Decided<()> {
    let agent = cx.acting(s, "agent_id", &req.agent_id)?;
    require(agent, Capability::MemoryWrite)?;
    let memory = readable(s, agent, &req.memory_id, cx.now)?;
    if memory.author != agent.id {
        return Err(
            Error::denied(format!("only the author updates memory {}", req.memory_id)).into(),
        );
    }
    if memory.version != req.expected_version {
        return Err(Error::Conflict(memory.version).into());
    }
    if req.content.is_none() && req.tags.is_none() && req.kind.is_none() {
        // A new version that changes nothing would still tell every reader it changed.
        return Err(Error::invalid(
            "content",
            "nothing to change: give new content, tags or a memory type",
        )
        .into());
    }
    if let Some(content) = &req.content {
        check_content(content)?;
    }
    if let Some(tags) = &req.tags {
        check_tags(tags)?;
    }
    let mut guard = Guard::new();
    let content = match &req.content {
        Some(c) => guard.text("content", c)?,
        None => memory.content.clone(),
    };
    let tags = match &req.tags {
        Some(t) => guard.list("tags", t)?,
        None => memory.tags.clone(),
    };
    check_owner_text(
        s,
        cx,
        &agent.owner_id,
        memory_text_bytes(&memory.content, &memory.tags),
        memory_text_bytes(&content, &tags),
    )?;
    // What is kept keeps its notes; what is replaced gets the new text's.
    let mut notes = guard.notes();
    if req.content.is_none() || req.tags.is_none() {
        let old = memory.notes.as_deref().cloned().unwrap_or_default();
        notes = notes.merged(old);
    }
    Ok(Done::change(
        vec![
            Event::MemoryUpdated {
                id: req.memory_id.clone(),
                content,
                tags,
                kind: req.kind.unwrap_or(memory.kind),
                notes: notes.clone().boxed(),
                gated: true,
            },
            Event::Audited(record(
                cx.caller.name(),
                "memory.updated",
                Some(&req.memory_id),
                json!({"agent_id": agent.id, "version": memory.version + 1, "notes": notes}),
            )),
        ],
        (),
    ))
}

/// Decides `delete`.
pub fn delete(s: &State, cx: &mut Cx, agent_id: &str, memory_id: &str) -> Decided<()> {
    let agent = cx.acting(s, "agent_id", agent_id)?;
    check_id("memory_id", memory_id)?;
    let memory = s
        .memories
        .get(memory_id)
        .filter(|m| memory_readable(s, m, agent))
        .ok_or_else(|| Error::not_found("memory", memory_id))?;
    if memory.author != agent.id {
        require(agent, Capability::MemoryDelete)?;
        // memory_delete moderates within an owner: a memory shared by another owner
        // is theirs to remove, whatever this agent's capabilities.
        let same_owner = s
            .agents
            .get(&memory.author)
            .is_some_and(|author| author.owner_id == agent.owner_id);
        if !same_owner && *cx.caller != Caller::Operator {
            return Err(Refusal::audited(Error::denied(format!(
                "memory {memory_id} belongs to another owner; only its author's owner may delete it"
            ))));
        }
    }
    // The shares go first, one event each, so the change feed can tell whoever saw one.
    let mut events: Vec<Event> = memory
        .pools
        .iter()
        .filter_map(|pool_id| {
            let share = s.pools.get(pool_id)?.shares.get(memory_id)?;
            Some(Event::MemoryUnshared {
                pool_id: pool_id.clone(),
                memory_id: memory_id.to_string(),
                shared_by: Some(share.shared_by.clone()),
                scope: Some(share.scope),
            })
        })
        .collect();
    events.push(Event::MemoryDeleted {
        id: memory_id.to_string(),
    });
    events.push(Event::Audited(record(
        cx.caller.name(),
        "memory.deleted",
        Some(memory_id),
        json!({"agent_id": agent_id, "author": memory.author}),
    )));
    Ok(Done::change(events, ()))
}

/// A ranked memory.
#[derive(Debug, Clone, PartialEq)]
pub struct MemoryHit {
    /// The memory as the reader sees it.
    pub memory: MemoryView,
    /// BM25 score.
    pub score: f64,
}

/// Decides `search`.
pub fn search(
    s: &State,
    cx: &mut Cx,
    agent_id: &str,
    query: &str,
    limit: u32,
) -> Decided<Vec<MemoryHit>> {
    let agent = cx.acting(s, "agent_id", agent_id)?;
    require(agent, Capability::MemoryRead)?;
    check_query(query)?;
    let limit = check_limit(limit)?;
    let now = cx.now;
    // The index holds only numbers that fit in u32 (larger ones are never indexed), and
    // so does the reader's set: one bitmap is the whole visibility check.
    // BM25's norms are counted over the same set, so what the reader may not read moves
    // no score of what it may.
    let readable = visibility::readable_by(s, agent, now);
    let norms = visibility::readable_norms(s, agent, &readable);
    let hits: Vec<MemoryHit> = s
        .memory_index
        .search_normed(query, limit, &readable, norms)
        .into_iter()
        .filter_map(|(n, score)| {
            let m = s.memory_by_n.get(&n).and_then(|id| s.memories.get(id))?;
            Some(MemoryHit {
                memory: MemoryView::of(s, m),
                score,
            })
        })
        .collect();
    let ids: Vec<&str> = hits.iter().map(|h| h.memory.id.as_str()).collect();
    let analysis = security::analyze_query(query);
    let rec = record(
        cx.caller.name(),
        "memory.searched",
        None,
        json!({
            "agent_id": agent_id,
            "ids": ids,
            "query_score": analysis.score,
            "query_flags": analysis.reasons,
        }),
    );
    Ok(Done::read(rec, hits))
}
