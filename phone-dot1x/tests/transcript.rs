//! The supplicant against a scripted authenticator in virtual time (phone_sansio's
//! `Transcript`): EAP-MD5 right and wrong, the 802.1X-2004 timers, commit-on-take, prompts,
//! DOT1XSTAT, Naks, retransmitted Requests, secrets kept out of `Debug`.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use phone_dot1x::eap::{self, EapType, Md5Challenge, Packet};
use phone_dot1x::eapol::{self, Eapol, PacketType};
use phone_dot1x::{
    Command, Config, Event, Link, Method, Mode, PortState, Prompt, Secret, Supplicant, Transmit,
};
use phone_sansio::harness::{Logged, Peer, Reply, Transcript};
use phone_sansio::{Input, Instant, Machine, Output};

const AUTH: [u8; 6] = [0x02, 0xaa, 0, 0, 0, 1];
const CHALLENGE: [u8; 16] = [7; 16];

fn config(mode: Mode) -> Config {
    let mut c = Config::new([2, 0, 0, 0, 0, 0x42]);
    c.mode = mode;
    c.identity = Some("phone1".into());
    c.password = Some(Secret::new("secret1"));
    c
}

fn link(multicast: bool) -> Link {
    Link {
        source: AUTH,
        multicast,
    }
}

fn request(id: u8, method: EapType, data: &[u8]) -> Vec<u8> {
    eapol::eap_packet(&Packet::Request { id, method, data }.to_bytes())
}

/// The EAP packet a transmit carries (`None`: a Start or Logoff).
fn eap_of(t: &Transmit) -> Option<Packet<'_>> {
    assert_eq!(t.destination, eapol::PAE_GROUP);
    let e = Eapol::parse(&t.payload).unwrap();
    (e.packet_type == PacketType::EapPacket).then(|| Packet::parse(e.body).unwrap())
}

fn kind(t: &Transmit) -> PacketType {
    Eapol::parse(&t.payload).unwrap().packet_type
}

/// hostapd's internal EAP server with one MD5 user, as the lab recipe shows it: Identity on a
/// Start, then one MD5 challenge, then Success or Failure. Frames to the PAE group address
/// (`multicast`) or to the phone's MAC.
struct Md5Authenticator {
    user: &'static str,
    password: &'static str,
    multicast: bool,
    next_id: u8,
    /// Answer nothing after this many EAP responses (a switch that goes quiet).
    quiet_after: Option<usize>,
    responses: usize,
}

impl Md5Authenticator {
    fn new(password: &'static str) -> Self {
        Md5Authenticator {
            user: "phone1",
            password,
            multicast: true,
            next_id: 64,
            quiet_after: None,
            responses: 0,
        }
    }

    fn send(&self, bytes: Vec<u8>) -> Vec<Reply<Link>> {
        vec![Reply::Receive {
            after: Duration::from_millis(1),
            peer: link(self.multicast),
            bytes,
        }]
    }
}

impl Peer<Supplicant> for Md5Authenticator {
    fn on_transmit(&mut self, _: Instant, t: &Transmit) -> Vec<Reply<Link>> {
        match eap_of(t) {
            None if kind(t) == PacketType::Start => {
                let id = self.next_id;
                self.send(request(id, EapType::Identity, &[]))
            }
            None => Vec::new(),
            Some(Packet::Response { id, method, data }) => {
                self.responses += 1;
                if self.quiet_after.is_some_and(|n| self.responses > n) {
                    return Vec::new();
                }
                match method {
                    EapType::Identity => {
                        assert_eq!(data, self.user.as_bytes());
                        self.next_id = id.wrapping_add(1);
                        let c = Md5Challenge {
                            value: &CHALLENGE,
                            name: b"hostapd",
                        };
                        self.send(request(self.next_id, EapType::Md5Challenge, &c.to_bytes()))
                    }
                    EapType::Md5Challenge => {
                        let got = Md5Challenge::parse(data).unwrap();
                        let want = eap::md5_response(id, self.password.as_bytes(), &CHALLENGE);
                        let answer = if got.value == want {
                            Packet::Success { id }
                        } else {
                            Packet::Failure { id }
                        };
                        self.next_id = id.wrapping_add(1);
                        self.send(eapol::eap_packet(&answer.to_bytes()))
                    }
                    other => panic!("unexpected response {other:?}"),
                }
            }
            Some(other) => panic!("the phone sent {other:?}"),
        }
    }
}

fn events(t: &Transcript<Supplicant>) -> Vec<Event> {
    t.events().into_iter().cloned().collect()
}

