//! Every boot replayable and visible (issue 15): a recorded [`Trace`] of a [`Boot`], its
//! deterministic [`replay`], and a [`timeline`] picture.
//!
//! The boot is deterministic by construction: time and randomness come in from the caller. So
//! the RNG seed, the configuration and the stored record at power-on, plus every input with its
//! instant, are enough to run the same boot again anywhere; recording every output as well
//! lets the replay check, output by output, that it did.
//!
//! - [`Recorder`] wraps a [`Boot`] and is itself a [`Machine`]: the caller drives it exactly
//!   like the boot (it derefs to the boot for `record()`, `phase()`, `prompt()`, ...). Each
//!   `handle_input` and each `poll_output` is appended to the [`Trace`] in call order, so the
//!   replay makes the same calls in the same order (outputs commit on take: the order of polls
//!   matters). A restart is a new [`Recorder::power_on`] on the same trace.
//! - [`Trace::encode`] writes the versioned, bounded binary format of `TRACE.md`;
//!   [`Trace::decode`] reads it back with every size checked before anything is allocated.
//!   Secrets (typed passwords, `--password`, the SCEP key and challenge, password-like
//!   parameters, the seed that generated a SCEP key) are written as references `secret#n` into
//!   a side file that replay needs and the timeline does not.
//! - [`replay`] runs a fresh [`Boot`] per power-on on the recorded inputs and compares every
//!   output; the first difference is a [`Divergence`] showing both sides.
//! - [`timeline`] draws the trace as one self-contained SVG: the stages as bars on a time axis,
//!   every DHCP message, HTTP request, SCEP operation, flash and REGISTER as a mark, failures
//!   and retries in red, and the display line at each moment.
//!
//! ```
//! use phone_boot::boot::record::Record;
//! use phone_boot::boot::{BootConfig, Peer};
//! use phone_boot::files::StageConfig;
//! use phone_boot::flash::{BootRecord, SlotImage};
//! use phone_boot::trace::{Recorder, Trace, replay};
//! use phone_sansio::{Input, Instant, Machine, Output};
//! use rand_chacha::ChaCha20Rng;
//!
//! let slots = BootRecord::factory(SlotImage::of("factory.bin", b"image"));
//! let config = BootConfig::new(StageConfig::new("9611G", [2, 0, 0, 0, 0, 1], "SN1", slots));
//! let now = Instant::from_secs(1);
//! let mut boot: Recorder<_> =
//!     Recorder::<phone_boot::boot::Boot<ChaCha20Rng>>::power_on(Some(Trace::new()), config, Record::default(), [7; 32], now);
//! while !matches!(boot.poll_output(), Output::Timeout(_)) {}
//! boot.handle_input(Input::TransportFailed(now, Peer::Dhcp(phone_dhcp::Link::Udp)));
//! while !matches!(boot.poll_output(), Output::Timeout(_)) {}
//! let trace = boot.into_trace().unwrap();
//! let file = trace.encode();
//! let back = Trace::decode(&file.trace, file.secrets.as_deref())?;
//! assert!(replay::<ChaCha20Rng>(&back).is_ok());
//! # Ok::<(), phone_boot::trace::TraceError>(())
//! ```

mod codec;
mod describe;
mod replay;
#[cfg(test)]
mod tests;
mod timeline;

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;
use core::ops::Deref;

use phone_sansio::{Input, Instant, Machine, Output};
use rand_core::{CryptoRng, SeedableRng};

use crate::boot::display::Screen;
use crate::boot::record::Record;
use crate::boot::warning::Warning;
use crate::boot::{Boot, BootConfig, Command, CraftCommand, Event, Peer, Prompt, Stage, Transmit};
use crate::files::display::DisplayEvent;

pub use codec::{Encoded, TraceError};
pub use describe::{describe_input, describe_output};
pub use replay::{Divergence, ReplayError, Replayed, replay};
pub use timeline::timeline;

