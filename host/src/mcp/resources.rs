//! MCP resources: an agent's inbox, a pool's shares, a memory and a handoff, read as the
//! session's principal through the same operations as the tools (so the same access
//! rules and read audit apply). Subscriptions to them are `super::subscriptions`.

use crate::bindings::types;
use crate::ops::{self, Op, handoffs, memories, pools, shares};
use crate::service::CoreService;
use crate::wire;
use rmcp::ErrorData;
use rmcp::model::{ErrorCode, ReadResourceResult, Resource, ResourceContents, ResourceTemplate};
use serde_json::Value;
use std::collections::BTreeSet;
use std::fmt;

/// The MIME type of every resource's contents.
pub const MIME: &str = "application/json";
/// Most pools `resources/list` names.
pub const MAX_LISTED_POOLS: usize = 256;
/// The longest id the core accepts (`limits::MAX_ID`); longer ones are malformed here.
const MAX_ID: usize = 128;

/// A resource, by URI.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Uri {
    /// `maas://agents/{id}/inbox`: the agent's pending handoffs.
    Inbox(String),
    /// `maas://pools/{id}`: the pool's shares the reader may see.
    Pool(String),
    /// `maas://memories/{id}`: a memory.
    Memory(String),
    /// `maas://handoffs/{id}`: a handoff.
    Handoff(String),
}

/// The four URI templates, for `resources/templates/list`.
pub fn templates() -> Vec<ResourceTemplate> {
    let t = |template: &str, name: &str, title: &str, description: &str| {
        ResourceTemplate::new(template, name)
            .with_title(title)
            .with_description(description)
            .with_mime_type(MIME)
    };
    vec![
        t(
            "maas://agents/{agent_id}/inbox",
            "inbox",
            "An agent's inbox",
            "The live pending handoffs targeting an agent, oldest first (as get_pending_handoffs). \
             An agent reads and subscribes to its own inbox only.",
        ),
        t(
            "maas://pools/{pool_id}",
            "pool",
            "A pool's shared memories",
            "The memories shared in a pool that the reader may see (as query_shared); the reader \
             must be a member.",
        ),
        t(
            "maas://memories/{memory_id}",
            "memory",
            "A memory",
            "A memory the reader may read (as get_memory).",
        ),
        t(
            "maas://handoffs/{handoff_id}",
            "handoff",
            "A handoff",
            "A handoff the reader is the source or target of (as get_handoff).",
        ),
    ]
}

/// True for an id the core could accept (`limits::check_id`).
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'@' | b'-'))
}

impl Uri {
    /// Parses a URI; anything but the four shapes with a well-formed id is refused.
    pub fn parse(text: &str) -> Result<Uri, ErrorData> {
        let unknown = || {
            ErrorData::resource_not_found(
                format!(
                    "unknown resource {:?}: maas serves maas://agents/{{id}}/inbox, \
                     maas://pools/{{id}}, maas://memories/{{id}} and maas://handoffs/{{id}}",
                    text.chars().take(200).collect::<String>()
                ),
                None,
            )
        };
        let rest = text.strip_prefix("maas://").ok_or_else(unknown)?;
        let parts: Vec<&str> = rest.split('/').collect();
        let (uri, id) = match parts.as_slice() {
            ["agents", id, "inbox"] => (Uri::Inbox(id.to_string()), *id),
            ["pools", id] => (Uri::Pool(id.to_string()), *id),
            ["memories", id] => (Uri::Memory(id.to_string()), *id),
            ["handoffs", id] => (Uri::Handoff(id.to_string()), *id),
            _ => return Err(unknown()),
        };
        if !valid_id(id) {
            return Err(ErrorData::invalid_params(
                format!(
                    "malformed resource URI {:?}: an id is 1..={MAX_ID} letters, digits and . _ : @ -",
                    text.chars().take(200).collect::<String>()
                ),
                None,
            ));
        }
        Ok(uri)
    }

    /// A short name for listings.
    fn name(&self) -> String {
        match self {
            Uri::Inbox(id) => format!("inbox of {id}"),
            Uri::Pool(id) => format!("pool {id}"),
            Uri::Memory(id) => format!("memory {id}"),
            Uri::Handoff(id) => format!("handoff {id}"),
        }
    }
}

impl fmt::Display for Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Uri::Inbox(id) => write!(f, "maas://agents/{id}/inbox"),
            Uri::Pool(id) => write!(f, "maas://pools/{id}"),
            Uri::Memory(id) => write!(f, "maas://memories/{id}"),
            Uri::Handoff(id) => write!(f, "maas://handoffs/{id}"),
        }
    }
}

/// A domain error as an MCP error: the sentence as the message, the JSON body the tools
/// give as `data`. A missing object is "resource not found"; a refusal keeps its code.
pub fn error(e: &types::Error) -> ErrorData {
    let code = match e {
        types::Error::NotFound(_) => ErrorCode::RESOURCE_NOT_FOUND,
        types::Error::PermissionDenied(_) => ErrorCode(-32003),
        types::Error::RateLimited(_) => ErrorCode(-32029),
        types::Error::Unavailable(_) => ErrorCode::INTERNAL_ERROR,
        _ => ErrorCode::INVALID_PARAMS,
    };
    ErrorData::new(code, e.message(), Some(wire::error(e)))
}

