//! Conversions between the generated WIT types and the domain types. Enum names match
//! one to one; the domain holds the wire strings.

/// WIT to domain.
pub mod from_wit {
    use crate::exports::maas::core::{admin, agents, knowledge, memories, pools, records, types};
    use maas_core::model as m;

    /// The caller.
    pub fn caller(c: types::Caller) -> maas_core::Caller {
        match c {
            types::Caller::Operator => maas_core::Caller::Operator,
            types::Caller::Agent(id) => maas_core::Caller::Agent(id),
        }
    }

    /// A scope.
    pub fn scope(s: types::Scope) -> m::Scope {
        match s {
            types::Scope::AgentPrivate => m::Scope::AgentPrivate,
            types::Scope::User => m::Scope::User,
            types::Scope::Project => m::Scope::Project,
            types::Scope::Team => m::Scope::Team,
            types::Scope::Global => m::Scope::Global,
        }
    }

    /// A permission.
    pub fn permission(p: types::Permission) -> m::Permission {
        match p {
            types::Permission::Read => m::Permission::Read,
            types::Permission::Write => m::Permission::Write,
            types::Permission::Admin => m::Permission::Admin,
        }
    }

    /// An agent type.
    pub fn agent_type(t: records::AgentType) -> m::AgentType {
        match t {
            records::AgentType::ClaudeCode => m::AgentType::ClaudeCode,
            records::AgentType::GptAgent => m::AgentType::GptAgent,
            records::AgentType::CustomPipeline => m::AgentType::CustomPipeline,
            records::AgentType::Human => m::AgentType::Human,
        }
    }

    /// A capability.
    pub fn capability(c: records::Capability) -> m::Capability {
        use records::Capability as C;
        match c {
            C::MemoryRead => m::Capability::MemoryRead,
            C::MemoryWrite => m::Capability::MemoryWrite,
            C::MemoryDelete => m::Capability::MemoryDelete,
            C::KbSearch => m::Capability::KbSearch,
            C::DecisionRead => m::Capability::DecisionRead,
            C::IncidentRead => m::Capability::IncidentRead,
            C::HandoffInitiate => m::Capability::HandoffInitiate,
            C::HandoffReceive => m::Capability::HandoffReceive,
        }
    }

    /// A memory kind.
    pub fn memory_kind(k: records::MemoryKind) -> m::MemoryKind {
        match k {
            records::MemoryKind::Preference => m::MemoryKind::Preference,
            records::MemoryKind::Fact => m::MemoryKind::Fact,
            records::MemoryKind::Decision => m::MemoryKind::Decision,
            records::MemoryKind::Note => m::MemoryKind::Note,
        }
    }

    /// A document kind.
    pub fn document_kind(k: records::DocumentKind) -> m::DocumentKind {
        match k {
            records::DocumentKind::Code => m::DocumentKind::Code,
            records::DocumentKind::Decision => m::DocumentKind::Decision,
            records::DocumentKind::Incident => m::DocumentKind::Incident,
        }
    }

    /// Limits.
    pub fn limits(l: &admin::Limits) -> maas_core::Limits {
        maas_core::Limits {
            agents: l.agents,
            sessions: l.sessions,
            pools: l.pools,
            members_per_pool: l.members_per_pool,
            shares_per_pool: l.shares_per_pool,
            handoffs: l.handoffs,
            pending_per_target: l.pending_per_target,
            memories: l.memories,
            documents: l.documents,
            handoff_retention_seconds: l.handoff_retention_seconds,
            audit_window: l.audit_window,
            memory_bytes: l.memory_bytes,
            memories_per_owner: l.memories_per_owner,
            documents_per_owner: l.documents_per_owner,
            pending_per_target_per_owner: l.pending_per_target_per_owner,
            writes_per_minute: l.writes_per_minute,
            change_window: l.change_window,
            pools_per_owner: l.pools_per_owner,
            handoffs_per_owner: l.handoffs_per_owner,
            text_bytes_per_owner: l.text_bytes_per_owner,
            write_bytes_per_minute: l.write_bytes_per_minute,
        }
    }

    /// A registration request.
    pub fn registration(r: agents::RegistrationRequest) -> maas_core::agents::RegistrationRequest {
        maas_core::agents::RegistrationRequest {
            agent_type: agent_type(r.agent_type),
            owner_id: r.owner_id,
            agent_id: r.agent_id,
            capabilities: r
                .capabilities
                .map(|c| c.into_iter().map(capability).collect()),
            metadata: r.metadata,
        }
    }

