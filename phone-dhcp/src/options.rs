//! DHCP options (RFC 2132): the typed ones the phone sends and uses, the rest kept raw.
//!
//! A decoded option's value borrows from the packet unless RFC 3396 concatenation had to join
//! several instances, in which case it owns the joined bytes ([`Cow`]).

use alloc::borrow::Cow;
use alloc::vec::Vec;
use core::net::Ipv4Addr;

/// Option codes this crate knows by name (RFC 2132 unless noted).
pub mod code {
    /// Pad (RFC 2132 §3.1): one byte, no length.
    pub const PAD: u8 = 0;
    /// Subnet mask.
    pub const SUBNET_MASK: u8 = 1;
    /// Routers, in order of preference.
    pub const ROUTER: u8 = 3;
    /// Domain name servers.
    pub const DOMAIN_NAME_SERVER: u8 = 6;
    /// Log (syslog) servers.
    pub const LOG_SERVER: u8 = 7;
    /// Client host name.
    pub const HOST_NAME: u8 = 12;
    /// Domain name.
    pub const DOMAIN_NAME: u8 = 15;
    /// Interface MTU.
    pub const INTERFACE_MTU: u8 = 26;
    /// NTP servers.
    pub const NTP_SERVERS: u8 = 42;
    /// Vendor-specific information (Avaya sub-options, see [`crate::avaya`]).
    pub const VENDOR_SPECIFIC: u8 = 43;
    /// Requested IP address.
    pub const REQUESTED_IP_ADDRESS: u8 = 50;
    /// IP address lease time, seconds.
    pub const LEASE_TIME: u8 = 51;
    /// Option overload (RFC 2132 §9.3).
    pub const OVERLOAD: u8 = 52;
    /// DHCP message type.
    pub const MESSAGE_TYPE: u8 = 53;
    /// Server identifier.
    pub const SERVER_IDENTIFIER: u8 = 54;
    /// Parameter request list.
    pub const PARAMETER_REQUEST_LIST: u8 = 55;
    /// Maximum DHCP message size.
    pub const MAX_MESSAGE_SIZE: u8 = 57;
    /// Renewal (T1) time, seconds.
    pub const RENEWAL_TIME: u8 = 58;
    /// Rebinding (T2) time, seconds.
    pub const REBINDING_TIME: u8 = 59;
    /// Vendor class identifier.
    pub const VENDOR_CLASS_IDENTIFIER: u8 = 60;
    /// Client identifier.
    pub const CLIENT_IDENTIFIER: u8 = 61;
    /// The default site-specific option number of the SSON (spec dhcp.md §5).
    pub const DEFAULT_SSON: u8 = 242;
    /// End (RFC 2132 §3.2): one byte, no length.
    pub const END: u8 = 255;
}

/// The option number that carries the SSON string: the SSON parameter, 128–254, default 242
/// (spec dhcp.md §5; MIB draft `endptSSON`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SsonCode(u8);

impl SsonCode {
    /// The default, 242.
    pub const DEFAULT: SsonCode = SsonCode(code::DEFAULT_SSON);

    /// The SSON option number if it lies in the site-specific range 128–254.
    #[must_use]
    pub const fn new(code: u8) -> Option<SsonCode> {
        if code >= 128 && code <= 254 {
            Some(SsonCode(code))
        } else {
            None
        }
    }

    /// The option number.
    #[must_use]
    pub const fn get(self) -> u8 {
        self.0
    }
}

impl Default for SsonCode {
    fn default() -> Self {
        SsonCode::DEFAULT
    }
}

/// DHCP message type (option 53, RFC 2132 §9.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MessageType {
    /// DHCPDISCOVER (1).
    Discover,
    /// DHCPOFFER (2).
    Offer,
    /// DHCPREQUEST (3).
    Request,
    /// DHCPDECLINE (4).
    Decline,
    /// DHCPACK (5).
    Ack,
    /// DHCPNAK (6).
    Nak,
    /// DHCPRELEASE (7).
    Release,
    /// DHCPINFORM (8).
    Inform,
    /// Any other value; build it with `MessageType::from(n)` so 1–8 get their names.
    Other(u8),
}

