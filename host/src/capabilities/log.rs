//! The `log` capability: plugin log events become host `tracing` events tagged with the
//! connector and the run or job, with sizes capped, control characters escaped (a plugin cannot
//! forge log lines), and a per-call budget of events and bytes shared with stdout/stderr: past
//! it events are dropped and counted on the run record.
//!
//! The plugin's own fields travel as one `plugin_fields` field holding a JSON object; the
//! host's log formatters (`crate::logging`) print them as real fields: `key=value` pairs in
//! text, a `plugin` object in JSON.

use super::progress::Progress;
use crate::bindings::connector::host::log::{self as wit, Level};
use crate::limits;
use crate::store::RunEvent;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// What a call is, for log events: a run (or webhook) with its run id, a queue job with its
/// job id, or a plugin asked to describe itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallRef {
    /// A run or webhook call, by run id.
    Run(i64),
    /// A queue job, by job id.
    Job(i64),
    /// `describe`, while loading.
    Describe,
}

impl CallRef {
    /// The run id, for runs.
    pub fn run_id(self) -> Option<i64> {
        match self {
            CallRef::Run(id) => Some(id),
            _ => None,
        }
    }

    /// The job id, for jobs.
    pub fn job_id(self) -> Option<i64> {
        match self {
            CallRef::Job(id) => Some(id),
            _ => None,
        }
    }
}

impl std::fmt::Display for CallRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallRef::Run(id) => write!(f, "run {id}"),
            CallRef::Job(id) => write!(f, "job {id}"),
            CallRef::Describe => f.write_str("describe"),
        }
    }
}

/// The last events of a call, within `RUN_EVENTS_KEPT` and `RUN_EVENT_BYTES`.
#[derive(Debug, Default)]
struct Kept {
    events: VecDeque<RunEvent>,
    bytes: usize,
    omitted: u64,
}

/// One call's allowance of log events and bytes (plugin log calls and output lines alike), and
/// the last of them, kept for the run log.
#[derive(Debug, Default)]
pub struct LogBudget {
    events: AtomicU64,
    bytes: AtomicU64,
    dropped: AtomicU64,
    warned: AtomicBool,
    kept: Mutex<Kept>,
}

impl LogBudget {
    /// Takes room for one event of `bytes`; false (and counted as dropped) past the caps.
    pub fn admit(&self, bytes: usize, connector: &str, call: CallRef) -> bool {
        let events = self.events.fetch_add(1, Ordering::Relaxed) + 1;
        let total = self.bytes.fetch_add(bytes as u64, Ordering::Relaxed) + bytes as u64;
        if events <= limits::LOG_EVENTS_PER_CALL && total <= limits::LOG_BYTES_PER_CALL {
            return true;
        }
        self.dropped.fetch_add(1, Ordering::Relaxed);
        if !self.warned.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                connector,
                run_id = call.run_id(),
                job_id = call.job_id(),
                max_events = limits::LOG_EVENTS_PER_CALL,
                max_bytes = limits::LOG_BYTES_PER_CALL,
                "the plugin logged past its per-call cap; further events are dropped and counted"
            );
        }
        false
    }

    /// Events dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Keeps an admitted event for the run log, letting the oldest go past the caps.
    pub fn keep(&self, level: &'static str, message: String, fields: Option<String>) {
        let size = message.len() + fields.as_ref().map_or(0, String::len);
        let mut kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        kept.bytes += size;
        kept.events.push_back(RunEvent {
            at: chrono::Utc::now(),
            level,
            message,
            fields,
        });
        while kept.events.len() > limits::RUN_EVENTS_KEPT
            || (kept.bytes > limits::RUN_EVENT_BYTES && kept.events.len() > 1)
        {
            if let Some(old) = kept.events.pop_front() {
                kept.bytes -= old.message.len() + old.fields.as_ref().map_or(0, String::len);
                kept.omitted += 1;
            }
        }
    }

    /// The kept events, oldest first, and how many earlier ones were let go (dropped events
    /// are counted apart, by [`LogBudget::dropped`]).
    pub fn take_kept(&self) -> (Vec<RunEvent>, u64) {
        let mut kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        let omitted = std::mem::take(&mut kept.omitted);
        kept.bytes = 0;
        (kept.events.drain(..).collect(), omitted)
    }
}

/// A level's name in the run log.
pub fn level_name(level: Level) -> &'static str {
    match level {
        Level::Trace => "trace",
        Level::Debug => "debug",
        Level::Info => "info",
        Level::Warn => "warn",
        Level::Error => "error",
    }
}

/// One call's logger.
pub struct LogCap {
    connector: Arc<str>,
    call: CallRef,
    budget: Arc<LogBudget>,
    progress: Arc<Progress>,
}

impl LogCap {
    /// A logger for `call` of `connector`, drawing on `budget`, noting its last event in
    /// `progress`.
    pub fn new(
        connector: Arc<str>,
        call: CallRef,
        budget: Arc<LogBudget>,
        progress: Arc<Progress>,
    ) -> Self {
        LogCap {
            connector,
            call,
            budget,
            progress,
        }
    }

    /// Whose events these are, and the budget they draw on (stdout and stderr share it).
    pub fn parts(&self) -> (Arc<str>, CallRef, Arc<LogBudget>) {
        (self.connector.clone(), self.call, self.budget.clone())
    }

    /// Log events dropped past the call's cap.
    pub fn dropped(&self) -> u64 {
        self.budget.dropped()
    }

