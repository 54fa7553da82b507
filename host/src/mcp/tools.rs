//! The MCP tools: the original fifteen, with their names, parameters and success shapes,
//! and the tools beside them for everything else the core can do.

use super::MaasMcp;
use super::args::*;
use crate::bindings::{agents, audit, handoffs, knowledge, memories, pools, types};
use crate::wire::{self, Wire, parse};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, Extensions};
use rmcp::{ErrorData, tool, tool_router};
use serde_json::{Value, json};

type Reply = Result<CallToolResult, ErrorData>;

/// A JSON argument as the JSON text the core stores.
fn json_text(v: Option<Value>) -> Option<String> {
    v.map(|v| v.to_string())
}

fn parse_opt<T: Wire>(field: &str, v: Option<&str>) -> Result<Option<T>, types::Error> {
    v.map(|s| parse(field, s)).transpose()
}

fn status(s: &str) -> Value {
    json!({ "status": s })
}

#[tool_router(vis = "pub(super)")]
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
            |h| json!({"handoff_id": h.id, "status": h.status.wire(), "expires_at": h.expires_at}),
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
            |h| json!({"status": "completed", "handoff_id": h.id}),
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

    // ---- beside the original fifteen ----

    /// The target rejects a handoff.
    #[tool(description = "Reject a pending handoff as its target, with a reason.")]
    async fn reject_handoff(
        &self,
        Parameters(a): Parameters<RejectHandoff>,
        ext: Extensions,
    ) -> Reply {
        let caller = self.caller(&ext);
        self.run(
            move |rt| {
                rt.call(|c, s| {
                    c.maas_core_handoffs().call_reject(
                        s,
                        &caller,
                        &a.handoff_id,
                        &a.agent_id,
                        &a.reason,
                    )
                })
            },
            |h| json!({"status": "rejected", "handoff_id": h.id}),
        )
        .await
    }

    /// The source cancels a handoff.
    #[tool(description = "Cancel a pending handoff as its source.")]
    async fn cancel_handoff(
        &self,
        Parameters(a): Parameters<HandoffAgent>,
        ext: Extensions,
    ) -> Reply {
        let caller = self.caller(&ext);
        self.run(
            move |rt| {
                rt.call(|c, s| {
                    c.maas_core_handoffs()
                        .call_cancel(s, &caller, &a.handoff_id, &a.agent_id)
                })
            },
            |h| json!({"status": "cancelled", "handoff_id": h.id}),
        )
        .await
    }

    /// Returns a handoff.
    #[tool(
        description = "Get a handoff you are the source or target of, with its status and context."
    )]
    async fn get_handoff(&self, Parameters(a): Parameters<HandoffId>, ext: Extensions) -> Reply {
        let caller = self.caller(&ext);
        self.run(
            move |rt| rt.call(|c, s| c.maas_core_handoffs().call_get(s, &caller, &a.handoff_id)),
            |h| wire::handoff(&h),
        )
        .await
    }

    /// Lists every handoff of an agent.
    #[tool(description = "List every handoff an agent is source or target of, oldest first.")]
    async fn get_agent_handoffs(
        &self,
        Parameters(a): Parameters<AgentId>,
        ext: Extensions,
    ) -> Reply {
        let caller = self.caller(&ext);
        self.run(
            move |rt| {
                rt.call(|c, s| {
                    c.maas_core_handoffs()
                        .call_by_agent(s, &caller, &a.agent_id)
                })
            },
            |list| json!({"handoffs": list.iter().map(wire::handoff).collect::<Vec<_>>()}),
        )
        .await
    }

    /// Expires due handoffs and removes old terminal ones.
    #[tool(
        description = "Operator only: mark due handoffs expired and remove terminal ones older than the retention window."
    )]
    async fn cleanup_handoffs(&self, Parameters(_a): Parameters<NoArgs>, ext: Extensions) -> Reply {
        let caller = self.caller(&ext);
        self.run(
            move |rt| rt.call(|c, s| c.maas_core_handoffs().call_cleanup(s, &caller)),
            |n| json!({"status": "cleaned", "removed": n}),
        )
        .await
    }

    /// Stores a memory.
    #[tool(
        description = "Store a memory (preference, fact, decision or note), optionally sharing it into a pool at once."
    )]
    async fn store_memory(&self, Parameters(a): Parameters<StoreMemory>, ext: Extensions) -> Reply {
        let caller = self.caller(&ext);
        let prep = (|| {
            Ok::<_, types::Error>(memories::StoreRequest {
                agent_id: a.agent_id,
                content: a.content,
                kind: parse("memory_type", &a.memory_type)?,
                tags: a.tags.unwrap_or_default(),
                memory_id: a.memory_id,
                pool_id: a.pool_id,
                scope: parse_opt("scope", a.scope.as_deref())?,
                ttl_seconds: a.ttl_seconds,
            })
        })();
        let req = match prep {
            Ok(r) => r,
            Err(e) => return Ok(Self::failure(&e)),
        };
        self.run(
            move |rt| rt.call(|c, s| c.maas_core_memories().call_store_memory(s, &caller, &req)),
            |m| json!({"memory_id": m.id, "status": "stored", "version": m.version}),
        )
        .await
    }

    /// Returns a memory.
    #[tool(description = "Read a memory you may read (yours, shared to you, or handed to you).")]
    async fn get_memory(&self, Parameters(a): Parameters<MemoryAgent>, ext: Extensions) -> Reply {
        let caller = self.caller(&ext);
        self.run(
            move |rt| {
                rt.call(|c, s| {
                    c.maas_core_memories()
                        .call_get(s, &caller, &a.agent_id, &a.memory_id)
                })
            },
            |m| wire::memory(&m),
        )
        .await
    }

    /// Updates a memory.
    #[tool(
        description = "Update your memory, giving the version you last read (a conflict reports the current version)."
    )]
    async fn update_memory(
        &self,
        Parameters(a): Parameters<UpdateMemory>,
        ext: Extensions,
    ) -> Reply {
        let caller = self.caller(&ext);
        let kind = match parse_opt("memory_type", a.memory_type.as_deref()) {
            Ok(k) => k,
            Err(e) => return Ok(Self::failure(&e)),
        };
        let req = memories::UpdateRequest {
            agent_id: a.agent_id,
            memory_id: a.memory_id,
            content: a.content,
            tags: a.tags,
            kind,
            expected_version: a.expected_version,
        };
        self.run(
            move |rt| rt.call(|c, s| c.maas_core_memories().call_update(s, &caller, &req)),
            |m| json!({"memory_id": m.id, "status": "updated", "version": m.version}),
        )
        .await
    }

    /// Deletes a memory.
    #[tool(
        description = "Delete a memory and its shares (your own, or another's with memory_delete)."
    )]
    async fn delete_memory(
        &self,
        Parameters(a): Parameters<MemoryAgent>,
        ext: Extensions,
    ) -> Reply {
        let caller = self.caller(&ext);
        self.run(
            move |rt| {
                rt.call(|c, s| {
                    c.maas_core_memories()
                        .call_delete(s, &caller, &a.agent_id, &a.memory_id)
                })
            },
            |()| status("deleted"),
        )
        .await
    }

    /// Searches memories.
    #[tool(description = "Search the memories you may read, ranked by relevance.")]
    async fn search_memories(
        &self,
        Parameters(a): Parameters<SearchMemories>,
        ext: Extensions,
    ) -> Reply {
        let caller = self.caller(&ext);
        let limit = a.limit.unwrap_or(10);
        self.run(
            move |rt| {
                rt.call(|c, s| {
                    c.maas_core_memories()
                        .call_search(s, &caller, &a.agent_id, &a.query, limit)
                })
            },
            |hits| {
                json!({"results": hits.iter().map(|h| {
                    let mut m = wire::memory(&h.memory);
                    if let Some(fields) = m.as_object_mut() {
                        fields.insert("score".into(), json!(h.score));
                    }
                    m
                }).collect::<Vec<_>>()})
            },
        )
        .await
    }

    /// Ingests knowledge documents.
    #[tool(
        description = "Ingest knowledge documents (code, decision, incident); the same kind and id replaces."
    )]
    async fn ingest_documents(
        &self,
        Parameters(a): Parameters<IngestDocuments>,
        ext: Extensions,
    ) -> Reply {
        let caller = self.caller(&ext);
        let docs: Result<Vec<knowledge::Document>, types::Error> = a
            .documents
            .into_iter()
            .enumerate()
            .map(|(i, d)| {
                Ok(knowledge::Document {
                    kind: parse(&format!("documents[{i}].kind"), &d.kind)?,
                    id: d.id,
                    title: d.title,
                    content: d.content,
                    service: d.service,
                    path: d.path,
                    topic: d.topic,
                    severity: d.severity,
                })
            })
            .collect();
        let docs = match docs {
            Ok(d) => d,
            Err(e) => return Ok(Self::failure(&e)),
        };
        self.run(
            move |rt| rt.call(|c, s| c.maas_core_knowledge().call_ingest(s, &caller, &docs)),
            |n| json!({"status": "ingested", "ingested": n}),
        )
        .await
    }

    /// Reads the audit trail.
    #[tool(
        description = "Read recent audit entries (the operator sees all; an agent sees its own), oldest first."
    )]
    async fn get_audit_log(&self, Parameters(a): Parameters<AuditLog>, ext: Extensions) -> Reply {
        let caller = self.caller(&ext);
        if let Some(named) = &a.agent_id
            && let Some(denied) = self.guard(&caller, "get_audit_log", named).await
        {
            return denied;
        }
        let filter = audit::AuditFilter {
            agent_id: a.agent_id,
            event_type: a.event_type,
            since: a.since,
            until: a.until,
            limit: a.limit,
        };
        self.run(
            move |rt| rt.call(|c, s| c.maas_core_audit().call_query(s, &caller, &filter)),
            |list| json!({"entries": list.iter().map(wire::audit_entry).collect::<Vec<_>>()}),
        )
        .await
    }

    /// Deactivates an agent.
    #[tool(description = "Deactivate an agent: it can do nothing until reactivated.")]
    async fn deactivate_agent(&self, Parameters(a): Parameters<AgentId>, ext: Extensions) -> Reply {
        let caller = self.caller(&ext);
        self.run(
            move |rt| {
                rt.call(|c, s| {
                    c.maas_core_agents()
                        .call_deactivate(s, &caller, &a.agent_id)
                })
            },
            |()| status("deactivated"),
        )
        .await
    }

    /// Reactivates an agent.
    #[tool(
        description = "Reactivate a deactivated agent (operator, or a human agent of the same owner)."
    )]
    async fn reactivate_agent(&self, Parameters(a): Parameters<AgentId>, ext: Extensions) -> Reply {
        let caller = self.caller(&ext);
        self.run(
            move |rt| {
                rt.call(|c, s| {
                    c.maas_core_agents()
                        .call_reactivate(s, &caller, &a.agent_id)
                })
            },
            |()| status("reactivated"),
        )
        .await
    }

    /// Unregisters an agent.
    #[tool(
        description = "Remove an agent for good: memberships go, its pending handoffs are cancelled, the id is never reused."
    )]
    async fn unregister_agent(&self, Parameters(a): Parameters<AgentId>, ext: Extensions) -> Reply {
        let caller = self.caller(&ext);
        self.run(
            move |rt| {
                rt.call(|c, s| {
                    c.maas_core_agents()
                        .call_unregister(s, &caller, &a.agent_id)
                })
            },
            |()| status("unregistered"),
        )
        .await
    }

    /// Starts a session.
    #[tool(description = "Open a session for an agent (ending any open one).")]
    async fn start_session(&self, Parameters(a): Parameters<AgentId>, ext: Extensions) -> Reply {
        let caller = self.caller(&ext);
        self.run(
            move |rt| rt.call(|c, s| c.maas_core_agents().call_start_session(s, &caller, &a.agent_id)),
            |sess| json!({"status": "started", "session_id": sess.id, "started_at": sess.started_at}),
        )
        .await
    }

    /// Ends a session.
    #[tool(description = "End an agent's open session.")]
    async fn end_session(&self, Parameters(a): Parameters<AgentId>, ext: Extensions) -> Reply {
        let caller = self.caller(&ext);
        self.run(
            move |rt| {
                rt.call(|c, s| {
                    c.maas_core_agents()
                        .call_end_session(s, &caller, &a.agent_id)
                })
            },
            |()| status("ended"),
        )
        .await
    }

    /// Returns a pool.
    #[tool(description = "Get a pool you can see (member, owner's agent or operator).")]
    async fn get_pool(&self, Parameters(a): Parameters<PoolId>, ext: Extensions) -> Reply {
        let caller = self.caller(&ext);
        self.run(
            move |rt| rt.call(|c, s| c.maas_core_pools().call_get(s, &caller, &a.pool_id)),
            |p| wire::pool(&p),
        )
        .await
    }

    /// Lists pools.
    #[tool(description = "List the pools you can see, optionally of one owner.")]
    async fn list_pools(&self, Parameters(a): Parameters<ListPools>, ext: Extensions) -> Reply {
        let caller = self.caller(&ext);
        self.run(
            move |rt| {
                rt.call(|c, s| {
                    c.maas_core_pools()
                        .call_list(s, &caller, a.owner_id.as_deref())
                })
            },
            |list| json!({"pools": list.iter().map(wire::pool).collect::<Vec<_>>()}),
        )
        .await
    }

    /// Lists pool members.
    #[tool(description = "List a pool's members with their permissions.")]
    async fn get_pool_members(&self, Parameters(a): Parameters<PoolId>, ext: Extensions) -> Reply {
        let caller = self.caller(&ext);
        self.run(
            move |rt| rt.call(|c, s| c.maas_core_pools().call_members(s, &caller, &a.pool_id)),
            |list| json!({"members": list.iter().map(wire::member).collect::<Vec<_>>()}),
        )
        .await
    }

    /// Removes a pool member.
    #[tool(description = "Remove a member from a pool (pool admins and the operator).")]
    async fn remove_pool_member(
        &self,
        Parameters(a): Parameters<RemoveMember>,
        ext: Extensions,
    ) -> Reply {
        let caller = self.caller(&ext);
        self.run(
            move |rt| {
                rt.call(|c, s| {
                    c.maas_core_pools().call_remove_member(
                        s,
                        &caller,
                        &a.pool_id,
                        a.agent_id.as_deref(),
                        &a.member_id,
                    )
                })
            },
            |()| status("removed"),
        )
        .await
    }

    /// Removes a share.
    #[tool(description = "Remove a share from a pool (the sharer, or a pool admin).")]
    async fn unshare_memory(
        &self,
        Parameters(a): Parameters<UnshareMemory>,
        ext: Extensions,
    ) -> Reply {
        let caller = self.caller(&ext);
        self.run(
            move |rt| {
                rt.call(|c, s| {
                    c.maas_core_pools().call_unshare(
                        s,
                        &caller,
                        &a.pool_id,
                        &a.memory_id,
                        &a.agent_id,
                    )
                })
            },
            |()| status("unshared"),
        )
        .await
    }

    /// Archives a pool.
    #[tool(description = "Archive a pool: read-only from then on (pool admins and the operator).")]
    async fn archive_pool(
        &self,
        Parameters(a): Parameters<PoolMaybeAgent>,
        ext: Extensions,
    ) -> Reply {
        let caller = self.caller(&ext);
        self.run(
            move |rt| {
                rt.call(|c, s| {
                    c.maas_core_pools()
                        .call_archive(s, &caller, &a.pool_id, a.agent_id.as_deref())
                })
            },
            |()| status("archived"),
        )
        .await
    }

    /// Deletes a pool.
    #[tool(
        description = "Delete a pool with its memberships and shares; the memories stay with their authors."
    )]
    async fn delete_pool(
        &self,
        Parameters(a): Parameters<PoolMaybeAgent>,
        ext: Extensions,
    ) -> Reply {
        let caller = self.caller(&ext);
        self.run(
            move |rt| {
                rt.call(|c, s| {
                    c.maas_core_pools()
                        .call_delete(s, &caller, &a.pool_id, a.agent_id.as_deref())
                })
            },
            |()| status("deleted"),
        )
        .await
    }

    /// Who the server thinks the caller is.
    #[tool(
        description = "Who am I: the operator, or the agent this connection's token belongs to."
    )]
    async fn whoami(&self, Parameters(_a): Parameters<NoArgs>, ext: Extensions) -> Reply {
        let caller = self.caller(&ext);
        Ok(CallToolResult::structured(match caller {
            types::Caller::Operator => json!({"principal": "operator"}),
            types::Caller::Agent(id) => json!({"principal": "agent", "agent_id": id}),
        }))
    }
}

/// The `{"results": [...]}` shape of the three knowledge searches.
fn results(hits: Vec<knowledge::SearchHit>) -> Value {
    json!({"results": hits.iter().map(wire::hit).collect::<Vec<_>>()})
}
