//! The ploomes benchmark (PERFORMANCE.md B6, B7, B8, B9, B15), side by side in one process
//! against one loopback fake Ploomes:
//!
//! - B6/B7: a full sync of 30,000 deals (100 pages of 300, 2,000 customers) with no quota, by the
//!   plugin through the host and by a native baseline doing the same sync in plain Rust
//!   (reqwest + sqlx): the same URLs and SQL (the plugin's `odata.rs` and `sql.rs`, the SDK's `time.rs` are
//!   compiled in here), the same upsert statements the host builds, one transaction per page with
//!   the same cursor write, the same customer recomputation at the end; both must leave the same
//!   rows. SQLite always; PostgreSQL when `TEST_POSTGRES_URL` is set. Medians of
//!   `PLOOMES_BENCH_ROUNDS` rounds (default 3), plugin and native alternating, each on a fresh
//!   database; the per-round ratios are printed too (these 2-core machines are noisy).
//! - B8: the plugin's `full` job again on the synced database (every row conflicts).
//! - B15: peak RSS above the level before each run, sampled every 5 ms.
//! - B9: one plugin sync through a rate-limit pool against a fake enforcing the same quota
//!   (`PLOOMES_BENCH_QUOTA`, default `120/min`; `PLOOMES_BENCH_QUOTA_DEALS` deals, default
//!   30,000): wall time against the quota's floor and the busiest window seen by the server.
//!   Skipped when `PLOOMES_BENCH_QUOTA=off`.
//!
//! - Against the floor and what users run today: each round also times the *download floor*
//!   (the same pages fetched and parsed, nothing written) and a plain Node.js script doing the
//!   sync the way cron scripts do (`benches/node/sync.mjs`: global `fetch`, `pg` /
//!   `better-sqlite3`, one upsert per page, one aggregate query at the end). Its modules are
//!   installed by `benches/node/setup.sh` the first time (npm); without Node it is skipped.
//!
//! `PLOOMES_BENCH_BACKENDS` (default `sqlite,postgres`) picks the backends of B6/B7/B8.
//!
//! Run with `cargo bench -p ploomes-harness --bench ploomes`.

#[allow(dead_code, unused_imports)]
#[path = "../../src/odata.rs"]
mod odata;
#[allow(dead_code, unused_imports)]
#[path = "../../src/sql.rs"]
mod sql;
#[allow(dead_code, unused_imports)]
#[path = "../../../sdk/src/time.rs"]
mod time;

use connector_host::bindings::connector::host::db::Value;
use connector_host::capabilities::db::{bind_unnest, upsert_sql, upsert_unnest_sql, ColumnType};
use connector_host::runner::{RunOutcome, RunRequest};
use connector_host::store::Backend;
use connector_tests::db::TestDb;
use connector_tests::fake::{max_in_any_window, FakeServer, Quota, QuotaAnswer};
use connector_tests::host::{start, FakeEnv};
use ploomes_harness::fake::{self as ploomes, Generate, PloomesData};
use serde_json::Value as Json;
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{types::Oid, PgArgumentBuffer, PgPool, PgTypeInfo, Postgres};
use sqlx::sqlite::SqlitePool;
use sqlx::{Row, Sqlite};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const KEY: &str = "bench-ploomes-key";
const PAGE: u32 = 300;
/// `contacts_batch` of the plugin's default settings.
const CONTACTS_BATCH: usize = 50;

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

// ---------------------------------------------------------------------------------------------
// The plugin through the host.

fn manifest(server: &FakeServer, pool: Option<&str>) -> String {
    let (limits, rate) = match pool {
        Some(q) => (
            format!("[rate_limits]\nploomes = \"{q}\"\n\n"),
            ", rate_limit = \"ploomes\"",
        ),
        None => (String::new(), ""),
    };
    format!(
        "{limits}[connectors.ploomes]\nplugin = {{plugin:ploomes}}\n\
         tables = [\"sales\", \"customer_sales\"]\ntimeout = \"30m\"\n\
         http = {{ allow = [{base:?}]{rate} }}\n\
         auth.ploomes = {{ header = \"User-Key\", secret = \"PLOOMES_API_KEY\" }}\n\
         settings = {{ base_url = {base:?}, page_size = {PAGE} }}\n",
        base = server.base_url(),
    )
}

struct PluginRun {
    sync: Duration,
    resync: Duration,
    rss: u64,
    requests: usize,
}

