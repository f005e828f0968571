//! Checks a connector's schedules: cron expression and time zone (parsed by `scheduler`), the
//! job each runs, and its overlap, missed-fire, jitter and timeout policies.

use std::collections::BTreeMap;
use std::time::Duration;

use super::raw::{Field, RawSchedule};
use super::validate::{is_name, join, Check, NAME};
use crate::scheduler::CronSchedule;

/// What a fire does while the previous run of the same schedule is still going.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overlap {
    /// Do not run (the default).
    Skip,
    /// Run once more when the current run ends, however many fires came meanwhile.
    QueueOne,
    /// Run anyway, alongside.
    Allow,
}

/// What happens to fires missed while no host was running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missed {
    /// One catch-up run for all the fires missed within the catch-up window (the default).
    Coalesce,
    /// One run per missed fire within the window, at most `max`.
    CatchUp {
        /// The most catch-up runs.
        max: u32,
    },
    /// None: wait for the next fire.
    Skip,
}

/// One schedule of a connector.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleConfig {
    /// The schedule's name (the key under `schedules`, or `default`).
    pub name: String,
    /// When it fires; keys `cron` (5, 6 or 7 fields) and `timezone` (IANA, default UTC).
    pub cron: CronSchedule,
    /// The job it runs (`run-context.job`); key `job`, default the schedule's name.
    pub job: String,
    /// The run deadline; key `timeout`, default the connector's.
    pub timeout: Option<Duration>,
    /// A random delay of up to this much after each fire; key `jitter`, default none, up to 1h.
    pub jitter: Duration,
    /// Key `overlap`: `skip` (default), `queue-one` or `allow`.
    pub overlap: Overlap,
    /// Key `missed`: `coalesce` (default), `catch-up` (with `catch_up_max`, default 10) or
    /// `skip`.
    pub missed: Missed,
    /// How far back missed fires count; key `catch_up_window`, default 24h.
    pub catch_up_window: Duration,
    /// Runs of one fire at most, counting the retries of runs abandoned by a host that died;
    /// key `max_attempts`, default 3, 1 to 10.
    pub max_attempts: u32,
}

impl Check<'_> {
    pub(super) fn schedules(
        &mut self,
        shorthand: Field<RawSchedule>,
        named: Field<BTreeMap<String, Field<RawSchedule>>>,
        at: &str,
    ) -> Vec<ScheduleConfig> {
        let mut out = Vec::new();
        let expected = "a table like { cron = \"0 2 * * *\", timezone = \"Europe/Malta\" }";
        if let Some(raw) = self.take(shorthand, &join(at, "schedule"), expected) {
            out.extend(self.schedule("default", raw, &join(at, "schedule")));
        }
        let expected = "a table of named schedules like { sync = { cron = \"0 2 * * *\" } }";
        let table = self.take(named, &join(at, "schedules"), expected);
        for (name, raw) in table.unwrap_or_default() {
            let sat = join(&join(at, "schedules"), &name);
            if !is_name(&name) {
                self.problem(&sat, format_args!("expected a schedule name of {NAME}"));
            }
            if name == "default" && out.iter().any(|s| s.name == "default") {
                self.problem(
                    &sat,
                    "`schedule` already defines the schedule named default",
                );
            }
            let expected = "a table like { cron = \"*/5 * * * *\" }";
            if let Some(raw) = self.take(raw, &sat, expected) {
                out.extend(self.schedule(&name, raw, &sat));
            }
        }
        out
    }

    fn schedule(&mut self, name: &str, raw: RawSchedule, at: &str) -> Option<ScheduleConfig> {
        let cron_at = join(at, "cron");
        let expr = self.take(raw.cron, &cron_at, "a cron expression like \"0 2 * * *\"");
        if expr.is_none() {
            self.problem(
                &cron_at,
                "a schedule needs a cron expression, like \"0 2 * * *\"",
            );
        }
        let zone_at = join(at, "timezone");
        let zone = self.take(raw.timezone, &zone_at, "an IANA zone like \"Europe/Malta\"");
        let job = self
            .take(raw.job, &join(at, "job"), "a job name like \"sync\"")
            .unwrap_or_else(|| name.to_owned());
        let day = Duration::from_secs(86_400);
        let timeout = match raw.timeout {
            f if matches!(f.state, super::raw::State::Missing) => None,
            f => Some(self.duration(
                f,
                &join(at, "timeout"),
                day / 96,
                (Duration::from_secs(1), day),
            )),
        };
        let jitter = self.duration(
            raw.jitter,
            &join(at, "jitter"),
            Duration::ZERO,
            (Duration::ZERO, day / 24),
        );
        let overlap_at = join(at, "overlap");
        let overlap = match self
            .take(raw.overlap, &overlap_at, "skip, queue-one or allow")
            .as_deref()
        {
            None | Some("skip") => Overlap::Skip,
            Some("queue-one") => Overlap::QueueOne,
            Some("allow") => Overlap::Allow,
            Some(other) => {
                self.problem(
                    &overlap_at,
                    format_args!("expected skip, queue-one or allow, found {other:?}"),
                );
                Overlap::Skip
            }
        };
        let max_at = join(at, "catch_up_max");
        let max = match self.take(raw.catch_up_max, &max_at, "an integer from 1 to 1000") {
            None => 10,
            Some(n @ 1..=1000) => n as u32,
            Some(n) => {
                self.problem(
                    &max_at,
                    format_args!("expected an integer from 1 to 1000, found {n}"),
                );
                10
            }
        };
        let missed_at = join(at, "missed");
        let missed = match self
            .take(raw.missed, &missed_at, "coalesce, catch-up or skip")
            .as_deref()
        {
            None | Some("coalesce") => Missed::Coalesce,
            Some("catch-up") => Missed::CatchUp { max },
            Some("skip") => Missed::Skip,
            Some(other) => {
                self.problem(
                    &missed_at,
                    format_args!("expected coalesce, catch-up or skip, found {other:?}"),
                );
                Missed::Coalesce
            }
        };
        let catch_up_window = self.duration(
            raw.catch_up_window,
            &join(at, "catch_up_window"),
            day,
            (Duration::from_secs(1), 30 * day),
        );
        let attempts_at = join(at, "max_attempts");
        let max_attempts =
            match self.take(raw.max_attempts, &attempts_at, "an integer from 1 to 10") {
                None => 3,
                Some(n @ 1..=10) => n as u32,
                Some(n) => {
                    self.problem(
                        &attempts_at,
                        format_args!("expected an integer from 1 to 10, found {n}"),
                    );
                    3
                }
            };
        let cron = match CronSchedule::parse(expr.as_deref()?, zone.as_deref().unwrap_or("UTC")) {
            Ok(cron) => cron,
            Err(e) => {
                let key = match e {
                    crate::scheduler::ScheduleError::TimeZone { .. } => zone_at,
                    _ => cron_at,
                };
                self.problem(&key, e);
                return None;
            }
        };
        Some(ScheduleConfig {
            name: name.to_owned(),
            cron,
            job,
            timeout,
            jitter,
            overlap,
            missed,
            catch_up_window,
            max_attempts,
        })
    }
}
