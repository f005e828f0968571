//! The `db` capability: plugin SQL on the tables the manifest grants, inside the call's run
//! transaction (`capabilities::tx`). Every statement is parsed and checked first (`guard`),
//! parameters are bound, never spliced (`values`), and query results are streamed and cut off
//! at their cap, so a plugin cannot make the host hold more than one capped result.

mod guard;
mod values;

pub use guard::{
    check as check_sql, check_migration, Grants, MigrationStatement, Refusal, StatementKind,
};
pub use values::ColumnType;

use super::progress::Progress;
use super::tx::{Access, Conn, RunTx};
use super::CapResult;
use crate::bindings::connector::host::db::{self as wit, Rows, Value};
use crate::bindings::WitError;
use crate::limits;
use crate::store::Backend;
use futures_util::TryStreamExt;
use sqlx::Row;
use std::sync::Arc;

// Plugin SQL on PostgreSQL is never kept as a named prepared statement: a NULL or text
// parameter is sent untyped and the server fixes its type when it prepares the statement, so a
// cached statement prepared with a NULL where a later run sends an integer would reject it.

/// One call's grant of tables, and what it wrote.
pub struct DbCap {
    grants: Arc<Grants>,
    /// Rows inserted, updated or deleted by the call (committed or not).
    pub rows_written: u64,
    progress: Arc<Progress>,
}

impl DbCap {
    /// Access to the tables in `grants`, counting rows written into `progress` as well.
    pub fn new(grants: Arc<Grants>, progress: Arc<Progress>) -> Self {
        DbCap {
            grants,
            rows_written: 0,
            progress,
        }
    }

    fn wrote(&mut self, rows: u64) {
        self.rows_written += rows;
        self.progress.wrote(rows);
    }
}

/// The `db` interface's view of a call: its grant and its transaction.
pub struct DbView<'a> {
    /// The grant and counters.
    pub cap: &'a mut DbCap,
    /// The run transaction.
    pub tx: &'a mut RunTx,
}

/// Links the `db` interface to a [`DbView`].
pub struct DbData;

impl wasmtime::component::HasData for DbData {
    type Data<'a> = DbView<'a>;
}

/// Why collecting a result stopped.
enum Stop {
    Db(sqlx::Error),
    TooLarge,
    Invalid(String),
}

/// Reads rows off `stream` into a result, stopping (and dropping the rest) at the caps.
async fn collect<'s, R: Row>(
    mut stream: futures_util::stream::BoxStream<'s, Result<R, sqlx::Error>>,
    read: fn(&R, usize) -> Result<Value, String>,
) -> Result<Rows, Stop> {
    let mut out = Rows {
        columns: Vec::new(),
        rows: Vec::new(),
    };
    let mut bytes = 0usize;
    while let Some(row) = stream.try_next().await.map_err(Stop::Db)? {
        if out.rows.len() >= limits::QUERY_ROWS {
            return Err(Stop::TooLarge);
        }
        if out.columns.is_empty() {
            out.columns = values::column_names(&row);
        }
        let values = (0..row.len())
            .map(|i| read(&row, i))
            .collect::<Result<Vec<_>, _>>()
            .map_err(Stop::Invalid)?;
        bytes += values.iter().map(values::value_size).sum::<usize>();
        if bytes > limits::QUERY_RESULT_BYTES {
            return Err(Stop::TooLarge);
        }
        out.rows.push(values);
    }
    Ok(out)
}

fn sqlite_query<'q>(sql: &'q str, params: &[Value]) -> values::SqliteQuery<'q> {
    params
        .iter()
        .fold(sqlx::query(sql), |q, v| values::bind_sqlite(q, v))
}

fn pg_query<'q>(sql: &'q str, params: &[Value]) -> values::PgQuery<'q> {
    params
        .iter()
        .fold(sqlx::query(sql).persistent(false), |q, v| {
            values::bind_pg(q, v)
        })
}

