//! Get Records' query: validating `fields`, `page`/`per_page`, `sort_by`/`sort_order` and
//! `If-Modified-Since`, the 2,000-record discrete paging limit, and the `page_token`s that
//! continue past it (bound to the query, expiring after a day, keyset-based so records added
//! during a walk do not shift it).

use super::data::{Crm, Module, Record};
use super::params::Params;
use super::reply::CrmError;
use super::{dates, Rng};
use axum::http::HeaderMap;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use std::collections::HashMap;

/// Records reachable with `page` before a `page_token` is needed.
pub(super) const DISCRETE_LIMIT: usize = 2000;
/// Records reachable through page tokens.
const TOKEN_LIMIT: usize = 100_000;
/// Most field names one request may ask for.
const MAX_FIELDS: usize = 50;
/// Largest `per_page`.
pub(super) const MAX_PER_PAGE: usize = 200;
/// How long a page token stays usable.
const TOKEN_LIFETIME_HOURS: i64 = 24;

/// What records are sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SortBy {
    Id,
    CreatedTime,
    ModifiedTime,
}

impl SortBy {
    fn name(self) -> &'static str {
        match self {
            SortBy::Id => "id",
            SortBy::CreatedTime => "Created_Time",
            SortBy::ModifiedTime => "Modified_Time",
        }
    }

    /// The record's position in this order; ties on time break on id.
    fn key(self, r: &Record) -> (i64, u64) {
        match self {
            SortBy::Id => (0, r.id),
            SortBy::CreatedTime => (r.created.timestamp(), r.id),
            SortBy::ModifiedTime => (r.modified.timestamp(), r.id),
        }
    }
}

/// A validated Get Records request.
#[derive(Debug)]
pub(super) struct ListQuery {
    fields: Vec<String>,
    per_page: usize,
    page: usize,
    page_token: Option<String>,
    sort_by: SortBy,
    desc: bool,
    since: Option<DateTime<Utc>>,
    /// Everything a page token is bound to, normalised.
    binding: String,
}

/// A live page token: where the next page starts and what query it belongs to.
#[derive(Debug, Clone)]
struct PageToken {
    binding: String,
    /// The sort key of the last record already served.
    after: (i64, u64),
    page: usize,
    served: usize,
    expires: DateTime<Utc>,
}

/// The page tokens handed out so far.
#[derive(Debug, Default)]
pub(super) struct Tokens(HashMap<String, PageToken>);

fn number(params: &Params, name: &str, default: usize) -> Result<usize, CrmError> {
    match params.get(name) {
        None => Ok(default),
        Some(v) => v.trim().parse().map_err(|_| CrmError::invalid_param(name)),
    }
}

/// Validates a Get Records query for `module`.
pub(super) fn parse(
    module: Module,
    params: &Params,
    headers: &HeaderMap,
) -> Result<ListQuery, CrmError> {
    let fields: Vec<String> = params
        .get("fields")
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .map(str::to_owned)
        .collect();
    if fields.is_empty() {
        return Err(CrmError::bad(
            "REQUIRED_PARAM_MISSING",
            json!({ "param_name": "fields" }),
            "required param is missing",
        ));
    }
    if fields.len() > MAX_FIELDS {
        return Err(CrmError::bad(
            "LIMIT_EXCEEDED",
            json!({ "limit": MAX_FIELDS, "param_name": "fields" }),
            "limit exceeded",
        ));
    }
    if let Some(unknown) = fields
        .iter()
        .find(|f| *f != "id" && module.field(f).is_none())
    {
        return Err(CrmError::bad(
            "INVALID_DATA",
            json!({ "param_name": "fields", "api_name": unknown }),
            "invalid data",
        ));
    }
    let per_page = number(params, "per_page", MAX_PER_PAGE)?;
    if !(1..=MAX_PER_PAGE).contains(&per_page) {
        return Err(CrmError::invalid_param("per_page"));
    }
    let page = number(params, "page", 1)?;
    if page == 0 {
        return Err(CrmError::invalid_param("page"));
    }
    let page_token = params.get("page_token").map(str::to_owned);
    if page_token.is_some() && params.has("page") {
        return Err(CrmError::bad(
            "AMBIGUITY_DURING_PROCESSING",
            json!({ "ambiguity_due_to": [{ "param_name": "page" }, { "param_name": "page_token" }] }),
            "you cannot use both page and page_token",
        ));
    }
    let sort_by = match params.get("sort_by").unwrap_or("id") {
        "id" => SortBy::Id,
        "Created_Time" => SortBy::CreatedTime,
        "Modified_Time" => SortBy::ModifiedTime,
        _ => {
            return Err(CrmError::bad(
                "INVALID_DATA",
                json!({ "param_name": "sort_by", "supported_values": ["id", "Created_Time", "Modified_Time"] }),
                "invalid data",
            ))
        }
    };
    let desc = match params.get("sort_order").unwrap_or("desc") {
        "desc" => true,
        "asc" => false,
        _ => {
            return Err(CrmError::bad(
                "INVALID_DATA",
                json!({ "param_name": "sort_order", "supported_values": ["asc", "desc"] }),
                "invalid data",
            ))
        }
    };
    let since = match headers.get("if-modified-since") {
        None => None,
        Some(v) => match v.to_str().ok().and_then(dates::parse_since) {
            Some(t) => Some(t),
            None => return Err(CrmError::invalid_param("If-Modified-Since")),
        },
    };
    if page_token.is_none() && page * per_page > DISCRETE_LIMIT {
        return Err(CrmError::bad(
            "DISCRETE_PAGINATION_LIMIT_EXCEEDED",
            json!({ "limit": DISCRETE_LIMIT }),
            "You can only get the first 2000 records without using page_token param",
        ));
    }
    let binding = format!(
        "{}|{}|{per_page}|{}|{desc}|{}",
        module.api_name(),
        fields.join(","),
        sort_by.name(),
        since.map(|t| t.timestamp()).unwrap_or(i64::MIN),
    );
    Ok(ListQuery {
        fields,
        per_page,
        page,
        page_token,
        sort_by,
        desc,
        since,
        binding,
    })
}

