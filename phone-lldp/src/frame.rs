//! The LLDPDU (IEEE 802.1AB-2009 §8) with the LLDP-MED TLVs of ANSI/TIA-1057 §10.2: a bounded,
//! total codec.
//!
//! **Decoding.** A frame is malformed, and ignored as a whole ([`DecodeError`]), when it is
//! longer than [`MAX_LLDPDU_LEN`], when a TLV runs past its end, when it does not start with
//! Chassis ID, Port ID and TTL TLVs in that order (each well formed), or when one of those
//! three appears again (802.1AB §9.2.7.7.1). Any other TLV that is malformed — a wrong length,
//! a repeat of a TLV that may appear once, a string longer than its bound — is dropped alone
//! and counted in [`Lldpdu::malformed`] (link.md §1). TLVs this codec does not type (reserved
//! types, other organisations such as IEEE 802.1/802.3 or Avaya's 00-40-0D, other LLDP-MED
//! subtypes such as location and power) are kept as [`UnknownTlv`], at most [`MAX_UNKNOWN`];
//! further ones are counted in [`Lldpdu::skipped`]. Reading stops at the End TLV (Ethernet
//! padding follows it) or at the end of the bytes.
//!
//! **Encoding** writes the TLVs in the order of the struct and checks every bound, so what it
//! writes decodes to the same [`Lldpdu`].

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// Longest LLDPDU: the payload of an untagged Ethernet frame.
pub const MAX_LLDPDU_LEN: usize = 1500;
/// Unknown TLVs kept from one frame.
pub const MAX_UNKNOWN: usize = 16;
/// Management Address TLVs kept from one frame.
pub const MAX_MANAGEMENT_ADDRESSES: usize = 4;
/// Network Policy TLVs kept from one frame (one per application type).
pub const MAX_POLICIES: usize = 8;
/// Longest Chassis ID or Port ID (802.1AB §8.5.2).
pub const MAX_ID_LEN: usize = 255;
/// Longest Port Description, System Name or System Description (802.1AB §8.5.5–8.5.7).
pub const MAX_STRING_LEN: usize = 255;
/// Longest LLDP-MED inventory string (TIA-1057 §10.2.6).
pub const MAX_INVENTORY_LEN: usize = 32;
/// Longest management address (802.1AB §8.5.9.3: the address string is 1–31 octets).
pub const MAX_ADDRESS_LEN: usize = 31;
/// Longest OID of a Management Address TLV (802.1AB §8.5.9.8).
pub const MAX_OID_LEN: usize = 128;
/// Longest information string of a TLV (9-bit length).
pub const MAX_TLV_INFO_LEN: usize = 511;

/// TLV types (802.1AB Table 8-1).
pub mod tlv {
    /// End of LLDPDU.
    pub const END: u8 = 0;
    /// Chassis ID.
    pub const CHASSIS_ID: u8 = 1;
    /// Port ID.
    pub const PORT_ID: u8 = 2;
    /// Time To Live.
    pub const TTL: u8 = 3;
    /// Port Description.
    pub const PORT_DESCRIPTION: u8 = 4;
    /// System Name.
    pub const SYSTEM_NAME: u8 = 5;
    /// System Description.
    pub const SYSTEM_DESCRIPTION: u8 = 6;
    /// System Capabilities.
    pub const SYSTEM_CAPABILITIES: u8 = 7;
    /// Management Address.
    pub const MANAGEMENT_ADDRESS: u8 = 8;
    /// Organizationally Specific.
    pub const ORG_SPECIFIC: u8 = 127;
}

/// The TIA's OUI, carried by the LLDP-MED TLVs.
pub const OUI_MED: [u8; 3] = [0x00, 0x12, 0xbb];

