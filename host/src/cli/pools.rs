//! `maas pool …`: shared memory pools, their members and shares.

use super::output::{Rendered, compact, fields, or_dash, rfc3339, status, table};
use super::wire::choice;
use super::{CliError, Ctx};
use crate::wire;
use crate::wire::Wire;
use crate::{pools, types};
use clap::{Args, Subcommand};
use serde_json::json;

/// Pool verbs.
#[derive(Debug, Clone, Subcommand)]
pub enum PoolCmd {
    /// Create a pool (an agent creating one becomes its admin).
    Create(CreateArgs),
    /// Show a pool.
    Get {
        /// The pool id.
        pool: String,
    },
    /// List the pools visible to the caller, in creation order.
    List {
        /// Only this owner's pools.
        #[arg(long)]
        owner: Option<String>,
    },
    /// Add a member at a permission, or change its permission.
    Join {
        /// The pool id.
        pool: String,
        /// The agent to add.
        #[arg(long)]
        member: String,
        /// What the member may do.
        #[arg(long, value_parser = choice::<types::Permission>(), default_value = "read")]
        permission: types::Permission,
    },
    /// The acting agent leaves the pool (its shares stay).
    Leave {
        /// The pool id.
        pool: String,
        /// The acting agent (default: the --token's agent).
        #[arg(long)]
        agent: Option<String>,
    },
    /// Remove another member (pool admins and the operator).
    RemoveMember {
        /// The pool id.
        pool: String,
        /// The member to remove.
        #[arg(long)]
        member: String,
        /// The acting admin (default: the --token's agent; none for the operator).
        #[arg(long)]
        agent: Option<String>,
    },
    /// List the members in join order.
    Members {
        /// The pool id.
        pool: String,
    },
    /// Share the acting agent's memory into the pool at a scope.
    Share {
        /// The pool id.
        pool: String,
        /// The memory id (the acting agent must be its author).
        #[arg(long)]
        memory: String,
        /// The acting agent (default: the --token's agent).
        #[arg(long)]
        agent: Option<String>,
        /// Who may see it; no wider than the pool's scope.
        #[arg(long, value_parser = choice::<types::Scope>())]
        scope: types::Scope,
    },
    /// Remove a share (the sharer its own; admins and the operator any).
    Unshare {
        /// The pool id.
        pool: String,
        /// The memory id.
        #[arg(long)]
        memory: String,
        /// The acting agent (default: the --token's agent).
        #[arg(long)]
        agent: Option<String>,
    },
    /// List the pool's shares the acting agent may see.
    Query {
        /// The pool id.
        pool: String,
        /// The acting agent (default: the --token's agent).
        #[arg(long)]
        agent: Option<String>,
        /// Return nothing wider than this scope.
        #[arg(long, value_parser = choice::<types::Scope>(), default_value = "global")]
        max_scope: types::Scope,
    },
    /// Archive the pool: read-only from then on.
    Archive {
        /// The pool id.
        pool: String,
        /// The acting admin (default: the --token's agent; none for the operator).
        #[arg(long)]
        agent: Option<String>,
    },
    /// Delete the pool with its memberships and shares (memories stay).
    Delete {
        /// The pool id.
        pool: String,
        /// The acting admin (default: the --token's agent; none for the operator).
        #[arg(long)]
        agent: Option<String>,
    },
}

/// What `pool create` takes.
#[derive(Debug, Clone, Args)]
pub struct CreateArgs {
    /// The pool's name.
    #[arg(long)]
    pub name: String,
    /// The owner (user id).
    #[arg(long)]
    pub owner: String,
    /// The widest scope a share in this pool may have.
    #[arg(long, value_parser = choice::<types::Scope>())]
    pub scope: types::Scope,
    /// A team label, linking pools of the same owner for `team` shares.
    #[arg(long)]
    pub team: Option<String>,
    /// A chosen id (default: a fresh UUID).
    #[arg(long)]
    pub id: Option<String>,
    /// A JSON object of metadata.
    #[arg(long, value_name = "JSON")]
    pub metadata: Option<String>,
    /// The acting agent, which becomes the admin (default: the --token's agent; none for
    /// the operator).
    #[arg(long)]
    pub agent: Option<String>,
}

