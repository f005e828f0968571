//! The connector's settings, read from the manifest once per run and validated into [`Settings`];
//! after this, no code looks at raw settings again.

use crate::odata::MAX_PAGE;
use connector_sdk::{config, Error};
use serde::Deserialize;
use std::time::Duration;

/// The settings the manifest may give (all optional), with their defaults.
pub const DESCRIPTIONS: &[(&str, &str)] = &[
    ("base_url", "the account's API root (default https://public-api2.ploomes.com; hosts are sharded per account)"),
    ("auth_profile", "the manifest auth profile that adds User-Key (default \"ploomes\")"),
    ("page_size", "deals per request, 1 to 300 (default 300)"),
    ("client_tag_id", "only deals of contacts carrying this tag (default: every deal)"),
    ("overlap_seconds", "an incremental run re-reads deals updated this long before the cursor, for late writes (default 60)"),
    ("contacts_lookup", "\"by-id\", \"scan\" or \"auto\" (default): how customer names and CNPJs are fetched"),
    ("contacts_batch", "contact ids per /Contacts request in by-id lookups, 1 to 100 (default 50)"),
    ("quota_wait_seconds", "how long to keep backing off over-quota answers without Retry-After (403 page, bare 429) before failing the run (default 300)"),
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    base_url: Option<String>,
    auth_profile: Option<String>,
    page_size: Option<i64>,
    client_tag_id: Option<i64>,
    overlap_seconds: Option<i64>,
    contacts_lookup: Option<String>,
    contacts_batch: Option<i64>,
    quota_wait_seconds: Option<i64>,
}

/// How customer names and CNPJs are looked up in `/Contacts`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContactsLookup {
    /// `Id eq a or Id eq b …` batches of `contacts_batch` ids.
    ById,
    /// Walk every contact (those with the client tag, when set) by `Id`, 300 at a time.
    Scan,
    /// Scan when more than ten by-id batches would be needed, else by id.
    Auto,
}

/// Validated settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Without a trailing slash.
    pub base_url: String,
    pub auth_profile: String,
    pub page_size: u32,
    pub client_tag_id: Option<i64>,
    pub overlap_seconds: i64,
    pub contacts_lookup: ContactsLookup,
    pub contacts_batch: usize,
    pub quota_wait: Duration,
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
        let raw: Raw = config::all()?;
        Settings::validate(raw)
    }

    fn validate(raw: Raw) -> Result<Settings, Error> {
        let base_url = raw
            .base_url
            .unwrap_or_else(|| "https://public-api2.ploomes.com".into())
            .trim_end_matches('/')
            .to_owned();
        let host = base_url
            .strip_prefix("https://")
            .or_else(|| base_url.strip_prefix("http://"));
        if host.is_none_or(|h| h.is_empty() || h.contains(['?', '#'])) {
            return Err(Error::invalid(format!(
                "setting base_url: expected an http(s) URL such as \"https://public-api2.ploomes.com\", found {base_url:?}"
            )));
        }
        let contacts_lookup = match raw.contacts_lookup.as_deref() {
            None | Some("auto") => ContactsLookup::Auto,
            Some("by-id") => ContactsLookup::ById,
            Some("scan") => ContactsLookup::Scan,
            Some(other) => {
                return Err(Error::invalid(format!(
                    "setting contacts_lookup: expected \"by-id\", \"scan\" or \"auto\", found {other:?}"
                )))
            }
        };
        Ok(Settings {
            base_url,
            auth_profile: raw.auth_profile.unwrap_or_else(|| "ploomes".into()),
            page_size: range("page_size", raw.page_size, 300, 1, MAX_PAGE.into())? as u32,
            client_tag_id: raw.client_tag_id,
            overlap_seconds: range("overlap_seconds", raw.overlap_seconds, 60, 0, 7 * 86_400)?,
            contacts_lookup,
            contacts_batch: range("contacts_batch", raw.contacts_batch, 50, 1, 100)? as usize,
            quota_wait: Duration::from_secs(range(
                "quota_wait_seconds",
                raw.quota_wait_seconds,
                300,
                0,
                86_400,
            )? as u64),
        })
    }

    /// What the deal cursor depends on: a cursor saved under other settings is not reused.
    pub fn scope(&self) -> String {
        match self.client_tag_id {
            Some(tag) => format!("{} tag={tag}", self.base_url),
            None => self.base_url.clone(),
        }
    }
}
