//! Arbitrary response bytes, cut into arbitrary reads: the HTTP machine never panics, never
//! exceeds its body limit, and reaches the same outcome however the stream is split.
#![no_main]

use libfuzzer_sys::fuzz_target;
use phone_boot::http::{GetRequest, HttpGet, HttpLimits, Input, Outcome, Output};
use phone_settings::Instant;

#[derive(arbitrary::Arbitrary, Debug)]
struct Case {
    cuts: Vec<u16>,
    close: u8,
    bytes: Vec<u8>,
}

fn limits() -> HttpLimits {
    let mut l = HttpLimits::default();
    l.max_head = 2048;
    l.max_body = 4096;
    l.max_trailers = 512;
    l.max_chunk_line = 128;
    l
}

fn run(bytes: &[u8], cuts: &[u16], close: u8) -> Option<Outcome> {
    let now = Instant::from_secs(1);
    let req = GetRequest {
        host: "192.0.2.1",
        port: 80,
        default_port: 80,
        path: "/f.txt",
    };
    let mut get = HttpGet::new(now, &req, limits()).ok()?;
    assert!(matches!(get.poll_output(), Output::Transmit(_)));
    let mut cuts: Vec<usize> = cuts
        .iter()
        .map(|&c| usize::from(c) % (bytes.len() + 1))
        .collect();
    cuts.sort_unstable();
    let mut last = 0;
    for c in cuts.into_iter().chain([bytes.len()]) {
        get.handle_input(Input::Received(now, &bytes[last..c]));
        assert!(get.body_received() <= 4096);
        last = c;
    }
    match close % 3 {
        0 => get.handle_input(Input::Closed(now)),
        1 => get.handle_input(Input::Reset(now)),
        _ => {}
    }
    match get.poll_output() {
        Output::Done(o) => Some(o),
        Output::Timeout(_) => None,
        Output::Transmit(_) => panic!("transmitted twice"),
    }
}

fuzz_target!(|case: Case| {
    let split = run(&case.bytes, &case.cuts, case.close);
    let whole = run(&case.bytes, &[], case.close);
    assert_eq!(split, whole);
    if let Some(Outcome::Obtained(o)) = split {
        assert!(o.body.len() <= 4096);
    }
});
