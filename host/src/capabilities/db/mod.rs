//! The `db` and `state` capabilities: plugin SQL on granted tables and the connector's key/value
//! state, both inside one run transaction that commits at each checkpoint and at a successful end.
//!
//! SQLite has one writer: a run's transaction takes the write lock at its first write and holds
//! it until its next checkpoint, so other runs' writes wait (up to the busy timeout). Connectors
//! that write a lot should checkpoint per page. PostgreSQL runs do not block each other unless
//! they write the same rows.

mod guard;
mod values;

pub use guard::{check as check_sql, Grants, StatementKind};

use crate::limits;
use crate::runtime::bindings::connector::host::db::{self as wit, Rows, Value};
use crate::runtime::bindings::connector::host::queue::{self as queue_wit, Options};
use crate::runtime::bindings::connector::host::state;
use crate::runtime::bindings::WitError;
use crate::store::{Backend, Store};
use chrono::Utc;
use sqlx::{Postgres, Row, Sqlite, Transaction};
use std::sync::Arc;
use std::time::Instant;

// Plugin SQL on PostgreSQL is never kept as a named prepared statement: a NULL or text
// parameter is sent untyped and the server fixes its type when it prepares the statement, so a
// cached statement prepared with a NULL where a later run sends an integer would reject it.

/// SQLite's progress handler runs every this many virtual-machine steps.
const SQLITE_PROGRESS_STEPS: i32 = 10_000;

/// One run's database access. Dropped without [`DbCap::finish`], it rolls back.
pub struct DbCap {
    connector: Arc<str>,
    grants: Arc<Grants>,
    store: Store,
    deadline: Instant,
    tx: Option<RunTx>,
    /// Rows inserted, updated or deleted by the run (committed or not).
    pub rows_written: u64,
    /// Attempts a job gets when its enqueuer does not say (the manifest's `queue.max_attempts`).
    pub default_max_attempts: u32,
    /// Jobs enqueued by the run (committed or not).
    pub jobs_enqueued: u64,
    /// Commit without waiting for the WAL flush (PostgreSQL). Only for queue jobs: a job's
    /// writes and its completion commit together, so a commit lost in a crash loses both and
    /// the job simply runs again.
    pub relaxed_commit: bool,
}

enum RunTx {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

type CapResult<T> = wasmtime::Result<Result<T, WitError>>;

fn internal(what: &str, e: impl std::fmt::Display) -> WitError {
    // The plugin learns that the database failed, not how: the detail goes to the host log.
    tracing::warn!(error = %e, "{what} failed");
    WitError::Internal(format!("{what} failed"))
}

/// Turns a database error from plugin SQL into something safe and useful for the plugin:
/// constraint and type errors are the plugin's to fix, the rest is internal.
fn sql_error(e: sqlx::Error, deadline: Instant) -> WitError {
    if Instant::now() >= deadline {
        return WitError::Timeout;
    }
    match &e {
        sqlx::Error::Database(db) => {
            let msg = db.message();
            if msg.contains("interrupted") || msg.contains("statement timeout") {
                WitError::Timeout
            } else {
                WitError::Invalid(limits::truncate(msg, limits::ERROR_MESSAGE_BYTES))
            }
        }
        _ => internal("the query", e),
    }
}

impl DbCap {
    /// Access for one run of `connector`, bounded by `deadline`.
    pub fn new(connector: Arc<str>, grants: Arc<Grants>, store: Store, deadline: Instant) -> Self {
        DbCap {
            connector,
            grants,
            store,
            deadline,
            tx: None,
            rows_written: 0,
            default_max_attempts: 5,
            jobs_enqueued: 0,
            relaxed_commit: false,
        }
    }

    async fn tx(&mut self) -> Result<&mut RunTx, WitError> {
        if self.tx.is_none() {
            self.tx = Some(self.begin().await?);
        }
        Ok(self.tx.as_mut().expect("just set"))
    }

