//! One host's working set — manifest, database, engine and loaded plugins — and the runs,
//! webhooks and queue jobs it performs. The CLI, the scheduler, the HTTP server and tests all
//! call connectors through here; every call goes the one way `invoke` describes.

mod inspect;
mod invoke;
mod jobs;
mod schema;
mod webhook;

pub use crate::bindings::connector::host::connector_types::Webhook;
pub use inspect::{InspectedMigration, Inspection};
pub use invoke::{describe_error, Failed};
pub use jobs::{JobBatch, JobOutcome, JobStatus};
pub use webhook::WebhookOutcome;

use crate::bindings::connector::host::connector_types::{Info, RunContext, Trigger};
use crate::bindings::connector::host::types::Instant as WitInstant;
use crate::capabilities::{
    db::Grants,
    http::{ConnectorHttp, HttpShared},
    log::{sanitize, CallRef},
};
use crate::limits;
use crate::manifest::{ConnectorConfig, Manifest, Secrets};
use crate::redact::Redactor;
use crate::runtime::{CacheOutcome, EngineOptions, Plugin, Runtime};
use crate::store::{FireClaim, FireKey, NewRun, RunFinish, RunStatus, Store, TriggerKind};
use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use invoke::{CallSpec, Counts, Judged, Recorded};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The trigger as the plugin sees it (a backfill is a catch-up to it).
fn wit_trigger(kind: TriggerKind) -> Trigger {
    match kind {
        TriggerKind::Schedule => Trigger::Schedule,
        TriggerKind::Manual => Trigger::Manual,
        TriggerKind::CatchUp => Trigger::CatchUp,
        TriggerKind::Retry => Trigger::Retry,
        TriggerKind::Webhook => Trigger::Webhook,
        TriggerKind::Backfill => Trigger::CatchUp,
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
    /// JSON the run carries to the plugin (`run-context.input`); manual runs only.
    pub input: Option<String>,
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
            input: None,
        }
    }
}

/// How a run ended, as recorded in the run log (and answered by `POST /connectors/{name}/run`).
#[derive(Debug, Clone, serde::Serialize)]
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
    /// The plugin's counters (a JSON object).
    #[serde(serialize_with = "counters_object")]
    pub counters: Vec<(String, u64)>,
    /// Rows inserted, updated or deleted (for a dry run: that would have been).
    pub rows_written: u64,
    /// `denied`, `timeout`, `trapped`, … when the run did not succeed.
    pub error_kind: Option<String>,
    /// What went wrong, safe to show (secrets redacted).
    pub error_message: Option<String>,
    /// Whether everything was rolled back on purpose.
    pub dry_run: bool,
    /// Wall time of the run (`duration_ms` in JSON).
    #[serde(rename = "duration_ms", serialize_with = "millis")]
    pub duration: Duration,
}

fn counters_object<S: serde::Serializer>(c: &[(String, u64)], s: S) -> Result<S::Ok, S::Error> {
    s.collect_map(c.iter().map(|(k, v)| (k, v)))
}

fn millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A loaded connector: its manifest entry, plugin and self-description.
pub struct LoadedConnector {
    /// The manifest entry.
    pub config: ConnectorConfig,
    /// The compiled plugin.
    pub plugin: Plugin,
    /// What the plugin says about itself.
    pub info: Info,
    grant: Grant,
}

/// What a connector's calls may use, resolved from its manifest entry.
struct Grant {
    name: Arc<str>,
    tables: Arc<Grants>,
    settings: Arc<serde_json::Map<String, serde_json::Value>>,
    http: Arc<ConnectorHttp>,
    memory_limit: u64,
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
    /// Every secret form this host knows, for logs, records, errors and responses.
    redactor: Arc<Redactor>,
    connectors: BTreeMap<String, LoadedConnector>,
    /// When this host last returned expired queue leases (see `jobs`).
    last_lease_recovery: std::sync::Mutex<Option<DateTime<Utc>>>,
    /// The connectors paused as a whole, as read at the instant given (queue workers look at
    /// most once a second).
    paused_connectors: std::sync::Mutex<Option<(DateTime<Utc>, Vec<String>)>>,
    /// This host's identity in run and fire leases.
    host_id: Arc<str>,
    /// Runs in progress on this host (shared by every generation after a reload).
    active: Arc<ActiveRuns>,
}

