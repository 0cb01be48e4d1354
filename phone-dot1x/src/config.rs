//! The supplicant's configuration: a plain struct the boot fills from its settings (link.md §2).
//!
//! | setting | field |
//! |---|---|
//! | DOT1XSTAT 0/1/2 | [`Config::mode`] ([`Mode::Off`], [`Mode::Unicast`], [`Mode::UnicastAndMulticast`]) |
//! | DOT1XEAPS MD5/TLS | [`Config::method`] |
//! | DOT1XEAPTLSONLYWITHCERT | [`Config::tls_only_with_cert`] |
//! | FORCE_DOT1XID, FORCE_DOT1XPSWD (or the stored credentials) | [`Config::identity`], [`Config::password`] through [`substitute`] |
//! | FORCE_DOT1XID_TLS | [`Config::tls_identity`] through [`substitute`] |
//! | the SCEP certificate and key, TRUSTCERTS | [`Config::tls`] |
//!
//! Secrets ([`Secret`], the TLS key) never show in `Debug`.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::time::Duration;

/// The longest identity or password a prompt accepts (link.md §2: 1–31 characters).
pub const MAX_CREDENTIAL_CHARS: usize = 31;

/// A credential: kept, compared and sent, never shown. `Debug` prints `Secret(..)`.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps a credential.
    #[must_use]
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }

    /// The credential itself (to store it or hash it; never to log it).
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// DOT1XSTAT: whether the supplicant runs and which EAPOL it answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// 0: off; the machine sends nothing and ignores every frame.
    #[default]
    Off,
    /// 1: on, answers EAPOL sent to the phone's own MAC only.
    Unicast,
    /// 2: on, answers EAPOL sent to the phone's MAC or to a group address (the PAE group).
    UnicastAndMulticast,
}

impl Mode {
    /// The mode of a DOT1XSTAT value (`None` outside 0–2).
    #[must_use]
    pub fn from_setting(n: u8) -> Option<Mode> {
        match n {
            0 => Some(Mode::Off),
            1 => Some(Mode::Unicast),
            2 => Some(Mode::UnicastAndMulticast),
            _ => None,
        }
    }
}

/// DOT1XEAPS: the EAP method the phone offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Method {
    /// EAP-MD5-Challenge (RFC 3748 §5.4).
    #[default]
    Md5,
    /// EAP-TLS (RFC 5216, RFC 9190).
    Tls,
}

impl Method {
    /// The EAP type number.
    #[must_use]
    pub fn eap_type(self) -> u8 {
        match self {
            Method::Md5 => 4,
            Method::Tls => 13,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Method::Md5 => "MD5",
            Method::Tls => "TLS",
        })
    }
}

/// The IEEE 802.1X-2004 supplicant timers (§8.2.11.1.2) and the restart limit (Decision 14).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timers {
    /// startPeriod: between EAPOL-Starts while no authenticator answers (30 s).
    pub start_period: Duration,
    /// maxStart: EAPOL-Starts before the port is taken as having no authenticator (3).
    pub max_start: u8,
    /// heldPeriod: the wait after an EAP-Failure before trying again (60 s).
    pub held_period: Duration,
    /// authPeriod: the wait for the authenticator's next Request after a Response (30 s).
    pub auth_period: Duration,
}

impl Timers {
    /// The floor under every period: a zero or tiny value would make the machine spin.
    pub const FLOOR: Duration = Duration::from_millis(100);

    /// The timers with every period at least [`Timers::FLOOR`] and `max_start` at least 1.
    #[must_use]
    pub fn floored(self) -> Timers {
        Timers {
            start_period: self.start_period.max(Self::FLOOR),
            max_start: self.max_start.max(1),
            held_period: self.held_period.max(Self::FLOOR),
            auth_period: self.auth_period.max(Self::FLOOR),
        }
    }
}

impl Default for Timers {
    fn default() -> Self {
        Timers {
            start_period: Duration::from_secs(30),
            max_start: 3,
            held_period: Duration::from_secs(60),
            auth_period: Duration::from_secs(30),
        }
    }
}

