//! `http` and `https` URLs (RFC 3986, RFC 9110 §4.2) and percent-encoding.

use alloc::string::{String, ToString};
use core::fmt::{self, Write as _};

/// `http` or `https`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// Plain HTTP (port 80 by default).
    Http,
    /// HTTP over TLS (port 443 by default).
    Https,
}

impl Scheme {
    /// 80 or 443 (RFC 9110 §4.2.1, §4.2.2).
    #[must_use]
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }

    /// `"http"` or `"https"`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// A URL that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UrlError {
    /// Not `http://` or `https://` (ASCII case ignored).
    #[error("URL must start with http:// or https://")]
    Scheme,
    /// No host.
    #[error("URL has no host")]
    NoHost,
    /// The host has a character a host name, an IPv4 address or a bracketed IPv6 literal
    /// cannot carry.
    #[error("URL host is not a valid name or address")]
    Host,
    /// The port is not a number 1–65535.
    #[error("URL port is not a number 1-65535")]
    Port,
    /// `user@host`: deprecated and refused (RFC 9110 §4.2.4).
    #[error("URL carries user information")]
    UserInfo,
    /// The path or query has a control byte.
    #[error("URL path has a control character")]
    Path,
    /// Longer than [`Url::MAX_LEN`] or not ASCII.
    #[error("URL is too long or not ASCII")]
    Length,
}

/// An `http` or `https` URL, split the way a request needs it.
///
/// The fields are public so a caller can build one from parts (a server, a directory and a
/// file name); [`crate::HttpClient`] validates them again before anything goes on the wire.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Url {
    /// The scheme.
    pub scheme: Scheme,
    /// Host name or address; an IPv6 literal without brackets.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Path and query, starting with `/` (fragment dropped). Bytes a request-target cannot
    /// carry (space, non-ASCII, ...) are percent-encoded on the wire; `%XX` is kept as is.
    pub path_and_query: String,
}

impl Url {
    /// The longest URL [`Url::parse`] accepts.
    pub const MAX_LEN: usize = 2048;

    /// Parses `http[s]://host[:port][/path][?query][#fragment]` (surrounding whitespace
    /// ignored). The fragment is dropped; an empty path is `/`.
    ///
    /// # Errors
    /// [`UrlError`] says which part is wrong.
    pub fn parse(url: &str) -> Result<Url, UrlError> {
        let url = url.trim();
        if url.len() > Self::MAX_LEN || !url.is_ascii() {
            return Err(UrlError::Length);
        }
        let (scheme, rest) = if let Some(r) = strip_prefix_ci(url, "http://") {
            (Scheme::Http, r)
        } else if let Some(r) = strip_prefix_ci(url, "https://") {
            (Scheme::Https, r)
        } else {
            return Err(UrlError::Scheme);
        };
        let (authority, tail) = match rest.find(['/', '?', '#']) {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if authority.contains('@') {
            return Err(UrlError::UserInfo);
        }
        let tail = tail.split('#').next().unwrap_or("");
        let path_and_query = if tail.starts_with('/') {
            tail.to_string()
        } else {
            alloc::format!("/{tail}")
        };
        if path_and_query.bytes().any(|b| b < 0x20 || b == 0x7f) {
            return Err(UrlError::Path);
        }
        let default_port = scheme.default_port();
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6.split_once(']').ok_or(UrlError::Host)?;
            let port = match after.strip_prefix(':') {
                Some(p) => parse_port(p)?,
                None if after.is_empty() => default_port,
                None => return Err(UrlError::Port),
            };
            if !h.contains(':') {
                return Err(UrlError::Host);
            }
            (h, port)
        } else {
            match authority.split_once(':') {
                Some((h, p)) => (h, parse_port(p)?),
                None => (authority, default_port),
            }
        };
        if host.is_empty() {
            return Err(UrlError::NoHost);
        }
        if !host_ok(host) {
            return Err(UrlError::Host);
        }
        Ok(Url {
            scheme,
            host: host.to_string(),
            port,
            path_and_query,
        })
    }

    /// `host` or `host:port` as the `Host` field wants it (RFC 9110 §7.2): an IPv6 literal in
    /// brackets, the port only when it is not the scheme's default.
    #[must_use]
    pub fn authority(&self) -> String {
        let mut s = bracketed(&self.host);
        if self.port != self.scheme.default_port() {
            let _ = write!(s, ":{}", self.port);
        }
        s
    }

    /// The path without the query.
    #[must_use]
    pub fn path(&self) -> &str {
        self.path_and_query
            .split('?')
            .next()
            .unwrap_or(&self.path_and_query)
    }

    /// The query (after `?`), if any.
    #[must_use]
    pub fn query(&self) -> Option<&str> {
        self.path_and_query.split_once('?').map(|(_, q)| q)
    }
}

/// The absolute URL: `scheme://authority/path?query`.
impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}://{}{}",
            self.scheme.as_str(),
            self.authority(),
            self.path_and_query
        )
    }
}

/// `[v6]` for an IPv6 literal, the host itself otherwise.
pub(crate) fn bracketed(host: &str) -> String {
    if host.contains(':') {
        alloc::format!("[{host}]")
    } else {
        host.to_string()
    }
}

