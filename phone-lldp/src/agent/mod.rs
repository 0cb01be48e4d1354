//! The phone's LLDP-MED agent (link.md §1, Decision 13) as a Sans-IO machine: [`Agent`].
//!
//! **Driving it.** Send every [`Transmit`]'s payload in an Ethernet frame to
//! [`LLDP_MULTICAST`] with ethertype [`ETHERTYPE_LLDP`], untagged, on the line interface. Feed
//! the payload of every LLDP frame received there (after the Ethernet header) as
//! `Input::Receive(now, (), payload)`, and a frame that could not be sent as
//! `Input::TransportFailed(now, ())`. Changes of what the phone says about itself come as
//! [`Command`]s.
//!
//! **Sending** ([`Mode`], LLDP_ENABLED): with 1, fast start at link-up (when the agent is
//! made): [`AgentConfig::fast_start_count`] frames [`FAST_INTERVAL`] apart, then one every
//! LLDP_XMIT_SECS; with 2, nothing until a valid LLDP frame from a neighbour was received, then
//! the same; with 0, nothing at all. The first frame from a MED-capable neighbour not known
//! before starts fast start again (TIA-1057 §11.2.1). A change of what the phone says (address,
//! VLAN, name) sends a frame at once, never less than [`FAST_INTERVAL`] after the last. The
//! frames are those of an Endpoint Class III device (Decision 13): Chassis ID and Port ID (MAC),
//! TTL (4 × LLDP_XMIT_SECS), System Name, System Description, System Capabilities (telephone),
//! Management Address, LLDP-MED Capabilities, the voice Network Policy and the Inventory.
//!
//! **Receiving.** Each neighbour (Chassis ID + Port ID) is kept for its TTL, at most
//! [`MAX_NEIGHBOURS`] (a further one is ignored). A voice Network Policy (application 1, not
//! "unknown") gives [`Event::VoicePolicy`]; the same policy refreshed says nothing again. A
//! frame with TTL 0 from that neighbour, a frame from it without the policy, or its TTL running
//! out gives [`Event::PolicyWithdrawn`] (or the policy of another neighbour, if one gives one).
//! A malformed frame is ignored ([`Stats::dropped`]); a malformed TLV drops that TLV only.
//!
//! **Commit on take.** The fast-start count and the transmit timer move when the caller takes
//! a frame from `poll_output`. A frame reported failed does not count: it is sent again
//! [`FAST_INTERVAL`] later with the same fast-start position; after [`MAX_SEND_FAILURES`] in a
//! row the agent waits the full interval.

mod config;
mod event;

use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;
use core::net::Ipv4Addr;

use phone_sansio::{Input, Instant, Machine, Output};

pub use config::{
    AgentConfig, DEFAULT_FAST_START_COUNT, DEFAULT_VOICE_DSCP, DEFAULT_VOICE_PRIORITY,
    DEFAULT_XMIT_INTERVAL, FAST_INTERVAL, MAX_FAST_START_COUNT, MAX_XMIT_INTERVAL,
    MIN_XMIT_INTERVAL, Mode, TX_HOLD,
};
pub use event::{Event, VoicePolicy};

use crate::frame::{
    ADDRESS_IPV4, Capabilities, IF_UNKNOWN, Id, Inventory, Lldpdu, MAX_INVENTORY_LEN,
    ManagementAddress, MedCapabilities, NetworkPolicy, cap, med,
};

/// The nearest-bridge group address LLDP frames go to.
pub const LLDP_MULTICAST: [u8; 6] = [0x01, 0x80, 0xc2, 0x00, 0x00, 0x0e];
/// The LLDP ethertype.
pub const ETHERTYPE_LLDP: u16 = 0x88cc;
/// Neighbours kept at once.
pub const MAX_NEIGHBOURS: usize = 4;
/// Frames that may fail in a row before the agent stops retrying early.
pub const MAX_SEND_FAILURES: u8 = 3;
/// LLDP-MED capabilities the phone announces: capabilities, network policy, inventory.
pub const MED_CAPABILITIES: u16 =
    med::cap::CAPABILITIES | med::cap::NETWORK_POLICY | med::cap::INVENTORY;

/// A frame to send: the LLDPDU, to be framed by the driver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// The LLDPDU (Ethernet payload).
    pub payload: Vec<u8>,
}

/// What the phone tells the agent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command<'a> {
    /// The phone's IPv4 address (once known, or gone).
    ManagementAddress(Option<Ipv4Addr>),
    /// The voice policy in use, advertised in the Network Policy TLV.
    VoicePolicy(NetworkPolicy),
    /// The System Name (the DHCP host name).
    SystemName(&'a str),
    /// Stop: a last frame with TTL 0 tells the neighbours to forget the phone (when any frame
    /// was sent), then nothing more is sent or received. A voice policy in force is withdrawn
    /// ([`Event::PolicyWithdrawn`]).
    Shutdown,
}