/// LLDP-MED TLV subtypes (TIA-1057 Table 5).
pub mod med {
    /// LLDP-MED Capabilities.
    pub const CAPABILITIES: u8 = 1;
    /// Network Policy.
    pub const NETWORK_POLICY: u8 = 2;
    /// Location Identification (not typed here).
    pub const LOCATION: u8 = 3;
    /// Extended Power-via-MDI (not typed here).
    pub const POWER: u8 = 4;
    /// Inventory – Hardware Revision.
    pub const HARDWARE_REVISION: u8 = 5;
    /// Inventory – Firmware Revision.
    pub const FIRMWARE_REVISION: u8 = 6;
    /// Inventory – Software Revision.
    pub const SOFTWARE_REVISION: u8 = 7;
    /// Inventory – Serial Number.
    pub const SERIAL_NUMBER: u8 = 8;
    /// Inventory – Manufacturer Name.
    pub const MANUFACTURER: u8 = 9;
    /// Inventory – Model Name.
    pub const MODEL: u8 = 10;
    /// Inventory – Asset ID.
    pub const ASSET_ID: u8 = 11;

    /// LLDP-MED capability bits (TIA-1057 §10.2.2.1).
    pub mod cap {
        /// LLDP-MED Capabilities.
        pub const CAPABILITIES: u16 = 0x0001;
        /// Network Policy.
        pub const NETWORK_POLICY: u16 = 0x0002;
        /// Location Identification.
        pub const LOCATION: u16 = 0x0004;
        /// Extended Power via MDI – PSE.
        pub const POWER_PSE: u16 = 0x0008;
        /// Extended Power via MDI – PD.
        pub const POWER_PD: u16 = 0x0010;
        /// Inventory.
        pub const INVENTORY: u16 = 0x0020;
    }

    /// Device type: Endpoint Class I.
    pub const CLASS_I: u8 = 1;
    /// Device type: Endpoint Class II.
    pub const CLASS_II: u8 = 2;
    /// Device type: Endpoint Class III (IP communication device: a phone).
    pub const CLASS_III: u8 = 3;
    /// Device type: Network Connectivity (a switch).
    pub const NETWORK_CONNECTIVITY: u8 = 4;

    /// Application type Voice (TIA-1057 Table 12).
    pub const APP_VOICE: u8 = 1;
}

/// System capability bits (802.1AB Table 8-4).
pub mod cap {
    /// Other.
    pub const OTHER: u16 = 0x0001;
    /// Repeater.
    pub const REPEATER: u16 = 0x0002;
    /// MAC Bridge.
    pub const BRIDGE: u16 = 0x0004;
    /// WLAN Access Point.
    pub const WLAN_AP: u16 = 0x0008;
    /// Router.
    pub const ROUTER: u16 = 0x0010;
    /// Telephone.
    pub const TELEPHONE: u16 = 0x0020;
    /// DOCSIS cable device.
    pub const DOCSIS: u16 = 0x0040;
    /// Station Only.
    pub const STATION: u16 = 0x0080;
}

/// Chassis ID subtype "MAC address" (802.1AB Table 8-2).
pub const CHASSIS_MAC: u8 = 4;
/// Port ID subtype "MAC address" (802.1AB Table 8-3).
pub const PORT_MAC: u8 = 3;
/// Port ID subtype "interface name".
pub const PORT_INTERFACE_NAME: u8 = 5;
/// Management address subtype IPv4 (IANA address family numbers).
pub const ADDRESS_IPV4: u8 = 1;
/// Interface numbering subtype "unknown" (802.1AB §8.5.9.5).
pub const IF_UNKNOWN: u8 = 1;
/// Interface numbering subtype "ifIndex".
pub const IF_INDEX: u8 = 2;

/// A Chassis ID or Port ID: a subtype and 1–255 octets.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Id {
    /// The subtype.
    pub subtype: u8,
    /// The ID.
    pub id: Vec<u8>,
}

impl Id {
    /// A MAC-address Chassis ID.
    #[must_use]
    pub fn chassis_mac(mac: [u8; 6]) -> Id {
        Id {
            subtype: CHASSIS_MAC,
            id: mac.to_vec(),
        }
    }

