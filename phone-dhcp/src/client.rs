//! The DHCP client state machine (RFC 2131 §4.4, figure 5), Sans-IO.
//!
//! The caller feeds [`Input`]s and drains [`Output`]s until it gets [`Output::Timeout`], then
//! waits for a datagram, an ARP conflict or that instant, and calls again (ARCHITECTURE.md).
//! State changes when a transmit is handed out, so a retransmission is counted only once it is
//! really on its way; a timeout delivered early is a no-op.

use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::net::Ipv4Addr;
use core::time::Duration;

use phone_settings::Instant;
use rand_core::Rng;

use crate::avaya::host_name;
use crate::lease::{AckFields, Lease};
use crate::message::{BOOTREPLY, BOOTREQUEST, FLAG_BROADCAST, Message};
use crate::options::{DhcpOption, MessageType, SsonCode};

/// First retransmission delay (RFC 2131 §4.1).
pub const RETRANSMIT_INITIAL: Duration = Duration::from_secs(4);
/// Longest retransmission delay (RFC 2131 §4.1).
pub const RETRANSMIT_MAX: Duration = Duration::from_secs(64);
/// Random spread of every retransmission delay, either way (RFC 2131 §4.1: "±1 second").
pub const RETRANSMIT_JITTER: Duration = Duration::from_secs(1);
/// Shortest wait between retransmissions in RENEWING and REBINDING (RFC 2131 §4.4.5).
pub const RENEW_RETRANSMIT_MIN: Duration = Duration::from_secs(60);
/// RFC 5227 §1.1 PROBE_WAIT: random delay before the first probe.
pub const PROBE_WAIT: Duration = Duration::from_secs(1);
/// RFC 5227 PROBE_NUM.
pub const PROBE_NUM: u8 = 3;
/// RFC 5227 PROBE_MIN.
pub const PROBE_MIN: Duration = Duration::from_secs(1);
/// RFC 5227 PROBE_MAX.
pub const PROBE_MAX: Duration = Duration::from_secs(2);
/// RFC 5227 ANNOUNCE_WAIT: quiet time after the last probe.
pub const ANNOUNCE_WAIT: Duration = Duration::from_secs(2);
/// RFC 5227 ANNOUNCE_NUM.
pub const ANNOUNCE_NUM: u8 = 2;
/// RFC 5227 ANNOUNCE_INTERVAL.
pub const ANNOUNCE_INTERVAL: Duration = Duration::from_secs(2);
/// Wait after a DHCPDECLINE before starting again (RFC 2131 §3.1.5: at least 10 s).
pub const DECLINE_WAIT: Duration = Duration::from_secs(10);
/// RFC 5227 MAX_CONFLICTS: after this many conflicts, restarts are rate-limited.
pub const MAX_CONFLICTS: u32 = 10;
/// RFC 5227 RATE_LIMIT_INTERVAL.
pub const RATE_LIMIT_INTERVAL: Duration = Duration::from_secs(60);
/// Extended rebinding: ARP check of the own address every 5 s (spec dhcp.md §7).
pub const EXTENDED_ARP_INTERVAL: Duration = Duration::from_secs(5);
/// Size of the transmit buffer; the client's own messages stay far below it.
pub const TX_BUFFER: usize = 1500;

/// L2Q: whether DHCP runs tagged (spec dhcp.md §6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum L2q {
    /// 0: tag if L2QVLAN ≠ 0; fall back to untagged.
    #[default]
    Auto,
    /// 1: tag; fall back to priority-tagged frames (VID 0).
    On,
    /// 2: never tag.
    Off,
}

impl L2q {
    /// From the parameter's value 0/1/2.
    #[must_use]
    pub fn from_value(v: u8) -> Option<L2q> {
        match v {
            0 => Some(L2q::Auto),
            1 => Some(L2q::On),
            2 => Some(L2q::Off),
            _ => None,
        }
    }
}

