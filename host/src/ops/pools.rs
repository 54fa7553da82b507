//! Pools: create, read, membership, shares, archive and delete.

use super::page::{json_page, text_page};
use super::{Effect, Op, Slot, agent, json_text, wire_str};
use crate::bindings::{pools, types};
use crate::render::{compact, fields, or_dash, rfc3339, table};
use crate::runtime::Runtime;
use crate::wire::{self, Wire, parse};
use clap::Args;
use rmcp::schemars::{self, JsonSchema};
use serde::Deserialize;
use serde_json::{Value, json};

/// A pool as `key: value` lines.
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

/// A status line for a change that returns nothing.
fn done(pool: &str, status: &str) -> String {
    fields(&[
        ("pool_id", pool.to_string()),
        ("status", status.to_string()),
    ])
}

/// Create a shared memory pool for an owner. The scope is the widest scope a share in it
/// may have; an agent creating a pool becomes its admin.
#[derive(Debug, Clone, Deserialize, JsonSchema, Args)]
#[serde(deny_unknown_fields)]
pub struct CreatePool {
    /// A name for people (at most 256 bytes).
    #[arg(long)]
    pub name: String,
    /// The user who owns the pool.
    #[arg(long = "owner")]
    pub owner_id: String,
    /// The widest scope a share in this pool may have: `agent_private`, `user`, `project`, `team`, `global`.
    #[arg(long, value_parser = wire_str::<types::Scope>())]
    pub scope: String,
    /// A chosen id; a UUID when omitted.
    #[arg(long = "id")]
    pub pool_id: Option<String>,
    /// A JSON object of extra facts (at most 16 KiB).
    #[arg(long, value_name = "JSON", value_parser = super::json_arg)]
    pub metadata: Option<Value>,
    /// A team label: `team`-scoped shares reach members of the owner's pools with the same label.
    #[arg(long)]
    pub team: Option<String>,
    /// The agent creating it (becomes its admin); omit when the operator creates it.
    #[arg(long = "agent")]
    pub agent_id: Option<String>,
}

impl Op for CreatePool {
    const TOOL: &'static str = "create_pool";
    const EFFECT: Effect = Effect::Add;
    type Out = pools::Pool;
    fn slot(&mut self) -> Slot<'_> {
        Slot::AgentOrOperator(&mut self.agent_id)
    }
    fn call(&self, rt: &mut Runtime, caller: &types::Caller) -> Result<pools::Pool, types::Error> {
        let req = pools::PoolRequest {
            name: self.name.clone(),
            owner_id: self.owner_id.clone(),
            scope: parse("scope", &self.scope)?,
            team: self.team.clone(),
            pool_id: self.pool_id.clone(),
            metadata: json_text(self.metadata.as_ref()),
        };
        rt.call(|c, s| {
            c.maas_core_pools()
                .call_create(s, caller, self.agent_id.as_deref(), &req)
        })
    }
    fn json(&self, p: &pools::Pool) -> Value {
        json!({"pool_id": p.id, "status": "created"})
    }
    fn text(&self, p: &pools::Pool) -> String {
        pool_text(p)
    }
}

/// Get a pool you can see (member, owner's agent or operator).
#[derive(Debug, Clone, Deserialize, JsonSchema, Args)]
#[serde(deny_unknown_fields)]
pub struct GetPool {
    /// The pool.
    #[arg(value_name = "POOL")]
    pub pool_id: String,
}

impl Op for GetPool {
    const TOOL: &'static str = "get_pool";
    const EFFECT: Effect = Effect::Read;
    type Out = pools::Pool;
    fn call(&self, rt: &mut Runtime, caller: &types::Caller) -> Result<pools::Pool, types::Error> {
        rt.call(|c, s| c.maas_core_pools().call_get(s, caller, &self.pool_id))
    }
    fn json(&self, p: &pools::Pool) -> Value {
        wire::pool(p)
    }
    fn text(&self, p: &pools::Pool) -> String {
        pool_text(p)
    }
}

/// List the pools you can see, in creation order, optionally of one owner, one page at
/// a time: `next_cursor` is where the next page starts (null after the last one).
#[derive(Debug, Clone, Deserialize, JsonSchema, Args)]
#[serde(deny_unknown_fields)]
pub struct ListPools {
    /// Only pools of this owner.
    #[arg(long = "owner")]
    pub owner_id: Option<String>,
    /// At most this many pools (1..=500, default 50).
    #[arg(long, value_name = "N")]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page (default: the first page).
    #[arg(long)]
    pub cursor: Option<String>,
}

