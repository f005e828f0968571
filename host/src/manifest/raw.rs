//! The manifest as serde reads it from TOML, before any check.
//!
//! Serde stops at the first error; an operator fixing a manifest wants every problem at once.
//! So every field is a [`Field`], which keeps a value of the wrong shape instead of failing the
//! document, and a table read into a struct sets aside the keys the struct does not declare
//! (the structs still `deny_unknown_fields`, as a second line of defence). The validator
//! (`validate.rs`) then walks these shapes and reports everything with its key path.

use std::collections::BTreeMap;

use serde::de::{DeserializeOwned, Deserializer, Error as _, Visitor};
use serde::Deserialize;

/// A value that may be missing, usable, or of the wrong shape (kept for the error message).
pub(super) struct Field<T> {
    pub state: State<T>,
    /// Keys of this table that the struct `T` does not declare, sorted.
    pub unknown: Vec<String>,
    /// The keys `T` declares, for "allowed keys" and near-miss suggestions.
    pub allowed: &'static [&'static str],
}

/// What a [`Field`] held in the TOML document.
pub(super) enum State<T> {
    Missing,
    Present(T),
    Invalid(toml::Value),
}

impl<T> Default for Field<T> {
    fn default() -> Self {
        let (unknown, allowed) = (Vec::new(), &[][..]);
        Field {
            state: State::Missing,
            unknown,
            allowed,
        }
    }
}

impl<T: DeserializeOwned> Field<T> {
    /// Reads `value` as a `T`, first setting aside keys a struct `T` does not declare.
    pub fn from_value(mut value: toml::Value) -> Self {
        let allowed = struct_fields::<T>().unwrap_or(&[]);
        let mut unknown = Vec::new();
        if let toml::Value::Table(table) = &mut value {
            if !allowed.is_empty() {
                unknown = table
                    .keys()
                    .filter(|k| !allowed.contains(&k.as_str()))
                    .cloned()
                    .collect();
                // Sorted whether or not toml preserves document order (feature `preserve_order`).
                unknown.sort();
                for key in &unknown {
                    table.remove(key);
                }
            }
        }
        let state = match T::deserialize(value.clone()) {
            Ok(parsed) => State::Present(parsed),
            Err(_) => State::Invalid(value),
        };
        Field {
            state,
            unknown,
            allowed,
        }
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Field<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        toml::Value::deserialize(deserializer).map(Field::from_value)
    }
}

/// The field names a `#[derive(Deserialize)]` struct declares, or `None` for other types.
///
/// A derived struct hands its field list to `deserialize_struct` before reading anything; this
/// deserializer records that list and stops. Keeping the structs as the only list of keys means
/// the "allowed keys" in messages can never drift from what serde accepts.
fn struct_fields<T: DeserializeOwned>() -> Option<&'static [&'static str]> {
    struct Probe<'a>(&'a mut Option<&'static [&'static str]>);

    impl<'de> Deserializer<'de> for Probe<'_> {
        type Error = serde::de::value::Error;

        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(Self::Error::custom("not a struct"))
        }

        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _name: &'static str,
            fields: &'static [&'static str],
            _visitor: V,
        ) -> Result<V::Value, Self::Error> {
            *self.0 = Some(fields);
            Err(Self::Error::custom("fields recorded"))
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
            identifier ignored_any
        }
    }

    let mut fields = None;
    let _ = T::deserialize(Probe(&mut fields));
    fields
}

/// The whole document.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawManifest {
    pub database: Field<RawDatabase>,
    pub runtime: Field<RawRuntime>,
    pub queue: Field<RawQueue>,
    pub server: Field<RawServer>,
    pub alerts: Field<RawAlerts>,
    pub rate_limits: Field<BTreeMap<String, Field<RawRateLimit>>>,
    pub connectors: Field<BTreeMap<String, Field<RawConnector>>>,
}

/// `[alerts]`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawAlerts {
    pub sinks: Field<Vec<Field<RawSink>>>,
    pub failures: Field<i64>,
    pub overlap_skips: Field<i64>,
    pub check_every: Field<String>,
}

/// One `[alerts].sinks` entry: `{ kind = "webhook", url = "ENV" }`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawSink {
    pub kind: Field<String>,
    pub url: Field<String>,
}

/// `[database]`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawDatabase {
    pub url: Field<String>,
}

/// `[runtime]`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawRuntime {
    pub cache_dir: Field<String>,
    pub pooling: Field<bool>,
    pub max_instances: Field<i64>,
    pub run_lease: Field<String>,
    pub queue_workers: Field<i64>,
}

/// `[server]`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawServer {
    pub listen: Field<String>,
    pub max_body: Field<String>,
    pub grace: Field<String>,
    pub watch: Field<bool>,
    pub admin_token: Field<String>,
}

/// `[queue]`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawQueue {
    pub max_attempts: Field<i64>,
    pub backoff_base: Field<String>,
    pub backoff_cap: Field<String>,
    pub lease: Field<String>,
}

