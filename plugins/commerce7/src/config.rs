//! The connector's settings, read from the manifest once per call and validated into
//! [`Settings`]; after this, no code looks at raw settings again.

use connector_sdk::{config, time, Error};
use serde::Deserialize;

/// The settings the manifest may give, with their defaults.
pub const DESCRIPTIONS: &[(&str, &str)] = &[
    ("tenant", "the Commerce7 tenant id (required): webhooks from another tenant are ignored; the auth profile sends it as the `tenant` header"),
    ("tiers", "the membership tiers, lowest first (required): [{ name, club_id, min_order_cents, min_lifetime_cents }]; an order qualifies for a tier when its total or the customer's lifetime value reaches either threshold"),
    ("api_url", "the API root (default https://api.commerce7.com/v1)"),
    ("auth_profile", "the manifest's Basic auth profile (app id and secret key; default \"commerce7\")"),
    ("rate_limit", "the pool membership calls name, Commerce7's 100/minute (default \"commerce7\"); grant it in http.extra_rate_limits; reconcile's cursor reads do not pass it"),
    ("membership_days", "how long an enrollment lasts before `expire` ends it, 1 to 3660 (default 365)"),
    ("delivery_method", "orderDeliveryMethod of the memberships created: \"Pickup\" (default) or \"Ship\""),
    ("cancellation_reason", "cancellationReason sent when an enrollment expires (default \"Membership expired\")"),
    ("max_attempts", "deliveries of a membership job before it is failed (dead letter), 1 to 20 (default 5)"),
    ("reconcile_since", "where the first reconcile starts reading paid orders (RFC 3339; default: when it first runs)"),
    ("reconcile_overlap_minutes", "how far before its cursor reconcile re-reads, for late writes, 0 to 1440 (default 10)"),
];

/// One membership tier.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Tier {
    pub name: String,
    /// The Commerce7 club that is the tier.
    pub club_id: String,
    /// An order of at least this total (cents) qualifies.
    pub min_order_cents: Option<i64>,
    /// A customer whose paid orders reach this lifetime value (cents) qualifies.
    pub min_lifetime_cents: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    tenant: Option<String>,
    tiers: Option<Vec<Tier>>,
    api_url: Option<String>,
    auth_profile: Option<String>,
    rate_limit: Option<String>,
    membership_days: Option<i64>,
    delivery_method: Option<String>,
    cancellation_reason: Option<String>,
    max_attempts: Option<i64>,
    reconcile_since: Option<String>,
    reconcile_overlap_minutes: Option<i64>,
}

/// Validated settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub tenant: String,
    /// Lowest first; names unique.
    pub tiers: Vec<Tier>,
    /// Without a trailing slash.
    pub api_url: String,
    pub auth_profile: String,
    pub rate_limit: Option<String>,
    /// Seconds.
    pub membership: i64,
    pub delivery_method: String,
    pub cancellation_reason: String,
    pub max_attempts: u32,
    /// Unix seconds.
    pub reconcile_since: Option<i64>,
    /// Seconds.
    pub reconcile_overlap: i64,
}

fn range(name: &str, value: Option<i64>, default: i64, lo: i64, hi: i64) -> Result<i64, Error> {
    let v = value.unwrap_or(default);
    if (lo..=hi).contains(&v) {
        Ok(v)
    } else {
        Err(Error::invalid(format!(
            "setting {name}: expected {lo} to {hi}, found {v}"
        )))
    }
}

impl Settings {
    /// Reads and validates the manifest's settings.
    pub fn load() -> Result<Settings, Error> {
        Settings::validate(config::all()?)
    }

