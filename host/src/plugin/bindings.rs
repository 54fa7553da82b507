//! The generated bindings of the `plugin` world. Its `types` are the core's own, so a
//! plugin receives the core's errors, scopes and permissions unchanged.
#![allow(missing_docs)]

wasmtime::component::bindgen!({
    path: "../wit",
    world: "plugin",
    imports: { default: trappable },
    with: { "maas:core/types": crate::plugin::bindings::core_types },
});

pub use maas::core::{
    plugin_handoffs, plugin_identity, plugin_knowledge, plugin_memories, plugin_pools,
};

/// The core's `types` interface seen from the plugin world: the core's generated types,
/// and the linking a types-only interface needs (an instance with no functions).
pub mod core_types {
    pub use crate::bindings::types::*;
    use wasmtime::component::{HasData, Linker};

    /// Nothing to implement: the interface has no functions.
    pub trait Host {}

    impl<H: Host + ?Sized> Host for &mut H {}

    /// Nothing to implement either; every store data type qualifies.
    pub trait HostWithStore<T>: HasData {}

    impl<T, U: HasData + ?Sized> HostWithStore<T> for U {}

    /// Defines the (empty) `maas:core/types` instance the plugin imports.
    pub fn add_to_linker<T, D>(
        linker: &mut Linker<T>,
        _host_getter: fn(&mut T) -> D::Data<'_>,
    ) -> wasmtime::Result<()>
    where
        D: HasData,
        for<'a> D::Data<'a>: Host,
        T: 'static,
    {
        linker.instance("maas:core/types@0.1.0")?;
        Ok(())
    }
}
