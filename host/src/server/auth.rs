//! Checking the credentials of inbound requests: the bearer token of manual triggers and the
//! Basic, bearer or HMAC-SHA256 credentials of webhooks. Every comparison is constant-time,
//! and nothing here formats a credential into a message.

use crate::manifest::{Secrets, WebhookAuth};
use axum::http::HeaderMap;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Why a request was refused (the text is safe to send back).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused(pub &'static str);

/// Compares two secrets in time that depends on neither their contents nor their lengths.
pub fn same_secret(given: &[u8], expected: &[u8]) -> bool {
    let a = Sha256::digest(given);
    let b = Sha256::digest(expected);
    bool::from(a.ct_eq(&b))
}

/// The token of an `Authorization: Bearer …` header.
fn bearer(headers: &HeaderMap) -> Option<&[u8]> {
    let value = headers.get(axum::http::header::AUTHORIZATION)?.as_bytes();
    let (scheme, token) = split_scheme(value)?;
    scheme.eq_ignore_ascii_case(b"bearer").then_some(token)
}

fn split_scheme(value: &[u8]) -> Option<(&[u8], &[u8])> {
    let space = value.iter().position(|&b| b == b' ')?;
    let token = value[space + 1..].trim_ascii();
    Some((&value[..space], token))
}

/// Checks `Authorization: Bearer <token>` against `expected`.
pub fn check_bearer(headers: &HeaderMap, expected: &str) -> Result<(), Refused> {
    match bearer(headers) {
        None => Err(Refused("missing bearer token")),
        Some(token) if same_secret(token, expected.as_bytes()) => Ok(()),
        Some(_) => Err(Refused("wrong bearer token")),
    }
}

/// Checks a webhook request; returns the name of the header that carried the credential, which
/// the plugin must not see.
pub fn check_webhook(
    auth: &WebhookAuth,
    secrets: &Secrets,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Option<String>, Refused> {
    let secret = |r| {
        secrets
            .get(r)
            .ok_or(Refused("the webhook's secret is not loaded"))
    };
    match auth {
        WebhookAuth::None => Ok(None),
        WebhookAuth::Bearer { secret: s } => {
            check_bearer(headers, secret(s)?)?;
            Ok(Some("authorization".into()))
        }
        WebhookAuth::Basic { username, password } => {
            let value = headers
                .get(axum::http::header::AUTHORIZATION)
                .map(|v| v.as_bytes())
                .ok_or(Refused("missing basic credentials"))?;
            let (scheme, encoded) =
                split_scheme(value).ok_or(Refused("malformed basic credentials"))?;
            if !scheme.eq_ignore_ascii_case(b"basic") {
                return Err(Refused("missing basic credentials"));
            }
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .map_err(|_| Refused("malformed basic credentials"))?;
            let colon = decoded
                .iter()
                .position(|&b| b == b':')
                .ok_or(Refused("malformed basic credentials"))?;
            let user_ok = same_secret(&decoded[..colon], secret(username)?.as_bytes());
            let pass_ok = same_secret(&decoded[colon + 1..], secret(password)?.as_bytes());
            if user_ok & pass_ok {
                Ok(Some("authorization".into()))
            } else {
                Err(Refused("wrong basic credentials"))
            }
        }
        WebhookAuth::Hmac {
            secret: s,
            header,
            prefix,
        } => {
            let value = headers
                .get(header.as_str())
                .map(|v| v.as_bytes().trim_ascii())
                .ok_or(Refused("missing signature header"))?;
            let given = value
                .strip_prefix(prefix.as_bytes())
                .ok_or(Refused("malformed signature"))?;
            let given = decode_signature(given).ok_or(Refused("malformed signature"))?;
            let mut mac = Hmac::<Sha256>::new_from_slice(secret(s)?.as_bytes())
                .map_err(|_| Refused("the webhook's secret is not usable"))?;
            mac.update(body);
            mac.verify_slice(&given)
                .map_err(|_| Refused("wrong signature"))?;
            Ok(Some(header.clone()))
        }
    }
}

/// A signature in hex (either case) or base64 (standard or URL-safe, padded or not).
fn decode_signature(text: &[u8]) -> Option<Vec<u8>> {
    if text.len() == 64 {
        if let Ok(bytes) = hex::decode(text) {
            return Some(bytes);
        }
    }
    let engines = [
        &base64::engine::general_purpose::STANDARD,
        &base64::engine::general_purpose::STANDARD_NO_PAD,
        &base64::engine::general_purpose::URL_SAFE,
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
    ];
    engines
        .iter()
        .find_map(|e| e.decode(text).ok())
        .filter(|b| b.len() == 32)
}

/// HMAC-SHA256 of `body` under `key`, in lowercase hex (what a sender puts in the header).
pub fn sign(key: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length works");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::SecretRef;
    use axum::http::HeaderValue;

    fn secrets() -> Secrets {
        let mut s = Secrets::default();
        s.insert("HOOK", "s3cret".into());
        s.insert("USER", "c7".into());
        s
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn hook() -> SecretRef {
        SecretRef { env: "HOOK".into() }
    }

    #[test]
    fn bearer_needs_the_exact_token() {
        assert!(check_bearer(&headers(&[("authorization", "Bearer s3cret")]), "s3cret").is_ok());
        assert!(check_bearer(&headers(&[("authorization", "bearer  s3cret ")]), "s3cret").is_ok());
        for bad in [
            "Bearer s3cre",
            "Bearer s3cret2",
            "Basic s3cret",
            "s3cret",
            "Bearer ",
        ] {
            assert!(
                check_bearer(&headers(&[("authorization", bad)]), "s3cret").is_err(),
                "{bad}"
            );
        }
        assert_eq!(
            check_bearer(&HeaderMap::new(), "s3cret"),
            Err(Refused("missing bearer token"))
        );
    }

    #[test]
    fn hmac_accepts_hex_and_base64_and_refuses_a_changed_body() {
        let auth = WebhookAuth::Hmac {
            secret: hook(),
            header: "x-signature".into(),
            prefix: "sha256=".into(),
        };
        let body = br#"{"order":1}"#;
        let hex_sig = format!("sha256={}", sign(b"s3cret", body));
        let h = headers(&[("x-signature", &hex_sig)]);
        assert_eq!(
            check_webhook(&auth, &secrets(), &h, body),
            Ok(Some("x-signature".into()))
        );
        let raw = hex::decode(sign(b"s3cret", body)).unwrap();
        let b64 = format!(
            "sha256={}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        );
        assert!(check_webhook(&auth, &secrets(), &headers(&[("x-signature", &b64)]), body).is_ok());
        assert_eq!(
            check_webhook(&auth, &secrets(), &h, br#"{"order":2}"#),
            Err(Refused("wrong signature"))
        );
        let unprefixed = sign(b"s3cret", body);
        assert!(check_webhook(
            &auth,
            &secrets(),
            &headers(&[("x-signature", &unprefixed)]),
            body
        )
        .is_err());
        assert_eq!(
            check_webhook(&auth, &secrets(), &HeaderMap::new(), body),
            Err(Refused("missing signature header"))
        );
    }

    #[test]
    fn basic_checks_user_and_password() {
        let auth = WebhookAuth::Basic {
            username: SecretRef { env: "USER".into() },
            password: hook(),
        };
        let enc = |s: &str| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(s)
            )
        };
        let ok = headers(&[("authorization", &enc("c7:s3cret"))]);
        assert!(check_webhook(&auth, &secrets(), &ok, b"").is_ok());
        for bad in ["c7:wrong", "other:s3cret", "c7s3cret", ""] {
            let h = headers(&[("authorization", &enc(bad))]);
            assert!(check_webhook(&auth, &secrets(), &h, b"").is_err(), "{bad}");
        }
    }
}
