//! The MCP tools: one per operation in `crate::ops`, registered from the operation's
//! type (its doc comment is the description, its fields the input schema).

use crate::bindings::types;
use crate::ops::{
    self, Effect, Op, agents, audit, changes, handoffs, knowledge, memories, pools, shares,
};
use crate::service::CoreService;
use crate::wire;
use rmcp::ErrorData;
use rmcp::handler::server::common::schema_for_type;
use rmcp::model::{CallToolResult, ContentBlock, JsonObject, Tool, ToolAnnotations};
use rmcp::schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::HashMap;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};

/// What a tool call resolves to.
pub type Reply = Pin<Box<dyn Future<Output = Result<CallToolResult, ErrorData>> + Send>>;

/// One registered tool.
pub trait Route: Send + Sync {
    /// The tool's listing: name, description, input schema.
    fn tool(&self) -> Tool;
    /// Calls it with `args` as `caller`.
    fn call(&self, core: &CoreService, caller: types::Caller, args: JsonObject) -> Reply;
}

/// A tool backed by the operation `O`.
struct OpRoute<O>(PhantomData<fn() -> O>);

/// The prefix of a malformed call's message (arguments of the wrong shape): a protocol
/// error (`invalid_params`), not a tool result.
pub const BAD_ARGUMENTS: &str = "failed to deserialize parameters:";

impl<O: Op + DeserializeOwned + JsonSchema> Route for OpRoute<O> {
    fn tool(&self) -> Tool {
        let mut schema = (*schema_for_type::<O>()).clone();
        let description = match schema.remove("description") {
            Some(Value::String(d)) => d.replace('\n', " "),
            _ => O::TOOL.replace('_', " "),
        };
        schema.remove("title");
        Tool::new(O::TOOL, description, Arc::new(schema)).annotate(annotations(O::EFFECT))
    }

    fn call(&self, core: &CoreService, caller: types::Caller, args: JsonObject) -> Reply {
        let core = core.clone();
        Box::pin(async move {
            let mut op: O = serde_json::from_value(Value::Object(args))
                .map_err(|e| ErrorData::invalid_params(format!("{BAD_ARGUMENTS} {e}"), None))?;
            let answer = core
                .call(move |rt| ops::invoke(&mut op, rt, &caller).map(|out| op.json(&out)))
                .await;
            Ok(match answer {
                Ok(v) => CallToolResult::structured(v),
                Err(e) => failure(&e),
            })
        })
    }
}

/// `wait_for_changes`: listed like any operation, but its call waits without holding the
/// core thread.
struct WaitRoute;

impl Route for WaitRoute {
    fn tool(&self) -> Tool {
        OpRoute::<changes::WaitForChanges>(PhantomData).tool()
    }

    fn call(&self, core: &CoreService, caller: types::Caller, args: JsonObject) -> Reply {
        let core = core.clone();
        Box::pin(async move {
            let op: changes::WaitForChanges = serde_json::from_value(Value::Object(args))
                .map_err(|e| ErrorData::invalid_params(format!("{BAD_ARGUMENTS} {e}"), None))?;
            Ok(match changes::wait(&core, op, caller).await {
                Ok(page) => CallToolResult::structured(changes::page_json(&page)),
                Err(e) => failure(&e),
            })
        })
    }
}

/// The MCP hints for an effect. Every hint is given explicitly, since the protocol's
/// defaults assume a tool may destroy things and reach the open world; no tool of maas
/// reaches beyond its own data.
fn annotations(effect: Effect) -> ToolAnnotations {
    let (read_only, destructive, idempotent) = match effect {
        Effect::Read => (true, false, true),
        Effect::Add => (false, false, false),
        Effect::Change => (false, false, true),
        Effect::Destructive => (false, true, true),
        Effect::Replace => (false, true, false),
    };
    ToolAnnotations::new()
        .read_only(read_only)
        .destructive(destructive)
        .idempotent(idempotent)
        .open_world(false)
}

/// A domain error as a tool result: `isError` with the JSON body in a text block only.
pub fn failure(e: &types::Error) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(wire::error(e).to_string())])
}

fn route<O: Op + DeserializeOwned + JsonSchema>() -> (&'static str, Box<dyn Route>) {
    (O::TOOL, Box::new(OpRoute::<O>(PhantomData)))
}

/// Every tool, by name, in listing order.
pub struct Registry {
    order: Vec<&'static str>,
    routes: HashMap<&'static str, Box<dyn Route>>,
    listing: Vec<Tool>,
}

impl Registry {
    /// The tool called `name`.
    pub fn get(&self, name: &str) -> Option<&dyn Route> {
        self.routes.get(name).map(|r| &**r)
    }

    /// Every tool's listing.
    pub fn listing(&self) -> &[Tool] {
        &self.listing
    }

    /// The tool names in listing order.
    pub fn names(&self) -> &[&'static str] {
        &self.order
    }
}

