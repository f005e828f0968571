//! The run transaction: the one database transaction that the `db`, `state` and `queue`
//! capabilities of a call share, so a run's rows, its cursor and its enqueued jobs become
//! durable together (at a checkpoint or a successful end) or not at all.
//!
//! What it guarantees, on both backends:
//! - **A dry run writes nothing.** Its checkpoints commit nothing; the end rolls everything back.
//! - **Nothing reaches the database outside the transaction.** An error that kills the
//!   transaction (SQLite rolls back by itself on an interrupt, a busy or I/O error; PostgreSQL
//!   aborts on any error) poisons it: every later call answers that error without touching the
//!   database, and the run cannot commit.
//! - **A plugin statement's failure is its own.** On PostgreSQL each plugin statement runs
//!   behind a savepoint, so a constraint or type error does not abort the transaction.
//! - **Writers queue, they do not fail.** On SQLite the transaction begins `IMMEDIATE` on the
//!   store's writer connection at the first write, waiting its turn (until the run's deadline);
//!   reads before that run on read-only connections and see what is committed, as every
//!   statement does under PostgreSQL's READ COMMITTED. A read-then-write transaction never has
//!   to upgrade a stale snapshot (which SQLite refuses at once with "database is locked").
//! - **The deadline holds inside the database too**: `statement_timeout` on PostgreSQL, a
//!   progress handler on SQLite.

use crate::bindings::WitError;
use crate::store::{Store, WriterHold};
use sqlx::error::DatabaseError;
use sqlx::pool::PoolConnection;
use sqlx::{Executor, PgConnection, Postgres, Sqlite, SqliteConnection, Transaction};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// SQLite's progress handler runs every this many virtual-machine steps.
const SQLITE_PROGRESS_STEPS: i32 = 10_000;

/// The savepoint each plugin statement on PostgreSQL runs behind.
const SAVEPOINT: &str = "plugin_statement";

/// What a statement is about to do, which decides where it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// A plugin's `SELECT`: outside a write transaction it needs none (SQLite).
    PluginRead,
    /// A plugin's `INSERT`, `UPDATE` or `DELETE`: behind a savepoint on PostgreSQL.
    PluginWrite,
    /// Another statement of the same plugin call (an upsert's next chunk): behind the same
    /// savepoint, so the call fails as a whole.
    PluginWriteContinued,
    /// A read of the host's own (state).
    HostRead,
    /// A write of the host's own (state, queue): its failure poisons the transaction.
    HostWrite,
}

impl Access {
    fn writes(self) -> bool {
        !matches!(self, Access::PluginRead | Access::HostRead)
    }
    fn plugin(self) -> bool {
        !matches!(self, Access::HostRead | Access::HostWrite)
    }
}

/// A connection to run one statement on.
pub enum Conn<'a> {
    /// The run's SQLite write transaction.
    SqliteTx(&'a mut SqliteConnection),
    /// A read-only SQLite connection, for one statement outside a write transaction.
    SqliteRead(Box<PoolConnection<Sqlite>>),
    /// The run's PostgreSQL transaction.
    Postgres(&'a mut PgConnection),
}

/// Runs the same sqlx expression on whichever connection a [`Conn`] holds; `$c` is a
/// `&mut SqliteConnection` in the SQLite arms and a `&mut PgConnection` in the other.
#[macro_export]
#[doc(hidden)]
macro_rules! on_conn {
    ($conn:expr, $c:ident => $body:expr) => {
        match $conn {
            $crate::capabilities::tx::Conn::SqliteTx($c) => $body,
            $crate::capabilities::tx::Conn::SqliteRead(mut pooled) => {
                let $c: &mut sqlx::SqliteConnection = &mut **pooled;
                $body
            }
            $crate::capabilities::tx::Conn::Postgres($c) => $body,
        }
    };
}

/// A progress handler's deadline. It stays in force until [`Armed::disarm`]: a statement still
/// running when its caller went away is interrupted at the deadline all the same.
pub struct Armed(Arc<AtomicBool>);

impl Armed {
    /// Stops interrupting: the connection goes on to serve statements without this deadline.
    fn disarm(&self) {
        self.0.store(false, Ordering::Relaxed);
    }
}

/// Interrupts the connection's statements past `deadline` until disarmed (or re-armed).
async fn arm(conn: &mut SqliteConnection, deadline: Instant) -> Result<Armed, sqlx::Error> {
    let armed = Arc::new(AtomicBool::new(true));
    let flag = armed.clone();
    conn.lock_handle()
        .await?
        .set_progress_handler(SQLITE_PROGRESS_STEPS, move || {
            !flag.load(Ordering::Relaxed) || Instant::now() < deadline
        });
    Ok(Armed(armed))
}

/// The run's write transaction on SQLite's writer connection, begun and ended by hand (sqlx's
/// own transaction type loses track when SQLite rolls back by itself). Dropped while open (the
/// call was cut off), it closes the connection, which rolls the transaction back, rather than
/// hand a connection in the middle of a transaction back to the pool.
struct SqliteWrite {
    conn: Option<PoolConnection<Sqlite>>,
    armed: Option<Armed>,
    _hold: HoldGuard,
}

impl SqliteWrite {
    fn conn(&mut self) -> &mut SqliteConnection {
        self.conn.as_mut().expect("open until finished")
    }

    /// Commits or rolls back. After a failure the connection is closed, not reused.
    async fn finish(mut self, commit: bool) -> Result<(), sqlx::Error> {
        let sql = if commit { "COMMIT" } else { "ROLLBACK" };
        let result = self.conn().execute(sqlx::raw_sql(sql)).await.map(drop);
        if result.is_ok() {
            if let Some(armed) = self.armed.take() {
                armed.disarm();
            }
            // Back to the pool, clean.
            drop(self.conn.take());
        }
        result
    }
}

impl Drop for SqliteWrite {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            drop(conn.detach());
        }
    }
}

