//! The memory store: write validation, read access, versions and ranked search.

use crate::access::{acting, memory_readable, require};
use crate::engine::{Cx, Decided, Done, Refusal, record};
use crate::error::Error;
use crate::events::Event;
use crate::limits::{
    MAX_CONTENT, MAX_MEMORY_TTL_SECONDS, MAX_TAG, MAX_TAGS, check_id, check_limit, check_query,
    check_text,
};
use crate::model::{Capability, MemoryKind, Scope};
use crate::pools::{check_share, visible_pool};
use crate::security;
use crate::state::{Agent, Memory, State};
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

/// A memory as returned to a reader.
#[derive(Debug, Clone, PartialEq)]
pub struct MemoryView {
    /// Id.
    pub id: String,
    /// Author.
    pub author: String,
    /// Kind.
    pub kind: MemoryKind,
    /// Content; secrets redacted unless the reader is the author.
    pub content: String,
    /// Tags.
    pub tags: Vec<String>,
    /// Version.
    pub version: u64,
    /// Creation time.
    pub created_at: u64,
    /// Last change.
    pub updated_at: u64,
    /// Expiry.
    pub expires_at: Option<u64>,
}

impl MemoryView {
    /// The memory as `reader` sees it: others get secrets redacted.
    pub fn for_reader(m: &Memory, reader: &str) -> Self {
        let (content, tags) = if m.author == reader {
            (m.content.clone(), m.tags.clone())
        } else {
            let tags = m.tags.iter().map(|t| security::redact_secrets(t)).collect();
            (security::redact_secrets(&m.content), tags)
        };
        MemoryView {
            id: m.id.clone(),
            author: m.author.clone(),
            kind: m.kind,
            content,
            tags,
            version: m.version,
            created_at: m.created_at,
            updated_at: m.updated_at,
            expires_at: m.expires_at,
        }
    }
}

/// The memory `memory_id` if `reader` may read it now; not-found if it does not exist or
/// is not readable, expired if its ttl passed.
pub fn readable<'s>(
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

/// Checks content: bounds, then the injection classes (refused and audited).
fn check_content(content: &str) -> Result<(), Refusal> {
    check_text("content", content, MAX_CONTENT, true)?;
    let threats = security::threats(content);
    if !threats.is_empty() {
        let classes: Vec<&str> = threats.iter().map(|t| t.as_str()).collect();
        return Err(Refusal::audited(Error::invalid(
            "content",
            format!("suspicious content refused ({})", classes.join(", ")),
        )));
    }
    Ok(())
}

/// Checks text as memory content (bounds and injection classes), as `store` does.
pub fn validate_content(content: &str) -> crate::Result<()> {
    check_content(content).map_err(|r| r.error)
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
    let agent = acting(s, cx.caller, "agent_id", &req.agent_id)?;
    require(agent, Capability::MemoryWrite)?;
    check_content(&req.content)?;
    check_tags(&req.tags)?;
    let id = match &req.memory_id {
        Some(id) => {
            check_id("memory_id", id)?;
            if s.id_used("memory", id) {
                return Err(Error::invalid("memory_id", format!("memory id {id} is taken")).into());
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
    if s.memories.len() as u64 >= cx.limits.memories {
        return Err(Error::capacity("memories", cx.limits.memories).into());
    }
    let mut events = vec![Event::MemoryStored {
        id: id.clone(),
        author: agent.id.clone(),
        kind: req.kind,
        content: req.content.clone(),
        tags: req.tags.clone(),
        expires_at,
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
        }),
    )));
    Ok(Done::change(events, id))
}

/// Decides `get`.
pub fn get(s: &State, cx: &mut Cx, agent_id: &str, memory_id: &str) -> Decided<MemoryView> {
    let agent = acting(s, cx.caller, "agent_id", agent_id)?;
    require(agent, Capability::MemoryRead)?;
    let memory = readable(s, agent, memory_id, cx.now)?;
    Ok(Done::read(
        record(
            cx.caller.name(),
            "memory.read",
            Some(memory_id),
            json!({ "agent_id": agent_id }),
        ),
        MemoryView::for_reader(memory, agent_id),
    ))
}

/// Decides `update`.
pub fn update(s: &State, cx: &mut Cx, req: &UpdateRequest) -> Decided<()> {
    let agent = acting(s, cx.caller, "agent_id", &req.agent_id)?;
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
    if let Some(content) = &req.content {
        check_content(content)?;
    }
    if let Some(tags) = &req.tags {
        check_tags(tags)?;
    }
    Ok(Done::change(
        vec![
            Event::MemoryUpdated {
                id: req.memory_id.clone(),
                content: req
                    .content
                    .clone()
                    .unwrap_or_else(|| memory.content.clone()),
                tags: req.tags.clone().unwrap_or_else(|| memory.tags.clone()),
                kind: req.kind.unwrap_or(memory.kind),
            },
            Event::Audited(record(
                cx.caller.name(),
                "memory.updated",
                Some(&req.memory_id),
                json!({"agent_id": agent.id, "version": memory.version + 1}),
            )),
        ],
        (),
    ))
}

/// Decides `delete`.
pub fn delete(s: &State, cx: &mut Cx, agent_id: &str, memory_id: &str) -> Decided<()> {
    let agent = acting(s, cx.caller, "agent_id", agent_id)?;
    check_id("memory_id", memory_id)?;
    let memory = s
        .memories
        .get(memory_id)
        .filter(|m| memory_readable(s, m, agent))
        .ok_or_else(|| Error::not_found("memory", memory_id))?;
    if memory.author != agent.id {
        require(agent, Capability::MemoryDelete)?;
    }
    Ok(Done::change(
        vec![
            Event::MemoryDeleted {
                id: memory_id.to_string(),
            },
            Event::Audited(record(
                cx.caller.name(),
                "memory.deleted",
                Some(memory_id),
                json!({"agent_id": agent_id, "author": memory.author}),
            )),
        ],
        (),
    ))
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
    let agent = acting(s, cx.caller, "agent_id", agent_id)?;
    require(agent, Capability::MemoryRead)?;
    check_query(query)?;
    let limit = check_limit(limit)?;
    let now = cx.now;
    // The index holds only numbers that fit in u32 (larger ones are never indexed), and
    // so does the reader's set: one bitmap is the whole visibility check.
    let readable = visibility::readable_by(s, agent, now);
    let hits: Vec<MemoryHit> = s
        .memory_index
        .search(query, limit, &readable)
        .into_iter()
        .filter_map(|(n, score)| {
            let m = s.memory_by_n.get(&n).and_then(|id| s.memories.get(id))?;
            Some(MemoryHit {
                memory: MemoryView::for_reader(m, agent_id),
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
