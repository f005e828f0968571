//! Test-only brute-force fire computation, independent of the `cron` crate and of `fire.rs`:
//! a tiny classic crontab field matcher, and a sweep through UTC time in fixed steps that
//! applies the Vixie daylight-saving rules directly.

use chrono::{DateTime, Datelike, Duration, NaiveDateTime, Timelike, Utc};
use chrono_tz::Tz;

/// A parsed classic expression: one bit per allowed value in each field.
pub struct Spec {
    second: u64,
    minute: u64,
    hour: u64,
    day: u64,
    month: u64,
    weekday: u64,
    /// Either day field starts with `*`: both must match; otherwise either may.
    days_and: bool,
    /// The minute or the hour field starts with `*`.
    pub interval: bool,
}

impl Spec {
    /// 5 fields (minute first) or 6 (second first); numbers, `*`, ranges, steps, lists.
    pub fn new(expression: &str) -> Spec {
        let mut fields: Vec<&str> = expression.split_whitespace().collect();
        if fields.len() == 5 {
            fields.insert(0, "0");
        }
        assert_eq!(
            fields.len(),
            6,
            "reference takes 5 or 6 fields: {expression}"
        );
        let weekday = bits(fields[5], 0, 7);
        Spec {
            second: bits(fields[0], 0, 59),
            minute: bits(fields[1], 0, 59),
            hour: bits(fields[2], 0, 23),
            day: bits(fields[3], 1, 31),
            month: bits(fields[4], 1, 12),
            // 7 is Sunday too.
            weekday: (weekday | (weekday >> 7)) & 0x7f,
            days_and: fields[3].starts_with('*') || fields[5].starts_with('*'),
            interval: fields[1].starts_with('*') || fields[2].starts_with('*'),
        }
    }

    /// Whether a local wall-clock time (as its parts) matches every field.
    fn matches(&self, at: Parts) -> bool {
        let has = |set: u64, value: u8| set & (1 << value) != 0;
        let day = has(self.day, at.day);
        let weekday = has(self.weekday, at.weekday);
        let days = if self.days_and {
            day && weekday
        } else {
            day || weekday
        };
        days && has(self.second, at.second)
            && has(self.minute, at.minute)
            && has(self.hour, at.hour)
            && has(self.month, at.month)
    }
}

/// The calendar parts of a local time that fields match against.
#[derive(Clone, Copy)]
struct Parts {
    second: u8,
    minute: u8,
    hour: u8,
    day: u8,
    month: u8,
    /// 0 is Sunday.
    weekday: u8,
}

impl Parts {
    fn of(local: NaiveDateTime) -> Parts {
        let part = |value: u32| value as u8;
        Parts {
            second: part(local.second()),
            minute: part(local.minute()),
            hour: part(local.hour()),
            day: part(local.day()),
            month: part(local.month()),
            weekday: part(local.weekday().num_days_from_sunday()),
        }
    }

    /// The parts of `seconds` later in the same day as `self` (when it is the start of it).
    fn later_today(self, seconds: i64) -> Parts {
        let part = |value: i64| value as u8;
        Parts {
            second: part(seconds % 60),
            minute: part(seconds / 60 % 60),
            hour: part(seconds / 3600),
            ..self
        }
    }
}

/// One instant of the sweep and its local reading.
pub struct Reading {
    /// The instant.
    pub at: DateTime<Utc>,
    /// Its local wall-clock reading.
    pub local: NaiveDateTime,
    /// The reading in seconds since 1970-01-01T00:00 local.
    seconds: i64,
    parts: Parts,
}

/// The bit set of one field whose values run from `low` to `high`.
fn bits(field: &str, low: u32, high: u32) -> u64 {
    let mut set = 0;
    for item in field.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((range, step)) => (range, step.parse::<u32>().unwrap()),
            None => (item, 1),
        };
        let (from, to) = match range {
            "*" => (low, high),
            _ => match range.split_once('-') {
                Some((from, to)) => (from.parse().unwrap(), to.parse().unwrap()),
                None if step > 1 => (range.parse().unwrap(), high),
                None => (range.parse().unwrap(), range.parse().unwrap()),
            },
        };
        for value in (from..=to).step_by(step as usize) {
            set |= 1 << value;
        }
    }
    set
}

/// The local reading of every `step` of UTC time from `start` to `end` inclusive.
pub fn readings(
    zone: Tz,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    step: Duration,
) -> Vec<Reading> {
    let mut out = Vec::new();
    let mut at = start;
    let mut midnight: Option<(i64, Parts)> = None;
    while at <= end {
        let local = at.with_timezone(&zone).naive_local();
        let seconds = local.and_utc().timestamp();
        let day = seconds.div_euclid(86_400);
        let start_of_day = match midnight {
            Some((known, parts)) if known == day => parts,
            _ => {
                let parts = Parts::of(local.date().and_hms_opt(0, 0, 0).unwrap());
                midnight = Some((day, parts));
                parts
            }
        };
        out.push(Reading {
            at,
            local,
            seconds,
            parts: start_of_day.later_today(seconds.rem_euclid(86_400)),
        });
        at += step;
    }
    out
}

/// The fires of `spec` after `from` among `readings` (a sweep that starts well before
/// `from`), by the rules themselves:
///
/// - interval-like: an instant fires when its local reading matches;
/// - fixed-time: an instant fires when the local times its reading newly reaches (beyond the
///   highest reading so far) include a match: normally just its own reading, after a
///   spring-forward jump every skipped local time too (so they fire once, right after the
///   jump), and during the second pass of a repeated hour none (so it fires once, first).
pub fn fires(
    spec: &Spec,
    readings: &[Reading],
    step: Duration,
    from: DateTime<Utc>,
) -> Vec<DateTime<Utc>> {
    let mut out = Vec::new();
    let step_seconds = step.num_seconds();
    let mut highest: Option<i64> = None;
    for reading in readings {
        let local = reading.seconds;
        let fires = if spec.interval {
            spec.matches(reading.parts)
        } else {
            match highest {
                Some(before) if local <= before => false,
                Some(before) if local == before + step_seconds => spec.matches(reading.parts),
                Some(before) => {
                    let skipped = (before + step_seconds..local).step_by(step_seconds as usize);
                    let skipped =
                        skipped.map(|seconds| reading.local + Duration::seconds(seconds - local));
                    skipped.map(Parts::of).any(|parts| spec.matches(parts))
                        || spec.matches(reading.parts)
                }
                None => spec.matches(reading.parts),
            }
        };
        highest = highest.max(Some(local));
        if fires && reading.at > from {
            out.push(reading.at);
        }
    }
    out
}
