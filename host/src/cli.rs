//! The `connector-host` command line: argument parsing, the subcommands, and the mapping of
//! every error to a message and an exit code (0 ok, 1 the job failed, 2 bad input or config).

mod progress;
pub mod table;

use crate::logging::LogFormat;
use crate::manifest::{Manifest, ManifestError, ProcessEnv, Secrets, DEFAULT_MANIFEST};
use crate::runner::{RunOutcome, RunRequest, Runner, RunnerError};
use crate::store::{QueueStatus, Store};
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Runs connector plugins (WebAssembly components) from a manifest.
#[derive(Debug, Parser)]
#[command(name = "connector-host", version, about)]
pub struct Cli {
    /// The manifest to read.
    #[arg(long, global = true, default_value = DEFAULT_MANIFEST, value_name = "PATH")]
    pub manifest: PathBuf,
    /// Log output format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the manifest, its secrets and its plugins; exit 2 on any problem.
    Validate,
    /// Run one connector once now and print a summary.
    Run {
        /// The connector's name in the manifest.
        connector: String,
        /// The job to run (default: the plugin's first declared job).
        #[arg(long)]
        job: Option<String>,
        /// Roll back every write at the end and report what would have changed.
        #[arg(long)]
        dry_run: bool,
        /// JSON the run carries to the plugin (e.g. '{"skus": ["A-1"]}').
        #[arg(long, value_name = "JSON")]
        input: Option<String>,
    },
    /// Run the scheduler, queue workers and HTTP server until SIGINT/SIGTERM.
    Serve {
        /// Listen here instead of `[server].listen` (e.g. 0.0.0.0:8080).
        #[arg(long, value_name = "ADDR")]
        listen: Option<std::net::SocketAddr>,
    },
    /// Print the next fire times of every schedule, local and UTC.
    Schedule {
        /// Fires per schedule.
        #[arg(long, default_value_t = 5)]
        count: usize,
        /// Start from this instant instead of now (RFC 3339, e.g. 2027-03-27T00:00:00Z), to
        /// check a future night such as a daylight-saving change.
        #[arg(long, value_name = "TIME")]
        from: Option<String>,
    },
    /// Print every connector's state: pauses, schedules with their next fire, last run and
    /// last success, queue.
    Status {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Apply database migrations.
    Migrate,
    /// List recent runs; `runs show ID` for one run with its log events, `runs retry ID` to
    /// run a failed one again.
    Runs {
        /// One run, or a retry.
        #[command(subcommand)]
        action: Option<RunsAction>,
        /// Only runs of this connector.
        #[arg(long)]
        connector: Option<String>,
        /// How many runs.
        #[arg(long, default_value_t = 20)]
        limit: u32,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Create and run the fires of a schedule's past window, each at most once: fires that
    /// exist already (ran, skipped, backfilled before) are left alone.
    Backfill {
        /// The connector.
        connector: String,
        /// Its schedule.
        #[arg(long)]
        schedule: String,
        /// The window's start (exclusive), RFC 3339.
        #[arg(long)]
        from: String,
        /// The window's end (inclusive), RFC 3339, in the past.
        #[arg(long)]
        to: String,
    },
    /// Stop firing a connector's schedules (and delivering its queue jobs), or one schedule's,
    /// on every host, until resumed or until a time; due fires are recorded as skipped (paused).
    Pause {
        /// The connector.
        connector: String,
        /// Only this schedule (its other schedules and its jobs go on).
        #[arg(long)]
        schedule: Option<String>,
        /// Why, for the other operators (shown by `status`, `/status` and the console).
        #[arg(long)]
        reason: Option<String>,
        /// When the pause ends by itself: a time (2026-12-24T08:00:00+02:00) or a duration (2h, 3d).
        #[arg(long)]
        until: Option<String>,
    },
    /// End a pause set with `pause`.
    Resume {
        /// The connector.
        connector: String,
        /// The schedule, if the pause was of one schedule.
        #[arg(long)]
        schedule: Option<String>,
    },
    /// Inspect and operate the durable job queue.
    Queue {
        /// What to do with it.
        #[command(subcommand)]
        action: QueueAction,
    },
    /// Write a new connector crate (builds on its own, anywhere) to start from.
    New {
        /// Its name: lower-case letters, digits, _ and -.
        name: String,
        /// The directory to create it in.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// The guest SDK crate to depend on (default: this host's, in its repository).
        #[arg(long, value_name = "PATH")]
        sdk: Option<PathBuf>,
    },
    /// Show what a plugin file is and asks for (tables, settings, auth, migrations, SHA-256)
    /// before granting it anything; needs no manifest.
    Inspect {
        /// The plugin's `.wasm` file.
        plugin: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// `connector-host runs …`.
#[derive(Debug, Subcommand)]
pub enum RunsAction {
    /// One run in full: its record and its last log events.
    Show {
        /// The run's id.
        id: i64,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Run a run that did not succeed again, with its job, input and original scheduled time.
    Retry {
        /// The run's id.
        id: i64,
    },
}

/// `connector-host queue …`.
#[derive(Debug, Subcommand)]
pub enum QueueAction {
    /// List jobs, newest first.
    List {
        /// Only jobs with this status (pending, processing, completed, failed).
        #[arg(long)]
        status: Option<QueueStatus>,
        /// Only jobs of this connector.
        #[arg(long)]
        connector: Option<String>,
        /// Only jobs of this kind.
        #[arg(long)]
        kind: Option<String>,
        /// How many jobs.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Give failed jobs a fresh set of attempts, due now.
    Retry {
        /// One job; without it, every failed job (of --connector, if given).
        id: Option<i64>,
        /// Only jobs of this connector.
        #[arg(long)]
        connector: Option<String>,
    },
    /// Delete jobs: finished ones by default; pending or processing ones (a flood, say) with
    /// --status and --connector.
    Purge {
        /// Only jobs with this status (pending and processing need --connector).
        #[arg(long)]
        status: Option<QueueStatus>,
        /// Only jobs of this connector.
        #[arg(long)]
        connector: Option<String>,
        /// Only jobs of this kind.
        #[arg(long)]
        kind: Option<String>,
        /// Only jobs last touched longer ago than this (e.g. 7d, 12h); default: all.
        #[arg(long)]
        older_than: Option<String>,
    },
    /// Deliver every due job now, then exit.
    Work {
        /// Stop after this many jobs.
        #[arg(long, default_value_t = 10_000)]
        max: usize,
    },
}

/// The `schedule` command's table: the next `count` fires after `now` of every schedule.
pub fn schedule_table(
    manifest: &Manifest,
    now: chrono::DateTime<chrono::Utc>,
    count: usize,
) -> String {
    table::schedule(manifest, now, count)
}

/// An error with the exit code it deserves.
#[derive(Debug)]
pub struct Failure {
    code: u8,
    error: anyhow::Error,
}

impl Failure {
    /// The exit code: 1 the job failed, 2 bad input or configuration.
    pub fn code(&self) -> u8 {
        self.code
    }

    /// The message `main` prints.
    pub fn message(&self) -> String {
        render_error(&self.error)
    }

    fn bad_input(error: impl Into<anyhow::Error>) -> Self {
        Failure {
            code: 2,
            error: error.into(),
        }
    }
    fn job(error: impl Into<anyhow::Error>) -> Self {
        Failure {
            code: 1,
            error: error.into(),
        }
    }
}

/// Classifies an error from starting a runner: manifest and plugin problems are bad input.
fn classify(error: anyhow::Error) -> Failure {
    if error.downcast_ref::<ManifestError>().is_some()
        || error.downcast_ref::<RunnerError>().is_some()
    {
        Failure::bad_input(error)
    } else {
        Failure::job(error)
    }
}

/// Parses arguments, sets up logging, runs the command and returns the exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    crate::logging::init(cli.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(execute(&cli)) {
        Ok(code) => ExitCode::from(code),
        Err(failure) => {
            eprintln!("error: {}", failure.message());
            ExitCode::from(failure.code)
        }
    }
}

/// `a: b: c` for an error chain, skipping links that repeat the previous one.
fn render_error(error: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if parts.last().is_none_or(|p| !p.contains(&text)) {
            parts.push(text);
        }
    }
    parts.join(": ")
}

/// Loads and validates the manifest, resolving secrets from the environment and `.env`.
pub fn load_manifest(path: &Path) -> Result<(Manifest, Secrets), Failure> {
    let env = ProcessEnv::new(path.parent().unwrap_or(Path::new(".")));
    Manifest::load(path, &env).map_err(Failure::bad_input)
}

/// Runs a parsed command line; `Ok` holds the exit code (0 or 1), `Err` an error to print.
pub async fn execute(cli: &Cli) -> Result<u8, Failure> {
    match &cli.command {
        Command::Validate => validate(&cli.manifest).await,
        Command::Run {
            connector,
            job,
            dry_run,
            input,
        } => {
            let (manifest, secrets) = load_manifest(&cli.manifest)?;
            let runner = Runner::start(manifest, secrets).await.map_err(classify)?;
            sweep(&runner.store).await;
            let mut request = RunRequest {
                job: job.clone(),
                dry_run: *dry_run,
                input: input.clone(),
                ..RunRequest::manual()
            };
            let outcome = match runner.begin_run(connector, &request).await {
                Ok(run_id) => {
                    request.run_id = Some(run_id);
                    let label = format!("run {run_id} {connector}");
                    progress::watch(&runner, run_id, &label, runner.run(connector, request)).await
                }
                Err(e) => Err(e),
            }
            .map_err(classify);
            runner.shutdown().await;
            let outcome = outcome?;
            print_outcome(&outcome);
            Ok(if outcome.status.is_success() { 0 } else { 1 })
        }
        Command::Migrate => {
            // Starting applies the host's migrations and every plugin's.
            let (manifest, secrets) = load_manifest(&cli.manifest)?;
            let runner = Runner::start(manifest, secrets).await.map_err(classify)?;
            runner.shutdown().await;
            println!("database is up to date (the host's and every plugin's migrations)");
            Ok(0)
        }
        Command::Runs {
            action: Some(RunsAction::Retry { id }),
            ..
        } => {
            let (manifest, secrets) = load_manifest(&cli.manifest)?;
            let runner = Runner::start(manifest, secrets).await.map_err(classify)?;
            sweep(&runner.store).await;
            let outcome = crate::ops::retry_run(&runner, *id)
                .await
                .map_err(ops_failure);
            runner.shutdown().await;
            let outcome = outcome?;
            print_outcome(&outcome);
            Ok(if outcome.status.is_success() { 0 } else { 1 })
        }
        Command::Runs {
            action: Some(RunsAction::Show { id, json }),
            ..
        } => {
            let (manifest, _) = load_manifest(&cli.manifest)?;
            let store = open_store(&manifest).await?;
            sweep(&store).await;
            let run = store.run_by_id(*id).await.map_err(Failure::job);
            let events = store.run_events(*id).await.map_err(Failure::job);
            store.close().await;
            let run = run?.ok_or_else(|| {
                Failure::bad_input(anyhow::anyhow!("no run with id {id} in the run log"))
            })?;
            let events = events?;
            if *json {
                let doc = serde_json::json!({ "run": run, "events": events });
                println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
            } else {
                print!("{}", table::run_detail(&run, &events));
            }
            Ok(0)
        }
        Command::Runs {
            action: None,
            connector,
            limit,
            json,
        } => {
            let (manifest, _) = load_manifest(&cli.manifest)?;
            let store = open_store(&manifest).await?;
            sweep(&store).await;
            let runs = store
                .recent_runs(*limit, connector.as_deref())
                .await
                .map_err(Failure::job);
            store.close().await;
            let runs = runs?;
            if *json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&runs).unwrap_or_default()
                );
            } else {
                print!("{}", table::runs(&runs));
            }
            Ok(0)
        }
        Command::Backfill {
            connector,
            schedule,
            from,
            to,
        } => {
            let instant = |what: &str, text: &str| {
                chrono::DateTime::parse_from_rfc3339(text)
                    .map(|t| t.with_timezone(&chrono::Utc))
                    .map_err(|_| {
                        Failure::bad_input(anyhow::anyhow!(
                            "--{what}: expected an RFC 3339 time like 2026-12-01T00:00:00Z, found {text:?}"
                        ))
                    })
            };
            let (from, to) = (instant("from", from)?, instant("to", to)?);
            let (manifest, secrets) = load_manifest(&cli.manifest)?;
            let runner = Runner::start(manifest, secrets).await.map_err(classify)?;
            let done =
                crate::ops::backfill(&runner, connector, schedule, from, to, |item| match item {
                    crate::ops::Backfilled::Ran(o) => println!(
                        "ran   run {} for {}: {}",
                        o.run_id,
                        o.summary.as_deref().unwrap_or(""),
                        o.status.as_str()
                    ),
                    crate::ops::Backfilled::Existed(at) => {
                        println!("kept  {} (the fire exists already)", at.to_rfc3339())
                    }
                })
                .await
                .map_err(ops_failure);
            runner.shutdown().await;
            let done = done?;
            let ran: Vec<&RunOutcome> = done
                .iter()
                .filter_map(|d| match d {
                    crate::ops::Backfilled::Ran(o) => Some(o),
                    crate::ops::Backfilled::Existed(_) => None,
                })
                .collect();
            println!(
                "{} fire(s) in the window: {} run, {} existed already",
                done.len(),
                ran.len(),
                done.len() - ran.len()
            );
            Ok(u8::from(ran.iter().any(|o| !o.status.is_success())))
        }
        Command::Status { json } => {
            let (manifest, _) = load_manifest(&cli.manifest)?;
            let store = open_store(&manifest).await?;
            sweep(&store).await;
            let overview = crate::status::overview(&manifest, &store, chrono::Utc::now())
                .await
                .map_err(Failure::job);
            store.close().await;
            let overview = overview?;
            if *json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&overview).unwrap_or_default()
                );
            } else {
                print!("{}", table::status(&overview));
            }
            Ok(0)
        }
        Command::Queue { action } => queue(&cli.manifest, action).await,
        Command::Pause {
            connector,
            schedule,
            reason,
            until,
        } => {
            let (manifest, _) = load_manifest(&cli.manifest)?;
            let store = open_store(&manifest).await?;
            let until = until
                .as_deref()
                .map(|u| crate::ops::parse_until(u, chrono::Utc::now()))
                .transpose()
                .map_err(ops_failure)?;
            let paused = crate::ops::pause(
                &store,
                &manifest,
                connector,
                schedule.as_deref(),
                reason.as_deref(),
                until,
                "cli",
            )
            .await
            .map_err(ops_failure);
            store.close().await;
            let paused = paused?;
            let what = match &paused.schedule {
                Some(s) => format!("schedule {s} of {}", paused.connector),
                None => format!("{} (every schedule and its queue jobs)", paused.connector),
            };
            let until = paused.until.map_or("until resumed".to_owned(), |u| {
                format!("until {}", u.to_rfc3339())
            });
            println!("paused {what} {until}: {}", paused.reason);
            Ok(0)
        }
        Command::Resume {
            connector,
            schedule,
        } => {
            let (manifest, _) = load_manifest(&cli.manifest)?;
            let store = open_store(&manifest).await?;
            let was = crate::ops::resume(&store, &manifest, connector, schedule.as_deref(), "cli")
                .await
                .map_err(ops_failure);
            store.close().await;
            let target = schedule.as_deref().map_or(connector.clone(), |s| {
                format!("schedule {s} of {connector}")
            });
            if was? {
                println!("resumed {target}");
            } else {
                println!("{target} was not paused");
            }
            Ok(0)
        }
        Command::Schedule { count, from } => {
            let (manifest, _) = load_manifest(&cli.manifest)?;
            let start = match from {
                None => chrono::Utc::now(),
                Some(text) => chrono::DateTime::parse_from_rfc3339(text)
                    .map(|t| t.with_timezone(&chrono::Utc))
                    .map_err(|_| {
                        Failure::bad_input(anyhow::anyhow!(
                            "--from: expected an RFC 3339 time like 2027-03-27T00:00:00Z, found {text:?}"
                        ))
                    })?,
            };
            print!("{}", table::schedule(&manifest, start, *count));
            Ok(0)
        }
        Command::New { name, dir, sdk } => {
            let sdk = sdk
                .clone()
                .or_else(crate::scaffold::bundled_sdk)
                .ok_or_else(|| {
                    Failure::bad_input(anyhow::anyhow!(
                        "this connector-host was not built from its repository; name the guest SDK \
                         with --sdk PATH"
                    ))
                })?;
            let made = crate::scaffold::write(name, dir, &sdk).map_err(Failure::bad_input)?;
            println!(
                "wrote {}
next: cd {} && cargo build --release   # then connector-host inspect {}",
                made.dir.display(),
                made.dir.display(),
                made.wasm
            );
            Ok(0)
        }
        Command::Inspect { plugin, json } => {
            let found = Runner::inspect(plugin).await.map_err(Failure::bad_input)?;
            if *json {
                let text = serde_json::to_string_pretty(&found)
                    .map_err(|e| Failure::job(anyhow::Error::from(e)))?;
                println!("{text}");
            } else {
                print!("{found}");
            }
            Ok(0)
        }
        Command::Serve { listen } => serve(&cli.manifest, *listen).await,
    }
}

