//! The [`Flasher`]: writes a [`VerifiedImage`] into the inactive slot and commits the switch
//! (FIRMWARE.md §3), as a [`phone_sansio::Machine`].
//!
//! Transmits are [`FlashOp`]s on the one flash channel (peer `()`): the caller carries each
//! out and reports [`Input::Completed`] or [`Input::TransportFailed`]. One operation is out
//! at a time.
//!
//! Commit on take: the flasher's position (the next operation, the write offset, the count of
//! operations handed out) moves when the caller *takes* an operation from
//! [`Machine::poll_output`]. A caller that polls nothing moves nothing. An operation reported
//! failed is rolled back and handed out again, the same slot, offset and bytes, up to
//! [`FlashConfig::retries`] times; then the flasher gives up with
//! [`FlashEvent::Done`]`(Err(`[`Rejected::Flash`]`))` and the old record stays in force. The
//! display (`Saving to flash n%`) follows completed writes: it shows what is on the flash.

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::convert::Infallible;
use core::time::Duration;

use phone_sansio::{Input, Instant, Machine, Output};

use super::{BootRecord, Slot, SlotState, VerifiedImage};
use crate::files::display::DisplayEvent;
use crate::firmware::Rejected;

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

/// What the [`Flasher`] reports.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FlashEvent {
    /// Show this (display.md rows 11–13).
    Display(DisplayEvent),
    /// Finished: the slot now active, or why not (the old record stays in force). The last
    /// event.
    Done(Result<Slot, Rejected>),
}

/// Flash settings.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FlashConfig {
    /// Bytes per [`FlashOp::Write`].
    pub chunk: usize,
    /// Boots a new slot gets before the boot loader falls back.
    pub trial_boots: u8,
    /// Times one operation reported failed is handed out again before the flasher gives up.
    pub retries: u32,
}

impl Default for FlashConfig {
    fn default() -> Self {
        FlashConfig {
            chunk: 64 * 1024,
            trial_boots: 3,
            retries: 1,
        }
    }
}

/// The operation to hand out next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Erase,
    Write(usize),
    Commit,
    Finished,
}

/// Writes a [`VerifiedImage`] into the inactive slot and commits the switch. See the module
/// docs.
#[derive(Debug, Clone)]
pub struct Flasher {
    config: FlashConfig,
    record: BootRecord,
    target: Slot,
    image: VerifiedImage,
    now: Instant,
    obtained_at: Instant,
    /// The next operation to hand out.
    step: Step,
    /// The operation taken and not yet reported (its step, to roll back to on failure).
    in_flight: Option<Step>,
    events: VecDeque<FlashEvent>,
    percent: Option<u8>,
    secs_shown: u64,
    ops_taken: u32,
    /// Failures of the operation in hand.
    failures: u32,
    retries_total: u32,
}

impl Flasher {
    /// Starts flashing `image` at `now` into the slot that `record` does not boot. The first
    /// output is `File Obtained; please wait... 0 secs`, then the [`FlashOp::Erase`].
    #[must_use]
    pub fn new(
        config: FlashConfig,
        record: &BootRecord,
        image: VerifiedImage,
        now: Instant,
    ) -> Self {
        let mut events = VecDeque::new();
        events.push_back(FlashEvent::Display(DisplayEvent::FileObtained { secs: 0 }));
        Flasher {
            config,
            target: record.active.other(),
            record: record.clone(),
            image,
            now,
            obtained_at: now,
            step: Step::Erase,
            in_flight: None,
            events,
            percent: None,
            secs_shown: 0,
            ops_taken: 0,
            failures: 0,
            retries_total: 0,
        }
    }

    /// The slot being written.
    #[must_use]
    pub fn target(&self) -> Slot {
        self.target
    }

    /// Operations handed out so far (retries included).
    #[must_use]
    pub fn ops_taken(&self) -> u32 {
        self.ops_taken
    }

    /// Operations handed out again after a reported failure.
    #[must_use]
    pub fn retries(&self) -> u32 {
        self.retries_total
    }

    /// Image bytes written and acknowledged.
    #[must_use]
    pub fn written(&self) -> u64 {
        let at = match (self.in_flight, self.step) {
            (Some(s), _) | (None, s) => s,
        };
        match at {
            Step::Erase => 0,
            Step::Write(off) => off as u64,
            Step::Commit | Step::Finished => self.image.len() as u64,
        }
    }

    /// True once [`FlashEvent::Done`] is decided (it may not have been polled yet).
    #[must_use]
    pub fn is_finished(&self) -> bool {
        self.step == Step::Finished && self.in_flight.is_none()
    }

