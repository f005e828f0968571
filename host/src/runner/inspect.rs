//! `connector-host inspect PLUGIN.wasm`: what a plugin file is and what it asks for, read
//! before anything is granted to it — its self-description, the world it imports and exports,
//! every statement of its migrations (with the guard's verdict per backend), its size and
//! SHA-256 (to pin in the manifest). It runs the plugin's `describe` only, with nothing granted,
//! on a throwaway database.

use super::{Grant, Runner};
use crate::capabilities::db::{check_migration, Grants};
use crate::capabilities::http::ConnectorHttp;
use crate::manifest::{Env, Manifest};
use crate::store::Backend;
use anyhow::{Context, Result};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::path::Path;
use std::sync::Arc;

/// What `inspect` found.
#[derive(Debug, Clone, Serialize)]
pub struct Inspection {
    /// The file.
    pub path: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its SHA-256, hex: the value for the manifest's `sha256`.
    pub sha256: String,
    /// Its name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// What it says it does.
    pub description: String,
    /// Settings it reads, with their descriptions.
    pub settings: Vec<(String, String)>,
    /// Auth profiles it names.
    pub auth_profiles: Vec<String>,
    /// Tables it uses.
    pub tables: Vec<String>,
    /// Jobs it understands.
    pub jobs: Vec<String>,
    /// Its schema versions.
    pub migrations: Vec<InspectedMigration>,
    /// What it imports (WASI's interfaces and the host's).
    pub imports: Vec<String>,
    /// What it exports.
    pub exports: Vec<String>,
}

/// One schema version, split into statements per backend.
#[derive(Debug, Clone, Serialize)]
pub struct InspectedMigration {
    /// The version.
    pub version: u32,
    /// What it does.
    pub description: String,
    /// Its SQLite statements, or why the host would refuse them.
    pub sqlite: Result<Vec<String>, String>,
    /// Its PostgreSQL statements, or why the host would refuse them.
    pub postgres: Result<Vec<String>, String>,
}

/// No environment: `inspect` resolves no secret.
struct NoEnv;

impl Env for NoEnv {
    fn var(&self, _: &str) -> Option<String> {
        None
    }
    fn names(&self) -> Vec<String> {
        Vec::new()
    }
}

impl Runner {
    /// Inspects the plugin at `path` (see the module's doc).
    pub async fn inspect(path: &Path) -> Result<Inspection> {
        let bytes = std::fs::read(path)
            .with_context(|| format!("cannot read plugin {}", path.display()))?;
        let dir = tempfile::tempdir().context("cannot make a scratch directory")?;
        let text = format!(
            "[database]\nurl = {:?}\n[runtime]\npooling = false\nmax_instances = 4\n",
            format!("sqlite://{}", dir.path().join("inspect.db").display())
        );
        let (manifest, secrets) = Manifest::parse(&text, &dir.path().join("inspect.toml"), &NoEnv)?;
        let runner = Runner::start(manifest, secrets).await?;
        let result = runner.inspect_bytes(path, &bytes).await;
        runner.shutdown().await;
        result
    }

    async fn inspect_bytes(&self, path: &Path, bytes: &[u8]) -> Result<Inspection> {
        let plugin = self.runtime.load_uncached(path)?;
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "plugin".into());
        let bare = Grant {
            name: Arc::from(stem.as_str()),
            tables: Arc::new(Grants::default()),
            settings: Arc::new(serde_json::Map::new()),
            http: Arc::new(ConnectorHttp::none()),
            memory_limit: 256 << 20,
        };
        let info = self
            .describe(&plugin, &bare)
            .await
            .context("the plugin's describe export failed")?;
        let (imports, exports) = self.runtime.world_of(&plugin);
        let own = Grants::new(&info.tables);
        let split = |sql: &str, backend| {
            check_migration(sql, backend, &own)
                .map(|statements| statements.into_iter().map(|s| s.sql).collect())
        };
        let migrations = info
            .migrations
            .iter()
            .map(|m| InspectedMigration {
                version: m.version,
                description: m.description.clone(),
                sqlite: split(&m.sqlite, Backend::Sqlite),
                postgres: split(&m.postgres, Backend::Postgres),
            })
            .collect();
        Ok(Inspection {
            path: path.display().to_string(),
            size: bytes.len() as u64,
            sha256: hex::encode(Sha256::digest(bytes)),
            name: info.name,
            version: info.version,
            description: info.description,
            settings: info.settings,
            auth_profiles: info.auth_profiles,
            tables: info.tables,
            jobs: info.jobs,
            migrations,
            imports,
            exports,
        })
    }
}

impl std::fmt::Display for Inspection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let list = |v: &[String]| {
            if v.is_empty() {
                "(none)".to_owned()
            } else {
                v.join(", ")
            }
        };
        writeln!(f, "plugin       {}", self.path)?;
        writeln!(f, "size         {} bytes", self.size)?;
        writeln!(f, "sha256       {}", self.sha256)?;
        writeln!(f, "name         {} {}", self.name, self.version)?;
        writeln!(f, "description  {}", self.description)?;
        writeln!(f, "tables       {}", list(&self.tables))?;
        writeln!(f, "jobs         {}", list(&self.jobs))?;
        writeln!(f, "auth         {}", list(&self.auth_profiles))?;
        writeln!(f, "settings")?;
        let width = self
            .settings
            .iter()
            .map(|(k, _)| k.len())
            .max()
            .unwrap_or(0);
        for (key, description) in &self.settings {
            writeln!(f, "  {key:<width$}  {description}")?;
        }
        writeln!(f, "imports      {}", list(&self.imports))?;
        writeln!(f, "exports      {}", list(&self.exports))?;
        writeln!(f, "migrations")?;
        if self.migrations.is_empty() {
            writeln!(f, "  (none)")?;
        }
        for m in &self.migrations {
            writeln!(f, "  {}  {}", m.version, m.description)?;
            for (backend, statements) in [("sqlite", &m.sqlite), ("postgres", &m.postgres)] {
                writeln!(f, "     {backend}:")?;
                match statements {
                    Ok(statements) => {
                        for statement in statements {
                            for line in statement.lines() {
                                writeln!(f, "       {line}")?;
                            }
                        }
                    }
                    Err(why) => writeln!(f, "       REFUSED: {why}")?,
                }
            }
        }
        Ok(())
    }
}
