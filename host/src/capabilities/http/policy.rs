//! What a plugin's request may be: allow-listed origins, headers it may not set, size caps, and
//! the address check that keeps DNS names from reaching loopback, private, link-local or
//! cloud-metadata addresses (SSRF). Only an allow entry that names an IP literal reaches such
//! an address: reqwest connects to IP literals without asking the resolver.

use crate::manifest::Origin;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::Url;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// Headers a plugin may send, at most.
pub const MAX_HEADERS: usize = 64;
/// One header name, in bytes.
pub const MAX_HEADER_NAME: usize = 256;
/// One header value, in bytes.
pub const MAX_HEADER_VALUE: usize = 8 * 1024;
/// A request body, in bytes.
pub const MAX_REQUEST_BODY: usize = 10 * 1024 * 1024;
/// A URL, in bytes.
pub const MAX_URL: usize = 8 * 1024;
/// Redirects followed for one request.
pub const MAX_REDIRECTS: usize = 5;

/// Headers that carry credentials: only auth profiles set them.
const CREDENTIAL_HEADERS: &[&str] = &["authorization", "proxy-authorization", "cookie", "host"];
/// Headers that belong to the connection, not the request.
const HOP_HEADERS: &[&str] = &[
    "connection",
    "content-length",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "keep-alive",
    "proxy-connection",
];

/// The origin (scheme, host, port) of `url`, in the manifest's form.
pub fn origin_of(url: &Url) -> Option<Origin> {
    let host = url.host_str()?.to_ascii_lowercase();
    Some(Origin {
        scheme: url.scheme().to_owned(),
        host,
        port: url.port_or_known_default()?,
    })
}

/// Whether `url` is on one of the `allow`ed origins.
pub fn allowed(allow: &[Origin], url: &Url) -> bool {
    origin_of(url).is_some_and(|o| allow.contains(&o))
}

/// Checks a plugin's headers; `profile_headers` are set by the auth profile it named.
pub fn check_headers(
    headers: &[(String, String)],
    profile_headers: &[String],
) -> Result<(), Refusal> {
    if headers.len() > MAX_HEADERS {
        return Err(Refusal::Invalid(format!(
            "{} headers; the limit is {MAX_HEADERS}",
            headers.len()
        )));
    }
    for (name, value) in headers {
        if name.len() > MAX_HEADER_NAME || value.len() > MAX_HEADER_VALUE {
            return Err(Refusal::TooLarge);
        }
        let lower = name.to_ascii_lowercase();
        if CREDENTIAL_HEADERS.contains(&lower.as_str()) {
            return Err(Refusal::Denied(format!(
                "header {lower} may not be set by a plugin; name an auth profile instead"
            )));
        }
        if profile_headers
            .iter()
            .any(|h| h.eq_ignore_ascii_case(&lower))
        {
            return Err(Refusal::Denied(format!(
                "header {lower} is set by the auth profile"
            )));
        }
        if HOP_HEADERS.contains(&lower.as_str()) {
            return Err(Refusal::Invalid(format!(
                "header {lower} is managed by the host"
            )));
        }
        if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err()
            || reqwest::header::HeaderValue::from_str(value).is_err()
        {
            return Err(Refusal::Invalid(format!(
                "header {:?} is not a valid header",
                crate::limits::truncate(name, 64)
            )));
        }
    }
    Ok(())
}

/// Why a request was refused before it was sent.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Policy: not granted.
    Denied(String),
    /// Malformed.
    Invalid(String),
    /// Over a size cap.
    TooLarge,
}

/// Whether `ip` is an ordinary public unicast address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (s[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
                || (s[0] & 0xffc0) == 0xfec0 // site-local fec0::/10
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
                || (s[0] == 0x64 && s[1] == 0xff9b)) // NAT64 could reach any IPv4
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local() // 169.254/16, cloud metadata
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || o[0] == 0
        || (o[0] == 100 && (o[1] & 0xc0) == 64) // carrier-grade NAT 100.64/10
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // IETF protocol assignments
        || (o[0] == 198 && (o[1] & 0xfe) == 18) // benchmarking 198.18/15
        || o[0] >= 240)
}

/// A DNS name resolved only to addresses plugins may not reach.
#[derive(Debug)]
pub struct NonPublicAddress(pub String);

impl std::fmt::Display for NonPublicAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} resolves only to loopback, private or link-local addresses",
            self.0
        )
    }
}

impl std::error::Error for NonPublicAddress {}

/// The resolver of the plugins' HTTP client: the system's, minus non-public addresses.
pub struct PublicOnlyResolver;

impl Resolve for PublicOnlyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| is_public(a.ip()))
                .collect();
            if found.is_empty() {
                return Err(
                    Box::new(NonPublicAddress(host)) as Box<dyn std::error::Error + Send + Sync>
                );
            }
            Ok(Box::new(found.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_public_addresses_are_recognised() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fc00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "255.255.255.255",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip} must not be public");
        }
        for ip in [
            "93.184.216.34",
            "1.1.1.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_public(ip.parse().unwrap()), "{ip} is public");
        }
    }

    #[test]
    fn plugins_cannot_set_credentials_or_connection_headers() {
        let h = |n: &str| vec![(n.to_owned(), "x".to_owned())];
        assert!(matches!(
            check_headers(&h("Authorization"), &[]),
            Err(Refusal::Denied(_))
        ));
        assert!(matches!(
            check_headers(&h("cookie"), &[]),
            Err(Refusal::Denied(_))
        ));
        assert!(matches!(
            check_headers(&h("Host"), &[]),
            Err(Refusal::Denied(_))
        ));
        assert!(matches!(
            check_headers(&h("user-key"), &["User-Key".to_owned()]),
            Err(Refusal::Denied(_))
        ));
        assert!(matches!(
            check_headers(&h("Transfer-Encoding"), &[]),
            Err(Refusal::Invalid(_))
        ));
        assert!(matches!(
            check_headers(&h("bad header"), &[]),
            Err(Refusal::Invalid(_))
        ));
        assert_eq!(
            check_headers(&h("accept"), &["User-Key".to_owned()]),
            Ok(())
        );
    }

    #[test]
    fn origins_compare_scheme_host_and_port() {
        let allow = vec![Origin {
            scheme: "http".into(),
            host: "127.0.0.1".into(),
            port: 8080,
        }];
        assert!(allowed(
            &allow,
            &"http://127.0.0.1:8080/x?y".parse().unwrap()
        ));
        assert!(!allowed(&allow, &"http://127.0.0.1:8081/".parse().unwrap()));
        assert!(!allowed(
            &allow,
            &"https://127.0.0.1:8080/".parse().unwrap()
        ));
        assert!(!allowed(&allow, &"http://localhost:8080/".parse().unwrap()));
    }
}
