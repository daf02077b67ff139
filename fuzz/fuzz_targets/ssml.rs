//! The SSML reader on arbitrary text: malformed XML, entities, CDATA, deep nesting and values
//! out of range are errors naming a line and column, never a panic; what it accepts is sane.
#![no_main]

use indextts::ssml::{parse, MAX_TOTAL_BREAK_MS};
use indextts::Error;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match parse(text) {
        Ok(pieces) => {
            let silence: u64 = pieces.iter().map(|p| u64::from(p.pause_after_ms)).sum();
            assert!(silence <= u64::from(MAX_TOTAL_BREAK_MS));
            for piece in pieces {
                assert!(piece.rate.is_finite() && piece.rate > 0.0);
                for (range, ipa) in &piece.phonemes {
                    assert!(piece.text.get(range.clone()).is_some(), "{range:?}");
                    assert!(!ipa.is_empty());
                }
            }
        }
        Err(Error::Ssml { line, column, .. }) => assert!(line >= 1 && column >= 1),
        Err(other) => panic!("not an SSML error: {other}"),
    }
});
