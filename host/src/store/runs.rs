//! The run log: one row per run, written before the plugin starts and finished after it ends,
//! so a run that kills the host still leaves a `running` row behind.

use super::{RunStatus, Store, TriggerKind};
use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use sqlx::Row;

/// What is known when a run starts.
#[derive(Debug, Clone)]
pub struct NewRun<'a> {
    pub connector: &'a str,
    pub job: &'a str,
    pub trigger: TriggerKind,
    pub scheduled_for: Option<DateTime<Utc>>,
    pub attempt: u32,
    pub dry_run: bool,
    pub started_at: DateTime<Utc>,
    /// The schedule whose fire this run stands for, if any.
    pub schedule: Option<&'a str>,
    /// The host that runs it, and until when it holds the run without renewing.
    pub host: &'a str,
    pub lease_until: DateTime<Utc>,
    /// The JSON a manual run carries, if any.
    pub input: Option<&'a str>,
}

/// What is known when a run ends.
#[derive(Debug, Clone)]
pub struct RunFinish {
    pub status: RunStatus,
    pub finished_at: DateTime<Utc>,
    pub duration_ms: u64,
    pub rows_written: u64,
    pub http_calls: u64,
    pub rate_limit_wait_ms: u64,
    pub retries: u64,
    /// Log events dropped past the per-call cap.
    pub log_events_dropped: u64,
    /// Authenticated requests that got through, and that were refused.
    pub auth_ok: u64,
    pub auth_failed: u64,
    pub error_kind: Option<String>,
    pub error_message: Option<String>,
    pub summary: Option<String>,
    /// The plugin's own counters, as a JSON object.
    pub counters: serde_json::Value,
}

/// One row of the run log.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RunRecord {
    pub id: i64,
    pub connector: String,
    pub job: String,
    pub trigger: TriggerKind,
    pub scheduled_for: Option<DateTime<Utc>>,
    pub attempt: i64,
    pub dry_run: bool,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub status: RunStatus,
    pub rows_written: i64,
    pub http_calls: i64,
    pub rate_limit_wait_ms: i64,
    pub retries: i64,
    pub error_kind: Option<String>,
    pub error_message: Option<String>,
    pub summary: Option<String>,
    pub counters: serde_json::Value,
    pub schedule: Option<String>,
    pub host: Option<String>,
    pub duration_ms: Option<i64>,
    pub log_events_dropped: i64,
    /// Earlier log events let go to keep the last ones (see `run_events`).
    pub log_events_omitted: i64,
    /// The JSON a manual run carried.
    pub input: Option<String>,
    /// Authenticated requests refused, and those that got through.
    pub auth_failed: i64,
    pub auth_ok: i64,
}

/// Reads one row of `SELECT_RUNS` (either backend's row type) into a [`RunRecord`].
macro_rules! read_run {
    ($r:expr) => {{
        let r = &$r;
        (|| -> Result<RunRecord> {
            let counters: String = r.try_get(20)?;
            Ok(RunRecord {
                id: r.try_get(0)?,
                connector: r.try_get(1)?,
                job: r.try_get(2)?,
                trigger: r.try_get::<String, _>(3)?.parse()?,
                scheduled_for: r.try_get(4)?,
                attempt: r.try_get::<i64, _>(5)?,
                dry_run: r.try_get(6)?,
                started_at: r.try_get(7)?,
                finished_at: r.try_get(8)?,
                status: r.try_get::<String, _>(9)?.parse()?,
                rows_written: r.try_get(10)?,
                http_calls: r.try_get(11)?,
                rate_limit_wait_ms: r.try_get(12)?,
                retries: r.try_get(13)?,
                error_kind: r.try_get(14)?,
                error_message: r.try_get(15)?,
                summary: r.try_get(16)?,
                schedule: r.try_get(17)?,
                host: r.try_get(18)?,
                duration_ms: r.try_get(19)?,
                log_events_dropped: r.try_get(21)?,
                log_events_omitted: r.try_get(22)?,
                input: r.try_get(23)?,
                auth_failed: r.try_get(24)?,
                auth_ok: r.try_get(25)?,
                counters: serde_json::from_str(&counters).unwrap_or_default(),
            })
        })()
    }};
}