/// The format version [`Trace::encode`] writes and [`Trace::decode`] reads.
pub const VERSION: u8 = 1;

/// Secrets shorter than this are not searched for in recorded bytes (a two-letter password
/// would match all over a firmware image): the trace then says it may hold secrets in the
/// clear ([`Trace::secrets_in_clear`]).
pub const MIN_SCANNED_SECRET: usize = 4;

/// The bounds of a trace, recorded or decoded. Recording stops at the first one reached (the
/// boot goes on; [`Trace::stopped`] says which); decoding refuses a file past any of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most entries (inputs and outputs) in the whole trace.
    pub max_entries: u64,
    /// Most bytes one entry may hold (the largest is a power-on: configuration and record).
    pub max_entry_bytes: usize,
    /// Most bytes of the whole trace, and most bytes a decode may produce.
    pub max_total_bytes: u64,
    /// Most power-ons (restarts) in one trace.
    pub max_power_ons: usize,
    /// Most distinct secrets kept out of the trace.
    pub max_secrets: usize,
    /// Longest secret.
    pub max_secret_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_entries: 4_000_000,
            max_entry_bytes: 16 * 1024 * 1024,
            max_total_bytes: 512 * 1024 * 1024,
            max_power_ons: 64,
            max_secrets: 256,
            max_secret_bytes: 64 * 1024,
        }
    }
}

/// Which bound stopped a recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitHit {
    /// [`Limits::max_entries`].
    Entries,
    /// [`Limits::max_entry_bytes`].
    EntryBytes,
    /// [`Limits::max_total_bytes`].
    TotalBytes,
    /// [`Limits::max_power_ons`].
    PowerOns,
}

impl fmt::Display for LimitHit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LimitHit::Entries => "too many entries",
            LimitHit::EntryBytes => "an entry too large",
            LimitHit::TotalBytes => "the trace too large",
            LimitHit::PowerOns => "too many power-ons",
        })
    }
}

/// A recorded boot: one [`PowerOn`] per `Boot::new`, each with its inputs and outputs in call
/// order.
#[derive(Debug, Clone)]
pub struct Trace {
    /// What wrote the trace (crate name and version).
    pub producer: String,
    /// The RNG type the boot ran with (replay needs the same).
    pub rng: String,
    /// The power-ons, in order.
    pub power_ons: Vec<PowerOn>,
    /// Recording stopped here: a bound was reached; what follows was not recorded.
    pub stopped: Option<LimitHit>,
    /// Some secret may be in the trace in the clear (shorter than [`MIN_SCANNED_SECRET`], or
    /// past [`Limits::max_secrets`]); the trace file should be kept like the secrets file.
    pub secrets_in_clear: bool,
    /// Secret references left unresolved by a decode without the secrets file: their bytes
    /// read `<secret#n>`. Replay needs them; the timeline does not.
    pub unresolved: Vec<u32>,
    limits: Limits,
    entries: u64,
    bytes: u64,
    secrets: Vec<Vec<u8>>,
}

impl Default for Trace {
    fn default() -> Self {
        Trace::new()
    }
}

/// One power-on: what `Boot::new` was given, and everything after.
#[derive(Debug, Clone)]
pub struct PowerOn {
    /// The `now` of `Boot::new`.
    pub at: Instant,
    /// The RNG seed.
    pub seed: Vec<u8>,
    /// The configuration.
    pub config: BootConfig,
    /// The stored record at power-on.
    pub record: Record,
    /// The configuration survives the encoding exactly (checked when recording: a field the
    /// encoding does not know would make replay diverge for no fault of the boot).
    pub faithful: bool,
    /// This power-on stored a SCEP identity generated from its seed: the seed is a secret.
    pub made_identity: bool,
    /// Inputs and outputs in call order.
    pub entries: Vec<Entry>,
}

/// One call on the machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// `handle_input`.
    Input(InputRecord),
    /// `poll_output` and what it returned.
    Output(OutputRecord),
}

