//! Aggregates over the run log and the queue for `/status` and `/metrics`. They read the shared
//! database, so every host reports the same totals for all hosts.

use super::Store;
use anyhow::{Context, Result};
use sqlx::Row;

/// Upper bounds (seconds) of the run-duration histogram's buckets.
pub const DURATION_BUCKETS: &[f64] = &[0.1, 0.5, 1.0, 5.0, 30.0, 60.0, 300.0, 900.0, 3600.0];

/// Totals of the finished and running runs of one connector with one status.
#[derive(Debug, Clone, Default)]
pub struct RunTotals {
    /// The connector.
    pub connector: String,
    /// The status.
    pub status: String,
    /// Runs.
    pub runs: i64,
    /// HTTP requests they made.
    pub http_calls: i64,
    /// Milliseconds they waited for rate limits.
    pub rate_limit_wait_ms: i64,
    /// Retried HTTP requests.
    pub retries: i64,
    /// Rows they wrote.
    pub rows_written: i64,
}

/// The duration histogram of one connector's finished runs.
#[derive(Debug, Clone, Default)]
pub struct DurationHistogram {
    /// The connector.
    pub connector: String,
    /// Cumulative counts per [`DURATION_BUCKETS`] bound.
    pub buckets: Vec<i64>,
    /// All finished runs with a duration.
    pub count: i64,
    /// Their total duration in milliseconds.
    pub sum_ms: i64,
}

impl Store {
    /// Run totals by connector and status. Rows a dry run would have written are not counted.
    pub async fn run_totals(&self) -> Result<Vec<RunTotals>> {
        // PostgreSQL sums BIGINT columns as NUMERIC: every sum is cast back.
        let sql = "SELECT connector, status, COUNT(*), \
            CAST(COALESCE(SUM(http_calls), 0) AS BIGINT), \
            CAST(COALESCE(SUM(rate_limit_wait_ms), 0) AS BIGINT), \
            CAST(COALESCE(SUM(retries), 0) AS BIGINT), \
            CAST(COALESCE(SUM(CASE WHEN dry_run THEN 0 ELSE rows_written END), 0) AS BIGINT) \
            FROM runs GROUP BY connector, status ORDER BY connector, status";
        on_pool!(self, pool => {
            let rows = sqlx::query(sql).fetch_all(pool).await.context("cannot read the runs table")?;
            rows.iter()
                .map(|r| {
                    Ok(RunTotals {
                        connector: r.try_get(0)?,
                        status: r.try_get(1)?,
                        runs: r.try_get(2)?,
                        http_calls: r.try_get(3)?,
                        rate_limit_wait_ms: r.try_get(4)?,
                        retries: r.try_get(5)?,
                        rows_written: r.try_get(6)?,
                    })
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .context("cannot read the runs table")
        })
    }

    /// Run durations per connector, bucketed.
    pub async fn duration_histograms(&self) -> Result<Vec<DurationHistogram>> {
        let buckets: Vec<String> = DURATION_BUCKETS
            .iter()
            .map(|b| {
                format!(
                    "CAST(SUM(CASE WHEN duration_ms <= {} THEN 1 ELSE 0 END) AS BIGINT)",
                    (b * 1000.0) as i64
                )
            })
            .collect();
        let sql = format!(
            "SELECT connector, COUNT(duration_ms), CAST(COALESCE(SUM(duration_ms), 0) AS BIGINT), \
             {} FROM runs \
             WHERE duration_ms IS NOT NULL GROUP BY connector ORDER BY connector",
            buckets.join(", ")
        );
        let n = DURATION_BUCKETS.len();
        on_pool!(self, pool => {
            let rows = sqlx::query(&sql).fetch_all(pool).await.context("cannot read the runs table")?;
            rows.iter()
                .map(|r| {
                    Ok(DurationHistogram {
                        connector: r.try_get(0)?,
                        count: r.try_get(1)?,
                        sum_ms: r.try_get(2)?,
                        buckets: (0..n)
                            .map(|i| r.try_get::<Option<i64>, _>(3 + i).map(Option::unwrap_or_default))
                            .collect::<Result<_, _>>()?,
                    })
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .context("cannot read the runs table")
        })
    }

    /// Rows written by completed queue jobs, by connector (purged jobs no longer count).
    pub async fn job_rows_written(&self) -> Result<Vec<(String, i64)>> {
        let sql = "SELECT connector, CAST(COALESCE(SUM(rows_written), 0) AS BIGINT) \
            FROM queue_jobs WHERE status = 'completed' GROUP BY connector ORDER BY connector";
        on_pool!(self, pool => {
            let rows = sqlx::query(sql).fetch_all(pool).await.context("cannot read the queue")?;
            rows.iter()
                .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .context("cannot read the queue")
        })
    }

    /// Queue jobs by connector and status.
    pub async fn queue_depth(&self) -> Result<Vec<(String, String, i64)>> {
        let sql = "SELECT connector, status, COUNT(*) FROM queue_jobs \
            GROUP BY connector, status ORDER BY connector, status";
        on_pool!(self, pool => {
            let rows = sqlx::query(sql).fetch_all(pool).await.context("cannot read the queue")?;
            rows.iter()
                .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .context("cannot read the queue")
        })
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<()> {
        on_pool!(self, pool => sqlx::query("SELECT 1").execute(pool).await.map(drop))
            .context("the database does not answer")
    }
}