const SELECT_RUNS: &str = "SELECT id, connector, job, trigger_kind, scheduled_for, attempt, \
    dry_run, started_at, finished_at, status, rows_written, http_calls, rate_limit_wait_ms, \
    retries, error_kind, error_message, summary, schedule, host, duration_ms, counters";

/// What follows the counters column in every read of the run log.
const SELECT_RUNS_TAIL: &str =
    ", log_events_dropped, log_events_omitted, input, auth_failed, auth_ok";

impl Store {
    /// Records a run as `running` and returns its id.
    pub async fn insert_run(&self, run: &NewRun<'_>) -> Result<i64> {
        let sql =
            "INSERT INTO runs (connector, job, trigger_kind, scheduled_for, attempt, dry_run, \
                   started_at, status, schedule, host, lease_until, input) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7, 'running', $8, $9, $10, $11) RETURNING id";
        let id: i64 = on_writer!(self, pool => sqlx::query_scalar(sql)
            .bind(run.connector)
            .bind(run.job)
            .bind(run.trigger.as_str())
            .bind(run.scheduled_for)
            .bind(i64::from(run.attempt))
            .bind(run.dry_run)
            .bind(run.started_at)
            .bind(run.schedule)
            .bind(run.host)
            .bind(run.lease_until)
            .bind(run.input)
            .fetch_one(pool)
            .await)
        .context("cannot record the run's start in the runs table")?;
        Ok(id)
    }

    /// Records the runs of many scheduled fires as `running`, one statement per 500; returns
    /// their ids in the order given. Each run must serve a distinct fire (`schedule` and
    /// `scheduled_for` set): that is how ids are matched to inputs.
    pub async fn insert_fire_runs(&self, runs: &[NewRun<'_>]) -> Result<Vec<i64>> {
        type Key = (String, Option<String>, Option<DateTime<Utc>>);
        let mut ids = Vec::with_capacity(runs.len());
        for chunk in runs.chunks(500) {
            let rows: Vec<String> = (0..chunk.len())
                .map(|r| {
                    let p: Vec<String> = (1..=10).map(|i| format!("${}", r * 10 + i)).collect();
                    format!(
                        "({}, {}, {}, {}, {}, {}, {}, 'running', {}, {}, {})",
                        p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8], p[9]
                    )
                })
                .collect();
            let sql = format!(
                "INSERT INTO runs (connector, job, trigger_kind, scheduled_for, attempt, dry_run, \
                 started_at, status, schedule, host, lease_until) VALUES {} \
                 RETURNING id, connector, schedule, scheduled_for",
                rows.join(", ")
            );
            let got: Vec<(i64, Key)> =
                on_writer!(self, pool => {
                    let mut q = sqlx::query_as::<_, (i64, String, Option<String>, Option<DateTime<Utc>>)>(&sql);
                    for run in chunk {
                        q = q
                            .bind(run.connector)
                            .bind(run.job)
                            .bind(run.trigger.as_str())
                            .bind(run.scheduled_for)
                            .bind(i64::from(run.attempt))
                            .bind(run.dry_run)
                            .bind(run.started_at)
                            .bind(run.schedule)
                            .bind(run.host)
                            .bind(run.lease_until);
                    }
                    q.fetch_all(pool)
                        .await
                        .map(|rows| rows.into_iter().map(|(id, c, s, t)| (id, (c, s, t))).collect())
                })
                .context("cannot record the runs' start in the runs table")?;
            let by_key: std::collections::HashMap<Key, i64> =
                got.into_iter().map(|(id, key)| (key, id)).collect();
            for run in chunk {
                let key = (
                    run.connector.to_owned(),
                    run.schedule.map(str::to_owned),
                    run.scheduled_for,
                );
                let id = by_key
                    .get(&key)
                    .copied()
                    .context("the runs table did not return a new run's id")?;
                ids.push(id);
            }
        }
        Ok(ids)
    }

