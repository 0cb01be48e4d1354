//! A/B firmware slots: the boot record, the boot-time slot choice, and the Sans-IO [`Flasher`]
//! (a [`phone_sansio::Machine`] whose transmits are [`FlashOp`]s).
//!
//! The phone has two image slots and one small boot record saying which slot is active and
//! whether it is confirmed. The rules (FIRMWARE.md §3):
//!
//! - An image is written only to the slot that is **not** active, and only once it has been
//!   received whole and verified ([`VerifiedImage`] can only be made by checking the image
//!   against a verified signature header).
//! - The switch is one atomic step: [`FlashOp::Commit`] hands the caller the new boot record to
//!   store atomically (the reference binary writes a temporary file and renames it). Until then
//!   the old record, and so the old slot, stays in force: a power cut at any earlier step
//!   leaves the phone booting its old image.
//! - A freshly committed slot boots on trial ([`SlotState::Trial`]); [`BootRecord::power_on`]
//!   counts trial boots down and falls back to the other slot when they run out or the slot's
//!   content does not match its record. A boot that gets far enough calls
//!   [`BootRecord::confirmed`].

mod flasher;

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::{self, Write as _};

use sha2::{Digest as _, Sha256};

use crate::firmware::{ImageHeader, Rejected};

pub use flasher::{FlashConfig, FlashEvent, FlashOp, Flasher};

/// One of the two image slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Slot {
    /// Slot A.
    A,
    /// Slot B.
    B,
}

impl Slot {
    /// The other slot.
    #[must_use]
    pub fn other(self) -> Slot {
        match self {
            Slot::A => Slot::B,
            Slot::B => Slot::A,
        }
    }

    fn index(self) -> usize {
        match self {
            Slot::A => 0,
            Slot::B => 1,
        }
    }
}

impl fmt::Display for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Slot::A => "A",
            Slot::B => "B",
        })
    }
}

/// The root-file-system / language tar (RFSNAME, files.md §8) a slot holds after its
/// application image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RfsImage {
    /// The RFS name (compared with RFSNAME by the software decision).
    pub name: String,
    /// Its length.
    pub length: u64,
    /// SHA-256 of it.
    pub sha256: [u8; 32],
}

/// What a slot holds, as recorded at commit: the application image, and on 96x1 the RFS
/// written right after it (the slot's content is `application || RFS`). A new application or
/// a new RFS is written as a whole new slot content into the inactive slot, so the A/B rule
/// (the running slot is never written) holds for both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotImage {
    /// The application name (compared with APPNAME by the software decision).
    pub app: String,
    /// Length of the application image (the first bytes of the slot).
    pub length: u64,
    /// SHA-256 of the application image.
    pub sha256: [u8; 32],
    /// The RFS after it, if one was installed with it (boxed: a slot record travels in
    /// [`FlashOp::Commit`], kept small).
    pub rfs: Option<Box<RfsImage>>,
}

fn sha256(content: &[u8]) -> [u8; 32] {
    let mut d = [0u8; 32];
    d.copy_from_slice(&Sha256::digest(content));
    d
}

impl SlotImage {
    /// The record of an image with these contents (no RFS).
    #[must_use]
    pub fn of(app: &str, content: &[u8]) -> Self {
        SlotImage {
            app: app.into(),
            length: content.len() as u64,
            sha256: sha256(content),
            rfs: None,
        }
    }

    /// Whether `content` (what the slot actually holds) is this image, and its RFS after it.
    #[must_use]
    pub fn matches(&self, content: &[u8]) -> bool {
        let rfs_len = self.rfs.as_ref().map_or(0, |r| r.length);
        let Some(total) = self.length.checked_add(rfs_len) else {
            return false;
        };
        if content.len() as u64 != total {
            return false;
        }
        let Ok(split) = usize::try_from(self.length) else {
            return false;
        };
        let (app, rfs) = content.split_at(split);
        sha256(app) == self.sha256 && self.rfs.as_ref().is_none_or(|r| sha256(rfs) == r.sha256)
    }

