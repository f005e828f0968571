//! The `queue` capability: durable jobs a plugin enqueues for its own `handle-job`, written
//! inside the call's run transaction (a job exists once the call checkpoints or ends well; a
//! failed call leaves none behind), with a dedup key keeping one unfinished job per key, and a
//! cap on how many one call may enqueue. Delivery is `runner::jobs`; bookkeeping is
//! `store::queue`.

use super::tx::{Access, RunTx};
use super::CapResult;
use crate::bindings::connector::host::queue::{self as wit, Options};
use crate::bindings::WitError;
use crate::limits;
use crate::on_conn;
use chrono::Utc;
use std::sync::Arc;
use std::time::Duration;

/// Longest delay a plugin may ask for a job.
const MAX_JOB_DELAY: Duration = Duration::from_secs(30 * 86_400);

/// One call's queue access.
pub struct QueueCap {
    connector: Arc<str>,
    /// Attempts a job gets when its enqueuer does not say (the manifest's `queue.max_attempts`).
    default_max_attempts: u32,
    /// `enqueue` calls so far (for the per-call cap).
    calls: usize,
    /// Jobs enqueued by the call (committed or not; deduplicated ones not counted).
    pub jobs_enqueued: u64,
}

impl QueueCap {
    /// Enqueueing for `connector`; jobs get `default_max_attempts` unless they ask otherwise.
    pub fn new(connector: Arc<str>, default_max_attempts: u32) -> Self {
        QueueCap {
            connector,
            default_max_attempts,
            calls: 0,
            jobs_enqueued: 0,
        }
    }
}

/// The `queue` interface's view of a call.
pub struct QueueView<'a> {
    /// Whose queue, and the call's counters.
    pub cap: &'a mut QueueCap,
    /// The run transaction.
    pub tx: &'a mut RunTx,
}

/// Links the `queue` interface to a [`QueueView`].
pub struct QueueData;

impl wasmtime::component::HasData for QueueData {
    type Data<'a> = QueueView<'a>;
}

/// Checks what a plugin asks to enqueue; the error is the plugin's to see.
fn check(kind: &str, payload: &str, options: &Options, max_attempts: u32) -> Result<(), WitError> {
    if kind.is_empty() || kind.len() > limits::JOB_KIND_BYTES {
        return Err(WitError::Invalid(format!(
            "a job kind is 1 to {} bytes",
            limits::JOB_KIND_BYTES
        )));
    }
    if payload.len() > limits::JOB_PAYLOAD_BYTES
        || options
            .dedup_key
            .as_ref()
            .is_some_and(|k| k.len() > limits::JOB_DEDUP_KEY_BYTES)
    {
        return Err(WitError::TooLarge);
    }
    if kind.contains('\0') || options.dedup_key.as_ref().is_some_and(|k| k.contains('\0')) {
        return Err(WitError::Invalid(
            "a job kind or dedup key cannot contain a NUL character".into(),
        ));
    }
    if serde_json::from_str::<serde_json::Value>(payload).is_err() {
        return Err(WitError::Invalid("a job payload must be JSON".into()));
    }
    if !(1..=100).contains(&max_attempts) {
        return Err(WitError::Invalid("max-attempts must be 1 to 100".into()));
    }
    if Duration::from_millis(options.delay_ms.unwrap_or(0)) > MAX_JOB_DELAY {
        return Err(WitError::Invalid(
            "a job may be delayed 30 days at most".into(),
        ));
    }
    Ok(())
}

