//! The MCP tools beside the original fifteen: the rest of the handoff lifecycle, memories,
//! ingest, the audit log, agent and session administration, pool administration, whoami.

use super::MaasMcp;
use super::args::*;
use super::tools::{Reply, parse_opt, status};
use crate::bindings::{audit, knowledge, memories, types};
use crate::wire::{self, parse};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, Extensions};
use rmcp::{tool, tool_router};
use serde_json::json;

#[tool_router(router = more_tools, vis = "pub(super)")]
impl MaasMcp {
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
            |h| wire::with_notes(json!({"status": "rejected", "handoff_id": h.id}), &h.notes),
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
            |m| {
                wire::with_notes(
                    json!({"memory_id": m.id, "status": "stored", "version": m.version}),
                    &m.notes,
                )
            },
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
            |m| {
                wire::with_notes(
                    json!({"memory_id": m.id, "status": "updated", "version": m.version}),
                    &m.notes,
                )
            },
        )
        .await
    }

    /// Deletes a memory.
    #[tool(
        description = "Delete a memory and its shares (your own, or one of your owner's agents' with memory_delete)."
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
