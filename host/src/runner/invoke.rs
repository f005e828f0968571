//! One call into a plugin, the same way for runs, webhooks and queue jobs: prepare every
//! capability for the call, call the export in a fresh instance (renewing the run's lease
//! meanwhile), map how it ended, and settle the run transaction: commit what a call that ended
//! well wrote (a dry run rolls back instead), roll back the rest. What a call leaves for its
//! record is redacted here too, so no caller can forget to.

use super::{ActiveGuard, Grant, LoadedConnector, RunOutcome, Runner};
use crate::bindings::connector::host::connector_types::JobError;
use crate::bindings::{Connector, WitError};
use crate::capabilities::{
    config::ConfigCap,
    db::DbCap,
    http::HttpCap,
    log::{sanitize, CallRef, LogBudget, LogCap},
    queue::QueueCap,
    state::StateCap,
    tx::RunTx,
    Caps,
};
use crate::limits;
use crate::runtime::{CallOutcome, Plugin, RunData};
use crate::store::{FireKey, RunStatus};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Why a call did not succeed, as its record shows it (message redacted).
#[derive(Debug, Clone)]
pub struct Failed {
    /// The status the run record gets.
    pub status: RunStatus,
    /// `denied`, `timeout`, `trapped`, `exit`, … (the WIT error kinds and the host's own).
    pub kind: String,
    /// What went wrong, safe to show.
    pub message: String,
}

impl Failed {
    pub(super) fn new(status: RunStatus, kind: &str, message: impl Into<String>) -> Self {
        Failed {
            status,
            kind: kind.to_owned(),
            message: message.into(),
        }
    }
}

/// What an export returns, as success or failure.
pub(super) trait Answer {
    type Value;
    fn into_result(self) -> Result<Self::Value, Failed>;
}

impl<V> Answer for Result<V, WitError> {
    type Value = V;
    fn into_result(self) -> Result<V, Failed> {
        self.map_err(|e| {
            let (kind, message) = describe_error(&e);
            Failed::new(RunStatus::Failed, kind, message)
        })
    }
}

impl Answer for Result<(), JobError> {
    type Value = ();
    fn into_result(self) -> Result<(), Failed> {
        self.map_err(|e| match e {
            JobError::Retry(m) => Failed::new(RunStatus::Failed, "retry", m),
            JobError::Permanent(m) => Failed::new(RunStatus::Failed, "permanent", m),
        })
    }
}

/// One call: what it is, how long it may take, whether it keeps its writes.
pub(super) struct CallSpec<'a> {
    pub plugin: &'a Plugin,
    pub grant: &'a Grant,
    pub call: CallRef,
    /// The run's fire, whose lease the heartbeat renews with the run's.
    pub fire: Option<&'a FireKey>,
    pub timeout: Duration,
    pub dry_run: bool,
}

/// A finished call: its store data (counters, the settled transaction) and its result.
pub(super) struct Called<V> {
    pub data: RunData,
    pub result: Result<V, Failed>,
    pub duration: Duration,
}

/// What a call did, for its record.
#[derive(Debug, Clone, Default)]
pub(super) struct Counts {
    pub http_calls: u64,
    pub rate_limit_wait_ms: u64,
    pub retries: u64,
    pub log_events_dropped: u64,
    /// Authenticated requests that got through, and that were refused.
    pub auth_ok: u64,
    pub auth_failed: u64,
    /// The call's last log events, for the run log.
    pub events: Vec<crate::store::RunEvent>,
    /// Earlier events let go to keep the last ones.
    pub events_omitted: u64,
}

impl Counts {
    pub fn of(data: &RunData) -> Self {
        let caps = &data.caps;
        let (events, events_omitted) = caps.log.take_kept();
        Counts {
            http_calls: caps.http.calls,
            rate_limit_wait_ms: caps.http.rate_limit_wait_ms,
            retries: caps.http.retries,
            log_events_dropped: caps.log.dropped(),
            auth_ok: caps.http.auth_ok,
            auth_failed: caps.http.auth_failed,
            events,
            events_omitted,
        }
    }
}

/// A call that is a run: its record (written already), the connector, and how it runs.
pub(super) struct Recorded<'a> {
    pub run_id: i64,
    pub loaded: &'a LoadedConnector,
    pub job: &'a str,
    pub dry_run: bool,
    /// The fire it serves, whose lease the heartbeat renews with the run's.
    pub fire: Option<&'a FireKey>,
    pub timeout: Duration,
}

