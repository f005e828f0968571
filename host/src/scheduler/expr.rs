//! Cron expression text: field counts, `@` shorthands, classic day-of-week numbers, the
//! classic day rule (day of month OR day of week), and error reasons that name the bad field.

use std::str::FromStr;

/// Field names in the order of a full (7-field) expression, for error messages.
const FIELD_NAMES: [&str; 7] = [
    "second",
    "minute",
    "hour",
    "day-of-month",
    "month",
    "day-of-week",
    "year",
];

/// Day names as the `cron` crate spells them, Sunday first (classic number 0).
const DAY_NAMES: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// A parsed expression, ready for candidate enumeration.
#[derive(Debug, Clone)]
pub(super) struct Parsed {
    /// The minute or the hour field starts with `*`: the schedule follows real time.
    pub interval: bool,
    /// One schedule, or two whose union of fires is the classic day rule (day of month OR day
    /// of week, when both are restricted).
    pub schedules: Vec<cron::Schedule>,
}

/// Parses `expression` (5, 6 or 7 fields, or an `@` shorthand) with classic field meanings.
/// The error is a human reason naming the offending field.
pub(super) fn parse(expression: &str) -> Result<Parsed, String> {
    let text = expression.trim();
    let expanded = if text.starts_with('@') {
        shorthand(text).ok_or_else(|| {
            format!(
                "unknown shorthand `{text}` (known: @yearly, @annually, @monthly, @weekly, \
                 @daily, @midnight, @hourly)"
            )
        })?
    } else {
        text
    };
    let words: Vec<&str> = expanded.split_whitespace().collect();
    let mut fields: [&str; 7] = ["0", "*", "*", "*", "*", "*", "*"];
    match words.len() {
        5 => fields[1..6].copy_from_slice(&words),
        6 => fields[..6].copy_from_slice(&words),
        7 => fields.copy_from_slice(&words),
        found => {
            return Err(format!(
                "expected 5 fields (minute hour day-of-month month day-of-week), 6 (seconds \
                 first) or 7 (seconds first, year last); found {found}"
            ))
        }
    }
    let interval = fields[1].starts_with('*') || fields[2].starts_with('*');
    let days = day_of_week(fields[5])
        .map_err(|reason| format!("day-of-week field `{}`: {reason}", fields[5]))?;
    let mut full: [String; 7] = fields.map(str::to_owned);
    full[5] = days;

    // Vixie cron: when both day fields are restricted, a day matches if either matches; the
    // `cron` crate requires both, so the union of two schedules stands in for the rule.
    let variants = if is_star(fields[3]) || is_star(fields[5]) {
        vec![full]
    } else {
        let mut by_month_day = full.clone();
        by_month_day[5] = "*".to_owned();
        let mut by_week_day = full;
        by_week_day[3] = "*".to_owned();
        vec![by_month_day, by_week_day]
    };
    let schedules = variants
        .iter()
        .map(|variant| {
            cron::Schedule::from_str(&variant.join(" "))
                .map_err(|error| explain(&fields, &variant[5], &error))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Parsed {
        interval,
        schedules,
    })
}

/// A reason for a parse failure naming the field at fault: each field is tried alone in an
/// otherwise neutral expression; if none fails alone, the parser's whole message is used.
fn explain(fields: &[&str; 7], dow: &str, whole: &cron::error::Error) -> String {
    for (index, original) in fields.iter().enumerate() {
        let mut neutral: [&str; 7] = ["0", "*", "*", "*", "*", "*", "*"];
        neutral[index] = if index == 5 { dow } else { original };
        if let Err(error) = cron::Schedule::from_str(&neutral.join(" ")) {
            return format!(
                "{} field `{original}`: {}",
                FIELD_NAMES[index],
                parser_reason(&error)
            );
        }
    }
    parser_reason(whole)
}

/// The `cron` crate's message without its echo of the expression and caret line.
fn parser_reason(error: &cron::error::Error) -> String {
    let message = error.to_string();
    let lines: Vec<&str> = message.lines().collect();
    let reason = match lines.iter().position(|line| line.trim() == "^") {
        Some(caret) => lines[caret + 1..].join(" "),
        None => message.clone(),
    };
    let reason = reason.trim();
    if reason.is_empty() {
        "not a valid value".to_owned()
    } else {
        reason.to_owned()
    }
}

/// The 5-field equivalent of an `@` shorthand.
fn shorthand(text: &str) -> Option<&'static str> {
    Some(match text.to_ascii_lowercase().as_str() {
        "@yearly" | "@annually" => "0 0 1 1 *",
        "@monthly" => "0 0 1 * *",
        "@weekly" => "0 0 * * 0",
        "@daily" | "@midnight" => "0 0 * * *",
        "@hourly" => "0 * * * *",
        _ => return None,
    })
}

/// Vixie cron treats a day field as unrestricted when it starts with `*` (`?` is the
/// Quartz spelling of the same).
fn is_star(field: &str) -> bool {
    field.starts_with('*') || field.starts_with('?')
}

/// Translates a classic day-of-week field (0–7, 0 and 7 = Sunday, names, ranges, steps,
/// lists) into the day names the `cron` crate understands (its numbers are 1 = Sunday).
fn day_of_week(field: &str) -> Result<String, String> {
    if field == "*" || field == "?" {
        return Ok("*".to_owned());
    }
    let mut days = [false; 7];
    for item in field.split(',') {
        let (base, step) = match item.split_once('/') {
            Some((base, step)) => match step.parse::<usize>() {
                Ok(step) if step > 0 => (base, Some(step)),
                _ => return Err(format!("`{step}` is not a step (a whole number above 0)")),
            },
            None => (item, None),
        };
        let (low, high) = if base == "*" || base == "?" {
            (0, 7)
        } else if let Some((low, high)) = base.split_once('-') {
            (day(low)?, day(high)?)
        } else {
            let single = day(base)?;
            (single, if step.is_some() { 7 } else { single })
        };
        if low > high {
            return Err(format!(
                "range `{base}` runs backwards (write it as two ranges, e.g. `5-6,0`)"
            ));
        }
        for number in (low..=high).step_by(step.unwrap_or(1)) {
            days[number % 7] = true;
        }
    }
    let names: Vec<&str> = DAY_NAMES
        .iter()
        .zip(days)
        .filter_map(|(name, on)| on.then_some(*name))
        .collect();
    Ok(names.join(","))
}

/// One day of the week: a number 0–7 (0 and 7 are Sunday) or an English name.
fn day(text: &str) -> Result<usize, String> {
    if let Ok(number) = text.parse::<usize>() {
        return if number <= 7 {
            Ok(number)
        } else {
            Err(format!(
                "`{number}` is not a day of the week (0-7, 0 and 7 are Sunday)"
            ))
        };
    }
    let number = match text.to_ascii_lowercase().as_str() {
        "sun" | "sunday" => 0,
        "mon" | "monday" => 1,
        "tue" | "tues" | "tuesday" => 2,
        "wed" | "wednesday" => 3,
        "thu" | "thur" | "thurs" | "thursday" => 4,
        "fri" | "friday" => 5,
        "sat" | "saturday" => 6,
        _ => {
            return Err(format!(
                "`{text}` is not a day of the week (0-7 with 0 and 7 Sunday, or SUN-SAT)"
            ))
        }
    };
    Ok(number)
}
