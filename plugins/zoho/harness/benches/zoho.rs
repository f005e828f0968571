//! The zoho connector's sync of 200 service packages against the fake Zoho, behind the
//! connector's own `connector.toml` pools (90/min for CRM and Billing together): wall time
//! against the quota floor, the busiest 60 seconds the fake saw, and Zoho calls per package.
//! Two runs side by side: the deployment's pacing (150 ms between calls, 700 ms after each
//! package) and no pacing (the pool alone sets the pace). SQLite; the backend is not what is
//! measured here. A measurement, not a test: it never fails on a figure.
//!
//! Run with `cargo bench -p zoho-harness --bench zoho` (`ZOHO_BENCH_PACKAGES`, default 200).

use connector_host::runner::RunRequest;
use connector_tests::db::TestDb;
use connector_tests::entry;
use connector_tests::fake::max_in_any_window;
use connector_tests::host::{start, FakeEnv};
use std::time::{Duration, Instant};
use zoho_harness::setup::{packages, seed, FakeZoho};

/// The `zoho` pool's quota and its window as the host pads it (2 %, at least 25 ms, at most 1 s).
const QUOTA: usize = 90;
const WINDOW: Duration = Duration::from_millis(61_000);

async fn one(n: usize, paced: bool) {
    let db = TestDb::sqlite().unwrap();
    let fake = FakeZoho::start().await;
    let mut e = entry::load("zoho").unwrap();
    fake.point(&mut e, "zoho");
    let c = entry::table(&mut e, &["connectors", "zoho"]);
    c.remove("schedules");
    let settings = entry::table(c, &["settings"]);
    settings.insert("max_products".into(), (n as i64).into());
    if !paced {
        settings.insert("call_pause_ms".into(), 0.into());
        settings.insert("product_pause_ms".into(), 0.into());
    }
    let env = fake.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let h = start(&db, &toml::to_string(&e).unwrap(), &FakeEnv::with(&env))
        .await
        .unwrap();
    seed(&h.runner.store, &packages(n, 21)).await.unwrap();
    let started = Instant::now();
    let o = h.runner.run("zoho", RunRequest::manual()).await.unwrap();
    let took = started.elapsed();
    let calls: Vec<Instant> = fake
        .server
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/crm/") || r.path.starts_with("/billing/"))
        .map(|r| r.received_at)
        .collect();
    let batches = n.div_ceil(20);
    // The pool alone: the k-th call (from 0) cannot start before ⌊k / 90⌋ padded windows.
    let pool_floor = WINDOW * ((calls.len().max(1) - 1) / QUOTA) as u32;
    // The pacing alone: 700 ms after each package, 150 ms between the upserts' calls.
    let pacing_floor = if paced {
        Duration::from_millis(700 * n as u64 + 150 * batches as u64)
    } else {
        Duration::ZERO
    };
    let floor = pool_floor.max(pacing_floor);
    println!(
        "{:<10} {} packages: {:?}; {} Zoho calls ({:.3} per package: {} upserts of ≤20, {} plans); \
         wall {:.1} s, floor {:.1} s (pool {:.1} s, pacing {:.1} s): {:.3}× the floor; busiest 60 s: {} calls",
        if paced { "paced" } else { "unpaced" },
        n,
        o.status,
        calls.len(),
        calls.len() as f64 / n as f64,
        batches,
        n,
        took.as_secs_f64(),
        floor.as_secs_f64(),
        pool_floor.as_secs_f64(),
        pacing_floor.as_secs_f64(),
        took.as_secs_f64() / floor.as_secs_f64().max(0.001),
        max_in_any_window(&calls, Duration::from_secs(60)),
    );
    h.runner.shutdown().await;
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n: usize = std::env::var("ZOHO_BENCH_PACKAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    one(n, true).await;
    one(n, false).await;
}
