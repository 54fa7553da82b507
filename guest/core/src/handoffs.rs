//! Task handoffs and their lifecycle.

use crate::access::{agent_visible, caller_agent, may_hand_over, readable_memory, require};
use crate::engine::{Cx, Decided, Done, Refusal, record};
use crate::error::Error;
use crate::events::Event;
use crate::guard::{Guard, Notes};
use crate::limits::{
    DEFAULT_HANDOFF_TTL_SECONDS, MAX_HANDOFF_TTL_SECONDS, MAX_JSON, MAX_PATH, MAX_REFS, MAX_TASK,
    check_id, check_json, check_text,
};
use crate::memories::check_owner_text;
use crate::model::{Caller, Capability, HandoffStatus};
use crate::page::{Page, PageRequest, Window};
use crate::state::{HANDOFF_RECORD_BYTES, Handoff, HandoffContext, State, handoff_context_bytes};
use crate::views::MemoryView;
use serde_json::json;
use std::ops::Bound;

mod lifecycle;
pub use lifecycle::{
    accept, accepted_view, cancel, complete, provide_input, reject, request_input,
};

/// Most due handoffs marked expired in the journal by one initiate.
const EXPIRE_PER_CHANGE: usize = 64;

/// A handoff as returned, with its status at the time of the call.
#[derive(Debug, Clone, PartialEq)]
pub struct HandoffView {
    /// Id.
    pub id: String,
    /// Source agent.
    pub source_agent_id: String,
    /// Target agent.
    pub target_agent_id: String,
    /// Context.
    pub context: HandoffContext,
    /// Effective status.
    pub status: HandoffStatus,
    /// Creation time.
    pub created_at: u64,
    /// Expiry time.
    pub expires_at: u64,
    /// Last change (for an expired handoff, its expiry).
    pub updated_at: u64,
    /// Result JSON.
    pub result: Option<String>,
    /// Rejection reason.
    pub reason: Option<String>,
    /// The target's last question to the source.
    pub question: Option<String>,
    /// The source's answer to it.
    pub answer: Option<String>,
    /// What the write gate redacted or flagged.
    pub notes: Notes,
}

impl HandoffView {
    /// The handoff as seen at `now`.
    pub fn at(h: &Handoff, now: u64) -> Self {
        let status = h.status_at(now);
        HandoffView {
            id: h.id.clone(),
            source_agent_id: h.source.clone(),
            target_agent_id: h.target.clone(),
            context: h.context.clone(),
            status,
            created_at: h.created_at,
            expires_at: h.expires_at,
            updated_at: if status == HandoffStatus::Expired && h.status == HandoffStatus::Pending {
                h.expires_at
            } else {
                h.updated_at
            },
            result: h.result.clone(),
            reason: h.reason.clone(),
            question: h.question.clone(),
            answer: h.answer.clone(),
            notes: h.notes.as_deref().cloned().unwrap_or_default(),
        }
    }
}

/// What `accept` returns.
#[derive(Debug, Clone, PartialEq)]
pub struct AcceptedHandoff {
    /// The handoff, now accepted.
    pub handoff: HandoffView,
    /// The referenced memories the target may read.
    pub memories: Vec<MemoryView>,
    /// The referenced memories it was not granted: deleted, expired, or no longer
    /// readable by the source when the handoff was accepted.
    pub dropped: Vec<String>,
}

fn check_context(ctx: &HandoffContext, guard: &mut Guard) -> Result<HandoffContext, Refusal> {
    check_text("task_description", &ctx.task_description, MAX_TASK, true)?;
    let current_state = check_json("current_state", Some(&ctx.current_state), MAX_JSON)?;
    let task_description = guard.text("task_description", &ctx.task_description)?;
    let current_state = guard.json("current_state", &current_state)?;
    if ctx.relevant_memories.len() > MAX_REFS {
        return Err(Error::invalid("relevant_memories", format!("at most {MAX_REFS} ids")).into());
    }
    for (i, id) in ctx.relevant_memories.iter().enumerate() {
        check_id(&format!("relevant_memories[{i}]"), id)?;
    }
    if ctx.relevant_files.len() > MAX_REFS {
        return Err(Error::invalid("relevant_files", format!("at most {MAX_REFS} paths")).into());
    }
    for (i, path) in ctx.relevant_files.iter().enumerate() {
        check_text(&format!("relevant_files[{i}]"), path, MAX_PATH, true)?;
    }
    let mut memories = ctx.relevant_memories.clone();
    let mut seen = std::collections::BTreeSet::new();
    memories.retain(|m| seen.insert(m.clone()));
    Ok(HandoffContext {
        task_description,
        current_state,
        relevant_memories: memories,
        relevant_files: guard.list("relevant_files", &ctx.relevant_files)?,
    })
}