/// An input as recorded: [`Input`] with owned bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputRecord {
    /// [`Input::Timeout`].
    Timeout(Instant),
    /// [`Input::Receive`].
    Receive(Instant, Peer, Vec<u8>),
    /// [`Input::Completed`].
    Completed(Instant, Peer),
    /// [`Input::Closed`].
    Closed(Instant, Peer),
    /// [`Input::TransportFailed`].
    TransportFailed(Instant, Peer),
    /// [`Input::Command`].
    Command(Instant, CommandRecord),
}

/// A [`Command`] as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandRecord {
    /// [`Command::Program`].
    Program,
    /// [`Command::Craft`].
    Craft(CraftCommand),
    /// [`Command::Entry`]; `secret` when typed at the `Password:` prompt (kept out of the
    /// trace file).
    Entry {
        /// The text typed.
        text: String,
        /// Typed at `Password:`.
        secret: bool,
    },
}

/// An output as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputRecord {
    /// [`Output::Transmit`], whole.
    Transmit(Transmit),
    /// [`Output::Event`], as a typed summary and its full `Debug` form.
    Event(EventRecord),
    /// [`Output::Timeout`].
    Timeout(Instant),
}

/// An [`Event`] as recorded: what kind (typed, for the timeline), its text for people, and
/// its complete `Debug` form, which replay compares (every field of the event, nothing is
/// parsed back out of it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRecord {
    /// The kind.
    pub kind: EventKind,
    /// For people: the display line, the warning's log line, ...
    pub text: String,
    /// `format!("{event:?}")`: equality of this is equality of the events.
    pub detail: String,
}

/// The kind of a recorded [`Event`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// [`Event::Display`], by the screen shown.
    Display(ScreenKind),
    /// [`Event::Configure`].
    Configure,
    /// [`Event::Deconfigure`].
    Deconfigure,
    /// [`Event::Vlan`].
    Vlan,
    /// [`Event::Reached`].
    Reached(Stage),
    /// [`Event::RecordChanged`].
    RecordChanged,
    /// [`Event::Installed`].
    Installed,
    /// [`Event::Restart`].
    Restart,
    /// [`Event::Registered`].
    Registered,
    /// [`Event::Warning`], by the warning's variant.
    Warning(WarningKind),
    /// [`Event::View`].
    View,
    /// [`Event::Lldp`].
    Lldp,
    /// [`Event::Dot1x`].
    Dot1x,
}

/// The variant of a recorded [`Screen`] (file-stage screens by their own variant).
#[allow(missing_docs)] // One per `Screen` variant, same names; `File*` per `DisplayEvent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScreenKind {
    Restarting,
    Initializing,
    Loading,
    Starting,
    Dhcp,
    ProgramSoftkey,
    VlanId,
    AddressConflict,
    FileHttp,
    FileReceived,
    FileObtained,
    FileSaving,
    FileRestarting,
    ContactingCallServer,
    Scep,
    Extension,
    Password,
    Registering,
    RegistrationFailed,
    Idle,
    Craft,
    Dot1x,
    Dot1xFailed,
}

impl ScreenKind {
    /// Every kind, in the encoding's order.
    pub const ALL: [ScreenKind; 23] = [
        ScreenKind::Restarting,
        ScreenKind::Initializing,
        ScreenKind::Loading,
        ScreenKind::Starting,
        ScreenKind::Dhcp,
        ScreenKind::ProgramSoftkey,
        ScreenKind::VlanId,
        ScreenKind::AddressConflict,
        ScreenKind::FileHttp,
        ScreenKind::FileReceived,
        ScreenKind::FileObtained,
        ScreenKind::FileSaving,
        ScreenKind::FileRestarting,
        ScreenKind::ContactingCallServer,
        ScreenKind::Scep,
        ScreenKind::Extension,
        ScreenKind::Password,
        ScreenKind::Registering,
        ScreenKind::RegistrationFailed,
        ScreenKind::Idle,
        ScreenKind::Craft,
        ScreenKind::Dot1x,
        ScreenKind::Dot1xFailed,
    ];

