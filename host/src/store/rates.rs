//! Rate-limit windows shared by every process on one database, so that they together stay
//! within a pool's quota (DESIGN.md §7): N hosts on one PostgreSQL, or a `serve` and a
//! `connector-host run` on one SQLite file.
//!
//! On PostgreSQL each pool keeps a log of granted starts in `rate_limit_grants`; a grant is
//! decided in one round trip by a server-side function (migration 0012) under a per-pool
//! advisory lock and timed by the database's clock, so hosts with skewed clocks still agree.
//! On SQLite the log lives in a small file beside the database
//! (`<db>.rate-limits`), read and rewritten under an exclusive file lock: the database's own
//! write lock cannot serve, since a run may hold it for seconds and every request start would
//! wait behind it. Processes on one machine share one clock.

use super::Store;
use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::io::{Read, Seek, Write};
use std::path::Path;
use std::time::{Duration, SystemTime};

impl Store {
    /// Grants one request start in pool `name` (`limit` per `window`) if the pool's window has
    /// room now; otherwise returns how long until it will. An in-memory SQLite database shares
    /// nothing: every start is granted.
    pub async fn grant_rate_slot(
        &self,
        name: &str,
        limit: u32,
        window: Duration,
    ) -> Result<Result<(), Duration>> {
        let pool = match self {
            Store::Postgres { pool } => pool,
            Store::Sqlite { rates: None, .. } => return Ok(Ok(())),
            Store::Sqlite {
                rates: Some(path), ..
            } => {
                let (file, name) = (path.clone(), name.to_owned());
                return tokio::task::spawn_blocking(move || {
                    in_file(&file, SystemTime::now(), |f, now| {
                        f.grant(&name, limit, window, now)
                    })
                })
                .await
                .context("the shared rate limit failed")?
                .with_context(|| {
                    format!("cannot use the shared rate-limit file {}", path.display())
                });
            }
        };
        let window_ms = i64::try_from(window.as_millis()).unwrap_or(i64::MAX);
        // One round trip (migration 0012 has the function and why it exists).
        let wait_ms: i64 = sqlx::query_scalar("SELECT connector_host_grant_rate($1, $2, $3)")
            .bind(name)
            .bind(i32::try_from(limit).unwrap_or(i32::MAX))
            .bind(window_ms)
            .fetch_one(pool)
            .await
            .context("cannot reach the shared rate limit")?;
        Ok(match u64::try_from(wait_ms) {
            Ok(0) => Ok(()),
            Ok(ms) => Err(Duration::from_millis(ms)),
            Err(_) => Err(Duration::from_millis(1)),
        })
    }
}

impl Store {
    /// Closes pool `name` until `until` for every process on this database (never shortening a
    /// closure already in force); a no-op on an in-memory SQLite database.
    pub async fn close_rate_pool(&self, name: &str, until: DateTime<Utc>) -> Result<()> {
        match self {
            Store::Postgres { pool } => {
                sqlx::query(
                    "INSERT INTO rate_limit_closures (pool, closed_until) VALUES ($1, $2) \
                     ON CONFLICT (pool) DO UPDATE SET closed_until = \
                     GREATEST(rate_limit_closures.closed_until, excluded.closed_until)",
                )
                .bind(name)
                .bind(until)
                .execute(pool)
                .await
                .context("cannot close the shared rate limit")?;
                Ok(())
            }
            Store::Sqlite { rates: None, .. } => Ok(()),
            Store::Sqlite {
                rates: Some(path), ..
            } => {
                let (file, name) = (path.clone(), name.to_owned());
                let until = SystemTime::UNIX_EPOCH
                    + Duration::from_millis(until.timestamp_millis().max(0) as u64);
                tokio::task::spawn_blocking(move || {
                    in_file(&file, SystemTime::now(), |f, _| {
                        f.close(&name, epoch_ms(until));
                    })
                })
                .await
                .context("the shared rate limit failed")?
                .context("cannot close the shared rate limit")
            }
        }
    }
}

/// Milliseconds since the Unix epoch.
fn epoch_ms(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The shared windows in the rate-limit file: per pool, the start times (ms since the epoch)
/// granted within its last window, and the instants pools are closed until.
#[derive(Default, serde::Serialize, serde::Deserialize)]
struct Windows {
    #[serde(default)]
    starts: BTreeMap<String, Vec<u64>>,
    #[serde(default)]
    closed: BTreeMap<String, u64>,
}

impl Windows {
    /// Grants one start in pool `pool` at `now` (ms), or says how long until one is free.
    fn grant(
        &mut self,
        pool: &str,
        limit: u32,
        window: Duration,
        now: u64,
    ) -> Result<(), Duration> {
        if let Some(&until) = self.closed.get(pool).filter(|&&until| until > now) {
            return Err(Duration::from_millis(until - now));
        }
        let window = window.as_millis() as u64;
        let starts = self.starts.entry(pool.to_owned()).or_default();
        starts.retain(|&t| t + window > now);
        let limit = limit.max(1) as usize;
        if starts.len() < limit {
            starts.push(now);
            Ok(())
        } else {
            // Room comes when the start `limit` places back leaves the window.
            let free_at = starts[starts.len() - limit] + window;
            Err(Duration::from_millis(free_at.saturating_sub(now).max(1)))
        }
    }

    /// Closes `pool` until `until` (ms), never shortening a closure in force.
    fn close(&mut self, pool: &str, until: u64) {
        let closed = self.closed.entry(pool.to_owned()).or_default();
        *closed = (*closed).max(until);
    }
}

/// Runs `f` on the windows in the file at `path`, under an exclusive lock, and writes them back.
fn in_file<T>(
    path: &Path,
    now: SystemTime,
    f: impl FnOnce(&mut Windows, u64) -> T,
) -> std::io::Result<T> {
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)?;
    file.lock()?;
    let mut text = String::new();
    file.read_to_string(&mut text)?;
    // A torn write (a process killed mid-write) loses the windows, not the service.
    let mut windows: Windows = serde_json::from_str(&text).unwrap_or_default();
    let now = epoch_ms(now);
    let out = f(&mut windows, now);
    windows.starts.retain(|_, starts| !starts.is_empty());
    windows.closed.retain(|_, until| *until > now);
    let text = serde_json::to_vec(&windows).map_err(std::io::Error::other)?;
    file.set_len(0)?;
    file.rewind()?;
    file.write_all(&text)?;
    file.unlock()?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_window_admits_the_quota_then_says_how_long_to_wait() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.rate-limits");
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let w = Duration::from_secs(1);
        let grant = |pool: &str, limit: u32, ms: u64| {
            in_file(&path, at(ms), |f, now| f.grant(pool, limit, w, now)).unwrap()
        };
        for i in 0..3 {
            assert_eq!(grant("p", 3, i * 10), Ok(()));
        }
        // The fourth must wait until the first start leaves the window.
        assert_eq!(grant("p", 3, 100), Err(Duration::from_millis(900)));
        // Another pool is counted apart.
        assert_eq!(grant("q", 1, 100), Ok(()));
        assert_eq!(grant("p", 3, 1000), Ok(()));
        // A closed pool refuses until its closure ends, whatever its window says.
        let until = epoch_ms(at(5000));
        in_file(&path, at(1000), |f, _| f.close("q", until)).unwrap();
        assert_eq!(grant("q", 1, 2000), Err(Duration::from_millis(3000)));
        assert_eq!(grant("q", 1, 5001), Ok(()));
        // A file that is not ours starts over rather than failing.
        std::fs::write(&path, "garbage").unwrap();
        assert_eq!(grant("p", 3, 6000), Ok(()));
    }
}
