//! Codec tests: a switch's frame as lldpd sends it, the Network Policy bit layout, the
//! mandatory TLVs, malformed TLVs dropped alone, unknown TLVs kept and bounded, encode bounds,
//! and round trips (proptest).
#![allow(clippy::unwrap_used)]

use phone_lldp::frame::{
    ADDRESS_IPV4, CHASSIS_MAC, IF_INDEX, MAX_LLDPDU_LEN, MAX_UNKNOWN, OUI_MED, PORT_INTERFACE_NAME,
    cap, med, tlv,
};
use phone_lldp::{
    Capabilities, DecodeError, EncodeError, Id, Inventory, Lldpdu, ManagementAddress,
    MedCapabilities, NetworkPolicy, UnknownTlv,
};
use proptest::prelude::*;

fn tlv(t: u8, info: &[u8]) -> Vec<u8> {
    let h = (u16::from(t) << 9) | info.len() as u16;
    let mut v = h.to_be_bytes().to_vec();
    v.extend_from_slice(info);
    v
}

fn org(oui: [u8; 3], subtype: u8, rest: &[u8]) -> Vec<u8> {
    let mut info = oui.to_vec();
    info.push(subtype);
    info.extend_from_slice(rest);
    tlv(tlv::ORG_SPECIFIC, &info)
}

fn mandatory() -> Vec<u8> {
    let mut b = tlv(tlv::CHASSIS_ID, &[4, 0x52, 0x54, 0, 0x12, 0x34, 0x56]);
    b.extend(tlv(tlv::PORT_ID, b"\x05eth0"));
    b.extend(tlv(tlv::TTL, &[0, 120]));
    b
}

/// A switch port's frame with the TLVs lldpd sends when configured for a voice VLAN (`lldpcli
/// configure med policy application voice vlan 30 priority voice dscp 46`), plus 802.1, 802.3
/// and Avaya TLVs this codec does not type, and Ethernet padding after End.
fn switch_frame() -> Vec<u8> {
    let mut b = mandatory();
    b.extend(tlv(tlv::SYSTEM_NAME, b"sw1"));
    b.extend(tlv(tlv::SYSTEM_DESCRIPTION, b"Debian GNU/Linux"));
    b.extend(tlv(tlv::SYSTEM_CAPABILITIES, &[0, 0x14, 0, 0x14]));
    b.extend(tlv(
        tlv::MANAGEMENT_ADDRESS,
        &[5, 1, 10, 0, 0, 1, 2, 0, 0, 0, 3, 0],
    ));
    b.extend(tlv(tlv::PORT_DESCRIPTION, b"veth-phone"));
    b.extend(org([0x00, 0x12, 0x0f], 1, &[3, 0x6c, 0x00, 0x00, 0x10])); // 802.3 MAC/PHY
    b.extend(org([0x00, 0x80, 0xc2], 1, &[0, 1])); // 802.1 port VLAN ID
    b.extend(org(
        OUI_MED,
        med::CAPABILITIES,
        &[0, 0x3f, med::NETWORK_CONNECTIVITY],
    ));
    b.extend(org(OUI_MED, med::NETWORK_POLICY, &[1, 0x40, 0x3d, 0x6e]));
    b.extend(org(OUI_MED, med::LOCATION, &[2, 0, 0]));
    b.extend(org([0x00, 0x40, 0x0d], 1, &[10, 0, 0, 5])); // Avaya: layout not public
    b.extend(tlv(tlv::END, &[]));
    b.extend([0u8; 20]);
    b
}

