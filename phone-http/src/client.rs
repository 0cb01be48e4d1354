//! The [`HttpClient`] machine: one request on one connection it opens itself.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::convert::Infallible;
use core::time::Duration;

use phone_sansio::{Input, Instant, Machine, Output};

use crate::error::{Failure, RequestError};
use crate::proxy::{self, Route};
use crate::request::{Request, encode_connect};
use crate::response::{BodyReader, FinalHead, Framing, HeadReader, HeadStep};
use crate::url::{Scheme, UrlError, host_ok};
use crate::{Action, ConnId, Event, Outcome, Response, Tls, Transmit};

/// Bounds on one exchange. Network bytes never allocate past these.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HttpLimits {
    /// Largest response head (status line, header fields, blank line); interim 1xx heads and
    /// a proxy's `CONNECT` answer count against it too.
    pub max_head: usize,
    /// Most header fields in one head.
    pub max_headers: usize,
    /// Most interim (1xx) responses skipped before the final one.
    pub max_interim: usize,
    /// Largest body accepted (a `Content-Length` above it is refused before any body byte).
    pub max_body: usize,
    /// Longest chunk-size line, extensions included (RFC 9112 §7.1.1).
    pub max_chunk_line: usize,
    /// Largest chunked trailer section (RFC 9112 §7.1.2).
    pub max_trailers: usize,
    /// Time from taking the `Connect` to the end of the body: connect, TLS, proxy tunnel,
    /// request and response all share it.
    pub timeout: Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            max_head: 16 * 1024,
            max_headers: 64,
            max_interim: 8,
            max_body: 1024 * 1024,
            max_chunk_line: 1024,
            max_trailers: 8 * 1024,
            timeout: Duration::from_secs(10),
        }
    }
}

/// How requests are made: limits, the proxy rule and the TLS identity check.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HttpConfig {
    /// Bounds on the exchange.
    pub limits: HttpLimits,
    /// HTTPPROXY, `host[:port]`; empty for direct connections (the file stage never uses a
    /// proxy, spec/scep.md §3).
    pub http_proxy: String,
    /// HTTPEXCEPTIONDOMAINS: comma-separated domains reached directly ([`proxy::route`]).
    pub exception_domains: String,
    /// Whether the TLS server certificate must match the URL's host (RFC 2818 §3.1;
    /// TLSSRVRID). Carried in [`Tls::check_identity`].
    pub check_identity: bool,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            limits: HttpLimits::default(),
            http_proxy: String::new(),
            exception_domains: String::new(),
            check_identity: true,
        }
    }
}

/// A transmit not taken yet. Its bytes are built when it is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    Connect,
    SendConnect,
    StartTls,
    SendRequest,
    Close,
}

/// What incoming bytes are.
#[derive(Debug, Clone)]
enum Read {
    /// The connection is not open yet.
    Idle,
    /// The proxy's answer to `CONNECT`.
    Tunnel(HeadReader),
    /// The response head.
    Head(HeadReader),
    /// The body of a 2xx response.
    Body {
        head: Box<FinalHead>,
        body: BodyReader,
    },
    /// The exchange is over.
    Finished,
}

/// Where the connection goes and in which form the request is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Hop {
    host: String,
    port: u16,
    /// TLS from the start (direct `https`).
    tls: Option<Tls>,
    /// `https` through a proxy: `CONNECT` first, then `StartTls`.
    tunnel: Option<Tls>,
    /// `http` through a proxy: absolute-form request-target.
    absolute: bool,
}

/// One HTTP/1.1 exchange (GET or POST, `Connection: close`) on one connection it opens itself,
/// directly or through HTTPPROXY. See the crate docs for the transmits it asks for and the
/// inputs it expects.
#[derive(Debug, Clone)]
pub struct HttpClient {
    conn: ConnId,
    limits: HttpLimits,
    request: Request,
    hop: Option<Hop>,
    /// The caller's latest time.
    now: Instant,
    /// Armed when the `Connect` is taken.
    deadline: Option<Instant>,
    pending: VecDeque<Next>,
    read: Read,
    /// A `Connect` was taken: the connection needs a `Close`.
    opened: bool,
    /// The caller said the connection is up, or bytes arrived.
    connected: bool,
    /// Body KiB last reported in a `Progress`.
    reported_kib: u64,
    progress: Option<Event>,
    done: Option<Outcome>,
}

