//! Networking policy of the reference phone, in one place (issue 11 item 2): whom TLS trusts,
//! how a server's identity is checked (TLSSRVRID), which identity the phone presents (the SCEP
//! certificate, for SIP over TLS), how sockets are tied to the interface (SO_BINDTODEVICE), how a
//! host name becomes an address, and how the interface gets its address and route.
//!
//! The HTTP proxy rule (HTTPPROXY, HTTPEXCEPTIONDOMAINS, absolute-form for http, CONNECT for
//! https) lives in phone-http's `proxy::route` and is applied by the `HttpClient` machine
//! itself: it asks the driver to connect to the proxy and, after `CONNECT` succeeds, to
//! `StartTls` towards the origin. The driver carries that out ([`crate::driver::HttpAdapter`]);
//! nothing here decides about proxies.
//!
//! Interface configuration runs `ip addr` / `ip route` (iproute2) rather than speaking netlink:
//! it happens once per lease, off the hot path (a few ms), iproute2 is what an admin reads in
//! the lab and what the lab tests check, and the netlink crates either bring an async runtime
//! (rtnetlink on tokio) or are little used. Every command is logged when it fails.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Command, Stdio};
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

use crate::cli::Iface;

/// The crypto provider of every TLS connection of the phone (ring: small, builds with a C
/// compiler only; ../shared/CRATES.md).
#[must_use]
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The trust anchors, gathered from every source the phone has: preinstalled (`--trust`,
/// `trust/` in the state directory), TRUSTCERTS downloaded by the file stage (kept in the
/// record), and the SCEP CA chain.
#[derive(Debug, Clone)]
pub struct Trust {
    roots: RootCertStore,
    /// Certificates found but refused as anchors (damaged, or not a CA webpki accepts).
    rejected: usize,
}

impl Default for Trust {
    fn default() -> Self {
        Trust::new()
    }
}

impl Trust {
    /// No anchors: every TLS connection fails its certificate check.
    #[must_use]
    pub fn new() -> Trust {
        Trust {
            roots: RootCertStore::empty(),
            rejected: 0,
        }
    }

    /// Adds every certificate of a PEM file; returns how many were added.
    pub fn add_pem(&mut self, pem: &[u8]) -> usize {
        let mut added = 0;
        for cert in CertificateDer::pem_slice_iter(pem) {
            match cert.map(|c| self.roots.add(c)) {
                Ok(Ok(())) => added += 1,
                _ => self.rejected += 1,
            }
        }
        added
    }

    /// Adds one DER certificate (the SCEP CA chain is kept as DER); returns whether it was
    /// added.
    pub fn add_der(&mut self, der: &[u8]) -> bool {
        match self.roots.add(CertificateDer::from(der.to_vec())) {
            Ok(()) => true,
            Err(_) => {
                self.rejected += 1;
                false
            }
        }
    }

    /// Adds PEM files (preinstalled anchors, TRUSTCERTS).
    #[must_use]
    pub fn with_pems<'a>(mut self, pems: impl IntoIterator<Item = &'a [u8]>) -> Trust {
        for p in pems {
            self.add_pem(p);
        }
        self
    }

    /// Adds DER certificates (the SCEP CA chain).
    #[must_use]
    pub fn with_ders<'a>(mut self, ders: impl IntoIterator<Item = &'a [u8]>) -> Trust {
        for d in ders {
            self.add_der(d);
        }
        self
    }

    /// How many anchors.
    #[must_use]
    pub fn len(&self) -> usize {
        self.roots.len()
    }

    /// True when there is no anchor.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.roots.is_empty()
    }

    /// Certificates seen but not usable as anchors.
    #[must_use]
    pub fn rejected(&self) -> usize {
        self.rejected
    }
}

