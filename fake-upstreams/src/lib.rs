//! Fake upstreams for integration tests: real HTTP/1 servers on loopback with a request log, quotas and scripted faults.
//!
//! [`FakeServer::start`] serves any [`axum::Router`] on `127.0.0.1:0`. Around every route it
//! records each request as it arrives ([`FakeServer::requests`]), applies scripted faults
//! ([`FakeServer::push_fault`]) and enforces an optional sliding-window quota
//! ([`FakeServer::set_quota`]) that answers like the real APIs (Zoho's 429 JSON, Ploomes' 403
//! HTML page, or 503), with `Retry-After` in seconds or as an HTTP-date. [`routes`] has small
//! generic routers (echo, redirect, bytes, status, json) to merge with a test's own.
//!
//! ```no_run
//! # async fn demo() {
//! use fake_upstreams::{routes, FakeServer, Quota, QuotaAnswer};
//! let server = FakeServer::start(routes::echo_router()).await;
//! server.set_quota(Some(Quota::per_minute(120, QuotaAnswer::ForbiddenHtml)));
//! // ... point the client at server.base_url(), then check server.requests()
//! # }
//! ```

mod body;
mod canned;
mod fault;
mod log;

mod quota;
pub mod routes;
mod serve;

#[cfg(test)]
mod tests;

pub use fault::{Fault, FaultScope};
pub use log::{count_in_windows, max_in_any_window, Answer, Recorded};
pub use quota::{Quota, QuotaAnswer, RetryAfter};

use axum::Router;
use serve::Shared;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// A fake upstream serving a router on `127.0.0.1`, until dropped or [shut down](Self::shutdown).
///
/// Dropping it stops accepting and closes every connection, including hung ones.
#[derive(Debug)]
pub struct FakeServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Arc<Notify>,
    task: Option<JoinHandle<()>>,
}

impl FakeServer {
    /// Binds `127.0.0.1:0` and serves `router` (HTTP/1.1, keep-alive) on the current runtime.
    ///
    /// # Panics
    /// If the loopback port cannot be bound.
    pub async fn start(router: Router) -> FakeServer {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port for a fake server");
        let addr = listener.local_addr().expect("fake server local address");
        let shared = Arc::new(Shared::default());
        let stop = Arc::new(Notify::new());
        let task = tokio::spawn(serve::accept_loop(
            listener,
            router,
            shared.clone(),
            stop.clone(),
        ));
        FakeServer {
            addr,
            shared,
            stop,
            task: Some(task),
        }
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The base URL joined with `path` (a missing leading `/` is added).
    pub fn url(&self, path: &str) -> String {
        if path.starts_with('/') {
            format!("{}{path}", self.base_url())
        } else {
            format!("{}/{path}", self.base_url())
        }
    }

    /// Every request recorded so far (since the last [`clear`](Self::clear)), in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.lock().log.clone()
    }

    /// The arrival times of [`requests`](Self::requests), in order.
    pub fn arrival_times(&self) -> Vec<Instant> {
        self.shared
            .lock()
            .log
            .iter()
            .map(|r| r.received_at)
            .collect()
    }

    /// How many requests have been recorded since the last [`clear`](Self::clear).
    pub fn request_count(&self) -> usize {
        self.shared.lock().log.len()
    }

    /// Waits until at least `n` requests have been recorded; false if `timeout` passes first.
    pub async fn wait_for_requests(&self, n: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.request_count() >= n {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// Forgets the recorded requests (quota window and faults are kept).
    pub fn clear(&self) {
        self.shared.lock().log.clear();
    }

    /// Sets (or with `None` removes) the quota. A new quota starts with an empty window.
    pub fn set_quota(&self, quota: Option<Quota>) {
        self.shared.lock().quota = quota.map(quota::QuotaState::new);
    }

    /// Queues `fault` for the next request(s) matching `scope`, after faults already queued.
    /// A request takes the first queued fault whose scope matches it.
    pub fn push_fault(&self, fault: Fault, scope: FaultScope) {
        self.shared.lock().faults.push(fault, scope);
    }

    /// How many fault uses are still queued.
    pub fn pending_faults(&self) -> usize {
        self.shared.lock().faults.pending()
    }

    /// Drops every queued fault.
    pub fn clear_faults(&self) {
        self.shared.lock().faults.clear();
    }

    /// Stops the server and waits until its port and every connection are closed.
    pub async fn shutdown(mut self) {
        if let Some(task) = self.task.take() {
            self.stop.notify_one();
            let _ = task.await;
        }
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
