//! Database benchmarks (PERFORMANCE.md B7, B8, B12), side by side in one process:
//!
//! - upsert of ROWS rows × 10 columns from a plugin (`db.upsert`, 1,000 rows per call) against
//!   the same statements sent by native Rust through sqlx (multi-row `INSERT … ON CONFLICT` on
//!   SQLite, `INSERT … SELECT … FROM UNNEST` on PostgreSQL), built by the host's builders; fresh
//!   inserts and a second pass where every row conflicts; SQLite and PostgreSQL;
//! - queue throughput: JOBS no-op jobs enqueued by a plugin, then delivered by one worker and by
//!   WORKERS (default 4) at once, each job in
//!   a fresh instance.
//!
//! `cargo bench -p connector-tests --bench db` (ROWS and JOBS from the environment; PostgreSQL
//! from TEST_POSTGRES_URL). Figures go to BENCHMARKS.md.

use connector_host::bindings::connector::host::db::Value;
use connector_host::capabilities::db::{bind_unnest, upsert_sql, upsert_unnest_sql, ColumnType};
use connector_host::runner::RunRequest;
use connector_host::store::{Backend, Store};
use connector_tests::db::TestDb;
use connector_tests::host::{start, FakeEnv, TestHost};
use std::sync::Arc;
use std::time::{Duration, Instant};

const COLUMNS: [&str; 10] = [
    "id", "name", "qty", "price", "active", "note", "city", "stage", "score", "at",
];

fn env_or(name: &str, default: i64) -> i64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn create_table(store: &Store) {
    let (sqlite, pg) = (
        "CREATE TABLE bench_rows (id INTEGER PRIMARY KEY, name TEXT, qty INTEGER, price REAL, \
         active BOOLEAN, note TEXT, city TEXT, stage INTEGER, score REAL, at DATETIME)",
        "CREATE TABLE bench_rows (id BIGINT PRIMARY KEY, name TEXT, qty BIGINT, price DOUBLE PRECISION, \
         active BOOLEAN, note TEXT, city TEXT, stage BIGINT, score DOUBLE PRECISION, at TIMESTAMPTZ)",
    );
    let sql = match store.backend() {
        Backend::Sqlite => sqlite,
        Backend::Postgres => pg,
    };
    store.execute_sql(sql).await.unwrap();
}

/// The statement the host builds for `db.upsert` on SQLite (its own builder).
fn sqlite_upsert_sql(rows: usize) -> String {
    let columns: Vec<String> = COLUMNS.iter().map(|c| (*c).to_owned()).collect();
    upsert_sql(
        "bench_rows",
        &columns,
        &["id".to_owned()],
        rows,
        Backend::Sqlite,
    )
}

/// Binds row `i` of round `round` (the values the testkit's upsert-bench job writes) to `q`.
macro_rules! bind_row {
    ($q:expr, $i:expr, $round:expr, $at:expr) => {{
        let i: i64 = $i;
        $q.bind(i)
            .bind(format!("customer {i} r{}", $round))
            .bind(i % 97)
            .bind(i as f64 * 1.25)
            .bind(i % 2 == 0)
            .bind("a short note about the deal")
            .bind("São Paulo")
            .bind(i % 7)
            .bind(0.5f64)
            .bind($at)
    }};
}