impl HttpClient {
    /// Prepares `request` on connection `conn` at `now`. The first output is the
    /// [`Action::Connect`]; the deadline is armed when the caller takes it. A request that
    /// cannot be put on the wire ends at once with [`Failure::Request`] and asks for nothing.
    #[must_use]
    pub fn new(config: &HttpConfig, request: Request, conn: ConnId, now: Instant) -> Self {
        let mut client = HttpClient {
            conn,
            limits: config.limits.clone(),
            request,
            hop: None,
            now,
            deadline: None,
            pending: VecDeque::new(),
            read: Read::Idle,
            opened: false,
            connected: false,
            reported_kib: 0,
            progress: None,
            done: None,
        };
        match client
            .request
            .validate()
            .and_then(|()| hop(config, &client.request))
        {
            Ok(hop) => {
                client.hop = Some(hop);
                client.pending.push_back(Next::Connect);
            }
            Err(e) => client.finish(Outcome::Failed(Failure::Request(e))),
        }
        client
    }

    /// The connection this exchange uses.
    #[must_use]
    pub fn conn(&self) -> ConnId {
        self.conn
    }

    /// True once the outcome is known (the `Done` event may not have been taken yet).
    #[must_use]
    pub fn is_finished(&self) -> bool {
        matches!(self.read, Read::Finished)
    }

    fn finish(&mut self, outcome: Outcome) {
        self.pending.clear();
        if self.opened {
            self.pending.push_back(Next::Close);
        }
        self.read = Read::Finished;
        self.progress = None;
        self.deadline = None;
        self.done = Some(outcome);
    }

    /// Builds the transmit for `next` and commits what taking it means.
    fn take(&mut self, next: Next) -> Action {
        match next {
            Next::Connect => {
                self.opened = true;
                self.deadline = Some(self.now.saturating_add(self.limits.timeout));
                let Some(hop) = &self.hop else {
                    // Unreachable: a request without a hop finished in `new`.
                    return Action::Close;
                };
                let tunnel = hop.tunnel.is_some();
                self.read = if tunnel {
                    Read::Tunnel(HeadReader::default())
                } else {
                    Read::Head(HeadReader::default())
                };
                self.pending.push_back(if tunnel {
                    Next::SendConnect
                } else {
                    Next::SendRequest
                });
                Action::Connect {
                    host: hop.host.clone(),
                    port: hop.port,
                    tls: hop.tls.clone(),
                }
            }
            Next::SendConnect => Action::Send(encode_connect(
                &self.request.url.host,
                self.request.url.port,
            )),
            Next::StartTls => match self.hop.as_ref().and_then(|h| h.tunnel.clone()) {
                Some(tls) => Action::StartTls(tls),
                None => Action::Close,
            },
            Next::SendRequest => {
                let absolute = self.hop.as_ref().is_some_and(|h| h.absolute);
                let bytes = self.request.encode(absolute);
                // The body now lives in the transmit; the request is sent once.
                if let crate::Method::Post { body, .. } = &mut self.request.method {
                    *body = Vec::new();
                }
                Action::Send(bytes)
            }
            Next::Close => Action::Close,
        }
    }

    fn receive(&mut self, bytes: &[u8]) -> Result<(), Failure> {
        match &mut self.read {
            Read::Idle | Read::Finished => Ok(()),
            Read::Tunnel(reader) => {
                if let HeadStep::Final {
                    head,
                    leftover,
                    taken,
                } = reader.feed(&self.limits, bytes)?
                {
                    if !(200..300).contains(&head.status) {
                        return Err(Failure::ProxyRefused {
                            status: head.status,
                        });
                    }
                    // The server speaks only after our TLS hello; a 2xx to CONNECT has no
                    // body (RFC 9110 §9.3.6).
                    if !leftover.is_empty() || taken < bytes.len() {
                        return Err(Failure::ProxyTrailingData);
                    }
                    self.read = Read::Head(HeadReader::default());
                    self.pending.push_back(Next::StartTls);
                    self.pending.push_back(Next::SendRequest);
                }
                Ok(())
            }
            Read::Head(reader) => {
                if let HeadStep::Final {
                    head,
                    leftover,
                    taken,
                } = reader.feed(&self.limits, bytes)?
                {
                    let framing = head.framing(&self.limits)?;
                    let mut body = BodyReader::new(framing, &self.limits);
                    if framing != Framing::None {
                        body.feed(&leftover)?;
                        body.feed(&bytes[taken..])?;
                    }
                    self.read = Read::Body {
                        head: Box::new(head),
                        body,
                    };
                    self.after_body_bytes();
                }
                Ok(())
            }
            Read::Body { body, .. } => {
                body.feed(bytes)?;
                self.after_body_bytes();
                Ok(())
            }
        }
    }