    /// A MAC-address Port ID.
    #[must_use]
    pub fn port_mac(mac: [u8; 6]) -> Id {
        Id {
            subtype: PORT_MAC,
            id: mac.to_vec(),
        }
    }
}

impl fmt::Display for Id {
    /// A MAC address as `aa:bb:..`, a printable ID as text, anything else in hex.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mac = (self.subtype == CHASSIS_MAC || self.subtype == PORT_MAC) && self.id.len() == 6;
        let printable = !self.id.is_empty() && self.id.iter().all(|b| (0x20..0x7f).contains(b));
        if !mac && printable {
            for &b in self.id.iter().take(64) {
                write!(f, "{}", char::from(b))?;
            }
            return Ok(());
        }
        for (i, b) in self.id.iter().take(64).enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// System Capabilities (802.1AB §8.5.8): bits of [`cap`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capabilities {
    /// What the system can do.
    pub supported: u16,
    /// What is enabled.
    pub enabled: u16,
}

/// A Management Address TLV (802.1AB §8.5.9).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManagementAddress {
    /// Address family ([`ADDRESS_IPV4`]).
    pub subtype: u8,
    /// The address, 1–31 octets.
    pub address: Vec<u8>,
    /// Interface numbering subtype ([`IF_UNKNOWN`], [`IF_INDEX`], …).
    pub if_subtype: u8,
    /// Interface number.
    pub if_number: u32,
    /// Object identifier, 0–128 octets.
    pub oid: Vec<u8>,
}

/// LLDP-MED Capabilities (TIA-1057 §10.2.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MedCapabilities {
    /// Bits of [`med::cap`].
    pub capabilities: u16,
    /// Device type ([`med::CLASS_III`] for a phone, [`med::NETWORK_CONNECTIVITY`] for a switch).
    pub device_type: u8,
}

/// A Network Policy (TIA-1057 §10.2.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NetworkPolicy {
    /// Application type ([`med::APP_VOICE`]).
    pub app: u8,
    /// U: the policy for this application is unknown (the other fields mean nothing).
    pub unknown: bool,
    /// T: tagged (802.1Q) rather than untagged.
    pub tagged: bool,
    /// VLAN ID (12 bits; 0 means priority-tagged on the port's native VLAN).
    pub vlan: u16,
    /// 802.1p priority (3 bits).
    pub priority: u8,
    /// DSCP (6 bits).
    pub dscp: u8,
}

impl NetworkPolicy {
    /// A voice policy.
    #[must_use]
    pub fn voice(tagged: bool, vlan: u16, priority: u8, dscp: u8) -> NetworkPolicy {
        NetworkPolicy {
            app: med::APP_VOICE,
            unknown: false,
            tagged,
            vlan: vlan & 0x0fff,
            priority: priority & 0x07,
            dscp: dscp & 0x3f,
        }
    }

    fn decode(info: &[u8]) -> Option<NetworkPolicy> {
        let [app, a, b, c] = *info else { return None };
        let v = u32::from_be_bytes([0, a, b, c]);
        Some(NetworkPolicy {
            app,
            unknown: v & 0x80_0000 != 0,
            tagged: v & 0x40_0000 != 0,
            // Masked to 12, 3 and 6 bits: the casts cannot truncate.
            vlan: ((v >> 9) & 0x0fff) as u16,
            priority: ((v >> 6) & 0x07) as u8,
            dscp: (v & 0x3f) as u8,
        })
    }

    fn encode(&self) -> [u8; 4] {
        let v = (u32::from(self.unknown) << 23)
            | (u32::from(self.tagged) << 22)
            | (u32::from(self.vlan & 0x0fff) << 9)
            | (u32::from(self.priority & 0x07) << 6)
            | u32::from(self.dscp & 0x3f);
        let [_, a, b, c] = v.to_be_bytes();
        [self.app, a, b, c]
    }
}

