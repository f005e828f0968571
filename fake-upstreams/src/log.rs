//! The request log: what reached a fake server, when, and how it was answered; plus window counts over arrival times.

use axum::http::{HeaderMap, Method};
use bytes::Bytes;
use std::time::{Duration, Instant};

/// How a recorded request was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// Not answered yet (still being handled, delayed, or its body is still being read).
    Pending,
    /// Answered with this status (the response head was produced; a slow body may still be trickling).
    Status(u16),
    /// The connection was closed without any response (scripted [`Fault::Reset`](super::Fault::Reset)).
    Reset,
    /// Never answered (scripted [`Fault::Hang`](super::Fault::Hang)).
    Hung,
    /// The request body could not be read (the client went away mid-request).
    Incomplete,
}

/// One request as it arrived at the server, recorded before quota and fault handling.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// Arrival order on this server, from 0 (not reset by [`FakeServer::clear`](super::FakeServer::clear)).
    pub seq: u64,
    /// The request method.
    pub method: Method,
    /// The path, without the query string.
    pub path: String,
    /// The raw query string (without `?`), if any.
    pub query: Option<String>,
    /// All headers as received.
    pub headers: HeaderMap,
    /// The full request body (empty until it has been read).
    pub body: Bytes,
    /// When the request head arrived (the instant quotas were checked against).
    pub received_at: Instant,
    /// How it was answered.
    pub answer: Answer,
}

impl Recorded {
    /// The first value of header `name` as text, if present and valid UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as text (lossy UTF-8).
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// `path?query`, or just the path when there is no query.
    pub fn path_and_query(&self) -> String {
        match &self.query {
            Some(q) => format!("{}?{q}", self.path),
            None => self.path.clone(),
        }
    }

    /// The answer status, if the request got a response.
    pub fn status(&self) -> Option<u16> {
        match self.answer {
            Answer::Status(s) => Some(s),
            _ => None,
        }
    }
}

/// The largest number of `times` inside any half-open window `[t, t + window)`, over every
/// possible start `t` (exact: a busiest window can always be slid to start at an arrival).
/// Two arrivals exactly `window` apart are never in the same window. Order of `times` does not matter.
pub fn max_in_any_window(times: &[Instant], window: Duration) -> usize {
    let mut sorted = times.to_vec();
    sorted.sort_unstable();
    let mut best = 0;
    let mut end = 0;
    for (start, &t) in sorted.iter().enumerate() {
        let limit = t + window;
        end = end.max(start);
        while end < sorted.len() && sorted[end] < limit {
            end += 1;
        }
        best = best.max(end - start);
    }
    best
}

/// Counts of `times` in consecutive fixed windows `[origin + k·window, origin + (k+1)·window)`,
/// from `k = 0` up to the window holding the last arrival. Arrivals before `origin` are ignored.
///
/// # Panics
/// If `window` is zero.
pub fn count_in_windows(times: &[Instant], origin: Instant, window: Duration) -> Vec<usize> {
    assert!(!window.is_zero(), "count_in_windows: zero window");
    let mut counts: Vec<usize> = Vec::new();
    for &t in times {
        let Some(offset) = t.checked_duration_since(origin) else {
            continue;
        };
        let k = usize::try_from(offset.as_nanos() / window.as_nanos()).unwrap_or(usize::MAX);
        if counts.len() <= k {
            counts.resize(k + 1, 0);
        }
        counts[k] += 1;
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(base: Instant, ms: &[u64]) -> Vec<Instant> {
        ms.iter()
            .map(|&m| base + Duration::from_millis(m))
            .collect()
    }

    #[test]
    fn max_in_any_window_counts_exactly() {
        let base = Instant::now();
        let w = Duration::from_millis(100);
        assert_eq!(max_in_any_window(&[], w), 0);
        assert_eq!(max_in_any_window(&at(base, &[5]), w), 1);
        // Exactly one window apart: separate windows.
        assert_eq!(max_in_any_window(&at(base, &[0, 100, 200, 300]), w), 1);
        // One nanosecond less than a window apart: same window.
        let close = [base, base + w - Duration::from_nanos(1)];
        assert_eq!(max_in_any_window(&close, w), 2);
        // Busiest window does not start at the first arrival; input unsorted.
        assert_eq!(
            max_in_any_window(&at(base, &[250, 0, 60, 120, 150, 155, 199, 400]), w),
            4
        );
        // Duplicates all count.
        assert_eq!(max_in_any_window(&at(base, &[10, 10, 10, 110]), w), 3);
    }

    #[test]
    fn count_in_windows_buckets_from_origin() {
        let base = Instant::now() + Duration::from_secs(1);
        let w = Duration::from_millis(100);
        let mut times = at(base, &[0, 99, 100, 250, 250, 510]);
        times.push(base - Duration::from_millis(1));
        assert_eq!(count_in_windows(&times, base, w), vec![2, 1, 2, 0, 0, 1]);
        assert!(count_in_windows(&[], base, w).is_empty());
    }
}
