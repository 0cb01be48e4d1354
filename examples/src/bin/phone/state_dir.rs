//! The phone's non-volatile memory: one state directory, one layout, shared by `phone files`,
//! `phone boot` (and `phone scep`'s key output): issue 11 item 2.
//!
//! ```text
//! STATE/
//!   record.bin          phone-boot's Record: lease, last good settings, TRUSTCERTS, SCEP key and
//!                       certificate, SIP credentials, firmware slots, craft values (mode 0600:
//!                       it holds a private key and a password)
//!   slot-a.bin          firmware slot A
//!   slot-b.bin          firmware slot B
//!   slot-X.bin.part     the slot being written; renamed over slot-X.bin at FlashOp::Commit
//!   trust/*.pem         preinstalled trust anchors (`--trust`), before any TRUSTCERTS
//!   firmware-pub.pem    the trusted firmware key (`--firmware-key`)
//!   languages/          downloaded language files
//! ```
//!
//! Every file is replaced in one atomic step (temporary file, fsync, rename, fsync of the
//! directory), so a power cut leaves either the old or the new file, never half of one. The
//! flash writer writes a new image into `slot-X.bin.part` (the slot that is not active), and the
//! switch is [`FlashOp::Commit`]: the part file becomes the slot, then the record naming it is
//! stored. Until the record is stored the old record, and so the old slot, stays in force
//! (phone-boot/FIRMWARE.md §3).

use std::fs;
use std::io::{self, Write as _};
use std::os::unix::fs::{
    DirBuilderExt as _, FileExt as _, OpenOptionsExt as _, PermissionsExt as _,
};
use std::path::{Path, PathBuf};
use std::time::Duration;

use phone_boot::boot::record::{Record, RecordError};
use phone_boot::flash::{BootRecord, FlashOp, Slot, SlotImage};

use crate::cli::TrustFile;

/// The record file's name.
pub const RECORD: &str = "record.bin";
/// Mode of files holding secrets (keys, passwords).
pub const SECRET_MODE: u32 = 0o600;
/// Mode of other files.
pub const PUBLIC_MODE: u32 = 0o644;
/// What the factory put in slot A.
pub const FACTORY_IMAGE: &[u8] = b"phone-boot factory image\n";
/// The factory image's application name.
pub const FACTORY_APP: &str = "factory.bin";

/// Writes `bytes` to `path` in one atomic step with file mode `mode`: a temporary file in the
/// same directory (created fresh with `mode`, so a secret is never readable by others, not even
/// for a moment), fsync, rename over `path`, fsync of the directory.
///
/// # Errors
/// Any I/O error; `path` is then unchanged.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no file name"))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(".tmp");
    let tmp = dir.join(tmp_name);
    // A temporary file left by a crash may have other permissions: start afresh.
    match fs::remove_file(&tmp) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let result = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        // The umask may have taken bits away; set exactly what was asked.
        f.set_permissions(fs::Permissions::from_mode(mode))?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// [`write_atomic`] with mode 0600: private keys, passwords, the record.
///
/// # Errors
/// Any I/O error; `path` is then unchanged.
pub fn write_secret(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic(path, bytes, SECRET_MODE)
}

/// PEM text of one DER object (RFC 7468: base64 in 64-character lines).
#[must_use]
pub fn pem_encode(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut s = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        s.push_str(&String::from_utf8_lossy(line));
        s.push('\n');
    }
    s.push_str(&format!("-----END {label}-----\n"));
    s
}

/// A file name from a server-given name: its last path segment, with anything but letters,
/// digits, `.`, `_` and `-` replaced by `_`, never hidden, never empty, never `..`.
#[must_use]
pub fn safe_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let s: String = base
        .chars()
        .take(128)
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() || s.starts_with('.') {
        format!("_{s}")
    } else {
        s
    }
}

/// The state directory.
#[derive(Debug, Clone)]
pub struct StateDir {
    dir: PathBuf,
}