enum Open {
    /// No transaction is open.
    Idle,
    Sqlite(SqliteWrite),
    Postgres {
        tx: Transaction<'static, Postgres>,
        savepoint: Savepoint,
        /// The server process behind the connection, to cancel a statement we stop reading;
        /// learnt with the first plugin statement's savepoint.
        pid: Option<i32>,
    },
}

/// Where the PostgreSQL savepoint stands relative to the transaction's current position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Savepoint {
    /// None exists.
    None,
    /// One exists right here: no statement ran since.
    Fresh,
    /// One exists, with statements after it.
    Behind,
}

/// Marks the writer as held by a run until dropped.
struct HoldGuard {
    hold: Arc<WriterHold>,
    who: Arc<str>,
}

impl Drop for HoldGuard {
    fn drop(&mut self) {
        self.hold.release(&self.who);
    }
}

/// One call's database transaction. Dropped without [`RunTx::rollback`], it rolls back.
pub struct RunTx {
    store: Store,
    deadline: Instant,
    dry_run: bool,
    relaxed_commit: bool,
    /// "run 12 of connector kit": who holds SQLite's writer, for whoever waits for it.
    who: Arc<str>,
    open: Open,
    /// Why the transaction is gone, once something killed it; every later call answers this.
    poisoned: Option<WitError>,
    /// Time spent waiting for SQLite's writer, and for whom, when it was long.
    lock_wait: Option<String>,
}

impl RunTx {
    /// The transaction of one call, bounded by `deadline`; `who` names the call in messages.
    pub fn new(store: Store, deadline: Instant, dry_run: bool, who: String) -> Self {
        RunTx {
            store,
            deadline,
            dry_run,
            relaxed_commit: false,
            who: Arc::from(who),
            open: Open::Idle,
            poisoned: None,
            lock_wait: None,
        }
    }

    /// Commits without waiting for the WAL flush (PostgreSQL). Only for queue jobs: a job's
    /// writes and its completion commit together, so a commit lost in a crash loses both and
    /// the job simply runs again.
    pub fn relax_commit(&mut self) {
        self.relaxed_commit = true;
    }

    /// The store the transaction runs on.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Whether everything is rolled back at the end.
    pub fn dry_run(&self) -> bool {
        self.dry_run
    }

    /// Whether the call never opened the transaction (it wrote nothing; on PostgreSQL it ran
    /// no statement at all) and nothing went wrong in it.
    pub fn untouched(&self) -> bool {
        matches!(self.open, Open::Idle) && self.poisoned.is_none()
    }

    /// A note on a long wait for SQLite's write lock, for the run record.
    pub fn lock_wait(&self) -> Option<&str> {
        self.lock_wait.as_deref()
    }

    fn check_usable(&self) -> Result<(), WitError> {
        if let Some(e) = &self.poisoned {
            return Err(e.clone());
        }
        if Instant::now() >= self.deadline {
            return Err(WitError::Timeout);
        }
        Ok(())
    }

