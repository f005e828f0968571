//! The `http` capability: outbound requests on the plugin's behalf, deny-by-default. The host
//! checks the allowlist (redirects included), refuses non-public addresses, applies the rate-limit
//! pool and the auth profile, honours `Retry-After`, retries idempotent requests with jittered
//! back-off, caps sizes and time, and redacts secret values from what comes back.

pub mod auth;
pub mod limiter;
pub mod policy;

pub use limiter::PoolUsage;

use super::progress::Progress;
use super::CapResult;
use crate::bindings::connector::host::http::{self as wit, Method, Request, Response};
use crate::bindings::connector::host::types::RateLimited;
use crate::bindings::WitError;
use crate::limits;
use crate::manifest::{ConnectorConfig, HttpConfig, Manifest, Secrets};
use crate::redact::Redactor;
use auth::ResolvedAuth;
use limiter::RatePool;
use policy::Refusal;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, LOCATION, RETRY_AFTER};
use reqwest::{StatusCode, Url};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// First back-off delay; doubles per retry, with full jitter.
const BACKOFF_BASE: Duration = Duration::from_millis(200);
/// Longest single back-off delay.
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// `Retry-After` answers honoured for one request, at most.
const MAX_RETRY_AFTER_WAITS: u32 = 20;

/// What every run shares: one client (connection reuse), the rate-limit pools, OAuth2 clients,
/// and the host's redactor.
pub struct HttpShared {
    client: reqwest::Client,
    pools: BTreeMap<String, Arc<RatePool>>,
    oauth: Mutex<BTreeMap<String, Arc<auth::OAuth2Client>>>,
    redactor: Arc<Redactor>,
}

impl HttpShared {
    /// Every pool's use as this host sees it, by name.
    pub fn pool_usage(&self) -> Vec<limiter::PoolUsage> {
        let now = Instant::now();
        self.pools.values().map(|p| p.usage(now)).collect()
    }

    /// Builds the client and the pools of `[rate_limits]`; responses are redacted with
    /// `redactor`.
    pub fn new(manifest: &Manifest, redactor: Arc<Redactor>) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Arc::new(policy::PublicOnlyResolver))
            .pool_idle_timeout(Duration::from_secs(60))
            .user_agent(concat!("connector-host/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let pools = manifest
            .rate_limits
            .iter()
            .map(|(name, r)| {
                let pool = RatePool::new(name, r.requests, r.per, r.max_concurrency);
                (name.clone(), Arc::new(pool))
            })
            .collect();
        Ok(HttpShared {
            client,
            pools,
            oauth: Mutex::new(BTreeMap::new()),
            redactor,
        })
    }

    /// The shared state for a reloaded manifest: the same client, and the same pool (with
    /// its sliding window, so a reload never resets a quota) for every rate limit whose quota
    /// did not change. OAuth2 tokens are fetched again, since their secrets may have changed.
    pub fn reloaded(&self, old: &Manifest, new: &Manifest, redactor: Arc<Redactor>) -> Self {
        let pools = new
            .rate_limits
            .iter()
            .map(|(name, r)| {
                let kept = (old.rate_limits.get(name) == Some(r))
                    .then(|| self.pools.get(name).cloned())
                    .flatten();
                let pool = kept.unwrap_or_else(|| {
                    Arc::new(RatePool::new(name, r.requests, r.per, r.max_concurrency))
                });
                (name.clone(), pool)
            })
            .collect();
        HttpShared {
            client: self.client.clone(),
            pools,
            oauth: Mutex::new(BTreeMap::new()),
            redactor,
        }
    }

    /// Shares every pool's window through `store` when it is PostgreSQL (several hosts, one
    /// quota); on SQLite the pools stay this host's own.
    pub fn share_limits_through(&self, store: &crate::store::Store) {
        for pool in self.pools.values() {
            pool.share_through(store);
        }
    }

    /// One connector's HTTP grant, secrets resolved.
    pub fn connector(
        &self,
        config: &ConnectorConfig,
        secrets: &Secrets,
    ) -> anyhow::Result<ConnectorHttp> {
        let auth = auth::resolve_profiles(&config.auth, secrets, &self.oauth, &self.redactor)?;
        let pool = |name: &String| self.pools.get(name).cloned();
        Ok(ConnectorHttp {
            config: config.http.clone(),
            pools: config.http.rate_limits.iter().filter_map(pool).collect(),
            extra_pools: config
                .http
                .extra_rate_limits
                .iter()
                .filter_map(|n| pool(n).map(|p| (n.clone(), p)))
                .collect(),
            auth,
        })
    }
}

