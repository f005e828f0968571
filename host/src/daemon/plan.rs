//! Which fires are due: each schedule's cursor, the missed-fire policy, and jitter. Pure and
//! clock-free (every call takes `now`), so tests can replay downtime, DST and years of fires.
//!
//! A schedule's cursor is the instant up to which its fires have been considered. At each
//! tick the fires in `(cursor, now]` are due. The last of them is *on time* when it is at most
//! [`ON_TIME`] old; it fires as a `schedule` run. The others were missed (the host was down or
//! stalled) and follow the schedule's policy: `coalesce` folds them into one `catch-up` run (or
//! into the on-time run, if there is one), `catch-up` runs the most recent `max` of them in
//! order, `skip` drops them. Fires older than the catch-up window are dropped under every policy.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::manifest::{Missed, ScheduleConfig};
use crate::store::TriggerKind;

/// How late the newest due fire may be and still count as on time rather than missed.
pub const ON_TIME: Duration = Duration::from_secs(60);

/// The fires of one schedule decided at one tick, to run one after another (none when the
/// policy dropped every missed fire).
#[derive(Debug, Clone)]
pub struct Batch {
    /// The connector.
    pub connector: String,
    /// The schedule.
    pub schedule: Arc<ScheduleConfig>,
    /// Fire instants, oldest first, with why each runs.
    pub fires: Vec<(DateTime<Utc>, TriggerKind)>,
    /// How long to wait before the first fire (random, up to the schedule's `jitter`).
    pub delay: Duration,
    /// Missed fires that the policy dropped.
    pub dropped: u64,
}

#[derive(Debug)]
struct Entry {
    schedule: Arc<ScheduleConfig>,
    cursor: DateTime<Utc>,
    next: Option<DateTime<Utc>>,
}

/// Every schedule of a host, keyed by `(connector, schedule name)`.
#[derive(Debug, Default)]
pub struct Planner {
    entries: BTreeMap<(String, String), Entry>,
}

impl Planner {
    /// An empty planner.
    pub fn new() -> Self {
        Planner::default()
    }

    /// Replaces the set of schedules. A schedule that is unchanged keeps its cursor; a changed
    /// one starts from `now`; one this planner did not have starts from `resume(connector,
    /// schedule)` (the last recorded fire, so that fires missed while no host ran are caught up
    /// per policy) or else from `now` (nothing before it is owed).
    pub fn set_schedules(
        &mut self,
        schedules: Vec<(String, ScheduleConfig)>,
        now: DateTime<Utc>,
        resume: impl Fn(&str, &str) -> Option<DateTime<Utc>>,
    ) {
        let mut old = std::mem::take(&mut self.entries);
        for (connector, schedule) in schedules {
            let key = (connector, schedule.name.clone());
            let entry = match old.remove(&key) {
                Some(e) if *e.schedule == schedule => e,
                previous => {
                    // A changed schedule starts over: fires of its new expression between its
                    // last fire under the old one and now were never owed.
                    let cursor = match previous {
                        Some(_) => now,
                        None => resume(&key.0, &key.1).map_or(now, |t| t.min(now)),
                    };
                    Entry {
                        next: schedule.cron.next_after(cursor),
                        schedule: Arc::new(schedule),
                        cursor,
                    }
                }
            };
            self.entries.insert(key, entry);
        }
    }

    /// The earliest next fire of any schedule.
    pub fn next_wake(&self) -> Option<DateTime<Utc>> {
        self.entries.values().filter_map(|e| e.next).min()
    }

    /// The next fire of each schedule, by `(connector, schedule)`.
    pub fn next_fires(&self) -> Vec<(&str, &str, Option<DateTime<Utc>>)> {
        self.entries
            .iter()
            .map(|((c, s), e)| (c.as_str(), s.as_str(), e.next))
            .collect()
    }

