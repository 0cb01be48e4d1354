//! The one event loop of the reference phone (issue 11 item 1, ARCHITECTURE.md "The reference
//! binary: one driver").
//!
//! One thread, one `epoll` instance, no reader threads, no sleeps, no blocking connect or
//! exchange. The loop drains every machine's outputs until `Timeout`, waits for readiness or
//! the earliest deadline, and feeds what arrived:
//!
//! ```text
//! loop {
//!     for each task: feed Timeout(now) when due, carry out Transmits, act on Events → deadline
//!     reactor.wait(earliest deadline)            // epoll_wait, the only place the loop waits
//!     for each fact (datagram, bytes, connected, closed, failed, frame, timer, keys, signal):
//!         offer it to the tasks; the one whose handle it is turns it into an Input
//! }
//! ```
//!
//! Two layers:
//! - [`Reactor`]: owns the sockets (UDP, TCP with non-blocking connect, TLS over TCP with
//!   rustls' non-blocking `read_tls`/`process_new_packets`/`write_tls`, raw link-layer
//!   sockets), timers, the keyboard and signals, each named by a [`Handle`]; it reports
//!   [`Fact`]s. It knows nothing of machines.
//! - [`Task`]s: a machine plus an [`Adapter`] mapping the machine's transmits to reactor
//!   operations and the facts about its handles back to `phone_sansio::Input`s
//!   ([`Driven`]). Any number of tasks run on one [`Driver`] (a fleet of phones is a list of
//!   tasks). Adapters are built from components that speak one transport each: [`UdpPort`],
//!   [`LinkPort`], [`StreamConns`] (TCP/TLS keyed by the machine's peer), [`SipPorts`] (UDP
//!   and per-controller TCP/TLS by controller index), [`FlashPort`]; and
//!   [`HttpAdapter`] is the ready-made adapter for phone-http's connection model.
//!
//! Why mio: it is the epoll layer under tokio, small, well kept, with no runtime; its
//! `SourceFd` registers any descriptor (the AF_PACKET socket, stdin) next to its own UDP and
//! TCP types, and signal-hook-mio feeds SIGINT/SIGTERM into the same poll through a self-pipe.
//! An async runtime would bring a second scheduler for a loop whose machines already are the
//! state machines.
//!
//! Time: [`Clock`] maps `std::time::Instant` since the driver started to `phone_sansio::Instant`.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::hash::Hash;
use std::io::{self, Read as _, Write as _};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mio::net::{TcpStream, UdpSocket};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use phone_sansio::{Input, Instant, Machine, Output};
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use socket2::{Domain, Protocol, Socket, Type};

use crate::arp::PacketSocket;
use crate::cli::Iface;
use crate::net::{SocketOptions, TlsPolicy, resolve, server_name};
use crate::state_dir::Flash;
use crate::term::Keyboard;

/// The largest datagram, frame or read handed to a machine at once.
pub const READ_BUFFER: usize = 64 * 1024;
/// Facts handled per loop turn before every machine is drained again (a flood on one socket
/// never starves the timers of the others).
pub const FACTS_PER_TURN: usize = 64;
/// Outputs taken from one machine per turn before the loop moves on (a machine that never
/// returns `Timeout` cannot hang the phone).
pub const OUTPUTS_PER_TURN: usize = 4096;
/// Bytes queued on one connection before a send fails (a peer that stops reading).
pub const MAX_QUEUED: usize = 16 * 1024 * 1024;

const KEYBOARD: Token = Token(usize::MAX - 1);
const SIGNALS: Token = Token(usize::MAX - 2);

/// The driver's clock: `std::time::Instant` since start, as `phone_sansio::Instant`.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    origin: std::time::Instant,
}

impl Default for Clock {
    fn default() -> Self {
        Clock::new()
    }
}

impl Clock {
    /// A clock whose origin is now.
    #[must_use]
    pub fn new() -> Clock {
        Clock {
            origin: std::time::Instant::now(),
        }
    }

    /// Now.
    #[must_use]
    pub fn now(&self) -> Instant {
        Instant::from_micros(u64::try_from(self.origin.elapsed().as_micros()).unwrap_or(u64::MAX))
    }

    /// How long from now until `at` (zero when past); `None` for [`Instant::MAX`] ("never").
    #[must_use]
    pub fn until(&self, at: Instant) -> Option<Duration> {
        (at != Instant::MAX).then(|| at.saturating_duration_since(self.now()))
    }
}

/// A socket, connection, raw socket or timer owned by the [`Reactor`]. Handles are never
/// reused, so a fact about a closed handle can never be taken for its successor's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Handle(usize);

/// Something that happened, as the reactor reports it. Bytes borrow the driver's read buffer.
#[derive(Debug)]
pub enum Fact<'a> {
    /// A datagram arrived on a UDP socket.
    Datagram {
        /// The socket.
        handle: Handle,
        /// Who sent it.
        from: SocketAddr,
        /// The payload.
        bytes: &'a [u8],
    },
    /// A connection is up: TCP connected, and the TLS handshake done when TLS was started
    /// before the connect completed.
    Connected(Handle),
    /// Stream bytes arrived (plain text, after TLS when the connection has it).
    Received {
        /// The connection.
        handle: Handle,
        /// The bytes.
        bytes: &'a [u8],
    },
    /// The peer closed the connection cleanly (EOF, TLS close_notify, or EOF without it). The
    /// handle is gone.
    Closed(Handle),
    /// The connection failed: refused, reset, unreachable, a TLS error (a certificate refused).
    /// The handle is gone.
    Failed {
        /// The connection.
        handle: Handle,
        /// Why.
        error: io::Error,
    },
    /// A link-layer payload arrived on a raw socket.
    Frame {
        /// The socket.
        handle: Handle,
        /// The payload (after the Ethernet header).
        bytes: &'a [u8],
    },
    /// A timer set with [`Reactor::timer`] expired. The handle is gone.
    Timer(Handle),
    /// Keyboard bytes (see [`crate::term::Display::keys`]).
    Keys(&'a [u8]),
    /// The keyboard is gone (end of stdin).
    KeyboardClosed,
    /// A signal (SIGINT, SIGTERM) arrived.
    Signal(i32),
}

/// A TCP connection, optionally with TLS.
struct Stream {
    tcp: TcpStream,
    connecting: bool,
    /// Plain bytes not yet written (before TLS starts, or without TLS).
    out: Vec<u8>,
    out_pos: usize,
    tls: Option<Box<rustls::ClientConnection>>,
    /// Report `Connected` once the handshake completes (TLS started before the connect ended).
    report_secure: bool,
    /// The socket reached EOF.
    eof: bool,
}

enum Source {
    Udp(UdpSocket),
    Stream(Box<Stream>),
    Packet(PacketSocket),
    Timer(Instant),
}

