//! The `config` capability: the connector's non-secret settings from its manifest entry, as JSON.

use crate::bindings::connector::host::config as wit;
use crate::limits;
use std::sync::Arc;

/// One connector's settings.
pub struct ConfigCap {
    settings: Arc<serde_json::Map<String, serde_json::Value>>,
}

impl ConfigCap {
    /// Serves `settings`.
    pub fn new(settings: Arc<serde_json::Map<String, serde_json::Value>>) -> Self {
        ConfigCap { settings }
    }
}

impl wit::Host for ConfigCap {
    fn get(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        if key.len() > limits::CONFIG_KEY_BYTES {
            return Ok(None);
        }
        Ok(self.settings.get(&key).map(|v| v.to_string()))
    }

    fn all(&mut self) -> wasmtime::Result<String> {
        Ok(serde_json::Value::Object((*self.settings).clone()).to_string())
    }
}

/// Links the `config` interface.
pub fn link<T: super::HasCaps>(
    linker: &mut wasmtime::component::Linker<T>,
) -> wasmtime::Result<()> {
    wit::add_to_linker::<_, wasmtime::component::HasSelf<ConfigCap>>(linker, |d| {
        &mut d.caps().config
    })
}
