//! The console driven in a real headless browser — Chromium and chromedriver from the
//! distribution's packages, installed by this test when missing (as root with apt) — against a
//! `serve` host: a failed run shows with its error, an action without signing in is refused,
//! signing in, pausing and resuming work, and a form without its CSRF token is refused.

use connector_host::daemon::SystemClock;
use connector_host::runner::RunRequest;
use connector_tests::daemon::start_daemon;
use connector_tests::db::TestDb;
use connector_tests::host::FakeEnv;
use fantoccini::{ClientBuilder, Locator};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const ADMIN_TOKEN: &str = "console-admin-token-0001";

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

/// chromedriver (with Chromium), installed with apt when missing and this is root.
fn chromedriver() -> Option<PathBuf> {
    if let Some(found) = which("chromedriver") {
        return Some(found);
    }
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0");
    if !root || which("apt-get").is_none() {
        return None;
    }
    let install = || {
        Command::new("apt-get")
            .args(["install", "-y", "-q", "chromium", "chromium-driver"])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !install() {
        let _ = Command::new("apt-get")
            .args(["update", "-q"])
            .stdout(Stdio::null())
            .status();
        install();
    }
    which("chromedriver")
}

/// A chromedriver process, stopped when dropped.
struct Driver(Child, u16);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_driver(path: &PathBuf) -> Driver {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(path)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    Driver(child, port)
}

/// The page's source once it contains `text` (a click's navigation may still be under way).
async fn source_with(browser: &fantoccini::Client, text: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let source = browser.source().await.unwrap();
        if source.contains(text) {
            return source;
        }
        assert!(Instant::now() < deadline, "no {text:?} in:\n{source}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_shows_runs_and_pauses_and_resumes_for_a_signed_in_operator() {
    let Some(path) = chromedriver() else {
        assert!(
            std::env::var_os("CONNECTOR_HOST_REQUIRE_BROWSER").is_none(),
            "chromedriver is missing and could not be installed"
        );
        eprintln!("skipped: the console test needs chromium and chromedriver (apt install chromium chromium-driver)");
        return;
    };
    let db = TestDb::sqlite().unwrap();
    let text = "[runtime]\nqueue_workers = 0\n\n[server]\nadmin_token = \"ADMIN_TOKEN\"\n\n\
                [connectors.kit]\nplugin = {plugin:testkit}\ntables = [\"kit_items\"]\ntimeout = \"20s\"\n\
                [connectors.kit.schedules.nightly]\ncron = \"0 0 2 * * *\"\ntimezone = \"Europe/Malta\"\njob = \"noop\"\n";
    let env = FakeEnv::with(&[("ADMIN_TOKEN", ADMIN_TOKEN)]);
    let d = start_daemon(&db, text, &env, Arc::new(SystemClock))
        .await
        .unwrap();
    let (addr, serving) = d.serve().await;
    let runner = d.daemon.runner();
    let failed = runner
        .run(
            "kit",
            RunRequest {
                job: Some("fail".into()),
                ..RunRequest::manual()
            },
        )
        .await
        .unwrap();
    let url = |p: &str| format!("http://{addr}{p}");

    let driver = start_driver(&path);
    // fantoccini's TLS stack and reqwest's both link rustls: name the crypto provider once.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({ "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"] }),
    );
    let browser = ClientBuilder::rustls()
        .unwrap()
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.1))
        .await
        .expect("a browser session");

    // The overview and the failed run, with its error in full.
    browser.goto(&url("/")).await.unwrap();
    let home = browser.source().await.unwrap();
    assert!(
        home.contains(">kit<") && home.contains("testkit asked to fail"),
        "{home}"
    );
    browser
        .goto(&url(&format!("/ui/runs/{}", failed.run_id)))
        .await
        .unwrap();
    let run = browser.source().await.unwrap();
    assert!(run.contains("upstream: testkit asked to fail"), "{run}");
    // Times in the schedule's zone: 02:00 in Malta.
    browser.goto(&url("/ui/connectors/kit")).await.unwrap();
    let page = browser.source().await.unwrap();
    assert!(page.contains("02:00:00 +0"), "{page}");

    // An action without signing in is refused, and nothing is paused.
    browser
        .find(Locator::Css("#reason"))
        .await
        .unwrap()
        .send_keys("sneaky")
        .await
        .unwrap();
    browser
        .find(Locator::Css("#pause"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    source_with(&browser, "Sign in to act").await;
    assert!(runner
        .store
        .active_pauses(chrono::Utc::now())
        .await
        .unwrap()
        .is_empty());

    // A wrong token is refused; the right one signs in and comes back to the connector.
    browser
        .goto(&url("/ui/login?next=/ui/connectors/kit"))
        .await
        .unwrap();
    browser
        .find(Locator::Css("#token"))
        .await
        .unwrap()
        .send_keys("not-the-admin-token")
        .await
        .unwrap();
    browser
        .find(Locator::Css("#signin"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    source_with(&browser, "that is not the admin token").await;
    browser
        .find(Locator::Css("#token"))
        .await
        .unwrap()
        .send_keys(ADMIN_TOKEN)
        .await
        .unwrap();
    browser
        .find(Locator::Css("#signin"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    source_with(&browser, "signed in").await;
    assert!(browser
        .current_url()
        .await
        .unwrap()
        .path()
        .ends_with("/ui/connectors/kit"));

    // Pause with a reason, then resume.
    browser
        .find(Locator::Css("#reason"))
        .await
        .unwrap()
        .send_keys("maintenance window")
        .await
        .unwrap();
    browser
        .find(Locator::Css("#pause"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    source_with(&browser, "Paused: maintenance window").await;
    let held = runner
        .store
        .active_pauses(chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(held.len(), 1);
    assert_eq!(
        (held[0].reason.as_str(), held[0].paused_by.as_str()),
        ("maintenance window", "console")
    );
    browser
        .find(Locator::Css("#resume"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while !runner
        .store
        .active_pauses(chrono::Utc::now())
        .await
        .unwrap()
        .is_empty()
    {
        assert!(Instant::now() < deadline, "still paused after resume");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The page after the resume shows no pause.
    let deadline = Instant::now() + Duration::from_secs(15);
    while browser.source().await.unwrap().contains("Paused:") {
        assert!(Instant::now() < deadline, "the page still shows the pause");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The session cookie alone is not enough: a form without its CSRF token is refused.
    let cookie = browser
        .get_named_cookie("connector_host_session")
        .await
        .unwrap();
    let forged = reqwest::Client::new()
        .post(url("/ui/connectors/kit/pause"))
        .header(
            "cookie",
            format!("connector_host_session={}", cookie.value()),
        )
        .header("content-type", "application/x-www-form-urlencoded")
        .body("reason=forged")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    assert!(runner
        .store
        .active_pauses(chrono::Utc::now())
        .await
        .unwrap()
        .is_empty());

    browser.close().await.unwrap();
    drop(driver);
    d.daemon.request_stop();
    let _ = tokio::time::timeout(Duration::from_secs(10), serving).await;
}