impl Op for ListPools {
    const TOOL: &'static str = "list_pools";
    const EFFECT: Effect = Effect::Read;
    type Out = pools::PoolPage;
    fn call(&self, rt: &mut Runtime, caller: &types::Caller) -> Result<Self::Out, types::Error> {
        let (owner, cursor) = (self.owner_id.as_deref(), self.cursor.as_deref());
        rt.call(|c, s| {
            c.maas_core_pools()
                .call_list(s, caller, owner, self.limit, cursor)
        })
    }
    fn json(&self, page: &Self::Out) -> Value {
        let pools = page.items.iter().map(wire::pool).collect();
        json_page("pools", pools, &page.next_cursor)
    }
    fn text(&self, page: &Self::Out) -> String {
        let rows: Vec<Vec<String>> = page
            .items
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
        let list = table(
            &[
                "pool_id", "name", "owner_id", "scope", "status", "members", "shares",
            ],
            &rows,
        );
        text_page(list, &page.next_cursor)
    }
}

/// Add an agent to a pool at a permission (read, write, admin), or change its
/// permission: as the pool's admin (or the operator) any agent; as an agent of the
/// pool's owner, yourself to read, or with memory_write yourself or a new member of your
/// owner at read or write.
#[derive(Debug, Clone, Deserialize, JsonSchema, Args)]
#[serde(deny_unknown_fields)]
pub struct JoinPool {
    /// The pool.
    #[arg(value_name = "POOL")]
    pub pool_id: String,
    /// The agent to add: yourself, or another agent when you are the pool's admin.
    #[arg(long = "member", value_name = "AGENT")]
    pub agent_id: String,
    /// `read`, `write` or `admin`.
    #[arg(long, value_parser = wire_str::<types::Permission>(), default_value = "read")]
    pub permission: String,
}

impl Op for JoinPool {
    const TOOL: &'static str = "join_pool";
    const EFFECT: Effect = Effect::Change;
    type Out = pools::Member;
    fn call(
        &self,
        rt: &mut Runtime,
        caller: &types::Caller,
    ) -> Result<pools::Member, types::Error> {
        let permission = parse("permission", &self.permission)?;
        rt.call(|c, s| {
            c.maas_core_pools()
                .call_join(s, caller, &self.pool_id, &self.agent_id, permission)
        })
    }
    fn json(&self, m: &pools::Member) -> Value {
        json!({"status": "joined", "permission": m.permission.wire()})
    }
    fn text(&self, m: &pools::Member) -> String {
        fields(&[
            ("pool_id", self.pool_id.clone()),
            ("agent_id", m.agent_id.clone()),
            ("permission", m.permission.wire().to_string()),
            ("joined_at", rfc3339(m.joined_at)),
        ])
    }
}

/// Leave a pool (an agent leaves itself; its shares stay).
#[derive(Debug, Clone, Deserialize, JsonSchema, Args)]
#[serde(deny_unknown_fields)]
pub struct LeavePool {
    /// The pool.
    #[arg(value_name = "POOL")]
    pub pool_id: String,
    /// The acting agent, which leaves (default: the token's agent).
    #[arg(long = "agent")]
    #[schemars(required)]
    pub agent_id: Option<String>,
}

impl Op for LeavePool {
    const TOOL: &'static str = "leave_pool";
    const EFFECT: Effect = Effect::Destructive;
    type Out = ();
    fn slot(&mut self) -> Slot<'_> {
        Slot::Agent(&mut self.agent_id)
    }
    fn call(&self, rt: &mut Runtime, caller: &types::Caller) -> Result<(), types::Error> {
        let me = agent(&self.agent_id);
        rt.call(|c, s| c.maas_core_pools().call_leave(s, caller, &self.pool_id, me))
    }
    fn json(&self, (): &()) -> Value {
        json!({"status": "left"})
    }
    fn text(&self, (): &()) -> String {
        fields(&[
            ("pool_id", self.pool_id.clone()),
            ("agent_id", agent(&self.agent_id).to_string()),
            ("status", "left".into()),
        ])
    }
}

