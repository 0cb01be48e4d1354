//! What survives a reboot (spec/README.md "Kept across reboots"), as one versioned record the
//! caller stores: the lease address (INIT-REBOOT), the settings of the last good boot, the
//! TRUSTCERTS files, the SCEP key and certificate, the SIP credentials, the firmware slots (and
//! so the running application's name) and the craft values.
//!
//! # Encoding, version 2 (all integers big-endian)
//!
//! ```text
//! magic     4  b"PHBR"
//! version   1  2
//! body_len  4  bytes of the fields that follow (up to the record checksum)
//! fields       each: tag u8, len u32, value (len bytes), crc32(tag, len, value) u32
//!              ... the last one: tag 0 (end), len 4, value = number of fields before it
//! crc32     4  CRC-32 of every byte before it
//! ```
//!
//! Values: addresses 4 bytes; settings the phone-settings encoding; a trusted certificate
//! `u32 name_len, name, pem`; the identity (one field, so it is kept or lost whole)
//! `u32 key_len, key, u32 cert_len, cert, u32 n, n × (u32 len, ca)`; the credentials (one field)
//! `u32 user_len, user, password`; the slots their text form; the static address 16 bytes
//! (address, mask, router, file server); SSON 1 byte; GROUP 2 bytes; the lease terms (tag 15)
//! `u64 expires_unix` (`u64::MAX` = infinite), `u32 lease_secs`, server id 4, mask 4 (0.0.0.0 =
//! none), `u8 n, n × router 4`, `u8 n, n × DNS server 4`.
//!
//! # Adding a field keeps the version
//!
//! Every reader of version 2 skips a tag it does not know (checked like any field: its
//! checksum, the field count of the end field), so a field is added without a version change
//! and firmware rolled back to the other slot (flash/: a trial slot that fails falls back)
//! still reads everything it knows: the lease terms (tag 15) were added that way. A bump to
//! version 3 would make every older reader refuse the whole record, and so lose the SCEP
//! identity, the credentials and the trust store on a rollback. The version changes only when
//! an existing field's layout does.
//!
//! # Time in the record
//!
//! The phone's clocks ([`phone_sansio::Instant`]) start again at each power-on, so a lease's
//! expiry is stored as wall-clock time (seconds since the Unix epoch), from
//! [`super::BootConfig::unix_at_zero`]: the phone's RTC, or the time kept from its last SNTP
//! sync. At the next power-on [`LeaseTerms::expires_on`] turns it back into an `Instant` on the
//! new clock. A wall clock that is behind the time the lease was granted (an RTC reset, no
//! time source) cannot say how much of the lease is left: the expiry is then unknown, and the
//! phone asks for the address (INIT-REBOOT) but does not keep it when no server answers.
//!
//! CRC-32 is `phone_settings::encoding::crc32` (CRC-32/ISO-HDLC from the `crc` crate), the one
//! checksum of everything the phone stores. The record checksum makes [`Record::decode`] refuse
//! every damaged record: a CRC-32 detects every single-bit error and every burst up to 32 bits,
//! and `body_len` and the end field detect every truncation, so a torn write or a flipped bit is
//! a typed [`RecordError`], never a different record (issue 12: 13 prefixes and 234 of 362
//! single-bit flips of a version-1 record decoded silently as another record). The per-field
//! checksums let [`Record::decode_lenient`] keep what is intact of a damaged record: the phone
//! boots from the fields that check out, from defaults for the rest, and says what it lost.
//!
//! Every field is validated on load, whichever decoder: addresses are usable unicast host
//! addresses (RFC 1122 §3.2.1.3, RFC 6890), a mask is contiguous (/1–/31) and the static address
//! is neither its subnet's network nor broadcast address, the router is on that subnet, the
//! SSON option is 128–254 and GROUP 0–999 (spec/parameters.md), texts are UTF-8 without control
//! characters, the settings decode as a settings store, the slots as a slot record, and every
//! size is bounded. A version-1 record (no checksum) is still read by
//! [`Record::decode_lenient`], validated the same way and reported as unchecked, so a phone
//! upgraded from it keeps its identity; the next store writes version 2.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;
use core::net::Ipv4Addr;

use phone_settings::encoding::crc32;

use crate::flash::{BadRecord, BootRecord};

const MAGIC: &[u8; 4] = b"PHBR";
/// The version this code writes.
pub const VERSION: u8 = 2;
/// The version before checksums, still read by [`Record::decode_lenient`].
pub const VERSION_UNCHECKED: u8 = 1;
/// Most fields (and list entries) a record may hold, the end field not counted.
pub const MAX_FIELDS: usize = 64;
/// Most bytes one field's value may hold (a settings store encoding is about 1 MiB at most).
pub const MAX_FIELD_BYTES: usize = 2 * 1024 * 1024;
/// Most bytes a whole record may hold.
pub const MAX_RECORD_BYTES: usize = 8 * 1024 * 1024;
/// Longest SIP user or password, and TRUSTCERTS file name, kept.
pub const MAX_TEXT: usize = 255;

/// magic, version, body_len.
const HEADER: usize = 9;
/// tag, len.
const FIELD_HEAD: usize = 5;
const CRC: usize = 4;

const T_END: u8 = 0;
const T_LEASE: u8 = 1;
const T_SETTINGS: u8 = 2;
const T_TRUST: u8 = 3;
const T_SCEP_KEY: u8 = 4;
const T_SCEP_CERT: u8 = 5;
const T_SCEP_CA: u8 = 6;
const T_USER: u8 = 7;
const T_PASSWORD: u8 = 8;
const T_SLOTS: u8 = 9;
const T_STATIC: u8 = 10;
const T_SSON: u8 = 11;
const T_GROUP: u8 = 12;
/// Version 2: key, certificate and CAs in one field (tags 4–6 are version 1 only).
const T_IDENTITY: u8 = 13;
/// Version 2: user and password in one field (tags 7–8 are version 1 only).
const T_CREDENTIALS: u8 = 14;
/// Version 2, added later (a reader that predates it skips it): [`Record::lease_terms`].
const T_LEASE_TERMS: u8 = 15;
/// The highest tag this version knows.
const T_LAST: u8 = T_LEASE_TERMS;
/// Most routers or DNS servers kept of a lease.
pub const MAX_LEASE_ADDRS: usize = 16;

/// A static address entered through craft (ADDR); it makes the boot skip DHCP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StaticAddress {
    /// The phone's address.
    pub address: Ipv4Addr,
    /// The subnet mask.
    pub mask: Ipv4Addr,
    /// The router (gateway), or unspecified for none.
    pub router: Ipv4Addr,
    /// A file server (HTTPSRVR), or unspecified for none.
    pub file_server: Ipv4Addr,
}

/// Whether `a` may be a host's own unicast address (RFC 1122 §3.2.1.3, RFC 6890): not
/// 0.0.0.0/8 ("this network"), 127.0.0.0/8 (loopback), 224.0.0.0/4 (multicast) or
/// 240.0.0.0/4 (reserved, and the limited broadcast 255.255.255.255).
#[must_use]
pub fn is_host_address(a: Ipv4Addr) -> bool {
    let first = a.octets()[0];
    first != 0 && first != 127 && first < 224
}

impl StaticAddress {
    /// The prefix length of a contiguous mask from /1 to /31, else `None`.
    #[must_use]
    pub fn prefix_len(mask: Ipv4Addr) -> Option<u32> {
        let m = u32::from(mask);
        let len = m.leading_ones();
        (m.checked_shl(len).unwrap_or(0) == 0 && (1..=31).contains(&len)).then_some(len)
    }

    /// Whether this is an address a phone can configure: a host address (see
    /// [`is_host_address`]) with a contiguous mask of /1–/31 that is neither the network nor the
    /// broadcast address of its subnet (below /31), a router that is unspecified or a host
    /// address on that subnet other than the phone's, and a file server that is unspecified or a
    /// host address.
    ///
    /// # Errors
    /// The first thing wrong, as an [`Invalid`].
    pub fn check(&self) -> Result<(), Invalid> {
        if !is_host_address(self.address) {
            return Err(Invalid::Address(self.address));
        }
        let len = Self::prefix_len(self.mask).ok_or(Invalid::Mask(self.mask))?;
        let mask = u32::from(self.mask);
        let addr = u32::from(self.address);
        if len < 31 {
            let host = addr & !mask;
            if host == 0 || host == !mask {
                return Err(Invalid::Address(self.address));
            }
        }
        if !self.router.is_unspecified() {
            let r = u32::from(self.router);
            if !is_host_address(self.router) || r & mask != addr & mask || r == addr {
                return Err(Invalid::Router(self.router));
            }
            if len < 31 && (r & !mask == 0 || r & !mask == !mask) {
                return Err(Invalid::Router(self.router));
            }
        }
        if !self.file_server.is_unspecified() && !is_host_address(self.file_server) {
            return Err(Invalid::Address(self.file_server));
        }
        Ok(())
    }
}

/// Values entered through craft access; they outrank every other source (Decision 6).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Craft {
    /// ADDR: a static address, `None` = DHCP.
    pub static_address: Option<StaticAddress>,
    /// The SSON option number (128–254), `None` = the default 242.
    pub sson: Option<u8>,
    /// GROUP (0–999), `None` = not entered.
    pub group: Option<u16>,
}

