//! Host capabilities, one module each: what a plugin may do, granted per connector by the
//! manifest and denied by default. Each module owns its state, implements the generated `Host`
//! trait of its WIT interface and links it (`link`); the runner prepares them per call as one
//! [`Caps`]. `db`, `state` and `queue` share the call's run transaction (`tx`).

pub mod config;
pub mod db;
pub mod http;
pub mod log;
pub mod progress;
pub mod queue;
pub mod state;
pub mod stdio;
pub mod tx;

use crate::bindings::WitError;
use std::sync::Arc;
use wasmtime::component::Linker;

/// What every import returns: the outer error traps (host bug), the inner one is the plugin's.
pub type CapResult<T> = wasmtime::Result<Result<T, WitError>>;

/// The capabilities of one call, prepared by the runner for its connector and call.
pub struct Caps {
    /// The run transaction shared by db, state and queue.
    pub tx: tx::RunTx,
    /// SQL on granted tables.
    pub db: db::DbCap,
    /// The connector's key/value state.
    pub state: state::StateCap,
    /// Enqueueing jobs.
    pub queue: queue::QueueCap,
    /// Logging.
    pub log: log::LogCap,
    /// Settings.
    pub config: config::ConfigCap,
    /// Outbound HTTP.
    pub http: http::HttpCap,
    /// What the call has done so far, for whoever watches it.
    pub progress: Arc<progress::Progress>,
}

/// A store's data that holds one call's [`Caps`].
pub trait HasCaps: Send + 'static {
    /// The call's capabilities.
    fn caps(&mut self) -> &mut Caps;
}

/// Links every capability's WIT interface into `linker`.
pub fn link<T: HasCaps>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    log::link(linker)?;
    config::link(linker)?;
    db::link(linker)?;
    state::link(linker)?;
    queue::link(linker)?;
    http::link(linker)?;
    Ok(())
}
