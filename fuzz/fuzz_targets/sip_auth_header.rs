//! Arbitrary text into the authentication-header parsers: no panic, and whatever parses
//! survives a print/parse round trip unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use phone_sip_reg::digest::{Answer, Challenge, Credentials, respond};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = core::str::from_utf8(data) else {
        return;
    };
    if let Ok(c) = Challenge::parse(s) {
        let again = Challenge::parse(&c.to_string());
        assert_eq!(again.as_ref(), Ok(&c), "challenge round trip of {s:?}");
        let _ = respond(
            &c,
            &Answer {
                username: "1001",
                password: "pw",
                method: "REGISTER",
                uri: "sip:lab.test",
                body: b"",
                cnonce: "abc",
                nc: 1,
            },
        );
    }
    if let Ok(c) = Credentials::parse(s) {
        let again = Credentials::parse(&c.to_string());
        assert_eq!(again.as_ref(), Ok(&c), "credentials round trip of {s:?}");
    }
});
