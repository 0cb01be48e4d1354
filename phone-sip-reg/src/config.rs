//! Configuration of the registration machine, with the spec's defaults (spec/sip.md §1).

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::time::Duration;

use crate::controller::{Controller, ControllerError, parse_controller_list};

/// SIPREGPROXYPOLICY.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProxyPolicy {
    /// One registration, with the highest-priority available controller.
    Alternate,
    /// Registrations with up to SIMULTANEOUS_REGISTRATIONS available controllers.
    Simultaneous,
}

/// FAILBACK_POLICY.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailbackPolicy {
    /// The highest-priority available controller is always the active one.
    Auto,
    /// A lower-priority active controller stays active.
    Admin,
}

/// Everything the machine needs to register. Build with [`Config::default`] and set fields, or
/// apply settings by name with [`Config::apply_setting`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Config {
    /// The configured controllers, in priority order (already merged per Decision 6).
    pub controllers: Vec<Controller>,
    /// SIPDOMAIN: Request-URI `sip:<domain>`, AOR `sip:<user>@<domain>`. Empty = the host of
    /// each controller.
    pub domain: String,
    /// The extension or SM handle (AOR user part; FORCE_SIP_EXTENSION).
    pub user: String,
    /// The authorisation user name when it differs from `user` (FORCE_SIP_USERNAME,
    /// SIPUSERIDENABLED).
    pub auth_user: Option<String>,
    /// The password; `None` = ask when challenged.
    pub password: Option<String>,
    /// FORCE_SIP_* credentials are in use: never prompt, a rejection is a failure.
    pub credentials_forced: bool,
    /// The phone's address for Via and Contact.
    pub local_host: String,
    /// The phone's SIP port for Via and Contact.
    pub local_port: u16,
    /// REGISTERWAIT, seconds: the Expires asked for (30–86400; 900).
    pub register_wait: u32,
    /// WAIT_FOR_REGISTRATION_TIMER: how long a REGISTER may go unanswered (Timer F; 4–3600; 32).
    pub wait_for_registration: Duration,
    /// RECOVERYREGISTERWAIT, seconds: when no controller answers, retry after 50–90 % of it.
    pub recovery_register_wait: u32,
    /// SIPREGPROXYPOLICY.
    pub proxy_policy: ProxyPolicy,
    /// SIMULTANEOUS_REGISTRATIONS (1–3; 3).
    pub simultaneous_registrations: u8,
    /// FAILBACK_POLICY.
    pub failback: FailbackPolicy,
    /// RFC 3261 T1 (500 ms): the first UDP retransmission interval.
    pub t1: Duration,
    /// RFC 3261 T2 (4 s): the cap of the UDP retransmission interval.
    pub t2: Duration,
    /// Refresh at this fraction of the granted expiry, lower bound, per mille.
    pub refresh_min_permille: u16,
    /// Refresh at this fraction of the granted expiry, upper bound, per mille.
    pub refresh_max_permille: u16,
    /// Most 3xx redirects followed per registration attempt.
    pub max_redirects: u8,
    /// Most challenges answered per registration attempt.
    pub max_auth_rounds: u8,
    /// User-Agent header, if any.
    pub user_agent: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            controllers: Vec::new(),
            domain: String::new(),
            user: String::new(),
            auth_user: None,
            password: None,
            credentials_forced: false,
            local_host: "0.0.0.0".to_string(),
            local_port: 5060,
            register_wait: 900,
            wait_for_registration: Duration::from_secs(32),
            recovery_register_wait: 60,
            proxy_policy: ProxyPolicy::Alternate,
            simultaneous_registrations: 3,
            failback: FailbackPolicy::Auto,
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            refresh_min_permille: 600,
            refresh_max_permille: 900,
            max_redirects: 3,
            max_auth_rounds: 4,
            user_agent: None,
        }
    }
}

