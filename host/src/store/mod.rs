//! The host's database: SQLite (embedded default) or PostgreSQL chosen by URL, migrations, and
//! the run log. Plugin SQL goes through `capabilities::db`, never through here.

/// Runs the same sqlx expression on the host's read pool, whichever backend; both arms
/// type-check apart.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match $store {
            Store::Sqlite { host: $pool, .. } => $body,
            Store::Postgres { pool: $pool } => $body,
        }
    };
}

/// Like `on_pool!`, for statements that write: on SQLite they go through the one writer
/// connection, so the host's writes and the runs' write transactions queue in order instead of
/// racing for SQLite's lock.
macro_rules! on_writer {
    ($store:expr, $pool:ident => $body:expr) => {
        match $store {
            Store::Sqlite { writer: $pool, .. } => $body,
            Store::Postgres { pool: $pool } => $body,
        }
    };
}

mod events;
mod fires;
mod incidents;
mod pauses;
mod queue;
mod rates;
mod runs;
mod schema;
mod stats;
mod vocab;

pub use events::{RunEvent, StoredEvent};
pub use fires::{AbandonedRun, Claim, FireClaim, FireKey, FireRecord};
pub use incidents::Incident;
pub use pauses::Pause;
pub use queue::{backoff, JobFilter, JobRecord, LeasedJob};
pub use runs::{NewRun, RunFinish, RunRecord};
pub use schema::AppliedVersion;
pub use stats::{DurationHistogram, RunTotals, DURATION_BUCKETS};
pub use vocab::{QueueStatus, RunStatus, TriggerKind, UnknownName};

use crate::redact;
use anyhow::{bail, Context, Result};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a SQLite connection waits for a lock held by another process (another host or a
/// `connector-host run` on the same file) before it answers "database is locked". Within one
/// process writers queue for the writer connection instead (see [`Store`]).
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a host write (run records, heartbeats, fire claims, queue leases) waits for the
/// writer connection: the host's own bookkeeping queues rather than fails. A run's write
/// transaction waits at most until the run's deadline.
const SQLITE_WRITER_WAIT: Duration = Duration::from_secs(3600);

/// The host's own migrations for `backend`. Versions 2 and 3 once created connector tables and
/// are gone (those tables now come with their plugins, `store::schema`): a database that
/// applied them is not refused for it.
fn host_migrations(backend: Backend) -> sqlx::migrate::Migrator {
    let mut migrator = match backend {
        Backend::Sqlite => sqlx::migrate!("../migrations/sqlite"),
        Backend::Postgres => sqlx::migrate!("../migrations/postgres"),
    };
    migrator.set_ignore_missing(true);
    migrator
}

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
    /// SQLite has one writer at a time. Rather than let connections race for its lock (a
    /// transaction that read first cannot upgrade to a writer once another connection has
    /// committed, and the busy timeout does not apply to that), every write in this process
    /// goes through one writer connection, whose pool hands it out first come, first served:
    /// the host's own writes and the runs' write transactions queue fairly. Reads use the other
    /// pools and never wait for the writer (WAL).
    Sqlite {
        /// The host's reads (run log, status, metrics).
        host: SqlitePool,
        /// The one connection that writes: host bookkeeping and run transactions.
        writer: SqlitePool,
        /// Plugins' reads outside a write transaction (read-only connections).
        plugins: SqlitePool,
        /// Which run holds the writer, for the message of whoever waits for it.
        hold: Arc<WriterHold>,
        /// The file that shares rate-limit windows between processes using this database
        /// (`store::rates`); none for an in-memory database.
        rates: Option<std::path::PathBuf>,
    },
    /// PostgreSQL needs no such split: a run's deadline is a `SET LOCAL statement_timeout`.
    Postgres {
        /// Everything.
        pool: PgPool,
    },
}

/// The most the SQLite write-ahead log keeps on disk once checkpointed (bytes).
const SQLITE_WAL_KEPT: u64 = 16 << 20;

