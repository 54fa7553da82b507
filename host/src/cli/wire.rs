//! Wire strings on the command line: a clap parser for any WIT enum with wire strings
//! (`claude_code`, `agent_private`, …), which lists the choices in help and errors.

use crate::wire::Wire;
use clap::builder::{PossibleValuesParser, TypedValueParser};

/// Parses one of `T`'s wire strings.
pub fn choice<T: Wire + Clone + Send + Sync + 'static>() -> impl TypedValueParser<Value = T> {
    PossibleValuesParser::new(T::CHOICES.iter().copied()).try_map(|text: String| {
        T::from_wire(&text).ok_or_else(|| format!("unknown {} '{text}'", T::WHAT))
    })
}