/// A host a request can name: a reg-name or IPv4 address (letters, digits, `-`, `.`, `_`) or
/// an IPv6 literal (hex digits, `:`, `.`), at most 255 bytes.
pub(crate) fn host_ok(host: &str) -> bool {
    if host.is_empty() || host.len() > 255 {
        return false;
    }
    if host.contains(':') {
        host.bytes()
            .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
    } else {
        host.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
    }
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

fn parse_port(p: &str) -> Result<u16, UrlError> {
    if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
        return Err(UrlError::Port);
    }
    match p.parse::<u16>() {
        Ok(0) | Err(_) => Err(UrlError::Port),
        Ok(port) => Ok(port),
    }
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// Percent-encodes everything but RFC 3986 unreserved characters (`A-Z a-z 0-9 - . _ ~`):
/// the form for a query parameter's value (SCEP's `message=`, RFC 8894 §4.1).
#[must_use]
pub fn percent_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 15)]));
        }
    }
    out
}

/// The bytes a request-target carries unencoded: RFC 3986 `pchar`, `/`, `?`, and `%` (an
/// existing escape is kept).
fn target_char_ok(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?%".contains(&b)
}

/// Appends `path_and_query` to a request line, percent-encoding what a request-target cannot
/// carry (RFC 9112 §3.2).
pub(crate) fn push_target(out: &mut alloc::vec::Vec<u8>, path_and_query: &str) {
    for &b in path_and_query.as_bytes() {
        if target_char_ok(b) {
            out.push(b);
        } else {
            out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = Url::parse("http://10.77.0.1:8080/scep").unwrap();
        assert_eq!(
            (u.scheme, u.host.as_str(), u.port, u.path_and_query.as_str()),
            (Scheme::Http, "10.77.0.1", 8080, "/scep")
        );
        assert_eq!(u.authority(), "10.77.0.1:8080");
        assert_eq!(u.to_string(), "http://10.77.0.1:8080/scep");
        let u = Url::parse(" HTTPS://ca.example.com ").unwrap();
        assert_eq!(
            (u.scheme, u.port, u.path_and_query.as_str()),
            (Scheme::Https, 443, "/")
        );
        assert_eq!(u.authority(), "ca.example.com");
        let u = Url::parse("http://[fd00::1]:81/cgi-bin/pkiclient.exe?x=1#frag").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path_and_query.as_str()),
            ("fd00::1", 81, "/cgi-bin/pkiclient.exe?x=1")
        );
        assert_eq!(u.path(), "/cgi-bin/pkiclient.exe");
        assert_eq!(u.query(), Some("x=1"));
        assert_eq!(u.authority(), "[fd00::1]:81");
        assert_eq!(
            u.to_string(),
            "http://[fd00::1]:81/cgi-bin/pkiclient.exe?x=1"
        );
        let u = Url::parse("http://h?q").unwrap();
        assert_eq!(u.path_and_query, "/?q");
        assert_eq!(u.query(), Some("q"));
        let u = Url::parse("http://h:80").unwrap();
        assert_eq!((u.port, u.authority().as_str()), (80, "h"));
    }

    #[test]
    fn bad_urls() {
        assert_eq!(Url::parse("ftp://x"), Err(UrlError::Scheme));
        assert_eq!(Url::parse("http:/x"), Err(UrlError::Scheme));
        assert_eq!(Url::parse("http://:80/"), Err(UrlError::NoHost));
        assert_eq!(Url::parse("http:///x"), Err(UrlError::NoHost));
        assert_eq!(Url::parse("http://h:0/"), Err(UrlError::Port));
        assert_eq!(Url::parse("http://h:/"), Err(UrlError::Port));
        assert_eq!(Url::parse("http://h:+80/"), Err(UrlError::Port));
        assert_eq!(Url::parse("http://h:99999/"), Err(UrlError::Port));
        assert_eq!(Url::parse("http://h:1:2/"), Err(UrlError::Port));
        assert_eq!(Url::parse("http://[fd00::1]x/"), Err(UrlError::Port));
        assert_eq!(Url::parse("http://[fd00::1/"), Err(UrlError::Host));
        assert_eq!(Url::parse("http://[host]/"), Err(UrlError::Host));
        assert_eq!(Url::parse("http://a b/"), Err(UrlError::Host));
        assert_eq!(Url::parse("http://a%0d/"), Err(UrlError::Host));
        assert_eq!(Url::parse("http://u:p@h/"), Err(UrlError::UserInfo));
        assert_eq!(Url::parse("http://h/a\r\nX: y"), Err(UrlError::Path));
        assert_eq!(Url::parse("http://h/\u{e9}"), Err(UrlError::Length));
        let long = alloc::format!("http://h/{}", "a".repeat(Url::MAX_LEN));
        assert_eq!(Url::parse(&long), Err(UrlError::Length));
    }

    #[test]
    fn encoding() {
        assert_eq!(percent_encode(&[0xFB, 0xFF]), "%FB%FF");
        assert_eq!(percent_encode(b"CA Ident+/="), "CA%20Ident%2B%2F%3D");
        let mut out = alloc::vec::Vec::new();
        push_target(&mut out, "/dir/a b.txt?x=%2B&y=\u{e9}#\r\n");
        assert_eq!(out, b"/dir/a%20b.txt?x=%2B&y=%C3%A9%23%0D%0A");
    }

    proptest::proptest! {
        /// Whatever the text, parsing never panics and a parsed URL prints back to itself.
        #[test]
        fn parse_display_round_trip(s in "\\PC{0,40}|(?i:https?)://[a-z0-9.:\\[\\]@]{0,20}(/[ -~]{0,20})?") {
            if let Ok(u) = Url::parse(&s) {
                let again = Url::parse(&u.to_string());
                proptest::prop_assert_eq!(again, Ok(u));
            }
        }

        /// The request-target never carries a byte that could break the request line.
        #[test]
        fn target_is_safe(s in "\\PC{0,40}") {
            let mut out = alloc::vec::Vec::new();
            push_target(&mut out, &s);
            proptest::prop_assert!(out.iter().all(|&b| b.is_ascii_graphic() && b != b'#'));
        }
    }
}
