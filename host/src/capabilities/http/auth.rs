//! Auth profiles applied by the host: header templates, Basic, and OAuth2 refresh-token flows
//! with a token cache shared by every connector and run using the same credentials, refreshed
//! single-flight, with a cool-down after the token endpoint says "too many requests".

use crate::bindings::connector::host::types::RateLimited;
use crate::bindings::WitError;
use crate::manifest::{AuthProfile, Secrets};
use crate::redact::Redactor;
use base64::Engine as _;
use reqwest::header::{HeaderName, HeaderValue, AUTHORIZATION};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Refresh this long before the token endpoint's stated expiry.
const EXPIRY_MARGIN: Duration = Duration::from_secs(60);
/// How long a token endpoint may take.
const TOKEN_TIMEOUT: Duration = Duration::from_secs(30);

/// One profile, secrets resolved.
pub enum ResolvedAuth {
    /// Fixed headers (templates filled in, Basic encoded).
    Static(Vec<(HeaderName, HeaderValue)>),
    /// An access token from an OAuth2 token endpoint.
    OAuth2(Arc<OAuth2Client>),
}

impl ResolvedAuth {
    /// The header names this profile sets (a plugin may not set them itself).
    pub fn header_names(&self) -> Vec<String> {
        match self {
            ResolvedAuth::Static(h) => h.iter().map(|(n, _)| n.as_str().to_owned()).collect(),
            ResolvedAuth::OAuth2(_) => vec!["authorization".to_owned()],
        }
    }
}

/// Builds a connector's profiles; OAuth2 clients are shared through `registry` by credentials.
/// Every derived secret form (filled templates, Basic's base64) joins `redactor`, and so does
/// every access token an OAuth2 client is issued.
pub fn resolve_profiles(
    profiles: &BTreeMap<String, AuthProfile>,
    secrets: &Secrets,
    registry: &Mutex<BTreeMap<String, Arc<OAuth2Client>>>,
    redactor: &Arc<Redactor>,
) -> anyhow::Result<BTreeMap<String, ResolvedAuth>> {
    let mut out = BTreeMap::new();
    // Every value that must never reach the plugin: raw secrets and the header values built
    // from them (a Basic header is base64, so the raw values alone would not catch an echo).
    let mut redact = Vec::new();
    let secret = |r: &crate::manifest::SecretRef| -> anyhow::Result<String> {
        secrets
            .get(r)
            .map(str::to_owned)
            .ok_or_else(|| anyhow::anyhow!("environment variable {} is not set", r.env))
    };
    for (name, profile) in profiles {
        let resolved = match profile {
            AuthProfile::Headers { headers } => {
                let mut built = Vec::new();
                for (header, template) in headers {
                    let value = secret(&template.secret)?;
                    let filled = template.template.replace("{secret}", &value);
                    redact.push(value);
                    built.push((
                        HeaderName::from_bytes(header.as_bytes())?,
                        sensitive(HeaderValue::from_str(&filled)?),
                    ));
                    redact.push(filled);
                }
                ResolvedAuth::Static(built)
            }
            AuthProfile::Basic {
                username,
                password,
                headers,
            } => {
                let (user, pass) = (secret(username)?, secret(password)?);
                let encoded =
                    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
                let mut built = vec![(
                    AUTHORIZATION,
                    sensitive(HeaderValue::from_str(&format!("Basic {encoded}"))?),
                )];
                for (h, v) in headers {
                    built.push((
                        HeaderName::from_bytes(h.as_bytes())?,
                        HeaderValue::from_str(v)?,
                    ));
                }
                redact.extend([pass, encoded]);
                ResolvedAuth::Static(built)
            }
            AuthProfile::OAuth2 {
                token_url,
                api_url,
                scheme,
                client_id,
                client_secret,
                refresh_token,
                cooldown,
            } => {
                let (id, csecret, refresh) = (
                    secret(client_id)?,
                    secret(client_secret)?,
                    secret(refresh_token)?,
                );
                redact.extend([csecret.clone(), refresh.clone()]);
                let key = format!("{token_url}|{}|{}", client_id.env, refresh_token.env);
                let mut reg = registry.lock().unwrap_or_else(|p| p.into_inner());
                let client = reg
                    .entry(key)
                    .or_insert_with(|| {
                        Arc::new(OAuth2Client {
                            profile: name.clone(),
                            token_url: token_url.clone(),
                            client_id: id,
                            client_secret: csecret,
                            refresh_token: refresh,
                            scheme: scheme.clone(),
                            api_url: api_url.clone(),
                            cooldown: *cooldown,
                            state: tokio::sync::Mutex::new(TokenState::default()),
                            redactor: redactor.clone(),
                            refreshes: AtomicU64::new(0),
                        })
                    })
                    .clone();
                ResolvedAuth::OAuth2(client)
            }
        };
        out.insert(name.clone(), resolved);
    }
    redactor.add(redact);
    Ok(out)
}

fn sensitive(mut v: HeaderValue) -> HeaderValue {
    v.set_sensitive(true);
    v
}

#[derive(Default)]
struct TokenState {
    token: Option<(String, Instant)>,
    cooldown_until: Option<Instant>,
    /// The `api_domain` the last token answer named (Zoho's), if any.
    api_domain: Option<String>,
}

