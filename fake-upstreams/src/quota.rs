//! Quotas: the sliding window of accepted requests, what an over-quota request is answered, and `Retry-After` values.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// A request quota: at most `limit` accepted requests in any sliding `window`, checked at arrival.
/// Requests answered with `answer` do not count as accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quota {
    /// Accepted requests allowed in any window.
    pub limit: u32,
    /// The sliding window length.
    pub window: Duration,
    /// What an over-quota request is answered.
    pub answer: QuotaAnswer,
}

impl Quota {
    /// `limit` requests per `window`, answered `answer` when over.
    pub fn new(limit: u32, window: Duration, answer: QuotaAnswer) -> Self {
        Quota {
            limit,
            window,
            answer,
        }
    }

    /// `limit` requests per minute, answered `answer` when over (Ploomes 120, Commerce7 100).
    pub fn per_minute(limit: u32, answer: QuotaAnswer) -> Self {
        Quota::new(limit, Duration::from_secs(60), answer)
    }
}

/// How an over-quota request is answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuotaAnswer {
    /// `429 Too Many Requests` with Zoho's JSON body
    /// `{"code":"TOO_MANY_REQUESTS","message":"Rate limit exceeded","status":"error"}`.
    TooManyRequests {
        /// The `Retry-After` header to send, if any.
        retry_after: Option<RetryAfter>,
    },
    /// `403 Forbidden` with an HTML page (`<!DOCTYPE html>…Your request has been forbidden…`), as
    /// Ploomes has been seen to answer; no `Retry-After`.
    ForbiddenHtml,
    /// `503 Service Unavailable` with a small JSON body.
    Unavailable {
        /// The `Retry-After` header to send, if any.
        retry_after: Option<RetryAfter>,
    },
}

/// A `Retry-After` header value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryAfter {
    /// `Retry-After: N` (delay in seconds).
    Seconds(u64),
    /// `Retry-After: <HTTP-date>` this many seconds ahead (rounded up to the next whole second).
    Date(u64),
    /// `Retry-After: N` where N is the seconds until the oldest accepted request leaves the quota
    /// window, rounded up (at least 1; 1 when there is no quota or nothing accepted).
    UntilWindowFrees,
}

/// A `Retry-After` resolved at arrival time, rendered outside the lock.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ResolvedRetry {
    /// Delay in seconds.
    Seconds(u64),
    /// Seconds ahead for an HTTP-date.
    Date(u64),
}

impl ResolvedRetry {
    /// The header value text.
    pub(crate) fn header_value(self) -> String {
        match self {
            ResolvedRetry::Seconds(s) => s.to_string(),
            ResolvedRetry::Date(s) => {
                let at = std::time::SystemTime::now() + Duration::from_secs(s);
                // Round up so the parsed date is never earlier than `s` seconds ahead.
                let at = at + Duration::from_secs(1);
                httpdate::fmt_http_date(at)
            }
        }
    }
}

/// A quota and its window of accepted arrivals.
#[derive(Debug)]
pub(crate) struct QuotaState {
    quota: Quota,
    accepted: VecDeque<Instant>,
}

impl QuotaState {
    /// A fresh window for `quota`.
    pub(crate) fn new(quota: Quota) -> Self {
        QuotaState {
            quota,
            accepted: VecDeque::new(),
        }
    }

    /// Admits an arrival at `now` (recording it) or returns the over-quota answer and its
    /// resolved `Retry-After`.
    pub(crate) fn admit(
        &mut self,
        now: Instant,
    ) -> Result<(), (QuotaAnswer, Option<ResolvedRetry>)> {
        let window = self.quota.window;
        while let Some(&t) = self.accepted.front() {
            if t + window <= now {
                self.accepted.pop_front();
            } else {
                break;
            }
        }
        if self.accepted.len() < self.quota.limit as usize {
            self.accepted.push_back(now);
            return Ok(());
        }
        let retry = match &self.quota.answer {
            QuotaAnswer::TooManyRequests { retry_after }
            | QuotaAnswer::Unavailable { retry_after } => {
                retry_after.map(|r| resolve(r, Some(self), now))
            }
            QuotaAnswer::ForbiddenHtml => None,
        };
        Err((self.quota.answer.clone(), retry))
    }

    /// Seconds (rounded up, at least 1) until the oldest accepted arrival leaves the window.
    fn seconds_until_free(&self, now: Instant) -> u64 {
        let Some(&oldest) = self.accepted.front() else {
            return 1;
        };
        let left = (oldest + self.quota.window).saturating_duration_since(now);
        let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
        secs.max(1)
    }
}

/// Resolves `retry` at `now` against the quota window, if any.
pub(crate) fn resolve(
    retry: RetryAfter,
    quota: Option<&QuotaState>,
    now: Instant,
) -> ResolvedRetry {
    match retry {
        RetryAfter::Seconds(s) => ResolvedRetry::Seconds(s),
        RetryAfter::Date(s) => ResolvedRetry::Date(s),
        RetryAfter::UntilWindowFrees => {
            ResolvedRetry::Seconds(quota.map_or(1, |q| q.seconds_until_free(now)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_is_half_open_and_until_free_rounds_up() {
        let q = Quota::new(
            2,
            Duration::from_millis(1500),
            QuotaAnswer::TooManyRequests {
                retry_after: Some(RetryAfter::UntilWindowFrees),
            },
        );
        let mut s = QuotaState::new(q);
        let t0 = Instant::now();
        assert!(s.admit(t0).is_ok());
        assert!(s.admit(t0 + Duration::from_millis(100)).is_ok());
        let Err((_, Some(ResolvedRetry::Seconds(secs)))) = s.admit(t0 + Duration::from_millis(200))
        else {
            panic!("expected a rejection with seconds");
        };
        assert_eq!(secs, 2); // 1.3 s left, rounded up
                             // Exactly one window after the first: it has left.
        assert!(s.admit(t0 + Duration::from_millis(1500)).is_ok());
        assert!(s.admit(t0 + Duration::from_millis(1599)).is_err());
    }
}
