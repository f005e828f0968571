//! A database created by the previous version — connector tables in the host's migrations 0002
//! and 0003 — upgrades in place on both backends: the plugins' first migrations adopt the tables,
//! ploomes' second one gives `total_sales` and `average_deal_value` their replaced meanings, the
//! data stays, and syncs continue (in full, then incrementally).

use connector_host::runner::RunRequest;
use connector_host::store::RunStatus;
use connector_tests::db::{execute as sql, scalar, TestDb};
use connector_tests::host::{start, FakeEnv};
use fake_upstreams::FakeServer;
use ploomes_harness::fake::{self as ploomes, Generate, PloomesData};
use std::path::Path;

/// Builds the host's schema as it was before connectors carried their own: host migrations
/// 0001 to 0005, of which 0002 and 0003 created the connectors' tables.
async fn old_database(db: &TestDb) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../..");
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
