//! Integration tests, one binary: every test drives real wasm components through a real host on
//! real databases (SQLite always, PostgreSQL when `TEST_POSTGRES_URL` is set).

// Runs, the run log, state cursors and grants on both backends.
mod runs;
// Dry runs, deadlines, failing statements, queued writers, stopped and killed runs.
mod integrity;
// Volume caps: query results, log events, enqueued jobs, state.
mod volume;
// Connector-owned schema: migrations, upgrades, what plugins declare.
mod schema;
// A connector written outside the repository drops in; the plugins' unit tests pass.
mod dropin;
// Plugins that trap, spin, stall in host calls, or allocate past their cap.
mod sandbox;
// The on-disk compile cache and plugin loading.
mod loading;
// The command line: exit codes and messages.
mod cli;
// Outbound HTTP: allowlist, SSRF, rate limits, retries, auth profiles, redaction.
mod http;
// The durable job queue: delivery, back-off, dead letters, leases, dedup.
mod queue;
// The console in a real headless browser.
mod console;
// Alerts: each kind raised and resolved once by two hosts, and how fast.
mod alerts;
// Operators: pause and resume.
mod ops;
// The SQL grant check and typed values on both backends.
mod sql;
// Schedules: overlap and missed-fire policies, several hosts on one database, abandoned runs.
mod scheduler;

/// The `connector-host` command line as a binary (tests kill it or send it signals).
pub fn host_binary() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_BIN_EXE_host-under-test"))
}
// `serve` over HTTP: triggers, webhooks, status and metrics, hot reload, signals.
mod server;
