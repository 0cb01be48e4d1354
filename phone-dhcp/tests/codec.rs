//! Codec tests: fixed fields, typed options, overload both ways, RFC 3396 concatenation,
//! pad/end, bounds, option 43, round trips (proptest) and cross-checks against dhcproto.
#![allow(clippy::unwrap_used)]

use std::borrow::Cow;
use std::net::Ipv4Addr;

use phone_dhcp::avaya::{VendorOptionError, VendorOptions};
use phone_dhcp::message::{
    Area, BOOTREPLY, BOOTREQUEST, DecodeError, EncodeError, FLAG_BROADCAST, MAGIC_COOKIE,
};
use phone_dhcp::options::{DhcpOption, Ipv4List, MessageType, SsonCode, code};
use phone_dhcp::{ArpKind, ArpMessage, ArpPacket, Message, host_name, sson_string};
use proptest::prelude::*;

/// A hand-built reply: header, cookie, then `options` verbatim, and `sname`/`file` raw.
fn raw_reply(options: &[u8], sname: &[u8], file: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; 240];
    b[0] = BOOTREPLY;
    b[1] = 1;
    b[2] = 6;
    b[4..8].copy_from_slice(&0xdead_beefu32.to_be_bytes());
    b[10] = 0x80;
    b[16..20].copy_from_slice(&[10, 0, 0, 7]);
    b[20..24].copy_from_slice(&[10, 0, 0, 1]);
    b[28..34].copy_from_slice(&[0, 4, 0x0d, 1, 2, 3]);
    b[44..44 + sname.len()].copy_from_slice(sname);
    b[108..108 + file.len()].copy_from_slice(file);
    b[236..240].copy_from_slice(&MAGIC_COOKIE);
    b.extend_from_slice(options);
    b
}

#[test]
fn fixed_fields_decode() {
    let b = raw_reply(&[53, 1, 2, 255], b"srv", b"boot.bin");
    let m = Message::decode(&b).unwrap();
    assert_eq!(m.op, BOOTREPLY);
    assert_eq!((m.htype, m.hlen, m.hops), (1, 6, 0));
    assert_eq!(m.xid, 0xdead_beef);
    assert_eq!(m.flags, FLAG_BROADCAST);
    assert!(m.broadcast());
    assert_eq!(m.yiaddr, Ipv4Addr::new(10, 0, 0, 7));
    assert_eq!(m.siaddr, Ipv4Addr::new(10, 0, 0, 1));
    assert_eq!(&m.chaddr[..6], &[0, 4, 0x0d, 1, 2, 3]);
    assert_eq!(m.sname, b"srv");
    assert_eq!(m.file, b"boot.bin");
    assert_eq!(m.message_type(), Some(MessageType::Offer));
}