async fn plugin_sync(db: &TestDb, server: &FakeServer, pool: Option<&str>) -> PluginRun {
    let env = FakeEnv::with(&[("PLOOMES_API_KEY", KEY)]);
    let host = start(db, &manifest(server, pool), &env).await.unwrap();
    let before = server.request_count();
    let probe = RssProbe::start();
    let started = Instant::now();
    let o = host
        .runner
        .run("ploomes", RunRequest::manual())
        .await
        .unwrap();
    let sync = started.elapsed();
    let rss = probe.stop().await;
    check(&o);
    let requests = server.request_count() - before;
    // B8 without a pool only: a second sync would not fit the pool's window.
    let mut resync = Duration::ZERO;
    if pool.is_none() {
        let started = Instant::now();
        let full = RunRequest {
            job: Some("full".into()),
            ..RunRequest::manual()
        };
        let o = host.runner.run("ploomes", full).await.unwrap();
        resync = started.elapsed();
        check(&o);
    }
    host.runner.shutdown().await;
    PluginRun {
        sync,
        resync,
        rss,
        requests,
    }
}

/// What both syncs must leave behind: row counts and totals of `sales` and `customer_sales`.
async fn fingerprint(db: &TestDb) -> (i64, i64, i64, i64) {
    let sql = "SELECT (SELECT COUNT(*) FROM sales), (SELECT COUNT(*) FROM customer_sales), \
               (SELECT CAST(SUM(total_deals) AS BIGINT) FROM customer_sales), \
               (SELECT CAST(ROUND(SUM(total_revenue)) AS BIGINT) FROM customer_sales)";
    if db.backend == "postgres" {
        let pool = PgPool::connect(&db.url).await.unwrap();
        let r = sqlx::query_as(sql).fetch_one(&pool).await.unwrap();
        pool.close().await;
        r
    } else {
        let pool = SqlitePool::connect(&db.url).await.unwrap();
        let r = sqlx::query_as(sql).fetch_one(&pool).await.unwrap();
        pool.close().await;
        r
    }
}

fn check(o: &RunOutcome) {
    assert!(o.status.is_success(), "{o:?}");
    assert!(o.counters.contains(&("deals".to_owned(), 30_000)), "{o:?}");
}

// ---------------------------------------------------------------------------------------------
// The native baseline: the same sync in plain Rust.

/// One SQL value, bound the way the host binds plugin values.
#[derive(Clone, Debug)]
enum Cell {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    /// Unix seconds.
    Time(i64),
}

impl Cell {
    /// The value a plugin would send for this cell.
    fn value(&self) -> Value {
        match self {
            Cell::Null => Value::Null,
            Cell::Int(i) => Value::Integer(*i),
            Cell::Real(f) => Value::Real(*f),
            Cell::Text(s) => Value::Text(s.clone()),
            Cell::Time(t) => Value::Timestamp(time::format_utc(*t)),
        }
    }
}

/// A `timestamptz` parameter (the host binds timestamps as chrono values; the binary format is
/// microseconds since 2000-01-01).
struct PgTime(i64);

impl sqlx::Type<Postgres> for PgTime {
    fn type_info() -> PgTypeInfo {
        PgTypeInfo::with_oid(Oid(1184))
    }
}

impl sqlx::Encode<'_, Postgres> for PgTime {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        let micros = (self.0 - 946_684_800) * 1_000_000;
        buf.extend_from_slice(&micros.to_be_bytes());
        Ok(IsNull::No)
    }
}

/// A text or NULL parameter whose type PostgreSQL infers (as the host binds them).
struct Untyped(Option<String>);

impl sqlx::Type<Postgres> for Untyped {
    fn type_info() -> PgTypeInfo {
        PgTypeInfo::with_oid(Oid(0))
    }
    fn compatible(_: &PgTypeInfo) -> bool {
        true
    }
}

impl<'q> sqlx::Encode<'q, Postgres> for Untyped {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        match &self.0 {
            Some(s) => <&str as sqlx::Encode<Postgres>>::encode(s.as_str(), buf),
            None => Ok(IsNull::Yes),
        }
    }
}

