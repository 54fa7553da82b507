//! `Core`: every maas operation as a method, run through the engine.

use crate::agents::{self, Registration, RegistrationRequest, Session};
use crate::audit::{self, AuditFilter};
use crate::engine::{Engine, Env};
use crate::error::{Error, Result};
use crate::handoffs::{self, AcceptedHandoff, HandoffView};
use crate::journal::Journal;
use crate::knowledge::{self, Filters, SearchHit};
use crate::limits::Limits;
use crate::memories::{self, MemoryHit, MemoryView, StoreRequest, UpdateRequest};
use crate::model::{Caller, DocumentKind, Permission, Scope};
use crate::pools::{self, MemberView, PoolRequest, PoolView, ShareView};
use crate::state::{Agent, AuditEntry, Document, HandoffContext, StoredDocument};
use sha2::{Digest, Sha256};

/// Counts of live objects and the journal position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// Last applied sequence.
    pub seq: u64,
    /// Registered agents.
    pub agents: u64,
    /// Active agents.
    pub active_agents: u64,
    /// Open sessions.
    pub sessions: u64,
    /// Pools not archived.
    pub pools: u64,
    /// Memories.
    pub memories: u64,
    /// Shares across pools.
    pub shares: u64,
    /// Live handoffs.
    pub handoffs: u64,
    /// Live pending handoffs.
    pub pending_handoffs: u64,
    /// Knowledge documents.
    pub documents: u64,
    /// Audit entries kept in memory.
    pub audit_entries: u64,
}

/// From how many journal entries a replay from nothing leaves the search indexes to the
/// first search rather than maintaining them entry by entry.
pub const DEFERRED_REPLAY_ENTRIES: u64 = 1_000;

/// A maas core over a journal.
pub struct Core<J: Journal, E: Env> {
    /// The engine (state, journal, environment, limits).
    pub engine: Engine<J, E>,
    /// A snapshot export in progress.
    pub(crate) export: Option<crate::snapshot::export::Export>,
    /// A snapshot restore in progress.
    pub(crate) restore: Option<crate::snapshot::restore::Restore>,
}

impl<J: Journal, E: Env> Core<J, E> {
    /// A core over `journal`; call [`Core::init`] before use.
    pub fn new(journal: J, env: E, limits: Limits) -> Self {
        Core {
            engine: Engine::new(journal, env, limits),
            export: None,
            restore: None,
        }
    }

    /// Sets the limits and catches up with the journal.
    pub fn init(&mut self, limits: Limits) -> Result<Stats> {
        self.export = None;
        self.restore = None;
        self.engine.set_limits(limits);
        // A long replay from nothing leaves the search indexes to the first search, which
        // builds them in bulk: the same indexes, without keeping them right after every
        // entry on the way (and none at all for a process that never searches).
        let head = self.engine.journal.head().unwrap_or(0);
        if self.engine.state.seq == 0 && head >= DEFERRED_REPLAY_ENTRIES {
            self.engine.state.indexes_deferred = true;
        }
        self.engine.catch_up()?;
        Ok(self.counts())
    }

    /// The limits in force.
    pub fn limits(&self) -> Limits {
        self.engine.limits
    }

    /// Catches up and builds the search indexes if a restore or a long replay left them
    /// for later.
    fn search_indexes(&mut self) -> Result<()> {
        self.engine.catch_up()?;
        self.engine.state.end_deferred_indexing();
        Ok(())
    }

    fn operator_only(&mut self, caller: &Caller) -> Result<()> {
        self.engine.catch_up()?;
        if *caller != Caller::Operator {
            return Err(Error::denied("operator only"));
        }
        Ok(())
    }

    pub(crate) fn counts(&mut self) -> Stats {
        let now = self.engine.env.now_ms();
        let s = &self.engine.state;
        Stats {
            seq: s.seq,
            agents: s.agents.len() as u64,
            active_agents: s.agents.values().filter(|a| a.active).count() as u64,
            sessions: s.agents.values().filter(|a| a.session_id.is_some()).count() as u64,
            pools: s.pools.values().filter(|p| !p.archived).count() as u64,
            memories: s.memories.len() as u64,
            shares: s.pools.values().map(|p| p.shares.len() as u64).sum(),
            handoffs: s.live_handoffs_at(now),
            pending_handoffs: s
                .pending_by_target
                .keys()
                .map(|t| s.pending_for(t, now).len() as u64)
                .sum(),
            documents: s.documents.len() as u64,
            audit_entries: s.audit.len() as u64,
        }
    }