    /// Finishes a complete body, or notes progress.
    fn after_body_bytes(&mut self) {
        let Read::Body { head, body } = &mut self.read else {
            return;
        };
        if body.is_complete() {
            let response = response(head, body.take_body());
            self.finish(Outcome::Response(response));
            return;
        }
        let kib = body.received() / 1024;
        if kib != self.reported_kib {
            self.reported_kib = kib;
            self.progress = Some(Event::Progress {
                received: body.received(),
                expected: head.content_length(),
            });
        }
    }

    fn closed(&mut self) {
        let outcome = match &mut self.read {
            Read::Idle | Read::Finished => return,
            Read::Tunnel(_) | Read::Head(_) => Outcome::Failed(Failure::EarlyClose { received: 0 }),
            Read::Body { head, body } => match body.close() {
                Ok(()) => Outcome::Response(response(head, body.take_body())),
                Err(e) => Outcome::Failed(e),
            },
        };
        self.finish(outcome);
    }
}

fn response(head: &mut FinalHead, body: Vec<u8>) -> Response {
    Response {
        status: head.status,
        content_type: head.content_type.take(),
        etag: head.etag.take(),
        retry_after: head.retry_after,
        body,
    }
}

/// Where the connection goes (spec/scep.md §3 through [`proxy::route`]).
fn hop(config: &HttpConfig, request: &Request) -> Result<Hop, RequestError> {
    let url = &request.url;
    let tls = Tls {
        server_name: url.host.clone(),
        check_identity: config.check_identity,
    };
    let https = url.scheme == Scheme::Https;
    Ok(
        match proxy::route(&url.host, &config.http_proxy, &config.exception_domains) {
            Route::Direct => Hop {
                host: url.host.clone(),
                port: url.port,
                tls: https.then_some(tls),
                tunnel: None,
                absolute: false,
            },
            Route::Proxy { host, port } => {
                if !host_ok(host) {
                    return Err(RequestError::Proxy(UrlError::Host));
                }
                if port == 0 {
                    return Err(RequestError::Proxy(UrlError::Port));
                }
                Hop {
                    host: host.to_string(),
                    port,
                    tls: None,
                    tunnel: https.then_some(tls),
                    absolute: !https,
                }
            }
        },
    )
}

impl Machine for HttpClient {
    type Peer = ConnId;
    type Command<'a> = Infallible;
    type Transmit = Transmit;
    type Event = Event;

    fn handle_input(&mut self, input: Input<'_, ConnId, Infallible>) {
        let now = input.now();
        if now > self.now {
            self.now = now;
        }
        if self.is_finished() {
            return;
        }
        // Bytes that arrive at or after the deadline do not count.
        if self.deadline.is_some_and(|d| self.now >= d) {
            self.finish(Outcome::Failed(Failure::Timeout));
            return;
        }
        // Facts about a connection never opened (the `Connect` not taken) are ignored too.
        let ours = |c: ConnId| c == self.conn && self.opened;
        match input {
            Input::Completed(_, c) if ours(c) => self.connected = true,
            Input::Receive(_, c, bytes) if ours(c) => {
                self.connected = true;
                if let Err(f) = self.receive(bytes) {
                    self.finish(Outcome::Failed(f));
                }
            }
            Input::Closed(_, c) if ours(c) => self.closed(),
            Input::TransportFailed(_, c) if ours(c) => {
                let f = if self.connected {
                    Failure::Reset
                } else {
                    Failure::Connect
                };
                self.finish(Outcome::Failed(f));
            }
            Input::Timeout(_)
            | Input::Command(..)
            | Input::Completed(..)
            | Input::Receive(..)
            | Input::Closed(..)
            | Input::TransportFailed(..) => {}
        }
    }

    fn poll_output(&mut self) -> Output<Transmit, Event> {
        if let Some(next) = self.pending.pop_front() {
            let action = self.take(next);
            return Output::Transmit(Transmit {
                conn: self.conn,
                action,
            });
        }
        if let Some(e) = self.progress.take() {
            return Output::Event(e);
        }
        if let Some(o) = self.done.take() {
            return Output::Event(Event::Done(o));
        }
        Output::Timeout(self.deadline.unwrap_or(Instant::MAX))
    }

    fn poll_timeout(&self) -> Option<Instant> {
        if !self.pending.is_empty() || self.progress.is_some() || self.done.is_some() {
            return Some(self.now);
        }
        self.deadline
    }
}