    /// A pool request.
    pub fn pool_request(r: pools::PoolRequest) -> maas_core::pools::PoolRequest {
        maas_core::pools::PoolRequest {
            name: r.name,
            owner_id: r.owner_id,
            scope: scope(r.scope),
            team: r.team,
            pool_id: r.pool_id,
            metadata: r.metadata,
        }
    }

    /// A store request.
    pub fn store_request(r: memories::StoreRequest) -> maas_core::memories::StoreRequest {
        maas_core::memories::StoreRequest {
            agent_id: r.agent_id,
            content: r.content,
            kind: memory_kind(r.kind),
            tags: r.tags,
            memory_id: r.memory_id,
            pool_id: r.pool_id,
            scope: r.scope.map(scope),
            ttl_seconds: r.ttl_seconds,
        }
    }

    /// An update request.
    pub fn update_request(r: memories::UpdateRequest) -> maas_core::memories::UpdateRequest {
        maas_core::memories::UpdateRequest {
            agent_id: r.agent_id,
            memory_id: r.memory_id,
            content: r.content,
            tags: r.tags,
            kind: r.kind.map(memory_kind),
            expected_version: r.expected_version,
        }
    }

    /// A handoff context.
    pub fn context(c: records::HandoffContext) -> maas_core::state::HandoffContext {
        maas_core::state::HandoffContext {
            task_description: c.task_description,
            current_state: c.current_state,
            relevant_memories: c.relevant_memories,
            relevant_files: c.relevant_files,
        }
    }

    /// A document.
    pub fn document(d: knowledge::Document) -> maas_core::state::Document {
        maas_core::state::Document {
            kind: document_kind(d.kind),
            id: d.id,
            title: d.title,
            content: d.content,
            service: d.service,
            path: d.path,
            topic: d.topic,
            severity: d.severity,
            lines: d.lines.map(|l| maas_core::state::Lines {
                start: l.start,
                end: l.end,
            }),
        }
    }
}

/// Domain to WIT.
pub mod to_wit {
    use crate::exports::maas::core::{admin, agents, audit, knowledge, records, types};
    use maas_core::model as m;
    use maas_core::page::Page;

    /// An error.
    pub fn error(e: maas_core::Error) -> types::Error {
        use maas_core::Error as E;
        match e {
            E::NotFound(s) => types::Error::NotFound(s),
            E::PermissionDenied(s) => types::Error::PermissionDenied(s),
            E::CapacityExceeded { resource, limit } => {
                types::Error::CapacityExceeded(types::CapacityInfo { resource, limit })
            }
            E::InvalidInput { field, reason } => {
                types::Error::InvalidInput(types::InvalidInfo { field, reason })
            }
            E::Conflict(v) => types::Error::Conflict(v),
            E::Expired(s) => types::Error::Expired(s),
            E::Unavailable(s) => types::Error::Unavailable(s),
            E::RateLimited(ms) => types::Error::RateLimited(ms),
        }
    }

    /// A scope.
    pub fn scope(s: m::Scope) -> types::Scope {
        match s {
            m::Scope::AgentPrivate => types::Scope::AgentPrivate,
            m::Scope::User => types::Scope::User,
            m::Scope::Project => types::Scope::Project,
            m::Scope::Team => types::Scope::Team,
            m::Scope::Global => types::Scope::Global,
        }
    }

    /// A permission.
    pub fn permission(p: m::Permission) -> types::Permission {
        match p {
            m::Permission::Read => types::Permission::Read,
            m::Permission::Write => types::Permission::Write,
            m::Permission::Admin => types::Permission::Admin,
        }
    }

    fn agent_type(t: m::AgentType) -> records::AgentType {
        match t {
            m::AgentType::ClaudeCode => records::AgentType::ClaudeCode,
            m::AgentType::GptAgent => records::AgentType::GptAgent,
            m::AgentType::CustomPipeline => records::AgentType::CustomPipeline,
            m::AgentType::Human => records::AgentType::Human,
        }
    }

    fn capability(c: m::Capability) -> records::Capability {
        use records::Capability as C;
        match c {
            m::Capability::MemoryRead => C::MemoryRead,
            m::Capability::MemoryWrite => C::MemoryWrite,
            m::Capability::MemoryDelete => C::MemoryDelete,
            m::Capability::KbSearch => C::KbSearch,
            m::Capability::DecisionRead => C::DecisionRead,
            m::Capability::IncidentRead => C::IncidentRead,
            m::Capability::HandoffInitiate => C::HandoffInitiate,
            m::Capability::HandoffReceive => C::HandoffReceive,
        }
    }