    /// The RFS name, empty when none is installed.
    #[must_use]
    pub fn rfs_name(&self) -> &str {
        self.rfs.as_ref().map_or("", |r| r.name.as_str())
    }
}

/// Whether the active slot has proven itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotState {
    /// It booted and completed a boot before.
    Confirmed,
    /// Newly committed: this many more boots are allowed before falling back.
    Trial {
        /// Boots left.
        boots_left: u8,
    },
}

/// The boot record: which slot to start, and what each slot holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootRecord {
    /// The slot the boot loader starts.
    pub active: Slot,
    /// Confirmed or on trial.
    pub state: SlotState,
    /// What slots A and B hold.
    pub slots: [Option<SlotImage>; 2],
}

/// No slot holds an image that matches its record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("no bootable firmware slot")]
pub struct NoBootableSlot;

/// The result of [`BootRecord::power_on`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootChoice {
    /// The slot to start.
    pub slot: Slot,
    /// The record to store before starting it (trial count spent, or fallback recorded).
    pub record: BootRecord,
    /// True when the active slot could not be used and the other one was chosen.
    pub fell_back: bool,
}

/// A boot record that does not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("bad boot record at line {line}")]
pub struct BadRecord {
    /// 1-based line.
    pub line: usize,
}

const RECORD_MAGIC: &str = "phone-boot slots v1";

impl BootRecord {
    /// A factory record: slot A confirmed with `image`, slot B empty.
    #[must_use]
    pub fn factory(image: SlotImage) -> Self {
        BootRecord {
            active: Slot::A,
            state: SlotState::Confirmed,
            slots: [Some(image), None],
        }
    }

    /// What `slot` holds.
    #[must_use]
    pub fn slot(&self, slot: Slot) -> Option<&SlotImage> {
        self.slots[slot.index()].as_ref()
    }

    /// The image the active slot holds: the running application.
    #[must_use]
    pub fn running(&self) -> Option<&SlotImage> {
        self.slot(self.active)
    }

    /// The RFS the active slot holds (RFSNAME), empty when none.
    #[must_use]
    pub fn running_rfs(&self) -> &str {
        self.running().map_or("", SlotImage::rfs_name)
    }

    /// The boot loader's choice at power-on. `content_ok(slot)` tells whether the slot's content
    /// matches its record (see [`SlotImage::matches`]).
    ///
    /// # Errors
    /// [`NoBootableSlot`] when neither slot is usable.
    pub fn power_on(
        &self,
        mut content_ok: impl FnMut(Slot, &SlotImage) -> bool,
    ) -> Result<BootChoice, NoBootableSlot> {
        let mut usable = |slot: Slot| self.slot(slot).is_some_and(|img| content_ok(slot, img));
        let active = self.active;
        let active_ok = usable(active);
        let trial_left = match self.state {
            SlotState::Confirmed => None,
            SlotState::Trial { boots_left } => Some(boots_left),
        };
        let keep_active = active_ok && trial_left != Some(0);
        if keep_active {
            let mut record = self.clone();
            if let Some(left) = trial_left {
                record.state = SlotState::Trial {
                    boots_left: left - 1,
                };
            }
            return Ok(BootChoice {
                slot: active,
                record,
                fell_back: false,
            });
        }
        let other = active.other();
        if usable(other) {
            let mut record = self.clone();
            record.active = other;
            record.state = SlotState::Confirmed;
            return Ok(BootChoice {
                slot: other,
                record,
                fell_back: true,
            });
        }
        if active_ok {
            // Trial spent but nothing to fall back to: keep starting what there is.
            return Ok(BootChoice {
                slot: active,
                record: self.clone(),
                fell_back: false,
            });
        }
        Err(NoBootableSlot)
    }

    /// The record after a successful boot: the active slot is confirmed.
    #[must_use]
    pub fn confirmed(&self) -> Self {
        BootRecord {
            state: SlotState::Confirmed,
            ..self.clone()
        }
    }