    async fn begin(&self) -> Result<RunTx, WitError> {
        let remaining = self.deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(WitError::Timeout);
        }
        match &self.store {
            Store::Sqlite { plugins, .. } => {
                let mut tx = plugins
                    .begin()
                    .await
                    .map_err(|e| internal("opening the run transaction", e))?;
                // Interrupt any statement still running past the deadline: dropping the call
                // future alone would leave SQLite's worker thread executing it.
                let deadline = self.deadline;
                tx.lock_handle()
                    .await
                    .map_err(|e| internal("opening the run transaction", e))?
                    .set_progress_handler(SQLITE_PROGRESS_STEPS, move || Instant::now() < deadline);
                Ok(RunTx::Sqlite(tx))
            }
            Store::Postgres { pool } => {
                let mut tx = pool
                    .begin()
                    .await
                    .map_err(|e| internal("opening the run transaction", e))?;
                let ms = remaining.as_millis().clamp(1, i32::MAX as u128);
                // One statement with bound values: its text never changes, so the prepared
                // statement is reused run after run.
                sqlx::query(
                    "SELECT set_config('statement_timeout', $1, true), \
                     set_config('synchronous_commit', $2, true)",
                )
                .bind(ms.to_string())
                .bind(if self.relaxed_commit { "off" } else { "on" })
                .execute(&mut *tx)
                .await
                .map_err(|e| internal("opening the run transaction", e))?;
                Ok(RunTx::Postgres(tx))
            }
        }
    }

    /// Commits what the run wrote so far (a checkpoint); the next statement opens a new
    /// transaction.
    pub async fn commit(&mut self) -> Result<(), WitError> {
        match self.tx.take() {
            None => Ok(()),
            Some(RunTx::Sqlite(tx)) => tx.commit().await,
            Some(RunTx::Postgres(tx)) => tx.commit().await,
        }
        .map_err(|e| internal("the checkpoint", e))
    }

    /// Rolls back everything since the last checkpoint.
    pub async fn rollback(&mut self) -> Result<(), WitError> {
        match self.tx.take() {
            None => Ok(()),
            Some(RunTx::Sqlite(tx)) => tx.rollback().await,
            Some(RunTx::Postgres(tx)) => tx.rollback().await,
        }
        .map_err(|e| internal("the rollback", e))
    }

    fn check(&self, sql: &str, params: &[Value]) -> Result<StatementKind, WitError> {
        if sql.len() > limits::SQL_BYTES {
            return Err(WitError::TooLarge);
        }
        if params.len() > limits::SQL_PARAMS {
            return Err(WitError::Invalid(format!(
                "{} parameters; the limit is {}",
                params.len(),
                limits::SQL_PARAMS
            )));
        }
        for (i, p) in params.iter().enumerate() {
            values::check_param(i, p).map_err(WitError::Invalid)?;
        }
        check_sql(sql, self.store.backend(), &self.grants).map_err(WitError::Denied)
    }

    async fn run_query(&mut self, sql: &str, params: &[Value]) -> Result<Rows, WitError> {
        let deadline = self.deadline;
        let mut out = Rows {
            columns: Vec::new(),
            rows: Vec::new(),
        };
        let mut bytes = 0usize;
        let mut push = |columns: Vec<String>, row: Vec<Value>| -> Result<(), WitError> {
            bytes += row.iter().map(values::value_size).sum::<usize>();
            if out.rows.len() >= limits::QUERY_ROWS || bytes > limits::QUERY_RESULT_BYTES {
                return Err(WitError::TooLarge);
            }
            if out.columns.is_empty() {
                out.columns = columns;
            }
            out.rows.push(row);
            Ok(())
        };
        match self.tx().await? {
            RunTx::Sqlite(tx) => {
                let q = params
                    .iter()
                    .fold(sqlx::query(sql), |q, v| values::bind_sqlite(q, v));
                let rows = q
                    .fetch_all(&mut **tx)
                    .await
                    .map_err(|e| sql_error(e, deadline))?;
                for r in &rows {
                    let row = (0..r.len())
                        .map(|i| values::sqlite_value(r, i))
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(WitError::Invalid)?;
                    push(values::column_names(r), row)?;
                }
            }
            RunTx::Postgres(tx) => {
                let q = params
                    .iter()
                    .fold(sqlx::query(sql).persistent(false), |q, v| {
                        values::bind_pg(q, v)
                    });
                let rows = q
                    .fetch_all(&mut **tx)
                    .await
                    .map_err(|e| sql_error(e, deadline))?;
                for r in &rows {
                    let row = (0..r.len())
                        .map(|i| values::pg_value(r, i))
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(WitError::Invalid)?;
                    push(values::column_names(r), row)?;
                }
            }
        }
        Ok(out)
    }

