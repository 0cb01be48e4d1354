//! SCEP's binding to HTTP (RFC 8894 §4): the operation names, the `message=` query encoding,
//! and what a response must look like. The HTTP itself (request bytes, response parsing,
//! HTTPPROXY) is `phone_http`'s; this module only says what to ask it for and how to read
//! its [`Response`].

use alloc::string::{String, ToString};
use core::fmt;

use base64::Engine as _;
use phone_http::{Request, Response, Url, UrlError, percent_encode};

/// The longest MYCERTURL (spec/scep.md §2: 0–255 characters).
pub const MAX_URL_LEN: usize = 255;

/// The media type of a PKIOperation request and of its answer (RFC 8894 §4.3).
pub const PKI_MESSAGE: &str = "application/x-pki-message";

/// The SCEP operations (RFC 8894 §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
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

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
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

/// Parses MYCERTURL: `http[s]://host[:port][/path]`, at most [`MAX_URL_LEN`] characters. A
/// query in MYCERTURL is dropped: RFC 8894 §4.1 appends its own.
///
/// # Errors
/// [`UrlError`] says which part is wrong.
pub fn scep_url(url: &str) -> Result<Url, UrlError> {
    if url.trim().len() > MAX_URL_LEN {
        return Err(UrlError::Length);
    }
    let mut u = Url::parse(url)?;
    u.path_and_query = u.path().to_string();
    Ok(u)
}

/// The request for `operation` on the SCEP server `url` (RFC 8894 §4.1).
///
/// GET carries `message` in the query: text as is, a binary pkiMessage as standard base64,
/// both percent-encoded (scepserver percent-decodes, then decodes standard base64). With
/// `post`, a binary message is the body instead, [`PKI_MESSAGE`], and the query carries only
/// the operation.
#[must_use]
pub fn request(
    url: &Url,
    operation: Operation,
    message: Option<Message<'_>>,
    post: bool,
) -> Request {
    let mut path_and_query = alloc::format!("{}?operation={}", url.path(), operation.name());
    let mut target = url.clone();
    match message {
        Some(Message::Text(t)) => {
            path_and_query.push_str("&message=");
            path_and_query.push_str(&percent_encode(t.as_bytes()));
        }
        Some(Message::Binary(b)) if post => {
            target.path_and_query = path_and_query;
            return Request::post(target, PKI_MESSAGE, b.to_vec());
        }
        Some(Message::Binary(b)) => {
            path_and_query.push_str("&message=");
            let b64 = base64::engine::general_purpose::STANDARD.encode(b);
            path_and_query.push_str(&percent_encode(b64.as_bytes()));
        }
        None => {}
    }
    target.path_and_query = path_and_query;
    Request::get(target)
}

/// Whether a status asks to come back later (RFC 9110 §15.5.30, §15.6.3–§15.6.5): 429, 502,
/// 503, 504. The request is retried after the server's `Retry-After`, never sooner than the
/// floor of [`crate::backoff::RetryPolicy`].
#[must_use]
pub fn is_temporary(status: u16) -> bool {
    matches!(status, 429 | 502 | 503 | 504)
}

/// The media type of a `Content-Type` value, lower case, without parameters.
fn media_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Whether a response's `Content-Type` fits `operation` (RFC 8894 §4).
///
/// - PKIOperation: [`PKI_MESSAGE`] (RFC 8894 §4.3); an HTML error page served with 200 (a
///   captive portal, a proxy) is refused before any DER is parsed. A missing field is
///   tolerated.
/// - GetCACert and GetNextCACert: the type is a hint only, the body is sniffed (servers
///   mislabel `x-x509-ca-cert` and `x-x509-ca-ra-cert`), but a `text/*` type is refused.
/// - GetCACaps: any (RFC 8894 §3.5.2 says `text/plain`; an unreadable list means defaults).
#[must_use]
pub fn content_type_fits(operation: Operation, content_type: Option<&str>) -> bool {
    let Some(ct) = content_type else {
        return true;
    };
    let media = media_type(ct);
    match operation {
        Operation::GetCaCaps => true,
        Operation::GetCaCert | Operation::GetNextCaCert => !media.starts_with("text/"),
        Operation::PkiOperation => media == PKI_MESSAGE,
    }
}

/// The checks every SCEP answer passes before its body is read: status 200 and a fitting
/// `Content-Type` ([`content_type_fits`]).
///
/// # Errors
/// [`ResponseError`].
pub fn check_response(operation: Operation, response: &Response) -> Result<(), ResponseError> {
    if response.status != 200 {
        return Err(ResponseError::Status(response.status));
    }
    if !content_type_fits(operation, response.content_type.as_deref()) {
        return Err(ResponseError::ContentType(response.content_type.clone()));
    }
    Ok(())
}