fn starts_at(t: &Transcript<Supplicant>) -> Vec<Instant> {
    t.log
        .iter()
        .filter_map(|l| match l {
            Logged::Transmit(at, tx) if kind(tx) == PacketType::Start => Some(*at),
            _ => None,
        })
        .collect()
}

#[test]
fn md5_right_password_is_authorized() {
    let mut t = Transcript::new(
        Supplicant::new(config(Mode::UnicastAndMulticast), Instant::ZERO),
        Instant::ZERO,
    );
    let mut auth = Md5Authenticator::new("secret1");
    t.run(&mut auth, Instant::from_secs(5));
    assert_eq!(
        events(&t),
        [
            Event::Authenticating {
                method: Method::Md5
            },
            Event::Authorized {
                method: Some(Method::Md5)
            }
        ]
    );
    assert_eq!(t.machine.state(), PortState::Authorized);
    // Start, Response/Identity, Response/MD5: nothing more, no timer left.
    assert_eq!(t.transmits().len(), 3);
    assert_eq!(t.machine.poll_timeout(), None);
    assert_eq!(events(&t)[1].to_string(), "802.1X authorized (MD5)");
}

#[test]
fn md5_wrong_password_fails_then_holds_for_held_period() {
    let mut t = Transcript::new(
        Supplicant::new(config(Mode::UnicastAndMulticast), Instant::ZERO),
        Instant::ZERO,
    );
    let mut auth = Md5Authenticator::new("another");
    t.run(&mut auth, Instant::from_secs(1));
    let failed_at = Instant::from_millis(3); // three 1 ms round trips
    assert_eq!(
        events(&t)[1..],
        [
            Event::Failed,
            Event::Held {
                until: failed_at + Duration::from_secs(60)
            }
        ]
    );
    assert_eq!(events(&t)[1].to_string(), "802.1X failed");
    assert_eq!(t.machine.state(), PortState::Held);
    // Held: nothing until heldPeriod is over, then a Start, answered, failing again.
    t.run(&mut auth, Instant::from_secs(60));
    assert_eq!(starts_at(&t), [Instant::ZERO]);
    t.run(&mut auth, Instant::from_secs(61));
    assert_eq!(
        starts_at(&t),
        [Instant::ZERO, failed_at + Duration::from_secs(60)]
    );
    assert_eq!(
        events(&t).iter().filter(|e| **e == Event::Failed).count(),
        2
    );
}

/// No authenticator: Starts at 0, 30 and 60 s (startPeriod, maxStart 3), then at 90 s the
/// port is taken as authorized and nothing more is sent.
#[test]
fn start_period_and_max_start_without_authenticator() {
    let mut t = Transcript::new(
        Supplicant::new(config(Mode::Unicast), Instant::ZERO),
        Instant::ZERO,
    );
    t.advance(Instant::from_secs(300));
    assert_eq!(
        starts_at(&t),
        [
            Instant::ZERO,
            Instant::from_secs(30),
            Instant::from_secs(60)
        ]
    );
    assert_eq!(events(&t), [Event::NoAuthenticator]);
    assert_eq!(t.log.len(), 4);
    assert!(matches!(t.log[3], Logged::Event(at, _) if at == Instant::from_secs(90)));
    assert_eq!(t.machine.state(), PortState::NoAuthenticator);
    assert_eq!(t.machine.poll_timeout(), None);
}

/// The authenticator goes quiet after the Identity: authPeriod (30 s) after the Response, the
/// phone starts over.
#[test]
fn auth_period_restarts_a_stalled_conversation() {
    let mut t = Transcript::new(
        Supplicant::new(config(Mode::UnicastAndMulticast), Instant::ZERO),
        Instant::ZERO,
    );
    let mut auth = Md5Authenticator::new("secret1");
    auth.quiet_after = Some(0);
    t.run(&mut auth, Instant::from_secs(31));
    let responded = Instant::from_millis(1);
    assert_eq!(
        starts_at(&t),
        [Instant::ZERO, responded + Duration::from_secs(30)]
    );
    assert_eq!(events(&t), [Event::TimedOut]);
}