/// What one step of a source produced.
enum Step {
    /// A fact; the source may have more.
    More(FactKind),
    /// A fact; the source is gone.
    Last(FactKind),
    /// Nothing more until the next readiness.
    Idle,
}

enum FactKind {
    Datagram(SocketAddr, usize),
    Connected,
    Received(usize),
    Closed,
    Failed(io::Error),
    Frame(usize),
    Timer,
}

/// Owns every descriptor and timer of the loop; see the module documentation.
pub struct Reactor {
    poll: Poll,
    events: Events,
    clock: Clock,
    next: usize,
    sources: HashMap<usize, Source>,
    /// Tokens with readiness not yet fully consumed, in order.
    ready: VecDeque<Token>,
    timers: BTreeSet<(Instant, usize)>,
    keyboard: Option<Keyboard>,
    /// The keyboard cannot be polled (a regular file or /dev/null): always ready.
    keyboard_always_ready: bool,
    signals: Option<signal_hook_mio::v1_0::Signals>,
    pending_signals: VecDeque<i32>,
    /// The sender MAC and packet(7) `pkttype` of the last [`Fact::Frame`] (EAPOL needs them).
    frame_from: Option<([u8; 6], u8)>,
}

impl std::fmt::Debug for Reactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reactor")
            .field("sources", &self.sources.len())
            .field("timers", &self.timers.len())
            .finish_non_exhaustive()
    }
}

fn would_block(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock
}