    fn memory_kind(k: m::MemoryKind) -> records::MemoryKind {
        match k {
            m::MemoryKind::Preference => records::MemoryKind::Preference,
            m::MemoryKind::Fact => records::MemoryKind::Fact,
            m::MemoryKind::Decision => records::MemoryKind::Decision,
            m::MemoryKind::Note => records::MemoryKind::Note,
        }
    }

    fn document_kind(k: m::DocumentKind) -> records::DocumentKind {
        match k {
            m::DocumentKind::Code => records::DocumentKind::Code,
            m::DocumentKind::Decision => records::DocumentKind::Decision,
            m::DocumentKind::Incident => records::DocumentKind::Incident,
        }
    }

    fn status(s: m::HandoffStatus) -> records::HandoffStatus {
        use records::HandoffStatus as H;
        match s {
            m::HandoffStatus::Pending => H::Pending,
            m::HandoffStatus::Accepted => H::Accepted,
            m::HandoffStatus::InputRequired => H::InputRequired,
            m::HandoffStatus::Rejected => H::Rejected,
            m::HandoffStatus::Completed => H::Completed,
            m::HandoffStatus::Expired => H::Expired,
            m::HandoffStatus::Cancelled => H::Cancelled,
        }
    }

    /// Limits.
    pub fn limits(l: maas_core::Limits) -> admin::Limits {
        admin::Limits {
            agents: l.agents,
            sessions: l.sessions,
            pools: l.pools,
            members_per_pool: l.members_per_pool,
            shares_per_pool: l.shares_per_pool,
            handoffs: l.handoffs,
            pending_per_target: l.pending_per_target,
            memories: l.memories,
            documents: l.documents,
            handoff_retention_seconds: l.handoff_retention_seconds,
            audit_window: l.audit_window,
            memory_bytes: l.memory_bytes,
            memories_per_owner: l.memories_per_owner,
            documents_per_owner: l.documents_per_owner,
            pending_per_target_per_owner: l.pending_per_target_per_owner,
            writes_per_minute: l.writes_per_minute,
            change_window: l.change_window,
            pools_per_owner: l.pools_per_owner,
            handoffs_per_owner: l.handoffs_per_owner,
            text_bytes_per_owner: l.text_bytes_per_owner,
            write_bytes_per_minute: l.write_bytes_per_minute,
        }
    }

    /// Stats.
    pub fn stats(s: maas_core::Stats) -> admin::Counts {
        admin::Counts {
            seq: s.seq,
            agents: s.agents,
            active_agents: s.active_agents,
            sessions: s.sessions,
            pools: s.pools,
            memories: s.memories,
            shares: s.shares,
            handoffs: s.handoffs,
            pending_handoffs: s.pending_handoffs,
            kept_handoffs: s.kept_handoffs,
            documents: s.documents,
            audit_entries: s.audit_entries,
            heap_bytes: s.heap_bytes,
        }
    }

    /// An agent.
    pub fn agent(a: maas_core::state::Agent) -> records::Agent {
        records::Agent {
            id: a.id,
            agent_type: agent_type(a.agent_type),
            owner_id: a.owner_id,
            capabilities: a.capabilities.into_iter().map(capability).collect(),
            metadata: a.metadata,
            active: a.active,
            session_id: a.session_id,
            created_at: a.created_at,
        }
    }

    /// A session.
    pub fn session(s: maas_core::agents::Session) -> agents::Session {
        agents::Session {
            id: s.id,
            agent_id: s.agent_id,
            started_at: s.started_at,
        }
    }

    /// A pool.
    pub fn pool(p: maas_core::pools::PoolView) -> records::Pool {
        records::Pool {
            id: p.id,
            name: p.name,
            owner_id: p.owner_id,
            scope: scope(p.scope),
            team: p.team,
            metadata: p.metadata,
            archived: p.archived,
            member_count: p.member_count,
            share_count: p.share_count,
            created_at: p.created_at,
        }
    }

    /// A member.
    pub fn member(mb: maas_core::pools::MemberView) -> records::Member {
        records::Member {
            agent_id: mb.agent_id,
            permission: permission(mb.permission),
            joined_at: mb.joined_at,
        }
    }

