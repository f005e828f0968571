//! Foundation benchmarks (PERFORMANCE.md B1, B3, B14), measured side by side in one process:
//!
//! - B1: instantiate + call of a trivial export (`describe`), pooling allocator on and off;
//! - B3: plugin load by compiling vs from the compile cache;
//! - B14: host start (database, migrations, engine, plugins) to the end of a first no-op run,
//!   with an empty and with a warm compile cache.
//!
//! Run with `cargo bench -p connector-tests --bench foundation`; figures go to BENCHMARKS.md.

use connector_host::manifest::Manifest;
use connector_host::runner::{RunRequest, Runner};
use connector_host::runtime::{EngineOptions, Runtime};
use connector_tests::db::TestDb;
use connector_tests::host::{manifest, FakeEnv};
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

/// B1 through the host's own call path: prepare the call's capabilities, instantiate,
/// `describe`, settle.
async fn instantiate_and_call(pooling: bool, db: &TestDb, iterations: usize) -> Duration {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("connectors.toml");
    let text = manifest(
        db,
        &format!("[runtime]\npooling = {pooling}\n\n[connectors.kit]\nplugin = {{plugin:testkit}}\ntables = [\"kit_items\"]\n"),
    );
    std::fs::write(&path, text).unwrap();
    let (m, s) = Manifest::load(&path, &FakeEnv::default()).unwrap();
    let runner = Runner::start(m, s).await.unwrap();
    let mut samples = Vec::with_capacity(iterations);
    for i in 0..iterations + 50 {
        let started = Instant::now();
        runner.describe_connector("kit").await.unwrap();
        let took = started.elapsed();
        if i >= 50 {
            samples.push(took); // the first 50 warm the pool and the caches
        }
    }
    runner.shutdown().await;
    report(
        &format!("B1 instantiate+describe, pooling={pooling}"),
        samples,
    )
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
    let pooled = instantiate_and_call(true, &db, 2000).await;
    let unpooled = instantiate_and_call(false, &db, 2000).await;
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
    let wasm = std::path::Path::new(connector_tests::wasm::TESTKIT);
    runtime.load(wasm, None).unwrap(); // fills the cache
    let (mut compile, mut hit) = (Vec::new(), Vec::new());
    for _ in 0..15 {
        let t = Instant::now();
        runtime.load_uncached(wasm).unwrap();
        compile.push(t.elapsed());
        let t = Instant::now();
        runtime.load(wasm, None).unwrap();
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
}
