//! The DNS message (RFC 1035 §4.1): header, question and answer sections, A and CNAME records
//! typed, everything else kept as raw RDATA. The authority and additional sections are not
//! read: a stub resolver that asks for A records needs neither.
//!
//! Decoding is total and bounded: at most [`MAX_MESSAGE_LEN`] bytes (the UDP limit of RFC 1035
//! §4.2.1; the resolver never offers EDNS), [`MAX_QUESTIONS`] questions, [`MAX_ANSWERS`] answer
//! records, and every name read with the bounds of [`crate::name`].

use alloc::vec::Vec;
use core::fmt;
use core::net::Ipv4Addr;

use crate::name::{Name, NameReadError};

/// Largest message: a UDP reply to a query without EDNS (RFC 1035 §4.2.1).
pub const MAX_MESSAGE_LEN: usize = 512;
/// Most questions a message may carry (real ones carry one).
pub const MAX_QUESTIONS: usize = 4;
/// Most answer records read.
pub const MAX_ANSWERS: usize = 64;
/// Length of the header.
pub const HEADER_LEN: usize = 12;

/// TYPE A (RFC 1035 §3.2.2).
pub const TYPE_A: u16 = 1;
/// TYPE CNAME.
pub const TYPE_CNAME: u16 = 5;
/// CLASS IN.
pub const CLASS_IN: u16 = 1;
/// OPCODE QUERY.
pub const OPCODE_QUERY: u8 = 0;

/// RCODE (RFC 1035 §4.1.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Rcode {
    /// 0: no error.
    NoError,
    /// 1: the server could not interpret the query.
    FormErr,
    /// 2: the server failed.
    ServFail,
    /// 3: the name does not exist.
    NxDomain,
    /// 4: the kind of query is not implemented.
    NotImp,
    /// 5: the server refuses.
    Refused,
    /// 6–15.
    Other(u8),
}

impl Rcode {
    /// From the header's 4-bit RCODE field (higher bits ignored).
    #[must_use]
    pub fn from_bits(v: u8) -> Rcode {
        match v & 0x0f {
            0 => Rcode::NoError,
            1 => Rcode::FormErr,
            2 => Rcode::ServFail,
            3 => Rcode::NxDomain,
            4 => Rcode::NotImp,
            5 => Rcode::Refused,
            n => Rcode::Other(n),
        }
    }

    /// The 4-bit value.
    #[must_use]
    pub fn bits(self) -> u8 {
        match self {
            Rcode::NoError => 0,
            Rcode::FormErr => 1,
            Rcode::ServFail => 2,
            Rcode::NxDomain => 3,
            Rcode::NotImp => 4,
            Rcode::Refused => 5,
            Rcode::Other(n) => n & 0x0f,
        }
    }
}

impl fmt::Display for Rcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rcode::NoError => f.write_str("NOERROR"),
            Rcode::FormErr => f.write_str("FORMERR"),
            Rcode::ServFail => f.write_str("SERVFAIL"),
            Rcode::NxDomain => f.write_str("NXDOMAIN"),
            Rcode::NotImp => f.write_str("NOTIMP"),
            Rcode::Refused => f.write_str("REFUSED"),
            Rcode::Other(n) => write!(f, "RCODE {}", n & 0x0f),
        }
    }
}

/// The header's flags (RFC 1035 §4.1.1). The Z/AD/CD bits are not kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flags {
    /// QR: a response.
    pub response: bool,
    /// OPCODE (4 bits).
    pub opcode: u8,
    /// AA.
    pub authoritative: bool,
    /// TC: the message was truncated.
    pub truncated: bool,
    /// RD.
    pub recursion_desired: bool,
    /// RA.
    pub recursion_available: bool,
    /// RCODE.
    pub rcode: Rcode,
}

impl Default for Flags {
    fn default() -> Flags {
        Flags {
            response: false,
            opcode: OPCODE_QUERY,
            authoritative: false,
            truncated: false,
            recursion_desired: false,
            recursion_available: false,
            rcode: Rcode::NoError,
        }
    }
}

impl Flags {
    fn from_bits(v: u16) -> Flags {
        let [hi, lo] = v.to_be_bytes();
        Flags {
            response: hi & 0x80 != 0,
            opcode: (hi >> 3) & 0x0f,
            authoritative: hi & 0x04 != 0,
            truncated: hi & 0x02 != 0,
            recursion_desired: hi & 0x01 != 0,
            recursion_available: lo & 0x80 != 0,
            rcode: Rcode::from_bits(lo),
        }
    }

