//! Host-side bindings generated from `wit/`; every import is async and may trap (host bugs only).

wasmtime::component::bindgen!({
    path: "../wit",
    world: "connector",
    imports: { default: async | trappable },
    exports: { default: async },
});

pub use connector::host::types::Error as WitError;