fn tls_error(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

impl Reactor {
    /// A reactor with its clock.
    ///
    /// # Errors
    /// `epoll_create` failed.
    pub fn new(clock: Clock) -> io::Result<Reactor> {
        Ok(Reactor {
            poll: Poll::new()?,
            events: Events::with_capacity(256),
            clock,
            next: 1,
            sources: HashMap::new(),
            ready: VecDeque::new(),
            timers: BTreeSet::new(),
            keyboard: None,
            keyboard_always_ready: false,
            signals: None,
            pending_signals: VecDeque::new(),
            frame_from: None,
        })
    }

    /// Now, on the driver's clock.
    #[must_use]
    pub fn now(&self) -> Instant {
        self.clock.now()
    }

    fn add(&mut self, source: Source, interest: Option<Interest>) -> io::Result<Handle> {
        let id = self.next;
        self.next += 1;
        let mut source = source;
        if let Some(interest) = interest {
            let reg = self.poll.registry();
            match &mut source {
                Source::Udp(s) => reg.register(s, Token(id), interest)?,
                Source::Stream(s) => reg.register(&mut s.tcp, Token(id), interest)?,
                Source::Packet(s) => {
                    reg.register(&mut SourceFd(&s.raw_fd()), Token(id), interest)?;
                }
                Source::Timer(_) => {}
            }
        }
        self.sources.insert(id, source);
        Ok(Handle(id))
    }

    /// Closes a handle at once: a socket is closed, a timer cancelled, a connection dropped
    /// without waiting for unsent bytes. No fact about it follows. Unknown handles are ignored.
    pub fn close(&mut self, handle: Handle) {
        if let Some(Source::Stream(s)) = self.sources.get_mut(&handle.0)
            && let Some(tls) = s.tls.as_mut()
        {
            tls.send_close_notify();
            let _ = tls.write_tls(&mut s.tcp);
        }
        self.close_quietly(handle);
    }

    // --- UDP ---------------------------------------------------------------------------

    /// Binds a UDP socket at `local` with `options`.
    ///
    /// # Errors
    /// The socket cannot be made, configured or bound.
    pub fn udp(&mut self, local: SocketAddr, options: &SocketOptions) -> io::Result<Handle> {
        let s = Socket::new(Domain::for_address(local), Type::DGRAM, Some(Protocol::UDP))?;
        options.apply(&s)?;
        s.set_nonblocking(true)?;
        s.bind(&local.into())?;
        let udp = UdpSocket::from_std(s.into());
        self.add(Source::Udp(udp), Some(Interest::READABLE))
    }

    /// Sends a datagram. A full send buffer is an error (`WouldBlock`), not a wait: the
    /// machine hears `TransportFailed` and retries on its own timer.
    ///
    /// # Errors
    /// Not a UDP handle, or the send failed.
    pub fn send_to(&mut self, handle: Handle, to: SocketAddr, bytes: &[u8]) -> io::Result<()> {
        match self.sources.get(&handle.0) {
            Some(Source::Udp(s)) => s.send_to(bytes, to).map(|_| ()),
            _ => Err(io::Error::new(
                io::ErrorKind::NotFound,
                "no such UDP socket",
            )),
        }
    }

    /// The local address of a UDP socket or a connection.
    ///
    /// # Errors
    /// Unknown handle.
    pub fn local_addr(&self, handle: Handle) -> io::Result<SocketAddr> {
        match self.sources.get(&handle.0) {
            Some(Source::Udp(s)) => s.local_addr(),
            Some(Source::Stream(s)) => s.tcp.local_addr(),
            _ => Err(io::Error::new(io::ErrorKind::NotFound, "no such socket")),
        }
    }

    // --- TCP and TLS ---------------------------------------------------------------------

    /// Starts a non-blocking TCP connect to `to`. The outcome comes as [`Fact::Connected`] or
    /// [`Fact::Failed`]; bytes sent meanwhile are queued.
    ///
    /// # Errors
    /// The connect failed at once (no route, bad options).
    pub fn connect(&mut self, to: SocketAddr, options: &SocketOptions) -> io::Result<Handle> {
        let s = Socket::new(Domain::for_address(to), Type::STREAM, Some(Protocol::TCP))?;
        options.apply(&s)?;
        s.set_nonblocking(true)?;
        s.set_tcp_nodelay(true)?;
        match s.connect(&to.into()) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) || would_block(&e) => {}
            Err(e) => return Err(e),
        }
        let stream = Stream {
            tcp: TcpStream::from_std(s.into()),
            connecting: true,
            out: Vec::new(),
            out_pos: 0,
            tls: None,
            report_secure: false,
            eof: false,
        };
        self.add(
            Source::Stream(Box::new(stream)),
            Some(Interest::READABLE | Interest::WRITABLE),
        )
    }

    /// Starts TLS on a connection (at once after [`Reactor::connect`], or after a proxy's
    /// `CONNECT` succeeded). Bytes sent after this go inside TLS; the handshake runs as the
    /// socket allows. When TLS starts before the TCP connect completed, [`Fact::Connected`]
    /// comes once the handshake is done (a refused certificate is a [`Fact::Failed`]).
    ///
    /// # Errors
    /// Not a connection, TLS already started, or rustls refused the configuration.
    pub fn start_tls(
        &mut self,
        handle: Handle,
        config: Arc<ClientConfig>,
        name: ServerName<'static>,
    ) -> io::Result<()> {
        let Some(Source::Stream(s)) = self.sources.get_mut(&handle.0) else {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                "no such connection",
            ));
        };
        if s.tls.is_some() {
            return Err(io::Error::other("TLS already started"));
        }
        let mut tls = rustls::ClientConnection::new(config, name).map_err(tls_error)?;
        tls.set_buffer_limit(Some(MAX_QUEUED));
        s.report_secure = s.connecting;
        s.tls = Some(Box::new(tls));
        if !s.connecting {
            self.ready.push_back(Token(handle.0));
        }
        Ok(())
    }

    /// Queues `bytes` on a connection and writes what the socket takes now.
    ///
    /// # Errors
    /// Not a connection, too much queued, or the write failed; the connection is then closed
    /// (no further fact about it).
    pub fn send(&mut self, handle: Handle, bytes: &[u8]) -> io::Result<()> {
        let Some(Source::Stream(s)) = self.sources.get_mut(&handle.0) else {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                "no such connection",
            ));
        };
        let result = (|| {
            match s.tls.as_mut() {
                Some(tls) => {
                    let n = tls.writer().write(bytes)?;
                    if n < bytes.len() {
                        return Err(io::Error::other("TLS send buffer full"));
                    }
                }
                None => {
                    if s.out.len() - s.out_pos + bytes.len() > MAX_QUEUED {
                        return Err(io::Error::other("send queue full"));
                    }
                    s.out.extend_from_slice(bytes);
                }
            }
            if s.connecting { Ok(()) } else { s.flush() }
        })();
        if result.is_err() {
            self.close(handle);
        }
        result
    }

    // --- raw link layer --------------------------------------------------------------------

    /// Registers a link-layer socket ([`PacketSocket`]).
    ///
    /// # Errors
    /// Registration failed.
    pub fn packet(&mut self, socket: PacketSocket) -> io::Result<Handle> {
        self.add(Source::Packet(socket), Some(Interest::READABLE))
    }

    /// The sender MAC and packet(7) `pkttype` (0 to this host, 1 broadcast, 2 multicast) of
    /// the last [`Fact::Frame`] handed out.
    #[must_use]
    pub fn frame_from(&self) -> Option<([u8; 6], u8)> {
        self.frame_from
    }

    /// Sends a link-layer payload to `destination` (a MAC).
    ///
    /// # Errors
    /// Not a link-layer socket, or the send failed.
    pub fn send_frame(
        &mut self,
        handle: Handle,
        bytes: &[u8],
        destination: [u8; 6],
    ) -> io::Result<()> {
        match self.sources.get(&handle.0) {
            Some(Source::Packet(s)) => s.send_to(bytes, destination),
            _ => Err(io::Error::new(
                io::ErrorKind::NotFound,
                "no such link-layer socket",
            )),
        }
    }

    // --- timers, keyboard, signals -----------------------------------------------------------

    /// A timer firing at `at` ([`Fact::Timer`]); cancel it with [`Reactor::close`].
    pub fn timer(&mut self, at: Instant) -> Handle {
        let id = self.next;
        self.next += 1;
        self.sources.insert(id, Source::Timer(at));
        self.timers.insert((at, id));
        Handle(id)
    }

    /// Takes the keyboard: its bytes come as [`Fact::Keys`].
    ///
    /// # Errors
    /// Registration failed for another reason than stdin being unpollable (a regular file or
    /// /dev/null, which is then read as always ready).
    pub fn keyboard(&mut self, keyboard: Keyboard) -> io::Result<()> {
        match self.poll.registry().register(
            &mut SourceFd(&keyboard.raw_fd()),
            KEYBOARD,
            Interest::READABLE,
        ) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
                self.keyboard_always_ready = true;
                self.ready.push_back(KEYBOARD);
            }
            Err(e) => return Err(e),
        }
        self.keyboard = Some(keyboard);
        Ok(())
    }

    /// Gives the keyboard back (to restore the terminal before printing a final screen).
    pub fn take_keyboard(&mut self) -> Option<Keyboard> {
        let kb = self.keyboard.take()?;
        if !self.keyboard_always_ready {
            let _ = self.poll.registry().deregister(&mut SourceFd(&kb.raw_fd()));
        }
        self.ready.retain(|t| *t != KEYBOARD);
        Some(kb)
    }

    /// Catches `signals` (e.g. SIGINT, SIGTERM): they come as [`Fact::Signal`] instead of
    /// ending the process.
    ///
    /// # Errors
    /// The handlers cannot be installed.
    pub fn catch_signals(&mut self, signals: &[i32]) -> io::Result<()> {
        let mut s = signal_hook_mio::v1_0::Signals::new(signals)?;
        self.poll
            .registry()
            .register(&mut s, SIGNALS, Interest::READABLE)?;
        self.signals = Some(s);
        Ok(())
    }

    // --- waiting and facts -------------------------------------------------------------------

    /// Waits until a source is ready, a timer expires, or `deadline` (`None`: no deadline).
    /// Returns at once when facts are still pending.
    ///
    /// # Errors
    /// `epoll_wait` failed (EINTR is not an error).
    pub fn wait(&mut self, deadline: Option<Instant>) -> io::Result<()> {
        let earliest = [deadline, self.timers.first().map(|(t, _)| *t)]
            .into_iter()
            .flatten()
            .min();
        let timeout = if !self.ready.is_empty() || !self.pending_signals.is_empty() {
            Some(Duration::ZERO)
        } else {
            // Round up to the next millisecond (epoll's unit): never wake just before the
            // deadline and spin.
            earliest
                .and_then(|t| self.clock.until(t))
                .map(|d| d + Duration::from_micros(999))
                .map(|d| Duration::from_millis(u64::try_from(d.as_millis()).unwrap_or(u64::MAX)))
        };
        match self.poll.poll(&mut self.events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        for event in &self.events {
            let t = event.token();
            if !self.ready.contains(&t) {
                self.ready.push_back(t);
            }
        }
        let now = self.clock.now();
        while let Some(&(at, id)) = self.timers.first() {
            if at > now {
                break;
            }
            self.timers.pop_first();
            self.ready.push_back(Token(id));
        }
        Ok(())
    }

    /// The next fact, its bytes in `buf`; `None` when every ready source is drained.
    pub fn next_fact<'b>(&mut self, buf: &'b mut [u8]) -> Option<Fact<'b>> {
        if let Some(sig) = self.pending_signals.pop_front() {
            return Some(Fact::Signal(sig));
        }
        while let Some(token) = self.ready.pop_front() {
            match token {
                KEYBOARD => match self.keyboard_step(buf) {
                    Some(Ok(0)) => return Some(Fact::KeyboardClosed),
                    Some(Ok(n)) => {
                        self.ready.push_front(KEYBOARD);
                        return Some(Fact::Keys(&buf[..n]));
                    }
                    Some(Err(_)) | None => continue,
                },
                SIGNALS => {
                    if let Some(s) = self.signals.as_mut() {
                        self.pending_signals.extend(s.pending());
                    }
                    if let Some(sig) = self.pending_signals.pop_front() {
                        return Some(Fact::Signal(sig));
                    }
                }
                Token(id) => {
                    let step = match self.sources.get_mut(&id) {
                        Some(Source::Udp(s)) => udp_step(s, buf),
                        Some(Source::Packet(s)) => match eapol::recv_from(s, buf) {
                            Ok((n, from)) => {
                                self.frame_from = from;
                                Step::More(FactKind::Frame(n))
                            }
                            Err(e) if would_block(&e) => Step::Idle,
                            Err(e) => {
                                tracing::debug!("link-layer receive: {e}");
                                Step::Idle
                            }
                        },
                        Some(Source::Stream(s)) => s.step(buf),
                        Some(Source::Timer(_)) => Step::Last(FactKind::Timer),
                        None => Step::Idle,
                    };
                    let (kind, more) = match step {
                        Step::Idle => continue,
                        Step::More(k) => (k, true),
                        Step::Last(k) => (k, false),
                    };
                    let handle = Handle(id);
                    if more {
                        self.ready.push_front(token);
                    } else {
                        self.close_quietly(handle);
                    }
                    return Some(match kind {
                        FactKind::Datagram(from, n) => Fact::Datagram {
                            handle,
                            from,
                            bytes: &buf[..n],
                        },
                        FactKind::Connected => Fact::Connected(handle),
                        FactKind::Received(n) => Fact::Received {
                            handle,
                            bytes: &buf[..n],
                        },
                        FactKind::Closed => Fact::Closed(handle),
                        FactKind::Failed(error) => Fact::Failed { handle, error },
                        FactKind::Frame(n) => Fact::Frame {
                            handle,
                            bytes: &buf[..n],
                        },
                        FactKind::Timer => Fact::Timer(handle),
                    });
                }
            }
        }
        None
    }

    /// Removes a source without a TLS close_notify (it ended by itself: the peer is gone).
    fn close_quietly(&mut self, handle: Handle) {
        if let Some(mut source) = self.sources.remove(&handle.0) {
            let reg = self.poll.registry();
            match &mut source {
                Source::Udp(s) => {
                    let _ = reg.deregister(s);
                }
                Source::Stream(s) => {
                    let _ = reg.deregister(&mut s.tcp);
                }
                Source::Packet(s) => {
                    let _ = reg.deregister(&mut SourceFd(&s.raw_fd()));
                }
                Source::Timer(at) => {
                    self.timers.remove(&(*at, handle.0));
                }
            }
        }
        self.ready.retain(|t| t.0 != handle.0);
    }

    fn keyboard_step(&mut self, buf: &mut [u8]) -> Option<io::Result<usize>> {
        let kb = self.keyboard.as_mut()?;
        match kb.read(buf) {
            Ok(0) => {
                self.take_keyboard();
                Some(Ok(0))
            }
            Ok(n) => Some(Ok(n)),
            Err(e) if would_block(&e) || e.kind() == io::ErrorKind::Interrupted => None,
            Err(e) => {
                tracing::debug!("keyboard: {e}");
                self.take_keyboard();
                Some(Ok(0))
            }
        }
    }
}