/// Decides `initiate`.
pub fn initiate(
    s: &State,
    cx: &mut Cx,
    source: &str,
    target: &str,
    ctx: &HandoffContext,
    ttl_seconds: Option<u64>,
) -> Decided<String> {
    let src = cx.acting(s, "source_agent_id", source)?;
    require(src, Capability::HandoffInitiate)?;
    check_id("target_agent_id", target)?;
    if source == target {
        return Err(Error::invalid("target_agent_id", "an agent cannot hand off to itself").into());
    }
    // An agent of another owner that is deactivated, or may not receive handoffs,
    // answers as a missing one does (`get_agent_info` hides it too, and a stranger
    // learns nothing of its capabilities); its own owner's agents are told why.
    let tgt = s
        .agents
        .get(target)
        .filter(|t| {
            (t.active && t.can(Capability::HandoffReceive)) || agent_visible(s, cx.caller, t)
        })
        .ok_or_else(|| Error::not_found("agent", target))?;
    if !tgt.active {
        return Err(
            Error::invalid("target_agent_id", format!("agent {target} is deactivated")).into(),
        );
    }
    if !tgt.can(Capability::HandoffReceive) {
        return Err(Error::denied(format!(
            "agent {target} lacks the handoff_receive capability"
        ))
        .into());
    }
    let mut guard = Guard::new();
    let context = check_context(ctx, &mut guard)?;
    for id in &context.relevant_memories {
        let memory = readable_memory(s, src, id, cx.now)?;
        if !may_hand_over(s, memory, src, tgt) {
            return Err(Refusal::audited(Error::denied(format!(
                "memory {id} was written by another agent and {target} cannot read it; \
                 a handoff may reference only memories the source wrote or the target can already read"
            ))));
        }
    }
    let ttl = ttl_seconds.unwrap_or(DEFAULT_HANDOFF_TTL_SECONDS);
    if ttl == 0 || ttl > MAX_HANDOFF_TTL_SECONDS {
        return Err(Error::invalid(
            "ttl_seconds",
            format!("must be 1..={MAX_HANDOFF_TTL_SECONDS}"),
        )
        .into());
    }
    if s.live_handoffs_at(cx.now) >= cx.limits.handoffs {
        return Err(Error::capacity("handoffs", cx.limits.handoffs).into());
    }
    // One owner's agents may hold only part of them, so they cannot exhaust them for
    // everyone.
    if s.owner_handoffs_at(&src.owner_id, cx.now) >= cx.limits.handoffs_per_owner {
        return Err(Error::capacity("handoffs-per-owner", cx.limits.handoffs_per_owner).into());
    }
    // Kept until it is removed, finished or not, it counts toward the owner's text.
    let kept = HANDOFF_RECORD_BYTES + handoff_context_bytes(&context);
    check_owner_text(s, cx, &src.owner_id, 0, kept)?;
    let pending = s.pending_for(target, cx.now);
    if pending.len() as u64 >= cx.limits.pending_per_target {
        return Err(Error::capacity("pending-handoffs", cx.limits.pending_per_target).into());
    }
    // Another owner's agents may fill only part of the target's inbox; its own owner's
    // agents are held to the target's limit alone.
    let from_owner = pending
        .iter()
        .filter(|h| {
            s.agents
                .get(&h.source)
                .is_some_and(|a| a.owner_id == src.owner_id)
        })
        .count() as u64;
    if src.owner_id != tgt.owner_id && from_owner >= cx.limits.pending_per_target_per_owner {
        return Err(Error::capacity(
            "pending-handoffs-per-owner",
            cx.limits.pending_per_target_per_owner,
        )
        .into());
    }
    let id = cx.fresh_id();
    let mut events: Vec<Event> = s
        .due_handoffs(cx.now)
        .take(EXPIRE_PER_CHANGE)
        .map(|id| Event::HandoffExpired { id: id.clone() })
        .collect();
    events.push(Event::HandoffInitiated {
        id: id.clone(),
        source: source.to_string(),
        target: target.to_string(),
        context: context.clone(),
        expires_at: cx.now.saturating_add(ttl * 1000),
        notes: guard.notes().boxed(),
    });
    events.push(Event::Audited(record(
        cx.caller.name(),
        "handoff.initiated",
        Some(&id),
        json!({"source": source, "target": target, "memories": context.relevant_memories, "ttl_seconds": ttl, "notes": guard.notes()}),
    )));
    Ok(Done::change(events, id))
}

