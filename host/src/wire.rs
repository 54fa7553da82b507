//! The wire form of the WIT types: the original design's strings (`claude_code`,
//! `agent_private`, …) and JSON objects with its field names. Shared by every transport.

use crate::bindings::{agents, audit, handoffs, knowledge, memories, pools, types};
use serde_json::{Value, json};

/// Defines wire-string parsing and printing for a generated WIT enum.
macro_rules! wire {
    ($ty:ty, $name:literal, { $($variant:ident => $wire:literal),+ $(,)? }) => {
        impl Wire for $ty {
            const WHAT: &'static str = $name;
            const CHOICES: &'static [&'static str] = &[$($wire),+];
            fn wire(self) -> &'static str {
                match self {
                    $(<$ty>::$variant => $wire),+
                }
            }
            fn from_wire(text: &str) -> Option<Self> {
                match text {
                    $($wire => Some(<$ty>::$variant),)+
                    _ => None,
                }
            }
        }
    };
}

/// A WIT enum with a wire string per case.
pub trait Wire: Sized + Copy {
    /// What the values are, e.g. `scope`.
    const WHAT: &'static str;
    /// Every wire string.
    const CHOICES: &'static [&'static str];
    /// The wire string.
    fn wire(self) -> &'static str;
    /// Parses a wire string.
    fn from_wire(text: &str) -> Option<Self>;
}

wire!(types::Scope, "scope", {
    AgentPrivate => "agent_private", User => "user", Project => "project", Team => "team", Global => "global",
});
wire!(types::Permission, "permission", { Read => "read", Write => "write", Admin => "admin" });
wire!(agents::AgentType, "agent type", {
    ClaudeCode => "claude_code", GptAgent => "gpt_agent", CustomPipeline => "custom_pipeline", Human => "human",
});
wire!(agents::Capability, "capability", {
    MemoryRead => "memory_read", MemoryWrite => "memory_write", MemoryDelete => "memory_delete",
    KbSearch => "kb_search", DecisionRead => "decision_read", IncidentRead => "incident_read",
    HandoffInitiate => "handoff_initiate", HandoffReceive => "handoff_receive",
});
wire!(memories::MemoryKind, "memory type", {
    Preference => "preference", Fact => "fact", Decision => "decision", Note => "note",
});
wire!(handoffs::HandoffStatus, "handoff status", {
    Pending => "pending", Accepted => "accepted", Rejected => "rejected", Completed => "completed",
    Expired => "expired", Cancelled => "cancelled", InputRequired => "input_required",
});
wire!(knowledge::DocumentKind, "document kind", { Code => "code", Decision => "decision", Incident => "incident" });

/// Parses a wire string, or an `invalid-input` error on `field` listing the choices.
pub fn parse<T: Wire>(field: &str, text: &str) -> Result<T, types::Error> {
    T::from_wire(text).ok_or_else(|| {
        types::Error::InvalidInput(types::InvalidInfo {
            field: field.to_string(),
            reason: format!(
                "unknown {} {:?}; expected one of: {}",
                T::WHAT,
                shown(text),
                T::CHOICES.join(", ")
            ),
        })
    })
}

/// At most the first 64 characters of a caller's value, for an error that names it: an
/// answer never echoes a large argument back.
fn shown(text: &str) -> String {
    let mut out: String = text.chars().take(64).collect();
    if out.len() < text.len() {
        out.push('…');
    }
    out
}

/// A JSON text stored by the core (metadata, state, results) as a JSON value.
pub fn embedded(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))
}

/// The error body of the original design, plus `code` and details.
pub fn error(e: &types::Error) -> Value {
    let mut body = serde_json::Map::new();
    body.insert("error".into(), json!(e.message()));
    body.insert("status".into(), json!("error"));
    body.insert("code".into(), json!(e.code()));
    match e {
        types::Error::CapacityExceeded(c) => {
            body.insert("resource".into(), json!(c.resource));
            body.insert("limit".into(), json!(c.limit));
        }
        types::Error::InvalidInput(i) => {
            body.insert("field".into(), json!(i.field));
        }
        types::Error::Conflict(v) => {
            body.insert("current_version".into(), json!(v));
        }
        types::Error::RateLimited(ms) => {
            body.insert("retry_after_ms".into(), json!(ms));
        }
        _ => {}
    }
    Value::Object(body)
}

/// An agent.
pub fn agent(a: &agents::Agent) -> Value {
    json!({
        "id": a.id,
        "agent_id": a.id,
        "agent_type": a.agent_type.wire(),
        "owner_id": a.owner_id,
        "capabilities": a.capabilities.iter().map(|c| c.wire()).collect::<Vec<_>>(),
        "metadata": embedded(&a.metadata),
        "active": a.active,
        "status": if a.active { "active" } else { "inactive" },
        "session_id": a.session_id,
        "created_at": a.created_at,
    })
}

