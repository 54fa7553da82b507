//! maas-host: runs the maas core component with wasmtime over a durable journal, and the
//! `maas` command built on it.

pub mod bench;
pub mod bindings;
pub mod clock;
pub mod compiled;
pub mod ingest;
pub mod journal;
pub mod known_tokens;
pub mod mcp;
pub mod operator;
pub mod ops;
pub mod owned;
pub mod plugin;
pub mod progress;
pub mod render;
pub mod runtime;
pub mod service;
pub mod temporaries;
pub mod wire;

pub use bindings::{
    admin, agents, audit, changes, handoffs, knowledge, memories, pools, security, types,
};
pub use clock::Clock;
pub use runtime::{CoreImage, Runtime, RuntimeOptions, default_limits};
pub mod cli;
pub mod datadir;
pub mod demo;
pub mod errors;