enum Tx {
    Sqlite(sqlx::Transaction<'static, Sqlite>),
    Pg(sqlx::Transaction<'static, Postgres>),
}

enum Pool {
    Sqlite(SqlitePool),
    Pg(PgPool),
    /// The download floor writes nothing.
    None,
}

/// A result row, decoded by the caller's column types.
enum Fetched {
    Sqlite(Vec<sqlx::sqlite::SqliteRow>),
    Pg(Vec<sqlx::postgres::PgRow>),
}

impl Tx {
    async fn begin(pool: &Pool) -> Tx {
        match pool {
            Pool::Sqlite(p) => Tx::Sqlite(p.begin().await.unwrap()),
            Pool::Pg(p) => Tx::Pg(p.begin().await.unwrap()),
            Pool::None => unreachable!("the download floor writes nothing"),
        }
    }

    async fn commit(self) {
        match self {
            Tx::Sqlite(t) => t.commit().await.unwrap(),
            Tx::Pg(t) => t.commit().await.unwrap(),
        }
    }

    async fn execute(&mut self, sql: &str, params: &[Cell]) -> u64 {
        match self {
            Tx::Sqlite(t) => {
                let mut q = sqlx::query(sql);
                for p in params {
                    q = match p {
                        Cell::Null => q.bind(None::<i64>),
                        Cell::Int(i) => q.bind(*i),
                        Cell::Real(f) => q.bind(*f),
                        Cell::Text(s) => q.bind(s.clone()),
                        Cell::Time(t) => q.bind(time::format_utc(*t)),
                    };
                }
                q.execute(&mut **t).await.unwrap().rows_affected()
            }
            Tx::Pg(t) => {
                let mut q = sqlx::query(sql);
                for p in params {
                    q = match p {
                        Cell::Null => q.bind(Untyped(None)),
                        Cell::Int(i) => q.bind(*i),
                        Cell::Real(f) => q.bind(*f),
                        Cell::Text(s) => q.bind(Untyped(Some(s.clone()))),
                        Cell::Time(t) => q.bind(PgTime(*t)),
                    };
                }
                q.execute(&mut **t).await.unwrap().rows_affected()
            }
        }
    }

    async fn fetch(&mut self, sql: &str, params: &[i64]) -> Fetched {
        match self {
            Tx::Sqlite(t) => {
                let q = params.iter().fold(sqlx::query(sql), |q, p| q.bind(*p));
                Fetched::Sqlite(q.fetch_all(&mut **t).await.unwrap())
            }
            Tx::Pg(t) => {
                let q = params.iter().fold(sqlx::query(sql), |q, p| q.bind(*p));
                Fetched::Pg(q.fetch_all(&mut **t).await.unwrap())
            }
        }
    }

    /// The statements the host builds for `db.upsert`: on PostgreSQL one array per column
    /// (`INSERT … SELECT … FROM UNNEST`), elsewhere multi-row `INSERT … ON CONFLICT`.
    async fn upsert(&mut self, table: &str, columns: &[&str], key: &str, rows: &[Vec<Cell>]) {
        if let Tx::Pg(t) = self {
            let values: Vec<Vec<Value>> = rows
                .iter()
                .map(|r| r.iter().map(Cell::value).collect())
                .collect();
            let columns: Vec<String> = columns.iter().map(|c| (*c).to_owned()).collect();
            if let Some(types) = ColumnType::of_rows(&values, columns.len()) {
                let sql = upsert_unnest_sql(table, &columns, &[key.to_owned()], &types);
                bind_unnest(&sql, &values, &types)
                    .execute(&mut **t)
                    .await
                    .unwrap();
                return;
            }
        }
        let per_statement = (32_766 / columns.len()).clamp(1, 1000);
        for chunk in rows.chunks(per_statement) {
            let backend = match self {
                Tx::Sqlite(_) => Backend::Sqlite,
                Tx::Pg(_) => Backend::Postgres,
            };
            let columns: Vec<String> = columns.iter().map(|c| (*c).to_owned()).collect();
            // The host's own statement builder.
            let sql = upsert_sql(table, &columns, &[key.to_owned()], chunk.len(), backend);
            let flat: Vec<Cell> = chunk.iter().flatten().cloned().collect();
            self.execute(&sql, &flat).await;
        }
    }

    /// The host's `state.set`.
    async fn set_state(&mut self, key: &str, value: &str) {
        let sql = "INSERT INTO connector_state (connector, key, value, updated_at) \
                   VALUES ($1, $2, $3, $4) ON CONFLICT (connector, key) \
                   DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at";
        let now = Cell::Time(time::now());
        let params = [
            Cell::Text("native".into()),
            Cell::Text(key.into()),
            Cell::Text(value.into()),
            now,
        ];
        self.execute(sql, &params).await;
    }
}

/// Column `i` of every row, as `T` (decoded per backend).
macro_rules! column {
    ($rows:expr, $t:ty, $i:expr) => {
        match &$rows {
            Fetched::Sqlite(r) => r.iter().map(|r| r.get::<$t, _>($i)).collect::<Vec<$t>>(),
            Fetched::Pg(r) => r.iter().map(|r| r.get::<$t, _>($i)).collect::<Vec<$t>>(),
        }
    };
}

struct Native {
    http: reqwest::Client,
    base: String,
    pool: Pool,
}

impl Native {
    async fn get(&self, url: &str) -> Vec<Json> {
        let r = self
            .http
            .get(url)
            .header("User-Key", KEY)
            .header("accept", "application/json")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let mut doc: Json = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
        match doc.get_mut("value").map(Json::take) {
            Some(Json::Array(v)) => v,
            other => panic!("not an OData list: {other:?}"),
        }
    }

    /// The plugin's first (full) sync: pages upserted with the cursor, one transaction each;
    /// then every customer recomputed and the days refreshed.
    async fn sync(&self) -> usize {
        let now = time::now();
        let synced_at = Cell::Time(now);
        let mut start = odata::Start::Beginning;
        let mut deals_seen = 0;
        loop {
            let url = odata::deals_url(&self.base, &start, None, PAGE);
            let deals = self.get(&url).await;
            let Some(last) = deals.last() else { break };
            let last_date = last["LastUpdateDate"].as_str().unwrap().to_owned();
            let last_id = last["Id"].as_i64().unwrap();
            let mut tx = Tx::begin(&self.pool).await;
            let rows: Vec<Vec<Cell>> = deals.iter().map(|d| sales_row(d, &synced_at)).collect();
            tx.upsert("sales", sql::SALES_COLUMNS, "id", &rows).await;
            let cursor = serde_json::json!({
                "scope": self.base, "date": last_date, "id": last_id,
                "complete": false, "full": true,
            });
            tx.set_state("deals_cursor", &cursor.to_string()).await;
            tx.commit().await;
            deals_seen += deals.len();
            if deals.len() < PAGE as usize {
                break;
            }
            start = odata::Start::After {
                date: last_date,
                id: last_id,
            };
        }
        let mut tx = Tx::begin(&self.pool).await;
        let mut customers = BTreeSet::new();
        for sql in [sql::CUSTOMERS_IN_SALES, sql::CUSTOMERS_IN_CUSTOMER_SALES] {
            let mut after = i64::MIN;
            loop {
                let ids = column!(tx.fetch(sql, &[after]).await, i64, 0);
                customers.extend(&ids);
                after = ids.last().copied().unwrap_or(after);
                if ids.len() < 10_000 {
                    break;
                }
            }
        }
        self.recompute(&mut tx, &customers, now).await;
        tx.set_state("pending_customers", "[]").await;
        self.refresh_days(&mut tx, now).await;
        tx.commit().await;
        deals_seen
    }

    async fn recompute(&self, tx: &mut Tx, customers: &BTreeSet<i64>, now: i64) {
        let ids: Vec<i64> = customers.iter().copied().collect();
        let mut aggs = Vec::new();
        for chunk in ids.chunks(500) {
            let rows = tx.fetch(&sql::aggregates(chunk.len()), chunk).await;
            let id = column!(rows, i64, 0);
            let (total, won, open, lost) = (
                column!(rows, i64, 1),
                column!(rows, i64, 2),
                column!(rows, i64, 3),
                column!(rows, i64, 4),
            );
            let won_with_amount = column!(rows, i64, 5);
            let revenue = column!(rows, f64, 6);
            let first = column!(rows, Option<String>, 7);
            let last = column!(rows, Option<String>, 8);
            for j in 0..id.len() {
                aggs.push((
                    id[j],
                    [total[j], won[j], open[j], lost[j]],
                    won_with_amount[j],
                    revenue[j],
                    first[j].as_deref().and_then(time::parse),
                    last[j].as_deref().and_then(time::parse),
                ));
            }
        }
        let with_deals: BTreeSet<i64> = aggs.iter().map(|a| a.0).collect();
        let gone: Vec<Cell> = ids
            .iter()
            .filter(|i| !with_deals.contains(i))
            .map(|i| Cell::Int(*i))
            .collect();
        if !gone.is_empty() {
            tx.execute(&sql::delete_customers(gone.len()), &gone).await;
        }
        let contacts = self.contacts(&with_deals).await;
        let stamp = |t: Option<i64>| t.map_or(Cell::Null, Cell::Time);
        let text = |s: Option<&String>| s.map_or(Cell::Null, |s| Cell::Text(s.clone()));
        let rows: Vec<Vec<Cell>> = aggs
            .iter()
            .map(
                |(id, [total, won, open, lost], won_with_amount, revenue, first, last)| {
                    let c = contacts.get(id);
                    let revenue = (revenue * 100.0).round() / 100.0;
                    // The plugin's `Aggregate::average_deal_value`: none without won amounts.
                    let average = if *won_with_amount == 0 {
                        Cell::Null
                    } else {
                        Cell::Real(
                            ((revenue * 100.0).round() / *won_with_amount as f64).round() / 100.0,
                        )
                    };
                    vec![
                        Cell::Int(*id),
                        text(c.and_then(|c| c.0.as_ref())),
                        text(c.and_then(|c| c.1.as_ref())),
                        // `total_sales` is the number of won deals (ploomes migration 2).
                        Cell::Int(*won),
                        Cell::Int(*total),
                        Cell::Int(*won),
                        Cell::Int(*open),
                        Cell::Int(*lost),
                        Cell::Real(revenue),
                        average,
                        stamp(*first),
                        stamp(*last),
                        last.map_or(Cell::Null, |t| Cell::Int(time::days_between(t, now))),
                        Cell::Time(now),
                        Cell::Time(now),
                    ]
                },
            )
            .collect();
        for chunk in rows.chunks(2000) {
            tx.upsert(
                "customer_sales",
                sql::CUSTOMER_COLUMNS,
                "customer_id",
                chunk,
            )
            .await;
        }
    }

    /// Names and CNPJs, looked up as the plugin's `auto` mode does.
    async fn contacts(
        &self,
        wanted: &BTreeSet<i64>,
    ) -> BTreeMap<i64, (Option<String>, Option<String>)> {
        let mut found = BTreeMap::new();
        let take = |c: &Json| {
            (
                c["Name"].as_str().map(str::to_owned),
                c["CNPJ"].as_str().map(str::to_owned),
            )
        };
        if wanted.len() > CONTACTS_BATCH * 10 {
            let mut after = 0;
            loop {
                let url = odata::contacts_scan_url(&self.base, after, None, odata::MAX_PAGE);
                let page = self.get(&url).await;
                for c in &page {
                    let id = c["Id"].as_i64().unwrap();
                    after = after.max(id);
                    if wanted.contains(&id) {
                        found.insert(id, take(c));
                    }
                }
                if page.len() < odata::MAX_PAGE as usize {
                    break;
                }
            }
        }
        let missing: Vec<i64> = wanted
            .iter()
            .copied()
            .filter(|i| !found.contains_key(i))
            .collect();
        for chunk in missing.chunks(CONTACTS_BATCH) {
            for c in self
                .get(&odata::contacts_by_id_url(&self.base, chunk))
                .await
            {
                found.insert(c["Id"].as_i64().unwrap(), take(&c));
            }
        }
        found
    }

    async fn refresh_days(&self, tx: &mut Tx, now: i64) {
        let mut changed = Vec::new();
        let mut after = i64::MIN;
        loop {
            let rows = tx.fetch(sql::PURCHASE_DATES, &[after]).await;
            let ids = column!(rows, i64, 0);
            let dates = column!(rows, Option<String>, 1);
            let days = column!(rows, Option<i64>, 2);
            for j in 0..ids.len() {
                after = ids[j];
                if let Some(t) = dates[j].as_deref().and_then(time::parse) {
                    let d = time::days_between(t, now);
                    if days[j] != Some(d) {
                        changed.push((ids[j], d));
                    }
                }
            }
            if ids.len() < 5000 {
                break;
            }
        }
        for chunk in changed.chunks(499) {
            let mut params = vec![Cell::Time(now)];
            for (id, d) in chunk {
                params.push(Cell::Int(*id));
                params.push(Cell::Int(*d));
            }
            tx.execute(&sql::set_days(chunk.len()), &params).await;
        }
    }
}

/// The plugin's `rows::sales_row`, from the JSON document.
fn sales_row(d: &Json, synced_at: &Cell) -> Vec<Cell> {
    let int = |k: &str| d[k].as_i64().map_or(Cell::Null, Cell::Int);
    let date = |k: &str| {
        d[k].as_str()
            .map_or(Cell::Null, |s| Cell::Time(time::parse(s).unwrap()))
    };
    let status = match d["StatusId"].as_i64() {
        Some(1) => Cell::Text("open".into()),
        Some(2) => Cell::Text("won".into()),
        Some(3) => Cell::Text("lost".into()),
        _ => Cell::Null,
    };
    vec![
        int("Id"),
        int("ContactId"),
        d["Title"]
            .as_str()
            .map_or(Cell::Null, |s| Cell::Text(s.to_owned())),
        d["Amount"].as_f64().map_or(Cell::Null, Cell::Real),
        int("StatusId"),
        status,
        int("PipelineId"),
        int("StageId"),
        int("OwnerId"),
        date("CreateDate"),
        date("FinishDate"),
        date("LastUpdateDate"),
        synced_at.clone(),
    ]
}

struct NativeRun {
    sync: Duration,
    rss: u64,
}

/// The host's and the connector's tables, as a host start creates them, for the baselines.
async fn create_schema(db: &TestDb, server: &FakeServer) {
    let env = FakeEnv::with(&[("PLOOMES_API_KEY", KEY)]);
    let host = start(db, &manifest(server, None), &env).await.unwrap();
    host.runner.shutdown().await;
}

async fn native_sync(db: &TestDb, server: &FakeServer) -> NativeRun {
    create_schema(db, server).await;
    let pool = if db.backend == "postgres" {
        Pool::Pg(PgPool::connect(&db.url).await.unwrap())
    } else {
        use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
        use std::str::FromStr;
        // The host's SQLite settings: WAL, synchronous=NORMAL, no automatic checkpoints.
        let opts = SqliteConnectOptions::from_str(&db.url)
            .unwrap()
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(30))
            .foreign_keys(true)
            // As the host: no commit stops to checkpoint (the host checkpoints beside them).
            .pragma("wal_autocheckpoint", "0");
        Pool::Sqlite(
            sqlx::sqlite::SqlitePoolOptions::new()
                .max_connections(16)
                .connect_with(opts)
                .await
                .unwrap(),
        )
    };
    let native = Native {
        http: reqwest::Client::new(),
        base: server.base_url(),
        pool,
    };
    let probe = RssProbe::start();
    let started = Instant::now();
    let deals = native.sync().await;
    let sync = started.elapsed();
    let rss = probe.stop().await;
    assert_eq!(deals, 30_000);
    match native.pool {
        Pool::Sqlite(p) => p.close().await,
        Pool::Pg(p) => p.close().await,
        Pool::None => {}
    }
    NativeRun { sync, rss }
}

/// The download floor: the same pages the sync reads (the deals by keyset, then the contacts
/// scan), fetched and parsed into JSON documents, nothing written.
async fn download_floor(server: &FakeServer) -> Duration {
    let native = Native {
        http: reqwest::Client::new(),
        base: server.base_url(),
        pool: Pool::None,
    };
    let started = Instant::now();
    let mut start = odata::Start::Beginning;
    let mut deals = 0;
    loop {
        let page = native
            .get(&odata::deals_url(&native.base, &start, None, PAGE))
            .await;
        deals += page.len();
        let Some(last) = page.last() else { break };
        if page.len() < PAGE as usize {
            break;
        }
        start = odata::Start::After {
            date: last["LastUpdateDate"].as_str().unwrap().to_owned(),
            id: last["Id"].as_i64().unwrap(),
        };
    }
    let mut after = 0;
    loop {
        let url = odata::contacts_scan_url(&native.base, after, None, odata::MAX_PAGE);
        let page = native.get(&url).await;
        after = page.last().map_or(after, |c| c["Id"].as_i64().unwrap());
        if page.len() < odata::MAX_PAGE as usize {
            break;
        }
    }
    let took = started.elapsed();
    assert_eq!(deals, 30_000);
    took
}

/// The folder of the Node.js baseline (`node/sync.mjs`).
fn node_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/node")
}

