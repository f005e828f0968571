//! Whole-year (and second-by-second) comparisons of schedule fires with the brute-force
//! reference in `reference.rs`, in zones with and without daylight saving.
//!
//! Zones: Europe/Malta 2025 (gap 03-30 02:00→03:00, repeat 10-26 03:00→02:00);
//! America/Sao_Paulo 2018 (Brazil dropped DST in 2019; in 2018 it had a repeated hour
//! 02-17 23:00–24:00 and a gap at midnight on 11-04, so days that start at 01:00);
//! America/Santiago 2025 (still has DST, southern hemisphere, changes at midnight);
//! Australia/Lord_Howe 2025 (half-hour changes); Africa/Johannesburg and UTC (none).

use chrono::{DateTime, Duration, TimeZone, Utc};
use chrono_tz::Tz;

use super::reference::{self, Spec};
use super::CronSchedule;

fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().to_utc()
}

fn schedule(expression: &str, zone: &str) -> CronSchedule {
    CronSchedule::parse(expression, zone).unwrap()
}

/// Whole-year comparisons with the brute-force reference, minute by minute.
const YEAR_EXPRESSIONS: [&str; 13] = [
    "30 2 * * *",
    "0 0 * * *",
    "15,45 1-3 * * *",
    "0-59/10 2 * * *",
    "0 2 * * 0",
    "0 0 1 * 1",
    "30 23 * * *",
    "5 0 * * 6",
    "*/15 * * * *",
    "*/15 * * * 1",
    "0 * * * *",
    "30 */2 * * *",
    "*/20 1-3 * * *",
];

fn compare_year(zone_name: &str, year: i32) {
    let zone: Tz = zone_name.parse().unwrap();
    let from = Utc.with_ymd_and_hms(year, 1, 1, 0, 0, 0).unwrap() - Duration::days(1);
    let to = Utc.with_ymd_and_hms(year + 1, 1, 1, 0, 0, 0).unwrap() + Duration::days(1);
    let step = Duration::minutes(1);
    let readings = reference::readings(zone, from - Duration::days(2), to, step);
    // Starting points for `next_after`: pseudo-random ones (with sub-second parts), and a
    // dense run around every change of offset.
    let mut seed = 0x2545_f491_u64;
    let span = (to - from - Duration::days(3)).num_milliseconds();
    let mut starts: Vec<DateTime<Utc>> = (0..50)
        .map(|_| {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            from + Duration::milliseconds((seed >> 11) as i64 % span)
        })
        .collect();
    for pair in readings.windows(2) {
        let at = pair[1].at;
        if pair[1].local - pair[0].local != step && at > from && at < to - Duration::days(1) {
            starts.extend((-75..75).map(|i| at + Duration::minutes(i) + Duration::seconds(i % 60)));
        }
    }
    for expression in YEAR_EXPRESSIONS {
        let expected = reference::fires(&Spec::new(expression), &readings, step, from);
        let ours = schedule(expression, zone_name);
        let got = ours.fires_between(from, to, usize::MAX);
        assert_eq!(
            got.len(),
            expected.len(),
            "{expression} in {zone_name} {year}: count"
        );
        if let Some(index) = (0..got.len()).find(|&i| got[i] != expected[i]) {
            panic!(
                "{expression} in {zone_name} {year}: fire {index} is {} but the reference says {}",
                got[index], expected[index]
            );
        }
        for &after in &starts {
            let got = ours.next_after(after);
            match expected.get(expected.partition_point(|fire| *fire <= after)) {
                Some(want) => assert_eq!(
                    got,
                    Some(*want),
                    "{expression} in {zone_name} after {after}"
                ),
                None => assert!(got.is_none_or(|got| got > to), "{expression} after {after}"),
            }
        }
    }
}

#[test]
fn year_europe_malta() {
    compare_year("Europe/Malta", 2025);
}

#[test]
fn year_america_sao_paulo_2018() {
    compare_year("America/Sao_Paulo", 2018);
}

#[test]
fn year_america_santiago() {
    compare_year("America/Santiago", 2025);
}

#[test]
fn year_australia_lord_howe() {
    compare_year("Australia/Lord_Howe", 2025);
}

#[test]
fn year_africa_johannesburg_and_utc() {
    compare_year("Africa/Johannesburg", 2025);
    compare_year("UTC", 2025);
}

/// Second by second around both Malta changes, for seconds expressions.
#[test]
fn seconds_expressions_around_changes() {
    let zone_name = "Europe/Malta";
    let zone: Tz = zone_name.parse().unwrap();
    let step = Duration::seconds(1);
    for around in ["2025-03-30T01:00:00Z", "2025-10-26T01:00:00Z"] {
        let from = utc(around) - Duration::hours(3);
        let to = utc(around) + Duration::hours(3);
        let readings = reference::readings(zone, from - Duration::hours(3), to, step);
        for expression in [
            "*/20 * * * * *",
            "*/20 30 2 * * *",
            "10 */7 * * * *",
            "45 59 1,2 * * *",
        ] {
            let expected = reference::fires(&Spec::new(expression), &readings, step, from);
            let got = schedule(expression, zone_name).fires_between(from, to, usize::MAX);
            assert_eq!(got, expected, "{expression} around {around}");
        }
    }
}
