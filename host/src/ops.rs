//! Operator actions, one implementation for the CLI, the HTTP API and the console: pausing and
//! resuming a connector or one of its schedules, retrying a run, and backfilling a schedule's
//! past window. Each checks its target against the manifest (naming the closest name when one
//! is wrong) and records what it does in the database, where every host sees it.

use crate::manifest::{Manifest, Overlap};
use crate::runner::{RunOutcome, RunRequest, Runner, RunnerError};
use crate::store::TriggerKind;
use crate::store::{FireClaim, FireKey, Pause, Store};
use crate::suggest::closest;
use chrono::{DateTime, Utc};

/// Why an action was refused: bad input (an unknown name, a bad time) or the database.
#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    /// The caller named something that does not exist or gave a value that does not parse.
    #[error("{0}")]
    BadInput(String),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] anyhow::Error),
}

/// Checks that `connector` (and `schedule`, when given) exist in `manifest`.
pub fn check_target(
    manifest: &Manifest,
    connector: &str,
    schedule: Option<&str>,
) -> Result<(), OpsError> {
    let Some(config) = manifest.connectors.get(connector) else {
        let hint = closest(connector, manifest.connectors.keys().map(String::as_str))
            .map(|c| format!("; did you mean {c:?}?"))
            .unwrap_or_default();
        return Err(OpsError::BadInput(format!(
            "no connector named {connector:?} in the manifest{hint}"
        )));
    };
    if let Some(schedule) = schedule {
        if !config.schedules.iter().any(|s| s.name == schedule) {
            let names: Vec<&str> = config.schedules.iter().map(|s| s.name.as_str()).collect();
            let hint = closest(schedule, names.iter().copied())
                .map(|c| format!("; did you mean {c:?}?"))
                .unwrap_or_else(|| format!("; it has {}", list(&names)));
            return Err(OpsError::BadInput(format!(
                "connector {connector} has no schedule named {schedule:?}{hint}"
            )));
        }
    }
    Ok(())
}

fn list(names: &[&str]) -> String {
    if names.is_empty() {
        "no schedules".into()
    } else {
        names.join(", ")
    }
}

/// An end time: RFC 3339 (`2026-12-24T08:00:00+02:00`) or a duration from `now` (`2h`, `3d`,
/// `90m`).
pub fn parse_until(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, OpsError> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text.trim()) {
        return Ok(t.with_timezone(&Utc));
    }
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (n, unit) = text.split_at(split);
    let n: i64 = n.parse().map_err(|_| bad_until(text))?;
    let span = match unit {
        "m" => chrono::Duration::minutes(n),
        "h" => chrono::Duration::hours(n),
        "d" => chrono::Duration::days(n),
        _ => return Err(bad_until(text)),
    };
    let until = now + span;
    if until <= now {
        return Err(bad_until(text));
    }
    Ok(until)
}

fn bad_until(text: &str) -> OpsError {
    OpsError::BadInput(format!(
        "until: expected a time like \"2026-12-24T08:00:00+02:00\" or a duration like \"2h\", \"3d\", found {text:?}"
    ))
}

/// Pauses `connector` (or one `schedule`) with `reason` until `until` (or until resumed), as
/// `by` (`cli`, `api`, `console`).
pub async fn pause(
    store: &Store,
    manifest: &Manifest,
    connector: &str,
    schedule: Option<&str>,
    reason: Option<&str>,
    until: Option<DateTime<Utc>>,
    by: &str,
) -> Result<Pause, OpsError> {
    check_target(manifest, connector, schedule)?;
    let now = Utc::now();
    if until.is_some_and(|u| u <= now) {
        return Err(OpsError::BadInput("until: the time has passed".into()));
    }
    let reason = reason
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .unwrap_or("paused by an operator");
    let pause = Pause {
        connector: connector.to_owned(),
        schedule: schedule.map(str::to_owned),
        reason: crate::limits::truncate(reason, 500),
        paused_at: now,
        until,
        paused_by: by.to_owned(),
    };
    store.pause(&pause).await?;
    tracing::warn!(
        connector,
        schedule,
        reason = %pause.reason,
        until = until.map(|u| u.to_rfc3339()),
        by,
        "paused"
    );
    Ok(pause)
}

/// Resumes `connector` (or one `schedule`); returns whether it was paused.
pub async fn resume(
    store: &Store,
    manifest: &Manifest,
    connector: &str,
    schedule: Option<&str>,
    by: &str,
) -> Result<bool, OpsError> {
    check_target(manifest, connector, schedule)?;
    let was = store.resume(connector, schedule).await?;
    if was {
        tracing::info!(connector, schedule, by, "resumed");
    }
    Ok(was)
}