#[test]
fn typed_options_decode() {
    let mut o = vec![53, 1, 5];
    o.extend_from_slice(&[1, 4, 255, 255, 255, 0]);
    o.extend_from_slice(&[3, 8, 10, 0, 0, 1, 10, 0, 0, 2]);
    o.extend_from_slice(&[6, 4, 8, 8, 8, 8]);
    o.extend_from_slice(&[7, 4, 10, 0, 0, 9]);
    o.extend_from_slice(&[12, 3, b'a', b'b', b'c']);
    o.extend_from_slice(&[15, 7]);
    o.extend_from_slice(b"example");
    o.extend_from_slice(&[26, 2, 5, 220]);
    o.extend_from_slice(&[42, 4, 10, 0, 0, 3]);
    o.extend_from_slice(&[50, 4, 10, 0, 0, 7]);
    o.extend_from_slice(&[51, 4, 0, 0, 14, 16]);
    o.extend_from_slice(&[54, 4, 10, 0, 0, 1]);
    o.extend_from_slice(&[55, 3, 1, 3, 6]);
    o.extend_from_slice(&[57, 2, 3, 232]);
    o.extend_from_slice(&[58, 4, 0, 0, 7, 8]);
    o.extend_from_slice(&[59, 4, 0, 0, 12, 78]);
    o.extend_from_slice(&[60, 3, b'c', b'c', b'p']);
    o.extend_from_slice(&[61, 7, 1, 0, 4, 0x0d, 1, 2, 3]);
    o.extend_from_slice(&[242, 5]);
    o.extend_from_slice(b"SIG=2");
    o.extend_from_slice(&[200, 2, 9, 9]);
    o.push(255);
    let b = raw_reply(&o, &[], &[]);
    let m = Message::decode(&b).unwrap();
    let want = vec![
        DhcpOption::MessageType(MessageType::Ack),
        DhcpOption::SubnetMask(Ipv4Addr::new(255, 255, 255, 0)),
        DhcpOption::Router(
            Ipv4List::from_addrs(&[Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2)])
                .unwrap(),
        ),
        DhcpOption::DomainNameServer(Ipv4List::from_addrs(&[Ipv4Addr::new(8, 8, 8, 8)]).unwrap()),
        DhcpOption::LogServer(Ipv4List::from_addrs(&[Ipv4Addr::new(10, 0, 0, 9)]).unwrap()),
        DhcpOption::HostName(Cow::Borrowed(b"abc")),
        DhcpOption::DomainName(Cow::Borrowed(b"example")),
        DhcpOption::InterfaceMtu(1500),
        DhcpOption::NtpServers(Ipv4List::from_addrs(&[Ipv4Addr::new(10, 0, 0, 3)]).unwrap()),
        DhcpOption::RequestedIpAddress(Ipv4Addr::new(10, 0, 0, 7)),
        DhcpOption::LeaseTime(3600),
        DhcpOption::ServerIdentifier(Ipv4Addr::new(10, 0, 0, 1)),
        DhcpOption::ParameterRequestList(Cow::Borrowed(&[1, 3, 6])),
        DhcpOption::MaxMessageSize(1000),
        DhcpOption::RenewalTime(1800),
        DhcpOption::RebindingTime(3150),
        DhcpOption::VendorClassIdentifier(Cow::Borrowed(b"ccp")),
        DhcpOption::ClientIdentifier(Cow::Borrowed(&[1, 0, 4, 0x0d, 1, 2, 3])),
        DhcpOption::Sson {
            code: 242,
            value: Cow::Borrowed(b"SIG=2"),
        },
        DhcpOption::Other {
            code: 200,
            value: Cow::Borrowed(&[9, 9]),
        },
    ];
    assert_eq!(m.options, want);
    assert_eq!(m.lease_time(), Some(3600));
    assert_eq!(m.server_identifier(), Some(Ipv4Addr::new(10, 0, 0, 1)));
    assert_eq!(m.sson(), Some(&b"SIG=2"[..]));
    // Single-instance values borrow from the datagram.
    assert!(matches!(
        &m.options[5],
        DhcpOption::HostName(Cow::Borrowed(_))
    ));
}

#[test]
fn sson_code_is_configurable() {
    let b = raw_reply(
        &[53, 1, 5, 176, 3, b'a', b'=', b'1', 242, 1, b'x', 255],
        &[],
        &[],
    );
    let m = Message::decode_with(&b, SsonCode::new(176).unwrap()).unwrap();
    assert_eq!(m.sson(), Some(&b"a=1"[..]));
    assert_eq!(
        m.option(242),
        Some(&DhcpOption::Other {
            code: 242,
            value: Cow::Borrowed(b"x")
        })
    );
    assert_eq!(SsonCode::new(127), None);
    assert_eq!(SsonCode::new(255), None);
}

#[test]
fn malformed_typed_values_stay_raw() {
    let b = raw_reply(
        &[
            1, 3, 255, 255, 0, 3, 6, 1, 2, 3, 4, 5, 6, 51, 0, 53, 2, 1, 1, 255,
        ],
        &[],
        &[],
    );
    let m = Message::decode(&b).unwrap();
    assert_eq!(
        m.options,
        vec![
            DhcpOption::Other {
                code: 1,
                value: Cow::Borrowed(&[255, 255, 0])
            },
            DhcpOption::Other {
                code: 3,
                value: Cow::Borrowed(&[1, 2, 3, 4, 5, 6])
            },
            DhcpOption::Other {
                code: 51,
                value: Cow::Borrowed(&[])
            },
            DhcpOption::Other {
                code: 53,
                value: Cow::Borrowed(&[1, 1])
            },
        ]
    );
    assert_eq!(m.message_type(), None);
}

