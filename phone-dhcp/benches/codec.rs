//! Decode + encode of the same DHCP packets with phone-dhcp and with dhcproto.
//!
//! `cargo bench -p phone-dhcp --bench codec`; the ratio of the two `all` lines is the figure the
//! issue asks for (target: phone-dhcp at least 3× faster).
#![allow(missing_docs, clippy::unwrap_used)]

use std::borrow::Cow;
use std::hint::black_box;
use std::net::Ipv4Addr;

use criterion::{Criterion, criterion_group, criterion_main};
use dhcproto::{Decodable, Decoder, Encodable, Encoder, v4};
use phone_dhcp::message::BOOTREPLY;
use phone_dhcp::options::{DhcpOption, Ipv4List, MessageType};
use phone_dhcp::{Client, Config, Message, Output, Transmit, VendorOptions};
use phone_sansio::Instant;
use rand_core::SeedableRng;

/// The packets of one boot: the phone's DISCOVER and REQUEST, the server's OFFER and ACK with
/// option 43 and an SSON string.
fn packets() -> Vec<Vec<u8>> {
    let mut client = Client::new(
        Config::for_mac([0, 4, 0x0d, 1, 2, 3]),
        None,
        rand_chacha::ChaCha8Rng::seed_from_u64(1),
        Instant::ZERO,
    );
    let mut out = Vec::new();
    loop {
        match client.poll_output() {
            Output::Transmit(Transmit::Udp { payload, .. }) => {
                out.push(payload);
                break;
            }
            Output::Timeout(_) => break,
            _ => {}
        }
    }
    let mut request = out[0].clone();
    request[242] = 3; // DHCPREQUEST instead of DISCOVER, same options
    out.push(request);
    let sson = b"HTTPSRVR=10.0.0.5,10.0.0.6,HTTPDIR=phones,SIG=2,L2Q=1,L2QVLAN=100,VLANTEST=60,TLSSRVR=10.0.0.5,SIP_CONTROLLER_LIST=10.0.0.7:5061;transport=tls";
    let v43 = VendorOptions::encode(&[(2, b"10.0.0.5"), (14, b"2"), (10, b"100")]);
    for kind in [MessageType::Offer, MessageType::Ack] {
        let mut chaddr = [0u8; 16];
        chaddr[..6].copy_from_slice(&[0, 4, 0x0d, 1, 2, 3]);
        let m = Message {
            op: BOOTREPLY,
            xid: 0x1234_5678,
            yiaddr: Ipv4Addr::new(10, 0, 0, 50),
            siaddr: Ipv4Addr::new(10, 0, 0, 1),
            chaddr,
            options: vec![
                DhcpOption::MessageType(kind),
                DhcpOption::ServerIdentifier(Ipv4Addr::new(10, 0, 0, 1)),
                DhcpOption::LeaseTime(86_400),
                DhcpOption::SubnetMask(Ipv4Addr::new(255, 255, 255, 0)),
                DhcpOption::Router(Ipv4List::from_addrs(&[Ipv4Addr::new(10, 0, 0, 1)]).unwrap()),
                DhcpOption::DomainNameServer(
                    Ipv4List::from_addrs(&[Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(10, 0, 0, 3)])
                        .unwrap(),
                ),
                DhcpOption::DomainName(Cow::Borrowed(b"lab.example")),
                DhcpOption::RenewalTime(43_200),
                DhcpOption::RebindingTime(75_600),
                DhcpOption::VendorSpecific(Cow::Owned(v43.clone())),
                DhcpOption::Sson {
                    code: 242,
                    value: Cow::Borrowed(sson),
                },
            ],
            ..Message::default()
        };
        let mut buf = vec![0u8; 1500];
        let n = m.encode(&mut buf).unwrap();
        buf.truncate(n);
        out.push(buf);
    }
    out
}

fn bench(c: &mut Criterion) {
    let packets = packets();
    // Both libraries must agree on every packet before their speed means anything.
    for p in &packets {
        let ours = Message::decode(p).unwrap();
        let theirs = v4::Message::decode(&mut Decoder::new(p)).unwrap();
        assert_eq!(ours.xid, theirs.xid());
    }
    let mut g = c.benchmark_group("decode+encode");
    g.bench_function("phone-dhcp/all", |b| {
        let mut buf = [0u8; 1500];
        b.iter(|| {
            let mut total = 0;
            for p in &packets {
                let m = Message::decode(black_box(p)).unwrap();
                total += m.encode(&mut buf).unwrap();
            }
            black_box(total)
        });
    });
    g.bench_function("dhcproto/all", |b| {
        let mut buf = Vec::with_capacity(1500);
        b.iter(|| {
            let mut total = 0;
            for p in &packets {
                let m = v4::Message::decode(&mut Decoder::new(black_box(p))).unwrap();
                buf.clear();
                m.encode(&mut Encoder::new(&mut buf)).unwrap();
                total += buf.len();
            }
            black_box(total)
        });
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
