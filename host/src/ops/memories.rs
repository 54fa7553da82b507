//! Memories: store, read, update, delete and search.

use super::{Effect, Op, Slot, agent, merged, parse_opt, wire_str};
use crate::bindings::{memories, types};
use crate::render::{clip, fields, joined, rfc3339, table};
use crate::runtime::Runtime;
use crate::wire::{self, Wire, parse};
use clap::Args;
use rmcp::schemars::{self, JsonSchema};
use serde::Deserialize;
use serde_json::{Value, json};

/// A memory as `key: value` lines.
pub fn memory_text(m: &memories::Memory) -> String {
    let mut rows = vec![
        ("memory_id", m.id.clone()),
        ("author", m.author.clone()),
        ("owner", m.owner.clone().unwrap_or_else(|| "-".into())),
        ("kind", m.kind.wire().to_string()),
        ("tags", joined(&m.tags)),
        ("version", m.version.to_string()),
        ("created_at", rfc3339(m.created_at)),
        ("updated_at", rfc3339(m.updated_at)),
        (
            "expires_at",
            m.expires_at.map(rfc3339).unwrap_or_else(|| "never".into()),
        ),
    ];
    rows.extend(notes_rows(&m.notes));
    rows.push(("content", m.content.clone()));
    fields(&rows)
}

/// The notes of the write gate as rows, none when there are none.
pub fn notes_rows(n: &types::Notes) -> Vec<(&'static str, String)> {
    let mut rows = Vec::new();
    if !n.redacted.is_empty() {
        rows.push(("redacted", n.redacted.join(", ")));
    }
    if !n.flags.is_empty() {
        rows.push(("flagged", format!("untrusted text: {}", n.flags.join("; "))));
    }
    rows
}

/// The kind a memory is stored as when none is named, on the command line and over MCP.
fn note_kind() -> String {
    "note".to_string()
}

/// Store a memory (preference, fact, decision or note), optionally sharing it into a
/// pool at once.
#[derive(Debug, Clone, Deserialize, JsonSchema, Args)]
#[serde(deny_unknown_fields)]
pub struct StoreMemory {
    /// The acting agent, which becomes the author (default: the token's agent).
    #[arg(long = "agent")]
    #[schemars(required)]
    pub agent_id: Option<String>,
    /// The text to remember (at most 64 KiB; injection attempts are refused); `-` on the command line reads stdin.
    #[arg(long)]
    pub content: String,
    /// `preference`, `fact`, `decision` or `note` (the default).
    #[arg(long = "kind", value_parser = wire_str::<memories::MemoryKind>(), default_value = "note")]
    #[serde(default = "note_kind")]
    pub memory_type: String,
    /// Up to 32 tags.
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Option<Vec<String>>,
    /// A chosen id; a UUID when omitted.
    #[arg(long = "id")]
    pub memory_id: Option<String>,
    /// Share into this pool right away.
    #[arg(long = "pool")]
    pub pool_id: Option<String>,
    /// The share's scope (default: the pool's scope).
    #[arg(long, value_parser = wire_str::<types::Scope>(), requires = "pool_id")]
    pub scope: Option<String>,
    /// Seconds until the memory expires.
    #[arg(long = "ttl", value_name = "SECONDS")]
    pub ttl_seconds: Option<u64>,
}

impl Op for StoreMemory {
    const TOOL: &'static str = "store_memory";
    const EFFECT: Effect = Effect::Add;
    type Out = memories::Memory;
    fn slot(&mut self) -> Slot<'_> {
        Slot::Agent(&mut self.agent_id)
    }
    fn call(&self, rt: &mut Runtime, caller: &types::Caller) -> Result<Self::Out, types::Error> {
        let req = memories::StoreRequest {
            agent_id: agent(&self.agent_id).to_string(),
            content: self.content.clone(),
            kind: parse("memory_type", &self.memory_type)?,
            tags: self.tags.clone().unwrap_or_default(),
            memory_id: self.memory_id.clone(),
            pool_id: self.pool_id.clone(),
            scope: parse_opt("scope", self.scope.as_deref())?,
            ttl_seconds: self.ttl_seconds,
        };
        rt.call(|c, s| c.maas_core_memories().call_store_memory(s, caller, &req))
    }
    fn json(&self, m: &Self::Out) -> Value {
        wire::with_notes(
            json!({"memory_id": m.id, "status": "stored", "version": m.version}),
            &m.notes,
        )
    }
    fn text(&self, m: &Self::Out) -> String {
        memory_text(m)
    }
}

