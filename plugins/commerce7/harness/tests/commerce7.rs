//! The commerce7 connector (plugins/commerce7) through the host against the fake Commerce7, on
//! every backend: expiry end to end (and as a dry run), webhooks over real HTTP into jobs that
//! call Commerce7, redelivery, a missed webhook made good by `reconcile` exactly once, back-off
//! and dead letter on a driven clock, permanent versus transient errors, wrong credentials,
//! unauthenticated webhooks, and the schedules.

use chrono::{Duration as Span, Utc};
use commerce7_harness::fake::{order_webhook_body, post_webhook, webhook_body, MembershipStatus};
use commerce7_harness::setup::{FakeCommerce7, HOOK_PASSWORD, HOOK_USER, TENANT};
use connector_host::manifest::Manifest;
use connector_host::runner::{JobStatus, RunOutcome, RunRequest, Runner, Webhook, WebhookOutcome};
use connector_host::store::{JobFilter, RunStatus};
use connector_tests::daemon::start_with;
use connector_tests::db::TestDb;
use connector_tests::entry;
use connector_tests::host::{start, FakeEnv, TestHost};
use serde_json::Value;
use std::time::{Duration, Instant};

/// The connector's own `connector.toml`, pointed at `fake`, with extra settings (TOML pairs).
fn manifest(fake: &FakeCommerce7, settings: &str) -> String {
    let mut e = entry::load("commerce7").unwrap();
    fake.point(&mut e, "commerce7");
    let c = entry::table(&mut e, &["connectors", "commerce7"]);
    c.remove("schedules");
    let extra: toml::Table = toml::from_str(&format!("settings = {{ {settings} }}")).unwrap();
    entry::merge(c, extra);
    toml::to_string(&e).unwrap()
}

fn env_of(fake: &FakeCommerce7, overrides: &[(&str, &str)]) -> FakeEnv {
    let mut env = fake.env();
    for (k, v) in overrides {
        env.retain(|(name, _)| name != k);
        env.push(((*k).to_owned(), (*v).to_owned()));
    }
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    FakeEnv::with(&env)
}

async fn host(db: &TestDb, fake: &FakeCommerce7, settings: &str) -> TestHost {
    start(db, &manifest(fake, settings), &env_of(fake, &[]))
        .await
        .unwrap()
}

