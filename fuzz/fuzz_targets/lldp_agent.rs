//! phone-lldp agent through the shared transcript harness: frames from switches (MED or not,
//! any TTL, voice policies known or unknown, extra TLVs), raw bytes, failed sends, commands
//! (address, advertised policy, name, shutdown) and time jumps, under any LLDP_ENABLED,
//! LLDP_XMIT_SECS and fast-start count. Oracles: no panic, at most 64 outputs per input,
//! deadline never in the past and equal to `poll_timeout` (the harness); every frame sent
//! decodes, is the phone's (MAC chassis, Class III, TTL 4 x interval, or 0 once at shutdown);
//! LLDP_ENABLED 0 does nothing; PolicyWithdrawn only follows a VoicePolicy; at most 4
//! neighbours; the same inputs give the same transcript.
#![no_main]

use std::net::Ipv4Addr;
use std::time::Duration;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use phone_lldp::frame::{OUI_MED, med};
use phone_lldp::{Agent, AgentConfig, Command, Event, Id, Lldpdu, MedCapabilities, Mode, NetworkPolicy, Transmit, UnknownTlv};
use phone_sansio::harness::{Logged, Transcript};
use phone_sansio::{Input, Instant};

const MAC: [u8; 6] = [0, 4, 0x0d, 1, 2, 3];

#[derive(Arbitrary, Debug)]
enum Op {
    Wait(u16),
    WaitToDeadline,
    Frame {
        switch: u8,
        own: bool,
        ttl: u16,
        med: bool,
        policy: Option<(u8, bool, bool, u16, u8, u8)>,
        extra: Vec<(u8, Vec<u8>)>,
    },
    Raw(Vec<u8>),
    Failed,
    Address(Option<[u8; 4]>),
    Policy(bool, u16, u8, u8),
    Name(String),
    Shutdown,
}

#[derive(Arbitrary, Debug)]
struct Run {
    mode: u8,
    xmit_secs: u16,
    fast: u8,
    ops: Vec<Op>,
}

type Log = Vec<Logged<Transmit, Event>>;

fn play(run: &Run) -> Log {
    let mut cfg = AgentConfig::for_mac(MAC).with_xmit_secs(run.xmit_secs);
    cfg.mode = Mode::from_value(run.mode % 3).unwrap_or_default();
    cfg.fast_start_count = run.fast;
    cfg.system_name = "SEP00040D010203".into();
    cfg.inventory.model = Some("9611G".into());
    let off = cfg.mode == Mode::Off;
    let agent = Agent::new(cfg, Instant::ZERO);
    let ttl = agent.config().ttl();
    let mut t = Transcript::new(agent, Instant::ZERO);
    t.max_outputs_per_input = 64;
    let mut have_policy = false;
    let mut zero_ttl_sent = false;
    let mut check = |t: &Transcript<Agent>, from: usize| {
        for l in &t.log[from..] {
            match l {
                Logged::Transmit(_, tx) => {
                    let f = Lldpdu::decode(&tx.payload).expect("the phone's frame decodes");
                    assert_eq!(f.chassis_id, Id::chassis_mac(MAC));
                    assert!(!zero_ttl_sent, "a frame after the shutdown frame");
                    if f.ttl == 0 {
                        zero_ttl_sent = true;
                    } else {
                        assert_eq!(f.ttl, ttl);
                        assert_eq!(f.med_capabilities.map(|m| m.device_type), Some(med::CLASS_III));
                    }
                }
                Logged::Event(_, Event::VoicePolicy { .. }) => have_policy = true,
                Logged::Event(_, Event::PolicyWithdrawn) => {
                    assert!(have_policy, "withdrawn without a policy");
                    have_policy = false;
                }
                Logged::Event(..) => {}
            }
        }
        assert!(t.machine.neighbours() <= phone_lldp::agent::MAX_NEIGHBOURS);
        assert_eq!(t.machine.voice_policy().is_some(), have_policy);
        if off {
            assert!(t.log.is_empty());
        }
    };
    check(&t, 0);
    for op in run.ops.iter().take(200) {
        let start = t.log.len();
        let now = t.now;
        let bytes: Vec<u8>;
        let input = match op {
            Op::Wait(s) => Input::Timeout(now + Duration::from_millis(u64::from(*s) * 10)),
            Op::WaitToDeadline => Input::Timeout(if t.deadline == Instant::MAX { now } else { t.deadline }),
            Op::Frame { switch, own, ttl, med: m, policy, extra } => {
                let mac = if *own { MAC } else { [2, 0, 0, 0, 0, switch % 8] };
                let mut f = Lldpdu::new(Id::chassis_mac(mac), Id::port_mac(mac), *ttl % 300);
                if *m {
                    f.med_capabilities = Some(MedCapabilities { capabilities: 0x0f, device_type: med::NETWORK_CONNECTIVITY });
                }
                if let Some((app, unknown, tagged, vlan, prio, dscp)) = policy {
                    f.network_policies.push(NetworkPolicy {
                        app: app % 3,
                        unknown: *unknown,
                        tagged: *tagged,
                        vlan: vlan & 0x0fff,
                        priority: prio & 7,
                        dscp: dscp & 0x3f,
                    });
                }
                for (ty, info) in extra.iter().take(20) {
                    let ty = 9 + ty % 118;
                    let mut info: Vec<u8> = info.iter().take(64).copied().collect();
                    if ty == 127 {
                        let mut h = OUI_MED.to_vec();
                        h.push(3);
                        h.extend(info);
                        info = h;
                    }
                    f.unknown.push(UnknownTlv { tlv_type: ty, info });
                }
                f.unknown.truncate(16);
                let Ok(b) = f.encode() else { continue };
                bytes = b;
                Input::Receive(now, (), &bytes)
            }
            Op::Raw(b) => Input::Receive(now, (), b),
            Op::Failed => Input::TransportFailed(now, ()),
            Op::Address(a) => Input::Command(now, Command::ManagementAddress(a.map(Ipv4Addr::from))),
            Op::Policy(tagged, vlan, prio, dscp) => {
                Input::Command(now, Command::VoicePolicy(NetworkPolicy::voice(*tagged, *vlan, *prio, *dscp)))
            }
            Op::Name(n) => Input::Command(now, Command::SystemName(n)),
            Op::Shutdown => Input::Command(now, Command::Shutdown),
        };
        t.input(input);
        check(&t, start);
    }
    t.log
}

fuzz_target!(|run: Run| {
    let a = play(&run);
    let b = play(&run);
    assert!(a == b, "same inputs, different transcripts");
});