/// LLDP-MED Inventory (TIA-1057 §10.2.6): each string at most [`MAX_INVENTORY_LEN`] octets.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Inventory {
    /// Hardware Revision.
    pub hardware_revision: Option<String>,
    /// Firmware Revision.
    pub firmware_revision: Option<String>,
    /// Software Revision.
    pub software_revision: Option<String>,
    /// Serial Number.
    pub serial_number: Option<String>,
    /// Manufacturer Name.
    pub manufacturer: Option<String>,
    /// Model Name.
    pub model: Option<String>,
    /// Asset ID.
    pub asset_id: Option<String>,
}

impl Inventory {
    fn slot(&mut self, subtype: u8) -> Option<&mut Option<String>> {
        Some(match subtype {
            med::HARDWARE_REVISION => &mut self.hardware_revision,
            med::FIRMWARE_REVISION => &mut self.firmware_revision,
            med::SOFTWARE_REVISION => &mut self.software_revision,
            med::SERIAL_NUMBER => &mut self.serial_number,
            med::MANUFACTURER => &mut self.manufacturer,
            med::MODEL => &mut self.model,
            med::ASSET_ID => &mut self.asset_id,
            _ => return None,
        })
    }

    fn fields(&self) -> [(u8, &Option<String>); 7] {
        [
            (med::HARDWARE_REVISION, &self.hardware_revision),
            (med::FIRMWARE_REVISION, &self.firmware_revision),
            (med::SOFTWARE_REVISION, &self.software_revision),
            (med::SERIAL_NUMBER, &self.serial_number),
            (med::MANUFACTURER, &self.manufacturer),
            (med::MODEL, &self.model),
            (med::ASSET_ID, &self.asset_id),
        ]
    }

    /// Whether any field is set.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.fields().iter().all(|(_, v)| v.is_none())
    }
}

/// A TLV this codec does not type, kept as it came.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownTlv {
    /// The TLV type (9–126 reserved, or 127 organizationally specific).
    pub tlv_type: u8,
    /// The information string (for type 127: OUI, subtype, then the rest).
    pub info: Vec<u8>,
}

impl UnknownTlv {
    /// The OUI and subtype of an organizationally specific TLV.
    #[must_use]
    pub fn org(&self) -> Option<([u8; 3], u8)> {
        match (self.tlv_type, self.info.as_slice()) {
            (tlv::ORG_SPECIFIC, [a, b, c, s, ..]) => Some(([*a, *b, *c], *s)),
            _ => None,
        }
    }
}

/// An LLDPDU.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lldpdu {
    /// Chassis ID.
    pub chassis_id: Id,
    /// Port ID.
    pub port_id: Id,
    /// Time to live in seconds; 0 withdraws what the sender gave.
    pub ttl: u16,
    /// Port Description.
    pub port_description: Option<String>,
    /// System Name.
    pub system_name: Option<String>,
    /// System Description.
    pub system_description: Option<String>,
    /// System Capabilities.
    pub capabilities: Option<Capabilities>,
    /// Management Addresses, at most [`MAX_MANAGEMENT_ADDRESSES`].
    pub management_addresses: Vec<ManagementAddress>,
    /// LLDP-MED Capabilities: present when the sender speaks LLDP-MED.
    pub med_capabilities: Option<MedCapabilities>,
    /// Network Policies, one per application type, at most [`MAX_POLICIES`].
    pub network_policies: Vec<NetworkPolicy>,
    /// LLDP-MED Inventory.
    pub inventory: Inventory,
    /// TLVs not typed here, at most [`MAX_UNKNOWN`].
    pub unknown: Vec<UnknownTlv>,
    /// Typed TLVs dropped as malformed (decoding only; not written).
    pub malformed: u16,
    /// TLVs beyond the bounds above, not kept (decoding only; not written).
    pub skipped: u16,
}

