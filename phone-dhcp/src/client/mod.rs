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

mod config;
mod event;

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

    // ---- randomness -------------------------------------------------------------------------

    /// RFC 2131 §4.1: 4, 8, 16, 32, 64, 64, ... s for retry 0, 1, 2, ..., each ±1 s.
    fn backoff(&mut self, retry: u32) -> Duration {
        let base = RETRANSMIT_INITIAL
            .saturating_mul(1u32 << retry.min(4))
            .min(RETRANSMIT_MAX);
        rand_between(
            &mut self.rng,
            base - RETRANSMIT_JITTER,
            base + RETRANSMIT_JITTER,
        )
    }

    /// The next datagram taken starts a new exchange (a new xid; with `clock`, `secs` counts
    /// from it).
    fn new_exchange(&mut self, clock: bool) {
        self.new_xid = true;
        self.new_clock |= clock;
    }

    // ---- VLAN and REUSETIME -----------------------------------------------------------------

    fn start_vlan(&mut self, vid: u16, vlantest: u16) {
        self.vlan = Vlan::Tagged(vid);
        self.vlan_deadline =
            (vlantest != 0).then(|| self.now + Duration::from_secs(u64::from(vlantest)));
        self.reuse_at = None;
        self.queue.push_back(Queued::Event(Event::Vlan(self.vlan)));
    }

    /// REUSETIME counts while DHCP runs untagged or on VLAN 0 with a previous address.
    fn arm_reuse(&mut self) {
        if self.previous.is_some()
            && !matches!(self.vlan, Vlan::Tagged(_))
            && let Some(after) = self.config.reuse_after()
        {
            self.reuse_at = Some(self.now + after);
        }
    }

    /// VLANTEST ran out before a lease (spec §6): L2Q=1 goes on priority-tagged, L2Q=0
    /// untagged, and the VLAN is not tried again.
    fn vlan_test_expired(&mut self) {
        self.vlan_deadline = None;
        let Vlan::Tagged(vid) = self.vlan else { return };
        self.failed_vlans.push(vid);
        self.vlan = if self.l2q == L2q::On {
            Vlan::PriorityTagged
        } else {
            Vlan::Untagged
        };
        self.queue
            .push_back(Queued::Event(Event::VlanTestExpired(vid)));
        self.queue.push_back(Queued::Event(Event::Vlan(self.vlan)));
        self.new_exchange(true);
        self.st = St::Init { at: self.now };
        self.arm_reuse();
    }

    fn voice_vlan(&mut self, l2q: L2q, vid: u16, vlantest: u16) {
        self.l2q = l2q;
        if l2q == L2q::Off || vid == 0 || vid > 4094 || self.vlan == Vlan::Tagged(vid) {
            return;
        }
        if self.failed_vlans.contains(&vid) || matches!(self.st, St::Released) {
            return;
        }
        // Spec §6: release the address and DISCOVER again on the new VLAN.
        self.give_up_lease(LostReason::VlanChange, true);
        self.start_vlan(vid, vlantest);
        self.naks = 0;
        self.new_exchange(true);
        self.st = St::Init { at: self.now };
    }

    /// REUSETIME ran out without a lease (spec §7): probe the previous address and keep it in
    /// extended rebinding.
    fn reuse_time_expired(&mut self) {
        self.reuse_at = None;
        if !matches!(
            self.st,
            St::Init { .. }
                | St::Selecting { .. }
                | St::Requesting { .. }
                | St::InitReboot { .. }
                | St::Rebooting { .. }
        ) {
            return;
        }
        let Some(p) = self.previous.take() else {
            return;
        };
        let timers = Timers {
            lease: 0,
            t1: Some(0),
            t2: Some(0),
        };
        let lease = Lease::reused(&p, timers, self.now);
        self.queue
            .push_back(Queued::Event(Event::Reusing(p.address, Reuse::ReuseTime)));
        self.st = self.probe(lease, false, Some(Reuse::ReuseTime));
    }

    /// REBOOTING got no answer (RFC 2131 §3.2): keep an unexpired stored lease for the rest of
    /// its time, rebinding meanwhile; else start from INIT.
    fn reboot_silent(&mut self, address: Ipv4Addr) -> St {
        let now = self.now;
        let left = self
            .previous
            .as_ref()
            .filter(|p| p.address == address)
            .and_then(|p| p.expires)
            .map(|e| (e, e.saturating_duration_since(now)));
        let timers = match left {
            Some((e, _)) if e == Instant::MAX => Some(Timers {
                lease: INFINITE,
                t1: None,
                t2: None,
            }),
            Some((_, d)) if d >= Duration::from_secs(u64::from(MIN_LEASE_SECS)) => {
                let secs = u32::try_from(d.as_secs()).unwrap_or(INFINITE - 1);
                Some(Timers {
                    lease: secs.min(INFINITE - 1),
                    t1: Some(0),
                    t2: Some(0),
                })
            }
            _ => None,
        };
        match (timers, self.previous.take()) {
            (Some(timers), Some(p)) => {
                let lease = Lease::reused(&p, timers, now);
                self.queue.push_back(Queued::Event(Event::Reusing(
                    address,
                    Reuse::UnexpiredLease,
                )));
                self.probe(lease, false, Some(Reuse::UnexpiredLease))
            }
            (_, p) => {
                self.previous = p;
                self.new_exchange(true);
                St::Init { at: now }
            }
        }
    }

    // ---- inputs -----------------------------------------------------------------------------

    /// Takes the lease out of the state (if any): queues a DHCPRELEASE first when `release`
    /// (and the server is known), then the deconfigure event if the address was in use. Stops
    /// the conflict detector and the router check.
    fn give_up_lease(&mut self, why: LostReason, release: bool) -> Option<Lease> {
        let st = core::mem::replace(&mut self.st, St::Released);
        let (lease, configured) = match st {
            // A moved address on renewal is probed while the old one is still configured.
            St::Probing { lease, renewal, .. } => (lease, renewal),
            St::Bound { lease }
            | St::Renewing { lease, .. }
            | St::Rebinding { lease, .. }
            | St::Extended { lease, .. } => (lease, true),
            other => {
                self.st = other;
                return None;
            }
        };
        self.acd = None;
        self.extended_arp_at = None;
        self.router = None;
        if release && lease.server_known() {
            self.queue.push_back(Queued::Release {
                address: lease.address,
                server: lease.server_id,
                tries: 0,
            });
        }
        if configured {
            self.queue.push_back(Queued::Event(Event::Deconfigure(why)));
        }
        Some(lease)
    }

    fn release(&mut self) {
        self.give_up_lease(LostReason::Released, true);
        self.vlan_deadline = None;
        self.reuse_at = None;
        self.st = St::Released;
    }

    /// An ARP packet on the interface: the router check's answer, or a conflict for the
    /// conflict detector to judge (RFC 5227 §2.1.1, §2.4).
    fn arp(&mut self, bytes: &[u8]) {
        let Ok(m) = ArpMessage::parse(bytes) else {
            return;
        };
        if m.sender_mac == self.config.mac {
            return;
        }
        if let Some(rc) = &self.router
            && rc.routers.contains(&m.sender_ip)
        {
            self.router = None;
            self.router_in_use = Some(m.sender_ip);
            self.queue
                .push_back(Queued::Event(Event::RouterInUse(m.sender_ip)));
        }
        let now = self.now;
        let Some(acd) = self.acd.as_mut() else { return };
        if matches!(self.st, St::Extended { .. }) {
            // Spec §7: in extended rebinding an ARP reply for the address is a conflict at
            // once, without defending.
            if acd.is_conflict(&m) {
                let address = acd.address();
                self.conflict(address);
            }
            return;
        }
        acd.handle_input(phone_sansio::Input::Receive(now, (), bytes));
    }

    fn on_acd_event(&mut self, e: AcdEvent) {
        match e {
            AcdEvent::Ready(_) => self.acd_ready(),
            AcdEvent::Conflict { address, .. } | AcdEvent::Lost { address, .. } => {
                self.conflict(address);
            }
            AcdEvent::Defended { address, .. } => {
                self.queue
                    .push_back(Queued::Event(Event::Defended(address)));
            }
            AcdEvent::ArpUnavailable(a) => {
                self.queue
                    .push_back(Queued::Event(Event::ArpUnavailable(a)));
            }
        }
    }

    /// The probe passed: the address is in use now.
    fn acd_ready(&mut self) {
        let st = core::mem::replace(&mut self.st, St::Released);
        self.st = match st {
            St::Probing {
                lease,
                reuse: Some(Reuse::ReuseTime),
                ..
            } => {
                self.queue.push_back(Queued::Event(Event::Bound));
                self.start_router_check(&lease);
                self.new_exchange(true);
                self.extended_arp_at = Some(self.now + EXTENDED_ARP_INTERVAL);
                St::Extended {
                    lease,
                    next_request: self.now,
                    sent: 0,
                }
            }
            St::Probing { lease, .. } => {
                self.start_router_check(&lease);
                self.bound(lease, Event::Bound)
            }
            other => other,
        };
    }

    /// An address conflict (RFC 5227 §2.1.1, §2.4; spec §7, §8): DHCPDECLINE (when the server
    /// is known), the conflict event, then INIT after at least 10 s, at least 60 s after
    /// MAX_CONFLICTS.
    fn conflict(&mut self, address: Ipv4Addr) {
        let held = match &self.st {
            St::Probing { lease, .. }
            | St::Bound { lease }
            | St::Renewing { lease, .. }
            | St::Rebinding { lease, .. }
            | St::Extended { lease, .. } => lease.address,
            _ => return,
        };
        if held != address {
            return;
        }
        let Some(lease) = self.give_up_lease(LostReason::Conflict, false) else {
            return;
        };
        if lease.server_known() {
            self.queue.push_back(Queued::Decline {
                address,
                server: lease.server_id,
                tries: 0,
            });
        }
        self.queue
            .push_back(Queued::Event(Event::Conflict(address)));
        self.conflicts = self.conflicts.saturating_add(1);
        let floor = if self.conflicts >= MAX_CONFLICTS {
            RATE_LIMIT_INTERVAL
        } else {
            DECLINE_WAIT
        };
        let wait = rand_between(&mut self.rng, floor, floor + RETRANSMIT_JITTER);
        self.new_exchange(true);
        self.st = St::Init {
            at: self.now + wait,
        };
    }

    /// DHCPNAK: back to INIT at once the first time, with growing back-off when NAKs repeat.
    fn nak(&mut self, server: Option<Ipv4Addr>) {
        if matches!(self.st, St::Rebooting { .. }) {
            // The server says the stored address is wrong here: never reuse it.
            self.previous = None;
            self.reuse_at = None;
        }
        self.give_up_lease(LostReason::Nak, false);
        self.queue.push_back(Queued::Event(Event::Nak(server)));
        self.naks = self.naks.saturating_add(1);
        let wait = if self.naks <= 1 {
            Duration::ZERO
        } else {
            self.backoff(self.naks - 2)
        };
        self.new_exchange(true);
        self.st = St::Init {
            at: self.now + wait,
        };
    }

    /// The caller could not send the last datagram it took: see the module docs.
    fn udp_failed(&mut self) {
        let retry_at = self.now + SEND_RETRY;
        match self.last_udp.take() {
            Some(LastUdp::Exchange(after)) if *after == self.st => match &mut self.st {
                St::Selecting { next, sent }
                | St::Requesting { next, sent, .. }
                | St::Rebooting { next, sent, .. }
                | St::Extended {
                    next_request: next,
                    sent,
                    ..
                } => {
                    *sent = sent.saturating_sub(1);
                    *next = retry_at;
                }
                St::Renewing { next, .. } | St::Rebinding { next, .. } => *next = retry_at,
                _ => {}
            },
            Some(LastUdp::OneShot(
                Queued::Decline { tries, .. } | Queued::Release { tries, .. },
            )) if tries + 1 >= ONE_SHOT_TRIES => {}
            Some(LastUdp::OneShot(q)) => {
                let again = match q {
                    Queued::Decline {
                        address,
                        server,
                        tries,
                    } => Queued::Decline {
                        address,
                        server,
                        tries: tries + 1,
                    },
                    Queued::Release {
                        address,
                        server,
                        tries,
                    } => Queued::Release {
                        address,
                        server,
                        tries: tries + 1,
                    },
                    Queued::Event(_) => return,
                };
                self.queue.push_front(again);
            }
            _ => {}
        }
    }

    fn arp_failed(&mut self) {
        if self.last_arp.take() == Some(ArpFrom::Acd)
            && let Some(acd) = self.acd.as_mut()
        {
            acd.handle_input(phone_sansio::Input::TransportFailed(self.now, ()));
        }
    }

    fn receive(&mut self, bytes: &[u8]) {
        let Ok(m) = Message::decode_with(bytes, self.config.sson) else {
            return;
        };
        if m.op != BOOTREPLY || m.xid != self.xid || m.chaddr[..6] != self.config.mac {
            return;
        }
        let Some(kind) = m.message_type() else { return };
        let server = m.server_identifier();
        if matches!(kind, MessageType::Offer | MessageType::Ack)
            && let Some(s) = server
            && let Some(class) = AddressClass::of(s)
        {
            // RFC 2131 §4.3.1: option 54 is the server's address; renewals go to it.
            if self.expects(kind) {
                self.refuse(s, Refusal::BadServerIdentifier { address: s, class });
            }
            return;
        }
        let fields = AckFields::from_message(&m);
        let acquired = self.request_sent_at;
        let st = core::mem::replace(&mut self.st, St::Released);
        self.st = match (st, kind) {
            (St::Selecting { next, sent }, MessageType::Offer) => {
                match self.check_offer(&m, server) {
                    Some(offer) => St::Requesting {
                        offer,
                        next: self.now,
                        sent: 0,
                    },
                    None => St::Selecting { next, sent },
                }
            }
            (St::Requesting { offer, next, sent }, MessageType::Ack) => {
                if server.is_some_and(|s| s != offer.server_id) {
                    St::Requesting { offer, next, sent }
                } else if let Some(why) = bad_address(fields.address) {
                    self.refuse(offer.server_id, why);
                    St::Requesting { offer, next, sent }
                } else {
                    let lease = Lease::new(fields, offer.server_id, offer.lease_time, acquired);
                    self.acked(lease, false)
                }
            }
            (St::Requesting { offer, next, sent }, MessageType::Nak) => {
                if server.is_some_and(|s| s != offer.server_id) {
                    St::Requesting { offer, next, sent }
                } else {
                    self.st = St::Requesting { offer, next, sent };
                    self.nak(server);
                    return;
                }
            }
            (
                St::Rebooting {
                    address,
                    next,
                    sent,
                },
                MessageType::Ack,
            ) => {
                let server_id = server.or(fields.next_server);
                let refusal = match (server_id, fields.lease_time) {
                    (None, _) => Some(Refusal::NoServerIdentifier),
                    (_, None) => Some(Refusal::NoLeaseTime),
                    _ => bad_address(fields.address),
                };
                match (refusal, server_id, fields.lease_time) {
                    (None, Some(s), Some(l)) => {
                        self.acked(Lease::new(fields, s, l, acquired), false)
                    }
                    (why, sid, _) => {
                        let from = sid.unwrap_or(Ipv4Addr::UNSPECIFIED);
                        self.refuse(from, why.unwrap_or(Refusal::NoServerIdentifier));
                        St::Rebooting {
                            address,
                            next,
                            sent,
                        }
                    }
                }
            }
            (
                st @ (St::Rebooting { .. }
                | St::Renewing { .. }
                | St::Rebinding { .. }
                | St::Extended { .. }),
                MessageType::Nak,
            ) => {
                self.st = st;
                self.nak(server);
                return;
            }
            (
                st @ (St::Renewing { .. } | St::Rebinding { .. } | St::Extended { .. }),
                MessageType::Ack,
            ) => {
                if let Some(why) = bad_address(fields.address) {
                    let from = server.unwrap_or(Ipv4Addr::UNSPECIFIED);
                    self.refuse(from, why);
                    st
                } else {
                    self.renewed(st, fields, acquired)
                }
            }
            (st, _) => st,
        };
    }

    /// Whether a reply of this kind is what the current state waits for.
    fn expects(&self, kind: MessageType) -> bool {
        match self.st {
            St::Selecting { .. } => kind == MessageType::Offer,
            St::Requesting { .. }
            | St::Rebooting { .. }
            | St::Renewing { .. }
            | St::Rebinding { .. }
            | St::Extended { .. } => kind == MessageType::Ack,
            _ => false,
        }
    }

    /// An ACK in RENEWING, REBINDING or extended rebinding: merged into the lease; a moved
    /// address is probed first.
    fn renewed(&mut self, st: St, fields: AckFields, acquired: Instant) -> St {
        let (mut lease, event) = match st {
            St::Renewing { lease, .. } => (lease, Event::Renewed),
            St::Rebinding { lease, .. } | St::Extended { lease, .. } => (lease, Event::Rebound),
            other => return other,
        };
        let moved = fields.address != lease.address;
        lease.merge(fields, acquired);
        if moved {
            self.acked(lease, true)
        } else {
            self.extended_arp_at = None;
            self.bound(lease, event)
        }
    }

    fn refuse(&mut self, server: Ipv4Addr, why: Refusal) {
        self.queue
            .push_back(Queued::Event(Event::Refused(server, why)));
    }

    /// An OFFER is taken if it has a usable yiaddr, option 54 and option 51 (spec §3).
    fn check_offer(&mut self, m: &Message<'_>, server: Option<Ipv4Addr>) -> Option<Offered> {
        let from = server.unwrap_or(Ipv4Addr::UNSPECIFIED);
        let Some(server_id) = server else {
            self.refuse(from, Refusal::NoServerIdentifier);
            return None;
        };
        let Some(lease_time) = m.lease_time() else {
            self.refuse(from, Refusal::NoLeaseTime);
            return None;
        };
        if let Some(why) = bad_address(m.yiaddr) {
            self.refuse(from, why);
            return None;
        }
        Some(Offered {
            address: m.yiaddr,
            server_id,
            lease_time,
        })
    }

    /// A DHCPACK for a new (or moved) address: probe it first (RFC 5227 §2.1.1, Decision 11).
    fn acked(&mut self, lease: Lease, renewal: bool) -> St {
        self.previous = None;
        self.reuse_at = None;
        self.probe(lease, renewal, None)
    }

    fn probe(&mut self, lease: Lease, renewal: bool, reuse: Option<Reuse>) -> St {
        self.vlan_deadline = None;
        self.extended_arp_at = None;
        self.router = None;
        let cfg = AcdConfig {
            probe_budget: self.config.probe_budget,
            ..AcdConfig::for_mac(self.config.mac)
        };
        self.acd = Some(Acd::new(cfg, lease.address, &mut self.rng, self.now));
        St::Probing {
            lease,
            renewal,
            reuse,
        }
    }

    fn bound(&mut self, lease: Lease, event: Event) -> St {
        self.naks = 0;
        self.conflicts = 0;
        self.vlan_deadline = None;
        self.queue.push_back(Queued::Event(event));
        St::Bound { lease }
    }

    /// Spec §8: ARP the option 3 routers in order until one answers.
    fn start_router_check(&mut self, lease: &Lease) {
        self.router = None;
        self.router_in_use = None;
        if !self.config.router_check {
            return;
        }
        let mut routers: Vec<Ipv4Addr> = Vec::new();
        for r in &lease.routers {
            if usable(*r) && *r != lease.address && !routers.contains(r) {
                routers.push(*r);
            }
            if routers.len() >= MAX_ROUTERS_CHECKED {
                break;
            }
        }
        if !routers.is_empty() {
            self.router = Some(RouterCheck {
                routers,
                index: 0,
                round: 0,
                next: self.now,
            });
        }
    }

    // ---- timers and transmissions ------------------------------------------------------------

    /// The extended-rebinding ARP check or the router check, when due.
    fn periodic_arp(&mut self) -> Option<ArpPacket> {
        let now = self.now;
        let mac = self.config.mac;
        let address = self.lease().map(|l| l.address)?;
        if self.extended_arp_at.is_some_and(|t| t <= now) {
            self.extended_arp_at = Some(now + EXTENDED_ARP_INTERVAL);
            return Some(ArpPacket::probe(mac, address));
        }
        let rc = self.router.as_mut()?;
        if rc.next > now {
            return None;
        }
        let target = *rc.routers.get(rc.index)?;
        rc.index += 1;
        if rc.index >= rc.routers.len() {
            rc.index = 0;
            rc.round = rc.round.saturating_add(1);
            let wait = RETRANSMIT_INITIAL
                .saturating_mul(1u32 << (rc.round - 1).min(4))
                .min(ROUTER_ROUND_MAX);
            rc.next = now + wait.max(ROUTER_ARP_WAIT);
        } else {
            rc.next = now + ROUTER_ARP_WAIT;
        }
        Some(ArpPacket::request(mac, address, target))
    }

    fn step(&mut self) -> Step {
        let now = self.now;
        if self.st_deadline() > now {
            return Step::Idle;
        }
        let st = core::mem::replace(&mut self.st, St::Released);
        match st {
            St::Init { .. } => {
                self.new_exchange(true);
                self.st = St::Selecting { next: now, sent: 0 };
                Step::Changed
            }
            St::Selecting { sent, .. } => {
                let wait = self.backoff(sent);
                self.st = St::Selecting {
                    next: now + wait,
                    sent: sent.saturating_add(1),
                };
                self.send_discover()
            }
            St::Requesting { offer, sent, .. } => {
                if sent > self.config.request_retransmissions {
                    self.new_exchange(true);
                    self.st = St::Init { at: now };
                    return Step::Changed;
                }
                let wait = self.backoff(sent);
                let (address, server) = (offer.address, offer.server_id);
                self.st = St::Requesting {
                    offer,
                    next: now + wait,
                    sent: sent + 1,
                };
                self.request_sent_at = now;
                self.send_request(Some(address), Some(server), None)
            }
            St::InitReboot { address, .. } => {
                self.new_exchange(true);
                self.st = St::Rebooting {
                    address,
                    next: now,
                    sent: 0,
                };
                Step::Changed
            }
            St::Rebooting { address, sent, .. } => {
                if sent > self.config.reboot_retransmissions {
                    self.st = self.reboot_silent(address);
                    return Step::Changed;
                }
                let wait = self.backoff(sent);
                self.st = St::Rebooting {
                    address,
                    next: now + wait,
                    sent: sent + 1,
                };
                self.request_sent_at = now;
                self.send_request(Some(address), None, None)
            }
            St::Bound { lease } => {
                // T1: RENEWING, unicast to the server (RFC 2131 §4.4.5).
                self.new_exchange(true);
                self.st = St::Renewing { lease, next: now };
                Step::Changed
            }
            St::Renewing { lease, .. } => {
                if lease.rebind_at() <= now || !lease.server_known() {
                    // T2 (or no server to unicast to): REBINDING, broadcast.
                    self.new_exchange(false);
                    self.st = St::Rebinding { lease, next: now };
                    return Step::Changed;
                }
                let wait = (lease.rebind_at() - now).checked_div(2).unwrap_or_default();
                let (address, server) = (lease.address, lease.server_id);
                self.st = St::Renewing {
                    lease,
                    next: now + wait.max(RENEW_RETRANSMIT_MIN),
                };
                self.request_sent_at = now;
                self.send_request(None, None, Some((address, server)))
            }
            St::Rebinding { lease, .. } => {
                if lease.expires_at() <= now {
                    self.expired(lease);
                    return Step::Changed;
                }
                let wait = (lease.expires_at() - now)
                    .checked_div(2)
                    .unwrap_or_default();
                let address = lease.address;
                self.st = St::Rebinding {
                    lease,
                    next: now + wait.max(RENEW_RETRANSMIT_MIN),
                };
                self.request_sent_at = now;
                self.send_request(None, None, Some((address, Ipv4Addr::BROADCAST)))
            }
            St::Extended { lease, sent, .. } => {
                let wait = self.backoff(sent);
                let address = lease.address;
                self.st = St::Extended {
                    lease,
                    next_request: now + wait,
                    sent: sent.saturating_add(1),
                };
                self.request_sent_at = now;
                self.send_request(None, None, Some((address, Ipv4Addr::BROADCAST)))
            }
            st @ (St::Probing { .. } | St::Released) => {
                self.st = st;
                Step::Idle
            }
        }
    }

    /// Lease expiry (spec §7): DHCPSTD=1 drops the address; DHCPSTD=0 keeps it and goes on
    /// broadcasting DHCPREQUEST with ARP checks every 5 s.
    fn expired(&mut self, lease: Lease) {
        let now = self.now;
        if self.config.dhcpstd {
            self.st = St::Bound { lease };
            self.give_up_lease(LostReason::Expired, false);
            self.new_exchange(true);
            self.st = St::Init { at: now };
        } else {
            self.queue
                .push_back(Queued::Event(Event::ExtendedRebinding));
            self.new_exchange(false);
            self.extended_arp_at = Some(now);
            self.st = St::Extended {
                lease,
                next_request: now,
                sent: 0,
            };
        }
    }

    fn send_one_shot(&mut self, q: Queued) -> Option<Transmit> {
        let step = match q {
            Queued::Event(_) => return None,
            Queued::Decline {
                address, server, ..
            } => self.send(
                &Outgoing {
                    kind: MessageType::Decline,
                    ciaddr: Ipv4Addr::UNSPECIFIED,
                    requested: Some(address),
                    server: Some(server),
                    broadcast: false,
                },
                Ipv4Addr::BROADCAST,
                Ipv4Addr::UNSPECIFIED,
            ),
            Queued::Release {
                address, server, ..
            } => self.send(
                &Outgoing {
                    kind: MessageType::Release,
                    ciaddr: address,
                    requested: None,
                    server: Some(server),
                    broadcast: false,
                },
                server,
                address,
            ),
        };
        match step {
            Step::Sent {
                len,
                destination,
                source,
            } => Some(Transmit::Udp {
                payload: self.tx[..len].to_vec(),
                destination,
                source,
            }),
            Step::Changed | Step::Idle => None,
        }
    }

    fn send_discover(&mut self) -> Step {
        self.send(
            &Outgoing {
                kind: MessageType::Discover,
                ciaddr: Ipv4Addr::UNSPECIFIED,
                requested: None,
                server: None,
                broadcast: self.config.broadcast_flag,
            },
            Ipv4Addr::BROADCAST,
            Ipv4Addr::UNSPECIFIED,
        )
    }

    /// A DHCPREQUEST: SELECTING (50 + 54), INIT-REBOOT (50), or with `bound = (ciaddr, to)`
    /// RENEWING/REBINDING (ciaddr, no 50/54; RFC 2131 §4.3.2).
    fn send_request(
        &mut self,
        requested: Option<Ipv4Addr>,
        server: Option<Ipv4Addr>,
        bound: Option<(Ipv4Addr, Ipv4Addr)>,
    ) -> Step {
        let (ciaddr, destination, broadcast) = match bound {
            Some((addr, to)) => (addr, to, false),
            None => (
                Ipv4Addr::UNSPECIFIED,
                Ipv4Addr::BROADCAST,
                self.config.broadcast_flag,
            ),
        };
        self.send(
            &Outgoing {
                kind: MessageType::Request,
                ciaddr,
                requested,
                server,
                broadcast,
            },
            destination,
            ciaddr,
        )
    }

    /// Builds a message being taken now: a new exchange draws its xid and starts its clock
    /// here, never earlier (commit on take).
    fn send(&mut self, o: &Outgoing, destination: Ipv4Addr, source: Ipv4Addr) -> Step {
        let one_shot = matches!(o.kind, MessageType::Release | MessageType::Decline);
        if !one_shot {
            if self.new_xid {
                self.xid = self.rng.next_u32();
                self.new_xid = false;
            }
            if self.new_clock {
                self.started = self.now;
                self.new_clock = false;
            }
        }
        let c = &self.config;
        let mut chaddr = [0u8; 16];
        chaddr[..6].copy_from_slice(&c.mac);
        let mut options = vec![DhcpOption::MessageType(o.kind)];
        if let Some(id) = &c.client_id {
            options.push(DhcpOption::ClientIdentifier(id.as_slice().into()));
        }
        if let Some(a) = o.requested {
            options.push(DhcpOption::RequestedIpAddress(a));
        }
        if let Some(s) = o.server {
            options.push(DhcpOption::ServerIdentifier(s));
        }
        // RFC 2131 table 5: DECLINE and RELEASE carry no parameter requests.
        if !one_shot {
            options.push(DhcpOption::MaxMessageSize(c.max_message_size));
            if let Some(h) = &c.host_name {
                options.push(DhcpOption::HostName(h.as_bytes().into()));
            }
            if let Some(v) = &c.vendor_class {
                options.push(DhcpOption::VendorClassIdentifier(v.as_slice().into()));
            }
            options.push(DhcpOption::ParameterRequestList(
                c.parameter_request_list.as_slice().into(),
            ));
        }
        let secs = self.now.saturating_duration_since(self.started).as_secs();
        let msg = Message {
            op: BOOTREQUEST,
            htype: 1,
            hlen: 6,
            xid: self.xid,
            secs: if one_shot {
                0
            } else {
                u16::try_from(secs).unwrap_or(u16::MAX)
            },
            flags: if o.broadcast { FLAG_BROADCAST } else { 0 },
            ciaddr: o.ciaddr,
            chaddr,
            options,
            ..Message::default()
        };
        match msg.encode(&mut self.tx) {
            Ok(len) => Step::Sent {
                len,
                destination,
                source,
            },
            // Only an absurd configuration (option values of kilobytes) gets here.
            Err(_) => Step::Changed,
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