/// Runs run `id` again — a run that did not succeed — with its job, input and original
/// `scheduled_for`, as attempt + 1 (trigger `retry`).
pub async fn retry_run(runner: &Runner, id: i64) -> Result<RunOutcome, OpsError> {
    let run = runner
        .store
        .run_by_id(id)
        .await?
        .ok_or_else(|| OpsError::BadInput(format!("no run with id {id}")))?;
    if matches!(run.status.as_str(), "succeeded" | "running") {
        return Err(OpsError::BadInput(format!(
            "run {id} {}; only a run that did not succeed can be retried",
            if run.status == "running" {
                "is still running"
            } else {
                "succeeded"
            }
        )));
    }
    if !runner.connectors().contains_key(&run.connector) {
        return Err(OpsError::BadInput(format!(
            "run {id} is of connector {}, which is no longer in the manifest",
            run.connector
        )));
    }
    let req = RunRequest {
        job: Some(run.job.clone()),
        trigger: TriggerKind::Retry,
        scheduled_for: run.scheduled_for,
        attempt: u32::try_from(run.attempt).unwrap_or(1).saturating_add(1),
        dry_run: run.dry_run,
        schedule: run.schedule.clone(),
        input: run.input.clone(),
        ..RunRequest::manual()
    };
    runner.run(&run.connector, req).await.map_err(runner_error)
}

fn runner_error(e: anyhow::Error) -> OpsError {
    if e.downcast_ref::<RunnerError>().is_some() {
        OpsError::BadInput(format!("{e}"))
    } else {
        OpsError::Store(e)
    }
}

/// The most fires one backfill creates; a longer window is split by the operator.
pub const MAX_BACKFILL_FIRES: usize = 1000;

/// One fire of a backfill.
#[derive(Debug)]
pub enum Backfilled {
    /// This backfill ran it.
    Ran(RunOutcome),
    /// It exists already (it ran, was skipped, or an earlier backfill made it): not run again.
    Existed(DateTime<Utc>),
}

/// The fires of `schedule` of `connector` in `(from, to]` (a past window), each created at most
/// once — a fire that exists already is left alone, so backfilling a window twice runs nothing
/// the second time — and run one after another (through the connector's rate-limit pools like
/// any run); `each` hears of every fire as it ends.
pub async fn backfill(
    runner: &Runner,
    connector: &str,
    schedule: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    mut each: impl FnMut(&Backfilled),
) -> Result<Vec<Backfilled>, OpsError> {
    check_target(&runner.manifest, connector, Some(schedule))?;
    let now = Utc::now();
    if to <= from {
        return Err(OpsError::BadInput(format!(
            "--to ({}) must come after --from ({})",
            to.to_rfc3339(),
            from.to_rfc3339()
        )));
    }
    if to > now {
        return Err(OpsError::BadInput(format!(
            "--to ({}) is in the future; a backfill covers a past window",
            to.to_rfc3339()
        )));
    }
    let config = runner.manifest.connectors[connector]
        .schedules
        .iter()
        .find(|s| s.name == schedule)
        .cloned()
        .expect("checked above");
    let fires = config.cron.fires_between(from, to, MAX_BACKFILL_FIRES + 1);
    if fires.len() > MAX_BACKFILL_FIRES {
        return Err(OpsError::BadInput(format!(
            "the window holds more than {MAX_BACKFILL_FIRES} fires of {connector}/{schedule}; split it"
        )));
    }
    let lease = runner.lease();
    let mut done = Vec::with_capacity(fires.len());
    for at in fires {
        let key = FireKey {
            connector: connector.to_owned(),
            schedule: schedule.to_owned(),
            scheduled_for: at,
        };
        // Not exclusive: a backfilled fire never waits for (or blocks) the live schedule.
        let claim = FireClaim {
            key: key.clone(),
            trigger: TriggerKind::Backfill,
            overlap: Overlap::Allow,
        };
        let now = Utc::now();
        let won = runner
            .store
            .claim_fires(
                std::slice::from_ref(&claim),
                runner.host_id(),
                now,
                now + lease,
            )
            .await?;
        let item = if won.first() == Some(&crate::store::Claim::Run) {
            let req = RunRequest {
                job: Some(config.job.clone()),
                trigger: TriggerKind::Backfill,
                scheduled_for: Some(at),
                schedule: Some(schedule.to_owned()),
                timeout: config.timeout,
                ..RunRequest::manual()
            };
            let outcome = runner.run(connector, req).await.map_err(runner_error);
            let now = Utc::now();
            runner
                .store
                .fire_done(&key, false, runner.host_id(), now, now + lease)
                .await?;
            Backfilled::Ran(outcome?)
        } else {
            Backfilled::Existed(at)
        };
        each(&item);
        done.push(item);
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn until_takes_a_time_or_a_duration() {
        let now: DateTime<Utc> = "2026-12-07T10:00:00Z".parse().unwrap();
        assert_eq!(
            parse_until("2h", now).unwrap().to_rfc3339(),
            "2026-12-07T12:00:00+00:00"
        );
        assert_eq!(
            parse_until("2026-12-24T08:00:00+02:00", now)
                .unwrap()
                .to_rfc3339(),
            "2026-12-24T06:00:00+00:00"
        );
        for bad in ["soon", "2w", "-1h", ""] {
            assert!(parse_until(bad, now).is_err(), "{bad}");
        }
    }
}