impl Lldpdu {
    /// The three mandatory TLVs and nothing else.
    #[must_use]
    pub fn new(chassis_id: Id, port_id: Id, ttl: u16) -> Lldpdu {
        Lldpdu {
            chassis_id,
            port_id,
            ttl,
            port_description: None,
            system_name: None,
            system_description: None,
            capabilities: None,
            management_addresses: Vec::new(),
            med_capabilities: None,
            network_policies: Vec::new(),
            inventory: Inventory::default(),
            unknown: Vec::new(),
            malformed: 0,
            skipped: 0,
        }
    }

    /// The voice Network Policy, when one is given and known.
    #[must_use]
    pub fn voice_policy(&self) -> Option<NetworkPolicy> {
        self.network_policies
            .iter()
            .find(|p| p.app == med::APP_VOICE && !p.unknown)
            .copied()
    }
}

/// Why a frame is ignored as a whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Longer than [`MAX_LLDPDU_LEN`].
    #[error("{0} bytes is longer than {MAX_LLDPDU_LEN}")]
    TooLong(usize),
    /// A TLV header or information string runs past the end.
    #[error("a TLV at byte {0} runs past the end of the frame")]
    Truncated(usize),
    /// The first three TLVs are not a well-formed Chassis ID, Port ID and TTL, in order.
    #[error("mandatory TLV {0} missing, out of order or malformed")]
    Mandatory(u8),
    /// A Chassis ID, Port ID or TTL TLV appears again.
    #[error("mandatory TLV {0} repeated")]
    Repeated(u8),
}

/// Why an [`Lldpdu`] cannot be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// A field is longer (or shorter) than its TLV allows.
    #[error("a field of TLV {0} is out of bounds")]
    Field(u8),
    /// More Management Address, Network Policy or unknown TLVs than the decoder keeps.
    #[error("too many TLVs of type {0}")]
    TooMany(u8),
    /// An unknown TLV with a type this codec types, or an organizationally specific one
    /// shorter than its OUI and subtype.
    #[error("TLV type {0} cannot be written as unknown")]
    NotUnknown(u8),
    /// Longer than [`MAX_LLDPDU_LEN`].
    #[error("{0} bytes is longer than {MAX_LLDPDU_LEN}")]
    TooLong(usize),
}

/// `b` as text, every byte of an invalid UTF-8 sequence replaced by `?` (never longer than `b`).
fn text(b: &[u8]) -> String {
    let mut out = String::with_capacity(b.len());
    let mut rest = b;
    while !rest.is_empty() {
        match core::str::from_utf8(rest) {
            Ok(s) => {
                out.push_str(s);
                break;
            }
            Err(e) => {
                let (good, bad) = rest.split_at(e.valid_up_to());
                // `good` is valid UTF-8 by construction.
                out.push_str(core::str::from_utf8(good).unwrap_or(""));
                let n = e.error_len().unwrap_or(bad.len()).max(1);
                for _ in 0..n.min(bad.len()) {
                    out.push('?');
                }
                rest = &bad[n.min(bad.len())..];
            }
        }
    }
    out
}

fn id(info: &[u8]) -> Option<Id> {
    match info {
        [subtype, id @ ..] if !id.is_empty() && id.len() <= MAX_ID_LEN => Some(Id {
            subtype: *subtype,
            id: id.to_vec(),
        }),
        _ => None,
    }
}

