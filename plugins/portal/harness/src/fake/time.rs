//! `timestamptz` as PostgREST shows and Postgres reads it: microsecond precision, rendered in UTC
//! like `to_json` (`2025-07-01T12:03:44.12+00:00`), parsed from the ISO 8601 forms clients send.

use chrono::{DateTime, NaiveDate, NaiveTime, TimeZone, Timelike, Utc};

/// Drops sub-microsecond precision, as storing into `timestamptz` does.
pub(super) fn truncate(t: DateTime<Utc>) -> DateTime<Utc> {
    let nanos = t.nanosecond();
    t.with_nanosecond(nanos - nanos % 1_000).unwrap_or(t)
}

/// Renders like Postgres' `to_json(timestamptz)` in a UTC session: fractional seconds without
/// trailing zeros (none at all on a whole second) and a `+00:00` offset.
pub fn format(t: DateTime<Utc>) -> String {
    let mut out = t.format("%Y-%m-%dT%H:%M:%S").to_string();
    let micros = t.nanosecond() / 1_000 % 1_000_000;
    if micros != 0 {
        let frac = format!("{micros:06}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    out.push_str("+00:00");
    out
}

/// Parses a `timestamptz` literal the way Postgres does for the forms clients use:
/// `YYYY-MM-DD`, then optionally `T` or a space and `HH:MM[:SS[.fraction]]`, then optionally a
/// zone (`Z`, `UTC`, `±HH`, `±HHMM`, `±HH:MM`, possibly after a space). No zone means the session
/// zone, UTC on Supabase. Fractions beyond microseconds are rounded.
///
/// An offset whose `+` arrived unencoded in a URL has become a space (`…00:00 03:00`); that is
/// not valid input, as in Postgres.
pub fn parse(text: &str) -> Option<DateTime<Utc>> {
    let s = text.trim();
    let date = NaiveDate::parse_from_str(s.get(..10)?, "%Y-%m-%d").ok()?;
    let rest = &s[10..];
    if rest.is_empty() {
        return Some(Utc.from_utc_datetime(&date.and_time(NaiveTime::MIN)));
    }
    let rest = rest
        .strip_prefix('T')
        .or_else(|| rest.strip_prefix('t'))
        .or_else(|| rest.strip_prefix(' '))?;
    let (time, zone) = split_zone(rest)?;
    let (hms, frac) = match time.split_once('.') {
        Some((hms, frac)) => (hms, Some(frac)),
        None => (time, None),
    };
    let mut parts = hms.split(':');
    let hour = two_digits(parts.next()?)?;
    let minute = two_digits(parts.next()?)?;
    let second = match parts.next() {
        Some(s) => two_digits(s)?,
        None if frac.is_none() => 0,
        None => return None,
    };
    if parts.next().is_some() {
        return None;
    }
    let micros = match frac {
        Some(f) => fraction_micros(f)?,
        None => 0,
    };
    let naive = date
        .and_hms_opt(hour, minute, second)?
        .and_utc()
        .timestamp_micros()
        .checked_add(micros)?;
    let utc = naive.checked_sub(i64::from(zone) * 1_000_000)?;
    DateTime::from_timestamp_micros(utc)
}

/// Splits `HH:MM:SS.ffff<zone>` into the time and the zone offset in seconds east of UTC.
fn split_zone(s: &str) -> Option<(&str, i32)> {
    let cut = s
        .find(|c: char| !(c.is_ascii_digit() || c == ':' || c == '.'))
        .unwrap_or(s.len());
    let (time, zone) = s.split_at(cut);
    let zone = zone.trim_start_matches(' ');
    if zone.is_empty() {
        return Some((time, 0));
    }
    if zone.eq_ignore_ascii_case("z") || zone.eq_ignore_ascii_case("utc") {
        return Some((time, 0));
    }
    let (sign, digits) = match zone.as_bytes()[0] {
        b'+' => (1, &zone[1..]),
        b'-' => (-1, &zone[1..]),
        _ => return None,
    };
    let (hours, minutes) = match digits.len() {
        2 => (two_digits(digits)?, 0),
        4 => (two_digits(&digits[..2])?, two_digits(&digits[2..])?),
        5 if digits.as_bytes()[2] == b':' => (two_digits(&digits[..2])?, two_digits(&digits[3..])?),
        _ => return None,
    };
    if hours > 15 || minutes > 59 {
        return None;
    }
    Some((time, sign * (hours as i32 * 3600 + minutes as i32 * 60)))
}

fn two_digits(s: &str) -> Option<u32> {
    (s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// Microseconds of a fraction's digits, rounded half up at the sixth digit.
fn fraction_micros(f: &str) -> Option<i64> {
    if f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut digits: Vec<i64> = f.bytes().map(|b| i64::from(b - b'0')).collect();
    let round_up = digits.len() > 6 && digits[6] >= 5;
    digits.resize(6, 0);
    let micros = digits.iter().fold(0, |acc, d| acc * 10 + d);
    Some(micros + i64::from(round_up))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> String {
        parse(s).map(format).unwrap_or_else(|| "invalid".into())
    }

    #[test]
    fn renders_like_postgres() {
        assert_eq!(
            at("2025-07-01T12:03:44.120Z"),
            "2025-07-01T12:03:44.12+00:00"
        );
        assert_eq!(
            at("2025-07-01T13:15:02.004Z"),
            "2025-07-01T13:15:02.004+00:00"
        );
        assert_eq!(at("2025-07-01 10:00:00"), "2025-07-01T10:00:00+00:00");
        assert_eq!(at("2025-07-01"), "2025-07-01T00:00:00+00:00");
    }

    #[test]
    fn parses_offsets_and_rejects_what_postgres_rejects() {
        assert_eq!(at("2025-07-01T09:00:00-03:00"), "2025-07-01T12:00:00+00:00");
        assert_eq!(at("2025-07-01T09:00:00-0300"), "2025-07-01T12:00:00+00:00");
        assert_eq!(at("2025-07-01T15:00:00+03"), "2025-07-01T12:00:00+00:00");
        assert_eq!(
            at("2025-07-01 15:00:00 +03:00"),
            "2025-07-01T12:00:00+00:00"
        );
        assert_eq!(
            at("2025-07-01T12:00:00.1234565Z"),
            "2025-07-01T12:00:00.123457+00:00"
        );
        assert_eq!(at("2025-07-01T12:00"), "2025-07-01T12:00:00+00:00");
        // An unencoded '+' arrives as a space.
        assert_eq!(at("2025-07-01T15:00:00 03:00"), "invalid");
        assert_eq!(at("2025-13-01"), "invalid");
        assert_eq!(at("yesterday"), "invalid");
        assert_eq!(at("2025-07-01T25:00:00Z"), "invalid");
    }
}
