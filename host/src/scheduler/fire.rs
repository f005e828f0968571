//! Fire times of one cron schedule in one IANA time zone, with the classic (Vixie) cron
//! daylight-saving rules; `CronSchedule` and `ScheduleError` live here.
//!
//! How it works: the `cron` crate enumerates matching *local wall-clock* times (it runs on a
//! naive timeline, UTC standing in for "no zone"), and each local time is mapped to instants:
//!
//! - its *first reaching* `m(L)`, the earliest instant whose local reading is `L` or later:
//!   the instant itself when `L` occurs once, the first pass when it occurs twice, and the end
//!   of the gap (the first instant after the jump) when `L` is skipped;
//! - for interval-like schedules only, the second pass of a repeated `L` too, and nothing for a
//!   skipped one.
//!
//! A fixed-time schedule fires at `m(L)` for every matching `L`; an interval-like one at every
//! instant whose local reading matches. `m` never decreases as `L` grows, and every instant of
//! a later `L` is at or after `m(L)`, so candidates are buffered until `m` of the latest local
//! time passes them, which yields fires strictly increasing, each once.

use std::collections::BTreeSet;
use std::fmt;

use chrono::{DateTime, Duration, LocalResult, NaiveDateTime, Offset, TimeZone, Timelike, Utc};
use chrono_tz::Tz;

use super::expr;

/// Why a schedule could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// The cron expression is malformed; `reason` names the field and the problem.
    #[error("bad cron expression `{expression}`: {reason}")]
    Expression {
        /// The expression as given.
        expression: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The time zone is not an IANA zone name known to the bundled tz database.
    #[error(
        "unknown time zone `{name}`: {}",
        match suggestion {
            Some(close) => format!("did you mean `{close}`?"),
            None => "expected an IANA zone name such as `Europe/Malta` or `UTC`".to_owned(),
        }
    )]
    TimeZone {
        /// The zone name as given.
        name: String,
        /// A known zone name close to it, when one is.
        suggestion: Option<String>,
    },
}

/// A cron schedule in a time zone: which instants it fires at.
#[derive(Debug, Clone)]
pub struct CronSchedule {
    expression: String,
    timezone: Tz,
    interval: bool,
    schedules: Vec<cron::Schedule>,
}

/// Two schedules are equal when they were written the same: same expression, same zone.
impl PartialEq for CronSchedule {
    fn eq(&self, other: &Self) -> bool {
        self.expression == other.expression && self.timezone == other.timezone
    }
}

impl CronSchedule {
    /// Parses a cron expression with 5 fields (minute hour day-of-month month day-of-week),
    /// 6 (seconds first) or 7 (seconds first, year last), or an `@` shorthand (`@daily`,
    /// `@hourly`, …), in the IANA zone `timezone` (pass `"UTC"` for the default).
    ///
    /// Fields have their classic crontab(5) meanings: day of week `0`–`7` with `0` and `7`
    /// Sunday (or `SUN`–`SAT`), and when both day fields are restricted either one matching is
    /// enough.
    pub fn parse(expr: &str, timezone: &str) -> Result<CronSchedule, ScheduleError> {
        let parsed = expr::parse(expr).map_err(|reason| ScheduleError::Expression {
            expression: expr.to_owned(),
            reason,
        })?;
        let zone = parse_zone(timezone)?;
        Ok(CronSchedule {
            expression: expr.trim().to_owned(),
            timezone: zone,
            interval: parsed.interval,
            schedules: parsed.schedules,
        })
    }

    /// True when the minute or the hour field starts with `*` (interval-like: follows real
    /// time through daylight-saving changes); false for fixed-time schedules.
    pub fn is_interval(&self) -> bool {
        self.interval
    }

    /// The expression as given (trimmed).
    pub fn expression(&self) -> &str {
        &self.expression
    }

    /// The time zone the expression is read in.
    pub fn timezone(&self) -> Tz {
        self.timezone
    }

