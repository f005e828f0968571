//! SQL on the tables the manifest grants, inside the run's transaction. Parameters are bound as
//! `$1`, `$2`, … and never spliced into the SQL.

use crate::bindings::connector::host::db as raw;
use crate::Error;

pub use raw::{Rows, Value};

/// One row of values, in column order.
pub type Row = Vec<Value>;

/// Runs one statement and returns its rows.
pub fn query(sql: &str, params: &[Value]) -> Result<Rows, Error> {
    raw::query(sql, params)
}

/// Runs one statement and returns the number of rows it affected.
pub fn execute(sql: &str, params: &[Value]) -> Result<u64, Error> {
    raw::execute(sql, params)
}

/// Inserts or updates `rows` (values in `columns` order) keyed on `key`; the host batches them.
/// Returns the number of rows written.
pub fn upsert(table: &str, columns: &[&str], key: &[&str], rows: &[Row]) -> Result<u64, Error> {
    let columns: Vec<String> = columns.iter().map(|c| (*c).to_owned()).collect();
    let key: Vec<String> = key.iter().map(|c| (*c).to_owned()).collect();
    raw::upsert(table, &columns, &key, rows)
}

/// A type that is one row of a table: its column names and its values in that order. Upsert a
/// slice of them with [`upsert_records`].
pub trait Record {
    /// The column names, in the order of [`Record::values`].
    const COLUMNS: &'static [&'static str];
    /// The row's values.
    fn values(&self) -> Row;
}

/// Upserts `records` into `table` keyed on `key` (see [`upsert`]).
pub fn upsert_records<R: Record>(table: &str, key: &[&str], records: &[R]) -> Result<u64, Error> {
    let rows: Vec<Row> = records.iter().map(Record::values).collect();
    upsert(table, R::COLUMNS, key, &rows)
}

/// A type built from one result row, reading columns by name (see [`Rows::decode`]).
pub trait FromRow: Sized {
    /// Reads one row.
    fn from_row(row: &NamedRow<'_>) -> Result<Self, Error>;
}

/// One row of a result, readable by column name.
pub struct NamedRow<'a> {
    columns: &'a [String],
    values: &'a [Value],
}

impl<'a> NamedRow<'a> {
    /// The value of column `name`, if the result has it.
    pub fn get(&self, name: &str) -> Option<&'a Value> {
        let i = self.columns.iter().position(|c| c == name)?;
        self.values.get(i)
    }

    /// Column `name` as an integer; an error naming the column when it is missing or not one.
    pub fn i64(&self, name: &str) -> Result<i64, Error> {
        self.get(name)
            .and_then(Value::as_i64)
            .ok_or_else(|| Error::invalid(format!("column {name} is not an integer")))
    }

    /// Column `name` as text (text, JSON or a timestamp); an error when it is missing or not one.
    pub fn str(&self, name: &str) -> Result<&'a str, Error> {
        self.get(name)
            .and_then(Value::as_str)
            .ok_or_else(|| Error::invalid(format!("column {name} is not text")))
    }

    /// Column `name` as a number (integers widen); an error when it is missing or not one.
    pub fn f64(&self, name: &str) -> Result<f64, Error> {
        self.get(name)
            .and_then(Value::as_f64)
            .ok_or_else(|| Error::invalid(format!("column {name} is not a number")))
    }

    /// Column `name`, or `None` when it is missing or NULL.
    pub fn opt(&self, name: &str) -> Option<&'a Value> {
        self.get(name).filter(|v| !v.is_null())
    }
}

impl Rows {
    /// The index of column `name`, if the result has it.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }

    /// The rows, each readable by column name.
    pub fn named(&self) -> impl Iterator<Item = NamedRow<'_>> {
        self.rows.iter().map(|values| NamedRow {
            columns: &self.columns,
            values,
        })
    }

    /// Every row decoded into `T`.
    pub fn decode<T: FromRow>(&self) -> Result<Vec<T>, Error> {
        self.named().map(|r| T::from_row(&r)).collect()
    }
}

impl Value {
    /// The value as an integer, if it is one.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Integer(i) => Some(*i),
            _ => None,
        }
    }

    /// The value as text (text, JSON and timestamps are all text), if it is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Text(s) | Value::Json(s) | Value::Timestamp(s) => Some(s),
            _ => None,
        }
    }

    /// The value as a float (integers widen), if it is a number.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Real(f) => Some(*f),
            Value::Integer(i) => Some(*i as f64),
            _ => None,
        }
    }

    /// Whether the value is SQL NULL.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Integer(v)
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Real(v)
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Boolean(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_owned())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map(Into::into).unwrap_or(Value::Null)
    }
}