/// The database of `manifest`, migrated.
async fn open_store(manifest: &Manifest) -> Result<Store, Failure> {
    let store = Store::connect(&manifest.database_url)
        .await
        .map_err(Failure::job)?;
    store.migrate().await.map_err(Failure::job)?;
    Ok(store)
}

/// An operator action's error with its exit code: 2 for bad input, 1 otherwise.
fn ops_failure(e: crate::ops::OpsError) -> Failure {
    match e {
        crate::ops::OpsError::BadInput(_) => Failure::bad_input(e),
        crate::ops::OpsError::Store(_) => Failure::job(e),
    }
}

/// Marks runs whose host stopped renewing their lease (a killed `run`, a crashed host)
/// `abandoned`, so the run log never shows a dead run as running. A `serve` host on the same
/// database retries scheduled ones.
async fn sweep(store: &Store) {
    match store.abandon_expired_runs(chrono::Utc::now(), &[]).await {
        Ok(runs) => {
            for run in runs {
                tracing::warn!(
                    run_id = run.id,
                    connector = %run.connector,
                    host = run.host.as_deref(),
                    "run abandoned: its host stopped renewing the lease"
                );
            }
        }
        Err(e) => tracing::warn!(error = format!("{e:#}"), "cannot look for abandoned runs"),
    }
}

