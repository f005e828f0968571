//! Decoding `application/x-www-form-urlencoded` text (query strings and OAuth form bodies) by
//! hand, so a badly encoded parameter is answered with Zoho's own error instead of axum's.

/// Decoded `name=value` pairs, in order.
#[derive(Debug, Default, Clone)]
pub(super) struct Params(Vec<(String, String)>);

impl Params {
    /// Parses `a=1&b=x%20y` (`+` is a space; a malformed escape is kept literally).
    pub(super) fn parse(text: &str) -> Params {
        let pairs = text
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|pair| match pair.split_once('=') {
                Some((k, v)) => (decode(k), decode(v)),
                None => (decode(pair), String::new()),
            })
            .collect();
        Params(pairs)
    }

    /// Parses an optional query string.
    pub(super) fn from_query(query: Option<&str>) -> Params {
        Params::parse(query.unwrap_or(""))
    }

    /// Adds `other`'s pairs after these (a later pair wins in [`get`](Self::get)).
    pub(super) fn extend(&mut self, other: Params) {
        self.0.extend(other.0);
    }

    /// The last value given for `name`.
    pub(super) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether `name` was given at all (even empty).
    pub(super) fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(k, _)| k == name)
    }
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::Params;

    #[test]
    fn decodes_escapes_plus_and_repeats() {
        let p = Params::parse("a=1&b=x%20y+z&c&b=last&d=%zz&e=%41");
        assert_eq!(p.get("a"), Some("1"));
        assert_eq!(p.get("b"), Some("last"));
        assert_eq!(p.get("c"), Some(""));
        assert_eq!(p.get("d"), Some("%zz"));
        assert_eq!(p.get("e"), Some("A"));
        assert!(p.has("c") && !p.has("z"));
        assert_eq!(Params::parse("q=x%20y+z").get("q"), Some("x y z"));
    }
}