#[test]
fn pads_end_and_trailing_bytes() {
    // Pads anywhere, End stops parsing: the garbage after it is never read.
    let b = raw_reply(
        &[0, 0, 53, 1, 2, 0, 51, 4, 0, 0, 0, 60, 255, 7, 200, 1],
        &[],
        &[],
    );
    let m = Message::decode(&b).unwrap();
    assert_eq!(
        m.options,
        vec![
            DhcpOption::MessageType(MessageType::Offer),
            DhcpOption::LeaseTime(60)
        ]
    );
    // A missing End is tolerated at the end of the datagram.
    let b = raw_reply(&[53, 1, 2], &[], &[]);
    assert_eq!(Message::decode(&b).unwrap().options.len(), 1);
}

#[test]
fn every_length_is_bounded() {
    assert_eq!(
        Message::decode(&[0u8; 239]),
        Err(DecodeError::TooShort { len: 239 })
    );
    let mut b = raw_reply(&[255], &[], &[]);
    b[239] = 0;
    assert_eq!(Message::decode(&b), Err(DecodeError::NoMagicCookie));
    let b = raw_reply(&[53, 1, 2, 51, 4, 0, 0], &[], &[]);
    assert_eq!(
        Message::decode(&b),
        Err(DecodeError::OptionTruncated {
            area: Area::Options,
            offset: 3,
            code: 51
        })
    );
    let b = raw_reply(&[53], &[], &[]);
    assert_eq!(
        Message::decode(&b),
        Err(DecodeError::OptionTruncated {
            area: Area::Options,
            offset: 0,
            code: 53
        })
    );
    // A truncated option inside an overloaded file field.
    let b = raw_reply(&[52, 1, 1, 53, 1, 2, 255], &[], &[12, 200, b'x']);
    assert_eq!(
        Message::decode(&b),
        Err(DecodeError::OptionTruncated {
            area: Area::File,
            offset: 0,
            code: 12
        })
    );
}

#[test]
fn overload_is_read_options_file_sname() {
    // RFC 3396 §6 order: options, then file, then sname; the same code joins across all three.
    let mut file = vec![242, 4];
    file.extend_from_slice(b"B=2,");
    file.extend_from_slice(&[3, 4, 10, 0, 0, 1, 255]);
    let mut sname = vec![242, 3];
    sname.extend_from_slice(b"C=3");
    sname.push(255);
    let mut opts = vec![52, 1, 3, 53, 1, 5, 242, 4];
    opts.extend_from_slice(b"A=1,");
    opts.push(255);
    let b = raw_reply(&opts, &sname, &file);
    let m = Message::decode(&b).unwrap();
    assert_eq!(m.sson(), Some(&b"A=1,B=2,C=3"[..]));
    assert!(matches!(
        m.options[1],
        DhcpOption::Sson {
            value: Cow::Owned(_),
            ..
        }
    ));
    assert_eq!(m.sname, b"");
    assert_eq!(m.file, b"");
    assert!(m.option(code::OVERLOAD).is_none());
    assert!(m.option(code::ROUTER).is_some());

    // Without option 52 the same fields are plain strings and not parsed.
    let b = raw_reply(&[53, 1, 5, 255], b"host", &file);
    let m = Message::decode(&b).unwrap();
    assert_eq!(m.sname, b"host");
    assert_eq!(m.file, &file[..9], "up to the first NUL");
    assert_eq!(m.options.len(), 1);

    // Overload 1 reads file only; sname stays a string.
    let b = raw_reply(&[52, 1, 1, 255], b"host", &file);
    let m = Message::decode(&b).unwrap();
    assert_eq!(m.sname, b"host");
    assert_eq!(m.sson(), Some(&b"B=2,"[..]));
}

#[test]
fn long_options_are_split_and_joined() {
    let long: Vec<u8> = (0..700u32).map(|i| b'a' + (i % 26) as u8).collect();
    let m = Message {
        op: BOOTREPLY,
        options: vec![
            DhcpOption::MessageType(MessageType::Ack),
            DhcpOption::Sson {
                code: 242,
                value: Cow::Borrowed(&long),
            },
        ],
        ..Message::default()
    };
    let mut buf = [0u8; 1500];
    let n = m.encode(&mut buf).unwrap();
    // 700 bytes = 255 + 255 + 190: three instances (RFC 3396 §7).
    let area = &buf[240..n];
    assert_eq!(&area[..3], &[53, 1, 5]);
    assert_eq!(&area[3..5], &[242, 255]);
    assert_eq!(&area[260..262], &[242, 255]);
    assert_eq!(&area[517..519], &[242, 190]);
    assert_eq!(area[709], 255);
    assert_eq!(Message::decode(&buf[..n]).unwrap(), m);
}

