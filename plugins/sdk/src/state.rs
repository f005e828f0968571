//! The connector's own key/value state (cursors, bookmarks), committed with its data.

use crate::bindings::connector::host::state as raw;
use crate::Error;
use serde::{de::DeserializeOwned, Serialize};

/// The value stored under `key`, if any.
pub fn get(key: &str) -> Result<Option<String>, Error> {
    raw::get(key)
}

/// Stores `value` under `key`; durable at the next checkpoint or at the run's successful end.
pub fn set(key: &str, value: &str) -> Result<(), Error> {
    raw::set(key, value)
}

/// Removes `key`.
pub fn delete(key: &str) -> Result<(), Error> {
    raw::delete(key)
}

/// The JSON value stored under `key`, decoded into `T`.
pub fn get_json<T: DeserializeOwned>(key: &str) -> Result<Option<T>, Error> {
    match get(key)? {
        None => Ok(None),
        Some(s) => Ok(Some(serde_json::from_str(&s)?)),
    }
}

/// Stores `value` as JSON under `key`.
pub fn set_json<T: Serialize>(key: &str, value: &T) -> Result<(), Error> {
    set(key, &serde_json::to_string(value)?)
}

/// Makes the run's writes, state changes and enqueued jobs so far durable, together.
/// A later failure rolls back only what came after the last checkpoint.
pub fn checkpoint() -> Result<(), Error> {
    raw::checkpoint()
}