    /// The record [`FlashOp::Commit`] stores: the new slot active, on trial.
    #[must_use]
    pub fn new_record(&self) -> BootRecord {
        let mut record = self.record.clone();
        record.slots[self.target.index()] = Some(self.image.slot_image());
        record.active = self.target;
        record.state = SlotState::Trial {
            boots_left: self.config.trial_boots,
        };
        record
    }

    fn chunk_end(&self, off: usize) -> usize {
        off.saturating_add(self.config.chunk.max(1))
            .min(self.image.len())
    }

    /// `s secs` counts while the erase runs (display.md row 11).
    fn erase_tick(&mut self) {
        if self.in_flight == Some(Step::Erase) {
            let secs = self
                .now
                .saturating_duration_since(self.obtained_at)
                .as_secs();
            if secs > self.secs_shown {
                self.secs_shown = secs;
                self.events
                    .push_back(FlashEvent::Display(DisplayEvent::FileObtained { secs }));
            }
        }
    }

    fn completed(&mut self) {
        let Some(done) = self.in_flight.take() else {
            return;
        };
        self.failures = 0;
        match done {
            Step::Write(off) => {
                let next = self.chunk_end(off);
                let percent =
                    u8::try_from(next.saturating_mul(100) / self.image.len().max(1)).unwrap_or(100);
                if self.percent != Some(percent) {
                    self.percent = Some(percent);
                    self.events
                        .push_back(FlashEvent::Display(DisplayEvent::SavingToFlash { percent }));
                }
            }
            Step::Commit => {
                self.events
                    .push_back(FlashEvent::Display(DisplayEvent::Restarting));
                self.events.push_back(FlashEvent::Done(Ok(self.target)));
            }
            Step::Erase | Step::Finished => {}
        }
    }

    fn failed(&mut self) {
        let Some(step) = self.in_flight.take() else {
            return;
        };
        self.failures = self.failures.saturating_add(1);
        if self.failures > self.config.retries {
            self.step = Step::Finished;
            self.events
                .push_back(FlashEvent::Done(Err(Rejected::Flash)));
        } else {
            // Roll back: the same operation is handed out again on the next poll.
            self.retries_total = self.retries_total.saturating_add(1);
            self.step = step;
        }
    }

    /// Builds the operation for the current step and commits taking it.
    fn take(&mut self) -> FlashOp {
        let step = self.step;
        self.in_flight = Some(step);
        self.ops_taken = self.ops_taken.saturating_add(1);
        match step {
            Step::Erase => {
                self.step = Step::Write(0);
                FlashOp::Erase {
                    slot: self.target,
                    length: self.image.len() as u64,
                }
            }
            Step::Write(off) => {
                let end = self.chunk_end(off);
                self.step = if end >= self.image.len() {
                    Step::Commit
                } else {
                    Step::Write(end)
                };
                FlashOp::Write {
                    slot: self.target,
                    offset: off as u64,
                    data: self.image.bytes[off..end].to_vec(),
                }
            }
            Step::Commit | Step::Finished => {
                self.step = Step::Finished;
                FlashOp::Commit(self.new_record())
            }
        }
    }

    /// The next whole second since the image was obtained: always after `now`.
    fn erase_deadline(&self) -> Instant {
        let elapsed = self
            .now
            .saturating_duration_since(self.obtained_at)
            .as_secs();
        self.obtained_at
            .saturating_add(Duration::from_secs(elapsed.saturating_add(1)))
    }
}

impl Machine for Flasher {
    type Peer = ();
    type Command<'a> = Infallible;
    type Transmit = FlashOp;
    type Event = FlashEvent;

    fn handle_input(&mut self, input: Input<'_, (), Infallible>) {
        let now = input.now();
        if now > self.now {
            self.now = now;
        }
        match input {
            Input::Completed(..) => self.completed(),
            // A failed or broken flash channel: the operation in hand failed.
            Input::TransportFailed(..) | Input::Closed(..) => self.failed(),
            Input::Timeout(_) | Input::Receive(..) | Input::Command(..) => {}
        }
        self.erase_tick();
    }

    fn poll_output(&mut self) -> Output<FlashOp, FlashEvent> {
        if let Some(e) = self.events.pop_front() {
            return Output::Event(e);
        }
        if self.in_flight.is_none() && self.step != Step::Finished {
            return Output::Transmit(self.take());
        }
        Output::Timeout(self.poll_timeout().unwrap_or(Instant::MAX))
    }

