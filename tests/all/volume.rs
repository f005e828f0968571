//! What one plugin can pile up by repeating a call is bounded, on both backends: a query result
//! is streamed and stopped at its cap, and log events, enqueued jobs and state are capped per
//! call or per connector, answered with `too-large` (logs: dropped and counted on the run).

use connector_host::limits;
use connector_host::runner::RunRequest;
use connector_host::store::RunStatus;
use connector_tests::db::{scalar, TestDb};
use connector_tests::host::{start, FakeEnv};
use std::time::{Duration, Instant};

fn kit(settings: &str) -> String {
    format!(
        "[connectors.kit]\nplugin = {{plugin:testkit}}\ntables = [\"kit_items\"]\ntimeout = \"30s\"\n\
         settings = {{ {settings} }}\n"
    )
}

fn job(name: &str) -> RunRequest {
    RunRequest {
        job: Some(name.to_owned()),
        ..RunRequest::manual()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_query_result_is_cut_off_at_its_cap_and_the_run_goes_on() {
    for db in TestDb::all("endless_query").await.unwrap() {
        let host = start(&db, &kit(""), &FakeEnv::default()).await.unwrap();
        let started = Instant::now();
        let o = host.runner.run("kit", job("huge-select")).await.unwrap();
        let took = started.elapsed();
        assert_eq!(o.status, RunStatus::Succeeded, "{o:?}");
        assert_eq!(
            o.summary.as_deref(),
            Some("too-large/ok"),
            "{}: the endless result is refused, the next query works",
            db.backend
        );
        // Loaded whole, the result would have run until the 30 s deadline.
        assert!(took < Duration::from_secs(15), "{}: {took:?}", db.backend);
        host.runner.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_events_past_the_cap_are_dropped_and_counted_on_the_run() {
    for db in TestDb::all("log_flood").await.unwrap() {
        let extra = 1_500;
        let events = limits::LOG_EVENTS_PER_CALL + extra;
        let host = start(
            &db,
            &kit(&format!("events = {events}")),
            &FakeEnv::default(),
        )
        .await
        .unwrap();
        let o = host.runner.run("kit", job("log-flood")).await.unwrap();
        assert_eq!(o.status, RunStatus::Succeeded, "{o:?}");
        let run = host
            .runner
            .store
            .run_by_id(o.run_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(run.log_events_dropped as u64, extra, "{}", db.backend);
        host.runner.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_enqueues_at_most_its_cap_of_jobs() {
    for db in TestDb::all("job_flood").await.unwrap() {
        let jobs = limits::JOBS_PER_CALL + 1;
        let host = start(&db, &kit(&format!("jobs = {jobs}")), &FakeEnv::default())
            .await
            .unwrap();
        let o = host.runner.run("kit", job("enqueue-many")).await.unwrap();
        assert_eq!(o.status, RunStatus::Failed, "{o:?}");
        assert_eq!(o.error_kind.as_deref(), Some("too-large"), "{o:?}");
        let n = scalar(&db.url, "SELECT count(*) FROM queue_jobs")
            .await
            .unwrap();
        assert_eq!(n, 0, "{}: the failed run leaves no job behind", db.backend);
        host.runner.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connector_keeps_at_most_its_cap_of_state_keys_and_bytes() {
    for db in TestDb::all("state_flood").await.unwrap() {
        let keys = limits::STATE_KEYS_PER_CONNECTOR + 50;
        let host = start(&db, &kit(&format!("keys = {keys}")), &FakeEnv::default())
            .await
            .unwrap();
        let o = host.runner.run("kit", job("state-flood")).await.unwrap();
        let summary: serde_json::Value =
            serde_json::from_str(o.summary.as_deref().unwrap()).unwrap();
        assert_eq!(
            summary,
            serde_json::json!({ "stored": limits::STATE_KEYS_PER_CONNECTOR, "error": "too-large" }),
            "{}",
            db.backend
        );
        // The same keys again: overwriting is always allowed.
        let again = host.runner.run("kit", job("state-flood")).await.unwrap();
        assert!(again.summary.unwrap().contains("\"stored\":1000"));
        host.runner.shutdown().await;

        // Fewer, bigger values (another connector, so its own state): the byte cap.
        let value = 100_000;
        let big = kit(&format!("keys = 500, value_bytes = {value}"))
            .replace("connectors.kit", "connectors.big");
        let host = start(&db, &big, &FakeEnv::default()).await.unwrap();
        let o = host.runner.run("big", job("state-flood")).await.unwrap();
        let summary: serde_json::Value =
            serde_json::from_str(o.summary.as_deref().unwrap()).unwrap();
        let fits = limits::STATE_BYTES_PER_CONNECTOR / (value + 6);
        assert_eq!(summary["stored"], fits as u64, "{summary}");
        assert_eq!(summary["error"], "too-large");
        host.runner.shutdown().await;
    }
}
