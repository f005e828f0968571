//! HTTP benchmarks (PERFORMANCE.md B10, B11), measured side by side in one process against the
//! same loopback fake server:
//!
//! - B11: `http.send` through the host (a plugin sending 1 KiB GETs in a loop) against the same
//!   requests sent by reqwest from native Rust; per-request time and the ratio;
//! - B10: a long run through a rate-limit pool: achieved rate / quota, and the worst window.
//!
//! Run with `cargo bench -p connector-tests --bench http`; figures go to BENCHMARKS.md.

use connector_host::runner::RunRequest;
use connector_tests::db::TestDb;
use connector_tests::fake::{max_in_any_window, routes, FakeServer};
use connector_tests::host::{start, FakeEnv};
use std::time::{Duration, Instant};

const N: u32 = 2000;

fn manifest(server: &FakeServer, pool: Option<&str>, repeat: u32) -> String {
    let (limits, rate) = match pool {
        Some(q) => (
            format!("[rate_limits]\npool = \"{q}\"\n\n"),
            ", rate_limit = \"pool\"",
        ),
        None => (String::new(), ""),
    };
    format!(
        "{limits}[connectors.kit]\nplugin = {{plugin:testkit}}\ntables = [\"kit_items\"]\ntimeout = \"10m\"\n\
         http = {{ allow = [{:?}]{rate} }}\n\
         settings = {{ repeat = {repeat}, requests = [ {{ url = {:?} }} ] }}\n",
        server.base_url(),
        server.url("/bytes?n=1024"),
    )
}

async fn through_host(server: &FakeServer) -> Duration {
    let db = TestDb::sqlite().unwrap();
    let host = start(&db, &manifest(server, None, N), &FakeEnv::default())
        .await
        .unwrap();
    let req = RunRequest {
        job: Some("http-loop".into()),
        ..RunRequest::manual()
    };
    // Warm-up run: connections, caches.
    host.runner.run("kit", req.clone()).await.unwrap();
    let started = Instant::now();
    let o = host.runner.run("kit", req).await.unwrap();
    let took = started.elapsed();
    assert!(
        o.counters.contains(&("ok".to_owned(), u64::from(N))),
        "{o:?}"
    );
    host.runner.shutdown().await;
    took / N
}

async fn native(server: &FakeServer) -> Duration {
    let client = reqwest::Client::new();
    let url = server.url("/bytes?n=1024");
    for _ in 0..100 {
        client
            .get(&url)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
    }
    let started = Instant::now();
    for _ in 0..N {
        let body = client
            .get(&url)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(body.len(), 1024);
    }
    started.elapsed() / N
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let server = FakeServer::start(routes::all()).await;
    println!("B11: {N} sequential 1 KiB GETs on loopback, keep-alive; 5 rounds alternating");
    let (mut host, mut direct) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        host.push(through_host(&server).await);
        direct.push(native(&server).await);
        server.clear();
    }
    host.sort();
    direct.sort();
    let (h, d) = (host[2], direct[2]);
    println!("B11 per request: host {h:?}, reqwest direct {d:?} (medians of 5 rounds)");
    println!(
        "B11 ratio host/direct: {:.2}x; added per request: {:?}",
        h.as_secs_f64() / d.as_secs_f64(),
        h.saturating_sub(d)
    );

    // B10: 20 s through a 50/s pool: 1,000 requests.
    server.clear();
    let db = TestDb::sqlite().unwrap();
    let h = start(
        &db,
        &manifest(&server, Some("50/s"), 1000),
        &FakeEnv::default(),
    )
    .await
    .unwrap();
    let req = RunRequest {
        job: Some("http-script".into()),
        ..RunRequest::manual()
    };
    let o = h.runner.run("kit", req).await.unwrap();
    assert!(o.status.is_success(), "{o:?}");
    let times = server.arrival_times();
    let span = (*times.last().unwrap() - times[0]).as_secs_f64();
    // The first 50 go at once; the remaining 950 need 19 more windows at best.
    let achieved = (times.len() as f64 - 50.0) / span / 50.0;
    let worst = max_in_any_window(&times, Duration::from_secs(1));
    println!("B10 pool 50/s, 1000 requests: span {span:.2} s, achieved {achieved:.3} of quota after the first burst, worst 1 s window {worst} (quota 50)");
}
