//! Alerts: each kind raised once and resolved once, on every backend, with two hosts checking
//! the same database and a fake webhook sink counting what arrives; and, through `serve`, the
//! time from a failing run to its alert.

use axum::routing::post;
use axum::Router;
use chrono::{Duration as Span, TimeZone, Utc};
use connector_host::alerts::Checked;
use connector_host::daemon::SystemClock;
use connector_host::runner::{RunRequest, Runner};
use connector_host::store::{JobFilter, QueueStatus};
use connector_tests::daemon::start_daemon;
use connector_tests::db::TestDb;
use connector_tests::fake::{FakeServer, Fault, FaultScope};
use connector_tests::host::{start, FakeEnv, TestHost};
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};

const KEY: &str = "alerts-test-key-0001";

/// A sink that takes any JSON POST at `/hook` (webhook) and `/slack` (Slack-compatible).
async fn sink() -> FakeServer {
    let ok = |body: String| async move { body.len().to_string() };
    FakeServer::start(
        Router::new()
            .route("/hook", post(ok))
            .route("/slack", post(ok)),
    )
    .await
}

/// The Slack messages the sink got.
fn slack(sink: &FakeServer) -> Vec<String> {
    sink.requests()
        .iter()
        .filter(|r| r.path == "/slack")
        .map(|r| {
            let v: Value = serde_json::from_slice(&r.body).unwrap();
            v["text"].as_str().unwrap().to_owned()
        })
        .collect()
}

