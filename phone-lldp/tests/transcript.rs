//! Transcript tests through the shared harness (`phone_sansio::harness::Transcript`): the
//! agent against a scripted switch in virtual time, with the contract's oracles checked on every
//! drain. link.md §1: fast start, LLDP_ENABLED 0/1/2, LLDP_XMIT_SECS and the TTL, the frames
//! of an Endpoint Class III device, the voice policy and its withdrawal (TTL 0, expiry, a frame
//! without it), bounds on neighbours, and commit on take.
#![allow(clippy::unwrap_used)]

use std::net::Ipv4Addr;
use std::time::Duration;

use phone_lldp::agent::{FAST_INTERVAL, MAX_NEIGHBOURS, MAX_SEND_FAILURES, MED_CAPABILITIES};
use phone_lldp::frame::{OUI_MED, cap, med};
use phone_lldp::{
    Agent, AgentConfig, Command, Event, Id, Inventory, Lldpdu, MedCapabilities, Mode, NetworkPolicy,
};
use phone_sansio::harness::{Logged, Peer, Reply, Transcript};
use phone_sansio::{Input, Instant, Machine, Output};

const MAC: [u8; 6] = [0x00, 0x04, 0x0d, 0xaa, 0xbb, 0xcc];
const SWITCH: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];

fn secs(s: u64) -> Instant {
    Instant::from_secs(s)
}

fn config(mode: Mode) -> AgentConfig {
    let mut c = AgentConfig::for_mac(MAC);
    c.mode = mode;
    c.system_name = "SEP0004ODAABBCC".into();
    c.system_description = "Avaya 9611G SIP".into();
    c.inventory = Inventory {
        hardware_revision: Some("9611GD01A".into()),
        firmware_revision: Some("S96x1_SALBR7_2_0_0_25.bin".into()),
        software_revision: Some("7.2.0.0.25".into()),
        serial_number: Some("13WZ12345678".into()),
        manufacturer: Some("Avaya".into()),
        model: Some("9611G".into()),
        asset_id: None,
    };
    c
}

fn agent(c: AgentConfig) -> Transcript<Agent> {
    Transcript::new(Agent::new(c, Instant::ZERO), Instant::ZERO)
}

/// A switch port's frame: MED-capable or not, with a voice policy or not.
fn switch_frame(ttl: u16, med_capable: bool, voice: Option<NetworkPolicy>) -> Vec<u8> {
    let mut f = Lldpdu::new(
        Id::chassis_mac(SWITCH),
        Id {
            subtype: 5,
            id: b"ge-0/0/7".to_vec(),
        },
        ttl,
    );
    f.system_name = Some("sw1".into());
    f.capabilities = Some(phone_lldp::Capabilities {
        supported: cap::BRIDGE,
        enabled: cap::BRIDGE,
    });
    if med_capable {
        f.med_capabilities = Some(MedCapabilities {
            capabilities: 0x0f,
            device_type: med::NETWORK_CONNECTIVITY,
        });
    }
    f.network_policies.extend(voice);
    f.encode().unwrap()
}

fn sent_at(t: &Transcript<Agent>) -> Vec<(Instant, Lldpdu)> {
    t.log
        .iter()
        .filter_map(|l| match l {
            Logged::Transmit(at, tx) => Some((*at, Lldpdu::decode(&tx.payload).unwrap())),
            Logged::Event(..) => None,
        })
        .collect()
}

fn times(t: &Transcript<Agent>) -> Vec<u64> {
    sent_at(t)
        .iter()
        .map(|(at, _)| at.as_micros() / 1_000_000)
        .collect()
}

fn events_at(t: &Transcript<Agent>) -> Vec<(Instant, Event)> {
    t.log
        .iter()
        .filter_map(|l| match l {
            Logged::Event(at, e) => Some((*at, e.clone())),
            Logged::Transmit(..) => None,
        })
        .collect()
}

fn voice(vlan: u16) -> NetworkPolicy {
    NetworkPolicy::voice(true, vlan, 5, 46)
}

fn policy_event(vlan: u16) -> Event {
    Event::VoicePolicy {
        vlan,
        tagged: true,
        priority: 5,
        dscp: 46,
    }
}

