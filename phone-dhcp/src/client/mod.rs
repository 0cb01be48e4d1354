//! The DHCP client state machine (RFC 2131 §4.4, figure 5) with RFC 5227 conflict detection,
//! Sans-IO, speaking the shared contract ([`phone_sansio::Machine`]).
//!
//! The caller feeds [`Input`]s — `Receive(now, Link::Udp, datagram)` for UDP port 68,
//! `Receive(now, Link::Arp, body)` for every ARP packet on the interface, `TransportFailed(now,
//! link)` when the last transmit taken on that link could not be sent, `Command(now, ..)` for a
//! release or new VLAN values, `Timeout(now)` — and drains [`Output`]s until
//! [`Output::Timeout`]. A timeout delivered early is a no-op.
//!
//! **Commit on take.** Nothing counts until the caller takes a transmit from
//! [`Client::poll_output`]: the xid of a new exchange is drawn, the `secs` clock starts, the
//! retransmission count moves and the back-off timer is armed at that moment. A caller that
//! polls nothing moves nothing.
//!
//! **A failed send** (`TransportFailed(now, Link::Udp)` after a datagram was taken) never
//! reached the wire, so RFC 2131 §4.1's back-off, which counts transmissions, does not count it:
//! the retry goes out [`SEND_RETRY`] later as the same transmission — the same xid (the same
//! transaction), the same retransmission number (so the next wait and the REQUESTING and
//! REBOOTING give-up bounds count only datagrams that left), and `secs` still counted from the
//! start of the exchange (RFC 2131 table 1: since the client began acquisition or renewal); the
//! back-off timer is re-armed when the retry is taken. A failed DHCPDECLINE or DHCPRELEASE is
//! sent again, [`ONE_SHOT_TRIES`] times at most. A report that does not match the last take (the
//! machine moved on since) is ignored. `TransportFailed(now, Link::Arp)` does the same for the
//! RFC 5227 probes and announcements (see [`crate::acd`]).

mod address;
mod config;
mod event;
mod receive;
mod transmit;

use alloc::collections::VecDeque;
use alloc::vec;
use alloc::vec::Vec;
use core::net::Ipv4Addr;
use core::time::Duration;

use phone_sansio::{Instant, Machine};
use rand_core::Rng;

pub use config::{Config, DEFAULT_REUSE_TIME, L2q, Vlan, default_parameter_request_list};
pub use event::{AddressClass, Event, LostReason, Refusal, Reuse, State};

pub use crate::acd::{
    ANNOUNCE_INTERVAL, ANNOUNCE_NUM, ANNOUNCE_WAIT, DEFEND_INTERVAL, MAX_CONFLICTS, PROBE_MAX,
    PROBE_MIN, PROBE_NUM, PROBE_WAIT, RATE_LIMIT_INTERVAL,
};
pub use crate::arp::{ArpKind, ArpPacket};

use crate::acd::{Acd, AcdConfig, AcdEvent, rand_between};
use crate::arp::ArpMessage;
use crate::lease::{AckFields, INFINITE, Lease, MIN_LEASE_SECS, PreviousLease, Timers};
use crate::message::{BOOTREPLY, BOOTREQUEST, FLAG_BROADCAST, Message};
use crate::options::{DhcpOption, MessageType};