    fn of(s: &Screen) -> ScreenKind {
        match s {
            Screen::Restarting => ScreenKind::Restarting,
            Screen::Initializing => ScreenKind::Initializing,
            Screen::Loading => ScreenKind::Loading,
            Screen::Starting => ScreenKind::Starting,
            Screen::Dhcp { .. } => ScreenKind::Dhcp,
            Screen::Dot1x { .. } => ScreenKind::Dot1x,
            Screen::Dot1xFailed => ScreenKind::Dot1xFailed,
            Screen::ProgramSoftkey => ScreenKind::ProgramSoftkey,
            Screen::VlanId(_) => ScreenKind::VlanId,
            Screen::AddressConflict => ScreenKind::AddressConflict,
            Screen::File(DisplayEvent::Http { .. }) => ScreenKind::FileHttp,
            Screen::File(DisplayEvent::Received { .. }) => ScreenKind::FileReceived,
            Screen::File(DisplayEvent::FileObtained { .. }) => ScreenKind::FileObtained,
            Screen::File(DisplayEvent::SavingToFlash { .. }) => ScreenKind::FileSaving,
            Screen::File(DisplayEvent::Restarting) => ScreenKind::FileRestarting,
            Screen::ContactingCallServer => ScreenKind::ContactingCallServer,
            Screen::Scep { .. } => ScreenKind::Scep,
            Screen::Extension => ScreenKind::Extension,
            Screen::Password => ScreenKind::Password,
            Screen::Registering => ScreenKind::Registering,
            Screen::RegistrationFailed => ScreenKind::RegistrationFailed,
            Screen::Idle { .. } => ScreenKind::Idle,
            Screen::Craft => ScreenKind::Craft,
        }
    }
}

/// The variant of a recorded [`Warning`].
#[allow(missing_docs)] // One per `Warning` variant, same names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WarningKind {
    Setting,
    OperatorSetting,
    LeaseLost,
    AddressConflict,
    Dhcp,
    Files,
    SoftwareRejected,
    ScepStart,
    ScepRetry,
    ScepRejected,
    ScepFailed,
    IdentityNotStored,
    SipSetting,
    NoController,
    ControllerFailed,
    Dns,
}

impl WarningKind {
    fn of(w: &Warning) -> WarningKind {
        match w {
            Warning::Setting(_) => WarningKind::Setting,
            Warning::OperatorSetting(_) => WarningKind::OperatorSetting,
            Warning::LeaseLost(_) => WarningKind::LeaseLost,
            Warning::AddressConflict(_) => WarningKind::AddressConflict,
            Warning::Dhcp(_) => WarningKind::Dhcp,
            Warning::Files(_) => WarningKind::Files,
            Warning::SoftwareRejected { .. } => WarningKind::SoftwareRejected,
            Warning::ScepStart(_) => WarningKind::ScepStart,
            Warning::ScepRetry { .. } => WarningKind::ScepRetry,
            Warning::ScepRejected(_) => WarningKind::ScepRejected,
            Warning::ScepFailed(_) => WarningKind::ScepFailed,
            Warning::IdentityNotStored => WarningKind::IdentityNotStored,
            Warning::SipSetting { .. } => WarningKind::SipSetting,
            Warning::NoController => WarningKind::NoController,
            Warning::ControllerFailed { .. } => WarningKind::ControllerFailed,
            Warning::Dns(_) => WarningKind::Dns,
        }
    }

    /// Whether the warning reports a failure or a retry (drawn red) rather than a notice.
    #[must_use]
    pub fn is_failure(self) -> bool {
        !matches!(
            self,
            WarningKind::Setting
                | WarningKind::OperatorSetting
                | WarningKind::Dhcp
                | WarningKind::SipSetting
        )
    }
}

