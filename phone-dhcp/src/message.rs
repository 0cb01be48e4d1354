//! The BOOTP/DHCP message (RFC 2131 §2): fixed fields, magic cookie, options with overload
//! (RFC 2132 §9.3) and long-option concatenation (RFC 3396).

use alloc::borrow::Cow;
use alloc::vec::Vec;
use core::net::Ipv4Addr;

use crate::options::{DhcpOption, MessageType, Overload, SsonCode, code};

/// `op` of a message from a client (RFC 2131 §2).
pub const BOOTREQUEST: u8 = 1;
/// `op` of a message from a server.
pub const BOOTREPLY: u8 = 2;
/// The magic cookie that starts the options (RFC 2131 §3): 99.130.83.99.
pub const MAGIC_COOKIE: [u8; 4] = [99, 130, 83, 99];
/// The broadcast bit of `flags` (RFC 2131 §2, figure 2).
pub const FLAG_BROADCAST: u16 = 0x8000;
/// Length of the fixed header (op .. file).
pub const HEADER_LEN: usize = 236;
/// Shortest DHCP message: the fixed header and the magic cookie.
pub const MIN_DHCP_LEN: usize = HEADER_LEN + 4;
/// The encoder pads messages to this length when the buffer allows it: some relay agents drop
/// BOOTP messages shorter than 300 bytes (RFC 1542 §2.1).
pub const BOOTP_MIN_LEN: usize = 300;
/// Size of the `sname` field.
pub const SNAME_LEN: usize = 64;
/// Size of the `file` field.
pub const FILE_LEN: usize = 128;

const SNAME_AT: usize = 44;
const FILE_AT: usize = SNAME_AT + SNAME_LEN;

/// Where in the message an option was being read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Area {
    /// The options field after the magic cookie.
    Options,
    /// The `file` field, overloaded.
    File,
    /// The `sname` field, overloaded.
    Sname,
}

impl core::fmt::Display for Area {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Area::Options => "options",
            Area::File => "file",
            Area::Sname => "sname",
        })
    }
}

/// Why a datagram is not a DHCP message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Shorter than the fixed header plus magic cookie.
    #[error("{len} bytes is shorter than the {MIN_DHCP_LEN}-byte header and magic cookie")]
    TooShort {
        /// Length of the datagram.
        len: usize,
    },
    /// The magic cookie is missing (a plain BOOTP message, or garbage).
    #[error("no DHCP magic cookie at byte 236")]
    NoMagicCookie,
    /// An option's length byte or value runs past the end of its area.
    #[error("option {code} at byte {offset} of the {area} area runs past the end of the area")]
    OptionTruncated {
        /// The area being read.
        area: Area,
        /// Offset of the option's code byte inside the area.
        offset: usize,
        /// The option code.
        code: u8,
    },
}

/// Why a message could not be encoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// The buffer cannot even hold the fixed header and magic cookie.
    #[error("buffer of {len} bytes is shorter than {MIN_DHCP_LEN}")]
    BufferTooSmall {
        /// Length of the buffer.
        len: usize,
    },
    /// `sname` longer than 64 bytes or `file` longer than 128.
    #[error("the {field} field is {len} bytes, longer than its size")]
    FieldTooLong {
        /// `sname` or `file`.
        field: &'static str,
        /// The length given.
        len: usize,
    },
    /// An option with code 0 (pad) or 255 (end), which cannot carry a value.
    #[error("option code {0} is reserved for pad/end")]
    ReservedCode(u8),
    /// The options do not fit in the buffer, even with `file` and `sname` overloaded.
    #[error("the options do not fit in {len} bytes, even overloading the empty file/sname fields")]
    OptionsDoNotFit {
        /// Length of the buffer.
        len: usize,
    },
}

