//! What operators steer: pausing and resuming a connector or one schedule (CLI and HTTP API),
//! honoured by every host on the database, with the fires it holds back recorded as skipped.

use chrono::{DateTime, Duration as Span, TimeZone, Utc};
use clap::Parser;
use connector_host::cli::{execute, Cli};
use connector_host::daemon::SystemClock;
use connector_tests::daemon::start_daemon;
use connector_tests::db::TestDb;
use connector_tests::host::{manifest, FakeEnv};
use std::sync::Arc;
use std::time::Duration;

const ADMIN_TOKEN: &str = "admin-token-for-tests-0001";

fn kit() -> String {
    "[runtime]\nqueue_workers = 0\n\n[server]\nadmin_token = \"ADMIN_TOKEN\"\n\n\
     [connectors.kit]\nplugin = {plugin:testkit}\ntables = [\"kit_items\"]\ntimeout = \"20s\"\n\
     settings = { jobs = [{ kind = \"noop\" }] }\n\
     [connectors.kit.schedules.tick]\ncron = \"* * * * * *\"\njob = \"noop\"\n\
     [connectors.kit.schedules.tock]\ncron = \"* * * * * *\"\njob = \"noop\"\n"
        .to_owned()
}

fn env() -> FakeEnv {
    FakeEnv::with(&[("ADMIN_TOKEN", ADMIN_TOKEN)])
}

/// `connector-host ARGS` in-process on the manifest `text`; the exit code and any message.
async fn cli(db: &TestDb, text: &str, args: &[&str]) -> (u8, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("connectors.toml");
    std::fs::write(&path, manifest(db, text)).unwrap();
    std::fs::write(
        dir.path().join(".env"),
        format!("ADMIN_TOKEN={ADMIN_TOKEN}\n"),
    )
    .unwrap();
    let mut argv = vec!["connector-host", "--manifest", path.to_str().unwrap()];
    argv.extend_from_slice(args);
    match execute(&Cli::try_parse_from(argv).unwrap()).await {
        Ok(code) => (code, String::new()),
        Err(f) => (f.code(), f.message()),
    }
}

fn second(t: DateTime<Utc>) -> DateTime<Utc> {
    Utc.timestamp_opt(t.timestamp(), 0).unwrap()
}

