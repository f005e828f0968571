//! Connector-owned schema in the database: the `plugin_migrations` ledger (which version of
//! which plugin's schema is applied, with the checksum of the SQL that ran), applying one
//! version with its ledger row in one transaction, and the catalogue lookups the checks need.
//! What may run is decided before, by the migration guard (`capabilities::db`); the order and
//! the checks by `runner::schema`.

use super::Store;
use anyhow::{Context, Result};
use chrono::Utc;

/// One version of a plugin's schema as recorded in the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedVersion {
    /// The version.
    pub version: u32,
    /// What it does.
    pub description: String,
    /// SHA-256 of the SQL that ran, hex.
    pub checksum: String,
}

impl Store {
    /// The versions of `plugin`'s schema applied to this database, oldest first.
    pub async fn applied_schema(&self, plugin: &str) -> Result<Vec<AppliedVersion>> {
        let sql = "SELECT version, description, checksum FROM plugin_migrations \
                   WHERE plugin = $1 ORDER BY version";
        let rows: Vec<(i64, String, String)> = on_pool!(self, pool => sqlx::query_as(sql)
            .bind(plugin)
            .fetch_all(pool)
            .await)
        .context("cannot read the plugin_migrations ledger")?;
        Ok(rows
            .into_iter()
            .map(|(version, description, checksum)| AppliedVersion {
                version: u32::try_from(version).unwrap_or(u32::MAX),
                description,
                checksum,
            })
            .collect())
    }

    /// Runs `statements` (one version of `plugin`'s schema, already checked) and records the
    /// version in the ledger, all in one transaction: on any failure nothing of it stays. Hosts
    /// starting together apply it once: the transaction holds the database's schema lock (an
    /// advisory lock on PostgreSQL, the write lock on SQLite) and looks at the ledger again
    /// first; returns false when another host had applied the same version meanwhile.
    pub async fn apply_schema(
        &self,
        plugin: &str,
        version: &AppliedVersion,
        statements: &[String],
    ) -> Result<bool> {
        let record = "INSERT INTO plugin_migrations (plugin, version, description, checksum, \
                      applied_at) VALUES ($1, $2, $3, $4, $5)";
        let applied = "SELECT checksum FROM plugin_migrations WHERE plugin = $1 AND version = $2";
        macro_rules! apply {
            ($tx:expr) => {{
                let mut tx = $tx;
                let already: Option<String> = sqlx::query_scalar(applied)
                    .bind(plugin)
                    .bind(i64::from(version.version))
                    .fetch_optional(&mut *tx)
                    .await?;
                if let Some(checksum) = already {
                    anyhow::ensure!(
                        checksum == version.checksum,
                        "another host applied a different version {} meanwhile",
                        version.version
                    );
                    return Ok(false);
                }
                for (i, statement) in statements.iter().enumerate() {
                    sqlx::query(statement)
                        .persistent(false)
                        .execute(&mut *tx)
                        .await
                        .with_context(|| {
                            let head: String = statement.chars().take(60).collect();
                            format!("statement {} (`{head}…`) failed", i + 1)
                        })?;
                }
                sqlx::query(record)
                    .bind(plugin)
                    .bind(i64::from(version.version))
                    .bind(&version.description)
                    .bind(&version.checksum)
                    .bind(Utc::now())
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(true)
            }};
        }
        match self {
            Store::Sqlite { writer, .. } => apply!(writer.begin_with("BEGIN IMMEDIATE").await?),
            Store::Postgres { pool } => {
                let mut tx = pool.begin().await?;
                sqlx::query(
                    "SELECT pg_advisory_xact_lock(hashtext('connector-host plugin schema'))",
                )
                .execute(&mut *tx)
                .await?;
                apply!(tx)
            }
        }
    }

    /// Whether a table named `table` exists in the default schema.
    pub async fn table_exists(&self, table: &str) -> Result<bool> {
        let sql = match self {
            Store::Sqlite { .. } => {
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = $1"
            }
            Store::Postgres { .. } => {
                "SELECT COUNT(*) FROM information_schema.tables \
                 WHERE table_schema = current_schema() AND table_name = $1"
            }
        };
        let n: i64 = on_pool!(self, pool => sqlx::query_scalar(sql)
            .bind(table)
            .fetch_one(pool)
            .await)
        .context("cannot read the database catalogue")?;
        Ok(n > 0)
    }

    /// The table index `index` belongs to, if it exists.
    pub async fn index_table(&self, index: &str) -> Result<Option<String>> {
        let sql = match self {
            Store::Sqlite { .. } => {
                "SELECT tbl_name FROM sqlite_master WHERE type = 'index' AND name = $1"
            }
            Store::Postgres { .. } => {
                "SELECT tablename::text FROM pg_indexes \
                 WHERE schemaname = current_schema() AND indexname = $1"
            }
        };
        on_pool!(self, pool => sqlx::query_scalar(sql)
            .bind(index)
            .fetch_optional(pool)
            .await)
        .context("cannot read the database catalogue")
    }
}