/// The name of a stage, lower case.
#[must_use]
pub fn stage_name(s: Stage) -> &'static str {
    match s {
        Stage::Network => "network",
        Stage::Files => "files",
        Stage::Certificate => "certificate",
        Stage::Registered => "registered",
    }
}

impl EventRecord {
    /// The record of `e`.
    #[must_use]
    pub fn of(e: &Event) -> EventRecord {
        let (kind, text) = match e {
            Event::Display(s) => (EventKind::Display(ScreenKind::of(s)), s.to_string()),
            Event::Configure(n) => (
                EventKind::Configure,
                alloc::format!(
                    "address {}/{} routers {:?} lease {} s",
                    n.address,
                    u32::from(n.mask).leading_ones(),
                    n.routers,
                    n.lease_secs
                ),
            ),
            Event::Deconfigure => (EventKind::Deconfigure, "address removed".into()),
            Event::Vlan(v) => (EventKind::Vlan, alloc::format!("DHCP on {v}")),
            Event::Reached(s) => (
                EventKind::Reached(*s),
                alloc::format!("reached {}", stage_name(*s)),
            ),
            Event::RecordChanged => (EventKind::RecordChanged, "record changed".into()),
            Event::Installed { name, slot } => (
                EventKind::Installed,
                alloc::format!("installed {name} in slot {slot}"),
            ),
            Event::Restart => (EventKind::Restart, "restart".into()),
            Event::Registered {
                controller,
                expires,
            } => (
                EventKind::Registered,
                alloc::format!("registered with {controller} for {expires} s"),
            ),
            Event::Warning(w) => (EventKind::Warning(WarningKind::of(w)), w.to_string()),
            Event::View(lines) => (
                EventKind::View,
                alloc::format!("VIEW: {} parameters", lines.len()),
            ),
            Event::Lldp(l) => (EventKind::Lldp, l.to_string()),
            Event::Dot1x(d) => (EventKind::Dot1x, d.to_string()),
        };
        EventRecord {
            kind,
            text,
            detail: alloc::format!("{e:?}"),
        }
    }
}

impl InputRecord {
    /// The record of `input`; `secret` marks an entry typed at `Password:`.
    #[must_use]
    pub fn of(input: &Input<'_, Peer, Command<'_>>, secret: bool) -> InputRecord {
        match *input {
            Input::Timeout(t) => InputRecord::Timeout(t),
            Input::Receive(t, p, b) => InputRecord::Receive(t, p, b.to_vec()),
            Input::Completed(t, p) => InputRecord::Completed(t, p),
            Input::Closed(t, p) => InputRecord::Closed(t, p),
            Input::TransportFailed(t, p) => InputRecord::TransportFailed(t, p),
            Input::Command(t, c) => InputRecord::Command(
                t,
                match c {
                    Command::Program => CommandRecord::Program,
                    Command::Craft(c) => CommandRecord::Craft(c),
                    Command::Entry(text) => CommandRecord::Entry {
                        text: text.into(),
                        secret,
                    },
                },
            ),
        }
    }

    /// The input to feed again.
    #[must_use]
    pub fn as_input(&self) -> Input<'_, Peer, Command<'_>> {
        match self {
            InputRecord::Timeout(t) => Input::Timeout(*t),
            InputRecord::Receive(t, p, b) => Input::Receive(*t, *p, b),
            InputRecord::Completed(t, p) => Input::Completed(*t, *p),
            InputRecord::Closed(t, p) => Input::Closed(*t, *p),
            InputRecord::TransportFailed(t, p) => Input::TransportFailed(*t, *p),
            InputRecord::Command(t, c) => Input::Command(
                *t,
                match c {
                    CommandRecord::Program => Command::Program,
                    CommandRecord::Craft(c) => Command::Craft(*c),
                    CommandRecord::Entry { text, .. } => Command::Entry(text),
                },
            ),
        }
    }