    /// The first fire strictly after `after`, or `None` when there is none (the `cron` crate
    /// stops at the year 2100).
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.fires_after(after).next()
    }

    /// The fires in `(from, to]`, in order, at most `max` of them (for missed-fire catch-up).
    pub fn fires_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        max: usize,
    ) -> Vec<DateTime<Utc>> {
        if to <= from {
            return Vec::new();
        }
        self.fires_after(from)
            .take_while(|fire| *fire <= to)
            .take(max)
            .collect()
    }

    /// The next `n` fires strictly after `after`, in order.
    pub fn upcoming(&self, after: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
        self.fires_after(after).take(n).collect()
    }

    /// All fires strictly after `after`, strictly increasing (lazily: an iterator).
    pub fn fires_after(&self, after: DateTime<Utc>) -> impl Iterator<Item = DateTime<Utc>> + '_ {
        self.fires_iter(after)
    }

    fn fires_iter(&self, after: DateTime<Utc>) -> Fires<'_> {
        let start = earliest_relevant_local(self.timezone, after);
        let candidates = match start {
            Some(start) => self
                .schedules
                .iter()
                .map(|schedule| schedule.after(&start.and_utc()).peekable())
                .collect(),
            None => Vec::new(),
        };
        Fires {
            timezone: self.timezone,
            interval: self.interval,
            candidates,
            pending: BTreeSet::new(),
            floor: after,
            frontier: None,
            exhausted: false,
        }
    }
}

impl fmt::Display for CronSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.expression, self.timezone.name())
    }
}

/// Looks `name` up among the IANA zones, suggesting a close name when it is not one.
fn parse_zone(name: &str) -> Result<Tz, ScheduleError> {
    let trimmed = name.trim();
    if let Ok(zone) = trimmed.parse::<Tz>() {
        return Ok(zone);
    }
    let names = || chrono_tz::TZ_VARIANTS.iter().map(|zone| zone.name());
    let wanted = trimmed.replace(' ', "_");
    // "malta" → "Europe/Malta", "Sao Paulo" → "America/Sao_Paulo".
    let city = |known: &&str| {
        known
            .rsplit('/')
            .next()
            .is_some_and(|city| city.eq_ignore_ascii_case(&wanted))
    };
    let by_city = names()
        .find(|known| known.eq_ignore_ascii_case(&wanted))
        .or_else(|| names().find(city));
    let suggestion = by_city.or_else(|| crate::suggest::closest(&wanted, names()));
    Err(ScheduleError::TimeZone {
        name: name.to_owned(),
        suggestion: suggestion.map(str::to_owned),
    })
}

/// How far ahead of an instant a fall-back can take the local clock below its current
/// reading. In the bundled tz database the largest backward change is 7 h since 1970
/// (Antarctica/Vostok, 1994) and about a day before (Pacific/Kwajalein, 1969); a little more.
const LOOK_AHEAD: Duration = Duration::hours(26);
/// Sampling step for offsets over `LOOK_AHEAD`; the shortest span of one offset in the
/// database is close to a week, so no span hides between two samples.
const OFFSET_STEP: Duration = Duration::hours(1);

/// A local time at or before every local reading of every instant after `after`, so that
/// enumerating matching local times from it misses no fire (second passes of a repeated hour
/// that is about to come included). Earlier is only slower, never wrong. `None` when the
/// readings fall outside the calendar's range.
fn earliest_relevant_local(zone: Tz, after: DateTime<Utc>) -> Option<NaiveDateTime> {
    let after = after.with_nanosecond(0).unwrap_or(after);
    // The reading at `at` of the offset in force at `offset_at`.
    let reading = |at: DateTime<Utc>, offset_at: DateTime<Utc>| {
        let offset = zone.offset_from_utc_datetime(&offset_at.naive_utc()).fix();
        let offset = Duration::seconds(offset.local_minus_utc().into());
        at.naive_utc().checked_add_signed(offset)
    };
    let mut lowest = reading(after, after)?;
    let mut previous = after;
    let steps = LOOK_AHEAD.num_seconds() / OFFSET_STEP.num_seconds();
    for step in 1..=steps {
        let Some(sample) = after.checked_add_signed(OFFSET_STEP * step as i32) else {
            break;
        };
        // The span holding `sample` may begin just after `previous`: its readings start there.
        lowest = lowest.min(reading(previous, sample)?);
        previous = sample;
    }
    lowest.checked_sub_signed(Duration::seconds(1))
}