/// One `[rate_limits]` entry: `"120/min"` or `{ quota = "90/min", max_concurrency = 4 }`.
pub(super) enum RawRateLimit {
    Short(String),
    Full(Field<RawQuota>),
}

impl<'de> Deserialize<'de> for RawRateLimit {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match toml::Value::deserialize(deserializer)? {
            toml::Value::String(quota) => RawRateLimit::Short(quota),
            other => RawRateLimit::Full(Field::from_value(other)),
        })
    }
}

/// The long form of a rate limit.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawQuota {
    pub quota: Field<String>,
    pub max_concurrency: Field<i64>,
}

/// One schedule: `[connectors.NAME.schedules.SCHEDULE]` or the shorthand `schedule = {…}`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawSchedule {
    pub cron: Field<String>,
    pub timezone: Field<String>,
    pub job: Field<String>,
    pub timeout: Field<String>,
    pub jitter: Field<String>,
    pub overlap: Field<String>,
    pub missed: Field<String>,
    pub catch_up_max: Field<i64>,
    pub catch_up_window: Field<String>,
    pub max_attempts: Field<i64>,
}

/// `[connectors.NAME]`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawConnector {
    pub plugin: Field<String>,
    pub sha256: Field<String>,
    pub tables: Field<Vec<Field<String>>>,
    pub settings: Field<toml::Table>,
    pub timeout: Field<String>,
    pub memory: Field<String>,
    pub http: Field<RawHttp>,
    pub auth: Field<BTreeMap<String, Field<RawAuth>>>,
    pub schedule: Field<RawSchedule>,
    pub schedules: Field<BTreeMap<String, Field<RawSchedule>>>,
    pub trigger: Field<RawTrigger>,
    pub webhook: Field<RawWebhook>,
    pub max_age: Field<String>,
}

/// `trigger = { token = "ENV" }`: who may start a run over HTTP.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawTrigger {
    pub token: Field<String>,
}

/// `webhook = { auth = "hmac", secret = "ENV", header = "X-Signature" }` and its kin.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawWebhook {
    pub auth: Field<String>,
    pub secret: Field<String>,
    pub username: Field<String>,
    pub header: Field<String>,
    pub prefix: Field<String>,
    pub max_body: Field<String>,
}

/// `[connectors.NAME.http]`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawHttp {
    pub allow: Field<Vec<Field<String>>>,
    pub rate_limit: Field<toml::Value>,
    pub extra_rate_limits: Field<Vec<Field<String>>>,
    pub timeout: Field<String>,
    pub max_response: Field<String>,
    pub retries: Field<i64>,
    pub max_wait: Field<String>,
}

/// One auth profile. Its kind follows from which keys are present: `oauth2`, `basic`, or else
/// header templates (`header`/`value` or `headers`, with `secret`).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawAuth {
    pub header: Field<String>,
    pub value: Field<String>,
    pub headers: Field<BTreeMap<String, Field<String>>>,
    pub secret: Field<String>,
    pub basic: Field<RawBasic>,
    pub oauth2: Field<RawOAuth2>,
}

/// `basic = { username = "ENV", password = "ENV" }`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawBasic {
    pub username: Field<String>,
    pub password: Field<String>,
}

/// `oauth2 = { client_id = "ENV", client_secret = "ENV", refresh_token = "ENV", ... }`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawOAuth2 {
    pub client_id: Field<String>,
    pub client_secret: Field<String>,
    pub refresh_token: Field<String>,
    pub data_center: Field<String>,
    pub token_url: Field<String>,
    pub api_url: Field<String>,
    pub scheme: Field<String>,
    pub cooldown: Field<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn struct_fields_reads_the_derived_list() {
        let fields = struct_fields::<RawHttp>().unwrap();
        assert_eq!(
            fields,
            [
                "allow",
                "rate_limit",
                "extra_rate_limits",
                "timeout",
                "max_response",
                "retries",
                "max_wait"
            ]
        );
        assert_eq!(struct_fields::<String>(), None);
        assert_eq!(struct_fields::<BTreeMap<String, String>>(), None);
    }

    #[test]
    fn unknown_keys_are_set_aside_and_the_rest_still_reads() {
        let value: toml::Value =
            toml::from_str("rate_limit = 'a'\nretry = 3\ntimout = '1s'").unwrap();
        let field = Field::<RawHttp>::from_value(value);
        assert_eq!(field.unknown, ["retry", "timout"]);
        let State::Present(http) = field.state else {
            panic!("not read")
        };
        assert!(
            matches!(http.rate_limit.state, State::Present(toml::Value::String(ref s)) if s == "a")
        );
        assert!(matches!(http.timeout.state, State::Missing));
    }

    #[test]
    fn a_wrong_shape_is_kept_not_fatal() {
        let value: toml::Value = toml::from_str("timeout = 30\nmemory = '1GiB'").unwrap();
        let State::Present(c) = Field::<RawConnector>::from_value(value).state else {
            panic!("not read")
        };
        assert!(matches!(
            c.timeout.state,
            State::Invalid(toml::Value::Integer(30))
        ));
        assert!(matches!(c.memory.state, State::Present(_)));
    }
}
