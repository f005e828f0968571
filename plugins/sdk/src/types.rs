//! The SDK's value types: re-exports of the WIT records with constructors and helpers.

use crate::bindings::connector::host::{connector_types, types};

pub use connector_types::{
    Info, Job, JobError, Migration, RunContext, RunSummary, Trigger, Webhook, WebhookReply,
};
pub use types::{Error, Instant, RateLimited};

impl Error {
    /// A request the plugin itself got wrong (bad settings, bad data).
    pub fn invalid(message: impl Into<String>) -> Self {
        Error::Invalid(message.into())
    }

    /// An upstream failure worth reporting on the run record.
    pub fn upstream(message: impl Into<String>) -> Self {
        Error::Upstream(message.into())
    }

    /// A short, stable name for the error's kind (`denied`, `timeout`, …).
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Denied(_) => "denied",
            Error::RateLimited(_) => "rate-limited",
            Error::Timeout => "timeout",
            Error::TooLarge => "too-large",
            Error::Transport(_) => "transport",
            Error::Invalid(_) => "invalid",
            Error::Internal(_) => "internal",
            Error::Unsupported(_) => "unsupported",
            Error::Upstream(_) => "upstream",
        }
    }
}

impl Error {
    /// Whether trying the same thing later may work: rate limits, timeouts, network and
    /// upstream failures, host trouble. A refusal or a wrong request will fail the same way.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Error::RateLimited(_)
                | Error::Timeout
                | Error::Transport(_)
                | Error::Internal(_)
                | Error::Upstream(_)
        )
    }
}

impl Error {
    /// A one-line description: the kind and its message (`invalid: setting page_size …`).
    pub fn message(&self) -> String {
        match self {
            Error::RateLimited(r) => match r.retry_after_ms {
                Some(ms) => format!("rate-limited by {} (retry after {ms} ms)", r.pool),
                None => format!("rate-limited by {}", r.pool),
            },
            Error::Timeout => "timeout".into(),
            Error::TooLarge => "too large".into(),
            Error::Denied(m)
            | Error::Transport(m)
            | Error::Invalid(m)
            | Error::Internal(m)
            | Error::Unsupported(m)
            | Error::Upstream(m) => format!("{}: {m}", self.kind()),
        }
    }
}

/// A host error inside `handle_job`: transient errors ask for another attempt (per the queue's
/// back-off), the rest fail the job at once. So `?` works in `handle_job`.
impl From<Error> for JobError {
    fn from(e: Error) -> Self {
        if e.is_transient() {
            JobError::Retry(e.message())
        } else {
            JobError::Permanent(e.message())
        }
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::Invalid(format!("json: {e}"))
    }
}

impl Info {
    /// An `Info` with a name, version and description; add the rest with the builder methods.
    pub fn new(name: &str, version: &str, description: &str) -> Self {
        Info {
            name: name.into(),
            version: version.into(),
            description: description.into(),
            settings: Vec::new(),
            auth_profiles: Vec::new(),
            tables: Vec::new(),
            jobs: Vec::new(),
            migrations: Vec::new(),
        }
    }

    /// Declares version `version` (1, 2, 3, … in order) of the connector's own schema, with its
    /// statements for SQLite and for PostgreSQL (`;`-separated); keep them in SQL files beside
    /// the crate and `include_str!` them. The host applies each version once, in order, before
    /// the connector runs; never edit a version that was released: add the next one.
    pub fn migration(
        mut self,
        version: u32,
        description: &str,
        sqlite: &str,
        postgres: &str,
    ) -> Self {
        self.migrations.push(Migration {
            version,
            description: description.into(),
            sqlite: sqlite.into(),
            postgres: postgres.into(),
        });
        self
    }

    /// Declares a setting the connector reads, with a one-line description.
    pub fn setting(mut self, name: &str, description: &str) -> Self {
        self.settings.push((name.into(), description.into()));
        self
    }

    /// Declares a table the connector reads or writes.
    pub fn table(mut self, name: &str) -> Self {
        self.tables.push(name.into());
        self
    }

    /// Declares an auth profile the connector names in `http::send`.
    pub fn auth_profile(mut self, name: &str) -> Self {
        self.auth_profiles.push(name.into());
        self
    }

    /// Declares a job (`RunContext::job`) the connector understands.
    pub fn job(mut self, name: &str) -> Self {
        self.jobs.push(name.into());
        self
    }
}

impl RunContext {
    /// The JSON input a manual run carries (`connector-host run --input`, the HTTP trigger's
    /// body), decoded into `T`; `Ok(None)` when the run carries none.
    pub fn input_as<T: serde::de::DeserializeOwned>(&self) -> Result<Option<T>, Error> {
        match &self.input {
            None => Ok(None),
            Some(json) => serde_json::from_str(json)
                .map(Some)
                .map_err(|e| Error::invalid(format!("run input: {e}"))),
        }
    }
}

impl RunSummary {
    /// A summary with a one-line message and no counters.
    pub fn new(message: impl Into<String>) -> Self {
        RunSummary {
            message: message.into(),
            counters: Vec::new(),
        }
    }

    /// Adds a named counter (rows fetched, skipped, merged, …).
    pub fn counter(mut self, name: &str, value: u64) -> Self {
        self.counters.push((name.into(), value));
        self
    }
}

impl WebhookReply {
    /// A reply with a status and a body.
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Self {
        WebhookReply {
            status,
            body: body.into(),
        }
    }
}