    /// Counts of live objects. Operator only.
    pub fn stats(&mut self, caller: &Caller) -> Result<Stats> {
        self.operator_only(caller)?;
        Ok(self.counts())
    }

    /// SHA-256 hex of the canonical encoding of the state (audit trail excluded). Operator only.
    pub fn state_digest(&mut self, caller: &Caller) -> Result<String> {
        self.operator_only(caller)?;
        let mut s = self.engine.state.clone();
        s.seq = 0;
        s.audit_head.clear();
        let bytes = serde_json::to_vec(&s).map_err(|e| Error::Unavailable(e.to_string()))?;
        Ok(Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect())
    }

    // ---- agents ----

    /// Registers an agent.
    pub fn register(&mut self, caller: &Caller, req: &RegistrationRequest) -> Result<Registration> {
        self.engine.run(
            caller,
            "agents.register",
            req.agent_id.as_deref(),
            |s, cx| agents::register(s, cx, req),
        )
    }

    /// Maps a token to its active agent's id.
    pub fn authenticate(&mut self, token: &str) -> Result<String> {
        self.engine
            .run(&Caller::Operator, "agents.authenticate", None, |s, cx| {
                agents::authenticate(s, cx, token)
            })?
    }

    /// Returns an agent.
    pub fn get_agent(&mut self, caller: &Caller, agent_id: &str) -> Result<Agent> {
        self.engine
            .run(caller, "agents.get", Some(agent_id), |s, cx| {
                agents::get(s, cx, agent_id)
            })
    }

    /// Lists an owner's agents.
    pub fn list_agents(&mut self, caller: &Caller, owner_id: &str) -> Result<Vec<Agent>> {
        self.engine
            .run(caller, "agents.list-by-owner", Some(owner_id), |s, cx| {
                agents::list_by_owner(s, cx, owner_id)
            })
    }

    /// Deactivates an agent.
    pub fn deactivate(&mut self, caller: &Caller, agent_id: &str) -> Result<()> {
        self.engine
            .run(caller, "agents.deactivate", Some(agent_id), |s, cx| {
                agents::deactivate(s, cx, agent_id)
            })
    }

    /// Reactivates an agent.
    pub fn reactivate(&mut self, caller: &Caller, agent_id: &str) -> Result<()> {
        self.engine
            .run(caller, "agents.reactivate", Some(agent_id), |s, cx| {
                agents::reactivate(s, cx, agent_id)
            })
    }

    /// Unregisters an agent.
    pub fn unregister(&mut self, caller: &Caller, agent_id: &str) -> Result<()> {
        self.engine
            .run(caller, "agents.unregister", Some(agent_id), |s, cx| {
                agents::unregister(s, cx, agent_id)
            })
    }

    /// Opens a session.
    pub fn start_session(&mut self, caller: &Caller, agent_id: &str) -> Result<Session> {
        self.engine
            .run(caller, "agents.start-session", Some(agent_id), |s, cx| {
                agents::start_session(s, cx, agent_id)
            })
    }

    /// Ends the open session.
    pub fn end_session(&mut self, caller: &Caller, agent_id: &str) -> Result<()> {
        self.engine
            .run(caller, "agents.end-session", Some(agent_id), |s, cx| {
                agents::end_session(s, cx, agent_id)
            })
    }

    /// Returns the open session.
    pub fn get_session(&mut self, caller: &Caller, agent_id: &str) -> Result<Option<Session>> {
        self.engine
            .run(caller, "agents.get-session", Some(agent_id), |s, cx| {
                agents::get_session(s, cx, agent_id)
            })
    }

    // ---- pools ----

