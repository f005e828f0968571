//! Checks `[alerts]`: where alerts go (`sinks`) and the thresholds that raise them.

use super::auth::Use;
use super::raw::{Field, RawAlerts};
use super::validate::{join, Check};
use super::{AlertSink, AlertsConfig};
use std::time::Duration;

impl Check<'_> {
    pub(super) fn alerts(&mut self, raw: Field<RawAlerts>) -> AlertsConfig {
        let expected = "a table like { sinks = [{ kind = \"log\" }], failures = 3 }";
        let alerts = self.take(raw, "alerts", expected).unwrap_or_default();
        let sinks = match self.take(
            alerts.sinks,
            "alerts.sinks",
            "a list like [{ kind = \"log\" }, { kind = \"webhook\", url = \"ALERT_URL\" }]",
        ) {
            None => vec![AlertSink::Log],
            Some(list) => list
                .into_iter()
                .enumerate()
                .filter_map(|(i, raw)| self.sink(raw, &format!("alerts.sinks[{i}]")))
                .collect(),
        };
        let failures = self.bounded(alerts.failures, "alerts.failures", 3, 1, 100);
        let overlap_skips = self.bounded(alerts.overlap_skips, "alerts.overlap_skips", 3, 1, 1000);
        let check_every = self.duration(
            alerts.check_every,
            "alerts.check_every",
            Duration::from_secs(30),
            (Duration::from_secs(1), Duration::from_secs(600)),
        );
        AlertsConfig {
            sinks,
            failures,
            overlap_skips,
            check_every,
        }
    }

    fn sink(&mut self, raw: Field<super::raw::RawSink>, at: &str) -> Option<AlertSink> {
        let expected = "a table like { kind = \"slack\", url = \"SLACK_WEBHOOK_URL\" }";
        let sink = self.take(raw, at, expected)?;
        let kind_at = join(at, "kind");
        let kinds = "\"log\", \"webhook\" or \"slack\"";
        let kind = self.require(sink.kind, &kind_at, kinds)?;
        let url_at = join(at, "url");
        match kind.as_str() {
            "log" => {
                if sink.url.is_set() {
                    self.problem(&url_at, "a log sink takes no url");
                }
                Some(AlertSink::Log)
            }
            "webhook" | "slack" => {
                if !sink.url.is_set() {
                    self.problem(&url_at, "expected the name of the variable holding the URL");
                    return None;
                }
                let url = self.secret_ref(sink.url, &url_at, at, Use::Other);
                if let Some(value) = self.secrets.get(&url).map(str::to_owned) {
                    let ok = reqwest::Url::parse(&value).is_ok_and(|u| {
                        matches!(u.scheme(), "http" | "https") && u.host().is_some()
                    });
                    if !ok {
                        self.problem(
                            &url_at,
                            format_args!("variable {} does not hold an http(s) URL", url.env),
                        );
                    }
                }
                Some(if kind == "webhook" {
                    AlertSink::Webhook { url }
                } else {
                    AlertSink::Slack { url }
                })
            }
            other => {
                let hint = crate::suggest::closest(other, ["log", "webhook", "slack"])
                    .map_or(String::new(), |k| format!("; did you mean \"{k}\"?"));
                self.problem(
                    &kind_at,
                    format_args!("expected {kinds}, found {other:?}{hint}"),
                );
                None
            }
        }
    }

    /// An integer from `lo` to `hi`, or `default` when absent.
    fn bounded(&mut self, field: Field<i64>, at: &str, default: u32, lo: u32, hi: u32) -> u32 {
        let expected = format!("an integer from {lo} to {hi}");
        match self.take(field, at, &expected) {
            None => default,
            Some(n) if (i64::from(lo)..=i64::from(hi)).contains(&n) => n as u32,
            Some(n) => {
                self.problem(at, format_args!("expected {expected}, found {n}"));
                default
            }
        }
    }
}