    /// The input's instant.
    #[must_use]
    pub fn now(&self) -> Instant {
        match self {
            InputRecord::Timeout(t)
            | InputRecord::Receive(t, ..)
            | InputRecord::Completed(t, _)
            | InputRecord::Closed(t, _)
            | InputRecord::TransportFailed(t, _)
            | InputRecord::Command(t, _) => *t,
        }
    }

    /// Bytes this input holds (for the bounds).
    fn weight(&self) -> usize {
        match self {
            InputRecord::Receive(_, _, b) => b.len(),
            InputRecord::Command(_, CommandRecord::Entry { text, .. }) => text.len(),
            _ => 0,
        }
    }
}

impl OutputRecord {
    /// The record of `out`.
    #[must_use]
    pub fn of(out: &Output<Transmit, Event>) -> OutputRecord {
        match out {
            Output::Transmit(t) => OutputRecord::Transmit(t.clone()),
            Output::Event(e) => OutputRecord::Event(EventRecord::of(e)),
            Output::Timeout(t) => OutputRecord::Timeout(*t),
        }
    }

    /// Bytes this output holds (for the bounds).
    fn weight(&self) -> usize {
        match self {
            OutputRecord::Transmit(t) => transmit_weight(t),
            OutputRecord::Event(e) => e.text.len() + e.detail.len(),
            OutputRecord::Timeout(_) => 0,
        }
    }
}

fn transmit_weight(t: &Transmit) -> usize {
    use crate::flash::FlashOp;
    match t {
        Transmit::Dhcp(phone_dhcp::Transmit::Udp { payload, .. }) => payload.len(),
        Transmit::Dhcp(phone_dhcp::Transmit::Arp(_)) => 28,
        Transmit::Files(h) | Transmit::Scep(h) => match &h.action {
            phone_http::Action::Connect { host, tls, .. } => {
                host.len() + tls.as_ref().map_or(0, |t| t.server_name.len())
            }
            phone_http::Action::StartTls(t) => t.server_name.len(),
            phone_http::Action::Send(b) => b.len(),
            phone_http::Action::Close => 0,
        },
        Transmit::Flash(FlashOp::Write { data, .. }) => data.len(),
        Transmit::Flash(FlashOp::Commit(_)) => 256,
        Transmit::Flash(FlashOp::Erase { .. }) => 0,
        Transmit::Sip(s) => s.payload.len() + s.target.host.len(),
        Transmit::Dns(d) => d.payload.len(),
        Transmit::Lldp(l) => l.payload.len(),
        Transmit::Eapol(e) => e.payload.len(),
    }
}

/// Fixed bytes counted per entry on top of its payload.
const ENTRY_OVERHEAD: usize = 32;

impl Trace {
    /// An empty trace with the default [`Limits`].
    #[must_use]
    pub fn new() -> Self {
        Trace::with_limits(Limits::default())
    }