/// First retransmission delay (RFC 2131 §4.1).
pub const RETRANSMIT_INITIAL: Duration = Duration::from_secs(4);
/// Longest retransmission delay (RFC 2131 §4.1).
pub const RETRANSMIT_MAX: Duration = Duration::from_secs(64);
/// Random spread of every retransmission delay, either way (RFC 2131 §4.1: "±1 second").
pub const RETRANSMIT_JITTER: Duration = Duration::from_secs(1);
/// Shortest wait between retransmissions in RENEWING and REBINDING (RFC 2131 §4.4.5).
pub const RENEW_RETRANSMIT_MIN: Duration = Duration::from_secs(60);
/// Wait after a DHCPDECLINE before starting again (RFC 2131 §3.1.5: at least 10 s).
pub const DECLINE_WAIT: Duration = Duration::from_secs(10);
/// Extended rebinding: ARP check of the own address every 5 s (spec dhcp.md §7).
pub const EXTENDED_ARP_INTERVAL: Duration = Duration::from_secs(5);
/// A datagram that could not be sent is tried again this much later (not counted as a
/// retransmission).
pub const SEND_RETRY: Duration = Duration::from_secs(1);
/// How many times a DHCPDECLINE or DHCPRELEASE is handed out when sends fail.
pub const ONE_SHOT_TRIES: u8 = 3;
/// Router check: wait for an ARP reply from one router before asking the next.
pub const ROUTER_ARP_WAIT: Duration = Duration::from_secs(1);
/// Router check: the wait after a silent round grows from 4 s up to this.
pub const ROUTER_ROUND_MAX: Duration = Duration::from_secs(64);
/// Router check: at most this many routers of option 3 are asked.
pub const MAX_ROUTERS_CHECKED: usize = 16;
/// Size of the transmit buffer; the client's own messages stay far below it.
pub const TX_BUFFER: usize = 1500;

/// The link a transport fact is about: the `Peer` of the client's contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Link {
    /// The UDP socket on port 68 (DHCP).
    Udp,
    /// The interface's ARP traffic (raw link-layer socket, ethertype 0x0806).
    Arp,
}

/// What the phone tells the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    /// Release the lease (DHCPRELEASE) and stop.
    Release,
    /// New VLAN values learned later (SSON, option 43, settings file, LLDP): a non-zero
    /// L2QVLAN different from the one in use makes the client release and start again there
    /// (spec §6).
    VoiceVlan {
        /// L2Q.
        l2q: L2q,
        /// L2QVLAN.
        l2qvlan: u16,
        /// VLANTEST seconds.
        vlantest: u16,
    },
}

/// What the caller must send now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transmit {
    /// A DHCP datagram from UDP port 68 to port 67 on the current [`Vlan`].
    Udp {
        /// The DHCP message.
        payload: Vec<u8>,
        /// 255.255.255.255 or the server's address (RENEWING, DHCPRELEASE).
        destination: Ipv4Addr,
        /// 0.0.0.0 while the phone has no address, else the leased address.
        source: Ipv4Addr,
    },
    /// An ARP packet: the caller adds the Ethernet header (broadcast destination, the phone's
    /// MAC as source, ethertype 0x0806) to [`ArpPacket::to_bytes`] and sends it on the current
    /// [`Vlan`].
    Arp(ArpPacket),
}

/// The client's inputs: [`phone_sansio::Input`] with [`Link`] peers and [`Command`]s.
pub type Input<'a> = phone_sansio::Input<'a, Link, Command>;
/// The client's outputs.
pub type Output = phone_sansio::Output<Transmit, Event>;

#[derive(Clone, Debug, PartialEq, Eq)]
struct Offered {
    address: Ipv4Addr,
    server_id: Ipv4Addr,
    lease_time: u32,
}

