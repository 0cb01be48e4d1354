//! Server replies (RFC 2131 §4.4): OFFER, ACK and NAK in each state, refusals (spec §3, RFC
//! 1122 §3.2.1.3, RFC 6890), and what an accepted ACK leads to (the probe, BOUND).

use super::*;

impl<R: Rng> Client<R> {
    pub(super) fn receive(&mut self, bytes: &[u8]) {
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
    pub(super) fn expects(&self, kind: MessageType) -> bool {
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
    pub(super) fn renewed(&mut self, st: St, fields: AckFields, acquired: Instant) -> St {
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

    pub(super) fn refuse(&mut self, server: Ipv4Addr, why: Refusal) {
        self.queue
            .push_back(Queued::Event(Event::Refused(server, why)));
    }

    /// An OFFER is taken if it has a usable yiaddr, option 54 and option 51 (spec §3).
    pub(super) fn check_offer(
        &mut self,
        m: &Message<'_>,
        server: Option<Ipv4Addr>,
    ) -> Option<Offered> {
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
    pub(super) fn acked(&mut self, lease: Lease, renewal: bool) -> St {
        self.previous = None;
        self.reuse_at = None;
        self.probe(lease, renewal, None)
    }

    pub(super) fn probe(&mut self, lease: Lease, renewal: bool, reuse: Option<Reuse>) -> St {
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

    pub(super) fn bound(&mut self, lease: Lease, event: Event) -> St {
        self.naks = 0;
        self.conflicts = 0;
        self.vlan_deadline = None;
        self.queue.push_back(Queued::Event(event));
        St::Bound { lease }
    }

    /// DHCPNAK: back to INIT at once the first time, with growing back-off when NAKs repeat.
    pub(super) fn nak(&mut self, server: Option<Ipv4Addr>) {
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
}