    async fn run_execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, WitError> {
        let deadline = self.deadline;
        let affected = match self.tx().await? {
            RunTx::Sqlite(tx) => params
                .iter()
                .fold(sqlx::query(sql), |q, v| values::bind_sqlite(q, v))
                .execute(&mut **tx)
                .await
                .map(|r| r.rows_affected()),
            RunTx::Postgres(tx) => params
                .iter()
                .fold(sqlx::query(sql).persistent(false), |q, v| {
                    values::bind_pg(q, v)
                })
                .execute(&mut **tx)
                .await
                .map(|r| r.rows_affected()),
        }
        .map_err(|e| sql_error(e, deadline))?;
        Ok(affected)
    }
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && s.len() <= 63
}

/// Builds one multi-row `INSERT … ON CONFLICT (key) DO UPDATE` for `rows` rows.
/// Placeholders are `?` on SQLite: it looks every named one (`$7`) up by name while it prepares
/// the statement, which makes a 10,000-parameter statement take ~100 ms; anonymous ones bind in
/// order at no such cost.
fn upsert_sql(
    table: &str,
    columns: &[String],
    key: &[String],
    rows: usize,
    backend: Backend,
) -> String {
    let ncols = columns.len();
    let mut sql = format!("INSERT INTO {table} ({}) VALUES ", columns.join(", "));
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for c in 0..ncols {
            if c > 0 {
                sql.push_str(", ");
            }
            match backend {
                Backend::Sqlite => sql.push('?'),
                Backend::Postgres => sql.push_str(&format!("${}", r * ncols + c + 1)),
            }
        }
        sql.push(')');
    }
    let updates: Vec<String> = columns
        .iter()
        .filter(|c| !key.contains(c))
        .map(|c| format!("{c} = excluded.{c}"))
        .collect();
    if updates.is_empty() {
        sql.push_str(&format!(" ON CONFLICT ({}) DO NOTHING", key.join(", ")));
    } else {
        sql.push_str(&format!(
            " ON CONFLICT ({}) DO UPDATE SET {}",
            key.join(", "),
            updates.join(", ")
        ));
    }
    sql
}

impl wit::Host for DbCap {
    async fn query(&mut self, sql: String, params: Vec<Value>) -> CapResult<Rows> {
        if let Err(e) = self.check(&sql, &params) {
            return Ok(Err(e));
        }
        Ok(self.run_query(&sql, &params).await)
    }

    async fn execute(&mut self, sql: String, params: Vec<Value>) -> CapResult<u64> {
        let kind = match self.check(&sql, &params) {
            Ok(kind) => kind,
            Err(e) => return Ok(Err(e)),
        };
        let result = self.run_execute(&sql, &params).await;
        if let (Ok(n), StatementKind::Write) = (&result, kind) {
            self.rows_written += n;
        }
        Ok(result)
    }

    async fn upsert(
        &mut self,
        table: String,
        columns: Vec<String>,
        key: Vec<String>,
        rows: Vec<Vec<Value>>,
    ) -> CapResult<u64> {
        let table = table.to_ascii_lowercase();
        if !is_identifier(&table) || !self.grants.allows(&table) {
            return Ok(Err(WitError::Denied(format!(
                "table `{}` is not granted to this connector",
                limits::truncate(&table, 64)
            ))));
        }
        if columns.is_empty() || columns.len() > limits::UPSERT_COLUMNS {
            return Ok(Err(WitError::Invalid(format!(
                "upsert needs 1 to {} columns, found {}",
                limits::UPSERT_COLUMNS,
                columns.len()
            ))));
        }
        if rows.len() > limits::UPSERT_ROWS {
            return Ok(Err(WitError::TooLarge));
        }
        if let Some(bad) = columns.iter().chain(&key).find(|c| !is_identifier(c)) {
            return Ok(Err(WitError::Invalid(format!(
                "`{}` is not a column name",
                limits::truncate(bad, 64)
            ))));
        }
        if key.is_empty() || key.iter().any(|k| !columns.contains(k)) {
            return Ok(Err(WitError::Invalid(
                "upsert key columns must be among the columns".into(),
            )));
        }
        if let Some((i, _)) = rows
            .iter()
            .enumerate()
            .find(|(_, r)| r.len() != columns.len())
        {
            return Ok(Err(WitError::Invalid(format!(
                "row {i} has {} values for {} columns",
                rows[i].len(),
                columns.len()
            ))));
        }
        for (i, v) in rows.iter().flatten().enumerate() {
            if let Err(e) = values::check_param(i, v) {
                return Ok(Err(WitError::Invalid(e)));
            }
        }
        // Both backends bind at most 32,766 parameters per statement here (SQLite's limit).
        let per_statement = (32_766 / columns.len()).clamp(1, 1000);
        let mut written = 0u64;
        for chunk in rows.chunks(per_statement) {
            let sql = upsert_sql(&table, &columns, &key, chunk.len(), self.store.backend());
            let flat: Vec<Value> = chunk.iter().flatten().cloned().collect();
            match self.run_execute(&sql, &flat).await {
                Ok(n) => written += n,
                Err(e) => return Ok(Err(e)),
            }
        }
        self.rows_written += written;
        Ok(Ok(written))
    }
}

