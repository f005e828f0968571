//! A fake Zoho (Accounts OAuth2, CRM v8, Billing v1) for the zoho connector's tests and demo.
//!
//! [`ZohoData`] holds the fake's state — OAuth clients and tokens, CRM records, Billing products
//! and plans, limits and scripted failures — and is shared by the test and [`router`], which
//! serves all three APIs on one server (tests point both the accounts URL and the API domain
//! at it; [`ZohoData::set_api_domain`] tells the token endpoint what `api_domain` to answer):
//!
//! - `POST /oauth/v2/token` (`grant_type=refresh_token`, query or form body): tokens that live
//!   [`set_token_lifetime`](ZohoData::set_token_lifetime), at most 10 per refresh token per
//!   rolling 10 minutes (then Zoho's `400 Access Denied`), Zoho's `200 {"error": …}` answers;
//! - `/crm/v8/{Products|Leads}`: Get Records (`fields` required, `page` up to 2,000 records
//!   then `page_token`, sorting, `If-Modified-Since`, `204` when empty), `…/upsert` and
//!   `…/deleted`, with a 24-hour credit budget, a concurrency cap and optional latency;
//! - `/billing/v1/products` and `/billing/v1/plans` with the organization header check.
//!
//! The generic per-minute quota and scripted transport faults come from
//! [`fake_upstreams::FakeServer`]:
//!
//! ```no_run
//! # async fn demo() {
//! use zoho_harness::fake as zoho;
//! use fake_upstreams::{FakeServer, Quota, QuotaAnswer, RetryAfter};
//! let data = zoho::ZohoData::new();
//! data.add_client("1000.CLIENT", "secret", "1000.refresh");
//! data.generate_products(300, 7);
//! let server = FakeServer::start(zoho::router(data.clone())).await;
//! data.set_api_domain(&server.base_url());
//! server.set_quota(Some(Quota::per_minute(
//!     90,
//!     QuotaAnswer::TooManyRequests { retry_after: Some(RetryAfter::Seconds(60)) },
//! )));
//! # }
//! ```

mod accounts;
mod billing;
mod crm;
mod data;
mod dates;
mod generate;
mod paging;
mod params;
mod plans;
mod reply;
#[cfg(test)]
mod tests;
mod upsert;

pub use data::Module;
pub use dates::{crm as format_crm_time, parse_since};
pub use generate::Rng;
pub use plans::{BillingProduct, Plan};

use axum::http::StatusCode;
use axum::Router;
use chrono::{DateTime, Utc};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// The organization id Billing expects unless [`ZohoData::set_billing_org_id`] changes it.
pub const DEFAULT_BILLING_ORG_ID: &str = "10234695";

/// Every route of the fake (Accounts, CRM and Billing) over `data`.
pub fn router(data: ZohoData) -> Router {
    Router::new()
        .merge(accounts::routes())
        .merge(crm::routes())
        .merge(billing::routes())
        .fallback(|| async {
            reply::CrmError::new(
                StatusCode::NOT_FOUND,
                "INVALID_URL_PATTERN",
                serde_json::json!({}),
                "Please check if the URL trying to access is a correct one",
            )
        })
        .with_state(data)
}

/// Everything the fake knows, behind one lock.
struct Store {
    /// What the token endpoint answers as `api_domain`.
    api_domain: String,
    /// A fixed "now" for tokens, credits and record stamps (`None`: the wall clock).
    clock: Option<DateTime<Utc>>,
    /// Random access tokens and page tokens (seeded from the wall clock: not reproducible,
    /// like the real ones).
    rng: Rng,
    auth: accounts::Auth,
    crm: data::Crm,
    limits: crm::Limits,
    billing: plans::Billing,
}

impl Store {
    fn now(&self) -> DateTime<Utc> {
        self.clock.unwrap_or_else(Utc::now)
    }
}

/// The fake's state, shared by its router and the test (cheap to clone).
#[derive(Clone)]
pub struct ZohoData {
    inner: Arc<Mutex<Store>>,
}

impl std::fmt::Debug for ZohoData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.lock();
        f.debug_struct("ZohoData")
            .field("api_domain", &s.api_domain)
            .field("products", &s.crm.count(Module::Products))
            .field("leads", &s.crm.count(Module::Leads))
            .field("plans", &s.billing.plan_count())
            .finish()
    }
}

impl Default for ZohoData {
    fn default() -> Self {
        Self::new()
    }
}

