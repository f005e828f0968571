//! Test support shared by the integration tests, the connectors' harnesses and the demo: where
//! the built plugins are, connectors' example manifest entries, fresh databases on each
//! backend, and a host started from a manifest written for the test.

pub mod daemon;
pub mod db;
pub mod demo;
pub mod entry;
pub mod host;
pub mod logs;

/// The fake upstreams (their own crate, shared with the demo).
pub use fake_upstreams as fake;

use std::path::PathBuf;

/// The `.wasm` file of plugin crate `name`, built by this crate's build script.
pub fn plugin(name: &str) -> PathBuf {
    PathBuf::from(env!("PLUGINS_WASM_DIR")).join(format!("{name}.wasm"))
}