/// Reads one datagram. ICMP errors (port unreachable) surface as receive errors on UDP; they
/// are skipped (the machines' timers deal with lost datagrams) and the next datagram read.
fn udp_step(s: &UdpSocket, buf: &mut [u8]) -> Step {
    for _ in 0..16 {
        match s.recv_from(buf) {
            Ok((n, from)) => return Step::More(FactKind::Datagram(from, n)),
            Err(e) if would_block(&e) => return Step::Idle,
            Err(e) => tracing::debug!("UDP receive: {e}"),
        }
    }
    // Still errors: come back on the next readiness.
    Step::Idle
}

impl Stream {
    /// Writes what is queued (plain bytes first, then TLS records) until the socket is full.
    fn flush(&mut self) -> io::Result<()> {
        while self.out_pos < self.out.len() {
            match self.tcp.write(&self.out[self.out_pos..]) {
                Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero)),
                Ok(n) => self.out_pos += n,
                Err(e) if would_block(&e) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.out.clear();
        self.out_pos = 0;
        if let Some(tls) = self.tls.as_mut() {
            while tls.wants_write() {
                match tls.write_tls(&mut self.tcp) {
                    Ok(_) => {}
                    Err(e) if would_block(&e) => return Ok(()),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(())
    }

    /// One step after readiness: finish the connect, flush, report the handshake, read.
    fn step(&mut self, buf: &mut [u8]) -> Step {
        if self.connecting {
            // mio: after a writable (or error) event, take_error then peer_addr tell the
            // outcome; NotConnected means not yet.
            match self.tcp.take_error() {
                Ok(Some(e)) | Err(e) => return Step::Last(FactKind::Failed(e)),
                Ok(None) => {}
            }
            match self.tcp.peer_addr() {
                Ok(_) => self.connecting = false,
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return Step::Idle,
                Err(e) => return Step::Last(FactKind::Failed(e)),
            }
            if let Err(e) = self.flush() {
                return Step::Last(FactKind::Failed(e));
            }
            if self.tls.is_none() {
                return Step::More(FactKind::Connected);
            }
        }
        if let Err(e) = self.flush() {
            return Step::Last(FactKind::Failed(e));
        }
        loop {
            if let Some(tls) = self.tls.as_mut() {
                if self.report_secure && !tls.is_handshaking() {
                    self.report_secure = false;
                    return Step::More(FactKind::Connected);
                }
                match tls.reader().read(buf) {
                    Ok(0) => return Step::Last(FactKind::Closed),
                    Ok(n) => return Step::More(FactKind::Received(n)),
                    Err(e) if would_block(&e) => {}
                    // EOF without close_notify: a server that closes after its response.
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                        return if self.report_secure {
                            Step::Last(FactKind::Failed(e))
                        } else {
                            Step::Last(FactKind::Closed)
                        };
                    }
                    Err(e) => return Step::Last(FactKind::Failed(e)),
                }
                if self.eof {
                    return Step::Last(FactKind::Closed);
                }
                match tls.read_tls(&mut self.tcp) {
                    Ok(0) => self.eof = true,
                    Ok(_) => {}
                    Err(e) if would_block(&e) => return Step::Idle,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Step::Last(FactKind::Failed(e)),
                }
                if let Err(e) = tls.process_new_packets() {
                    // Send the alert, then give up.
                    let _ = tls.write_tls(&mut self.tcp);
                    return Step::Last(FactKind::Failed(tls_error(e)));
                }
                // The handshake may want to answer.
                if let Err(e) = self.flush() {
                    return Step::Last(FactKind::Failed(e));
                }
            } else {
                return match self.tcp.read(buf) {
                    Ok(0) => Step::Last(FactKind::Closed),
                    Ok(n) => Step::More(FactKind::Received(n)),
                    Err(e) if would_block(&e) => Step::Idle,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => Step::Last(FactKind::Failed(e)),
                };
            }
        }
    }
}

// --- machines on the reactor ---------------------------------------------------------------

/// A transport fact about one of a machine's peers: an `Input` without its time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerFact<'a, P> {
    /// Bytes from the peer.
    Receive(P, &'a [u8]),
    /// The transmit asking for it was carried out (connected, flash operation done).
    Completed(P),
    /// The peer closed cleanly.
    Closed(P),
    /// The transport to the peer failed.
    TransportFailed(P),
}

impl<'a, P> PeerFact<'a, P> {
    /// The machine input for this fact at `now`.
    #[must_use]
    pub fn input<C>(self, now: Instant) -> Input<'a, P, C> {
        match self {
            PeerFact::Receive(p, b) => Input::Receive(now, p, b),
            PeerFact::Completed(p) => Input::Completed(now, p),
            PeerFact::Closed(p) => Input::Closed(now, p),
            PeerFact::TransportFailed(p) => Input::TransportFailed(now, p),
        }
    }

    /// The same fact about another peer type (a composed machine's peer).
    #[must_use]
    pub fn map<Q>(self, f: impl FnOnce(P) -> Q) -> PeerFact<'a, Q> {
        match self {
            PeerFact::Receive(p, b) => PeerFact::Receive(f(p), b),
            PeerFact::Completed(p) => PeerFact::Completed(f(p)),
            PeerFact::Closed(p) => PeerFact::Closed(f(p)),
            PeerFact::TransportFailed(p) => PeerFact::TransportFailed(f(p)),
        }
    }
}

