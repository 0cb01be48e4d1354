//! The fake network and flash the file stage runs against, and the transcript driver.

use super::super::*;
use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::ToString;
use alloc::vec;
use phone_http::Action;
use phone_sansio::harness::{self, Logged, Reply};
use rand_chacha::ChaCha8Rng;

use super::T0;

/// How a fake server answers one path.
#[derive(Clone)]
pub(super) enum Answer {
    /// A 200 with this body and Content-Length.
    File(Vec<u8>),
    /// These raw bytes, then close.
    Raw(Vec<u8>),
    /// The first `n` bytes of a 200 for this body, then close (a cut download), only the
    /// first `times` times.
    Cut { body: Vec<u8>, n: usize, times: u32 },
    /// Never answers (the request times out).
    Silent,
}

#[derive(Default)]
pub(super) struct Net {
    /// (scheme, host) → path → answer; a missing path is a 404.
    pub(super) servers: BTreeMap<(Scheme, String), BTreeMap<String, Answer>>,
    /// Open connections: id → (scheme, host).
    pub(super) conns: BTreeMap<ConnId, (Scheme, String)>,
    /// Every connect, as `scheme://host:port`.
    pub(super) connects: Vec<String>,
    /// The TLS identity check asked for on each HTTPS connect (TLSSRVRID).
    pub(super) check_identity: Vec<bool>,
    /// Every request made, as "scheme host path".
    pub(super) log: Vec<String>,
    pub(super) flash_ops: usize,
    /// The flash breaks at this operation: it and every later one fail (retries included).
    pub(super) fail_flash_at: Option<usize>,
}

impl Net {
    pub(super) fn serve(&mut self, scheme: Scheme, host: &str, path: &str, answer: Answer) {
        self.servers
            .entry((scheme, host.into()))
            .or_default()
            .insert(path.into(), answer);
    }

    pub(super) fn up(&mut self, scheme: Scheme, host: &str) {
        self.servers.entry((scheme, host.into())).or_default();
    }

    fn answer(&mut self, conn: ConnId, bytes: &[u8]) -> Vec<Reply<Peer>> {
        let now = Duration::ZERO;
        let Some((scheme, host)) = self.conns.get(&conn).cloned() else {
            return vec![Reply::Failed {
                after: now,
                peer: Peer::Conn(conn),
            }];
        };
        let text = String::from_utf8(bytes.to_vec()).unwrap();
        let path = text.split(' ').nth(1).unwrap().to_string();
        assert!(text.contains("\r\nConnection: close\r\n"));
        self.log.push(format!("{scheme:?} {host} {path}"));
        let answer = self.servers[&(scheme, host.clone())].get(&path).cloned();
        let reply = match answer {
            None => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_vec(),
            Some(Answer::File(body)) => ok(&body),
            Some(Answer::Raw(raw)) => raw,
            Some(Answer::Cut { body, n, times }) => {
                let r = ok(&body);
                let head = r.len() - body.len();
                if times > 0 {
                    self.serve(
                        scheme,
                        &host,
                        &path,
                        Answer::Cut {
                            body,
                            n,
                            times: times - 1,
                        },
                    );
                    r[..head + n].to_vec()
                } else {
                    r
                }
            }
            Some(Answer::Silent) => return Vec::new(),
        };
        // Byte-at-a-time for small replies exercises partial reads end to end.
        let size = if reply.len() < 600 { 1 } else { 1000 };
        let mut out: Vec<Reply<Peer>> = reply
            .chunks(size)
            .map(|b| Reply::Receive {
                after: now,
                peer: Peer::Conn(conn),
                bytes: b.to_vec(),
            })
            .collect();
        out.push(Reply::Closed {
            after: now,
            peer: Peer::Conn(conn),
        });
        out
    }
}

impl harness::Peer<FileStage<ChaCha8Rng>> for Net {
    fn on_transmit(&mut self, _: Instant, t: &Transmit) -> Vec<Reply<Peer>> {
        let now = Duration::ZERO;
        match t {
            Transmit::Http(phone_http::Transmit { conn, action }) => match action {
                Action::Connect { host, port, tls } => {
                    let scheme = if tls.is_some() {
                        Scheme::Https
                    } else {
                        Scheme::Http
                    };
                    let server = Server {
                        scheme,
                        host: host.clone(),
                        port: *port,
                        dir: String::new(),
                    };
                    self.connects.push(server.to_string());
                    if let Some(tls) = tls {
                        assert_eq!(&tls.server_name, host);
                        self.check_identity.push(tls.check_identity);
                    }
                    if self.servers.contains_key(&(scheme, host.clone())) {
                        self.conns.insert(*conn, (scheme, host.clone()));
                        vec![Reply::Completed {
                            after: now,
                            peer: Peer::Conn(*conn),
                        }]
                    } else {
                        vec![Reply::Failed {
                            after: now,
                            peer: Peer::Conn(*conn),
                        }]
                    }
                }
                Action::Send(bytes) => self.answer(*conn, bytes),
                Action::StartTls(_) => panic!("no proxy for files"),
                Action::Close => {
                    self.conns.remove(conn);
                    Vec::new()
                }
            },
            Transmit::Flash(_) => {
                self.flash_ops += 1;
                if self.fail_flash_at.is_some_and(|n| self.flash_ops >= n) {
                    vec![Reply::Failed {
                        after: now,
                        peer: Peer::Flash,
                    }]
                } else {
                    vec![Reply::Completed {
                        after: now,
                        peer: Peer::Flash,
                    }]
                }
            }
        }
    }
}

pub(super) fn ok(body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

/// What one run of the stage did.
pub(super) struct Transcript {
    pub(super) result: StageResult,
    /// Display rows, as shown.
    pub(super) events: Vec<String>,
    pub(super) warnings: Vec<FileWarning>,
    pub(super) connects: Vec<String>,
    pub(super) end: Instant,
}

pub(super) fn drive(stage: FileStage<ChaCha8Rng>, net: &mut Net) -> Transcript {
    let mut t = harness::Transcript::new(stage, T0);
    t.run(net, T0 + Duration::from_secs(3600));
    let mut events = Vec::new();
    let mut warnings = Vec::new();
    let mut done = None;
    for l in &t.log {
        if let Logged::Event(at, e) = l {
            assert!(done.is_none(), "an event after Done: {e:?}");
            match e {
                Event::Display(d) => events.push(d.to_string()),
                Event::Warning(w) => warnings.push(w.clone()),
                Event::Done(r) => done = Some(((**r).clone(), *at)),
            }
        }
    }
    let (result, end) = done.expect("the stage finished");
    assert!(t.machine.is_finished());
    assert_eq!(t.deadline, Instant::MAX, "nothing asked after Done");
    Transcript {
        result,
        events,
        warnings,
        connects: net.connects.clone(),
        end,
    }
}
