//! Turns the raw manifest into the checked types, collecting every problem with its key path.
//!
//! Each check reports what it found wrong and carries on with a default, so one run lists
//! everything; the result is only used when no problem was found. Connector entries are
//! checked in `connector.rs`, auth profiles and their secrets in `auth.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::raw::{Field, RawManifest, RawQueue, RawRateLimit, RawRuntime, State};
use super::units::{self, format_duration, format_size, RateError};
use super::{Env, Manifest, QueueConfig, RateLimit, RuntimeConfig, Secrets};
use crate::suggest::closest;

pub(super) const DURATION: &str = "a duration like \"30s\" or \"15m\"";
const SIZE: &str = "a size like \"256MiB\" or \"1GiB\"";
const TABLE: &str = "a table";
pub(super) const MIB: u64 = 1 << 20;

/// The state of one validation: where paths resolve, the environment, and what was found.
pub(super) struct Check<'a> {
    pub base_dir: &'a Path,
    pub env: &'a dyn Env,
    pub secrets: Secrets,
    problems: Vec<String>,
    /// Names of variables with a non-empty value, for near-miss suggestions; read once.
    set_names: Option<Vec<String>>,
}

/// Checks the whole document; `Err` lists every problem found.
pub(super) fn check(
    raw: Field<RawManifest>,
    path: &Path,
    base_dir: PathBuf,
    env: &dyn Env,
) -> Result<(Manifest, Secrets), Vec<String>> {
    let mut cx = Check {
        base_dir: &base_dir,
        env,
        secrets: Secrets::default(),
        problems: Vec::new(),
        set_names: None,
    };
    let RawManifest {
        database,
        runtime,
        queue,
        server,
        alerts,
        rate_limits,
        connectors,
    } = cx.take(raw, "", TABLE).unwrap_or_default();
    let database_url = cx.database_url(database);
    let runtime = cx.runtime(runtime);
    let queue = cx.queue(queue);
    let server = cx.server(server);
    let alerts = cx.alerts(alerts);
    let declared_pools: BTreeSet<String> = match &rate_limits.state {
        State::Present(pools) => pools.keys().cloned().collect(),
        _ => BTreeSet::new(),
    };
    let rate_limits = cx.rate_limits(rate_limits);
    let mut checked = BTreeMap::new();
    let expected = "a table like { ploomes = { plugin = \"plugins/ploomes.wasm\" } }";
    let connectors = cx
        .take(connectors, "connectors", expected)
        .unwrap_or_default();
    for (name, connector) in connectors {
        let config = cx.connector(&name, connector, &declared_pools, server.max_body);
        checked.insert(name, config);
    }
    let Check {
        problems, secrets, ..
    } = cx;
    if !problems.is_empty() {
        return Err(problems);
    }
    let manifest = Manifest {
        path: path.to_path_buf(),
        base_dir,
        database_url,
        runtime,
        queue,
        server,
        alerts,
        rate_limits,
        connectors: checked,
    };
    Ok((manifest, secrets))
}

/// `parent.key`, quoting the key when it is not a bare TOML key.
pub(super) fn join(parent: &str, key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    let key = if bare {
        key.to_string()
    } else {
        format!("{key:?}")
    };
    if parent.is_empty() {
        key
    } else {
        format!("{parent}.{key}")
    }
}

/// How a value of the wrong shape is shown: itself when short and scalar, else its kind.
fn found(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) if s.chars().count() > 60 => {
            format!("{:?}…", s.chars().take(60).collect::<String>())
        }
        toml::Value::String(s) => format!("{s:?}"),
        toml::Value::Integer(_)
        | toml::Value::Float(_)
        | toml::Value::Boolean(_)
        | toml::Value::Datetime(_) => value.to_string(),
        other => kind(other).to_string(),
    }
}

