//! One host's working set — manifest, database, engine and loaded plugins — and one run of a
//! connector from start record to finish record. The CLI, the scheduler and tests all run
//! connectors through here.

mod jobs;
mod webhook;

pub use crate::runtime::bindings::connector::host::connector_types::Webhook;
pub use jobs::{JobOutcome, JobStatus};
pub use webhook::WebhookOutcome;

use crate::capabilities::{
    config::ConfigCap,
    db::{DbCap, Grants},
    http::{ConnectorHttp, HttpCap, HttpShared},
    log::{sanitize, LogCap},
    stdio::StdioSink,
};
use crate::limits;
use crate::manifest::{ConnectorConfig, Manifest, Secrets};
use crate::runtime::bindings::connector::host::connector_types::{Info, RunContext, Trigger};
use crate::runtime::bindings::connector::host::types::Instant as WitInstant;
use crate::runtime::bindings::WitError;
use crate::runtime::{CacheOutcome, CallOutcome, EngineOptions, Plugin, RunData, Runtime};
use crate::store::{NewRun, RunFinish, RunStatus, Store};
use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Why a run was started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TriggerKind {
    /// A schedule fired.
    Schedule,
    /// A person or an API call asked for it.
    Manual,
    /// Making up for fires missed while the host was down.
    CatchUp,
    /// A retry of a failed run.
    Retry,
    /// A webhook arrived.
    Webhook,
}

impl TriggerKind {
    /// The name stored in the run log.
    pub fn as_str(self) -> &'static str {
        match self {
            TriggerKind::Schedule => "schedule",
            TriggerKind::Manual => "manual",
            TriggerKind::CatchUp => "catch-up",
            TriggerKind::Retry => "retry",
            TriggerKind::Webhook => "webhook",
        }
    }

    fn wit(self) -> Trigger {
        match self {
            TriggerKind::Schedule => Trigger::Schedule,
            TriggerKind::Manual => Trigger::Manual,
            TriggerKind::CatchUp => Trigger::CatchUp,
            TriggerKind::Retry => Trigger::Retry,
            TriggerKind::Webhook => Trigger::Webhook,
        }
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct RunRequest {
    /// The job (`run-context.job`); the plugin's first declared job when `None`.
    pub job: Option<String>,
    /// Why it runs.
    pub trigger: TriggerKind,
    /// The fire time it stands for, if scheduled.
    pub scheduled_for: Option<DateTime<Utc>>,
    /// 1 for a first attempt.
    pub attempt: u32,
    /// Roll back every write at the end and report what would have changed.
    pub dry_run: bool,
    /// The schedule whose fire this run serves (with `scheduled_for`).
    pub schedule: Option<String>,
    /// The deadline, when not the connector's (a schedule's own `timeout`).
    pub timeout: Option<Duration>,
    /// The run's row, when it was recorded already (in bulk, for a tick's fires).
    pub run_id: Option<i64>,
}

impl RunRequest {
    /// A manual run of the default job.
    pub fn manual() -> Self {
        RunRequest {
            job: None,
            trigger: TriggerKind::Manual,
            scheduled_for: None,
            attempt: 1,
            dry_run: false,
            schedule: None,
            timeout: None,
            run_id: None,
        }
    }
}

/// How a run ended, as recorded in the run log.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// The run log's id.
    pub run_id: i64,
    /// The connector that ran.
    pub connector: String,
    /// The job it ran.
    pub job: String,
    /// The final status.
    pub status: RunStatus,
    /// The plugin's summary line, if it returned one.
    pub summary: Option<String>,
    /// The plugin's counters.
    pub counters: Vec<(String, u64)>,
    /// Rows inserted, updated or deleted (for a dry run: that would have been).
    pub rows_written: u64,
    /// `denied`, `timeout`, `trapped`, … when the run did not succeed.
    pub error_kind: Option<String>,
    /// What went wrong, safe to show (secrets redacted).
    pub error_message: Option<String>,
    /// Whether everything was rolled back on purpose.
    pub dry_run: bool,
    /// Wall time of the run.
    pub duration: Duration,
}

/// A loaded connector: its manifest entry, plugin and self-description.
pub struct LoadedConnector {
    /// The manifest entry.
    pub config: ConnectorConfig,
    /// The compiled plugin.
    pub plugin: Plugin,
    /// What the plugin says about itself.
    pub info: Info,
    grants: Arc<Grants>,
    settings: Arc<serde_json::Map<String, serde_json::Value>>,
    http: Arc<ConnectorHttp>,
}

