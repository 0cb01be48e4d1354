//! The store: every value with its source, precedence, and the effective view.
//!
//! Each parameter keeps one value per [`Source`] (a *layer*). The effective value is the one of
//! the highest source that set it, else the registry default (Decision 6; spec/script.md §10:
//! "a value from a lower source stays stored, so it reappears if the higher source drops its
//! value"). Within one source a later value replaces an earlier one (a script chain runs in
//! order). Every boot evaluates the scripts again from defaults: [`Store::begin_boot`] drops the
//! settings-file layer and keeps DHCP, LLDP and craft values.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::controller::{Controller, merge_controllers, parse_controller_list};
use crate::registry::{Param, lookup};
use crate::source::Source;
use crate::value::{ValueError, parse_decimal};

/// Longest parameter name the store accepts.
pub const MAX_NAME_LEN: usize = 64;
/// Longest value the store accepts (LANGUAGES, the longest registry value, is 1096).
pub const MAX_VALUE_LEN: usize = 4096;
/// Most distinct parameter names the store holds (the vendor template names about 1000).
pub const MAX_PARAMS: usize = 4096;
/// Most bytes of names and values the store holds over all layers (the whole 1 MB vendor
/// template sets far less). Bounds the memory a hostile settings file can make the phone keep.
pub const MAX_STORE_BYTES: usize = 1 << 20;
/// Most names outside the registry the store keeps (raw parameters for the firmware, spec
/// script.md §4). The vendor template names about 1000 parameters, most of them outside the
/// registry. Past it a new raw name is refused with [`WarningKind::TooManyUnknown`], so a loop of
/// SETs of distinct unknown names can neither grow the store nor crowd out a registry parameter
/// (issue 12): [`MAX_RAW_PARAMS`] + the registry stays under [`MAX_PARAMS`].
pub const MAX_RAW_PARAMS: usize = 2048;
/// Most bytes of names and values outside the registry, over all layers (half of
/// [`MAX_STORE_BYTES`]: the other half stays for registry parameters).
pub const MAX_RAW_BYTES: usize = MAX_STORE_BYTES / 2;
/// Most bytes of a name or value a diagnostic ([`Warning`], [`ValueError`],
/// [`CheckError`](crate::CheckError)) keeps; longer ones are cut there and `...` appended, so a
/// warning about a 400 KB name keeps about a hundred bytes (issue 12).
pub const MAX_SHOWN: usize = 64;

/// `text` for a diagnostic: at most [`MAX_SHOWN`] bytes (cut at a character boundary), then
/// `...` if cut.
#[must_use]
pub fn shown(text: &str) -> String {
    if text.len() <= MAX_SHOWN {
        return String::from(text);
    }
    let mut end = MAX_SHOWN;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let mut out = String::with_capacity(end + 3);
    out.push_str(&text[..end]);
    out.push_str("...");
    out
}

/// [`shown`] for bytes that need not be UTF-8 (shown lossily); reads at most [`MAX_SHOWN`] + 1
/// bytes of the input whatever its length.
#[must_use]
pub fn shown_bytes(bytes: &[u8]) -> String {
    let head = &bytes[..bytes.len().min(MAX_SHOWN)];
    let lossy = String::from_utf8_lossy(head);
    let mut out = shown(&lossy);
    if bytes.len() > MAX_SHOWN && !out.ends_with("...") {
        out.push_str("...");
    }
    out
}

/// What one stored layer counts against [`MAX_STORE_BYTES`].
const fn layer_cost(name_len: usize, value_len: usize) -> usize {
    name_len + value_len
}

/// Why a value was not applied. The earlier value stays (spec/script.md §4).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WarningKind {
    /// The name is empty.
    #[error("empty parameter name")]
    EmptyName,
    /// The name has a byte that is not printable ASCII or is a space.
    #[error("bad parameter name")]
    BadName,
    /// The name is longer than [`MAX_NAME_LEN`].
    #[error("parameter name longer than {MAX_NAME_LEN} characters")]
    NameTooLong,
    /// A raw value longer than [`MAX_VALUE_LEN`].
    #[error("value longer than {MAX_VALUE_LEN} bytes")]
    ValueTooLong,
    /// The parameter is read-only status kept by the phone.
    #[error("read-only parameter")]
    ReadOnly,
    /// The parameter may not be set from this source (spec/parameters.md "Sources").
    #[error("may not be set by {0}")]
    SourceNotAllowed(Source),
    /// The value is invalid for the parameter.
    #[error("{0}")]
    Invalid(ValueError),
    /// The store already holds [`MAX_PARAMS`] names or [`MAX_STORE_BYTES`] bytes.
    #[error("settings store full (at most {MAX_PARAMS} names, {MAX_STORE_BYTES} bytes)")]
    StoreFull,
    /// A name outside the registry, and the store already keeps [`MAX_RAW_PARAMS`] such names
    /// or [`MAX_RAW_BYTES`] bytes of them. Registry parameters are not affected.
    #[error(
        "too many parameters outside the registry (at most {MAX_RAW_PARAMS} names, {MAX_RAW_BYTES} bytes)"
    )]
    TooManyUnknown,
    /// SSON: the name is not one the SSON may set (Decision 2).
    #[error("not accepted in the SSON")]
    NotAcceptedInSson,
    /// SSON: more than [`MAX_SSON_PAIRS`](crate::sson::MAX_SSON_PAIRS) pairs; the rest ignored.
    #[error(
        "more than {} pairs in the SSON; the rest ignored",
        crate::sson::MAX_SSON_PAIRS
    )]
    TooManySsonPairs,
    /// SSON: a list element without a pair before it (spec/dhcp.md §5 step 3), cut at
    /// [`MAX_SHOWN`] bytes.
    #[error("list element {0:?} without a NAME= before it")]
    DanglingElement(String),
}

