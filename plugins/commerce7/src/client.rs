//! Calls to Commerce7 through the host's `http.send`. The host adds Basic auth (app id and
//! secret key) and the `tenant` header from the auth profile, and applies retries and
//! `Retry-After`; this client builds the URLs, names the 100/minute pool on membership calls,
//! and reads Commerce7's error body (`{statusCode, type, message, errors[]}`) into a [`Refusal`].

use crate::config::Settings;
use connector_sdk::http::{Request, Response};
use connector_sdk::{Error, JobError};
use serde_json::Value;

/// A call Commerce7 answered with an error status.
#[derive(Debug, Clone)]
pub struct Refusal {
    /// `POST /club-membership` — never the query string or the ids.
    pub what: String,
    pub status: u16,
    /// Commerce7's `type` (`validationError`, `notFound`, …), when it sent one.
    pub kind: Option<String>,
    pub message: String,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: HTTP {}", self.what, self.status)?;
        if let Some(kind) = &self.kind {
            write!(f, " {kind}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl Refusal {
    fn of(what: &str, r: &Response) -> Refusal {
        let doc: Option<Value> = serde_json::from_slice(&r.body).ok();
        let field = |k: &str| doc.as_ref().and_then(|d| d.get(k)).and_then(Value::as_str);
        let mut message = field("message").map(str::to_owned).unwrap_or_else(|| {
            let text = String::from_utf8_lossy(&r.body);
            let text: String = text.trim().chars().take(200).collect();
            if text.is_empty() {
                "(empty body)".into()
            } else {
                text
            }
        });
        // Field errors: `errors: [{field, message}]`.
        let errors: Vec<String> = doc
            .as_ref()
            .and_then(|d| d.get("errors"))
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .map(|e| {
                        match (
                            e.get("field").and_then(Value::as_str),
                            e.get("message").and_then(Value::as_str),
                        ) {
                            (Some(f), Some(m)) => format!("{f}: {m}"),
                            _ => e.to_string(),
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        if !errors.is_empty() {
            message = format!("{message} ({})", errors.join("; "));
        }
        Refusal {
            what: what.to_owned(),
            status: r.status,
            kind: field("type").map(str::to_owned),
            message,
        }
    }

    /// What a job does about it: wait and retry for the quota, server trouble and refused
    /// credentials (an operator may fix them), give up at once on the rest — Commerce7 would
    /// answer a validation error the same way every time.
    pub fn job_error(&self, settings: &Settings) -> JobError {
        match self.status {
            429 | 500..=599 => JobError::Retry(self.to_string()),
            401 | 403 => JobError::Retry(format!(
                "{self}; Commerce7 refused the credentials of auth profile `{}` (app id, secret key, tenant)",
                settings.auth_profile
            )),
            _ => JobError::Permanent(self.to_string()),
        }
    }
}

/// The client of one call.
pub struct Client<'a> {
    pub settings: &'a Settings,
}

impl<'a> Client<'a> {
    pub fn new(settings: &'a Settings) -> Self {
        Client { settings }
    }

    /// Sends `method path` with a JSON `body`; `pooled` names the 100/minute pool. Returns the
    /// decoded JSON of a 2xx answer, or the refusal.
    pub fn call(
        &self,
        request: Request,
        what: &str,
        body: Option<&Value>,
        pooled: bool,
    ) -> Result<Result<Value, Refusal>, Error> {
        let mut request = request
            .auth(&self.settings.auth_profile)
            .header("accept", "application/json");
        if let Some(body) = body {
            request = request.json(body)?;
        }
        if pooled {
            if let Some(pool) = &self.settings.rate_limit {
                request = request.rate_limit(pool);
            }
        }
        let response = request.send()?;
        if !response.is_success() {
            return Ok(Err(Refusal::of(what, &response)));
        }
        serde_json::from_slice(&response.body)
            .map(Ok)
            .map_err(|e| Error::upstream(format!("{what}: the answer is not JSON: {e}")))
    }

    /// `{api_url}{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.settings.api_url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_validation_error_keeps_its_fields_and_is_permanent() {
        let body = br#"{"statusCode":422,"type":"validationError","message":"One or more elements is missing or invalid","errors":[{"field":"orderDeliveryMethod","message":"required"}]}"#;
        let r = Response {
            status: 422,
            headers: vec![],
            body: body.to_vec(),
        };
        let refusal = Refusal::of("POST /club-membership", &r);
        assert_eq!(
            refusal.to_string(),
            "POST /club-membership: HTTP 422 validationError: One or more elements is missing or invalid (orderDeliveryMethod: required)"
        );
    }
}