/// One connector's HTTP grant.
pub struct ConnectorHttp {
    config: HttpConfig,
    /// The pools every request passes.
    pools: Vec<Arc<RatePool>>,
    /// The pools a request may name to pass as well.
    extra_pools: BTreeMap<String, Arc<RatePool>>,
    auth: BTreeMap<String, ResolvedAuth>,
}

impl ConnectorHttp {
    /// A grant that allows nothing (for `describe` calls).
    pub fn none() -> Self {
        ConnectorHttp {
            config: HttpConfig {
                allow: Vec::new(),
                rate_limits: Vec::new(),
                extra_rate_limits: Vec::new(),
                timeout: Duration::from_secs(1),
                max_response_bytes: 0,
                retries: 0,
                max_wait: Duration::ZERO,
            },
            pools: Vec::new(),
            extra_pools: BTreeMap::new(),
            auth: BTreeMap::new(),
        }
    }
}

/// One run's HTTP access and its counters.
pub struct HttpCap {
    shared: Arc<HttpShared>,
    conn: Arc<ConnectorHttp>,
    deadline: Instant,
    dry_run: bool,
    /// Requests sent (retries and redirects included).
    pub calls: u64,
    /// Time spent waiting for rate limits and `Retry-After`, in milliseconds.
    pub rate_limit_wait_ms: u64,
    /// Retries of transient failures and `Retry-After` answers.
    pub retries: u64,
    /// Requests under an auth profile that got through (any answer but 401/403).
    pub auth_ok: u64,
    /// Requests under an auth profile refused: answered 401/403 (after the host's own refresh
    /// and retry), or no credentials to send (the token endpoint refused or is cooling down).
    pub auth_failed: u64,
    /// Whether the last request's credentials could not be had at all.
    credentials_missing: bool,
    progress: Arc<Progress>,
}

/// A request that passed the policy checks.
struct Prepared {
    /// The pools it passes: the connector's, then the ones it named.
    pools: Vec<Arc<RatePool>>,
    /// How many of `pools` it named itself (the last ones): a long `Retry-After` closes those
    /// (or, when it named none, the connector's).
    named_pools: usize,
    method: reqwest::Method,
    url: Url,
    headers: HeaderMap,
    body: Option<Vec<u8>>,
    auth: Option<String>,
    timeout: Duration,
    idempotent: bool,
}

/// How one attempt failed.
enum AttemptError {
    Final(WitError),
    Transient(WitError),
}

impl HttpCap {
    /// Access for one run, until `deadline`, counting calls and waits into `progress` too.
    pub fn new(
        shared: Arc<HttpShared>,
        conn: Arc<ConnectorHttp>,
        deadline: Instant,
        dry_run: bool,
        progress: Arc<Progress>,
    ) -> Self {
        HttpCap {
            shared,
            conn,
            deadline,
            dry_run,
            calls: 0,
            auth_ok: 0,
            auth_failed: 0,
            credentials_missing: false,
            progress,
            rate_limit_wait_ms: 0,
            retries: 0,
        }
    }