/// Commit on take: a machine nobody polls moves nothing; the Start count and timer move when
/// the Start is taken.
#[test]
fn commit_on_take() {
    let mut m = Supplicant::new(config(Mode::Unicast), Instant::ZERO);
    assert_eq!(m.poll_timeout(), Some(Instant::ZERO));
    // Timeouts fed without polling do not queue more Starts nor count them.
    for s in [10, 40, 100] {
        m.handle_input(Input::Timeout(Instant::from_secs(s)));
    }
    let Output::Transmit(tx) = m.poll_output() else {
        panic!("no start")
    };
    assert_eq!(tx.payload, eapol::start());
    // Taken at 100 s: the next one is due at 130 s, and three Starts are still allowed.
    assert_eq!(m.poll_output(), Output::Timeout(Instant::from_secs(130)));
    let mut t = Transcript::new(m, Instant::from_secs(100));
    t.advance(Instant::from_secs(1000));
    assert_eq!(
        starts_at(&t),
        [Instant::from_secs(130), Instant::from_secs(160)]
    );
    assert_eq!(events(&t), [Event::NoAuthenticator]);

    // A Response not taken is not remembered for a repeated Request, and its auth timer does
    // not run.
    let mut m = Supplicant::new(config(Mode::Unicast), Instant::ZERO);
    let _ = m.poll_output();
    m.handle_input(Input::Receive(
        Instant::from_secs(1),
        link(false),
        &request(5, EapType::Identity, &[]),
    ));
    assert_eq!(m.poll_timeout(), Some(Instant::from_secs(1)));
    let Output::Transmit(r) = m.poll_output() else {
        panic!()
    };
    assert_eq!(
        eap_of(&r),
        Some(Packet::Response {
            id: 5,
            method: EapType::Identity,
            data: b"phone1"
        })
    );
    assert_eq!(m.poll_output(), Output::Timeout(Instant::from_secs(31)));
}

/// A repeated Request (same identifier) gets the same Response again; the method is not re-run
/// (a changed challenge under the old identifier gets the old answer).
#[test]
fn repeated_request_gets_the_same_response() {
    let mut t = Transcript::new(
        Supplicant::new(config(Mode::Unicast), Instant::ZERO),
        Instant::ZERO,
    );
    t.input(Input::Receive(
        Instant::from_millis(1),
        link(false),
        &request(1, EapType::Identity, &[]),
    ));
    let c1 = Md5Challenge {
        value: &[1; 16],
        name: &[],
    }
    .to_bytes();
    let c2 = Md5Challenge {
        value: &[2; 16],
        name: &[],
    }
    .to_bytes();
    t.input(Input::Receive(
        Instant::from_millis(2),
        link(false),
        &request(2, EapType::Md5Challenge, &c1),
    ));
    t.input(Input::Receive(
        Instant::from_secs(3),
        link(false),
        &request(2, EapType::Md5Challenge, &c2),
    ));
    let tx = t.transmits();
    assert_eq!(tx.len(), 4);
    assert_eq!(tx[2], tx[3]);
    let Some(Packet::Response { data, .. }) = eap_of(tx[3]) else {
        panic!()
    };
    assert_eq!(
        Md5Challenge::parse(data).unwrap().value,
        eap::md5_response(2, b"secret1", &[1; 16])
    );
    // The retransmission re-armed authPeriod from 3 s.
    assert_eq!(t.deadline, Instant::from_secs(33));
}

#[test]
fn dot1xstat_unicast_ignores_group_addressed_frames() {
    let mut t = Transcript::new(
        Supplicant::new(config(Mode::Unicast), Instant::ZERO),
        Instant::ZERO,
    );
    let mut auth = Md5Authenticator::new("secret1");
    t.run(&mut auth, Instant::from_secs(10));
    assert_eq!(t.transmits().len(), 1, "only the Start");
    assert!(t.machine.dropped() >= 1);
    assert_eq!(t.machine.state(), PortState::Connecting);
    // The same authenticator sending to the phone's own MAC is answered.
    let mut t = Transcript::new(
        Supplicant::new(config(Mode::Unicast), Instant::ZERO),
        Instant::ZERO,
    );
    auth = Md5Authenticator::new("secret1");
    auth.multicast = false;
    t.run(&mut auth, Instant::from_secs(10));
    assert_eq!(t.machine.state(), PortState::Authorized);
}

#[test]
fn dot1xstat_off_sends_nothing() {
    let mut t = Transcript::new(
        Supplicant::new(config(Mode::Off), Instant::ZERO),
        Instant::ZERO,
    );
    t.input(Input::Receive(
        Instant::from_secs(1),
        link(false),
        &request(1, EapType::Identity, &[]),
    ));
    t.input(Input::Command(Instant::from_secs(2), Command::Restart));
    t.advance(Instant::from_secs(500));
    assert!(t.log.is_empty());
    assert_eq!(t.machine.poll_timeout(), None);
    assert_eq!(t.machine.state(), PortState::Off);
}

