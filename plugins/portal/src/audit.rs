//! `sync_metadata`: one row per attempt and source, written when the attempt starts and brought
//! up to date with every checkpoint, so that a failed attempt leaves its row — status `failed`
//! and the error — however far it got.

use crate::dedup::{Counts, Source};
use connector_sdk::db::{self, Value};
use connector_sdk::{state, time, Error};

/// An attempt being recorded.
pub struct Attempt {
    id: i64,
}

impl Attempt {
    /// Records the start of run `run_id`'s attempt at `source`, and checkpoints it.
    pub fn start(run_id: u64, source: Source) -> Result<Attempt, Error> {
        let id = db::query(
            "INSERT INTO sync_metadata (run_id, source, started_at, status) VALUES ($1, $2, $3, 'running') RETURNING id",
            &[
                Value::Integer(run_id as i64),
                Value::Text(source.as_str().into()),
                Value::Timestamp(time::format_utc(time::now())),
            ],
        )?
        .rows
        .first()
        .and_then(|r| r.first())
        .and_then(Value::as_i64)
        .ok_or_else(|| Error::Internal("sync_metadata gave no id back".into()))?;
        state::checkpoint()?;
        Ok(Attempt { id })
    }

    /// Writes the counts so far (the caller checkpoints).
    pub fn progress(&self, c: &Counts, deleted: u64) -> Result<(), Error> {
        self.write("running", c, deleted, None, false)
    }

    /// Marks the attempt succeeded.
    pub fn succeeded(&self, c: &Counts, deleted: u64) -> Result<(), Error> {
        self.write("succeeded", c, deleted, None, true)
    }

    /// Marks the attempt failed with `error` and checkpoints, so the row outlives the run's
    /// rollback; returns `error` for the run.
    pub fn failed(&self, c: &Counts, deleted: u64, error: Error) -> Error {
        let recorded = self
            .write("failed", c, deleted, Some(&error.message()), true)
            .and_then(|()| state::checkpoint());
        if let Err(e) = recorded {
            connector_sdk::log::error(
                "cannot record the failed attempt in sync_metadata",
                &[("error", &e.message())],
            );
        }
        error
    }

    fn write(
        &self,
        status: &str,
        c: &Counts,
        deleted: u64,
        error: Option<&str>,
        done: bool,
    ) -> Result<(), Error> {
        let finished = if done {
            Value::Timestamp(time::format_utc(time::now()))
        } else {
            Value::Null
        };
        db::execute(
            "UPDATE sync_metadata SET status = $2, fetched = $3, inserted = $4, updated = $5, merged = $6, \
             conflicts = $7, deleted = $8, error = $9, finished_at = $10 WHERE id = $1",
            &[
                Value::Integer(self.id),
                Value::Text(status.into()),
                Value::Integer(c.fetched as i64),
                Value::Integer(c.inserted as i64),
                Value::Integer(c.updated as i64),
                Value::Integer(c.merged as i64),
                Value::Integer(c.conflicts as i64),
                Value::Integer(deleted as i64),
                error.map_or(Value::Null, |e| Value::Text(e.into())),
                finished,
            ],
        )?;
        Ok(())
    }
}
