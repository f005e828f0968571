//! Redaction: the one place that knows every form a secret can take and removes them from text
//! that leaves the host's hands: log lines, run records, error messages, and the responses a
//! plugin reads. Built from every resolved secret value plus its derived forms (a Basic
//! credential's base64, a filled header template, the URL- and JSON-escaped spellings), and fed
//! OAuth2 access tokens as they are issued.
//!
//! Secrets of at least [`MIN_ANYWHERE`] bytes are replaced wherever they occur. Shorter ones
//! are replaced only as whole tokens (not inside a longer run of letters and digits): a
//! one-letter trigger token must not turn "synced" into "s[redacted]nced". Authenticators the
//! host checks itself (trigger tokens, webhook secrets) must be at least 16 bytes long anyway
//! (`manifest`).

use aho_corasick::AhoCorasick;
use std::borrow::Cow;
use std::sync::{Arc, RwLock};

/// What a secret is replaced with.
pub const MASK: &str = "[redacted]";

/// Secrets at least this long are replaced wherever they appear.
pub const MIN_ANYWHERE: usize = 8;

/// OAuth2 access tokens remembered for redaction (the newest; older ones have expired).
const MAX_TOKENS: usize = 64;

#[derive(Default)]
struct Compiled {
    long: Option<AhoCorasick>,
    short: Vec<String>,
}

/// Every secret form known to this host.
#[derive(Default)]
pub struct Redactor {
    patterns: RwLock<Patterns>,
}

#[derive(Default)]
struct Patterns {
    secrets: Vec<String>,
    tokens: Vec<String>,
    compiled: Arc<Compiled>,
}

impl Patterns {
    fn compile(&mut self) {
        let mut long: Vec<&str> = Vec::new();
        let mut short = Vec::new();
        for s in self.secrets.iter().chain(&self.tokens) {
            if s.len() >= MIN_ANYWHERE {
                long.push(s);
            } else if !s.is_empty() {
                short.push(s.clone());
            }
        }
        // Longest first, so a secret that contains another is replaced whole.
        long.sort_by_key(|s| std::cmp::Reverse(s.len()));
        long.dedup();
        let long = (!long.is_empty()).then(|| {
            AhoCorasick::builder()
                .match_kind(aho_corasick::MatchKind::LeftmostLongest)
                .build(&long)
                .expect("plain string patterns always build")
        });
        self.compiled = Arc::new(Compiled { long, short });
    }
}

/// The spellings of `secret` that may show up in text: itself, URL-encoded, JSON-escaped.
fn spellings(secret: &str) -> Vec<String> {
    let mut out = vec![secret.to_owned()];
    let url: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
    let json = serde_json::to_string(secret).unwrap_or_default();
    let json = json.trim_matches('"').to_owned();
    for form in [url, json] {
        if !out.contains(&form) {
            out.push(form);
        }
    }
    out
}

impl Redactor {
    /// A redactor for `secrets` (values and derived forms alike).
    pub fn new<I: IntoIterator<Item = S>, S: AsRef<str>>(secrets: I) -> Self {
        let r = Redactor::default();
        r.add(secrets);
        r
    }

    /// Adds more secret values (and their spellings).
    pub fn add<I: IntoIterator<Item = S>, S: AsRef<str>>(&self, secrets: I) {
        let mut p = self.patterns.write().unwrap_or_else(|e| e.into_inner());
        let before = p.secrets.len();
        for s in secrets {
            for form in spellings(s.as_ref()) {
                if !form.is_empty() && !p.secrets.contains(&form) {
                    p.secrets.push(form);
                }
            }
        }
        if p.secrets.len() != before {
            p.compile();
        }
    }

    /// Remembers an OAuth2 access token just issued.
    pub fn add_token(&self, token: &str) {
        if token.is_empty() {
            return;
        }
        let mut p = self.patterns.write().unwrap_or_else(|e| e.into_inner());
        if p.tokens.iter().any(|t| t == token) {
            return;
        }
        p.tokens.push(token.to_owned());
        if p.tokens.len() > MAX_TOKENS {
            p.tokens.remove(0);
        }
        p.compile();
    }

    fn compiled(&self) -> Arc<Compiled> {
        self.patterns
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .compiled
            .clone()
    }