/// No stored credentials: `802.1X ID:` and `802.1X Password:`, answered by commands; a
/// too-long identity asks again; what was entered is kept for the next boot.
#[test]
fn prompts_for_identity_and_password() {
    let mut c = config(Mode::UnicastAndMulticast);
    c.identity = None;
    c.password = None;
    let mut t = Transcript::new(Supplicant::new(c, Instant::ZERO), Instant::ZERO);
    let mut auth = Md5Authenticator::new("secret1");
    t.run(&mut auth, Instant::from_secs(1));
    assert_eq!(events(&t), [Event::Prompt(Prompt::Identity)]);
    assert_eq!(t.machine.prompt(), Some(Prompt::Identity));
    assert_eq!(events(&t)[0].to_string(), "802.1X ID:");
    assert_eq!(t.transmits().len(), 1);
    t.input(Input::Command(
        Instant::from_secs(2),
        Command::Identity(&"x".repeat(32)),
    ));
    assert_eq!(events(&t).len(), 2, "asked again");
    t.input(Input::Command(
        Instant::from_secs(3),
        Command::Identity("phone1"),
    ));
    t.run(&mut auth, Instant::from_secs(4));
    assert_eq!(events(&t)[2], Event::Prompt(Prompt::Password));
    assert_eq!(events(&t)[2].to_string(), "802.1X Password:");
    t.input(Input::Command(
        Instant::from_secs(5),
        Command::Password("secret1"),
    ));
    t.run(&mut auth, Instant::from_secs(6));
    assert_eq!(
        events(&t).last(),
        Some(&Event::Authorized {
            method: Some(Method::Md5)
        })
    );
    assert_eq!(t.machine.identity(), Some("phone1"));
    assert_eq!(t.machine.password().map(Secret::expose), Some("secret1"));
    // No credential in any Debug or Display output.
    let all = format!(
        "{:?} {:?} {:?}",
        t.machine,
        t.log,
        Command::Password("secret1")
    );
    assert!(!all.contains("secret1"), "{all}");
    for e in events(&t) {
        assert!(!e.to_string().contains("secret1"));
    }
}

#[test]
fn unsupported_methods_get_a_nak() {
    let mut t = Transcript::new(
        Supplicant::new(config(Mode::Unicast), Instant::ZERO),
        Instant::ZERO,
    );
    let at = Instant::from_millis;
    t.input(Input::Receive(
        at(1),
        link(false),
        &request(1, EapType::Identity, &[]),
    ));
    // PEAP (25): Nak proposing MD5.
    t.input(Input::Receive(
        at(2),
        link(false),
        &request(2, EapType::Other(25), &[0x20]),
    ));
    // EAP-TLS while DOT1XEAPS is MD5: Nak proposing MD5.
    t.input(Input::Receive(
        at(3),
        link(false),
        &request(3, EapType::Tls, &[0x20]),
    ));
    // An expanded type: an expanded Nak.
    t.input(Input::Receive(
        at(4),
        link(false),
        &request(4, EapType::Expanded, &[0, 0, 9, 0, 0, 0, 1]),
    ));
    let tx = t.transmits();
    assert_eq!(
        eap_of(tx[2]),
        Some(Packet::Response {
            id: 2,
            method: EapType::Nak,
            data: &[4]
        })
    );
    assert_eq!(
        eap_of(tx[3]),
        Some(Packet::Response {
            id: 3,
            method: EapType::Nak,
            data: &[4]
        })
    );
    assert_eq!(
        eap_of(tx[4]),
        Some(Packet::Response {
            id: 4,
            method: EapType::Expanded,
            data: &[0, 0, 0, 0, 0, 0, 3, 254, 0, 0, 0, 0, 0, 0, 4]
        })
    );
    assert_eq!(
        events(&t),
        [
            Event::Nak {
                requested: 25,
                offered: 4
            },
            Event::Nak {
                requested: 13,
                offered: 4
            },
            Event::Nak {
                requested: 254,
                offered: 4
            }
        ]
    );

    // DOT1XEAPS TLS without a certificate (DOT1XEAPTLSONLYWITHCERT 1): TLS refused, nothing
    // proposed, and MD5 refused too.
    let mut c = config(Mode::Unicast);
    c.method = Method::Tls;
    let mut t = Transcript::new(Supplicant::new(c, Instant::ZERO), Instant::ZERO);
    t.input(Input::Receive(
        at(1),
        link(false),
        &request(1, EapType::Identity, &[]),
    ));
    assert_eq!(
        eap_of(t.transmits()[1]),
        Some(Packet::Response {
            id: 1,
            method: EapType::Identity,
            data: b"020000000042"
        })
    );
    t.input(Input::Receive(
        at(2),
        link(false),
        &request(2, EapType::Tls, &[0x20]),
    ));
    t.input(Input::Receive(
        at(3),
        link(false),
        &request(3, EapType::Md5Challenge, &[1, 1]),
    ));
    let tx = t.transmits();
    for (i, id) in [(2, 2), (3, 3)] {
        assert_eq!(
            eap_of(tx[i]),
            Some(Packet::Response {
                id,
                method: EapType::Nak,
                data: &[0]
            })
        );
    }
}

