//! The plugin world's imports: each counts against the plugin's limits, then runs the
//! same operation (`crate::ops`) the MCP tool and the CLI verb run, as the bound agent:
//! the acting-agent slot is filled with it, so nothing a plugin passes can change who
//! acts. The plugin world shares the core's records, so the answer goes back unchanged.

use super::access::CoreAccess;
use super::bindings::{
    plugin_handoffs as ph, plugin_identity as pi, plugin_knowledge as pk, plugin_memories as pm,
    plugin_pools as pp,
};
use super::limits::{LimitHit, MemoryLimiter, PluginLimits};
use crate::bindings::types;
use crate::ops::{self, Op, agents, handoffs, knowledge, memories, pools, shares};
use crate::runtime::Runtime;
use crate::wire::Wire;
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
    /// When the start or run under way must end (its `--wall-time`): a core call burns
    /// little fuel, so the deadline between fuel yields does not see a loop of them.
    pub(crate) deadline: Option<std::time::Instant>,
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

/// Bytes of text a call passes: what `--call-bytes` bounds. Each text counts its own
/// bytes and the host's `String` it becomes (24 bytes), as the copy out of the plugin
/// costs: a list of a million empty texts is 24 MB to lift, not nothing.
fn text_bytes<'a>(parts: impl IntoIterator<Item = &'a str>) -> usize {
    parts
        .into_iter()
        .map(|t| t.len() + std::mem::size_of::<String>())
        .sum()
}

/// The length of an optional text.
fn opt_len(text: Option<&String>) -> usize {
    text.map_or(0, String::len)
}

/// A JSON text a plugin passes, as the JSON value the operation takes.
fn json_value(field: &str, text: &str) -> Result<serde_json::Value, types::Error> {
    serde_json::from_str(text).map_err(|e| {
        types::Error::InvalidInput(types::InvalidInfo {
            field: field.into(),
            reason: format!("not JSON: {e}"),
        })
    })
}

impl PluginState {
    /// Stops the plugin: the trap carries the limit, and the store remembers it in case
    /// the guest's own code turns the trap into another.
    pub(crate) fn stop(&mut self, hit: LimitHit) -> wasmtime::Error {
        self.hit = Some(hit);
        hit.into()
    }

    /// Counts one core call of `passed` bytes against the limits, then runs `f` on the
    /// core as the bound agent.
    fn forward<T: Send + 'static>(
        &mut self,
        passed: usize,
        f: impl FnOnce(&mut Runtime, &types::Caller) -> Result<T, types::Error> + Send + 'static,
    ) -> Answer<T> {
        self.calls = self.calls.saturating_add(1);
        if self.calls > self.limits.calls {
            return Err(self.stop(LimitHit::Calls(self.limits.calls)));
        }
        if self
            .deadline
            .is_some_and(|end| std::time::Instant::now() >= end)
        {
            return Err(self.stop(LimitHit::WallTime(self.limits.wall_time)));
        }
        if passed > self.limits.call_bytes {
            return Err(self.stop(LimitHit::CallBytes {
                limit: self.limits.call_bytes,
                passed: Some(passed),
            }));
        }
        let caller = types::Caller::Agent(self.agent.clone());
        Ok(self.core.call(move |rt| f(rt, &caller)))
    }

    /// Runs one operation as the bound agent.
    fn run<O: Op>(&mut self, passed: usize, mut op: O) -> Answer<O::Out> {
        self.forward(passed, move |rt, caller| ops::invoke(&mut op, rt, caller))
    }
}

impl super::bindings::core_types::Host for PluginState {}

impl super::bindings::core_records::Host for PluginState {}

impl pi::Host for PluginState {
    fn whoami(&mut self) -> Answer<pi::Agent> {
        self.run(0, agents::GetAgentInfo { agent_id: None })
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
        let passed = name.len() + opt_len(team.as_ref()) + opt_len(pool_id.as_ref());
        self.forward(passed, move |rt, caller| {
            let me = ops::invoke(&mut agents::GetAgentInfo { agent_id: None }, rt, caller)?;
            let mut op = pools::CreatePool {
                name,
                owner_id: me.owner_id,
                scope: scope.wire().into(),
                pool_id,
                metadata: None,
                team,
                agent_id: None,
            };
            ops::invoke(&mut op, rt, caller)
        })
    }