/// The same rows the testkit's upsert-bench job writes, through sqlx, in one transaction.
async fn native(store: &Store, rows: i64, round: i64) -> Duration {
    let at: chrono::DateTime<chrono::Utc> = "2025-07-10T16:22:31Z".parse().unwrap();
    let started = Instant::now();
    match store {
        Store::Sqlite { host, .. } => {
            let mut tx = host.begin().await.unwrap();
            let mut start = 0;
            while start < rows {
                let end = (start + 1000).min(rows);
                let sql = sqlite_upsert_sql((end - start) as usize);
                let mut q = sqlx::query(&sql);
                for i in start..end {
                    q = bind_row!(q, i, round, at);
                }
                q.execute(&mut *tx).await.unwrap();
                start = end;
            }
            tx.commit().await.unwrap();
        }
        Store::Postgres { pool } => {
            // The host's PostgreSQL upsert: one array per column.
            let columns: Vec<String> = COLUMNS.iter().map(|c| (*c).to_owned()).collect();
            let mut tx = pool.begin().await.unwrap();
            let mut start = 0;
            while start < rows {
                let end = (start + 1000).min(rows);
                let chunk: Vec<Vec<Value>> = (start..end)
                    .map(|i| {
                        vec![
                            Value::Integer(i),
                            Value::Text(format!("customer {i} r{round}")),
                            Value::Integer(i % 97),
                            Value::Real(i as f64 * 1.25),
                            Value::Boolean(i % 2 == 0),
                            Value::Text("a short note about the deal".into()),
                            Value::Text("São Paulo".into()),
                            Value::Integer(i % 7),
                            Value::Real(0.5),
                            Value::Timestamp("2025-07-10T16:22:31Z".into()),
                        ]
                    })
                    .collect();
                let types = ColumnType::of_rows(&chunk, columns.len()).unwrap();
                let sql = upsert_unnest_sql("bench_rows", &columns, &["id".to_owned()], &types);
                bind_unnest(&sql, &chunk, &types)
                    .execute(&mut *tx)
                    .await
                    .unwrap();
                start = end;
            }
            tx.commit().await.unwrap();
        }
    }
    started.elapsed()
}

/// On PostgreSQL, the same rows as multi-row `VALUES` statements (the host's statement before
/// it sent arrays), prepared and cached by sqlx: the UNNEST path's own baseline.
async fn native_values_pg(store: &Store, rows: i64, round: i64) -> Duration {
    let Store::Postgres { pool } = store else {
        unreachable!("PostgreSQL only")
    };
    let at: chrono::DateTime<chrono::Utc> = "2025-07-10T16:22:31Z".parse().unwrap();
    let columns: Vec<String> = COLUMNS.iter().map(|c| (*c).to_owned()).collect();
    let started = Instant::now();
    let mut tx = pool.begin().await.unwrap();
    let mut start = 0;
    while start < rows {
        let end = (start + 1000).min(rows);
        let sql = upsert_sql(
            "bench_rows",
            &columns,
            &["id".to_owned()],
            (end - start) as usize,
            Backend::Postgres,
        );
        let mut q = sqlx::query(&sql);
        for i in start..end {
            q = bind_row!(q, i, round, at);
        }
        q.execute(&mut *tx).await.unwrap();
        start = end;
    }
    tx.commit().await.unwrap();
    started.elapsed()
}

async fn plugin(host: &TestHost, rows: i64, round: i64) -> Duration {
    let _ = (rows, round);
    let name = format!("r{round}");
    let started = Instant::now();
    let o = host
        .runner
        .run(
            &name,
            RunRequest {
                job: Some("upsert-bench".into()),
                ..RunRequest::manual()
            },
        )
        .await
        .unwrap();
    assert!(o.status.is_success(), "{o:?}");
    started.elapsed()
}

