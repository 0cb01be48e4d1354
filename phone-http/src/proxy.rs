//! The HTTPPROXY / HTTPEXCEPTIONDOMAINS rule (spec/scep.md §3).
//!
//! The phone uses the proxy for SCEP only, never for file downloads (spec/scep.md §3): the file
//! stage leaves [`crate::HttpConfig::http_proxy`] empty. Copied from phone-scep's `proxy` module,
//! which goes once phone-scep speaks [`crate::HttpClient`].

/// Where the HTTP connection goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route<'a> {
    /// Connect to the URL's host itself.
    Direct,
    /// Connect to the proxy: an `http` request goes in absolute-form, an `https` one through a
    /// `CONNECT` tunnel.
    Proxy {
        /// Proxy host name or address.
        host: &'a str,
        /// Proxy port ([`DEFAULT_PROXY_PORT`] when HTTPPROXY has none).
        port: u16,
    },
}

/// Port used when HTTPPROXY is a bare host. The sources give none [?]; 80 is HTTP's port.
pub const DEFAULT_PROXY_PORT: u16 = 80;

/// Whether `host` matches an exception domain: equal, or ending with `.` + domain, ignoring
/// ASCII case (spec/scep.md §3 [?]). A leading `.` on the entry is tolerated.
#[must_use]
pub fn domain_matches(host: &str, domain: &str) -> bool {
    let domain = domain.trim().trim_start_matches('.');
    if domain.is_empty() {
        return false;
    }
    let host = host.trim_end_matches('.');
    if host.eq_ignore_ascii_case(domain) {
        return true;
    }
    host.len() > domain.len()
        && host.is_char_boundary(host.len() - domain.len() - 1)
        && host.as_bytes()[host.len() - domain.len() - 1] == b'.'
        && host[host.len() - domain.len()..].eq_ignore_ascii_case(domain)
}

/// The rule: use HTTPPROXY when it is non-empty and either HTTPEXCEPTIONDOMAINS is empty or the
/// URL's host matches none of its comma-separated entries; otherwise connect directly
/// (spec/scep.md §3). A proxy value whose port is not a number is taken whole as the host,
/// with [`DEFAULT_PROXY_PORT`].
#[must_use]
pub fn route<'a>(url_host: &str, http_proxy: &'a str, exception_domains: &str) -> Route<'a> {
    let proxy = http_proxy.trim();
    if proxy.is_empty() {
        return Route::Direct;
    }
    let excepted = exception_domains
        .split(',')
        .filter(|d| !d.trim().is_empty())
        .any(|d| domain_matches(url_host, d));
    if excepted {
        return Route::Direct;
    }
    let (host, port) = match proxy.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() && !h.contains(':') => match p.parse::<u16>() {
            Ok(port) => (h, port),
            Err(_) => (proxy, DEFAULT_PROXY_PORT),
        },
        _ => (proxy, DEFAULT_PROXY_PORT),
    };
    Route::Proxy { host, port }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let p = |host, port| Route::Proxy { host, port };
        #[rustfmt::skip]
        let cases: &[(&str, &str, &str, Route<'_>)] = &[
            // (MYCERTURL host, HTTPPROXY, HTTPEXCEPTIONDOMAINS, route)
            ("ca.example.com", "",                   "",                       Route::Direct),
            ("ca.example.com", "",                   "example.com",            Route::Direct),
            ("ca.example.com", "proxy.corp:3128",    "",                       p("proxy.corp", 3128)),
            ("ca.example.com", "proxy.corp",         "",                       p("proxy.corp", 80)),
            ("ca.example.com", "proxy.corp:3128",    "example.com",            Route::Direct),
            ("ca.example.com", "proxy.corp:3128",    "EXAMPLE.COM",            Route::Direct),
            ("CA.Example.Com", "proxy.corp:3128",    "example.com",            Route::Direct),
            ("example.com",    "proxy.corp:3128",    "example.com",            Route::Direct),
            ("ca.example.com", "proxy.corp:3128",    "other.org,example.com",  Route::Direct),
            ("ca.example.com", "proxy.corp:3128",    "other.org",              p("proxy.corp", 3128)),
            // "rightmost part": a suffix match must fall on a label boundary.
            ("ca.badexample.com", "proxy.corp:3128", "example.com",            p("proxy.corp", 3128)),
            ("ca.example.com", "proxy.corp:3128",    "com",                    Route::Direct),
            ("ca.example.com", "proxy.corp:3128",    ".example.com",           Route::Direct),
            ("10.0.0.5",       "proxy.corp:3128",    "0.0.5",                  Route::Direct),
            ("10.0.0.5",       "proxy.corp:3128",    "10.0.0",                 p("proxy.corp", 3128)),
            ("ca.example.com", "proxy.corp:3128",    ",,",                     p("proxy.corp", 3128)),
            ("ca.example.com", "10.1.1.1:8080",      "",                       p("10.1.1.1", 8080)),
            ("ca.example.com", "proxy.corp:http",    "",                       p("proxy.corp:http", 80)),
        ];
        for (host, proxy, exc, want) in cases {
            assert_eq!(&route(host, proxy, exc), want, "{host} {proxy} {exc}");
        }
    }

    proptest::proptest! {
        #[test]
        fn empty_proxy_is_always_direct(host in "[a-z0-9.]{0,30}", exc in "[a-z0-9.,]{0,30}") {
            proptest::prop_assert_eq!(route(&host, "", &exc), Route::Direct);
        }

        #[test]
        fn listing_the_host_or_a_parent_bypasses(labels in proptest::collection::vec("[a-z0-9]{1,8}", 1..5), cut in 0usize..5, other in "[a-z]{1,8}") {
            let host = labels.join(".");
            let cut = cut.min(labels.len() - 1);
            let parent = labels[cut..].join(".");
            let exc = alloc::format!("{other}.invalid,{}", parent.to_ascii_uppercase());
            proptest::prop_assert_eq!(route(&host, "proxy:3128", &exc), Route::Direct);
            // Without the entry, the proxy is used.
            let exc_other = alloc::format!("{other}.invalid");
            proptest::prop_assert_eq!(route(&host, "proxy:3128", &exc_other), Route::Proxy { host: "proxy", port: 3128 });
        }

        #[test]
        fn a_non_boundary_suffix_does_not_bypass(host in "[a-z]{2,10}", cut in 1usize..9) {
            let cut = cut.min(host.len() - 1);
            let tail = &host[cut..];
            let full = alloc::format!("{host}.example");
            let exc = alloc::format!("{tail}.example");
            proptest::prop_assert_eq!(route(&full, "p:1", &exc), Route::Proxy { host: "p", port: 1 });
        }
    }
}
