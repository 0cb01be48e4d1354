//! The TRUSTCERTS store kept across reboots, bounded by MAX_TRUSTCERTS (files.md §7): the
//! maximum number of *certificates* kept — one file may hold several.
//!
//! [`keep`] merges this boot's certificate files into the stored ones and enforces the bound.
//! This boot's files come first, in TRUSTCERTS order (what the administrator names now), then
//! the stored files this boot did not obtain again, in their stored order. Certificates are
//! counted by PEM `BEGIN CERTIFICATE` blocks; a file holding none counts as one (it still
//! takes a place in non-volatile memory). A file that does not fit whole keeps its first
//! certificates while there is room; what is left out is reported per file.

use alloc::string::String;
use alloc::vec::Vec;

/// MAX_TRUSTCERTS's default (96x1 SIP R7.1+, spec/parameters.md).
pub const DEFAULT_MAX_TRUSTCERTS: usize = 6;
/// MAX_TRUSTCERTS's range.
pub const MAX_TRUSTCERTS_RANGE: core::ops::RangeInclusive<usize> = 1..=10;

const BEGIN: &[u8] = b"-----BEGIN CERTIFICATE-----";
const END: &[u8] = b"-----END CERTIFICATE-----";

/// A file left out of the store, whole or in part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeftOut {
    /// The TRUSTCERTS entry.
    pub name: String,
    /// Certificates of it kept (0: the file is not kept).
    pub kept: usize,
    /// Certificates of it left out.
    pub dropped: usize,
}

/// What [`keep`] made of the stored and the obtained files.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Kept {
    /// The files to store, in priority order.
    pub files: Vec<(String, Vec<u8>)>,
    /// Files left out (wholly or partly) because of MAX_TRUSTCERTS.
    pub left_out: Vec<LeftOut>,
}