#[test]
fn lldp_enabled_1_fast_starts_at_link_up_with_an_endpoint_class_iii_frame() {
    let mut t = agent(config(Mode::On));
    t.advance(secs(100));
    // medFastStartRepeatCount (3) frames one second apart, then every LLDP_XMIT_SECS (30).
    assert_eq!(times(&t), [0, 1, 2, 32, 62, 92]);
    let f = &sent_at(&t)[0].1;
    assert_eq!(f.chassis_id, Id::chassis_mac(MAC));
    assert_eq!(f.port_id, Id::port_mac(MAC));
    assert_eq!(f.ttl, 120);
    assert_eq!(f.system_name.as_deref(), Some("SEP0004ODAABBCC"));
    assert_eq!(f.system_description.as_deref(), Some("Avaya 9611G SIP"));
    assert_eq!(
        f.capabilities,
        Some(phone_lldp::Capabilities {
            supported: cap::TELEPHONE,
            enabled: cap::TELEPHONE
        })
    );
    assert_eq!(
        f.med_capabilities,
        Some(MedCapabilities {
            capabilities: MED_CAPABILITIES,
            device_type: med::CLASS_III
        })
    );
    assert_eq!(f.network_policies, [NetworkPolicy::voice(false, 0, 6, 46)]);
    assert_eq!(f.inventory.model.as_deref(), Some("9611G"));
    assert_eq!(f.inventory.serial_number.as_deref(), Some("13WZ12345678"));
    assert_eq!(
        f.inventory.firmware_revision.as_deref(),
        Some("S96x1_SALBR7_2_0_0_25.bin")
    );
    assert!(f.management_addresses.is_empty());
    assert!(f.unknown.is_empty());
}

#[test]
fn lldp_enabled_2_waits_for_a_frame_and_0_does_nothing() {
    let mut t = agent(config(Mode::AfterReceive));
    t.advance(secs(60));
    assert!(t.transmits().is_empty());
    assert_eq!(t.deadline, Instant::MAX);
    // A plain LLDP neighbour (no MED): one frame now, then every 30 s.
    t.input(Input::Receive(
        secs(60),
        (),
        &switch_frame(120, false, None),
    ));
    t.advance(secs(125));
    assert_eq!(times(&t), [60, 90, 120]);
    assert!(matches!(
        events_at(&t)[..],
        [(_, Event::Neighbour { med: false, .. })]
    ));

    // LLDP_ENABLED 2 with a MED switch: fast start on its first frame.
    let mut t = agent(config(Mode::AfterReceive));
    t.input(Input::Receive(secs(5), (), &switch_frame(120, true, None)));
    t.advance(secs(40));
    assert_eq!(times(&t), [5, 6, 7, 37]);

    // LLDP_ENABLED 0: nothing sent, nothing learned.
    let mut t = agent(config(Mode::Off));
    t.input(Input::Receive(
        secs(5),
        (),
        &switch_frame(120, true, Some(voice(30))),
    ));
    t.advance(secs(100));
    assert!(t.log.is_empty());
    assert_eq!(t.deadline, Instant::MAX);
}

#[test]
fn xmit_secs_sets_interval_and_ttl_within_bounds() {
    let mut t = agent(config(Mode::On).with_xmit_secs(5));
    t.advance(secs(20));
    assert_eq!(times(&t), [0, 1, 2, 7, 12, 17]);
    assert_eq!(sent_at(&t)[0].1.ttl, 20);
    let a = Agent::new(config(Mode::On).with_xmit_secs(0), Instant::ZERO);
    assert_eq!(a.frame().ttl, 4);
    let a = Agent::new(config(Mode::On).with_xmit_secs(u16::MAX), Instant::ZERO);
    assert_eq!(a.frame().ttl, 14_400);
    let mut c = config(Mode::On);
    c.fast_start_count = 50;
    let mut t = agent(c);
    t.advance(secs(12));
    assert_eq!(
        times(&t),
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
        "at most 10 fast-start frames"
    );
}