    /// Creates a pool.
    pub fn create_pool(
        &mut self,
        caller: &Caller,
        agent_id: Option<&str>,
        req: &PoolRequest,
    ) -> Result<PoolView> {
        let id = self
            .engine
            .run(caller, "pools.create", req.pool_id.as_deref(), |s, cx| {
                pools::create(s, cx, agent_id, req)
            })?;
        self.pool_view(&id)
    }

    fn pool_view(&self, id: &str) -> Result<PoolView> {
        self.engine
            .state
            .pools
            .get(id)
            .map(PoolView::of)
            .ok_or_else(|| Error::not_found("pool", id))
    }

    /// Returns a pool.
    pub fn get_pool(&mut self, caller: &Caller, pool_id: &str) -> Result<PoolView> {
        self.engine
            .run(caller, "pools.get", Some(pool_id), |s, cx| {
                pools::get(s, cx, pool_id)
            })
    }

    /// Lists visible pools.
    pub fn list_pools(&mut self, caller: &Caller, owner_id: Option<&str>) -> Result<Vec<PoolView>> {
        self.engine.run(caller, "pools.list", owner_id, |s, cx| {
            pools::list(s, cx, owner_id)
        })
    }

    /// Adds a member or changes its permission.
    pub fn join_pool(
        &mut self,
        caller: &Caller,
        pool_id: &str,
        agent_id: &str,
        permission: Permission,
    ) -> Result<MemberView> {
        self.engine
            .run(caller, "pools.join", Some(pool_id), |s, cx| {
                pools::join(s, cx, pool_id, agent_id, permission)
            })
    }

    /// The acting agent leaves.
    pub fn leave_pool(&mut self, caller: &Caller, pool_id: &str, agent_id: &str) -> Result<()> {
        self.engine
            .run(caller, "pools.leave", Some(pool_id), |s, cx| {
                pools::leave(s, cx, pool_id, agent_id)
            })
    }

    /// An admin removes a member.
    pub fn remove_member(
        &mut self,
        caller: &Caller,
        pool_id: &str,
        acting: Option<&str>,
        member_id: &str,
    ) -> Result<()> {
        self.engine
            .run(caller, "pools.remove-member", Some(pool_id), |s, cx| {
                pools::remove_member(s, cx, pool_id, acting, member_id)
            })
    }

    /// Lists members.
    pub fn members(&mut self, caller: &Caller, pool_id: &str) -> Result<Vec<MemberView>> {
        self.engine
            .run(caller, "pools.members", Some(pool_id), |s, cx| {
                pools::members(s, cx, pool_id)
            })
    }

    /// Shares a memory.
    pub fn share(
        &mut self,
        caller: &Caller,
        pool_id: &str,
        memory_id: &str,
        agent_id: &str,
        scope: Scope,
    ) -> Result<ShareView> {
        self.engine
            .run(caller, "pools.share", Some(memory_id), |s, cx| {
                pools::share(s, cx, pool_id, memory_id, agent_id, scope)
            })
    }

    /// Removes a share.
    pub fn unshare(
        &mut self,
        caller: &Caller,
        pool_id: &str,
        memory_id: &str,
        agent_id: &str,
    ) -> Result<()> {
        self.engine
            .run(caller, "pools.unshare", Some(memory_id), |s, cx| {
                pools::unshare(s, cx, pool_id, memory_id, agent_id)
            })
    }

    /// Lists visible shares no wider than `max_scope`.
    pub fn query_shared(
        &mut self,
        caller: &Caller,
        pool_id: &str,
        agent_id: &str,
        max_scope: Scope,
    ) -> Result<Vec<ShareView>> {
        self.engine
            .run(caller, "pools.query-shared", Some(pool_id), |s, cx| {
                pools::query_shared(s, cx, pool_id, agent_id, max_scope)
            })
    }

    /// Archives a pool.
    pub fn archive_pool(
        &mut self,
        caller: &Caller,
        pool_id: &str,
        acting: Option<&str>,
    ) -> Result<()> {
        self.engine
            .run(caller, "pools.archive", Some(pool_id), |s, cx| {
                pools::archive(s, cx, pool_id, acting)
            })
    }