/// The instants of one local time: `first` is its first reaching `m(L)` (see the module
/// docs); `again` its second pass when it occurs twice; `skipped` when it does not occur.
struct Reading {
    first: Option<DateTime<Utc>>,
    again: Option<DateTime<Utc>>,
    skipped: bool,
}

fn read(zone: Tz, local: NaiveDateTime) -> Reading {
    match zone.from_local_datetime(&local) {
        LocalResult::Single(at) => Reading {
            first: Some(at.to_utc()),
            again: None,
            skipped: false,
        },
        LocalResult::Ambiguous(one, other) => Reading {
            first: Some(one.to_utc().min(other.to_utc())),
            again: Some(one.to_utc().max(other.to_utc())),
            skipped: false,
        },
        LocalResult::None => Reading {
            first: gap_end(zone, local),
            again: None,
            skipped: true,
        },
    }
}

/// The first instant after the gap holding the non-existent local time `local`: the instant
/// of the first local time after it that exists.
fn gap_end(zone: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    let exists = |at: NaiveDateTime| !matches!(zone.from_local_datetime(&at), LocalResult::None);
    let mut missing = local;
    let mut step = Duration::minutes(1);
    let mut present = loop {
        let probe = local.checked_add_signed(step)?;
        if exists(probe) {
            break probe;
        }
        missing = probe;
        if step > Duration::days(3) {
            return None;
        }
        step = step * 2;
    };
    while (present - missing).num_seconds() > 1 {
        let middle = missing + Duration::seconds((present - missing).num_seconds() / 2);
        if exists(middle) {
            present = middle;
        } else {
            missing = middle;
        }
    }
    zone.from_local_datetime(&present)
        .earliest()
        .map(|at| at.to_utc())
}

/// The fires of a schedule after some instant, strictly increasing.
struct Fires<'a> {
    timezone: Tz,
    interval: bool,
    /// Matching local times, one iterator per `cron::Schedule` (merged here).
    candidates: Vec<std::iter::Peekable<cron::ScheduleIterator<'a, Utc>>>,
    /// Fires found but not yet safe to yield (an earlier one may still come).
    pending: BTreeSet<DateTime<Utc>>,
    /// Only instants after this are fires: the start, then the last one yielded.
    floor: DateTime<Utc>,
    /// `m` of the latest local time: every fire not yet found is at or after it.
    frontier: Option<DateTime<Utc>>,
    exhausted: bool,
}

impl Fires<'_> {
    /// The next matching local time of the union of the schedules.
    fn next_local(&mut self) -> Option<NaiveDateTime> {
        let next = self
            .candidates
            .iter_mut()
            .filter_map(|candidates| candidates.peek().map(DateTime::naive_utc))
            .min()?;
        for candidates in &mut self.candidates {
            if candidates.peek().map(DateTime::naive_utc) == Some(next) {
                candidates.next();
            }
        }
        Some(next)
    }

    fn keep(&mut self, instant: Option<DateTime<Utc>>) {
        if let Some(instant) = instant.filter(|instant| *instant > self.floor) {
            self.pending.insert(instant);
        }
    }
}

impl Iterator for Fires<'_> {
    type Item = DateTime<Utc>;

    fn next(&mut self) -> Option<DateTime<Utc>> {
        loop {
            match self.pending.first().copied() {
                Some(first) if self.exhausted || self.frontier.is_some_and(|f| first <= f) => {
                    self.pending.pop_first();
                    self.floor = first;
                    return Some(first);
                }
                None if self.exhausted => return None,
                _ => {}
            }
            let Some(local) = self.next_local() else {
                self.exhausted = true;
                continue;
            };
            let reading = read(self.timezone, local);
            if reading.first.is_some() {
                self.frontier = reading.first;
            }
            if !self.interval {
                self.keep(reading.first);
            } else if !reading.skipped {
                self.keep(reading.first);
                self.keep(reading.again);
            }
        }
    }
}