fn pool_text(p: &pools::Pool) -> String {
    fields(&[
        ("pool_id", p.id.clone()),
        ("name", p.name.clone()),
        ("owner_id", p.owner_id.clone()),
        ("scope", p.scope.wire().to_string()),
        ("team", or_dash(p.team.as_deref())),
        (
            "status",
            if p.archived { "archived" } else { "active" }.to_string(),
        ),
        ("members", p.member_count.to_string()),
        ("shares", p.share_count.to_string()),
        ("metadata", compact(&p.metadata)),
        ("created_at", rfc3339(p.created_at)),
    ])
}

/// The shares as a table.
pub fn shared_table(shares: &[pools::SharedMemory]) -> String {
    let rows: Vec<Vec<String>> = shares
        .iter()
        .map(|s| {
            vec![
                s.memory_id.clone(),
                s.shared_by.clone(),
                s.scope.wire().to_string(),
                rfc3339(s.shared_at),
            ]
        })
        .collect();
    table(&["memory_id", "shared_by", "scope", "shared_at"], &rows)
}

/// Creates a pool; shared with the demo.
pub fn create(
    ctx: &mut Ctx,
    agent: Option<&str>,
    req: &pools::PoolRequest,
) -> Result<Rendered, CliError> {
    let p = ctx.call(|c, s, who| c.maas_core_pools().call_create(s, who, agent, req))?;
    Ok(Rendered::new(wire::pool(&p), pool_text(&p)))
}

/// Adds a member; shared with the demo.
pub fn join(
    ctx: &mut Ctx,
    pool: &str,
    member: &str,
    permission: types::Permission,
) -> Result<Rendered, CliError> {
    let m = ctx.call(|c, s, who| {
        c.maas_core_pools()
            .call_join(s, who, pool, member, permission)
    })?;
    let mut doc = wire::member(&m);
    if let Some(map) = doc.as_object_mut() {
        map.insert("pool_id".into(), json!(pool));
        map.insert("status".into(), json!("joined"));
    }
    Ok(Rendered::new(
        doc,
        fields(&[
            ("pool_id", pool.to_string()),
            ("agent_id", m.agent_id.clone()),
            ("permission", m.permission.wire().to_string()),
            ("joined_at", rfc3339(m.joined_at)),
        ]),
    ))
}

/// Shares a memory; shared with the demo.
pub fn share(
    ctx: &mut Ctx,
    pool: &str,
    memory: &str,
    agent: &str,
    scope: types::Scope,
) -> Result<Rendered, CliError> {
    let sh = ctx.call(|c, s, who| {
        c.maas_core_pools()
            .call_share(s, who, pool, memory, agent, scope)
    })?;
    Ok(Rendered::new(
        wire::share(&sh),
        fields(&[
            ("memory_id", sh.memory_id.clone()),
            ("pool_id", sh.pool_id.clone()),
            ("shared_by", sh.shared_by.clone()),
            ("scope", sh.scope.wire().to_string()),
            ("shared_at", rfc3339(sh.shared_at)),
        ]),
    ))
}

/// Lists the shares an agent may see; shared with the demo.
pub fn query(
    ctx: &mut Ctx,
    pool: &str,
    agent: &str,
    max_scope: types::Scope,
) -> Result<Rendered, CliError> {
    let list = ctx.call(|c, s, who| {
        c.maas_core_pools()
            .call_query_shared(s, who, pool, agent, max_scope)
    })?;
    Ok(Rendered::new(
        json!({"pool_id": pool, "memories": list.iter().map(wire::share).collect::<Vec<_>>()}),
        shared_table(&list),
    ))
}