/// The identity the phone presents as a TLS client: the SCEP-issued certificate (with the CA
/// chain after it) and its PKCS#8 key.
#[derive(Debug)]
pub struct ClientIdentity {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

impl Clone for ClientIdentity {
    fn clone(&self) -> Self {
        ClientIdentity {
            chain: self.chain.clone(),
            key: self.key.clone_key(),
        }
    }
}

impl ClientIdentity {
    /// From the record's SCEP identity: the certificate (DER), its key (PKCS#8 DER) and the
    /// CA chain (DER), sent after the certificate.
    #[must_use]
    pub fn from_der(certificate: &[u8], key_pkcs8: &[u8], ca: &[Vec<u8>]) -> ClientIdentity {
        let chain = std::iter::once(certificate)
            .chain(ca.iter().map(Vec::as_slice))
            .map(|d| CertificateDer::from(d.to_vec()))
            .collect();
        ClientIdentity {
            chain,
            key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key_pkcs8.to_vec())),
        }
    }
}

/// TLSSRVRID=0 (files.md §1): the server's chain must lead to a trusted anchor and its
/// signatures must verify, but the certificate may name another host. Every check of
/// [`WebPkiServerVerifier`] runs; only its name errors are forgiven.
#[derive(Debug)]
pub struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ChainOnly {
    /// Wraps the standard verifier.
    #[must_use]
    pub fn new(inner: Arc<WebPkiServerVerifier>) -> ChainOnly {
        ChainOnly(inner)
    }
}

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            // webpki checks the chain (and validity, and key usage) before the name, so a
            // name error means everything else passed.
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// The TLS client configurations of one trust state: with and without the server-name check,
/// presenting `identity` when given. Built once per change of trust (a new TRUSTCERTS, a new
/// SCEP certificate), shared by every connection.
#[derive(Debug, Clone)]
pub struct TlsPolicy {
    strict: Arc<ClientConfig>,
    chain_only: Arc<ClientConfig>,
    anchors: usize,
}

impl TlsPolicy {
    /// Builds both configurations.
    ///
    /// # Errors
    /// The client identity's key is unusable.
    pub fn new(
        trust: &Trust,
        identity: Option<ClientIdentity>,
    ) -> Result<TlsPolicy, rustls::Error> {
        let provider = provider();
        let roots = Arc::new(trust.roots.clone());
        let builder = || {
            ClientConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()
        };
        let finish = |b: rustls::ConfigBuilder<ClientConfig, rustls::client::WantsClientCert>| {
            match identity.clone() {
                Some(id) => b.with_client_auth_cert(id.chain, id.key),
                None => Ok(b.with_no_client_auth()),
            }
        };
        let strict = finish(builder()?.with_root_certificates(roots.clone()))?;
        // WebPkiServerVerifier refuses an empty store; without anchors nothing verifies
        // anyway, so the strict configuration serves both.
        let chain_only = if roots.is_empty() {
            strict.clone()
        } else {
            let inner = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
                .build()
                .map_err(|e| rustls::Error::General(e.to_string()))?;
            finish(
                builder()?
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(ChainOnly::new(inner))),
            )?
        };
        Ok(TlsPolicy {
            strict: Arc::new(strict),
            chain_only: Arc::new(chain_only),
            anchors: trust.len(),
        })
    }

    /// The configuration for a connection: `check_identity` is TLSSRVRID (or phone-http's
    /// `Tls::check_identity`).
    #[must_use]
    pub fn config(&self, check_identity: bool) -> Arc<ClientConfig> {
        if check_identity {
            self.strict.clone()
        } else {
            self.chain_only.clone()
        }
    }

    /// How many trust anchors the policy has.
    #[must_use]
    pub fn anchors(&self) -> usize {
        self.anchors
    }
}

/// The TLS server name of a host: its address when it is one (the certificate must then carry
/// it as an iPAddress SAN), its DNS name otherwise.
///
/// # Errors
/// `host` is neither an address nor a valid DNS name.
pub fn server_name(host: &str) -> Result<ServerName<'static>, String> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    match host.parse::<IpAddr>() {
        Ok(ip) => Ok(ServerName::IpAddress(ip.into())),
        Err(_) => ServerName::try_from(host.to_string()).map_err(|e| format!("{host}: {e}")),
    }
}