/// Counters for tests and diagnostics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Frames taken by the caller.
    pub sent: u64,
    /// Valid frames from neighbours.
    pub received: u64,
    /// Frames ignored as malformed.
    pub dropped: u64,
    /// Neighbours ignored because the table was full.
    pub neighbours_ignored: u64,
    /// Typed TLVs dropped as malformed in frames received.
    pub malformed_tlvs: u64,
}

#[derive(Clone, Debug)]
struct Neighbour {
    chassis_id: Id,
    port_id: Id,
    expires: Instant,
    policy: Option<VoicePolicy>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct TxState {
    fast_left: u8,
    next: Instant,
}

/// The LLDP-MED agent: [`Machine`] with `Peer` = `()` (the line interface), [`Command`],
/// [`Transmit`] and [`Event`].
///
/// ```
/// use phone_lldp::{Agent, AgentConfig, Lldpdu, Mode};
/// use phone_sansio::{Instant, Machine, Output};
///
/// let mut cfg = AgentConfig::for_mac([0, 4, 0x0d, 1, 2, 3]);
/// cfg.mode = Mode::On;
/// let mut agent = Agent::new(cfg, Instant::ZERO);
/// let Output::Transmit(t) = agent.poll_output() else { panic!() };
/// let sent = Lldpdu::decode(&t.payload)?;
/// assert_eq!(sent.ttl, 120);
/// assert_eq!(sent.med_capabilities.map(|m| m.device_type), Some(3));
/// // Fast start: the next frame one second later.
/// assert_eq!(agent.poll_output(), Output::Timeout(Instant::from_secs(1)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct Agent {
    config: AgentConfig,
    now: Instant,
    /// Frames go out (LLDP_ENABLED 1, or 2 after a frame was received).
    transmitting: bool,
    tx: TxState,
    last_sent: Option<Instant>,
    /// The state before the last take, while its fate is unknown.
    undo: Option<TxState>,
    failures: u8,
    shutdown: Shutdown,
    neighbours: Vec<Neighbour>,
    /// The policy reported last, and the neighbour it came from.
    policy: Option<(VoicePolicy, Id, Id)>,
    events: VecDeque<Event>,
    stats: Stats,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shutdown {
    No,
    /// The TTL 0 frame is due.
    Pending,
    Done,
}

/// `s` cut to at most `max` bytes on a character boundary.
fn cut(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    String::from(&s[..end])
}

impl Agent {
    /// The agent at link-up `now`.
    #[must_use]
    pub fn new(mut config: AgentConfig, now: Instant) -> Agent {
        config.xmit_interval = config
            .xmit_interval
            .clamp(MIN_XMIT_INTERVAL, MAX_XMIT_INTERVAL);
        config.fast_start_count = config.fast_start_count.clamp(1, MAX_FAST_START_COUNT);
        let transmitting = config.mode == Mode::On;
        Agent {
            tx: TxState {
                fast_left: if transmitting {
                    config.fast_start_count
                } else {
                    0
                },
                next: now,
            },
            config,
            now,
            transmitting,
            last_sent: None,
            undo: None,
            failures: 0,
            shutdown: Shutdown::No,
            neighbours: Vec::new(),
            policy: None,
            events: VecDeque::new(),
            stats: Stats::default(),
        }
    }

    /// The configuration in use (with the changes commands made).
    #[must_use]
    pub fn config(&self) -> &AgentConfig {
        &self.config
    }

    /// The voice policy in force (learned from a neighbour), if any.
    #[must_use]
    pub fn voice_policy(&self) -> Option<VoicePolicy> {
        self.policy.as_ref().map(|(p, ..)| *p)
    }

    /// Neighbours known now.
    #[must_use]
    pub fn neighbours(&self) -> usize {
        self.neighbours.len()
    }

    /// Whether frames are being sent.
    #[must_use]
    pub fn transmitting(&self) -> bool {
        self.transmitting && self.shutdown == Shutdown::No
    }

    /// Fast-start frames still to send.
    #[must_use]
    pub fn fast_start_left(&self) -> u8 {
        self.tx.fast_left
    }