async fn serve(path: &Path, listen: Option<std::net::SocketAddr>) -> Result<u8, Failure> {
    let (manifest, secrets) = load_manifest(path)?;
    let addr = listen.unwrap_or(manifest.server.listen);
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        Failure::bad_input(anyhow::anyhow!(
            "cannot listen on {addr}: {e}; choose another address with [server].listen or --listen"
        ))
    })?;
    let runner = Runner::start(manifest, secrets).await.map_err(classify)?;
    let loader: crate::daemon::Loader = std::sync::Arc::new(|path: &Path| {
        let env = ProcessEnv::new(path.parent().unwrap_or(Path::new(".")));
        Manifest::load(path, &env)
    });
    let daemon = crate::daemon::Daemon::new(
        runner,
        std::sync::Arc::new(crate::daemon::SystemClock),
        loader,
    )
    .await
    .map_err(Failure::job)?;
    let bound = listener.local_addr().map_or(addr, |a| a);
    tracing::info!(
        listen = %bound,
        host = daemon.runner().host_id(),
        connectors = daemon.runner().connectors().len(),
        "serving"
    );
    let report = crate::server::serve(daemon, listener)
        .await
        .map_err(Failure::job)?;
    let _ = report;
    Ok(0)
}

fn parse_age(text: &str) -> Result<chrono::Duration, Failure> {
    let bad = || {
        Failure::bad_input(anyhow::anyhow!(
            "--older-than: expected an age like \"7d\", \"12h\" or \"30m\", found {text:?}"
        ))
    };
    let (number, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?);
    let n: i64 = number.parse().map_err(|_| bad())?;
    match unit {
        "d" => Ok(chrono::Duration::days(n)),
        "h" => Ok(chrono::Duration::hours(n)),
        "m" => Ok(chrono::Duration::minutes(n)),
        "s" => Ok(chrono::Duration::seconds(n)),
        _ => Err(bad()),
    }
}

