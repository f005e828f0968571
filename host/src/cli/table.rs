//! Plain-text tables for the terminal: run outcomes and the run log.

use crate::manifest::Manifest;
use crate::runner::{JobOutcome, RunOutcome};
use crate::store::{JobRecord, RunRecord};

/// Renders rows under a header with columns padded to their widest cell.
pub fn render(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| -> String {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        padded.join("  ").trim_end().to_owned() + "\n"
    };
    let mut out = line(header.iter().map(|h| h.to_string()).collect());
    out.push_str(&line(widths.iter().map(|w| "-".repeat(*w)).collect()));
    for row in rows {
        out.push_str(&line(row.clone()));
    }
    out
}

fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        s.chars().take(max - 1).collect::<String>() + "…"
    }
}

/// One line per run outcome.
pub fn outcomes(outcomes: &[RunOutcome]) -> String {
    let rows: Vec<Vec<String>> = outcomes
        .iter()
        .map(|o| {
            vec![
                o.run_id.to_string(),
                o.connector.clone(),
                o.job.clone(),
                if o.dry_run {
                    format!("{} (dry run)", o.status.as_str())
                } else {
                    o.status.as_str().to_owned()
                },
                o.rows_written.to_string(),
                format!("{} ms", o.duration.as_millis()),
                shorten(
                    o.summary
                        .as_deref()
                        .or(o.error_message.as_deref())
                        .unwrap_or(""),
                    60,
                ),
            ]
        })
        .collect();
    render(
        &[
            "run",
            "connector",
            "job",
            "status",
            "rows",
            "took",
            "summary",
        ],
        &rows,
    )
}

/// One line per run-log row.
pub fn runs(runs: &[RunRecord]) -> String {
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|r| {
            let took = r
                .finished_at
                .map(|f| format!("{} ms", (f - r.started_at).num_milliseconds()))
                .unwrap_or_default();
            vec![
                r.id.to_string(),
                r.connector.clone(),
                r.job.clone(),
                r.trigger.to_string(),
                r.started_at.format("%Y-%m-%d %H:%M:%S").to_string(),
                took,
                r.status.to_string(),
                r.rows_written.to_string(),
                shorten(
                    r.summary
                        .as_deref()
                        .or(r.error_message.as_deref())
                        .unwrap_or(""),
                    50,
                ),
            ]
        })
        .collect();
    render(
        &[
            "run",
            "connector",
            "job",
            "trigger",
            "started (utc)",
            "took",
            "status",
            "rows",
            "summary",
        ],
        &rows,
    )
}

/// The next `count` fires after `now` of every schedule in the manifest, local and UTC.
pub fn schedule(manifest: &Manifest, now: chrono::DateTime<chrono::Utc>, count: usize) -> String {
    let mut rows = Vec::new();
    for c in manifest.connectors.values() {
        for s in &c.schedules {
            let zone = s.cron.timezone();
            for fire in s.cron.upcoming(now, count) {
                rows.push(vec![
                    c.name.clone(),
                    s.name.clone(),
                    s.job.clone(),
                    s.cron.expression().to_owned(),
                    fire.with_timezone(&zone)
                        .format("%Y-%m-%d %H:%M:%S %Z")
                        .to_string(),
                    fire.format("%Y-%m-%d %H:%M:%SZ").to_string(),
                ]);
            }
        }
    }
    if rows.is_empty() {
        return "no schedules in the manifest\n".to_owned();
    }
    render(
        &["connector", "schedule", "job", "cron", "local", "utc"],
        &rows,
    )
}

/// One line per queued job.
pub fn jobs(jobs: &[JobRecord]) -> String {
    let rows: Vec<Vec<String>> = jobs
        .iter()
        .map(|j| {
            vec![
                j.id.to_string(),
                j.connector.clone(),
                j.kind.clone(),
                j.status.to_string(),
                format!("{}/{}", j.attempts, j.max_attempts),
                j.run_after.format("%Y-%m-%d %H:%M:%S").to_string(),
                j.dedup_key.clone().unwrap_or_default(),
                shorten(j.last_error.as_deref().unwrap_or(""), 50),
            ]
        })
        .collect();
    render(
        &[
            "job",
            "connector",
            "kind",
            "status",
            "attempts",
            "due (utc)",
            "dedup key",
            "last error",
        ],
        &rows,
    )
}

/// One line per delivered job.
pub fn jobs_done(done: &[JobOutcome]) -> String {
    let rows: Vec<Vec<String>> = done
        .iter()
        .map(|o| {
            vec![
                o.job.id.to_string(),
                o.job.connector.clone(),
                o.job.kind.clone(),
                o.job.attempts.to_string(),
                o.status.as_str().to_owned(),
                o.retry_at
                    .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
                    .unwrap_or_default(),
                shorten(o.error.as_deref().unwrap_or(""), 50),
            ]
        })
        .collect();
    render(
        &[
            "job",
            "connector",
            "kind",
            "attempt",
            "outcome",
            "retry at (utc)",
            "error",
        ],
        &rows,
    )
}

