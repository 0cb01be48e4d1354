//! The SCEP phase (scep.md, Decision 7): the enrollment from the settings, the `SCEP: s secs`
//! title while the boot waits (MYCERTWAIT=1), the issued identity into the record; with
//! MYCERTWAIT=0 the enrollment goes on in the background while SIP starts.
//!
//! Renewal (scep.md §7): a boot whose stored certificate has passed MYCERTRENEW % of its
//! validity (`notBefore + MYCERTRENEW/100 × (notAfter − notBefore)`, on the wall clock
//! [`super::BootConfig::unix_at_zero`]) enrolls again in the background, whatever MYCERTWAIT
//! says: a new key, the request signed with the current certificate and key (RenewalReq) when
//! the CA's GetCACaps lists `Renewal`, else a PKCSReq (phone-scep decides). The current
//! identity stays in the record, and in use, until the new certificate is issued; a renewal
//! that fails or is rejected leaves it as it is (the next boot tries again). A stored
//! certificate that has expired, or does not parse, is no identity to renew with: the phone
//! enrolls as on a first boot (MYCERTWAIT applies), and keeps the old one until then.

use alloc::string::ToString;
use alloc::vec::Vec;

use alloc::boxed::Box;
use core::time::Duration;

use phone_scep::der::{Decode as _, Encode as _};
use phone_scep::machine::{Existing, KeySource, renewal_due};
use phone_scep::x509_cert::Certificate;
use rand_core::{CryptoRng, SeedableRng};

use super::display::Screen;
use super::record::Identity;
use super::warning::Warning;
use super::{Boot, Event, Stage, Step};

/// The enrollment, owned by the boot while it runs.
pub(super) struct ScepPhase<R> {
    pub(super) enrollment: phone_scep::Enrollment<R>,
}

/// MYCERTRENEW's default (scep.md §2).
const DEFAULT_RENEW_PERCENT: u8 = 90;

/// What the stored identity is worth at wall-clock `unix_now`.
enum Held {
    /// Within its validity and not due for renewal: nothing to do.
    Current,
    /// Within its validity and past MYCERTRENEW %: renew with it.
    Due(Box<Existing>),
    /// Expired, or it does not parse (certificate or key): enroll anew.
    Unusable,
}

fn held(id: &Identity, percent: u8, unix_now: Duration) -> Held {
    let Ok(certificate) = Certificate::from_der(&id.certificate) else {
        return Held::Unusable;
    };
    let v = certificate.tbs_certificate().validity();
    if unix_now >= v.not_after.to_unix_duration() {
        return Held::Unusable;
    }
    if !renewal_due(&certificate, percent, unix_now) {
        return Held::Current;
    }
    match phone_scep::SoftwareKey::from_pkcs8_der(&id.key_pkcs8) {
        Ok(key) => Held::Due(Box::new(Existing {
            certificate,
            key: Box::new(key),
        })),
        Err(_) => Held::Unusable,
    }
}

impl<R: CryptoRng + SeedableRng> Boot<R> {
    /// Starts SCEP when MYCERTURL is set and no usable identity is held, or renewal in the
    /// background when the one held is due (module docs); else goes on to SIP.
    pub(super) fn start_scep(&mut self) {
        let s = &self.settings;
        let url = s.str("MYCERTURL").unwrap_or("").to_string();
        if url.is_empty() {
            self.scep_over();
            return;
        }
        let renew_percent = s
            .int("MYCERTRENEW")
            .and_then(|v| u8::try_from(v).ok())
            .filter(|v| (1..=99).contains(v))
            .unwrap_or(DEFAULT_RENEW_PERCENT);
        let unix = self.unix_now();
        let existing = match self
            .record
            .identity
            .as_ref()
            .map(|id| held(id, renew_percent, unix))
        {
            None | Some(Held::Unusable) => None,
            Some(Held::Current) => {
                self.scep_over();
                return;
            }
            Some(Held::Due(e)) => Some(*e),
        };
        let renewal = existing.is_some();
        let s = &self.settings;
        let mut c = phone_scep::Config::default();
        c.url = url;
        c.renew_percent = renew_percent;
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
        // A renewal never blocks the boot (scep.md §7).
        let wait = c.wait && !renewal;
        match phone_scep::Enrollment::new(
            c,
            KeySource::Generate,
            existing,
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

#[cfg(test)]
mod tests {
    use super::*;
    use phone_scep::request::{
        SELF_SIGNED_LIFETIME, Substitutions, self_signed_cert, subject_name,
    };

    /// A certificate valid from `t0 − 1 h` to `t0 + 7 days`, and its key.
    fn identity(t0: Duration) -> Identity {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(3);
        let key = phone_scep::SoftwareKey::generate(&mut rng, 1024).unwrap();
        let subject = subject_name("/O=Lab", "phone", &Substitutions::default()).unwrap();
        let cert = self_signed_cert(subject, &key, &[1; 8], t0).unwrap();
        Identity {
            key_pkcs8: key.to_pkcs8_der().unwrap(),
            certificate: cert.to_der().unwrap(),
            ca: Vec::new(),
        }
    }

    #[test]
    fn renewal_is_due_after_mycertrenew_percent_of_the_validity() {
        let t0 = Duration::from_secs(1_800_000_000);
        let id = identity(t0);
        let start = t0 - Duration::from_secs(3600);
        let life = SELF_SIGNED_LIFETIME + Duration::from_secs(3600);
        let at = |pct: u32| start + life * pct / 100;
        assert!(matches!(held(&id, 90, t0), Held::Current));
        assert!(matches!(
            held(&id, 90, at(90) - Duration::from_secs(1)),
            Held::Current
        ));
        assert!(matches!(held(&id, 90, at(90)), Held::Due(_)));
        assert!(matches!(held(&id, 1, at(2)), Held::Due(_)));
        assert!(matches!(held(&id, 50, at(40)), Held::Current));
        // Expired: no identity to renew with.
        assert!(matches!(held(&id, 90, start + life), Held::Unusable));
        // Due, but the key does not parse; or the certificate does not.
        let mut bad_key = id.clone();
        bad_key.key_pkcs8 = vec![0x30, 0];
        assert!(matches!(held(&bad_key, 90, at(95)), Held::Unusable));
        let mut bad_cert = id;
        bad_cert.certificate = vec![0x30, 0];
        assert!(matches!(held(&bad_cert, 90, t0), Held::Unusable));
    }
}