/// How the caller must send and receive DHCP frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Vlan {
    /// Plain untagged frames.
    Untagged,
    /// 802.1Q frames with VID 0 (priority tag only).
    PriorityTagged,
    /// 802.1Q frames in this VLAN.
    Tagged(u16),
}

/// The parameter request list of Decision 1: 1, 3, 6, 7, 15, 26, 42, 43, 51, 58, 59 and the SSON.
#[must_use]
pub fn default_parameter_request_list(sson: SsonCode) -> Vec<u8> {
    vec![1, 3, 6, 7, 15, 26, 42, 43, 51, 58, 59, sson.get()]
}

/// Client configuration; `Default` and [`Config::for_mac`] give the spec's values.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// The phone's MAC (chaddr).
    pub mac: [u8; 6],
    /// Option 12; `None` to send none. Default: [`host_name`] of the MAC (spec §2).
    pub host_name: Option<String>,
    /// Option 60; default `ccp.avaya.com` (Decision 1).
    pub vendor_class: Option<Vec<u8>>,
    /// Option 61; default type 1 + MAC (Decision 1).
    pub client_id: Option<Vec<u8>>,
    /// Option 55; default [`default_parameter_request_list`].
    pub parameter_request_list: Vec<u8>,
    /// Option 57; default 1000 (Decision 1).
    pub max_message_size: u16,
    /// The SSON option number (parameter SSON, default 242).
    pub sson: SsonCode,
    /// Set the broadcast flag while the phone has no address (default true: the reference
    /// socket cannot receive unicast to an address not yet configured).
    pub broadcast_flag: bool,
    /// DHCPSTD: `false` (0, default) = extended rebinding when the lease expires; `true` (1) =
    /// strict RFC 2131, drop the address at expiry (spec §7).
    pub dhcpstd: bool,
    /// L2Q (spec §6).
    pub l2q: L2q,
    /// L2QVLAN, 0–4094 (0 = untagged).
    pub l2qvlan: u16,
    /// VLANTEST seconds, 0 = try the tagged VLAN forever (default 60).
    pub vlantest: u16,
    /// The address of a previous lease: start in INIT-REBOOT asking for it (RFC 2131 §3.2).
    pub previous_address: Option<Ipv4Addr>,
    /// Probe offered addresses with ARP before use (RFC 5227, Decision 3). Default true.
    pub conflict_detection: bool,
    /// DHCPREQUEST retransmissions in REQUESTING before going back to INIT (RFC 2131 §4.4.1
    /// suggests four). Default 4.
    pub request_retransmissions: u32,
    /// DHCPREQUEST retransmissions in REBOOTING before giving the stored address up and
    /// starting from INIT. A server that does not know the lease stays silent (RFC 2131 §4.3.2),
    /// so this bounds the boot delay: default 2 (requests at about 0, 4 and 12 s, DISCOVER at
    /// about 28 s).
    pub reboot_retransmissions: u32,
}

impl Config {
    /// The spec's defaults for a phone with this MAC.
    #[must_use]
    pub fn for_mac(mac: [u8; 6]) -> Config {
        let mut client_id = vec![1u8];
        client_id.extend_from_slice(&mac);
        Config {
            mac,
            host_name: Some(host_name(mac)),
            vendor_class: Some(b"ccp.avaya.com".to_vec()),
            client_id: Some(client_id),
            parameter_request_list: default_parameter_request_list(SsonCode::DEFAULT),
            max_message_size: 1000,
            sson: SsonCode::DEFAULT,
            broadcast_flag: true,
            dhcpstd: false,
            l2q: L2q::Auto,
            l2qvlan: 0,
            vlantest: 60,
            previous_address: None,
            conflict_detection: true,
            request_retransmissions: 4,
            reboot_retransmissions: 2,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config::for_mac([0; 6])
    }
}

/// The RFC 2131 state, plus the RFC 5227 probe and the spec's extended rebinding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// INIT: about to send DHCPDISCOVER (possibly after a back-off).
    Init,
    /// SELECTING: DHCPDISCOVER sent, waiting for an OFFER.
    Selecting,
    /// REQUESTING: DHCPREQUEST for an offer sent, waiting for ACK/NAK.
    Requesting,
    /// INIT-REBOOT: about to ask for the previous address.
    InitReboot,
    /// REBOOTING: DHCPREQUEST for the previous address sent.
    Rebooting,
    /// ACKed, probing the address with ARP before use (RFC 5227 §2.1).
    Probing,
    /// BOUND.
    Bound,
    /// RENEWING (after T1, unicast to the server).
    Renewing,
    /// REBINDING (after T2, broadcast).
    Rebinding,
    /// Lease expired with DHCPSTD=0: address kept, still asking (spec §7).
    ExtendedRebinding,
    /// Released, or stopped: nothing more will happen.
    Released,
}