/// One set of OAuth2 refresh-token credentials and its cached access token.
pub struct OAuth2Client {
    profile: String,
    token_url: String,
    client_id: String,
    client_secret: String,
    refresh_token: String,
    /// `Bearer` or `Zoho-oauthtoken`, as the manifest chose.
    scheme: String,
    /// The API origin requests through this profile address (see `api_domain`).
    api_url: Option<String>,
    cooldown: Duration,
    state: tokio::sync::Mutex<TokenState>,
    /// Learns every token issued, so no response, log or record shows one.
    redactor: Arc<Redactor>,
    /// Refreshes attempted (for tests and metrics).
    pub refreshes: AtomicU64,
}

/// The token endpoint's answer.
#[derive(serde::Deserialize)]
struct TokenAnswer {
    access_token: Option<String>,
    expires_in: Option<u64>,
    /// Zoho names the API host of the account's data centre here.
    api_domain: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

impl OAuth2Client {
    /// Where a request to `url` goes: when `url` addresses this profile's API origin and the
    /// last token answer named another `api_domain` (the account's data centre), there.
    pub async fn api_domain_for(&self, url: &reqwest::Url) -> Option<reqwest::Url> {
        let api_url = self.api_url.as_deref()?;
        let origin = url.origin().ascii_serialization();
        if origin != api_url.trim_end_matches('/') {
            return None;
        }
        let domain = self.state.lock().await.api_domain.clone()?;
        let domain = reqwest::Url::parse(&domain).ok()?;
        if domain.origin() == url.origin() {
            return None;
        }
        let mut moved = url.clone();
        moved.set_scheme(domain.scheme()).ok()?;
        moved.set_host(domain.host_str()).ok()?;
        moved.set_port(domain.port()).ok()?;
        Some(moved)
    }

    /// The `Authorization` header for a request, refreshing the token when it is missing,
    /// expiring, or equal to `rejected` (the token an upstream just answered 401 to).
    pub async fn header(
        &self,
        client: &reqwest::Client,
        rejected: Option<&str>,
        deadline: Instant,
    ) -> Result<(HeaderValue, String), WitError> {
        let token = self.token(client, rejected, deadline).await?;
        let value = HeaderValue::from_str(&format!("{} {token}", self.scheme)).map_err(|_| {
            WitError::Upstream(format!(
                "oauth2 profile {}: the token endpoint returned an unusable token",
                self.profile
            ))
        })?;
        Ok((sensitive(value), token))
    }

    async fn token(
        &self,
        client: &reqwest::Client,
        rejected: Option<&str>,
        deadline: Instant,
    ) -> Result<String, WitError> {
        // One refresh at a time: everyone else waits here and then finds the fresh token.
        let mut state = self.state.lock().await;
        let now = Instant::now();
        if let Some((token, expires)) = &state.token {
            if *expires > now + EXPIRY_MARGIN && Some(token.as_str()) != rejected {
                return Ok(token.clone());
            }
        }
        if let Some(until) = state.cooldown_until.filter(|u| *u > now) {
            return Err(WitError::RateLimited(RateLimited {
                pool: format!(
                    "oauth2 token endpoint of profile {} (cooling down)",
                    self.profile
                ),
                retry_after_ms: Some(until.duration_since(now).as_millis() as u64),
            }));
        }
        self.refreshes.fetch_add(1, Ordering::Relaxed);
        let timeout = TOKEN_TIMEOUT.min(deadline.saturating_duration_since(now));
        let answer = client
            .post(&self.token_url)
            .timeout(timeout)
            .form(&[
                ("grant_type", "refresh_token"),
                ("client_id", self.client_id.as_str()),
                ("client_secret", self.client_secret.as_str()),
                ("refresh_token", self.refresh_token.as_str()),
            ])
            .send()
            .await;
        let fail =
            |why: String| WitError::Upstream(format!("oauth2 profile {}: {why}", self.profile));
        let response = match answer {
            Ok(r) => r,
            Err(e) if e.is_timeout() => return Err(WitError::Timeout),
            Err(_) => return Err(fail("the token endpoint cannot be reached".into())),
        };
        let status = response.status().as_u16();
        let bytes = response.bytes().await.unwrap_or_default();
        let body: TokenAnswer = serde_json::from_slice(&bytes).unwrap_or(TokenAnswer {
            access_token: None,
            expires_in: None,
            api_domain: None,
            error: None,
            error_description: None,
        });
        let throttled = status == 429
            || body
                .error_description
                .as_deref()
                .is_some_and(|d| d.to_ascii_lowercase().contains("too many requests"));
        if throttled {
            state.cooldown_until = Some(Instant::now() + self.cooldown);
            return Err(WitError::RateLimited(RateLimited {
                pool: format!(
                    "oauth2 token endpoint of profile {} (cooling down)",
                    self.profile
                ),
                retry_after_ms: Some(self.cooldown.as_millis() as u64),
            }));
        }
        match (status, body.access_token) {
            (200, Some(token)) if body.error.is_none() => {
                let lifetime = Duration::from_secs(body.expires_in.unwrap_or(3600));
                state.token = Some((token.clone(), Instant::now() + lifetime));
                state.api_domain = body.api_domain;
                self.redactor.add_token(&token);
                Ok(token)
            }
            _ => {
                // The error code is safe to show; its description is not echoed in case the
                // endpoint quotes what it was sent.
                let code = body.error.map(|e: String| crate::limits::truncate(&e, 64));
                Err(fail(match code {
                    Some(code) => format!("the token endpoint answered {status} ({code})"),
                    None => format!("the token endpoint answered {status}"),
                }))
            }
        }
    }
}
