//! Outbound HTTP through the host: the host checks the allowlist, applies rate limits and
//! retries, and adds the credentials of the named auth profile.

use crate::bindings::connector::host::http as raw;
use crate::Error;

pub use raw::{Method, Request, Response};

impl Request {
    /// A request with no headers, no body and no auth profile.
    pub fn new(method: Method, url: impl Into<String>) -> Self {
        Request {
            method,
            url: url.into(),
            headers: Vec::new(),
            body: None,
            auth: None,
            timeout_ms: None,
            idempotent: None,
            rate_limits: Vec::new(),
        }
    }

    /// A GET request.
    pub fn get(url: impl Into<String>) -> Self {
        Self::new(Method::Get, url)
    }

    /// A HEAD request.
    pub fn head(url: impl Into<String>) -> Self {
        Self::new(Method::Head, url)
    }

    /// A POST request (never retried by the host unless marked [`Request::idempotent`]).
    pub fn post(url: impl Into<String>) -> Self {
        Self::new(Method::Post, url)
    }

    /// A PUT request.
    pub fn put(url: impl Into<String>) -> Self {
        Self::new(Method::Put, url)
    }

    /// A PATCH request (never retried by the host unless marked [`Request::idempotent`]).
    pub fn patch(url: impl Into<String>) -> Self {
        Self::new(Method::Patch, url)
    }

    /// A DELETE request.
    pub fn delete(url: impl Into<String>) -> Self {
        Self::new(Method::Delete, url)
    }

    /// Sets the body as is (set its content type with [`Request::header`]).
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// Adds several headers.
    pub fn headers<'a>(mut self, headers: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        self.headers
            .extend(headers.into_iter().map(|(k, v)| (k.into(), v.into())));
        self
    }

    /// Lowers the manifest's timeout for this request (it can never raise it).
    pub fn timeout(mut self, timeout: std::time::Duration) -> Self {
        self.timeout_ms = Some(timeout.as_millis().min(u32::MAX as u128) as u32);
        self
    }

    /// Marks the request safe (or not) to retry after a transient failure; GET, HEAD, PUT and
    /// DELETE are by default, POST and PATCH are not.
    pub fn idempotent(mut self, idempotent: bool) -> Self {
        self.idempotent = Some(idempotent);
        self
    }

    /// Passes the request through rate-limit pool `pool` too (granted in the manifest), besides
    /// the connector's own.
    pub fn rate_limit(mut self, pool: &str) -> Self {
        self.rate_limits.push(pool.into());
        self
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Uses the manifest's auth profile `profile`: the host adds its credentials.
    pub fn auth(mut self, profile: &str) -> Self {
        self.auth = Some(profile.into());
        self
    }

    /// Sets a JSON body and its content type.
    pub fn json<T: serde::Serialize>(mut self, body: &T) -> Result<Self, Error> {
        self.body = Some(serde_json::to_vec(body)?);
        Ok(self.header("content-type", "application/json"))
    }

    /// Sends the request.
    pub fn send(&self) -> Result<Response, Error> {
        send(self)
    }
}

impl Response {
    /// Decodes the body as JSON.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, Error> {
        Ok(serde_json::from_slice(&self.body)?)
    }

    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Sends `request` through the host.
pub fn send(request: &Request) -> Result<Response, Error> {
    raw::send(request)
}

/// `value` percent-encoded for a URL's query or path segment: everything but letters, digits
/// and `-_.~` (RFC 3986's unreserved characters), so a timestamp's `+` and `:` or an id's `/`
/// arrive as sent.
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn encode_keeps_only_unreserved_characters() {
        assert_eq!(
            super::encode("gte:2026-01-01T00:00:00.5+02:00 a/b"),
            "gte%3A2026-01-01T00%3A00%3A00.5%2B02%3A00%20a%2Fb"
        );
    }
}