/// Feeds `fact`, if any, to `machine` as its input at `now`; returns whether there was one (an
/// adapter's "taken").
pub fn feed<M: Machine>(
    machine: &mut M,
    fact: Option<PeerFact<'_, M::Peer>>,
    now: Instant,
) -> bool {
    match fact {
        Some(f) => {
            machine.handle_input(f.input(now));
            true
        }
        None => false,
    }
}

/// Whether the loop goes on with a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Keep driving it.
    Continue,
    /// It is finished: drive it no more (its handles stay open until the adapter is dropped
    /// or closes them).
    Stop,
}

/// Maps one machine's transmits to reactor operations and the reactor's facts back to the
/// machine's inputs.
pub trait Adapter<M: Machine> {
    /// Carries out a transmit the machine just gave (and so committed to). A failure known at
    /// once is fed back right here (`Input::TransportFailed`).
    fn transmit(&mut self, io: &mut Reactor, machine: &mut M, transmit: M::Transmit, now: Instant);

    /// Feeds `fact` to the machine when it is about one of this adapter's handles (or is the
    /// keyboard or a signal the adapter wants); returns whether it was taken.
    fn fact(&mut self, io: &mut Reactor, machine: &mut M, fact: &Fact<'_>, now: Instant) -> bool;

    /// The adapter's own timekeeping, at the start of every turn before the machine is
    /// drained: act on a deadline of its own (a give-up time, the end of a hold), possibly by
    /// commanding the machine, and say whether the task goes on. Default: none of its own.
    fn tick(&mut self, _io: &mut Reactor, _machine: &mut M, _now: Instant) -> Flow {
        Flow::Continue
    }

    /// The adapter's own next deadline (see [`Adapter::tick`]); `None`: none. Asked after the
    /// machine was drained, so an event that starts a wait is counted in the same turn.
    fn deadline(&self) -> Option<Instant> {
        None
    }
}

/// The earlier of two optional deadlines.
#[must_use]
pub fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Something the [`Driver`] drives: usually a [`Driven`] machine.
pub trait Task {
    /// Feeds `Timeout(now)` when due, carries out every transmit, acts on every event, until
    /// the machine waits; returns its next deadline (`None`: only a fact can wake it).
    fn turn(&mut self, io: &mut Reactor, now: Instant) -> Option<Instant>;

    /// Offers a fact; true when the task took it.
    fn offer(&mut self, io: &mut Reactor, fact: &Fact<'_>, now: Instant) -> bool;

    /// True once the task is over (its event handler said [`Flow::Stop`]).
    fn finished(&self) -> bool;
}

/// A machine, its adapter and its event handler: a [`Task`].
pub struct Driven<M, A, E> {
    /// The machine.
    pub machine: M,
    /// Its transports.
    pub adapter: A,
    on_event: E,
    finished: bool,
}

impl<M, A, E> std::fmt::Debug for Driven<M, A, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driven")
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl<M, A, E> Driven<M, A, E>
where
    M: Machine,
    A: Adapter<M>,
    E: FnMut(&mut M, &mut A, &mut Reactor, M::Event, Instant) -> Flow,
{
    /// Drives `machine` through `adapter`; `on_event` acts on its events (show, store, feed a
    /// command back) and says when the task is over.
    pub fn new(machine: M, adapter: A, on_event: E) -> Self {
        Driven {
            machine,
            adapter,
            on_event,
            finished: false,
        }
    }
}

impl<M, A, E> Task for Driven<M, A, E>
where
    M: Machine,
    A: Adapter<M>,
    E: FnMut(&mut M, &mut A, &mut Reactor, M::Event, Instant) -> Flow,
{
    fn turn(&mut self, io: &mut Reactor, now: Instant) -> Option<Instant> {
        if self.finished {
            return None;
        }
        if self.adapter.tick(io, &mut self.machine, now) == Flow::Stop {
            self.finished = true;
            return None;
        }
        let mut timeouts_fed = 0;
        for _ in 0..OUTPUTS_PER_TURN {
            match self.machine.poll_output() {
                Output::Transmit(t) => self.adapter.transmit(io, &mut self.machine, t, now),
                Output::Event(e) => {
                    if (self.on_event)(&mut self.machine, &mut self.adapter, io, e, now)
                        == Flow::Stop
                    {
                        self.finished = true;
                        return None;
                    }
                }
                Output::Timeout(t) if t <= now => {
                    timeouts_fed += 1;
                    if timeouts_fed > 8 {
                        // A deadline in the past that a timeout does not move: come back
                        // a little later rather than spin.
                        tracing::debug!("a machine keeps a past deadline {t:?} at {now:?}");
                        return Some(now + Duration::from_millis(1));
                    }
                    self.machine.handle_input(Input::Timeout(now));
                }
                Output::Timeout(t) => {
                    return earliest(phone_sansio::deadline(t), self.adapter.deadline());
                }
            }
        }
        tracing::warn!("a machine gave {OUTPUTS_PER_TURN} outputs in one turn; moving on");
        Some(now)
    }

    fn offer(&mut self, io: &mut Reactor, fact: &Fact<'_>, now: Instant) -> bool {
        !self.finished && self.adapter.fact(io, &mut self.machine, fact, now)
    }

    fn finished(&self) -> bool {
        self.finished
    }
}

/// How the loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// Every task finished.
    Finished,
    /// A signal no task took (SIGINT, SIGTERM).
    Signal(i32),
}

/// The loop: a [`Reactor`] driving [`Task`]s.
#[derive(Debug)]
pub struct Driver {
    /// The reactor (open sockets on it before running, from adapters' constructors).
    pub io: Reactor,
}

impl Driver {
    /// A driver whose clock starts now.
    ///
    /// # Errors
    /// `epoll_create` failed.
    pub fn new() -> io::Result<Driver> {
        Ok(Driver {
            io: Reactor::new(Clock::new())?,
        })
    }