    /// Counters.
    #[must_use]
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// The LLDPDU the phone sends now.
    #[must_use]
    pub fn frame(&self) -> Lldpdu {
        let c = &self.config;
        let mut f = Lldpdu::new(Id::chassis_mac(c.mac), Id::port_mac(c.mac), c.ttl());
        let name = cut(&c.system_name, 255);
        f.system_name = (!name.is_empty()).then_some(name);
        let descr = cut(&c.system_description, 255);
        f.system_description = (!descr.is_empty()).then_some(descr);
        f.capabilities = Some(Capabilities {
            supported: cap::TELEPHONE,
            enabled: cap::TELEPHONE,
        });
        if let Some(a) = c.management_address {
            f.management_addresses.push(ManagementAddress {
                subtype: ADDRESS_IPV4,
                address: a.octets().to_vec(),
                if_subtype: IF_UNKNOWN,
                if_number: 0,
                oid: Vec::new(),
            });
        }
        f.med_capabilities = Some(MedCapabilities {
            capabilities: MED_CAPABILITIES,
            device_type: med::CLASS_III,
        });
        let p = c.voice_policy;
        f.network_policies
            .push(NetworkPolicy::voice(p.tagged, p.vlan, p.priority, p.dscp));
        let inv = |v: &Option<String>| {
            v.as_deref()
                .filter(|s| !s.is_empty())
                .map(|s| cut(s, MAX_INVENTORY_LEN))
        };
        let i = &c.inventory;
        f.inventory = Inventory {
            hardware_revision: inv(&i.hardware_revision),
            firmware_revision: inv(&i.firmware_revision),
            software_revision: inv(&i.software_revision),
            serial_number: inv(&i.serial_number),
            manufacturer: inv(&i.manufacturer),
            model: inv(&i.model),
            asset_id: inv(&i.asset_id),
        };
        f
    }

    /// The earliest a frame may go: now, but not within [`FAST_INTERVAL`] of the last.
    fn soonest(&self) -> Instant {
        self.last_sent
            .map_or(self.now, |l| self.now.max(l + FAST_INTERVAL))
    }

    fn fast_start(&mut self) {
        self.tx = TxState {
            fast_left: self.config.fast_start_count,
            next: self.soonest(),
        };
        self.failures = 0;
    }

    fn changed_locally(&mut self) {
        if self.transmitting() {
            self.tx.next = self.tx.next.min(self.soonest());
        }
    }

    fn on_frame(&mut self, bytes: &[u8]) {
        let Ok(f) = Lldpdu::decode(bytes) else {
            self.stats.dropped += 1;
            return;
        };
        if f.chassis_id == Id::chassis_mac(self.config.mac) {
            // Our own frame, looped back.
            return;
        }
        self.stats.received += 1;
        self.stats.malformed_tlvs += u64::from(f.malformed);
        let now = self.now;
        let known = self
            .neighbours
            .iter()
            .position(|n| n.chassis_id == f.chassis_id && n.port_id == f.port_id);
        if f.ttl == 0 {
            if let Some(i) = known {
                self.neighbours.swap_remove(i);
                self.recompute();
            }
            return;
        }
        let policy = f.voice_policy().map(VoicePolicy::from);
        let expires = now.saturating_add(core::time::Duration::from_secs(u64::from(f.ttl)));
        let med = f.med_capabilities.is_some();
        match known {
            Some(i) => {
                let n = &mut self.neighbours[i];
                n.expires = expires;
                n.policy = policy;
            }
            None if self.neighbours.len() >= MAX_NEIGHBOURS => {
                self.stats.neighbours_ignored += 1;
                return;
            }
            None => {
                self.neighbours.push(Neighbour {
                    chassis_id: f.chassis_id.clone(),
                    port_id: f.port_id.clone(),
                    expires,
                    policy,
                });
                self.events.push_back(Event::Neighbour {
                    chassis_id: f.chassis_id,
                    port_id: f.port_id,
                    system_name: f.system_name,
                    med,
                });
                if self.config.mode != Mode::Off && self.shutdown == Shutdown::No {
                    let first = !self.transmitting;
                    self.transmitting = true;
                    if med {
                        self.fast_start();
                    } else if first {
                        self.tx = TxState {
                            fast_left: 0,
                            next: self.soonest(),
                        };
                    }
                }
            }
        }
        self.recompute();
    }

    /// Drops neighbours whose TTL ran out.
    fn expire(&mut self) {
        let now = self.now;
        let before = self.neighbours.len();
        self.neighbours.retain(|n| n.expires > now);
        if self.neighbours.len() != before {
            self.recompute();
        }
    }

    /// The policy in force: the current source's while it still gives one, else the policy of
    /// the first neighbour giving one. Reports a change.
    fn recompute(&mut self) {
        let current = self.policy.as_ref().and_then(|(_, c, p)| {
            self.neighbours
                .iter()
                .find(|n| n.chassis_id == *c && n.port_id == *p)
                .and_then(|n| n.policy.map(|v| (v, n)))
        });
        let chosen = current.or_else(|| {
            self.neighbours
                .iter()
                .find_map(|n| n.policy.map(|v| (v, n)))
        });
        let next = chosen.map(|(v, n)| (v, n.chassis_id.clone(), n.port_id.clone()));
        let old = self.policy.as_ref().map(|(p, ..)| *p);
        let new = next.as_ref().map(|(p, ..)| *p);
        self.policy = next;
        match (old, new) {
            (o, Some(p)) if o != Some(p) => self.events.push_back(Event::VoicePolicy {
                vlan: p.vlan,
                tagged: p.tagged,
                priority: p.priority,
                dscp: p.dscp,
            }),
            (Some(_), None) => self.events.push_back(Event::PolicyWithdrawn),
            _ => {}
        }
    }

