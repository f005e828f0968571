//! Rate-limit pools: an exact sliding-window limiter (no window of the quota's length ever holds
//! more request starts than the quota) plus an optional concurrency cap, shared by every
//! connector that names the pool. A pool can also be *closed* until an instant — when the
//! upstream asked to wait longer than a run may (a long `Retry-After`) — and is then closed for
//! every connector using it (and, through the store, every host), so runs end at once, recorded
//! as rate-limited, instead of waiting for hours.
//!
//! Why not a GCRA limiter (governor): with a burst equal to the quota it lets almost twice the
//! quota through in the first window, and with a burst of one it spaces requests evenly and
//! under-delivers whenever a request is late. A log of the last `limit` start times gives both
//! properties at once: the next start is the later of now and the oldest logged start plus the
//! window, so any `limit + 1` consecutive starts span at least a window.

use crate::store::Store;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// One named pool from `[rate_limits]`.
pub struct RatePool {
    name: String,
    limit: usize,
    window: Duration,
    starts: Mutex<VecDeque<Instant>>,
    concurrency: Option<Arc<Semaphore>>,
    /// Until when the pool admits nothing (the upstream asked to wait that long).
    closed_until: Mutex<Option<Instant>>,
    /// Where the pool's window is shared with the other processes using the same database.
    shared: OnceLock<Store>,
}

/// One pool's use as this host sees it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PoolUsage {
    pub name: String,
    /// Starts allowed per window.
    pub limit: usize,
    /// The window (padded, as the pool counts it).
    #[serde(serialize_with = "millis")]
    pub window: Duration,
    /// Starts in the current window.
    pub used: usize,
    /// Starts granted for later (callers sleeping until their slot).
    pub scheduled: usize,
    /// How long the pool stays closed, if it is.
    #[serde(serialize_with = "opt_millis")]
    pub closed_for: Option<Duration>,
}

fn millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_millis() as u64)
}

fn opt_millis<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_some(&(d.as_millis() as u64)),
        None => s.serialize_none(),
    }
}

/// Waiting for the pool would pass the caller's deadline or the longest wait it accepts (or the
/// pool is closed for longer).
#[derive(Debug)]
pub struct WouldExceedDeadline {
    /// How long the pool would have made the caller wait.
    pub wait: Duration,
}

impl RatePool {
    /// A pool allowing `limit` starts per `window`, and at most `max_concurrency` in flight.
    pub fn new(name: &str, limit: u32, window: Duration, max_concurrency: Option<u32>) -> Self {
        RatePool {
            name: name.to_owned(),
            limit: limit.max(1) as usize,
            // Requests reach the upstream a little after the moment we let them start, and not
            // all equally late (on a busy 2-core machine, tens of milliseconds apart); a 2 %
            // margin keeps the upstream's view within quota too.
            window: window + (window / 50).clamp(Duration::from_millis(25), Duration::from_secs(1)),
            starts: Mutex::new(VecDeque::with_capacity((limit as usize).min(1024))),
            concurrency: max_concurrency.map(|n| Arc::new(Semaphore::new(n.max(1) as usize))),
            closed_until: Mutex::new(None),
            shared: OnceLock::new(),
        }
    }

    /// Closes the pool until `until` (never shortening a closure already in force), here and,
    /// through the store, for every process on the database.
    pub async fn close(&self, until: Instant) {
        {
            let mut closed = self.closed_until.lock().unwrap_or_else(|p| p.into_inner());
            if closed.is_none_or(|c| c < until) {
                *closed = Some(until);
            }
        }
        tracing::warn!(
            pool = %self.name,
            closed_for_s = until.saturating_duration_since(Instant::now()).as_secs(),
            "rate-limit pool closed: the upstream asked to wait longer than a run may"
        );
        if let Some(store) = self.shared.get() {
            let wall = chrono::Utc::now()
                + chrono::Duration::from_std(until.saturating_duration_since(Instant::now()))
                    .unwrap_or_default();
            if let Err(e) = store.close_rate_pool(&self.name, wall).await {
                tracing::warn!(pool = %self.name, error = format!("{e:#}"), "cannot share the pool's closure");
            }
        }
    }

    /// How long the pool stays closed from `now`, if it is.
    fn closed_for(&self, now: Instant) -> Option<Duration> {
        let closed = self.closed_until.lock().unwrap_or_else(|p| p.into_inner());
        closed.filter(|c| *c > now).map(|c| c - now)
    }

    /// Shares the pool's window through `store`: every start must then also be granted there,
    /// so every process using the database together stays within the quota.
    pub fn share_through(&self, store: &Store) {
        let _ = self.shared.set(store.clone());
    }

    /// The pool's name from the manifest.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// This host's use of the pool at `now`: starts in the current window and any closure.
    pub fn usage(&self, now: Instant) -> PoolUsage {
        let starts = self.starts.lock().unwrap_or_else(|p| p.into_inner());
        let used = starts
            .iter()
            .filter(|&&s| s <= now && now.saturating_duration_since(s) < self.window)
            .count();
        let scheduled = starts.iter().filter(|&&s| s > now).count();
        PoolUsage {
            name: self.name.clone(),
            limit: self.limit,
            window: self.window,
            used,
            scheduled,
            closed_for: self.closed_for(now),
        }
    }

