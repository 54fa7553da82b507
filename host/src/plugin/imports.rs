//! The plugin world's imports: each counts against the plugin's limits, then forwards to
//! the one core instance as the bound agent. Nothing a plugin passes can change who acts.
//! The plugin world shares the core's records, so the core's answer goes back unchanged.

use super::access::CoreAccess;
use super::bindings::{
    plugin_handoffs as ph, plugin_identity as pi, plugin_knowledge as pk, plugin_memories as pm,
    plugin_pools as pp,
};
use super::limits::{LimitHit, MemoryLimiter, PluginLimits};
use crate::bindings::{Maas, memories, pools, types};
use crate::runtime::HostState;
use wasmtime::Store;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// One plugin's store data: its sandbox, its limits and the agent it is bound to.
pub(crate) struct PluginState {
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) limiter: MemoryLimiter,
    pub(crate) agent: String,
    pub(crate) core: CoreAccess,
    pub(crate) limits: PluginLimits,
    pub(crate) calls: u64,
    pub(crate) hit: Option<LimitHit>,
}

impl WasiView for PluginState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

type Answer<T> = wasmtime::Result<Result<T, types::Error>>;

/// Bytes of text a call passes: what `--call-bytes` bounds.
fn text_bytes<'a>(parts: impl IntoIterator<Item = &'a str>) -> usize {
    parts.into_iter().map(str::len).sum()
}

impl PluginState {
    /// Stops the plugin: the trap carries the limit, and the store remembers it in case
    /// the guest's own code turns the trap into another.
    pub(crate) fn stop(&mut self, hit: LimitHit) -> wasmtime::Error {
        self.hit = Some(hit);
        hit.into()
    }

    /// Counts one core call of `passed` bytes against the limits, then makes it as the
    /// bound agent (`agent(id)` caller, `id` as the acting agent).
    fn forward<T: Send + 'static>(
        &mut self,
        passed: usize,
        f: impl FnOnce(&Maas, &mut Store<HostState>, &types::Caller, &str) -> Answer<T> + Send + 'static,
    ) -> Answer<T> {
        self.calls = self.calls.saturating_add(1);
        if self.calls > self.limits.calls {
            return Err(self.stop(LimitHit::Calls(self.limits.calls)));
        }
        if passed > self.limits.call_bytes {
            return Err(self.stop(LimitHit::CallBytes {
                limit: self.limits.call_bytes,
                passed,
            }));
        }
        let agent = self.agent.clone();
        let caller = types::Caller::Agent(agent.clone());
        Ok(self
            .core
            .call(move |rt| rt.call(|core, store| f(core, store, &caller, &agent))))
    }
}

impl super::bindings::core_types::Host for PluginState {}

impl super::bindings::core_records::Host for PluginState {}

impl pi::Host for PluginState {
    fn whoami(&mut self) -> Answer<pi::Agent> {
        self.forward(0, |c, s, caller, me| {
            c.maas_core_agents().call_get(s, caller, me)
        })
    }
}

impl pp::Host for PluginState {
    fn create(
        &mut self,
        name: String,
        scope: types::Scope,
        team: Option<String>,
        pool_id: Option<String>,
    ) -> Answer<pp::Pool> {
        let passed = text_bytes([name.as_str()])
            + team.as_deref().map_or(0, str::len)
            + pool_id.as_deref().map_or(0, str::len);
        self.forward(passed, move |c, s, caller, me| {
            let owner = match c.maas_core_agents().call_get(&mut *s, caller, me)? {
                Ok(agent) => agent.owner_id,
                Err(e) => return Ok(Err(e)),
            };
            let request = pools::PoolRequest {
                name,
                owner_id: owner,
                scope,
                team,
                pool_id,
                metadata: None,
            };
            c.maas_core_pools()
                .call_create(s, caller, Some(me), &request)
        })
    }

    fn get(&mut self, pool_id: String) -> Answer<pp::Pool> {
        self.forward(pool_id.len(), move |c, s, caller, _| {
            c.maas_core_pools().call_get(s, caller, &pool_id)
        })
    }

    fn list(&mut self) -> Answer<Vec<pp::Pool>> {
        self.forward(0, |c, s, caller, _| {
            c.maas_core_pools().call_list(s, caller, None)
        })
    }

