//! Generic test routes to merge with a test's own: echo, redirect, N bytes, any status, a small JSON document.

use super::body::Trickle;
use super::canned;
use axum::body::Body;
use axum::extract::{Path, Query, Request};
use axum::http::{header, HeaderValue, Response, StatusCode};
use axum::routing::{any, get};
use axum::Router;
use bytes::Bytes;
use http_body_util::BodyExt;
use serde_json::{json, Map, Value};
use std::collections::HashMap;

/// The document `/json` answers (an OData-style page like Ploomes').
pub const JSON_DOC: &str = r#"{"@odata.context":"https://example.invalid/$metadata#Deals","value":[{"Id":1,"Title":"First deal","StatusId":1,"Amount":100.5},{"Id":2,"Title":"Second deal","StatusId":2,"Amount":250.0}]}"#;

/// Every route below, merged.
pub fn all() -> Router {
    echo_router()
        .merge(redirect_router())
        .merge(bytes_router())
        .merge(status_router())
        .merge(json_router())
}

/// `/echo` and `/echo/{*rest}`, any method: answers `200` JSON describing the request as received:
/// `method`, `path`, `query` (raw, or null), `args` (decoded query pairs), `headers` (name →
/// value; repeated headers joined with `", "`), `header_list` (`[[name, value], …]` in order) and
/// `body` (lossy UTF-8 text).
pub fn echo_router() -> Router {
    Router::new()
        .route("/echo", any(echo))
        .route("/echo/{*rest}", any(echo))
}

async fn echo(Query(args): Query<HashMap<String, String>>, req: Request) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let mut headers = Map::new();
    let mut list = Vec::new();
    for (name, value) in &parts.headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        list.push(json!([name.as_str(), value]));
        match headers.get_mut(name.as_str()) {
            Some(Value::String(prev)) => {
                prev.push_str(", ");
                prev.push_str(&value);
            }
            _ => {
                headers.insert(name.as_str().to_owned(), Value::String(value));
            }
        }
    }
    let doc = json!({
        "method": parts.method.as_str(),
        "path": parts.uri.path(),
        "query": parts.uri.query(),
        "args": args,
        "headers": headers,
        "header_list": list,
        "body": String::from_utf8_lossy(&body),
    });
    canned::response(
        StatusCode::OK,
        "application/json",
        Bytes::from(doc.to_string()),
    )
}

/// `/redirect?to=URL&status=302`, any method: answers `status` (301, 302, 303, 307 or 308;
/// default 302) with `Location: URL` (absolute or relative, any host). `400` without `to` or
/// with another status.
pub fn redirect_router() -> Router {
    Router::new().route("/redirect", any(redirect))
}

async fn redirect(Query(args): Query<HashMap<String, String>>) -> Response<Body> {
    let status = match args.get("status").map(|s| s.parse::<u16>()) {
        None => Some(StatusCode::FOUND),
        Some(Ok(c @ (301 | 302 | 303 | 307 | 308))) => StatusCode::from_u16(c).ok(),
        Some(_) => None,
    };
    let location = args.get("to").and_then(|to| HeaderValue::from_str(to).ok());
    let (Some(status), Some(location)) = (status, location) else {
        return canned::status_json(StatusCode::BAD_REQUEST);
    };
    let mut res = Response::new(Body::empty());
    *res.status_mut() = status;
    res.headers_mut().insert(header::LOCATION, location);
    res
}

/// `/bytes?n=N`, GET: answers `N` bytes of `x` with `Content-Length`; with `&chunked=1` the
/// same bytes in chunked encoding with no length announced. `400` if `N` is not a number.
pub fn bytes_router() -> Router {
    Router::new().route("/bytes", get(bytes))
}

async fn bytes(Query(args): Query<HashMap<String, String>>) -> Response<Body> {
    let Ok(n) = args.get("n").map_or(Ok(0), |n| n.parse::<u64>()) else {
        return canned::status_json(StatusCode::BAD_REQUEST);
    };
    let chunked = args.get("chunked").is_some_and(|c| c == "1" || c == "true");
    let mut res = Response::new(Body::new(Trickle::filled(n, b'x', !chunked)));
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    if !chunked {
        res.headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(n));
    }
    res
}

/// `/status/{code}`, any method: answers that status with a small JSON error body (none for
/// 204 and 304). `400` for a code that is not a valid status.
pub fn status_router() -> Router {
    Router::new().route("/status/{code}", any(status))
}

async fn status(Path(code): Path<String>) -> Response<Body> {
    match code
        .parse::<u16>()
        .ok()
        .and_then(|c| StatusCode::from_u16(c).ok())
    {
        Some(s) if s.as_u16() >= 200 => canned::status_json(s),
        _ => canned::status_json(StatusCode::BAD_REQUEST),
    }
}

/// `/json`, GET: answers `200` with [`JSON_DOC`].
pub fn json_router() -> Router {
    Router::new().route(
        "/json",
        get(|| async {
            canned::response(
                StatusCode::OK,
                "application/json",
                Bytes::from_static(JSON_DOC.as_bytes()),
            )
        }),
    )
}
