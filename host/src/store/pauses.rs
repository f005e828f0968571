//! Pauses: an operator's "do not fire this" for a connector or one of its schedules, with a
//! reason and an optional end, shared by every host on the database.

use super::Store;
use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use sqlx::Row;

/// One pause.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Pause {
    /// The connector paused.
    pub connector: String,
    /// The schedule paused; `None`: the whole connector (every schedule and its queue jobs).
    pub schedule: Option<String>,
    /// Why, as the operator said.
    pub reason: String,
    /// When it was set.
    pub paused_at: DateTime<Utc>,
    /// When it ends by itself; `None`: when resumed.
    pub until: Option<DateTime<Utc>>,
    /// Who set it (`cli`, `api`, `console`).
    pub paused_by: String,
}

impl Pause {
    /// Whether it holds at `now`.
    pub fn holds(&self, now: DateTime<Utc>) -> bool {
        self.until.is_none_or(|u| u > now)
    }

    /// Whether it covers `schedule` of `connector`.
    pub fn covers(&self, connector: &str, schedule: &str) -> bool {
        self.connector == connector && self.schedule.as_deref().is_none_or(|s| s == schedule)
    }
}

impl Store {
    /// Pauses `connector` (or one `schedule` of it), replacing any pause of the same target.
    pub async fn pause(&self, p: &Pause) -> Result<()> {
        let sql = "INSERT INTO pauses (connector, schedule, reason, paused_at, until, paused_by) \
                   VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (connector, schedule) DO UPDATE SET \
                   reason = excluded.reason, paused_at = excluded.paused_at, until = excluded.until, \
                   paused_by = excluded.paused_by";
        on_writer!(self, pool => sqlx::query(sql)
            .bind(&p.connector)
            .bind(p.schedule.as_deref().unwrap_or(""))
            .bind(&p.reason)
            .bind(p.paused_at)
            .bind(p.until)
            .bind(&p.paused_by)
            .execute(pool)
            .await
            .map(drop))
        .context("cannot record the pause")
    }

    /// Ends the pause of `connector` (or of one `schedule`); returns whether there was one.
    pub async fn resume(&self, connector: &str, schedule: Option<&str>) -> Result<bool> {
        let sql = "DELETE FROM pauses WHERE connector = $1 AND schedule = $2";
        on_writer!(self, pool => sqlx::query(sql)
            .bind(connector)
            .bind(schedule.unwrap_or(""))
            .execute(pool)
            .await
            .map(|r| r.rows_affected() > 0))
        .context("cannot end the pause")
    }

    /// The pauses that hold at `now`, by connector and schedule.
    pub async fn active_pauses(&self, now: DateTime<Utc>) -> Result<Vec<Pause>> {
        let sql = "SELECT connector, schedule, reason, paused_at, until, paused_by FROM pauses \
                   WHERE until IS NULL OR until > $1 ORDER BY connector, schedule";
        on_pool!(self, pool => {
            let rows = sqlx::query(sql)
                .bind(now)
                .fetch_all(pool)
                .await
                .context("cannot read the pauses")?;
            rows.iter()
                .map(|r| {
                    let schedule: String = r.try_get(1)?;
                    Ok(Pause {
                        connector: r.try_get(0)?,
                        schedule: (!schedule.is_empty()).then_some(schedule),
                        reason: r.try_get(2)?,
                        paused_at: r.try_get(3)?,
                        until: r.try_get(4)?,
                        paused_by: r.try_get(5)?,
                    })
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .context("cannot read the pauses")
        })
    }
}