#[test]
fn encoder_overloads_file_then_sname() {
    let a: Vec<u8> = vec![b'x'; 100];
    let m = Message {
        op: BOOTREPLY,
        options: vec![
            DhcpOption::MessageType(MessageType::Offer),
            DhcpOption::Other {
                code: 224,
                value: Cow::Borrowed(&a),
            },
            DhcpOption::Other {
                code: 225,
                value: Cow::Borrowed(&a),
            },
        ],
        ..Message::default()
    };
    // Options field of 300 - 240 = 60 bytes: the rest must spill into file and sname.
    let mut buf = [0u8; 300];
    let n = m.encode(&mut buf).unwrap();
    assert_eq!(n, 300);
    assert_eq!(&buf[240..243], &[52, 1, 3]);
    assert_eq!(buf[108], 224, "file holds options");
    assert_ne!(buf[44], 0, "sname holds options");
    assert_eq!(Message::decode(&buf[..n]).unwrap(), m);

    // A non-empty sname is never overwritten: then it does not fit.
    let m2 = Message {
        sname: b"keep",
        ..m.clone()
    };
    assert_eq!(
        m2.encode(&mut buf),
        Err(EncodeError::OptionsDoNotFit { len: 300 })
    );
    // Only the file field needed: overload = 1, sname left alone.
    let small: Vec<u8> = vec![b'y'; 100];
    let m3 = Message {
        sname: b"keep",
        options: vec![
            DhcpOption::MessageType(MessageType::Offer),
            DhcpOption::Other {
                code: 224,
                value: Cow::Borrowed(&small),
            },
        ],
        ..m
    };
    let n = m3.encode(&mut buf).unwrap();
    assert_eq!(&buf[240..243], &[52, 1, 1]);
    assert_eq!(Message::decode(&buf[..n]).unwrap(), m3);
}

#[test]
fn encode_errors() {
    let m = Message::default();
    assert_eq!(
        m.encode(&mut [0u8; 100]),
        Err(EncodeError::BufferTooSmall { len: 100 })
    );
    let long = [b'a'; 65];
    let m = Message {
        sname: &long,
        ..Message::default()
    };
    assert_eq!(
        m.encode(&mut [0u8; 576]),
        Err(EncodeError::FieldTooLong {
            field: "sname",
            len: 65
        })
    );
    let m = Message {
        options: vec![DhcpOption::Other {
            code: 0,
            value: Cow::Borrowed(&[]),
        }],
        ..Message::default()
    };
    assert_eq!(m.encode(&mut [0u8; 576]), Err(EncodeError::ReservedCode(0)));
}

#[test]
fn pads_to_300_bytes() {
    let m = Message {
        options: vec![DhcpOption::MessageType(MessageType::Discover)],
        ..Message::default()
    };
    let mut buf = [0xAAu8; 576];
    let n = m.encode(&mut buf).unwrap();
    assert_eq!(n, 300);
    assert!(buf[244..300].iter().all(|&b| b == 0));
    assert_eq!(buf[0], BOOTREQUEST);
}

#[test]
fn avaya_option_43() {
    let raw = VendorOptions::encode(&[(2, b"10.0.0.5\0"), (14, b"2"), (10, b"1212"), (20, b"?")]);
    let v = VendorOptions::parse(&raw).unwrap();
    let params: Vec<_> = v.parameters().collect();
    assert_eq!(
        params,
        vec![
            ("HTTPSRVR", &b"10.0.0.5"[..]),
            ("SIG", &b"2"[..]),
            ("L2QVLAN", &b"1212"[..])
        ]
    );
    assert_eq!(v.sub_options.len(), 4, "unknown code 20 kept for a warning");
    // Marker missing, wrong, or not first: not Avaya's.
    assert_eq!(
        VendorOptions::parse(&[2, 1, b'x']),
        Err(VendorOptionError::NotAvaya)
    );
    assert_eq!(
        VendorOptions::parse(&[1, 4, b'6', b'8', b'8', b'8']),
        Err(VendorOptionError::NotAvaya)
    );
    assert_eq!(
        VendorOptions::parse(&[2, 1, b'x', 1, 4, b'6', b'8', b'8', b'9']),
        Err(VendorOptionError::NotAvaya)
    );
    assert_eq!(VendorOptions::parse(&[]), Err(VendorOptionError::NotAvaya));
    assert_eq!(
        VendorOptions::parse(&[1, 4, b'6', b'8', b'8', b'9', 2, 9, b'x']),
        Err(VendorOptionError::Truncated { offset: 6, code: 2 })
    );
    // The marker may carry a trailing NUL too.
    assert!(VendorOptions::parse(&[1, 5, b'6', b'8', b'8', b'9', 0]).is_ok());
}