    /// The record's text form (stored by the caller).
    #[must_use]
    pub fn encode(&self) -> String {
        let mut s = String::from(RECORD_MAGIC);
        let _ = write!(s, "\nactive: {}\nstate: ", self.active);
        match self.state {
            SlotState::Confirmed => s.push_str("confirmed"),
            SlotState::Trial { boots_left } => {
                let _ = write!(s, "trial {boots_left}");
            }
        }
        for slot in [Slot::A, Slot::B] {
            let _ = write!(s, "\n{slot}: ");
            match self.slot(slot) {
                None => s.push('-'),
                Some(img) => {
                    let _ = write!(s, "{} {} ", img.app, img.length);
                    for b in img.sha256 {
                        let _ = write!(s, "{b:02x}");
                    }
                    // Only with an RFS: a slot line without one is as version 1 wrote it.
                    if let Some(r) = &img.rfs {
                        let _ = write!(s, " {} {} ", r.name, r.length);
                        for b in r.sha256 {
                            let _ = write!(s, "{b:02x}");
                        }
                    }
                }
            }
        }
        s.push('\n');
        s
    }

    /// Parses [`BootRecord::encode`]'s form.
    ///
    /// # Errors
    /// [`BadRecord`] naming the line.
    pub fn decode(text: &str) -> Result<Self, BadRecord> {
        let mut lines = text.lines();
        let mut line = |n: usize| lines.next().ok_or(BadRecord { line: n });
        if line(1)? != RECORD_MAGIC {
            return Err(BadRecord { line: 1 });
        }
        let active = match line(2)?.strip_prefix("active: ") {
            Some("A") => Slot::A,
            Some("B") => Slot::B,
            _ => return Err(BadRecord { line: 2 }),
        };
        let state = match line(3)?.strip_prefix("state: ") {
            Some("confirmed") => SlotState::Confirmed,
            Some(t) => {
                let n = t
                    .strip_prefix("trial ")
                    .and_then(|n| n.parse::<u8>().ok())
                    .ok_or(BadRecord { line: 3 })?;
                SlotState::Trial { boots_left: n }
            }
            None => return Err(BadRecord { line: 3 }),
        };
        let mut slots: [Option<SlotImage>; 2] = [None, None];
        for (i, (slot, n)) in [(Slot::A, 4), (Slot::B, 5)].into_iter().enumerate() {
            let l = line(n)?;
            let prefix = if slot == Slot::A { "A: " } else { "B: " };
            let v = l.strip_prefix(prefix).ok_or(BadRecord { line: n })?;
            if v == "-" {
                continue;
            }
            let parts: Vec<&str> = v.split(' ').collect();
            let bad = BadRecord { line: n };
            let (app, length, sha256, rfs) = match parts.as_slice() {
                [app, len, sha] => {
                    let (length, sha256) = len_sha(len, sha).ok_or(bad)?;
                    (app, length, sha256, None)
                }
                [app, len, sha, rfs, rlen, rsha] => {
                    let (length, sha256) = len_sha(len, sha).ok_or(bad)?;
                    let (rl, rs) = len_sha(rlen, rsha).ok_or(bad)?;
                    if rfs.is_empty() {
                        return Err(bad);
                    }
                    let r = Box::new(RfsImage {
                        name: (*rfs).into(),
                        length: rl,
                        sha256: rs,
                    });
                    (app, length, sha256, Some(r))
                }
                _ => return Err(bad),
            };
            if app.is_empty() {
                return Err(bad);
            }
            slots[i] = Some(SlotImage {
                app: (*app).into(),
                length,
                sha256,
                rfs,
            });
        }
        if lines.next().is_some() {
            return Err(BadRecord { line: 6 });
        }
        Ok(BootRecord {
            active,
            state,
            slots,
        })
    }
}