    fn validate(raw: Raw) -> Result<Settings, Error> {
        let tenant = raw
            .tenant
            .filter(|t| !t.trim().is_empty())
            .ok_or_else(|| Error::invalid("setting tenant is required: the Commerce7 tenant id"))?;
        let tiers = raw.tiers.unwrap_or_default();
        if tiers.is_empty() {
            return Err(Error::invalid(
                "setting tiers is required: [{ name = \"gold\", club_id = \"…\", min_order_cents = 50000 }, …], lowest first",
            ));
        }
        for (i, t) in tiers.iter().enumerate() {
            let at = format!("setting tiers[{i}]");
            if t.name.trim().is_empty() || t.club_id.trim().is_empty() {
                return Err(Error::invalid(format!(
                    "{at}: name and club_id must not be empty"
                )));
            }
            if t.min_order_cents.is_none() && t.min_lifetime_cents.is_none() {
                return Err(Error::invalid(format!(
                    "{at} ({}): set min_order_cents, min_lifetime_cents or both",
                    t.name
                )));
            }
            if t.min_order_cents.is_some_and(|c| c < 0)
                || t.min_lifetime_cents.is_some_and(|c| c < 0)
            {
                return Err(Error::invalid(format!(
                    "{at} ({}): thresholds are cents, 0 or more",
                    t.name
                )));
            }
            if tiers[..i].iter().any(|o| o.name == t.name) {
                return Err(Error::invalid(format!(
                    "{at}: tier name {:?} is used twice",
                    t.name
                )));
            }
        }
        let api_url = raw
            .api_url
            .unwrap_or_else(|| "https://api.commerce7.com/v1".into())
            .trim_end_matches('/')
            .to_owned();
        if !(api_url.starts_with("https://") || api_url.starts_with("http://")) {
            return Err(Error::invalid(format!(
                "setting api_url: expected a URL like \"https://api.commerce7.com/v1\", found {api_url:?}"
            )));
        }
        let delivery_method = raw.delivery_method.unwrap_or_else(|| "Pickup".into());
        if !matches!(delivery_method.as_str(), "Pickup" | "Ship") {
            return Err(Error::invalid(format!(
                "setting delivery_method: expected \"Pickup\" or \"Ship\", found {delivery_method:?}"
            )));
        }
        let reconcile_since = match raw.reconcile_since {
            None => None,
            Some(s) => Some(time::parse(&s).ok_or_else(|| {
                Error::invalid(format!(
                    "setting reconcile_since: expected an RFC 3339 date-time like \"2026-01-01T00:00:00Z\", found {s:?}"
                ))
            })?),
        };
        Ok(Settings {
            tenant,
            tiers,
            api_url,
            auth_profile: raw.auth_profile.unwrap_or_else(|| "commerce7".into()),
            rate_limit: match raw.rate_limit {
                None => Some("commerce7".into()),
                Some(p) if p.is_empty() => None,
                Some(p) => Some(p),
            },
            membership: range("membership_days", raw.membership_days, 365, 1, 3660)? * 86_400,
            delivery_method,
            cancellation_reason: raw
                .cancellation_reason
                .unwrap_or_else(|| "Membership expired".into()),
            max_attempts: range("max_attempts", raw.max_attempts, 5, 1, 20)? as u32,
            reconcile_since,
            reconcile_overlap: range(
                "reconcile_overlap_minutes",
                raw.reconcile_overlap_minutes,
                10,
                0,
                1440,
            )? * 60,
        })
    }

    /// The highest tier an order of `total` cents qualifies for, for a customer whose paid
    /// orders (this one included) come to `lifetime` cents; with its rank (0 = lowest).
    pub fn qualify(&self, total: i64, lifetime: i64) -> Option<(usize, &Tier)> {
        self.tiers.iter().enumerate().rev().find(|(_, t)| {
            t.min_order_cents.is_some_and(|m| total >= m)
                || t.min_lifetime_cents.is_some_and(|m| lifetime >= m)
        })
    }

    /// The rank of tier `name`, if it is one.
    pub fn rank(&self, name: &str) -> Option<usize> {
        self.tiers.iter().position(|t| t.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(tiers: serde_json::Value) -> Result<Settings, Error> {
        let raw = serde_json::json!({ "tenant": "t", "tiers": tiers });
        Settings::validate(serde_json::from_value(raw).map_err(Error::from)?)
    }

    #[test]
    fn the_highest_tier_reached_by_either_threshold_wins() {
        let s = settings(serde_json::json!([
            { "name": "silver", "club_id": "c1", "min_order_cents": 10_000 },
            { "name": "gold", "club_id": "c2", "min_order_cents": 50_000, "min_lifetime_cents": 200_000 },
        ]))
        .unwrap();
        assert_eq!(s.qualify(9_999, 9_999), None);
        assert_eq!(
            s.qualify(10_000, 10_000).map(|(r, t)| (r, t.name.as_str())),
            Some((0, "silver"))
        );
        assert_eq!(
            s.qualify(10_000, 250_000).map(|(_, t)| t.name.as_str()),
            Some("gold")
        );
        assert_eq!(
            s.qualify(60_000, 60_000).map(|(_, t)| t.name.as_str()),
            Some("gold")
        );
        assert_eq!(s.rank("gold"), Some(1));
    }

    #[test]
    fn bad_tiers_are_refused_by_name() {
        let e = |v| match settings(v) {
            Err(Error::Invalid(m)) => m,
            other => panic!("{other:?}"),
        };
        assert!(e(serde_json::json!([])).starts_with("setting tiers is required"));
        assert!(e(serde_json::json!([{ "name": "a", "club_id": "c" }]))
            .contains("tiers[0] (a): set min_order_cents"));
        assert!(e(serde_json::json!([
            { "name": "a", "club_id": "c", "min_order_cents": 1 },
            { "name": "a", "club_id": "d", "min_order_cents": 2 }
        ]))
        .contains("used twice"));
    }
}
