//! phone-boot's persistent record (version 2, checksummed; issue 12). Oracles:
//! - neither decoder panics, whatever the bytes;
//! - what the strict decoder accepts re-encodes to a record that decodes the same;
//! - every single-bit flip and every prefix of that encoding is refused or decodes the same
//!   (checked on a few positions chosen by the input, so each run stays fast);
//! - the lenient decoder agrees with the strict one on intact records, always says why when it
//!   is not intact, keeps a bounded list of damage, and gives a record that stores and reads
//!   back intact (a salvaged record is a valid record).
#![no_main]

use libfuzzer_sys::fuzz_target;
use phone_boot::boot::record::{MAX_FIELDS, Record};

fuzz_target!(|data: &[u8]| {
    let strict = Record::decode(data);
    let salvaged = Record::decode_lenient(data);
    assert!(
        salvaged.damage.len() <= MAX_FIELDS + 4,
        "{}",
        salvaged.damage.len()
    );
    assert_eq!(
        Record::decode(&salvaged.record.encode()).as_ref(),
        Ok(&salvaged.record),
        "a salvaged record stores and reads back intact"
    );
    match strict {
        Ok(r) => {
            assert!(salvaged.is_intact());
            assert_eq!(salvaged.record, r);
            let bytes = r.encode();
            assert_eq!(Record::decode(&bytes).as_ref(), Ok(&r));
            // Damage the re-encoding where the input says.
            for (i, &b) in data.iter().take(8).enumerate() {
                let bit = (usize::from(b) * 131 + i * 977) % (bytes.len() * 8);
                let mut flipped = bytes.clone();
                flipped[bit / 8] ^= 1 << (bit % 8);
                assert!(Record::decode(&flipped).is_err(), "bit {bit} flipped");
                let cut = (usize::from(b) * 37 + i) % bytes.len();
                assert!(Record::decode(&bytes[..cut]).is_err(), "prefix {cut}");
            }
        }
        Err(_) => assert!(!salvaged.damage.is_empty(), "not intact, so it says why"),
    }
});
