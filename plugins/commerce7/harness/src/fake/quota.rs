//! Commerce7's per-tenant rate limit: 100 requests in any sliding minute, cursor-mode lists exempt, and page-mode pages past 100 at one a minute.
//!
//! Kept here rather than in `fake_upstreams::Quota` because that one is per server (not per
//! tenant), cannot exempt cursor requests, and answers Zoho's 429 body.

use chrono::{DateTime, Duration, Utc};
use std::collections::VecDeque;

/// Pages past this one (in page mode) are limited to one request a minute, as documented.
pub const DEEP_PAGE: usize = 100;

/// The rate limit applied to each tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Accepted requests per tenant in any sliding 60 s (Commerce7: 100).
    pub per_minute: u32,
    /// Whether page-mode requests for a page past [`DEEP_PAGE`] are limited to one a minute.
    pub deep_pages: bool,
    /// Whether a 429 carries `Retry-After` (seconds until the window frees). Off by default:
    /// the real header is not documented, so clients must cope without it.
    pub retry_after: bool,
}

impl RateLimit {
    /// Commerce7's documented limit: 100/min per tenant, deep pages 1/min, no `Retry-After`.
    pub fn commerce7() -> Self {
        RateLimit {
            per_minute: 100,
            deep_pages: true,
            retry_after: false,
        }
    }
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit::commerce7()
    }
}

/// One tenant's window of accepted requests, on the data's clock.
#[derive(Debug, Default)]
pub(super) struct Window {
    accepted: VecDeque<DateTime<Utc>>,
    last_deep_page: Option<DateTime<Utc>>,
}

impl Window {
    /// Admits a request at `now` (recording it), or answers the seconds until it would be
    /// admitted. Rejected requests do not count.
    pub(super) fn admit(
        &mut self,
        limit: &RateLimit,
        now: DateTime<Utc>,
        deep_page: bool,
    ) -> Result<(), u64> {
        let minute = Duration::seconds(60);
        while self.accepted.front().is_some_and(|&t| t + minute <= now) {
            self.accepted.pop_front();
        }
        if self.accepted.len() >= limit.per_minute as usize {
            let oldest = self.accepted.front().copied().unwrap_or(now);
            return Err(seconds_until(oldest + minute, now));
        }
        if deep_page && limit.deep_pages {
            if let Some(last) = self.last_deep_page.filter(|&t| t + minute > now) {
                return Err(seconds_until(last + minute, now));
            }
            self.last_deep_page = Some(now);
        }
        self.accepted.push_back(now);
        Ok(())
    }

    /// Forgets every accepted request.
    pub(super) fn clear(&mut self) {
        self.accepted.clear();
        self.last_deep_page = None;
    }
}

/// Whole seconds from `now` to `at`, rounded up, at least 1.
fn seconds_until(at: DateTime<Utc>, now: DateTime<Utc>) -> u64 {
    let ms = (at - now).num_milliseconds().max(0);
    u64::try_from((ms + 999) / 1000).unwrap_or(1).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sliding_minute_and_deep_pages() {
        let limit = RateLimit {
            per_minute: 2,
            ..RateLimit::commerce7()
        };
        let t0 = DateTime::from_timestamp(1_700_000_000, 0).expect("a time");
        let mut w = Window::default();
        assert!(w.admit(&limit, t0, false).is_ok());
        assert!(w.admit(&limit, t0 + Duration::seconds(10), false).is_ok());
        assert_eq!(w.admit(&limit, t0 + Duration::seconds(30), false), Err(30));
        // The first request leaves the window exactly a minute later.
        assert!(w.admit(&limit, t0 + Duration::seconds(60), true).is_ok());
        w.clear();
        assert!(w.admit(&limit, t0 + Duration::seconds(61), true).is_ok());
        assert_eq!(w.admit(&limit, t0 + Duration::seconds(62), true), Err(59));
        assert!(w.admit(&limit, t0 + Duration::seconds(62), false).is_ok());
    }
}