/// Why the phone must stop using its address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LostReason {
    /// The server answered DHCPNAK while renewing, rebinding or in extended rebinding.
    Nak,
    /// The lease expired with DHCPSTD=1.
    Expired,
    /// The caller asked for a release.
    Released,
    /// Another host uses the address.
    Conflict,
    /// Moving to another VLAN (spec §6).
    VlanChange,
}

/// Why an OFFER or ACK was not accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No option 51 (spec §3: an OFFER without it is not accepted).
    NoLeaseTime,
    /// No option 54, so the phone could not name the server.
    NoServerIdentifier,
    /// yiaddr was 0.0.0.0, broadcast or multicast.
    BadAddress,
}

/// Something the caller acts on or displays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// From now on send and receive DHCP on this VLAN (create the VLAN interface if needed).
    Vlan(Vlan),
    /// VLANTEST ran out on this VLAN ID without a lease; it is not tried again until reset.
    VlanTestExpired(u16),
    /// A new lease: configure [`Client::lease`].
    Bound,
    /// The lease was renewed (RENEWING); [`Client::lease`] has the merged values.
    Renewed,
    /// The lease was extended by a broadcast request (REBINDING or extended rebinding).
    Rebound,
    /// Stop using the address at once.
    Deconfigure(LostReason),
    /// The lease expired but DHCPSTD=0 keeps the address (spec §7).
    ExtendedRebinding,
    /// Another host has this address: DHCPDECLINE sent, show `Address conflict` (Decision 8).
    Conflict(Ipv4Addr),
    /// A DHCPNAK arrived from this server (if it named itself).
    Nak(Option<Ipv4Addr>),
    /// An OFFER or ACK from this server was refused.
    Refused(Ipv4Addr, Refusal),
}

/// The kind of ARP packet to send (RFC 5227 §2.1.1, §2.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArpKind {
    /// An ARP probe: sender IP 0.0.0.0, target IP the address. Any reply, or another host's
    /// probe for the address, is a conflict to report with [`Input::ArpConflict`].
    Probe,
    /// An ARP announcement: sender and target IP both the address.
    Announce,
}

/// An ARP packet the caller must send now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arp {
    /// Probe or announcement.
    pub kind: ArpKind,
    /// The address concerned.
    pub address: Ipv4Addr,
}

/// A DHCP datagram to send from UDP port 68 to port 67.
#[derive(Debug, PartialEq, Eq)]
pub struct Transmit<'a> {
    /// The DHCP message.
    pub payload: &'a [u8],
    /// 255.255.255.255 or the server's address (RENEWING, DHCPRELEASE).
    pub destination: Ipv4Addr,
    /// 0.0.0.0 while the phone has no address, else the leased address.
    pub source: Ipv4Addr,
}

