//! The arguments every subcommand shares, parsed once with one syntax (issue 11): a MAC, a
//! `--set NAME=VALUE`, a `--trust CA.pem`, an `--iface`, and the state directory.
//!
//! Each value has a clap `value_parser`, so a bad value is refused by clap with the flag's name
//! before any subcommand runs, and every subcommand reads the same typed value. The groups are
//! `#[derive(clap::Args)]` structs a subcommand flattens (`#[command(flatten)]`).
//!
//! MAC rule (one for every subcommand): six two-digit hex octets separated all by `:` or all by
//! `-` (`00:1b:4f:aa:bb:cc`, `00-1B-4F-AA-BB-CC`), or 12 bare hex digits (`001b4faabbcc`), in
//! either case. Nothing else: no `.` groups, no single-digit octets, no mixed separators, no
//! spaces (the old `phone dhcp` accepted `0:1b:...`, `phone boot` accepted any junk around 12
//! hex digits). Printed as `00:1b:4f:aa:bb:cc`.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;

/// A MAC address (the phone's MACADDR).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Mac(pub [u8; 6]);

/// Why a MAC did not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadMac(String);

impl fmt::Display for BadMac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} is not a MAC: give aa:bb:cc:dd:ee:ff, aa-bb-cc-dd-ee-ff or aabbccddeeff",
            self.0
        )
    }
}

impl std::error::Error for BadMac {}

impl Mac {
    /// The octets.
    #[must_use]
    pub fn octets(self) -> [u8; 6] {
        self.0
    }

    /// The MAC of a network interface (`/sys/class/net/IFACE/address`).
    ///
    /// # Errors
    /// The interface does not exist or its address does not parse.
    pub fn of_interface(iface: &Iface) -> anyhow::Result<Mac> {
        let path = format!("/sys/class/net/{}/address", iface.name());
        let text = std::fs::read_to_string(&path)
            .map_err(|e| anyhow::anyhow!("interface {}: {e}", iface.name()))?;
        Ok(text.trim().parse()?)
    }
}

impl FromStr for Mac {
    type Err = BadMac;

    fn from_str(s: &str) -> Result<Mac, BadMac> {
        let bad = || BadMac(s.to_string());
        let octet = |p: &str| {
            if p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()) {
                u8::from_str_radix(p, 16).ok()
            } else {
                None
            }
        };
        let mut mac = [0u8; 6];
        if s.len() == 12 {
            for (i, m) in mac.iter_mut().enumerate() {
                *m = s.get(2 * i..2 * i + 2).and_then(octet).ok_or_else(bad)?;
            }
            return Ok(Mac(mac));
        }
        let sep = if s.contains(':') { ':' } else { '-' };
        let parts: Vec<&str> = s.split(sep).collect();
        if parts.len() != 6 {
            return Err(bad());
        }
        for (m, p) in mac.iter_mut().zip(parts) {
            *m = octet(p).ok_or_else(bad)?;
        }
        Ok(Mac(mac))
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

impl fmt::Debug for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Mac({self})")
    }
}

/// One `--set NAME=VALUE`: a phone parameter as the network or a settings file would give it.
///
/// The name is trimmed and upper-cased (parameter names are upper case, spec §5); the value is
/// kept byte for byte (a SET value may carry spaces and quotes, the subcommand decides).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Set {
    /// The parameter's name, upper case.
    pub name: String,
    /// The value as given.
    pub value: String,
}

impl FromStr for Set {
    type Err = String;

    fn from_str(s: &str) -> Result<Set, String> {
        let (name, value) = s
            .split_once('=')
            .ok_or_else(|| format!("{s:?}: expected NAME=VALUE"))?;
        let name = name.trim();
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(format!(
                "{s:?}: the name must be letters, digits and _ (e.g. HTTPSRVR=10.0.0.5)"
            ));
        }
        Ok(Set {
            name: name.to_ascii_uppercase(),
            value: value.to_string(),
        })
    }
}

impl fmt::Display for Set {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.name, self.value)
    }
}

/// One `--trust CA.pem`: a PEM file read and checked once, at parse time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustFile {
    /// Where it was read from.
    pub path: PathBuf,
    /// The file's bytes (one or more PEM certificates), as kept in the state directory.
    pub pem: Vec<u8>,
    /// The certificates it holds (at least one).
    pub certs: Vec<CertificateDer<'static>>,
}

