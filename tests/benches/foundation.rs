//! Foundation benchmarks (PERFORMANCE.md B1, B3, B14), measured side by side in one process:
//!
//! - B1: instantiate + call of a trivial export (`describe`), pooling allocator on and off;
//! - B3: plugin load by compiling vs from the compile cache;
//! - B14: host start (database, migrations, engine, plugins) to the end of a first no-op run,
//!   with an empty and with a warm compile cache.
//!
//! Run with `cargo bench -p connector-tests --bench foundation`; figures go to BENCHMARKS.md.

use connector_host::capabilities::{
    config::ConfigCap,
    db::{DbCap, Grants},
    http::{ConnectorHttp, HttpCap, HttpShared},
    log::LogCap,
    stdio::StdioSink,
};
use connector_host::manifest::Manifest;
use connector_host::runner::{RunRequest, Runner};
use connector_host::runtime::{CallOutcome, EngineOptions, RunData, Runtime};
use connector_host::store::Store;
use connector_tests::db::TestDb;
use connector_tests::host::{manifest, FakeEnv};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn report(name: &str, mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    let p50 = percentile(&samples, 0.5);
    println!(
        "{name:<44} n={:<5} p50={:>9.1?} p99={:>9.1?} min={:>9.1?}",
        samples.len(),
        p50,
        percentile(&samples, 0.99),
        samples[0]
    );
    p50
}

async fn instantiate_and_call(pooling: bool, store: &Store, iterations: usize) -> Duration {
    let cache = tempfile::tempdir().unwrap();
    let runtime = Runtime::new(&EngineOptions {
        pooling,
        max_instances: 100,
        max_memory_bytes: 256 << 20,
        cache_dir: cache.path().to_owned(),
    })
    .unwrap();
    let plugin = runtime.load(&connector_tests::plugin("testkit")).unwrap();
    let name: Arc<str> = Arc::from("bench");
    let settings = Arc::new(serde_json::Map::new());
    let grants = Arc::new(Grants::default());
    let http = Arc::new(HttpShared::new(&empty_manifest()).unwrap());
    let no_http = Arc::new(ConnectorHttp::none());
    let mut samples = Vec::with_capacity(iterations);
    for i in 0..iterations + 50 {
        let started = Instant::now();
        let data = RunData::new(
            LogCap::new(name.clone(), 0),
            ConfigCap::new(settings.clone()),
            DbCap::new(
                name.clone(),
                grants.clone(),
                store.clone(),
                Instant::now() + Duration::from_secs(10),
            ),
            HttpCap::new(
                http.clone(),
                no_http.clone(),
                Instant::now() + Duration::from_secs(10),
                false,
            ),
            256 << 20,
            StdioSink::pair(name.clone(), 0),
        );
        let (_data, outcome) = runtime
            .call(&plugin, data, Duration::from_secs(10), |inst, store| {
                Box::pin(inst.call_describe(store))
            })
            .await;
        let took = started.elapsed();
        assert!(matches!(outcome, CallOutcome::Returned(_)));
        if i >= 50 {
            samples.push(took); // the first 50 warm the pool and the caches
        }
    }
    report(
        &format!("B1 instantiate+describe, pooling={pooling}"),
        samples,
    )
}

fn empty_manifest() -> Manifest {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("connectors.toml");
    Manifest::parse("", &path, &FakeEnv::default()).unwrap().0
}

async fn start_to_first_run(db: &TestDb, dir: &std::path::Path) -> Duration {
    let path = dir.join("connectors.toml");
    let started = Instant::now();
    let (m, s) = Manifest::load(&path, &FakeEnv::default()).unwrap();
    let runner = Runner::start(m, s).await.unwrap();
    let outcome = runner
        .run(
            "kit",
            RunRequest {
                job: Some("noop".into()),
                ..RunRequest::manual()
            },
        )
        .await
        .unwrap();
    let took = started.elapsed();
    assert!(outcome.status.is_success());
    runner.shutdown().await;
    let _ = db;
    took
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    println!(
        "machine: {} cores; wasmtime 48, cranelift opt-level speed, epoch interruption on",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0)
    );
    let db = TestDb::sqlite().unwrap();
    let store = Store::connect(&db.url).await.unwrap();
    store.migrate().await.unwrap();

    let pooled = instantiate_and_call(true, &store, 2000).await;
    let unpooled = instantiate_and_call(false, &store, 2000).await;
    println!(
        "B1 ratio unpooled/pooled p50: {:.2}x",
        unpooled.as_secs_f64() / pooled.as_secs_f64()
    );

    // B3: compile vs cache hit for the same plugin, alternating so noise hits both alike.
    let cache = tempfile::tempdir().unwrap();
    let runtime = Runtime::new(&EngineOptions {
        pooling: true,
        max_instances: 10,
        max_memory_bytes: 256 << 20,
        cache_dir: cache.path().to_owned(),
    })
    .unwrap();
    let wasm = connector_tests::plugin("testkit");
    runtime.load(&wasm).unwrap(); // fills the cache
    let (mut compile, mut hit) = (Vec::new(), Vec::new());
    for _ in 0..15 {
        let t = Instant::now();
        runtime.load_uncached(&wasm).unwrap();
        compile.push(t.elapsed());
        let t = Instant::now();
        runtime.load(&wasm).unwrap();
        hit.push(t.elapsed());
    }
    let c = report("B3 load by compiling", compile);
    let h = report("B3 load from the compile cache", hit);
    println!(
        "B3 ratio compile/cache-hit p50: {:.0}x",
        c.as_secs_f64() / h.as_secs_f64()
    );

    // B14: start to first run, empty vs warm cache (a fresh cache directory each cold round).
    let (mut cold, mut warm) = (Vec::new(), Vec::new());
    for _ in 0..7 {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("connectors.toml"),
            manifest(
                &db,
                "[connectors.kit]\nplugin = {plugin:testkit}\ntables = [\"kit_items\"]\n",
            ),
        )
        .unwrap();
        cold.push(start_to_first_run(&db, dir.path()).await);
        warm.push(start_to_first_run(&db, dir.path()).await);
    }
    let c = report("B14 start to first run, empty cache", cold);
    let w = report("B14 start to first run, warm cache", warm);
    println!(
        "B14 ratio empty/warm p50: {:.1}x",
        c.as_secs_f64() / w.as_secs_f64()
    );
    store.close().await;
}