/// A value's kind, for places where the value itself may be a secret.
fn kind(value: &toml::Value) -> &'static str {
    match value {
        toml::Value::String(_) => "a string",
        toml::Value::Integer(_) => "an integer",
        toml::Value::Float(_) => "a float",
        toml::Value::Boolean(_) => "a boolean",
        toml::Value::Datetime(_) => "a date-time",
        toml::Value::Array(_) => "an array",
        toml::Value::Table(_) => "a table",
    }
}

/// Whether `name` is a letter followed by up to 62 letters, digits, `_` or `-`: the shape of
/// connector, pool and profile names, which appear in URLs, logs and metrics labels.
pub(super) fn is_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && name.len() <= 63
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

pub(super) const NAME: &str =
    "letters, digits, _ and -, starting with a letter, at most 63 characters";

impl Check<'_> {
    /// Records one problem at key path `at` ("" for the document itself).
    pub fn problem(&mut self, at: &str, message: impl Display) {
        self.problems.push(match at {
            "" => message.to_string(),
            _ => format!("{at}: {message}"),
        });
    }

    /// The value of a field, reporting its unknown keys and a wrong shape (shown as is).
    pub fn take<T>(&mut self, field: Field<T>, at: &str, expected: &str) -> Option<T> {
        self.take_shown(field, at, expected, found)
    }

    /// Like [`Check::take`], but a wrong value is described by its kind only.
    pub fn take_private<T>(&mut self, field: Field<T>, at: &str, expected: &str) -> Option<T> {
        self.take_shown(field, at, expected, |v| kind(v).to_string())
    }

    /// Like [`Check::take`], and a missing field is a problem too.
    pub fn require<T>(&mut self, field: Field<T>, at: &str, expected: &str) -> Option<T> {
        self.report_missing(&field, at, expected);
        self.take(field, at, expected)
    }

    /// Like [`Check::take_private`], and a missing field is a problem too.
    pub fn require_private<T>(&mut self, field: Field<T>, at: &str, expected: &str) -> Option<T> {
        self.report_missing(&field, at, expected);
        self.take_private(field, at, expected)
    }

    fn report_missing<T>(&mut self, field: &Field<T>, at: &str, expected: &str) {
        if matches!(field.state, State::Missing) {
            self.problem(
                at,
                format_args!("required key is missing; expected {expected}"),
            );
        }
    }

    fn take_shown<T>(
        &mut self,
        field: Field<T>,
        at: &str,
        expected: &str,
        show: fn(&toml::Value) -> String,
    ) -> Option<T> {
        for key in &field.unknown {
            let hint = closest(key, field.allowed.iter().copied())
                .map_or(String::new(), |k| format!("did you mean \"{k}\"? "));
            let allowed = field.allowed.join(", ");
            let what = match at {
                "" => "unknown top-level key",
                _ => "unknown key",
            };
            self.problem(
                at,
                format_args!("{what} \"{key}\"; {hint}allowed keys: {allowed}"),
            );
        }
        match field.state {
            State::Missing => None,
            State::Present(value) => Some(value),
            State::Invalid(value) => {
                self.problem(
                    at,
                    format_args!("expected {expected}, found {}", show(&value)),
                );
                None
            }
        }
    }

    /// A duration string within `min..=max`, or `default` when absent.
    pub fn duration(
        &mut self,
        field: Field<String>,
        at: &str,
        default: Duration,
        (min, max): (Duration, Duration),
    ) -> Duration {
        let text = self.take(field, at, DURATION);
        let Some(text) = text else { return default };
        match units::parse_duration(&text) {
            Some(d) if (min..=max).contains(&d) => d,
            Some(_) => {
                let (min, max) = (format_duration(min), format_duration(max));
                let range = format!("a duration from \"{min}\" to \"{max}\"");
                self.problem(at, format_args!("expected {range}, found {text:?}"));
                default
            }
            None => {
                self.problem(at, format_args!("expected {DURATION}, found {text:?}"));
                default
            }
        }
    }

    /// A size string within `min..=max` bytes, or `default` when absent.
    pub fn size(
        &mut self,
        field: Field<String>,
        at: &str,
        default: u64,
        (min, max): (u64, u64),
    ) -> u64 {
        let Some(text) = self.take(field, at, SIZE) else {
            return default;
        };
        match units::parse_size(&text) {
            Some(n) if (min..=max).contains(&n) => n,
            Some(_) => {
                let (min, max) = (format_size(min), format_size(max));
                let range = format!("a size from \"{min}\" to \"{max}\"");
                self.problem(at, format_args!("expected {range}, found {text:?}"));
                default
            }
            None => {
                self.problem(at, format_args!("expected {SIZE}, found {text:?}"));
                default
            }
        }
    }

    /// Names of variables that are set to something, for suggestions.
    pub fn set_names(&mut self) -> &[String] {
        let env = self.env;
        self.set_names.get_or_insert_with(|| {
            let mut names = env.names();
            names.retain(|n| env.var(n).is_some_and(|v| !v.is_empty()));
            names.sort();
            names
        })
    }

    fn database_url(&mut self, raw: Field<super::raw::RawDatabase>) -> String {
        // The URL may carry a password, so wrong values are not echoed.
        let expected = "a table like { url = \"sqlite://connectors.db\" }";
        let database = self
            .take_private(raw, "database", expected)
            .unwrap_or_default();
        let expected = "a URL like \"sqlite://connectors.db\"";
        let from_manifest = self.take_private(database.url, "database.url", expected);
        let (url, at) = match self.env.var("DATABASE_URL").filter(|v| !v.is_empty()) {
            Some(url) => (url, "environment variable DATABASE_URL"),
            None => (
                from_manifest.unwrap_or_else(|| "sqlite://connectors.db".to_string()),
                "database.url",
            ),
        };
        if let Some(rest) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            let (file, query) = rest.split_at(rest.find('?').unwrap_or(rest.len()));
            if file.is_empty() || file == ":memory:" || Path::new(file).is_absolute() {
                return url;
            }
            let file = super::clean(&self.base_dir.join(file));
            return format!("sqlite://{}{query}", file.display());
        }
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            let scheme = url.split_once(':').map_or("", |(s, _)| s);
            let what = match scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'+')
            {
                true if !scheme.is_empty() => format!("a URL with scheme \"{scheme}\""),
                _ => "a value without a scheme".to_string(),
            };
            let expected = "a URL like \"sqlite://connectors.db\" or \"postgres://user@host/db\"";
            self.problem(at, format_args!("expected {expected}, found {what}"));
        }
        url
    }

    fn queue(&mut self, raw: Field<RawQueue>) -> QueueConfig {
        let expected = "a table like { max_attempts = 5, backoff_base = \"1m\" }";
        let queue = self.take(raw, "queue", expected).unwrap_or_default();
        let expected = "an integer from 1 to 100";
        let at = "queue.max_attempts";
        let max_attempts = match self.take(queue.max_attempts, at, expected) {
            Some(n @ 1..=100) => n as u32,
            Some(n) => {
                self.problem(at, format_args!("expected {expected}, found {n}"));
                5
            }
            None => 5,
        };
        let limits = (Duration::from_millis(1), Duration::from_secs(7 * 86_400));
        QueueConfig {
            max_attempts,
            backoff_base: self.duration(
                queue.backoff_base,
                "queue.backoff_base",
                Duration::from_secs(60),
                limits,
            ),
            backoff_cap: self.duration(
                queue.backoff_cap,
                "queue.backoff_cap",
                Duration::from_secs(3600),
                limits,
            ),
            lease: self.duration(
                queue.lease,
                "queue.lease",
                Duration::from_secs(300),
                (Duration::from_secs(1), Duration::from_secs(86_400)),
            ),
        }
    }

    fn runtime(&mut self, raw: Field<RawRuntime>) -> RuntimeConfig {
        let expected = "a table like { pooling = true, max_instances = 100 }";
        let runtime = self.take(raw, "runtime", expected).unwrap_or_default();
        let cache_dir = match self.take(runtime.cache_dir, "runtime.cache_dir", "a directory path")
        {
            Some(dir) if dir.is_empty() => {
                self.problem("runtime.cache_dir", "expected a directory path, found \"\"");
                None
            }
            other => other,
        };
        let cache_dir = cache_dir.unwrap_or_else(|| ".connector-cache".to_string());
        let pooling = self.take(runtime.pooling, "runtime.pooling", "true or false");
        let expected = "an integer from 1 to 10000";
        let at = "runtime.max_instances";
        let max_instances = match self.take(runtime.max_instances, at, expected) {
            Some(n @ 1..=10_000) => n as u32,
            Some(n) => {
                self.problem(at, format_args!("expected {expected}, found {n}"));
                100
            }
            None => 100,
        };
        let run_lease = self.duration(
            runtime.run_lease,
            "runtime.run_lease",
            Duration::from_secs(30),
            (Duration::from_secs(3), Duration::from_secs(3600)),
        );
        let expected = "an integer from 0 to 64";
        let at = "runtime.queue_workers";
        let queue_workers = match self.take(runtime.queue_workers, at, expected) {
            Some(n @ 0..=64) => n as u32,
            Some(n) => {
                self.problem(at, format_args!("expected {expected}, found {n}"));
                2
            }
            None => 2,
        };
        RuntimeConfig {
            cache_dir: super::clean(&self.base_dir.join(cache_dir)),
            pooling: pooling.unwrap_or(true),
            max_instances,
            run_lease,
            queue_workers,
        }
    }

    fn rate_limits(
        &mut self,
        raw: Field<BTreeMap<String, Field<RawRateLimit>>>,
    ) -> BTreeMap<String, RateLimit> {
        let expected = "a quota like \"120/min\" or { quota = \"90/min\", max_concurrency = 4 }";
        let mut pools = BTreeMap::new();
        let pools_expected = "a table like { ploomes = \"120/min\" }";
        for (name, raw) in self
            .take(raw, "rate_limits", pools_expected)
            .unwrap_or_default()
        {
            let at = join("rate_limits", &name);
            if !is_name(&name) {
                self.problem(&at, format_args!("expected a pool name of {NAME}"));
            }
            let (quota, quota_at, max_concurrency) = match self.take(raw, &at, expected) {
                Some(RawRateLimit::Short(quota)) => (Some(quota), at.clone(), None),
                Some(RawRateLimit::Full(full)) => {
                    let Some(full) = self.take(full, &at, expected) else {
                        continue;
                    };
                    let quota_at = join(&at, "quota");
                    let quota = self.require(full.quota, &quota_at, "a quota like \"90/min\"");
                    let concurrency =
                        self.count(full.max_concurrency, &join(&at, "max_concurrency"));
                    (quota, quota_at, concurrency)
                }
                None => (None, at.clone(), None),
            };
            let Some(quota) = quota else { continue };
            match units::parse_rate(&quota) {
                Ok((requests, per)) => {
                    pools.insert(
                        name.clone(),
                        RateLimit {
                            name,
                            requests,
                            per,
                            max_concurrency,
                        },
                    );
                }
                Err(RateError::Zero) => self.problem(
                    &quota_at,
                    format_args!("expected at least 1 request per period, found {quota:?}"),
                ),
                Err(RateError::Malformed) => self.problem(
                    &quota_at,
                    format_args!("expected a quota like \"120/min\" or \"10/s\", found {quota:?}"),
                ),
            }
        }
        pools
    }

    /// An optional positive count that fits in a `u32`.
    fn count(&mut self, field: Field<i64>, at: &str) -> Option<u32> {
        let expected = "a whole number of at least 1, like 4";
        let n = self.take(field, at, expected)?;
        match u32::try_from(n) {
            Ok(n) if n >= 1 => Some(n),
            _ => {
                self.problem(at, format_args!("expected {expected}, found {n}"));
                None
            }
        }
    }
}