/// A length (ASCII digits only: `u64::from_str` would also take a sign, `+5`) and a SHA-256 in
/// 64 hex digits (digits only: `from_str_radix` would also take a sign, `+f`).
fn len_sha(len: &str, sha: &str) -> Option<(u64, [u8; 32])> {
    if len.is_empty() || !len.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let length = len.parse::<u64>().ok()?;
    if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut d = [0u8; 32];
    for (j, b) in d.iter_mut().enumerate() {
        *b = u8::from_str_radix(sha.get(2 * j..2 * j + 2)?, 16).ok()?;
    }
    Some((length, d))
}

/// An image that was received whole and matched a verified signature header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedImage {
    app: String,
    bytes: Vec<u8>,
    /// With an RFS after the application: its name and where it starts in `bytes`.
    rfs: Option<(String, usize)>,
}

impl VerifiedImage {
    /// Checks `bytes` against a header from [`crate::firmware::SignatureFile::check_for`].
    ///
    /// # Errors
    /// [`Rejected::WrongLength`] or [`Rejected::WrongDigest`].
    pub fn new(header: &ImageHeader, bytes: Vec<u8>) -> Result<Self, Rejected> {
        header.check_image(&bytes)?;
        Ok(VerifiedImage {
            app: header.app.clone(),
            bytes,
            rfs: None,
        })
    }

    /// The application image with a verified RFS image after it (RFSNAME, files.md §8): one
    /// slot content. An RFS already bundled in `app` is replaced.
    #[must_use]
    pub fn with_rfs(self, rfs: VerifiedImage) -> Self {
        let mut bytes = self.bytes;
        if let Some((_, at)) = self.rfs {
            bytes.truncate(at);
        }
        let at = bytes.len();
        bytes.extend_from_slice(&rfs.bytes[..rfs.rfs.as_ref().map_or(rfs.bytes.len(), |r| r.1)]);
        VerifiedImage {
            app: self.app,
            bytes,
            rfs: Some((rfs.app, at)),
        }
    }

    /// What a slot holding this records ([`SlotImage`]).
    #[must_use]
    pub fn slot_image(&self) -> SlotImage {
        match &self.rfs {
            None => SlotImage::of(&self.app, &self.bytes),
            Some((name, at)) => {
                let (app, rfs) = self.bytes.split_at((*at).min(self.bytes.len()));
                let mut s = SlotImage::of(&self.app, app);
                s.rfs = Some(Box::new(RfsImage {
                    name: name.clone(),
                    length: rfs.len() as u64,
                    sha256: sha256(rfs),
                }));
                s
            }
        }
    }

    /// The application name.
    #[must_use]
    pub fn app(&self) -> &str {
        &self.app
    }