    /// Runs `tasks` until all are finished or a signal no task takes arrives.
    ///
    /// # Errors
    /// The poll itself failed.
    pub fn run(&mut self, tasks: &mut [&mut dyn Task]) -> io::Result<Ended> {
        let mut buf = vec![0u8; READ_BUFFER];
        loop {
            let now = self.io.now();
            let mut deadline: Option<Instant> = None;
            for t in tasks.iter_mut().filter(|t| !t.finished()) {
                if let Some(d) = t.turn(&mut self.io, now) {
                    deadline = Some(deadline.map_or(d, |x| x.min(d)));
                }
            }
            if tasks.iter().all(|t| t.finished()) {
                return Ok(Ended::Finished);
            }
            self.io.wait(deadline)?;
            let now = self.io.now();
            for _ in 0..FACTS_PER_TURN {
                let Some(fact) = self.io.next_fact(&mut buf) else {
                    break;
                };
                let mut taken = false;
                for t in tasks.iter_mut() {
                    if t.offer(&mut self.io, &fact, now) {
                        taken = true;
                        break;
                    }
                }
                if !taken {
                    match fact {
                        Fact::Signal(s) => return Ok(Ended::Signal(s)),
                        other => tracing::trace!("fact for no task: {other:?}"),
                    }
                }
            }
        }
    }
}

// --- components adapters are built from -------------------------------------------------------

/// A UDP socket of one machine (DHCP on port 68, SIP over UDP).
#[derive(Debug)]
pub struct UdpPort {
    handle: Handle,
}

impl UdpPort {
    /// Binds `local` with `options`.
    ///
    /// # Errors
    /// As [`Reactor::udp`].
    pub fn open(
        io: &mut Reactor,
        local: SocketAddr,
        options: &SocketOptions,
    ) -> io::Result<UdpPort> {
        Ok(UdpPort {
            handle: io.udp(local, options)?,
        })
    }

    /// Sends a datagram.
    ///
    /// # Errors
    /// As [`Reactor::send_to`].
    pub fn send(&self, io: &mut Reactor, to: SocketAddr, bytes: &[u8]) -> io::Result<()> {
        io.send_to(self.handle, to, bytes)
    }

    /// The local address (the port the machine advertises, e.g. SIP's Via).
    ///
    /// # Errors
    /// As [`Reactor::local_addr`].
    pub fn local_addr(&self, io: &Reactor) -> io::Result<SocketAddr> {
        io.local_addr(self.handle)
    }

    /// A datagram for this port: (sender, payload).
    #[must_use]
    pub fn fact<'a>(&self, fact: &Fact<'a>) -> Option<(SocketAddr, &'a [u8])> {
        match *fact {
            Fact::Datagram {
                handle,
                from,
                bytes,
            } if handle == self.handle => Some((from, bytes)),
            _ => None,
        }
    }

    /// Closes the socket (e.g. before reopening it on a VLAN interface).
    pub fn close(self, io: &mut Reactor) {
        io.close(self.handle);
    }
}

/// A raw link-layer socket of one machine (ARP for the DHCP client's address checks; LLDP
/// and EAPOL later).
#[derive(Debug)]
pub struct LinkPort {
    handle: Handle,
}

impl LinkPort {
    /// Opens the socket for `ethertype` on `iface` and registers it.
    ///
    /// # Errors
    /// As [`PacketSocket::open`].
    pub fn open(io: &mut Reactor, iface: &Iface, ethertype: u16) -> io::Result<LinkPort> {
        let s = PacketSocket::open(iface, ethertype)?;
        Ok(LinkPort {
            handle: io.packet(s)?,
        })
    }

    /// Broadcasts a payload (an ARP probe or announcement).
    ///
    /// # Errors
    /// As [`Reactor::send_frame`].
    pub fn broadcast(&self, io: &mut Reactor, payload: &[u8]) -> io::Result<()> {
        io.send_frame(self.handle, payload, crate::arp::BROADCAST)
    }

    /// A frame for this port.
    #[must_use]
    pub fn fact<'a>(&self, fact: &Fact<'a>) -> Option<&'a [u8]> {
        match *fact {
            Fact::Frame { handle, bytes } if handle == self.handle => Some(bytes),
            _ => None,
        }
    }

    /// Closes the socket.
    pub fn close(self, io: &mut Reactor) {
        io.close(self.handle);
    }
}

/// Stream connections (TCP, TLS) keyed by the machine's peer: phone-http's `ConnId`, SIP's
/// controller index.
#[derive(Debug)]
pub struct StreamConns<P> {
    by_peer: HashMap<P, Handle>,
    by_handle: HashMap<Handle, (P, String)>,
}

impl<P> Default for StreamConns<P> {
    fn default() -> Self {
        StreamConns {
            by_peer: HashMap::new(),
            by_handle: HashMap::new(),
        }
    }
}

impl<P: Copy + Eq + Hash + std::fmt::Debug> StreamConns<P> {
    /// No connections.
    #[must_use]
    pub fn new() -> Self {
        StreamConns::default()
    }

