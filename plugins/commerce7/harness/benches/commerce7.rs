//! The commerce7 connector's queue under load, against the fake Commerce7:
//!
//! - **latency**: `serve` (two queue workers) takes 200 paid-order webhooks over HTTP with Basic
//!   auth, 1.5 a second (under the 100/minute pool, as real webhooks arrive), and each becomes an
//!   `add_membership` job that calls Commerce7; the enqueue-to-completion time of each job
//!   (`queue_jobs.created_at` to `finished_at`), p50 / p99 / max, per backend;
//! - **dead letters**: 200 jobs with a share of Commerce7's membership calls failing (503),
//!   worked off on a driven clock through the back-off (2, 4, 8, 16 minutes, five attempts);
//!   how many end as dead letters, against the count independent failures predict. The pool and
//!   the fake's quota are lifted for this part: it measures the retry path, not the quota.
//!
//! A measurement, not a test. Run with `cargo bench -p commerce7-harness --bench commerce7`
//! (PostgreSQL too with `TEST_POSTGRES_URL`).

use chrono::{DateTime, Duration as Span, Utc};
use commerce7_harness::fake::{order_webhook_body, post_webhook};
use commerce7_harness::setup::{FakeCommerce7, HOOK_PASSWORD, HOOK_USER, TENANT};
use connector_host::manifest::Manifest;
use connector_host::runner::{JobStatus, Runner, Webhook};
use connector_host::store::{JobFilter, QueueStatus, Store};
use connector_tests::db::TestDb;
use connector_tests::entry;
use connector_tests::host::FakeEnv;
use std::time::Duration;

const JOBS: usize = 200;

fn manifest(fake: &FakeCommerce7, db: &TestDb, pool: &str) -> String {
    let mut e = entry::load("commerce7").unwrap();
    fake.point(&mut e, "commerce7");
    entry::table(&mut e, &["connectors", "commerce7"]).remove("schedules");
    entry::table(&mut e, &["rate_limits"]).insert("commerce7".into(), pool.into());
    let text = format!(
        "[runtime]\nqueue_workers = 2\n\n[server]\nwatch = false\ngrace = \"5s\"\n\n{}",
        toml::to_string(&e).unwrap()
    );
    connector_tests::host::manifest(db, &text)
}

fn env(fake: &FakeCommerce7) -> FakeEnv {
    let env = fake.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    FakeEnv::with(&env)
}

async fn runner(
    fake: &FakeCommerce7,
    db: &TestDb,
    pool: &str,
) -> (Runner, std::path::PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("connectors.toml");
    std::fs::write(&path, manifest(fake, db, pool)).unwrap();
    let (m, secrets) = Manifest::load(&path, &env(fake)).unwrap();
    (Runner::start(m, secrets).await.unwrap(), path, dir)
}

