//! The overview operators look at — every connector's state, schedules with their next fire,
//! pauses, last run and queue — built once from the manifest and the database, and shown by
//! `connector-host status`, `GET /status` and the console.

use crate::manifest::Manifest;
use crate::store::{Pause, RunRecord, Store};
use anyhow::Result;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;

/// Every connector at one instant.
#[derive(Debug, Clone, Serialize)]
pub struct Overview {
    /// When it was read.
    pub at: DateTime<Utc>,
    /// The connectors, by name.
    pub connectors: Vec<ConnectorState>,
    /// Open alerts, oldest first.
    pub alerts: Vec<crate::store::Incident>,
}

/// One connector.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectorState {
    pub name: String,
    /// The plugin file.
    pub plugin: String,
    /// The connector's own pause, if any (its schedules may have their own).
    pub paused: Option<Pause>,
    pub schedules: Vec<ScheduleState>,
    /// Its newest run.
    pub last_run: Option<RunRecord>,
    /// When its newest successful run finished.
    pub last_success: Option<DateTime<Utc>>,
    /// Jobs by status.
    pub queue: BTreeMap<String, i64>,
    /// Whether it takes webhooks.
    pub webhook: bool,
    /// Whether it can be run over HTTP with its trigger token.
    pub manual_trigger: bool,
}

/// One schedule.
#[derive(Debug, Clone, Serialize)]
pub struct ScheduleState {
    pub name: String,
    pub cron: String,
    /// The IANA zone the cron is read in.
    pub timezone: String,
    pub job: String,
    /// The next fire, UTC.
    pub next_fire: Option<DateTime<Utc>>,
    /// The same in the schedule's zone, RFC 3339 with its offset.
    pub next_fire_local: Option<String>,
    /// Its pause (its own or its connector's), if one holds.
    pub paused: Option<Pause>,
}

/// Reads the overview at `now`.
pub async fn overview(manifest: &Manifest, store: &Store, now: DateTime<Utc>) -> Result<Overview> {
    let pauses = store.active_pauses(now).await?;
    let queue = store.queue_depth().await?;
    let mut connectors = Vec::new();
    for (name, c) in &manifest.connectors {
        let own = pauses
            .iter()
            .find(|p| p.connector == *name && p.schedule.is_none())
            .cloned();
        let schedules = c
            .schedules
            .iter()
            .map(|s| {
                let zone = s.cron.timezone();
                let next = s.cron.next_after(now);
                let paused = pauses
                    .iter()
                    .find(|p| p.connector == *name && p.schedule.as_deref() == Some(&s.name))
                    .cloned()
                    .or_else(|| own.clone());
                ScheduleState {
                    name: s.name.clone(),
                    cron: s.cron.expression().to_owned(),
                    timezone: zone.name().to_owned(),
                    job: s.job.clone(),
                    next_fire: next,
                    next_fire_local: next.map(|t| t.with_timezone(&zone).to_rfc3339()),
                    paused,
                }
            })
            .collect();
        connectors.push(ConnectorState {
            name: name.clone(),
            plugin: c.plugin.display().to_string(),
            paused: own,
            schedules,
            last_run: store.recent_runs(1, Some(name)).await?.pop(),
            last_success: store.last_success(name).await?,
            queue: queue
                .iter()
                .filter(|(cn, _, _)| cn == name)
                .map(|(_, status, n)| (status.clone(), *n))
                .collect(),
            webhook: c.webhook.is_some(),
            manual_trigger: c.trigger_token.is_some(),
        });
    }
    Ok(Overview {
        at: now,
        connectors,
        alerts: store.open_incidents().await?,
    })
}