/// What the caller feeds the machine.
#[derive(Clone, Copy, Debug)]
pub enum Input<'a> {
    /// The time now; due timers fire on the next [`Client::poll_output`].
    Timeout(Instant),
    /// A UDP datagram received on port 68.
    Receive(Instant, &'a [u8]),
    /// An ARP reply from another MAC for this address, or another host's probe for it.
    ArpConflict(Instant, Ipv4Addr),
    /// Release the lease (DHCPRELEASE) and stop.
    Release(Instant),
    /// New VLAN values learned later (SSON, option 43, settings file, LLDP): a non-zero
    /// L2QVLAN different from the one in use makes the client release and start again there
    /// (spec §6).
    VoiceVlan {
        /// The time now.
        now: Instant,
        /// L2Q.
        l2q: L2q,
        /// L2QVLAN.
        l2qvlan: u16,
        /// VLANTEST seconds.
        vlantest: u16,
    },
}

/// What the machine asks of the caller.
#[derive(Debug, PartialEq, Eq)]
pub enum Output<'a> {
    /// Send this datagram.
    Transmit(Transmit<'a>),
    /// Send this ARP packet.
    Arp(Arp),
    /// Act on or show this.
    Event(Event),
    /// Nothing more until this instant ([`Instant::MAX`]: until an input).
    Timeout(Instant),
}

#[derive(Clone, Debug)]
struct Offered {
    address: Ipv4Addr,
    server_id: Ipv4Addr,
    lease_time: u32,
}

#[derive(Clone, Debug)]
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
    Probing {
        lease: Lease,
        next: Instant,
        probes: u8,
        renewal: bool,
    },
    Bound {
        lease: Lease,
        announces: u8,
        next_announce: Instant,
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
        next_arp: Instant,
        sent: u32,
    },
    Released,
}

#[derive(Clone, Copy, Debug)]
enum Queued {
    Event(Event),
    Decline { address: Ipv4Addr, server: Ipv4Addr },
    Release { address: Ipv4Addr, server: Ipv4Addr },
}

#[derive(Clone, Copy, Debug)]
enum Step {
    Sent {
        len: usize,
        destination: Ipv4Addr,
        source: Ipv4Addr,
    },
    Arp(Arp),
    Event(Event),
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
/// use phone_dhcp::client::{Client, Config, Event, Output};
/// use phone_settings::Instant;
/// # use rand_core::SeedableRng;
///
/// let rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
/// let mut client = Client::new(Config::for_mac([0, 4, 0x0d, 1, 2, 3]), rng, Instant::ZERO);
/// assert_eq!(client.poll_output(), Output::Event(Event::Vlan(phone_dhcp::client::Vlan::Untagged)));
/// let Output::Transmit(t) = client.poll_output() else { panic!() };
/// let discover = phone_dhcp::Message::decode(t.payload)?;
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
    started: Instant,
    request_sent_at: Instant,
    naks: u32,
    conflicts: u32,
    vlan: Vlan,
    l2q: L2q,
    vlan_deadline: Option<Instant>,
    failed_vlans: Vec<u16>,
    tx: Vec<u8>,
}