    /// A share.
    pub fn share(s: maas_core::pools::ShareView) -> records::SharedMemory {
        records::SharedMemory {
            memory_id: s.memory_id,
            pool_id: s.pool_id,
            shared_by: s.shared_by,
            scope: scope(s.scope),
            shared_at: s.shared_at,
        }
    }

    /// A memory.
    pub fn memory(mv: maas_core::memories::MemoryView) -> records::Memory {
        records::Memory {
            id: mv.id,
            author: mv.author,
            owner: mv.owner,
            kind: memory_kind(mv.kind),
            content: mv.content,
            tags: mv.tags,
            version: mv.version,
            created_at: mv.created_at,
            updated_at: mv.updated_at,
            expires_at: mv.expires_at,
            notes: notes(mv.notes),
        }
    }

    /// Notes.
    pub fn notes(n: maas_core::guard::Notes) -> types::Notes {
        types::Notes {
            redacted: n.redacted,
            flags: n.flags,
        }
    }

    /// A handoff.
    pub fn handoff(h: maas_core::handoffs::HandoffView) -> records::Handoff {
        records::Handoff {
            id: h.id,
            source_agent_id: h.source_agent_id,
            target_agent_id: h.target_agent_id,
            context: records::HandoffContext {
                task_description: h.context.task_description,
                current_state: h.context.current_state,
                relevant_memories: h.context.relevant_memories,
                relevant_files: h.context.relevant_files,
            },
            status: status(h.status),
            created_at: h.created_at,
            expires_at: h.expires_at,
            updated_at: h.updated_at,
            result: h.result,
            reason: h.reason,
            question: h.question,
            answer: h.answer,
            notes: notes(h.notes),
        }
    }

    /// A page of agents.
    pub fn agent_page(p: Page<maas_core::state::Agent>) -> records::AgentPage {
        let p = p.map(agent);
        records::AgentPage {
            items: p.items,
            next_cursor: p.next_cursor,
        }
    }

    /// A page of pools.
    pub fn pool_page(p: Page<maas_core::pools::PoolView>) -> records::PoolPage {
        let p = p.map(pool);
        records::PoolPage {
            items: p.items,
            next_cursor: p.next_cursor,
        }
    }

    /// A page of members.
    pub fn member_page(p: Page<maas_core::pools::MemberView>) -> records::MemberPage {
        let p = p.map(member);
        records::MemberPage {
            items: p.items,
            next_cursor: p.next_cursor,
        }
    }

    /// A page of shares.
    pub fn share_page(p: Page<maas_core::pools::ShareView>) -> records::SharedMemoryPage {
        let p = p.map(share);
        records::SharedMemoryPage {
            items: p.items,
            next_cursor: p.next_cursor,
        }
    }

    /// A page of handoffs.
    pub fn handoff_page(p: Page<maas_core::handoffs::HandoffView>) -> records::HandoffPage {
        records::HandoffPage {
            items: p.items.into_iter().map(handoff).collect(),
            next_cursor: p.next_cursor,
        }
    }

    /// A document.
    pub fn document(d: maas_core::state::Document) -> knowledge::Document {
        knowledge::Document {
            kind: document_kind(d.kind),
            id: d.id,
            title: d.title,
            content: d.content,
            service: d.service,
            path: d.path,
            topic: d.topic,
            severity: d.severity,
            lines: d.lines.map(lines),
        }
    }

    /// A line range.
    pub fn lines(l: maas_core::state::Lines) -> records::LineRange {
        records::LineRange {
            start: l.start,
            end: l.end,
        }
    }

    /// A search hit.
    pub fn hit(h: maas_core::knowledge::SearchHit) -> records::SearchHit {
        records::SearchHit {
            id: h.id,
            kind: document_kind(h.kind),
            title: h.title,
            content: h.content,
            path: h.path,
            lines: h.lines.map(lines),
            score: h.score,
            metadata: h.metadata,
            notes: notes(h.notes),
            owner: h.owner,
        }
    }

    /// An audit entry.
    pub fn audit_entry(e: maas_core::state::AuditEntry) -> audit::AuditEntry {
        audit::AuditEntry {
            seq: e.seq,
            at: e.at,
            actor: e.record.actor,
            event_type: e.record.event_type,
            target: e.record.target,
            outcome: e.record.outcome,
            detail: e.record.detail,
        }
    }
}
