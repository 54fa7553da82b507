//! One declaration per operation. Each operation is one type that carries its arguments
//! once (their doc comments are both the MCP input schema and the CLI `--help`), names its
//! MCP tool, says which argument is the acting agent, calls the core, and renders its
//! answer as JSON and as text. The MCP server (`crate::mcp`), the command line
//! (`crate::cli`) and the plugin imports (`crate::plugin`) all go through [`invoke`], so
//! the acting-agent rule is enforced and audited in one place. The list of MCP tools is
//! `crate::mcp::registry`.

pub mod agents;
pub mod audit;
pub mod changes;
pub mod handoffs;
pub mod knowledge;
pub mod memories;
pub mod page;
pub mod pools;
pub mod shares;

use crate::bindings::types;
use crate::runtime::Runtime;
use crate::wire::{Wire, parse};
use serde_json::Value;

/// Where an operation names the agent it acts as.
pub enum Slot<'a> {
    /// No agent argument: the caller itself acts.
    Caller,
    /// The agent the call acts as (or reads about). An agent caller may name only itself
    /// and defaults to itself; the operator must name one.
    Agent(&'a mut Option<String>),
    /// As [`Slot::Agent`], but the operator may leave it out to act as itself.
    AgentOrOperator(&'a mut Option<String>),
    /// An agent the call is about rather than acting as: any agent may be named (the core
    /// decides what the caller may see); an agent caller defaults to itself, the operator
    /// must name one.
    Target(&'a mut Option<String>),
    /// An agent a read is narrowed to: an agent caller may name only itself, and nobody
    /// must name one.
    Filter(&'a mut Option<String>),
}

/// What an operation does to the state: the MCP tool annotations clients use to decide
/// which calls need a person's approval. Every operation declares one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Changes nothing the caller asked about (the read is audited all the same).
    Read,
    /// Adds something new; the same call again adds again.
    Add,
    /// Moves something to a new state without taking anything away; the same call again
    /// changes nothing more.
    Change,
    /// Overwrites, removes or takes away access; the same call again changes nothing more.
    Destructive,
    /// Replaces something with a new one, taking the old one away; the same call again
    /// replaces it again (a retry loses what the first call answered).
    Replace,
}

/// One operation.
pub trait Op: Send + 'static {
    /// The MCP tool's name, e.g. `join_pool`.
    const TOOL: &'static str;
    /// What it does to the state.
    const EFFECT: Effect;
    /// What the core answers.
    type Out: Send + 'static;
    /// Whether it can end a token (rotate it, deactivate or unregister its agent): the
    /// runtime counts each that succeeds, so what servers remember of tokens is asked
    /// again ([`Runtime::note_token_ended`]).
    const ENDS_TOKENS: bool = false;
    /// The name of the field [`Op::slot`] fills, in errors that ask for it.
    const SLOT_FIELD: &'static str = "agent_id";
    /// The acting-agent argument, if the operation has one.
    fn slot(&mut self) -> Slot<'_> {
        Slot::Caller
    }
    /// Calls the core as `caller`; the slot has been checked and filled.
    fn call(&self, rt: &mut Runtime, caller: &types::Caller) -> Result<Self::Out, types::Error>;
    /// The answer as JSON (the original design's field names).
    fn json(&self, out: &Self::Out) -> Value;
    /// The answer as text for a terminal.
    fn text(&self, out: &Self::Out) -> String;
}

/// Runs `op` as `caller`: the acting-agent rule, then the core. Every transport calls
/// operations through here.
pub fn invoke<O: Op>(
    op: &mut O,
    rt: &mut Runtime,
    caller: &types::Caller,
) -> Result<O::Out, types::Error> {
    authorize(op, rt, caller)?;
    let out = op.call(rt, caller);
    // Counted when it worked, and when the core failed as it ran: its change may have
    // been written and kept (see `Runtime::call`); a refusal ended nothing.
    if O::ENDS_TOKENS && matches!(out, Ok(_) | Err(types::Error::Unavailable(_))) {
        rt.note_token_ended();
    }
    out
}

/// [`invoke`] on the core thread of `core`, awaited without blocking the caller's async
/// worker.
pub async fn run<O: Op>(
    core: &crate::service::CoreService,
    caller: &types::Caller,
    mut op: O,
) -> Result<O::Out, types::Error> {
    let caller = caller.clone();
    core.call(move |rt| invoke(&mut op, rt, &caller)).await
}

