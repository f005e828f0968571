//! Checks one connector entry: its plugin, tables, settings, limits and HTTP grants.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use super::raw::{Field, RawConnector, RawHttp};
use super::units;
use super::validate::{is_name, join, Check, MIB, NAME};
use super::{ConnectorConfig, HttpConfig, Origin, HOST_TABLES};
use crate::suggest::closest;

/// Whether `name` matches `^[A-Za-z_][A-Za-z0-9_]{0,62}$`, a table name safe in SQL.
fn is_identifier(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && name.len() <= 63
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

impl Check<'_> {
    pub(super) fn connector(
        &mut self,
        name: &str,
        raw: Field<RawConnector>,
        pools: &BTreeSet<String>,
        server_max_body: u64,
    ) -> ConnectorConfig {
        let at = join("connectors", name);
        if !is_name(name) {
            self.problem(&at, format_args!("expected a connector name of {NAME}"));
        }
        let expected = "a table like { plugin = \"plugins/ploomes.wasm\" }";
        let raw = self.take(raw, &at, expected).unwrap_or_default();
        let RawConnector {
            plugin,
            sha256,
            tables,
            settings,
            timeout,
            memory,
            http,
            auth,
            schedule,
            schedules,
            trigger,
            webhook,
            max_age,
        } = raw;
        let plugin = self.plugin(plugin, &join(&at, "plugin"));
        let expected = "the plugin's SHA-256 as 64 hex digits (see `connector-host inspect`)";
        let sha256 = self
            .take(sha256, &join(&at, "sha256"), expected)
            .and_then(|digest| {
                let digest = digest.to_ascii_lowercase();
                if digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_hexdigit()) {
                    Some(digest)
                } else {
                    self.problem(
                        &join(&at, "sha256"),
                        format_args!("expected {expected}, found {digest:?}"),
                    );
                    None
                }
            });
        let tables = self.tables(tables, &join(&at, "tables"));
        let expected = "a table like { page_size = 300 }";
        let settings = self.take(settings, &join(&at, "settings"), expected);
        let settings = self.settings(settings.unwrap_or_default(), &join(&at, "settings"));
        let hour = Duration::from_secs(3600);
        let limits = (Duration::from_secs(1), 24 * hour);
        let timeout = self.duration(timeout, &join(&at, "timeout"), hour / 4, limits);
        let limits = (MIB, 4096 * MIB);
        let memory_limit = self.size(memory, &join(&at, "memory"), 256 * MIB, limits);
        let http = self.http(http, &join(&at, "http"), pools);
        let auth = self.auth(auth, &join(&at, "auth"));
        let schedules = self.schedules(schedule, schedules, &at);
        let trigger_token = self.trigger(trigger, &join(&at, "trigger"));
        let webhook = self.webhook(webhook, &join(&at, "webhook"), server_max_body);
        let max_age = max_age.is_set().then(|| {
            let limits = (Duration::from_secs(60), 90 * 24 * hour);
            self.duration(max_age, &join(&at, "max_age"), hour, limits)
        });
        ConnectorConfig {
            name: name.to_string(),
            plugin,
            sha256,
            tables,
            settings,
            timeout,
            memory_limit,
            http,
            auth,
            schedules,
            trigger_token,
            webhook,
            max_age,
        }
    }

    fn plugin(&mut self, field: Field<String>, at: &str) -> PathBuf {
        let expected = "a path to a .wasm file like \"plugins/ploomes.wasm\"";
        let Some(written) = self.require(field, at, expected) else {
            return Default::default();
        };
        let resolved = super::clean(&self.base_dir.join(&written));
        if !written.ends_with(".wasm") {
            self.problem(at, format_args!("expected {expected}, found {written:?}"));
        } else if !resolved.exists() {
            let shown = resolved.display();
            self.problem(
                at,
                format_args!("file {written} not found (resolved to {shown})"),
            );
        } else if !resolved.is_file() {
            let shown = resolved.display();
            self.problem(
                at,
                format_args!("{written} is not a file (resolved to {shown})"),
            );
        }
        resolved
    }

    fn tables(&mut self, field: Field<Vec<Field<String>>>, at: &str) -> Vec<String> {
        let list = "a list of table names like [\"sales\", \"customer_sales\"]";
        let expected = "a table name like \"sales\"";
        let mut tables: Vec<String> = Vec::new();
        for (i, table) in self
            .take(field, at, list)
            .unwrap_or_default()
            .into_iter()
            .enumerate()
        {
            let Some(table) = self.take(table, &format!("{at}[{i}]"), expected) else {
                continue;
            };
            let lower = table.to_ascii_lowercase();
            if !is_identifier(&table) {
                let rule =
                    "letters, digits and _, not starting with a digit, at most 63 characters";
                self.problem(
                    &format!("{at}[{i}]"),
                    format_args!("expected {expected} ({rule}), found {table:?}"),
                );
            } else if HOST_TABLES.contains(&lower.as_str()) {
                self.problem(
                    at,
                    format_args!("{table:?} is a host table and cannot be granted"),
                );
            } else if lower.starts_with("sqlite_") {
                self.problem(
                    at,
                    format_args!("{table:?} is reserved by SQLite and cannot be granted"),
                );
            } else if tables.iter().any(|t| t.eq_ignore_ascii_case(&table)) {
                self.problem(at, format_args!("{table:?} is listed twice"));
            } else {
                tables.push(table);
            }
        }
        tables
    }

    fn settings(
        &mut self,
        table: toml::Table,
        at: &str,
    ) -> serde_json::Map<String, serde_json::Value> {
        // Sorted whether or not toml and serde_json preserve document order.
        let mut entries: Vec<(String, toml::Value)> = table.into_iter().collect();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        entries
            .into_iter()
            .map(|(key, value)| {
                let value = self.json(value, &join(at, &key));
                (key, value)
            })
            .collect()
    }

    fn json(&mut self, value: toml::Value, at: &str) -> serde_json::Value {
        use serde_json::Value as Json;
        match value {
            toml::Value::String(s) => Json::String(s),
            toml::Value::Integer(n) => Json::from(n),
            toml::Value::Float(x) => serde_json::Number::from_f64(x).map_or_else(
                || {
                    let x = toml::Value::Float(x);
                    self.problem(at, format_args!("expected a finite number, found {x}"));
                    Json::Null
                },
                Json::Number,
            ),
            toml::Value::Boolean(b) => Json::Bool(b),
            toml::Value::Datetime(d) => Json::String(d.to_string()),
            toml::Value::Array(items) => Json::Array(
                items
                    .into_iter()
                    .enumerate()
                    .map(|(i, v)| self.json(v, &format!("{at}[{i}]")))
                    .collect(),
            ),
            toml::Value::Table(table) => Json::Object(self.settings(table, at)),
        }
    }

    fn http(&mut self, raw: Field<RawHttp>, at: &str, pools: &BTreeSet<String>) -> HttpConfig {
        let RawHttp {
            allow,
            rate_limit,
            extra_rate_limits,
            timeout,
            max_response,
            retries,
            max_wait,
        } = self
            .take(
                raw,
                at,
                "a table like { allow = [\"https://api.example.com\"] }",
            )
            .unwrap_or_default();
        let origin = "an origin like \"https://api.example.com\" or \"http://127.0.0.1:8080\"";
        let list = "a list of origins like [\"https://api.example.com\"]";
        let mut origins: Vec<Origin> = Vec::new();
        let allow_at = join(at, "allow");
        for (i, entry) in self
            .take(allow, &allow_at, list)
            .unwrap_or_default()
            .into_iter()
            .enumerate()
        {
            let entry_at = format!("{allow_at}[{i}]");
            let Some(text) = self.take(entry, &entry_at, origin) else {
                continue;
            };
            match units::parse_origin(&text) {
                Ok(parsed) => match origins.iter().position(|o| *o == parsed) {
                    Some(j) => self.problem(
                        &entry_at,
                        format_args!("{parsed} is already listed in allow[{j}]"),
                    ),
                    None => origins.push(parsed),
                },
                Err(why) => {
                    let text = crate::redact::url(&text);
                    let found = format!("found {text:?}: {why}");
                    self.problem(&entry_at, format_args!("expected {origin}, {found}"));
                }
            }
        }
        let pool_at = join(at, "rate_limit");
        let expected = "a [rate_limits] name, or a list of them like [\"zoho\", \"zoho_crm\"]";
        let rate_limits: Vec<String> = match self.take(rate_limit, &pool_at, expected) {
            None => Vec::new(),
            Some(toml::Value::String(one)) => vec![one],
            Some(toml::Value::Array(list)) => list
                .into_iter()
                .enumerate()
                .filter_map(|(i, v)| match v {
                    toml::Value::String(s) => Some(s),
                    other => {
                        let at = format!("{pool_at}[{i}]");
                        self.problem(
                            &at,
                            format_args!("expected a [rate_limits] name, found {other}"),
                        );
                        None
                    }
                })
                .collect(),
            Some(other) => {
                self.problem(&pool_at, format_args!("expected {expected}, found {other}"));
                Vec::new()
            }
        };
        let extra_at = join(at, "extra_rate_limits");
        let extra: Vec<String> = self
            .take(
                extra_rate_limits,
                &extra_at,
                "a list of [rate_limits] names",
            )
            .unwrap_or_default()
            .into_iter()
            .enumerate()
            .filter_map(|(i, f)| self.take(f, &format!("{extra_at}[{i}]"), "a [rate_limits] name"))
            .collect();
        for (key, names) in [(&pool_at, &rate_limits), (&extra_at, &extra)] {
            for pool in names.iter().filter(|p| !pools.contains(*p)) {
                let hint = closest(pool, pools.iter().map(String::as_str))
                    .map_or(String::new(), |p| format!("; did you mean \"{p}\"?"));
                self.problem(
                    key,
                    format_args!("no rate limit named {pool:?} in [rate_limits]{hint}"),
                );
            }
        }
        let limits = (Duration::from_millis(1), Duration::from_secs(600));
        let timeout = self.duration(
            timeout,
            &join(at, "timeout"),
            Duration::from_secs(30),
            limits,
        );
        let limits = (1 << 10, 1 << 30);
        let max_response_bytes =
            self.size(max_response, &join(at, "max_response"), 10 * MIB, limits);
        let expected = "an integer from 0 to 10";
        let retries_at = join(at, "retries");
        let retries = match self.take(retries, &retries_at, expected) {
            Some(n @ 0..=10) => n as u32,
            Some(n) => {
                self.problem(&retries_at, format_args!("expected {expected}, found {n}"));
                3
            }
            None => 3,
        };
        let limits = (Duration::ZERO, Duration::from_secs(3600));
        let max_wait = self.duration(
            max_wait,
            &join(at, "max_wait"),
            Duration::from_secs(60),
            limits,
        );
        HttpConfig {
            allow: origins,
            rate_limits,
            extra_rate_limits: extra,
            timeout,
            max_response_bytes,
            retries,
            max_wait,
        }
    }
}
