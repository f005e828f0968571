//! A read request as PostgREST understands it: the query string (`select`, filters, `or`/`and`,
//! `order`, `limit`, `offset`), the `Range`, `Prefer` and `Accept` headers, checked in
//! PostgREST's order so the first error reported is the one PostgREST would report.

use super::columns::Column;
use super::error::ApiError;
use super::filter;
use super::predicate::{self, Pred};
use super::range::{self, Range};
use super::select::{self, SelectItem};
use axum::http::{header, HeaderMap, StatusCode};

/// One `order` term.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct OrderTerm {
    /// The column sorted on.
    pub(super) column: Column,
    /// Descending (`.desc`) rather than ascending (the default).
    pub(super) desc: bool,
    /// `Some(true)` nulls first, `Some(false)` nulls last, `None` Postgres' default (nulls
    /// last ascending, first descending).
    pub(super) nulls_first: Option<bool>,
}

/// Everything a `GET`/`HEAD` on the table asks for.
#[derive(Debug, Clone)]
pub(super) struct ReadRequest {
    /// Output keys and their columns, in `select` order.
    pub(super) select: Vec<(String, Column)>,
    /// Conditions a row must all meet.
    pub(super) filters: Vec<Pred>,
    /// `ORDER BY` terms; none means heap order.
    pub(super) order: Vec<OrderTerm>,
    /// The range asked for (before `max-rows`), which `Content-Range` and the status describe.
    pub(super) top_range: Range,
    /// `Prefer: count=…`.
    pub(super) count: bool,
    /// The `Preference-Applied` value, if any preference was applied.
    pub(super) applied: Option<String>,
    /// `Accept: application/vnd.pgrst.object+json`: one object instead of an array.
    pub(super) single_object: bool,
    /// The query string PostgREST echoes in `Content-Location` (parameters sorted by name).
    pub(super) canonical: String,
}

/// Decodes a query string like PostgREST (`+` is a space, then percent-decoding); a parameter
/// without `=` has no value.
pub(super) fn parse_query_string(raw: Option<&str>) -> Vec<(String, Option<String>)> {
    let Some(raw) = raw else { return Vec::new() };
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (decode(k), Some(decode(v))),
            None => (decode(p), None),
        })
        .collect()
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The last dot-separated word of a parameter name (`order`, `limit`, … apply to embeddings
/// when prefixed with their path).
fn last_word(key: &str) -> &str {
    key.rsplit('.').next().unwrap_or(key)
}

/// Reads the request; `is_get` because PostgREST honours `Range` on `GET` only.
pub(super) fn read_request(
    params: &[(String, Option<String>)],
    headers: &HeaderMap,
    is_get: bool,
) -> Result<ReadRequest, ApiError> {
    // The gateway consumes `apikey`; everything else reaches PostgREST.
    let params: Vec<(&str, Option<&str>)> = params
        .iter()
        .filter(|(k, _)| k != "apikey")
        .map(|(k, v)| (k.as_str(), v.as_deref()))
        .collect();
    let with_value = || params.iter().filter_map(|(k, v)| v.map(|v| (*k, v)));

    // 1. PostgREST's query-string parser: order, logic trees, select, filters (PGRST100).
    let mut order_raw = None;
    for (k, v) in with_value().filter(|(k, _)| last_word(k) == "order") {
        let terms = select::order_terms(v)?;
        if k != "order" {
            return Err(ApiError::not_embedded(k.split('.').next().unwrap_or(k)));
        }
        order_raw.get_or_insert(terms);
    }
    let mut trees = Vec::new();
    for (k, v) in with_value().filter(|(k, _)| matches!(last_word(k), "and" | "or")) {
        let path: Vec<&str> = k.split('.').filter(|p| *p != "not").collect();
        let op = if k.split('.').any(|p| p == "not") {
            format!("not.{}", last_word(k))
        } else {
            last_word(k).to_owned()
        };
        let tree =
            filter::parse_logic(&op, v).map_err(|f| ApiError::from_parse("logic tree", v, &f))?;
        if path.len() > 1 {
            return Err(ApiError::not_embedded(path[0]));
        }
        trees.push(tree);
    }
    let select_text = params
        .iter()
        .find(|(k, _)| *k == "select")
        .and_then(|(_, v)| *v)
        .unwrap_or("*");
    let select_items = select::select_items(select_text)?;
    let mut conds = Vec::new();
    for (k, v) in with_value().filter(|(k, _)| is_filter(k)) {
        let (field, used) =
            filter::field_name_prefix(k).map_err(|f| ApiError::from_parse("tree path", k, &f))?;
        let expr =
            filter::parse_filter_value(v).map_err(|f| ApiError::from_parse("filter", v, &f))?;
        let rest = &k[k.char_indices().nth(used).map_or(k.len(), |(i, _)| i)..];
        if rest.starts_with('.') {
            return Err(ApiError::not_embedded(&field));
        }
        if rest.starts_with("->") {
            return Err(ApiError::unsupported("Filtering on a JSON path"));
        }
        conds.push(filter::Cond { field, expr });
    }

    // 2. Ranges (416 PGRST103 when empty).
    let range_header = if is_get {
        headers
            .get(header::RANGE)
            .and_then(|v| v.to_str().ok())
            .map(range::parse_header)
    } else {
        None
    };
    let number = |name: &str| {
        params
            .iter()
            .rev()
            .find(|(k, _)| *k == name)
            .and_then(|(_, v)| *v)
            .map(range::read_integer)
    };
    let top_range = range::top_level(range_header, number("limit"), number("offset"))?;

    // 3. Media type and preferences.
    let single_object = accept(headers)?;
    let prefs = Preferences::read(headers)?;

    // 4. The SQL: columns in select, where, order by; then literals.
    let mut select = Vec::new();
    for item in select_items {
        match item {
            SelectItem::Star => {
                select.extend(Column::ALL.iter().map(|c| (c.name().to_owned(), *c)))
            }
            SelectItem::Field { key, name } => select.push((key, predicate::column(&name)?)),
        }
    }
    let mut filters = Vec::new();
    for c in &conds {
        filters.push(predicate::compile_cond(c)?);
    }
    for t in &trees {
        filters.push(predicate::compile_tree(t)?);
    }
    let mut order = Vec::new();
    for (name, desc, nulls_first) in order_raw.unwrap_or_default() {
        order.push(OrderTerm {
            column: predicate::column(&name)?,
            desc,
            nulls_first,
        });
    }
    if top_range.lo < 0 {
        return Err(ApiError::postgres(
            "2201X",
            "OFFSET must not be negative",
            None,
        ));
    }

    let mut sorted: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.unwrap_or(""))).collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    let canonical = sorted
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    Ok(ReadRequest {
        select,
        filters,
        order,
        top_range,
        count: prefs.count,
        applied: prefs.applied,
        single_object,
        canonical,
    })
}