/// How often the SQLite write-ahead log is checkpointed into the database file.
const SQLITE_CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// Copies the SQLite write-ahead log into the database file every second, beside the writers
/// instead of inside their commits. With SQLite's own automatic checkpoints a commit that fills
/// the log past 1,000 pages copies it before returning; a sync that commits every page of
/// randomly keyed rows paid that again and again (half its time in ploomes' benchmark). A
/// passive checkpoint never blocks a writer or a reader. Ends when the store is dropped or
/// closed; the last connection to close checkpoints what is left.
fn checkpoint_in_background(host: SqlitePool, alive: std::sync::Weak<WriterHold>) {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(SQLITE_CHECKPOINT_EVERY).await;
            if alive.upgrade().is_none() || host.is_closed() {
                break;
            }
            if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                .execute(&host)
                .await
            {
                if host.is_closed() {
                    break;
                }
                tracing::debug!(error = %e, "the SQLite checkpoint failed; trying again");
            }
        }
    });
}

/// A pooled PostgreSQL connection idle this long is pinged before it is handed out.
const IDLE_PING_AFTER: Duration = Duration::from_secs(2);

impl Store {
    /// Connects to `url` (`sqlite://path` or `postgres://…`), creating a SQLite file if missing.
    pub async fn connect(url: &str) -> Result<Store> {
        if url.starts_with("sqlite:") {
            let opts = SqliteConnectOptions::from_str(url)
                .with_context(|| {
                    format!("database url {}: not a valid sqlite url", redact::url(url))
                })?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(SQLITE_BUSY_TIMEOUT)
                .foreign_keys(true)
                // No commit pays for a checkpoint: `checkpoint_in_background` does them. What
                // the log leaves on disk after one is capped.
                .pragma("wal_autocheckpoint", "0")
                .pragma("journal_size_limit", SQLITE_WAL_KEPT.to_string());
            let file = opts.get_filename();
            let rates =
                (!file.as_os_str().is_empty() && file != Path::new(":memory:")).then(|| {
                    let mut name = file.as_os_str().to_owned();
                    name.push(".rate-limits");
                    std::path::PathBuf::from(name)
                });
            let open = |e| {
                anyhow::Error::new(e)
                    .context(format!("cannot open sqlite database {}", redact::url(url)))
            };
            // The writer connects first: it creates the file and switches it to WAL.
            let writer = SqlitePoolOptions::new()
                .max_connections(1)
                .acquire_timeout(SQLITE_WRITER_WAIT)
                .connect_with(opts.clone())
                .await
                .map_err(open)?;
            let host = SqlitePoolOptions::new()
                .max_connections(4)
                .connect_with(opts.clone())
                .await
                .map_err(open)?;
            let plugins = SqlitePoolOptions::new()
                .max_connections(16)
                .connect_with(opts.read_only(true))
                .await
                .map_err(open)?;
            let hold = Arc::default();
            checkpoint_in_background(host.clone(), Arc::downgrade(&hold));
            Ok(Store::Sqlite {
                host,
                writer,
                plugins,
                hold,
                rates,
            })
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let opts = PgConnectOptions::from_str(url).with_context(|| {
                format!(
                    "database url {}: not a valid postgres url",
                    redact::url(url)
                )
            })?;
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(10))
                // A connection in steady use is not pinged before every use (a round trip
                // per transaction); one that sat idle is, so a restarted server costs no run.
                .test_before_acquire(false)
                .before_acquire(|conn, meta| {
                    Box::pin(async move {
                        if meta.idle_for >= IDLE_PING_AFTER {
                            sqlx::Connection::ping(conn).await?;
                        }
                        Ok(true)
                    })
                })
                .connect_with(opts)
                .await
                .with_context(|| format!("cannot connect to postgres at {}", redact::url(url)))?;
            Ok(Store::Postgres { pool })
        } else {
            bail!(
                "database url {}: expected sqlite://PATH or postgres://USER@HOST/DB",
                redact::url(url)
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
            Store::Sqlite { writer, .. } => host_migrations(Backend::Sqlite).run(writer).await,
            Store::Postgres { pool } => host_migrations(Backend::Postgres).run(pool).await,
        }
        .context("database migration failed")
    }