/// The SCEP identity kept across reboots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The private key, PKCS#8 DER.
    pub key_pkcs8: Vec<u8>,
    /// The issued certificate, DER.
    pub certificate: Vec<u8>,
    /// The CA certificates, DER, the issuing CA first.
    pub ca: Vec<Vec<u8>>,
}

/// The terms of the last lease, kept with [`Record::lease_address`] so that REBOOTING keeps
/// the address for the rest of the lease when no server answers (RFC 2131 §3.2). See the
/// module docs, "Time in the record".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseTerms {
    /// When the lease ends, wall-clock seconds since the Unix epoch; `None` for an infinite
    /// lease.
    pub expires_unix: Option<u64>,
    /// The lease length granted, seconds (`u32::MAX` for an infinite lease).
    pub lease_secs: u32,
    /// The server that granted it (option 54), if known.
    pub server_id: Option<Ipv4Addr>,
    /// Option 1.
    pub subnet_mask: Option<Ipv4Addr>,
    /// Option 3 (at most [`MAX_LEASE_ADDRS`]).
    pub routers: Vec<Ipv4Addr>,
    /// Option 6 (at most [`MAX_LEASE_ADDRS`]).
    pub dns_servers: Vec<Ipv4Addr>,
}

impl LeaseTerms {
    /// The terms of `lease`, whose clock started at wall-clock `unix_at_zero`.
    #[must_use]
    pub fn of(lease: &phone_dhcp::Lease, unix_at_zero: core::time::Duration) -> Self {
        let expires = lease.expires_at();
        let expires_unix = (expires != phone_sansio::Instant::MAX).then(|| {
            unix_at_zero
                .saturating_add(expires.since_origin())
                .as_secs()
        });
        LeaseTerms {
            expires_unix,
            lease_secs: if expires_unix.is_none() {
                u32::MAX
            } else {
                lease.timers.lease.min(u32::MAX - 1)
            },
            server_id: lease.server_known().then_some(lease.server_id),
            subnet_mask: lease.subnet_mask,
            routers: lease
                .routers
                .iter()
                .copied()
                .take(MAX_LEASE_ADDRS)
                .collect(),
            dns_servers: lease
                .dns_servers
                .iter()
                .copied()
                .take(MAX_LEASE_ADDRS)
                .collect(),
        }
    }

    /// When the lease ends on the clock of this power-on: `now` is that clock's time and
    /// `unix_now` the wall-clock time at `now`. [`phone_sansio::Instant::MAX`] for an infinite
    /// lease, `now` for one that has ended, `None` when the wall clock is behind the time the
    /// lease was granted (it cannot be trusted to say what is left).
    #[must_use]
    pub fn expires_on(
        &self,
        now: phone_sansio::Instant,
        unix_now: core::time::Duration,
    ) -> Option<phone_sansio::Instant> {
        let Some(expires) = self.expires_unix else {
            return Some(phone_sansio::Instant::MAX);
        };
        let granted = expires.saturating_sub(u64::from(self.lease_secs));
        let unix_now = unix_now.as_secs();
        if unix_now < granted {
            return None;
        }
        Some(now.saturating_add(core::time::Duration::from_secs(
            expires.saturating_sub(unix_now),
        )))
    }

    /// The previous lease for the DHCP client (INIT-REBOOT, RFC 2131 §3.2) at `now`.
    #[must_use]
    pub fn previous(
        &self,
        address: Ipv4Addr,
        now: phone_sansio::Instant,
        unix_now: core::time::Duration,
    ) -> phone_dhcp::PreviousLease {
        let mut p = phone_dhcp::PreviousLease::new(address);
        p.expires = self.expires_on(now, unix_now);
        p.server_id = self.server_id;
        p.subnet_mask = self.subnet_mask;
        p.routers.clone_from(&self.routers);
        p.dns_servers.clone_from(&self.dns_servers);
        p
    }

    /// The field's byte form (module docs; also how a trace stores it).
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(24 + 4 * (self.routers.len() + self.dns_servers.len()));
        b.extend_from_slice(&self.expires_unix.unwrap_or(u64::MAX).to_be_bytes());
        b.extend_from_slice(&self.lease_secs.to_be_bytes());
        for a in [self.server_id, self.subnet_mask] {
            b.extend_from_slice(&a.unwrap_or(Ipv4Addr::UNSPECIFIED).octets());
        }
        for list in [&self.routers, &self.dns_servers] {
            let n = list.len().min(MAX_LEASE_ADDRS);
            b.push(u8::try_from(n).unwrap_or(0));
            for a in &list[..n] {
                b.extend_from_slice(&a.octets());
            }
        }
        b
    }

    /// Reads [`LeaseTerms::to_bytes`]'s form, validated.
    ///
    /// # Errors
    /// [`Invalid`] for a wrong length, a server id, router or DNS server that is not a host
    /// address, a mask that is not contiguous, more than [`MAX_LEASE_ADDRS`] addresses.
    pub fn from_bytes(body: &[u8]) -> Result<Self, Invalid> {
        let (e, rest) = body.split_at_checked(8).ok_or(Invalid::Length)?;
        let (l, rest) = rest.split_at_checked(4).ok_or(Invalid::Length)?;
        let (sid, rest) = rest.split_at_checked(4).ok_or(Invalid::Length)?;
        let (mask, mut rest) = rest.split_at_checked(4).ok_or(Invalid::Length)?;
        let mut e8 = [0u8; 8];
        e8.copy_from_slice(e);
        let expires = u64::from_be_bytes(e8);
        let lease_secs = be32(l);
        // Infinite on both or on neither.
        if (expires == u64::MAX) != (lease_secs == u32::MAX) {
            return Err(Invalid::Length);
        }
        let server_id = match ipv4(sid)? {
            a if a.is_unspecified() => None,
            a => Some(host(&a.octets())?),
        };
        let subnet_mask = match ipv4(mask)? {
            m if m.is_unspecified() => None,
            m => {
                let v = u32::from(m);
                if v.checked_shl(v.leading_ones()).unwrap_or(0) != 0 {
                    return Err(Invalid::Mask(m));
                }
                Some(m)
            }
        };
        let mut lists: [Vec<Ipv4Addr>; 2] = [Vec::new(), Vec::new()];
        for list in &mut lists {
            let (&n, tail) = rest.split_first().ok_or(Invalid::Length)?;
            let n = usize::from(n);
            if n > MAX_LEASE_ADDRS {
                return Err(Invalid::TooMany);
            }
            let (addrs, tail) = tail.split_at_checked(4 * n).ok_or(Invalid::Length)?;
            for a in addrs.chunks_exact(4) {
                list.push(host(a)?);
            }
            rest = tail;
        }
        if !rest.is_empty() {
            return Err(Invalid::Length);
        }
        let [routers, dns_servers] = lists;
        Ok(LeaseTerms {
            expires_unix: (expires != u64::MAX).then_some(expires),
            lease_secs,
            server_id,
            subnet_mask,
            routers,
            dns_servers,
        })
    }
}

/// The persistent record of one phone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record {
    /// The address of the last lease, for INIT-REBOOT (RFC 2131 §3.2).
    pub lease_address: Option<Ipv4Addr>,
    /// The terms of that lease (its expiry in wall-clock time, server, mask, routers); only
    /// with [`Record::lease_address`].
    pub lease_terms: Option<LeaseTerms>,
    /// The settings store of the last boot that obtained its files (phone-settings encoding).
    pub settings: Option<Vec<u8>>,
    /// TRUSTCERTS files by name (PEM).
    pub trust_certs: Vec<(String, Vec<u8>)>,
    /// The SCEP key and certificate.
    pub identity: Option<Identity>,
    /// SIP credentials (extension, password) from the login prompt.
    pub credentials: Option<(String, String)>,
    /// The firmware slots; the active slot's application is the running one.
    pub slots: Option<BootRecord>,
    /// Craft values.
    pub craft: Craft,
}

/// One kind of field of the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Field {
    /// The end field (the number of fields before it).
    End,
    /// [`Record::lease_address`].
    LeaseAddress,
    /// [`Record::settings`].
    Settings,
    /// One entry of [`Record::trust_certs`].
    TrustCert,
    /// [`Identity::key_pkcs8`].
    ScepKey,
    /// [`Identity::certificate`].
    ScepCert,
    /// One entry of [`Identity::ca`].
    ScepCa,
    /// The SIP user of [`Record::credentials`].
    User,
    /// The SIP password of [`Record::credentials`].
    Password,
    /// [`Record::slots`].
    Slots,
    /// [`Craft::static_address`].
    StaticAddress,
    /// [`Craft::sson`].
    Sson,
    /// [`Craft::group`].
    Group,
    /// [`Record::identity`] (version 2).
    Identity,
    /// [`Record::credentials`] (version 2).
    Credentials,
    /// [`Record::lease_terms`] (version 2, tag 15).
    LeaseTerms,
    /// A tag this version does not know (a newer writer's field).
    Unknown(u8),
}

