//! The lease the phone holds: what a DHCPACK gave (spec dhcp.md §3) and its timers
//! (RFC 2131 §4.4.5).

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::net::Ipv4Addr;
use core::time::Duration;

use phone_sansio::Instant;

use crate::message::Message;
use crate::options::DhcpOption;

/// Option 51's "infinite" value: no renew or rebind, even if 58/59 are present (spec §3).
pub const INFINITE: u32 = u32::MAX;
/// Shortest lease this client accepts as given; shorter ones (0 included) count as this long,
/// so a server cannot drive the renew loop at packet rate.
pub const MIN_LEASE_SECS: u32 = 10;

/// The renewal (T1) and rebinding (T2) times a lease uses, after sanitising.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timers {
    /// Lease length in seconds: [`INFINITE`], at least [`MIN_LEASE_SECS`] for a lease a server
    /// granted or an unexpired stored lease kept, 0 for an address reused by REUSETIME
    /// without a lease.
    pub lease: u32,
    /// T1 in seconds, `None` for an infinite lease.
    pub t1: Option<u32>,
    /// T2 in seconds, `None` for an infinite lease.
    pub t2: Option<u32>,
}

impl Timers {
    /// Sanitises what a server sent: an infinite lease has no T1/T2; otherwise
    /// T1 ≤ T2 ≤ lease, and a missing, zero or out-of-order value falls back to the RFC 2131
    /// §4.4.5 defaults 0.5 × lease and 0.875 × lease (spec dhcp.md §3).
    #[must_use]
    pub fn sanitise(lease: u32, t1: Option<u32>, t2: Option<u32>) -> Timers {
        if lease == INFINITE {
            return Timers {
                lease,
                t1: None,
                t2: None,
            };
        }
        let lease = lease.max(MIN_LEASE_SECS);
        let l = u64::from(lease);
        let default_t2 = u32::try_from(l * 7 / 8).unwrap_or(lease);
        let default_t1 = u32::try_from(l / 2).unwrap_or(lease);
        let t2 = match t2 {
            Some(v) if v > 0 && v <= lease => v,
            _ => default_t2,
        };
        let t1 = match t1 {
            Some(v) if v > 0 && v <= t2 => v,
            _ => default_t1.min(t2),
        };
        Timers {
            lease,
            t1: Some(t1),
            t2: Some(t2),
        }
    }
}

/// A lease from an earlier run, kept by the caller (the boot record): what INIT-REBOOT asks
/// for (RFC 2131 §3.2) and what REUSETIME reuses (spec dhcp.md §7).
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreviousLease {
    /// The address.
    pub address: Ipv4Addr,
    /// When the lease expires, on this run's clock (the caller converts its stored wall-clock
    /// expiry: `now + (expiry − wall clock now)`); [`Instant::MAX`] for an infinite lease;
    /// `None` when unknown. Only an unexpired lease is kept when the server is silent.
    pub expires: Option<Instant>,
    /// The server that granted it (option 54), if known: RELEASE and DECLINE go to it.
    pub server_id: Option<Ipv4Addr>,
    /// Option 1 of that lease.
    pub subnet_mask: Option<Ipv4Addr>,
    /// Option 3 of that lease.
    pub routers: Vec<Ipv4Addr>,
    /// Option 6 of that lease.
    pub dns_servers: Vec<Ipv4Addr>,
}

impl PreviousLease {
    /// Only the address is known (the expiry is not: the address is asked for, and reused
    /// only by REUSETIME).
    #[must_use]
    pub fn new(address: Ipv4Addr) -> PreviousLease {
        PreviousLease {
            address,
            expires: None,
            server_id: None,
            subnet_mask: None,
            routers: Vec::new(),
            dns_servers: Vec::new(),
        }
    }

    /// What to keep of `lease` (its expiry on the clock of the run that holds it).
    #[must_use]
    pub fn from_lease(lease: &Lease) -> PreviousLease {
        PreviousLease {
            address: lease.address,
            expires: Some(lease.expires_at()),
            server_id: (!lease.server_id.is_unspecified()).then_some(lease.server_id),
            subnet_mask: lease.subnet_mask,
            routers: lease.routers.clone(),
            dns_servers: lease.dns_servers.clone(),
        }
    }
}

/// The values of one DHCPACK (or OFFER) the lease is built from; `None` = not sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct AckFields {
    pub address: Ipv4Addr,
    pub server_id: Option<Ipv4Addr>,
    pub next_server: Option<Ipv4Addr>,
    pub subnet_mask: Option<Ipv4Addr>,
    pub routers: Option<Vec<Ipv4Addr>>,
    pub dns_servers: Option<Vec<Ipv4Addr>>,
    pub log_servers: Option<Vec<Ipv4Addr>>,
    pub ntp_servers: Option<Vec<Ipv4Addr>>,
    pub domain_name: Option<Vec<u8>>,
    pub mtu: Option<u16>,
    pub vendor_specific: Option<Vec<u8>>,
    pub sson: Option<Vec<u8>>,
    pub lease_time: Option<u32>,
    pub t1: Option<u32>,
    pub t2: Option<u32>,
}

