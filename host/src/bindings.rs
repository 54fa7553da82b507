//! The generated bindings of the `maas:core` world: the one place `bindgen!` runs.
#![allow(missing_docs)]

wasmtime::component::bindgen!({
    path: "../wit",
    world: "maas",
});

pub use exports::maas::core::{admin, audit, changes, records, security, types};

/// Re-exports an interface's generated module together with the shared records it uses.
/// The generated module names those as type aliases of `records`; re-exported here they
/// are the records themselves, so `use agents::AgentType::*` and the like keep working.
macro_rules! with_records {
    ($($iface:ident: $($record:ident),+;)+) => {$(
        #[doc = concat!("The `", stringify!($iface), "` interface and the records it uses.")]
        pub mod $iface {
            pub use super::exports::maas::core::$iface::*;
            pub use super::records::{$($record),+};
        }
    )+};
}

with_records! {
    agents: Agent, AgentType, Capability;
    pools: Member, Pool, SharedMemory;
    memories: Memory, MemoryHit, MemoryKind;
    handoffs: AcceptedHandoff, Handoff, HandoffContext, HandoffStatus;
    knowledge: DocumentKind, LineRange, SearchHit;
}

impl types::Error {
    /// The stable machine-readable code: `not_found`, `permission_denied`, …
    pub fn code(&self) -> &'static str {
        match self {
            types::Error::NotFound(_) => "not_found",
            types::Error::PermissionDenied(_) => "permission_denied",
            types::Error::CapacityExceeded(_) => "capacity_exceeded",
            types::Error::InvalidInput(_) => "invalid_input",
            types::Error::Conflict(_) => "conflict",
            types::Error::Expired(_) => "expired",
            types::Error::Unavailable(_) => "unavailable",
            types::Error::RateLimited(_) => "rate_limited",
        }
    }

    /// What went wrong, for another message to quote: an `unavailable` error's reason
    /// (the journal, the disk) without its kind, any other as [`Self::message`].
    pub fn reason(&self) -> String {
        match self {
            types::Error::Unavailable(why) => why.clone(),
            other => other.message(),
        }
    }

    /// The sentence a person reads, without the code: every transport (MCP results, the
    /// command line, plugins' hosts) renders a core error through here.
    pub fn message(&self) -> String {
        match self {
            types::Error::NotFound(what) => format!("not found: {what}"),
            types::Error::PermissionDenied(why) => format!("permission denied: {why}"),
            types::Error::CapacityExceeded(info) => {
                format!(
                    "capacity exceeded: the {} limit of {} is reached",
                    info.resource, info.limit
                )
            }
            types::Error::InvalidInput(info) => format!("invalid {}: {}", info.field, info.reason),
            types::Error::Conflict(current) => {
                format!("version conflict: the current version is {current}")
            }
            types::Error::Expired(what) => format!("expired: {what}"),
            types::Error::Unavailable(why) => format!("unavailable: {why}"),
            types::Error::RateLimited(ms) => {
                format!(
                    "rate limited: this agent writes (or rotates tokens) faster than its limit, or its owner's agents have written their bytes for the minute (write-bytes-per-minute); retry after {ms} ms"
                )
            }
        }
    }
}