/// Why an answer is not read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResponseError {
    /// A status other than 200.
    Status(u16),
    /// A `Content-Type` that does not fit the operation.
    ContentType(Option<String>),
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use phone_http::Method;

    fn target(r: &Request) -> &str {
        &r.url.path_and_query
    }

    #[test]
    fn urls() {
        let u = scep_url("http://10.77.0.1:8080/scep?x=1#f").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path_and_query.as_str()),
            ("10.77.0.1", 8080, "/scep")
        );
        let u = scep_url("HTTPS://ca.example.com").unwrap();
        assert_eq!((u.port, u.path_and_query.as_str()), (443, "/"));
        let u = scep_url("http://[fd00::1]:81/cgi-bin/pkiclient.exe").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("fd00::1", 81));
        assert_eq!(scep_url("ftp://x"), Err(UrlError::Scheme));
        assert_eq!(scep_url("http://:80/"), Err(UrlError::NoHost));
        assert_eq!(scep_url("http://h:0/"), Err(UrlError::Port));
        let long = alloc::format!("http://h/{}", "a".repeat(MAX_URL_LEN));
        assert_eq!(scep_url(&long), Err(UrlError::Length));
    }

    #[test]
    fn get_message_is_standard_base64_percent_encoded() {
        let u = scep_url("http://ca/scep").unwrap();
        // 0xFB 0xFF -> "+/8=" in standard base64.
        let r = request(
            &u,
            Operation::PkiOperation,
            Some(Message::Binary(&[0xFB, 0xFF])),
            false,
        );
        assert_eq!(
            target(&r),
            "/scep?operation=PKIOperation&message=%2B%2F8%3D"
        );
        assert_eq!(r.method, Method::Get);
        let r = request(
            &u,
            Operation::GetCaCert,
            Some(Message::Text("CA Ident")),
            false,
        );
        assert_eq!(target(&r), "/scep?operation=GetCACert&message=CA%20Ident");
        let r = request(&u, Operation::GetCaCaps, None, true);
        assert_eq!(
            (target(&r), &r.method),
            ("/scep?operation=GetCACaps", &Method::Get)
        );
        let r = request(
            &u,
            Operation::PkiOperation,
            Some(Message::Binary(b"xyz")),
            true,
        );
        assert_eq!(target(&r), "/scep?operation=PKIOperation");
        assert_eq!(
            r.method,
            Method::Post {
                content_type: PKI_MESSAGE.into(),
                body: b"xyz".to_vec()
            }
        );
    }

    #[test]
    fn content_types() {
        use Operation::*;
        assert!(content_type_fits(
            PkiOperation,
            Some("application/x-pki-message")
        ));
        assert!(content_type_fits(
            PkiOperation,
            Some("Application/X-PKI-Message; charset=binary")
        ));
        assert!(content_type_fits(PkiOperation, None));
        assert!(!content_type_fits(PkiOperation, Some("text/html")));
        assert!(!content_type_fits(
            PkiOperation,
            Some("application/x-x509-ca-cert")
        ));
        assert!(content_type_fits(
            GetCaCert,
            Some("application/x-x509-ca-ra-cert")
        ));
        assert!(content_type_fits(
            GetCaCert,
            Some("application/x-x509-ca-cert")
        ));
        assert!(!content_type_fits(
            GetCaCert,
            Some("text/html; charset=utf-8")
        ));
        assert!(!content_type_fits(GetNextCaCert, Some("TEXT/plain")));
        assert!(content_type_fits(GetCaCaps, Some("text/html")));
        let resp = |status, ct: Option<&str>| Response {
            status,
            content_type: ct.map(Into::into),
            etag: None,
            retry_after: None,
            body: alloc::vec::Vec::new(),
        };
        assert_eq!(
            check_response(PkiOperation, &resp(200, Some(PKI_MESSAGE))),
            Ok(())
        );
        assert_eq!(
            check_response(PkiOperation, &resp(500, Some(PKI_MESSAGE))),
            Err(ResponseError::Status(500))
        );
        assert_eq!(
            check_response(PkiOperation, &resp(200, Some("text/html"))),
            Err(ResponseError::ContentType(Some("text/html".into())))
        );
        assert!([429, 502, 503, 504].into_iter().all(is_temporary));
        assert!(![200, 404, 500, 501].into_iter().any(is_temporary));
    }
}
