//! Durable jobs for this connector, delivered later to its `handle_job`.

use crate::bindings::connector::host::queue as raw;
use crate::Error;

pub use raw::Options;

// The type is generated from WIT, so a derive is not available to us.
#[allow(clippy::derivable_impls)]
impl Default for Options {
    fn default() -> Self {
        Options {
            delay_ms: None,
            max_attempts: None,
            dedup_key: None,
        }
    }
}

/// Enqueues a job of `kind` with a JSON `payload`; returns its id. The job exists once the run
/// checkpoints or ends well.
pub fn enqueue(kind: &str, payload: &serde_json::Value, options: Options) -> Result<u64, Error> {
    raw::enqueue(kind, &payload.to_string(), &options)
}
