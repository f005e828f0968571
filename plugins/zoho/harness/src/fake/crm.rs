//! Zoho CRM v8: the routes, admitting a call (the `Zoho-oauthtoken` check, the concurrency cap,
//! the 24-hour credit budget, artificial latency), Get Records and Get Deleted Records.

use super::accounts::Credential;
use super::data::Module;
use super::params::Params;
use super::reply::{self, CrmError};
use super::{dates, paging, upsert, ZohoData};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::time::Duration;

/// The window API credits are counted over.
const CREDIT_WINDOW_HOURS: i64 = 24;

/// The CRM's limits and what they have seen.
pub(super) struct Limits {
    /// Credits per rolling 24 hours (`None`: unlimited).
    pub(super) credit_limit: Option<u32>,
    /// When each credit in the window was spent, oldest first.
    pub(super) credits: VecDeque<DateTime<Utc>>,
    /// Whether the over-budget answer carries `Retry-After`.
    pub(super) credit_retry_after: bool,
    /// Calls allowed in progress at once.
    pub(super) max_concurrent: usize,
    pub(super) in_flight: usize,
    pub(super) peak_in_flight: usize,
    /// Added to every admitted call.
    pub(super) latency: Duration,
    /// Calls admitted so far.
    pub(super) calls: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            credit_limit: None,
            credits: VecDeque::new(),
            credit_retry_after: true,
            // Zoho's Standard edition cap.
            max_concurrent: 10,
            in_flight: 0,
            peak_in_flight: 0,
            latency: Duration::ZERO,
            calls: 0,
        }
    }
}

impl Limits {
    /// Forgets credits spent a full window before `now`.
    pub(super) fn prune_credits(&mut self, now: DateTime<Utc>) {
        let window = chrono::Duration::hours(CREDIT_WINDOW_HOURS);
        while self.credits.front().is_some_and(|&t| t + window <= now) {
            self.credits.pop_front();
        }
    }

    /// Whole seconds (at least 1) until the oldest credit leaves the window.
    fn seconds_until_credit(&self, now: DateTime<Utc>) -> u64 {
        let Some(&oldest) = self.credits.front() else {
            return 1;
        };
        let left = oldest + chrono::Duration::hours(CREDIT_WINDOW_HOURS) - now;
        let millis = left.num_milliseconds().max(0) as u64;
        millis.div_ceil(1000).max(1)
    }
}

/// The CRM routes.
pub(super) fn routes() -> Router<ZohoData> {
    Router::new()
        .route(
            "/crm/v8/{module}",
            get(list_records).fallback(invalid_method),
        )
        .route(
            "/crm/v8/{module}/upsert",
            post(upsert::upsert).fallback(invalid_method),
        )
        .route(
            "/crm/v8/{module}/deleted",
            get(list_deleted).fallback(invalid_method),
        )
}

async fn invalid_method() -> CrmError {
    CrmError::bad(
        "INVALID_REQUEST_METHOD",
        json!({}),
        "The http request method type is not a valid one",
    )
}

/// A CRM call in progress; leaving it (answering, or the client going away) frees its slot.
pub(super) struct Slot(ZohoData);

impl Drop for Slot {
    fn drop(&mut self) {
        let mut s = self.0.lock();
        s.limits.in_flight = s.limits.in_flight.saturating_sub(1);
    }
}

fn too_many_requests(message: &'static str) -> CrmError {
    CrmError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "TOO_MANY_REQUESTS",
        json!({}),
        message,
    )
}

