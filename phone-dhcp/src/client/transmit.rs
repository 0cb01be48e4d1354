//! Timers and transmissions: the RFC 2131 §4.1 schedule, what is built when the caller takes a
//! datagram (commit on take), and what a failed send undoes.

use super::*;

impl<R: Rng> Client<R> {
    /// RFC 2131 §4.1: 4, 8, 16, 32, 64, 64, ... s for retry 0, 1, 2, ..., each ±1 s.
    pub(super) fn backoff(&mut self, retry: u32) -> Duration {
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
    pub(super) fn new_exchange(&mut self, clock: bool) {
        self.new_xid = true;
        self.new_clock |= clock;
    }

    pub(super) fn step(&mut self) -> Step {
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
    pub(super) fn expired(&mut self, lease: Lease) {
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

    pub(super) fn send_one_shot(&mut self, q: Queued) -> Option<Transmit> {
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

    pub(super) fn send_discover(&mut self) -> Step {
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
    pub(super) fn send_request(
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
    pub(super) fn send(&mut self, o: &Outgoing, destination: Ipv4Addr, source: Ipv4Addr) -> Step {
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

    /// The caller could not send the last datagram it took: see the module docs.
    pub(super) fn udp_failed(&mut self) {
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

    pub(super) fn arp_failed(&mut self) {
        if self.last_arp.take() == Some(ArpFrom::Acd)
            && let Some(acd) = self.acd.as_mut()
        {
            acd.handle_input(phone_sansio::Input::TransportFailed(self.now, ()));
        }
    }
}