/// `(schedule, status, skip_reason)` of each fire of `kit`, oldest first.
async fn fires(store: &connector_host::store::Store) -> Vec<(String, String, Option<String>)> {
    let mut h = store.fire_history("kit", None, 100).await.unwrap();
    h.sort_by(|a, b| (a.scheduled_for, &a.schedule).cmp(&(b.scheduled_for, &b.schedule)));
    h.into_iter()
        .map(|f| (f.schedule, f.status, f.skip_reason))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pause_holds_on_every_host_and_its_fires_are_recorded_as_skipped() {
    for db in TestDb::all("ops_pause").await.unwrap() {
        // Two hosts on one database; the pause is set from the command line, a third process.
        let a = start_daemon(&db, &kit(), &env(), Arc::new(SystemClock))
            .await
            .unwrap();
        let b = start_daemon(&db, &kit(), &env(), Arc::new(SystemClock))
            .await
            .unwrap();
        let store = a.daemon.runner().store.clone();
        let base = second(Utc::now());
        let (code, message) = cli(
            &db,
            &kit(),
            &[
                "pause",
                "kit",
                "--schedule",
                "tick",
                "--reason",
                "upstream maintenance",
            ],
        )
        .await;
        assert_eq!((code, message.as_str()), (0, ""), "{}", db.backend);
        for host in [&a, &b] {
            host.daemon.tick(base + Span::seconds(1)).await;
        }
        for host in [&a, &b] {
            assert!(host.daemon.wait_idle(Duration::from_secs(20)).await);
        }
        let got = fires(&store).await;
        assert_eq!(
            got,
            vec![
                ("tick".into(), "skipped".into(), Some("paused".into())),
                ("tock".into(), "done".into(), None),
            ],
            "{}: the paused schedule's fire is skipped once, the other runs once",
            db.backend
        );
        let runs = store.recent_runs(10, None).await.unwrap();
        assert_eq!(runs.len(), 1, "{runs:#?}");
        assert_eq!(runs[0].schedule.as_deref(), Some("tock"));

        // Pausing the whole connector holds both schedules; resuming lets them fire again.
        assert_eq!(cli(&db, &kit(), &["pause", "kit"]).await.0, 0);
        for host in [&a, &b] {
            host.daemon.tick(base + Span::seconds(2)).await;
        }
        assert_eq!(cli(&db, &kit(), &["resume", "kit"]).await.0, 0);
        assert_eq!(
            cli(&db, &kit(), &["resume", "kit", "--schedule", "tick"])
                .await
                .0,
            0
        );
        for host in [&a, &b] {
            host.daemon.tick(base + Span::seconds(3)).await;
        }
        for host in [&a, &b] {
            assert!(host.daemon.wait_idle(Duration::from_secs(20)).await);
        }
        let got = fires(&store).await;
        let at = |s: &str, status: &str, why: Option<&str>| {
            (s.to_owned(), status.to_owned(), why.map(str::to_owned))
        };
        assert_eq!(
            got[2..],
            [
                at("tick", "skipped", Some("paused")),
                at("tock", "skipped", Some("paused")),
                at("tick", "done", None),
                at("tock", "done", None),
            ],
            "{}: {got:#?}",
            db.backend
        );
        assert!(store.active_pauses(Utc::now()).await.unwrap().is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pause_ends_by_itself_and_bad_targets_are_refused_by_name() {
    let db = TestDb::sqlite().unwrap();
    let (code, message) = cli(&db, &kit(), &["pause", "kti"]).await;
    assert_eq!(code, 2);
    assert!(
        message.contains("no connector named \"kti\"") && message.contains("did you mean \"kit\""),
        "{message}"
    );
    let (code, message) = cli(&db, &kit(), &["pause", "kit", "--schedule", "tik"]).await;
    assert_eq!(code, 2);
    assert!(message.contains("did you mean \"tick\""), "{message}");
    let (code, message) = cli(&db, &kit(), &["pause", "kit", "--until", "soonish"]).await;
    assert_eq!(code, 2);
    assert!(message.starts_with("until: expected"), "{message}");

    let (code, _) = cli(&db, &kit(), &["pause", "kit", "--until", "1h"]).await;
    assert_eq!(code, 0);
    let store = connector_host::store::Store::connect(&db.url)
        .await
        .unwrap();
    let now = Utc::now();
    let held = store.active_pauses(now).await.unwrap();
    assert_eq!(held.len(), 1);
    let until = held[0].until.unwrap();
    assert!(until > now + Span::minutes(59) && until <= now + Span::minutes(60));
    assert!(
        store
            .active_pauses(now + Span::minutes(61))
            .await
            .unwrap()
            .is_empty(),
        "an hour later it no longer holds"
    );
}

/// The HTTP API takes the same actions with the admin token; without it they are refused, and a
/// paused connector's queue jobs wait.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_pauses_with_the_admin_token_and_a_paused_connectors_jobs_wait() {
    for db in TestDb::all("ops_api").await.unwrap() {
        let d = start_daemon(&db, &kit(), &env(), Arc::new(SystemClock))
            .await
            .unwrap();
        let (addr, serving) = d.serve().await;
        let http = reqwest::Client::new();
        let url = |p: &str| format!("http://{addr}{p}");
        let refused = http
            .post(url("/connectors/kit/pause"))
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 401);
        let wrong = http
            .post(url("/connectors/kit/pause"))
            .bearer_auth("not-the-admin-token-at-all")
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status(), 401);
        let ok = http
            .post(url("/connectors/kit/pause"))
            .bearer_auth(ADMIN_TOKEN)
            .body(r#"{"reason": "migrating the CRM", "until": "2h"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(ok.status(), 200);
        let body: serde_json::Value = serde_json::from_str(&ok.text().await.unwrap()).unwrap();
        assert_eq!(body["paused"]["reason"], "migrating the CRM");
        let status: serde_json::Value = serde_json::from_str(
            &http
                .get(url("/status"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            status["connectors"][0]["paused"]["reason"], "migrating the CRM",
            "{status}"
        );

        // A job enqueued for the paused connector waits.
        let runner = d.daemon.runner();
        let req = connector_host::runner::RunRequest {
            job: Some("enqueue".into()),
            ..connector_host::runner::RunRequest::manual()
        };
        let o = runner.run("kit", req).await.unwrap();
        assert!(o.status.is_success(), "{o:?}");
        assert!(runner
            .process_next_job("w", Utc::now() + Span::seconds(2))
            .await
            .unwrap()
            .is_none());
        let resumed = http
            .post(url("/connectors/kit/resume"))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(resumed.status(), 200);
        let done = runner
            .process_next_job("w", Utc::now() + Span::seconds(4))
            .await
            .unwrap();
        assert!(done.is_some(), "{}: the job runs once resumed", db.backend);
        let bad = http
            .post(url("/connectors/kit/pause"))
            .bearer_auth(ADMIN_TOKEN)
            .body(r#"{"schedule": "tik"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(bad.status(), 400);
        d.daemon.request_stop();
        let _ = tokio::time::timeout(Duration::from_secs(10), serving).await;
    }
}

/// `runs show` prints a run with its last log events; `runs --json` and `runs show --json` are
/// for scripts; `runs retry` runs a failed run again with its job, input and scheduled time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_keeps_its_log_events_and_a_failed_run_can_be_retried() {
    for db in TestDb::all("ops_runs").await.unwrap() {
        let text = "[connectors.kit]\nplugin = {plugin:testkit}\ntables = [\"kit_items\"]\n\
                    timeout = \"20s\"\nsettings = { events = 250 }\n";
        let host = connector_tests::host::start(&db, text, &FakeEnv::default())
            .await
            .unwrap();
        let r = &host.runner;
        let flood = r
            .run(
                "kit",
                connector_host::runner::RunRequest {
                    job: Some("log-flood".into()),
                    ..connector_host::runner::RunRequest::manual()
                },
            )
            .await
            .unwrap();
        let events = r.store.run_events(flood.run_id).await.unwrap();
        assert_eq!(
            events.len(),
            connector_host::limits::RUN_EVENTS_KEPT,
            "{}",
            db.backend
        );
        let fields: serde_json::Value =
            serde_json::from_str(events.last().unwrap().fields.as_deref().unwrap()).unwrap();
        assert_eq!(fields, serde_json::json!({ "i": "249" }));
        let record = r.store.run_by_id(flood.run_id).await.unwrap().unwrap();
        assert_eq!(
            record.log_events_omitted, 50,
            "the first 50 let go, counted"
        );

        let failed = r
            .run(
                "kit",
                connector_host::runner::RunRequest {
                    job: Some("fail".into()),
                    input: Some(r#"{"why": "testing"}"#.into()),
                    ..connector_host::runner::RunRequest::manual()
                },
            )
            .await
            .unwrap();
        assert!(!failed.status.is_success());
        let (code, _) = cli(&db, text, &["runs", "show", &failed.run_id.to_string()]).await;
        assert_eq!(code, 0);
        let (code, message) = cli(&db, text, &["runs", "show", "999999"]).await;
        assert_eq!(
            (code, message.as_str()),
            (2, "no run with id 999999 in the run log")
        );
        let (code, message) = cli(&db, text, &["runs", "retry", &flood.run_id.to_string()]).await;
        assert_eq!(code, 2);
        assert!(
            message.contains("succeeded; only a run that did not succeed"),
            "{message}"
        );
        let (code, _) = cli(&db, text, &["runs", "retry", &failed.run_id.to_string()]).await;
        assert_eq!(code, 1, "the retry fails again (the job always fails)");
        let newest = r.store.recent_runs(1, None).await.unwrap().pop().unwrap();
        assert_eq!(newest.trigger, "retry");
        assert_eq!(newest.attempt, 2);
        assert_eq!(newest.job, "fail");
        assert_eq!(newest.input.as_deref(), Some(r#"{"why": "testing"}"#));
        host.runner.shutdown().await;
    }
}

/// A backfill creates each fire of a past window once: the second backfill of the same window
/// runs nothing, and a fire that already ran is left alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_runs_each_fire_of_a_past_window_once() {
    for db in TestDb::all("ops_backfill").await.unwrap() {
        let text = "[connectors.kit]\nplugin = {plugin:testkit}\ntables = [\"kit_items\"]\n\
                    timeout = \"20s\"\n[connectors.kit.schedules.hourly]\ncron = \"0 0 * * * *\"\njob = \"noop\"\n";
        let now = Utc::now();
        let to = Utc
            .timestamp_opt(now.timestamp() - now.timestamp() % 3600, 0)
            .unwrap()
            - Span::hours(1);
        let from = to - Span::hours(4);
        let (from, to) = (from.to_rfc3339(), to.to_rfc3339());
        let args = [
            "backfill",
            "kit",
            "--schedule",
            "hourly",
            "--from",
            &from,
            "--to",
            &to,
        ];
        assert_eq!(
            cli(&db, text, &args).await,
            (0, String::new()),
            "{}",
            db.backend
        );
        let store = connector_host::store::Store::connect(&db.url)
            .await
            .unwrap();
        let runs = store.recent_runs(100, None).await.unwrap();
        assert_eq!(runs.len(), 4, "{}: {runs:#?}", db.backend);
        assert!(runs
            .iter()
            .all(|r| r.trigger == "backfill" && r.status == "succeeded"));
        assert_eq!(cli(&db, text, &args).await.0, 0);
        assert_eq!(
            store.recent_runs(100, None).await.unwrap().len(),
            4,
            "nothing ran twice"
        );
        let history = store
            .fire_history("kit", Some("hourly"), 100)
            .await
            .unwrap();
        assert_eq!(history.len(), 4);
        assert!(history
            .iter()
            .all(|f| f.trigger == "backfill" && f.status == "done"));
        let future = (Utc::now() + Span::hours(2)).to_rfc3339();
        let (code, message) = cli(
            &db,
            text,
            &[
                "backfill",
                "kit",
                "--schedule",
                "hourly",
                "--from",
                &to,
                "--to",
                &future,
            ],
        )
        .await;
        assert_eq!(code, 2);
        assert!(message.contains("is in the future"), "{message}");
    }
}
