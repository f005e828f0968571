//! Commerce7 error answers: `{"statusCode","type","message","errors"}` with the status, and the constructors the routes use.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

/// The message of a validation error listing fields, as the real API was seen to answer
/// (`{"statusCode":422,"type":"validationError","message":"One or more elements is missing or
/// invalid","errors":[{"field":"type","message":"required"}]}`).
pub const VALIDATION_MESSAGE: &str = "One or more elements is missing or invalid";

/// One entry of `errors[]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct FieldError {
    pub(super) field: String,
    pub(super) message: String,
}

impl FieldError {
    /// `field` is missing.
    pub(super) fn required(field: &str) -> Self {
        FieldError {
            field: field.to_owned(),
            message: "required".to_owned(),
        }
    }

    /// `field` is present but wrong.
    pub(super) fn invalid(field: &str, message: impl Into<String>) -> Self {
        FieldError {
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

/// An error answer.
#[derive(Debug, Clone)]
pub(super) struct ApiError {
    status: StatusCode,
    kind: String,
    message: String,
    /// `None` leaves the `errors` key out: the real API does so for business-rule 422s
    /// (`{"statusCode":422,"type":"validationError","message":"Can not fulfill an order that is
    /// marked Fulfilled"}`), so clients must not require it.
    errors: Option<Vec<FieldError>>,
    retry_after: Option<u64>,
}

impl ApiError {
    /// Any status, type and message, with `errors: []`.
    pub(super) fn new(status: StatusCode, kind: &str, message: &str) -> Self {
        ApiError {
            status,
            kind: kind.to_owned(),
            message: message.to_owned(),
            errors: Some(Vec::new()),
            retry_after: None,
        }
    }

    /// A scripted failure with status `code` (an invalid code becomes 500) and the usual type
    /// for it.
    pub(super) fn status(code: u16) -> Self {
        let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let message = status.canonical_reason().unwrap_or("Error");
        ApiError::new(status, type_for(status), message)
    }

    /// 401: bad or missing credentials, missing or unknown tenant.
    pub(super) fn unauthorized() -> Self {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Unauthorized user",
        )
    }

    /// 404 with `message` ("Customer not found").
    pub(super) fn not_found(message: &str) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, "notFound", message)
    }

    /// 400: the body is not JSON, or not sent as JSON.
    pub(super) fn bad_request(message: &str) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "badRequest", message)
    }

    /// 422 listing the fields at fault.
    pub(super) fn validation(errors: Vec<FieldError>) -> Self {
        ApiError {
            errors: Some(errors),
            ..ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validationError",
                VALIDATION_MESSAGE,
            )
        }
    }

    /// 422 for a broken business rule, without an `errors` key (as observed).
    pub(super) fn rule(message: &str) -> Self {
        ApiError {
            errors: None,
            ..ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "validationError", message)
        }
    }

    /// 429 over the per-tenant rate limit, with `Retry-After` when `retry_after` is given.
    pub(super) fn too_many(retry_after: Option<u64>) -> Self {
        ApiError {
            retry_after,
            ..ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "tooManyRequests",
                "Too many requests",
            )
        }
    }

    /// The JSON body.
    pub(super) fn body(&self) -> Value {
        let mut body = json!({
            "statusCode": self.status.as_u16(),
            "type": self.kind,
            "message": self.message,
        });
        if let Some(errors) = &self.errors {
            body["errors"] = errors
                .iter()
                .map(|e| json!({ "field": e.field, "message": e.message }))
                .collect();
        }
        body
    }
}

/// The `type` a status usually carries (only 401 and 422 are confirmed; the rest follow
/// their camel-case pattern).
fn type_for(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "badRequest",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "notFound",
        409 => "conflict",
        422 => "validationError",
        429 => "tooManyRequests",
        502 => "badGateway",
        503 => "serviceUnavailable",
        504 => "gatewayTimeout",
        _ => "serverError",
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut res = (self.status, Json(self.body())).into_response();
        if let Some(secs) = self.retry_after {
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                res.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        res
    }
}