/// Whether the Node.js baseline can run, installing its modules the first time; why not when
/// it cannot.
fn node_ready() -> Result<(), String> {
    let dir = node_dir();
    let version = std::process::Command::new("node")
        .arg("--version")
        .output()
        .map_err(|e| format!("node is not installed ({e})"))?;
    if !version.status.success() {
        return Err("node --version failed".into());
    }
    let built = dir.join("node_modules/better-sqlite3/build/Release/better_sqlite3.node");
    if !built.exists() || !dir.join("node_modules/pg").exists() {
        println!("installing the Node baseline's modules (benches/node/setup.sh) …");
        let setup = std::process::Command::new(dir.join("setup.sh"))
            .output()
            .map_err(|e| format!("cannot run benches/node/setup.sh: {e}"))?;
        if !setup.status.success() {
            return Err(format!(
                "benches/node/setup.sh failed: {}",
                String::from_utf8_lossy(&setup.stderr)
                    .lines()
                    .last()
                    .unwrap_or_default()
            ));
        }
    }
    Ok(())
}

/// The Node.js script's sync into a fresh database with the connector's tables, as timed by
/// the script itself (first request to the end of its aggregate, after the database is open).
async fn node_sync(db: &TestDb, server: &FakeServer) -> Duration {
    create_schema(db, server).await;
    let target = match db.url.strip_prefix("sqlite://") {
        Some(path) => path.split('?').next().unwrap_or(path).to_owned(),
        None => db.url.clone(),
    };
    let out = tokio::process::Command::new("node")
        .arg(node_dir().join("sync.mjs"))
        .env("BASE", server.base_url())
        .env("KEY", KEY)
        .env("DB", target)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "the Node baseline failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Json = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["deals"], 30_000, "{report}");
    let counted = fingerprint(db).await;
    assert_eq!(counted.0, 30_000, "the Node baseline wrote every deal");
    Duration::from_secs_f64(report["ms"].as_f64().unwrap() / 1000.0)
}