/// Which parameter a PostgreSQL error is about, when it can tell: the error's position points
/// at `$n` in the statement, or the value it quotes is one parameter's text.
fn parameter_at_fault(e: &sqlx::Error, sql: &str, params: &[Value]) -> Option<usize> {
    let sqlx::Error::Database(db) = e else {
        return None;
    };
    let pg = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>()?;
    if let Some(sqlx::postgres::PgErrorPosition::Original(pos)) = pg.position() {
        let at = sql
            .char_indices()
            .nth(pos.saturating_sub(1))
            .map(|(i, _)| i)?;
        let digits: String = sql[at..]
            .strip_prefix('$')?
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        return digits.parse().ok();
    }
    // `invalid input syntax for type integer: "abc"`
    let quoted = pg.message().rsplit_once(": \"")?.1.strip_suffix('"')?;
    let matches: Vec<usize> = params
        .iter()
        .enumerate()
        .filter(|(_, v)| matches!(v, Value::Text(t) if t == quoted))
        .map(|(i, _)| i + 1)
        .collect();
    match matches.as_slice() {
        [one] => Some(*one),
        _ => None,
    }
}

impl DbView<'_> {
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
        check_sql(
            sql,
            self.tx.store().backend(),
            &self.cap.grants,
            params.len(),
        )
        .map_err(|r| match r {
            Refusal::Denied(m) => WitError::Denied(m),
            Refusal::Invalid(m) => WitError::Invalid(m),
        })
    }

    /// The error the plugin sees for a failed statement, naming the parameter at fault when the
    /// database lets us tell.
    async fn failed(
        &mut self,
        access: Access,
        e: sqlx::Error,
        sql: &str,
        params: &[Value],
    ) -> WitError {
        let param = parameter_at_fault(&e, sql, params);
        match (self.tx.statement_failed(access, e).await, param) {
            (WitError::Invalid(m), Some(n)) => WitError::Invalid(format!("{m} (parameter ${n})")),
            (other, _) => other,
        }
    }

    async fn run_query(
        &mut self,
        sql: &str,
        params: &[Value],
        kind: StatementKind,
    ) -> Result<Rows, WitError> {
        let access = match kind {
            StatementKind::Query => Access::PluginRead,
            StatementKind::Write => Access::PluginWrite,
        };
        let collected = match self.tx.conn(access).await? {
            Conn::SqliteTx(c) => {
                collect(sqlite_query(sql, params).fetch(c), values::sqlite_value).await
            }
            Conn::SqliteRead(mut pooled) => {
                collect(
                    sqlite_query(sql, params).fetch(&mut **pooled),
                    values::sqlite_value,
                )
                .await
            }
            Conn::Postgres(c) => collect(pg_query(sql, params).fetch(c), values::pg_value).await,
        };
        match collected {
            Ok(rows) => Ok(rows),
            Err(Stop::Db(e)) => Err(self.failed(access, e, sql, params).await),
            Err(Stop::TooLarge) => Err(self.tx.statement_abandoned(WitError::TooLarge).await),
            Err(Stop::Invalid(m)) => Err(self.tx.statement_abandoned(WitError::Invalid(m)).await),
        }
    }

    async fn run_execute(
        &mut self,
        sql: &str,
        params: &[Value],
        access: Access,
    ) -> Result<u64, WitError> {
        let result = match self.tx.conn(access).await? {
            Conn::SqliteTx(c) => sqlite_query(sql, params)
                .execute(c)
                .await
                .map(|r| r.rows_affected()),
            Conn::SqliteRead(mut pooled) => sqlite_query(sql, params)
                .execute(&mut **pooled)
                .await
                .map(|r| r.rows_affected()),
            Conn::Postgres(c) => pg_query(sql, params)
                .execute(c)
                .await
                .map(|r| r.rows_affected()),
        };
        match result {
            Ok(n) => Ok(n),
            Err(e) => Err(self.failed(access, e, sql, params).await),
        }
    }
}

