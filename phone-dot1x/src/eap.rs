//! EAP packets (RFC 3748 §4) and the type data the supplicant reads and writes: Identity and
//! Notification (§5.1, §5.2), Nak (§5.3), MD5-Challenge (§5.4) and EAP-TLS (RFC 5216 §3.1).
//!
//! ```text
//! | code (1) | identifier (1) | length (2, big endian, whole packet) | type (1, Request/Response) | type data |
//! ```
//!
//! Every length is checked against the bytes present. Octets beyond the Length field are
//! padding and ignored (RFC 3748 §4.1). Parsing borrows and never allocates.

use alloc::vec::Vec;

/// The EAP header: code, identifier, length.
pub const HEADER_LEN: usize = 4;

/// EAP codes (RFC 3748 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
    /// Request (1).
    Request,
    /// Response (2).
    Response,
    /// Success (3).
    Success,
    /// Failure (4).
    Failure,
}

impl Code {
    /// The code octet.
    #[must_use]
    pub fn to_u8(self) -> u8 {
        match self {
            Code::Request => 1,
            Code::Response => 2,
            Code::Success => 3,
            Code::Failure => 4,
        }
    }
}

/// EAP method types (RFC 3748 §5, IANA "Method Types").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EapType {
    /// Identity (1).
    Identity,
    /// Notification (2).
    Notification,
    /// Legacy Nak (3), Response only.
    Nak,
    /// MD5-Challenge (4).
    Md5Challenge,
    /// EAP-TLS (13).
    Tls,
    /// Expanded Types (254): vendor id and vendor type follow in the type data.
    Expanded,
    /// Any other type (PEAP 25, TTLS 21, ...).
    Other(u8),
}

impl EapType {
    /// The type octet.
    #[must_use]
    pub fn to_u8(self) -> u8 {
        match self {
            EapType::Identity => 1,
            EapType::Notification => 2,
            EapType::Nak => 3,
            EapType::Md5Challenge => 4,
            EapType::Tls => 13,
            EapType::Expanded => 254,
            EapType::Other(n) => n,
        }
    }

    /// The type of an octet.
    #[must_use]
    pub fn from_u8(n: u8) -> EapType {
        match n {
            1 => EapType::Identity,
            2 => EapType::Notification,
            3 => EapType::Nak,
            4 => EapType::Md5Challenge,
            13 => EapType::Tls,
            254 => EapType::Expanded,
            n => EapType::Other(n),
        }
    }
}

/// Why bytes are not an EAP packet (or not the type data they claim to be).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EapError {
    /// Fewer bytes than the header, or than a Request/Response's type octet.
    #[error("EAP packet too short ({0} bytes)")]
    Short(usize),
    /// The Length field is below the minimum for the code.
    #[error("EAP length field {0} below the minimum")]
    BadLength(u16),
    /// The Length field says more than the bytes present.
    #[error("EAP length {claimed} exceeds the {present} bytes present")]
    Truncated {
        /// What the header says.
        claimed: usize,
        /// What is there.
        present: usize,
    },
    /// A code other than 1–4.
    #[error("unknown EAP code {0}")]
    UnknownCode(u8),
    /// MD5-Challenge type data without a whole Value.
    #[error("malformed MD5-Challenge type data")]
    BadMd5,
    /// EAP-TLS type data without its flags, or with the L flag and no whole length.
    #[error("malformed EAP-TLS type data")]
    BadTls,
}

/// One EAP packet, borrowing its type data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packet<'a> {
    /// A Request from the authenticator.
    Request {
        /// The identifier.
        id: u8,
        /// The method type.
        method: EapType,
        /// The type data.
        data: &'a [u8],
    },
    /// A Response from the peer.
    Response {
        /// The identifier (the Request's).
        id: u8,
        /// The method type.
        method: EapType,
        /// The type data.
        data: &'a [u8],
    },
    /// Success.
    Success {
        /// The identifier.
        id: u8,
    },
    /// Failure.
    Failure {
        /// The identifier.
        id: u8,
    },
}

impl<'a> Packet<'a> {
    /// Parses one packet; octets after its Length are ignored.
    ///
    /// # Errors
    /// Short, a Length too small for the code or past the end, an unknown code.
    pub fn parse(bytes: &'a [u8]) -> Result<Packet<'a>, EapError> {
        let [code, id, hi, lo, ..] = bytes else {
            return Err(EapError::Short(bytes.len()));
        };
        let (code, id) = (*code, *id);
        let length = u16::from_be_bytes([*hi, *lo]);
        let len = usize::from(length);
        if len < HEADER_LEN {
            return Err(EapError::BadLength(length));
        }
        let packet = bytes.get(..len).ok_or(EapError::Truncated {
            claimed: len,
            present: bytes.len(),
        })?;
        match code {
            1 | 2 => {
                let [_, _, _, _, method, data @ ..] = packet else {
                    return Err(EapError::BadLength(length));
                };
                let method = EapType::from_u8(*method);
                Ok(if code == 1 {
                    Packet::Request { id, method, data }
                } else {
                    Packet::Response { id, method, data }
                })
            }
            3 => Ok(Packet::Success { id }),
            4 => Ok(Packet::Failure { id }),
            other => Err(EapError::UnknownCode(other)),
        }
    }

    /// The identifier.
    #[must_use]
    pub fn id(&self) -> u8 {
        match *self {
            Packet::Request { id, .. }
            | Packet::Response { id, .. }
            | Packet::Success { id }
            | Packet::Failure { id } => id,
        }
    }

    /// The packet's bytes. Type data is cut so the whole packet fits the 16-bit Length.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        let (code, typed) = match *self {
            Packet::Request { method, data, .. } => (Code::Request, Some((method, data))),
            Packet::Response { method, data, .. } => (Code::Response, Some((method, data))),
            Packet::Success { .. } => (Code::Success, None),
            Packet::Failure { .. } => (Code::Failure, None),
        };
        let mut out = Vec::with_capacity(HEADER_LEN + 1 + typed.map_or(0, |(_, d)| d.len()));
        out.extend_from_slice(&[code.to_u8(), self.id(), 0, 0]);
        if let Some((method, data)) = typed {
            out.push(method.to_u8());
            let room = usize::from(u16::MAX) - HEADER_LEN - 1;
            out.extend_from_slice(data.get(..room).unwrap_or(data));
        }
        let len = u16::try_from(out.len()).unwrap_or(u16::MAX).to_be_bytes();
        out[2] = len[0];
        out[3] = len[1];
        out
    }
}