impl Field {
    const fn of(tag: u8) -> Field {
        match tag {
            T_END => Field::End,
            T_LEASE => Field::LeaseAddress,
            T_SETTINGS => Field::Settings,
            T_TRUST => Field::TrustCert,
            T_SCEP_KEY => Field::ScepKey,
            T_SCEP_CERT => Field::ScepCert,
            T_SCEP_CA => Field::ScepCa,
            T_USER => Field::User,
            T_PASSWORD => Field::Password,
            T_SLOTS => Field::Slots,
            T_STATIC => Field::StaticAddress,
            T_SSON => Field::Sson,
            T_GROUP => Field::Group,
            T_IDENTITY => Field::Identity,
            T_CREDENTIALS => Field::Credentials,
            T_LEASE_TERMS => Field::LeaseTerms,
            t => Field::Unknown(t),
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Field::End => f.write_str("end of record"),
            Field::LeaseAddress => f.write_str("lease address"),
            Field::Settings => f.write_str("settings"),
            Field::TrustCert => f.write_str("trusted certificate"),
            Field::ScepKey => f.write_str("SCEP key"),
            Field::ScepCert => f.write_str("SCEP certificate"),
            Field::ScepCa => f.write_str("SCEP CA certificate"),
            Field::User => f.write_str("SIP user"),
            Field::Password => f.write_str("SIP password"),
            Field::Slots => f.write_str("firmware slots"),
            Field::StaticAddress => f.write_str("static address"),
            Field::Sson => f.write_str("SSON option"),
            Field::Group => f.write_str("GROUP"),
            Field::Identity => f.write_str("SCEP identity"),
            Field::Credentials => f.write_str("SIP credentials"),
            Field::LeaseTerms => f.write_str("lease terms"),
            Field::Unknown(t) => write!(f, "field {t}"),
        }
    }
}

/// What is wrong with one field's value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Invalid {
    /// The value has the wrong size for its field, or is over its bound.
    #[error("wrong length")]
    Length,
    /// Not a usable unicast host address (RFC 1122 §3.2.1.3, RFC 6890), or the network or
    /// broadcast address of its subnet.
    #[error("{0} is not a usable host address")]
    Address(Ipv4Addr),
    /// Not a contiguous mask of /1 to /31.
    #[error("{0} is not a usable subnet mask")]
    Mask(Ipv4Addr),
    /// Not a host address on the phone's subnet, or the phone's own address.
    #[error("router {0} is not a host on the phone's subnet")]
    Router(Ipv4Addr),
    /// Not UTF-8, empty where a value is needed, too long, or holding a control character.
    #[error("not a valid text")]
    Text,
    /// Not DER (a SEQUENCE), or empty.
    #[error("not a DER structure")]
    Der,
    /// An SSON option number outside 128–254.
    #[error("SSON option {0} outside 128-254")]
    Sson(u8),
    /// A GROUP outside 0–999.
    #[error("GROUP {0} outside 0-999")]
    Group(u16),
    /// The settings do not decode as a settings store.
    #[error("settings: {0}")]
    Settings(phone_settings::DecodeError),
    /// The slot record does not decode.
    #[error("firmware slots: {0}")]
    Slots(BadRecord),
    /// A field that may appear once appears again.
    #[error("appears twice")]
    Duplicate,
    /// More entries than [`MAX_FIELDS`] allows.
    #[error("too many entries")]
    TooMany,
    /// A part without its partner: a key without its certificate (or a CA without either), a
    /// user without a password (version 1); lease terms without a lease address.
    #[error("incomplete")]
    Incomplete,
}

/// Why a record, or part of it, could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// The magic is missing: not a boot record.
    #[error("not a boot record")]
    Magic,
    /// A version this code does not read.
    #[error("boot record version {0} not supported")]
    Version(u8),
    /// The record ends before its header, its declared length or a field (a torn write).
    #[error("boot record truncated at byte {0}")]
    Truncated(usize),
    /// Bytes after the declared length.
    #[error("{0} bytes after the end of the boot record")]
    TrailingBytes(usize),
    /// The record's checksum does not match: some byte changed.
    #[error("boot record checksum mismatch")]
    Checksum,
    /// One field's checksum does not match.
    #[error("boot record: {field} at byte {at} damaged (checksum mismatch)")]
    FieldChecksum {
        /// The field as its (possibly damaged) tag says.
        field: Field,
        /// Offset of the field.
        at: usize,
    },
    /// One field's value is invalid.
    #[error("boot record: {field} invalid: {problem}")]
    Field {
        /// The field.
        field: Field,
        /// What is wrong with it.
        problem: Invalid,
    },
    /// The end field is missing, or counts another number of fields.
    #[error("boot record has no valid end field")]
    MissingEnd,
    /// More fields than [`MAX_FIELDS`], or more bytes than [`MAX_RECORD_BYTES`].
    #[error("boot record too large")]
    TooMany,
    /// A version-1 record: read without a checksum (its fields were validated); the next store
    /// writes version 2.
    #[error("boot record version 1 has no checksum; read unchecked")]
    Unchecked,
}

/// What [`Record::decode_lenient`] made of stored bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Salvaged {
    /// The record: every field that checked out; defaults for the rest.
    pub record: Record,
    /// What was wrong, in the order found; empty when the record was intact. Each entry says
    /// what was lost (a field, or everything from a byte on).
    pub damage: Vec<RecordError>,
}

impl Salvaged {
    /// Whether the record was read whole and intact.
    #[must_use]
    pub fn is_intact(&self) -> bool {
        self.damage.is_empty()
    }
}