#[test]
fn notification_is_answered_and_shown() {
    let mut t = Transcript::new(
        Supplicant::new(config(Mode::Unicast), Instant::ZERO),
        Instant::ZERO,
    );
    t.input(Input::Receive(
        Instant::from_millis(1),
        link(false),
        &request(9, EapType::Notification, b"port in guest VLAN"),
    ));
    assert_eq!(
        events(&t),
        [Event::Notification("port in guest VLAN".into())]
    );
    assert_eq!(
        eap_of(t.transmits()[1]),
        Some(Packet::Response {
            id: 9,
            method: EapType::Notification,
            data: &[]
        })
    );
}

/// Success or Failure out of place, from another authenticator, or with a foreign identifier is
/// dropped.
#[test]
fn stray_success_and_failure_are_dropped() {
    let mut t = Transcript::new(
        Supplicant::new(config(Mode::Unicast), Instant::ZERO),
        Instant::ZERO,
    );
    let at = Instant::from_millis;
    let success = |id| eapol::eap_packet(&Packet::Success { id }.to_bytes());
    let failure = |id| eapol::eap_packet(&Packet::Failure { id }.to_bytes());
    t.input(Input::Receive(at(1), link(false), &success(0)));
    t.input(Input::Receive(at(2), link(false), &failure(0)));
    assert_eq!(t.machine.state(), PortState::Connecting);
    t.input(Input::Receive(
        at(3),
        link(false),
        &request(7, EapType::Identity, &[]),
    ));
    t.input(Input::Receive(at(4), link(false), &success(40)));
    let other = Link {
        source: [2, 0xbb, 0, 0, 0, 9],
        multicast: false,
    };
    t.input(Input::Receive(at(5), other, &failure(7)));
    assert_eq!(t.machine.state(), PortState::Authenticating);
    assert!(events(&t).is_empty());
    t.input(Input::Receive(at(6), link(false), &success(7)));
    assert_eq!(events(&t), [Event::Authorized { method: None }]);
    assert_eq!(t.machine.dropped(), 4);
}

#[test]
fn logoff_and_restart() {
    let mut t = Transcript::new(
        Supplicant::new(config(Mode::UnicastAndMulticast), Instant::ZERO),
        Instant::ZERO,
    );
    let mut auth = Md5Authenticator::new("secret1");
    t.run(&mut auth, Instant::from_secs(1));
    t.input(Input::Command(Instant::from_secs(2), Command::Logoff));
    assert_eq!(t.machine.state(), PortState::LoggedOff);
    assert_eq!(kind(t.transmits().last().unwrap()), PacketType::Logoff);
    assert_eq!(events(&t).last(), Some(&Event::LoggedOff));
    // Frames are ignored while logged off.
    t.input(Input::Receive(
        Instant::from_secs(3),
        link(true),
        &request(1, EapType::Identity, &[]),
    ));
    assert_eq!(t.transmits().len(), 4);
    t.input(Input::Command(Instant::from_secs(4), Command::Restart));
    t.run(&mut auth, Instant::from_secs(5));
    assert_eq!(t.machine.state(), PortState::Authorized);
    assert_eq!(starts_at(&t), [Instant::ZERO, Instant::from_secs(4)]);
}

/// Timers below the floor are raised to it: a zero startPeriod cannot spin the machine.
#[test]
fn zero_timers_are_floored() {
    let mut c = config(Mode::Unicast);
    c.timers.start_period = Duration::ZERO;
    c.timers.max_start = 0;
    let mut t = Transcript::new(Supplicant::new(c, Instant::ZERO), Instant::ZERO);
    t.advance(Instant::from_secs(10));
    assert_eq!(starts_at(&t), [Instant::ZERO]);
    assert_eq!(events(&t), [Event::NoAuthenticator]);
}