    /// Deletes a pool.
    pub fn delete_pool(
        &mut self,
        caller: &Caller,
        pool_id: &str,
        acting: Option<&str>,
    ) -> Result<()> {
        self.engine
            .run(caller, "pools.delete", Some(pool_id), |s, cx| {
                pools::delete(s, cx, pool_id, acting)
            })
    }

    // ---- memories ----

    fn memory_view(&self, id: &str, reader: &str) -> Result<MemoryView> {
        self.engine
            .state
            .memories
            .get(id)
            .map(|m| MemoryView::for_reader(m, reader))
            .ok_or_else(|| Error::not_found("memory", id))
    }

    /// Stores a memory.
    pub fn store_memory(&mut self, caller: &Caller, req: &StoreRequest) -> Result<MemoryView> {
        let id = self.engine.run(
            caller,
            "memories.store",
            req.memory_id.as_deref(),
            |s, cx| memories::store(s, cx, req),
        )?;
        self.memory_view(&id, &req.agent_id)
    }

    /// Returns a readable memory.
    pub fn get_memory(
        &mut self,
        caller: &Caller,
        agent_id: &str,
        memory_id: &str,
    ) -> Result<MemoryView> {
        self.engine
            .run(caller, "memories.get", Some(memory_id), |s, cx| {
                memories::get(s, cx, agent_id, memory_id)
            })
    }

    /// Updates a memory at the expected version.
    pub fn update_memory(&mut self, caller: &Caller, req: &UpdateRequest) -> Result<MemoryView> {
        self.engine
            .run(caller, "memories.update", Some(&req.memory_id), |s, cx| {
                memories::update(s, cx, req)
            })?;
        self.memory_view(&req.memory_id, &req.agent_id)
    }

    /// Deletes a memory.
    pub fn delete_memory(
        &mut self,
        caller: &Caller,
        agent_id: &str,
        memory_id: &str,
    ) -> Result<()> {
        self.engine
            .run(caller, "memories.delete", Some(memory_id), |s, cx| {
                memories::delete(s, cx, agent_id, memory_id)
            })
    }

    /// Ranked search over readable memories.
    pub fn search_memories(
        &mut self,
        caller: &Caller,
        agent_id: &str,
        query: &str,
        limit: u32,
    ) -> Result<Vec<MemoryHit>> {
        self.search_indexes()?;
        self.engine
            .run(caller, "memories.search", Some(agent_id), |s, cx| {
                memories::search(s, cx, agent_id, query, limit)
            })
    }

    // ---- handoffs ----

    fn handoff_view(&mut self, id: &str) -> Result<HandoffView> {
        let now = self.engine.env.now_ms();
        self.engine
            .state
            .handoffs
            .get(id)
            .map(|h| HandoffView::at(h, now))
            .ok_or_else(|| Error::not_found("handoff", id))
    }

    /// Starts a handoff.
    pub fn initiate(
        &mut self,
        caller: &Caller,
        source: &str,
        target: &str,
        context: &HandoffContext,
        ttl_seconds: Option<u64>,
    ) -> Result<HandoffView> {
        let id = self
            .engine
            .run(caller, "handoffs.initiate", Some(target), |s, cx| {
                handoffs::initiate(s, cx, source, target, context, ttl_seconds)
            })?;
        self.handoff_view(&id)
    }

    /// The target accepts.
    pub fn accept(
        &mut self,
        caller: &Caller,
        handoff_id: &str,
        agent_id: &str,
    ) -> Result<AcceptedHandoff> {
        self.engine
            .run(caller, "handoffs.accept", Some(handoff_id), |s, cx| {
                handoffs::accept(s, cx, handoff_id, agent_id)
            })?;
        let now = self.engine.env.now_ms();
        handoffs::accepted_view(&self.engine.state, handoff_id, now)
            .ok_or_else(|| Error::not_found("handoff", handoff_id))
    }

    /// The target rejects.
    pub fn reject(
        &mut self,
        caller: &Caller,
        handoff_id: &str,
        agent_id: &str,
        reason: &str,
    ) -> Result<HandoffView> {
        self.engine
            .run(caller, "handoffs.reject", Some(handoff_id), |s, cx| {
                handoffs::reject(s, cx, handoff_id, agent_id, reason)
            })?;
        self.handoff_view(handoff_id)
    }

