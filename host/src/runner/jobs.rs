//! Delivering queued jobs: lease a batch of due jobs, call the plugin's `handle-job` for each in
//! a fresh instance, and commit each job's writes together with its completion (the jobs that
//! wrote nothing complete together at the end of the batch) — or roll them back and schedule
//! the next attempt (`base · 2^attempts`, capped), or dead-letter it.

use super::invoke::CallSpec;
use super::{Failed, Runner};
use crate::bindings::connector::host::connector_types::Job;
use crate::capabilities::log::CallRef;
use crate::capabilities::queue::complete_job;
use crate::store::{backoff, LeasedJob};
use anyhow::Result;
use chrono::{DateTime, Utc};
use std::time::Instant;

/// How one delivery ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStatus {
    /// Done; its writes are committed.
    Completed,
    /// Failed; it will be tried again.
    Retrying,
    /// Failed for good (no attempts left, or a permanent error): dead letter.
    Failed,
    /// Another worker took the job over (this one's lease had expired); nothing was committed.
    LostLease,
}

impl JobStatus {
    /// A short name for tables and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Completed => "completed",
            JobStatus::Retrying => "retrying",
            JobStatus::Failed => "failed",
            JobStatus::LostLease => "lost-lease",
        }
    }
}

/// What delivering one job left to do.
enum Delivered {
    /// Settled: committed with its writes, or its failure recorded.
    Done(JobOutcome),
    /// Succeeded without writing anything: its completion is recorded with the batch's.
    Unwritten(LeasedJob),
}

/// One delivery.
#[derive(Debug, Clone)]
pub struct JobOutcome {
    /// The job.
    pub job: LeasedJob,
    /// How it ended.
    pub status: JobStatus,
    /// The error, when it failed.
    pub error: Option<String>,
    /// When it will be tried again, when it will.
    pub retry_at: Option<DateTime<Utc>>,
}

/// How many jobs a worker leases at once. It starts at one and doubles (up to
/// [`JobBatch::MAX`]) while jobs finish quickly, so a backlog of short jobs costs one lease
/// statement per batch; after a slow batch it falls back to one, so a slow job never holds
/// others back that another worker could take.
#[derive(Debug, Clone, Copy)]
pub struct JobBatch {
    size: usize,
}

impl Default for JobBatch {
    fn default() -> Self {
        JobBatch { size: 1 }
    }
}

impl JobBatch {
    /// The largest batch.
    pub const MAX: usize = 32;
    /// A batch whose jobs took longer than this each on average was slow.
    const QUICK: std::time::Duration = std::time::Duration::from_millis(20);

    /// A batch of `size` jobs to start with (1 to [`JobBatch::MAX`]).
    pub fn with_size(size: usize) -> Self {
        JobBatch {
            size: size.clamp(1, Self::MAX),
        }
    }

    /// How many jobs to lease next.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Adapts the size to how long `delivered` jobs took.
    fn record(&mut self, delivered: usize, took: std::time::Duration) {
        let full = delivered >= self.size;
        self.size = if delivered > 0 && took / delivered as u32 <= Self::QUICK {
            if full {
                (self.size * 2).min(Self::MAX)
            } else {
                self.size
            }
        } else {
            1
        };
    }
}