impl<R: Rng> Client<R> {
    /// A client starting now: in INIT-REBOOT if the configuration names a previous address,
    /// else in INIT; tagged on L2QVLAN if L2Q ≠ 2 and L2QVLAN ≠ 0 (spec §6).
    pub fn new(config: Config, rng: R, now: Instant) -> Client<R> {
        let st = match config.previous_address {
            Some(address) => St::InitReboot { at: now, address },
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
            started: now,
            request_sent_at: now,
            naks: 0,
            conflicts: 0,
            vlan: Vlan::Untagged,
            vlan_deadline: None,
            failed_vlans: Vec::new(),
            tx: vec![0; TX_BUFFER],
        };
        let (vid, test) = (c.config.l2qvlan, c.config.vlantest);
        if c.l2q != L2q::Off && vid != 0 && vid <= 4094 {
            c.start_vlan(vid, test);
        } else {
            c.queue
                .push_back(Queued::Event(Event::Vlan(Vlan::Untagged)));
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

    /// The lease in use (BOUND, RENEWING, REBINDING, extended rebinding), if any.
    #[must_use]
    pub fn lease(&self) -> Option<&Lease> {
        match &self.st {
            St::Bound { lease, .. }
            | St::Renewing { lease, .. }
            | St::Rebinding { lease, .. }
            | St::Extended { lease, .. } => Some(lease),
            _ => None,
        }
    }

    /// The VLAN DHCP runs on now.
    #[must_use]
    pub fn vlan(&self) -> Vlan {
        self.vlan
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Feeds one input.
    pub fn handle_input(&mut self, input: Input<'_>) {
        let now = match input {
            Input::Timeout(t)
            | Input::Receive(t, _)
            | Input::ArpConflict(t, _)
            | Input::Release(t)
            | Input::VoiceVlan { now: t, .. } => t,
        };
        // The clock never runs backwards for the machine.
        self.now = self.now.max(now);
        match input {
            Input::Timeout(_) => {}
            Input::Receive(_, bytes) => self.receive(bytes),
            Input::ArpConflict(_, address) => self.conflict(address),
            Input::Release(_) => self.release(),
            Input::VoiceVlan {
                l2q,
                l2qvlan,
                vlantest,
                ..
            } => self.voice_vlan(l2q, l2qvlan, vlantest),
        }
    }

    /// The next thing to do. Call until it returns [`Output::Timeout`].
    pub fn poll_output(&mut self) -> Output<'_> {
        // Each step either hands something out or moves to a state whose next action is a
        // transmit; a handful of steps always suffices.
        for _ in 0..16 {
            match self.step() {
                Step::Sent {
                    len,
                    destination,
                    source,
                } => {
                    return Output::Transmit(Transmit {
                        payload: &self.tx[..len],
                        destination,
                        source,
                    });
                }
                Step::Arp(a) => return Output::Arp(a),
                Step::Event(e) => return Output::Event(e),
                Step::Changed => {}
                Step::Idle => break,
            }
        }
        Output::Timeout(self.deadline())
    }

    /// The next instant something is due ([`Instant::MAX`] if none).
    #[must_use]
    pub fn deadline(&self) -> Instant {
        let st = match &self.st {
            St::Init { at } | St::InitReboot { at, .. } => *at,
            St::Selecting { next, .. }
            | St::Requesting { next, .. }
            | St::Rebooting { next, .. }
            | St::Probing { next, .. } => *next,
            St::Bound {
                lease,
                announces,
                next_announce,
            } => {
                if *announces > 0 {
                    (*next_announce).min(lease.renew_at())
                } else {
                    lease.renew_at()
                }
            }
            St::Renewing { lease, next } => (*next).min(lease.rebind_at()),
            St::Rebinding { lease, next } => (*next).min(lease.expires_at()),
            St::Extended {
                next_request,
                next_arp,
                ..
            } => (*next_request).min(*next_arp),
            St::Released => Instant::MAX,
        };
        match self.vlan_deadline {
            Some(v) => st.min(v),
            None => st,
        }
    }

    // ---- randomness -------------------------------------------------------------------------

    /// Uniform in `[lo, hi]` microseconds.
    fn rand_between(&mut self, lo: Duration, hi: Duration) -> Duration {
        let lo_us = u64::try_from(lo.as_micros()).unwrap_or(u64::MAX);
        let hi_us = u64::try_from(hi.as_micros()).unwrap_or(u64::MAX);
        let span = hi_us.saturating_sub(lo_us).saturating_add(1);
        Duration::from_micros(lo_us.saturating_add(self.rng.next_u64() % span))
    }

    /// RFC 2131 §4.1: 4, 8, 16, 32, 64, 64, ... s for retry 0, 1, 2, ..., each ±1 s.
    fn backoff(&mut self, retry: u32) -> Duration {
        let base = RETRANSMIT_INITIAL
            .saturating_mul(1u32 << retry.min(4))
            .min(RETRANSMIT_MAX);
        self.rand_between(base - RETRANSMIT_JITTER, base + RETRANSMIT_JITTER)
    }

    fn new_xid(&mut self) {
        self.xid = self.rng.next_u32();
    }

    // ---- VLAN -------------------------------------------------------------------------------

    fn start_vlan(&mut self, vid: u16, vlantest: u16) {
        self.vlan = Vlan::Tagged(vid);
        self.vlan_deadline =
            (vlantest != 0).then(|| self.now + Duration::from_secs(u64::from(vlantest)));
        self.queue.push_back(Queued::Event(Event::Vlan(self.vlan)));
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
        self.st = St::Init { at: self.now };
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
        self.st = St::Init { at: self.now };
    }

    // ---- inputs -----------------------------------------------------------------------------

    /// Takes the lease out of the state (if any): queues a DHCPRELEASE first when `release`,
    /// then the deconfigure event if the address was in use.
    fn give_up_lease(&mut self, why: LostReason, release: bool) -> Option<Lease> {
        let st = core::mem::replace(&mut self.st, St::Released);
        let (lease, configured) = match st {
            // A moved address on renewal is probed while the old one is still configured.
            St::Probing { lease, renewal, .. } => (lease, renewal),
            St::Bound { lease, .. }
            | St::Renewing { lease, .. }
            | St::Rebinding { lease, .. }
            | St::Extended { lease, .. } => (lease, true),
            other => {
                self.st = other;
                return None;
            }
        };
        if release {
            self.queue.push_back(Queued::Release {
                address: lease.address,
                server: lease.server_id,
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
        self.st = St::Released;
    }

    /// An ARP conflict (RFC 5227 §2.1.1; spec §7, §8): DHCPDECLINE, the conflict event, then
    /// INIT after at least 10 s, at least 60 s after MAX_CONFLICTS.
    fn conflict(&mut self, address: Ipv4Addr) {
        let held = match &self.st {
            St::Probing { lease, .. }
            | St::Bound { lease, .. }
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
        self.queue.push_back(Queued::Decline {
            address,
            server: lease.server_id,
        });
        self.queue
            .push_back(Queued::Event(Event::Conflict(address)));
        self.conflicts = self.conflicts.saturating_add(1);
        let floor = if self.conflicts >= MAX_CONFLICTS {
            RATE_LIMIT_INTERVAL
        } else {
            DECLINE_WAIT
        };
        let wait = self.rand_between(floor, floor + RETRANSMIT_JITTER);
        self.st = St::Init {
            at: self.now + wait,
        };
    }

    /// DHCPNAK: back to INIT at once the first time, with growing back-off when NAKs repeat.
    fn nak(&mut self, server: Option<Ipv4Addr>) {
        self.give_up_lease(LostReason::Nak, false);
        self.queue.push_back(Queued::Event(Event::Nak(server)));
        self.naks = self.naks.saturating_add(1);
        let wait = if self.naks <= 1 {
            Duration::ZERO
        } else {
            self.backoff(self.naks - 2)
        };
        self.st = St::Init {
            at: self.now + wait,
        };
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
        let fields = AckFields::from_message(&m);
        let now = self.now;
        let acquired = self.request_sent_at;
        let st = core::mem::replace(&mut self.st, St::Released);
        self.st = match (st, kind) {
            (St::Selecting { next, sent }, MessageType::Offer) => {
                match self.check_offer(&m, server) {
                    Ok(offer) => St::Requesting {
                        offer,
                        next: now,
                        sent: 0,
                    },
                    Err(()) => St::Selecting { next, sent },
                }
            }
            (St::Requesting { offer, next, sent }, MessageType::Ack) => {
                if server.is_some_and(|s| s != offer.server_id) {
                    St::Requesting { offer, next, sent }
                } else if !usable(fields.address) {
                    self.refuse(offer.server_id, Refusal::BadAddress);
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
                    self.st = St::Released;
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
                match (server_id, fields.lease_time) {
                    (Some(s), Some(l)) if usable(fields.address) => {
                        self.acked(Lease::new(fields, s, l, acquired), false)
                    }
                    (sid, lease) => {
                        let from = sid.unwrap_or(Ipv4Addr::UNSPECIFIED);
                        let why = if sid.is_none() {
                            Refusal::NoServerIdentifier
                        } else if lease.is_none() {
                            Refusal::NoLeaseTime
                        } else {
                            Refusal::BadAddress
                        };
                        self.refuse(from, why);
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
            (St::Renewing { mut lease, .. }, MessageType::Ack) if usable(fields.address) => {
                let moved = fields.address != lease.address;
                lease.merge(fields, acquired);
                if moved {
                    self.acked(lease, true)
                } else {
                    self.bound(lease, Event::Renewed, 0)
                }
            }
            (
                St::Rebinding { mut lease, .. } | St::Extended { mut lease, .. },
                MessageType::Ack,
            ) if usable(fields.address) => {
                let moved = fields.address != lease.address;
                lease.merge(fields, acquired);
                if moved {
                    self.acked(lease, true)
                } else {
                    self.bound(lease, Event::Rebound, 0)
                }
            }
            (st, _) => st,
        };
    }

    fn refuse(&mut self, server: Ipv4Addr, why: Refusal) {
        self.queue
            .push_back(Queued::Event(Event::Refused(server, why)));
    }

    /// An OFFER is taken if it has a usable yiaddr, option 54 and option 51 (spec §3).
    fn check_offer(&mut self, m: &Message<'_>, server: Option<Ipv4Addr>) -> Result<Offered, ()> {
        let from = server.unwrap_or(Ipv4Addr::UNSPECIFIED);
        let Some(server_id) = server else {
            self.refuse(from, Refusal::NoServerIdentifier);
            return Err(());
        };
        let Some(lease_time) = m.lease_time() else {
            self.refuse(from, Refusal::NoLeaseTime);
            return Err(());
        };
        if !usable(m.yiaddr) {
            self.refuse(from, Refusal::BadAddress);
            return Err(());
        }
        Ok(Offered {
            address: m.yiaddr,
            server_id,
            lease_time,
        })
    }

    /// A DHCPACK for a new (or moved) address: probe it first (RFC 5227 §2.1.1).
    fn acked(&mut self, lease: Lease, renewal: bool) -> St {
        self.vlan_deadline = None;
        if self.config.conflict_detection {
            let wait = self.rand_between(Duration::ZERO, PROBE_WAIT);
            St::Probing {
                lease,
                next: self.now + wait,
                probes: 0,
                renewal,
            }
        } else {
            self.bound(lease, Event::Bound, 0)
        }
    }

    fn bound(&mut self, lease: Lease, event: Event, announces: u8) -> St {
        self.naks = 0;
        self.conflicts = 0;
        self.vlan_deadline = None;
        self.queue.push_back(Queued::Event(event));
        St::Bound {
            lease,
            announces,
            next_announce: self.now,
        }
    }

    // ---- timers and transmissions ------------------------------------------------------------

    fn step(&mut self) -> Step {
        if let Some(q) = self.queue.pop_front() {
            return match q {
                Queued::Event(e) => Step::Event(e),
                Queued::Decline { address, server } => self.send(
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
                Queued::Release { address, server } => self.send(
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
        }
        let now = self.now;
        if self.deadline() > now {
            return Step::Idle;
        }
        if self.vlan_deadline.is_some_and(|d| d <= now) {
            self.vlan_test_expired();
            return Step::Changed;
        }
        let st = core::mem::replace(&mut self.st, St::Released);
        match st {
            St::Init { .. } => {
                self.new_xid();
                self.started = now;
                let wait = self.backoff(0);
                self.st = St::Selecting {
                    next: now + wait,
                    sent: 1,
                };
                self.send_discover()
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
                self.new_xid();
                self.started = now;
                let wait = self.backoff(0);
                self.st = St::Rebooting {
                    address,
                    next: now + wait,
                    sent: 1,
                };
                self.request_sent_at = now;
                self.send_request(Some(address), None, None)
            }
            St::Rebooting { address, sent, .. } => {
                if sent > self.config.reboot_retransmissions {
                    self.st = St::Init { at: now };
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
            St::Probing {
                lease,
                probes,
                renewal,
                ..
            } => {
                if probes < PROBE_NUM {
                    let probes = probes + 1;
                    let wait = if probes < PROBE_NUM {
                        self.rand_between(PROBE_MIN, PROBE_MAX)
                    } else {
                        ANNOUNCE_WAIT
                    };
                    let address = lease.address;
                    self.st = St::Probing {
                        lease,
                        next: now + wait,
                        probes,
                        renewal,
                    };
                    Step::Arp(Arp {
                        kind: ArpKind::Probe,
                        address,
                    })
                } else {
                    // No conflict by the end of ANNOUNCE_WAIT: the address is ours.
                    self.st = self.bound(lease, Event::Bound, ANNOUNCE_NUM);
                    Step::Changed
                }
            }
            St::Bound {
                lease,
                announces,
                next_announce,
            } => {
                if announces > 0 && next_announce <= now {
                    let address = lease.address;
                    self.st = St::Bound {
                        lease,
                        announces: announces - 1,
                        next_announce: now + ANNOUNCE_INTERVAL,
                    };
                    Step::Arp(Arp {
                        kind: ArpKind::Announce,
                        address,
                    })
                } else {
                    // T1: RENEWING, unicast to the server (RFC 2131 §4.4.5).
                    self.new_xid();
                    self.started = now;
                    self.st = St::Renewing { lease, next: now };
                    Step::Changed
                }
            }
            St::Renewing { lease, .. } => {
                if lease.rebind_at() <= now {
                    // T2: REBINDING, broadcast.
                    self.new_xid();
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
                    return self.expired(lease);
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
            St::Extended {
                lease,
                next_request,
                next_arp,
                sent,
            } => {
                let address = lease.address;
                if next_arp <= now {
                    self.st = St::Extended {
                        lease,
                        next_request,
                        next_arp: now + EXTENDED_ARP_INTERVAL,
                        sent,
                    };
                    Step::Arp(Arp {
                        kind: ArpKind::Probe,
                        address,
                    })
                } else {
                    let wait = self.backoff(sent);
                    self.st = St::Extended {
                        lease,
                        next_request: now + wait,
                        next_arp,
                        sent: sent.saturating_add(1),
                    };
                    self.request_sent_at = now;
                    self.send_request(None, None, Some((address, Ipv4Addr::BROADCAST)))
                }
            }
            St::Released => {
                self.st = St::Released;
                Step::Idle
            }
        }
    }

    /// Lease expiry (spec §7): DHCPSTD=1 drops the address; DHCPSTD=0 keeps it and goes on
    /// broadcasting DHCPREQUEST with ARP checks every 5 s.
    fn expired(&mut self, lease: Lease) -> Step {
        let now = self.now;
        if self.config.dhcpstd {
            self.queue
                .push_back(Queued::Event(Event::Deconfigure(LostReason::Expired)));
            self.st = St::Init { at: now };
        } else {
            self.queue
                .push_back(Queued::Event(Event::ExtendedRebinding));
            self.new_xid();
            self.st = St::Extended {
                lease,
                next_request: now,
                next_arp: now,
                sent: 0,
            };
        }
        Step::Changed
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

    fn send(&mut self, o: &Outgoing, destination: Ipv4Addr, source: Ipv4Addr) -> Step {
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
        if matches!(o.kind, MessageType::Discover | MessageType::Request) {
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
            secs: if o.kind == MessageType::Release || o.kind == MessageType::Decline {
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

/// A yiaddr the phone can use: not 0.0.0.0, broadcast or multicast.
fn usable(a: Ipv4Addr) -> bool {
    !a.is_unspecified() && !a.is_broadcast() && !a.is_multicast()
}