/// `runs show`: one run's record, then its kept log events.
pub fn run_detail(run: &RunRecord, events: &[crate::store::StoredEvent]) -> String {
    let mut out = String::new();
    let mut field = |name: &str, value: String| {
        if !value.is_empty() {
            out.push_str(&format!("{name:<14} {value}\n"));
        }
    };
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    field("run", run.id.to_string());
    field("connector", run.connector.clone());
    field("job", run.job.clone());
    field(
        "trigger",
        match &run.schedule {
            Some(s) => format!("{} (schedule {s}, attempt {})", run.trigger, run.attempt),
            None => format!("{} (attempt {})", run.trigger, run.attempt),
        },
    );
    field(
        "scheduled for",
        run.scheduled_for
            .map(|t| t.to_rfc3339())
            .unwrap_or_default(),
    );
    field(
        "status",
        if run.dry_run {
            format!("{} (dry run)", run.status)
        } else {
            run.status.to_string()
        },
    );
    field("started", run.started_at.to_rfc3339());
    field(
        "finished",
        run.finished_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
    );
    field(
        "took",
        run.duration_ms
            .map(|d| format!("{d} ms"))
            .unwrap_or_default(),
    );
    field("host", opt(&run.host));
    field("rows written", run.rows_written.to_string());
    field(
        "http",
        format!(
            "{} calls, {} retries, {} ms waiting for rate limits",
            run.http_calls, run.retries, run.rate_limit_wait_ms
        ),
    );
    field("summary", opt(&run.summary));
    field(
        "error",
        match (&run.error_kind, &run.error_message) {
            (Some(k), Some(m)) => format!("{k}: {m}"),
            (Some(k), None) => k.clone(),
            _ => String::new(),
        },
    );
    if run.counters.as_object().is_some_and(|c| !c.is_empty()) {
        field("counters", run.counters.to_string());
    }
    field("input", opt(&run.input));
    out.push('\n');
    if events.is_empty() {
        out.push_str("no log events kept\n");
        return out;
    }
    if run.log_events_omitted > 0 || run.log_events_dropped > 0 {
        out.push_str(&format!(
            "log events: the last {} kept; {} earlier let go, {} dropped past the per-call cap\n",
            events.len(),
            run.log_events_omitted,
            run.log_events_dropped
        ));
    }
    let rows: Vec<Vec<String>> = events
        .iter()
        .map(|e| {
            vec![
                e.at.format("%H:%M:%S%.3f").to_string(),
                e.level.clone(),
                match &e.fields {
                    Some(f) => format!("{} {f}", e.message),
                    None => e.message.clone(),
                },
            ]
        })
        .collect();
    out.push_str(&render(&["time (utc)", "level", "event"], &rows));
    out
}

/// `status`: open alerts, then one block per connector.
pub fn status(o: &crate::status::Overview) -> String {
    let mut out = String::new();
    if !o.alerts.is_empty() {
        out.push_str(&format!("{} open alert(s)\n", o.alerts.len()));
        for i in &o.alerts {
            out.push_str(&format!(
                "  #{} since {}  {}\n",
                i.id,
                i.opened_at.format("%Y-%m-%d %H:%M:%SZ"),
                crate::alerts::text(i, false)
            ));
        }
        out.push('\n');
    }
    for c in &o.connectors {
        let state = match &c.paused {
            Some(p) => format!("PAUSED ({}{})", p.reason, until(p)),
            None => "active".into(),
        };
        out.push_str(&format!("{}  {state}\n", c.name));
        let last = match &c.last_run {
            Some(r) => format!(
                "run {} {} {} ({})",
                r.id,
                r.status,
                r.started_at.format("%Y-%m-%d %H:%M:%SZ"),
                shorten(
                    r.error_message
                        .as_deref()
                        .or(r.summary.as_deref())
                        .unwrap_or(""),
                    70
                )
            ),
            None => "never ran".into(),
        };
        out.push_str(&format!("  last run      {last}\n"));
        out.push_str(&format!(
            "  last success  {}\n",
            c.last_success.map_or("never".to_owned(), |t| t
                .format("%Y-%m-%d %H:%M:%SZ")
                .to_string())
        ));
        if !c.queue.is_empty() {
            let q: Vec<String> = c.queue.iter().map(|(s, n)| format!("{n} {s}")).collect();
            out.push_str(&format!("  queue         {}\n", q.join(", ")));
        }
        for s in &c.schedules {
            let next = match (&s.paused, s.next_fire, &s.next_fire_local) {
                (Some(p), _, _) => format!("paused: {}{}", p.reason, until(p)),
                (None, Some(utc), Some(local)) => {
                    format!("next {local} ({})", utc.format("%Y-%m-%d %H:%M:%SZ"))
                }
                _ => "no next fire".into(),
            };
            out.push_str(&format!(
                "  schedule {:<12} {:<16} {:<20} {next}\n",
                s.name, s.cron, s.timezone
            ));
        }
        out.push('\n');
    }
    if out.is_empty() {
        out.push_str("no connectors in the manifest\n");
    }
    out
}

fn until(p: &crate::store::Pause) -> String {
    p.until
        .map(|u| format!(", until {}", u.format("%Y-%m-%d %H:%M:%SZ")))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn columns_pad_to_the_widest_cell() {
        let out = super::render(&["a", "bb"], &[vec!["xxx".into(), "y".into()]]);
        assert_eq!(out, "a    bb\n---  --\nxxx  y\n");
    }
}
