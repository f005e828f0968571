//! Connector-owned schema on both backends: a database created before connectors carried their
//! own schema upgrades in place with its data intact; an applied migration that was edited is
//! refused, naming the plugin and the version; and what a plugin declares is checked against the
//! manifest and the database at every start, every problem at once.

use clap::Parser;
use connector_host::cli::{execute, Cli};
use connector_host::manifest::Manifest;
use connector_host::runner::{RunRequest, Runner};
use connector_host::store::RunStatus;
use connector_tests::db::{execute as sql, scalar, TestDb};
use connector_tests::fake::ploomes::{self, Generate, PloomesData};
use connector_tests::fake::FakeServer;
use connector_tests::host::{manifest, start, FakeEnv};
use std::path::Path;

/// Builds the host's schema as it was before connectors carried their own: host migrations
/// 0001 to 0005, of which 0002 and 0003 created the connectors' tables.
async fn old_database(db: &TestDb) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = tempfile::tempdir().unwrap();
    let backend = db.backend;
    for (from, name) in [
        (root.join("migrations"), "0001_host.sql"),
        (
            root.join("tests/fixtures/host-0.1"),
            "0002_sample_connectors.sql",
        ),
        (root.join("tests/fixtures/host-0.1"), "0003_ploomes.sql"),
        (root.join("migrations"), "0004_queue.sql"),
        (root.join("migrations"), "0005_scheduler.sql"),
    ] {
        std::fs::copy(from.join(backend).join(name), dir.path().join(name)).unwrap();
    }
    let migrator = sqlx::migrate::Migrator::new(dir.path()).await.unwrap();
    if backend == "sqlite" {
        let opts: sqlx::sqlite::SqliteConnectOptions = db.url.parse().unwrap();
        let pool = sqlx::SqlitePool::connect_with(opts.create_if_missing(true))
            .await
            .unwrap();
        migrator.run(&pool).await.unwrap();
        pool.close().await;
    } else {
        let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
        migrator.run(&pool).await.unwrap();
        pool.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_of_the_previous_layout_upgrades_in_place_with_its_data() {
    for db in TestDb::all("schema_upgrade").await.unwrap() {
        old_database(&db).await;
        // Rows the old version wrote: customer 900001 with two won deals and a lost one,
        // customer 900002 with one open deal; customer_sales under the old definitions.
        let ts = "'2025-06-01T10:00:00Z'";
        for (id, customer, amount, status) in [
            (800001, 900001, "100.0", "won"),
            (800002, 900001, "200.0", "won"),
            (800003, 900001, "50.0", "lost"),
            (800004, 900002, "70.0", "open"),
        ] {
            sql(
                &db.url,
                &format!(
                    "INSERT INTO sales (id, customer_id, title, amount, status, last_update_date, \
                     synced_at) VALUES ({id}, {customer}, 'old', {amount}, '{status}', {ts}, {ts})"
                ),
            )
            .await
            .unwrap();
        }
        for (customer, total_sales, won, average) in
            [(900001, "350.0", 2, "150.0"), (900002, "70.0", 0, "0")]
        {
            sql(
                &db.url,
                &format!(
                    "INSERT INTO customer_sales (customer_id, total_sales, total_deals, won_deals, \
                     total_revenue, average_deal_value, last_sync_at, updated_at) \
                     VALUES ({customer}, {total_sales}, 3, {won}, 300.0, {average}, {ts}, {ts})"
                ),
            )
            .await
            .unwrap();
        }
        let sales_before = connector_tests::db::dump(&db.url, &[]).await.unwrap()["sales"].clone();

        let data = PloomesData::generate(&Generate::small(), "k-0123456789abcdef");
        let server = FakeServer::start(ploomes::router(data.clone())).await;
        let text = format!(
            "[connectors.ploomes]\nplugin = {{plugin:ploomes}}\ntables = [\"sales\", \"customer_sales\"]\n\
             http = {{ allow = [{base:?}] }}\n\
             auth.ploomes = {{ header = \"User-Key\", secret = \"PLOOMES_API_KEY\" }}\n\
             settings = {{ base_url = {base:?} }}\n",
            base = server.base_url()
        );
        let env = FakeEnv::with(&[("PLOOMES_API_KEY", "k-0123456789abcdef")]);
        let host = start(&db, &text, &env).await.unwrap();
        let applied = scalar(
            &db.url,
            "SELECT count(*) FROM plugin_migrations WHERE plugin = 'ploomes'",
        )
        .await
        .unwrap();
        assert_eq!(applied, 2, "{}", db.backend);
        let after = connector_tests::db::dump(&db.url, &[]).await.unwrap();
        assert_eq!(
            after["sales"], sales_before,
            "{}: sales untouched",
            db.backend
        );
        let total = |c: i64| {
            format!(
                "SELECT CAST(total_sales AS BIGINT) FROM customer_sales WHERE customer_id = {c}"
            )
        };
        assert_eq!(
            scalar(&db.url, &total(900001)).await.unwrap(),
            2,
            "{}",
            db.backend
        );
        assert_eq!(scalar(&db.url, &total(900002)).await.unwrap(), 0);
        let averages = scalar(
            &db.url,
            "SELECT count(*) FROM customer_sales WHERE (customer_id = 900001 \
             AND average_deal_value = 150) OR (customer_id = 900002 AND average_deal_value IS NULL)",
        )
        .await
        .unwrap();
        assert_eq!(
            averages, 2,
            "{}: averages under the replaced definition",
            db.backend
        );

        // The upgraded database syncs, first in full, then incrementally.
        let first = host
            .runner
            .run("ploomes", RunRequest::manual())
            .await
            .unwrap();
        assert_eq!(first.status, RunStatus::Succeeded, "{first:?}");
        let deals = scalar(&db.url, "SELECT count(*) FROM sales").await.unwrap();
        assert_eq!(deals as usize, data.deals().len() + 4, "{}", db.backend);
        server.clear();
        let second = host
            .runner
            .run("ploomes", RunRequest::manual())
            .await
            .unwrap();
        assert_eq!(second.status, RunStatus::Succeeded, "{second:?}");
        let deal_pages = server
            .requests()
            .iter()
            .filter(|r| r.path == "/Deals")
            .count();
        assert_eq!(
            deal_pages, 1,
            "{}: the second run was incremental",
            db.backend
        );
        host.runner.shutdown().await;
    }
}

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