#[test]
fn a_switch_frame_decodes() {
    let f = Lldpdu::decode(&switch_frame()).unwrap();
    assert_eq!(
        f.chassis_id,
        Id {
            subtype: CHASSIS_MAC,
            id: vec![0x52, 0x54, 0, 0x12, 0x34, 0x56]
        }
    );
    assert_eq!(
        f.port_id,
        Id {
            subtype: PORT_INTERFACE_NAME,
            id: b"eth0".to_vec()
        }
    );
    assert_eq!(f.ttl, 120);
    assert_eq!(f.system_name.as_deref(), Some("sw1"));
    assert_eq!(f.system_description.as_deref(), Some("Debian GNU/Linux"));
    assert_eq!(f.port_description.as_deref(), Some("veth-phone"));
    assert_eq!(
        f.capabilities,
        Some(Capabilities {
            supported: cap::BRIDGE | cap::ROUTER,
            enabled: cap::BRIDGE | cap::ROUTER
        })
    );
    assert_eq!(
        f.management_addresses,
        [ManagementAddress {
            subtype: ADDRESS_IPV4,
            address: vec![10, 0, 0, 1],
            if_subtype: IF_INDEX,
            if_number: 3,
            oid: vec![],
        }]
    );
    assert_eq!(
        f.med_capabilities,
        Some(MedCapabilities {
            capabilities: 0x3f,
            device_type: med::NETWORK_CONNECTIVITY
        })
    );
    assert_eq!(
        f.voice_policy(),
        Some(NetworkPolicy::voice(true, 30, 5, 46))
    );
    let orgs: Vec<_> = f.unknown.iter().map(|u| u.org().unwrap()).collect();
    assert_eq!(
        orgs,
        [
            ([0, 0x12, 0x0f], 1),
            ([0, 0x80, 0xc2], 1),
            (OUI_MED, med::LOCATION),
            ([0, 0x40, 0x0d], 1)
        ]
    );
    assert_eq!((f.malformed, f.skipped), (0, 0));
    assert_eq!(f.chassis_id.to_string(), "52:54:00:12:34:56");
    assert_eq!(f.port_id.to_string(), "eth0");
}