/// Runs `op` as `caller` through [`ops::invoke`] and renders its JSON.
async fn run<O: Op>(
    core: &CoreService,
    caller: &types::Caller,
    op: O,
) -> Result<Value, types::Error> {
    let caller = caller.clone();
    core.call(move |rt| {
        let mut op = op;
        ops::invoke(&mut op, rt, &caller).map(|out| op.json(&out))
    })
    .await
}

/// Reads `uri` as `caller`: the operation's answer as JSON.
pub async fn read_json(
    core: &CoreService,
    caller: &types::Caller,
    uri: &Uri,
) -> Result<Value, types::Error> {
    match uri {
        Uri::Inbox(id) => {
            // The largest page: the inbox is bounded by the pending-per-target limit.
            let op = handoffs::GetPendingHandoffs {
                agent_id: Some(id.clone()),
                limit: Some(MAX_PAGE),
                cursor: None,
            };
            run(core, caller, op).await
        }
        Uri::Pool(id) => {
            // The first page of the largest size; its `next_cursor` says when there is
            // more, for `query_shared` to page through.
            let op = shares::QueryShared {
                pool_id: id.clone(),
                agent_id: None,
                max_scope: None,
                limit: Some(MAX_PAGE),
                cursor: None,
            };
            run(core, caller, op).await
        }
        Uri::Memory(id) => {
            let op = memories::GetMemory {
                agent_id: None,
                memory_id: id.clone(),
            };
            run(core, caller, op).await
        }
        Uri::Handoff(id) => {
            let op = handoffs::GetHandoff {
                handoff_id: id.clone(),
            };
            run(core, caller, op).await
        }
    }
}

/// `resources/read`.
pub async fn read(
    core: &CoreService,
    caller: &types::Caller,
    text: &str,
) -> Result<ReadResourceResult, ErrorData> {
    let uri = Uri::parse(text)?;
    let body = read_json(core, caller, &uri).await.map_err(|e| error(&e))?;
    Ok(ReadResourceResult::new(vec![
        ResourceContents::text(body.to_string(), uri.to_string()).with_mime_type(MIME),
    ]))
}

fn listed(uri: &Uri, description: String) -> Resource {
    Resource::new(uri.to_string(), uri.name())
        .with_description(description)
        .with_mime_type(MIME)
}

/// The largest page a list operation answers.
const MAX_PAGE: u32 = 500;

/// `resources/list`: an agent's own inbox and the pools it is a member of. The operator
/// has no inbox or membership: its list is empty (it reads any resource by URI).
pub async fn list(core: &CoreService, caller: &types::Caller) -> Result<Vec<Resource>, ErrorData> {
    let types::Caller::Agent(me) = caller else {
        return Ok(Vec::new());
    };
    let who = me.clone();
    let c = caller.clone();
    let member_of = core
        .call(move |rt| {
            // The agent's memberships, looked up without an audit record per pool (256 of
            // them made each list cost as much as 256 calls); its own pool list, page by
            // page, is the audited read that names them (a pool it joined may lie past the
            // first page, behind its owner's others).
            let joined: BTreeSet<String> = rt
                .call(|x, s| {
                    x.maas_core_admin()
                        .call_pools_of(s, &types::Caller::Operator, &who)
                })?
                .into_iter()
                .collect();
            let mut mine = Vec::new();
            let mut cursor = None;
            loop {
                let mut op = pools::ListPools {
                    owner_id: None,
                    limit: Some(MAX_PAGE),
                    cursor: cursor.take(),
                };
                let page = ops::invoke(&mut op, rt, &c)?;
                mine.extend(
                    page.items
                        .into_iter()
                        .filter(|pool| joined.contains(&pool.id)),
                );
                match page.next_cursor {
                    Some(next) if mine.len() < joined.len().min(MAX_LISTED_POOLS) => {
                        cursor = Some(next);
                    }
                    _ => break,
                }
            }
            mine.truncate(MAX_LISTED_POOLS);
            Ok(mine)
        })
        .await
        .map_err(|e| error(&e))?;
    let mut out = vec![listed(
        &Uri::Inbox(me.clone()),
        format!("The pending handoffs targeting {me}"),
    )];
    out.extend(member_of.iter().map(|p| {
        listed(
            &Uri::Pool(p.id.clone()),
            format!("The memories shared in pool {} ({})", p.id, p.name),
        )
    }));
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn uris_parse_and_print_back() {
        for text in [
            "maas://agents/ann/inbox",
            "maas://pools/p-1",
            "maas://memories/m:1@x",
            "maas://handoffs/h_1.2",
        ] {
            let uri = Uri::parse(text).unwrap();
            assert_eq!(uri.to_string(), text);
        }
        for unknown in [
            "maas://agents/ann",
            "maas://agents/ann/outbox",
            "maas://pool/p",
            "file:///etc/passwd",
            "maas://memories/m/extra",
            "",
        ] {
            let e = Uri::parse(unknown).unwrap_err();
            assert_eq!(e.code, ErrorCode::RESOURCE_NOT_FOUND, "{unknown}");
        }
        for malformed in [
            "maas://pools/",
            "maas://memories/a b",
            "maas://handoffs/%2F",
            &format!("maas://pools/{}", "x".repeat(129)),
        ] {
            let e = Uri::parse(malformed).unwrap_err();
            assert_eq!(e.code, ErrorCode::INVALID_PARAMS, "{malformed}");
        }
    }
}