/// The notices the sink got: `(state, kind, connector)`.
fn notices(sink: &FakeServer) -> Vec<(String, String, String)> {
    sink.requests()
        .iter()
        .filter(|r| r.path == "/hook")
        .map(|r| {
            let v: Value = serde_json::from_slice(&r.body).unwrap();
            (
                v["state"].as_str().unwrap().to_owned(),
                v["kind"].as_str().unwrap().to_owned(),
                v["connector"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn manifest(upstream: &FakeServer, extra: &str) -> String {
    format!(
        "[alerts]\nfailures = 3\noverlap_skips = 2\ncheck_every = \"1s\"\n\
         sinks = [{{ kind = \"log\" }}, {{ kind = \"webhook\", url = \"ALERT_URL\" }}, {{ kind = \"slack\", url = \"SLACK_URL\" }}]\n\n\
         [connectors.kit]\nplugin = {{plugin:testkit}}\ntables = [\"kit_items\"]\ntimeout = \"20s\"\n\
         max_age = \"1m\"\n\
         http = {{ allow = [{:?}] }}\nauth.key = {{ header = \"User-Key\", secret = \"KIT_KEY\" }}\n\
         settings = {{ jobs = [{{ kind = \"fail\", max_attempts = 1 }}], requests = [{{ url = {:?}, auth = \"key\" }}] }}\n{extra}",
        upstream.base_url(),
        upstream.url("/json"),
    )
}

fn env(sink: &FakeServer) -> FakeEnv {
    FakeEnv::with(&[
        ("ALERT_URL", &sink.url("/hook")),
        ("SLACK_URL", &sink.url("/slack")),
        ("KIT_KEY", KEY),
    ])
}

async fn run(r: &Runner, job: &str) {
    let req = RunRequest {
        job: Some(job.into()),
        ..RunRequest::manual()
    };
    r.run("kit", req).await.unwrap();
}

/// One check on each host at `now`.
async fn check_both(a: &TestHost, b: &TestHost, now: chrono::DateTime<Utc>) -> Checked {
    let client = reqwest::Client::new();
    let mut total = Checked::default();
    for h in [a, b] {
        let r = &h.runner;
        let c = r.check_alerts(&client, now).await.unwrap();
        total.opened += c.opened;
        total.resolved += c.resolved;
        total.sent += c.sent;
    }
    total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_alert_is_raised_once_and_resolved_once_by_two_hosts() {
    for db in TestDb::all("alerts_kinds").await.unwrap() {
        let sink = sink().await;
        let upstream = FakeServer::start(connector_tests::fake::routes::all()).await;
        let text = manifest(&upstream, "");
        let a = start(&db, &text, &env(&sink)).await.unwrap();
        let b = start(&db, &text, &env(&sink)).await.unwrap();
        let r = &a.runner;

        // Three failed runs in a row.
        for _ in 0..3 {
            run(r, "fail").await;
        }
        check_both(&a, &b, Utc::now()).await;
        check_both(&a, &b, Utc::now()).await;
        assert_eq!(
            notices(&sink),
            [("open".into(), "failures".into(), "kit".into())],
            "{}",
            db.backend
        );
        run(r, "noop").await;
        check_both(&a, &b, Utc::now()).await;
        check_both(&a, &b, Utc::now()).await;
        assert_eq!(
            notices(&sink)[1],
            ("resolved".into(), "failures".into(), "kit".into())
        );

        // Credentials refused on every authenticated request, three runs in a row (the runs
        // themselves succeed: the plugin copes); then the upstream takes the key again.
        upstream.push_fault(Fault::Status(401), FaultScope::prefix("/json").times(3));
        for _ in 0..3 {
            run(r, "http-script").await;
        }
        check_both(&a, &b, Utc::now()).await;
        assert_eq!(
            notices(&sink)[2],
            ("open".into(), "credentials".into(), "kit".into())
        );
        run(r, "http-script").await;
        check_both(&a, &b, Utc::now()).await;
        assert_eq!(
            notices(&sink)[3],
            ("resolved".into(), "credentials".into(), "kit".into())
        );

        // Freshness: two minutes later, the last success is older than max_age (1m).
        check_both(&a, &b, Utc::now() + Span::minutes(2)).await;
        assert_eq!(
            notices(&sink)[4],
            ("open".into(), "freshness".into(), "kit".into())
        );
        check_both(&a, &b, Utc::now()).await;
        assert_eq!(
            notices(&sink)[5],
            ("resolved".into(), "freshness".into(), "kit".into())
        );

        // A job in the dead letter, then purged.
        run(r, "enqueue").await;
        let o = r
            .process_next_job("w", Utc::now() + Span::seconds(1))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(o.status, connector_host::runner::JobStatus::Failed);
        check_both(&a, &b, Utc::now()).await;
        assert_eq!(
            notices(&sink)[6],
            ("open".into(), "dead_letter".into(), "kit".into())
        );
        let failed = JobFilter {
            status: Some(QueueStatus::Failed),
            ..JobFilter::default()
        };
        r.store.purge_jobs(&failed, None).await.unwrap();
        check_both(&a, &b, Utc::now()).await;
        assert_eq!(
            notices(&sink)[7],
            ("resolved".into(), "dead_letter".into(), "kit".into())
        );

        assert_eq!(
            notices(&sink).len(),
            8,
            "{}: {:?}",
            db.backend,
            notices(&sink)
        );
        assert!(r.store.open_incidents().await.unwrap().is_empty());
        let texts = slack(&sink);
        assert_eq!(texts.len(), 8, "{texts:?}");
        assert!(
            texts[0].starts_with("ALERT failures kit: 3 runs in a row did not succeed"),
            "{}",
            texts[0]
        );
        assert!(
            texts[1].starts_with("RESOLVED failures kit"),
            "{}",
            texts[1]
        );
    }
}

/// Missed fires: fires due while no host ran (the planner drops them) and fires skipped by
/// overlap too many times in a row; each resolved once a later fire runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missed_fires_are_an_alert_until_a_later_fire_runs() {
    for db in TestDb::all("alerts_missed").await.unwrap() {
        let sink = sink().await;
        let upstream = FakeServer::start(connector_tests::fake::routes::all()).await;
        let schedules = "[connectors.kit.schedules.tick]\ncron = \"* * * * * *\"\njob = \"noop\"\nmissed = \"skip\"\n";
        let text = format!(
            "[runtime]\nqueue_workers = 0\n\n{}",
            manifest(&upstream, schedules)
        );
        let d = start_daemon(&db, &text, &env(&sink), Arc::new(SystemClock))
            .await
            .unwrap();
        let runner = d.daemon.runner();
        let client = reqwest::Client::new();
        let check = |now| {
            let runner = runner.clone();
            let client = client.clone();
            async move { runner.check_alerts(&client, now).await.unwrap() }
        };
        let base = Utc.timestamp_opt(Utc::now().timestamp(), 0).unwrap();
        d.daemon.tick(base + Span::seconds(1)).await;
        assert!(d.daemon.wait_idle(Duration::from_secs(20)).await);
        // The host "was down" for ten seconds: nine fires were missed and dropped (skip).
        d.daemon.tick(base + Span::seconds(11)).await;
        assert!(d.daemon.wait_idle(Duration::from_secs(20)).await);
        check(Utc::now()).await;
        assert_eq!(
            notices(&sink),
            [("open".into(), "missed".into(), "kit".into())],
            "{}",
            db.backend
        );
        let open = runner.store.open_incidents().await.unwrap();
        assert!(
            open[0]
                .summary
                .starts_with("9 fire(s) were due while no host was running"),
            "{open:?}"
        );
        // The on-time fire at 11 s ran before the incident was opened; one after it resolves it.
        d.daemon.tick(base + Span::seconds(12)).await;
        assert!(d.daemon.wait_idle(Duration::from_secs(20)).await);
        check(Utc::now()).await;
        assert_eq!(notices(&sink).len(), 2, "{:?}", notices(&sink));
        assert_eq!(notices(&sink)[1].0, "resolved");
        d.daemon.request_stop();
    }
}

/// Through `serve`: the alert of a third failed run reaches the sink within the check interval.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_connector_is_reported_within_the_check_interval() {
    let db = TestDb::sqlite().unwrap();
    let sink = sink().await;
    let upstream = FakeServer::start(connector_tests::fake::routes::all()).await;
    let text = format!(
        "[runtime]\nqueue_workers = 0\n\n{}",
        manifest(&upstream, "")
    );
    let d = start_daemon(&db, &text, &env(&sink), Arc::new(SystemClock))
        .await
        .unwrap();
    let (_addr, serving) = d.serve().await;
    let runner = d.daemon.runner();
    for _ in 0..3 {
        run(&runner, "fail").await;
    }
    let failed_at = Instant::now();
    while notices(&sink).is_empty() {
        assert!(
            failed_at.elapsed() < Duration::from_secs(10),
            "no alert after 10 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took = failed_at.elapsed();
    println!(
        "failing run to alert: {} ms (check_every 1s)",
        took.as_millis()
    );
    assert!(took < Duration::from_millis(2500), "{took:?}");
    d.daemon.request_stop();
    let _ = tokio::time::timeout(Duration::from_secs(10), serving).await;
}
