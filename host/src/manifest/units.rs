//! Parsers for the small string languages of the manifest: durations ("15m"), sizes ("256MiB"),
//! rate quotas ("120/min") and HTTP origins (`https://api.example.com`).
//!
//! They return `None` or a short reason and never build error text with a path: the validator
//! owns the wording, so every message names the key, the expectation and what was found.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use super::Origin;

/// Parses a duration made of one or more `<integer><unit>` parts, units `ms`, `s`, `m`, `h`
/// ("500ms", "30s", "15m", "1h", "1h30m").
pub(super) fn parse_duration(text: &str) -> Option<Duration> {
    let mut rest = text;
    let mut total = Duration::ZERO;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return None;
        }
        let amount: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let part = match &rest[..unit_len] {
            "ms" => Duration::from_millis(amount),
            "s" => Duration::from_secs(amount),
            "m" => Duration::from_secs(amount.checked_mul(60)?),
            "h" => Duration::from_secs(amount.checked_mul(3600)?),
            _ => return None,
        };
        total = total.checked_add(part)?;
        rest = &rest[unit_len..];
    }
    Some(total)
}

/// Parses a size `<integer><unit>` with binary units `B`, `KiB`, `MiB`, `GiB` ("256MiB").
pub(super) fn parse_size(text: &str) -> Option<u64> {
    let digits = text.find(|c: char| !c.is_ascii_digit())?;
    if digits == 0 {
        return None;
    }
    let amount: u64 = text[..digits].parse().ok()?;
    let scale: u64 = match &text[digits..] {
        "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        _ => return None,
    };
    amount.checked_mul(scale)
}

/// Writes a duration in the largest unit that divides it ("24h", "10m", "1s", "1ms").
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    match ms {
        0 => "0s".to_string(),
        _ if ms.is_multiple_of(3_600_000) => format!("{}h", ms / 3_600_000),
        _ if ms.is_multiple_of(60_000) => format!("{}m", ms / 60_000),
        _ if ms.is_multiple_of(1000) => format!("{}s", ms / 1000),
        _ => format!("{ms}ms"),
    }
}

/// Writes a size in the largest binary unit that divides it ("4GiB", "1MiB", "100B").
pub(super) fn format_size(bytes: u64) -> String {
    let units = [(30, "GiB"), (20, "MiB"), (10, "KiB")];
    for (shift, unit) in units {
        if bytes != 0 && bytes.is_multiple_of(1 << shift) {
            return format!("{}{unit}", bytes >> shift);
        }
    }
    format!("{bytes}B")
}

/// Why a rate quota was refused.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum RateError {
    /// Not `<requests>/<unit>` at all.
    Malformed,
    /// `0/min`: a pool that allows nothing is a typo, not a policy.
    Zero,
}

/// Parses a quota `<requests>/<unit>` with units s|sec|second, m|min|minute, h|hour, d|day (or
/// their plurals) or a duration ("24h", "10m"), spaces allowed around the slash ("120/min",
/// "10 / second", "5000/24h").
pub(super) fn parse_rate(text: &str) -> Result<(u32, Duration), RateError> {
    let (count, unit) = text.split_once('/').ok_or(RateError::Malformed)?;
    let count = count.trim();
    if count.is_empty() || !count.bytes().all(|b| b.is_ascii_digit()) {
        return Err(RateError::Malformed);
    }
    let requests: u32 = count.parse().map_err(|_| RateError::Malformed)?;
    let per = match unit.trim() {
        "s" | "sec" | "secs" | "second" | "seconds" => Duration::from_secs(1),
        "m" | "min" | "mins" | "minute" | "minutes" => Duration::from_secs(60),
        "h" | "hour" | "hours" => Duration::from_secs(3600),
        "d" | "day" | "days" => Duration::from_secs(86_400),
        other if other.starts_with(|c: char| c.is_ascii_digit()) => parse_duration(other)
            .filter(|d| !d.is_zero())
            .ok_or(RateError::Malformed)?,
        _ => return Err(RateError::Malformed),
    };
    if requests == 0 {
        return Err(RateError::Zero);
    }
    Ok((requests, per))
}

/// A URL split into an origin and what follows the authority (path, query and fragment).
pub(super) struct SplitUrl<'a> {
    pub origin: Origin,
    pub tail: &'a str,
}

