//! The WIT contract on the host side: bindings generated from the package in the guest SDK
//! (`plugins/sdk/wit`), below both the runtime that links them and the capabilities that
//! implement them; every import is async and may trap (host bugs only).

wasmtime::component::bindgen!({
    path: "../plugins/sdk/wit",
    world: "connector",
    imports: { default: async | trappable },
    exports: { default: async },
});

pub use connector::host::types::Error as WitError;
