//! The connector's settings, read from the manifest once per run and validated into
//! [`Settings`]; after this, no code looks at raw settings again.

use connector_sdk::{config, Error};
use serde::Deserialize;

/// The settings the manifest may give, with their defaults.
pub const DESCRIPTIONS: &[(&str, &str)] = &[
    ("portal_url", "the sales portal's PostgREST root, e.g. \"https://<ref>.supabase.co/rest/v1\" (required for job portal)"),
    ("portal_table", "the portal's leads table or view (default \"leads\")"),
    ("portal_auth_profile", "the auth profile that adds the portal's key (default \"portal\"): apikey only for sb_secret_… keys, apikey and Authorization: Bearer for legacy JWT keys"),
    ("page_size", "rows per PostgREST request, 1 to 1000 (default 1000, Supabase's cap)"),
    ("zoho_api_url", "the Zoho API origin (default https://www.zohoapis.com), as the zoho auth profile's api_url"),
    ("zoho_auth_profile", "the Zoho OAuth2 profile (default \"zoho\"; the same credentials as the zoho connector share one token)"),
    ("zoho_rate_limits", "the pools Zoho calls name (default [\"zoho\", \"zoho_crm\"]); grant them in http.extra_rate_limits"),
    ("overlap_minutes", "how far before their cursors the incremental reads start again, for late writes and clock skew, 0 to 1440 (default 5)"),
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    portal_url: Option<String>,
    portal_table: Option<String>,
    portal_auth_profile: Option<String>,
    page_size: Option<i64>,
    zoho_api_url: Option<String>,
    zoho_auth_profile: Option<String>,
    zoho_rate_limits: Option<Vec<String>>,
    overlap_minutes: Option<i64>,
}

/// Validated settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Without a trailing slash.
    pub portal_url: Option<String>,
    pub portal_table: String,
    pub portal_auth_profile: String,
    pub page_size: u32,
    /// Without a trailing slash.
    pub zoho_api_url: String,
    pub zoho_auth_profile: String,
    pub zoho_rate_limits: Vec<String>,
    /// Seconds.
    pub overlap: i64,
}

fn url(name: &str, v: String, example: &str) -> Result<String, Error> {
    let v = v.trim_end_matches('/').to_owned();
    if v.starts_with("https://") || v.starts_with("http://") {
        Ok(v)
    } else {
        Err(Error::invalid(format!(
            "setting {name}: expected a URL like {example:?}, found {v:?}"
        )))
    }
}

impl Settings {
    /// Reads and validates the manifest's settings.
    pub fn load() -> Result<Settings, Error> {
        Settings::validate(config::all()?)
    }

    fn validate(raw: Raw) -> Result<Settings, Error> {
        let page_size = raw.page_size.unwrap_or(1000);
        if !(1..=1000).contains(&page_size) {
            return Err(Error::invalid(format!(
                "setting page_size: expected 1 to 1000, found {page_size}"
            )));
        }
        let overlap = raw.overlap_minutes.unwrap_or(5);
        if !(0..=1440).contains(&overlap) {
            return Err(Error::invalid(format!(
                "setting overlap_minutes: expected 0 to 1440, found {overlap}"
            )));
        }
        let table = raw.portal_table.unwrap_or_else(|| "leads".into());
        if table.is_empty()
            || !table
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return Err(Error::invalid(format!(
                "setting portal_table: expected a table name of letters, digits and _, found {table:?}"
            )));
        }
        Ok(Settings {
            portal_url: raw
                .portal_url
                .map(|u| url("portal_url", u, "https://<ref>.supabase.co/rest/v1"))
                .transpose()?,
            portal_table: table,
            portal_auth_profile: raw.portal_auth_profile.unwrap_or_else(|| "portal".into()),
            page_size: page_size as u32,
            zoho_api_url: url(
                "zoho_api_url",
                raw.zoho_api_url
                    .unwrap_or_else(|| "https://www.zohoapis.com".into()),
                "https://www.zohoapis.eu",
            )?,
            zoho_auth_profile: raw.zoho_auth_profile.unwrap_or_else(|| "zoho".into()),
            zoho_rate_limits: raw
                .zoho_rate_limits
                .unwrap_or_else(|| vec!["zoho".into(), "zoho_crm".into()]),
            overlap: overlap * 60,
        })
    }
}
