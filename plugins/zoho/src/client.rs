//! Calls to Zoho through the host's `http.send`, and Zoho's answers turned into one shape. The
//! host applies the auth profile (token refresh, `Zoho-oauthtoken`, the account's `api_domain`),
//! the rate-limit pools, `Retry-After` and transient retries; this client adds what the old
//! deployment's operators tuned by hand — a pause between two calls — and reads Zoho's error
//! JSON (`code`, `message`, `details`) from CRM and Billing alike into a [`Failure`].

use crate::config::Settings;
use connector_sdk::http::{Request, Response};
use connector_sdk::Error;
use serde_json::Value;
use std::time::{Duration, Instant};

/// Longest error message kept (Zoho's message plus its details).
const MESSAGE_CHARS: usize = 500;

/// Why a push did not happen: Zoho's own code and message, or the host's.
#[derive(Debug, Clone)]
pub struct Failure {
    /// Zoho's `code` (`INVALID_DATA`, `1001`, …), or the host's error kind in capitals
    /// (`RATE_LIMITED`, `TIMEOUT`, …).
    pub code: String,
    pub message: String,
    /// The HTTP status Zoho answered, if it answered.
    pub http_status: Option<u16>,
    /// Set when a rate limit refused the call: the pool (or `upstream` for Zoho's own 429) and
    /// how long it asked to wait.
    pub limited: Option<(String, Option<u64>)>,
    /// Nothing else will work this run either: the token is refused, the host denies the
    /// request (configuration).
    pub fatal: bool,
}

impl Failure {
    /// Zoho's answer for one item (a CRM `data[]` entry, a Billing call).
    pub fn zoho(code: String, message: String, http_status: u16) -> Failure {
        Failure {
            code,
            message,
            http_status: Some(http_status),
            limited: None,
            fatal: false,
        }
    }

    /// A package this connector will not send as it is (its data is at fault).
    pub fn local(code: &str, message: String) -> Failure {
        Failure {
            code: code.into(),
            message,
            http_status: None,
            limited: None,
            fatal: false,
        }
    }

    /// A request this connector could not even build.
    pub fn internal(e: Error) -> Failure {
        Failure {
            code: "INTERNAL".into(),
            message: e.message(),
            http_status: None,
            limited: None,
            fatal: true,
        }
    }

    fn host(e: Error) -> Failure {
        let limited = match &e {
            Error::RateLimited(r) => Some((r.pool.clone(), r.retry_after_ms)),
            _ => None,
        };
        Failure {
            code: e.kind().to_uppercase().replace('-', "_"),
            fatal: matches!(
                e,
                Error::Denied(_) | Error::Invalid(_) | Error::Unsupported(_)
            ),
            message: e.message(),
            http_status: None,
            limited,
        }
    }

    /// A failure for each item of a call that failed as a whole.
    pub fn answer(response: &Response, what: &str) -> Failure {
        let (code, message) = error_of(response.status, &response.body);
        let limited = (response.status == 429).then(|| {
            let after = response
                .header("retry-after")
                .and_then(|s| s.trim().parse::<u64>().ok())
                .map(|s| s * 1000);
            ("upstream".to_owned(), after)
        });
        Failure {
            fatal: response.status == 401,
            message: if response.status == 401 {
                format!("{what}: Zoho refused the token even after a refresh: {message}")
            } else {
                message
            },
            code,
            http_status: Some(response.status),
            limited,
        }
    }
}

/// The API client of one run.
pub struct Client<'a> {
    settings: &'a Settings,
    last_call: Option<Instant>,
    /// Calls made.
    pub calls: u64,
}

impl<'a> Client<'a> {
    pub fn new(settings: &'a Settings) -> Self {
        Client {
            settings,
            last_call: None,
            calls: 0,
        }
    }

    /// `{api_url}{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.settings.api_url)
    }

    /// Sends `request` with the auth profile, at least `call_pause` after the previous call.
    pub fn send(&mut self, request: Request) -> Result<Response, Failure> {
        if let Some(last) = self.last_call {
            let since = last.elapsed();
            if since < self.settings.call_pause {
                std::thread::sleep(self.settings.call_pause - since);
            }
        }
        let answer = request
            .auth(&self.settings.auth_profile)
            .header("accept", "application/json")
            .send();
        self.last_call = Some(Instant::now());
        self.calls += 1;
        answer.map_err(Failure::host)
    }

    /// Sleeps `d` (the pause between products).
    pub fn pause(&self, d: Duration) {
        if !d.is_zero() {
            std::thread::sleep(d);
        }
    }
}

/// Zoho's code and message from an error body: CRM's `{"code": "…", "message": …, "details":
/// {…}}` (or the same wrapped in `data[0]`), Billing's `{"code": 1001, "message": …}`; anything
/// else as `HTTP_<status>` and the start of the body.
pub fn error_of(status: u16, body: &[u8]) -> (String, String) {
    let doc: Option<Value> = serde_json::from_slice(body).ok();
    let item = doc.as_ref().and_then(|d| {
        if d.get("code").is_some() {
            Some(d)
        } else {
            d.pointer("/data/0").filter(|i| i.get("code").is_some())
        }
    });
    match item {
        Some(item) => error_item(item),
        None => {
            let text = String::from_utf8_lossy(body);
            let text = text.trim();
            let message = if text.is_empty() {
                format!("HTTP {status} with an empty body")
            } else {
                cut(text)
            };
            (format!("HTTP_{status}"), message)
        }
    }
}

/// The code and message of one Zoho error object (a CRM `data[]` item too); the message carries
/// the details when there are any (`required field not found (api_name: Product_Name)`).
pub fn error_item(item: &Value) -> (String, String) {
    let code = match item.get("code") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => "UNKNOWN".into(),
    };
    let mut message = item
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    if let Some(Value::Object(details)) = item.get("details") {
        let parts: Vec<String> = details
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => format!("{k}: {s}"),
                other => format!("{k}: {other}"),
            })
            .collect();
        if !parts.is_empty() {
            message = format!("{message} ({})", parts.join(", "));
        }
    }
    (code, cut(&message))
}

fn cut(s: &str) -> String {
    if s.chars().count() <= MESSAGE_CHARS {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(MESSAGE_CHARS).collect();
        out.push('…');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_crm_billing_and_unknown_error_bodies() {
        let crm = br#"{"code":"MANDATORY_NOT_FOUND","details":{"api_name":"Product_Name"},"message":"required field not found","status":"error"}"#;
        assert_eq!(
            error_of(400, crm),
            (
                "MANDATORY_NOT_FOUND".into(),
                "required field not found (api_name: Product_Name)".into()
            )
        );
        let wrapped = br#"{"data":[{"code":"LIMIT_EXCEEDED","details":{"limit":100},"message":"the limit was exceeded","status":"error"}]}"#;
        assert_eq!(error_of(400, wrapped).0, "LIMIT_EXCEEDED");
        assert!(error_of(400, wrapped).1.contains("limit: 100"));
        let billing = br#"{"code":1001,"message":"The plan code \"x\" already exists."}"#;
        assert_eq!(error_of(400, billing).0, "1001");
        assert_eq!(error_of(502, b"<html>bad gateway</html>").0, "HTTP_502");
        assert_eq!(error_of(500, b"").1, "HTTP 500 with an empty body");
    }
}
