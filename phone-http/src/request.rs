//! What to ask for, and its bytes on the wire (RFC 9112 §3, RFC 9110 §7.2, §9.3.6).

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write as _;

use crate::error::RequestError;
use crate::url::{Url, bracketed, host_ok, push_target};

/// The method, with the body a POST carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    /// `GET`: no body.
    Get,
    /// `POST` with `Content-Type` and `Content-Length`.
    Post {
        /// The `Content-Type` field (e.g. `application/x-pki-message`).
        content_type: String,
        /// The body.
        body: Vec<u8>,
    },
}

/// One request: a method on a URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Where (scheme, host, port, path and query).
    pub url: Url,
    /// What.
    pub method: Method,
}

impl Request {
    /// A GET of `url`.
    #[must_use]
    pub fn get(url: Url) -> Self {
        Request {
            url,
            method: Method::Get,
        }
    }

    /// A POST of `body` as `content_type` to `url`.
    #[must_use]
    pub fn post(url: Url, content_type: impl Into<String>, body: Vec<u8>) -> Self {
        Request {
            url,
            method: Method::Post {
                content_type: content_type.into(),
                body,
            },
        }
    }

    /// Checks everything that goes on the wire (fields are public, so a URL may not come from
    /// [`Url::parse`]).
    pub(crate) fn validate(&self) -> Result<(), RequestError> {
        if !host_ok(&self.url.host) {
            return Err(RequestError::Host);
        }
        if self.url.port == 0 {
            return Err(RequestError::Port);
        }
        if !self.url.path_and_query.starts_with('/') {
            return Err(RequestError::Path);
        }
        if let Method::Post { content_type, .. } = &self.method
            && (content_type.trim().is_empty()
                || content_type.bytes().any(|b| !(0x20..0x7f).contains(&b)))
        {
            return Err(RequestError::ContentType);
        }
        Ok(())
    }

    /// The request bytes: origin-form (`GET /path HTTP/1.1`), or absolute-form
    /// (`GET http://host:port/path HTTP/1.1`, RFC 9112 §3.2.2) when sent to a proxy.
    pub(crate) fn encode(&self, absolute: bool) -> Vec<u8> {
        let body: &[u8] = match &self.method {
            Method::Get => &[],
            Method::Post { body, .. } => body,
        };
        let mut out = Vec::with_capacity(160 + self.url.path_and_query.len() * 3 + body.len());
        out.extend_from_slice(match self.method {
            Method::Get => b"GET ",
            Method::Post { .. } => b"POST ",
        });
        let authority = self.url.authority();
        if absolute {
            out.extend_from_slice(self.url.scheme.as_str().as_bytes());
            out.extend_from_slice(b"://");
            out.extend_from_slice(authority.as_bytes());
        }
        push_target(&mut out, &self.url.path_and_query);
        out.extend_from_slice(b" HTTP/1.1\r\nHost: ");
        out.extend_from_slice(authority.as_bytes());
        out.extend_from_slice(
            b"\r\nUser-Agent: phone-boot\r\nAccept: */*\r\nConnection: close\r\n",
        );
        if let Method::Post { content_type, body } = &self.method {
            let mut fields = String::new();
            let _ = write!(
                fields,
                "Content-Type: {content_type}\r\nContent-Length: {}\r\n",
                body.len()
            );
            out.extend_from_slice(fields.as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(body);
        out
    }
}

/// `CONNECT host:port HTTP/1.1` with `Host` (RFC 9110 §9.3.6: authority-form, the port always
/// given).
pub(crate) fn encode_connect(host: &str, port: u16) -> Vec<u8> {
    let authority = alloc::format!("{}:{port}", bracketed(host));
    alloc::format!(
        "CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: phone-boot\r\n\r\n"
    )
    .into_bytes()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn request_shape() {
        let r = Request::get(url("http://files.example:8080/dir/a b.txt"));
        assert_eq!(r.validate(), Ok(()));
        assert_eq!(
            r.encode(false),
            b"GET /dir/a%20b.txt HTTP/1.1\r\nHost: files.example:8080\r\nUser-Agent: phone-boot\r\nAccept: */*\r\nConnection: close\r\n\r\n"
        );
        assert!(r.encode(true).starts_with(
            b"GET http://files.example:8080/dir/a%20b.txt HTTP/1.1\r\nHost: files.example:8080\r\n"
        ));
        let r = Request::get(url("https://[2001:db8::1]/x"));
        assert!(
            r.encode(false)
                .windows(19)
                .any(|w| w == b"Host: [2001:db8::1]")
        );
        let r = Request::post(
            url("http://ca/scep?operation=PKIOperation"),
            "application/x-pki-message",
            b"xyz".to_vec(),
        );
        assert_eq!(
            r.encode(true),
            b"POST http://ca/scep?operation=PKIOperation HTTP/1.1\r\nHost: ca\r\nUser-Agent: phone-boot\r\nAccept: */*\r\nConnection: close\r\nContent-Type: application/x-pki-message\r\nContent-Length: 3\r\n\r\nxyz"
        );
        assert_eq!(
            encode_connect("ca.example", 443),
            b"CONNECT ca.example:443 HTTP/1.1\r\nHost: ca.example:443\r\nUser-Agent: phone-boot\r\n\r\n"
        );
        assert!(
            encode_connect("fd00::1", 8443).starts_with(b"CONNECT [fd00::1]:8443 HTTP/1.1\r\n")
        );
    }

    #[test]
    fn invalid_requests() {
        let mut r = Request::get(url("http://a/"));
        r.url.host = "a\r\nX: y".into();
        assert_eq!(r.validate(), Err(RequestError::Host));
        let mut r = Request::get(url("http://a/"));
        r.url.path_and_query = "x".into();
        assert_eq!(r.validate(), Err(RequestError::Path));
        let mut r = Request::get(url("http://a/"));
        r.url.port = 0;
        assert_eq!(r.validate(), Err(RequestError::Port));
        let r = Request::post(url("http://a/"), "text/plain\r\nX: y", Vec::new());
        assert_eq!(r.validate(), Err(RequestError::ContentType));
        let r = Request::post(url("http://a/"), " ", Vec::new());
        assert_eq!(r.validate(), Err(RequestError::ContentType));
    }
}
