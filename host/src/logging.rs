//! The host's log output on stderr: human-readable lines (coloured only on a terminal) or one
//! JSON object per line (`--log-format json`). Both print a plugin's own log fields as real
//! fields, `key=value` in text and a `plugin` object in JSON, not as one quoted string.

use serde_json::{Map, Value};
use std::fmt;
use std::io::IsTerminal;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

/// The field a plugin's own fields travel in, as a JSON object (`capabilities::log`).
pub const PLUGIN_FIELDS: &str = "plugin_fields";

/// Log output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Installs the process's log subscriber: `CONNECTOR_HOST_LOG` filters (default `info`).
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_env("CONNECTOR_HOST_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,wasmtime=warn,cranelift=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder
            .with_target(false)
            .with_ansi(std::io::stderr().is_terminal())
            .fmt_fields(TextFields)
            .init(),
        LogFormat::Json => builder.event_format(JsonLines).init(),
    }
}

/// A plugin's fields, from their JSON text.
fn plugin_fields(text: &str) -> Map<String, Value> {
    match serde_json::from_str(text) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    }
}

/// `key=value`, the value quoted when it holds spaces, quotes or `=`, or is empty.
fn pair(out: &mut String, key: &str, value: &str) {
    use std::fmt::Write as _;
    if value.is_empty() || value.contains([' ', '"', '=']) {
        let _ = write!(out, " {key}={value:?}");
    } else {
        let _ = write!(out, " {key}={value}");
    }
}

/// Text fields: the message, then the host's fields, then the plugin's.
pub struct TextFields;

#[derive(Default)]
struct TextVisitor {
    message: String,
    fields: String,
    plugin: String,
}

impl Visit for TextVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "message" => self.message = value.to_owned(),
            PLUGIN_FIELDS => {
                for (k, v) in plugin_fields(value) {
                    let v = match v {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    pair(&mut self.plugin, &k, &v);
                }
            }
            name => pair(&mut self.fields, name, value),
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let text = format!("{value:?}");
        match field.name() {
            "message" => self.message = text,
            name => {
                use std::fmt::Write as _;
                let _ = write!(self.fields, " {name}={text}");
            }
        }
    }
}

impl<'writer> FormatFields<'writer> for TextFields {
    fn format_fields<R: tracing_subscriber::field::RecordFields>(
        &self,
        mut writer: Writer<'writer>,
        fields: R,
    ) -> fmt::Result {
        let mut v = TextVisitor::default();
        fields.record(&mut v);
        write!(writer, "{}{}{}", v.message, v.fields, v.plugin)
    }
}

/// One JSON object per event: `timestamp`, `level`, `target`, `fields` (with the plugin's
/// under `fields.plugin`) and the names of the spans it happened in.
pub struct JsonLines;

#[derive(Default)]
struct JsonVisitor(Map<String, Value>);

impl Visit for JsonVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == PLUGIN_FIELDS {
            self.0
                .insert("plugin".into(), Value::Object(plugin_fields(value)));
        } else {
            self.0.insert(field.name().into(), Value::from(value));
        }
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), Value::from(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), Value::from(value));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().into(), Value::from(format!("{value:?}")));
    }
}

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let mut fields = JsonVisitor::default();
        event.record(&mut fields);
        let mut line = Map::new();
        line.insert(
            "timestamp".into(),
            Value::from(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)),
        );
        line.insert("level".into(), Value::from(meta.level().as_str()));
        line.insert("target".into(), Value::from(meta.target()));
        line.insert("fields".into(), Value::Object(fields.0));
        if let Some(scope) = ctx.event_scope() {
            let spans: Vec<Value> = scope.from_root().map(|s| Value::from(s.name())).collect();
            line.insert("spans".into(), Value::Array(spans));
        }
        writeln!(writer, "{}", Value::Object(line))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn emit() {
        tracing::info!(
            target: "plugin",
            connector = "kit",
            run_id = 7i64,
            plugin_fields = r#"{"pages":"10","note":"two words"}"#,
            "sync done"
        );
    }

    #[test]
    fn json_lines_carry_plugin_fields_as_an_object() {
        let out = Buffer::default();
        let sink = out.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || sink.clone())
            .event_format(JsonLines)
            .finish();
        tracing::subscriber::with_default(subscriber, emit);
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let line: Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["target"], "plugin");
        assert_eq!(line["fields"]["message"], "sync done");
        assert_eq!(line["fields"]["connector"], "kit");
        assert_eq!(line["fields"]["run_id"], 7);
        assert_eq!(line["fields"]["plugin"]["pages"], "10");
        assert_eq!(line["fields"]["plugin"]["note"], "two words");
    }

    #[test]
    fn text_lines_print_plugin_fields_inline_without_colour() {
        let out = Buffer::default();
        let sink = out.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || sink.clone())
            .with_ansi(false)
            .fmt_fields(TextFields)
            .finish();
        tracing::subscriber::with_default(subscriber, emit);
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        assert!(
            text.contains("sync done connector=kit run_id=7 note=\"two words\" pages=10"),
            "{text}"
        );
        assert!(!text.contains('\u{1b}'), "no ANSI escapes: {text:?}");
    }
}