    fn get(&mut self, pool_id: String) -> Answer<pp::Pool> {
        self.run(pool_id.len(), pools::GetPool { pool_id })
    }

    fn list(&mut self, limit: Option<u32>, cursor: Option<String>) -> Answer<pp::PoolPage> {
        let passed = cursor.as_ref().map_or(0, String::len);
        let op = pools::ListPools {
            owner_id: None,
            limit,
            cursor,
        };
        self.run(passed, op)
    }

    fn add_member(
        &mut self,
        pool_id: String,
        agent_id: String,
        permission: types::Permission,
    ) -> Answer<pp::Member> {
        let passed = text_bytes([pool_id.as_str(), agent_id.as_str()]);
        let permission = permission.wire().into();
        let op = pools::JoinPool {
            pool_id,
            agent_id,
            permission,
        };
        self.run(passed, op)
    }

    fn leave(&mut self, pool_id: String) -> Answer<()> {
        let passed = pool_id.len();
        self.run(
            passed,
            pools::LeavePool {
                pool_id,
                agent_id: None,
            },
        )
    }

    fn members(
        &mut self,
        pool_id: String,
        limit: Option<u32>,
        cursor: Option<String>,
    ) -> Answer<pp::MemberPage> {
        let passed = pool_id.len() + cursor.as_ref().map_or(0, String::len);
        let op = pools::GetPoolMembers {
            pool_id,
            limit,
            cursor,
        };
        self.run(passed, op)
    }

    fn share(
        &mut self,
        pool_id: String,
        memory_id: String,
        scope: types::Scope,
    ) -> Answer<pp::SharedMemory> {
        let passed = text_bytes([pool_id.as_str(), memory_id.as_str()]);
        let op = shares::ShareMemoryToScope {
            pool_id,
            memory_id,
            agent_id: None,
            scope: scope.wire().into(),
        };
        self.run(passed, op)
    }

    fn unshare(&mut self, pool_id: String, memory_id: String) -> Answer<()> {
        let passed = text_bytes([pool_id.as_str(), memory_id.as_str()]);
        let op = shares::UnshareMemory {
            pool_id,
            memory_id,
            agent_id: None,
        };
        self.run(passed, op)
    }

    fn query_shared(
        &mut self,
        pool_id: String,
        max_scope: types::Scope,
        limit: Option<u32>,
        cursor: Option<String>,
    ) -> Answer<pp::SharedMemoryPage> {
        let passed = pool_id.len() + cursor.as_ref().map_or(0, String::len);
        let op = shares::QueryShared {
            pool_id,
            agent_id: None,
            max_scope: Some(max_scope.wire().into()),
            limit,
            cursor,
        };
        self.run(passed, op)
    }
}

impl pm::Host for PluginState {
    fn store(&mut self, request: pm::StoreRequest) -> Answer<pm::Memory> {
        let passed = request.content.len()
            + text_bytes(request.tags.iter().map(String::as_str))
            + opt_len(request.memory_id.as_ref())
            + opt_len(request.pool_id.as_ref());
        let op = memories::StoreMemory {
            agent_id: None,
            content: request.content,
            memory_type: request.kind.wire().into(),
            tags: Some(request.tags),
            memory_id: request.memory_id,
            pool_id: request.pool_id,
            scope: request.scope.map(|s| s.wire().into()),
            ttl_seconds: request.ttl_seconds,
        };
        self.run(passed, op)
    }

    fn get(&mut self, memory_id: String) -> Answer<pm::Memory> {
        let passed = memory_id.len();
        self.run(
            passed,
            memories::GetMemory {
                agent_id: None,
                memory_id,
            },
        )
    }

    fn update(
        &mut self,
        memory_id: String,
        content: Option<String>,
        tags: Option<Vec<String>>,
        expected_version: u64,
    ) -> Answer<pm::Memory> {
        let passed = memory_id.len()
            + opt_len(content.as_ref())
            + tags
                .as_deref()
                .map_or(0, |t| text_bytes(t.iter().map(String::as_str)));
        let op = memories::UpdateMemory {
            agent_id: None,
            memory_id,
            expected_version,
            content,
            tags,
            memory_type: None,
            clear_tags: false,
        };
        self.run(passed, op)
    }

