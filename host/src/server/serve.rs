//! `serve`: start the daemon's loops and the HTTP server, wait for SIGINT/SIGTERM (or a stop
//! request), then shut down within the grace period.

use crate::daemon::{Daemon, ShutdownReport};
use std::future::IntoFuture;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;

/// How often the watcher looks at the manifest and plugin files.
const WATCH_EVERY: Duration = Duration::from_secs(1);

/// Runs the host until SIGINT/SIGTERM or [`Daemon::request_stop`]: firing loop, abandoned-run
/// sweep, queue workers, file watcher and the HTTP server on `listener`. Returns once every run
/// has finished or, after the grace period, been marked `interrupted`.
pub async fn serve(
    daemon: Arc<Daemon>,
    listener: tokio::net::TcpListener,
) -> anyhow::Result<ShutdownReport> {
    let runner = daemon.runner();
    let server = runner.manifest.server.clone();
    let workers = runner.manifest.runtime.queue_workers;
    drop(runner);
    let mut loops = JoinSet::new();
    loops.spawn(daemon.clone().fire_loop());
    loops.spawn(daemon.clone().sweep_loop());
    loops.spawn(daemon.clone().alert_loop());
    for n in 0..workers {
        loops.spawn(daemon.clone().worker_loop(n));
    }
    loops.spawn(daemon.clone().watch_loop(server.watch, WATCH_EVERY));

    let mut stop = daemon.stop.subscribe();
    let app = super::router(daemon.clone());
    let http = tokio::spawn(
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stop.wait_for(|s| *s).await;
            })
            .into_future(),
    );

    let mut stop = daemon.stop.subscribe();
    tokio::select! {
        _ = terminate() => tracing::info!("shutting down: finishing runs in progress"),
        _ = stop.wait_for(|s| *s) => tracing::info!("shutting down on request"),
    }
    // Fresh values from the configuration in force now (a reload may have changed them).
    let grace = daemon.runner().manifest.server.grace;
    let deadline = tokio::time::Instant::now() + grace;
    let report = daemon.shutdown(grace).await;
    let rest = deadline.saturating_duration_since(tokio::time::Instant::now());
    if tokio::time::timeout(rest, async { while loops.join_next().await.is_some() {} })
        .await
        .is_err()
    {
        // A queue worker still holds a job: stop it (its writes roll back) and hand the
        // job back at once rather than when its lease runs out.
        loops.abort_all();
        while loops.join_next().await.is_some() {}
        let runner = daemon.runner();
        let holder = format!("{}/", runner.host_id());
        match runner.store.release_jobs(&holder, chrono::Utc::now()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(jobs = n, "queue jobs in hand returned to the queue"),
            Err(e) => tracing::warn!(error = format!("{e:#}"), "cannot return queue jobs"),
        }
    }
    let wait = rest.max(Duration::from_secs(1));
    if tokio::time::timeout(wait, http).await.is_err() {
        tracing::warn!("open HTTP requests were cut off at shutdown");
    }
    if !report.interrupted.is_empty() {
        tracing::warn!(runs = ?report.interrupted, "runs marked interrupted after the grace period");
    }
    daemon.runner().shutdown().await;
    tracing::info!("stopped");
    Ok(report)
}

/// Resolves on SIGINT or SIGTERM.
async fn terminate() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => return std::future::pending().await,
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