    fn prepare(&self, req: Request) -> Result<Prepared, WitError> {
        if req.url.len() > policy::MAX_URL {
            return Err(WitError::TooLarge);
        }
        let url = Url::parse(&req.url).map_err(|e| WitError::Invalid(format!("url: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(WitError::Invalid(
                "url: expected an http or https URL with a host".into(),
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(WitError::Invalid(
                "url: credentials in URLs are refused; name an auth profile".into(),
            ));
        }
        if !policy::allowed(&self.conn.config.allow, &url) {
            let origin = policy::origin_of(&url)
                .map(|o| o.to_string())
                .unwrap_or_default();
            return Err(WitError::Denied(format!(
                "{origin} is not in this connector's http.allow"
            )));
        }
        let profile_headers = match &req.auth {
            None => Vec::new(),
            Some(name) => match self.conn.auth.get(name) {
                Some(profile) => profile.header_names(),
                None => {
                    return Err(WitError::Denied(format!(
                        "auth profile {:?} is not configured for this connector",
                        limits::truncate(name, 64)
                    )))
                }
            },
        };
        policy::check_headers(&req.headers, &profile_headers).map_err(|r| match r {
            Refusal::Denied(m) => WitError::Denied(m),
            Refusal::Invalid(m) => WitError::Invalid(m),
            Refusal::TooLarge => WitError::TooLarge,
        })?;
        if req
            .body
            .as_ref()
            .is_some_and(|b| b.len() > policy::MAX_REQUEST_BODY)
        {
            return Err(WitError::TooLarge);
        }
        let method = match req.method {
            Method::Get => reqwest::Method::GET,
            Method::Head => reqwest::Method::HEAD,
            Method::Post => reqwest::Method::POST,
            Method::Put => reqwest::Method::PUT,
            Method::Patch => reqwest::Method::PATCH,
            Method::Delete => reqwest::Method::DELETE,
        };
        if self.dry_run && !matches!(req.method, Method::Get | Method::Head) {
            return Err(WitError::Denied(format!(
                "{method} is refused in a dry run"
            )));
        }
        let mut headers = HeaderMap::new();
        for (name, value) in &req.headers {
            // Both parse: check_headers validated them.
            if let (Ok(n), Ok(v)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) {
                headers.append(n, v);
            }
        }
        let timeout = match req.timeout_ms {
            Some(ms) => self
                .conn
                .config
                .timeout
                .min(Duration::from_millis(ms.into())),
            None => self.conn.config.timeout,
        };
        let idempotent = req.idempotent.unwrap_or(matches!(
            req.method,
            Method::Get | Method::Head | Method::Put | Method::Delete
        ));
        let mut pools = self.conn.pools.clone();
        let mut named_pools = 0;
        for name in &req.rate_limits {
            if self.conn.config.rate_limits.contains(name) {
                continue;
            }
            match self.conn.extra_pools.get(name) {
                Some(pool) => {
                    if !pools.iter().any(|p| Arc::ptr_eq(p, pool)) {
                        pools.push(pool.clone());
                        named_pools += 1;
                    }
                }
                None => {
                    return Err(WitError::Denied(format!(
                        "rate-limit pool {:?} is not granted to this connector; add it to http.extra_rate_limits",
                        limits::truncate(name, 64)
                    )))
                }
            }
        }
        Ok(Prepared {
            pools,
            named_pools,
            method,
            url,
            headers,
            body: req.body,
            auth: req.auth,
            timeout,
            idempotent,
        })
    }

    async fn send_prepared(&mut self, p: Prepared) -> Result<Response, WitError> {
        let mut transient_retries = 0u32;
        let mut retry_after_waits = 0u32;
        let mut waited_for_upstream = Duration::ZERO;
        let mut rejected_token: Option<String> = None;
        let mut refreshed = false;
        loop {
            if Instant::now() >= self.deadline {
                return Err(WitError::Timeout);
            }
            // Every pool must admit the request; none is waited for longer than max_wait.
            let bound = self
                .deadline
                .min(Instant::now() + self.conn.config.max_wait);
            let mut permits = Vec::with_capacity(p.pools.len());
            for pool in &p.pools {
                match pool.acquire(bound).await {
                    Ok((permit, waited)) => {
                        self.rate_limit_wait_ms += waited.as_millis() as u64;
                        self.progress.waited(waited.as_millis() as u64);
                        permits.push(permit);
                    }
                    Err(e) => {
                        return Err(WitError::RateLimited(RateLimited {
                            pool: pool.name().to_owned(),
                            retry_after_ms: Some(e.wait.as_millis() as u64),
                        }))
                    }
                }
            }
            let attempt = self.attempt(&p, rejected_token.as_deref()).await;
            drop(permits);
            let (response, token) = match attempt {
                Ok(ok) => ok,
                Err(AttemptError::Transient(e))
                    if p.idempotent && transient_retries < self.conn.config.retries =>
                {
                    transient_retries += 1;
                    self.backoff(transient_retries).await?;
                    let _ = e;
                    continue;
                }
                Err(AttemptError::Transient(e) | AttemptError::Final(e)) => return Err(e),
            };
            let status = response.status;
            if status == 401 && token.is_some() && !refreshed {
                // The upstream rejected our access token: refresh once and try again.
                refreshed = true;
                rejected_token = token;
                self.retries += 1;
                continue;
            }
            if status == 429 || status == 503 {
                if let Some(wait) = retry_after(&response.headers) {
                    let fits = waited_for_upstream + wait <= self.conn.config.max_wait
                        && Instant::now() + wait < self.deadline
                        && retry_after_waits < MAX_RETRY_AFTER_WAITS;
                    if !fits {
                        // Longer than a run may wait: close the pool(s) it stands for, so every
                        // run using them stops at once rather than asking again.
                        let closing = if p.named_pools > 0 {
                            &p.pools[p.pools.len() - p.named_pools..]
                        } else {
                            &p.pools[..]
                        };
                        let until = Instant::now() + wait;
                        for pool in closing {
                            pool.close(until).await;
                        }
                        let pool = closing
                            .first()
                            .map(|p| p.name().to_owned())
                            .unwrap_or_else(|| p.url.host_str().unwrap_or_default().to_owned());
                        return Err(WitError::RateLimited(RateLimited {
                            pool,
                            retry_after_ms: Some(wait.as_millis() as u64),
                        }));
                    }
                    retry_after_waits += 1;
                    waited_for_upstream += wait;
                    self.retries += 1;
                    self.rate_limit_wait_ms += wait.as_millis() as u64;
                    self.progress.waited(wait.as_millis() as u64);
                    tokio::time::sleep(wait).await;
                    continue;
                }
            }
            if status >= 500 && p.idempotent && transient_retries < self.conn.config.retries {
                transient_retries += 1;
                self.backoff(transient_retries).await?;
                continue;
            }
            return Ok(response);
        }
    }

    /// Sleeps a jittered exponential back-off before retry `n` (1-based), counting it.
    async fn backoff(&mut self, n: u32) -> Result<(), WitError> {
        let cap = BACKOFF_BASE.saturating_mul(1 << n.min(10)).min(BACKOFF_MAX);
        let delay = cap.mul_f64(0.5 + fastrand::f64() / 2.0);
        if Instant::now() + delay >= self.deadline {
            return Err(WitError::Timeout);
        }
        self.retries += 1;
        tokio::time::sleep(delay).await;
        Ok(())
    }

    /// One attempt: the request and its redirects. Returns the response and the OAuth2 token
    /// used, if any.
    async fn attempt(
        &mut self,
        p: &Prepared,
        rejected_token: Option<&str>,
    ) -> Result<(Response, Option<String>), AttemptError> {
        let started = Instant::now();
        let mut first_origin = policy::origin_of(&p.url);
        let mut url = p.url.clone();
        let mut method = p.method.clone();
        let mut body = p.body.clone();
        let mut with_auth = p.auth.is_some();
        let mut used_token = None;
        for hop in 0..=policy::MAX_REDIRECTS {
            let remaining = p
                .timeout
                .saturating_sub(started.elapsed())
                .min(self.deadline.saturating_duration_since(Instant::now()));
            if remaining.is_zero() {
                return Err(AttemptError::Transient(WitError::Timeout));
            }
            let mut rb = self
                .shared
                .client
                .request(method.clone(), url.clone())
                .timeout(remaining)
                .headers(p.headers.clone());
            if with_auth {
                let (headers, token) = self
                    .auth_headers(p.auth.as_deref(), rejected_token)
                    .await
                    .map_err(|e| {
                    self.credentials_missing = true;
                    AttemptError::Final(e)
                })?;
                used_token = token;
                if hop == 0 {
                    if let Some(moved) = self.api_domain_for(p.auth.as_deref(), &url).await {
                        // The token answer named the account's API host: go there, if allowed.
                        if !policy::allowed(&self.conn.config.allow, &moved) {
                            let origin = policy::origin_of(&moved)
                                .map(|o| o.to_string())
                                .unwrap_or_default();
                            return Err(AttemptError::Final(WitError::Denied(format!(
                                "the token's api_domain {origin} is not in this connector's http.allow"
                            ))));
                        }
                        rb = self
                            .shared
                            .client
                            .request(method.clone(), moved.clone())
                            .timeout(remaining)
                            .headers(p.headers.clone());
                        first_origin = policy::origin_of(&moved);
                        url = moved;
                    }
                }
                for (n, v) in headers {
                    rb = rb.header(n, v);
                }
            }
            if let Some(b) = &body {
                rb = rb.body(b.clone());
            }
            self.calls += 1;
            self.progress.called();
            let response = rb.send().await.map_err(|e| self.transport_error(&e))?;
            let status = response.status();
            if status.is_redirection() && hop < policy::MAX_REDIRECTS {
                if let Some(next) = response
                    .headers()
                    .get(LOCATION)
                    .and_then(|l| l.to_str().ok())
                    .and_then(|l| url.join(l).ok())
                {
                    if !policy::allowed(&self.conn.config.allow, &next) {
                        let origin = policy::origin_of(&next)
                            .map(|o| o.to_string())
                            .unwrap_or_default();
                        return Err(AttemptError::Final(WitError::Denied(format!(
                            "redirect to {origin}, which is not in this connector's http.allow"
                        ))));
                    }
                    if policy::origin_of(&next) != first_origin {
                        // Credentials never follow a redirect to another origin.
                        with_auth = false;
                    }
                    if status == StatusCode::SEE_OTHER
                        || (matches!(status, StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND)
                            && method == reqwest::Method::POST)
                    {
                        method = reqwest::Method::GET;
                        body = None;
                    }
                    url = next;
                    continue;
                }
            }
            return self.read(response).await.map(|r| (r, used_token));
        }
        Err(AttemptError::Final(WitError::Transport(
            "too many redirects".into(),
        )))
    }

    /// The URL an OAuth2 profile's token answer moves `url` to, if any.
    async fn api_domain_for(&self, profile: Option<&str>, url: &Url) -> Option<Url> {
        match profile.and_then(|p| self.conn.auth.get(p)) {
            Some(ResolvedAuth::OAuth2(client)) => client.api_domain_for(url).await,
            _ => None,
        }
    }

    async fn auth_headers(
        &self,
        profile: Option<&str>,
        rejected_token: Option<&str>,
    ) -> Result<(Vec<(HeaderName, HeaderValue)>, Option<String>), WitError> {
        match profile.and_then(|p| self.conn.auth.get(p)) {
            None => Ok((Vec::new(), None)),
            Some(ResolvedAuth::Static(headers)) => Ok((headers.clone(), None)),
            Some(ResolvedAuth::OAuth2(client)) => {
                let (value, token) = client
                    .header(&self.shared.client, rejected_token, self.deadline)
                    .await?;
                Ok((vec![(reqwest::header::AUTHORIZATION, value)], Some(token)))
            }
        }
    }

    fn transport_error(&self, e: &reqwest::Error) -> AttemptError {
        let mut source: Option<&dyn std::error::Error> = Some(e);
        while let Some(err) = source {
            if let Some(np) = err.downcast_ref::<policy::NonPublicAddress>() {
                return AttemptError::Final(WitError::Denied(np.to_string()));
            }
            source = err.source();
        }
        if e.is_timeout() {
            AttemptError::Transient(WitError::Timeout)
        } else if e.is_connect() {
            AttemptError::Transient(WitError::Transport("cannot connect to the upstream".into()))
        } else {
            AttemptError::Transient(WitError::Transport("the connection failed".into()))
        }
    }

    /// Reads the body under the size cap and redacts secrets from headers and body.
    async fn read(&self, mut response: reqwest::Response) -> Result<Response, AttemptError> {
        let cap = self.conn.config.max_response_bytes as usize;
        if response.content_length().is_some_and(|n| n as usize > cap) {
            return Err(AttemptError::Final(WitError::TooLarge));
        }
        let status = response.status().as_u16();
        let redactor = &self.shared.redactor;
        let headers: Vec<(String, String)> = response
            .headers()
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    redactor
                        .redact(&String::from_utf8_lossy(v.as_bytes()))
                        .into_owned(),
                )
            })
            .collect();
        let mut body = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len() + chunk.len() > cap {
                        return Err(AttemptError::Final(WitError::TooLarge));
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => return Err(self.transport_error(&e)),
            }
        }
        Ok(Response {
            status,
            headers,
            body: redactor.redact_bytes(body),
        })
    }
}

