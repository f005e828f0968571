use axum::routing::{any, post};
use axum::Router;
use connector_host::runner::{RunOutcome, RunRequest};
use connector_host::store::RunStatus;
use connector_tests::db::TestDb;
use connector_tests::fake::{max_in_any_window, routes, FakeServer, Fault, FaultScope, RetryAfter};
use connector_tests::host::{start, FakeEnv, TestHost};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SECRET: &str = "pk-live-7f3a9c2e11";

/// TOML for one testkit connector running `requests` through the host.
fn script(name: &str, http: &str, auth: &str, requests: Value) -> String {
    format!(
        "[connectors.{name}]\nplugin = {{plugin:testkit}}\ntables = [\"kit_items\"]\ntimeout = \"20s\"\nhttp = {http}\n{auth}\nsettings = {{ requests = {} }}\n",
        toml_inline(&requests)
    )
}

fn toml_inline(v: &Value) -> String {
    match v {
        Value::Null => "\"\"".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => format!("{s:?}"),
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(toml_inline).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(o) => format!(
            "{{ {} }}",
            o.iter()
                .map(|(k, v)| format!("{k} = {}", toml_inline(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn allow(servers: &[&FakeServer]) -> String {
    let list: Vec<String> = servers
        .iter()
        .map(|s| format!("{:?}", s.base_url()))
        .collect();
    format!("[{}]", list.join(", "))
}

async fn host(connectors: &str) -> TestHost {
    let db = TestDb::sqlite().unwrap();
    let env = FakeEnv::with(&[
        ("KIT_KEY", SECRET),
        ("OAUTH_ID", "client-id-1"),
        ("OAUTH_SECRET", "client-secret-xyz"),
        ("OAUTH_REFRESH", "refresh-token-abc"),
    ]);
    let mut host = start(&db, connectors, &env).await.unwrap();
    host.keep(db);
    host
}

async fn run(host: &TestHost, name: &str) -> RunOutcome {
    let req = RunRequest {
        job: Some("http-script".into()),
        ..RunRequest::manual()
    };
    host.runner.run(name, req).await.unwrap()
}

/// The per-request results the testkit put in its summary.
fn results(o: &RunOutcome) -> Vec<Value> {
    assert_eq!(o.status, RunStatus::Succeeded, "{o:?}");
    serde_json::from_str(o.summary.as_deref().unwrap()).unwrap_or_else(|e| panic!("{e}: {o:?}"))
}

const KEY_PROFILE: &str = "auth.key = { header = \"User-Key\", secret = \"KIT_KEY\" }";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_allowed_origins_are_reached() {
    let ok = FakeServer::start(routes::all()).await;
    let other = FakeServer::start(routes::all()).await;
    let requests = json!([
        { "url": ok.url("/json") },
        { "url": other.url("/json") },
        { "url": format!("http://[::1]:{}/json", ok.addr().port()) },
        { "url": "http://169.254.169.254/latest/meta-data/" },
    ]);
    let h = host(&script(
        "kit",
        &format!("{{ allow = {} }}", allow(&[&ok])),
        "",
        requests,
    ))
    .await;
    let r = results(&run(&h, "kit").await);
    assert_eq!(r[0]["status"], 200);
    for denied in &r[1..] {
        assert_eq!(denied["error"], "denied", "{denied}");
    }
    assert_eq!(
        other.request_count(),
        0,
        "nothing reached the origin that is not allowed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dns_name_resolving_to_loopback_is_refused() {
    let server = FakeServer::start(routes::all()).await;
    let port = server.addr().port();
    let requests = json!([{ "url": format!("http://localhost:{port}/json") }]);
    let http = format!("{{ allow = [\"http://localhost:{port}\"], retries = 0 }}");
    let h = host(&script("kit", &http, "", requests)).await;
    let r = results(&run(&h, "kit").await);
    assert_eq!(r[0]["error"], "denied", "{}", r[0]);
    assert!(
        r[0]["message"].as_str().unwrap().contains("loopback"),
        "{}",
        r[0]
    );
    assert_eq!(server.request_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_stay_on_allowed_origins_and_credentials_stay_home() {
    let home = FakeServer::start(routes::all()).await;
    let partner = FakeServer::start(routes::all()).await;
    let outside = FakeServer::start(routes::all()).await;
    let to = |target: &FakeServer| home.url(&format!("/redirect?to={}", target.url("/echo")));
    let requests = json!([
        { "url": to(&home), "auth": "key" },
        { "url": to(&partner), "auth": "key" },
        { "url": to(&outside), "auth": "key" },
    ]);
    let http = format!("{{ allow = {} }}", allow(&[&home, &partner]));
    let h = host(&script("kit", &http, KEY_PROFILE, requests)).await;
    let r = results(&run(&h, "kit").await);
    assert_eq!(r[0]["status"], 200);
    assert!(home
        .requests()
        .iter()
        .any(|q| q.path == "/echo" && q.header("user-key") == Some(SECRET)));
    assert_eq!(r[1]["status"], 200);
    let at_partner = partner.requests();
    assert_eq!(at_partner.len(), 1);
    assert_eq!(
        at_partner[0].header("user-key"),
        None,
        "credentials followed a cross-origin redirect"
    );
    assert_eq!(r[2]["error"], "denied", "{}", r[2]);
    assert_eq!(outside.request_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugins_cannot_set_credential_headers() {
    let server = FakeServer::start(routes::all()).await;
    let requests = json!([
        { "url": server.url("/echo"), "headers": [["Authorization", "Bearer mine"]] },
        { "url": server.url("/echo"), "headers": [["user-key", "mine"]], "auth": "key" },
        { "url": server.url("/echo"), "headers": [["Cookie", "a=b"]] },
    ]);
    let http = format!("{{ allow = {} }}", allow(&[&server]));
    let h = host(&script("kit", &http, KEY_PROFILE, requests)).await;
    let r = results(&run(&h, "kit").await);
    for refused in &r {
        assert_eq!(refused["error"], "denied", "{refused}");
    }
    assert_eq!(server.request_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_pool_never_exceeds_its_quota_in_any_window() {
    let server = FakeServer::start(routes::all()).await;
    let requests = json!([{ "url": server.url("/json") }]);
    let http = format!(
        "{{ allow = {}, rate_limit = \"shared\" }}",
        allow(&[&server])
    );
    let one = script("one", &http, "", requests.clone())
        .replace("settings = {", "settings = { repeat = 30,");
    let two =
        script("two", &http, "", requests).replace("settings = {", "settings = { repeat = 30,");
    let manifest = format!("[rate_limits]\nshared = \"20/s\"\n\n{one}\n{two}");
    let h = host(&manifest).await;
    let started = Instant::now();
    let (a, b) = tokio::join!(run(&h, "one"), run(&h, "two"));
    let took = started.elapsed();
    for o in [&a, &b] {
        assert_eq!(o.status, RunStatus::Succeeded, "{o:?}");
        assert!(o.counters.contains(&("ok".to_owned(), 30)), "{o:?}");
    }
    let times = server.arrival_times();
    assert_eq!(times.len(), 60);
    let worst = max_in_any_window(&times, Duration::from_secs(1));
    assert!(worst <= 20, "{worst} requests arrived within one second");
    // 60 requests at 20/s: the first 20 at once, then a window per 20: just over 2 s.
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(5),
        "{took:?}"
    );
    let runs = h.runner.store.recent_runs(10, None).await.unwrap();
    let waited: i64 = runs.iter().map(|r| r.rate_limit_wait_ms).sum();
    assert!(
        waited > 1000,
        "rate-limit waits are recorded on the run ({waited} ms)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_is_honoured_in_both_forms_up_to_the_maximum_wait() {
    let server = FakeServer::start(routes::all()).await;
    server.push_fault(
        Fault::RetryAfterStatus {
            status: 503,
            retry_after: RetryAfter::Seconds(1),
        },
        FaultScope::prefix("/json").times(1),
    );
    server.push_fault(
        Fault::RetryAfterStatus {
            status: 429,
            retry_after: RetryAfter::Date(1),
        },
        FaultScope::prefix("/echo").times(1),
    );
    server.push_fault(
        Fault::RetryAfterStatus {
            status: 429,
            retry_after: RetryAfter::Seconds(30),
        },
        FaultScope::prefix("/status").times(1),
    );
    let requests = json!([
        { "url": server.url("/json") },
        { "url": server.url("/echo"), "method": "POST", "body": "x" },
        { "url": server.url("/status/200") },
    ]);
    let http = format!("{{ allow = {}, max_wait = \"5s\" }}", allow(&[&server]));
    let h = host(&script("kit", &http, "", requests)).await;
    let started = Instant::now();
    let o = run(&h, "kit").await;
    let r = results(&o);
    assert_eq!(
        r[0]["status"], 200,
        "waited out a 503 with Retry-After seconds"
    );
    assert_eq!(
        r[1]["status"], 200,
        "waited out a 429 with an HTTP-date (POST too: the server said when)"
    );
    assert_eq!(r[2]["error"], "rate-limited", "30 s is past max_wait");
    assert!(
        r[2]["message"].as_str().unwrap().contains("30000"),
        "{}",
        r[2]
    );
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(8),
        "{took:?}"
    );
    let run = h.runner.store.recent_runs(1, None).await.unwrap().remove(0);
    assert_eq!(run.retries, 2);
    assert!(run.rate_limit_wait_ms >= 2000, "{}", run.rate_limit_wait_ms);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_requests_retry_transient_failures_within_bounds_and_posts_do_not() {
    let server = FakeServer::start(routes::all()).await;
    server.push_fault(Fault::Status(500), FaultScope::prefix("/json").times(10));
    server.push_fault(Fault::Reset, FaultScope::prefix("/echo").times(1));
    server.push_fault(Fault::Status(502), FaultScope::prefix("/status").times(1));
    let requests = json!([
        { "url": server.url("/json") },
        { "url": server.url("/echo") },
        { "url": server.url("/status/201"), "method": "POST", "body": "x" },
    ]);
    let http = format!("{{ allow = {}, retries = 2 }}", allow(&[&server]));
    let h = host(&script("kit", &http, "", requests)).await;
    let r = results(&run(&h, "kit").await);
    assert_eq!(
        r[0]["status"], 500,
        "after 1 try and 2 retries the 500 is the answer"
    );
    assert_eq!(
        server
            .requests()
            .iter()
            .filter(|q| q.path == "/json")
            .count(),
        3
    );
    assert_eq!(r[1]["status"], 200, "a reset connection is retried");
    assert_eq!(r[2]["status"], 502, "a POST is never retried");
    assert_eq!(
        server
            .requests()
            .iter()
            .filter(|q| q.path.starts_with("/status"))
            .count(),
        1
    );
    let run = h.runner.store.recent_runs(1, None).await.unwrap().remove(0);
    assert_eq!(run.retries, 3);
    assert_eq!(run.http_calls, 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_and_size_caps_answer_typed_errors() {
    let server = FakeServer::start(routes::all()).await;
    server.push_fault(Fault::Hang, FaultScope::prefix("/json").times(2));
    let requests = json!([
        { "url": server.url("/json"), "timeout_ms": 300 },
        { "url": server.url("/json"), "timeout_ms": 60000 },
        { "url": server.url("/bytes?n=4096") },
        { "url": server.url("/bytes?n=4096&chunked=1") },
    ]);
    let http = format!(
        "{{ allow = {}, retries = 0, timeout = \"1s\", max_response = \"1KiB\" }}",
        allow(&[&server])
    );
    let h = host(&script("kit", &http, "", requests)).await;
    let started = Instant::now();
    let o = run(&h, "kit").await;
    let took = started.elapsed();
    let r = results(&o);
    assert_eq!(r[0]["error"], "timeout");
    assert_eq!(
        r[1]["error"], "timeout",
        "a plugin cannot raise the manifest's timeout"
    );
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert_eq!(r[2]["error"], "too-large");
    assert_eq!(r[3]["error"], "too-large");
}

/// A token endpoint that hands out `tok-1`, `tok-2`, … slowly, and an API accepting only the
/// newest token.
fn oauth_router(issued: Arc<AtomicU32>, throttled: bool) -> Router {
    let api_issued = issued.clone();
    Router::new()
        .route(
            "/oauth/v2/token",
            post(move || {
                let issued = issued.clone();
                async move {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    if throttled {
                        issued.fetch_add(1, Ordering::SeqCst);
                        return (
                            axum::http::StatusCode::BAD_REQUEST,
                            r#"{"error":"Access Denied","error_description":"You have made too many requests continuously. Please try again after some time.","status":"failure"}"#.to_owned(),
                        );
                    }
                    let n = issued.fetch_add(1, Ordering::SeqCst) + 1;
                    (axum::http::StatusCode::OK, json!({"access_token": format!("tok-{n}"), "expires_in": 3600, "api_domain": "x"}).to_string())
                }
            }),
        )
        .route(
            "/api",
            any(move |headers: axum::http::HeaderMap| {
                let issued = api_issued.clone();
                async move {
                    let want = format!("Bearer tok-{}", issued.load(Ordering::SeqCst).max(2));
                    match headers.get("authorization").and_then(|v| v.to_str().ok()) {
                        Some(got) if got == want => (axum::http::StatusCode::OK, format!("hello {got}")),
                        _ => (axum::http::StatusCode::UNAUTHORIZED, r#"{"code":"INVALID_TOKEN"}"#.to_owned()),
                    }
                }
            }),
        )
}

fn oauth_profile(server: &FakeServer) -> String {
    format!(
        "auth.oauth = {{ oauth2 = {{ client_id = \"OAUTH_ID\", client_secret = \"OAUTH_SECRET\", refresh_token = \"OAUTH_REFRESH\", token_url = {:?}, cooldown = \"2s\" }} }}",
        server.url("/oauth/v2/token")
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth_tokens_refresh_once_for_many_runs_and_again_after_a_401() {
    let issued = Arc::new(AtomicU32::new(0));
    let server = FakeServer::start(oauth_router(issued.clone(), false)).await;
    let requests = json!([{ "url": server.url("/api"), "auth": "oauth" }]);
    let http = format!("{{ allow = {} }}", allow(&[&server]));
    let mut manifest = String::new();
    for i in 0..5 {
        manifest.push_str(&script(
            &format!("c{i}"),
            &http,
            &oauth_profile(&server),
            requests.clone(),
        ));
    }
    let h = host(&manifest).await;
    let names: Vec<String> = (0..5).map(|i| format!("c{i}")).collect();
    let outcomes = futures::future::join_all(names.iter().map(|n| run(&h, n))).await;
    // The API accepts tok-2 only: the first token (tok-1) is answered 401, the host refreshes
    // once — single flight across the five runs — and retries.
    for o in &outcomes {
        let r = results(o);
        assert_eq!(r[0]["status"], 200, "{}", r[0]);
        assert_eq!(
            r[0]["body"], "hello Bearer [redacted]",
            "the token is redacted from echoes"
        );
    }
    assert_eq!(
        issued.load(Ordering::SeqCst),
        2,
        "one refresh for all runs, one after the 401"
    );
    let token_calls = server
        .requests()
        .iter()
        .filter(|q| q.path == "/oauth/v2/token")
        .count();
    assert_eq!(token_calls, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_token_endpoint_is_left_alone_for_its_cooldown() {
    let issued = Arc::new(AtomicU32::new(0));
    let server = FakeServer::start(oauth_router(issued.clone(), true)).await;
    let requests = json!([{ "url": server.url("/api"), "auth": "oauth" }]);
    let http = format!("{{ allow = {} }}", allow(&[&server]));
    let h = host(&script("kit", &http, &oauth_profile(&server), requests)).await;
    for _ in 0..3 {
        let r = results(&run(&h, "kit").await);
        assert_eq!(r[0]["error"], "rate-limited", "{}", r[0]);
        assert!(
            r[0]["message"].as_str().unwrap().contains("cooling down"),
            "{}",
            r[0]
        );
    }
    assert_eq!(
        issued.load(Ordering::SeqCst),
        1,
        "no refresh during the cool-down"
    );
    tokio::time::sleep(Duration::from_millis(2100)).await;
    run(&h, "kit").await;
    assert_eq!(
        issued.load(Ordering::SeqCst),
        2,
        "a refresh again after the cool-down"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secret_values_never_reach_the_plugin_the_run_log_or_the_logs() {
    let logs = connector_tests::logs::capture();
    let server = FakeServer::start(routes::all()).await;
    let requests = json!([{ "url": server.url("/echo"), "auth": "key" }]);
    let http = format!("{{ allow = {} }}", allow(&[&server]));
    let h = host(&script("kit", &http, KEY_PROFILE, requests)).await;
    let o = run(&h, "kit").await;
    let r = results(&o);
    assert_eq!(
        server.requests()[0].header("user-key"),
        Some(SECRET),
        "the host did send it"
    );
    let echoed = r[0]["body"].as_str().unwrap();
    assert!(echoed.contains("[redacted]"), "{echoed}");
    assert!(!o.summary.as_deref().unwrap().contains(SECRET));
    let runs = h.runner.store.recent_runs(10, None).await.unwrap();
    assert!(
        !format!("{runs:?}").contains(SECRET),
        "the run log holds a secret"
    );
    assert!(!format!("{:?}", h.runner.manifest).contains(SECRET));
    let captured = logs.contents();
    assert!(captured.contains("run finished"), "the capture works");
    assert!(!captured.contains(SECRET), "a secret reached the logs");
}

/// Three hosts on one database (on SQLite: three processes on one file, say a `serve` and two
/// `connector-host run`s) share a pool's window: no second sees more than the quota.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_on_one_database_share_a_pools_quota() {
    for db in TestDb::all("shared_quota").await.unwrap() {
        hosts_share_a_quota(&db).await;
    }
}

async fn hosts_share_a_quota(db: &TestDb) {
    let server = FakeServer::start(routes::all()).await;
    let requests = json!([{ "url": server.url("/json") }]);
    let http = format!(
        "{{ allow = {}, rate_limit = \"shared\" }}",
        allow(&[&server])
    );
    let kit =
        script("kit", &http, "", requests).replace("settings = {", "settings = { repeat = 20,");
    let manifest = format!("[rate_limits]\nshared = \"20/s\"\n\n{kit}");
    // Three hosts, each with its own pools and its own in-memory limiter.
    let mut hosts = Vec::new();
    for _ in 0..3 {
        hosts.push(start(db, &manifest, &FakeEnv::default()).await.unwrap());
    }
    let started = Instant::now();
    let outcomes = futures::future::join_all(hosts.iter().map(|h| run(h, "kit"))).await;
    let took = started.elapsed();
    for o in &outcomes {
        assert_eq!(o.status, RunStatus::Succeeded, "{o:?}");
    }
    let times = server.arrival_times();
    assert_eq!(times.len(), 60);
    // The limiter admits at the host; the server stamps on arrival. Delivery
    // delay varies by tens of milliseconds on a loaded machine, so the check
    // uses a window 100 ms short of the limit's second: a limiter that let a
    // 21st request through inside the window would still show here.
    let worst = max_in_any_window(&times, Duration::from_millis(900));
    assert!(
        worst <= 20,
        "{}: {worst} requests from three hosts arrived within 900 ms",
        db.backend
    );
    assert!(took >= Duration::from_secs(2), "{took:?}");
}

/// A request naming a pool from `http.extra_rate_limits` passes that pool as well as the
/// connector's; a pool the connector was not granted is refused without a request going out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_passes_the_extra_pool_it_names_and_only_a_granted_one() {
    let server = FakeServer::start(routes::all()).await;
    let tight = json!({ "url": server.url("/json"), "rate_limits": ["tight"] });
    let requests = json!([
        tight.clone(),
        tight.clone(),
        tight,
        { "url": server.url("/status/200"), "rate_limits": ["loose"] },
    ]);
    let http = format!(
        "{{ allow = {}, rate_limit = [\"base\"], extra_rate_limits = [\"tight\"] }}",
        allow(&[&server])
    );
    let manifest = format!(
        "[rate_limits]\nbase = \"100/s\"\ntight = \"2/s\"\nloose = \"100/s\"\n\n{}",
        script("kit", &http, "", requests)
    );
    let h = host(&manifest).await;
    let started = Instant::now();
    let r = results(&run(&h, "kit").await);
    for ok in &r[..3] {
        assert_eq!(ok["status"], 200, "{ok}");
    }
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "the third request through a 2/s pool waited for the window"
    );
    assert_eq!(r[3]["error"], "denied", "{}", r[3]);
    let message = r[3]["message"].as_str().unwrap();
    assert!(
        message.contains("\"loose\"") && message.contains("extra_rate_limits"),
        "{message}"
    );
    assert_eq!(
        server.request_count(),
        3,
        "the refused request never went out"
    );
}

/// An upstream asking to wait an hour closes the pool: the run that got the answer and every
/// later run using the pool — on another host sharing the database too — stop at once, recorded
/// as rate-limited, without asking the upstream again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_retry_after_closes_the_pool_for_every_host_on_the_database() {
    for db in TestDb::all("pool_closure").await.unwrap() {
        let server = FakeServer::start(routes::all()).await;
        server.push_fault(
            Fault::RetryAfterStatus {
                status: 429,
                retry_after: RetryAfter::Seconds(3600),
            },
            FaultScope::prefix("/status").times(1),
        );
        let requests =
            json!([{ "url": server.url("/status/200") }, { "url": server.url("/json") }]);
        let http = format!(
            "{{ allow = {}, rate_limit = \"shared\" }}",
            allow(&[&server])
        );
        let manifest = format!(
            "[rate_limits]\nshared = \"100/s\"\n\n{}",
            script("kit", &http, "", requests)
        );
        let first = start(&db, &manifest, &FakeEnv::default()).await.unwrap();
        let second = start(&db, &manifest, &FakeEnv::default()).await.unwrap();
        let started = Instant::now();
        let r = results(&run(&first, "kit").await);
        for (i, refused) in r.iter().enumerate() {
            assert_eq!(
                refused["error"], "rate-limited",
                "{}: request {i}: {refused}",
                db.backend
            );
            assert!(
                refused["message"].as_str().unwrap().starts_with("shared "),
                "{refused}"
            );
        }
        let r = results(&run(&second, "kit").await);
        assert_eq!(r[0]["error"], "rate-limited", "{}: {}", db.backend, r[0]);
        let wait = r[0]["message"].as_str().unwrap();
        let ms: u64 = wait
            .trim_start_matches("shared Some(")
            .trim_end_matches(')')
            .parse()
            .unwrap_or_else(|e| panic!("{e}: {wait}"));
        assert!(
            ms > 3_500_000,
            "{}: the closure's remaining time is reported: {wait}",
            db.backend
        );
        assert!(started.elapsed() < Duration::from_secs(5), "nobody waited");
        assert_eq!(
            server.request_count(),
            1,
            "{}: only the first request went out",
            db.backend
        );
    }
}

/// A token endpoint naming the account's API host (`api_domain`, Zoho's data centres) and an
/// API host that echoes the `Authorization` header it got.
fn api_domain_router(api_domain: String) -> Router {
    Router::new().route(
        "/oauth/v2/token",
        post(move || {
            let api_domain = api_domain.clone();
            async move {
                json!({"access_token": "tok-dc", "expires_in": 3600, "api_domain": api_domain})
                    .to_string()
            }
        }),
    )
}

fn echo_authorization() -> Router {
    Router::new().route(
        "/crm/v8/Products",
        any(|headers: axum::http::HeaderMap| async move {
            let got = headers.get("authorization").and_then(|v| v.to_str().ok());
            format!("auth={}", got.unwrap_or("none"))
        }),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oauth2_profile_uses_its_scheme_and_the_api_domain_the_token_names() {
    let account_dc = FakeServer::start(echo_authorization()).await;
    let accounts = FakeServer::start(api_domain_router(account_dc.base_url())).await;
    let default_api = FakeServer::start(echo_authorization()).await;
    let profile = format!(
        "auth.zoho = {{ oauth2 = {{ client_id = \"OAUTH_ID\", client_secret = \"OAUTH_SECRET\", refresh_token = \"OAUTH_REFRESH\", token_url = {:?}, api_url = {:?}, scheme = \"Zoho-oauthtoken\" }} }}",
        accounts.url("/oauth/v2/token"),
        default_api.base_url(),
    );
    let requests = json!([{ "url": default_api.url("/crm/v8/Products"), "auth": "zoho" }]);
    // Allowed: the request goes to the account's data centre, with Zoho's scheme.
    let http = format!(
        "{{ allow = {} }}",
        allow(&[&accounts, &default_api, &account_dc])
    );
    let h = host(&script("kit", &http, &profile, requests.clone())).await;
    let r = results(&run(&h, "kit").await);
    assert_eq!(r[0]["status"], 200, "{}", r[0]);
    assert_eq!(r[0]["body"], "auth=Zoho-oauthtoken [redacted]");
    assert_eq!(account_dc.request_count(), 1);
    assert_eq!(
        default_api.request_count(),
        0,
        "the token said the account lives elsewhere"
    );
    // Not allowed: refused, naming the key to change, and nothing is sent anywhere.
    let http = format!("{{ allow = {} }}", allow(&[&accounts, &default_api]));
    let h = host(&script("kit", &http, &profile, requests)).await;
    let r = results(&run(&h, "kit").await);
    assert_eq!(r[0]["error"], "denied", "{}", r[0]);
    let message = r[0]["message"].as_str().unwrap();
    assert!(
        message.contains("api_domain") && message.contains("http.allow"),
        "{message}"
    );
    assert_eq!(account_dc.request_count(), 1);
    assert_eq!(default_api.request_count(), 0);
}