    /// Reserves the earliest start at or after `now` that keeps every window within quota, unless
    /// it lies after `deadline`; the caller sleeps until the returned instant.
    pub fn reserve(&self, now: Instant, deadline: Instant) -> Result<Instant, WouldExceedDeadline> {
        let mut starts = self.starts.lock().unwrap_or_else(|p| p.into_inner());
        let mut start = starts.back().map_or(now, |&last| last.max(now));
        if starts.len() >= self.limit {
            start = start.max(starts[starts.len() - self.limit] + self.window);
        }
        if start > deadline {
            return Err(WouldExceedDeadline {
                wait: start.saturating_duration_since(now),
            });
        }
        starts.push_back(start);
        while starts.len() > self.limit {
            starts.pop_front();
        }
        Ok(start)
    }

    /// Waits for a start slot (and a concurrency permit), but never past `deadline`; returns
    /// the permit, to be held while the request is in flight, and how long the caller waited.
    /// A closed pool refuses at once.
    pub async fn acquire(
        &self,
        deadline: Instant,
    ) -> Result<(Option<OwnedSemaphorePermit>, Duration), WouldExceedDeadline> {
        let began = Instant::now();
        if let Some(wait) = self.closed_for(began) {
            return Err(WouldExceedDeadline { wait });
        }
        let permit = match &self.concurrency {
            None => None,
            Some(sem) => {
                let remaining = deadline.saturating_duration_since(Instant::now());
                match tokio::time::timeout(remaining, sem.clone().acquire_owned()).await {
                    Ok(Ok(permit)) => Some(permit),
                    _ => return Err(WouldExceedDeadline { wait: remaining }),
                }
            }
        };
        let start = self.reserve(Instant::now(), deadline)?;
        // Not through the timer when the slot is free now: a timer fires on its next tick, up
        // to a millisecond or more on a busy machine, at every request.
        if start > Instant::now() {
            tokio::time::sleep_until(start.into()).await;
        }
        if let Some(store) = self.shared.get() {
            self.acquire_shared(store, deadline).await?;
        }
        Ok((permit, began.elapsed()))
    }

    /// Waits until the database grants a start in the shared window.
    async fn acquire_shared(
        &self,
        store: &Store,
        deadline: Instant,
    ) -> Result<(), WouldExceedDeadline> {
        loop {
            let limit = u32::try_from(self.limit).unwrap_or(u32::MAX);
            match store.grant_rate_slot(&self.name, limit, self.window).await {
                Ok(Ok(())) => return Ok(()),
                Ok(Err(wait)) => {
                    if Instant::now() + wait > deadline {
                        return Err(WouldExceedDeadline { wait });
                    }
                    tokio::time::sleep(wait).await;
                }
                Err(e) => {
                    // The database is out of reach: this host's own window still holds.
                    tracing::warn!(pool = %self.name, error = format!("{e:#}"), "the shared rate limit cannot be reached; using this host's window alone");
                    return Ok(());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The largest number of starts in any half-open window `[t, t + window)`.
    fn max_in_window(starts: &[Instant], window: Duration) -> usize {
        let mut best = 0;
        let mut j = 0;
        for i in 0..starts.len() {
            while starts[i] - starts[j] >= window {
                j += 1;
            }
            best = best.max(i - j + 1);
        }
        best
    }

    #[test]
    fn no_window_ever_holds_more_than_the_quota() {
        let pool = RatePool::new("p", 10, Duration::from_secs(1), None);
        let t0 = Instant::now();
        let far = t0 + Duration::from_secs(3600);
        // 100 callers arriving in bursts and trickles, all at once from the pool's view.
        let mut starts = Vec::new();
        for i in 0..100u64 {
            let now = t0 + Duration::from_millis(i * 37 % 500 + i * 20);
            starts.push(pool.reserve(now, far).unwrap());
        }
        starts.sort();
        assert_eq!(max_in_window(&starts, Duration::from_secs(1)), 10);
    }

    #[test]
    fn a_burst_gets_the_whole_quota_at_once_then_waits_a_window() {
        let pool = RatePool::new("p", 5, Duration::from_secs(10), None);
        let t0 = Instant::now();
        let far = t0 + Duration::from_secs(3600);
        let starts: Vec<Instant> = (0..6).map(|_| pool.reserve(t0, far).unwrap()).collect();
        assert!(
            starts[..5].iter().all(|s| *s == t0),
            "the first five start at once"
        );
        let gap = starts[5] - t0;
        assert!(
            gap >= Duration::from_secs(10) && gap <= Duration::from_millis(10_200),
            "{gap:?}"
        );
    }

    #[test]
    fn a_slot_past_the_deadline_is_refused_and_not_taken() {
        let pool = RatePool::new("p", 1, Duration::from_secs(60), None);
        let t0 = Instant::now();
        pool.reserve(t0, t0).unwrap();
        let err = pool.reserve(t0, t0 + Duration::from_secs(1)).unwrap_err();
        assert!(err.wait >= Duration::from_secs(60));
        // The refused caller left no reservation behind.
        let next = pool.reserve(t0, t0 + Duration::from_secs(3600)).unwrap();
        assert!(next - t0 <= Duration::from_secs(62), "{:?}", next - t0);
    }
}