/// The record as found at start.
#[derive(Debug)]
pub struct Loaded {
    /// The record: the factory record when there was none; what was intact of a damaged one
    /// (defaults for the rest).
    pub record: Record,
    /// What was lost of a damaged record, in the order found (the caller logs it); empty when
    /// it was intact or absent.
    pub damaged: Vec<RecordError>,
}

/// What the boot loader chose at power-on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PowerOn {
    /// The slot started.
    pub slot: Slot,
    /// The application it holds.
    pub app: String,
    /// True when the active slot was unusable and the other one was started.
    pub fell_back: bool,
}

impl StateDir {
    /// Opens (creating, mode 0700) the state directory and its `trust/` and `languages/`.
    ///
    /// # Errors
    /// The directory cannot be created.
    pub fn open(dir: &Path) -> io::Result<StateDir> {
        if !dir.exists() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)?;
        }
        for sub in ["trust", "languages"] {
            fs::create_dir_all(dir.join(sub))?;
        }
        Ok(StateDir {
            dir: dir.to_path_buf(),
        })
    }

    /// The directory.
    #[cfg(test)]
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The file of `slot`.
    #[must_use]
    pub fn slot_path(&self, slot: Slot) -> PathBuf {
        self.dir.join(match slot {
            Slot::A => "slot-a.bin",
            Slot::B => "slot-b.bin",
        })
    }

    fn part_path(&self, slot: Slot) -> PathBuf {
        let mut p = self.slot_path(slot).into_os_string();
        p.push(".part");
        PathBuf::from(p)
    }

    /// Reads the record. A missing record is the factory state; of a damaged one, what is
    /// intact is kept ([`Record::decode_lenient`]) and the losses are in [`Loaded::damaged`] (a
    /// broken record never stops the phone from booting).
    ///
    /// # Errors
    /// The record exists but cannot be read (permissions, I/O).
    pub fn load_record(&self) -> io::Result<Loaded> {
        match fs::read(self.dir.join(RECORD)) {
            Ok(bytes) => {
                let s = Record::decode_lenient(&bytes);
                Ok(Loaded {
                    record: s.record,
                    damaged: s.damage,
                })
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Loaded {
                record: Record::default(),
                damaged: Vec::new(),
            }),
            Err(e) => Err(e),
        }
    }

    /// Stores the record atomically, mode 0600 (it holds the SCEP key and the SIP password).
    ///
    /// # Errors
    /// Any I/O error; the stored record is then unchanged.
    pub fn save_record(&self, record: &Record) -> io::Result<()> {
        write_secret(&self.dir.join(RECORD), &record.encode())
    }

    /// Keeps `--trust` anchors in `trust/` (`preinstalled-N-NAME`), replacing the anchors of
    /// an earlier `--trust`: the command line says what is preinstalled. An empty list keeps
    /// what is there.
    ///
    /// # Errors
    /// Any I/O error.
    pub fn install_trust(&self, files: &[TrustFile]) -> io::Result<()> {
        if files.is_empty() {
            return Ok(());
        }
        let trust = self.dir.join("trust");
        for entry in fs::read_dir(&trust)?.flatten() {
            if entry
                .file_name()
                .to_string_lossy()
                .starts_with("preinstalled-")
            {
                fs::remove_file(entry.path())?;
            }
        }
        for (i, f) in files.iter().enumerate() {
            let name = format!("preinstalled-{i}-{}", safe_name(&f.path.to_string_lossy()));
            write_atomic(&trust.join(name), &f.pem, PUBLIC_MODE)?;
        }
        Ok(())
    }

    /// The preinstalled trust anchors (PEM bytes of every file in `trust/`).
    #[must_use]
    pub fn trust_pems(&self) -> Vec<Vec<u8>> {
        let mut entries: Vec<PathBuf> = fs::read_dir(self.dir.join("trust"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .collect();
        entries.sort();
        entries.iter().filter_map(|p| fs::read(p).ok()).collect()
    }

    /// The firmware key's path in the state directory.
    #[must_use]
    pub fn firmware_key_path(&self) -> PathBuf {
        self.dir.join("firmware-pub.pem")
    }

    /// Keeps the firmware public key (`--firmware-key`; the caller checked it parses).
    ///
    /// # Errors
    /// Any I/O error.
    pub fn install_firmware_key(&self, pem: &[u8]) -> io::Result<()> {
        write_atomic(&self.firmware_key_path(), pem, PUBLIC_MODE)
    }

    /// The stored firmware key (PEM), if any.
    ///
    /// # Errors
    /// The key exists but cannot be read.
    pub fn firmware_key(&self) -> io::Result<Option<Vec<u8>>> {
        match fs::read(self.firmware_key_path()) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Keeps a downloaded language file under `languages/` (by its safe name).
    ///
    /// # Errors
    /// Any I/O error.
    pub fn save_language(&self, name: &str, bytes: &[u8]) -> io::Result<PathBuf> {
        let path = self.dir.join("languages").join(safe_name(name));
        write_atomic(&path, bytes, PUBLIC_MODE)?;
        Ok(path)
    }

    /// Power-on: the boot loader's choice of slot (FIRMWARE.md §5), with the factory image in
    /// slot A on first use. The record with the choice made (trial boot spent, fallback
    /// recorded) is stored before it is returned.
    ///
    /// # Errors
    /// No slot is bootable, or the state cannot be written.
    pub fn power_on(&self, mut record: Record) -> anyhow::Result<(Record, PowerOn)> {
        let slots = match record.slots.take() {
            Some(s) => s,
            None => {
                write_atomic(&self.slot_path(Slot::A), FACTORY_IMAGE, PUBLIC_MODE)?;
                BootRecord::factory(SlotImage::of(FACTORY_APP, FACTORY_IMAGE))
            }
        };
        let choice = slots
            .power_on(|slot, img| fs::read(self.slot_path(slot)).is_ok_and(|c| img.matches(&c)))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let power_on = PowerOn {
            slot: choice.slot,
            app: choice
                .record
                .running()
                .map(|i| i.app.clone())
                .unwrap_or_default(),
            fell_back: choice.fell_back,
        };
        record.slots = Some(choice.record);
        self.save_record(&record)?;
        Ok((record, power_on))
    }

    /// The flash writer of this state directory.
    #[must_use]
    pub fn flash(&self, pace: Duration) -> Flash {
        Flash {
            state: self.clone(),
            pace,
            writing: None,
        }
    }
}

/// The A/B flash: carries out phone-boot's [`FlashOp`]s on the slot files.
///
/// It never sleeps: an emulated slow flash ([`Flash::pace`], `--flash-ms-per-chunk`) is the
/// driver's business, which reports the write done after that long with a timer.
#[derive(Debug)]
pub struct Flash {
    state: StateDir,
    pace: Duration,
    /// The slot being written and its part file.
    writing: Option<(Slot, fs::File)>,
}

impl Flash {
    /// How long each [`FlashOp::Write`] takes on the emulated flash (zero: as fast as the disk).
    #[must_use]
    pub fn pace(&self) -> Duration {
        self.pace
    }

    /// Carries out `op`. `record` is the phone's record as it stands: [`FlashOp::Commit`]
    /// stores it with the new slots (and returns that record, which the caller keeps).
    ///
    /// # Errors
    /// Any I/O error, or a write or commit for a slot that was not erased first or that is the
    /// active one. After an error the old record stays in force.
    pub fn apply(&mut self, op: &FlashOp, record: &Record) -> io::Result<Option<Record>> {
        match op {
            FlashOp::Erase { slot, .. } => {
                if record.slots.as_ref().is_some_and(|s| s.active == *slot) {
                    return Err(io::Error::other(format!(
                        "refusing to erase the active slot {slot}"
                    )));
                }
                let part = self.state.part_path(*slot);
                let f = fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .mode(PUBLIC_MODE)
                    .open(&part)?;
                self.writing = Some((*slot, f));
                Ok(None)
            }
            FlashOp::Write { slot, offset, data } => {
                let f = self.part(*slot)?;
                f.write_all_at(data, *offset)?;
                Ok(None)
            }
            FlashOp::Commit(slots) => {
                let part = self.state.part_path(slots.active);
                match self.writing.take() {
                    Some((slot, f)) if slot == slots.active => f.sync_all()?,
                    // Committing a slot written by another run: its part file must be there.
                    _ => fs::File::open(&part)?.sync_all()?,
                }
                fs::rename(&part, self.state.slot_path(slots.active))?;
                fs::File::open(&self.state.dir)?.sync_all()?;
                let mut new = record.clone();
                new.slots = Some(slots.clone());
                self.state.save_record(&new)?;
                Ok(Some(new))
            }
        }
    }

    fn part(&mut self, slot: Slot) -> io::Result<&fs::File> {
        match &self.writing {
            Some((s, f)) if *s == slot => Ok(f),
            _ => Err(io::Error::other(format!(
                "slot {slot} written before it was erased"
            ))),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use phone_boot::flash::SlotState;

    use super::*;

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn atomic_write_replaces_whole_and_sets_mode() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("key.pem");
        write_secret(&p, b"one").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"one");
        assert_eq!(mode(&p), 0o600);
        // A stale temporary file with open permissions does not leak into the new file.
        let tmp = dir.path().join(".key.pem.tmp");
        fs::write(&tmp, b"stale").unwrap();
        fs::set_permissions(&tmp, fs::Permissions::from_mode(0o666)).unwrap();
        write_secret(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(mode(&p), 0o600);
        assert!(!tmp.exists());
        write_atomic(&dir.path().join("pub.pem"), b"x", PUBLIC_MODE).unwrap();
        assert_eq!(mode(&dir.path().join("pub.pem")), 0o644);
        // Only the two files remain: no temporary left behind.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn failed_write_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        // The rename cannot replace a non-empty directory: the write fails as a whole.
        let p = dir.path().join("record.bin");
        fs::create_dir(&p).unwrap();
        fs::write(p.join("keep"), b"old").unwrap();
        assert!(write_secret(&p, b"new").is_err());
        assert_eq!(fs::read(p.join("keep")).unwrap(), b"old");
        assert!(!dir.path().join(".record.bin.tmp").exists());
    }

    #[test]
    fn record_round_trip_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::open(&dir.path().join("phone")).unwrap();
        assert_eq!(mode(state.path()), 0o700);
        let loaded = state.load_record().unwrap();
        assert_eq!(loaded.record, Record::default());
        assert!(loaded.damaged.is_empty());
        let r = Record {
            credentials: Some(("1001".into(), "secret".into())),
            lease_address: Some("10.0.0.7".parse().unwrap()),
            ..Record::default()
        };
        state.save_record(&r).unwrap();
        assert_eq!(mode(&state.path().join(RECORD)), 0o600);
        assert_eq!(state.load_record().unwrap().record, r);
        // A damaged record: factory state plus the reason.
        fs::write(state.path().join(RECORD), b"PHBR\x01garbage").unwrap();
        let loaded = state.load_record().unwrap();
        assert_eq!(loaded.record, Record::default());
        assert!(!loaded.damaged.is_empty());
        // A torn write of a good record keeps what is intact before the cut.
        let bytes = r.encode();
        fs::write(state.path().join(RECORD), &bytes[..bytes.len() - 6]).unwrap();
        let loaded = state.load_record().unwrap();
        assert!(!loaded.damaged.is_empty());
        assert_eq!(loaded.record.lease_address, r.lease_address);
    }

    #[test]
    fn flash_writes_the_other_slot_and_switches_at_commit() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::open(dir.path()).unwrap();
        let (record, first) = state.power_on(Record::default()).unwrap();
        assert_eq!(first.slot, Slot::A);
        assert_eq!(first.app, FACTORY_APP);
        assert_eq!(fs::read(state.slot_path(Slot::A)).unwrap(), FACTORY_IMAGE);

        let image = b"new firmware image, version 2";
        let mut flash = state.flash(Duration::ZERO);
        assert!(
            flash
                .apply(
                    &FlashOp::Erase {
                        slot: Slot::A,
                        length: 3
                    },
                    &record
                )
                .is_err(),
            "the active slot is never erased"
        );
        let write = FlashOp::Write {
            slot: Slot::B,
            offset: 0,
            data: image[..10].to_vec(),
        };
        assert!(
            flash.apply(&write, &record).is_err(),
            "no write before erase"
        );
        flash
            .apply(
                &FlashOp::Erase {
                    slot: Slot::B,
                    length: image.len() as u64,
                },
                &record,
            )
            .unwrap();
        flash.apply(&write, &record).unwrap();
        flash
            .apply(
                &FlashOp::Write {
                    slot: Slot::B,
                    offset: 10,
                    data: image[10..].to_vec(),
                },
                &record,
            )
            .unwrap();
        // Before the commit: slot B's file is not there, the record still names A.
        assert!(!state.slot_path(Slot::B).exists());
        assert_eq!(
            state.load_record().unwrap().record.slots.unwrap().active,
            Slot::A
        );
        let mut slots = record.slots.clone().unwrap();
        slots.active = Slot::B;
        slots.state = SlotState::Trial { boots_left: 2 };
        slots.slots[1] = Some(SlotImage::of("v2.bin", image));
        let new = flash
            .apply(&FlashOp::Commit(slots.clone()), &record)
            .unwrap()
            .unwrap();
        assert_eq!(new.slots.as_ref(), Some(&slots));
        assert_eq!(fs::read(state.slot_path(Slot::B)).unwrap(), image);
        assert_eq!(state.load_record().unwrap().record, new);
        // The next power-on starts B on trial.
        let (_, second) = state.power_on(new).unwrap();
        assert_eq!(second.slot, Slot::B);
        assert_eq!(second.app, "v2.bin");
    }

    #[test]
    fn a_cut_before_commit_boots_the_old_slot() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::open(dir.path()).unwrap();
        let (record, _) = state.power_on(Record::default()).unwrap();
        let mut flash = state.flash(Duration::from_millis(5));
        assert_eq!(flash.pace(), Duration::from_millis(5));
        flash
            .apply(
                &FlashOp::Erase {
                    slot: Slot::B,
                    length: 4,
                },
                &record,
            )
            .unwrap();
        flash
            .apply(
                &FlashOp::Write {
                    slot: Slot::B,
                    offset: 0,
                    data: b"half".to_vec(),
                },
                &record,
            )
            .unwrap();
        drop(flash); // power cut
        let loaded = state.load_record().unwrap().record;
        let (_, on) = state.power_on(loaded).unwrap();
        assert_eq!(on.slot, Slot::A);
        assert!(!on.fell_back);
    }

    #[test]
    fn trust_and_names() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::open(dir.path()).unwrap();
        let cert = rcgen::generate_simple_self_signed(vec!["ca.lab".into()]).unwrap();
        let pem = cert.cert.pem().into_bytes();
        let f = TrustFile::from_pem(PathBuf::from("/x/lab ca.pem"), pem.clone()).unwrap();
        state.install_trust(&[f.clone(), f]).unwrap();
        assert_eq!(state.trust_pems(), vec![pem.clone(), pem.clone()]);
        let g = TrustFile::from_pem(PathBuf::from("other.pem"), pem.clone()).unwrap();
        state.install_trust(&[g]).unwrap();
        assert_eq!(
            state.trust_pems().len(),
            1,
            "a new --trust replaces the old"
        );
        state.install_trust(&[]).unwrap();
        assert_eq!(
            state.trust_pems().len(),
            1,
            "no --trust keeps what is there"
        );

        assert_eq!(safe_name("../../etc/passwd"), "passwd");
        assert_eq!(safe_name(".."), "_..");
        assert_eq!(safe_name("a b.txt"), "a_b.txt");
        assert_eq!(safe_name(""), "_");
        let p = state.save_language("dir/Mlf_German.xml", b"x").unwrap();
        assert!(p.starts_with(state.path().join("languages")));
        let text = pem_encode("CERTIFICATE", &[0u8; 100]);
        assert!(text.starts_with("-----BEGIN CERTIFICATE-----\n"));
        assert!(text.lines().all(|l| l.len() <= 64));
    }
}
