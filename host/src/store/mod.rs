//! The host's database: SQLite (embedded default) or PostgreSQL chosen by URL, migrations, and
//! the run log. Plugin SQL goes through `capabilities::db`, never through here.

/// Runs the same sqlx expression on the host pool, whichever backend; both arms type-check apart.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match $store {
            Store::Sqlite { host: $pool, .. } => $body,
            Store::Postgres { pool: $pool } => $body,
        }
    };
}

mod fires;
mod queue;
mod rates;
mod runs;
mod stats;

pub use fires::{AbandonedRun, Claim, FireClaim, FireKey};
pub use queue::{backoff, JobFilter, JobRecord, LeasedJob};
pub use runs::{NewRun, RunFinish, RunRecord, RunStatus};
pub use stats::{DurationHistogram, RunTotals, DURATION_BUCKETS};

use anyhow::{bail, Context, Result};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::str::FromStr;
use std::time::Duration;

/// How long a SQLite connection waits for the write lock before it answers "database is locked".
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(30);

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

/// Which database engine a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite (one writer at a time).
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// Connection pools to the host database. Cheap to clone.
#[derive(Clone, Debug)]
pub enum Store {
    /// SQLite keeps two pools on one file: the host's own (run log) and the plugins'. Plugin
    /// connections carry a per-run progress handler that interrupts queries past the run's
    /// deadline, and keeping them apart means such a handler never touches host queries.
    Sqlite {
        /// Host bookkeeping.
        host: SqlitePool,
        /// Plugin transactions.
        plugins: SqlitePool,
    },
    /// PostgreSQL needs no such split: a run's deadline is a `SET LOCAL statement_timeout`.
    Postgres {
        /// Everything.
        pool: PgPool,
    },
}

impl Store {
    /// Connects to `url` (`sqlite://path` or `postgres://…`), creating a SQLite file if missing.
    pub async fn connect(url: &str) -> Result<Store> {
        if url.starts_with("sqlite:") {
            let opts = SqliteConnectOptions::from_str(url)
                .with_context(|| {
                    format!("database url {}: not a valid sqlite url", redact_url(url))
                })?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(SQLITE_BUSY_TIMEOUT)
                .foreign_keys(true);
            let host = SqlitePoolOptions::new()
                .max_connections(4)
                .connect_with(opts.clone())
                .await
                .with_context(|| format!("cannot open sqlite database {}", redact_url(url)))?;
            let plugins = SqlitePoolOptions::new()
                .max_connections(16)
                .connect_with(opts)
                .await
                .with_context(|| format!("cannot open sqlite database {}", redact_url(url)))?;
            Ok(Store::Sqlite { host, plugins })
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let opts = PgConnectOptions::from_str(url).with_context(|| {
                format!("database url {}: not a valid postgres url", redact_url(url))
            })?;
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(opts)
                .await
                .with_context(|| format!("cannot connect to postgres at {}", redact_url(url)))?;
            Ok(Store::Postgres { pool })
        } else {
            bail!(
                "database url {}: expected sqlite://PATH or postgres://USER@HOST/DB",
                redact_url(url)
            )
        }
    }

    /// The engine behind this store.
    pub fn backend(&self) -> Backend {
        match self {
            Store::Sqlite { .. } => Backend::Sqlite,
            Store::Postgres { .. } => Backend::Postgres,
        }
    }

    /// Applies pending migrations; safe to call at every start.
    pub async fn migrate(&self) -> Result<()> {
        match self {
            Store::Sqlite { host, .. } => SQLITE_MIGRATIONS.run(host).await,
            Store::Postgres { pool } => POSTGRES_MIGRATIONS.run(pool).await,
        }
        .context("database migration failed")
    }

    /// Closes every pool, waiting for connections to be returned.
    pub async fn close(&self) {
        match self {
            Store::Sqlite { host, plugins } => {
                plugins.close().await;
                host.close().await;
            }
            Store::Postgres { pool } => pool.close().await,
        }
    }
}

/// The URL with any password replaced, safe for error messages and logs.
pub fn redact_url(url: &str) -> String {
    // scheme://user:password@host/... → scheme://user:***@host/...
    if let Some(scheme_end) = url.find("://") {
        let rest = &url[scheme_end + 3..];
        let authority_end = rest.find('/').unwrap_or(rest.len());
        let authority = &rest[..authority_end];
        if let Some(at) = authority.rfind('@') {
            let userinfo = &authority[..at];
            if let Some(colon) = userinfo.find(':') {
                return format!(
                    "{}{}:***{}",
                    &url[..scheme_end + 3],
                    &userinfo[..colon],
                    &rest[at..]
                );
            }
        }
    }
    url.to_owned()
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn redact_url_hides_passwords_only() {
        assert_eq!(
            redact_url("postgres://app:hunter2@db:5432/x"),
            "postgres://app:***@db:5432/x"
        );
        assert_eq!(redact_url("postgres://app@db/x"), "postgres://app@db/x");
        assert_eq!(
            redact_url("sqlite://connectors.db"),
            "sqlite://connectors.db"
        );
    }
}
