//! `serve` over real HTTP on loopback: manual triggers and their bearer token, webhooks (HMAC,
//! bearer, Basic; credential stripped; body cap), status, runs, metrics and health; hot reload
//! with a run in flight; SIGTERM and SIGHUP sent to a real process.

use crate::host_binary;
use connector_host::daemon::SystemClock;
use connector_host::server::auth::sign;
use connector_host::store::Store;
use connector_tests::daemon::{start_daemon, TestDaemon};
use connector_tests::db::TestDb;
use connector_tests::host::{manifest, FakeEnv};
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

const RUN_TOKEN: &str = "run-token-0f3c9a";
const HOOK_SECRET: &str = "hook-secret-77ab21";

fn env() -> FakeEnv {
    FakeEnv::with(&[
        ("KIT_RUN_TOKEN", RUN_TOKEN),
        ("KIT_HOOK_SECRET", HOOK_SECRET),
        ("HOOK_USER", "shop"),
    ])
}

fn connectors(kit_settings: &str, extra: &str) -> String {
    format!(
        "[runtime]\nqueue_workers = 1\n\n[server]\ngrace = \"5s\"\n\n\
         [connectors.kit]\nplugin = {{plugin:testkit}}\ntables = [\"kit_items\"]\n\
         settings = {{ {kit_settings} }}\ntrigger = {{ token = \"KIT_RUN_TOKEN\" }}\n\
         webhook = {{ auth = \"hmac\", secret = \"KIT_HOOK_SECRET\", header = \"X-Signature\", prefix = \"sha256=\", max_body = \"1KiB\" }}\n\
         schedules.nightly = {{ cron = \"0 2 * * *\", timezone = \"Europe/Malta\", job = \"sync\" }}\n\n\
         [connectors.bearer]\nplugin = {{plugin:testkit}}\ntables = [\"kit_items\"]\n\
         webhook = {{ auth = \"bearer\", secret = \"KIT_HOOK_SECRET\" }}\n\n\
         [connectors.basic]\nplugin = {{plugin:testkit}}\ntables = [\"kit_items\"]\n\
         webhook = {{ auth = \"basic\", username = \"HOOK_USER\", secret = \"KIT_HOOK_SECRET\" }}\n\
         {extra}"
    )
}

async fn serving(db: &TestDb, text: &str) -> (TestDaemon, SocketAddr) {
    let d = start_daemon(db, text, &env(), Arc::new(SystemClock))
        .await
        .unwrap();
    let (addr, _task) = d.serve().await;
    (d, addr)
}

