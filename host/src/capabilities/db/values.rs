//! Typed values across the boundary: binding a plugin's `db.value`s to sqlx queries and reading
//! result columns back into them, the same way on SQLite and PostgreSQL.

use crate::bindings::connector::host::db::Value;
use crate::limits;
use chrono::{DateTime, NaiveDateTime, Utc};
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{types::Oid, PgArgumentBuffer, PgRow, PgTypeInfo, Postgres};
use sqlx::sqlite::{Sqlite, SqliteRow};
use sqlx::{Column, Row, TypeInfo, ValueRef};

/// A query whose parameters are being bound.
pub type SqliteQuery<'q> = sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments<'q>>;
/// A query whose parameters are being bound.
pub type PgQuery<'q> = sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>;

/// Checks a plugin's parameter before binding; the error is safe to return to the plugin.
pub fn check_param(index: usize, v: &Value) -> Result<(), String> {
    let len = match v {
        Value::Text(s) | Value::Json(s) | Value::Timestamp(s) => s.len(),
        Value::Blob(b) => b.len(),
        _ => 0,
    };
    if len > limits::SQL_VALUE_BYTES {
        return Err(format!(
            "parameter ${} is {len} bytes; the limit is {}",
            index + 1,
            limits::SQL_VALUE_BYTES
        ));
    }
    let nul = || {
        format!(
            "parameter ${} contains a NUL character, which the database cannot store",
            index + 1
        )
    };
    match v {
        Value::Text(s) if s.contains('\0') => Err(nul()),
        Value::Json(s) => match serde_json::from_str::<serde_json::Value>(s) {
            Ok(doc) if json_has_nul(&doc) => Err(nul()),
            Ok(_) => Ok(()),
            Err(e) => Err(format!("parameter ${} is not valid json: {e}", index + 1)),
        },
        Value::Timestamp(s) => parse_timestamp(s).map(drop).map_err(|_| {
            format!(
                "parameter ${} is not an RFC 3339 timestamp: {s:?}",
                index + 1
            )
        }),
        Value::Real(f) if !f.is_finite() => {
            Err(format!("parameter ${} is not a finite number", index + 1))
        }
        _ => Ok(()),
    }
}

/// Whether a JSON document holds a NUL character in a string or key (`\u0000`), which
/// PostgreSQL's `jsonb` refuses.
pub fn json_has_nul(doc: &serde_json::Value) -> bool {
    match doc {
        serde_json::Value::String(s) => s.contains('\0'),
        serde_json::Value::Array(items) => items.iter().any(json_has_nul),
        serde_json::Value::Object(map) => {
            map.iter().any(|(k, v)| k.contains('\0') || json_has_nul(v))
        }
        _ => false,
    }
}

fn parse_timestamp(s: &str) -> Result<DateTime<Utc>, chrono::ParseError> {
    DateTime::parse_from_rfc3339(s).map(|t| t.with_timezone(&Utc))
}

/// Binds `v` to a SQLite query. JSON and timestamps are stored as text (timestamps normalised
/// to RFC 3339 UTC), booleans as 0/1.
pub fn bind_sqlite<'q>(q: SqliteQuery<'q>, v: &Value) -> SqliteQuery<'q> {
    match v {
        Value::Null => q.bind(None::<i64>),
        Value::Boolean(b) => q.bind(*b),
        Value::Integer(i) => q.bind(*i),
        Value::Real(f) => q.bind(*f),
        Value::Text(s) | Value::Json(s) => q.bind(s.clone()),
        Value::Timestamp(s) => q.bind(
            parse_timestamp(s)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
                .unwrap_or_else(|_| s.clone()),
        ),
        Value::Blob(b) => q.bind(b.clone()),
    }
}

/// Binds `v` to a PostgreSQL query, each value with its own type: text is `text` (a column of
/// another type answers "column … is of type … but expression is of type text", naming the
/// parameter's position; send timestamps as `Value::Timestamp` and JSON as `Value::Json`). NULL
/// goes untyped, so the server gives it the column's type.
pub fn bind_pg<'q>(q: PgQuery<'q>, v: &Value) -> PgQuery<'q> {
    match v {
        Value::Null => q.bind(Untyped(None)),
        Value::Boolean(b) => q.bind(*b),
        Value::Integer(i) => q.bind(*i),
        Value::Real(f) => q.bind(*f),
        Value::Text(s) => q.bind(s.clone()),
        Value::Json(s) => q.bind(sqlx::types::Json(
            serde_json::from_str::<serde_json::Value>(s).unwrap_or(serde_json::Value::Null),
        )),
        Value::Timestamp(s) => match parse_timestamp(s) {
            Ok(t) => q.bind(t),
            Err(_) => q.bind(s.clone()),
        },
        Value::Blob(b) => q.bind(b.clone()),
    }
}

