use clap::Parser;
use connector_host::cli::{execute, Cli};
use connector_tests::db::TestDb;
use connector_tests::host::manifest;

const KIT: &str = r#"
[connectors.kit]
plugin = {plugin:testkit}
tables = ["kit_items"]
timeout = "5s"
"#;

/// Runs `connector-host ARGS` in-process against a manifest holding `connectors`; returns the
/// exit code and, for failures, the message `main` would print.
async fn cli(db: &TestDb, connectors: &str, args: &[&str]) -> (u8, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("connectors.toml");
    std::fs::write(&path, manifest(db, connectors)).unwrap();
    let mut argv = vec!["connector-host", "--manifest", path.to_str().unwrap()];
    argv.extend_from_slice(args);
    let cli = Cli::try_parse_from(argv).unwrap();
    match execute(&cli).await {
        Ok(code) => (code, String::new()),
        Err(failure) => (failure.code(), failure.message()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_codes_follow_the_convention() {
    let db = TestDb::sqlite().unwrap();
    assert_eq!(cli(&db, KIT, &["validate"]).await.0, 0);
    assert_eq!(cli(&db, KIT, &["run", "kit", "--job", "noop"]).await.0, 0);
    assert_eq!(
        cli(&db, KIT, &["run", "kit", "--job", "trap"]).await.0,
        1,
        "a failed job"
    );
    assert_eq!(
        cli(&db, KIT, &["run", "kit", "--job", "sync", "--dry-run"])
            .await
            .0,
        0
    );
    assert_eq!(cli(&db, KIT, &["runs"]).await.0, 0);
    assert_eq!(cli(&db, KIT, &["migrate"]).await.0, 0);

    let (code, message) = cli(&db, KIT, &["run", "kti"]).await;
    assert_eq!(
        (code, message.as_str()),
        (
            2,
            "no connector named \"kti\" in the manifest; did you mean \"kit\"?"
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_manifest_is_bad_input_with_every_problem_named() {
    let db = TestDb::sqlite().unwrap();
    let bad = format!("{KIT}timeout_typo = 1\n[connectors.other]\nplugin = \"missing.wasm\"\n");
    let (code, message) = cli(&db, &bad, &["validate"]).await;
    assert_eq!(code, 2);
    assert!(message.contains("2 problems"), "{message}");
    assert!(message.contains("timeout_typo"), "{message}");
    assert!(
        message.contains("connectors.other.plugin: file missing.wasm not found"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_refuses_a_plugin_that_uses_tables_it_was_not_granted() {
    let db = TestDb::sqlite().unwrap();
    let ungranted = KIT.replace("tables = [\"kit_items\"]", "tables = [\"sample_events\"]");
    let (code, message) = cli(&db, &ungranted, &["validate"]).await;
    assert_eq!(code, 2);
    assert!(
        message.contains(
            "connectors.kit.tables: the plugin uses table \"kit_items\", which is not granted"
        ),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_schedule_command_shows_local_and_utc_fires_across_a_dst_change() {
    let db = TestDb::sqlite().unwrap();
    let text = "[connectors.kit]\nplugin = {plugin:testkit}\n\
        [connectors.kit.schedules.nightly]\ncron = \"30 2 * * *\"\ntimezone = \"Europe/Malta\"\njob = \"sync\"\n";
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("connectors.toml");
    std::fs::write(&path, manifest(&db, text)).unwrap();
    let (m, _) =
        connector_host::manifest::Manifest::load(&path, &connector_tests::host::FakeEnv::default())
            .unwrap();
    let now = "2025-03-28T12:00:00Z".parse().unwrap();
    let table = connector_host::cli::schedule_table(&m, now, 3);
    let lines: Vec<&str> = table.lines().skip(2).collect();
    assert_eq!(lines.len(), 3, "{table}");
    let fires: Vec<(String, String)> = lines
        .iter()
        .map(|l| {
            let cells: Vec<&str> = l.split("  ").filter(|c| !c.trim().is_empty()).collect();
            let n = cells.len();
            (
                cells[n - 2].trim().to_owned(),
                cells[n - 1].trim().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        fires,
        [
            (
                "2025-03-29 02:30:00 CET".to_owned(),
                "2025-03-29 01:30:00Z".to_owned()
            ),
            // 02:30 does not exist on the 30th: it fires once, right after the jump.
            (
                "2025-03-30 03:00:00 CEST".to_owned(),
                "2025-03-30 01:00:00Z".to_owned()
            ),
            (
                "2025-03-31 02:30:00 CEST".to_owned(),
                "2025-03-31 00:30:00Z".to_owned()
            ),
        ],
        "{table}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_unfinished_jobs_can_be_purged_by_connector_and_kind() {
    for db in TestDb::all("cli_purge").await.unwrap() {
        let kit = format!(
            "{KIT}settings = {{ jobs = [{{ kind = \"ok\" }}, {{ kind = \"ok\" }}, {{ kind = \"fail\" }}] }}\n"
        );
        assert_eq!(
            cli(&db, &kit, &["run", "kit", "--job", "enqueue"]).await.0,
            0
        );
        let (code, message) = cli(&db, &kit, &["queue", "purge", "--status", "pending"]).await;
        assert_eq!(code, 2, "unfinished jobs need --connector");
        assert!(message.contains("needs --connector"), "{message}");
        let args = [
            "queue",
            "purge",
            "--status",
            "pending",
            "--connector",
            "kit",
            "--kind",
            "ok",
        ];
        assert_eq!(cli(&db, &kit, &args).await.0, 0);
        let left = connector_tests::db::scalar(
            &db.url,
            "SELECT count(*) FROM queue_jobs WHERE status = 'pending'",
        )
        .await
        .unwrap();
        assert_eq!(left, 1, "{}: the other kind stays", db.backend);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_and_traps_are_recorded_in_one_clean_message() {
    let db = TestDb::sqlite().unwrap();
    assert_eq!(cli(&db, KIT, &["run", "kit", "--job", "exit"]).await.0, 1);
    assert_eq!(cli(&db, KIT, &["run", "kit", "--job", "trap"]).await.0, 1);
    let store = connector_host::store::Store::connect(&db.url)
        .await
        .unwrap();
    let runs = store.recent_runs(2, None).await.unwrap();
    let (trap, exit) = (&runs[0], &runs[1]);
    assert_eq!(exit.error_kind.as_deref(), Some("exit"));
    assert_eq!(
        exit.error_message.as_deref(),
        // WASI preview 2 carries success or failure only: exit(3) arrives as exit(1).
        Some("the plugin called exit(1) instead of returning")
    );
    let message = trap.error_message.as_deref().unwrap();
    assert_eq!(message.matches("wasm trap").count(), 1, "{message}");
    assert!(message.contains("testkit asked to trap"), "{message}");
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_reports_an_auth_profile_the_plugin_names_but_the_manifest_lacks() {
    let db = TestDb::sqlite().unwrap();
    let ploomes = "[connectors.ploomes]\nplugin = {plugin:ploomes}\n\
                   tables = [\"sales\", \"customer_sales\"]\n";
    let (code, message) = cli(&db, ploomes, &["validate"]).await;
    assert_eq!(code, 2, "{message}");
    assert!(
        message.contains(
            "connectors.ploomes.auth: the plugin names auth profile \"ploomes\", which the manifest does not define"
        ),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspect_shows_what_a_plugin_asks_for_and_a_pinned_digest_is_enforced() {
    let wasm = std::path::Path::new(connector_tests::wasm::PLOOMES);
    let found = connector_host::runner::Runner::inspect(wasm).await.unwrap();
    assert_eq!(found.name, "ploomes");
    assert_eq!(found.tables, ["sales", "customer_sales"]);
    assert_eq!(found.auth_profiles, ["ploomes"]);
    assert!(found.settings.iter().any(|(k, _)| k == "page_size"));
    assert_eq!(found.migrations.len(), 2);
    let first = found.migrations[0].sqlite.as_ref().unwrap();
    assert!(
        first[0].starts_with("CREATE TABLE IF NOT EXISTS sales"),
        "{first:?}"
    );
    assert!(found.imports.iter().any(|i| i == "connector:host/db@0.2.0"));
    assert!(found.exports.iter().any(|e| e == "run"));
    let bytes = std::fs::read(wasm).unwrap();
    assert_eq!(found.size, bytes.len() as u64);
    let text = found.to_string();
    assert!(
        text.contains(&format!("sha256       {}", found.sha256)),
        "{text}"
    );

    let db = TestDb::sqlite().unwrap();
    let (code, _) = cli(&db, KIT, &["inspect", wasm.to_str().unwrap(), "--json"]).await;
    assert_eq!(code, 0);
    let kit = connector_host::runner::Runner::inspect(std::path::Path::new(
        connector_tests::wasm::TESTKIT,
    ))
    .await
    .unwrap();
    let pinned = format!("{KIT}sha256 = \"{}\"\n", kit.sha256);
    assert_eq!(cli(&db, &pinned, &["validate"]).await.0, 0);
    let wrong = format!("{KIT}sha256 = \"{}\"\n", "0".repeat(64));
    let (code, message) = cli(&db, &wrong, &["validate"]).await;
    assert_eq!(code, 2, "{message}");
    assert!(
        message.contains(&format!(
            "has SHA-256 {}, not the pinned {}",
            kit.sha256,
            "0".repeat(64)
        )),
        "{message}"
    );
    let (code, message) = cli(&db, &format!("{KIT}sha256 = \"abc\"\n"), &["validate"]).await;
    assert_eq!(code, 2);
    assert!(
        message.contains("connectors.kit.sha256: expected the plugin's SHA-256"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_run_shows_what_it_has_done_while_it_runs() {
    // Not a terminal (stderr is a pipe), so the progress comes as a plain line every 5 s.
    let db = TestDb::sqlite().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("connectors.toml");
    let slow = KIT.replace(
        "timeout = \"5s\"",
        "timeout = \"20s\"\nsettings = { sleep_ms = 5600 }",
    );
    std::fs::write(&path, manifest(&db, &slow)).unwrap();
    let out = std::process::Command::new(crate::host_binary())
        .args(["run", "kit", "--job", "hold-writer", "--manifest"])
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let line = stderr
        .lines()
        .find(|l| l.starts_with("run 1 kit: "))
        .unwrap_or_else(|| panic!("no progress line in {stderr}"));
    assert_eq!(
        line,
        "run 1 kit: 1 row written, 0 HTTP calls, 0.0 s waiting for rate limits, 1 log event; \
         last: holding the writer {\"ms\":\"5600\"}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_that_cannot_be_reached_is_named_without_its_password() {
    // Both ways PostgreSQL takes a password: in the user info and as a `password=` parameter.
    for url in [
        "postgres://app:hunter2-secret@127.0.0.1:1/x",
        "postgres://app@127.0.0.1:1/x?sslmode=disable&password=hunter2-secret",
    ] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("connectors.toml");
        std::fs::write(&path, connector_tests::host::manifest_for(url, KIT)).unwrap();
        let cli = Cli::try_parse_from([
            "connector-host",
            "--manifest",
            path.to_str().unwrap(),
            "migrate",
        ])
        .unwrap();
        let failure = execute(&cli).await.expect_err("nothing listens on port 1");
        let message = failure.message();
        assert!(message.contains("127.0.0.1:1"), "{message}");
        assert!(
            !message.contains("hunter2"),
            "the password leaked: {message}"
        );
        assert!(message.contains("***"), "{message}");
    }
}
