//! The manifest (`connectors.toml`): reading it, checking every key, and resolving it into a
//! typed [`Manifest`] plus the [`Secrets`] its auth profiles name.
//!
//! Loading happens in three steps, so that an operator sees every problem in one go:
//! serde reads the TOML into raw shapes that tolerate wrong values (`raw.rs`); the validator
//! turns them into the checked types below, collecting all problems with their key paths
//! (`validate.rs`, `connector.rs`, `auth.rs`, with the unit parsers in `units.rs`); secret
//! names are looked up in the environment and an optional `.env` (`secrets.rs`). After this
//! module, no code parses a manifest string again, and no error or `Debug` output carries a
//! secret value.
//!
//! ```text
//! let env = ProcessEnv::new(path.parent().unwrap_or(Path::new(".")));  // process + .env
//! let (manifest, secrets) = Manifest::load(path, &env)?;
//! ```

mod alerts;
mod auth;
mod connector;
mod raw;
mod schedule;
mod secrets;
mod server;
mod units;
mod validate;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod ui_tests;

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

pub use secrets::{Env, ProcessEnv, Secrets};
pub use units::format_duration;

/// The manifest file name used when none is given.
pub const DEFAULT_MANIFEST: &str = "connectors.toml";

/// The host's own tables, which no connector may be granted.
pub const HOST_TABLES: &[&str] = &[
    "runs",
    "connector_state",
    "queue_jobs",
    "schedule_fires",
    "rate_limit_grants",
    "plugin_migrations",
    "_sqlx_migrations",
];

/// A checked manifest: every value parsed, every path resolved, every reference valid.
///
/// `Debug` hides the password of `database_url`.
#[derive(Clone, PartialEq)]
pub struct Manifest {
    /// The manifest file as given.
    pub path: PathBuf,
    /// The absolute directory of the manifest; relative paths in it resolve against this.
    pub base_dir: PathBuf,
    /// `DATABASE_URL` if set, else `[database].url`, else `sqlite://connectors.db`; a relative
    /// SQLite path is made absolute against `base_dir` (`sqlite:///abs/dir/connectors.db`).
    pub database_url: String,
    /// `[runtime]`.
    pub runtime: RuntimeConfig,
    /// `[queue]`.
    pub queue: QueueConfig,
    /// `[server]`.
    pub server: ServerConfig,
    /// `[alerts]`.
    pub alerts: AlertsConfig,
    /// `[rate_limits]`: named request pools that connectors share by name.
    pub rate_limits: BTreeMap<String, RateLimit>,
    /// `[connectors.NAME]`, by name.
    pub connectors: BTreeMap<String, ConnectorConfig>,
}

/// `[alerts]`: when operators are told, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertsConfig {
    /// Where alerts go; key `sinks`, default the log only.
    pub sinks: Vec<AlertSink>,
    /// Failed runs in a row (of a connector) that raise an alert, and runs in a row whose
    /// every authenticated request was refused; key `failures`, default 3, 1 to 100.
    pub failures: u32,
    /// Fires in a row of one schedule skipped because the previous run was still going that
    /// raise a missed-fire alert; key `overlap_skips`, default 3, 1 to 1000.
    pub overlap_skips: u32,
    /// How often conditions are checked; key `check_every`, default 30s, 1s to 10m.
    pub check_every: Duration,
}

/// One place alerts go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlertSink {
    /// `{ kind = "log" }`: a WARN line when raised, INFO when resolved.
    Log,
    /// `{ kind = "webhook", url = "ENV" }`: a JSON POST to the URL the variable holds.
    Webhook {
        /// The variable holding the URL (it may carry a token: it is a secret).
        url: SecretRef,
    },
    /// `{ kind = "slack", url = "ENV" }`: a Slack-compatible incoming webhook (`{"text": …}`).
    Slack {
        /// The variable holding the incoming-webhook URL.
        url: SecretRef,
    },
}

/// `[queue]`: retry policy and leases of the durable job queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueConfig {
    /// Deliveries before a job is failed (dead letter); key `max_attempts`, default 5, 1 to 100.
    /// A job may ask for fewer or more when enqueued.
    pub max_attempts: u32,
    /// After a failed attempt `n` the job waits `backoff_base · 2^n`; key `backoff_base`,
    /// default 1m.
    pub backoff_base: Duration,
    /// The longest such wait; key `backoff_cap`, default 1h.
    pub backoff_cap: Duration,
    /// How long a worker holds a job before another host may take it back; key `lease`,
    /// default 5m.
    pub lease: Duration,
}