/// Answers a validated query: `Ok(Some(body))`, `Ok(None)` for `204` (nothing on this page),
/// or an error answer for a bad, mismatched or expired page token.
pub(super) fn list(
    crm: &mut Crm,
    rng: &mut Rng,
    module: Module,
    q: &ListQuery,
    now: DateTime<Utc>,
) -> Result<Option<Value>, CrmError> {
    let mut matching: Vec<&Record> = crm
        .records(module)
        .filter(|r| q.since.is_none_or(|since| r.modified > since))
        .collect();
    matching.sort_by_key(|r| q.sort_by.key(r));
    if q.desc {
        matching.reverse();
    }
    let (start, page, served_before) = match &q.page_token {
        None => ((q.page - 1) * q.per_page, q.page, (q.page - 1) * q.per_page),
        Some(token) => {
            let state = crm.page_tokens.0.get(token);
            let Some(state) = state.filter(|s| s.binding == q.binding) else {
                return Err(CrmError::bad(
                    "TOKEN_BOUND_DATA_MISMATCH",
                    json!({ "param_name": "page_token" }),
                    "The page_token given seems to be invalid or input param is added or altered or deleted",
                ));
            };
            if now >= state.expires {
                return Err(CrmError::bad(
                    "EXPIRED_VALUE",
                    json!({ "api_name": "page_token", "json_path": "$.query.page_token" }),
                    "Page token expired",
                ));
            }
            if state.served >= TOKEN_LIMIT {
                return Err(CrmError::bad(
                    "PAGINATION_LIMIT_EXCEEDED",
                    json!({ "param_name": "page_token" }),
                    "You can only get upto 100000 records using page_token param",
                ));
            }
            let after = state.after;
            let start = matching
                .iter()
                .position(|r| {
                    let key = q.sort_by.key(r);
                    if q.desc {
                        key < after
                    } else {
                        key > after
                    }
                })
                .unwrap_or(matching.len());
            (start, state.page, state.served)
        }
    };
    let rows: Vec<&Record> = matching
        .iter()
        .skip(start)
        .take(q.per_page)
        .copied()
        .collect();
    let Some(last) = rows.last() else {
        return Ok(None);
    };
    let more = start + rows.len() < matching.len();
    let after = q.sort_by.key(last);
    let data: Vec<Value> = rows
        .iter()
        .map(|r| r.render(module, Some(&q.fields)))
        .collect();
    let count = data.len();
    let (next, expiry) = if more {
        let token = format!("{:016x}{:016x}", rng.next_u64(), rng.next_u64());
        let expires = now + chrono::Duration::hours(TOKEN_LIFETIME_HOURS);
        crm.page_tokens.0.insert(
            token.clone(),
            PageToken {
                binding: q.binding.clone(),
                after,
                page: page + 1,
                served: served_before + count,
                expires,
            },
        );
        (json!(token), json!(dates::crm(expires)))
    } else {
        (Value::Null, Value::Null)
    };
    Ok(Some(json!({
        "data": data,
        "info": {
            "call": false,
            "per_page": q.per_page,
            "next_page_token": next,
            "count": count,
            "sort_by": q.sort_by.name(),
            "page": page,
            "page_token_expiry": expiry,
            "sort_order": if q.desc { "desc" } else { "asc" },
            "email": false,
            "more_records": more,
            "previous_page_token": null,
        }
    })))
}
