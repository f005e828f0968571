//! Checks auth profiles and resolves the secrets they name.
//!
//! Everything under `auth` may be, by mistake, a secret pasted where its variable's name
//! belongs, so values found here are never echoed: messages describe them by kind instead.

use std::collections::BTreeMap;
use std::time::Duration;

use super::raw::{Field, RawAuth, RawBasic, RawOAuth2, State};
use super::units;
use super::validate::{is_name, join, Check, NAME};
use super::{AuthProfile, SecretRef, SecretTemplate};
use crate::suggest::closest;

const ENV_NAME: &str =
    "the name of an environment variable like \"PLOOMES_API_KEY\" (upper case letters, digits and _)";
const HEADER_NAME: &str = "a header name like \"User-Key\"";
const TEMPLATE: &str = "a template containing \"{secret}\" exactly once, like \"Bearer {secret}\"";
const PROFILE: &str =
    "an auth profile like { header = \"User-Key\", secret = \"PLOOMES_API_KEY\" }, \
    { basic = { username = \"C7_USER\", password = \"C7_PASS\" } } or \
    { oauth2 = { client_id = \"ZOHO_CLIENT_ID\", client_secret = \"ZOHO_CLIENT_SECRET\", \
    refresh_token = \"ZOHO_REFRESH_TOKEN\", data_center = \"eu\" } }";

/// Zoho's data centres and their accounts servers.
const ZOHO_DATA_CENTERS: &[(&str, &str, &str)] = &[
    (
        "us",
        "https://accounts.zoho.com",
        "https://www.zohoapis.com",
    ),
    ("eu", "https://accounts.zoho.eu", "https://www.zohoapis.eu"),
    ("in", "https://accounts.zoho.in", "https://www.zohoapis.in"),
    (
        "au",
        "https://accounts.zoho.com.au",
        "https://www.zohoapis.com.au",
    ),
    (
        "cn",
        "https://accounts.zoho.com.cn",
        "https://www.zohoapis.com.cn",
    ),
    ("jp", "https://accounts.zoho.jp", "https://www.zohoapis.jp"),
    (
        "ca",
        "https://accounts.zohocloud.ca",
        "https://www.zohoapis.ca",
    ),
];

/// The `Authorization` schemes an OAuth2 profile may use: `Bearer` (the default) or Zoho's.
const OAUTH2_SCHEMES: &[&str] = &["Bearer", "Zoho-oauthtoken"];

/// Headers a profile may not set: they frame the request, which is the HTTP client's job.
const FRAMING_HEADERS: &[&str] = &["host", "content-length", "transfer-encoding", "connection"];

/// What a resolved secret value is about to be used for, to check it fits.
#[derive(Clone, Copy, PartialEq)]
pub(super) enum Use {
    Header,
    BasicUser,
    /// A token or secret the host checks callers against (trigger tokens, webhook secrets):
    /// it must be long enough not to be guessed, and to be redacted without touching ordinary
    /// words.
    Authenticator,
    Other,
}

/// The shortest trigger token or webhook secret accepted, in bytes.
pub const MIN_AUTHENTICATOR_BYTES: usize = 16;

fn is_env_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_uppercase() || b == b'_')
        && bytes.all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

/// Whether `name` is an HTTP token (RFC 9110 `tchar`s).
pub(super) fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Whether `text` may appear in a header value: no line breaks or other control characters.
fn is_header_text(text: &str) -> bool {
    !text.chars().any(|c| c.is_control() && c != '\t')
}