/// Checks a run's input: JSON, within its cap.
fn check_input(input: &str) -> Result<(), RunnerError> {
    if input.len() > limits::RUN_INPUT_BYTES {
        return Err(RunnerError::BadInput(format!(
            "the run's input is {} bytes; the limit is {}",
            input.len(),
            limits::RUN_INPUT_BYTES
        )));
    }
    serde_json::from_str::<serde_json::Value>(input)
        .map(drop)
        .map_err(|e| RunnerError::BadInput(format!("the run's input is not JSON: {e}")))
}

/// Errors a caller maps to "bad input" (exit code 2) rather than "the job failed".
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    /// The run's input is not acceptable.
    #[error("{0}")]
    BadInput(String),
    /// The plugin declares no such job.
    #[error("connector {connector} has no job {job:?}{hint}")]
    UnknownJob {
        /// The connector.
        connector: String,
        /// What was asked for.
        job: String,
        /// A suggestion or the jobs it has, with its leading punctuation.
        hint: String,
    },
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
        let redactor = Arc::new(Redactor::new(secrets.values()));
        let http = Arc::new(HttpShared::new(&manifest, redactor.clone())?);
        Runner::assemble(
            manifest,
            secrets,
            (store, runtime, http, redactor),
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
        let redactor = Arc::new(Redactor::new(secrets.values()));
        let http = Arc::new(
            self.http
                .reloaded(&self.manifest, &manifest, redactor.clone()),
        );
        Runner::assemble(
            manifest,
            secrets,
            (store, runtime, http, redactor),
            self.host_id.clone(),
            self.active.clone(),
        )
        .await
    }

    /// A working set from its parts, with every connector's plugin loaded.
    async fn assemble(
        manifest: Manifest,
        secrets: Secrets,
        (store, runtime, http, redactor): (Store, Arc<Runtime>, Arc<HttpShared>, Arc<Redactor>),
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
            redactor,
            connectors: BTreeMap::new(),
            last_lease_recovery: std::sync::Mutex::new(None),
            paused_connectors: std::sync::Mutex::new(None),
            host_id,
            active,
        };
        let configs: Vec<ConnectorConfig> = runner.manifest.connectors.values().cloned().collect();
        let mut problems = Vec::new();
        for config in configs {
            let name = config.name.clone();
            match runner.load_connector(config).await {
                Ok(loaded) => {
                    runner.connectors.insert(name, loaded);
                }
                Err(e) => {
                    // One line each: compiler errors can span several.
                    let text = format!("{e:#}");
                    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
                    problems.push(format!("connectors.{name}.plugin: {text}"));
                }
            }
        }
        problems.extend(runner.check_and_migrate().await);
        if !problems.is_empty() {
            return Err(crate::manifest::ManifestError::Invalid {
                path: runner.manifest.path.clone(),
                problems,
            }
            .into());
        }
        Ok(runner)
    }

    async fn load_connector(&self, config: ConnectorConfig) -> Result<LoadedConnector> {
        let started = Instant::now();
        let plugin = self
            .runtime
            .load(&config.plugin, config.sha256.as_deref())?;
        let name: Arc<str> = Arc::from(config.name.as_str());
        let settings = Arc::new(config.settings.clone());
        // `describe` gets the settings and nothing else: no table, no host, no credential.
        let bare = Grant {
            name: name.clone(),
            tables: Arc::new(Grants::default()),
            settings: settings.clone(),
            http: Arc::new(ConnectorHttp::none()),
            memory_limit: config.memory_limit,
        };
        let info = self
            .describe(&plugin, &bare)
            .await
            .context("the plugin's describe export failed")?;
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
            .context("auth profiles")?;
        Ok(LoadedConnector {
            grant: Grant {
                name,
                tables: Arc::new(Grants::new(&config.tables)),
                settings,
                http: Arc::new(http),
                memory_limit: config.memory_limit,
            },
            config,
            plugin,
            info,
        })
    }

    async fn describe(&self, plugin: &Plugin, grant: &Grant) -> Result<Info> {
        let spec = CallSpec {
            plugin,
            grant,
            call: CallRef::Describe,
            fire: None,
            timeout: Duration::from_secs(10),
            dry_run: true,
        };
        let mut called = self
            .invoke::<Result<Info, crate::bindings::WitError>, _>(spec, |inst, store| {
                Box::pin(async move { inst.call_describe(store).await.map(Ok) })
            })
            .await;
        let _ = self.settle(&mut called.data, false).await;
        called
            .result
            .map_err(|f| anyhow::anyhow!("{}: {}", f.kind, f.message))
    }

    /// Calls `connector`'s `describe` again, the way every call goes (for benchmarks).
    #[doc(hidden)]
    pub async fn describe_connector(&self, connector: &str) -> Result<Info> {
        let loaded = self.loaded(connector)?;
        self.describe(&loaded.plugin, &loaded.grant).await
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

    /// The loaded connector `name`, or an error that suggests the name meant.
    fn loaded(&self, name: &str) -> Result<&LoadedConnector, RunnerError> {
        self.connectors.get(name).ok_or_else(|| {
            let hint = crate::suggest::closest(name, self.connectors.keys().map(String::as_str))
                .map(|s| format!("; did you mean {s:?}?"))
                .unwrap_or_default();
            RunnerError::UnknownConnector {
                name: name.to_owned(),
                hint,
            }
        })
    }

    /// The job a request runs: the one it names (which the plugin must declare, when it
    /// declares jobs), else the plugin's first declared job.
    fn job_of(loaded: &LoadedConnector, req: &RunRequest) -> Result<String, RunnerError> {
        let jobs = &loaded.info.jobs;
        match &req.job {
            Some(job)
                if req.trigger == TriggerKind::Webhook || jobs.is_empty() || jobs.contains(job) =>
            {
                Ok(job.clone())
            }
            Some(job) => {
                let hint = crate::suggest::closest(job, jobs.iter().map(String::as_str))
                    .map(|s| format!("; did you mean {s:?}?"))
                    .unwrap_or_else(|| format!("; its jobs are {}", jobs.join(", ")));
                Err(RunnerError::UnknownJob {
                    connector: loaded.config.name.clone(),
                    job: job.clone(),
                    hint,
                })
            }
            None => Ok(jobs.first().cloned().unwrap_or_else(|| "run".to_owned())),
        }
    }

    /// Records run `req` of `connector` as started and returns its id, for a caller that must
    /// answer with the id before the run ends; pass it on in `req.run_id`.
    pub async fn begin_run(&self, connector: &str, req: &RunRequest) -> Result<i64> {
        let loaded = self.loaded(connector)?;
        if let Some(input) = &req.input {
            check_input(input)?;
        }
        let job = Self::job_of(loaded, req)?;
        let started_at = Utc::now();
        self.store
            .insert_run(&NewRun {
                connector,
                job: &job,
                trigger: req.trigger,
                scheduled_for: req.scheduled_for,
                attempt: req.attempt,
                dry_run: req.dry_run,
                started_at,
                schedule: req.schedule.as_deref(),
                host: &self.host_id,
                lease_until: started_at + self.lease(),
                input: req.input.as_deref(),
            })
            .await
    }

    /// The run lease (`runtime.run_lease`) as a `chrono` duration, the one place it is converted.
    pub fn lease(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.manifest.runtime.run_lease).unwrap_or_default()
    }

    /// Records the runs of fires this host won, `(job, fire)` each, in one go (one row per run
    /// would queue a thousand simultaneous fires behind each other); `None` each if that
    /// fails, and each run then records itself when it starts.
    pub async fn record_fire_runs(&self, fires: &[(&str, &FireClaim)]) -> Vec<Option<i64>> {
        let now = Utc::now();
        let rows: Vec<NewRun> = fires
            .iter()
            .map(|(job, claim)| NewRun {
                connector: &claim.key.connector,
                job,
                trigger: claim.trigger,
                scheduled_for: Some(claim.key.scheduled_for),
                attempt: 1,
                dry_run: false,
                started_at: now,
                schedule: Some(&claim.key.schedule),
                host: self.host_id(),
                lease_until: now + self.lease(),
                input: None,
            })
            .collect();
        match self.store.insert_fire_runs(&rows).await {
            Ok(ids) => ids.into_iter().map(Some).collect(),
            Err(e) => {
                tracing::warn!(error = format!("{e:#}"), "cannot record runs in bulk");
                vec![None; fires.len()]
            }
        }
    }

    /// Runs `connector` once and records the run.
    pub async fn run(&self, connector: &str, req: RunRequest) -> Result<RunOutcome> {
        let target = self
            .loaded(connector)
            .and_then(|loaded| Ok((loaded, Self::job_of(loaded, &req)?)));
        let (loaded, job) = match target {
            Ok(target) => target,
            Err(e) => {
                if let Some(id) = req.run_id {
                    // Its row was written ahead (a tick's fires are recorded in bulk): close
                    // it rather than leave it to expire.
                    let message = self.redact(&e.to_string());
                    if let Err(e) = self.store.fail_unstarted_run(id, &message).await {
                        tracing::warn!(run = id, error = format!("{e:#}"), "cannot close a run");
                    }
                }
                return Err(e.into());
            }
        };
        let fire = match (&req.schedule, req.scheduled_for) {
            (Some(schedule), Some(scheduled_for)) => Some(FireKey {
                connector: connector.to_owned(),
                schedule: schedule.clone(),
                scheduled_for,
            }),
            _ => None,
        };
        let run_id = match req.run_id {
            Some(id) => id,
            None => self.begin_run(connector, &req).await?,
        };
        let ctx = RunContext {
            run_id: run_id as u64,
            job: job.clone(),
            trigger: wit_trigger(req.trigger),
            scheduled_for: req.scheduled_for.map(|t| WitInstant {
                seconds: t.timestamp(),
                nanoseconds: t.timestamp_subsec_nanos(),
            }),
            attempt: req.attempt,
            dry_run: req.dry_run,
            input: req.input.clone(),
        };
        let call = Recorded {
            run_id,
            loaded,
            job: &job,
            dry_run: req.dry_run,
            fire: fire.as_ref(),
            timeout: req.timeout.unwrap_or(loaded.config.timeout),
        };
        let (outcome, _) = self
            .recorded(
                call,
                move |inst, store| Box::pin(async move { inst.call_run(store, &ctx).await }),
                |summary| {
                    Ok(Judged {
                        summary: self
                            .redactor
                            .redact(&limits::truncate(
                                &summary.message,
                                limits::SUMMARY_MESSAGE_BYTES,
                            ))
                            .into_owned(),
                        counters: summary
                            .counters
                            .into_iter()
                            .take(limits::SUMMARY_COUNTERS)
                            .collect(),
                        value: (),
                    })
                },
            )
            .await?;
        Ok(outcome)
    }

    /// Records how run `o` ended and logs it: at INFO when it succeeded, at WARN with its
    /// (redacted) error when it did not.
    async fn finish(&self, o: &RunOutcome, counts: Counts) -> Result<()> {
        let finish = RunFinish {
            status: o.status,
            finished_at: Utc::now(),
            duration_ms: o.duration.as_millis() as u64,
            rows_written: o.rows_written,
            http_calls: counts.http_calls,
            rate_limit_wait_ms: counts.rate_limit_wait_ms,
            retries: counts.retries,
            log_events_dropped: counts.log_events_dropped,
            auth_ok: counts.auth_ok,
            auth_failed: counts.auth_failed,
            error_kind: o.error_kind.clone(),
            error_message: o.error_message.clone(),
            summary: o.summary.clone(),
            counters: serde_json::Value::Object(
                o.counters
                    .iter()
                    .map(|(k, v)| (sanitize(k, 64), serde_json::Value::from(*v)))
                    .collect(),
            ),
        };
        if !self.store.finish_run(o.run_id, &finish).await? {
            tracing::warn!(
                connector = %o.connector,
                run_id = o.run_id,
                "the run ended after it was marked abandoned or interrupted; its record keeps that status"
            );
        }
        if !counts.events.is_empty() || counts.events_omitted > 0 {
            // What the plugin logged may quote a secret an upstream echoed.
            let events: Vec<_> = counts
                .events
                .into_iter()
                .map(|mut e| {
                    e.message = self.redact(&e.message);
                    e.fields = e.fields.map(|f| self.redact(&f));
                    e
                })
                .collect();
            if let Err(e) = self
                .store
                .add_run_events(o.run_id, &events, counts.events_omitted)
                .await
            {
                tracing::warn!(
                    run_id = o.run_id,
                    error = format!("{e:#}"),
                    "cannot keep the run's log events"
                );
            }
        }
        let duration_ms = finish.duration_ms;
        match (&o.error_kind, &o.error_message) {
            (Some(kind), Some(message)) => tracing::warn!(
                connector = %o.connector,
                run_id = o.run_id,
                job = %o.job,
                status = o.status.as_str(),
                error_kind = %kind,
                rows_written = o.rows_written,
                duration_ms,
                "run {}: {message}",
                o.status.as_str()
            ),
            _ => tracing::info!(
                connector = %o.connector,
                run_id = o.run_id,
                job = %o.job,
                status = o.status.as_str(),
                rows_written = o.rows_written,
                dry_run = o.dry_run,
                duration_ms,
                "run finished"
            ),
        }
        Ok(())
    }

    /// Awaits `work` while renewing run `run_id`'s lease every third of `run_lease`.
    async fn with_heartbeat<T>(
        &self,
        run_id: i64,
        fire: Option<&FireKey>,
        work: impl std::future::Future<Output = T>,
    ) -> T {
        let lease = self.manifest.runtime.run_lease;
        let beat = async {
            let mut ticks = tokio::time::interval(lease / 3);
            ticks.tick().await;
            loop {
                ticks.tick().await;
                let until = Utc::now() + self.lease();
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
            .keys()
            .copied()
            .collect()
    }

    /// What run `id`, in progress on this host, has done so far.
    pub fn progress(&self, id: i64) -> Option<Arc<crate::capabilities::progress::Progress>> {
        self.active
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
            .cloned()
    }

    /// Every rate-limit pool's use as this host sees it.
    pub fn pool_usage(&self) -> Vec<crate::capabilities::http::PoolUsage> {
        self.http.pool_usage()
    }

    /// Replaces every secret (and derived form) in `text` with `[redacted]`.
    pub fn redact(&self, text: &str) -> String {
        self.redactor.redact(text).into_owned()
    }

    /// Closes the database pools.
    pub async fn shutdown(&self) {
        self.store.close().await;
    }
}

/// Ids of the runs in progress on one host.
/// The runs in progress in this process, with what each has done so far.
type ActiveRuns =
    std::sync::Mutex<std::collections::BTreeMap<i64, Arc<crate::capabilities::progress::Progress>>>;

/// Keeps a run id in the host's active set for as long as it lives (also when the run's future
/// is dropped mid-way).
struct ActiveGuard<'a> {
    set: &'a ActiveRuns,
    id: i64,
}

impl<'a> ActiveGuard<'a> {
    fn new(set: &'a ActiveRuns, id: i64) -> Self {
        set.lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, Arc::default());
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