impl TrustFile {
    /// Reads `path` and keeps it when it holds at least one PEM certificate.
    ///
    /// # Errors
    /// The file cannot be read, or holds no PEM certificate.
    pub fn read(path: &std::path::Path) -> Result<TrustFile, String> {
        let pem = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        TrustFile::from_pem(path.to_path_buf(), pem)
    }

    /// Checks PEM bytes read from `path`.
    ///
    /// # Errors
    /// No PEM certificate in `pem`, or a damaged one.
    pub fn from_pem(path: PathBuf, pem: Vec<u8>) -> Result<TrustFile, String> {
        let certs = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("{}: {e}", path.display()))?;
        if certs.is_empty() {
            return Err(format!("{}: no PEM certificate", path.display()));
        }
        Ok(TrustFile { path, pem, certs })
    }
}

/// The clap value parser of `--trust`.
fn parse_trust(s: &str) -> Result<TrustFile, String> {
    TrustFile::read(std::path::Path::new(s))
}

/// A network interface name (`--iface`), checked like the kernel does (1–15 bytes, no `/`, no
/// white space, not `.` or `..`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Iface(String);

impl Iface {
    /// The name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.0
    }

    /// The interface of VLAN `vid` on this one, as the lab and `ip link add ... type vlan` name
    /// it: `IFACE.VID`.
    #[must_use]
    pub fn vlan(&self, vid: u16) -> Iface {
        Iface(format!("{}.{vid}", self.0))
    }
}

impl FromStr for Iface {
    type Err = String;

    fn from_str(s: &str) -> Result<Iface, String> {
        // IFNAMSIZ is 16 with the NUL (linux/if.h); dev_valid_name() refuses these.
        let ok = !s.is_empty()
            && s.len() < 16
            && s != "."
            && s != ".."
            && !s
                .bytes()
                .any(|b| b == b'/' || b == b':' || b.is_ascii_whitespace());
        if ok {
            Ok(Iface(s.to_string()))
        } else {
            Err(format!("{s:?} is not an interface name"))
        }
    }
}

impl fmt::Display for Iface {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `--mac` (required) and `--serial`: who the phone is.
#[derive(clap::Args, Debug, Clone)]
pub struct IdentityArgs {
    /// MAC address: aa:bb:cc:dd:ee:ff (also aa-bb-cc-dd-ee-ff or aabbccddeeff).
    #[arg(long, value_parser = clap::value_parser!(Mac))]
    pub mac: Mac,
    /// SERIALNO.
    #[arg(long, default_value = "SN0000000001")]
    pub serial: String,
}

/// `--iface`: the interface the phone is plugged into.
#[derive(clap::Args, Debug, Clone)]
pub struct IfaceArgs {
    /// The network interface (DHCP, ARP and everything else go out of it).
    #[arg(long, value_parser = clap::value_parser!(Iface))]
    pub iface: Iface,
}

/// `--set NAME=VALUE` (repeatable).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct SetArgs {
    /// A parameter as the network or a settings file would give it (repeatable),
    /// e.g. HTTPSRVR=10.0.0.5.
    #[arg(long = "set", value_name = "NAME=VALUE", value_parser = clap::value_parser!(Set))]
    pub sets: Vec<Set>,
}

/// `--trust CA.pem` (repeatable).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct TrustArgs {
    /// A PEM trust anchor for HTTPS and TLS (repeatable; kept in the state directory).
    #[arg(long = "trust", value_name = "CA.pem", value_parser = parse_trust)]
    pub trust: Vec<TrustFile>,
}