    /// An empty trace with these bounds.
    #[must_use]
    pub fn with_limits(limits: Limits) -> Self {
        Trace {
            producer: alloc::format!("{} {}", env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION")),
            rng: String::new(),
            power_ons: Vec::new(),
            stopped: None,
            secrets_in_clear: false,
            unresolved: Vec::new(),
            limits,
            entries: 0,
            bytes: 0,
            secrets: Vec::new(),
        }
    }

    /// The bounds in force.
    #[must_use]
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Entries (inputs and outputs) over all power-ons.
    #[must_use]
    pub fn entry_count(&self) -> u64 {
        self.entries
    }

    /// Marks `value` as a secret: wherever it occurs in the recorded bytes it is written as a
    /// reference into the secrets file. Empty values are ignored.
    pub fn add_secret(&mut self, value: &[u8]) {
        if value.is_empty() || self.secrets.iter().any(|s| s == value) {
            return;
        }
        if self.secrets.len() >= self.limits.max_secrets
            || value.len() > self.limits.max_secret_bytes
        {
            self.secrets_in_clear = true;
            return;
        }
        if value.len() < MIN_SCANNED_SECRET {
            self.secrets_in_clear = true;
        }
        self.secrets.push(value.to_vec());
    }

    fn add_config_secrets(&mut self, config: &BootConfig) {
        if let Some((_, p)) = &config.credentials {
            self.add_secret(p.as_bytes());
        }
        for (n, v) in &config.sets {
            if is_secret_name(n) {
                self.add_secret(v.as_bytes());
            }
        }
    }

    fn add_record_secrets(&mut self, record: &Record) {
        if let Some((_, p)) = &record.credentials {
            self.add_secret(p.as_bytes());
        }
        if let Some(id) = &record.identity {
            self.add_secret(&id.key_pkcs8);
        }
    }

    /// Learns the secrets the boot holds now: credentials and key in its record, password-like
    /// parameters in its settings.
    fn learn<R: CryptoRng + SeedableRng>(&mut self, boot: &Boot<R>) {
        self.add_record_secrets(boot.record());
        let values: Vec<Vec<u8>> = boot
            .settings()
            .effective()
            .filter(|e| {
                e.source != phone_settings::Source::Default
                    && (is_secret_name(e.name)
                        || e.param.is_some_and(|p| {
                            matches!(p.ty, phone_settings::value::ValueType::Secret { .. })
                        }))
            })
            .map(|e| e.value.to_vec())
            .collect();
        for v in values {
            self.add_secret(&v);
        }
        if let Some(p) = self.power_ons.last_mut()
            && boot.record().identity.is_some()
            && boot.record().identity != p.record.identity
        {
            p.made_identity = true;
        }
    }

    fn begin(&mut self, power_on: PowerOn) {
        if self.stopped.is_some() {
            return;
        }
        if self.power_ons.len() >= self.limits.max_power_ons {
            self.stopped = Some(LimitHit::PowerOns);
            return;
        }
        let weight = ENTRY_OVERHEAD
            + power_on.record.settings.as_ref().map_or(0, Vec::len)
            + power_on
                .record
                .trust_certs
                .iter()
                .map(|(n, p)| n.len() + p.len())
                .sum::<usize>()
            + power_on.record.identity.as_ref().map_or(0, |i| {
                i.key_pkcs8.len() + i.certificate.len() + i.ca.iter().map(Vec::len).sum::<usize>()
            })
            + 4096;
        if self.admit(weight, false) {
            self.power_ons.push(power_on);
        }
    }

    /// Counts `weight` bytes (and an entry, when `entry`) against the bounds; `false` (and
    /// recording stops) when they do not fit.
    fn admit(&mut self, weight: usize, entry: bool) -> bool {
        if self.stopped.is_some() {
            return false;
        }
        let hit = if self.entries >= self.limits.max_entries {
            Some(LimitHit::Entries)
        } else if weight > self.limits.max_entry_bytes {
            Some(LimitHit::EntryBytes)
        } else if self.bytes.saturating_add(weight as u64) > self.limits.max_total_bytes {
            Some(LimitHit::TotalBytes)
        } else {
            None
        };
        if let Some(h) = hit {
            self.stopped = Some(h);
            return false;
        }
        self.entries += u64::from(entry);
        self.bytes += weight as u64;
        true
    }

    fn push(&mut self, entry: Entry) {
        if self.power_ons.is_empty() {
            return;
        }
        let weight = ENTRY_OVERHEAD
            + match &entry {
                Entry::Input(i) => i.weight(),
                Entry::Output(o) => o.weight(),
            };
        if self.admit(weight, true)
            && let Some(p) = self.power_ons.last_mut()
        {
            p.entries.push(entry);
        }
    }
}

/// Whether a parameter or `--set` name holds a secret (a password, a PIN, a challenge).
#[must_use]
pub fn is_secret_name(name: &str) -> bool {
    let n = name.to_ascii_uppercase();
    n.contains("PASSWORD") || n.contains("PSWD") || n.contains("SECRET") || n.ends_with("PIN")
}

/// A [`Boot`] that records what it is told and what it answers into a [`Trace`].
///
/// It is a [`Machine`] with the boot's own peer, command, transmit and event types, and derefs
/// to the boot for the read-only accessors. Without a trace (`None`) it records nothing and
/// costs nothing.
#[derive(Debug)]
pub struct Recorder<M> {
    machine: M,
    trace: Option<Trace>,
}

impl<R: CryptoRng + SeedableRng> Recorder<Boot<R>> {
    /// Powers on a [`Boot`] (`Boot::new(config, record, R::from_seed(seed), now)`) and, when
    /// `trace` is given, starts a new [`PowerOn`] in it. After [`Event::Restart`] take the
    /// trace back ([`Recorder::into_trace`]) and power on again with it.
    #[must_use]
    pub fn power_on(
        trace: Option<Trace>,
        config: BootConfig,
        record: Record,
        seed: R::Seed,
        now: Instant,
    ) -> Self {
        let trace = trace.map(|mut t| {
            if t.rng.is_empty() {
                t.rng = core::any::type_name::<R>().into();
            }
            t.add_config_secrets(&config);
            t.add_record_secrets(&record);
            let faithful = codec::config_round_trips(&config);
            t.begin(PowerOn {
                at: now,
                seed: seed.as_ref().to_vec(),
                config: config.clone(),
                record: record.clone(),
                faithful,
                made_identity: false,
                entries: Vec::new(),
            });
            t
        });
        let machine = Boot::new(config, record, R::from_seed(seed), now);
        Recorder { machine, trace }
    }
}

impl<M> Recorder<M> {
    /// Wraps a machine that is not recorded.
    #[must_use]
    pub fn unrecorded(machine: M) -> Self {
        Recorder {
            machine,
            trace: None,
        }
    }