/// A value that was not applied, with where it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    /// The parameter name, upper case (empty for a [`WarningKind::DanglingElement`]), cut at
    /// [`MAX_SHOWN`] bytes (then `...` appended).
    pub name: String,
    /// The source that tried to set it.
    pub source: Source,
    /// The line of the SET in its file, or 0 when the value did not come from a file.
    pub line: u32,
    /// What was wrong.
    pub kind: WarningKind,
}

impl fmt::Display for Warning {
    /// E.g. `L2QVLAN ignored (settings file): 5000 is out of range (0-4094)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.name.is_empty() {
            write!(f, "ignored ({}): {}", self.source, self.kind)
        } else {
            write!(f, "{} ignored ({}): {}", self.name, self.source, self.kind)
        }
    }
}

impl core::error::Error for Warning {}

impl Warning {
    /// The memory this warning keeps: its own size and the bytes of the names and values it
    /// holds (each at most [`MAX_SHOWN`] + 3).
    #[must_use]
    pub fn kept_bytes(&self) -> usize {
        let kind = match &self.kind {
            WarningKind::DanglingElement(s)
            | WarningKind::Invalid(ValueError::BadAddress(s) | ValueError::BadController(s)) => {
                s.capacity()
            }
            _ => 0,
        };
        core::mem::size_of::<Warning>() + self.name.capacity() + kind
    }
}

/// One stored value of one source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Layer {
    pub(crate) value: Vec<u8>,
    pub(crate) line: u32,
}

/// All layers of one parameter; index = [`Source::index`] (index 0, the default, stays empty).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub(crate) struct Slot {
    pub(crate) layers: [Option<Layer>; 7],
}

impl Slot {
    fn top(&self) -> Option<(Source, &Layer)> {
        Source::ALL
            .iter()
            .rev()
            .find_map(|&s| self.layers[s.index()].as_ref().map(|l| (s, l)))
    }
    fn is_empty(&self) -> bool {
        self.layers.iter().all(Option::is_none)
    }
}

/// The effective value of one parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Effective<'a> {
    /// Upper-case name.
    pub name: &'a str,
    /// The value: normalised ASCII for a registry parameter, raw bytes otherwise.
    pub value: &'a [u8],
    /// The source that gave it ([`Source::Default`] for the registry default).
    pub source: Source,
    /// The line of the SET for a settings-file value, else 0.
    pub line: u32,
    /// The registry entry, or `None` for a raw parameter.
    pub param: Option<&'static Param>,
}

impl<'a> Effective<'a> {
    /// The value as text, if it is UTF-8 (always for a registry parameter).
    #[must_use]
    pub fn as_str(&self) -> Option<&'a str> {
        core::str::from_utf8(self.value).ok()
    }
}

/// Parameter values by source, with Decision 6 precedence. See the crate example.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Store {
    pub(crate) map: BTreeMap<String, Slot>,
    /// Sum of [`layer_cost`] over all layers.
    pub(crate) bytes: usize,
    /// Names in `map` outside the registry.
    pub(crate) raw_names: usize,
    /// Sum of [`layer_cost`] over the layers of names outside the registry.
    pub(crate) raw_bytes: usize,
}

/// Validate a name: non-empty, printable ASCII without spaces, at most [`MAX_NAME_LEN`].
pub(crate) fn check_name(name: &str) -> Result<(), WarningKind> {
    if name.is_empty() {
        return Err(WarningKind::EmptyName);
    }
    if name.len() > MAX_NAME_LEN {
        return Err(WarningKind::NameTooLong);
    }
    if !name.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(WarningKind::BadName);
    }
    Ok(())
}