#[test]
fn the_switch_voice_policy_is_learned_once_and_withdrawn_by_ttl_0() {
    let mut t = agent(config(Mode::On));
    t.input(Input::Receive(
        secs(10),
        (),
        &switch_frame(120, true, Some(voice(30))),
    ));
    // Refreshed unchanged: nothing new.
    t.input(Input::Receive(
        secs(40),
        (),
        &switch_frame(120, true, Some(voice(30))),
    ));
    // Changed VLAN: reported.
    t.input(Input::Receive(
        secs(70),
        (),
        &switch_frame(120, true, Some(voice(31))),
    ));
    // TTL 0: withdrawn.
    t.input(Input::Receive(
        secs(80),
        (),
        &switch_frame(0, true, Some(voice(31))),
    ));
    let ev: Vec<(Instant, Event)> = events_at(&t)
        .into_iter()
        .filter(|(_, e)| !matches!(e, Event::Neighbour { .. }))
        .collect();
    assert_eq!(
        ev,
        [
            (secs(10), policy_event(30)),
            (secs(70), policy_event(31)),
            (secs(80), Event::PolicyWithdrawn)
        ]
    );
    assert_eq!(
        ev[0].1.to_string(),
        "LLDP voice policy: VLAN 30 tagged, priority 5, DSCP 46"
    );
    assert_eq!(ev[0].1.voice_policy().unwrap().l2q(), 1);
    assert_eq!(t.machine.voice_policy(), None);
    assert_eq!(t.machine.neighbours(), 0);
}

#[test]
fn the_policy_is_withdrawn_when_its_ttl_runs_out_or_a_frame_drops_it() {
    let mut t = agent(config(Mode::On));
    t.input(Input::Receive(
        secs(10),
        (),
        &switch_frame(30, true, Some(voice(30))),
    ));
    t.advance(secs(100));
    let ev: Vec<(Instant, Event)> = events_at(&t)
        .into_iter()
        .filter(|(_, e)| !matches!(e, Event::Neighbour { .. }))
        .collect();
    assert_eq!(
        ev,
        [
            (secs(10), policy_event(30)),
            (secs(40), Event::PolicyWithdrawn)
        ]
    );

    // A frame without the policy, or with it marked unknown, withdraws it too.
    let mut t = agent(config(Mode::On));
    t.input(Input::Receive(
        secs(10),
        (),
        &switch_frame(120, true, Some(voice(30))),
    ));
    t.input(Input::Receive(secs(20), (), &switch_frame(120, true, None)));
    t.input(Input::Receive(
        secs(30),
        (),
        &switch_frame(120, true, Some(voice(30))),
    ));
    let mut unknown = voice(30);
    unknown.unknown = true;
    t.input(Input::Receive(
        secs(40),
        (),
        &switch_frame(120, true, Some(unknown)),
    ));
    let ev: Vec<Event> = events_at(&t)
        .into_iter()
        .map(|(_, e)| e)
        .filter(|e| !matches!(e, Event::Neighbour { .. }))
        .collect();
    assert_eq!(
        ev,
        [
            policy_event(30),
            Event::PolicyWithdrawn,
            policy_event(30),
            Event::PolicyWithdrawn
        ]
    );
    // Only one Neighbour event: the same switch all along.
    assert_eq!(
        events_at(&t)
            .iter()
            .filter(|(_, e)| matches!(e, Event::Neighbour { .. }))
            .count(),
        1
    );
}

#[test]
fn a_new_med_neighbour_restarts_fast_start() {
    let mut t = agent(config(Mode::On));
    t.advance(secs(40));
    assert_eq!(times(&t), [0, 1, 2, 32]);
    t.input(Input::Receive(secs(40), (), &switch_frame(120, true, None)));
    t.advance(secs(75));
    assert_eq!(times(&t), [0, 1, 2, 32, 40, 41, 42, 72]);
    // The same neighbour again does not.
    t.input(Input::Receive(secs(75), (), &switch_frame(120, true, None)));
    t.advance(secs(103));
    assert_eq!(times(&t), [0, 1, 2, 32, 40, 41, 42, 72, 102]);
    let e = &events_at(&t)[0].1;
    assert_eq!(
        e.to_string(),
        "LLDP neighbour sw1 (52:54:00:12:34:56) port ge-0/0/7, LLDP-MED"
    );
}

