//! List requests: page mode (`page`, `limit` 1..=50, answering `total`) or cursor mode (`cursor=start`, then the returned cursor), and Commerce7 filters `field=op:value`.
//!
//! Every list is ordered by `updatedAt`, then `id`, in both modes; a cursor is the key of the
//! last row served (opaque base64), so a walk never skips a row, and a row changed during the
//! walk comes again at its end with its new `updatedAt`.

use super::data::parse_date;
use super::error::{ApiError, FieldError};
use super::table::{Keyed, PageKey, Table};
use axum::extract::Query;
use axum::http::Uri;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};

/// The most rows one answer carries (`limit` above it answers 422).
pub const MAX_LIMIT: usize = 50;

/// What kind of value a filterable field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// A date: all operators; values ISO-8601 or `YYYY-MM-DD`.
    Date,
    /// An integer (cents, counts): all operators.
    Num,
    /// Text or an id: equality only.
    Text,
}

/// A row's value of a filterable field.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Val {
    Date(Option<DateTime<Utc>>),
    Num(i64),
    Text(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Gt,
    Gte,
    Lt,
    Lte,
    Btw,
}

#[derive(Debug, Clone, PartialEq)]
enum Lit {
    Date(DateTime<Utc>),
    Num(i64),
    Text(String),
}

/// One `field=op:value` condition.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Filter {
    field: String,
    op: Op,
    value: Lit,
    /// The upper bound of `btw:a|b`.
    upper: Option<Lit>,
}

/// Page or cursor mode.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Mode {
    /// `page` from 1.
    Page { page: usize, limit: usize },
    /// After this `(updatedAt, id)` key (`None`: from the start).
    Cursor {
        after: Option<PageKey>,
        limit: usize,
    },
}

/// A parsed list request.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct ListQuery {
    pub(super) mode: Mode,
    pub(super) filters: Vec<Filter>,
    /// `q=` free-text search, for the routes that support it.
    pub(super) q: Option<String>,
}

/// The query string as decoded pairs (a malformed one reads as empty: its parameters are
/// then ignored, like unknown ones).
pub(super) fn params(uri: &Uri) -> Vec<(String, String)> {
    Query::try_from_uri(uri)
        .map(|Query(p)| p)
        .unwrap_or_default()
}

/// Whether the query string asks for cursor mode (the rate limit exempts it).
pub(super) fn is_cursor(params: &[(String, String)]) -> bool {
    params.iter().any(|(k, _)| k == "cursor")
}

/// The page number asked for in page mode, if any (for the deep-page limit).
pub(super) fn page_number(params: &[(String, String)]) -> Option<usize> {
    params
        .iter()
        .find(|(k, _)| k == "page")
        .and_then(|(_, v)| v.parse().ok())
}

/// Parses paging and the filters on `fields`; other parameters are ignored, as the API does.
pub(super) fn parse(
    params: &[(String, String)],
    fields: &[(&str, Kind)],
) -> Result<ListQuery, ApiError> {
    let mut errors = Vec::new();
    let get = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v);
    let number = |name: &str, default: usize, errors: &mut Vec<FieldError>| match get(name) {
        None => default,
        Some(v) => match v.parse::<usize>() {
            Ok(n) => n,
            Err(_) => {
                errors.push(FieldError::invalid(name, "must be a number"));
                default
            }
        },
    };
    let limit = number("limit", MAX_LIMIT, &mut errors);
    if !(1..=MAX_LIMIT).contains(&limit) {
        errors.push(FieldError::invalid(
            "limit",
            format!("must be between 1 and {MAX_LIMIT}"),
        ));
    }
    let mode = match get("cursor") {
        Some(c) if c == "start" => Mode::Cursor { after: None, limit },
        Some(c) => match decode_cursor(c) {
            Some(after) => Mode::Cursor {
                after: Some(after),
                limit,
            },
            None => {
                errors.push(FieldError::invalid("cursor", "invalid cursor"));
                Mode::Cursor { after: None, limit }
            }
        },
        None => {
            let page = number("page", 1, &mut errors);
            if page < 1 {
                errors.push(FieldError::invalid("page", "must be at least 1"));
            }
            Mode::Page { page, limit }
        }
    };
    let mut filters = Vec::new();
    for (key, raw) in params {
        let Some(&(_, kind)) = fields.iter().find(|(f, _)| f == key) else {
            continue;
        };
        match parse_filter(key, raw, kind) {
            Ok(f) => filters.push(f),
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let q = get("q").map(|s| s.to_lowercase()).filter(|s| !s.is_empty());
    Ok(ListQuery { mode, filters, q })
}

fn parse_filter(field: &str, raw: &str, kind: Kind) -> Result<Filter, FieldError> {
    let (op, rest) = match raw.split_once(':') {
        Some(("gt", r)) => (Op::Gt, r),
        Some(("gte", r)) => (Op::Gte, r),
        Some(("lt", r)) => (Op::Lt, r),
        Some(("lte", r)) => (Op::Lte, r),
        Some(("btw", r)) => (Op::Btw, r),
        // No operator: equality with the whole value (a date's own colons included).
        _ => (Op::Eq, raw),
    };
    if kind == Kind::Text && op != Op::Eq {
        return Err(FieldError::invalid(field, "only equality is supported"));
    }
    let lit = |s: &str| -> Result<Lit, FieldError> {
        match kind {
            Kind::Date => parse_date(s)
                .map(Lit::Date)
                .ok_or_else(|| FieldError::invalid(field, format!("invalid date '{s}'"))),
            Kind::Num => s
                .parse()
                .map(Lit::Num)
                .map_err(|_| FieldError::invalid(field, format!("invalid number '{s}'"))),
            Kind::Text => Ok(Lit::Text(s.to_owned())),
        }
    };
    let (value, upper) = if op == Op::Btw {
        let (lo, hi) = rest
            .split_once('|')
            .ok_or_else(|| FieldError::invalid(field, "btw needs 'btw:from|to'"))?;
        (lit(lo)?, Some(lit(hi)?))
    } else {
        (lit(rest)?, None)
    };
    Ok(Filter {
        field: field.to_owned(),
        op,
        value,
        upper,
    })
}

impl Filter {
    /// Whether a row whose field is `v` passes. A null date passes nothing.
    pub(super) fn accepts(&self, v: &Val) -> bool {
        use std::cmp::Ordering;
        let cmp = |lit: &Lit| -> Option<Ordering> {
            match (v, lit) {
                (Val::Date(Some(a)), Lit::Date(b)) => Some(a.cmp(b)),
                (Val::Num(a), Lit::Num(b)) => Some(a.cmp(b)),
                (Val::Text(a), Lit::Text(b)) => Some(a.as_str().cmp(b.as_str())),
                _ => None,
            }
        };
        let Some(o) = cmp(&self.value) else {
            return false;
        };
        match self.op {
            Op::Eq => o == Ordering::Equal,
            Op::Gt => o == Ordering::Greater,
            Op::Gte => o != Ordering::Less,
            Op::Lt => o == Ordering::Less,
            Op::Lte => o != Ordering::Greater,
            Op::Btw => {
                o != Ordering::Less
                    && self
                        .upper
                        .as_ref()
                        .and_then(cmp)
                        .is_some_and(|u| u != Ordering::Greater)
            }
        }
    }

    /// The field this filter reads.
    pub(super) fn field(&self) -> &str {
        &self.field
    }
}

/// How a list answer ends: the total (page mode) or the next cursor (cursor mode).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Tail {
    Total(usize),
    Cursor(Option<String>),
}

