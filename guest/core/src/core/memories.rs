//! `Core` operations on the memory store.

use crate::core::Core;
use crate::engine::Env;
use crate::error::{Error, Result};
use crate::journal::Journal;
use crate::memories::{self, MemoryHit, MemoryView, StoreRequest, UpdateRequest};
use crate::model::Caller;

impl<J: Journal, E: Env> Core<J, E> {
    fn memory_view(&self, id: &str) -> Result<MemoryView> {
        let s = &self.engine.state;
        s.memories
            .get(id)
            .map(|m| MemoryView::of(s, m))
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
        self.memory_view(&id)
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
        self.memory_view(&req.memory_id)
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
}