fn is_filter(key: &str) -> bool {
    !matches!(key, "select" | "columns" | "on_conflict")
        && !matches!(last_word(key), "order" | "limit" | "offset" | "and" | "or")
}

/// Whether the client wants one object; `406 PGRST107` when it accepts nothing PostgREST offers.
fn accept(headers: &HeaderMap) -> Result<bool, ApiError> {
    let Some(value) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return Ok(false);
    };
    let types: Vec<&str> = value
        .split(',')
        .map(|t| t.split(';').next().unwrap_or("").trim())
        .filter(|t| !t.is_empty())
        .collect();
    if types.is_empty() {
        return Ok(false);
    }
    if types
        .iter()
        .any(|t| t.starts_with("application/vnd.pgrst.object"))
    {
        return Ok(true);
    }
    if types.iter().any(|t| {
        matches!(*t, "*/*" | "application/*" | "application/json")
            || t.starts_with("application/vnd.pgrst.array")
    }) {
        return Ok(false);
    }
    if types.iter().any(|t| {
        matches!(
            *t,
            "text/csv" | "application/geo+json" | "text/plain" | "application/octet-stream"
        )
    }) {
        return Err(ApiError::unsupported("This media type"));
    }
    Err(ApiError::pgrst(
        StatusCode::NOT_ACCEPTABLE,
        "PGRST107",
        &format!(
            "None of these media types are available: {}",
            types.join(", ")
        ),
        None,
        None,
    ))
}

/// The `Prefer` header's parts a read uses.
struct Preferences {
    count: bool,
    applied: Option<String>,
}

impl Preferences {
    fn read(headers: &HeaderMap) -> Result<Self, ApiError> {
        let prefs: Vec<&str> = headers
            .get_all("prefer")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .collect();
        let known = [
            "resolution=merge-duplicates",
            "resolution=ignore-duplicates",
            "return=representation",
            "return=minimal",
            "return=headers-only",
            "count=exact",
            "count=planned",
            "count=estimated",
            "tx=commit",
            "tx=rollback",
            "missing=default",
            "missing=null",
            "handling=strict",
            "handling=lenient",
        ];
        let first = |options: &[&str]| prefs.iter().find(|p| options.contains(p)).copied();
        let count = first(&["count=exact", "count=planned", "count=estimated"]);
        let handling = first(&["handling=strict", "handling=lenient"]);
        let invalid: Vec<&str> = prefs
            .iter()
            .copied()
            .filter(|p| {
                !known.contains(p) && !p.starts_with("timezone=") && !p.starts_with("max-affected=")
            })
            .collect();
        if handling == Some("handling=strict") && !invalid.is_empty() {
            return Err(ApiError::pgrst(
                StatusCode::BAD_REQUEST,
                "PGRST122",
                "Invalid preferences given with handling=strict",
                Some(&format!("Invalid preferences: {}", invalid.join(", "))),
                None,
            ));
        }
        let timezone = prefs.iter().find(|p| p.starts_with("timezone="));
        if let Some(tz) = timezone {
            if !matches!(&tz["timezone=".len()..], "UTC" | "Etc/UTC") {
                return Err(ApiError::unsupported("A session timezone other than UTC"));
            }
        }
        let applied: Vec<&str> = [count, handling, timezone.copied()]
            .into_iter()
            .flatten()
            .collect();
        Ok(Preferences {
            count: count.is_some(),
            applied: (!applied.is_empty()).then(|| applied.join(", ")),
        })
    }
}
