//! What each plugin declares, checked against the manifest and the database at every start
//! (and by `validate`), every problem reported at once: the tables it uses are granted and,
//! after its migrations, exist; the auth profiles it names are defined; the settings the
//! manifest gives it and the jobs its schedules name are ones it declares. And its own schema
//! brought up to date: each plugin's migrations applied in order, once per plugin whatever
//! connectors use it, each version checked by the migration guard first, and an applied version
//! whose SQL changed refused.

use super::{LoadedConnector, Runner};
use crate::capabilities::db::{check_migration, Grants};
use crate::store::AppliedVersion;
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;

impl Runner {
    /// Every problem between the loaded plugins, the manifest and the database, after bringing
    /// each plugin's schema up to date. Empty when all is well.
    pub(super) async fn check_and_migrate(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let mut migrated = BTreeSet::new();
        for (name, c) in &self.connectors {
            problems.extend(declaration_problems(name, c));
            // A plugin's schema is the plugin's: the first connector using it applies it.
            if migrated.insert(c.info.name.clone()) {
                problems.extend(self.migrate(name, c).await);
            }
        }
        for (name, c) in &self.connectors {
            for table in &c.info.tables {
                let table = table.to_ascii_lowercase();
                if !c.grant.tables.allows(&table) {
                    continue;
                }
                match self.store.table_exists(&table).await {
                    Ok(true) => {}
                    Ok(false) => problems.push(format!(
                        "connectors.{name}.tables: the plugin uses table {table:?}, which does not \
                         exist after its migrations (a plugin's migrations must create its tables)"
                    )),
                    Err(e) => problems.push(format!("connectors.{name}: {e:#}")),
                }
            }
        }
        problems
    }

    /// Applies the pending versions of `c`'s plugin schema; the problems met.
    async fn migrate(&self, name: &str, c: &LoadedConnector) -> Vec<String> {
        let plugin = &c.info.name;
        let at = format!("connectors.{name}: plugin {plugin}");
        let backend = self.store.backend();
        let declared = &c.info.migrations;
        for (i, m) in declared.iter().enumerate() {
            if m.version as usize != i + 1 {
                return vec![format!(
                    "{at}: its migrations must be numbered 1, 2, 3, … in order; found version {} in place {}",
                    m.version,
                    i + 1
                )];
            }
        }
        let applied = match self.store.applied_schema(plugin).await {
            Ok(a) => a,
            Err(e) => return vec![format!("{at}: {e:#}")],
        };
        let sql_of =
            |m: &crate::bindings::connector::host::connector_types::Migration| match backend {
                crate::store::Backend::Sqlite => m.sqlite.clone(),
                crate::store::Backend::Postgres => m.postgres.clone(),
            };
        let mut problems = Vec::new();
        for done in &applied {
            match declared.get(done.version as usize - 1) {
                None => problems.push(format!(
                    "{at}: the database has version {} of its schema ({:?}), which this plugin \
                     does not declare; is it an older build?",
                    done.version, done.description
                )),
                Some(m) if checksum(&sql_of(m)) != done.checksum => problems.push(format!(
                    "{at}: migration {} ({:?}) was changed after it was applied; restore it and \
                     put the change in a new migration",
                    m.version, m.description
                )),
                Some(_) => {}
            }
        }
        if !problems.is_empty() {
            return problems;
        }
        for m in declared.iter().skip(applied.len()) {
            let head = format!("{at}: migration {} ({:?})", m.version, m.description);
            let sql = sql_of(m);
            let statements = match check_migration(&sql, backend, &c.grant.tables) {
                Ok(s) => s,
                Err(why) => return vec![format!("{head}: {why}")],
            };
            if let Some(problem) = self.foreign_indexes(&statements, &c.grant.tables).await {
                return vec![format!("{head}: {problem}")];
            }
            let version = AppliedVersion {
                version: m.version,
                description: m.description.clone(),
                checksum: checksum(&sql),
            };
            let texts: Vec<String> = statements.into_iter().map(|s| s.sql).collect();
            match self.store.apply_schema(plugin, &version, &texts).await {
                Ok(true) => tracing::info!(
                    connector = name,
                    plugin = %plugin,
                    version = m.version,
                    description = %m.description,
                    "plugin schema migrated"
                ),
                Ok(false) => {}
                Err(e) => return vec![format!("{head}: {e:#}")],
            }
        }
        Vec::new()
    }

    /// A problem when a migration drops an index of a table that is not the connector's.
    async fn foreign_indexes(
        &self,
        statements: &[crate::capabilities::db::MigrationStatement],
        grants: &Grants,
    ) -> Option<String> {
        for index in statements.iter().flat_map(|s| &s.drops_indexes) {
            match self.store.index_table(index).await {
                Ok(Some(table)) if grants.allows(&table.to_ascii_lowercase()) => {}
                Ok(None) => {}
                Ok(Some(table)) => {
                    return Some(format!(
                        "index {index:?} belongs to table {table:?}, which is not one of the connector's"
                    ))
                }
                Err(e) => return Some(format!("{e:#}")),
            }
        }
        None
    }
}

/// SHA-256 of `sql`, hex.
fn checksum(sql: &str) -> String {
    hex::encode(Sha256::digest(sql.as_bytes()))
}

/// What the plugin declares against what the manifest gives it.
fn declaration_problems(name: &str, c: &LoadedConnector) -> Vec<String> {
    let mut problems = Vec::new();
    for table in &c.info.tables {
        if !c.grant.tables.allows(&table.to_ascii_lowercase()) {
            problems.push(format!(
                "connectors.{name}.tables: the plugin uses table {table:?}, which is not granted; add it to tables"
            ));
        }
    }
    for profile in &c.info.auth_profiles {
        if !c.config.auth.contains_key(profile) {
            problems.push(format!(
                "connectors.{name}.auth: the plugin names auth profile {profile:?}, which the manifest does not define; add auth.{profile} = {{ … }}"
            ));
        }
    }
    let settings: Vec<&str> = c.info.settings.iter().map(|(k, _)| k.as_str()).collect();
    for key in c.config.settings.keys() {
        if !settings.contains(&key.as_str()) {
            let hint = crate::suggest::closest(key, settings.iter().copied())
                .map(|s| format!("; did you mean {s:?}?"))
                .unwrap_or_else(|| known("it reads", &settings));
            problems.push(format!(
                "connectors.{name}.settings.{key}: the plugin has no setting {key:?}{hint}"
            ));
        }
    }
    if !c.info.jobs.is_empty() {
        for schedule in &c.config.schedules {
            if !c.info.jobs.contains(&schedule.job) {
                let jobs: Vec<&str> = c.info.jobs.iter().map(String::as_str).collect();
                let hint = crate::suggest::closest(&schedule.job, jobs.iter().copied())
                    .map(|s| format!("; did you mean {s:?}?"))
                    .unwrap_or_else(|| known("its jobs are", &jobs));
                problems.push(format!(
                    "connectors.{name}.schedules.{}.job: the plugin has no job {:?}{hint}",
                    schedule.name, schedule.job
                ));
            }
        }
    }
    problems
}

/// "; it reads a, b" — or nothing when the list is empty.
fn known(what: &str, names: &[&str]) -> String {
    if names.is_empty() {
        "; it declares none".to_owned()
    } else {
        format!("; {what} {}", names.join(", "))
    }
}