    fn add_member(
        &mut self,
        pool_id: String,
        agent_id: String,
        permission: types::Permission,
    ) -> Answer<pp::Member> {
        let passed = text_bytes([pool_id.as_str(), agent_id.as_str()]);
        self.forward(passed, move |c, s, caller, _| {
            c.maas_core_pools()
                .call_join(s, caller, &pool_id, &agent_id, permission)
        })
    }

    fn leave(&mut self, pool_id: String) -> Answer<()> {
        self.forward(pool_id.len(), move |c, s, caller, me| {
            c.maas_core_pools().call_leave(s, caller, &pool_id, me)
        })
    }

    fn members(&mut self, pool_id: String) -> Answer<Vec<pp::Member>> {
        self.forward(pool_id.len(), move |c, s, caller, _| {
            c.maas_core_pools().call_members(s, caller, &pool_id)
        })
    }

    fn share(
        &mut self,
        pool_id: String,
        memory_id: String,
        scope: types::Scope,
    ) -> Answer<pp::SharedMemory> {
        let passed = text_bytes([pool_id.as_str(), memory_id.as_str()]);
        self.forward(passed, move |c, s, caller, me| {
            c.maas_core_pools()
                .call_share(s, caller, &pool_id, &memory_id, me, scope)
        })
    }

    fn unshare(&mut self, pool_id: String, memory_id: String) -> Answer<()> {
        let passed = text_bytes([pool_id.as_str(), memory_id.as_str()]);
        self.forward(passed, move |c, s, caller, me| {
            c.maas_core_pools()
                .call_unshare(s, caller, &pool_id, &memory_id, me)
        })
    }

    fn query_shared(
        &mut self,
        pool_id: String,
        max_scope: types::Scope,
    ) -> Answer<Vec<pp::SharedMemory>> {
        self.forward(pool_id.len(), move |c, s, caller, me| {
            c.maas_core_pools()
                .call_query_shared(s, caller, &pool_id, me, max_scope)
        })
    }
}

impl pm::Host for PluginState {
    fn store(&mut self, request: pm::StoreRequest) -> Answer<pm::Memory> {
        let passed = text_bytes([request.content.as_str()])
            + text_bytes(request.tags.iter().map(String::as_str))
            + request.memory_id.as_deref().map_or(0, str::len)
            + request.pool_id.as_deref().map_or(0, str::len);
        self.forward(passed, move |c, s, caller, me| {
            let request = memories::StoreRequest {
                agent_id: me.to_string(),
                content: request.content,
                kind: request.kind,
                tags: request.tags,
                memory_id: request.memory_id,
                pool_id: request.pool_id,
                scope: request.scope,
                ttl_seconds: request.ttl_seconds,
            };
            c.maas_core_memories()
                .call_store_memory(s, caller, &request)
        })
    }

    fn get(&mut self, memory_id: String) -> Answer<pm::Memory> {
        self.forward(memory_id.len(), move |c, s, caller, me| {
            c.maas_core_memories().call_get(s, caller, me, &memory_id)
        })
    }

    fn update(
        &mut self,
        memory_id: String,
        content: Option<String>,
        tags: Option<Vec<String>>,
        expected_version: u64,
    ) -> Answer<pm::Memory> {
        let passed = memory_id.len()
            + content.as_deref().map_or(0, str::len)
            + tags
                .as_deref()
                .map_or(0, |t| text_bytes(t.iter().map(String::as_str)));
        self.forward(passed, move |c, s, caller, me| {
            let request = memories::UpdateRequest {
                agent_id: me.to_string(),
                memory_id,
                content,
                tags,
                kind: None,
                expected_version,
            };
            c.maas_core_memories().call_update(s, caller, &request)
        })
    }

    fn delete(&mut self, memory_id: String) -> Answer<()> {
        self.forward(memory_id.len(), move |c, s, caller, me| {
            c.maas_core_memories()
                .call_delete(s, caller, me, &memory_id)
        })
    }

    fn search(&mut self, query: String, limit: u32) -> Answer<Vec<pm::MemoryHit>> {
        self.forward(query.len(), move |c, s, caller, me| {
            c.maas_core_memories()
                .call_search(s, caller, me, &query, limit)
        })
    }
}

