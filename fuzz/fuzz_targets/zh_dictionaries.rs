//! The Mandarin voice's dictionary loaders on arbitrary bytes: the processor mapper, pypinyin's
//! character and phrase dictionaries, and the readings of Han text with what loaded. The input
//! is four parts separated by 0xff bytes (mapper, characters, phrases, text); the seeds are
//! excerpts of the real files. Must never panic.
#![no_main]

use indextts::frontend::zh::fuzz_dictionaries;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(4, |&b| b == 0xff);
    let mapper = parts.next().unwrap_or_default();
    let chars = parts.next().unwrap_or_default();
    let phrases = parts.next().unwrap_or_default();
    let text = String::from_utf8_lossy(parts.next().unwrap_or_default());
    fuzz_dictionaries(mapper, chars, phrases, &text);
});
