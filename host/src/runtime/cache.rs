//! The on-disk compile cache: compiled plugins keyed by a hash of the wasm bytes and of the
//! engine's compatibility hash (wasmtime version, compiler settings), so a restart with an
//! unchanged plugin deserialises instead of compiling, and any change recompiles.

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::path::Path;
use wasmtime::component::Component;
use wasmtime::Engine;

/// Whether a load hit the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOutcome {
    /// Deserialised a cached artifact.
    Hit,
    /// Compiled and stored the artifact.
    Miss,
    /// Compiled without consulting the cache.
    Disabled,
}

fn cache_key(engine: &Engine, bytes: &[u8]) -> String {
    let mut engine_hash = std::collections::hash_map::DefaultHasher::new();
    engine
        .precompile_compatibility_hash()
        .hash(&mut engine_hash);
    let mut h = Sha256::new();
    h.update(bytes);
    h.update(engine_hash.finish().to_le_bytes());
    h.update(env!("CARGO_PKG_VERSION").as_bytes());
    hex::encode(h.finalize())
}

/// Loads `bytes` as a component through the cache in `dir`.
pub fn load(engine: &Engine, dir: &Path, bytes: &[u8]) -> Result<(Component, CacheOutcome)> {
    let key = cache_key(engine, bytes);
    let path = dir.join(format!("{key}.cwasm"));
    if path.is_file() {
        match deserialize(engine, &path) {
            Ok(component) => return Ok((component, CacheOutcome::Hit)),
            Err(e) => {
                // A truncated or foreign file: recompile and overwrite it.
                tracing::warn!(path = %path.display(), error = %e, "ignoring unusable cache entry");
            }
        }
    }
    let component = Component::from_binary(engine, bytes).map_err(anyhow::Error::from)?;
    if let Err(e) = store(&component, dir, &path) {
        tracing::warn!(dir = %dir.display(), error = %e, "cannot write the compile cache; continuing without it");
    }
    Ok((component, CacheOutcome::Miss))
}

#[allow(unsafe_code)]
fn deserialize(engine: &Engine, path: &Path) -> Result<Component> {
    // SAFETY: wasmtime requires that the file be an artifact produced by `Component::serialize`
    // of a compatible engine. The file lives in the host's own cache directory, is named by the
    // hash of the source bytes and of this engine's compatibility hash, and is written by
    // `store` below through a temporary file and an atomic rename, so a partial write is never
    // read. wasmtime itself also checks the artifact's header against the engine.
    unsafe { Component::deserialize_file(engine, path) }.map_err(anyhow::Error::from)
}

fn store(component: &Component, dir: &Path, path: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let bytes = component.serialize().map_err(anyhow::Error::from)?;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot rename to {}", path.display()))?;
    Ok(())
}
