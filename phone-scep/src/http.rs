//! HTTP as data: the requests the machine emits and the responses it consumes (RFC 8894 §4).
//! The caller owns the sockets, TLS and timeouts.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt::Write as _;

use base64::Engine as _;

use crate::proxy::{self, Route};

/// MYCERTURL could not be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UrlError {
    /// Not `http://` or `https://`.
    #[error("SCEP URL must start with http:// or https://")]
    Scheme,
    /// No host.
    #[error("SCEP URL has no host")]
    NoHost,
    /// Port not a number 1–65535.
    #[error("SCEP URL port is not a number 1-65535")]
    Port,
    /// Longer than MYCERTURL's 255 characters or not ASCII.
    #[error("SCEP URL is too long or not ASCII")]
    Length,
}

/// `http` or `https` (96x1 SIP R7.1+ accepts both, spec/scep.md §2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// Plain HTTP.
    Http,
    /// HTTP over TLS.
    Https,
}

/// A parsed MYCERTURL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScepUrl {
    /// Scheme.
    pub scheme: Scheme,
    /// Host name or address (IPv6 without brackets).
    pub host: String,
    /// Port.
    pub port: u16,
    /// Path, starting with `/`; any query in MYCERTURL is dropped (RFC 8894 §4.1 appends its own).
    pub path: String,
}

impl ScepUrl {
    /// Parses `http[s]://host[:port][/path]`.
    ///
    /// # Errors
    /// [`UrlError`].
    pub fn parse(url: &str) -> Result<ScepUrl, UrlError> {
        let url = url.trim();
        if url.len() > 255 || !url.is_ascii() {
            return Err(UrlError::Length);
        }
        let (scheme, rest) = if let Some(r) = strip_prefix_ci(url, "http://") {
            (Scheme::Http, r)
        } else if let Some(r) = strip_prefix_ci(url, "https://") {
            (Scheme::Https, r)
        } else {
            return Err(UrlError::Scheme);
        };
        let (authority, path) = match rest.find(['/', '?', '#']) {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let path = path.split(['?', '#']).next().unwrap_or("/");
        let path = if path.is_empty() { "/" } else { path };
        let authority = authority.rsplit('@').next().unwrap_or(authority);
        let default_port = if scheme == Scheme::Http { 80 } else { 443 };
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6.split_once(']').ok_or(UrlError::NoHost)?;
            let port = match after.strip_prefix(':') {
                Some(p) => parse_port(p)?,
                None if after.is_empty() => default_port,
                None => return Err(UrlError::Port),
            };
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
        Ok(ScepUrl {
            scheme,
            host: host.to_string(),
            port,
            path: path.to_string(),
        })
    }

    /// `host` or `host:port` as the Host header wants it (RFC 9110 §7.2).
    #[must_use]
    pub fn authority(&self) -> String {
        let host = if self.host.contains(':') {
            alloc::format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        let default = if self.scheme == Scheme::Http { 80 } else { 443 };
        if self.port == default {
            host
        } else {
            alloc::format!("{host}:{}", self.port)
        }
    }

    /// The absolute URL without query.
    #[must_use]
    pub fn absolute(&self) -> String {
        let s = if self.scheme == Scheme::Http {
            "http"
        } else {
            "https"
        };
        alloc::format!("{s}://{}{}", self.authority(), self.path)
    }
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    (s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix))
        .then(|| &s[prefix.len()..])
}

fn parse_port(p: &str) -> Result<u16, UrlError> {
    match p.parse::<u16>() {
        Ok(0) | Err(_) => Err(UrlError::Port),
        Ok(port) => Ok(port),
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
#[must_use]
pub fn percent_encode(s: &[u8]) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// The SCEP operations (RFC 8894 §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    /// GetCACaps.
    GetCaCaps,
    /// GetCACert.
    GetCaCert,
    /// GetNextCACert.
    GetNextCaCert,
    /// PKIOperation (PKCSReq, RenewalReq, CertPoll).
    PkiOperation,
}

impl Operation {
    /// The `operation=` value.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Operation::GetCaCaps => "GetCACaps",
            Operation::GetCaCert => "GetCACert",
            Operation::GetNextCaCert => "GetNextCACert",
            Operation::PkiOperation => "PKIOperation",
        }
    }
}

