//! A/B firmware slots: the boot record, the boot-time slot choice, and the Sans-IO [`Flasher`].
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

use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::{self, Write as _};
use core::time::Duration;

use phone_settings::Instant;
use sha2::{Digest as _, Sha256};

use crate::display::DisplayEvent;
use crate::firmware::{ImageHeader, Rejected};

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

/// What a slot holds, as recorded at commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotImage {
    /// The application name (compared with APPNAME by the software decision).
    pub app: String,
    /// Image length.
    pub length: u64,
    /// SHA-256 of the image.
    pub sha256: [u8; 32],
}

impl SlotImage {
    /// The record of an image with these contents.
    #[must_use]
    pub fn of(app: &str, content: &[u8]) -> Self {
        let mut sha256 = [0u8; 32];
        sha256.copy_from_slice(&Sha256::digest(content));
        SlotImage {
            app: app.into(),
            length: content.len() as u64,
            sha256,
        }
    }

    /// Whether `content` (what the slot actually holds) is this image.
    #[must_use]
    pub fn matches(&self, content: &[u8]) -> bool {
        content.len() as u64 == self.length && Sha256::digest(content)[..] == self.sha256[..]
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
            let mut parts = v.split(' ');
            let (Some(app), Some(len), Some(sha), None) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                return Err(BadRecord { line: n });
            };
            let length = len.parse::<u64>().map_err(|_| BadRecord { line: n })?;
            if sha.len() != 64 || app.is_empty() {
                return Err(BadRecord { line: n });
            }
            let mut sha256 = [0u8; 32];
            for (j, b) in sha256.iter_mut().enumerate() {
                *b =
                    u8::from_str_radix(sha.get(2 * j..2 * j + 2).ok_or(BadRecord { line: n })?, 16)
                        .map_err(|_| BadRecord { line: n })?;
            }
            slots[i] = Some(SlotImage {
                app: app.into(),
                length,
                sha256,
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

/// An image that was received whole and matched a verified signature header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedImage {
    app: String,
    bytes: Vec<u8>,
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
        })
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

/// One flash operation for the caller to carry out and acknowledge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlashOp {
    /// Erase `slot` (the caller may size it for `length` bytes).
    Erase {
        /// The slot to erase; never the active one.
        slot: Slot,
        /// Bytes that will be written.
        length: u64,
    },
    /// Write `data` at `offset` in `slot`.
    Write {
        /// The slot being written.
        slot: Slot,
        /// Byte offset.
        offset: u64,
        /// The bytes.
        data: Vec<u8>,
    },
    /// Make the written data durable, then store this record in one atomic step.
    Commit(BootRecord),
}

/// What the caller reports to the [`Flasher`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlashInput {
    /// The last [`FlashOp`] completed.
    Done(Instant),
    /// The last [`FlashOp`] failed (nothing after it is attempted; the old record stays).
    Failed(Instant),
    /// The clock reached the last [`FlashOutput::Timeout`].
    Timeout(Instant),
}

/// What the [`Flasher`] asks of the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlashOutput {
    /// Carry out this operation, then report [`FlashInput::Done`] or [`FlashInput::Failed`].
    Op(FlashOp),
    /// Show this.
    Event(DisplayEvent),
    /// Finished: the slot now active, or why not.
    Done(Result<Slot, Rejected>),
    /// Wait for an acknowledgement or this instant.
    Timeout(Instant),
}

/// Flash settings.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FlashConfig {
    /// Bytes per [`FlashOp::Write`].
    pub chunk: usize,
    /// Boots a new slot gets before the boot loader falls back.
    pub trial_boots: u8,
}