/// The handoff `id` if the acting agent (None = operator) is a party to it.
fn party<'s>(s: &'s State, caller: &Caller, handoff_id: &str) -> Result<&'s Handoff, Refusal> {
    check_id("handoff_id", handoff_id)?;
    let me = caller_agent(s, caller)?;
    s.handoffs
        .get(handoff_id)
        .filter(|h| me.is_none_or(|a| a.id == h.source || a.id == h.target))
        .ok_or_else(|| Error::not_found("handoff", handoff_id).into())
}

/// Decides `get`.
pub fn get(s: &State, cx: &mut Cx, handoff_id: &str) -> Decided<HandoffView> {
    let h = party(s, cx.caller, handoff_id)?;
    Ok(Done::read(
        record(
            cx.caller.name(),
            "handoff.read",
            Some(handoff_id),
            json!({}),
        ),
        HandoffView::at(h, cx.now),
    ))
}

fn listed<'s>(
    cx: &Cx,
    event_type: &str,
    agent_id: &str,
    window: Window,
    list: impl IntoIterator<Item = (u64, &'s Handoff)>,
) -> Done<Page<HandoffView>> {
    let page = window.take(list);
    let ids: Vec<&str> = page.items.iter().map(|h| h.id.as_str()).collect();
    let rec = record(
        cx.caller.name(),
        event_type,
        Some(agent_id),
        json!({ "ids": ids }),
    );
    Done::read(rec, page.map(|h| HandoffView::at(h, cx.now)))
}

/// Decides `pending`: one page of the live pending handoffs targeting the acting agent.
pub fn pending(
    s: &State,
    cx: &mut Cx,
    agent_id: &str,
    req: &PageRequest,
) -> Decided<Page<HandoffView>> {
    cx.acting(s, "agent_id", agent_id)?;
    let window = Window::new("pending", req)?;
    Ok(listed(
        cx,
        "handoff.pending_listed",
        agent_id,
        window,
        s.pending_for(agent_id, cx.now)
            .into_iter()
            .map(|h| (h.n, h)),
    ))
}

/// Decides `by-agent`: one page of the handoffs the acting agent is source or target of.
pub fn by_agent(
    s: &State,
    cx: &mut Cx,
    agent_id: &str,
    req: &PageRequest,
) -> Decided<Page<HandoffView>> {
    cx.acting(s, "agent_id", agent_id)?;
    let window = Window::new("handoffs", req)?;
    // In creation order from the cursor: a page reads its own items, however many
    // handoffs (another owner's, cancelled at once, kept for the retention) name it.
    let list = s
        .handoff_order
        .get(agent_id)
        .into_iter()
        .flat_map(|order| order.range((window.start(), Bound::Unbounded)))
        .filter_map(|(&n, id)| s.handoffs.get(id).map(|h| (n, h)));
    Ok(listed(cx, "handoff.listed", agent_id, window, list))
}

/// Most handoffs one cleanup entry expires, and most it removes: a cleanup past them
/// writes one entry for each batch (one entry naming the 261,378 handoffs one owner had
/// started and cancelled held an audit record of 10 MB).
pub const CLEANUP_BATCH: usize = 4096;

/// Decides one batch of `cleanup`: how many handoffs it removes, and whether a batch is
/// left.
pub fn cleanup(s: &State, cx: &mut Cx) -> Decided<(u32, bool)> {
    if *cx.caller != Caller::Operator {
        return Err(Error::denied("only the operator cleans up handoffs").into());
    }
    let retention = cx.limits.handoff_retention_seconds.saturating_mul(1000);
    let mut events: Vec<Event> = s
        .due_handoffs(cx.now)
        .take(CLEANUP_BATCH)
        .map(|id| Event::HandoffExpired { id: id.clone() })
        .collect();
    let expired = events.len();
    let mut removed = Vec::new();
    for h in s.handoffs.values() {
        if removed.len() == CLEANUP_BATCH {
            break;
        }
        let status = h.status_at(cx.now);
        let since = if h.status == HandoffStatus::Pending {
            h.expires_at
        } else {
            h.updated_at
        };
        if status.is_terminal() && since.saturating_add(retention) <= cx.now {
            removed.push(h.id.clone());
        }
    }
    let more = expired == CLEANUP_BATCH || removed.len() == CLEANUP_BATCH;
    events.extend(
        removed
            .iter()
            .map(|id| Event::HandoffRemoved { id: id.clone() }),
    );
    events.push(Event::Audited(record(
        cx.caller.name(),
        "handoff.cleanup",
        None,
        json!({"expired": expired, "removed": removed}),
    )));
    let count = u32::try_from(removed.len()).unwrap_or(u32::MAX);
    Ok(Done::change(events, (count, more)))
}
