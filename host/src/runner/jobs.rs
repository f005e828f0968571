//! Delivering queued jobs: lease the next due job, call the plugin's `handle-job` in a fresh
//! instance, and commit the job's writes together with its completion — or roll them back and
//! schedule the next attempt (`base · 2^attempts`, capped), or dead-letter it.

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

impl Runner {
    /// Delivers the next due job of this host's connectors, if any, as worker `worker` at time
    /// `now` (the clock is a parameter so tests can move it).
    pub async fn process_next_job(
        &self,
        worker: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<JobOutcome>> {
        let queue = &self.manifest.queue;
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
        let Some(job) = self
            .store
            .lease_job(&names, worker, now, queue.lease)
            .await?
        else {
            return Ok(None);
        };
        let leased_at = Instant::now();
        let loaded = &self.connectors[&job.connector];
        // A job may run until its lease is nearly up, and never past the connector's timeout.
        let timeout = loaded.config.timeout.min(queue.lease.mul_f64(0.9));
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
            Ok(()) => {
                let rows = called.data.caps.db.rows_written;
                match complete_job(&mut called.data.caps.tx, job.id, worker, rows).await {
                    Ok(true) => match self.settle(&mut called.data, true).await {
                        Ok(()) => {
                            return Ok(Some(JobOutcome {
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
                        return Ok(Some(JobOutcome {
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
        Ok(Some(JobOutcome {
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
        while done.len() < max {
            match self.process_next_job(worker, Utc::now()).await? {
                Some(outcome) => done.push(outcome),
                None => break,
            }
        }
        Ok(done)
    }
}
