//! A connector's part in the demo (`cargo run -p connector-demo`), implemented in its harness
//! crate (`plugins/<name>/harness`): start its fake upstream, adapt its manifest entry to it, and
//! run it the way an operator would, returning what to show. Connectors without a harness are
//! run once (and once as a dry run) by the demo itself.

use connector_host::runner::{RunOutcome, Runner};
use std::future::Future;
use std::pin::Pin;

/// A boxed future, for the trait's async methods.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What setting a connector up for the demo gave.
pub struct Setup {
    /// Environment variables the fakes expect (their keys are not secrets: the fakes exist only
    /// while the demo runs).
    pub env: Vec<(String, String)>,
    /// Keeps the fakes serving until the demo ends.
    pub keep: Box<dyn std::any::Any + Send + Sync>,
}

/// What running a connector for the demo did.
pub struct Played {
    /// Its runs, for the demo's table of runs.
    pub outcomes: Vec<RunOutcome>,
    /// What to show about the result (a table from the connector's own tables, say).
    pub report: String,
    /// Whether the connector did what the demo meant it to (a run may fail on purpose, to show
    /// how a failure looks); the demo exits 1 otherwise.
    pub as_expected: bool,
}

/// One connector's demo.
pub trait Demo: Send + Sync {
    /// The connector: its folder under `plugins/` and its name in `connector.toml`.
    fn name(&self) -> &'static str;

    /// Starts the fake upstreams and points `entry` (the parsed `connector.toml`) at them.
    fn setup<'a>(&'a self, entry: &'a mut toml::Table) -> BoxFuture<'a, anyhow::Result<Setup>>;

    /// Runs the connector on `runner` and returns what it did; `setup` is what
    /// [`Demo::setup`] returned (its `keep` holds the fakes, to script them between runs).
    fn play<'a>(
        &'a self,
        runner: &'a Runner,
        setup: &'a Setup,
    ) -> BoxFuture<'a, anyhow::Result<Played>>;
}