    /// Closes every pool, waiting for connections to be returned.
    pub async fn close(&self) {
        match self {
            Store::Sqlite {
                host,
                writer,
                plugins,
                ..
            } => {
                plugins.close().await;
                host.close().await;
                writer.close().await;
            }
            Store::Postgres { pool } => pool.close().await,
        }
    }
}

/// Which run of this process holds SQLite's writer connection, and since when.
#[derive(Debug, Default)]
pub struct WriterHold(Mutex<Option<(Arc<str>, Instant)>>);

impl WriterHold {
    /// Records that `who` took the writer now.
    pub fn take(&self, who: Arc<str>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some((who, Instant::now()));
    }

    /// Records that `who` let the writer go (unless someone else holds it by now).
    pub fn release(&self, who: &Arc<str>) {
        let mut hold = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if hold.as_ref().is_some_and(|(w, _)| Arc::ptr_eq(w, who)) {
            *hold = None;
        }
    }

    /// "run 12 of connector kit, for 34s", when a run holds it.
    pub fn describe(&self) -> Option<String> {
        let hold = self.0.lock().unwrap_or_else(|p| p.into_inner());
        hold.as_ref()
            .map(|(who, since)| format!("{who}, for {}s", since.elapsed().as_secs()))
    }
}

/// SQL text over either backend, for tests, benchmarks and demos that look at tables directly
/// (the host's own code names its SQL per backend where they differ).
#[doc(hidden)]
impl Store {
    /// Executes `sql` (through the writer on SQLite); the rows it affected.
    pub async fn execute_sql(&self, sql: &str) -> Result<u64> {
        on_writer!(self, pool => Ok(sqlx::query(sql).execute(pool).await?.rows_affected()))
    }

    /// Every row of `sql`, decoded as `T` (a tuple, say).
    pub async fn fetch_as<T>(&self, sql: &str) -> Result<Vec<T>>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
            + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>
            + Send
            + Unpin,
    {
        on_pool!(self, pool => Ok(sqlx::query_as(sql).fetch_all(pool).await?))
    }

    /// The one value `sql` selects.
    pub async fn fetch_scalar<T>(&self, sql: &str) -> Result<T>
    where
        T: for<'r> sqlx::Decode<'r, sqlx::Sqlite>
            + sqlx::Type<sqlx::Sqlite>
            + for<'r> sqlx::Decode<'r, sqlx::Postgres>
            + sqlx::Type<sqlx::Postgres>
            + Send
            + Unpin,
    {
        on_pool!(self, pool => Ok(sqlx::query_scalar(sql).fetch_one(pool).await?))
    }

    /// The column names and rows of `sql`, every value as text (NULL as empty): for printing a
    /// query's answer.
    pub async fn fetch_text(&self, sql: &str) -> Result<(Vec<String>, Vec<Vec<String>>)> {
        use sqlx::{Column, Row};
        fn cell<'r, R: Row>(row: &'r R, i: usize) -> String
        where
            usize: sqlx::ColumnIndex<R>,
            Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
            Option<i64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
            Option<f64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
        {
            if let Ok(v) = row.try_get::<Option<String>, _>(i) {
                return v.unwrap_or_default();
            }
            if let Ok(v) = row.try_get::<Option<i64>, _>(i) {
                return v.map_or(String::new(), |v| v.to_string());
            }
            row.try_get::<Option<f64>, _>(i)
                .ok()
                .flatten()
                .map_or(String::new(), |v| v.to_string())
        }
        on_pool!(self, pool => {
            let rows = sqlx::query(sql).fetch_all(pool).await?;
            let header = rows.first().map_or(Vec::new(), |r| {
                r.columns().iter().map(|c| c.name().to_owned()).collect()
            });
            let cells = rows
                .iter()
                .map(|r| (0..r.len()).map(|i| cell(r, i)).collect())
                .collect();
            Ok((header, cells))
        })
    }
}
