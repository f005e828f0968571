//! Structured logging: events become the host's `tracing` events, tagged with the run.

use crate::bindings::connector::host::log as raw;

pub use raw::Level;

/// Logs `message` at `level` with `fields` (key, value) pairs.
pub fn log(level: Level, message: &str, fields: &[(&str, &str)]) {
    let fields: Vec<(String, String)> = fields
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    raw::log(level, message, &fields);
}

/// Logs at debug level.
pub fn debug(message: &str, fields: &[(&str, &str)]) {
    log(Level::Debug, message, fields)
}

/// Logs at info level.
pub fn info(message: &str, fields: &[(&str, &str)]) {
    log(Level::Info, message, fields)
}

/// Logs at warn level.
pub fn warn(message: &str, fields: &[(&str, &str)]) {
    log(Level::Warn, message, fields)
}

/// Logs at error level: something an operator must act on.
pub fn error(message: &str, fields: &[(&str, &str)]) {
    log(Level::Error, message, fields)
}
