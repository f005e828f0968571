//! Zoho Accounts: the OAuth2 refresh-token grant, the access tokens it issues, the
//! 10-per-10-minutes refresh throttle, and checking `Authorization` headers for CRM and Billing.

use super::params::Params;
use super::{reply, Rng, ZohoData};
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde_json::json;
use std::collections::{HashMap, VecDeque};
use std::time::Duration;

/// The scope every issued token carries (what the connector's self-client asks for).
const SCOPE: &str = "ZohoCRM.modules.ALL,ZohoSubscriptions.fullaccess.all";

/// Zoho's answer once a refresh token has been used too often (HTTP 400).
const THROTTLED: &str =
    "You have made too many requests continuously. Please try again after some time.";

/// OAuth clients, refresh tokens, issued access tokens and the refresh throttle.
pub(super) struct Auth {
    /// client_id → client_secret.
    clients: HashMap<String, String>,
    /// refresh token → the client_id it belongs to.
    refresh_tokens: HashMap<String, String>,
    /// Per refresh token: when its tokens still inside the throttle window were issued.
    recent: HashMap<String, VecDeque<DateTime<Utc>>>,
    /// Every issue through the endpoint, in order.
    pub(super) issue_log: Vec<DateTime<Utc>>,
    /// access token → when it stops working.
    tokens: HashMap<String, DateTime<Utc>>,
    /// How long a new access token lives.
    pub(super) lifetime: Duration,
    /// Tokens allowed per refresh token in any `throttle_window`.
    pub(super) throttle_limit: usize,
    pub(super) throttle_window: Duration,
}

impl Default for Auth {
    fn default() -> Self {
        Auth {
            clients: HashMap::new(),
            refresh_tokens: HashMap::new(),
            recent: HashMap::new(),
            issue_log: Vec::new(),
            tokens: HashMap::new(),
            lifetime: Duration::from_secs(3600),
            throttle_limit: 10,
            throttle_window: Duration::from_secs(600),
        }
    }
}

/// What an `Authorization` header amounts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Credential {
    /// `Zoho-oauthtoken <a live token>`.
    Valid,
    /// No `Authorization` header at all.
    Missing,
    /// A header that does not carry a live token: another scheme (`Bearer` included — Zoho
    /// wants `Zoho-oauthtoken`), an unknown, expired or revoked token.
    Invalid,
}

impl Auth {
    pub(super) fn add_client(&mut self, id: &str, secret: &str, refresh_token: &str) {
        self.clients.insert(id.to_owned(), secret.to_owned());
        self.refresh_tokens
            .insert(refresh_token.to_owned(), id.to_owned());
    }

    /// Makes `token` live from `now` for the configured lifetime.
    pub(super) fn store_token(&mut self, token: &str, now: DateTime<Utc>) {
        let lifetime = chrono::Duration::from_std(self.lifetime).unwrap_or(chrono::Duration::MAX);
        self.tokens.insert(token.to_owned(), now + lifetime);
    }

    /// Every token issued so far stops working.
    pub(super) fn expire_all(&mut self) {
        self.tokens.clear();
    }

    /// Classifies the request's `Authorization` header at `now`.
    pub(super) fn check(&self, headers: &HeaderMap, now: DateTime<Utc>) -> Credential {
        let Some(value) = headers.get(header::AUTHORIZATION) else {
            return Credential::Missing;
        };
        let Ok(value) = value.to_str() else {
            return Credential::Invalid;
        };
        let mut words = value.split_whitespace();
        let (Some(scheme), Some(token), None) = (words.next(), words.next(), words.next()) else {
            return Credential::Invalid;
        };
        // Auth schemes are case-insensitive in HTTP; the token itself is not.
        if !scheme.eq_ignore_ascii_case("Zoho-oauthtoken") {
            return Credential::Invalid;
        }
        match self.tokens.get(token) {
            Some(&until) if now < until => Credential::Valid,
            _ => Credential::Invalid,
        }
    }

    /// Whether `refresh_token` may have another access token at `now` (dropping issues that
    /// have left the window).
    fn throttle_allows(&mut self, refresh_token: &str, now: DateTime<Utc>) -> bool {
        let window =
            chrono::Duration::from_std(self.throttle_window).unwrap_or(chrono::Duration::MAX);
        let recent = self.recent.entry(refresh_token.to_owned()).or_default();
        while recent.front().is_some_and(|&t| t + window <= now) {
            recent.pop_front();
        }
        recent.len() < self.throttle_limit
    }
}

/// A fresh access token in Zoho's shape: `1000.<32 hex>.<32 hex>`.
pub(super) fn new_access_token(rng: &mut Rng) -> String {
    format!(
        "1000.{:016x}{:016x}.{:016x}{:016x}",
        rng.next_u64(),
        rng.next_u64(),
        rng.next_u64(),
        rng.next_u64()
    )
}

/// The Accounts routes.
pub(super) fn routes() -> Router<ZohoData> {
    Router::new().route("/oauth/v2/token", post(token))
}

/// `POST /oauth/v2/token`: parameters in the query string and/or a form body (the body wins).
async fn token(
    State(data): State<ZohoData>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut params = Params::from_query(query.as_deref());
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    if is_form {
        params.extend(Params::parse(&String::from_utf8_lossy(&body)));
    }
    // Zoho answers these refusals with HTTP 200 and an `error` member; a client must look
    // inside the body, not only at the status.
    let refuse = |error: &str| reply::json(StatusCode::OK, &json!({ "error": error }));
    if params.get("grant_type") != Some("refresh_token") {
        return refuse("unsupported_grant_type");
    }
    let mut s = data.lock();
    let now = s.now();
    let client_id = params.get("client_id").unwrap_or("");
    let secret_ok = s
        .auth
        .clients
        .get(client_id)
        .is_some_and(|secret| Some(secret.as_str()) == params.get("client_secret"));
    if !secret_ok {
        return refuse("invalid_client");
    }
    let refresh_token = params.get("refresh_token").unwrap_or("");
    if s.auth.refresh_tokens.get(refresh_token).map(String::as_str) != Some(client_id) {
        return refuse("invalid_code");
    }
    if !s.auth.throttle_allows(refresh_token, now) {
        return reply::json(
            StatusCode::BAD_REQUEST,
            &json!({ "error": "Access Denied", "error_description": THROTTLED, "status": "failure" }),
        );
    }
    let access_token = new_access_token(&mut s.rng);
    s.auth.store_token(&access_token, now);
    s.auth
        .recent
        .entry(refresh_token.to_owned())
        .or_default()
        .push_back(now);
    s.auth.issue_log.push(now);
    let body = json!({
        "access_token": access_token,
        "scope": SCOPE,
        "api_domain": s.api_domain,
        "token_type": "Bearer",
        "expires_in": s.auth.lifetime.as_secs(),
    });
    reply::json(StatusCode::OK, &body)
}