    fn bits(self) -> u16 {
        let hi = (u8::from(self.response) << 7)
            | ((self.opcode & 0x0f) << 3)
            | (u8::from(self.authoritative) << 2)
            | (u8::from(self.truncated) << 1)
            | u8::from(self.recursion_desired);
        let lo = (u8::from(self.recursion_available) << 7) | self.rcode.bits();
        u16::from_be_bytes([hi, lo])
    }
}

/// A question (RFC 1035 §4.1.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Question {
    /// QNAME.
    pub name: Name,
    /// QTYPE.
    pub qtype: u16,
    /// QCLASS.
    pub qclass: u16,
}

/// RDATA, typed for the records the resolver uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RData {
    /// An A record's address (only for CLASS IN; RDLENGTH 4).
    A(Ipv4Addr),
    /// A CNAME record's canonical name (only for CLASS IN).
    Cname(Name),
    /// Any other record: its RDATA as it came (names inside it may be compressed).
    Other(Vec<u8>),
}

/// A resource record of the answer section (RFC 1035 §4.1.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// NAME.
    pub name: Name,
    /// TYPE.
    pub rtype: u16,
    /// CLASS.
    pub class: u16,
    /// TTL in seconds (RFC 2181 §8: values with the top bit set mean 0).
    pub ttl: u32,
    /// RDATA.
    pub data: RData,
}

impl Record {
    /// An A record.
    #[must_use]
    pub fn a(name: Name, ttl: u32, address: Ipv4Addr) -> Record {
        Record {
            name,
            rtype: TYPE_A,
            class: CLASS_IN,
            ttl,
            data: RData::A(address),
        }
    }

    /// A CNAME record.
    #[must_use]
    pub fn cname(name: Name, ttl: u32, target: Name) -> Record {
        Record {
            name,
            rtype: TYPE_CNAME,
            class: CLASS_IN,
            ttl,
            data: RData::Cname(target),
        }
    }
}

/// Why a datagram is not a DNS message this codec reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Shorter than the header.
    #[error("{0} bytes is shorter than the 12-byte header")]
    TooShort(usize),
    /// Longer than [`MAX_MESSAGE_LEN`].
    #[error("{0} bytes is longer than {MAX_MESSAGE_LEN}")]
    TooLong(usize),
    /// More than [`MAX_QUESTIONS`] questions.
    #[error("{0} questions")]
    TooManyQuestions(u16),
    /// More than [`MAX_ANSWERS`] answers.
    #[error("{0} answer records")]
    TooManyAnswers(u16),
    /// A section ends before its counted entries.
    #[error("the message ends inside a question or record")]
    Truncated,
    /// A name could not be read.
    #[error("bad name at byte {at}: {error}")]
    Name {
        /// Offset of the name.
        at: usize,
        /// What was wrong.
        error: NameReadError,
    },
    /// An A record whose RDATA is not 4 bytes, or a CNAME whose name does not fill its RDATA.
    #[error("record of type {rtype} has malformed RDATA")]
    BadRdata {
        /// The record's TYPE.
        rtype: u16,
    },
}

/// Why a message could not be encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// More questions or answers than the decoder reads back.
    #[error("more than {MAX_QUESTIONS} questions or {MAX_ANSWERS} answers")]
    TooManyEntries,
    /// The RDATA of a record is longer than 65535 bytes.
    #[error("RDATA longer than 65535 bytes")]
    RdataTooLong,
    /// The message would be longer than [`MAX_MESSAGE_LEN`].
    #[error("{0} bytes is longer than {MAX_MESSAGE_LEN}")]
    TooLong(usize),
}

/// A DNS message: header, questions and answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// ID.
    pub id: u16,
    /// Flags.
    pub flags: Flags,
    /// The question section.
    pub questions: Vec<Question>,
    /// The answer section.
    pub answers: Vec<Record>,
}

fn u16_at(b: &[u8], at: usize) -> Result<u16, DecodeError> {
    let s = b.get(at..at + 2).ok_or(DecodeError::Truncated)?;
    Ok(u16::from_be_bytes([s[0], s[1]]))
}