    fn delete(&mut self, memory_id: String) -> Answer<()> {
        let passed = memory_id.len();
        self.run(
            passed,
            memories::DeleteMemory {
                agent_id: None,
                memory_id,
            },
        )
    }

    fn search(&mut self, query: String, limit: u32) -> Answer<Vec<pm::MemoryHit>> {
        let passed = query.len();
        let op = memories::SearchMemories {
            agent_id: None,
            query,
            limit: Some(limit),
        };
        self.run(passed, op)
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
        self.forward(passed, move |rt, caller| {
            let mut op = handoffs::InitiateHandoff {
                source_agent_id: None,
                target_agent_id,
                task_description: context.task_description,
                current_state: Some(json_value("context.current-state", &context.current_state)?),
                relevant_memories: Some(context.relevant_memories),
                relevant_files: Some(context.relevant_files),
                ttl_seconds,
            };
            ops::invoke(&mut op, rt, caller)
        })
    }

    fn accept(&mut self, handoff_id: String) -> Answer<ph::AcceptedHandoff> {
        let passed = handoff_id.len();
        let op = handoffs::AcceptHandoff {
            handoff_id,
            agent_id: None,
        };
        self.run(passed, op)
    }

    fn reject(&mut self, handoff_id: String, reason: String) -> Answer<ph::Handoff> {
        let passed = text_bytes([handoff_id.as_str(), reason.as_str()]);
        let op = handoffs::RejectHandoff {
            handoff_id,
            agent_id: None,
            reason,
        };
        self.run(passed, op)
    }

    fn cancel(&mut self, handoff_id: String) -> Answer<ph::Handoff> {
        let passed = handoff_id.len();
        let op = handoffs::CancelHandoff {
            handoff_id,
            agent_id: None,
        };
        self.run(passed, op)
    }

    fn complete(&mut self, handoff_id: String, result: Option<String>) -> Answer<ph::Handoff> {
        let passed = handoff_id.len() + opt_len(result.as_ref());
        self.forward(passed, move |rt, caller| {
            let mut op = handoffs::CompleteHandoff {
                handoff_id,
                agent_id: None,
                result: result.map(|r| json_value("result", &r)).transpose()?,
            };
            ops::invoke(&mut op, rt, caller)
        })
    }

    fn get(&mut self, handoff_id: String) -> Answer<ph::Handoff> {
        self.run(handoff_id.len(), handoffs::GetHandoff { handoff_id })
    }

    fn pending(&mut self, limit: Option<u32>, cursor: Option<String>) -> Answer<ph::HandoffPage> {
        let passed = cursor.as_ref().map_or(0, String::len);
        let op = handoffs::GetPendingHandoffs {
            agent_id: None,
            limit,
            cursor,
        };
        self.run(passed, op)
    }

    fn mine(&mut self, limit: Option<u32>, cursor: Option<String>) -> Answer<ph::HandoffPage> {
        let passed = cursor.as_ref().map_or(0, String::len);
        let op = handoffs::GetAgentHandoffs {
            agent_id: None,
            limit,
            cursor,
        };
        self.run(passed, op)
    }
}

impl pk::Host for PluginState {
    fn search_code(
        &mut self,
        query: String,
        service_filter: Option<String>,
        limit: u32,
    ) -> Answer<Vec<pk::SearchHit>> {
        let passed = query.len() + opt_len(service_filter.as_ref());
        let op = knowledge::SearchCodeKb {
            query,
            service_filter,
            limit: Some(limit),
        };
        self.run(passed, op)
    }

    fn search_decisions(
        &mut self,
        query: String,
        topic_filter: Option<String>,
        limit: u32,
    ) -> Answer<Vec<pk::SearchHit>> {
        let passed = query.len() + opt_len(topic_filter.as_ref());
        let op = knowledge::SearchDecisions {
            query,
            topic_filter,
            limit: Some(limit),
        };
        self.run(passed, op)
    }

    fn search_incidents(
        &mut self,
        query: String,
        service_filter: Option<String>,
        severity_filter: Option<String>,
        limit: u32,
    ) -> Answer<Vec<pk::SearchHit>> {
        let passed =
            query.len() + opt_len(service_filter.as_ref()) + opt_len(severity_filter.as_ref());
        let op = knowledge::SearchIncidents {
            query,
            service_filter,
            severity_filter,
            limit: Some(limit),
        };
        self.run(passed, op)
    }
}