    /// The call's last log events, kept for the run log, and how many earlier ones were let go.
    pub fn take_kept(&self) -> (Vec<RunEvent>, u64) {
        self.budget.take_kept()
    }

    /// Emits one event, if the call's budget allows it.
    pub fn emit(&self, level: Level, message: &str, fields: &[(String, String)]) {
        let size = message.len() + fields.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>();
        if !self.budget.admit(size, &self.connector, self.call) {
            return;
        }
        let connector = &*self.connector;
        let run_id = self.call.run_id();
        let job_id = self.call.job_id();
        let message = sanitize(message, limits::LOG_MESSAGE_BYTES);
        let rendered = render_fields(fields);
        let plugin_fields = rendered.as_deref();
        match level {
            Level::Trace => {
                tracing::trace!(target: "plugin", connector, run_id, job_id, plugin_fields, "{message}")
            }
            Level::Debug => {
                tracing::debug!(target: "plugin", connector, run_id, job_id, plugin_fields, "{message}")
            }
            Level::Info => {
                tracing::info!(target: "plugin", connector, run_id, job_id, plugin_fields, "{message}")
            }
            Level::Warn => {
                tracing::warn!(target: "plugin", connector, run_id, job_id, plugin_fields, "{message}")
            }
            Level::Error => {
                tracing::error!(target: "plugin", connector, run_id, job_id, plugin_fields, "{message}")
            }
        }
        if run_id.is_some() {
            match &rendered {
                Some(f) => self.progress.logged(&format!("{message} {f}")),
                None => self.progress.logged(&message),
            }
            self.budget.keep(level_name(level), message, rendered);
        }
    }
}

/// Caps `s` and escapes control characters (newlines included) so one event stays one line.
pub fn sanitize(s: &str, max: usize) -> String {
    let capped = limits::truncate(s, max);
    if !capped.chars().any(char::is_control) {
        return capped;
    }
    capped.chars().flat_map(char::escape_default).collect()
}

/// The plugin's fields as one JSON object (keys and values capped and sanitised, at most
/// `LOG_FIELDS` of them, a `fields_dropped` count past that); `None` without fields.
pub fn render_fields(fields: &[(String, String)]) -> Option<String> {
    if fields.is_empty() {
        return None;
    }
    let mut map = serde_json::Map::new();
    for (k, v) in fields.iter().take(limits::LOG_FIELDS) {
        map.insert(
            sanitize(k, limits::LOG_FIELD_BYTES),
            serde_json::Value::String(sanitize(v, limits::LOG_FIELD_BYTES)),
        );
    }
    if fields.len() > limits::LOG_FIELDS {
        map.insert(
            "fields_dropped".into(),
            serde_json::Value::from(fields.len() - limits::LOG_FIELDS),
        );
    }
    Some(serde_json::Value::Object(map).to_string())
}

impl wit::Host for LogCap {
    fn log(
        &mut self,
        level: Level,
        message: String,
        fields: Vec<(String, String)>,
    ) -> wasmtime::Result<()> {
        self.emit(level, &message, &fields);
        Ok(())
    }
}

/// Links the `log` interface.
pub fn link<T: super::HasCaps>(
    linker: &mut wasmtime::component::Linker<T>,
) -> wasmtime::Result<()> {
    wit::add_to_linker::<_, wasmtime::component::HasSelf<LogCap>>(linker, |d| &mut d.caps().log)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newlines_cannot_forge_a_second_log_line() {
        assert_eq!(sanitize("a\nERROR fake", 100), "a\\nERROR fake");
    }

    #[test]
    fn fields_are_capped_and_kept_as_an_object() {
        let many: Vec<(String, String)> = (0..40)
            .map(|i| (format!("k{i}"), "v w".to_string()))
            .collect();
        let out: serde_json::Value = serde_json::from_str(&render_fields(&many).unwrap()).unwrap();
        assert_eq!(out["k0"], "v w");
        assert_eq!(out["fields_dropped"], 8);
        assert_eq!(out.as_object().unwrap().len(), 33);
        assert_eq!(render_fields(&[]), None);
    }

    #[test]
    fn the_last_events_are_kept_within_their_caps() {
        let budget = LogBudget::default();
        for i in 0..limits::RUN_EVENTS_KEPT + 7 {
            budget.keep("info", format!("event {i}"), None);
        }
        let (events, omitted) = budget.take_kept();
        assert_eq!(events.len(), limits::RUN_EVENTS_KEPT);
        assert_eq!(omitted, 7);
        assert_eq!(events[0].message, "event 7");
        let big = "x".repeat(limits::RUN_EVENT_BYTES / 2 + 1);
        for _ in 0..3 {
            budget.keep("warn", big.clone(), None);
        }
        let (events, omitted) = budget.take_kept();
        assert_eq!((events.len(), omitted), (1, 2), "bytes bound them too");
    }

    #[test]
    fn the_budget_counts_what_it_drops() {
        let budget = LogBudget::default();
        let admitted = (0..limits::LOG_EVENTS_PER_CALL + 5)
            .filter(|_| budget.admit(10, "c", CallRef::Run(1)))
            .count() as u64;
        assert_eq!(admitted, limits::LOG_EVENTS_PER_CALL);
        assert_eq!(budget.dropped(), 5);
        let bytes = LogBudget::default();
        assert!(!bytes.admit(
            limits::LOG_BYTES_PER_CALL as usize + 1,
            "c",
            CallRef::Job(2)
        ));
        assert_eq!(bytes.dropped(), 1);
    }
}