    fn send_failed(&mut self) {
        let Some(before) = self.undo.take() else {
            return;
        };
        if self.shutdown != Shutdown::No {
            return;
        }
        self.failures = self.failures.saturating_add(1);
        let now = self.now;
        self.tx = if self.failures > MAX_SEND_FAILURES {
            TxState {
                fast_left: 0,
                next: now + self.config.xmit_interval,
            }
        } else {
            TxState {
                fast_left: before.fast_left,
                next: now + FAST_INTERVAL,
            }
        };
    }

    fn deadline(&self) -> Instant {
        let tx = match self.shutdown {
            Shutdown::Pending => self.now,
            Shutdown::No if self.transmitting => self.tx.next,
            _ => Instant::MAX,
        };
        self.neighbours
            .iter()
            .map(|n| n.expires)
            .fold(tx, Instant::min)
    }

    /// Takes a frame: the timer and fast-start count move now.
    fn take(&mut self, frame: &Lldpdu) -> Output<Transmit, Event> {
        let Ok(payload) = frame.encode() else {
            // Every field is cut to its bound above; should it not encode, nothing is sent
            // and the timer moves on so the agent cannot spin.
            self.tx.next = self.now + self.config.xmit_interval;
            return Output::Timeout(self.deadline());
        };
        if self.undo.is_some() {
            // The previous take was not reported failed.
            self.failures = 0;
        }
        self.undo = Some(self.tx);
        let now = self.now;
        self.tx.fast_left = self.tx.fast_left.saturating_sub(1);
        self.tx.next = now
            + if self.tx.fast_left > 0 {
                FAST_INTERVAL
            } else {
                self.config.xmit_interval
            };
        self.last_sent = Some(now);
        self.stats.sent += 1;
        Output::Transmit(Transmit { payload })
    }
}

impl Machine for Agent {
    type Peer = ();
    type Command<'a> = Command<'a>;
    type Transmit = Transmit;
    type Event = Event;

    fn handle_input(&mut self, input: Input<'_, (), Command<'_>>) {
        self.now = self.now.max(input.now());
        if self.config.mode == Mode::Off || self.shutdown == Shutdown::Done {
            return;
        }
        self.expire();
        match input {
            Input::Receive(_, (), bytes) => {
                if self.shutdown == Shutdown::No {
                    self.on_frame(bytes);
                }
            }
            Input::TransportFailed(..) => self.send_failed(),
            Input::Command(_, c) => match c {
                Command::ManagementAddress(a) => {
                    if self.config.management_address != a {
                        self.config.management_address = a;
                        self.changed_locally();
                    }
                }
                Command::VoicePolicy(p) => {
                    if self.config.voice_policy != p {
                        self.config.voice_policy = p;
                        self.changed_locally();
                    }
                }
                Command::SystemName(n) => {
                    let n = cut(n, 255);
                    if self.config.system_name != n {
                        self.config.system_name = n;
                        self.changed_locally();
                    }
                }
                Command::Shutdown => {
                    self.shutdown = if self.last_sent.is_some() {
                        Shutdown::Pending
                    } else {
                        Shutdown::Done
                    };
                    self.neighbours.clear();
                    self.recompute();
                    self.undo = None;
                }
            },
            Input::Timeout(_) | Input::Completed(..) | Input::Closed(..) => {}
        }
    }

    fn poll_output(&mut self) -> Output<Transmit, Event> {
        if let Some(e) = self.events.pop_front() {
            return Output::Event(e);
        }
        match self.shutdown {
            Shutdown::Done => return Output::Timeout(Instant::MAX),
            Shutdown::Pending => {
                self.shutdown = Shutdown::Done;
                let c = &self.config;
                let f = Lldpdu::new(Id::chassis_mac(c.mac), Id::port_mac(c.mac), 0);
                self.stats.sent += 1;
                return match f.encode() {
                    Ok(payload) => Output::Transmit(Transmit { payload }),
                    Err(_) => Output::Timeout(Instant::MAX),
                };
            }
            Shutdown::No => {}
        }
        if self.transmitting && self.config.mode != Mode::Off && self.tx.next <= self.now {
            let f = self.frame();
            return self.take(&f);
        }
        Output::Timeout(self.deadline())
    }

    fn poll_timeout(&self) -> Option<Instant> {
        if self.events.is_empty() {
            phone_sansio::deadline(self.deadline())
        } else {
            Some(self.now)
        }
    }
}