#[test]
fn host_name_rule() {
    assert_eq!(host_name([0x50, 0xCD, 0x22, 0xB2, 0x73, 0x12]), "AVXB27312");
    assert_eq!(host_name([0x00, 0x04, 0x0D, 0xAB, 0x0C, 0x01]), "AVAAB0C01");
    assert_eq!(host_name([0x00, 0x1B, 0x4F, 0, 0, 0]), "AVB000000");
    assert_eq!(host_name([0x00, 0x09, 0x6E, 0xff, 0xff, 0xff]), "AVEFFFFFF");
    assert_eq!(host_name([0x00, 0x60, 0x1D, 1, 2, 3]), "AVL010203");
    assert_eq!(host_name([0x00, 0x07, 0x3B, 1, 2, 3]), "AVT010203");
    assert_eq!(sson_string(b"A=1\0"), b"A=1");
    assert_eq!(sson_string(b"A=1"), b"A=1");
}

// ---- dhcproto cross-checks -------------------------------------------------------------------

#[test]
fn dhcproto_reads_what_we_write() {
    use dhcproto::{Decodable, Decoder, v4};
    let long = vec![b'k'; 400];
    let m = Message {
        xid: 77,
        secs: 3,
        flags: FLAG_BROADCAST,
        chaddr: [0, 4, 0x0d, 1, 2, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        options: vec![
            DhcpOption::MessageType(MessageType::Request),
            DhcpOption::RequestedIpAddress(Ipv4Addr::new(10, 0, 0, 7)),
            DhcpOption::ServerIdentifier(Ipv4Addr::new(10, 0, 0, 1)),
            DhcpOption::HostName(Cow::Borrowed(b"AVA010203")),
            DhcpOption::ParameterRequestList(Cow::Borrowed(&[1, 3, 6, 242])),
            DhcpOption::Sson {
                code: 242,
                value: Cow::Borrowed(&long),
            },
        ],
        ..Message::default()
    };
    let mut buf = [0u8; 1500];
    let n = m.encode(&mut buf).unwrap();
    let theirs = v4::Message::decode(&mut Decoder::new(&buf[..n])).unwrap();
    assert_eq!(theirs.xid(), 77);
    assert_eq!(theirs.secs(), 3);
    assert_eq!(theirs.opts().msg_type(), Some(v4::MessageType::Request));
    assert_eq!(
        theirs.opts().get(v4::OptionCode::RequestedIpAddress),
        Some(&v4::DhcpOption::RequestedIpAddress(Ipv4Addr::new(
            10, 0, 0, 7
        )))
    );
    assert_eq!(
        theirs.opts().get(v4::OptionCode::Hostname),
        Some(&v4::DhcpOption::Hostname("AVA010203".into()))
    );
    // dhcproto joins long options as RFC 3396 says.
    match theirs.opts().get(v4::OptionCode::Unknown(242)) {
        Some(v4::DhcpOption::Unknown(u)) => assert_eq!(u.data(), &long[..]),
        other => panic!("{other:?}"),
    }
}

#[test]
fn we_read_what_dhcproto_writes() {
    use dhcproto::{Encodable, Encoder, v4};
    let mut msg = v4::Message::default();
    msg.set_opcode(v4::Opcode::BootReply)
        .set_xid(0x1234)
        .set_yiaddr(Ipv4Addr::new(10, 0, 0, 50))
        .set_siaddr(Ipv4Addr::new(10, 0, 0, 1))
        .set_chaddr(&[0, 4, 0x0d, 1, 2, 3]);
    let o = msg.opts_mut();
    o.insert(v4::DhcpOption::MessageType(v4::MessageType::Offer));
    o.insert(v4::DhcpOption::SubnetMask(Ipv4Addr::new(255, 255, 255, 0)));
    o.insert(v4::DhcpOption::Router(vec![Ipv4Addr::new(10, 0, 0, 1)]));
    o.insert(v4::DhcpOption::AddressLeaseTime(600));
    o.insert(v4::DhcpOption::ServerIdentifier(Ipv4Addr::new(10, 0, 0, 1)));
    o.insert(v4::DhcpOption::Unknown(v4::UnknownOption::new(
        v4::OptionCode::Unknown(242),
        b"HTTPSRVR=10.0.0.1,SIG=2".to_vec(),
    )));
    let mut out = Vec::new();
    msg.encode(&mut Encoder::new(&mut out)).unwrap();
    let m = Message::decode(&out).unwrap();
    assert_eq!(m.op, BOOTREPLY);
    assert_eq!(m.xid, 0x1234);
    assert_eq!(m.yiaddr, Ipv4Addr::new(10, 0, 0, 50));
    assert_eq!(m.message_type(), Some(MessageType::Offer));
    assert_eq!(m.lease_time(), Some(600));
    assert_eq!(m.sson(), Some(&b"HTTPSRVR=10.0.0.1,SIG=2"[..]));
    assert_eq!(
        m.option(code::SUBNET_MASK),
        Some(&DhcpOption::SubnetMask(Ipv4Addr::new(255, 255, 255, 0)))
    );
}

// ---- proptest round trips --------------------------------------------------------------------

const TYPED: &[u8] = &[
    1, 3, 6, 7, 12, 15, 26, 42, 43, 50, 51, 53, 54, 55, 57, 58, 59, 60, 61, 242,
];

fn ip() -> impl Strategy<Value = Ipv4Addr> {
    any::<u32>().prop_map(Ipv4Addr::from)
}

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..max)
}

