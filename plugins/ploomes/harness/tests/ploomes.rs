//! The ploomes connector (plugins/ploomes) through the host against the fake Ploomes API, on every
//! backend: a full sync checked against aggregates computed here from the fake's own data,
//! incremental syncs after inserts, updates and status changes, changes made during a sync, a
//! run killed mid-sync and resumed, a wrong key, and over-quota answers.

use connector_host::runner::{RunOutcome, RunRequest};
use connector_host::store::RunStatus;
use connector_tests::db::TestDb;
use connector_tests::entry;
use connector_tests::fake::{
    max_in_any_window, FakeServer, Fault, FaultScope, Quota, QuotaAnswer, RetryAfter,
};
use connector_tests::host::{start, FakeEnv, TestHost};
use ploomes_harness::fake::{self as ploomes, Deal, Generate, PloomesData};
use sqlx::Row;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

const KEY: &str = "ploomes-key-5f0c2a91";
const TAG: i64 = 40_006_184;

struct Fake {
    data: PloomesData,
    server: FakeServer,
}

async fn fake() -> Fake {
    let data = PloomesData::generate(&Generate::small(), KEY);
    let server = FakeServer::start(ploomes::router(data.clone())).await;
    Fake { data, server }
}

/// What varies between the manifests of these tests.
struct Opts {
    /// Extra settings, each starting with ", ".
    settings: &'static str,
    /// Extra `http` keys, each starting with ", ".
    http: &'static str,
    /// The `[rate_limits]` pool, if any.
    pool: Option<&'static str>,
    timeout: &'static str,
}

impl Default for Opts {
    fn default() -> Self {
        Opts {
            settings: "",
            http: "",
            pool: Some("120/min"),
            timeout: "60s",
        }
    }
}

/// The connector's own `connector.toml`, pointed at the fake and adjusted by `o`.
fn manifest(server: &FakeServer, o: &Opts) -> String {
    let mut e = entry::load("ploomes").unwrap();
    let base = server.base_url();
    match o.pool {
        Some(quota) => {
            entry::table(&mut e, &["rate_limits"]).insert("ploomes".into(), quota.into());
        }
        None => {
            e.remove("rate_limits");
            entry::table(&mut e, &["connectors", "ploomes", "http"]).remove("rate_limit");
        }
    }
    let c = entry::table(&mut e, &["connectors", "ploomes"]);
    c.insert("timeout".into(), o.timeout.into());
    // The tests fire no schedule and read every deal unless a test asks for the tag filter.
    c.remove("schedules");
    let settings = entry::table(c, &["settings"]);
    settings.remove("client_tag_id");
    settings.insert("base_url".into(), base.clone().into());
    let extra: toml::Table = toml::from_str(&format!(
        "settings = {{ {} }}\nhttp = {{ {} }}",
        o.settings.trim_start_matches(','),
        o.http.trim_start_matches(',')
    ))
    .unwrap();
    entry::merge(c, extra);
    let http = entry::table(c, &["http"]);
    http.insert("allow".into(), toml::Value::Array(vec![base.into()]));
    http.insert("max_wait".into(), "10s".into());
    toml::to_string(&e).unwrap()
}

async fn host_with_key(db: &TestDb, fake: &Fake, o: &Opts, key: &str) -> TestHost {
    let env = FakeEnv::with(&[("PLOOMES_API_KEY", key)]);
    start(db, &manifest(&fake.server, o), &env).await.unwrap()
}

async fn host(db: &TestDb, fake: &Fake, o: &Opts) -> TestHost {
    host_with_key(db, fake, o, KEY).await
}

