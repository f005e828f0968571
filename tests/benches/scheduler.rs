//! Scheduler benchmarks (PERFORMANCE.md B13, B5), on SQLite and PostgreSQL side by side:
//!
//! - B13: 1,000 schedules firing every second for 60 s (`SECONDS=`, `SCHEDULES=` to change),
//!   through the real firing loop, claims and runs of a no-op job. Reports when each fire was
//!   claimed (claim time − scheduled instant, from `schedule_fires.created_at`: negative when
//!   claimed ahead of the instant), the firing lag proper, until the run is recorded as started
//!   (the run log's `started_at`), and the lag until the plugin itself starts (the job
//!   `clock` reports the WASI wall clock), p50 / p99 / max, and checks that every
//!   fire ran or was skipped exactly once: missed and duplicate fires are counted, not assumed.
//! - B5: resident memory per loaded idle plugin: RSS of a host with 1 connector against one with
//!   1 + `PLUGINS` (default 50) connectors, each its own copy of the plugin file.
//!
//! Run with `cargo bench -p connector-tests --bench scheduler`; figures go to BENCHMARKS.md.

use chrono::{DateTime, Utc};
use connector_host::daemon::{Daemon, Loader, SystemClock};
use connector_host::manifest::Manifest;
use connector_host::runner::Runner;
use connector_host::store::Store;
use connector_tests::db::TestDb;
use connector_tests::host::{manifest, FakeEnv};
use sqlx::Row;
use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn summary(name: &str, mut ms: Vec<f64>) {
    ms.sort_by(|a, b| a.total_cmp(b));
    println!(
        "  {name:<28} n={:<6} p50={:>8.2} ms  p99={:>8.2} ms  max={:>8.2} ms",
        ms.len(),
        percentile(&ms, 0.5),
        percentile(&ms, 0.99),
        ms.last().copied().unwrap_or(f64::NAN)
    );
}

async fn start(db: &TestDb, text: &str) -> (Arc<Daemon>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("connectors.toml");
    std::fs::write(&path, manifest(db, text)).unwrap();
    let (m, secrets) = Manifest::load(&path, &FakeEnv::default()).unwrap();
    let runner = Runner::start(m, secrets).await.unwrap();
    let loader: Loader = Arc::new(|p: &std::path::Path| Manifest::load(p, &FakeEnv::default()));
    let daemon = Daemon::new(runner, Arc::new(SystemClock), loader)
        .await
        .unwrap();
    (daemon, dir)
}

/// How the bench fires: the host's firing loop, or the loop it replaced, kept here as the
/// baseline measured side by side.
#[derive(Debug, Clone, Copy)]
enum Firing {
    /// `Daemon::fire_loop`: plain fires decided and claimed ahead of their instant.
    Ahead,
    /// Decide, claim and record at the instant: tick, then sleep until the next fire.
    AtInstant,
}

async fn tick_loop(daemon: Arc<Daemon>) {
    while !daemon.stopping() {
        daemon.tick(Utc::now()).await;
        let wake = daemon
            .next_fires()
            .await
            .into_iter()
            .filter_map(|f| f.2)
            .min();
        let wait = wake
            .map(|w| (w - Utc::now()).to_std().unwrap_or_default())
            .unwrap_or(Duration::from_secs(1))
            .min(Duration::from_secs(1));
        tokio::time::sleep(wait).await;
    }
}

async fn firing_lag(db: &TestDb, schedules: u64, seconds: u64, firing: Firing) {
    let per_connector = 100;
    let mut text = String::from("[runtime]\nqueue_workers = 0\nmax_instances = 1000\n\n");
    for c in 0..schedules.div_ceil(per_connector) {
        text.push_str(&format!(
            "[connectors.c{c}]\nplugin = {{plugin:testkit}}\ntables = [\"kit_items\"]\n"
        ));
        for s in 0..per_connector.min(schedules - c * per_connector) {
            text.push_str(&format!(
                "schedules.s{s} = {{ cron = \"* * * * * *\", job = \"clock\" }}\n"
            ));
        }
    }
    let (daemon, _dir) = start(db, &text).await;
    let began = Utc::now();
    let fire_loop = match firing {
        Firing::Ahead => tokio::spawn(daemon.clone().fire_loop()),
        Firing::AtInstant => tokio::spawn(tick_loop(daemon.clone())),
    };
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    daemon.request_stop();
    let ended = Utc::now();
    let _ = fire_loop.await;
    assert!(daemon.wait_idle(Duration::from_secs(300)).await);
    let store = daemon.runner().store.clone();

    let (fires, runs) = read(&store).await;
    let expected = (began.timestamp() + 1..=ended.timestamp()).count() as u64 * schedules;
    let claimed = fires.len() as u64;
    let identities: BTreeSet<(String, String, DateTime<Utc>)> = runs
        .iter()
        .map(|r| (r.0.clone(), r.1.clone(), r.2))
        .collect();
    let duplicates = runs.len() as u64 - identities.len() as u64;
    let skipped = daemon.stats.skipped.load(Ordering::Relaxed);
    let claim_lag = fires.iter().map(|(t, c)| ms(*c - *t)).collect();
    let record_lag = runs.iter().map(|r| ms(r.3 - r.2)).collect();
    let start_lag: Vec<f64> = runs.iter().filter_map(|r| Some(ms(r.4? - r.2))).collect();
    assert_eq!(
        start_lag.len(),
        runs.len(),
        "every run reports when it started"
    );
    println!(
        "{} {firing:?} — {schedules} schedules × {seconds} s: fires due {expected}, claimed {claimed}, ran {}, \
         skipped (overlap) {skipped}, missed {}, duplicate runs {duplicates}",
        db.backend,
        runs.len(),
        expected.saturating_sub(claimed),
    );
    summary("claimed (< 0: ahead)", claim_lag);
    summary("run recorded (firing lag)", record_lag);
    summary("plugin started", start_lag);
}

