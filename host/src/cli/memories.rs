//! `maas memory …`: the memory store.

use super::output::{Rendered, fields, joined, rfc3339, table};
use super::wire::choice;
use super::{CliError, Ctx, text_arg};
use crate::wire;
use crate::wire::Wire;
use crate::{memories, types};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

/// Memory verbs.
#[derive(Debug, Clone, Subcommand)]
pub enum MemoryCmd {
    /// Store a memory (and optionally share it into a pool right away).
    Store(StoreArgs),
    /// Show a memory the acting agent may read.
    Get {
        /// The memory id.
        memory: String,
        /// The acting agent (default: the --token's agent).
        #[arg(long)]
        agent: Option<String>,
    },
    /// Update a memory (its author only), given the version last seen.
    Update(UpdateArgs),
    /// Delete a memory and every share of it.
    Delete {
        /// The memory id.
        memory: String,
        /// The acting agent (default: the --token's agent).
        #[arg(long)]
        agent: Option<String>,
    },
    /// Ranked keyword search over the memories the acting agent may read.
    Search {
        /// The query.
        query: String,
        /// The acting agent (default: the --token's agent).
        #[arg(long)]
        agent: Option<String>,
        /// At most this many results (1..=100).
        #[arg(long, default_value_t = 10)]
        limit: u32,
    },
}

/// What `memory store` takes.
#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// The acting agent, which becomes the author (default: the --token's agent).
    #[arg(long)]
    pub agent: Option<String>,
    /// What the memory records.
    #[arg(long, value_parser = choice::<memories::MemoryKind>(), default_value = "note")]
    pub kind: memories::MemoryKind,
    /// The content; `-` reads it from stdin.
    #[arg(long)]
    pub content: String,
    /// A tag (repeatable).
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// A chosen id (default: a fresh UUID).
    #[arg(long)]
    pub id: Option<String>,
    /// Share it into this pool right away.
    #[arg(long)]
    pub pool: Option<String>,
    /// The share's scope (default: the pool's scope).
    #[arg(long, value_parser = choice::<types::Scope>(), requires = "pool")]
    pub scope: Option<types::Scope>,
    /// Seconds until it expires (default: never).
    #[arg(long, value_name = "SECONDS")]
    pub ttl: Option<u64>,
}

/// What `memory update` takes.
#[derive(Debug, Clone, Args)]
pub struct UpdateArgs {
    /// The memory id.
    pub memory: String,
    /// The acting agent, its author (default: the --token's agent).
    #[arg(long)]
    pub agent: Option<String>,
    /// The version last seen; a different current version is a conflict.
    #[arg(long)]
    pub expected_version: u64,
    /// New content; `-` reads it from stdin.
    #[arg(long)]
    pub content: Option<String>,
    /// New tags, replacing the old ones (repeatable).
    #[arg(long = "tag", value_name = "TAG", conflicts_with = "clear_tags")]
    pub tags: Vec<String>,
    /// Remove every tag.
    #[arg(long)]
    pub clear_tags: bool,
    /// New kind.
    #[arg(long, value_parser = choice::<memories::MemoryKind>())]
    pub kind: Option<memories::MemoryKind>,
}

/// A memory as text.
pub fn memory_text(m: &memories::Memory) -> String {
    let mut rows = vec![
        ("memory_id", m.id.clone()),
        ("author", m.author.clone()),
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
pub fn notes_rows(n: &crate::bindings::types::Notes) -> Vec<(&'static str, String)> {
    let mut rows = Vec::new();
    if !n.redacted.is_empty() {
        rows.push(("redacted", n.redacted.join(", ")));
    }
    if !n.flags.is_empty() {
        rows.push(("flagged", format!("untrusted text: {}", n.flags.join("; "))));
    }
    rows
}

fn rendered(m: &memories::Memory) -> Rendered {
    Rendered::new(wire::memory(m), memory_text(m))
}

/// Stores a memory; shared with the demo.
pub fn store(ctx: &mut Ctx, req: &memories::StoreRequest) -> Result<Rendered, CliError> {
    let m = ctx.call(|c, s, who| c.maas_core_memories().call_store_memory(s, who, req))?;
    Ok(rendered(&m))
}

/// Runs a memory verb.
pub fn run(cmd: MemoryCmd, ctx: &mut Ctx) -> Result<Rendered, CliError> {
    match cmd {
        MemoryCmd::Store(a) => {
            let req = memories::StoreRequest {
                agent_id: ctx.acting(a.agent, "--agent")?,
                content: text_arg(a.content, "content")?,
                kind: a.kind,
                tags: a.tags,
                memory_id: a.id,
                pool_id: a.pool,
                scope: a.scope,
                ttl_seconds: a.ttl,
            };
            store(ctx, &req)
        }
        MemoryCmd::Get { memory, agent } => {
            let agent = ctx.acting(agent, "--agent")?;
            let m =
                ctx.call(|c, s, who| c.maas_core_memories().call_get(s, who, &agent, &memory))?;
            Ok(rendered(&m))
        }
        MemoryCmd::Update(a) => {
            let tags = if a.clear_tags {
                Some(Vec::new())
            } else {
                (!a.tags.is_empty()).then_some(a.tags)
            };
            let req = memories::UpdateRequest {
                agent_id: ctx.acting(a.agent, "--agent")?,
                memory_id: a.memory,
                content: a.content.map(|c| text_arg(c, "content")).transpose()?,
                tags,
                kind: a.kind,
                expected_version: a.expected_version,
            };
            let m = ctx.call(|c, s, who| c.maas_core_memories().call_update(s, who, &req))?;
            Ok(rendered(&m))
        }
        MemoryCmd::Delete { memory, agent } => {
            let agent = ctx.acting(agent, "--agent")?;
            ctx.call(|c, s, who| c.maas_core_memories().call_delete(s, who, &agent, &memory))?;
            Ok(super::output::status("memory_id", &memory, "deleted"))
        }
        MemoryCmd::Search {
            query,
            agent,
            limit,
        } => {
            let agent = ctx.acting(agent, "--agent")?;
            let hits = ctx.call(|c, s, who| {
                c.maas_core_memories()
                    .call_search(s, who, &agent, &query, limit)
            })?;
            let results: Vec<Value> = hits
                .iter()
                .map(|h| {
                    let mut doc = wire::memory(&h.memory);
                    if let Some(map) = doc.as_object_mut() {
                        map.insert("score".into(), json!(h.score));
                    }
                    doc
                })
                .collect();
            let rows: Vec<Vec<String>> = hits
                .iter()
                .map(|h| {
                    vec![
                        format!("{:.3}", h.score),
                        h.memory.id.clone(),
                        h.memory.kind.wire().to_string(),
                        h.memory.author.clone(),
                        super::output::clip(&h.memory.content, 60),
                    ]
                })
                .collect();
            Ok(Rendered::new(
                json!({"query": query, "results": results}),
                table(&["score", "memory_id", "kind", "author", "content"], &rows),
            ))
        }
    }
}