/// The column a PostgreSQL error about an UNNEST upsert points at: its position falls on the
/// select list's `u.cN` (a type mismatch with the table) or on the array `$N` (bad input).
fn unnest_column_at_fault<'c>(
    e: &sqlx::Error,
    sql: &str,
    columns: &'c [String],
    types: &[values::ColumnType],
) -> Option<&'c String> {
    let sqlx::Error::Database(db) = e else {
        return None;
    };
    let pg = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>()?;
    let Some(sqlx::postgres::PgErrorPosition::Original(pos)) = pg.position() else {
        return None;
    };
    let at = sql
        .char_indices()
        .nth(pos.saturating_sub(1))
        .map(|(i, _)| i)?;
    let rest = &sql[at..];
    let (digits, base) = match (rest.strip_prefix("u.c"), rest.strip_prefix('$')) {
        (Some(d), _) => (d, 0),
        (None, Some(d)) => (d, 1),
        _ => return None,
    };
    let n: usize = digits
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .ok()?;
    columns
        .iter()
        .zip(types)
        .filter(|(_, t)| t.array_sql().is_some())
        .map(|(c, _)| c)
        .nth(n.checked_sub(base)?)
}

impl DbView<'_> {
    /// Runs an upsert built by [`upsert_unnest_sql`], its rows bound one array per column. The
    /// statement is kept prepared: its text names every parameter's type.
    async fn run_unnest(
        &mut self,
        sql: &str,
        columns: &[String],
        rows: &[Vec<Value>],
        types: &[values::ColumnType],
    ) -> Result<u64, WitError> {
        let access = Access::PluginWrite;
        let result = match self.tx.conn(access).await? {
            Conn::Postgres(c) => bind_unnest(sql, rows, types)
                .execute(c)
                .await
                .map(|r| r.rows_affected()),
            _ => unreachable!("UNNEST upserts are built for PostgreSQL only"),
        };
        match result {
            Ok(n) => Ok(n),
            Err(e) => {
                let column = unnest_column_at_fault(&e, sql, columns, types);
                match (self.tx.statement_failed(access, e).await, column) {
                    (WitError::Invalid(m), Some(c)) => {
                        Err(WitError::Invalid(format!("{m} (column {c})")))
                    }
                    (other, _) => Err(other),
                }
            }
        }
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
/// order at no such cost. Public for the benchmarks' native baselines, which send the same
/// statements.
#[doc(hidden)]
pub fn upsert_sql(
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
    push_conflict(&mut sql, columns, key);
    sql
}

/// Builds the PostgreSQL upsert that takes all its rows as one array per column
/// (`INSERT … SELECT … FROM UNNEST($1::int8[], …) ON CONFLICT …`): the statement has one
/// parameter per column whatever the number of rows, so the server parses and plans it once
/// per connection instead of once per page; all-NULL columns are written as `NULL`. Public for
/// the benchmarks' native baselines, which send the same statements.
#[doc(hidden)]
pub fn upsert_unnest_sql(
    table: &str,
    columns: &[String],
    key: &[String],
    types: &[ColumnType],
) -> String {
    let mut select = Vec::with_capacity(columns.len());
    let mut arrays = Vec::new();
    let mut names = Vec::new();
    for t in types {
        match t.array_sql() {
            Some(array) => {
                arrays.push(format!("${}::{array}", arrays.len() + 1));
                names.push(format!("c{}", names.len()));
                select.push(format!("u.c{}", names.len() - 1));
            }
            None => select.push("NULL".to_owned()),
        }
    }
    let mut sql = format!(
        "INSERT INTO {table} ({}) SELECT {} FROM UNNEST({}) AS u({})",
        columns.join(", "),
        select.join(", "),
        arrays.join(", "),
        names.join(", ")
    );
    push_conflict(&mut sql, columns, key);
    sql
}

/// The statement [`upsert_unnest_sql`] built for `types` (from [`ColumnType::of_rows`]), with
/// `rows` bound one array per column. Public for the benchmarks' native baselines.
#[doc(hidden)]
pub fn bind_unnest<'q>(
    sql: &'q str,
    rows: &'q [Vec<Value>],
    types: &[ColumnType],
) -> values::PgQuery<'q> {
    types
        .iter()
        .enumerate()
        .fold(sqlx::query(sql), |q, (col, t)| {
            values::bind_pg_column(q, rows, col, *t)
        })
}

