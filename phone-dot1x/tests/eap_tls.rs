//! EAP-TLS against a scripted authenticator whose EAP server is a real rustls server
//! (`ServerConnection`, client certificates required): TLS 1.3 (RFC 9190's 0x00 commitment)
//! and TLS 1.2, fragments both ways, a server the phone does not trust, a hostile L field, and
//! a Success in the middle of the handshake.
#![allow(clippy::unwrap_used)]

use std::io::{Read as _, Write as _};
use std::sync::Arc;
use std::time::Duration;

use phone_dot1x::eap::{EapType, Packet, TlsData, TlsFlags};
use phone_dot1x::eapol::{self, Eapol, PacketType};
use phone_dot1x::{
    Config, Event, Link, Method, Mode, PortState, Supplicant, TlsConfig, TlsError, Transmit,
};
use phone_sansio::Instant;
use phone_sansio::harness::{Peer, Reply, Transcript};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, ServerConnection};

const AUTH: [u8; 6] = [0x02, 0xaa, 0, 0, 0, 1];

struct Pki {
    ca: Vec<u8>,
    server_chain: Vec<Vec<u8>>,
    server_key: Vec<u8>,
    client_chain: Vec<Vec<u8>>,
    client_key: Vec<u8>,
}

fn ca(name: &str) -> (Issuer<'static, KeyPair>, Vec<u8>) {
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name.push(DnType::CommonName, name);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let cert = p.self_signed(&key).unwrap();
    (Issuer::new(p, key), cert.der().to_vec())
}

fn leaf(issuer: &Issuer<'_, KeyPair>, name: &str) -> (Vec<u8>, Vec<u8>) {
    let key = KeyPair::generate().unwrap();
    let p = CertificateParams::new(vec![name.to_string()]).unwrap();
    let cert = p.signed_by(&key, issuer).unwrap();
    (cert.der().to_vec(), key.serialize_der())
}

fn pki() -> Pki {
    let (issuer, ca) = ca("802.1X test CA");
    let (server, server_key) = leaf(&issuer, "eap.lab.test");
    let (client, client_key) = leaf(&issuer, "phone1");
    Pki {
        ca,
        server_chain: vec![server],
        server_key,
        client_chain: vec![client],
        client_key,
    }
}

fn server_config(
    p: &Pki,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Arc<ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    roots.add(CertificateDer::from(p.ca.clone())).unwrap();
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .unwrap();
    let chain = p
        .server_chain
        .iter()
        .map(|c| CertificateDer::from(c.clone()))
        .collect();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(p.server_key.clone()));
    Arc::new(
        ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)
            .unwrap()
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key)
            .unwrap(),
    )
}

fn supplicant_config(p: &Pki, trusted: Vec<u8>, fragment: u16) -> Config {
    let mut c = Config::new([2, 0, 0, 0, 0, 0x42]);
    c.mode = Mode::UnicastAndMulticast;
    c.method = Method::Tls;
    c.tls_identity = "phone1".into();
    c.tls_fragment_size = fragment;
    c.tls = Some(TlsConfig {
        certificate_chain: p.client_chain.clone(),
        private_key: p.client_key.clone(),
        trusted: vec![trusted],
        server_name: None,
        unix_time_at_origin: 1_800_000_000,
    });
    c
}

/// An authenticator with an EAP-TLS server: Identity, TLS Start, then the TLS exchange in
/// fragments of `fragment` bytes; Success once the handshake is done and acknowledged
/// (after RFC 9190's 0x00 application data for TLS 1.3).
struct TlsAuthenticator {
    tls: ServerConnection,
    id: u8,
    fragment: usize,
    /// What the phone's fragments add up to.
    from_phone: Vec<u8>,
    /// Our message being sent, and how far.
    out: Vec<u8>,
    sent: usize,
    commitment_sent: bool,
    /// Announce this TLS Message Length on the first fragment instead of the real one.
    lie_about_length: Option<u32>,
    /// Send a Success right after the first phone TLS message (a spoof attempt).
    early_success: bool,
    finished: Option<bool>,
}

impl TlsAuthenticator {
    fn new(config: Arc<ServerConfig>, fragment: usize) -> Self {
        TlsAuthenticator {
            tls: ServerConnection::new(config).unwrap(),
            id: 10,
            fragment,
            from_phone: Vec::new(),
            out: Vec::new(),
            sent: 0,
            commitment_sent: false,
            lie_about_length: None,
            early_success: false,
            finished: None,
        }
    }

    fn eap(&mut self, p: Packet<'_>) -> Vec<Reply<Link>> {
        vec![Reply::Receive {
            after: Duration::from_millis(1),
            peer: Link {
                source: AUTH,
                multicast: true,
            },
            bytes: eapol::eap_packet(&p.to_bytes()),
        }]
    }

