//! The text frontend on arbitrary bytes: segmentation, espeak-ng's phonemes (the real library
//! and data, through the voice's frontend), sentence assembly and ids. Must never panic.
#![no_main]

use std::sync::OnceLock;

use indextts::frontend::{insert_linking_glides, segments, strip_language_flags};
use indextts::Synthesizer;
use libfuzzer_sys::fuzz_target;

fn synth() -> &'static Synthesizer {
    static SYNTH: OnceLock<Synthesizer> = OnceLock::new();
    SYNTH.get_or_init(|| {
        Synthesizer::builder()
            .threads(1)
            .build()
            .expect("the default voice (scripts/setup.sh)")
    })
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let pieces: usize = segments(&text).map(str::len).sum();
    assert!(pieces <= text.len());
    let _ = insert_linking_glides(&strip_language_flags(&text));
    // Whole pipeline to ids (no synthesis): errors are fine, panics are not.
    if let Ok(sentences) = synth().phonemize(&text) {
        for sentence in sentences {
            assert!(sentence.phonemes.len() <= indextts::frontend::MAX_SENTENCE_PHONEMES);
        }
    }
});