/// Runs the same sqlx expression on whichever transaction the run holds.
macro_rules! on_tx {
    ($tx:expr, $conn:ident => $body:expr) => {
        match $tx {
            RunTx::Sqlite($conn) => $body,
            RunTx::Postgres($conn) => $body,
        }
    };
}

impl state::Host for DbCap {
    async fn get(&mut self, key: String) -> CapResult<Option<String>> {
        if key.len() > limits::STATE_KEY_BYTES {
            return Ok(Err(WitError::TooLarge));
        }
        let connector = self.connector.clone();
        let sql = "SELECT value FROM connector_state WHERE connector = $1 AND key = $2";
        let tx = match self.tx().await {
            Ok(tx) => tx,
            Err(e) => return Ok(Err(e)),
        };
        Ok(on_tx!(tx, tx => sqlx::query_scalar(sql)
            .bind(&*connector)
            .bind(&key)
            .fetch_optional(&mut **tx)
            .await
            .map_err(|e| internal("reading state", e))))
    }

    async fn set(&mut self, key: String, value: String) -> CapResult<()> {
        if key.len() > limits::STATE_KEY_BYTES || value.len() > limits::STATE_VALUE_BYTES {
            return Ok(Err(WitError::TooLarge));
        }
        let connector = self.connector.clone();
        let now = Utc::now();
        let sql = "INSERT INTO connector_state (connector, key, value, updated_at) \
                   VALUES ($1, $2, $3, $4) ON CONFLICT (connector, key) \
                   DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at";
        let tx = match self.tx().await {
            Ok(tx) => tx,
            Err(e) => return Ok(Err(e)),
        };
        Ok(on_tx!(tx, tx => sqlx::query(sql)
            .bind(&*connector)
            .bind(&key)
            .bind(&value)
            .bind(now)
            .execute(&mut **tx)
            .await
            .map(drop)
            .map_err(|e| internal("writing state", e))))
    }

    async fn delete(&mut self, key: String) -> CapResult<()> {
        if key.len() > limits::STATE_KEY_BYTES {
            return Ok(Err(WitError::TooLarge));
        }
        let connector = self.connector.clone();
        let sql = "DELETE FROM connector_state WHERE connector = $1 AND key = $2";
        let tx = match self.tx().await {
            Ok(tx) => tx,
            Err(e) => return Ok(Err(e)),
        };
        Ok(on_tx!(tx, tx => sqlx::query(sql)
            .bind(&*connector)
            .bind(&key)
            .execute(&mut **tx)
            .await
            .map(drop)
            .map_err(|e| internal("deleting state", e))))
    }

    async fn checkpoint(&mut self) -> CapResult<()> {
        Ok(self.commit().await)
    }
}

/// Longest delay a plugin may ask for a job.
const MAX_JOB_DELAY: std::time::Duration = std::time::Duration::from_secs(30 * 86_400);