fn unhex(parts: &[&str]) -> Vec<u8> {
    let s: String = parts.concat();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// Frames captured from a real lldpd 1.0.16 (Debian 12) on a veth pair, configured with
/// `lldpd -M 4` and `lldpcli configure med policy application voice tagged vlan 30 priority
/// voice dscp 46`: its periodic frame, and the shutdown frame it sent when stopped. (The same
/// session showed the phone's frame in `lldpcli show neighbors details` with its Class III
/// capabilities, voice policy and inventory.)
#[test]
fn lldpd_frames_decode() {
    let periodic = unhex(&[
        "0207048accecaad04d0407038accecaad04d060200780a02766d0c5544656269616e20474e552f4c",
        "696e75782031322028626f6f6b776f726d29204c696e757820362e31382e34342d66632d76373832",
        "20233120534d5020505245454d50545f44594e414d4943204030207838365f36340e04009c008010",
        "181102fe8000000000000088ccecfffeaad04d0200000002000803737730fe0900120f0301000000",
        "00fe0900120f010080000036fe070012bb01003f04fe130012bb07362e31382e34342d66632d7637",
        "3832fe080012bb0201403d6e0000",
    ]);
    let f = Lldpdu::decode(&periodic).unwrap();
    assert_eq!(f.ttl, 120);
    assert_eq!(f.system_name.as_deref(), Some("vm"));
    assert_eq!(f.port_description.as_deref(), Some("sw0"));
    assert_eq!(
        f.med_capabilities,
        Some(MedCapabilities {
            capabilities: 0x3f,
            device_type: med::NETWORK_CONNECTIVITY
        })
    );
    assert_eq!(
        f.voice_policy(),
        Some(NetworkPolicy::voice(true, 30, 5, 46))
    );
    assert_eq!(
        f.inventory.software_revision.as_deref(),
        Some("6.18.44-fc-v782")
    );
    assert_eq!(f.management_addresses.len(), 1);
    assert_eq!(
        f.management_addresses[0].address.len(),
        16,
        "IPv6 link-local"
    );
    // Its two IEEE 802.3 TLVs (link aggregation, MAC/PHY) are kept as unknown.
    assert_eq!(f.unknown.len(), 2);
    assert_eq!((f.malformed, f.skipped), (0, 0));
    assert_eq!(Lldpdu::decode(&f.encode().unwrap()).unwrap(), f);

    let shutdown = unhex(&["0207048accecaad04d0407038accecaad04d060200000000"]);
    let s = Lldpdu::decode(&shutdown).unwrap();
    assert_eq!((s.ttl, &s.chassis_id), (0, &f.chassis_id));
}

#[test]
fn network_policy_bits() {
    // App voice, U=0, T=1, X=0, VLAN 30, priority 5, DSCP 46 (TIA-1057 Figure 12).
    let p = NetworkPolicy::voice(true, 30, 5, 46);
    let mut f = Lldpdu::new(Id::chassis_mac([2; 6]), Id::port_mac([2; 6]), 1);
    f.network_policies.push(p);
    let b = f.encode().unwrap();
    let want = org(OUI_MED, med::NETWORK_POLICY, &[1, 0x40, 0x3d, 0x6e]);
    assert!(b.windows(want.len()).any(|w| w == want));
    // U and X set, VLAN 4095, priority 7, DSCP 63: every field at its top.
    let mut b = mandatory();
    b.extend(org(OUI_MED, med::NETWORK_POLICY, &[2, 0xff, 0xff, 0xff]));
    let f = Lldpdu::decode(&b).unwrap();
    assert_eq!(
        f.network_policies,
        [NetworkPolicy {
            app: 2,
            unknown: true,
            tagged: true,
            vlan: 4095,
            priority: 7,
            dscp: 63
        }]
    );
    // An unknown voice policy is no policy.
    let mut b = mandatory();
    b.extend(org(OUI_MED, med::NETWORK_POLICY, &[1, 0x80, 0x3d, 0x6e]));
    assert_eq!(Lldpdu::decode(&b).unwrap().voice_policy(), None);
}

#[test]
fn the_mandatory_tlvs_come_first_in_order_and_once() {
    let c = tlv(tlv::CHASSIS_ID, &[4, 1, 2, 3, 4, 5, 6]);
    let p = tlv(tlv::PORT_ID, &[3, 1, 2, 3, 4, 5, 6]);
    let t = tlv(tlv::TTL, &[0, 120]);
    let cat = |parts: &[&Vec<u8>]| {
        parts
            .iter()
            .flat_map(|v| v.iter().copied())
            .collect::<Vec<u8>>()
    };
    assert!(Lldpdu::decode(&cat(&[&c, &p, &t])).is_ok());
    assert_eq!(
        Lldpdu::decode(&[]),
        Err(DecodeError::Mandatory(tlv::CHASSIS_ID))
    );
    assert_eq!(
        Lldpdu::decode(&cat(&[&p, &c, &t])),
        Err(DecodeError::Mandatory(tlv::CHASSIS_ID))
    );
    assert_eq!(
        Lldpdu::decode(&cat(&[&c, &t, &p])),
        Err(DecodeError::Mandatory(tlv::PORT_ID))
    );
    assert_eq!(
        Lldpdu::decode(&cat(&[&c, &p])),
        Err(DecodeError::Mandatory(tlv::TTL))
    );
    assert_eq!(
        Lldpdu::decode(&cat(&[&c, &p, &tlv(tlv::TTL, &[0, 0, 120])])),
        Err(DecodeError::Mandatory(tlv::TTL))
    );
    assert_eq!(
        Lldpdu::decode(&cat(&[&tlv(tlv::CHASSIS_ID, &[4]), &p, &t])),
        Err(DecodeError::Mandatory(tlv::CHASSIS_ID))
    );
    assert_eq!(
        Lldpdu::decode(&cat(&[&c, &p, &t, &c])),
        Err(DecodeError::Repeated(tlv::CHASSIS_ID))
    );
    assert_eq!(
        Lldpdu::decode(&cat(&[&c, &p, &t, &t])),
        Err(DecodeError::Repeated(tlv::TTL))
    );
    // A TLV running past the end.
    let mut b = cat(&[&c, &p, &t]);
    b.extend_from_slice(&[0x0a, 0x10, b'x']);
    assert!(matches!(Lldpdu::decode(&b), Err(DecodeError::Truncated(_))));
    assert_eq!(
        Lldpdu::decode(&vec![0; MAX_LLDPDU_LEN + 1]),
        Err(DecodeError::TooLong(MAX_LLDPDU_LEN + 1))
    );
    // After End nothing is read, not even a repeated Chassis ID.
    let b = cat(&[&c, &p, &t, &tlv(tlv::END, &[]), &c]);
    assert!(Lldpdu::decode(&b).is_ok());
}

#[test]
fn a_malformed_tlv_is_dropped_alone() {
    let mut b = mandatory();
    b.extend(tlv(tlv::SYSTEM_CAPABILITIES, &[0, 0x20, 0])); // 3 bytes
    b.extend(tlv(tlv::SYSTEM_NAME, b"first"));
    b.extend(tlv(tlv::SYSTEM_NAME, b"second")); // repeated
    b.extend(org(OUI_MED, med::NETWORK_POLICY, &[1, 0x40, 0x3d])); // short
    b.extend(org(OUI_MED, med::NETWORK_POLICY, &[1, 0x40, 0x3d, 0x6e]));
    b.extend(org(OUI_MED, med::NETWORK_POLICY, &[1, 0x40, 0x00, 0x00])); // second voice policy
    b.extend(org(OUI_MED, med::MODEL, &[b'x'; 33])); // inventory > 32
    b.extend(org(OUI_MED, med::SERIAL_NUMBER, b"12AB34"));
    b.extend(org(OUI_MED, med::CAPABILITIES, &[0, 1])); // short
    b.extend(tlv(tlv::MANAGEMENT_ADDRESS, &[40, 1, 10])); // address length beyond the TLV
    b.extend(tlv(tlv::ORG_SPECIFIC, &[0, 0x12])); // no subtype
    b.extend(tlv(tlv::END, &[]));
    let f = Lldpdu::decode(&b).unwrap();
    assert_eq!(f.malformed, 8);
    assert_eq!(f.system_name.as_deref(), Some("first"));
    assert_eq!(f.capabilities, None);
    assert_eq!(
        f.voice_policy(),
        Some(NetworkPolicy::voice(true, 30, 5, 46))
    );
    assert_eq!(f.inventory.model, None);
    assert_eq!(f.inventory.serial_number.as_deref(), Some("12AB34"));
    assert_eq!(f.med_capabilities, None);
    assert!(f.unknown.is_empty());
}

#[test]
fn unknown_tlvs_are_kept_and_bounded() {
    let mut b = mandatory();
    for i in 0..(MAX_UNKNOWN as u8 + 5) {
        b.extend(tlv(9 + i, &[i]));
    }
    let f = Lldpdu::decode(&b).unwrap();
    assert_eq!(f.unknown.len(), MAX_UNKNOWN);
    assert_eq!(f.skipped, 5);
    assert_eq!(
        f.unknown[3],
        UnknownTlv {
            tlv_type: 12,
            info: vec![3]
        }
    );
    // Invalid UTF-8 in a string: each bad byte becomes '?', never longer.
    let mut b = mandatory();
    b.extend(tlv(tlv::SYSTEM_NAME, b"ab\xffc\xe2\x82"));
    assert_eq!(
        Lldpdu::decode(&b).unwrap().system_name.as_deref(),
        Some("ab?c??")
    );
}

#[test]
fn encode_checks_every_bound() {
    let base = Lldpdu::new(Id::chassis_mac([2; 6]), Id::port_mac([2; 6]), 120);
    let mut f = base.clone();
    f.chassis_id.id.clear();
    assert_eq!(f.encode(), Err(EncodeError::Field(tlv::CHASSIS_ID)));
    let mut f = base.clone();
    f.port_id.id = vec![1; 256];
    assert_eq!(f.encode(), Err(EncodeError::Field(tlv::PORT_ID)));
    let mut f = base.clone();
    f.system_name = Some("x".repeat(256));
    assert_eq!(f.encode(), Err(EncodeError::Field(tlv::SYSTEM_NAME)));
    let mut f = base.clone();
    f.inventory.model = Some("x".repeat(33));
    assert_eq!(f.encode(), Err(EncodeError::Field(tlv::ORG_SPECIFIC)));
    let mut f = base.clone();
    f.network_policies = vec![NetworkPolicy::voice(true, 1, 1, 1); 2];
    assert_eq!(f.encode(), Err(EncodeError::Field(tlv::ORG_SPECIFIC)));
    let mut f = base.clone();
    f.unknown.push(UnknownTlv {
        tlv_type: tlv::SYSTEM_NAME,
        info: vec![],
    });
    assert_eq!(f.encode(), Err(EncodeError::NotUnknown(tlv::SYSTEM_NAME)));
    let mut f = base.clone();
    f.unknown.push(UnknownTlv {
        tlv_type: 127,
        info: vec![0, 0x12, 0xbb, med::MODEL],
    });
    assert_eq!(f.encode(), Err(EncodeError::NotUnknown(127)));
    let mut f = base.clone();
    f.unknown = (0..4)
        .map(|i| UnknownTlv {
            tlv_type: 100 + i,
            info: vec![0; 400],
        })
        .collect();
    assert!(matches!(f.encode(), Err(EncodeError::TooLong(_))));
    // The three mandatory TLVs and End.
    assert_eq!(base.encode().unwrap().len(), 9 + 9 + 4 + 2);
}

fn arb_string(max: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("[a-zA-Z0-9 ._é-]{{0,{max}}}"))
        .unwrap()
        .prop_map(move |s| {
            let mut s = s;
            while s.len() > max {
                s.pop();
            }
            s
        })
}

