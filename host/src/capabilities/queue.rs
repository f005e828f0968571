//! The `queue` capability. Until the durable queue lands, `enqueue` answers `unsupported`.

use super::CapResult;
use crate::runtime::bindings::connector::host::queue::{self as wit, Options};
use crate::runtime::bindings::WitError;

/// One run's queue access.
#[derive(Default)]
pub struct QueueCap;

impl wit::Host for QueueCap {
    async fn enqueue(
        &mut self,
        _kind: String,
        _payload: String,
        _options: Options,
    ) -> CapResult<u64> {
        Ok(Err(WitError::Unsupported(
            "the job queue is not available in this host version".into(),
        )))
    }
}
