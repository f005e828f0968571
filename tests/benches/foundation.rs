//! Foundation benchmarks (PERFORMANCE.md B1, B2, B3, B4, B5, B14), measured side by side in one
//! process:
//!
//! - B1: instantiate + call of a trivial export (`describe`), pooling allocator on and off;
//! - B2: guest → host import round trips (nothing, a 1 KiB string, a 64 KiB list), timed by the
//!   guest itself through the host's real capabilities (testkit job `imports`);
//! - B4: a CPU-bound guest (testkit job `cpu`, no host calls) with epoch interruption off, on
//!   with a far deadline (the checks alone), and on with a yield at every tick as the host runs
//!   plugins; then how far a spinning plugin overshoots its run's deadline through the host;
//! - B5: RSS of 1,000 idle instances of the testkit in the host's engine (pooling allocator);
//! - B3: plugin load by compiling vs from the compile cache;
//! - B14: host start (database, migrations, engine, plugins) to the end of a first no-op run,
//!   with an empty and with a warm compile cache.
//!
//! Run with `cargo bench -p connector-tests --bench foundation`; figures go to BENCHMARKS.md.

use connector_host::bindings::connector::host::connector_types::{RunContext, Trigger};
use connector_host::bindings::Connector;
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

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// A runner with one testkit connector on `db`, with extra settings.
async fn kit_runner(db: &TestDb, extra: &str) -> (Runner, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("connectors.toml");
    let text = manifest(
        db,
        &format!(
            "[connectors.kit]\nplugin = {{plugin:testkit}}\ntables = [\"kit_items\"]\n{extra}"
        ),
    );
    std::fs::write(&path, text).unwrap();
    let (m, s) = Manifest::load(&path, &FakeEnv::default()).unwrap();
    (Runner::start(m, s).await.unwrap(), dir)
}

/// B2: import round trips as the guest times them, through the host's real capabilities.
async fn import_round_trips(db: &TestDb) {
    let (runner, _dir) = kit_runner(db, "timeout = \"5m\"\n").await;
    let mut rounds: Vec<[u64; 3]> = Vec::new();
    for _ in 0..5 {
        let o = runner
            .run(
                "kit",
                RunRequest {
                    job: Some("imports".into()),
                    ..RunRequest::manual()
                },
            )
            .await
            .unwrap();
        assert!(o.status.is_success(), "{o:?}");
        let c = |k: &str| {
            o.counters
                .iter()
                .find(|(n, _)| n == k)
                .map_or(0, |(_, v)| *v)
        };
        rounds.push([c("nop_ps"), c("string_1k_ps"), c("list_64k_ps")]);
    }
    runner.shutdown().await;
    for (i, what) in ["nothing", "a 1 KiB string", "a 64 KiB list"]
        .iter()
        .enumerate()
    {
        let mut v: Vec<u64> = rounds.iter().map(|r| r[i]).collect();
        v.sort();
        println!(
            "B2 import round trip carrying {what:<15} median {:>9.0} ns (rounds {:.0}-{:.0} ns)",
            v[v.len() / 2] as f64 / 1000.0,
            v[0] as f64 / 1000.0,
            v[v.len() - 1] as f64 / 1000.0
        );
    }
}

/// Calls the testkit's `cpu` job in a fresh instance on `engine`, every import a trap (the job
/// makes none); returns the time `run` took.
async fn cpu_call(
    engine: &wasmtime::Engine,
    component: &wasmtime::component::Component,
    epochs: Option<bool>,
    iterations: u64,
) -> Duration {
    let mut linker: wasmtime::component::Linker<()> = wasmtime::component::Linker::new(engine);
    linker.define_unknown_imports_as_traps(component).unwrap();
    let mut store = wasmtime::Store::new(engine, ());
    match epochs {
        None => {}
        // Epoch checks in the code, a deadline that never comes.
        Some(false) => store.set_epoch_deadline(u64::MAX / 2),
        // As the host runs plugins: a yield to the executor at every tick.
        Some(true) => {
            store.set_epoch_deadline(1);
            store.epoch_deadline_callback(|_| Ok(wasmtime::UpdateDeadline::Yield(1)));
        }
    }
    let instance = Connector::instantiate_async(&mut store, component, &linker)
        .await
        .unwrap();
    let ctx = RunContext {
        run_id: 0,
        job: "cpu".into(),
        trigger: Trigger::Manual,
        scheduled_for: None,
        attempt: 1,
        dry_run: false,
        input: Some(format!("{{\"iterations\": {iterations}}}")),
    };
    let started = Instant::now();
    let summary = instance.call_run(&mut store, &ctx).await.unwrap();
    let took = started.elapsed();
    assert!(summary.is_ok(), "{summary:?}");
    took
}

