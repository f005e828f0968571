//! The zoho connector (plugins/zoho) through the host against the fake Zoho, on every backend:
//! a full push checked against the fake's records, partial failures kept per system and retried,
//! the OAuth token shared, refreshed after a 401 and left alone in its cool-down, the 90/minute
//! pool across both APIs, the credit budget closing the CRM pool, dry runs, data centres,
//! changed packages, re-syncs by input, pacing and the schedule.

use connector_host::manifest::{AuthProfile, Manifest};
use connector_host::runner::{RunOutcome, RunRequest};
use connector_host::store::RunStatus;
use connector_tests::db::TestDb;
use connector_tests::entry;
use connector_tests::fake::{max_in_any_window, Answer, FakeServer};
use connector_tests::host::{start, FakeEnv, TestHost};
use serde_json::Value;
use sqlx::Row;
use std::time::{Duration, Instant};
use zoho_harness::fake::router;
use zoho_harness::setup::{packages, seed, FakeZoho, Package};
use zoho_harness::OPERATOR_QUERIES;

/// What varies between the manifests of these tests.
#[derive(Default)]
struct Opts {
    /// Settings added to (or replacing) the entry's, as TOML key = value pairs.
    settings: &'static str,
    /// `http` keys added or replaced.
    http: &'static str,
    /// Keep the real deployment's pauses (150 ms between calls, 700 ms between products).
    paced: bool,
}

/// The connector's own `connector.toml`, pointed at `fake` and adjusted by `o`.
fn manifest(fake: &FakeZoho, o: &Opts) -> String {
    let mut e = entry::load("zoho").unwrap();
    fake.point(&mut e, "zoho");
    let c = entry::table(&mut e, &["connectors", "zoho"]);
    c.remove("schedules");
    let settings = entry::table(c, &["settings"]);
    if !o.paced {
        settings.insert("call_pause_ms".into(), 0.into());
        settings.insert("product_pause_ms".into(), 0.into());
    }
    let extra: toml::Table = toml::from_str(&format!(
        "settings = {{ {} }}\nhttp = {{ {} }}",
        o.settings, o.http
    ))
    .unwrap();
    entry::merge(c, extra);
    toml::to_string(&e).unwrap()
}

async fn host(db: &TestDb, fake: &FakeZoho, o: &Opts) -> TestHost {
    let env: Vec<(String, String)> = fake.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    start(db, &manifest(fake, o), &FakeEnv::with(&env))
        .await
        .unwrap()
}

async fn sync(h: &TestHost) -> RunOutcome {
    h.runner.run("zoho", RunRequest::manual()).await.unwrap()
}

fn succeeded(o: &RunOutcome) {
    assert_eq!(o.status, RunStatus::Succeeded, "{o:?}");
}

fn counter(o: &RunOutcome, name: &str) -> u64 {
    o.counters
        .iter()
        .find(|(n, _)| n == name)
        .map_or(0, |(_, v)| *v)
}

/// Runs `sql` on `db` directly and returns every row with each value as text (NULL as "").
async fn rows(db: &TestDb, sql: &str) -> Vec<Vec<String>> {
    fn cells<R: Row>(r: &R) -> Vec<String>
    where
        usize: sqlx::ColumnIndex<R>,
        for<'a> Option<String>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
        for<'a> Option<i64>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
        for<'a> Option<f64>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
        for<'a> Option<serde_json::Value>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
        for<'a> Option<chrono::DateTime<chrono::Utc>>:
            sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    {
        (0..r.len())
            .map(|i| {
                if let Ok(v) = r.try_get::<Option<String>, _>(i) {
                    v.unwrap_or_default()
                } else if let Ok(v) = r.try_get::<Option<i64>, _>(i) {
                    v.map_or(String::new(), |v| v.to_string())
                } else if let Ok(v) = r.try_get::<Option<chrono::DateTime<chrono::Utc>>, _>(i) {
                    v.map_or(String::new(), |v| v.to_rfc3339())
                } else if let Ok(v) = r.try_get::<Option<serde_json::Value>, _>(i) {
                    v.map_or(String::new(), |v| v.to_string())
                } else {
                    r.try_get::<Option<f64>, _>(i)
                        .unwrap_or_else(|e| panic!("column {i} of {:?}: {e}", r.columns()))
                        .map_or(String::new(), |v| v.to_string())
                }
            })
            .collect()
    }
    if db.backend == "postgres" {
        let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
        let out = sqlx::query(sql).fetch_all(&pool).await.unwrap();
        pool.close().await;
        out.iter().map(cells).collect()
    } else {
        let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
        let out = sqlx::query(sql).fetch_all(&pool).await.unwrap();
        pool.close().await;
        out.iter().map(cells).collect()
    }
}

