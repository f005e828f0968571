//! The key check Supabase's API gateway and PostgREST make before a query runs.
//!
//! The rules (strict on purpose, so a client that gets them right works against every project):
//!
//! 1. The key comes from the `apikey` header, else the `apikey` URL parameter. None (or empty):
//!    `401 {"message":"No API key found in request","hint":"No `apikey` request header or url
//!    param was found."}` with `sb-error-code: UNAUTHORIZED_MISSING_API_KEY`.
//! 2. Not the project's key: `401 {"message":"Invalid API key","hint":"Double check your
//!    Supabase `anon` or `service_role` API key."}`.
//! 3. A secret key (`sb_secret_…`) from a browser (`User-Agent` containing `Mozilla`): `401`
//!    `Forbidden use of secret API key in browser`. Sent as `Authorization: Bearer` as well: it is
//!    not a JWT, so PostgREST's JWT check answers `401 PGRST301 Expected 3 parts in JWT; got 1`.
//! 4. A legacy JWT key must also come as `Authorization: Bearer <the same key>`: without a bearer
//!    token `401 PGRST302 Anonymous access is disabled`; with another token `401 PGRST301` (the
//!    fake can verify no JWT but the project's key).

use super::error::ApiError;
use super::ApiKey;
use axum::http::{header, HeaderMap, StatusCode};

/// Checks the request's credentials against `key`; `query_key` is the `apikey` URL parameter.
pub(super) fn check(
    key: &ApiKey,
    headers: &HeaderMap,
    query_key: Option<&str>,
) -> Result<(), ApiError> {
    let sent = match headers.get("apikey") {
        Some(v) => Some(v.to_str().unwrap_or("\u{fffd}")),
        None => query_key,
    };
    let sent = sent.filter(|k| !k.is_empty()).ok_or_else(|| {
        ApiError::gateway(
            "No API key found in request",
            Some("No `apikey` request header or url param was found."),
        )
        .with_header("sb-error-code", "UNAUTHORIZED_MISSING_API_KEY")
    })?;
    if sent != key.as_str() {
        return Err(ApiError::gateway(
            "Invalid API key",
            Some("Double check your Supabase `anon` or `service_role` API key."),
        ));
    }
    let authorization = headers
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or("\u{fffd}"));
    match key {
        ApiKey::Secret(_) => {
            let agent = headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if agent.contains("Mozilla") {
                return Err(ApiError::gateway(
                    "Forbidden use of secret API key in browser",
                    Some("Secret API keys can only be used in a protected environment and should never be used in a browser."),
                ));
            }
            match authorization {
                None => Ok(()),
                Some(value) => Err(jwt_error(bearer(value).unwrap_or(value))),
            }
        }
        ApiKey::Legacy(k) => match authorization.and_then(bearer) {
            None => Err(ApiError::pgrst(
                StatusCode::UNAUTHORIZED,
                "PGRST302",
                "Anonymous access is disabled",
                None,
                None,
            )
            .with_header("www-authenticate", "Bearer")),
            Some(token) if token == k => Ok(()),
            Some(token) => Err(jwt_error(token)),
        },
    }
}

/// The token of an `Authorization: Bearer <token>` value (scheme case-insensitive, as WAI reads it).
fn bearer(value: &str) -> Option<&str> {
    let (scheme, rest) = value.split_once(char::is_whitespace)?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| rest.trim_start())
}

/// PostgREST's answer to a bearer token it cannot accept.
fn jwt_error(token: &str) -> ApiError {
    let parts = token.split('.').count();
    let message = if token.is_empty() {
        "Empty JWT is sent in Authorization header".to_owned()
    } else if parts != 3 {
        format!("Expected 3 parts in JWT; got {parts}")
    } else {
        "JWT cryptographic operation failed".to_owned()
    };
    let challenge = format!("Bearer error=\"invalid_token\", error_description=\"{message}\"");
    ApiError::pgrst(StatusCode::UNAUTHORIZED, "PGRST301", &message, None, None)
        .with_header("www-authenticate", &challenge)
}