/// A host's working set.
pub struct Runner {
    /// The validated manifest.
    pub manifest: Arc<Manifest>,
    secrets: Arc<Secrets>,
    /// The host database.
    pub store: Store,
    runtime: Arc<Runtime>,
    http: Arc<HttpShared>,
    connectors: BTreeMap<String, LoadedConnector>,
    /// When this host last returned expired queue leases (see `jobs`).
    last_lease_recovery: std::sync::Mutex<Option<DateTime<Utc>>>,
    /// This host's identity in run and fire leases.
    host_id: Arc<str>,
    /// Runs in progress on this host (shared by every generation after a reload).
    active: Arc<ActiveRuns>,
}

/// Errors a caller maps to "bad input" (exit code 2) rather than "the job failed".
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    /// The manifest has no such connector.
    #[error("no connector named {name:?} in the manifest{hint}")]
    UnknownConnector {
        /// What was asked for.
        name: String,
        /// A suggestion, with its leading punctuation, or empty.
        hint: String,
    },
}

/// Engine options derived from the manifest.
pub fn engine_options(manifest: &Manifest) -> EngineOptions {
    EngineOptions {
        pooling: manifest.runtime.pooling,
        max_instances: manifest.runtime.max_instances,
        max_memory_bytes: manifest
            .connectors
            .values()
            .map(|c| c.memory_limit)
            .max()
            .unwrap_or(256 << 20),
        cache_dir: manifest.runtime.cache_dir.clone(),
    }
}

impl Runner {
    /// Connects to the database, migrates it, builds the engine and loads every plugin.
    pub async fn start(manifest: Manifest, secrets: Secrets) -> Result<Runner> {
        let store = Store::connect(&manifest.database_url).await?;
        store.migrate().await?;
        let runtime = Arc::new(Runtime::new(&engine_options(&manifest))?);
        let http = Arc::new(HttpShared::new(&manifest)?);
        Runner::assemble(
            manifest,
            secrets,
            (store, runtime, http),
            new_host_id(),
            Arc::default(),
        )
        .await
    }

    /// A new working set for a changed manifest, sharing what did not change with `self`: the
    /// database pools (same URL), the engine (same options), rate-limit pools (same quota),
    /// the host id and the set of active runs. Runs in progress keep the old set; nothing of
    /// `self` is modified, so on error the caller simply keeps using it.
    pub async fn reload(&self, manifest: Manifest, secrets: Secrets) -> Result<Runner> {
        let store = if manifest.database_url == self.manifest.database_url {
            self.store.clone()
        } else {
            let store = Store::connect(&manifest.database_url).await?;
            store.migrate().await?;
            store
        };
        let options = engine_options(&manifest);
        let runtime = if options == engine_options(&self.manifest) {
            self.runtime.clone()
        } else {
            Arc::new(Runtime::new(&options)?)
        };
        let http = Arc::new(self.http.reloaded(&self.manifest, &manifest));
        Runner::assemble(
            manifest,
            secrets,
            (store, runtime, http),
            self.host_id.clone(),
            self.active.clone(),
        )
        .await
    }

    /// A working set from its parts, with every connector's plugin loaded.
    async fn assemble(
        manifest: Manifest,
        secrets: Secrets,
        (store, runtime, http): (Store, Arc<Runtime>, Arc<HttpShared>),
        host_id: Arc<str>,
        active: Arc<ActiveRuns>,
    ) -> Result<Runner> {
        http.share_limits_through(&store);
        let mut runner = Runner {
            manifest: Arc::new(manifest),
            secrets: Arc::new(secrets),
            store,
            runtime,
            http,
            connectors: BTreeMap::new(),
            last_lease_recovery: std::sync::Mutex::new(None),
            host_id,
            active,
        };
        let configs: Vec<ConnectorConfig> = runner.manifest.connectors.values().cloned().collect();
        for config in configs {
            let loaded = runner.load_connector(config).await?;
            runner.connectors.insert(loaded.config.name.clone(), loaded);
        }
        Ok(runner)
    }