    /// A connection for one statement of kind `access`, opening the transaction (or, on
    /// SQLite, taking the writer) when the statement needs it. On PostgreSQL a plugin
    /// statement gets a fresh savepoint first; report its failure with
    /// [`RunTx::statement_failed`].
    pub async fn conn(&mut self, access: Access) -> Result<Conn<'_>, WitError> {
        self.check_usable()?;
        if let Store::Sqlite { plugins, .. } = &self.store {
            if matches!(self.open, Open::Idle) && !access.writes() {
                let mut conn = tokio::time::timeout(self.remaining(), plugins.acquire())
                    .await
                    .map_err(|_| WitError::Timeout)?
                    .map_err(|e| internal("reading the database", e))?;
                // Read-only connections serve plugin reads only, and every one arms its own
                // deadline: no need to disarm.
                arm(&mut conn, self.deadline)
                    .await
                    .map_err(|e| internal("reading the database", e))?;
                return Ok(Conn::SqliteRead(Box::new(conn)));
            }
        }
        if matches!(self.open, Open::Idle) {
            self.open = self.begin().await?;
        }
        if let Open::Postgres { tx, savepoint, pid } = &mut self.open {
            let fresh_savepoint = match (access.plugin(), *savepoint) {
                _ if access == Access::PluginWriteContinued => None,
                (false, _) | (true, Savepoint::Fresh) => None,
                // The first plugin statement: learn the backend's pid with the savepoint, so
                // a statement read past its cap can be cancelled.
                (true, Savepoint::None) => {
                    Some(format!("SAVEPOINT {SAVEPOINT}; SELECT pg_backend_pid()"))
                }
                (true, Savepoint::Behind) => Some(format!(
                    "RELEASE SAVEPOINT {SAVEPOINT}; SAVEPOINT {SAVEPOINT}"
                )),
            };
            if let Some(sql) = fresh_savepoint {
                match (&mut **tx).fetch_all(sqlx::raw_sql(&sql)).await {
                    Ok(rows) => {
                        if let Some(row) = rows.last() {
                            *pid = sqlx::Row::try_get::<i32, _>(row, 0).ok().or(*pid);
                        }
                    }
                    Err(e) => return Err(self.poison("the run's transaction", e)),
                }
                *savepoint = Savepoint::Fresh;
            }
        }
        match &mut self.open {
            Open::Idle => unreachable!("opened above"),
            Open::Sqlite(write) => Ok(Conn::SqliteTx(write.conn())),
            Open::Postgres { tx, savepoint, .. } => {
                // The statement about to run moves the transaction past the savepoint.
                if *savepoint != Savepoint::None {
                    *savepoint = Savepoint::Behind;
                }
                Ok(Conn::Postgres(tx))
            }
        }
    }

    fn remaining(&self) -> std::time::Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    async fn begin(&mut self) -> Result<Open, WitError> {
        match &self.store {
            Store::Sqlite { writer, hold, .. } => {
                let waited_from = Instant::now();
                let holder = hold.describe();
                let acquired = tokio::time::timeout(self.remaining(), writer.acquire()).await;
                let waited = waited_from.elapsed();
                if waited.as_millis() >= 500 {
                    self.lock_wait = Some(format!(
                        "waited {:.1}s for SQLite's write lock{}",
                        waited.as_secs_f64(),
                        holder
                            .as_deref()
                            .map(|h| format!(", held by {h}"))
                            .unwrap_or_default()
                    ));
                }
                let conn = match acquired {
                    Ok(Ok(conn)) => conn,
                    Ok(Err(e)) => return Err(internal("opening the run's transaction", e)),
                    Err(_) => {
                        tracing::warn!(
                            call = %self.who,
                            waited_s = waited.as_secs(),
                            holder = holder.as_deref(),
                            "gave up waiting for SQLite's write lock at the deadline"
                        );
                        return Err(WitError::Timeout);
                    }
                };
                // Guarded before BEGIN: if this call is cut off from here on, the connection
                // is closed rather than returned to the pool in a transaction.
                let mut write = SqliteWrite {
                    conn: Some(conn),
                    armed: None,
                    _hold: HoldGuard {
                        hold: hold.clone(),
                        who: self.who.clone(),
                    },
                };
                hold.take(self.who.clone());
                let armed = arm(write.conn(), self.deadline)
                    .await
                    .map_err(|e| internal("opening the run's transaction", e))?;
                write.armed = Some(armed);
                if let Err(e) = write.conn().execute(sqlx::raw_sql("BEGIN IMMEDIATE")).await {
                    // Not begun: the connection is clean.
                    if let Some(armed) = write.armed.take() {
                        armed.disarm();
                    }
                    drop(write.conn.take());
                    return Err(match lock_message(&e) {
                        Some(busy) => WitError::Internal(busy),
                        None => internal("opening the run's transaction", e),
                    });
                }
                Ok(Open::Sqlite(write))
            }
            Store::Postgres { pool } => {
                let ms = self.remaining().as_millis().clamp(1, i32::MAX as u128);
                let sync = if self.relaxed_commit { "off" } else { "on" };
                // One round trip. Our own numbers only: nothing from the plugin reaches this
                // text.
                let begin = format!(
                    "BEGIN; SET LOCAL statement_timeout = {ms}; \
                     SET LOCAL synchronous_commit = {sync}"
                );
                let tx = tokio::time::timeout(self.remaining(), pool.begin_with(begin))
                    .await
                    .map_err(|_| WitError::Timeout)?
                    .map_err(|e| internal("opening the run's transaction", e))?;
                Ok(Open::Postgres {
                    tx,
                    savepoint: Savepoint::None,
                    pid: None,
                })
            }
        }
    }

    /// Reports that a statement run on [`RunTx::conn`] failed: rolls a PostgreSQL plugin
    /// statement back to its savepoint (the transaction lives on), poisons the transaction when
    /// the error killed it, and returns what the plugin should see.
    pub async fn statement_failed(&mut self, access: Access, e: sqlx::Error) -> WitError {
        if Instant::now() >= self.deadline || is_timeout(&e) {
            self.kill(WitError::Timeout).await;
            return WitError::Timeout;
        }
        match &mut self.open {
            Open::Idle => plugin_error(&e, access),
            Open::Sqlite(_) => {
                if kills_sqlite_transaction(&e) || !access.plugin() {
                    self.poison("the run's transaction", e)
                } else {
                    plugin_error(&e, access)
                }
            }
            Open::Postgres { tx, savepoint, .. } => {
                if !access.plugin() || !matches!(e, sqlx::Error::Database(_)) {
                    return self.poison("the run's transaction", e);
                }
                let back = format!("ROLLBACK TO SAVEPOINT {SAVEPOINT}");
                match (&mut **tx).execute(sqlx::raw_sql(&back)).await {
                    Ok(_) => {
                        *savepoint = Savepoint::Fresh;
                        plugin_error(&e, access)
                    }
                    Err(again) => self.poison("the run's transaction", again),
                }
            }
        }
    }

    /// The host stopped reading a statement's result (past its cap): on PostgreSQL the
    /// statement is cancelled, so the server stops computing rows nobody reads, and rolled back
    /// to its savepoint; the transaction lives on.
    pub async fn statement_abandoned(&mut self, why: WitError) -> WitError {
        let target = match (&self.open, &self.store) {
            (Open::Postgres { pid: Some(pid), .. }, Store::Postgres { pool }) => {
                Some((*pid, pool.clone()))
            }
            _ => None,
        };
        if let Some((pid, pool)) = target {
            // On another connection: this one is still receiving the rows.
            let cancel: Result<_, sqlx::Error> = sqlx::query("SELECT pg_cancel_backend($1)")
                .bind(pid)
                .execute(&pool)
                .await;
            drop(cancel);
        }
        if let Open::Postgres { tx, savepoint, .. } = &mut self.open {
            let back = format!("ROLLBACK TO SAVEPOINT {SAVEPOINT}");
            // The cancelled statement's own error may surface first, on this command.
            let mut result = (&mut **tx).execute(sqlx::raw_sql(&back)).await;
            if matches!(&result, Err(e) if is_timeout(e)) {
                result = (&mut **tx).execute(sqlx::raw_sql(&back)).await;
            }
            match result {
                Ok(_) => *savepoint = Savepoint::Fresh,
                Err(e) => return self.poison("the run's transaction", e),
            }
        }
        why
    }

    /// Marks the transaction dead with the error `e` (logged; the plugin sees a safe message)
    /// and rolls back what is left of it.
    fn poison(&mut self, what: &str, e: sqlx::Error) -> WitError {
        let error = if Instant::now() >= self.deadline || is_timeout(&e) {
            WitError::Timeout
        } else if let Some(busy) = lock_message(&e) {
            WitError::Internal(busy)
        } else {
            internal(what, e)
        };
        self.poisoned = Some(error.clone());
        // Dropping the transaction rolls back whatever the database still holds of it (on
        // SQLite by closing the writer connection).
        self.open = Open::Idle;
        error
    }

    async fn kill(&mut self, why: WitError) {
        self.poisoned = Some(why);
        let _ = self.end(false).await;
    }

    /// A checkpoint: commits what the call wrote so far (in a dry run, nothing: everything is
    /// rolled back at the end).
    pub async fn checkpoint(&mut self) -> Result<(), WitError> {
        self.check_usable()?;
        if self.dry_run {
            return Ok(());
        }
        self.end(true).await
    }

    /// Commits what is left (or, in a dry run, rolls it back): the call ended well.
    pub async fn commit(&mut self) -> Result<(), WitError> {
        if let Some(e) = &self.poisoned {
            return Err(e.clone());
        }
        let commit = !self.dry_run;
        self.end(commit).await
    }

    /// Rolls back everything since the last checkpoint.
    pub async fn rollback(&mut self) -> Result<(), WitError> {
        self.end(false).await
    }

    async fn end(&mut self, commit: bool) -> Result<(), WitError> {
        let open = std::mem::replace(&mut self.open, Open::Idle);
        let result = match open {
            Open::Idle => Ok(()),
            Open::Sqlite(write) => write.finish(commit).await,
            Open::Postgres {
                mut tx, savepoint, ..
            } if commit => {
                // PostgreSQL answers COMMIT of an aborted transaction with ROLLBACK and no
                // error; releasing the savepoint first fails loudly in that case.
                let check = match savepoint {
                    Savepoint::None => Ok(()),
                    _ => (&mut *tx)
                        .execute(sqlx::raw_sql(&format!("RELEASE SAVEPOINT {SAVEPOINT}")))
                        .await
                        .map(drop),
                };
                match check {
                    Ok(()) => tx.commit().await,
                    Err(e) => Err(e),
                }
            }
            Open::Postgres { tx, .. } => tx.rollback().await,
        };
        match result {
            Ok(()) => Ok(()),
            // A rollback that finds nothing to roll back is what we wanted.
            Err(_) if !commit => Ok(()),
            Err(e) => Err(self.poison("the checkpoint", e)),
        }
    }
}

