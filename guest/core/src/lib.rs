//! The maas core: a deterministic state machine over a journal.
//!
//! Every operation runs through [`engine::Engine::run`]: catch up with the journal, decide
//! (pure: state, caller, command, time and fresh ids in; events or a typed error out),
//! compare-and-append the events, evolve. [`state::State::evolve`] is the only code that
//! changes state, so replaying the journal rebuilds the same state exactly.
//!
//! This crate has no generated bindings: it builds natively for unit tests and benchmarks,
//! and the component crate wires it to the `maas:core` WIT interfaces.

pub mod access;
pub mod agents;
pub mod audit;
pub mod changes;
pub mod core;
pub mod engine;
pub mod error;
pub mod events;
pub mod guard;
pub mod handoffs;
pub mod injection;
pub mod journal;
pub mod knowledge;
pub mod limits;
pub mod memories;
pub mod model;
pub mod page;
pub mod pools;
#[cfg(test)]
mod rules;
pub mod search;
pub mod secrets;
pub mod security;
pub mod snapshot;
pub mod state;
mod text;
pub mod token;
pub mod views;
pub mod visibility;

pub use crate::core::{Core, Stats};
pub use crate::engine::Env;
#[cfg(any(test, feature = "seeded-env"))]
pub use crate::engine::SeededEnv;
pub use crate::error::{Error, Result};
pub use crate::journal::{Journal, JournalError, MemoryJournal};
pub use crate::limits::Limits;
pub use crate::model::Caller;