/// Remove a member from a pool (pool admins and the operator).
#[derive(Debug, Clone, Deserialize, JsonSchema, Args)]
#[serde(deny_unknown_fields)]
pub struct RemovePoolMember {
    /// The pool.
    #[arg(value_name = "POOL")]
    pub pool_id: String,
    /// The member to remove.
    #[arg(long = "member", value_name = "AGENT")]
    pub member_id: String,
    /// The acting admin; omit when the operator acts itself.
    #[arg(long = "agent")]
    pub agent_id: Option<String>,
}

impl Op for RemovePoolMember {
    const TOOL: &'static str = "remove_pool_member";
    const EFFECT: Effect = Effect::Destructive;
    type Out = ();
    fn slot(&mut self) -> Slot<'_> {
        Slot::AgentOrOperator(&mut self.agent_id)
    }
    fn call(&self, rt: &mut Runtime, caller: &types::Caller) -> Result<(), types::Error> {
        rt.call(|c, s| {
            c.maas_core_pools().call_remove_member(
                s,
                caller,
                &self.pool_id,
                self.agent_id.as_deref(),
                &self.member_id,
            )
        })
    }
    fn json(&self, (): &()) -> Value {
        json!({"status": "removed"})
    }
    fn text(&self, (): &()) -> String {
        fields(&[
            ("pool_id", self.pool_id.clone()),
            ("agent_id", self.member_id.clone()),
            ("status", "removed".into()),
        ])
    }
}

/// List a pool's members with their permissions, in join order, one page at a time:
/// `next_cursor` is where the next page starts (null after the last one).
#[derive(Debug, Clone, Deserialize, JsonSchema, Args)]
#[serde(deny_unknown_fields)]
pub struct GetPoolMembers {
    /// The pool.
    #[arg(value_name = "POOL")]
    pub pool_id: String,
    /// At most this many members (1..=500, default 50).
    #[arg(long, value_name = "N")]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page (default: the first page).
    #[arg(long)]
    pub cursor: Option<String>,
}

impl Op for GetPoolMembers {
    const TOOL: &'static str = "get_pool_members";
    const EFFECT: Effect = Effect::Read;
    type Out = pools::MemberPage;
    fn call(&self, rt: &mut Runtime, caller: &types::Caller) -> Result<Self::Out, types::Error> {
        let cursor = self.cursor.as_deref();
        rt.call(|c, s| {
            c.maas_core_pools()
                .call_members(s, caller, &self.pool_id, self.limit, cursor)
        })
    }
    fn json(&self, page: &Self::Out) -> Value {
        let members = page.items.iter().map(wire::member).collect();
        json_page("members", members, &page.next_cursor)
    }
    fn text(&self, page: &Self::Out) -> String {
        let rows: Vec<Vec<String>> = page
            .items
            .iter()
            .map(|m| {
                vec![
                    m.agent_id.clone(),
                    m.permission.wire().to_string(),
                    rfc3339(m.joined_at),
                ]
            })
            .collect();
        let list = table(&["agent_id", "permission", "joined_at"], &rows);
        text_page(list, &page.next_cursor)
    }
}

/// Declares a change to a whole pool by its admin (or the operator), answered by a status.
macro_rules! pool_change {
    ($(#[$doc:meta])* $name:ident, $tool:literal, $effect:ident, $call:ident, $status:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Deserialize, JsonSchema, Args)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            /// The pool.
            #[arg(value_name = "POOL")]
            pub pool_id: String,
            /// The acting admin; omit when the operator acts itself.
            #[arg(long = "agent")]
            pub agent_id: Option<String>,
        }

        impl Op for $name {
            const TOOL: &'static str = $tool;
            const EFFECT: Effect = Effect::$effect;
            type Out = ();
            fn slot(&mut self) -> Slot<'_> {
                Slot::AgentOrOperator(&mut self.agent_id)
            }
            fn call(&self, rt: &mut Runtime, caller: &types::Caller) -> Result<(), types::Error> {
                rt.call(|c, s| {
                    c.maas_core_pools()
                        .$call(s, caller, &self.pool_id, self.agent_id.as_deref())
                })
            }
            fn json(&self, (): &()) -> Value {
                json!({"status": $status})
            }
            fn text(&self, (): &()) -> String {
                done(&self.pool_id, $status)
            }
        }
    };
}

pool_change!(
    /// Archive a pool: read-only from then on (pool admins and the operator).
    ArchivePool, "archive_pool", Destructive, call_archive, "archived"
);
pool_change!(
    /// Delete a pool with its memberships and shares; the memories stay with their
    /// authors.
    DeletePool, "delete_pool", Destructive, call_delete, "deleted"
);
