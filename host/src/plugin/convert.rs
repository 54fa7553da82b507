//! Between the core's records and the plugin world's: the same fields, minus what names
//! a caller. Enums match case for case.

use super::bindings::{
    plugin_handoffs as ph, plugin_identity as pi, plugin_knowledge as pk, plugin_memories as pm,
    plugin_pools as pp,
};
use crate::bindings::{agents, handoffs, knowledge, memories, pools};
use crate::wire::Wire;

pub(crate) fn identity(a: agents::Agent) -> pi::Identity {
    pi::Identity {
        agent_id: a.id,
        owner_id: a.owner_id,
        agent_type: a.agent_type.wire().to_string(),
        capabilities: a
            .capabilities
            .into_iter()
            .map(|c| c.wire().to_string())
            .collect(),
        active: a.active,
        created_at: a.created_at,
    }
}

pub(crate) fn pool(p: pools::Pool) -> pp::Pool {
    pp::Pool {
        id: p.id,
        name: p.name,
        owner_id: p.owner_id,
        scope: p.scope,
        team: p.team,
        metadata: p.metadata,
        archived: p.archived,
        member_count: p.member_count,
        share_count: p.share_count,
        created_at: p.created_at,
    }
}

pub(crate) fn member(m: pools::Member) -> pp::Member {
    pp::Member {
        agent_id: m.agent_id,
        permission: m.permission,
        joined_at: m.joined_at,
    }
}

pub(crate) fn share(s: pools::SharedMemory) -> pp::SharedMemory {
    pp::SharedMemory {
        memory_id: s.memory_id,
        pool_id: s.pool_id,
        shared_by: s.shared_by,
        scope: s.scope,
        shared_at: s.shared_at,
    }
}

pub(crate) fn kind_in(k: pm::MemoryKind) -> memories::MemoryKind {
    match k {
        pm::MemoryKind::Preference => memories::MemoryKind::Preference,
        pm::MemoryKind::Fact => memories::MemoryKind::Fact,
        pm::MemoryKind::Decision => memories::MemoryKind::Decision,
        pm::MemoryKind::Note => memories::MemoryKind::Note,
    }
}

fn kind_out(k: memories::MemoryKind) -> pm::MemoryKind {
    match k {
        memories::MemoryKind::Preference => pm::MemoryKind::Preference,
        memories::MemoryKind::Fact => pm::MemoryKind::Fact,
        memories::MemoryKind::Decision => pm::MemoryKind::Decision,
        memories::MemoryKind::Note => pm::MemoryKind::Note,
    }
}

pub(crate) fn memory(m: memories::Memory) -> pm::Memory {
    pm::Memory {
        id: m.id,
        author: m.author,
        kind: kind_out(m.kind),
        content: m.content,
        tags: m.tags,
        version: m.version,
        created_at: m.created_at,
        updated_at: m.updated_at,
        expires_at: m.expires_at,
        notes: m.notes,
    }
}

pub(crate) fn hit(h: memories::MemoryHit) -> pm::MemoryHit {
    pm::MemoryHit {
        memory: memory(h.memory),
        score: h.score,
    }
}

pub(crate) fn context_in(c: ph::HandoffContext) -> handoffs::HandoffContext {
    handoffs::HandoffContext {
        task_description: c.task_description,
        current_state: c.current_state,
        relevant_memories: c.relevant_memories,
        relevant_files: c.relevant_files,
    }
}

fn context_out(c: handoffs::HandoffContext) -> ph::HandoffContext {
    ph::HandoffContext {
        task_description: c.task_description,
        current_state: c.current_state,
        relevant_memories: c.relevant_memories,
        relevant_files: c.relevant_files,
    }
}

fn status(s: handoffs::HandoffStatus) -> ph::HandoffStatus {
    match s {
        handoffs::HandoffStatus::Pending => ph::HandoffStatus::Pending,
        handoffs::HandoffStatus::Accepted => ph::HandoffStatus::Accepted,
        handoffs::HandoffStatus::Rejected => ph::HandoffStatus::Rejected,
        handoffs::HandoffStatus::Completed => ph::HandoffStatus::Completed,
        handoffs::HandoffStatus::Expired => ph::HandoffStatus::Expired,
        handoffs::HandoffStatus::Cancelled => ph::HandoffStatus::Cancelled,
    }
}

pub(crate) fn handoff(h: handoffs::Handoff) -> ph::Handoff {
    ph::Handoff {
        id: h.id,
        source_agent_id: h.source_agent_id,
        target_agent_id: h.target_agent_id,
        context: context_out(h.context),
        status: status(h.status),
        created_at: h.created_at,
        expires_at: h.expires_at,
        updated_at: h.updated_at,
        result: h.result,
        reason: h.reason,
        notes: h.notes,
    }
}

pub(crate) fn accepted(a: handoffs::AcceptedHandoff) -> ph::AcceptedHandoff {
    ph::AcceptedHandoff {
        handoff: handoff(a.handoff),
        memories: a.memories.into_iter().map(memory).collect(),
        dropped_memories: a.dropped_memories,
    }
}

pub(crate) fn search_hit(h: knowledge::SearchHit) -> pk::SearchHit {
    pk::SearchHit {
        id: h.id,
        kind: match h.kind {
            knowledge::DocumentKind::Code => pk::DocumentKind::Code,
            knowledge::DocumentKind::Decision => pk::DocumentKind::Decision,
            knowledge::DocumentKind::Incident => pk::DocumentKind::Incident,
        },
        title: h.title,
        content: h.content,
        score: h.score,
        metadata: h.metadata,
    }
}

/// Bytes of text a call passes: what `--call-bytes` bounds.
pub(crate) fn text_bytes<'a>(parts: impl IntoIterator<Item = &'a str>) -> usize {
    parts.into_iter().map(str::len).sum()
}