async fn upserts(db: &TestDb, rows: i64) {
    let connectors: String = (0..2)
        .map(|round| {
            format!(
                "[connectors.r{round}]\nplugin = {{plugin:testkit}}\ntables = [\"bench_rows\", \"kit_items\"]\ntimeout = \"30m\"\n\
                 memory = \"1GiB\"\nsettings = {{ rows = {rows}, batch = 1000, round = {round} }}\n"
            )
        })
        .collect();
    let host = start(db, &connectors, &FakeEnv::default()).await.unwrap();
    let store = host.runner.store.clone();
    create_table(&store).await;
    let rate = |d: Duration| rows as f64 / d.as_secs_f64();
    // Alternate plugin and native on the same table: fresh inserts, then every row conflicting.
    let mut results = Vec::new();
    let mut values = Vec::new();
    for round in 0..2 {
        drop_rows(&store).await;
        let p_fresh = plugin(&host, rows, 0).await;
        let p_conflict = plugin(&host, rows, 1).await;
        drop_rows(&store).await;
        let n_fresh = native(&store, rows, 0).await;
        let n_conflict = native(&store, rows, 1).await;
        results.push((p_fresh, p_conflict, n_fresh, n_conflict));
        if store.backend() == Backend::Postgres {
            drop_rows(&store).await;
            let v_fresh = native_values_pg(&store, rows, 0).await;
            let v_conflict = native_values_pg(&store, rows, 1).await;
            values.push((v_fresh, v_conflict));
        }
        let _ = round;
    }
    if let (Some(vf), Some(vc)) = (
        values.iter().map(|v| v.0).min(),
        values.iter().map(|v| v.1).min(),
    ) {
        println!(
            "{:<8} native multi-row VALUES (prepared): fresh {:>8.0} rows/s, conflicting {:>8.0} rows/s",
            db.backend,
            rate(vf),
            rate(vc)
        );
    }
    let best = |f: fn(&(Duration, Duration, Duration, Duration)) -> Duration| {
        results.iter().map(f).min().unwrap()
    };
    let (pf, pc, nf, nc) = (best(|r| r.0), best(|r| r.1), best(|r| r.2), best(|r| r.3));
    println!(
        "{:<8} {rows} rows x 10 cols: plugin fresh {:>8.0} rows/s, conflicting {:>8.0} rows/s ({:.2} of fresh); \
         native fresh {:>8.0} rows/s, conflicting {:>8.0} rows/s; plugin/native time: fresh {:.2}x, conflicting {:.2}x",
        db.backend, rate(pf), rate(pc), pf.as_secs_f64() / pc.as_secs_f64(), rate(nf), rate(nc),
        pf.as_secs_f64() / nf.as_secs_f64(), pc.as_secs_f64() / nc.as_secs_f64()
    );
    host.runner.shutdown().await;
}

async fn drop_rows(store: &Store) {
    let sql = match store.backend() {
        Backend::Sqlite => "DELETE FROM bench_rows",
        Backend::Postgres => "TRUNCATE bench_rows",
    };
    store.execute_sql(sql).await.unwrap();
}

async fn queue(db: &TestDb, jobs: i64, workers: usize) {
    let text = format!(
        "[connectors.kit]\nplugin = {{plugin:testkit}}\ntables = [\"kit_items\"]\ntimeout = \"10m\"\nsettings = {{ jobs = {jobs} }}\n"
    );
    let host = start(db, &text, &FakeEnv::default()).await.unwrap();
    let runner = Arc::new(host.runner);
    // One worker, then `workers` at once (as `serve` runs them), on the same host and data.
    for n in [1, workers] {
        let started = Instant::now();
        let o = runner
            .run(
                "kit",
                RunRequest {
                    job: Some("enqueue-many".into()),
                    ..RunRequest::manual()
                },
            )
            .await
            .unwrap();
        assert!(o.status.is_success(), "{o:?}");
        let enqueue = started.elapsed();
        let started = Instant::now();
        let delivered = futures::future::join_all((0..n).map(|w| {
            let runner = runner.clone();
            async move {
                runner
                    .drain_queue(&format!("bench-{w}"), jobs as usize + 1)
                    .await
                    .unwrap()
                    .len()
            }
        }))
        .await;
        let drain = started.elapsed();
        assert_eq!(delivered.iter().sum::<usize>() as i64, jobs);
        println!(
            "{:<8} queue: {jobs} no-op jobs enqueued by one run in {:?} ({:.0}/s); delivered by {n} worker(s) in {:?}: {:.0} jobs/s",
            db.backend,
            enqueue,
            jobs as f64 / enqueue.as_secs_f64(),
            drain,
            jobs as f64 / drain.as_secs_f64()
        );
    }
    runner.shutdown().await;
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let rows = env_or("ROWS", 100_000);
    let jobs = env_or("JOBS", 10_000);
    let workers = env_or("WORKERS", 4) as usize;
    for db in TestDb::all("bench_db").await.unwrap() {
        if rows > 0 {
            upserts(&db, rows).await;
        }
        queue(&db, jobs, workers).await;
    }
}
