//! Caps on everything that crosses the plugin boundary, in size and in volume. Each is enforced
//! by the host and answered with a typed error (`too-large`, or `invalid` where the text explains
//! more), never a trap; README.md ("Limits") lists them for plugin authors. Size caps bound one
//! value; volume caps bound what a call (or a connector) can pile up by repeating a call, so one
//! plugin can exhaust neither the host's memory nor its disk.

/// A log message, in bytes; longer messages are cut (with a marker), not refused.
pub const LOG_MESSAGE_BYTES: usize = 8 * 1024;
/// Fields on one log event; extra fields are dropped with a marker field.
pub const LOG_FIELDS: usize = 32;
/// One log field's key or value, in bytes; longer ones are cut.
pub const LOG_FIELD_BYTES: usize = 1024;
/// Bytes a plugin may write to stdout and stderr per run; the rest is dropped.
pub const STDIO_BYTES_PER_RUN: usize = 64 * 1024;
/// Log events (plugin log calls and stdout/stderr lines) one call may emit; the rest are
/// dropped and counted on the run record.
pub const LOG_EVENTS_PER_CALL: u64 = 10_000;
/// Bytes of log text (messages and fields) one call may emit; past it events are dropped.
pub const LOG_BYTES_PER_CALL: u64 = 4 * 1024 * 1024;
/// Log events a run keeps in the run log for `runs show` and the console: the last ones (a
/// failure's context comes last), the earlier ones counted as omitted.
pub const RUN_EVENTS_KEPT: usize = 200;
/// Bytes of those kept events (messages and fields).
pub const RUN_EVENT_BYTES: usize = 64 * 1024;
/// How long the run log keeps runs' log events (the runs themselves stay).
pub const RUN_EVENTS_DAYS: i64 = 14;

/// A config key, in bytes.
pub const CONFIG_KEY_BYTES: usize = 256;

/// A state key, in bytes.
pub const STATE_KEY_BYTES: usize = 256;
/// A state value, in bytes.
pub const STATE_VALUE_BYTES: usize = 256 * 1024;
/// State keys one connector may keep.
pub const STATE_KEYS_PER_CONNECTOR: usize = 1_000;
/// Bytes of state (keys and values) one connector may keep.
pub const STATE_BYTES_PER_CONNECTOR: usize = 8 * 1024 * 1024;

/// One SQL statement, in bytes.
pub const SQL_BYTES: usize = 64 * 1024;
/// Bound parameters on one statement.
pub const SQL_PARAMS: usize = 1000;
/// One text, JSON or blob value sent or returned, in bytes.
pub const SQL_VALUE_BYTES: usize = 1024 * 1024;
/// Rows one query may return; more answers `too-large` (page with LIMIT/keyset instead).
pub const QUERY_ROWS: usize = 50_000;
/// Total bytes of one query result.
pub const QUERY_RESULT_BYTES: usize = 32 * 1024 * 1024;
/// Rows in one `db.upsert` call.
pub const UPSERT_ROWS: usize = 10_000;
/// Columns in one `db.upsert` call.
pub const UPSERT_COLUMNS: usize = 100;

/// A queue job's kind, in bytes.
pub const JOB_KIND_BYTES: usize = 128;
/// A queue job's payload, in bytes.
pub const JOB_PAYLOAD_BYTES: usize = 256 * 1024;
/// A queue job's dedup key, in bytes.
pub const JOB_DEDUP_KEY_BYTES: usize = 256;
/// `enqueue` calls one call (a run, a webhook, a job) may make.
pub const JOBS_PER_CALL: usize = 10_000;

/// The JSON input a manual run carries, in bytes.
pub const RUN_INPUT_BYTES: usize = 64 * 1024;

/// A run summary's message, in bytes; longer ones are cut.
pub const SUMMARY_MESSAGE_BYTES: usize = 4 * 1024;
/// Counters on one run summary; more are dropped.
pub const SUMMARY_COUNTERS: usize = 64;
/// An error message a plugin returns, in bytes; longer ones are cut.
pub const ERROR_MESSAGE_BYTES: usize = 4 * 1024;

/// Cuts `s` to at most `max` bytes on a character boundary, marking the cut.
pub fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…[{} bytes cut]", &s[..end], s.len() - end)
}

/// Headers of an inbound webhook passed to the plugin (the rest are dropped).
pub const WEBHOOK_HEADERS: usize = 100;
/// The largest reply body a plugin may give to a webhook.
pub const WEBHOOK_REPLY_BYTES: usize = 1024 * 1024;

#[cfg(test)]
mod tests {
    use super::truncate;

    #[test]
    fn truncate_keeps_short_strings_and_cuts_on_char_boundaries() {
        assert_eq!(truncate("abc", 3), "abc");
        assert_eq!(truncate("abcd", 3), "abc…[1 bytes cut]");
        // 'é' is two bytes: a cut inside it backs off to the boundary before it.
        assert_eq!(truncate("aé", 2), "a…[2 bytes cut]");
    }
}