/// `[runtime]`: how the WebAssembly engine is run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeConfig {
    /// Where compiled plugins are cached; key `cache_dir`, default `base_dir/.connector-cache`.
    pub cache_dir: PathBuf,
    /// Whether to use the pooling instance allocator; key `pooling`, default `true`.
    pub pooling: bool,
    /// The most instances alive at once; key `max_instances`, default 100, 1 to 10000.
    pub max_instances: u32,
    /// How long a run stays claimed by its host without a heartbeat; after that another host
    /// marks it `abandoned` (and retries a scheduled one). Key `run_lease`, default 30s, 3s to
    /// 1h; the heartbeat comes every third of it.
    pub run_lease: Duration,
    /// Queue workers `serve` runs on this host; key `queue_workers`, default 2, 0 to 64.
    pub queue_workers: u32,
}

/// `[server]`: the HTTP server and lifecycle of `connector-host serve`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// Where to listen; key `listen`, default `127.0.0.1:8080`.
    pub listen: std::net::SocketAddr,
    /// The largest webhook body accepted (413 beyond); key `max_body`, default 1MiB, 1KiB to
    /// 64MiB. A connector's `webhook.max_body` may lower it.
    pub max_body: u64,
    /// How long running runs get to finish after SIGINT/SIGTERM before they are marked
    /// `interrupted`; key `grace`, default 30s, 0s to 1h.
    pub grace: Duration,
    /// Whether to reload when the manifest or a plugin file changes (SIGHUP always reloads);
    /// key `watch`, default `true`.
    pub watch: bool,
    /// The secret operators present to act through the API and the console (pause, resume,
    /// retry, backfill, trigger any connector); key `admin_token`, the name of the variable
    /// holding it. Without it those actions are off.
    pub admin_token: Option<SecretRef>,
}

/// How `POST /webhooks/NAME` checks that a request comes from the sender it claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookAuth {
    /// `auth = "none"`: anyone may call it (opt-in; there is no default).
    None,
    /// `auth = "bearer", secret = "ENV"`: `Authorization: Bearer <secret>`.
    Bearer {
        /// The token.
        secret: SecretRef,
    },
    /// `auth = "basic", username = "ENV", secret = "ENV"`: HTTP Basic.
    Basic {
        /// The variable holding the user name.
        username: SecretRef,
        /// The variable holding the password.
        password: SecretRef,
    },
    /// `auth = "hmac", secret = "ENV", header = "X-Signature", prefix = "sha256="`: the
    /// header holds HMAC-SHA256(secret, body) in hex (or base64), after an optional prefix.
    Hmac {
        /// The signing key.
        secret: SecretRef,
        /// The header that carries the signature (lowercase).
        header: String,
        /// Text before the signature, such as `sha256=`; may be empty.
        prefix: String,
    },
}

/// `[connectors.NAME.webhook]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookConfig {
    /// How callers are authenticated.
    pub auth: WebhookAuth,
    /// The largest body accepted; key `max_body`, default `[server].max_body`.
    pub max_body: u64,
}

/// One named rate-limit pool: at most `requests` per `per`, and optionally at most
/// `max_concurrency` requests in flight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimit {
    /// The pool's name, the key in `[rate_limits]`.
    pub name: String,
    /// Requests allowed in any window of length `per` (at least 1).
    pub requests: u32,
    /// The window: one second, minute or hour.
    pub per: Duration,
    /// The most requests in flight at once, if limited (at least 1).
    pub max_concurrency: Option<u32>,
}