/// Parses an absolute `http` or `https` URL into its origin and the rest; the reason on error
/// completes the sentence `found X: <reason>`.
pub(super) fn parse_url(text: &str) -> Result<SplitUrl<'_>, &'static str> {
    let (scheme, rest) = text
        .split_once("://")
        .ok_or("the scheme is missing, write it like \"https://host\"")?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => 80,
        "https" => 443,
        _ => return Err("the scheme must be http or https"),
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    if authority.contains('@') {
        return Err("user info (user:password@) is not allowed");
    }
    let (host, port) = split_host_port(authority)?;
    let host = host.to_ascii_lowercase();
    check_host(&host)?;
    let port = match port {
        None => default_port,
        Some(digits) => match digits.parse::<u16>() {
            Ok(port) if port > 0 && digits.bytes().all(|b| b.is_ascii_digit()) => port,
            _ => return Err("the port must be a number from 1 to 65535"),
        },
    };
    let origin = Origin { scheme, host, port };
    Ok(SplitUrl { origin, tail })
}

/// Parses an origin: scheme, host and optional port, with at most a bare "/" after them.
pub(super) fn parse_origin(text: &str) -> Result<Origin, &'static str> {
    let SplitUrl { origin, tail } = parse_url(text)?;
    if tail.contains('#') {
        Err("a fragment is not allowed")
    } else if tail.contains('?') {
        Err("a query is not allowed")
    } else if !tail.is_empty() && tail != "/" {
        Err("a path is not allowed, list only scheme, host and port")
    } else {
        Ok(origin)
    }
}

fn split_host_port(authority: &str) -> Result<(&str, Option<&str>), &'static str> {
    if authority.starts_with('[') {
        let close = authority
            .find(']')
            .ok_or("the IPv6 address lacks its \"]\"")?;
        let (host, after) = authority.split_at(close + 1);
        return match after {
            "" => Ok((host, None)),
            _ => match after.strip_prefix(':') {
                Some(port) => Ok((host, Some(port))),
                None => Err("unexpected text after the IPv6 address"),
            },
        };
    }
    Ok(match authority.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    })
}