/// A package's standing: (crm_status, crm_error_code, billing_status, billing_error_code,
/// crm_attempts, billing_attempts).
async fn standing(db: &TestDb, sku: &str) -> Vec<String> {
    let sql = format!(
        "SELECT crm_status, crm_error_code, billing_status, billing_error_code, crm_attempts, \
         billing_attempts FROM product_integrations WHERE sku = '{sku}'"
    );
    rows(db, &sql).await.pop().unwrap_or_default()
}

/// The log rows of run `run_id`: (sku, system, attempt, status), sorted.
async fn logged(db: &TestDb, run_id: i64) -> Vec<(String, String, String, String)> {
    let sql = format!(
        "SELECT sku, system, attempt, status FROM zoho_sync_logs WHERE run_id = {run_id} \
         ORDER BY sku, system"
    );
    rows(db, &sql)
        .await
        .into_iter()
        .map(|r| (r[0].clone(), r[1].clone(), r[2].clone(), r[3].clone()))
        .collect()
}

/// The fake's calls to CRM and Billing (not the token endpoint), by path prefix.
fn api_calls(server: &FakeServer, prefix: &str) -> usize {
    server
        .requests()
        .iter()
        .filter(|r| r.path.starts_with(prefix))
        .count()
}

fn token_calls(server: &FakeServer) -> usize {
    api_calls(server, "/oauth/v2/token")
}

