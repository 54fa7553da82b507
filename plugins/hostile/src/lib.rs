//! `hostile`: a plugin that tries every way out of its sandbox, to show each is closed.
//!
//! `run escapes HANDOFF OWN PRIVATE SHARED POOL QUERY` tries, as its bound agent: to
//! accept and complete OWN, a handoff it sent, as if it were the target; to accept,
//! complete and cancel HANDOFF, between two other agents; to read,
//! search for, and overwrite another agent's private memory, to delete a memory shared
//! with it without `memory_delete`, to make itself a pool admin and to remove another
//! agent's share; then the host's filesystem, environment, clock and network. It prints
//! one JSON object per attempt with `refused` true or false.
//!
//! `run loop | alloc | flood | big | sleep` never return on their own: an endless loop,
//! endless allocation, endless core calls, one oversized call, a long timer.

wit_bindgen::generate!({
    path: "../../wit",
    world: "plugin",
});

use maas::core::plugin_handoffs as handoffs;
use maas::core::plugin_identity as identity;
use maas::core::plugin_memories as memories;
use maas::core::plugin_pools as pools;
use maas::core::types::{Error, Permission};
use serde_json::{Value, json};

struct Hostile;

fn code(e: &Error) -> String {
    match e {
        Error::NotFound(m) => format!("not_found: {m}"),
        Error::PermissionDenied(m) => format!("permission_denied: {m}"),
        Error::CapacityExceeded(c) => format!("capacity_exceeded: {}", c.resource),
        Error::InvalidInput(i) => format!("invalid_input: {}: {}", i.field, i.reason),
        Error::Conflict(v) => format!("conflict: {v}"),
        Error::Expired(m) => format!("expired: {m}"),
        Error::Unavailable(m) => format!("unavailable: {m}"),
        Error::RateLimited(ms) => format!("rate_limited: retry after {ms} ms"),
    }
}

/// An attempt through the core: refused when the core said no.
fn core<T>(name: &str, r: Result<T, Error>) -> Value {
    match r {
        Ok(_) => json!({ "attempt": name, "refused": false, "detail": "allowed" }),
        Err(e) => json!({ "attempt": name, "refused": true, "detail": code(&e) }),
    }
}

/// An attempt outside the core: refused when `leaked` is None.
fn host(name: &str, leaked: Option<String>) -> Value {
    match leaked {
        Some(what) => json!({ "attempt": name, "refused": false, "detail": what }),
        None => json!({ "attempt": name, "refused": true, "detail": "not available" }),
    }
}

fn arg(args: &[String], i: usize) -> Result<&str, String> {
    args.get(i)
        .map(String::as_str)
        .ok_or_else(|| "usage: escapes HANDOFF OWN PRIVATE SHARED POOL QUERY".to_string())
}

fn escapes(args: &[String]) -> Result<String, String> {
    let (handoff, own, private, shared, pool, query) = (
        arg(args, 1)?,
        arg(args, 2)?,
        arg(args, 3)?,
        arg(args, 4)?,
        arg(args, 5)?,
        arg(args, 6)?,
    );
    let me = identity::whoami().map_err(|e| code(&e))?;
    let found = memories::search(query, 100).map(|hits| {
        hits.into_iter()
            .map(|h| h.memory.id)
            .filter(|id| id == private)
            .collect::<Vec<_>>()
    });
    let attempts = vec![
        core(
            "accept its own handoff as the target",
            handoffs::accept(own),
        ),
        core(
            "complete its own handoff as the target",
            handoffs::complete(own, Some("{\"status\":\"forged\"}")),
        ),
        core("accept another agent's handoff", handoffs::accept(handoff)),
        core(
            "complete another agent's handoff",
            handoffs::complete(handoff, Some("{\"status\":\"hijacked\"}")),
        ),
        core("cancel another agent's handoff", handoffs::cancel(handoff)),
        core("read a private memory", memories::get(private)),
        match found {
            Ok(ids) if ids.is_empty() => json!({
                "attempt": "find a private memory by search", "refused": true, "detail": "no hit"
            }),
            Ok(_) => json!({
                "attempt": "find a private memory by search", "refused": false, "detail": "hit"
            }),
            Err(e) => core::<()>("find a private memory by search", Err(e)),
        },
        core(
            "overwrite a private memory",
            memories::update(private, Some("overwritten"), None, 1),
        ),
        core(
            "delete a shared memory without memory_delete",
            memories::delete(shared),
        ),
        core(
            "make itself a pool admin",
            pools::add_member(pool, &me.id, Permission::Admin),
        ),
        core("remove another agent's share", pools::unshare(pool, shared)),
        host(
            "read a host file",
            std::fs::read_to_string("/etc/passwd")
                .ok()
                .map(|t| format!("{} bytes", t.len())),
        ),
        host(
            "list the root directory",
            std::fs::read_dir("/").ok().map(|_| "listed".to_string()),
        ),
        host(
            "read the environment",
            std::env::vars()
                .next()
                .map(|(k, _)| format!("variable {k}")),
        ),
        host(
            "read the clock",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .ok()
                .filter(|d| !d.is_zero())
                .map(|d| format!("{} s since the epoch", d.as_secs())),
        ),
        host(
            "open a network connection",
            std::net::TcpStream::connect("127.0.0.1:7420")
                .ok()
                .map(|_| "connected".to_string()),
        ),
    ];
    Ok(json!({ "agent": me.id, "attempts": attempts }).to_string())
}

/// Stores a note of `content` with `tags`: its id, or the error's code.
fn store(content: String, tags: Vec<String>) -> Result<String, String> {
    memories::store(&memories::StoreRequest {
        content,
        kind: memories::MemoryKind::Note,
        tags,
        memory_id: None,
        pool_id: None,
        scope: None,
        ttl_seconds: None,
    })
    .map(|m| m.id)
    .map_err(|e| code(&e))
}

impl exports::maas::core::plugin_entry::Guest for Hostile {
    fn run(args: Vec<String>) -> Result<String, String> {
        match args.first().map(String::as_str) {
            Some("escapes") => escapes(&args),
            Some("loop") => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            Some("alloc") => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            Some("flood") => loop {
                let _ = std::hint::black_box(identity::whoami());
            },
            // Many texts that are each nothing: a list's own places cost the copy.
            Some(mode @ ("many-tags" | "countless-tags")) => {
                let n = if mode == "many-tags" {
                    15_000
                } else {
                    3_000_000
                };
                store("tagged".into(), vec![String::new(); n])
            }
            // An answer longer than any one core call may pass.
            Some("long-answer") => Ok("a".repeat(2 << 20)),
            Some("big") => store("a".repeat(4 << 20), Vec::new()),
            Some("sleep") => {
                std::thread::sleep(std::time::Duration::from_secs(3600));
                Ok("slept".into())
            }
            _ => Err("usage: escapes … | loop | alloc | flood | big | sleep".into()),
        }
    }
}

export!(Hostile);