/// The registry, built once.
pub fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let all = vec![
            // The original fifteen.
            route::<agents::RegisterAgent>(),
            route::<agents::GetAgentInfo>(),
            route::<agents::GetAgentsForUser>(),
            route::<handoffs::InitiateHandoff>(),
            route::<handoffs::AcceptHandoff>(),
            route::<handoffs::CompleteHandoff>(),
            route::<handoffs::GetPendingHandoffs>(),
            route::<pools::CreatePool>(),
            route::<pools::JoinPool>(),
            route::<pools::LeavePool>(),
            route::<shares::ShareMemoryToScope>(),
            route::<shares::QueryShared>(),
            route::<knowledge::SearchCodeKb>(),
            route::<knowledge::SearchDecisions>(),
            route::<knowledge::SearchIncidents>(),
            // The rest.
            route::<handoffs::RejectHandoff>(),
            route::<handoffs::CancelHandoff>(),
            route::<handoffs::GetHandoff>(),
            route::<handoffs::GetAgentHandoffs>(),
            route::<handoffs::CleanupHandoffs>(),
            route::<memories::StoreMemory>(),
            route::<memories::GetMemory>(),
            route::<memories::UpdateMemory>(),
            route::<memories::DeleteMemory>(),
            route::<memories::SearchMemories>(),
            route::<knowledge::IngestDocuments>(),
            route::<knowledge::RemoveDocuments>(),
            route::<audit::GetAuditLog>(),
            route::<audit::GetStateDigest>(),
            route::<agents::DeactivateAgent>(),
            route::<agents::ReactivateAgent>(),
            route::<agents::UnregisterAgent>(),
            route::<agents::RotateToken>(),
            route::<agents::StartSession>(),
            route::<agents::EndSession>(),
            route::<agents::GetSession>(),
            route::<pools::GetPool>(),
            route::<pools::ListPools>(),
            route::<pools::GetPoolMembers>(),
            route::<pools::RemovePoolMember>(),
            route::<shares::UnshareMemory>(),
            route::<pools::ArchivePool>(),
            route::<pools::DeletePool>(),
            route::<agents::Whoami>(),
            route::<handoffs::RequestHandoffInput>(),
            route::<handoffs::ProvideHandoffInput>(),
            route::<changes::GetChanges>(),
            (changes::WaitForChanges::TOOL, Box::new(WaitRoute)),
        ];
        let order: Vec<&'static str> = all.iter().map(|(n, _)| *n).collect();
        let listing = all.iter().map(|(_, r)| r.tool()).collect();
        Registry {
            order,
            routes: all.into_iter().collect(),
            listing,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// The tool list as served, pretty JSON.
    fn served() -> String {
        let list = serde_json::to_string_pretty(registry().listing()).unwrap_or_default();
        format!("{list}\n")
    }

    /// `tests/golden/tools.json` is the tool list clients see (names, descriptions, input
    /// schemas). A change to any operation's declaration shows up here; accept it with
    /// `MAAS_BLESS=1 cargo test -p maas-host --lib golden`.
    #[test]
    fn the_tool_list_matches_its_golden_file() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/tools.json");
        let now = served();
        if std::env::var_os("MAAS_BLESS").is_some() {
            assert!(std::fs::write(path, &now).is_ok(), "cannot write {path}");
            return;
        }
        let golden = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            golden == now,
            "the MCP tool list changed; review it and accept with \
             MAAS_BLESS=1 cargo test -p maas-host --lib golden"
        );
    }

    /// The README names every tool the server lists, and no other.
    #[test]
    fn the_readme_lists_exactly_the_registered_tools() {
        let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
            .unwrap_or_default();
        let start = readme.find("Tools: the original fifteen").unwrap_or(0);
        let end = readme[start..]
            .find("A domain error")
            .map_or(start, |e| start + e);
        let named: BTreeSet<&str> = readme[start..end].split('`').skip(1).step_by(2).collect();
        let registered: BTreeSet<&str> = registry().names().iter().copied().collect();
        assert_eq!(named, registered);
    }

    /// Every tool carries all four hints; reads are read-only and nothing else is, and a
    /// few operations are pinned so that a wrong declaration shows.
    #[test]
    fn every_tool_is_annotated() {
        for tool in registry().listing() {
            let a = tool.annotations.as_ref();
            let hints = a.map(|a| {
                (
                    a.read_only_hint,
                    a.destructive_hint,
                    a.idempotent_hint,
                    a.open_world_hint,
                )
            });
            let Some((Some(read_only), Some(destructive), Some(_), Some(open_world))) = hints
            else {
                panic!("{} lacks a hint: {a:?}", tool.name);
            };
            assert!(!open_world, "{}", tool.name);
            assert!(!(read_only && destructive), "{}", tool.name);
            let reads = tool.name.starts_with("get_")
                || tool.name.starts_with("search_")
                || tool.name.starts_with("list_")
                || tool.name.starts_with("query_")
                || tool.name.starts_with("wait_")
                || tool.name == "whoami";
            assert_eq!(read_only, reads, "{}", tool.name);
        }
        let hint = |name: &str| {
            registry()
                .listing()
                .iter()
                .find(|t| t.name == name)
                .and_then(|t| t.annotations.clone())
                .map(|a| (a.destructive_hint, a.idempotent_hint))
        };
        assert_eq!(hint("delete_memory"), Some((Some(true), Some(true))));
        assert_eq!(hint("store_memory"), Some((Some(false), Some(false))));
        assert_eq!(hint("join_pool"), Some((Some(false), Some(true))));
    }

    /// Every tool has a description and every parameter a description a model can read.
    #[test]
    fn every_tool_and_parameter_is_described() {
        for tool in registry().listing() {
            assert!(
                tool.description.as_ref().is_some_and(|d| d.len() > 10),
                "{}",
                tool.name
            );
            let props = tool
                .input_schema
                .get("properties")
                .and_then(Value::as_object);
            for (name, schema) in props.into_iter().flatten() {
                assert!(
                    schema.get("description").is_some() || schema.get("$ref").is_some(),
                    "{}.{name}",
                    tool.name
                );
            }
        }
    }
}
