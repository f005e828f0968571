//! The portal connector's first sync of 50,000 people spread over the fake Zoho CRM and the fake
//! sales portal (`populate`: most in both and linked, some in one only, some in both by e-mail
//! only): wall time of job `zoho` and job `portal` on each backend, rows per second, and that
//! the leads come out one per person. The Zoho pools are raised here so the figure is the
//! connector's and the host's own; behind the real 90/minute pool the Zoho read of this many
//! leads (200 a page) cannot take less than its quota floor, printed beside it.
//!
//! A measurement, not a test. Run with `cargo bench -p portal-harness --bench portal`
//! (`PORTAL_BENCH_PEOPLE`, default 50,000; PostgreSQL too with `TEST_POSTGRES_URL`).

use connector_host::runner::{RunOutcome, RunRequest, Runner};
use connector_tests::db::TestDb;
use connector_tests::entry;
use connector_tests::host::{start, FakeEnv};
use portal_harness::fake::ApiKey;
use portal_harness::setup::{populate, FakePortal};
use std::time::{Duration, Instant};

async fn job(r: &Runner, name: &str) -> (RunOutcome, Duration) {
    let started = Instant::now();
    let req = RunRequest {
        job: Some(name.into()),
        ..RunRequest::manual()
    };
    let o = r.run("portal", req).await.unwrap();
    (o, started.elapsed())
}

fn counter(o: &RunOutcome, name: &str) -> u64 {
    o.counters
        .iter()
        .find(|(n, _)| n == name)
        .map_or(0, |(_, v)| *v)
}

async fn one(db: TestDb, people: usize) {
    let fake = FakePortal::start(Vec::new(), ApiKey::sample_secret()).await;
    let made = populate(&fake, people, 17);
    let mut e = entry::load("portal").unwrap();
    fake.point(&mut e, "portal");
    entry::table(&mut e, &["connectors", "portal"]).remove("schedules");
    entry::table(&mut e, &["connectors", "portal"]).insert("timeout".into(), "2h".into());
    let pools = entry::table(&mut e, &["rate_limits"]);
    pools.insert("zoho".into(), "100000/min".into());
    pools.insert("zoho_crm".into(), "100000/min".into());
    let env = fake.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let h = start(&db, &toml::to_string(&e).unwrap(), &FakeEnv::with(&env))
        .await
        .unwrap();
    let (z, zt) = job(&h.runner, "zoho").await;
    let (p, pt) = job(&h.runner, "portal").await;
    let leads: i64 = connector_tests::db::scalar(&db.url, "SELECT COUNT(*) FROM leads")
        .await
        .unwrap();
    let zoho_pages = counter(&z, "fetched").div_ceil(200);
    let floor_s = (zoho_pages.saturating_sub(1) / 90) as f64 * 61.0;
    let total = zt + pt;
    println!(
        "{:<8} {people} people → {leads} leads ({} expected; {:?}/{:?}): zoho job {:.2} s ({} read, {} inserted), \
         portal job {:.2} s ({} read, {} inserted, {} merged, {} conflicts); together {:.2} s, {:.0} leads/s; \
         behind the real 90/min pool the zoho read ({zoho_pages} pages) has a floor of {floor_s:.0} s",
        db.backend,
        made.people(),
        z.status,
        p.status,
        zt.as_secs_f64(),
        counter(&z, "fetched"),
        counter(&z, "inserted"),
        pt.as_secs_f64(),
        counter(&p, "fetched"),
        counter(&p, "inserted"),
        counter(&p, "merged"),
        counter(&p, "conflicts"),
        total.as_secs_f64(),
        (counter(&z, "fetched") + counter(&p, "fetched")) as f64 / total.as_secs_f64(),
    );
    h.runner.shutdown().await;
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let people: usize = std::env::var("PORTAL_BENCH_PEOPLE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50_000);
    for db in TestDb::all("portal_bench").await.unwrap() {
        one(db, people).await;
    }
}
