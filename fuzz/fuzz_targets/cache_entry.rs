//! The disk cache's entry reader on arbitrary bytes: an entry is only ever accepted whole and
//! checked, never trusted. Must never panic.
#![no_main]

use indextts::decode_entry;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(samples) = decode_entry(data, 22_050) {
        assert!(samples.iter().all(|s| s.is_finite()));
    }
});
