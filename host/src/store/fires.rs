//! Schedule fires and run leases: the database is the coordinator between hosts.
//!
//! A fire's identity `(connector, schedule, scheduled_for)` is the primary key of
//! `schedule_fires`, so of several hosts that decide to fire the same instant exactly one
//! inserts the row and runs it. The overlap policy is decided in the same statement (SQLite:
//! one statement under its single writer; PostgreSQL: a transaction holding an advisory lock
//! per schedule), so two hosts can never both see "nothing running". A fire counts as running
//! while its lease is fresh: the run renews it with its heartbeat, and a dead host's fire stops
//! blocking once the lease runs out. Every function takes `now`, so tests drive the clock.

use super::Store;
use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use sqlx::Row;

/// One fire's identity.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FireKey {
    /// The connector.
    pub connector: String,
    /// The schedule's name.
    pub schedule: String,
    /// The instant the schedule fired for.
    pub scheduled_for: DateTime<Utc>,
}

/// What claiming a fire found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// This host owns the fire and runs it now.
    Run,
    /// Another host (or an earlier call) already claimed it.
    Taken,
    /// A run of the schedule is in progress and the policy is `skip` (or `queue-one` with a
    /// fire already queued); recorded as `skipped`.
    Skipped,
    /// A run is in progress and the policy is `queue-one`: it runs when that one ends.
    Queued,
}

/// A run whose host stopped renewing its lease, as marked `abandoned`.
#[derive(Debug, Clone)]
pub struct AbandonedRun {
    /// The run log's id.
    pub id: i64,
    /// Its connector.
    pub connector: String,
    /// Its job.
    pub job: String,
    /// The schedule and fire it served, if it was scheduled.
    pub fire: Option<FireKey>,
    /// Its attempt number.
    pub attempt: u32,
    /// The host that held it.
    pub host: Option<String>,
}

/// `status` of a new fire: run, queue or skip, decided against the fires of the same schedule
/// whose lease is still fresh. `$1` connector, `$2` schedule, `$6` now, `$9` whether to queue.
const CLAIM_GUARDED: &str = "INSERT INTO schedule_fires (connector, schedule, scheduled_for, \
    trigger_kind, status, host, lease_until, created_at, updated_at) \
    SELECT $1, $2, $3, $4, \
      CASE WHEN NOT EXISTS (SELECT 1 FROM schedule_fires WHERE connector = $1 AND schedule = $2 \
             AND status = 'running' AND lease_until >= $6) THEN 'running' \
           WHEN $9 AND NOT EXISTS (SELECT 1 FROM schedule_fires WHERE connector = $1 \
             AND schedule = $2 AND status = 'queued') THEN 'queued' \
           ELSE 'skipped' END, \
      $5, $7, $6, $6 WHERE $8 \
    ON CONFLICT DO NOTHING RETURNING status";

const CLAIM_ALLOW: &str = "INSERT INTO schedule_fires (connector, schedule, scheduled_for, \
    trigger_kind, status, host, lease_until, created_at, updated_at) \
    VALUES ($1, $2, $3, $4, 'running', $5, $7, $6, $6) \
    ON CONFLICT DO NOTHING RETURNING status";

/// Promotes the queued fire of a schedule to running when nothing of it runs any more.
const TAKE_QUEUED: &str = "UPDATE schedule_fires SET status = 'running', host = $3, \
    lease_until = $5, updated_at = $4 \
    WHERE connector = $1 AND schedule = $2 AND status = 'queued' \
    AND NOT EXISTS (SELECT 1 FROM schedule_fires f WHERE f.connector = $1 AND f.schedule = $2 \
      AND f.status = 'running' AND f.lease_until >= $4) \
    RETURNING scheduled_for";