fn management_address(info: &[u8]) -> Option<ManagementAddress> {
    let (&alen, rest) = info.split_first()?;
    let alen = usize::from(alen);
    // The address string length counts the subtype: 2–32.
    if !(2..=MAX_ADDRESS_LEN + 1).contains(&alen) {
        return None;
    }
    let (addr, rest) = rest.split_at_checked(alen)?;
    let (&subtype, address) = addr.split_first()?;
    let (&if_subtype, rest) = rest.split_first()?;
    let (num, rest) = rest.split_at_checked(4)?;
    let if_number = u32::from_be_bytes([num[0], num[1], num[2], num[3]]);
    let (&olen, oid) = rest.split_first()?;
    if usize::from(olen) != oid.len() || oid.len() > MAX_OID_LEN {
        return None;
    }
    Some(ManagementAddress {
        subtype,
        address: address.to_vec(),
        if_subtype,
        if_number,
        oid: oid.to_vec(),
    })
}

/// A TLV read: type and information string.
type Tlv<'a> = (u8, &'a [u8]);

/// Reads TLV headers.
struct Tlvs<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Tlvs<'a> {
    fn next(&mut self) -> Result<Option<Tlv<'a>>, DecodeError> {
        if self.at >= self.b.len() {
            return Ok(None);
        }
        let at = self.at;
        let h = self.b.get(at..at + 2).ok_or(DecodeError::Truncated(at))?;
        let h = u16::from_be_bytes([h[0], h[1]]);
        // 7 bits of type: the cast cannot truncate.
        let t = (h >> 9) as u8;
        let len = usize::from(h & 0x01ff);
        let info = self
            .b
            .get(at + 2..at + 2 + len)
            .ok_or(DecodeError::Truncated(at))?;
        self.at = at + 2 + len;
        Ok(Some((t, info)))
    }
}

impl Lldpdu {
    /// Reads an LLDPDU (the Ethernet payload after ethertype 0x88cc).
    pub fn decode(b: &[u8]) -> Result<Lldpdu, DecodeError> {
        if b.len() > MAX_LLDPDU_LEN {
            return Err(DecodeError::TooLong(b.len()));
        }
        let mut r = Tlvs { b, at: 0 };
        let mut mandatory = |want: u8| -> Result<&[u8], DecodeError> {
            match r.next()? {
                Some((t, info)) if t == want => Ok(info),
                _ => Err(DecodeError::Mandatory(want)),
            }
        };
        let chassis_id =
            id(mandatory(tlv::CHASSIS_ID)?).ok_or(DecodeError::Mandatory(tlv::CHASSIS_ID))?;
        let port_id = id(mandatory(tlv::PORT_ID)?).ok_or(DecodeError::Mandatory(tlv::PORT_ID))?;
        let ttl = match *mandatory(tlv::TTL)? {
            [a, b] => u16::from_be_bytes([a, b]),
            _ => return Err(DecodeError::Mandatory(tlv::TTL)),
        };
        let mut f = Lldpdu::new(chassis_id, port_id, ttl);
        while let Some((t, info)) = r.next()? {
            match t {
                tlv::END => break,
                tlv::CHASSIS_ID | tlv::PORT_ID | tlv::TTL => return Err(DecodeError::Repeated(t)),
                _ => f.optional(t, info),
            }
        }
        Ok(f)
    }

    fn optional(&mut self, t: u8, info: &[u8]) {
        let ok = match t {
            tlv::PORT_DESCRIPTION => set_string(&mut self.port_description, info, MAX_STRING_LEN),
            tlv::SYSTEM_NAME => set_string(&mut self.system_name, info, MAX_STRING_LEN),
            tlv::SYSTEM_DESCRIPTION => {
                set_string(&mut self.system_description, info, MAX_STRING_LEN)
            }
            tlv::SYSTEM_CAPABILITIES => match (info, self.capabilities) {
                (&[a, b, c, d], None) => {
                    self.capabilities = Some(Capabilities {
                        supported: u16::from_be_bytes([a, b]),
                        enabled: u16::from_be_bytes([c, d]),
                    });
                    true
                }
                _ => false,
            },
            tlv::MANAGEMENT_ADDRESS => match management_address(info) {
                Some(_) if self.management_addresses.len() >= MAX_MANAGEMENT_ADDRESSES => {
                    self.skipped = self.skipped.saturating_add(1);
                    true
                }
                Some(m) => {
                    self.management_addresses.push(m);
                    true
                }
                None => false,
            },
            tlv::ORG_SPECIFIC => match info {
                [a, b, c, subtype, rest @ ..] if [*a, *b, *c] == OUI_MED => {
                    match self.med(*subtype, rest) {
                        Some(ok) => ok,
                        None => self.keep_unknown(t, info),
                    }
                }
                [_, _, _, _, ..] => self.keep_unknown(t, info),
                _ => false,
            },
            _ => self.keep_unknown(t, info),
        };
        if !ok {
            self.malformed = self.malformed.saturating_add(1);
        }
    }

