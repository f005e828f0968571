use connector_host::runner::RunRequest;
use connector_host::store::RunStatus;
use connector_tests::db::TestDb;
use connector_tests::host::{start, FakeEnv};
use sqlx::Row;

const KIT: &str = r#"
[connectors.kit]
plugin = {plugin:testkit}
tables = ["kit_items"]
timeout = "20s"
settings = { rows = 4, label = "row" }
"#;

fn job(name: &str) -> RunRequest {
    RunRequest {
        job: Some(name.to_owned()),
        ..RunRequest::manual()
    }
}

async fn count_items(url: &str) -> i64 {
    if url.starts_with("sqlite") {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        let n = sqlx::query("SELECT count(*) FROM kit_items")
            .fetch_one(&pool)
            .await
            .unwrap()
            .get(0);
        pool.close().await;
        n
    } else {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        let n = sqlx::query("SELECT count(*) FROM kit_items")
            .fetch_one(&pool)
            .await
            .unwrap()
            .get(0);
        pool.close().await;
        n
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_writes_rows_moves_the_cursor_and_records_the_run() {
    for db in TestDb::all("sync_writes_rows").await.unwrap() {
        let host = start(&db, KIT, &FakeEnv::default()).await.unwrap();
        let first = host.runner.run("kit", job("sync")).await.unwrap();
        assert_eq!(
            first.status,
            RunStatus::Succeeded,
            "{}: {first:?}",
            db.backend
        );
        assert_eq!(first.rows_written, 4);
        assert_eq!(first.summary.as_deref(), Some("wrote 4 rows"));
        assert!(
            first.counters.contains(&("total".to_owned(), 4)),
            "{:?}",
            first.counters
        );

        // The cursor was committed with the rows: the next run continues after them.
        let second = host.runner.run("kit", job("sync")).await.unwrap();
        assert_eq!(second.status, RunStatus::Succeeded);
        assert!(
            second.counters.contains(&("total".to_owned(), 8)),
            "{:?}",
            second.counters
        );
        assert_eq!(count_items(&db.url).await, 8);

        let runs = host
            .runner
            .store
            .recent_runs(10, Some("kit"))
            .await
            .unwrap();
        assert_eq!(runs.len(), 2);
        let r = &runs[1];
        assert_eq!(
            (r.id, r.status.as_str(), r.job.as_str()),
            (first.run_id, "succeeded", "sync")
        );
        assert_eq!(r.trigger, "manual");
        assert_eq!(r.rows_written, 4);
        assert!(r.finished_at.unwrap() >= r.started_at);
        assert_eq!(r.counters["total"], 4);
        assert_eq!(r.error_kind, None);
        host.runner.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_rolls_everything_back_but_reports_it() {
    for db in TestDb::all("dry_run").await.unwrap() {
        let host = start(&db, KIT, &FakeEnv::default()).await.unwrap();
        let dry = RunRequest {
            dry_run: true,
            ..job("sync")
        };
        let outcome = host.runner.run("kit", dry).await.unwrap();
        assert_eq!(outcome.status, RunStatus::Succeeded, "{}", db.backend);
        assert_eq!(
            outcome.rows_written, 4,
            "a dry run reports what it would write"
        );
        assert_eq!(count_items(&db.url).await, 0);
        // The cursor did not move either: a real run starts from zero.
        let real = host.runner.run("kit", job("sync")).await.unwrap();
        assert!(
            real.counters.contains(&("total".to_owned(), 4)),
            "{:?}",
            real.counters
        );
        host.runner.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_not_granted_is_denied_and_the_run_goes_on() {
    for db in TestDb::all("denied_table").await.unwrap() {
        let host = start(&db, KIT, &FakeEnv::default()).await.unwrap();
        let outcome = host.runner.run("kit", job("denied-table")).await.unwrap();
        assert_eq!(
            outcome.status,
            RunStatus::Succeeded,
            "{}: {outcome:?}",
            db.backend
        );
        assert_eq!(
            outcome.summary.as_deref(),
            Some("denied: table `runs` is not granted to this connector")
        );
        host.runner.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_plugin_is_recorded_with_its_error_and_writes_nothing() {
    for db in TestDb::all("failing_plugin").await.unwrap() {
        let host = start(&db, KIT, &FakeEnv::default()).await.unwrap();
        let outcome = host.runner.run("kit", job("fail")).await.unwrap();
        assert_eq!(outcome.status, RunStatus::Failed);
        assert_eq!(outcome.error_kind.as_deref(), Some("upstream"));
        assert_eq!(
            outcome.error_message.as_deref(),
            Some("testkit asked to fail")
        );
        let runs = host.runner.store.recent_runs(1, None).await.unwrap();
        assert_eq!(runs[0].status, "failed");
        assert_eq!(
            runs[0].error_message.as_deref(),
            Some("testkit asked to fail")
        );
        host.runner.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_survives_a_later_trap() {
    for db in TestDb::all("checkpoint_trap").await.unwrap() {
        let host = start(&db, KIT, &FakeEnv::default()).await.unwrap();
        let outcome = host
            .runner
            .run("kit", job("checkpoint-then-trap"))
            .await
            .unwrap();
        assert_eq!(outcome.status, RunStatus::Trapped, "{}", db.backend);
        assert_eq!(
            count_items(&db.url).await,
            1,
            "only the checkpointed row stays"
        );
        host.runner.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capabilities_are_denied_by_default() {
    let db = TestDb::sqlite().unwrap();
    let host = start(&db, KIT, &FakeEnv::default()).await.unwrap();
    // No http table in the manifest: no origin is allowed.
    let outcome = host.runner.run("kit", job("http")).await.unwrap();
    assert_eq!(outcome.status, RunStatus::Failed);
    assert_eq!(outcome.error_kind.as_deref(), Some("denied"));
    assert_eq!(
        outcome.error_message.as_deref(),
        Some("http://127.0.0.1:9 is not in this connector's http.allow")
    );
    host.runner.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_values_are_refused_not_trapped() {
    let db = TestDb::sqlite().unwrap();
    let host = start(&db, KIT, &FakeEnv::default()).await.unwrap();
    let outcome = host.runner.run("kit", job("big-log")).await.unwrap();
    assert_eq!(outcome.status, RunStatus::Succeeded, "{outcome:?}");
    assert_eq!(
        outcome.summary.as_deref(),
        Some("state value refused as too large")
    );
    host.runner.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_connector_names_the_closest_one() {
    let db = TestDb::sqlite().unwrap();
    let host = start(&db, KIT, &FakeEnv::default()).await.unwrap();
    let err = host
        .runner
        .run("kti", RunRequest::manual())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "no connector named \"kti\" in the manifest; did you mean \"kit\"?"
    );
    host.runner.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_events_name_their_run_or_job_and_a_failed_run_is_a_warning() {
    let logs = connector_tests::logs::capture();
    let db = TestDb::sqlite().unwrap();
    let text = KIT.replace(
        "settings = { rows = 4, label = \"row\" }",
        "settings = { rows = 4, label = \"row\", jobs = [{ kind = \"log\" }] }",
    );
    let host = start(&db, &text, &FakeEnv::default()).await.unwrap();
    let failed = host.runner.run("kit", job("fail")).await.unwrap();
    assert_eq!(failed.status, RunStatus::Failed);
    host.runner.run("kit", job("enqueue")).await.unwrap();
    let done = host.runner.drain_queue("w", 5).await.unwrap();
    let job_id = done[0].job.id;
    let captured = logs.contents();
    let line = captured
        .lines()
        .find(|l| l.contains("job says hello") && l.contains(&format!("job_id={job_id}")))
        .unwrap_or_else(|| panic!("no job log line with its job id in:\n{captured}"));
    assert!(!line.contains("run_id=0"), "{line}");
    let warning = captured
        .lines()
        .find(|l| {
            l.contains(&format!("run_id={}", failed.run_id)) && l.contains("testkit asked to fail")
        })
        .unwrap_or_else(|| panic!("no line for the failed run in:\n{captured}"));
    assert!(warning.contains("WARN"), "{warning}");
    assert!(warning.contains("run failed"), "{warning}");
    host.runner.shutdown().await;
}
