//! The durable job queue's bookkeeping: leasing due jobs (`FOR UPDATE SKIP LOCKED` on
//! PostgreSQL; on SQLite one `UPDATE … RETURNING`, atomic under its single writer), retry with
//! back-off, dead-lettering, lease recovery, and the operator's list/retry/purge. Every function
//! takes `now`, so tests drive the clock. Enqueueing happens inside a run's transaction
//! (`capabilities::db`), completion inside the job's.

use super::{QueueStatus, Store};
use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use sqlx::Row;
use std::time::Duration;

/// A job a worker holds a lease on.
#[derive(Debug, Clone)]
pub struct LeasedJob {
    /// The job's id.
    pub id: i64,
    /// The connector whose `handle-job` gets it.
    pub connector: String,
    /// What kind of job.
    pub kind: String,
    /// Its JSON payload.
    pub payload: String,
    /// Deliveries so far, this one included.
    pub attempts: u32,
    /// Deliveries before it is failed.
    pub max_attempts: u32,
    /// When it became due.
    pub run_after: DateTime<Utc>,
    /// When this worker's lease on it runs out.
    pub lease_until: DateTime<Utc>,
}

/// One row of `queue list`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct JobRecord {
    pub id: i64,
    pub connector: String,
    pub kind: String,
    pub status: QueueStatus,
    pub attempts: i64,
    pub max_attempts: i64,
    pub run_after: DateTime<Utc>,
    pub dedup_key: Option<String>,
    pub last_error: Option<String>,
}

/// Filters for listing and purging.
#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    /// Only this status.
    pub status: Option<QueueStatus>,
    /// Only this connector.
    pub connector: Option<String>,
    /// Only this kind of job.
    pub kind: Option<String>,
}