/// The page `mode` asks for of the rows of `table` that `keep` accepts, in `(updatedAt, id)`
/// order. A cursor page reads only as far as it needs; a page-mode answer counts every match
/// for its `total`.
pub(super) fn paginate<'a, T: Keyed>(
    table: &'a Table<T>,
    mode: &Mode,
    keep: impl Fn(&T) -> bool,
) -> (Vec<&'a T>, Tail) {
    match mode {
        Mode::Page { page, limit } => {
            let start = page.saturating_sub(1).saturating_mul(*limit);
            let mut total = 0;
            let mut rows = Vec::new();
            for row in table.in_order(None).filter(|r| keep(r)) {
                if total >= start && rows.len() < *limit {
                    rows.push(row);
                }
                total += 1;
            }
            (rows, Tail::Total(total))
        }
        Mode::Cursor { after, limit } => {
            let mut matching = table.in_order(after.as_ref()).filter(|r| keep(r));
            let rows: Vec<&T> = matching.by_ref().take(*limit).collect();
            let next = match (matching.next(), rows.last()) {
                (Some(_), Some(last)) => Some(encode_cursor(
                    last.updated_at().timestamp_millis(),
                    last.id(),
                )),
                _ => None,
            };
            (rows, Tail::Cursor(next))
        }
    }
}

fn encode_cursor(ms: i64, id: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{ms}|{id}"))
}

fn decode_cursor(c: &str) -> Option<PageKey> {
    let bytes = URL_SAFE_NO_PAD.decode(c).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (ms, id) = text.split_once('|')?;
    Some((ms.parse().ok()?, id.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(q: &[(&str, &str)]) -> Vec<(String, String)> {
        q.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn filters_and_limits() {
        let fields = [("updatedAt", Kind::Date), ("status", Kind::Text)];
        let q = parse(
            &params(&[("updatedAt", "gte:2024-01-01T00:00:00Z"), ("x", "y")]),
            &fields,
        )
        .expect("a query");
        assert_eq!(q.filters.len(), 1);
        let day = |s| Val::Date(parse_date(s));
        assert!(q.filters[0].accepts(&day("2024-01-01T00:00:00.000Z")));
        assert!(!q.filters[0].accepts(&day("2023-12-31T23:59:59.999Z")));
        assert!(!q.filters[0].accepts(&Val::Date(None)));
        let btw = parse(
            &params(&[("updatedAt", "btw:2024-01-01|2024-02-01")]),
            &fields,
        )
        .expect("btw");
        assert!(btw.filters[0].accepts(&day("2024-02-01")));
        assert!(!btw.filters[0].accepts(&day("2024-02-02")));
        for bad in [
            ("limit", "51"),
            ("limit", "0"),
            ("page", "0"),
            ("updatedAt", "gte:soon"),
            ("status", "gt:A"),
            ("cursor", "%%%"),
        ] {
            assert!(parse(&params(&[bad]), &fields).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn cursor_walk_sees_each_row_once_in_order() {
        let mut table = Table::default();
        let data = super::super::generate(3, 40, 2);
        for c in data.customers {
            table.put(c);
        }
        let mut mode = Mode::Cursor {
            after: None,
            limit: 7,
        };
        let mut seen = Vec::new();
        loop {
            let (page, tail) = paginate(&table, &mode, |_| true);
            seen.extend(page.into_iter().map(|c| (c.updated_at, c.id.clone())));
            match tail {
                Tail::Cursor(Some(c)) => {
                    mode = Mode::Cursor {
                        after: decode_cursor(&c),
                        limit: 7,
                    }
                }
                _ => break,
            }
        }
        assert_eq!(seen.len(), 40);
        let mut sorted = seen.clone();
        sorted.sort();
        assert_eq!(seen, sorted);
        let (page, tail) = paginate(&table, &Mode::Page { page: 6, limit: 7 }, |_| true);
        assert_eq!((page.len(), tail), (5, Tail::Total(40)));
    }
}
