//! Shares: a memory shared into a pool at a scope, removed, and listed.

use super::page::{json_page, text_page};
use super::{Effect, Op, Slot, agent, parse_opt, wire_str};
use crate::bindings::{pools, types};
use crate::render::{fields, rfc3339, table};
use crate::runtime::Runtime;
use crate::wire::{self, Wire, parse};
use clap::Args;
use rmcp::schemars::{self, JsonSchema};
use serde::Deserialize;
use serde_json::{Value, json};

/// Shares as a table.
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

/// Share one of your memories into a pool at a scope: agent_private, user, project, team
/// or global (no wider than the pool's scope).
#[derive(Debug, Clone, Deserialize, JsonSchema, Args)]
#[serde(deny_unknown_fields)]
pub struct ShareMemoryToScope {
    /// The pool to share into.
    #[arg(value_name = "POOL")]
    pub pool_id: String,
    /// The memory (the acting agent must be its author).
    #[arg(long = "memory", value_name = "MEMORY")]
    pub memory_id: String,
    /// The acting agent (default: the token's agent).
    #[arg(long = "agent")]
    #[schemars(required)]
    pub agent_id: Option<String>,
    /// Who may see it: `agent_private`, `user`, `project`, `team`, `global` (no wider than the pool's scope).
    #[arg(long, value_parser = wire_str::<types::Scope>())]
    pub scope: String,
}

impl Op for ShareMemoryToScope {
    const TOOL: &'static str = "share_memory_to_scope";
    const EFFECT: Effect = Effect::Change;
    type Out = pools::SharedMemory;
    fn slot(&mut self) -> Slot<'_> {
        Slot::Agent(&mut self.agent_id)
    }
    fn call(&self, rt: &mut Runtime, caller: &types::Caller) -> Result<Self::Out, types::Error> {
        let scope = parse("scope", &self.scope)?;
        let me = agent(&self.agent_id);
        rt.call(|c, s| {
            c.maas_core_pools()
                .call_share(s, caller, &self.pool_id, &self.memory_id, me, scope)
        })
    }
    fn json(&self, sh: &Self::Out) -> Value {
        json!({"status": "shared", "memory_id": sh.memory_id, "scope": sh.scope.wire()})
    }
    fn text(&self, sh: &Self::Out) -> String {
        fields(&[
            ("memory_id", sh.memory_id.clone()),
            ("pool_id", sh.pool_id.clone()),
            ("shared_by", sh.shared_by.clone()),
            ("scope", sh.scope.wire().to_string()),
            ("shared_at", rfc3339(sh.shared_at)),
        ])
    }
}

/// Remove a share from a pool (the sharer its own; pool admins and the operator any).
#[derive(Debug, Clone, Deserialize, JsonSchema, Args)]
#[serde(deny_unknown_fields)]
pub struct UnshareMemory {
    /// The pool.
    #[arg(value_name = "POOL")]
    pub pool_id: String,
    /// The memory.
    #[arg(long = "memory", value_name = "MEMORY")]
    pub memory_id: String,
    /// The acting agent (the sharer or a pool admin; default: the token's agent).
    #[arg(long = "agent")]
    #[schemars(required)]
    pub agent_id: Option<String>,
}

impl Op for UnshareMemory {
    const TOOL: &'static str = "unshare_memory";
    const EFFECT: Effect = Effect::Destructive;
    type Out = ();
    fn slot(&mut self) -> Slot<'_> {
        Slot::Agent(&mut self.agent_id)
    }
    fn call(&self, rt: &mut Runtime, caller: &types::Caller) -> Result<(), types::Error> {
        let me = agent(&self.agent_id);
        rt.call(|c, s| {
            c.maas_core_pools()
                .call_unshare(s, caller, &self.pool_id, &self.memory_id, me)
        })
    }
    fn json(&self, (): &()) -> Value {
        json!({"status": "unshared"})
    }
    fn text(&self, (): &()) -> String {
        fields(&[
            ("pool_id", self.pool_id.clone()),
            ("memory_id", self.memory_id.clone()),
            ("status", "unshared".into()),
        ])
    }
}

/// List the memories shared in a pool that the agent may see, no wider than max_scope, in
/// share order, one page at a time: `next_cursor` is where the next page starts (null
/// after the last one). A page looks at 4,096 shares at most, so it may hold fewer than
/// `limit` (even none) and still have a `next_cursor`.
#[derive(Debug, Clone, Deserialize, JsonSchema, Args)]
#[serde(deny_unknown_fields)]
pub struct QueryShared {
    /// The pool.
    #[arg(value_name = "POOL")]
    pub pool_id: String,
    /// The acting agent, a member (default: the token's agent).
    #[arg(long = "agent")]
    #[schemars(required)]
    pub agent_id: Option<String>,
    /// The widest scope to include (only ever narrows what the agent may see); default `global`.
    #[arg(long, value_parser = wire_str::<types::Scope>())]
    pub max_scope: Option<String>,
    /// At most this many memories (1..=500, default 50).
    #[arg(long, value_name = "N")]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page (default: the first page).
    #[arg(long)]
    pub cursor: Option<String>,
}

impl Op for QueryShared {
    const TOOL: &'static str = "query_shared";
    const EFFECT: Effect = Effect::Read;
    type Out = pools::SharedMemoryPage;
    fn slot(&mut self) -> Slot<'_> {
        Slot::Agent(&mut self.agent_id)
    }
    fn call(&self, rt: &mut Runtime, caller: &types::Caller) -> Result<Self::Out, types::Error> {
        let max =
            parse_opt("max_scope", self.max_scope.as_deref())?.unwrap_or(types::Scope::Global);
        let me = agent(&self.agent_id);
        let cursor = self.cursor.as_deref();
        rt.call(|c, s| {
            c.maas_core_pools().call_query_shared(
                s,
                caller,
                &self.pool_id,
                me,
                max,
                self.limit,
                cursor,
            )
        })
    }
    fn json(&self, page: &Self::Out) -> Value {
        let memories = page.items.iter().map(wire::share).collect();
        json_page("memories", memories, &page.next_cursor)
    }
    fn text(&self, page: &Self::Out) -> String {
        text_page(shared_table(&page.items), &page.next_cursor)
    }
}