fn placeholders(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Store {
    /// Returns jobs whose lease expired (their worker died) to `pending`, or fails them when
    /// they have no attempts left. Returns how many were recovered.
    pub async fn recover_expired_leases(&self, now: DateTime<Utc>) -> Result<u64> {
        let fail = "UPDATE queue_jobs SET status = 'failed', finished_at = $1, updated_at = $1, \
            lease_until = NULL, last_error = 'the worker holding the job stopped (lease expired)' \
            WHERE status = 'processing' AND lease_until < $1 AND attempts >= max_attempts";
        let retry =
            "UPDATE queue_jobs SET status = 'pending', lease_until = NULL, leased_by = NULL, \
            updated_at = $1, last_error = 'the worker holding the job stopped (lease expired)' \
            WHERE status = 'processing' AND lease_until < $1";
        let n = on_writer!(self, pool => {
            sqlx::query(fail).bind(now).execute(pool).await?;
            sqlx::query(retry).bind(now).execute(pool).await.map(|r| r.rows_affected())
        })
        .context("cannot recover expired queue leases")?;
        Ok(n)
    }

    /// Leases up to `limit` due jobs of `connectors` for `lease`, oldest due first; empty when
    /// nothing is due. One statement whatever `limit` is, so a worker that leases a batch pays
    /// the round trips once.
    pub async fn lease_jobs(
        &self,
        connectors: &[String],
        worker: &str,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<LeasedJob>> {
        if connectors.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let until = now + chrono::Duration::from_std(lease).unwrap_or_default();
        let lock = match self {
            Store::Sqlite { .. } => "",
            Store::Postgres { .. } => " FOR UPDATE SKIP LOCKED",
        };
        let sql = format!(
            // Picked once, in a materialised CTE: PostgreSQL may run an `IN (subquery)` more
            // than once per statement, and each run skips what the previous locked, leasing
            // more than the limit.
            "WITH picked AS MATERIALIZED (SELECT id FROM queue_jobs WHERE status = 'pending' \
                AND run_after <= $3 AND connector IN ({}) ORDER BY run_after, id LIMIT $4{lock}) \
             UPDATE queue_jobs SET status = 'processing', attempts = attempts + 1, \
             lease_until = $1, leased_by = $2, updated_at = $3 \
             WHERE id IN (SELECT id FROM picked) AND status = 'pending' \
             RETURNING id, connector, kind, payload, attempts, max_attempts, run_after",
            placeholders(5, connectors.len())
        );
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = match self {
            // One statement on the writer connection.
            Store::Sqlite { writer, .. } => {
                let mut q = sqlx::query(&sql)
                    .bind(until)
                    .bind(worker)
                    .bind(now)
                    .bind(limit);
                for c in connectors {
                    q = q.bind(c);
                }
                let rows = q
                    .fetch_all(writer)
                    .await
                    .context("cannot lease queue jobs")?;
                rows.into_iter()
                    .map(|r| to_job(r, until))
                    .collect::<Result<Vec<_>>>()?
            }
            Store::Postgres { pool } => {
                // A lease lost in a crash leaves the jobs pending, to be leased again: no need
                // to wait for the WAL flush (it was most of the cost of a delivery).
                let mut tx = pool
                    .begin_with("BEGIN; SET LOCAL synchronous_commit = off")
                    .await
                    .context("cannot lease queue jobs")?;
                let mut q = sqlx::query(&sql)
                    .bind(until)
                    .bind(worker)
                    .bind(now)
                    .bind(limit);
                for c in connectors {
                    q = q.bind(c);
                }
                let rows = q
                    .fetch_all(&mut *tx)
                    .await
                    .context("cannot lease queue jobs")?;
                tx.commit().await.context("cannot lease queue jobs")?;
                rows.into_iter()
                    .map(|r| to_job(r, until))
                    .collect::<Result<Vec<_>>>()?
            }
        };
        let mut jobs = rows;
        // RETURNING keeps no order: deliver the oldest due first.
        jobs.sort_by_key(|j| (j.run_after, j.id));
        Ok(jobs)
    }

    /// Marks jobs that `worker` delivered and that wrote nothing completed, in one statement;
    /// returns the ids it still held (a job whose lease was taken over is not completed).
    pub async fn complete_jobs(
        &self,
        ids: &[i64],
        worker: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<i64>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "UPDATE queue_jobs SET status = 'completed', finished_at = $2, updated_at = $2, \
             lease_until = NULL, last_error = NULL, rows_written = 0 \
             WHERE status = 'processing' AND leased_by = $1 AND id IN ({}) RETURNING id",
            placeholders(3, ids.len())
        );
        let done: Vec<i64> = match self {
            Store::Sqlite { writer, .. } => {
                let mut q = sqlx::query_scalar(&sql).bind(worker).bind(now);
                for id in ids {
                    q = q.bind(id);
                }
                q.fetch_all(writer).await
            }
            Store::Postgres { pool } => {
                // As with a job's own commit: a completion lost in a crash runs the job again.
                let mut tx = pool
                    .begin_with("BEGIN; SET LOCAL synchronous_commit = off")
                    .await
                    .context("cannot complete queue jobs")?;
                let mut q = sqlx::query_scalar(&sql).bind(worker).bind(now);
                for id in ids {
                    q = q.bind(id);
                }
                let done = q.fetch_all(&mut *tx).await;
                if done.is_ok() {
                    tx.commit().await.context("cannot complete queue jobs")?;
                }
                done
            }
        }
        .context("cannot complete queue jobs")?;
        Ok(done)
    }

    /// Hands jobs that `worker` leased but did not start back to the queue at once, without
    /// counting the attempt; returns how many.
    pub async fn release_leased(
        &self,
        ids: &[i64],
        worker: &str,
        now: DateTime<Utc>,
    ) -> Result<u64> {
        if ids.is_empty() {
            return Ok(0);
        }
        let sql = format!(
            "UPDATE queue_jobs SET status = 'pending', lease_until = NULL, leased_by = NULL, \
             attempts = attempts - 1, updated_at = $2 \
             WHERE status = 'processing' AND leased_by = $1 AND id IN ({})",
            placeholders(3, ids.len())
        );
        on_writer!(self, pool => {
            let mut q = sqlx::query(&sql).bind(worker).bind(now);
            for id in ids {
                q = q.bind(id);
            }
            q.execute(pool).await.map(|r| r.rows_affected())
        })
        .context("cannot return leased queue jobs")
    }

    /// Records a failed attempt: back to `pending` at `retry_at`, or `failed` (dead letter) when
    /// `retry_at` is `None`. Only while `worker` still holds the lease.
    pub async fn fail_attempt(
        &self,
        id: i64,
        worker: &str,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let sql = match retry_at {
            Some(_) => {
                "UPDATE queue_jobs SET status = 'pending', run_after = $4, lease_until = NULL, \
                leased_by = NULL, last_error = $3, updated_at = $5 \
                WHERE id = $1 AND leased_by = $2 AND status = 'processing'"
            }
            None => {
                "UPDATE queue_jobs SET status = 'failed', finished_at = $5, lease_until = NULL, \
                last_error = $3, updated_at = $5 \
                WHERE id = $1 AND leased_by = $2 AND status = 'processing' AND $4 IS NULL"
            }
        };
        on_writer!(self, pool => sqlx::query(sql)
            .bind(id)
            .bind(worker)
            .bind(error)
            .bind(retry_at)
            .bind(now)
            .execute(pool)
            .await
            .map(drop))
        .context("cannot record the job's failed attempt")
    }

    /// Jobs, newest first.
    pub async fn list_jobs(&self, filter: &JobFilter, limit: u32) -> Result<Vec<JobRecord>> {
        let sql =
            "SELECT id, connector, kind, status, attempts, max_attempts, run_after, dedup_key, \
            last_error FROM queue_jobs WHERE ($1 IS NULL OR status = $1) \
            AND ($2 IS NULL OR connector = $2) AND ($4 IS NULL OR kind = $4) \
            ORDER BY id DESC LIMIT $3";
        on_pool!(self, pool => {
            let rows = sqlx::query(sql)
                .bind(filter.status.map(QueueStatus::as_str))
                .bind(filter.connector.as_deref())
                .bind(i64::from(limit))
                .bind(filter.kind.as_deref())
                .fetch_all(pool)
                .await
                .context("cannot read the queue")?;
            rows.iter().map(|r| -> Result<JobRecord> {
                Ok(JobRecord {
                    id: r.try_get(0)?,
                    connector: r.try_get(1)?,
                    kind: r.try_get(2)?,
                    status: r.try_get::<String, _>(3)?.parse()?,
                    attempts: r.try_get(4)?,
                    max_attempts: r.try_get(5)?,
                    run_after: r.try_get(6)?,
                    dedup_key: r.try_get(7)?,
                    last_error: r.try_get(8)?,
                })
            }).collect()
        })
    }

    /// Returns the jobs held by workers whose id starts with `holder` (a host stopping before
    /// they finished) to `pending` at once, without counting the interrupted attempt; returns
    /// how many.
    pub async fn release_jobs(&self, holder: &str, now: DateTime<Utc>) -> Result<u64> {
        let sql =
            "UPDATE queue_jobs SET status = 'pending', lease_until = NULL, leased_by = NULL, \
            attempts = attempts - 1, updated_at = $2, \
            last_error = 'the host stopped during this attempt; it does not count' \
            WHERE status = 'processing' AND substr(leased_by, 1, length($1)) = $1";
        on_writer!(self, pool => sqlx::query(sql)
            .bind(holder)
            .bind(now)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))
        .context("cannot return this host's queue jobs")
    }

    /// Gives failed jobs (one, or all matching) a fresh set of attempts, due now.
    pub async fn retry_failed_jobs(
        &self,
        id: Option<i64>,
        filter: &JobFilter,
        now: DateTime<Utc>,
    ) -> Result<u64> {
        let sql = "UPDATE queue_jobs SET status = 'pending', attempts = 0, run_after = $1, \
            finished_at = NULL, leased_by = NULL, updated_at = $1 \
            WHERE status = 'failed' AND ($2 IS NULL OR id = $2) AND ($3 IS NULL OR connector = $3)";
        on_writer!(self, pool => sqlx::query(sql)
            .bind(now)
            .bind(id)
            .bind(filter.connector.as_deref())
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))
        .context("cannot retry failed jobs")
    }

    /// Deletes the jobs `filter` matches (without a status: the finished ones, completed or
    /// failed) last touched before `before`. A job deleted while a worker holds it is not
    /// completed: the worker finds it gone and rolls its writes back.
    pub async fn purge_jobs(
        &self,
        filter: &JobFilter,
        before: Option<DateTime<Utc>>,
    ) -> Result<u64> {
        let sql = "DELETE FROM queue_jobs WHERE \
            (($1 IS NULL AND status IN ('completed', 'failed')) OR status = $1) \
            AND ($2 IS NULL OR connector = $2) AND ($3 IS NULL OR kind = $3) \
            AND ($4 IS NULL OR COALESCE(finished_at, updated_at) < $4)";
        on_writer!(self, pool => sqlx::query(sql)
            .bind(filter.status.map(QueueStatus::as_str))
            .bind(filter.connector.as_deref())
            .bind(filter.kind.as_deref())
            .bind(before)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))
        .context("cannot purge the queue")
    }
}