/// The acting-agent rule: an agent token acts only as its own agent (and defaults to
/// it); the operator may name any agent. A refusal is audited as `access.denied`.
fn authorize<O: Op>(
    op: &mut O,
    rt: &mut Runtime,
    caller: &types::Caller,
) -> Result<(), types::Error> {
    let (slot, required, fill) = match op.slot() {
        Slot::Caller => return Ok(()),
        Slot::Agent(slot) => (slot, true, true),
        Slot::AgentOrOperator(slot) => (slot, false, true),
        Slot::Filter(slot) => (slot, false, false),
        Slot::Target(slot) => {
            return match (caller, slot.is_none()) {
                (types::Caller::Agent(me), true) => {
                    *slot = Some(me.clone());
                    Ok(())
                }
                (types::Caller::Operator, true) => Err(missing_agent(O::SLOT_FIELD)),
                (_, false) => Ok(()),
            };
        }
    };
    match (caller, slot.as_deref()) {
        (types::Caller::Agent(_), None) if !fill => Ok(()),
        (types::Caller::Agent(me), None) => {
            *slot = Some(me.clone());
            Ok(())
        }
        (types::Caller::Agent(me), Some(named)) if named == me => Ok(()),
        (types::Caller::Agent(me), Some(named)) => {
            let reason = format!("agent {me} may not act as agent {named}");
            let named = named.to_string();
            rt.call(|c, s| {
                c.maas_core_audit()
                    .call_deny(s, caller, O::TOOL, Some(&named), &reason)
            })?;
            Err(types::Error::PermissionDenied(reason))
        }
        (types::Caller::Operator, None) if required => Err(missing_agent(O::SLOT_FIELD)),
        (types::Caller::Operator, _) => Ok(()),
    }
}

/// The error of an operator call that acts as an agent but leaves `field` out.
pub fn missing_agent(field: &str) -> types::Error {
    types::Error::InvalidInput(types::InvalidInfo {
        field: field.into(),
        reason: format!(
            "this call acts as an agent: name the agent ({field}) or call with its token"
        ),
    })
}

/// The slot's agent once [`authorize`] has run (empty only for the operator acting as
/// itself).
pub(crate) fn agent(slot: &Option<String>) -> &str {
    slot.as_deref().unwrap_or_default()
}

/// A JSON argument as the JSON text the core stores.
pub(crate) fn json_text(v: Option<&Value>) -> Option<String> {
    v.map(Value::to_string)
}

/// An optional wire string parsed, with errors naming `field`.
pub(crate) fn parse_opt<T: Wire>(field: &str, v: Option<&str>) -> Result<Option<T>, types::Error> {
    v.map(|s| parse(field, s)).transpose()
}

/// Adds the fields of `extra` to the object `base`.
pub(crate) fn merged(mut base: Value, extra: Value) -> Value {
    if let (Some(b), Value::Object(e)) = (base.as_object_mut(), extra) {
        b.extend(e);
    }
    base
}

/// A time given on the command line: milliseconds since the epoch, or an RFC 3339 time
/// as text output prints them (`2026-12-06T16:54:55.120Z`, or with an offset).
pub(crate) fn time_arg(text: &str) -> Result<u64, String> {
    if let Ok(ms) = text.parse::<u64>() {
        return Ok(ms);
    }
    let time = chrono::DateTime::parse_from_rfc3339(text).map_err(|e| {
        format!("not a time ({e}); give ms since the epoch or e.g. 2026-12-06T16:54:55Z")
    })?;
    u64::try_from(time.timestamp_millis()).map_err(|_| "a time before 1970".to_string())
}

/// A JSON value given on the command line.
pub(crate) fn json_arg(text: &str) -> Result<Value, String> {
    serde_json::from_str(text).map_err(|e| format!("not JSON ({e}); quote it, e.g. '{{\"k\": 1}}'"))
}

/// A clap parser for a wire string that keeps the string (the operation parses it, so
/// every transport reports a bad value the same way) and lists the choices in `--help`.
pub(crate) fn wire_str<T: Wire>() -> clap::builder::PossibleValuesParser {
    clap::builder::PossibleValuesParser::new(T::CHOICES.iter().copied())
}

#[cfg(test)]
mod tests {
    use super::time_arg;

    #[test]
    fn a_time_on_the_command_line_is_ms_or_rfc_3339_as_text_output_prints_it() {
        let printed = crate::render::rfc3339(1_796_576_499_864);
        assert_eq!(time_arg(&printed), Ok(1_796_576_499_864));
        assert_eq!(time_arg("1796576499864"), Ok(1_796_576_499_864));
        assert_eq!(
            time_arg("2026-12-06T18:01:39.864+01:00"),
            Ok(1_796_576_499_864)
        );
        assert!(time_arg("1969-12-31T23:59:59Z").is_err());
        let bad = time_arg("yesterday").err().unwrap_or_default();
        assert!(bad.contains("ms since the epoch"), "{bad}");
    }
}