impl Store {
    /// Claims a fire for `host`. With `guarded` (overlap `skip` or `queue-one`) the fire only
    /// runs if no run of its schedule is in progress; `queue` (overlap `queue-one`) queues it
    /// instead of skipping it when none is queued yet.
    #[allow(clippy::too_many_arguments)]
    pub async fn claim_fire(
        &self,
        key: &FireKey,
        trigger: &str,
        guarded: bool,
        queue: bool,
        host: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Claim> {
        let sql = if guarded { CLAIM_GUARDED } else { CLAIM_ALLOW };
        macro_rules! claim {
            ($executor:expr) => {{
                let mut q = sqlx::query_scalar::<_, String>(sql)
                    .bind(&key.connector)
                    .bind(&key.schedule)
                    .bind(key.scheduled_for)
                    .bind(trigger)
                    .bind(host)
                    .bind(now)
                    .bind(lease_until);
                if guarded {
                    q = q.bind(true).bind(queue);
                }
                q.fetch_optional($executor).await
            }};
        }
        let status = match self {
            Store::Sqlite { host: pool, .. } => claim!(pool),
            Store::Postgres { pool } => {
                let mut tx = pool.begin().await.context("cannot claim a schedule fire")?;
                if guarded {
                    lock_schedule(&mut tx, key).await?;
                }
                let status = claim!(&mut *tx);
                tx.commit().await.context("cannot claim a schedule fire")?;
                status
            }
        }
        .context("cannot claim a schedule fire")?;
        Ok(match status.as_deref() {
            None => Claim::Taken,
            Some("running") => Claim::Run,
            Some("queued") => Claim::Queued,
            Some(_) => Claim::Skipped,
        })
    }

    /// Records that run `run_id` serves fire `key`.
    pub async fn fire_started(&self, key: &FireKey, run_id: i64) -> Result<()> {
        let sql = "UPDATE schedule_fires SET run_id = $4, attempts = attempts + 1 \
            WHERE connector = $1 AND schedule = $2 AND scheduled_for = $3";
        on_pool!(self, pool => sqlx::query(sql)
            .bind(&key.connector)
            .bind(&key.schedule)
            .bind(key.scheduled_for)
            .bind(run_id)
            .execute(pool)
            .await
            .map(drop))
        .context("cannot record a fire's run")
    }

    /// Marks fire `key` done and, if its schedule has a queued fire and nothing else of it
    /// runs, claims that one for `host` and returns its instant.
    pub async fn fire_done(
        &self,
        key: &FireKey,
        host: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>> {
        let done =
            "UPDATE schedule_fires SET status = 'done', updated_at = $4, lease_until = NULL \
            WHERE connector = $1 AND schedule = $2 AND scheduled_for = $3";
        macro_rules! finish {
            ($executor:expr) => {{
                sqlx::query(done)
                    .bind(&key.connector)
                    .bind(&key.schedule)
                    .bind(key.scheduled_for)
                    .bind(now)
                    .execute(&mut *$executor)
                    .await?;
                sqlx::query_scalar::<_, DateTime<Utc>>(TAKE_QUEUED)
                    .bind(&key.connector)
                    .bind(&key.schedule)
                    .bind(host)
                    .bind(now)
                    .bind(lease_until)
                    .fetch_optional(&mut *$executor)
                    .await
            }};
        }
        let next = match self {
            Store::Sqlite { host: pool, .. } => {
                let mut conn = pool
                    .acquire()
                    .await
                    .context("cannot finish a schedule fire")?;
                finish!(conn)
            }
            Store::Postgres { pool } => {
                let mut tx = pool
                    .begin()
                    .await
                    .context("cannot finish a schedule fire")?;
                lock_schedule(&mut tx, key).await?;
                let next = finish!(tx);
                tx.commit().await.context("cannot finish a schedule fire")?;
                next
            }
        }
        .context("cannot finish a schedule fire")?;
        Ok(next)
    }

    /// Takes fire `key` over for a retry of its abandoned run `run_id`; false if someone else did.
    pub async fn retake_fire(
        &self,
        key: &FireKey,
        run_id: i64,
        host: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<bool> {
        let sql = "UPDATE schedule_fires SET status = 'running', host = $5, lease_until = $7, \
            updated_at = $6, trigger_kind = 'retry' \
            WHERE connector = $1 AND schedule = $2 AND scheduled_for = $3 AND run_id = $4";
        on_pool!(self, pool => sqlx::query(sql)
            .bind(&key.connector)
            .bind(&key.schedule)
            .bind(key.scheduled_for)
            .bind(run_id)
            .bind(host)
            .bind(now)
            .bind(lease_until)
            .execute(pool)
            .await
            .map(|r| r.rows_affected() == 1))
        .context("cannot take over an abandoned fire")
    }

    /// The latest fire recorded for a schedule, if any: where a starting host's scheduler
    /// picks up (and counts missed fires from).
    pub async fn last_fire(
        &self,
        connector: &str,
        schedule: &str,
    ) -> Result<Option<DateTime<Utc>>> {
        let sql = "SELECT MAX(scheduled_for) FROM schedule_fires \
            WHERE connector = $1 AND schedule = $2";
        on_pool!(self, pool => sqlx::query_scalar::<_, Option<DateTime<Utc>>>(sql)
            .bind(connector)
            .bind(schedule)
            .fetch_one(pool)
            .await)
        .context("cannot read schedule_fires")
    }

    /// Marks every `running` run whose lease ran out before `now` as `abandoned` and returns
    /// them. Each is returned to exactly one caller, whichever host runs this first.
    pub async fn abandon_expired_runs(&self, now: DateTime<Utc>) -> Result<Vec<AbandonedRun>> {
        let sql = "UPDATE runs SET status = 'abandoned', finished_at = $1, \
            error_kind = 'abandoned', \
            error_message = 'the host running it stopped renewing its lease (it stopped or lost \
            the database)', lease_until = NULL \
            WHERE status = 'running' AND (lease_until IS NULL OR lease_until < $1) \
            RETURNING id, connector, job, schedule, scheduled_for, attempt, host";
        let rows = on_pool!(self, pool => {
            let rows = sqlx::query(sql)
                .bind(now)
                .fetch_all(pool)
                .await
                .context("cannot look for abandoned runs")?;
            rows.iter()
                .map(|r| -> Result<AbandonedRun, sqlx::Error> {
                    let schedule: Option<String> = r.try_get(3)?;
                    let scheduled_for: Option<DateTime<Utc>> = r.try_get(4)?;
                    let connector: String = r.try_get(1)?;
                    let fire = match (schedule, scheduled_for) {
                        (Some(schedule), Some(scheduled_for)) => Some(FireKey {
                            connector: connector.clone(),
                            schedule,
                            scheduled_for,
                        }),
                        _ => None,
                    };
                    Ok(AbandonedRun {
                        id: r.try_get(0)?,
                        connector,
                        job: r.try_get(2)?,
                        fire,
                        attempt: u32::try_from(r.try_get::<i64, _>(5)?).unwrap_or(1),
                        host: r.try_get(6)?,
                    })
                })
                .collect::<Result<Vec<_>, _>>()
                .context("cannot read abandoned runs")?
        });
        Ok(rows)
    }

    /// Counts of fires by status for a schedule (for tests and status).
    pub async fn fire_counts(&self, connector: &str) -> Result<Vec<(String, String, i64)>> {
        let sql = "SELECT schedule, status, COUNT(*) FROM schedule_fires WHERE connector = $1 \
            GROUP BY schedule, status ORDER BY schedule, status";
        on_pool!(self, pool => {
            let rows = sqlx::query(sql)
                .bind(connector)
                .fetch_all(pool)
                .await
                .context("cannot read schedule_fires")?;
            rows.iter()
                .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .context("cannot read schedule_fires")
        })
    }
}

/// Serialises the fire decisions of one schedule across PostgreSQL sessions until commit.
async fn lock_schedule(tx: &mut sqlx::PgConnection, key: &FireKey) -> Result<()> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1), hashtext($2))")
        .bind(&key.connector)
        .bind(&key.schedule)
        .execute(tx)
        .await
        .context("cannot lock a schedule")?;
    Ok(())
}