/// What a run's answer leaves in its record, once the caller has judged it acceptable.
pub(super) struct Judged<V> {
    pub summary: String,
    pub counters: Vec<(String, u64)>,
    /// What the caller keeps of the answer.
    pub value: V,
}

impl Runner {
    /// The one lifecycle of a run, for scheduled, manual and webhook runs alike: keeps the run
    /// active (progress, shutdown), calls the export `f` under the run's lease, lets `judge`
    /// accept or refuse its answer, settles the transaction (a refused answer rolls back), and
    /// finishes the record. Returns the outcome and the judged value (or why it failed).
    pub(super) async fn recorded<A, F, V>(
        &self,
        call: Recorded<'_>,
        f: F,
        judge: impl FnOnce(A::Value) -> Result<Judged<V>, Failed>,
    ) -> anyhow::Result<(RunOutcome, Result<V, Failed>)>
    where
        A: Answer + Send,
        F: for<'a> FnOnce(
                &'a Connector,
                &'a mut wasmtime::Store<RunData>,
            ) -> std::pin::Pin<
                Box<dyn std::future::Future<Output = wasmtime::Result<A>> + Send + 'a>,
            > + Send,
    {
        let _active = ActiveGuard::new(&self.active, call.run_id);
        let spec = CallSpec {
            plugin: &call.loaded.plugin,
            grant: &call.loaded.grant,
            call: CallRef::Run(call.run_id),
            fire: call.fire,
            timeout: call.timeout,
            dry_run: call.dry_run,
        };
        let mut called = self.invoke(spec, f).await;
        let judged = called.result.and_then(judge);
        let settled = self.settle(&mut called.data, judged.is_ok()).await;
        let judged = judged.and_then(|j| settled.map(|()| j));
        let (summary, counters, value) = match judged {
            Ok(j) => (Some(j.summary), j.counters, Ok(j.value)),
            Err(f) => (None, Vec::new(), Err(f)),
        };
        let failed = value.as_ref().err();
        let outcome = RunOutcome {
            run_id: call.run_id,
            connector: call.loaded.config.name.clone(),
            job: call.job.to_owned(),
            status: failed.map_or(RunStatus::Succeeded, |f| f.status),
            summary,
            counters,
            rows_written: called.data.caps.db.rows_written,
            error_kind: failed.map(|f| f.kind.clone()),
            error_message: failed.map(|f| f.message.clone()),
            dry_run: call.dry_run,
            duration: called.duration,
        };
        let counts = Counts::of(&called.data);
        drop(called.data);
        self.finish(&outcome, counts).await?;
        Ok((outcome, value))
    }

    /// Store data for one call under `grant`: every capability prepared for it.
    pub(super) fn prepare(
        &self,
        grant: &Grant,
        call: CallRef,
        deadline: Instant,
        dry_run: bool,
    ) -> RunData {
        let name = grant.name.clone();
        let mut tx = RunTx::new(
            self.store.clone(),
            deadline,
            dry_run,
            format!("{call} of connector {name}"),
        );
        if matches!(call, CallRef::Job(_)) {
            tx.relax_commit();
        }
        // A run's progress is registered where `connector-host run` can watch it.
        let progress = call
            .run_id()
            .and_then(|id| self.progress(id))
            .unwrap_or_default();
        let caps = Caps {
            tx,
            db: DbCap::new(grant.tables.clone(), progress.clone()),
            state: StateCap::new(name.clone()),
            queue: QueueCap::new(name.clone(), self.manifest.queue.max_attempts),
            log: LogCap::new(
                name.clone(),
                call,
                Arc::new(LogBudget::default()),
                progress.clone(),
            ),
            config: ConfigCap::new(grant.settings.clone()),
            http: HttpCap::new(
                self.http.clone(),
                grant.http.clone(),
                deadline,
                dry_run,
                progress.clone(),
            ),
            progress,
        };
        RunData::new(caps, grant.memory_limit)
    }

    /// Calls the export `f` under `spec` and maps how it ended. The transaction is left as the
    /// call left it: settle it with [`Runner::settle`].
    pub(super) async fn invoke<A, F>(&self, spec: CallSpec<'_>, f: F) -> Called<A::Value>
    where
        A: Answer + Send,
        F: for<'a> FnOnce(
                &'a Connector,
                &'a mut wasmtime::Store<RunData>,
            ) -> std::pin::Pin<
                Box<dyn std::future::Future<Output = wasmtime::Result<A>> + Send + 'a>,
            > + Send,
    {
        let started = Instant::now();
        let data = self.prepare(spec.grant, spec.call, started + spec.timeout, spec.dry_run);
        let call = self.runtime.call(spec.plugin, data, spec.timeout, f);
        let (data, outcome) = match spec.call {
            CallRef::Run(id) => self.with_heartbeat(id, spec.fire, call).await,
            _ => call.await,
        };
        let last_stderr = data.finish_stdio();
        // A plugin that gives up because a host call hit the deadline timed out, whatever error
        // it chose to return.
        let outcome = match outcome {
            CallOutcome::Returned(answer) if started.elapsed() >= spec.timeout => {
                match answer.into_result() {
                    Ok(v) => CallOutcome::Returned(Ok(v)),
                    Err(_) => CallOutcome::Timeout,
                }
            }
            CallOutcome::Returned(answer) => CallOutcome::Returned(answer.into_result()),
            CallOutcome::Trapped(m) => CallOutcome::Trapped(m),
            CallOutcome::Exited(code) => CallOutcome::Exited(code),
            CallOutcome::Timeout => CallOutcome::Timeout,
            CallOutcome::OutOfMemory => CallOutcome::OutOfMemory,
        };
        let result = match outcome {
            CallOutcome::Returned(r) => r,
            CallOutcome::Trapped(m) => Err(Failed::new(
                RunStatus::Trapped,
                "trapped",
                match last_stderr {
                    Some(line) => format!("{m}; the plugin said: {line}"),
                    None => m,
                },
            )),
            CallOutcome::Exited(code) => Err(Failed::new(
                RunStatus::Trapped,
                "exit",
                format!("the plugin called exit({code}) instead of returning"),
            )),
            CallOutcome::Timeout => {
                let mut message = format!(
                    "the call passed its deadline of {}",
                    crate::manifest::format_duration(spec.timeout)
                );
                if let Some(wait) = data.caps.tx.lock_wait() {
                    message.push_str(&format!(" (it {wait})"));
                }
                Err(Failed::new(RunStatus::Timeout, "timeout", message))
            }
            CallOutcome::OutOfMemory => Err(Failed::new(
                RunStatus::OutOfMemory,
                "out-of-memory",
                format!(
                    "the plugin tried to grow its memory past {} bytes",
                    spec.grant.memory_limit
                ),
            )),
        };
        Called {
            data,
            result: result.map_err(|f| self.clean(f)),
            duration: started.elapsed(),
        }
    }

    /// Ends the call's transaction: commits when `keep` (a dry run rolls back all the same),
    /// else rolls back. A commit that fails is the call's failure.
    pub(super) async fn settle(&self, data: &mut RunData, keep: bool) -> Result<(), Failed> {
        let end = if keep {
            data.caps.tx.commit().await
        } else {
            data.caps.tx.rollback().await
        };
        end.map_err(|e| {
            let (kind, message) = describe_error(&e);
            self.clean(Failed::new(
                RunStatus::Failed,
                kind,
                format!("the writes could not be committed: {message}"),
            ))
        })
    }

    /// A failure's message capped, escaped and redacted.
    fn clean(&self, mut f: Failed) -> Failed {
        f.message = self
            .redactor
            .redact(&sanitize(&f.message, limits::ERROR_MESSAGE_BYTES))
            .into_owned();
        f
    }
}

/// A WIT error's kind and message, as recorded in the run log.
pub fn describe_error(e: &WitError) -> (&'static str, String) {
    let cut = |m: &str| limits::truncate(m, limits::ERROR_MESSAGE_BYTES);
    match e {
        WitError::Denied(m) => ("denied", cut(m)),
        WitError::RateLimited(r) => (
            "rate-limited",
            match r.retry_after_ms {
                Some(ms) => format!("rate-limited by {} (retry after {ms} ms)", cut(&r.pool)),
                None => format!("rate-limited by {}", cut(&r.pool)),
            },
        ),
        WitError::Timeout => ("timeout", "an operation timed out".into()),
        WitError::TooLarge => (
            "too-large",
            "a value was larger than the host allows".into(),
        ),
        WitError::Transport(m) => ("transport", cut(m)),
        WitError::Invalid(m) => ("invalid", cut(m)),
        WitError::Internal(m) => ("internal", cut(m)),
        WitError::Unsupported(m) => ("unsupported", cut(m)),
        WitError::Upstream(m) => ("upstream", cut(m)),
    }
}