fn list() -> impl Strategy<Value = Ipv4List<'static>> {
    proptest::collection::vec(ip(), 1..6).prop_map(|v| Ipv4List::from_addrs(&v).unwrap())
}

fn option() -> impl Strategy<Value = DhcpOption<'static>> {
    let other_code = any::<u8>().prop_filter("untyped", |c| {
        !TYPED.contains(c) && ![0, 52, 255].contains(c)
    });
    prop_oneof![
        ip().prop_map(DhcpOption::SubnetMask),
        list().prop_map(DhcpOption::Router),
        list().prop_map(DhcpOption::DomainNameServer),
        list().prop_map(DhcpOption::LogServer),
        bytes(40).prop_map(|v| DhcpOption::HostName(v.into())),
        bytes(40).prop_map(|v| DhcpOption::DomainName(v.into())),
        any::<u16>().prop_map(DhcpOption::InterfaceMtu),
        list().prop_map(DhcpOption::NtpServers),
        bytes(300).prop_map(|v| DhcpOption::VendorSpecific(v.into())),
        ip().prop_map(DhcpOption::RequestedIpAddress),
        any::<u32>().prop_map(DhcpOption::LeaseTime),
        any::<u8>().prop_map(|t| DhcpOption::MessageType(MessageType::from(t))),
        ip().prop_map(DhcpOption::ServerIdentifier),
        bytes(20).prop_map(|v| DhcpOption::ParameterRequestList(v.into())),
        any::<u16>().prop_map(DhcpOption::MaxMessageSize),
        any::<u32>().prop_map(DhcpOption::RenewalTime),
        any::<u32>().prop_map(DhcpOption::RebindingTime),
        bytes(40).prop_map(|v| DhcpOption::VendorClassIdentifier(v.into())),
        bytes(20).prop_map(|v| DhcpOption::ClientIdentifier(v.into())),
        bytes(700).prop_map(|v| DhcpOption::Sson {
            code: 242,
            value: v.into()
        }),
        (other_code, bytes(300)).prop_map(|(code, v)| DhcpOption::Other {
            code,
            value: v.into()
        }),
    ]
}

fn options() -> impl Strategy<Value = Vec<DhcpOption<'static>>> {
    proptest::collection::vec(option(), 0..12).prop_map(|mut v| {
        // A decoded message lists each code once.
        let mut seen = [false; 256];
        v.retain(|o| !std::mem::replace(&mut seen[usize::from(o.code())], true));
        v
    })
}