fn arb_id() -> impl Strategy<Value = Id> {
    (any::<u8>(), proptest::collection::vec(any::<u8>(), 1..=255))
        .prop_map(|(subtype, id)| Id { subtype, id })
}

fn arb_frame() -> impl Strategy<Value = Lldpdu> {
    let inv = || proptest::option::of(arb_string(32));
    (
        (arb_id(), arb_id(), any::<u16>()),
        (
            proptest::option::of(arb_string(255)),
            proptest::option::of(arb_string(255)),
            proptest::option::of(arb_string(60)),
        ),
        proptest::option::of(any::<(u16, u16)>()),
        proptest::collection::vec(
            (
                any::<u8>(),
                proptest::collection::vec(any::<u8>(), 1..=31),
                any::<u8>(),
                any::<u32>(),
                proptest::collection::vec(any::<u8>(), 0..=20),
            ),
            0..=4,
        ),
        proptest::option::of(any::<(u16, u8)>()),
        proptest::collection::vec(
            (any::<bool>(), any::<bool>(), 0u16..4096, 0u8..8, 0u8..64),
            0..=8,
        ),
        (inv(), inv(), inv(), inv(), inv(), inv(), inv()),
        proptest::collection::vec(
            prop_oneof![
                (9u8..127, proptest::collection::vec(any::<u8>(), 0..40))
                    .prop_map(|(t, info)| UnknownTlv { tlv_type: t, info }),
                (
                    any::<[u8; 3]>(),
                    any::<u8>(),
                    proptest::collection::vec(any::<u8>(), 0..40)
                )
                    .prop_filter_map("typed MED", |(oui, s, rest)| {
                        let typed = oui == OUI_MED && matches!(s, 1 | 2 | 5..=11);
                        let mut info = oui.to_vec();
                        info.push(s);
                        info.extend(rest);
                        (!typed).then_some(UnknownTlv {
                            tlv_type: 127,
                            info,
                        })
                    }),
            ],
            0..=MAX_UNKNOWN,
        ),
    )
        .prop_map(
            |((c, p, ttl), (pd, sn, sd), caps, mgmt, medc, pols, inv, unknown)| {
                let mut f = Lldpdu::new(c, p, ttl);
                f.port_description = pd;
                f.system_name = sn;
                f.system_description = sd;
                f.capabilities =
                    caps.map(|(supported, enabled)| Capabilities { supported, enabled });
                f.management_addresses = mgmt
                    .into_iter()
                    .map(
                        |(subtype, address, if_subtype, if_number, oid)| ManagementAddress {
                            subtype,
                            address,
                            if_subtype,
                            if_number,
                            oid,
                        },
                    )
                    .collect();
                f.med_capabilities = medc.map(|(capabilities, device_type)| MedCapabilities {
                    capabilities,
                    device_type,
                });
                let mut apps = Vec::new();
                for (i, (unknown, tagged, vlan, priority, dscp)) in pols.into_iter().enumerate() {
                    let app = i as u8 + 1;
                    apps.push(NetworkPolicy {
                        app,
                        unknown,
                        tagged,
                        vlan,
                        priority,
                        dscp,
                    });
                }
                f.network_policies = apps;
                f.inventory = Inventory {
                    hardware_revision: inv.0,
                    firmware_revision: inv.1,
                    software_revision: inv.2,
                    serial_number: inv.3,
                    manufacturer: inv.4,
                    model: inv.5,
                    asset_id: inv.6,
                };
                f.unknown = unknown;
                f
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// decode(encode(f)) == f for every frame that fits.
    #[test]
    fn round_trip(f in arb_frame()) {
        match f.encode() {
            Ok(b) => prop_assert_eq!(Lldpdu::decode(&b).unwrap(), f),
            Err(EncodeError::TooLong(_)) => {}
            Err(e) => prop_assert!(false, "{e}"),
        }
    }

    /// Arbitrary bytes never panic; what decodes encodes (unless End makes it too long) and
    /// decodes again to the same frame.
    #[test]
    fn arbitrary_bytes(b in proptest::collection::vec(any::<u8>(), 0..400)) {
        if let Ok(f) = Lldpdu::decode(&b) {
            let mut clean = f.clone();
            clean.malformed = 0;
            clean.skipped = 0;
            match f.encode() {
                Ok(again) => prop_assert_eq!(Lldpdu::decode(&again).unwrap(), clean),
                Err(EncodeError::TooLong(_)) => {}
                Err(e) => prop_assert!(false, "{e}"),
            }
        }
    }

    /// Frames built from valid mandatory TLVs and arbitrary TLVs after them always decode: no
    /// optional TLV can make the frame malformed.
    #[test]
    fn optional_tlvs_never_spoil_a_frame(tlvs in proptest::collection::vec((4u8..128, proptest::collection::vec(any::<u8>(), 0..40)), 0..30)) {
        let mut b = mandatory();
        for (t, info) in &tlvs {
            b.extend(tlv(*t, info));
        }
        let f = Lldpdu::decode(&b).unwrap();
        prop_assert!(f.unknown.len() <= MAX_UNKNOWN);
    }
}