/// Parses `Retry-After`: delta seconds or an HTTP date.
pub fn retry_after(headers: &[(String, String)]) -> Option<Duration> {
    let value = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(RETRY_AFTER.as_str()))?
        .1
        .trim()
        .to_owned();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(&value).ok()?;
    Some(
        when.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

impl wit::Host for HttpCap {
    async fn send(&mut self, request: Request) -> CapResult<Response> {
        let result = match self.prepare(request) {
            Ok(prepared) => {
                let authenticated = prepared.auth.is_some();
                self.credentials_missing = false;
                let result = self.send_prepared(prepared).await;
                if authenticated {
                    match &result {
                        Ok(r) if r.status == 401 || r.status == 403 => self.auth_failed += 1,
                        Ok(_) => self.auth_ok += 1,
                        Err(_) if self.credentials_missing => self.auth_failed += 1,
                        Err(_) => {}
                    }
                }
                result
            }
            Err(e) => Err(e),
        };
        Ok(result.map_err(|e| redact_error(e, &self.shared.redactor)))
    }
}

fn redact_error(e: WitError, redactor: &Redactor) -> WitError {
    let r = |m: String| redactor.redact(&m).into_owned();
    match e {
        WitError::Denied(m) => WitError::Denied(r(m)),
        WitError::Transport(m) => WitError::Transport(r(m)),
        WitError::Invalid(m) => WitError::Invalid(r(m)),
        WitError::Internal(m) => WitError::Internal(r(m)),
        WitError::Unsupported(m) => WitError::Unsupported(r(m)),
        WitError::Upstream(m) => WitError::Upstream(r(m)),
        other => other,
    }
}

/// Links the `http` interface.
pub fn link<T: super::HasCaps>(
    linker: &mut wasmtime::component::Linker<T>,
) -> wasmtime::Result<()> {
    wit::add_to_linker::<_, wasmtime::component::HasSelf<HttpCap>>(linker, |d| &mut d.caps().http)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_takes_seconds_and_dates() {
        let h = |v: &str| vec![("Retry-After".to_owned(), v.to_owned())];
        assert_eq!(retry_after(&h("7")), Some(Duration::from_secs(7)));
        let soon = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(30));
        let d = retry_after(&h(&soon)).unwrap();
        assert!(
            d > Duration::from_secs(27) && d <= Duration::from_secs(30),
            "{d:?}"
        );
        assert_eq!(retry_after(&h("soon")), None);
        assert_eq!(retry_after(&[]), None);
    }
}