    /// The source cancels.
    pub fn cancel(
        &mut self,
        caller: &Caller,
        handoff_id: &str,
        agent_id: &str,
    ) -> Result<HandoffView> {
        self.engine
            .run(caller, "handoffs.cancel", Some(handoff_id), |s, cx| {
                handoffs::cancel(s, cx, handoff_id, agent_id)
            })?;
        self.handoff_view(handoff_id)
    }

    /// The target completes.
    pub fn complete(
        &mut self,
        caller: &Caller,
        handoff_id: &str,
        agent_id: &str,
        result: Option<&str>,
    ) -> Result<HandoffView> {
        self.engine
            .run(caller, "handoffs.complete", Some(handoff_id), |s, cx| {
                handoffs::complete(s, cx, handoff_id, agent_id, result)
            })?;
        self.handoff_view(handoff_id)
    }

    /// Returns a handoff.
    pub fn get_handoff(&mut self, caller: &Caller, handoff_id: &str) -> Result<HandoffView> {
        self.engine
            .run(caller, "handoffs.get", Some(handoff_id), |s, cx| {
                handoffs::get(s, cx, handoff_id)
            })
    }

    /// Live pending handoffs for an agent.
    pub fn pending(&mut self, caller: &Caller, agent_id: &str) -> Result<Vec<HandoffView>> {
        self.engine
            .run(caller, "handoffs.pending", Some(agent_id), |s, cx| {
                handoffs::pending(s, cx, agent_id)
            })
    }

    /// Every handoff of an agent.
    pub fn handoffs_by_agent(
        &mut self,
        caller: &Caller,
        agent_id: &str,
    ) -> Result<Vec<HandoffView>> {
        self.engine
            .run(caller, "handoffs.by-agent", Some(agent_id), |s, cx| {
                handoffs::by_agent(s, cx, agent_id)
            })
    }

    /// Expires due handoffs and removes old terminal ones.
    pub fn cleanup(&mut self, caller: &Caller) -> Result<u32> {
        self.engine
            .run(caller, "handoffs.cleanup", None, handoffs::cleanup)
    }

    // ---- knowledge ----

    /// Ingests documents.
    pub fn ingest(&mut self, caller: &Caller, documents: &[Document]) -> Result<u32> {
        self.engine.run(caller, "knowledge.ingest", None, |s, cx| {
            knowledge::ingest(s, cx, documents)
        })
    }

    /// Returns a document.
    pub fn get_document(
        &mut self,
        caller: &Caller,
        kind: DocumentKind,
        id: &str,
    ) -> Result<StoredDocument> {
        self.engine.run(caller, "knowledge.get", Some(id), |s, cx| {
            knowledge::get(s, cx, kind, id)
        })
    }

    /// Searches one kind of document.
    pub fn search_documents(
        &mut self,
        caller: &Caller,
        kind: DocumentKind,
        query: &str,
        filters: &Filters,
        limit: u32,
    ) -> Result<Vec<SearchHit>> {
        self.search_indexes()?;
        self.engine.run(caller, "knowledge.search", None, |s, cx| {
            knowledge::search(s, cx, kind, query, filters, limit)
        })
    }

    // ---- audit ----

    /// Queries the audit trail: the journal's entries (changes and denials) kept in memory,
    /// merged with the read-audit log.
    pub fn audit(&mut self, caller: &Caller, filter: &AuditFilter) -> Result<Vec<AuditEntry>> {
        let scan = audit::scan(caller, filter);
        let reads = self
            .engine
            .journal
            .audit_scan(&scan)
            .map_err(crate::engine::journal_error)?;
        self.engine.run(caller, "audit.query", None, |s, cx| {
            audit::query(s, cx, filter, &reads)
        })
    }

    /// Records a refusal made by the host and returns it.
    pub fn deny(
        &mut self,
        caller: &Caller,
        operation: &str,
        target: Option<&str>,
        reason: &str,
    ) -> Result<()> {
        self.engine.run(caller, operation, target, |s, cx| {
            audit::deny(s, cx, operation, target, reason)
        })
    }
}