    /// The trace so far, if recording.
    #[must_use]
    pub fn trace(&self) -> Option<&Trace> {
        self.trace.as_ref()
    }

    /// The machine.
    #[must_use]
    pub fn machine(&self) -> &M {
        &self.machine
    }

    /// The machine and the trace.
    #[must_use]
    pub fn into_parts(self) -> (M, Option<Trace>) {
        (self.machine, self.trace)
    }
}

impl<R: CryptoRng + SeedableRng> Recorder<Boot<R>> {
    /// The trace, with the secrets the boot holds now learnt (call at a restart and at exit).
    #[must_use]
    pub fn into_trace(self) -> Option<Trace> {
        let Recorder { machine, trace } = self;
        trace.map(|mut t| {
            t.learn(&machine);
            t
        })
    }
}

impl<M> Deref for Recorder<M> {
    type Target = M;
    fn deref(&self) -> &M {
        &self.machine
    }
}

impl<R: CryptoRng + SeedableRng> Machine for Recorder<Boot<R>> {
    type Peer = Peer;
    type Command<'a> = Command<'a>;
    type Transmit = Transmit;
    type Event = Event;

    fn handle_input(&mut self, input: Input<'_, Peer, Command<'_>>) {
        if let Some(t) = self.trace.as_mut() {
            let secret = matches!(input, Input::Command(_, Command::Entry(_)))
                && self.machine.prompt() == Some(Prompt::Password);
            if secret && let Input::Command(_, Command::Entry(text)) = input {
                t.add_secret(text.as_bytes());
            }
            t.push(Entry::Input(InputRecord::of(&input, secret)));
        }
        self.machine.handle_input(input);
    }

    fn poll_output(&mut self) -> Output<Transmit, Event> {
        let out = self.machine.poll_output();
        if let Some(t) = self.trace.as_mut() {
            if let Output::Event(Event::RecordChanged | Event::Reached(_) | Event::Restart) = &out {
                t.learn(&self.machine);
            }
            t.push(Entry::Output(OutputRecord::of(&out)));
        }
        out
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.machine.poll_timeout()
    }
}