/// Runs a pool verb.
pub fn run(cmd: PoolCmd, ctx: &mut Ctx) -> Result<Rendered, CliError> {
    match cmd {
        PoolCmd::Create(a) => {
            let agent = ctx.acting_opt(a.agent);
            let req = pools::PoolRequest {
                name: a.name,
                owner_id: a.owner,
                scope: a.scope,
                team: a.team,
                pool_id: a.id,
                metadata: a.metadata,
            };
            create(ctx, agent.as_deref(), &req)
        }
        PoolCmd::Get { pool } => {
            let p = ctx.call(|c, s, who| c.maas_core_pools().call_get(s, who, &pool))?;
            Ok(Rendered::new(wire::pool(&p), pool_text(&p)))
        }
        PoolCmd::List { owner } => {
            let list =
                ctx.call(|c, s, who| c.maas_core_pools().call_list(s, who, owner.as_deref()))?;
            let rows: Vec<Vec<String>> = list
                .iter()
                .map(|p| {
                    vec![
                        p.id.clone(),
                        p.name.clone(),
                        p.owner_id.clone(),
                        p.scope.wire().to_string(),
                        if p.archived { "archived" } else { "active" }.to_string(),
                        p.member_count.to_string(),
                        p.share_count.to_string(),
                    ]
                })
                .collect();
            Ok(Rendered::new(
                json!({"pools": list.iter().map(wire::pool).collect::<Vec<_>>()}),
                table(
                    &[
                        "pool_id", "name", "owner_id", "scope", "status", "members", "shares",
                    ],
                    &rows,
                ),
            ))
        }
        PoolCmd::Join {
            pool,
            member,
            permission,
        } => join(ctx, &pool, &member, permission),
        PoolCmd::Leave { pool, agent } => {
            let agent = ctx.acting(agent, "--agent")?;
            ctx.call(|c, s, who| c.maas_core_pools().call_leave(s, who, &pool, &agent))?;
            Ok(Rendered::new(
                json!({"pool_id": pool, "agent_id": agent, "status": "left"}),
                fields(&[
                    ("pool_id", pool.clone()),
                    ("agent_id", agent.clone()),
                    ("status", "left".into()),
                ]),
            ))
        }
        PoolCmd::RemoveMember {
            pool,
            member,
            agent,
        } => {
            let agent = ctx.acting_opt(agent);
            ctx.call(|c, s, who| {
                c.maas_core_pools()
                    .call_remove_member(s, who, &pool, agent.as_deref(), &member)
            })?;
            Ok(Rendered::new(
                json!({"pool_id": pool, "agent_id": member, "status": "removed"}),
                fields(&[
                    ("pool_id", pool.clone()),
                    ("agent_id", member.clone()),
                    ("status", "removed".into()),
                ]),
            ))
        }
        PoolCmd::Members { pool } => {
            let list = ctx.call(|c, s, who| c.maas_core_pools().call_members(s, who, &pool))?;
            let rows: Vec<Vec<String>> = list
                .iter()
                .map(|m| {
                    vec![
                        m.agent_id.clone(),
                        m.permission.wire().to_string(),
                        rfc3339(m.joined_at),
                    ]
                })
                .collect();
            Ok(Rendered::new(
                json!({"pool_id": pool, "members": list.iter().map(wire::member).collect::<Vec<_>>()}),
                table(&["agent_id", "permission", "joined_at"], &rows),
            ))
        }
        PoolCmd::Share {
            pool,
            memory,
            agent,
            scope,
        } => {
            let agent = ctx.acting(agent, "--agent")?;
            share(ctx, &pool, &memory, &agent, scope)
        }
        PoolCmd::Unshare {
            pool,
            memory,
            agent,
        } => {
            let agent = ctx.acting(agent, "--agent")?;
            ctx.call(|c, s, who| {
                c.maas_core_pools()
                    .call_unshare(s, who, &pool, &memory, &agent)
            })?;
            Ok(Rendered::new(
                json!({"pool_id": pool, "memory_id": memory, "status": "unshared"}),
                fields(&[
                    ("pool_id", pool.clone()),
                    ("memory_id", memory.clone()),
                    ("status", "unshared".into()),
                ]),
            ))
        }
        PoolCmd::Query {
            pool,
            agent,
            max_scope,
        } => {
            let agent = ctx.acting(agent, "--agent")?;
            query(ctx, &pool, &agent, max_scope)
        }
        PoolCmd::Archive { pool, agent } => {
            let agent = ctx.acting_opt(agent);
            ctx.call(|c, s, who| {
                c.maas_core_pools()
                    .call_archive(s, who, &pool, agent.as_deref())
            })?;
            Ok(status("pool_id", &pool, "archived"))
        }
        PoolCmd::Delete { pool, agent } => {
            let agent = ctx.acting_opt(agent);
            ctx.call(|c, s, who| {
                c.maas_core_pools()
                    .call_delete(s, who, &pool, agent.as_deref())
            })?;
            Ok(status("pool_id", &pool, "deleted"))
        }
    }
}