/// The RFC 2131 state. `sent` counts the datagrams of the exchange the caller took (and did
/// not report failed); `next` is when the next one is due.
#[derive(Clone, Debug, PartialEq, Eq)]
enum St {
    Init {
        at: Instant,
    },
    Selecting {
        next: Instant,
        sent: u32,
    },
    Requesting {
        offer: Offered,
        next: Instant,
        sent: u32,
    },
    InitReboot {
        at: Instant,
        address: Ipv4Addr,
    },
    Rebooting {
        address: Ipv4Addr,
        next: Instant,
        sent: u32,
    },
    /// The conflict detector decides when this ends.
    Probing {
        lease: Lease,
        renewal: bool,
        reuse: Option<Reuse>,
    },
    Bound {
        lease: Lease,
    },
    Renewing {
        lease: Lease,
        next: Instant,
    },
    Rebinding {
        lease: Lease,
        next: Instant,
    },
    Extended {
        lease: Lease,
        next_request: Instant,
        sent: u32,
    },
    Released,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Queued {
    Event(Event),
    Decline {
        address: Ipv4Addr,
        server: Ipv4Addr,
        tries: u8,
    },
    Release {
        address: Ipv4Addr,
        server: Ipv4Addr,
        tries: u8,
    },
}

/// The last datagram the caller took, for a `TransportFailed(Link::Udp)`.
#[derive(Clone, Debug)]
enum LastUdp {
    /// A message of the exchange; the state right after the take.
    Exchange(alloc::boxed::Box<St>),
    /// A DHCPDECLINE or DHCPRELEASE.
    OneShot(Queued),
}

/// Who sent the last ARP packet the caller took.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ArpFrom {
    Acd,
    /// Extended-rebinding checks and router requests: periodic, not retried on failure.
    Periodic,
}

/// The router check (spec §8): ARP the routers in order until one answers.
#[derive(Clone, Debug)]
struct RouterCheck {
    routers: Vec<Ipv4Addr>,
    index: usize,
    round: u32,
    next: Instant,
}

#[derive(Clone, Copy, Debug)]
enum Step {
    Sent {
        len: usize,
        destination: Ipv4Addr,
        source: Ipv4Addr,
    },
    Changed,
    Idle,
}

/// What a DHCP message to build looks like.
struct Outgoing {
    kind: MessageType,
    ciaddr: Ipv4Addr,
    requested: Option<Ipv4Addr>,
    server: Option<Ipv4Addr>,
    broadcast: bool,
}

/// The DHCP client of one interface.
///
/// ```
/// use phone_dhcp::client::{Client, Config, Event, Output, Transmit, Vlan};
/// use phone_sansio::Instant;
/// # use rand_core::SeedableRng;
///
/// let rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
/// let mut client = Client::new(Config::for_mac([0, 4, 0x0d, 1, 2, 3]), None, rng, Instant::ZERO);
/// assert_eq!(client.poll_output(), Output::Event(Event::Vlan(Vlan::Untagged)));
/// let Output::Transmit(Transmit::Udp { payload, .. }) = client.poll_output() else { panic!() };
/// let discover = phone_dhcp::Message::decode(&payload)?;
/// assert_eq!(discover.message_type(), Some(phone_dhcp::MessageType::Discover));
/// assert!(matches!(client.poll_output(), Output::Timeout(_)));
/// # Ok::<(), phone_dhcp::DecodeError>(())
/// ```
#[derive(Debug)]
pub struct Client<R> {
    config: Config,
    rng: R,
    now: Instant,
    st: St,
    queue: VecDeque<Queued>,
    xid: u32,
    /// The next datagram taken starts a new exchange: draw its xid.
    new_xid: bool,
    /// ... and restart the `secs` clock.
    new_clock: bool,
    started: Instant,
    request_sent_at: Instant,
    naks: u32,
    conflicts: u32,
    vlan: Vlan,
    l2q: L2q,
    vlan_deadline: Option<Instant>,
    failed_vlans: Vec<u16>,
    previous: Option<PreviousLease>,
    reuse_at: Option<Instant>,
    acd: Option<Acd>,
    extended_arp_at: Option<Instant>,
    router: Option<RouterCheck>,
    router_in_use: Option<Ipv4Addr>,
    last_udp: Option<LastUdp>,
    last_arp: Option<ArpFrom>,
    tx: Vec<u8>,
}

/// `Some(refusal)` when `a` is not a unicast host address.
fn bad_address(a: Ipv4Addr) -> Option<Refusal> {
    AddressClass::of(a).map(|class| Refusal::BadAddress { address: a, class })
}

fn usable(a: Ipv4Addr) -> bool {
    AddressClass::of(a).is_none()
}

