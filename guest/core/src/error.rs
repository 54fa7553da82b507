//! The one error type of every maas operation, mirroring the WIT `error` variant.

use serde::{Deserialize, Serialize};

/// What went wrong. Every operation returns this on every failure path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum Error {
    /// The object does not exist, or the caller may not know that it exists.
    #[error("not found: {0}")]
    NotFound(String),
    /// The caller may not do this.
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    /// A configured limit would be exceeded.
    #[error("capacity exceeded: {resource} (limit {limit})")]
    CapacityExceeded {
        /// The limited resource.
        resource: String,
        /// The limit in force.
        limit: u64,
    },
    /// A parameter was refused.
    #[error("invalid input: {field}: {reason}")]
    InvalidInput {
        /// The parameter at fault.
        field: String,
        /// Why.
        reason: String,
    },
    /// Optimistic concurrency failed; the current version.
    #[error("conflict: current version is {0}")]
    Conflict(u64),
    /// The object has expired.
    #[error("expired: {0}")]
    Expired(String),
    /// The journal failed; nothing happened.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The acting agent writes faster than its rate allows; retry after this many ms.
    #[error("rate limited: retry after {0} ms")]
    RateLimited(u64),
}

impl Error {
    /// An `InvalidInput` error.
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidInput {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// A `NotFound` error for `kind id`.
    pub fn not_found(kind: &str, id: &str) -> Self {
        Error::NotFound(format!("{kind} {id}"))
    }

    /// A `PermissionDenied` error.
    pub fn denied(reason: impl Into<String>) -> Self {
        Error::PermissionDenied(reason.into())
    }

    /// A `CapacityExceeded` error.
    pub fn capacity(resource: &str, limit: u64) -> Self {
        Error::CapacityExceeded {
            resource: resource.to_string(),
            limit,
        }
    }

    /// The stable machine-readable code: `not_found`, `permission_denied`, …
    pub fn code(&self) -> &'static str {
        match self {
            Error::NotFound(_) => "not_found",
            Error::PermissionDenied(_) => "permission_denied",
            Error::CapacityExceeded { .. } => "capacity_exceeded",
            Error::InvalidInput { .. } => "invalid_input",
            Error::Conflict(_) => "conflict",
            Error::Expired(_) => "expired",
            Error::Unavailable(_) => "unavailable",
            Error::RateLimited(_) => "rate_limited",
        }
    }
}

/// The result of every maas operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;
