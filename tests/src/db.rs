//! Fresh databases for tests: a SQLite file in a temporary directory, and — when
//! `TEST_POSTGRES_URL` is set — a new PostgreSQL database created for the test and dropped after.
//! Without the variable, PostgreSQL cases say they are skipped; with it, an unreachable server
//! fails the test.

use anyhow::{Context, Result};
use sqlx::Connection;
use std::sync::atomic::{AtomicU32, Ordering};

/// The environment variable naming an admin URL of a PostgreSQL server for tests.
pub const POSTGRES_ENV: &str = "TEST_POSTGRES_URL";

/// One fresh database.
pub struct TestDb {
    /// `sqlite` or `postgres`.
    pub backend: &'static str,
    /// The URL the host should use.
    pub url: String,
    admin_url: Option<String>,
    name: String,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    /// A new SQLite database file.
    pub fn sqlite() -> Result<TestDb> {
        let dir = tempfile::tempdir()?;
        let url = format!("sqlite://{}", dir.path().join("test.db").display());
        Ok(TestDb {
            backend: "sqlite",
            url,
            admin_url: None,
            name: String::new(),
            _dir: Some(dir),
        })
    }

    /// A new PostgreSQL database, or `None` (with a note on stderr) without `TEST_POSTGRES_URL`.
    pub async fn postgres(test: &str) -> Result<Option<TestDb>> {
        let Ok(admin_url) = std::env::var(POSTGRES_ENV) else {
            eprintln!("skipped: {test} on postgres ({POSTGRES_ENV} is not set)");
            return Ok(None);
        };
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "ch_test_{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            test.chars()
                .filter(|c| c.is_ascii_alphanumeric())
                .take(20)
                .collect::<String>()
        )
        .to_ascii_lowercase();
        let mut admin = sqlx::PgConnection::connect(&admin_url)
            .await
            .with_context(|| format!("{POSTGRES_ENV} is set but PostgreSQL is unreachable"))?;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await?;
        admin.close().await?;
        let url = replace_database(&admin_url, &name);
        Ok(Some(TestDb {
            backend: "postgres",
            url,
            admin_url: Some(admin_url),
            name,
            _dir: None,
        }))
    }

    /// Every backend available to this test run: SQLite always, PostgreSQL when configured.
    pub async fn all(test: &str) -> Result<Vec<TestDb>> {
        let mut dbs = vec![TestDb::sqlite()?];
        dbs.extend(TestDb::postgres(test).await?);
        Ok(dbs)
    }
}

impl Drop for TestDb {
    /// Drops a PostgreSQL test database, also when the test panicked (SQLite's goes with its
    /// temporary directory). Runs on its own thread and runtime: `Drop` cannot await.
    fn drop(&mut self) {
        let Some(admin_url) = self.admin_url.take() else {
            return;
        };
        let name = std::mem::take(&mut self.name);
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(async {
                let mut admin = sqlx::PgConnection::connect(&admin_url).await?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut admin)
                    .await?;
                admin.close().await?;
                anyhow::Ok(())
            })
        })
        .join();
        if let Ok(Err(e)) = dropped {
            eprintln!("warning: could not drop a test database: {e}");
        }
    }
}

/// Tables whose rows a dry run legitimately changes: the run log records the run and its log
/// events, and the shared rate-limit windows count its real (read) requests.
pub const RUN_RECORDS: &[&str] = &["runs", "run_events", "rate_limit_grants"];

/// Every table of the database at `url` but those in `skip`: each table's rows as text, sorted.
/// Two dumps compare equal exactly when the database holds the same data.
pub async fn dump(
    url: &str,
    skip: &[&str],
) -> Result<std::collections::BTreeMap<String, Vec<String>>> {
    use sqlx::Row;
    let mut out = std::collections::BTreeMap::new();
    if url.starts_with("sqlite") {
        let mut conn = sqlx::SqliteConnection::connect(url).await?;
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
        )
        .fetch_all(&mut conn)
        .await?;
        for table in tables.into_iter().filter(|t| !skip.contains(&t.as_str())) {
            let columns: Vec<String> = sqlx::query(&format!("PRAGMA table_info({table})"))
                .fetch_all(&mut conn)
                .await?
                .iter()
                .map(|r| r.get::<String, _>(1))
                .collect();
            let row = columns
                .iter()
                .map(|c| format!("quote({c})"))
                .collect::<Vec<_>>()
                .join(" || '|' || ");
            let mut rows: Vec<String> = sqlx::query_scalar(&format!("SELECT {row} FROM {table}"))
                .fetch_all(&mut conn)
                .await?;
            rows.sort();
            out.insert(table, rows);
        }
        conn.close().await?;
    } else {
        let mut conn = sqlx::PgConnection::connect(url).await?;
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT table_name::text FROM information_schema.tables \
             WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
        )
        .fetch_all(&mut conn)
        .await?;
        for table in tables.into_iter().filter(|t| !skip.contains(&t.as_str())) {
            let mut rows: Vec<String> =
                sqlx::query_scalar(&format!("SELECT t::text FROM {table} t"))
                    .fetch_all(&mut conn)
                    .await?;
            rows.sort();
            out.insert(table, rows);
        }
        conn.close().await?;
    }
    Ok(out)
}

/// Runs `sql` (one statement, no parameters) on the database at `url`.
pub async fn execute(url: &str, sql: &str) -> Result<u64> {
    if url.starts_with("sqlite") {
        let mut conn = sqlx::SqliteConnection::connect(url).await?;
        let n = sqlx::query(sql).execute(&mut conn).await?.rows_affected();
        conn.close().await?;
        Ok(n)
    } else {
        let mut conn = sqlx::PgConnection::connect(url).await?;
        let n = sqlx::query(sql).execute(&mut conn).await?.rows_affected();
        conn.close().await?;
        Ok(n)
    }
}

/// The first column of the first row of `sql` on the database at `url`, as an integer.
pub async fn scalar(url: &str, sql: &str) -> Result<i64> {
    if url.starts_with("sqlite") {
        let mut conn = sqlx::SqliteConnection::connect(url).await?;
        let n: i64 = sqlx::query_scalar(sql).fetch_one(&mut conn).await?;
        conn.close().await?;
        Ok(n)
    } else {
        let mut conn = sqlx::PgConnection::connect(url).await?;
        let n: i64 = sqlx::query_scalar(sql).fetch_one(&mut conn).await?;
        conn.close().await?;
        Ok(n)
    }
}

/// `postgres://u@h:p/db?x` with `db` replaced by `name`.
fn replace_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let after_scheme = base.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match base[after_scheme..].find('/') {
        Some(slash) => &base[..after_scheme + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn replace_database_keeps_everything_else() {
        assert_eq!(
            super::replace_database("postgres://postgres@127.0.0.1:5432/postgres", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            super::replace_database("postgres://u@h/db?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
    }
}
