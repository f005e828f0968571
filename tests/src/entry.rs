//! A connector's example manifest entry, `plugins/<name>/connector.toml`: the one file its
//! README shows, the demo runs and its tests start from. Tests and the demo read it, point its
//! plugin at the freshly built `.wasm` and its upstream at a fake, and merge several into one
//! manifest.

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// The repository's `plugins/` directory.
pub fn plugins_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins")
}

/// `plugins/<name>/connector.toml`, parsed, with every connector's `plugin` pointed at the
/// built `.wasm` of the same file name.
pub fn load(name: &str) -> Result<toml::Table> {
    let path = plugins_dir().join(name).join("connector.toml");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let mut entry: toml::Table =
        toml::from_str(&text).with_context(|| format!("{} is not valid TOML", path.display()))?;
    if let Some(toml::Value::Table(connectors)) = entry.get_mut("connectors") {
        for (_, connector) in connectors.iter_mut() {
            let Some(table) = connector.as_table_mut() else {
                continue;
            };
            let Some(file) = table.get("plugin").and_then(|p| p.as_str()) else {
                continue;
            };
            let stem = Path::new(file)
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let built = crate::plugin(&stem).display().to_string();
            table.insert("plugin".into(), toml::Value::String(built));
        }
    }
    Ok(entry)
}

/// The connectors' folders that carry a `connector.toml`, sorted.
pub fn all() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(plugins_dir())
        .map(|dir| {
            dir.flatten()
                .filter(|e| e.path().join("connector.toml").is_file())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// The table at `path` (`["connectors", "ploomes"]`) inside `entry`, created if missing.
pub fn table<'a>(entry: &'a mut toml::Table, path: &[&str]) -> &'a mut toml::Table {
    let mut at = entry;
    for key in path {
        at = at
            .entry(key.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .expect("a table at this key");
    }
    at
}

/// Merges `more` into `into`: tables key by key, anything else replaced.
pub fn merge(into: &mut toml::Table, more: toml::Table) {
    for (key, value) in more {
        match (into.get_mut(&key), value) {
            (Some(toml::Value::Table(a)), toml::Value::Table(b)) => merge(a, b),
            (_, value) => {
                into.insert(key, value);
            }
        }
    }
}

/// A whole manifest: `[database] url` and the merged `entries`.
pub fn manifest(database_url: &str, entries: impl IntoIterator<Item = toml::Table>) -> String {
    let mut all = toml::Table::new();
    table(&mut all, &["database"]).insert("url".into(), database_url.into());
    for entry in entries {
        merge(&mut all, entry);
    }
    toml::to_string(&all).expect("a table serialises")
}
