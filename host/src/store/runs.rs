//! The run log: one row per run, written before the plugin starts and finished after it ends,
//! so a run that kills the host still leaves a `running` row behind.

use super::Store;
use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use sqlx::Row;

/// Runs the same sqlx expression on whichever pool the store has; both arms type-check apart.
macro_rules! on_host_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match $store {
            Store::Sqlite { host: $pool, .. } => $body,
            Store::Postgres { pool: $pool } => $body,
        }
    };
}

/// How a run ended (or that it has not yet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    /// Started, not finished.
    Running,
    /// The plugin returned a summary; its writes are committed.
    Succeeded,
    /// The plugin returned an error; writes since its last checkpoint are rolled back.
    Failed,
    /// The plugin trapped (panic, unreachable, host refusal to continue).
    Trapped,
    /// The run passed its deadline.
    Timeout,
    /// The plugin tried to grow its memory past the cap.
    OutOfMemory,
    /// The host stopped before the run finished.
    Interrupted,
}

impl RunStatus {
    /// The name stored in the run log.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Trapped => "trapped",
            RunStatus::Timeout => "timeout",
            RunStatus::OutOfMemory => "out-of-memory",
            RunStatus::Interrupted => "interrupted",
        }
    }

    /// Whether the run counts as a success (exit code 0).
    pub fn is_success(self) -> bool {
        self == RunStatus::Succeeded
    }
}

/// What is known when a run starts.
#[derive(Debug, Clone)]
pub struct NewRun<'a> {
    pub connector: &'a str,
    pub job: &'a str,
    pub trigger: &'a str,
    pub scheduled_for: Option<DateTime<Utc>>,
    pub attempt: u32,
    pub dry_run: bool,
    pub started_at: DateTime<Utc>,
}

/// What is known when a run ends.
#[derive(Debug, Clone)]
pub struct RunFinish {
    pub status: RunStatus,
    pub finished_at: DateTime<Utc>,
    pub rows_written: u64,
    pub http_calls: u64,
    pub rate_limit_wait_ms: u64,
    pub retries: u64,
    pub error_kind: Option<String>,
    pub error_message: Option<String>,
    pub summary: Option<String>,
    /// The plugin's own counters, as a JSON object.
    pub counters: serde_json::Value,
}

/// One row of the run log.
#[derive(Debug, Clone)]
pub struct RunRecord {
    pub id: i64,
    pub connector: String,
    pub job: String,
    pub trigger: String,
    pub scheduled_for: Option<DateTime<Utc>>,
    pub attempt: i64,
    pub dry_run: bool,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub status: String,
    pub rows_written: i64,
    pub http_calls: i64,
    pub rate_limit_wait_ms: i64,
    pub retries: i64,
    pub error_kind: Option<String>,
    pub error_message: Option<String>,
    pub summary: Option<String>,
    pub counters: serde_json::Value,
}

const SELECT_RUNS: &str = "SELECT id, connector, job, trigger_kind, scheduled_for, attempt, \
    dry_run, started_at, finished_at, status, rows_written, http_calls, rate_limit_wait_ms, \
    retries, error_kind, error_message, summary, counters";

impl Store {
    /// Records a run as `running` and returns its id.
    pub async fn insert_run(&self, run: &NewRun<'_>) -> Result<i64> {
        let sql =
            "INSERT INTO runs (connector, job, trigger_kind, scheduled_for, attempt, dry_run, \
                   started_at, status) VALUES ($1, $2, $3, $4, $5, $6, $7, 'running') RETURNING id";
        let id: i64 = on_host_pool!(self, pool => sqlx::query_scalar(sql)
            .bind(run.connector)
            .bind(run.job)
            .bind(run.trigger)
            .bind(run.scheduled_for)
            .bind(i64::from(run.attempt))
            .bind(run.dry_run)
            .bind(run.started_at)
            .fetch_one(pool)
            .await)
        .context("cannot record the run's start in the runs table")?;
        Ok(id)
    }

    /// Records how run `id` ended.
    pub async fn finish_run(&self, id: i64, f: &RunFinish) -> Result<()> {
        let counters = f.counters.to_string();
        let sql_sqlite = "UPDATE runs SET status = $2, finished_at = $3, rows_written = $4, \
            http_calls = $5, rate_limit_wait_ms = $6, retries = $7, error_kind = $8, \
            error_message = $9, summary = $10, counters = $11 WHERE id = $1";
        let sql_pg = "UPDATE runs SET status = $2, finished_at = $3, rows_written = $4, \
            http_calls = $5, rate_limit_wait_ms = $6, retries = $7, error_kind = $8, \
            error_message = $9, summary = $10, counters = $11::jsonb WHERE id = $1";
        let sql = match self {
            Store::Sqlite { .. } => sql_sqlite,
            Store::Postgres { .. } => sql_pg,
        };
        on_host_pool!(self, pool => sqlx::query(sql)
            .bind(id)
            .bind(f.status.as_str())
            .bind(f.finished_at)
            .bind(saturating_i64(f.rows_written))
            .bind(saturating_i64(f.http_calls))
            .bind(saturating_i64(f.rate_limit_wait_ms))
            .bind(saturating_i64(f.retries))
            .bind(f.error_kind.as_deref())
            .bind(f.error_message.as_deref())
            .bind(f.summary.as_deref())
            .bind(&counters)
            .execute(pool)
            .await
            .map(drop))
        .context("cannot record the run's end in the runs table")?;
        Ok(())
    }

    /// The most recent runs, newest first, optionally of one connector.
    pub async fn recent_runs(&self, limit: u32, connector: Option<&str>) -> Result<Vec<RunRecord>> {
        let counters_expr = match self {
            Store::Sqlite { .. } => "",
            Store::Postgres { .. } => "::text",
        };
        let sql = format!(
            "{SELECT_RUNS}{counters_expr} FROM runs WHERE ($1 IS NULL OR connector = $1) \
             ORDER BY id DESC LIMIT $2"
        );
        let records = on_host_pool!(self, pool => {
            let rows = sqlx::query(&sql)
                .bind(connector)
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await
                .context("cannot read the runs table")?;
            rows.iter().map(|r| -> Result<RunRecord> {
                let counters: String = r.try_get(17)?;
                Ok(RunRecord {
                    id: r.try_get(0)?,
                    connector: r.try_get(1)?,
                    job: r.try_get(2)?,
                    trigger: r.try_get(3)?,
                    scheduled_for: r.try_get(4)?,
                    attempt: r.try_get::<i64, _>(5)?,
                    dry_run: r.try_get(6)?,
                    started_at: r.try_get(7)?,
                    finished_at: r.try_get(8)?,
                    status: r.try_get(9)?,
                    rows_written: r.try_get(10)?,
                    http_calls: r.try_get(11)?,
                    rate_limit_wait_ms: r.try_get(12)?,
                    retries: r.try_get(13)?,
                    error_kind: r.try_get(14)?,
                    error_message: r.try_get(15)?,
                    summary: r.try_get(16)?,
                    counters: serde_json::from_str(&counters).unwrap_or_default(),
                })
            }).collect::<Result<Vec<_>>>()?
        });
        Ok(records)
    }
}

fn saturating_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}