    fn poll_timeout(&self) -> Option<Instant> {
        if !self.events.is_empty() || (self.in_flight.is_none() && self.step != Step::Finished) {
            return Some(self.now);
        }
        (self.in_flight == Some(Step::Erase)).then(|| self.erase_deadline())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::firmware::{FirmwareKey, Models, SignatureFile, sign};
    use crate::flash::{NoBootableSlot, SlotImage};
    use alloc::vec;
    use ed25519_dalek::SigningKey;
    use phone_sansio::harness::{Logged, Transcript};

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

    /// What a drive saw, in order.
    #[derive(Debug, Clone, PartialEq, Eq)]
    enum Seen {
        Op(FlashOp),
        Event(FlashEvent),
    }

    /// Runs a flasher against `flash` until done or the power goes; returns the outputs seen.
    fn drive(flash: &mut SimFlash, image: VerifiedImage, chunk: usize) -> Vec<Seen> {
        let config = FlashConfig {
            chunk,
            ..FlashConfig::default()
        };
        let mut f = Flasher::new(config, &flash.record, image, T0);
        let mut seen = Vec::new();
        for _ in 0..10_000 {
            match f.poll_output() {
                Output::Transmit(op) => {
                    seen.push(Seen::Op(op.clone()));
                    if !flash.apply(&op) {
                        return seen;
                    }
                    f.handle_input(Input::Completed(T0, ()));
                }
                Output::Event(e) => {
                    let done = matches!(e, FlashEvent::Done(_));
                    seen.push(Seen::Event(e));
                    if done {
                        return seen;
                    }
                }
                Output::Timeout(t) => panic!("stalled at {t:?}"),
            }
        }
        panic!("flasher did not finish");
    }

    fn display(e: DisplayEvent) -> Seen {
        Seen::Event(FlashEvent::Display(e))
    }

    #[test]
    fn transcript() {
        let mut flash = SimFlash::new(b"factory image");
        let image = verified("new.bin", (0..250u8).collect());
        let seen = drive(&mut flash, image, 100);
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
                display(DisplayEvent::FileObtained { secs: 0 }),
                Seen::Op(FlashOp::Erase {
                    slot: Slot::B,
                    length: 250
                }),
                Seen::Op(FlashOp::Write {
                    slot: Slot::B,
                    offset: 0,
                    data: (0..100).collect()
                }),
                display(DisplayEvent::SavingToFlash { percent: 40 }),
                Seen::Op(FlashOp::Write {
                    slot: Slot::B,
                    offset: 100,
                    data: (100..200).collect()
                }),
                display(DisplayEvent::SavingToFlash { percent: 80 }),
                Seen::Op(FlashOp::Write {
                    slot: Slot::B,
                    offset: 200,
                    data: (200..250).collect()
                }),
                display(DisplayEvent::SavingToFlash { percent: 100 }),
                Seen::Op(FlashOp::Commit(expected_record.clone())),
                display(DisplayEvent::Restarting),
                Seen::Event(FlashEvent::Done(Ok(Slot::B))),
            ]
        );
        assert_eq!(flash.record, expected_record);
    }

    #[test]
    fn erase_seconds_count_and_failures_keep_the_old_record() {
        let record = BootRecord::factory(SlotImage::of("factory.bin", b"f"));
        let mut f = Flasher::new(
            FlashConfig::default(),
            &record,
            verified("n.bin", vec![1; 10]),
            T0,
        );
        assert_eq!(
            f.poll_output(),
            Output::Event(FlashEvent::Display(DisplayEvent::FileObtained { secs: 0 }))
        );
        assert!(matches!(
            f.poll_output(),
            Output::Transmit(FlashOp::Erase { slot: Slot::B, .. })
        ));
        assert_eq!(
            f.poll_output(),
            Output::Timeout(T0 + Duration::from_secs(1))
        );
        f.handle_input(Input::Timeout(T0 + Duration::from_millis(500)));
        assert_eq!(
            f.poll_output(),
            Output::Timeout(T0 + Duration::from_secs(1))
        );
        f.handle_input(Input::Timeout(T0 + Duration::from_secs(2)));
        assert_eq!(
            f.poll_output(),
            Output::Event(FlashEvent::Display(DisplayEvent::FileObtained { secs: 2 }))
        );
        assert_eq!(
            f.poll_output(),
            Output::Timeout(T0 + Duration::from_secs(3))
        );
        f.handle_input(Input::Completed(T0 + Duration::from_secs(2), ()));
        assert!(matches!(
            f.poll_output(),
            Output::Transmit(FlashOp::Write { .. })
        ));
        // The first failure is retried (FlashConfig::retries = 1), the second gives up.
        f.handle_input(Input::TransportFailed(T0 + Duration::from_secs(2), ()));
        assert!(matches!(
            f.poll_output(),
            Output::Transmit(FlashOp::Write { offset: 0, .. })
        ));
        f.handle_input(Input::TransportFailed(T0 + Duration::from_secs(2), ()));
        assert_eq!(
            f.poll_output(),
            Output::Event(FlashEvent::Done(Err(Rejected::Flash)))
        );
        assert_eq!(f.poll_output(), Output::Timeout(Instant::MAX));
        // A stray acknowledgement after the end changes nothing.
        f.handle_input(Input::Completed(T0, ()));
        assert_eq!(f.poll_output(), Output::Timeout(Instant::MAX));
    }

    /// Commit on take (issue 10): polling nothing moves nothing; a taken operation reported
    /// failed is handed out again with the same slot, offset and bytes, and the position moves
    /// on only once it completes.
    #[test]
    fn commit_on_take() {
        let record = BootRecord::factory(SlotImage::of("factory.bin", b"f"));
        let image: Vec<u8> = (0..=255u8).collect();
        let config = FlashConfig {
            chunk: 100,
            retries: 2,
            ..FlashConfig::default()
        };
        let mut f = Flasher::new(config, &record, verified("n.bin", image.clone()), T0);
        // Inputs without polls: no operation is taken, nothing moves.
        for s in 1..5 {
            f.handle_input(Input::Timeout(T0 + Duration::from_secs(s)));
            f.handle_input(Input::Completed(T0 + Duration::from_secs(s), ()));
            f.handle_input(Input::TransportFailed(T0 + Duration::from_secs(s), ()));
        }
        assert_eq!((f.ops_taken(), f.written(), f.retries()), (0, 0, 0));
        assert_eq!(f.poll_timeout(), Some(T0 + Duration::from_secs(4)));

        let later = T0 + Duration::from_secs(4);
        let mut t = Transcript::new(f, later);
        assert_eq!(
            t.log,
            [
                Logged::Event(
                    later,
                    FlashEvent::Display(DisplayEvent::FileObtained { secs: 0 })
                ),
                Logged::Transmit(
                    later,
                    FlashOp::Erase {
                        slot: Slot::B,
                        length: 256
                    }
                ),
            ]
        );
        assert_eq!(t.machine.ops_taken(), 1);
        // The erase fails: it is handed out again, counted as a retry.
        let log = t.input(Input::TransportFailed(later, ())).to_vec();
        assert_eq!(
            log,
            [Logged::Transmit(
                later,
                FlashOp::Erase {
                    slot: Slot::B,
                    length: 256
                }
            )]
        );
        assert_eq!((t.machine.ops_taken(), t.machine.retries()), (2, 1));
        t.input(Input::Completed(later, ()));
        assert_eq!(t.machine.written(), 0);
        let first = FlashOp::Write {
            slot: Slot::B,
            offset: 0,
            data: image[..100].to_vec(),
        };
        assert_eq!(t.transmits().last(), Some(&&first));
        // The first write fails twice: the same offset and bytes each time.
        for _ in 0..2 {
            let log = t.input(Input::TransportFailed(later, ())).to_vec();
            assert_eq!(log, [Logged::Transmit(later, first.clone())]);
            assert_eq!(t.machine.written(), 0);
        }
        assert_eq!((t.machine.ops_taken(), t.machine.retries()), (5, 3));
        let log = t.input(Input::Completed(later, ())).to_vec();
        assert_eq!(
            log,
            [
                Logged::Event(
                    later,
                    FlashEvent::Display(DisplayEvent::SavingToFlash { percent: 39 })
                ),
                Logged::Transmit(
                    later,
                    FlashOp::Write {
                        slot: Slot::B,
                        offset: 100,
                        data: image[100..200].to_vec(),
                    }
                ),
            ]
        );
        assert_eq!(t.machine.written(), 100);
        // Three failures of one operation exceed retries = 2: give up, no commit.
        for _ in 0..2 {
            t.input(Input::TransportFailed(later, ()));
        }
        let log = t.input(Input::TransportFailed(later, ())).to_vec();
        assert_eq!(
            log,
            [Logged::Event(later, FlashEvent::Done(Err(Rejected::Flash)))]
        );
        assert!(
            !t.transmits()
                .iter()
                .any(|op| matches!(op, FlashOp::Commit(_)))
        );
        assert!(t.machine.is_finished());
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
                    assert!(!seen.contains(&Seen::Event(FlashEvent::Done(Ok(Slot::B)))));
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
}