/// The PEM certificate blocks of `pem`: the byte offset just past each `END CERTIFICATE`
/// marker that follows a `BEGIN CERTIFICATE` one. Linear in `pem.len()`.
fn block_ends(pem: &[u8]) -> Vec<usize> {
    let mut ends = Vec::new();
    let mut at = 0;
    while let Some(b) = find(&pem[at..], BEGIN) {
        let after_begin = at + b + BEGIN.len();
        let Some(e) = find(&pem[after_begin..], END) else {
            break;
        };
        let mut end = after_begin + e + END.len();
        // Keep the line ending of the END line with its block.
        if pem.get(end) == Some(&b'\r') {
            end += 1;
        }
        if pem.get(end) == Some(&b'\n') {
            end += 1;
        }
        ends.push(end);
        at = end;
    }
    ends
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Certificates a file counts for: its PEM certificate blocks, at least one.
#[must_use]
pub fn certificates_in(pem: &[u8]) -> usize {
    block_ends(pem).len().max(1)
}

/// The trust store after a file stage: `obtained` (this boot's files, TRUSTCERTS order) first,
/// then the `stored` files not obtained again, at most `max` certificates in all (`max` is
/// clamped to MAX_TRUSTCERTS's range 1–10).
#[must_use]
pub fn keep(stored: &[(String, Vec<u8>)], obtained: &[(String, Vec<u8>)], max: usize) -> Kept {
    let max = max.clamp(*MAX_TRUSTCERTS_RANGE.start(), *MAX_TRUSTCERTS_RANGE.end());
    let mut out = Kept::default();
    let mut room = max;
    let mut seen: Vec<&str> = Vec::new();
    let candidates = obtained.iter().chain(
        stored
            .iter()
            .filter(|(n, _)| !obtained.iter().any(|(o, _)| o == n)),
    );
    for (name, pem) in candidates {
        // A name listed twice in TRUSTCERTS is one file.
        if seen.contains(&name.as_str()) {
            continue;
        }
        seen.push(name);
        let ends = block_ends(pem);
        let count = ends.len().max(1);
        if count <= room {
            room -= count;
            out.files.push((name.clone(), pem.clone()));
        } else if room > 0 && ends.len() > 1 {
            // The first `room` certificates of the file fit.
            let cut = ends[room - 1];
            out.files.push((name.clone(), pem[..cut].to_vec()));
            out.left_out.push(LeftOut {
                name: name.clone(),
                kept: room,
                dropped: count - room,
            });
            room = 0;
        } else {
            out.left_out.push(LeftOut {
                name: name.clone(),
                kept: 0,
                dropped: count,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;
    use alloc::string::ToString;
    use alloc::vec;

    fn pem(tags: &[&str]) -> Vec<u8> {
        let mut s = String::new();
        for t in tags {
            s.push_str(&format!(
                "-----BEGIN CERTIFICATE-----\n{t}\n-----END CERTIFICATE-----\n"
            ));
        }
        s.into_bytes()
    }

    fn file(name: &str, tags: &[&str]) -> (String, Vec<u8>) {
        (name.to_string(), pem(tags))
    }

    fn names(k: &Kept) -> Vec<&str> {
        k.files.iter().map(|(n, _)| n.as_str()).collect()
    }

    fn total(k: &Kept) -> usize {
        k.files.iter().map(|(_, p)| certificates_in(p)).sum()
    }

    #[test]
    fn counts_certificates_not_files() {
        assert_eq!(certificates_in(&pem(&["a", "b", "c"])), 3);
        assert_eq!(certificates_in(b"junk"), 1);
        assert_eq!(certificates_in(b""), 1);
        // An END without a BEGIN, a BEGIN without an END: no block.
        assert_eq!(certificates_in(b"-----END CERTIFICATE-----\n"), 1);
        assert_eq!(certificates_in(b"-----BEGIN CERTIFICATE-----\nx"), 1);
    }

    #[test]
    fn the_default_six_keeps_this_boots_files_first() {
        let stored = vec![file("old1.pem", &["o1"]), file("old2.pem", &["o2", "o3"])];
        let obtained = vec![
            file("a.pem", &["a1", "a2"]),
            file("b.pem", &["b1", "b2", "b3"]),
        ];
        let k = keep(&stored, &obtained, DEFAULT_MAX_TRUSTCERTS);
        assert_eq!(names(&k), ["a.pem", "b.pem", "old1.pem"]);
        assert_eq!(total(&k), 6);
        assert_eq!(
            k.left_out,
            [LeftOut {
                name: "old2.pem".into(),
                kept: 0,
                dropped: 2
            }]
        );
    }

    #[test]
    fn a_file_that_does_not_fit_keeps_its_first_certificates() {
        let obtained = vec![
            file("a.pem", &["a1"]),
            file("big.pem", &["1", "2", "3", "4"]),
        ];
        let k = keep(&[], &obtained, 3);
        assert_eq!(names(&k), ["a.pem", "big.pem"]);
        assert_eq!(k.files[1].1, pem(&["1", "2"]));
        assert_eq!(
            k.left_out,
            [LeftOut {
                name: "big.pem".into(),
                kept: 2,
                dropped: 2
            }]
        );
    }

    #[test]
    fn a_file_obtained_again_replaces_the_stored_copy() {
        let stored = vec![file("a.pem", &["old"])];
        let obtained = vec![file("a.pem", &["new"])];
        let k = keep(&stored, &obtained, 6);
        assert_eq!(k.files, obtained);
        assert!(k.left_out.is_empty());
    }

    #[test]
    fn max_is_clamped_to_1_through_10() {
        let many: Vec<_> = (0..12).map(|i| file(&format!("{i}.pem"), &["x"])).collect();
        assert_eq!(keep(&[], &many, 0).files.len(), 1);
        assert_eq!(keep(&[], &many, 99).files.len(), 10);
        // A name listed twice counts once.
        let twice = vec![file("a.pem", &["x"]), file("a.pem", &["x"])];
        assert_eq!(keep(&[], &twice, 6).files.len(), 1);
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        fn files() -> impl Strategy<Value = Vec<(String, Vec<u8>)>> {
            prop::collection::vec(
                (
                    "[a-e]\\.pem",
                    0usize..5,
                    prop::collection::vec(any::<u8>(), 0..20),
                ),
                0..8,
            )
            .prop_map(|v| {
                v.into_iter()
                    .map(|(n, certs, junk)| {
                        let mut p = junk;
                        for i in 0..certs {
                            p.extend_from_slice(&pem(&[&format!("c{i}")]));
                        }
                        (n, p)
                    })
                    .collect()
            })
        }

        proptest! {
            #[test]
            fn never_more_than_max_and_nothing_invented(
                stored in files(), obtained in files(), max in 0usize..12
            ) {
                let k = keep(&stored, &obtained, max);
                prop_assert!(total(&k) <= max.clamp(1, 10));
                for (n, p) in &k.files {
                    // Every kept file is a prefix of one it was given under that name.
                    prop_assert!(obtained.iter().chain(stored.iter())
                        .any(|(on, op)| on == n && op.starts_with(p)));
                }
                let mut ns = names(&k);
                ns.sort_unstable();
                ns.dedup();
                prop_assert_eq!(ns.len(), k.files.len());
            }
        }
    }
}