/// HTTP method.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// GET.
    Get,
    /// POST.
    Post,
}

/// One HTTP request for the caller to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpRequest {
    /// The SCEP operation (for logs and to know what comes back).
    pub operation: Operation,
    /// GET or POST.
    pub method: Method,
    /// The SCEP server.
    pub url: ScepUrl,
    /// Where to connect: the server, or HTTPPROXY (spec/scep.md §3).
    pub connect_host: String,
    /// Port to connect to.
    pub connect_port: u16,
    /// Whether the connection goes through the proxy (request target is then absolute).
    pub via_proxy: bool,
    /// The request-target: `/path?operation=...` (or the absolute URL through a proxy).
    pub target: String,
    /// Header fields, in order (Host first).
    pub headers: Vec<(String, String)>,
    /// Body (POST only).
    pub body: Vec<u8>,
}

impl HttpRequest {
    /// Builds a request for `operation` with an optional `message`.
    ///
    /// GET carries `message` as standard base64 (binary) or text, percent-encoded
    /// (RFC 8894 §4.1; scepserver percent-decodes, then decodes standard base64). POST
    /// carries the binary message as the body, `application/x-pki-message`.
    #[must_use]
    pub fn new(
        url: &ScepUrl,
        operation: Operation,
        method: Method,
        message: Option<Message<'_>>,
        http_proxy: &str,
        exception_domains: &str,
    ) -> HttpRequest {
        let mut query = alloc::format!("operation={}", operation.name());
        let mut body = Vec::new();
        match (message, method) {
            (Some(Message::Text(t)), _) => {
                query.push_str("&message=");
                query.push_str(&percent_encode(t.as_bytes()));
            }
            (Some(Message::Binary(b)), Method::Get) => {
                query.push_str("&message=");
                let b64 = base64::engine::general_purpose::STANDARD.encode(b);
                query.push_str(&percent_encode(b64.as_bytes()));
            }
            (Some(Message::Binary(b)), Method::Post) => body = b.to_vec(),
            (None, _) => {}
        }
        let route = proxy::route(&url.host, http_proxy, exception_domains);
        let (connect_host, connect_port, via_proxy) = match route {
            Route::Direct => (url.host.clone(), url.port, false),
            Route::Proxy { host, port } => (host.to_string(), port, true),
        };
        // Through a proxy, plain HTTP uses the absolute form (RFC 9112 §3.2.2); HTTPS tunnels
        // with CONNECT and keeps the origin form inside the tunnel.
        let origin_form = alloc::format!("{}?{query}", url.path);
        let target = if via_proxy && url.scheme == Scheme::Http {
            alloc::format!("{}?{query}", url.absolute())
        } else {
            origin_form
        };
        let mut headers = alloc::vec![
            ("Host".to_string(), url.authority()),
            ("Accept".to_string(), "*/*".to_string()),
            ("Connection".to_string(), "close".to_string()),
        ];
        if method == Method::Post {
            headers.push((
                "Content-Type".to_string(),
                "application/x-pki-message".to_string(),
            ));
            headers.push(("Content-Length".to_string(), body.len().to_string()));
        }
        HttpRequest {
            operation,
            method,
            url: url.clone(),
            connect_host,
            connect_port,
            via_proxy,
            target,
            headers,
            body,
        }
    }

    /// The request head (request line and header fields, ending with the blank line).
    #[must_use]
    pub fn head(&self) -> String {
        let m = if self.method == Method::Get {
            "GET"
        } else {
            "POST"
        };
        let mut s = alloc::format!("{m} {} HTTP/1.1\r\n", self.target);
        for (k, v) in &self.headers {
            let _ = write!(s, "{k}: {v}\r\n");
        }
        s.push_str("\r\n");
        s
    }
}

