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
        }
    }

    /// A GET request.
    pub fn get(url: impl Into<String>) -> Self {
        Self::new(Method::Get, url)
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