/// Enqueue-to-completion of every completed job, in milliseconds.
async fn latencies(store: &Store) -> Vec<f64> {
    let sql = "SELECT CAST(created_at AS TEXT), CAST(finished_at AS TEXT) FROM queue_jobs WHERE status = 'completed'";
    let rows: Vec<(String, String)> = store.fetch_as(sql).await.unwrap();
    let parse = |s: &str| -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .or_else(|_| DateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f%#z"))
            .unwrap_or_else(|e| panic!("{s:?}: {e}"))
            .with_timezone(&Utc)
    };
    let mut ms: Vec<f64> = rows
        .iter()
        .map(|(a, b)| (parse(b) - parse(a)).num_microseconds().unwrap_or(0) as f64 / 1000.0)
        .collect();
    ms.sort_by(f64::total_cmp);
    ms
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn latency(db: TestDb) {
    let fake = FakeCommerce7::start(JOBS).await;
    let (r, path, dir) = runner(&fake, &db, "100/min").await;
    let d = connector_tests::daemon::start_with(
        r,
        path,
        dir,
        &db,
        &env(&fake),
        std::sync::Arc::new(connector_host::daemon::SystemClock),
    )
    .await
    .unwrap();
    let (addr, serving) = d.serve().await;
    let url = format!("http://{addr}/webhooks/commerce7");
    let customers = fake.data.customers();
    for c in customers.iter().take(JOBS) {
        let order = fake.data.add_paid_order(&c.id, 30_000);
        let body = order_webhook_body(&order, "Create", TENANT);
        let (status, _) = post_webhook(&url, Some((HOOK_USER, HOOK_PASSWORD)), &body)
            .await
            .unwrap();
        assert_eq!(status, 200);
        tokio::time::sleep(Duration::from_millis(666)).await;
    }
    let runner = d.daemon.runner();
    let filter = JobFilter {
        connector: Some("commerce7".into()),
        status: Some(QueueStatus::Completed),
        ..JobFilter::default()
    };
    for _ in 0..600 {
        if runner.store.list_jobs(&filter, 10_000).await.unwrap().len() >= JOBS {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ms = latencies(&runner.store).await;
    println!(
        "latency  {:<8} {} webhook-triggered add_membership jobs completed of {JOBS}: enqueue to completion p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        db.backend,
        ms.len(),
        pct(&ms, 0.5),
        pct(&ms, 0.99),
        pct(&ms, 1.0)
    );
    d.daemon.request_stop();
    let _ = tokio::time::timeout(Duration::from_secs(10), serving).await;
}

async fn dead_letters(db: TestDb, failure_percent: u64) {
    let fake = FakeCommerce7::start(JOBS).await;
    // This part measures the retry path, not the quota: the pool and the fake's own
    // 100/minute limit are lifted (the clock here jumps minutes at a time).
    fake.data.set_rate_limit(None);
    let (r, _path, _dir) = runner(&fake, &db, "100000/min").await;
    for c in fake.data.customers().iter().take(JOBS) {
        let order = fake.data.add_paid_order(&c.id, 30_000);
        let hook = Webhook {
            method: "POST".into(),
            path: "/webhooks/commerce7".into(),
            query: String::new(),
            headers: vec![],
            body: order_webhook_body(&order, "Create", TENANT)
                .to_string()
                .into_bytes(),
        };
        r.webhook("commerce7", hook).await.unwrap();
    }
    let mut rng = commerce7_harness::fake::Rng::new(failure_percent);
    let mut now = Utc::now();
    let (mut attempts, mut failed) = (0u64, 0u64);
    loop {
        // Each delivery's Commerce7 call fails with the given probability.
        if rng.next_u64() % 100 < failure_percent {
            fake.data.fail_next(1, 503);
        } else {
            fake.data.clear_failures();
        }
        match r.process_next_job("bench", now).await.unwrap() {
            Some(o) => {
                attempts += 1;
                if o.status == JobStatus::Failed {
                    failed += 1;
                }
            }
            None => {
                // Nothing due: jump to the next retry, if any.
                let pending = JobFilter {
                    connector: Some("commerce7".into()),
                    status: Some(QueueStatus::Pending),
                    ..JobFilter::default()
                };
                let next = r
                    .store
                    .list_jobs(&pending, 10_000)
                    .await
                    .unwrap()
                    .iter()
                    .map(|j| j.run_after)
                    .min();
                match next {
                    Some(at) => now = at + Span::milliseconds(1),
                    None => break,
                }
            }
        }
    }
    let dead = JobFilter {
        connector: Some("commerce7".into()),
        status: Some(QueueStatus::Failed),
        ..JobFilter::default()
    };
    let mut reasons: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    for j in r.store.list_jobs(&dead, 10_000).await.unwrap() {
        *reasons
            .entry(format!(
                "{} attempts: {}",
                j.attempts,
                j.last_error
                    .unwrap_or_default()
                    .chars()
                    .take(120)
                    .collect::<String>()
            ))
            .or_default() += 1;
    }
    for (why, n) in &reasons {
        println!("         {n} × {why}");
    }
    let p = failure_percent as f64 / 100.0;
    println!(
        "dead     {:<8} {JOBS} jobs, {failure_percent}% of Commerce7 calls failing (503): {attempts} deliveries, {failed} dead letters (independent failures predict {:.2})",
        db.backend,
        JOBS as f64 * p.powi(5)
    );
    r.shutdown().await;
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if std::env::var("C7_BENCH_SKIP_LATENCY").is_err() {
        for db in TestDb::all("c7_bench_latency").await.unwrap() {
            latency(db).await;
        }
    }
    for percent in [20, 50] {
        for db in TestDb::all(&format!("c7_bench_dead_{percent}"))
            .await
            .unwrap()
        {
            dead_letters(db, percent).await;
        }
    }
}