/// Why [`Config::apply_setting`] refused a value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SettingError {
    /// The name is not a SIP registration parameter.
    #[error("unknown SIP parameter {0}")]
    Unknown(String),
    /// The value is out of range or malformed for this parameter.
    #[error("bad value for {0}")]
    Value(&'static str),
    /// The controller list is malformed.
    #[error(transparent)]
    Controllers(#[from] ControllerError),
}

fn ranged(v: &str, lo: u32, hi: u32, name: &'static str) -> Result<u32, SettingError> {
    let n: u32 = v.trim().parse().map_err(|_| SettingError::Value(name))?;
    if (lo..=hi).contains(&n) {
        Ok(n)
    } else {
        Err(SettingError::Value(name))
    }
}

impl Config {
    /// Apply one parameter by its vendor name (spec/sip.md §1). Names compare case-insensitively.
    ///
    /// # Errors
    /// [`SettingError`]; the configuration is unchanged then.
    pub fn apply_setting(&mut self, name: &str, value: &str) -> Result<(), SettingError> {
        let n = name.to_ascii_uppercase();
        match n.as_str() {
            "SIP_CONTROLLER_LIST" => self.controllers = parse_controller_list(value)?,
            "SIPDOMAIN" => {
                // A host (RFC 3261 §25.1: hostname, IPv4 address or IPv6 reference): it is
                // written into the Request-URI, From and To, so nothing else may pass.
                let host_char = |c: char| c.is_ascii_alphanumeric() || ".-[]:".contains(c);
                if value.len() > 255 || !value.chars().all(host_char) {
                    return Err(SettingError::Value("SIPDOMAIN"));
                }
                self.domain = value.to_string();
            }
            "SIPREGPROXYPOLICY" => {
                self.proxy_policy = if value.eq_ignore_ascii_case("alternate") {
                    ProxyPolicy::Alternate
                } else if value.eq_ignore_ascii_case("simultaneous") {
                    ProxyPolicy::Simultaneous
                } else {
                    return Err(SettingError::Value("SIPREGPROXYPOLICY"));
                };
            }
            "SIMULTANEOUS_REGISTRATIONS" => {
                self.simultaneous_registrations =
                    u8::try_from(ranged(value, 1, 3, "SIMULTANEOUS_REGISTRATIONS")?)
                        .map_err(|_| SettingError::Value("SIMULTANEOUS_REGISTRATIONS"))?;
            }
            "FAILBACK_POLICY" => {
                self.failback = if value.eq_ignore_ascii_case("auto") {
                    FailbackPolicy::Auto
                } else if value.eq_ignore_ascii_case("admin") {
                    FailbackPolicy::Admin
                } else {
                    return Err(SettingError::Value("FAILBACK_POLICY"));
                };
            }
            "REGISTERWAIT" => self.register_wait = ranged(value, 30, 86_400, "REGISTERWAIT")?,
            "WAIT_FOR_REGISTRATION_TIMER" => {
                self.wait_for_registration = Duration::from_secs(u64::from(ranged(
                    value,
                    4,
                    3600,
                    "WAIT_FOR_REGISTRATION_TIMER",
                )?));
            }
            "RECOVERYREGISTERWAIT" => {
                self.recovery_register_wait = ranged(value, 10, 36_000, "RECOVERYREGISTERWAIT")?;
            }
            "FORCE_SIP_USERNAME" | "FORCE_SIP_EXTENSION" | "FORCE_SIP_PASSWORD"
                if value.chars().any(crate::digest::is_control) =>
            {
                // Never copied raw into a header (the user part is escaped, the writer
                // neutralises the rest), but a control character is no credential either.
                return Err(SettingError::Value(match n.as_str() {
                    "FORCE_SIP_USERNAME" => "FORCE_SIP_USERNAME",
                    "FORCE_SIP_EXTENSION" => "FORCE_SIP_EXTENSION",
                    _ => "FORCE_SIP_PASSWORD",
                }));
            }
            "FORCE_SIP_USERNAME" => {
                if !value.is_empty() {
                    self.auth_user = Some(value.to_string());
                    self.credentials_forced = true;
                }
            }
            "FORCE_SIP_EXTENSION" => {
                if !value.is_empty() {
                    self.user = value.to_string();
                    self.credentials_forced = true;
                }
            }
            "FORCE_SIP_PASSWORD" => {
                if !value.is_empty() {
                    self.password = Some(value.to_string());
                    self.credentials_forced = true;
                }
            }
            _ => return Err(SettingError::Unknown(name.to_string())),
        }
        Ok(())
    }

    /// How many registrations to hold: 1 for `alternate`, else SIMULTANEOUS_REGISTRATIONS.
    #[must_use]
    pub fn wanted_registrations(&self) -> usize {
        match self.proxy_policy {
            ProxyPolicy::Alternate => 1,
            ProxyPolicy::Simultaneous => usize::from(self.simultaneous_registrations.clamp(1, 3)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_by_name() {
        let mut c = Config::default();
        c.apply_setting("registerwait", "60").expect("in range");
        assert_eq!(c.register_wait, 60);
        assert_eq!(
            c.apply_setting("REGISTERWAIT", "29"),
            Err(SettingError::Value("REGISTERWAIT"))
        );
        assert_eq!(c.register_wait, 60);
        c.apply_setting("SIPREGPROXYPOLICY", "simultaneous")
            .expect("valid");
        c.apply_setting("SIMULTANEOUS_REGISTRATIONS", "2")
            .expect("valid");
        assert_eq!(c.wanted_registrations(), 2);
        c.apply_setting("FORCE_SIP_PASSWORD", "pw").expect("valid");
        assert!(c.credentials_forced);
        assert!(matches!(
            c.apply_setting("NOPE", "1"),
            Err(SettingError::Unknown(_))
        ));
        // Values that end up in headers: no line breaks, no URI-breaking characters.
        for bad in ["lab.test\r\nX: y", "lab test", "a@b", "<lab>", "lab;x=1"] {
            assert_eq!(
                c.apply_setting("SIPDOMAIN", bad),
                Err(SettingError::Value("SIPDOMAIN")),
                "{bad:?}"
            );
        }
        c.apply_setting("SIPDOMAIN", "[2001:db8::1]")
            .expect("IPv6 reference");
        assert_eq!(
            c.apply_setting("FORCE_SIP_EXTENSION", "1001\r\nVia: x"),
            Err(SettingError::Value("FORCE_SIP_EXTENSION"))
        );
    }
}