/// A pool.
pub fn pool(p: &pools::Pool) -> Value {
    json!({
        "id": p.id,
        "pool_id": p.id,
        "name": p.name,
        "owner_id": p.owner_id,
        "scope": p.scope.wire(),
        "team": p.team,
        "metadata": embedded(&p.metadata),
        "archived": p.archived,
        "status": if p.archived { "archived" } else { "active" },
        "member_count": p.member_count,
        "share_count": p.share_count,
        "created_at": p.created_at,
    })
}

/// An agent session.
pub fn session(s: &agents::Session) -> Value {
    json!({"session_id": s.id, "agent_id": s.agent_id, "started_at": s.started_at})
}

/// A pool member.
pub fn member(m: &pools::Member) -> Value {
    json!({"agent_id": m.agent_id, "permission": m.permission.wire(), "joined_at": m.joined_at})
}

/// A shared memory.
pub fn share(s: &pools::SharedMemory) -> Value {
    json!({
        "memory_id": s.memory_id,
        "pool_id": s.pool_id,
        "shared_by": s.shared_by,
        "scope": s.scope.wire(),
        "shared_at": s.shared_at,
    })
}

/// A memory.
pub fn memory(m: &memories::Memory) -> Value {
    let v = json!({
        "memory_id": m.id,
        "author": m.author,
        "owner": m.owner,
        "memory_type": m.kind.wire(),
        "kind": m.kind.wire(),
        "content": m.content,
        "tags": m.tags,
        "version": m.version,
        "created_at": m.created_at,
        "updated_at": m.updated_at,
        "expires_at": m.expires_at,
    });
    with_notes(v, &m.notes)
}

/// Adds `redacted` (kinds of secret removed at write) and `flags` (why a text is
/// untrusted) to an object when there are any: most objects carry none.
pub fn with_notes(mut v: Value, n: &types::Notes) -> Value {
    if let Some(o) = v.as_object_mut() {
        if !n.redacted.is_empty() {
            o.insert("redacted".into(), json!(n.redacted));
        }
        if !n.flags.is_empty() {
            o.insert("flags".into(), json!(n.flags));
        }
    }
    v
}

/// A handoff.
pub fn handoff(h: &handoffs::Handoff) -> Value {
    let v = json!({
        "id": h.id,
        "handoff_id": h.id,
        "source_agent_id": h.source_agent_id,
        "target_agent_id": h.target_agent_id,
        "task_description": h.context.task_description,
        "status": h.status.wire(),
        "context": context(&h.context),
        "created_at": h.created_at,
        "expires_at": h.expires_at,
        "updated_at": h.updated_at,
        "result": h.result.as_deref().map(embedded),
        "reason": h.reason,
        "question": h.question,
        "answer": h.answer,
    });
    with_notes(v, &h.notes)
}

/// A handoff's context.
pub fn context(c: &handoffs::HandoffContext) -> Value {
    json!({
        "task_description": c.task_description,
        "current_state": embedded(&c.current_state),
        "relevant_memories": c.relevant_memories,
        "relevant_files": c.relevant_files,
    })
}

/// A knowledge search hit.
pub fn hit(h: &knowledge::SearchHit) -> Value {
    let v = json!({
        "id": h.id,
        "kind": h.kind.wire(),
        "title": h.title,
        "content": h.content,
        "path": h.path,
        "line_start": h.lines.map(|l| l.start),
        "line_end": h.lines.map(|l| l.end),
        "score": h.score,
        "metadata": embedded(&h.metadata),
        "owner": h.owner,
    });
    with_notes(v, &h.notes)
}

/// A stored knowledge document.
pub fn document(d: &knowledge::StoredDocument) -> Value {
    let doc = &d.document;
    let v = json!({
        "id": doc.id,
        "kind": doc.kind.wire(),
        "title": doc.title,
        "content": doc.content,
        "service": doc.service,
        "path": doc.path,
        "topic": doc.topic,
        "severity": doc.severity,
        "line_start": doc.lines.map(|l| l.start),
        "line_end": doc.lines.map(|l| l.end),
        "ingested_at": d.ingested_at,
    });
    with_notes(v, &d.notes)
}

/// An audit entry.
pub fn audit_entry(e: &audit::AuditEntry) -> Value {
    json!({
        "seq": e.seq,
        "at": e.at,
        "actor": e.actor,
        "event_type": e.event_type,
        "target": e.target,
        "outcome": e.outcome,
        "detail": embedded(&e.detail),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_strings_parse_back() {
        for s in types::Scope::CHOICES {
            let scope: types::Scope = parse("scope", s).unwrap_or(types::Scope::Global);
            assert_eq!(scope.wire(), *s);
        }
        let err = parse::<types::Scope>("scope", "everyone").err();
        assert!(
            matches!(err, Some(types::Error::InvalidInput(i)) if i.reason.contains("agent_private"))
        );
    }
}
