//! The lifecycle of a handoff after it is initiated: accept, reject, cancel and complete, each by the right party only.

use super::{AcceptedHandoff, HandoffView};
use crate::access::{may_hand_over, memory_readable, require};
use crate::engine::{Cx, Decided, Done, Refusal, record};
use crate::error::Error;
use crate::events::Event;
use crate::guard::Guard;
use crate::limits::{MAX_JSON, MAX_REASON, check_id, check_json, check_text};
use crate::memories::check_owner_text;
use crate::model::{Capability, HandoffStatus};
use crate::state::{Handoff, State};
use crate::views::MemoryView;
use serde_json::json;

/// A handoff the acting agent may move from pending: it must be the `role` party, and
/// the handoff must still be pending.
fn pending_as<'s>(
    s: &'s State,
    cx: &mut Cx,
    handoff_id: &str,
    agent_id: &str,
    target_role: bool,
) -> Result<&'s Handoff, Refusal> {
    in_status(
        s,
        cx,
        handoff_id,
        agent_id,
        target_role,
        HandoffStatus::Pending,
    )
}

/// The handoff `agent_id` acts on as its target (`target_role`, which also needs
/// `handoff_receive`) or its source, if it is in `status` now: another party is denied,
/// an expired handoff is `expired`, another status is invalid input.
fn in_status<'s>(
    s: &'s State,
    cx: &mut Cx,
    handoff_id: &str,
    agent_id: &str,
    target_role: bool,
    status: HandoffStatus,
) -> Result<&'s Handoff, Refusal> {
    let agent = cx.acting(s, "agent_id", agent_id)?;
    check_id("handoff_id", handoff_id)?;
    let h = s
        .handoffs
        .get(handoff_id)
        .filter(|h| h.source == agent.id || h.target == agent.id)
        .ok_or_else(|| Error::not_found("handoff", handoff_id))?;
    let (needed, role) = if target_role {
        (&h.target, "target")
    } else {
        (&h.source, "source")
    };
    if *needed != agent.id {
        return Err(Error::denied(format!(
            "only the {role} of handoff {handoff_id} may do this"
        ))
        .into());
    }
    if target_role {
        require(agent, Capability::HandoffReceive)?;
    }
    match h.status_at(cx.now) {
        now if now == status => Ok(h),
        HandoffStatus::Expired => Err(Refusal::out_of_turn(Error::Expired(format!(
            "handoff {handoff_id}"
        )))),
        other => Err(Refusal::out_of_turn(Error::invalid(
            "handoff_id",
            format!("handoff {handoff_id} is {other}, not {status}"),
        ))),
    }
}

/// Most bytes a target finishing a handoff (a reason, a result) writes past its owner's
/// share of text: an owner at its share could otherwise neither reject nor complete
/// what other owners handed it (a reason needs a byte, a result is `null` at least).
const FINISHING_PAST_SHARE: usize = MAX_REASON;

/// Refuses `text` the acting agent writes into a handoff in place of `old` (its own
/// earlier text there) if it would take the agent's owner past its share of text: the
/// handoff is kept, finished or not, until it is removed ([`Handoff::text_bytes`]). A
/// text `finishing` it is let through up to [`FINISHING_PAST_SHARE`].
fn check_share(
    s: &State,
    cx: &Cx,
    agent_id: &str,
    old: &Option<String>,
    text: &str,
    finishing: bool,
) -> Result<(), Refusal> {
    let Some(agent) = s.agents.get(agent_id) else {
        return Ok(());
    };
    if finishing && text.len() <= FINISHING_PAST_SHARE {
        return Ok(());
    }
    let old = old.as_deref().map_or(0, str::len) as u64;
    check_owner_text(s, cx, &agent.owner_id, old, text.len() as u64)
}

fn audited(cx: &Cx, event_type: &str, id: &str, detail: serde_json::Value) -> Event {
    Event::Audited(record(cx.caller.name(), event_type, Some(id), detail))
}

/// Decides `accept`: grants the target read access to the referenced memories that still
/// exist, and returns those it may now read.
pub fn accept(s: &State, cx: &mut Cx, handoff_id: &str, agent_id: &str) -> Decided<()> {
    let h = pending_as(s, cx, handoff_id, agent_id, true)?;
    // Re-checked now, not at initiate: the source may have lost access since (the
    // author unshared, a pool was left), and only what it can still read passes on.
    let source = s.agents.get(&h.source);
    let target = s.agents.get(&h.target);
    let granted: Vec<String> = h
        .context
        .relevant_memories
        .iter()
        .filter(|id| {
            s.memories.get(*id).is_some_and(|m| {
                !m.is_expired(cx.now)
                    && source.zip(target).is_some_and(|(src, tgt)| {
                        memory_readable(s, m, src) && may_hand_over(s, m, src, tgt)
                    })
            })
        })
        .cloned()
        .collect();
    let dropped: Vec<&String> = h
        .context
        .relevant_memories
        .iter()
        .filter(|id| !granted.contains(id))
        .collect();
    Ok(Done::change(
        vec![
            Event::HandoffAccepted {
                id: handoff_id.to_string(),
                granted: granted.clone(),
            },
            audited(
                cx,
                "handoff.accepted",
                handoff_id,
                json!({"agent_id": agent_id, "granted": granted, "dropped": dropped}),
            ),
        ],
        (),
    ))
}