impl AckFields {
    pub(crate) fn from_message(m: &Message<'_>) -> AckFields {
        let mut f = AckFields {
            address: m.yiaddr,
            server_id: None,
            next_server: (!m.siaddr.is_unspecified()).then_some(m.siaddr),
            subnet_mask: None,
            routers: None,
            dns_servers: None,
            log_servers: None,
            ntp_servers: None,
            domain_name: None,
            mtu: None,
            vendor_specific: None,
            sson: None,
            lease_time: None,
            t1: None,
            t2: None,
        };
        for o in &m.options {
            match o {
                DhcpOption::ServerIdentifier(a) => f.server_id = Some(*a),
                DhcpOption::SubnetMask(a) => f.subnet_mask = Some(*a),
                DhcpOption::Router(l) => f.routers = Some(l.to_vec()),
                DhcpOption::DomainNameServer(l) => f.dns_servers = Some(l.to_vec()),
                DhcpOption::LogServer(l) => f.log_servers = Some(l.to_vec()),
                DhcpOption::NtpServers(l) => f.ntp_servers = Some(l.to_vec()),
                DhcpOption::DomainName(v) => f.domain_name = Some(v.to_vec()),
                DhcpOption::InterfaceMtu(n) => f.mtu = Some(*n),
                DhcpOption::VendorSpecific(v) => f.vendor_specific = Some(v.to_vec()),
                DhcpOption::Sson { value, .. } => f.sson = Some(value.to_vec()),
                DhcpOption::LeaseTime(t) => f.lease_time = Some(*t),
                DhcpOption::RenewalTime(t) => f.t1 = Some(*t),
                DhcpOption::RebindingTime(t) => f.t2 = Some(*t),
                _ => {}
            }
        }
        f
    }
}

/// A lease: the address, the configuration that came with it, and its timers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    /// The leased address (yiaddr): IPADD.
    pub address: Ipv4Addr,
    /// The server that granted it (option 54); renewals are unicast to it. 0.0.0.0 for an
    /// address reused from a stored lease whose server is unknown (then the client rebinds by
    /// broadcast, and sends no DHCPRELEASE or DHCPDECLINE).
    pub server_id: Ipv4Addr,
    /// siaddr when non-zero: HTTPSRVR (spec §3).
    pub next_server: Option<Ipv4Addr>,
    /// Option 1: NETMASK.
    pub subnet_mask: Option<Ipv4Addr>,
    /// Option 3: ROUTER, in order.
    pub routers: Vec<Ipv4Addr>,
    /// Option 6: DNSSRVR, in order.
    pub dns_servers: Vec<Ipv4Addr>,
    /// Option 7: LOGSRVR.
    pub log_servers: Vec<Ipv4Addr>,
    /// Option 42: SNTPSRVR.
    pub ntp_servers: Vec<Ipv4Addr>,
    /// Option 15: DOMAIN.
    pub domain_name: Option<Vec<u8>>,
    /// Option 26: MTU_SIZE.
    pub mtu: Option<u16>,
    /// Option 43, raw (see [`crate::avaya::VendorOptions`]).
    pub vendor_specific: Option<Vec<u8>>,
    /// The SSON option, raw (see [`crate::sson_string`]).
    pub sson: Option<Vec<u8>>,
    /// Lease length and sanitised T1/T2.
    pub timers: Timers,
    /// When the lease started: the time its DHCPREQUEST was sent (RFC 2131 §4.4.1).
    pub acquired: Instant,
}

fn after(t: Instant, secs: Option<u32>) -> Instant {
    match secs {
        Some(s) => t + Duration::from_secs(u64::from(s)),
        None => Instant::MAX,
    }
}

fn list(addrs: &[Ipv4Addr]) -> String {
    let mut s = String::new();
    for (k, a) in addrs.iter().enumerate() {
        if k > 0 {
            s.push(',');
        }
        s.push_str(&format!("{a}"));
    }
    s
}

impl Lease {
    /// Builds a lease; `fallback_lease` stands in for a missing option 51 (the OFFER's value).
    pub(crate) fn new(
        f: AckFields,
        server_id: Ipv4Addr,
        fallback_lease: u32,
        acquired: Instant,
    ) -> Lease {
        Lease {
            address: f.address,
            server_id: f.server_id.unwrap_or(server_id),
            next_server: f.next_server,
            subnet_mask: f.subnet_mask,
            routers: f.routers.unwrap_or_default(),
            dns_servers: f.dns_servers.unwrap_or_default(),
            log_servers: f.log_servers.unwrap_or_default(),
            ntp_servers: f.ntp_servers.unwrap_or_default(),
            domain_name: f.domain_name,
            mtu: f.mtu,
            vendor_specific: f.vendor_specific,
            sson: f.sson,
            timers: Timers::sanitise(f.lease_time.unwrap_or(fallback_lease), f.t1, f.t2),
            acquired,
        }
    }