impl From<u8> for MessageType {
    fn from(v: u8) -> Self {
        match v {
            1 => MessageType::Discover,
            2 => MessageType::Offer,
            3 => MessageType::Request,
            4 => MessageType::Decline,
            5 => MessageType::Ack,
            6 => MessageType::Nak,
            7 => MessageType::Release,
            8 => MessageType::Inform,
            n => MessageType::Other(n),
        }
    }
}

impl From<MessageType> for u8 {
    fn from(t: MessageType) -> u8 {
        match t {
            MessageType::Discover => 1,
            MessageType::Offer => 2,
            MessageType::Request => 3,
            MessageType::Decline => 4,
            MessageType::Ack => 5,
            MessageType::Nak => 6,
            MessageType::Release => 7,
            MessageType::Inform => 8,
            MessageType::Other(n) => n,
        }
    }
}

/// Which fixed fields carry options (option 52, RFC 2132 §9.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Overload {
    /// The `file` field holds options (1).
    File,
    /// The `sname` field holds options (2).
    Sname,
    /// Both fields hold options (3).
    Both,
}

impl Overload {
    /// The option value, 1–3.
    #[must_use]
    pub const fn value(self) -> u8 {
        match self {
            Overload::File => 1,
            Overload::Sname => 2,
            Overload::Both => 3,
        }
    }

    /// The overload for an option value, if valid.
    #[must_use]
    pub const fn from_value(v: u8) -> Option<Overload> {
        match v {
            1 => Some(Overload::File),
            2 => Some(Overload::Sname),
            3 => Some(Overload::Both),
            _ => None,
        }
    }

    /// Whether the `file` field holds options.
    #[must_use]
    pub const fn file(self) -> bool {
        matches!(self, Overload::File | Overload::Both)
    }

    /// Whether the `sname` field holds options.
    #[must_use]
    pub const fn sname(self) -> bool {
        matches!(self, Overload::Sname | Overload::Both)
    }
}

/// A non-empty list of IPv4 addresses as carried on the wire (4 bytes each).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Ipv4List<'a>(Cow<'a, [u8]>);

impl<'a> Ipv4List<'a> {
    /// Wraps wire bytes if they form a non-empty list (length a multiple of 4).
    #[must_use]
    pub fn from_wire(bytes: Cow<'a, [u8]>) -> Option<Self> {
        if !bytes.is_empty() && bytes.len().is_multiple_of(4) {
            Some(Ipv4List(bytes))
        } else {
            None
        }
    }

    /// Builds a list from addresses; `None` if there are none.
    #[must_use]
    pub fn from_addrs(addrs: &[Ipv4Addr]) -> Option<Ipv4List<'static>> {
        if addrs.is_empty() {
            return None;
        }
        let bytes: Vec<u8> = addrs.iter().flat_map(Ipv4Addr::octets).collect();
        Some(Ipv4List(Cow::Owned(bytes)))
    }

    /// The addresses in order.
    pub fn iter(&self) -> impl Iterator<Item = Ipv4Addr> + '_ {
        self.0
            .chunks_exact(4)
            .map(|c| Ipv4Addr::new(c[0], c[1], c[2], c[3]))
    }

    /// The addresses, copied.
    #[must_use]
    pub fn to_vec(&self) -> Vec<Ipv4Addr> {
        self.iter().collect()
    }

    /// The number of addresses (at least 1).
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len() / 4
    }

    /// Always false: the list is non-empty by construction.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The wire bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The same list, owning its bytes.
    #[must_use]
    pub fn into_owned(self) -> Ipv4List<'static> {
        Ipv4List(Cow::Owned(self.0.into_owned()))
    }
}