/// The PostgreSQL array type one upsert column is sent as, when every value of the column has
/// the same type (NULLs aside).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    /// Only NULLs: written as a plain `NULL`, which takes the column's type.
    Null,
    Boolean,
    Integer,
    Real,
    Text,
    Json,
    Timestamp,
    Blob,
}

impl ColumnType {
    fn of(v: &Value) -> ColumnType {
        match v {
            Value::Null => ColumnType::Null,
            Value::Boolean(_) => ColumnType::Boolean,
            Value::Integer(_) => ColumnType::Integer,
            Value::Real(_) => ColumnType::Real,
            Value::Text(_) => ColumnType::Text,
            Value::Json(_) => ColumnType::Json,
            Value::Timestamp(_) => ColumnType::Timestamp,
            Value::Blob(_) => ColumnType::Blob,
        }
    }

    /// The array type's name in SQL; `None` for an all-NULL column.
    pub fn array_sql(self) -> Option<&'static str> {
        Some(match self {
            ColumnType::Null => return None,
            ColumnType::Boolean => "boolean[]",
            ColumnType::Integer => "int8[]",
            ColumnType::Real => "float8[]",
            ColumnType::Text => "text[]",
            ColumnType::Json => "jsonb[]",
            ColumnType::Timestamp => "timestamptz[]",
            ColumnType::Blob => "bytea[]",
        })
    }

    /// Each column's type when every column holds one type (NULLs aside) and at least one column
    /// is not all NULL: then the rows can travel as one array per column. `None` otherwise.
    pub fn of_rows(rows: &[Vec<Value>], ncols: usize) -> Option<Vec<ColumnType>> {
        let mut types = vec![ColumnType::Null; ncols];
        for row in rows {
            for (t, v) in types.iter_mut().zip(row) {
                match (ColumnType::of(v), *t) {
                    (ColumnType::Null, _) => {}
                    (found, ColumnType::Null) => *t = found,
                    (found, known) if found == known => {}
                    _ => return None,
                }
            }
        }
        types
            .iter()
            .any(|t| *t != ColumnType::Null)
            .then_some(types)
    }
}

/// Binds column `col` of `rows` as one array of type `t` (see [`ColumnType::of_rows`]).
pub fn bind_pg_column<'q>(
    q: PgQuery<'q>,
    rows: &'q [Vec<Value>],
    col: usize,
    t: ColumnType,
) -> PgQuery<'q> {
    fn each<'q, T>(
        rows: &'q [Vec<Value>],
        col: usize,
        f: fn(&'q Value) -> Option<T>,
    ) -> Vec<Option<T>> {
        rows.iter().map(|r| f(&r[col])).collect()
    }
    match t {
        ColumnType::Null => q,
        ColumnType::Boolean => q.bind(each(rows, col, |v| match v {
            Value::Boolean(b) => Some(*b),
            _ => None,
        })),
        ColumnType::Integer => q.bind(each(rows, col, |v| match v {
            Value::Integer(i) => Some(*i),
            _ => None,
        })),
        ColumnType::Real => q.bind(each(rows, col, |v| match v {
            Value::Real(f) => Some(*f),
            _ => None,
        })),
        ColumnType::Text => q.bind(each(rows, col, |v| match v {
            Value::Text(s) => Some(s.as_str()),
            _ => None,
        })),
        ColumnType::Json => q.bind(each(rows, col, |v| match v {
            Value::Json(s) => Some(sqlx::types::Json(
                serde_json::from_str::<serde_json::Value>(s).unwrap_or(serde_json::Value::Null),
            )),
            _ => None,
        })),
        // Checked before binding (`check_param`): every timestamp parses.
        ColumnType::Timestamp => q.bind(each(rows, col, |v| match v {
            Value::Timestamp(s) => parse_timestamp(s).ok(),
            _ => None,
        })),
        ColumnType::Blob => q.bind(each(rows, col, |v| match v {
            Value::Blob(b) => Some(b.as_slice()),
            _ => None,
        })),
    }
}

/// A NULL (or, for an unparseable timestamp, text) parameter whose type PostgreSQL infers from
/// context (OID 0).
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

/// Column names of a result row.
pub fn column_names<R: Row>(row: &R) -> Vec<String> {
    row.columns().iter().map(|c| c.name().to_owned()).collect()
}

