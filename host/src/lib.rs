//! maas-host: runs the maas core component with wasmtime over a durable journal, and the
//! `maas` command built on it.

pub mod bindings;
pub mod clock;
pub mod journal;
pub mod runtime;

pub use bindings::{admin, agents, audit, handoffs, knowledge, memories, pools, security, types};
pub use clock::Clock;
pub use runtime::{CoreImage, Runtime, RuntimeOptions, default_limits};
