//! The SDK's value types: re-exports of the WIT records with constructors and helpers.

use crate::bindings::connector::host::{connector_types, types};

pub use connector_types::{
    Info, Job, JobError, RunContext, RunSummary, Trigger, Webhook, WebhookReply,
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
        }
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