    fn request_tls(&mut self, flags: TlsFlags, len: Option<u32>, data: &[u8]) -> Vec<Reply<Link>> {
        self.id = self.id.wrapping_add(1);
        let d = TlsData {
            flags,
            message_length: len,
            data,
        }
        .to_bytes();
        let id = self.id;
        self.eap(Packet::Request {
            id,
            method: EapType::Tls,
            data: &d,
        })
    }

    fn next_fragment(&mut self) -> Vec<Reply<Link>> {
        let total = self.out.len();
        let end = total.min(self.sent + self.fragment);
        let first = self.sent == 0;
        let more = end < total;
        let flags = TlsFlags {
            length_included: first,
            more_fragments: more,
            start: false,
        };
        let len = first.then(|| self.lie_about_length.unwrap_or(total as u32));
        let chunk = self.out[self.sent..end].to_vec();
        self.sent = end;
        self.request_tls(flags, len, &chunk)
    }

    fn finish(&mut self, ok: bool) -> Vec<Reply<Link>> {
        self.finished = Some(ok);
        let id = self.id;
        self.eap(if ok {
            Packet::Success { id }
        } else {
            Packet::Failure { id }
        })
    }
}

impl Peer<Supplicant> for TlsAuthenticator {
    fn on_transmit(&mut self, _: Instant, t: &Transmit) -> Vec<Reply<Link>> {
        let frame = Eapol::parse(&t.payload).unwrap();
        if frame.packet_type == PacketType::Start {
            self.id = self.id.wrapping_add(1);
            let id = self.id;
            return self.eap(Packet::Request {
                id,
                method: EapType::Identity,
                data: &[],
            });
        }
        let Packet::Response { id, method, data } = Packet::parse(frame.body).unwrap() else {
            panic!("not a response")
        };
        assert_eq!(id, self.id, "the phone answers the current request");
        match method {
            EapType::Identity => {
                assert_eq!(data, b"phone1");
                self.request_tls(
                    TlsFlags {
                        start: true,
                        ..TlsFlags::default()
                    },
                    None,
                    &[],
                )
            }
            EapType::Tls => {
                let d = TlsData::parse(data).unwrap();
                if self.sent < self.out.len() {
                    assert!(d.data.is_empty(), "an acknowledgement");
                    return self.next_fragment();
                }
                self.from_phone.extend_from_slice(d.data);
                if d.flags.more_fragments {
                    return self.request_tls(TlsFlags::default(), None, &[]);
                }
                if d.data.is_empty() {
                    // The phone acknowledged our last message: done when the handshake is.
                    let ok = !self.tls.is_handshaking();
                    return self.finish(ok);
                }
                if self.early_success {
                    return self.finish(true);
                }
                let mut rd = &self.from_phone[..];
                while !rd.is_empty() {
                    self.tls.read_tls(&mut rd).unwrap();
                }
                self.from_phone.clear();
                let state = self.tls.process_new_packets();
                if state.is_ok()
                    && !self.tls.is_handshaking()
                    && !self.commitment_sent
                    && self.tls.protocol_version() == Some(rustls::ProtocolVersion::TLSv1_3)
                {
                    self.tls.writer().write_all(&[0]).unwrap();
                    self.commitment_sent = true;
                }
                self.out.clear();
                self.sent = 0;
                while self.tls.wants_write() {
                    self.tls.write_tls(&mut self.out).unwrap();
                }
                if state.is_err() && self.out.is_empty() {
                    return self.finish(false);
                }
                if self.out.is_empty() {
                    return self.finish(!self.tls.is_handshaking());
                }
                self.next_fragment()
            }
            EapType::Nak => self.finish(false),
            other => panic!("unexpected {other:?}"),
        }
    }
}

fn run(cfg: Config, auth: &mut TlsAuthenticator) -> Transcript<Supplicant> {
    let mut t = Transcript::new(Supplicant::new(cfg, Instant::ZERO), Instant::ZERO);
    t.max_outputs_per_input = 64;
    t.run(auth, Instant::from_secs(5));
    t
}

fn events(t: &Transcript<Supplicant>) -> Vec<Event> {
    t.events().into_iter().cloned().collect()
}