fn c_str(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(1u8.., 0..max)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// The ARP parser the client runs on every packet of the interface: never panics, reads
    /// only the first 28 bytes, and what parses prints back to them.
    #[test]
    fn arp_parse_is_total_and_round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
        if let Ok(m) = ArpMessage::parse(&bytes) {
            prop_assert_eq!(&m.to_bytes()[..], &bytes[..28]);
        } else {
            prop_assert!(
                bytes.len() < 28
                    || bytes[..8] != [0, 1, 8, 0, 6, 4, 0, 1] && bytes[..8] != [0, 1, 8, 0, 6, 4, 0, 2]
            );
        }
    }

    /// Every packet the phone sends parses back to what it says.
    #[test]
    fn arp_packets_sent_parse(mac in any::<[u8; 6]>(), a in any::<[u8; 4]>(), b in any::<[u8; 4]>()) {
        let (a, b) = (Ipv4Addr::from(a), Ipv4Addr::from(b));
        for p in [ArpPacket::probe(mac, a), ArpPacket::announce(mac, a), ArpPacket::request(mac, a, b)] {
            let m = ArpMessage::parse(&p.to_bytes()).unwrap();
            prop_assert_eq!((m.operation, m.sender_mac, m.sender_ip, m.target_ip), (1, mac, p.sender_ip, p.target_ip));
            prop_assert_eq!(m.is_probe(), p.kind == ArpKind::Probe || a.is_unspecified());
        }
    }

    #[test]
    fn decode_encode_round_trip(
        fixed in (any::<u8>(), any::<u8>(), any::<u8>(), any::<u8>(), any::<u32>(), any::<u16>(), any::<u16>()),
        addrs in (ip(), ip(), ip(), ip()),
        chaddr in any::<[u8; 16]>(),
        sname in prop_oneof![Just(vec![]), c_str(65)],
        file in prop_oneof![Just(vec![]), c_str(129)],
        options in options(),
        buf_len in 240usize..1600,
    ) {
        let m = Message {
            op: fixed.0, htype: fixed.1, hlen: fixed.2, hops: fixed.3,
            xid: fixed.4, secs: fixed.5, flags: fixed.6,
            ciaddr: addrs.0, yiaddr: addrs.1, siaddr: addrs.2, giaddr: addrs.3,
            chaddr, sname: &sname, file: &file, options,
        };
        let mut buf = vec![0u8; buf_len];
        match m.encode(&mut buf) {
            Ok(n) => {
                prop_assert!(n <= buf_len);
                let back = Message::decode(&buf[..n]).unwrap();
                prop_assert_eq!(&back, &m);
            }
            Err(EncodeError::FieldTooLong { .. }) => prop_assert!(sname.len() > 64 || file.len() > 128),
            Err(EncodeError::OptionsDoNotFit { .. }) => {
                // Only when the options really exceed every free area.
                let need: usize = m.options.iter().map(|o| {
                    let mut s = [0u8; 4];
                    let l = o.value(&mut s).len();
                    l + 2 * l.div_ceil(255).max(1)
                }).sum();
                let free = (buf_len - 240) + if file.is_empty() { 128 } else { 0 } + if sname.is_empty() { 64 } else { 0 };
                prop_assert!(need + 1 > buf_len - 240);
                // Overloading costs at most 14 bytes: option 52, three Ends, and per area
                // boundary one split header and up to two unusable bytes.
                // Option 52 itself needs 4 bytes of options field (with End).
                prop_assert!(buf_len - 240 < 4 || need + 14 > free, "need {} free {}", need, free);
            }
            Err(e) => prop_assert!(false, "{e}"),
        }
    }

    #[test]
    fn decode_is_idempotent_on_arbitrary_bytes(data in proptest::collection::vec(any::<u8>(), 240..700)) {
        let mut data = data;
        data[236..240].copy_from_slice(&MAGIC_COOKIE);
        if let Ok(m) = Message::decode(&data) {
            let mut buf = vec![0u8; 4096];
            let n = m.encode(&mut buf).unwrap();
            prop_assert_eq!(Message::decode(&buf[..n]).unwrap(), m);
        }
    }

    #[test]
    fn avaya_round_trip(params in proptest::collection::vec((2u8..=254, c_str(60)), 0..8)) {
        let refs: Vec<(u8, &[u8])> = params.iter().map(|(c, v)| (*c, v.as_slice())).collect();
        let raw = VendorOptions::encode(&refs);
        let v = VendorOptions::parse(&raw).unwrap();
        let got: Vec<(u8, &[u8])> = v.sub_options.iter().map(|s| (s.code, s.value)).collect();
        prop_assert_eq!(got, refs);
    }
}
