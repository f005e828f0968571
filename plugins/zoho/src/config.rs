//! The connector's settings, read from the manifest once per run and validated into [`Settings`];
//! after this, no code looks at raw settings again.

use connector_sdk::{config, Error};
use serde::Deserialize;
use std::time::Duration;

/// The settings the manifest may give, with their defaults.
pub const DESCRIPTIONS: &[(&str, &str)] = &[
    ("billing_org_id", "the Zoho Billing organization id (required; GET /billing/v1/organizations lists it)"),
    ("billing_product_id", "the Zoho Billing product the plans belong to (required)"),
    ("api_url", "the Zoho API origin requests address (default https://www.zohoapis.com); the auth profile moves them to the api_domain its token names, so set it to the profile's api_url"),
    ("auth_profile", "the manifest auth profile (an oauth2 profile with scheme \"Zoho-oauthtoken\"; default \"zoho\")"),
    ("crm_rate_limit", "an extra pool CRM requests name, for CRM's credit budget and concurrency (default \"zoho_crm\"; \"\" for none); grant it in http.extra_rate_limits"),
    ("max_products", "products pushed per run, 1 to 1000 (default 100)"),
    ("batch_size", "products per batch (one CRM upsert), 1 to 100 (default 20)"),
    ("call_pause_ms", "pause between two Zoho calls, 0 to 10000 (default 150)"),
    ("product_pause_ms", "pause after each product's Billing push, 0 to 10000 (default 700)"),
    ("stale_hours", "a product pushed longer ago than this is pushed again, 1 to 8760 (default 24)"),
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    billing_org_id: Option<String>,
    billing_product_id: Option<String>,
    api_url: Option<String>,
    auth_profile: Option<String>,
    crm_rate_limit: Option<String>,
    max_products: Option<i64>,
    batch_size: Option<i64>,
    call_pause_ms: Option<i64>,
    product_pause_ms: Option<i64>,
    stale_hours: Option<i64>,
}

/// Validated settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub billing_org_id: String,
    pub billing_product_id: String,
    /// Without a trailing slash.
    pub api_url: String,
    pub auth_profile: String,
    pub crm_rate_limit: Option<String>,
    pub max_products: usize,
    pub batch_size: usize,
    pub call_pause: Duration,
    pub product_pause: Duration,
    pub stale: i64,
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

fn required(name: &str, value: Option<String>) -> Result<String, Error> {
    match value.map(|v| v.trim().to_owned()) {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(Error::invalid(format!(
            "setting {name} is required: {}",
            DESCRIPTIONS
                .iter()
                .find(|(n, _)| *n == name)
                .map_or("", |(_, d)| d)
        ))),
    }
}

impl Settings {
    /// Reads and validates the manifest's settings.
    pub fn load() -> Result<Settings, Error> {
        Settings::validate(config::all()?)
    }

    fn validate(raw: Raw) -> Result<Settings, Error> {
        let api_url = raw
            .api_url
            .unwrap_or_else(|| "https://www.zohoapis.com".into())
            .trim_end_matches('/')
            .to_owned();
        let host = api_url
            .strip_prefix("https://")
            .or_else(|| api_url.strip_prefix("http://"));
        if host.is_none_or(|h| h.is_empty() || h.contains(['/', '?', '#'])) {
            return Err(Error::invalid(format!(
                "setting api_url: expected an origin such as \"https://www.zohoapis.eu\", found {api_url:?}"
            )));
        }
        Ok(Settings {
            billing_org_id: required("billing_org_id", raw.billing_org_id)?,
            billing_product_id: required("billing_product_id", raw.billing_product_id)?,
            api_url,
            auth_profile: raw.auth_profile.unwrap_or_else(|| "zoho".into()),
            crm_rate_limit: match raw.crm_rate_limit {
                None => Some("zoho_crm".into()),
                Some(p) if p.is_empty() => None,
                Some(p) => Some(p),
            },
            max_products: range("max_products", raw.max_products, 100, 1, 1000)? as usize,
            batch_size: range("batch_size", raw.batch_size, 20, 1, 100)? as usize,
            call_pause: Duration::from_millis(range(
                "call_pause_ms",
                raw.call_pause_ms,
                150,
                0,
                10_000,
            )? as u64),
            product_pause: Duration::from_millis(range(
                "product_pause_ms",
                raw.product_pause_ms,
                700,
                0,
                10_000,
            )? as u64),
            stale: range("stale_hours", raw.stale_hours, 24, 1, 8760)? * 3600,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(json: serde_json::Value) -> Result<Settings, Error> {
        Settings::validate(serde_json::from_value(json).map_err(Error::from)?)
    }

    #[test]
    fn defaults_and_refusals_name_the_setting() {
        let s = raw(serde_json::json!({"billing_org_id": "1", "billing_product_id": "9"})).unwrap();
        assert_eq!(s.api_url, "https://www.zohoapis.com");
        assert_eq!((s.max_products, s.batch_size), (100, 20));
        assert_eq!(s.crm_rate_limit.as_deref(), Some("zoho_crm"));
        let message = |v| match raw(v) {
            Err(Error::Invalid(m)) => m,
            other => panic!("{other:?}"),
        };
        assert!(message(serde_json::json!({"billing_product_id": "9"}))
            .starts_with("setting billing_org_id is required"));
        assert!(message(
            serde_json::json!({"billing_org_id": "1", "billing_product_id": "9", "batch_size": 101})
        )
        .starts_with("setting batch_size: expected 1 to 100"));
        assert!(message(serde_json::json!({"billing_org_id": "1", "billing_product_id": "9", "api_url": "https://x/crm"}))
            .starts_with("setting api_url"));
    }
}