impl queue_wit::Host for DbCap {
    async fn enqueue(&mut self, kind: String, payload: String, options: Options) -> CapResult<u64> {
        if kind.is_empty() || kind.len() > limits::JOB_KIND_BYTES {
            return Ok(Err(WitError::Invalid(format!(
                "a job kind is 1 to {} bytes",
                limits::JOB_KIND_BYTES
            ))));
        }
        if payload.len() > limits::JOB_PAYLOAD_BYTES
            || options
                .dedup_key
                .as_ref()
                .is_some_and(|k| k.len() > limits::STATE_KEY_BYTES)
        {
            return Ok(Err(WitError::TooLarge));
        }
        if serde_json::from_str::<serde_json::Value>(&payload).is_err() {
            return Ok(Err(WitError::Invalid("a job payload must be JSON".into())));
        }
        let max_attempts = options.max_attempts.unwrap_or(self.default_max_attempts);
        if !(1..=100).contains(&max_attempts) {
            return Ok(Err(WitError::Invalid(
                "max-attempts must be 1 to 100".into(),
            )));
        }
        let delay = std::time::Duration::from_millis(options.delay_ms.unwrap_or(0));
        if delay > MAX_JOB_DELAY {
            return Ok(Err(WitError::Invalid(
                "a job may be delayed 30 days at most".into(),
            )));
        }
        let now = Utc::now();
        let run_after = now + chrono::Duration::from_std(delay).unwrap_or_default();
        let connector = self.connector.clone();
        let insert = "INSERT INTO queue_jobs (connector, kind, payload, status, attempts, \
            max_attempts, run_after, dedup_key, created_at, updated_at) \
            VALUES ($1, $2, $3, 'pending', 0, $4, $5, $6, $7, $7) \
            ON CONFLICT (connector, dedup_key) \
            WHERE dedup_key IS NOT NULL AND status IN ('pending', 'processing') DO NOTHING \
            RETURNING id";
        let existing = "SELECT id FROM queue_jobs WHERE connector = $1 AND dedup_key = $2 \
            AND status IN ('pending', 'processing')";
        let tx = match self.tx().await {
            Ok(tx) => tx,
            Err(e) => return Ok(Err(e)),
        };
        let inserted: Result<Option<i64>, sqlx::Error> = on_tx!(tx, tx => sqlx::query_scalar(insert)
            .bind(&*connector)
            .bind(&kind)
            .bind(&payload)
            .bind(i64::from(max_attempts))
            .bind(run_after)
            .bind(options.dedup_key.as_deref())
            .bind(now)
            .fetch_optional(&mut **tx)
            .await);
        let id = match inserted {
            Ok(Some(id)) => {
                self.jobs_enqueued += 1;
                id
            }
            // Deduplicated: answer the id of the unfinished job with that key.
            Ok(None) => {
                let found: Result<i64, sqlx::Error> = on_tx!(tx, tx => sqlx::query_scalar(existing)
                    .bind(&*connector)
                    .bind(options.dedup_key.as_deref())
                    .fetch_one(&mut **tx)
                    .await);
                match found {
                    Ok(id) => id,
                    Err(e) => return Ok(Err(internal("enqueueing the job", e))),
                }
            }
            Err(e) => return Ok(Err(internal("enqueueing the job", e))),
        };
        Ok(Ok(id as u64))
    }
}

impl DbCap {
    /// Marks leased job `id` completed inside the run's transaction, so the job's writes and its
    /// completion commit together. False when this worker no longer holds the lease.
    pub async fn complete_job(&mut self, id: i64, worker: &str) -> Result<bool, WitError> {
        let now = Utc::now();
        let sql = "UPDATE queue_jobs SET status = 'completed', finished_at = $3, updated_at = $3, \
            lease_until = NULL, last_error = NULL \
            WHERE id = $1 AND status = 'processing' AND leased_by = $2";
        let tx = self.tx().await?;
        let done = on_tx!(tx, tx => sqlx::query(sql)
            .bind(id)
            .bind(worker)
            .bind(now)
            .execute(&mut **tx)
            .await
            .map(|r| r.rows_affected()))
        .map_err(|e| internal("completing the job", e))?;
        Ok(done == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upsert_sql_numbers_parameters_row_major() {
        let cols = vec!["id".to_string(), "n".to_string()];
        let key = vec!["id".to_string()];
        assert_eq!(
            upsert_sql("t", &cols, &key, 2, Backend::Postgres),
            "INSERT INTO t (id, n) VALUES ($1, $2), ($3, $4) ON CONFLICT (id) DO UPDATE SET n = excluded.n"
        );
        assert_eq!(
            upsert_sql("t", &cols, &key, 2, Backend::Sqlite),
            "INSERT INTO t (id, n) VALUES (?, ?), (?, ?) ON CONFLICT (id) DO UPDATE SET n = excluded.n"
        );
        assert_eq!(
            upsert_sql("t", &key, &key, 1, Backend::Postgres),
            "INSERT INTO t (id) VALUES ($1) ON CONFLICT (id) DO NOTHING"
        );
    }

    #[test]
    fn identifiers_are_plain_names_only() {
        assert!(is_identifier("kit_items"));
        assert!(!is_identifier("kit items"));
        assert!(!is_identifier("x;drop"));
        assert!(!is_identifier("1abc"));
        assert!(!is_identifier(""));
    }
}