/// Checks that the fake holds exactly `expected` in CRM and Billing, as the connector maps them.
fn check_pushed(fake: &FakeZoho, expected: &[Package]) {
    let d = &fake.data;
    for p in expected {
        let crm = d
            .crm_product_by_code(&p.sku)
            .unwrap_or_else(|| panic!("{} is not in CRM", p.sku));
        assert_eq!(crm["Product_Name"], p.name.as_str(), "{crm}");
        assert_eq!(crm["Unit_Price"].as_f64(), Some(p.price), "{crm}");
        assert_eq!(crm["Product_Active"], p.status == "active", "{crm}");
        let plan = d
            .billing_plan(&p.sku)
            .unwrap_or_else(|| panic!("{} has no Billing plan", p.sku));
        assert_eq!(plan.name, p.name);
        assert_eq!(plan.recurring_price, p.price);
        assert_eq!(plan.product_id, fake.product_id);
        let unit = if p.interval == "yearly" {
            "years"
        } else {
            "months"
        };
        assert_eq!(plan.interval_unit, unit);
        assert_eq!(plan.status, p.status);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_pushes_every_package_to_both_systems_and_records_each_result() {
    for db in TestDb::all("zoho_full").await.unwrap() {
        let fake = FakeZoho::start().await;
        let h = host(&db, &fake, &Opts::default()).await;
        let catalogue = packages(45, 7);
        seed(&h.runner.store, &catalogue).await.unwrap();
        let o = sync(&h).await;
        succeeded(&o);
        assert_eq!(counter(&o, "crm_ok"), 45, "{o:?}");
        assert_eq!(counter(&o, "billing_ok"), 45, "{o:?}");
        // Three upserts of at most 20, then one plan call per package.
        assert_eq!(api_calls(&fake.server, "/crm/"), 3);
        assert_eq!(api_calls(&fake.server, "/billing/"), 45);
        assert_eq!(counter(&o, "calls"), 48);
        check_pushed(&fake, &catalogue);
        assert_eq!(fake.data.crm_products().len(), 45);
        assert_eq!(fake.data.billing_plans().len(), 45);
        let ids = rows(
            &db,
            "SELECT sku, crm_product_id, billing_plan_code FROM product_integrations \
             WHERE crm_status = 'ok' AND billing_status = 'ok' AND crm_error_code IS NULL",
        )
        .await;
        assert_eq!(ids.len(), 45, "{}", db.backend);
        for r in &ids {
            let crm = fake.data.crm_product_by_code(&r[0]).unwrap();
            assert_eq!(
                crm["id"].as_str(),
                Some(r[1].as_str()),
                "the CRM record id is kept"
            );
            assert_eq!(r[2], r[0], "the plan code is the SKU");
        }
        let log = logged(&db, o.run_id).await;
        assert_eq!(log.len(), 90);
        assert!(log
            .iter()
            .all(|(_, _, attempt, status)| attempt == "1" && status == "ok"));

        // The operators' queries, as the README gives them.
        assert_eq!(OPERATOR_QUERIES.len(), 3, "the README's three queries");
        let counts = rows(&db, OPERATOR_QUERIES[0]).await;
        assert_eq!(
            counts,
            vec![
                vec!["billing".to_owned(), "ok".into(), "45".into()],
                vec!["crm".to_owned(), "ok".into(), "45".into()],
            ],
            "{}",
            db.backend
        );
        assert!(rows(&db, OPERATOR_QUERIES[1]).await.is_empty());
        assert!(rows(&db, OPERATOR_QUERIES[2]).await.is_empty());

        // Nothing failed, changed or went stale: the next run has nothing to do.
        let again = sync(&h).await;
        succeeded(&again);
        assert_eq!(counter(&again, "calls"), 0, "{again:?}");
        assert!(
            again
                .summary
                .as_deref()
                .unwrap()
                .starts_with("0 of 45 packages"),
            "{again:?}"
        );
        h.runner.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_failures_are_kept_per_system_and_retried_by_the_next_run() {
    for db in TestDb::all("zoho_partial").await.unwrap() {
        let fake = FakeZoho::start().await;
        let h = host(&db, &fake, &Opts::default()).await;
        let catalogue = packages(10, 3);
        seed(&h.runner.store, &catalogue).await.unwrap();
        let d = &fake.data;
        d.fail_crm_upsert_for("PKG-0003", "INVALID_DATA", "invalid data");
        d.fail_billing_for(
            "PKG-0005",
            400,
            4,
            "Please enter a valid recurring price for the plan.",
        );
        let o = sync(&h).await;
        assert_eq!(o.status, RunStatus::Failed, "{o:?}");
        assert_eq!(o.error_kind.as_deref(), Some("upstream"));
        let message = o.error_message.as_deref().unwrap();
        assert!(
            message.contains("PKG-0003 crm INVALID_DATA: invalid data")
                && message.contains("PKG-0005 billing 4: Please enter a valid recurring price"),
            "Zoho's code and message reach the run record: {message}"
        );
        // One system failing never hides or blocks the other.
        assert_eq!(
            standing(&db, "PKG-0003").await[..4],
            ["failed", "INVALID_DATA", "ok", ""]
        );
        assert_eq!(
            standing(&db, "PKG-0005").await[..4],
            ["ok", "", "failed", "4"]
        );
        assert_eq!(standing(&db, "PKG-0001").await[..4], ["ok", "", "ok", ""]);
        let errors = rows(&db, OPERATOR_QUERIES[1]).await;
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors
            .iter()
            .any(|r| r[0] == "PKG-0003" && r[1] == "crm" && r[3] == "INVALID_DATA"));
        assert!(errors.iter().any(|r| r[0] == "PKG-0005"
            && r[1] == "billing"
            && r[4].starts_with("Please enter a valid recurring price")));
        let counts = rows(&db, OPERATOR_QUERIES[0]).await;
        assert!(
            counts.contains(&vec!["crm".into(), "failed".into(), "1".into()]),
            "{counts:?}"
        );
        assert!(
            counts.contains(&vec!["billing".into(), "ok".into(), "9".into()]),
            "{counts:?}"
        );

        // Zoho accepts them now: the next run pushes exactly the two failures, each to its
        // own system.
        d.clear_crm_upsert_failures();
        d.clear_billing_failures();
        let crm_before = api_calls(&fake.server, "/crm/");
        let billing_before = api_calls(&fake.server, "/billing/");
        let retry = sync(&h).await;
        succeeded(&retry);
        assert_eq!(
            logged(&db, retry.run_id).await,
            vec![
                ("PKG-0003".into(), "crm".into(), "2".into(), "ok".into()),
                ("PKG-0005".into(), "billing".into(), "2".into(), "ok".into()),
            ]
        );
        assert_eq!(api_calls(&fake.server, "/crm/") - crm_before, 1);
        assert_eq!(api_calls(&fake.server, "/billing/") - billing_before, 1);
        check_pushed(&fake, &catalogue);
        assert_eq!(
            standing(&db, "PKG-0003").await,
            ["ok", "", "ok", "", "0", "0"]
        );
        h.runner.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_runs_share_one_token_and_a_401_refreshes_it_once() {
    for db in TestDb::all("zoho_token").await.unwrap() {
        let fake = FakeZoho::start().await;
        let h = host(&db, &fake, &Opts::default()).await;
        seed(&h.runner.store, &packages(4, 1)).await.unwrap();
        let (a, b) = tokio::join!(sync(&h), sync(&h));
        succeeded(&a);
        succeeded(&b);
        assert_eq!(
            fake.data.tokens_issued(),
            1,
            "{}: one refresh for both runs",
            db.backend
        );
        assert_eq!(token_calls(&fake.server), 1);

        // Zoho forgets the token: the next call is answered 401 INVALID_TOKEN, the host
        // refreshes once and sends it again.
        fake.data.expire_all_tokens();
        let o = h
            .runner
            .run(
                "zoho",
                RunRequest {
                    input: Some(r#"{"skus": ["PKG-0001"]}"#.into()),
                    ..RunRequest::manual()
                },
            )
            .await
            .unwrap();
        succeeded(&o);
        assert_eq!(fake.data.tokens_issued(), 2);
        let refused = fake
            .server
            .requests()
            .iter()
            .filter(|r| r.path.starts_with("/crm/") && matches!(r.answer, Answer::Status(401)))
            .count();
        assert_eq!(refused, 1, "one 401, then the retry with the new token");
        h.runner.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_refresh_token_is_left_alone_for_the_cooldown() {
    for db in TestDb::all("zoho_cooldown").await.unwrap() {
        let fake = FakeZoho::start().await;
        // Zoho's real rule is 10 tokens in 10 minutes; one keeps the test short.
        fake.data.set_token_throttle(1, Duration::from_secs(600));
        let h = host(&db, &fake, &Opts::default()).await;
        seed(&h.runner.store, &packages(2, 1)).await.unwrap();
        succeeded(&sync(&h).await);
        assert_eq!(fake.data.tokens_issued(), 1);

        fake.data.expire_all_tokens();
        let resync = || RunRequest {
            input: Some(r#"{"skus": ["PKG-0002"]}"#.into()),
            ..RunRequest::manual()
        };
        let o = h.runner.run("zoho", resync()).await.unwrap();
        assert_eq!(o.status, RunStatus::Failed, "{o:?}");
        assert_eq!(o.error_kind.as_deref(), Some("rate-limited"), "{o:?}");
        assert_eq!(token_calls(&fake.server), 2, "the refresh Zoho refused");
        // Within the cool-down: no refresh is even tried.
        let o = h.runner.run("zoho", resync()).await.unwrap();
        assert_eq!(o.error_kind.as_deref(), Some("rate-limited"), "{o:?}");
        assert_eq!(
            token_calls(&fake.server),
            2,
            "{}: the cool-down holds",
            db.backend
        );
        // A refused token stops both systems; each refusal is counted on the package, for the
        // operators' third query.
        let hits = rows(&db, OPERATOR_QUERIES[2]).await;
        assert_eq!(hits.len(), 1, "{hits:?}");
        assert_eq!(hits[0][0], "PKG-0002");
        let list: Vec<Value> = serde_json::from_str(&hits[0][2]).unwrap();
        assert_eq!(list.len(), 2, "one per run: {list:?}");
        assert!(
            list.iter()
                .all(|h| h["pool"].as_str().unwrap().contains("cooling down")),
            "{list:?}"
        );
        assert_eq!(
            standing(&db, "PKG-0002").await[2],
            "ok",
            "Billing was not tried: left as it was"
        );
        h.runner.shutdown().await;
    }
}

/// 100 packages need 105 calls (5 upserts, 100 plans): the shared 90/minute pool holds the last
/// 15 until the first minute has passed, and no 60 seconds of the fake's log see more than 90.
/// Both backends run side by side, each with its own fake.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crm_and_billing_together_stay_within_90_calls_in_any_60_seconds() {
    async fn one(db: TestDb) {
        let fake = FakeZoho::start().await;
        let h = host(&db, &fake, &Opts::default()).await;
        seed(&h.runner.store, &packages(100, 11)).await.unwrap();
        let started = Instant::now();
        let o = sync(&h).await;
        let took = started.elapsed();
        succeeded(&o);
        let times: Vec<Instant> = fake
            .server
            .requests()
            .iter()
            .filter(|r| r.path.starts_with("/crm/") || r.path.starts_with("/billing/"))
            .map(|r| r.received_at)
            .collect();
        assert_eq!(times.len(), 105);
        let busiest = max_in_any_window(&times, Duration::from_secs(60));
        assert!(busiest <= 90, "{}: {busiest} calls within 60 s", db.backend);
        assert!(took >= Duration::from_secs(60), "{took:?}");
        println!(
            "{}: 100 packages, 105 calls ({:.2} per package) in {:.1} s; busiest 60 s: {busiest} calls",
            db.backend,
            105.0 / 100.0,
            took.as_secs_f64()
        );
        h.runner.shutdown().await;
    }
    let dbs = TestDb::all("zoho_quota").await.unwrap();
    futures::future::join_all(dbs.into_iter().map(one)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spent_credit_budget_closes_the_crm_pool_until_zoho_says_and_a_later_run_resumes() {
    for db in TestDb::all("zoho_credits").await.unwrap() {
        let fake = FakeZoho::start().await;
        let d = &fake.data;
        // Two credits, both spent 24 h minus 4 s ago: the next CRM call is refused with
        // `Retry-After: 4`, longer than the test's max_wait.
        let t0 = chrono::Utc::now();
        d.set_now(Some(t0));
        d.set_credit_limit(Some(2));
        let token = d.grant_access_token();
        let client = reqwest::Client::new();
        for _ in 0..2 {
            let r = client
                .get(fake.server.url("/crm/v8/Products?fields=Product_Name"))
                .header("authorization", format!("Zoho-oauthtoken {token}"))
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success(), "{}", r.status());
        }
        d.set_now(Some(
            t0 + chrono::Duration::hours(24) - chrono::Duration::seconds(4),
        ));
        let opts = Opts {
            settings: "batch_size = 3",
            http: "max_wait = \"1s\"",
            ..Opts::default()
        };
        let h = host(&db, &fake, &opts).await;
        seed(&h.runner.store, &packages(6, 5)).await.unwrap();
        let crm_before = api_calls(&fake.server, "/crm/");
        let o = sync(&h).await;
        assert_eq!(o.status, RunStatus::Failed, "{o:?}");
        assert_eq!(o.error_kind.as_deref(), Some("rate-limited"), "{o:?}");
        assert!(
            o.error_message.as_deref().unwrap().contains("zoho_crm"),
            "{o:?}"
        );
        assert_eq!(
            api_calls(&fake.server, "/crm/") - crm_before,
            1,
            "one refused upsert, then no CRM call"
        );
        // Billing went on: every plan was pushed.
        assert_eq!(d.billing_plans().len(), 6);
        let crm = rows(
            &db,
            "SELECT sku, crm_status, crm_error_code FROM product_integrations ORDER BY sku",
        )
        .await;
        assert_eq!(crm.len(), 6);
        for r in &crm[..3] {
            assert_eq!(
                r[1..],
                ["failed", "RATE_LIMITED"],
                "{}: the batch refused",
                db.backend
            );
        }
        for r in &crm[3..] {
            assert_eq!(
                r[1..],
                ["pending", ""],
                "{}: the batch never tried",
                db.backend
            );
        }

        // The pool is closed: a run now refuses CRM without calling Zoho.
        let o = sync(&h).await;
        assert_eq!(o.error_kind.as_deref(), Some("rate-limited"), "{o:?}");
        assert_eq!(api_calls(&fake.server, "/crm/") - crm_before, 1);

        // Once the time Zoho gave has passed, the credits are back and a run resumes.
        tokio::time::sleep(Duration::from_secs(5)).await;
        d.set_now(Some(
            t0 + chrono::Duration::hours(24) + chrono::Duration::seconds(2),
        ));
        let o = sync(&h).await;
        succeeded(&o);
        let ok = rows(
            &db,
            "SELECT sku FROM product_integrations WHERE crm_status = 'ok'",
        )
        .await;
        assert_eq!(ok.len(), 6, "{}", db.backend);
        assert_eq!(d.crm_products().len(), 6);
        h.runner.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_reports_what_it_would_push_and_changes_nothing_anywhere() {
    for db in TestDb::all("zoho_dry_run").await.unwrap() {
        let fake = FakeZoho::start().await;
        let h = host(&db, &fake, &Opts::default()).await;
        let mut catalogue = packages(5, 2);
        seed(&h.runner.store, &catalogue).await.unwrap();
        succeeded(&sync(&h).await);
        // Two new packages and a changed price for the dry run to find.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        catalogue[1].price = 123.45;
        catalogue.extend(packages(7, 2).into_iter().skip(5));
        seed(&h.runner.store, &catalogue[1..2]).await.unwrap();
        seed(&h.runner.store, &catalogue[5..]).await.unwrap();

        let skip = connector_tests::db::RUN_RECORDS;
        let before = connector_tests::db::dump(&db.url, skip).await.unwrap();
        let requests = fake.server.request_count();
        let dry = RunRequest {
            dry_run: true,
            ..RunRequest::manual()
        };
        let o = h.runner.run("zoho", dry).await.unwrap();
        succeeded(&o);
        let summary = o.summary.as_deref().unwrap();
        assert!(
            summary.contains("would push 3 of 7 packages")
                && summary.contains("CRM 3: [PKG-0006, PKG-0007, PKG-0002]"),
            "{summary}"
        );
        assert_eq!((counter(&o, "crm"), counter(&o, "billing")), (3, 3));
        assert_eq!(
            fake.server.request_count(),
            requests,
            "no call to Zoho at all"
        );
        let after = connector_tests::db::dump(&db.url, skip).await.unwrap();
        assert_eq!(
            before, after,
            "{}: the dry run changed the database",
            db.backend
        );
        let pushed = fake.data.crm_product_by_code("PKG-0002").unwrap();
        assert_eq!(
            pushed["Unit_Price"].as_f64(),
            Some(packages(5, 2)[1].price),
            "CRM still has the old price"
        );

        // The real run after it pushes what it reported.
        let o = sync(&h).await;
        succeeded(&o);
        assert_eq!(counter(&o, "crm_ok"), 3);
        check_pushed(&fake, &catalogue);
        h.runner.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_package_changed_in_the_source_is_pushed_again() {
    for db in TestDb::all("zoho_changed").await.unwrap() {
        let fake = FakeZoho::start().await;
        let h = host(&db, &fake, &Opts::default()).await;
        let mut catalogue = packages(5, 4);
        seed(&h.runner.store, &catalogue).await.unwrap();
        succeeded(&sync(&h).await);
        tokio::time::sleep(Duration::from_millis(1100)).await;
        catalogue[1].price = 99.99;
        catalogue[1].status = "inactive".into();
        seed(&h.runner.store, &catalogue[1..2]).await.unwrap();
        let o = sync(&h).await;
        succeeded(&o);
        assert_eq!(
            logged(&db, o.run_id).await,
            vec![
                ("PKG-0002".into(), "billing".into(), "1".into(), "ok".into()),
                ("PKG-0002".into(), "crm".into(), "1".into(), "ok".into()),
            ]
        );
        let actions = rows(
            &db,
            &format!(
                "SELECT system, action FROM zoho_sync_logs WHERE run_id = {} ORDER BY system",
                o.run_id
            ),
        )
        .await;
        assert_eq!(
            actions,
            vec![
                vec!["billing".to_owned(), "update".into()],
                vec!["crm".to_owned(), "update".into()]
            ]
        );
        check_pushed(&fake, &catalogue);
        h.runner.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manual_run_re_syncs_the_packages_its_input_names() {
    for db in TestDb::all("zoho_input").await.unwrap() {
        let fake = FakeZoho::start().await;
        let h = host(&db, &fake, &Opts::default()).await;
        seed(&h.runner.store, &packages(5, 6)).await.unwrap();
        succeeded(&sync(&h).await);
        let with = |input: &str| RunRequest {
            input: Some(input.into()),
            ..RunRequest::manual()
        };
        let o = h
            .runner
            .run("zoho", with(r#"{"skus": ["PKG-0004", "PKG-0001"]}"#))
            .await
            .unwrap();
        succeeded(&o);
        let log = logged(&db, o.run_id).await;
        let skus: Vec<&str> = log.iter().map(|l| l.0.as_str()).collect();
        assert_eq!(
            skus,
            ["PKG-0001", "PKG-0001", "PKG-0004", "PKG-0004"],
            "{log:?}"
        );

        let o = h
            .runner
            .run("zoho", with(r#"{"skus": ["PKG-0001", "NOPE-1"]}"#))
            .await
            .unwrap();
        assert_eq!(o.status, RunStatus::Failed, "{o:?}");
        assert_eq!(o.error_kind.as_deref(), Some("invalid"));
        assert!(
            o.error_message.as_deref().unwrap().contains("\"NOPE-1\""),
            "{o:?}"
        );
        let o = h
            .runner
            .run("zoho", with(r#"{"sku": "PKG-0001"}"#))
            .await
            .unwrap();
        assert_eq!(o.error_kind.as_deref(), Some("invalid"), "{o:?}");
        h.runner.shutdown().await;
    }
}

/// The data centre picks the accounts and API hosts; the token's `api_domain` moves calls to
/// the account's own data centre.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_data_centre_picks_the_hosts_and_the_tokens_api_domain_wins() {
    let centres = [
        (
            "us",
            "https://accounts.zoho.com",
            "https://www.zohoapis.com",
        ),
        ("eu", "https://accounts.zoho.eu", "https://www.zohoapis.eu"),
        ("in", "https://accounts.zoho.in", "https://www.zohoapis.in"),
        (
            "au",
            "https://accounts.zoho.com.au",
            "https://www.zohoapis.com.au",
        ),
        (
            "cn",
            "https://accounts.zoho.com.cn",
            "https://www.zohoapis.com.cn",
        ),
        ("jp", "https://accounts.zoho.jp", "https://www.zohoapis.jp"),
        (
            "ca",
            "https://accounts.zohocloud.ca",
            "https://www.zohoapis.ca",
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    let env = FakeEnv::with(&[
        ("ZOHO_CLIENT_ID", "id"),
        ("ZOHO_CLIENT_SECRET", "secret"),
        ("ZOHO_REFRESH_TOKEN", "refresh"),
    ]);
    for (dc, accounts, api) in centres {
        let mut e = entry::load("zoho").unwrap();
        entry::table(&mut e, &["connectors", "zoho", "auth", "zoho", "oauth2"])
            .insert("data_center".into(), dc.into());
        let text =
            connector_tests::host::manifest_for("sqlite://zoho.db", &toml::to_string(&e).unwrap());
        let (m, _) = Manifest::parse(&text, &dir.path().join("connectors.toml"), &env).unwrap();
        match &m.connectors["zoho"].auth["zoho"] {
            AuthProfile::OAuth2 {
                token_url,
                api_url,
                scheme,
                ..
            } => {
                assert_eq!(token_url, &format!("{accounts}/oauth/v2/token"), "{dc}");
                assert_eq!(api_url.as_deref(), Some(api), "{dc}");
                assert_eq!(scheme, "Zoho-oauthtoken");
            }
            other => panic!("{other:?}"),
        }
    }

    // End to end: the token names another host (the account's data centre); calls go there.
    for db in TestDb::all("zoho_dc").await.unwrap() {
        let fake = FakeZoho::start().await;
        let account_dc = FakeServer::start(router(fake.data.clone())).await;
        fake.data.set_api_domain(&account_dc.base_url());
        let mut e = entry::load("zoho").unwrap();
        fake.point(&mut e, "zoho");
        let c = entry::table(&mut e, &["connectors", "zoho"]);
        c.remove("schedules");
        entry::table(c, &["http"]).insert(
            "allow".into(),
            toml::Value::Array(vec![
                fake.server.base_url().into(),
                account_dc.base_url().into(),
            ]),
        );
        let env = fake.env();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let h = start(&db, &toml::to_string(&e).unwrap(), &FakeEnv::with(&env))
            .await
            .unwrap();
        seed(&h.runner.store, &packages(3, 9)).await.unwrap();
        succeeded(&sync(&h).await);
        assert_eq!(token_calls(&fake.server), 1);
        assert_eq!(
            api_calls(&fake.server, "/crm/") + api_calls(&fake.server, "/billing/"),
            0
        );
        assert_eq!(api_calls(&account_dc, "/crm/"), 1);
        assert_eq!(api_calls(&account_dc, "/billing/"), 3);
        h.runner.shutdown().await;
    }
}

/// The real deployment's pacing: 150 ms between calls, 700 ms after each product.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_and_products_are_paced_as_configured() {
    let db = TestDb::sqlite().unwrap();
    let fake = FakeZoho::start().await;
    let h = host(
        &db,
        &fake,
        &Opts {
            paced: true,
            ..Opts::default()
        },
    )
    .await;
    seed(&h.runner.store, &packages(3, 8)).await.unwrap();
    succeeded(&sync(&h).await);
    let calls: Vec<Instant> = fake
        .server
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/crm/") || r.path.starts_with("/billing/"))
        .map(|r| r.received_at)
        .collect();
    assert_eq!(calls.len(), 4, "one upsert, three plans");
    let gaps: Vec<Duration> = calls.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(gaps[0] >= Duration::from_millis(150), "{gaps:?}");
    for gap in &gaps[1..] {
        assert!(*gap >= Duration::from_millis(700), "{gaps:?}");
    }
    h.runner.shutdown().await;
}

#[test]
fn the_schedule_fires_daily_at_two_in_johannesburg() {
    let e = entry::load("zoho").unwrap();
    let env = FakeEnv::with(&[
        ("ZOHO_CLIENT_ID", "id"),
        ("ZOHO_CLIENT_SECRET", "secret"),
        ("ZOHO_REFRESH_TOKEN", "refresh"),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let text =
        connector_tests::host::manifest_for("sqlite://zoho.db", &toml::to_string(&e).unwrap());
    let (m, _) = Manifest::parse(&text, &dir.path().join("connectors.toml"), &env).unwrap();
    let schedule = &m.connectors["zoho"].schedules[0];
    assert_eq!(schedule.job, "sync");
    let noon: chrono::DateTime<chrono::Utc> = "2026-06-01T12:00:00Z".parse().unwrap();
    let fires = schedule.cron.upcoming(noon, 2);
    assert_eq!(
        fires.iter().map(|f| f.to_rfc3339()).collect::<Vec<_>>(),
        ["2026-06-02T00:00:00+00:00", "2026-06-03T00:00:00+00:00"],
        "02:00 SAST is 00:00 UTC (the old Vercel cron ran at 02:00 UTC)"
    );
}