/// Validate `value` for `name` coming from `source`: the stored form (normalised for a registry
/// parameter) or why it is refused.
pub(crate) fn validate(
    name: &str,
    value: &[u8],
    source: Source,
) -> Result<(Option<&'static Param>, Vec<u8>), WarningKind> {
    check_name(name)?;
    if value.len() > MAX_VALUE_LEN {
        return Err(WarningKind::ValueTooLong);
    }
    match lookup(name) {
        Some(p) => {
            if p.sources.is_read_only() {
                return Err(WarningKind::ReadOnly);
            }
            if source == Source::Default || !p.admits(source) {
                return Err(WarningKind::SourceNotAllowed(source));
            }
            let v = p.check(value).map_err(WarningKind::Invalid)?;
            Ok((Some(p), v.into_bytes()))
        }
        None if source == Source::Default => Err(WarningKind::SourceNotAllowed(source)),
        None => Ok((None, value.to_vec())),
    }
}

impl Store {
    /// An empty store: every registry parameter has its default.
    #[must_use]
    pub fn new() -> Store {
        Store::default()
    }

    /// Set `name` to `value` from `source`; `line` is the SET's line in its file (0 if none).
    ///
    /// The name is case-insensitive. A registry parameter is validated and normalised; a name
    /// outside the registry is kept as a raw byte string. An invalid value, a source the
    /// parameter does not admit, or a read-only parameter is refused with a [`Warning`] and
    /// the earlier value stays (spec/script.md §4).
    ///
    /// # Errors
    /// The [`Warning`] to report; the store is unchanged.
    pub fn apply_set(
        &mut self,
        name: &str,
        value: impl AsRef<[u8]>,
        source: Source,
        line: u32,
    ) -> Result<(), Warning> {
        // The name is cut before it is copied: a 400 KB name costs a warning of ~100 bytes.
        let warn = |kind| Warning {
            name: shown(name).to_ascii_uppercase(),
            source,
            line,
            kind,
        };
        let (param, stored) = validate(name, value.as_ref(), source).map_err(warn)?;
        let key = param.map_or_else(|| name.to_ascii_uppercase(), |p| String::from(p.name));
        self.put(
            key,
            source,
            Layer {
                value: stored,
                line,
            },
        )
        .map_err(warn)
    }

    /// Store a validated layer, within [`MAX_PARAMS`] and [`MAX_STORE_BYTES`], and for a name
    /// outside the registry within [`MAX_RAW_PARAMS`] and [`MAX_RAW_BYTES`].
    pub(crate) fn put(
        &mut self,
        key: String,
        source: Source,
        layer: Layer,
    ) -> Result<(), WarningKind> {
        let raw = lookup(&key).is_none();
        let old = match self.map.get(&key) {
            Some(slot) => slot.layers[source.index()]
                .as_ref()
                .map_or(0, |l| layer_cost(key.len(), l.value.len())),
            None if raw && self.raw_names >= MAX_RAW_PARAMS => {
                return Err(WarningKind::TooManyUnknown);
            }
            None if self.map.len() >= MAX_PARAMS => return Err(WarningKind::StoreFull),
            None => 0,
        };
        let new = layer_cost(key.len(), layer.value.len());
        if raw && self.raw_bytes - old + new > MAX_RAW_BYTES {
            return Err(WarningKind::TooManyUnknown);
        }
        let total = self.bytes - old + new;
        if total > MAX_STORE_BYTES {
            return Err(WarningKind::StoreFull);
        }
        self.bytes = total;
        if raw {
            self.raw_bytes = self.raw_bytes - old + new;
            if !self.map.contains_key(&key) {
                self.raw_names += 1;
            }
        }
        self.map.entry(key).or_default().layers[source.index()] = Some(layer);
        Ok(())
    }

    /// Account for a layer taken out of `key` (and for the name, if its slot is now empty).
    fn forget(&mut self, key: &str, value_len: usize, slot_empty: bool) {
        let cost = layer_cost(key.len(), value_len);
        self.bytes -= cost;
        if lookup(key).is_none() {
            self.raw_bytes -= cost;
            if slot_empty {
                self.raw_names -= 1;
            }
        }
    }

    /// Remove the value `source` gave `name` (e.g. LLDP no longer announces a VLAN). The value
    /// of the next lower source, or the default, becomes effective again.
    pub fn unset(&mut self, name: &str, source: Source) {
        let key = name.to_ascii_uppercase();
        let Some(slot) = self.map.get_mut(&key) else {
            return;
        };
        let Some(l) = slot.layers[source.index()].take() else {
            return;
        };
        let empty = slot.is_empty();
        if empty {
            self.map.remove(&key);
        }
        self.forget(&key, l.value.len(), empty);
    }