/// Reads column `i` of a SQLite row. SQLite types values, not columns: the declared type decides
/// booleans, the stored value decides the rest.
pub fn sqlite_value(row: &SqliteRow, i: usize) -> Result<Value, String> {
    let raw = row.try_get_raw(i).map_err(|e| e.to_string())?;
    if raw.is_null() {
        return Ok(Value::Null);
    }
    let declared = row.column(i).type_info().name().to_ascii_uppercase();
    let stored = raw.type_info().name().to_ascii_uppercase();
    let get_err = |e: sqlx::Error| format!("column {i}: {e}");
    Ok(match (declared.as_str(), stored.as_str()) {
        ("BOOLEAN", _) | (_, "BOOLEAN") => {
            Value::Boolean(row.try_get::<bool, _>(i).map_err(get_err)?)
        }
        // Timestamps are stored as RFC 3339 text; a DATETIME column reads back as a timestamp,
        // as a TIMESTAMPTZ column does on PostgreSQL.
        ("DATETIME", stored) if stored != "INTEGER" && stored != "REAL" => {
            let text = row.try_get::<String, _>(i).map_err(get_err)?;
            match parse_timestamp(&text) {
                Ok(t) => Value::Timestamp(t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)),
                Err(_) => Value::Text(text),
            }
        }
        (_, "INTEGER") => Value::Integer(row.try_get::<i64, _>(i).map_err(get_err)?),
        (_, "REAL") => Value::Real(row.try_get::<f64, _>(i).map_err(get_err)?),
        (_, "BLOB") => Value::Blob(row.try_get::<Vec<u8>, _>(i).map_err(get_err)?),
        _ => Value::Text(row.try_get::<String, _>(i).map_err(get_err)?),
    })
}

/// Reads column `i` of a PostgreSQL row by its column type.
pub fn pg_value(row: &PgRow, i: usize) -> Result<Value, String> {
    let raw = row.try_get_raw(i).map_err(|e| e.to_string())?;
    if raw.is_null() {
        return Ok(Value::Null);
    }
    let ty = row.column(i).type_info().name().to_owned();
    let get_err = |e: sqlx::Error| format!("column {}: {e}", row.column(i).name());
    Ok(match ty.as_str() {
        "BOOL" => Value::Boolean(row.try_get::<bool, _>(i).map_err(get_err)?),
        "INT2" => Value::Integer(row.try_get::<i16, _>(i).map_err(get_err)?.into()),
        "INT4" => Value::Integer(row.try_get::<i32, _>(i).map_err(get_err)?.into()),
        "INT8" => Value::Integer(row.try_get::<i64, _>(i).map_err(get_err)?),
        "FLOAT4" => Value::Real(row.try_get::<f32, _>(i).map_err(get_err)?.into()),
        "FLOAT8" => Value::Real(row.try_get::<f64, _>(i).map_err(get_err)?),
        "NUMERIC" => {
            // Sums and averages of integers are NUMERIC in PostgreSQL; give back an integer when
            // the value is whole and fits, as SQLite would, else a float.
            let d = row
                .try_get::<rust_decimal::Decimal, _>(i)
                .map_err(get_err)?;
            match (d.fract().is_zero(), i64::try_from(d)) {
                (true, Ok(n)) => Value::Integer(n),
                _ => Value::Real(f64::try_from(d).map_err(|e| e.to_string())?),
            }
        }
        "BYTEA" => Value::Blob(row.try_get::<Vec<u8>, _>(i).map_err(get_err)?),
        "JSON" | "JSONB" => Value::Json(
            row.try_get::<serde_json::Value, _>(i)
                .map_err(get_err)?
                .to_string(),
        ),
        "TIMESTAMPTZ" => Value::Timestamp(
            row.try_get::<DateTime<Utc>, _>(i)
                .map_err(get_err)?
                .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        ),
        "TIMESTAMP" => Value::Timestamp(
            row.try_get::<NaiveDateTime, _>(i)
                .map_err(get_err)?
                .and_utc()
                .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        ),
        "DATE" => Value::Text(
            row.try_get::<chrono::NaiveDate, _>(i)
                .map_err(get_err)?
                .to_string(),
        ),
        "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" | "CHAR" => {
            Value::Text(row.try_get::<String, _>(i).map_err(get_err)?)
        }
        other => {
            return Err(format!(
                "column {} has type {other}, which plugins cannot read; cast it to text",
                row.column(i).name()
            ))
        }
    })
}

/// Bytes a value occupies, for the result-size cap.
pub fn value_size(v: &Value) -> usize {
    match v {
        Value::Text(s) | Value::Json(s) | Value::Timestamp(s) => s.len(),
        Value::Blob(b) => b.len(),
        _ => 8,
    }
}