/// The `message=` of a request.
#[derive(Clone, Copy, Debug)]
pub enum Message<'a> {
    /// Text (the CA identifier).
    Text(&'a str),
    /// A DER pkiMessage.
    Binary(&'a [u8]),
}

/// An HTTP response as the caller received it.
#[derive(Clone, Copy, Debug)]
pub struct HttpResponse<'a> {
    /// Status code.
    pub status: u16,
    /// The Content-Type field, if any.
    pub content_type: Option<&'a str>,
    /// The body (the caller bounds its size).
    pub body: &'a [u8],
}

/// Why the caller could not complete an HTTP exchange.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// Connection refused, no route, DNS failure.
    #[error("cannot connect to the SCEP server: {0}")]
    Connect(String),
    /// No (complete) answer in time.
    #[error("the SCEP server did not answer in time")]
    Timeout,
    /// TLS failed (certificate not trusted, handshake).
    #[error("TLS with the SCEP server failed: {0}")]
    Tls(String),
    /// The answer was not HTTP or too large.
    #[error("bad HTTP response: {0}")]
    Protocol(String),
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = ScepUrl::parse("http://10.77.0.1:8080/scep").unwrap();
        assert_eq!(
            (u.scheme, u.host.as_str(), u.port, u.path.as_str()),
            (Scheme::Http, "10.77.0.1", 8080, "/scep")
        );
        assert_eq!(u.authority(), "10.77.0.1:8080");
        let u = ScepUrl::parse("HTTPS://ca.example.com").unwrap();
        assert_eq!(
            (u.scheme, u.port, u.path.as_str()),
            (Scheme::Https, 443, "/")
        );
        assert_eq!(u.authority(), "ca.example.com");
        let u = ScepUrl::parse("http://[fd00::1]:81/cgi-bin/pkiclient.exe?x=1").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("fd00::1", 81, "/cgi-bin/pkiclient.exe")
        );
        assert_eq!(u.authority(), "[fd00::1]:81");
        assert_eq!(ScepUrl::parse("ftp://x"), Err(UrlError::Scheme));
        assert_eq!(ScepUrl::parse("http://:80/"), Err(UrlError::NoHost));
        assert_eq!(ScepUrl::parse("http://h:0/"), Err(UrlError::Port));
        assert_eq!(ScepUrl::parse("http://h:99999/"), Err(UrlError::Port));
    }

    #[test]
    fn get_message_is_standard_base64_percent_encoded() {
        let u = ScepUrl::parse("http://ca/scep").unwrap();
        // 0xFB 0xFF -> "+/8=" in standard base64.
        let r = HttpRequest::new(
            &u,
            Operation::PkiOperation,
            Method::Get,
            Some(Message::Binary(&[0xFB, 0xFF])),
            "",
            "",
        );
        assert_eq!(r.target, "/scep?operation=PKIOperation&message=%2B%2F8%3D");
        assert!(r.body.is_empty());
        let r = HttpRequest::new(
            &u,
            Operation::GetCaCert,
            Method::Get,
            Some(Message::Text("CA Ident")),
            "",
            "",
        );
        assert_eq!(r.target, "/scep?operation=GetCACert&message=CA%20Ident");
        let r = HttpRequest::new(
            &u,
            Operation::PkiOperation,
            Method::Post,
            Some(Message::Binary(b"xyz")),
            "px:3128",
            "",
        );
        assert_eq!(r.target, "http://ca/scep?operation=PKIOperation");
        assert_eq!(
            (r.connect_host.as_str(), r.connect_port, r.via_proxy),
            ("px", 3128, true)
        );
        assert_eq!(r.body, b"xyz");
        assert!(
            r.head()
                .starts_with("POST http://ca/scep?operation=PKIOperation HTTP/1.1\r\nHost: ca\r\n")
        );
        assert!(r.head().contains("Content-Length: 3\r\n"));
    }
}