/// Append one field (tag, len, value, field CRC).
fn put(out: &mut Vec<u8>, tag: u8, value: &[u8]) {
    let start = out.len();
    out.push(tag);
    out.extend_from_slice(&u32::try_from(value.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(value);
    let crc = crc32(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

/// Append `u32 len, bytes`.
fn push_sized(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&u32::try_from(bytes.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// `u32 len, first, rest` (a trusted certificate, the credentials).
fn pair(first: &[u8], rest: &[u8]) -> Vec<u8> {
    let mut inner = Vec::with_capacity(first.len() + rest.len() + 4);
    push_sized(&mut inner, first);
    inner.extend_from_slice(rest);
    inner
}

/// Split `u32 len, bytes` off the front of `b`.
fn take_sized(b: &[u8]) -> Result<(&[u8], &[u8]), Invalid> {
    let (n, tail) = b.split_at_checked(4).ok_or(Invalid::Length)?;
    let n = usize::try_from(be32(n)).map_err(|_| Invalid::Length)?;
    tail.split_at_checked(n).ok_or(Invalid::Length)
}

fn identity_bytes(id: &Identity) -> Vec<u8> {
    let mut out = Vec::new();
    push_sized(&mut out, &id.key_pkcs8);
    push_sized(&mut out, &id.certificate);
    out.extend_from_slice(&u32::try_from(id.ca.len()).unwrap_or(u32::MAX).to_be_bytes());
    for ca in &id.ca {
        push_sized(&mut out, ca);
    }
    out
}

fn identity(body: &[u8]) -> Result<Identity, Invalid> {
    let (key, rest) = take_sized(body)?;
    let (cert, rest) = take_sized(rest)?;
    let (n, mut rest) = rest.split_at_checked(4).ok_or(Invalid::Length)?;
    let n = usize::try_from(be32(n)).map_err(|_| Invalid::Length)?;
    if n > MAX_FIELDS {
        return Err(Invalid::TooMany);
    }
    let mut ca = Vec::new();
    for _ in 0..n {
        let (c, tail) = take_sized(rest)?;
        ca.push(der(c)?);
        rest = tail;
    }
    if !rest.is_empty() {
        return Err(Invalid::Length);
    }
    Ok(Identity {
        key_pkcs8: der(key)?,
        certificate: der(cert)?,
        ca,
    })
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

fn ipv4(bytes: &[u8]) -> Result<Ipv4Addr, Invalid> {
    let b: [u8; 4] = bytes.try_into().map_err(|_| Invalid::Length)?;
    Ok(Ipv4Addr::from(b))
}

fn host(bytes: &[u8]) -> Result<Ipv4Addr, Invalid> {
    let a = ipv4(bytes)?;
    if is_host_address(a) {
        Ok(a)
    } else {
        Err(Invalid::Address(a))
    }
}

/// UTF-8, at most [`MAX_TEXT`] bytes, no control characters, non-empty if `required`.
fn text(bytes: &[u8], required: bool) -> Result<String, Invalid> {
    let s = core::str::from_utf8(bytes).map_err(|_| Invalid::Text)?;
    if s.len() > MAX_TEXT || (required && s.is_empty()) || s.chars().any(char::is_control) {
        return Err(Invalid::Text);
    }
    Ok(s.to_string())
}

fn der(bytes: &[u8]) -> Result<Vec<u8>, Invalid> {
    if bytes.first() == Some(&0x30) {
        Ok(bytes.to_vec())
    } else {
        Err(Invalid::Der)
    }
}

/// One field's value, checked, in the form it takes in a [`Record`].
enum Value {
    Lease(Ipv4Addr),
    Settings(Vec<u8>),
    Trust(String, Vec<u8>),
    Key(Vec<u8>),
    Cert(Vec<u8>),
    Ca(Vec<u8>),
    User(String),
    Password(String),
    Slots(BootRecord),
    Identity(Identity),
    Credentials(String, String),
    LeaseTerms(LeaseTerms),
    Static(StaticAddress),
    Sson(u8),
    Group(u16),
    /// A newer writer's field: skipped.
    Skip,
}

/// Validate one field's value of a record of `version` (every decoder goes through here).
fn value(version: u8, tag: u8, body: &[u8]) -> Result<Value, Invalid> {
    if body.len() > MAX_FIELD_BYTES {
        return Err(Invalid::Length);
    }
    let v1 = version == VERSION_UNCHECKED;
    Ok(match tag {
        T_LEASE => Value::Lease(host(body)?),
        T_SETTINGS => {
            phone_settings::Store::decode(body).map_err(Invalid::Settings)?;
            Value::Settings(body.to_vec())
        }
        T_TRUST => {
            let (name, pem) = take_sized(body)?;
            if pem.is_empty() {
                return Err(Invalid::Length);
            }
            Value::Trust(text(name, true)?, pem.to_vec())
        }
        T_SCEP_KEY if v1 => Value::Key(der(body)?),
        T_SCEP_CERT if v1 => Value::Cert(der(body)?),
        T_SCEP_CA if v1 => Value::Ca(der(body)?),
        T_USER if v1 => Value::User(text(body, true)?),
        T_PASSWORD if v1 => Value::Password(text(body, false)?),
        T_IDENTITY if !v1 => Value::Identity(identity(body)?),
        T_CREDENTIALS if !v1 => {
            let (user, password) = take_sized(body)?;
            Value::Credentials(text(user, true)?, text(password, false)?)
        }
        T_LEASE_TERMS if !v1 => Value::LeaseTerms(LeaseTerms::from_bytes(body)?),
        T_SLOTS => {
            let t = core::str::from_utf8(body).map_err(|_| Invalid::Text)?;
            Value::Slots(BootRecord::decode(t).map_err(Invalid::Slots)?)
        }
        T_STATIC => {
            if body.len() != 16 {
                return Err(Invalid::Length);
            }
            let s = StaticAddress {
                address: ipv4(&body[0..4])?,
                mask: ipv4(&body[4..8])?,
                router: ipv4(&body[8..12])?,
                file_server: ipv4(&body[12..16])?,
            };
            s.check()?;
            Value::Static(s)
        }
        T_SSON => match body {
            [s] if (128..=254).contains(s) => Value::Sson(*s),
            [s] => return Err(Invalid::Sson(*s)),
            _ => return Err(Invalid::Length),
        },
        T_GROUP => match body {
            [a, b] => match u16::from_be_bytes([*a, *b]) {
                g @ 0..=999 => Value::Group(g),
                g => return Err(Invalid::Group(g)),
            },
            _ => return Err(Invalid::Length),
        },
        _ => Value::Skip,
    })
}

/// Collects checked fields into a record; enforces the counts and that single fields appear
/// once. Pairs (key + certificate, user + password) are joined at the end.
#[derive(Default)]
struct Builder {
    r: Record,
    key: Option<Vec<u8>>,
    cert: Option<Vec<u8>>,
    ca: Vec<Vec<u8>>,
    user: Option<String>,
    password: Option<String>,
    /// Fields taken (list entries included).
    fields: usize,
    /// Single-valued tags seen (bit per tag 1..=T_LAST).
    seen: u16,
}

impl Builder {
    /// Take one checked field. `Err` leaves the builder as it was.
    fn take(&mut self, tag: u8, v: Value) -> Result<(), Invalid> {
        if self.fields >= MAX_FIELDS {
            return Err(Invalid::TooMany);
        }
        let single = !matches!(tag, T_TRUST | T_SCEP_CA) && (1..=T_LAST).contains(&tag);
        if single {
            let bit = 1u16 << tag;
            if self.seen & bit != 0 {
                return Err(Invalid::Duplicate);
            }
            self.seen |= bit;
        }
        self.fields += 1;
        match v {
            Value::Lease(a) => self.r.lease_address = Some(a),
            Value::Settings(s) => self.r.settings = Some(s),
            Value::Trust(n, p) => self.r.trust_certs.push((n, p)),
            Value::Key(k) => self.key = Some(k),
            Value::Cert(c) => self.cert = Some(c),
            Value::Ca(c) => self.ca.push(c),
            Value::User(u) => self.user = Some(u),
            Value::Password(p) => self.password = Some(p),
            Value::Slots(s) => self.r.slots = Some(s),
            Value::Identity(id) => self.r.identity = Some(id),
            Value::Credentials(u, p) => self.r.credentials = Some((u, p)),
            Value::LeaseTerms(t) => self.r.lease_terms = Some(t),
            Value::Static(s) => self.r.craft.static_address = Some(s),
            Value::Sson(s) => self.r.craft.sson = Some(s),
            Value::Group(g) => self.r.craft.group = Some(g),
            Value::Skip => {}
        }
        Ok(())
    }

    /// The record, with the problems of unpaired parts (the parts are then dropped).
    fn finish(self, problems: &mut Vec<RecordError>) -> Record {
        let mut r = self.r;
        if r.lease_terms.is_some() && r.lease_address.is_none() {
            r.lease_terms = None;
            problems.push(RecordError::Field {
                field: Field::LeaseTerms,
                problem: Invalid::Incomplete,
            });
        }
        match (self.key, self.cert) {
            (Some(key_pkcs8), Some(certificate)) => {
                r.identity = Some(Identity {
                    key_pkcs8,
                    certificate,
                    ca: self.ca,
                });
            }
            (None, None) if self.ca.is_empty() => {}
            (k, _) => problems.push(RecordError::Field {
                field: if k.is_some() {
                    Field::ScepCert
                } else {
                    Field::ScepKey
                },
                problem: Invalid::Incomplete,
            }),
        }
        match (self.user, self.password) {
            (Some(u), Some(p)) => r.credentials = Some((u, p)),
            (None, None) => {}
            (u, _) => problems.push(RecordError::Field {
                field: if u.is_some() {
                    Field::Password
                } else {
                    Field::User
                },
                problem: Invalid::Incomplete,
            }),
        }
        r
    }
}

/// One field as laid out in a version-2 body.
struct RawField<'a> {
    tag: u8,
    body: &'a [u8],
    /// Whether its own checksum matches.
    crc_ok: bool,
    /// Offset of the field in the record.
    at: usize,
    /// Offset just past it.
    next: usize,
}

/// The version-2 field at `at` of `bytes`, if its header and declared span fit before `end`.
fn raw_field(bytes: &[u8], at: usize, end: usize) -> Option<RawField<'_>> {
    let head = bytes.get(at..at.checked_add(FIELD_HEAD)?)?;
    let len = usize::try_from(be32(&head[1..5])).ok()?;
    let value_end = at.checked_add(FIELD_HEAD)?.checked_add(len)?;
    let next = value_end.checked_add(CRC)?;
    if next > end {
        return None;
    }
    let crc = be32(&bytes[value_end..next]);
    Some(RawField {
        tag: head[0],
        body: &bytes[at + FIELD_HEAD..value_end],
        crc_ok: crc32(&bytes[at..value_end]) == crc,
        at,
        next,
    })
}

impl Record {
    /// The running application's name (the active slot's), empty when no slot is known.
    #[must_use]
    pub fn running_app(&self) -> &str {
        self.slots
            .as_ref()
            .and_then(BootRecord::running)
            .map_or("", |s| s.app.as_str())
    }

    /// CLEAR (craft): forget everything but the firmware slots.
    pub fn clear(&mut self) {
        let slots = self.slots.take();
        *self = Record {
            slots,
            ..Record::default()
        };
    }

    /// The version-2 byte encoding (see the module docs).
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        out.push(VERSION);
        out.extend_from_slice(&[0; 4]); // body_len, filled in below
        let mut n = 0u32;
        let mut field = |out: &mut Vec<u8>, tag: u8, value: &[u8]| {
            put(out, tag, value);
            n += 1;
        };
        if let Some(a) = self.lease_address {
            field(&mut out, T_LEASE, &a.octets());
            if let Some(t) = &self.lease_terms {
                field(&mut out, T_LEASE_TERMS, &t.to_bytes());
            }
        }
        if let Some(s) = &self.settings {
            field(&mut out, T_SETTINGS, s);
        }
        for (name, pem) in &self.trust_certs {
            field(&mut out, T_TRUST, &pair(name.as_bytes(), pem));
        }
        if let Some(id) = &self.identity {
            field(&mut out, T_IDENTITY, &identity_bytes(id));
        }
        if let Some((u, p)) = &self.credentials {
            field(&mut out, T_CREDENTIALS, &pair(u.as_bytes(), p.as_bytes()));
        }
        if let Some(s) = &self.slots {
            field(&mut out, T_SLOTS, s.encode().as_bytes());
        }
        if let Some(s) = &self.craft.static_address {
            let mut b = Vec::with_capacity(16);
            for a in [s.address, s.mask, s.router, s.file_server] {
                b.extend_from_slice(&a.octets());
            }
            field(&mut out, T_STATIC, &b);
        }
        if let Some(s) = self.craft.sson {
            field(&mut out, T_SSON, &[s]);
        }
        if let Some(g) = self.craft.group {
            field(&mut out, T_GROUP, &g.to_be_bytes());
        }
        put(&mut out, T_END, &n.to_be_bytes());
        let body_len = u32::try_from(out.len() - HEADER).unwrap_or(u32::MAX);
        out[5..HEADER].copy_from_slice(&body_len.to_be_bytes());
        let crc = crc32(&out);
        out.extend_from_slice(&crc.to_be_bytes());
        out
    }

    /// Reads a record written by [`Record::encode`], all or nothing: any damage (a torn write,
    /// a changed byte, an invalid field) is a [`RecordError`]. See [`Record::decode_lenient`]
    /// to keep what is intact.
    ///
    /// # Errors
    /// [`RecordError`] for anything but an intact, valid version-2 record.
    pub fn decode(bytes: &[u8]) -> Result<Record, RecordError> {
        let end = check_frame(bytes)?;
        let mut b = Builder::default();
        let mut problems = Vec::new();
        let mut at = HEADER;
        loop {
            let f = raw_field(bytes, at, end).ok_or(RecordError::MissingEnd)?;
            if !f.crc_ok {
                // Unreachable behind the record checksum but for a deliberate forgery.
                return Err(RecordError::FieldChecksum {
                    field: Field::of(f.tag),
                    at: f.at,
                });
            }
            at = f.next;
            if f.tag == T_END {
                if f.body != u32::try_from(b.fields).unwrap_or(u32::MAX).to_be_bytes() {
                    return Err(RecordError::MissingEnd);
                }
                break;
            }
            let field = Field::of(f.tag);
            value(VERSION, f.tag, f.body)
                .and_then(|v| b.take(f.tag, v))
                .map_err(|problem| RecordError::Field { field, problem })?;
        }
        if at != end {
            return Err(RecordError::TrailingBytes(end - at));
        }
        let r = b.finish(&mut problems);
        match problems.into_iter().next() {
            Some(p) => Err(p),
            None => Ok(r),
        }
    }

    /// Reads what is intact of stored bytes: the phone boots from it, from defaults for the
    /// rest, and reports [`Salvaged::damage`] (issue 12: "a damaged record is a typed error, the
    /// phone boots from what is intact or from defaults, and says so").
    ///
    /// An intact record gives the same as [`Record::decode`] and no damage. Otherwise every
    /// version-2 field whose own checksum matches and whose value is valid is kept; a field that
    /// fails either is lost (reported), and the walk goes on after its declared end while that
    /// stays within the record; a key without its certificate, or a user without a password, is
    /// lost as a pair. A version-1 record (no checksums) is read field by field with the same
    /// validation and reported as [`RecordError::Unchecked`]. Never a field that was not
    /// written: a lost field is at its default.
    #[must_use]
    pub fn decode_lenient(bytes: &[u8]) -> Salvaged {
        let strict = match Record::decode(bytes) {
            Ok(record) => {
                return Salvaged {
                    record,
                    damage: Vec::new(),
                };
            }
            Err(RecordError::Version(VERSION_UNCHECKED)) => return salvage_v1(bytes),
            Err(e) => e,
        };
        let mut damage = Vec::new();
        // A damaged frame (magic, version, length or record checksum; a bit flip there leaves
        // every field intact) is reported, and the fields are walked to the end of what is there.
        let end = check_frame(bytes).unwrap_or_else(|e| {
            damage.push(e);
            bytes.len()
        });
        let mut b = Builder::default();
        let mut at = HEADER;
        let mut ended = false;
        while at < end {
            if damage.len() > MAX_FIELDS {
                damage.push(RecordError::TooMany);
                break;
            }
            let Some(f) = raw_field(bytes, at, end) else {
                damage.push(RecordError::Truncated(at));
                break;
            };
            at = f.next;
            let field = Field::of(f.tag);
            if !f.crc_ok {
                damage.push(RecordError::FieldChecksum { field, at: f.at });
                continue;
            }
            if f.tag == T_END {
                ended = true;
                let count = u32::try_from(b.fields).unwrap_or(u32::MAX).to_be_bytes();
                if f.body != count && damage.is_empty() {
                    damage.push(RecordError::MissingEnd);
                }
                if at != end && damage.is_empty() {
                    damage.push(RecordError::TrailingBytes(end - at));
                }
                break;
            }
            if let Err(problem) = value(VERSION, f.tag, f.body).and_then(|v| b.take(f.tag, v)) {
                damage.push(RecordError::Field { field, problem });
            }
        }
        if !ended && damage.is_empty() {
            damage.push(RecordError::MissingEnd);
        }
        let record = b.finish(&mut damage);
        if damage.is_empty() {
            // Not intact, so never silent: say what the strict reading found.
            damage.push(strict);
        }
        Salvaged { record, damage }
    }
}

/// Check the version-2 frame (magic, version, length, record checksum, size); the offset where
/// the record checksum starts.
fn check_frame(bytes: &[u8]) -> Result<usize, RecordError> {
    let magic = bytes.get(..4).ok_or(RecordError::Truncated(bytes.len()))?;
    if magic != MAGIC {
        return Err(RecordError::Magic);
    }
    let version = *bytes.get(4).ok_or(RecordError::Truncated(4))?;
    if version != VERSION {
        return Err(RecordError::Version(version));
    }
    let len = bytes.get(5..HEADER).ok_or(RecordError::Truncated(5))?;
    let body_len = usize::try_from(be32(len)).map_err(|_| RecordError::TooMany)?;
    if body_len > MAX_RECORD_BYTES {
        return Err(RecordError::TooMany);
    }
    let end = HEADER + body_len;
    let total = end + CRC;
    if bytes.len() < total {
        return Err(RecordError::Truncated(bytes.len()));
    }
    if bytes.len() > total {
        return Err(RecordError::TrailingBytes(bytes.len() - total));
    }
    if crc32(&bytes[..end]) != be32(&bytes[end..total]) {
        return Err(RecordError::Checksum);
    }
    Ok(end)
}

/// A version-1 record (`PHBR`, 1, then `tag u8, len u32, value` fields, no checksums), read with
/// the same validation; reported as [`RecordError::Unchecked`].
fn salvage_v1(bytes: &[u8]) -> Salvaged {
    let mut damage = alloc::vec![RecordError::Unchecked];
    let mut b = Builder::default();
    let mut at = 5;
    while at < bytes.len() {
        if damage.len() > MAX_FIELDS {
            damage.push(RecordError::TooMany);
            break;
        }
        let Some(head) = bytes.get(at..at + FIELD_HEAD) else {
            damage.push(RecordError::Truncated(at));
            break;
        };
        let tag = head[0];
        let Some(body) = usize::try_from(be32(&head[1..5]))
            .ok()
            .and_then(|len| bytes.get(at + FIELD_HEAD..(at + FIELD_HEAD).checked_add(len)?))
        else {
            damage.push(RecordError::Truncated(at));
            break;
        };
        at += FIELD_HEAD + body.len();
        if let Err(problem) = value(VERSION_UNCHECKED, tag, body).and_then(|v| b.take(tag, v)) {
            damage.push(RecordError::Field {
                field: Field::of(tag),
                problem,
            });
        }
    }
    let record = b.finish(&mut damage);
    Salvaged { record, damage }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flash::SlotImage;
    use alloc::vec;
    use proptest::prelude::*;

    fn settings() -> Vec<u8> {
        let mut st = phone_settings::Store::new();
        let _ = st.apply_set(
            "HTTPSRVR",
            "10.0.0.5",
            phone_settings::Source::SettingsFile,
            3,
        );
        st.encode()
    }

    fn terms() -> LeaseTerms {
        LeaseTerms {
            expires_unix: Some(1_800_000_000),
            lease_secs: 3600,
            server_id: Some(Ipv4Addr::new(10, 0, 0, 1)),
            subnet_mask: Some(Ipv4Addr::new(255, 255, 255, 0)),
            routers: vec![Ipv4Addr::new(10, 0, 0, 1)],
            dns_servers: vec![Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(10, 0, 0, 3)],
        }
    }

    fn sample() -> Record {
        Record {
            lease_address: Some(Ipv4Addr::new(10, 0, 0, 100)),
            lease_terms: Some(terms()),
            settings: Some(settings()),
            trust_certs: vec![("ca.pem".into(), b"-----BEGIN".to_vec())],
            identity: Some(Identity {
                key_pkcs8: vec![0x30; 40],
                certificate: vec![0x30; 30],
                ca: vec![vec![0x30; 20], vec![0x30, 6, 6]],
            }),
            credentials: Some(("1001".into(), "1001pass".into())),
            slots: Some(BootRecord::factory(SlotImage::of("factory.bin", b"x"))),
            craft: Craft {
                static_address: Some(StaticAddress {
                    address: Ipv4Addr::new(10, 0, 0, 50),
                    mask: Ipv4Addr::new(255, 255, 255, 0),
                    router: Ipv4Addr::new(10, 0, 0, 1),
                    file_server: Ipv4Addr::UNSPECIFIED,
                }),
                sson: Some(243),
                group: Some(7),
            },
        }
    }

    #[test]
    fn round_trip() {
        let r = sample();
        assert_eq!(Record::decode(&r.encode()), Ok(r.clone()));
        assert_eq!(r.running_app(), "factory.bin");
        let empty = Record::default();
        assert_eq!(Record::decode(&empty.encode()), Ok(empty.clone()));
        let s = Record::decode_lenient(&r.encode());
        assert!(s.is_intact());
        assert_eq!(s.record, r);
        // Layout: header, then the first field's tag, then the record checksum last.
        let b = empty.encode();
        assert_eq!(&b[..5], b"PHBR\x02");
        assert_eq!(b.len(), HEADER + FIELD_HEAD + 4 + CRC + CRC);
    }

    #[test]
    fn clear_keeps_only_the_slots() {
        let mut r = sample();
        r.clear();
        assert_eq!(r.credentials, None);
        assert_eq!(r.craft, Craft::default());
        assert_eq!(r.running_app(), "factory.bin");
    }

    /// The issue's finding, as a regression test: every strict prefix and every single-bit flip
    /// of an encoded record is refused (a version-1 record let 13 prefixes and 234 of 362 flips
    /// through as another record).
    #[test]
    fn every_prefix_and_every_bit_flip_is_refused() {
        let bytes = sample().encode();
        for cut in 0..bytes.len() {
            assert!(Record::decode(&bytes[..cut]).is_err(), "prefix {cut}");
        }
        for i in 0..bytes.len() * 8 {
            let mut b = bytes.clone();
            b[i / 8] ^= 1 << (i % 8);
            assert!(Record::decode(&b).is_err(), "flip of bit {i}");
        }
        assert_eq!(Record::decode(b"nope"), Err(RecordError::Magic));
        assert_eq!(Record::decode(b"PHBR\x03"), Err(RecordError::Version(3)));
        assert_eq!(Record::decode(b"PH"), Err(RecordError::Truncated(2)));
        let mut long = bytes.clone();
        long.push(0);
        assert_eq!(Record::decode(&long), Err(RecordError::TrailingBytes(1)));
    }

    /// Re-seal a v2 record after changing its fields (recompute every CRC), to reach the
    /// validation behind the checksums.
    fn forge(fields: &[(u8, &[u8])]) -> Vec<u8> {
        let mut out = b"PHBR\x02\0\0\0\0".to_vec();
        for (tag, v) in fields {
            put(&mut out, *tag, v);
        }
        let n = u32::try_from(fields.len()).unwrap_or(0);
        put(&mut out, T_END, &n.to_be_bytes());
        let len = u32::try_from(out.len() - HEADER).unwrap_or(0);
        out[5..9].copy_from_slice(&len.to_be_bytes());
        let crc = crc32(&out);
        out.extend_from_slice(&crc.to_be_bytes());
        out
    }

    fn invalid(fields: &[(u8, &[u8])]) -> Invalid {
        match Record::decode(&forge(fields)) {
            Err(RecordError::Field { problem, .. }) => problem,
            other => panic!("{other:?}"),
        }
    }

    fn static_bytes(a: [u8; 4], m: [u8; 4], r: [u8; 4], f: [u8; 4]) -> Vec<u8> {
        [a, m, r, f].concat()
    }

    /// Every field is validated on load, even behind good checksums.
    #[test]
    fn fields_are_validated_on_load() {
        let ok = [10, 0, 0, 50];
        let m24 = [255, 255, 255, 0];
        let gw = [10, 0, 0, 1];
        let none = [0, 0, 0, 0];
        assert!(Record::decode(&forge(&[(T_STATIC, &static_bytes(ok, m24, gw, none))])).is_ok());
        // The issue's example: 255.255.255.255 / 0.0.0.0 was configured.
        let bcast = [255; 4];
        assert_eq!(
            invalid(&[(T_STATIC, &static_bytes(bcast, none, none, none))]),
            Invalid::Address(Ipv4Addr::BROADCAST)
        );
        assert_eq!(
            invalid(&[(T_STATIC, &static_bytes(none, m24, none, none))]),
            Invalid::Address(Ipv4Addr::UNSPECIFIED)
        );
        for bad in [[127, 0, 0, 1], [224, 0, 0, 1], [240, 0, 0, 1], [0, 1, 2, 3]] {
            assert_eq!(
                invalid(&[(T_STATIC, &static_bytes(bad, m24, none, none))]),
                Invalid::Address(Ipv4Addr::from(bad))
            );
            assert_eq!(
                invalid(&[(T_LEASE, &bad)]),
                Invalid::Address(Ipv4Addr::from(bad))
            );
        }
        // Masks: not contiguous, /0, /32.
        for m in [
            [255, 0, 255, 0],
            [0, 0, 0, 0],
            [255, 255, 255, 255],
            [0, 255, 255, 255],
        ] {
            assert_eq!(
                invalid(&[(T_STATIC, &static_bytes(ok, m, none, none))]),
                Invalid::Mask(Ipv4Addr::from(m))
            );
        }
        // Network and broadcast address of the subnet; /31 has neither (RFC 3021).
        for a in [[10, 0, 0, 0], [10, 0, 0, 255]] {
            assert_eq!(
                invalid(&[(T_STATIC, &static_bytes(a, m24, none, none))]),
                Invalid::Address(Ipv4Addr::from(a))
            );
        }
        let m31 = [255, 255, 255, 254];
        assert!(
            Record::decode(&forge(&[(
                T_STATIC,
                &static_bytes([10, 0, 0, 0], m31, [10, 0, 0, 1], none)
            )]))
            .is_ok()
        );
        // Router off the subnet, the phone itself, or the subnet's broadcast.
        for r in [[10, 0, 1, 1], ok, [10, 0, 0, 255], [255; 4]] {
            assert_eq!(
                invalid(&[(T_STATIC, &static_bytes(ok, m24, r, none))]),
                Invalid::Router(Ipv4Addr::from(r))
            );
        }
        assert_eq!(
            invalid(&[(T_STATIC, &static_bytes(ok, m24, gw, [224, 1, 1, 1]))]),
            Invalid::Address(Ipv4Addr::new(224, 1, 1, 1))
        );
        assert_eq!(invalid(&[(T_STATIC, &[0; 15])]), Invalid::Length);
        // Craft numbers within their ranges.
        assert_eq!(invalid(&[(T_SSON, &[127])]), Invalid::Sson(127));
        assert_eq!(invalid(&[(T_SSON, &[255])]), Invalid::Sson(255));
        assert_eq!(
            invalid(&[(T_GROUP, &1000u16.to_be_bytes())]),
            Invalid::Group(1000)
        );
        // Texts: control characters (a CR would reach a SIP header), not UTF-8, too long, an
        // empty user.
        let cred = |u: &[u8], p: &[u8]| invalid(&[(T_CREDENTIALS, &pair(u, p))]);
        assert_eq!(cred(b"10\r\n01", b"p"), Invalid::Text);
        assert_eq!(cred(b"1001", b"\xff"), Invalid::Text);
        assert_eq!(cred(b"1001", b"a\0b"), Invalid::Text);
        assert_eq!(cred(&[b'1'; MAX_TEXT + 1], b"p"), Invalid::Text);
        assert_eq!(cred(b"", b"p"), Invalid::Text);
        assert_eq!(
            invalid(&[(T_CREDENTIALS, &[0, 0, 0, 9, b'1'])]),
            Invalid::Length
        );
        // The identity: DER parts, an exact layout, a bounded number of CAs.
        let id = |key: &[u8], cert: &[u8], ca: &[&[u8]]| {
            identity_bytes(&Identity {
                key_pkcs8: key.to_vec(),
                certificate: cert.to_vec(),
                ca: ca.iter().map(|c| c.to_vec()).collect(),
            })
        };
        assert_eq!(
            invalid(&[(T_IDENTITY, &id(b"not der", &[0x30], &[]))]),
            Invalid::Der
        );
        assert_eq!(
            invalid(&[(T_IDENTITY, &id(&[0x30], &[], &[]))]),
            Invalid::Der
        );
        assert_eq!(
            invalid(&[(T_IDENTITY, &id(&[0x30], &[0x30], &[b"x"]))]),
            Invalid::Der
        );
        let mut trailing = id(&[0x30], &[0x30], &[]);
        trailing.push(0);
        assert_eq!(invalid(&[(T_IDENTITY, &trailing)]), Invalid::Length);
        let mut many = id(&[0x30], &[0x30], &[]);
        let n = many.len() - 4;
        many[n..].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(invalid(&[(T_IDENTITY, &many)]), Invalid::TooMany);
        // Version-1 tags in a version-2 record are not read (skipped as unknown).
        assert_eq!(
            Record::decode(&forge(&[(T_USER, b"1001")])),
            Ok(Record::default())
        );
        // Settings and slots must decode as what they are.
        assert!(matches!(
            invalid(&[(T_SETTINGS, b"PHST")]),
            Invalid::Settings(_)
        ));
        assert!(matches!(
            invalid(&[(T_SLOTS, b"phone-boot slots v1\nactive: C\n")]),
            Invalid::Slots(_)
        ));
        // A single field twice.
        assert_eq!(
            invalid(&[(T_LEASE, &[10, 0, 0, 1]), (T_LEASE, &[10, 0, 0, 2])]),
            Invalid::Duplicate
        );
        // Trust certificate entries: a name and a body.
        assert_eq!(invalid(&[(T_TRUST, &pair(b"", b"x"))]), Invalid::Text);
        assert_eq!(invalid(&[(T_TRUST, &pair(b"a.pem", b""))]), Invalid::Length);
        // Too many entries.
        let cert = pair(b"a.pem", b"x");
        let many: Vec<(u8, &[u8])> = (0..=MAX_FIELDS).map(|_| (T_TRUST, &cert[..])).collect();
        assert_eq!(invalid(&many), Invalid::TooMany);
        // A newer writer's field is skipped.
        assert_eq!(
            Record::decode(&forge(&[(200, b"future"), (T_SSON, &[200])])),
            Ok(Record {
                craft: Craft {
                    sson: Some(200),
                    ..Craft::default()
                },
                ..Record::default()
            })
        );
        // The end field counts the fields before it.
        let mut b = forge(&[(T_SSON, &[200])]);
        let end = b.len() - CRC;
        b.truncate(end - (FIELD_HEAD + 4 + CRC));
        put(&mut b, T_END, &7u32.to_be_bytes());
        let len = u32::try_from(b.len() - HEADER).unwrap_or(0);
        b[5..9].copy_from_slice(&len.to_be_bytes());
        let crc = crc32(&b);
        b.extend_from_slice(&crc.to_be_bytes());
        assert_eq!(Record::decode(&b), Err(RecordError::MissingEnd));
    }

    /// A damaged record: the phone keeps what is intact, and says what it lost.
    #[test]
    fn lenient_decode_keeps_what_is_intact() {
        let r = sample();
        let bytes = r.encode();
        // Damage the SCEP key's value: the identity is lost (whole), everything else kept.
        let id_at = find_field(&bytes, T_IDENTITY);
        let mut b = bytes.clone();
        b[id_at + FIELD_HEAD + 7] ^= 0x10;
        let s = Record::decode_lenient(&b);
        assert_eq!(
            s.damage,
            [
                RecordError::Checksum,
                RecordError::FieldChecksum {
                    field: Field::Identity,
                    at: id_at
                },
            ]
        );
        let want = Record {
            identity: None,
            ..r.clone()
        };
        assert_eq!(s.record, want);
        // A torn write: the fields before the tear are kept.
        let cut = find_field(&bytes, T_SLOTS) + 3;
        let s = Record::decode_lenient(&bytes[..cut]);
        assert_eq!(s.damage[0], RecordError::Truncated(cut));
        assert_eq!(s.record.lease_address, r.lease_address);
        assert_eq!(s.record.identity, r.identity);
        assert_eq!(s.record.credentials, r.credentials);
        assert_eq!(s.record.slots, None);
        assert_eq!(s.record.craft, Craft::default());
        // An invalid value behind good checksums (a bad static address): that field only.
        let mut bad = r.clone();
        if let Some(st) = &mut bad.craft.static_address {
            st.address = Ipv4Addr::BROADCAST;
        }
        let s = Record::decode_lenient(&bad.encode());
        assert_eq!(
            s.damage,
            [RecordError::Field {
                field: Field::StaticAddress,
                problem: Invalid::Address(Ipv4Addr::BROADCAST)
            }]
        );
        assert_eq!(
            s.record,
            Record {
                craft: Craft {
                    static_address: None,
                    ..r.craft.clone()
                },
                ..r.clone()
            }
        );
        // Not a record at all: defaults, and why.
        let s = Record::decode_lenient(b"hello");
        assert_eq!(
            (s.record, s.damage[0].clone()),
            (Record::default(), RecordError::Magic)
        );
        let s = Record::decode_lenient(b"");
        assert_eq!(
            (s.record, s.damage),
            (Record::default(), vec![RecordError::Truncated(0)])
        );
        // A flipped bit in the magic or the version loses nothing but is reported.
        for at in [0, 4] {
            let mut b = bytes.clone();
            b[at] ^= 0x04;
            let s = Record::decode_lenient(&b);
            assert_eq!(s.record, r, "byte {at}");
            assert!(matches!(
                s.damage[..],
                [RecordError::Magic | RecordError::Version(_)]
            ));
        }
        // Garbage yields a bounded list of damage, in either version (fuzz/boot_record found
        // the version-1 case: a v1 header and 150 empty fields gave 87 reports).
        let s = Record::decode_lenient(&[0u8; 100_000]);
        assert!(s.damage.len() <= MAX_FIELDS + 4);
        for v in [1u8, 2] {
            let mut b = b"PHBR".to_vec();
            b.push(v);
            b.extend_from_slice(&[0; 750]);
            let s = Record::decode_lenient(&b);
            assert!(s.damage.len() <= MAX_FIELDS + 4, "v{v}: {}", s.damage.len());
            assert_eq!(s.record, Record::default());
        }
    }

    /// A version-1 record (no checksum) is still read, validated, and reported unchecked.
    #[test]
    fn version_1_records_are_read_unchecked() {
        let mut v1 = b"PHBR\x01".to_vec();
        for (tag, v) in [
            (T_LEASE, &[10, 0, 0, 9][..]),
            (T_USER, b"1001"),
            (T_PASSWORD, b"pw"),
            (T_STATIC, &[255; 16]),
        ] {
            v1.push(tag);
            v1.extend_from_slice(&u32::try_from(v.len()).unwrap_or(0).to_be_bytes());
            v1.extend_from_slice(v);
        }
        assert_eq!(
            Record::decode(&v1),
            Err(RecordError::Version(VERSION_UNCHECKED))
        );
        let s = Record::decode_lenient(&v1);
        assert_eq!(s.record.lease_address, Some(Ipv4Addr::new(10, 0, 0, 9)));
        assert_eq!(s.record.credentials, Some(("1001".into(), "pw".into())));
        assert_eq!(s.record.craft.static_address, None);
        assert_eq!(s.damage[0], RecordError::Unchecked);
        assert!(matches!(
            s.damage[1],
            RecordError::Field {
                field: Field::StaticAddress,
                ..
            }
        ));
        // Stored again, it is version 2 and intact.
        assert!(Record::decode_lenient(&s.record.encode()).is_intact());
        // Parts without their partner are lost as a pair.
        let mut v1 = b"PHBR\x01".to_vec();
        for (tag, v) in [(T_USER, &b"1001"[..]), (T_SCEP_KEY, &[0x30, 0][..])] {
            v1.push(tag);
            v1.extend_from_slice(&u32::try_from(v.len()).unwrap_or(0).to_be_bytes());
            v1.extend_from_slice(v);
        }
        let s = Record::decode_lenient(&v1);
        assert_eq!(s.record, Record::default());
        assert_eq!(
            s.damage[1..],
            [
                RecordError::Field {
                    field: Field::ScepCert,
                    problem: Invalid::Incomplete
                },
                RecordError::Field {
                    field: Field::Password,
                    problem: Invalid::Incomplete
                }
            ]
        );
    }

    /// Format stability: records written by an independent implementation of the layout in
    /// the module docs (Python `struct` + `zlib.crc32`, the fuzz seeds) decode as written, and
    /// the damaged ones keep what is intact.
    #[test]
    fn version_2_records_from_another_writer() {
        let full = include_bytes!("../../../fuzz/seeds/boot_record/seed-v2-full");
        let r = Record::decode(full).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.lease_address, Some(Ipv4Addr::new(10, 0, 0, 100)));
        assert_eq!(
            r.trust_certs,
            [("ca.pem".into(), b"-----BEGIN CERTIFICATE-----".to_vec())]
        );
        let id = r.identity.clone().unwrap_or_else(|| panic!("identity"));
        assert_eq!(
            (id.key_pkcs8.len(), id.certificate.len(), id.ca.len()),
            (5, 4, 1)
        );
        assert_eq!(r.credentials, Some(("1001".into(), "pw".into())));
        assert_eq!(r.running_app(), "factory.bin");
        assert_eq!(r.craft.sson, Some(242));
        assert_eq!(
            r.encode(),
            full.to_vec(),
            "the same bytes as the other writer"
        );
        let flipped = include_bytes!("../../../fuzz/seeds/boot_record/seed-v2-flipped");
        let s = Record::decode_lenient(flipped);
        assert_eq!(
            s.record,
            Record {
                identity: None,
                ..r.clone()
            }
        );
        assert!(matches!(
            s.damage[1],
            RecordError::FieldChecksum {
                field: Field::Identity,
                ..
            }
        ));
        let torn = include_bytes!("../../../fuzz/seeds/boot_record/seed-v2-torn");
        let s = Record::decode_lenient(torn);
        assert_eq!(s.record.lease_address, r.lease_address);
        assert_eq!(s.record.identity, r.identity);
        assert_eq!(s.record.slots, None);
        let craft = include_bytes!("../../../fuzz/seeds/boot_record/seed-v2-craft");
        assert_eq!(Record::decode(craft).map(|r| r.craft.group), Ok(Some(7)));
    }

    fn find_field(bytes: &[u8], tag: u8) -> usize {
        let mut at = HEADER;
        while let Some(f) = raw_field(bytes, at, bytes.len() - CRC) {
            if f.tag == tag {
                return at;
            }
            at = f.next;
        }
        panic!("no field {tag}");
    }

    /// Records that [`Record::encode`] writes and [`Record::decode`] accepts.
    fn record() -> impl Strategy<Value = Record> {
        let addr = (1u8..=223, any::<[u8; 3]>())
            .prop_filter("not loopback", |(a, _)| *a != 127)
            .prop_map(|(a, r)| Ipv4Addr::new(a, r[0], r[1], r[2]));
        let text = "[0-9a-zA-Z!#%]{1,12}";
        let der = prop::collection::vec(any::<u8>(), 0..40).prop_map(|mut v| {
            v.insert(0, 0x30);
            v
        });
        let terms = (
            prop::option::of(0u64..u64::MAX),
            0u32..u32::MAX,
            prop::option::of(addr.clone()),
            prop::option::of(1u32..=32),
            prop::collection::vec(addr.clone(), 0..3),
            prop::collection::vec(addr.clone(), 0..3),
        )
            .prop_map(|(e, l, sid, len, routers, dns_servers)| LeaseTerms {
                expires_unix: e,
                lease_secs: if e.is_some() { l } else { u32::MAX },
                server_id: sid,
                subnet_mask: len.map(|n| Ipv4Addr::from(u32::MAX << (32 - n))),
                routers,
                dns_servers,
            });
        (
            prop::option::of((addr.clone(), prop::option::of(terms))),
            prop::option::of(Just(settings())),
            prop::collection::vec((text, prop::collection::vec(any::<u8>(), 1..30)), 0..3),
            prop::option::of((der.clone(), der.clone(), prop::collection::vec(der, 0..3))),
            prop::option::of((text, "[ -~]{0,12}")),
            any::<bool>(),
            prop::option::of(addr.prop_map(|a| StaticAddress {
                address: Ipv4Addr::new(10, 1, 2, 3),
                mask: Ipv4Addr::new(255, 255, 0, 0),
                router: Ipv4Addr::new(10, 1, 0, 1),
                file_server: a,
            })),
            prop::option::of(128u8..=254),
            prop::option::of(0u16..=999),
        )
            .prop_map(
                |(lease, settings, trust, id, cred, slots, st, sson, group)| Record {
                    lease_address: lease.as_ref().map(|l| l.0),
                    lease_terms: lease.and_then(|l| l.1),
                    settings,
                    trust_certs: trust,
                    identity: id.map(|(k, c, ca)| Identity {
                        key_pkcs8: k,
                        certificate: c,
                        ca,
                    }),
                    credentials: cred,
                    slots: slots.then(|| BootRecord::factory(SlotImage::of("factory.bin", b"img"))),
                    craft: Craft {
                        static_address: st,
                        sson,
                        group,
                    },
                },
            )
    }

    /// What a salvaged record may hold: each part either as written or at its default.
    fn within(got: &Record, orig: &Record) -> bool {
        fn part<T: PartialEq>(g: &T, o: &T, d: &T) -> bool {
            g == o || g == d
        }
        part(&got.lease_address, &orig.lease_address, &None)
            && part(&got.lease_terms, &orig.lease_terms, &None)
            && (got.lease_terms.is_none() || got.lease_address.is_some())
            && part(&got.settings, &orig.settings, &None)
            && got.trust_certs.iter().all(|t| orig.trust_certs.contains(t))
            && match (&got.identity, &orig.identity) {
                (None, _) => true,
                (Some(g), Some(o)) => {
                    g.key_pkcs8 == o.key_pkcs8
                        && g.certificate == o.certificate
                        && g.ca.iter().all(|c| o.ca.contains(c))
                }
                (Some(_), None) => false,
            }
            && part(&got.credentials, &orig.credentials, &None)
            && part(&got.slots, &orig.slots, &None)
            && part(&got.craft.static_address, &orig.craft.static_address, &None)
            && part(&got.craft.sson, &orig.craft.sson, &None)
            && part(&got.craft.group, &orig.craft.group, &None)
    }

    #[test]
    fn lease_terms_are_validated_and_need_their_address() {
        let t = terms();
        assert_eq!(LeaseTerms::from_bytes(&t.to_bytes()), Ok(t.clone()));
        let infinite = LeaseTerms {
            expires_unix: None,
            lease_secs: u32::MAX,
            ..t.clone()
        };
        assert_eq!(LeaseTerms::from_bytes(&infinite.to_bytes()), Ok(infinite));
        let bad = |f: &dyn Fn(&mut LeaseTerms)| {
            let mut x = t.clone();
            f(&mut x);
            LeaseTerms::from_bytes(&x.to_bytes())
        };
        assert_eq!(
            bad(&|x| x.server_id = Some(Ipv4Addr::new(127, 0, 0, 1))),
            Err(Invalid::Address(Ipv4Addr::new(127, 0, 0, 1)))
        );
        assert_eq!(
            bad(&|x| x.subnet_mask = Some(Ipv4Addr::new(255, 0, 255, 0))),
            Err(Invalid::Mask(Ipv4Addr::new(255, 0, 255, 0)))
        );
        assert!(bad(&|x| x.routers = vec![Ipv4Addr::BROADCAST]).is_err());
        assert!(bad(&|x| x.dns_servers = vec![Ipv4Addr::new(224, 0, 0, 1)]).is_err());
        // Infinite on one side only.
        assert_eq!(bad(&|x| x.lease_secs = u32::MAX), Err(Invalid::Length));
        let mut long = t.to_bytes();
        long.push(0);
        assert_eq!(LeaseTerms::from_bytes(&long), Err(Invalid::Length));
        assert_eq!(
            LeaseTerms::from_bytes(&t.to_bytes()[..20]),
            Err(Invalid::Length)
        );
        // Too many routers.
        let mut many = t.to_bytes();
        many.truncate(20);
        many.push(17);
        many.extend_from_slice(&[10, 0, 0, 1].repeat(17));
        many.push(0);
        assert_eq!(LeaseTerms::from_bytes(&many), Err(Invalid::TooMany));
        // Terms without the address: refused by decode, dropped (and said) by decode_lenient.
        let bytes = forge(&[(T_LEASE_TERMS, &t.to_bytes())]);
        assert_eq!(
            Record::decode(&bytes),
            Err(RecordError::Field {
                field: Field::LeaseTerms,
                problem: Invalid::Incomplete
            })
        );
        let s = Record::decode_lenient(&bytes);
        assert_eq!(s.record, Record::default());
        assert!(!s.is_intact());
        // Twice: refused.
        let twice = forge(&[
            (T_LEASE, &[10, 0, 0, 100]),
            (T_LEASE_TERMS, &t.to_bytes()),
            (T_LEASE_TERMS, &t.to_bytes()),
        ]);
        assert!(matches!(
            Record::decode(&twice),
            Err(RecordError::Field {
                problem: Invalid::Duplicate,
                ..
            })
        ));
    }

    /// A reader that predates tag 15 skips it and keeps the rest (a rollback to the other
    /// slot): here, the same record with the field's tag made unknown to this reader.
    #[test]
    fn an_unknown_tag_is_skipped_so_adding_a_field_keeps_the_version() {
        let t = terms();
        let bytes = forge(&[(T_LEASE, &[10, 0, 0, 100]), (200, &t.to_bytes())]);
        let r = Record::decode(&bytes).unwrap();
        assert_eq!(r.lease_address, Some(Ipv4Addr::new(10, 0, 0, 100)));
        assert_eq!(r.lease_terms, None);
        assert_eq!(&sample().encode()[..5], b"PHBR\x02");
    }

    #[test]
    fn a_lease_expiry_crosses_a_power_on_as_wall_clock_time() {
        use core::time::Duration;
        use phone_sansio::Instant;
        let t = terms(); // granted at 1_800_000_000 - 3600, ends at 1_800_000_000
        let now = Instant::from_secs(5);
        // 1000 s left by the wall clock: 1000 s after `now` on the new clock.
        assert_eq!(
            t.expires_on(now, Duration::from_secs(1_800_000_000 - 1000)),
            Some(Instant::from_secs(1005))
        );
        // Over: it ends now.
        assert_eq!(
            t.expires_on(now, Duration::from_secs(1_800_000_100)),
            Some(now)
        );
        // The wall clock is behind the grant (an RTC reset): unknown.
        assert_eq!(t.expires_on(now, Duration::from_secs(1_000)), None);
        let inf = LeaseTerms {
            expires_unix: None,
            lease_secs: u32::MAX,
            ..t.clone()
        };
        assert_eq!(inf.expires_on(now, Duration::ZERO), Some(Instant::MAX));
        let p = t.previous(
            Ipv4Addr::new(10, 0, 0, 100),
            now,
            Duration::from_secs(1_800_000_000 - 1000),
        );
        assert_eq!(p.expires, Some(Instant::from_secs(1005)));
        assert_eq!(p.server_id, t.server_id);
        assert_eq!(p.subnet_mask, t.subnet_mask);
        assert_eq!(p.routers, t.routers);
        assert_eq!(p.dns_servers, t.dns_servers);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Issue 12's property: every prefix of an encoded record and every single-bit flip of
        /// it is either refused or decodes to the same record; and the lenient decoder never
        /// invents a value, always says when it lost something, and gives a record that stores
        /// and reads back intact.
        #[test]
        fn prefixes_and_bit_flips_are_refused_or_the_same(r in record()) {
            let bytes = r.encode();
            prop_assert_eq!(Record::decode(&bytes), Ok(r.clone()));
            let mut damaged: Vec<Vec<u8>> = (0..bytes.len()).map(|n| bytes[..n].to_vec()).collect();
            for i in 0..bytes.len() * 8 {
                let mut b = bytes.clone();
                b[i / 8] ^= 1 << (i % 8);
                damaged.push(b);
            }
            for b in &damaged {
                match Record::decode(b) {
                    Ok(got) => prop_assert_eq!(&got, &r),
                    Err(_) => {
                        let s = Record::decode_lenient(b);
                        prop_assert!(!s.damage.is_empty());
                        prop_assert!(s.damage.len() <= MAX_FIELDS + 4);
                        prop_assert!(within(&s.record, &r), "{:?} from {:?}", s.record, r);
                        prop_assert_eq!(Record::decode(&s.record.encode()), Ok(s.record.clone()));
                    }
                }
            }
        }

        #[test]
        fn decode_never_panics(tail in prop::collection::vec(any::<u8>(), 0..300), v in 0u8..4) {
            let mut b = b"PHBR".to_vec();
            b.push(v);
            b.extend_from_slice(&tail);
            let _ = Record::decode(&b);
            let s = Record::decode_lenient(&b);
            prop_assert_eq!(Record::decode(&s.record.encode()), Ok(s.record));
        }

        #[test]
        fn credentials_round_trip(u in "[0-9]{1,8}", p in "[ -~]{0,20}", a in any::<u32>()) {
            let a = Ipv4Addr::from(a);
            let r = Record {
                lease_address: is_host_address(a).then_some(a),
                credentials: Some((u, p)),
                ..Record::default()
            };
            prop_assert_eq!(Record::decode(&r.encode()), Ok(r));
        }
    }
}