fn push_conflict(sql: &mut String, columns: &[String], key: &[String]) {
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
}

impl wit::Host for DbView<'_> {
    async fn query(&mut self, sql: String, params: Vec<Value>) -> CapResult<Rows> {
        let kind = match self.check(&sql, &params) {
            Ok(kind) => kind,
            Err(e) => return Ok(Err(e)),
        };
        let result = self.run_query(&sql, &params, kind).await;
        if let (Ok(rows), StatementKind::Write) = (&result, kind) {
            // `INSERT … RETURNING`: each row returned is a row written.
            self.cap.wrote(rows.rows.len() as u64);
        }
        Ok(result)
    }

    async fn execute(&mut self, sql: String, params: Vec<Value>) -> CapResult<u64> {
        let kind = match self.check(&sql, &params) {
            Ok(kind) => kind,
            Err(e) => return Ok(Err(e)),
        };
        let access = match kind {
            StatementKind::Query => Access::PluginRead,
            StatementKind::Write => Access::PluginWrite,
        };
        let result = self.run_execute(&sql, &params, access).await;
        if let (Ok(n), StatementKind::Write) = (&result, kind) {
            self.cap.wrote(*n);
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
        if !is_identifier(&table) || !self.cap.grants.allows(&table) {
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
        if rows.is_empty() {
            return Ok(Ok(0));
        }
        let backend = self.tx.store().backend();
        if backend == Backend::Postgres {
            if let Some(types) = ColumnType::of_rows(&rows, columns.len()) {
                let sql = upsert_unnest_sql(&table, &columns, &key, &types);
                return Ok(match self.run_unnest(&sql, &columns, &rows, &types).await {
                    Ok(n) => {
                        self.cap.wrote(n);
                        Ok(n)
                    }
                    Err(e) => Err(e),
                });
            }
        }
        // Both backends bind at most 32,766 parameters per statement here (SQLite's limit).
        let per_statement = (32_766 / columns.len()).clamp(1, 1000);
        let mut written = 0u64;
        for (n, chunk) in rows.chunks(per_statement).enumerate() {
            let sql = upsert_sql(&table, &columns, &key, chunk.len(), backend);
            let flat: Vec<Value> = chunk.iter().flatten().cloned().collect();
            // One savepoint for the whole call: a failing chunk takes the earlier ones with it.
            let access = if n == 0 {
                Access::PluginWrite
            } else {
                Access::PluginWriteContinued
            };
            match self.run_execute(&sql, &flat, access).await {
                Ok(n) => written += n,
                Err(e) => return Ok(Err(e)),
            }
        }
        self.cap.wrote(written);
        Ok(Ok(written))
    }
}

/// Links the `db` interface, over the call's run transaction.
pub fn link<T: super::HasCaps>(
    linker: &mut wasmtime::component::Linker<T>,
) -> wasmtime::Result<()> {
    wit::add_to_linker::<_, DbData>(linker, |d| {
        let caps = d.caps();
        DbView {
            cap: &mut caps.db,
            tx: &mut caps.tx,
        }
    })
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

    #[test]
    fn nul_characters_are_refused_before_the_database() {
        assert!(values::check_param(0, &Value::Text("a\0b".into()))
            .unwrap_err()
            .contains("NUL"));
        assert!(
            values::check_param(1, &Value::Json(r#"{"k":"a\u0000"}"#.into()))
                .unwrap_err()
                .contains("parameter $2 contains a NUL")
        );
        assert!(values::check_param(0, &Value::Json(r#"{"k":"a\\u0000"}"#.into())).is_ok());
    }
}
