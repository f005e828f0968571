//! `GET /metrics`: Prometheus text exposition (format 0.0.4). Run, HTTP and queue figures come
//! from the shared database (the same on every host); fire decisions, reloads and runs in
//! progress are this host's own.

use crate::daemon::Daemon;
use crate::store::DURATION_BUCKETS;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// A label value with `\`, `"` and newlines escaped.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn help(out: &mut String, name: &str, kind: &str, text: &str) {
    let _ = writeln!(out, "# HELP {name} {text}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

pub(super) async fn metrics(State(daemon): State<Arc<Daemon>>) -> Response {
    match render(&daemon).await {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(e) => {
            tracing::warn!(error = format!("{e:#}"), "GET /metrics");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "the database cannot be read\n",
            )
                .into_response()
        }
    }
}

/// The whole exposition.
pub async fn render(daemon: &Daemon) -> anyhow::Result<String> {
    let runner = daemon.runner();
    let totals = runner.store.run_totals().await?;
    let histograms = runner.store.duration_histograms().await?;
    let queue = runner.store.queue_depth().await?;
    let job_rows = runner.store.job_rows_written().await?;
    let alerts = runner.store.open_incidents().await?;
    let mut out = String::new();

    help(
        &mut out,
        "connector_alerts_open",
        "gauge",
        "Open alerts (incidents), by kind and connector.",
    );
    let mut open: std::collections::BTreeMap<(&str, &str), u64> = Default::default();
    for i in &alerts {
        *open
            .entry((i.kind.as_str(), i.connector.as_str()))
            .or_default() += 1;
    }
    for ((kind, connector), n) in &open {
        let _ = writeln!(
            out,
            "connector_alerts_open{{kind=\"{}\",connector=\"{}\"}} {n}",
            label(kind),
            label(connector)
        );
    }

    help(
        &mut out,
        "connector_runs_total",
        "counter",
        "Runs recorded, by connector and status.",
    );
    for t in &totals {
        let _ = writeln!(
            out,
            "connector_runs_total{{connector=\"{}\",status=\"{}\"}} {}",
            label(&t.connector),
            label(&t.status),
            t.runs
        );
    }
    let per_connector = |pick: fn(&crate::store::RunTotals) -> i64| {
        let mut sums: std::collections::BTreeMap<&str, i64> = Default::default();
        for t in &totals {
            *sums.entry(t.connector.as_str()).or_default() += pick(t);
        }
        sums
    };
    type Pick = fn(&crate::store::RunTotals) -> i64;
    let series: [(&str, &str, Pick, f64); 4] = [
        (
            "connector_http_requests_total",
            "Outbound HTTP requests made by runs.",
            |t| t.http_calls,
            1.0,
        ),
        (
            "connector_http_retries_total",
            "Outbound HTTP requests retried after a transient failure.",
            |t| t.retries,
            1.0,
        ),
        (
            "connector_rate_limit_wait_seconds_total",
            "Time runs spent waiting for rate-limit pools.",
            |t| t.rate_limit_wait_ms,
            0.001,
        ),
        (
            "connector_rows_written_total",
            "Rows inserted, updated or deleted by runs (dry runs excluded) and queue jobs.",
            |t| t.rows_written,
            1.0,
        ),
    ];
    for (name, text, pick, scale) in series {
        help(&mut out, name, "counter", text);
        let mut sums = per_connector(pick);
        if name == "connector_rows_written_total" {
            for (connector, rows) in &job_rows {
                *sums.entry(connector.as_str()).or_default() += rows;
            }
        }
        for (connector, sum) in sums {
            let _ = writeln!(
                out,
                "{name}{{connector=\"{}\"}} {}",
                label(connector),
                sum as f64 * scale
            );
        }
    }

    let name = "connector_run_duration_seconds";
    help(&mut out, name, "histogram", "Duration of finished runs.");
    for h in &histograms {
        let c = label(&h.connector);
        for (bound, n) in DURATION_BUCKETS.iter().zip(&h.buckets) {
            let _ = writeln!(out, "{name}_bucket{{connector=\"{c}\",le=\"{bound}\"}} {n}");
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{connector=\"{c}\",le=\"+Inf\"}} {}",
            h.count
        );
        let _ = writeln!(
            out,
            "{name}_sum{{connector=\"{c}\"}} {}",
            h.sum_ms as f64 / 1000.0
        );
        let _ = writeln!(out, "{name}_count{{connector=\"{c}\"}} {}", h.count);
    }

    help(
        &mut out,
        "connector_queue_jobs",
        "gauge",
        "Queue jobs, by connector and status.",
    );
    for (connector, status, n) in &queue {
        let _ = writeln!(
            out,
            "connector_queue_jobs{{connector=\"{}\",status=\"{}\"}} {n}",
            label(connector),
            label(status)
        );
    }

    let s = &daemon.stats;
    help(
        &mut out,
        "connector_fires_total",
        "counter",
        "Schedule fires this host decided, by outcome.",
    );
    for (outcome, counter) in [
        ("run", &s.run),
        ("taken", &s.taken),
        ("skipped", &s.skipped),
        ("queued", &s.queued),
        ("dropped", &s.dropped),
    ] {
        let _ = writeln!(
            out,
            "connector_fires_total{{outcome=\"{outcome}\"}} {}",
            counter.load(Ordering::Relaxed)
        );
    }
    help(
        &mut out,
        "connector_abandoned_runs_total",
        "counter",
        "Runs this host found abandoned by a dead host.",
    );
    let _ = writeln!(
        out,
        "connector_abandoned_runs_total {}",
        s.abandoned.load(Ordering::Relaxed)
    );
    help(
        &mut out,
        "connector_reloads_total",
        "counter",
        "Configuration reloads, by result.",
    );
    let _ = writeln!(
        out,
        "connector_reloads_total{{result=\"ok\"}} {}",
        s.reloads.load(Ordering::Relaxed)
    );
    let _ = writeln!(
        out,
        "connector_reloads_total{{result=\"refused\"}} {}",
        s.reload_failures.load(Ordering::Relaxed)
    );
    help(
        &mut out,
        "connector_runs_in_progress",
        "gauge",
        "Runs in progress on this host.",
    );
    let _ = writeln!(
        out,
        "connector_runs_in_progress {}",
        runner.active_runs().len()
    );
    Ok(out)
}
