//! `handoff-triage`: takes its agent's pending handoffs, accepts those it can handle,
//! stores a memory with what it did, and completes them with a result. Handoffs it
//! cannot handle are rejected with the reason.
//!
//! Arguments: `--skill WORD` (repeatable): a handoff is handled when its task
//! description contains one of the words (case-insensitive); without skills, every
//! handoff is handled. `--change JSON` (what `maas plugin watch` passes: one change of
//! the feed): only the handoff that change is about, if it is still pending; a change
//! of another kind is skipped. Prints a JSON summary.

wit_bindgen::generate!({
    path: "../../wit",
    world: "plugin",
});

use maas::core::plugin_handoffs as handoffs;
use maas::core::plugin_identity as identity;
use maas::core::plugin_memories as memories;
use maas::core::types::Error;
use serde_json::{Value, json};

struct Triage;

/// One line for a core error, with its code.
fn describe(e: &Error) -> String {
    match e {
        Error::NotFound(m) => format!("not_found: {m}"),
        Error::PermissionDenied(m) => format!("permission_denied: {m}"),
        Error::CapacityExceeded(c) => format!("capacity_exceeded: {} ({})", c.resource, c.limit),
        Error::InvalidInput(i) => format!("invalid_input: {}: {}", i.field, i.reason),
        Error::Conflict(v) => format!("conflict: version {v}"),
        Error::Expired(m) => format!("expired: {m}"),
        Error::Unavailable(m) => format!("unavailable: {m}"),
        Error::RateLimited(ms) => format!("rate_limited: retry after {ms} ms"),
    }
}

/// The arguments: the skills, and the change a watch passed, if any.
fn parse(args: &[String]) -> Result<(Vec<String>, Option<Value>), String> {
    let mut skills = Vec::new();
    let mut change = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--skill" => match it.next() {
                Some(word) => skills.push(word.to_lowercase()),
                None => return Err("--skill needs a word".into()),
            },
            "--change" => match it.next().map(|c| serde_json::from_str::<Value>(c)) {
                Some(Ok(c)) => change = Some(c),
                Some(Err(e)) => return Err(format!("--change is not JSON: {e}")),
                None => return Err("--change needs the change as JSON".into()),
            },
            other => {
                return Err(format!(
                    "unknown argument {other}; usage: [--skill WORD]... [--change JSON]"
                ));
            }
        }
    }
    Ok((skills, change))
}

fn can_handle(skills: &[String], task: &str) -> bool {
    let task = task.to_lowercase();
    skills.is_empty() || skills.iter().any(|s| task.contains(s.as_str()))
}

/// Accepts, records and completes one handoff; returns what was done.
fn handle(me: &str, h: &handoffs::Handoff) -> Result<Value, Error> {
    let accepted = handoffs::accept(&h.id)?;
    let context: Vec<String> = accepted.memories.iter().map(|m| m.id.clone()).collect();
    let note = format!(
        "Handoff {} from {} taken by {}: {}. Context memories read: {}.",
        h.id,
        h.source_agent_id,
        me,
        h.context.task_description,
        if context.is_empty() {
            "none".to_string()
        } else {
            context.join(", ")
        }
    );
    let memory = memories::store(&memories::StoreRequest {
        content: note,
        kind: memories::MemoryKind::Note,
        tags: vec!["handoff-triage".into(), format!("handoff:{}", h.id)],
        memory_id: None,
        pool_id: None,
        scope: None,
        ttl_seconds: None,
    })?;
    let result = json!({
        "status": "success",
        "handled_by": me,
        "memory": memory.id,
        "context_memories": context,
    });
    let done = handoffs::complete(&h.id, Some(&result.to_string()))?;
    Ok(json!({ "handoff": done.id, "memory": memory.id, "result": result }))
}

impl exports::maas::core::plugin_entry::Guest for Triage {
    fn run(args: Vec<String>) -> Result<String, String> {
        let (skills, change) = parse(&args)?;
        let me = identity::whoami().map_err(|e| describe(&e))?;
        let mut pending = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = handoffs::pending(None, cursor.as_deref()).map_err(|e| describe(&e))?;
            pending.extend(page.items);
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        if let Some(change) = &change {
            if change["kind"] != "handoff.initiated" {
                return Ok(json!({ "agent": me.id, "skipped": change["kind"] }).to_string());
            }
            pending.retain(|h| change["object_id"] == h.id.as_str());
        }
        let mut handled = Vec::new();
        let mut rejected = Vec::new();
        let mut failed = Vec::new();
        for h in &pending {
            if !can_handle(&skills, &h.context.task_description) {
                let reason = format!("{} handles only: {}", me.id, skills.join(", "));
                match handoffs::reject(&h.id, &reason) {
                    Ok(_) => rejected.push(json!({ "handoff": h.id, "reason": reason })),
                    Err(e) => failed.push(json!({ "handoff": h.id, "error": describe(&e) })),
                }
                continue;
            }
            match handle(&me.id, h) {
                Ok(done) => handled.push(done),
                Err(e) => failed.push(json!({ "handoff": h.id, "error": describe(&e) })),
            }
        }
        Ok(json!({
            "agent": me.id,
            "pending": pending.len(),
            "handled": handled,
            "rejected": rejected,
            "failed": failed,
        })
        .to_string())
    }
}

export!(Triage);