impl Runner {
    /// Delivers the next due job of this host's connectors, if any, as worker `worker` at time
    /// `now` (the clock is a parameter so tests can move it).
    pub async fn process_next_job(
        &self,
        worker: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<JobOutcome>> {
        let mut batch = JobBatch::default();
        let mut done = self.work_batch(worker, now, &mut batch, &|| false).await?;
        Ok(done.pop())
    }

    /// Leases a batch of due jobs (as many as `batch` says) as worker `worker` at `now`, and
    /// delivers them one after the other; returns what happened to each. When `stop` turns
    /// true, the jobs not yet started go back to the queue at once, their attempt not counted.
    pub async fn work_batch(
        &self,
        worker: &str,
        now: DateTime<Utc>,
        batch: &mut JobBatch,
        stop: &(dyn Fn() -> bool + Sync),
    ) -> Result<Vec<JobOutcome>> {
        let jobs = self.lease_jobs(worker, now, batch.size()).await?;
        let started = Instant::now();
        // The caller's clock (tests drive it), moving on while the batch is delivered.
        let clock = || now + chrono::Duration::from_std(started.elapsed()).unwrap_or_default();
        let mut done = Vec::with_capacity(jobs.len());
        let mut unwritten = Vec::new();
        let mut held = jobs.into_iter();
        let mut failure = None;
        while let Some(job) = held.next() {
            if stop() {
                let rest: Vec<i64> = std::iter::once(job.id).chain(held.map(|j| j.id)).collect();
                if let Err(e) = self.store.release_leased(&rest, worker, clock()).await {
                    failure = Some(e);
                }
                break;
            }
            match self.deliver_job(job, worker, clock()).await {
                Ok(Delivered::Done(outcome)) => done.push(outcome),
                Ok(Delivered::Unwritten(job)) => unwritten.push(job),
                Err(e) => {
                    let rest: Vec<i64> = held.map(|j| j.id).collect();
                    if let Err(r) = self.store.release_leased(&rest, worker, clock()).await {
                        tracing::warn!(error = format!("{r:#}"), "cannot return queue jobs");
                    }
                    failure = Some(e);
                    break;
                }
            }
        }
        // Jobs that wrote nothing complete together, in one statement.
        if !unwritten.is_empty() {
            let ids: Vec<i64> = unwritten.iter().map(|j| j.id).collect();
            let completed = self.store.complete_jobs(&ids, worker, clock()).await?;
            for job in unwritten {
                let status = if completed.contains(&job.id) {
                    JobStatus::Completed
                } else {
                    JobStatus::LostLease
                };
                done.push(JobOutcome {
                    job,
                    status,
                    error: None,
                    retry_at: None,
                });
            }
            done.sort_by_key(|o| (o.job.run_after, o.job.id));
        }
        if let Some(e) = failure {
            return Err(e);
        }
        batch.record(done.len(), started.elapsed());
        Ok(done)
    }

    /// Leases up to `max` due jobs of this host's unpaused connectors, after returning the
    /// jobs of dead workers to the queue (at most once a second).
    async fn lease_jobs(
        &self,
        worker: &str,
        now: DateTime<Utc>,
        max: usize,
    ) -> Result<Vec<LeasedJob>> {
        // Expired leases are rare (a host died); looking for them once a second is plenty.
        let due = {
            let mut last = self
                .last_lease_recovery
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            let due = last.is_none_or(|t| now < t || now - t >= chrono::Duration::seconds(1));
            if due {
                *last = Some(now);
            }
            due
        };
        if due {
            self.store.recover_expired_leases(now).await?;
        }
        let paused = self.paused_connectors(now).await?;
        let names: Vec<String> = self
            .connectors
            .keys()
            .filter(|c| !paused.contains(c))
            .cloned()
            .collect();
        self.store
            .lease_jobs(&names, worker, now, self.manifest.queue.lease, max)
            .await
    }

    /// Delivers one leased job at `now`: `handle-job` in a fresh instance, then its writes and
    /// completion committed together, or the attempt recorded as failed.
    async fn deliver_job(
        &self,
        job: LeasedJob,
        worker: &str,
        now: DateTime<Utc>,
    ) -> Result<Delivered> {
        let queue = &self.manifest.queue;
        let leased_at = Instant::now();
        let loaded = &self.connectors[&job.connector];
        // A job may run until its lease is nearly up, and never past the connector's timeout.
        let left = (job.lease_until - now).to_std().unwrap_or_default();
        let timeout = loaded.config.timeout.min(left.mul_f64(0.9));
        let wit_job = Job {
            id: job.id as u64,
            kind: job.kind.clone(),
            payload: job.payload.clone(),
            attempt: job.attempts,
        };
        let spec = CallSpec {
            plugin: &loaded.plugin,
            grant: &loaded.grant,
            call: CallRef::Job(job.id),
            fire: None,
            timeout,
            dry_run: false,
        };
        let mut called = self
            .invoke(spec, move |inst, store| {
                Box::pin(async move { inst.call_handle_job(store, &wit_job).await })
            })
            .await;
        let failed = match called.result {
            // Nothing to commit with the completion: it joins the batch's (see `work_batch`).
            Ok(()) if called.data.caps.tx.untouched() => {
                return Ok(Delivered::Unwritten(job));
            }
            Ok(()) => {
                let rows = called.data.caps.db.rows_written;
                match complete_job(&mut called.data.caps.tx, job.id, worker, rows).await {
                    Ok(true) => match self.settle(&mut called.data, true).await {
                        Ok(()) => {
                            return Ok(Delivered::Done(JobOutcome {
                                job,
                                status: JobStatus::Completed,
                                error: None,
                                retry_at: None,
                            }))
                        }
                        Err(f) => f,
                    },
                    Ok(false) => {
                        let _ = self.settle(&mut called.data, false).await;
                        return Ok(Delivered::Done(JobOutcome {
                            job,
                            status: JobStatus::LostLease,
                            error: None,
                            retry_at: None,
                        }));
                    }
                    Err(e) => {
                        let (kind, message) = super::describe_error(&e);
                        Failed::new(
                            crate::store::RunStatus::Failed,
                            kind,
                            format!("the job's completion could not be recorded: {message}"),
                        )
                    }
                }
            }
            Err(f) => f,
        };
        let _ = self.settle(&mut called.data, false).await;
        let permanent = failed.kind == "permanent";
        let error = match failed.kind.as_str() {
            "retry" | "permanent" => failed.message,
            kind => format!("{kind}: {}", failed.message),
        };
        // Back-off counts from the failure, not from when the job was leased.
        let failed_at = now + chrono::Duration::from_std(leased_at.elapsed()).unwrap_or_default();
        let retry_at = (!permanent && job.attempts < job.max_attempts).then(|| {
            failed_at
                + chrono::Duration::from_std(backoff(
                    job.attempts,
                    queue.backoff_base,
                    queue.backoff_cap,
                ))
                .unwrap_or_default()
        });
        self.store
            .fail_attempt(job.id, worker, &error, retry_at, failed_at)
            .await?;
        tracing::warn!(
            connector = %job.connector,
            job_id = job.id,
            kind = %job.kind,
            attempt = job.attempts,
            retry_at = retry_at.map(|t| t.to_rfc3339()),
            error = %error,
            "job failed"
        );
        let status = if retry_at.is_some() {
            JobStatus::Retrying
        } else {
            JobStatus::Failed
        };
        Ok(Delivered::Done(JobOutcome {
            job,
            status,
            error: Some(error),
            retry_at,
        }))
    }

    /// The connectors paused as a whole at `now` (their jobs wait), read at most once a second.
    async fn paused_connectors(&self, now: DateTime<Utc>) -> Result<Vec<String>> {
        {
            let cached = self
                .paused_connectors
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if let Some((at, names)) = cached.as_ref() {
                if now >= *at && now - *at < chrono::Duration::seconds(1) {
                    return Ok(names.clone());
                }
            }
        }
        let names: Vec<String> = self
            .store
            .active_pauses(now)
            .await?
            .into_iter()
            .filter(|p| p.schedule.is_none())
            .map(|p| p.connector)
            .collect();
        *self
            .paused_connectors
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some((now, names.clone()));
        Ok(names)
    }

    /// Delivers due jobs until none is left (or `max` were delivered); returns what happened.
    pub async fn drain_queue(&self, worker: &str, max: usize) -> Result<Vec<JobOutcome>> {
        let mut done = Vec::new();
        let mut batch = JobBatch::default();
        while done.len() < max {
            batch.size = batch.size.min(max - done.len());
            let delivered = self
                .work_batch(worker, Utc::now(), &mut batch, &|| false)
                .await?;
            if delivered.is_empty() {
                break;
            }
            done.extend(delivered);
        }
        Ok(done)
    }
}

#[cfg(test)]
mod tests {
    use super::JobBatch;
    use std::time::Duration;

    #[test]
    fn a_batch_doubles_while_full_and_quick_and_falls_back_to_one_when_slow() {
        let quick = Duration::from_millis(1);
        let mut b = JobBatch::default();
        b.record(1, quick);
        assert_eq!(b.size(), 2);
        b.record(2, quick * 2);
        assert_eq!(b.size(), 4);
        // Fewer jobs were due than asked for: no reason to ask for more.
        b.record(3, quick * 3);
        assert_eq!(b.size(), 4);
        for _ in 0..10 {
            b.record(b.size(), quick);
        }
        assert_eq!(b.size(), JobBatch::MAX);
        // One slow job in the batch is enough to go back to one at a time.
        b.record(JobBatch::MAX, Duration::from_secs(2));
        assert_eq!(b.size(), 1);
        b.record(0, Duration::ZERO);
        assert_eq!(b.size(), 1);
        assert_eq!(JobBatch::with_size(0).size(), 1);
        assert_eq!(JobBatch::with_size(1000).size(), JobBatch::MAX);
    }
}