/// One connector: its plugin and everything it is granted.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectorConfig {
    /// The connector's name, the key in `[connectors]`.
    pub name: String,
    /// The `.wasm` component, resolved against `base_dir`; it existed at load time.
    pub plugin: PathBuf,
    /// The plugin file's SHA-256 (lower-case hex) it must have, when pinned; key `sha256`.
    pub sha256: Option<String>,
    /// Database tables the connector may use: identifiers, no duplicates, no host table.
    pub tables: Vec<String>,
    /// Non-secret settings handed to the plugin; TOML date-times become RFC 3339 strings.
    pub settings: serde_json::Map<String, serde_json::Value>,
    /// The deadline of one run; key `timeout`, default 15m, 1s to 24h.
    pub timeout: Duration,
    /// The plugin's memory cap in bytes; key `memory`, default 256MiB, 1MiB to 4GiB.
    pub memory_limit: u64,
    /// Outbound HTTP grants.
    pub http: HttpConfig,
    /// Named auth profiles the plugin may ask `http.send` to apply.
    pub auth: BTreeMap<String, AuthProfile>,
    /// When the connector runs by itself: `schedules.NAME` tables, or the shorthand `schedule`
    /// (named `default`).
    pub schedules: Vec<ScheduleConfig>,
    /// The secret a manual trigger over HTTP must present as its bearer token; key
    /// `trigger = { token = "ENV" }`. Without it `POST /connectors/NAME/run` answers 401.
    pub trigger_token: Option<SecretRef>,
    /// `POST /webhooks/NAME`; without it that route answers 404.
    pub webhook: Option<WebhookConfig>,
    /// An alert is raised when the connector's last success is older than this; key
    /// `max_age` (e.g. `26h` for a daily job), default none.
    pub max_age: Option<Duration>,
}

pub use schedule::{Missed, Overlap, ScheduleConfig};

/// `[connectors.NAME.http]`: where the plugin may send requests, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpConfig {
    /// The only origins the plugin may reach (deny by default).
    pub allow: Vec<Origin>,
    /// The `[rate_limits]` pools every request passes (key `rate_limit`: one name or a list);
    /// a request goes when every one of them admits it.
    pub rate_limits: Vec<String>,
    /// Pools a request may name to pass as well (`Request::rate_limit`); key
    /// `extra_rate_limits`.
    pub extra_rate_limits: Vec<String>,
    /// The timeout of one request; key `timeout`, default 30s, 1ms to 10m.
    pub timeout: Duration,
    /// The largest response body accepted; key `max_response`, default 10MiB, 1KiB to 1GiB.
    pub max_response_bytes: u64,
    /// Retries of an idempotent request after a transient failure; key `retries`, default 3,
    /// 0 to 10.
    pub retries: u32,
    /// The longest `Retry-After` the host waits out before answering `rate-limited`; key
    /// `max_wait`, default 60s, 0s to 1h.
    pub max_wait: Duration,
}

/// An HTTP origin: scheme, lowercase host and port, as in `https://public-api2.ploomes.com`.
///
/// An IPv6 host keeps its brackets (`[::1]`), as URL parsers report it. `Display` writes the
/// origin back, leaving out the scheme's default port.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Origin {
    /// `http` or `https`.
    pub scheme: String,
    /// The host name or IP address, lowercase.
    pub host: String,
    /// The explicit port, or 80/443 for http/https.
    pub port: u16,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let default = matches!(
            (self.scheme.as_str(), self.port),
            ("http", 80) | ("https", 443)
        );
        write!(f, "{}://{}", self.scheme, self.host)?;
        if !default {
            write!(f, ":{}", self.port)?;
        }
        Ok(())
    }
}

/// How the host authenticates requests made under one named profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthProfile {
    /// Headers whose values are templates around one secret:
    /// `{ header = "User-Key", secret = "PLOOMES_API_KEY" }`,
    /// `{ header = "Authorization", value = "Bearer {secret}", secret = "X" }` or
    /// `{ headers = { "User-Key" = "{secret}" }, secret = "X" }`.
    Headers {
        /// Header names and their value templates, in the manifest's (sorted) order.
        headers: Vec<(String, SecretTemplate)>,
    },
    /// HTTP Basic auth plus constant headers:
    /// `{ basic = { username = "C7_USER", password = "C7_PASS" }, headers = { tenant = "acme" } }`.
    Basic {
        /// The variable holding the user name (it contains no `:`).
        username: SecretRef,
        /// The variable holding the password.
        password: SecretRef,
        /// Constant headers sent along, never `Authorization`.
        headers: Vec<(String, String)>,
    },
    /// An OAuth2 refresh-token flow; the host trades the refresh token for access tokens:
    /// `{ oauth2 = { client_id = "ID", client_secret = "SECRET", refresh_token = "TOKEN", data_center = "eu" } }`
    OAuth2 {
        /// The token endpoint: `token_url`, or the accounts host of Zoho's `data_center`.
        token_url: String,
        /// The API origin requests through this profile address: `api_url`, or the API host of
        /// Zoho's `data_center`. When a token answer names an `api_domain`, requests addressed
        /// here go there instead.
        api_url: Option<String>,
        /// The `Authorization` scheme: `Bearer` (default) or `Zoho-oauthtoken`; key `scheme`.
        scheme: String,
        /// The variable holding the client id.
        client_id: SecretRef,
        /// The variable holding the client secret.
        client_secret: SecretRef,
        /// The variable holding the refresh token.
        refresh_token: SecretRef,
        /// How long to wait before refreshing again after the token endpoint said "too many
        /// requests"; key `cooldown`, default 5m, 1s to 24h.
        cooldown: Duration,
    },
}

