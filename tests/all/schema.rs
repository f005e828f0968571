//! Connector-owned schema on both backends: an applied migration that was edited is refused,
//! naming the plugin and the version; and what a plugin declares is checked against the manifest
//! and the database at every start, every problem at once. (That a database of the previous
//! layout upgrades in place is tested with ploomes' data, in its harness.)

use clap::Parser;
use connector_host::cli::{execute, Cli};
use connector_host::manifest::Manifest;
use connector_host::runner::Runner;
use connector_tests::db::{execute as sql, TestDb};
use connector_tests::host::{manifest, start, FakeEnv};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_applied_migration_that_changed_is_refused_naming_the_plugin_and_version() {
    for db in TestDb::all("schema_edited").await.unwrap() {
        let text = "[connectors.kit]\nplugin = {plugin:testkit}\ntables = [\"kit_items\"]\n";
        let host = start(&db, text, &FakeEnv::default()).await.unwrap();
        host.runner.shutdown().await;
        // As if version 1's SQL had been edited after it was applied.
        sql(
            &db.url,
            "UPDATE plugin_migrations SET checksum = 'edited' WHERE plugin = 'testkit'",
        )
        .await
        .unwrap();
        let err = start(&db, text, &FakeEnv::default()).await.err().unwrap();
        let message = format!("{err:#}");
        assert!(
            message.contains(
                "connectors.kit: plugin testkit: migration 1 (\"kit_items\") was changed after it was applied"
            ),
            "{}: {message}",
            db.backend
        );
    }
}

/// `connector-host ARGS` in-process against `connectors`; the exit code and message.
async fn cli(db: &TestDb, connectors: &str, args: &[&str]) -> (u8, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("connectors.toml");
    std::fs::write(&path, manifest(db, connectors)).unwrap();
    let mut argv = vec!["connector-host", "--manifest", path.to_str().unwrap()];
    argv.extend_from_slice(args);
    match execute(&Cli::try_parse_from(argv).unwrap()).await {
        Ok(code) => (code, String::new()),
        Err(failure) => (failure.code(), failure.message()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_mismatch_between_plugin_and_manifest_is_reported_at_once() {
    let db = TestDb::sqlite().unwrap();
    let text = "[connectors.kit]\nplugin = {plugin:testkit}\ntables = [\"kit_items\"]\n\
                settings = { rows = 2, lable = \"x\", colour = 1 }\n\
                schedules.nightly = { cron = \"0 2 * * *\", job = \"snyc\" }\n\
                [connectors.ploomes]\nplugin = {plugin:ploomes}\ntables = [\"sales\"]\n\
                settings = { page_sise = 100 }\n";
    let (code, message) = cli(&db, text, &["validate"]).await;
    assert_eq!(code, 2, "{message}");
    for expected in [
        "connectors.kit.settings.lable: the plugin has no setting \"lable\"; did you mean \"label\"?",
        "connectors.kit.settings.colour: the plugin has no setting \"colour\"",
        "connectors.kit.schedules.nightly.job: the plugin has no job \"snyc\"; did you mean \"sync\"?",
        "connectors.ploomes.tables: the plugin uses table \"customer_sales\", which is not granted",
        "connectors.ploomes.auth: the plugin names auth profile \"ploomes\"",
        "connectors.ploomes.settings.page_sise: the plugin has no setting \"page_sise\"; did you mean \"page_size\"?",
    ] {
        assert!(message.contains(expected), "missing {expected:?} in:\n{message}");
    }
    assert!(message.starts_with("manifest "), "{message}");

    // A job the plugin does not declare is bad input for `run` too.
    let ok = "[connectors.kit]\nplugin = {plugin:testkit}\ntables = [\"kit_items\"]\n";
    let (code, message) = cli(&db, ok, &["run", "kit", "--job", "snyc"]).await;
    assert_eq!(
        (code, message.as_str()),
        (
            2,
            "connector kit has no job \"snyc\"; did you mean \"sync\"?"
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_the_migrations_should_have_made_is_reported_missing() {
    for db in TestDb::all("schema_missing_table").await.unwrap() {
        let text = "[connectors.kit]\nplugin = {plugin:testkit}\ntables = [\"kit_items\"]\n";
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("connectors.toml");
        std::fs::write(&path, manifest(&db, text)).unwrap();
        let (m, s) = Manifest::load(&path, &FakeEnv::default()).unwrap();
        Runner::start(m, s).await.unwrap().shutdown().await;
        sql(&db.url, "DROP TABLE kit_items").await.unwrap();
        let (m, s) = Manifest::load(&path, &FakeEnv::default()).unwrap();
        let err = Runner::start(m, s).await.err().unwrap();
        assert!(
            format!("{err:#}").contains(
                "connectors.kit.tables: the plugin uses table \"kit_items\", which does not exist after its migrations"
            ),
            "{}: {err:#}",
            db.backend
        );
    }
}