impl<R: Rng> Client<R> {
    /// A client starting now: in INIT-REBOOT asking for `previous`'s address if given (and a
    /// unicast host address), else in INIT; tagged on L2QVLAN if L2Q ≠ 2 and L2QVLAN ≠ 0 (spec
    /// §6).
    pub fn new(config: Config, previous: Option<PreviousLease>, rng: R, now: Instant) -> Client<R> {
        let previous = previous.filter(|p| usable(p.address));
        let st = match &previous {
            Some(p) => St::InitReboot {
                at: now,
                address: p.address,
            },
            None => St::Init { at: now },
        };
        let mut c = Client {
            l2q: config.l2q,
            config,
            rng,
            now,
            st,
            queue: VecDeque::new(),
            xid: 0,
            new_xid: true,
            new_clock: true,
            started: now,
            request_sent_at: now,
            naks: 0,
            conflicts: 0,
            vlan: Vlan::Untagged,
            vlan_deadline: None,
            failed_vlans: Vec::new(),
            previous,
            reuse_at: None,
            acd: None,
            extended_arp_at: None,
            router: None,
            router_in_use: None,
            last_udp: None,
            last_arp: None,
            tx: vec![0; TX_BUFFER],
        };
        let (vid, test) = (c.config.l2qvlan, c.config.vlantest);
        if c.l2q != L2q::Off && vid != 0 && vid <= 4094 {
            c.start_vlan(vid, test);
        } else {
            c.queue
                .push_back(Queued::Event(Event::Vlan(Vlan::Untagged)));
            c.arm_reuse();
        }
        c
    }

    /// The current state.
    #[must_use]
    pub fn state(&self) -> State {
        match self.st {
            St::Init { .. } => State::Init,
            St::Selecting { .. } => State::Selecting,
            St::Requesting { .. } => State::Requesting,
            St::InitReboot { .. } => State::InitReboot,
            St::Rebooting { .. } => State::Rebooting,
            St::Probing { .. } => State::Probing,
            St::Bound { .. } => State::Bound,
            St::Renewing { .. } => State::Renewing,
            St::Rebinding { .. } => State::Rebinding,
            St::Extended { .. } => State::ExtendedRebinding,
            St::Released => State::Released,
        }
    }

    /// The lease in use (BOUND, RENEWING, REBINDING, extended rebinding), if any. A reused
    /// address has a lease too; its `server_id` is 0.0.0.0 when the server is unknown.
    #[must_use]
    pub fn lease(&self) -> Option<&Lease> {
        match &self.st {
            St::Bound { lease }
            | St::Renewing { lease, .. }
            | St::Rebinding { lease, .. }
            | St::Extended { lease, .. } => Some(lease),
            _ => None,
        }
    }

    /// The VLAN DHCP and ARP run on now.
    #[must_use]
    pub fn vlan(&self) -> Vlan {
        self.vlan
    }