async fn queue(path: &Path, action: &QueueAction) -> Result<u8, Failure> {
    use crate::store::JobFilter;
    let (manifest, secrets) = load_manifest(path)?;
    if let QueueAction::Work { max } = action {
        let runner = Runner::start(manifest, secrets).await.map_err(classify)?;
        let worker = format!("cli-{}", std::process::id());
        let done = runner
            .drain_queue(&worker, *max)
            .await
            .map_err(Failure::job);
        runner.shutdown().await;
        let done = done?;
        print!("{}", table::jobs_done(&done));
        let failed = done
            .iter()
            .any(|o| o.status != crate::runner::JobStatus::Completed);
        return Ok(u8::from(failed));
    }
    let store = Store::connect(&manifest.database_url)
        .await
        .map_err(Failure::job)?;
    store.migrate().await.map_err(Failure::job)?;
    let now = chrono::Utc::now();
    let result = match action {
        QueueAction::List {
            status,
            connector,
            kind,
            limit,
        } => {
            let filter = JobFilter {
                status: *status,
                connector: connector.clone(),
                kind: kind.clone(),
            };
            let jobs = store
                .list_jobs(&filter, *limit)
                .await
                .map_err(Failure::job)?;
            print!("{}", table::jobs(&jobs));
            Ok(0)
        }
        QueueAction::Retry { id, connector } => {
            let filter = JobFilter {
                connector: connector.clone(),
                ..JobFilter::default()
            };
            let n = store
                .retry_failed_jobs(*id, &filter, now)
                .await
                .map_err(Failure::job)?;
            println!("{n} failed job(s) queued again");
            Ok(0)
        }
        QueueAction::Purge {
            status,
            connector,
            kind,
            older_than,
        } => {
            let filter = JobFilter {
                status: *status,
                connector: connector.clone(),
                kind: kind.clone(),
            };
            let unfinished = filter.status.filter(|s| s.is_unfinished());
            if let (Some(status), None) = (unfinished, &filter.connector) {
                return Err(Failure::bad_input(anyhow::anyhow!(
                    "--status {status}: purging unfinished jobs needs --connector (and optionally \
                     --kind), so one connector's flood is removed and nothing else"
                )));
            }
            let age = older_than.as_deref().map(parse_age).transpose()?;
            let n = store
                .purge_jobs(&filter, age.map(|a| now - a))
                .await
                .map_err(Failure::job)?;
            let what = filter.status.map_or("finished", QueueStatus::as_str);
            println!("{n} {what} job(s) purged");
            Ok(0)
        }
        QueueAction::Work { .. } => unreachable!("handled above"),
    };
    store.close().await;
    result
}

async fn validate(path: &Path) -> Result<u8, Failure> {
    let (manifest, secrets) = load_manifest(path)?;
    let connectors = manifest.connectors.len();
    // Starting is the check: every plugin loads, its declarations fit the manifest, and its
    // schema is brought up to date; every problem is reported at once.
    let runner = Runner::start(manifest, secrets).await.map_err(classify)?;
    runner.shutdown().await;
    println!(
        "{}: ok ({connectors} connector(s), secrets set, plugins load)",
        path.display()
    );
    Ok(0)
}

fn print_outcome(o: &RunOutcome) {
    print!("{}", table::outcomes(std::slice::from_ref(o)));
    if let (Some(kind), Some(message)) = (&o.error_kind, &o.error_message) {
        println!("\n{kind}: {message}");
    }
    if o.dry_run {
        println!("\ndry run: every write was rolled back");
    }
}