    /// Drop every value of `source`, e.g. [`Source::Sson`] before applying a new lease.
    pub fn clear_source(&mut self, source: Source) {
        let (mut bytes, mut raw_bytes, mut raw_names) = (0, 0, 0);
        for (key, slot) in &mut self.map {
            if let Some(l) = slot.layers[source.index()].take() {
                let cost = layer_cost(key.len(), l.value.len());
                bytes += cost;
                if lookup(key).is_none() {
                    raw_bytes += cost;
                    raw_names += usize::from(slot.is_empty());
                }
            }
        }
        self.map.retain(|_, s| !s.is_empty());
        self.bytes -= bytes;
        self.raw_bytes -= raw_bytes;
        self.raw_names -= raw_names;
    }

    /// Start a new boot: the scripts run again from defaults (Decision 6), so the settings-file
    /// layer is dropped. DHCP, LLDP and craft values stay until their sources replace them.
    pub fn begin_boot(&mut self) {
        self.clear_source(Source::SettingsFile);
    }

    /// The effective value of `name` (case-insensitive): the highest source's value, else the
    /// registry default. `None` for a raw name no source set.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<Effective<'_>> {
        let param = lookup(name);
        let key = param.map_or_else(|| name.to_ascii_uppercase(), |p| String::from(p.name));
        if let Some((k, slot)) = self.map.get_key_value(&key)
            && let Some(e) = effective_of(k, slot)
        {
            return Some(e);
        }
        param.map(|p| Effective {
            name: p.name,
            value: p.default.as_bytes(),
            source: Source::Default,
            line: 0,
            param: Some(p),
        })
    }

    /// The effective value of every parameter that any source set, sorted by name (bytewise,
    /// upper case). Parameters only at their default are not listed.
    pub fn effective(&self) -> impl Iterator<Item = Effective<'_>> + '_ {
        self.map
            .iter()
            .filter_map(|(k, slot)| effective_of(k, slot))
    }

    /// Every value stored for `name`, highest source first: `(source, value, line)`.
    pub fn layers(&self, name: &str) -> impl Iterator<Item = (Source, &[u8], u32)> + '_ {
        let slot = self.map.get(&name.to_ascii_uppercase());
        Source::ALL.iter().rev().filter_map(move |&s| {
            slot.and_then(|sl| sl.layers[s.index()].as_ref())
                .map(|l| (s, l.value.as_slice(), l.line))
        })
    }

    /// Number of parameter names any source set.
    #[must_use]
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no source set anything.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The effective value as text (`None` for an unset raw name or non-UTF-8 raw bytes).
    #[must_use]
    pub fn str(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(|e| e.as_str())
    }

    /// The effective value as an integer (`None` if unset, empty or not a number).
    #[must_use]
    pub fn int(&self, name: &str) -> Option<u32> {
        let s = self.str(name)?;
        parse_decimal(s).ok().and_then(|v| u32::try_from(v).ok())
    }

    /// The effective value as a 0/1 flag (`None` if unset or not 0/1).
    #[must_use]
    pub fn flag(&self, name: &str) -> Option<bool> {
        match self.int(name)? {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        }
    }

    /// The effective value split on `,` (server lists, TRUSTCERTS…); empty for `""` or unset.
    #[must_use]
    pub fn list(&self, name: &str) -> Vec<&str> {
        match self.str(name) {
            None | Some("") => Vec::new(),
            Some(s) => s.split(',').collect(),
        }
    }

    /// HTTPSRVR as a list of hosts, in order.
    #[must_use]
    pub fn http_servers(&self) -> Vec<&str> {
        self.list("HTTPSRVR")
    }

    /// TLSSRVR as a list of hosts, in order.
    #[must_use]
    pub fn tls_servers(&self) -> Vec<&str> {
        self.list("TLSSRVR")
    }

    /// HTTPPORT (default 80).
    #[must_use]
    pub fn http_port(&self) -> u16 {
        self.int("HTTPPORT")
            .and_then(|v| u16::try_from(v).ok())
            .unwrap_or(80)
    }

    /// TLSPORT (default 443).
    #[must_use]
    pub fn tls_port(&self) -> u16 {
        self.int("TLSPORT")
            .and_then(|v| u16::try_from(v).ok())
            .unwrap_or(443)
    }

    /// The configured controllers (spec/sip.md §2): the SIP_CONTROLLER_LIST of every source,
    /// highest priority first (craft, settings file, SSON, option 43), each list in its own
    /// order, normalised with the default port and transport, duplicates removed (the first
    /// occurrence wins).
    #[must_use]
    pub fn controllers(&self) -> Vec<Controller> {
        let lists: Vec<Vec<Controller>> = self
            .layers("SIP_CONTROLLER_LIST")
            .filter_map(|(_, v, _)| core::str::from_utf8(v).ok())
            .filter_map(|s| parse_controller_list(s).ok())
            .collect();
        merge_controllers(lists.iter().map(Vec::as_slice))
    }
}

