//! A host started for a test: a manifest written to a temporary directory (plugin paths filled
//! in), a fixed environment for secrets, and the [`Runner`] built from them.

use crate::db::TestDb;
use anyhow::Result;
use connector_host::manifest::{Env, Manifest};
use connector_host::runner::Runner;
use std::collections::BTreeMap;

/// A fixed set of environment variables.
#[derive(Default, Clone)]
pub struct FakeEnv(pub BTreeMap<String, String>);

impl FakeEnv {
    /// An environment with these variables.
    pub fn with(vars: &[(&str, &str)]) -> Self {
        FakeEnv(
            vars.iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }
}

impl Env for FakeEnv {
    fn var(&self, name: &str) -> Option<String> {
        self.0.get(name).cloned()
    }
    fn names(&self) -> Vec<String> {
        self.0.keys().cloned().collect()
    }
}

/// A running host and the directory its manifest lives in.
pub struct TestHost {
    /// The host.
    pub runner: Runner,
    /// Keeps the manifest directory (and the compile cache) alive.
    pub dir: tempfile::TempDir,
    db: Option<TestDb>,
}

impl TestHost {
    /// Keeps `db` alive (and cleans it up) as long as this host.
    pub fn keep(&mut self, db: TestDb) {
        self.db = Some(db);
    }
}

/// Writes `connectors` (TOML `[connectors.*]` tables; `{plugin:NAME}` becomes the path of that
/// plugin's wasm) under a `[database]` pointing at `db`, and starts a host on it.
pub async fn start(db: &TestDb, connectors: &str, env: &FakeEnv) -> Result<TestHost> {
    let dir = tempfile::tempdir()?;
    let text = manifest(db, connectors);
    let path = dir.path().join("connectors.toml");
    std::fs::write(&path, text)?;
    let (manifest, secrets) = Manifest::load(&path, env)?;
    let runner = Runner::start(manifest, secrets).await?;
    Ok(TestHost {
        runner,
        dir,
        db: None,
    })
}

/// The manifest text `start` writes.
pub fn manifest(db: &TestDb, connectors: &str) -> String {
    manifest_for(&db.url, connectors)
}

/// The manifest text for a database URL.
pub fn manifest_for(url: &str, connectors: &str) -> String {
    let mut body = connectors.to_owned();
    while let Some(start) = body.find("{plugin:") {
        let end = start + body[start..].find('}').expect("closing brace");
        let name = &body[start + "{plugin:".len()..end];
        let path = crate::plugin(name).display().to_string();
        body.replace_range(start..=end, &format!("{path:?}"));
    }
    format!("[database]\nurl = {url:?}\n\n{body}")
}