    /// Opens a connection for `peer` to `to` (closing the peer's previous one), with TLS from
    /// the start when `tls` is given. `label` names it in logs (`host:port`).
    ///
    /// # Errors
    /// The connect or the TLS set-up failed at once.
    pub fn connect(
        &mut self,
        io: &mut Reactor,
        peer: P,
        to: SocketAddr,
        options: &SocketOptions,
        tls: Option<(Arc<ClientConfig>, ServerName<'static>)>,
        label: String,
    ) -> io::Result<()> {
        self.close(io, peer);
        let h = io.connect(to, options)?;
        if let Some((config, name)) = tls
            && let Err(e) = io.start_tls(h, config, name)
        {
            io.close(h);
            return Err(e);
        }
        self.by_peer.insert(peer, h);
        self.by_handle.insert(h, (peer, label));
        Ok(())
    }

    /// Starts TLS on `peer`'s open connection.
    ///
    /// # Errors
    /// No connection, or TLS could not start (the connection is then closed).
    pub fn start_tls(
        &mut self,
        io: &mut Reactor,
        peer: P,
        config: Arc<ClientConfig>,
        name: ServerName<'static>,
    ) -> io::Result<()> {
        let h = self.handle(peer)?;
        io.start_tls(h, config, name)
            .inspect_err(|_| self.close(io, peer))
    }

    /// Sends on `peer`'s connection (queued until it is up).
    ///
    /// # Errors
    /// No connection, or the send failed (the connection is then closed).
    pub fn send(&mut self, io: &mut Reactor, peer: P, bytes: &[u8]) -> io::Result<()> {
        let h = self.handle(peer)?;
        io.send(h, bytes).inspect_err(|_| self.forget(h))
    }

    /// Closes `peer`'s connection, if any.
    pub fn close(&mut self, io: &mut Reactor, peer: P) {
        if let Some(h) = self.by_peer.remove(&peer) {
            self.by_handle.remove(&h);
            io.close(h);
        }
    }

    /// True while `peer` has a connection (connecting or up).
    #[must_use]
    pub fn is_open(&self, peer: P) -> bool {
        self.by_peer.contains_key(&peer)
    }

    fn handle(&self, peer: P) -> io::Result<Handle> {
        self.by_peer
            .get(&peer)
            .copied()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "no connection"))
    }

    fn forget(&mut self, h: Handle) {
        if let Some((p, _)) = self.by_handle.remove(&h) {
            self.by_peer.remove(&p);
        }
    }

    /// The fact about one of these connections, as the peer's transport fact. Failures are
    /// logged with their cause (a refused certificate, a refused connect).
    pub fn fact<'a>(&mut self, fact: &Fact<'a>) -> Option<PeerFact<'a, P>> {
        let (h, pf): (Handle, fn(P) -> PeerFact<'a, P>) = match fact {
            Fact::Connected(h) => (*h, PeerFact::Completed),
            Fact::Received { handle, bytes } => {
                let (p, _) = self.by_handle.get(handle)?;
                return Some(PeerFact::Receive(*p, bytes));
            }
            Fact::Closed(h) => (*h, PeerFact::Closed),
            Fact::Failed { handle, error } => {
                let (_, label) = self.by_handle.get(handle)?;
                tracing::info!("{label}: {error}");
                (*handle, PeerFact::TransportFailed)
            }
            _ => return None,
        };
        let (p, _) = self.by_handle.get(&h)?;
        let p = *p;
        if matches!(fact, Fact::Closed(_) | Fact::Failed { .. }) {
            self.forget(h);
        }
        Some(pf(p))
    }
}

/// The adapter of phone-http's connection model: `Connect { host, port, tls }`,
/// `StartTls(tls)` (after a proxy's CONNECT), `Send`, `Close`, per [`phone_http::ConnId`];
/// facts come back as `Receive`/`Completed`/`Closed`/`TransportFailed` for that conn. The
/// proxy decision is the machine's (phone-http `proxy::route`); this only carries it out.
#[derive(Debug)]
pub struct HttpAdapter {
    conns: StreamConns<phone_http::ConnId>,
    tls: TlsPolicy,
    options: SocketOptions,
}

impl HttpAdapter {
    /// Connections with `tls` (trust, TLSSRVRID) and socket `options` (the interface).
    #[must_use]
    pub fn new(tls: TlsPolicy, options: SocketOptions) -> HttpAdapter {
        HttpAdapter {
            conns: StreamConns::new(),
            tls,
            options,
        }
    }

    /// New trust (TRUSTCERTS downloaded, a SCEP CA): for the connections opened from now on.
    pub fn set_tls(&mut self, tls: TlsPolicy) {
        self.tls = tls;
    }

    /// Carries out one phone-http transmit; `Some` is a failure known at once, to feed back.
    pub fn carry_out(
        &mut self,
        io: &mut Reactor,
        t: phone_http::Transmit,
    ) -> Option<PeerFact<'static, phone_http::ConnId>> {
        use phone_http::Action;
        let conn = t.conn;
        let result = match t.action {
            Action::Connect { host, port, tls } => (|| {
                let to = resolve(&host, port).map_err(io::Error::other)?;
                let tls = match tls {
                    Some(tls) => Some((
                        self.tls.config(tls.check_identity),
                        server_name(&tls.server_name).map_err(io::Error::other)?,
                    )),
                    None => None,
                };
                tracing::debug!("HTTP conn {conn}: connect {host}:{port}");
                self.conns
                    .connect(io, conn, to, &self.options, tls, format!("{host}:{port}"))
            })(),
            Action::StartTls(tls) => server_name(&tls.server_name)
                .map_err(io::Error::other)
                .and_then(|name| {
                    self.conns
                        .start_tls(io, conn, self.tls.config(tls.check_identity), name)
                }),
            Action::Send(bytes) => self.conns.send(io, conn, &bytes),
            Action::Close => {
                self.conns.close(io, conn);
                Ok(())
            }
        };
        match result {
            Ok(()) => None,
            Err(e) => {
                tracing::info!("HTTP conn {conn}: {e}");
                self.conns.close(io, conn);
                Some(PeerFact::TransportFailed(conn))
            }
        }
    }

    /// The fact about one of these connections.
    pub fn fact<'a>(&mut self, fact: &Fact<'a>) -> Option<PeerFact<'a, phone_http::ConnId>> {
        self.conns.fact(fact)
    }
}

impl<M> Adapter<M> for HttpAdapter
where
    M: Machine<Peer = phone_http::ConnId, Transmit = phone_http::Transmit>,
{
    fn transmit(
        &mut self,
        io: &mut Reactor,
        machine: &mut M,
        t: phone_http::Transmit,
        now: Instant,
    ) {
        let f = self.carry_out(io, t);
        feed(machine, f, now);
    }

    fn fact(&mut self, _io: &mut Reactor, machine: &mut M, fact: &Fact<'_>, now: Instant) -> bool {
        let f = self.conns.fact(fact);
        feed(machine, f, now)
    }
}

/// How a SIP controller is reached (SIP_CONTROLLER_LIST's `transport=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SipTransport {
    /// Datagrams on the shared UDP socket.
    Udp,
    /// A TCP connection per controller.
    Tcp,
    /// A TLS connection per controller, presenting the SCEP identity when the policy has it.
    Tls,
}