    /// An LLDP-MED TLV: `Some(well formed)` for the subtypes typed here, `None` for others.
    fn med(&mut self, subtype: u8, rest: &[u8]) -> Option<bool> {
        Some(match subtype {
            med::CAPABILITIES => match (rest, self.med_capabilities) {
                (&[a, b, device_type], None) => {
                    self.med_capabilities = Some(MedCapabilities {
                        capabilities: u16::from_be_bytes([a, b]),
                        device_type,
                    });
                    true
                }
                _ => false,
            },
            med::NETWORK_POLICY => match NetworkPolicy::decode(rest) {
                Some(p) if self.network_policies.iter().any(|q| q.app == p.app) => false,
                Some(_) if self.network_policies.len() >= MAX_POLICIES => {
                    self.skipped = self.skipped.saturating_add(1);
                    true
                }
                Some(p) => {
                    self.network_policies.push(p);
                    true
                }
                None => false,
            },
            s => set_string(self.inventory.slot(s)?, rest, MAX_INVENTORY_LEN),
        })
    }

    fn keep_unknown(&mut self, tlv_type: u8, info: &[u8]) -> bool {
        if self.unknown.len() < MAX_UNKNOWN {
            self.unknown.push(UnknownTlv {
                tlv_type,
                info: info.to_vec(),
            });
        } else {
            self.skipped = self.skipped.saturating_add(1);
        }
        true
    }