async fn sync(h: &TestHost) -> RunOutcome {
    h.runner.run("ploomes", RunRequest::manual()).await.unwrap()
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

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn cents(x: f64) -> i64 {
    (x * 100.0).round() as i64
}

/// A `sales` row, as the fake's data says it must be.
#[derive(Debug, PartialEq)]
struct Sale {
    customer_id: Option<i64>,
    amount_cents: Option<i64>,
    status: Option<String>,
    last_update: i64,
}

/// A `customer_sales` row (without the time-dependent columns).
#[derive(Debug, PartialEq)]
struct Customer {
    name: Option<String>,
    cnpj: Option<String>,
    /// The number of won deals (the replaced aggregation's definition).
    total_sales: i64,
    total_deals: i64,
    won: i64,
    open: i64,
    lost: i64,
    revenue_cents: i64,
    /// The average amount of the won deals that have one; none without.
    average_cents: Option<i64>,
    first_purchase: Option<i64>,
    last_purchase: Option<i64>,
}

/// What `sales` and `customer_sales` must hold after a sync, computed from the fake's data
/// without any of the connector's code or SQL.
fn expected(
    data: &PloomesData,
    tag: Option<i64>,
) -> (BTreeMap<i64, Sale>, BTreeMap<i64, Customer>) {
    let contacts: BTreeMap<i64, ploomes::Contact> =
        data.contacts().into_iter().map(|c| (c.id, c)).collect();
    let in_scope = |d: &Deal| match tag {
        None => true,
        Some(t) => d
            .contact_id
            .and_then(|c| contacts.get(&c))
            .is_some_and(|c| c.tag_ids.contains(&t)),
    };
    let deals: Vec<Deal> = data.deals().into_iter().filter(in_scope).collect();
    let status = |s: i64| match s {
        1 => Some("open".to_owned()),
        2 => Some("won".to_owned()),
        3 => Some("lost".to_owned()),
        _ => None,
    };
    let sales = deals
        .iter()
        .map(|d| {
            let sale = Sale {
                customer_id: d.contact_id,
                amount_cents: d.amount.map(cents),
                status: status(d.status_id),
                last_update: d.last_update_date,
            };
            (d.id, sale)
        })
        .collect();
    let mut by_customer: BTreeMap<i64, Vec<&Deal>> = BTreeMap::new();
    for d in &deals {
        if let Some(c) = d.contact_id {
            by_customer.entry(c).or_default().push(d);
        }
    }
    let customers = by_customer
        .into_iter()
        .map(|(id, ds)| {
            let won: Vec<&&Deal> = ds.iter().filter(|d| d.status_id == 2).collect();
            let won_amounts: Vec<i64> = won.iter().filter_map(|d| d.amount.map(cents)).collect();
            let revenue: i64 = won_amounts.iter().sum();
            let purchase = |d: &&&Deal| d.finish_date.unwrap_or(d.last_update_date);
            let contact = contacts.get(&id);
            let c = Customer {
                name: contact.map(|c| c.name.clone()),
                cnpj: contact.and_then(|c| c.cnpj.clone()),
                total_sales: won.len() as i64,
                total_deals: ds.len() as i64,
                won: won.len() as i64,
                open: ds.iter().filter(|d| d.status_id == 1).count() as i64,
                lost: ds.iter().filter(|d| d.status_id == 3).count() as i64,
                revenue_cents: revenue,
                average_cents: (!won_amounts.is_empty())
                    .then(|| (revenue as f64 / won_amounts.len() as f64).round() as i64),
                first_purchase: won.iter().map(purchase).min(),
                last_purchase: won.iter().map(purchase).max(),
            };
            (id, c)
        })
        .collect();
    (sales, customers)
}

/// Runs `sql` on `db` directly (not through the host) and maps each row.
macro_rules! fetch {
    ($db:expr, $sql:expr, |$r:ident| $body:expr) => {{
        let sql: String = $sql;
        if $db.backend == "postgres" {
            let pool = sqlx::PgPool::connect(&$db.url).await.unwrap();
            let rows = sqlx::query(&sql).fetch_all(&pool).await.unwrap();
            pool.close().await;
            rows.iter().map(|$r| $body).collect::<Vec<_>>()
        } else {
            let pool = sqlx::SqlitePool::connect(&$db.url).await.unwrap();
            let rows = sqlx::query(&sql).fetch_all(&pool).await.unwrap();
            pool.close().await;
            rows.iter().map(|$r| $body).collect::<Vec<_>>()
        }
    }};
}

/// Unix seconds of a timestamp column, per backend.
fn epoch(db: &TestDb, column: &str) -> String {
    if db.backend == "postgres" {
        format!("CAST(EXTRACT(EPOCH FROM {column}) AS BIGINT)")
    } else {
        format!("CAST(strftime('%s', {column}) AS INTEGER)")
    }
}

async fn stored_sales(db: &TestDb) -> BTreeMap<i64, Sale> {
    let sql = format!(
        "SELECT id, customer_id, CAST(ROUND(amount * 100) AS BIGINT), status, {} FROM sales",
        epoch(db, "last_update_date")
    );
    fetch!(db, sql, |r| (
        r.get::<i64, _>(0),
        Sale {
            customer_id: r.get(1),
            amount_cents: r.get(2),
            status: r.get(3),
            last_update: r.get(4),
        }
    ))
    .into_iter()
    .collect()
}

/// `customer_sales` rows with their `days_since_last_purchase` and `last_sync_at`.
async fn stored_customers(db: &TestDb) -> BTreeMap<i64, (Customer, Option<i64>, i64)> {
    let sql = format!(
        "SELECT customer_id, customer_name, customer_cnpj, CAST(total_sales AS BIGINT), \
         CAST(total_deals AS BIGINT), CAST(won_deals AS BIGINT), CAST(open_deals AS BIGINT), \
         CAST(lost_deals AS BIGINT), CAST(ROUND(total_revenue * 100) AS BIGINT), \
         CAST(ROUND(average_deal_value * 100) AS BIGINT), {}, {}, \
         CAST(days_since_last_purchase AS BIGINT), {} FROM customer_sales",
        epoch(db, "first_purchase_date"),
        epoch(db, "last_purchase_date"),
        epoch(db, "last_sync_at"),
    );
    fetch!(db, sql, |r| (
        r.get::<i64, _>(0),
        (
            Customer {
                name: r.get(1),
                cnpj: r.get(2),
                total_sales: r.get(3),
                total_deals: r.get(4),
                won: r.get(5),
                open: r.get(6),
                lost: r.get(7),
                revenue_cents: r.get(8),
                average_cents: r.get(9),
                first_purchase: r.get(10),
                last_purchase: r.get(11),
            },
            r.get::<Option<i64>, _>(12),
            r.get::<i64, _>(13),
        )
    ))
    .into_iter()
    .collect()
}

async fn count(db: &TestDb, table: &str) -> i64 {
    fetch!(db, format!("SELECT COUNT(*) FROM {table}"), |r| r
        .get::<i64, _>(0))[0]
}

/// Asserts that the database holds exactly what the fake's data says.
async fn check(db: &TestDb, data: &PloomesData, tag: Option<i64>) {
    let (want_sales, want_customers) = expected(data, tag);
    let sales = stored_sales(db).await;
    assert_eq!(sales.len(), want_sales.len(), "{}: sales rows", db.backend);
    for (id, want) in &want_sales {
        assert_eq!(sales.get(id), Some(want), "{}: deal {id}", db.backend);
    }
    let customers = stored_customers(db).await;
    let now = now_secs();
    assert_eq!(
        customers.keys().collect::<Vec<_>>(),
        want_customers.keys().collect::<Vec<_>>(),
        "{}: customers",
        db.backend
    );
    for (id, want) in &want_customers {
        let (got, days, synced) = &customers[id];
        assert_eq!(got, want, "{}: customer {id}", db.backend);
        // Days count from the run that last wrote them: at or after last_sync_at, before now.
        let (low, high) = match want.last_purchase {
            Some(t) => (
                Some((synced - t).max(0) / 86_400),
                Some((now - t).max(0) / 86_400),
            ),
            None => (None, None),
        };
        assert!(
            *days >= low && *days <= high,
            "{}: customer {id}: {days:?} days since the last purchase",
            db.backend
        );
    }
}

fn deal_queries(server: &FakeServer) -> Vec<String> {
    server
        .requests()
        .iter()
        .filter(|r| r.path == "/Deals")
        .map(|r| r.query.clone().unwrap_or_default())
        .collect()
}

/// Every deal version was served at most once.
fn no_version_twice(data: &PloomesData) {
    let served = data.served_deals();
    let unique: BTreeSet<_> = served.iter().collect();
    assert_eq!(unique.len(), served.len(), "a deal version was read twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_sync_matches_aggregates_computed_from_the_source() {
    for db in TestDb::all("ploomes_full").await.unwrap() {
        let fake = fake().await;
        let h = host(&db, &fake, &Opts::default()).await;
        let o = sync(&h).await;
        succeeded(&o);
        check(&db, &fake.data, None).await;
        assert_eq!(counter(&o, "deals"), 1200);
        assert_eq!(counter(&o, "pages"), 4);
        assert_eq!(counter(&o, "customers_written"), 150);
        let queries = deal_queries(&fake.server);
        assert_eq!(queries.len(), 5, "four full pages, then an empty one");
        for q in &queries {
            assert!(q.contains("$top=300") && !q.contains("$skip"), "{q}");
            assert!(q.contains("$orderby=LastUpdateDate,Id"), "{q}");
        }
        assert!(
            !queries[0].contains("$filter"),
            "a first sync reads from the start"
        );
        assert!(queries[1].contains("Id%20gt%20"), "{}", queries[1]);
        no_version_twice(&fake.data);
        h.runner.shutdown().await;
    }
}

/// How many deals each tagged customer has (every customer, when the tag filter is off).
fn tagged_deal_counts(data: &PloomesData) -> BTreeMap<i64, usize> {
    let tagged: BTreeSet<i64> = data
        .contacts()
        .iter()
        .filter(|c| c.tag_ids.contains(&TAG))
        .map(|c| c.id)
        .collect();
    let mut per: BTreeMap<i64, usize> = BTreeMap::new();
    for d in data.deals() {
        if let Some(c) = d.contact_id.filter(|c| tagged.contains(c)) {
            *per.entry(c).or_default() += 1;
        }
    }
    per
}

fn deals_of(data: &PloomesData, customer: i64) -> Vec<Deal> {
    data.deals()
        .into_iter()
        .filter(|d| d.contact_id == Some(customer))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incremental_syncs_pick_up_inserts_updates_and_status_changes() {
    for db in TestDb::all("ploomes_incremental").await.unwrap() {
        let fake = fake().await;
        let d = &fake.data;
        let opts = Opts {
            settings: ", client_tag_id = 40006184",
            ..Opts::default()
        };
        let h = host(&db, &fake, &opts).await;
        succeeded(&sync(&h).await);
        check(&db, d, Some(TAG)).await;
        let untagged = d.deals().len() - stored_sales(&db).await.len();
        assert!(untagged > 0, "the tag filter left some deals out");

        // Status changes, an amount change, a deal moving between customers (its old customer
        // had no other deal), a renamed customer, and a new customer with a new deal. Every
        // change of this run and the next is stamped in the same second.
        d.set_clock(Some(d.now()));
        let counts = tagged_deal_counts(d);
        let big = *counts.iter().find(|(_, n)| **n >= 3).unwrap().0;
        let single = *counts.iter().find(|(_, n)| **n == 1).unwrap().0;
        let deals = deals_of(d, big);
        let newcomer = d
            .contacts()
            .iter()
            .find(|c| deals_of(d, c.id).is_empty())
            .unwrap()
            .id;
        let target = deals
            .iter()
            .find(|x| x.status_id == 1)
            .unwrap_or(&deals[0])
            .id;
        assert!(d.set_status(target, 2));
        let won = d
            .deals()
            .into_iter()
            .find(|x| {
                x.status_id == 2
                    && x.contact_id
                        .is_some_and(|c| c != big && counts.contains_key(&c))
            })
            .unwrap();
        assert!(d.set_status(won.id, 3));
        assert!(d.update_deal(deals[1].id, |x| x.amount =
            Some(x.amount.unwrap_or(0.0) + 1234.56)));
        let moved = deals_of(d, single)[0].id;
        assert!(d.update_deal(moved, |x| x.contact_id = Some(big)));
        assert!(d.update_contact(big, |c| c.name = "Renomeada Ltda".into()));
        assert!(d.update_contact(newcomer, |c| c.tag_ids.push(TAG)));
        let inserted = d.insert_deal(Some(newcomer), 999.99, 2);

        fake.server.clear();
        let o = sync(&h).await;
        succeeded(&o);
        check(&db, d, Some(TAG)).await;
        let queries = deal_queries(&fake.server);
        assert_eq!(queries.len(), 1, "one short page: the run was incremental");
        assert!(
            queries[0].contains("LastUpdateDate%20ge%20"),
            "{}",
            queries[0]
        );
        assert!(counter(&o, "deals") < 20, "{o:?}");
        let customers = stored_customers(&db).await;
        assert!(
            !customers.contains_key(&single),
            "a customer without deals has no row"
        );
        assert_eq!(customers[&big].0.name.as_deref(), Some("Renomeada Ltda"));
        assert!(stored_sales(&db).await.contains_key(&inserted));
        assert_eq!(counter(&o, "customers_removed"), 1);

        // Changes stamped in the same second as the last run's cursor (the inserted deal) but
        // with lower ids are still picked up: an incremental run restarts at the cursor's second.
        assert!(d.update_deal(deals[0].id, |x| x.amount = None));
        assert!(d.set_status(deals[2].id, 1));
        succeeded(&sync(&h).await);
        check(&db, d, Some(TAG)).await;
        h.runner.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_leaves_the_database_exactly_as_it_was() {
    for db in TestDb::all("ploomes_dry_run").await.unwrap() {
        let fake = fake().await;
        let d = &fake.data;
        let h = host(&db, &fake, &Opts::default()).await;
        succeeded(&sync(&h).await);
        // Changes upstream for the dry run to find.
        d.set_clock(Some(d.now() + 60));
        let customer = d.contacts()[0].id;
        let inserted = d.insert_deal(Some(customer), 4321.0, 2);
        let first = d.deals()[0].id;
        assert!(d.set_status(first, 3));

        let skip = connector_tests::db::RUN_RECORDS;
        let before = connector_tests::db::dump(&db.url, skip).await.unwrap();
        let dry = RunRequest {
            dry_run: true,
            ..RunRequest::manual()
        };
        let o = h.runner.run("ploomes", dry).await.unwrap();
        succeeded(&o);
        assert!(o.rows_written >= 2, "it reports what it would write: {o:?}");
        assert!(counter(&o, "pages") >= 1, "{o:?}");
        let after = connector_tests::db::dump(&db.url, skip).await.unwrap();
        assert_eq!(
            before, after,
            "{}: the dry run changed the database",
            db.backend
        );

        // The next real run still finds the changes.
        succeeded(&sync(&h).await);
        assert!(
            stored_sales(&db).await.contains_key(&inserted),
            "{}",
            db.backend
        );
        check(&db, d, None).await;
        h.runner.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_during_a_sync_are_neither_skipped_nor_read_twice() {
    for db in TestDb::all("ploomes_during").await.unwrap() {
        let fake = fake().await;
        let d = &fake.data;
        let mut order: Vec<Deal> = d.deals();
        order.sort_by_key(|x| (x.last_update_date, x.id));
        let read = [order[10].id, order[250].id];
        let unread = [order[700].id, order[1100].id];
        let customer = order[5].contact_id;
        // Before the second page is served: deals on the first page and deals not read yet change.
        d.on_deals_request(2, move |d| {
            d.update_deal(read[0], |x| x.amount = Some(1.0));
            d.set_status(read[1], 3);
            d.update_deal(unread[0], |x| x.amount = None);
            d.set_status(unread[1], 2);
            d.insert_deal(customer, 77.7, 1);
        });
        let h = host(&db, &fake, &Opts::default()).await;
        let o = sync(&h).await;
        succeeded(&o);
        check(&db, d, None).await;
        no_version_twice(d);
        let served = d.served_deals();
        for id in read.iter().chain(&unread) {
            let now = d.deal(*id).unwrap();
            assert!(
                served.contains(&(now.id, now.last_update_date)),
                "deal {id}'s new version was read"
            );
        }
        // The two deals changed after they were read come again, in their new version.
        assert_eq!(served.len(), 1200 + 1 + 2);
        h.runner.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_killed_mid_sync_resumes_to_the_same_state_without_duplicates() {
    for db in TestDb::all("ploomes_killed").await.unwrap() {
        let fake = fake().await;
        let d = &fake.data;

        // An outage from the third page on: the run fails; two pages stay, with their cursor.
        d.on_deals_request(3, |d| d.fail_deals(Some(500)));
        let opts_retry_once = Opts {
            http: ", retries = 1",
            ..Opts::default()
        };
        let h = host(&db, &fake, &opts_retry_once).await;
        let o = sync(&h).await;
        assert_eq!(o.status, RunStatus::Failed, "{o:?}");
        assert!(
            o.error_message.as_deref().unwrap().contains("HTTP 500"),
            "{o:?}"
        );
        assert_eq!(count(&db, "sales").await, 600);
        h.runner.shutdown().await;
        d.fail_deals(None);

        // A run stopped by its deadline while a page request hangs: the page before it stays.
        fake.server.push_fault(
            Fault::header("x-fake", "normal"),
            FaultScope::prefix("/Deals"),
        );
        fake.server
            .push_fault(Fault::Hang, FaultScope::prefix("/Deals"));
        let opts = Opts {
            timeout: "2s",
            ..Opts::default()
        };
        let h = host(&db, &fake, &opts).await;
        let o = sync(&h).await;
        assert_eq!(o.status, RunStatus::Timeout, "{o:?}");
        assert_eq!(count(&db, "sales").await, 900);
        h.runner.shutdown().await;

        // The next run resumes exactly at the cursor and ends where one clean run would.
        fake.server.clear();
        let h = host(&db, &fake, &opts_retry_once).await;
        let o = sync(&h).await;
        succeeded(&o);
        check(&db, d, None).await;
        let queries = deal_queries(&fake.server);
        assert!(
            queries[0].contains("Id%20gt%20"),
            "resumed at the cursor: {}",
            queries[0]
        );
        assert_eq!(counter(&o, "deals"), 300, "only the last page was left");
        assert_eq!(
            counter(&o, "customers_written"),
            150,
            "a walk over every deal recomputes every customer"
        );
        assert_eq!(count(&db, "sales").await, 1200);

        // An incremental run over two pages of changes, failing after the first: the customers
        // that page touched (the old customer of a moved deal too) are remembered with its
        // checkpoint and recomputed by the next run.
        let counts = tagged_deal_counts(d);
        let big = *counts.iter().find(|(_, n)| **n >= 3).unwrap().0;
        let moved = counts
            .iter()
            .filter(|(_, n)| **n == 1)
            .map(|(c, _)| deals_of(d, *c)[0].clone())
            .min_by_key(|x| x.id)
            .unwrap();
        let single = moved.contact_id.unwrap();
        d.set_clock(Some(d.now()));
        assert!(d.update_deal(moved.id, |x| x.contact_id = Some(big)));
        let ids: Vec<i64> = d.deals().iter().rev().take(399).map(|x| x.id).collect();
        assert!(
            ids.iter().all(|id| *id > moved.id),
            "the moved deal is on the first page"
        );
        for id in ids {
            assert!(d.update_deal(id, |x| x.title.push_str(" (revised)")));
        }
        d.on_deals_request(2, |d| d.fail_deals(Some(503)));
        let o = sync(&h).await;
        assert_eq!(o.status, RunStatus::Failed, "{o:?}");
        d.fail_deals(None);
        let o = sync(&h).await;
        succeeded(&o);
        check(&db, d, None).await;
        assert!(!stored_customers(&db).await.contains_key(&single));
        h.runner.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_faults_are_retried_and_the_run_completes() {
    let db = TestDb::sqlite().unwrap();
    let fake = fake().await;
    let deals = FaultScope::prefix("/Deals");
    fake.server
        .push_fault(Fault::MalformedJson, deals.clone().times(2));
    fake.server.push_fault(Fault::Status(502), deals.clone());
    fake.server.push_fault(Fault::Reset, deals);
    fake.server
        .push_fault(Fault::MalformedJson, FaultScope::prefix("/Contacts"));
    let h = host(&db, &fake, &Opts::default()).await;
    let o = sync(&h).await;
    succeeded(&o);
    check(&db, &fake.data, None).await;
    assert_eq!(counter(&o, "decode_retries"), 3, "{o:?}");
    assert_eq!(fake.server.pending_faults(), 0);
    h.runner.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_key_fails_the_run_naming_the_auth_profile_and_the_status() {
    let db = TestDb::sqlite().unwrap();
    let fake = fake().await;
    let h = host_with_key(&db, &fake, &Opts::default(), "not-the-key-0000").await;
    let o = sync(&h).await;
    assert_eq!(o.status, RunStatus::Failed, "{o:?}");
    assert_eq!(o.error_kind.as_deref(), Some("upstream"));
    let message = o.error_message.clone().unwrap();
    assert!(message.contains("auth profile `ploomes`"), "{message}");
    assert!(message.contains("HTTP 403"), "{message}");
    assert!(!message.contains("not-the-key-0000"), "{message}");
    assert_eq!(count(&db, "sales").await, 0);
    assert_eq!(
        fake.server.request_count(),
        1,
        "a refused key is not retried"
    );
    h.runner.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_quota_answers_are_waited_out_and_the_run_completes() {
    let answers = [
        QuotaAnswer::TooManyRequests {
            retry_after: Some(RetryAfter::UntilWindowFrees),
        },
        QuotaAnswer::ForbiddenHtml,
    ];
    for answer in answers {
        let db = TestDb::sqlite().unwrap();
        let fake = fake().await;
        fake.server
            .set_quota(Some(Quota::new(4, Duration::from_secs(1), answer.clone())));
        let opts = Opts {
            pool: None,
            ..Opts::default()
        };
        let h = host(&db, &fake, &opts).await;
        let o = sync(&h).await;
        succeeded(&o);
        check(&db, &fake.data, None).await;
        let refused = fake
            .server
            .requests()
            .iter()
            .filter(|r| matches!(r.status(), Some(403 | 429)))
            .count();
        assert!(refused > 0, "{answer:?}: the quota was hit");
        let run = h.runner.store.recent_runs(1, None).await.unwrap().remove(0);
        match answer {
            QuotaAnswer::ForbiddenHtml => {
                assert_eq!(counter(&o, "quota_backoffs") as usize, refused, "{o:?}");
            }
            _ => assert!(
                run.retries as usize >= refused && run.rate_limit_wait_ms > 0,
                "{run:?}"
            ),
        }
        h.runner.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rate_limit_pool_keeps_a_sync_within_the_quota() {
    let db = TestDb::sqlite().unwrap();
    let fake = fake().await;
    fake.server.set_quota(Some(Quota::new(
        4,
        Duration::from_secs(2),
        QuotaAnswer::ForbiddenHtml,
    )));
    let opts = Opts {
        pool: Some("2/s"),
        ..Opts::default()
    };
    let h = host(&db, &fake, &opts).await;
    let o = sync(&h).await;
    succeeded(&o);
    check(&db, &fake.data, None).await;
    let requests = fake.server.requests();
    assert!(
        requests.iter().all(|r| r.status() == Some(200)),
        "no answer over quota"
    );
    let times = fake.server.arrival_times();
    assert!(max_in_any_window(&times, Duration::from_secs(2)) <= 4);
    assert_eq!(counter(&o, "quota_backoffs"), 0);
    h.runner.shutdown().await;
}