/// The accepted handoff and the memories its target may read, after `accept` applied.
/// A target without `memory_read` is granted them but not shown their text (its
/// context lists their ids), as `get_memory` would not show it.
pub fn accepted_view(s: &State, handoff_id: &str, now: u64) -> Option<AcceptedHandoff> {
    let h = s.handoffs.get(handoff_id)?;
    let target = s.agents.get(&h.target)?;
    let shown = target.can(Capability::MemoryRead);
    let mut memories = Vec::new();
    let mut dropped = Vec::new();
    for id in &h.context.relevant_memories {
        match s.memories.get(id) {
            Some(m) if !m.is_expired(now) && memory_readable(s, m, target) => {
                if shown {
                    memories.push(MemoryView::of(s, m));
                }
            }
            _ => dropped.push(id.clone()),
        }
    }
    Some(AcceptedHandoff {
        handoff: HandoffView::at(h, now),
        memories,
        dropped,
    })
}

/// Decides `reject`.
pub fn reject(
    s: &State,
    cx: &mut Cx,
    handoff_id: &str,
    agent_id: &str,
    reason: &str,
) -> Decided<()> {
    let h = pending_as(s, cx, handoff_id, agent_id, true)?;
    check_text("reason", reason, MAX_REASON, true)?;
    let mut guard = Guard::new();
    let reason = guard.text("reason", reason)?;
    check_share(s, cx, agent_id, &h.reason, &reason, true)?;
    Ok(Done::change(
        vec![
            Event::HandoffRejected {
                id: handoff_id.to_string(),
                reason,
                notes: guard.notes().boxed(),
            },
            audited(
                cx,
                "handoff.rejected",
                handoff_id,
                json!({ "agent_id": agent_id, "notes": guard.notes() }),
            ),
        ],
        (),
    ))
}

/// Decides `cancel`.
pub fn cancel(s: &State, cx: &mut Cx, handoff_id: &str, agent_id: &str) -> Decided<()> {
    pending_as(s, cx, handoff_id, agent_id, false)?;
    Ok(Done::change(
        vec![
            Event::HandoffCancelled {
                id: handoff_id.to_string(),
            },
            audited(
                cx,
                "handoff.cancelled",
                handoff_id,
                json!({ "agent_id": agent_id }),
            ),
        ],
        (),
    ))
}

/// Decides `request-input`: the target of an accepted handoff asks its source.
pub fn request_input(
    s: &State,
    cx: &mut Cx,
    handoff_id: &str,
    agent_id: &str,
    question: &str,
) -> Decided<()> {
    let h = in_status(s, cx, handoff_id, agent_id, true, HandoffStatus::Accepted)?;
    check_text("question", question, MAX_REASON, true)?;
    let mut guard = Guard::new();
    let question = guard.text("question", question)?;
    check_share(s, cx, agent_id, &h.question, &question, false)?;
    Ok(Done::change(
        vec![
            Event::HandoffInputRequested {
                id: handoff_id.to_string(),
                question,
                notes: guard.notes().boxed(),
            },
            audited(
                cx,
                "handoff.input_required",
                handoff_id,
                json!({ "agent_id": agent_id, "notes": guard.notes() }),
            ),
        ],
        (),
    ))
}

/// Decides `provide-input`: the source answers; the handoff is accepted again.
pub fn provide_input(
    s: &State,
    cx: &mut Cx,
    handoff_id: &str,
    agent_id: &str,
    answer: &str,
) -> Decided<()> {
    let h = in_status(
        s,
        cx,
        handoff_id,
        agent_id,
        false,
        HandoffStatus::InputRequired,
    )?;
    check_text("answer", answer, MAX_JSON, true)?;
    let mut guard = Guard::new();
    let answer = guard.text("answer", answer)?;
    check_share(s, cx, agent_id, &h.answer, &answer, false)?;
    Ok(Done::change(
        vec![
            Event::HandoffInputProvided {
                id: handoff_id.to_string(),
                answer,
                notes: guard.notes().boxed(),
            },
            audited(
                cx,
                "handoff.input_provided",
                handoff_id,
                json!({ "agent_id": agent_id, "notes": guard.notes() }),
            ),
        ],
        (),
    ))
}

/// Decides `complete`.
pub fn complete(
    s: &State,
    cx: &mut Cx,
    handoff_id: &str,
    agent_id: &str,
    result: Option<&str>,
) -> Decided<()> {
    let agent = cx.acting(s, "agent_id", agent_id)?;
    check_id("handoff_id", handoff_id)?;
    let h = s
        .handoffs
        .get(handoff_id)
        .filter(|h| h.source == agent.id || h.target == agent.id)
        .ok_or_else(|| Error::not_found("handoff", handoff_id))?;
    if h.target != agent.id {
        return Err(Error::denied(format!(
            "only the target of handoff {handoff_id} completes it"
        ))
        .into());
    }
    let status = h.status_at(cx.now);
    if status != HandoffStatus::Accepted {
        return Err(Refusal::out_of_turn(Error::invalid(
            "handoff_id",
            format!("handoff {handoff_id} is {status}, not accepted"),
        )));
    }
    let result = check_json("result", result, MAX_JSON)?;
    let mut guard = Guard::new();
    let result = guard.json("result", &result)?;
    check_share(s, cx, agent_id, &h.result, &result, true)?;
    Ok(Done::change(
        vec![
            Event::HandoffCompleted {
                id: handoff_id.to_string(),
                result,
                notes: guard.notes().boxed(),
            },
            audited(
                cx,
                "handoff.completed",
                handoff_id,
                json!({ "agent_id": agent_id, "notes": guard.notes() }),
            ),
        ],
        (),
    ))
}