impl ZohoData {
    /// An empty fake: no clients, no records, no Billing products or plans; tokens live an
    /// hour, no credit limit, at most 10 concurrent CRM calls, Billing org
    /// [`DEFAULT_BILLING_ORG_ID`].
    pub fn new() -> Self {
        let seed = Utc::now().timestamp_nanos_opt().unwrap_or(0) as u64;
        let store = Store {
            api_domain: "http://127.0.0.1".to_owned(),
            clock: None,
            rng: Rng::new(seed),
            auth: accounts::Auth::default(),
            crm: data::Crm::default(),
            limits: crm::Limits::default(),
            billing: plans::Billing::new(DEFAULT_BILLING_ORG_ID),
        };
        ZohoData {
            inner: Arc::new(Mutex::new(store)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Store> {
        // A test that panicked while holding the lock must not hide its own failure behind
        // a poisoned-lock panic in the server.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets the `api_domain` the token endpoint answers (the fake server's base URL, known only
    /// after `FakeServer::start`).
    pub fn set_api_domain(&self, url: &str) {
        self.lock().api_domain = url.trim_end_matches('/').to_owned();
    }

    /// The `api_domain` the token endpoint answers.
    pub fn api_domain(&self) -> String {
        self.lock().api_domain.clone()
    }

    // ---- clock ----

    /// Fixes "now" for token expiry and throttling, credits, page tokens and record stamps
    /// (`None`: the wall clock again).
    pub fn set_now(&self, now: Option<DateTime<Utc>>) {
        self.lock().clock = now;
    }

    /// Moves the fixed clock forward by `by` (starting from the wall clock if none is set).
    pub fn advance_clock(&self, by: Duration) {
        let mut s = self.lock();
        let now = s.now();
        s.clock = Some(now + chrono::Duration::from_std(by).unwrap_or(chrono::Duration::MAX));
    }

    /// The fake's "now".
    pub fn now(&self) -> DateTime<Utc> {
        self.lock().now()
    }

    // ---- accounts ----

    /// Registers OAuth client `client_id` with `client_secret` and gives it `refresh_token`
    /// (call again with another refresh token to give the client several).
    pub fn add_client(&self, client_id: &str, client_secret: &str, refresh_token: &str) {
        self.lock()
            .auth
            .add_client(client_id, client_secret, refresh_token);
    }

    /// How long new access tokens live (default one hour); also the `expires_in` answered.
    pub fn set_token_lifetime(&self, lifetime: Duration) {
        self.lock().auth.lifetime = lifetime;
    }

    /// Changes the refresh throttle: at most `limit` access tokens per refresh token in any
    /// rolling `window` (Zoho's is 10 per 10 minutes, the default).
    pub fn set_token_throttle(&self, limit: usize, window: Duration) {
        let mut s = self.lock();
        s.auth.throttle_limit = limit;
        s.auth.throttle_window = window;
    }

    /// Invalidates every access token issued so far (the next API call answers `401`, so a
    /// client must refresh and retry).
    pub fn expire_all_tokens(&self) {
        self.lock().auth.expire_all();
    }

    /// Access tokens issued by the token endpoint so far (refused requests do not count).
    pub fn tokens_issued(&self) -> usize {
        self.lock().auth.issue_log.len()
    }

    /// When each access token was issued by the token endpoint, in order.
    pub fn token_issue_times(&self) -> Vec<DateTime<Utc>> {
        self.lock().auth.issue_log.clone()
    }

    /// A valid access token made without the token endpoint (a test shortcut: it is not
    /// throttled and not counted in [`tokens_issued`](Self::tokens_issued)).
    pub fn grant_access_token(&self) -> String {
        let mut s = self.lock();
        let now = s.now();
        let token = accounts::new_access_token(&mut s.rng);
        s.auth.store_token(&token, now);
        token
    }

    // ---- CRM limits ----

    /// The CRM credit budget per rolling 24 hours (`None`: unlimited, the default). Every
    /// admitted CRM call costs one credit; Billing calls cost none.
    pub fn set_credit_limit(&self, limit: Option<u32>) {
        self.lock().limits.credit_limit = limit;
    }

    /// Whether the over-budget `429` carries `Retry-After` (default true).
    pub fn set_credit_retry_after(&self, send: bool) {
        self.lock().limits.credit_retry_after = send;
    }

    /// Credits spent in the current 24-hour window.
    pub fn credits_used(&self) -> usize {
        let mut s = self.lock();
        let now = s.now();
        s.limits.prune_credits(now);
        s.limits.credits.len()
    }

    /// Forgets every spent credit.
    pub fn reset_credits(&self) {
        self.lock().limits.credits.clear();
    }

    /// At most `max` CRM calls in progress at once (default 10); one more answers `429`.
    pub fn set_max_concurrency(&self, max: usize) {
        self.lock().limits.max_concurrent = max;
    }

    /// The most CRM calls that were in progress at once.
    pub fn crm_peak_concurrency(&self) -> usize {
        self.lock().limits.peak_in_flight
    }

    /// CRM calls admitted (valid token, within concurrency and credits) so far.
    pub fn crm_calls(&self) -> u64 {
        self.lock().limits.calls
    }

    /// Makes every admitted CRM call wait `latency` before it is answered (while counting as
    /// in progress), so concurrency can be observed.
    pub fn set_latency(&self, latency: Duration) {
        self.lock().limits.latency = latency;
    }

    // ---- scripted failures ----

    /// Makes upserted records whose key (`Product_Code` for Products, `Portal_Lead_Id` for
    /// Leads) equals `key` fail with per-record error `code` and `message`, until
    /// [`clear_crm_upsert_failures`](Self::clear_crm_upsert_failures).
    pub fn fail_crm_upsert_for(&self, key: &str, code: &str, message: &str) {
        self.lock()
            .crm
            .failures
            .insert(key.to_owned(), (code.to_owned(), message.to_owned()));
    }

    /// Drops every scripted upsert failure.
    pub fn clear_crm_upsert_failures(&self) {
        self.lock().crm.failures.clear();
    }

    /// Sets the organization id Billing requires in `X-com-zoho-subscriptions-organizationid`.
    pub fn set_billing_org_id(&self, org_id: &str) {
        self.lock().billing.org_id = org_id.to_owned();
    }

    /// The organization id Billing requires.
    pub fn billing_org_id(&self) -> String {
        self.lock().billing.org_id.clone()
    }

    /// Makes every Billing call about plan `plan_code` (get, create, update) answer
    /// `http_status` with `{"code": zoho_code, "message": message}`, until
    /// [`clear_billing_failures`](Self::clear_billing_failures).
    pub fn fail_billing_for(
        &self,
        plan_code: &str,
        http_status: u16,
        zoho_code: i64,
        message: &str,
    ) {
        self.lock().billing.failures.insert(
            plan_code.to_owned(),
            (http_status, zoho_code, message.to_owned()),
        );
    }

    /// Drops every scripted Billing failure.
    pub fn clear_billing_failures(&self) {
        self.lock().billing.failures.clear();
    }
}
