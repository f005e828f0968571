//! Alerts: what operators must hear about without looking — runs failing in a row, fires that
//! should have run and did not, a connector not fresh, dead-letter jobs, credentials that keep
//! failing — raised once per incident and closed with a recovery notice, each notice sent by
//! exactly one host (the database decides), to the manifest's sinks: the log, a webhook (JSON),
//! a Slack-compatible incoming webhook.
//!
//! Every `serve` host checks the conditions every `[alerts].check_every`; an incident exists at
//! most once while open (a unique index), so hosts checking together raise it once. Missed
//! fires are also raised at the moment a host's planner finds fires that were due while no host
//! ran ([`missed_fires`]).

use crate::manifest::{AlertSink, Manifest, Secrets};
use crate::store::{Incident, Store};
use anyhow::Result;
use chrono::{DateTime, Utc};
use serde_json::json;
use std::collections::BTreeSet;
use std::time::Duration;

/// The kinds of incident.
pub mod kind {
    /// N runs of a connector in a row did not succeed.
    pub const FAILURES: &str = "failures";
    /// Fires that were due did not run: no host was running, or overlap skipped too many.
    pub const MISSED: &str = "missed";
    /// The last success is older than the connector's `max_age`.
    pub const FRESHNESS: &str = "freshness";
    /// Jobs moved to the dead letter.
    pub const DEAD_LETTER: &str = "dead_letter";
    /// N runs in a row in which every authenticated request was refused.
    pub const CREDENTIALS: &str = "credentials";
}

/// A condition that holds now: an incident should be open for it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Condition {
    pub kind: &'static str,
    pub connector: String,
    /// A schedule, or "".
    pub subject: String,
    pub summary: String,
}

impl Condition {
    fn key(&self) -> (&str, &str, &str) {
        (self.kind, &self.connector, &self.subject)
    }
}

/// The conditions that hold at `now`, besides missed fires found by the planner (those stay
/// open until a later fire of the schedule has run, which `open` reports here as holding).
pub async fn conditions(
    manifest: &Manifest,
    store: &Store,
    open: &[Incident],
    now: DateTime<Utc>,
) -> Result<Vec<Condition>> {
    let cfg = &manifest.alerts;
    let queue = store.queue_depth().await?;
    let mut out = Vec::new();
    for (name, c) in &manifest.connectors {
        let n = cfg.failures as usize;
        let recent: Vec<_> = store
            .recent_runs((n * 3 + 10) as u32, Some(name))
            .await?
            .into_iter()
            .filter(|r| r.status != "running" && !r.dry_run)
            .take(n)
            .collect();
        if recent.len() == n && recent.iter().all(|r| !r.status.is_success()) {
            let last = &recent[0];
            let why = last
                .error_message
                .clone()
                .unwrap_or_else(|| last.status.to_string());
            out.push(Condition {
                kind: kind::FAILURES,
                connector: name.clone(),
                subject: String::new(),
                summary: format!(
                    "{n} runs in a row did not succeed; the last (run {}): {why}",
                    last.id
                ),
            });
        }
        if recent.len() == n && recent.iter().all(|r| r.auth_failed > 0 && r.auth_ok == 0) {
            out.push(Condition {
                kind: kind::CREDENTIALS,
                connector: name.clone(),
                subject: String::new(),
                summary: format!(
                    "{n} runs in a row had every authenticated request refused (401/403 or no token); check the secrets of its auth profiles"
                ),
            });
        }
        if let Some(max_age) = c.max_age {
            let limit = chrono::Duration::from_std(max_age).unwrap_or_default();
            let since = match store.last_success(name).await? {
                Some(t) => Some(("last succeeded", t)),
                None => store
                    .first_run_started(name)
                    .await?
                    .map(|t| ("never succeeded since its first run", t)),
            };
            if let Some((what, at)) = since.filter(|(_, at)| now - *at > limit) {
                out.push(Condition {
                    kind: kind::FRESHNESS,
                    connector: name.clone(),
                    subject: String::new(),
                    summary: format!(
                        "{what} at {}, longer ago than its max_age of {}",
                        at.format("%Y-%m-%d %H:%M:%SZ"),
                        crate::manifest::format_duration(max_age)
                    ),
                });
            }
        }
        let dead = queue
            .iter()
            .find(|(cn, status, _)| cn == name && status == "failed")
            .map_or(0, |(_, _, n)| *n);
        if dead > 0 {
            out.push(Condition {
                kind: kind::DEAD_LETTER,
                connector: name.clone(),
                subject: String::new(),
                summary: format!(
                    "{dead} job(s) in the dead letter (connector-host queue list --status failed --connector {name})"
                ),
            });
        }
        for s in &c.schedules {
            let k = cfg.overlap_skips;
            let fires = store.fire_history(name, Some(&s.name), k).await?;
            if fires.len() == k as usize
                && fires
                    .iter()
                    .all(|f| f.status == "skipped" && f.skip_reason.as_deref() == Some("overlap"))
            {
                out.push(Condition {
                    kind: kind::MISSED,
                    connector: name.clone(),
                    subject: s.name.clone(),
                    summary: format!(
                        "{k} fires in a row skipped because the previous run was still going (overlap = skip); the last due {}",
                        fires[0].scheduled_for.format("%Y-%m-%d %H:%M:%SZ")
                    ),
                });
                continue;
            }
            // A missed-fires incident the planner raised holds until a later fire has run.
            if let Some(i) = open
                .iter()
                .find(|i| i.kind == kind::MISSED && i.connector == *name && i.subject == s.name)
            {
                let ran_since = fires
                    .iter()
                    .any(|f| f.status == "done" && f.scheduled_for > i.opened_at);
                if !ran_since {
                    out.push(Condition {
                        kind: kind::MISSED,
                        connector: name.clone(),
                        subject: s.name.clone(),
                        summary: i.summary.clone(),
                    });
                }
            }
        }
    }
    Ok(out)
}