fn effective_of<'a>(key: &'a str, slot: &'a Slot) -> Option<Effective<'a>> {
    slot.top().map(|(source, layer)| Effective {
        name: key,
        value: &layer.value,
        source,
        line: layer.line,
        param: lookup(key),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::Transport;
    use alloc::string::ToString;
    use alloc::vec;

    fn set(st: &mut Store, n: &str, v: &str, s: Source) {
        if let Err(w) = st.apply_set(n, v, s, 0) {
            panic!("{n}={v} from {s:?} refused: {w}");
        }
    }

    /// Decision 6 for every ordered pair of sources both admitted by a parameter: the higher
    /// source wins in whichever order the two are applied, and the lower one reappears when
    /// the higher one is removed.
    #[test]
    fn precedence_every_pair_of_sources() {
        // L2QVLAN admits F, O, S, L, C; HTTPSRVR admits D, O, S, F, C: together every source.
        let mut pairs = 0;
        for name in ["L2QVLAN", "HTTPSRVR"] {
            let p = lookup(name).unwrap_or_else(|| panic!("{name}"));
            let admitted: Vec<Source> = Source::ALL
                .iter()
                .copied()
                .filter(|&s| s != Source::Default && p.admits(s))
                .collect();
            for &lo in &admitted {
                for &hi in admitted.iter().filter(|&&h| h > lo) {
                    for hi_first in [false, true] {
                        let mut st = Store::new();
                        let (vl, vh) = ("11", "22");
                        if hi_first {
                            set(&mut st, name, vh, hi);
                            set(&mut st, name, vl, lo);
                        } else {
                            set(&mut st, name, vl, lo);
                            set(&mut st, name, vh, hi);
                        }
                        let e = st.get(name).unwrap_or_else(|| panic!("{name}"));
                        assert_eq!(
                            (e.value, e.source),
                            (vh.as_bytes(), hi),
                            "{name} {lo:?}<{hi:?}"
                        );
                        st.unset(name, hi);
                        let e = st.get(name).unwrap_or_else(|| panic!("{name}"));
                        assert_eq!(
                            (e.value, e.source),
                            (vl.as_bytes(), lo),
                            "{name} {lo:?} back"
                        );
                        pairs += 1;
                    }
                }
            }
        }
        // 5 sources each: 10 pairs per parameter, two orders.
        assert_eq!(pairs, 40);
    }

    #[test]
    fn named_pairs_from_the_spec() {
        let mut st = Store::new();
        // The settings file overrides DHCP for the same name (DNSSRVR L494, HTTPSRVR L8588).
        set(&mut st, "DNSSRVR", "10.0.0.53", Source::DhcpStandard);
        set(&mut st, "DNSSRVR", "10.0.0.54", Source::Sson);
        assert_eq!(st.str("DNSSRVR"), Some("10.0.0.54"));
        set(&mut st, "dnssrvr", "10.1.1.1", Source::SettingsFile);
        assert_eq!(st.str("DNSSRVR"), Some("10.1.1.1"));
        // VLAN: LLDP outranks the settings file, craft outranks LLDP.
        set(&mut st, "L2QVLAN", "10", Source::SettingsFile);
        set(&mut st, "L2QVLAN", "20", Source::Lldp);
        assert_eq!(st.int("L2QVLAN"), Some(20));
        set(&mut st, "L2QVLAN", "30", Source::Craft);
        assert_eq!(st.int("L2QVLAN"), Some(30));
        // LLDP may set only the VLAN values.
        let w = st.apply_set("HTTPSRVR", "x", Source::Lldp, 0);
        assert_eq!(
            w.map_err(|w| w.kind),
            Err(WarningKind::SourceNotAllowed(Source::Lldp))
        );
        // GROUP is craft only; files may not set it (spec/script.md §12).
        let w = st.apply_set("GROUP", "5", Source::SettingsFile, 7);
        assert_eq!(
            w,
            Err(Warning {
                name: "GROUP".to_string(),
                source: Source::SettingsFile,
                line: 7,
                kind: WarningKind::SourceNotAllowed(Source::SettingsFile)
            })
        );
        assert_eq!(st.int("GROUP"), Some(0));
        assert_eq!(
            st.apply_set("MACADDR", "001122334455", Source::Craft, 0)
                .map_err(|w| w.kind),
            Err(WarningKind::ReadOnly)
        );
    }

    #[test]
    fn invalid_value_keeps_the_earlier_one() {
        let mut st = Store::new();
        set(&mut st, "L2QVLAN", "100", Source::SettingsFile);
        let w = st.apply_set("L2QVLAN", "5000", Source::SettingsFile, 12);
        let w = w.err().unwrap_or_else(|| panic!("5000 must be refused"));
        assert!(matches!(
            w.kind,
            WarningKind::Invalid(ValueError::OutOfRange { value: 5000, .. })
        ));
        assert_eq!(
            w.to_string(),
            "L2QVLAN ignored (settings file): 5000 is out of range (0-4094)"
        );
        assert_eq!(st.int("L2QVLAN"), Some(100));
        // A later valid SET from the same source replaces the earlier one, line and all.
        assert!(
            st.apply_set("L2QVLAN", "0200", Source::SettingsFile, 13)
                .is_ok()
        );
        let e = st.get("L2QVLAN").unwrap_or_else(|| panic!("set"));
        assert_eq!((e.value, e.line), (&b"200"[..], 13));
    }

    #[test]
    fn defaults_raw_values_and_iteration() {
        let mut st = Store::new();
        assert_eq!(
            st.get("HTTPPORT").map(|e| (e.value, e.source)),
            Some((&b"80"[..], Source::Default))
        );
        assert_eq!(st.http_port(), 80);
        assert_eq!(st.tls_port(), 443);
        assert!(st.get("PHONEKEY").is_none());
        assert_eq!(st.effective().count(), 0);
        set(&mut st, "phonekey", "Line1", Source::SettingsFile);
        assert!(
            st.apply_set("DIALPLAN", b"[2-4]xxx|\xe9", Source::SettingsFile, 3)
                .is_ok()
        );
        set(
            &mut st,
            "HTTPSRVR",
            "10.0.0.5,files.example",
            Source::Option43,
        );
        set(&mut st, "TLSPORT", "8443", Source::Sson);
        let names: Vec<&str> = st.effective().map(|e| e.name).collect();
        assert_eq!(names, vec!["DIALPLAN", "HTTPSRVR", "PHONEKEY", "TLSPORT"]);
        assert_eq!(
            st.get("dialplan").map(|e| e.value),
            Some(&b"[2-4]xxx|\xe9"[..])
        );
        assert_eq!(st.str("DIALPLAN"), None, "not UTF-8");
        assert_eq!(st.http_servers(), vec!["10.0.0.5", "files.example"]);
        assert_eq!(st.tls_servers(), Vec::<&str>::new());
        assert_eq!(st.tls_port(), 8443);
        assert_eq!(st.flag("TLSSRVRID"), Some(true));
        assert_eq!(st.int("APPSTAT"), None);
        assert_eq!(st.len(), 4);
        // Bounds on raw names and values.
        assert_eq!(
            st.apply_set("", "1", Source::SettingsFile, 0)
                .map_err(|w| w.kind),
            Err(WarningKind::EmptyName)
        );
        assert_eq!(
            st.apply_set("A B", "1", Source::SettingsFile, 0)
                .map_err(|w| w.kind),
            Err(WarningKind::BadName)
        );
        let long = "N".repeat(MAX_NAME_LEN + 1);
        assert_eq!(
            st.apply_set(&long, "1", Source::SettingsFile, 0)
                .map_err(|w| w.kind),
            Err(WarningKind::NameTooLong)
        );
        let big = vec![b'x'; MAX_VALUE_LEN + 1];
        assert_eq!(
            st.apply_set("X", &big, Source::SettingsFile, 0)
                .map_err(|w| w.kind),
            Err(WarningKind::ValueTooLong)
        );
    }

    #[test]
    fn store_is_bounded() {
        let mut st = Store::new();
        for i in 0..MAX_RAW_PARAMS {
            assert!(
                st.apply_set(&alloc::format!("P{i}"), "1", Source::SettingsFile, 0)
                    .is_ok()
            );
        }
        assert_eq!(
            st.apply_set("ONE_MORE", "1", Source::SettingsFile, 0)
                .map_err(|w| w.kind),
            Err(WarningKind::TooManyUnknown)
        );
        assert_eq!(
            st.apply_set("ONE_MORE", "1", Source::Craft, 0)
                .map_err(|w| w.kind),
            Err(WarningKind::TooManyUnknown),
            "the cap is over all sources"
        );
        // An existing name can still change, from any source.
        assert!(st.apply_set("P0", "2", Source::SettingsFile, 0).is_ok());
        assert!(st.apply_set("P0", "3", Source::Craft, 0).is_ok());
        // Registry parameters are not crowded out by raw ones.
        assert!(
            st.apply_set("HTTPSRVR", "10.0.0.1", Source::SettingsFile, 0)
                .is_ok()
        );
        assert!(st.apply_set("L2QVLAN", "5", Source::Lldp, 0).is_ok());
        assert_eq!(st.len(), MAX_RAW_PARAMS + 2);
        assert_eq!(st.raw_names, MAX_RAW_PARAMS);
        // Every registry name and every raw name allowed fit under the count bound at once.
        assert!(MAX_RAW_PARAMS + crate::REGISTRY.len() <= MAX_PARAMS);
        // The count bound itself still guards `put` (no registry check there).
        let mut st = Store::new();
        for (i, p) in crate::REGISTRY.iter().enumerate() {
            let layer = Layer {
                value: vec![b'1'],
                line: 0,
            };
            assert!(
                st.put(String::from(p.name), Source::Craft, layer).is_ok(),
                "{i}"
            );
        }
        // Unset gives a raw name back.
        let mut st = Store::new();
        set(&mut st, "RAW1", "x", Source::Craft);
        set(&mut st, "RAW1", "y", Source::SettingsFile);
        st.unset("RAW1", Source::Craft);
        assert_eq!(st.raw_names, 1);
        st.unset("raw1", Source::SettingsFile);
        assert_eq!((st.raw_names, st.raw_bytes, st.bytes), (0, 0, 0));
    }

    #[test]
    fn store_bytes_are_bounded_and_accounted() {
        let mut st = Store::new();
        let big = vec![b'v'; MAX_VALUE_LEN];
        let mut n = 0;
        let full = loop {
            match st.apply_set(&alloc::format!("BIG{n}"), &big, Source::SettingsFile, 0) {
                Ok(()) => n += 1,
                Err(w) => break w.kind,
            }
        };
        assert_eq!(full, WarningKind::TooManyUnknown);
        assert!(st.raw_bytes <= MAX_RAW_BYTES && st.raw_bytes + MAX_VALUE_LEN + 8 > MAX_RAW_BYTES);
        assert_eq!(st.bytes, st.raw_bytes);
        assert_eq!(n, MAX_RAW_BYTES / (MAX_VALUE_LEN + 4));
        // The total bound guards every layer, registry ones included (filled here through `put`,
        // since no registry value is this long).
        let mut i = 0usize;
        let total_full = loop {
            let p = &crate::REGISTRY[i % crate::REGISTRY.len()];
            let source = Source::ALL[1 + (i / crate::REGISTRY.len()) % 6];
            let layer = Layer {
                value: big.clone(),
                line: 0,
            };
            match st.put(String::from(p.name), source, layer) {
                Ok(()) => i += 1,
                Err(kind) => break kind,
            }
        };
        assert_eq!(total_full, WarningKind::StoreFull);
        assert!(st.bytes <= MAX_STORE_BYTES && st.bytes + MAX_VALUE_LEN + 32 > MAX_STORE_BYTES);
        // Replacing a value by a shorter one frees room; unset and clear give it all back.
        assert!(st.apply_set("BIG0", "x", Source::SettingsFile, 0).is_ok());
        assert!(st.apply_set("ROOM", &big, Source::Craft, 0).is_ok());
        st.unset("ROOM", Source::Craft);
        for s in Source::ALL {
            st.clear_source(s);
        }
        assert_eq!(
            (st.bytes, st.len(), st.raw_bytes, st.raw_names),
            (0, 0, 0, 0)
        );
    }

    /// A SET of a huge name or value keeps a bounded warning (issue 12: a loop of SETs of a 400 KB
    /// name grew the file stage's warnings past 1.5 GB).
    #[test]
    fn warnings_about_huge_names_and_values_are_cut() {
        let mut st = Store::new();
        let huge = "n".repeat(400 * 1024);
        let w = st
            .apply_set(&huge, "1", Source::SettingsFile, 3)
            .err()
            .unwrap_or_else(|| panic!("a 400 KB name must be refused"));
        assert_eq!(w.kind, WarningKind::NameTooLong);
        assert_eq!(w.name.len(), MAX_SHOWN + 3);
        assert!(w.name.starts_with("NNNN") && w.name.ends_with("..."));
        assert!(w.kept_bytes() <= core::mem::size_of::<Warning>() + 2 * (MAX_SHOWN + 3));
        // A multi-byte character is never split.
        let w = st
            .apply_set(&"é".repeat(100), "1", Source::SettingsFile, 0)
            .err()
            .unwrap_or_else(|| panic!("refused"));
        assert!(w.name.len() <= MAX_SHOWN + 3 && w.name.ends_with("..."));
        // A huge value for an address parameter: the error keeps the start only.
        let v = "1".repeat(MAX_VALUE_LEN);
        let w = st
            .apply_set("HTTPPROXY", &v, Source::SettingsFile, 0)
            .err()
            .unwrap_or_else(|| panic!("refused"));
        assert!(
            w.kept_bytes() <= core::mem::size_of::<Warning>() + 2 * (MAX_SHOWN + 3),
            "{w:?}"
        );
        let w = st
            .apply_set("SIP_CONTROLLER_LIST", &v, Source::SettingsFile, 0)
            .err()
            .unwrap_or_else(|| panic!("refused"));
        assert!(
            w.kept_bytes() <= core::mem::size_of::<Warning>() + 2 * (MAX_SHOWN + 3),
            "{w:?}"
        );
        assert!(w.to_string().len() < 300, "{w}");
        // A value over the length bound: refused before it is looked at.
        let w = st
            .apply_set("X", vec![b'v'; 400 * 1024], Source::SettingsFile, 0)
            .err()
            .unwrap_or_else(|| panic!("refused"));
        assert_eq!(w.kind, WarningKind::ValueTooLong);
        // Bytes shown lossily still keep at most MAX_SHOWN + 3 bytes (U+FFFD is 3 bytes).
        let s = shown_bytes(&[0xff; 1000]);
        assert!(s.len() <= MAX_SHOWN + 3 && s.ends_with("..."), "{s}");
        assert_eq!(shown_bytes(b"abc"), "abc");
        assert!(st.is_empty());
    }

    #[test]
    fn each_boot_starts_the_scripts_from_defaults() {
        let mut st = Store::new();
        set(&mut st, "HTTPSRVR", "10.0.0.1", Source::DhcpStandard);
        set(&mut st, "HTTPSRVR", "10.0.0.2", Source::SettingsFile);
        set(&mut st, "REGISTERWAIT", "300", Source::SettingsFile);
        set(&mut st, "SIPDOMAIN", "craft.example", Source::Craft);
        st.begin_boot();
        assert_eq!(st.str("HTTPSRVR"), Some("10.0.0.1"));
        assert_eq!(
            st.get("REGISTERWAIT").map(|e| (e.value, e.source)),
            Some((&b"900"[..], Source::Default))
        );
        assert_eq!(st.str("SIPDOMAIN"), Some("craft.example"));
        st.clear_source(Source::DhcpStandard);
        assert_eq!(st.str("HTTPSRVR"), Some(""));
        assert_eq!(
            st.effective().map(|e| e.name).collect::<Vec<_>>(),
            vec!["SIPDOMAIN"]
        );
    }

    #[test]
    fn controller_list_merges_all_sources() {
        let mut st = Store::new();
        set(
            &mut st,
            "SIP_CONTROLLER_LIST",
            "10.0.0.9;transport=udp,10.0.0.1",
            Source::Option43,
        );
        set(
            &mut st,
            "SIP_CONTROLLER_LIST",
            "10.0.0.2:5061",
            Source::Sson,
        );
        set(
            &mut st,
            "SIP_CONTROLLER_LIST",
            "10.0.0.1:5061;transport=tls,10.0.0.3;transport=tcp",
            Source::SettingsFile,
        );
        set(
            &mut st,
            "SIP_CONTROLLER_LIST",
            "10.0.0.3;transport=TCP,10.0.0.4",
            Source::Craft,
        );
        let got: Vec<String> = st.controllers().iter().map(ToString::to_string).collect();
        assert_eq!(
            got,
            vec![
                "10.0.0.3:5060;transport=tcp",
                "10.0.0.4:5061;transport=tls",
                "10.0.0.1:5061;transport=tls",
                "10.0.0.2:5061;transport=tls",
                "10.0.0.9:5060;transport=udp",
            ]
        );
        // The effective *string* is still the highest source's whole value.
        assert_eq!(
            st.str("SIP_CONTROLLER_LIST"),
            Some("10.0.0.3;transport=TCP,10.0.0.4")
        );
        // A bad designator makes the whole value invalid; the earlier value stays.
        assert!(
            st.apply_set(
                "SIP_CONTROLLER_LIST",
                "10.0.0.7,proxy_1",
                Source::SettingsFile,
                0
            )
            .is_err()
        );
        assert_eq!(st.controllers().len(), 5);
        assert_eq!(
            st.controllers().first().map(|c| c.transport),
            Some(Transport::Tcp)
        );
        assert!(Store::new().controllers().is_empty());
    }

    #[test]
    fn controller_names_merge_with_addresses() {
        // Decision 12: a settings file naming its controllers is accepted; names keep their
        // place among the addresses and merge without regard to case.
        let mut st = Store::new();
        set(
            &mut st,
            "SIP_CONTROLLER_LIST",
            "10.0.0.1;transport=udp,SIP.example.com:5060;transport=udp",
            Source::Sson,
        );
        set(
            &mut st,
            "SIP_CONTROLLER_LIST",
            "sip.example.com:5060;transport=udp,backup",
            Source::SettingsFile,
        );
        let got: Vec<String> = st.controllers().iter().map(ToString::to_string).collect();
        assert_eq!(
            got,
            vec![
                "sip.example.com:5060;transport=udp",
                "backup:5061;transport=tls",
                "10.0.0.1:5060;transport=udp",
            ]
        );
    }
}
