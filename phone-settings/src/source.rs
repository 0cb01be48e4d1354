//! Where a value came from, and which sources a parameter admits.
//!
//! Precedence is Decision 6 (spec/README.md): built-in default < DHCP standard options <
//! option 43 < SSON < settings file < local craft entry. LLDP sets only the VLAN values
//! (L2Q, L2QVLAN, PHY2VLAN), and for those it outranks DHCP and the settings file while craft
//! still wins. Because LLDP can set nothing else, one total order expresses both rules:
//! `Default < DhcpStandard < Option43 < Sson < SettingsFile < Lldp < Craft`.

use core::fmt;

/// The origin of a parameter value, ordered by precedence (lowest first, Decision 6).
///
/// `Ord` is the precedence: a value from a greater source hides one from a lesser source.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Source {
    /// The built-in default of the registry (never stored in a [`Store`](crate::Store)).
    Default = 0,
    /// A DHCP standard field or option (yiaddr, siaddr, options 1, 3, 6, 7, 15, 26, 42, 51…).
    DhcpStandard = 1,
    /// DHCP option 43, Avaya encapsulated sub-options 2–15 (spec/dhcp.md §4).
    Option43 = 2,
    /// The SSON string, DHCP option 242 by default (spec/dhcp.md §5, Decision 2).
    Sson = 3,
    /// A `SET` in the upgrade or settings script chain (spec/script.md §4).
    SettingsFile = 4,
    /// LLDP; admitted for the VLAN values only (Decision 6).
    Lldp = 5,
    /// Local craft entry on the phone's keypad.
    Craft = 6,
}

impl Source {
    /// Every source, lowest precedence first.
    pub const ALL: [Source; 7] = [
        Source::Default,
        Source::DhcpStandard,
        Source::Option43,
        Source::Sson,
        Source::SettingsFile,
        Source::Lldp,
        Source::Craft,
    ];

    /// The source with this wire number (the `repr(u8)` value), used by the byte encoding.
    #[must_use]
    pub const fn from_u8(v: u8) -> Option<Source> {
        match v {
            0 => Some(Source::Default),
            1 => Some(Source::DhcpStandard),
            2 => Some(Source::Option43),
            3 => Some(Source::Sson),
            4 => Some(Source::SettingsFile),
            5 => Some(Source::Lldp),
            6 => Some(Source::Craft),
            _ => None,
        }
    }

    /// Position of this source in [`Source::ALL`].
    #[must_use]
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The one-letter tag used in spec/parameters.md (`-` for the default).
    #[must_use]
    pub const fn letter(self) -> char {
        match self {
            Source::Default => '-',
            Source::DhcpStandard => 'D',
            Source::Option43 => 'O',
            Source::Sson => 'S',
            Source::SettingsFile => 'F',
            Source::Lldp => 'L',
            Source::Craft => 'C',
        }
    }

    /// The bit of this source in a [`Sources`] set.
    #[must_use]
    pub const fn bit(self) -> Sources {
        Sources(1 << (self as u8))
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Source::Default => "default",
            Source::DhcpStandard => "DHCP",
            Source::Option43 => "DHCP option 43",
            Source::Sson => "SSON",
            Source::SettingsFile => "settings file",
            Source::Lldp => "LLDP",
            Source::Craft => "craft",
        })
    }
}

/// A set of [`Source`]s: which sources may set a parameter (the "Sources" column of
/// spec/parameters.md). The empty set means read-only status kept by the phone itself.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Sources(u8);

impl Sources {
    /// No source: read-only status (`ro` in spec/parameters.md).
    pub const NONE: Sources = Sources(0);
    /// `D`: a DHCP standard field or option.
    pub const D: Sources = Source::DhcpStandard.bit();
    /// `O`: DHCP option 43.
    pub const O: Sources = Source::Option43.bit();
    /// `S`: the SSON string.
    pub const S: Sources = Source::Sson.bit();
    /// `F`: a settings or upgrade file.
    pub const F: Sources = Source::SettingsFile.bit();
    /// `L`: LLDP.
    pub const L: Sources = Source::Lldp.bit();
    /// `C`: craft.
    pub const C: Sources = Source::Craft.bit();

    /// The union of two sets (usable in `const` tables).
    #[must_use]
    pub const fn or(self, other: Sources) -> Sources {
        Sources(self.0 | other.0)
    }

    /// Whether `source` is in the set. The built-in default is always admitted.
    #[must_use]
    pub const fn contains(self, source: Source) -> bool {
        matches!(source, Source::Default) || self.0 & source.bit().0 != 0
    }

    /// Whether no external source may set the parameter (read-only status).
    #[must_use]
    pub const fn is_read_only(self) -> bool {
        self.0 == 0
    }
}

impl core::ops::BitOr for Sources {
    type Output = Sources;
    fn bitor(self, rhs: Sources) -> Sources {
        self.or(rhs)
    }
}

impl fmt::Debug for Sources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Sources {
    /// The spec's letters, e.g. `DOSFC`, or `ro`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_read_only() {
            return f.write_str("ro");
        }
        for s in Source::ALL {
            if s != Source::Default && self.contains(s) {
                write!(f, "{}", s.letter())?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;

    #[test]
    fn precedence_order_is_decision_6() {
        use Source::*;
        let order = [
            Default,
            DhcpStandard,
            Option43,
            Sson,
            SettingsFile,
            Lldp,
            Craft,
        ];
        for w in order.windows(2) {
            assert!(w[0] < w[1], "{:?} must rank below {:?}", w[0], w[1]);
        }
        assert_eq!(order, Source::ALL);
    }

    #[test]
    fn wire_numbers_round_trip() {
        for s in Source::ALL {
            assert_eq!(Source::from_u8(s as u8), Some(s));
            assert_eq!(s.index(), s as usize);
        }
        assert_eq!(Source::from_u8(7), None);
    }

    #[test]
    fn sources_set() {
        let s = Sources::F | Sources::S | Sources::C;
        assert!(s.contains(Source::SettingsFile));
        assert!(s.contains(Source::Default));
        assert!(!s.contains(Source::Lldp));
        assert_eq!(format!("{s}"), "SFC");
        assert_eq!(format!("{}", Sources::NONE), "ro");
        assert!(Sources::NONE.is_read_only());
    }
}
