//! Tests of schedule fire times at daylight-saving edges in several zones, field meanings,
//! limits and parse errors (whole-year comparisons are in `year_tests.rs`).

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Timelike, Utc};
use chrono_tz::Tz;

use super::{CronSchedule, ScheduleError};

fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().to_utc()
}

fn schedule(expression: &str, zone: &str) -> CronSchedule {
    CronSchedule::parse(expression, zone).unwrap()
}

/// Fires in `(from, to]` as RFC 3339 UTC text, for readable assertions.
fn between(expression: &str, zone: &str, from: &str, to: &str) -> Vec<String> {
    schedule(expression, zone)
        .fires_between(utc(from), utc(to), usize::MAX)
        .iter()
        .map(|at| at.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .collect()
}

#[test]
fn fixed_time_fires_once_after_a_gap_and_once_in_a_repeated_hour() {
    // Malta: 2025-03-30 02:00 → 03:00 (CET → CEST); 2025-10-26 03:00 → 02:00.
    let spring = between(
        "30 2 * * *",
        "Europe/Malta",
        "2025-03-28T12:00:00Z",
        "2025-03-31T12:00:00Z",
    );
    assert_eq!(
        spring,
        [
            "2025-03-29T01:30:00Z",
            "2025-03-30T01:00:00Z",
            "2025-03-31T00:30:00Z"
        ]
    );
    let autumn = between(
        "30 2 * * *",
        "Europe/Malta",
        "2025-10-24T12:00:00Z",
        "2025-10-27T12:00:00Z",
    );
    assert_eq!(
        autumn,
        [
            "2025-10-25T00:30:00Z",
            "2025-10-26T00:30:00Z",
            "2025-10-27T01:30:00Z"
        ]
    );
    // A skipped local time that lands on a regular fire still fires once.
    let merged = between(
        "0,30 2,3 * * *",
        "Europe/Malta",
        "2025-03-29T23:00:00Z",
        "2025-03-30T03:00:00Z",
    );
    assert_eq!(merged, ["2025-03-30T01:00:00Z", "2025-03-30T01:30:00Z"]);
    // Several skipped fires of one gap collapse into one; the first pass only in autumn.
    let spread = between(
        "0-59/10 2 * * *",
        "Europe/Malta",
        "2025-03-29T23:00:00Z",
        "2025-03-30T23:00:00Z",
    );
    assert_eq!(spread, ["2025-03-30T01:00:00Z"]);
    let spread = between(
        "0-59/10 2 * * *",
        "Europe/Malta",
        "2025-10-25T23:00:00Z",
        "2025-10-26T23:00:00Z",
    );
    assert_eq!(spread.len(), 6);
    assert_eq!(spread[0], "2025-10-26T00:00:00Z");
    assert_eq!(spread[5], "2025-10-26T00:50:00Z");
}

#[test]
fn hourly_fires_in_both_passes_and_not_in_a_gap() {
    let zone: Tz = "Europe/Malta".parse().unwrap();
    let autumn = between(
        "0 * * * *",
        "Europe/Malta",
        "2025-10-25T22:30:00Z",
        "2025-10-26T03:30:00Z",
    );
    assert_eq!(
        autumn,
        [
            "2025-10-25T23:00:00Z", // 01:00 CEST
            "2025-10-26T00:00:00Z", // 02:00 CEST
            "2025-10-26T01:00:00Z", // 02:00 CET
            "2025-10-26T02:00:00Z", // 03:00 CET
            "2025-10-26T03:00:00Z",
        ]
    );
    let spring = schedule("0 * * * *", "Europe/Malta").fires_between(
        utc("2025-03-29T22:30:00Z"),
        utc("2025-03-30T03:30:00Z"),
        usize::MAX,
    );
    let hours: Vec<u32> = spring
        .iter()
        .map(|at| at.with_timezone(&zone).hour())
        .collect();
    assert_eq!(hours, [0, 1, 3, 4, 5]);
}

#[test]
fn quarter_hourly_follows_real_time_through_both_changes() {
    let quarter = schedule("*/15 * * * *", "Europe/Malta");
    assert!(quarter.is_interval());
    for (day, expected) in [("2025-03-30", 23 * 4), ("2025-10-26", 25 * 4)] {
        let zone = quarter.timezone();
        let date: NaiveDate = day.parse().unwrap();
        let start = zone
            .from_local_datetime(&date.and_hms_opt(0, 0, 0).unwrap())
            .unwrap();
        let next_day = date.succ_opt().unwrap().and_hms_opt(0, 0, 0).unwrap();
        let end = zone.from_local_datetime(&next_day).unwrap();
        let fires = quarter.fires_between(
            start.to_utc() - Duration::seconds(1),
            end.to_utc() - Duration::seconds(1),
            1000,
        );
        assert_eq!(fires.len(), expected, "{day}");
        assert!(fires
            .windows(2)
            .all(|pair| pair[1] - pair[0] == Duration::minutes(15)));
    }
}

#[test]
fn seconds_field() {
    let tens = schedule("*/10 * * * * *", "Europe/Malta");
    assert!(tens.is_interval());
    let fires = tens.fires_between(
        utc("2025-10-26T00:59:35Z"),
        utc("2025-10-26T01:00:25Z"),
        100,
    );
    let expected: Vec<_> = (0..5)
        .map(|i| utc("2025-10-26T00:59:40Z") + Duration::seconds(10 * i))
        .collect();
    assert_eq!(fires, expected);
    // Fixed-time with seconds: the skipped 02:30:15 fires at the jump, the repeated one once.
    let fixed = schedule("15 30 2 * * *", "Europe/Malta");
    assert!(!fixed.is_interval());
    assert_eq!(
        fixed.next_after(utc("2025-03-29T12:00:00Z")),
        Some(utc("2025-03-30T01:00:00Z"))
    );
    let autumn = fixed.upcoming(utc("2025-10-25T12:00:00Z"), 2);
    assert_eq!(
        autumn,
        [utc("2025-10-26T00:30:15Z"), utc("2025-10-27T01:30:15Z")]
    );
    // Sub-second starting points: strictly after, whole seconds out.
    assert_eq!(
        tens.next_after(utc("2025-06-01T00:00:10.250Z")),
        Some(utc("2025-06-01T00:00:20Z"))
    );
    assert_eq!(
        tens.next_after(utc("2025-06-01T00:00:09.999Z")),
        Some(utc("2025-06-01T00:00:10Z"))
    );
}

#[test]
fn johannesburg_and_utc_have_no_daylight_saving() {
    let daily = schedule("0 2 * * *", "Africa/Johannesburg");
    let fires = daily.fires_between(
        utc("2024-12-31T23:59:59Z"),
        utc("2025-12-31T23:59:59Z"),
        1000,
    );
    assert_eq!(fires.len(), 365);
    assert!(fires.iter().all(|at| at.time() == chrono::NaiveTime::MIN));
    let hourly = schedule("@hourly", "UTC");
    assert!(hourly.is_interval());
    let fires = hourly.upcoming(utc("2025-03-30T00:30:00Z"), 3);
    assert_eq!(
        fires,
        [
            utc("2025-03-30T01:00:00Z"),
            utc("2025-03-30T02:00:00Z"),
            utc("2025-03-30T03:00:00Z")
        ]
    );
}

#[test]
fn sao_paulo_2018_midnight_gap_and_repeated_evening_hour() {
    // 2018-02-18 00:00 -02 → 2018-02-17 23:00 -03; 2018-11-04 00:00 -03 → 01:00 -02.
    let zone = "America/Sao_Paulo";
    let midnight = between(
        "0 0 * * *",
        zone,
        "2018-11-02T12:00:00Z",
        "2018-11-05T12:00:00Z",
    );
    assert_eq!(
        midnight,
        [
            "2018-11-03T03:00:00Z",
            "2018-11-04T03:00:00Z",
            "2018-11-05T02:00:00Z"
        ]
    );
    let evening = between(
        "30 23 * * *",
        zone,
        "2018-02-16T12:00:00Z",
        "2018-02-19T12:00:00Z",
    );
    assert_eq!(
        evening,
        [
            "2018-02-17T01:30:00Z",
            "2018-02-18T01:30:00Z",
            "2018-02-19T02:30:00Z"
        ]
    );
    let halves = between(
        "*/30 * * * *",
        zone,
        "2018-02-18T01:00:00Z",
        "2018-02-18T03:00:00Z",
    );
    assert_eq!(
        halves,
        [
            "2018-02-18T01:30:00Z", // 23:30 -02
            "2018-02-18T02:00:00Z", // 23:00 -03
            "2018-02-18T02:30:00Z", // 23:30 -03
            "2018-02-18T03:00:00Z", // 00:00 -03
        ]
    );
}

#[test]
fn classic_field_meanings() {
    // Day of week 1 is Monday, 0 and 7 Sunday (the `cron` crate alone counts 1 = Sunday).
    let monday = schedule("0 9 * * 1", "UTC").next_after(utc("2025-06-01T00:00:00Z"));
    assert_eq!(monday, Some(utc("2025-06-02T09:00:00Z")));
    for sunday in ["0 9 * * 0", "0 9 * * 7", "0 9 * * SUN", "0 9 * * 0-7/7"] {
        let fires = schedule(sunday, "UTC").upcoming(utc("2025-06-01T10:00:00Z"), 1);
        assert_eq!(fires, [utc("2025-06-08T09:00:00Z")], "{sunday}");
    }
    let weekdays = schedule("0 9 * * 1-5", "UTC").upcoming(utc("2025-06-01T00:00:00Z"), 6);
    assert_eq!(weekdays.last(), Some(&utc("2025-06-09T09:00:00Z")));
    // Both day fields restricted: either one (Friday the 13th or any Friday or any 13th).
    let either = between(
        "0 0 13 * 5",
        "UTC",
        "2025-06-01T00:00:00Z",
        "2025-06-30T00:00:00Z",
    );
    assert_eq!(
        either,
        [
            "2025-06-06T00:00:00Z",
            "2025-06-13T00:00:00Z",
            "2025-06-20T00:00:00Z",
            "2025-06-27T00:00:00Z"
        ]
    );
    let either = between(
        "0 0 12 * 5",
        "UTC",
        "2025-06-01T00:00:00Z",
        "2025-06-14T00:00:00Z",
    );
    assert_eq!(
        either,
        [
            "2025-06-06T00:00:00Z",
            "2025-06-12T00:00:00Z",
            "2025-06-13T00:00:00Z"
        ]
    );
    // A seven-field expression with a year; past the last year, nothing.
    let once = schedule("0 0 12 1 1 * 2030", "UTC");
    assert_eq!(
        once.upcoming(utc("2025-01-01T00:00:00Z"), 5),
        [utc("2030-01-01T12:00:00Z")]
    );
    assert_eq!(
        schedule("0 0 1 1 *", "UTC").next_after(utc("2100-06-01T00:00:00Z")),
        None
    );
}

#[test]
fn interval_or_fixed() {
    for (expression, interval) in [
        ("*/5 * * * *", true),
        ("0 * * * *", true),
        ("0 */2 * * *", true),
        ("*/10 30 2 * * *", false),
        ("0 */5 * * * *", true),
        ("30 2 * * *", false),
        ("0-59/10 2 * * *", false),
        ("@hourly", true),
        ("@daily", false),
    ] {
        assert_eq!(
            schedule(expression, "UTC").is_interval(),
            interval,
            "{expression}"
        );
    }
}

#[test]
fn limits_and_empty_ranges() {
    let every = schedule("* * * * *", "Europe/Malta");
    let from = utc("2025-10-26T00:00:00Z");
    assert_eq!(
        every.fires_between(from, from, 10),
        Vec::<DateTime<Utc>>::new()
    );
    assert_eq!(
        every.fires_between(from, from - Duration::hours(1), 10),
        Vec::<DateTime<Utc>>::new()
    );
    assert_eq!(
        every
            .fires_between(from, from + Duration::hours(5), 7)
            .len(),
        7
    );
    assert_eq!(
        every
            .fires_between(from, from + Duration::hours(5), usize::MAX)
            .len(),
        300
    );
    assert_eq!(schedule("0 0 30 2 *", "UTC").next_after(from), None);
}

#[test]
fn bad_expressions_name_the_problem() {
    let reason = |expression: &str| match CronSchedule::parse(expression, "UTC") {
        Err(ScheduleError::Expression { reason, .. }) => reason,
        other => panic!("{expression}: {other:?}"),
    };
    assert!(
        reason("61 * * * *").starts_with("minute field `61`:"),
        "{}",
        reason("61 * * * *")
    );
    assert!(reason("0 25 * * *").starts_with("hour field `25`:"));
    assert!(reason("0 0 * * 8").starts_with("day-of-week field `8`:"));
    assert!(reason("0 0 * * FRI-SUN").contains("backwards"));
    assert!(reason("0 0 * 13 *").starts_with("month field `13`:"));
    assert!(reason("0 0 * * * * 1800").starts_with("year field `1800`:"));
    assert!(reason("0 x * * *").starts_with("hour field `x`:"));
    assert!(reason("* * * *").contains("found 4"));
    assert!(reason("@reboot").contains("unknown shorthand"));
    let message = CronSchedule::parse("0 x * * *", "UTC")
        .unwrap_err()
        .to_string();
    assert!(
        message.starts_with("bad cron expression `0 x * * *`: hour field"),
        "{message}"
    );
}

#[test]
fn unknown_time_zones_suggest_close_names() {
    let error = CronSchedule::parse("0 0 * * *", "Europe/Maltese").unwrap_err();
    assert_eq!(
        error.to_string(),
        "unknown time zone `Europe/Maltese`: did you mean `Europe/Malta`?"
    );
    for (given, close) in [
        ("malta", "Europe/Malta"),
        ("Sao Paulo", "America/Sao_Paulo"),
        ("utc", "UTC"),
    ] {
        match CronSchedule::parse("0 0 * * *", given) {
            Err(ScheduleError::TimeZone { suggestion, .. }) => {
                assert_eq!(suggestion.as_deref(), Some(close))
            }
            other => panic!("{given}: {other:?}"),
        }
    }
    let error = CronSchedule::parse("0 0 * * *", "Mars/Olympus_Mons").unwrap_err();
    assert!(
        error.to_string().contains("expected an IANA zone name"),
        "{error}"
    );
    assert_eq!(
        schedule("0 0 * * *", "Africa/Johannesburg").timezone(),
        chrono_tz::Africa::Johannesburg
    );
}

/// The `cron` crate on its own (what this module works around): it drops the skipped fixed
/// fire and yields repeated local times twice, out of order in real time.
#[test]
fn cron_crate_alone_mishandles_daylight_saving() {
    use std::str::FromStr;
    let zone = chrono_tz::Europe::Malta;
    let fixed = cron::Schedule::from_str("0 30 2 * * *").unwrap();
    let start = utc("2025-03-29T12:00:00Z").with_timezone(&zone);
    let next: Vec<_> = fixed.after(&start).take(1).map(|at| at.to_utc()).collect();
    assert_eq!(next, [utc("2025-03-31T00:30:00Z")]); // 2025-03-30 is skipped
    let start = utc("2025-10-25T12:00:00Z").with_timezone(&zone);
    let next: Vec<_> = fixed.after(&start).take(2).map(|at| at.to_utc()).collect();
    assert_eq!(
        next,
        [utc("2025-10-26T00:30:00Z"), utc("2025-10-26T01:30:00Z")]
    ); // twice
    let quarter = cron::Schedule::from_str("0 */15 * * * *").unwrap();
    let start = utc("2025-10-25T23:50:00Z").with_timezone(&zone);
    let next: Vec<_> = quarter
        .after(&start)
        .take(3)
        .map(|at| at.to_utc())
        .collect();
    assert_eq!(
        next,
        [
            utc("2025-10-26T00:00:00Z"),
            utc("2025-10-26T01:00:00Z"),
            utc("2025-10-26T00:15:00Z")
        ]
    );
}

#[test]
fn extreme_instants_do_not_panic() {
    let (max, min) = (DateTime::<Utc>::MAX_UTC, DateTime::<Utc>::MIN_UTC);
    for zone in ["Pacific/Kiritimati", "Pacific/Pago_Pago", "UTC"] {
        let every = schedule("* * * * * *", zone);
        assert_eq!(every.next_after(max), None);
        assert!(every
            .fires_between(max - Duration::days(1), max, 3)
            .is_empty());
        let _ = every.next_after(min);
        // The `cron` crate's years run from 1970 to 2100.
        let first = every.next_after(utc("1900-01-01T00:00:00Z")).unwrap();
        assert!(first <= utc("1970-01-02T00:00:00Z"), "{first}");
    }
}