/// Accepts a lowercase DNS name, an IPv4 address or a bracketed IPv6 address.
fn check_host(host: &str) -> Result<(), &'static str> {
    if host.is_empty() {
        return Err("the host is missing");
    }
    if host.contains('*') {
        return Err("wildcards are not supported, list each host");
    }
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return inner
            .parse::<Ipv6Addr>()
            .map(|_| ())
            .map_err(|_| "the IPv6 address is not valid");
    }
    if host.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return host
            .parse::<Ipv4Addr>()
            .map(|_| ())
            .map_err(|_| "the IPv4 address is not valid");
    }
    let label_ok = |label: &str| {
        (1..=63).contains(&label.len())
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    if host.len() <= 253 && host.split('.').all(label_ok) {
        Ok(())
    } else {
        Err("the host is not a valid name or IP address")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(scheme: &str, host: &str, port: u16) -> Origin {
        let (scheme, host) = (scheme.to_string(), host.to_string());
        Origin { scheme, host, port }
    }

    #[test]
    fn durations_accept_units_and_compounds() {
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration("15m"), Some(Duration::from_secs(900)));
        assert_eq!(parse_duration("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("0s"), Some(Duration::ZERO));
    }

    #[test]
    fn durations_refuse_junk() {
        for bad in [
            "", "fast", "30", "s", "1.5s", "30 s", " 30s", "-1s", "10d", "1hh", "30S",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad:?}");
        }
        assert_eq!(parse_duration("99999999999999999999h"), None);
        assert_eq!(parse_duration("9999999999999999999h"), None);
    }

    #[test]
    fn sizes_use_binary_units() {
        assert_eq!(parse_size("512KiB"), Some(512 * 1024));
        assert_eq!(parse_size("256MiB"), Some(256 << 20));
        assert_eq!(parse_size("1GiB"), Some(1 << 30));
        assert_eq!(parse_size("100B"), Some(100));
        for bad in [
            "", "256", "MiB", "256MB", "256 MiB", "1.5GiB", "256mib", "-1MiB",
        ] {
            assert_eq!(parse_size(bad), None, "{bad:?}");
        }
        assert_eq!(parse_size("99999999999999GiB"), None);
    }

    #[test]
    fn formatting_picks_the_largest_exact_unit() {
        assert_eq!(format_duration(Duration::from_secs(86_400)), "24h");
        assert_eq!(format_duration(Duration::from_secs(600)), "10m");
        assert_eq!(format_duration(Duration::from_secs(90)), "90s");
        assert_eq!(format_duration(Duration::from_millis(1)), "1ms");
        assert_eq!(format_size(4 << 30), "4GiB");
        assert_eq!(format_size(1 << 20), "1MiB");
        assert_eq!(format_size(1536), "1536B");
        assert_eq!(format_size(2048), "2KiB");
    }

    #[test]
    fn rates_accept_unit_spellings() {
        let minute = Duration::from_secs(60);
        assert_eq!(parse_rate("120/min"), Ok((120, minute)));
        assert_eq!(parse_rate("90/minutes"), Ok((90, minute)));
        assert_eq!(parse_rate("90 / m"), Ok((90, minute)));
        assert_eq!(parse_rate("10/s"), Ok((10, Duration::from_secs(1))));
        assert_eq!(parse_rate("10/seconds"), Ok((10, Duration::from_secs(1))));
        assert_eq!(
            parse_rate("1000/hour"),
            Ok((1000, Duration::from_secs(3600)))
        );
        assert_eq!(parse_rate("5/hours"), Ok((5, Duration::from_secs(3600))));
        let day = Duration::from_secs(86_400);
        assert_eq!(parse_rate("5000/24h"), Ok((5000, day)));
        assert_eq!(parse_rate("5000 / day"), Ok((5000, day)));
        assert_eq!(parse_rate("10/90s"), Ok((10, Duration::from_secs(90))));
    }

    #[test]
    fn rates_refuse_junk_and_zero() {
        assert_eq!(parse_rate("0/min"), Err(RateError::Zero));
        for bad in [
            "120",
            "120/",
            "/min",
            "120/fortnight",
            "5/0s",
            "5/24",
            "x/min",
            "-1/min",
            "1.5/s",
            "120 per min",
        ] {
            assert_eq!(parse_rate(bad), Err(RateError::Malformed), "{bad:?}");
        }
        assert_eq!(parse_rate("99999999999/s"), Err(RateError::Malformed));
    }

    #[test]
    fn origins_normalise_scheme_host_and_port() {
        let ploomes = origin("https", "public-api2.ploomes.com", 443);
        assert_eq!(
            parse_origin("https://public-api2.ploomes.com"),
            Ok(ploomes.clone())
        );
        assert_eq!(
            parse_origin("HTTPS://Public-API2.Ploomes.com/"),
            Ok(ploomes)
        );
        let local = origin("http", "127.0.0.1", 8080);
        assert_eq!(parse_origin("http://127.0.0.1:8080"), Ok(local));
        let v6 = origin("http", "[::1]", 9000);
        assert_eq!(parse_origin("http://[::1]:9000"), Ok(v6));
        let plain = origin("http", "localhost", 80);
        assert_eq!(parse_origin("http://localhost"), Ok(plain));
    }

    #[test]
    fn origins_refuse_more_than_an_origin() {
        let cases = [
            (
                "https://api.x.com/v1",
                "a path is not allowed, list only scheme, host and port",
            ),
            ("https://api.x.com?a=1", "a query is not allowed"),
            ("https://api.x.com/#top", "a fragment is not allowed"),
            (
                "https://user:pw@api.x.com",
                "user info (user:password@) is not allowed",
            ),
            ("ftp://api.x.com", "the scheme must be http or https"),
            (
                "api.x.com",
                "the scheme is missing, write it like \"https://host\"",
            ),
            ("https://", "the host is missing"),
            (
                "https://api.x.com:0",
                "the port must be a number from 1 to 65535",
            ),
            (
                "https://api.x.com:70000",
                "the port must be a number from 1 to 65535",
            ),
            (
                "https://api.x.com:",
                "the port must be a number from 1 to 65535",
            ),
            (
                "https://api.x.com:+80",
                "the port must be a number from 1 to 65535",
            ),
            (
                "https://*.x.com",
                "wildcards are not supported, list each host",
            ),
            (
                "https://api_x.com",
                "the host is not a valid name or IP address",
            ),
            (
                "https://-x.com",
                "the host is not a valid name or IP address",
            ),
            (
                "https://x..com",
                "the host is not a valid name or IP address",
            ),
            ("http://999.1.1.1", "the IPv4 address is not valid"),
            ("http://[zz]", "the IPv6 address is not valid"),
            ("http://[::1", "the IPv6 address lacks its \"]\""),
        ];
        for (text, reason) in cases {
            assert_eq!(parse_origin(text), Err(reason), "{text}");
        }
    }

    #[test]
    fn urls_keep_their_path() {
        let url = parse_url("http://127.0.0.1:9000/oauth/v2/token").unwrap();
        assert_eq!(url.origin, origin("http", "127.0.0.1", 9000));
        assert_eq!(url.tail, "/oauth/v2/token");
    }
}