    /// `text` with every secret replaced by [`MASK`].
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let compiled = self.compiled();
        let mut out = Cow::Borrowed(text);
        if let Some(ac) = &compiled.long {
            if ac.is_match(out.as_ref()) {
                out = Cow::Owned(ac.replace_all(out.as_ref(), &vec![MASK; ac.patterns_len()]));
            }
        }
        for short in &compiled.short {
            if out.contains(short.as_str()) {
                out = Cow::Owned(replace_tokens(&out, short));
            }
        }
        out
    }

    /// `body` with every secret replaced by [`MASK`] (bytes need not be UTF-8).
    pub fn redact_bytes(&self, body: Vec<u8>) -> Vec<u8> {
        let compiled = self.compiled();
        let mut body = body;
        if let Some(ac) = &compiled.long {
            if ac.is_match(&body) {
                body = ac.replace_all_bytes(&body, &vec![MASK.as_bytes(); ac.patterns_len()]);
            }
        }
        if !compiled.short.is_empty() {
            if let Ok(text) = std::str::from_utf8(&body) {
                let mut text = text.to_owned();
                for short in &compiled.short {
                    if text.contains(short.as_str()) {
                        text = replace_tokens(&text, short);
                    }
                }
                body = text.into_bytes();
            }
        }
        body
    }
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the patterns themselves.
        f.write_str("Redactor { .. }")
    }
}

/// Replaces the occurrences of `needle` in `text` that are whole tokens: not preceded or
/// followed by a letter or digit.
fn replace_tokens(text: &str, needle: &str) -> String {
    let word = |c: Option<char>| c.is_some_and(char::is_alphanumeric);
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut before: Option<char> = None;
    while let Some(at) = rest.find(needle) {
        let prev = rest[..at].chars().next_back().or(before);
        let next = rest[at + needle.len()..].chars().next();
        out.push_str(&rest[..at]);
        if word(prev) || word(next) {
            out.push_str(needle);
        } else {
            out.push_str(MASK);
        }
        before = needle.chars().next_back();
        rest = &rest[at + needle.len()..];
    }
    out.push_str(rest);
    out
}

/// `url` with its password hidden, in the user info and in a `password=` parameter (both ways
/// PostgreSQL takes one): the one scrubber for database and other URLs in messages and logs.
pub fn url(url: &str) -> String {
    let mut out = url.to_owned();
    if let Some(start) = url.find("://").map(|i| i + 3) {
        let authority_end = url[start..]
            .find(['/', '?'])
            .map_or(url.len(), |i| start + i);
        if let Some(at) = url[start..authority_end].rfind('@').map(|i| start + i) {
            if let Some(colon) = url[start..at].find(':').map(|i| start + i) {
                out = format!("{}:***{}", &url[..colon], &url[at..]);
            }
        }
    }
    if let Some((head, query)) = out.split_once('?') {
        let params: Vec<String> = query
            .split('&')
            .map(|p| match p.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                _ => p.to_owned(),
            })
            .collect();
        out = format!("{head}?{}", params.join("&"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_secrets_go_wherever_they_are() {
        let r = Redactor::new(["s3cr3t-key-123"]);
        assert_eq!(
            r.redact("key=s3cr3t-key-123&x=as3cr3t-key-123b"),
            "key=[redacted]&x=a[redacted]b"
        );
        assert_eq!(
            r.redact_bytes(b"{\"echo\":\"s3cr3t-key-123\"}".to_vec()),
            b"{\"echo\":\"[redacted]\"}"
        );
        assert!(matches!(r.redact("nothing here"), Cow::Borrowed(_)));
    }

    #[test]
    fn short_secrets_go_only_as_whole_tokens() {
        let r = Redactor::new(["s"]);
        assert_eq!(r.redact("synced 500 repos"), "synced 500 repos");
        assert_eq!(r.redact("token=s; s"), "token=[redacted]; [redacted]");
        let r = Redactor::new(["hunter2"]);
        assert_eq!(
            r.redact("password hunter2 hunter22"),
            "password [redacted] hunter22"
        );
    }

    #[test]
    fn derived_spellings_and_tokens_are_covered() {
        let r = Redactor::new(["p@ss w\"rd!long"]);
        assert_eq!(r.redact("u=p%40ss+w%22rd%21long"), "u=[redacted]");
        assert_eq!(
            r.redact(r#"{"p":"p@ss w\"rd!long"}"#),
            r#"{"p":"[redacted]"}"#
        );
        r.add_token("ya29.a0AfH6SM-token");
        assert_eq!(r.redact("Bearer ya29.a0AfH6SM-token"), "Bearer [redacted]");
        assert_eq!(format!("{r:?}"), "Redactor { .. }");
    }

    #[test]
    fn urls_lose_their_passwords_only() {
        assert_eq!(
            url("postgres://app:hunter2@db:5432/x"),
            "postgres://app:***@db:5432/x"
        );
        assert_eq!(
            url("postgres://app@db/x?sslmode=require&Password=hunter2"),
            "postgres://app@db/x?sslmode=require&Password=***"
        );
        assert_eq!(url("postgres://app@db/x"), "postgres://app@db/x");
        assert_eq!(url("sqlite://connectors.db"), "sqlite://connectors.db");
        assert_eq!(url("sqlite::memory:"), "sqlite::memory:");
    }
}