/// Why a host has no address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResolveError {
    /// Not an address and not in /etc/hosts; names need DNS, which the phone does not speak
    /// yet (phone-dns, DNSSRVR/DOMAIN).
    NoDns(String),
}

impl std::error::Error for ResolveError {}

impl std::fmt::Display for ResolveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ResolveError::NoDns(h) => write!(
                f,
                "{h}: not an address and not in /etc/hosts (the phone has no DNS resolver yet)"
            ),
        }
    }
}

/// The address of `host:port` without blocking: an address literal, or a name from
/// /etc/hosts (a local file). Names that need DNS are refused rather than looked up with the
/// blocking getaddrinfo: the driver never blocks.
///
/// # Errors
/// [`ResolveError::NoDns`].
pub fn resolve(host: &str, port: u16) -> Result<SocketAddr, ResolveError> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    let hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
    hosts_lookup(&hosts, bare)
        .map(|ip| SocketAddr::new(ip, port))
        .ok_or_else(|| ResolveError::NoDns(host.to_string()))
}

/// The first address of `name` in hosts(5) text, IPv4 first.
fn hosts_lookup(hosts: &str, name: &str) -> Option<IpAddr> {
    let mut found: Vec<IpAddr> = hosts
        .lines()
        .map(|l| l.split('#').next().unwrap_or(""))
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            let ip: IpAddr = words.next()?.parse().ok()?;
            words.any(|w| w.eq_ignore_ascii_case(name)).then_some(ip)
        })
        .collect();
    found.sort_by_key(|ip| !ip.is_ipv4());
    found.first().copied()
}

/// The socket options the phone sets on its UDP and TCP sockets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SocketOptions {
    /// SO_BINDTODEVICE: send and receive only on this interface (the phone has one port; in
    /// the lab the host has several).
    pub device: Option<Iface>,
    /// SO_BROADCAST (DHCP before the phone has an address).
    pub broadcast: bool,
    /// SO_REUSEADDR (port 68 shared with a stopped client's socket in TIME_WAIT-like states).
    pub reuse_address: bool,
    /// Bind a connection to this source address before connecting (`phone fleet`: each
    /// phone's own AnyIP address). Not for [`crate::driver::Reactor::udp`], which binds its own
    /// `local` address.
    pub source: Option<std::net::IpAddr>,
}

impl SocketOptions {
    /// Applies the options to a socket not yet bound or connected.
    ///
    /// # Errors
    /// A `setsockopt` failed (SO_BINDTODEVICE needs CAP_NET_RAW).
    pub fn apply(&self, s: &socket2::Socket) -> std::io::Result<()> {
        if self.reuse_address {
            s.set_reuse_address(true)?;
        }
        if self.broadcast {
            s.set_broadcast(true)?;
        }
        if let Some(d) = &self.device {
            s.bind_device(Some(d.name().as_bytes()))
                .map_err(|e| std::io::Error::new(e.kind(), format!("SO_BINDTODEVICE {d}: {e}")))?;
        }
        if let Some(ip) = self.source {
            s.bind(&std::net::SocketAddr::new(ip, 0).into())
                .map_err(|e| std::io::Error::new(e.kind(), format!("bind {ip}: {e}")))?;
        }
        Ok(())
    }
}

/// The prefix length of a contiguous netmask (`255.255.255.0` → 24); `None` for a mask with
/// holes, which no interface can carry.
#[must_use]
pub fn prefix_len(mask: Ipv4Addr) -> Option<u8> {
    let m = u32::from(mask);
    let ones = m.leading_ones();
    (m.checked_shl(ones).unwrap_or(0) == 0).then(|| u8::try_from(ones).unwrap_or(32))
}

/// An address configuration of the interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Config {
    /// The phone's address.
    pub address: Ipv4Addr,
    /// Prefix length.
    pub prefix: u8,
    /// The default router, if any.
    pub router: Option<Ipv4Addr>,
}