    /// Advances every schedule to `now` and returns what to fire, choosing jitter with `rng`.
    pub fn due(&mut self, now: DateTime<Utc>, rng: &mut fastrand::Rng) -> Vec<Batch> {
        let mut batches = Vec::new();
        for ((connector, _), entry) in &mut self.entries {
            let Some(next) = entry.next.filter(|next| *next <= now) else {
                continue;
            };
            // The common case, one on-time fire: one cron step instead of a scan.
            let following = entry.schedule.cron.next_after(next);
            let on_time = (now - next).to_std().unwrap_or_default() <= ON_TIME;
            if on_time && following.is_none_or(|f| f > now) {
                entry.cursor = now;
                entry.next = following;
                batches.push(Batch {
                    connector: connector.clone(),
                    schedule: entry.schedule.clone(),
                    fires: vec![(next, TriggerKind::Schedule)],
                    delay: jitter(entry.schedule.jitter, rng),
                    dropped: 0,
                });
                continue;
            }
            let window = chrono::Duration::from_std(entry.schedule.catch_up_window)
                .unwrap_or(chrono::TimeDelta::MAX);
            let from = entry.cursor.max(now - window);
            // Fires older than the window are owed nothing (counted, up to a bound, for logs).
            let dropped_before_window = if entry.cursor < from {
                entry
                    .schedule
                    .cron
                    .fires_after(entry.cursor)
                    .take_while(|fire| *fire <= from)
                    .take(100_000)
                    .count() as u64
            } else {
                0
            };
            let keep = match entry.schedule.missed {
                Missed::CatchUp { max } => max as usize + 1,
                _ => 1,
            };
            // Only the newest `keep` fires matter; count the rest without keeping them.
            let mut recent = std::collections::VecDeque::with_capacity(keep);
            let mut total: u64 = 0;
            for fire in entry
                .schedule
                .cron
                .fires_after(from)
                .take_while(|fire| *fire <= now)
            {
                total += 1;
                if recent.len() == keep {
                    recent.pop_front();
                }
                recent.push_back(fire);
            }
            entry.cursor = now;
            entry.next = entry.schedule.cron.next_after(now);
            let Some(&newest) = recent.back() else {
                continue;
            };
            let on_time = (now - newest).to_std().unwrap_or_default() <= ON_TIME;
            let (fires, dropped) = decide(&entry.schedule.missed, &recent, total, on_time);
            let dropped = dropped + dropped_before_window;
            if dropped > 0 {
                tracing::info!(
                    connector = %connector,
                    schedule = %entry.schedule.name,
                    dropped,
                    "missed fires not run, per the schedule's missed-fire policy"
                );
            }
            if fires.is_empty() && dropped == 0 {
                continue;
            }
            batches.push(Batch {
                connector: connector.clone(),
                schedule: entry.schedule.clone(),
                fires,
                delay: jitter(entry.schedule.jitter, rng),
                dropped,
            });
        }
        batches
    }
}

/// A random delay of up to `bound`, in whole milliseconds.
fn jitter(bound: Duration, rng: &mut fastrand::Rng) -> Duration {
    if bound.is_zero() {
        Duration::ZERO
    } else {
        Duration::from_millis(rng.u64(0..=bound.as_millis() as u64))
    }
}