    /// A lease built from a stored one, used without a DHCPACK from `now` on. `timers` are
    /// T1 = T2 = now (rebind at once) and the time left, or no lease at all (REUSETIME).
    pub(crate) fn reused(p: &PreviousLease, timers: Timers, now: Instant) -> Lease {
        Lease {
            address: p.address,
            server_id: p.server_id.unwrap_or(Ipv4Addr::UNSPECIFIED),
            next_server: None,
            subnet_mask: p.subnet_mask,
            routers: p.routers.clone(),
            dns_servers: p.dns_servers.clone(),
            log_servers: Vec::new(),
            ntp_servers: Vec::new(),
            domain_name: None,
            mtu: None,
            vendor_specific: None,
            sson: None,
            timers,
            acquired: now,
        }
    }

    /// Whether the server that granted the lease is known (RELEASE, DECLINE and RENEWING
    /// need it).
    #[must_use]
    pub fn server_known(&self) -> bool {
        !self.server_id.is_unspecified()
    }

    /// Merges a renewal DHCPACK: what it carries replaces, what it omits stays, so a server that
    /// leaves out the router or netmask on renewal does not deconfigure the phone.
    pub(crate) fn merge(&mut self, f: AckFields, acquired: Instant) {
        self.address = f.address;
        if let Some(s) = f.server_id {
            self.server_id = s;
        }
        self.next_server = f.next_server.or(self.next_server);
        self.subnet_mask = f.subnet_mask.or(self.subnet_mask);
        if let Some(v) = f.routers {
            self.routers = v;
        }
        if let Some(v) = f.dns_servers {
            self.dns_servers = v;
        }
        if let Some(v) = f.log_servers {
            self.log_servers = v;
        }
        if let Some(v) = f.ntp_servers {
            self.ntp_servers = v;
        }
        if f.domain_name.is_some() {
            self.domain_name = f.domain_name;
        }
        self.mtu = f.mtu.or(self.mtu);
        if f.vendor_specific.is_some() {
            self.vendor_specific = f.vendor_specific;
        }
        if f.sson.is_some() {
            self.sson = f.sson;
        }
        let lease = f.lease_time.unwrap_or(self.timers.lease);
        self.timers = Timers::sanitise(lease, f.t1, f.t2);
        self.acquired = acquired;
    }

    /// When RENEWING starts (T1); [`Instant::MAX`] for an infinite lease.
    #[must_use]
    pub fn renew_at(&self) -> Instant {
        after(self.acquired, self.timers.t1)
    }

    /// When REBINDING starts (T2); [`Instant::MAX`] for an infinite lease.
    #[must_use]
    pub fn rebind_at(&self) -> Instant {
        after(self.acquired, self.timers.t2)
    }

    /// When the lease expires; [`Instant::MAX`] for an infinite lease.
    #[must_use]
    pub fn expires_at(&self) -> Instant {
        if self.timers.lease == INFINITE {
            Instant::MAX
        } else {
            after(self.acquired, Some(self.timers.lease))
        }
    }

    /// The standard-option parameters this lease sets, as the phone names them (spec §3):
    /// IPADD, NETMASK, ROUTER, DNSSRVR, LOGSRVR, DOMAIN, MTU_SIZE, SNTPSRVR, HTTPSRVR. Only
    /// what the server sent is listed (IPADD always). Option 43 and the SSON come after these
    /// and override them (Decision 6); the caller applies those.
    #[must_use]
    pub fn parameters(&self) -> Vec<(&'static str, String)> {
        let mut p = Vec::new();
        p.push(("IPADD", format!("{}", self.address)));
        if let Some(m) = self.subnet_mask {
            p.push(("NETMASK", format!("{m}")));
        }
        if !self.routers.is_empty() {
            p.push(("ROUTER", list(&self.routers)));
        }
        if !self.dns_servers.is_empty() {
            p.push(("DNSSRVR", list(&self.dns_servers)));
        }
        if !self.log_servers.is_empty() {
            p.push(("LOGSRVR", list(&self.log_servers)));
        }
        if let Some(d) = &self.domain_name {
            p.push(("DOMAIN", String::from_utf8_lossy(d).into_owned()));
        }
        if let Some(m) = self.mtu {
            p.push(("MTU_SIZE", format!("{m}")));
        }
        if !self.ntp_servers.is_empty() {
            p.push(("SNTPSRVR", list(&self.ntp_servers)));
        }
        if let Some(s) = self.next_server {
            p.push(("HTTPSRVR", format!("{s}")));
        }
        p
    }
}