    async fn load_connector(&self, config: ConnectorConfig) -> Result<LoadedConnector> {
        let started = Instant::now();
        let plugin = self
            .runtime
            .load(&config.plugin)
            .with_context(|| format!("connector {}", config.name))?;
        let info = self.describe(&config, &plugin).await.with_context(|| {
            format!(
                "connector {}: the plugin's describe export failed",
                config.name
            )
        })?;
        tracing::info!(
            connector = %config.name,
            plugin = %config.plugin.display(),
            version = %info.version,
            cache = ?plugin.cache,
            load_ms = started.elapsed().as_millis() as u64,
            "plugin loaded"
        );
        let http = self
            .http
            .connector(&config, &self.secrets)
            .with_context(|| format!("connector {}: auth profiles", config.name))?;
        Ok(LoadedConnector {
            http: Arc::new(http),
            grants: Arc::new(Grants::new(&config.tables)),
            settings: Arc::new(config.settings.clone()),
            config,
            plugin,
            info,
        })
    }

    async fn describe(&self, config: &ConnectorConfig, plugin: &Plugin) -> Result<Info> {
        let name: Arc<str> = Arc::from(config.name.as_str());
        let data = RunData::new(
            LogCap::new(name.clone(), 0),
            ConfigCap::new(Arc::new(config.settings.clone())),
            DbCap::new(
                name.clone(),
                Arc::new(Grants::default()),
                self.store.clone(),
                Instant::now() + Duration::from_secs(10),
            ),
            HttpCap::new(
                self.http.clone(),
                Arc::new(ConnectorHttp::none()),
                Instant::now() + Duration::from_secs(10),
                true,
            ),
            config.memory_limit,
            StdioSink::pair(name, 0),
        );
        let (_data, outcome) = self
            .runtime
            .call(plugin, data, Duration::from_secs(10), |inst, store| {
                Box::pin(inst.call_describe(store))
            })
            .await;
        match outcome {
            CallOutcome::Returned(info) => Ok(info),
            CallOutcome::Trapped(m) => anyhow::bail!("trapped: {m}"),
            CallOutcome::Timeout => anyhow::bail!("did not return within 10s"),
            CallOutcome::OutOfMemory => anyhow::bail!("ran out of memory"),
        }
    }

    /// The loaded connectors, by name.
    pub fn connectors(&self) -> &BTreeMap<String, LoadedConnector> {
        &self.connectors
    }

    /// How each plugin was loaded (cache hit or compile), by connector.
    pub fn cache_outcomes(&self) -> Vec<(String, CacheOutcome)> {
        self.connectors
            .iter()
            .map(|(n, c)| (n.clone(), c.plugin.cache))
            .collect()
    }