/// B4: epoch interruption's cost on CPU-bound guest code, and how late a deadline stops it.
async fn epoch_overhead(db: &TestDb) {
    let wasm = std::path::Path::new(connector_tests::wasm::TESTKIT);
    let cache = tempfile::tempdir().unwrap();
    let host = Runtime::new(&EngineOptions {
        pooling: true,
        max_instances: 10,
        max_memory_bytes: 256 << 20,
        cache_dir: cache.path().to_owned(),
    })
    .unwrap();
    let with_epochs = wasmtime::component::Component::from_file(host.engine(), wasm).unwrap();
    let mut config = wasmtime::Config::new();
    config.wasm_component_model(true);
    let plain = wasmtime::Engine::new(&config).unwrap();
    let without = wasmtime::component::Component::from_file(&plain, wasm).unwrap();
    let iterations = 200_000_000;
    let (mut off, mut checks, mut yields) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..7 {
        off.push(cpu_call(&plain, &without, None, iterations).await);
        checks.push(cpu_call(host.engine(), &with_epochs, Some(false), iterations).await);
        yields.push(cpu_call(host.engine(), &with_epochs, Some(true), iterations).await);
    }
    let spread = |v: &[Duration]| {
        let mut v = v.to_vec();
        v.sort();
        format!(
            "{:.0}-{:.0} ms",
            v[0].as_secs_f64() * 1e3,
            v[v.len() - 1].as_secs_f64() * 1e3
        )
    };
    let (so, sc, sy) = (spread(&off), spread(&checks), spread(&yields));
    let (o, c, y) = (median(off), median(checks), median(yields));
    println!(
        "B4 {iterations} xorshift rounds: epochs off {:.0} ms ({so}); epoch checks {:.0} ms ({sc}), {:+.1} %; checks + a yield every tick (the host) {:.0} ms ({sy}), {:+.1} % (medians of 7)",
        o.as_secs_f64() * 1e3,
        c.as_secs_f64() * 1e3,
        (c.as_secs_f64() / o.as_secs_f64() - 1.0) * 100.0,
        y.as_secs_f64() * 1e3,
        (y.as_secs_f64() / o.as_secs_f64() - 1.0) * 100.0,
    );

    // Overshoot: a plugin that spins forever, through the host, with a 1 s timeout.
    let (runner, _dir) = kit_runner(db, "timeout = \"1s\"\n").await;
    let mut late = Vec::new();
    for _ in 0..20 {
        let started = Instant::now();
        let o = runner
            .run(
                "kit",
                RunRequest {
                    job: Some("spin".into()),
                    ..RunRequest::manual()
                },
            )
            .await
            .unwrap();
        assert!(!o.status.is_success());
        // The run's own clock starts before the instance; this one after the request.
        late.push(started.elapsed().saturating_sub(Duration::from_secs(1)));
    }
    runner.shutdown().await;
    late.sort();
    println!(
        "B4 overshoot past a 1 s deadline, whole run through the host (n=20): median {:.1} ms, max {:.1} ms (epoch tick {} ms)",
        late[late.len() / 2].as_secs_f64() * 1e3,
        late[late.len() - 1].as_secs_f64() * 1e3,
        connector_host::runtime::EPOCH_TICK.as_millis()
    );
}

/// B5: RSS of 1,000 idle testkit instances, each in its own store, in the host's engine.
async fn idle_instances() {
    let wasm = std::path::Path::new(connector_tests::wasm::TESTKIT);
    let cache = tempfile::tempdir().unwrap();
    let host = Runtime::new(&EngineOptions {
        pooling: true,
        max_instances: 1100,
        max_memory_bytes: 256 << 20,
        cache_dir: cache.path().to_owned(),
    })
    .unwrap();
    let engine = host.engine();
    let component = wasmtime::component::Component::from_file(engine, wasm).unwrap();
    let mut linker: wasmtime::component::Linker<()> = wasmtime::component::Linker::new(engine);
    linker.define_unknown_imports_as_traps(&component).unwrap();
    let pre = linker.instantiate_pre(&component).unwrap();
    // One instance first, so the code and the engine's own state are counted before.
    let store = || {
        let mut store = wasmtime::Store::new(engine, ());
        // The engine interrupts at the epoch deadline; these instances never run.
        store.set_epoch_deadline(u64::MAX / 2);
        store
    };
    let mut warm = store();
    pre.instantiate_async(&mut warm).await.unwrap();
    let before = rss_kib();
    let mut idle = Vec::with_capacity(1000);
    for _ in 0..1000 {
        let mut idle_store = store();
        let instance = pre.instantiate_async(&mut idle_store).await.unwrap();
        idle.push((idle_store, instance));
    }
    let after = rss_kib();
    println!(
        "B5 1,000 idle testkit instances: RSS +{:.1} MiB ({:.0} KiB each)",
        (after - before) as f64 / 1024.0,
        (after - before) as f64 / 1000.0
    );
    drop(idle);
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
    import_round_trips(&db).await;
    epoch_overhead(&db).await;
    idle_instances().await;
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