impl ph::Host for PluginState {
    fn initiate(
        &mut self,
        target_agent_id: String,
        context: ph::HandoffContext,
        ttl_seconds: Option<u64>,
    ) -> Answer<ph::Handoff> {
        let passed = text_bytes([
            target_agent_id.as_str(),
            context.task_description.as_str(),
            context.current_state.as_str(),
        ]) + text_bytes(context.relevant_memories.iter().map(String::as_str))
            + text_bytes(context.relevant_files.iter().map(String::as_str));
        self.forward(passed, move |c, s, caller, me| {
            c.maas_core_handoffs().call_initiate(
                s,
                caller,
                me,
                &target_agent_id,
                &context,
                ttl_seconds,
            )
        })
    }

    fn accept(&mut self, handoff_id: String) -> Answer<ph::AcceptedHandoff> {
        self.forward(handoff_id.len(), move |c, s, caller, me| {
            c.maas_core_handoffs()
                .call_accept(s, caller, &handoff_id, me)
        })
    }

    fn reject(&mut self, handoff_id: String, reason: String) -> Answer<ph::Handoff> {
        let passed = text_bytes([handoff_id.as_str(), reason.as_str()]);
        self.forward(passed, move |c, s, caller, me| {
            c.maas_core_handoffs()
                .call_reject(s, caller, &handoff_id, me, &reason)
        })
    }

    fn cancel(&mut self, handoff_id: String) -> Answer<ph::Handoff> {
        self.forward(handoff_id.len(), move |c, s, caller, me| {
            c.maas_core_handoffs()
                .call_cancel(s, caller, &handoff_id, me)
        })
    }

    fn complete(&mut self, handoff_id: String, result: Option<String>) -> Answer<ph::Handoff> {
        let passed = handoff_id.len() + result.as_deref().map_or(0, str::len);
        self.forward(passed, move |c, s, caller, me| {
            c.maas_core_handoffs()
                .call_complete(s, caller, &handoff_id, me, result.as_deref())
        })
    }

    fn get(&mut self, handoff_id: String) -> Answer<ph::Handoff> {
        self.forward(handoff_id.len(), move |c, s, caller, _| {
            c.maas_core_handoffs().call_get(s, caller, &handoff_id)
        })
    }

    fn pending(&mut self) -> Answer<Vec<ph::Handoff>> {
        self.forward(0, |c, s, caller, me| {
            c.maas_core_handoffs().call_pending(s, caller, me)
        })
    }

    fn mine(&mut self) -> Answer<Vec<ph::Handoff>> {
        self.forward(0, |c, s, caller, me| {
            c.maas_core_handoffs().call_by_agent(s, caller, me)
        })
    }
}

impl pk::Host for PluginState {
    fn search_code(
        &mut self,
        query: String,
        service_filter: Option<String>,
        limit: u32,
    ) -> Answer<Vec<pk::SearchHit>> {
        let passed = query.len() + service_filter.as_deref().map_or(0, str::len);
        self.forward(passed, move |c, s, caller, _| {
            c.maas_core_knowledge().call_search_code(
                s,
                caller,
                &query,
                service_filter.as_deref(),
                limit,
            )
        })
    }

    fn search_decisions(
        &mut self,
        query: String,
        topic_filter: Option<String>,
        limit: u32,
    ) -> Answer<Vec<pk::SearchHit>> {
        let passed = query.len() + topic_filter.as_deref().map_or(0, str::len);
        self.forward(passed, move |c, s, caller, _| {
            c.maas_core_knowledge().call_search_decisions(
                s,
                caller,
                &query,
                topic_filter.as_deref(),
                limit,
            )
        })
    }

    fn search_incidents(
        &mut self,
        query: String,
        service_filter: Option<String>,
        severity_filter: Option<String>,
        limit: u32,
    ) -> Answer<Vec<pk::SearchHit>> {
        let passed = query.len()
            + service_filter.as_deref().map_or(0, str::len)
            + severity_filter.as_deref().map_or(0, str::len);
        self.forward(passed, move |c, s, caller, _| {
            c.maas_core_knowledge().call_search_incidents(
                s,
                caller,
                &query,
                service_filter.as_deref(),
                severity_filter.as_deref(),
                limit,
            )
        })
    }
}