/// Reads a leased job from a `RETURNING` row of either backend.
fn to_job<R>(r: R, lease_until: DateTime<Utc>) -> Result<LeasedJob>
where
    R: Row,
    usize: sqlx::ColumnIndex<R>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> DateTime<Utc>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    Ok(LeasedJob {
        id: r.try_get(0)?,
        connector: r.try_get(1)?,
        kind: r.try_get(2)?,
        payload: r.try_get(3)?,
        attempts: r.try_get::<i64, _>(4)? as u32,
        max_attempts: r.try_get::<i64, _>(5)? as u32,
        run_after: r.try_get(6)?,
        lease_until,
    })
}

/// The back-off before the attempt after `attempts` failed ones: `base · 2^attempts`, capped.
pub fn backoff(attempts: u32, base: Duration, cap: Duration) -> Duration {
    base.saturating_mul(1u32 << attempts.min(20)).min(cap)
}

#[cfg(test)]
mod tests {
    use super::backoff;
    use std::time::Duration;

    #[test]
    fn backoff_doubles_from_the_base_and_stops_at_the_cap() {
        let (base, cap) = (Duration::from_secs(60), Duration::from_secs(3600));
        assert_eq!(backoff(1, base, cap), Duration::from_secs(120));
        assert_eq!(backoff(3, base, cap), Duration::from_secs(480));
        assert_eq!(backoff(6, base, cap), cap);
        assert_eq!(backoff(99, base, cap), cap);
    }
}