/// MD5-Challenge type data (RFC 3748 §5.4): Value-Size, Value, Name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Md5Challenge<'a> {
    /// The Value: the challenge in a Request, the 16-byte hash in a Response.
    pub value: &'a [u8],
    /// The Name (the rest of the type data; may be empty).
    pub name: &'a [u8],
}

impl<'a> Md5Challenge<'a> {
    /// Parses MD5-Challenge type data. An empty Value is refused (nothing to hash).
    ///
    /// # Errors
    /// No Value-Size, a zero Value-Size, or a Value past the end.
    pub fn parse(data: &'a [u8]) -> Result<Md5Challenge<'a>, EapError> {
        let [size, rest @ ..] = data else {
            return Err(EapError::BadMd5);
        };
        let size = usize::from(*size);
        if size == 0 || size > rest.len() {
            return Err(EapError::BadMd5);
        }
        let (value, name) = rest.split_at(size);
        Ok(Md5Challenge { value, name })
    }

    /// The type data's bytes (a Value longer than 255 bytes is cut there).
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        let value = self.value.get(..255).unwrap_or(self.value);
        let mut out = Vec::with_capacity(1 + value.len() + self.name.len());
        out.push(u8::try_from(value.len()).unwrap_or(u8::MAX));
        out.extend_from_slice(value);
        out.extend_from_slice(self.name);
        out
    }
}

/// EAP-TLS flags (RFC 5216 §3.1): L (length included), M (more fragments), S (start).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TlsFlags {
    /// L: the TLS Message Length field is present.
    pub length_included: bool,
    /// M: more fragments follow.
    pub more_fragments: bool,
    /// S: EAP-TLS start (from the server only).
    pub start: bool,
}

impl TlsFlags {
    /// The flags octet (the low 5 bits reserved, sent as zero).
    #[must_use]
    pub fn to_u8(self) -> u8 {
        (u8::from(self.length_included) << 7)
            | (u8::from(self.more_fragments) << 6)
            | (u8::from(self.start) << 5)
    }

    /// The flags of an octet (reserved bits ignored).
    #[must_use]
    pub fn from_u8(b: u8) -> TlsFlags {
        TlsFlags {
            length_included: b & 0x80 != 0,
            more_fragments: b & 0x40 != 0,
            start: b & 0x20 != 0,
        }
    }
}

/// EAP-TLS type data (RFC 5216 §3.1, RFC 9190 §2.1): flags, TLS Message Length when L is set,
/// then TLS data (a fragment of the TLS records).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TlsData<'a> {
    /// The flags.
    pub flags: TlsFlags,
    /// The total length of the TLS message this fragment starts (present iff L is set).
    pub message_length: Option<u32>,
    /// The TLS data.
    pub data: &'a [u8],
}

impl<'a> TlsData<'a> {
    /// Parses EAP-TLS type data.
    ///
    /// # Errors
    /// No flags octet, or L set without four length octets.
    pub fn parse(data: &'a [u8]) -> Result<TlsData<'a>, EapError> {
        let [flags, rest @ ..] = data else {
            return Err(EapError::BadTls);
        };
        let flags = TlsFlags::from_u8(*flags);
        if flags.length_included {
            let [a, b, c, d, data @ ..] = rest else {
                return Err(EapError::BadTls);
            };
            Ok(TlsData {
                flags,
                message_length: Some(u32::from_be_bytes([*a, *b, *c, *d])),
                data,
            })
        } else {
            Ok(TlsData {
                flags,
                message_length: None,
                data: rest,
            })
        }
    }

    /// The type data's bytes. The L flag is written iff `message_length` is given.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        let flags = TlsFlags {
            length_included: self.message_length.is_some(),
            ..self.flags
        };
        let mut out = Vec::with_capacity(5 + self.data.len());
        out.push(flags.to_u8());
        if let Some(len) = self.message_length {
            out.extend_from_slice(&len.to_be_bytes());
        }
        out.extend_from_slice(self.data);
        out
    }
}

/// The Response/MD5-Challenge value (RFC 1994 §4.1 via RFC 3748 §5.4): MD5 over the identifier,
/// the password and the challenge.
#[must_use]
pub fn md5_response(id: u8, password: &[u8], challenge: &[u8]) -> [u8; 16] {
    use md5::Digest as _;
    let mut h = md5::Md5::new();
    h.update([id]);
    h.update(password);
    h.update(challenge);
    h.finalize().into()
}
