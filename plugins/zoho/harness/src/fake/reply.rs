//! Answers: JSON bodies, `204`, and the two error shapes — Zoho CRM's
//! `{code, details, message, status}` (optionally wrapped in `data[]`, optionally with
//! `Retry-After`) and Billing's `{code, message}` — as small values handlers return with `?`.

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

/// `status` with `body` as JSON (Zoho labels its JSON `application/json;charset=UTF-8`).
pub(super) fn json(status: StatusCode, body: &Value) -> Response {
    let mut res = Response::new(Body::from(body.to_string()));
    *res.status_mut() = status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json;charset=UTF-8"),
    );
    res
}

/// `204 No Content` with an empty body: how Zoho CRM answers a read that matches nothing.
pub(super) fn no_content() -> Response {
    let mut res = Response::new(Body::empty());
    *res.status_mut() = StatusCode::NO_CONTENT;
    res
}

/// A CRM error object `{"code","details","message","status":"error"}` (also the shape of a
/// failed item inside a write answer's `data[]`).
pub(super) fn crm_error_body(code: &str, details: Value, message: &str) -> Value {
    json!({ "code": code, "details": details, "message": message, "status": "error" })
}

/// A CRM request-level error answer.
#[derive(Debug)]
pub(super) struct CrmError {
    status: StatusCode,
    code: &'static str,
    details: Value,
    message: &'static str,
    /// Wrap the error object in `data[]`, as the write APIs and Get Deleted Records do.
    wrapped: bool,
    retry_after: Option<u64>,
}

impl CrmError {
    /// `status` with error `code`, `details` and `message`.
    pub(super) fn new(
        status: StatusCode,
        code: &'static str,
        details: Value,
        message: &'static str,
    ) -> Self {
        CrmError {
            status,
            code,
            details,
            message,
            wrapped: false,
            retry_after: None,
        }
    }

    /// A `400 Bad Request` error.
    pub(super) fn bad(code: &'static str, details: Value, message: &'static str) -> Self {
        CrmError::new(StatusCode::BAD_REQUEST, code, details, message)
    }

    /// `400 INVALID_DATA` for a query parameter or header, naming it.
    pub(super) fn invalid_param(name: &str) -> Self {
        CrmError::bad(
            "INVALID_DATA",
            json!({ "param_name": name }),
            "invalid data",
        )
    }

    /// The same error inside `{"data": [...]}`.
    pub(super) fn wrapped(mut self) -> Self {
        self.wrapped = true;
        self
    }

    /// The same error with `Retry-After: <seconds>`.
    pub(super) fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }
}

impl IntoResponse for CrmError {
    fn into_response(self) -> Response {
        let object = crm_error_body(self.code, self.details, self.message);
        let body = if self.wrapped {
            json!({ "data": [object] })
        } else {
            object
        };
        let mut res = json(self.status, &body);
        if let Some(seconds) = self.retry_after {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        res
    }
}

/// A Billing error answer `{"code": <non-zero>, "message": "..."}`.
#[derive(Debug)]
pub(super) struct BillingError {
    status: StatusCode,
    code: i64,
    message: String,
}

impl BillingError {
    /// `status` with Zoho error `code` and `message`.
    pub(super) fn new(status: StatusCode, code: i64, message: impl Into<String>) -> Self {
        BillingError {
            status,
            code,
            message: message.into(),
        }
    }

    /// `400 {"code": 2, "message": "Invalid value passed for <name>"}`, Zoho's answer to a
    /// missing or malformed member.
    pub(super) fn invalid(name: &str) -> Self {
        BillingError::new(
            StatusCode::BAD_REQUEST,
            2,
            format!("Invalid value passed for {name}"),
        )
    }
}

impl IntoResponse for BillingError {
    fn into_response(self) -> Response {
        json(
            self.status,
            &json!({ "code": self.code, "message": self.message }),
        )
    }
}
