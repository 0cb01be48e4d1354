//! The SCEP phase (scep.md, Decision 7): the enrollment from the settings, the `SCEP: s secs`
//! title while the boot waits (MYCERTWAIT=1), the issued identity into the record; with
//! MYCERTWAIT=0 the enrollment goes on in the background while SIP starts.

use alloc::string::ToString;
use alloc::vec::Vec;

use phone_scep::der::Encode as _;
use phone_scep::machine::KeySource;
use rand_core::{CryptoRng, SeedableRng};

use super::display::Screen;
use super::record::Identity;
use super::warning::Warning;
use super::{Boot, Event, Stage, Step};

/// The enrollment, owned by the boot while it runs.
pub(super) struct ScepPhase<R> {
    pub(super) enrollment: phone_scep::Enrollment<R>,
}

impl<R: CryptoRng + SeedableRng> Boot<R> {
    /// Starts SCEP when MYCERTURL is set and no identity is held; else goes on to SIP.
    pub(super) fn start_scep(&mut self) {
        let s = &self.settings;
        let url = s.str("MYCERTURL").unwrap_or("").to_string();
        if url.is_empty() || self.record.identity.is_some() {
            self.scep_over();
            return;
        }
        let mut c = phone_scep::Config::default();
        c.url = url;
        if let Some(v) = s.str("MYCERTCN") {
            c.cn = v.into();
        }
        if let Some(v) = s.str("MYCERTDN") {
            c.dn = v.into();
        }
        if let Some(v) = s.str("MYCERTCAID") {
            c.ca_ident = v.into();
        }
        if let Some(v) = s.int("MYCERTKEYLEN").and_then(|v| usize::try_from(v).ok()) {
            c.key_bits = v;
        }
        c.wait = s.flag("MYCERTWAIT").unwrap_or(true);
        if let Some(v) = s.str("SCEPPASSWORD") {
            c.challenge = v.into();
        }
        if let Some(v) = s.str("HTTPPROXY") {
            c.http_proxy = v.into();
        }
        if let Some(v) = s.str("HTTPEXCEPTIONDOMAINS") {
            c.exception_domains = v.into();
        }
        c.check_identity = s.flag("TLSSRVRID").unwrap_or(true);
        c.subst.serial_no = self.config.files.serial.clone();
        c.subst.mac_addr = phone_settings::subst::mac_hex(self.config.files.mac, false);
        let wait = c.wait;
        let unix = self.config.unix_at_zero + self.now.since_origin();
        match phone_scep::Enrollment::new(
            c,
            KeySource::Generate,
            None,
            self.rng.fork(),
            self.now,
            unix,
        ) {
            Ok(enrollment) => {
                self.scep = Some(ScepPhase { enrollment });
                if wait {
                    self.step = Step::Scep;
                } else {
                    // MYCERTWAIT=0: polling goes on in the background (Decision 7).
                    self.scep_over();
                }
            }
            Err(e) => {
                self.warn(Warning::ScepStart(e));
                self.scep_over();
            }
        }
    }

    /// The boot goes on past SCEP.
    fn scep_over(&mut self) {
        self.reach(Stage::Certificate);
        self.start_sip();
    }

    pub(super) fn on_scep_event(&mut self, e: phone_scep::Event) {
        use phone_scep::Event as S;
        match e {
            S::Display(t) if self.step == Step::Scep => {
                self.display(Screen::Scep { secs: t.secs });
            }
            S::Issued(enrolled) => {
                self.store_identity(&enrolled);
                self.scep_ended();
            }
            S::Rejected(fi) => {
                self.warn(Warning::ScepRejected(fi));
                self.scep_ended();
            }
            S::Failed(err) => {
                self.warn(Warning::ScepFailed(err));
                self.scep_ended();
            }
            S::Retry {
                operation,
                retry,
                error,
                ..
            } => self.warn(Warning::ScepRetry {
                operation,
                retry,
                error,
            }),
            // BootMayContinue: the end of the enrollment says so too; Caps, NextCaCerts and
            // Pending are notices the boot does not act on.
            _ => {}
        }
    }

    fn scep_ended(&mut self) {
        self.scep = None;
        if self.step == Step::Scep {
            self.scep_over();
        }
    }

    fn store_identity(&mut self, enrolled: &phone_scep::machine::Enrolled) {
        let key = self
            .scep
            .as_ref()
            .and_then(|m| m.enrollment.software_key())
            .and_then(|k| k.to_pkcs8_der().ok());
        let cert = enrolled.certificate.to_der().ok();
        let mut ca: Vec<Vec<u8>> = Vec::new();
        let first = enrolled.ca.ca_cert();
        for c in core::iter::once(first).chain(enrolled.ca.certs.iter()) {
            if let Ok(d) = c.to_der()
                && !ca.contains(&d)
            {
                ca.push(d);
            }
        }
        match (key, cert) {
            (Some(key_pkcs8), Some(certificate)) => {
                self.record.identity = Some(Identity {
                    key_pkcs8,
                    certificate,
                    ca,
                });
                self.event(Event::RecordChanged);
            }
            _ => self.warn(Warning::IdentityNotStored),
        }
    }
}