/// Opens an incident for fires of `connector`/`schedule` that were due between `from` and `to`
/// while no host was running and will not run (the schedule's missed-fire policy dropped them).
pub async fn missed_fires(
    store: &Store,
    connector: &str,
    schedule: &str,
    dropped: u64,
    now: DateTime<Utc>,
) -> Result<bool> {
    let summary = format!(
        "{dropped} fire(s) were due while no host was running and were not run (see the schedule's `missed` policy)"
    );
    store
        .open_incident(kind::MISSED, connector, schedule, &summary, now)
        .await
}

/// What one check did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Checked {
    pub opened: usize,
    pub resolved: usize,
    pub sent: usize,
}

/// One check: opens incidents for conditions that hold, resolves those that no longer do, and
/// sends the notices this host claims.
pub async fn check(
    manifest: &Manifest,
    secrets: &Secrets,
    store: &Store,
    client: &reqwest::Client,
    now: DateTime<Utc>,
) -> Result<Checked> {
    let open = store.open_incidents().await?;
    let holding = conditions(manifest, store, &open, now).await?;
    let mut done = Checked::default();
    let keys: BTreeSet<(&str, &str, &str)> = holding.iter().map(Condition::key).collect();
    for c in &holding {
        if store
            .open_incident(c.kind, &c.connector, &c.subject, &c.summary, now)
            .await?
        {
            done.opened += 1;
        }
    }
    for i in &open {
        let still = keys.contains(&(i.kind.as_str(), i.connector.as_str(), i.subject.as_str()));
        // Conditions of connectors no longer in the manifest clear too.
        if !still && store.resolve_incident(i.id, now).await? {
            done.resolved += 1;
        }
    }
    for resolved in [false, true] {
        for i in store.unsent_incidents(resolved).await? {
            if !store.claim_notice(i.id, resolved, now).await? {
                continue;
            }
            match notify(&manifest.alerts.sinks, secrets, client, &i, resolved).await {
                Ok(()) => done.sent += 1,
                Err(e) => {
                    tracing::warn!(
                        incident = i.id,
                        error = format!("{e:#}"),
                        "cannot send an alert; it will be sent again"
                    );
                    store.release_notice(i.id, resolved).await?;
                }
            }
        }
    }
    Ok(done)
}

/// The notice's JSON body for webhook sinks.
pub fn payload(i: &Incident, resolved: bool) -> serde_json::Value {
    json!({
        "state": if resolved { "resolved" } else { "open" },
        "kind": i.kind,
        "connector": i.connector,
        "schedule": (!i.subject.is_empty()).then_some(&i.subject),
        "summary": i.summary,
        "opened_at": i.opened_at,
        "resolved_at": i.resolved_at,
        "id": i.id,
    })
}

/// The one-line text of a notice.
pub fn text(i: &Incident, resolved: bool) -> String {
    let what = if i.subject.is_empty() {
        i.connector.clone()
    } else {
        format!("{}/{}", i.connector, i.subject)
    };
    if resolved {
        format!("RESOLVED {} {what}: {}", i.kind, i.summary)
    } else {
        format!("ALERT {} {what}: {}", i.kind, i.summary)
    }
}

/// How long a sink has to accept a notice.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// Sends one notice to every sink; an error if any sink refused it (all are tried; a retry sends
/// to all again).
async fn notify(
    sinks: &[AlertSink],
    secrets: &Secrets,
    client: &reqwest::Client,
    i: &Incident,
    resolved: bool,
) -> Result<()> {
    let mut failed = Vec::new();
    for sink in sinks {
        let (url, body) = match sink {
            AlertSink::Log => {
                if resolved {
                    tracing::info!(kind = %i.kind, connector = %i.connector, subject = %i.subject, incident = i.id, "{}", text(i, true));
                } else {
                    tracing::warn!(kind = %i.kind, connector = %i.connector, subject = %i.subject, incident = i.id, "{}", text(i, false));
                }
                continue;
            }
            AlertSink::Webhook { url } => (url, payload(i, resolved)),
            AlertSink::Slack { url } => (url, json!({ "text": text(i, resolved) })),
        };
        let Some(url) = secrets.get(url) else {
            failed.push(format!("the URL in {} is not loaded", url.env));
            continue;
        };
        let sent = client
            .post(url)
            .timeout(SEND_TIMEOUT)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_string())
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => {}
            // The URL is a secret: name the sink by its variable, never by its address.
            Ok(r) => failed.push(format!(
                "{:?} sink answered HTTP {}",
                sink_name(sink),
                r.status()
            )),
            Err(e) => failed.push(format!(
                "{:?} sink: {}",
                sink_name(sink),
                if e.is_timeout() {
                    "timed out"
                } else {
                    "could not be reached"
                }
            )),
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        anyhow::bail!("{}", failed.join("; "))
    }
}

fn sink_name(sink: &AlertSink) -> String {
    match sink {
        AlertSink::Log => "log".into(),
        AlertSink::Webhook { url } => format!("webhook {}", url.env),
        AlertSink::Slack { url } => format!("slack {}", url.env),
    }
}

impl crate::runner::Runner {
    /// One [`check`] of this runner's manifest and database, sending with `client`.
    pub async fn check_alerts(
        &self,
        client: &reqwest::Client,
        now: DateTime<Utc>,
    ) -> Result<Checked> {
        check(&self.manifest, self.secrets(), &self.store, client, now).await
    }
}