/// Read a memory you may read (yours, shared to you, or handed to you).
#[derive(Debug, Clone, Deserialize, JsonSchema, Args)]
#[serde(deny_unknown_fields)]
pub struct GetMemory {
    /// The acting agent (default: the token's agent).
    #[arg(long = "agent")]
    #[schemars(required)]
    pub agent_id: Option<String>,
    /// The memory.
    #[arg(value_name = "MEMORY")]
    pub memory_id: String,
}

impl Op for GetMemory {
    const TOOL: &'static str = "get_memory";
    const EFFECT: Effect = Effect::Read;
    type Out = memories::Memory;
    fn slot(&mut self) -> Slot<'_> {
        Slot::Agent(&mut self.agent_id)
    }
    fn call(&self, rt: &mut Runtime, caller: &types::Caller) -> Result<Self::Out, types::Error> {
        let me = agent(&self.agent_id);
        rt.call(|c, s| {
            c.maas_core_memories()
                .call_get(s, caller, me, &self.memory_id)
        })
    }
    fn json(&self, m: &Self::Out) -> Value {
        wire::memory(m)
    }
    fn text(&self, m: &Self::Out) -> String {
        memory_text(m)
    }
}

/// Update your memory, giving the version you last read (a conflict reports the current
/// version).
#[derive(Debug, Clone, Deserialize, JsonSchema, Args)]
#[serde(deny_unknown_fields)]
pub struct UpdateMemory {
    /// The acting agent, the author (default: the token's agent).
    #[arg(long = "agent")]
    #[schemars(required)]
    pub agent_id: Option<String>,
    /// The memory.
    #[arg(value_name = "MEMORY")]
    pub memory_id: String,
    /// The version you last read; a different current version is a conflict.
    #[arg(long)]
    pub expected_version: u64,
    /// New content; `-` on the command line reads stdin.
    #[arg(long)]
    pub content: Option<String>,
    /// New tags (an empty list clears them).
    #[arg(
        long = "tag",
        value_name = "TAG",
        conflicts_with = "clear_tags",
        help = "New tags, replacing the old (repeat --tag; --clear-tags removes them all)"
    )]
    pub tags: Option<Vec<String>>,
    /// New type: `preference`, `fact`, `decision` or `note`.
    #[arg(long = "kind", value_parser = wire_str::<memories::MemoryKind>())]
    pub memory_type: Option<String>,
    /// Remove every tag (command line only; over MCP pass `tags: []`).
    #[arg(long)]
    #[serde(skip)]
    #[schemars(skip)]
    pub clear_tags: bool,
}

impl Op for UpdateMemory {
    const TOOL: &'static str = "update_memory";
    const EFFECT: Effect = Effect::Destructive;
    type Out = memories::Memory;
    fn slot(&mut self) -> Slot<'_> {
        Slot::Agent(&mut self.agent_id)
    }
    fn call(&self, rt: &mut Runtime, caller: &types::Caller) -> Result<Self::Out, types::Error> {
        let tags = if self.clear_tags {
            Some(Vec::new())
        } else {
            self.tags.clone()
        };
        let req = memories::UpdateRequest {
            agent_id: agent(&self.agent_id).to_string(),
            memory_id: self.memory_id.clone(),
            content: self.content.clone(),
            tags,
            kind: parse_opt("memory_type", self.memory_type.as_deref())?,
            expected_version: self.expected_version,
        };
        rt.call(|c, s| c.maas_core_memories().call_update(s, caller, &req))
    }
    fn json(&self, m: &Self::Out) -> Value {
        wire::with_notes(
            json!({"memory_id": m.id, "status": "updated", "version": m.version}),
            &m.notes,
        )
    }
    fn text(&self, m: &Self::Out) -> String {
        memory_text(m)
    }
}