/// What EAP-TLS needs: the identity certificate and key of an earlier SCEP boot and the
/// certificates the server is verified against.
#[derive(Clone, Default)]
pub struct TlsConfig {
    /// The phone's certificate chain, DER, leaf first (empty: no client certificate).
    pub certificate_chain: Vec<Vec<u8>>,
    /// The private key of the leaf, DER (PKCS#8, PKCS#1 RSA or SEC1 EC).
    pub private_key: Vec<u8>,
    /// Trusted certificates (DER), anchors for the server's chain.
    pub trusted: Vec<Vec<u8>>,
    /// The name the server's certificate must carry; `None`: any name, the chain alone decides
    /// (wpa_supplicant's behaviour without `domain_match`).
    pub server_name: Option<String>,
    /// The wall clock at the caller's `Instant::ZERO`, in seconds since the UNIX epoch: the
    /// time certificates are checked at is this plus the latest input's instant. No machine
    /// reads a clock; the boot passes its best knowledge (a stored time, the firmware's build
    /// time).
    pub unix_time_at_origin: u64,
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig")
            .field("certificate_chain", &self.certificate_chain.len())
            .field("private_key", &"..")
            .field("trusted", &self.trusted.len())
            .field("server_name", &self.server_name)
            .field("unix_time_at_origin", &self.unix_time_at_origin)
            .finish()
    }
}

impl TlsConfig {
    /// Whether a client certificate and its key are present.
    #[must_use]
    pub fn has_identity(&self) -> bool {
        !self.certificate_chain.is_empty() && !self.private_key.is_empty()
    }
}

/// The supplicant's configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// DOT1XSTAT.
    pub mode: Mode,
    /// DOT1XEAPS.
    pub method: Method,
    /// The identity for MD5 (FORCE_DOT1XID or the stored one, substituted); `None`: prompt
    /// `802.1X ID:` when the authenticator asks.
    pub identity: Option<String>,
    /// The MD5 password (FORCE_DOT1XPSWD or the stored one); `None`: prompt
    /// `802.1X Password:` when a challenge comes.
    pub password: Option<Secret>,
    /// The EAP-TLS identity (FORCE_DOT1XID_TLS, substituted; default `$MACADDR`).
    pub tls_identity: String,
    /// The certificates and key for EAP-TLS; `None`: none installed.
    pub tls: Option<TlsConfig>,
    /// DOT1XEAPTLSONLYWITHCERT: EAP-TLS only when an identity certificate and a trusted
    /// certificate are installed (otherwise TLS is refused with a Nak).
    pub tls_only_with_cert: bool,
    /// The 802.1X timers.
    pub timers: Timers,
    /// The largest EAP-TLS fragment sent (TLS data bytes per Response), 64–1486; 1398 like
    /// wpa_supplicant.
    pub tls_fragment_size: u16,
    /// The largest TLS message reassembled from the server's fragments (bytes).
    pub max_tls_message: u32,
}

impl Config {
    /// The defaults of link.md §2 for a phone with this MAC: DOT1XSTAT 0, MD5, no stored
    /// credentials (prompts), TLS identity `$MACADDR`, TLS only with a certificate.
    #[must_use]
    pub fn new(mac: [u8; 6]) -> Config {
        let subst = Substitution {
            mac,
            serial: String::new(),
        };
        Config {
            mode: Mode::Off,
            method: Method::Md5,
            identity: None,
            password: None,
            tls_identity: substitute("$MACADDR", &subst),
            tls: None,
            tls_only_with_cert: true,
            timers: Timers::default(),
            tls_fragment_size: 1398,
            max_tls_message: 64 * 1024,
        }
    }
}

/// The values `$MACADDR`, `$MACADDR_UPPER`, `$SERIALNO` and `$SERIALNO_UPPER` stand for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Substitution {
    /// The phone's MAC.
    pub mac: [u8; 6],
    /// The phone's serial number.
    pub serial: String,
}

/// `template` with `$MACADDR` (12 lower-case hex digits, no separators), `$MACADDR_UPPER`,
/// `$SERIALNO` and `$SERIALNO_UPPER` replaced (FORCE_DOT1XID, FORCE_DOT1XPSWD,
/// FORCE_DOT1XID_TLS). Any other `$` text stays as it is. The longest name matches first.
#[must_use]
pub fn substitute(template: &str, with: &Substitution) -> String {
    use core::fmt::Write as _;
    let mut mac = String::with_capacity(12);
    for b in with.mac {
        let _ = write!(mac, "{b:02x}");
    }
    let table: [(&str, String); 4] = [
        ("$MACADDR_UPPER", mac.to_ascii_uppercase()),
        ("$MACADDR", mac),
        ("$SERIALNO_UPPER", with.serial.to_ascii_uppercase()),
        ("$SERIALNO", with.serial.clone()),
    ];
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let tail = &rest[pos..];
        match table.iter().find(|(name, _)| tail.starts_with(name)) {
            Some((name, value)) => {
                out.push_str(value);
                rest = &tail[name.len()..];
            }
            None => {
                out.push('$');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}