impl Check<'_> {
    pub(super) fn auth(
        &mut self,
        raw: Field<BTreeMap<String, Field<RawAuth>>>,
        at: &str,
    ) -> BTreeMap<String, AuthProfile> {
        let mut profiles = BTreeMap::new();
        for (name, raw) in self
            .take_private(raw, at, "a table of auth profiles")
            .unwrap_or_default()
        {
            let at = join(at, &name);
            if !is_name(&name) {
                self.problem(&at, format_args!("expected a profile name of {NAME}"));
            }
            if let Some(profile) = self.profile(raw, &at) {
                profiles.insert(name, profile);
            }
        }
        profiles
    }

    fn profile(&mut self, raw: Field<RawAuth>, at: &str) -> Option<AuthProfile> {
        let raw = self.take_private(raw, at, PROFILE)?;
        let keys = [
            ("header", raw.header.is_set()),
            ("value", raw.value.is_set()),
            ("headers", raw.headers.is_set()),
            ("secret", raw.secret.is_set()),
            ("basic", raw.basic.is_set()),
            ("oauth2", raw.oauth2.is_set()),
        ];
        let present_but = |allowed: &[&str]| -> Vec<&str> {
            let extra = keys
                .iter()
                .filter(|(key, set)| *set && !allowed.contains(key));
            extra.map(|(key, _)| *key).collect()
        };
        if raw.oauth2.is_set() {
            let extra = present_but(&["oauth2"]);
            self.refuse_keys(at, "an oauth2 profile takes no other key", &extra);
            return Some(self.oauth2(raw.oauth2, &join(at, "oauth2"), at));
        }
        if raw.basic.is_set() {
            let extra = present_but(&["basic", "headers"]);
            self.refuse_keys(at, "a basic profile takes only basic and headers", &extra);
            let (username, password) = self.basic(raw.basic, &join(at, "basic"), at);
            let headers = self.plain_headers(raw.headers, &join(at, "headers"));
            return Some(AuthProfile::Basic {
                username,
                password,
                headers,
            });
        }
        if present_but(&[]).is_empty() {
            self.problem(at, format_args!("expected {PROFILE}, found an empty table"));
            return None;
        }
        let headers = self.header_templates(raw, at);
        Some(AuthProfile::Headers { headers })
    }

    /// `{ header = "NAME", value = "..{secret}..", secret = "ENV" }` or
    /// `{ headers = { NAME = "..{secret}.." }, secret = "ENV" }`.
    fn header_templates(&mut self, raw: RawAuth, at: &str) -> Vec<(String, SecretTemplate)> {
        let secret = self.secret_ref(raw.secret, &join(at, "secret"), at, Use::Header);
        let (header_at, value_at, headers_at) =
            (join(at, "header"), join(at, "value"), join(at, "headers"));
        let mut templates = Vec::new();
        if raw.header.is_set() && raw.headers.is_set() {
            self.problem(at, "use either header (with value) or headers, not both");
        } else if raw.header.is_set() {
            let name = self.take_private(raw.header, &header_at, HEADER_NAME);
            let template = self.take_private(raw.value, &value_at, TEMPLATE);
            let template = template.unwrap_or_else(|| "{secret}".to_string());
            self.template(&template, &value_at);
            if let Some(name) = name {
                self.header_name(&name, &header_at);
                templates.push((name, template));
            }
        } else if raw.value.is_set() {
            let rule = "goes with header; with headers, template each header's value";
            self.problem(&value_at, rule);
        } else {
            let expected = "a table of header templates like { \"User-Key\" = \"{secret}\" }";
            let table = self.take_private(raw.headers, &headers_at, expected);
            let table = table.unwrap_or_default();
            if table.is_empty() {
                let expected = "header = \"NAME\" or headers = { NAME = \"{secret}\" }";
                self.problem(at, format_args!("expected {expected} next to secret"));
            }
            for (name, template) in table {
                let template_at = join(&headers_at, &name);
                let Some(template) = self.take_private(template, &template_at, TEMPLATE) else {
                    continue;
                };
                self.header_name(&name, &template_at);
                self.template(&template, &template_at);
                templates.push((name, template));
            }
            self.distinct_headers(templates.iter().map(|(name, _)| name.as_str()), &headers_at);
        }
        let with_secret = |(name, template)| {
            let secret = secret.clone();
            (name, SecretTemplate { template, secret })
        };
        templates.into_iter().map(with_secret).collect()
    }

    fn refuse_keys(&mut self, at: &str, rule: &str, keys: &[&str]) {
        if !keys.is_empty() {
            self.problem(at, format_args!("{rule}, found {}", keys.join(", ")));
        }
    }

    fn basic(
        &mut self,
        raw: Field<RawBasic>,
        at: &str,
        profile_at: &str,
    ) -> (SecretRef, SecretRef) {
        let expected = "a table like { username = \"C7_USER\", password = \"C7_PASS\" }";
        let raw = self.take_private(raw, at, expected).unwrap_or_default();
        let username = self.secret_ref(
            raw.username,
            &join(at, "username"),
            profile_at,
            Use::BasicUser,
        );
        let password = self.secret_ref(raw.password, &join(at, "password"), profile_at, Use::Other);
        (username, password)
    }

    fn plain_headers(
        &mut self,
        raw: Field<BTreeMap<String, Field<String>>>,
        at: &str,
    ) -> Vec<(String, String)> {
        let expected = "a table of headers like { tenant = \"acme\" }";
        let mut headers = Vec::new();
        for (name, value) in self.take_private(raw, at, expected).unwrap_or_default() {
            let value_at = join(at, &name);
            let Some(value) = self.take_private(value, &value_at, "a header value like \"acme\"")
            else {
                continue;
            };
            self.header_name(&name, &value_at);
            if name.eq_ignore_ascii_case("authorization") {
                self.problem(&value_at, "a basic profile sets Authorization itself");
            } else if value.contains("{secret}") {
                self.problem(
                    &value_at,
                    "a basic profile has no secret to put in \"{secret}\"; use a header profile",
                );
            } else if !is_header_text(&value) {
                self.problem(
                    &value_at,
                    "expected a header value, found one with a line break or control character",
                );
            }
            headers.push((name, value));
        }
        self.distinct_headers(headers.iter().map(|(name, _)| name.as_str()), at);
        headers
    }

    fn oauth2(&mut self, raw: Field<RawOAuth2>, at: &str, profile_at: &str) -> AuthProfile {
        let expected = "a table like { client_id = \"ZOHO_CLIENT_ID\", client_secret = \"ZOHO_CLIENT_SECRET\", \
            refresh_token = \"ZOHO_REFRESH_TOKEN\", data_center = \"eu\" }";
        let raw = self.take_private(raw, at, expected).unwrap_or_default();
        let client_id = self.secret_ref(
            raw.client_id,
            &join(at, "client_id"),
            profile_at,
            Use::Other,
        );
        let client_secret = self.secret_ref(
            raw.client_secret,
            &join(at, "client_secret"),
            profile_at,
            Use::Other,
        );
        let refresh_token = self.secret_ref(
            raw.refresh_token,
            &join(at, "refresh_token"),
            profile_at,
            Use::Other,
        );
        let centres: Vec<&str> = ZOHO_DATA_CENTERS.iter().map(|(dc, _, _)| *dc).collect();
        let one_of = centres.join(", ");
        let dc_at = join(at, "data_center");
        let data_center = self.take(raw.data_center, &dc_at, &format!("one of {one_of}"));
        // The data centre picks the accounts (token) and API hosts; token_url and api_url
        // override them (tests, proxies).
        let hosts = match &data_center {
            None => None,
            Some(dc) => match ZOHO_DATA_CENTERS.iter().find(|(name, _, _)| name == dc) {
                Some((_, accounts, api)) => Some((*accounts, *api)),
                None => {
                    let hint = closest(dc, centres.iter().copied())
                        .map_or(String::new(), |c| format!("; did you mean \"{c}\"?"));
                    self.problem(
                        &dc_at,
                        format_args!("expected one of {one_of}, found {dc:?}{hint}"),
                    );
                    None
                }
            },
        };
        let url_at = join(at, "token_url");
        let url_expected = "a URL like \"https://accounts.example.com/oauth/v2/token\"";
        let token_url = match (self.take(raw.token_url, &url_at, url_expected), hosts) {
            (Some(url), _) => {
                self.token_url(&url, &url_at, url_expected);
                url
            }
            (None, Some((accounts, _))) => format!("{accounts}/oauth/v2/token"),
            (None, None) => {
                if data_center.is_none() {
                    let zoho = format!("data_center (one of {one_of}) for Zoho");
                    self.problem(
                        at,
                        format_args!("set {zoho}, or token_url = \"https://.../oauth/v2/token\""),
                    );
                }
                String::new()
            }
        };
        let api_at = join(at, "api_url");
        let api_expected = "an origin like \"https://www.zohoapis.eu\"";
        let api_url = match (self.take(raw.api_url, &api_at, api_expected), hosts) {
            (Some(url), _) => match units::parse_origin(&url) {
                Ok(origin) => Some(origin.to_string()),
                Err(why) => {
                    let url = crate::redact::url(&url);
                    self.problem(
                        &api_at,
                        format_args!("expected {api_expected}, found {url:?}: {why}"),
                    );
                    None
                }
            },
            (None, Some((_, api))) => Some(api.to_owned()),
            (None, None) => None,
        };
        let scheme_at = join(at, "scheme");
        let schemes = OAUTH2_SCHEMES.join(" or ");
        let scheme = match self.take(raw.scheme, &scheme_at, &schemes) {
            None => OAUTH2_SCHEMES[0].to_owned(),
            Some(s) if OAUTH2_SCHEMES.contains(&s.as_str()) => s,
            Some(s) => {
                let hint = closest(&s, OAUTH2_SCHEMES.iter().copied())
                    .map_or(String::new(), |c| format!("; did you mean \"{c}\"?"));
                self.problem(
                    &scheme_at,
                    format_args!("expected {schemes}, found {s:?}{hint}"),
                );
                OAUTH2_SCHEMES[0].to_owned()
            }
        };
        let limits = (Duration::from_secs(1), Duration::from_secs(24 * 3600));
        let cooldown = self.duration(
            raw.cooldown,
            &join(at, "cooldown"),
            Duration::from_secs(300),
            limits,
        );
        AuthProfile::OAuth2 {
            token_url,
            api_url,
            scheme,
            client_id,
            client_secret,
            refresh_token,
            cooldown,
        }
    }

    fn token_url(&mut self, url: &str, at: &str, expected: &str) {
        if url.contains(['?', '#']) {
            // A query may carry client credentials, so the URL is not shown.
            let found = "a URL with a query or fragment (not shown, it may hold a secret)";
            let why = "the host adds the parameters itself";
            self.problem(
                at,
                format_args!("expected {expected}, found {found}; {why}"),
            );
        } else if let Err(why) = units::parse_url(url) {
            let url = crate::redact::url(url);
            self.problem(
                at,
                format_args!("expected {expected}, found {url:?}: {why}"),
            );
        }
    }

    fn header_name(&mut self, name: &str, at: &str) {
        if !is_header_name(name) {
            self.problem(at, format_args!("expected {HEADER_NAME}, found {name:?}"));
        } else if FRAMING_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
            self.problem(
                at,
                format_args!("{name} is set by the HTTP client and cannot be set by a profile"),
            );
        }
    }

    fn template(&mut self, template: &str, at: &str) {
        let count = template.matches("{secret}").count();
        if count != 1 {
            let what = match count {
                0 => "a value without \"{secret}\"".to_string(),
                n => format!("\"{{secret}}\" {n} times"),
            };
            // The template may hold a pasted secret, so it is not shown.
            self.problem(
                at,
                format_args!("expected {TEMPLATE}, found {what} (not shown, it may hold a secret)"),
            );
        } else if !is_header_text(template) {
            self.problem(
                at,
                format_args!(
                    "expected {TEMPLATE}, found one with a line break or control character"
                ),
            );
        }
    }

    fn distinct_headers<'h>(&mut self, names: impl Iterator<Item = &'h str>, at: &str) {
        let mut seen: Vec<&str> = Vec::new();
        for name in names {
            if let Some(first) = seen.iter().find(|s| s.eq_ignore_ascii_case(name)) {
                self.problem(
                    at,
                    format_args!("{first:?} and {name:?} name the same header"),
                );
            }
            seen.push(name);
        }
    }

    /// Checks a variable name at `at` and resolves it; a missing value is reported at the
    /// profile (`profile_at`), with a near miss if one is set.
    pub(super) fn secret_ref(
        &mut self,
        field: Field<String>,
        at: &str,
        profile_at: &str,
        used: Use,
    ) -> SecretRef {
        let env = match self.require_private(field, at, ENV_NAME) {
            Some(name) if is_env_name(&name) => name,
            Some(_) => {
                let found = "a string that is not one (not shown, it may be the secret itself)";
                self.problem(at, format_args!("expected {ENV_NAME}, found {found}"));
                String::new()
            }
            None => String::new(),
        };
        if !env.is_empty() {
            self.resolve(&env, profile_at, used);
        }
        SecretRef { env }
    }

    fn resolve(&mut self, env: &str, at: &str, used: Use) {
        let variable = format!("environment variable {env}");
        match self.env.var(env) {
            Some(value) if value.is_empty() => {
                self.problem(at, format_args!("{variable} is set but empty"))
            }
            Some(value) => {
                if used == Use::Header && !is_header_text(&value) {
                    let what = "a line break or control character";
                    let why = format!("{variable} holds {what}, which cannot go in a header");
                    self.problem(at, why);
                } else if used == Use::Authenticator && value.len() < MIN_AUTHENTICATOR_BYTES {
                    self.problem(
                        at,
                        format_args!(
                            "{variable} holds {} byte(s); a token or secret the host checks \
                             callers against must be at least {MIN_AUTHENTICATOR_BYTES} (e.g. \
                             `openssl rand -hex 32`)",
                            value.len()
                        ),
                    );
                } else if used == Use::BasicUser && value.contains(':') {
                    self.problem(
                        at,
                        format_args!(
                            "{variable} holds a \":\", which a basic auth username cannot contain"
                        ),
                    );
                }
                self.secrets.insert(env, value);
            }
            None => {
                let names = self.set_names();
                let near = closest(env, names.iter().map(String::as_str).filter(|n| *n != env));
                match near.map(str::to_string) {
                    Some(near) => self.problem(
                        at,
                        format_args!("{variable} is not set; {near} is — did you mean it?"),
                    ),
                    None => self.problem(at, format_args!("{variable} is not set")),
                }
            }
        }
    }
}

impl<T> Field<T> {
    /// Whether the key was present at all (even with a wrong value).
    pub(super) fn is_set(&self) -> bool {
        !matches!(self.state, State::Missing)
    }
}
