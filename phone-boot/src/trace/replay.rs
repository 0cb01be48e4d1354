//! Replay: a fresh [`Boot`] per power-on, the recorded calls made again in the recorded order,
//! every output compared with the recorded one.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use phone_sansio::{Instant, Machine};
use rand_core::{CryptoRng, SeedableRng};

use super::describe::{self, describe_input, describe_output};
use super::{Entry, InputRecord, LimitHit, OutputRecord, Trace};
use crate::boot::{Boot, Transmit};
use crate::flash::FlashOp;

/// The first output that differs from the recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Divergence {
    /// The power-on, from 1.
    pub power_on: usize,
    /// The entry within the power-on, from 1.
    pub index: usize,
    /// The entry within the whole trace, from 1.
    pub entry: u64,
    /// The caller's time: the last input's instant (or the power-on's).
    pub instant: Instant,
    /// The input before the output, if any in this power-on.
    pub after: Option<InputRecord>,
    /// What the recording says the boot answered.
    pub expected: OutputRecord,
    /// What the boot answered now.
    pub got: OutputRecord,
    /// Whether the power-on's configuration was recorded exactly (when not, the divergence
    /// may be the recording's fault).
    pub faithful: bool,
}

/// Why a replay did not match.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReplayError {
    /// An output differs.
    Diverged(Box<Divergence>),
    /// The trace was read without its secrets file: these references are unresolved.
    SecretsMissing(Vec<u32>),
    /// The trace was recorded with another RNG.
    Rng {
        /// In the trace.
        recorded: String,
        /// This replay's.
        replaying: &'static str,
    },
    /// A seed of the wrong length for the RNG.
    Seed {
        /// The power-on, from 1.
        power_on: usize,
    },
}

/// What a replay that matched went through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replayed {
    /// Power-ons replayed.
    pub power_ons: usize,
    /// Inputs fed.
    pub inputs: u64,
    /// Outputs compared.
    pub outputs: u64,
    /// The recording stopped at a bound: what came after was not checked.
    pub stopped: Option<LimitHit>,
}

fn payload(t: &Transmit) -> Option<&[u8]> {
    match t {
        Transmit::Dhcp(phone_dhcp::Transmit::Udp { payload, .. }) => Some(payload),
        Transmit::Files(h) | Transmit::Scep(h) => match &h.action {
            phone_http::Action::Send(b) => Some(b),
            _ => None,
        },
        Transmit::Flash(FlashOp::Write { data, .. }) => Some(data),
        Transmit::Sip(s) => Some(&s.payload),
        Transmit::Lldp(l) => Some(&l.payload),
        Transmit::Eapol(e) => Some(&e.payload),
        _ => None,
    }
}

fn hex_around(b: &[u8], at: usize) -> String {
    let from = at.saturating_sub(8);
    let to = (at + 8).min(b.len());
    let mut s = String::new();
    for (i, x) in b.iter().enumerate().take(to).skip(from) {
        if i == at {
            s.push_str(&alloc::format!("[{x:02x}] "));
        } else {
            s.push_str(&alloc::format!("{x:02x} "));
        }
    }
    if at >= b.len() {
        s.push_str("[end]");
    }
    String::from(s.trim_end())
}

impl fmt::Display for Divergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "replay diverged at power-on {}, entry {} (entry {} of the trace), at {}",
            self.power_on,
            self.index,
            self.entry,
            describe::instant(self.instant)
        )?;
        match &self.after {
            Some(i) => writeln!(f, "  after input  {}", describe_input(i))?,
            None => writeln!(f, "  after power-on")?,
        }
        writeln!(f, "  recorded:    {}", describe_output(&self.expected))?;
        write!(f, "  replayed:    {}", describe_output(&self.got))?;
        if let (OutputRecord::Transmit(a), OutputRecord::Transmit(b)) = (&self.expected, &self.got)
            && let (Some(a), Some(b)) = (payload(a), payload(b))
        {
            let at = a
                .iter()
                .zip(b.iter())
                .position(|(x, y)| x != y)
                .unwrap_or(a.len().min(b.len()));
            write!(
                f,
                "\n  first difference at byte {at}:\n    recorded {}\n    replayed {}",
                hex_around(a, at),
                hex_around(b, at)
            )?;
        }
        if !self.faithful {
            write!(
                f,
                "\n  note: this power-on's configuration was not recorded exactly"
            )?;
        }
        Ok(())
    }
}

impl fmt::Display for ReplayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplayError::Diverged(d) => write!(f, "{d}"),
            ReplayError::SecretsMissing(ids) => write!(
                f,
                "the trace refers to {} secret(s) and was read without its secrets file",
                ids.len()
            ),
            ReplayError::Rng {
                recorded,
                replaying,
            } => write!(
                f,
                "recorded with RNG {recorded}, replaying with {replaying}"
            ),
            ReplayError::Seed { power_on } => {
                write!(f, "power-on {power_on}: the seed does not fit the RNG")
            }
        }
    }
}

/// Runs a fresh [`Boot`] per power-on of `trace` — the same seed (for the RNG `R`), the same
/// configuration and record, the same `now` — makes the recorded calls in the recorded order
/// (each input at its instant, each poll), and compares every output with the recorded one.
///
/// # Errors
/// The first [`Divergence`], or why the trace cannot be replayed (its secrets are missing, it
/// was recorded with another RNG).
pub fn replay<R: CryptoRng + SeedableRng>(trace: &Trace) -> Result<Replayed, ReplayError> {
    if !trace.unresolved.is_empty() {
        return Err(ReplayError::SecretsMissing(trace.unresolved.clone()));
    }
    let replaying = core::any::type_name::<R>();
    if !trace.rng.is_empty() && trace.rng != replaying {
        return Err(ReplayError::Rng {
            recorded: trace.rng.clone(),
            replaying,
        });
    }
    let mut done = Replayed {
        power_ons: 0,
        inputs: 0,
        outputs: 0,
        stopped: trace.stopped,
    };
    let mut entry = 0u64;
    for (n, p) in trace.power_ons.iter().enumerate() {
        let mut seed = R::Seed::default();
        if seed.as_ref().len() != p.seed.len() {
            return Err(ReplayError::Seed { power_on: n + 1 });
        }
        seed.as_mut().copy_from_slice(&p.seed);
        let mut boot = Boot::new(p.config.clone(), p.record.clone(), R::from_seed(seed), p.at);
        let mut now = p.at;
        let mut after: Option<&InputRecord> = None;
        for (i, e) in p.entries.iter().enumerate() {
            entry += 1;
            match e {
                Entry::Input(input) => {
                    now = input.now();
                    after = Some(input);
                    boot.handle_input(input.as_input());
                    done.inputs += 1;
                }
                Entry::Output(expected) => {
                    let got = OutputRecord::of(&boot.poll_output());
                    if got != *expected {
                        return Err(ReplayError::Diverged(Box::new(Divergence {
                            power_on: n + 1,
                            index: i + 1,
                            entry,
                            instant: now,
                            after: after.cloned(),
                            expected: expected.clone(),
                            got,
                            faithful: p.faithful,
                        })));
                    }
                    done.outputs += 1;
                }
            }
        }
        done.power_ons += 1;
    }
    Ok(done)
}
