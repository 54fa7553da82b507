//! The generated bindings of the `maas:core` world: the one place `bindgen!` runs.
#![allow(missing_docs)]

wasmtime::component::bindgen!({
    path: "../wit",
    world: "maas",
});

pub use exports::maas::core::{
    admin, agents, audit, handoffs, knowledge, memories, pools, records, security, types,
};

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
}
