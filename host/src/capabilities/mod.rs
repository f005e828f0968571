//! Host capabilities, one module each: what a plugin may do, granted per connector by the
//! manifest and denied by default. Each module owns its state and implements the generated
//! `Host` trait of its WIT interface; `runtime` links them. `db`, `state` and `queue` share the
//! call's run transaction (`tx`).

pub mod config;
pub mod db;
pub mod http;
pub mod log;
pub mod progress;
pub mod queue;
pub mod state;
pub mod stdio;
pub mod tx;

use crate::runtime::bindings::WitError;

/// What every import returns: the outer error traps (host bug), the inner one is the plugin's.
pub type CapResult<T> = wasmtime::Result<Result<T, WitError>>;