#[test]
fn tls13_with_client_certificate_is_authorized() {
    let p = pki();
    let mut auth = TlsAuthenticator::new(server_config(&p, &[&rustls::version::TLS13]), 1000);
    let t = run(supplicant_config(&p, p.ca.clone(), 1398), &mut auth);
    assert_eq!(
        events(&t),
        [
            Event::Authenticating {
                method: Method::Tls
            },
            Event::Authorized {
                method: Some(Method::Tls)
            }
        ]
    );
    assert_eq!(auth.finished, Some(true));
    assert!(auth.commitment_sent);
    // The server saw and verified the phone's certificate.
    let peer = auth.tls.peer_certificates().unwrap();
    assert_eq!(peer[0].as_ref(), p.client_chain[0].as_slice());
    let mut plain = Vec::new();
    let _ = auth.tls.reader().read_to_end(&mut plain);
    assert_eq!(t.machine.state(), PortState::Authorized);
}

#[test]
fn tls12_with_small_fragments_both_ways() {
    let p = pki();
    let mut auth = TlsAuthenticator::new(server_config(&p, &[&rustls::version::TLS12]), 100);
    let t = run(supplicant_config(&p, p.ca.clone(), 64), &mut auth);
    assert_eq!(
        events(&t).last(),
        Some(&Event::Authorized {
            method: Some(Method::Tls)
        })
    );
    assert_eq!(
        auth.tls.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_2)
    );
    // Many round trips: each 64-byte fragment of the phone's flights was a Response.
    assert!(t.transmits().len() > 10, "{}", t.transmits().len());
    // The first fragment of a fragmented phone message carries L and M.
    let firsts = t
        .transmits()
        .iter()
        .filter_map(|tx| {
            let e = Eapol::parse(&tx.payload).unwrap();
            match Packet::parse(e.body).ok()? {
                Packet::Response {
                    method: EapType::Tls,
                    data,
                    ..
                } => {
                    let d = TlsData::parse(data).unwrap();
                    d.flags.length_included.then_some(d.flags.more_fragments)
                }
                _ => None,
            }
        })
        .collect::<Vec<_>>();
    assert!(!firsts.is_empty() && firsts.iter().all(|m| *m));
}

#[test]
fn untrusted_server_fails_and_holds() {
    let p = pki();
    let (_, other_ca) = ca("some other CA");
    let mut auth = TlsAuthenticator::new(
        server_config(&p, &[&rustls::version::TLS13, &rustls::version::TLS12]),
        1000,
    );
    let t = run(supplicant_config(&p, other_ca, 1398), &mut auth);
    let ev = events(&t);
    assert!(
        matches!(&ev[1], Event::TlsFailed(TlsError::Handshake(m)) if m.contains("certificate")),
        "{ev:?}"
    );
    assert!(ev.contains(&Event::Failed), "{ev:?}");
    assert_eq!(auth.finished, Some(false));
    assert_eq!(t.machine.state(), PortState::Held);
}

#[test]
fn announced_length_beyond_the_bound_is_refused() {
    let p = pki();
    let mut auth = TlsAuthenticator::new(server_config(&p, &[&rustls::version::TLS13]), 500);
    auth.lie_about_length = Some(10_000_000);
    let t = run(supplicant_config(&p, p.ca.clone(), 1398), &mut auth);
    assert!(
        events(&t).contains(&Event::TlsFailed(TlsError::Fragmentation(
            "announced message too long"
        ))),
        "{:?}",
        events(&t)
    );
    assert_ne!(t.machine.state(), PortState::Authorized);
}

#[test]
fn success_in_the_middle_of_the_handshake_is_not_believed() {
    let p = pki();
    let mut auth = TlsAuthenticator::new(server_config(&p, &[&rustls::version::TLS13]), 1000);
    auth.early_success = true;
    let t = run(supplicant_config(&p, p.ca.clone(), 1398), &mut auth);
    assert_eq!(
        events(&t),
        [Event::Authenticating {
            method: Method::Tls
        }]
    );
    assert_eq!(t.machine.state(), PortState::Authenticating);
    assert!(t.machine.dropped() >= 1);
}

/// DOT1XEAPTLSONLYWITHCERT 0 without a client certificate: TLS runs with no client
/// certificate, and the server that requires one refuses it.
#[test]
fn without_certificate_only_when_allowed() {
    let p = pki();
    let mut cfg = supplicant_config(&p, p.ca.clone(), 1398);
    if let Some(t) = cfg.tls.as_mut() {
        t.certificate_chain.clear();
        t.private_key.clear();
    }
    cfg.tls_only_with_cert = false;
    let mut auth = TlsAuthenticator::new(server_config(&p, &[&rustls::version::TLS13]), 1000);
    let t = run(cfg, &mut auth);
    assert_eq!(auth.finished, Some(false));
    assert!(events(&t).contains(&Event::Failed), "{:?}", events(&t));
    assert_eq!(t.machine.state(), PortState::Held);
    // The key never shows in Debug.
    let dbg = format!("{:?}", t.machine);
    assert!(dbg.contains("private_key: \"..\""), "{dbg}");
}
