//! Zoho's timestamp formats: CRM's ISO 8601 with a `+00:00` offset, Billing's `+0000` offset,
//! and the two forms an `If-Modified-Since` header may take.

use chrono::{DateTime, SecondsFormat, Utc};

/// A CRM timestamp, `2025-07-01T10:00:00+00:00` (whole seconds, offset with a colon).
pub fn crm(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, false)
}

/// A Billing timestamp, `2025-07-01T10:00:00+0000` (Billing writes the offset without a colon).
pub(super) fn billing(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%z").to_string()
}

/// An `If-Modified-Since` value: RFC 3339 / ISO 8601 with an offset (what Zoho documents) or an
/// HTTP-date (what generic HTTP clients send). `None` if it is neither.
pub fn parse_since(value: &str) -> Option<DateTime<Utc>> {
    let value = value.trim();
    DateTime::parse_from_rfc3339(value)
        .or_else(|_| DateTime::parse_from_rfc2822(value))
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Drops the sub-second part: Zoho stores and compares times in whole seconds, so a record
/// stamped at 10:00:00.7 must not count as modified after `If-Modified-Since: 10:00:00`.
pub(super) fn whole_seconds(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(t.timestamp(), 0).unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses_both_header_forms() {
        let t = DateTime::from_timestamp(1_751_364_000, 0).expect("a valid timestamp");
        assert_eq!(crm(t), "2025-07-01T10:00:00+00:00");
        assert_eq!(billing(t), "2025-07-01T10:00:00+0000");
        assert_eq!(parse_since("2025-07-01T15:30:00+05:30"), Some(t));
        assert_eq!(parse_since("Tue, 01 Jul 2025 10:00:00 GMT"), Some(t));
        assert_eq!(parse_since("yesterday"), None);
    }
}
