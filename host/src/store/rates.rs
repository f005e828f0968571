//! Rate-limit windows shared through PostgreSQL, so that N hosts together stay within a pool's
//! quota (DESIGN.md §7). Each pool keeps a log of granted starts in `rate_limit_grants`; a grant
//! is decided under a per-pool advisory lock and timed by the database's clock, so hosts with
//! skewed clocks still agree.

use super::Store;
use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use std::time::Duration;

impl Store {
    /// Grants one request start in pool `name` (`limit` per `window`) if the pool's window has
    /// room now; otherwise returns how long until it will. Only PostgreSQL shares windows; on
    /// SQLite every start is granted (one host's in-memory limiter is the whole story).
    pub async fn grant_rate_slot(
        &self,
        name: &str,
        limit: u32,
        window: Duration,
    ) -> Result<Result<(), Duration>> {
        let Store::Postgres { pool } = self else {
            return Ok(Ok(()));
        };
        let window_ms = i64::try_from(window.as_millis()).unwrap_or(i64::MAX);
        let mut tx = pool
            .begin()
            .await
            .context("cannot reach the shared rate limit")?;
        sqlx::query(
            "SELECT pg_advisory_xact_lock(hashtext('connector-host rate limit'), hashtext($1))",
        )
        .bind(name)
        .execute(&mut *tx)
        .await
        .context("cannot lock the shared rate limit")?;
        sqlx::query(
            "DELETE FROM rate_limit_grants WHERE pool = $1 \
             AND granted_at <= clock_timestamp() - $2 * interval '1 millisecond'",
        )
        .bind(name)
        .bind(window_ms)
        .execute(&mut *tx)
        .await
        .context("cannot read the shared rate limit")?;
        // The start that would overflow the window if this one were granted: the `limit`-th
        // newest. Room when there are fewer than `limit` starts in the window.
        let (count, oldest, now): (i64, Option<DateTime<Utc>>, DateTime<Utc>) = sqlx::query_as(
            "SELECT COUNT(*), \
               (SELECT granted_at FROM rate_limit_grants WHERE pool = $1 \
                ORDER BY granted_at DESC OFFSET $2 - 1 LIMIT 1), clock_timestamp() \
             FROM rate_limit_grants WHERE pool = $1",
        )
        .bind(name)
        .bind(i64::from(limit))
        .fetch_one(&mut *tx)
        .await
        .context("cannot read the shared rate limit")?;
        if count < i64::from(limit) {
            sqlx::query(
                "INSERT INTO rate_limit_grants (pool, granted_at) VALUES ($1, clock_timestamp())",
            )
            .bind(name)
            .execute(&mut *tx)
            .await
            .context("cannot record a rate-limit grant")?;
            tx.commit()
                .await
                .context("cannot record a rate-limit grant")?;
            return Ok(Ok(()));
        }
        tx.commit()
            .await
            .context("cannot read the shared rate limit")?;
        let free_at = oldest.unwrap_or(now) + chrono::Duration::milliseconds(window_ms);
        let wait = (free_at - now).to_std().unwrap_or_default();
        Ok(Err(wait.max(Duration::from_millis(1))))
    }
}