#[test]
fn local_changes_send_at_once_but_not_within_a_second_of_the_last_frame() {
    let mut t = agent(config(Mode::On));
    t.advance(secs(10));
    assert_eq!(times(&t), [0, 1, 2]);
    let addr = Ipv4Addr::new(10, 0, 0, 50);
    t.input(Input::Command(
        secs(10),
        Command::ManagementAddress(Some(addr)),
    ));
    t.input(Input::Command(secs(10), Command::VoicePolicy(voice(30))));
    t.advance(secs(12));
    assert_eq!(times(&t), [0, 1, 2, 10, 11]);
    let (_, f) = sent_at(&t).pop().unwrap();
    assert_eq!(f.management_addresses[0].address, addr.octets());
    assert_eq!(f.network_policies, [voice(30)]);
    // The same values again change nothing.
    t.input(Input::Command(
        secs(12),
        Command::ManagementAddress(Some(addr)),
    ));
    t.input(Input::Command(
        secs(12),
        Command::SystemName("SEP0004ODAABBCC"),
    ));
    t.advance(secs(30));
    assert_eq!(times(&t), [0, 1, 2, 10, 11]);
}

#[test]
fn shutdown_sends_ttl_0_then_nothing() {
    let mut t = agent(config(Mode::On));
    t.advance(secs(5));
    t.input(Input::Command(secs(5), Command::Shutdown));
    t.input(Input::Receive(
        secs(6),
        (),
        &switch_frame(120, true, Some(voice(30))),
    ));
    t.advance(secs(200));
    let sent = sent_at(&t);
    assert_eq!(sent.len(), 4);
    let (at, last) = sent.last().unwrap();
    assert_eq!((*at, last.ttl), (secs(5), 0));
    assert_eq!(last.system_name, None);
    assert!(
        !events_at(&t)
            .iter()
            .any(|(_, e)| matches!(e, Event::VoicePolicy { .. }))
    );

    // Nothing sent yet (LLDP_ENABLED 2): nothing to withdraw.
    let mut t = agent(config(Mode::AfterReceive));
    t.input(Input::Command(secs(1), Command::Shutdown));
    t.advance(secs(10));
    assert!(t.log.is_empty());
}

#[test]
fn malformed_and_own_frames_are_ignored_and_neighbours_bounded() {
    let mut t = agent(config(Mode::AfterReceive));
    t.input(Input::Receive(secs(1), (), &[0xff; 40]));
    t.input(Input::Receive(secs(1), (), &[]));
    // Our own frame, looped back by the driver.
    let own = Agent::new(config(Mode::On), Instant::ZERO)
        .frame()
        .encode()
        .unwrap();
    t.input(Input::Receive(secs(1), (), &own));
    assert!(t.log.is_empty());
    assert_eq!(t.machine.stats().dropped, 2);
    // Many neighbours: the table keeps MAX_NEIGHBOURS.
    for i in 0..10u8 {
        let mut f = Lldpdu::new(
            Id::chassis_mac([2, 0, 0, 0, 0, i]),
            Id::port_mac([2, 0, 0, 0, 0, i]),
            120,
        );
        f.network_policies.push(voice(100 + u16::from(i)));
        t.input(Input::Receive(secs(2), (), &f.encode().unwrap()));
    }
    assert_eq!(t.machine.neighbours(), MAX_NEIGHBOURS);
    assert_eq!(
        t.machine.stats().neighbours_ignored,
        10 - MAX_NEIGHBOURS as u64
    );
    // The first neighbour's policy holds while it lasts.
    assert_eq!(t.machine.voice_policy().map(|p| p.vlan), Some(100));
    // A malformed TLV drops that TLV only: a frame with a short MED capabilities TLV still
    // gives its policy.
    let mut t = agent(config(Mode::On));
    let mut b = switch_frame(120, false, Some(voice(30)));
    b.truncate(b.len() - 2); // End
    b.extend_from_slice(&[0xfe, 0x05]);
    b.extend_from_slice(&OUI_MED);
    b.extend_from_slice(&[med::CAPABILITIES]);
    b.push(0);
    t.input(Input::Receive(secs(1), (), &b));
    assert_eq!(t.machine.voice_policy().map(|p| p.vlan), Some(30));
    assert_eq!(t.machine.stats().malformed_tlvs, 1);
}

/// A switch that answers the phone's first frame with its own, every 30 s, with a voice
/// policy (what lldpd configured for MED does).
struct Switch {
    last: Option<Instant>,
}

