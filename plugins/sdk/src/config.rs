//! The connector's non-secret settings from its manifest entry.

use crate::bindings::connector::host::config as raw;
use crate::Error;
use serde::de::DeserializeOwned;

/// One setting, decoded from JSON into `T`; `Ok(None)` when the manifest does not set it.
pub fn get<T: DeserializeOwned>(key: &str) -> Result<Option<T>, Error> {
    match raw::get(key) {
        None => Ok(None),
        Some(json) => serde_json::from_str(&json)
            .map(Some)
            .map_err(|e| Error::invalid(format!("setting {key}: {e}"))),
    }
}

/// One setting, or `default` when the manifest does not set it.
pub fn get_or<T: DeserializeOwned>(key: &str, default: T) -> Result<T, Error> {
    Ok(get(key)?.unwrap_or(default))
}

/// All settings decoded into one typed struct (derive `serde::Deserialize` on it).
pub fn all<T: DeserializeOwned>() -> Result<T, Error> {
    serde_json::from_str(&raw::all()).map_err(|e| Error::invalid(format!("settings: {e}")))
}
