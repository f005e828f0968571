//! The WIT contract on the host side: bindings generated from the package in the guest SDK
//! (`plugins/sdk/wit`), below both the runtime that links them and the capabilities that
//! implement them. Every import may trap (host bugs only); those that wait on I/O are async,
//! while `config` and `log` answer from memory and are plain calls, without the fiber switch an
//! async import costs on every call.

wasmtime::component::bindgen!({
    path: "../plugins/sdk/wit",
    world: "connector",
    imports: {
        "connector:host/config": trappable,
        "connector:host/log": trappable,
        default: async | trappable,
    },
    exports: { default: async },
});

pub use connector::host::types::Error as WitError;
