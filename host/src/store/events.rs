//! `run_events`: each run's last log events, written when the run finishes.

use super::Store;
use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use sqlx::Row;

/// One log event as the run log keeps it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RunEvent {
    /// When the plugin emitted it.
    pub at: DateTime<Utc>,
    /// `trace`, `debug`, `info`, `warn` or `error` (stdout lines are `info`, stderr `warn`).
    pub level: &'static str,
    /// The message, capped and escaped.
    pub message: String,
    /// The plugin's fields as a JSON object, if any.
    pub fields: Option<String>,
}

/// One stored event.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StoredEvent {
    /// Its place in the run, from 0.
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub level: String,
    pub message: String,
    /// The plugin's fields, a JSON object as text.
    pub fields: Option<String>,
}

impl Store {
    /// Keeps run `id`'s events (already capped and redacted) and how many earlier ones were let
    /// go.
    pub async fn add_run_events(&self, id: i64, events: &[RunEvent], omitted: u64) -> Result<()> {
        if omitted > 0 {
            let sql = "UPDATE runs SET log_events_omitted = $2 WHERE id = $1";
            on_writer!(self, pool => sqlx::query(sql)
                .bind(id)
                .bind(i64::try_from(omitted).unwrap_or(i64::MAX))
                .execute(pool)
                .await
                .map(drop))
            .context("cannot record the run's log events")?;
        }
        let fields_cast = match self {
            Store::Sqlite { .. } => "",
            Store::Postgres { .. } => "::jsonb",
        };
        for (chunk_no, chunk) in events.chunks(100).enumerate() {
            let rows: Vec<String> = (0..chunk.len())
                .map(|i| {
                    let p = 2 + i * 5;
                    format!(
                        "($1, ${}, ${}, ${}, ${}, ${}{fields_cast})",
                        p,
                        p + 1,
                        p + 2,
                        p + 3,
                        p + 4
                    )
                })
                .collect();
            let sql = format!(
                "INSERT INTO run_events (run_id, seq, at, level, message, fields) VALUES {}",
                rows.join(", ")
            );
            on_writer!(self, pool => {
                let mut q = sqlx::query(&sql).bind(id);
                for (i, e) in chunk.iter().enumerate() {
                    q = q
                        .bind((chunk_no * 100 + i) as i64)
                        .bind(e.at)
                        .bind(e.level)
                        .bind(&e.message)
                        .bind(e.fields.as_deref());
                }
                q.execute(pool).await.map(drop)
            })
            .context("cannot record the run's log events")?;
        }
        Ok(())
    }

    /// Run `id`'s kept events, in order.
    pub async fn run_events(&self, id: i64) -> Result<Vec<StoredEvent>> {
        let sql = match self {
            Store::Sqlite { .. } => {
                "SELECT seq, at, level, message, fields FROM run_events WHERE run_id = $1 ORDER BY seq"
            }
            Store::Postgres { .. } => {
                "SELECT seq, at, level, message, fields::text FROM run_events WHERE run_id = $1 ORDER BY seq"
            }
        };
        on_pool!(self, pool => {
            let rows = sqlx::query(sql)
                .bind(id)
                .fetch_all(pool)
                .await
                .context("cannot read the run's log events")?;
            rows.iter()
                .map(|r| {
                    Ok(StoredEvent {
                        seq: r.try_get(0)?,
                        at: r.try_get(1)?,
                        level: r.try_get(2)?,
                        message: r.try_get(3)?,
                        fields: r.try_get(4)?,
                    })
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .context("cannot read the run's log events")
        })
    }

    /// Deletes the events of runs that started before `before`; returns how many.
    pub async fn prune_run_events(&self, before: DateTime<Utc>) -> Result<u64> {
        let sql = "DELETE FROM run_events WHERE run_id IN \
                   (SELECT id FROM runs WHERE started_at < $1)";
        on_writer!(self, pool => sqlx::query(sql)
            .bind(before)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))
        .context("cannot prune old run events")
    }
}
