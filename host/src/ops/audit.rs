//! The audit trail.

use super::{Effect, Op, Slot};
use crate::bindings::{audit, types};
use crate::render::{or_dash, rfc3339, table};
use crate::runtime::Runtime;
use crate::wire;
use clap::Args;
use maas_core::engine::ON_BEHALF;
use rmcp::schemars::{self, JsonSchema};
use serde::Deserialize;
use serde_json::{Value, json};

/// Audit entries as a table.
pub fn audit_table(entries: &[audit::AuditEntry]) -> String {
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            vec![
                e.seq.to_string(),
                rfc3339(e.at),
                actor_cell(e),
                e.event_type.clone(),
                or_dash(e.target.as_deref()),
                e.outcome.clone(),
            ]
        })
        .collect();
    table(
        &["seq", "time", "actor", "event", "target", "outcome"],
        &rows,
    )
}

/// The actor as the table shows it: `operator (as X)` when the operator acted as agent X.
fn actor_cell(e: &audit::AuditEntry) -> String {
    let acted_for = e
        .detail
        .contains(ON_BEHALF)
        .then(|| serde_json::from_str::<Value>(&e.detail).ok())
        .flatten()
        .and_then(|detail| detail.get(ON_BEHALF)?.as_str().map(str::to_string));
    match acted_for {
        Some(agent) => format!("{} (as {agent})", e.actor),
        None => e.actor.clone(),
    }
}

/// Entries `get_audit_log` returns when no limit is given (the core's default).
const DEFAULT_LIMIT: u32 = 100;

/// Read recent audit entries (the operator sees all; an agent sees its own), oldest
/// first.
#[derive(Debug, Clone, Deserialize, JsonSchema, Args)]
#[serde(deny_unknown_fields)]
pub struct GetAuditLog {
    /// Entries whose actor or target is this agent, or that the operator made acting as it
    /// (an agent may name only itself).
    #[arg(long = "agent")]
    pub agent_id: Option<String>,
    /// Exact event type, e.g. `handoff.accepted`.
    #[arg(long = "type", value_name = "EVENT_TYPE")]
    pub event_type: Option<String>,
    /// From this time (ms since the epoch, inclusive).
    #[arg(
        long,
        value_name = "TIME",
        value_parser = super::time_arg,
        help = "From this time, inclusive: ms since the epoch or an RFC 3339 time such as 2026-12-06T16:54:55Z"
    )]
    pub since: Option<u64>,
    /// Before this time (ms since the epoch).
    #[arg(
        long,
        value_name = "TIME",
        value_parser = super::time_arg,
        help = "Before this time: ms since the epoch or an RFC 3339 time"
    )]
    pub until: Option<u64>,
    /// At most this many entries (1..=1000, default 100).
    #[arg(long, value_name = "N")]
    pub limit: Option<u32>,
}

impl Op for GetAuditLog {
    const TOOL: &'static str = "get_audit_log";
    const EFFECT: Effect = Effect::Read;
    type Out = Vec<audit::AuditEntry>;
    fn slot(&mut self) -> Slot<'_> {
        Slot::Filter(&mut self.agent_id)
    }
    fn call(&self, rt: &mut Runtime, caller: &types::Caller) -> Result<Self::Out, types::Error> {
        let filter = audit::AuditFilter {
            agent_id: self.agent_id.clone(),
            event_type: self.event_type.clone(),
            since: self.since,
            until: self.until,
            limit: self.limit,
        };
        rt.call(|c, s| c.maas_core_audit().call_query(s, caller, &filter))
    }
    fn json(&self, entries: &Self::Out) -> Value {
        json!({"entries": entries.iter().map(wire::audit_entry).collect::<Vec<_>>()})
    }
    fn text(&self, entries: &Self::Out) -> String {
        let mut text = audit_table(entries);
        // A full page may have left older entries out: say so, and how to reach them.
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if entries.len() as u64 >= u64::from(limit) {
            text.push_str(&format!(
                "(the newest {limit} matching entries; older ones: --until TIME, or --limit up to 1000)\n"
            ));
        }
        text
    }
}

/// A digest of the whole state (operator only): two hosts on one journal, or a host and
/// a fresh replay of its journal, hold the same state exactly when their digests are
/// equal.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema, Args)]
#[serde(deny_unknown_fields)]
pub struct GetStateDigest {}

impl Op for GetStateDigest {
    const TOOL: &'static str = "get_state_digest";
    const EFFECT: Effect = Effect::Read;
    type Out = String;
    fn call(&self, rt: &mut Runtime, caller: &types::Caller) -> Result<Self::Out, types::Error> {
        rt.call(|c, s| c.maas_core_admin().call_state_digest(s, caller))
    }
    fn json(&self, digest: &Self::Out) -> Value {
        json!({"digest": digest})
    }
    fn text(&self, digest: &Self::Out) -> String {
        digest.clone()
    }
}
