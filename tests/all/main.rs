//! Integration tests, one binary: every test drives real wasm components through a real host on
//! real databases (SQLite always, PostgreSQL when `TEST_POSTGRES_URL` is set).

// Runs, the run log, state cursors and grants on both backends.
mod runs;
// Plugins that trap, spin, stall in host calls, or allocate past their cap.
mod sandbox;
// The on-disk compile cache and plugin loading.
mod loading;
// The command line: exit codes and messages.
mod cli;
// Outbound HTTP: allowlist, SSRF, rate limits, retries, auth profiles, redaction.
mod http;
// The ploomes connector against the fake Ploomes API.
mod ploomes;
// The durable job queue: delivery, back-off, dead letters, leases, dedup.
mod queue;
// The SQL grant check and typed values on both backends.
mod sql;