impl Default for FlashConfig {
    fn default() -> Self {
        FlashConfig {
            chunk: 64 * 1024,
            trial_boots: 3,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Erase,
    Write(usize),
    Commit,
    Finished,
}

/// Writes a [`VerifiedImage`] into the inactive slot and commits the switch (FIRMWARE.md §3).
#[derive(Debug, Clone)]
pub struct Flasher {
    config: FlashConfig,
    record: BootRecord,
    target: Slot,
    image: VerifiedImage,
    obtained_at: Instant,
    step: Step,
    /// An operation is out with the caller.
    waiting: bool,
    queue: VecDeque<FlashOutput>,
    percent: Option<u8>,
    secs_shown: u64,
}

impl Flasher {
    /// Starts flashing `image` at `now` into the slot that `record` does not boot.
    #[must_use]
    pub fn new(
        now: Instant,
        record: &BootRecord,
        image: VerifiedImage,
        config: FlashConfig,
    ) -> Self {
        let mut queue = VecDeque::new();
        queue.push_back(FlashOutput::Event(DisplayEvent::FileObtained { secs: 0 }));
        Flasher {
            config,
            target: record.active.other(),
            record: record.clone(),
            image,
            obtained_at: now,
            step: Step::Erase,
            waiting: false,
            queue,
            percent: None,
            secs_shown: 0,
        }
    }

    /// The slot being written.
    #[must_use]
    pub fn target(&self) -> Slot {
        self.target
    }

    /// Reports the result of the last operation, or a timeout.
    pub fn handle_input(&mut self, input: FlashInput) {
        match input {
            FlashInput::Timeout(now) => {
                // `s secs` counts while the erase runs (display.md row 11).
                if self.step == Step::Erase && self.waiting {
                    let secs = now.saturating_duration_since(self.obtained_at).as_secs();
                    if secs > self.secs_shown {
                        self.secs_shown = secs;
                        self.queue
                            .push_back(FlashOutput::Event(DisplayEvent::FileObtained { secs }));
                    }
                }
            }
            FlashInput::Failed(_) => {
                if self.waiting {
                    self.waiting = false;
                    self.step = Step::Finished;
                    self.queue
                        .push_back(FlashOutput::Done(Err(Rejected::Flash)));
                }
            }
            FlashInput::Done(_) => {
                if !self.waiting {
                    return;
                }
                self.waiting = false;
                self.step = match self.step {
                    Step::Erase => Step::Write(0),
                    Step::Write(off) => {
                        let next = off
                            .saturating_add(self.config.chunk.max(1))
                            .min(self.image.len());
                        let percent =
                            u8::try_from(next.saturating_mul(100) / self.image.len().max(1))
                                .unwrap_or(100);
                        if self.percent != Some(percent) {
                            self.percent = Some(percent);
                            self.queue
                                .push_back(FlashOutput::Event(DisplayEvent::SavingToFlash {
                                    percent,
                                }));
                        }
                        if next >= self.image.len() {
                            Step::Commit
                        } else {
                            Step::Write(next)
                        }
                    }
                    Step::Commit => {
                        self.queue
                            .push_back(FlashOutput::Event(DisplayEvent::Restarting));
                        self.queue.push_back(FlashOutput::Done(Ok(self.target)));
                        Step::Finished
                    }
                    Step::Finished => Step::Finished,
                };
            }
        }
    }

    /// The record [`FlashOp::Commit`] stores: the new slot active, on trial.
    #[must_use]
    pub fn new_record(&self) -> BootRecord {
        let mut record = self.record.clone();
        record.slots[self.target.index()] = Some(SlotImage::of(&self.image.app, &self.image.bytes));
        record.active = self.target;
        record.state = SlotState::Trial {
            boots_left: self.config.trial_boots,
        };
        record
    }

    /// The next thing for the caller to do.
    pub fn poll_output(&mut self) -> FlashOutput {
        if let Some(out) = self.queue.pop_front() {
            return out;
        }
        if self.step == Step::Finished {
            return FlashOutput::Timeout(Instant::MAX);
        }
        if self.waiting {
            return FlashOutput::Timeout(if self.step == Step::Erase {
                self.obtained_at + Duration::from_secs(self.secs_shown + 1)
            } else {
                Instant::MAX
            });
        }
        self.waiting = true;
        FlashOutput::Op(match self.step {
            Step::Erase => FlashOp::Erase {
                slot: self.target,
                length: self.image.len() as u64,
            },
            Step::Write(off) => {
                let end = off
                    .saturating_add(self.config.chunk.max(1))
                    .min(self.image.len());
                FlashOp::Write {
                    slot: self.target,
                    offset: off as u64,
                    data: self.image.bytes[off..end].to_vec(),
                }
            }
            Step::Commit | Step::Finished => FlashOp::Commit(self.new_record()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::firmware::{FirmwareKey, Models, SignatureFile, sign};
    use alloc::vec;
    use ed25519_dalek::SigningKey;

    const T0: Instant = Instant::from_secs(50);

    fn verified(app: &str, bytes: Vec<u8>) -> VerifiedImage {
        let sk = SigningKey::from_bytes(&[7; 32]);
        let pk = FirmwareKey::from_bytes(&sk.verifying_key().to_bytes()).unwrap();
        let text = sign(&sk, app, Models::Any, &bytes).unwrap();
        let sig = SignatureFile::parse(text.as_bytes()).unwrap();
        let header = sig.check_for(&pk, "9608", app).unwrap().clone();
        VerifiedImage::new(&header, bytes).unwrap()
    }

    /// A flash whose power goes after `budget` operations; the op at the cut may be torn.
    #[derive(Clone)]
    struct SimFlash {
        slots: [Vec<u8>; 2],
        record: BootRecord,
        budget: usize,
        torn: bool,
    }

    impl SimFlash {
        fn new(factory: &[u8]) -> Self {
            SimFlash {
                slots: [factory.to_vec(), Vec::new()],
                record: BootRecord::factory(SlotImage::of("factory.bin", factory)),
                budget: usize::MAX,
                torn: false,
            }
        }

        /// Applies `op`; false when the power is gone.
        fn apply(&mut self, op: &FlashOp) -> bool {
            if self.budget == 0 {
                if self.torn {
                    // A torn write: half the chunk lands, then nothing.
                    if let FlashOp::Write { slot, offset, data } = op {
                        let s = &mut self.slots[slot.index()];
                        let half = &data[..data.len() / 2];
                        let off = *offset as usize;
                        s.truncate(off);
                        s.extend_from_slice(half);
                    }
                    self.torn = false;
                }
                return false;
            }
            self.budget -= 1;
            match op {
                FlashOp::Erase { slot, .. } => self.slots[slot.index()].clear(),
                FlashOp::Write { slot, offset, data } => {
                    let s = &mut self.slots[slot.index()];
                    assert_eq!(s.len() as u64, *offset, "writes are sequential");
                    s.extend_from_slice(data);
                }
                FlashOp::Commit(record) => self.record = record.clone(),
            }
            true
        }

        fn power_on(&mut self) -> Result<Slot, NoBootableSlot> {
            let slots = self.slots.clone();
            let choice = self
                .record
                .power_on(|s, img| img.matches(&slots[s.index()]))?;
            self.record = choice.record;
            Ok(choice.slot)
        }
    }

    /// Runs a flasher against `flash` until done or the power goes; returns the outputs seen.
    fn drive(flash: &mut SimFlash, image: VerifiedImage, chunk: usize) -> Vec<FlashOutput> {
        let config = FlashConfig {
            chunk,
            ..FlashConfig::default()
        };
        let mut f = Flasher::new(T0, &flash.record, image, config);
        let mut seen = Vec::new();
        for _ in 0..10_000 {
            let out = f.poll_output();
            seen.push(out.clone());
            match out {
                FlashOutput::Op(op) => {
                    if !flash.apply(&op) {
                        return seen;
                    }
                    f.handle_input(FlashInput::Done(T0));
                }
                FlashOutput::Done(_) => return seen,
                FlashOutput::Event(_) => {}
                FlashOutput::Timeout(t) => panic!("stalled at {t:?}"),
            }
        }
        panic!("flasher did not finish");
    }

    #[test]
    fn transcript() {
        let mut flash = SimFlash::new(b"factory image");
        let image = verified("new.bin", (0..250u8).collect());
        let seen = drive(&mut flash, image, 100);
        let ev = |e| FlashOutput::Event(e);
        let expected_record = {
            let mut r = BootRecord::factory(SlotImage::of("factory.bin", b"factory image"));
            r.slots[1] = Some(SlotImage::of("new.bin", &(0..250u8).collect::<Vec<_>>()));
            r.active = Slot::B;
            r.state = SlotState::Trial { boots_left: 3 };
            r
        };
        assert_eq!(
            seen,
            vec![
                ev(DisplayEvent::FileObtained { secs: 0 }),
                FlashOutput::Op(FlashOp::Erase {
                    slot: Slot::B,
                    length: 250
                }),
                FlashOutput::Op(FlashOp::Write {
                    slot: Slot::B,
                    offset: 0,
                    data: (0..100).collect()
                }),
                ev(DisplayEvent::SavingToFlash { percent: 40 }),
                FlashOutput::Op(FlashOp::Write {
                    slot: Slot::B,
                    offset: 100,
                    data: (100..200).collect()
                }),
                ev(DisplayEvent::SavingToFlash { percent: 80 }),
                FlashOutput::Op(FlashOp::Write {
                    slot: Slot::B,
                    offset: 200,
                    data: (200..250).collect()
                }),
                ev(DisplayEvent::SavingToFlash { percent: 100 }),
                FlashOutput::Op(FlashOp::Commit(expected_record.clone())),
                ev(DisplayEvent::Restarting),
                FlashOutput::Done(Ok(Slot::B)),
            ]
        );
        assert_eq!(flash.record, expected_record);
    }

    #[test]
    fn erase_seconds_count_and_failures_keep_the_old_record() {
        let record = BootRecord::factory(SlotImage::of("factory.bin", b"f"));
        let mut f = Flasher::new(
            T0,
            &record,
            verified("n.bin", vec![1; 10]),
            FlashConfig::default(),
        );
        assert_eq!(
            f.poll_output(),
            FlashOutput::Event(DisplayEvent::FileObtained { secs: 0 })
        );
        assert!(matches!(
            f.poll_output(),
            FlashOutput::Op(FlashOp::Erase { slot: Slot::B, .. })
        ));
        assert_eq!(
            f.poll_output(),
            FlashOutput::Timeout(T0 + Duration::from_secs(1))
        );
        f.handle_input(FlashInput::Timeout(T0 + Duration::from_millis(500)));
        assert_eq!(
            f.poll_output(),
            FlashOutput::Timeout(T0 + Duration::from_secs(1))
        );
        f.handle_input(FlashInput::Timeout(T0 + Duration::from_secs(2)));
        assert_eq!(
            f.poll_output(),
            FlashOutput::Event(DisplayEvent::FileObtained { secs: 2 })
        );
        assert_eq!(
            f.poll_output(),
            FlashOutput::Timeout(T0 + Duration::from_secs(3))
        );
        f.handle_input(FlashInput::Done(T0 + Duration::from_secs(2)));
        assert!(matches!(
            f.poll_output(),
            FlashOutput::Op(FlashOp::Write { .. })
        ));
        f.handle_input(FlashInput::Failed(T0 + Duration::from_secs(2)));
        assert_eq!(f.poll_output(), FlashOutput::Done(Err(Rejected::Flash)));
        assert_eq!(f.poll_output(), FlashOutput::Timeout(Instant::MAX));
        // A stray acknowledgement after the end changes nothing.
        f.handle_input(FlashInput::Done(T0));
        assert_eq!(f.poll_output(), FlashOutput::Timeout(Instant::MAX));
    }

    /// Power cut after every possible step, with and without a torn write: the phone always
    /// boots an image whose content matches its record, and it is the old one until the commit.
    #[test]
    fn power_cut_at_every_step() {
        let factory = b"factory image v1".to_vec();
        let new: Vec<u8> = (0..1000u32).map(|i| (i * 7 % 251) as u8).collect();
        let total_ops = 1 + 1000usize.div_ceil(64) + 1;
        for torn in [false, true] {
            for k in 0..=total_ops {
                let mut flash = SimFlash::new(&factory);
                flash.budget = k;
                flash.torn = torn;
                let seen = drive(&mut flash, verified("new.bin", new.clone()), 64);
                flash.budget = usize::MAX;
                let slot = flash.power_on().expect("always bootable");
                let content = &flash.slots[slot.index()];
                assert!(
                    flash.record.slot(slot).unwrap().matches(content),
                    "k={k} torn={torn}"
                );
                if k < total_ops {
                    assert_eq!(slot, Slot::A, "k={k}: old image until the commit");
                    assert_eq!(content, &factory);
                    assert!(!seen.contains(&FlashOutput::Done(Ok(Slot::B))));
                } else {
                    assert_eq!(slot, Slot::B);
                    assert_eq!(content, &new);
                    assert_eq!(flash.record.state, SlotState::Trial { boots_left: 2 });
                }
            }
        }
    }

    #[test]
    fn unconfirmed_slot_falls_back_after_its_trial_boots() {
        let mut flash = SimFlash::new(b"old");
        drive(&mut flash, verified("new.bin", b"new image".to_vec()), 4);
        // Three trial boots that never confirm, then the fallback.
        for left in [2, 1, 0] {
            assert_eq!(flash.power_on(), Ok(Slot::B));
            assert_eq!(flash.record.state, SlotState::Trial { boots_left: left });
        }
        assert_eq!(flash.power_on(), Ok(Slot::A));
        assert_eq!(flash.record.state, SlotState::Confirmed);
        assert_eq!(flash.record.running().unwrap().app, "factory.bin");
    }

    #[test]
    fn confirmed_slot_stays_and_a_corrupt_slot_falls_back() {
        let mut flash = SimFlash::new(b"old");
        drive(&mut flash, verified("new.bin", b"new image".to_vec()), 4);
        assert_eq!(flash.power_on(), Ok(Slot::B));
        flash.record = flash.record.confirmed();
        for _ in 0..5 {
            assert_eq!(flash.power_on(), Ok(Slot::B));
        }
        // The active slot's content no longer matches its record: fall back at once.
        flash.slots[1][0] ^= 0xff;
        assert_eq!(flash.power_on(), Ok(Slot::A));
        // Both broken: nothing to boot.
        flash.slots[0].clear();
        assert_eq!(flash.power_on(), Err(NoBootableSlot));
    }

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
    }

    mod prop {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn record_round_trip(app_a in "[A-Za-z0-9._-]{1,30}", app_b in proptest::option::of("[A-Za-z0-9._-]{1,30}"),
                                 len: u64, b_active: bool, trial in proptest::option::of(any::<u8>())) {
                let mut r = BootRecord::factory(SlotImage { app: app_a, length: len, sha256: [3; 32] });
                r.slots[1] = app_b.map(|app| SlotImage { app, length: len / 2, sha256: [9; 32] });
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