fn u32_at(b: &[u8], at: usize) -> Result<u32, DecodeError> {
    let s = b.get(at..at + 4).ok_or(DecodeError::Truncated)?;
    Ok(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

fn name_at(b: &[u8], at: usize) -> Result<(Name, usize), DecodeError> {
    Name::read(b, at).map_err(|error| DecodeError::Name { at, error })
}

impl Message {
    /// A recursive query for the A record of `name` (RD set, one question, class IN).
    #[must_use]
    pub fn query(id: u16, name: Name) -> Message {
        Message {
            id,
            flags: Flags {
                recursion_desired: true,
                ..Flags::default()
            },
            questions: alloc::vec![Question {
                name,
                qtype: TYPE_A,
                qclass: CLASS_IN,
            }],
            answers: Vec::new(),
        }
    }

    /// Reads a message. Names are expanded; sections after the answers are not read.
    pub fn decode(b: &[u8]) -> Result<Message, DecodeError> {
        if b.len() < HEADER_LEN {
            return Err(DecodeError::TooShort(b.len()));
        }
        if b.len() > MAX_MESSAGE_LEN {
            return Err(DecodeError::TooLong(b.len()));
        }
        let id = u16_at(b, 0)?;
        let flags = Flags::from_bits(u16_at(b, 2)?);
        let qd = u16_at(b, 4)?;
        let an = u16_at(b, 6)?;
        if usize::from(qd) > MAX_QUESTIONS {
            return Err(DecodeError::TooManyQuestions(qd));
        }
        if usize::from(an) > MAX_ANSWERS {
            return Err(DecodeError::TooManyAnswers(an));
        }
        let mut at = HEADER_LEN;
        let mut questions = Vec::with_capacity(usize::from(qd));
        for _ in 0..qd {
            let (name, next) = name_at(b, at)?;
            let qtype = u16_at(b, next)?;
            let qclass = u16_at(b, next + 2)?;
            questions.push(Question {
                name,
                qtype,
                qclass,
            });
            at = next + 4;
        }
        let mut answers = Vec::with_capacity(usize::from(an));
        for _ in 0..an {
            let (name, next) = name_at(b, at)?;
            let rtype = u16_at(b, next)?;
            let class = u16_at(b, next + 2)?;
            let ttl = u32_at(b, next + 4)?;
            let rdlen = usize::from(u16_at(b, next + 8)?);
            let rd_at = next + 10;
            let rdata = b.get(rd_at..rd_at + rdlen).ok_or(DecodeError::Truncated)?;
            let data = match (rtype, class) {
                (TYPE_A, CLASS_IN) => {
                    let o: [u8; 4] = rdata
                        .try_into()
                        .map_err(|_| DecodeError::BadRdata { rtype })?;
                    RData::A(Ipv4Addr::from(o))
                }
                (TYPE_CNAME, CLASS_IN) => {
                    // The name may point back into the message, but must end inside RDATA.
                    let (target, end) = name_at(b, rd_at)?;
                    if end != rd_at + rdlen {
                        return Err(DecodeError::BadRdata { rtype });
                    }
                    RData::Cname(target)
                }
                _ => RData::Other(rdata.to_vec()),
            };
            answers.push(Record {
                name,
                rtype,
                class,
                ttl,
                data,
            });
            at = rd_at + rdlen;
        }
        Ok(Message {
            id,
            flags,
            questions,
            answers,
        })
    }

    /// Writes the message without compression.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        if self.questions.len() > MAX_QUESTIONS || self.answers.len() > MAX_ANSWERS {
            return Err(EncodeError::TooManyEntries);
        }
        let mut b = Vec::with_capacity(MAX_MESSAGE_LEN);
        b.extend_from_slice(&self.id.to_be_bytes());
        b.extend_from_slice(&self.flags.bits().to_be_bytes());
        // Counts are bounded above (at most 64): the casts cannot truncate.
        b.extend_from_slice(&(self.questions.len() as u16).to_be_bytes());
        b.extend_from_slice(&(self.answers.len() as u16).to_be_bytes());
        b.extend_from_slice(&[0, 0, 0, 0]);
        for q in &self.questions {
            b.extend_from_slice(q.name.wire());
            b.extend_from_slice(&q.qtype.to_be_bytes());
            b.extend_from_slice(&q.qclass.to_be_bytes());
        }
        for r in &self.answers {
            b.extend_from_slice(r.name.wire());
            b.extend_from_slice(&r.rtype.to_be_bytes());
            b.extend_from_slice(&r.class.to_be_bytes());
            b.extend_from_slice(&r.ttl.to_be_bytes());
            let rdata: &[u8] = match &r.data {
                RData::A(a) => &a.octets()[..],
                RData::Cname(n) => n.wire(),
                RData::Other(v) => v,
            };
            let len = u16::try_from(rdata.len()).map_err(|_| EncodeError::RdataTooLong)?;
            b.extend_from_slice(&len.to_be_bytes());
            b.extend_from_slice(rdata);
            if b.len() > MAX_MESSAGE_LEN {
                return Err(EncodeError::TooLong(b.len()));
            }
        }
        if b.len() > MAX_MESSAGE_LEN {
            return Err(EncodeError::TooLong(b.len()));
        }
        Ok(b)
    }
}
