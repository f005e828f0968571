//! The `http` capability. Outbound HTTP is deny-by-default; until the HTTP capability lands
//! every request answers `unsupported`, and nothing leaves the host.

use super::CapResult;
use crate::runtime::bindings::connector::host::http::{self as wit, Request, Response};
use crate::runtime::bindings::WitError;

/// One run's HTTP access and its counters.
#[derive(Default)]
pub struct HttpCap {
    /// Requests sent (retries included).
    pub calls: u64,
    /// Time spent waiting for rate limits, in milliseconds.
    pub rate_limit_wait_ms: u64,
    /// Retries of transient failures.
    pub retries: u64,
}

impl wit::Host for HttpCap {
    async fn send(&mut self, _request: Request) -> CapResult<Response> {
        Ok(Err(WitError::Unsupported(
            "outbound http is not available in this host version".into(),
        )))
    }
}
