//! The HTTP side: routes, the per-request flow (key check, hooks, scripted failures, query),
//! and answers rendered like PostgREST's (`json_agg` bodies, `Content-Range`, `Content-Location`).

use super::auth;
use super::columns::{Column, Val};
use super::error::ApiError;
use super::predicate;
use super::query::{self, OrderTerm, ReadRequest};
use super::range;
use super::time;
use super::{Hook, Lead, PortalData, ScriptedError};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, Response, StatusCode, Uri};
use axum::routing::{any, get};
use axum::Router;
use std::cmp::Ordering;

/// Rows one answer carries at most unless [`PortalData::set_max_rows`] says otherwise:
/// Supabase's default `max-rows`.
pub const DEFAULT_MAX_ROWS: usize = 1000;

/// The fake Supabase routes over `data`: `GET`/`HEAD /rest/v1/leads`; any other table answers
/// PostgREST's `404 PGRST205`, other methods a `501` (the fake is read-only), other paths the
/// gateway's `404`.
pub fn router(data: PortalData) -> Router {
    Router::new()
        .route("/rest/v1/leads", get(leads).fallback(writes))
        .route("/rest/v1/{table}", any(unknown_table))
        .fallback(|| async {
            let mut res = Response::new(Body::from(
                r#"{"message":"no Route matched with those values"}"#,
            ));
            *res.status_mut() = StatusCode::NOT_FOUND;
            res.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json; charset=utf-8"),
            );
            res
        })
        .with_state(data)
}

/// The key check for a request to `uri`.
fn authorize(data: &PortalData, headers: &HeaderMap, uri: &Uri) -> Result<(), ApiError> {
    let params = query::parse_query_string(uri.query());
    let query_key = params
        .iter()
        .find(|(k, _)| k == "apikey")
        .and_then(|(_, v)| v.as_deref());
    auth::check(&data.key(), headers, query_key)
}

async fn writes(
    State(data): State<PortalData>,
    headers: HeaderMap,
    uri: Uri,
    method: Method,
) -> Response<Body> {
    if let Err(e) = authorize(&data, &headers, &uri) {
        return e.into_response();
    }
    ApiError::unsupported(&format!(
        "{method} on /rest/v1/leads (the fake is read-only)"
    ))
    .into_response()
}