    /// Records how run `id` ended. A run another host already marked `abandoned` (or this one
    /// `interrupted`) keeps that status; returns whether the record was still `running`.
    pub async fn finish_run(&self, id: i64, f: &RunFinish) -> Result<bool> {
        let counters = f.counters.to_string();
        let sql_sqlite = "UPDATE runs SET status = $2, finished_at = $3, rows_written = $4, \
            http_calls = $5, rate_limit_wait_ms = $6, retries = $7, error_kind = $8, \
            error_message = $9, summary = $10, counters = $11, duration_ms = $12, \
            log_events_dropped = $13, auth_ok = $14, auth_failed = $15, lease_until = NULL \
            WHERE id = $1 AND status = 'running'";
        let sql_pg = "UPDATE runs SET status = $2, finished_at = $3, rows_written = $4, \
            http_calls = $5, rate_limit_wait_ms = $6, retries = $7, error_kind = $8, \
            error_message = $9, summary = $10, counters = $11::jsonb, duration_ms = $12, \
            log_events_dropped = $13, auth_ok = $14, auth_failed = $15, lease_until = NULL \
            WHERE id = $1 AND status = 'running'";
        let sql = match self {
            Store::Sqlite { .. } => sql_sqlite,
            Store::Postgres { .. } => sql_pg,
        };
        on_writer!(self, pool => sqlx::query(sql)
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
            .bind(saturating_i64(f.duration_ms))
            .bind(saturating_i64(f.log_events_dropped))
            .bind(saturating_i64(f.auth_ok))
            .bind(saturating_i64(f.auth_failed))
            .execute(pool)
            .await
            .map(|r| r.rows_affected() == 1))
        .context("cannot record the run's end in the runs table")
    }

    /// Closes a run recorded ahead whose plugin never started (its connector went away in a
    /// reload, or the database failed).
    pub async fn fail_unstarted_run(&self, id: i64, why: &str) -> Result<()> {
        let sql = "UPDATE runs SET status = 'failed', finished_at = $2, error_kind = 'internal', \
            error_message = $3, lease_until = NULL WHERE id = $1 AND status = 'running'";
        on_writer!(self, pool => sqlx::query(sql)
            .bind(id)
            .bind(Utc::now())
            .bind(crate::limits::truncate(why, crate::limits::ERROR_MESSAGE_BYTES))
            .execute(pool)
            .await
            .map(drop))
        .context("cannot close a run")
    }

    /// Extends the lease of run `id` (while it is still `running`) and of the fire it serves.
    pub async fn renew_run_lease(
        &self,
        id: i64,
        fire: Option<&super::FireKey>,
        until: DateTime<Utc>,
    ) -> Result<bool> {
        let runs = "UPDATE runs SET lease_until = $2 WHERE id = $1 AND status = 'running'";
        let fires = "UPDATE schedule_fires SET lease_until = $4 WHERE connector = $1 \
            AND schedule = $2 AND scheduled_for = $3 AND status = 'running'";
        on_writer!(self, pool => {
            let held = sqlx::query(runs).bind(id).bind(until).execute(pool).await?;
            if let (1, Some(key)) = (held.rows_affected(), fire) {
                sqlx::query(fires)
                    .bind(&key.connector)
                    .bind(&key.schedule)
                    .bind(key.scheduled_for)
                    .bind(until)
                    .execute(pool)
                    .await?;
            }
            Ok::<_, sqlx::Error>(held.rows_affected() == 1)
        })
        .context("cannot renew a run's lease")
    }

