//! The gate every request passes: HTTP Basic `app_id:secret`, the `tenant` header, the per-tenant rate limit and scripted membership failures; plus reading JSON bodies.

use super::error::ApiError;
use super::query;
use super::store::Commerce7Data;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{Map, Value};

/// The tenant a request was authenticated for (set by [`gate`] for the handlers).
#[derive(Debug, Clone)]
pub(super) struct TenantId(pub(super) String);

/// `(user, password)` of an `Authorization: Basic …` header.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

/// Authenticates, rate-limits and (for membership paths) applies scripted failures, in that
/// order, then hands the request to the route with its [`TenantId`].
///
/// A missing or unknown tenant answers 401 like bad credentials: to the API, an app that is not
/// installed on a tenant has no access to it.
pub(super) async fn gate(
    State(data): State<Commerce7Data>,
    mut req: Request,
    next: Next,
) -> Response {
    let params = query::params(req.uri());
    let tenant = req
        .headers()
        .get("tenant")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let credentials = basic_credentials(req.headers());
    let membership_call = req.uri().path().starts_with("/v1/club-membership");
    {
        let mut s = data.lock();
        let authorised = credentials
            .as_ref()
            .is_some_and(|(user, password)| *user == s.app_id && *password == s.secret);
        let Some(tenant) = tenant.filter(|t| authorised && s.tenants.contains_key(t)) else {
            return ApiError::unauthorized().into_response();
        };
        // Cursor mode is documented as not rate limited, so it neither counts nor waits.
        if !query::is_cursor(&params) {
            if let Some(limit) = s.rate_limit {
                let now = s.now();
                let deep = query::page_number(&params).is_some_and(|p| p > super::DEEP_PAGE);
                let admitted = s
                    .tenants
                    .get_mut(&tenant)
                    .map_or(Ok(()), |t| t.window.admit(&limit, now, deep));
                if let Err(wait) = admitted {
                    s.throttled += 1;
                    return ApiError::too_many(limit.retry_after.then_some(wait)).into_response();
                }
            }
        }
        if membership_call {
            if let Some(e) = s.take_failure() {
                return e.into_response();
            }
        }
        req.extensions_mut().insert(TenantId(tenant));
    }
    next.run(req).await
}

/// The JSON object of a POST or PUT body. An empty body counts as `{}` (the real API answers
/// it with the missing-field 422); a non-empty one must be sent as `application/json` and be
/// a JSON object, else 400.
pub(super) fn json_object(
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Map<String, Value>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    let json_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"));
    if !json_type {
        return Err(ApiError::bad_request(
            "Content-Type must be application/json",
        ));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::bad_request("The body must be a JSON object")),
        Err(e) => Err(ApiError::bad_request(&format!("Invalid JSON: {e}"))),
    }
}