/// A database error of the plugin's own statement, safe to show it: constraint and type errors
/// are the plugin's to fix; anything else is internal.
fn plugin_error(e: &sqlx::Error, access: Access) -> WitError {
    match e {
        sqlx::Error::Database(db) if access.plugin() => WitError::Invalid(crate::limits::truncate(
            db.message(),
            crate::limits::ERROR_MESSAGE_BYTES,
        )),
        _ => {
            tracing::warn!(error = %e, "a database call failed");
            WitError::Internal("the database call failed".into())
        }
    }
}

/// An internal failure: the plugin learns what failed, not how; the detail goes to the log.
pub fn internal(what: &str, e: impl std::fmt::Display) -> WitError {
    tracing::warn!(error = %e, "{what} failed");
    WitError::Internal(format!("{what} failed"))
}

/// SQLite's primary result code of a database error.
fn sqlite_code(e: &sqlx::Error) -> Option<i32> {
    match e {
        sqlx::Error::Database(db) => db
            .try_downcast_ref::<sqlx::sqlite::SqliteError>()
            .and_then(|s| s.code())
            .and_then(|c| c.parse::<i32>().ok())
            .map(|c| c & 0xff),
        _ => None,
    }
}

/// Errors after which SQLite may have rolled the whole transaction back by itself: busy,
/// locked, out of memory, interrupted, I/O, corrupt, full.
fn kills_sqlite_transaction(e: &sqlx::Error) -> bool {
    matches!(sqlite_code(e), Some(5 | 6 | 7 | 9 | 10 | 11 | 13))
        || matches!(e, sqlx::Error::Io(_) | sqlx::Error::WorkerCrashed)
}

/// Whether `e` is the database stopping a statement at the deadline.
fn is_timeout(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => {
            sqlite_code(e) == Some(9) || db.code().as_deref() == Some("57014")
        }
        sqlx::Error::PoolTimedOut => true,
        _ => false,
    }
}

/// A message for SQLite's lock being held by another process past the busy timeout: not the
/// plugin's fault, and worth saying plainly.
fn lock_message(e: &sqlx::Error) -> Option<String> {
    matches!(sqlite_code(e), Some(5 | 6)).then(|| {
        "the database is locked by another process (another host or a `connector-host run` \
         on the same SQLite file) for longer than the busy timeout"
            .to_owned()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_statements_and_host_writes_are_told_apart() {
        assert!(Access::PluginWrite.writes() && Access::PluginWrite.plugin());
        assert!(!Access::PluginRead.writes() && Access::PluginRead.plugin());
        assert!(Access::HostWrite.writes() && !Access::HostWrite.plugin());
        assert!(!Access::HostRead.writes() && !Access::HostRead.plugin());
    }
}