/// The phone's network interface: its address and default route, set with iproute2.
#[derive(Debug)]
pub struct Interface {
    iface: Iface,
    /// False with `--no-configure`: the address is managed by someone else, commands are
    /// logged, not run.
    manage: bool,
    configured: Option<Ipv4Config>,
}

impl Interface {
    /// The interface; `manage` false leaves its configuration alone.
    #[must_use]
    pub fn new(iface: Iface, manage: bool) -> Interface {
        Interface {
            iface,
            manage,
            configured: None,
        }
    }

    /// Its name.
    #[must_use]
    pub fn iface(&self) -> &Iface {
        &self.iface
    }

    /// Gives the interface `config` (replacing what this process set before) and brings it up.
    ///
    /// # Errors
    /// `ip addr replace` failed. A failed default route is only logged (the phone still
    /// reaches its own subnet).
    pub fn configure(&mut self, config: Ipv4Config) -> anyhow::Result<()> {
        if self.configured == Some(config) {
            return Ok(());
        }
        if !self.manage {
            tracing::info!(
                "{}: {}/{} (not configured: --no-configure)",
                self.iface,
                config.address,
                config.prefix
            );
            self.configured = Some(config);
            return Ok(());
        }
        if let Some(old) = self.configured.filter(|o| o.address != config.address) {
            let cidr = format!("{}/{}", old.address, old.prefix);
            if let Err(e) = ip(&["addr", "del", &cidr, "dev", self.iface.name()]) {
                tracing::debug!("{e:#}");
            }
        }
        let cidr = format!("{}/{}", config.address, config.prefix);
        ip(&["addr", "replace", &cidr, "dev", self.iface.name()])?;
        ip(&["link", "set", self.iface.name(), "up"])?;
        self.configured = Some(config);
        if let Some(r) = config.router {
            let r = r.to_string();
            if let Err(e) = ip(&[
                "route",
                "replace",
                "default",
                "via",
                &r,
                "dev",
                self.iface.name(),
            ]) {
                tracing::warn!("default route: {e:#}");
            }
        }
        Ok(())
    }

    /// Removes the address this process configured (a lost lease, a conflict, a release).
    pub fn deconfigure(&mut self) {
        let Some(old) = self.configured.take() else {
            return;
        };
        if self.manage {
            let cidr = format!("{}/{}", old.address, old.prefix);
            if let Err(e) = ip(&["addr", "del", &cidr, "dev", self.iface.name()]) {
                tracing::warn!("{e:#}");
            }
        }
    }

    /// Removes every IPv4 address of the interface (power-on: the address goes with the
    /// power).
    pub fn flush(&mut self) {
        self.configured = None;
        if self.manage
            && let Err(e) = ip(&["-4", "addr", "flush", "dev", self.iface.name()])
        {
            tracing::warn!("{e:#}");
        }
    }

    /// The interface for voice VLAN `vid`: `IFACE.VID`, created (`ip link add ... type vlan`)
    /// and brought up when it does not exist yet.
    ///
    /// # Errors
    /// The VLAN interface cannot be created.
    pub fn vlan(&self, vid: u16) -> anyhow::Result<Iface> {
        let v = self.iface.vlan(vid);
        if std::path::Path::new("/sys/class/net")
            .join(v.name())
            .exists()
        {
            return Ok(v);
        }
        let id = vid.to_string();
        ip(&[
            "link",
            "add",
            "link",
            self.iface.name(),
            "name",
            v.name(),
            "type",
            "vlan",
            "id",
            &id,
        ])?;
        ip(&["link", "set", v.name(), "up"])?;
        Ok(v)
    }
}

/// Runs `ip ARGS`, an error with its stderr when it fails.
///
/// # Errors
/// `ip` cannot be run or exits non-zero.
pub fn ip(args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| anyhow::anyhow!("cannot run ip: {e}"))?;
    anyhow::ensure!(
        out.status.success(),
        "`ip {}` failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(())
}