/// One DHCP option, typed where the phone sends or uses it (spec dhcp.md §2, §3).
///
/// A typed code whose value does not have the right shape (a subnet mask of 3 bytes, a router
/// list of 6) is kept as [`DhcpOption::Other`], so nothing a server sent is lost. Option 52
/// never appears in a decoded message: it is framing, read and written by the codec itself.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum DhcpOption<'a> {
    /// 1: subnet mask (NETMASK).
    SubnetMask(Ipv4Addr),
    /// 3: routers (ROUTER).
    Router(Ipv4List<'a>),
    /// 6: DNS servers (DNSSRVR).
    DomainNameServer(Ipv4List<'a>),
    /// 7: log servers (LOGSRVR).
    LogServer(Ipv4List<'a>),
    /// 12: host name.
    HostName(Cow<'a, [u8]>),
    /// 15: domain name (DOMAIN).
    DomainName(Cow<'a, [u8]>),
    /// 26: interface MTU (MTU_SIZE).
    InterfaceMtu(u16),
    /// 42: NTP servers (SNTPSRVR).
    NtpServers(Ipv4List<'a>),
    /// 43: vendor-specific information, raw; see [`crate::avaya::VendorOptions`].
    VendorSpecific(Cow<'a, [u8]>),
    /// 50: requested IP address.
    RequestedIpAddress(Ipv4Addr),
    /// 51: lease time in seconds; `0xFFFFFFFF` is infinite.
    LeaseTime(u32),
    /// 52: option overload. Only for [`DhcpOption::parse`]; the message codec handles it.
    Overload(Overload),
    /// 53: message type.
    MessageType(MessageType),
    /// 54: server identifier.
    ServerIdentifier(Ipv4Addr),
    /// 55: parameter request list.
    ParameterRequestList(Cow<'a, [u8]>),
    /// 57: maximum DHCP message size.
    MaxMessageSize(u16),
    /// 58: renewal time T1, seconds.
    RenewalTime(u32),
    /// 59: rebinding time T2, seconds.
    RebindingTime(u32),
    /// 60: vendor class identifier.
    VendorClassIdentifier(Cow<'a, [u8]>),
    /// 61: client identifier.
    ClientIdentifier(Cow<'a, [u8]>),
    /// The site-specific option carrying the SSON string (default 242), raw bytes as sent
    /// (a trailing NUL included; [`crate::sson_string`] strips it).
    Sson {
        /// The option number it was sent under.
        code: u8,
        /// The raw value.
        value: Cow<'a, [u8]>,
    },
    /// Any other option, or a typed code whose value was malformed, kept raw.
    Other {
        /// The option number (never 0, 52 or 255 in a decoded message).
        code: u8,
        /// The raw value.
        value: Cow<'a, [u8]>,
    },
}

fn addr(v: &[u8]) -> Option<Ipv4Addr> {
    let b: [u8; 4] = v.try_into().ok()?;
    Some(Ipv4Addr::from(b))
}

fn u32_of(v: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(v.try_into().ok()?))
}

fn u16_of(v: &[u8]) -> Option<u16> {
    Some(u16::from_be_bytes(v.try_into().ok()?))
}

impl<'a> DhcpOption<'a> {
    /// Types one (already concatenated) option value. Never fails: a malformed value of a
    /// typed code stays raw as [`DhcpOption::Other`].
    #[must_use]
    pub fn parse(option: u8, value: Cow<'a, [u8]>, sson: SsonCode) -> DhcpOption<'a> {
        let typed = match option {
            code::SUBNET_MASK => addr(&value).map(DhcpOption::SubnetMask),
            code::ROUTER => Ipv4List::from_wire(value.clone()).map(DhcpOption::Router),
            code::DOMAIN_NAME_SERVER => {
                Ipv4List::from_wire(value.clone()).map(DhcpOption::DomainNameServer)
            }
            code::LOG_SERVER => Ipv4List::from_wire(value.clone()).map(DhcpOption::LogServer),
            code::HOST_NAME => Some(DhcpOption::HostName(value.clone())),
            code::DOMAIN_NAME => Some(DhcpOption::DomainName(value.clone())),
            code::INTERFACE_MTU => u16_of(&value).map(DhcpOption::InterfaceMtu),
            code::NTP_SERVERS => Ipv4List::from_wire(value.clone()).map(DhcpOption::NtpServers),
            code::VENDOR_SPECIFIC => Some(DhcpOption::VendorSpecific(value.clone())),
            code::REQUESTED_IP_ADDRESS => addr(&value).map(DhcpOption::RequestedIpAddress),
            code::LEASE_TIME => u32_of(&value).map(DhcpOption::LeaseTime),
            code::OVERLOAD => match *value {
                [v] => Overload::from_value(v).map(DhcpOption::Overload),
                _ => None,
            },
            code::MESSAGE_TYPE => match *value {
                [v] => Some(DhcpOption::MessageType(MessageType::from(v))),
                _ => None,
            },
            code::SERVER_IDENTIFIER => addr(&value).map(DhcpOption::ServerIdentifier),
            code::PARAMETER_REQUEST_LIST => Some(DhcpOption::ParameterRequestList(value.clone())),
            code::MAX_MESSAGE_SIZE => u16_of(&value).map(DhcpOption::MaxMessageSize),
            code::RENEWAL_TIME => u32_of(&value).map(DhcpOption::RenewalTime),
            code::REBINDING_TIME => u32_of(&value).map(DhcpOption::RebindingTime),
            code::VENDOR_CLASS_IDENTIFIER => Some(DhcpOption::VendorClassIdentifier(value.clone())),
            code::CLIENT_IDENTIFIER => Some(DhcpOption::ClientIdentifier(value.clone())),
            c if c == sson.get() => Some(DhcpOption::Sson {
                code: c,
                value: value.clone(),
            }),
            _ => None,
        };
        typed.unwrap_or(DhcpOption::Other {
            code: option,
            value,
        })
    }

    /// The option number.
    #[must_use]
    pub fn code(&self) -> u8 {
        match self {
            DhcpOption::SubnetMask(_) => code::SUBNET_MASK,
            DhcpOption::Router(_) => code::ROUTER,
            DhcpOption::DomainNameServer(_) => code::DOMAIN_NAME_SERVER,
            DhcpOption::LogServer(_) => code::LOG_SERVER,
            DhcpOption::HostName(_) => code::HOST_NAME,
            DhcpOption::DomainName(_) => code::DOMAIN_NAME,
            DhcpOption::InterfaceMtu(_) => code::INTERFACE_MTU,
            DhcpOption::NtpServers(_) => code::NTP_SERVERS,
            DhcpOption::VendorSpecific(_) => code::VENDOR_SPECIFIC,
            DhcpOption::RequestedIpAddress(_) => code::REQUESTED_IP_ADDRESS,
            DhcpOption::LeaseTime(_) => code::LEASE_TIME,
            DhcpOption::Overload(_) => code::OVERLOAD,
            DhcpOption::MessageType(_) => code::MESSAGE_TYPE,
            DhcpOption::ServerIdentifier(_) => code::SERVER_IDENTIFIER,
            DhcpOption::ParameterRequestList(_) => code::PARAMETER_REQUEST_LIST,
            DhcpOption::MaxMessageSize(_) => code::MAX_MESSAGE_SIZE,
            DhcpOption::RenewalTime(_) => code::RENEWAL_TIME,
            DhcpOption::RebindingTime(_) => code::REBINDING_TIME,
            DhcpOption::VendorClassIdentifier(_) => code::VENDOR_CLASS_IDENTIFIER,
            DhcpOption::ClientIdentifier(_) => code::CLIENT_IDENTIFIER,
            DhcpOption::Sson { code, .. } | DhcpOption::Other { code, .. } => *code,
        }
    }

    /// The wire value. Fixed-size values are written into `scratch`.
    #[must_use]
    pub fn value<'s>(&'s self, scratch: &'s mut [u8; 4]) -> &'s [u8] {
        match self {
            DhcpOption::SubnetMask(a)
            | DhcpOption::RequestedIpAddress(a)
            | DhcpOption::ServerIdentifier(a) => {
                *scratch = a.octets();
                &scratch[..]
            }
            DhcpOption::Router(l)
            | DhcpOption::DomainNameServer(l)
            | DhcpOption::LogServer(l)
            | DhcpOption::NtpServers(l) => l.as_bytes(),
            DhcpOption::HostName(v)
            | DhcpOption::DomainName(v)
            | DhcpOption::VendorSpecific(v)
            | DhcpOption::ParameterRequestList(v)
            | DhcpOption::VendorClassIdentifier(v)
            | DhcpOption::ClientIdentifier(v)
            | DhcpOption::Sson { value: v, .. }
            | DhcpOption::Other { value: v, .. } => v,
            DhcpOption::InterfaceMtu(n) | DhcpOption::MaxMessageSize(n) => {
                scratch[..2].copy_from_slice(&n.to_be_bytes());
                &scratch[..2]
            }
            DhcpOption::LeaseTime(n)
            | DhcpOption::RenewalTime(n)
            | DhcpOption::RebindingTime(n) => {
                *scratch = n.to_be_bytes();
                &scratch[..]
            }
            DhcpOption::Overload(o) => {
                scratch[0] = o.value();
                &scratch[..1]
            }
            DhcpOption::MessageType(t) => {
                scratch[0] = u8::from(*t);
                &scratch[..1]
            }
        }
    }
}
