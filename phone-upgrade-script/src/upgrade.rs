//! The software decision (spec/files.md §8): after the whole script chain has run, fetch each
//! image whose wanted name differs from what the phone has.
//!
//! "Different", not "newer", so downgrades work the same way. An empty wanted name means no
//! download [?]. Names compare byte for byte (they are file names on an HTTP server).

use alloc::vec::Vec;

/// The software names on one side of the comparison.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SoftwareNames<'a> {
    /// The application image (APPNAME; on the phone `endptAPPINUSE`, MIB draft L62).
    pub app: &'a [u8],
    /// The root-file-system / language tar (RFSNAME, 96x1 only); empty when none.
    pub rfs: &'a [u8],
}

/// Which files to download, in order: application first, then RFS.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SoftwareFetch {
    /// The application image to fetch, if it differs.
    pub app: Option<Vec<u8>>,
    /// The RFS image to fetch, if it differs.
    pub rfs: Option<Vec<u8>>,
}

impl SoftwareFetch {
    /// Whether nothing is to be downloaded.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.app.is_none() && self.rfs.is_none()
    }

    /// The file names to download, application first.
    pub fn files(&self) -> impl Iterator<Item = &[u8]> {
        self.app.iter().chain(self.rfs.iter()).map(Vec::as_slice)
    }
}

/// Decide which software files to fetch (spec/files.md §8).
///
/// `wanted` are the values the run left (e.g. [`crate::Run::appname`] and
/// [`crate::Run::rfsname`]); `installed` is what the phone runs now.
#[must_use]
pub fn decide(wanted: SoftwareNames<'_>, installed: SoftwareNames<'_>) -> SoftwareFetch {
    let differs = |w: &[u8], have: &[u8]| (!w.is_empty() && w != have).then(|| w.to_vec());
    SoftwareFetch {
        app: differs(wanted.app, installed.app),
        rfs: differs(wanted.rfs, installed.rfs),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names<'a>(app: &'a str, rfs: &'a str) -> SoftwareNames<'a> {
        SoftwareNames {
            app: app.as_bytes(),
            rfs: rfs.as_bytes(),
        }
    }

    #[test]
    fn same_names_fetch_nothing() {
        let f = decide(names("a.bin", "r.tar"), names("a.bin", "r.tar"));
        assert!(f.is_empty());
    }

    #[test]
    fn different_name_fetches_even_if_older() {
        // A downgrade: "different", not "newer".
        let f = decide(names("S_R7_1_2.bin", ""), names("S_R7_1_4.bin", ""));
        assert_eq!(f.app.as_deref(), Some(&b"S_R7_1_2.bin"[..]));
        assert_eq!(f.rfs, None);
    }

    #[test]
    fn empty_wanted_name_fetches_nothing() {
        let f = decide(names("", ""), names("a.bin", "r.tar"));
        assert!(f.is_empty());
    }

    #[test]
    fn app_then_rfs() {
        let f = decide(names("a2.tar", "r2.tar"), names("a1.tar", "r1.tar"));
        let files: Vec<&[u8]> = f.files().collect();
        assert_eq!(files, [&b"a2.tar"[..], &b"r2.tar"[..]]);
    }

    #[test]
    fn names_compare_exactly() {
        let f = decide(names("A.BIN", ""), names("a.bin", ""));
        assert!(f.app.is_some());
    }
}
