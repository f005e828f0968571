//! Dates as connectors need them, without a date library: parsing date-times from upstreams and
//! from the database (RFC 3339 with any offset and an optional fraction, PostgreSQL's
//! `2025-07-10 19:22:31+00` text form, SQLite's `2025-07-10 19:22:31`) into Unix seconds, and
//! formatting Unix seconds as RFC 3339 UTC for [`crate::db::Value::Timestamp`]. Fractions of a
//! second are dropped.
//!
//! Pure code with no host calls: native code (a benchmark's baseline) can include this file.

/// Seconds in a day.
pub const DAY: i64 = 86_400;

/// The current time in Unix seconds (WASI gives plugins a wall clock).
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Unix seconds of a date-time such as `2025-07-10T16:22:31-03:00`, `2025-07-10T19:22:31.5Z`,
/// `2025-07-10 19:22:31+00` or `2025-07-10` (midnight UTC). No offset means UTC.
pub fn parse(s: &str) -> Option<i64> {
    let b = s.trim().as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let digits = b.get(from..from + len)?;
        if !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(digits).ok()?.parse().ok()
    };
    let year = num(0, 4)?;
    let month = num(5, 2)?;
    let day = num(8, 2)?;
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let date = days_from_civil(year, month, day) * DAY;
    if b.len() == 10 {
        return Some(date);
    }
    if !matches!(b.get(10), Some(b'T' | b't' | b' ')) {
        return None;
    }
    let (hour, minute, second) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    if b.get(13) != Some(&b':') || b.get(16) != Some(&b':') {
        return None;
    }
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut i = 19;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return None;
        }
    }
    let offset = match b.get(i) {
        None => 0,
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(&sign @ (b'+' | b'-')) => {
            let oh = num(i + 1, 2)?;
            let om = match &b[i + 3..] {
                [] => 0,
                [b':', ..] if b.len() == i + 6 => num(i + 4, 2)?,
                _ if b.len() == i + 5 => num(i + 3, 2)?,
                _ => return None,
            };
            let off = (oh * 60 + om) * 60;
            if sign == b'-' {
                -off
            } else {
                off
            }
        }
        _ => return None,
    };
    Some(date + hour * 3600 + minute * 60 + second - offset)
}

/// `2025-07-10T19:22:31Z` for Unix seconds.
pub fn format_utc(secs: i64) -> String {
    let days = secs.div_euclid(DAY);
    let rem = secs.rem_euclid(DAY);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Any date-time [`parse`] accepts, rewritten as RFC 3339 UTC; `None` if it does not parse.
pub fn normalize(s: &str) -> Option<String> {
    parse(s).map(format_utc)
}

/// Whether `s` is already RFC 3339 with an explicit offset (`…T…Z`, `…T…-03:00`), as a
/// timestamp value must be; anything else [`parse`] accepts needs [`normalize`] first.
pub fn is_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    let n = b.len();
    let offset = matches!(b.last(), Some(b'Z' | b'z'))
        || (n >= 25 && matches!(b[n - 6], b'+' | b'-') && b[n - 3] == b':');
    offset && matches!(b.get(10), Some(b'T' | b't')) && parse(s).is_some()
}

/// Whole days from `earlier` to `later` (never negative).
pub fn days_between(earlier: i64, later: i64) -> i64 {
    (later - earlier).max(0) / DAY
}

/// Whether `y` is a leap year.
fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day count since 1970-01-01.
pub fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_offsets_fractions_and_postgres_text() {
        let utc = parse("2025-07-10T19:22:31Z").unwrap();
        assert_eq!(parse("2025-07-10T16:22:31-03:00"), Some(utc));
        assert_eq!(parse("2025-07-10T19:22:31.250Z"), Some(utc));
        assert_eq!(parse("2025-07-10 19:22:31+00"), Some(utc));
        assert_eq!(parse("2025-07-10 16:22:31-0300"), Some(utc));
        assert_eq!(parse("2025-07-10T19:22:31"), Some(utc));
        assert_eq!(format_utc(utc), "2025-07-10T19:22:31Z");
        assert_eq!(parse("1970-01-01"), Some(0));
        assert!(is_rfc3339("2025-07-10T16:22:31-03:00") && is_rfc3339("2025-07-10T19:22:31.5Z"));
        assert!(!is_rfc3339("2025-07-10 19:22:31+00") && !is_rfc3339("2025-07-10T19:22:31"));
        assert_eq!(format_utc(-1), "1969-12-31T23:59:59Z");
        for bad in [
            "",
            "2025-13-01",
            "2025-02-30T00:00:00Z",
            "2025-07-10X",
            "2025-07-10T1:2:3Z",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn civil_round_trips() {
        for days in [-800_000, -1, 0, 59, 60, 10_957, 20_000, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }
}