/// Delete a memory and its shares (your own, or one of your owner's agents' with
/// memory_delete).
#[derive(Debug, Clone, Deserialize, JsonSchema, Args)]
#[serde(deny_unknown_fields)]
pub struct DeleteMemory {
    /// The acting agent (default: the token's agent).
    #[arg(long = "agent")]
    #[schemars(required)]
    pub agent_id: Option<String>,
    /// The memory.
    #[arg(value_name = "MEMORY")]
    pub memory_id: String,
}

impl Op for DeleteMemory {
    const TOOL: &'static str = "delete_memory";
    const EFFECT: Effect = Effect::Destructive;
    type Out = ();
    fn slot(&mut self) -> Slot<'_> {
        Slot::Agent(&mut self.agent_id)
    }
    fn call(&self, rt: &mut Runtime, caller: &types::Caller) -> Result<(), types::Error> {
        let me = agent(&self.agent_id);
        rt.call(|c, s| {
            c.maas_core_memories()
                .call_delete(s, caller, me, &self.memory_id)
        })
    }
    fn json(&self, (): &()) -> Value {
        json!({"status": "deleted"})
    }
    fn text(&self, (): &()) -> String {
        fields(&[
            ("memory_id", self.memory_id.clone()),
            ("status", "deleted".into()),
        ])
    }
}

/// Search the memories you may read, ranked by relevance.
#[derive(Debug, Clone, Deserialize, JsonSchema, Args)]
#[serde(deny_unknown_fields)]
pub struct SearchMemories {
    /// The acting agent; only memories it may read are searched (default: the token's agent).
    #[arg(long = "agent")]
    #[schemars(required)]
    pub agent_id: Option<String>,
    /// Keywords; code identifiers and paths are understood.
    #[arg(value_name = "QUERY")]
    pub query: String,
    /// At most this many results (1..=100, default 10).
    #[arg(long)]
    pub limit: Option<u32>,
}

impl Op for SearchMemories {
    const TOOL: &'static str = "search_memories";
    const EFFECT: Effect = Effect::Read;
    type Out = Vec<memories::MemoryHit>;
    fn slot(&mut self) -> Slot<'_> {
        Slot::Agent(&mut self.agent_id)
    }
    fn call(&self, rt: &mut Runtime, caller: &types::Caller) -> Result<Self::Out, types::Error> {
        let me = agent(&self.agent_id);
        let limit = self.limit.unwrap_or(10);
        rt.call(|c, s| {
            c.maas_core_memories()
                .call_search(s, caller, me, &self.query, limit)
        })
    }
    fn json(&self, hits: &Self::Out) -> Value {
        let results: Vec<Value> = hits
            .iter()
            .map(|h| merged(wire::memory(&h.memory), json!({"score": h.score})))
            .collect();
        json!({"results": results})
    }
    fn text(&self, hits: &Self::Out) -> String {
        let rows: Vec<Vec<String>> = hits
            .iter()
            .map(|h| {
                vec![
                    format!("{:.3}", h.score),
                    h.memory.id.clone(),
                    h.memory.kind.wire().to_string(),
                    h.memory.author.clone(),
                    // Flagged texts stay visible as such wherever they are listed.
                    if h.memory.notes.flags.is_empty() {
                        clip(&h.memory.content, 60)
                    } else {
                        format!("[flagged] {}", clip(&h.memory.content, 50))
                    },
                ]
            })
            .collect();
        table(&["score", "memory_id", "kind", "author", "content"], &rows)
    }
}