async fn count(store: &Store, sql: &str) -> i64 {
    store.fetch_scalar(sql).await.unwrap()
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// Status and JSON body of a response; its text must never carry a secret.
async fn parts(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    assert!(
        !text.contains(RUN_TOKEN) && !text.contains(HOOK_SECRET),
        "a secret leaked: {text}"
    );
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_trigger_needs_the_bearer_token_and_can_dry_run() {
    for db in TestDb::all("http_trigger").await.unwrap() {
        let (d, addr) = serving(&db, &connectors("rows = 3", "")).await;
        let store = d.daemon.runner().store.clone();
        let http = client();
        let url = |path: &str| format!("http://{addr}{path}");

        let r = http.post(url("/connectors/kit/run")).send().await.unwrap();
        assert_eq!(
            r.headers()
                .get("www-authenticate")
                .map(|v| v.to_str().unwrap()),
            Some("Bearer")
        );
        let (status, body) = parts(r).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some("missing bearer token"))
        );
        let wrong = format!("{RUN_TOKEN}x");
        let r = http
            .post(url("/connectors/kit/run"))
            .bearer_auth(&wrong)
            .send()
            .await
            .unwrap();
        assert_eq!(parts(r).await.0, 401);
        let r = http
            .post(url("/connectors/kit/run"))
            .basic_auth(RUN_TOKEN, Some(""))
            .send()
            .await
            .unwrap();
        assert_eq!(parts(r).await.0, 401);
        // No token configured: manual runs over HTTP are off for that connector.
        let r = http
            .post(url("/connectors/bearer/run"))
            .bearer_auth(RUN_TOKEN)
            .send()
            .await
            .unwrap();
        let (status, body) = parts(r).await;
        assert_eq!(status, 401);
        assert!(body["error"]
            .as_str()
            .unwrap()
            .contains("connectors.bearer.trigger.token"));
        let r = http
            .post(url("/connectors/kiit/run"))
            .bearer_auth(RUN_TOKEN)
            .send()
            .await
            .unwrap();
        let (status, body) = parts(r).await;
        assert_eq!(status, 404);
        assert!(
            body["error"]
                .as_str()
                .unwrap()
                .contains("did you mean \"kit\""),
            "{body}"
        );
        assert_eq!(
            count(&store, "SELECT COUNT(*) FROM runs").await,
            0,
            "a refused trigger ran"
        );

        let r = http
            .post(url("/connectors/kit/run?job=sync&dry_run=true"))
            .bearer_auth(RUN_TOKEN)
            .send()
            .await
            .unwrap();
        let (status, body) = parts(r).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["status"], "succeeded");
        assert_eq!(body["dry_run"], true);
        assert_eq!(body["rows_written"], 3);
        assert_eq!(
            count(&store, "SELECT COUNT(*) FROM kit_items").await,
            0,
            "{}",
            db.backend
        );

        let r = http
            .post(url("/connectors/kit/run?job=sync"))
            .bearer_auth(RUN_TOKEN)
            .send()
            .await
            .unwrap();
        let (status, body) = parts(r).await;
        assert_eq!((status, &body["status"]), (200, &Value::from("succeeded")));
        assert_eq!(count(&store, "SELECT COUNT(*) FROM kit_items").await, 3);

        let r = http
            .post(url("/connectors/kit/run?job=noop&wait=false"))
            .bearer_auth(RUN_TOKEN)
            .send()
            .await
            .unwrap();
        let (status, body) = parts(r).await;
        assert_eq!(status, 202);
        // The answer names the run, so the caller can follow it.
        let id = body["run_id"].as_i64().unwrap();
        let run = store.run_by_id(id).await.unwrap().unwrap();
        assert_eq!((run.job.as_str(), run.trigger.as_str()), ("noop", "manual"));
        let r = http
            .post(url("/connectors/kit/run?dry_run=maybe"))
            .bearer_auth(RUN_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(parts(r).await.0, 400);
        d.daemon.request_stop();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_verify_the_sender_hide_the_credential_and_cap_the_body() {
    for db in TestDb::all("http_webhooks").await.unwrap() {
        let (d, addr) = serving(&db, &connectors("rows = 1", "")).await;
        let store = d.daemon.runner().store.clone();
        let http = client();
        let hook = |name: &str| format!("http://{addr}/webhooks/{name}?source=test");
        let jobs = "SELECT COUNT(*) FROM queue_jobs";

        let body = r#"{"order":1042,"event":"order.created"}"#;
        let signature = format!("sha256={}", sign(HOOK_SECRET.as_bytes(), body.as_bytes()));
        let r = http
            .post(hook("kit"))
            .header("X-Signature", &signature)
            .header("X-Custom", "kept")
            .header("Cookie", "session=abc")
            .body(body)
            .send()
            .await
            .unwrap();
        let (status, reply) = parts(r).await;
        assert_eq!(status, 202, "{reply}");
        let seen: Vec<&str> = reply["headers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h.as_str().unwrap())
            .collect();
        assert!(seen.contains(&"x-custom"), "{seen:?}");
        assert!(
            !seen.contains(&"x-signature") && !seen.contains(&"cookie"),
            "{seen:?}"
        );
        assert_eq!(reply["query"], "source=test");
        assert_eq!(reply["bytes"], body.len());
        // The plugin's enqueued job was committed, and a queue worker delivers it.
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while count(&store, "SELECT COUNT(*) FROM kit_items").await == 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "the job was never delivered"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(count(&store, jobs).await, 1);

        // A forged or altered body, a missing signature: 401 and nothing enqueued.
        let forged = format!("sha256={}", sign(b"not-the-secret", body.as_bytes()));
        for sig in [Some(forged.as_str()), Some(signature.as_str()), None] {
            let mut req = http.post(hook("kit")).body(r#"{"order":9999}"#);
            if let Some(sig) = sig {
                req = req.header("X-Signature", sig);
            }
            assert_eq!(parts(req.send().await.unwrap()).await.0, 401);
        }
        assert_eq!(count(&store, jobs).await, 1);

        // Larger than the connector's 1KiB cap: 413, whether declared or streamed.
        let big = "x".repeat(2048);
        let big_sig = format!("sha256={}", sign(HOOK_SECRET.as_bytes(), big.as_bytes()));
        let r = http
            .post(hook("kit"))
            .header("X-Signature", &big_sig)
            .body(big.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(parts(r).await.0, 413);
        assert_eq!(
            chunked_post(addr, "/webhooks/kit", &big_sig, &big).await,
            413
        );
        assert_eq!(count(&store, jobs).await, 1);

        // Bearer and Basic senders; the Authorization header never reaches the plugin.
        let senders = [
            (
                "bearer",
                http.post(hook("bearer")).bearer_auth(HOOK_SECRET),
                202,
            ),
            ("bearer", http.post(hook("bearer")).bearer_auth("nope"), 401),
            (
                "basic",
                http.post(hook("basic"))
                    .basic_auth("shop", Some(HOOK_SECRET)),
                202,
            ),
            (
                "basic",
                http.post(hook("basic")).basic_auth("shop", Some("nope")),
                401,
            ),
        ];
        for (name, request, want) in senders {
            let (status, reply) = parts(request.body("{}").send().await.unwrap()).await;
            assert_eq!(status, want, "{name}: {reply}");
            assert!(
                !reply.to_string().contains("authorization"),
                "{name}: {reply}"
            );
        }
        let r = http.post(hook("nothing")).body("{}").send().await.unwrap();
        assert_eq!(parts(r).await.0, 404);
        let webhooks = "SELECT COUNT(*) FROM runs WHERE trigger_kind = 'webhook'";
        assert_eq!(count(&store, webhooks).await, 3, "{}", db.backend);
        d.daemon.request_stop();
    }
}

/// Posts `body` with chunked transfer encoding (no Content-Length), as a streaming sender
/// would; returns the response's status code.
async fn chunked_post(addr: SocketAddr, path: &str, signature: &str, body: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nX-Signature: {signature}\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    for chunk in body.as_bytes().chunks(512) {
        let framed = [format!("{:x}\r\n", chunk.len()).as_bytes(), chunk, b"\r\n"].concat();
        if tcp.write_all(&framed).await.is_err() {
            break; // the server may answer 413 and close before the last chunk
        }
    }
    let _ = tcp.write_all(b"0\r\n\r\n").await;
    let mut response = Vec::new();
    let _ = tcp.read_to_end(&mut response).await;
    let text = String::from_utf8_lossy(&response);
    text.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_runs_metrics_and_health_report_the_run_log() {
    for db in TestDb::all("http_status").await.unwrap() {
        status_runs_metrics_and_health(&db).await;
    }
}

async fn status_runs_metrics_and_health(db: &TestDb) {
    let (d, addr) = serving(db, &connectors("rows = 2", "")).await;
    let http = client();
    let get = |path: &str| http.get(format!("http://{addr}{path}")).send();
    let r = http
        .post(format!("http://{addr}/connectors/kit/run?job=sync"))
        .bearer_auth(RUN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(parts(r).await.0, 200);

    let (status, body) = parts(get("/status").await.unwrap()).await;
    assert_eq!(status, 200);
    let kit = body["connectors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "kit")
        .unwrap();
    assert_eq!(kit["last_run"]["status"], "succeeded");
    assert_eq!(kit["last_run"]["rows_written"], 2);
    let nightly = &kit["schedules"][0];
    assert_eq!(nightly["timezone"], "Europe/Malta");
    let local = nightly["next_fire_local"].as_str().unwrap();
    assert!(local.contains("T02:00:00+0"), "{local}");
    let utc = nightly["next_fire"].as_str().unwrap();
    let utc = chrono::DateTime::parse_from_rfc3339(utc).unwrap();
    assert_eq!(utc.offset().local_minus_utc(), 0, "{utc}");
    let local = chrono::DateTime::parse_from_rfc3339(local).unwrap();
    assert_eq!(utc, local, "the same instant, written in UTC and in Malta");

    let (status, body) = parts(get("/runs?connector=kit&limit=5").await.unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(body["runs"].as_array().unwrap().len(), 1);
    assert_eq!(body["runs"][0]["trigger"], "manual");

    // A dry run's rows are not rows written; a queue job's are.
    let r = http
        .post(format!(
            "http://{addr}/connectors/kit/run?job=sync&dry_run=true"
        ))
        .bearer_auth(RUN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(parts(r).await.0, 200);
    let hook = d
        .daemon
        .runner()
        .webhook(
            "kit",
            connector_host::runner::Webhook {
                method: "POST".into(),
                path: "/webhooks/kit".into(),
                query: String::new(),
                headers: Vec::new(),
                body: b"payload".to_vec(),
            },
        )
        .await
        .unwrap();
    assert!(matches!(
        hook,
        connector_host::runner::WebhookOutcome::Reply { .. }
    ));
    let done = d.daemon.runner().drain_queue("metrics", 10).await.unwrap();
    assert_eq!(done.len(), 1, "the webhook's job writes one row");

    let r = get("/metrics").await.unwrap();
    assert_eq!(r.status().as_u16(), 200, "{}", db.backend);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let text = r.text().await.unwrap();
    for line in [
        "connector_runs_total{connector=\"kit\",status=\"succeeded\"} 3",
        "connector_run_duration_seconds_count{connector=\"kit\"} 3",
        "connector_rows_written_total{connector=\"kit\"} 3",
        "connector_http_requests_total{connector=\"kit\"} 0",
        "connector_rate_limit_wait_seconds_total{connector=\"kit\"} 0",
        "connector_runs_in_progress 0",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
    assert!(text.contains("# TYPE connector_queue_jobs gauge"));
    let r = get("/healthz").await.unwrap();
    assert_eq!(
        (r.status().as_u16(), r.text().await.unwrap()),
        (200, "ok\n".to_owned())
    );
    d.daemon.request_stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hot_reload_swaps_the_configuration_without_disturbing_a_run_in_flight() {
    let db = TestDb::sqlite().unwrap();
    let (d, addr) = serving(&db, &connectors("sleep_ms = 2000", "")).await;
    let http = client();
    let trigger = move |job: &'static str| {
        let http = http.clone();
        async move {
            let r = http
                .post(format!("http://{addr}/connectors/kit/run?job={job}"))
                .bearer_auth(RUN_TOKEN)
                .send()
                .await
                .unwrap();
            parts(r).await
        }
    };
    let in_flight = tokio::spawn(trigger("sleep"));
    let store = d.daemon.runner().store.clone();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while count(&store, "SELECT COUNT(*) FROM runs WHERE status = 'running'").await == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the run never started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // An operator edits the manifest: new settings for kit, and a new connector.
    let extra = "\n[connectors.added]\nplugin = {plugin:testkit}\ntables = [\"kit_items\"]\n";
    d.rewrite(&connectors("sleep_ms = 10", extra));
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while d.daemon.stats.reloads.load(Ordering::Relaxed) == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the change was not picked up"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(d.daemon.runner().connectors().contains_key("added"));
    // The run in flight finishes on the configuration it started with.
    let (status, body) = in_flight.await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(body["status"], "succeeded");
    assert_eq!(body["summary"], "slept 2000 ms");
    // New runs see the new settings.
    let (_, body) = trigger("sleep").await;
    assert_eq!(body["summary"], "slept 10 ms");

    // A broken edit is refused: every problem is reported and the running configuration stays.
    let broken =
        connectors("sleep_ms = 10", extra).replace("queue_workers = 1", "queue_workers = 99");
    d.rewrite(&broken.replace(
        "[connectors.added]\nplugin = {plugin:testkit}",
        "[connectors.added]\nplugin = \"missing.wasm\"",
    ));
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while d.daemon.stats.reload_failures.load(Ordering::Relaxed) == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the broken change was not noticed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let problems = d.daemon.reload().await.unwrap_err();
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("runtime.queue_workers")),
        "{problems:?}"
    );
    assert!(
        problems.iter().any(|p| p.contains("missing.wasm")),
        "{problems:?}"
    );
    assert!(d.daemon.runner().connectors().contains_key("added"));
    let (status, body) = trigger("sleep").await;
    assert_eq!(
        (status, &body["summary"]),
        (200, &Value::from("slept 10 ms"))
    );
    d.daemon.request_stop();
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn signal(child: &std::process::Child, name: &str) {
    let ok = std::process::Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -{name} failed");
}

async fn wait_exit(child: &mut std::process::Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("the host did not exit within {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Starts `serve` as a process on `db` with `text`; returns it, its port and its manifest path.
async fn spawn_host(
    db: &TestDb,
    text: &str,
) -> (
    std::process::Child,
    u16,
    tempfile::TempDir,
    std::path::PathBuf,
) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("connectors.toml");
    std::fs::write(&path, manifest(db, text)).unwrap();
    let port = free_port();
    let child = std::process::Command::new(host_binary())
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--manifest",
        ])
        .arg(&path)
        .env("CONNECTOR_HOST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Ready once /healthz answers.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = client()
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .send()
            .await
        {
            if r.status().is_success() {
                break;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the host never became healthy"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (child, port, dir, path)
}

async fn running_run(store: &Store) -> i64 {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let runs = store.recent_runs(10, None).await.unwrap();
        if let Some(r) = runs.iter().find(|r| r.status == "running") {
            return r.id;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no run started: {runs:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn every_second(sleep_ms: u64, grace: &str) -> String {
    format!(
        "[server]\ngrace = \"{grace}\"\nwatch = false\n\n\
         [connectors.kit]\nplugin = {{plugin:testkit}}\ntables = [\"kit_items\"]\n\
         settings = {{ sleep_ms = {sleep_ms} }}\n\
         schedules.tick = {{ cron = \"* * * * * *\", job = \"sleep\" }}\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_runs_finish_within_the_grace_period_and_interrupts_the_rest() {
    let db = TestDb::sqlite().unwrap();
    let store = Store::connect(&db.url).await.unwrap();
    store.migrate().await.unwrap();

    // A 1.5 s run and a 10 s grace period: the run finishes, the host exits 0.
    let (mut child, _, _dir, _) = spawn_host(&db, &every_second(1500, "10s")).await;
    let id = running_run(&store).await;
    signal(&child, "TERM");
    let status = wait_exit(&mut child, Duration::from_secs(15)).await;
    assert!(status.success(), "{status}");
    let run = store.run_by_id(id).await.unwrap().unwrap();
    assert_eq!(run.status, "succeeded");
    let after = store.recent_runs(100, None).await.unwrap();
    assert_eq!(
        after.iter().filter(|r| r.status == "running").count(),
        0,
        "{after:#?}"
    );

    // A 60 s run and a 1 s grace period: the run is marked interrupted.
    let (mut child, _, _dir2, _) = spawn_host(&db, &every_second(60_000, "1s")).await;
    let id = running_run(&store).await;
    let started = std::time::Instant::now();
    signal(&child, "TERM");
    let status = wait_exit(&mut child, Duration::from_secs(15)).await;
    assert!(status.success(), "{status}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    let run = store.run_by_id(id).await.unwrap().unwrap();
    assert_eq!(run.status, "interrupted");
    assert_eq!(run.error_kind.as_deref(), Some("interrupted"));
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_manifest_of_a_running_process() {
    let db = TestDb::sqlite().unwrap();
    let text = every_second(10, "5s").replace("* * * * * *", "0 0 1 1 *");
    let (mut child, port, _dir, path) = spawn_host(&db, &text).await;
    let status = || async {
        let r = client()
            .get(format!("http://127.0.0.1:{port}/status"))
            .send()
            .await
            .unwrap();
        parts(r).await.1
    };
    let names = |v: &Value| -> Vec<String> {
        v["connectors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(names(&status().await), ["kit"]);
    let extra = "\n[connectors.added]\nplugin = {plugin:testkit}\ntables = [\"kit_items\"]\n";
    std::fs::write(&path, manifest(&db, &format!("{text}{extra}"))).unwrap();
    // watch = false: nothing happens until SIGHUP.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(names(&status().await), ["kit"]);
    signal(&child, "HUP");
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while names(&status().await) != ["added", "kit"] {
        assert!(
            std::time::Instant::now() < deadline,
            "SIGHUP did not reload"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    signal(&child, "TERM");
    assert!(wait_exit(&mut child, Duration::from_secs(15))
        .await
        .success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replaced_plugin_file_is_reloaded() {
    let db = TestDb::sqlite().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let wasm = dir.path().join("connector.wasm");
    std::fs::copy(connector_tests::wasm::TESTKIT, &wasm).unwrap();
    let text = format!(
        "[connectors.swap]\nplugin = {:?}\ntables = [\"kit_items\", \"sample_events\"]\n",
        wasm.display().to_string()
    );
    let (d, _addr) = serving(&db, &text).await;
    assert_eq!(d.daemon.runner().connectors()["swap"].info.name, "testkit");
    // Deploy a new build of the plugin: write beside, then rename over the old file.
    let staged = dir.path().join("connector.wasm.new");
    std::fs::copy(connector_tests::wasm::SAMPLE, &staged).unwrap();
    std::fs::rename(&staged, &wasm).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while d.daemon.stats.reloads.load(Ordering::Relaxed) == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the new plugin was not loaded"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(d.daemon.runner().connectors()["swap"].info.name, "sample");
    d.daemon.request_stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_in_hand_at_shutdown_goes_back_to_the_queue_at_once() {
    let db = TestDb::sqlite().unwrap();
    let text = "[runtime]\nqueue_workers = 1\n\n[server]\ngrace = \"1s\"\n\n\
                [connectors.kit]\nplugin = {plugin:testkit}\ntables = [\"kit_items\"]\n\
                settings = { jobs = [{ kind = \"sleep\" }] }\n";
    let d = start_daemon(&db, text, &FakeEnv::default(), Arc::new(SystemClock))
        .await
        .unwrap();
    let (_, serving) = d.serve().await;
    let runner = d.daemon.runner();
    let req = connector_host::runner::RunRequest {
        job: Some("enqueue".into()),
        ..connector_host::runner::RunRequest::manual()
    };
    assert!(runner.run("kit", req).await.unwrap().status.is_success());
    d.daemon.job_ready.notify_waiters();
    let store = runner.store.clone();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while count(
        &store,
        "SELECT COUNT(*) FROM queue_jobs WHERE status = 'processing'",
    )
    .await
        == 0
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the job was never leased"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    d.daemon.request_stop();
    serving.await.unwrap().unwrap();
    // `serve` closed its pools on the way out.
    let store = Store::connect(&db.url).await.unwrap();
    let jobs = store
        .list_jobs(&connector_host::store::JobFilter::default(), 10)
        .await
        .unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(
        (jobs[0].status.as_str(), jobs[0].attempts),
        ("pending", 0),
        "{jobs:?}"
    );
    assert_eq!(count(&store, "SELECT COUNT(*) FROM kit_items").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_the_plugin_answers_badly_is_a_500_and_keeps_nothing() {
    let db = TestDb::sqlite().unwrap();
    let (d, addr) = serving(&db, &connectors("rows = 1", "")).await;
    let store = d.daemon.runner().store.clone();
    let http = client();
    for (body, kind) in [
        ("reply-huge", "too-large"),
        ("reply-status-42", "invalid"),
        ("reply-error", "upstream"),
    ] {
        let r = http
            .post(format!("http://{addr}/webhooks/bearer"))
            .bearer_auth(HOOK_SECRET)
            .body(body)
            .send()
            .await
            .unwrap();
        let (status, reply) = parts(r).await;
        assert_eq!(status, 500, "{body}: {reply}");
        let run = &store.recent_runs(1, Some("bearer")).await.unwrap()[0];
        assert_eq!(run.error_kind.as_deref(), Some(kind), "{body}: {run:?}");
        // The plugin's message stays in the run log, not in the answer.
        assert!(!reply.to_string().contains("testkit"), "{reply}");
    }
    // The job each call enqueued was rolled back with it.
    assert_eq!(count(&store, "SELECT COUNT(*) FROM queue_jobs").await, 0);
    d.daemon.request_stop();
}
