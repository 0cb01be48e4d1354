//! The address while it is probed, held and lost: RFC 5227 conflicts through the [`Acd`]
//! sub-machine, the router check (spec §8), REUSETIME and RFC 2131 §3.2 reuse (spec §7), VLAN
//! changes (spec §6), release.

use super::*;

impl<R: Rng> Client<R> {
    /// REUSETIME counts while DHCP runs untagged or on VLAN 0 with a previous address.
    pub(super) fn arm_reuse(&mut self) {
        if self.previous.is_some()
            && !matches!(self.vlan, Vlan::Tagged(_))
            && let Some(after) = self.config.reuse_after()
        {
            self.reuse_at = Some(self.now + after);
        }
    }

    /// REUSETIME ran out without a lease (spec §7): probe the previous address and keep it in
    /// extended rebinding.
    pub(super) fn reuse_time_expired(&mut self) {
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
    pub(super) fn reboot_silent(&mut self, address: Ipv4Addr) -> St {
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

    /// Takes the lease out of the state (if any): queues a DHCPRELEASE first when `release`
    /// (and the server is known), then the deconfigure event if the address was in use. Stops
    /// the conflict detector and the router check.
    pub(super) fn give_up_lease(&mut self, why: LostReason, release: bool) -> Option<Lease> {
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

    pub(super) fn release(&mut self) {
        self.give_up_lease(LostReason::Released, true);
        self.vlan_deadline = None;
        self.reuse_at = None;
        self.st = St::Released;
    }

    /// An ARP packet on the interface: the router check's answer, or a conflict for the
    /// conflict detector to judge (RFC 5227 §2.1.1, §2.4).
    pub(super) fn arp(&mut self, bytes: &[u8]) {
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

    pub(super) fn on_acd_event(&mut self, e: AcdEvent) {
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
    pub(super) fn acd_ready(&mut self) {
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
    pub(super) fn conflict(&mut self, address: Ipv4Addr) {
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

    /// Spec §8: ARP the option 3 routers in order until one answers.
    pub(super) fn start_router_check(&mut self, lease: &Lease) {
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

    /// The extended-rebinding ARP check or the router check, when due.
    pub(super) fn periodic_arp(&mut self) -> Option<ArpPacket> {
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

    pub(super) fn start_vlan(&mut self, vid: u16, vlantest: u16) {
        self.vlan = Vlan::Tagged(vid);
        self.vlan_deadline =
            (vlantest != 0).then(|| self.now + Duration::from_secs(u64::from(vlantest)));
        self.reuse_at = None;
        self.queue.push_back(Queued::Event(Event::Vlan(self.vlan)));
    }

    /// VLANTEST ran out before a lease (spec §6): L2Q=1 goes on priority-tagged, L2Q=0
    /// untagged, and the VLAN is not tried again.
    pub(super) fn vlan_test_expired(&mut self) {
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

    pub(super) fn voice_vlan(&mut self, l2q: L2q, vid: u16, vlantest: u16) {
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
}
