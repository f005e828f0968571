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

/// The `.wasm` files the build script built, one constant per plugin crate (`wasm::TESTKIT`).
pub mod wasm {
    include!(concat!(env!("OUT_DIR"), "/wasm.rs"));
}

/// The `.wasm` file of plugin crate `name` (for names that come from text, such as a manifest's
/// `{plugin:NAME}`); panics naming the plugins there are when there is no such plugin.
pub fn plugin(name: &str) -> PathBuf {
    match wasm::ALL.iter().find(|(n, _)| *n == name) {
        Some((_, path)) => PathBuf::from(path),
        None => {
            let known: Vec<&str> = wasm::ALL.iter().map(|(n, _)| *n).collect();
            panic!(
                "no plugin named {name:?}; the build made {}",
                known.join(", ")
            )
        }
    }
}
