//! The `log` capability: plugin log events become host `tracing` events tagged with the
//! connector and run, with sizes capped and control characters escaped so a plugin cannot forge
//! log lines.

use crate::limits;
use crate::runtime::bindings::connector::host::log::{self as wit, Level};
use std::fmt::Write;
use std::sync::Arc;

/// One run's logger.
pub struct LogCap {
    connector: Arc<str>,
    run_id: i64,
}

impl LogCap {
    /// A logger for run `run_id` of `connector`.
    pub fn new(connector: Arc<str>, run_id: i64) -> Self {
        LogCap { connector, run_id }
    }

    /// Emits one event; shared with the stdout/stderr capture.
    pub fn emit(&self, level: Level, message: &str, fields: &str) {
        let connector = &*self.connector;
        let run_id = self.run_id;
        let message = sanitize(message, limits::LOG_MESSAGE_BYTES);
        match level {
            Level::Trace => {
                tracing::trace!(target: "plugin", connector, run_id, fields, "{message}")
            }
            Level::Debug => {
                tracing::debug!(target: "plugin", connector, run_id, fields, "{message}")
            }
            Level::Info => tracing::info!(target: "plugin", connector, run_id, fields, "{message}"),
            Level::Warn => tracing::warn!(target: "plugin", connector, run_id, fields, "{message}"),
            Level::Error => {
                tracing::error!(target: "plugin", connector, run_id, fields, "{message}")
            }
        }
    }
}

/// Caps `s` and escapes control characters (newlines included) so one event stays one line.
pub fn sanitize(s: &str, max: usize) -> String {
    let capped = limits::truncate(s, max);
    if !capped.chars().any(char::is_control) {
        return capped;
    }
    capped.chars().flat_map(char::escape_default).collect()
}

/// Renders plugin fields as `key=value` pairs, capped in number and size.
pub fn render_fields(fields: &[(String, String)]) -> String {
    let mut out = String::new();
    for (k, v) in fields.iter().take(limits::LOG_FIELDS) {
        if !out.is_empty() {
            out.push(' ');
        }
        let k = sanitize(k, limits::LOG_FIELD_BYTES);
        let v = sanitize(v, limits::LOG_FIELD_BYTES);
        if v.is_empty() || v.contains([' ', '"', '=']) {
            let _ = write!(out, "{k}={v:?}");
        } else {
            let _ = write!(out, "{k}={v}");
        }
    }
    if fields.len() > limits::LOG_FIELDS {
        let _ = write!(out, " fields_dropped={}", fields.len() - limits::LOG_FIELDS);
    }
    out
}

impl wit::Host for LogCap {
    async fn log(
        &mut self,
        level: Level,
        message: String,
        fields: Vec<(String, String)>,
    ) -> wasmtime::Result<()> {
        self.emit(level, &message, &render_fields(&fields));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newlines_cannot_forge_a_second_log_line() {
        assert_eq!(sanitize("a\nERROR fake", 100), "a\\nERROR fake");
    }

    #[test]
    fn fields_are_capped_and_quoted() {
        let many: Vec<(String, String)> = (0..40)
            .map(|i| (format!("k{i}"), "v w".to_string()))
            .collect();
        let out = render_fields(&many);
        assert!(out.starts_with("k0=\"v w\" k1="));
        assert!(out.ends_with("fields_dropped=8"));
    }
}
