//! Scripted faults: what can go wrong with an answer, which requests a fault applies to, and the FIFO that hands them out.

use super::quota::RetryAfter;
use axum::http::{HeaderName, HeaderValue};
use std::collections::VecDeque;
use std::time::Duration;

/// A scripted misbehaviour for one request.
///
/// `Delay`, `SlowBody` and `Header` modify the normal answer (the quota still applies to that
/// request); the others replace it (the quota is not consulted and the request does not count).
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer with this status and a small JSON error body (none for 204 and 304; a code below
    /// 200 or above 999 becomes 500).
    Status(u16),
    /// Answer with `status` (e.g. 429 or 503), a small JSON error body and a `Retry-After` header.
    RetryAfterStatus {
        /// The status to answer.
        status: u16,
        /// The `Retry-After` to send.
        retry_after: RetryAfter,
    },
    /// Wait this long, then answer normally.
    Delay(Duration),
    /// Answer normally, but send the body `chunk` bytes at a time, waiting `interval` before each chunk.
    SlowBody {
        /// Bytes per chunk (at least 1).
        chunk: usize,
        /// Wait before each chunk.
        interval: Duration,
    },
    /// Close the TCP connection (with a reset) without any response.
    Reset,
    /// `200` with a `Content-Type: application/json` body that is truncated JSON (the first half
    /// of the route's own answer, or a fixed truncated document).
    MalformedJson,
    /// Never answer (until the server shuts down); the client has to time out.
    Hang,
    /// Answer normally with this header added (replacing any of the same name).
    Header(HeaderName, HeaderValue),
}

impl Fault {
    /// A [`Fault::Header`] from text.
    ///
    /// # Panics
    /// If `name` or `value` is not a valid header name or value.
    pub fn header(name: &str, value: &str) -> Self {
        Fault::Header(
            HeaderName::from_bytes(name.as_bytes()).expect("valid header name"),
            HeaderValue::from_str(value).expect("valid header value"),
        )
    }

    /// Whether this fault replaces the answer (rather than modifying the normal one).
    pub(crate) fn replaces_answer(&self) -> bool {
        !matches!(
            self,
            Fault::Delay(_) | Fault::SlowBody { .. } | Fault::Header(..)
        )
    }
}

/// Which requests a scripted fault applies to, and how many times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultScope {
    /// Only requests whose path starts with this (None: any request).
    pub path_prefix: Option<String>,
    /// How many matching requests get the fault (0 is treated as 1).
    pub times: u32,
}

impl FaultScope {
    /// The next request, whatever its path.
    pub fn any() -> Self {
        FaultScope {
            path_prefix: None,
            times: 1,
        }
    }

    /// The next request whose path starts with `prefix`.
    pub fn prefix(prefix: impl Into<String>) -> Self {
        FaultScope {
            path_prefix: Some(prefix.into()),
            times: 1,
        }
    }

    /// The next `n` matching requests instead of one.
    pub fn times(mut self, n: u32) -> Self {
        self.times = n;
        self
    }

    fn matches(&self, path: &str) -> bool {
        self.path_prefix
            .as_deref()
            .is_none_or(|p| path.starts_with(p))
    }
}

impl Default for FaultScope {
    fn default() -> Self {
        FaultScope::any()
    }
}

/// Pending faults in the order they were pushed.
#[derive(Debug, Default)]
pub(crate) struct FaultQueue {
    entries: VecDeque<(Fault, FaultScope, u32)>,
}

impl FaultQueue {
    /// Adds a fault at the back.
    pub(crate) fn push(&mut self, fault: Fault, scope: FaultScope) {
        let left = scope.times.max(1);
        self.entries.push_back((fault, scope, left));
    }

    /// Consumes one use of the first fault whose scope matches `path`.
    pub(crate) fn take(&mut self, path: &str) -> Option<Fault> {
        let i = self.entries.iter().position(|(_, s, _)| s.matches(path))?;
        let entry = &mut self.entries[i];
        entry.2 -= 1;
        let fault = entry.0.clone();
        if entry.2 == 0 {
            self.entries.remove(i);
        }
        Some(fault)
    }

    /// Faults not yet consumed (counting each remaining use).
    pub(crate) fn pending(&self) -> usize {
        self.entries.iter().map(|e| e.2 as usize).sum()
    }

    /// Drops every pending fault.
    pub(crate) fn clear(&mut self) {
        self.entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifo_by_scope_and_times() {
        let mut q = FaultQueue::default();
        q.push(Fault::Status(500), FaultScope::prefix("/Deals").times(2));
        q.push(Fault::Status(502), FaultScope::any());
        assert_eq!(q.pending(), 3);
        assert!(matches!(q.take("/Contacts"), Some(Fault::Status(502))));
        assert!(q.take("/Contacts").is_none());
        assert!(matches!(q.take("/Deals@Stages"), Some(Fault::Status(500))));
        assert!(matches!(q.take("/Deals"), Some(Fault::Status(500))));
        assert!(q.take("/Deals").is_none());
        assert_eq!(q.pending(), 0);
    }
}