async fn job(h: &Runner, name: &str) -> RunOutcome {
    let req = RunRequest {
        job: Some(name.into()),
        ..RunRequest::manual()
    };
    h.run("commerce7", req).await.unwrap()
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

/// An order webhook delivered through the runner (the HTTP path is tested on its own).
async fn deliver(r: &Runner, body: &Value) -> (u16, Value) {
    let hook = Webhook {
        method: "POST".into(),
        path: "/webhooks/commerce7".into(),
        query: String::new(),
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.to_string().into_bytes(),
    };
    match r.webhook("commerce7", hook).await.unwrap() {
        WebhookOutcome::Reply { status, body, .. } => {
            (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
        }
        other => panic!("{other:?}"),
    }
}

/// Jobs of the connector, as `queue list` shows them: (kind, status, attempts, last_error).
async fn jobs(r: &Runner) -> Vec<(String, String, i64, Option<String>)> {
    let filter = JobFilter {
        connector: Some("commerce7".into()),
        ..JobFilter::default()
    };
    let mut list = r.store.list_jobs(&filter, 1000).await.unwrap();
    list.sort_by_key(|j| j.id);
    list.into_iter()
        .map(|j| (j.kind, j.status.to_string(), j.attempts, j.last_error))
        .collect()
}

/// Runs `sql` on `db` and returns the first column of each row as text.
async fn column(db: &TestDb, sql: &str) -> Vec<String> {
    use sqlx::Row;
    if db.backend == "postgres" {
        let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
        let rows = sqlx::query(sql).fetch_all(&pool).await.unwrap();
        pool.close().await;
        rows.iter()
            .map(|r| {
                r.try_get::<String, _>(0)
                    .unwrap_or_else(|_| r.get::<i64, _>(0).to_string())
            })
            .collect()
    } else {
        let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
        let rows = sqlx::query(sql).fetch_all(&pool).await.unwrap();
        pool.close().await;
        rows.iter()
            .map(|r| {
                r.try_get::<String, _>(0)
                    .unwrap_or_else(|_| r.get::<i64, _>(0).to_string())
            })
            .collect()
    }
}

/// The active memberships of `customer` in `club`, at the fake.
fn active(fake: &FakeCommerce7, customer: &str, club: &str) -> usize {
    fake.data
        .memberships()
        .iter()
        .filter(|m| {
            m.customer_id == customer && m.club_id == club && m.status == MembershipStatus::Active
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paid_order_enrolls_its_customer_and_a_redelivery_enqueues_nothing() {
    for db in TestDb::all("c7_orders").await.unwrap() {
        let fake = FakeCommerce7::start(20).await;
        let h = host(&db, &fake, "").await;
        let r = &h.runner;
        let customers = fake.data.customers();
        let (a, b, c) = (&customers[0].id, &customers[1].id, &customers[2].id);
        let silver = fake.data.add_paid_order(a, 25_000);
        let gold = fake.data.add_paid_order(b, 60_000);
        let small = fake.data.add_paid_order(c, 5_000);
        for order in [&silver, &gold, &small] {
            let (status, _) = deliver(r, &order_webhook_body(order, "Create", TENANT)).await;
            assert_eq!(status, 200);
        }
        // Commerce7 redelivers, and sends an Update of the same paid order.
        let (status, answer) = deliver(r, &order_webhook_body(&silver, "Create", TENANT)).await;
        assert_eq!(
            (status, &answer["seen"]),
            (200, &Value::Bool(true)),
            "{answer}"
        );
        deliver(r, &order_webhook_body(&gold, "Update", TENANT)).await;
        let queued = jobs(r).await;
        assert_eq!(
            queued.len(),
            2,
            "{}: one job per qualifying order: {queued:?}",
            db.backend
        );
        assert!(queued
            .iter()
            .all(|(kind, status, ..)| kind == "add_membership" && status == "pending"));

        let done = r.drain_queue("w", 10).await.unwrap();
        assert!(
            done.iter().all(|o| o.status == JobStatus::Completed),
            "{done:?}"
        );
        assert_eq!(active(&fake, a, &fake.silver), 1);
        assert_eq!(active(&fake, b, &fake.gold), 1);
        assert_eq!(
            fake.data
                .memberships()
                .iter()
                .filter(|m| &m.customer_id == c)
                .count(),
            0
        );
        let enrollments = column(
            &db,
            "SELECT tier || ':' || status || ':' || CASE WHEN membership_id IS NULL THEN 'none' ELSE 'set' END \
             FROM tier_enrollments ORDER BY tier",
        )
        .await;
        assert_eq!(
            enrollments,
            ["gold:active:set", "silver:active:set"],
            "{}",
            db.backend
        );
        let flags = column(
            &db,
            &format!("SELECT tier FROM customer_flags WHERE customer_id = '{a}' AND is_member"),
        )
        .await;
        assert_eq!(flags, ["silver"]);

        // A bigger order moves the customer up: the gold membership is created, silver cancelled.
        let up = fake.data.add_paid_order(a, 55_000);
        let (_, answer) = deliver(r, &order_webhook_body(&up, "Create", TENANT)).await;
        assert_eq!(answer["action"], "upgrade_membership", "{answer}");
        let done = r.drain_queue("w", 10).await.unwrap();
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].status, JobStatus::Completed, "{done:?}");
        assert_eq!(active(&fake, a, &fake.gold), 1);
        assert_eq!(active(&fake, a, &fake.silver), 0);
        let silver_membership = fake
            .data
            .memberships()
            .into_iter()
            .find(|m| &m.customer_id == a && m.club_id == fake.silver)
            .unwrap();
        assert_eq!(
            silver_membership.cancellation_reason.as_deref(),
            Some("Upgraded to gold")
        );
        h.runner.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_events_are_acknowledged_and_ignored() {
    for db in TestDb::all("c7_ignored").await.unwrap() {
        let fake = FakeCommerce7::start(5).await;
        let h = host(&db, &fake, "").await;
        let r = &h.runner;
        let customer = fake.data.customers()[0].id.clone();
        let customer_json = fake.data.customer_json(&customer).unwrap();
        let order = fake.data.add_paid_order(&customer, 90_000);
        let cases = [
            webhook_body("Customer", "Update", customer_json, TENANT),
            order_webhook_body(&order, "Delete", TENANT),
            order_webhook_body(&order, "Create", "another-winery"),
        ];
        for body in &cases {
            let (status, answer) = deliver(r, body).await;
            assert_eq!(status, 200, "{answer}");
            assert!(answer["ignored"].is_string(), "{answer}");
        }
        let mut unpaid = order.clone();
        unpaid.payment_status = commerce7_harness::fake::PaymentStatus::Authorized;
        let (_, answer) = deliver(r, &order_webhook_body(&unpaid, "Update", TENANT)).await;
        assert!(answer["ignored"].is_string(), "{answer}");
        // Not Commerce7's envelope at all: refused, so the sender sees it.
        let (status, _) = deliver(r, &serde_json::json!({"hello": "world"})).await;
        assert_eq!(status, 400);
        assert!(jobs(r).await.is_empty(), "{}", db.backend);
        assert!(column(&db, "SELECT order_id FROM order_actions")
            .await
            .is_empty());
        h.runner.shutdown().await;
    }
}

/// Webhooks over real HTTP through `serve`: Basic auth checked by the host (401 and nothing
/// enqueued without it), a fast answer, and the job's Commerce7 call made by a queue worker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_over_http_reaches_commerce7_through_a_queue_worker() {
    for db in TestDb::all("c7_http").await.unwrap() {
        let fake = FakeCommerce7::start(5).await;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("connectors.toml");
        let text = format!(
            "[runtime]\nqueue_workers = 1\n\n[server]\ngrace = \"2s\"\nwatch = false\n\n{}",
            manifest(&fake, "")
        );
        std::fs::write(&path, connector_tests::host::manifest(&db, &text)).unwrap();
        let env = env_of(&fake, &[]);
        let (m, secrets) = Manifest::load(&path, &env).unwrap();
        let runner = Runner::start(m, secrets).await.unwrap();
        let d = start_with(
            runner,
            path,
            dir,
            &db,
            &env,
            std::sync::Arc::new(connector_host::daemon::SystemClock),
        )
        .await
        .unwrap();
        let (addr, serving) = d.serve().await;
        let url = format!("http://{addr}/webhooks/commerce7");
        let customer = fake.data.customers()[0].id.clone();
        let order = fake.data.add_paid_order(&customer, 70_000);
        let body = order_webhook_body(&order, "Create", TENANT);

        for auth in [None, Some((HOOK_USER, "not-the-password-at-all"))] {
            let (status, _) = post_webhook(&url, auth, &body).await.unwrap();
            assert_eq!(status, 401, "{}", db.backend);
        }
        assert!(
            jobs(&d.daemon.runner()).await.is_empty(),
            "a refused webhook enqueues nothing"
        );

        let sent = Instant::now();
        let (status, answer) = post_webhook(&url, Some((HOOK_USER, HOOK_PASSWORD)), &body)
            .await
            .unwrap();
        assert_eq!(status, 200, "{answer}");
        assert!(
            sent.elapsed() < Duration::from_secs(2),
            "the answer comes fast"
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        while active(&fake, &customer, &fake.gold) == 0 {
            assert!(
                Instant::now() < deadline,
                "{}: no membership after 20 s",
                db.backend
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let calls = fake.server.requests();
        let create = calls
            .iter()
            .find(|c| c.path == "/v1/club-membership")
            .unwrap();
        assert_eq!(create.header("tenant"), Some(TENANT));
        assert!(create
            .header("authorization")
            .unwrap()
            .starts_with("Basic "));
        d.daemon.request_stop();
        let _ = tokio::time::timeout(Duration::from_secs(10), serving).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconcile_makes_good_a_missed_webhook_exactly_once() {
    for db in TestDb::all("c7_reconcile").await.unwrap() {
        let fake = FakeCommerce7::start(10).await;
        let since = (Utc::now() - Span::minutes(5)).to_rfc3339();
        let h = host(&db, &fake, &format!("reconcile_since = {since:?}")).await;
        let r = &h.runner;
        let customers = fake.data.customers();
        let heard = fake.data.add_paid_order(&customers[0].id, 30_000);
        let missed = fake.data.add_paid_order(&customers[1].id, 30_000);
        deliver(r, &order_webhook_body(&heard, "Create", TENANT)).await;
        // `missed`'s webhook never came (the host was down).
        let o = job(r, "reconcile").await;
        succeeded(&o);
        assert_eq!(counter(&o, "enqueued"), 1, "{o:?}");
        assert_eq!(counter(&o, "already_handled"), 1, "{o:?}");
        let cursor_reads = fake
            .server
            .requests()
            .iter()
            .filter(|q| q.path == "/v1/order")
            .count();
        assert!(cursor_reads >= 1);
        // Again, and the late webhook: nothing new.
        let o = job(r, "reconcile").await;
        assert_eq!(counter(&o, "enqueued"), 0, "{o:?}");
        let (_, answer) = deliver(r, &order_webhook_body(&missed, "Create", TENANT)).await;
        assert_eq!(answer["seen"], true, "{answer}");
        r.drain_queue("w", 10).await.unwrap();
        assert_eq!(
            active(&fake, &customers[1].id, &fake.silver),
            1,
            "{}",
            db.backend
        );
        assert_eq!(active(&fake, &customers[0].id, &fake.silver), 1);
        assert_eq!(jobs(r).await.len(), 2);
        let sources = column(&db, "SELECT source FROM order_actions ORDER BY source").await;
        assert_eq!(sources, ["reconcile", "webhook"]);
        h.runner.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_cancels_memberships_and_clears_flags_and_a_dry_run_changes_nothing() {
    for db in TestDb::all("c7_expire").await.unwrap() {
        let fake = FakeCommerce7::start(10).await;
        let h = host(&db, &fake, "").await;
        let r = &h.runner;
        let customers = fake.data.customers();
        let (a, b) = (&customers[0].id, &customers[1].id);
        for (customer, cents) in [(a, 25_000), (b, 25_000)] {
            let order = fake.data.add_paid_order(customer, cents);
            deliver(r, &order_webhook_body(&order, "Create", TENANT)).await;
        }
        r.drain_queue("w", 10).await.unwrap();
        assert_eq!(active(&fake, a, &fake.silver), 1);
        // A year passes for a's enrollment only.
        let past = (Utc::now() - Span::days(1))
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string();
        connector_tests::db::execute(
            &db.url,
            &format!("UPDATE tier_enrollments SET expires_at = '{past}' WHERE customer_id = '{a}'"),
        )
        .await
        .unwrap();

        let skip = connector_tests::db::RUN_RECORDS;
        let before = connector_tests::db::dump(&db.url, skip).await.unwrap();
        let dry = RunRequest {
            job: Some("expire".into()),
            dry_run: true,
            ..RunRequest::manual()
        };
        let o = r.run("commerce7", dry).await.unwrap();
        succeeded(&o);
        assert!(
            o.summary
                .as_deref()
                .unwrap()
                .starts_with("would expire 1 enrollments of 1 customers"),
            "{o:?}"
        );
        let after = connector_tests::db::dump(&db.url, skip).await.unwrap();
        assert_eq!(
            before, after,
            "{}: the dry run changed something (a job, a mark)",
            db.backend
        );

        let o = job(r, "expire").await;
        succeeded(&o);
        assert_eq!(counter(&o, "expired"), 1);
        let statuses = column(
            &db,
            &format!("SELECT status FROM tier_enrollments WHERE customer_id = '{a}'"),
        )
        .await;
        assert_eq!(statuses, ["expired"]);
        let members = column(
            &db,
            "SELECT customer_id FROM customer_flags WHERE is_member",
        )
        .await;
        assert_eq!(members, vec![b.clone()], "a's flag is cleared, b's kept");
        let queued: Vec<String> = jobs(r).await.into_iter().map(|j| j.0).collect();
        assert_eq!(queued.last().map(String::as_str), Some("cancel_membership"));
        let done = r.drain_queue("w", 10).await.unwrap();
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].status, JobStatus::Completed, "{done:?}");
        let cancelled = fake
            .data
            .memberships()
            .into_iter()
            .find(|m| &m.customer_id == a && m.club_id == fake.silver)
            .unwrap();
        assert_eq!(cancelled.status, MembershipStatus::Cancelled);
        assert_eq!(
            cancelled.cancellation_reason.as_deref(),
            Some("Membership expired")
        );
        assert!(cancelled.cancel_date.is_some());
        assert_eq!(active(&fake, b, &fake.silver), 1);
        // Nothing more to expire.
        assert_eq!(counter(&job(r, "expire").await, "expired"), 0);
        h.runner.shutdown().await;
    }
}

/// Transient failures back off 2^attempts minutes (the queue's base of one minute) up to five
/// attempts, then the job is a dead letter with the last error; `queue retry` brings it back
/// and it succeeds once Commerce7 does. A validation error fails at once. Driven by the clock
/// the queue takes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_errors_back_off_to_a_dead_letter_and_validation_errors_fail_at_once() {
    for db in TestDb::all("c7_backoff").await.unwrap() {
        let fake = FakeCommerce7::start(10).await;
        let h = host(&db, &fake, "").await;
        let r = &h.runner;
        let customers = fake.data.customers();
        let order = fake.data.add_paid_order(&customers[0].id, 25_000);
        deliver(r, &order_webhook_body(&order, "Create", TENANT)).await;
        fake.data.fail_next(100, 503);
        let mut now = Utc::now() + Span::seconds(1);
        let mut waits = Vec::new();
        for attempt in 1..=5 {
            let o = r.process_next_job("w", now).await.unwrap().unwrap();
            if attempt < 5 {
                assert_eq!(
                    o.status,
                    JobStatus::Retrying,
                    "{}: attempt {attempt}: {o:?}",
                    db.backend
                );
                let at = o.retry_at.unwrap();
                waits.push((at - now).num_seconds());
                assert!(
                    r.process_next_job("w", at - Span::seconds(1))
                        .await
                        .unwrap()
                        .is_none(),
                    "not due before its back-off"
                );
                now = at;
            } else {
                assert_eq!(o.status, JobStatus::Failed, "{o:?}");
            }
        }
        // 2, 4, 8, 16 minutes (the queue's jitter adds up to a few seconds).
        for (wait, minutes) in waits.iter().zip([2, 4, 8, 16]) {
            assert!(
                (minutes * 60..minutes * 60 + 15).contains(wait),
                "{waits:?}"
            );
        }
        let dead = jobs(r).await;
        assert_eq!(dead[0].1, "failed");
        assert_eq!(dead[0].2, 5);
        assert!(
            dead[0].3.as_deref().unwrap().contains("HTTP 503"),
            "{dead:?}"
        );
        assert_eq!(active(&fake, &customers[0].id, &fake.silver), 0);

        // Commerce7 recovers; the operator retries the dead letter.
        fake.data.clear_failures();
        let filter = JobFilter {
            connector: Some("commerce7".into()),
            ..JobFilter::default()
        };
        assert_eq!(
            r.store.retry_failed_jobs(None, &filter, now).await.unwrap(),
            1
        );
        let o = r
            .process_next_job("w", now + Span::seconds(1))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(o.status, JobStatus::Completed, "{o:?}");
        assert_eq!(active(&fake, &customers[0].id, &fake.silver), 1);

        // A validation error (Commerce7's 422 with field errors) is permanent at once.
        let refused = &customers[1].id;
        fake.data.fail_for_customer(
            refused,
            422,
            "validationError",
            "One or more elements is missing or invalid",
        );
        let order = fake.data.add_paid_order(refused, 25_000);
        deliver(r, &order_webhook_body(&order, "Create", TENANT)).await;
        let o = r
            .process_next_job("w", now + Span::seconds(2))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(o.status, JobStatus::Failed, "{o:?}");
        assert_eq!(o.job.attempts, 1);
        let error = o.error.unwrap();
        assert!(
            error.contains("HTTP 422 validationError: One or more elements is missing or invalid"),
            "{error}"
        );
        h.runner.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_are_retried_and_named_never_half_done() {
    for db in TestDb::all("c7_credentials").await.unwrap() {
        let fake = FakeCommerce7::start(5).await;
        let env = env_of(&fake, &[("C7_SECRET_KEY", "a-wrong-secret-key")]);
        let h = start(&db, &manifest(&fake, ""), &env).await.unwrap();
        let r = &h.runner;
        let customer = fake.data.customers()[0].id.clone();
        let order = fake.data.add_paid_order(&customer, 25_000);
        deliver(r, &order_webhook_body(&order, "Create", TENANT)).await;
        let o = r.process_next_job("w", Utc::now()).await.unwrap().unwrap();
        assert_eq!(o.status, JobStatus::Retrying, "{o:?}");
        let error = o.error.unwrap();
        assert!(
            error.contains("HTTP 401") && error.contains("auth profile `commerce7`"),
            "{error}"
        );
        assert!(!error.contains("a-wrong-secret-key"));
        assert_eq!(
            fake.data
                .memberships()
                .iter()
                .filter(|m| m.customer_id == customer)
                .count(),
            0
        );
        let pending = column(&db, "SELECT status FROM tier_enrollments").await;
        assert_eq!(
            pending,
            ["pending"],
            "{}: the failed attempt wrote nothing",
            db.backend
        );
        h.runner.shutdown().await;
    }
}

#[test]
fn expire_runs_daily_at_two_utc_and_reconcile_every_fifteen_minutes() {
    let e = entry::load("commerce7").unwrap();
    let env = FakeEnv::with(&[
        ("C7_APP_ID", "app"),
        ("C7_SECRET_KEY", "secret"),
        ("C7_HOOK_USER", "user"),
        ("C7_HOOK_PASSWORD", "a-long-enough-password"),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let text = connector_tests::host::manifest_for("sqlite://c7.db", &toml::to_string(&e).unwrap());
    let (m, _) = Manifest::parse(&text, &dir.path().join("connectors.toml"), &env).unwrap();
    let schedules = &m.connectors["commerce7"].schedules;
    let at = |name: &str| schedules.iter().find(|s| s.name == name).unwrap();
    let noon: chrono::DateTime<Utc> = "2026-06-01T12:00:00Z".parse().unwrap();
    assert_eq!(
        at("expire").cron.next_after(noon).unwrap().to_rfc3339(),
        "2026-06-02T02:00:00+00:00"
    );
    assert_eq!(
        at("reconcile").cron.next_after(noon).unwrap().to_rfc3339(),
        "2026-06-01T12:15:00+00:00"
    );
}