async fn unknown_table(
    State(data): State<PortalData>,
    Path(table): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Response<Body> {
    if let Err(e) = authorize(&data, &headers, &uri) {
        return e.into_response();
    }
    // PostgREST suggests the closest table name; here there is only one.
    let hint = table
        .to_lowercase()
        .contains("lead")
        .then_some("Perhaps you meant the table 'public.leads'");
    ApiError::pgrst(
        StatusCode::NOT_FOUND,
        "PGRST205",
        &format!("Could not find the table 'public.{table}' in the schema cache"),
        None,
        hint,
    )
    .into_response()
}

async fn leads(
    State(data): State<PortalData>,
    method: Method,
    headers: HeaderMap,
    uri: Uri,
) -> Response<Body> {
    if let Err(e) = authorize(&data, &headers, &uri) {
        return e.into_response();
    }
    let (due, failure): (Vec<Hook>, Option<ScriptedError>) = {
        let mut s = data.lock();
        s.requests += 1;
        let n = s.requests;
        let (due, rest): (Vec<_>, Vec<_>) = s.hooks.drain(..).partition(|(at, _)| *at <= n);
        s.hooks = rest;
        (
            due.into_iter().map(|(_, h)| h).collect(),
            s.failures.pop_front(),
        )
    };
    for hook in due {
        hook(&data);
    }
    if let Some(f) = failure {
        let status = StatusCode::from_u16(f.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return ApiError::pgrst(
            status,
            &f.code,
            &f.message,
            f.details.as_deref(),
            f.hint.as_deref(),
        )
        .into_response();
    }
    let params = query::parse_query_string(uri.query());
    match query::read_request(&params, &headers, method == Method::GET) {
        Ok(req) => answer(&data, &req),
        Err(e) => e.into_response(),
    }
}

fn compare_rows(a: &Lead, b: &Lead, order: &[OrderTerm]) -> Ordering {
    for t in order {
        let (x, y) = (t.column.value(a), t.column.value(b));
        let nulls_first = t.nulls_first.unwrap_or(t.desc);
        let o = match (x, y) {
            (Val::Null, Val::Null) => Ordering::Equal,
            (Val::Null, _) => {
                if nulls_first {
                    Ordering::Less
                } else {
                    Ordering::Greater
                }
            }
            (_, Val::Null) => {
                if nulls_first {
                    Ordering::Greater
                } else {
                    Ordering::Less
                }
            }
            (Val::Text(p), Val::Text(q)) => directed(p.as_bytes().cmp(q.as_bytes()), t.desc),
            (Val::Ts(p), Val::Ts(q)) => directed(p.cmp(&q), t.desc),
            _ => Ordering::Equal,
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

fn directed(o: Ordering, desc: bool) -> Ordering {
    if desc {
        o.reverse()
    } else {
        o
    }
}

/// Runs the read against the table and renders the answer.
fn answer(data: &PortalData, req: &ReadRequest) -> Response<Body> {
    let s = data.lock();
    let mut rows: Vec<&Lead> = s
        .leads
        .iter()
        .filter(|l| {
            req.filters
                .iter()
                .all(|p| predicate::eval(p, l) == Some(true))
        })
        .collect();
    // A stable sort: ties keep heap order, one of the orders Postgres could return.
    if !req.order.is_empty() {
        rows.sort_by(|a, b| compare_rows(a, b, &req.order));
    }
    let total = rows.len();
    let read = range::with_max_rows(req.top_range, s.max_rows);
    let page: Vec<&Lead> = rows
        .iter()
        .skip(read.offset())
        .take(read.limit().unwrap_or(usize::MAX))
        .copied()
        .collect();
    let (status, content_range, out_of_bounds) =
        range::status_and_header(req.top_range, page.len(), req.count.then_some(total));
    if let Some(e) = out_of_bounds {
        return e
            .with_header("content-range", &content_range)
            .into_response();
    }
    let (body, content_type) = if req.single_object {
        if page.len() != 1 {
            return ApiError::pgrst(
                StatusCode::NOT_ACCEPTABLE,
                "PGRST116",
                "Cannot coerce the result to a single JSON object",
                Some(&format!("The result contains {} rows", page.len())),
                None,
            )
            .into_response();
        }
        let mut out = String::new();
        render_row(&mut out, page[0], &req.select);
        (out, "application/vnd.pgrst.object+json; charset=utf-8")
    } else {
        (
            render_rows(&page, &req.select),
            "application/json; charset=utf-8",
        )
    };
    let mut res = Response::new(Body::from(body));
    *res.status_mut() = status;
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    let location = if req.canonical.is_empty() {
        "/leads".to_owned()
    } else {
        format!("/leads?{}", req.canonical)
    };
    for (name, value) in [
        ("content-range", Some(content_range)),
        ("content-location", Some(location)),
        ("preference-applied", req.applied.clone()),
    ] {
        if let Some(v) = value.and_then(|v| HeaderValue::from_str(&v).ok()) {
            h.insert(name, v);
        }
    }
    res
}

/// `json_agg` of the rows: `[` row `, \n ` row … `]`, or `[]`.
fn render_rows(rows: &[&Lead], select: &[(String, Column)]) -> String {
    let mut out = String::with_capacity(2 + rows.len() * 64 * select.len().max(1));
    out.push('[');
    for (i, lead) in rows.iter().enumerate() {
        if i > 0 {
            out.push_str(", \n ");
        }
        render_row(&mut out, lead, select);
    }
    out.push(']');
    out
}

/// `row_to_json` of the selected columns, in `select` order, without spaces.
fn render_row(out: &mut String, lead: &Lead, select: &[(String, Column)]) {
    let quote = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned());
    out.push('{');
    for (j, (key, col)) in select.iter().enumerate() {
        if j > 0 {
            out.push(',');
        }
        out.push_str(&quote(key));
        out.push(':');
        match col.value(lead) {
            Val::Null => out.push_str("null"),
            Val::Text(s) => out.push_str(&quote(s)),
            Val::Ts(t) => {
                out.push('"');
                out.push_str(&time::format(t));
                out.push('"');
            }
        }
    }
    out.push('}');
}
