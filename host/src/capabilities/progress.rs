//! What a run has done so far, readable while it runs: rows written, HTTP calls, time waiting
//! for rate limits, log events and the last message. `connector-host run` shows it live; the
//! capabilities add to it as they go.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// A run's counters, shared between its capabilities and whoever watches.
#[derive(Debug, Default)]
pub struct Progress {
    rows_written: AtomicU64,
    http_calls: AtomicU64,
    rate_limit_wait_ms: AtomicU64,
    log_events: AtomicU64,
    last_message: Mutex<String>,
}

/// The counters at one instant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub rows_written: u64,
    pub http_calls: u64,
    pub rate_limit_wait_ms: u64,
    pub log_events: u64,
    /// The plugin's last log message (with its fields), if it logged.
    pub last_message: String,
}

impl Progress {
    /// Rows written.
    pub fn wrote(&self, rows: u64) {
        self.rows_written.fetch_add(rows, Ordering::Relaxed);
    }

    /// One HTTP request sent.
    pub fn called(&self) {
        self.http_calls.fetch_add(1, Ordering::Relaxed);
    }

    /// Time spent waiting for a rate-limit pool or a `Retry-After`.
    pub fn waited(&self, ms: u64) {
        self.rate_limit_wait_ms.fetch_add(ms, Ordering::Relaxed);
    }

    /// A log event, with its text as shown.
    pub fn logged(&self, message: &str) {
        self.log_events.fetch_add(1, Ordering::Relaxed);
        let mut last = self.last_message.lock().unwrap_or_else(|p| p.into_inner());
        last.clear();
        last.push_str(&crate::limits::truncate(message, 200));
    }

    /// The counters now.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            rows_written: self.rows_written.load(Ordering::Relaxed),
            http_calls: self.http_calls.load(Ordering::Relaxed),
            rate_limit_wait_ms: self.rate_limit_wait_ms.load(Ordering::Relaxed),
            log_events: self.log_events.load(Ordering::Relaxed),
            last_message: self
                .last_message
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        }
    }
}