    /// Writes the LLDPDU, End TLV included.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let mut w = Writer(Vec::with_capacity(256));
        let id_ok = |i: &Id| !i.id.is_empty() && i.id.len() <= MAX_ID_LEN;
        if !id_ok(&self.chassis_id) {
            return Err(EncodeError::Field(tlv::CHASSIS_ID));
        }
        if !id_ok(&self.port_id) {
            return Err(EncodeError::Field(tlv::PORT_ID));
        }
        w.tlv(
            tlv::CHASSIS_ID,
            &[&[self.chassis_id.subtype], &self.chassis_id.id],
        );
        w.tlv(tlv::PORT_ID, &[&[self.port_id.subtype], &self.port_id.id]);
        w.tlv(tlv::TTL, &[&self.ttl.to_be_bytes()]);
        for (t, s) in [
            (tlv::PORT_DESCRIPTION, &self.port_description),
            (tlv::SYSTEM_NAME, &self.system_name),
            (tlv::SYSTEM_DESCRIPTION, &self.system_description),
        ] {
            if let Some(s) = s {
                if s.len() > MAX_STRING_LEN {
                    return Err(EncodeError::Field(t));
                }
                w.tlv(t, &[s.as_bytes()]);
            }
        }
        if let Some(c) = self.capabilities {
            w.tlv(
                tlv::SYSTEM_CAPABILITIES,
                &[&c.supported.to_be_bytes(), &c.enabled.to_be_bytes()],
            );
        }
        if self.management_addresses.len() > MAX_MANAGEMENT_ADDRESSES {
            return Err(EncodeError::TooMany(tlv::MANAGEMENT_ADDRESS));
        }
        for m in &self.management_addresses {
            if m.address.is_empty()
                || m.address.len() > MAX_ADDRESS_LEN
                || m.oid.len() > MAX_OID_LEN
            {
                return Err(EncodeError::Field(tlv::MANAGEMENT_ADDRESS));
            }
            // Bounded above (32 and 128): the casts cannot truncate.
            w.tlv(
                tlv::MANAGEMENT_ADDRESS,
                &[
                    &[(m.address.len() + 1) as u8, m.subtype],
                    &m.address,
                    &[m.if_subtype],
                    &m.if_number.to_be_bytes(),
                    &[m.oid.len() as u8],
                    &m.oid,
                ],
            );
        }
        if let Some(c) = self.med_capabilities {
            w.med(
                med::CAPABILITIES,
                &[&c.capabilities.to_be_bytes(), &[c.device_type]],
            );
        }
        if self.network_policies.len() > MAX_POLICIES {
            return Err(EncodeError::TooMany(tlv::ORG_SPECIFIC));
        }
        for (i, p) in self.network_policies.iter().enumerate() {
            let dup = self.network_policies[..i].iter().any(|q| q.app == p.app);
            let masked = p.vlan <= 0x0fff && p.priority <= 7 && p.dscp <= 0x3f;
            if dup || !masked {
                return Err(EncodeError::Field(tlv::ORG_SPECIFIC));
            }
            w.med(med::NETWORK_POLICY, &[&p.encode()]);
        }
        for (subtype, v) in self.inventory.fields() {
            if let Some(s) = v {
                if s.len() > MAX_INVENTORY_LEN {
                    return Err(EncodeError::Field(tlv::ORG_SPECIFIC));
                }
                w.med(subtype, &[s.as_bytes()]);
            }
        }
        if self.unknown.len() > MAX_UNKNOWN {
            return Err(EncodeError::TooMany(0));
        }
        for u in &self.unknown {
            let typed = u.tlv_type <= tlv::MANAGEMENT_ADDRESS || u.tlv_type > tlv::ORG_SPECIFIC;
            let org_bad = u.tlv_type == tlv::ORG_SPECIFIC
                && match u.org() {
                    None => true,
                    Some((oui, s)) => {
                        oui == OUI_MED
                            && matches!(
                                s,
                                med::CAPABILITIES | med::NETWORK_POLICY | med::HARDWARE_REVISION
                                    ..=med::ASSET_ID
                            )
                    }
                };
            if typed || org_bad {
                return Err(EncodeError::NotUnknown(u.tlv_type));
            }
            if u.info.len() > MAX_TLV_INFO_LEN {
                return Err(EncodeError::Field(u.tlv_type));
            }
            w.tlv(u.tlv_type, &[&u.info]);
        }
        w.tlv(tlv::END, &[]);
        if w.0.len() > MAX_LLDPDU_LEN {
            return Err(EncodeError::TooLong(w.0.len()));
        }
        Ok(w.0)
    }
}

fn set_string(slot: &mut Option<String>, info: &[u8], max: usize) -> bool {
    if slot.is_some() || info.len() > max {
        return false;
    }
    *slot = Some(text(info));
    true
}

struct Writer(Vec<u8>);

impl Writer {
    /// One TLV; every caller keeps `parts` within 511 octets.
    fn tlv(&mut self, t: u8, parts: &[&[u8]]) {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        let h = (u16::from(t & 0x7f) << 9) | (len.min(MAX_TLV_INFO_LEN) as u16);
        self.0.extend_from_slice(&h.to_be_bytes());
        for p in parts {
            self.0.extend_from_slice(p);
        }
    }

    fn med(&mut self, subtype: u8, parts: &[&[u8]]) {
        let mut all: Vec<&[u8]> = Vec::with_capacity(parts.len() + 1);
        let head = [OUI_MED[0], OUI_MED[1], OUI_MED[2], subtype];
        all.push(&head);
        all.extend_from_slice(parts);
        self.tlv(tlv::ORG_SPECIFIC, &all);
    }
}