/// The transports of the SIP client, keyed by controller index: one UDP socket shared by every
/// UDP controller (answers are matched by the address requests went to), one TCP or TLS
/// connection per stream controller, opened on the first send and again after it broke or
/// the controller's address changed. Bytes come back as `Receive(controller, ..)`, a broken
/// stream as `TransportFailed(controller)`.
#[derive(Debug)]
pub struct SipPorts {
    udp: UdpPort,
    udp_peers: HashMap<SocketAddr, usize>,
    conns: StreamConns<usize>,
    targets: HashMap<usize, (SocketAddr, SipTransport)>,
    tls: TlsPolicy,
    options: SocketOptions,
    /// The name TLS verifies for a controller given by address after a DNS lookup.
    tls_names: HashMap<usize, String>,
}

impl SipPorts {
    /// Binds the UDP socket at `local` (its port is the Via/Contact port).
    ///
    /// # Errors
    /// As [`Reactor::udp`].
    pub fn open(
        io: &mut Reactor,
        local: SocketAddr,
        options: SocketOptions,
        tls: TlsPolicy,
    ) -> io::Result<SipPorts> {
        Ok(SipPorts {
            udp: UdpPort::open(io, local, &options)?,
            udp_peers: HashMap::new(),
            conns: StreamConns::new(),
            targets: HashMap::new(),
            tls,
            options,
            tls_names: HashMap::new(),
        })
    }

    /// The UDP socket's local address.
    ///
    /// # Errors
    /// As [`Reactor::local_addr`].
    pub fn local_addr(&self, io: &Reactor) -> io::Result<SocketAddr> {
        self.udp.local_addr(io)
    }

    /// New trust or a new client identity (a SCEP certificate): for connections opened from
    /// now on.
    pub fn set_tls(&mut self, tls: TlsPolicy) {
        self.tls = tls;
    }

    /// TLS to `controller` verifies `name` rather than its address (a controller expanded
    /// from a DNS name, spec/link.md §3); `None`: its address.
    pub fn set_tls_name(&mut self, controller: usize, name: Option<&str>) {
        match name {
            Some(n) => self.tls_names.insert(controller, n.to_string()),
            None => self.tls_names.remove(&controller),
        };
    }

    /// Sends `payload` to `controller` at `host:port`; `Some` is a failure known at once.
    pub fn send(
        &mut self,
        io: &mut Reactor,
        controller: usize,
        host: &str,
        port: u16,
        transport: SipTransport,
        payload: &[u8],
    ) -> Option<PeerFact<'static, usize>> {
        let result = (|| {
            let to = resolve(host, port).map_err(io::Error::other)?;
            if transport == SipTransport::Udp {
                self.udp_peers.insert(to, controller);
                return self.udp.send(io, to, payload);
            }
            let same = self.targets.get(&controller) == Some(&(to, transport));
            if !same || !self.conns.is_open(controller) {
                let tls = match transport {
                    SipTransport::Tls => Some((
                        self.tls.config(true),
                        server_name(self.tls_names.get(&controller).map_or(host, String::as_str))
                            .map_err(io::Error::other)?,
                    )),
                    _ => None,
                };
                self.targets.insert(controller, (to, transport));
                self.conns.connect(
                    io,
                    controller,
                    to,
                    &self.options,
                    tls,
                    format!("SIP {host}:{port}"),
                )?;
            }
            self.conns.send(io, controller, payload)
        })();
        match result {
            Ok(()) => None,
            Err(e) => {
                tracing::debug!("SIP send to {host}:{port}: {e}");
                self.conns.close(io, controller);
                Some(PeerFact::TransportFailed(controller))
            }
        }
    }

    /// Drops `controller`'s connection (the machine gave the controller up).
    pub fn close(&mut self, io: &mut Reactor, controller: usize) {
        self.conns.close(io, controller);
    }

    /// The fact about the SIP transports: `None` when it is not about them, `Some(None)` for
    /// a datagram from an address no controller has (taken, and dropped).
    pub fn fact<'a>(&mut self, fact: &Fact<'a>) -> Option<Option<PeerFact<'a, usize>>> {
        if let Some((from, bytes)) = self.udp.fact(fact) {
            let c = self.udp_peers.get(&from).copied();
            if c.is_none() {
                tracing::debug!("SIP datagram from {from}, no controller there: dropped");
            }
            return Some(c.map(|c| PeerFact::Receive(c, bytes)));
        }
        self.conns.fact(fact).map(Some)
    }
}

/// The flash of one machine: carries out `FlashOp`s on the state directory's slot files. With
/// an emulated slow flash ([`Flash::pace`]), a write is reported done after that long by a
/// reactor timer, never by sleeping.
#[derive(Debug)]
pub struct FlashPort {
    flash: Flash,
    /// The write being "slowly" done: its timer and its result.
    pending: Option<(Handle, io::Result<()>)>,
}

/// A finished flash operation: `Ok` → `Completed`, `Err` → `TransportFailed`.
#[derive(Debug)]
pub struct FlashDone {
    /// What happened; a committed record (FlashOp::Commit) comes with it.
    pub result: io::Result<Option<phone_boot::boot::record::Record>>,
}

impl FlashPort {
    /// The flash of a state directory.
    #[must_use]
    pub fn new(flash: Flash) -> FlashPort {
        FlashPort {
            flash,
            pending: None,
        }
    }

    /// Carries out `op`; `Some` when it is done now, `None` when its completion comes as a
    /// timer fact (see [`FlashPort::fact`]).
    pub fn apply(
        &mut self,
        io: &mut Reactor,
        op: &phone_boot::flash::FlashOp,
        record: &phone_boot::boot::record::Record,
    ) -> Option<FlashDone> {
        let result = self.flash.apply(op, record);
        let pace = self.flash.pace();
        if pace.is_zero() || !matches!(op, phone_boot::flash::FlashOp::Write { .. }) {
            return Some(FlashDone { result });
        }
        let timer = io.timer(io.now() + pace);
        if let Some((old, _)) = self.pending.replace((timer, result.map(|_| ()))) {
            io.close(old);
        }
        None
    }

    /// The completion of a paced write.
    pub fn fact(&mut self, fact: &Fact<'_>) -> Option<FlashDone> {
        match fact {
            Fact::Timer(h) if self.pending.as_ref().is_some_and(|(p, _)| p == h) => {
                let (_, r) = self.pending.take()?;
                Some(FlashDone {
                    result: r.map(|()| None),
                })
            }
            _ => None,
        }
    }
}

pub mod lldp;

pub mod eapol;

pub mod dns;

#[cfg(test)]
mod tests;
