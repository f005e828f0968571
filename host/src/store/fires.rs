//! Schedule fires and run leases: the database is the coordinator between hosts.
//!
//! A fire's identity `(connector, schedule, scheduled_for)` is the primary key of
//! `schedule_fires`, so of several hosts that decide to fire the same instant exactly one
//! inserts the row and runs it. The overlap policy is enforced by two partial unique indexes
//! (one running fire per schedule unless `allow`, one queued fire), so no lock and no
//! read-then-write race is involved: a claim is "insert as running, else as queued, else as
//! skipped", each step `ON CONFLICT DO NOTHING`, for a whole tick's fires in a few statements.
//! A running fire's lease is renewed with its run's heartbeat; the sweep marks a fire whose
//! lease ran out `done`, so a dead host's fire stops blocking its schedule. Every function
//! takes `now`, so tests drive the clock.

use super::Store;
use super::TriggerKind;
use crate::manifest::Overlap;
use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use sqlx::Row;
use std::collections::HashSet;

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

/// One fire to claim.
#[derive(Debug, Clone)]
pub struct FireClaim {
    /// Its identity.
    pub key: FireKey,
    /// Schedule, catch-up, retry or backfill.
    pub trigger: TriggerKind,
    /// The schedule's overlap policy.
    pub overlap: Overlap,
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

/// Rows per claiming statement (5 parameters each; well under both backends' limits).
const CLAIM_CHUNK: usize = 400;

/// Promotes the queued fire of a schedule to running once nothing of it runs.
const TAKE_QUEUED: &str = "UPDATE schedule_fires SET status = 'running', host = $3, \
    lease_until = $5, updated_at = $4 \
    WHERE connector = $1 AND schedule = $2 AND status = 'queued' \
    AND NOT EXISTS (SELECT 1 FROM schedule_fires f WHERE f.connector = $1 AND f.schedule = $2 \
      AND f.status = 'running' AND f.exclusive_run) \
    RETURNING scheduled_for";

impl Store {
    /// Claims fires for `host`, returning one [`Claim`] per fire, in order. A fire runs if it
    /// is new and (unless its overlap is `allow`) no fire of its schedule is running; else it
    /// is queued (overlap `queue-one`, none queued yet) or recorded as skipped; or it was
    /// another host's already.
    pub async fn claim_fires(
        &self,
        fires: &[FireClaim],
        host: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Vec<Claim>> {
        let mut claims = vec![Claim::Taken; fires.len()];
        let all: Vec<usize> = (0..fires.len()).collect();
        let won = self
            .insert_fires(fires, &all, "running", None, host, now, lease_until)
            .await?;
        let rest: Vec<usize> = all.into_iter().filter(|i| !won.contains(i)).collect();
        let queueable: Vec<usize> = rest
            .iter()
            .copied()
            .filter(|&i| fires[i].overlap == Overlap::QueueOne)
            .collect();
        let queued = self
            .insert_fires(fires, &queueable, "queued", None, host, now, lease_until)
            .await?;
        let rest: Vec<usize> = rest.into_iter().filter(|i| !queued.contains(i)).collect();
        let skipped = self
            .insert_fires(
                fires,
                &rest,
                "skipped",
                Some("overlap"),
                host,
                now,
                lease_until,
            )
            .await?;
        for (set, claim) in [
            (won, Claim::Run),
            (queued, Claim::Queued),
            (skipped, Claim::Skipped),
        ] {
            for i in set {
                claims[i] = claim;
            }
        }
        Ok(claims)
    }

    /// Claims `fires` ahead of their instant for `host`: each is inserted as running if it is
    /// new and (unless its overlap is `allow`) no fire of its schedule is running now. Returns
    /// whether each was claimed; a fire that was not is left for [`Store::claim_fires`] at its
    /// instant, which tells another host's fire from one to skip or queue. Holding the running
    /// slot from the claim on is what lets the instant itself need no write.
    pub async fn claim_fires_ahead(
        &self,
        fires: &[FireClaim],
        host: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Vec<bool>> {
        let all: Vec<usize> = (0..fires.len()).collect();
        let won = self
            .insert_fires(fires, &all, "running", None, host, now, lease_until)
            .await?;
        Ok((0..fires.len()).map(|i| won.contains(&i)).collect())
    }

    /// Ends `host`'s lease on fires it claimed ahead and will not run (it is stopping before
    /// their instant), so that the sweep of whichever host comes next runs them: another host
    /// may already have found them taken, so the rows stay. Returns how many.
    pub async fn hand_back_fires(
        &self,
        keys: &[FireKey],
        host: &str,
        now: DateTime<Utc>,
    ) -> Result<u64> {
        self.update_claimed(keys, host, now, "lease_until = $2")
            .await
            .context("cannot hand back schedule fires")
    }

    /// Records fires `host` claimed ahead as skipped because their schedule was paused before
    /// their instant. Returns how many.
    pub async fn skip_claimed_fires(
        &self,
        keys: &[FireKey],
        host: &str,
        now: DateTime<Utc>,
    ) -> Result<u64> {
        self.update_claimed(
            keys,
            host,
            now,
            "status = 'skipped', skip_reason = 'paused', lease_until = NULL, updated_at = $2",
        )
        .await
        .context("cannot record paused schedule fires")
    }

    /// Applies `set` (a fixed assignment from this module; `$2` is `now`) to the running fires
    /// `keys` that `host` holds.
    async fn update_claimed(
        &self,
        keys: &[FireKey],
        host: &str,
        now: DateTime<Utc>,
        set: &'static str,
    ) -> Result<u64, sqlx::Error> {
        let mut updated = 0;
        for chunk in keys.chunks(CLAIM_CHUNK) {
            let rows: Vec<String> = (0..chunk.len())
                .map(|r| format!("(${}, ${}, ${})", 3 + r * 3, 4 + r * 3, 5 + r * 3))
                .collect();
            let sql = format!(
                "UPDATE schedule_fires SET {set} WHERE host = $1 AND status = 'running' \
                 AND (connector, schedule, scheduled_for) IN (VALUES {})",
                rows.join(", ")
            );
            updated += on_writer!(self, pool => {
                let mut q = sqlx::query(&sql).bind(host).bind(now);
                for key in chunk {
                    q = q.bind(&key.connector).bind(&key.schedule).bind(key.scheduled_for);
                }
                q.execute(pool).await.map(|r| r.rows_affected())
            })?;
        }
        Ok(updated)
    }

    /// Records `fires` as skipped because their schedule is paused (each once, whichever host
    /// gets there first); returns how many this host recorded.
    pub async fn skip_paused_fires(
        &self,
        fires: &[FireClaim],
        host: &str,
        now: DateTime<Utc>,
    ) -> Result<usize> {
        let all: Vec<usize> = (0..fires.len()).collect();
        self.insert_fires(fires, &all, "skipped", Some("paused"), host, now, now)
            .await
            .map(|set| set.len())
    }

    /// Inserts `fires[which]` with `status` (and, for skipped fires, why), skipping conflicts;
    /// returns the indexes inserted.
    #[allow(clippy::too_many_arguments)]
    async fn insert_fires(
        &self,
        fires: &[FireClaim],
        which: &[usize],
        status: &'static str,
        skip_reason: Option<&'static str>,
        host: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<HashSet<usize>> {
        let mut inserted = HashSet::new();
        // A fixed word from this module, never input.
        let reason = skip_reason.map_or("NULL".to_owned(), |r| format!("'{r}'"));
        for chunk in which.chunks(CLAIM_CHUNK) {
            let rows: Vec<String> = (0..chunk.len())
                .map(|r| {
                    let p = 4 + r * 5;
                    format!(
                        "(${}, ${}, ${}, ${}, '{status}', ${}, $1, $2, $3, $3, {reason})",
                        p,
                        p + 1,
                        p + 2,
                        p + 3,
                        p + 4
                    )
                })
                .collect();
            let sql = format!(
                "INSERT INTO schedule_fires (connector, schedule, scheduled_for, trigger_kind, \
                 status, exclusive_run, host, lease_until, created_at, updated_at, skip_reason) VALUES {} \
                 ON CONFLICT DO NOTHING RETURNING connector, schedule, scheduled_for",
                rows.join(", ")
            );
            let lease = (status == "running").then_some(lease_until);
            let got: HashSet<(String, String, DateTime<Utc>)> = on_writer!(self, pool => {
                let mut q = sqlx::query(&sql).bind(host).bind(lease).bind(now);
                for &i in chunk {
                    let f = &fires[i];
                    q = q
                        .bind(&f.key.connector)
                        .bind(&f.key.schedule)
                        .bind(f.key.scheduled_for)
                        .bind(f.trigger.as_str())
                        .bind(f.overlap != Overlap::Allow);
                }
                let rows = q.fetch_all(pool).await.context("cannot claim schedule fires")?;
                rows.iter()
                    .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
                    .collect::<Result<HashSet<_>, sqlx::Error>>()
                    .context("cannot claim schedule fires")?
            });
            for &i in chunk {
                let k = &fires[i].key;
                if got.contains(&(k.connector.clone(), k.schedule.clone(), k.scheduled_for)) {
                    inserted.insert(i);
                }
            }
        }
        Ok(inserted)
    }

    /// Marks fire `key` done. With `promote` (overlap `queue-one`), a queued fire of the same
    /// schedule is then claimed for `host` and its instant returned, unless another fire of the
    /// schedule runs by then.
    pub async fn fire_done(
        &self,
        key: &FireKey,
        promote: bool,
        host: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>> {
        let done =
            "UPDATE schedule_fires SET status = 'done', updated_at = $4, lease_until = NULL \
            WHERE connector = $1 AND schedule = $2 AND scheduled_for = $3";
        on_writer!(self, pool => sqlx::query(done)
            .bind(&key.connector)
            .bind(&key.schedule)
            .bind(key.scheduled_for)
            .bind(now)
            .execute(pool)
            .await
            .map(drop))
        .context("cannot finish a schedule fire")?;
        if !promote {
            return Ok(None);
        }
        let next = on_writer!(self, pool => sqlx::query_scalar::<_, DateTime<Utc>>(TAKE_QUEUED)
            .bind(&key.connector)
            .bind(&key.schedule)
            .bind(host)
            .bind(now)
            .bind(lease_until)
            .fetch_optional(pool)
            .await);
        match next {
            Ok(next) => Ok(next),
            // Another host's new fire started running first: the queued one waits for it.
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(None),
            Err(e) => Err(e).context("cannot start a queued schedule fire"),
        }
    }

    /// Running fires whose lease ran out and whose last run ended without finishing its work,
    /// because its host died (`abandoned`) or stopped (`interrupted`), each with that run's
    /// attempt number; and those whose host died after claiming them and before recording a run,
    /// with attempt 0. They are owed a retry while the schedule's `max_attempts` allows.
    pub async fn retriable_fires(&self, now: DateTime<Utc>) -> Result<Vec<(FireKey, u32)>> {
        let sql = "SELECT f.connector, f.schedule, f.scheduled_for, r.attempt \
            FROM schedule_fires f JOIN runs r ON r.id = (SELECT MAX(r2.id) FROM runs r2 \
              WHERE r2.connector = f.connector AND r2.schedule = f.schedule \
              AND r2.scheduled_for = f.scheduled_for) \
            WHERE f.status = 'running' AND f.lease_until < $1 \
            AND r.status IN ('abandoned', 'interrupted') \
            UNION ALL \
            SELECT f.connector, f.schedule, f.scheduled_for, 0 FROM schedule_fires f \
            WHERE f.status = 'running' AND f.lease_until < $1 \
            AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.connector = f.connector \
              AND r.schedule = f.schedule AND r.scheduled_for = f.scheduled_for)";
        on_pool!(self, pool => {
            let rows = sqlx::query(sql)
                .bind(now)
                .fetch_all(pool)
                .await
                .context("cannot look for fires to retry")?;
            rows.iter()
                .map(|r| {
                    Ok((
                        FireKey {
                            connector: r.try_get(0)?,
                            schedule: r.try_get(1)?,
                            scheduled_for: r.try_get(2)?,
                        },
                        u32::try_from(r.try_get::<i64, _>(3)?).unwrap_or(1),
                    ))
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .context("cannot look for fires to retry")
        })
    }

    /// Takes fire `key` over for a retry of its last run, if its lease has run out; false if
    /// another host took it first or it is no longer running.
    pub async fn retake_fire(
        &self,
        key: &FireKey,
        host: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<bool> {
        let sql = "UPDATE schedule_fires SET host = $4, lease_until = $6, updated_at = $5, \
            trigger_kind = 'retry' \
            WHERE connector = $1 AND schedule = $2 AND scheduled_for = $3 AND status = 'running' \
            AND lease_until < $5";
        on_writer!(self, pool => sqlx::query(sql)
            .bind(&key.connector)
            .bind(&key.schedule)
            .bind(key.scheduled_for)
            .bind(host)
            .bind(now)
            .bind(lease_until)
            .execute(pool)
            .await
            .map(|r| r.rows_affected() == 1))
        .context("cannot take over a fire to retry")
    }

    /// Deletes finished fires (`done`, `skipped`) scheduled before `before`, except each
    /// schedule's newest and backfilled ones, at most `max` of them; returns how many. A fire's
    /// row only matters while another host might still claim the same instant and as the point
    /// a schedule resumes from, so the table stays small however often schedules fire; a
    /// backfilled fire's row is what keeps a second backfill of its window from running it
    /// again, so it stays.
    pub async fn prune_fires(&self, before: DateTime<Utc>, max: u32) -> Result<u64> {
        let sql = "DELETE FROM schedule_fires WHERE (connector, schedule, scheduled_for) IN ( \
            SELECT f.connector, f.schedule, f.scheduled_for FROM schedule_fires f \
            WHERE f.status IN ('done', 'skipped') AND f.scheduled_for < $1 \
            AND f.trigger_kind <> 'backfill' \
            AND f.scheduled_for < (SELECT MAX(g.scheduled_for) FROM schedule_fires g \
              WHERE g.connector = f.connector AND g.schedule = f.schedule) \
            LIMIT $2)";
        on_writer!(self, pool => sqlx::query(sql)
            .bind(before)
            .bind(i64::from(max))
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))
        .context("cannot prune schedule_fires")
    }

    /// Lets go of running fires whose lease ran out (their host died before or after its run);
    /// returns the fires released, so queued fires behind them can start. A fire whose run is
    /// still marked running waits for that run's own lease to run out (then it is abandoned, and
    /// the fire retried or released): the fire's lease, taken at the claim, can end a little
    /// before its run's first heartbeat renews both.
    pub async fn release_stale_fires(&self, now: DateTime<Utc>) -> Result<Vec<FireKey>> {
        let sql = "UPDATE schedule_fires SET status = 'done', updated_at = $1, lease_until = NULL \
            WHERE status = 'running' AND lease_until < $1 \
            AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.connector = schedule_fires.connector \
              AND r.schedule = schedule_fires.schedule \
              AND r.scheduled_for = schedule_fires.scheduled_for AND r.status = 'running') \
            RETURNING connector, schedule, scheduled_for";
        on_writer!(self, pool => {
            let rows = sqlx::query(sql)
                .bind(now)
                .fetch_all(pool)
                .await
                .context("cannot release stale schedule fires")?;
            rows.iter()
                .map(|r| {
                    Ok(FireKey {
                        connector: r.try_get(0)?,
                        schedule: r.try_get(1)?,
                        scheduled_for: r.try_get(2)?,
                    })
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .context("cannot release stale schedule fires")
        })
    }

    /// The latest fire recorded for each schedule: where a starting host's scheduler picks up
    /// (and counts missed fires from).
    pub async fn last_fires(
        &self,
    ) -> Result<std::collections::HashMap<(String, String), DateTime<Utc>>> {
        let sql = "SELECT connector, schedule, MAX(scheduled_for) FROM schedule_fires \
            GROUP BY connector, schedule";
        on_pool!(self, pool => {
            let rows = sqlx::query(sql)
                .fetch_all(pool)
                .await
                .context("cannot read schedule_fires")?;
            rows.iter()
                .map(|r| Ok(((r.try_get(0)?, r.try_get(1)?), r.try_get(2)?)))
                .collect::<Result<_, sqlx::Error>>()
                .context("cannot read schedule_fires")
        })
    }

    /// Marks every `running` run whose lease ran out before `now` as `abandoned` and returns
    /// them. Each is returned to exactly one caller, whichever host runs this first.
    ///
    /// `alive` are runs the caller knows are still going (its own): a heartbeat that waited
    /// behind a long write (SQLite's single writer) must not get them taken for dead.
    pub async fn abandon_expired_runs(
        &self,
        now: DateTime<Utc>,
        alive: &[i64],
    ) -> Result<Vec<AbandonedRun>> {
        // Our own ids, formatted as integers: nothing from outside reaches this text.
        let spare = if alive.is_empty() {
            String::new()
        } else {
            let ids: Vec<String> = alive.iter().map(i64::to_string).collect();
            format!(" AND id NOT IN ({})", ids.join(", "))
        };
        let sql = format!(
            "UPDATE runs SET status = 'abandoned', finished_at = $1, \
             error_kind = 'abandoned', \
             error_message = 'the host running it stopped renewing its lease (it stopped or \
             lost the database)', lease_until = NULL \
             WHERE status = 'running' AND (lease_until IS NULL OR lease_until < $1){spare} \
             RETURNING id, connector, job, schedule, scheduled_for, attempt, host"
        );
        let rows = on_writer!(self, pool => {
            let rows = sqlx::query(&sql)
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

    /// The newest `limit` fires of `connector` (of one `schedule`, when given), newest first:
    /// what ran, what was skipped and why, what is queued.
    pub async fn fire_history(
        &self,
        connector: &str,
        schedule: Option<&str>,
        limit: u32,
    ) -> Result<Vec<FireRecord>> {
        let sql = "SELECT schedule, scheduled_for, trigger_kind, status, skip_reason, host \
            FROM schedule_fires WHERE connector = $1 AND ($2 IS NULL OR schedule = $2) \
            ORDER BY scheduled_for DESC, schedule LIMIT $3";
        on_pool!(self, pool => {
            let rows = sqlx::query(sql)
                .bind(connector)
                .bind(schedule)
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await
                .context("cannot read schedule_fires")?;
            rows.iter()
                .map(|r| -> Result<FireRecord> {
                    Ok(FireRecord {
                        schedule: r.try_get(0)?,
                        scheduled_for: r.try_get(1)?,
                        trigger: r.try_get::<String, _>(2)?.parse()?,
                        status: r.try_get(3)?,
                        skip_reason: r.try_get(4)?,
                        host: r.try_get(5)?,
                    })
                })
                .collect::<Result<Vec<_>>>()
                .context("cannot read schedule_fires")
        })
    }
}

/// One fire, as the history shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FireRecord {
    /// The schedule.
    pub schedule: String,
    /// The instant it stands for.
    pub scheduled_for: DateTime<Utc>,
    /// Why it fired.
    pub trigger: TriggerKind,
    /// `running`, `queued`, `skipped` or `done`.
    pub status: String,
    /// Why it was skipped: `overlap` (the previous run was still going) or `paused`.
    pub skip_reason: Option<String>,
    /// The host that recorded it.
    pub host: String,
}
