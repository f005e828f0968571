//! Host-side bindings generated from the WIT package in the guest SDK (`plugins/sdk/wit`); every
//! import is async and may trap (host bugs only).

wasmtime::component::bindgen!({
    path: "../plugins/sdk/wit",
    world: "connector",
    imports: { default: async | trappable },
    exports: { default: async },
});

pub use connector::host::types::Error as WitError;