    /// ROUTERINUSE: the router that answered the router check, once one has (spec §8).
    #[must_use]
    pub fn router_in_use(&self) -> Option<Ipv4Addr> {
        self.router_in_use
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Feeds one input.
    pub fn handle_input(&mut self, input: Input<'_>) {
        // The clock never runs backwards for the machine.
        self.now = self.now.max(input.now());
        let now = self.now;
        if let Some(acd) = self.acd.as_mut() {
            acd.handle_input(phone_sansio::Input::Timeout(now));
        }
        match input {
            Input::Timeout(_) | Input::Completed(..) | Input::Closed(..) => {}
            Input::Receive(_, Link::Udp, bytes) => self.receive(bytes),
            Input::Receive(_, Link::Arp, bytes) => self.arp(bytes),
            Input::TransportFailed(_, Link::Udp) => self.udp_failed(),
            Input::TransportFailed(_, Link::Arp) => self.arp_failed(),
            Input::Command(_, Command::Release) => self.release(),
            Input::Command(
                _,
                Command::VoiceVlan {
                    l2q,
                    l2qvlan,
                    vlantest,
                },
            ) => self.voice_vlan(l2q, l2qvlan, vlantest),
        }
    }

    /// The next thing to do. Call until it returns [`Output::Timeout`]. A transmit returned
    /// here is taken: the counters and timers move now.
    pub fn poll_output(&mut self) -> Output {
        // Each pass either hands something out or changes state towards a transmit or an
        // event; a handful of passes always suffices.
        for _ in 0..64 {
            if let Some(q) = self.queue.pop_front() {
                if let Queued::Event(e) = q {
                    return Output::Event(e);
                }
                if let Some(t) = self.send_one_shot(q) {
                    self.last_udp = Some(LastUdp::OneShot(q));
                    return Output::Transmit(t);
                }
                continue;
            }
            if let Some(acd) = self.acd.as_mut() {
                match acd.poll_output() {
                    phone_sansio::Output::Transmit(p) => {
                        self.last_arp = Some(ArpFrom::Acd);
                        return Output::Transmit(Transmit::Arp(p));
                    }
                    phone_sansio::Output::Event(e) => {
                        self.on_acd_event(e);
                        continue;
                    }
                    phone_sansio::Output::Timeout(_) => {}
                }
            }
            let now = self.now;
            if self.vlan_deadline.is_some_and(|d| d <= now) {
                self.vlan_test_expired();
                continue;
            }
            if self.reuse_at.is_some_and(|d| d <= now) {
                self.reuse_time_expired();
                continue;
            }
            match self.step() {
                Step::Sent {
                    len,
                    destination,
                    source,
                } => {
                    self.last_udp =
                        Some(LastUdp::Exchange(alloc::boxed::Box::new(self.st.clone())));
                    return Output::Transmit(Transmit::Udp {
                        payload: self.tx[..len].to_vec(),
                        destination,
                        source,
                    });
                }
                Step::Changed => continue,
                Step::Idle => {}
            }
            if let Some(p) = self.periodic_arp() {
                self.last_arp = Some(ArpFrom::Periodic);
                return Output::Transmit(Transmit::Arp(p));
            }
            break;
        }
        Output::Timeout(self.deadline())
    }

    /// The next deadline, without side effects; `None` when only an input can wake the
    /// client. Outputs not yet polled count as due now.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.queue.is_empty() {
            phone_sansio::deadline(self.deadline())
        } else {
            Some(self.now)
        }
    }

    fn deadline(&self) -> Instant {
        let mut d = self.st_deadline();
        for t in [
            self.vlan_deadline,
            self.reuse_at,
            self.extended_arp_at,
            self.router.as_ref().map(|r| r.next),
            self.acd.as_ref().and_then(Machine::poll_timeout),
        ]
        .into_iter()
        .flatten()
        {
            d = d.min(t);
        }
        d
    }

    fn st_deadline(&self) -> Instant {
        match &self.st {
            St::Init { at } | St::InitReboot { at, .. } => *at,
            St::Selecting { next, .. }
            | St::Requesting { next, .. }
            | St::Rebooting { next, .. } => *next,
            St::Probing { .. } | St::Released => Instant::MAX,
            St::Bound { lease } => lease.renew_at(),
            St::Renewing { lease, next } => (*next).min(lease.rebind_at()),
            St::Rebinding { lease, next } => (*next).min(lease.expires_at()),
            St::Extended { next_request, .. } => *next_request,
        }
    }
}

impl<R: Rng> Machine for Client<R> {
    type Peer = Link;
    type Command<'a> = Command;
    type Transmit = Transmit;
    type Event = Event;

    fn handle_input(&mut self, input: Input<'_>) {
        Client::handle_input(self, input);
    }

    fn poll_output(&mut self) -> Output {
        Client::poll_output(self)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        Client::poll_timeout(self)
    }
}