fn ms(d: chrono::Duration) -> f64 {
    d.num_microseconds().unwrap_or(i64::MAX) as f64 / 1000.0
}

/// Connector, schedule, scheduled for, run record's start, and when the plugin itself started.
type RunRow = (
    String,
    String,
    DateTime<Utc>,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
);

async fn read(store: &Store) -> (Vec<(DateTime<Utc>, DateTime<Utc>)>, Vec<RunRow>) {
    let fires_sql = "SELECT scheduled_for, created_at FROM schedule_fires";
    let runs_sql =
        "SELECT connector, schedule, scheduled_for, started_at, CAST(counters AS TEXT) FROM runs";
    macro_rules! load {
        ($pool:expr) => {{
            let fires = sqlx::query(fires_sql)
                .fetch_all($pool)
                .await
                .unwrap()
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect();
            let runs = sqlx::query(runs_sql)
                .fetch_all($pool)
                .await
                .unwrap()
                .iter()
                .map(|r| {
                    let counters: String = r.get(4);
                    let v: serde_json::Value = serde_json::from_str(&counters).unwrap_or_default();
                    let plugin_now = v["now_us"]
                        .as_i64()
                        .and_then(DateTime::from_timestamp_micros);
                    (r.get(0), r.get(1), r.get(2), r.get(3), plugin_now)
                })
                .collect();
            (fires, runs)
        }};
    }
    match store {
        Store::Sqlite { host, .. } => load!(host),
        Store::Postgres { pool } => load!(pool),
    }
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

async fn memory_per_plugin(plugins: u64) {
    let db = TestDb::sqlite().unwrap();
    let copies = tempfile::tempdir().unwrap();
    let connector = |name: &str, path: &std::path::Path| {
        format!(
            "[connectors.{name}]\nplugin = {:?}\ntables = [\"kit_items\"]\n",
            path.display().to_string()
        )
    };
    let mut text = String::new();
    let mut texts = Vec::new();
    for i in 0..=plugins {
        // Distinct files, so nothing is shared through the compile cache's identity.
        let path = copies.path().join(format!("p{i}.wasm"));
        let mut bytes = std::fs::read(connector_tests::wasm::TESTKIT).unwrap();
        // A custom section makes each file (and so each compiled module) distinct.
        let name = format!("copy{i}");
        bytes.push(0);
        bytes.push((name.len() + 1) as u8);
        bytes.push(name.len() as u8);
        bytes.extend_from_slice(name.as_bytes());
        std::fs::write(&path, bytes).unwrap();
        text.push_str(&connector(&format!("p{i}"), &path));
        texts.push(text.clone());
    }
    // Warm the compile cache, so both hosts load the same way (from the cache).
    let warm = start(&db, &texts[plugins as usize]).await;
    drop(warm);
    let before = rss_kib();
    let one = start(&db, &texts[0]).await;
    let with_one = rss_kib();
    let many = start(&db, &texts[plugins as usize]).await;
    let with_many = rss_kib();
    // The many-plugin host minus the one-plugin host: what `plugins` more plugins cost.
    let host_one = with_one.saturating_sub(before);
    let host_many = with_many.saturating_sub(with_one);
    let per = host_many.saturating_sub(host_one) as f64 / plugins as f64;
    println!(
        "B5 — RSS: process before {before} KiB; +1 plugin host {} KiB; +{} plugin host {} KiB; \
         ≈ {per:.0} KiB per loaded idle plugin (testkit.wasm, {} KiB)",
        host_one,
        plugins + 1,
        host_many,
        std::fs::metadata(connector_tests::wasm::TESTKIT)
            .unwrap()
            .len()
            / 1024
    );
    drop((one, many));
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let schedules = env_num("SCHEDULES", 1000);
        let seconds = env_num("SECONDS", 60);
        memory_per_plugin(env_num("PLUGINS", 50)).await;
        for firing in [Firing::AtInstant, Firing::Ahead] {
            for db in TestDb::all("bench_scheduler").await.unwrap() {
                firing_lag(&db, schedules, seconds, firing).await;
            }
        }
    });
}
