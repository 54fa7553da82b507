//! The original fifteen MCP tools, with their names, parameters and success shapes (the
//! rest are in `more_tools.rs`), and what both sets share.

use super::MaasMcp;
use super::args::*;
use crate::bindings::{agents, handoffs, knowledge, pools, types};
use crate::wire::{self, Wire, parse};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, Extensions};
use rmcp::{ErrorData, tool, tool_router};
use serde_json::{Value, json};

/// What every tool returns.
pub(super) type Reply = Result<CallToolResult, ErrorData>;

/// A JSON argument as the JSON text the core stores.
pub(super) fn json_text(v: Option<Value>) -> Option<String> {
    v.map(|v| v.to_string())
}

pub(super) fn parse_opt<T: Wire>(field: &str, v: Option<&str>) -> Result<Option<T>, types::Error> {
    v.map(|s| parse(field, s)).transpose()
}

pub(super) fn status(s: &str) -> Value {
    json!({ "status": s })
}

#[tool_router(router = original_tools, vis = "pub(super)")]
impl MaasMcp {
    /// Registers an agent (operator only) and returns its id and secret token.
    #[tool(
        description = "Register an agent for an owner. Operator only. Returns the agent id and its secret bearer token (shown once)."
    )]
    async fn register_agent(
        &self,
        Parameters(a): Parameters<RegisterAgent>,
        ext: Extensions,
    ) -> Reply {
        let caller = self.caller(&ext);
        let prep = (|| {
            Ok::<_, types::Error>(agents::RegistrationRequest {
                agent_type: parse("agent_type", &a.agent_type)?,
                owner_id: a.owner_id,
                agent_id: a.agent_id,
                capabilities: a
                    .capabilities
                    .map(|caps| {
                        caps.iter()
                            .map(|c| parse("capabilities", c))
                            .collect::<Result<Vec<_>, _>>()
                    })
                    .transpose()?,
                metadata: json_text(a.metadata),
            })
        })();
        let req = match prep {
            Ok(r) => r,
            Err(e) => return Ok(Self::failure(&e)),
        };
        self.run(
            move |rt| rt.call(|c, s| c.maas_core_agents().call_register(s, &caller, &req)),
            |r| json!({"agent_id": r.agent_id, "status": "registered", "token": r.token}),
        )
        .await
    }

    /// Returns an agent's profile.
    #[tool(
        description = "Get an agent's profile: id, agent_type, owner_id, capabilities, metadata, session_id, created_at."
    )]
    async fn get_agent_info(&self, Parameters(a): Parameters<AgentId>, ext: Extensions) -> Reply {
        let caller = self.caller(&ext);
        if let Some(denied) = self.guard(&caller, "get_agent_info", &a.agent_id).await {
            return denied;
        }
        self.run(
            move |rt| rt.call(|c, s| c.maas_core_agents().call_get(s, &caller, &a.agent_id)),
            |agent| wire::agent(&agent),
        )
        .await
    }

    /// Lists an owner's agents.
    #[tool(description = "List the agents of a user (owner), in registration order.")]
    async fn get_agents_for_user(
        &self,
        Parameters(a): Parameters<UserId>,
        ext: Extensions,
    ) -> Reply {
        let caller = self.caller(&ext);
        self.run(
            move |rt| {
                rt.call(|c, s| {
                    c.maas_core_agents()
                        .call_list_by_owner(s, &caller, &a.user_id)
                })
            },
            |list| json!({"agents": list.iter().map(wire::agent).collect::<Vec<_>>()}),
        )
        .await
    }

    /// Starts a handoff.
    #[tool(
        description = "Hand a task to another agent with its context: task description, current state, relevant memories and files. The target sees it as pending until it accepts, rejects, or it expires."
    )]
    async fn initiate_handoff(
        &self,
        Parameters(a): Parameters<InitiateHandoff>,
        ext: Extensions,
    ) -> Reply {
        let caller = self.caller(&ext);
        let ctx = handoffs::HandoffContext {
            task_description: a.task_description,
            current_state: json_text(a.current_state).unwrap_or_else(|| "{}".into()),
            relevant_memories: a.relevant_memories.unwrap_or_default(),
            relevant_files: a.relevant_files.unwrap_or_default(),
        };
        self.run(
            move |rt| {
                rt.call(|c, s| {
                    c.maas_core_handoffs().call_initiate(
                        s,
                        &caller,
                        &a.source_agent_id,
                        &a.target_agent_id,
                        &ctx,
                        a.ttl_seconds,
                    )
                })
            },
            |h| {
                wire::with_notes(
                    json!({"handoff_id": h.id, "status": h.status.wire(), "expires_at": h.expires_at}),
                    &h.notes,
                )
            },
        )
        .await
    }

    /// The target accepts a handoff.
    #[tool(
        description = "Accept a pending handoff as its target. Returns the context and the referenced memories the target may now read."
    )]
    async fn accept_handoff(
        &self,
        Parameters(a): Parameters<HandoffAgent>,
        ext: Extensions,
    ) -> Reply {
        let caller = self.caller(&ext);
        self.run(
            move |rt| {
                rt.call(|c, s| {
                    c.maas_core_handoffs()
                        .call_accept(s, &caller, &a.handoff_id, &a.agent_id)
                })
            },
            |acc| {
                json!({
                    "status": "accepted",
                    "handoff_id": acc.handoff.id,
                    "context": wire::context(&acc.handoff.context),
                    "memories": acc.memories.iter().map(wire::memory).collect::<Vec<_>>(),
                    "dropped_memories": acc.dropped_memories,
                })
            },
        )
        .await
    }

    /// The target completes a handoff.
    #[tool(description = "Complete an accepted handoff as its target, with a JSON result.")]
    async fn complete_handoff(
        &self,
        Parameters(a): Parameters<CompleteHandoff>,
        ext: Extensions,
    ) -> Reply {
        let caller = self.caller(&ext);
        let result = json_text(a.result);
        self.run(
            move |rt| {
                rt.call(|c, s| {
                    c.maas_core_handoffs().call_complete(
                        s,
                        &caller,
                        &a.handoff_id,
                        &a.agent_id,
                        result.as_deref(),
                    )
                })
            },
            |h| wire::with_notes(json!({"status": "completed", "handoff_id": h.id}), &h.notes),
        )
        .await
    }

    /// Lists the pending handoffs of an agent.
    #[tool(description = "List the live pending handoffs targeting an agent, oldest first.")]
    async fn get_pending_handoffs(
        &self,
        Parameters(a): Parameters<AgentId>,
        ext: Extensions,
    ) -> Reply {
        let caller = self.caller(&ext);
        self.run(
            move |rt| rt.call(|c, s| c.maas_core_handoffs().call_pending(s, &caller, &a.agent_id)),
            |list| {
                json!({"handoffs": list.iter().map(|h| json!({
                    "id": h.id,
                    "source_agent_id": h.source_agent_id,
                    "task_description": h.context.task_description,
                    "created_at": h.created_at,
                    "expires_at": h.expires_at,
                    "relevant_memories": h.context.relevant_memories,
                    "relevant_files": h.context.relevant_files,
                })).collect::<Vec<_>>()})
            },
        )
        .await
    }

    /// Creates a pool.
    #[tool(
        description = "Create a shared memory pool for an owner. The scope is the widest scope a share in it may have."
    )]
    async fn create_pool(&self, Parameters(a): Parameters<CreatePool>, ext: Extensions) -> Reply {
        let caller = self.caller(&ext);
        let scope = match parse("scope", &a.scope) {
            Ok(s) => s,
            Err(e) => return Ok(Self::failure(&e)),
        };
        let req = pools::PoolRequest {
            name: a.name,
            owner_id: a.owner_id,
            scope,
            team: a.team,
            pool_id: a.pool_id,
            metadata: json_text(a.metadata),
        };
        self.run(
            move |rt| {
                rt.call(|c, s| {
                    c.maas_core_pools()
                        .call_create(s, &caller, a.agent_id.as_deref(), &req)
                })
            },
            |p| json!({"pool_id": p.id, "status": "created"}),
        )
        .await
    }

    /// Adds an agent to a pool.
    #[tool(description = "Add an agent to a pool at a permission (read, write, admin).")]
    async fn join_pool(&self, Parameters(a): Parameters<JoinPool>, ext: Extensions) -> Reply {
        let caller = self.caller(&ext);
        if let Some(denied) = self.guard(&caller, "join_pool", &a.agent_id).await {
            return denied;
        }
        let permission = match parse("permission", &a.permission) {
            Ok(p) => p,
            Err(e) => return Ok(Self::failure(&e)),
        };
        self.run(
            move |rt| {
                rt.call(|c, s| {
                    c.maas_core_pools()
                        .call_join(s, &caller, &a.pool_id, &a.agent_id, permission)
                })
            },
            |m| json!({"status": "joined", "permission": m.permission.wire()}),
        )
        .await
    }

    /// The agent leaves a pool.
    #[tool(description = "Leave a pool (an agent leaves itself).")]
    async fn leave_pool(&self, Parameters(a): Parameters<PoolAgent>, ext: Extensions) -> Reply {
        let caller = self.caller(&ext);
        self.run(
            move |rt| {
                rt.call(|c, s| {
                    c.maas_core_pools()
                        .call_leave(s, &caller, &a.pool_id, &a.agent_id)
                })
            },
            |()| status("left"),
        )
        .await
    }

    /// Shares a memory into a pool at a scope.
    #[tool(
        description = "Share one of your memories into a pool at a scope: agent_private, user, project, team or global (no wider than the pool's scope)."
    )]
    async fn share_memory_to_scope(
        &self,
        Parameters(a): Parameters<ShareMemory>,
        ext: Extensions,
    ) -> Reply {
        let caller = self.caller(&ext);
        let scope = match parse("scope", &a.scope) {
            Ok(s) => s,
            Err(e) => return Ok(Self::failure(&e)),
        };
        self.run(
            move |rt| {
                rt.call(|c, s| {
                    c.maas_core_pools().call_share(
                        s,
                        &caller,
                        &a.pool_id,
                        &a.memory_id,
                        &a.agent_id,
                        scope,
                    )
                })
            },
            |sh| json!({"status": "shared", "memory_id": sh.memory_id, "scope": sh.scope.wire()}),
        )
        .await
    }

    /// Lists the shares of a pool the agent may see.
    #[tool(
        description = "List the memories shared in a pool that the agent may see, no wider than max_scope."
    )]
    async fn query_shared(&self, Parameters(a): Parameters<QueryShared>, ext: Extensions) -> Reply {
        let caller = self.caller(&ext);
        let max_scope = match parse_opt("max_scope", a.max_scope.as_deref()) {
            Ok(s) => s.unwrap_or(types::Scope::Global),
            Err(e) => return Ok(Self::failure(&e)),
        };
        self.run(
            move |rt| {
                rt.call(|c, s| {
                    c.maas_core_pools().call_query_shared(
                        s,
                        &caller,
                        &a.pool_id,
                        &a.agent_id,
                        max_scope,
                    )
                })
            },
            |list| json!({"memories": list.iter().map(wire::share).collect::<Vec<_>>()}),
        )
        .await
    }

    /// Searches the code knowledge base.
    #[tool(
        description = "Search the code knowledge base (ranked; understands camelCase, snake_case and paths), optionally within one service."
    )]
    async fn search_code_kb(
        &self,
        Parameters(a): Parameters<SearchCode>,
        ext: Extensions,
    ) -> Reply {
        let caller = self.caller(&ext);
        let limit = a.limit.unwrap_or(10);
        self.run(
            move |rt| {
                rt.call(|c, s| {
                    c.maas_core_knowledge().call_search_code(
                        s,
                        &caller,
                        &a.query,
                        a.service_filter.as_deref(),
                        limit,
                    )
                })
            },
            results,
        )
        .await
    }

    /// Searches architecture decisions.
    #[tool(description = "Search architecture decisions (ranked), optionally within one topic.")]
    async fn search_decisions(
        &self,
        Parameters(a): Parameters<SearchDecisions>,
        ext: Extensions,
    ) -> Reply {
        let caller = self.caller(&ext);
        let limit = a.limit.unwrap_or(10);
        self.run(
            move |rt| {
                rt.call(|c, s| {
                    c.maas_core_knowledge().call_search_decisions(
                        s,
                        &caller,
                        &a.query,
                        a.topic_filter.as_deref(),
                        limit,
                    )
                })
            },
            results,
        )
        .await
    }

    /// Searches incidents.
    #[tool(description = "Search incident reports (ranked), optionally by service and severity.")]
    async fn search_incidents(
        &self,
        Parameters(a): Parameters<SearchIncidents>,
        ext: Extensions,
    ) -> Reply {
        let caller = self.caller(&ext);
        let limit = a.limit.unwrap_or(10);
        self.run(
            move |rt| {
                rt.call(|c, s| {
                    c.maas_core_knowledge().call_search_incidents(
                        s,
                        &caller,
                        &a.query,
                        a.service_filter.as_deref(),
                        a.severity_filter.as_deref(),
                        limit,
                    )
                })
            },
            results,
        )
        .await
    }
}

/// The `{"results": [...]}` shape of the three knowledge searches.
fn results(hits: Vec<knowledge::SearchHit>) -> Value {
    json!({"results": hits.iter().map(wire::hit).collect::<Vec<_>>()})
}