// ---------------------------------------------------------------------------------------------
// Measuring.

fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// Samples the process's RSS until stopped; reports the peak above the level at start.
struct RssProbe {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    base: u64,
    task: tokio::task::JoinHandle<()>,
}

impl RssProbe {
    fn start() -> Self {
        let base = rss_bytes();
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(base));
        let (s, p) = (stop.clone(), peak.clone());
        let task = tokio::spawn(async move {
            while !s.load(Ordering::Relaxed) {
                p.fetch_max(rss_bytes(), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        });
        RssProbe {
            stop,
            peak,
            base,
            task,
        }
    }

    async fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.task.await;
        self.peak
            .load(Ordering::Relaxed)
            .max(rss_bytes())
            .saturating_sub(self.base)
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn mib(b: u64) -> f64 {
    b as f64 / (1 << 20) as f64
}

async fn side_by_side(backend: &str, server: &FakeServer, rounds: usize) {
    let fresh = || async {
        if backend == "postgres" {
            TestDb::postgres("ploomes_bench").await.unwrap().unwrap()
        } else {
            TestDb::sqlite().unwrap()
        }
    };
    let (mut plugin, mut resync, mut native) = (Vec::new(), Vec::new(), Vec::new());
    let (mut node, mut floor, mut pooled) = (Vec::new(), Vec::new(), Vec::new());
    let node_skipped = node_ready().err();
    let (mut plugin_rss, mut native_rss, mut requests) = (0, 0, 0);
    for _ in 0..rounds {
        let db = fresh().await;
        let p = plugin_sync(&db, server, None).await;
        let plugin_result = fingerprint(&db).await;
        plugin.push(p.sync);
        resync.push(p.resync);
        plugin_rss = plugin_rss.max(p.rss);
        requests = p.requests;
        drop(db);
        let db = fresh().await;
        let n = native_sync(&db, server).await;
        assert_eq!(
            fingerprint(&db).await,
            plugin_result,
            "the native baseline and the plugin wrote the same"
        );
        native.push(n.sync);
        native_rss = native_rss.max(n.rss);
        drop(db);
        if node_skipped.is_none() {
            let db = fresh().await;
            node.push(node_sync(&db, server).await);
        }
        floor.push(download_floor(server).await);
        // The same sync through the connector's `120/min` pool, far under quota (109 requests
        // fit in one window): what the pool's bookkeeping costs when it never has to wait.
        let db = fresh().await;
        pooled.push(plugin_sync(&db, server, Some("120/min")).await.sync);
    }
    let per_round = |a: &[Duration], b: &[Duration]| -> String {
        a.iter()
            .zip(b)
            .map(|(a, b)| format!("{:.2}", a.as_secs_f64() / b.as_secs_f64()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let floor_ratios = per_round(&plugin, &floor);
    let node_ratios = per_round(&plugin, &node);
    let ratios: Vec<String> = plugin
        .iter()
        .zip(&native)
        .map(|(p, n)| format!("{:.2}", p.as_secs_f64() / n.as_secs_f64()))
        .collect();
    let pool_ratios = per_round(&pooled, &plugin);
    let (p, r, n) = (median(plugin), median(resync), median(native));
    let f = median(floor);
    let with_pool = median(pooled);
    println!(
        "B6/B7 {backend}: plugin through a 120/min pool far under quota {:.3} s; pooled / unpooled {:.2}x (per round {pool_ratios})",
        with_pool.as_secs_f64(),
        with_pool.as_secs_f64() / p.as_secs_f64()
    );
    println!(
        "B6/B7 {backend}: download floor (the same pages fetched and parsed, nothing written) {:.3} s; plugin / floor {:.2}x (per round {floor_ratios})",
        f.as_secs_f64(),
        p.as_secs_f64() / f.as_secs_f64()
    );
    match &node_skipped {
        Some(why) => println!("B6/B7 {backend}: Node.js baseline skipped: {why}"),
        None => {
            let js = median(node);
            println!(
                "B6/B7 {backend}: Node.js script (fetch, one upsert per page, one aggregate) {:.3} s; plugin / Node {:.2}x (per round {node_ratios})",
                js.as_secs_f64(),
                p.as_secs_f64() / js.as_secs_f64()
            );
        }
    }
    println!(
        "B6/B7 {backend}: 30,000 deals, {requests} requests: plugin {:.3} s ({:.0} rows/s), native {:.3} s ({:.0} rows/s), ratio plugin/native {:.2}x (medians of {rounds})",
        p.as_secs_f64(),
        30_000.0 / p.as_secs_f64(),
        n.as_secs_f64(),
        30_000.0 / n.as_secs_f64(),
        p.as_secs_f64() / n.as_secs_f64()
    );
    println!("B6/B7 {backend}: ratio per round {}", ratios.join(", "));
    println!(
        "B8 {backend}: plugin re-sync, every row conflicting: {:.3} s ({:.0} rows/s), {:.2}x the fresh rate",
        r.as_secs_f64(),
        30_000.0 / r.as_secs_f64(),
        p.as_secs_f64() / r.as_secs_f64()
    );
    println!(
        "B15 {backend}: peak RSS above the level before the run: plugin {:.1} MiB, native {:.1} MiB",
        mib(plugin_rss),
        mib(native_rss)
    );
}

/// (limit, window) of a quota like "120/min" or "20/s".
fn parse_quota(q: &str) -> (u32, Duration) {
    let (n, unit) = q.split_once('/').expect("a quota like 120/min");
    let window = match unit.trim() {
        "s" | "sec" | "second" => Duration::from_secs(1),
        "min" | "m" | "minute" => Duration::from_secs(60),
        other => panic!("unknown quota unit {other}"),
    };
    (n.trim().parse().unwrap(), window)
}

async fn quota_bound(quota: &str, deals: usize) {
    let (limit, window) = parse_quota(quota);
    let g = Generate {
        deals,
        customers: Generate::benchmark().customers.min(deals),
        ..Generate::benchmark()
    };
    let data = PloomesData::generate(&g, KEY);
    let server = FakeServer::start(ploomes::router(data)).await;
    server.set_quota(Some(Quota::new(limit, window, QuotaAnswer::ForbiddenHtml)));
    let db = TestDb::sqlite().unwrap();
    let env = FakeEnv::with(&[("PLOOMES_API_KEY", KEY)]);
    let host = start(&db, &manifest(&server, Some(quota)), &env)
        .await
        .unwrap();
    let started = Instant::now();
    let o = host
        .runner
        .run("ploomes", RunRequest::manual())
        .await
        .unwrap();
    let wall = started.elapsed();
    assert!(o.status.is_success(), "{o:?}");
    host.runner.shutdown().await;
    let n = server.request_count();
    let refused = server
        .requests()
        .iter()
        .filter(|r| r.status() != Some(200))
        .count();
    let busiest = max_in_any_window(&server.arrival_times(), window);
    // The fewest seconds n requests can take without any window holding more than `limit`
    // starts, from an empty window; and the long-run rate floor (n ÷ quota rate).
    let exact_floor = window.mul_f64(((n as f64 / f64::from(limit)).ceil() - 1.0).max(0.0));
    let rate_floor = window.mul_f64(n as f64 / f64::from(limit));
    println!(
        "B9 quota {quota}, {deals} deals: {n} requests in {:.2} s; exact sliding-window floor {:.2} s (wall/floor {}), rate floor n/rate {:.2} s (wall/rate floor {:.3}); busiest {:?} window at the server {busiest} (quota {limit}); over-quota answers {refused}",
        wall.as_secs_f64(),
        exact_floor.as_secs_f64(),
        if exact_floor.is_zero() {
            "n/a: fits in one window".to_owned()
        } else {
            format!("{:.3}", wall.as_secs_f64() / exact_floor.as_secs_f64())
        },
        rate_floor.as_secs_f64(),
        wall.as_secs_f64() / rate_floor.as_secs_f64(),
        window,
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let rounds: usize = env_or("PLOOMES_BENCH_ROUNDS", "3").parse().unwrap();
    println!("generating 30,000 deals …");
    let data = PloomesData::generate(&Generate::benchmark(), KEY);
    let server = FakeServer::start(ploomes::router(data)).await;
    // Warm-up: the compile cache, connections, the fake's first answers.
    let db = TestDb::sqlite().unwrap();
    plugin_sync(&db, &server, None).await;
    drop(db);

    let backends = env_or("PLOOMES_BENCH_BACKENDS", "sqlite,postgres");
    if backends.contains("sqlite") {
        side_by_side("sqlite", &server, rounds).await;
    }
    if backends.contains("postgres") {
        if std::env::var(connector_tests::db::POSTGRES_ENV).is_ok() {
            side_by_side("postgres", &server, rounds).await;
        } else {
            let var = connector_tests::db::POSTGRES_ENV;
            println!("B7 skipped: {var} is not set");
        }
    }

    let quota = env_or("PLOOMES_BENCH_QUOTA", "120/min");
    if quota != "off" {
        let deals: usize = env_or("PLOOMES_BENCH_QUOTA_DEALS", "30000")
            .parse()
            .unwrap();
        quota_bound(&quota, deals).await;
    }
}