    /// Its length in bytes.
    #[must_use]
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// True for an empty image.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_text_round_trip_and_errors() {
        let mut r = BootRecord::factory(SlotImage::of("factory.bin", b"f"));
        assert_eq!(BootRecord::decode(&r.encode()), Ok(r.clone()));
        r.slots[1] = Some(SlotImage::of("S96x1_SALBR7_1_4_0r11_V4r83.tar", b"x"));
        r.active = Slot::B;
        r.state = SlotState::Trial { boots_left: 3 };
        assert_eq!(BootRecord::decode(&r.encode()), Ok(r.clone()));
        assert_eq!(BootRecord::decode(""), Err(BadRecord { line: 1 }));
        assert_eq!(
            BootRecord::decode(&r.encode().replace("trial 3", "trial x")),
            Err(BadRecord { line: 3 })
        );
        assert_eq!(
            BootRecord::decode(&r.encode().replace("active: B", "active: C")),
            Err(BadRecord { line: 2 })
        );
        assert_eq!(
            BootRecord::decode(&(r.encode() + "junk\n")),
            Err(BadRecord { line: 6 })
        );
        assert_eq!(
            BootRecord::decode(&r.encode().replace("tar 1 ", "tar -1 ")),
            Err(BadRecord { line: 5 })
        );
        // Signs are not digits (issue 12): `+5` as a length, `+f` as a hex byte.
        assert_eq!(
            BootRecord::decode(&r.encode().replace("tar 1 ", "tar +1 ")),
            Err(BadRecord { line: 5 })
        );
        let enc = r.encode();
        let b_line = enc.lines().nth(4).unwrap();
        let signed = format!("{}+f", &b_line[..b_line.len() - 2]);
        assert_eq!(
            BootRecord::decode(&enc.replace(b_line, &signed)),
            Err(BadRecord { line: 5 })
        );
    }

    #[test]
    fn a_slot_with_an_rfs_matches_application_then_rfs() {
        let app = b"application".to_vec();
        let rfs = b"root fs".to_vec();
        let header = |name: &str, bytes: &[u8]| {
            let key = crate::firmware::SigningKey::from_bytes(&[5; 32]);
            let text =
                crate::firmware::sign(&key, name, crate::firmware::Models::Any, bytes).unwrap();
            let sig = crate::firmware::SignatureFile::parse(text.as_bytes()).unwrap();
            sig.verify(&crate::firmware::FirmwareKey::of(&key))
                .unwrap()
                .clone()
        };
        let a = VerifiedImage::new(&header("app.bin", &app), app.clone()).unwrap();
        let r = VerifiedImage::new(&header("rfs.tar", &rfs), rfs.clone()).unwrap();
        let bundle = a.with_rfs(r);
        assert_eq!(bundle.app(), "app.bin");
        assert_eq!(bundle.len(), app.len() + rfs.len());
        let img = bundle.slot_image();
        assert_eq!(img.rfs_name(), "rfs.tar");
        assert!(img.matches(&[app.clone(), rfs.clone()].concat()));
        assert!(!img.matches(&app));
        assert!(!img.matches(&[app.clone(), b"root fX".to_vec()].concat()));
        assert!(!img.matches(&[rfs.clone(), app.clone()].concat()));
        // In the record text, and back; a slot without an RFS keeps version 1's line.
        let mut rec = BootRecord::factory(SlotImage::of("factory.bin", b"f"));
        let plain = rec.encode();
        assert_eq!(plain.lines().nth(3).unwrap().split(' ').count(), 4);
        rec.slots[1] = Some(img);
        rec.active = Slot::B;
        assert_eq!(rec.running_rfs(), "rfs.tar");
        assert_eq!(BootRecord::decode(&rec.encode()), Ok(rec.clone()));
        // Four or five words after the slot's name, or an RFS length with a sign: refused.
        let enc = rec.encode();
        let b_line = enc.lines().nth(4).unwrap();
        let words: Vec<&str> = b_line.split(' ').collect();
        assert_eq!(words.len(), 7);
        for n in [5, 6] {
            let cut = words[..n].join(" ");
            assert_eq!(
                BootRecord::decode(&enc.replace(b_line, &cut)),
                Err(BadRecord { line: 5 })
            );
        }
        let signed = b_line.replace(" rfs.tar 7 ", " rfs.tar +7 ");
        assert_eq!(
            BootRecord::decode(&enc.replace(b_line, &signed)),
            Err(BadRecord { line: 5 })
        );
    }

    mod prop {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn record_round_trip(app_a in "[A-Za-z0-9._-]{1,30}", app_b in proptest::option::of("[A-Za-z0-9._-]{1,30}"),
                                 len: u64, b_active: bool, trial in proptest::option::of(any::<u8>())) {
                let mut r = BootRecord::factory(SlotImage { app: app_a, length: len, sha256: [3; 32], rfs: None });
                r.slots[1] = app_b.map(|app| SlotImage { app, length: len / 2, sha256: [9; 32],
                    rfs: Some(Box::new(RfsImage { name: "rfs.tar".into(), length: len / 3, sha256: [4; 32] })) });
                r.active = if b_active { Slot::B } else { Slot::A };
                r.state = trial.map_or(SlotState::Confirmed, |boots_left| SlotState::Trial { boots_left });
                prop_assert_eq!(BootRecord::decode(&r.encode()), Ok(r));
            }

            #[test]
            fn decode_never_panics(text in "\\PC{0,200}") {
                let _ = BootRecord::decode(&text);
            }
        }
    }
}
