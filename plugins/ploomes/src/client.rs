//! Calls to the Ploomes API through the host's `http.send`. The host applies the auth profile,
//! the rate-limit pool, `Retry-After` and transient retries; this client handles what the host
//! cannot know about Ploomes:
//!
//! - an over-quota answer without `Retry-After` (Ploomes' `403` HTML page, or a bare `429`):
//!   back off (1 s doubling to 30 s, jittered) and retry, for at most `quota_wait_seconds`;
//! - a `200` whose body is not the JSON expected (truncated, HTML): retry a few times;
//! - a `401`/`403` that is not the quota page: the key was refused — fail the run with an error
//!   naming the auth profile and the status.

use crate::config::Settings;
use crate::rows::Page;
use connector_sdk::http::{Request, Response};
use connector_sdk::{log, Error};
use serde::de::DeserializeOwned;
use std::time::Duration;

/// Tries of a page whose body does not decode.
const DECODE_TRIES: u32 = 4;
/// First back-off after an over-quota answer without `Retry-After`.
const QUOTA_BACKOFF_FIRST: Duration = Duration::from_secs(1);
/// Longest single back-off.
const QUOTA_BACKOFF_MAX: Duration = Duration::from_secs(30);

/// The API client of one run, with its counters.
pub struct Client<'a> {
    settings: &'a Settings,
    /// Requests answered (retries included).
    pub requests: u64,
    /// Over-quota answers this client backed off from itself.
    pub quota_backoffs: u64,
    /// Time spent in those back-offs.
    pub quota_wait: Duration,
    /// Bodies that did not decode and were fetched again.
    pub decode_retries: u64,
}

impl<'a> Client<'a> {
    pub fn new(settings: &'a Settings) -> Self {
        Client {
            settings,
            requests: 0,
            quota_backoffs: 0,
            quota_wait: Duration::ZERO,
            decode_retries: 0,
        }
    }

    /// GETs `url` and decodes its OData list; `what` names the request in errors and logs
    /// (`GET /Deals`), never the query string.
    pub fn list<T: DeserializeOwned>(&mut self, url: &str, what: &str) -> Result<Vec<T>, Error> {
        let mut waited = Duration::ZERO;
        let mut backoff = QUOTA_BACKOFF_FIRST;
        let mut decode_failures = 0;
        loop {
            let response = Request::get(url)
                .auth(&self.settings.auth_profile)
                .header("accept", "application/json")
                .send()?;
            self.requests += 1;
            match response.status {
                200..=299 => match serde_json::from_slice::<Page<T>>(&response.body) {
                    Ok(page) => return Ok(page.value),
                    Err(e) => {
                        decode_failures += 1;
                        if decode_failures >= DECODE_TRIES {
                            return Err(Error::upstream(format!(
                                "{what}: the answer is not the JSON list expected ({decode_failures} tries): {e}"
                            )));
                        }
                        self.decode_retries += 1;
                        log::warn(
                            "ploomes answered a body that does not decode; fetching it again",
                            &[("request", what), ("error", &e.to_string())],
                        );
                        std::thread::sleep(Duration::from_millis(200 * u64::from(decode_failures)));
                    }
                },
                status if is_over_quota(&response) => {
                    let delay = jitter(backoff);
                    if waited + delay > self.settings.quota_wait {
                        return Err(Error::upstream(format!(
                            "{what}: HTTP {status} over-quota answers for {}s (auth profile `{}`); \
                             the account's 120/minute quota is used by something else too, \
                             or Ploomes is refusing the key with its 403 page",
                            waited.as_secs(),
                            self.settings.auth_profile
                        )));
                    }
                    self.quota_backoffs += 1;
                    log::warn(
                        "ploomes answered over quota without Retry-After; backing off",
                        &[
                            ("request", what),
                            ("status", &status.to_string()),
                            ("wait_ms", &delay.as_millis().to_string()),
                        ],
                    );
                    std::thread::sleep(delay);
                    waited += delay;
                    self.quota_wait += delay;
                    backoff = (backoff * 2).min(QUOTA_BACKOFF_MAX);
                }
                status @ (401 | 403) => {
                    return Err(Error::upstream(format!(
                        "{what}: Ploomes refused the credentials of auth profile `{}`: HTTP {status} {}{}; \
                         check the API key in the secret this profile names",
                        self.settings.auth_profile,
                        reason(status),
                        detail(&response)
                    )))
                }
                status => {
                    return Err(Error::upstream(format!(
                        "{what}: HTTP {status} {}{}",
                        reason(status),
                        detail(&response)
                    )))
                }
            }
        }
    }
}

/// Ploomes' over-quota answers that carry no `Retry-After` the host could honour: a `403` with
/// an HTML page, or a bare `429` (the host waits out those with `Retry-After` itself).
fn is_over_quota(r: &Response) -> bool {
    match r.status {
        429 => true,
        403 => {
            let html = r
                .header("content-type")
                .is_some_and(|c| c.to_ascii_lowercase().contains("html"));
            let start = r.body.iter().find(|b| !b.is_ascii_whitespace()).copied();
            html || start == Some(b'<')
        }
        _ => false,
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "",
    }
}

/// The upstream's own error message (OData `error.message` or `Message`), if it sent one.
fn detail(r: &Response) -> String {
    let Ok(doc) = serde_json::from_slice::<serde_json::Value>(&r.body) else {
        return String::new();
    };
    let msg = doc
        .pointer("/error/message")
        .or_else(|| doc.get("Message"))
        .or_else(|| doc.get("message"))
        .and_then(|m| m.as_str());
    match msg {
        Some(m) => format!(" ({})", m.chars().take(200).collect::<String>()),
        None => String::new(),
    }
}

/// `d` scaled by a factor in [0.75, 1.25) so that clients sharing a quota do not retry in step.
fn jitter(d: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|t| t.subsec_nanos())
        .unwrap_or(0);
    d.mul_f64(0.75 + f64::from(nanos % 1000) / 2000.0)
}
