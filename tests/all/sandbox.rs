use connector_host::runner::RunRequest;
use connector_host::store::RunStatus;
use connector_tests::db::TestDb;
use connector_tests::host::{start, FakeEnv};
use std::time::{Duration, Instant};

const CONNECTORS: &str = r#"
[connectors.bad]
plugin = {plugin:testkit}
tables = ["kit_items"]
timeout = "1s"
memory = "32MiB"

[connectors.good]
plugin = {plugin:testkit}
tables = ["kit_items"]
settings = { rows = 2 }
"#;

fn job(name: &str) -> RunRequest {
    RunRequest {
        job: Some(name.to_owned()),
        ..RunRequest::manual()
    }
}

/// After a misbehaving run, another connector still runs fine on the same host.
async fn good_still_runs(host: &connector_tests::host::TestHost) {
    let ok = host.runner.run("good", job("sync")).await.unwrap();
    assert_eq!(ok.status, RunStatus::Succeeded, "{ok:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_plugin_traps_that_run_only() {
    for db in TestDb::all("panic").await.unwrap() {
        let host = start(&db, CONNECTORS, &FakeEnv::default()).await.unwrap();
        let outcome = host.runner.run("bad", job("trap")).await.unwrap();
        assert_eq!(outcome.status, RunStatus::Trapped, "{}", db.backend);
        assert_eq!(outcome.error_kind.as_deref(), Some("trapped"));
        let message = outcome.error_message.unwrap();
        assert!(message.contains("testkit asked to trap"), "{message}");
        good_still_runs(&host).await;
        let runs = host.runner.store.recent_runs(2, None).await.unwrap();
        assert_eq!(runs[1].status, "trapped");
        host.runner.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runaway_loop_is_stopped_at_its_deadline() {
    for db in TestDb::all("spin").await.unwrap() {
        let host = start(&db, CONNECTORS, &FakeEnv::default()).await.unwrap();
        let started = Instant::now();
        let outcome = host.runner.run("bad", job("spin")).await.unwrap();
        let took = started.elapsed();
        assert_eq!(outcome.status, RunStatus::Timeout, "{}", db.backend);
        assert!(took >= Duration::from_secs(1), "stopped early: {took:?}");
        assert!(took < Duration::from_secs(3), "stopped late: {took:?}");
        good_still_runs(&host).await;
        let runs = host.runner.store.recent_runs(2, None).await.unwrap();
        assert_eq!(runs[1].status, "timeout");
        host.runner.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_stalled_inside_a_host_call_is_stopped_too() {
    for db in TestDb::all("slow_host_call").await.unwrap() {
        let host = start(&db, CONNECTORS, &FakeEnv::default()).await.unwrap();
        let started = Instant::now();
        let outcome = host.runner.run("bad", job("slow-query")).await.unwrap();
        let took = started.elapsed();
        assert_eq!(
            outcome.status,
            RunStatus::Timeout,
            "{}: {outcome:?}",
            db.backend
        );
        assert!(took < Duration::from_secs(3), "stopped late: {took:?}");
        // The query itself was interrupted, so the database is free for the next run at once.
        let started = Instant::now();
        good_still_runs(&host).await;
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        host.runner.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_memory_bomb_is_stopped_at_its_cap() {
    for db in TestDb::all("oom").await.unwrap() {
        let host = start(&db, CONNECTORS, &FakeEnv::default()).await.unwrap();
        let outcome = host.runner.run("bad", job("oom")).await.unwrap();
        assert_eq!(
            outcome.status,
            RunStatus::OutOfMemory,
            "{}: {outcome:?}",
            db.backend
        );
        assert_eq!(outcome.error_kind.as_deref(), Some("out-of-memory"));
        good_still_runs(&host).await;
        host.runner.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugin_output_becomes_log_events_not_host_output() {
    let db = TestDb::sqlite().unwrap();
    let host = start(&db, CONNECTORS, &FakeEnv::default()).await.unwrap();
    let outcome = host.runner.run("good", job("stdout")).await.unwrap();
    assert_eq!(outcome.status, RunStatus::Succeeded);
    host.runner.shutdown().await;
}