/// Admits a CRM call: a live `Zoho-oauthtoken`, a free concurrency slot, a credit left (which
/// it spends). Then waits the configured latency, holding the slot.
pub(super) async fn admit(data: &ZohoData, headers: &HeaderMap) -> Result<Slot, CrmError> {
    let latency = {
        let mut s = data.lock();
        let now = s.now();
        match s.auth.check(headers, now) {
            Credential::Valid => {}
            // Measured on the live API: no token at all is AUTHENTICATION_FAILURE, a token
            // that is not (or no longer) good is INVALID_TOKEN; both 401.
            Credential::Missing => {
                return Err(CrmError::new(
                    StatusCode::UNAUTHORIZED,
                    "AUTHENTICATION_FAILURE",
                    json!({}),
                    "Authentication failed",
                ))
            }
            Credential::Invalid => {
                return Err(CrmError::new(
                    StatusCode::UNAUTHORIZED,
                    "INVALID_TOKEN",
                    json!({}),
                    "invalid oauth token",
                ))
            }
        }
        let limits = &mut s.limits;
        // Refused for concurrency: no credit spent, no Retry-After (Zoho gives none).
        if limits.in_flight >= limits.max_concurrent {
            return Err(too_many_requests(
                "the number of concurrent requests exceeds the allowed limit",
            ));
        }
        limits.prune_credits(now);
        if limits
            .credit_limit
            .is_some_and(|limit| limits.credits.len() >= limit as usize)
        {
            let res =
                too_many_requests("Rate limit exceeded. Please retry after the specified time.");
            return Err(if limits.credit_retry_after {
                res.retry_after(limits.seconds_until_credit(now))
            } else {
                res
            });
        }
        limits.credits.push_back(now);
        limits.in_flight += 1;
        limits.peak_in_flight = limits.peak_in_flight.max(limits.in_flight);
        limits.calls += 1;
        limits.latency
    };
    let slot = Slot(data.clone());
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    Ok(slot)
}

/// The answer to a module name the fake does not serve.
pub(super) fn invalid_module() -> CrmError {
    CrmError::bad(
        "INVALID_MODULE",
        json!({ "resource_path_index": 0 }),
        "the module name given seems to be invalid",
    )
}

/// `GET /crm/v8/{module}`: Get Records.
async fn list_records(
    State(data): State<ZohoData>,
    Path(module): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, CrmError> {
    let _slot = admit(&data, &headers).await?;
    let module = Module::from_api_name(&module).ok_or_else(invalid_module)?;
    let params = Params::from_query(query.as_deref());
    let q = paging::parse(module, &params, &headers)?;
    let mut s = data.lock();
    let now = s.now();
    let store = &mut *s;
    Ok(
        match paging::list(&mut store.crm, &mut store.rng, module, &q, now)? {
            Some(body) => reply::json(StatusCode::OK, &body),
            None => reply::no_content(),
        },
    )
}

/// `GET /crm/v8/{module}/deleted`: Get Deleted Records, newest deletion first. Its
/// request-level errors come wrapped in `data[]`, as the OAS examples show.
async fn list_deleted(
    State(data): State<ZohoData>,
    Path(module): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, CrmError> {
    let _slot = admit(&data, &headers).await?;
    let module = Module::from_api_name(&module).ok_or_else(|| invalid_module().wrapped())?;
    let params = Params::from_query(query.as_deref());
    let kind = params.get("type").unwrap_or("all");
    if !matches!(kind, "all" | "recycle" | "permanent") {
        return Err(CrmError::bad(
            "PATTERN_NOT_MATCHED",
            json!({ "param_name": "type" }),
            "Please check whether the input values are correct",
        )
        .wrapped());
    }
    let number = |name: &str, default: usize| match params.get(name) {
        None => Some(default),
        Some(v) => v.trim().parse::<usize>().ok(),
    };
    let per_page = number("per_page", paging::MAX_PER_PAGE)
        .filter(|n| (1..=paging::MAX_PER_PAGE).contains(n))
        .ok_or_else(|| CrmError::invalid_param("per_page"))?;
    let page = number("page", 1)
        .filter(|&p| p >= 1)
        .ok_or_else(|| CrmError::invalid_param("page"))?;
    let since = match headers.get("if-modified-since") {
        None => None,
        Some(v) => match v.to_str().ok().and_then(dates::parse_since) {
            Some(t) => Some(t),
            None => return Err(CrmError::invalid_param("If-Modified-Since")),
        },
    };
    let s = data.lock();
    let mut rows: Vec<_> = s
        .crm
        .deleted(module)
        .iter()
        .filter(|d| match kind {
            "recycle" => !d.permanent,
            "permanent" => d.permanent,
            _ => true,
        })
        .filter(|d| since.is_none_or(|t| d.deleted_time > t))
        .collect();
    rows.sort_by_key(|d| std::cmp::Reverse((d.deleted_time, d.id)));
    let start = (page - 1).saturating_mul(per_page);
    let items: Vec<Value> = rows
        .iter()
        .skip(start)
        .take(per_page)
        .map(|d| d.render())
        .collect();
    if items.is_empty() {
        return Ok(reply::no_content());
    }
    let count = items.len();
    let more = start + count < rows.len();
    Ok(reply::json(
        StatusCode::OK,
        &json!({
            "data": items,
            "info": { "per_page": per_page, "count": count, "page": page, "more_records": more },
        }),
    ))
}