/// Applies a missed-fire policy to the newest due fires (`recent`, oldest first, `total` due in
/// all); returns what to run and how many were dropped.
fn decide(
    missed: &Missed,
    recent: &std::collections::VecDeque<DateTime<Utc>>,
    total: u64,
    on_time: bool,
) -> (Vec<(DateTime<Utc>, TriggerKind)>, u64) {
    let newest = *recent.back().expect("at least one fire");
    let missed_count = if on_time { total - 1 } else { total };
    let missed_recent: Vec<DateTime<Utc>> = recent
        .iter()
        .copied()
        .take(recent.len() - usize::from(on_time))
        .collect();
    let mut fires = Vec::new();
    let dropped;
    match missed {
        Missed::Skip => {
            dropped = missed_count;
            if on_time {
                fires.push((newest, TriggerKind::Schedule));
            }
        }
        Missed::Coalesce => {
            if on_time {
                dropped = missed_count;
                fires.push((newest, TriggerKind::Schedule));
            } else {
                dropped = missed_count - 1;
                fires.push((newest, TriggerKind::CatchUp));
            }
        }
        Missed::CatchUp { max } => {
            let take = missed_recent.len().min(*max as usize);
            let skip = missed_recent.len() - take;
            fires.extend(
                missed_recent[skip..]
                    .iter()
                    .map(|&t| (t, TriggerKind::CatchUp)),
            );
            dropped = missed_count - take as u64;
            if on_time {
                fires.push((newest, TriggerKind::Schedule));
            }
        }
    }
    (fires, dropped)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::Overlap;
    use crate::scheduler::CronSchedule;
    use chrono::TimeZone;

    fn schedule(cron: &str, missed: Missed, jitter: Duration) -> ScheduleConfig {
        ScheduleConfig {
            name: "s".into(),
            cron: CronSchedule::parse(cron, "UTC").unwrap(),
            job: "sync".into(),
            timeout: None,
            jitter,
            overlap: Overlap::Skip,
            missed,
            catch_up_window: Duration::from_secs(86_400),
            max_attempts: 3,
        }
    }

    fn t(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 6, 1, h, m, s).unwrap()
    }

    fn planner(s: ScheduleConfig, start: DateTime<Utc>) -> Planner {
        let mut p = Planner::new();
        p.set_schedules(vec![("c".into(), s)], start, |_, _| None);
        p
    }

    #[test]
    fn jitter_delays_stay_within_the_bound_and_spread_over_it() {
        let bound = Duration::from_secs(10);
        let mut p = planner(schedule("* * * * * *", Missed::Coalesce, bound), t(0, 0, 0));
        let mut rng = fastrand::Rng::with_seed(7);
        let mut delays = Vec::new();
        for s in 1..=3000 {
            let batches = p.due(t(0, 0, 0) + chrono::Duration::seconds(s), &mut rng);
            assert_eq!(batches.len(), 1);
            delays.push(batches[0].delay);
        }
        assert!(delays.iter().all(|d| *d <= bound));
        let min = delays.iter().min().unwrap();
        let max = delays.iter().max().unwrap();
        assert!(*min < Duration::from_millis(100), "{min:?}");
        assert!(*max > Duration::from_millis(9_900), "{max:?}");
        let mean = delays.iter().sum::<Duration>() / delays.len() as u32;
        assert!(
            (Duration::from_millis(4_500)..Duration::from_millis(5_500)).contains(&mean),
            "{mean:?}"
        );
        let mut none = planner(
            schedule("* * * * * *", Missed::Coalesce, Duration::ZERO),
            t(0, 0, 0),
        );
        assert_eq!(none.due(t(0, 0, 1), &mut rng)[0].delay, Duration::ZERO);
    }

    #[test]
    fn nothing_is_due_before_the_next_fire_and_each_fire_comes_once() {
        let mut rng = fastrand::Rng::with_seed(1);
        let mut p = planner(
            schedule("0 * * * *", Missed::Coalesce, Duration::ZERO),
            t(9, 30, 0),
        );
        assert_eq!(p.next_wake(), Some(t(10, 0, 0)));
        assert!(p.due(t(9, 59, 59), &mut rng).is_empty());
        let b = p.due(t(10, 0, 0), &mut rng);
        assert_eq!(b[0].fires, [(t(10, 0, 0), TriggerKind::Schedule)]);
        assert!(p.due(t(10, 0, 0), &mut rng).is_empty());
        assert!(p.due(t(10, 30, 0), &mut rng).is_empty());
        assert_eq!(p.next_wake(), Some(t(11, 0, 0)));
    }

    #[test]
    fn missed_fire_policies() {
        let mut rng = fastrand::Rng::with_seed(1);
        // Hourly; the host stopped after 03:00 and is back at 08:20 (08:00 is 20 min late).
        let run = |missed| {
            let mut p = planner(schedule("0 * * * *", missed, Duration::ZERO), t(3, 0, 0));
            let b = p.due(t(8, 20, 0), &mut fastrand::Rng::with_seed(1));
            b.first()
                .map(|b| (b.fires.clone(), b.dropped))
                .unwrap_or_default()
        };
        let c = TriggerKind::CatchUp;
        assert_eq!(run(Missed::Coalesce), (vec![(t(8, 0, 0), c)], 4));
        assert_eq!(
            run(Missed::CatchUp { max: 2 }),
            (vec![(t(7, 0, 0), c), (t(8, 0, 0), c)], 3)
        );
        assert_eq!(run(Missed::Skip), (vec![], 5));
        // Back at 08:00:30: 08:00 is on time and runs as scheduled; the rest follow the policy.
        let mut p = planner(
            schedule("0 * * * *", Missed::CatchUp { max: 2 }, Duration::ZERO),
            t(3, 0, 0),
        );
        let b = p.due(t(8, 0, 30), &mut rng);
        assert_eq!(
            b[0].fires,
            [
                (t(6, 0, 0), c),
                (t(7, 0, 0), c),
                (t(8, 0, 0), TriggerKind::Schedule)
            ]
        );
        assert_eq!(b[0].dropped, 2);
    }

    #[test]
    fn the_catch_up_window_bounds_what_is_owed() {
        let mut s = schedule("0 * * * *", Missed::CatchUp { max: 100 }, Duration::ZERO);
        s.catch_up_window = Duration::from_secs(3 * 3600);
        let mut p = planner(s, t(0, 0, 0));
        let b = p.due(t(8, 30, 0), &mut fastrand::Rng::with_seed(1));
        let fires: Vec<_> = b[0].fires.iter().map(|f| f.0).collect();
        assert_eq!(fires, [t(6, 0, 0), t(7, 0, 0), t(8, 0, 0)]);
    }

    #[test]
    fn reloading_keeps_the_cursor_of_an_unchanged_schedule_and_restarts_a_changed_one() {
        let mut rng = fastrand::Rng::with_seed(1);
        let s = schedule("0 * * * *", Missed::Coalesce, Duration::ZERO);
        let mut p = planner(s.clone(), t(3, 0, 0));
        // The same schedule again, at 05:30: fires since 03:00 are still owed.
        p.set_schedules(vec![("c".into(), s.clone())], t(5, 30, 0), |_, _| None);
        assert_eq!(p.due(t(5, 30, 0), &mut rng)[0].fires[0].0, t(5, 0, 0));
        // A changed one starts over from the reload, even with an older fire recorded: nothing
        // is owed before it.
        let mut changed = s;
        changed.cron = CronSchedule::parse("30 * * * *", "UTC").unwrap();
        p.set_schedules(vec![("c".into(), changed)], t(6, 45, 0), |_, _| {
            Some(t(5, 0, 0))
        });
        assert!(p.due(t(6, 50, 0), &mut rng).is_empty());
        assert_eq!(p.next_wake(), Some(t(7, 30, 0)));
    }

    /// Ticks every 20 seconds from `from` to `to` and returns every fire, as the loop would.
    fn tick_through(cron: &str, zone: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<String> {
        let mut s = schedule(cron, Missed::Coalesce, Duration::ZERO);
        s.cron = CronSchedule::parse(cron, zone).unwrap();
        let mut p = planner(s, from);
        let mut rng = fastrand::Rng::with_seed(3);
        let mut fired = Vec::new();
        let mut now = from;
        while now < to {
            now += chrono::Duration::seconds(20);
            for b in p.due(now, &mut rng) {
                for (at, trigger) in b.fires {
                    assert_eq!(trigger, TriggerKind::Schedule);
                    assert!(now - at < chrono::Duration::seconds(20), "late fire");
                    fired.push(at.format("%m-%d %H:%M").to_string());
                }
            }
        }
        fired
    }

    #[test]
    fn ticking_through_malta_dst_changes_fires_by_the_vixie_rules() {
        let utc = |m, d, h| Utc.with_ymd_and_hms(2025, m, d, h, 0, 0).unwrap();
        // Spring forward 2025-03-30 02:00 → 03:00 (01:00 UTC): 02:30 does not exist and fires
        // once right after the jump, at 03:00 local = 01:00 UTC.
        let spring = tick_through("30 2 * * *", "Europe/Malta", utc(3, 29, 12), utc(3, 31, 12));
        assert_eq!(spring, ["03-30 01:00", "03-31 00:30"]);
        // Fall back 2025-10-26 03:00 → 02:00 (01:00 UTC): 02:30 happens twice, fires once, at
        // the first (00:30 UTC).
        let fall = tick_through(
            "30 2 * * *",
            "Europe/Malta",
            utc(10, 25, 12),
            utc(10, 27, 12),
        );
        assert_eq!(fall, ["10-26 00:30", "10-27 01:30"]);
        // An interval schedule follows real time: both passes of the repeated hour fire.
        let every30 = tick_through(
            "*/30 2 * * *",
            "Europe/Malta",
            utc(10, 25, 23),
            utc(10, 26, 3),
        );
        assert_eq!(
            every30,
            ["10-26 00:00", "10-26 00:30", "10-26 01:00", "10-26 01:30"]
        );
    }
}