    /// Problems between what plugins declare and what the manifest grants (for `validate`).
    pub fn grant_problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for (name, c) in &self.connectors {
            for table in &c.info.tables {
                if !c.grants.allows(&table.to_ascii_lowercase()) {
                    problems.push(format!(
                        "connectors.{name}.tables: the plugin uses table {table:?}, which is not granted; add it to tables"
                    ));
                }
            }
        }
        problems
    }

    /// Runs `connector` once and records the run.
    pub async fn run(&self, connector: &str, req: RunRequest) -> Result<RunOutcome> {
        let loaded = self.connectors.get(connector).ok_or_else(|| {
            let hint =
                crate::suggest::closest(connector, self.connectors.keys().map(String::as_str))
                    .map(|s| format!("; did you mean {s:?}?"))
                    .unwrap_or_default();
            RunnerError::UnknownConnector {
                name: connector.to_owned(),
                hint,
            }
        })?;
        let job = req
            .job
            .clone()
            .or_else(|| loaded.info.jobs.first().cloned())
            .unwrap_or_else(|| "run".to_owned());
        let started_at = Utc::now();
        let started = Instant::now();
        let lease = self.manifest.runtime.run_lease;
        let run_id = match req.run_id {
            Some(id) => id,
            None => {
                self.store
                    .insert_run(&NewRun {
                        connector,
                        job: &job,
                        trigger: req.trigger.as_str(),
                        scheduled_for: req.scheduled_for,
                        attempt: req.attempt,
                        dry_run: req.dry_run,
                        started_at,
                        schedule: req.schedule.as_deref(),
                        host: &self.host_id,
                        lease_until: started_at
                            + chrono::Duration::from_std(lease).unwrap_or_default(),
                    })
                    .await?
            }
        };
        let _active = ActiveGuard::new(&self.active, run_id);
        let fire = match (&req.schedule, req.scheduled_for) {
            (Some(schedule), Some(scheduled_for)) => Some(crate::store::FireKey {
                connector: connector.to_owned(),
                schedule: schedule.clone(),
                scheduled_for,
            }),
            _ => None,
        };
        let timeout = req.timeout.unwrap_or(loaded.config.timeout);
        let deadline = Instant::now() + timeout;
        let name: Arc<str> = Arc::from(connector);
        let data = RunData::new(
            LogCap::new(name.clone(), run_id),
            ConfigCap::new(loaded.settings.clone()),
            DbCap::new(
                name.clone(),
                loaded.grants.clone(),
                self.store.clone(),
                deadline,
            ),
            HttpCap::new(
                self.http.clone(),
                loaded.http.clone(),
                deadline,
                req.dry_run,
            ),
            loaded.config.memory_limit,
            StdioSink::pair(name, run_id),
        );
        let ctx = RunContext {
            run_id: run_id as u64,
            job: job.clone(),
            trigger: req.trigger.wit(),
            scheduled_for: req.scheduled_for.map(|t| WitInstant {
                seconds: t.timestamp(),
                nanoseconds: t.timestamp_subsec_nanos(),
            }),
            attempt: req.attempt,
            dry_run: req.dry_run,
        };
        let call = self
            .runtime
            .call(&loaded.plugin, data, timeout, move |inst, store| {
                Box::pin(async move { inst.call_run(store, &ctx).await })
            });
        let (mut data, outcome) = self.with_heartbeat(run_id, fire.as_ref(), call).await;
        let last_stderr = data.finish_stdio();
        // A plugin that gives up because a host call hit the deadline timed out, whatever error
        // it chose to return.
        let outcome = match outcome {
            CallOutcome::Returned(Err(_)) if started.elapsed() >= timeout => CallOutcome::Timeout,
            other => other,
        };

        let mut summary = None;
        let mut counters = Vec::new();
        let memory = loaded.config.memory_limit;
        let (mut status, mut error_kind, mut error_message) =
            match call_result(outcome, last_stderr, timeout, memory) {
                Ok(s) => {
                    summary = Some(limits::truncate(&s.message, limits::SUMMARY_MESSAGE_BYTES));
                    counters = s
                        .counters
                        .into_iter()
                        .take(limits::SUMMARY_COUNTERS)
                        .collect();
                    (RunStatus::Succeeded, None, None)
                }
                Err((status, kind, message)) => (status, Some(kind), Some(message)),
            };

        let end = if status.is_success() && !req.dry_run {
            data.db.commit().await
        } else {
            data.db.rollback().await
        };
        if let Err(e) = end {
            status = RunStatus::Failed;
            let (kind, message) = describe_error(&e);
            error_kind = Some(kind.to_owned());
            error_message = Some(format!(
                "the run's writes could not be committed: {message}"
            ));
        }

        let error_message =
            error_message.map(|m| self.redact(&sanitize(&m, limits::ERROR_MESSAGE_BYTES)));
        let summary = summary.map(|s| self.redact(&s));
        let finish = RunFinish {
            status,
            finished_at: Utc::now(),
            duration_ms: started.elapsed().as_millis() as u64,
            rows_written: data.db.rows_written,
            http_calls: data.http.calls,
            rate_limit_wait_ms: data.http.rate_limit_wait_ms,
            retries: data.http.retries,
            error_kind: error_kind.clone(),
            error_message: error_message.clone(),
            summary: summary.clone(),
            counters: serde_json::Value::Object(
                counters
                    .iter()
                    .map(|(k, v)| (sanitize(k, 64), serde_json::Value::from(*v)))
                    .collect(),
            ),
        };
        if !self.store.finish_run(run_id, &finish).await? {
            tracing::warn!(
                connector,
                run_id,
                "the run ended after it was marked abandoned or interrupted; its record keeps that status"
            );
        }
        let outcome = RunOutcome {
            run_id,
            connector: connector.to_owned(),
            job,
            status,
            summary,
            counters,
            rows_written: data.db.rows_written,
            error_kind,
            error_message,
            dry_run: req.dry_run,
            duration: started.elapsed(),
        };
        tracing::info!(
            connector,
            run_id,
            job = %outcome.job,
            status = outcome.status.as_str(),
            rows_written = outcome.rows_written,
            duration_ms = outcome.duration.as_millis() as u64,
            error_kind = outcome.error_kind.as_deref(),
            "run finished"
        );
        Ok(outcome)
    }

    /// Awaits `work` while renewing run `run_id`'s lease every third of `run_lease`.
    async fn with_heartbeat<T>(
        &self,
        run_id: i64,
        fire: Option<&crate::store::FireKey>,
        work: impl std::future::Future<Output = T>,
    ) -> T {
        let lease = self.manifest.runtime.run_lease;
        let beat = async {
            let mut ticks = tokio::time::interval(lease / 3);
            ticks.tick().await;
            loop {
                ticks.tick().await;
                let until = Utc::now() + chrono::Duration::from_std(lease).unwrap_or_default();
                match self.store.renew_run_lease(run_id, fire, until).await {
                    Ok(true) => {}
                    Ok(false) => tracing::warn!(
                        run_id,
                        "the run's lease was lost: another host marked it abandoned"
                    ),
                    Err(e) => tracing::warn!(run_id, error = %e, "cannot renew the run's lease"),
                }
            }
        };
        tokio::pin!(work);
        tokio::select! {
            out = &mut work => out,
            never = beat => never,
        }
    }

    /// The resolved secrets (for the HTTP server's credential checks; never formatted).
    pub(crate) fn secrets(&self) -> &Secrets {
        &self.secrets
    }

    /// This host's identity in leases (`hostname:pid:random`).
    pub fn host_id(&self) -> &str {
        &self.host_id
    }

    /// Ids of the runs in progress on this host.
    pub fn active_runs(&self) -> Vec<i64> {
        self.active
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .copied()
            .collect()
    }

    /// Store data for one call into `loaded`'s plugin.
    fn run_data(
        &self,
        loaded: &LoadedConnector,
        run_id: i64,
        deadline: Instant,
        dry_run: bool,
    ) -> RunData {
        let name: Arc<str> = Arc::from(loaded.config.name.as_str());
        let mut db = DbCap::new(
            name.clone(),
            loaded.grants.clone(),
            self.store.clone(),
            deadline,
        );
        db.default_max_attempts = self.manifest.queue.max_attempts;
        RunData::new(
            LogCap::new(name.clone(), run_id),
            ConfigCap::new(loaded.settings.clone()),
            db,
            HttpCap::new(self.http.clone(), loaded.http.clone(), deadline, dry_run),
            loaded.config.memory_limit,
            StdioSink::pair(name, run_id),
        )
    }

    /// Replaces every secret value in `text`.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for secret in self.secrets.values() {
            if !secret.is_empty() && out.contains(secret) {
                out = out.replace(secret, "[redacted]");
            }
        }
        out
    }

    /// Closes the database pools.
    pub async fn shutdown(&self) {
        self.store.close().await;
    }
}

