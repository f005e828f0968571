//! Canned answers: over-quota responses shaped like the real APIs', scripted error statuses, and truncated JSON.

use super::quota::{QuotaAnswer, ResolvedRetry};
use axum::body::Body;
use axum::http::{header, HeaderValue, Response, StatusCode};
use bytes::Bytes;

/// Zoho's over-quota body.
pub(crate) const TOO_MANY_REQUESTS_JSON: &str =
    r#"{"code":"TOO_MANY_REQUESTS","message":"Rate limit exceeded","status":"error"}"#;

/// The HTML page Ploomes has been seen to answer 403 with.
pub(crate) const FORBIDDEN_HTML: &str =
    "<!DOCTYPE html>\n<html>\n<head><title>403 Forbidden</title></head>\n\
<body>\n<h1>Forbidden</h1>\n<p>Your request has been forbidden.</p>\n</body>\n</html>\n";

/// A truncated JSON document, used when a route's own answer cannot be cut into invalid JSON.
pub(crate) const TRUNCATED_JSON: &str = r#"{"value":[{"Id":1,"Title":"Trunc"#;

/// A response with `status`, `content_type` and `body`.
pub(crate) fn response(
    status: StatusCode,
    content_type: &'static str,
    body: Bytes,
) -> Response<Body> {
    let mut res = Response::new(Body::from(body));
    *res.status_mut() = status;
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    res
}

/// Adds `Retry-After` when given.
fn with_retry(mut res: Response<Body>, retry: Option<ResolvedRetry>) -> Response<Body> {
    if let Some(r) = retry {
        if let Ok(v) = HeaderValue::from_str(&r.header_value()) {
            res.headers_mut().insert(header::RETRY_AFTER, v);
        }
    }
    res
}

/// The answer to an over-quota request.
pub(crate) fn over_quota(answer: &QuotaAnswer, retry: Option<ResolvedRetry>) -> Response<Body> {
    match answer {
        QuotaAnswer::TooManyRequests { .. } => {
            with_retry(status_json(StatusCode::TOO_MANY_REQUESTS), retry)
        }
        QuotaAnswer::ForbiddenHtml => response(
            StatusCode::FORBIDDEN,
            "text/html; charset=utf-8",
            Bytes::from_static(FORBIDDEN_HTML.as_bytes()),
        ),
        QuotaAnswer::Unavailable { .. } => {
            with_retry(status_json(StatusCode::SERVICE_UNAVAILABLE), retry)
        }
    }
}

/// A scripted status answer (a code below 200 or above 999 becomes 500), with `Retry-After`
/// when given.
pub(crate) fn scripted_status(code: u16, retry: Option<ResolvedRetry>) -> Response<Body> {
    let status = StatusCode::from_u16(code)
        .ok()
        .filter(|s| s.as_u16() >= 200)
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    with_retry(status_json(status), retry)
}

/// `status` with a small JSON error body in Zoho's shape (no body for statuses that cannot have one).
pub(crate) fn status_json(status: StatusCode) -> Response<Body> {
    if status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
        || status.is_informational()
    {
        let mut res = Response::new(Body::empty());
        *res.status_mut() = status;
        return res;
    }
    let body = match status {
        StatusCode::TOO_MANY_REQUESTS => TOO_MANY_REQUESTS_JSON.to_owned(),
        _ => serde_json::json!({
            "code": status.canonical_reason().unwrap_or("ERROR").to_uppercase().replace(' ', "_"),
            "message": format!("Scripted fault: HTTP {}", status.as_u16()),
            "status": "error",
        })
        .to_string(),
    };
    response(status, "application/json", Bytes::from(body))
}

/// The first half of `body` if that is not valid JSON, else a fixed truncated document.
pub(crate) fn truncate_json(body: &Bytes) -> Bytes {
    let cut = body.slice(..body.len() / 2);
    if !cut.is_empty() && serde_json::from_slice::<serde_json::Value>(&cut).is_err() {
        cut
    } else {
        Bytes::from_static(TRUNCATED_JSON.as_bytes())
    }
}