/// A DHCP message. Decoding borrows from the datagram; encoding writes into a caller buffer.
///
/// `sname` and `file` are the NUL-terminated strings of those fields (empty when the field
/// carries overloaded options). `options` holds each option once, in order of first
/// appearance, with RFC 3396 instances already joined; option 52 is framing and never listed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message<'a> {
    /// 1 = BOOTREQUEST, 2 = BOOTREPLY.
    pub op: u8,
    /// Hardware type (1 = Ethernet).
    pub htype: u8,
    /// Hardware address length (6 for Ethernet).
    pub hlen: u8,
    /// Relay hops.
    pub hops: u8,
    /// Transaction id.
    pub xid: u32,
    /// Seconds since the client began acquisition or renewal.
    pub secs: u16,
    /// Flags; bit 15 is broadcast.
    pub flags: u16,
    /// Client address (only in BOUND, RENEWING, REBINDING).
    pub ciaddr: Ipv4Addr,
    /// "Your" (client) address.
    pub yiaddr: Ipv4Addr,
    /// Next server (spec: HTTPSRVR when non-zero).
    pub siaddr: Ipv4Addr,
    /// Relay agent address.
    pub giaddr: Ipv4Addr,
    /// Client hardware address, 16 bytes as on the wire.
    pub chaddr: [u8; 16],
    /// Server host name, without its NUL terminator.
    pub sname: &'a [u8],
    /// Boot file name, without its NUL terminator.
    pub file: &'a [u8],
    /// The options.
    pub options: Vec<DhcpOption<'a>>,
}

impl Default for Message<'_> {
    fn default() -> Self {
        Message {
            op: BOOTREQUEST,
            htype: 1,
            hlen: 6,
            hops: 0,
            xid: 0,
            secs: 0,
            flags: 0,
            ciaddr: Ipv4Addr::UNSPECIFIED,
            yiaddr: Ipv4Addr::UNSPECIFIED,
            siaddr: Ipv4Addr::UNSPECIFIED,
            giaddr: Ipv4Addr::UNSPECIFIED,
            chaddr: [0; 16],
            sname: &[],
            file: &[],
            options: Vec::new(),
        }
    }
}

fn ip_at(b: &[u8], at: usize) -> Ipv4Addr {
    Ipv4Addr::new(b[at], b[at + 1], b[at + 2], b[at + 3])
}

fn c_string(field: &[u8]) -> &[u8] {
    match field.iter().position(|&b| b == 0) {
        Some(n) => &field[..n],
        None => field,
    }
}

/// Reads one option area: pads skipped, stops at End (RFC 2132 §3), every length checked.
fn scan<'a>(bytes: &'a [u8], area: Area, out: &mut Vec<(u8, &'a [u8])>) -> Result<(), DecodeError> {
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            code::PAD => i += 1,
            code::END => break,
            _ => {
                let len = *bytes.get(i + 1).ok_or(DecodeError::OptionTruncated {
                    area,
                    offset: i,
                    code: c,
                })?;
                let start = i + 2;
                let end = start + usize::from(len);
                let value = bytes.get(start..end).ok_or(DecodeError::OptionTruncated {
                    area,
                    offset: i,
                    code: c,
                })?;
                out.push((c, value));
                i = end;
            }
        }
    }
    Ok(())
}

