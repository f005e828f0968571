//! connector-host: a WebAssembly plugin host for data connectors. It loads connector plugins
//! (WASM components speaking the `connector` WIT world), grants each only what its manifest
//! entry lists, runs them with deadlines and memory caps, and records every run.

pub mod alerts;
pub mod bindings;
pub mod capabilities;
pub mod cli;
pub mod daemon;
pub mod limits;
pub mod logging;
pub mod manifest;
pub mod ops;
pub mod redact;
pub mod runner;
pub mod runtime;
pub mod scaffold;
pub mod scheduler;
pub mod server;
pub mod status;
pub mod store;
pub mod suggest;
