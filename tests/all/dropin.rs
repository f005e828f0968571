//! A connector written outside this repository drops in: `connector-host new` writes a crate in
//! a scratch directory, cargo builds it there against the guest SDK, and it is inspected,
//! validated, run, fired by a schedule and triggered over HTTP by `serve` — with its own table
//! from its own migration, and no change to `host/`, `migrations/` or `plugins/`. Also: the
//! plugins' own unit tests pass, run natively.

use crate::host_binary;
use chrono::{TimeZone, Utc};
use clap::Parser;
use connector_host::cli::{execute, Cli};
use connector_host::daemon::ManualClock;
use connector_host::runner::Runner;
use connector_tests::daemon::start_daemon;
use connector_tests::db::{scalar, TestDb};
use connector_tests::host::FakeEnv;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

async fn cli(args: &[&str]) -> (u8, String) {
    let mut argv = vec!["connector-host"];
    argv.extend_from_slice(args);
    match execute(&Cli::try_parse_from(argv).unwrap()).await {
        Ok(code) => (code, String::new()),
        Err(failure) => (failure.code(), failure.message()),
    }
}

/// The workspace's target directory, where the scratch connector's build is kept between runs.
fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/dropin")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connector_written_elsewhere_drops_in_without_touching_the_host() {
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path().to_str().unwrap();
    let (code, message) = cli(&["new", "hello-world", "--dir", dir]).await;
    assert_eq!(code, 0, "{message}");
    let (code, message) = cli(&["new", "hello-world", "--dir", dir]).await;
    assert_eq!(code, 2, "an existing directory is refused");
    assert!(message.contains("already exists"), "{message}");
    let (code, _) = cli(&["new", "Hello World", "--dir", dir]).await;
    assert_eq!(code, 2, "a bad name is refused");

    // Built where it lives, as its README says (pinned to the SDK's dependency versions).
    let crate_dir = scratch.path().join("hello-world");
    let lock = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/Cargo.lock");
    std::fs::copy(lock, crate_dir.join("Cargo.lock")).unwrap();
    plugin_build::ensure_target().unwrap();
    let status = plugin_build::cargo(&crate_dir)
        .args(["build", "--release", "--quiet"])
        .env("CARGO_TARGET_DIR", target_dir())
        .status()
        .unwrap();
    assert!(status.success(), "the scaffold does not build");
    let wasm = target_dir().join("wasm32-wasip2/release/hello_world.wasm");
    let tests = plugin_build::cargo(&crate_dir)
        .args([
            "test",
            "--quiet",
            "--target",
            &plugin_build::host_target().unwrap(),
        ])
        .env("CARGO_TARGET_DIR", target_dir())
        .output()
        .unwrap();
    assert!(
        tests.status.success(),
        "its unit test: {}",
        String::from_utf8_lossy(&tests.stderr)
    );

    let found = Runner::inspect(&wasm).await.unwrap();
    assert_eq!(found.tables, ["hello_world_greetings"]);
    assert_eq!(found.jobs, ["greet"]);

    for db in TestDb::all("dropin").await.unwrap() {
        // Its own manifest entry, pointed at the build, with a token for manual runs over HTTP
        // (in a `.env` beside the manifest, as an operator would keep it).
        let entry = std::fs::read_to_string(crate_dir.join("connector.toml")).unwrap();
        let connectors = format!("[runtime]\nqueue_workers = 0\n\n{entry}")
            .replace(
                "\"target/wasm32-wasip2/release/hello_world.wasm\"",
                &format!("{:?}", wasm.display().to_string()),
            )
            .replace(
                "settings = { greeting = \"hello\" }",
                "settings = { greeting = \"hello\" }\ntrigger = { token = \"HELLO_RUN_TOKEN\" }",
            );
        let manifest_dir = tempfile::tempdir().unwrap();
        let path = manifest_dir.path().join("connectors.toml");
        std::fs::write(
            &path,
            format!("[database]\nurl = {:?}\n\n{connectors}", db.url),
        )
        .unwrap();
        std::fs::write(
            manifest_dir.path().join(".env"),
            "HELLO_RUN_TOKEN=hello-run-token-0123\n",
        )
        .unwrap();
        let manifest = path.to_str().unwrap();

        let (code, message) = cli(&["--manifest", manifest, "validate"]).await;
        assert_eq!(code, 0, "{}: {message}", db.backend);
        let (code, message) = cli(&["--manifest", manifest, "run", "hello-world"]).await;
        assert_eq!(code, 0, "{}: {message}", db.backend);
        let rows = |url: String| async move {
            scalar(&url, "SELECT count(*) FROM hello_world_greetings")
                .await
                .unwrap()
        };
        assert_eq!(rows(db.url.clone()).await, 1, "{}", db.backend);

        // Its schedule fires it.
        let base = Utc.with_ymd_and_hms(2031, 5, 4, 12, 0, 0).unwrap();
        let clock = Arc::new(ManualClock::new(base));
        let d = start_daemon(
            &db,
            &connectors,
            &FakeEnv::with(&[("HELLO_RUN_TOKEN", "hello-run-token-0123")]),
            clock.clone(),
        )
        .await
        .unwrap();
        let fire = base + chrono::Duration::minutes(5);
        clock.set(fire);
        d.daemon.tick(fire).await;
        assert!(d.daemon.wait_idle(Duration::from_secs(30)).await);
        assert_eq!(
            rows(db.url.clone()).await,
            2,
            "{}: the schedule ran it",
            db.backend
        );
        let last = d.daemon.runner().store.recent_runs(1, None).await.unwrap();
        assert_eq!(last[0].trigger, "schedule");
        d.daemon.shutdown(Duration::ZERO).await;

        // `serve` runs it on request.
        let mut serve = std::process::Command::new(host_binary())
            .args(["serve", "--listen", "127.0.0.1:0", "--manifest", manifest])
            .env("CONNECTOR_HOST_LOG", "info")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let addr = listening_address(&mut serve).await;
        let answer = reqwest::Client::new()
            .post(format!("http://{addr}/connectors/hello-world/run"))
            .bearer_auth("hello-run-token-0123")
            .send()
            .await
            .unwrap();
        let status = answer.status();
        let body = answer.text().await.unwrap();
        let _ = serve.kill();
        let _ = serve.wait();
        assert_eq!(status, 200, "{}: {body}", db.backend);
        assert!(body.contains("\"status\":\"succeeded\""), "{body}");
        assert_eq!(rows(db.url.clone()).await, 3, "{}", db.backend);
    }
}

/// Reads `serve`'s log until it says where it listens (and keeps draining it, so the process
/// never writes into a closed pipe).
async fn listening_address(serve: &mut std::process::Child) -> String {
    use std::io::BufRead;
    let stderr = serve.stderr.take().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if let Some(rest) = line.split("listen=").nth(1) {
                if let Some(tx) = tx.take() {
                    let _ = tx.send(rest.split_whitespace().next().unwrap_or("").to_owned());
                }
            }
        }
    });
    tokio::time::timeout(Duration::from_secs(60), rx)
        .await
        .expect("serve never said where it listens")
        .expect("serve exited before listening")
}

#[test]
fn the_plugins_own_unit_tests_pass() {
    let plugins = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins");
    let target = plugin_build::host_target().unwrap();
    let out = plugin_build::cargo(&plugins)
        .args([
            "test",
            "--quiet",
            "--locked",
            "--workspace",
            "--target",
            &target,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