/// `--state-dir`: the phone's non-volatile memory.
#[derive(clap::Args, Debug, Clone)]
pub struct StateArgs {
    /// The phone's non-volatile state (created if missing); `phone files` and `phone boot`
    /// share its layout.
    #[arg(long)]
    pub state_dir: PathBuf,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser, Debug)]
    struct Cli {
        #[command(flatten)]
        id: IdentityArgs,
        #[command(flatten)]
        iface: IfaceArgs,
        #[command(flatten)]
        sets: SetArgs,
        #[command(flatten)]
        trust: TrustArgs,
    }

    #[test]
    fn mac_one_rule() {
        let want = Mac([0x00, 0x1b, 0x4f, 0xaa, 0xbb, 0xcc]);
        for ok in [
            "00:1b:4f:aa:bb:cc",
            "00:1B:4F:AA:BB:CC",
            "00-1b-4f-aa-bb-cc",
            "001b4faabbcc",
            "001B4FAABBCC",
        ] {
            assert_eq!(ok.parse::<Mac>(), Ok(want), "{ok}");
        }
        for bad in [
            "",
            "0:1b:4f:aa:bb:cc",
            "00:1b:4f:aa:bb",
            "00:1b:4f:aa:bb:cc:dd",
            "00:1b-4f:aa:bb:cc",
            "00.1b.4f.aa.bb.cc",
            "001b.4faa.bbcc",
            " 00:1b:4f:aa:bb:cc",
            "00:1b:4f:aa:bb:cc\n",
            "001b4faabbc",
            "001b4faabbccd",
            "00:1b:4f:aa:bb:+c",
            "0g1b4faabbcc",
            "00::1b:4f:aa:bb",
            "é01b4faabbc",
        ] {
            assert!(bad.parse::<Mac>().is_err(), "{bad:?} accepted");
        }
        assert_eq!(want.to_string(), "00:1b:4f:aa:bb:cc");
        assert_eq!(want.to_string().parse::<Mac>(), Ok(want));
    }

    #[test]
    fn set_name_value() {
        let s: Set = " httpsrvr =10.0.0.5".parse().unwrap();
        assert_eq!(s.name, "HTTPSRVR");
        assert_eq!(s.value, "10.0.0.5");
        let s: Set = "SIPDOMAIN=".parse().unwrap();
        assert_eq!(s.value, "");
        let s: Set = "MYCERTDN=/C=US/O=Lab = x".parse().unwrap();
        assert_eq!(s.value, "/C=US/O=Lab = x");
        assert!("HTTPSRVR".parse::<Set>().is_err());
        assert!("=1".parse::<Set>().is_err());
        assert!("A B=1".parse::<Set>().is_err());
    }

    #[test]
    fn iface_names() {
        assert!("eth0".parse::<Iface>().is_ok());
        assert!("veth-phone.10".parse::<Iface>().is_ok());
        assert_eq!("eth0".parse::<Iface>().unwrap().vlan(10).name(), "eth0.10");
        for bad in ["", ".", "..", "a/b", "a b", "a:1", "sixteen-chars-xx"] {
            assert!(bad.parse::<Iface>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn clap_parses_once() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        let cert = rcgen::generate_simple_self_signed(vec!["ca.lab".into()]).unwrap();
        std::fs::write(&ca, cert.cert.pem()).unwrap();
        let cli = Cli::try_parse_from([
            "phone",
            "--mac",
            "00-1b-4f-aa-bb-cc",
            "--iface",
            "eth0",
            "--set",
            "TLSSRVR=10.0.0.5",
            "--set",
            "tlssrvr=10.0.0.6",
            "--trust",
            ca.to_str().unwrap(),
        ])
        .unwrap();
        assert_eq!(cli.id.mac.to_string(), "00:1b:4f:aa:bb:cc");
        assert_eq!(cli.iface.iface.name(), "eth0");
        let last = cli.sets.sets.iter().rev().find(|s| s.name == "TLSSRVR");
        assert_eq!(last.map(|s| s.value.as_str()), Some("10.0.0.6"));
        assert_eq!(cli.trust.trust.len(), 1);
        assert_eq!(cli.trust.trust[0].certs.len(), 1);

        let bad_mac = Cli::try_parse_from(["phone", "--mac", "00:1b", "--iface", "eth0"]);
        let msg = bad_mac.unwrap_err().to_string();
        assert!(msg.contains("--mac"), "{msg}");
        let not_pem = dir.path().join("x.pem");
        std::fs::write(&not_pem, "hello").unwrap();
        let bad_trust = Cli::try_parse_from([
            "phone",
            "--mac",
            "001b4faabbcc",
            "--iface",
            "eth0",
            "--trust",
            not_pem.to_str().unwrap(),
        ]);
        let msg = bad_trust.unwrap_err().to_string();
        assert!(msg.contains("no PEM certificate"), "{msg}");
    }
}