/// A header value template such as `Bearer {secret}` and the secret that fills it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretTemplate {
    /// The text, containing `{secret}` exactly once.
    pub template: String,
    /// The secret that replaces `{secret}`.
    pub secret: SecretRef,
}

/// A reference to a secret: the name of the environment variable that holds it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SecretRef {
    /// The variable name, upper case letters, digits and `_` (`PLOOMES_API_KEY`).
    pub env: String,
}

/// Why a manifest could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The manifest (or its `.env`) could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file that could not be read.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The manifest was read but has problems; all of them are listed.
    #[error("{}", invalid_message(path, problems))]
    Invalid {
        /// The manifest file.
        path: PathBuf,
        /// One line per problem, each naming its key path.
        problems: Vec<String>,
    },
}

fn invalid_message(path: &Path, problems: &[String]) -> String {
    let plural = if problems.len() == 1 { "" } else { "s" };
    let mut text = format!(
        "manifest {} has {} problem{plural}:",
        path.display(),
        problems.len()
    );
    for problem in problems {
        text.push_str("\n  - ");
        text.push_str(problem);
    }
    text
}

impl Manifest {
    /// Reads the manifest at `path`, parses and checks it, and resolves its secrets from `env`
    /// (whose own [`Env::problems`] are reported first).
    pub fn load(path: &Path, env: &dyn Env) -> Result<(Manifest, Secrets), ManifestError> {
        let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Manifest::parse(&text, path, env)
    }

    /// Parses and checks manifest `text` as if read from `path` (which sets `base_dir`), and
    /// resolves its secrets from `env`. Plugin files are looked up on disk.
    pub fn parse(
        text: &str,
        path: &Path,
        env: &dyn Env,
    ) -> Result<(Manifest, Secrets), ManifestError> {
        let mut problems = env.problems();
        let checked = match toml::from_str::<toml::Table>(text) {
            Ok(document) => {
                let raw = raw::Field::from_value(toml::Value::Table(document));
                validate::check(raw, path, base_dir_of(path), env)
            }
            Err(error) => Err(vec![syntax_problem(text, &error)]),
        };
        match checked {
            Ok(loaded) if problems.is_empty() => return Ok(loaded),
            Ok(_) => {}
            Err(more) => problems.extend(more),
        }
        Err(ManifestError::Invalid {
            path: path.to_path_buf(),
            problems,
        })
    }
}

/// The absolute directory of the manifest at `path`, without `.` components.
fn base_dir_of(path: &Path) -> PathBuf {
    let parent = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let absolute = std::path::absolute(parent).unwrap_or_else(|_| parent.to_path_buf());
    clean(&absolute)
}

/// Drops `.` components, so that `./plugins/x.wasm` resolves to `/dir/plugins/x.wasm`.
fn clean(path: &Path) -> PathBuf {
    path.components()
        .filter(|c| *c != Component::CurDir)
        .collect()
}

/// A TOML syntax error as one problem, with line and column but without quoting the line
/// (which may hold a secret someone pasted).
fn syntax_problem(text: &str, error: &toml::de::Error) -> String {
    let message = error.message().trim().replace('\n', "; ");
    let Some(span) = error.span() else {
        return format!("invalid TOML: {message}");
    };
    let before = text.get(..span.start).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    // A duplicate key's span is the key itself, which is safe and useful to show.
    let key = text
        .get(span.clone())
        .filter(|k| message == "duplicate key" && k.len() <= 64);
    let key = key.map_or(String::new(), |k| format!(" \"{}\"", k.trim()));
    format!("invalid TOML at line {line}, column {column}: {message}{key}")
}

impl fmt::Debug for Manifest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Manifest")
            .field("path", &self.path)
            .field("base_dir", &self.base_dir)
            .field("database_url", &crate::redact::url(&self.database_url))
            .field("runtime", &self.runtime)
            .field("queue", &self.queue)
            .field("rate_limits", &self.rate_limits)
            .field("connectors", &self.connectors)
            .finish()
    }
}