/// Certificates for the TLS tests of this module and the driver's.
#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod test_pki {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

    /// A CA, and a server certificate it issued.
    pub(crate) struct Pki {
        /// The CA certificate (the trust anchor).
        pub(crate) ca_pem: String,
        /// The server's chain.
        pub(crate) chain: Vec<CertificateDer<'static>>,
        /// The server's key.
        pub(crate) key: PrivateKeyDer<'static>,
    }

    impl Pki {
        /// A rustls server presenting the certificate.
        pub(crate) fn server_config(&self) -> std::sync::Arc<rustls::ServerConfig> {
            std::sync::Arc::new(
                rustls::ServerConfig::builder_with_provider(super::provider())
                    .with_safe_default_protocol_versions()
                    .unwrap()
                    .with_no_client_auth()
                    .with_single_cert(self.chain.clone(), self.key.clone_key())
                    .unwrap(),
            )
        }
    }

    /// A CA named `ca_name` and a server certificate it issued for `names`.
    pub(crate) fn pki(ca_name: &str, names: &[&str]) -> Pki {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, ca_name);
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let key = KeyPair::generate().unwrap();
        let params =
            CertificateParams::new(names.iter().map(|s| (*s).to_string()).collect::<Vec<_>>())
                .unwrap();
        let cert = params.signed_by(&key, &issuer).unwrap();
        Pki {
            ca_pem: ca.pem(),
            chain: vec![cert.der().clone()],
            key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::io::{Read as _, Write as _};
    use std::net::{TcpListener, TcpStream};

    use rcgen::{CertificateParams, KeyPair};

    use super::test_pki::{Pki, pki};
    use super::*;

    /// One TLS handshake against a rustls server on loopback presenting `p`'s certificate,
    /// the client asking for `host`. Blocking: a test helper, not the driver.
    fn handshake(p: &Pki, client: Arc<ClientConfig>, host: &str) -> Result<(), rustls::Error> {
        let server_cfg = p.server_config();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut tcp, _) = listener.accept().unwrap();
            let mut conn = rustls::ServerConnection::new(server_cfg).unwrap();
            while conn.is_handshaking() {
                if conn.complete_io(&mut tcp).is_err() {
                    return;
                }
            }
            let mut s = rustls::Stream::new(&mut conn, &mut tcp);
            let _ = s.write_all(b"hi");
        });
        let mut tcp = TcpStream::connect(addr).unwrap();
        let mut conn = rustls::ClientConnection::new(client, server_name(host).unwrap()).unwrap();
        let result = (|| {
            while conn.is_handshaking() {
                conn.complete_io(&mut tcp).map_err(|e| {
                    e.into_inner()
                        .and_then(|i| i.downcast::<rustls::Error>().ok())
                        .map_or(rustls::Error::General("io".into()), |b| *b)
                })?;
            }
            let mut s = rustls::Stream::new(&mut conn, &mut tcp);
            let mut buf = [0u8; 2];
            s.read_exact(&mut buf)
                .map_err(|e| rustls::Error::General(e.to_string()))?;
            assert_eq!(&buf, b"hi");
            Ok(())
        })();
        drop(tcp);
        let _ = server.join();
        result
    }

    #[test]
    fn tlssrvrid_zero_forgives_the_name_only() {
        let good = pki("Lab CA", &["files.lab", "10.0.0.5"]);
        let trust = Trust::new().with_pems([good.ca_pem.as_bytes()]);
        assert_eq!(trust.len(), 1);
        let policy = TlsPolicy::new(&trust, None).unwrap();
        // The right name: both configurations accept.
        handshake(&good, policy.config(true), "files.lab").unwrap();
        handshake(&good, policy.config(false), "files.lab").unwrap();
        handshake(&good, policy.config(true), "10.0.0.5").unwrap();
        // Another name: TLSSRVRID=1 refuses, TLSSRVRID=0 accepts.
        let e = handshake(&good, policy.config(true), "other.lab").unwrap_err();
        assert!(
            matches!(
                e,
                rustls::Error::InvalidCertificate(
                    CertificateError::NotValidForName
                        | CertificateError::NotValidForNameContext { .. }
                )
            ),
            "{e:?}"
        );
        handshake(&good, policy.config(false), "other.lab").unwrap();
        handshake(&good, policy.config(false), "10.9.9.9").unwrap();
        // A chain to an untrusted CA: both refuse, the name being right does not help.
        let stranger = pki("Stranger CA", &["files.lab"]);
        for check in [true, false] {
            let e = handshake(&stranger, policy.config(check), "files.lab").unwrap_err();
            assert!(
                matches!(
                    e,
                    rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)
                ),
                "{e:?}"
            );
        }
        // No anchors at all: nothing verifies.
        let empty = TlsPolicy::new(&Trust::new(), None).unwrap();
        assert_eq!(empty.anchors(), 0);
        assert!(handshake(&good, empty.config(false), "other.lab").is_err());
    }

    #[test]
    fn trust_from_every_source() {
        let a = pki("A", &["a"]);
        let b = pki("B", &["b"]);
        let b_der = CertificateDer::from_pem_slice(b.ca_pem.as_bytes()).unwrap();
        let both = format!("{}{}", a.ca_pem, b.ca_pem);
        let mut t = Trust::new();
        assert_eq!(t.add_pem(both.as_bytes()), 2);
        assert_eq!(t.add_pem(b"not pem"), 0);
        let t = t.with_ders([b_der.as_ref(), b"\x30\x03junk".as_slice()]);
        assert_eq!(t.len(), 3);
        assert_eq!(t.rejected(), 1);
    }

    #[test]
    fn client_identity_builds() {
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec!["phone".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let id = ClientIdentity::from_der(cert.der(), &key.serialize_der(), &[]);
        let trust = Trust::new().with_pems([cert.pem().as_bytes()]);
        TlsPolicy::new(&trust, Some(id)).unwrap();
        let bad = ClientIdentity::from_der(cert.der(), b"not a key", &[]);
        assert!(TlsPolicy::new(&trust, Some(bad)).is_err());
    }

    #[test]
    fn names_and_addresses() {
        assert!(matches!(
            server_name("10.0.0.5").unwrap(),
            ServerName::IpAddress(_)
        ));
        assert!(matches!(
            server_name("files.lab").unwrap(),
            ServerName::DnsName(_)
        ));
        assert!(server_name("bad name").is_err());
        assert_eq!(
            resolve("10.0.0.5", 443).unwrap(),
            "10.0.0.5:443".parse().unwrap()
        );
        assert_eq!(resolve("[::1]", 80).unwrap(), "[::1]:80".parse().unwrap());
        let hosts = "127.0.0.1 localhost\n::1 localhost ip6-localhost\n# 10.0.0.9 files\n10.0.0.5 files.lab files # lab\n";
        assert_eq!(
            hosts_lookup(hosts, "localhost"),
            Some("127.0.0.1".parse().unwrap())
        );
        assert_eq!(
            hosts_lookup(hosts, "FILES"),
            Some("10.0.0.5".parse().unwrap())
        );
        assert_eq!(hosts_lookup(hosts, "files.other"), None);
        assert!(resolve("no-such-host.invalid", 80).is_err());
    }

    #[test]
    fn netmask_prefix() {
        assert_eq!(prefix_len(Ipv4Addr::new(255, 255, 255, 0)), Some(24));
        assert_eq!(prefix_len(Ipv4Addr::new(255, 255, 255, 255)), Some(32));
        assert_eq!(prefix_len(Ipv4Addr::new(0, 0, 0, 0)), Some(0));
        assert_eq!(prefix_len(Ipv4Addr::new(255, 255, 240, 0)), Some(20));
        assert_eq!(prefix_len(Ipv4Addr::new(255, 0, 255, 0)), None);
        assert_eq!(prefix_len(Ipv4Addr::new(0, 255, 255, 255)), None);
    }
}
