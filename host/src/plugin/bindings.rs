//! The generated bindings of the `plugin` world. Its `types` and `records` are the core's
//! own, so a plugin receives the core's errors, scopes, permissions and records unchanged
//! and the host passes them through without converting.
#![allow(missing_docs)]

wasmtime::component::bindgen!({
    path: "../wit",
    world: "plugin",
    imports: { default: trappable },
    // Runs are futures, so a deadline can end one blocked in a host call (a timer, a
    // socket, a FIFO in a granted directory) as well as one computing.
    exports: { default: async },
    with: {
        "maas:core/types": crate::plugin::bindings::core_types,
        "maas:core/records": crate::plugin::bindings::core_records,
    },
});

pub use maas::core::{
    plugin_handoffs, plugin_identity, plugin_knowledge, plugin_memories, plugin_pools,
};

/// A types-only interface of the core seen from the plugin world: the core's generated
/// types, and the linking such an interface needs (an instance with no functions).
macro_rules! types_only {
    ($module:ident, $core:ident, $instance:literal) => {
        #[doc = concat!("The core's `", stringify!($core), "` interface in the plugin world.")]
        pub mod $module {
            pub use crate::bindings::$core::*;
            use wasmtime::component::{HasData, Linker};

            /// Nothing to implement: the interface has no functions.
            pub trait Host {}

            impl<H: Host + ?Sized> Host for &mut H {}

            /// Nothing to implement either; every store data type qualifies.
            pub trait HostWithStore<T>: HasData {}

            impl<T, U: HasData + ?Sized> HostWithStore<T> for U {}

            #[doc = concat!("Defines the (empty) `", $instance, "` instance the plugin imports.")]
            pub fn add_to_linker<T, D>(
                linker: &mut Linker<T>,
                _host_getter: fn(&mut T) -> D::Data<'_>,
            ) -> wasmtime::Result<()>
            where
                D: HasData,
                for<'a> D::Data<'a>: Host,
                T: 'static,
            {
                linker.instance($instance)?;
                Ok(())
            }
        }
    };
}

types_only!(core_types, types, "maas:core/types@0.1.0");
types_only!(core_records, records, "maas:core/records@0.1.0");
