//! A long-running host for a test: a [`Daemon`] over a manifest written to a temporary
//! directory, reloadable from that file with a fixed environment, optionally serving HTTP on a
//! loopback port.

use crate::db::TestDb;
use crate::host::{manifest, manifest_for, FakeEnv};
use anyhow::Result;
use connector_host::daemon::{Clock, Daemon, Loader, ShutdownReport};
use connector_host::manifest::Manifest;
use connector_host::runner::Runner;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// A daemon and the directory its manifest lives in.
pub struct TestDaemon {
    /// The daemon.
    pub daemon: Arc<Daemon>,
    /// The manifest file.
    pub path: PathBuf,
    /// Keeps the manifest directory (and the compile cache) alive.
    pub dir: tempfile::TempDir,
    db_url: String,
}

/// Writes the manifest like [`crate::host::start`] does and starts a daemon on it, reading the
/// time from `clock`.
pub async fn start_daemon(
    db: &TestDb,
    connectors: &str,
    env: &FakeEnv,
    clock: Arc<dyn Clock>,
) -> Result<TestDaemon> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("connectors.toml");
    std::fs::write(&path, manifest(db, connectors))?;
    let (m, secrets) = Manifest::load(&path, env)?;
    let runner = Runner::start(m, secrets).await?;
    start_with(runner, path, dir, db, env, clock).await
}

/// Starts a daemon around an already started `runner` whose manifest is at `path` in `dir`.
pub async fn start_with(
    runner: Runner,
    path: PathBuf,
    dir: tempfile::TempDir,
    db: &TestDb,
    env: &FakeEnv,
    clock: Arc<dyn Clock>,
) -> Result<TestDaemon> {
    let env = env.clone();
    let loader: Loader = Arc::new(move |p: &std::path::Path| Manifest::load(p, &env));
    let daemon = Daemon::new(runner, clock, loader).await?;
    Ok(TestDaemon {
        daemon,
        path,
        dir,
        db_url: db.url.clone(),
    })
}

impl TestDaemon {
    /// Replaces the manifest's connectors (same database), as an operator editing it would.
    pub fn rewrite(&self, connectors: &str) {
        let text = manifest_for(&self.db_url, connectors);
        // Write beside and rename, so a watcher never reads half a file.
        let tmp = self.path.with_extension("toml.new");
        std::fs::write(&tmp, text).expect("write the manifest");
        std::fs::rename(&tmp, &self.path).expect("replace the manifest");
    }

    /// Runs [`Daemon::serve`] on a loopback port; returns the address and the serving task.
    pub async fn serve(&self) -> (SocketAddr, tokio::task::JoinHandle<Result<ShutdownReport>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let addr = listener.local_addr().expect("bound address");
        let daemon = self.daemon.clone();
        (
            addr,
            tokio::spawn(connector_host::server::serve(daemon, listener)),
        )
    }
}
