//! phone-dhcp client: arbitrary replies (built with the client's current xid so they reach
//! deep states, or raw), ARP conflicts, releases, VLAN changes and time steps. No panic, a
//! bounded number of outputs per input, and a deadline never in the past.
#![no_main]

use std::convert::Infallible;
use std::net::Ipv4Addr;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use phone_dhcp::client::{Client, Config, Input, L2q, Output};
use phone_dhcp::message::BOOTREPLY;
use phone_dhcp::options::{DhcpOption, Ipv4List, MessageType};
use phone_dhcp::rand_core::TryRng;
use phone_dhcp::Message;
use phone_settings::Instant;

const MAC: [u8; 6] = [0, 4, 0x0d, 1, 2, 3];

/// A deterministic RNG from the fuzz input (splitmix64).
struct Mix(u64);

impl TryRng for Mix {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok((self.try_next_u64()? >> 32) as u32)
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Ok(z ^ (z >> 31))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for b in dst {
            *b = self.try_next_u64()? as u8;
        }
        Ok(())
    }
}

#[derive(Arbitrary, Debug)]
enum Op {
    Wait(u32),
    WaitToDeadline,
    Reply {
        kind: u8,
        yiaddr: u8,
        server: Option<u8>,
        lease: Option<u32>,
        t1: Option<u32>,
        t2: Option<u32>,
        right_xid: bool,
        sson: Option<Vec<u8>>,
    },
    Raw(Vec<u8>),
    Conflict(u8),
    Release,
    Vlan { l2q: u8, vid: u16, test: u16 },
}

#[derive(Arbitrary, Debug)]
struct Run {
    seed: u64,
    previous: Option<u8>,
    dhcpstd: bool,
    l2q: u8,
    vid: u16,
    vlantest: u16,
    ops: Vec<Op>,
}

fn addr(last: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, 0, last)
}

fuzz_target!(|run: Run| {
    let mut cfg = Config::for_mac(MAC);
    cfg.previous_address = run.previous.map(addr);
    cfg.dhcpstd = run.dhcpstd;
    cfg.l2q = L2q::from_value(run.l2q % 3).unwrap_or_default();
    cfg.l2qvlan = run.vid;
    cfg.vlantest = run.vlantest;
    let mut now = Instant::ZERO;
    let mut c = Client::new(cfg, Mix(run.seed), now);
    let mut xid = 0u32;
    let mut deadline = drain(&mut c, now, &mut xid);
    for op in run.ops.iter().take(200) {
        let input_bytes;
        let input = match op {
            Op::Wait(s) => {
                now = now + std::time::Duration::from_millis(u64::from(*s % 100_000_000));
                Input::Timeout(now)
            }
            Op::WaitToDeadline => {
                if deadline != Instant::MAX {
                    now = deadline;
                }
                Input::Timeout(now)
            }
            Op::Reply { kind, yiaddr, server, lease, t1, t2, right_xid, sson } => {
                let mut chaddr = [0u8; 16];
                chaddr[..6].copy_from_slice(&MAC);
                let mut options = vec![DhcpOption::MessageType(MessageType::from(*kind % 9))];
                if let Some(s) = server {
                    options.push(DhcpOption::ServerIdentifier(addr(*s)));
                }
                if let Some(l) = lease {
                    options.push(DhcpOption::LeaseTime(*l));
                }
                if let Some(t) = t1 {
                    options.push(DhcpOption::RenewalTime(*t));
                }
                if let Some(t) = t2 {
                    options.push(DhcpOption::RebindingTime(*t));
                }
                options.push(DhcpOption::Router(Ipv4List::from_addrs(&[addr(1)]).unwrap()));
                if let Some(s) = sson {
                    options.push(DhcpOption::Sson { code: 242, value: s.as_slice().into() });
                }
                let m = Message {
                    op: BOOTREPLY,
                    xid: if *right_xid { xid } else { xid ^ 1 },
                    yiaddr: addr(*yiaddr),
                    chaddr,
                    options,
                    ..Message::default()
                };
                let mut buf = vec![0u8; 4096];
                let n = m.encode(&mut buf).unwrap();
                buf.truncate(n);
                input_bytes = buf;
                Input::Receive(now, &input_bytes)
            }
            Op::Raw(b) => Input::Receive(now, b),
            Op::Conflict(a) => Input::ArpConflict(now, addr(*a)),
            Op::Release => Input::Release(now),
            Op::Vlan { l2q, vid, test } => Input::VoiceVlan {
                now,
                l2q: L2q::from_value(l2q % 3).unwrap_or_default(),
                l2qvlan: *vid,
                vlantest: *test,
            },
        };
        c.handle_input(input);
        deadline = drain(&mut c, now, &mut xid);
    }
});

/// Drains outputs; at most 64 per input, and the deadline must lie in the future.
fn drain(c: &mut Client<Mix>, now: Instant, xid: &mut u32) -> Instant {
    for _ in 0..64 {
        match c.poll_output() {
            Output::Transmit(t) => {
                let m = Message::decode(t.payload).expect("the client sends valid messages");
                *xid = m.xid;
            }
            Output::Timeout(d) => {
                assert!(d > now || d == Instant::MAX, "deadline {d:?} not after {now:?}");
                if let Some(l) = c.lease() {
                    assert!(l.renew_at() <= l.rebind_at() && l.rebind_at() <= l.expires_at());
                }
                return d;
            }
            Output::Arp(_) | Output::Event(_) => {}
        }
    }
    panic!("more than 64 outputs for one input");
}
