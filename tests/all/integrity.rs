//! The promises that make a run safe to repeat, on both backends: a dry run leaves the database
//! exactly as it was, checkpoints included; nothing a plugin does after its deadline reaches the
//! database; a refused value or a failing statement does not lose the transaction's earlier
//! work; SQLite writers queue instead of failing; a stopped or killed run is neither lost nor
//! left looking alive; and enqueued jobs get the configured attempts.

use crate::host_binary;
use chrono::{Duration as Span, TimeZone, Utc};
use connector_host::daemon::SystemClock;
use connector_host::manifest::Manifest;
use connector_host::runner::{RunRequest, Runner, Webhook};
use connector_host::store::RunStatus;
use connector_tests::daemon::{start_daemon, start_with};
use connector_tests::db::{dump, scalar, TestDb};
use connector_tests::host::{manifest, start, FakeEnv};
use std::sync::Arc;
use std::time::Duration;

fn kit(settings: &str, extra: &str) -> String {
    format!(
        "[connectors.kit]\nplugin = {{plugin:testkit}}\ntables = [\"kit_items\"]\ntimeout = \"20s\"\n\
         settings = {{ {settings} }}\n{extra}\n"
    )
}

fn job(name: &str) -> RunRequest {
    RunRequest {
        job: Some(name.to_owned()),
        ..RunRequest::manual()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_of_a_checkpointing_connector_leaves_the_database_as_it_was() {
    for db in TestDb::all("dry_run_checkpoints").await.unwrap() {
        let host = start(&db, &kit("pages = 3, rows = 2", ""), &FakeEnv::default())
            .await
            .unwrap();
        let first = host.runner.run("kit", job("pages")).await.unwrap();
        assert_eq!(first.status, RunStatus::Succeeded, "{first:?}");
        let before = dump(&db.url, connector_tests::db::RUN_RECORDS)
            .await
            .unwrap();
        assert_eq!(before["kit_items"].len(), 6, "{}", db.backend);
        assert_eq!(before["queue_jobs"].len(), 3);

        let dry = RunRequest {
            dry_run: true,
            ..job("pages")
        };
        let outcome = host.runner.run("kit", dry).await.unwrap();
        assert_eq!(outcome.status, RunStatus::Succeeded, "{outcome:?}");
        assert_eq!(outcome.rows_written, 6, "what it would have written");
        let after = dump(&db.url, connector_tests::db::RUN_RECORDS)
            .await
            .unwrap();
        assert_eq!(
            before, after,
            "{}: a dry run changed the database (three checkpoints, rows, state and jobs)",
            db.backend
        );

        // The cursor did not move: the next real run continues where the first one stopped.
        let next = host.runner.run("kit", job("pages")).await.unwrap();
        assert_eq!(next.status, RunStatus::Succeeded);
        let rows = scalar(&db.url, "SELECT count(*) FROM kit_items WHERE id = 'p3-0'")
            .await
            .unwrap();
        assert_eq!(rows, 1, "{}", db.backend);
        host.runner.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_a_plugin_does_after_its_deadline_reaches_the_database() {
    for db in TestDb::all("past_deadline").await.unwrap() {
        let text = kit("rows = 2", "").replace("timeout = \"20s\"", "timeout = \"2s\"");
        let host = start(&db, &text, &FakeEnv::default()).await.unwrap();
        let outcome = host
            .runner
            .run("kit", job("write-past-deadline"))
            .await
            .unwrap();
        assert_eq!(outcome.status, RunStatus::Timeout, "{outcome:?}");
        let items = scalar(&db.url, "SELECT count(*) FROM kit_items")
            .await
            .unwrap();
        let jobs = scalar(&db.url, "SELECT count(*) FROM queue_jobs")
            .await
            .unwrap();
        assert_eq!(
            (items, jobs),
            (0, 0),
            "{}: writes made before or after the deadline were kept",
            db.backend
        );
        assert!(
            !outcome
                .error_message
                .as_deref()
                .unwrap_or_default()
                .contains("rollback"),
            "{outcome:?}"
        );
        // The writer connection is still sound: the next run writes and commits.
        let next = host.runner.run("kit", job("sync")).await.unwrap();
        assert_eq!(next.status, RunStatus::Succeeded, "{next:?}");
        let items = scalar(&db.url, "SELECT count(*) FROM kit_items")
            .await
            .unwrap();
        assert_eq!(items, 2, "{}", db.backend);
        host.runner.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_the_database_cannot_store_is_refused_and_the_work_before_it_is_kept() {
    for db in TestDb::all("nul_refused").await.unwrap() {
        let settings =
            r#"jobs = [{ kind = "first" }, { kind = "bad\u0000kind" }, { kind = "last" }]"#;
        let host = start(&db, &kit(settings, ""), &FakeEnv::default())
            .await
            .unwrap();
        let outcome = host.runner.run("kit", job("enqueue-each")).await.unwrap();
        assert_eq!(outcome.status, RunStatus::Succeeded, "{outcome:?}");
        let summary: serde_json::Value =
            serde_json::from_str(outcome.summary.as_deref().unwrap()).unwrap();
        assert_eq!(
            summary,
            serde_json::json!({ "results": ["ok", "invalid", "ok"], "checkpoint": "ok" }),
            "{}",
            db.backend
        );
        let kinds = scalar(
            &db.url,
            "SELECT count(*) FROM queue_jobs WHERE kind IN ('first', 'last')",
        )
        .await
        .unwrap();
        assert_eq!(kinds, 2, "{}: jobs accepted before were lost", db.backend);
        host.runner.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_statement_is_its_own_and_names_the_parameter_at_fault() {
    for db in TestDb::all("statement_failure").await.unwrap() {
        let calls = r#"calls = [
            { sql = "INSERT INTO kit_items (id, n) VALUES ($1, $2)", params = ["a", 1] },
            { sql = "INSERT INTO kit_items (id, n) VALUES ($1, $2)", params = ["a", 2] },
            { sql = "INSERT INTO kit_items (id, n) VALUES ($1, $2)", params = ["x"] },
            { sql = "INSERT INTO kit_items (id, n) VALUES ($1, 3)", params = ["y", 4] },
            { sql = "INSERT INTO kit_items (id, n) VALUES ($1, $2)", params = ["b", 2] },
        ]"#;
        let host = start(
            &db,
            &kit(&calls.replace('\n', " "), ""),
            &FakeEnv::default(),
        )
        .await
        .unwrap();
        let outcome = host.runner.run("kit", job("sql-calls")).await.unwrap();
        assert_eq!(outcome.status, RunStatus::Succeeded, "{outcome:?}");
        let results: Vec<String> =
            serde_json::from_str(outcome.summary.as_deref().unwrap()).unwrap();
        assert_eq!(results[0], "ok");
        assert!(
            results[1].contains("Invalid("),
            "duplicate key: {results:?}"
        );
        assert!(
            results[2].contains("the statement uses $2 but 1 parameter(s) were given"),
            "{}: {results:?}",
            db.backend
        );
        assert!(
            results[3].contains("parameter $2 is not used"),
            "{}: {results:?}",
            db.backend
        );
        assert_eq!(results[4], "ok", "{}: the transaction was lost", db.backend);
        let ids = scalar(&db.url, "SELECT count(*) FROM kit_items")
            .await
            .unwrap();
        assert_eq!(ids, 2, "{}", db.backend);
        host.runner.shutdown().await;
    }
    // A parameter of the wrong type: PostgreSQL refuses it and says which; SQLite stores it.
    if let Some(db) = TestDb::postgres("statement_type").await.unwrap() {
        let calls = r#"calls = [
            { sql = "INSERT INTO kit_items (id, n) VALUES ($1, $2)", params = ["a", "three"] },
            { sql = "INSERT INTO kit_items (id, n) VALUES ($1, $2)", params = ["b", 2] },
        ]"#;
        let host = start(
            &db,
            &kit(&calls.replace('\n', " "), ""),
            &FakeEnv::default(),
        )
        .await
        .unwrap();
        let outcome = host.runner.run("kit", job("sql-calls")).await.unwrap();
        let results: Vec<String> =
            serde_json::from_str(outcome.summary.as_deref().unwrap()).unwrap();
        assert!(
            results[0].contains("(parameter $2)"),
            "the error names the parameter: {results:?}"
        );
        assert_eq!(results[1], "ok", "{results:?}");
        host.runner.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writers_queue_for_the_database_instead_of_failing() {
    for db in TestDb::all("writers_queue").await.unwrap() {
        let text = format!(
            "{}{}",
            kit("sleep_ms = 150, label = \"a\"", ""),
            kit("sleep_ms = 150, label = \"b\"", "").replace("connectors.kit", "connectors.kat")
        );
        let host = start(&db, &text, &FakeEnv::default()).await.unwrap();
        let runner = &host.runner;
        // Each run reads, waits while others commit, then writes: under a deferred transaction
        // SQLite refuses such a writer at once ("database is locked").
        let mut runs = Vec::new();
        for i in 0..12 {
            let connector = if i % 2 == 0 { "kit" } else { "kat" };
            runs.push(runner.run(connector, job("read-sleep-write")));
        }
        let outcomes = futures::future::join_all(runs).await;
        for o in &outcomes {
            let o = o.as_ref().unwrap();
            assert_eq!(o.status, RunStatus::Succeeded, "{}: {o:?}", db.backend);
        }
        let rows = scalar(&db.url, "SELECT count(*) FROM kit_items")
            .await
            .unwrap();
        assert_eq!(rows, 12, "{}", db.backend);
        host.runner.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_cannot_get_the_sqlite_writer_in_time_names_the_holder() {
    let db = TestDb::sqlite().unwrap();
    let text = format!(
        "{}{}",
        kit("sleep_ms = 4000", "").replace("connectors.kit", "connectors.hog"),
        kit("sleep_ms = 1000", "").replace("timeout = \"20s\"", "timeout = \"2s\"")
    );
    let host = start(&db, &text, &FakeEnv::default()).await.unwrap();
    // The victim starts first and reads; while it waits, the hog writes and holds on.
    let victim = host.runner.run("kit", job("read-sleep-write"));
    let hog = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        host.runner.run("hog", job("hold-writer")).await
    };
    let (victim, hog) = tokio::join!(victim, hog);
    let (hog, victim) = (hog.unwrap(), victim.unwrap());
    assert_eq!(hog.status, RunStatus::Succeeded, "{hog:?}");
    assert_eq!(victim.status, RunStatus::Timeout, "{victim:?}");
    let message = victim.error_message.unwrap();
    let holder = format!("held by run {} of connector hog", hog.run_id);
    assert!(
        message.contains("for SQLite's write lock") && message.contains(&holder),
        "{message}"
    );
    host.runner.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_run_stopped_by_a_shutdown_is_retried_by_the_next_host() {
    for db in TestDb::all("stopped_retried").await.unwrap() {
        let text = format!(
            "[runtime]\nrun_lease = \"3s\"\nqueue_workers = 0\n\n{}\
             [connectors.kit.schedules.slow]\ncron = \"* * * * * *\"\njob = \"sleep\"\nmax_attempts = 2\n",
            kit("sleep_ms = 60000", "")
        );
        let a = start_daemon(&db, &text, &FakeEnv::default(), Arc::new(SystemClock))
            .await
            .unwrap();
        let store = a.daemon.runner().store.clone();
        let at = Utc.timestamp_opt(Utc::now().timestamp() + 1, 0).unwrap();
        a.daemon.tick(at).await;
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while store.recent_runs(1, None).await.unwrap().is_empty() {
            assert!(
                std::time::Instant::now() < deadline,
                "the run never started"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let report = a.daemon.shutdown(Duration::ZERO).await;
        assert_eq!(report.interrupted.len(), 1, "{}", db.backend);
        let first = store.recent_runs(1, None).await.unwrap().remove(0);
        assert_eq!(first.status, "interrupted");

        // The next host (a rolling restart) retries it on its first sweep.
        let (m, s) = Manifest::load(&a.path, &FakeEnv::default()).unwrap();
        let runner = Runner::start(m, s).await.unwrap();
        let b = start_with(
            runner,
            a.path.clone(),
            a.dir,
            &db,
            &FakeEnv::default(),
            Arc::new(SystemClock),
        )
        .await
        .unwrap();
        b.daemon.sweep(Utc::now() + Span::seconds(1)).await.unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let retry = loop {
            let runs = store.recent_runs(10, None).await.unwrap();
            if let Some(r) = runs.iter().find(|r| r.trigger == "retry") {
                break r.clone();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{}: no retry: {runs:#?}",
                db.backend
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(retry.attempt, 2);
        assert_eq!(retry.scheduled_for, Some(at));
        // Once is enough: a second sweep does not retry it again.
        b.daemon.sweep(Utc::now() + Span::seconds(2)).await.unwrap();
        let retries = store
            .recent_runs(10, None)
            .await
            .unwrap()
            .iter()
            .filter(|r| r.trigger == "retry")
            .count();
        assert_eq!(retries, 1, "{}", db.backend);
        b.daemon.shutdown(Duration::ZERO).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_cli_run_shows_as_abandoned_not_running() {
    for db in TestDb::all("killed_cli_run").await.unwrap() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("connectors.toml");
        let text = format!(
            "[runtime]\nrun_lease = \"3s\"\n\n{}",
            kit("sleep_ms = 60000", "")
        );
        std::fs::write(&path, manifest(&db, &text)).unwrap();
        let mut child = std::process::Command::new(host_binary())
            .args(["run", "kit", "--job", "sleep", "--manifest"])
            .arg(&path)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let sql = "SELECT count(*) FROM runs WHERE status = 'running'";
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while scalar(&db.url, sql).await.unwrap_or(0) == 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "the run never started"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        child.kill().unwrap();
        child.wait().unwrap();
        tokio::time::sleep(Duration::from_millis(3500)).await;
        let out = std::process::Command::new(host_binary())
            .args(["runs", "--manifest"])
            .arg(&path)
            .output()
            .unwrap();
        let listed = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{listed}");
        assert!(listed.contains("abandoned"), "{}: {listed}", db.backend);
        assert_eq!(scalar(&db.url, sql).await.unwrap(), 0, "{}", db.backend);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_enqueued_job_gets_the_configured_attempts_whoever_enqueues_it() {
    for db in TestDb::all("default_attempts").await.unwrap() {
        let text = format!(
            "[queue]\nmax_attempts = 2\n\n[runtime]\nqueue_workers = 0\n\n{}\
             [connectors.kit.schedules.tick]\ncron = \"* * * * * *\"\njob = \"enqueue\"\n",
            kit(r#"jobs = [{ kind = "chain" }]"#, "")
        );
        let d = start_daemon(&db, &text, &FakeEnv::default(), Arc::new(SystemClock))
            .await
            .unwrap();
        let runner = d.daemon.runner();
        let attempts = |kind: &'static str| {
            let url = db.url.clone();
            async move {
                scalar(
                    &url,
                    &format!("SELECT max_attempts FROM queue_jobs WHERE kind = '{kind}'"),
                )
                .await
                .unwrap()
            }
        };
        // A manual run.
        let manual = runner.run("kit", job("enqueue")).await.unwrap();
        assert_eq!(manual.status, RunStatus::Succeeded, "{manual:?}");
        assert_eq!(attempts("chain").await, 2, "{}: manual run", db.backend);
        sqlx_delete(&db.url).await;
        // A scheduled run.
        let at = Utc.timestamp_opt(Utc::now().timestamp() + 1, 0).unwrap();
        d.daemon.tick(at).await;
        assert!(d.daemon.wait_idle(Duration::from_secs(20)).await);
        assert_eq!(attempts("chain").await, 2, "{}: scheduled run", db.backend);
        // A job enqueued by a job.
        let done = runner.drain_queue("w", 10).await.unwrap();
        assert!(!done.is_empty());
        assert_eq!(attempts("noop").await, 2, "{}: a job's job", db.backend);
        // A webhook.
        let hook = Webhook {
            method: "POST".into(),
            path: "/webhooks/kit".into(),
            query: String::new(),
            headers: Vec::new(),
            body: b"hello".to_vec(),
        };
        runner.webhook("kit", hook).await.unwrap();
        assert_eq!(attempts("ok").await, 2, "{}: webhook", db.backend);
        d.daemon.shutdown(Duration::ZERO).await;
    }
}

async fn sqlx_delete(url: &str) {
    connector_tests::db::execute(url, "DELETE FROM queue_jobs")
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_checkpoints_its_log_beside_the_writers_and_keeps_it_small_on_disk() {
    let db = TestDb::sqlite().unwrap();
    let store = connector_host::store::Store::connect(&db.url)
        .await
        .unwrap();
    let wal = format!("{}-wal", db.url.strip_prefix("sqlite://").unwrap());
    let size = || std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    store
        .execute_sql("CREATE TABLE filler (x BLOB)")
        .await
        .unwrap();
    let fill = "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 20000) \
                INSERT INTO filler SELECT randomblob(1000) FROM c";
    for _ in 0..2 {
        store.execute_sql(fill).await.unwrap();
    }
    // No commit stopped to checkpoint: the log holds both 20 MB writes.
    assert!(size() > 30 << 20, "the log is {} bytes", size());
    // The background checkpoint copies it into the database; the next write starts the log
    // over and cuts the file to its cap.
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    store
        .execute_sql("INSERT INTO filler VALUES (x'00')")
        .await
        .unwrap();
    assert!(size() <= 16 << 20, "the log is still {} bytes", size());
    store.close().await;
}
