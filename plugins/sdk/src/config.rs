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

/// One setting the connector cannot do without; an error naming it when the manifest does not
/// set it.
pub fn require<T: DeserializeOwned>(key: &str) -> Result<T, Error> {
    get(key)?.ok_or_else(|| {
        Error::invalid(format!(
            "setting {key} is required; set it in the manifest's settings"
        ))
    })
}

/// All settings decoded into one typed struct (derive `serde::Deserialize` on it; give optional
/// settings `#[serde(default)]`).
pub fn all<T: DeserializeOwned>() -> Result<T, Error> {
    serde_json::from_str(&raw::all()).map_err(|e| Error::invalid(format!("settings: {e}")))
}