impl Peer<Agent> for Switch {
    fn on_transmit(&mut self, now: Instant, _: &phone_lldp::Transmit) -> Vec<Reply<()>> {
        if self.last.is_some_and(|l| now - l < Duration::from_secs(30)) {
            return Vec::new();
        }
        self.last = Some(now);
        vec![Reply::Receive {
            after: Duration::from_millis(10),
            peer: (),
            bytes: switch_frame(120, true, Some(voice(30))),
        }]
    }
}

#[test]
fn against_a_switch_the_phone_learns_its_vlan() {
    let mut t = agent(config(Mode::On));
    t.run(&mut Switch { last: None }, secs(100));
    let ev: Vec<(Instant, Event)> = events_at(&t)
        .into_iter()
        .filter(|(_, e)| !matches!(e, Event::Neighbour { .. }))
        .collect();
    assert_eq!(ev, [(Instant::from_millis(10), policy_event(30))]);
    // Fast start at link-up, restarted by the switch's first (MED) frame, which comes 10 ms
    // into it: the restart waits for the one-second spacing.
    assert_eq!(times(&t)[..4], [0, 1, 2, 3]);
}

/// Commit on take: deciding to send moves nothing; the fast-start count and the timer move
/// when the caller takes the frame. A failed frame does not count: the same position again one
/// second later; after MAX_SEND_FAILURES in a row the agent waits the full interval.
#[test]
fn commit_on_take() {
    let mut a = Agent::new(config(Mode::On), Instant::ZERO);
    a.handle_input(Input::Timeout(secs(3)));
    a.handle_input(Input::Command(
        secs(3),
        Command::ManagementAddress(Some(Ipv4Addr::new(10, 0, 0, 5))),
    ));
    assert_eq!(a.stats().sent, 0);
    assert_eq!(a.fast_start_left(), 3);
    assert_eq!(
        a.poll_timeout(),
        Some(Instant::ZERO),
        "the first frame is due, not lost"
    );
    let Output::Transmit(_) = a.poll_output() else {
        panic!()
    };
    assert_eq!((a.stats().sent, a.fast_start_left()), (1, 2));
    assert_eq!(a.poll_output(), Output::Timeout(secs(4)));
    // It could not be sent: it does not count.
    a.handle_input(Input::TransportFailed(secs(3), ()));
    assert_eq!(a.fast_start_left(), 3);
    assert_eq!(a.poll_output(), Output::Timeout(secs(4)));
    // A second report about the same take changes nothing.
    a.handle_input(Input::TransportFailed(secs(3), ()));
    assert_eq!(a.fast_start_left(), 3);
    let mut now = secs(4);
    for i in 0..MAX_SEND_FAILURES {
        a.handle_input(Input::Timeout(now));
        let Output::Transmit(_) = a.poll_output() else {
            panic!()
        };
        assert_eq!(a.fast_start_left(), 2);
        a.handle_input(Input::TransportFailed(now, ()));
        now += FAST_INTERVAL;
        if i + 1 < MAX_SEND_FAILURES {
            assert_eq!((a.fast_start_left(), a.poll_timeout()), (3, Some(now)));
        }
    }
    // Four failures in a row: back to the regular interval.
    assert_eq!(a.fast_start_left(), 0);
    assert_eq!(a.poll_timeout(), Some(secs(6) + Duration::from_secs(30)));
    // A frame that goes through resets the run.
    let t = secs(36);
    a.handle_input(Input::Timeout(t));
    let Output::Transmit(_) = a.poll_output() else {
        panic!()
    };
    let Output::Timeout(next) = a.poll_output() else {
        panic!()
    };
    assert_eq!(next, t + Duration::from_secs(30));
    assert_eq!(a.stats().sent, 5);
}

#[test]
fn shutdown_withdraws_a_policy_in_force() {
    let mut t = agent(config(Mode::On));
    t.input(Input::Receive(
        secs(1),
        (),
        &switch_frame(120, true, Some(voice(30))),
    ));
    t.input(Input::Command(secs(2), Command::Shutdown));
    let ev: Vec<Event> = events_at(&t).into_iter().map(|(_, e)| e).collect();
    assert!(matches!(
        &ev[..],
        [
            Event::Neighbour { .. },
            Event::VoicePolicy { vlan: 30, .. },
            Event::PolicyWithdrawn
        ]
    ));
    assert_eq!(t.machine.voice_policy(), None);
    assert!(!t.machine.transmitting());
}