impl QueueView<'_> {
    async fn enqueue(
        &mut self,
        kind: &str,
        payload: &str,
        options: &Options,
    ) -> Result<u64, WitError> {
        let max_attempts = options
            .max_attempts
            .unwrap_or(self.cap.default_max_attempts);
        check(kind, payload, options, max_attempts)?;
        if self.cap.calls >= limits::JOBS_PER_CALL {
            return Err(WitError::TooLarge);
        }
        self.cap.calls += 1;
        let now = Utc::now();
        let delay = Duration::from_millis(options.delay_ms.unwrap_or(0));
        let run_after = now + chrono::Duration::from_std(delay).unwrap_or_default();
        let connector = self.cap.connector.clone();
        let insert = "INSERT INTO queue_jobs (connector, kind, payload, status, attempts, \
            max_attempts, run_after, dedup_key, created_at, updated_at) \
            VALUES ($1, $2, $3, 'pending', 0, $4, $5, $6, $7, $7) \
            ON CONFLICT (connector, dedup_key) \
            WHERE dedup_key IS NOT NULL AND status IN ('pending', 'processing') DO NOTHING \
            RETURNING id";
        let conn = self.tx.conn(Access::HostWrite).await?;
        let inserted: Result<Option<i64>, sqlx::Error> = on_conn!(conn, c => sqlx::query_scalar(insert)
            .bind(&*connector)
            .bind(kind)
            .bind(payload)
            .bind(i64::from(max_attempts))
            .bind(run_after)
            .bind(options.dedup_key.as_deref())
            .bind(now)
            .fetch_optional(c)
            .await);
        let id = match inserted {
            Ok(Some(id)) => {
                self.cap.jobs_enqueued += 1;
                id
            }
            // Deduplicated: answer the id of the unfinished job with that key.
            Ok(None) => {
                let existing = "SELECT id FROM queue_jobs WHERE connector = $1 \
                    AND dedup_key = $2 AND status IN ('pending', 'processing')";
                let conn = self.tx.conn(Access::HostWrite).await?;
                let found: Result<i64, sqlx::Error> = on_conn!(conn, c => sqlx::query_scalar(existing)
                    .bind(&*connector)
                    .bind(options.dedup_key.as_deref())
                    .fetch_one(c)
                    .await);
                match found {
                    Ok(id) => id,
                    Err(e) => return Err(self.tx.statement_failed(Access::HostWrite, e).await),
                }
            }
            Err(e) => return Err(self.tx.statement_failed(Access::HostWrite, e).await),
        };
        Ok(id as u64)
    }
}

impl wit::Host for QueueView<'_> {
    async fn enqueue(&mut self, kind: String, payload: String, options: Options) -> CapResult<u64> {
        Ok(QueueView::enqueue(self, &kind, &payload, &options).await)
    }
}

/// Marks leased job `id` completed inside `tx`, so the job's writes and its completion commit
/// together; records the rows the job wrote. False when `worker` no longer holds the lease.
pub async fn complete_job(
    tx: &mut RunTx,
    id: i64,
    worker: &str,
    rows_written: u64,
) -> Result<bool, WitError> {
    let now = Utc::now();
    let sql = "UPDATE queue_jobs SET status = 'completed', finished_at = $3, updated_at = $3, \
        lease_until = NULL, last_error = NULL, rows_written = $4 \
        WHERE id = $1 AND status = 'processing' AND leased_by = $2";
    let conn = tx.conn(Access::HostWrite).await?;
    let done: Result<u64, sqlx::Error> = on_conn!(conn, c => sqlx::query(sql)
        .bind(id)
        .bind(worker)
        .bind(now)
        .bind(i64::try_from(rows_written).unwrap_or(i64::MAX))
        .execute(c)
        .await
        .map(|r| r.rows_affected()));
    match done {
        Ok(n) => Ok(n == 1),
        Err(e) => Err(tx.statement_failed(Access::HostWrite, e).await),
    }
}

/// Links the `queue` interface, over the call's run transaction.
pub fn link<T: super::HasCaps>(
    linker: &mut wasmtime::component::Linker<T>,
) -> wasmtime::Result<()> {
    wit::add_to_linker::<_, QueueData>(linker, |d| {
        let caps = d.caps();
        QueueView {
            cap: &mut caps.queue,
            tx: &mut caps.tx,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> Options {
        Options {
            delay_ms: None,
            max_attempts: None,
            dedup_key: None,
        }
    }

    #[test]
    fn what_the_database_cannot_store_is_refused_as_invalid() {
        let e = check("a\0b", "{}", &opts(), 5).unwrap_err();
        assert!(matches!(e, WitError::Invalid(m) if m.contains("NUL")));
        let dedup = Options {
            dedup_key: Some("k\0".into()),
            ..opts()
        };
        assert!(matches!(
            check("ok", "{}", &dedup, 5),
            Err(WitError::Invalid(_))
        ));
        assert!(check("ok", "{\"a\":1}", &opts(), 5).is_ok());
        assert!(matches!(
            check("ok", "not json", &opts(), 5),
            Err(WitError::Invalid(_))
        ));
        assert!(matches!(
            check("ok", "{}", &opts(), 0),
            Err(WitError::Invalid(_))
        ));
    }
}