    /// Marks runs `ids` (still `running`) `interrupted`: the host is stopping. Their fires stay
    /// running with their lease expired, so the next sweep (another host's, or this host's at
    /// its next start) retries them like an abandoned run's, within `max_attempts`.
    pub async fn interrupt_runs(&self, ids: &[i64], now: DateTime<Utc>, why: &str) -> Result<u64> {
        let mut n = 0;
        for id in ids {
            let sql = "UPDATE runs SET status = 'interrupted', finished_at = $2, \
                error_kind = 'interrupted', error_message = $3, lease_until = NULL \
                WHERE id = $1 AND status = 'running'";
            n += on_writer!(self, pool => sqlx::query(sql)
                .bind(id)
                .bind(now)
                .bind(why)
                .execute(pool)
                .await
                .map(|r| r.rows_affected()))
            .context("cannot mark runs interrupted")?;
            let fires = "UPDATE schedule_fires SET updated_at = $2, lease_until = $2 \
                WHERE status = 'running' AND EXISTS (SELECT 1 FROM runs r \
                WHERE r.id = $1 AND r.connector = schedule_fires.connector \
                AND r.schedule = schedule_fires.schedule \
                AND r.scheduled_for = schedule_fires.scheduled_for)";
            on_writer!(self, pool => sqlx::query(fires).bind(id).bind(now).execute(pool).await.map(drop))
                .context("cannot mark runs interrupted")?;
        }
        Ok(n)
    }

    /// One run by id.
    pub async fn run_by_id(&self, id: i64) -> Result<Option<RunRecord>> {
        let sql = format!(
            "{SELECT_RUNS}{}{SELECT_RUNS_TAIL} FROM runs WHERE id = $1",
            self.counters_text()
        );
        on_pool!(self, pool => {
            let row = sqlx::query(&sql)
                .bind(id)
                .fetch_optional(pool)
                .await
                .context("cannot read the runs table")?;
            row.map(|r| read_run!(r)).transpose()
        })
    }

    /// The most recent runs, newest first, optionally of one connector.
    pub async fn recent_runs(&self, limit: u32, connector: Option<&str>) -> Result<Vec<RunRecord>> {
        let sql = format!(
            "{SELECT_RUNS}{}{SELECT_RUNS_TAIL} FROM runs WHERE ($1 IS NULL OR connector = $1) \
             ORDER BY id DESC LIMIT $2",
            self.counters_text()
        );
        on_pool!(self, pool => {
            let rows = sqlx::query(&sql)
                .bind(connector)
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await
                .context("cannot read the runs table")?;
            rows.iter().map(|r| read_run!(r)).collect::<Result<Vec<_>>>()
        })
    }

    fn counters_text(&self) -> &'static str {
        match self {
            Store::Sqlite { .. } => "",
            Store::Postgres { .. } => "::text",
        }
    }
}

fn saturating_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Store {
    /// When `connector`'s newest successful (not dry) run finished, if it ever succeeded.
    pub async fn last_success(&self, connector: &str) -> Result<Option<DateTime<Utc>>> {
        let sql = "SELECT MAX(finished_at) FROM runs WHERE connector = $1 \
                   AND status = 'succeeded' AND NOT dry_run";
        on_pool!(self, pool => sqlx::query_scalar::<_, Option<DateTime<Utc>>>(sql)
            .bind(connector)
            .fetch_one(pool)
            .await)
        .context("cannot read the run log")
    }
}

impl Store {
    /// The first time `connector` ran, if it ever did.
    pub async fn first_run_started(&self, connector: &str) -> Result<Option<DateTime<Utc>>> {
        let sql = "SELECT MIN(started_at) FROM runs WHERE connector = $1";
        on_pool!(self, pool => sqlx::query_scalar::<_, Option<DateTime<Utc>>>(sql)
            .bind(connector)
            .fetch_one(pool)
            .await)
        .context("cannot read the run log")
    }
}