/// Ids of the runs in progress on one host.
type ActiveRuns = std::sync::Mutex<std::collections::BTreeSet<i64>>;

/// Keeps a run id in the host's active set for as long as it lives (also when the run's future
/// is dropped mid-way).
struct ActiveGuard<'a> {
    set: &'a ActiveRuns,
    id: i64,
}

impl<'a> ActiveGuard<'a> {
    fn new(set: &'a ActiveRuns, id: i64) -> Self {
        set.lock().unwrap_or_else(|p| p.into_inner()).insert(id);
        ActiveGuard { set, id }
    }
}

impl Drop for ActiveGuard<'_> {
    fn drop(&mut self) {
        self.set
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.id);
    }
}

/// `hostname:pid:random`, unique per process.
fn new_host_id() -> Arc<str> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "host".to_owned());
    Arc::from(format!(
        "{name}:{}:{:04x}",
        std::process::id(),
        fastrand::u16(..)
    ))
}

/// A call's value, or the status, error kind and message it leaves on the run record.
fn call_result<T>(
    outcome: CallOutcome<Result<T, WitError>>,
    last_stderr: Option<String>,
    timeout: Duration,
    memory_limit: u64,
) -> Result<T, (RunStatus, String, String)> {
    match outcome {
        CallOutcome::Returned(Ok(value)) => Ok(value),
        CallOutcome::Returned(Err(e)) => {
            let (kind, message) = describe_error(&e);
            Err((RunStatus::Failed, kind.to_owned(), message))
        }
        CallOutcome::Trapped(m) => {
            let message = match last_stderr {
                Some(line) => format!("{m}; the plugin said: {line}"),
                None => m,
            };
            Err((RunStatus::Trapped, "trapped".into(), message))
        }
        CallOutcome::Timeout => Err((
            RunStatus::Timeout,
            "timeout".into(),
            format!("the run passed its deadline of {timeout:?}"),
        )),
        CallOutcome::OutOfMemory => Err((
            RunStatus::OutOfMemory,
            "out-of-memory".into(),
            format!("the plugin tried to grow its memory past {memory_limit} bytes"),
        )),
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