impl<'a> Message<'a> {
    /// Decodes a datagram, typing the SSON under the default option 242.
    ///
    /// # Errors
    /// See [`DecodeError`].
    pub fn decode(bytes: &'a [u8]) -> Result<Message<'a>, DecodeError> {
        Self::decode_with(bytes, SsonCode::DEFAULT)
    }

    /// Decodes a datagram, typing the SSON under option `sson`.
    ///
    /// Allocation is linear in the datagram's length: the option list, plus the joined bytes
    /// of options split over several instances (RFC 3396).
    ///
    /// # Errors
    /// See [`DecodeError`].
    pub fn decode_with(bytes: &'a [u8], sson: SsonCode) -> Result<Message<'a>, DecodeError> {
        if bytes.len() < MIN_DHCP_LEN {
            return Err(DecodeError::TooShort { len: bytes.len() });
        }
        if bytes[HEADER_LEN..MIN_DHCP_LEN] != MAGIC_COOKIE {
            return Err(DecodeError::NoMagicCookie);
        }
        let mut chaddr = [0u8; 16];
        chaddr.copy_from_slice(&bytes[28..44]);
        let sname_field = &bytes[SNAME_AT..FILE_AT];
        let file_field = &bytes[FILE_AT..HEADER_LEN];

        // RFC 3396 §6: the aggregate buffer is options, then file, then sname.
        let mut raw = Vec::new();
        scan(&bytes[MIN_DHCP_LEN..], Area::Options, &mut raw)?;
        let overload = raw
            .iter()
            .find(|(c, _)| *c == code::OVERLOAD)
            .and_then(|(_, v)| match v {
                [n] => Overload::from_value(*n),
                _ => None,
            });
        if let Some(o) = overload {
            if o.file() {
                scan(file_field, Area::File, &mut raw)?;
            }
            if o.sname() {
                scan(sname_field, Area::Sname, &mut raw)?;
            }
        }

        // Join instances of one code in order (RFC 3396 §5); index by code so this stays linear.
        let mut slot: [Option<usize>; 256] = [None; 256];
        let mut joined: Vec<(u8, Cow<'a, [u8]>)> = Vec::new();
        for (c, v) in raw {
            if c == code::OVERLOAD {
                continue;
            }
            match slot[usize::from(c)] {
                Some(k) => joined[k].1.to_mut().extend_from_slice(v),
                None => {
                    slot[usize::from(c)] = Some(joined.len());
                    joined.push((c, Cow::Borrowed(v)));
                }
            }
        }
        let options = joined
            .into_iter()
            .map(|(c, v)| DhcpOption::parse(c, v, sson))
            .collect();

        let uses_file = overload.is_some_and(Overload::file);
        let uses_sname = overload.is_some_and(Overload::sname);
        Ok(Message {
            op: bytes[0],
            htype: bytes[1],
            hlen: bytes[2],
            hops: bytes[3],
            xid: u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]),
            secs: u16::from_be_bytes([bytes[8], bytes[9]]),
            flags: u16::from_be_bytes([bytes[10], bytes[11]]),
            ciaddr: ip_at(bytes, 12),
            yiaddr: ip_at(bytes, 16),
            siaddr: ip_at(bytes, 20),
            giaddr: ip_at(bytes, 24),
            chaddr,
            sname: if uses_sname {
                &[]
            } else {
                c_string(sname_field)
            },
            file: if uses_file { &[] } else { c_string(file_field) },
            options,
        })
    }

    /// Encodes into `buf` and returns the length written.
    ///
    /// Options go into the options field up to the end of `buf`; when they do not fit, the
    /// encoder overloads the `file` and then the `sname` field if those are empty (RFC 2132
    /// §9.3), splitting values as RFC 3396 allows. Values longer than 255 bytes are always
    /// split into several instances (RFC 3396). Any option 52 in `options` is ignored: the
    /// encoder writes it when it overloads. The message is padded to 300 bytes when `buf` is
    /// long enough (RFC 1542).
    ///
    /// # Errors
    /// See [`EncodeError`].
    pub fn encode(&self, buf: &mut [u8]) -> Result<usize, EncodeError> {
        if buf.len() < MIN_DHCP_LEN {
            return Err(EncodeError::BufferTooSmall { len: buf.len() });
        }
        if self.sname.len() > SNAME_LEN {
            return Err(EncodeError::FieldTooLong {
                field: "sname",
                len: self.sname.len(),
            });
        }
        if self.file.len() > FILE_LEN {
            return Err(EncodeError::FieldTooLong {
                field: "file",
                len: self.file.len(),
            });
        }
        buf[..MIN_DHCP_LEN].fill(0);
        buf[0] = self.op;
        buf[1] = self.htype;
        buf[2] = self.hlen;
        buf[3] = self.hops;
        buf[4..8].copy_from_slice(&self.xid.to_be_bytes());
        buf[8..10].copy_from_slice(&self.secs.to_be_bytes());
        buf[10..12].copy_from_slice(&self.flags.to_be_bytes());
        buf[12..16].copy_from_slice(&self.ciaddr.octets());
        buf[16..20].copy_from_slice(&self.yiaddr.octets());
        buf[20..24].copy_from_slice(&self.siaddr.octets());
        buf[24..28].copy_from_slice(&self.giaddr.octets());
        buf[28..44].copy_from_slice(&self.chaddr);
        buf[SNAME_AT..SNAME_AT + self.sname.len()].copy_from_slice(self.sname);
        buf[FILE_AT..FILE_AT + self.file.len()].copy_from_slice(self.file);
        buf[HEADER_LEN..MIN_DHCP_LEN].copy_from_slice(&MAGIC_COOKIE);

        let mut needed = 1usize; // End
        for o in &self.options {
            let c = o.code();
            if c == code::PAD || c == code::END {
                return Err(EncodeError::ReservedCode(c));
            }
            if c == code::OVERLOAD {
                continue;
            }
            let mut scratch = [0u8; 4];
            let len = o.value(&mut scratch).len();
            // RFC 3396: one instance per 255 bytes, and an empty value still takes 2 bytes.
            needed += len + 2 * len.div_ceil(255).max(1);
        }
        let main_cap = buf.len() - MIN_DHCP_LEN;
        let end = if needed <= main_cap {
            let mut w = Writer {
                buf: &mut buf[MIN_DHCP_LEN..],
                at: 0,
                reserve: 1,
            };
            for o in self.options.iter().filter(|o| o.code() != code::OVERLOAD) {
                let mut scratch = [0u8; 4];
                // Cannot fail: `needed` was counted above.
                if !w.put_whole(o.code(), o.value(&mut scratch)) {
                    return Err(EncodeError::OptionsDoNotFit { len: buf.len() });
                }
            }
            w.buf[w.at] = code::END;
            MIN_DHCP_LEN + w.at + 1
        } else {
            self.encode_overloaded(buf)?
        };
        let padded = end.max(BOOTP_MIN_LEN.min(buf.len()));
        buf[end..padded].fill(0);
        Ok(padded)
    }

    /// Spreads the options over the options field, then `file`, then `sname` (RFC 3396 §6).
    fn encode_overloaded(&self, buf: &mut [u8]) -> Result<usize, EncodeError> {
        let too_big = EncodeError::OptionsDoNotFit { len: buf.len() };
        let (head, opts) = buf.split_at_mut(MIN_DHCP_LEN);
        if opts.len() < 4 {
            return Err(too_big);
        }
        let (sname, rest) = head[SNAME_AT..HEADER_LEN].split_at_mut(SNAME_LEN);
        let file = rest;
        let mut areas: [(Option<&mut [u8]>, u8); 3] = [
            (Some(opts), 0),
            (self.file.is_empty().then_some(file), Overload::File.value()),
            (
                self.sname.is_empty().then_some(sname),
                Overload::Sname.value(),
            ),
        ];
        // Option 52 goes first in the options field; its value is patched at the end.
        let mut writers: Vec<(Writer<'_>, u8)> = Vec::new();
        for (slot, bit) in &mut areas {
            if let Some(b) = slot.take() {
                writers.push((
                    Writer {
                        buf: b,
                        at: 0,
                        reserve: 1,
                    },
                    *bit,
                ));
            }
        }
        let mut cur = 0usize;
        writers[0].0.buf[0] = code::OVERLOAD;
        writers[0].0.buf[1] = 1;
        writers[0].0.at = 3;
        let mut used = 0u8;
        for o in self.options.iter().filter(|o| o.code() != code::OVERLOAD) {
            let mut scratch = [0u8; 4];
            let c = o.code();
            let mut value = o.value(&mut scratch);
            // Whole instances where they fit; otherwise split at the area's end (RFC 3396).
            loop {
                let Some((w, bit)) = writers.get_mut(cur) else {
                    return Err(too_big);
                };
                let room = w.room();
                let want = value.len().min(255);
                if room >= want + 2 {
                    let (now, later) = value.split_at(want);
                    w.put(c, now);
                    used |= *bit;
                    value = later;
                    if value.is_empty() {
                        break;
                    }
                } else if room >= 3 && want > 0 {
                    let (now, later) = value.split_at(room - 2);
                    w.put(c, now);
                    used |= *bit;
                    value = later;
                    cur += 1;
                } else {
                    cur += 1;
                }
            }
        }
        let main_len = writers[0].0.at;
        for (k, (w, bit)) in writers.iter_mut().enumerate() {
            // An overloaded field ends with End and pads; an unused one stays all zeros.
            if k == 0 || used & *bit != 0 {
                let at = w.at;
                w.buf[at] = code::END;
                if k != 0 {
                    w.buf[at + 1..].fill(code::PAD);
                }
            }
        }
        drop(writers);
        buf[MIN_DHCP_LEN + 2] = used;
        Ok(MIN_DHCP_LEN + main_len + 1)
    }

    /// The message type (option 53), if present.
    #[must_use]
    pub fn message_type(&self) -> Option<MessageType> {
        self.options.iter().find_map(|o| match o {
            DhcpOption::MessageType(t) => Some(*t),
            _ => None,
        })
    }

    /// The first option with this code.
    #[must_use]
    pub fn option(&self, option: u8) -> Option<&DhcpOption<'a>> {
        self.options.iter().find(|o| o.code() == option)
    }

    /// The server identifier (option 54), if present and well-formed.
    #[must_use]
    pub fn server_identifier(&self) -> Option<Ipv4Addr> {
        self.options.iter().find_map(|o| match o {
            DhcpOption::ServerIdentifier(a) => Some(*a),
            _ => None,
        })
    }

    /// The lease time (option 51), if present and well-formed.
    #[must_use]
    pub fn lease_time(&self) -> Option<u32> {
        self.options.iter().find_map(|o| match o {
            DhcpOption::LeaseTime(t) => Some(*t),
            _ => None,
        })
    }

    /// The SSON value as sent (see [`crate::sson_string`] to strip a trailing NUL).
    #[must_use]
    pub fn sson(&self) -> Option<&[u8]> {
        self.options.iter().find_map(|o| match o {
            DhcpOption::Sson { value, .. } => Some(&**value),
            _ => None,
        })
    }

    /// Whether the broadcast flag is set.
    #[must_use]
    pub fn broadcast(&self) -> bool {
        self.flags & FLAG_BROADCAST != 0
    }
}

/// Appends options to one area, keeping `reserve` bytes for the End option.
struct Writer<'b> {
    buf: &'b mut [u8],
    at: usize,
    reserve: usize,
}

impl Writer<'_> {
    fn room(&self) -> usize {
        self.buf.len().saturating_sub(self.at + self.reserve)
    }

    /// Writes one instance; the caller checked `room()`.
    fn put(&mut self, c: u8, v: &[u8]) {
        let len = u8::try_from(v.len()).unwrap_or(u8::MAX);
        self.buf[self.at] = c;
        self.buf[self.at + 1] = len;
        let len = usize::from(len);
        self.buf[self.at + 2..self.at + 2 + len].copy_from_slice(&v[..len]);
        self.at += 2 + len;
    }

    /// Writes a value as 255-byte instances; false if it does not fit.
    fn put_whole(&mut self, c: u8, v: &[u8]) -> bool {
        if v.is_empty() {
            if self.room() < 2 {
                return false;
            }
            self.put(c, v);
            return true;
        }
        for chunk in v.chunks(255) {
            if self.room() < chunk.len() + 2 {
                return false;
            }
            self.put(c, chunk);
        }
        true
    }
}
